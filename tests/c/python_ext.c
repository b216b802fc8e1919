/* ecext: the smallest extension module, built with the limited API (one .abi3.so for every
 * CPython >= 3.8). Importing it prints "RAN ecext". */
#define Py_LIMITED_API 0x03080000
#include <Python.h>
#include <stdio.h>

static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "ecext", NULL, -1, NULL, NULL, NULL, NULL, NULL};

PyMODINIT_FUNC PyInit_ecext(void)
{
    printf("RAN %s\n", "ecext");
    fflush(stdout);
    return PyModule_Create(&def);
}

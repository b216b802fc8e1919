/* A module for a free-threaded CPython (3.13t, no limited API there): multi-phase init declaring
 * that it needs no GIL, so importing it leaves the GIL off. Its name is the macro NAME; the
 * module's WHO says which file was run. */
#include <Python.h>

#define STR(x) #x
#define XSTR(x) STR(x)
#define INIT_(n) PyInit_##n
#define INIT(n) INIT_(n)

static int exec_module(PyObject *m) { return PyModule_AddStringConstant(m, "WHO", XSTR(NAME)); }

static PyModuleDef_Slot slots[] = {{Py_mod_exec, exec_module}, {Py_mod_gil, Py_MOD_GIL_NOT_USED}, {0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, XSTR(NAME), NULL, 0, NULL, slots, NULL, NULL, NULL};

PyMODINIT_FUNC INIT(NAME)(void) { return PyModuleDef_Init(&def); }

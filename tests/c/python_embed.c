/* python_embed DIR LIVES: a program that embeds CPython (as gdb, vim or a plugin host do) and runs
 * it LIVES times, Py_Initialize to Py_Finalize. Each life imports from DIR the modules `good`,
 * `bad` and `ecext` and prints one line per module: "life N: NAME imported" or the exception's
 * type; then it runs a line of its own through PyRun_SimpleString ("life N: host code ran"). */
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>

static const char code[] =
    "import sys\n"
    "sys.path.insert(0, %R)\n"
    "for m in ('good', 'bad', 'ecext'):\n"
    "    try:\n"
    "        __import__(m)\n"
    "        print('life %d:', m, 'imported')\n"
    "    except Exception as e:\n"
    "        print('life %d:', m, type(e).__name__)\n"
    "    sys.modules.pop(m, None)\n"
    "print('life %d: host code ran')\n";

int main(int argc, char **argv)
{
    int lives = argc > 2 ? atoi(argv[2]) : 1, i;
    if (argc < 2) {
        fprintf(stderr, "usage: python_embed DIR [LIVES]\n");
        return 2;
    }
    for (i = 0; i < lives; i++) {
        PyObject *dir, *text;
        Py_Initialize();
        dir = PyUnicode_DecodeFSDefault(argv[1]);
        text = dir ? PyUnicode_FromFormat(code, dir, i, i, i) : NULL;
        if (!text || PyRun_SimpleString(PyUnicode_AsUTF8(text)) != 0) PyErr_Print();
        Py_XDECREF(text);
        Py_XDECREF(dir);
        fflush(stdout);
        if (Py_FinalizeEx() < 0) return 3;
    }
    return 0;
}

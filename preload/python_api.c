/* Resolution of the CPython API used by the face (see python_api.h). */
#include "python_api.h"
#include "preload_face.h"

struct ec_pyapi ec_py;

/* Read from the objects' own symbol tables (loaded_deps.c), as dlsym(RTLD_DEFAULT) would find
 * them, without dlsym(): a name that is missing leaves no error for the program's dlerror(). */
static void *need(const char *name, int *missing)
{
    void *p = ec_loaded_symbol(name);
    if (!p) *missing = 1;
    return p;
}

static void *maybe(const char *name) { return ec_loaded_symbol(name); }

int ec_pyapi_resolve(void)
{
    int missing = 0;
    /* 3.8 introduced both hooks: their absence means "not CPython, or too old" (every process the
     * shim is preloaded into asks, so the answer must cost the others nothing) */
    ec_py.AddAuditHook = need("PySys_AddAuditHook", &missing);
    if (missing) return 0;
    ec_py.SetOpenCodeHook = need("PyFile_SetOpenCodeHook", &missing);
    if (missing) return 0;
    ec_py.IsInitialized = need("Py_IsInitialized", &missing);
    ec_py.IsFinalizing = maybe("Py_IsFinalizing"); /* 3.13; private before */
    if (!ec_py.IsFinalizing) ec_py.IsFinalizing = maybe("_Py_IsFinalizing");
    ec_py.IncRef = need("Py_IncRef", &missing);
    ec_py.DecRef = need("Py_DecRef", &missing);
    ec_py.IsInstance = need("PyObject_IsInstance", &missing);
    ec_py.GetAttrString = need("PyObject_GetAttrString", &missing);
    ec_py.SetAttrString = need("PyObject_SetAttrString", &missing);
    ec_py.CallMethod = need("PyObject_CallMethod", &missing);
    ec_py.CallFunction = need("PyObject_CallFunction", &missing);
    ec_py.CallObject = need("PyObject_CallObject", &missing);
    ec_py.Str = need("PyObject_Str", &missing);
    ec_py.AsFileDescriptor = need("PyObject_AsFileDescriptor", &missing);
    ec_py.SequenceContains = need("PySequence_Contains", &missing);
    ec_py.LongAsLong = need("PyLong_AsLong", &missing);
    ec_py.TupleSize = need("PyTuple_Size", &missing);
    ec_py.TupleGetItem = need("PyTuple_GetItem", &missing);
    ec_py.ListGetItem = need("PyList_GetItem", &missing);
    ec_py.DictGetItemString = need("PyDict_GetItemString", &missing);
    ec_py.EncodeFSDefault = need("PyUnicode_EncodeFSDefault", &missing);
    ec_py.UnicodeFromString = need("PyUnicode_FromString", &missing);
    ec_py.BytesAsString = need("PyBytes_AsString", &missing);
    ec_py.BytesSize = need("PyBytes_Size", &missing);
    ec_py.CFunctionNewEx = need("PyCFunction_NewEx", &missing);
    ec_py.InstanceMethodNew = need("PyInstanceMethod_New", &missing);
    ec_py.CFunctionGetFunction = need("PyCFunction_GetFunction", &missing);
    ec_py.ImportModule = need("PyImport_ImportModule", &missing);
    ec_py.GetModuleDict = need("PyImport_GetModuleDict", &missing);
    ec_py.SysGetObject = need("PySys_GetObject", &missing);
    ec_py.OpenCodeObject = need("PyFile_OpenCodeObject", &missing);
    ec_py.ErrOccurred = need("PyErr_Occurred", &missing);
    ec_py.ErrClear = need("PyErr_Clear", &missing);
    ec_py.ErrSetObject = need("PyErr_SetObject", &missing);
    ec_py.ErrFetch = need("PyErr_Fetch", &missing);
    ec_py.ErrRestore = need("PyErr_Restore", &missing);
    /* 3.9 made it public; 3.8 exports the same function under its private name */
    ec_py.InterpreterGet = maybe("PyInterpreterState_Get");
    if (!ec_py.InterpreterGet) ec_py.InterpreterGet = need("_PyInterpreterState_Get", &missing);
    ec_py.InterpreterGetID = need("PyInterpreterState_GetID", &missing);
    ec_py.Exit = need("Py_Exit", &missing);
    ec_py.None = need("_Py_NoneStruct", &missing);
    ec_py.UnicodeType = need("PyUnicode_Type", &missing);
    ec_py.CFunctionType = need("PyCFunction_Type", &missing);
    ec_py.ExcPermissionError = need("PyExc_PermissionError", &missing);
    ec_py.ExcImportError = need("PyExc_ImportError", &missing);
    ec_py.ExcOSError = need("PyExc_OSError", &missing);
    return !missing;
}

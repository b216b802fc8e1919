/* Resolution of the CPython API used by the face (see python_api.h). */
#include <stddef.h>
#include "python_api.h"
#include "preload_face.h"

struct ec_pyapi ec_py;

/* The CPython API the face calls, read from the objects' own symbol tables (loaded_deps.c) as
 * dlsym(RTLD_DEFAULT) would find it, without dlsym(): a name that is missing leaves no error for the
 * program's next dlerror(). Looked up 16 names per walk of the link maps. */
#define API(field, name) {name, offsetof(struct ec_pyapi, field)}
static const struct api_entry {
    const char *name;
    size_t off;
} api[] = {
    API(IsInitialized, "Py_IsInitialized"), API(IncRef, "Py_IncRef"), API(DecRef, "Py_DecRef"),
    API(IsInstance, "PyObject_IsInstance"), API(GetAttrString, "PyObject_GetAttrString"),
    API(SetAttrString, "PyObject_SetAttrString"), API(CallMethod, "PyObject_CallMethod"),
    API(CallFunction, "PyObject_CallFunction"), API(CallObject, "PyObject_CallObject"), API(Str, "PyObject_Str"),
    API(AsFileDescriptor, "PyObject_AsFileDescriptor"), API(SequenceContains, "PySequence_Contains"),
    API(LongAsLong, "PyLong_AsLong"), API(TupleSize, "PyTuple_Size"), API(TupleGetItem, "PyTuple_GetItem"),
    API(ListGetItem, "PyList_GetItem"), API(DictGetItemString, "PyDict_GetItemString"),
    API(EncodeFSDefault, "PyUnicode_EncodeFSDefault"), API(UnicodeFromString, "PyUnicode_FromString"),
    API(BytesAsString, "PyBytes_AsString"), API(BytesSize, "PyBytes_Size"), API(CFunctionNewEx, "PyCFunction_NewEx"),
    API(InstanceMethodNew, "PyInstanceMethod_New"), API(CFunctionGetFunction, "PyCFunction_GetFunction"),
    API(ImportModule, "PyImport_ImportModule"), API(GetModuleDict, "PyImport_GetModuleDict"),
    API(SysGetObject, "PySys_GetObject"), API(OpenCodeObject, "PyFile_OpenCodeObject"),
    API(ErrOccurred, "PyErr_Occurred"), API(ErrClear, "PyErr_Clear"), API(ErrSetObject, "PyErr_SetObject"),
    API(ErrFetch, "PyErr_Fetch"), API(ErrRestore, "PyErr_Restore"), API(ErrPrint, "PyErr_Print"),
    API(InterpreterGetID, "PyInterpreterState_GetID"), API(GILStateGetThisThreadState, "PyGILState_GetThisThreadState"),
    API(GILStateEnsure, "PyGILState_Ensure"), API(GILStateRelease, "PyGILState_Release"),
    API(Exit, "Py_Exit"), API(None, "_Py_NoneStruct"),
    API(UnicodeType, "PyUnicode_Type"), API(CFunctionType, "PyCFunction_Type"),
    API(ExcPermissionError, "PyExc_PermissionError"), API(ExcImportError, "PyExc_ImportError"),
    API(ExcOSError, "PyExc_OSError"),
    /* renamed between versions: the current name first, the old one as its fallback */
    API(IsFinalizing, "Py_IsFinalizing"),            /* 3.13; _Py_IsFinalizing before (optional) */
    API(InterpreterGet, "PyInterpreterState_Get"),   /* 3.9; 3.8 exports it as _PyInterpreterState_Get */
};
#undef API
#define NAPI (sizeof api / sizeof *api)

static void **slot(size_t off) { return (void **)((char *)&ec_py + off); }

int ec_pyapi_resolve(void)
{
    const char *names[16];
    void *found[16];
    size_t i, j, n;
    /* 3.8 introduced both hooks: their absence means "not CPython, or too old" (every process the
     * shim is preloaded into asks, so the answer must cost the others nothing: one walk) */
    if (!(ec_py.AddAuditHook = ec_loaded_symbol("PySys_AddAuditHook"))) return 0;
    if (!(ec_py.SetOpenCodeHook = ec_loaded_symbol("PyFile_SetOpenCodeHook"))) return 0;
    for (i = 0; i < NAPI; i += n) {
        n = NAPI - i < 16 ? NAPI - i : 16;
        for (j = 0; j < n; j++) names[j] = api[i + j].name;
        ec_loaded_symbol_many(names, found, (int)n);
        for (j = 0; j < n; j++) *slot(api[i + j].off) = found[j];
    }
    if (!ec_py.IsFinalizing) ec_py.IsFinalizing = ec_loaded_symbol("_Py_IsFinalizing");
    if (!ec_py.InterpreterGet) ec_py.InterpreterGet = ec_loaded_symbol("_PyInterpreterState_Get");
    for (i = 0; i < NAPI; i++) /* each is needed but IsFinalizing, which a CPython may not export */
        if (!*slot(api[i].off) && api[i].off != offsetof(struct ec_pyapi, IsFinalizing)) return 0;
    return 1;
}

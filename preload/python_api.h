/* The few CPython C-API functions the CPython face calls, found at run time.
 *
 * The shim links no libc and no libpython: it must load into every process, Python or not, and
 * into every CPython from 3.8 on (shared or static libpython). So nothing here depends on a
 * CPython header or struct layout: objects are opaque, reference counts go through Py_IncRef /
 * Py_DecRef, type tests through PyObject_IsInstance. Only functions of the stable C API or the
 * documented pre-initialization API (PySys_AddAuditHook, PyFile_SetOpenCodeHook) are used. */
#ifndef EXECCHECK_PYTHON_API_H
#define EXECCHECK_PYTHON_API_H

#include "shim.h"

typedef struct ec_pyobject PyObject; /* opaque */
typedef long Py_ssize_t;

typedef int (*ec_audit_hook_fn)(const char *event, PyObject *args, void *data);
typedef PyObject *(*ec_open_code_hook_fn)(PyObject *path, void *data);

struct ec_pymethoddef {
    const char *name;
    PyObject *(*meth)(PyObject *self, PyObject *args);
    int flags;
    const char *doc;
};
#define EC_METH_VARARGS 0x0001

struct ec_pyapi {
    /* pre-initialization */
    int (*AddAuditHook)(ec_audit_hook_fn, void *);
    int (*SetOpenCodeHook)(ec_open_code_hook_fn, void *);
    int (*IsInitialized)(void);
    int (*IsFinalizing)(void); /* may be NULL */
    /* objects */
    void (*IncRef)(PyObject *);
    void (*DecRef)(PyObject *);
    int (*IsInstance)(PyObject *, PyObject *);
    PyObject *(*GetAttrString)(PyObject *, const char *);
    int (*SetAttrString)(PyObject *, const char *, PyObject *);
    PyObject *(*CallMethod)(PyObject *, const char *, const char *, ...);
    PyObject *(*CallFunction)(PyObject *, const char *, ...);
    PyObject *(*CallObject)(PyObject *, PyObject *);
    PyObject *(*Str)(PyObject *);
    int (*AsFileDescriptor)(PyObject *);
    int (*SequenceContains)(PyObject *, PyObject *);
    long (*LongAsLong)(PyObject *);
    Py_ssize_t (*TupleSize)(PyObject *);
    PyObject *(*TupleGetItem)(PyObject *, Py_ssize_t);
    PyObject *(*ListGetItem)(PyObject *, Py_ssize_t);
    PyObject *(*DictGetItemString)(PyObject *, const char *);
    PyObject *(*EncodeFSDefault)(PyObject *);
    PyObject *(*UnicodeFromString)(const char *);
    char *(*BytesAsString)(PyObject *);
    Py_ssize_t (*BytesSize)(PyObject *);
    PyObject *(*CFunctionNewEx)(struct ec_pymethoddef *, PyObject *, PyObject *);
    PyObject *(*InstanceMethodNew)(PyObject *);
    void *(*CFunctionGetFunction)(PyObject *);
    /* modules, files, sys */
    PyObject *(*ImportModule)(const char *);
    PyObject *(*GetModuleDict)(void);
    PyObject *(*SysGetObject)(const char *);
    PyObject *(*OpenCodeObject)(PyObject *);
    /* errors, exit */
    PyObject *(*ErrOccurred)(void);
    void (*ErrClear)(void);
    void (*ErrSetObject)(PyObject *, PyObject *);
    void (*ErrFetch)(PyObject **, PyObject **, PyObject **);
    void (*ErrRestore)(PyObject *, PyObject *, PyObject *);
    void (*ErrPrint)(void);
    void *(*InterpreterGet)(void);
    void *(*GILStateGetThisThreadState)(void);
    int (*GILStateEnsure)(void);
    void (*GILStateRelease)(int);
    long long (*InterpreterGetID)(void *);
    void (*Exit)(int) __attribute__((noreturn));
    /* data */
    PyObject *None;
    PyObject *UnicodeType;
    PyObject *CFunctionType;
    PyObject **ExcPermissionError;
    PyObject **ExcImportError;
    PyObject **ExcOSError;
};

extern struct ec_pyapi ec_py EC_HIDDEN;

/* Fills ec_py from the process's CPython. Returns 1 when this process has a CPython with audit
 * hooks (3.8+) and every function was found, 0 otherwise (not Python, or too old). */
int ec_pyapi_resolve(void) EC_HIDDEN;

/* python_open.c's window: 1 from the face's start (and from a finalization that cleared the audit
 * hooks) until the first open_code call, when the audit hook goes in. */
extern int ec_python_open_window EC_HIDDEN;
/* A .pyc opened by a plain open() in that window (a sourceless module: importlib reads it with
 * FileIO), judged as an import (python_face.c). Returns 0 to let it be read, else the errno. */
int ec_python_face_raw_pyc(int fd, const char *path) EC_HIDDEN;

#endif

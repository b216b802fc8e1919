/* The CPython face: a stock CPython (3.8+) behaves as an enlightened interpreter when the shim is
 * in its process (DESIGN.md "CPython", research/python-enlightenment.md).
 *
 * From the shim's constructor, before main() and so before Py_Initialize, it installs a C
 * open_code hook (every import, .pyc, zip archive, .pth, runpy and pdb/profile target is read
 * through it: it opens, checks that same fd, returns it). Nothing in site, sitecustomize or the
 * environment runs first, so -S, -I, -E, a PYTHONPATH shadowing `encodings` or a .pth cannot skip
 * it. The C audit hook is added on the first open_code call (the `encodings` import, which every
 * start-up makes) or CPython's first read of bytecode alone (python_open.c's window), whichever
 * comes first: by then CPython has chosen its memory allocator, and PySys_AddAuditHook's entry
 * is freed at exit with the allocator that made it (added from the constructor, it crashes
 * PYTHONMALLOC=debug and -X dev runs at exit). The audit hook covers what open_code does not:
 *   cpython.run_file / run_startup  the main script, PYTHONSTARTUP: opened and checked here, and
 *                                   handed to CPython's fopen (python_fopen.c): race-free
 *   cpython.run_stdin, run_interactivehook, compile(None, '<stdin>')
 *                                   stdin: a regular file is checked like a script; a pipe or a
 *                                   tty is interactive
 *   cpython.run_command, run_module of a code-running stdlib module: interactive
 *   pdb.Pdb                         a debugger started by the program (breakpoint(), pdb.set_trace,
 *                                   post_mortem): its prompt is interactive code (refused in
 *                                   Pdb.interaction, patched then)
 *   import with a file name         an extension module, before dlopen (by path)
 *   ctypes.dlopen with a path       a library (by path)
 *   os.rename of a bytecode cache   the cache keeps the execute bits of its source
 * Refusing the main entry prints one line and ends the process with status 126 through Py_Exit
 * (CPython itself ignores some denials: run_interactivehook, and the REPL's run_stdin on 3.13). */
#include "python_api.h"
#include "handoff.h"
#include "reason.h"
#include "scratch.h"
#include "sinks.h"
#include "sys.h"
#include "text.h"
#include "vcache.h"

#if defined(__x86_64__)
#define EC_NR_fchmod 91
#define EC_NR_memfd_create 319
#elif defined(__aarch64__)
#define EC_NR_fchmod 52
#define EC_NR_memfd_create 279
#elif defined(__i386__)
#define EC_NR_fchmod 94
#define EC_NR_memfd_create 356
#endif
#define EC_MFD_CLOEXEC 1

#define REFUSED_STATUS 126 /* like a shell's "found but cannot execute" */

static int open_code_taken;    /* someone else's open_code hook came first: imports are unchecked */
static int audit_installed;    /* the audit hook is in CPython's list (cleared at finalization) */
static int hooks_cleared;      /* CPython's finalization freed its hook list */
static int entry_seen;         /* a cpython.run_* event came: the main entry is decided */
static int stdin_decided;      /* stdin was judged once */
static int interactive_entry;  /* the main entry was recorded as interactive code: a debugger it
                                * starts is part of it, not a second record */
static int exiting;            /* Py_Exit is running: entry events are over (files are still checked) */
static int asyncio_repl;       /* the main entry is `-m asyncio`, whose REPL reads PYTHONSTARTUP itself */
static long long patched_interp = -1; /* the interpreter whose importlib was examined last */
static long long imp_examined = -1;   /* the interpreter whose imp module (3.8-3.11) was, once loaded */
static long long pdb_examined = -1;   /* the interpreter whose pdb.Pdb was, at its first debugger */
/* 3.14's sys.remote_exec: another process had this interpreter run a script file at its next safe
 * point (audit event cpython.remote_debugger_script, then io.open_code of it) */
static char remote_script[1024];

/* ---- small helpers ---- */

static int is_none(PyObject *o) { return o == ec_py.None; }

static int is_str(PyObject *o)
{
    int r;
    if (!o || is_none(o)) return 0;
    r = ec_py.IsInstance(o, ec_py.UnicodeType);
    if (r < 0) ec_py.ErrClear();
    return r > 0;
}

/* The file-system bytes of a str (new reference in *keep), or NULL. Never leaves an exception. */
static const char *fs_bytes(PyObject *str, PyObject **keep)
{
    PyObject *b;
    const char *s;
    *keep = 0;
    if (!is_str(str)) return 0;
    b = ec_py.EncodeFSDefault(str);
    if (!b) {
        ec_py.ErrClear();
        return 0;
    }
    s = ec_py.BytesAsString(b);
    if (!s || (size_t)ec_py.BytesSize(b) != ec_strlen(s)) { /* embedded NUL: not a path */
        ec_py.ErrClear();
        ec_py.DecRef(b);
        return 0;
    }
    *keep = b;
    return s;
}

static void release(PyObject *o)
{
    if (o) ec_py.DecRef(o);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = ec_strlen(s), m = ec_strlen(suffix);
    return n >= m && !ec_memcmp(s + n - m, suffix, m);
}

static int enforcing(int kind) { return ec_shim_enforcing(kind); }

/* Records the decision; returns 1 the first time this process records this file (so a refusal
 * CPython meets again and again, e.g. while printing a traceback, is said once). */
static int record(int kind, const char *path, const struct ec_verdict *v, int enforced)
{
    struct ec_record r;
    r.kind = kind;
    r.face = EC_FACE_PYTHON;
    r.enforced = enforced;
    r.path = path;
    r.verdict = v;
    return ec_record_emit(ec_shim_policy(), &r);
}

static void say_file(const char *verb, const char *path, const struct ec_verdict *v)
{
    char why[160];
    struct ec_buf b;
    ec_buf_init(&b, why, sizeof why);
    ec_buf_puts(&b, ec_reason_name(v->reason));
    ec_buf_puts(&b, " (");
    ec_buf_puts(&b, ec_reason_text(v->reason));
    ec_buf_putc(&b, ')');
    ec_say_refused_why(verb, path, ec_buf_str(&b));
}

static __attribute__((noreturn)) void refuse_exit(void)
{
    exiting = 1;
    ec_handoff_drop();
    ec_py.Exit(REFUSED_STATUS); /* finalizes: flushes stdout, runs atexit, then exit() */
}

/* Sets exc_type(errno, message, path) as the current exception. */
static void raise_os(PyObject *exc_type, int err, const char *message, PyObject *path)
{
    PyObject *e = ec_py.CallFunction(exc_type, "isO", err, message, path ? path : ec_py.None);
    if (!e) return; /* CallFunction left its own exception: still an error for the caller */
    ec_py.ErrSetObject(exc_type, e);
    ec_py.DecRef(e);
}

static void raise_import(const char *message, PyObject *path)
{
    PyObject *e = ec_py.CallFunction(*ec_py.ExcImportError, "s", message);
    if (!e) return;
    if (path) ec_py.SetAttrString(e, "path", path);
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    ec_py.ErrSetObject(*ec_py.ExcImportError, e);
    ec_py.DecRef(e);
}

/* Opens path read-only and checks that fd. Returns the fd (>= 0, the verdict in *v) or -errno. */
static int open_and_check(const char *path, struct ec_verdict *v)
{
    int fd = ec_openat(EC_AT_FDCWD, path, EC_O_RDONLY | EC_O_CLOEXEC, 0);
    if (fd < 0) return fd;
    ec_check_fd_quick(fd, path, v);
    return fd;
}

static int is_regular(const struct ec_verdict *v) { return (v->mode & EC_S_IFMT) == EC_S_IFREG; }

/* A pipe, a terminal, a socket: input typed or streamed, not a file anyone could vet. */
static int is_stream(const struct ec_verdict *v)
{
    unsigned t = v->mode & EC_S_IFMT;
    return t == 0010000 /* fifo */ || t == 0020000 /* char device */ || t == 0140000 /* socket */;
}

/* ---- interactive code and stdin ---- */

/* Interactive code (what: "(python -c)"...). also_files: refused under RESTRICT_FILE too. */
static void interactive(const char *what, int also_files)
{
    struct ec_verdict v;
    int enforced = enforcing(EC_KIND_INTERACTIVE) || (also_files && enforcing(EC_KIND_SCRIPT));
    ec_memset(&v, 0, sizeof v);
    v.reason = EC_REASON_NOT_REGULAR; /* code that is not a file the kernel could vouch for */
    interactive_entry = 1;
    record(EC_KIND_INTERACTIVE, what, &v, enforced);
    if (!enforced) return;
    ec_say_refused_why("run interactive code", what,
        also_files ? "it runs code from files it reads without a check, denied by the exec policy"
                   : "interactive code is denied by the exec policy (DENY_INTERACTIVE)");
    refuse_exit();
}

/* A debugger the program starts (breakpoint(), pdb.set_trace(), pdb.post_mortem()) runs any
 * statement typed or piped to its prompt, and its .pdbrc lines. Refused where that begins:
 * Pdb.interaction (which runs the rc lines, then the prompt), patched at the first pdb.Pdb audit
 * event; not at the event itself, since doctest builds a Pdb for every run and never prompts
 * unless a doctest calls pdb.set_trace(). Raising PermissionError there, the program sees an error
 * like a refused import's and may go on; an uncaught one ends it with a traceback, never at a
 * prompt. verb, what: the line's words, what also the record's path ("(pdb)"). Returns -1 when
 * refused (the exception set). */
static int debugger(const char *verb, const char *what)
{
    struct ec_verdict v;
    int enforced;
    if (interactive_entry) return 0; /* `python -m pdb`, `-c 'breakpoint()'`, the REPL: decided */
    enforced = enforcing(EC_KIND_INTERACTIVE);
    ec_memset(&v, 0, sizeof v);
    v.reason = EC_REASON_NOT_REGULAR;
    if (record(EC_KIND_INTERACTIVE, what, &v, enforced) && enforced)
        ec_say_refused_why(verb, what, "interactive code is denied by the exec policy (DENY_INTERACTIVE)");
    if (!enforced) return 0;
    raise_os(*ec_py.ExcPermissionError, EC_EACCES, "the exec policy denies interactive code (DENY_INTERACTIVE)", 0);
    return -1;
}

/* Is this flag of sys.flags set? */
static int sys_flag(const char *name)
{
    PyObject *flags = ec_py.SysGetObject("flags"), *f = flags ? ec_py.GetAttrString(flags, name) : 0;
    long v = f ? ec_py.LongAsLong(f) : 0;
    release(f);
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    return v > 0;
}

extern char **environ __attribute__((weak)); /* NULL's address where libc is absent */

/* builtins.breakpoint with CPython's own hook, which calls what PYTHONBREAKPOINT names: pdb by
 * default, met at Pdb.interaction. Any other name is a debugger of the environment's choosing, and
 * pdb's patch never sees it: `PYTHONBREAKPOINT=code.interact` gave a script's breakpoint() a
 * Python prompt under DENY_INTERACTIVE (a bypass hunt's finding, 2026-12-01). It is refused here,
 * whatever it names ("0" turns breakpoint() off). A hook the program set itself is its own. The
 * variable is read as CPython reads it: from the C environment, unless -E or -I. Returns 0 or -1. */
static int breakpoint_rule(PyObject *args)
{
    PyObject *hook = ec_py.TupleSize(args) > 0 ? ec_py.TupleGetItem(args, 0) : 0;
    const char *name;
    char what[300];
    struct ec_buf b;
    if (interactive_entry || !hook || hook != ec_py.SysGetObject("__breakpointhook__")) return 0;
    if (!&environ || !environ || sys_flag("ignore_environment")) return 0;
    name = ec_env_get(environ, "PYTHONBREAKPOINT");
    if (!name || !name[0] || !ec_strcmp(name, "0") || !ec_strcmp(name, "pdb.set_trace")) return 0;
    ec_buf_init(&b, what, sizeof what);
    ec_buf_puts(&b, "(PYTHONBREAKPOINT=");
    ec_buf_puts(&b, name);
    ec_buf_putc(&b, ')');
    return debugger("start the debugger", ec_buf_str(&b));
}

/* Code is about to be read from fd 0. A regular file is judged like a script, under either bit:
 * RESTRICT_FILE because it is a file (`python < f` is `python f`), DENY_INTERACTIVE because the
 * kernel's rule for stdin asks the check to pass. Anything else (pipe, tty, socket) is interactive. */
static void stdin_rule(void)
{
    struct ec_verdict v;
    char path[512];
    long n;
    int enforced, kind;
    if (stdin_decided) return;
    stdin_decided = 1;
    if (ec_check_fd_quick(0, "<stdin>", &v)) return;
    if (is_regular(&v)) {
        kind = EC_KIND_SCRIPT;
        enforced = enforcing(EC_KIND_SCRIPT) || enforcing(EC_KIND_INTERACTIVE);
        n = ec_readlinkat(EC_AT_FDCWD, "/proc/self/fd/0", path, sizeof path - 1);
        if (n <= 0) n = 0, ec_strlcpy(path, "<stdin>", sizeof path);
        else path[n] = 0;
    } else {
        /* the REPL of an entry already recorded as interactive (`-m asyncio`'s, which raises
         * run_stdin itself; `-i -c`): the same code, decided once */
        if (interactive_entry) return;
        kind = EC_KIND_INTERACTIVE;
        interactive_entry = 1;
        enforced = enforcing(EC_KIND_INTERACTIVE);
        ec_strlcpy(path, "<stdin>", sizeof path);
    }
    record(kind, path, &v, enforced);
    if (!enforced) return;
    if (kind == EC_KIND_SCRIPT)
        say_file("run code from stdin", path, &v);
    else
        ec_say_refused_why("run interactive code", "from stdin", "a pipe or terminal is interactive, denied by the exec policy (DENY_INTERACTIVE)");
    refuse_exit();
}

/* `python -m NAME` where NAME's job is to run code given on its command line or stdin:
 * 1, interactive (refused under DENY_INTERACTIVE); 2, it also runs code from files it reads itself
 * without a check (doctest text files, pickles): refused under either bit; 0, a module like any
 * other (its file was checked by the import). */
static int code_running_module(const char *name)
{
    static const char *const interactive_names[] = {
        "asyncio", "asyncio.__main__", /* the asyncio REPL */
        "code", "cProfile", "pdb", "profile", "runpy", "timeit", "trace", 0,
    };
    static const char *const unchecked_names[] = {"doctest", "pickle", 0};
    /* IDLE's shell, 3.13's REPL, 3.15's profilers (cProfile is profiling.tracing there) */
    static const char *const packages[] = {"idlelib", "_pyrepl", "profiling", 0};
    int i;
    for (i = 0; unchecked_names[i]; i++)
        if (!ec_strcmp(name, unchecked_names[i])) return 2;
    for (i = 0; interactive_names[i]; i++)
        if (!ec_strcmp(name, interactive_names[i])) return 1;
    for (i = 0; packages[i]; i++) {
        size_t n = ec_strlen(packages[i]);
        if (!ec_strncmp(name, packages[i], n) && (name[n] == 0 || name[n] == '.')) return 1;
    }
    return 0;
}

/* `python -m unittest NAME...` calls what each NAME names when it is no module, test case or suite
 * (loader.loadTestsFromName: `obj()`): `doctest._test` ran the doctest examples of a 0644 file
 * named `doctest._test` in the working directory, `code.interact` a console, under both bits (a
 * bypass hunt's finding, 2026-12-01). A NAME whose top-level module is a code-running one (by the
 * table above: `doctest._test`, `pdb.code.interact`) makes the run that module's; its verdict (1 or
 * 2, 0 for none) is returned and the NAME copied to name. Only the top level: a project's own
 * `app.profile.tests` is no stdlib module, and a console reached through another module's
 * attribute is met at its first compile (on_compile). Options are skipped (-k and --durations
 * with their value), and `discover` takes directories and patterns, not names. */
static int unittest_names(char *name, size_t size)
{
    PyObject *argv = ec_py.SysGetObject("argv"), *item, *keep;
    const char *arg, *dot;
    char top[128];
    size_t len;
    Py_ssize_t i;
    int how = 0, h, skip = 0, names_only = 0;
    for (i = 1; argv && (item = ec_py.ListGetItem(argv, i)); i++) { /* ['-m', NAME...] at the event */
        arg = fs_bytes(item, &keep);
        if (!arg || skip) {
            skip = 0;
            release(keep);
            continue;
        }
        if (i == 1 && !ec_strcmp(arg, "discover")) {
            release(keep);
            break;
        }
        if (arg[0] == '-' && !names_only) {
            skip = !ec_strcmp(arg, "-k") || !ec_strcmp(arg, "--durations");
            names_only = !ec_strcmp(arg, "--"); /* argparse: every argument after it is a NAME */
            release(keep);
            continue;
        }
        dot = ec_strchr(arg, '.');
        len = dot ? (size_t)(dot - arg) : ec_strlen(arg);
        if (len < sizeof top) {
            ec_memcpy(top, arg, len);
            top[len] = 0;
            if ((h = code_running_module(top)) > how) {
                how = h;
                ec_strlcpy(name, arg, size);
            }
        }
        release(keep);
    }
    if (ec_py.ErrOccurred()) ec_py.ErrClear(); /* the list's end */
    return how;
}

/* A code-running module is run (how: 1 or 2, as code_running_module): interactive code, recorded
 * as "(HOW MOD NAMED)" (`(python -m unittest doctest._test)`); refused as its verdict says. */
static void module_runs(const char *how_run, const char *mod, const char *named, int how)
{
    char what[300];
    struct ec_buf b;
    ec_buf_init(&b, what, sizeof what);
    ec_buf_puts(&b, how_run);
    ec_buf_puts(&b, mod);
    if (named[0]) ec_buf_putc(&b, ' '), ec_buf_puts(&b, named);
    ec_buf_putc(&b, ')');
    interactive(ec_buf_str(&b), how == 2);
}

/* An import of a module whose code, imported, is a command line: unittest.__main__ runs unittest's
 * on sys.argv (its NAMEs judged as `-m unittest`'s), idlelib.idle and idlelib.__main__ IDLE's
 * shell. No run_module event comes: `-W ignore::unittest.__main__.X` (or PYTHONWARNINGS) imports
 * it at start-up for a warning category, and `python -W ignore::unittest.__main__.X app.py
 * doctest._test` ran the examples of a 0644 file under either bit (a bypass hunt's finding,
 * 2026-12-01). */
static void import_rule(PyObject *args)
{
    PyObject *keep;
    const char *mod;
    char named[200];
    int how = 0;
    if (interactive_entry || ec_py.TupleSize(args) < 1) return;
    mod = fs_bytes(ec_py.TupleGetItem(args, 0), &keep);
    named[0] = 0;
    if (mod && !ec_strcmp(mod, "unittest.__main__")) how = unittest_names(named, sizeof named);
    else if (mod && (!ec_strcmp(mod, "idlelib.idle") || !ec_strcmp(mod, "idlelib.__main__"))) how = 1;
    if (how) module_runs("(import ", mod, named, how);
    release(keep);
}

/* `python -m asyncio ps PID`, `pstree PID` (3.14+): asyncio's __main__ parses its arguments before
 * its REPL, and a first argument naming one of these tools ends in that tool (a table or tree of
 * another process's tasks, read from its memory) or in argparse's error: it never reaches the REPL
 * nor runs code given to it. Earlier versions ignore their arguments and start the REPL. */
static int asyncio_tool(void)
{
    PyObject *hex = ec_py.SysGetObject("hexversion"), *argv = ec_py.SysGetObject("argv"), *keep, *first;
    const char *arg;
    int tool;
    long v = hex ? ec_py.LongAsLong(hex) : -1;
    if (v < 0) ec_py.ErrClear();
    if (v < 0x030E0000 || !argv) return 0;
    first = ec_py.ListGetItem(argv, 1); /* ['-m', 'ps', PID] at the run_module event */
    if (!first) {
        ec_py.ErrClear();
        return 0;
    }
    arg = fs_bytes(first, &keep);
    tool = arg && (!ec_strcmp(arg, "ps") || !ec_strcmp(arg, "pstree"));
    release(keep);
    return tool;
}

/* ---- the main script and PYTHONSTARTUP ---- */

/* The asyncio REPL's PYTHONSTARTUP was refused. Its REPL raises run_startup outside the try that
 * reports a startup file it cannot read (3.14; 3.13 has none): raised there, the refusal ended the
 * REPL thread, and a daemon thread printing its traceback while the interpreter exits can abort it.
 * Done as the basic REPL does it instead: the exception printed, and the REPL goes on; its open()
 * of the name gets an empty file (nothing runs), not the refused one nor what the name holds next.
 * Returns 0, or -1 (the exception set) when nothing could be handed over (another thread held the
 * slot throughout): its open() would read the name, unchecked; raised from run_startup, the
 * refusal ends the REPL thread before that open. */
static int asyncio_startup_refused(PyObject *path_obj, const char *path, int err)
{
    int fd = (int)ec_sys2(EC_NR_memfd_create, "execcheck-refused", EC_MFD_CLOEXEC);
    /* no memfd (a seccomp filter, an old kernel): its open fails alike; 3.13 ends its REPL then */
    int handed = fd >= 0 ? ec_handoff_put_kept(fd, 0, path) : ec_handoff_put_kept(-1, err, path);
    raise_os(*ec_py.ExcPermissionError, err, "execcheck: refused by the exec policy", path_obj);
    if (handed < 0) return -1;
    ec_py.ErrPrint();
    return 0;
}

/* The entry file is refused (recorded already): the main script ends the process; a refused
 * PYTHONSTARTUP is reported by CPython (returns -1, the exception set), or by us for the asyncio
 * REPL (returns 0, or -1 as asyncio_startup_refused says). */
static int refuse_entry(PyObject *path_obj, const char *path, PyObject *keep, int startup, const struct ec_verdict *v)
{
    int r;
    say_file(startup ? "run PYTHONSTARTUP" : "run", path, v);
    if (!startup) {
        release(keep);
        refuse_exit();
    }
    if (asyncio_repl) {
        r = asyncio_startup_refused(path_obj, path, v->err ? v->err : EC_EACCES);
        release(keep);
        return r;
    }
    raise_os(*ec_py.ExcPermissionError, v->err ? v->err : EC_EACCES, "execcheck: refused by the exec policy", path_obj);
    release(keep);
    return -1;
}

/* Hands over what the check of an entry file found: fd (checked, ownership passes), or (fd < 0)
 * the failure -fd of its open. 0, or -1 when nothing was handed over (handoff.h). */
static int hand_entry(int fd, const char *path, int startup)
{
    /* for CPython's fopen of it, next (the basic REPL's too: only an "open" event in between).
     * The asyncio REPL raises run_startup itself and then opens the file with open(): kept past
     * audit events, in case an import comes in between, until its REPL goes on to read input. */
    if (startup && asyncio_repl) return fd >= 0 ? ec_handoff_put_kept(fd, 0, path) : ec_handoff_put_kept(-1, -fd, path);
    return fd >= 0 ? ec_handoff_put(fd, path, 0) : ec_handoff_put_error(-fd, path);
}

/* Checks the file CPython is about to fopen and hands it the checked fd. Returns 0, or -1 with an
 * exception set (a refused PYTHONSTARTUP: CPython reports it and goes on to the REPL). */
static int entry_file(PyObject *path_obj, int startup)
{
    PyObject *keep;
    const char *path = fs_bytes(path_obj, &keep);
    struct ec_verdict v;
    int fd;
    if (!path) return 0; /* not a path CPython could open either */
    fd = open_and_check(path, &v);
    if (fd < 0) ec_memset(&v, 0, sizeof v);
    else if (!v.allowed) {
        /* a path naming a pipe or a terminal (/dev/stdin, <(cmd)) is interactive input */
        int kind = is_stream(&v) ? EC_KIND_INTERACTIVE : EC_KIND_SCRIPT;
        int enforced = enforcing(EC_KIND_SCRIPT) || (kind == EC_KIND_INTERACTIVE && enforcing(EC_KIND_INTERACTIVE));
        record(kind, path, &v, enforced);
        if (enforced) {
            ec_close(fd);
            return refuse_entry(path_obj, path, keep, startup, &v);
        }
    }
    /* Missing, unreadable (fd < 0): that failure is handed over, and CPython's fopen fails alike
     * and says so itself, even if the name is there by then (unchecked). Not handed over (another
     * thread held the slot throughout): CPython's fopen would read the name again, which may hold
     * another file by now, or a file now. Refused under enforcement, as a file that could not be
     * checked; as before in audit mode (recorded if it failed the check). */
    if (hand_entry(fd, path, startup) < 0 && (fd < 0 || v.allowed) && enforcing(EC_KIND_SCRIPT)) {
        v.allowed = 0;
        v.reason = EC_REASON_ERROR;
        v.err = EC_EBUSY;
        record(EC_KIND_SCRIPT, path, &v, 1);
        return refuse_entry(path_obj, path, keep, startup, &v);
    }
    release(keep);
    return 0;
}

/* ---- importlib: sourceless .pyc files through open_code ---- */

/* FileLoader.get_data replacement: read through io.open_code, as CPython does since the fix for
 * CVE-2026-2297 (before it, a sourceless .pyc was read with FileIO and skipped the open_code hook).
 * self is the original function, used for anything but a str path. */
static PyObject *read_code(PyObject *path)
{
    PyObject *f, *data, *r, *t, *val, *tb;
    f = ec_py.OpenCodeObject(path);
    if (!f) return 0;
    data = ec_py.CallMethod(f, "read", 0);
    ec_py.ErrFetch(&t, &val, &tb);
    r = ec_py.CallMethod(f, "close", 0);
    if (r) ec_py.DecRef(r);
    if (data) ec_py.ErrRestore(t, val, tb);
    else if (t) ec_py.ErrRestore(t, val, tb); /* the read error wins over the close's */
    ec_py.DecRef(f);
    if (data && !r) { /* close failed: report it like `with` would */
        ec_py.DecRef(data);
        return 0;
    }
    return data;
}

static PyObject *get_data(PyObject *self, PyObject *args)
{
    PyObject *path;
    if (ec_py.TupleSize(args) != 2) return ec_py.CallObject(self, args);
    path = ec_py.TupleGetItem(args, 1);
    if (!is_str(path)) return ec_py.CallObject(self, args);
    return read_code(path);
}

static struct ec_pymethoddef get_data_def = {"get_data", get_data, EC_METH_VARARGS, 0};

/* imp's _HackedGetData.get_data replacement (3.8-3.11): the module's own file, which imp reads
 * from the file object find_module() opened (or the caller gave load_source/load_compiled), or
 * opens again with open(), is read through io.open_code by its path; the file object is closed, as
 * imp's `with file:` would. Anything else goes to the original (self). */
static PyObject *imp_get_data(PyObject *self, PyObject *args)
{
    PyObject *path, *file, *own, *kp, *ko, *r;
    const char *p, *o;
    int same;
    if (ec_py.TupleSize(args) != 2) return ec_py.CallObject(self, args);
    path = ec_py.TupleGetItem(args, 1);
    file = ec_py.GetAttrString(ec_py.TupleGetItem(args, 0), "file");
    own = file ? ec_py.GetAttrString(ec_py.TupleGetItem(args, 0), "path") : 0;
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    p = fs_bytes(path, &kp);
    o = fs_bytes(own, &ko);
    same = file && !is_none(file) && p && o && !ec_strcmp(p, o);
    release(kp), release(ko), release(own);
    if (!same) {
        release(file);
        return ec_py.CallObject(self, args);
    }
    r = ec_py.CallMethod(file, "close", 0); /* not read from: closed first */
    ec_py.DecRef(file);
    if (!r) return 0;
    ec_py.DecRef(r);
    return read_code(path);
}

static struct ec_pymethoddef imp_get_data_def = {"get_data", imp_get_data, EC_METH_VARARGS, 0};

/* Is this Pdb a debugger server that takes its commands from another process's socket (3.14's
 * `pdb -p PID`: sys.remote_exec had this process run pdb._connect)? */
static int remote_debugger(PyObject *pdb)
{
    PyObject *modules = ec_py.GetModuleDict(), *mod, *cls, *t, *val, *tb;
    int r;
    /* the refusal's PermissionError stays the exception: before 3.14 pdb has no _PdbServer, and
     * the AttributeError of the look-up replaced it */
    ec_py.ErrFetch(&t, &val, &tb);
    mod = modules ? ec_py.DictGetItemString(modules, "pdb") : 0; /* borrowed */
    cls = mod ? ec_py.GetAttrString(mod, "_PdbServer") : 0;
    r = cls ? ec_py.IsInstance(pdb, cls) : 0;
    release(cls);
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    ec_py.ErrRestore(t, val, tb);
    return r > 0;
}

/* A refused remote debugger: the process never asked for it, so no exception lands in whatever
 * code it was running (an uncaught one ended it): the attacher is told, the debugger stops
 * tracing and hangs up (Pdb.set_continue, _PdbServer.detach), the process goes on. */
static void turn_away(PyObject *pdb)
{
    PyObject *t, *val, *tb, *r;
    ec_py.ErrFetch(&t, &val, &tb);
    r = ec_py.CallMethod(pdb, "error", "s", "execcheck: the exec policy denies interactive code (DENY_INTERACTIVE)");
    release(r);
    r = ec_py.CallMethod(pdb, "set_continue", 0);
    release(r);
    r = ec_py.CallMethod(pdb, "detach", 0);
    release(r);
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    release(t), release(val), release(tb);
}

/* pdb.Pdb.interaction replacement (self: the original): the debugger rule, then the original. */
static PyObject *pdb_interaction(PyObject *self, PyObject *args)
{
    PyObject *pdb;
    if (debugger("start the debugger", "(pdb)") == 0) return ec_py.CallObject(self, args);
    pdb = ec_py.TupleSize(args) > 0 ? ec_py.TupleGetItem(args, 0) : 0;
    if (!pdb || !remote_debugger(pdb)) return 0; /* the PermissionError, for the program that asked */
    turn_away(pdb);
    ec_py.IncRef(ec_py.None);
    return ec_py.None;
}

static struct ec_pymethoddef pdb_interaction_def = {"interaction", pdb_interaction, EC_METH_VARARGS, 0};

/* Is cur (a class attribute) def's C function already, put there by route_method? */
static int routed(PyObject *cur, const struct ec_pymethoddef *def)
{
    return ec_py.IsInstance(cur, ec_py.CFunctionType) > 0 && ec_py.CFunctionGetFunction(cur) == (void *)def->meth;
}

/* cls.<def's name> = a method calling def's C function with cur, the attribute it replaces, as self
 * (what it goes on to). Leaves no exception. */
static void route_method(PyObject *cls, PyObject *cur, struct ec_pymethoddef *def)
{
    PyObject *fn = ec_py.CFunctionNewEx(def, cur, 0), *meth = fn ? ec_py.InstanceMethodNew(fn) : 0;
    if (meth) ec_py.SetAttrString(cls, def->name, meth);
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    release(meth), release(fn);
}

/* Once per interpreter: if importlib's FileLoader.get_data still reads sourceless files with FileIO
 * (CPython before the CVE-2026-2297 fix: all of 3.8-3.15 here), route it through open_code.
 * Returns 1 once this interpreter's importlib has been examined (patched if it needed it). */
static int patch_importlib(void)
{
    PyObject *modules, *ext, *loader = 0, *cur = 0, *code = 0, *names = 0, *fileio = 0;
    void *interp = ec_py.InterpreterGet();
    long long id = interp ? ec_py.InterpreterGetID(interp) : -1;
    if (id < 0) return 0;
    if (id == patched_interp) return 1;
    modules = ec_py.GetModuleDict();
    ext = modules ? ec_py.DictGetItemString(modules, "_frozen_importlib_external") : 0;
    if (!ext) return 0; /* not set up yet: try again at the next import */
    patched_interp = id;
    loader = ec_py.GetAttrString(ext, "FileLoader");
    cur = loader ? ec_py.GetAttrString(loader, "get_data") : 0;
    if (!cur) goto out;
    if (routed(cur, &get_data_def)) goto out;
    code = ec_py.GetAttrString(cur, "__code__");
    names = code ? ec_py.GetAttrString(code, "co_names") : 0;
    fileio = ec_py.UnicodeFromString("FileIO");
    if (!names || !fileio || ec_py.SequenceContains(names, fileio) != 1) goto out; /* fixed CPython */
    route_method(loader, cur, &get_data_def);
out:
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    release(fileio), release(names), release(code), release(cur), release(loader);
    return 1;
}

/* Once imp (3.8-3.11; gone in 3.12) is loaded in an interpreter, route its _HackedGetData.get_data
 * through open_code: asked at the `open` audit event (find_module's open, or the caller's of a file
 * for load_source/load_compiled) and at each open_code (load_source looks for a cache first).
 * Until imp is there, a dict look-up; on 3.12 and later, nothing. */
static void patch_imp(void)
{
    static int has_imp = -1;
    PyObject *modules, *imp, *hex, *cls, *cur;
    void *interp;
    long long id;
    if (!has_imp) return;
    if (has_imp < 0) {
        hex = ec_py.SysGetObject("hexversion"); /* borrowed */
        has_imp = hex && ec_py.LongAsLong(hex) < 0x030c0000;
        if (ec_py.ErrOccurred()) ec_py.ErrClear();
        if (!has_imp) return;
    }
    if (ec_py.IsFinalizing && ec_py.IsFinalizing()) return; /* 3.8 dies on a cleared module dict */
    interp = ec_py.InterpreterGet();
    id = interp ? ec_py.InterpreterGetID(interp) : -1;
    if (id < 0 || id == imp_examined) return;
    modules = ec_py.GetModuleDict();
    imp = modules ? ec_py.DictGetItemString(modules, "imp") : 0;
    if (!imp) return;
    cls = ec_py.GetAttrString(imp, "_HackedGetData");
    if (!cls) { /* imp is still being imported: its classes come after its own imports */
        ec_py.ErrClear();
        return;
    }
    imp_examined = id;
    cur = ec_py.GetAttrString(cls, "get_data");
    if (cur && !routed(cur, &imp_get_data_def)) route_method(cls, cur, &imp_get_data_def);
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    release(cur), release(cls);
}

/* At a pdb.Pdb audit event: route this interpreter's pdb.Pdb.interaction through pdb_interaction
 * (once; the class is the interpreter's own). */
static void patch_pdb(void)
{
    PyObject *modules, *mod, *cls, *cur;
    void *interp = ec_py.InterpreterGet();
    long long id = interp ? ec_py.InterpreterGetID(interp) : -1;
    if (id < 0 || id == pdb_examined) return;
    modules = ec_py.GetModuleDict();
    mod = modules ? ec_py.DictGetItemString(modules, "pdb") : 0;
    if (!mod) return;
    cls = ec_py.GetAttrString(mod, "Pdb");
    if (!cls) {
        ec_py.ErrClear();
        return;
    }
    pdb_examined = id;
    cur = ec_py.GetAttrString(cls, "interaction");
    if (cur && !routed(cur, &pdb_interaction_def)) route_method(cls, cur, &pdb_interaction_def);
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    release(cur), release(cls);
}

/* ---- bytecode caches keep the execute bits of their source ---- */

/* os.rename's dir_fd arguments as the audit event gives them when unused: None or -1 */
static int no_dir_fd(PyObject *o)
{
    long v;
    if (!o || is_none(o)) return 1;
    v = ec_py.LongAsLong(o);
    if (ec_py.ErrOccurred()) {
        ec_py.ErrClear();
        return 0;
    }
    return v == -1;
}

/* The source file a bytecode cache belongs to, written to out: dir/__pycache__/name.tag[.opt-N].pyc
 * and, under sys.pycache_prefix (PYTHONPYCACHEPREFIX, -X pycache_prefix), prefix/dir/name.tag...pyc,
 * both for /dir/name.py; with `legacy`, dir/name.pyc (compileall -b) for dir/name.py too. Returns 0
 * when the path is none of these. out NULL: only says whether it is one. */
static int cache_source(const char *path, int legacy, char *out, size_t size)
{
    PyObject *kp = 0;
    const char *base, *slash, *prefix, *dir = path;
    size_t len = ec_strlen(path), dir_len, stem = 0, plen = 0;
    if (!ends_with(path, ".pyc")) return 0;
    slash = ec_strrchr(path, '/');
    base = slash ? slash + 1 : path;
    dir_len = (size_t)(base - path);
    prefix = fs_bytes(ec_py.SysGetObject("pycache_prefix"), &kp); /* importlib joins it without its trailing '/' */
    if (prefix)
        for (plen = ec_strlen(prefix); plen && prefix[plen - 1] == '/'; plen--) continue;
    if (plen && !ec_strncmp(path, prefix, plen) && path[plen] == '/') {
        dir = path + plen; /* the source's absolute directory, with its '/' */
        dir_len -= plen;
    } else if (dir_len >= 12 && !ec_strncmp(base - 12, "__pycache__/", 12)) {
        dir_len -= 12;
    } else {
        release(kp);
        if (!legacy || (out && len >= size)) return 0;
        if (out) {
            ec_memcpy(out, path, len - 1);
            out[len - 1] = 0;
        }
        return 1;
    }
    release(kp);
    if (!out) return 1;
    /* name.tag[.opt-N].pyc: importlib keeps every dot of the source's name (a.b.py: a.b.tag.pyc) */
    stem = ec_strlen(base) - 4;
    while (stem && base[stem - 1] != '.') stem--;
    if (stem && !ec_strncmp(base + stem, "opt-", 4))
        for (stem--; stem && base[stem - 1] != '.'; stem--) continue;
    if (!stem--) return 0; /* no tag: not a cache importlib wrote */
    if (dir_len + stem + 4 > size) return 0;
    ec_memcpy(out, dir, dir_len);
    ec_memcpy(out + dir_len, base, stem);
    ec_memcpy(out + dir_len + stem, ".py", 4);
    return 1;
}

/* importlib writes a cache as `<cache>.<id>` (mode & 0o666) and renames it onto `<cache>`; on that
 * rename, add the source's x bits (where the new file has the matching r bit, so the umask still
 * rules), so an executable module keeps importing from its cache under RESTRICT_FILE. Only a
 * regular, single-link file of ours is touched, opened without following symlinks. */
#define SOURCE_MAX 4096 /* PATH_MAX */

static void cache_rename(PyObject *args)
{
    PyObject *ks = 0, *kd = 0;
    const char *src, *dst;
    struct ec_scratch scratch = {0, 0};
    char *source;
    size_t n, dlen;
    struct ec_statx st_src, st_tmp;
    int fd;
    unsigned add;
    if (ec_py.TupleSize(args) < 4 || !no_dir_fd(ec_py.TupleGetItem(args, 2)) || !no_dir_fd(ec_py.TupleGetItem(args, 3)))
        return;
    dst = fs_bytes(ec_py.TupleGetItem(args, 1), &kd);
    if (!dst || !ends_with(dst, ".pyc")) goto out;
    src = fs_bytes(ec_py.TupleGetItem(args, 0), &ks);
    dlen = ec_strlen(dst);
    if (!src || ec_strncmp(src, dst, dlen) || src[dlen] != '.' || !src[dlen + 1]) goto out;
    for (n = dlen + 1; src[n]; n++)
        if (src[n] < '0' || src[n] > '9') goto out;
    /* the source's path off the stack (scratch.h): this runs under os.rename, on any thread's stack */
    if (!(source = ec_scratch_take(&scratch, SOURCE_MAX)) || !cache_source(dst, 1, source, SOURCE_MAX)) goto out;
    if (ec_statx(EC_AT_FDCWD, source, 0, EC_STATX_BASIC_STATS, &st_src) < 0 || !(st_src.stx_mode & 0111)) goto out;
    fd = ec_openat(EC_AT_FDCWD, src, EC_O_RDONLY | EC_O_CLOEXEC | EC_O_NOFOLLOW | EC_O_NONBLOCK, 0);
    if (fd < 0) goto out;
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st_tmp) == 0 &&
        (st_tmp.stx_mode & EC_S_IFMT) == EC_S_IFREG && st_tmp.stx_nlink == 1 &&
        st_tmp.stx_uid == (uint32_t)ec_geteuid()) {
        add = st_src.stx_mode & 0111 & ((st_tmp.stx_mode & 0444) >> 2);
        if (add & ~st_tmp.stx_mode) ec_sys2(EC_NR_fchmod, fd, (st_tmp.stx_mode & 07777) | add);
    }
    ec_close(fd);
out:
    ec_scratch_give(&scratch);
    release(ks), release(kd);
}

/* ---- extension modules, ctypes ---- */

/* A file about to be dlopen'ed by path: checked by path (CPython passes only the path to dlopen;
 * under the audit face the mapping itself is checked race-free). The verdict goes to the shim's
 * verdict cache, where the dlopen guard or the audit face finds it a moment later (it is cleared
 * when that load operation ends): one kernel check per extension module, not two. The dlopen
 * guard also takes the descriptor (handoff.c), to read the file's headers without opening it
 * again. Returns 0 or -1 (exception set). */
static int library_file(PyObject *path_obj, int kind)
{
    PyObject *keep;
    const char *path = fs_bytes(path_obj, &keep);
    struct ec_verdict v;
    struct ec_statx st;
    int fd, enforced, known;
    if (!path) return 0;
    fd = ec_openat(EC_AT_FDCWD, path, EC_O_RDONLY | EC_O_CLOEXEC, 0);
    if (fd < 0) {
        release(keep);
        return 0; /* dlopen will fail on its own */
    }
    known = ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, &st) == 0;
    ec_vcache_check_fd(fd, path, known ? &st : 0, &v, 0);
    if (v.allowed) {
        /* under the audit face the guard lets dlopen through untouched: nobody would take it */
        if (known && !ec_shim_under_audit_face()) ec_handoff_put(fd, path, &st);
        else ec_close(fd);
        release(keep);
        return 0;
    }
    ec_close(fd);
    enforced = enforcing(kind);
    if (record(kind, path, &v, enforced) && enforced) say_file("load", path, &v);
    if (enforced) {
        if (kind == EC_KIND_MODULE)
            raise_import("execcheck: the exec policy refused this extension module", path_obj);
        else
            raise_os(*ec_py.ExcOSError, v.err ? v.err : EC_EACCES, "execcheck: refused by the exec policy", path_obj);
    }
    release(keep);
    return enforced ? -1 : 0;
}

/* ---- 3.14's remote debugger, asked for by this process ---- */

/* sys.remote_exec(pid, script) (`pdb -p`): this process asks another interpreter to run a file at
 * its next safe point. Under RESTRICT_FILE that file must pass the check here too: a process that
 * may not run an unchecked file may not have another run it either. And the target, under the same
 * policy, refuses it silently for the asker: `pdb -p` then waits for a connection that never comes,
 * with no timeout; refused here, sys.remote_exec raises PermissionError before asking anything.
 * Recorded only when refused: the target records the file it is asked to run. Returns 0 or -1. */
static int remote_exec_request(PyObject *args)
{
    PyObject *keep;
    const char *path = fs_bytes(ec_py.TupleSize(args) > 1 ? ec_py.TupleGetItem(args, 1) : 0, &keep);
    struct ec_verdict v;
    int fd;
    /* a relative path may name another file in the target (its working directory): its check decides */
    if (!path || path[0] != '/' || !enforcing(EC_KIND_SCRIPT)) {
        release(keep);
        return 0;
    }
    /* non-blocking: this process never opens the file itself, and a fifo must not stop it here */
    fd = ec_openat(EC_AT_FDCWD, path, EC_O_RDONLY | EC_O_CLOEXEC | EC_O_NONBLOCK, 0);
    if (fd >= 0) {
        ec_check_fd_quick(fd, path, &v);
        ec_close(fd);
    }
    if (fd < 0 || v.allowed) { /* missing, unreadable: the target cannot open it either, and says so */
        release(keep);
        return 0;
    }
    record(EC_KIND_SCRIPT, path, &v, 1);
    say_file("have another process run", path, &v);
    raise_os(*ec_py.ExcPermissionError, v.err ? v.err : EC_EACCES, "execcheck: refused by the exec policy",
             ec_py.TupleGetItem(args, 1));
    release(keep);
    return -1;
}

/* ---- the hooks ---- */

static int on_cpython(const char *name, PyObject *args)
{
    PyObject *arg = ec_py.TupleSize(args) > 0 ? ec_py.TupleGetItem(args, 0) : 0;
    if (!ec_strcmp(name, "_PySys_ClearAuditHooks")) {
        audit_installed = 0; /* CPython frees its list now; a later Py_Initialize re-adds us */
        hooks_cleared = 1;
        if (!open_code_taken) __atomic_store_n(&ec_python_open_window, 1, __ATOMIC_RELAXED);
        stdin_decided = entry_seen = interactive_entry = asyncio_repl = 0;
        patched_interp = imp_examined = pdb_examined = -1;
        ec_handoff_drop();
        return 0;
    }
    if (!ec_strcmp(name, "remote_debugger_script")) {
        PyObject *keep;
        const char *path = fs_bytes(arg, &keep);
        ec_strlcpy(remote_script, path ? path : "", sizeof remote_script);
        release(keep);
        return 0;
    }
    if (ec_strncmp(name, "run_", 4)) return 0;
    name += 4;
    entry_seen = 1;
    if (open_code_taken && enforcing(EC_KIND_MODULE)) {
        ec_say_refused_why("run", "Python", "another open_code hook was installed first: imports cannot be checked");
        refuse_exit();
    }
    if (!ec_strcmp(name, "file")) return entry_file(arg, 0);
    if (!ec_strcmp(name, "startup")) {
        stdin_rule(); /* PYTHONSTARTUP runs only before a REPL */
        return entry_file(arg, 1);
    }
    if (!ec_strcmp(name, "stdin") || !ec_strcmp(name, "interactivehook")) {
        stdin_rule();
        return 0;
    }
    if (!ec_strcmp(name, "command")) {
        interactive("(python -c)", 0);
        return 0;
    }
    if (!ec_strcmp(name, "module")) {
        PyObject *keep;
        const char *mod = fs_bytes(arg, &keep);
        char named[200];
        int how = mod ? code_running_module(mod) : 0;
        int asyncio = how && (!ec_strcmp(mod, "asyncio") || !ec_strcmp(mod, "asyncio.__main__"));
        if (asyncio && asyncio_tool()) how = 0; /* a task listing, no code: a module like others */
        else if (asyncio) asyncio_repl = 1;
        /* 3.13 runs its REPL as run_module('_pyrepl') after run_stdin: stdin was judged already */
        if (how && stdin_decided && !ec_strncmp(mod, "_pyrepl", 7)) how = 0;
        named[0] = 0;
        if (!how && mod && (!ec_strcmp(mod, "unittest") || !ec_strcmp(mod, "unittest.__main__")))
            how = unittest_names(named, sizeof named);
        if (how) module_runs("(python -m ", mod, named, how);
        release(keep);
    }
    return 0;
}

/* compile(None, '<stdin>'): CPython parses stdin itself. The REPL after -i or PYTHONINSPECT raises
 * no run_stdin on 3.8-3.12 (nor run_interactivehook without site): this is the one sign of it.
 * compile(SOURCE, '<console>' or '<python-input-N>'): a line typed to a Python console the program
 * started - code.interact() (code.InteractiveConsole's name for its input) or 3.13's REPL
 * (_pyrepl). Reachable without any entry the face refuses: `python -m unittest code.interact` calls
 * the callable its argument names, and ran stdin's code under DENY_INTERACTIVE (a bypass hunt's
 * finding, 2026-12-01). Refused like a debugger the program starts, before the line runs.
 * Returns 0, or -1 (the exception set). */
static int on_compile(PyObject *args)
{
    PyObject *keep;
    const char *name;
    int console, r = 0;
    if (ec_py.TupleSize(args) < 2) return 0;
    if (is_none(ec_py.TupleGetItem(args, 0))) {
        if (stdin_decided) return 0;
        name = fs_bytes(ec_py.TupleGetItem(args, 1), &keep);
        if (name && !ec_strcmp(name, "<stdin>")) stdin_rule();
        release(keep);
        return 0;
    }
    if (interactive_entry) return 0; /* the REPL or `-m code`: decided at the entry */
    name = fs_bytes(ec_py.TupleGetItem(args, 1), &keep);
    console = name && (!ec_strcmp(name, "<console>") || !ec_strncmp(name, "<python-input-", 14));
    if (console) r = debugger("run interactive code", "(console)");
    release(keep);
    return r;
}

/* The REPL reads or compiles input (builtins.input; compile of what was typed: "<stdin>", 3.13's
 * codeop "<unknown>", code's "<console>", the new REPL's "<python-input-N>"): a REPL thread at
 * this point has read its PYTHONSTARTUP, or never will. */
static int repl_input(const char *event, PyObject *args)
{
    PyObject *keep;
    const char *name;
    int input;
    if (!ec_strcmp(event, "builtins.input")) return 1;
    if (ec_strcmp(event, "compile") || ec_py.TupleSize(args) < 2) return 0;
    name = fs_bytes(ec_py.TupleGetItem(args, 1), &keep);
    input = name && (!ec_strcmp(name, "<stdin>") || !ec_strcmp(name, "<unknown>") || !ec_strcmp(name, "<console>") ||
                     !ec_strncmp(name, "<python-input-", 14));
    release(keep);
    return input;
}

static int audit_hook(const char *event, PyObject *args, void *data)
{
    (void)data;
    if (!event) return 0;
    if (ec_handoff_waiting() && ec_strcmp(event, "open")) {
        ec_handoff_event();
        if (ec_handoff_waiting() && repl_input(event, args)) ec_handoff_reader_moved_on();
    }
    switch (event[0]) {
    case 'b':
        if (!ec_strcmp(event, "builtins.breakpoint")) return breakpoint_rule(args);
        return 0;
    case 'c':
        if (!ec_strcmp(event, "ctypes.dlopen")) {
            PyObject *keep, *name = ec_py.TupleSize(args) > 0 ? ec_py.TupleGetItem(args, 0) : 0;
            const char *s = fs_bytes(name, &keep);
            int slash = s && ec_strchr(s, '/');
            release(keep);
            /* a bare name is found by ld.so's search: the audit and preload faces judge it */
            return slash ? library_file(name, EC_KIND_LIBRARY) : 0;
        }
        if (!ec_strcmp(event, "cpython._PySys_ClearAuditHooks")) return on_cpython(event + 8, args);
        if (exiting) return 0; /* finalizing after a refusal: no new entry is judged */
        if (!ec_strncmp(event, "cpython.", 8)) return on_cpython(event + 8, args);
        if (!ec_strcmp(event, "compile")) return on_compile(args);
        return 0;
    case 'i':
        if (!ec_strcmp(event, "import")) {
            PyObject *file = ec_py.TupleSize(args) > 1 ? ec_py.TupleGetItem(args, 1) : 0;
            if (file && !is_none(file)) return library_file(file, EC_KIND_MODULE);
            if (!exiting) import_rule(args);
            if (patch_importlib()) __atomic_store_n(&ec_python_open_window, 0, __ATOMIC_RELAXED);
        }
        return 0;
    case 'p':
        if (!ec_strcmp(event, "pdb.Pdb")) patch_pdb();
        return 0;
    case 's':
        if (!ec_strcmp(event, "sys.remote_exec")) return remote_exec_request(args);
        return 0;
    case 'o':
        if (!ec_strcmp(event, "os.rename")) cache_rename(args);
        else if (!ec_strcmp(event, "open")) patch_imp();
        return 0;
    }
    return 0;
}

static void add_audit_hook(void)
{
    if (audit_installed) return;
    /* CPython cleared its hooks while finalizing: a hook added now would run on a dying
     * interpreter. A later Py_Initialize (embedders) re-adds it from its first open_code. */
    if (hooks_cleared && (!ec_py.IsFinalizing || ec_py.IsFinalizing())) return;
    audit_installed = 1;
    if (ec_py.AddAuditHook(audit_hook, 0) < 0) {
        audit_installed = 0;
        if (ec_py.ErrOccurred()) ec_py.ErrClear();
    }
}

/* Is the file behind fd the script named on the command line (sys.argv[0])? Only asked for a
 * failed check before any run event: the zipimport probe of the main file. By the verdict cache's
 * key, subvolume included: (dev, ino) alone names two files on one overlay over two subvolumes. */
static int is_main_file(int fd)
{
    PyObject *argv = ec_py.SysGetObject("argv"), *keep, *first;
    const char *path;
    struct ec_statx main_st, st;
    int same = 0;
    if (!argv) return 0;
    first = ec_py.ListGetItem(argv, 0);
    if (!first) {
        ec_py.ErrClear();
        return 0;
    }
    path = fs_bytes(first, &keep);
    if (path && ec_statx(EC_AT_FDCWD, path, 0, EC_STATX_KEY, &main_st) == 0 &&
        ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, &st) == 0)
        same = ec_vcache_same_file(&main_st, &st);
    release(keep);
    return same;
}

int ec_python_face_raw_pyc(int fd, const char *path)
{
    struct ec_verdict v;
    int enforced, gil;
    /* The audit hook waits for the first open_code call, but a start-up whose stdlib is bytecode
     * alone (a pyc-only image) reads `encodings` and the rest with FileIO and may make none before
     * its main entry: `-S -c`, `-m timeit` ran under DENY_INTERACTIVE unseen. This read is
     * CPython's, by a thread with a thread state (the allocator is chosen) that let the GIL go for
     * the open(): take it back for the moment and add the hook now. Not in a dying interpreter. */
    if (!audit_installed && ec_py.GILStateGetThisThreadState() &&
        (!hooks_cleared || (ec_py.IsFinalizing && !ec_py.IsFinalizing()))) {
        gil = ec_py.GILStateEnsure();
        add_audit_hook();
        ec_py.GILStateRelease(gil);
    }
    if (ec_check_fd_quick(fd, 0, &v)) return 0;
    enforced = enforcing(EC_KIND_MODULE);
    if (record(EC_KIND_MODULE, path, &v, enforced) && enforced) say_file("import", path, &v);
    return enforced ? (v.err ? v.err : EC_EACCES) : 0;
}

/* io.open_code: open as CPython would (io.open(path, 'rb')), then check that very fd. */
static PyObject *open_code_hook(PyObject *path, void *data)
{
    PyObject *io, *f, *keep, *r;
    const char *p;
    struct ec_verdict v;
    int fd, kind, enforced, first, remote;
    (void)data;
    add_audit_hook();
    /* The window (python_open.c) closes only once importlib reads sourceless files through
     * open_code: patched here, not at the next import event. An open_code that is no import of its
     * own - zipimport's path hook opening a PYTHONPATH entry that is a regular file - can come in
     * the middle of the search for a module whose import event came before the audit hook was in,
     * and the sourceless file that search finds next would be read by FileIO, unchecked. Still
     * open (importlib not set up yet): a .pyc opened below is checked by the window as well. */
    if (patch_importlib()) __atomic_store_n(&ec_python_open_window, 0, __ATOMIC_RELAXED);
    patch_imp();
    io = ec_py.ImportModule("_io");
    if (!io) return 0;
    f = ec_py.CallMethod(io, "open", "Os", path, "rb");
    ec_py.DecRef(io);
    if (!f) return 0;
    fd = ec_py.AsFileDescriptor(f);
    if (fd < 0) {
        ec_py.ErrClear();
        return f;
    }
    remote = 0;
    if (remote_script[0]) { /* rare: only after a remote_debugger_script event */
        p = fs_bytes(path, &keep);
        if ((remote = p && !ec_strcmp(p, remote_script))) remote_script[0] = 0;
        release(keep);
    }
    if (ec_check_fd_quick(fd, 0, &v)) return f;
    p = fs_bytes(path, &keep);
    kind = remote || (!entry_seen && is_main_file(fd)) ? EC_KIND_SCRIPT : EC_KIND_MODULE;
    enforced = enforcing(kind);
    first = record(kind, p ? p : "?", &v, enforced);
    if (!enforced) {
        release(keep);
        return f;
    }
    /* A refused main file is reported by run_file; a refused cache falls back to its source. Any
     * other refusal is said here too: site drops an unreadable .pth without a word. */
    if (first && remote) say_file("run the remote debugger script", p, &v);
    if (first && kind == EC_KIND_MODULE && p && !cache_source(p, 0, 0, 0))
        say_file(ends_with(p, ".pth") ? "read" : "import", p, &v);
    release(keep);
    r = ec_py.CallMethod(f, "close", 0);
    release(r);
    if (ec_py.ErrOccurred()) ec_py.ErrClear();
    ec_py.DecRef(f);
    raise_os(*ec_py.ExcPermissionError, v.err ? v.err : EC_EACCES, "execcheck: refused by the exec policy", path);
    return 0;
}

void ec_python_face_start(void)
{
    if (!ec_pyapi_resolve()) return; /* not CPython, or older than 3.8 (no hooks) */
    /* Loaded into a running interpreter (dlopen, ctypes): too late to be a boundary, stay out. */
    if (ec_py.IsInitialized()) return;
    if (ec_py.SetOpenCodeHook(open_code_hook, 0) == 0) {
        __atomic_store_n(&ec_python_open_window, 1, __ATOMIC_RELAXED); /* python_open.c */
        return;
    }
    /* Another library's constructor took open_code first. Imports cannot be checked: enforcing
     * runs are refused at their entry. The audit hook must then be added now. */
    open_code_taken = 1;
    add_audit_hook();
}

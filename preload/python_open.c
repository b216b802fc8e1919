/* open() interposition for the moment before the CPython face's audit hook is in.
 *
 * importlib reads a sourceless module (a .pyc with no .py beside it) with FileIO - a plain
 * open() - and not through io.open_code. The face routes that read through open_code
 * (python_face.c, patch_importlib), but only from an import audit event, so only once its audit
 * hook is in, which the first open_code call adds. A sourceless `encodings` package on PYTHONPATH
 * is the first file a start-up reads: it came before any open_code call, and ran unchecked.
 *
 * While that window is open (python_face.c opens it when it sets its open_code hook, and again
 * when finalization clears the audit hooks; the first open_code call closes it), a read-only open
 * of a .pyc is checked on its fd, as an import.
 *
 * A plain read-only open of a path the CPython face has just checked and handed over (handoff.c)
 * gets that checked descriptor, as CPython's fopen does (python_fopen.c): the asyncio REPL (3.13+,
 * Debian's 3.11) reads PYTHONSTARTUP with open() after its cpython.run_startup event, not with the
 * fopen of CPython's own start-up, and read the name again: a file renamed over the checked one in
 * between ran unchecked. Otherwise - and in every process that is not CPython - the wrapper is a
 * call of libc's own function with the same arguments. */
#include <stdarg.h>
#include "python_api.h"
#include "handoff.h"
#include "preload_face.h"
#include "sys.h"
#include "text.h"

extern int *__errno_location(void) __attribute__((weak));

#define EC_O_ACCMODE 3
#define EC_O_TMPFILE_BIT 020000000 /* __O_TMPFILE without O_DIRECTORY: the bit that asks for a mode */

int ec_python_open_window; /* python_api.h */

typedef int (*open_fn)(const char *, int, ...);
static void *real_open, *real_open64; /* libc's (loaded_deps.c, ec_loaded_next_once) */

void ec_open_start(void)
{
    static const char *const names[] = {"open", "open64"};
    void **const slots[] = {&real_open, &real_open64};
    ec_loaded_next_into(names, slots, 2);
}

static int ends_with_pyc(const char *path)
{
    size_t n = path ? ec_strlen(path) : 0;
    return n >= 4 && !ec_memcmp(path + n - 4, ".pyc", 4);
}

/* In the window: the open as asked, then the face's verdict on that fd (refused: closed, EACCES). */
static __attribute__((noinline)) int open_pyc(open_fn f, const char *path, int flags)
{
    int fd = f(path, flags), err;
    if (fd < 0) return fd;
    if (!(err = ec_python_face_raw_pyc(fd, path))) return fd;
    ec_close(fd);
    if (__errno_location) *__errno_location() = err;
    return -1;
}

/* The descriptor handed over for this open (path, same thread), from its start; -1 with errno
 * for a failure handed over; -2: none, open as asked. Only opens as io.open's FileIO makes them
 * (read-only, at most O_CLOEXEC and O_NOCTTY) take it. */
static __attribute__((noinline)) int take_handed(const char *path, int flags)
{
    int fd = -1, err;
    if (!path || (flags & ~(EC_O_CLOEXEC | EC_O_NOCTTY)) != EC_O_RDONLY) return -2;
    err = ec_handoff_take_error(path);
    if (err == EC_HANDOFF_BUSY || (err == 0 && (fd = ec_handoff_take(path, 0)) == EC_HANDOFF_BUSY)) {
        if (ec_handoff_busy_opens()) return -2;
        err = EC_EBUSY; /* our entry file, the name another file by now */
    }
    if (err) { /* the face could not open it: neither can this */
        if (__errno_location) *__errno_location() = err;
        return -1;
    }
    if (fd < 0) return -2;
    ec_sys3(EC_NR_lseek, fd, 0, 0 /* SEEK_SET */);
    return fd;
}

static int wrapped(void **slot, const char *name, const char *path, int flags, unsigned mode)
{
    int fd;
    open_fn f = (open_fn)ec_loaded_next_once(slot, name);
    if (!f) {
        if (__errno_location) *__errno_location() = EC_ENOSYS;
        return -1;
    }
    if (__builtin_expect(__atomic_load_n(&ec_python_open_window, __ATOMIC_RELAXED), 0) &&
        (flags & EC_O_ACCMODE) == 0 && !(flags & (EC_O_CREAT | EC_O_TMPFILE_BIT)) && ends_with_pyc(path))
        return open_pyc(f, path, flags);
    if (__builtin_expect(ec_handoff_waiting(), 0) && (fd = take_handed(path, flags)) != -2) return fd;
    return f(path, flags, mode);
}

/* the mode argument is there only with O_CREAT or O_TMPFILE, as libc's own open reads it */
#define MODE_ARG(flags, mode)                                                                                          \
    do {                                                                                                               \
        if ((flags) & (EC_O_CREAT | EC_O_TMPFILE_BIT)) {                                                                 \
            va_list ap;                                                                                                \
            va_start(ap, flags);                                                                                       \
            mode = va_arg(ap, unsigned);                                                                               \
            va_end(ap);                                                                                                \
        }                                                                                                              \
    } while (0)

EC_EXPORT int open(const char *path, int flags, ...)
{
    unsigned mode = 0;
    MODE_ARG(flags, mode);
    return wrapped(&real_open, "open", path, flags, mode);
}

EC_EXPORT int open64(const char *path, int flags, ...)
{
    unsigned mode = 0;
    MODE_ARG(flags, mode);
    return wrapped(&real_open64, "open64", path, flags, mode);
}

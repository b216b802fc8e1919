/* fopen interposition: CPython reads the main script (and PYTHONSTARTUP) with fopen(path) after
 * the cpython.run_file (run_startup) audit event, so a check made from the event is about a file
 * that can be swapped before the read. The face opens and checks the file itself, then hands that
 * fd over (handoff.c): the next fopen of the same path, in read mode, by the same thread, gets a
 * FILE on the checked fd instead of a second open. The file Python reads is the file checked.
 *
 * In every other case (nothing handed over, another path or thread, a write mode) the wrapper is
 * a tail call to libc's fopen: a process without CPython, or CPython outside that instant, sees no
 * change. If the face's own open failed (the name was missing, say), that failure is handed over
 * instead and the fopen fails alike: a file created there a moment later is not read unchecked. */
#include "python_api.h"
#include "handoff.h"
#include "preload_face.h"
#include "sys.h"
#include "text.h"

extern void *fdopen(int, const char *) __attribute__((weak));
extern int *__errno_location(void) __attribute__((weak));

typedef void *(*fopen_fn)(const char *, const char *);
static void *real_fopen, *real_fopen64; /* libc's, from the link maps (no libdl needed: loaded_deps.c) */

static int read_only(const char *mode)
{
    if (!mode || mode[0] != 'r') return 0;
    for (; *mode; mode++)
        if (*mode == '+' || *mode == ',') return 0; /* update, or ",ccs=": not CPython's own call */
    return 1;
}

/* The FILE for this open if a checked fd was handed over for it; NULL (with *taken 0) otherwise. */
static void *take_handed(const char *path, const char *mode, int *taken)
{
    int fd = -1, err, again;
    void *fp;
    *taken = 0;
    if (!ec_handoff_waiting() || !path || !read_only(mode) || !fdopen) return 0;
    err = ec_handoff_take_error(path);
    if (err == EC_HANDOFF_BUSY || (err == 0 && (fd = ec_handoff_take(path, 0)) == EC_HANDOFF_BUSY)) {
        if (ec_handoff_busy_opens()) return 0;
        *taken = 1; /* our entry file, the name another file by now */
        if (__errno_location) *__errno_location() = EC_EBUSY;
        return 0;
    }
    if (err) { /* the face could not open it: neither can CPython */
        *taken = 1;
        if (__errno_location) *__errno_location() = err;
        return 0;
    }
    if (fd < 0) return 0;
    *taken = 1;
    /* A script or PYTHONSTARTUP that is bytecode is opened twice: maybe_pyc_file() looks at the
     * first FILE, then run_pyc_file() fopens the name again. That open must get the checked file
     * too, not what the name holds by then: a duplicate waits for it (the next audit event closes
     * it if nobody comes), and each taker reads from the start, as a fresh fopen would. Under
     * enforcement a duplicate that could not be handed over fails this open instead. */
    if ((again = (int)ec_sys3(EC_NR_fcntl, fd, EC_F_DUPFD_CLOEXEC, 0)) >= 0 && ec_handoff_put(again, path, 0) < 0 &&
        !ec_handoff_busy_opens()) {
        ec_close(fd);
        if (__errno_location) *__errno_location() = EC_EBUSY;
        return 0;
    }
    ec_sys3(EC_NR_lseek, fd, 0, 0 /* SEEK_SET */);
    fp = fdopen(fd, mode);
    if (!fp) ec_close(fd); /* fdopen set errno; failing is better than reading an unchecked file */
    return fp;
}

void ec_fopen_start(void)
{
    static const char *const names[] = {"fopen", "fopen64"};
    void **const slots[] = {&real_fopen, &real_fopen64};
    ec_loaded_next_into(names, slots, 2);
}

EC_EXPORT void *fopen64(const char *path, const char *mode)
{
    int taken;
    void *fp = take_handed(path, mode, &taken);
    fopen_fn f;
    if (taken) return fp;
    f = (fopen_fn)ec_loaded_next_once(&real_fopen64, "fopen64");
    return f ? f(path, mode) : 0;
}

EC_EXPORT void *fopen(const char *path, const char *mode)
{
    int taken;
    void *fp = take_handed(path, mode, &taken);
    fopen_fn f;
    if (taken) return fp;
    f = (fopen_fn)ec_loaded_next_once(&real_fopen, "fopen");
    return f ? f(path, mode) : 0;
}

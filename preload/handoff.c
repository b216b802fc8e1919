/* One checked descriptor waiting for the next open of its path (see handoff.h). Its takers:
 *   CPython's fopen of the main script and PYTHONSTARTUP (python_fopen.c): without it, the file
 *   read could be swapped after the check (bytecode is opened twice: the first taker hands a
 *   duplicate over for the second);
 *   the dlopen guard's read of an extension module or ctypes library (dlopen_guard.c): without
 *   it, the guard opens and stats the file a second time.
 * Only the thread that handed it over takes it, by the same path; the next audit event drops it
 * (python_face.c, ec_handoff_event), so a descriptor nobody took is closed at once. The asyncio
 * REPL's PYTHONSTARTUP is kept past events, until its REPL reads input or its thread ends. */
#include "handoff.h"
#include "arena.h"
#include "sys.h"
#include "text.h"

#define HANDOFF_PATH_MAX 4096

/* The slot. Threads and signal handlers may meet here; it is held for a few instructions, by the
 * id of the thread that holds it. Another live thread's hold is waited for, bounded (a debugger may
 * park that thread): then a drop or an event does without (the next put or drop closes what it
 * held), and a put or take says so (an entry file must not then be read by its name: handoff.h).
 * A signal handler on top of its own thread's hold does without at once (that hold cannot go on
 * while it runs). A child forked during another thread's hold finds an id of no thread of its
 * own there: it takes the slot over, as is (a descriptor or failure is published last and cleared
 * first, so what shows is whole). */
static int holder;
int ec_handoff_fd = -1; /* the slot's descriptor, or -1 (handoff.h) */
int ec_handoff_err;      /* or the errno of a failed open handed over instead, or 0 (handoff.h) */
/* The handing thread: its thread pointer and its id. The pointer alone is not a thread: glibc gives
 * a new thread the stack, and so the pointer, of one that ended (its stack cache); the id tells
 * them apart (see mine). */
static uintptr_t handed_by;
static int handed_tid;
static int handed_has_st;
static int handed_kept; /* not dropped at an audit event (ec_handoff_put_kept) */
/* Odd while a put writes what describes the hand-off (the fields above and the path): a reader
 * that could not take the slot (busy) reads them as a seqlock's reader does. */
static unsigned handed_seq;
static struct ec_statx handed_st;
static char *handed_path; /* [HANDOFF_PATH_MAX], mapped by the first hand-off: CPython processes only */
static void *handed_mem;

/* The calling thread: its thread pointer, which libc points at the thread's own control block, so
 * it tells threads apart for a register read where gettid() is a system call. */
static uintptr_t this_thread(void)
{
    uintptr_t tp;
#if defined(__x86_64__)
    __asm__("mov %%fs:0, %0" : "=r"(tp));
#elif defined(__aarch64__)
    __asm__("mrs %0, tpidr_el0" : "=r"(tp));
#elif defined(__i386__)
    __asm__("mov %%gs:0, %0" : "=r"(tp));
#else
    tp = (uintptr_t)ec_sys0(EC_NR_gettid);
#endif
    return tp;
}

#define HOLD_SPINS 10000

/* Takes the slot: nonzero, or 0 when the caller must do without it (see above); wait: for another
 * live thread's hold (a drop or an event need not: the next put or drop closes what it held). */
static int lock(int wait) { return ec_tid_lock(&holder, HOLD_SPINS, wait); }

static void unlock(void) { ec_unlock(&holder); }

/* The calling thread's id, the slot held: the lock is held by it. */
static int locked_tid(void) { return __atomic_load_n(&holder, __ATOMIC_RELAXED); }

/* Was the hand-off made by the calling thread (its thread pointer tp, its id tid)? By the thread
 * that made it, not a later thread on its stack (another id); or by the one thread of a child that
 * thread forked (the same pointer: fork() copies the calling thread's): the child's first thread,
 * whose id is the process's. A thread the child makes later on the hander's stack (glibc reclaims
 * the stacks of the threads fork() left behind) has an id of its own. getpid() is asked only then,
 * when the pointers match and the ids do not. */
static int mine(uintptr_t by, int by_tid, uintptr_t tp, int tid)
{
    return by == tp && (by_tid == tid || tid == ec_getpid());
}

/* The slot's fd, now the caller's (locked). */
static int empty_slot(void)
{
    int fd = ec_handoff_fd;
    __atomic_store_n(&ec_handoff_fd, -1, __ATOMIC_RELEASE);
    __atomic_store_n(&ec_handoff_err, 0, __ATOMIC_RELEASE);
    return fd;
}

/* Fills the slot with fd, or (fd -1) with the errno err of a failed open. 0, or -1 when the slot
 * could not be had (fd closed): the opener would find nothing and open the name as usual. */
static int put(int fd, int err, const char *path, const struct ec_statx *st, int kept)
{
    int old;
    /* An audit hook or the fopen that took the main script's hand-off (python_fopen.c), never a
     * signal handler, hands over */
    if (!lock(1)) {
        if (fd >= 0) ec_close(fd);
        return -1;
    }
    /* A library's hand-off (st: an import or ctypes.CDLL, on any thread) never displaces another
     * thread's entry file (the main script, PYTHONSTARTUP): that thread's fopen or open would
     * find nothing and read the name again, unchecked. The library's opener does without it. */
    if (st && ec_handoff_waiting() && !handed_has_st && !mine(handed_by, handed_tid, this_thread(), locked_tid())) {
        unlock();
        if (fd >= 0) ec_close(fd);
        return -1;
    }
    old = empty_slot();
    if (old >= 0) ec_close(old);
    if (ec_strlen(path) >= HANDOFF_PATH_MAX || !(handed_path = ec_map_once(&handed_mem, HANDOFF_PATH_MAX))) {
        unlock();
        if (fd >= 0) ec_close(fd); /* cannot match it: the open goes on as usual */
        return -1;
    }
    __atomic_store_n(&handed_seq, handed_seq + 1, __ATOMIC_RELAXED);
    __atomic_thread_fence(__ATOMIC_RELEASE);
    ec_strlcpy(handed_path, path, HANDOFF_PATH_MAX);
    __atomic_store_n(&handed_has_st, st != 0, __ATOMIC_RELAXED);
    handed_kept = kept;
    __atomic_store_n(&handed_tid, locked_tid(), __ATOMIC_RELAXED);
    if (st) handed_st = *st;
    __atomic_store_n(&handed_by, this_thread(), __ATOMIC_RELAXED);
    __atomic_store_n(&handed_seq, handed_seq + 1, __ATOMIC_RELEASE);
    if (fd >= 0) __atomic_store_n(&ec_handoff_fd, fd, __ATOMIC_RELEASE);
    else __atomic_store_n(&ec_handoff_err, err, __ATOMIC_RELEASE);
    unlock();
    return 0;
}

int ec_handoff_put(int fd, const char *path, const struct ec_statx *st) { return put(fd, 0, path, st, 0); }

int ec_handoff_put_kept(int fd, int err, const char *path) { return put(fd, err, path, 0, 1); }

int ec_handoff_put_error(int err, const char *path) { return put(-1, err, path, 0, 0); }

void ec_handoff_drop(void)
{
    int fd;
    if (!lock(0)) return; /* the next put or drop closes it */
    fd = empty_slot();
    unlock();
    if (fd >= 0) ec_close(fd);
}

/* Has the thread that made a kept hand-off ended? (Locked.) A thread id the kernel no longer
 * knows in this process: its own process's after a fork, too. */
static int kept_thread_gone(void)
{
    return !ec_thread_here(handed_tid);
}

void ec_handoff_event(void)
{
    int fd = -1, me;
    if (!ec_handoff_waiting() || !lock(0)) return;
    /* A library's hand-off goes at any thread's event: its opener may have taken another way
     * (the guard's fast path takes nothing) and ended, and the descriptor must not outlive the
     * next event; its open follows the hand-off with no event in between, the GIL held. The main
     * script's goes only at its own thread's: losing it would let CPython read a file unchecked.
     * A kept one stays until its reader has passed its open, or its thread ended: one that died
     * in between (another audit hook refused the start-up file) takes nothing any more. */
    me = mine(handed_by, handed_tid, this_thread(), locked_tid());
    if (!handed_kept ? handed_has_st || me : !me && kept_thread_gone())
        fd = empty_slot();
    unlock();
    if (fd >= 0) ec_close(fd);
}

void ec_handoff_reader_moved_on(void)
{
    int fd = -1;
    if (!ec_handoff_waiting() || !lock(0)) return;
    if (handed_kept && mine(handed_by, handed_tid, this_thread(), locked_tid())) fd = empty_slot();
    unlock();
    if (fd >= 0) ec_close(fd);
}

/* Could not look (another thread held the slot throughout): EC_HANDOFF_BUSY if what waits is this
 * thread's entry file (a main script, PYTHONSTARTUP: a hand-off with no identity), handed over for
 * path: its opener must not read the name (handoff.h). Else -1, and the open goes on as usual: an
 * open of another name, or another thread's, never fails for the slot; nor one of a library's
 * name (its opener, the dlopen guard, checks what it opens). Read unlocked, as a seqlock's reader:
 * a put writing meanwhile emptied the slot first, and what it writes is not this thread's yet. */
static int busy_for(const char *path)
{
    unsigned seq = __atomic_load_n(&handed_seq, __ATOMIC_ACQUIRE);
    int entry;
    if ((seq & 1) || !handed_path) return -1;
    entry = !__atomic_load_n(&handed_has_st, __ATOMIC_RELAXED) &&
            mine(__atomic_load_n(&handed_by, __ATOMIC_RELAXED), __atomic_load_n(&handed_tid, __ATOMIC_RELAXED),
                 this_thread(), (int)ec_sys0(EC_NR_gettid)) &&
            !ec_strcmp(path, handed_path);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return entry && __atomic_load_n(&handed_seq, __ATOMIC_RELAXED) == seq ? EC_HANDOFF_BUSY : -1;
}

int ec_handoff_take(const char *path, struct ec_statx *st)
{
    int fd = -1;
    if (!ec_handoff_pending() || !path) return -1;
    if (!lock(1)) return busy_for(path);
    /* only the handing thread, the same path; a taker that needs the identity only a hand-off
     * that came with one */
    if (ec_handoff_fd >= 0 && mine(handed_by, handed_tid, this_thread(), locked_tid()) && !ec_strcmp(path, handed_path) &&
        (!st || handed_has_st)) {
        if (st) *st = handed_st;
        fd = empty_slot();
    }
    unlock();
    return fd;
}

int ec_handoff_take_error(const char *path)
{
    int err = 0;
    if (!__atomic_load_n(&ec_handoff_err, __ATOMIC_ACQUIRE) || !path) return 0;
    if (!lock(1)) return busy_for(path) == EC_HANDOFF_BUSY ? EC_HANDOFF_BUSY : 0;
    if (ec_handoff_err && mine(handed_by, handed_tid, this_thread(), locked_tid()) && !ec_strcmp(path, handed_path)) {
        err = ec_handoff_err;
        empty_slot();
    }
    unlock();
    return err;
}

/* One checked descriptor waiting for the next open of its path (handoff.c).
 *
 * A face that checked a file on its own descriptor hands the descriptor on, so that the open
 * which follows, in the same thread and by the same path, gets the very file checked instead of
 * opening the path again. */
#ifndef EXECCHECK_HANDOFF_H
#define EXECCHECK_HANDOFF_H

#include "shim.h"
#include "sys.h"

/* Hands fd over for path (st: its statx with EC_STATX_MNT_ID, or NULL). Ownership of fd passes
 * here: it is closed if nobody takes it. A previous hand-off is dropped. Each put returns 0, or -1
 * when nothing was handed over (fd closed): another thread held the slot throughout (a debugger
 * parked it there), or a library's hand-off gave way to another thread's entry file. An entry
 * file's opener would then open the name again, unchecked: under enforcement the face refuses. */
int ec_handoff_put(int fd, const char *path, const struct ec_statx *st) EC_HIDDEN;
/* The same (fd, or -1 and the errno err of a failed open) for a file read by Python code after
 * more audit events (the asyncio REPL's PYTHONSTARTUP): kept past audit events until its open, the
 * next hand-off, a drop, the handing thread's move to reading input (ec_handoff_reader_moved_on)
 * or its end (seen at another thread's event). */
int ec_handoff_put_kept(int fd, int err, const char *path) EC_HIDDEN;
/* The calling thread went on to read input without opening what it had handed over itself and
 * kept: its reader has passed the open, so nobody ever takes it; closed now. */
void ec_handoff_reader_moved_on(void) EC_HIDDEN;
/* Hands over the failure of an open of path (err: its errno) instead of a descriptor: the
 * opener that comes next must fail alike, not open what the name holds by then, unchecked. */
int ec_handoff_put_error(int err, const char *path) EC_HIDDEN;
/* Closes a descriptor nobody took (or forgets a failure). */
void ec_handoff_drop(void) EC_HIDDEN;
/* Is a descriptor waiting? Inline: the dlopen guard's fast path asks on every call. */
extern int ec_handoff_fd EC_HIDDEN; /* the waiting descriptor, or -1 (handoff.c's alone to change) */
static inline int ec_handoff_pending(void) { return __atomic_load_n(&ec_handoff_fd, __ATOMIC_ACQUIRE) >= 0; }
/* A descriptor or a failure waiting? */
extern int ec_handoff_err EC_HIDDEN; /* the waiting failure's errno, or 0 (handoff.c's alone to change) */
static inline int ec_handoff_waiting(void) { return ec_handoff_pending() || __atomic_load_n(&ec_handoff_err, __ATOMIC_ACQUIRE); }
/* Another audit event came: what was handed over and not taken yet never will be; drop it (a
 * library's at any thread's event, the main script's at its own thread's, a kept one once its
 * thread has ended). */
void ec_handoff_event(void) EC_HIDDEN;
/* The descriptor handed over for path by this thread, now the caller's; st (if not NULL) gets
 * its statx, and then only a hand-off that came with one is taken. -1: none. EC_HANDOFF_BUSY:
 * another thread held the slot throughout, and what waits there is this thread's entry file (no
 * identity), handed over for this very path; an open of another name, or of a library's, is never
 * busy (-1: it goes on as usual). "This thread": the one that handed it over, not a later thread
 * glibc gave its stack, or the first thread of a child it forked. */
int ec_handoff_take(const char *path, struct ec_statx *st) EC_HIDDEN;
#define EC_HANDOFF_BUSY (-2)
/* The errno of a failure handed over for path by this thread, now taken; 0: none;
 * EC_HANDOFF_BUSY as for ec_handoff_take. */
int ec_handoff_take_error(const char *path) EC_HIDDEN;
/* A take said EC_HANDOFF_BUSY: may its open go on by the name? Not under enforcement: it is this
 * thread's entry file, and the name may hold another file by now (the open fails, EBUSY). */
static inline int ec_handoff_busy_opens(void) { return !ec_shim_enforcing(EC_KIND_SCRIPT); }

#endif

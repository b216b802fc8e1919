/* The exec securebits of the calling thread: read them, change them, explain refusals.
 *
 * PR_SET_SECUREBITS replaces the whole word, so changes are read-modify-write; a no-op set is
 * skipped because without CAP_SETPCAP the kernel answers EPERM to it (legacy rule). */
#ifndef EXECCHECK_SECUREBITS_H
#define EXECCHECK_SECUREBITS_H

/* The securebits word, or -errno (a seccomp filter can make prctl fail). */
long ec_securebits_get(void);

/* new = (old | set) & ~clear, only within the exec bits and their locks (0xf00).
 * Returns 0 or -errno: -EPERM when a locked bit would change or a lock would be cleared,
 * -EINVAL when asked to touch bits outside 0xf00, -EINVAL from the kernel when it predates 6.14. */
int ec_securebits_change(unsigned set, unsigned clear);

/* Why ec_securebits_change(set, clear) failed with err, in one sentence. */
const char *ec_securebits_error_text(unsigned set, unsigned clear, int err);

#endif

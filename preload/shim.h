/* What the faces of libexeccheck.so share: start-up, the policy in force, and the decision.
 *
 * One file, three faces (DESIGN.md): the rtld-audit face (audit_face.c, la_* callbacks), the
 * preload face (preload_face.c: tripwire, dlopen guard, propagation) and the CPython face
 * (python_face.c). The same file can be mapped twice in one process: once in the audit namespace
 * (no libc there: only raw syscalls may run) and once in the main namespace as a preload. Each
 * copy has its own globals. */
#ifndef EXECCHECK_SHIM_H
#define EXECCHECK_SHIM_H

#include "check.h"
#include "policy.h"
#include "record.h"

#define EC_EXPORT __attribute__((visibility("default")))
#define EC_HIDDEN __attribute__((visibility("hidden")))

#ifndef EXECCHECK_VERSION
#define EXECCHECK_VERSION "0.0.0"
#endif

struct ec_shim {
    int started;     /* the constructor ran */
    int secure;      /* AT_SECURE (setuid/setgid/capabilities): the environment is not trusted */
    int has_libc;    /* this copy lives beside libc (main namespace), so libc may be called */
    int argc;
    char **argv;
    char **envp;     /* the environment at start */
    struct ec_policy policy; /* config and environment part; securebits are re-read per decision */
};

extern struct ec_shim ec_shim EC_HIDDEN;

/* The policy resolved at start (resolves it now if the constructor has not run yet). */
const struct ec_policy *ec_shim_policy(void) EC_HIDDEN;

/* Is a failed check of this kind enforced right now? Re-reads the securebits, so a bit set after
 * start (prctl in the process) takes effect; a prctl failure counts as enforcing. */
int ec_shim_enforcing(int kind) EC_HIDDEN;

/* A failed check: records it (once per pid/dev/ino) and returns 1 when it must be refused,
 * 0 when the policy only audits. Does not print: the face says what it refused. */
int ec_shim_deny(int kind, int face, const char *path, const struct ec_verdict *v) EC_HIDDEN;
/* The same; *first (may be NULL) is 1 when this was the first record of that file in this
 * process, so a face that goes on running can say so once instead of at every attempt. */
int ec_shim_deny_once(int kind, int face, const char *path, const struct ec_verdict *v, int *first) EC_HIDDEN;

/* Is this process under the audit face? The audit copy of the shim (loaded first, in its own
 * namespace) marks every other copy of the same file it sees in la_objopen, before that copy is
 * relocated and long before its constructor: a copy that finds itself marked knows that every
 * object of the process was decided by the audit face. Only code running in the process can fake
 * the mark, and such code could as well patch the shim. */
#define EC_AUDIT_MARK_UNSET 0x6563636b756e7365ull /* in .data (file-backed, writable), never .bss */
#define EC_AUDIT_MARK_SET 0x6563636b61756469ull
extern volatile uint64_t ec_audit_mark EC_HIDDEN;
static inline int ec_shim_under_audit_face(void) { return ec_audit_mark == EC_AUDIT_MARK_SET; }

/* Beside a libc that is not glibc (musl)? Then the shim is inert: every interposed call passes
 * through. Known from the moment the shim is relocated, before any constructor runs. */
int ec_shim_beside_other_libc(void) EC_HIDDEN;

/* Faces' start hooks, called by the shim's constructor when the face is linked in. Weak, so a
 * face can be absent from a build. (has_libc is known by then.) */
void ec_audit_face_start(void) __attribute__((weak)) EC_HIDDEN;
/* Beside a libc other than glibc: finds that libc's functions for what the shim interposes, and
 * starts nothing. */
void ec_preload_passthrough(void) __attribute__((weak)) EC_HIDDEN;
void ec_preload_face_start(void) __attribute__((weak)) EC_HIDDEN;
void ec_python_face_start(void) __attribute__((weak)) EC_HIDDEN;

#endif

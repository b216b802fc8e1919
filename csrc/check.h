/* The check: ask the kernel whether a file may be executed, and say why not.
 *
 * execveat(fd, "", {name}, {}, AT_EMPTY_PATH | AT_EXECVE_CHECK) on the very fd that will be read
 * or mapped, so the answer is about that file and no other (check_exec.rst). A failure is then
 * explained from the same fd: file type, mount flags, mode bits, otherwise an LSM. */
#ifndef EXECCHECK_CHECK_H
#define EXECCHECK_CHECK_H

#include <stdint.h>

struct ec_verdict {
    int allowed;     /* 1: the kernel said yes */
    int err;         /* the errno of the check (0 when allowed) */
    int reason;      /* enum ec_reason */
    uint32_t mode;   /* st_mode of the file checked (0 if unknown) */
    uint32_t uid;    /* owner */
    uint64_t dev;    /* st_dev as user space sees it */
    uint64_t ino;
    int64_t ctime_sec;   /* with dev/ino, the cache key: a chmod changes ctime */
    uint32_t ctime_nsec;
};

/* Checks an open fd (any kind, O_PATH included). `name` becomes argv[0] (may be NULL).
 * Always fills *v; returns 1 allowed, 0 denied. */
int ec_check_fd(int fd, const char *name, struct ec_verdict *v);
/* Like ec_check_fd, but an allowed verdict carries no identity (dev, ino, mode, ctime left 0):
 * one system call less, for callers that only look at the file when it is refused. */
int ec_check_fd_quick(int fd, const char *name, struct ec_verdict *v);

struct ec_statx;
/* The same when the caller already has the fd's statx (saves one syscall on hot paths). */
int ec_check_fd_stat(int fd, const char *name, const struct ec_statx *st, struct ec_verdict *v);

#define EC_CHECK_NOFOLLOW 1 /* do not follow a final symlink: a symlink is then not-regular */

/* Opens path (relative to dirfd) O_PATH|O_CLOEXEC and checks that fd.
 * Returns 1 allowed, 0 denied, or -errno when the path cannot be opened (ENOENT...). */
int ec_check_path(int dirfd, const char *path, int flags, struct ec_verdict *v);

/* The reason for a failed check with errno `err` on fd, from the file's own state. */
int ec_explain(int fd, int err, struct ec_verdict *v);

/* The caller knows the process has one thread for now (the audit face while ld.so maps the
 * program's start-up objects, before any of their code ran): checks skip asking /proc how many
 * threads there are. Clear it (0) as soon as code of the process may have run. */
void ec_check_single_threaded(int known);

/* This process and seccomp (check.c "under seccomp"): EC_SECCOMP_NONE (no filter), _INHERITED (a
 * filter it started with: checks are made directly), _UNPROBED (a filter installed since: the next
 * check is made from a child), _CHECKS (a filter that lets the check through), _KILLS (a filter that
 * kills for execveat: every check answers ENOSYS), _REFUSES (a filter that makes execveat fail
 * with an errno of its own for any file: every check answers ENOSYS too). probe: find out now, from a child, what an
 * _UNPROBED filter does (EC_SECCOMP_PROBE_NEW), or an _INHERITED one too (EC_SECCOMP_PROBE_ALL).
 * The shim's constructor calls it first (probe 0): the filter mode at start is told apart from one
 * installed later. */
#define EC_SECCOMP_PROBE_ALL 1
#define EC_SECCOMP_PROBE_NEW 2
#define EC_SECCOMP_NONE 0
#define EC_SECCOMP_CHECKS 1
#define EC_SECCOMP_KILLS 2
#define EC_SECCOMP_UNPROBED 3
#define EC_SECCOMP_INHERITED 4
#define EC_SECCOMP_REFUSES 5
int ec_check_seccomp(int probe);

/* The word a shimmed process puts in the environment of a child whose inherited filter kills for
 * execveat (propagate.c), and reads at start (ec_check_seccomp_start). */
#define EC_SECCOMP_ENV_NAME "EXECCHECK_SECCOMP"
#define EC_SECCOMP_ENV EC_SECCOMP_ENV_NAME "="
#define EC_SECCOMP_ENV_KILLS_VALUE "kills"
#define EC_SECCOMP_ENV_KILLS EC_SECCOMP_ENV EC_SECCOMP_ENV_KILLS_VALUE
/* The first look, from the shim's constructor: a filter seen now was inherited (one seen later,
 * the program installed), and it kills for execveat if envp says so. */
void ec_check_seccomp_start(char *const *envp);

/* The bare check of fd (no identity, no explanation), made as every check is (from a child where
 * threads or a seccomp filter call for it): 0 allowed or -errno. */
int ec_check_raw(int fd);

/* Reads the file identity (dev, ino, mode, uid, ctime) of fd into v. Returns 0 or -errno. */
int ec_identify_fd(int fd, struct ec_verdict *v);

#endif

/* Propagation: every program started from a shimmed process starts under the shim again.
 *
 * A preload runs too late to stop what was loaded before it (DESIGN.md "The loader"), but it can
 * make sure every child is loaded by an ld.so that runs the audit face first: LD_AUDIT starts
 * with this shim, and LD_PRELOAD names it too (the preload and CPython faces live there). So:
 *   - at start, `environ` is rewritten, for raw execs that pass environ;
 *   - system(), popen() and wordexp(), whose shell libc starts from environ, put the entries back
 *     if the program took them out since;
 *   - every exec*()/posix_spawn*() entry point that takes or implies an envp rewrites it on the
 *     way, whatever the caller removed (env -u LD_AUDIT, env -i, a custom envp).
 * An LD_AUDIT list that came from the environment is kept, after ours, so ours checks it.
 *
 * The rewrite runs between fork/vfork and exec, so it is async-signal-safe: no malloc (a stack
 * buffer, else an anonymous mapping from a raw syscall), no locks. If memory cannot be had, the
 * exec fails with ENOMEM rather than run the child unshimmed. */
#include <stdarg.h>
#include "propagate.h"
#include "preload_face.h"
#include "arena.h"
#include "check.h"
#include "ldresolve.h"
#include "shim.h"
#include "sys.h"
#include "text.h"

extern char **environ __attribute__((weak));
extern int *__errno_location(void) __attribute__((weak));
/* Present only when the audit face is built in: without it, LD_AUDIT=shim would make every
 * child's ld.so complain "undefined symbol: la_version". */
extern unsigned int la_version(unsigned int) __attribute__((weak));

static char *const empty_env[] = {0};
/* environ is a weak reference: its address is NULL where libc is absent */
static char *const *current_environ(void) { return &environ && environ ? environ : empty_env; }

static const char *self_file = ""; /* ld.so's name of this object when absolute, else a copy made absolute
                                    * (or, self_from_cwd, ld.so's relative name) */
static size_t self_file_len;
static const char *self_name = ""; /* ld.so's name of this object as it is (relative, if the entry was) */
static size_t self_name_len;
static const char *self_path = ""; /* what children are given: self_file, or the $LIB entry naming it */
static size_t self_len;
/* self_file is ld.so's relative name, which reaches this object only from the start-up cwd: one
 * with no name in this process's root (kept outside it by a chroot or pivot_root). That cwd's
 * identity, to tell whether the process is still there. */
static int self_from_cwd;
static uint64_t self_cwd_dev, self_cwd_ino;
static void *self_mem; /* SELF_MAX for self_file, SELF_MAX for self_path, then self_through_lib's scratch */
#define SELF_MAX 4096
#define PRELOAD_FILE_READ 4096

typedef int (*execvpe_fn)(const char *, char *const[], char *const[]);
typedef int (*spawn_fn)(int *, const char *, const void *, const void *, char *const[], char *const[]);
static execvpe_fn real_execvpe;
static spawn_fn real_posix_spawn, real_posix_spawnp, real_pidfd_spawn, real_pidfd_spawnp;
static int resolved; /* ec_propagate_resolve has run */

/* The constructors of a program's libraries run before the shim's (glibc initializes the
 * dependencies first): one that starts a program finds the wrappers before ec_propagate_resolve
 * ran, and they look the functions up then (at start, one thread). */
static void resolve_if_early(void)
{
    if (!__atomic_load_n(&resolved, __ATOMIC_ACQUIRE)) ec_propagate_resolve();
}

static int fail(int err)
{
    if (__errno_location) *__errno_location() = err;
    return -1;
}

static int is_sep(char c, const char *seps) { return ec_strchr(seps, c) && c; }

/* ld.so splits LD_PRELOAD at spaces and colons (rtld.c, handle_preload_list: a tab is part of a
 * name there), LD_AUDIT at colons, /etc/ld.so.preload at white space and colons. */
#define PRELOAD_SEPS " :"

/* The next entry of a list (*n bytes, 0 at its end), *list moved past it. */
static const char *next_entry(const char **list, const char *seps, size_t *n)
{
    const char *p = *list, *start;
    while (*p && is_sep(*p, seps)) p++;
    start = p;
    while (*p && !is_sep(*p, seps)) p++;
    *n = (size_t)(p - start);
    *list = p;
    return start;
}

/* Is the entry (n bytes) the name ld.so loaded this file by, or that name made absolute? A
 * relative one (LD_PRELOAD=./libexeccheck.so) named it in the directory the process started in
 * only: kept for children, it made ld.so complain in every one that starts elsewhere. */
static int names_self_file(const char *e, size_t n)
{
    return (n == self_file_len && !ec_memcmp(e, self_file, n)) || (n == self_name_len && !ec_memcmp(e, self_name, n));
}

/* Appends the entries of a list, except our own path, each preceded by ':'. */
static char *append_entries(char *out, const char *list, const char *seps)
{
    while (*list) {
        size_t n;
        const char *start = next_entry(&list, seps, &n);
        if (!n || (n == self_len && !ec_memcmp(start, self_path, n)) || names_self_file(start, n))
            continue;
        *out++ = ':';
        ec_memcpy(out, start, n);
        out += n;
    }
    return out;
}

static int has_prefix(const char *s, const char *p) { return !ec_strncmp(s, p, ec_strlen(p)); }

/* Bytes a fixed copy of envp needs (pointers and the two rewritten strings). */
static size_t fixed_size(char *const *envp, size_t *count)
{
    size_t n = 0, bytes = 0;
    if (envp)
        for (; envp[n]; n++)
            if (has_prefix(envp[n], "LD_AUDIT=") || has_prefix(envp[n], "LD_PRELOAD="))
                bytes += ec_strlen(envp[n]) + 1;
    *count = n;
    return (n + 4) * sizeof(char *) + bytes + 2 * (self_len + 16) + 16;
}

/* Without our entry in front, a rewritten list starts with the ':' of its first entry: drop it.
 * Returns the new end. */
static char *drop_first_sep(char *list, char *end)
{
    char *q;
    if (list == end || *list != ':') return end;
    for (q = list; q + 1 < end; q++) q[0] = q[1];
    return end - 1;
}

/* The word a child is told when the seccomp filter it inherits kills for execveat (check.h): its
 * shim then answers "unsupported" instead of making the check that would kill it. */
static char kills_word[] = EC_SECCOMP_ENV_KILLS;

/* Does this process's filter, which every child inherits, kill for execveat? A filter installed
 * since the start is found out now, from a child (check.c), once. (In a vfork child the answer
 * lands in the parent's memory too: a filter the vfork child added itself would then make the
 * parent's checks answer "unsupported", which fails closed.) */
static int children_inherit_a_killing_filter(void)
{
    int s = ec_check_seccomp(EC_SECCOMP_PROBE_NEW);
    return s == EC_SECCOMP_KILLS || s == EC_SECCOMP_REFUSES; /* either way no check can be made there */
}

/* Writes the fixed environment into mem (size from fixed_size) and returns it. With self = 0
 * our own entries are left out (and a list left empty is dropped): the shim file is gone. With
 * kills, the child is told that its filter kills for execveat. */
static char **fix_into(char *const *envp, size_t n, void *mem, int self, int kills)
{
    char **out = mem, **o = out;
    char *text = (char *)(out + n + 4), *p, *start;
    const char *last_preload = 0;
    size_t i;
    int audit = la_version != 0;

    if (audit) {
        /* LD_AUDIT=ours:every entry of every LD_AUDIT (ld.so loads all of them, in order) */
        p = start = text;
        ec_memcpy(p, "LD_AUDIT=", 9);
        p += 9;
        if (self) {
            ec_memcpy(p, self_path, self_len);
            p += self_len;
        }
        for (i = 0; i < n; i++)
            if (has_prefix(envp[i], "LD_AUDIT=")) p = append_entries(p, envp[i] + 9, ":");
        if (!self) p = drop_first_sep(start + 9, p);
        *p++ = 0;
        if (p > start + 10) {
            *o++ = start;
            text = p;
        }
    }
    /* LD_PRELOAD=ours:the entries of the last LD_PRELOAD (the one ld.so uses) */
    for (i = 0; i < n; i++)
        if (has_prefix(envp[i], "LD_PRELOAD=")) last_preload = envp[i] + 11;
    p = start = text;
    ec_memcpy(p, "LD_PRELOAD=", 11);
    p += 11;
    if (self) {
        ec_memcpy(p, self_path, self_len);
        p += self_len;
    }
    if (last_preload) p = append_entries(p, last_preload, PRELOAD_SEPS);
    if (!self) p = drop_first_sep(start + 11, p);
    *p++ = 0;
    if (p > start + 12) *o++ = start;
    if (kills) *o++ = kills_word;
    for (i = 0; i < n; i++) {
        if (has_prefix(envp[i], "LD_PRELOAD=")) continue;
        if (audit && has_prefix(envp[i], "LD_AUDIT=")) continue;
        if (kills && has_prefix(envp[i], EC_SECCOMP_ENV)) continue;
        *o++ = envp[i];
    }
    *o = 0;
    return out;
}

/* The rewritten envp holds the pointers and the two rewritten variables (~600 bytes for 40
 * variables): on the caller's stack up to this size, which may be a small thread's; beyond it, in
 * a mapping (two system calls more per exec). */
#define STACK_ENV 2048

/* need bytes (rounded up to pages, in *len) of fresh anonymous memory, or NULL */
static void *map_pages(size_t need, size_t *len)
{
    void *mem;
    *len = (need + 4095) & ~(size_t)4095;
    mem = ec_mmap(0, *len, EC_PROT_READ | EC_PROT_WRITE, EC_MAP_PRIVATE | EC_MAP_ANONYMOUS, -1, 0);
    return ec_mmap_failed(mem) ? 0 : mem;
}

/* ---- memory for an envp beyond the stack buffer ----
 * A process that execs gives its memory back by the exec, and a failed exec unmaps on return. But
 * a vfork() child (Python's subprocess since 3.10, make, busybox) runs in its parent's memory: a
 * mapping it makes and then execs stays in the parent, one per child, for good (a 400-variable
 * environment leaked 4 KiB per subprocess). So an exec that happens here takes one of a few kept
 * buffers, claimed by a busy word, and hands the claim to the kernel: set_tid_address() on the
 * word makes the exec itself write 0 to it in the memory the child leaves behind (mm_release, when
 * another process still uses that memory), which is the moment the buffer is free again. A
 * failed exec restores the thread's own clear_child_tid (PR_GET_TID_ADDRESS) and releases the
 * buffer. Without that prctl (a kernel without CONFIG_CHECKPOINT_RESTORE), or with every buffer
 * busy, a fresh mapping as before. (A signal handler that longjmps out of an exec wrapper leaves
 * its buffer claimed until the thread exits, and that thread unjoinable: not supported.) */
#define ENV_BUFFERS 8
static struct env_buffer {
    int busy; /* a clear_child_tid word: the kernel's 0 on exec releases the buffer */
    size_t len;
    void *mem;
} env_buffers[ENV_BUFFERS];

/* A kept buffer of at least need bytes, claimed and handed to the kernel; *old_tid gets the
 * thread's clear_child_tid to restore. NULL: none to be had. */
static struct env_buffer *claim_env_buffer(size_t need, int **old_tid)
{
    int i;
    if (ec_prctl(EC_PR_GET_TID_ADDRESS, (unsigned long)old_tid) < 0) return 0;
    for (i = 0; i < ENV_BUFFERS; i++) {
        struct env_buffer *b = &env_buffers[i];
        int idle = 0;
        if (!__atomic_compare_exchange_n(&b->busy, &idle, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) continue;
        if (b->len < need) { /* ours alone while busy: grow it */
            size_t len;
            void *mem = map_pages(need, &len);
            if (!mem) {
                __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
                return 0;
            }
            if (b->mem) ec_munmap(b->mem, b->len);
            b->mem = mem;
            b->len = len;
        }
        ec_sys1(EC_NR_set_tid_address, &b->busy);
        return b;
    }
    return 0;
}

/* The exec did not happen: the thread's clear_child_tid is its own again, the buffer free. */
static void release_env_buffer(struct env_buffer *b, int *old_tid)
{
    ec_sys1(EC_NR_set_tid_address, old_tid);
    __atomic_store_n(&b->busy, 0, __ATOMIC_RELEASE);
}

/* The fixed envp in `stack` if it fits, else in a kept buffer (an exec in this thread) or a fresh
 * mapping (posix_spawn, or no buffer to be had: left to exec to reclaim); release_env gives either
 * back after a failed exec or a spawn. envp NULL: the exec must fail with err. */
struct fixed_env {
    char **envp;
    void *map;
    size_t maplen;
    struct env_buffer *buf;
    int *old_tid;
    int err;
};

/* Can children load the shim? If it is gone (removed, or not in the root or mount namespace this
 * process moved to), or this process may not read it (a uid dropped to one that cannot read its
 * directory, a Landlock domain without READ_FILE there: the child keeps both), a child's ld.so would
 * print an error and run the program without it: enforcing, the exec is refused instead; otherwise
 * the child gets what it would have had without execcheck, silently. Only an open that the kernel
 * refuses (EACCES), a path that names nothing, or something else than a file count: a call that a
 * seccomp filter refuses (EPERM from Docker's profiles before 2020, ENOSYS) tells nothing, and the
 * child is given the shim as before this question was asked. */
enum { SHIM_THERE, SHIM_GONE, SHIM_UNREADABLE, SHIM_UNNAMED };

static int shim_state(void)
{
    struct ec_statx st;
    int fd, r;
    if (self_from_cwd) { /* from another directory the relative name is another file, or none */
        r = ec_statx(EC_AT_FDCWD, ".", 0, EC_STATX_BASIC_STATS, &st);
        if (r == 0 && (st.stx_ino != self_cwd_ino || ec_makedev(st.stx_dev_major, st.stx_dev_minor) != self_cwd_dev))
            return SHIM_UNNAMED;
    }
    fd = ec_openat(EC_AT_FDCWD, self_file, EC_O_RDONLY | EC_O_CLOEXEC | EC_O_NONBLOCK | EC_O_NOCTTY, 0);
    if (fd == -EC_EACCES) return SHIM_UNREADABLE;
    r = fd >= 0 ? ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st)
                : ec_statx(EC_AT_FDCWD, self_file, 0, EC_STATX_BASIC_STATS, &st);
    if (fd >= 0) ec_close(fd);
    if (r < 0) return r == -EC_ENOENT || r == -EC_ENOTDIR ? SHIM_GONE : SHIM_THERE;
    return (st.stx_mode & EC_S_IFMT) == EC_S_IFREG ? SHIM_THERE : SHIM_GONE;
}

static int said_shim_gone;

static void say_shim_gone(int state)
{
    char buf[4096 + 160];
    struct ec_buf b;
    if (said_shim_gone) return; /* a shell trying each PATH directory: once is enough */
    said_shim_gone = 1;
    ec_buf_init(&b, buf, sizeof buf);
    ec_buf_puts(&b, "execcheck: refused to start a program: the shim ");
    ec_buf_puts(&b, self_file);
    ec_buf_puts(&b, state == SHIM_UNREADABLE ? " cannot be read by this process, it would run unchecked\n"
                    : state == SHIM_UNNAMED ? " was loaded from a directory outside this process's root, which it has "
                                              "left: no name reaches the shim from here, it would run unchecked\n"
                                            : " is gone, it would run unchecked\n");
    ec_write(2, buf, b.len);
}

static int find_self_path(char *const *env);
static int early_looked;

/* An exec before the shim's constructor ran: glibc initializes a program's libraries before its
 * preloads, so a library constructor that starts a program comes first. The shim's path is found
 * now, as the constructor will find it, so that child gets the shim too (environ itself is fixed
 * up by the constructor, for system() and popen() after it). */
static void find_self_if_early(void)
{
    int zero = 0;
    if (ec_shim.started || !__atomic_compare_exchange_n(&early_looked, &zero, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return;
    if (ec_preload_face_will_propagate()) find_self_path(current_environ());
}

static void make_env(char *const *envp, void *stack, int execs_here, struct fixed_env *f)
{
    size_t n, need = fixed_size(envp, &n);
    int self = 1, kills, state;
    f->map = 0;
    f->maplen = 0;
    f->buf = 0;
    f->err = 0;
    if (!self_len) find_self_if_early();
    if (!self_len) { /* propagation disabled: we do not know our own path */
        f->envp = (char **)envp;
        return;
    }
    if ((state = shim_state()) != SHIM_THERE) {
        if (ec_shim_enforcing(EC_KIND_LIBRARY)) {
            say_shim_gone(state);
            f->envp = 0;
            f->err = EC_EACCES;
            return;
        }
        self = 0;
    }
    kills = children_inherit_a_killing_filter();
    if (need <= STACK_ENV) {
        f->envp = fix_into(envp, n, stack, self, kills);
        return;
    }
    if (execs_here && (f->buf = claim_env_buffer(need, &f->old_tid))) {
        f->envp = fix_into(envp, n, f->buf->mem, self, kills);
        return;
    }
    if (!(f->map = map_pages(need, &f->maplen))) {
        f->envp = 0;
        f->err = EC_ENOMEM;
        return;
    }
    f->envp = fix_into(envp, n, f->map, self, kills);
}

static void release_env(struct fixed_env *f)
{
    if (f->buf) release_env_buffer(f->buf, f->old_tid);
    if (f->map) ec_munmap(f->map, f->maplen);
}

/* execs_here: this thread execs with the envp (exec*), rather than a child it waits for (spawn) */
#define WITH_FIXED_ENV_OR(envp_in, f, execs_here, on_error)                                 \
    long stack_env_[STACK_ENV / sizeof(long)];                                              \
    struct fixed_env f;                                                                     \
    make_env((envp_in), stack_env_, (execs_here), &f);                                      \
    if (!f.envp) return (on_error)
#define WITH_FIXED_ENV(envp_in, f) WITH_FIXED_ENV_OR(envp_in, f, 1, fail(f.err))


/* ---- the exec family: each rewrites the envp, then calls the next definition (libc's, or
 * another preload's), so nothing else about the call changes ---- */

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*execveat_fn)(int, const char *, char *const[], char *const[], int);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
static execve_fn real_execve;
static execveat_fn real_execveat;
static fexecve_fn real_fexecve;

EC_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
    int r;
    resolve_if_early();
    WITH_FIXED_ENV(envp, f);
    r = real_execve ? real_execve(path, argv, f.envp) : fail((int)-ec_sys3(EC_NR_execve, path, argv, f.envp));
    release_env(&f);
    return r;
}

EC_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[], int flags)
{
    int r;
    resolve_if_early();
    if (flags & EC_AT_EXECVE_CHECK) /* a check, not an exec: nothing is started */
        return real_execveat ? real_execveat(dirfd, path, argv, envp, flags)
                             : fail((int)-ec_syscall6(EC_NR_execveat, dirfd, (long)path, (long)argv, (long)envp, flags, 0));
    {
        WITH_FIXED_ENV(envp, f);
        r = real_execveat ? real_execveat(dirfd, path, argv, f.envp, flags)
                          : fail((int)-ec_syscall6(EC_NR_execveat, dirfd, (long)path, (long)argv, (long)f.envp, flags, 0));
        release_env(&f);
    }
    return r;
}

EC_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
    int r;
    resolve_if_early();
    WITH_FIXED_ENV(envp, f);
    r = real_fexecve ? real_fexecve(fd, argv, f.envp)
                     : fail((int)-ec_syscall6(EC_NR_execveat, fd, (long)"", (long)argv, (long)f.envp, EC_AT_EMPTY_PATH, 0));
    release_env(&f);
    return r;
}

EC_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
    int r;
    resolve_if_early();
    if (!real_execvpe) return fail(EC_ENOSYS);
    {
        WITH_FIXED_ENV(envp, f);
        r = real_execvpe(file, argv, f.envp);
        release_env(&f);
    }
    return r;
}

EC_EXPORT int execv(const char *path, char *const argv[]) { return execve(path, argv, current_environ()); }
EC_EXPORT int execvp(const char *file, char *const argv[]) { return execvpe(file, argv, current_environ()); }

/* execl*: count the variadic arguments, then gather them into an argv on the stack, as glibc
 * does (execl.c): the arguments after the first are read up to a NULL whatever the first is
 * (execle(path, NULL, NULL, envp) takes envp after that second NULL), at most INT_MAX of them. */
#define MAX_LIST_ARGS 2147483647
static size_t count_args(va_list ap)
{
    size_t n = 1;
    while (n < MAX_LIST_ARGS && va_arg(ap, char *)) n++;
    return n + 1; /* with the NULL */
}

#define GATHER_ARGS(first, ap, argv, n)       \
    do {                                      \
        size_t i_;                            \
        (argv)[0] = (char *)(first);          \
        for (i_ = 1; i_ < (n); i_++)          \
            (argv)[i_] = va_arg(ap, char *);  \
    } while (0)

#define COUNTED_ARGV(first, last_named, argv)                \
    va_list ap;                                              \
    size_t n_;                                               \
    va_start(ap, last_named);                                \
    n_ = count_args(ap);                                     \
    va_end(ap);                                              \
    if (n_ > MAX_LIST_ARGS) return fail(EC_E2BIG);           \
    char *argv[n_];                                          \
    va_start(ap, last_named);                                \
    GATHER_ARGS((first), ap, argv, n_)

EC_EXPORT int execl(const char *path, const char *arg, ...)
{
    COUNTED_ARGV(arg, arg, argv);
    va_end(ap);
    return execve(path, argv, current_environ());
}

EC_EXPORT int execlp(const char *file, const char *arg, ...)
{
    COUNTED_ARGV(arg, arg, argv);
    va_end(ap);
    return execvpe(file, argv, current_environ());
}

EC_EXPORT int execle(const char *path, const char *arg, ...)
{
    char *const *envp;
    COUNTED_ARGV(arg, arg, argv);
    envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}

/* The posix_spawn family: the envp rewritten, then the next definition (*real, read after the
 * early resolve). They return the error number, not -1 and errno. */
static int spawn_fixed(spawn_fn *real, int *pid, const char *file, const void *actions, const void *attr,
                       char *const argv[], char *const envp[])
{
    int r;
    spawn_fn next;
    resolve_if_early();
    if (!(next = *real)) return EC_ENOSYS;
    {
        WITH_FIXED_ENV_OR(envp, f, 0, f.err);
        r = next(pid, file, actions, attr, argv, f.envp);
        release_env(&f);
    }
    return r;
}

EC_EXPORT int posix_spawn(int *pid, const char *path, const void *actions, const void *attr, char *const argv[],
                          char *const envp[])
{
    return spawn_fixed(&real_posix_spawn, pid, path, actions, attr, argv, envp);
}

EC_EXPORT int posix_spawnp(int *pid, const char *file, const void *actions, const void *attr, char *const argv[],
                           char *const envp[])
{
    return spawn_fixed(&real_posix_spawnp, pid, file, actions, attr, argv, envp);
}

/* glibc 2.39's posix_spawn twins that give a pidfd (int *) instead of a pid (Debian 13 on): without
 * these, a custom envp started the child without the shim. Before 2.39 libc has neither, and a
 * program that finds ours (dlsym) is told they are not implemented. */
EC_EXPORT int pidfd_spawn(int *pidfd, const char *path, const void *actions, const void *attr, char *const argv[],
                          char *const envp[])
{
    return spawn_fixed(&real_pidfd_spawn, pidfd, path, actions, attr, argv, envp);
}

EC_EXPORT int pidfd_spawnp(int *pidfd, const char *file, const void *actions, const void *attr, char *const argv[],
                           char *const envp[])
{
    return spawn_fixed(&real_pidfd_spawnp, pidfd, file, actions, attr, argv, envp);
}

/* ---- system(), popen(), wordexp(): libc starts their shell itself, from environ ----
 *
 * No wrapper of ours sees that exec (glibc calls its internal posix_spawn, or fork and execve).
 * The start put our entries in environ, but the program may have taken them out since (clearenv,
 * unsetenv, environ = its own array): then each of these calls publishes a fixed copy of environ
 * for its duration, and puts the program's own array back when the last such call in flight
 * returns (the shell has its environment by then: system() waited for it, popen() and wordexp()
 * spawned it). So the program never holds an array of ours and finds what it set as it set it;
 * and memory does not grow with the calls: publishing for good, as this did before, made a new
 * array whenever the program had changed a value (a counter set before each hook), never to be
 * freed, since the program may have saved environ - until system() failed with ENOMEM. */

typedef int (*system_fn)(const char *);
typedef void *(*popen_fn)(const char *, const char *);
typedef int (*wordexp_fn)(const char *, void *, int);
static system_fn real_system;
static popen_fn real_popen;
static wordexp_fn real_wordexp;

/* Does the list value start with our path, as one entry? Does it hold our path anywhere? */
static int starts_with_self(const char *list, const char *seps)
{
    return !ec_strncmp(list, self_path, self_len) && (!list[self_len] || is_sep(list[self_len], seps));
}

static int holds_self(const char *list, const char *seps)
{
    while (*list) {
        while (*list && is_sep(*list, seps)) list++;
        if (*list && starts_with_self(list, seps)) return 1;
        while (*list && !is_sep(*list, seps)) list++;
    }
    return 0;
}

/* What fix_into would make of env is already there: ours first in the first LD_AUDIT (ld.so reads
 * them all, in order) and in the last LD_PRELOAD (the one ld.so uses); with the shim gone, ours
 * nowhere; with kills, the word for the child. */
static int fixed_already(char *const *env, int self, int kills)
{
    const char *audit = 0, *preload = 0;
    size_t i;
    int told = 0;
    for (i = 0; env[i]; i++) {
        if (has_prefix(env[i], EC_SECCOMP_ENV)) told = !ec_strcmp(env[i], kills_word);
        if (has_prefix(env[i], "LD_AUDIT=")) {
            if (!self && holds_self(env[i] + 9, ":")) return 0;
            if (!audit) audit = env[i] + 9;
        }
        if (has_prefix(env[i], "LD_PRELOAD=")) {
            if (!self && holds_self(env[i] + 11, PRELOAD_SEPS)) return 0;
            preload = env[i] + 11;
        }
    }
    if (kills && !told) return 0;
    if (!self) return 1;
    return preload && starts_with_self(preload, PRELOAD_SEPS) && (!la_version || (audit && starts_with_self(audit, ":")));
}

/* The arrays: the last one is kept and published again while the fix would be the same, so a
 * program that clears its environment once makes one array for all its calls. An older one may
 * still be read by a thread that loaded environ during a call, so it is unmapped only after
 * RETIRED more (never while it is environ). All of it under env_lock (but inflight, atomic). */
struct env_array {
    char **env;   /* the fixed array, at the start of its own mapping */
    char **copy;  /* its pointers as published: tells whether anyone changed it in place */
    size_t count; /* entries, the NULL included */
    size_t ours;  /* how many at its start are our own strings */
    size_t len;   /* the mapping's length */
};
#define RETIRED 8
static struct env_array last, retired[RETIRED];
static unsigned retired_next;
static struct env_array pub;         /* the array of ours in environ now (pub.env), or none */
static char **replaced;              /* the program's array it stands for */
static int keep;                     /* pub stays: it stands for an array of ours the program changed */
static int inflight;                 /* calls between fix_environ and unfix_environ that count */
static int env_lock;                 /* 0, or the id of the thread that holds it */

/* A child forked while another thread held the lock finds that thread's id there, of no thread of
 * its own: nobody in this process will release it, and what it guards may be half-written. It
 * takes the lock over and forgets every array (those stay mapped for good: one may be its
 * environ). A signal handler whose own thread holds it (system() from a handler) does without at
 * once: that holder cannot go on while the handler runs. Another thread's hold is waited for,
 * bounded: then the caller does without. */
static void forget_arrays(void)
{
    ec_memset(&last, 0, sizeof last);
    ec_memset(retired, 0, sizeof retired);
    ec_memset(&pub, 0, sizeof pub);
    replaced = 0;
    keep = 0;
    __atomic_store_n(&inflight, 0, __ATOMIC_RELAXED);
}

static int lock_env(void)
{
    int r = ec_tid_lock(&env_lock, 100000, 1);
    if (r == 2) forget_arrays();
    return r != 0;
}

static void unlock_env(void) { ec_unlock(&env_lock); }

/* Entries in env including the NULL, and how many at its start are the fix's own strings. */
static size_t count_entries(char **env, const char *own, size_t own_len, size_t *ours)
{
    size_t n = 0;
    *ours = 0;
    for (; env[n]; n++)
        if (env[n] >= own && env[n] < own + own_len) *ours = n + 1;
    return n + 1;
}

/* Has anyone changed the array in place since it was made (setenv of a variable it holds, unsetenv)? */
static int changed_in_place(const struct env_array *a)
{
    size_t i;
    for (i = 0; i < a->count; i++)
        if (a->env[i] != a->copy[i]) return 1;
    return 0;
}

static int same_as_last(char **fixed, size_t count, size_t ours)
{
    size_t i;
    if (!last.env || count != last.count || ours != last.ours || changed_in_place(&last)) return 0;
    for (i = 0; i < count; i++)
        if (i < ours ? ec_strcmp(fixed[i], last.copy[i]) != 0 : fixed[i] != last.copy[i]) return 0;
    return 1;
}

/* Our own strings (LD_AUDIT=..., LD_PRELOAD=...) must outlive the array that published them:
 * glibc's setenv copies environ's pointers, not the strings, into an array of its own, so they may
 * stay in the program's environment after ours is unmapped. They are kept for the process, each
 * distinct one once, found again through a hash: a program gives few values, but one that gives
 * many (a new LD_PRELOAD per child) must still find its repeats - as glibc's setenv keeps every
 * value it was given. Called under the environment lock. */
struct interned {
    struct interned *next;
    uint64_t hash;
    char s[];
};
#define INTERN_BUCKETS 256
static struct ec_arena interned_arena;
static struct interned **intern_buckets;

static char *intern(const char *s)
{
    uint64_t h = ec_hash_str(s);
    size_t n = ec_strlen(s);
    struct interned *e, **b;
    if (!interned_arena.limit) ec_arena_init(&interned_arena, (size_t)64 << 20);
    if (!intern_buckets && !(intern_buckets = ec_arena_alloc(&interned_arena, INTERN_BUCKETS * sizeof *intern_buckets)))
        return 0;
    b = &intern_buckets[h % INTERN_BUCKETS];
    for (e = *b; e; e = e->next)
        if (e->hash == h && !ec_strcmp(e->s, s)) return e->s;
    if (!(e = ec_arena_alloc(&interned_arena, sizeof *e + n + 1))) return 0;
    e->hash = h;
    ec_memcpy(e->s, s, n + 1);
    e->next = *b;
    *b = e;
    return e->s;
}

/* The fix of env in a mapping of its own (our strings interned, unless it is never unmapped),
 * with the copy of its pointers; 0 when there is no memory. */
static int map_array(char *const *env, int self, int kills, int interned_strings, struct env_array *a)
{
    size_t n, i, need = (fixed_size(env, &n) + 15) & ~(size_t)15;
    void *mem = map_pages(need + (n + 4) * sizeof(char *), &a->len);
    if (!mem) return 0;
    a->env = fix_into(env, n, mem, self, kills);
    a->count = count_entries(a->env, (const char *)mem, need, &a->ours); /* the kills word comes after */
    for (i = 0; interned_strings && i < a->ours; i++)
        if (!(a->env[i] = intern(a->env[i]))) {
            ec_munmap(mem, a->len);
            return 0;
        }
    a->copy = (char **)((char *)mem + need);
    ec_memcpy(a->copy, a->env, a->count * sizeof(char *));
    return 1;
}

static void retire(const struct env_array *a)
{
    struct env_array *old = &retired[retired_next++ % RETIRED];
    char **now = __atomic_load_n(&environ, __ATOMIC_ACQUIRE);
    /* one still in environ stays mapped for good: the program (or a call that could not take the
     * lock) left it there */
    if (old->env && old->env != now && old->env != pub.env) ec_munmap(old->env, old->len);
    *old = *a;
}

/* The array to publish for env: the last one if the fix would be the same, else a new one (the
 * last retired). NULL: no memory. */
static const struct env_array *array_for(char *const *env, int self, int kills)
{
    struct env_array fresh;
    if (!map_array(env, self, kills, 1, &fresh)) return 0;
    if (same_as_last(fresh.env, fresh.count, fresh.ours)) {
        ec_munmap(fresh.env, fresh.len);
        return &last;
    }
    if (last.env) retire(&last);
    last = fresh;
    return &last;
}

/* Without the lock (a call from a signal handler whose thread holds it): a fresh array published for
 * good, the behaviour before arrays were taken back. */
static int fix_for_good(int self, int kills)
{
    int tries;
    for (tries = 0; tries < 8; tries++) {
        char **env = __atomic_load_n(&environ, __ATOMIC_ACQUIRE);
        struct env_array a;
        if (fixed_already(env ? env : (char **)empty_env, self, kills)) return 0;
        if (!map_array(env ? env : empty_env, self, kills, 0, &a)) return EC_ENOMEM; /* not interned: no lock */
        if (__atomic_compare_exchange_n(&environ, &env, a.env, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return 0;
        ec_munmap(a.env, a.len);
    }
    return 0;
}

/* system(), popen() and wordexp() start a shell from environ: make environ what fix_into would make
 * of it, for the call (*counted: unfix_environ must take it back). 0 when the shell may start, else
 * the errno the call fails with: the shim is gone while enforcing (as make_env), or no memory. */
static int fix_environ(int *counted)
{
    int tries, self, kills, state, err = 0;
    *counted = 0;
    if (!self_len) find_self_if_early(); /* a library constructor's call, before our start (as make_env) */
    if (!self_len || !&environ) return 0; /* propagation off */
    if (!(self = (state = shim_state()) == SHIM_THERE) && ec_shim_enforcing(EC_KIND_LIBRARY)) {
        say_shim_gone(state);
        return EC_EACCES;
    }
    kills = children_inherit_a_killing_filter();
    if (!lock_env()) return fix_for_good(self, kills);
    for (tries = 0; tries < 8; tries++) {
        char **env = __atomic_load_n(&environ, __ATOMIC_ACQUIRE);
        const struct env_array *fixed;
        if (fixed_already(env ? env : (char **)empty_env, self, kills)) {
            if (env && env == pub.env) { /* another call's, still in place */
                __atomic_add_fetch(&inflight, 1, __ATOMIC_RELAXED);
                *counted = 1;
            }
            break;
        }
        if (!(fixed = array_for(env ? env : empty_env, self, kills))) {
            err = EC_ENOMEM;
            break;
        }
        /* another thread's setenv may have replaced environ meanwhile: then fix that one */
        if (__atomic_compare_exchange_n(&environ, &env, fixed->env, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            if (pub.env && env == pub.env) {
                keep |= changed_in_place(&pub); /* the program's change to ours must not be undone */
            } else {
                replaced = env;
                keep = 0;
            }
            pub = *fixed;
            __atomic_add_fetch(&inflight, 1, __ATOMIC_RELAXED);
            *counted = 1;
            break;
        }
    }
    unlock_env();
    return err;
}

/* The call is over: the last one in flight puts the program's array back, if ours is still there
 * as it was published. A program thread that changed it in place meanwhile (setenv of a variable
 * it holds, unsetenv) would lose that change: then ours stays in environ, for good. */
static void unfix_environ(int counted)
{
    if (!counted || __atomic_sub_fetch(&inflight, 1, __ATOMIC_ACQ_REL) != 0) return;
    if (!lock_env()) return; /* ours stays until another call ends */
    if (!__atomic_load_n(&inflight, __ATOMIC_ACQUIRE) && pub.env) {
        char **ours = pub.env;
        if (!keep && !changed_in_place(&pub))
            __atomic_compare_exchange_n(&environ, &ours, replaced, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
        pub.env = replaced = 0;
        keep = 0;
    }
    unlock_env();
}

EC_EXPORT int system(const char *command)
{
    int err, counted, r;
    resolve_if_early();
    if (!real_system) return fail(EC_ENOSYS);
    if ((err = fix_environ(&counted))) return fail(err);
    r = real_system(command);
    unfix_environ(counted);
    return r;
}

static void *popen_common(const char *command, const char *mode)
{
    int err, counted;
    void *r;
    resolve_if_early();
    if (!real_popen) {
        fail(EC_ENOSYS);
        return 0;
    }
    if ((err = fix_environ(&counted))) {
        fail(err);
        return 0;
    }
    r = real_popen(command, mode);
    unfix_environ(counted);
    return r;
}

EC_EXPORT void *popen(const char *command, const char *mode) { return popen_common(command, mode); }
EC_EXPORT void *_IO_popen(const char *command, const char *mode) { return popen_common(command, mode); }

#define WRDE_NOCMD 4
#define WRDE_NOSPACE 1
#define WRDE_CMDSUB 4

static int may_substitute(const char *w)
{
    for (; *w; w++)
        if (*w == '`' || (w[0] == '$' && w[1] == '(')) return 1;
    return 0;
}

EC_EXPORT int wordexp(const char *words, void *result, int flags)
{
    resolve_if_early();
    if (!real_wordexp) return WRDE_NOSPACE;
    /* a shell starts only for a command substitution */
    if (!(flags & WRDE_NOCMD) && words && may_substitute(words)) {
        int counted, r, err = fix_environ(&counted);
        if (err) return err == EC_ENOMEM ? WRDE_NOSPACE : WRDE_CMDSUB;
        r = real_wordexp(words, result, flags);
        unfix_environ(counted);
        return r;
    }
    return real_wordexp(words, result, flags);
}

/* ---- start ---- */

/* Is entry (n bytes) this file named through ld.so's $LIB (or ${LIB}), the token the 64- and
 * 32-bit loaders expand to their own library directories? Then children get the entry as it is,
 * so that each loads the shim of its own class (DIR/$LIB/libexeccheck.so). Only where the token
 * stands for this process's $LIB (struct lib_search), so that a child of this class finds this
 * very file: an entry that would send it elsewhere is not taken for ours. */
static int names_self_through_lib(const char *e, size_t n, const char *lib, size_t lib_len)
{
    size_t i, j, tok, suffix;
    for (i = 0; i < n && e[i] != '$'; i++) continue;
    if (i == n) return 0;
    if (n - i >= 6 && !ec_memcmp(e + i, "${LIB}", 6)) tok = 6;
    else if (n - i >= 4 && !ec_memcmp(e + i, "$LIB", 4) && (n - i == 4 || e[i + 4] == '/')) tok = 4;
    else return 0;
    suffix = n - i - tok;
    for (j = i + tok; j < n; j++)
        if (e[j] == '$') return 0; /* one token, no other */
    return lib_len && self_file_len == i + lib_len + suffix && !ec_memcmp(self_file, e, i) &&
           !ec_memcmp(self_file + i, lib, lib_len) && !ec_memcmp(self_file + i + lib_len, e + i + tok, suffix);
}

/* This process's $LIB, for each entry with a '$': ld.so's own (its directory list, read from its
 * memory) is the truth, but reading it costs a process start ~6 us. libc's directory is where
 * $LIB points wherever ld.so found libc by its own name (Debian's and Fedora's layouts alike), so
 * it is tried first, and the list is read only for an entry libc's directory does not make ours
 * (libc found through LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu; Arch's /usr/lib for $LIB lib). */
struct lib_search {
    char lib[2][256]; /* libc's directory, then the loader's $LIB, each looked up when first needed */
    size_t lib_len[2];
    int known;        /* how many of them were looked up */
    int named;        /* an entry names this file by its own path */
};

static int names_self_through_either(const char *e, size_t n, struct lib_search *ls)
{
    int k;
    for (k = 0; k < 2; k++) {
        if (ls->known == k) {
            ls->lib_len[k] = k ? ec_loaded_loader_lib(ls->lib[1], sizeof ls->lib[1])
                               : ec_loaded_libc_dir(ls->lib[0], sizeof ls->lib[0]);
            ls->known = k + 1;
        }
        if (names_self_through_lib(e, n, ls->lib[k], ls->lib_len[k])) return 1;
    }
    return 0;
}

/* The entry of list that names this file through $LIB, copied to out; 0 if none. */
static size_t lib_entry_in(const char *list, const char *seps, struct lib_search *ls, char *out, size_t cap)
{
    while (*list) {
        size_t n, i;
        const char *start = next_entry(&list, seps, &n);
        if (names_self_file(start, n)) ls->named = 1;
        for (i = 0; i < n && start[i] != '$'; i++) continue;
        if (i == n || n >= cap) continue;
        if (names_self_through_either(start, n, ls)) {
            ec_memcpy(out, start, n);
            out[n] = 0;
            return n;
        }
    }
    return 0;
}

/* The $LIB entry that names this file: in LD_AUDIT or LD_PRELOAD of env, else, when neither names
 * this file at all (ld.so took it from there: a process whose parent was not shimmed), in
 * /etc/ld.so.preload, read as ld.so reads it (ec_ld_preload_names: separators, comments, NUL
 * bytes); its first 4 KiB. No system call where the environment names
 * the shim by its path, as `LD_PRELOAD=$(execcheck lib)` and the children of a shimmed process do.
 * file: PRELOAD_FILE_READ + 1 bytes of scratch, not on the stack (the constructor's depth is the
 * program's, under its `ulimit -s`). */
static size_t self_through_lib(char *const *env, char *out, size_t cap, char *file)
{
    struct lib_search ls;
    size_t i, t = 0;
    long got;
    int fd;
    ls.known = ls.named = 0;
    for (i = 0; env && env[i] && !t; i++) {
        if (has_prefix(env[i], "LD_AUDIT=")) t = lib_entry_in(env[i] + 9, ":", &ls, out, cap);
        else if (has_prefix(env[i], "LD_PRELOAD=")) t = lib_entry_in(env[i] + 11, PRELOAD_SEPS, &ls, out, cap);
    }
    if (t || ls.named) return t;
    if ((fd = ec_openat(EC_AT_FDCWD, "/etc/ld.so.preload", EC_O_RDONLY | EC_O_CLOEXEC | EC_O_NONBLOCK, 0)) < 0) return 0;
    got = ec_read(fd, file, PRELOAD_FILE_READ);
    ec_close(fd);
    if (got <= 0) return 0;
    ec_ld_preload_names(file, (size_t)got); /* the names, NUL-separated: made one list */
    for (i = 0; i < (size_t)got; i++)
        if (!file[i]) file[i] = ' ';
    file[got] = 0;
    return lib_entry_in(file, " ", &ls, out, cap);
}

/* Our own absolute path, from the link map glibc keeps: the name the loader used, made absolute
 * against the start-up cwd (which is what a relative LD_PRELOAD entry was resolved in), or left
 * relative where that cwd has no absolute name (self_from_cwd); and what children are given, that
 * path or the $LIB entry of env that names it. */
static int find_self_path(char *const *env)
{
    const char *name = ec_loaded_name_of((const void *)find_self_path);
    char *mem;
    size_t n, t;
    if (!name || !name[0]) return -1;
    n = ec_strlen(name);
    if (n >= SELF_MAX || !(mem = ec_map_once(&self_mem, 2 * SELF_MAX + PRELOAD_FILE_READ + 1))) return -1;
    self_name = name;
    self_name_len = n;
    if (name[0] == '/') {
        self_file = name; /* ld.so's l_name: it lives as long as this object, which is never unloaded */
    } else {
        long c = ec_sys2(EC_NR_getcwd, mem, SELF_MAX);
        size_t cl;
        if (c >= 0 && mem[0] == '/') {
            cl = ec_strlen(mem);
            if (cl + 1 + n >= SELF_MAX) return -1;
            mem[cl] = '/';
            ec_memcpy(mem + cl + 1, name, n + 1);
            self_file = mem;
        } else if (c >= 0) {
            /* "(unreachable)/...": the cwd is outside this process's root, and so is the file ld.so
             * found from it. No absolute name reaches it; the relative one does, from that cwd, for
             * this process and for children that start there (shim_state checks the cwd) */
            struct ec_statx st;
            if (ec_statx(EC_AT_FDCWD, ".", 0, EC_STATX_BASIC_STATS, &st) < 0) return -1;
            self_cwd_dev = ec_makedev(st.stx_dev_major, st.stx_dev_minor);
            self_cwd_ino = st.stx_ino;
            self_from_cwd = 1;
            self_file = name;
        } else {
            return -1;
        }
    }
    self_file_len = ec_strlen(self_file);
    t = self_through_lib(env, mem + SELF_MAX, SELF_MAX, mem + 2 * SELF_MAX);
    self_path = t ? mem + SELF_MAX : self_file;
    /* a path with a separator in it cannot be put in LD_AUDIT/LD_PRELOAD unambiguously */
    if (ec_strchr(self_path, ':') || ec_strchr(self_path, ' ') || ec_strchr(self_path, '\t')) return -1;
    self_len = ec_strlen(self_path);
    return 0;
}

const char *ec_propagate_self_path(void) { return self_len ? self_path : 0; }

/* the next definitions, read from the link maps rather than asked of dlsym(): before glibc 2.34
 * dlsym is in libdl, which most programs do not load, and execveat is not there at all */
void ec_propagate_resolve(void)
{
    static const char *const names[] = {"execve",  "execveat", "fexecve",     "execvpe",
                                        "posix_spawn", "posix_spawnp", "system", "popen",
                                        "wordexp", "pidfd_spawn", "pidfd_spawnp"};
    void *f[11];
    ec_loaded_next_many(names, f, 11); /* one walk: a program's libraries often come before libc */
    real_execve = (execve_fn)f[0];
    real_execveat = (execveat_fn)f[1];
    real_fexecve = (fexecve_fn)f[2];
    real_execvpe = (execvpe_fn)f[3];
    real_posix_spawn = (spawn_fn)f[4];
    real_posix_spawnp = (spawn_fn)f[5];
    real_system = (system_fn)f[6];
    real_popen = (popen_fn)f[7];
    real_wordexp = (wordexp_fn)f[8];
    real_pidfd_spawn = (spawn_fn)f[9];
    real_pidfd_spawnp = (spawn_fn)f[10];
    __atomic_store_n(&resolved, 1, __ATOMIC_RELEASE);
}

void ec_propagate_start(void)
{
    struct fixed_env f;
    if (find_self_path(&environ ? environ : 0) < 0) return;
    if (!&environ || !environ) return;
    /* environ lives for the whole process: always in a mapping of its own, never on our stack */
    {
        size_t n, need = fixed_size(environ, &n);
        if (!(f.map = map_pages(need, &f.maplen))) return;
        /* kills 0: a filter seen at start is inherited, and any word about it came in environ */
        environ = fix_into(environ, n, f.map, 1, 0);
    }
}

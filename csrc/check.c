/* The check (see check.h). */
#include "check.h"
#include "reason.h"
#include "sys.h"
#include "text.h"

static void identity_from_statx(const struct ec_statx *st, struct ec_verdict *v)
{
    v->mode = st->stx_mode;
    v->uid = st->stx_uid;
    v->dev = ec_makedev(st->stx_dev_major, st->stx_dev_minor);
    v->ino = st->stx_ino;
    v->ctime_sec = st->stx_ctime.tv_sec;
    v->ctime_nsec = st->stx_ctime.tv_nsec;
}

int ec_identify_fd(int fd, struct ec_verdict *v)
{
    struct ec_statx st;
    int r = ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st);
    if (r < 0) return r;
    identity_from_statx(&st, v);
    return 0;
}

/* Out of line: its 1 KiB of groups is asked for rarely (mode_allows_exec), and would otherwise
 * deepen the stack of every explained refusal, met deep in the loader (la_objsearch). */
static __attribute__((noinline)) int in_groups(uint32_t gid)
{
    uint32_t groups[256];
    long n, i;
    if ((uint32_t)ec_getegid() == gid) return 1;
    n = ec_sys2(EC_NR_getgroups, 256, groups);
    for (i = 0; i < n; i++)
        if (groups[i] == gid) return 1;
    return 0;
}

/* Would the mode bits alone let this process execute the file? Root needs any x bit
 * (CAP_DAC_OVERRIDE); others need the bit of their class. ACLs are not read: a denial they
 * cause is reported as "lsm" (documented limit). */
static int mode_allows_exec(const struct ec_verdict *v, int fd)
{
    uint32_t uid = (uint32_t)ec_geteuid();
    struct ec_statx st;
    if (uid == 0) return (v->mode & 0111) != 0;
    if (v->uid == uid) return (v->mode & 0100) != 0;
    /* the group's bit decides only where it differs from the others' (not in 0644, 0755) */
    if (!(v->mode & 0010) == !(v->mode & 0001)) return (v->mode & 0001) != 0;
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) == 0 && in_groups(st.stx_gid))
        return (v->mode & 0010) != 0;
    return (v->mode & 0001) != 0;
}

int ec_explain(int fd, int err, struct ec_verdict *v)
{
    struct ec_statfs fs;
    switch (err) {
    case 0:
        return EC_REASON_NONE;
    case EC_ETXTBSY:
        return EC_REASON_BUSY;
    case EC_EINVAL:
    case EC_ENOSYS:
        return EC_REASON_UNSUPPORTED;
    case EC_ELOOP:
        return EC_REASON_NOT_REGULAR; /* a symlink checked without following it */
    case EC_EACCES:
    case EC_EPERM:
        if (!v->mode) return EC_REASON_LSM;
        if ((v->mode & EC_S_IFMT) != EC_S_IFREG) return EC_REASON_NOT_REGULAR;
        if (ec_fstatfs(fd, &fs) == 0 && (fs.f_flags & EC_ST_NOEXEC)) return EC_REASON_NOEXEC;
        if (!mode_allows_exec(v, fd)) return EC_REASON_XBIT;
        return EC_REASON_LSM;
    default:
        return EC_REASON_ERROR;
    }
}

/* ---- the exec check in a process with threads ----
 * An exec attempt, AT_EXECVE_CHECK included, marks the process's fs_struct "in exec"
 * (check_unsafe_exec() sets fs->in_exec when no other process shares it) until it returns, and
 * meanwhile the kernel refuses every CLONE_FS clone with EAGAIN (copy_fs()): a pthread_create() in
 * another thread fails. Measured here: a thread checking in a loop makes ~47% of the main thread's
 * pthread_create() calls fail; programs that do not expect that crash (8 threads checking a file 100
 * times each, joining threads that were never made: 20 crashes in 20 runs). A check from inside the
 * shim must not change what the host program sees, so in a process with other threads it is made
 * from a child that shares our memory but not our fs_struct (CLONE_VM | CLONE_VFORK, no CLONE_FS):
 * the child's own copy is the one marked. That costs ~95 us instead of ~16 us, so only a process
 * that has other threads pays it: /proc/self/task has 2 + threads links, and a process with one
 * thread cannot grow another while that thread is here. The child runs no C code (it shares our
 * stack): execveat, then _exit with the errno; every signal is blocked around it, and it signals no
 * one when it ends (exit signal 0, reaped with __WALL), so a program's own SIGCHLD handling never
 * sees it. Where clone is not allowed (seccomp), the check is made directly. The child first sets its
 * own RLIMIT_CORE to 0: if a seccomp filter kills it for the execveat (below), no core is dumped. */
#define EC_CLONE_VM 0x100
#define EC_CLONE_VFORK 0x4000
#define EC_WALL 0x40000000
#define EC_EXEC_CHECK_FLAGS (EC_AT_EMPTY_PATH | EC_AT_EXECVE_CHECK)

static int known_single_threaded;

/* qemu-user emulates clone(CLONE_VM) only as a new thread, with CLONE_FS: it answers the check
 * child's clone with EINVAL. A fork has an fs_struct of its own too (dearer: a copy of the address
 * space), but qemu takes only SIGCHLD as its exit signal: the program may see one SIGCHLD more than
 * it has children ending (signals coalesce: handlers reap in a loop), and where the kernel reaps
 * children itself (SIGCHLD ignored, SA_NOCLDWAIT) the child's status would never reach us: there
 * the check is made in place, as where no clone is allowed. */
#define EC_SIGCHLD 17
#define EC_SIG_IGN 1ul
#define EC_SA_NOCLDWAIT 2ul
static int vfork_refused; /* clone(CLONE_VM|CLONE_VFORK) answered EINVAL: the check child is a fork */

static int fork_reaches_us(void)
{
    unsigned long act[8] = {0}; /* the kernel's struct sigaction: handler, flags, ... */
    if (ec_sys4(EC_NR_rt_sigaction, EC_SIGCHLD, 0, act, 8) < 0) return 0;
    return act[0] != EC_SIG_IGN && !(act[1] & EC_SA_NOCLDWAIT);
}

void ec_check_single_threaded(int known) { __atomic_store_n(&known_single_threaded, known, __ATOMIC_RELEASE); }

/* glibc's own answer (2.32+): 1 until the process first creates a thread, cleared by
 * pthread_create before the new thread exists, never set again. A weak reference: where there is
 * no libc (the audit namespace) its address is NULL and /proc is asked instead. */
extern char __libc_single_threaded __attribute__((weak));

static int single_threaded(void)
{
    struct ec_statx st;
    if (__atomic_load_n(&known_single_threaded, __ATOMIC_ACQUIRE)) return 1;
    if (&__libc_single_threaded && __atomic_load_n(&__libc_single_threaded, __ATOMIC_ACQUIRE)) return 1;
    return ec_statx(EC_AT_FDCWD, "/proc/self/task", 0, EC_STATX_BASIC_STATS, &st) == 0 && st.stx_nlink == 3;
}

static const struct {
    uint64_t cur, max; /* struct rlimit64 */
} no_core = {0, 0};

#if defined(__i386__)
/* i386 has too few registers to keep the child's arguments in registers across clone: they stay
 * in this block, which the child reads through ebp (its memory is ours, frozen meanwhile). */
struct spawn_args {
    long fd;
    const char *path;
    char *const *argv, *const *envp;
    long flags;
    const void *no_core;
    long clone_flags;
};
_Static_assert(sizeof(struct spawn_args) == 28, "the i386 spawn stub reads these offsets");
long ec_i386_spawn_check(const struct spawn_args *a) __attribute__((visibility("hidden")));
__asm__(".text\n"
        ".globl ec_i386_spawn_check\n"
        ".hidden ec_i386_spawn_check\n"
        ".type ec_i386_spawn_check, @function\n"
        "ec_i386_spawn_check:\n\t"
        "push %ebp\n\t"
        "push %edi\n\t"
        "push %esi\n\t"
        "push %ebx\n\t"
        "mov 20(%esp), %ebp\n\t"
        "mov 24(%ebp), %ebx\n\t" /* clone(clone_flags, stack 0: ours, frozen meanwhile, or a copy) */
        "xor %ecx, %ecx\n\t"
        "xor %edx, %edx\n\t"
        "xor %esi, %esi\n\t"
        "xor %edi, %edi\n\t"
        "mov $120, %eax\n\t"
        "int $0x80\n\t"
        "test %eax, %eax\n\t"
        "jnz 1f\n\t"
        "xor %ebx, %ebx\n\t" /* the child: prlimit64(0, RLIMIT_CORE, &no_core, 0) */
        "mov $4, %ecx\n\t"
        "mov 20(%ebp), %edx\n\t"
        "xor %esi, %esi\n\t"
        "mov $340, %eax\n\t"
        "int $0x80\n\t"
        "mov 0(%ebp), %ebx\n\t" /* then execveat(fd, "", argv, envp, flags) */
        "mov 4(%ebp), %ecx\n\t"
        "mov 8(%ebp), %edx\n\t"
        "mov 12(%ebp), %esi\n\t"
        "mov 16(%ebp), %edi\n\t"
        "mov $358, %eax\n\t"
        "int $0x80\n\t"
        "mov %eax, %ebx\n\t"
        "neg %ebx\n\t" /* _exit(errno) */
        "mov $1, %eax\n\t"
        "int $0x80\n\t"
        "ud2\n"
        "1:\n\t"
        "pop %ebx\n\t"
        "pop %esi\n\t"
        "pop %edi\n\t"
        "pop %ebp\n\t"
        "ret\n"
        ".size ec_i386_spawn_check, .-ec_i386_spawn_check\n");
#endif

/* Returns the child's pid (> 0) in the parent, or -errno when it could not be made. clone_flags:
 * CLONE_VM|CLONE_VFORK (our memory, we wait frozen), or SIGCHLD (a fork: a copy of it). */
static long spawn_check(int fd, char *const argv[], char *const envp[], long clone_flags)
{
#if defined(__x86_64__)
    register long r10 __asm__("r10") = 0;
    register long r8 __asm__("r8") = 0;
    register long r9 __asm__("r9") = (long)&no_core;
    register long r12 __asm__("r12") = fd;
    register long r13 __asm__("r13") = (long)"";
    register long r14 __asm__("r14") = (long)argv;
    register long r15 __asm__("r15") = (long)envp;
    register long rbx __asm__("rbx") = EC_EXEC_CHECK_FLAGS;
    long ret = EC_NR_fork_clone;
    __asm__ __volatile__("syscall\n\t" /* clone(CLONE_VM|CLONE_VFORK, stack 0: ours, frozen meanwhile) */
                         "test %%rax, %%rax\n\t"
                         "jnz 1f\n\t"
                         "xor %%edi, %%edi\n\t" /* the child: prlimit64(0, RLIMIT_CORE, &no_core, 0) */
                         "mov $4, %%esi\n\t"
                         "mov %%r9, %%rdx\n\t"
                         "xor %%r10d, %%r10d\n\t"
                         "mov $302, %%eax\n\t"
                         "syscall\n\t"
                         "mov %%r12, %%rdi\n\t" /* then execveat(fd, "", argv, envp, flags) */
                         "mov %%r13, %%rsi\n\t"
                         "mov %%r14, %%rdx\n\t"
                         "mov %%r15, %%r10\n\t"
                         "mov %%rbx, %%r8\n\t"
                         "mov $322, %%eax\n\t"
                         "syscall\n\t"
                         "mov %%eax, %%edi\n\t"
                         "neg %%edi\n\t" /* _exit(errno) */
                         "mov $60, %%eax\n\t"
                         "syscall\n\t"
                         "ud2\n"
                         "1:\n\t"
                         : "+a"(ret), "+r"(r10), "+r"(r8)
                         : "D"(clone_flags), "S"(0), "d"(0), "r"(r9), "r"(r12), "r"(r13), "r"(r14),
                           "r"(r15), "r"(rbx)
                         : "rcx", "r11", "memory");
    return ret;
#elif defined(__aarch64__)
    register long x0 __asm__("x0") = clone_flags;
    register long x1 __asm__("x1") = 0;
    register long x2 __asm__("x2") = 0;
    register long x3 __asm__("x3") = 0;
    register long x4 __asm__("x4") = 0;
    register long x8 __asm__("x8") = EC_NR_fork_clone;
    register long x19 __asm__("x19") = fd;
    register long x20 __asm__("x20") = (long)"";
    register long x21 __asm__("x21") = (long)argv;
    register long x22 __asm__("x22") = (long)envp;
    register long x23 __asm__("x23") = EC_EXEC_CHECK_FLAGS;
    register long x24 __asm__("x24") = (long)&no_core;
    __asm__ __volatile__("svc 0\n\t"
                         "cbnz x0, 1f\n\t"
                         "mov x0, #0\n\t" /* the child: prlimit64(0, RLIMIT_CORE, &no_core, 0) */
                         "mov x1, #4\n\t"
                         "mov x2, x24\n\t"
                         "mov x3, #0\n\t"
                         "mov x8, #261\n\t"
                         "svc 0\n\t"
                         "mov x0, x19\n\t"
                         "mov x1, x20\n\t"
                         "mov x2, x21\n\t"
                         "mov x3, x22\n\t"
                         "mov x4, x23\n\t"
                         "mov x8, #281\n\t"
                         "svc 0\n\t"
                         "neg x0, x0\n\t"
                         "mov x8, #93\n\t"
                         "svc 0\n\t"
                         "brk #0\n"
                         "1:\n\t"
                         : "+r"(x0), "+r"(x1), "+r"(x2), "+r"(x3), "+r"(x4), "+r"(x8)
                         : "r"(x19), "r"(x20), "r"(x21), "r"(x22), "r"(x23), "r"(x24)
                         : "memory");
    return x0;
#elif defined(__i386__)
    struct spawn_args a = {fd, "", argv, envp, EC_EXEC_CHECK_FLAGS, &no_core, clone_flags};
    return ec_i386_spawn_check(&a);
#endif
}

/* ---- under seccomp ----
 * A seccomp filter may kill a process for execveat (a sandbox that forbids exec: SIGSYS, or a trap
 * to its own handler), and the check is an execveat: made from inside the shim, it would kill its
 * host. Finding out costs a child (~70 us here), which every process of a container would pay if
 * it were asked of every filter. So:
 *   - a filter the process started with (the shim's constructor takes the first look: a container
 *     runtime's, a systemd unit's, a parent's) is trusted to let execveat through, as container
 *     runtimes' default profiles and systemd's @system-service do; checks are made directly (a
 *     filter that kills for it kills the program: README; `execcheck status` tells);
 *   - a filter the program installs while it runs (browsers' and daemons' own sandboxes, installed
 *     after start-up) is found by asking the filter mode before each check once program code may
 *     run, and the first check after it is made from a child. If the child dies of it, no check can
 *     be made in this process any more (a filter is never removed): every later check answers
 *     ENOSYS at once (reason "unsupported": enforcing refuses, audit mode records). If it came back,
 *     checks go on directly.
 * A program that starts another after installing such a filter tells it so (EC_SECCOMP_ENV_KILLS,
 * propagate.c): an inherited filter is trusted only when no such word came with it; the word can
 * only make checks answer "unsupported", never let one through.
 * A filter added to a process that already had one is not seen. */
enum { SC_UNKNOWN, SC_NONE, SC_INHERITED, SC_FILTER_UNPROBED, SC_FILTER_CHECKS, SC_FILTER_KILLS, SC_FILTER_REFUSES };
static int sc_state;

static int seccomp_state(void)
{
    int s = __atomic_load_n(&sc_state, __ATOMIC_ACQUIRE), next;
    if (s >= SC_INHERITED) return s; /* a filter is never removed */
    if (s == SC_NONE && __atomic_load_n(&known_single_threaded, __ATOMIC_ACQUIRE)) return s; /* no code ran since */
    if (ec_prctl(EC_PR_GET_SECCOMP, 0) != 2) next = SC_NONE;
    else next = s == SC_UNKNOWN ? SC_INHERITED : SC_FILTER_UNPROBED; /* the first look is the start's */
    if (next != s && !__atomic_compare_exchange_n(&sc_state, &s, next, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
        return s; /* another thread looked first */
    return next;
}

static void seccomp_probed(int from, int to)
{
    __atomic_compare_exchange_n(&sc_state, &from, to, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static int check_only(int fd, const char *name);

/* r: what execveat answered for fd -1 under a filter that did not kill. The kernel says EBADF
 * (EINVAL before 6.14); anything else (an errno, even a success) is the filter's own answer, which
 * it gives for every file: no check can be made (as under a filter that kills, every check then
 * answers ENOSYS). */
static int filter_refuses(int r)
{
    if (r == -EC_EBADF || r == -EC_EINVAL || seccomp_state() != SC_FILTER_CHECKS) return 0;
    seccomp_probed(SC_FILTER_CHECKS, SC_FILTER_REFUSES);
    return 1;
}

void ec_check_seccomp_start(char *const *envp)
{
    const char *word;
    if (seccomp_state() == SC_INHERITED && (word = ec_env_get(envp, EC_SECCOMP_ENV_NAME)) &&
        !ec_strcmp(word, EC_SECCOMP_ENV_KILLS_VALUE))
        seccomp_probed(SC_INHERITED, SC_FILTER_KILLS);
}

int ec_check_seccomp(int probe)
{
    int s = seccomp_state();
    if ((probe == EC_SECCOMP_PROBE_ALL && s == SC_INHERITED) || (probe && s == SC_FILTER_UNPROBED)) {
        seccomp_probed(s, SC_FILTER_UNPROBED);
        filter_refuses(check_only(-1, 0)); /* from a child: EBADF if it comes back */
        s = seccomp_state();
    }
    switch (s) {
    case SC_INHERITED: return EC_SECCOMP_INHERITED;
    case SC_FILTER_CHECKS: return EC_SECCOMP_CHECKS;
    case SC_FILTER_KILLS: return EC_SECCOMP_KILLS;
    case SC_FILTER_REFUSES: return EC_SECCOMP_REFUSES;
    case SC_FILTER_UNPROBED: return EC_SECCOMP_UNPROBED;
    default: return EC_SECCOMP_NONE;
    }
}

static int exec_check(int fd, char *const argv[], char *const envp[])
{
    uint64_t all = ~0ull, old = 0;
    long pid, w = 0;
    int status = 0, sc = seccomp_state(), r, forks;
    if (sc == SC_FILTER_KILLS || sc == SC_FILTER_REFUSES) return -EC_ENOSYS;
    if ((sc != SC_FILTER_UNPROBED && single_threaded()) ||
        ec_sys4(EC_NR_rt_sigprocmask, EC_SIG_BLOCK, &all, &old, 8) < 0)
        return ec_execveat(fd, "", argv, envp, EC_EXEC_CHECK_FLAGS);
    /* read once (it only goes from 0 to 1): read twice, it left pid unset on a path gcc saw */
    forks = __atomic_load_n(&vfork_refused, __ATOMIC_RELAXED);
    if (!forks) {
        pid = spawn_check(fd, argv, envp, EC_CLONE_VM | EC_CLONE_VFORK);
        if (pid == -EC_EINVAL) __atomic_store_n(&vfork_refused, forks = 1, __ATOMIC_RELAXED);
    }
    if (forks) pid = fork_reaches_us() ? spawn_check(fd, argv, envp, EC_SIGCHLD) : -EC_EINVAL;
    if (pid > 0)
        do w = ec_sys4(EC_NR_wait4, pid, &status, EC_WALL, 0);
        while (w == -EC_EINTR);
    ec_sys4(EC_NR_rt_sigprocmask, EC_SIG_SETMASK, &old, 0, 8);
    if (pid < 0) {
        /* no clone here (seccomp): a filter that refuses it may kill for execveat too, so a
         * filter not probed yet counts as one that does */
        if (sc == SC_FILTER_UNPROBED) {
            seccomp_probed(sc, SC_FILTER_KILLS);
            return -EC_ENOSYS;
        }
        return ec_execveat(fd, "", argv, envp, EC_EXEC_CHECK_FLAGS);
    }
    if (w != pid) return -EC_EIO;                                              /* the child did not say */
    if (status & 0x7f) {
        if (sc < SC_INHERITED) return -EC_EIO;
        seccomp_probed(sc, SC_FILTER_KILLS); /* killed for the execveat: no check can be made here */
        return -EC_ENOSYS;
    }
    r = -((status >> 8) & 0xff);
    if (sc == SC_FILTER_UNPROBED) {
        seccomp_probed(sc, SC_FILTER_CHECKS);
        /* refused: by policy for this file, or by the filter for any? fd -1 tells, made here now
         * that the filter is known not to kill */
        if (r && fd != -1 && filter_refuses(ec_execveat(-1, "", argv, envp, EC_EXEC_CHECK_FLAGS))) return -EC_ENOSYS;
    }
    return r;
}

/* ---- under Valgrind ----
 * Valgrind (3.19) emulates execveat itself and does not know AT_EXECVE_CHECK: it replaces the
 * process with the file for real (a library: SIGSEGV at once). It answers "am I running you?"
 * through its client-request sequence - rotations of a register that add up to a no-op and a
 * marker instruction, which a real CPU executes as nothing, leaving the default answer 0. There
 * the check is not made: reason "unsupported", as on a kernel without AT_EXECVE_CHECK. */
#define EC_VG_RUNNING_ON_VALGRIND 0x1001ul

static unsigned long valgrind_request(unsigned long request)
{
    unsigned long args[6] = {request, 0, 0, 0, 0, 0}, result = 0;
#if defined(__x86_64__)
    __asm__ __volatile__("rolq $3, %%rdi\n\trolq $13, %%rdi\n\trolq $61, %%rdi\n\trolq $51, %%rdi\n\t"
                         "xchgq %%rbx, %%rbx"
                         : "+d"(result)
                         : "a"(&args[0])
                         : "cc", "memory");
#elif defined(__aarch64__)
    __asm__ __volatile__("mov x3, %1\n\tmov x4, %2\n\t"
                         "ror x12, x12, #3\n\tror x12, x12, #13\n\tror x12, x12, #51\n\tror x12, x12, #61\n\t"
                         "orr x10, x10, x10\n\tmov %0, x3"
                         : "=r"(result)
                         : "r"(result), "r"(&args[0])
                         : "cc", "memory", "x3", "x4");
#elif defined(__i386__)
    __asm__ __volatile__("roll $3, %%edi\n\troll $13, %%edi\n\troll $29, %%edi\n\troll $19, %%edi\n\t"
                         "xchgl %%ebx, %%ebx"
                         : "+d"(result)
                         : "a"(&args[0])
                         : "cc", "memory");
#endif
    return result;
}

static int under_valgrind(void)
{
    static int known; /* 0 not asked, 1 no, 2 yes */
    int k = __atomic_load_n(&known, __ATOMIC_RELAXED);
    if (!k) {
        k = valgrind_request(EC_VG_RUNNING_ON_VALGRIND) ? 2 : 1;
        __atomic_store_n(&known, k, __ATOMIC_RELAXED);
    }
    return k == 2;
}

/* The check itself: 0 allowed, or -errno. */
static int check_only(int fd, const char *name)
{
    char *argv[2], *envp[1];
    const char *base = name ? ec_strrchr(name, '/') : 0;
    argv[0] = (char *)(base ? base + 1 : name ? name : "execcheck");
    argv[1] = 0;
    envp[0] = 0;
    return under_valgrind() ? -EC_ENOSYS : exec_check(fd, argv, envp);
}

int ec_check_raw(int fd) { return check_only(fd, 0); }

/* The verdict of check_only's answer r; v's identity fields are what ec_explain reads. */
static int verdict_of(int fd, int r, struct ec_verdict *v)
{
    if (r == 0) {
        v->allowed = 1;
        return 1;
    }
    v->err = -r;
    v->reason = ec_explain(fd, v->err, v);
    return 0;
}

static int check_identified(int fd, const char *name, struct ec_verdict *v)
{
    return verdict_of(fd, check_only(fd, name), v);
}

int ec_check_fd_quick(int fd, const char *name, struct ec_verdict *v)
{
    int r;
    ec_memset(v, 0, sizeof *v);
    r = check_only(fd, name);
    if (r) ec_identify_fd(fd, v); /* a refusal is explained and recorded with the file's identity */
    return verdict_of(fd, r, v);
}

int ec_check_fd(int fd, const char *name, struct ec_verdict *v)
{
    ec_memset(v, 0, sizeof *v);
    ec_identify_fd(fd, v);
    return check_identified(fd, name, v);
}

int ec_check_fd_stat(int fd, const char *name, const struct ec_statx *st, struct ec_verdict *v)
{
    ec_memset(v, 0, sizeof *v);
    identity_from_statx(st, v);
    return check_identified(fd, name, v);
}

int ec_check_path(int dirfd, const char *path, int flags, struct ec_verdict *v)
{
    int oflags = EC_O_PATH | EC_O_CLOEXEC | ((flags & EC_CHECK_NOFOLLOW) ? EC_O_NOFOLLOW : 0);
    int fd = ec_openat(dirfd, path, oflags, 0), r;
    if (fd < 0) {
        ec_memset(v, 0, sizeof *v);
        v->err = -fd;
        v->reason = EC_REASON_ERROR;
        return fd;
    }
    r = ec_check_fd(fd, path, v);
    ec_close(fd);
    return r;
}

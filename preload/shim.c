/* libexeccheck.so: start-up and the decision shared by every face (see shim.h).
 *
 * Built without libc (-nostdlib) so that the same file can be an rtld-audit module without
 * mapping a second libc. Where a face needs libc (preload, CPython), it reaches it through weak
 * references that are NULL in the audit namespace. */
#include "shim.h"
#include "check.h"
#include "auxv.h"
#include "securebits.h"
#include "sys.h"
#include "text.h"

/* In .ec_zeroed: the first input of the shim's zeroed data section (no_bss.ld), which makes it
 * part of the file. */
struct ec_shim ec_shim __attribute__((section(".ec_zeroed")));
volatile uint64_t ec_audit_mark __attribute__((aligned(8))) = EC_AUDIT_MARK_UNSET;

/* Lets `execcheck status` and the tests identify a file as this shim, and its version. */
EC_EXPORT const char execcheck_shim_version[] = EXECCHECK_VERSION;

/* Resolves to libc's dl_iterate_phdr in the main namespace; stays NULL in the audit namespace,
 * where only this library and ld.so exist. (Not dlsym: before glibc 2.34 that is in libdl, which
 * most programs do not load; dl_iterate_phdr has been in libc since 2.2.4.) */
struct dl_phdr_info;
extern int dl_iterate_phdr(int (*)(struct dl_phdr_info *, size_t, void *), void *) __attribute__((weak));
/* glibc's own, in every glibc: tells it from another libc beside us (musl) */
extern const char *gnu_get_libc_version(void) __attribute__((weak));
/* libc's environment (NULL in the audit namespace): glibc runs the constructors of a program's
 * libraries before ours, and one that loads a library or starts a program needs the policy before
 * our constructor has stored envp. libc has set environ by then. */
extern char **environ __attribute__((weak));


/* AT_SECURE from the auxiliary vector; unreadable counts as secure (distrust the environment). */
static int read_at_secure(void)
{
    unsigned long v = 1;
    return ec_auxv_get(EC_AT_SECURE, &v) == 1 ? v != 0 : 1;
}

/* The policy in force once one is resolved (published whole, never written after). */
static const struct ec_policy *policy_now;
static int policy_claimed; /* ec_shim.policy is some resolver's to fill */

/* The environment as libc has it (the core ignores it in secure mode, AT_SECURE). */
static char **start_env(void) { return ec_shim.envp ? ec_shim.envp : &environ ? environ : 0; }

/* No memory for a policy of its own (a page): one published meanwhile, if another thread was
 * resolving, else files enforced, as a config that cannot be read for want of memory does. */
static const struct ec_policy *policy_without_memory(void)
{
    static const struct ec_policy closed = {.files = EC_MODE_ENFORCE, .files_source = EC_SRC_CONFIG,
                                            .config_state = EC_CONFIG_UNREADABLE, .sinks = EC_SINK_SYSLOG,
                                            .config_problem = "no memory to resolve the policy: files enforced"};
    const struct ec_policy *now;
    int spins;
    for (spins = 0; spins < 10000; spins++) {
        if ((now = __atomic_load_n(&policy_now, __ATOMIC_ACQUIRE))) return now;
        ec_sys0(EC_NR_sched_yield);
    }
    return &closed;
}

/* Nobody waits for another thread's resolution: that thread may never finish in this memory (a
 * fork() by another thread while it resolved leaves the child a copy with nobody resolving - the
 * shim dlopen()ed into a threaded process, or a library constructor before ours that starts
 * threads - and a signal handler on the resolving thread would wait for itself). A caller that
 * finds none published resolves one itself, in ec_shim.policy if nobody claimed it yet (the usual
 * first call: no mapping), else in a page of its own; the first published is the policy. Each is
 * whole before it is published, so a reader never sees one half-written. */
const struct ec_policy *ec_shim_policy(void)
{
    const struct ec_policy *now = __atomic_load_n(&policy_now, __ATOMIC_ACQUIRE);
    struct ec_policy *mine;
    int unclaimed = 0, secure;
    if (now) return now;
    if (__atomic_compare_exchange_n(&policy_claimed, &unclaimed, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        mine = &ec_shim.policy;
    } else {
        mine = ec_mmap(0, sizeof *mine, EC_PROT_READ | EC_PROT_WRITE, EC_MAP_PRIVATE | EC_MAP_ANONYMOUS, -1, 0);
        if (ec_mmap_failed(mine)) return policy_without_memory();
    }
    secure = read_at_secure();
    __atomic_store_n(&ec_shim.secure, secure, __ATOMIC_RELAXED); /* every resolver's the same */
    ec_policy_resolve(mine, 0, start_env(), secure);
    if (__atomic_compare_exchange_n(&policy_now, &now, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return mine;
    if (mine != &ec_shim.policy) ec_munmap(mine, sizeof *mine);
    return now; /* another caller's, published meanwhile */
}

int ec_shim_enforcing(int kind)
{
    const struct ec_policy *p = ec_shim_policy();
    long bits = ec_securebits_get();
    if (bits < 0) return 1;
    if (kind == EC_KIND_INTERACTIVE)
        return p->interactive == EC_MODE_ENFORCE || (bits & EC_SECBIT_EXEC_DENY_INTERACTIVE);
    return p->files == EC_MODE_ENFORCE || (bits & EC_SECBIT_EXEC_RESTRICT_FILE);
}

int ec_shim_deny_once(int kind, int face, const char *path, const struct ec_verdict *v, int *first)
{
    struct ec_record r;
    int fresh;
    r.kind = kind;
    r.face = face;
    r.enforced = ec_shim_enforcing(kind);
    r.path = path;
    r.verdict = v;
    fresh = ec_record_emit(ec_shim_policy(), &r);
    if (first) *first = fresh;
    return r.enforced;
}

int ec_shim_deny(int kind, int face, const char *path, const struct ec_verdict *v)
{
    return ec_shim_deny_once(kind, face, path, v, 0);
}

int ec_shim_beside_other_libc(void) { return dl_iterate_phdr && !gnu_get_libc_version; }

/* glibc calls ELF constructors with (argc, argv, envp), also for audit modules (dlmopen'ed by
 * rtld with its own _environ). In secure mode the environment is still kept for propagation
 * decisions, but the policy does not read it (see ec_shim_policy).
 * Beside another libc (musl: a glibc process's LD_PRELOAD reaches its musl children) the shim
 * stays inert. That libc calls constructors without arguments, has no rtld-audit, and its loader
 * follows other rules than the ones the faces model; what the shim interposes (exec, fopen,
 * dlopen) then goes straight to that libc's own functions. */
__attribute__((constructor)) static void shim_start(int argc, char **argv, char **envp)
{
    ec_shim.has_libc = dl_iterate_phdr != 0;
    if (ec_shim_beside_other_libc()) {
        if (ec_preload_passthrough) ec_preload_passthrough();
        return;
    }
    ec_shim.argc = argc;
    ec_shim.argv = argv;
    ec_shim.envp = envp;
    if (!ec_shim.has_libc) ec_auxv_adopt(envp); /* the audit namespace: envp is the start-up stack's */
    ec_check_seccomp_start(envp);
    ec_shim_policy();
    ec_shim.started = 1;
    if (ec_audit_face_start) ec_audit_face_start();
    if (ec_shim.has_libc && ec_preload_face_start) ec_preload_face_start();
    if (ec_shim.has_libc && ec_python_face_start) ec_python_face_start();
}

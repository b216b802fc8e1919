/* Kernel facts for `execcheck status` (see sysinfo.h). */
#include "sysinfo.h"
#include "check.h"
#include "securebits.h"
#include "sys.h"

int ec_kernel_has_execve_check(void)
{
    int r = ec_check_raw(-1); /* under a seccomp filter that kills for execveat: ENOSYS, alive */
    if (r == -EC_EINVAL) return 0;  /* the flag is rejected before the fd is looked at */
    if (r == -EC_EBADF) return 1;   /* flag accepted, fd refused: the kernel knows the check */
    return r < 0 ? r : 1;
}

int ec_lsm_ids(unsigned long long *ids, int max)
{
    unsigned int size = (unsigned int)(max * sizeof *ids);
    long r = ec_sys3(EC_NR_lsm_list_modules, ids, &size, 0);
    return (int)r;
}

const char *ec_lsm_name(unsigned long long id)
{
    static const char *const names[] = {"capability", "selinux", "smack", "tomoyo", "apparmor", "yama", "loadpin",
                                        "safesetid", "lockdown", "bpf", "landlock", "ima", "evm", "ipe"};
    if (id >= 100 && id < 100 + sizeof names / sizeof names[0]) return names[id - 100];
    return 0;
}

int ec_landlock_abi(void)
{
    return (int)ec_sys3(EC_NR_landlock_create_ruleset, 0, 0, 1 /* LANDLOCK_CREATE_RULESET_VERSION */);
}

#define EC_CLONE_NEWUSER 0x10000000
#define EC_SIGCHLD 17

/* exit codes of the probe child */
#define PROBE_RESET 10
#define PROBE_KEPT 11
#define PROBE_REFUSED 12 /* unshare refused: the child exits PROBE_REFUSED + 16 + errno */
#define PROBE_SETUP 13

int ec_userns_resets_securebits(int *detail)
{
    long pid;
    int status = 0;
    if (detail) *detail = 0;
    pid = ec_syscall6(EC_NR_fork_clone, EC_SIGCHLD, 0, 0, 0, 0, 0);
    if (pid < 0) return (int)pid;
    if (pid == 0) {
        long r, bits;
        if (ec_geteuid() == 0) {
            if (ec_sys2(EC_NR_setgroups, 0, 0) < 0 || ec_sys1(EC_NR_setgid, 65534) < 0 ||
                ec_sys1(EC_NR_setuid, 65534) < 0)
                ec_exit_group(PROBE_SETUP);
        }
        if (ec_securebits_change(EC_SECBIT_EXEC_RESTRICT_FILE, 0) < 0) ec_exit_group(PROBE_SETUP);
        r = ec_sys1(EC_NR_unshare, EC_CLONE_NEWUSER);
        if (r < 0) ec_exit_group(r > -64 ? PROBE_REFUSED + 16 + (int)-r : PROBE_REFUSED); /* errno in the code */
        bits = ec_securebits_get();
        ec_exit_group(bits >= 0 && !(bits & EC_SECBIT_EXEC_RESTRICT_FILE) ? PROBE_RESET : PROBE_KEPT);
    }
    for (;;) {
        long w = ec_sys4(EC_NR_wait4, pid, &status, 0, 0);
        if (w == pid) break;
        if (w != -EC_EINTR) return (int)w;
    }
    if ((status & 0x7f) != 0) return -EC_EINTR; /* killed by a signal */
    status = (status >> 8) & 0xff;
    if (status == PROBE_RESET) return 1;
    if (status == PROBE_KEPT) return 0;
    if (status >= PROBE_REFUSED + 16) {
        if (detail) *detail = status - PROBE_REFUSED - 16;
        return 0;
    }
    return -EC_EPERM; /* PROBE_SETUP: could not drop privileges or set the bit */
}

"""Facts about the running kernel that decide how much the exec policy can hold."""
import os
from typing import List, Optional, Tuple

from ._native import ffi, lib


def execve_check_support() -> Tuple[bool, str]:
    """(supported, explanation) for AT_EXECVE_CHECK on this kernel."""
    lib.ec_check_seccomp(lib.EC_SECCOMP_PROBE_ALL)  # under a filter that kills for execveat, the question below is not asked
    r = lib.ec_kernel_has_execve_check()
    if r == 1:
        return True, "supported (Linux 6.14+)"
    if r == 0:
        return False, "not supported: this kernel rejects AT_EXECVE_CHECK (Linux 6.14 or later is needed)"
    if lib.ec_check_seccomp(0) == lib.EC_SECCOMP_KILLS:
        return False, "cannot tell: a seccomp filter kills a process for execveat"
    if lib.ec_check_seccomp(0) == lib.EC_SECCOMP_REFUSES:
        return False, "cannot tell: a seccomp filter makes execveat fail for any file"
    return False, "cannot tell: execveat is refused (%s); a seccomp filter?" % os.strerror(-r)


def active_lsms() -> Optional[List[str]]:
    """Names of the active LSMs, in stacking order, or None if the kernel cannot say."""
    ids = ffi.new("unsigned long long[]", 32)
    n = lib.ec_lsm_ids(ids, 32)
    if n >= 0:
        return [ffi.string(lib.ec_lsm_name(ids[i])).decode() if lib.ec_lsm_name(ids[i]) != ffi.NULL
                else "lsm-%d" % ids[i] for i in range(n)]
    try:  # kernels before 6.8: securityfs, when mounted
        with open("/sys/kernel/security/lsm") as f:
            return [x for x in f.read().strip().split(",") if x]
    except OSError:
        return None


def landlock_abi() -> Tuple[Optional[int], str]:
    r = lib.ec_landlock_abi()
    if r > 0:
        return r, "ABI %d" % r
    if -r == 95:  # EOPNOTSUPP
        return None, "built in but disabled (not in lsm=)"
    return None, "not available (%s)" % os.strerror(-r)


def userns_reset() -> Tuple[Optional[bool], str]:
    """Whether an unprivileged process can drop its exec securebits by creating a user namespace."""
    detail = ffi.new("int *")
    r = lib.ec_userns_resets_securebits(detail)
    if r == 1:
        return True, ("yes: an unprivileged process can reset its exec securebits with unshare(CLONE_NEWUSER); "
                      "locked bits do not hold unless user namespaces are blocked (user.max_user_namespaces=0, seccomp)")
    if r == 0 and detail[0]:
        return False, "no: creating a user namespace is refused (%s)" % os.strerror(detail[0])
    if r == 0:
        return False, "no: the exec securebits survive a new user namespace on this kernel"
    return None, "unknown: the probe could not run (%s)" % os.strerror(-r)


def seccomp() -> Tuple[str, str]:
    """This process's seccomp filter and what it does to the exec check, found out from a child
    (the core's probe): (none|checks|kills|refuses|unknown, text)."""
    state = lib.ec_check_seccomp(lib.EC_SECCOMP_PROBE_ALL)
    if state == lib.EC_SECCOMP_KILLS:
        return "kills", ("a filter is in force and kills a process for execveat: programs started from here inherit "
                         "it and die of SIGSYS at the shim's first check; `execcheck check` answers 'unsupported'")
    if state == lib.EC_SECCOMP_REFUSES:
        return "refuses", ("a filter is in force and answers execveat itself, for any file (an errno of its own): "
                           "no check can be made; `execcheck check` answers 'unsupported' and an enforcing shim "
                           "refuses every file")
    if state == lib.EC_SECCOMP_CHECKS:
        return "checks", "a filter is in force and does not kill for execveat: checks are made as without it"
    if state != lib.EC_SECCOMP_NONE:
        return "unknown", "a filter is in force; what it does to execveat could not be found out"
    return "none", "no filter"


def proc_mounted() -> bool:
    """Is procfs at /proc? The shim asks it which file backs each mapping (/proc/self/maps)."""
    return os.path.exists("/proc/self/maps")


def memfd_noexec() -> Tuple[Optional[int], str]:
    meaning = {
        0: "memfds are executable by default (a copy of any program can run from memory)",
        1: "memfds are created non-executable unless MFD_EXEC is asked",
        2: "executable memfds are refused",
    }
    try:
        with open("/proc/sys/vm/memfd_noexec") as f:
            v = int(f.read().strip())
    except (OSError, ValueError):
        if not proc_mounted():
            return None, "unknown (/proc is not mounted)"
        return None, "unknown (no vm.memfd_noexec: kernel < 6.3)"
    return v, meaning.get(v, "unknown value")

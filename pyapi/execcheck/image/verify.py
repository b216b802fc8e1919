"""Is an image ready to enforce? The audit of the whole image in the policy's view (its own mode
bits and noexec mounts), plus the state of the installed shim."""
import os
import stat

from . import install, rootfs
from ..core import check, policy
from ..shim import read_ld_so_preload

POLICY_RULES = ("exec-denied", "python-code-denied")


def shim_state(root: str) -> list:
    """Problems with the installed shim, as sentences ([] when install is complete and sound)."""
    problems = []
    entries = read_ld_so_preload(rootfs.resolve(root, "/etc/ld.so.preload"))
    shims = [e for e in entries if os.path.basename(e) == install.SHIM_NAME]
    if not shims:
        problems.append("/etc/ld.so.preload does not name %s: run `execcheck image install`" % install.SHIM_NAME)
    for e in shims:
        host = rootfs.resolve(root, e)
        try:
            st = os.stat(host)
        except OSError:
            problems.append("/etc/ld.so.preload names %s, which is missing: glibc would warn and run everything "
                            "unchecked" % e)
            continue
        if st.st_uid != 0 or st.st_mode & 0o022 or not st.st_mode & 0o111 or not stat.S_ISREG(st.st_mode):
            problems.append("%s must be a root-owned file, executable, not writable by group or others (mode %04o, "
                            "uid %d)" % (e, stat.S_IMODE(st.st_mode), st.st_uid))
    conf = rootfs.resolve(root, "/etc/execcheck.conf")
    if os.path.lexists(conf):
        p = policy(config_path=conf, environ={})
        if p.config_state != "loaded" or p.config_problem:
            problems.append("/etc/execcheck.conf: %s%s" % (p.config_state, " (%s)" % p.config_problem
                                                             if p.config_problem else ""))
    return problems


def verify(root: str, noexec_mounts=()):
    """(audit result, the findings that are policy refusals, shim problems)."""
    from ..audit.engine import Audit, Options
    result = Audit(Options(root=root, noexec_mounts=list(noexec_mounts))).run()
    from ..audit.findings import RULES
    refusals = [f for f in result.findings if RULES[f.rule].name in POLICY_RULES]
    return result, refusals, shim_state(root)

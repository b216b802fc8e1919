"""Is an image ready to enforce? The audit of the whole image in the policy's view (its own mode
bits and noexec mounts), plus the state of the installed shim."""
import errno
import os
import stat

from . import install, rootfs
from ..core import check, config_statement, policy
from ..shim import has_lib_token, ld_so_preload_entries

POLICY_RULES = ("exec-denied", "python-code-denied")


def shim_state(root: str) -> list:
    """Problems with the installed shim, as sentences ([] when install is complete and sound)."""
    problems = []
    preload = rootfs.lookup(root, "/etc/ld.so.preload")
    try:  # a symlink that names no file: ld.so preloads nothing from it
        entries = [] if preload is None else ld_so_preload_entries(rootfs.read_regular(root, preload, 1 << 20))
    except FileNotFoundError:
        entries = []
    except OSError as e:
        if e.errno == errno.EINVAL:  # no regular file
            problems.append(_not_a_file(root, preload))
        elif e.errno not in rootfs.BROKEN_LINK:  # ELOOP too: a symlink on its path since the lookup
            raise
        entries = []
    shims = [e for e in entries if os.path.basename(e) == install.SHIM_NAME]
    if not shims and not problems:
        problems.append("/etc/ld.so.preload does not name %s: run `execcheck image install`" % install.SHIM_NAME)
    for path in [p for e in shims for p in install.expand_entry(root, e)]:  # a $LIB entry: each class's
        host = rootfs.lookup(root, path)
        try:
            if host is None:
                raise FileNotFoundError(path)
            st = rootfs.stat_beneath(root, host)
        except OSError:
            problems.append("/etc/ld.so.preload names %s, which is missing: glibc would warn and run everything "
                            "unchecked" % path)
            continue
        # ld.so opens it with the rights of each program: a 0700 shim is ignored by every other user's
        if st.st_uid != 0 or st.st_mode & 0o022 or st.st_mode & 0o005 != 0o005 or not stat.S_ISREG(st.st_mode):
            problems.append("%s must be a root-owned file, readable and executable by all, not writable by group or "
                            "others (mode %04o, uid %d)" % (path, stat.S_IMODE(st.st_mode), st.st_uid))
    try:  # read by ld.so with the rights of the program it starts: refused, it preloads nothing, silently
        mode = 0o644 if preload is None else rootfs.stat_beneath(root, preload).st_mode
    except OSError:
        mode = 0o644
    if shims and not mode & 0o004:
        problems.append("/etc/ld.so.preload must be readable by all (mode %04o): ld.so reads it with the rights of "
                        "each program, so other users' programs would run unchecked" % stat.S_IMODE(mode))
    if shims and install.find_libc32(root) and install.find_libc(root)[1]["machine"] == "EM_X86_64" and \
            not any(has_lib_token(e) for e in shims):
        problems.append("the image has a 32-bit libc, and /etc/ld.so.preload names the shim by its 64-bit path: "
                        "32-bit programs would run unchecked")
    conf = rootfs.lookup(root, "/etc/execcheck.conf", follow_last=False)  # the shim does not follow it
    problem = None if conf is None else _config_problem(root, conf)
    if problem:
        problems.append(problem)
    return problems


def _config_problem(root: str, conf: str):
    """What the shim would make of the image's /etc/execcheck.conf (at host path conf, resolved in
    the image): None if there is none, or it is loaded without a problem. The core reads it by a
    path; given its directory held from ROOT (rootfs.open_beneath) through /proc, not conf's host
    path again, which a parent swapped for a symlink since would lead to the host's file."""
    name = "/etc/execcheck.conf"
    try:
        dfd = rootfs.open_beneath(root, os.path.dirname(conf), os.O_PATH | os.O_DIRECTORY)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as e:  # ELOOP: a symlink on its path since the lookup
        return "%s: %s: not read" % (name, e.strerror)
    try:
        path = "/proc/self/fd/%d/%s" % (dfd, os.path.basename(conf))
        try:
            os.stat(os.path.basename(conf), dir_fd=dfd, follow_symlinks=False)
        except FileNotFoundError:
            return None
        if not os.path.lexists(path):
            return "%s: not read: /proc is not mounted, through which it is read from ROOT" % name
        p = policy(config_path=path, environ={})
    finally:
        os.close(dfd)
    if p.config_state != "loaded" or p.config_problem:  # named as the image names it
        return config_statement(path, p.config_state, p.config_problem, name)
    return None


def _not_a_file(root: str, host: str) -> str:
    """What an /etc/ld.so.preload that is no regular file does to the image's programs."""
    try:
        fmt = stat.S_IFMT(rootfs.stat_beneath(root, host).st_mode)
    except OSError:
        fmt = 0
    if fmt == stat.S_IFIFO:
        what = "a FIFO: ld.so opens it in every program, which waits at its start for a writer"
    elif fmt == stat.S_IFDIR:
        what = "a directory: ld.so preloads nothing from it, so no program loads the shim"
    else:
        what = "no regular file: ld.so preloads nothing from it (or waits on it), so no program loads the shim"
    return "/etc/ld.so.preload is %s: remove it and run `execcheck image install`" % what


def why_run(finding, records, lib_dirs) -> str:
    """Why a refused file is something the image runs, as a phrase ("" if it is not): a program,
    its loader, a preload, a library a program loads, or a library in a library directory (a
    plugin someone may dlopen). A stray shared object elsewhere (an attacker's file in /var/tmp)
    is reported, but is not the image's. verify says which, so that its answer can be checked."""
    if finding.programs:
        return "used by %s" % ("1 program" if len(finding.programs) == 1 else "%d programs" % len(finding.programs))
    rec = records.get(finding.path)
    roles = rec.roles if rec is not None else set()
    for role, what in (("program", "a program"), ("interp", "a program's loader"), ("preload", "a preload")):
        if role in roles:
            return what
    where = os.path.dirname(rec.realpath if rec is not None and rec.realpath else finding.path)
    d = next((d for d in lib_dirs if where == d or where.startswith(d.rstrip("/") + "/")), None)
    return "" if d is None else "in the library directory %s" % d


def not_ready_because(refusals, problems, unread, left, changed=()) -> list:
    """verify's reasons, one a kind: its count and its first item ([] when ready). A log that
    holds only the end of the output, or a cut repr of the JSON, still says why. A root that
    changed while it was read comes first: the rest of the answer is about a root no longer there."""
    out = []
    for items, one, many, first in (
            (changed, "path changed while it read the image", "paths changed while it read the image",
             lambda f: f.message),
            (refusals, "refused file the image runs", "refused files the image runs",
             lambda f: "%s, %s" % (f.path, f.details.get("counted_because", ""))),
            (problems, "shim problem", "shim problems", str),
            (unread, "path it could not read", "paths it could not read", lambda f: f.message),
            (left, "mount it did not walk holds the image's code", "mounts it did not walk hold the image's code",
             str)):
        if items:
            out.append("%d %s (%s%s)" % (len(items), one if len(items) == 1 else many,
                                         "" if len(items) == 1 else "the first: ", first(items[0])))
    return out


def foreign_libc(root: str) -> str:
    """The machine of an image's libc when the audit does not model its loader (x86_64, i386,
    aarch64), or ""."""
    try:
        machine = install.find_libc(root)[1]["machine"]
    except install.InstallError:
        return ""
    return "" if machine in ("EM_X86_64", "EM_386", "EM_AARCH64") else machine


def verify(root: str, noexec_mounts=(), any_mount: bool = False):
    """(audit result, the refusals of what the image would run, other refused files, shim problems,
    the findings of what could not be read, the mount points left that hold its code, the findings
    of what changed while it was read: removed, renamed or replaced after the walk listed it). Only
    ROOT's own mount is walked unless any_mount (the mount points left: result.other_mounts)."""
    from ..audit.engine import Audit, Options
    from ..audit.findings import RULES
    from . import ldconf
    result = Audit(Options(root=root, noexec_mounts=list(noexec_mounts), one_mount=not any_mount)).run()
    records = {rec.path: rec for rec in result.files.values()}
    lib_dirs = ldconf.with_real_places(root, ldconf.library_dirs(root, install.image_multiarch(root)))
    refusals, stray, problems, unread, changed = [], [], shim_state(root), [], []
    for f in result.findings:
        name = RULES[f.rule].name
        if name == "unreadable":
            unread.append(f)
        elif name == "changed-during-audit":  # not examined, and what was examined may be stale
            changed.append(f)
        elif name == "python-code-denied":
            f.details["counted_because"] = "Python code of a Python install or a program's own modules"
            refusals.append(f)
        elif name == "exec-denied":
            why = why_run(f, records, lib_dirs)
            f.details["counted_because"] = why or "nothing in the image loads it, and it is in no library directory"
            (refusals if why else stray).append(f)
        elif name == "preload-ignored" and f.path == "/etc/ld.so.preload" and \
                os.path.basename(f.key[-1]) != install.SHIM_NAME:  # the shim's own entry: shim_state says
            # every program of the image meets it: glibc's error on stderr in each, or, for a FIFO,
            # an open that waits for ever
            problems.append("%s: in every program of the image" % f.message)
    left = rootfs.holding(result.other_mounts, ldconf.code_dirs(root, install.image_multiarch(root)))
    return result, refusals, stray, problems, unread, left, changed

"""The C core seen from Python: the check, the securebits, the policy.

Thin wrappers over execcheck._native (csrc/ through cffi). Nothing here decides anything the
core decides: reasons, policy resolution and securebit rules all come from the C code that the
shim runs too.
"""
import dataclasses
import os
from typing import List, Optional, Union

from ._native import ffi, lib

AT_FDCWD = -100

SECBIT_EXEC_RESTRICT_FILE = 1 << 8
SECBIT_EXEC_RESTRICT_FILE_LOCKED = 1 << 9
SECBIT_EXEC_DENY_INTERACTIVE = 1 << 10
SECBIT_EXEC_DENY_INTERACTIVE_LOCKED = 1 << 11

REASONS = tuple(ffi.string(lib.ec_reason_name(i)).decode() for i in range(lib.EC_REASON_COUNT))


def _text(cstr) -> str:
    return ffi.string(cstr).decode("utf-8", "replace") if cstr != ffi.NULL else ""


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The kernel's answer for one file, and why it said no."""

    path: Optional[str]
    allowed: bool
    errno: int
    reason: Optional[str]  # None when allowed; else one of REASONS
    dev: int
    ino: int
    mode: int  # st_mode (file type and permission bits), 0 if unknown
    uid: int

    @property
    def reason_text(self) -> str:
        return _text(lib.ec_reason_text(REASONS.index(self.reason))) if self.reason else "allowed"

    def as_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["reason_text"] = self.reason_text
        d["mode"] = "%o" % self.mode if self.mode else None
        return d


def _verdict(path, v) -> Verdict:
    return Verdict(
        path=path,
        allowed=bool(v.allowed),
        errno=v.err,
        reason=None if v.allowed else REASONS[v.reason],
        dev=v.dev,
        ino=v.ino,
        mode=v.mode,
        uid=v.uid,
    )


_seccomp_probed = False


def _probe_seccomp() -> None:
    """Under a seccomp filter this process started with, find out once (from a child) whether it
    kills for execveat: then every check answers 'unsupported' instead of killing us."""
    global _seccomp_probed
    if not _seccomp_probed:
        lib.ec_check_seccomp(lib.EC_SECCOMP_PROBE_ALL)
        _seccomp_probed = True


def check(target: Union[int, str, bytes, os.PathLike], follow_symlinks: bool = True) -> Verdict:
    """Runs AT_EXECVE_CHECK on an open fd or on a path.

    A path is opened O_PATH|O_CLOEXEC (following a final symlink unless follow_symlinks is
    False, in which case a symlink is reported "not-regular") and that fd is checked.
    Raises OSError when the path cannot be opened at all (ENOENT, EACCES on a parent...).
    """
    _probe_seccomp()
    v = ffi.new("struct ec_verdict *")
    if isinstance(target, int) and not isinstance(target, bool):
        lib.ec_check_fd(target, ffi.NULL, v)
        return _verdict(None, v)
    path = os.fspath(target)
    raw = os.fsencode(path)
    if b"\0" in raw:
        raise ValueError("embedded NUL byte in path")
    r = lib.ec_check_path(AT_FDCWD, raw, 0 if follow_symlinks else lib.EC_CHECK_NOFOLLOW, v)
    if r < 0:
        raise OSError(-r, os.strerror(-r), path)
    return _verdict(os.fsdecode(raw), v)


class Securebits(int):
    """The securebits word, with the exec bits named."""

    NAMES = (
        (SECBIT_EXEC_RESTRICT_FILE, "exec_restrict_file"),
        (SECBIT_EXEC_RESTRICT_FILE_LOCKED, "exec_restrict_file_locked"),
        (SECBIT_EXEC_DENY_INTERACTIVE, "exec_deny_interactive"),
        (SECBIT_EXEC_DENY_INTERACTIVE_LOCKED, "exec_deny_interactive_locked"),
        (1 << 0, "noroot"), (1 << 1, "noroot_locked"),
        (1 << 2, "no_setuid_fixup"), (1 << 3, "no_setuid_fixup_locked"),
        (1 << 4, "keep_caps"), (1 << 5, "keep_caps_locked"),
        (1 << 6, "no_cap_ambient_raise"), (1 << 7, "no_cap_ambient_raise_locked"),
    )

    @property
    def restrict_file(self) -> bool:
        return bool(self & SECBIT_EXEC_RESTRICT_FILE)

    @property
    def restrict_file_locked(self) -> bool:
        return bool(self & SECBIT_EXEC_RESTRICT_FILE_LOCKED)

    @property
    def deny_interactive(self) -> bool:
        return bool(self & SECBIT_EXEC_DENY_INTERACTIVE)

    @property
    def deny_interactive_locked(self) -> bool:
        return bool(self & SECBIT_EXEC_DENY_INTERACTIVE_LOCKED)

    def names(self) -> List[str]:
        return [name for bit, name in self.NAMES if self & bit]

    def __repr__(self):
        return "Securebits(0x%x: %s)" % (int(self), ", ".join(self.names()) or "none")


class SecurebitsError(OSError):
    """The kernel refused a securebits change; str() says why in words."""


def securebits() -> Securebits:
    """The securebits of the calling thread (PR_GET_SECUREBITS)."""
    r = lib.ec_securebits_get()
    if r < 0:
        raise OSError(-r, "PR_GET_SECUREBITS failed: %s" % os.strerror(-r))
    return Securebits(r)


def set_securebits(restrict_file: Optional[bool] = None, deny_interactive: Optional[bool] = None,
                   lock: bool = False) -> Securebits:
    """Sets (True) or clears (False) the exec securebits of the calling thread; None leaves a bit
    as it is. lock=True also locks each bit named (it can then never change in this process
    tree, except through a new user namespace). Returns the new word; raises SecurebitsError."""
    set_mask = clear_mask = 0
    for want, bit, lock_bit in ((restrict_file, SECBIT_EXEC_RESTRICT_FILE, SECBIT_EXEC_RESTRICT_FILE_LOCKED),
                                (deny_interactive, SECBIT_EXEC_DENY_INTERACTIVE, SECBIT_EXEC_DENY_INTERACTIVE_LOCKED)):
        if want is None:
            continue
        if want:
            set_mask |= bit
        else:
            clear_mask |= bit
        if lock:
            set_mask |= lock_bit
    r = lib.ec_securebits_change(set_mask, clear_mask)
    if r < 0:
        why = _text(lib.ec_securebits_error_text(set_mask, clear_mask, -r))
        raise SecurebitsError(-r, why)
    return securebits()


_SOURCES = ((lib.EC_SRC_SECUREBITS, "securebits"), (lib.EC_SRC_CONFIG, "config"), (lib.EC_SRC_ENV, "environment"),
            (lib.EC_SRC_PRCTL_FAILED, "securebits unreadable (fail closed)"))
_SINKS = ((lib.EC_SINK_FILE, "file"), (lib.EC_SINK_SYSLOG, "syslog"), (lib.EC_SINK_STDERR, "stderr"))
CONFIG_PATH = "/etc/execcheck.conf"


@dataclasses.dataclass(frozen=True)
class Policy:
    """What the shim would do in this process: enforce or audit, and where records go."""

    files: str  # "audit" or "enforce"
    files_sources: List[str]
    interactive: str  # "allow" or "deny"
    interactive_sources: List[str]
    securebits: Optional[int]
    config_path: str
    config_state: str
    config_problem: str
    env_problem: str  # an EXECCHECK_* variable that was ignored, and why ("" if none)
    sinks: List[str]
    sinks_configured: bool
    log_file: Optional[str]

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)


def config_statement(path: str, state: str, problem: str, shown: str = "") -> str:
    """One statement of a config file's state: its problem alone where that says the state too (it
    names the file: "PATH is not a regular file: ignored"; "PATH: ignored: ... (PATH ... ignored)"
    said it twice), else "PATH: state", with a problem of a file loaded after it. shown: the name to
    give the file instead of path (an image's /etc/execcheck.conf, read at its host path)."""
    shown = shown or path
    if problem and state != "loaded":
        return shown + problem[len(path):] if problem.startswith(path) else problem
    return "%s: %s%s" % (shown, state, " (%s)" % problem if problem else "")


def _env_block(environ):
    items = [ffi.new("char[]", os.fsencode(k) + b"=" + os.fsencode(v))
             for k, v in environ.items() if b"\0" not in os.fsencode(k) + os.fsencode(v)]
    arr = ffi.new("char *[]", items + [ffi.NULL])
    return arr, items  # keep items alive as long as arr


def policy(config_path: Optional[str] = None, environ=None, secure: bool = False) -> Policy:
    """Resolves the policy as the shim would in this process: securebits, then the config file,
    then the environment (which can only tighten). config_path is for inspecting another file
    (an image's, a test's); the shim itself only ever reads /etc/execcheck.conf."""
    p = ffi.new("struct ec_policy *")
    env_arr, _keep = _env_block(os.environ if environ is None else environ)
    path = config_path or CONFIG_PATH
    lib.ec_policy_resolve(p, os.fsencode(path), env_arr, 1 if secure else 0)
    return Policy(
        files=_text(lib.ec_mode_name(p.files)),
        files_sources=[n for bit, n in _SOURCES if p.files_source & bit],
        interactive="deny" if p.interactive else "allow",
        interactive_sources=[n for bit, n in _SOURCES if p.interactive_source & bit],
        securebits=p.securebits if p.securebits >= 0 else None,
        config_path=path,
        config_state=_text(lib.ec_config_state_name(p.config_state)),
        config_problem=_text(p.config_problem),
        env_problem=_text(p.env_problem),
        sinks=[n for bit, n in _SINKS if p.sinks & bit],
        sinks_configured=bool(p.sinks_configured),
        log_file=os.fsdecode(ffi.string(p.log_file)) or None,  # a path's bytes, not text
    )


KINDS = ("library", "script", "module", "interactive", "program")
FACES = ("audit", "preload", "python", "cli")


def _c_record(kind, face, path, verdict, enforced):
    v = ffi.new("struct ec_verdict *")
    v.allowed, v.err, v.dev, v.ino, v.mode, v.uid = int(verdict.allowed), verdict.errno, verdict.dev, verdict.ino, verdict.mode, verdict.uid
    v.reason = REASONS.index(verdict.reason) if verdict.reason else 0
    cpath = ffi.new("char[]", os.fsencode(path))
    r = ffi.new("struct ec_record *", {"kind": KINDS.index(kind), "face": FACES.index(face),
                                        "enforced": int(enforced), "path": cpath, "verdict": v})
    return r, (v, cpath)


def format_record(kind: str, face: str, path: str, verdict: Verdict, enforced: bool) -> str:
    """The JSON line the shim would write for this decision (the core's own formatter)."""
    r, _keep = _c_record(kind, face, path, verdict, enforced)
    buf = ffi.new("char[]", 2048)
    n = lib.ec_record_format(buf, 2048, r)
    return ffi.unpack(buf, n).decode("utf-8")


def record_decision(kind: str, face: str, path: str, verdict: Verdict, enforced: bool,
                    config_path: Optional[str] = None, environ=None) -> bool:
    """Delivers a record to the sinks of the policy resolved as policy() does, once per
    (pid, dev, ino) like the shim. Returns False when it was a duplicate."""
    p = ffi.new("struct ec_policy *")
    env_arr, _keep_env = _env_block(os.environ if environ is None else environ)
    lib.ec_policy_resolve(p, os.fsencode(config_path or CONFIG_PATH), env_arr, 0)
    r, _keep = _c_record(kind, face, path, verdict, enforced)
    return bool(lib.ec_record_emit(p, r))

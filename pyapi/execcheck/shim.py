"""Where the installed shim is, and how the system loader is told to use it."""
import os
import pathlib
import platform
from typing import Dict, List, Optional

from ._native import ffi, lib
from .safeio import read_regular

_HERE = pathlib.Path(__file__).resolve().parent
LD_SO_PRELOAD = "/etc/ld.so.preload"


_SHIMS = _HERE / "shim"
_NATIVE = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "aarch64", "arm64": "aarch64"}


def _layout() -> Dict[str, str]:
    """shim/layout, which the build writes: machine -> the directory under shim/ of its shim, named
    as that machine's ld.so expands $LIB ("native" where the build could not ask)."""
    try:
        text = (_SHIMS / "layout").read_text()
    except OSError:
        return {}
    return dict(line.split(None, 1) for line in text.splitlines() if len(line.split()) == 2)


def _machine() -> str:
    return _NATIVE.get(platform.machine(), platform.machine())


def lib_path(machine: Optional[str] = None) -> str:
    """Absolute path of the libexeccheck.so installed with this package for machine (x86_64,
    i386, aarch64; default: this one's). The path is given even when that build is missing."""
    machine = machine or _machine()
    return str(_SHIMS / _layout().get(machine, machine) / "libexeccheck.so")


def damage(path: str) -> str:
    """What in the shim file at path keeps ld.so from loading it, as the core's ELF reader sees it
    ("" if nothing): ld.so says "cannot be preloaded ... ignored" of a truncated or damaged shim and
    runs every program without it."""
    from .audit.resolver import read_elf
    try:
        e = read_elf(path)
    except OSError as err:
        return err.strerror
    if not e.ok:
        return e.defect
    return "" if e.type == 3 else "not a shared object"


def multilib_path() -> Optional[str]:
    """shim/$LIB/libexeccheck.so when a 32-bit shim was built beside the 64-bit one: one entry for
    LD_PRELOAD and LD_AUDIT that each class's ld.so expands to its own shim; else None. (A cross
    shim, for images of another architecture, runs in no process here.)"""
    layout = _layout()
    dirs = [layout.get(_machine()), layout.get("i386")]
    if _machine() != "x86_64" or "native" in dirs or None in dirs or not all(
            os.path.exists(_SHIMS / d / "libexeccheck.so") for d in dirs):
        return None
    return str(_SHIMS / "$LIB" / "libexeccheck.so")


def has_lib_token(entry: str) -> bool:
    """Does entry name its file through ld.so's $LIB (each class's loader its own)?"""
    return "$LIB" in entry or "${LIB}" in entry


def substitute_lib(entry: str, lib: str) -> str:
    """entry with ld.so's $LIB / ${LIB} replaced by lib."""
    return entry.replace("${LIB}", lib).replace("$LIB", lib)


def expand_lib(entry: str) -> str:
    """entry with $LIB / ${LIB} as this machine's ld.so expands it (the build asked it), for
    looking at the file; unchanged when that is not known."""
    native = _layout().get(_machine())
    if not native or native == "native":
        return entry
    return substitute_lib(entry, native)


I386_LOADER = "/lib/ld-linux.so.2"


def list_separator_in(path: str) -> str:
    """The name of a character in path where glibc splits LD_PRELOAD (space, colon, tab; LD_AUDIT
    only on colons), or "": such a path cannot be named in those lists, and the shim then does not
    put itself in its children's (propagate.c)."""
    for ch, name in ((" ", "space"), (":", "colon"), ("\t", "tab")):
        if ch in path:
            return name
    return ""


# glibc's ld.so (2.32 on) copies each LD_AUDIT and --audit name into a buffer of NAME_MAX bytes
# (rtld.c, audit_list_next) and skips a longer one without a word; LD_PRELOAD names may be 4095
LD_AUDIT_NAME_MAX = 254


def audit_name_too_long(entry: str) -> bool:
    """Would ld.so skip this LD_AUDIT entry (as written: a $LIB entry before expansion) for its
    length? Then a process given the shim there runs without the audit face, silently, and with
    the preload face alone where LD_PRELOAD names the shim too."""
    return len(os.fsencode(entry)) > LD_AUDIT_NAME_MAX


def read_ld_so_preload(path: str = LD_SO_PRELOAD) -> List[str]:
    """The entries of an ld.so.preload file as glibc's rtld.c reads them (the audit's reader,
    ldresolve.c: separators, '#' comments, and where a NUL byte ends a name or the file). A
    missing file gives []."""
    try:
        data = read_regular(path, 1 << 20)
    except FileNotFoundError:
        return []
    return ld_so_preload_entries(data)


def ld_so_preload_entries(data: bytes) -> List[str]:
    """The entries of ld.so.preload content (read_ld_so_preload's reader, for a file read another
    way: an image's, from its ROOT)."""
    buf = ffi.from_buffer(bytearray(data))
    lib.ec_ld_preload_names(buf, len(data))
    return [os.fsdecode(name) for name in ffi.buffer(buf)[:].split(b"\0") if name]


def names_shim(entry: str, shim: str) -> bool:
    """Does this preload entry load the given shim file (same inode, or a bare name that is it)?"""
    try:
        a, b = os.stat(expand_lib(entry)), os.stat(shim)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    except OSError:
        return os.path.basename(entry) == os.path.basename(shim) and "/" not in entry


def faces_in_process(pid="self", shim: str = None) -> dict:
    """Which copies of the shim a process has mapped: the audit face lives in a namespace of its
    own, the preload face in the main one, so two copies of the file mean both. Read from
    /proc/PID/maps by the shim's (dev, ino)."""
    shim = shim or lib_path()
    try:
        st = os.stat(shim)
        with open("/proc/%s/maps" % pid) as f:
            lines = f.read().splitlines()
    except OSError:
        return {"copies": None}
    want = "%02x:%02x" % (os.major(st.st_dev), os.minor(st.st_dev))
    copies = 0
    for line in lines:
        fields = line.split(None, 5)
        if len(fields) >= 5 and fields[3] == want and fields[4] == str(st.st_ino) and int(fields[2], 16) == 0:
            copies += 1  # each load maps the file's first page once, at offset 0
    env_audit = os.environ.get("LD_AUDIT", "").split(":")[0]
    # One copy is the preload face when something preloads the shim (the preload face's start
    # also writes LD_AUDIT into environ, for children: that says nothing about this process).
    preloads = os.environ.get("LD_PRELOAD", "").replace(":", " ").replace("\t", " ").split()
    try:
        preloads += read_ld_so_preload()
    except OSError:
        pass
    preloaded = any(names_shim(e, shim) for e in preloads)
    return {"copies": copies, "ld_audit_first": bool(env_audit) and names_shim(env_audit, shim),
            "preload_face_only": copies == 1 and preloaded}

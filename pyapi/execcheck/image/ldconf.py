"""The image's library directories, as its ldconfig and ld.so see them."""
import errno
import fnmatch
import glob
import os

from . import rootfs
from .._native import ffi, lib

# ELF e_machine: (its name, the Debian multiarch tuple)
MACHINES = {62: ("EM_X86_64", "x86_64-linux-gnu"), 183: ("EM_AARCH64", "aarch64-linux-gnu"),
            3: ("EM_386", "i386-linux-gnu"), 40: ("EM_ARM", "arm-linux-gnueabihf"),
            243: ("EM_RISCV", "riscv64-linux-gnu"), 21: ("EM_PPC64", "powerpc64le-linux-gnu"),
            22: ("EM_S390", "s390x-linux-gnu")}


# where Debian puts a 32-bit libc on x86_64: biarch libc6-i386, multiarch libc6:i386
I386_LIBC_DIRS = ("/usr/lib32", "/lib32", "/usr/lib/i386-linux-gnu", "/lib/i386-linux-gnu")


def lib_token(libdir: str) -> str:
    """What an image's ld.so expands $LIB to, for the loader whose libc lives in libdir: glibc's
    $LIB is its slibdir ("/lib/x86_64-linux-gnu", "/lib32") without the leading '/', and on a
    merged-/usr image the libc is found under /usr as well. The C core's rule (the one the
    resolver applies to a loader's first directory)."""
    out = ffi.new("char[4096]")
    lib.ec_ld_sysdirs_lib(os.fsencode(libdir.rstrip("/")), out, 4096)
    return os.fsdecode(ffi.string(out))


def default_dirs(tuple_: str):
    """The loader's built-in directories (both the Debian multiarch and the lib64 layouts)."""
    dirs = []
    if tuple_:
        dirs += ["/lib/" + tuple_, "/usr/lib/" + tuple_]
    return dirs + ["/lib64", "/usr/lib64", "/lib", "/usr/lib"]


def conf_dirs(root: str, conf: str = "/etc/ld.so.conf", _depth: int = 0, _seen=None, onerror=None):
    """Directories named by an ld.so.conf, following `include` globs (relative to the including
    file's directory) as ldconfig does; `hwcap` lines are obsolete and skipped. Image paths.
    Each file is read once (files that include each other, ten a level, made this walk take 10^16
    steps), at most 1 MiB of it, at most 16 includes deep. onerror(OSError) for a file that
    cannot be read (the directories it names are then missing)."""
    _seen = set() if _seen is None else _seen
    if _depth > 16:
        return []
    try:
        host = rootfs.resolve(root, conf)
    except OSError:
        return []
    key = os.path.realpath(host)
    if key in _seen:
        return []
    _seen.add(key)
    try:  # from ROOT, not by host path: a parent swapped for a link since would read the host's file
        text = os.fsdecode(rootfs.read_regular(root, host, 1 << 20))  # names, as os.listdir() spells them
    except OSError as e:
        if onerror is not None and e.errno != errno.EINVAL:  # no reader takes directories from a FIFO...
            onerror(e)
        return []
    dirs = []
    for line in text.splitlines():
        # ldconfig reads a line as a C string: a NUL byte ends it (binary junk, an `include` glob
        # that matches ld.so.cache) and would have been a ValueError from every os call here
        line = line.split("\0", 1)[0].split("#", 1)[0].strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        if word == "include":
            for pattern in rest.split():
                if not pattern.startswith("/"):
                    pattern = os.path.join(os.path.dirname(conf), pattern)
                for match in glob_image(root, pattern, onerror):
                    dirs += conf_dirs(root, match, _depth + 1, _seen, onerror)
        elif word == "hwcap":
            continue
        else:
            d = line.rstrip("/") or "/"
            if "=" in d:  # legacy "dir=TYPE"
                d = d.split("=", 1)[0]
            dirs.append(d)
    return dirs


def glob_image(root: str, pattern: str, onerror=None) -> list:
    """The image paths an absolute glob pattern matches, sorted, as glob(3) (ldconfig's) finds
    them in the image: each directory looked up in it (rootfs.lookup) and listed from ROOT
    (rootfs.list_dir), never by a host path that a parent swapped for a link would lead out of it;
    a name starting with '.' only where the pattern's does. onerror(OSError) for a directory that
    is there and may not be listed (the files it holds are then missing)."""
    found = ["/"]
    parts = [p for p in pattern.split("/") if p]
    for i, part in enumerate(parts):
        last, nxt = i == len(parts) - 1, []
        if not last and not glob.has_magic(part):
            found = [d.rstrip("/") + "/" + part for d in found]
            continue
        for d in found:
            where = rootfs.lookup(root, d)
            if where is None:  # a symlink that names no directory: matches nothing
                continue
            try:
                names = rootfs.list_dir(root, where)
            except OSError as e:
                if onerror is not None and e.errno not in (errno.ENOENT, errno.ENOTDIR):
                    onerror(e)
                continue
            nxt += [d.rstrip("/") + "/" + n for n in sorted(names)
                    if fnmatch.fnmatchcase(n, part) and (part.startswith(".") or not n.startswith("."))]
        found = nxt
    return found


def library_dirs(root: str, tuple_: str, onerror=None):
    """conf dirs first, then the default dirs; each once, only those that exist in the image.
    onerror: as conf_dirs'."""
    out = []
    for d in conf_dirs(root, onerror=onerror) + default_dirs(tuple_):
        if d not in out and rootfs.is_dir(root, d):
            out.append(d)
    return out


# Where an image keeps what it runs besides its library directories: its programs, and the roots of
# the Python installs the walk looks for (audit/scan.py)
PROGRAM_DIRS = ("/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local", "/opt")


def with_real_places(root: str, dirs):
    """Each of dirs by its own name and by its real place in the image (/lib is /usr/lib on a
    merged-/usr image), each once."""
    real_root = os.path.realpath(root)
    out = []
    for d in dirs:
        host = rootfs.lookup(root, d)
        for name in [d] + ([] if host is None else [os.path.realpath(host)[len(real_root):] or "/"]):
            if name not in out:
                out.append(name)
    return out


def code_dirs(root: str, tuple_: str):
    """The image's library directories and PROGRAM_DIRS, by name and by real place."""
    return with_real_places(root, library_dirs(root, tuple_) + list(PROGRAM_DIRS))

"""Finding what to audit: the ELF files under the paths given (or the whole image), and Python code.

Paths are image paths (the host's when there is no --root). Directories are walked without
following symlinks to directories; a symlink to a file counts as that file, so each inode is
audited once. Nothing is executed and only the first bytes of a file are read here.
"""
import os
import re
import stat
from typing import Iterator, List, Tuple

from ..walk import walk as walk_tree

ELF_MAGIC = b"\x7fELF"
PSEUDO = ("/proc", "/sys", "/dev", "/run")
LIBRARY_NAME = re.compile(r"^lib.*\.so(\.[0-9.]+)?$|\.so(\.[0-9.]+)?$")
LINKER_SCRIPT_WORDS = (b"INPUT", b"GROUP", b"OUTPUT_FORMAT")
PYTHON_CODE = (".py", ".pyc")


def host_path(root: str, image_path: str) -> str:
    """The host path of an image path that has no symlinks left in it (a real path, or a walked one)."""
    return os.path.join(root, image_path.lstrip("/")) if root else image_path


def image_path(root: str, host: str) -> str:
    if not root:
        return host
    rel = os.path.relpath(host, root)
    return "/" if rel == "." else "/" + rel


def walk(root: str, start_realpath: str, skip_pseudo: bool) -> Iterator[str]:
    """Image paths of the files and symlinks under start_realpath (an image real path), sorted."""
    top = host_path(root, start_realpath)
    for dirpath, dirnames, filenames in walk_tree(top, onerror=lambda e: None):
        dirnames.sort()
        ipath = image_path(root, dirpath)
        if skip_pseudo:
            dirnames[:] = [d for d in dirnames
                           if os.path.join(ipath, d) not in PSEUDO and not os.path.islink(os.path.join(dirpath, d))]
        else:
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(filenames):
            yield os.path.join(ipath, name)


def sniff(host: str) -> Tuple[str, bytes]:
    """("elf" | "other" | "not-regular" | "unreadable:<errno>", first bytes) of a host real path."""
    try:
        st = os.stat(host)
    except OSError as e:
        return "unreadable:%d" % e.errno, b""
    if not stat.S_ISREG(st.st_mode):
        return "not-regular", b""
    try:
        fd = os.open(host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as e:
        return "unreadable:%d" % e.errno, b""
    try:
        head = os.read(fd, 1024)
    except OSError as e:
        return "unreadable:%d" % e.errno, b""
    finally:
        os.close(fd)
    return ("elf" if head.startswith(ELF_MAGIC) else "other"), head


def looks_like_library(name: str) -> bool:
    return bool(LIBRARY_NAME.search(name))


def is_linker_script(head: bytes) -> bool:
    """A GNU ld script (libc.so, libtermcap.so...): text for the link editor, never loaded by ld.so."""
    text = all(b in b"\t\n\r" or 0x20 <= b < 0x7f for b in head)
    return text and any(w in head for w in LINKER_SCRIPT_WORDS)


def python_installs(root: str) -> List[str]:
    """Image paths of the Python library trees of an image (usr/lib/pythonX.Y, usr/local/lib/pythonX.Y)."""
    out = []
    for base in ("/usr/lib", "/usr/local/lib"):
        try:
            names = sorted(os.listdir(host_path(root, base)))
        except OSError:
            continue
        for n in names:
            if re.match(r"^python\d+(\.\d+)?$", n) and os.path.isdir(host_path(root, os.path.join(base, n))):
                out.append(os.path.join(base, n))
    return out


def python_code(root: str, tree_realpath: str) -> Iterator[str]:
    """Image paths of .py, .pyc and extension modules under a Python tree."""
    for path in walk(root, tree_realpath, skip_pseudo=False):
        name = os.path.basename(path)
        if name.endswith(PYTHON_CODE) or (name.endswith(".so") and (".cpython-" in name or name.endswith(".abi3.so"))):
            yield path

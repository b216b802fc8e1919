"""Where the installed shim is, and how the system loader is told to use it."""
import os
import pathlib
from typing import List

_HERE = pathlib.Path(__file__).resolve().parent
LD_SO_PRELOAD = "/etc/ld.so.preload"


def lib_path() -> str:
    """Absolute path of the libexeccheck.so installed with this package."""
    return str(_HERE / "libexeccheck.so")


def read_ld_so_preload(path: str = LD_SO_PRELOAD) -> List[str]:
    """The entries of an ld.so.preload file as glibc's rtld.c reads them: separated by whitespace
    or ':', '#' to the end of the line is a comment. A missing file gives []."""
    try:
        with open(path, "rb") as f:
            data = f.read(1 << 20)
    except FileNotFoundError:
        return []
    entries = []
    for line in data.split(b"\n"):
        line = line.split(b"#", 1)[0]
        for item in line.replace(b":", b" ").replace(b"\t", b" ").split():
            entries.append(os.fsdecode(item))
    return entries


def names_shim(entry: str, shim: str) -> bool:
    """Does this preload entry load the given shim file (same inode, or a bare name that is it)?"""
    try:
        a, b = os.stat(entry), os.stat(shim)
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
    except OSError:
        return os.path.basename(entry) == os.path.basename(shim) and "/" not in entry

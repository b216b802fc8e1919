"""Finding what to audit: the ELF files under the paths given (or the whole image), and Python code.

Paths are image paths (the host's when there is no --root). Directories are walked without
following symlinks to directories; a symlink to a file counts as that file, so each inode is
audited once. Nothing is executed and only the first bytes of a file are read here.
"""
import errno
import os
import re
from typing import Iterator, List, Tuple

from ..image import rootfs
from ..walk import walk as walk_tree

ELF_MAGIC = b"\x7fELF"
PSEUDO = ("/proc", "/sys", "/dev", "/run")
LIBRARY_NAME = re.compile(r"^lib.*\.so(\.[0-9.]+)?$|\.so(\.[0-9.]+)?$")
LINKER_SCRIPT_WORDS = (b"INPUT", b"GROUP", b"OUTPUT_FORMAT")
# What the CPython face has checked when Python runs it: what its open_code hook reads (modules,
# bytecode, .pth files, zip archives) and what ld.so maps (extension modules: any .so the import
# system finds, tagged or not). `image prepare` gives these an x bit; the audit counts them.
PYTHON_CODE = (".py", ".pyc", ".pth", ".zip", ".so")
# Outside the Python installs, a program's private modules (Debian's /usr/share/PKG and /usr/lib/PKG:
# py3compile's debpython, gdb's and gcc's printers) are imported by the scripts that put those
# directories on sys.path: the modules and their caches are code there, nothing else.
PRIVATE_PYTHON_CODE = (".py", ".pyc")
PRIVATE_PYTHON_PARENTS = ("/usr/share", "/usr/lib", "/usr/local/share", "/usr/local/lib")
NOT_PRIVATE_PYTHON = ("doc",)  # examples to read, not modules anything imports


def host_path(root: str, image_path: str) -> str:
    """The host path of an image path that has no symlinks left in it (a real path, or a walked one)."""
    return os.path.join(root, image_path.lstrip("/")) if root else image_path


def image_path(root: str, host: str) -> str:
    if not root:
        return host
    rel = os.path.relpath(host, root)
    return "/" if rel == "." else "/" + rel


def walk(root: str, start_realpath: str, skip_pseudo: bool, walker: rootfs.ImageWalk = None,
         listed: bool = False) -> Iterator[str]:
    """Image paths of the files and symlinks under start_realpath (an image real path), sorted;
    walker (if given) walks, and keeps what it cannot list or leaves for another mount (listed:
    start was found a directory by an earlier walk, ImageWalk.walk's)."""
    top = host_path(root, start_realpath)
    for dirpath, dirnames, filenames in (walker.walk(top, listed) if walker is not None else walk_tree(top)):
        dirnames.sort()
        ipath = image_path(root, dirpath)
        if skip_pseudo:
            dirnames[:] = [d for d in dirnames
                           if os.path.join(ipath, d) not in PSEUDO and not os.path.islink(os.path.join(dirpath, d))]
        else:
            dirnames[:] = [d for d in dirnames if not os.path.islink(os.path.join(dirpath, d))]
        for name in sorted(filenames):
            yield os.path.join(ipath, name)


def sniff(host: str, root: str = "") -> Tuple[str, bytes]:
    """("elf" | "other" | "not-regular" | "unreadable:<errno>", first bytes) of a host real path;
    in an image (root), opened from ROOT (rootfs.open_regular): a name on its path turned into a
    symlink since the real path was found is ELOOP, not a look at the host's file."""
    try:
        with rootfs.open_regular(root, host) as f:
            head = f.read(1024)
    except OSError as e:
        return ("not-regular", b"") if e.errno == errno.EINVAL else ("unreadable:%d" % e.errno, b"")
    return ("elf" if head.startswith(ELF_MAGIC) else "other"), head


def looks_like_library(name: str) -> bool:
    return bool(LIBRARY_NAME.search(name))


def is_linker_script(head: bytes) -> bool:
    """A GNU ld script (libc.so, libtermcap.so...): text for the link editor, never loaded by ld.so."""
    text = all(b in b"\t\n\r" or 0x20 <= b < 0x7f for b in head)
    return text and any(w in head for w in LINKER_SCRIPT_WORDS)


def python_trees(root: str, walker: rootfs.ImageWalk = None) -> List[Tuple[str, bool]]:
    """The image's Python library trees, as (image path, listed: tree_listed's answer when it was
    found): every <prefix>/lib/python3.X (the stdlib when it holds os.py, else its
    site-/dist-packages: a virtual environment, /usr/local) under /usr, /usr/local and /opt, and
    Debian's /usr/lib/python3/dist-packages. walker: as for walk() (a tree found is walked with it
    too: one on another mount is left then)."""
    found = {}
    for prefix in ("/usr", "/usr/local", "/opt"):
        host = rootfs.lookup(root, prefix)
        if host is None:  # a symlink that names no directory: no tree there
            continue
        for dirpath, dirnames, filenames in (walker.walk(host) if walker is not None else walk_tree(host)):
            rel = dirpath[len(host):]
            name = os.path.basename(dirpath)
            if name.startswith("python3") and os.path.basename(os.path.dirname(dirpath)) in ("lib", "lib64"):
                if "os.py" in filenames:  # a directory the walk entered: no symlink
                    found[rootfs.image_path(root, dirpath)] = True
                else:  # listed by the walk a moment ago: a symlink to a directory, or one itself
                    for d in ("site-packages", "dist-packages"):
                        if d in dirnames:
                            found[rootfs.image_path(root, os.path.join(dirpath, d))] = \
                                not os.path.islink(os.path.join(dirpath, d))
                dirnames[:] = []
                continue
            # /usr/lib/pythonX, /usr/local/lib/..., /opt/<app>/[venv/]lib/... : not deeper than that
            depth = rel.count(os.sep)
            if depth >= (5 if prefix == "/opt" else 2):
                dirnames[:] = []
            elif prefix != "/opt" and depth == 0:
                dirnames[:] = [d for d in dirnames if d in ("lib", "lib64")]
    dist = "/usr/lib/python3/dist-packages"
    if rootfs.is_dir(root, dist):
        found[dist] = found.get(dist, False) or tree_listed(root, dist)
    return sorted(found.items())


def private_python_trees(root: str, walker: rootfs.ImageWalk = None) -> List[Tuple[str, bool]]:
    """The (image path, listed) of the directories PARENT/PKG (PRIVATE_PYTHON_PARENTS) that hold
    Python modules of a program's own (a PRIVATE_PYTHON_CODE file at any depth), outside the Python
    installs (lib/python*, which python_trees covers) and the documentation. Each is a directory
    its parent's listing found, no symlink: listed."""
    found = []
    for parent in PRIVATE_PYTHON_PARENTS:
        if not rootfs.is_dir(root, parent):
            continue
        host = rootfs.resolve(root, parent)
        try:
            names = sorted(os.listdir(host))
        except OSError as e:
            if walker is not None:
                walker.error(e)
            continue
        for pkg in names:
            top = os.path.join(host, pkg)
            # lib/python*: python_trees' (/usr/share/python3 is Debian's helpers, no install)
            installs = parent.endswith("/lib") and pkg.startswith("python")
            if installs or pkg in NOT_PRIVATE_PYTHON or os.path.islink(top) or not os.path.isdir(top):
                continue
            for _dirpath, _dirnames, filenames in (walker.walk(top) if walker is not None else walk_tree(top)):
                if any(n.endswith(PRIVATE_PYTHON_CODE) for n in filenames):
                    found.append((rootfs.image_path(root, top), True))
                    break
    return found


def python_code_trees(root: str, walker: rootfs.ImageWalk = None) -> List[Tuple[str, tuple, bool]]:
    """[(image path of a tree, the suffixes of its Python code files, listed)]: the Python installs
    (PYTHON_CODE) and the private module directories (PRIVATE_PYTHON_CODE). What `image prepare`
    marks and the audit counts (EXC060). listed (tree_listed's answer when the tree was found):
    the tree is walked by its own path, never through a symlink put in its place since (a tree
    gone, or a symlink now, to another of the image's directories too, is a change of the root:
    ImageWalk.walk(listed=True)); else looked up when walked, as a symlink leads then. image
    prepare and the audit (verify) both take this, so they tell the same change."""
    return [(t, PYTHON_CODE, listed) for t, listed in python_trees(root, walker)] + \
        [(t, PRIVATE_PYTHON_CODE, listed) for t, listed in private_python_trees(root, walker)]


def tree_listed(root: str, tree: str) -> bool:
    """Is the Python tree `tree` (an image path) a directory by its own path, no symlink on it?
    Then a walk's listing could find it, and its walk finding it gone (or no directory, or a
    symlink) meets a root that changed since. A tree named through a symlink (Debian's
    /usr/lib/python3/dist-packages may be one, or lie under one) that names no directory now is a
    broken link: nothing."""
    try:
        return rootfs.resolve(root, tree) == host_path(os.path.abspath(root), tree) and \
            not os.path.islink(host_path(os.path.abspath(root), tree))
    except OSError:
        return False


def python_code(root: str, tree_realpath: str, walker: rootfs.ImageWalk = None,
                suffixes: tuple = PYTHON_CODE, listed: bool = False) -> Iterator[str]:
    """Image paths of the Python code files (names ending in suffixes) under a Python tree
    (listed: tree_listed's answer for it)."""
    for path in walk(root, tree_realpath, skip_pseudo=False, walker=walker, listed=listed):
        name = os.path.basename(path)
        if name.endswith(suffixes):
            yield path

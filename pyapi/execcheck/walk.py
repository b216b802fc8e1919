"""os.walk without recursion, for trees that may be hostile (images under audit).

CPython before 3.12 walks by recursing once per directory level, so a tree deeper than about
1,000 levels ended `execcheck audit --root` and `image prepare` with a RecursionError. This walk
keeps its own stack and otherwise behaves as os.walk(top, onerror=onerror): top-down, dirnames
may be pruned in place, symlinks to directories are listed in dirnames but not entered (nor one
that takes a directory's place between its parent's listing and its own, nor another directory
moved or linked into the way since: each is entered only as the inode its parent listed)."""
import errno
import os
from typing import Callable, Iterator, List, Optional, Tuple

O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC


def walk(top: str, onerror: Optional[Callable[[OSError], None]] = None,
         link_is_dir: Optional[Callable[[str], bool]] = None,
         open_top: Optional[Callable[[str], int]] = None) -> Iterator[Tuple[str, List[str], List[str]]]:
    """link_is_dir(path): does the symlink at path lead to a directory (default: followed on this
    host; an image's walk follows it inside the image). open_top(top): a descriptor of top's
    directory (default: opened by its path, symlinks followed)."""
    stack = [(top, None)]
    while stack:
        path, ident = stack.pop()
        try:
            entries = _listing(path, ident, link_is_dir, open_top if path is top else None)
        except OSError as e:
            if onerror is not None:
                onerror(e)
            continue
        dirnames = [name for name, is_dir, _ in entries if is_dir]
        filenames = [name for name, is_dir, _ in entries if not is_dir]
        idents = {name: ident for name, is_dir, ident in entries if is_dir}
        yield path, dirnames, filenames
        for name in reversed(dirnames):  # popped in the order left after pruning
            if idents.get(name) is not None:  # a symlink (None) is never entered
                stack.append((os.path.join(path, name), idents[name]))


def _told(path: str, entry, link_is_dir) -> Tuple[str, bool, Optional[tuple]]:
    """(name, is it a directory or a symlink to one, the (dev, ino) of a directory itself, None
    for a symlink)."""
    try:
        if entry.is_symlink():
            is_dir = link_is_dir(os.path.join(path, entry.name)) if link_is_dir is not None else entry.is_dir()
            return entry.name, is_dir, None
        if not entry.is_dir(follow_symlinks=False):
            return entry.name, False, None
        st = entry.stat(follow_symlinks=False)  # a mount point's: the root of what is mounted
        return entry.name, True, (st.st_dev, st.st_ino)
    except OSError:
        return entry.name, False, None


def _listing(path: str, ident, link_is_dir, open_top) -> List[Tuple[str, bool, Optional[tuple]]]:
    """_told() of each entry of the directory path. Below top (ident: its (dev, ino) when its
    parent was listed) it is opened without following a symlink in its place now (one swapped in
    since, to / or out of an image, fails ENOTDIR or ELOOP instead of being walked), and must be
    that inode: another directory there now (a directory on its path swapped for a symlink to
    another place, or renamed over) fails ESTALE. Its entries are told while it is open."""
    if ident is None:
        fd = open_top(path) if open_top is not None else os.open(path, O_DIR)
    else:
        fd = os.open(path, O_DIR | os.O_NOFOLLOW)
    try:
        if ident is not None:
            st = os.fstat(fd)
            if (st.st_dev, st.st_ino) != ident:
                raise OSError(errno.ESTALE, "another directory than the one listed is there now", path)
        with os.scandir(fd) as it:
            return [_told(path, e, link_is_dir) for e in it]
    finally:
        os.close(fd)

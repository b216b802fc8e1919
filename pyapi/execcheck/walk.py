"""os.walk without recursion, for trees that may be hostile (images under audit).

CPython before 3.12 walks by recursing once per directory level, so a tree deeper than about
1,000 levels ended `execcheck audit --root` and `image prepare` with a RecursionError. This walk
keeps its own stack and otherwise behaves as os.walk(top, onerror=onerror): top-down, dirnames
may be pruned in place, symlinks to directories are listed in dirnames but not entered (nor one
that takes a directory's place between its parent's listing and its own)."""
import os
from typing import Callable, Iterator, List, Optional, Tuple


def walk(top: str, onerror: Optional[Callable[[OSError], None]] = None) -> Iterator[Tuple[str, List[str], List[str]]]:
    stack = [top]
    while stack:
        path = stack.pop()
        try:
            entries = _listing(path, follow=path is top)
        except OSError as e:
            if onerror is not None:
                onerror(e)
            continue
        dirnames = [name for name, is_dir, _ in entries if is_dir]
        filenames = [name for name, is_dir, _ in entries if not is_dir]
        links = {name for name, is_dir, is_link in entries if is_dir and is_link}
        yield path, dirnames, filenames
        for name in reversed(dirnames):  # popped in the order left after pruning
            if name not in links:  # as listed: one that is a symlink by now fails in _listing, and says so
                stack.append(os.path.join(path, name))


def _told(entry) -> Tuple[str, bool, bool]:
    try:
        is_dir = entry.is_dir()
        return entry.name, is_dir, is_dir and entry.is_symlink()
    except OSError:
        return entry.name, False, False


def _listing(path: str, follow: bool) -> List[Tuple[str, bool, bool]]:
    """(name, is it a directory or a symlink to one, is it a symlink to one) of each entry of the
    directory path. Below top (follow False) it was a directory, no symlink, when its parent was
    listed: opened without following a symlink in its place now (one swapped in since, to / or out
    of an image, fails ENOTDIR instead of being walked); its entries are told while it is open."""
    if follow:
        with os.scandir(path) as it:
            return [_told(e) for e in it]
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        with os.scandir(fd) as it:
            return [_told(e) for e in it]
    finally:
        os.close(fd)

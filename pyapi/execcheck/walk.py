"""os.walk without recursion, for trees that may be hostile (images under audit).

CPython before 3.12 walks by recursing once per directory level, so a tree deeper than about
1,000 levels ended `execcheck audit --root` and `image prepare` with a RecursionError. This walk
keeps its own stack and otherwise behaves as os.walk(top, onerror=onerror): top-down, dirnames
may be pruned in place, symlinks to directories are listed in dirnames but not entered."""
import os
from typing import Callable, Iterator, List, Optional, Tuple


def walk(top: str, onerror: Optional[Callable[[OSError], None]] = None) -> Iterator[Tuple[str, List[str], List[str]]]:
    stack = [top]
    while stack:
        path = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = list(it)
        except OSError as e:
            if onerror is not None:
                onerror(e)
            continue
        dirnames, filenames = [], []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            (dirnames if is_dir else filenames).append(entry.name)
        yield path, dirnames, filenames
        for name in reversed(dirnames):  # popped in the order left after pruning
            sub = os.path.join(path, name)
            if not os.path.islink(sub):
                stack.append(sub)

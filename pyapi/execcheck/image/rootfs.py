"""Paths inside an image root: every symlink, absolute ones too, is the image's."""
import os
import stat

MAX_LINKS = 40  # as the kernel: a loop ends the walk


class RootPathError(OSError):
    pass


def resolve(root: str, path: str, follow_last: bool = True) -> str:
    """The host path of `path` as the image sees it: components are walked one by one, an
    absolute symlink restarts at root, '..' never climbs above root. The result may not exist."""
    root = os.path.abspath(root)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    done = []  # components resolved so far, inside root
    links = 0
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        host = os.path.join(root, *done, name)
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            done.append(name)
            done.extend(p for p in parts if p not in ("..",))
            break
        if stat.S_ISLNK(st.st_mode) and (parts or follow_last):
            links += 1
            if links > MAX_LINKS:
                raise RootPathError(40, "too many levels of symbolic links", path)
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
            continue
        done.append(name)
    return os.path.join(root, *done)


def image_path(root: str, host_path: str) -> str:
    """The image's own absolute path for a host path under root."""
    rel = os.path.relpath(host_path, os.path.abspath(root))
    return "/" if rel == "." else "/" + rel

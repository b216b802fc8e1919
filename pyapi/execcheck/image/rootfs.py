"""Paths inside an image root: every symlink, absolute ones too, is the image's."""
import errno
import os
import stat

from ..walk import walk as walk_tree

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


def mount_of(host: str):
    """Which mount the file at host (itself, not a link's target) is on: (st_dev, /proc's mnt_id of
    an O_PATH descriptor, or None without /proc). A bind mount of the image's own file system has
    its st_dev, not its mnt_id."""
    fd = os.open(host, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        dev = os.fstat(fd).st_dev
        try:
            with open("/proc/self/fdinfo/%d" % fd) as f:
                mnt = next((int(line.split()[1]) for line in f if line.startswith("mnt_id:")), None)
        except (OSError, ValueError):
            mnt = None
    finally:
        os.close(fd)
    return dev, mnt


def root_mount(root: str, any_mount: bool):
    """ROOT's mount (mount_of the directory it leads to) for on_other_mount, or None with
    --any-mount (every mount inside ROOT is the image's)."""
    return None if any_mount else mount_of(os.path.realpath(root))


def on_other_mount(root_mount, host: str) -> bool:
    """Is host (where it does not exist yet, the nearest directory above it) on another mount than
    root_mount, ROOT's? A host directory bind-mounted into an image is no part of it: a step that
    writes there writes to the host. root_mount None: every mount is the image's (--any-mount)."""
    if root_mount is None:
        return False
    while True:
        try:
            dev, mnt = mount_of(host)
            break
        except FileNotFoundError:
            host = os.path.dirname(host)
    return dev != root_mount[0] or None not in (mnt, root_mount[1]) and mnt != root_mount[1]


class ImageWalk:
    """Directory walks inside one image that keep account of what they leave out: a directory on
    another mount than ROOT's is not entered (a host directory bind-mounted into the image is no
    part of it; any_mount: every mount is the image's), and what cannot be read (a directory it may
    not list, a file it may not open, as a user other than root) is named, so a caller can say its
    answer is incomplete instead of silently smaller. A directory listed by its parent and gone (or
    a file or a symlink now) when the walk comes to it goes to onchange, if given: the tree changed
    during the walk. Paths kept are host paths."""

    def __init__(self, root: str, any_mount: bool, onerror=None, onchange=None):
        self.root = os.path.abspath(root)
        self.mount = None if any_mount else mount_of(os.path.realpath(root))
        self.other_mounts = {}  # host path of each mount point not entered (ordered, each once)
        self.unreadable = {}    # host path -> OSError
        self._onerror = onerror
        self._onchange = onchange

    def error(self, e: OSError) -> None:
        """A path that could not be read; one gone since it was listed, or a loop of symlinks (no
        file at all), is no loss."""
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP) or e.filename in self.unreadable:
            return
        self.unreadable[e.filename] = e
        if self._onerror is not None:
            self._onerror(e)

    def _unlisted(self, top: str, e: OSError) -> None:
        """A directory of the walk that could not be listed. Below top, each was a directory (not a
        symlink) in its parent's listing: not there now, or a file or a symlink, it changed since."""
        if e.filename != top and e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP) and self._onchange:
            self._onchange(e)
            return
        self.error(e)

    def elsewhere(self, host: str) -> bool:
        """Is the directory host on another mount than ROOT's (then noted, and not to be entered)?"""
        if self.mount is None:
            return False
        try:
            other = on_other_mount(self.mount, host)
        except OSError:  # not even looked at: its listing fails, and says why
            return False
        if other:
            self.other_mounts.setdefault(self._mount_point(host), None)
        return other

    def _mount_point(self, host: str) -> str:
        """The top of the other mount host is on, below ROOT (a walk that starts at /usr/lib of a
        separate /usr meets /usr)."""
        while True:
            parent = os.path.dirname(host)
            if parent in (host, self.root) or not parent.startswith(self.root.rstrip("/") + "/"):
                return host
            try:
                if not on_other_mount(self.mount, parent):
                    return host
            except OSError:
                return host
            host = parent

    def walk(self, top: str):
        """walk.walk(top) on ROOT's mount: top-down, dirnames may be pruned in place."""
        if self.elsewhere(top):
            return
        for dirpath, dirnames, filenames in walk_tree(top, onerror=lambda e: self._unlisted(top, e)):
            dirnames[:] = [d for d in dirnames if not self.elsewhere(os.path.join(dirpath, d))]
            yield dirpath, dirnames, filenames


def holding(mount_points, dirs) -> list:
    """The image paths in mount_points at or above one of dirs (image paths)."""
    return [mp for mp in mount_points if any(d == mp or d.startswith(mp.rstrip("/") + "/") for d in dirs)]

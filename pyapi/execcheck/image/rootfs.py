"""Paths inside an image root: every symlink, absolute ones too, is the image's."""
import errno
import os
import stat

from ..safeio import regular_file
from ..walk import walk as walk_tree

MAX_LINKS = 40  # as the kernel: a loop ends the walk
# why a symlink a walk met cannot be followed, when it names no file for anyone (the image's own
# programs get the same answer from the kernel): dangling, a loop, a chain of more than 40 links, a
# target through a regular file or with a component longer than 255 bytes. Nothing to examine.
BROKEN_LINK = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENAMETOOLONG)
# a file met a moment ago that is no longer there, or another file in its place (ESTALE: what was
# read is another inode than the one looked up): the tree changed under the walk
GONE = (errno.ENOENT, errno.ENOTDIR, errno.ESTALE)


class RootPathError(OSError):
    pass


def resolve(root: str, path: str, follow_last: bool = True, within: str = "/") -> str:
    """The host path of `path` as the image sees it: components are walked one by one, an
    absolute symlink restarts at root, '..' never climbs above root. The result may not exist.
    within: the image directory a relative path starts from, one with no symlink on its path (a
    directory a walk entered: a symlink's own directory), not looked at again."""
    root = os.path.abspath(root)
    parts = [p for p in path.split("/") if p not in ("", ".")]
    # components resolved so far, inside root
    done = [] if path.startswith("/") else [p for p in within.split("/") if p not in ("", ".")]
    links = 0
    base = root.rstrip("/") + "/"  # os.path.join's result, without its cost once per name
    while parts:
        name = parts.pop(0)
        if name == "..":
            if done:
                done.pop()
            continue
        host = base + "/".join(done + [name])
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


def lookup(root: str, path: str, follow_last: bool = True):
    """resolve()'s host path of `path`, or None where a symlink on the way names no file
    (BROKEN_LINK: a loop, a chain over 40 links, a link through a regular file or with a name over
    255 bytes): the image's programs find nothing there either, so a step that looks for a tree or
    a file of the image (is there a /usr/local? an /etc/ld.so.preload?) finds none, instead of
    taking the image for unreadable. The result may not exist, as resolve()'s."""
    try:
        return resolve(root, path, follow_last)
    except OSError as e:
        if e.errno in BROKEN_LINK:
            return None
        raise


def is_dir(root: str, path: str) -> bool:
    """Does `path` name a directory in the image (lookup())?"""
    host = lookup(root, path)
    return host is not None and os.path.isdir(host)


def lookup_failure(host: str, err: int):
    """What a failed lookup (errno err) of a name a walk listed, at host, means, as (kind, how,
    errno): kind "broken-link" (a symlink that names no file: nothing to examine), "changed" (the
    name is no longer there, or is there and was not found: the tree changed under the walk; how
    says which) or "unreadable" (no search permission, EIO, a lookup that kept racing, a FUSE
    file system's refusal: a file left unexamined)."""
    try:
        st = os.lstat(host)
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ENOTDIR):
            return "changed", "removed or renamed since it was listed", e.errno
        return "unreadable", "", e.errno
    if stat.S_ISLNK(st.st_mode) and err in BROKEN_LINK:
        return "broken-link", "", err
    if err in GONE:
        return "changed", "replaced since it was listed", err
    return "unreadable", "", err


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
    a file or a symlink now) when the walk comes to it, or a name its caller found changed
    (changed()), is kept too, and goes to onchange, if given: the tree changed during the walk.
    Paths kept are host paths."""

    def __init__(self, root: str, any_mount: bool, onerror=None, onchange=None):
        self.in_image = bool(root)  # "" (audit of this system): symlinks and paths are the host's
        self.root = os.path.abspath(root)
        self.mount = None if any_mount else mount_of(os.path.realpath(root))
        self.other_mounts = {}  # host path of each mount point not entered (ordered, each once)
        self.unreadable = {}    # host path -> OSError
        self.changes = {}       # host path -> OSError (its strerror says how it changed)
        self._onerror = onerror
        self._onchange = onchange

    def changed(self, host: str, how: str, err: int) -> None:
        """The name at host changed since the walk listed it (errno err tells how it was seen)."""
        e = OSError(err, how, host)
        self.changes.setdefault(host, e)
        if self._onchange is not None:
            self._onchange(e)

    def unread(self, host: str, err: int) -> None:
        """The name at host is there and could not be examined (errno err)."""
        e = OSError(err, os.strerror(err), host)
        self.unreadable.setdefault(host, e)
        if self._onerror is not None:
            self._onerror(e)

    def lookup_failed(self, host: str, err: int) -> str:
        """A name the walk listed whose lookup failed (errno err), kept as lookup_failure says;
        returns its kind."""
        kind, how, err = lookup_failure(host, err)
        if kind == "changed":
            self.changed(host, how, err)
        elif kind == "unreadable":
            self.unread(host, err)
        return kind

    def error(self, e: OSError) -> None:
        """A path that could not be read; one that is not there (a directory ld.so.conf names that
        the image lacks), or a loop of symlinks (no file at all), is no loss. A name a walk listed
        goes to lookup_failed instead, which tells a change from a broken link."""
        if e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP) or e.filename in self.unreadable:
            return
        self.unreadable[e.filename] = e
        if self._onerror is not None:
            self._onerror(e)

    def _unlisted(self, top: str, e: OSError, listed: bool) -> None:
        """A directory of the walk that could not be listed. Below top (and top, when listed),
        each was a directory (not a symlink) when it was listed: not there now, or a file or a
        symlink, it changed since; another directory there now (ESTALE) changed too. In an image,
        top is a path resolve() found free of symlinks, opened without following one (open_top):
        a symlink on it now (ELOOP) is a change as well."""
        if e.errno == errno.ESTALE or e.errno == errno.ELOOP and e.filename == top and self.in_image or \
                (e.filename != top or listed) and e.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            self.changed(e.filename, "removed, renamed or replaced since its parent was listed", e.errno)
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

    def link_is_dir(self, host: str) -> bool:
        """Does the symlink at host (in a directory the walk entered) lead to a directory of the
        image? An absolute one is followed from ROOT, as resolve() does: never to the host's file
        of that name."""
        try:
            # the link's directory, a walk's, is under ROOT (its image path: what follows ROOT)
            target = resolve(self.root, os.readlink(host), within=os.path.dirname(host)[len(self.root):])
        except OSError as e:
            if e.errno in BROKEN_LINK:
                return False
            raise
        return os.path.isdir(target)

    def open_top(self, top: str) -> int:
        """A descriptor of the directory top for its listing, opened from ROOT (open_beneath)."""
        return open_beneath(self.root, top, os.O_RDONLY | os.O_DIRECTORY)

    def walk(self, top: str, listed: bool = False):
        """walk.walk(top) on ROOT's mount: top-down, dirnames may be pruned in place. listed: top
        was found a directory by an earlier walk, so that it is gone now is a change too (else a
        missing top, a library directory ld.so.conf names that the image lacks, is nothing). In an
        image, top is opened from ROOT (open_top) and symlinks are told inside the image."""
        if self.elsewhere(top):
            return
        image = {"link_is_dir": self.link_is_dir, "open_top": self.open_top} if self.in_image else {}
        for dirpath, dirnames, filenames in walk_tree(top, onerror=lambda e: self._unlisted(top, e, listed), **image):
            dirnames[:] = [d for d in dirnames if not self.elsewhere(os.path.join(dirpath, d))]
            yield dirpath, dirnames, filenames


def open_beneath(root: str, host: str, flags: int) -> int:
    """A descriptor of host (a host path under root with no symlink on it, as resolve() or a walk
    found it; flags for it, O_NOFOLLOW and O_CLOEXEC added), opened from root one name at a time,
    following none: a name on it replaced by a symlink since (out of the image, or to another of
    its directories) fails ELOOP instead of being gone through; gone, ENOENT. Errors name host.
    Root itself is opened as the user named it."""
    root = os.path.abspath(root)
    rel = os.path.relpath(host, root)
    if rel.startswith(".." + os.sep) or rel == "..":  # not under root: not the image's to confine
        return os.open(host, flags | os.O_CLOEXEC)
    names = [] if rel == "." else rel.split(os.sep)
    fd = os.open(root, (os.O_PATH | os.O_DIRECTORY if names else flags) | os.O_CLOEXEC)
    try:
        for i, name in enumerate(names):
            at = fd
            last = i == len(names) - 1
            fd = os.open(name, (flags if last else os.O_PATH | os.O_DIRECTORY) | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=at)
            os.close(at)
    except OSError as e:
        err = e.errno
        if err == errno.ENOTDIR and _is_link_at(fd, name):  # O_DIRECTORY's answer to a symlink
            err = errno.ELOOP
        os.close(fd)
        raise OSError(err, os.strerror(err), host) from None
    return fd


def open_regular(root: str, host: str):
    """host (under root, no symlink on it, as resolve() or a walk found it) opened for reading from
    root as open_beneath() does, if it is a regular file: a name on its path turned into a symlink
    since (a parent swapped for a link to a host directory) fails ELOOP, never reads the host's
    file. Else OSError as safeio.open_regular's (EINVAL: no regular file, looked at before it is
    opened, so no device or FIFO of the image is opened). root "": host is the host's own path
    (its directory's symlinks followed)."""
    d, name = os.path.split(host)
    try:
        dfd = open_beneath(root, d, os.O_PATH | os.O_DIRECTORY) if root else \
            os.open(d, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as e:  # named by the file asked for, as an open of it would
        raise OSError(e.errno, e.strerror, host) from None
    try:
        if not stat.S_ISREG(os.stat(name, dir_fd=dfd, follow_symlinks=False).st_mode):
            raise OSError(errno.ELOOP if _is_link_at(dfd, name) else errno.EINVAL, "not a regular file", host)
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
    except OSError as e:
        raise OSError(e.errno, e.strerror, host) from None
    finally:
        os.close(dfd)
    return regular_file(fd, host)  # another file may have been put in its place since the look


def read_regular(root: str, host: str, limit: int = 1 << 24) -> bytes:
    """The first `limit` bytes of the regular file host of the image (open_regular)."""
    with open_regular(root, host) as f:
        return f.read(limit)


def stat_beneath(root: str, host: str):
    """lstat() of host (as open_regular's), looked up from ROOT as open_beneath() does."""
    fd = open_beneath(root, host, os.O_PATH)
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def list_dir(root: str, host: str) -> list:
    """The names in the image's directory host (as open_regular's host), listed from ROOT."""
    fd = open_beneath(root, host, os.O_RDONLY | os.O_DIRECTORY)
    try:
        return os.listdir(fd)
    finally:
        os.close(fd)


class Beneath:
    """lstat() of host paths under root, each directory opened from root as open_beneath() does
    (ELOOP: a symlink on its path now) and held while the names asked for are in it (a walk's, one
    directory after another): one open per directory, not one per name on each file's path. A
    directory swapped for a symlink after it was opened is not followed: the names are looked up
    in the directory opened. close() when done."""

    def __init__(self, root: str):
        self.root = root
        self._dir, self._fd = None, -1

    def lstat(self, host: str):
        d, name = os.path.split(host)
        if d != self._dir:
            self.close()
            self._fd, self._dir = open_beneath(self.root, d, os.O_PATH | os.O_DIRECTORY), d
        return os.stat(name, dir_fd=self._fd, follow_symlinks=False)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
        self._dir, self._fd = None, -1


def _is_link_at(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def holding(mount_points, dirs) -> list:
    """The image paths in mount_points at or above one of dirs (image paths)."""
    return [mp for mp in mount_points if any(d == mp or d.startswith(mp.rstrip("/") + "/") for d in dirs)]

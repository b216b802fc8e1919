"""Undo records of the image steps, and the atomic writes they are made with.

Each step keeps its record at ROOT/var/lib/execcheck/<step>.json. Files are replaced by writing a
temporary file in the same directory and renaming it over the target, so a reader (or a crash)
sees the old or the new file, never half of one.
"""
import errno
import json
import os

from . import rootfs
from ..errors import UsageError

STATE_DIR = "/var/lib/execcheck"


class CorruptRecord(UsageError):
    """A step's record is not one execcheck wrote (an image from elsewhere may hold anything
    there): nothing is changed on its account."""


_BASES = {}  # abspath(ROOT) -> its real path when the step first wrote: later swaps do not move it


def _base(root: str) -> str:
    return _BASES.setdefault(os.path.abspath(root), os.path.realpath(root))


def _dir_inside(root: str, d: str) -> int:
    """An O_PATH descriptor of the directory d, which, held, must be inside the image (or ROOT). d
    was resolved inside the image a moment ago; whoever can write there may have turned a directory
    on its path into a symlink since (a user's image tree that root installs into): it is opened
    from ROOT one name at a time following none (rootfs.open_beneath: ELOOP then), and, held, its
    place is what /proc says now (ROOT itself replaced since the step began is no image of it); the
    write goes through that descriptor, not through the path again."""
    try:
        fd = rootfs.open_beneath(root, d, os.O_PATH | os.O_DIRECTORY)
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise OSError(e.errno, "a name on its way is a symbolic link now (none was when it was looked up in the "
                      "image): nothing written there", d) from None
    try:
        real, base = os.readlink("/proc/self/fd/%d" % fd), _base(root)
        if real != base and not real.startswith(base.rstrip("/") + "/"):
            raise OSError(errno.EXDEV, "it leads out of the image now (to %s): nothing written there" % real, d)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _by_path(e: OSError, path: str) -> OSError:
    """e named by the host path it is about: a call made in a directory descriptor names only the
    last component ("cannot change the image: lib: Read-only file system")."""
    return OSError(e.errno, e.strerror, path)


def atomic_write(root: str, path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
    d, name = os.path.split(path)
    tmp = ".%s.execcheck-tmp" % name
    dfd = _dir_inside(root, d)
    try:
        _write_in(dfd, name, tmp, data, mode, uid, gid)
    except OSError as e:
        raise _by_path(e, path) from None
    finally:
        os.close(dfd)


def _write_in(dfd: int, name: str, tmp: str, data: bytes, mode: int, uid: int, gid: int) -> None:
    # made anew, never opened: what the image holds under that name (a hard link to a file
    # outside it, a device, a FIFO that blocks) must not be written through
    try:
        os.unlink(tmp, dir_fd=dfd)
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dfd)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if os.geteuid() == 0:
                os.fchown(f.fileno(), uid, gid)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, name, src_dir_fd=dfd, dst_dir_fd=dfd)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=dfd)
        except OSError:
            pass
        raise


def _at(root: str, path: str, act) -> None:
    """act(name, dir_fd=...) on path's last name, in its directory held inside the image."""
    d, name = os.path.split(path)
    dfd = _dir_inside(root, d)
    try:
        act(name, dir_fd=dfd)
    except OSError as e:
        raise _by_path(e, path) from None
    finally:
        os.close(dfd)


def unlink(root: str, path: str) -> None:
    """Removes the file path, in its directory held inside the image (_dir_inside)."""
    _at(root, path, os.unlink)


def _relative(root: str, host: str) -> str:
    """How a record names a directory: its path relative to ROOT (never a host path, which would
    name another place once the image directory is moved or renamed)."""
    rel = os.path.relpath(host, os.path.abspath(root))
    if rel == "." or rel.startswith(".." + os.sep) or rel == "..":
        raise OSError(errno.EXDEV, "not inside the image", host)
    return rel


def makedirs_recorded(root: str, path: str, created: list, mode: int = 0o755, before=None) -> None:
    """mkdir -p of the host path path, appending each directory it made to `created`, relative to
    ROOT (so undo removes exactly those, wherever the image is then); before(), when given, runs
    once they are in `created` and before any is made (it saves the record: a step killed between
    a mkdir and its record's save left a directory undo kept). Each is made in its parent held
    inside the image (_dir_inside)."""
    missing = []
    p = path
    while not os.path.isdir(p):
        missing.append(p)
        p = os.path.dirname(p)
    if missing and before is not None:
        created.extend(_relative(root, d) for d in reversed(missing))
        before()
    for d in reversed(missing):
        _at(root, d, lambda name, dir_fd: os.mkdir(name, mode, dir_fd=dir_fd))
        if before is None:
            created.append(_relative(root, d))


def path_of(root: str, step: str) -> str:
    """The host path of the step's record: the image's STATE_DIR, its symlinks taken inside the
    image (an image whose /var points out of it must not have root write records there)."""
    return os.path.join(rootfs.resolve(root, STATE_DIR), step + ".json")


OTHER_MOUNT = "on another mount than ROOT, so no part of the image (--any-mount if that mount is the image's own)"


def load(root: str, step: str, problem, any_mount: bool = False):
    """The step's record, or None if there is none. problem(record) says what is wrong with a
    record that does not have the step's shape (or returns None): then CorruptRecord. Every step
    loads its record first: a state directory on another mount (the host's /var bound into the
    image) is refused here, before the host's records are read, written or removed."""
    p = path_of(root, step)
    if rootfs.on_other_mount(rootfs.root_mount(root, any_mount), p):
        raise UsageError("%s is %s" % (os.path.dirname(p), OTHER_MOUNT))
    try:
        # never followed: save() writes no link, and one here may lead out of the image
        record = json.loads(rootfs.read_regular(root, p).decode())
        why = problem(record)
    except FileNotFoundError:
        return None
    except OSError as e:
        why = "a symbolic link" if e.errno == errno.ELOOP else e.strerror
    except (ValueError, RecursionError) as e:  # bad UTF-8 is a ValueError too
        why = "not JSON: %s" % e.__class__.__name__
    if why:
        raise CorruptRecord("%s is not a record execcheck wrote (%s): nothing was changed" % (p, why))
    return record


def _dir_entry_ok(d) -> bool:
    """A path relative to ROOT that stays in it, or (an older execcheck's record) an absolute host
    path."""
    if not isinstance(d, str) or not d or "\0" in d:
        return False
    return d.startswith("/") or ".." not in d.split("/")


def dirs_problem(record) -> str:
    """What is wrong with record["created_dirs"], or ''."""
    dirs = record.get("created_dirs")
    if not isinstance(dirs, list) or not all(_dir_entry_ok(d) for d in dirs):
        return "created_dirs is not a list of paths relative to ROOT"
    return ""


def inside(root: str, path: str) -> bool:
    """Is path, with every symlink followed, within root (root itself excluded)?"""
    base = os.path.realpath(root)
    return os.path.realpath(path).startswith(base.rstrip("/") + "/")


CREATED = ".created-dirs"  # the state directory's own record: which of its parents were made for it


def save(root: str, step: str, record: dict) -> None:
    p = path_of(root, step)
    state = os.path.dirname(p)
    if not os.path.isdir(state):
        made = []
        makedirs_recorded(root, state, made)
        atomic_write(root, os.path.join(state, CREATED), json.dumps(made).encode(), 0o600)
    atomic_write(root, p, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode(), 0o600)


def _rmdirs(root: str, dirs, any_mount: bool = False) -> list:
    """Removes the recorded directories that are empty, deepest first, each inside the image.
    Returns the entries of an older record left: host paths that are not in ROOT (the image was
    moved since), which name no directory of this image."""
    root_mount = rootfs.root_mount(root, any_mount)
    hosts, left = set(), []
    for d in dict.fromkeys(dirs):
        if not _dir_entry_ok(d):
            continue
        if d.startswith("/"):  # an older record: the host path of then
            if not inside(root, d):
                left.append(d)  # a record's word never reaches outside the image
                continue
            hosts.add(d)
        else:
            try:
                hosts.add(rootfs.resolve(root, "/" + d, follow_last=False))  # symlinks taken inside the image
            except OSError:
                continue
    for d in sorted(hosts, key=len, reverse=True):
        try:
            if not inside(root, d) or rootfs.on_other_mount(root_mount, d):
                continue  # nor into a host directory bound into it
        except OSError:
            continue
        try:
            _at(root, d, os.rmdir)
        except OSError:
            pass  # something else lives there now, or it is no longer in the image: keep it
    return left


OLD_DIR_LEFT = "an older execcheck recorded this directory by its host path, which is not in ROOT now (the " \
               "image was moved since): nothing done there; remove it by hand if it is empty and yours"


def remove(root: str, step: str, created_dirs: list, any_mount: bool = False) -> list:
    """Removes the step's record and the directories the step made; the state directory goes
    too once no step has a record in it. Returns what _rmdirs left of an older record."""
    p = path_of(root, step)
    try:
        unlink(root, p)
    except FileNotFoundError:
        pass
    left = _rmdirs(root, created_dirs, any_mount)
    state = os.path.dirname(p)
    try:
        if rootfs.list_dir(root, state) == [CREATED]:
            made = json.loads(rootfs.read_regular(root, os.path.join(state, CREATED)).decode())
            unlink(root, os.path.join(state, CREATED))
            left += _rmdirs(root, made if isinstance(made, list) else [], any_mount)
    except (OSError, ValueError, RecursionError):
        pass
    return left

"""The mode changes enforcement needs, made and undone exactly.

Under SECBIT_EXEC_RESTRICT_FILE (or an enforcing config) every library ld.so maps and every
Python file the interpreter runs must pass AT_EXECVE_CHECK, i.e. carry an x bit. Debian ships
them 0644. prepare adds x exactly where r is (u+x if u+r, ...): it never adds a write bit, never
touches a file that is not code (ELF shared objects in library directories; .py, .pyc, .so, .pth
and .zip under the image's Python installs, .py and .pyc of programs' private module directories:
audit/scan.py's one list); a symlink is followed only inside the image.
"""
import errno
import os
import stat

from . import ldconf, manifest, rootfs
from ..audit.resolver import elf_type
from ..audit import scan
from ..audit.scan import python_code_trees

ET_DYN = 3

STEP = "prepare"


def code_mode(mode: int) -> int:
    """mode with an x bit for each class that may read the file."""
    return mode | ((mode & 0o444) >> 2)


def _is_library(root: str, host: str, st) -> bool:
    """A shared object ld.so would map (and PIE programs, which need x anyway); not separate debug
    info (/usr/lib/debug/.build-id/*.debug: ELF shared objects whose code and dynamic section have
    no bytes in the file, which ld.so refuses before mapping anything): data, never given an x bit.
    The file read is the one looked at (st), or OSError ESTALE (another is there now: the mode and
    inode planned would not be its). OSError where it cannot be read (then it cannot be told).
    Opened from ROOT (rootfs.open_beneath): not by a host path a parent swapped for a symlink since
    would lead out of the image with (a host's device opened before its inode is compared)."""
    fd = rootfs.open_beneath(root, host, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
            raise OSError(errno.ESTALE, "another file than the one looked at is there now", host)
        e_type, dynamic_empty = elf_type(host, fd, now.st_size)
    finally:
        os.close(fd)
    return e_type == ET_DYN and not dynamic_empty


def _walk_files(walker: rootfs.ImageWalk, host_dir: str, listed: bool = False):
    for dirpath, dirnames, filenames in walker.walk(host_dir, listed):
        dirnames.sort()
        for name in sorted(filenames):
            yield os.path.join(dirpath, name)


OTHER_MOUNT = "it is " + manifest.OTHER_MOUNT
NOT_ENTERED = "not walked: the mount point of a mount other than ROOT's, so no part of the image (--any-mount if " \
              "that mount is the image's own)"
CODE_NOT_ENTERED = "not walked: the mount point of a mount other than ROOT's that holds the image's libraries or " \
                   "programs, so none of them is prepared (--any-mount if that mount is the image's own, a separate /usr)"


def _scan(root: str, tuple_: str, walker: rootfs.ImageWalk):
    """({image_path: (old_mode, new_mode, why, host_path, stat)} of the code files that need an x
    bit, {(dev, ino): the host paths the walk met it under} of every file it met). What it could
    not read, what changed under it, and the other mounts it did not enter, the walker keeps."""
    seen = set()
    changes = {}
    links = {}  # (dev, ino) -> the host paths the walk found it under
    beneath = rootfs.Beneath(root)

    def look(listed, host):
        """The lstat of host (listed, the name the walk listed, or the target of its symlink: no
        symlink on its path), looked up from ROOT following none (a directory on it swapped for a
        symlink since the listing, to a host directory, would have its file taken for the
        image's: a change), or None with why said (walker.lookup_failed: a broken link is
        nothing, a name gone is a change of the root)."""
        try:
            return beneath.lstat(host)
        except OSError as e:
            if e.errno == errno.ELOOP:
                walker.changed(listed, "a symbolic link on its path since it was listed (never followed)", e.errno)
            else:
                walker.lookup_failed(listed, e.errno)
            return None

    def consider(host_path, why, want):
        """host_path: a name the walk listed as no directory."""
        st = look(host_path, host_path)
        if st is None:
            return
        if stat.S_ISLNK(st.st_mode):
            # a code file can be a link to elsewhere in the image (Debian's sitecustomize.py ->
            # /etc/python3.11/): mark the target, resolved inside the image, never outside
            try:
                target = rootfs.resolve(root, rootfs.image_path(root, host_path))
            except OSError as e:
                walker.lookup_failed(host_path, e.errno)
                return
            st = look(host_path, target)
            if st is None:
                return
            host_path = target
        elif stat.S_ISDIR(st.st_mode):  # what it holds was never walked
            walker.changed(host_path, "a directory now, no directory when it was listed", errno.EISDIR)
            return
        if not stat.S_ISREG(st.st_mode):
            return
        links.setdefault((st.st_dev, st.st_ino), set()).add(host_path)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        new = code_mode(st.st_mode)
        try:
            wanted = new != st.st_mode and want(host_path, st)
        except OSError as e:
            if e.errno in rootfs.GONE + (errno.ELOOP,):  # ELOOP: a symlink in its place (not followed)
                walker.changed(host_path, "removed, renamed or replaced before it was read", e.errno)
            else:
                walker.unread(host_path, e.errno)
            return
        if wanted:
            changes[rootfs.image_path(root, host_path)] = (stat.S_IMODE(st.st_mode), stat.S_IMODE(new), why,
                                                           host_path, st)

    try:
        _consider_all(root, tuple_, walker, consider)
    finally:
        beneath.close()
    return changes, links


def _consider_all(root: str, tuple_: str, walker: rootfs.ImageWalk, consider) -> None:
    """consider(host path, kind, want) of each name the walk of the code trees lists as no
    directory: the Python trees' code files, then every name in the library directories."""
    for d, suffixes, listed in python_code_trees(root, walker):
        # found a directory by its own path a moment ago: walked by that path, following nothing
        # (gone, or a symlink now - to another directory of the image too -, it changed: the
        # walk says so); a tree named through a symlink is looked up now, and may name nothing
        host = scan.host_path(root, d) if listed else rootfs.lookup(root, d)
        if host is None:
            continue
        for f in _walk_files(walker, host, listed):
            if f.endswith(suffixes):
                consider(f, "python", lambda p, st: True)
    for d in ldconf.library_dirs(root, tuple_, walker.error):
        host = rootfs.lookup(root, d)
        for f in _walk_files(walker, host) if host is not None else ():
            consider(f, "library", lambda p, st: _is_library(root, p, st))


def _links_outside(st, links) -> str:
    """Why a chmod of this file may reach beyond the image through a hard link, or "": a mode
    belongs to the inode, and a link whose other names the walk did not meet may be a file outside
    the image (cp -al, an ostree checkout, a link to a host file)."""
    met = len(links.get((st.st_dev, st.st_ino), ()))
    if st.st_nlink > met:
        return "it has %d hard links, of which the walk met %d: the others may be outside the image" % (
            st.st_nlink, met)
    return ""


SET_ID = ("it is set-user-ID or set-group-ID: an x bit would let more users run it with its owner's "
          "privileges")


def plan(root: str, tuple_: str, any_mount: bool = False):
    """([(image_path, old_mode, new_mode, why, (dev, ino))] for every file that needs an x bit, in path order,
    [(image_path, reason)] of those left alone: set-id files, and those a chmod would reach beyond the image
    by, the [(image_path, reason)] of what the walk did not look into: the mount points of other mounts
    (unless any_mount), and [(image_path, reason, errno name)] of what it could not read, and of what changed
    under the walk (removed, renamed or replaced after it was listed) - the changes are incomplete then)."""
    root = os.path.abspath(root)
    root_mount = rootfs.root_mount(root, any_mount)
    walker = rootfs.ImageWalk(root, any_mount)
    changes, links = _scan(root, tuple_, walker)
    left = [rootfs.image_path(root, h) for h in walker.other_mounts]
    code = rootfs.holding(left, ldconf.code_dirs(root, tuple_))
    not_walked = [(p, CODE_NOT_ENTERED if p in code else NOT_ENTERED) for p in left]
    unread = [(rootfs.image_path(root, h), "cannot be read: %s" % (e.strerror or e).lower(), _errno_name(e))
              for h, e in walker.unreadable.items()]
    changed = [(rootfs.image_path(root, h), e.strerror, _errno_name(e)) for h, e in walker.changes.items()]
    planned, skipped = [], []
    for p in sorted(changes):
        old, new, why, host, st = changes[p]
        # who may run a set-id program with its owner's privileges is what its x bits say
        # (dbus-daemon-launch-helper is 4754: its group only; a 4644 file is no program at all):
        # adding x where r is would widen that, so such a file is left and named, as a
        # set-user-ID library (secure mode's LD_PRELOAD) is: the builder decides
        reason = SET_ID if st.st_mode & (stat.S_ISUID | stat.S_ISGID) else \
            OTHER_MOUNT if rootfs.on_other_mount(root_mount, host) else _links_outside(st, links)
        if reason:
            skipped.append((p, reason))
        else:
            planned.append((p, old, new, why, (st.st_dev, st.st_ino)))
    return planned, skipped, sorted(not_walked), sorted(unread), sorted(changed)


def _errno_name(e: OSError) -> str:
    return errno.errorcode.get(e.errno, str(e.errno))


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _record_problem(record) -> str:
    if not isinstance(record, dict) or not isinstance(record.get("modes"), dict):
        return "no modes"
    for path, mode in record["modes"].items():
        if not path.startswith("/") or not _is_int(mode) or not 0 <= mode <= 0o7777:
            return "a mode that is not one"
    stamps = record.get("stamps", {})  # absent in the records of older versions
    if not isinstance(stamps, dict) or not all(
            isinstance(v, list) and len(v) == 2 and all(_is_int(x) for x in v) for v in stamps.values()):
        return "a stamp that is not [size, mtime]"
    return manifest.dirs_problem(record)


# how a planned file changed between the plan and its chmod, by the errno its look-up ends with
NOT_APPLIED = {errno.ENOENT: "removed or renamed since it was looked at: not changed",
               errno.ENOTDIR: "removed or renamed since it was looked at: not changed",
               errno.ELOOP: "a symbolic link on its path since it was looked at (never followed): not changed",
               errno.ESTALE: "another file is there since it was looked at: not changed"}


class ChangedSince(OSError):
    """The planned file is not the one looked at any more (errno ESTALE, ENOENT or ENOTDIR), or its
    mode is not (ESTALE): a chmod to the planned mode would be blind."""


class Refused(OSError):
    """The file system refuses this file a chmod (errno EPERM: an immutable or append-only file;
    EROFS: a read-only mount, with --any-mount; EACCES): it alone is left as it is."""


REFUSED = {errno.EPERM: "an immutable or append-only file (lsattr; chattr -i)",
           errno.EROFS: "", errno.EACCES: ""}


def _looked_at(root: str, host: str, ident, was: int) -> int:
    """An O_PATH descriptor of the file at host, if it is the file looked at ((dev, ino) ident),
    with the mode it had then (was, S_IMODE); else ChangedSince. Opened from ROOT following no
    symlink (rootfs.open_beneath): a directory on its path turned into a link since - out of the
    image, where the walk's look may have followed it - is ELOOP, and a symlink swapped in for its
    name or another file there is another inode."""
    try:
        fd = rootfs.open_beneath(root, host, os.O_PATH)
    except OSError as e:
        if e.errno in NOT_APPLIED:
            raise ChangedSince(e.errno, NOT_APPLIED[e.errno], host) from None
        raise
    st = os.fstat(fd)
    if (st.st_dev, st.st_ino) != ident:
        os.close(fd)
        raise ChangedSince(errno.ESTALE, NOT_APPLIED[errno.ESTALE], host)
    if stat.S_IMODE(st.st_mode) != was:
        os.close(fd)
        raise ChangedSince(errno.ESTALE, "its mode changed since it was looked at (%04o, now %04o): not changed" % (
            was, stat.S_IMODE(st.st_mode)), host)
    return fd


def _stamp(root: str, host: str, ident, was: int) -> list:
    """[size, whole seconds of mtime] of the file looked at (ChangedSince if another is at host):
    a chmod changes neither, while a package upgrade (dpkg unpacks a new file and renames it over
    the old) changes them. Whole seconds, which a tar archive of the image keeps; inode numbers a
    copied image does not."""
    fd = _looked_at(root, host, ident, was)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return [st.st_size, int(st.st_mtime)]


def apply(root: str, changes, any_mount: bool = False):
    """Records the current modes (the first record of a file wins, so revert restores the true
    original after repeated prepares; a file replaced since its record - a package upgrade - is
    recorded afresh), then chmods. A planned file replaced, removed or re-moded since the plan
    looked at it (a build step beside prepare) is neither changed nor recorded, nor is one the file
    system refuses a chmod (Refused), and the rest is applied: returns (the changes made,
    [(image path, how it changed, errno name)] of those changed since, [(image path, why, errno
    name)] of those refused)."""
    record = manifest.load(root, STEP, _record_problem, any_mount) or {"modes": {}, "created_dirs": []}
    modes, stamps = record["modes"], record.setdefault("stamps", {})
    before = {}  # path -> its (mode, stamp) before this run (None: none): put back if not changed
    due, not_applied = [], []
    for change in changes:
        path, old, _new, _why, ident = change
        try:
            stamp = _stamp(root, scan.host_path(root, path), ident, old)
        except ChangedSince as e:
            not_applied.append((path, e.strerror, _errno_name(e)))
            continue
        if path not in modes or stamps.get(path, stamp) != stamp:
            before[path] = (modes.get(path), stamps.get(path))
            modes[path], stamps[path] = old, stamp
        due.append(change)
    manifest.save(root, STEP, record)
    done, refused = [], []
    for change in due:
        path, old, new, _why, ident = change
        try:
            _chmod(root, scan.host_path(root, path), new, ident, old)
        except (ChangedSince, Refused) as e:
            (refused if isinstance(e, Refused) else not_applied).append((path, e.strerror, _errno_name(e)))
            if path in before:  # recorded for a chmod not made: revert must not take it for prepare's
                for entries, was in zip((modes, stamps), before[path]):
                    if was is None:
                        entries.pop(path, None)
                    else:
                        entries[path] = was
            continue
        done.append(change)
    if len(done) < len(due):
        manifest.save(root, STEP, record)
    return done, sorted(not_applied), refused


def _chmod(root: str, host: str, mode: int, ident, was: int) -> None:
    """chmod the file looked at ((dev, ino) ident, its mode then was), through a descriptor of
    it: ChangedSince if another file is there now, or its mode changed (_looked_at)."""
    fd = _looked_at(root, host, ident, was)
    try:
        os.chmod("/proc/self/fd/%d" % fd, mode)
    except OSError as e:  # named by the file, not by the descriptor's /proc path
        if e.errno in REFUSED:
            raise Refused(e.errno, "cannot be changed: %s%s" % (e.strerror.lower(), REFUSED[e.errno] and
                                                                 " (%s)" % REFUSED[e.errno]), host) from None
        raise OSError(e.errno, e.strerror, host) from None
    finally:
        os.close(fd)


REPLACED = "another file is there since prepare (its size or time differ: a package upgrade?): its mode is its own"


def revert(root: str, tuple_: str, any_mount: bool = False):
    """Restores every mode prepare recorded, as far as undoing prepare's change explains it.
    Returns (files restored, [(image path left as it is, why)], [(image path, why)] of those the
    file system refused a chmod: Refused), or None without a record.

    The record is the image's: each path is walked inside the image (symlinks followed only
    there, the last one not at all), and a mode is restored only if it is the file's mode now
    with x bits taken away, all prepare ever adds. Anything else (a mode changed since, a file
    replaced since - a package upgrade that ships it 0755 -, a record that would make a file
    setuid, a file on another mount or with hard links the walk of the image does not meet) is
    left and named."""
    record = manifest.load(root, STEP, _record_problem, any_mount)
    if record is None:
        return None
    root_mount = rootfs.root_mount(root, any_mount)
    links = None
    n, left, refused = 0, [], []
    for path, mode in sorted(record["modes"].items()):
        try:
            host = rootfs.resolve(root, path, follow_last=False)
            st = rootfs.stat_beneath(root, host)  # not by host path: ELOOP for a parent swapped since
        except OSError:  # gone, or a path that leaves the image
            continue
        now = stat.S_IMODE(st.st_mode)
        if not stat.S_ISREG(st.st_mode) or now == mode:
            continue
        stamp = record.get("stamps", {}).get(path)
        if stamp is not None and stamp != [st.st_size, int(st.st_mtime)]:
            left.append((path, REPLACED))  # its mode is the new file's own: prepare never changed it
            continue
        if mode & ~now or (now ^ mode) & ~0o111:
            left.append((path, "its mode changed since prepare, which only added x bits"))
            continue
        if rootfs.on_other_mount(root_mount, host):  # prepare changes no such file: the record is not its
            left.append((path, OTHER_MOUNT))
            continue
        if st.st_nlink > 1:  # nor one with links it did not meet
            links = _scan(os.path.abspath(root), tuple_, rootfs.ImageWalk(root, any_mount))[1] if links is None \
                else links
            if _links_outside(st, links):
                left.append((path, _links_outside(st, links)))
                continue
        try:
            _chmod(root, host, mode, (st.st_dev, st.st_ino), now)
        except ChangedSince as e:  # replaced or re-moded since the look above: its mode is its own
            left.append((path, e.strerror))
            continue
        except Refused as e:  # the rest is restored all the same
            refused.append((path, e.strerror))
            continue
        n += 1
    if refused:  # their record stays, for a revert once the file system allows it (chattr -i)
        kept = {p for p, _ in refused}
        record["modes"] = {p: m for p, m in record["modes"].items() if p in kept}
        record["stamps"] = {p: s for p, s in record.get("stamps", {}).items() if p in kept}
        manifest.save(root, STEP, record)
        return n, left, refused
    left += [(d, manifest.OLD_DIR_LEFT) for d in manifest.remove(root, STEP, record["created_dirs"], any_mount)]
    return n, left, refused

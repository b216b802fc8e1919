"""Set-user-ID FUSE mount helpers: programs through which any user (or a group's members) mounts a
filesystem their own daemon serves. fusermount adds nosuid,nodev, never noexec, and the daemon
reports each file's mode: a file the user can read passes the kernel's exec check there. `status`
names those of this system, the audit those of an image."""
import stat
from typing import Optional

NAMES = ("fusermount3", "fusermount")  # libfuse 3's and libfuse 2's


def who_can_mount(name: str, mode: int, uid: int, group: str) -> Optional[str]:
    """Who gets a mount of their own through the file name (its basename), of that mode and owner:
    "any user", "the members of " + group (the caller's words for the file's group), or None.
    Only a set-user-ID-root one mounts for others; a user's own copy mounts nothing they could not
    mount already."""
    if name not in NAMES or not stat.S_ISREG(mode) or uid != 0 or not mode & stat.S_ISUID:
        return None
    if mode & stat.S_IXOTH:
        return "any user"
    if mode & stat.S_IXGRP:
        return "the members of " + group
    return None


# what still holds on a filesystem a user mounted, as both consequences below end
ONLY_AN_LSM_HOLDS = "(only an LSM such as Landlock or IPE still holds then)"

# what a user namespace gives an unprivileged user, said once for status and image verify
USERNS_MOUNT = ("let any user mount a tmpfs of their own that is not noexec: a file they copy there and make 0755 "
                "passes the check " + ONLY_AN_LSM_HOLDS)


def consequence(who: str) -> str:
    """What the helper gives who, said once for status and the audit."""
    return ("%s can mount a FUSE filesystem that is not noexec, whose files have the modes its daemon reports "
            "(bindfs, fuse-overlayfs, squashfuse): a file they can read passes the exec check there %s"
            % (who, ONLY_AN_LSM_HOLDS))

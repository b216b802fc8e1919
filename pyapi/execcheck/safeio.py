"""Opening files that may be hostile (an image's, a log every user writes to) without the file
choosing what happens: a FIFO or a device in the place of /etc/ld.so.conf, an fstab or a libc
would block a plain open() or read() forever, so only a regular file is opened, and reads are
bounded."""
import errno
import os
import stat
from typing import BinaryIO


def open_regular(path: str, follow: bool = True) -> BinaryIO:
    """path opened for reading, if it is a regular file (symlinks followed unless follow is False:
    then ELOOP for one); else OSError (FileNotFoundError where it does not exist, EINVAL where it
    is no regular file)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW))
    return regular_file(fd, path)


def regular_file(fd: int, path: str) -> BinaryIO:
    """The descriptor fd, open for reading, as a file, if it is a regular file; else it is closed
    and OSError EINVAL (naming path)."""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: str, limit: int = 1 << 24, follow: bool = True) -> bytes:
    """The first `limit` bytes of the regular file at path (OSError as open_regular)."""
    with open_regular(path, follow) as f:
        return f.read(limit)

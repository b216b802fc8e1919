"""Standard output whose failures are the command's: `execcheck status >/dev/full` ended in a
traceback, and `execcheck lib >&-` (fd 1 closed, so Python's sys.stdout is None and print()
drops every line) printed nothing and exited 0, as if the result had been delivered. And with fd 2
closed, print(..., file=sys.stderr) is print(..., file=None), which writes to stdout: the error
messages ended up in the output."""
import errno
import os


class OutputError(Exception):
    """Writing standard output failed (not a reader that went away: that is BrokenPipeError)."""


class Guarded:
    """Wraps sys.stdout: a failed write or flush raises OutputError, and a closed fd 1 fails the
    first write as the fd itself would (EBADF); with nothing written there is nothing to flush
    (`execcheck run -- CMD >&-` flushes before it execs CMD)."""

    def __init__(self, stream):
        self._stream = stream

    def _do(self, method, *args):
        if self._stream is None:
            raise OutputError(os.strerror(errno.EBADF))
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            raise
        except OSError as e:
            raise OutputError(e.strerror or str(e)) from None

    def write(self, text):
        return self._do("write", text)

    def flush(self):
        return None if self._stream is None else self._do("flush")

    def __getattr__(self, name):
        return getattr(self._stream, name)


class Nowhere:
    """sys.stderr when fd 2 was closed at start: messages go nowhere, not to stdout."""

    def write(self, text):
        return len(text)

    def flush(self):
        return None

    def close(self):
        return None


def discard() -> None:
    """After a failed write to an open fd 1: points it at /dev/null, so the interpreter's own flush
    at exit neither fails again nor prints 'Exception ignored' after the command's one line."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass

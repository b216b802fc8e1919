"""Standard output whose failures are the command's: `execcheck status >/dev/full` ended in a
traceback, and `execcheck lib >&-` (fd 1 closed, so Python's sys.stdout is None and print()
drops every line) printed nothing and exited 0, as if the result had been delivered. And with fd 2
closed, print(..., file=sys.stderr) is print(..., file=None), which writes to stdout: the error
messages ended up in the output."""
import codecs
import errno
import os
import shutil
import sys
import textwrap

ERRORS = "execcheck-output"


def _unencodable(exc):
    """The error handler of standard output: a name's raw byte (surrogateescape's U+DC80..U+DCFF,
    as `execcheck lib` prints a path) is written as that byte, and a character the terminal's
    encoding lacks (LANG=en_US.ISO-8859-1, PYTHONIOENCODING=ascii) as its backslash escape: the
    'strict' default was a UnicodeEncodeError traceback for `check /tmp/\u00e9` there."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    out = bytearray()
    for ch in exc.object[exc.start:exc.end]:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:
            out.append(o - 0xDC00)
        else:
            out += (("\\x%02x" if o < 0x100 else "\\u%04x" if o < 0x10000 else "\\U%08x") % o).encode("ascii")
    return bytes(out), exc.end


codecs.register_error(ERRORS, _unencodable)


def tolerant(stream):
    """stream (sys.stdout) set to write what its encoding cannot hold through _unencodable."""
    try:
        stream.reconfigure(errors=ERRORS)
    except (AttributeError, ValueError, OSError):  # not a TextIOWrapper (a test's StringIO), or None
        pass
    return stream


class OutputError(Exception):
    """Writing standard output failed (not a reader that went away: see Guarded)."""


class Guarded:
    """Wraps sys.stdout: a failed write or flush raises OutputError, and a closed fd 1 fails the
    first write as the fd itself would (EBADF); with nothing written there is nothing to flush
    (`execcheck run -- CMD >&-` flushes before it execs CMD). A reader that went away (EPIPE:
    `execcheck audit | head -c1`) cuts the output, not the command: the rest goes nowhere, and the
    exit status stays the command's (a verdict of 1 read by nobody is not a 0)."""

    def __init__(self, stream):
        self._stream = stream
        self._cut = False

    def _do(self, method, *args):
        if self._stream is None:
            raise OutputError(os.strerror(errno.EBADF))
        if self._cut:
            return None
        try:
            return getattr(self._stream, method)(*args)
        except BrokenPipeError:
            self._cut = True
            discard(1)
            return None
        except OSError as e:
            raise OutputError(e.strerror or str(e)) from None

    def write(self, text):
        self._do("write", text)
        return len(text)

    def flush(self):
        return None if self._stream is None else self._do("flush")

    def isatty(self):
        """A terminal (status wraps for one); a closed fd 1 is none."""
        try:
            return self._stream is not None and self._stream.isatty()
        except (OSError, ValueError):
            return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


class Messages:
    """sys.stderr: with fd 2 closed at start (stream None) or its reader gone (EPIPE), messages
    go nowhere: not to stdout (print(file=None) writes there), not into a traceback."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        if self._stream is not None:
            try:
                self._stream.write(text)
                self._stream.flush()
            except BrokenPipeError:
                self._stream = None
                discard(2)
        return len(text)

    def flush(self):
        return None

    def close(self):
        return None

    def isatty(self):
        return self._stream is not None and self._stream.isatty()


def discard(fd: int) -> None:
    """After a failed write to an open fd: points it at /dev/null, so the interpreter's own flush
    at exit neither fails again nor prints 'Exception ignored' after the command's one line."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, fd)
        os.close(null)
    except OSError:
        pass


def terminal_columns():
    """The terminal's width when standard output is one (a reader: text is wrapped for it), else
    None (a pipe or a file keeps one fact a line, for grep)."""
    return shutil.get_terminal_size().columns if sys.stdout.isatty() else None


def wrapped(line, width, indent):
    """line, its text from column indent on wrapped under that column past width columns; a path
    (no space in it) is never split. width None: as it is."""
    if width is None or len(line) <= width or width < indent + 40:
        return line
    return textwrap.fill(line[indent:], width=width, initial_indent=line[:indent], subsequent_indent=" " * indent,
                         break_long_words=False, break_on_hyphens=False)

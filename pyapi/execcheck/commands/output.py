"""Small helpers shared by the commands' output: JSON, tables, names made safe for a terminal."""
import codecs
import json
import os
import re
import sys

from .._native import ffi, lib

_NOT_ASCII = re.compile("[^\x00-\x7f]")


def _json_escape(match) -> str:
    o = ord(match.group())
    if 0xDC80 <= o <= 0xDCFF:  # surrogateescape: a raw byte that is not UTF-8
        return "\\u00%02x" % (o - 0xDC00)
    if 0xD800 <= o <= 0xDFFF:  # a lone surrogate JSON spelled (a log's line): not a character
        return "\\ufffd"
    if o > 0xFFFF:
        o -= 0x10000
        return "\\u%04x\\u%04x" % (0xD800 + (o >> 10), 0xDC00 + (o & 0x3FF))
    return "\\u%04x" % o


def json_text(obj, indent=None) -> str:
    """obj as ASCII JSON in the records' convention (csrc/text.c): each byte of a name that is
    not UTF-8 is \\u00XX. json.dumps wrote it as a lone surrogate (\\udcff), which is no text a
    JSON reader must take. Non-ASCII only occurs inside strings, so escaping it after the encoder
    (C, fast on an image's megabytes) is exact."""
    return _NOT_ASCII.sub(_json_escape, json.dumps(obj, indent=indent, ensure_ascii=False))


def _hex_if_not_utf8(path):
    """The bytes of path in hex where they are not UTF-8, else None (a lone surrogate JSON spelled,
    a record's, names no file: None too)."""
    try:
        raw = os.fsencode(path)
    except UnicodeError:
        return None
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()
    return None


def with_path_hex(entry: dict, keys=("path",)) -> dict:
    """entry (a JSON object naming files by its keys: "path", "root", or a list of paths such as
    "files"), with KEY_hex beside each (path_hex, root_hex, files_hex) where a name is not UTF-8:
    json_text spells each such byte \\u00XX, which a reader cannot tell from the character U+00XX
    (lib\\xff.so and libÿ.so are both "lib\\u00ff.so"), so a tool acting on the name would reach
    another file, or none. A path's KEY_hex is its bytes in hex; a list's is a list beside it, the
    bytes of each name that is not UTF-8 at its index (null for the others)."""
    for key in keys:
        value = entry.get(key)
        if isinstance(value, str):
            hexed = _hex_if_not_utf8(value)
            if hexed is not None:
                entry[key + "_hex"] = hexed
        elif isinstance(value, (list, tuple)):
            hexed = [_hex_if_not_utf8(v) if isinstance(v, str) else None for v in value]
            if any(h is not None for h in hexed):
                entry[key + "_hex"] = hexed
    return entry


def print_json(obj, indent=2) -> None:
    sys.stdout.write(json_text(obj, indent) + "\n")


def table(rows, headers) -> str:
    """Left-aligned columns; the last column is not padded."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows + [list(headers)]) for i in range(len(headers))]
    lines = []
    for r in [list(headers)] + rows:
        lines.append("  ".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)).rstrip())
    return "\n".join(lines)


def counted(n: int, noun: str, plural: str = "") -> str:
    """'1 file', '2 files' ('library': 'libraries'; else give the plural)."""
    if n == 1:
        return "%d %s" % (n, noun)
    return "%d %s" % (n, plural or (noun[:-1] + "ies" if noun.endswith("y") else noun + "s"))


def _raw_bytes(err):
    """Encoding error handler: a surrogateescape'd byte as that byte; a character the file system's
    encoding lacks (a name read from JSON under LC_ALL=C) as its UTF-8 bytes, and a lone surrogate
    JSON spelled (a record in a log) as the bytes UTF-8 would give it, which are no UTF-8."""
    out = bytearray()
    for ch in err.object[err.start:err.end]:
        o = ord(ch)
        out += bytes([o - 0xDC00]) if 0xDC80 <= o <= 0xDCFF else ch.encode("utf-8", "surrogatepass")
    return bytes(out), err.end


codecs.register_error("execcheck.raw_bytes", _raw_bytes)

# fixed for the process at start-up: how names became str, and whether a locale that is not UTF-8
# (LC_ALL=C) has printable() show every byte from 0x80 up as a byte
_FS_ENCODING = sys.getfilesystemencoding()
_FS_NOT_UTF8 = codecs.lookup(_FS_ENCODING).name != "utf-8"


def printable(path: str) -> str:
    """A path (or a line that quotes one) made safe and unambiguous for a terminal, spelled as the
    shim spells it on stderr (csrc/text.c, ec_text_visible): control characters and bytes that are
    not UTF-8 as \\xNN, characters a terminal shows as nothing or as another, or that reorder the
    line (C1 controls such as U+009B, no-break and zero-width spaces, bidi overrides, line
    separators, private use) as \\uXXXX, the backslash as \\\\. So no name can end a line, drive a
    terminal or pass for another (a file named `a\\nb` and one named `a` newline `b` print apart).
    The empty path is shown as '' (else "execcheck: : No such file or directory")."""
    if not path:
        return "''"
    if path.isascii() and path.isprintable() and "\\" not in path:
        return path  # nothing to escape: the usual name, without a call into C
    data = path.encode(_FS_ENCODING, "execcheck.raw_bytes")  # the name's bytes, as os.fsencode gives them
    out = ffi.new("char[]", 4 * len(data) + 1)
    return ffi.string(out, lib.ec_text_visible(data, len(data), _FS_NOT_UTF8, out, len(out))).decode("utf-8")

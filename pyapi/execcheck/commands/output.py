"""Small helpers shared by the commands' human-readable output."""
import json
import sys


def print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def table(rows, headers) -> str:
    """Left-aligned columns; the last column is not padded."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows + [list(headers)]) for i in range(len(headers))]
    lines = []
    for r in [list(headers)] + rows:
        lines.append("  ".join(c.ljust(widths[i]) if i < len(r) - 1 else c for i, c in enumerate(r)).rstrip())
    return "\n".join(lines)


def printable(path: str) -> str:
    """A path made safe for a terminal: control characters and undecodable bytes escaped, and a
    lone surrogate (JSON can spell one: a record in a log) too, as no encoder can write it."""
    out = []
    for ch in path:
        o = ord(ch)
        if 0xDC80 <= o <= 0xDCFF:  # surrogateescape: a raw byte that is not UTF-8
            out.append("\\x%02x" % (o - 0xDC00))
        elif o < 0x20 or o == 0x7F:
            out.append("\\x%02x" % o)
        elif 0xD800 <= o <= 0xDFFF:
            out.append("\\u%04x" % o)
        else:
            out.append(ch)
    return "".join(out)

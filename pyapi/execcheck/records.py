"""Reading decision records (the JSON lines the shim writes) back, and summarizing them."""
import collections
import json
from typing import IO, Iterator, Tuple

FIELDS = ("time", "pid", "exe", "uid", "kind", "path", "dev", "ino", "reason", "errno", "mode", "action", "face")


# The shim writes a record as one line of at most 2 KiB (record.c): a longer line is not one, and
# is neither kept in memory whole nor parsed. (A log every shimmed process appends to can hold
# anything a user wrote there.)
MAX_LINE = 1 << 16


def _lines(stream: IO[bytes]) -> Iterator[Tuple[int, bytes]]:
    """(line_number, line), b"" for a line longer than MAX_LINE (read past, not kept)."""
    n = 0
    while True:
        raw = stream.readline(MAX_LINE)
        if not raw:
            return
        n += 1
        if len(raw) == MAX_LINE and not raw.endswith(b"\n"):
            while True:
                more = stream.readline(MAX_LINE)
                if not more or more.endswith(b"\n"):
                    break
            raw = b""
        yield n, raw


def read_records(stream: IO[bytes]) -> Iterator[Tuple[int, object]]:
    """Yields (line_number, record dict) for good lines and (line_number, None) for lines that are
    not a record (garbage, a truncated write, another program's output, JSON nested deeper than
    the parser recurses, a line far longer than any record)."""
    for n, raw in _lines(stream):
        if raw and not raw.strip():
            continue
        raw = raw.strip()
        try:
            if not raw:
                raise ValueError("overlong line")
            rec = json.loads(raw.decode("utf-8", "surrogateescape"))
        except (ValueError, RecursionError):
            yield n, None
            continue
        if not isinstance(rec, dict) or "path" not in rec or "reason" not in rec:
            yield n, None
            continue
        yield n, rec


def summarize(stream: IO[bytes], top: int = 20) -> dict:
    """Counts records by program, by file, by reason, by kind, and audit vs enforce."""
    by = {k: collections.Counter() for k in ("program", "file", "reason", "kind", "mode", "face")}
    total = bad = 0
    first = last = None
    for _, rec in read_records(stream):
        if rec is None:
            bad += 1
            continue
        total += 1
        by["program"][str(rec.get("exe", "?"))] += 1
        by["file"][str(rec.get("path", "?"))] += 1
        by["reason"][str(rec.get("reason", "?"))] += 1
        by["kind"][str(rec.get("kind", "?"))] += 1
        by["mode"][str(rec.get("mode", "?"))] += 1
        by["face"][str(rec.get("face", "?"))] += 1
        t = rec.get("time")
        if isinstance(t, str):
            first = t if first is None or t < first else first
            last = t if last is None or t > last else last
    out = {"records": total, "unparsed_lines": bad, "first": first, "last": last}
    for key, counter in by.items():
        items = sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))
        out["by_" + key] = [{"name": k, "count": c} for k, c in (items[:top] if top else items)]
        if top and len(items) > top:
            out["by_" + key].append({"name": "(%d more)" % (len(items) - top),
                                     "count": sum(c for _, c in items[top:])})
    return out

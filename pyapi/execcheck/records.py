"""Reading decision records (the JSON lines the shim writes) back, and summarizing them."""
import collections
import json
from typing import IO, Iterator, Tuple

FIELDS = ("time", "pid", "exe", "uid", "kind", "path", "dev", "ino", "reason", "errno", "mode", "action", "face")


def read_records(stream: IO[bytes]) -> Iterator[Tuple[int, object]]:
    """Yields (line_number, record dict) for good lines and (line_number, None) for lines that are
    not a record (garbage, a truncated write, another program's output)."""
    for n, raw in enumerate(stream, 1):
        raw = raw.strip()
        if not raw:
            continue
        try:
            rec = json.loads(raw.decode("utf-8", "surrogateescape"))
        except ValueError:
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

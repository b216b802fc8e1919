"""Rendering an audit: a readable tree and summary, JSON, and SARIF 2.1.0 for code-scanning tools.

Everything is in a deterministic order (inputs by path, findings by severity, rule, path), so two
runs over the same files give the same bytes, and diffs between runs mean something.
"""
import collections
import os
from typing import List, Optional
from urllib.parse import quote

from .._version import __version__
from ..commands.output import counted, printable
from ..stdout import wrapped
from .findings import RULES, SEVERITIES
from .engine import Result

SARIF_LEVEL = {"error": "error", "warning": "warning", "note": "note"}


def _object_dict(o) -> dict:
    d = {"kind": o.kind, "name": o.name, "path": o.path, "realpath": o.realpath, "via": o.via,
         "loader": o.loader, "depth": o.depth}
    if o.via_object >= 0:
        d["via_object"] = o.via_object
    return d


def _edge_dict(e) -> dict:
    d = {"from": e.source, "tag": e.tag, "name": e.name, "to": e.target, "via": e.via}
    if e.expanded != e.name:
        d["expanded"] = e.expanded
    if e.error != "none":
        d.update(error=e.error, message=e.message, fatal=e.fatal)
        if e.error_path:
            d["error_path"] = e.error_path
    if e.alone is False:
        d["found_only_because_loaded"] = True
    return d


def as_json(r: Result) -> dict:
    entries = []
    for en in sorted(r.entries, key=lambda x: x.path):
        d = {"path": en.path, "role": en.role}
        res = en.resolution
        if res is not None:
            d.update(status=res.main_status, starts=res.starts, failure=res.failure(), interp=res.interp,
                     secure=res.secure, objects=[_object_dict(o) for o in res.objects],
                     edges=[_edge_dict(e) for e in res.edges],
                     problems=[{"object": p.obj, "target": p.target, "error": p.error, "message": p.message,
                                "fatal": p.fatal, "file": p.file, "version": p.version} for p in res.problems])
        else:
            d["status"] = "foreign"
        entries.append(d)
    counts = collections.Counter(f.severity for f in r.findings)
    return {
        "tool": "execcheck audit", "version": __version__, "loader": r.loader,
        "summary": summary(r),
        "entries": entries,
        "files": [rec.as_dict() for rec in sorted(r.files.values(), key=lambda x: x.path)],
        "python": r.python,
        "inputs": dict(sorted(r.outcome.items())),
        "findings": [f.as_dict() for f in r.findings],
        "counts": {s: counts.get(s, 0) for s in SEVERITIES},
    }


def policy_view(r: Result, rec):
    """The view findings are made from: the image's own under --root, the live check otherwise."""
    return rec.image if r.loader["root"] != "/" else rec.live


def summary(r: Result) -> dict:
    denied = [rec for rec in r.files.values() if not policy_view(r, rec).allowed]
    reasons = collections.Counter(x for rec in denied for x in policy_view(r, rec).reasons)
    return {"programs": sum(1 for e in r.entries if e.role == "program"),
            "libraries": sum(1 for e in r.entries if e.role == "library"),
            "would_not_start": sorted(e.path for e in r.entries
                                      if e.role == "program" and e.resolution is not None
                                      and e.resolution.main_status in ("ok", "interp-missing")
                                      and not e.resolution.starts),
            "code_files": len(r.files), "exec_denied": len(denied), "exec_denied_reasons": dict(sorted(reasons.items())),
            "python_files": sum(t["files"] for t in r.python or []),
            "python_denied": sum(t["denied"] for t in r.python or []),
            "skipped": dict(sorted(r.skipped.items())), "seconds": round(r.elapsed, 3)}


def as_sarif(r: Result) -> dict:
    used = sorted({f.rule for f in r.findings})
    rules = [RULES[i] for i in sorted(RULES)]
    index = {rule.id: n for n, rule in enumerate(rules)}
    root = r.loader["root"]
    results = []
    for f in r.findings:
        res = {"ruleId": f.rule, "ruleIndex": index[f.rule], "level": SARIF_LEVEL[f.severity],
               "message": {"text": f.message},
               "locations": [{"physicalLocation": {"artifactLocation": {"uri": _uri(f.path.lstrip("/")),
                                                                        "uriBaseId": "ROOT"}}}],
               "partialFingerprints": {"execcheck/v1": "/".join(map(str, f.key))}}
        if f.programs:
            res["properties"] = {"programs": sorted(f.programs)}
        results.append(res)
    return {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "execcheck", "version": __version__,  # no informationUri: optional, and no made-up address
                "rules": [{"id": rule.id, "name": rule.name, "shortDescription": {"text": rule.summary},
                           "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]}} for rule in rules]}},
            "originalUriBaseIds": {"ROOT": {"uri": "file://" + _uri(root.rstrip("/") + "/")}},
            "results": results,
            "properties": {"rulesUsed": used},
        }],
    }


def _uri(path: str) -> str:
    """A path as a URI reference: its bytes (a name need not be UTF-8) percent-encoded."""
    return quote(os.fsencode(path), safe="/")


def text(r: Result, tree: bool = False, width: Optional[int] = None) -> str:
    """The report for a reader; width: a terminal's, to which each finding's message is wrapped
    under its column (None: one finding a line, for grep)."""
    out: List[str] = []
    root = r.loader["root"]
    s = summary(r)
    # the entry points (named, or found by the walk), then every ELF file reached from them: "0
    # shared objects" alone, beside three refused libraries, read as a contradiction
    out.append(wrapped("execcheck audit of %s: %s, %s; %s in all" % (
        "image " + printable(root) if root != "/" else "this system", counted(s["programs"], "program"),
        counted(s["libraries"], "shared object"), counted(s["code_files"], "ELF file")), width, 10))
    glibc = r.loader.get("glibc")
    out.append(wrapped("loader model: glibc 2.36%s, platform %s, x86-64-v%d, system directories %s%s" % (
        " with the search rules of %s's glibc %s" % ("the image" if root != "/" else "this system", glibc)
        if glibc and glibc != "2.36" else "", r.loader["platform"], r.loader["isa_level"],
        ":".join(r.loader["system_dirs"]),
        # mount points from the image's own fstab: names it chose, escaped as every name is
        (", noexec mounts: " + ", ".join(printable(m) for m in r.loader["noexec_mounts"]))
        if r.loader["noexec_mounts"] else ""), width, 14))
    for name, what in (("i386", "32-bit programs"), ("aarch64", "aarch64 programs")):
        if r.loader.get(name):
            out.append("%s: the %s loader's rules, platform %s, system directories %s" % (
                what, name, r.loader[name]["platform"], ":".join(r.loader[name]["system_dirs"])))
    if tree:
        for en in sorted(r.entries, key=lambda x: x.path):
            out.append("")
            out.extend(_tree(en))
    out.append("")
    if r.findings:
        out.append("findings:")
        for f in r.findings:
            out.append(wrapped("  %-7s %s %-21s %s" % (f.severity, f.rule, RULES[f.rule].name, printable(f.message)),
                               width, 39))
            if f.programs and len(f.programs) <= 3:
                out.append("  %s  for: %s" % (" " * 37, ", ".join(printable(p) for p in sorted(f.programs))))
            elif f.programs:
                out.append("  %s  for %d programs" % (" " * 37, len(f.programs)))
            hint = f.details.get("tried")
            if hint:
                for t in hint:
                    out.append("  %s    tried %s (%s): %s" % (" " * 37, printable(t["path"]), t["via"], t["outcome"]))
    else:
        out.append("no findings")
    # a FIFO, socket or device named (or named like a library): not read, and said so
    odd = [p for p, o in sorted(r.outcome.items()) if o == "not-regular"]
    if odd:
        out.append("")
        out.append("not audited, not a regular file: %s%s" % (", ".join(printable(p) for p in odd[:10]),
                                                           " and %d more" % (len(odd) - 10) if len(odd) > 10 else ""))
    counts = collections.Counter(f.severity for f in r.findings)
    out.append("")
    out.append(wrapped("summary: %s, %s, %s; %d of %s would be refused by the exec "
               "check%s%s%s" % (counted(counts.get("error", 0), "error"), counted(counts.get("warning", 0), "warning"),
                                counted(counts.get("note", 0), "note"), s["exec_denied"], counted(s["code_files"], "ELF file"),
                                (" (" + ", ".join("%s %d" % kv for kv in s["exec_denied_reasons"].items()) + ")")
                                if s["exec_denied_reasons"] else "",
                                ("; %d of %s" % (s["python_denied"], counted(s["python_files"], "Python file")))
                                if s["python_files"] else "",
                                ("; would not start: %d" % len(s["would_not_start"])) if s["would_not_start"] else ""),
                       width, 9))
    if root != "/":
        out.append("(the exec check's view is the image's: mode bits and its fstab; LSM policies are not modelled)")
    return "\n".join(out)


def _tree(en) -> List[str]:
    res = en.resolution
    head = printable(en.path)
    if res is None:
        return [head + "  [foreign: not resolved]"]
    if res.main_status not in ("ok", "interp-missing"):
        return [head + "  [%s]" % res.main_status]
    lines = [head + ("" if res.starts else "  [would not start: %s]" % printable(res.failure() or "?"))]
    children = collections.defaultdict(list)
    for e in res.edges:
        children[e.source].append(e)
    shown = {0}
    # depth first, each object's dependencies in order; a stack of its own, not recursion: a chain
    # of dependencies can be deeper than Python's recursion limit (a hostile image)
    stack = [(iter(children.get(0, [])), 1)]
    while stack:
        edges, depth = stack[-1]
        e = next(edges, None)
        if e is None:
            stack.pop()
            continue
        pad = "    " * depth
        if e.target < 0 or e.error != "none":
            lines.append("%s%s => %s" % (pad, printable(e.name), e.message))
            continue
        o = res.objects[e.target]
        again = e.target in shown
        lines.append("%s%s => %s [%s]%s" % (pad, printable(e.name), printable(o.path or "?"), e.via,
                                           " (see above)" if again and e.via != "loaded" else ""))
        if not again:
            shown.add(e.target)
            stack.append((iter(children.get(e.target, [])), depth + 1))
    return lines

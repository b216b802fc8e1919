"""Ground truth for the resolver: what ld.so itself loads.

The program is executed directly with LD_TRACE_LOADED_OBJECTS=1 (never through ldd, which takes
$ORIGIN from the symlink it is given): ld.so maps everything, prints the link map and exits before
any code of the program runs. Only programs with a PT_INTERP are traced: a static program would
ignore the variable and run.
"""
import re
import subprocess

LINE = re.compile(r"^\t(?P<name>.*?)(?: => (?P<path>.*?))?(?: \(0x[0-9a-f]+\))?$")


def trace(argv, env=None, cwd=None, preexec_fn=None, timeout=30):
    """(entries, returncode, stderr): entries are (name, path) in link-map order; path is None for
    'not found', and equals name when ld.so prints a single name."""
    e = {"PATH": "/usr/bin:/bin"}
    e.update(env or {})
    e["LD_TRACE_LOADED_OBJECTS"] = "1"
    p = subprocess.run(argv, env=e, cwd=cwd, capture_output=True, timeout=timeout, preexec_fn=preexec_fn)
    entries = []
    for raw in p.stdout.decode("utf-8", "surrogateescape").splitlines():
        m = LINE.match(raw)
        if not m:
            continue
        name, path = m.group("name"), m.group("path")
        if path == "not found":
            path = None
        elif path is None:
            path = name
        entries.append((name, path))
    return entries, p.returncode, p.stderr.decode("utf-8", "replace")


def predicted(res):
    """The resolver's answer in the same shape: the link map minus the program, ld.so only when
    something needs it (ld.so drops itself from the map otherwise)."""
    out = []
    for o in res.objects:
        if o.kind == "main" or (o.kind == "interp" and o.searchlist < 0):
            continue
        out.append((o.name, o.path))
    return out


def comparable(entries):
    """Order-free form, and the load order without the two objects ld.so moves (vDSO, ld.so)."""
    special = ("linux-vdso.so.1",)
    order = [e for e in entries if e[0] not in special and not e[0].startswith("/lib64/ld-linux")]
    return sorted(entries, key=lambda e: (e[0], e[1] or "")), order

"""The CPython face on every CPython of this machine (3.8+: pyenv's and the distribution's):
{no bits, RESTRICT_FILE, DENY_INTERACTIVE, both} x every form of issue 5 x {executable script,
0644 script, script on a noexec tmpfs}, asserting the exit status, whether the code ran, the
stderr line and the decision records (exactly: a record nobody expected is a failure too).

Each interpreter runs in its own private mount namespace (python_face_lib): its stdlib and
site-packages get an executable overlay view, so under enforcement the interpreter itself
passes; the noexec fixtures live on a tmpfs mounted there. The namespaces run in parallel.
"""
import os
import shutil
import subprocess
import zipfile

import pytest

from conftest import C_DIR, need, need_check, need_mountns, need_root
from execcheck.commands.run import has_audit_face
from python_face_lib import (base_env, build_tools, finish, in_root, interpreters, shim_path, start_in_view,
                             debian_testing_python)

BITS = {"none": [], "f": ["-f"], "i": ["-i"], "fi": ["-f", "-i"]}
VARIANTS = ("exec", "nox", "noexec")
REASON = {"nox": "x-bit", "noexec": "noexec"}
REFUSED_LINE = "execcheck: refused to"
PYVER = {}  # fixture dir -> "pythonX.Y" (its user site-packages)
AUDIT_FACE = has_audit_face(shim_path())  # the shim also comes as an rtld-audit module

# ---- fixtures -------------------------------------------------------------------------------


def write(path, text, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)


def user_site_lib(python, pyroot=None):
    """The directory under PYTHONUSERBASE/lib of python's user site-packages: pythonX.Y, and
    pythonX.Yt on a free-threaded build."""
    out = subprocess.run(in_root(pyroot, [python, "-S", "-c", "import site; print(site.getusersitepackages())"]),
                         env={"PATH": "/usr/bin:/bin", "PYTHONUSERBASE": "/ub"}, capture_output=True, text=True, check=True)
    return out.stdout.strip().split("/")[3]


def build_fixtures(root, label, python, version, tools, shebang_python, pyroot=None):
    """root/label/{exec,nox,host}/...: the same tree twice (0755 and 0644 files); the noexec
    variant is a copy of exec made on the tmpfs inside the namespace. pyroot: the root python is
    in (its .pyc files are compiled there)."""
    base = root / label
    lib = user_site_lib(python, pyroot)
    for variant, mode in (("exec", 0o755), ("nox", 0o644)):
        v = base / variant
        write(v / "s.py", "#!%s\nprint('RAN', 'script')\n" % shebang_python, mode)
        write(v / "senv.py", "#!/usr/bin/env python3\nprint('RAN', 'script')\n", mode)
        write(v / "d" / "__main__.py", "print('RAN', 'dirmain')\n", mode)
        write(v / "lib" / "m.py", "print('RAN', 'm')\n", mode)
        write(v / "startup.py", "print('RAN', 'startup')\n", mode)
        write(v / "inject.py", "import sys\nprint('RAN', 'remote', flush=True)\nsys.modules['__main__'].done = True\n", mode)
        site = v / "ub" / "lib" / lib / "site-packages"
        write(site / "ec.pth", "import sys; print('RAN', 'pth')\n", mode)
        with zipfile.ZipFile(v / "a.pyz", "w") as z:
            z.writestr("__main__.py", "print('RAN', 'pyz')\n")
        with zipfile.ZipFile(v / "zip.zip", "w") as z:
            z.writestr("m.py", "print('RAN', 'm')\n")
        (v / "pyc").mkdir()
        subprocess.run(in_root(pyroot, [python, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
                                        v / "lib" / "m.py", v / "pyc" / "m.pyc"], binds=[root]),
                       check=True, env={"PATH": "/usr/bin:/bin"})
        (v / "ext").mkdir()
        shutil.copy(tools["ext"], v / "ext" / "ecext.abi3.so")
        shutil.copy(tools["lib"], v / "libec.so")
        for p in [v / "a.pyz", v / "zip.zip", v / "pyc" / "m.pyc", v / "ext" / "ecext.abi3.so", v / "libec.so"]:
            os.chmod(p, mode)
    h = base / "host"
    write(h / "host_import.py", "print('RAN', 'host')\nimport m\n", 0o755)
    write(h / "host_plain.py", "print('RAN', 'host')\n", 0o755)
    write(h / "host_ext.py", "print('RAN', 'host')\nimport ecext\n", 0o755)
    write(h / "host_ctypes.py", "import ctypes, sys\nprint('RAN', 'ctypes', ctypes.CDLL(sys.argv[1]).ec_answer())\n", 0o755)
    write(h / "host_inspect.py", "import os\nos.environ['PYTHONINSPECT'] = '1'\nprint('RAN', 'host')\n", 0o755)
    write(h / "input.py", "print('RAN', 'input')\n", 0o755)
    write(h / "host_breakpoint.py", "print('RAN', 'host')\nbreakpoint()\n", 0o755)
    # 3.14's sys.remote_exec: a target that says when it is up, then waits for a script to be run
    # in it (at most 3 s), and the process that sends it one
    write(h / "target.py", "import sys, time\nprint('RAN', 'target', flush=True)\nopen(sys.argv[1], 'w').close()\n"
          "t = time.monotonic() + 3\nwhile not globals().get('done') and time.monotonic() < t:\n    time.sleep(0.02)\n", 0o755)
    write(h / "remote.py", "import sys\nsys.remote_exec(int(sys.argv[1]), sys.argv[2])\n", 0o755)
    write(h / "host_doctest.py", "import doctest\n\ndef f():\n    \"\"\"\n    >>> print('RAN', 'doctest')\n"
          "    RAN doctest\n    \"\"\"\n\nprint('RAN', doctest.testmod())\n", 0o755)
    return base


# ---- the forms ------------------------------------------------------------------------------
# Each form: (name, family, build(py, V, H) -> case fields). family "file": the outcome depends
# on the fixture's variant; "interactive": it does not (the code is typed, piped or an argument).

def _stdin_file(p):
    return {"file": str(p)}


FILE_FORMS = {
    "shebang": lambda py, V, H: {"argv": [str(V / "s.py")]},
    "shebang_env": lambda py, V, H: {"argv": [str(V / "senv.py")], "env": {"PATH": "%s:/usr/bin:/bin" % os.path.dirname(py)}},
    "arg": lambda py, V, H: {"argv": [py, str(V / "s.py")]},
    "stdin": lambda py, V, H: {"argv": [py], "stdin": _stdin_file(V / "s.py")},
    "module": lambda py, V, H: {"argv": [py, "-m", "s"], "cwd": str(V)},
    "dir": lambda py, V, H: {"argv": [py, str(V / "d")]},
    "pyz": lambda py, V, H: {"argv": [py, str(V / "a.pyz")]},
    "import": lambda py, V, H: {"argv": [py, str(H / "host_import.py")], "env": {"PYTHONPATH": str(V / "lib")}},
    "pyc": lambda py, V, H: {"argv": [py, str(H / "host_import.py")], "env": {"PYTHONPATH": str(V / "pyc")}},
    "zip": lambda py, V, H: {"argv": [py, str(H / "host_import.py")], "env": {"PYTHONPATH": str(V / "zip.zip")}},
    "pth": lambda py, V, H: {"argv": [py, str(H / "host_plain.py")], "env": {"PYTHONUSERBASE": str(V / "ub")}},
    "ext": lambda py, V, H: {"argv": [py, str(H / "host_ext.py")], "env": {"PYTHONPATH": str(V / "ext")}},
    "ctypes": lambda py, V, H: {"argv": [py, str(H / "host_ctypes.py"), str(V / "libec.so")]},
    "startup": lambda py, V, H: {"argv": [py, "-i"], "stdin": _stdin_file(H / "input.py"),
                                 "env": {"PYTHONSTARTUP": str(V / "startup.py")}},
    # another process (under the same bits) has the target run V/inject.py at its next safe point
    "remote_exec": lambda py, V, H: {"argv": ["sh", "-c", REMOTE_EXEC, "sh", py, str(H), str(V / "inject.py")]},
}
REMOTE_EXEC = '''r=$(mktemp -u); "$1" "$2/target.py" "$r" & pid=$!
while [ ! -e "$r" ] && kill -0 $pid 2>/dev/null; do sleep 0.02; done; rm -f "$r"
"$1" "$2/remote.py" $pid "$3"; wait $pid'''

REPL_LINE = "print('RAN', 'repl')"

INTERACTIVE_FORMS = {
    "repl_tty": lambda py, V, H: {"argv": [py], "stdin": {"pty": [REPL_LINE]}},
    "pipe": lambda py, V, H: {"argv": ["sh", "-c", 'cat "$1" | "$2"', "sh", str(V / "s.py"), py]},
    "command": lambda py, V, H: {"argv": [py, "-c", "print('RAN', 'command')"]},
    # 3.14 dedents -c's code (an IndentationError before)
    "command_dedent": lambda py, V, H: {"argv": [py, "-c", "\n    print('RAN', 'command')\n    pass"]},
    # the basic REPL, which 3.13+ run where PYTHON_BASIC_REPL is set (before: the only one)
    "repl_tty_basic": lambda py, V, H: {"argv": [py], "stdin": {"pty": [REPL_LINE]}, "env": {"PYTHON_BASIC_REPL": "1"}},
    # the asyncio REPL: code piped to it runs in an event loop
    "m_asyncio": lambda py, V, H: {"argv": [py, "-m", "asyncio"], "stdin": {"pipe": REPL_LINE + "\n"}},
    "xargs": lambda py, V, H: {"argv": ["xargs", "-a", str(V / "s.py"), "-d", "\r", "--", py, "-c"]},
    "inspect_pipe": lambda py, V, H: {"argv": [py, "-i", str(H / "host_plain.py")], "stdin": {"pipe": REPL_LINE + "\n"}},
    "inspect_tty": lambda py, V, H: {"argv": [py, "-i", str(H / "host_plain.py")], "stdin": {"pty": [REPL_LINE]}},
    "inspect_env": lambda py, V, H: {"argv": [py, str(H / "host_inspect.py")], "stdin": {"pty": [REPL_LINE]}},
    "isolated_inspect_tty": lambda py, V, H: {"argv": [py, "-I", "-i", str(H / "host_plain.py")], "stdin": {"pty": [REPL_LINE]}},
    "m_timeit": lambda py, V, H: {"argv": [py, "-m", "timeit", "-n", "1", "-r", "1", "print('RAN', 'timeit')"]},
    "m_code": lambda py, V, H: {"argv": [py, "-m", "code"], "stdin": {"pipe": REPL_LINE + "\n"}},
    "m_pdb": lambda py, V, H: {"argv": [py, "-m", "pdb", str(H / "host_plain.py")], "stdin": {"pipe": "continue\nquit\n"}},
    # the program starts the debugger itself; its prompt runs the piped statement
    "breakpoint": lambda py, V, H: {"argv": [py, str(H / "host_breakpoint.py")],
                                    "stdin": {"pipe": REPL_LINE.replace("repl", "pdb") + "\ncontinue\n"}},
}

# code that runs no interactive code although CPython builds a debugger for it (doctest makes a
# pdb.Pdb for every run): it runs, and is recorded, under no bits at all
QUIET_FORMS = {
    "doctest": lambda py, V, H: {"argv": [py, str(H / "host_doctest.py")], "stdin": {"pipe": REPL_LINE + "\n"}},
}

# forms of newer CPythons only (first version)
SINCE = {"remote_exec": (3, 14), "command_dedent": (3, 14)}

# what each form prints when it runs: markers that must all appear (run) or none (refused)
MARKERS = {
    "shebang": ["RAN script"], "shebang_env": ["RAN script"], "arg": ["RAN script"], "stdin": ["RAN script"],
    "module": ["RAN script"], "dir": ["RAN dirmain"], "pyz": ["RAN pyz"], "import": ["RAN m"], "pyc": ["RAN m"],
    "zip": ["RAN m"], "pth": ["RAN pth"], "ext": ["RAN ecext"], "ctypes": ["RAN ctypes 42"],
    "startup": ["RAN startup"], "repl_tty": ["RAN repl"], "pipe": ["RAN script"], "command": ["RAN command"],
    "xargs": ["RAN script"], "inspect_pipe": ["RAN repl"], "inspect_tty": ["RAN repl"], "inspect_env": ["RAN repl"],
    "isolated_inspect_tty": ["RAN repl"], "m_timeit": ["RAN timeit"], "m_code": ["RAN repl"], "m_pdb": ["RAN host"],
    "breakpoint": ["RAN pdb"], "doctest": ["RAN TestResults(failed=0, attempted=1)"],
    "remote_exec": ["RAN remote"], "command_dedent": ["RAN command"], "repl_tty_basic": ["RAN repl"],
    "m_asyncio": ["RAN repl"],
}
# printed before the refused part, so they show even when the form is refused
ALWAYS = {"remote_exec": ["RAN target"], "import": ["RAN host"], "pyc": ["RAN host"], "zip": ["RAN host"], "pth": ["RAN host"],
          "ext": ["RAN host"], "startup": ["RAN input"], "inspect_pipe": ["RAN host"], "inspect_tty": ["RAN host"],
          "inspect_env": ["RAN host"], "isolated_inspect_tty": ["RAN host"], "breakpoint": ["RAN host"]}


def fixture_path(form, V):
    return {
        "arg": V / "s.py", "stdin": V / "s.py", "module": V / "s.py", "dir": V / "d" / "__main__.py",
        "pyz": V / "a.pyz", "import": V / "lib" / "m.py", "pyc": V / "pyc" / "m.pyc", "zip": V / "zip.zip",
        "pth": V / "ub" / "lib" / PYVER[V] / "site-packages" / "ec.pth", "ext": V / "ext" / "ecext.abi3.so",
        "ctypes": V / "libec.so", "startup": V / "startup.py", "remote_exec": V / "inject.py",
    }.get(form)


FILE_KIND = {"arg": "script", "stdin": "script", "pyz": "script", "startup": "script", "ctypes": "library",
             "remote_exec": "script"}
INTERACTIVE_PATH = {"repl_tty": "<stdin>", "repl_tty_basic": "<stdin>", "command_dedent": "(python -c)",
                    "m_asyncio": "(python -m asyncio)", "pipe": "<stdin>", "command": "(python -c)", "xargs": "(python -c)",
                    "inspect_pipe": "<stdin>", "inspect_tty": "<stdin>", "inspect_env": "<stdin>",
                    "isolated_inspect_tty": "<stdin>", "m_timeit": "(python -m timeit)", "m_code": "(python -m code)",
                    "m_pdb": "(python -m pdb)", "breakpoint": "(pdb)"}


def expect(form, variant, bits, V):
    """-> dict(rc, ran: bool, line: bool, records: {(kind, path, reason, action)} of the python face,
    audit: the same of the audit face)"""
    f, i = "f" in bits, "i" in bits
    if form in QUIET_FORMS:
        return {"rc": 0, "ran": True, "line": False, "records": set()}
    if form in INTERACTIVE_FORMS:
        refused = i
        rec = {("interactive", INTERACTIVE_PATH[form], "not-regular", "refused" if refused else "logged")}
        # xargs reports a command's failure as its own status 123; a refused debugger is a
        # PermissionError the host script does not catch
        rc = {"xargs": 123, "breakpoint": 1}.get(form, 126) if refused else 0
        return {"rc": rc, "ran": not refused, "line": refused, "records": rec}
    if variant == "exec":
        return {"rc": 0, "ran": True, "line": False, "records": set()}
    if form in ("shebang", "shebang_env"):  # the kernel refuses the exec itself: Python never starts
        return {"rc": 126, "ran": False, "line": False, "records": set(), "kernel": True}
    reason = REASON[variant]
    kind = FILE_KIND.get(form, "module")
    path = str(fixture_path(form, V))
    enforced = (f or i) if form == "stdin" else f
    rec = {(kind, path, reason, "refused" if enforced else "logged")}
    # not refused here, an extension module or a ctypes library reaches dlopen, where the audit
    # face (propagated into the interpreter by the preload face of the process that started it)
    # records it too, as a library
    audit = {("library", path, reason, "logged")} if AUDIT_FACE and form in ("ext", "ctypes") and not enforced else set()
    if form in ("ext", "ctypes") and variant == "noexec":  # the kernel refuses the mapping anyway
        return {"rc": 1, "ran": False, "line": enforced, "records": rec, "audit": audit}
    if not enforced:
        return {"rc": 0, "ran": True, "line": False, "records": rec, "audit": audit}
    rc = {"arg": 126, "stdin": 126, "pyz": 126, "pth": 0, "startup": 0, "remote_exec": 0}.get(form, 1)
    return {"rc": rc, "ran": False, "line": True, "records": rec}


# ---- the run --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    return build_tools(tmp_path_factory.mktemp("pyface-tools"), C_DIR)


def make_cases(label, python, version, V_of, H, tools, logdir, forms, bitsets=BITS, variants=VARIANTS):
    cases, meta = [], {}
    for form, build in forms.items():
        if version < SINCE.get(form, ()):
            continue
        for variant in variants:
            for bname in bitsets:
                V = V_of[variant]
                c = build(python, V, H)
                cid = "%s/%s/%s/%s" % (label, form, variant, bname)
                env = base_env(logdir / (cid.replace("/", "_") + ".jsonl"))
                env.update(c.get("env", {}))
                cases.append({"id": cid, "argv": [str(tools["setexec"]), *BITS[bname], "--", *c["argv"]],
                              "env": env, "cwd": c.get("cwd", str(H)), "stdin": c.get("stdin"), "timeout": 60})
                meta[cid] = (form, variant, bname, V)
    return cases, meta


def run_matrix(tmp_root, tools, forms, pythons):
    """Runs forms on every interpreter of pythons ((label, path, version, root or None)), each in
    its own namespace, all at once."""
    handles, metas = [], {}
    for label, python, version, pyroot in pythons:
        work = tmp_root / label
        base = build_fixtures(tmp_root / "fx", label, python, version, tools, python, pyroot)
        logdir = work / "logs"
        logdir.mkdir(parents=True)
        noexec_root = work / "noexec"  # mounted noexec inside the namespace, filled by cp -a
        V_of = {"exec": base / "exec", "nox": base / "nox", "noexec": noexec_root / "v"}
        for V in V_of.values():
            PYVER[V] = user_site_lib(python, pyroot)
        cases, meta = make_cases(label, python, version, V_of, base / "host", tools, logdir, forms)
        metas.update(meta)
        handles.append(start_in_view(python, work, cases, copies=[(base / "exec", noexec_root / "v")], root=pyroot,
                                     binds=[tmp_root, os.path.dirname(tools["setexec"])]))
    results = {}
    for h in handles:
        results.update(finish(h))
    return results, metas


def check_result(r, form, variant, bits, V):
    exp = expect(form, variant, bits, V)
    out = r["out"] + r["err"]
    problems = []
    if r["rc"] != exp["rc"]:
        problems.append("exit status %r, expected %r" % (r["rc"], exp["rc"]))
    for m in MARKERS[form]:
        if (m in r["out"]) != exp["ran"]:
            problems.append("%r %s" % (m, "missing" if exp["ran"] else "printed: the code ran"))
    for m in ALWAYS.get(form, []):
        if m not in r["out"]:
            problems.append("%r missing" % m)
    if (REFUSED_LINE in out) != exp["line"]:
        problems.append("refusal line %s" % ("missing" if exp["line"] else "unexpected"))
    if not exp["line"] and "execcheck" in out:
        problems.append("the shim spoke although nothing was refused")
    if exp["line"] and out.count(REFUSED_LINE) != 1:
        problems.append("%d refusal lines, expected one" % out.count(REFUSED_LINE))
    if exp.get("kernel") and "Permission denied" not in out:
        problems.append("the kernel's refusal is not reported")
    for face, want in (("python", exp["records"]), ("audit", exp.get("audit", set()))):
        got = {(x["kind"], x["path"], x["reason"], x["action"]) for x in r["records"] if x["face"] == face}
        if got != want:
            problems.append("%s-face records %r, expected %r" % (face, sorted(got), sorted(want)))
    if any(x["face"] not in ("python", "audit") for x in r["records"]):
        problems.append("a record from another face")
    return problems


ALL_FORMS = dict(FILE_FORMS, **INTERACTIVE_FORMS, **QUIET_FORMS)


@pytest.fixture(scope="module")
def matrix(tools, tmp_path_factory):
    need_root()
    need_mountns()
    need_check()
    need(len(interpreters()) > 0, "no CPython >= 3.8 found")
    pythons = [(*p, None) for p in interpreters()]
    return run_matrix(tmp_path_factory.mktemp("pyface-matrix"), tools, ALL_FORMS, pythons) + ([p[2] for p in pythons],)


@pytest.fixture(scope="module")
def matrix_testing(tools, tmp_path_factory):
    """Debian testing's CPython 3.14, the matrix run chrooted in its debootstrap root."""
    pythons = [debian_testing_python(tmp_path_factory)]
    return run_matrix(tmp_path_factory.mktemp("pyface-matrix-testing"), tools, ALL_FORMS, pythons) + ([pythons[0][2]],)


@pytest.mark.parametrize("form", [f for f in ALL_FORMS if any(v >= SINCE.get(f, ()) for _, _, v in interpreters())])
def test_matrix(matrix, form):
    """One form, on every interpreter x bits x fixture variant."""
    assert_form(matrix, form)


@pytest.mark.debootstrap
@pytest.mark.parametrize("form", list(ALL_FORMS))
def test_matrix_debian_testing(matrix_testing, form):
    """One form on Debian testing's CPython 3.14, x bits x fixture variant."""
    assert_form(matrix_testing, form)


def assert_form(matrix, form):
    results, metas, versions = matrix
    failures = []
    n = 0
    for cid, (f, variant, bits, V) in metas.items():
        if f != form:
            continue
        n += 1
        problems = check_result(results[cid], f, variant, bits, V)
        if problems:
            r = results[cid]
            failures.append("%s: %s\n    out: %r\n    err: %r" % (cid, "; ".join(problems), r["out"][-600:], r["err"][-600:]))
    assert n >= 12 * sum(v >= SINCE.get(form, ()) for v in versions) > 0
    assert not failures, "\n".join(failures[:12]) + ("\n... %d failures in all" % len(failures) if len(failures) > 12 else "")

"""The CPython face on a free-threaded CPython (PEP 703/779: no GIL, Py_GIL_DISABLED), which
Debian does not ship: built from Debian's python3.13 source package (python_face_lib; marker
`debootstrap`, it needs Debian's package registry). The matrix of forms, many threads importing
at once (none may run a refused file, be refused an allowed one or get another thread's), and the
main script's hand-off while other threads hand libraries over."""
import json
import os
import shlex
import subprocess

import pytest

import test_python_face_matrix as matrix_tests
from conftest import C_DIR, need, need_check, need_mountns, need_root
from python_face_lib import base_env, build_tools, free_threaded_python, script_in_view
from test_python_face import library_handoff_during_main_script

pytestmark = pytest.mark.debootstrap


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    return build_tools(tmp_path_factory.mktemp("pyface-tools"), C_DIR)


@pytest.fixture(scope="module")
def ft(tmp_path_factory):
    """(label, path, version, None) of the free-threaded CPython."""
    need_root()
    need_mountns()
    need_check()
    found = free_threaded_python(tmp_path_factory)
    need(found is not None, "needs Debian's python3.13 source package (network)")
    gil = subprocess.run([found[1], "-c", "import sys; print(sys._is_gil_enabled())"], capture_output=True, text=True)
    assert gil.stdout.strip() == "False", gil
    return found


# ---- the matrix ---------------------------------------------------------------------------

# Left out, for CPython's own reasons (the same without the shim): an abi3 extension module, which
# a free-threaded CPython loads and then crashes on (ecext.abi3.so, SIGSEGV); and the new REPL
# after a script (-i, PYTHONINSPECT) on a terminal, which 3.13.15t leaves only at the timeout.
# Extension modules built for it are imported below.
FORMS = {f: b for f, b in matrix_tests.ALL_FORMS.items()
         if f not in ("ext", "inspect_tty", "inspect_env", "isolated_inspect_tty")}


@pytest.fixture(scope="module")
def matrix(ft, tools, tmp_path_factory):
    return matrix_tests.run_matrix(tmp_path_factory.mktemp("pyface-matrix-ft"), tools, FORMS, [ft]) + ([ft[2]],)


@pytest.mark.parametrize("form", [f for f in FORMS if matrix_tests.SINCE.get(f, ()) <= (3, 13)])
def test_matrix_free_threaded(matrix, form):
    """One form on the free-threaded CPython, x bits x fixture variant, as on every other."""
    matrix_tests.assert_form(matrix, form)


# ---- many threads importing at once -------------------------------------------------------

# argv: DIR N_PY N_EXT THREADS. Modules m0..m<N_PY-1> (.py) and e0..e<N_EXT-1> (extension
# modules): even ones executable, odd ones 0644 (printing "RAN bad" if they ever run). All threads
# start together; what each import gave is printed as JSON.
IMPORTER = """import importlib, json, sys, threading
d, n_py, n_ext, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
sys.path.insert(0, d)
names = ['m%d' % j for j in range(n_py)] + ['e%d' % j for j in range(n_ext)]
got = {}
start = threading.Barrier(n)
def work(k):
    start.wait()
    for name in names[k::n]:
        try:
            got[name] = 'ok:' + importlib.import_module(name).WHO
        except Exception as e:
            got[name] = 'err:' + type(e).__name__
threads = [threading.Thread(target=work, args=(k,)) for k in range(n)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps({'gil': sys._is_gil_enabled(), 'got': got}))
"""


def importer_fixtures(python, d, n_py, n_ext):
    """The modules in d: .py files and extension modules built for python (ext_suffix)."""
    info = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['include']); "
                           "print(sysconfig.get_config_var('EXT_SUFFIX'))"], capture_output=True, text=True, check=True)
    include, suffix = info.stdout.split()
    d.mkdir(parents=True)
    for j in range(n_py):
        p = d / ("m%d.py" % j)
        p.write_text("WHO = 'm%d'\n" % j + ("print('RAN', 'bad', WHO)\n" if j % 2 else ""))
        os.chmod(p, 0o644 if j % 2 else 0o755)
    for j in range(n_ext):
        p = d / ("e%d%s" % (j, suffix))
        subprocess.run([os.environ.get("CC", "cc"), "-O1", "-shared", "-fPIC", "-I", include, "-DNAME=e%d" % j,
                        "-o", str(p), str(C_DIR / "python_ext_free_threaded.c")], check=True)
        os.chmod(p, 0o644 if j % 2 else 0o755)
    return suffix


def test_threads_importing_at_once(ft, tools, tmp_path):
    """8 threads import 160 .py modules and 24 extension modules (dlopen guard, hand-off slot,
    verdict cache, records all at once), under RESTRICT_FILE (three runs) and in audit mode: no
    0644 module ever runs, every executable one imports as itself (never refused, never another's
    file), one record per 0644 file, and the GIL stays off."""
    _, python, _, _ = ft
    d = tmp_path / "ns" / "imp"
    suffix = importer_fixtures(python, d / "mods", 160, 24)
    prog = d / "importer.py"
    prog.write_text(IMPORTER)
    os.chmod(prog, 0o755)
    runs = [("f%d" % n, ["-f"]) for n in range(3)] + [("audit", [])]
    lines = []
    for name, bits in runs:
        e = base_env(d / (name + ".jsonl"))
        lines.append("echo '--- %s'; env -i %s %s %s -- %s %s %s 160 24 8 || echo rc=$?" % (
            name, " ".join("%s=%s" % (k, shlex.quote(str(v))) for k, v in e.items()), shlex.quote(str(tools["setexec"])),
            " ".join(bits), shlex.quote(python), shlex.quote(str(prog)), shlex.quote(str(d / "mods"))))
    r = script_in_view(python, tmp_path / "ns", "\n".join(lines), timeout=300)
    parts = {p.split("\n", 1)[0]: p.split("\n", 1)[1] for p in r.stdout.split("--- ")[1:]}
    assert set(parts) == {name for name, _ in runs}, r.stdout + r.stderr
    for name, bits in runs:
        assert "rc=" not in parts[name], (name, parts[name], r.stderr[-3000:])
        out = json.loads(parts[name].strip().splitlines()[-1])
        assert out["gil"] is False, name
        got = out["got"]
        odd = {n for n in got if int(n[1:]) % 2}
        assert len(got) == 184
        for mod, what in got.items():
            if mod not in odd or not bits:
                assert what == "ok:" + mod, (name, mod, what)
            else:
                assert what == ("err:PermissionError" if mod[0] == "m" else "err:ImportError"), (name, mod, what)
        ran = [line for line in parts[name].splitlines() if line.startswith("RAN bad")]
        assert len(ran) == (0 if bits else 80), (name, ran)
        with open(d / (name + ".jsonl")) as f:
            # a torn line would not parse; an empty one is skipped, as execcheck's reader does (the
            # file sink can add one when another writer's line is half appended: README "Records")
            recs = [json.loads(x) for x in f if x.strip()]
        mine = sorted((os.path.basename(x["path"]), x["action"]) for x in recs if x["face"] == "python")
        want = sorted(("%s%s" % (m, ".py" if m[0] == "m" else suffix), "refused" if bits else "logged") for m in odd)
        assert mine == want, (name, mine[:5], len(mine))


# ---- the main script's hand-off -----------------------------------------------------------

def test_library_handoff_never_displaces_the_main_script(ft, tools, tmp_path):
    """test_python_face's case on the free-threaded CPython: the other thread's library hand-offs
    come while the main thread is between the check of its script and the fopen."""
    out = library_handoff_during_main_script(ft[1], tools, tmp_path)
    assert "RAN bad" not in out, out
    assert "RAN good" in out and "rc=" not in out and "execcheck" not in out, out


# ---- fork() while threads load code ------------------------------------------------------

# argv: LIB. 4 threads load LIB with ctypes (the face checks it and hands it to the dlopen guard)
# without a pause while the main thread forks 100 children that load it too. (Threads importing
# modules are left out: 3.13.15t's own child can hang there in a dict's lock, shim or not.)
FORKER = """import ctypes, os, sys, threading, warnings
warnings.simplefilter('ignore')  # 'multi-threaded, use of fork() may lead to deadlocks'
lib = sys.argv[1]
stop = False
def load():
    while not stop:
        ctypes.CDLL(lib)
threads = [threading.Thread(target=load) for _ in range(4)]
for t in threads:
    t.start()
codes = []
for _ in range(100):
    pid = os.fork()
    if pid == 0:
        ctypes.CDLL(lib)
        os._exit(0)
    codes.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
stop = True
for t in threads:
    t.join()
print('forks', len(codes), 'failed', [c for c in codes if c], 'gil', sys._is_gil_enabled())
"""


def test_fork_while_threads_load_libraries(ft, tools, tmp_path):
    """Under RESTRICT_FILE, the preload face alone (its hand-off slot in use) and with the audit
    face: every child forked while other threads are inside the face loads the library and ends;
    none waits for a holder fork() left behind."""
    _, python, _, _ = ft
    d = tmp_path / "ns" / "fork"
    d.mkdir(parents=True)
    prog, lib = d / "forker.py", d / "libec.so"
    prog.write_text(FORKER)
    lib.write_bytes(tools["lib"].read_bytes())
    for p in (prog, lib):
        os.chmod(p, 0o755)
    e = base_env(d / "log.jsonl")
    shim = e.pop("LD_PRELOAD")
    env = " ".join("%s=%s" % (k, shlex.quote(str(v))) for k, v in e.items())
    q = shlex.quote
    script = "\n".join([  # the setexec that starts python has the shim (audit face propagated) or not
        "timeout 120 env -i %s %s -f -- /usr/bin/env LD_PRELOAD=%s %s %s %s || echo rc=$?" % (
            env, q(str(tools["setexec"])), q(shim), q(python), q(str(prog)), q(str(lib))),
        "timeout 120 env -i %s LD_PRELOAD=%s %s -f -- %s %s %s || echo rc=$?" % (
            env, q(shim), q(str(tools["setexec"])), q(python), q(str(prog)), q(str(lib)))])
    r = script_in_view(python, tmp_path / "ns", script, timeout=300)
    assert r.stdout.count("forks 100 failed [] gil False") == 2 and "rc=" not in r.stdout, r.stdout + r.stderr[-3000:]

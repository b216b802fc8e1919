"""The CPython face beyond the matrix: the main-script race, options and environments that must
not skip it, bytecode caches, CPython's debug allocators, code-running -m modules, and the shim
staying out of the way where it has nothing to do (other programs, old Pythons, a late load)."""
import json
import os
import pathlib
import shlex
import shutil
import subprocess
import sys
import time

import pytest

from conftest import C_DIR, need, need_check, need_mountns, need_root, run
from python_face_lib import base_env, build_tools, interpreters, run_in_view, script_in_view, shim_path

PYTHONS = interpreters()
IDS = [label for label, _, _ in PYTHONS]
PYVERSION = {path: version for _, path, version in PYTHONS}


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    return build_tools(tmp_path_factory.mktemp("pyface-tools"), C_DIR)


@pytest.fixture
def enforcing_env():
    need_root()
    need_mountns()
    need_check()
    need(bool(PYTHONS), "no CPython >= 3.8 found")


def records(path):
    try:
        return [json.loads(line) for line in open(path) if line.strip()]
    except FileNotFoundError:
        return []


def write(path, text, mode=0o755):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


# ---- the main script is race-free -----------------------------------------------------------

SWAPPER = r"""
import os, sys
good, bad, target = sys.argv[1:4]
tmp = target + ".swap"
while True:  # hard links keep each file's own mode: good is 0755, bad 0644
    for src in (good, bad):
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        os.link(src, tmp)
        os.rename(tmp, target)
"""


def runs_while_looping(python, tools, tmp_path, target, loop_src, *loop_args, runs=160):
    """Runs `python target` under RESTRICT_FILE `runs` times, in the executable view, while a
    Python loop (loop_src, given loop_args) changes what the name is. Returns (results, outputs)."""
    cases = [{"id": str(n), "argv": [str(tools["setexec"]), "-f", "--", python, str(target)],
              "env": base_env(), "cwd": str(target.parent), "stdin": None, "timeout": 60} for n in range(runs)]
    loop = subprocess.Popen([sys.executable, "-c", loop_src, *map(str, loop_args)])
    try:
        results = run_in_view(python, tmp_path / "ns", cases)
    finally:
        loop.kill()
        loop.wait()
    return results, [r["out"] + r["err"] for r in results.values()]


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_race_swapped_script_never_runs(python, tools, tmp_path, enforcing_env):
    """A loop renames a good (0755) and a bad (0644) script over the same name while CPython runs
    that name under RESTRICT_FILE: the bad one never runs; both outcomes are seen, so the swap was
    live during the runs."""
    d = tmp_path / "race"
    good = write(d / "good.py", "print('RAN', 'good')\n", 0o755)
    bad = write(d / "bad.py", "print('RAN', 'bad')\n", 0o644)
    target = d / "target.py"
    os.link(good, target)
    results, outs = runs_while_looping(python, tools, tmp_path, target, SWAPPER, good, bad, target)
    assert_only_good_ran(results, outs, "script", 2)  # 2: CPython could not open the name mid-rename


def assert_only_good_ran(results, outs, what, mid_rename_rc):
    """A swap race's runs: the bad file never ran, and both the good one and refusals were seen
    (so the swap was live); any other status is only CPython's failure to open the name mid-rename."""
    ran_bad = sum("RAN bad" in o for o in outs)
    ran_good = sum("RAN good" in o for o in outs)
    refused = sum("execcheck: refused to run" in o for o in outs)
    assert ran_bad == 0, "the swapped-in 0644 %s ran %d times" % (what, ran_bad)
    assert ran_good > 0 and refused > 0, (ran_good, refused, outs[:3])
    for r in results.values():
        assert r["rc"] in (0, 126, mid_rename_rc), r


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_race_swapped_bytecode_script_never_runs(python, tools, tmp_path, enforcing_env):
    """A main script that is bytecode (`python target.pyc`) is opened twice by CPython: its first
    FILE only tells it a .pyc (maybe_pyc_file), run_pyc_file then opens the name again. The file
    read must still be the file checked while a loop swaps a good (0755) and a bad (0644) .pyc
    over the name. Before, that second open went to the name, unchecked: the bad one ran."""
    d = tmp_path / "race"
    d.mkdir()
    for name, mode in (("good", 0o755), ("bad", 0o644)):
        src = write(d / ("%s.py" % name), "print('RAN', %r)\n" % name, 0o644)
        run([python, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
             str(src), str(d / ("%s.pyc" % name))], check=True)
        os.chmod(d / ("%s.pyc" % name), mode)
    good, bad, target = d / "good.pyc", d / "bad.pyc", d / "target.pyc"
    os.link(good, target)
    results, outs = runs_while_looping(python, tools, tmp_path, target, SWAPPER, good, bad, target, runs=240)
    assert_only_good_ran(results, outs, "bytecode", 1)  # 1: CPython could not open the name mid-rename


VANISHER = r"""
import os, sys
bad, target = sys.argv[1:3]
tmp = target + ".swap"
while True:  # the name is there (bad, 0644) or missing, in turn
    try:
        os.unlink(tmp)
    except FileNotFoundError:
        pass
    os.link(bad, tmp)
    os.rename(tmp, target)
    os.unlink(target)
"""


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_race_script_appearing_after_a_failed_open_never_runs(python, tools, tmp_path, enforcing_env):
    """The name is missing when the face opens it and there (0644) when CPython's fopen comes: that
    fopen must fail like the face's open did, not read the file unchecked. Before, the face let
    CPython open the name itself, and the 0644 script ran about one time in ten."""
    d = tmp_path / "race"
    bad = write(d / "bad.py", "print('RAN', 'bad')\n", 0o644)
    target = d / "target.py"
    results, outs = runs_while_looping(python, tools, tmp_path, target, VANISHER, bad, target)
    ran_bad = sum("RAN bad" in o for o in outs)
    missing = sum("can't open file" in o for o in outs)
    refused = sum("execcheck: refused to run" in o for o in outs)
    assert ran_bad == 0, "the 0644 script that appeared after the check ran %d times" % ran_bad
    assert missing > 0 and refused > 0, (missing, refused, outs[:3])
    for r in results.values():
        assert r["rc"] in (126, 2), r


# another thread hands a library over (ctypes.CDLL, an extension module's import) between the
# face's check of the main script and CPython's fopen of it, then swaps a 0644 file in; the main
# thread's Python audit hook (after the face's C hook) waits for it. A free-threaded CPython needs
# no wait: the other thread runs alongside at any moment.
DISPLACER = """import ctypes, os, sys, threading
go, done = threading.Event(), threading.Event()
def other():
    go.wait()
    for _ in range(20):
        ctypes.CDLL(os.environ['EC_LIB'])
    os.rename(os.environ['EC_BAD'], os.environ['EC_TARGET'])
    done.set()
threading.Thread(target=other, daemon=True).start()
def hook(event, args):
    if event == 'cpython.run_file':
        go.set()
        while not done.is_set():
            pass
sys.addaudithook(hook)
"""


def swap_scene(d, site, tools, says="print('RAN', %r)\n"):
    """A main script to be swapped: d/s.py a hard link to the 0755 good.py, d/b.py one to the 0644
    bad.py (each `says` which it is), the sitecustomize site in d/sc, and tools' libec.so copied
    0755 into d (for ctypes). Returns that library."""
    write(d / "good.py", says % "good", 0o755)
    write(d / "bad.py", says % "bad", 0o644)
    os.link(d / "good.py", d / "s.py")
    os.link(d / "bad.py", d / "b.py")
    write(d / "sc" / "sitecustomize.py", site, 0o755)
    lib = d / "libec.so"
    shutil.copy(tools["lib"], lib)
    os.chmod(lib, 0o755)
    return lib


def library_handoff_during_main_script(python, tools, tmp_path):
    """Under RESTRICT_FILE, the preload face alone (the process that starts python has no shim, so
    none propagates the audit face, which takes no library hand-off). Returns the script's output."""
    d = tmp_path / "ns" / "displace"
    lib = swap_scene(d, DISPLACER, tools)
    env = base_env(d / "log.jsonl", PYTHONPATH=d / "sc", EC_LIB=lib, EC_BAD=d / "b.py", EC_TARGET=d / "s.py")
    shim = env.pop("LD_PRELOAD")
    script = "env -i %s %s -f -- /usr/bin/env LD_PRELOAD=%s %s %s || echo rc=$?" % (
        " ".join("%s=%s" % (k, shlex.quote(str(v))) for k, v in env.items()), shlex.quote(str(tools["setexec"])),
        shlex.quote(shim), shlex.quote(python), shlex.quote(str(d / "s.py")))
    r = script_in_view(python, tmp_path / "ns", script)
    assert not os.path.exists(d / "b.py"), "the swap did not happen: " + r.stdout + r.stderr
    return r.stdout + r.stderr


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_library_handoff_never_displaces_the_main_script(python, tools, tmp_path, enforcing_env):
    """The hand-off slot holds one descriptor: another thread's library hand-off replaced the main
    script's, CPython's fopen found nothing for it and opened the name again, and the 0644 file
    swapped in ran (every time, on every CPython here and on a free-threaded one). The main script
    that runs must be the file checked."""
    out = library_handoff_during_main_script(python, tools, tmp_path)
    assert "RAN bad" not in out, out
    assert "RAN good" in out and "rc=" not in out and "execcheck" not in out, out


# ---- cannot be skipped ----------------------------------------------------------------------

@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_options_and_shadowed_encodings_do_not_skip(python, tools, tmp_path, enforcing_env):
    d = tmp_path / "fx"
    nox = write(d / "nox.py", "print('RAN', 'nox')\n", 0o644)
    write(d / "evil644" / "encodings" / "__init__.py", "import posix; posix.write(1, b'RAN EVIL\\n')\n", 0o644)
    write(d / "evilx" / "encodings" / "__init__.py", "import posix; posix.write(1, b'RAN EVIL\\n')\n", 0o755)  # copied to the noexec tmpfs
    weird = str(write(d / b"w\xff\xfe.py".decode("utf-8", "surrogateescape"), "print('RAN', 'weird')\n", 0o755))
    weird_nox = str(write(d / b"n\xff.py".decode("utf-8", "surrogateescape"), "print('RAN', 'weird')\n", 0o644))
    noexec = tmp_path / "ns" / "noexec"
    se = str(tools["setexec"])
    cases, expect = [], {}

    def case(name, bits, argv, rc, ran, record=None, **env):
        log = tmp_path / ("%s.jsonl" % name)
        cases.append({"id": name, "argv": [se, *bits, "--", python, *argv], "env": base_env(log, **env),
                      "cwd": str(d), "stdin": None, "timeout": 60})
        expect[name] = (rc, ran, record, log)

    for opt in (["-S"], ["-I"], ["-E"], ["-s"], ["-S", "-I", "-E"], ["-X", "frozen_modules=off"]):
        case("rf%s" % "".join(opt), ["-f"], [*opt, str(nox)], 126, None,
             ("script", str(nox), "x-bit", "refused"))
        case("di%s" % "".join(opt), ["-i"], [*opt, "-c", "print('RAN', 'c')"], 126, None,
             ("interactive", "(python -c)", "not-regular", "refused"))
    # PYTHONPATH shadowing encodings: imported during init, before site and before any .pth
    case("shadow644", ["-f"], [str(d / "weird-missing.py")], 1, None,
         ("module", str(d / "evil644" / "encodings" / "__init__.py"), "x-bit", "refused"),
         PYTHONPATH=str(d / "evil644"))
    case("shadow-noexec", ["-f", "-i"], ["-c", "pass"], 1, None,
         ("module", str(noexec / "evilx" / "encodings" / "__init__.py"), "noexec", "refused"),
         PYTHONPATH=str(noexec / "evilx"))
    case("shadow-audit", [], ["-c", "pass"], None, "RAN EVIL",
         ("module", str(d / "evil644" / "encodings" / "__init__.py"), "x-bit", "logged"),
         PYTHONPATH=str(d / "evil644"))
    # ... as bytecode alone (encodings/__init__.pyc, no source): importlib reads that with FileIO, not
    # io.open_code, and it came before the face's audit hook was in: it ran under both bits
    for where in ("pyc644", "pycx"):
        src = write(d / "src" / where / "encodings" / "__init__.py", "import posix; posix.write(1, b'RAN EVIL\\n')\n")
        pyc = d / where / "encodings" / "__init__.pyc"
        pyc.parent.mkdir(parents=True)
        run([python, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
             str(src), str(pyc)], check=True)
        os.chmod(pyc, 0o644 if where == "pyc644" else 0o755)
    case("sourceless644", ["-f"], ["-c", "pass"], 1, None,
         ("module", str(d / "pyc644" / "encodings" / "__init__.pyc"), "x-bit", "refused"),
         PYTHONPATH=str(d / "pyc644"))
    case("sourceless-noexec", ["-f", "-i"], ["-c", "pass"], 1, None,
         ("module", str(noexec / "pycx" / "encodings" / "__init__.pyc"), "noexec", "refused"),
         PYTHONPATH=str(noexec / "pycx"))
    case("sourceless-audit", [], ["-c", "pass"], None, "RAN EVIL",
         ("module", str(d / "pyc644" / "encodings" / "__init__.pyc"), "x-bit", "logged"),
         PYTHONPATH=str(d / "pyc644"))
    # ... after an earlier PYTHONPATH entry that is a regular file: zipimport's path hook opens it
    # with open_code (the face's audit hook goes in) before the search reaches the sourceless
    # encodings, and no import event comes in between to patch importlib
    case("sourceless644-after-probe", ["-f"], ["-c", "pass"], 1, None,
         ("module", str(d / "pyc644" / "encodings" / "__init__.pyc"), "x-bit", "refused"),
         PYTHONPATH="%s:%s" % (python, d / "pyc644"))
    case("sourceless-audit-after-probe", [], ["-c", "pass"], None, "RAN EVIL",
         ("module", str(d / "pyc644" / "encodings" / "__init__.pyc"), "x-bit", "logged"),
         PYTHONPATH="%s:%s" % (python, d / "pyc644"))
    # a stdlib of bytecode alone (a pyc-only image; here its encodings package, all 0755, first on
    # the path): with -S the start-up makes no open_code call, which added the face's audit hook,
    # before the main entry, and -c and -m timeit ran under DENY_INTERACTIVE, unseen
    std = run([python, "-S", "-c", "import sysconfig; print(sysconfig.get_paths()['stdlib'])"]).stdout.strip()
    pyc_only = d / "pyc-only" / "encodings"
    shutil.copytree(os.path.join(std, "encodings"), pyc_only, ignore=shutil.ignore_patterns("__pycache__"))
    run([python, "-m", "compileall", "-q", "-b", str(pyc_only)], check=True)
    for f in pyc_only.iterdir():
        f.unlink() if f.suffix == ".py" else os.chmod(f, 0o755)
    case("pyc-only-S-c", ["-f", "-i"], ["-S", "-c", "print('RAN', 'c')"], 126, None,
         ("interactive", "(python -c)", "not-regular", "refused"), PYTHONPATH=str(pyc_only.parent))
    case("pyc-only-S-m", ["-f", "-i"], ["-S", "-m", "timeit", "-n1", "-r1", "print('RAN', 'c')"], 126, None,
         ("interactive", "(python -m timeit)", "not-regular", "refused"), PYTHONPATH=str(pyc_only.parent))
    case("pyc-only-S-c-audit", [], ["-S", "-c", "print('RAN', 'audit')"], 0, "RAN audit",
         ("interactive", "(python -c)", "not-regular", "logged"), PYTHONPATH=str(pyc_only.parent))
    # names that are not UTF-8: the checked fd still reaches CPython's fopen
    case("weird-ok", ["-f"], [weird], 0, "RAN weird")
    case("weird-nox", ["-f"], [weird_nox], 126, None)

    results = run_in_view(python, tmp_path / "ns", cases,
                          copies=[(d / "evilx", noexec / "evilx"), (d / "pycx", noexec / "pycx")])
    failures = []
    for name, (rc, ran, record, log) in expect.items():
        r = results[name]
        out = r["out"] + r["err"]
        if rc is not None and r["rc"] != rc:
            failures.append("%s: status %r, expected %r: %s" % (name, r["rc"], rc, out[-400:]))
        if "EVIL" in out and ran != "RAN EVIL" or "RAN nox" in out or "RAN c" in out:
            failures.append("%s: refused code ran: %s" % (name, out[-400:]))
        if ran and ran not in out:
            failures.append("%s: %r missing: %s" % (name, ran, out[-400:]))
        got = {(x["kind"], x["path"], x["reason"], x["action"]) for x in records(log)}
        if record and record not in got:
            failures.append("%s: record %r not in %r" % (name, record, got))
    assert not failures, "\n".join(failures)


# ---- bytecode caches ------------------------------------------------------------------------

@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_bytecode_cache_keeps_exec_bits(python, tools, tmp_path, enforcing_env):
    """Caches written under the shim keep the x bits of their source (where umask 022 lets the
    r bit through), so an executable module imports from its cache under RESTRICT_FILE; without
    the shim CPython writes 0644. Legacy caches (compileall -b) too."""
    d = tmp_path / "mods"
    write(d / "mx.py", "print('RAN', 'mx')\n", 0o755)
    write(d / "mn.py", "print('RAN', 'mn')\n", 0o644)
    write(d / "plain.py", "print('RAN', 'plain')\n", 0o755)
    write(d / "legacy" / "lg.py", "X = 1\n", 0o755)
    host = write(d / "host.py", "import mx, sys\nprint('CACHED', sys.modules['mx'].__cached__)\n", 0o755)
    log = tmp_path / "rf.jsonl"
    q = shlex.quote
    env_shim = "env -u PYTHONDONTWRITEBYTECODE LD_PRELOAD=%s PYTHONPATH=%s" % (q(shim_path()), q(str(d)))
    script = "\n".join([
        "umask 022",
        "cd %s" % q(str(d)),
        "%s %s -c 'import mx, mn'" % (env_shim, q(python)),
        "env -u PYTHONDONTWRITEBYTECODE -u LD_PRELOAD PYTHONPATH=%s %s -c 'import plain'" % (q(str(d)), q(python)),
        "%s %s -m compileall -q -b legacy" % (env_shim, q(python)),
        "stat -c '%n %a' __pycache__/*.pyc legacy/*.pyc",
        # under RESTRICT_FILE: the executable cache is used as is, nothing refused
        "%s EXECCHECK_LOG_FILE=%s PYTHONDONTWRITEBYTECODE=1 %s -f -- %s %s"
        % (env_shim, q(str(log)), q(str(tools["setexec"])), q(python), q(str(host))),
    ])
    r = script_in_view(python, tmp_path / "ns", script)
    assert r.returncode == 0, r.stdout + r.stderr
    modes = {pathlib.Path(line.split()[0]).name.split(".")[0]: line.split()[1]
             for line in r.stdout.splitlines() if line.endswith(("644", "755"))}
    assert modes == {"mx": "755", "mn": "644", "plain": "644", "lg": "755"}, r.stdout
    assert "CACHED" in r.stdout and "RAN mx" in r.stdout
    assert [(x["path"], x["reason"]) for x in records(log)] == [], records(log)


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_bytecode_cache_of_a_dotted_name_keeps_its_own_bits(python, tools, tmp_path, enforcing_env):
    """a.b.py's cache is __pycache__/a.b.<tag>.pyc: its x bits are a.b.py's, not those of an a.py next
    to it. Before, the cache of a 0644 a.b.py written under the shim took a.py's 755, and under
    RESTRICT_FILE the 0644 code then ran from it without its source being read."""
    d = tmp_path / "mods"
    write(d / "a.py", "X = 1\n", 0o755)
    write(d / "a.b.py", "print('RAN', 'a.b')\n", 0o644)
    loader = write(d / "loader.py", "import importlib.util as u\n"
                   "s = u.spec_from_file_location('m', %r)\n"
                   "s.loader.exec_module(u.module_from_spec(s))\n" % str(d / "a.b.py"), 0o755)
    q = shlex.quote
    env_shim = "env -u PYTHONDONTWRITEBYTECODE LD_PRELOAD=%s" % q(shim_path())
    script = "\n".join([
        "umask 022",
        "cd %s" % q(str(d)),
        "%s %s %s" % (env_shim, q(python), q(str(loader))),
        "stat -c '%n %a' __pycache__/*.pyc",
        "%s %s -f -- %s %s || echo status $?" % (env_shim, q(str(tools["setexec"])), q(python), q(str(loader))),
    ])
    r = script_in_view(python, tmp_path / "ns", script)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [line.split()[1] for line in r.stdout.splitlines() if ".pyc " in line] == ["644"], r.stdout
    assert r.stdout.count("RAN a.b") == 1 and "status 1" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_bytecode_cache_under_a_pycache_prefix(python, tools, tmp_path, enforcing_env):
    """PYTHONPYCACHEPREFIX puts caches in a tree of their own (prefix/<source dir>/name.tag.pyc): they
    keep the x bits of their source too, and a refused one falls back to its source without a word,
    as in __pycache__. Before, every cache there was 0644 and every import said it refused it."""
    d = tmp_path / "mods"
    write(d / "mx.py", "print('RAN', 'mx')\n", 0o755)
    write(d / "mn.py", "print('RAN', 'mn')\n", 0o644)
    prefix = tmp_path / "pyc-prefix/"
    log = tmp_path / "rf.jsonl"
    q = shlex.quote
    env_shim = "env -u PYTHONDONTWRITEBYTECODE LD_PRELOAD=%s PYTHONPATH=%s PYTHONPYCACHEPREFIX=%s" % (
        q(shim_path()), q(str(d)), q(str(prefix) + "/"))
    script = "\n".join([
        "set +e",
        "umask 022",
        "cd /",
        "%s %s -c 'import mx, mn'" % (env_shim, q(python)),
        "find %s -name 'm?.*.pyc' -exec stat -c '%%n %%a' {} +" % q(str(prefix)),
        "%s EXECCHECK_LOG_FILE=%s %s -f -- %s -c 'import mx'; echo rc=$?" % (env_shim, q(str(log)), q(str(tools["setexec"])), q(python)),
        "%s EXECCHECK_LOG_FILE=%s %s -f -- %s -c 'import mn'; echo rc=$?" % (env_shim, q(str(log)), q(str(tools["setexec"])), q(python)),
    ])
    r = script_in_view(python, tmp_path / "ns", script)
    assert r.returncode == 0, r.stdout + r.stderr
    modes = {pathlib.Path(line.split()[0]).name.split(".")[0]: line.split()[1]
             for line in r.stdout.splitlines() if line.startswith(str(prefix))}
    assert modes == {"mx": "755", "mn": "644"}, r.stdout
    assert str(prefix / str(d).lstrip("/")) in r.stdout, r.stdout  # the cache is where importlib puts it
    assert r.stdout.count("rc=0") == 1 and r.stdout.count("rc=1") == 1 and r.stdout.count("RAN mx") == 2, r
    mine = [(pathlib.Path(x["path"]).name, x["action"]) for x in records(log)  # not Debian's 0644 sitecustomize's
            if x["path"].startswith(str(tmp_path)) and pathlib.Path(x["path"]).name.startswith("m")]
    assert sorted(mine) == [("mn.cpython-%d%d.pyc" % tuple(PYVERSION[python][:2]), "refused"), ("mn.py", "refused")], mine
    said = [line for line in r.stderr.splitlines() if line.startswith("execcheck: refused") and str(tmp_path) in line]
    assert said == ["execcheck: refused to import %s: x-bit (no execute permission (mode bits))" % (d / "mn.py")], r.stderr


def test_cache_mode_never_follows_symlinks_or_foreign_files(tmp_path):
    """The chmod on rename only touches the regular, single-link temporary file CPython made."""
    python = sys.executable
    d = tmp_path / "m"
    write(d / "mx.py", "X = 1\n", 0o755)
    victim = write(tmp_path / "victim", "data\n", 0o600)
    code = ("import os, importlib._bootstrap_external as be\n"
            "p = be.cache_from_source(%r)\n"
            "os.makedirs(os.path.dirname(p), exist_ok=True)\n"
            "os.symlink(%r, p + '.123')\n"
            "os.rename(p + '.123', p)\n" % (str(d / "mx.py"), str(victim)))
    r = run([python, "-c", code], env=base_env())
    assert r.returncode == 0, r.stderr
    assert oct(os.stat(victim).st_mode & 0o7777) == oct(0o600)


# ---- CPython's own allocators and shutdown --------------------------------------------------

@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_debug_allocators_and_dev_mode(python, tools, tmp_path):
    """PySys_AddAuditHook's entry is freed at exit by the raw allocator in force then: the face
    adds it once CPython chose one. PYTHONMALLOC=debug and -X dev must exit cleanly."""
    script = write(tmp_path / "ok.py", "print('RAN', 'ok')\n")
    for argv, extra in (([python, str(script)], {"PYTHONMALLOC": "debug"}),
                        ([python, "-X", "dev", str(script)], {}),
                        ([python, "-X", "dev", "-c", "print('RAN', 'ok')"], {}),
                        ([python, "-c", "print('RAN', 'ok')"], {"PYTHONMALLOC": "malloc_debug"})):
        r = run(argv, env=base_env(**extra))
        assert r.returncode == 0 and "RAN ok" in r.stdout, (argv, extra, r.stderr)
        assert "Fatal Python error" not in r.stderr and "Debug memory block" not in r.stderr
    r = run([str(tools["setexec"]), "-i", "--", python, "-X", "dev", "-c", "print('RAN', 'x')"], env=base_env())
    assert r.returncode == 126 and "RAN x" not in r.stdout and "Fatal" not in r.stderr, r.stderr


# ---- code-running -m modules ----------------------------------------------------------------

@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_modules_that_run_unchecked_files(python, tools, tmp_path, enforcing_env):
    """doctest runs examples from text files it opens itself, pickle runs a pickle's callables:
    no check is possible, so they are refused under either bit; timeit under DENY_INTERACTIVE only."""
    d = tmp_path / "fx"
    write(d / "ex.txt", ">>> print('RAN', 'doctest')\nRAN doctest\n", 0o755)
    pkl = d / "ex.pkl"
    subprocess.run([python, "-c", "import pickle, sys; open(sys.argv[1], 'wb').write(pickle.dumps(print))", str(pkl)],
                   check=True, env={"PATH": "/usr/bin:/bin"})
    se = str(tools["setexec"])
    cases = []
    for bits in ([], ["-f"], ["-i"]):
        for name, argv in (("doctest", ["-m", "doctest", "-v", str(d / "ex.txt")]),
                           ("pickle", ["-m", "pickle", str(pkl)]),
                           ("timeit", ["-m", "timeit", "-n", "1", "-r", "1", "pass"]),
                           ("runpy", ["-m", "runpy", "timeit", "-n", "1", "-r", "1", "pass"])):
            cases.append({"id": "%s%s" % (name, "".join(bits)), "argv": [se, *bits, "--", python, *argv],
                          "env": base_env(), "cwd": str(d), "stdin": None, "timeout": 60})
    res = run_in_view(python, tmp_path / "ns", cases)
    for cid, r in res.items():
        name, bits = cid.rstrip("-fi"), cid[len(cid.rstrip("-fi")):]
        refused = bits == "-i" or (bits == "-f" and name in ("doctest", "pickle"))
        assert (r["rc"] == 126) == refused, (cid, r)
        assert ("execcheck: refused to run interactive code (python -m %s)" % name in r["err"]) == refused, (cid, r)


# ---- imp (3.8-3.11) -------------------------------------------------------------------------

IMP_HOST = r"""
import sys, warnings
warnings.simplefilter("ignore")
import imp
how, d, name = sys.argv[1:4]
try:
    if how == "find":  # the plugin pattern: find_module opens the file, load_module reads it
        f, path, desc = imp.find_module(name, [d])
        imp.load_module(name, f, path, desc)
    elif how == "source":
        imp.load_source(name, "%s/%s.py" % (d, name), open("%s/%s.py" % (d, name)))
    else:
        imp.load_compiled(name, "%s/%s.pyc" % (d, name), open("%s/%s.pyc" % (d, name), "rb"))
    print("loaded", name)
except PermissionError:
    print("refused", name)
"""


@pytest.mark.parametrize("python", [p for _, p, v in PYTHONS if v < (3, 12)],
                         ids=[label for label, _, v in PYTHONS if v < (3, 12)])
def test_imp_loads_are_checked(python, tools, tmp_path, enforcing_env):
    """imp (gone in 3.12) reads a module it was given a file for - find_module's, or the caller's
    for load_source/load_compiled - from that file object, opened with open(): a 0644 module or one
    on a noexec mount ran under RESTRICT_FILE, unrecorded. The face reads it through open_code."""
    d = tmp_path / "plug"
    write(d / "good.py", "print('RAN', 'good')\n", 0o755)
    write(d / "bad.py", "print('RAN', 'bad')\n", 0o644)
    run([python, "-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)",
         str(d / "bad.py"), str(d / "badc.pyc")], check=True)
    os.chmod(d / "badc.pyc", 0o644)
    host = write(tmp_path / "host.py", IMP_HOST, 0o755)
    noexec = tmp_path / "ns" / "noexec"
    se = str(tools["setexec"])
    cases, expect = [], {}
    for cid, bits, how, where, name, want in (
            ("find-good", ["-f"], "find", d, "good", "loaded good"),
            ("find-bad", ["-f"], "find", d, "bad", "refused bad"),
            ("find-noexec", ["-f"], "find", noexec / "plug", "good", "refused good"),
            ("source-bad", ["-f"], "source", d, "bad", "refused bad"),
            ("compiled-bad", ["-f"], "compiled", d, "badc", "refused badc"),
            ("find-bad-audit", [], "find", d, "bad", "loaded bad")):
        log = tmp_path / ("%s.jsonl" % cid)
        cases.append({"id": cid, "argv": [se, *bits, "--", python, str(host), how, str(where), name],
                      "env": base_env(log), "cwd": str(tmp_path), "stdin": None, "timeout": 60})
        expect[cid] = (want, log)
    results = run_in_view(python, tmp_path / "ns", cases, copies=[(d, noexec / "plug")])
    failures = []
    for cid, (want, log) in expect.items():
        r = results[cid]
        if r["rc"] != 0 or want not in r["out"] or ("RAN bad" in r["out"]) != (cid == "find-bad-audit"):
            failures.append("%s: %r %r %r" % (cid, r["rc"], r["out"], r["err"][-300:]))
        got = {(x["kind"], x["action"]) for x in records(log) if x["face"] == "python" and "/plug/" in x["path"]}
        if got != ({("module", "logged")} if cid == "find-bad-audit" else set() if cid == "find-good" else {("module", "refused")}):
            failures.append("%s: records %r" % (cid, records(log)))
    assert not failures, "\n".join(failures)


# ---- sub-interpreters -----------------------------------------------------------------------

SUBINTERPRETERS = r"""
import sys, threading
try:
    import _interpreters as I          # 3.13: isolated interpreters, each with its own GIL
except ImportError:
    import _xxsubinterpreters as I     # 3.8-3.12
run = getattr(I, "exec", None) or I.run_string
code = "import sys; sys.path.insert(0, %r); import %s"
results = {}
def go(n, module):
    interp = I.create()
    try:  # 3.13 returns the exception's description, earlier ones raise RunFailedError
        r = run(interp, code % (sys.argv[1], module))
    except Exception as e:
        r = e
    results[n] = "imported" if r is None else "refused" if "PermissionError" in str(r) else "other: %r" % (r,)
    I.destroy(interp)  # in its own thread: 3.11's shutdown hangs on one made and left by another
threads = [threading.Thread(target=go, args=(n, "good" if n % 2 else "bad")) for n in range(4)]
for t in threads: t.start()
for t in threads: t.join()
print(sorted(results.items()))
"""


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_imports_in_subinterpreters(python, tools, tmp_path, enforcing_env):
    """Sub-interpreters, four at once in threads (3.13: each with its own GIL) share the process's
    open_code hook: under RESTRICT_FILE a 0644 module is refused in each, an executable one imports."""
    d = tmp_path / "mods"
    write(d / "good.py", "X = 1\n", 0o755)
    write(d / "bad.py", "print('RAN', 'bad')\n", 0o644)
    host = write(tmp_path / "host.py", SUBINTERPRETERS, 0o755)
    env = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in base_env(tmp_path / "rf.jsonl").items())
    script = "env -i %s %s -f -- %s %s %s" % (env, shlex.quote(str(tools["setexec"])), shlex.quote(python),
                                             shlex.quote(str(host)), shlex.quote(str(d)))
    r = script_in_view(python, tmp_path / "ns", script)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[-1] == str([(0, "refused"), (1, "imported"), (2, "refused"), (3, "imported")]), r.stdout
    assert "RAN bad" not in r.stdout
    assert r.stderr.count("execcheck: refused to import %s" % (d / "bad.py")) == 1, r.stderr


# ---- an interpreter embedded in another program ---------------------------------------------

def build_embedder(python, out):
    """tests/c/python_embed.c linked against python's shared libpython."""
    cfg = subprocess.run([python, "-c", "import sys, sysconfig as s; print(s.get_config_var('INCLUDEPY'), "
                          "s.get_config_var('LIBDIR'), s.get_config_var('LDVERSION'), sys.prefix)"],
                         capture_output=True, text=True, check=True, env={"PATH": "/usr/bin:/bin"}).stdout.split()
    inc, libdir, ldversion, prefix = cfg
    subprocess.run([os.environ.get("CC", "cc"), "-O1", "-o", str(out), str(C_DIR / "python_embed.c"), "-I", inc,
                    "-L", libdir, "-lpython" + ldversion, "-Wl,-rpath," + libdir], check=True)
    return out, prefix


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_an_interpreter_embedded_in_another_program(python, tools, tmp_path, enforcing_env):
    """A program that embeds CPython (gdb, vim, plugin hosts) gets the face from the shim like
    python itself, in every life of the interpreter (Py_Initialize .. Py_FinalizeEx, twice): a 0644
    module and a 0644 extension module are recorded once (audit) or refused in each life (RESTRICT_FILE) while an
    executable one imports. The code the host hands CPython itself (PyRun_SimpleString) is the
    host's own code, with no event to tell it from a library's exec(): it runs under
    DENY_INTERACTIVE (README limit)."""
    d = tmp_path / "mods"
    write(d / "good.py", "print('RAN', 'good')\n", 0o755)
    write(d / "bad.py", "print('RAN', 'bad')\n", 0o644)
    ext = d / "ecext.abi3.so"
    ext.write_bytes(tools["ext"].read_bytes())
    os.chmod(ext, 0o644)
    emb, prefix = build_embedder(python, tmp_path / "python_embed")
    q = shlex.quote
    logs = {m: tmp_path / ("%s.jsonl" % m) for m in ("audit", "restrict", "deny")}

    def case(name, bits, lives):
        env = " ".join("%s=%s" % (k, q(v)) for k, v in base_env(logs[name], PYTHONHOME=prefix).items())
        return "echo '== %s'; env -i %s %s %s -- %s %s %d; echo rc=$?" % (
            name, env, q(str(tools["setexec"])), bits, q(str(emb)), q(str(d)), lives)

    script = "\n".join([case("audit", "", 2), case("restrict", "-f", 2), case("deny", "-i", 1)])
    r = script_in_view(python, tmp_path / "ns", script, programs=[str(emb)])
    assert r.returncode == 0, r.stdout + r.stderr
    out = {}
    for block in r.stdout.split("== ")[1:]:
        name, _, rest = block.partition("\n")
        out[name] = [line for line in rest.splitlines() if line]
    def outcome(name):
        return [line for line in out[name] if line.startswith(("life", "rc="))]

    def lives(n, bad, ext):
        return ["life %d: %s" % (i, what) for i in range(n)
                for what in ("good imported", "bad " + bad, "ecext " + ext, "host code ran")] + ["rc=0"]

    assert outcome("audit") == lives(2, "imported", "imported"), r
    assert outcome("restrict") == lives(2, "PermissionError", "ImportError"), r
    assert "RAN bad" not in out["restrict"] and "RAN ecext" not in out["restrict"], r
    assert out["restrict"].count("RAN good") == 2, r
    assert "life 0: host code ran" in out["deny"] and "rc=0" in out["deny"], r

    def mine(log):  # the CPython face's records (the audit face, propagated by setexec, adds its own)
        return sorted((pathlib.Path(x["path"]).name, x["action"]) for x in records(log)
                      if x["path"].startswith(str(d)) and x["face"] == "python")

    assert mine(logs["audit"]) == [("bad.py", "logged"), ("ecext.abi3.so", "logged")], records(logs["audit"])
    assert mine(logs["restrict"]) == [("bad.py", "refused"), ("ecext.abi3.so", "refused")], records(logs["restrict"])
    assert r.stderr.count("execcheck: refused to import %s" % (d / "bad.py")) == 1, r.stderr  # said once, as recorded


# ---- out of the way -------------------------------------------------------------------------

FOPEN_PROG = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
static void said(const char *what, int fd) {
    struct stat st;
    if (fd < 0) { perror(what); return; }
    fstat(fd, &st);
    printf("%s mode %o\n", what, (unsigned)st.st_mode & 07777);
    close(fd);
}
int main(int argc, char **argv) {
    char path[4096], dir[4096];
    for (int i = 1; i < argc; i++) {
        FILE *f = (i % 2) ? fopen(argv[i], "r") : fopen64(argv[i], "re");
        if (!f) { perror(argv[i]); continue; }
        int c, n = 0; while ((c = fgetc(f)) != EOF) n += c;
        printf("%s %d\n", argv[i], n); fclose(f);
    }
    FILE *w = fopen(argv[1], "a"); printf("append %s\n", w ? "ok" : "failed"); if (w) fclose(w);
    /* open/open64 (python_open.c): the same files, a .pyc, and the mode argument when one is due */
    for (int i = 1; i < argc; i++) said(argv[i], (i % 2) ? open(argv[i], O_RDONLY) : open64(argv[i], O_RDONLY | O_CLOEXEC));
    snprintf(dir, sizeof dir, "%s", argv[1]);
    *strrchr(dir, '/') = 0;
    snprintf(path, sizeof path, "%s/x.pyc", dir);
    said("create x.pyc", open64(path, O_WRONLY | O_CREAT | O_EXCL, 0640));
    said("read x.pyc", open(path, O_RDONLY));
    said("tmpfile", open(dir, O_TMPFILE | O_RDWR, 0604));
    said("excl again", open(path, O_WRONLY | O_CREAT | O_EXCL, 0600));
    return 0;
}
"""


def test_other_programs_see_no_change(cc, tmp_path):
    """fopen/fopen64 and open/open64 pass straight to libc outside CPython's moments (the mode
    argument too, when one is due); shells and tools run as before; nothing is printed or
    recorded."""
    prog = cc(FOPEN_PROG, "fopen_prog")
    log = tmp_path / "log.jsonl"
    runs = []
    for env in ({"PATH": "/usr/bin:/bin"}, base_env(log)):
        d = tmp_path / ("run%d" % len(runs))
        f1 = write(d / "a.txt", "hello\n", 0o644)
        args = [str(prog), str(f1), "/etc/hostname", str(d / "missing")]
        runs.append(run(args, env=env, preexec_fn=lambda: os.umask(0o022)))
    plain, shimmed = runs
    shimmed.stdout, shimmed.stderr = shimmed.stdout.replace("/run1/", "/run0/"), shimmed.stderr.replace("/run1/", "/run0/")
    assert "create x.pyc mode 640" in plain.stdout and "tmpfile mode 604" in plain.stdout, plain.stdout
    assert "excl again: File exists" in plain.stderr, plain.stderr
    assert (shimmed.returncode, shimmed.stdout, shimmed.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    for argv in (["sh", "-c", "echo hi; cat /etc/hostname"], ["ls", "/"], ["env"]):
        a = run(argv, env={"PATH": "/usr/bin:/bin"})
        b = run(argv, env=base_env(log))
        if argv != ["env"]:
            assert (a.stdout, a.stderr, a.returncode) == (b.stdout, b.stderr, b.returncode)
    # the preload face's tripwire records the 0644 libraries ls loads (audit mode: recorded, not
    # refused); the python face must leave no trace in programs that are not CPython
    assert [r for r in records(log) if r["face"] != "preload" or r["kind"] != "library"] == []


def test_pythons_without_audit_hooks_run_unchanged(tmp_path, tools, enforcing_env):
    """CPython < 3.8 has neither hook: the face stays out (an honest limit: not covered). Under
    both bits a 0644 script still runs, nothing is said, the python face records nothing."""
    old = sorted(str(p) for p in pathlib.Path(os.path.expanduser("~/.pyenv/versions")).glob("*/bin/python")
                 if p.parent.parent.name.split(".")[:2] in (["2", "7"], ["3", "6"], ["3", "7"]))
    if not old:
        pytest.skip("no CPython older than 3.8 on this machine")
    nox = write(tmp_path / "nox.py", "print('RAN old')\n", 0o644)
    log = tmp_path / "log.jsonl"
    env = " ".join("%s=%s" % (k, shlex.quote(v)) for k, v in base_env(log).items())
    script = "\n".join("env -i %s %s -f -i -- %s %s; echo rc=$?" % (env, tools["setexec"], p, nox) for p in old)
    r = script_in_view(PYTHONS[-1][1], tmp_path / "ns", script, others=old)
    assert r.stdout.count("RAN old") == len(old) and r.stdout.count("rc=0") == len(old), (r.stdout, r.stderr)
    assert "execcheck" not in r.stderr, r.stderr
    assert [x for x in records(log) if x["face"] == "python"] == []


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_same_fds_and_results_when_allowed(python, tmp_path):
    """Under an allowing policy the shim changes nothing a script can see: same fds (the handed-over
    script fd is closed like CPython's own), same output, same status, for script, stdin and -i."""
    d = tmp_path / "fx"
    probe = "import os, sys\nprint(sorted(os.listdir('/proc/self/fd')), sys.argv, __file__ if '__file__' in dir() else None)\n"
    s = write(d / "probe.py", probe, 0o755)
    startup = write(d / "startup.py", "print('startup')\n", 0o644)
    for argv, stdin in (([python, str(s)], None), ([python], s), ([python, "-i", str(s)], s)):
        outs = []
        for env in ({"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONSTARTUP": str(startup)},
                    base_env(PYTHONSTARTUP=str(startup))):
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            with open(stdin if stdin else os.devnull) as f:
                r = subprocess.run(argv, env=env, stdin=f, capture_output=True, text=True, cwd=str(d), timeout=60)
            outs.append((r.returncode, r.stdout, r.stderr))
        assert outs[0] == outs[1], (argv, outs)


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_extension_modules_and_ctypes_libraries_are_opened_once_by_the_shim(python, tools, tmp_path):
    """The face checks an extension module or a ctypes library on its own descriptor before
    CPython's dlopen; the dlopen guard then reads the file's headers from that same descriptor
    (handoff.c) instead of opening it again. So each file is opened twice in all, once by the
    face and once by ld.so, and the guard still decides: the module imports, the library answers."""
    need_check()
    d = tmp_path / "once"
    (d / "ext").mkdir(parents=True)
    ext = d / "ext" / "ecext.abi3.so"
    lib = d / "libec.so"
    for src, dst in ((tools["ext"], ext), (tools["lib"], lib)):
        dst.write_bytes(pathlib.Path(src).read_bytes())
        os.chmod(dst, 0o755)
    host = write(d / "host.py", "import ctypes, sys\nimport ecext\nprint('answer', ctypes.CDLL(sys.argv[1]).ec_answer())\n")
    trace = tmp_path / "trace.txt"
    env = base_env(PYTHONPATH=str(d / "ext"))
    preload = env.pop("LD_PRELOAD")  # for Python alone: a shimmed strace would propagate the audit face
    r = subprocess.run(["strace", "-f", "-e", "trace=openat", "-o", str(trace), "-E", "LD_PRELOAD=" + preload,
                        python, str(host), str(lib)], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "answer 42" in r.stdout, r
    lines = trace.read_text().splitlines()
    for f in (ext, lib):
        opens = [l for l in lines if '"%s"' % f in l and "= -1" not in l]
        assert len(opens) == 2 and not [l for l in opens if "O_PATH" in l], opens


THREADS_LOADING = r"""
import ctypes, os, shutil, sys, threading
src, d = sys.argv[1], sys.argv[2]
paths = []
for i in range(32):
    p = os.path.join(d, "lib%d.so" % i)
    shutil.copy(src, p)
    os.chmod(p, 0o755)
    paths.append(p)
before = sorted(os.listdir("/proc/self/fd"))
errors = []

def work(k):
    for i in range(k, 32, 8):
        try:
            if ctypes.CDLL(paths[i]).ec_answer() != 42:
                errors.append(i)
            ctypes.CDLL(paths[i])  # loaded already: the guard's fast path, which takes no hand-off
        except OSError as e:
            errors.append(repr(e))

threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("errors", len(errors), "same fds", sorted(os.listdir("/proc/self/fd")) == before)
"""


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_threads_loading_libraries_leave_no_descriptor(python, tools, tmp_path):
    """Eight threads load 32 libraries through ctypes, each twice. The CPython face hands each
    checked descriptor to the guard; a second load of the same library goes by the guard's fast
    path and takes nothing. A descriptor nobody took is closed at the next audit event, whichever
    thread raises it, so none is left open when the threads are done."""
    need_check()
    d = tmp_path / "libs"
    d.mkdir()
    r = subprocess.run([python, "-c", THREADS_LOADING, str(tools["lib"]), str(d)], env=base_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.split() == ["errors", "0", "same", "fds", "True"], r


def test_loaded_into_a_running_interpreter_stays_out(tmp_path):
    """dlopen of the shim after Py_Initialize (ctypes) must not install hooks: it is too late to be
    a boundary, and CPython's state is not ours to change then."""
    nox = write(tmp_path / "nox.py", "print('RAN', 'late')\n", 0o644)
    log = tmp_path / "log.jsonl"
    code = "import ctypes, runpy, sys; ctypes.CDLL(sys.argv[1]); runpy.run_path(sys.argv[2])"
    env = dict(base_env(log))
    del env["LD_PRELOAD"]
    r = run([sys.executable, "-c", code, shim_path(), str(nox)], env=env)
    assert r.returncode == 0 and "RAN late" in r.stdout, r.stderr
    assert records(log) == []


def test_busy_module_is_reported(tmp_path):
    """A module open for writing somewhere fails the check with ETXTBSY: reason busy."""
    d = tmp_path / "m"
    mod = write(d / "busy_mod.py", "X = 1\n", 0o755)
    log = tmp_path / "log.jsonl"
    with open(mod, "a"):
        r = run([sys.executable, "-c", "import busy_mod"], env=base_env(log, PYTHONPATH=str(d)))
    assert r.returncode == 0, r.stderr
    got = [(x["kind"], x["path"], x["reason"], x["action"]) for x in records(log)]
    assert ("module", str(mod), "busy", "logged") in got, got


@pytest.mark.parametrize("python", [p for _, p, _ in PYTHONS], ids=IDS)
def test_script_path_naming_a_pipe_is_interactive(python, tools, tmp_path):
    """`python /dev/stdin` (or `<(cmd)`) with a pipe behind the name reads streamed code: refused
    under DENY_INTERACTIVE like `cat f | python`, run (and recorded) otherwise."""
    need_check()
    log = tmp_path / "log.jsonl"
    code = "print('RAN', 'piped')\n"
    r = run([str(tools["setexec"]), "-i", "--", python, "/dev/stdin"], input=code, env=base_env(log))
    assert r.returncode == 126 and "RAN piped" not in r.stdout and r.stderr.count("execcheck: refused to run /dev/stdin") == 1, r
    r = run([str(tools["setexec"]), "--", python, "/dev/stdin"], input=code, env=base_env(log))
    assert r.returncode == 0 and "RAN piped" in r.stdout and r.stderr == "", r
    got = {(x["kind"], x["path"], x["reason"], x["action"]) for x in records(log) if x["path"] == "/dev/stdin"}
    assert got == {("interactive", "/dev/stdin", "not-regular", "refused"),
                   ("interactive", "/dev/stdin", "not-regular", "logged")}, got


def test_fopen_interposers_are_exported_unversioned():
    """The main-script hand-off works only if the shim's fopen/fopen64 interpose on libpython's
    fopen64@GLIBC_2.2.5: they must be defined dynamic symbols carrying no version of their own
    (an unversioned definition satisfies any versioned reference; a named version node would not).
    A version script added to the shim must keep them so."""
    out = subprocess.run(["readelf", "--dyn-syms", "-W", shim_path()], capture_output=True, text=True, check=True).stdout
    for name in ("fopen", "fopen64", "open", "open64"):  # open/open64: python_open.c, for FileIO
        rows = [line.split() for line in out.splitlines() if line.split()[-1:] and line.split()[-1].split("@")[0] == name]
        assert rows, "%s is not exported" % name
        assert rows[0][6] != "UND" and "@" not in rows[0][-1], rows[0]

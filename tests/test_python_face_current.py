"""The CPython face on what the newest CPythons added, beyond the matrix: the asyncio REPL's own
PYTHONSTARTUP read and 3.14's remote debugger (`python -m pdb -p PID`, PEP 768). Tested on Debian
testing's CPython 3.14, chrooted in a debootstrap root (marker `debootstrap`), and on this
machine's CPythons that have the feature (Debian's 3.11 has the asyncio REPL's PYTHONSTARTUP)."""
import json
import os
import shlex

import pytest

from conftest import C_DIR, need_check, need_mountns, need_root
from python_face_lib import base_env, build_tools, interpreters, script_in_view, debian_testing_python


def stdlib_says(python, version, module_file, text):
    """Does python's own stdlib file (a path under its lib directory) contain text?"""
    lib = os.path.join(os.path.dirname(os.path.dirname(python)), "lib", "python%d.%d" % version[:2])
    try:
        with open(os.path.join(lib, module_file)) as f:
            return text in f.read()
    except OSError:
        return False


def pythons_with(module_file, text):
    """pytest params: this machine's CPythons whose module_file contains text, and Debian
    testing's 3.14 (marked debootstrap)."""
    host = [pytest.param((p, None), id=label) for label, p, v in interpreters() if stdlib_says(p, v, module_file, text)]
    return host + [pytest.param("testing", id="debian-testing-3.14", marks=pytest.mark.debootstrap)]


@pytest.fixture(scope="module")
def tools(tmp_path_factory):
    return build_tools(tmp_path_factory.mktemp("pyface-tools"), C_DIR)


@pytest.fixture
def world(request, tmp_path_factory):
    """(python, root or None) of the test's parameter."""
    need_root()
    need_mountns()
    need_check()
    if request.param == "testing":
        _, python, _, root = debian_testing_python(tmp_path_factory)
        return python, root
    return request.param


def write(path, text, mode):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    os.chmod(path, mode)
    return path


def under(tools, bits, log, python, *args, **env):
    """A shell command: python ARGS under the exec securebits, the shim preloaded, a clean env."""
    e = base_env(log, **env)
    return "env -i %s %s %s -- %s %s" % (" ".join("%s=%s" % (k, shlex.quote(str(v))) for k, v in e.items()),
                                          shlex.quote(str(tools["setexec"])), " ".join(bits), shlex.quote(python),
                                          " ".join(shlex.quote(str(a)) for a in args))


# ---- the asyncio REPL's PYTHONSTARTUP ---------------------------------------------------------

SWAP_HOOK = """import os, sys
def swap(event, args):  # runs after the face's C hook: its check is done, the file not yet read
    if event == "cpython.run_startup":
        os.rename(%r, args[0])
sys.addaudithook(swap)
"""


@pytest.mark.parametrize("world", pythons_with("asyncio/__main__.py", "cpython.run_startup"), indirect=True)
def test_asyncio_repl_runs_the_startup_file_it_checked(world, tools, tmp_path):
    """`python -m asyncio` reads PYTHONSTARTUP itself, with open() after its cpython.run_startup
    event, not through CPython's fopen that takes the face's checked descriptor. A Python audit
    hook (run after the face's C hook) renames a 0644 file over the checked 0755 one in between:
    under RESTRICT_FILE the REPL must still run the file that was checked, never the 0644 one.
    Before the fix the 0644 startup file ran."""
    python, root = world
    d = tmp_path / "ns" / "astart"
    write(d / "good.py", "print('RAN', 'good')\n", 0o755)
    write(d / "bad.py", "print('RAN', 'bad')\n", 0o644)
    os.link(d / "good.py", d / "startup.py")
    os.link(d / "bad.py", d / "bad-link.py")
    write(d / "sc" / "sitecustomize.py", SWAP_HOOK % str(d / "bad-link.py"), 0o755)
    script = "echo \"print('RAN', 'repl')\" | " + under(tools, ["-f"], d / "log.jsonl", python, "-m", "asyncio",
                                                        PYTHONSTARTUP=d / "startup.py", PYTHONPATH=d / "sc")
    r = script_in_view(python, tmp_path / "ns", script, root=root, binds=[tools["setexec"].parent])
    out = r.stdout + r.stderr
    assert not os.path.exists(d / "bad-link.py"), "the swap did not happen: " + out
    assert "RAN bad" not in out, out
    assert "RAN good" in r.stdout and "RAN repl" in r.stdout and r.returncode == 0, out
    assert "execcheck" not in out, out


# ---- 3.14's remote debugger: python -m pdb -p PID ---------------------------------------------

TARGET = """import sys, time
print('RAN', 'target', flush=True)
open(sys.argv[1], 'w').close()
t = time.monotonic() + 4
while time.monotonic() < t:
    time.sleep(0.02)
print('target', 'ends', flush=True)
"""

# the target, and `pdb -p` attached to it once it is up; the attacher is ended (status 124) if it
# waits for more than 12 s
ATTACH = """\
r=$(mktemp -u)
{target} &
pid=$!
while [ ! -e "$r" ] && kill -0 $pid 2>/dev/null; do sleep 0.02; done
rc=0; printf 'p "RAN", 6 * 7\\ncontinue\\n' | timeout 12 {attacher} -m pdb -p $pid || rc=$?; echo "attacher=$rc"
rc=0; wait $pid || rc=$?; echo "target=$rc"
"""


def attach(world, tools, tmp_path, bits_target, bits_attacher):
    python, root = world
    d = tmp_path / "ns" / "attach"
    write(d / "target.py", TARGET, 0o755)
    logs = (d / "target.jsonl", d / "attacher.jsonl")
    script = ATTACH.format(target=under(tools, bits_target, logs[0], python, d / "target.py", "READY").replace("READY", '"$r"'),
                           attacher=under(tools, bits_attacher, logs[1], python))
    r = script_in_view(python, tmp_path / "ns", script, root=root, binds=[tools["setexec"].parent])
    got = []
    for log in logs:
        recs = [json.loads(x) for x in open(log)] if os.path.exists(log) else []
        got.append(sorted((x["kind"], "/tmp/tmp*" if x["path"].startswith("/tmp/tmp") else x["path"], x["action"])
                          for x in recs if x["kind"] in ("script", "interactive")))
    return r, got


PDB_ATTACH = pythons_with("pdb.py", "sys.remote_exec(")


@pytest.mark.parametrize("world", PDB_ATTACH, indirect=True)
def test_pdb_attach_is_recorded(world, tools, tmp_path):
    """Audit mode: `python -m pdb -p PID` works as without the shim (its command runs in the
    target), and is recorded as what it is: the attacher is interactive code, the target runs the
    script file pdb wrote (0644, in /tmp) and then a debugger whose commands come from a socket."""
    r, (target, attacher) = attach(world, tools, tmp_path, [], [])
    assert "('RAN', 42)" in r.stdout and "attacher=0" in r.stdout and "target=0" in r.stdout, r.stdout + r.stderr
    assert "execcheck" not in r.stdout + r.stderr
    assert attacher == [("interactive", "(python -m pdb)", "logged")], attacher
    assert target == [("interactive", "(pdb)", "logged"), ("script", "/tmp/tmp*", "logged")], target


@pytest.mark.parametrize("world", PDB_ATTACH, indirect=True)
def test_pdb_attach_to_a_target_denying_interactive_code(world, tools, tmp_path):
    """A target under DENY_INTERACTIVE, attached from outside the policy: the remote debugger it
    starts is interactive code, refused like pdb's prompt (before a command runs). The target never
    asked for a debugger: it goes on (before the fix the PermissionError was raised into whatever
    line it was running, which ended it), and the attacher is told and ends."""
    r, (target, attacher) = attach(world, tools, tmp_path, ["-i"], [])
    assert "('RAN', 42)" not in r.stdout and "target=0" in r.stdout and "target ends" in r.stdout, r.stdout + r.stderr
    assert "attacher=0" in r.stdout and "execcheck: the exec policy denies interactive code" in r.stdout, r.stdout
    assert r.stderr.count("execcheck: refused to start the debugger (pdb)") == 1, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    assert target == [("interactive", "(pdb)", "refused"), ("script", "/tmp/tmp*", "logged")], target


@pytest.mark.parametrize("world", PDB_ATTACH, indirect=True)
def test_pdb_attach_to_a_target_restricting_files(world, tools, tmp_path):
    """A target under RESTRICT_FILE: the script pdb has it run is a 0644 file, refused; nothing
    of the debugger runs. (The attacher, waiting for a connection that never comes, waits until
    it is ended: CPython's pdb -p has no timeout.)"""
    r, (target, attacher) = attach(world, tools, tmp_path, ["-f"], [])
    assert "('RAN', 42)" not in r.stdout and "target=0" in r.stdout and "target ends" in r.stdout, r.stdout + r.stderr
    assert "attacher=124" in r.stdout, r.stdout
    assert r.stderr.count("execcheck: refused to run the remote debugger script /tmp/tmp") == 1, r.stderr
    assert target == [("script", "/tmp/tmp*", "refused")], target


@pytest.mark.parametrize("world", PDB_ATTACH, indirect=True)
def test_pdb_attach_restricting_files_on_both_sides(world, tools, tmp_path):
    """Attacher and target under RESTRICT_FILE (the policy's processes alike): the attacher's
    sys.remote_exec of pdb's 0644 script is refused in the attacher, which ends with the refusal
    at once instead of waiting for a target that refuses the file without telling it (before the
    fix it waited until the 12 s timeout ended it, status 124). The target is never asked."""
    r, (target, attacher) = attach(world, tools, tmp_path, ["-f"], ["-f"])
    assert "('RAN', 42)" not in r.stdout and "target=0" in r.stdout and "target ends" in r.stdout, r.stdout + r.stderr
    assert "attacher=1\n" in r.stdout, r.stdout + r.stderr
    assert r.stderr.count("execcheck: refused to have another process run /tmp/tmp") == 1, r.stderr
    assert "cannot be attached to" in r.stdout, r.stdout  # pdb's own words for a PermissionError
    assert attacher == [("interactive", "(python -m pdb)", "logged"), ("script", "/tmp/tmp*", "refused")], attacher
    assert target == [], target


# ---- the asyncio REPL's PYTHONSTARTUP: no descriptor left behind, a refusal reported ----------

# sitecustomize for the descriptor cases: another audit hook refusing what $DENY names, and a count
# of the descriptors naming $PYTHONSTARTUP at exit (polled: a REPL thread that died is gone a moment
# after the main thread is told; each round's listdir is an audit event)
FD_WATCH = """import atexit, os, sys, time
def startup_fds():
    found = 0
    for f in os.listdir('/proc/self/fd'):
        try:
            found += os.readlink('/proc/self/fd/' + f) == os.environ['PYTHONSTARTUP']
        except OSError:
            pass
    return found
def deny(event, args):
    if event == os.environ.get('DENY') and (event != 'open' or args[0] == os.environ['PYTHONSTARTUP']):
        raise RuntimeError('denied by another audit hook')
sys.addaudithook(deny)
def at_exit():
    t = time.monotonic() + 5
    while startup_fds() and time.monotonic() < t:
        time.sleep(0.05)
    print('fds at exit', startup_fds(), flush=True)
atexit.register(at_exit)
"""


@pytest.mark.parametrize("world", pythons_with("asyncio/__main__.py", "cpython.run_startup"), indirect=True)
def test_asyncio_repl_leaves_no_descriptor_of_the_startup_file(world, tools, tmp_path):
    """The asyncio REPL's PYTHONSTARTUP is checked on a descriptor kept for the REPL thread's open()
    of it. When that open never comes (another audit hook refuses run_startup: the REPL thread
    ends; or refuses the open: 3.14 reports it and goes on to read input, 3.13's thread ends), and
    in a program that raises run_startup and goes on, the descriptor must not stay open for the
    rest of the process. Before the fix it stayed until the interpreter's finalization."""
    python, root = world
    d = tmp_path / "ns" / "afd"
    write(d / "startup.py", "print('RAN', 'startup')\n", 0o755)
    write(d / "sc" / "sitecustomize.py", FD_WATCH, 0o755)
    typed = "import sitecustomize; print('fds in repl', sitecustomize.startup_fds())"
    prog = "import sys, sitecustomize; sys.audit('cpython.run_startup', %r); print('fds in program', sitecustomize.startup_fds())" \
        % str(d / "startup.py")
    env = dict(PYTHONSTARTUP=d / "startup.py", PYTHONPATH=d / "sc")
    cases = (("run_startup", ["-m", "asyncio"], [], typed, {"DENY": "cpython.run_startup"}),
             ("open", ["-m", "asyncio"], [], typed, {"DENY": "open"}),
             ("eof", ["-m", "asyncio"], ["-f"], None, {}),
             ("program", ["-c", prog], [], None, {}))
    script = "\n".join("echo '--- %s'; %s %s %s || echo rc=$?" % (
        name, "echo %s |" % shlex.quote(stdin) if stdin else "",
        under(tools, bits, d / (name + ".jsonl"), python, *args, **env, **more), "" if stdin else "</dev/null")
        for name, args, bits, stdin, more in cases)
    r = script_in_view(python, tmp_path / "ns", script, root=root, binds=[tools["setexec"].parent])
    out = r.stdout + r.stderr
    parts = {p.split("\n", 1)[0]: p for p in r.stdout.split("--- ")[1:]}
    assert set(parts) == {"run_startup", "open", "eof", "program"}, out
    for name, part in parts.items():
        # where the test's own hook ends the REPL thread (run_startup; open on 3.13), that daemon
        # thread prints its traceback while the interpreter shuts down, and CPython may abort there
        # (134, once in a CI run, after the at-exit count; 0 of 180 runs of it chrooted on 3.14.8,
        # without the shim, with it, with both faces): what is asserted is the descriptor
        rcs = ("rc=134\n",) if name in ("run_startup", "open") else ()
        assert "fds at exit 0" in part and ("rc=" not in part or any(rc in part for rc in rcs)), (name, out)
        assert "fds in repl 1" not in part and "fds in program 1" not in part, (name, out)
    assert "RAN startup" in parts["eof"] and "RAN startup" not in parts["run_startup"] + parts["open"], out
    assert "fds in program 0" in parts["program"], out
    assert "execcheck" not in out, out


@pytest.mark.parametrize("world", pythons_with("asyncio/__main__.py", "cpython.run_startup"), indirect=True)
def test_asyncio_repl_goes_on_after_a_refused_startup_file(world, tools, tmp_path):
    """A PYTHONSTARTUP refused under RESTRICT_FILE (0644): the basic REPL (`python -i`) reports it
    (the line and a PermissionError) and goes on to run what is typed, as CPython does with a
    startup file it cannot read. The asyncio REPL must do the same. Before the fix the refusal was
    raised from its run_startup event, outside the try that reports an unreadable startup file
    (3.14; 3.13 has none): its REPL thread ended, the typed line never ran, and the daemon thread
    printing its traceback while the interpreter exited could abort it. Several runs, for that."""
    python, root = world
    d = tmp_path / "ns" / "arefused"
    write(d / "startup.py", "print('RAN', 'startup')\n", 0o644)
    typed = shlex.quote("print('RAN', 'repl')")
    script = "\n".join("echo '--- %s %d'; echo %s | %s || echo rc=$?" % (
        " ".join(args), n, typed, under(tools, ["-f"], d / "log.jsonl", python, *args, PYTHONSTARTUP=d / "startup.py"))
        for args in (["-i"], ["-m", "asyncio"]) for n in range(4))
    r = script_in_view(python, tmp_path / "ns", script, root=root, binds=[tools["setexec"].parent])
    runs = r.stdout.split("--- ")[1:]
    assert len(runs) == 8 and r.stderr.count("execcheck: refused to run PYTHONSTARTUP") == 8, r.stdout + r.stderr
    for run in runs:
        assert "RAN repl" in run and "RAN startup" not in run and "rc=" not in run, r.stdout + r.stderr
    assert r.stderr.count("PermissionError: [Errno 13] execcheck: refused by the exec policy") == 8, r.stderr
    for bad in ("Fatal Python error", "Exception in thread", "Traceback"):
        assert bad not in r.stderr, r.stderr


@pytest.mark.parametrize("world", pythons_with("asyncio/__main__.py", "cpython.run_stdin"), indirect=True)
def test_asyncio_task_listings_are_not_interactive(world, tools, tmp_path):
    """`python -m asyncio ps PID` and `pstree PID` (3.14) print another process's asyncio tasks, read
    from its memory: asyncio's __main__ parses its arguments first and these end in the listing (or
    argparse's error), never in its REPL, and run no code given to them. Under DENY_INTERACTIVE they
    must run (before the fix they were refused as `-m asyncio`, its REPL); the REPL stays refused,
    and so do the same arguments on 3.13, whose asyncio ignores them and starts the REPL."""
    python, root = world
    d = tmp_path / "ns" / "aps"
    write(d / "target.py", "import asyncio, sys\nasync def worker():\n    await asyncio.sleep(60)\nasync def main():\n"
          "    t = asyncio.create_task(worker(), name='ec-worker')\n    open(sys.argv[1], 'w').close()\n    await t\n"
          "asyncio.run(main())\n", 0o755)
    script = "\n".join([
        "%s %s %s & pid=$!" % (shlex.quote(python), shlex.quote(str(d / "target.py")), shlex.quote(str(d / "ready"))),
        "while [ ! -e %s ] && kill -0 $pid; do sleep 0.05; done" % shlex.quote(str(d / "ready")),
        "%s -c 'import sys; print(\"version\", sys.version_info >= (3, 14))'" % shlex.quote(python)] + [
        "echo '--- %s'; %s </dev/null || echo rc=$?" % (" ".join(args), under(tools, ["-i"], d / ("%d.jsonl" % n), python, *args))
        for n, args in enumerate((["-m", "asyncio", "ps", "$pid"], ["-m", "asyncio", "pstree", "$pid"],
                                  ["-m", "asyncio.__main__", "ps", "$pid"], ["-m", "asyncio"]))] + ["kill $pid"])
    script = script.replace("'$pid'", "$pid")
    r = script_in_view(python, tmp_path / "ns", script, root=root, binds=[tools["setexec"].parent])
    out = r.stdout + r.stderr
    tools_run = "version True" in r.stdout
    assert tools_run or "version False" in r.stdout, out
    runs = {p.split("\n", 1)[0]: p for p in r.stdout.split("--- ")[1:]}
    assert len(runs) == 4, out
    for args, run in runs.items():
        if args == "-m asyncio" or not tools_run:
            assert "rc=126" in run and "ec-worker" not in run, (args, out)
        else:
            assert "rc=" not in run and "ec-worker" in run, (args, out)
    assert out.count("execcheck: refused to run interactive code (python -m asyncio") == (1 if tools_run else 4), out

"""`execcheck run`: the securebits it sets (and locks), the environment CMD gets, CMD's exit status,
its refusals (no kernel support, usage), and end to end with CPython under the policy."""
import os
import signal
import subprocess
import sys

import pytest

from conftest import C_DIR, execcheck_cmd, need_check, need_mountns, need_root, run
from execcheck.commands.run import child_environment, has_audit_face, with_first
from execcheck.shim import multilib_path
from python_face_lib import interpreters, script_in_view, shim_path


def first_entry():
    """What run puts first: the $LIB entry where a 32-bit shim was built too (test_i386.py),
    else the shim's path."""
    return multilib_path() or shim_path()

PROBE = r"""
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
int main(void) {
    const char *p = getenv("LD_PRELOAD"), *a = getenv("LD_AUDIT");
    long bits = prctl(27 /* PR_GET_SECUREBITS */, 0, 0, 0, 0);
    printf("bits=0x%lx\npreload=%s\naudit=%s\n", bits, p ? p : "-", a ? a : "-");
    printf("clear=%d\n", bits > 0 ? prctl(28 /* PR_SET_SECUREBITS */, 0, 0, 0, 0) : 0);
    return 0;
}
"""


@pytest.fixture
def probe(cc):
    return str(cc(PROBE, "probe"))


def parse(out):
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def ec_run(*args, **kw):
    return run(execcheck_cmd() + ["run", *args], **kw)


@pytest.mark.parametrize("flags, bits, clear_refused", [
    ([], "0x0", False),
    (["--restrict-file"], "0x100", False),
    (["--deny-interactive"], "0x400", False),
    (["--restrict-file", "--deny-interactive"], "0x500", False),
    (["--restrict-file", "--lock"], "0x300", True),
    (["--restrict-file", "--deny-interactive", "--lock"], "0xf00", True),
])
def test_sets_bits_and_locks(probe, flags, bits, clear_refused):
    need_check()
    r = ec_run(*flags, "--", probe)
    assert r.returncode == 0, r.stderr
    got = parse(r.stdout)
    assert got["bits"] == bits
    # unlocked bits can be cleared by CMD; locked ones cannot (EPERM)
    assert (got["clear"] == "-1") == clear_refused, got


def test_shim_first_in_ld_preload(probe, tmp_path):
    other = tmp_path / "other.so"
    other.write_bytes(b"")
    env = dict(os.environ, LD_PRELOAD="%s %s" % (other, shim_path()))
    r = ec_run("--", probe, env=env)
    got = parse(r.stdout)
    assert got["preload"].split(":") == [first_entry(), str(other)]  # the shim's own path not twice


def test_ld_audit_only_with_an_audit_face(probe, cc):
    """glibc rejects an LD_AUDIT module without la_version (an error line in every process), so
    LD_AUDIT names the shim only when it exports la_version."""
    exported = "la_version" in subprocess.run(["nm", "-D", "--defined-only", shim_path()],
                                              capture_output=True, text=True, check=True).stdout
    assert has_audit_face(shim_path()) == exported
    r = ec_run("--", probe, env=dict(os.environ, LD_AUDIT="/x/a.so"))
    assert parse(r.stdout)["audit"] == (first_entry() + ":/x/a.so" if exported else "/x/a.so")
    auditor = cc("unsigned la_version(unsigned v) { return v; }\n", "auditor.so", "-shared", "-fPIC")
    plain = cc("int f(void) { return 1; }\n", "plain.so", "-shared", "-fPIC")
    assert has_audit_face(str(auditor)) and not has_audit_face(str(plain))
    env = child_environment({"LD_AUDIT": "a.so:%s" % auditor, "LD_PRELOAD": "x.so"}, str(auditor), True)
    assert env["LD_AUDIT"] == "%s:a.so" % auditor and env["LD_PRELOAD"] == "%s:x.so" % auditor


def test_list_editing():
    assert with_first(None, "/s.so", ": \t") == "/s.so"
    assert with_first("", "/s.so", ": \t") == "/s.so"
    assert with_first("a.so  b.so:/s.so\tc.so", "/s.so", ": \t") == "/s.so:a.so:b.so:c.so"
    assert with_first("/s.so", "/s.so", ":") == "/s.so"
    # a $LIB entry first: the files it stands for are not listed again (same inode)
    assert with_first("a.so:%s:b.so" % shim_path(), "/d/$LIB/s.so", ":", [shim_path()]) == "/d/$LIB/s.so:a.so:b.so"


def test_exit_status_is_the_commands():
    assert ec_run("--", "sh", "-c", "exit 7").returncode == 7
    assert ec_run("--", "sh", "-c", "kill -TERM $$").returncode == -signal.SIGTERM
    r = ec_run("--", "sh", "-c", "echo out; echo err >&2")
    assert (r.stdout, r.stderr) == ("out\n", "err\n")


def test_not_found_not_executable_usage(tmp_path):
    r = ec_run("--", str(tmp_path / "missing"))
    assert r.returncode == 127 and "command not found" in r.stderr
    f = tmp_path / "plain.txt"
    f.write_text("x")
    r = ec_run("--", str(f))
    assert r.returncode == 126 and "Permission denied" in r.stderr
    for args in ((), ("--", "")):  # an empty name was a ValueError traceback from os.execvpe
        r = ec_run(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no command" in r.stderr, r.stderr
    r = ec_run("--lock", "--", "true")
    assert r.returncode == 2 and "--lock" in r.stderr


def test_a_missing_interpreter_is_not_a_missing_command(tmp_path):
    """execve says ENOENT for a script whose #! interpreter does not exist: run said 'command not
    found' of a command that is there, as on PATH. And a name is printed escaped, never raw."""
    script = tmp_path / "ec-no-interp"
    script.write_text("#!/nonexistent/interpreter\n")
    os.chmod(script, 0o755)
    for cmd, env in ((str(script), None), ("ec-no-interp", dict(os.environ, PATH="%s:/usr/bin:/bin" % tmp_path))):
        r = ec_run("--", cmd, env=env)
        assert r.returncode == 127 and "command not found" not in r.stderr, r.stderr
        assert r.stderr == "execcheck: run: %s: cannot execute: the interpreter it names (#! line or ELF loader) " \
                           "does not exist\n" % cmd
    r = ec_run("--", str(tmp_path / "esc\x1b[2Jname"))
    assert r.returncode == 127 and "\x1b" not in r.stderr and "esc\\x1b[2Jname: command not found" in r.stderr


def test_refuses_on_a_kernel_without_the_check(cc, probe):
    """Simulated with seccomp: execveat(AT_EXECVE_CHECK) -> EINVAL as before 6.14. Asking for a
    policy then refuses to start CMD (exit 125, one line); without a bit CMD starts."""
    old = cc(C_DIR / "python_oldkernel.c", "oldkernel")
    r = run([str(old), *execcheck_cmd(), "run", "--restrict-file", "--", probe])
    assert r.returncode == 125, r
    assert r.stdout == "" and r.stderr.count("\n") == 1 and "not started" in r.stderr and "6.14" in r.stderr
    r = run([str(old), *execcheck_cmd(), "run", "--", probe])
    assert r.returncode == 0 and parse(r.stdout)["bits"] == "0x0"


def test_locked_bit_cannot_be_cleared_by_a_nested_run(probe):
    need_check()
    r = ec_run("--deny-interactive", "--lock", "--", *execcheck_cmd(), "run", "--restrict-file", "--", probe)
    assert r.returncode == 0 and parse(r.stdout)["bits"] == "0xd00", r


def test_python_under_run_end_to_end(tmp_path):
    """CPython started by `execcheck run`: a 0644 script is refused under --restrict-file, -c under
    --deny-interactive, an executable script runs under both, locked."""
    need_root()
    need_mountns()
    need_check()
    pythons = interpreters()
    python = next((p for label, p, _ in pythons if label.startswith("system")), pythons[-1][1])
    d = tmp_path / "fx"
    d.mkdir()
    (d / "ok.py").write_text("print('RAN', 'ok')\n")
    (d / "nox.py").write_text("print('RAN', 'nox')\n")
    os.chmod(d / "ok.py", 0o755)
    os.chmod(d / "nox.py", 0o644)
    ec = " ".join(execcheck_cmd())
    script = "\n".join([
        "set +e",
        "cd %s" % d,
        "export PYTHONDONTWRITEBYTECODE=1",
        "%s run --restrict-file -- %s nox.py; echo rc=$?" % (ec, python),
        "%s run --deny-interactive -- %s -c 'print(1)'; echo rc=$?" % (ec, python),
        "%s run --restrict-file --deny-interactive --lock -- %s ok.py; echo rc=$?" % (ec, python),
        "%s run -- %s nox.py; echo rc=$?" % (ec, python),
    ])
    r = script_in_view(python, tmp_path / "ns", script)
    lines = r.stdout.splitlines()
    assert [x for x in lines if x.startswith("rc=")] == ["rc=126", "rc=126", "rc=0", "rc=0"], (r.stdout, r.stderr)
    assert "RAN nox" in lines[-2] and "RAN ok" in r.stdout and r.stdout.count("RAN nox") == 1
    assert r.stderr.count("execcheck: refused to") == 2, r.stderr


def test_a_shim_path_glibc_would_split(tmp_path, probe):
    """execcheck installed under a path with a space (a venv in "My Projects"): glibc splits
    LD_PRELOAD there, so every process would print an error and run without the shim. run refuses
    (125, one line naming the path), and status lists it among the fail-open cases."""
    import execcheck
    import shutil
    copy = tmp_path / "My Projects"
    shutil.copytree(os.path.dirname(execcheck.__file__), copy / "execcheck")
    env = dict(os.environ, PYTHONPATH=str(copy))
    r = run([sys.executable, "-m", "execcheck", "run", "--", probe], env=env)
    assert r.returncode == 125 and r.stdout == "", r
    assert r.stderr.count("\n") == 1 and "My Projects" in r.stderr and "space" in r.stderr, r.stderr
    r = run([sys.executable, "-m", "execcheck", "status", "--json"], env=env)
    import json
    fail_open = json.loads(r.stdout)["fail_open"]
    assert any("space" in f and "LD_PRELOAD" in f for f in fail_open), fail_open
    r = run([sys.executable, "-m", "execcheck", "run", "--", probe])  # the real install: a plain path
    assert r.returncode == 0 and parse(r.stdout)["preload"].startswith(first_entry())


def test_a_damaged_shim_is_no_shim(tmp_path):
    """A truncated shim: ld.so says "cannot be preloaded ... ignored" and runs the program without
    it. run started CMD anyway (exit 0, a 0644 library loaded under --restrict-file): now it is not
    started (125), and status lists the shim as a fail-open case."""
    import shutil
    import execcheck
    CLI = [sys.executable, "-m", "execcheck"]
    pkg = tmp_path / "site" / "execcheck"
    shutil.copytree(os.path.dirname(execcheck.__file__), pkg)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "site"))
    env.pop("LD_PRELOAD", None)
    shim = run(CLI + ["lib"], env=env).stdout.strip()
    assert shim.startswith(str(pkg)), shim
    with open(shim, "r+b") as f:
        f.truncate(100)
    r = run(CLI + ["run", "--restrict-file", "--", "true"], env=env)
    assert r.returncode == 125 and r.stderr.count("\n") == 1, r
    assert "the shim at %s is damaged (" % shim in r.stderr and "true not started" in r.stderr, r.stderr
    r = run(CLI + ["status"], env=env)
    assert "the shim %s is damaged" % shim in r.stdout, r.stdout


def test_a_tab_in_ld_preload_is_part_of_a_name():
    """ld.so splits LD_PRELOAD at spaces and colons, not tabs: run keeps such a name whole."""
    env = child_environment({"LD_PRELOAD": "/a\tb.so /c.so"}, "/shim.so", False)
    assert env["LD_PRELOAD"] == "/shim.so:/a\tb.so:/c.so"


def test_a_shim_path_too_long_for_ld_audit(tmp_path, probe):
    """glibc's ld.so skips, without a word, an LD_AUDIT name of 255 bytes or more (LD_PRELOAD
    takes 4095): execcheck installed that deep (a venv in a long CI workspace path) gave CMD the
    preload face alone, and under --restrict-file a 0644 library preloaded there ran its
    constructor before the tripwire stopped the program. run refuses (125, one line), and status
    lists the name among the fail-open cases. The rule is ld.so's: the same file named through a
    short symlink is loaded as an audit module, by its long name it is not."""
    import execcheck
    import json
    import shutil
    deep = tmp_path / ("d" * 200)
    shutil.copytree(os.path.dirname(execcheck.__file__), deep / "execcheck")
    env = dict(os.environ, PYTHONPATH=str(deep))
    env.pop("LD_PRELOAD", None)
    env.pop("LD_AUDIT", None)
    entry = run([sys.executable, "-m", "execcheck", "lib", "--multilib"], env=env).stdout.strip()
    assert len(entry.encode()) > 254 and entry.startswith(str(deep)), entry
    r = run([sys.executable, "-m", "execcheck", "run", "--", probe], env=env)
    assert r.returncode == 125 and r.stdout == "", r
    assert r.stderr.count("\n") == 1 and entry in r.stderr and "LD_AUDIT" in r.stderr, r.stderr
    r = run([sys.executable, "-m", "execcheck", "status", "--json"], env=env)
    fail_open = json.loads(r.stdout)["fail_open"]
    assert any(entry in f and "LD_AUDIT" in f for f in fail_open), fail_open
    # ld.so's own rule, on the same file: the long name is skipped, a short link to it is not
    link = tmp_path / "s"
    os.symlink(deep, link)
    short = str(link) + entry[len(str(deep)):]
    real = run([sys.executable, "-m", "execcheck", "lib"], env=env).stdout.strip()
    faces = "import execcheck.shim as s; print(s.faces_in_process(shim=%r)['copies'])" % real
    for name, copies in ((entry, "0"), (short, "1")):
        r = run([sys.executable, "-c", faces], env=dict(os.environ, LD_AUDIT=name))
        assert r.stdout.strip() == copies, (name, r)

"""System-wide deployment: /etc/ld.so.preload names the shim (issue 4).

Inside a private mount namespace a test directory is laid over /etc (overlayfs: ld.so.preload, and
for mode "config" an execcheck.conf that enforces); the host's /etc is never written. A shell
started there gets the shim from /etc/ld.so.preload (the preload face: no LD_AUDIT anywhere), and
its children must run under the audit face: an injected LD_PRELOAD, an LD_LIBRARY_PATH look-alike
of libc and `ld.so ./prog` of a 0644 program are refused enforcing and recorded in audit mode,
while `ldd` on good programs still works.

Enforcing on stock Debian breaks every program that needs one of its 0644 libraries: the scripts
run only dash builtins and test programs that need libc.so.6 (0755) - except the ldd test, which
lays 0755 copies of bash's libraries over their directory in the namespace, as a prepared image
would have them."""
import json
import os
import re
import subprocess
import textwrap

import pytest

from audit_face_util import LDSO, MODES, SHIM, Kit, Result, clean_env, copy_lib, _set_restrict_file
from conftest import in_mountns, need_check, need_mountns, run


@pytest.fixture(autouse=True)
def _ns():
    need_check()
    need_mountns()


@pytest.fixture(params=MODES)
def mode(request):
    return request.param


@pytest.fixture
def kit(tmp_path):
    return Kit(tmp_path)


NS_SCRIPT = textwrap.dedent("""\
    etc=$1 fix=$2 test=$3
    if [ -n "$fix" ]; then
        mount -t overlay overlay -o "lowerdir=$fix:/usr/lib/x86_64-linux-gnu" /usr/lib/x86_64-linux-gnu
    fi
    # last: from here on every new process loads the shim
    if [ -n "$etc" ]; then mount -t overlay overlay -o "lowerdir=$etc:/etc" /etc; fi
    exec sh -c "$test"
""")


def run_deployed(mode, script, tmp_path, env=None, fix=None):
    """Runs the sh script in a namespace where /etc/ld.so.preload names the shim (mode "off": no
    overlay, the baseline). env: extra variables (no LD_*: the shell must get the shim from the
    file only). fix: a directory of 0755 library copies laid over /usr/lib/x86_64-linux-gnu."""
    log = tmp_path / ("records-%s.jsonl" % mode)
    if log.exists():
        log.unlink()
    etc = ""
    if mode != "off":
        etc = tmp_path / ("etc-%s" % mode)
        etc.mkdir(exist_ok=True)
        (etc / "ld.so.preload").write_text("# execcheck test\n%s\n" % SHIM)
        if mode == "config":
            (etc / "execcheck.conf").write_text("files = enforce\nsyslog = no\n")
            os.chmod(etc / "execcheck.conf", 0o644)
    e = clean_env(env)
    e["EXECCHECK_LOG_FILE"] = str(log)
    kw = dict(env=e, stdin=subprocess.DEVNULL)
    if mode == "secbits":
        kw["preexec_fn"] = _set_restrict_file
    proc = in_mountns(NS_SCRIPT, etc, fix or "", textwrap.dedent(script), **kw)
    records = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
    return Result(proc, records)


def ran(res, tag):
    return any(line in ("IFUNC " + tag, "CTOR " + tag) for line in res.lines)


def test_the_shell_gets_the_shim_from_the_file(kit, tmp_path, mode):
    prog = kit.prog()
    res = run_deployed(mode, 'echo "audit=$LD_AUDIT preload=$LD_PRELOAD"; "$PROG"; echo "rc=$?"', tmp_path,
                       env={"PROG": str(prog)})
    if mode == "off":
        assert res.lines == ["audit= preload=", "main", "end", "rc=0"], res
        return
    # the shell's environ was rewritten by the preload face: its children start under the audit face
    assert res.lines == ["audit=%s preload=%s" % (SHIM, SHIM), "main", "end", "rc=0"], res
    assert res.err == "" and res.records == [], res


def test_injected_ld_preload_in_a_child(kit, tmp_path, mode):
    bad = kit.lib("pre/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    script = '"$PROG"; echo "rc=$?"; LD_PRELOAD="$BAD" "$PROG"; echo "rc=$?"'
    env = {"PROG": str(prog), "BAD": str(bad)}
    base = run_deployed("off", script, tmp_path, env)
    assert base.lines == ["main", "end", "rc=0", "CTOR bad", "main", "end", "rc=0"], base
    res = run_deployed(mode, script, tmp_path, env)
    recs = res.records_for(bad)
    assert [(r["face"], r["kind"]) for r in recs] == [("audit", "library")] and len(res.records) == 1, res
    if mode == "audit":
        assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res
        assert recs[0]["action"] == "logged"
        return
    # la_objsearch refused it: glibc drops the preload, the program runs without it
    assert res.lines == ["main", "end", "rc=0", "main", "end", "rc=0"], res
    assert "cannot be preloaded" in res.err and recs[0]["action"] == "refused", res


def test_ld_library_path_lookalike_of_libc_in_a_child(kit, tmp_path, mode):
    real = "/lib/x86_64-linux-gnu/libc.so.6"
    if not os.access(real, os.X_OK):
        pytest.skip("this system's libc.so.6 is not executable: no good copy to fall back to")
    fake = copy_lib(real, tmp_path / "lp" / "libc.so.6", 0o644)
    prog = kit.prog()
    script = 'LD_LIBRARY_PATH="$LP" "$PROG" maps:libc.so.6; echo "rc=$?"'
    env = {"PROG": str(prog), "LP": str(fake.parent)}

    def mapped(res):
        return [l.split(" ", 1)[1] for l in res.lines if l.startswith("mapped ")]

    base = run_deployed("off", script, tmp_path, env)
    assert [os.path.samefile(m, fake) for m in mapped(base)] == [True], base
    res = run_deployed(mode, script, tmp_path, env)
    recs = res.records_for(fake)
    assert [(r["face"], r["kind"]) for r in recs] == [("audit", "library")] and len(res.records) == 1, res
    if mode == "audit":
        assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res
        return
    assert [os.path.samefile(m, real) for m in mapped(res)] == [True] and res.lines[-1] == "rc=0", res
    assert recs[0]["action"] == "refused"


@pytest.mark.parametrize("prog_mode", [0o644, 0o755], ids=["0644", "0755"])
def test_ld_so_run_directly_from_a_shimmed_shell(kit, tmp_path, mode, prog_mode):
    prog = kit.prog(mode=prog_mode)
    script = '"$LDSO" "$PROG"; echo "rc=$?"'
    env = {"PROG": str(prog), "LDSO": LDSO}
    res = run_deployed(mode, script, tmp_path, env)
    if mode == "off" or mode == "audit" or prog_mode == 0o755:
        assert res.lines == ["main", "end", "rc=0"] and res.err == "", res
        expected = [("audit", "program", "logged")] if mode == "audit" and prog_mode == 0o644 else []
        assert [(r["face"], r["kind"], r["action"]) for r in res.records] == expected, res
        return
    assert res.lines == ["rc=126"], res
    assert [(r["face"], r["kind"], r["action"]) for r in res.records_for(prog)] == [("audit", "program", "refused")]


def bash_fix(tmp_path):
    """0755 copies of the 0644 libraries bash needs, to lay over their directory."""
    fix = tmp_path / "fix"
    fix.mkdir(exist_ok=True)
    out = run(["/bin/bash", "-c", "true"], env={"LD_TRACE_LOADED_OBJECTS": "1"}).stdout
    for line in out.splitlines():
        m = re.search(r"=> (/\S+)", line)
        if not m:
            continue
        path = os.path.realpath(m.group(1))
        if os.path.dirname(path) == "/usr/lib/x86_64-linux-gnu" and not os.access(path, os.X_OK):
            copy_lib(path, fix / os.path.basename(path), 0o755)
    return fix


def ldd_lines(res):
    """name => path lines of ldd's output, without load addresses, without the shim itself."""
    return sorted(re.sub(r"\s*\(0x[0-9a-f]+\)", "", l).strip() for l in res.lines
                  if "=>" in l and "libexeccheck" not in l)


def test_ldd_on_a_good_program(kit, tmp_path, mode):
    lib = kit.lib("lib/libgood.so", "good")
    prog = kit.prog(needs=[(lib.parent, "libgood.so")], runpath="$ORIGIN/../lib")
    if not os.path.realpath("/lib/x86_64-linux-gnu").startswith("/usr/lib"):
        pytest.skip("expects a merged /usr")
    script = 'ldd "$PROG"; echo "rc=$?"'
    env = {"PROG": str(prog)}
    fix = bash_fix(tmp_path)
    base = run_deployed("off", script, tmp_path, env, fix=fix)
    res = run_deployed(mode, script, tmp_path, env, fix=fix)
    assert base.lines[-1] == "rc=0" and any("libgood.so => " in l for l in base.lines), base
    assert res.lines[-1] == "rc=0" and ldd_lines(res) == ldd_lines(base), res
    assert res.records == [], res
    assert not ran(res, "good")  # ldd maps, never runs

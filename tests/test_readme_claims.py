"""Claims of README.md - what holds for security, and honest limits a user plans around - that no
other test pinned: each test names the README sentence it holds the code to."""
import json
import os
import subprocess
import sys

import pytest

import execcheck
from audit_face_util import Kit
from conftest import ec, need_check, need_root, run

SHIM = execcheck.lib_path()

# a library whose constructor says it ran: built 0644, so the exec check refuses it
CTOR_LIB = r"""
#include <unistd.h>
__attribute__((constructor)) static void ran(void) { write(2, "CTOR ran\n", 9); }
"""


@pytest.fixture
def bad_lib(cc, tmp_path):
    need_check()
    lib = cc(CTOR_LIB, "libbad.so", "-shared", "-fPIC")
    os.chmod(lib, 0o644)
    return lib


def _preload_under_the_audit_face(bad_lib, env):
    env = dict({"PATH": "/usr/bin:/bin"}, LD_AUDIT=SHIM, LD_PRELOAD=str(bad_lib), **env)
    return run(["/bin/true"], env=env, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("target_exists", [True, False], ids=["link-to-a-file", "dangling-link"])
def test_a_log_file_that_is_a_symlink_gets_no_record(bad_lib, tmp_path, target_exists):
    """README, "Policy": the log file "is opened without following a symbolic link (one planted
    there cannot send records elsewhere): a `log_file` that is a link gets no record". The same
    run with a plain path gets its record, so the link is what keeps it out."""
    plain = tmp_path / "plain.jsonl"
    r = _preload_under_the_audit_face(bad_lib, {"EXECCHECK_LOG_FILE": str(plain)})
    assert r.returncode == 0, r
    assert [json.loads(l)["path"] for l in plain.read_text().splitlines()] == [str(bad_lib)]
    assert plain.stat().st_mode & 0o7777 == 0o600  # "created 0600"
    target = tmp_path / "elsewhere.jsonl"
    if target_exists:
        target.write_text("")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    r = _preload_under_the_audit_face(bad_lib, {"EXECCHECK_LOG_FILE": str(link)})
    assert r.returncode == 0, r
    assert link.is_symlink()
    if target_exists:
        assert target.read_text() == "", "a record went through the link"
    else:
        assert not target.exists(), "the shim created the link's target"


def test_securebits_that_cannot_be_read_count_as_set(bad_lib, tmp_path):
    """README, "Policy": "If the securebits cannot be read at all (`prctl` filtered by seccomp),
    both are treated as set." Through the core (execcheck.policy) and in the shim: a 0644 preload
    under the audit face is refused, with no config and no environment asking for it."""
    sandbox = Kit(tmp_path).prog()  # seccomp:prctl fails every prctl() with EPERM, then exec:PROG
    absent = tmp_path / "absent.conf"
    script = ("import execcheck, json, sys; p = execcheck.policy(config_path=sys.argv[1], environ={}); "
              "print(json.dumps([p.files, p.interactive]))")
    r = run([str(sandbox), "seccomp:prctl", "exec:" + sys.executable, "-c", script, str(absent)])
    assert r.returncode == 0 and r.stdout.startswith("main\nseccomp ok\n"), r
    assert json.loads(r.stdout.splitlines()[-1]) == ["enforce", "deny"], r
    r = run([str(sandbox), "exec:" + sys.executable, "-c", script, str(absent)])  # without the filter: audit
    assert json.loads(r.stdout.splitlines()[-1]) == ["audit", "allow"], r
    log = tmp_path / "records.jsonl"
    # env(1) sets the shim's variables after the filter is in: the sandbox itself runs unshimmed
    env = ["LD_AUDIT=" + SHIM, "LD_PRELOAD=%s" % bad_lib, "EXECCHECK_LOG_FILE=%s" % log]
    r = run([str(sandbox), "seccomp:prctl", "exec:/usr/bin/env", "-i", *env, "/bin/true"], stdin=subprocess.DEVNULL)
    assert "CTOR ran" not in r.stderr, r
    assert "refused to load %s" % bad_lib in r.stderr, r
    assert [(rec["action"], rec["mode"]) for rec in map(json.loads, log.read_text().splitlines())] == \
        [("refused", "enforce")]


def test_undoing_a_step_twice_says_there_is_nothing_to_undo(tmp_path):
    """README, "Hardening an image": "Repeating a step changes nothing more"; a second `revert` or
    `uninstall` finds no record left and exits 2, one line, changing nothing."""
    need_root()
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    for step in ("revert", "uninstall"):
        r = ec("image", step, str(root))
        assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, r
        assert r.stderr.startswith("execcheck: nothing to %s: " % step), r
    assert os.listdir(root) == ["etc"] and os.listdir(root / "etc") == []


def test_a_config_that_cannot_be_opened_for_want_of_a_descriptor_enforces(tmp_path):
    """README, "Edges" (one descriptor free): "With no descriptor free at all ... the policy,
    which cannot read `/etc/execcheck.conf` then, fails closed unless the file does not exist."
    A config saying `files = audit`, read with every descriptor taken, counts as enforcing; an
    absent one still means audit. Run in a child: it uses up its own descriptors."""
    need_check()
    conf = tmp_path / "execcheck.conf"
    conf.write_text("files = audit\n")
    os.chmod(conf, 0o644)
    script = r"""
import execcheck, json, os, resource, sys
before = execcheck.policy(config_path=sys.argv[1], environ={})
resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass
full = execcheck.policy(config_path=sys.argv[1], environ={})
absent = execcheck.policy(config_path=sys.argv[1] + ".absent", environ={})
for fd in fds:
    os.close(fd)
print(json.dumps([before.files, full.files, full.config_state, absent.files, absent.config_state]))
"""
    r = run([sys.executable, "-c", script, str(conf)])
    assert r.returncode == 0, r
    assert json.loads(r.stdout) == ["audit", "enforce", "unreadable: files enforced", "audit", "absent"], r


MP_SPAWN = """
import multiprocessing as mp
def child():
    print("CHILD RAN", flush=True)
if __name__ == "__main__":
    p = mp.get_context("spawn").Process(target=child)
    p.start()
    p.join()
    print("exitcode", p.exitcode, flush=True)
"""


def test_multiprocessing_spawn_children_are_refused_under_deny_interactive(tmp_path):
    """README, "Honest limits (CPython)": "multiprocessing's spawn and forkserver start children
    with `-c`: under DI they are refused (126 each ...)". Without the bit the child runs."""
    need_check()
    script = tmp_path / "mp.py"
    script.write_text(MP_SPAWN)
    os.chmod(script, 0o755)
    r = ec("run", "--", sys.executable, str(script), timeout=60)
    assert r.returncode == 0 and "CHILD RAN" in r.stdout and "exitcode 0" in r.stdout, r
    r = ec("run", "--deny-interactive", "--", sys.executable, str(script), timeout=60)
    assert r.returncode == 0 and "CHILD RAN" not in r.stdout and "exitcode 126" in r.stdout, r
    assert "execcheck: refused to run interactive code (python -c)" in r.stderr, r


# a library whose constructor takes CPython's open_code hook (before Py_Initialize, as an embedding
# host's plugin might), saying whether it got it
FOREIGN_OPEN_CODE_HOOK = r"""
#include <Python.h>
#include <unistd.h>
static PyObject *plain_open(PyObject *path, void *data)
{
    (void)data;
    PyObject *io = PyImport_ImportModule("io");
    return io ? PyObject_CallMethod(io, "open", "Os", path, "rb") : NULL;
}
__attribute__((constructor)) static void take(void)
{
    const char *said = PyFile_SetOpenCodeHook(plain_open, 0) == 0 ? "HOOK TAKEN\n" : "HOOK REFUSED\n";
    write(2, said, strlen(said));
}
"""


def test_an_open_code_hook_taken_before_the_shim_refuses_enforcing_runs_at_their_entry(cc, tmp_path):
    """README, "Honest limits (CPython)": "if another library installed an `open_code` hook before
    the shim's constructor, imports cannot be checked and runs that enforce files are refused at
    their entry." The preload order that runs the other library's constructor first is found by
    trying both; audit mode runs as before."""
    import sysconfig
    need_check()
    if not sysconfig.get_config_var("Py_ENABLE_SHARED"):
        pytest.skip("needs a CPython with a shared libpython to link the hook library against")
    python = os.path.realpath(sys.executable)
    libdir, ldlib = sysconfig.get_config_var("LIBDIR"), sysconfig.get_config_var("LDLIBRARY")
    hook = cc(FOREIGN_OPEN_CODE_HOOK, "libhook.so", "-shared", "-fPIC", "-I" + sysconfig.get_paths()["include"],
              os.path.join(libdir, ldlib))
    os.chmod(hook, 0o755)
    # the interpreter's own 0644 libraries (Debian's libm...) get executable copies bound over them
    # in a private mount namespace, so that enforcing refuses nothing but what this test is about
    ldd = run(["ldd", python]).stdout.split()
    binds = []
    for i, lib in enumerate(p for p in ldd if p.startswith("/") and os.path.exists(p)):
        if not os.stat(lib).st_mode & 0o111:
            copy = tmp_path / ("x%d.so" % i)
            copy.write_bytes(open(lib, "rb").read())
            os.chmod(copy, 0o755)
            binds.append("mount --bind %s %s" % (copy, os.path.realpath(lib)))
    script = "\n".join(binds + ['LD_PRELOAD="$1" EXECCHECK_FILES="$2" "$3" -S -c "print(\'RAN\')"; echo "rc=$?"'])
    seen = []
    for order in ((hook, SHIM), (SHIM, hook)):
        preload = " ".join(map(str, order))
        audit = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", preload, "", python])
        seen.append(audit.stderr)
        if "HOOK TAKEN" not in audit.stderr:
            continue
        assert "RAN" in audit.stdout and "rc=0" in audit.stdout and "execcheck:" not in audit.stderr, audit
        enf = run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh", preload, "enforce",
                   python])
        assert "HOOK TAKEN" in enf.stderr and "RAN" not in enf.stdout and "rc=126" in enf.stdout, enf
        assert "execcheck: refused to run Python: another open_code hook was installed first" in enf.stderr, enf
        return
    pytest.fail("no preload order ran the other library's constructor first: %r" % seen)


def test_a_preload_listed_after_the_shim_runs_its_constructor_before_the_tripwire(bad_lib):
    """README, "The preload face": the shim's constructor comes after those "of a preload listed
    after it (glibc calls the preloads' constructors last-listed first)". Both runs end in 126 at
    the tripwire; only the order decides whether the 0644 library's constructor ran first."""
    env = {"PATH": "/usr/bin:/bin", "EXECCHECK_FILES": "enforce"}
    after = run(["/bin/true"], env=dict(env, LD_PRELOAD="%s %s" % (SHIM, bad_lib)), stdin=subprocess.DEVNULL)
    before = run(["/bin/true"], env=dict(env, LD_PRELOAD="%s %s" % (bad_lib, SHIM)), stdin=subprocess.DEVNULL)
    for r in (after, before):
        assert r.returncode == 126 and "execcheck: refused to run with %s: x-bit" % bad_lib in r.stderr, r
    assert "CTOR ran" in after.stderr and "CTOR ran" not in before.stderr, (after, before)

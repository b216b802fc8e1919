"""Shared helpers for the tests: building C programs in temp dirs, private mount namespaces,
Landlock sandboxes, and the rule that what this machine can run must run.

Tests that need root, a mount namespace, Landlock or Linux >= 6.14 call `need(...)`: elsewhere they
skip with the reason; under CI (CI=true) a missing capability is a failure, so CI output shows that
those tests really executed.
"""
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap

import pytest

HERE = pathlib.Path(__file__).resolve().parent
C_DIR = HERE / "c"


def need(condition: bool, reason: str) -> None:
    if condition:
        return
    if os.environ.get("CI") == "true":
        pytest.fail("CI must run this test, but: " + reason)
    pytest.skip(reason)


def is_root() -> bool:
    return os.geteuid() == 0


def kernel_has_check() -> bool:
    from execcheck import kernel
    return kernel.execve_check_support()[0]


def can_unshare_mount() -> bool:
    if not shutil.which("unshare") or not is_root():
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True).returncode == 0


def need_root():
    need(is_root(), "needs root")


def need_check():
    need(kernel_has_check(), "needs AT_EXECVE_CHECK (Linux >= 6.14)")


def need_mountns():
    need(can_unshare_mount(), "needs root and `unshare --mount` (private mount namespaces)")


def landlock_abi() -> int:
    from execcheck import kernel
    return kernel.landlock_abi()[0] or 0


def need_landlock():
    need(landlock_abi() >= 1, "needs Landlock")


def execcheck_cmd():
    """The installed command, run by this interpreter (the venv the tests run in)."""
    return [sys.executable, "-m", "execcheck"]


def loader_says(diagnostics: str):
    """(its default directories without the trailing '/', its $LIB) from a glibc ld.so's
    `--list-diagnostics` output (glibc 2.33 on): the truth the loader tests compare with."""
    lines = diagnostics.splitlines()
    dirs = [l.split("=", 1)[1].strip('"').rstrip("/") for l in lines if l.startswith("path.system_dirs[")]
    dst = [l.split("=", 1)[1].strip('"') for l in lines if l.startswith("dl_dst_lib=")]
    return dirs, dst[0] if dst else None


def run(cmd, **kw):
    """subprocess.run(cmd), the output captured as text by default, with a timeout (120 s) that ends
    the command's whole process tree: subprocess.run kills only the process it started, and what
    that one started lives on, orphaned (a hung qemu under `unshare --fork`). The command runs in a
    session of its own (setsid: a process group to kill, and no controlling terminal that could
    stop it for reading one); on the timeout the group is killed, then TimeoutExpired raised."""
    timeout, check, stdin_data = kw.pop("timeout", 120), kw.pop("check", False), kw.pop("input", None)
    kw.setdefault("text", True)
    if kw.pop("capture_output", True):
        kw["stdout"] = kw["stderr"] = subprocess.PIPE
    if stdin_data is not None:
        kw["stdin"] = subprocess.PIPE
    with subprocess.Popen(cmd, start_new_session=True, **kw) as p:
        try:
            out, err = p.communicate(stdin_data, timeout=timeout)
        except BaseException:  # the timeout, or an interrupt: nothing of it may outlive the test
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                p.communicate(timeout=30)  # the pipes' ends die with the group
            except subprocess.TimeoutExpired:
                pass  # one left the group (setsid) and holds them: the test fails on the timeout anyway
            raise
        r = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    if check:
        r.check_returncode()
    return r


def ec(*args, **kw):
    """`execcheck ARGS...` through run(), as the installed command."""
    return run(execcheck_cmd() + list(args), **kw)


@pytest.fixture
def cc(tmp_path):
    """cc(source_text_or_path, out_name, *flags) -> path of the built program or library."""
    compiler = os.environ.get("CC", "cc")

    def build(source, out, *flags):
        if isinstance(source, pathlib.Path):
            src = source
        else:
            src = tmp_path / (pathlib.Path(out).name + ".c")
            src.write_text(textwrap.dedent(source))
        target = tmp_path / out
        target.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run([compiler, "-O1", "-o", str(target), str(src), *flags], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return target

    return build


def build_helper(tmp_path_factory, source_name, *flags):
    """A helper program of tests/c, built once per session."""
    out = tmp_path_factory.mktemp(source_name) / source_name
    subprocess.run([os.environ.get("CC", "cc"), "-O1", "-o", str(out), str(C_DIR / (source_name + ".c")), *flags],
                   check=True)
    return str(out)


@pytest.fixture(scope="session")
def spawner(tmp_path_factory):
    """propagate_spawner ROUTE: starts `env` by one exec route (tests/c/propagate_spawner.c)."""
    return build_helper(tmp_path_factory, "propagate_spawner")


@pytest.fixture(scope="session")
def spawn_tool(tmp_path_factory):
    """preload_spawn ROUTE PROG ARGS: starts PROG by one route (tests/c/preload_spawn.c)."""
    return build_helper(tmp_path_factory, "preload_spawn")


@pytest.fixture
def deep_dirs():
    """deep_dirs(base, depth) -> the innermost of depth nested directories "d" made under base,
    iteratively (os.makedirs and shutil.rmtree of CPython 3.11 recurse once per level, as did
    os.walk); they and the files in them are removed the same way afterwards."""
    made = []

    def make(base, depth):
        path = str(base)
        for _ in range(depth):
            path = os.path.join(path, "d")
            os.mkdir(path)
        made.append((str(base), depth))
        return path
    yield make
    for base, depth in made:
        path = os.path.join(base, *["d"] * depth)
        for _ in range(depth):
            for name in os.listdir(path):
                os.unlink(os.path.join(path, name))
            os.rmdir(path)
            path = os.path.dirname(path)


@pytest.fixture
def landlock_run(cc):
    """landlock_run(allowed_dirs, argv) -> CompletedProcess: argv runs with Landlock's EXECUTE right
    granted only beneath allowed_dirs (plus what the interpreter of argv needs)."""
    tool = cc(C_DIR / "landlock_exec.c", "landlock_exec")

    def go(allowed, argv, **kw):
        base = ["/usr", "/lib", "/lib64", "/bin", "/sbin", sys.prefix, sys.base_prefix,
                os.path.dirname(os.path.realpath(sys.executable))]
        dirs = [d for d in dict.fromkeys(list(allowed) + base) if os.path.exists(d)]
        return run([str(tool), *dirs, "--", *argv], **kw)

    return go


def in_mountns(script: str, *args, **kw):
    """Runs a shell script ($1... = args) in a private mount namespace: nothing it mounts is seen
    outside, and it all goes away with the process."""
    return run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "sh", *map(str, args)], **kw)


def execcheck_as_nobody(argv):
    """(exit status, stdout, stderr) of `execcheck argv` run as nobody (a forked child: the venv
    is not readable to nobody)."""
    import traceback
    from execcheck import cli
    pipes = [os.pipe(), os.pipe()]
    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            sys.stdout = os.fdopen(pipes[0][1], "w")  # pytest has its own sys.stdout and sys.stderr
            sys.stderr = os.fdopen(pipes[1][1], "w")
            code = cli.main(argv)
            sys.stdout.flush()
        except BaseException:
            traceback.print_exc(file=sys.stderr)
        finally:
            sys.stderr.flush()
            os._exit(code)
    outs = []
    for r, w in pipes:
        os.close(w)
    for r, w in pipes:
        out = b""
        while True:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            out += chunk
        os.close(r)
        outs.append(out.decode())
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status), outs[0], outs[1]


@pytest.fixture
def open_tmp():
    """A temp dir every user can traverse (pytest's tmp_path sits under a 0700 dir), for tests that
    drop to an unprivileged user."""
    import tempfile
    d = pathlib.Path(tempfile.mkdtemp(prefix="execcheck-test-", dir="/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)

"""Exec checks in a process whose threads come and go.

While an exec attempt (an AT_EXECVE_CHECK included) is in progress, the kernel refuses CLONE_FS
clones of the process with EAGAIN, so pthread_create() in another thread fails, and programs that
do not expect it crash (no execcheck code needed to show it: 8 threads checking a file 100 times
each, 20 crashes in 20 runs). The core makes such checks from a CLONE_VM|CLONE_VFORK child, which
has its own fs_struct, when the process has other threads (csrc/check.c). These tests must never
see a crash or a failed thread creation, and the verdicts must stay right."""
import os
import subprocess
import sys
import textwrap

import pytest

from audit_face_util import SHIM, Kit, run_face
from conftest import C_DIR, need_check


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


def test_the_guard_in_a_churning_process(tmp_path):
    kit = Kit(tmp_path)
    good = kit.lib("dl/libgood.so", "good")
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    prog = kit._cc("bin/churn", C_DIR / "preload_churn.c", "-pthread")
    for _ in range(5):
        res = run_face("secbits", [prog, good, bad, "40"], tmp_path, preload=SHIM)
        assert res.rc == 0 and res.lines[-1] == "good ok=200 bad loaded=0", res
        assert not any(l in ("CTOR bad", "IFUNC bad") for l in res.lines), res
        assert [r["action"] for r in res.records_for(bad)] == ["refused"], res


CHECKS = textwrap.dedent("""\
    import sys, threading, execcheck
    good, bad = sys.argv[1], sys.argv[2]
    stop = False
    def churn():
        while not stop:
            ts = [threading.Thread(target=lambda: None) for _ in range(8)]
            [t.start() for t in ts]
            [t.join() for t in ts]
    wrong = []
    def work():
        for _ in range(150):
            if not execcheck.check(good).allowed or execcheck.check(bad).reason != "x-bit":
                wrong.append(1)
    c = threading.Thread(target=churn)
    c.start()
    ws = [threading.Thread(target=work) for _ in range(6)]
    [w.start() for w in ws]
    [w.join() for w in ws]
    stop = True
    c.join()
    print("wrong", len(wrong))
""")


def test_checks_from_python_threads(tmp_path):
    good = tmp_path / "good"
    good.write_text("#!/bin/sh\n")
    os.chmod(good, 0o755)
    bad = tmp_path / "bad"
    bad.write_text("#!/bin/sh\n")
    os.chmod(bad, 0o644)
    for _ in range(5):
        r = subprocess.run([sys.executable, "-c", CHECKS, str(good), str(bad)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0 and r.stdout == "wrong 0\n", (r.returncode, r.stdout, r.stderr)


@pytest.mark.parametrize("mode", ["audit", "secbits"])
def test_no_thread_creation_fails_while_the_face_checks(tmp_path, mode):
    """The kernel effect itself (a raw check in one thread makes pthread_create fail in another),
    then the same load loop under the audit face: not one pthread_create refused."""
    kit = Kit(tmp_path)
    lib = kit.lib("dl/libgood.so", "good")
    prog = kit._cc("bin/threads_eagain", C_DIR / "threads_eagain.c", "-pthread")
    raw = subprocess.run([str(prog), "check", str(lib), "3000"], capture_output=True, text=True, timeout=120)
    assert raw.returncode == 0 and int(raw.stdout.split("eagain=")[1]) > 0, raw.stdout  # the kernel does it
    res = run_face(mode, [prog, "dlopen", lib, "3000"], tmp_path)
    assert res.rc == 0 and res.lines[-1] == "created=3000 eagain=0", res

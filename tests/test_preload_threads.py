"""Exec checks in a process whose threads come and go.

On the Linux 6.18 kernel of our machines an exec attempt that reaches the binary handlers (an
AT_EXECVE_CHECK included), made while other threads of the process start and exit, makes the
process crash now and then - with no execcheck code involved (8 threads checking a file 100 times
each: 20 crashes in 20 runs). The core makes such checks from a CLONE_VM|CLONE_VFORK child when
the process has other threads (csrc/check.c). These tests must never see a crash, and the verdicts
must stay right."""
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

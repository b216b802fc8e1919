"""The faces in a process under a seccomp filter.

A filter may kill a process for execveat or trap it to the program's own handler (sandboxes that
forbid exec). The check is an execveat: made from inside the shim, it must not do that to its host.
The first check after the program installed a filter is made from a child; if the child dies of it,
no check can be made in that process and every file is `unsupported` (enforcing refuses, audit mode
records), the program otherwise unchanged. A filter the process started with is trusted to let
execveat through (container runtimes' profiles do; finding out would cost every process a child),
unless the process that started this one found that it kills for execveat and said so.
`execcheck status` says what a filter does."""
import json
import sys

import pytest

from audit_face_util import SHIM, Kit, run_face
from conftest import need_check

KILLING = ("kill", "trap", "noclone")


@pytest.fixture
def kit(tmp_path):
    need_check()
    return Kit(tmp_path)


def face_kw(face):
    return {"preload": SHIM} if face == "preload" else {}


def libs(kit):
    return (kit.lib("lib/libgood1.so", "good1"), kit.lib("lib/libgood2.so", "good2"),
            kit.lib("lib/libbad.so", "bad", mode=0o644))


@pytest.mark.parametrize("face", ["audit", "preload"])
@pytest.mark.parametrize("threads", [False, True], ids=["one-thread", "threads"])
@pytest.mark.parametrize("action", KILLING + ("errno",))  # errno: EPERM for every file, read as "lsm" before
def test_a_filter_installed_at_run_time(kit, tmp_path, face, threads, action):
    good1, good2, bad = libs(kit)
    prog = kit.prog()
    argv = [prog] + (["thread"] if threads else []) + [
        "dlopen:%s" % good1, "seccomp:%s" % action, "dlopen:%s" % good2, "dlopen:%s" % bad]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines[-1] == "end" and "CTOR bad" in base.lines, base
    res = run_face("audit", argv, tmp_path, **face_kw(face))
    assert (res.rc, res.lines) == (base.rc, base.lines) and res.err == "", res
    assert [] == res.records_for(good1), res  # checked before the filter came
    for lib in (good2, bad):
        assert [r["reason"] for r in res.records_for(lib)] == ["unsupported"], res
    res = run_face("secbits", argv, tmp_path, **face_kw(face))
    assert res.rc == 0 and "SIGSYS caught" not in res.lines, res
    opened = [l for l in res.lines if l.startswith("dlopen")]
    assert opened[0] == "dlopen ok" and all(l.startswith("dlopen failed") for l in opened[1:]), res
    assert "CTOR good2" not in res.lines and "CTOR bad" not in res.lines and res.lines[-1] == "end", res


@pytest.mark.parametrize("action", KILLING + ("errno",))
def test_a_program_started_after_the_filter_is_told(kit, tmp_path, action):
    """A launcher installs a filter, then starts a program (bwrap, systemd's forked child): the
    program inherits the filter, and inherited filters are trusted. The launcher's exec wrapper
    finds out (its filter is new, so it probes) and tells the program (EXECCHECK_SECCOMP=kills):
    the program's checks answer `unsupported` instead of killing it."""
    good1, good2, bad = libs(kit)
    prog = kit.prog()
    argv = [prog, "seccomp:%s" % action, "exec:%s" % prog, "dlopen:%s" % good1, "dlopen:%s" % bad]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines.count("main") == 2 and base.lines[-1] == "end", base
    res = run_face("audit", argv, tmp_path, preload=SHIM)
    assert (res.rc, res.lines) == (base.rc, base.lines) and res.err == "", res
    assert [r["reason"] for r in res.records_for(bad)] == ["unsupported"], res
    res = run_face("secbits", argv, tmp_path, preload=SHIM)
    assert res.rc in (126, 127) and res.lines == ["main", "seccomp ok"], res  # refused at start, not killed
    assert any(l.endswith(": unsupported") for l in res.refused_lines()), res


def test_the_word_never_lets_a_check_through(kit, tmp_path):
    """EXECCHECK_SECCOMP=kills in the environment of a process without a filter changes nothing,
    and with one it can only make checks answer `unsupported`: the good library still loads and
    the 0644 one is refused for its mode bits."""
    good1, good2, bad = libs(kit)
    prog = kit.prog()
    res = run_face("secbits", [prog, "dlopen:%s" % good2, "dlopen:%s" % bad], tmp_path,
                   env={"EXECCHECK_SECCOMP": "kills"}, preload=SHIM)
    assert res.rc == 0 and "CTOR good2" in res.lines and "CTOR bad" not in res.lines, res
    assert [r["reason"] for r in res.records_for(bad)] == ["x-bit"], res


@pytest.mark.parametrize("face", ["audit", "preload"])
def test_a_filter_that_leaves_the_check_alone(kit, tmp_path, face):
    """Filter mode without a rule for execveat: checks are made and decide as anywhere else."""
    good1, good2, bad = libs(kit)
    prog = kit.prog()
    argv = [prog, "seccomp:other", "thread", "dlopen:%s" % good2, "dlopen:%s" % bad]
    res = run_face("secbits", argv, tmp_path, **face_kw(face))
    assert res.rc == 0 and "CTOR good2" in res.lines and "CTOR bad" not in res.lines, res
    assert [l for l in res.lines if l.startswith("dlopen")][0] == "dlopen ok", res
    assert [r["reason"] for r in res.records_for(bad)] == ["x-bit"] and not res.records_for(good2), res


@pytest.mark.parametrize("action,state", [("kill", "kills"), ("trap", "kills"), ("errno", "refuses"), ("other", "checks"),
                                          (None, "none")])
def test_status_and_check_under_a_filter(kit, tmp_path, action, state):
    """`execcheck status` says what a filter does to the check (and lives through it); `execcheck
    check` under a filter that kills for execveat answers `unsupported` for every file."""
    prog = kit.prog()
    good = kit.lib("lib/libgood1.so", "good1")
    cli = [sys.executable, "-m", "execcheck"]
    pre = [prog] + (["seccomp:%s" % action] if action else [])
    res = run_face("off", pre + ["exec:%s" % sys.executable, *cli[1:], "status", "--json"], tmp_path)
    assert res.rc == 0, res
    status = json.loads(res.out[res.out.index("{"):])
    assert status["seccomp"]["value"] == state, status["seccomp"]
    assert status["kernel"]["execve_check"] == (state not in ("kills", "refuses")), status["kernel"]
    res = run_face("off", pre + ["exec:%s" % sys.executable, *cli[1:], "check", "--json", str(good)], tmp_path)
    verdict = json.loads(res.out[res.out.index("["):] if "[" in res.out else "[]")
    if state in ("kills", "refuses"):  # an EPERM for every file was read as an LSM's refusal ("lsm")
        assert res.rc == 1 and [v["reason"] for v in verdict] == ["unsupported"], res
    else:
        assert res.rc == 0 and [v["allowed"] for v in verdict] == [True], res


def test_run_refuses_under_a_filter_that_kills_the_check(kit, tmp_path):
    """`execcheck run` under an inherited filter that kills for execveat: the command would die of
    SIGSYS at the shim's first check, so it is not started (125, one line); under a filter that
    leaves execveat alone it runs."""
    prog = kit.prog()
    for action, rc in (("kill", 125), ("other", 0)):
        res = run_face("off", [prog, "seccomp:%s" % action, "exec:%s" % sys.executable, "-m", "execcheck", "run",
                               "--", "/bin/true"], tmp_path)
        assert res.rc == rc, (action, res)
        if rc:
            assert "seccomp filter here kills" in res.err and "not started" in res.err, res
    # a filter that fails execveat for any file: enforcing would refuse every library (125); not
    # enforcing, the command runs
    for opts, rc in ((["--restrict-file"], 125), ([], 0)):
        res = run_face("off", [prog, "seccomp:errno", "exec:%s" % sys.executable, "-m", "execcheck", "run", *opts,
                               "--", "/bin/true"], tmp_path)
        assert res.rc == rc, (opts, res)
        if rc:
            assert "makes execveat (the check) fail for any file" in res.err and res.err.count("\n") == 1, res

"""The shim inside processes that start or live in unusual conditions: descriptors closed or
nearly used up, small resource limits, signals, odd environments. In each, a program the policy
allows must behave as it does without the shim (same output, same status, no word from
execcheck), and an enforcing shim must still refuse what fails the check.

Each case runs in audit_face_util's modes (audit, enforcing by securebits, enforcing by config),
under the audit face alone and with the preload copy too (what `execcheck run` and propagation
give every process)."""
import json
import os
import shutil
import subprocess

import pytest

from audit_face_util import C_DIR, SHIM, clean_env, copy_lib, kit, mode, run_face  # noqa: F401 (fixtures)
from conftest import need_check, need_root, run


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


FACES = {"audit": None, "both": {"LD_PRELOAD": SHIM}}


@pytest.fixture(params=sorted(FACES))
def faces(request):
    """The extra environment of the faces: the audit face alone, or both copies."""
    return FACES[request.param]


def hostile_prog(kit):
    return kit._cc("bin/hostile", C_DIR / "hostile_prog.c")


def plugin_with_dependency(kit):
    """lib/libplug.so (its RUNPATH: its own directory, its function libfn) needing lib/libdep.so:
    loading it takes two opens by ld.so, one after the other. Each says so from its constructor."""
    src = kit.dir / "plug.c"
    src.write_text('#include <stdio.h>\n'
                   '__attribute__((constructor)) static void ctor(void) { puts("CTOR " TAG); }\n'
                   'int FN(void) { return 0; }\n')
    dep = kit._cc("lib/libdep.so", src, "-shared", "-fPIC", "-DTAG=\"dep\"", "-DFN=depfn")
    return kit._cc("lib/libplug.so", src, "-shared", "-fPIC", "-DTAG=\"plug\"", "-DFN=libfn", "-Wl,--no-as-needed",
                   "-L%s" % dep.parent, "-l:libdep.so", "-Wl,--enable-new-dtags,-rpath,%s" % dep.parent)


def assert_unchanged(res, base):
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), (res, base)
    assert res.records == [], res


# ---------------------------------------------------------------------------------------------
# descriptors: a face may hold one only while the program's next open still finds a free slot


def test_dlopen_with_one_descriptor_left(kit, tmp_path, mode, faces):
    """A program with one descriptor free below its limit dlopens a plugin that needs another
    library. The audit face kept /proc/self/maps open for the whole load operation, so ld.so's
    open of the dependency failed with EMFILE ("libdep.so: cannot open shared object file: Too
    many open files"), in audit mode too."""
    plug = plugin_with_dependency(kit)
    argv = [hostile_prog(kit), "fill", "dlopen:%s" % plug, "open", "dlopen:%s" % plug]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines[-1] == "dlopen %s ok" % plug and "CTOR dep" in base.lines, base
    assert_unchanged(run_face(mode, argv, tmp_path, env=faces), base)


def test_dlopen_guard_with_one_descriptor_left(kit, tmp_path, mode):
    """The same under the preload face alone (its dlopen guard): the guard kept the plugin's file
    open while the prediction opened ld.so.cache and the dependency, which failed (EMFILE); the
    load was unpredictable, refused enforcing ("error") and recorded so in audit mode. The guard
    now gives the file back when no other descriptor is free and reads it again by its path."""
    plug = plugin_with_dependency(kit)
    hostile = hostile_prog(kit)
    argv = [hostile, "fill", "dlopen:%s" % plug, "open", "dlopen:%s" % plug]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines[-1] == "dlopen %s ok" % plug and "CTOR dep" in base.lines, base
    # the preload face alone: its tripwire and dlopen guard (no LD_AUDIT in the program)
    res = run_face(mode, [hostile, "preload-only"] + argv, tmp_path, preload=SHIM)
    assert_unchanged(res, base)


def test_start_with_one_descriptor_left(kit, tmp_path, mode, faces):
    """The same at start-up: RLIMIT_NOFILE 4 with 0, 1 and 2 open leaves ld.so one descriptor for
    the program's libraries, which it opens one after the other (the program needs libplug.so,
    which needs libdep.so, and libc.so.6)."""
    plug = plugin_with_dependency(kit)
    prog = kit.prog(needs=[(plug.parent, plug.name)], runpath=plug.parent)
    argv = [hostile_prog(kit), "nofile:4", prog, "fds"]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and "main" in base.lines and "CTOR dep" in base.lines, base
    assert_unchanged(run_face(mode, argv, tmp_path, env=faces), base)


def test_tripwire_with_one_descriptor_left(kit, tmp_path, mode):
    """The preload face alone at start-up with one descriptor left (RLIMIT_NOFILE 4 with 0, 1 and 2
    open), which ld.so loads from, one file at a time. The start-up sweep kept the maps file open
    while it opened each object's file: EMFILE, and enforcing refused libc and the shim ("error",
    126). The maps fd is now given back for the object's file and opened again after it."""
    prog, hostile = kit.prog(), hostile_prog(kit)
    argv = [hostile, "nofile:4", hostile, "preload-only", prog]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and "main" in base.lines, base
    assert_unchanged(run_face(mode, argv, tmp_path, preload=SHIM), base)


FILL_CTOR_C = """
#include <fcntl.h>
#include <unistd.h>
/* runs before the preloaded shim's constructor (glibc initializes the program's libraries first):
 * leaves no descriptor free */
__attribute__((constructor)) static void fill(void) { while (open("/dev/null", O_RDONLY) >= 0) continue; }
int fill_fn(void) { return 0; }
"""


def test_tripwire_without_a_descriptor_says_error(kit, tmp_path, mode):
    """No descriptor free at all when the preload face's sweep runs (a library's constructor took
    the last ones): it cannot open any object's file, and enforcing that stops the program
    (fail-closed) with reason "error" (EMFILE), not "mismatch" - a file that moved - after 16 tries
    of each name. Audit mode: the program runs as without the shim."""
    prog = kit.prog_with_ctor_lib("fill", FILL_CTOR_C, "fill_fn")
    base = run_face("off", [prog], tmp_path)
    assert base.rc == 0, base
    res = run_face(mode, [prog], tmp_path, preload=SHIM)
    if mode == "audit":
        assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), (res, base)
        return
    assert res.rc == 126, res
    lines = res.refused_lines()
    assert lines and all(l.startswith("execcheck: refused to run with ") and l.endswith(": error") for l in lines), res


# ---------------------------------------------------------------------------------------------
# the records' destination


@pytest.mark.parametrize("preload", [False, True], ids=["audit-face", "preload-face"])
def test_log_file_created_under_umask_0777_keeps_every_record(kit, open_tmp, preload):
    """A program of an unprivileged user running with umask 0777 loads two 0644 libraries (audit
    mode). The log file it creates for its first record came out mode 0000 (0600 & ~0777), and
    every later record, opened afresh, was lost (EACCES): one record of two. It is now 0600."""
    need_root()
    prog = shutil.copy(hostile_prog(kit), open_tmp / "hostile")
    shim = shutil.copy(SHIM, open_tmp / "libexeccheck.so")  # readable by nobody wherever the tree is
    bad = [copy_lib(kit.lib("lib/libbad.so", "bad", mode=0o644), open_tmp / ("libbad%d.so" % i), 0o644)
           for i in range(2)]
    logs = open_tmp / "logs"
    logs.mkdir()
    os.chmod(logs, 0o777)
    log = logs / "records.jsonl"
    env = clean_env({"LD_PRELOAD" if preload else "LD_AUDIT": str(shim), "EXECCHECK_LOG_FILE": str(log)})
    r = run([prog, "umask:777", "nobody", prog] + ["dlopen:%s" % b for b in bad], env=env, stdin=subprocess.DEVNULL)
    assert r.returncode == 0 and r.stderr == "", r
    assert ["dlopen %s ok" % b for b in bad] == [l for l in r.stdout.splitlines() if l.startswith("dlopen")], r
    st = os.stat(log)
    assert (st.st_uid, st.st_mode & 0o7777) == (65534, 0o600)
    records = [json.loads(l) for l in log.read_text().splitlines()]
    assert sorted(rec["path"] for rec in records) == sorted(map(str, bad)), records


# ---------------------------------------------------------------------------------------------
# signals


def test_a_signal_handler_that_dlopens_meets_no_walk_of_the_shim_half_done(kit, tmp_path, mode):
    """A SIGALRM handler that dlopen()s and dlclose()s, every 100 us, while the program dlopen()s
    100 libraries (not async-signal-safe: glibc itself often stops such a program - "Inconsistency
    detected by ld.so", an assertion's abort, or a hang on its own lock - and those outcomes are
    the program's). ld.so's lock around dl_iterate_phdr is recursive, so the handler's dlopen got
    in under the preload face's sweep, and its own sweep rebuilt the table of seen objects that
    the interrupted one was writing: SIGSEGV in the shim in 39 runs of 40. Walks now hold such
    signals back until they are over."""
    good = kit.lib("lib/libgood.so", "good")
    libs = [copy_lib(good, tmp_path / "many" / ("lib%d.so" % i), 0o755) for i in range(100)]
    other = kit.lib("lib/libother.so", "other")
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    argv = [hostile_prog(kit), "shimsegv", "alarm:100:%s" % other, "each:" + ",".join(map(str, libs + [bad]))]
    outcomes = []
    for _ in range(5):
        try:
            res = run_face(mode, argv, tmp_path, preload=SHIM, timeout=3)
        except subprocess.TimeoutExpired:  # glibc's own lock, taken again by the handler
            outcomes.append("hang")
            continue
        assert "SIGSEGV in the shim" not in res.lines, res
        outcomes.append(res.rc)
    assert len(outcomes) == 5, outcomes

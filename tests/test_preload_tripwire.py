"""The preload face's tripwire (issue 4): with LD_PRELOAD=libexeccheck.so alone (no audit face),
every object already in the process is checked before main() - dev/ino-verified, as the audit face
does - and so is the program when ld.so was run directly. Enforcing: a message, a record, exit 126
and main() never runs. Audit mode: nothing changes but the records.

Each case runs in the three modes of audit_face_util (audit, securebits, config). The tripwire runs
after the code of what it catches (a preload's constructor is late by design): these tests show
that main() is never reached, not that the bad library's constructor never ran."""
import os

import pytest

from audit_face_util import LDSO, SHIM, kit, mode, ran, run_face  # noqa: F401 (fixtures)
from conftest import C_DIR, need_check


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


def assert_audit_unchanged(res, base, bad_files=(), kind="library"):
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), (res, base)
    assert len(res.records) == len(bad_files), res
    for f in bad_files:
        recs = res.records_for(f)
        assert len(recs) == 1, res
        assert (recs[0]["action"], recs[0]["mode"], recs[0]["face"], recs[0]["kind"]) == \
            ("logged", "audit", "preload", kind), res


def assert_stopped(res, bad, kind="library", reason="x-bit"):
    """Enforcing: main() never ran, exit 126, one line on stderr and a record naming the file."""
    assert res.rc == 126 and "main" not in res.lines, res
    prefix = "execcheck: refused to %s " % ("run" if kind == "program" else "run with")
    lines = res.refused_lines()
    assert len(lines) == 1 and lines[0].startswith(prefix) and lines[0].endswith(": " + reason), res
    assert os.path.samefile(lines[0][len(prefix):-len(": " + reason)], bad), res  # the loader's spelling
    recs = res.records_for(bad)
    assert len(recs) == 1, res
    assert (recs[0]["action"], recs[0]["mode"], recs[0]["face"], recs[0]["kind"], recs[0]["reason"]) == \
        ("refused", "enforce", "preload", kind, reason), res


def test_good_program_runs_unchanged(kit, tmp_path, mode):
    lib = kit.lib("lib/libgood.so", "good")
    prog = kit.prog(needs=[(lib.parent, "libgood.so")], runpath="$ORIGIN/../lib")
    base = run_face("off", [prog, "fds"], tmp_path)
    res = run_face(mode, [prog, "fds"], tmp_path, preload=SHIM)
    assert base.rc == 0 and "CTOR good" in base.lines
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res
    assert res.records == []


@pytest.mark.parametrize("order", ["bad-first", "shim-first"])
def test_bad_preload_before_main(kit, tmp_path, mode, order):
    """LD_PRELOAD="bad.so libexeccheck.so" (and the other order): main() never runs."""
    bad = kit.lib("pre/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    preload = "%s %s" % ((bad, SHIM) if order == "bad-first" else (SHIM, bad))
    base = run_face("off", [prog], tmp_path, env={"LD_PRELOAD": str(bad)})
    assert base.rc == 0 and ran(base, "bad") and "main" in base.lines, base
    res = run_face(mode, [prog], tmp_path, preload=preload)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert_stopped(res, bad)


def test_bad_dependency_of_a_good_preload(kit, tmp_path, mode):
    dep = kit.lib("pre/libdep.so", "dep", mode=0o644, fn="dep_fn")
    good = kit.lib("pre/libgood.so", "good", calls="dep_fn", needs=[(dep.parent, "libdep.so")], runpath="$ORIGIN")
    prog = kit.prog()
    base = run_face("off", [prog], tmp_path, env={"LD_PRELOAD": str(good)})
    assert base.rc == 0 and ran(base, "dep"), base
    res = run_face(mode, [prog], tmp_path, preload="%s %s" % (good, SHIM))
    if mode == "audit":
        return assert_audit_unchanged(res, base, [dep])
    assert_stopped(res, dep)
    assert res.records_for(good) == []


def test_bad_dt_needed_of_the_program(kit, tmp_path, mode):
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    prog = kit.prog(needs=[(bad.parent, "libbad.so")], runpath="$ORIGIN/../lib")
    base = run_face("off", [prog], tmp_path)
    res = run_face(mode, [prog], tmp_path, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert_stopped(res, bad)


@pytest.mark.parametrize("prog_mode", [0o644, 0o755], ids=["0644", "0755"])
def test_ld_so_run_directly(kit, tmp_path, mode, prog_mode):
    """`ld.so ./prog` maps the program without the kernel's check: the tripwire checks it."""
    prog = kit.prog(mode=prog_mode)
    base = run_face("off", [LDSO, prog], tmp_path)
    assert base.lines == ["main", "end"], base
    res = run_face(mode, [LDSO, prog], tmp_path, preload=SHIM)
    if mode == "audit" or prog_mode == 0o755:
        return assert_audit_unchanged(res, base, [prog] if prog_mode == 0o644 else [], kind="program")
    assert_stopped(res, prog, kind="program")


@pytest.mark.parametrize("ns", ["base", "new"])
def test_objects_loaded_behind_the_guard_in_any_namespace(kit, tmp_path, mode, ns):
    """A library loaded by an earlier constructor through libc's own dlopen/dlmopen (dodging any
    interposer), into the main namespace or a new one: the sweep walks every namespace."""
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    loader = kit._cc("pre/libloader.so", C_DIR / "preload_ctor_load.c", "-shared", "-fPIC")
    prog = kit.prog()
    env = {"CTOR_LOAD": str(bad), "CTOR_LOAD_NS": ns}
    base = run_face("off", [prog], tmp_path, env=dict(env, LD_PRELOAD=str(loader)))
    assert base.rc == 0 and "ctor-load ok" in base.lines and ran(base, "bad"), base
    # later in LD_PRELOAD = constructed earlier: the loader's constructor runs before the shim's
    res = run_face(mode, [prog], tmp_path, env=env, preload="%s %s" % (SHIM, loader))
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert_stopped(res, bad)


def test_under_the_audit_face_the_tripwire_stays_out(kit, tmp_path, mode):
    """LD_AUDIT and LD_PRELOAD both name the shim (what propagation gives every child): the audit
    copy marks the preload copy, which then leaves every decision to it - one record, face audit."""
    bad = kit.lib("pre/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    res = run_face(mode, [prog], tmp_path, env={"LD_PRELOAD": "%s %s" % (bad, SHIM)})
    assert [(r["face"], os.path.basename(r["path"])) for r in res.records] == [("audit", "libbad.so")], res
    assert not any("refused to run" in l for l in res.refused_lines()), res
    if mode == "audit":
        assert res.rc == 0 and res.lines[-1] == "end", res
    else:  # refused by la_objsearch: glibc drops the preload and runs the program without it
        assert res.rc == 0 and not ran(res, "bad") and res.lines == ["main", "end"], res


def test_no_descriptor_or_output_left_behind(kit, tmp_path):
    """Audit mode, a bad preload: the program sees the same descriptors and no output from us."""
    bad = kit.lib("pre/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    base = run_face("off", [prog, "fds"], tmp_path, env={"LD_PRELOAD": str(bad)})
    res = run_face("audit", [prog, "fds"], tmp_path, preload="%s %s" % (bad, SHIM))
    assert_audit_unchanged(res, base, [bad])


def test_the_start_walk_keeps_its_table(kit, tmp_path):
    """The tripwire remembers the objects it has checked in a table it maps on first use. The first
    walk met every entry it made, so it keeps that table: a preloaded /bin/true unmaps nothing
    beyond what ld.so unmaps without the shim (it once made a second table and dropped the first,
    in every process)."""
    def munmaps(env_arg):
        trace = tmp_path / "trace.txt"
        res = run_face("off", ["strace", "-e", "trace=munmap", "-o", trace, *env_arg, "/bin/true"], tmp_path)
        assert res.rc == 0, res
        return len([l for l in trace.read_text().splitlines() if l.startswith("munmap(")])

    assert munmaps(["-E", "LD_PRELOAD=%s" % SHIM]) == munmaps([])


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the omagic library's system call is x86-64 code")
@pytest.mark.parametrize("layout", ["omagic", "noheader", "nopie-gaps"])
def test_good_objects_of_unusual_layout(kit, tmp_path, mode, layout):
    """The sweep identifies objects as the audit face does, own image included: a library whose one
    segment starts after its header (ld -N), one whose header no segment maps (a linker script), and
    a non-PIE program with unmapped gaps between its segments (2 MiB pages, run by ld.so) are their
    own images and run unchanged (all three were refused as mismatch)."""
    from test_audit_face import OMAGIC_LIB_C, UNMAPPED_HEADER_LDS
    from test_preload_dlopen import _cc
    flags = ["-pthread"]
    (tmp_path / "lib").mkdir()
    if layout == "omagic":
        lib = _cc(tmp_path / "lib/libx.so", OMAGIC_LIB_C, "-shared", "-fPIC", "-nostdlib", "-Wl,-N")
    elif layout == "noheader":
        lds = tmp_path / "noheader.lds"
        lds.write_text(UNMAPPED_HEADER_LDS)
        lib = kit._cc("lib/libx.so", C_DIR / "audit_lib.c", "-shared", "-fPIC", "-DTAG=\"x\"", "-DFN=libfn",
                      "-fno-asynchronous-unwind-tables", "-Wl,--build-id=none,--no-eh-frame-hdr", "-Wl,-T,%s" % lds)
    else:
        lib = kit.lib("lib/libx.so", "x")
        flags += ["-no-pie", "-Wl,-z,max-page-size=0x200000"]
    os.chmod(lib, 0o755)
    prog = kit._cc("bin/prog", C_DIR / "audit_prog.c", "-DNEEDS", "-L%s" % lib.parent, "-l:libx.so",
                   "-Wl,-rpath,%s" % lib.parent, *flags)
    argv = [LDSO, prog]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and "main" in base.lines, base
    assert_audit_unchanged(run_face(mode, argv, tmp_path, preload=SHIM), base)

"""The dlopen guard of the preload face (issue 4): LD_PRELOAD=libexeccheck.so without the audit face.

dlopen()/dlmopen() are resolved as ld.so would resolve them (the one resolver), the target and
every dependency not loaded yet are checked before anything is mapped; refused (enforcing): NULL,
dlerror() names the file and the reason, and not one instruction of it (or of the library that
needs it) runs. Allowed: loaded by the path the resolver found, so the caller's RUNPATH/$ORIGIN
keep working. A name already let in costs no system call at all.

Modes as in audit_face_util: audit (nothing changes but records), secbits and config (enforcing)."""
import os
import re
import subprocess

import pytest

from audit_face_util import LDSO, OVERLAY_SETUP, OVERLAY_SETUP_ONE_FS, SHIM, clean_env, copy_lib, kit, mode, ran, run_face  # noqa: F401
from conftest import C_DIR, need_check, need_mountns, run


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


def assert_audit_unchanged(res, base, bad_files=()):
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), (res, base)
    assert len(res.records) == len(bad_files), res
    for f in bad_files:
        recs = res.records_for(f)
        assert [(r["action"], r["face"], r["kind"]) for r in recs] == [("logged", "preload", "library")], res


def assert_refused(res, bad, reason="x-bit"):
    lines = [l for l in res.refused_lines() if l.startswith("execcheck: refused to load ")]
    assert len(lines) == 1 and lines[0].endswith(": " + reason), res
    assert os.path.samefile(lines[0][len("execcheck: refused to load "):-len(": " + reason)], bad), res
    recs = res.records_for(bad)
    assert [(r["action"], r["mode"], r["face"], r["kind"], r["reason"]) for r in recs] == \
        [("refused", "enforce", "preload", "library", reason)], res


def dlerrors(res, op="dlopen"):
    return [l[len(op + " failed: "):] for l in res.lines if l.startswith(op + " failed: ")]


def caller_lib(kit, out, runpath="$ORIGIN/sub", mlm=False):
    flags = ["-shared", "-fPIC", "-Wl,--enable-new-dtags,-rpath,%s" % runpath]
    if mlm:
        flags.append("-DMLM")
    return kit._cc(out, C_DIR / "preload_caller.c", *flags)


# ---------------------------------------------------------------------------------------------
# refused before anything is mapped


@pytest.mark.parametrize("how", ["path", "name-runpath", "name-ld-library-path"])
def test_bad_library_refused(kit, tmp_path, mode, how):
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    prog = kit.prog(runpath="$ORIGIN/../dl" if how == "name-runpath" else None)
    env = {"LD_LIBRARY_PATH": str(bad.parent)} if how == "name-ld-library-path" else {}
    argv = [prog, "fds", "dlopen:" + (str(bad) if how == "path" else "libbad.so"), "fds"]
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and "dlopen ok" in base.lines and ran(base, "bad"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "bad"), res
    errs = dlerrors(res)
    assert len(errs) == 1 and errs[0].startswith("/proc/self/execcheck refused ") and "(x-bit)" in errs[0], res
    assert os.path.samefile(errs[0].split(" ")[2], bad), res
    fds = [l for l in res.lines if l.startswith("fds ")]
    assert fds[0] == fds[1], res
    assert_refused(res, bad)


def ld_so_hwcaps(env=None):
    """The glibc-hwcaps subdirectories ld.so searches, as it lists them (--help)."""
    text = subprocess.run([LDSO, "--help"], capture_output=True, text=True, env=env).stdout
    block = text.split("Subdirectories of glibc-hwcaps directories, in priority order:")[1].split("\n\n")[0]
    return [l.split()[0] for l in block.strip().splitlines() if "searched" in l]


def test_hwcaps_level_is_ld_sos_own_under_tunables(kit, tmp_path, mode):
    """The guard's prediction takes the CPU features from the record ld.so made at start-up
    (glibc's __x86_get_cpuid_feature_leaf), not from the CPU: a GLIBC_TUNABLES mask that takes
    x86-64-v3 away from ld.so takes it away from the prediction too, so the file checked is the one
    ld.so loads. Asking the CPU, the guard would check (and refuse) the v3 copy ld.so never opens."""
    tunables = {"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2"}
    if os.uname().machine != "x86_64" or "x86-64-v3" not in ld_so_hwcaps():
        pytest.skip("needs an x86-64-v3 CPU (ld.so --help lists which levels it searches)")
    assert "x86-64-v3" not in ld_so_hwcaps(dict(os.environ, **tunables))
    base_copy = kit.lib("dl/libq.so", "qbase", soname="libq.so")
    v3_copy = kit.lib("dl/glibc-hwcaps/x86-64-v3/libq.so", "qv3", mode=0o644, soname="libq.so")
    prog = kit.prog()
    env = dict(tunables, LD_LIBRARY_PATH=str(base_copy.parent))
    argv = [prog, "dlopen:libq.so"]
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and ran(base, "qbase") and not ran(base, "qv3"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base)
    assert res.rc == 0 and "dlopen ok" in res.lines and ran(res, "qbase"), res
    assert not res.refused_lines() and not res.records_for(v3_copy), res


def test_platform_subdirectory_is_ld_sos_own(kit, tmp_path, mode):
    """The guard's platform - the legacy subdirectory ld.so searches under each directory: the
    kernel's AT_PLATFORM, or glibc's haswell/xeon_phi on Intel - is ld.so's own. A bad library in
    that subdirectory is what ld.so would load, so it is refused before its constructor runs; good
    decoys wait where a guard with another platform would look first (haswell/, and the directory
    itself, which comes after every subdirectory)."""
    text = subprocess.run([LDSO, "--help"], capture_output=True, text=True).stdout
    m = re.search(r"^\s+(\S+) \(AT_PLATFORM; supported, searched\)", text, re.M)
    if not m:
        pytest.skip("ld.so --help lists no searched AT_PLATFORM subdirectory")
    platform = m.group(1)
    bad = kit.lib("dl/%s/libp.so" % platform, "plat", mode=0o644, soname="libp.so")
    kit.lib("dl/libp.so", "decoy", soname="libp.so")
    if platform != "haswell":
        kit.lib("dl/haswell/libp.so", "decoy", soname="libp.so")
    prog = kit.prog()
    env = {"LD_LIBRARY_PATH": str(bad.parent.parent)}
    argv = [prog, "dlopen:libp.so"]
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and ran(base, "plat") and not ran(base, "decoy"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and "dlopen ok" not in res.lines and not ran(res, "plat") and not ran(res, "decoy"), res
    assert_refused(res, bad)


def test_good_library_with_a_bad_dependency(kit, tmp_path, mode):
    """Neither the dependency nor the library that needs it runs one instruction."""
    dep = kit.lib("dl/libdep.so", "dep", mode=0o644, fn="dep_fn")
    good = kit.lib("dl/libgood.so", "good", calls="dep_fn", needs=[(dep.parent, "libdep.so")], runpath="$ORIGIN")
    prog = kit.prog()
    argv = [prog, "dlopen:%s" % good]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and ran(base, "dep") and ran(base, "good"), base
    res = run_face(mode, argv, tmp_path, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [dep])
    assert res.rc == 0 and not ran(res, "dep") and not ran(res, "good") and res.lines[-1] == "end", res
    assert dlerrors(res) == ["/proc/self/execcheck refused %s (x-bit) needed by %s: cannot open shared object "
                             "file: No such file or directory" % (dep, good)], res
    assert_refused(res, dep)
    assert res.records_for(good) == []


@pytest.mark.parametrize("ns", ["new", "base"])
def test_dlmopen_bad_library_fails_cleanly(kit, tmp_path, mode, ns):
    """Unlike the audit face (which can only stop the process there), the guard refuses a dlmopen()
    before the loader sees it: NULL, and the program goes on."""
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    argv = [prog, "dlmopen-%s:%s" % (ns, bad)]
    base = run_face("off", argv, tmp_path)
    assert "dlmopen-%s ok" % ns in base.lines and ran(base, "bad"), base
    res = run_face(mode, argv, tmp_path, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and not ran(res, "bad") and res.lines[-1] == "end", res
    assert len(dlerrors(res, "dlmopen-" + ns)) == 1, res
    assert_refused(res, bad)


# ---------------------------------------------------------------------------------------------
# the lean path: dlopen(path) of a library whose dependencies are all loaded is decided from the
# live link maps (l_name, SONAME) without the resolver; anything it cannot vouch for goes to the
# full prediction


def test_dependency_loaded_only_in_another_namespace_is_still_checked(kit, tmp_path, mode):
    """dl_iterate_phdr reports the caller's namespace only: a dependency that is loaded, but in a
    dlmopen() namespace, does not count - ld.so searches for it in the main one and finds the bad
    copy, which must be refused before the library that needs it runs."""
    good = kit.lib("dl/good/libdep.so", "depgood", fn="dep_fn", soname="libdep.so")
    bad = kit.lib("dl/bad/libdep.so", "depbad", fn="dep_fn", soname="libdep.so", mode=0o644)
    plug = kit.lib("dl/libplug.so", "plug", calls="dep_fn", needs=[(good.parent, "libdep.so")])
    prog = kit.prog()
    argv = [prog, "dlmopen-new:%s" % good, "dlopen:%s" % plug]
    env = {"LD_LIBRARY_PATH": str(bad.parent)}
    base = run_face("off", argv, tmp_path, env=env)
    assert "dlmopen-new ok" in base.lines and "dlopen ok" in base.lines and ran(base, "depbad"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert "dlmopen-new ok" in res.lines and ran(res, "depgood"), res
    assert not ran(res, "depbad") and not ran(res, "plug") and res.lines[-1] == "end", res
    assert dlerrors(res) == ["/proc/self/execcheck refused %s (x-bit) needed by %s: cannot open shared object "
                             "file: No such file or directory" % (bad, plug)], res
    assert_refused(res, bad)


def test_dependency_matched_by_soname_is_not_searched(kit, tmp_path, mode):
    """A dependency name that is the SONAME of a loaded object (loaded by path, under another file
    name) is that object for ld.so: the look-alike in LD_LIBRARY_PATH is never opened, never
    checked, never recorded - with the shim exactly as without it."""
    real = kit.lib("dl/real/libreal-1.2.so", "real", fn="dep_fn", soname="libalias.so.1")
    decoy = kit.lib("dl/decoy/libalias.so.1", "decoy", fn="dep_fn", mode=0o644)
    plug = kit.lib("dl/libplug.so", "plug", calls="dep_fn", needs=[(real.parent, real.name)])
    assert "libalias.so.1" in run(["readelf", "-d", str(plug)]).stdout
    prog = kit.prog()
    argv = [prog, "dlopen:%s" % real, "dlopen:%s" % plug]
    env = {"LD_LIBRARY_PATH": str(decoy.parent)}
    base = run_face("off", argv, tmp_path, env=env)
    assert base.lines.count("dlopen ok") == 2 and ran(base, "plug") and not ran(base, "decoy"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    assert (res.rc, res.lines) == (base.rc, base.lines) and res.records == [], res
    if mode == "audit":  # and it was decided from the SONAME in memory: the lean path opened nothing else
        after = opened(calls_after(tmp_path, [prog, "dlopen:%s" % real, "dlopen:%s" % plug], plug, env)[1])
        assert after == {str(plug), "/proc/self/maps"}, after


def calls_after(tmp_path, argv, first, env=None, trace="openat"):
    """The process (run with the shim preloaded, under strace -e trace=...) and the system calls it
    made from its first openat of `first` on."""
    log = tmp_path / "strace-after.txt"
    r = run(["strace", "-f", "-e", "trace=" + trace, "-o", str(log), "-E", "LD_PRELOAD=%s" % SHIM,
             *map(str, argv)], env=clean_env(env))
    assert r.returncode == 0, r
    calls = [re.sub(r"^\d+\s+", "", l) for l in log.read_text().splitlines()]
    at = next(i for i, c in enumerate(calls) if c.startswith("openat") and str(first) in c)
    return r, calls[at:]


def opened(calls):
    """The paths of the openat calls among calls."""
    return {m.group(1) for m in (re.match(r'openat\([^,]+, "([^"]*)"', c) for c in calls) if m}


def test_dlopen_by_path_with_loaded_dependencies_reads_that_file_only(kit, tmp_path):
    """The lean path: the library is opened, read and checked on one descriptor; the process is not
    replayed (no /proc/self/exe, no ld.so.cache, no other library file is opened)."""
    lib = kit.lib("dl/libgood.so", "good")
    prog = kit.prog()
    r, calls = calls_after(tmp_path, [prog, "dlopen:%s" % lib], lib, trace="openat,execveat")
    assert "dlopen ok" in r.stdout, r
    after = [c for c in calls if c.startswith("openat")]
    assert opened(after) == {str(lib), "/proc/self/maps"}, after
    checks = [c for c in calls if c.startswith("execveat")]
    assert len(checks) == 1 and ("AT_EXECVE_CHECK" in checks[0] or "0x10000" in checks[0]), checks
    assert sum(str(lib) in c for c in after) == 2, after  # the guard's read-and-check, then ld.so's own


def overlay_libraries(kit, tmp_path):
    """A container-like root: libraries in $OV/lower, used through the overlay at $OV/merged.
    libplain (dependencies loaded: the lean path), libtop (a dependency to find: the full
    prediction), libbad (0644). Returns (the program, merged)."""
    kit.lib("ov/lower/libplain.so", "plain")
    dep = kit.lib("ov/lower/libdep.so", "dep", fn="dep_fn")
    kit.lib("ov/lower/libtop.so", "top", calls="dep_fn", needs=[(dep.parent, "libdep.so")], runpath="$ORIGIN")
    kit.lib("ov/lower/libbad.so", "bad", mode=0o644)
    return kit.prog("ov/lower/prog"), tmp_path / "ov" / "merged"


def test_libraries_on_overlayfs(kit, tmp_path, mode):
    """On overlayfs over two filesystems a mapping shows the overlay's device, statx another: good
    libraries load quietly by either path of the guard, a bad one is refused for what it is (x-bit)."""
    need_mountns()
    overlay_libraries(kit, tmp_path)
    merged = tmp_path / "ov" / "merged"
    argv = [merged / "prog", "dlopen:%s" % (merged / "libplain.so"), "dlopen:%s" % (merged / "libtop.so"),
            "dlopen:%s" % (merged / "libbad.so")]
    env = {"OV": str(tmp_path / "ov")}
    res = run_face(mode, argv, tmp_path, env=env, setup=OVERLAY_SETUP, preload=SHIM)
    assert res.rc == 0 and ran(res, "plain") and ran(res, "dep") and ran(res, "top"), res
    assert [r["path"] for r in res.records] == [str(merged / "libbad.so")], res
    assert res.records[0]["reason"] == "x-bit", res
    if mode == "audit":
        assert ran(res, "bad") and res.lines.count("dlopen ok") == 3 and not res.refused_lines(), res
    else:
        assert not ran(res, "bad") and res.lines.count("dlopen ok") == 2, res
        assert len(dlerrors(res)) == 1 and "(x-bit)" in dlerrors(res)[0], res


def test_overlayfs_notes_leave_no_descriptor(kit, tmp_path):
    """The maps descriptor a note opens is closed by the sweep after the load, also when the load
    adds nothing: a second name (a symlink) of a library already loaded, which glibc matches by
    its inode after the guard checked and noted it."""
    need_mountns()
    overlay_libraries(kit, tmp_path)
    os.symlink("libplain.so", tmp_path / "ov" / "lower" / "libalias.so")
    merged = tmp_path / "ov" / "merged"
    argv = [merged / "prog", "fds", "dlopen:%s" % (merged / "libplain.so"), "fds",
            "dlopen:%s" % (merged / "libalias.so"), "fds", "dlopen:%s" % (merged / "libtop.so"), "fds"]
    res = run_face("audit", argv, tmp_path, env={"OV": str(tmp_path / "ov")}, setup=OVERLAY_SETUP, preload=SHIM)
    assert res.rc == 0 and res.lines.count("dlopen ok") == 3, res
    fds = [l for l in res.lines if l.startswith("fds ")]
    assert len(fds) == 4 and len(set(fds)) == 1, res


def test_a_constructor_that_closes_every_descriptor(kit, tmp_path):
    """Between the note and the sweep the new library's constructor runs: one that closes every
    descriptor and opens a file of its own under the freed number must not get the sweep's
    PROCMAP_QUERY on that file; the sweep opens the maps file again, and the load goes on."""
    need_mountns()
    overlay_libraries(kit, tmp_path)
    src = tmp_path / "closer.c"
    src.write_text('#define _GNU_SOURCE\n#include <fcntl.h>\n#include <stdio.h>\n#include <unistd.h>\n'
                   '__attribute__((constructor)) static void start(void) {\n'
                   '  for (int fd = 3; fd < 64; fd++) close(fd);\n'
                   '  for (int i = 0; i < 6; i++) open("/dev/null", O_RDONLY); /* 3..8: the freed numbers */\n'
                   '  printf("CTOR closer\\n"); fflush(stdout); }\n')
    kit._cc("ov/lower/libcloser.so", src, "-shared", "-fPIC")
    merged = tmp_path / "ov" / "merged"
    trace = tmp_path / "trace.txt"
    argv = ["strace", "-f", "-e", "trace=openat,ioctl,close", "-o", trace, "-E", "LD_PRELOAD=%s" % SHIM,
            merged / "prog", "dlopen:%s" % (merged / "libcloser.so"), "dlopen:%s" % (merged / "libplain.so")]
    res = run_face("off", argv, tmp_path, env={"OV": str(tmp_path / "ov")}, setup=OVERLAY_SETUP)
    assert res.rc == 0 and res.lines.count("dlopen ok") == 2 and ran(res, "plain"), res
    calls = [re.sub(r"^\d+\s+", "", l) for l in trace.read_text().splitlines()]
    nulls = [i for i, c in enumerate(calls) if c.startswith('openat(AT_FDCWD, "/dev/null"')]
    assert len(nulls) == 6, calls
    null_fds = {calls[i].rsplit("= ", 1)[1] for i in nulls}
    queried = [c for c in calls[nulls[0]:] if c.startswith("ioctl(") and "0x66, 0x11" in c]
    assert queried and not [c for c in queried if c[len("ioctl("):].split(",")[0] in null_fds], queried


@pytest.mark.parametrize("lib", ["libplain.so", "libtop.so"], ids=["lean", "predicted"])
def test_overlayfs_library_is_not_reopened_after_the_load(kit, tmp_path, lib):
    """On an overlay whose layers share one filesystem statx shows the identity a mapping shows, so
    the sweep after the load finds the guard's verdicts by the mapped inodes: from ld.so's own open
    of the library on, the only files opened are ld.so's and the maps the sweep asks (nothing
    O_PATH, no /proc/self/fd: the library is not opened again)."""
    need_mountns()
    overlay_libraries(kit, tmp_path)
    merged = tmp_path / "ov" / "merged"
    trace = tmp_path / "trace.txt"
    argv = ["strace", "-f", "-e", "trace=openat", "-o", trace, "-E", "LD_PRELOAD=%s" % SHIM, merged / "prog",
            "dlopen:%s" % (merged / lib)]
    res = run_face("off", argv, tmp_path, env={"OV": str(tmp_path / "ov")}, setup=OVERLAY_SETUP_ONE_FS)
    assert res.rc == 0 and "dlopen ok" in res.lines and ran(res, lib[3:-3]), res
    calls = [re.sub(r"^\d+\s+", "", l) for l in trace.read_text().splitlines()]
    at = [i for i, c in enumerate(calls) if '"%s", O_RDONLY|O_CLOEXEC)' % (merged / lib) in c]
    assert len(at) == 1, calls  # ld.so's own open
    after = [c for c in calls[at[0]:] if c.startswith("openat")]
    assert not [c for c in after if "O_PATH" in c or ('"/proc/' in c and '"/proc/self/maps"' not in c)], after


# ---------------------------------------------------------------------------------------------
# what must keep working


@pytest.mark.parametrize("mlm", [False, True], ids=["dlopen", "dlmopen"])
def test_caller_runpath_origin_still_works(kit, tmp_path, mode, mlm):
    """A library with RUNPATH=$ORIGIN/sub dlopen()s a name found only in sub/: glibc finds it from
    the caller's RUNPATH, and so must the guard (the caller is the library, not the shim)."""
    kit.lib("lib/sub/libsub.so", "sub")
    caller = caller_lib(kit, "lib/libcaller.so", mlm=mlm)
    prog = kit.prog()
    argv = [prog, "dlopen:%s" % caller]
    env = {"CALLER_DLOPEN": "libsub.so"}
    base = run_face("off", argv, tmp_path, env=env)
    assert "caller dlopen libsub.so ok" in base.lines and ran(base, "sub"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res
    assert res.records == []


def test_caller_runpath_bad_copy_refused_then_good_found(kit, tmp_path, mode):
    """RUNPATH=$ORIGIN/bad:$ORIGIN/good of the caller, a 0644 copy first: what the guard checks is
    what glibc would load, the bad copy: refused (enforcing), loaded and recorded (audit)."""
    bad = kit.lib("lib/bad/libx.so", "bad", mode=0o644)
    kit.lib("lib/good/libx.so", "good")
    caller = caller_lib(kit, "lib/libcaller.so", runpath="$ORIGIN/bad:$ORIGIN/good")
    prog = kit.prog()
    argv = [prog, "dlopen:%s" % caller]
    env = {"CALLER_DLOPEN": "libx.so"}
    base = run_face("off", argv, tmp_path, env=env)
    assert ran(base, "bad") and not ran(base, "good"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert not ran(res, "bad") and any(l.startswith("caller dlopen libx.so failed: /proc/self/execcheck refused")
                                       for l in res.lines), res
    assert_refused(res, bad)


def test_already_loaded_names_cost_no_system_call(kit, tmp_path):
    """The second dlopen of a name (a startup library by name, a library by path) is glibc's own
    "already open" path behind one table lookup: not one system call of the guard."""
    lib = kit.lib("dl/libgood.so", "good")
    prog = kit.prog()
    names = ["libc.so.6", str(lib)]
    argv = [prog] + ["dlopen:%s" % n for n in names for _ in range(3)]
    trace = tmp_path / "strace.txt"
    env = clean_env()
    r = run(["strace", "-f", "-o", str(trace), "-E", "LD_PRELOAD=%s" % SHIM, *map(str, argv)], env=env)
    assert r.returncode == 0 and r.stdout.count("dlopen ok") == 6, r
    # the program writes "dlopen ok" after each call: the calls between are the next dlopen's
    phases, cur = [], []
    started = False
    for line in trace.read_text().splitlines():
        call = re.sub(r"^\d+\s+", "", line)
        if call.startswith("write(1, \"main"):
            started = True
            continue
        if not started:
            continue
        if call.startswith("write(1, \"dlopen ok"):
            phases.append(cur)
            cur = []
        else:
            cur.append(call.split("(")[0])
    assert len(phases) == 6, phases
    for i in (1, 2, 4, 5):  # every dlopen but the first of each name
        assert phases[i] == [], (i, phases[i])
    assert any(c in ("openat", "statx", "execveat") for c in phases[3]), phases[3]  # the first, by path, checked


def test_a_name_buffer_rewritten_in_place_is_not_trusted(kit, tmp_path, mode):
    """The fast path remembers the address of a caller's string that named a loaded object: the
    same buffer, rewritten to name a bad library, must still reach the guard's full check."""
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    src = tmp_path / "reuse.c"
    src.write_text(
        '#include <dlfcn.h>\n#include <stdio.h>\n#include <string.h>\n'
        'int main(int c, char **v) {\n'
        '  static char name[4096];\n'
        '  strcpy(name, "libc.so.6");\n'
        '  for (int i = 0; i < 3; i++) printf("libc %s\\n", dlopen(name, RTLD_NOW) ? "ok" : "failed");\n'
        '  strcpy(name, v[1]);\n'
        '  void *h = dlopen(name, RTLD_NOW);\n'
        '  printf("bad %s\\n", h ? "ok" : dlerror());\n'
        '  return 0; }\n')
    prog = kit._cc("bin/reuse", src, "-ldl")
    base = run_face("off", [prog, bad], tmp_path)
    assert base.lines[-1] == "bad ok" and ran(base, "bad"), base
    res = run_face(mode, [prog, bad], tmp_path, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.lines[:3] == ["libc ok"] * 3 and not ran(res, "bad"), res
    assert res.lines[-1].startswith("bad /proc/self/execcheck refused ") and "(x-bit)" in res.lines[-1], res
    assert_refused(res, bad)


def test_old_symbol_versions_are_intercepted(kit, tmp_path):
    """A program linked against dlopen@GLIBC_2.2.5 and dlmopen@GLIBC_2.3.4 (glibc before 2.34)."""
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    src = tmp_path / "old.c"
    src.write_text(
        '#define _GNU_SOURCE\n#include <dlfcn.h>\n#include <stdio.h>\n'
        '__asm__(".symver dlopen, dlopen@GLIBC_2.2.5");\n'
        '__asm__(".symver dlmopen, dlmopen@GLIBC_2.3.4");\n'
        'int main(int c, char **v) {\n'
        '  printf("dlopen %s\\n", dlopen(v[1], RTLD_NOW) ? "ok" : "failed");\n'
        '  printf("dlmopen %s\\n", dlmopen(LM_ID_NEWLM, v[1], RTLD_NOW) ? "ok" : "failed");\n'
        '  return 0; }\n')
    prog = kit._cc("bin/old", src, "-ldl")
    syms = run(["readelf", "--dyn-syms", "-W", str(prog)]).stdout
    assert "dlopen@GLIBC_2.2.5" in syms and "dlmopen@GLIBC_2.3.4" in syms, syms
    res = run_face("secbits", [prog, bad], tmp_path, preload=SHIM)
    assert res.lines == ["dlopen failed", "dlmopen failed"] and not ran(res, "bad"), res
    assert res.records_for(bad)[0]["face"] == "preload"


def test_under_the_audit_face_the_guard_passes_straight_through(kit, tmp_path, mode):
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    res = run_face(mode, [prog, "dlopen:%s" % bad], tmp_path, env={"LD_PRELOAD": SHIM})
    assert [r["face"] for r in res.records] == ["audit"], res
    if mode != "audit":  # the audit face's refusal, word for word
        assert "dlopen failed: /proc/self/execcheck refused %s (x-bit): cannot open shared object file: " \
               "No such file or directory" % bad in res.lines, res


def test_a_file_that_appears_later_is_seen(kit, tmp_path, mode):
    """The resolver's session is reused between dlopens, but never trusted blindly: a library that
    was missing at the first dlopen and is there at the second is found and checked."""
    src = kit.lib("src/liblate.so", "late", mode=0o644)
    target = tmp_path / "dl" / "liblate.so"
    target.parent.mkdir()
    prog = kit._cc("bin/late", C_DIR / "preload_late.c", "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../dl")
    res = run_face(mode, [prog, "liblate.so", src, target], tmp_path, preload=SHIM)
    assert res.lines[0].startswith("dlopen failed: liblate.so: cannot open shared object file"), res
    if mode == "audit":
        assert res.lines[-1] == "dlopen ok" and ran(res, "late"), res
        assert [r["action"] for r in res.records_for(target)] == ["logged"], res
    else:
        assert not ran(res, "late") and "execcheck refused" in res.lines[-1], res
        assert_refused(res, target)


def test_a_library_whose_dependency_must_be_found_is_opened_once_by_the_guard(kit, tmp_path, mode):
    """The lean path reads the library and finds a dependency to search for: the prediction takes
    its descriptor over (its ELF headers and its check come from it), so the guard opens the file
    by name once, and ld.so once. The dependency is still found, checked and loaded (refused when
    it is bad)."""
    dep = kit.lib("dl/libdep.so", "dep", fn="dep_fn", mode=0o755 if mode == "audit" else 0o644)
    top = kit.lib("dl/libtop.so", "top", calls="dep_fn", needs=[(dep.parent, "libdep.so")], runpath="$ORIGIN")
    prog = kit.prog()
    if mode == "audit":
        r, calls = calls_after(tmp_path, [prog, "dlopen:%s" % top], top)
        assert "dlopen ok" in r.stdout and "CTOR dep" in r.stdout and "CTOR top" in r.stdout, r
        opens = [c for c in calls if c.startswith("openat") and '"%s"' % top in c]
        assert len(opens) == 2 and "O_NONBLOCK" in opens[0] and "O_PATH" not in "".join(opens), opens
        # the dependency, found by the prediction: read as ld.so will open it (no O_PATH look
        # first), then checked on a descriptor of its own (readable: it is held by a mapping until
        # the load is swept, pins.h); then ld.so's own open
        dep_opens = [c for c in calls if c.startswith("openat") and '"%s"' % dep in c]
        assert len(dep_opens) == 3 and "O_PATH" not in "".join(dep_opens) and "O_NONBLOCK" in dep_opens[1], dep_opens
        return
    gone = kit.lib("dl/libgone.so", "gone", fn="gone_fn")
    orphan = kit.lib("dl/liborphan.so", "orphan", calls="gone_fn", needs=[(gone.parent, "libgone.so")],
                     runpath="$ORIGIN")
    gone.unlink()  # a dependency nobody can find: glibc fails the load after the guard let it by
    res = run_face(mode, [prog, "fds", "dlopen:%s" % top, "fds", "dlopen:%s" % orphan, "fds"], tmp_path, preload=SHIM)
    assert res.rc == 0 and not ran(res, "dep") and not ran(res, "top") and not ran(res, "orphan"), res
    assert_refused(res, dep)
    assert "libgone.so" in dlerrors(res)[-1], res
    fds = [l for l in res.lines if l.startswith("fds ")]
    assert len(fds) == 3 and len(set(fds)) == 1, res  # the held descriptor is let go, refused or not


def test_what_a_prediction_just_looked_at_is_not_looked_at_again(kit, tmp_path):
    """The staleness test of a reused session re-examines what earlier predictions saw; the paths
    this very prediction looked up are as fresh as a second look: the dependency it found, and
    the candidate it did not, are looked at by name once (the lookup itself), not again. (The
    sweep after the load looks at what was mapped once more, by its whole key - a chmod or a
    rewrite since the check is a new state: mapped.c's cached_verdict.)"""
    import collections
    dep = kit.lib("dl/libdep.so", "dep", fn="dep_fn")
    top = kit.lib("dl/libtop.so", "top", calls="dep_fn", needs=[(dep.parent, "libdep.so")],
                  runpath="%s:$ORIGIN" % (tmp_path / "nowhere"))
    prog = kit.prog()
    r, calls = calls_after(tmp_path, [prog, "dlopen:%s" % top], top, trace="openat,statx")
    assert "dlopen ok" in r.stdout and "CTOR dep" in r.stdout, r
    by_name = [c for c in calls if c.startswith("statx(AT_FDCWD")]  # the shim's (ld.so uses newfstatat)
    looks = collections.Counter(re.match(r'statx\(AT_FDCWD, "([^"]*)"', c).group(1) for c in by_name)
    ours = {p: n for p, n in looks.items() if p.startswith((str(dep), str(tmp_path / "nowhere")))}
    assert ours and all(n == (2 if p == str(dep) else 1) for p, n in ours.items()), by_name


# ---------------------------------------------------------------------------------------------
# what only a preload cannot stop in time: the sweep after the next load


@pytest.mark.parametrize("where", ["dl", "dl$1"])
def test_libc_internal_load_caught_at_the_next_dlopen(kit, tmp_path, mode, where):
    """libc loads gconv modules itself, behind any dlopen() interposer: the guard sees such an
    object only when it next gains control - the sweep after the next dlopen. Enforcing, the
    process stops there (126), after the module's constructor ran: the limit of a preload.
    dl$1: the next library's path has a '$' that is no dynamic string token; such a path was
    handed to glibc as the caller's name, with no sweep after (nor after a file swapped in between
    its check and glibc's open): the module went on unseen (found by a bypass hunt, 2026-11-30)."""
    gdir = tmp_path / "gconv"
    module = kit.lib("gconv/libtestgconv.so", "gconv", mode=0o644, gconv=True)
    (gdir / "gconv-modules").write_text(
        "module  INTERNAL          EXECCHECKTEST//   libtestgconv  1\n"
        "module  EXECCHECKTEST//   INTERNAL          libtestgconv  1\n")
    good = kit.lib("%s/libgood.so" % where, "good")
    prog = kit.prog()
    argv = [prog, "iconv:EXECCHECKTEST//", "dlopen:%s" % good]
    env = {"GCONV_PATH": str(gdir)}
    base = run_face("off", argv, tmp_path, env=env)
    assert "iconv ok" in base.lines and "dlopen ok" in base.lines, base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [module])
    assert res.rc == 126 and "CTOR gconv" in res.lines and "dlopen ok" not in res.lines, res
    assert [(r["face"], r["action"]) for r in res.records_for(module)] == [("preload", "refused")], res


def test_threads_and_descriptors(kit, tmp_path, mode):
    libs = [kit.lib("dl/libt%d.so" % i, "t%d" % i) for i in range(4)]
    prog = kit.prog()
    argv = [prog, "fds", "threads:8:25:%s" % ",".join(map(str, libs)), "fds"]
    res = run_face(mode, argv, tmp_path, preload=SHIM)
    assert res.rc == 0 and "threads ok=800 failed=0" in res.lines, res
    fds = [l for l in res.lines if l.startswith("fds ")]
    assert fds[0] == fds[1] and res.records == [], res


CTOR_DLOPEN_C = r"""
#include <dlfcn.h>
#include <stdio.h>
__attribute__((constructor)) static void ctor(void)
{
    void *h = dlopen("libearly.so", RTLD_NOW);
    printf("ctor dlopen %s\n", h ? "ok" : dlerror());
    fflush(stdout);
}
int ctor_dlopen_fn(void) { return 0; }
"""


def test_a_library_constructor_before_ours_is_guarded(kit, tmp_path, mode):
    """glibc runs the constructors of a program's libraries before the preloaded shim's. A dlopen()
    from one of them reaches the guard before the shim's constructor ran: the policy it resolves
    then must be the whole one (the environment's part came from the constructor's envp, so it was
    missing: the log file, EXECCHECK_FILES), and a 0644 library found by name is judged as later."""
    bad = kit.lib("lp/libearly.so", "early", mode=0o644)
    prog = kit.prog_with_ctor_lib("ctordlopen", CTOR_DLOPEN_C, "ctor_dlopen_fn")
    env = {"LD_LIBRARY_PATH": str(bad.parent)}
    base = run_face("off", [prog], tmp_path, env=env)
    assert base.rc == 0 and base.lines == ["IFUNC early", "CTOR early", "ctor dlopen ok"], base
    res = run_face(mode, [prog], tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and not ran(res, "early"), res
    assert res.lines == ["ctor dlopen /proc/self/execcheck refused %s (x-bit): cannot open shared object file: "
                         "No such file or directory" % bad], res
    assert_refused(res, bad)


# ---------------------------------------------------------------------------------------------
# from a bypass hunt on the guard (each of these ran a 0644 library's IFUNC and constructor)

PLUG_OPEN_C = '#include <dlfcn.h>\nvoid *plug_open(const char *n) { return dlopen(n, RTLD_NOW); }\n'
CALLS_PLUG_C = r'''#include <dlfcn.h>
#include <stdio.h>
int main(int c, char **v)
{
    void *p = dlopen(v[1], RTLD_NOW);
    void *h = p ? ((void *(*)(const char *))dlsym(p, "plug_open"))(v[2]) : 0;
    printf("plug %s, %s %s\n", p ? "ok" : "failed", v[2], h ? "ok" : "failed");
    puts("end");
    return 0;
}
'''


def _cc(out, src, *flags):
    r = subprocess.run(["cc", "-O1", "-o", str(out), "-x", "c", "-", *flags], input=src, text=True,
                       capture_output=True)
    assert r.returncode == 0, r.stderr
    return out


def test_a_name_the_caller_cannot_find_is_searched_from_the_caller(kit, tmp_path):
    """A plugin with a RUNPATH dlopen()s a bare name that only the main program's DT_RPATH holds
    (a 0644 copy): glibc, searching for the plugin, does not look there and fails. The guard
    predicted "not found" rightly, then loaded the name itself - from the shim, which has no
    RUNPATH, so glibc searched the program's DT_RPATH, found the bad copy, ran its IFUNC and
    constructor, and the sweep stopped the process (126). Now the name goes to glibc from the
    caller, which fails as it would without the shim."""
    bad = kit.lib("rpath/libx.so", "bad", mode=0o644)
    (tmp_path / "empty").mkdir()
    plug = _cc(tmp_path / "libplug.so", PLUG_OPEN_C, "-shared", "-fPIC", "-Wl,--enable-new-dtags",
               "-Wl,-rpath,%s" % (tmp_path / "empty"))
    prog = _cc(tmp_path / "main", CALLS_PLUG_C, "-ldl", "-Wl,--disable-new-dtags", "-Wl,-rpath,%s" % bad.parent)
    argv = [prog, plug, "libx.so"]
    base = run_face("off", argv, tmp_path)
    assert base.lines == ["plug ok, libx.so failed", "end"] and not ran(base, "bad"), base
    res = run_face("secbits", argv, tmp_path, preload=SHIM)
    assert (res.rc, res.lines) == (0, base.lines) and not ran(res, "bad"), res


SEQ_C = r'''#include <dlfcn.h>
#include <stdio.h>
#include <stdio.h>
int main(int c, char **v)
{
    /* v[1]: a name; v[2] renamed to v[3] after two failed dlopens of it */
    for (int i = 0; i < 3; i++) {
        if (i == 2 && rename(v[2], v[3])) return 3;
        printf("dlopen %s\n", dlopen(v[1], RTLD_NOW) ? "ok" : "failed");
    }
    puts("end");
    return 0;
}
'''


@pytest.mark.parametrize("name", ["$ORIGIN/sub/libx.so", "abs"])
def test_a_directory_that_appears_is_looked_at_again_for_a_path(kit, tmp_path, name):
    """dlopen("$ORIGIN/sub/libx.so") (or an absolute path) twice while sub/ does not exist, then
    sub/ appears holding a 0644 library: glibc opens a name with a '/' afresh each time and loads
    it. The guard remembered sub/ as missing, predicted "not found" again and handed the name
    over: the library's code ran. Only a search list's missing directories are remembered now."""
    bad = kit.lib("later/libx.so", "bad", mode=0o644)
    prog = _cc(tmp_path / "seq", SEQ_C, "-ldl")
    target = str(tmp_path / "sub/libx.so") if name == "abs" else name
    argv = [prog, target, bad.parent, tmp_path / "sub"]
    said = lambda r: [l for l in r.lines if l.startswith(("dlopen", "end"))]  # noqa: E731
    base = run_face("off", argv, tmp_path)
    assert said(base) == ["dlopen failed", "dlopen failed", "dlopen ok", "end"] and ran(base, "bad"), base
    os.rename(tmp_path / "sub", bad.parent)
    res = run_face("secbits", argv, tmp_path, preload=SHIM)
    assert res.rc == 0 and said(res) == ["dlopen failed"] * 3 + ["end"] and not ran(res, "bad"), res


SEQ_NS_C = r'''#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
int main(int c, char **v)
{
    /* v[1] loaded in the main namespace, then v[2] dlmopen()ed into a new one */
    printf("dlopen %s\n", dlopen(v[1], RTLD_NOW) ? "ok" : "failed");
    printf("dlmopen %s\n", dlmopen(LM_ID_NEWLM, v[2], RTLD_NOW) ? "ok" : "failed");
    puts("end");
    return 0;
}
'''


@pytest.mark.parametrize("how", ["by-name", "as-dependency"])
def test_a_new_namespace_searches_for_what_the_main_one_has(kit, tmp_path, how):
    """libdep.so is loaded in the main namespace from a good directory; dlmopen(LM_ID_NEWLM) then
    loads, by name or as a plugin's dependency, a libdep.so that glibc searches for afresh in the
    new namespace and finds as a 0644 copy (the program's or the plugin's RUNPATH). The guard
    matched the name to the main namespace's object, checked nothing, and the copy's IFUNC and
    constructor ran (by name with no sweep at all). Now the new namespace's closure is resolved on
    its own and checked first."""
    good = kit.lib("ns/good/libdep.so", "depgood", fn="dep_fn", soname="libdep.so")
    bad = kit.lib("ns/bad/libdep.so", "depbad", fn="dep_fn", soname="libdep.so", mode=0o644)
    flags = ["-ldl", "-Wl,--enable-new-dtags"]
    if how == "by-name":
        target = "libdep.so"
        flags.append("-Wl,-rpath,%s" % bad.parent)
    else:
        target = kit.lib("ns/libplug.so", "plug", calls="dep_fn", needs=[(bad.parent, "libdep.so")],
                         runpath=str(bad.parent))
    prog = _cc(tmp_path / "seq", SEQ_NS_C, *flags)
    argv = [prog, good, target]
    said = lambda r: [l for l in r.lines if l.startswith(("dlopen", "dlmopen", "end"))]  # noqa: E731
    base = run_face("off", argv, tmp_path)
    assert said(base) == ["dlopen ok", "dlmopen ok", "end"] and ran(base, "depbad"), base
    res = run_face("secbits", argv, tmp_path, preload=SHIM)
    assert res.rc == 0 and said(res) == ["dlopen ok", "dlmopen failed", "end"], res
    assert not ran(res, "depbad") and not ran(res, "plug"), res
    if how == "as-dependency":
        assert_refused(res, bad)
    else:  # a bare name the main namespace has: where the new one finds it cannot be predicted
        assert [(r["path"], r["reason"]) for r in res.records] == [("libdep.so", "error")], res.records
    good_ns = run_face("secbits", [prog, good, good], tmp_path, preload=SHIM)  # a good closure loads
    assert good_ns.rc == 0 and said(good_ns) == ["dlopen ok", "dlmopen ok", "end"], good_ns


# ---------------------------------------------------------------------------------------------
# $ORIGIN of an object loaded by a relative name, after the program changed directory

def origin_after_chdir(kit, tmp_path, plug_mode, decoy):
    """a/lib/libcaller.so (RUNPATH $ORIGIN/sub) and a/lib/sub/libplug.so; with decoy, b/ has the
    same layout (another copy of the application) with a good libplug.so where the new
    directory's $ORIGIN would point. Returns the program's argv and env: from a/,
    dlopen("./lib/libcaller.so"); chdir b/; the caller dlopen()s libplug.so."""
    a, b = kit.dir / "a", kit.dir / "b"
    caller = caller_lib(kit, a / "lib/libcaller.so")
    kit.lib(a / "lib/sub/libplug.so", "plug", mode=plug_mode)
    b.mkdir(exist_ok=True)
    if decoy:
        copy_lib(caller, b / "lib/libcaller.so", 0o755)
        kit.lib(b / "lib/sub/libplug.so", "decoy")
    argv = [kit.prog(), "chdir:%s" % a, "dlopen:./lib/libcaller.so", "chdir:%s" % b, "call:caller_dlopen_later", "fds"]
    return argv, {"CALLER_DLOPEN_LATER": "libplug.so"}


def test_origin_of_a_relative_name_is_where_it_was_loaded(kit, tmp_path, mode):
    """glibc fixes the $ORIGIN of an object loaded by a relative name from the directory current
    at the load. The guard took the directory current at the dlopen: after a chdir it searched
    where the caller's $ORIGIN never pointed - it checked and loaded a good decoy there instead of
    the library glibc loads (a behaviour change), and with no decoy it predicted "not found" and
    handed the name to glibc, which loaded a 0644 library unchecked (its constructor ran, the
    sweep stopped the process after). The sweep that first meets the object notes where it was
    loaded from."""
    argv, env = origin_after_chdir(kit, tmp_path, 0o644, decoy=False)
    bad = kit.dir / "a/lib/sub/libplug.so"
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and "caller dlopen libplug.so ok" in base.lines and ran(base, "plug"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "plug"), res
    said = [l for l in res.lines if l.startswith("caller dlopen libplug.so failed: ")]
    assert len(said) == 1 and "/proc/self/execcheck refused " in said[0] and "(x-bit)" in said[0], res
    assert_refused(res, bad)


def test_origin_of_a_relative_name_loads_what_glibc_loads(kit, tmp_path, mode):
    """The good case beside a decoy: the library glibc finds from the old directory is the one
    loaded, as without the shim (the guard loaded the decoy under the new one)."""
    argv, env = origin_after_chdir(kit, tmp_path, 0o755, decoy=True)
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and ran(base, "plug") and not ran(base, "decoy"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base)
    assert (res.rc, res.out) == (base.rc, base.out) and not res.refused_lines() and not res.records, res


def test_origin_of_a_relative_dlopen_after_chdir_in_a_session_used_before(kit, tmp_path, mode):
    """dlopen("./libfirst.so") from a/ (a prediction: the guard's resolver session is made, and kept
    for the next ones), chdir b/, dlopen("./libplug.so"), whose RUNPATH $ORIGIN finds b/'s 0644
    libdep.so. The session took relative names and $ORIGIN from a/, where it was made: it checked
    a good decoy a/libdep.so, glibc loaded b/'s, whose IFUNC resolver and constructor ran before the
    sweep stopped the process. The session follows the directory: refused before anything is mapped."""
    a, b = kit.dir / "a", kit.dir / "b"
    kit.lib(a / "libdep1.so", "dep1")
    kit.lib(a / "libfirst.so", "first", needs=[(a, "libdep1.so")], runpath="$ORIGIN")
    kit.lib(a / "libdep.so", "decoy")
    bad = kit.lib(b / "libdep.so", "dep", mode=0o644)
    kit.lib(b / "libplug.so", "plug", needs=[(a, "libdep.so")], runpath="$ORIGIN")
    argv = [kit.prog(), "chdir:%s" % a, "dlopen:./libfirst.so", "chdir:%s" % b, "dlopen:./libplug.so"]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and ran(base, "dep") and not ran(base, "decoy") and base.lines[-1] == "end", base
    res = run_face(mode, argv, tmp_path, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "dep") and not ran(res, "plug"), res
    said = [l for l in res.lines if l.startswith("dlopen failed: ")]
    assert len(said) == 1 and "(x-bit)" in said[0], res
    assert_refused(res, bad)


CHDIR_CTOR_C = r'''#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void away(void) { if (chdir(getenv("CHDIR_TO"))) _exit(5); }
'''


def test_origin_of_a_relative_name_not_known_is_not_guessed(kit, tmp_path, mode):
    """The caller came in at start-up by a relative LD_LIBRARY_PATH entry, and a library
    constructor that glibc runs before the shim's changed directory: no sweep met the caller while
    its name still led to it, so where its $ORIGIN points is not known. A load that needs it is
    not guessed: enforcing, it is refused as unpredictable (a good libplug.so too - failing
    closed); in audit mode it goes on as without the shim, and is recorded."""
    a, b = kit.dir / "a", kit.dir / "b"
    caller = caller_lib(kit, a / "lib/libcaller.so")
    kit.lib(a / "lib/sub/libplug.so", "plug")
    kit.lib(b / "lib/sub/libplug.so", "decoy")
    _cc(a / "lib/libchdir.so", CHDIR_CTOR_C, "-shared", "-fPIC")
    # the driver, linked against both; LD_LIBRARY_PATH=./lib names them relative to a/
    prog = kit._cc("bin/rel", C_DIR / "audit_prog.c", "-pthread", "-Wl,--no-as-needed",
                   "-L%s" % caller.parent, "-lcaller", "-lchdir")
    env = {"LD_LIBRARY_PATH": "./lib", "CHDIR_TO": str(b), "CALLER_DLOPEN_LATER": "libplug.so"}
    argv = [prog, "dlopen:./lib/libcaller.so", "call:caller_dlopen_later", "fds"]
    base = run_face("off", argv, tmp_path, env=env, cwd=a)
    assert base.rc == 0 and "caller dlopen libplug.so ok" in base.lines and ran(base, "plug"), base
    assert not ran(base, "decoy"), base
    res = run_face(mode, argv, tmp_path, env=env, cwd=a, preload=SHIM)
    if mode == "audit":
        assert (res.rc, res.out) == (base.rc, base.out), res
        assert [(r["action"], r["face"], r["reason"]) for r in res.records] == [("logged", "preload", "error")], res
        assert res.records[0]["path"] == "libplug.so", res
        return
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "plug") and not ran(res, "decoy"), res
    said = [l for l in res.lines if l.startswith("caller dlopen libplug.so failed: ")]
    assert len(said) == 1 and "(error)" in said[0], res


def test_origin_of_a_relative_name_when_a_constructor_changes_directory(kit, tmp_path, mode):
    """The caller, loaded by a relative name, dlopen()s from its constructor - inside the load, so
    before any sweep has met it - first a library whose constructor changes directory, then a
    0644 libplug.so through its $ORIGIN. The guard's first look at the caller (its first dlopen)
    notes where it came from, while that is still the current directory."""
    a, b = kit.dir / "a", kit.dir / "b"
    caller_lib(kit, a / "lib/libcaller.so")
    bad = kit.lib(a / "lib/sub/libplug.so", "plug", mode=0o644)
    _cc(a / "lib/sub/libchdir.so", CHDIR_CTOR_C, "-shared", "-fPIC")
    b.mkdir()
    env = {"CHDIR_TO": str(b), "CALLER_DLOPEN": "libchdir.so:libplug.so"}
    argv = [kit.prog(), "chdir:%s" % a, "dlopen:./lib/libcaller.so"]
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and "caller dlopen libplug.so ok" in base.lines and ran(base, "plug"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and res.lines[-1] == "end" and "caller dlopen libchdir.so ok" in res.lines, res
    assert not ran(res, "plug"), res
    said = [l for l in res.lines if l.startswith("caller dlopen libplug.so failed: ")]
    assert len(said) == 1 and "(x-bit)" in said[0], res
    assert_refused(res, bad)


@pytest.mark.parametrize("decoy", [False, True], ids=["bad", "decoy"])
def test_origin_of_a_relative_name_reloaded_from_another_directory(kit, tmp_path, mode, decoy):
    """dlopen("./lib/libcaller.so") + dlclose() from a/, then the same name from b/ (another copy
    of the application, a 0644 libplug.so beside its caller). glibc hands the reload the freed link
    map, name and mapping of the first load: the same four values the tripwire remembers objects
    by. The sweep after the reload took it for the old object - unchecked, and with a/ as its
    load directory - and the guard predicted the caller's $ORIGIN in a/: the good decoy there was
    loaded instead of b/'s library (decoy), or with nothing there the name was handed to glibc,
    which ran the 0644 one's code (bad) and no sweep followed."""
    a, b = kit.dir / "a", kit.dir / "b"
    caller = caller_lib(kit, a / "lib/libcaller.so")
    copy_lib(caller, b / "lib/libcaller.so", 0o755)
    bad = kit.lib(b / "lib/sub/libplug.so", "plug", mode=0o644)
    if decoy:
        kit.lib(a / "lib/sub/libplug.so", "decoy")
    else:
        (a / "lib/sub").mkdir(parents=True, exist_ok=True)
    env = {"CALLER_DLOPEN_LATER": "libplug.so"}
    argv = [kit.prog(), "chdir:%s" % a, "loop:1:./lib/libcaller.so", "chdir:%s" % b, "dlopen:./lib/libcaller.so",
            "call:caller_dlopen_later"]
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and ran(base, "plug") and not ran(base, "decoy"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "plug") and not ran(res, "decoy"), res
    said = [l for l in res.lines if l.startswith("caller dlopen libplug.so failed: ")]
    assert len(said) == 1 and "(x-bit)" in said[0], res
    assert_refused(res, bad)


UPGRADE_CTOR_C = r'''#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void upgrade(void)
{
    const char *src = getenv("UPG_SRC"), *dst = getenv("UPG_DST");
    if (src && dst && rename(src, dst)) perror("rename");
    printf("CTOR upg\n");
    fflush(stdout);
}
int libfn(void) { return 0; }
'''


@pytest.mark.parametrize("face", ["preload", "audit"])
def test_a_library_replaced_by_an_upgrade_during_its_load_is_still_itself(kit, tmp_path, face):
    """A package upgrade renames a new copy over a library while a program loads it (here: from the
    library's own constructor, before the load is swept). The mapped inode is then nameless and
    the name leads to the new file, so a verdict taken only by the name's whole key refused the
    good library as `mismatch` (126). The file checked is held until the load is over (pins.h):
    its verdict answers for the mapped inode as it is. Enforcing, both faces."""
    (tmp_path / "d").mkdir()
    lib = _cc(tmp_path / "d" / "libupg.so", UPGRADE_CTOR_C, "-shared", "-fPIC")
    new = tmp_path / "d" / "libupg.so.new"
    env = {"UPG_SRC": str(new), "UPG_DST": str(lib)}
    argv = [kit.prog(), "dlopen:%s" % lib, "fds"]
    for _ in range(2):  # the second run meets the copy the first one renamed in
        new.write_bytes(lib.read_bytes())
        os.chmod(new, 0o755)
        res = run_face("secbits", argv, tmp_path, env=env, **({"preload": SHIM} if face == "preload" else {}))
        assert res.rc == 0 and "CTOR upg" in res.lines and "dlopen ok" in res.lines, res
        assert not res.refused_lines() and not res.records, res


ENV_CTOR_C = r'''#include <stdlib.h>
/* a library of the program, tidying the environment from its constructor (before the shim's) */
__attribute__((constructor)) static void tidy(void)
{
    const char *to = getenv("TIDY_TO");
    if (to) setenv("LD_LIBRARY_PATH", to, 1); /* an existing variable: its slot in envp rewritten */
    else unsetenv("LD_LIBRARY_PATH");         /* the later entries of envp moved down over it */
}
int libfn(void) { return 42; }
'''
RAW_EXEC_TWICE_C = r'''#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
extern char **environ;
int main(int c, char **v)
{
    /* v[1]: an LD_LIBRARY_PATH put before the one in the environment; v[2...] run with it, under
     * the preload face: the system call itself, without the LD_AUDIT the shim put in environ */
    char *env[256], first[4096] = "LD_LIBRARY_PATH=";
    int n = 0;
    env[n++] = strcat(first, v[1]);
    for (char **e = environ; *e && n < 255; e++)
        if (strncmp(*e, "LD_AUDIT=", 9)) env[n++] = *e;
    env[n] = 0;
    syscall(SYS_execve, v[2], v + 2, env);
    return 127;
}
'''


@pytest.mark.parametrize("how", ["unset-by-a-constructor", "changed-by-a-constructor", "given-twice"])
def test_library_path_is_the_one_ld_so_read_at_start(kit, tmp_path, mode, how):
    """ld.so reads LD_LIBRARY_PATH once, before any code of the process runs, and takes the last
    of several. The guard read it from the envp array its constructor got, where a constructor of
    the program's libraries (they run before the shim's) may have unset it or changed it in place,
    and took the first: it predicted "not found" for a 0644 library in that directory and handed
    the name to glibc, which loaded it from the path it had read - IFUNC and constructor ran, and
    no sweep followed. Now the guard reads the strings the kernel laid out at execve."""
    bad = kit.lib("lp/libtidy.so", "bad", mode=0o644)
    (tmp_path / "empty").mkdir()
    env = {"LD_LIBRARY_PATH": str(bad.parent)}
    if how == "given-twice":
        argv = [_cc(tmp_path / "twice", RAW_EXEC_TWICE_C, "-include", "string.h"), tmp_path / "empty", kit.prog()]
    else:
        (tmp_path / "lib").mkdir()
        tidy = _cc(tmp_path / "lib/libtidyenv.so", ENV_CTOR_C, "-shared", "-fPIC")
        argv = [kit.prog(needs=[(tidy.parent, tidy.name)], runpath=str(tidy.parent))]
        if how == "changed-by-a-constructor":
            env["TIDY_TO"] = str(tmp_path / "empty")
    argv.append("dlopen:libtidy.so")
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and "dlopen ok" in base.lines and ran(base, "bad"), base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "bad"), res
    assert len(dlerrors(res)) == 1 and "(x-bit)" in dlerrors(res)[0], res
    assert_refused(res, bad)


PLUG_BASE_C = r'''#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
void plug_open_base(void)
{
    void *h = dlmopen(LM_ID_BASE, "libfoo.so", RTLD_NOW);
    printf("plug dlmopen %s\n", h ? "ok" : dlerror());
    fflush(stdout);
}
'''


@pytest.mark.parametrize("how", ["needed", "dlmopen-base"])
def test_a_bare_name_the_guard_loaded_by_path_is_not_glibcs(kit, tmp_path, mode, how):
    """dlopen("libfoo.so") (no SONAME) is loaded by the guard by the path it found, so glibc knows
    that object by its path only. A plugin with a RUNPATH holding a 0644 libfoo.so then needs
    libfoo.so (DT_NEEDED), or asks dlmopen(LM_ID_BASE, "libfoo.so"): glibc alone reuses the loaded
    object, glibc behind the guard searches and finds the 0644 copy. The guard predicted the
    reuse: it checked nothing, and the copy's IFUNC and constructor ran - stopped by the sweep
    after (126) for a dependency, never for dlmopen (the name went to glibc, no sweep followed).
    Now the bare name matches as glibc will match it: the dependency is searched for and checked
    first, and dlmopen() of a name the guard let in is that same object, as dlopen() of it."""
    good = kit.lib("good/libfoo.so", "foogood")
    bad = kit.lib("evil/libfoo.so", "evil", mode=0o644)
    prog = kit.prog(runpath=str(good.parent))
    if how == "needed":
        plug = kit.lib("plug/libuser.so", "user", fn="userfn", calls="libfn", needs=[(good.parent, good.name)],
                       runpath=str(bad.parent))
        argv = [prog, "dlopen:libfoo.so", "dlopen:%s" % plug]
    else:
        (tmp_path / "plug").mkdir()
        plug = _cc(tmp_path / "plug/libplug.so", PLUG_BASE_C, "-shared", "-fPIC", "-Wl,--enable-new-dtags",
                   "-Wl,-rpath,%s" % bad.parent)
        argv = [prog, "dlopen:libfoo.so", "dlopen:%s" % plug, "call:plug_open_base"]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines[-1] == "end" and not ran(base, "evil"), base
    res = run_face(mode, argv, tmp_path, preload=SHIM)
    if how == "dlmopen-base":  # the very object dlopen() let in: as without the shim
        assert (res.rc, res.out, res.err, res.records) == (base.rc, base.out, base.err, []), res
        return
    if mode == "audit":  # glibc behind the guard loads the copy it finds: recorded before it is mapped
        assert res.rc == 0 and res.lines[-1] == "end" and ran(res, "evil"), res
        assert [r["action"] for r in res.records_for(bad)] == ["logged"] and len(res.records) == 1, res
        return
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "evil") and not ran(res, "user"), res
    assert dlerrors(res)[-1].startswith("/proc/self/execcheck refused %s (x-bit) needed by %s" % (bad, plug)), res
    assert_refused(res, bad)


def test_a_dependency_is_known_to_glibc_by_its_needed_name(kit, tmp_path, mode):
    """A plugin (RUNPATH its own directory) needs libbar.so, which has no SONAME: glibc knows the
    object it loads for it by that name too, and a later dlopen("libbar.so") is that object. The
    guard searched for the name from the caller instead (the program's RUNPATH: a 0644 libbar.so
    there), so a good program loaded another library than glibc alone would (audit), or had its
    dlopen refused (enforcing). The names glibc gives a load's dependencies are now known to the
    guard's fast path, as the names it let in."""
    bar = kit.lib("a/libbar.so", "bar", fn="barfn")
    plug = kit.lib("a/libplug.so", "plug", calls="barfn", needs=[(bar.parent, bar.name)], runpath=str(bar.parent))
    other = kit.lib("other/libbar.so", "other", fn="barfn", mode=0o644)
    prog = kit.prog(runpath=str(other.parent))
    argv = [prog, "dlopen:%s" % plug, "dlopen:libbar.so"]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines.count("dlopen ok") == 2 and ran(base, "bar") and not ran(base, "other"), base
    res = run_face(mode, argv, tmp_path, preload=SHIM)
    assert (res.rc, res.out, res.err, res.records) == (base.rc, base.out, base.err, []), res


@pytest.mark.parametrize("unloaded", [False, True], ids=["loaded", "unloaded"])
def test_a_later_plugin_needs_a_name_glibc_knows_from_another_plugin(kit, tmp_path, mode, unloaded):
    """Two plugins, each with RUNPATH its own directory, both need libfoo.so (no SONAME). The first
    one's directory has it: glibc loads it and knows it by that name, so the second plugin's
    DT_NEEDED libfoo.so is that object, though a 0644 libfoo.so lies in the second one's directory.
    The guard searched from the second plugin and refused it for a file glibc never opens. Its
    own loads now tell the prediction the names glibc gave; an unload retires them (glibc forgets
    the name with the object: then it does search, and the 0644 copy is refused as it must be)."""
    foo = kit.lib("a/libfoo.so", "foo", fn="foofn")
    first = kit.lib("a/libfirst.so", "first", calls="foofn", needs=[(foo.parent, foo.name)], runpath="$ORIGIN")
    bad = kit.lib("b/libfoo.so", "evil", fn="foofn", mode=0o644)
    second = kit.lib("b/libsecond.so", "second", calls="foofn", needs=[(foo.parent, foo.name)], runpath="$ORIGIN")
    prog = kit.prog()
    argv = [prog, ("loop:1:%s" if unloaded else "dlopen:%s") % first, "dlopen:%s" % second]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines[-1] == "end" and ran(base, "second"), base
    assert ran(base, "evil") == unloaded, base
    res = run_face(mode, argv, tmp_path, preload=SHIM)
    if not unloaded:
        assert (res.rc, res.out, res.err, res.records) == (base.rc, base.out, base.err, []), res
        return
    if mode == "audit":
        assert_audit_unchanged(res, base, [bad])
        return
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "evil") and not ran(res, "second"), res
    assert dlerrors(res)[-1].startswith("/proc/self/execcheck refused %s (x-bit) needed by %s" % (bad, second)), res
    assert_refused(res, bad)

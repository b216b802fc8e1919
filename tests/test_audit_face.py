"""The audit face (LD_AUDIT=libexeccheck.so): every object the loader maps is decided before any
of its code runs (issue 3).

Each case runs in three modes (audit_face_util): audit (nothing changes, one record per
would-be denial), and enforcing through SECBIT_EXEC_RESTRICT_FILE or through the config file.
A "bad" file fails the kernel's check (mode 0644, a noexec mount, outside a Landlock execute
hierarchy); every test library prints "IFUNC tag" and "CTOR tag" the moment its code runs, so
"not one instruction ran" is visible in the output."""
import os
import pathlib
import sys

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from audit_face_util import LDSO, OVERLAY_SETUP, OVERLAY_SETUP_ONE_FS, SHIM, clean_env, copy_lib, kit, mode, ran, run_face  # noqa: F401 (fixtures)
from conftest import in_mountns, need_check, need_landlock, need_mountns, run


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


def assert_audit_unchanged(res, base, bad_files=(), kind="library"):
    """Audit mode: the very same program behaviour, no word from execcheck, one record per bad file."""
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), (res, base)
    assert not res.refused_lines()
    assert len(res.records) == len(bad_files), res
    for f in bad_files:
        recs = res.records_for(f)
        assert len(recs) == 1, res
        assert recs[0]["action"] == "logged" and recs[0]["mode"] == "audit" and recs[0]["face"] == "audit"
        assert recs[0]["kind"] == kind


def assert_refused(res, bad, reason="x-bit", kind="library", face="audit"):
    """Enforcing: the file was named on stderr, once, and recorded as refused (by face)."""
    lines = [l for l in res.refused_lines() if str(bad) in l or os.path.basename(str(bad)) in l]
    assert len(lines) == 1, res
    assert lines[0].startswith("execcheck: refused to load ") and lines[0].endswith(": " + reason), res
    recs = res.records_for(bad)
    assert len(recs) == 1, res
    r = recs[0]
    assert (r["action"], r["mode"], r["face"], r["kind"], r["reason"]) == ("refused", "enforce", face, kind, reason)


# ---------------------------------------------------------------------------------------------
# the module itself


def test_shim_has_no_libc_and_exports_the_audit_interface():
    with open(SHIM, "rb") as f:
        elf = ELFFile(f)
        dyn = next(s for s in elf.iter_sections() if isinstance(s, DynamicSection))
        assert [t.needed for t in dyn.iter_tags() if t.entry.d_tag == "DT_NEEDED"] == []
        syms = elf.get_section_by_name(".dynsym")
        # what the other faces take from libc must stay weak: NULL in the audit namespace
        strong = [s.name for s in syms.iter_symbols()
                  if s.name and s["st_shndx"] == "SHN_UNDEF" and s["st_info"]["bind"] != "STB_WEAK"]
        assert strong == []
        defined = {s.name for s in syms.iter_symbols() if s["st_shndx"] != "SHN_UNDEF"}
        assert {"la_version", "la_objsearch", "la_objopen", "la_activity"} <= defined


def test_one_libc_in_the_process(kit, tmp_path):
    prog = kit.prog()
    res = run_face("audit", [prog, "maps:libc.so", "maps:libexeccheck"], tmp_path)
    mapped = [l.split(" ", 1)[1] for l in res.lines if l.startswith("mapped ")]
    assert len([m for m in mapped if "libc.so" in m]) == 1, res
    assert any(os.path.samefile(m, SHIM) for m in mapped if "libexeccheck" in m), res


# ---------------------------------------------------------------------------------------------
# good programs run exactly as without the face


def test_good_program_runs_unchanged(kit, tmp_path, mode):
    libdir = tmp_path / "lib"
    kit.lib("lib/libgood.so", "good")
    kit.lib("lib/libdl.so", "dl")
    prog = kit.prog(needs=[(libdir, "libgood.so")], runpath="$ORIGIN/../lib")
    argv = [prog, "fds", "dlopen:libdl.so", "dlopen:%s" % (libdir / "libdl.so"),
            "dlmopen-new:%s" % (libdir / "libgood.so"), "fds"]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and "CTOR good" in base.lines and "dlmopen-new ok" in base.lines, base
    res = run_face(mode, argv, tmp_path)
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err)
    assert res.records == []
    fds = [l for l in res.lines if l.startswith("fds ")]
    assert fds[0] == fds[1], res  # no descriptor left behind by the loads


# ---------------------------------------------------------------------------------------------
# start-up: DT_NEEDED, dependencies of dependencies, LD_PRELOAD, search paths


def test_dt_needed_bad_library(kit, tmp_path, mode):
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    prog = kit.prog(needs=[(bad.parent, "libbad.so")], runpath="$ORIGIN/../lib")
    base = run_face("off", [prog], tmp_path)
    assert base.rc == 0 and ran(base, "bad") and "main" in base.lines
    res = run_face(mode, [prog], tmp_path)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 127 and res.out == "", res  # ld.so: cannot open shared object file
    assert_refused(res, bad)


def test_bad_dependency_of_a_good_dependency(kit, tmp_path, mode):
    dep = kit.lib("lib/libdep.so", "dep", mode=0o644, fn="dep_fn")
    good = kit.lib("lib/libgood.so", "good", calls="dep_fn", needs=[(dep.parent, "libdep.so")], runpath="$ORIGIN")
    prog = kit.prog(needs=[(good.parent, "libgood.so")], runpath="$ORIGIN/../lib")
    base = run_face("off", [prog], tmp_path)
    assert base.rc == 0 and ran(base, "dep") and ran(base, "good")
    res = run_face(mode, [prog], tmp_path)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [dep])
    assert res.rc == 127 and not ran(res, "dep") and not ran(res, "good") and "main" not in res.lines, res
    assert_refused(res, dep)
    assert res.records_for(good) == []


@pytest.mark.parametrize("form", ["bare", "path"])
def test_ld_preload_bad_library(kit, tmp_path, mode, form):
    pre = kit.lib("pre/libpre.so", "pre", mode=0o644)
    prog = kit.prog()
    env = {"LD_PRELOAD": "libpre.so", "LD_LIBRARY_PATH": str(pre.parent)} if form == "bare" else {"LD_PRELOAD": str(pre)}
    base = run_face("off", [prog], tmp_path, env=env)
    assert base.rc == 0 and ran(base, "pre")
    res = run_face(mode, [prog], tmp_path, env=env)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [pre])
    # glibc ignores a preload it cannot open and runs the program without it
    assert res.rc == 0 and not ran(res, "pre") and res.lines == ["main", "end"], res
    assert "cannot be preloaded" in res.err
    assert_refused(res, pre)


def test_refusal_line_keeps_a_hostile_file_name_on_one_inert_line(kit, tmp_path):
    """A file name is anyone's (a plugin planted for a root daemon to load): its newline, terminal
    escape and bytes that are not UTF-8 must not make a second stderr line (a forged entry in the
    journal) nor drive a terminal; a right-to-left override must not reorder the line on screen, nor
    a no-break space pass for a space. They are escaped (LD_PRELOAD takes no ' ' or ':' in a name),
    as `execcheck check` spells the same name: one spelling of a name in both."""
    name = "evil\nexeccheck_allowed\x1b[2J\tx\\y\udcff\u009b\u202eos.\u00a0".encode("utf-8", "surrogateescape") + b".so"
    pre = kit.lib(os.fsdecode(b"pre/" + name), "pre", mode=0o644)
    prog = kit.prog()
    env = clean_env({"LD_AUDIT": SHIM, "LD_PRELOAD": str(pre), "EXECCHECK_FILES": "enforce"})
    r = run([prog], env=env, text=False)
    shown = os.fsencode(pre.parent) + b"/evil\\x0aexeccheck_allowed\\x1b[2J\\x09x\\\\y\\xff\\u009b\\u202eos.\\u00a0.so"
    ours = [l for l in r.stderr.split(b"\n") if l.startswith(b"execcheck: ")]
    # (ld.so's own "cannot be preloaded" message prints the name as it is)
    assert ours == [b"execcheck: refused to load %s: x-bit" % shown], r.stderr
    cli = run([sys.executable, "-m", "execcheck", "check", str(pre)], text=False)
    assert cli.returncode == 1 and b" " + shown + b"  (" in cli.stdout, cli.stdout


def test_ld_library_path_lookalike_of_a_system_library(kit, tmp_path, mode):
    """LD_LIBRARY_PATH=lp with lp/libc.so.6 a 0644 copy of the real libc: enforcing, the look-alike
    is never mapped and the system's own (0755 here) libc.so.6 is used instead."""
    real = pathlib.Path("/lib/x86_64-linux-gnu/libc.so.6")
    if not os.access(real, os.X_OK):
        pytest.skip("this system's libc.so.6 is not executable: no good copy to fall back to")
    fake = copy_lib(real, tmp_path / "lp" / "libc.so.6", 0o644)
    prog = kit.prog()
    env = {"LD_LIBRARY_PATH": str(fake.parent)}
    argv = [prog, "maps:libc.so.6"]

    def mapped(res):
        return [l.split(" ", 1)[1] for l in res.lines if l.startswith("mapped ")]

    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and [os.path.samefile(m, fake) for m in mapped(base)] == [True], base
    res = run_face(mode, argv, tmp_path, env=env)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [fake])
    assert res.rc == 0 and res.lines[0] == "main" and res.lines[-1] == "end", res
    assert [os.path.samefile(m, real) for m in mapped(res)] == [True], res  # the good copy was used
    assert_refused(res, fake)


def test_ld_library_path_refusal_goes_on_to_the_next_directory(kit, tmp_path, mode):
    """A refused candidate must not end the walk of LD_LIBRARY_PATH (glibc's stale-errno trap)."""
    bad = kit.lib("bad/libx.so", "bad", mode=0o644)
    kit.lib("good/libx.so", "good")
    prog = kit.prog(needs=[(tmp_path / "good", "libx.so")])
    env = {"LD_LIBRARY_PATH": "%s:%s" % (tmp_path / "bad", tmp_path / "good")}
    base = run_face("off", [prog], tmp_path, env=env)
    assert base.rc == 0 and ran(base, "bad") and not ran(base, "good")
    res = run_face(mode, [prog], tmp_path, env=env)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and ran(res, "good") and not ran(res, "bad") and "libfn 42" in res.lines, res
    assert_refused(res, bad)


@pytest.mark.parametrize("good_copy", [True, False], ids=["then-good-copy", "bad-only"])
def test_runpath_origin_pointing_at_a_bad_copy(kit, tmp_path, mode, good_copy):
    bad = kit.lib("bad/libx.so", "bad", mode=0o644)
    kit.lib("good/libx.so", "good")
    runpath = "$ORIGIN/../bad" + (":$ORIGIN/../good" if good_copy else "")
    prog = kit.prog(needs=[(tmp_path / "good", "libx.so")], runpath=runpath)
    base = run_face("off", [prog], tmp_path)
    assert base.rc == 0 and ran(base, "bad")
    res = run_face(mode, [prog], tmp_path)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert not ran(res, "bad"), res
    if good_copy:
        assert res.rc == 0 and ran(res, "good") and "libfn 42" in res.lines, res
    else:
        assert res.rc == 127 and res.out == "", res
    assert_refused(res, bad)


# ---------------------------------------------------------------------------------------------
# run time: dlopen, dlmopen, libc's own loads


@pytest.mark.parametrize("how", ["name", "path", "dollar"])
def test_dlopen_bad_library(kit, tmp_path, mode, how):
    """dollar: a path with a '$' that is no dynamic string token ($ORIGIN...), which ld.so opens as
    it is: refused in the search as any path (it once went to la_objopen: the process ended)."""
    bad = kit.lib("dl$x/libdl.so" if how == "dollar" else "dl/libdl.so", "dl", mode=0o644)
    prog = kit.prog(runpath="$ORIGIN/../dl")
    argv = [prog, "fds", "dlopen:" + ("libdl.so" if how == "name" else str(bad)), "fds"]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and "dlopen ok" in base.lines and ran(base, "dl")
    res = run_face(mode, argv, tmp_path)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    # dlopen fails cleanly, the program goes on, and nothing of the library ran
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "dl"), res
    failed = [l for l in res.lines if l.startswith("dlopen failed: ")]
    assert len(failed) == 1, res
    if how != "name":  # dlerror says what happened ('$' kept out of the answer)
        assert "execcheck refused %s (x-bit)" % str(bad).replace("$", "_") in failed[0]
    fds = [l for l in res.lines if l.startswith("fds ")]
    assert fds[0] == fds[1], res
    assert_refused(res, bad)


@pytest.mark.parametrize("ns", ["new", "base"])
def test_dlmopen_bad_library(kit, tmp_path, mode, ns):
    """dlmopen() of a path never reaches la_objsearch: la_objopen stops the process (126) before
    the object's IFUNC resolver or constructor runs."""
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    argv = [prog, "dlmopen-%s:%s" % (ns, bad)]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and "dlmopen-%s ok" % ns in base.lines and ran(base, "bad")
    res = run_face(mode, argv, tmp_path)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 126 and res.lines == ["main"], res
    assert_refused(res, bad)


@pytest.mark.parametrize("ns", ["new", "base"])
def test_dlmopen_of_a_path_is_checked_before_mapping_when_both_faces_are_in(kit, tmp_path, mode, ns):
    """As `execcheck run` and propagated children run (the shim in LD_AUDIT and LD_PRELOAD), the
    preload copy checks the path of a dlmopen() before glibc maps it - glibc gives la_objsearch no
    look at one, and mapping a crafted file can run its code before la_objopen. Enforcing: NULL
    and dlerror, the program goes on (alone, the audit face ends it with 126 after the mapping),
    and the 0644 file's code never ran. Audit mode: as without the shim, one record (la_objopen's)."""
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    good = kit.lib("dl/libgood.so", "good")
    prog = kit.prog()
    argv = [prog, "dlmopen-%s:%s" % (ns, bad), "dlmopen-%s:%s" % (ns, good)]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines.count("dlmopen-%s ok" % ns) == 2 and ran(base, "bad"), base
    res = run_face(mode, argv, tmp_path, env={"LD_PRELOAD": SHIM})
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "bad") and ran(res, "good"), res
    failed = [l for l in res.lines if l.startswith("dlmopen-%s failed: " % ns)]
    assert len(failed) == 1 and "/proc/self/execcheck refused %s (x-bit)" % bad in failed[0], res
    assert_refused(res, bad)


def test_dlmopen_pre_check_keeps_no_verdict_for_later(kit, tmp_path, mode):
    """The preload copy's look at a dlmopen() path under the audit face kept its verdict in a cache
    nothing of that copy ever clears (the audit face clears its own per load operation): a file
    allowed once stayed allowed there for good. After the process narrowed Landlock's EXECUTE to
    /usr, the second dlmopen() of the same file passed that look, glibc mapped it, and la_objopen
    ended the process (126) - the after-mapping refusal the look is there to spare."""
    need_landlock()
    good = kit.lib("dl/libgood.so", "good")
    prog = kit.prog()
    argv = [prog, "dlmopen-new:%s" % good, "landlock:/usr", "dlmopen-new:%s" % good]
    res = run_face(mode, argv, tmp_path, env={"LD_PRELOAD": SHIM})
    if mode == "audit":
        assert res.rc == 0 and res.lines.count("dlmopen-new ok") == 2 and not res.refused_lines(), res
        return
    assert res.rc == 0 and res.lines[-1] == "end" and res.lines.count("dlmopen-new ok") == 1, res
    failed = [l for l in res.lines if l.startswith("dlmopen-new failed: ")]
    assert len(failed) == 1 and "/proc/self/execcheck refused %s (lsm)" % good in failed[0], res


@pytest.mark.parametrize("module_mode", [0o644, 0o755], ids=["bad", "good"])
def test_gconv_module_loaded_by_iconv_open(kit, tmp_path, mode, module_mode):
    """libc loads gconv modules itself (no dlopen() call in the program): GCONV_PATH points it at
    ours."""
    gdir = tmp_path / "gconv"
    module = kit.lib("gconv/libtestgconv.so", "gconv", mode=module_mode, gconv=True)
    (gdir / "gconv-modules").write_text(
        "module  INTERNAL          EXECCHECKTEST//   libtestgconv  1\n"
        "module  EXECCHECKTEST//   INTERNAL          libtestgconv  1\n")
    prog = kit.prog()
    argv = [prog, "iconv:EXECCHECKTEST//"]
    env = {"GCONV_PATH": str(gdir)}
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and "iconv ok" in base.lines and ran(base, "gconv"), base
    res = run_face(mode, argv, tmp_path, env=env)
    if mode == "audit" or module_mode == 0o755:
        return assert_audit_unchanged(res, base, [module] if module_mode == 0o644 else [])
    assert res.rc == 0 and "iconv failed" in res.lines and res.lines[-1] == "end" and not ran(res, "gconv"), res
    assert_refused(res, module)


NSS_SETUP = 'mount --bind "$NSS_CONF" /etc/nsswitch.conf'


def test_nss_module_loaded_by_getpwnam(kit, tmp_path, mode):
    """libc loads NSS modules by bare name (searched like a DT_NEEDED, LD_LIBRARY_PATH first):
    refused, the module is skipped and the lookup falls back to the next source, `files`."""
    need_mountns()
    module = kit.lib("nss/libnss_execchecktest.so.2", "nss", mode=0o644)
    conf = tmp_path / "nsswitch.conf"
    conf.write_text("passwd: execchecktest files\ngroup: files\nshadow: files\n")
    prog = kit.prog()
    argv = [prog, "getpwnam:root"]
    env = {"LD_LIBRARY_PATH": str(module.parent), "NSS_CONF": str(conf)}
    base = run_face("off", argv, tmp_path, env=env, setup=NSS_SETUP)
    assert base.rc == 0 and "getpwnam ok" in base.lines and ran(base, "nss"), base
    res = run_face(mode, argv, tmp_path, env=env, setup=NSS_SETUP)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [module])
    assert res.rc == 0 and "getpwnam ok" in res.lines and not ran(res, "nss"), res
    assert_refused(res, module)


@pytest.mark.parametrize("second_mode", [0o644, 0o755], ids=["bad", "good"])
def test_second_audit_module_after_ours(kit, tmp_path, mode, second_mode):
    second = kit.lib("audit/libsecond.so", "second-auditor", mode=second_mode, audit=True)
    prog = kit.prog()
    base = run_face("off", [prog], tmp_path, env={"LD_AUDIT": str(second)})
    assert base.rc == 0 and "CTOR second-auditor" in base.lines and "main" in base.lines, base
    res = run_face(mode, [prog], tmp_path, audit="%s:%s" % (SHIM, second))
    if mode == "audit" or second_mode == 0o755:
        return assert_audit_unchanged(res, base, [second] if second_mode == 0o644 else [])
    assert res.rc == 126 and res.out == "", res  # stopped before its constructor, before main
    assert_refused(res, second)


def test_a_later_audit_module_named_by_path_is_checked_before_ld_so_opens_it(kit, tmp_path):
    """ld.so maps an audit module listed after ours before any callback of ours sees it, and mapping
    can already run a file's code (README: PT_LOADs out of order, mapped over ld.so's text). One
    named by a path is checked in our la_version: enforcing, the process ends before ld.so opens it
    - the face's own O_PATH look is the only open of it (before: ld.so opened and mapped it, and
    la_objopen stopped the process only then). A good one is opened and loaded as before."""
    import subprocess
    from audit_face_util import _set_restrict_file
    bad = kit.lib("audit/libsecond.so", "second-auditor", mode=0o644, audit=True)
    good = kit.lib("audit/libgood.so", "good-auditor", audit=True)
    prog = kit.prog()
    for second, status in ((bad, 126), (good, 0)):
        trace = tmp_path / ("trace-%d" % status)
        r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace),
                            "-E", "LD_AUDIT=%s:%s" % (SHIM, second), str(prog)],
                           env=clean_env(), preexec_fn=_set_restrict_file, capture_output=True, text=True, timeout=120)
        opens = [ln for ln in trace.read_text().splitlines() if '"%s"' % second in ln]
        assert r.returncode == status, (r.returncode, r.stderr)
        by_ld_so = [ln for ln in opens if "O_PATH" not in ln]
        if status:
            assert "execcheck: refused to load %s: x-bit" % second in r.stderr, r.stderr
            assert opens and not by_ld_so, opens
        else:
            assert "main" in r.stdout.split() and by_ld_so, (r.stdout, opens)


@pytest.mark.parametrize("token", ["$LIB", "${LIB}", "$PLATFORM", "$ORIGIN"])
def test_a_later_audit_module_named_through_a_token_is_checked_before_ld_so_opens_it(kit, tmp_path, token):
    """The same, for a name with a token ld.so expands (dl-load.c, _dl_map_object, against the main
    program's link map: $ORIGIN is the program's directory). The face expands it as ld.so does -
    the path is the one ld.so opens without our module - and checks that file: enforcing, the
    process ends before ld.so opens it. Before, the face looked at the literal path ("$LIB" a
    directory no one has), found nothing, and ld.so opened and mapped the 0644 file."""
    import shutil
    import subprocess
    from audit_face_util import _set_restrict_file
    built = kit.lib("audit/libsecond.so", "second-auditor", mode=0o644, audit=True)
    prog = kit.prog()
    root = prog.parent if token == "$ORIGIN" else tmp_path / "mods"
    name = "%s/%s/sub/libsecond.so" % (root, token) if token != "$ORIGIN" else "%s/sub/libsecond.so" % token

    def traced(audit, tag):
        trace = tmp_path / ("trace-%s" % tag)
        r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace), "-E", "LD_AUDIT=" + audit,
                            str(prog)], env=clean_env(), preexec_fn=_set_restrict_file, capture_output=True, text=True,
                           timeout=120)
        return r, [ln for ln in trace.read_text().splitlines() if "/sub/libsecond.so" in ln]

    # where ld.so itself looks for it: one open, of the expanded path (missing yet)
    _, opens = traced(name, "ld-so")
    assert len(opens) == 1 and "$" not in opens[0], opens
    real = pathlib.Path(opens[0].split('"')[1])
    assert real.is_absolute() and "/sub/libsecond.so" in str(real), opens
    real.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(built, real)
    os.chmod(real, 0o644)
    r, opens = traced("%s:%s" % (SHIM, name), "shim")
    assert r.returncode == 126, (r.returncode, r.stderr)
    assert "execcheck: refused to load %s: x-bit" % real in r.stderr, r.stderr
    by_ld_so = [ln for ln in opens if "O_PATH" not in ln]
    assert opens and not by_ld_so, opens
    # a good one there is opened by ld.so and runs as before
    os.chmod(real, 0o755)
    r, opens = traced("%s:%s" % (SHIM, name), "good")
    assert r.returncode == 0 and "main" in r.stdout.split(), (r.returncode, r.stdout, r.stderr)
    assert [ln for ln in opens if "O_PATH" not in ln and '"%s"' % real in ln], opens


def test_a_later_audit_module_named_bare_is_searched_through_our_la_objsearch(kit, tmp_path):
    """ld.so searches an LD_AUDIT entry without a '/' (LD_LIBRARY_PATH, the cache, the default
    directories) once our module is registered, so our la_objsearch sees each candidate before
    ld.so opens it: enforcing, the 0644 one in the first directory is skipped unopened (the face's
    O_PATH look only), the search goes on and the good copy further along LD_LIBRARY_PATH is the
    module that runs; with no good copy, ld.so ignores the module ("cannot be loaded as audit
    interface") and the program runs without it. (The notes until 2026-11-30 said such a name
    reached ld.so before any look of ours: this pins down that it does not.)"""
    import subprocess
    from audit_face_util import _set_restrict_file
    bad = kit.lib("bad/libsecond.so", "bad-auditor", mode=0o644, audit=True)
    good = kit.lib("good/libsecond.so", "good-auditor", audit=True)
    prog = kit.prog()

    def traced(library_path, tag):
        trace = tmp_path / ("trace-" + tag)
        r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace),
                            "-E", "LD_AUDIT=%s:libsecond.so" % SHIM, "-E", "LD_LIBRARY_PATH=" + library_path,
                            str(prog)], env=clean_env(), preexec_fn=_set_restrict_file, capture_output=True,
                           text=True, timeout=120)
        opens = [ln for ln in trace.read_text().splitlines() if '"%s"' % bad in ln]
        return r, opens, [ln for ln in opens if "O_PATH" not in ln]

    r, opens, by_ld_so = traced("%s:%s" % (bad.parent, good.parent), "both")
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert "CTOR good-auditor" in r.stdout and "CTOR bad-auditor" not in r.stdout, r.stdout
    assert "main" in r.stdout.split(), r.stdout
    assert "execcheck: refused to load %s: x-bit" % bad in r.stderr, r.stderr
    assert opens and not by_ld_so, opens
    r, opens, by_ld_so = traced(str(bad.parent), "bad-only")
    assert r.returncode == 0 and "main" in r.stdout.split() and "CTOR bad-auditor" not in r.stdout, (r.stdout, r.stderr)
    assert "cannot be loaded as audit interface" in r.stderr, r.stderr
    assert opens and not by_ld_so, opens


def test_later_audit_modules_are_checked_when_ours_is_named_through_lib(kit, tmp_path):
    """`execcheck lib --multilib` names the shim through $LIB (one entry for every class). The face
    finds its own entry by the file it names - as ld.so expands it - and checks the modules after
    it before ld.so opens them. Before, the literal ".../$LIB/libexeccheck.so" named nothing, so
    the face never knew which entries came after it and checked none: ld.so opened the 0644 one."""
    import subprocess
    from audit_face_util import _set_restrict_file
    from execcheck.shim import multilib_path
    if not multilib_path():
        pytest.skip("no 32-bit shim was built (gcc-multilib): no $LIB entry names the shim")
    bad = kit.lib("audit/libsecond.so", "second-auditor", mode=0o644, audit=True)
    prog = kit.prog()
    trace = tmp_path / "trace"
    r = subprocess.run(["strace", "-f", "-qq", "-e", "trace=openat", "-o", str(trace),
                        "-E", "LD_AUDIT=%s:%s" % (multilib_path(), bad), str(prog)],
                       env=clean_env(), preexec_fn=_set_restrict_file, capture_output=True, text=True, timeout=120)
    opens = [ln for ln in trace.read_text().splitlines() if '"%s"' % bad in ln]
    assert r.returncode == 126, (r.returncode, r.stderr)
    assert "execcheck: refused to load %s: x-bit" % bad in r.stderr, r.stderr
    assert opens and not [ln for ln in opens if "O_PATH" not in ln], opens


def test_what_a_later_audit_module_loads_into_its_own_namespace(kit, tmp_path, mode):
    """An audit module listed after ours (good) dlopen()s a 0644 library from its la_objopen: the
    load goes into its own namespace, an auditing one, for which glibc calls no audit callback at
    all (dl-load.c: l_auditing). The face walks every namespace when a load operation is over and
    before main(): the library's constructor has run (glibc told no one), but the program does not
    start (126) - it did, with no record, before."""
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    second = kit.lib("audit/libloader.so", "loader-auditor", audit=True, defines=["AUDIT_DLOPEN"])
    prog = kit.prog()
    base = run_face("off", [prog], tmp_path, env={"LD_AUDIT": str(second), "AUDITOR_DLOPEN": str(bad)})
    assert base.rc == 0 and ran(base, "bad") and "main" in base.lines, base
    res = run_face(mode, [prog], tmp_path, env={"AUDITOR_DLOPEN": str(bad)}, audit="%s:%s" % (SHIM, second))
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 126 and "main" not in res.lines, res
    lines = res.refused_lines()
    assert lines == ["execcheck: refused to run with %s: x-bit" % bad], res
    assert [(r["action"], r["face"], r["kind"]) for r in res.records_for(bad)] == [("refused", "audit", "library")], res


def test_what_a_later_audit_module_loads_last_is_met_at_the_end(kit, tmp_path, mode):
    """The same module, loading from its la_preinit: after our own la_preinit, the last look before
    main(). The library's code runs and main() too; the walk at the next consistent state - the
    exit here - meets it: enforcing, the exit status is 126 and it is said; in audit mode it is
    recorded. (A walk only after loads that added objects missed it: no record at all.)"""
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    second = kit.lib("audit/libloader.so", "loader-auditor", audit=True, defines=["AUDIT_DLOPEN"])
    prog = kit.prog()
    env = {"AUDITOR_DLOPEN": str(bad), "AUDITOR_DLOPEN_LATE": "1"}
    base = run_face("off", [prog], tmp_path, env=dict(env, LD_AUDIT=str(second)))
    assert base.rc == 0 and ran(base, "bad") and base.lines[-1] == "end", base
    res = run_face(mode, [prog], tmp_path, env=env, audit="%s:%s" % (SHIM, second))
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 126 and res.lines[-1] == "end", res
    assert res.refused_lines() == ["execcheck: refused to run with %s: x-bit" % bad], res
    assert [(r["action"], r["face"]) for r in res.records_for(bad)] == [("refused", "audit")], res


@pytest.mark.parametrize("prog_mode", [0o644, 0o755], ids=["0644", "0755"])
def test_ld_so_run_directly(kit, tmp_path, mode, prog_mode):
    """`ld.so ./prog` opens the program without the kernel's exec check: the face checks it."""
    prog = kit.prog(mode=prog_mode)
    argv = [LDSO, prog]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines == ["main", "end"]
    res = run_face(mode, argv, tmp_path)
    if mode == "audit" or prog_mode == 0o755:
        return assert_audit_unchanged(res, base, [prog] if prog_mode == 0o644 else [], kind="program")
    assert res.rc == 126 and res.out == "", res
    assert_refused(res, prog, kind="program")


def _vdso_dynamic():
    """The tags of this process's vDSO's dynamic section ({tag: value}), read from memory: every
    process on this kernel has the same vDSO."""
    import ctypes
    import struct
    base = ctypes.CDLL(None).getauxval
    base.restype = ctypes.c_ulong
    base = base(33)  # AT_SYSINFO_EHDR
    ehdr = ctypes.string_at(base, 64)
    phoff, phnum = struct.unpack_from("<Q", ehdr, 32)[0], struct.unpack_from("<H", ehdr, 56)[0]
    for i in range(phnum):
        p_type, _, _, p_vaddr = struct.unpack_from("<IIQQ", ctypes.string_at(base + phoff + 56 * i, 56))
        if p_type == 2:  # PT_DYNAMIC (the vDSO is linked at 0)
            tags, at = {}, base + p_vaddr
            while True:
                tag, val = struct.unpack("<qQ", ctypes.string_at(at, 16))
                if not tag:
                    return p_vaddr, tags
                tags[tag], at = val, at + 16


# IFUNC_LIE: write(1, "IFUNC lie\n", 10) and return, position-independent x86-64
IFUNC_LIE = bytes.fromhex("488d351a000000bf01000000ba0a000000b8010000000f05488d0501000000c3c3") + b"IFUNC lie\n"


def _lying_library(path, delta, span=0x40000):
    """A 0644 library whose PT_DYNAMIC is not in its own file: it says its dynamic section lies
    delta + (the vDSO's) above its load address, which is the vDSO's dynamic section when the library
    is mapped delta below the vDSO. ld.so then reads the vDSO's tags, whose offsets lead back into
    this file: a symbol table there exports libfn, whose code prints "IFUNC lie"."""
    import struct
    dyn_vaddr, tags = _vdso_dynamic()
    img = bytearray(span)
    img[0:64] = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 3, 62, 1, 0, 64, 0, 0, 64, 56,
                            3, 64, 0, 0)
    phdrs = [(1, 5, 0, 0, 0, span, span, 0x1000),  # PT_LOAD r-x: the whole file
             (2, 4, 0, (delta + dyn_vaddr) % 2 ** 64, 0, 0x100, 0x100, 8),  # PT_DYNAMIC, read-only, elsewhere
             (0x6474e551, 6, 0, 0, 0, 0, 0, 16)]  # PT_GNU_STACK rw-
    for i, ph in enumerate(phdrs):
        img[64 + 56 * i:120 + 56 * i] = struct.pack("<IIQQQQQQ", *ph)
    h = 5381
    for c in b"libfn":
        h = (h * 33 + c) & 0xffffffff
    if 0x6ffffef5 in tags:  # DT_GNU_HASH: one bucket, libfn its one symbol
        struct.pack_into("<IIIIQII", img, tags[0x6ffffef5], 1, 1, 1, 6, (1 << (h % 64)) | (1 << ((h >> 6) % 64)),
                         1, (h & ~1) | 1)
    struct.pack_into("<IBBHQQ", img, tags[6] + 24, 1, 0x12, 0, 1, span - 0x1000, 16)  # DT_SYMTAB[1]: libfn
    img[tags[5] + 1:tags[5] + 7] = b"libfn\0"  # DT_STRTAB
    if 0x6ffffff0 in tags:  # DT_VERSYM: libfn is global
        struct.pack_into("<H", img, tags[0x6ffffff0] + 2, 1)
    img[span - 0x1000:span - 0x1000 + len(IFUNC_LIE)] = IFUNC_LIE
    path.write_bytes(img)
    os.chmod(path, 0o644)
    return path


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the lying library is x86-64 code")
def test_dynamic_section_pointing_into_the_vdso(kit, tmp_path, mode):
    """A library's PT_DYNAMIC can say its dynamic section is anywhere: here the vDSO's, which the
    face used to allow for an address alone (no file behind it). ld.so reads the object's tags
    there but their offsets from the object's own load address, so its symbols and code are the
    0644 file's. The vDSO is only the object whose load address is the vDSO's."""
    prog = kit.prog()
    lie = tmp_path / "dl" / "liblie.so"
    lie.parent.mkdir()
    argv = [prog, "vdso-delta:0x40000", "dlmopen-new:%s" % lie, "call:libfn"]
    _lying_library(lie, 0)  # where the next mapping goes, in this very run: the layout is the same each time
    delta = [l.split()[1] for l in run_face(mode, argv, tmp_path).lines if l.startswith("vdso-delta ")]
    assert delta, "no vdso-delta line"
    _lying_library(lie, int(delta[0], 16))
    base = run_face("off", argv, tmp_path)
    res = run_face(mode, argv, tmp_path)
    if mode == "audit":
        assert ran(res, "lie") and "call done" in res.lines, res  # the lie works: audit mode changes nothing
        assert [(r["path"], r["reason"], r["action"]) for r in res.records] == [(str(lie), "mismatch", "logged")], res
        return
    assert res.rc == 126 and not ran(res, "lie"), (res, base)
    assert res.refused_lines() == ["execcheck: refused to load %s: mismatch" % lie], res


# ---------------------------------------------------------------------------------------------
# what the kernel refuses for other reasons than the mode bits


NOEXEC_SETUP = 'mkdir -p "$NOEXEC_DIR" && mount -t tmpfs -o noexec,mode=755 none "$NOEXEC_DIR" && cp "$NOEXEC_SRC" "$NOEXEC_DIR/libne.so"'


def test_library_on_a_noexec_mount(kit, tmp_path, mode):
    """ld.so itself fails to map it ("failed to map segment"); the face refuses it before that,
    and in audit mode records why the load failed."""
    need_mountns()
    src = kit.lib("src/libne.so", "ne")
    prog = kit.prog()
    target = tmp_path / "noexec" / "libne.so"
    argv = [prog, "dlopen:%s" % target]
    env = {"NOEXEC_DIR": str(target.parent), "NOEXEC_SRC": str(src)}
    base = run_face("off", argv, tmp_path, env=env, setup=NOEXEC_SETUP)
    assert base.rc == 0 and any("failed to map segment" in l for l in base.lines), base
    res = run_face(mode, argv, tmp_path, env=env, setup=NOEXEC_SETUP)
    if mode == "audit":
        assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err)
        assert [(r["path"], r["reason"], r["action"]) for r in res.records] == [(str(target), "noexec", "logged")]
        return
    assert res.rc == 0 and not ran(res, "ne") and "dlopen failed: /proc/self/execcheck refused %s (noexec): " \
        "cannot open shared object file: No such file or directory" % target in res.lines, res
    assert [(r["path"], r["reason"], r["action"]) for r in res.records] == [(str(target), "noexec", "refused")]
    assert res.refused_lines() == ["execcheck: refused to load %s: noexec" % target]


@pytest.mark.parametrize("face", ["audit", "preload"])
def test_without_proc_nothing_can_be_identified(kit, tmp_path, mode, face):
    """Which file backs a mapping only /proc tells (PROCMAP_QUERY on /proc/self/maps, or its text).
    In a chroot or namespace without it no object can be identified: enforcing, the face fails
    closed and says why (`no-proc`, not `mismatch`); in audit mode the program runs as without the
    shim and each object is recorded so."""
    need_mountns()
    prog = kit.prog()
    setup = "mount -t tmpfs -o mode=555 none /proc"
    base = run_face("off", [prog], tmp_path, setup=setup)
    assert base.rc == 0 and base.lines == ["main", "end"], base
    res = run_face(mode, [prog], tmp_path, setup=setup, preload=SHIM if face == "preload" else None)
    assert res.records, res
    assert {r["reason"] for r in res.records} == {"no-proc"}, res
    assert len({r["path"] for r in res.records}) == len(res.records), res  # once per object
    if mode == "audit":
        assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res
        assert {r["action"] for r in res.records} == {"logged"}, res
        return
    assert res.rc == 126 and "main" not in res.lines, res
    assert {r["action"] for r in res.records} == {"refused"}, res
    assert res.refused_lines() and all(l.endswith(": no-proc") for l in res.refused_lines()), res


def test_a_load_the_guard_cannot_predict_is_recorded_in_audit_mode(kit, tmp_path):
    """Without /proc the dlopen guard of the preload face cannot read the program (/proc/self/exe)
    and so cannot predict a load by name: enforcing refuses such a load. Audit mode lets it go
    on, as without the shim, and records it (reason error, once per name: the file is not known),
    so that audit mode shows what enforcing would refuse; before, it went unrecorded. (A name found
    nowhere is such a load too: enforcing refuses it with execcheck's words, not glibc's.)"""
    need_mountns()
    kit.lib("lib/libname.so", "NAME")
    prog = kit.prog(runpath=str(kit.dir / "lib"))
    setup = "mount -t tmpfs -o mode=555 none /proc"
    argv = [prog, "dlopen:libname.so", "dlopen:libname2.so", "dlopen:libname.so"]
    base = run_face("off", argv, tmp_path, setup=setup)
    assert base.rc == 0 and "dlopen ok" in base.lines and ran(base, "NAME"), base
    res = run_face("audit", argv, tmp_path, setup=setup, preload=SHIM)
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res
    guard = [r for r in res.records if r["reason"] == "error"]
    assert [(r["path"], r["face"], r["action"]) for r in guard] == [
        ("libname.so", "preload", "logged"), ("libname2.so", "preload", "logged")], res  # each name once


def test_library_outside_a_landlock_execute_hierarchy(kit, tmp_path, mode):
    """Landlock's EXECUTE right gates the kernel's check but not mmap(PROT_EXEC): without the face
    a sandboxed process can still dlopen() a library from outside its execute hierarchy."""
    need_landlock()
    lib = kit.lib("outside/libll.so", "ll")
    prog = kit.prog("bin/prog")
    tool = kit.tool("landlock_exec")
    allowed = [prog.parent, tool.parent, "/usr", "/lib", "/lib64", "/bin", os.path.dirname(SHIM),
               sys.prefix, sys.base_prefix]
    argv = [tool, *dict.fromkeys(str(a) for a in allowed if os.path.exists(a)), "--", prog, "dlopen:%s" % lib]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and "dlopen ok" in base.lines and ran(base, "ll"), base  # Landlock alone lets it in
    res = run_face(mode, argv, tmp_path)
    if mode == "audit":
        assert_audit_unchanged(res, base, [lib])
        assert res.records[0]["reason"] == "lsm"
        return
    assert res.rc == 0 and not ran(res, "ll") and any(l.startswith("dlopen failed") for l in res.lines), res
    assert_refused(res, lib, reason="lsm")


# the writable layer on a tmpfs, the lower one on disk: layers on different filesystems (overlayfs
# then shows files to statx under a device per layer's filesystem, while the maps show its own)
def test_libraries_on_overlayfs(kit, tmp_path, mode):
    """A container's root is overlayfs: the maps show the overlay's device, statx another. A good
    library there must load quietly, a bad one be refused for what it is (x-bit), never as a
    "mismatch"."""
    need_mountns()
    kit.lib("ov/lower/libgood.so", "good")
    kit.lib("ov/lower/libbad.so", "bad", mode=0o644)
    prog = kit.prog("ov/lower/prog")
    merged = tmp_path / "ov" / "merged"
    argv = [merged / "prog", "dlopen:%s" % (merged / "libgood.so"), "dlopen:%s" % (merged / "libbad.so")]
    env = {"OV": str(tmp_path / "ov")}
    base = run_face("off", argv, tmp_path, env=env, setup=OVERLAY_SETUP)
    assert base.rc == 0 and ran(base, "good") and ran(base, "bad"), base
    assert prog.exists()
    res = run_face(mode, argv, tmp_path, env=env, setup=OVERLAY_SETUP)
    assert ran(res, "good"), res
    assert [(r["path"], r["reason"]) for r in res.records] == [(str(merged / "libbad.so"), "x-bit")], res
    if mode == "audit":
        assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err)
    else:
        assert res.rc == 0 and not ran(res, "bad")


def test_a_load_that_maps_nothing_on_overlayfs_leaves_no_descriptor(kit, tmp_path, mode):
    """Checking a candidate on overlayfs opens /proc/self/maps (its layer's inode, learnt in
    la_objsearch). A dlopen that then maps nothing (not an ELF file, a refused candidate) ends
    without la_activity, where the face closes it: the descriptor must not stay behind."""
    need_mountns()
    lower = tmp_path / "ov" / "lower"
    lower.mkdir(parents=True)
    (lower / "notelf.so").write_text("not an ELF file\n")
    os.chmod(lower / "notelf.so", 0o755)
    kit.lib("ov/lower/libbad.so", "bad", mode=0o644)
    prog = kit.prog("bin/prog")
    merged = tmp_path / "ov" / "merged"
    argv = [prog, "fds", "dlopen:%s" % (merged / "notelf.so"), "fds", "dlopen:%s" % (merged / "libbad.so"), "fds"]
    env = {"OV": str(tmp_path / "ov")}
    res = run_face(mode, argv, tmp_path, env=env, setup=OVERLAY_SETUP)
    assert res.rc == 0 and "end" in res.lines and not (mode != "audit" and ran(res, "bad")), res
    fds = [l for l in res.lines if l.startswith("fds ")]
    assert len(fds) == 3 and len(set(fds)) == 1, res


def test_overlayfs_library_is_opened_once(kit, tmp_path):
    """On an overlay whose layers share one filesystem (a container engine's storage) statx shows
    the identity a mapping of the file shows, so after the load the face finds the verdict of its
    check by the mapped inode: the library is opened by name once by the face (O_PATH), not again
    in la_objopen. (Over layers on two filesystems the number a mapping shows is a layer's, which
    a file of another layer can have: no verdict is kept for it, and la_objopen opens the file.)"""
    need_mountns()
    kit.lib("ov/lower/libgood.so", "good")
    kit.prog("ov/lower/prog")
    merged = tmp_path / "ov" / "merged"
    trace = tmp_path / "trace.txt"
    argv = ["strace", "-f", "-e", "trace=openat", "-o", trace, "-E", "LD_AUDIT=%s" % SHIM,
            merged / "prog", "dlopen:%s" % (merged / "libgood.so")]
    res = run_face("off", argv, tmp_path, env={"OV": str(tmp_path / "ov")}, setup=OVERLAY_SETUP_ONE_FS)
    assert res.rc == 0 and ran(res, "good") and "dlopen ok" in res.lines, res
    opens = [l for l in trace.read_text().splitlines() if '"%s"' % (merged / "libgood.so") in l]
    assert len([l for l in opens if "O_PATH" in l]) == 1, opens  # the face's check
    assert len([l for l in opens if "O_PATH" not in l]) == 1, opens  # ld.so's own open


def test_a_short_process_makes_no_fork_page(kit, tmp_path):
    """The face learns of a fork() by getpid() until a process has asked some 16 times; only then
    does it make its MADV_WIPEONFORK page (mmap, madvise, a page fault: some 10 us at exit and
    start here, against 0.2 us a getpid). /bin/true asks once; a process that loads 30 libraries
    one by one makes the page once and stops calling getpid()."""
    copies = [copy_lib(kit.lib("libs/libl.so", "l"), tmp_path / "libs" / ("libl%d.so" % i), 0o755)
              for i in range(30)]
    prog = kit.prog()

    def traced(argv):
        trace = tmp_path / "trace.txt"
        res = run_face("off", ["strace", "-f", "-e", "trace=getpid,madvise", "-o", trace,
                               "-E", "LD_AUDIT=%s" % SHIM, *argv], tmp_path)
        lines = trace.read_text().splitlines()
        return (res, len([l for l in lines if "getpid()" in l]),
                len([l for l in lines if "MADV_WIPEONFORK" in l or "madvise(" in l and ", 18)" in l]))

    res, getpids, pages = traced(["/bin/true"])
    assert res.rc == 0 and (getpids, pages) == (1, 0), res
    res, getpids, pages = traced([prog] + ["dlopen:%s" % c for c in copies])
    assert res.rc == 0 and res.lines.count("dlopen ok") == 30, res
    assert pages == 1 and 16 <= getpids <= 20, (getpids, pages)


def test_records_ask_for_the_program_once(kit, tmp_path):
    """In audit mode a program makes a record per library that fails the check. Each record names
    the program and the pid: the face asks /proc for the program's path once per process, and
    getpid() once per record (for the seen-set, the line and the syslog header alike)."""
    import json
    prog = kit.prog()

    def traced(mode):
        libs = [kit.lib("%s/libl%d.so" % (oct(mode), i), "l%d" % i, mode=mode) for i in range(3)]
        trace, log = tmp_path / ("trace-%o.txt" % mode), tmp_path / ("records-%o.jsonl" % mode)
        res = run_face("off", ["strace", "-f", "-e", "trace=readlinkat,getpid", "-o", trace, "-E", "LD_AUDIT=%s" % SHIM,
                               "-E", "EXECCHECK_LOG_FILE=%s" % log, prog] + ["dlopen:%s" % l for l in libs], tmp_path)
        assert res.rc == 0 and res.lines.count("dlopen ok") == 3, res
        recs = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
        return libs, recs, trace.read_text().splitlines()

    _, none, quiet = traced(0o755)  # the same loads, every check passing: no record
    bads, recs, lines = traced(0o644)
    assert none == [] and sorted(r["path"] for r in recs) == sorted(str(b) for b in bads), recs
    pid = int(lines[0].split()[0])
    assert {r["pid"] for r in recs} == {pid} and {r["exe"] for r in recs} == {str(prog)}, recs
    assert len([l for l in lines if '"/proc/self/exe"' in l]) == 1, lines
    # each bad library is denied twice, in la_objsearch and in la_objopen, and the seen-set (which
    # needs the pid) drops the second: one getpid() each, where the line and the header used to
    # ask again; and the log file's writer one more, under its lock (has a handler forked since?)
    getpids = [len([l for l in t if "getpid()" in l]) for t in (quiet, lines)]
    assert getpids[1] - getpids[0] == 3 * len(recs), getpids


SYSLOG_RECEIVER = r"""
import os, socket, subprocess, sys
os.mknod("/dev/null", 0o20666, os.makedev(1, 3))  # /dev is a fresh tmpfs in this namespace
rx = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
rx.bind("/dev/log")
rx.settimeout(5)
r = subprocess.run(sys.argv[1:], capture_output=True, text=True)
print("rc", r.returncode, flush=True)
rx.settimeout(0.5)
try:
    while True:
        print("DATAGRAM " + rx.recv(65536).decode("utf-8", "replace"), flush=True)
except socket.timeout:
    pass
"""


def test_records_reach_syslog(kit, tmp_path):
    """The default sink: one datagram per record to /dev/log, `<84>execcheck[PID]: ` and the JSON
    line (authpriv.warning in audit mode). A receiver is bound at /dev/log on a tmpfs over /dev in a
    private mount namespace."""
    need_mountns()
    import json
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    long_dir = tmp_path / ("d" * 200) / ("e" * 200)
    long_bad = kit.lib(str(long_dir.relative_to(tmp_path) / "liblong.so"), "long", mode=0o644)
    prog = kit.prog()
    receiver = tmp_path / "receiver.py"
    receiver.write_text(SYSLOG_RECEIVER)
    env = clean_env({"LD_AUDIT": SHIM})
    r = in_mountns('mount -t tmpfs -o mode=0755 tmpfs /dev; exec "$@"', sys.executable, receiver,
                   prog, "dlopen:%s" % bad, "dlopen:%s" % long_bad, env=env)
    assert r.returncode == 0 and "rc 0" in r.stdout.splitlines(), r
    grams = [l[len("DATAGRAM "):] for l in r.stdout.splitlines() if l.startswith("DATAGRAM ")]
    heads = {g.split(": ", 1)[0] for g in grams}
    assert len(grams) == 2 and len(heads) == 1 and heads.pop().startswith("<84>execcheck["), grams
    recs = [json.loads(g.split(": ", 1)[1]) for g in grams]
    assert sorted(x["path"] for x in recs) == sorted([str(bad), str(long_bad)]), recs
    assert {x["action"] for x in recs} == {"logged"}, recs


def test_the_shim_asks_ld_so_for_no_anonymous_memory():
    """ld.so maps the part of a writable segment beyond its file contents (a .bss past the last
    page of .data) with an anonymous mmap of its own, in every process the shim is in: 5-9 us at
    start and exit here (bench/bench_audit_face.py). The shim's zeroed state is in the file
    (preload/no_bss.ld) and its big buffers are mapped when first used (ec_map_once): every
    loadable segment has all its memory in the file."""
    with open(SHIM, "rb") as f:
        elf = ELFFile(f)
        if elf.get_section_by_name(".note.gnu.gold-version"):
            pytest.skip("the shim was linked by gold, which cannot take preload/no_bss.ld (setup.py)")
        loads = [s for s in elf.iter_segments() if s["p_type"] == "PT_LOAD"]
        assert any(s["p_flags"] & 2 for s in loads)  # PF_W: the data segment is there
        assert [(s["p_vaddr"], s["p_memsz"]) for s in loads if s["p_memsz"] != s["p_filesz"]] == []


def test_the_shim_has_no_soname():
    """glibc's dlopen() by name compares the name with the SONAME of each object before its match
    that was loaded under another name (dl-load.c, _dl_map_object). A preloaded shim sits before
    all of the program's libraries, so a SONAME would be one more strcmp in every dlopen() by name
    the program makes (~3 ns of 80-140, bench/bench_preload_face.py). Nothing links against it."""
    with open(SHIM, "rb") as f:
        dyn = next(s for s in ELFFile(f).iter_sections() if isinstance(s, DynamicSection))
        assert [t for t in dyn.iter_tags() if t.entry.d_tag == "DT_SONAME"] == []


def test_the_shim_needs_nothing_from_a_libc():
    """In the audit namespace there is no libc: a single strong undefined symbol (a libgcc helper
    asking libc's __getauxval, as aarch64's outline atomics do) makes ld.so refuse the module.
    Everything the shim takes from a libc is a weak reference."""
    out = run(["nm", "-D", "--undefined-only", SHIM]).stdout.split("\n")
    strong = [l for l in out if l.strip() and l.split()[0] not in ("w", "v")]
    assert strong == [], strong


HOLDER_C = r'''/* a good library whose data keeps what its caller gives it (its input) */
static unsigned long holder_buf[16] = {1};
unsigned long *holder_keep(const unsigned long *w, int n)
{
    for (int i = 0; i < n; i++) holder_buf[i] = w[i];
    return holder_buf;
}
'''
HOLDER_PROG_C = r'''#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <sys/mman.h>
unsigned long *holder_keep(const unsigned long *w, int n);
int main(int c, char **v)
{
    /* the input: 48 bytes that read as a dynamic section (DT_INIT 0x800, DT_STRTAB, DT_SYMTAB) */
    unsigned long input[] = {12, 0x800, 5, 0, 6, 0, 0, 0};
    void *next = mmap(0, 0x1000, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned long *kept = holder_keep(input, 8);
    setvbuf(stdout, 0, _IONBF, 0);
    printf("delta %#lx\n", (unsigned long)kept - (unsigned long)next); /* the next mapping: the library */
    munmap(next, 0x1000);
    printf("dlmopen %s\n", dlmopen(LM_ID_NEWLM, v[1], RTLD_NOW) ? "ok" : dlerror());
    return 0;
}
'''
# CTOR_LIE: write(1, "CTOR lie\n", 9) and return, position-independent x86-64
CTOR_LIE = bytes.fromhex("488d3512000000bf01000000ba09000000b8010000000f05c3") + b"CTOR lie\n"


def _library_with_dynamic_at(path, delta):
    """A 0644 library of one page whose PT_DYNAMIC (read-only) says its dynamic section lies delta
    above its load address - in another file's mapping when it is mapped delta below that; its
    code, at 0x800, prints "CTOR lie"."""
    import struct
    img = bytearray(0x1000)
    img[0:64] = struct.pack("<16sHHIQQQIHHHHHH", b"\x7fELF\x02\x01\x01" + bytes(9), 3, 62, 1, 0, 64, 0, 0, 64, 56,
                            3, 64, 0, 0)
    phdrs = [(1, 5, 0, 0, 0, 0x1000, 0x1000, 0x1000),  # PT_LOAD r-x: the whole file
             (2, 4, 0, delta % 2 ** 64, 0, 48, 48, 8),  # PT_DYNAMIC, read-only, elsewhere
             (0x6474e551, 6, 0, 0, 0, 0, 0, 16)]  # PT_GNU_STACK rw-
    for i, ph in enumerate(phdrs):
        img[64 + 56 * i:120 + 56 * i] = struct.pack("<IIQQQQQQ", *ph)
    img[0x800:0x800 + len(CTOR_LIE)] = CTOR_LIE
    path.write_bytes(img)
    os.chmod(path, 0o644)
    return path


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the lying library is x86-64 code")
def test_dynamic_section_pointing_into_another_files_data(kit, tmp_path, mode):
    """A library's PT_DYNAMIC can put its dynamic section in another file's mapping: here the data of
    a good library (0755) that keeps 48 bytes of the program's input, which read as DT_INIT,
    DT_STRTAB and DT_SYMTAB. The face identified the object by the file mapped at its dynamic
    section - the good library - and allowed it, and ld.so called DT_INIT at an offset from the
    0644 object's own load address: its code ran, enforcing (found by a bypass hunt, 2026-11-30;
    the program's own data passed as the executed program). The file found must also be the
    object's image: its header, at the start of its mapping, must put the dynamic section there."""
    from test_preload_dlopen import _cc
    (tmp_path / "lib").mkdir()
    holder = _cc(tmp_path / "lib/libholder.so", HOLDER_C, "-shared", "-fPIC")
    prog = _cc(tmp_path / "holder", HOLDER_PROG_C, "-L%s" % holder.parent, "-lholder",
               "-Wl,-rpath,%s" % holder.parent)
    lie = tmp_path / "dl" / "liblie.so"
    lie.parent.mkdir()
    _library_with_dynamic_at(lie, 0)  # where the next mapping goes, in this very run: the layout is the same each time
    delta = [l.split()[1] for l in run_face(mode, [prog, lie], tmp_path).lines if l.startswith("delta ")]
    assert delta, "no delta line"
    _library_with_dynamic_at(lie, int(delta[0], 16))
    res = run_face(mode, [prog, lie], tmp_path)
    assert res.lines[:1] == ["delta %s" % delta[0]], res
    if mode == "audit":
        assert ran(res, "lie") and "dlmopen ok" in res.lines, res  # the lie works: audit mode changes nothing
        assert [(r["path"], r["reason"], r["action"]) for r in res.records] == [(str(lie), "mismatch", "logged")], res
        return
    assert res.rc == 126 and not ran(res, "lie"), res
    assert res.refused_lines() == ["execcheck: refused to load %s: mismatch" % lie], res


# ---------------------------------------------------------------------------------------------
# good objects of unusual layout: the own-image check must find their headers


# a library that needs nothing (ld -N and -n link no shared library): its constructor writes
# "CTOR omagic" with a raw system call
OMAGIC_LIB_C = r'''
static void say(void)
{
    static const char msg[] = "CTOR omagic\n";
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "0"(1L), "D"(1L), "S"(msg), "d"(sizeof msg - 1) : "rcx", "r11", "memory");
}
__attribute__((constructor)) static void ctor(void) { say(); }
int libfn(void) { return 0; }
'''


@pytest.mark.skipif(os.uname().machine != "x86_64", reason="the library's system call is x86-64 code")
@pytest.mark.parametrize("how", ["-N", "-n"])
def test_a_library_of_one_unaligned_load_segment(kit, tmp_path, mode, how):
    """ld -N / -n (--omagic, --nmagic) put the whole library in one PT_LOAD that starts after the
    headers (p_offset 0x158), not at offset 0; ld.so maps it from offset 0 all the same, the
    header at the start of the mapping. The own-image check wanted p_offset 0 and refused it."""
    from test_preload_dlopen import _cc
    (tmp_path / "lib").mkdir()
    lib = _cc(tmp_path / "lib/libomagic.so", OMAGIC_LIB_C, "-shared", "-fPIC", "-nostdlib", "-Wl," + how)
    os.chmod(lib, 0o755)
    prog = kit.prog()
    argv = [prog, "dlopen:%s" % lib]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and "CTOR omagic" in base.lines, base
    assert_audit_unchanged(run_face(mode, argv, tmp_path), base)


def test_ld_so_running_a_non_pie_program_with_gaps(kit, tmp_path, mode):
    """A non-PIE program linked for 2 MiB pages has unmapped gaps between its segments (ld.so maps
    an ET_EXEC's segments one by one, at fixed addresses), so its header is not reached by a walk
    down through adjoining mappings from its dynamic section; its load address is 0."""
    from conftest import C_DIR
    prog = kit._cc("bin/nopie", C_DIR / "audit_prog.c", "-pthread", "-no-pie", "-Wl,-z,max-page-size=0x200000")
    argv = [LDSO, prog]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines == ["main", "end"], base
    assert_audit_unchanged(run_face(mode, argv, tmp_path), base, kind="program")


# a linker script whose segments leave the ELF header and program headers out of memory
UNMAPPED_HEADER_LDS = '''
PHDRS { text PT_LOAD; data PT_LOAD; dyn PT_DYNAMIC; }
SECTIONS {
  . = 0x10000;
  .gnu.hash : { *(.gnu.hash) } :text
  .dynsym : { *(.dynsym) } :text
  .dynstr : { *(.dynstr) } :text
  .gnu.version : { *(.gnu.version) } :text
  .gnu.version_r : { *(.gnu.version_r) } :text
  .rela.dyn : { *(.rela.init) *(.rela.text .rela.text.*) *(.rela.rodata*) *(.rela.data*) *(.rela.got) *(.rela.bss*) *(.rela.init_array) *(.rela.fini_array) *(.rela.ifunc) } :text
  .rela.plt : { *(.rela.plt) *(.rela.iplt) } :text
  .init : { *(.init) } :text
  .plt : { *(.plt) *(.plt.*) } :text
  .text : { *(.text .text.*) } :text
  .fini : { *(.fini) } :text
  .rodata : { *(.rodata .rodata.*) } :text
  . = 0x12000;
  .init_array : { *(.init_array) } :data
  .fini_array : { *(.fini_array) } :data
  .dynamic : { *(.dynamic) } :data :dyn
  .got : { *(.got) *(.got.plt) } :data
  .data : { *(.data .data.*) } :data
  .bss : { *(.bss .bss.*) } :data
}
'''


def test_a_library_whose_header_is_not_mapped(kit, tmp_path, mode):
    """No PT_LOAD of this library covers its header (a linker script's PHDRS without FILEHDR):
    ld.so reads the program headers from the file and maps only the segments, so no mapping holds
    the header that places the dynamic section; the file's own header, read from the very inode
    mapped there, does."""
    from conftest import C_DIR
    lds = tmp_path / "noheader.lds"
    lds.write_text(UNMAPPED_HEADER_LDS)
    lib = kit._cc("lib/libnoheader.so", C_DIR / "audit_lib.c", "-shared", "-fPIC", "-DTAG=\"noheader\"",
                  "-DFN=libfn", "-fno-asynchronous-unwind-tables", "-Wl,--build-id=none,--no-eh-frame-hdr",
                  "-Wl,-T,%s" % lds)
    os.chmod(lib, 0o755)
    prog = kit.prog()
    argv = [prog, "dlopen:%s" % lib, "call:libfn"]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and ran(base, "noheader") and "call done" in base.lines, base
    assert_audit_unchanged(run_face(mode, argv, tmp_path), base)

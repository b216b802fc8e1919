"""The dlopen guard of the preload face against the loader's less travelled ways in (a bypass hunt,
2026-12-01): objects ld.so loads that no plain DT_NEEDED names - filters, names with dynamic string
tokens, a dependency ld.so.cache sends to a glibc-hwcaps subdirectory - and names glibc matches
without a search (the program's own SONAME, a "$ORIGIN/..." dlopen name another caller opened
before). Each bad case: refused before one instruction of the file runs, with dlerror() naming it;
each good case: exactly what glibc alone does. And the limit no preload can lift: a library loaded
with RTLD_DEEPBIND calls libc's own dlopen, and what it opens and closes again is never seen."""
import os
import subprocess

import pytest

from audit_face_util import LDSO, SHIM, kit, mode, ran, run_face  # noqa: F401 (fixtures)
from conftest import C_DIR, need, need_check, need_mountns
from test_preload_dlopen import assert_audit_unchanged, assert_refused, dlerrors, ld_so_hwcaps


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


def assert_refused_before_it_ran(res, bad, tags, needed_by=None):
    """Enforcing: the dlopen failed with the guard's dlerror naming bad (needed by needed_by), the
    program went on, and no code of the tagged libraries ran."""
    assert res.rc == 0 and res.lines[-1] == "end" and not any(ran(res, t) for t in tags), res
    errs = dlerrors(res)
    assert len(errs) == 1 and errs[0].startswith("/proc/self/execcheck refused "), res
    assert os.path.samefile(errs[0].split(" ")[2], bad), res
    assert ("needed by " in errs[0]) == (needed_by is not None), res
    if needed_by:
        assert os.path.samefile(errs[0].split("needed by ")[1].split(":")[0], needed_by), res
    assert_refused(res, bad)


def bad_and_good(kit, tmp_path, mode, bad, argv, tags, needed_by=None, env=None, setup=None):
    """argv loads bad (0644): as glibc alone does (audit mode), refused (enforcing). Then bad made
    0755: the load works exactly as without the shim."""
    base = run_face("off", argv, tmp_path, env=env, setup=setup)
    assert base.rc == 0 and "dlopen ok" in base.lines and any(ran(base, t) for t in tags), base
    res = run_face(mode, argv, tmp_path, env=env, setup=setup, preload=SHIM)
    if mode == "audit":
        assert_audit_unchanged(res, base, [bad])
    else:
        assert_refused_before_it_ran(res, bad, tags, needed_by)
    os.chmod(bad, 0o755)
    res = run_face(mode, argv, tmp_path, env=env, setup=setup, preload=SHIM)
    assert_audit_unchanged(res, base)


# ---------------------------------------------------------------------------------------------
# objects no plain DT_NEEDED names


@pytest.mark.parametrize("tag", ["filter", "auxiliary"])
def test_a_filtee_is_checked_before_the_filter_loads(kit, tmp_path, mode, tag):
    """DT_FILTER and DT_AUXILIARY name objects ld.so loads beside the filter (dl-deps.c), searched
    through the filter's RUNPATH like a dependency: a 0644 filtee is refused with the filter."""
    bad = kit.lib("plug/sub/libfiltee.so", "filtee", mode=0o644, soname="libfiltee.so")
    plug = kit._cc("plug/libplug.so", C_DIR / "audit_lib.c", "-shared", "-fPIC", "-DTAG=\"plug\"",
                   "-Wl,--%s=libfiltee.so" % tag, "-Wl,--enable-new-dtags,-rpath,$ORIGIN/sub")
    bad_and_good(kit, tmp_path, mode, bad, [kit.prog(), "dlopen:%s" % plug], ["filtee", "plug"], plug)


def library_needing(kit, out, needed):
    """A library whose DT_NEEDED is exactly `needed` (tokens and all): linked against a stub whose
    SONAME is that string, as the link editor copies a SONAME into DT_NEEDED."""
    stub = kit._cc("stubs/%s/libstub.so" % out.replace("/", "_"), C_DIR / "audit_lib.c", "-shared", "-fPIC",
                   "-Wl,-soname," + needed)
    return kit.lib(out, "plug", needs=[(stub.parent, "libstub.so")])


@pytest.mark.parametrize("needed,where", [
    ("$ORIGIN/sub/libd.so", "sub"),
    ("${ORIGIN}/sub/libd.so", "sub"),
    ("$ORIGIN/$LIB/libd.so", "LIB"),
    ("$ORIGIN/$PLATFORM/libd.so", "PLATFORM"),
])
def test_dynamic_string_tokens_in_a_needed_name(kit, tmp_path, mode, needed, where):
    """A DT_NEEDED name with $ORIGIN, $LIB or $PLATFORM is expanded by ld.so (dl-deps.c, expand_dst)
    before it opens it: the guard checks the file the expansion names."""
    sub = {"sub": "sub", "LIB": ld_so_token(kit, "LIB"), "PLATFORM": ld_so_token(kit, "PLATFORM")}[where]
    bad = kit.lib("plug/%s/libd.so" % sub, "dep", mode=0o644)
    plug = library_needing(kit, "plug/libplug.so", needed)
    bad_and_good(kit, tmp_path, mode, bad, [kit.prog(), "dlopen:%s" % plug], ["dep", "plug"], plug)


def ld_so_token(kit, token):
    """What glibc expands $LIB or $PLATFORM to in this process: a probe library whose DT_NEEDED is
    "/PROBE/$TOKEN/x" fails to load, and ld.so's error names the expanded path."""
    probe = library_needing(kit, "probe-%s/libprobe.so" % token, "/PROBE/$%s/x" % token)
    out = subprocess.run([str(kit.prog()), "dlopen:%s" % probe], capture_output=True, text=True).stdout
    expanded = out.split("dlopen failed: /PROBE/")[1].split("/x:")[0]
    assert expanded and "$" not in expanded, out
    return expanded


@pytest.mark.parametrize("name,where", [
    ("$ORIGIN/sub/libd.so", "bin/sub"),
    ("$ORIGIN/$LIB/libd.so", "bin/LIB"),
    ("$LIB/libd.so", "cwd/LIB"),
    ("$PLATFORM/libd.so", "cwd/PLATFORM"),
    ("$ORIGIN//sub/./libd.so", "bin/sub"),
])
def test_dynamic_string_tokens_in_a_dlopen_name(kit, tmp_path, mode, name, where, monkeypatch):
    """The main program's dlopen("$ORIGIN/...") is expanded from its own directory; "$LIB/..." and
    "$PLATFORM/..." become relative names, opened from the current directory."""
    prog = kit.prog()
    top, tok = where.split("/")
    sub = ld_so_token(kit, tok) if tok in ("LIB", "PLATFORM") else tok
    bad = kit.lib("%s/%s/libd.so" % (top, sub), "dep", mode=0o644)
    (tmp_path / "cwd").mkdir(exist_ok=True)
    argv = [prog, "dlopen:" + name]
    base = run_face("off", argv, tmp_path, cwd=tmp_path / "cwd")
    assert base.rc == 0 and "dlopen ok" in base.lines and ran(base, "dep"), base
    res = run_face(mode, argv, tmp_path, cwd=tmp_path / "cwd", preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "dep"), res
    assert len(dlerrors(res)) == 1, res
    monkeypatch.chdir(tmp_path / "cwd")  # a relative name is refused as glibc would open it: from there
    assert_refused(res, bad)


# ---------------------------------------------------------------------------------------------
# names glibc matches without a search: a 0644 file of that name is never opened


def test_the_programs_own_soname(kit, tmp_path, mode):
    """glibc matches a dlopen name to the SONAME of any loaded object, the program's too: that
    dlopen returns the program itself, and a 0644 library of that name on LD_LIBRARY_PATH is never
    opened, by glibc or by the guard."""
    bad = kit.lib("dl/libmain.so", "bad", mode=0o644, soname="libmain.so")
    prog = kit._cc("bin/prog", C_DIR / "audit_prog.c", "-pthread", "-Wl,-soname,libmain.so")
    env = {"LD_LIBRARY_PATH": str(bad.parent)}
    argv = [prog, "dlopen:libmain.so", "dlopen:libmain.so"]
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and base.lines.count("dlopen ok") == 2 and not ran(base, "bad"), base
    assert_audit_unchanged(run_face(mode, argv, tmp_path, env=env, preload=SHIM), base)


def test_an_origin_name_another_caller_opened_is_that_object(kit, tmp_path, mode):
    """glibc keeps a dlopen name as it was given, tokens unexpanded (l_libname), and matches a later
    dlopen of the same string to that object before expanding anything: a plugin in b/ that
    opens "$ORIGIN/sub/libx.so" after a plugin in a/ did gets a/'s library, and b/'s copy (0644)
    is never opened. The guard loaded a/'s by its path; the same name from b/ must not be searched
    from b/ (refused: a good dlopen failed), nor load b/'s copy beside it."""
    kit.lib("a/sub/libx.so", "xa")
    bad = kit.lib("b/sub/libx.so", "xb", mode=0o644)
    a = kit._cc("a/libcaller.so", C_DIR / "preload_caller.c", "-shared", "-fPIC")
    b = kit._cc("b/libcaller.so", C_DIR / "preload_caller.c", "-shared", "-fPIC")
    env = {"CALLER_DLOPEN": "$ORIGIN/sub/libx.so"}
    argv = [kit.prog(), "dlopen:%s" % a, "dlopen:%s" % b]
    base = run_face("off", argv, tmp_path, env=env)
    assert base.lines.count("caller dlopen $ORIGIN/sub/libx.so ok") == 2, base
    assert ran(base, "xa") and not ran(base, "xb"), base
    assert_audit_unchanged(run_face(mode, argv, tmp_path, env=env, preload=SHIM), base)
    assert not os.stat(bad).st_mode & 0o111


# ---------------------------------------------------------------------------------------------
# ld.so.cache


def test_a_dependency_the_cache_sends_to_a_hwcaps_subdirectory(kit, tmp_path, mode):
    """ldconfig (glibc 2.33 on) records the glibc-hwcaps copies of a library in ld.so.cache beside
    the plain one, and ld.so takes the best level the CPU has: a plugin's dependency found there is
    that copy, checked (refused, 0644) before the plugin loads. A private mount namespace lays a
    cache made for the test over /etc/ld.so.cache."""
    need_mountns()
    levels = ld_so_hwcaps()
    need(bool(levels), "needs an ld.so that searches glibc-hwcaps subdirectories (glibc 2.33+)")
    plain = kit.lib("cdir/libq.so", "qbase", soname="libq.so")
    bad = kit.lib("cdir/glibc-hwcaps/%s/libq.so" % levels[0], "qhwcaps", mode=0o644, soname="libq.so")
    plug = kit.lib("p/libplug.so", "plug", needs=[(plain.parent, "libq.so")])
    (tmp_path / "ld.so.conf").write_text("%s\n" % plain.parent)
    cache = tmp_path / "ld.so.cache"
    r = subprocess.run(["ldconfig", "-X", "-C", str(cache), "-f", str(tmp_path / "ld.so.conf")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    listed = subprocess.run(["ldconfig", "-p", "-C", str(cache)], capture_output=True, text=True).stdout
    assert str(bad) in listed, listed
    setup = "mount --bind %s /etc/ld.so.cache" % cache
    bad_and_good(kit, tmp_path, mode, bad, [kit.prog(), "dlopen:%s" % plug], ["qhwcaps", "plug"], plug,
                 setup=setup)


# ---------------------------------------------------------------------------------------------
# the limit: RTLD_DEEPBIND

OPENER_C = r'''#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
/* its constructor opens OPEN_THEN_CLOSE and closes it again at once */
__attribute__((constructor)) static void open_then_close(void)
{
    const char *p = getenv("OPEN_THEN_CLOSE");
    void *h = p ? dlopen(p, RTLD_NOW) : 0;
    printf("opener dlopen %s\n", h ? "ok" : "failed");
    fflush(stdout);
    if (h) dlclose(h);
}
'''
DEEPBIND_MAIN_C = r'''#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>
/* argv[1] "deep" or "plain": how argv[2] is opened; then argv[3], if given, plainly */
int main(int c, char **v)
{
    void *h;
    setvbuf(stdout, 0, _IONBF, 0);
    h = dlopen(v[2], RTLD_NOW | (strcmp(v[1], "deep") ? 0 : RTLD_DEEPBIND));
    printf("dlopen %s\n", h ? "ok" : "failed");
    if (c > 3) printf("dlopen %s\n", dlopen(v[3], RTLD_NOW) ? "ok" : "failed");
    printf("end\n");
    return 0;
}
'''


@pytest.mark.parametrize("how", ["plain", "deep"])
def test_what_a_deepbind_library_opens_and_closes_is_never_seen(kit, tmp_path, how):
    """A library loaded with RTLD_DEEPBIND looks its symbols up in its own dependencies first, so its
    dlopen is libc's, not the shim's: what it loads gets no check before its code runs. The sweeps
    (after the next guarded load, at exit) walk the objects that are loaded then; one closed again
    before is never seen - no record, exit status 0, enforcing. Pinned as the honest limit it is
    (README, "The dlopen guard"): loaded plainly, the same library's dlopen is the guard's and the
    0644 library is refused; under the audit face, which sees every object in la_objopen, the deep
    load is refused as well."""
    src = tmp_path / "opener.c"
    src.write_text(OPENER_C)
    opener = kit._cc("lib/libopener.so", src, "-shared", "-fPIC")
    main_c = tmp_path / "main.c"
    main_c.write_text(DEEPBIND_MAIN_C)
    prog = kit._cc("bin/deepbind", main_c)
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    later = kit.lib("lib/libgood.so", "good")
    env = {"OPEN_THEN_CLOSE": str(bad)}
    argv = [prog, how, opener, later]
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and ran(base, "bad") and "opener dlopen ok" in base.lines, base
    res = run_face("secbits", argv, tmp_path, env=env, preload=SHIM)
    assert res.rc == 0 and res.lines[-1] == "end" and ran(res, "good"), res
    if how == "plain":
        assert not ran(res, "bad") and "opener dlopen failed" in res.lines, res
        assert_refused(res, bad)
    else:
        assert ran(res, "bad") and "opener dlopen ok" in res.lines, res  # the limit
        assert not res.refused_lines() and not res.records, res
    res = run_face("secbits", argv, tmp_path, env=env)  # the audit face
    assert res.rc == 0 and not ran(res, "bad") and "opener dlopen failed" in res.lines, res


# ---------------------------------------------------------------------------------------------
# a search directory that appears after start-up

LATE_DIR_C = r'''#include <dlfcn.h>
#include <stdio.h>
/* rename(argv[1], argv[2]): a directory put in place after start-up; then dlopen(argv[3]) */
int main(int c, char **v)
{
    setvbuf(stdout, 0, _IONBF, 0);
    printf("rename %s\n", c > 3 && !rename(v[1], v[2]) ? "ok" : "failed");
    printf("dlopen %s\n", dlopen(v[3], RTLD_NOW) ? "ok" : "failed");
    printf("end\n");
    return 0;
}
'''


def late_directory_run(argv, tmp_path, env=None):
    """A runner of LATE_DIR_C's argv [prog, staged, dest, target] where each run starts with the
    directory back at staged."""
    def run_it(m, **kw):
        if argv[2].exists():
            os.rename(argv[2], argv[1])
        return run_face(m, argv, tmp_path, env=env, **kw)
    return run_it


def assert_the_late_copy_is_never_searched(run_it, base, mode, bad):
    """base (glibc alone) loaded the 0644 copy bad: audit mode changes nothing; enforcing, it is
    refused before its code runs. With it gone, glibc finds no copy at all (the late good one is
    never searched), and neither does the guard."""
    res = run_it(mode, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.lines[:2] == ["rename ok", "dlopen failed"] and not any(ran(res, t) for t in ("baddep", "plug")), res
    assert res.rc == 0 and res.lines[-1] == "end", res
    assert_refused(res, bad)
    os.unlink(bad)
    res = run_it(mode, preload=SHIM)
    assert res.rc == 0 and res.lines == ["rename ok", "dlopen failed", "end"] and not res.records, res
    assert res.lines == run_it("off").lines


@pytest.mark.parametrize("where", ["directory", "glibc-hwcaps", "hwcaps-level"])
def test_a_search_directory_that_appears_after_start_up(kit, tmp_path, mode, where):
    """ld.so marks a search directory (an absolute one, each glibc-hwcaps or legacy subdirectory on
    its own) that it found missing as missing for good (open_path: r_search_path_elem.status), and
    at start-up it probes the whole LD_LIBRARY_PATH for libc.so.6. A directory moved there later is
    never searched: a plugin's dependency comes from the plugin's RUNPATH instead, here a 0644 copy.
    The guard notes, as the program starts, which LD_LIBRARY_PATH directories and glibc-hwcaps
    subdirectories of them are missing, and its prediction takes them as ld.so does: the 0644 copy
    is refused before its code runs (before, the prediction found the good copy in the new
    directory, checked it, and glibc loaded the 0644 one, whose constructor ran before the sweep
    after the load stopped the process). A level subdirectory appearing in a glibc-hwcaps directory
    that was there at start is noted as well (it was the pinned limit: the sweep stopped the
    process after the 0644 copy's constructor ran)."""
    levels = ld_so_hwcaps()
    if where != "directory":
        need(bool(levels), "needs an ld.so that searches glibc-hwcaps subdirectories (glibc 2.33+)")
    src = tmp_path / "late.c"
    src.write_text(LATE_DIR_C)
    prog = kit._cc("bin/late", src)
    lib = tmp_path / "lib"
    staged_lib = {"directory": "staged/libdep.so", "glibc-hwcaps": "staged/%s/libdep.so" % (levels or ["x"])[-1],
                  "hwcaps-level": "staged/libdep.so"}[where]
    good = kit.lib(staged_lib, "gooddep", soname="libdep.so")
    staged = tmp_path / "staged"
    bad = kit.lib("p/sub/libdep.so", "baddep", mode=0o644, soname="libdep.so")
    plug = kit.lib("p/libplug.so", "plug", needs=[(good.parent, "libdep.so")], runpath="$ORIGIN/sub")
    dest = {"directory": lib, "glibc-hwcaps": lib / "glibc-hwcaps",
            "hwcaps-level": lib / "glibc-hwcaps" / (levels or ["x"])[-1]}[where]
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_it = late_directory_run([prog, staged, dest, plug], tmp_path, {"LD_LIBRARY_PATH": str(lib)})
    base = run_it("off")
    assert base.lines == ["rename ok", "IFUNC plug", "IFUNC plug", "CTOR baddep", "CTOR plug", "dlopen ok", "end"], base
    assert_the_late_copy_is_never_searched(run_it, base, mode, bad)


LATE_CASES = {  # where the good copy arrives late, how ld.so's start-up came to probe it
    "program-runpath": "the program's DT_RUNPATH ($ORIGIN/../lib), probed for libc.so.6",
    "program-rpath": "the program's DT_RPATH ($ORIGIN/../lib), probed for libc.so.6",
    "origin-in-ld-library-path": "LD_LIBRARY_PATH=$ORIGIN/../lib",
    "lib-in-ld-library-path": "LD_LIBRARY_PATH=DIR/$LIB",
    "platform-in-ld-library-path": "LD_LIBRARY_PATH=DIR/$PLATFORM",
    "legacy-x86_64": "the legacy x86_64/ subdirectory of an LD_LIBRARY_PATH directory that was there",
    "legacy-tls": "the legacy tls/ subdirectory of an LD_LIBRARY_PATH directory that was there",
}


@pytest.mark.parametrize("where", sorted(LATE_CASES))
def test_a_start_up_search_directory_found_missing_stays_missing(kit, tmp_path, mode, where):
    """More directories ld.so's start-up probes (LATE_CASES) and marks missing for good when they
    are (open_path's r_search_path_elem.status): the program's own DT_RUNPATH / DT_RPATH
    directories, LD_LIBRARY_PATH entries whose dynamic string tokens ld.so expanded, the legacy
    hwcap subdirectories of a directory that was there. A good copy of libdep.so moved into one
    later is never searched by glibc, which loads the 0644 copy further down the search instead.
    The guard's prediction takes the directory as ld.so does, so the 0644 copy is refused before
    its code runs (before, the prediction checked the late good copy, glibc loaded the 0644 one,
    and its constructor ran before the sweep after the load stopped the process: 126)."""
    if where.startswith("legacy-") and where[len("legacy-"):] not in legacy_subdirs():
        pytest.skip("needs glibc's legacy %s hwcap subdirectory (glibc before 2.37)" % where[len("legacy-"):])
    src = tmp_path / "late.c"
    src.write_text(LATE_DIR_C)
    good = kit.lib("staged/libdep.so", "gooddep", soname="libdep.so")
    staged = good.parent
    bad = kit.lib("p/sub/libdep.so", "baddep", mode=0o644, soname="libdep.so")
    env, lib, target = {}, tmp_path / "lib", None
    if where in ("program-runpath", "program-rpath"):
        # the program's own search path, searched for its dlopen("libdep.so") too
        dtags = "--enable-new-dtags" if where == "program-runpath" else "--disable-new-dtags"
        prog = kit._cc("bin/late", src, "-Wl,%s,-rpath,$ORIGIN/../lib:$ORIGIN/../p/sub" % dtags)
        dest, target = lib, "libdep.so"
    else:
        prog = kit._cc("bin/late", src)
        if where.startswith("legacy-"):
            lib.mkdir()
            dest, env["LD_LIBRARY_PATH"] = lib / where[len("legacy-"):], str(lib)
        elif where == "origin-in-ld-library-path":
            dest, env["LD_LIBRARY_PATH"] = lib, "$ORIGIN/../lib"
        else:
            token = "LIB" if where == "lib-in-ld-library-path" else "PLATFORM"
            dest, env["LD_LIBRARY_PATH"] = tmp_path / "t" / ld_so_token(kit, token), str(tmp_path / "t") + "/$" + token
    if target is None:
        target = kit.lib("p/libplug.so", "plug", needs=[(good.parent, "libdep.so")], runpath="$ORIGIN/sub")
    dest.parent.mkdir(parents=True, exist_ok=True)
    run_it = late_directory_run([prog, staged, dest, target], tmp_path, env)
    base = run_it("off")
    assert base.lines[0] == "rename ok" and "dlopen ok" in base.lines and ran(base, "baddep"), base
    assert not ran(base, "gooddep"), base
    assert_the_late_copy_is_never_searched(run_it, base, mode, bad)


def test_a_start_up_search_directory_ld_so_never_probed_is_searched_later(kit, tmp_path, mode):
    """What ld.so probes at start-up depends on where each DT_NEEDED was found: with libc.so.6 in
    the first directory of the program's DT_RUNPATH, the second one is never looked at then, so
    its status stays unknown and a directory moved there later is searched by the program's
    dlopen("libdep.so"): glibc loads the good copy in it, not the 0644 one in the third. The guard
    noted the second directory missing as the program started, and takes that only for the slots
    its replay of the start-up probes: it predicts the good copy too, and the load is exactly as
    without the shim (marking every noted directory missing, it would refuse the 0644 copy)."""
    libc = [l.split()[2] for l in subprocess.run(["ldd", str(kit.prog())], capture_output=True, text=True)
            .stdout.splitlines() if l.split()[:1] == ["libc.so.6"]][0]
    first = tmp_path / "first"
    first.mkdir()
    subprocess.run(["cp", libc, str(first / "libc.so.6")], check=True)
    src = tmp_path / "late.c"
    src.write_text(LATE_DIR_C)
    prog = kit._cc("bin/late", src, "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../first:$ORIGIN/../lib:$ORIGIN/../p/sub")
    good = kit.lib("staged/libdep.so", "gooddep", soname="libdep.so")
    bad = kit.lib("p/sub/libdep.so", "baddep", mode=0o644, soname="libdep.so")
    run_it = late_directory_run([prog, good.parent, tmp_path / "lib", "libdep.so"], tmp_path)
    base = run_it("off")
    assert base.lines == ["rename ok", "IFUNC gooddep", "CTOR gooddep", "dlopen ok", "end"], base
    res = run_it(mode, preload=SHIM)
    assert_audit_unchanged(res, base)
    assert not res.records_for(bad), res


SYSTEM_LIB = "/usr/lib/x86_64-linux-gnu"


def test_a_system_directory_found_missing_at_start_up_is_a_limit(kit, tmp_path, mode):
    """The limit (README, "The dlopen guard"): ld.so marks a system directory's subdirectory it
    probed at start-up and found missing as it marks any other (here probed for a preload name
    that neither ld.so.cache nor any directory has), but the guard does not note system
    directories (that would cost every process some twenty statx). A good copy of libdep.so moved
    into /usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v2 later (inside a private overlay) is
    never searched by glibc, which loads the 0644 copy in the directory itself: the guard checked
    the good copy, and the sweep after the load stops the process after the 0644 copy's
    constructor ran."""
    need_mountns()
    levels = ld_so_hwcaps()
    if os.uname().machine != "x86_64" or "x86-64-v2" not in levels or not os.path.isdir(SYSTEM_LIB) or \
            os.path.exists(SYSTEM_LIB + "/glibc-hwcaps"):
        pytest.skip("needs x86_64 glibc 2.33+ with %s and no glibc-hwcaps directory in it" % SYSTEM_LIB)
    src = tmp_path / "late.c"
    src.write_text(LATE_DIR_C)
    prog = kit._cc("bin/late", src)
    good = kit.lib("staged/x86-64-v2/libdep.so", "gooddep", soname="libdep.so")
    bad = kit.lib("bad/libdep.so", "baddep", soname="libdep.so")
    layer = tmp_path / "layer"
    layer.mkdir()
    setup = ('mount -t tmpfs none {l} && mkdir {l}/up {l}/work && mount -t overlay overlay -o '
             '"lowerdir={s},upperdir={l}/up,workdir={l}/work" {s} && mkdir {s}/ec-staged && '
             'cp -r {g} {s}/ec-staged/ && cp {b} {s}/libdep.so && chmod 644 {s}/libdep.so'
             ).format(l=layer, s=SYSTEM_LIB, g=good.parent, b=bad)
    plug = kit.lib("p/libplug.so", "plug", needs=[(good.parent, "libdep.so")])
    argv = [prog, SYSTEM_LIB + "/ec-staged", SYSTEM_LIB + "/glibc-hwcaps", plug]
    missing = "libexeccheck-test-nowhere.so"
    base = run_face("off", argv, tmp_path, env={"LD_PRELOAD": missing}, setup=setup)
    assert base.lines == ["rename ok", "IFUNC plug", "IFUNC plug", "CTOR baddep", "CTOR plug", "dlopen ok", "end"], base
    res = run_face(mode, argv, tmp_path, setup=setup, preload=SHIM + ":" + missing)
    if mode == "audit":  # the file is gone with the namespace: its record is told by its path
        assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), (res, base)
        assert [(os.path.realpath(r["path"]), r["action"]) for r in res.records] == \
            [(SYSTEM_LIB + "/libdep.so", "logged")], res
        return
    assert res.rc == 126 and ran(res, "baddep") and "dlopen ok" not in res.lines, res


# ---------------------------------------------------------------------------------------------
# the limit: dlmopen() into a namespace that exists

EXISTING_NAMESPACE_C = r'''#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
/* dlmopen(LM_ID_NEWLM, argv[1]), then dlmopen(that namespace, argv[2]) */
int main(int c, char **v)
{
    Lmid_t ns;
    void *h;
    setvbuf(stdout, 0, _IONBF, 0);
    h = c > 2 ? dlmopen(LM_ID_NEWLM, v[1], RTLD_NOW) : 0;
    printf("new %s\n", h ? "ok" : "failed");
    if (!h || dlinfo(h, RTLD_DI_LMID, &ns)) return 1;
    printf("existing %s\n", dlmopen(ns, v[2], RTLD_NOW) ? "ok" : dlerror());
    printf("end\n");
    return 0;
}
'''


def test_dlmopen_into_an_existing_namespace_checks_the_closure_afresh(kit, tmp_path, mode):
    """dlmopen() into a namespace made before (not LM_ID_NEWLM) reuses what that namespace has
    loaded, as dlopen() does in the main one: b/libb.so's libdep.so is a/'s, already there, and
    the 0644 copy in b/'s RUNPATH is never opened. The guard knows the main namespace's objects
    only, so it checks the target's whole closure as found afresh - that copy included - and
    refuses a load glibc makes cleanly (audit mode records it). Pinned as the limit it is (README,
    "The dlopen guard"): refused, never let in unchecked."""
    src = tmp_path / "ns.c"
    src.write_text(EXISTING_NAMESPACE_C)
    prog = kit._cc("bin/ns", src)
    dep = kit.lib("a/sub/libdep.so", "gooddep", soname="libdep.so")
    bad = kit.lib("b/sub/libdep.so", "baddep", mode=0o644, soname="libdep.so")
    a = kit.lib("a/liba.so", "a", needs=[(dep.parent, "libdep.so")], runpath="$ORIGIN/sub")
    b = kit.lib("b/libb.so", "b", needs=[(dep.parent, "libdep.so")], runpath="$ORIGIN/sub")
    argv = [prog, a, b]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and "existing ok" in base.lines and ran(base, "b") and not ran(base, "baddep"), base
    res = run_face(mode, argv, tmp_path, preload=SHIM)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])  # a record of a file glibc never opened
    assert res.rc == 0 and res.lines[-1] == "end" and not ran(res, "b") and not ran(res, "baddep"), res
    errs = [l for l in res.lines if l.startswith("existing ")]
    assert len(errs) == 1 and errs[0].startswith("existing /proc/self/execcheck refused "), res
    assert_refused(res, bad)


# ---------------------------------------------------------------------------------------------
# the legacy hwcap mask


def legacy_subdirs(env=None):
    """The legacy hwcap subdirectories ld.so lists (--help) with whether it searches them."""
    text = subprocess.run([LDSO, "--help"], capture_output=True, text=True, env=env).stdout
    block = text.split("Legacy HWCAP subdirectories under library search path directories:")
    if len(block) < 2:
        return {}
    return {l.split()[0]: "searched" in l for l in block[1].split("\n\n")[0].strip().splitlines()}


@pytest.mark.parametrize("masks", [
    {"LD_HWCAP_MASK": "0"},
    {"GLIBC_TUNABLES": "glibc.cpu.hwcap_mask=0"},
    {"GLIBC_TUNABLES": "glibc.malloc.check=0:glibc.cpu.hwcap_mask=0x4"},
    {"GLIBC_TUNABLES": "glibc.cpu.hwcap_mask=0", "LD_HWCAP_MASK": "6"},
    {"LD_HWCAP_MASK": "6", "GLIBC_TUNABLES": "glibc.cpu.hwcap_mask=0"},
    {"LD_HWCAP_MASK": "0", "GLIBC_TUNABLES": "glibc.cpu.hwcap_mask=6"},
    {"LD_HWCAP_MASK": "08"},
    {"LD_HWCAP_MASK": "07"},
    {"GLIBC_TUNABLES": "glibc.cpu.hwcap_mask:glibc.cpu.hwcap_mask=0"},
], ids=lambda m: ",".join("%s=%s" % kv for kv in m.items()))
def test_the_legacy_hwcap_mask_is_ld_sos_own(kit, tmp_path, mode, masks):
    """glibc 2.36 searches the legacy x86_64/ (and avx512_1/) subdirectory of each directory only
    for the hwcap bits its mask glibc.cpu.hwcap_mask keeps - a tunable (GLIBC_TUNABLES, each entry
    in the environment's order) with an alias, LD_HWCAP_MASK, that counts only while no entry has
    set it. The guard takes the mask as ld.so did: with x86_64/ masked, a plugin's dependency is the
    0644 copy in the directory itself, refused before its code runs (the guard predicted the good
    copy in x86_64/, checked it, and glibc loaded the 0644 one, whose constructor ran before the
    sweep stopped the process); with it kept, the good copy loads as without the shim."""
    if os.uname().machine != "x86_64" or "x86_64" not in legacy_subdirs():
        pytest.skip("needs glibc's legacy x86_64 hwcap subdirectory (x86_64, glibc before 2.37)")
    masked = not legacy_subdirs(dict(os.environ, **masks))["x86_64"]
    good = kit.lib("lib/x86_64/libdep.so", "gooddep", soname="libdep.so")
    bad = kit.lib("lib/libdep.so", "baddep", mode=0o644, soname="libdep.so")
    plug = kit.lib("p/libplug.so", "plug", needs=[(good.parent, "libdep.so")])
    env = dict(masks, LD_LIBRARY_PATH=str(bad.parent))
    argv = [kit.prog(), "dlopen:%s" % plug]
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and "dlopen ok" in base.lines and ran(base, "baddep") == masked, base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    if mode == "audit" or not masked:
        return assert_audit_unchanged(res, base, [bad] if masked else [])
    assert_refused_before_it_ran(res, bad, ["baddep", "plug"], plug)

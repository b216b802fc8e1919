"""The loader facts the resolver computes for this CPU, against ld.so's own account of them, and
the dlopen prediction the shim's preload face will use."""
import os
import pathlib
import re
import subprocess
import sys

import pytest

from execcheck._native import ffi, lib
from execcheck.audit.resolver import Session
from ldfixtures import Tree


def ld_so_help():
    return subprocess.run(["/lib64/ld-linux-x86-64.so.2", "--help"], capture_output=True, text=True).stdout


def test_glibc_hwcaps_levels_are_ld_sos():
    text = ld_so_help()
    block = text.split("Subdirectories of glibc-hwcaps directories, in priority order:")[1].split("\n\n")[0]
    supported = [l.split()[0] for l in block.strip().splitlines() if "supported" in l]
    ours = [c.split("/")[1] for c in Session().capstrs() if c.startswith("glibc-hwcaps/")]
    assert ours == supported


def test_platform_is_ld_sos():
    text = ld_so_help()
    m = re.search(r"^\s+(\S+) \(AT_PLATFORM; supported, searched\)", text, re.M)
    h = ffi.new("struct ec_ld_host *")
    lib.ec_ld_host_probe(h)
    if m:  # not Intel: the kernel's AT_PLATFORM
        assert Session().platform == m.group(1) == ffi.string(h.platform).decode()
    else:
        assert Session().platform in ("haswell", "xeon_phi")


def test_every_subdirectory_in_ld_sos_order(tmp_path):
    """The full list, as LD_DEBUG=libs prints it for a RUNPATH directory that does not exist."""
    t = Tree(tmp_path / "fx")
    lib_ = t.lib("d/libq.so", "q", soname="libq.so")
    prog = t.prog("prog", needed=[lib_], runpath="/nonexistent-execcheck-dir")
    r = subprocess.run([str(prog)], env={"LD_DEBUG": "libs", "PATH": "/usr/bin"}, capture_output=True, text=True)
    line = [l for l in r.stderr.splitlines() if "search path=" in l and "RUNPATH" in l][0]
    paths = line.split("search path=")[1].split("\t")[0].split(":")
    prefix = "/nonexistent-execcheck-dir/"
    theirs = [p[len(prefix):] + "/" if p != prefix[:-1] else "" for p in paths]
    assert Session().capstrs() == theirs


def test_dlopen_prediction_for_a_live_process(tmp_path):
    """What a dlopen(name) from a library would load, given the process's link map: the caller's
    RUNPATH applies, objects already loaded are reused, the new object's dependencies follow."""
    t = Tree(tmp_path / "fx")
    dep = t.lib("plug/libdep.so", "dep", soname="libdep.so")
    t.lib("plug/libplugin.so", "plugin", soname="libplugin.so", needed=[dep], runpath="$ORIGIN")
    host = t.lib("app/libhost.so", "host", soname="libhost.so", runpath=str(t.p("plug")))
    prog = t.prog("app/prog", needed=[host], runpath=str(t.p("app")))
    s = Session()
    start = s.resolve(str(prog))
    loaded = [o.path for o in start.objects if o.kind not in ("missing",)]
    caller = [i for i, o in enumerate(start.objects) if o.name == "libhost.so"][0]
    res = s.predict_dlopen(str(prog), loaded, "libplugin.so", caller=caller)
    new = res.objects[res.first_new:]
    assert [os.path.basename(o.path) for o in new] == ["libplugin.so", "libdep.so"]
    # the name is the caller's string: the result still reads it after the call
    assert new[0].name == "libplugin.so" and res.edges[0].name == res.edges[0].expanded == "libplugin.so"
    assert [o.kind for o in new] == ["dlopen", "needed"]
    assert res.edges[0].via == "runpath" and res.objects[res.edges[0].via_object].name == "libhost.so"
    # from the program instead, libhost's RUNPATH does not apply: not found
    res2 = s.predict_dlopen(str(prog), loaded, "libplugin.so", caller=0)
    assert res2.edges[0].error == "not-found"
    # a name already loaded is not searched again
    res3 = s.predict_dlopen(str(prog), loaded, "libhost.so", caller=0)
    assert res3.edges[0].via == "loaded" and res3.edges[0].target == caller
    # and what a real dlopen does agrees (a tiny C program that dlopens from libhost's RUNPATH)
    src = t.base / "dl.c"
    src.write_text('#include <dlfcn.h>\n#include <stdio.h>\nint main(int c, char **v){ void *h = dlopen(v[1], RTLD_NOW);'
                   ' fprintf(stderr, "RESULT %s\\n", h ? "ok" : dlerror()); return !h; }\n')
    dl = t.base / "dlprog"
    subprocess.run(["cc", "-o", str(dl), str(src), "-ldl"], check=True)
    r = subprocess.run([str(dl), "libplugin.so"], capture_output=True, text=True)
    assert "RESULT" in r.stderr and r.returncode == 1  # from the program: not found, as predicted
    res4 = s.predict_dlopen(str(dl), [o.path for o in s.resolve(str(dl)).objects], "libplugin.so")
    assert res4.edges[0].error == "not-found"


def test_dlopen_prediction_matches_a_real_dlopen_from_a_library(tmp_path):
    """libhost calls dlopen("libplugin.so"): its RUNPATH is searched (glibc finds the caller by
    return address); the constructors that run are those of what the prediction adds."""
    t = Tree(tmp_path / "fx")
    dep = t.lib("plug/libdep.so", "dep", soname="libdep.so")
    t.lib("plug/libplugin.so", "plugin", soname="libplugin.so", needed=[dep], runpath="$ORIGIN")
    src = t.base / "host.c"
    src.write_text('#include <dlfcn.h>\nvoid *host_open(const char *n) { return dlopen(n, RTLD_NOW); }\n')
    host = t.p("app/libhost.so")
    host.parent.mkdir(parents=True)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(host), str(src), "-Wl,-soname,libhost.so", "-ldl",
                    "-Wl,--enable-new-dtags", "-Wl,-rpath," + str(t.p("plug"))], check=True)
    main = t.base / "main.c"
    main.write_text('#include <stdio.h>\nvoid *host_open(const char *);\n'
                    'int main(int c, char **v){ fprintf(stderr, "RESULT %s\\n", host_open(v[1]) ? "ok" : "fail");'
                    ' return 0; }\n')
    prog = t.p("app/prog")
    subprocess.run(["cc", "-o", str(prog), str(main), str(host), "-Wl,--enable-new-dtags", "-Wl,-rpath," +
                    str(t.p("app"))], check=True)
    r = subprocess.run([str(prog), "libplugin.so"], capture_output=True, text=True)
    ran = [l[7:] for l in r.stderr.splitlines() if l.startswith("LOADED ")]
    assert "RESULT ok" in r.stderr
    s = Session()
    start = s.resolve(str(prog))
    loaded = [o.path for o in start.objects]
    caller = [i for i, o in enumerate(start.objects) if o.name == "libhost.so"][0]
    res = s.predict_dlopen(str(prog), loaded, "libplugin.so", caller=caller)
    added = [t.tag_of(o.realpath) for o in res.objects[res.first_new:]]
    assert sorted(added) == sorted(ran) == ["dep", "plugin"]


def test_dlopen_prediction_takes_a_relative_name_from_where_it_was_loaded(tmp_path):
    """An object loaded by a relative name ("./app/libhost.so") has the $ORIGIN of the directory
    current at its load (glibc's _dl_new_object), which the process may have left since: its file
    and origin come from the directory the caller says it was loaded from; a directory not known
    gives no guess, and the result says a search needed it."""
    from execcheck.audit.resolver import CWD_UNTOLD
    t = Tree(tmp_path / "a")
    t.lib("app/plug/libplugin.so", "plugin", soname="libplugin.so")
    t.lib("app/libhost.so", "host", soname="libhost.so", runpath="$ORIGIN/plug")
    s = Session()
    loaded = [o.path for o in s.resolve("/usr/bin/true").objects if o.kind != "missing"] + ["./app/libhost.so"]
    caller = len(loaded) - 1
    assert not (pathlib.Path.cwd() / "app").exists()

    def predict(cwd, name="libplugin.so"):
        return s.predict_dlopen("/usr/bin/true", loaded, name, caller=caller, cwds=[None] * caller + [cwd])

    for name in ("libplugin.so", "$ORIGIN/plug/libplugin.so"):
        here = predict(None, name)  # from the current directory, where there is no ./app
        assert here.edges[0].error == "not-found" and not here.origin_untold, name
        there = predict(str(t.base), name)
        added = there.objects[there.first_new:]
        assert [o.path for o in added] == ["%s/./app/plug/libplugin.so" % t.base], name
        assert there.edges[0].via == ("runpath" if name == "libplugin.so" else "path") and not there.origin_untold
        unknown = predict(CWD_UNTOLD, name)
        assert unknown.origin_untold and unknown.edges[0].error == "not-found", name
    # an object with an absolute name is not affected by what is said of it
    absolute = s.predict_dlopen("/usr/bin/true", loaded[:-1] + [str(t.base / "app/libhost.so")], "libplugin.so",
                                caller=caller, cwds=[None] * caller + [CWD_UNTOLD])
    assert absolute.edges[0].via == "runpath" and not absolute.origin_untold


def test_long_platform_and_names_stay_in_bounds(tmp_path):
    """--platform and names are caller input: candidate paths are sized from them, not guessed."""
    s = Session(platform="p" * 300)
    assert any(c.startswith("tls/" + "p" * 300) for c in s.capstrs())
    res = s.resolve("/usr/bin/true", library_path="%s:%s" % (tmp_path, "d" * 3000), trace=True,
                    preload="x" * 1000 + ".so")
    assert res.starts
    longest = max(len(t[0]) for e in res.edges for t in e.tries)
    assert longest > 3000


OOM_CHILD = r"""
from execcheck._native import ffi, lib
from execcheck.audit.resolver import Session

s = Session(memory_limit=1 << 20)
keep = [ffi.new("char[]", b""), ffi.new("char[]", b"/nonexistent/x.so"), ffi.new("char[]", b"/usr/bin/true")]
req = ffi.new("struct ec_ld_request *")
req.path = keep[2]


def predict(n, caller, name):
    loaded = ffi.new("char *[]", [keep[0]] + [keep[1]] * (n - 1) + [ffi.NULL])
    return lib.ec_ld_predict_dlopen(s._s, req, loaded, ffi.NULL, ffi.NULL, n, caller, name), loaded


# every live object but the program is a new object (no such file), appended to the replayed
# ones: the object array grows at 64 << k objects, where the session's memory runs out
r, _ = predict(2, 1, b"libz.so.1")
assert r.status == 0 and getattr(r.edges[0], "from") > 0
replayed = getattr(r.edges[0], "from")
enomem = 0
for k in range(7):
    edge = (64 << k) - replayed + 1
    for caller in range(max(edge - 2, 1), edge + 3):
        for name in (b"libz.so.1", b"$ORIGIN/libz.so.1"):
            r, _ = predict(6000, caller, name)
            enomem += r.status == -12
            for i in range(r.nedges):
                assert getattr(r.edges[i], "from") >= 0, (name, caller, i)
assert enomem
print("ok")
"""


def test_dlopen_prediction_out_of_memory_among_the_live_objects():
    """The session's memory ends while the prediction adds the process's own objects: ENOMEM, not
    a dlopen attributed to object -1 (whose $ORIGIN was read from before the object array)."""
    r = subprocess.run([sys.executable, "-c", OOM_CHILD], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.startswith("ok"), (r.returncode, r.stdout, r.stderr[-2000:])


def test_a_session_that_cannot_start_gives_its_memory_back(tmp_path):
    """A root that cannot be opened fails the session: the memory it had mapped already goes back
    (each failure kept a 1 MiB mapping before)."""
    def vm_kib():
        with open("/proc/self/status") as f:
            return int(re.search(r"^VmSize:\s+(\d+) kB", f.read(), re.M).group(1))

    missing = str(tmp_path / "no-such-root")
    for _ in range(4):  # warm-up: lazily made things are made
        with pytest.raises(OSError):
            Session(root=missing)
    before = vm_kib()
    for _ in range(64):
        with pytest.raises(OSError):
            Session(root=missing)
    assert vm_kib() - before < 8 * 1024


def test_a_session_without_memory_for_its_platform_fails_cleanly():
    """The configured strings are copied into the session's bounded memory: a $PLATFORM that does
    not fit fails the session with ENOMEM (the subdirectory list read it before the check)."""
    code = ("from execcheck.audit.resolver import Session\n"
            "try:\n    Session(memory_limit=1 << 20, platform='p' * (1 << 20))\n"
            "except OSError as e:\n    print(e.errno)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "12", (r.returncode, r.stdout, r.stderr[-2000:])


def test_dlopen_prediction_without_memory_for_an_extra_name():
    """An extra name of a live object that does not fit in the session's memory: ENOMEM, where
    the name list was compared with the NULL of the failed copy."""
    code = ("from execcheck.audit.resolver import Session\n"
            "s = Session(memory_limit=1 << 20)\n"
            "r = s.predict_dlopen('/usr/bin/true', ['', '/nonexistent/x.so'], 'libz.so.1', caller=1,\n"
            "                     names=[None, 'n' * (1 << 20)])\n"
            "print(r.status)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip() == "-12", (r.returncode, r.stdout, r.stderr[-2000:])


def test_relative_names_from_a_directory_outside_the_root(tmp_path):
    """A process whose directory lies outside its root (chroot without chdir: getcwd says
    "(unreachable)/..."). The session took that answer for a path, so a relative name was looked
    up under a directory "(unreachable)" and never found, where ld.so opens it from the process's
    directory (the dlopen guard then handed it to glibc unchecked). The name now stays relative,
    and its $ORIGIN is unknown, as glibc's getcwd fails there too."""
    (tmp_path / "root").mkdir()
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "prog").write_bytes(pathlib.Path("/bin/true").read_bytes())
    code = ("import os, sys; from execcheck.audit.resolver import Session; os.chdir(sys.argv[2]); "
            "os.chroot(sys.argv[1]); s = Session(); print(s.elf('./prog').machine, s.resolve('./prog').main_status)")
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "root"), str(tmp_path / "here")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ["62", "interp-missing"], r

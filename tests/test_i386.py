"""32-bit programs (i386 on x86_64): the 32-bit build of the shim, and the $LIB entry that gives
each program's ld.so the shim of its own class.

A 32-bit ld.so cannot load the 64-bit shim ("wrong ELF class ... ignored") and ran such programs
unchecked. Here every case of the faces that matters for a class of its own runs with 32-bit test
programs and libraries (built with gcc -m32 in the test's tmp dir): the audit face's decisions in
the three policy modes, the preload face's tripwire and dlopen guard (whose loader model is the
i386 one), threads (the check from a child, the i386 clone stub), and propagation across classes
through `execcheck run` and a 64-bit shell."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

import execcheck
import execcheck.image.install
import execcheck.image.ldconf
from audit_face_util import Kit, clean_env, mode, ran, run_face  # noqa: F401 (fixtures)
import rootfs
from conftest import C_DIR, in_mountns, loader_says, need_check, need_mountns, run
from ldtruth import predicted, trace
from rootfs import in_image
from execcheck.shim import I386_LOADER, lib_path, multilib_path
from test_audit_face import SYSLOG_RECEIVER, assert_audit_unchanged, assert_refused

SHIM32 = lib_path("i386")
SHIM64 = lib_path()
CLI = [sys.executable, "-m", "execcheck"]


def _can_build_32():
    r = subprocess.run(["cc", "-m32", "-x", "c", "-", "-o", "/dev/null"], input="int main(void){return 0;}\n",
                       capture_output=True, text=True)
    return r.returncode == 0


@pytest.fixture(autouse=True)
def _i386():
    need_check()
    if not os.path.exists(I386_LOADER):
        pytest.skip("no 32-bit loader here (%s: libc6-i386)" % I386_LOADER)
    if not _can_build_32():
        pytest.skip("cc -m32 cannot build programs here (gcc-multilib)")
    assert os.path.exists(SHIM32), "a 32-bit loader and compiler are here, so the build makes the 32-bit shim"


class Kit32(Kit):
    def _cc(self, out, *args):
        return super()._cc(out, "-m32", *args)


@pytest.fixture
def kit(tmp_path):
    return Kit32(tmp_path)


def _dst_lib(loader):
    return loader_says(subprocess.run([loader, "--list-diagnostics"], capture_output=True, text=True).stdout)[1]


def test_the_32_bit_shim_and_the_lib_entry():
    with open(SHIM32, "rb") as f:
        elf = ELFFile(f)
        assert (elf.elfclass, elf["e_machine"]) == (32, "EM_386")
        dyn = elf.get_section_by_name(".dynamic")
        assert not [t for t in dyn.iter_tags() if t.entry.d_tag == "DT_NEEDED"]  # no libc of its own
        assert elf.get_section_by_name(".dynsym").get_symbol_by_name("la_version")
    template = multilib_path()
    assert template and template.endswith("/$LIB/libexeccheck.so")
    # what each class's ld.so makes of $LIB is where that class's shim is
    assert template.replace("$LIB", _dst_lib("/lib64/ld-linux-x86-64.so.2")) == SHIM64
    assert template.replace("$LIB", _dst_lib(I386_LOADER)) == SHIM32
    r = run(CLI + ["lib", "--multilib"])
    assert (r.returncode, r.stdout) == (0, template + "\n")
    r = run(CLI + ["lib", "--i386"])
    assert (r.returncode, r.stdout) == (0, SHIM32 + "\n")




def test_dt_needed_bad_library(kit, tmp_path, mode):
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    prog = kit.prog(needs=[(bad.parent, "libbad.so")], runpath="$ORIGIN/../lib")
    base = run_face("off", [prog], tmp_path)
    assert base.rc == 0 and ran(base, "bad") and "main" in base.lines
    res = run_face(mode, [prog], tmp_path, audit=SHIM32)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 127 and res.out == "", res
    assert_refused(res, bad)


@pytest.mark.parametrize("how", ["path", "name"])
def test_dlopen_bad_library(kit, tmp_path, mode, how):
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    good = kit.lib("lib/libgood.so", "good")
    prog = kit.prog(runpath="$ORIGIN/../lib")
    args = [prog] + ["dlopen:" + (str(p) if how == "path" else p.name) for p in (bad, good)]
    base = run_face("off", args, tmp_path)
    assert base.rc == 0 and ran(base, "bad") and ran(base, "good")
    res = run_face(mode, args, tmp_path, audit=SHIM32)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [bad])
    assert res.rc == 0 and not ran(res, "bad") and ran(res, "good"), res
    assert any(l.startswith("dlopen") and "failed" in l and "libbad.so" in l for l in res.lines), res
    assert_refused(res, bad)


def test_ld_preload_bad_library(kit, tmp_path, mode):
    pre = kit.lib("pre/libpre.so", "pre", mode=0o644)
    prog = kit.prog()
    env = {"LD_PRELOAD": str(pre)}
    base = run_face("off", [prog], tmp_path, env=env)
    assert base.rc == 0 and ran(base, "pre")
    res = run_face(mode, [prog], tmp_path, env=env, audit=SHIM32)
    if mode == "audit":
        return assert_audit_unchanged(res, base, [pre])
    assert res.rc == 0 and not ran(res, "pre") and res.lines == ["main", "end"], res
    assert_refused(res, pre)


def test_preload_face_tripwire(kit, tmp_path):
    """LD_PRELOAD="bad.so shim" with the preload face alone: main() never runs."""
    bad = kit.lib("pre/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    res = run_face("secbits", [prog], tmp_path, preload="%s %s" % (bad, SHIM32))
    assert res.rc == 126 and "main" not in res.lines, res
    assert any(str(bad) in l for l in res.refused_lines()), res


def test_preload_face_dlopen_guard(kit, tmp_path, mode):
    """The guard's own prediction, with the i386 loader model: by name through the program's
    RUNPATH, the library's bad dependency through its RUNPATH, and libc's cache."""
    dep = kit.lib("dep/libdep.so", "dep", mode=0o644, fn="dep_fn")
    top = kit.lib("sub/libtop.so", "top", calls="dep_fn", needs=[(dep.parent, "libdep.so")],
                  runpath="$ORIGIN/../dep")
    alone = kit.lib("sub/libalone.so", "alone")
    prog = kit.prog(runpath="$ORIGIN/../sub")
    args = [prog, "dlopen:libalone.so", "dlopen:libtop.so", "dlopen:libc.so.6"]
    base = run_face("off", args, tmp_path)
    assert base.rc == 0 and ran(base, "dep") and ran(base, "top") and ran(base, "alone"), base
    res = run_face(mode, args, tmp_path, preload=SHIM32)
    if mode == "audit":
        assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), (res, base)
        assert [(r["face"], r["action"]) for r in res.records_for(dep)] == [("preload", "logged")], res
        return
    assert res.rc == 0 and ran(res, "alone") and not ran(res, "dep") and not ran(res, "top"), res
    outcomes = [l.split(":")[0] for l in res.lines if l.startswith("dlopen")]
    assert outcomes == ["dlopen ok", "dlopen failed", "dlopen ok"], res
    assert_refused(res, dep, face="preload")
    assert res.records_for(top) == []


@pytest.mark.parametrize("face", ["audit", "preload"])
def test_threads_load_and_refuse(kit, tmp_path, face):
    """8 threads dlopen/dlclose a good and a bad library: every good load works, every bad one is
    refused, no descriptor is left; a process with threads checks from a child (the i386 stub)."""
    good = kit.lib("lib/libgood.so", "good")
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    kw = {"audit": SHIM32} if face == "audit" else {"preload": SHIM32}
    for lib, want in ((good, "threads ok=400 failed=0"), (bad, "threads ok=0 failed=400")):
        res = run_face("secbits", [prog, "fds", "threads:8:50:%s" % lib, "fds"], tmp_path, **kw)
        assert res.rc == 0 and want in res.lines, res
        fds = [l for l in res.lines if l.startswith("fds")]
        assert len(fds) == 2 and fds[0] == fds[1], res


def _prog_with_bad_preload_constructor(kit):
    bad = kit.lib("pre/libbad.so", "bad", mode=0o644)
    return kit.prog(), bad


def test_execcheck_run_starts_both_classes_under_their_shim(kit, tmp_path):
    """`execcheck run` names the shim through $LIB: a 32-bit program it starts, and a 32-bit one
    a 64-bit shell starts (with env -i too), each run under the 32-bit audit face, which refuses
    a bad LD_PRELOAD entry before its constructor; a 64-bit program the same under its own."""
    prog32, bad32 = _prog_with_bad_preload_constructor(kit)
    k64 = Kit(tmp_path / "k64")
    prog64 = k64.prog()
    bad64 = k64.lib("pre/libbad.so", "bad", mode=0o644)
    env = clean_env({"EXECCHECK_FILES": "enforce"})
    direct = run(CLI + ["run", "--", "env", "LD_PRELOAD=%s" % bad32, str(prog32)], env=env)
    assert direct.returncode == 0 and "main" in direct.stdout.split() and not ran(direct.stdout.split("\n"), "bad"), direct
    assert "refused to load %s" % bad32 in direct.stderr and "wrong ELF class" not in direct.stderr, direct
    script = ('LD_PRELOAD=%s %s; echo "rc32=$?"; LD_PRELOAD=%s %s; echo "rc64=$?"; '
              'env -i LD_PRELOAD=%s EXECCHECK_FILES=enforce %s; echo "rc32i=$?"; '
              'echo "LD_AUDIT=$LD_AUDIT"; echo "LD_PRELOAD=$LD_PRELOAD"'
              % (bad32, prog32, bad64, prog64, bad32, prog32))
    r = run(CLI + ["run", "--", "sh", "-c", script], env=env)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and not ran(lines, "bad"), r
    assert lines.count("main") == 3 and {"rc32=0", "rc64=0", "rc32i=0"} <= set(lines), r
    assert r.stderr.count("execcheck: refused to load") == 3 and "wrong ELF class" not in r.stderr, r
    template = multilib_path()
    assert "LD_AUDIT=%s" % template in lines and "LD_PRELOAD=%s" % template in lines, r


def test_the_lib_entry_survives_libc_found_by_another_name(kit, tmp_path):
    """The shell's libc found through LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu is named by that
    path, but ld.so's $LIB is still lib/x86_64-linux-gnu: the shell's children keep the $LIB entry,
    so a 32-bit grandchild runs under its own shim (it was given the 64-bit path: "wrong ELF
    class ... ignored", and its injected LD_PRELOAD ran)."""
    usr_dir = "/usr/lib/x86_64-linux-gnu"
    if not os.path.exists(usr_dir + "/libc.so.6"):
        pytest.skip("no %s/libc.so.6 (not a Debian multiarch x86_64 layout)" % usr_dir)
    prog32, bad32 = _prog_with_bad_preload_constructor(kit)
    env = clean_env({"EXECCHECK_FILES": "enforce", "LD_LIBRARY_PATH": usr_dir})
    script = ('LD_PRELOAD=%s %s; echo "rc32=$?"; env -u LD_AUDIT LD_PRELOAD=%s %s; echo "rc32u=$?"; '
              'echo "LD_AUDIT=$LD_AUDIT"' % (bad32, prog32, bad32, prog32))
    r = run(CLI + ["run", "--", "sh", "-c", script], env=env)
    lines = r.stdout.splitlines()
    assert "LD_AUDIT=%s" % multilib_path() in lines, r
    assert r.returncode == 0 and not ran(lines, "bad") and lines.count("main") == 2, r
    assert {"rc32=0", "rc32u=0"} <= set(lines), r
    assert r.stderr.count("execcheck: refused to load %s" % bad32) == 2 and "wrong ELF class" not in r.stderr, r


def test_execcheck_run_restrict_file_32_bit(kit, tmp_path):
    """Under SECBIT_EXEC_RESTRICT_FILE set by `execcheck run`, a 32-bit program's dlopen of a 0644
    library fails with execcheck's reason; its good library loads."""
    good = kit.lib("lib/libgood.so", "good")
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    r = run(CLI + ["run", "--restrict-file", "--", str(prog), "dlopen:%s" % bad, "dlopen:%s" % good],
            env=clean_env())
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and not ran(lines, "bad") and ran(lines, "good"), r
    assert any("failed" in l and "execcheck refused" in l for l in lines if "libbad" in l), r


def test_status_names_the_32_bit_shim_and_a_64_bit_only_entry():
    r = run(CLI + ["status"], env=clean_env({"LD_PRELOAD": SHIM64}))
    assert "32-bit shim     %s" % SHIM32 in r.stdout, r
    assert "32-bit programs started from here run unchecked" in r.stdout, r
    r = run(CLI + ["status"], env=clean_env({"LD_PRELOAD": multilib_path()}))
    assert "32-bit programs" not in r.stdout.split("not covered", 1)[-1] and "missing" not in r.stdout, r


def test_records_reach_syslog(kit, tmp_path):
    """The syslog sink from a 32-bit process (the i386 socket calls): one datagram per record."""
    need_mountns()
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    receiver = tmp_path / "receiver.py"
    receiver.write_text(SYSLOG_RECEIVER)
    r = in_mountns('mount -t tmpfs -o mode=0755 tmpfs /dev; exec "$@"', sys.executable, receiver,
                   prog, "dlopen:%s" % bad, env=clean_env({"LD_AUDIT": SHIM32}))
    assert r.returncode == 0 and "rc 0" in r.stdout.splitlines(), r
    grams = [l[len("DATAGRAM "):] for l in r.stdout.splitlines() if l.startswith("DATAGRAM ")]
    assert len(grams) == 1 and grams[0].startswith("<84>execcheck["), grams
    rec = json.loads(grams[0].split(": ", 1)[1])
    assert (rec["path"], rec["action"], rec["face"]) == (str(bad), "logged", "audit"), rec


def test_an_image_with_a_32_bit_libc(tmp_path):
    """`image install` into an image that has a 32-bit libc (here the host's libc6-i386, copied
    in): both shims beside their libcs, one $LIB entry in /etc/ld.so.preload; in the image (chroot,
    enforcing) a 32-bit program runs under its shim and a 0644 library injected into it never
    runs; verify finds the shims sound; uninstall leaves the image as it was."""
    need_mountns()
    root = str(tmp_path / "root")
    rootfs.build(root, python=False)
    for f in ("/usr/lib32/libc.so.6", I386_LOADER):
        rootfs.copy_in(root, f)
    kit = Kit32(tmp_path / "kit")
    kit.dir.mkdir(parents=True)
    (kit.dir / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("hello32"); return 0; }\n')
    hello = kit._cc("hello32", kit.dir / "hello.c")
    inject = kit.lib("evil/libinject.so", "INJECT")
    shutil.copy2(hello, os.path.join(root, "usr/bin/hello32"))
    os.makedirs(os.path.join(root, "var/tmp"), exist_ok=True)
    shutil.copy2(inject, os.path.join(root, "var/tmp/libinject.so"))
    os.chmod(os.path.join(root, "var/tmp/libinject.so"), 0o644)
    os.makedirs(os.path.join(root, "var/log"), exist_ok=True)
    before = rootfs.listing(root)
    r = run(CLI + ["image", "install", "--enforce", root])
    assert r.returncode == 0 and "/usr/lib32/libexeccheck.so, as /usr/$LIB/libexeccheck.so" in r.stderr, r
    with open(os.path.join(root, "etc/ld.so.preload")) as f:
        assert f.read() == "/usr/$LIB/libexeccheck.so\n"
    for path, want in (("usr/lib/x86_64-linux-gnu/libexeccheck.so", SHIM64), ("usr/lib32/libexeccheck.so", SHIM32)):
        with open(os.path.join(root, path), "rb") as a, open(want, "rb") as b:
            assert a.read() == b.read(), path
    r, records = in_image(root, "hello32; echo rc=$?; LD_PRELOAD=/var/tmp/libinject.so hello32; echo rc=$?; "
                                "echo \"$LD_AUDIT\"")
    lines = r.stdout.splitlines()
    assert lines[:2] == ["hello32", "rc=0"] and not ran(lines, "INJECT"), r
    assert lines[-1] == "/usr/$LIB/libexeccheck.so" and "wrong ELF class" not in r.stderr, r
    assert [(x["path"], x["action"]) for x in records] == [("/var/tmp/libinject.so", "refused")], records
    r = run(CLI + ["image", "verify", "--json", root])
    assert json.loads(r.stdout)["shim_problems"] == [], r.stdout
    assert run(CLI + ["image", "uninstall", root]).returncode == 0
    assert rootfs.listing(root) == before
    # changed since install: uninstall takes out only the $LIB entry
    assert run(CLI + ["image", "install", root]).returncode == 0
    with open(os.path.join(root, "etc/ld.so.preload"), "a") as f:
        f.write("/usr/lib/x86_64-linux-gnu/libz.so.1\n")
    r = run(CLI + ["image", "uninstall", root])
    assert r.returncode == 0 and "removed only the shim's entry" in r.stderr, r
    with open(os.path.join(root, "etc/ld.so.preload")) as f:
        assert f.read() == "/usr/lib/x86_64-linux-gnu/libz.so.1\n"
    # named by its 64-bit path in such an image, the shim leaves 32-bit programs unchecked: verify says so
    assert run(CLI + ["image", "install", root]).returncode == 0
    with open(os.path.join(root, "etc/ld.so.preload"), "w") as f:
        f.write("/usr/lib/x86_64-linux-gnu/libexeccheck.so\n")
    problems = json.loads(run(CLI + ["image", "verify", "--json", root]).stdout)["shim_problems"]
    assert any("32-bit programs would run unchecked" in p for p in problems), problems


def test_a_32_bit_libc_where_only_its_loader_looks(tmp_path):
    """An image whose 32-bit libc is in /usr/lib (as Fedora keeps glibc.i686), found there by its
    32-bit ld.so's own last directories, none of Debian's places: install gives it the 32-bit shim
    where that loader expands /usr/$LIB (Debian's biarch loader here: $LIB is lib32), so a 32-bit
    program runs under it and an injected library never runs. Install looked only in Debian's
    places, found no 32-bit libc, and left 32-bit programs unchecked without a word."""
    need_mountns()
    root = str(tmp_path / "root")
    rootfs.build(root, python=False)
    shutil.copy2(I386_LOADER, os.path.join(root, I386_LOADER.lstrip("/")))  # the file, not Debian's links
    shutil.copy2("/usr/lib32/libc.so.6", os.path.join(root, "usr/lib/libc.so.6"))
    assert not any(os.path.exists(os.path.join(root, d.lstrip("/")))
                   for d in execcheck.image.ldconf.I386_LIBC_DIRS), "the test is about a libc outside them"
    kit = Kit32(tmp_path / "kit")
    kit.dir.mkdir(parents=True)
    (kit.dir / "hello.c").write_text('#include <stdio.h>\nint main(void) { puts("hello32"); return 0; }\n')
    shutil.copy2(kit._cc("hello32", kit.dir / "hello.c"), os.path.join(root, "usr/bin/hello32"))
    os.makedirs(os.path.join(root, "var/tmp"), exist_ok=True)
    shutil.copy2(kit.lib("evil/libinject.so", "INJECT"), os.path.join(root, "var/tmp/libinject.so"))
    os.chmod(os.path.join(root, "var/tmp/libinject.so"), 0o644)
    os.makedirs(os.path.join(root, "var/log"), exist_ok=True)
    before = rootfs.listing(root)
    r = run(CLI + ["image", "install", "--enforce", root])
    assert r.returncode == 0 and "/usr/lib32/libexeccheck.so, as /usr/$LIB/libexeccheck.so" in r.stderr, r
    with open(os.path.join(root, "usr/lib32/libexeccheck.so"), "rb") as a, open(SHIM32, "rb") as b:
        assert a.read() == b.read()
    r, records = in_image(root, "hello32; echo rc=$?; LD_PRELOAD=/var/tmp/libinject.so hello32; echo rc=$?")
    lines = r.stdout.splitlines()
    assert lines == ["hello32", "rc=0", "hello32", "rc=0"] and "wrong ELF class" not in r.stderr, r
    assert [(x["path"], x["action"]) for x in records] == [("/var/tmp/libinject.so", "refused")], records
    r = run(CLI + ["image", "verify", "--json", root])
    assert json.loads(r.stdout)["shim_problems"] == [], r.stdout
    assert run(CLI + ["image", "uninstall", root]).returncode == 0
    assert rootfs.listing(root) == before  # /usr/lib32, made by install, is gone again


def test_a_debian_i386_image(tmp_path_factory, tmp_path):
    """A Debian i386 root (debootstrap --arch=i386: multiarch /usr/lib/i386-linux-gnu, 32-bit
    CPython 3.11), prepared and installed (the 32-bit shim is its shim), enforcing with interactive
    code denied, run in a chroot: an executable script runs, a 0644 one is refused as a script and
    as an import, -c is refused, a library injected into CPython never runs."""
    root = rootfs.debootstrap(tmp_path_factory, "bookworm", arch="i386")
    files = {"root/ok.py": ("#!/usr/bin/python3\nprint('SCRIPT ok')\n", 0o755),
             "root/bad.py": ("print('SCRIPT bad')\n", 0o644),
             "root/imp.py": ("import bad\n", 0o755)}
    for rel, (text, mode) in files.items():
        with open(os.path.join(root, rel), "w") as f:
            f.write(text)
        os.chmod(os.path.join(root, rel), mode)
    inject = Kit32(tmp_path).lib("evil/libinject.so", "INJECT")
    shutil.copy2(inject, os.path.join(root, "var/tmp/libinject.so"))
    os.chmod(os.path.join(root, "var/tmp/libinject.so"), 0o644)
    for args in (["prepare", "--apply"], ["install", "--enforce", "--deny-interactive"]):
        r = run(CLI + ["image"] + args + [root])
        assert r.returncode == 0, r
    with open(os.path.join(root, "etc/ld.so.preload")) as f:
        assert f.read() == "/usr/lib/i386-linux-gnu/libexeccheck.so\n"  # no 64-bit libc here: no $LIB entry
    with open(os.path.join(root, "usr/lib/i386-linux-gnu/libexeccheck.so"), "rb") as a, open(SHIM32, "rb") as b:
        assert a.read() == b.read()
    r, records = in_image(root, "cd /root; for c in 'python3 ok.py' 'python3 bad.py' 'python3 imp.py' "
                                "'python3 -c pass' ./ok.py 'env LD_PRELOAD=/var/tmp/libinject.so python3 ok.py'; "
                                "do $c; echo \"rc=$?\"; done")
    lines = r.stdout.splitlines()
    assert [l for l in lines if l.startswith("rc=")] == ["rc=0", "rc=126", "rc=1", "rc=126", "rc=0", "rc=0"], r
    assert lines.count("SCRIPT ok") == 3 and "SCRIPT bad" not in lines and not ran(lines, "INJECT"), r
    assert "refused to run /root/bad.py" in r.stderr and "refused to import /root/bad.py" in r.stderr, r
    assert "python -c" in r.stderr and "refused to load /var/tmp/libinject.so" in r.stderr, r
    assert {(x["path"], x["action"]) for x in records} >= {("/root/bad.py", "refused"),
                                                          ("/var/tmp/libinject.so", "refused")}, records
    r = run(CLI + ["image", "verify", "--json", root])
    v = json.loads(r.stdout)  # the messages below are its whole text: pytest cuts a dict's repr short
    assert v["shim_problems"] == [] and v["not_audited_machine"] is None and v["code_files"] > 100, r.stdout
    assert v["ready"], r.stdout  # prepared: every library and Python file its programs use passes
    assert run(CLI + ["image", "uninstall", root]).returncode == 0
    assert not os.path.exists(os.path.join(root, "usr/lib/i386-linux-gnu/libexeccheck.so"))


def _traced32(argv, env=None):
    """ld.so's own link map of a 32-bit program, without the vDSO and ld.so (ldtruth.trace)."""
    entries, rc, err = trace(argv, env=env)
    assert rc == 0, err
    return [e for e in entries if e[0] != "linux-gate.so.1" and not e[0].startswith("/lib/ld-linux")]


def _predicted32(session, path, **kw):
    res = session.resolve(str(path), **kw)
    assert res.status == 0 and res.main_status == "ok", res
    return [e for e in predicted(res) if e[0] != "linux-gate.so.1" and not e[0].startswith("/lib/ld-linux")]


def test_the_i386_loader_model_matches_ld_so(kit, tmp_path):
    """The resolver with machine=i386 (what `execcheck audit` uses for 32-bit programs and the
    32-bit shim's guard for its own process) against the 32-bit ld.so's own link map: RUNPATH with
    $ORIGIN and $LIB, a dependency's RUNPATH, the legacy i686/sse2 subdirectories of glibc 2.36, a
    64-bit copy skipped for its class, LD_LIBRARY_PATH, and ld.so.cache (libm)."""
    from execcheck.audit.resolver import Session
    lib32 = _dst_lib(I386_LOADER)
    dep = kit.lib("%s/libdep.so" % lib32, "dep", fn="dep_fn")  # found through $ORIGIN/../$LIB
    kit.lib("sub/i686/libsub.so", "sub-i686")  # legacy platform subdirectory: ld.so 2.36 prefers it
    kit.lib("sub/libsub.so", "sub")
    Kit(tmp_path / "k64").lib("first/libfirst.so", "first-64")  # wrong class: skipped
    os.makedirs(tmp_path / "first", exist_ok=True)
    shutil.copy2(tmp_path / "k64" / "first" / "libfirst.so", tmp_path / "first" / "libfirst.so")
    kit.lib("second/libfirst.so", "first-32")
    top = kit.lib("top/libtop.so", "top", calls="dep_fn", needs=[(dep.parent, "libdep.so")],
                  runpath="$ORIGIN/../$LIB")
    prog = kit._cc("bin/prog", C_DIR / "audit_prog.c", "-DNEEDS", "-Wl,--no-as-needed", "-L%s" % top.parent,
                   "-l:libtop.so",
                   "-L%s" % (tmp_path / "sub"), "-l:libsub.so", "-L%s" % (tmp_path / "second"), "-l:libfirst.so",
                   "-lm", "-Wl,-rpath-link,%s" % dep.parent, "-Wl,--enable-new-dtags,-rpath,$ORIGIN/../top:%s:%s:%s" % (
                       tmp_path / "sub", tmp_path / "first", tmp_path / "second"))
    session = Session(machine=3)  # its directories and $LIB from /lib/ld-linux.so.2 itself
    assert session.lib_dir == lib32 and session.system_dirs() == ["/" + lib32, "/usr/" + lib32, "/lib", "/usr/lib"]
    truth = _traced32([str(prog)])
    assert ("libsub.so", str(tmp_path / "sub" / "i686" / "libsub.so")) in truth  # the case is what it claims
    assert ("libfirst.so", str(tmp_path / "second" / "libfirst.so")) in truth
    assert _predicted32(session, prog) == truth
    # LD_LIBRARY_PATH look-alike of libdep.so, before the RUNPATH
    look = kit.lib("look/libdep.so", "look", fn="dep_fn")
    env = {"LD_LIBRARY_PATH": str(look.parent)}
    truth = _traced32([str(prog)], env=env)
    assert ("libdep.so", str(look)) in truth
    assert _predicted32(session, prog, library_path=str(look.parent)) == truth


def test_audit_of_32_bit_programs(kit, tmp_path):
    """`execcheck audit` resolves a 32-bit program with the i386 loader's rules: its 0644
    dependency is an exec-denied finding, its libc the 32-bit one, and the report says which rules."""
    bad = kit.lib("lib/libbad.so", "bad", mode=0o644)
    prog = kit.prog(needs=[(bad.parent, "libbad.so")], runpath="$ORIGIN/../lib")
    r = run(CLI + ["audit", "--json", "--fail-on", "none", str(prog)])
    doc = json.loads(r.stdout)
    assert [(f["rule"], f["path"]) for f in doc["findings"] if f["rule"] in ("exec-denied", "foreign-program")] == \
        [("exec-denied", str(bad))], doc["findings"]
    assert doc["inputs"][str(prog)] == "program:ok" and doc["loader"]["i386"]["platform"] == "i686", doc
    r = run(CLI + ["audit", "--tree", "--fail-on", "none", str(prog)])
    assert "32-bit programs: the i386 loader's rules" in r.stdout, r.stdout
    libc = r.stdout.split("libc.so.6 => ", 1)[1].split()[0]
    with open(libc, "rb") as f:
        assert f.read(5)[4] == 1, libc  # ELFCLASS32: the 32-bit libc


def test_lib_in_a_32_bit_runpath_is_the_32_bit_loaders(kit, tmp_path):
    """An RPATH/RUNPATH element with $LIB is judged as the object's own loader expands it: in an
    image with a biarch 32-bit libc, where /opt/x/lib32 is world-writable and /opt/x/lib/x86_64-linux-gnu is not, a 32-bit
    library with RUNPATH /opt/x/$LIB is an rpath-insecure-dir finding, the same 64-bit one not."""
    root = tmp_path / "root"
    host32 = execcheck.image.install.find_libc32("/")  # the image's 32-bit libc: this machine's
    rootfs.copy_in(str(root), host32 + "/libc.so.6")
    rootfs.copy_in(str(root), I386_LOADER)  # whose own list of directories gives $LIB
    lib32 = execcheck.image.ldconf.lib_token(host32)
    for d, mode in (("opt/x/" + lib32, 0o777), ("opt/x/lib/x86_64-linux-gnu", 0o755), ("opt/app", 0o755)):
        (root / d).mkdir(parents=True, exist_ok=True)
        os.chmod(root / d, mode)
    for k, name in ((kit, "lib32.so"), (Kit(tmp_path / "k64"), "lib64.so")):
        built = k.lib("b/" + name, name, runpath="/opt/x/$LIB")
        shutil.copy2(built, root / "opt/app" / name)
    doc = json.loads(run(CLI + ["audit", "--root", str(root), "--json", "--fail-on", "none",
                                "/opt/app/lib32.so", "/opt/app/lib64.so"]).stdout)
    insecure = [(f["path"], f["message"]) for f in doc["findings"] if f["rule"] == "rpath-insecure-dir"]
    assert [p for p, _ in insecure] == ["/opt/app/lib32.so"], insecure
    assert "/opt/x/%s" % lib32 in insecure[0][1], insecure


def test_an_install_without_the_32_bit_shim(tmp_path):
    """Built where no 32-bit compiler was (the 32-bit shim missing, the 32-bit loader here): lib
    --i386 and --multilib say so in one line (exit 2), status lists 32-bit programs as unchecked,
    run names the 64-bit shim by its path."""
    pkg = tmp_path / "site" / "execcheck"
    shutil.copytree(os.path.dirname(execcheck.__file__), pkg)
    shutil.rmtree(pkg / "shim" / _dst_lib(I386_LOADER))
    env = dict(clean_env(), PYTHONPATH=str(tmp_path / "site"))
    for flag, words in (("--i386", "32-bit shim was not built"), ("--multilib", "no 32-bit shim was built")):
        r = run(CLI + ["lib", flag], env=env)
        assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1 and words in r.stderr, r
    r = run(CLI + ["status"], env=env)
    assert "32-bit programs run unchecked: a 32-bit loader is installed" in r.stdout, r.stdout
    r = run(CLI + ["run", "--", "sh", "-c", 'echo "$LD_PRELOAD"'], env=env)
    assert r.returncode == 0 and r.stdout.strip() == str(pkg / "shim" / _dst_lib("/lib64/ld-linux-x86-64.so.2")
                                                          / "libexeccheck.so"), r


def test_a_root_whose_only_libc_is_32_bit_biarch(tmp_path):
    """A hand-made 32-bit root with its libc in /usr/lib32 and no ld.so.conf (the 32-bit loader
    searches there by default): install gives it the 32-bit shim beside that libc, and verify
    checks a $LIB entry there (before, it stopped with "no libc.so.6", exit 2)."""
    root = str(tmp_path / "root")
    for f in ("/usr/lib32/libc.so.6", I386_LOADER):
        rootfs.copy_in(root, f)
    os.makedirs(os.path.join(root, "etc"))
    r = run(CLI + ["image", "install", root])
    assert r.returncode == 0 and "installed /usr/lib32/libexeccheck.so" in r.stderr, r
    with open(os.path.join(root, "usr/lib32/libexeccheck.so"), "rb") as a, open(SHIM32, "rb") as b:
        assert a.read() == b.read()
    with open(os.path.join(root, "etc/ld.so.preload"), "w") as f:
        f.write("/usr/$LIB/libexeccheck.so\n")
    r = run(CLI + ["image", "verify", "--json", root])
    assert r.returncode in (0, 1) and json.loads(r.stdout)["shim_problems"] == [], r
    os.unlink(os.path.join(root, "usr/lib32/libexeccheck.so"))
    problems = json.loads(run(CLI + ["image", "verify", "--json", root]).stdout)["shim_problems"]
    assert problems == ["/etc/ld.so.preload names /usr/lib32/libexeccheck.so, which is missing: glibc would warn "
                        "and run everything unchecked"], problems

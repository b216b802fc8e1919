"""A glibc ld.so whose built-in directories are /lib64 and /usr/lib64, as Fedora, RHEL, SUSE and
Debian's own biarch libc6-amd64 build it, where Debian's multiarch one searches
/lib/x86_64-linux-gnu. A library found there by name, with no ld.so.cache to name it, must be the
one the dlopen guard predicts and the audit reports: the guard reads the list from the ld.so its
process runs with, the audit from the image's ld.so (csrc/ldsysdirs.c).

The root: Debian 12's libc6-amd64 (an i386 package that carries an x86_64 glibc 2.36 built with
slibdir /lib64: its `ld.so --list-diagnostics` says path.system_dirs /lib64/ /usr/lib64/ /lib/
/usr/lib/ and dl_dst_lib lib64) unpacked into an empty root, no ld.so.cache, this machine's dash,
the shim, and programs and libraries built here. Marker `debootstrap`: it needs Debian's package
registry (one 2 MB package, fetched with a private apt configuration); CI runs it."""
import json
import os
import shutil

import pytest

import rootfs
from audit_face_util import Kit, ran
from conftest import execcheck_cmd, loader_says, need_check, need_mountns, need_root, run
from execcheck._native import ffi, lib
from execcheck.shim import lib_path

pytestmark = pytest.mark.debootstrap

LOADER = "/lib64/ld-linux-x86-64.so.2"


def sysdirs_in(data: bytes):
    out = ffi.new("char[2048]")
    lib_ = ffi.new("char[256]")
    if not lib.ec_ld_sysdirs_find(data, len(data), out, 2048):
        return None, None
    lib.ec_ld_sysdirs_lib(out, lib_, 256)
    return ffi.string(out).decode().split(":"), ffi.string(lib_).decode()


def diagnostics(loader):
    return loader_says(run([loader, "--list-diagnostics"]).stdout)


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    need_root()
    need_mountns()
    need_check()
    tmp = tmp_path_factory.mktemp("lib64")
    debs = rootfs.fetch_debs(str(tmp / "debs"), "bookworm", "i386", ["libc6-amd64"])
    assert debs, "Debian's libc6-amd64 (bookworm, i386) could not be fetched"
    r = tmp / "root"
    for d in ("tmp", "proc", "etc", "usr/lib64", "usr/bin", "opt/shim", "var/log"):
        (r / d).mkdir(parents=True, exist_ok=True)
    rootfs.unpack(debs[0], str(r), str(tmp / "unpacked"))
    assert (r / LOADER.lstrip("/")).exists() and not (r / "etc/ld.so.cache").exists()
    rootfs.copy_in(str(r), "/bin/sh")  # dash: it needs libc.so.6 alone, found in /lib64
    shutil.copy2(lib_path(), r / "opt/shim/libexeccheck.so")
    kit = Kit(tmp / "kit")
    shutil.copy2(kit.prog(), r / "usr/bin/prog")
    for tag, mode in (("good", 0o755), ("plug", 0o644)):  # plug: no x bit, the kernel refuses it
        shutil.copy2(kit.lib("l/lib%s.so" % tag, tag), r / ("usr/lib64/lib%s.so" % tag))
        os.chmod(r / ("usr/lib64/lib%s.so" % tag), mode)
    need = kit.lib("n/libneed.so", "need")
    shutil.copy2(need, r / "usr/lib64/libneed.so")
    shutil.copy2(kit.prog("bin/needprog", needs=[(need.parent, "libneed.so")]), r / "usr/bin/needprog")
    (r / "etc/execcheck.conf").write_text("files = enforce\nsyslog = no\nlog_file = /var/log/execcheck.jsonl\n")
    return r


def test_the_list_is_read_from_each_loader_as_it_prints_it(root):
    """The loader's own list and $LIB, read from its bytes, are what it prints of itself: this
    machine's x86_64 and i386 loaders, the lib64 one; a file without such a list gives none."""
    loaders = [str(root / LOADER.lstrip("/"))] + [p for p in (LOADER, "/lib/ld-linux.so.2") if os.path.exists(p)]
    for loader in loaders:
        with open(loader, "rb") as f:
            assert sysdirs_in(f.read()) == diagnostics(loader), loader
    with open(str(root / LOADER.lstrip("/")), "rb") as f:
        assert sysdirs_in(f.read()) == (["/lib64", "/usr/lib64", "/lib", "/usr/lib"], "lib64")
    with open("/bin/true", "rb") as f:  # strings like "/.libs/" are no list of library directories
        assert sysdirs_in(f.read()) == (None, None)
    for data, want in ((b"x\0/lib/\0/usr/lib/\0", ["/lib", "/usr/lib"]),
                       (b"/usr/lib/gcc/\0\0/lib64/\0/usr/lib64/\0", ["/lib64", "/usr/lib64"]),  # the longest
                       (b"/lib/\0" * 9, None),  # more than any loader has
                       (b"/lib64/", None),  # unterminated
                       (b"/opt/\0/etc/\0", None)):  # not library directories
        assert sysdirs_in(data)[0] == want, data
    assert sysdirs_in(b"\0/usr/lib/\0") == (["/usr/lib"], "lib")  # Arch's loader: $LIB "lib"
    # the scan reads eight and 32 bytes at a time: a list at every offset, after and before
    # slashes that start no string, and at the very end, is found all the same
    for pad in (b"ab", b"a/b"):
        for before in range(0, 70):
            for after in (b"", b"\0", b"x/y\0" * 9):
                data = (pad * 40)[:before] + b"\0/lib64/\0/usr/lib64/\0" + after
                assert sysdirs_in(data) == (["/lib64", "/usr/lib64"], "lib64"), data


def test_the_guard_predicts_from_the_loaders_own_directories(root):
    """dlopen("libplug.so") of a 0644 library in /usr/lib64: the guard must find it where this
    ld.so will (a guard that searched Debian's /lib/x86_64-linux-gnu predicted "not found", handed
    the name over, and the library's constructor ran before the sweep stopped the process); a good
    one there loads. Enforcing by the image's /etc/execcheck.conf."""
    r, records = rootfs.in_image(str(root), "LD_PRELOAD=/opt/shim/libexeccheck.so /usr/bin/prog "
                                            "dlopen:libplug.so dlopen:libgood.so; echo rc=$?")
    lines = r.stdout.splitlines()
    assert not ran(lines, "plug"), r
    assert lines[0] == "main" and lines[1].startswith("dlopen failed: ") and "/usr/lib64/libplug.so" in lines[1], r
    assert ran(lines, "good") and "dlopen ok" in lines and lines[-1] == "rc=0", r
    assert [(x["path"], x["reason"]) for x in records] == [("/usr/lib64/libplug.so", "x-bit")], records


def test_the_audit_face_refuses_it_too(root):
    """The same load under the audit face (which does not predict: it decides on what ld.so maps)."""
    r, records = rootfs.in_image(str(root), "LD_AUDIT=/opt/shim/libexeccheck.so /usr/bin/prog dlopen:libplug.so "
                                            "dlopen:libgood.so; echo rc=$?")
    lines = r.stdout.splitlines()
    assert not ran(lines, "plug") and ran(lines, "good") and lines[-1] == "rc=0", r
    assert [x["path"] for x in records] == ["/usr/lib64/libplug.so"], records


def test_the_audit_resolves_through_the_images_loader(root):
    """`execcheck audit --root` of a program whose library is only in /usr/lib64: found there, as
    the image's own ld.so finds it (LD_TRACE_LOADED_OBJECTS in a chroot); its 0644 neighbour is
    the one finding. The report names the directories it took."""
    truth, _ = rootfs.in_image(str(root), "LD_TRACE_LOADED_OBJECTS=1 /usr/bin/needprog")
    assert "libneed.so => /usr/lib64/libneed.so" in truth.stdout, truth
    r = run(execcheck_cmd() + ["audit", "--root", str(root), "--json", "--fail-on", "none", "/usr/bin/needprog",
                               "/usr/lib64/libplug.so"])
    doc = json.loads(r.stdout)
    assert doc["loader"]["system_dirs"] == ["/lib64", "/usr/lib64", "/lib", "/usr/lib"] and \
        doc["loader"]["lib"] == "lib64", doc["loader"]
    objs = {o["name"]: o["path"] for e in doc["entries"] if e["path"] == "/usr/bin/needprog" for o in e["objects"]}
    assert objs["libneed.so"] == "/usr/lib64/libneed.so" and objs["libc.so.6"] == "/lib64/libc.so.6", objs
    assert {f["rule"] for f in doc["findings"]} == {"exec-denied"}, doc["findings"]
    text = run(execcheck_cmd() + ["audit", "--root", str(root), "/usr/bin/needprog"]).stdout
    assert "system directories /lib64:/usr/lib64:/lib:/usr/lib" in text, text


def test_an_image_with_this_loader_is_prepared_installed_and_enforced(root, tmp_path):
    """The image workflow on it: prepare --apply, install --enforce (the shim beside libc in
    /lib64), verify says ready; then programs started under /etc/ld.so.preload refuse a 0644
    plugin added to /usr/lib64 since, by name, and an LD_PRELOAD'ed one from a noexec /tmp, before
    any of their code runs; uninstall and revert leave the tree as it was."""
    image = tmp_path / "image"
    shutil.copytree(root, image, symlinks=True)
    os.unlink(image / "etc/execcheck.conf")
    before = rootfs.listing(str(image))
    for args in (["image", "prepare", "--apply"], ["image", "install", "--enforce"], ["image", "verify"]):
        r = run(execcheck_cmd() + args + [str(image)], timeout=600)
        assert r.returncode == 0, (args, r)
    assert "ready to enforce" in r.stdout, r
    assert (image / "etc/ld.so.preload").read_text() == "/lib64/libexeccheck.so\n"
    late = image / "usr/lib64/liblate.so"
    shutil.copy2(image / "usr/lib64/libplug.so", late)
    os.chmod(late, 0o644)
    os.makedirs(image / "tmp-files")
    shutil.copy2(late, image / "tmp-files/libevil.so")
    r, records = rootfs.in_image(str(image), "/usr/bin/prog dlopen:liblate.so dlopen:libgood.so; echo rc=$?; "
                                             "LD_PRELOAD=/tmp/libevil.so /usr/bin/prog; echo rc=$?")
    # the shell started under /etc/ld.so.preload runs its children under the audit face, which
    # refuses each candidate ld.so is about to open: "not found" for the dlopen, the preload ignored
    lines = r.stdout.splitlines()
    assert not ran(lines, "plug") and ran(lines, "good"), r  # liblate.so and libevil.so: copies of libplug.so
    assert lines[1].startswith("dlopen failed: ") and lines[-2:] == ["end", "rc=0"] and lines.count("main") == 2, r
    assert r.stderr.splitlines()[:2] == ["execcheck: refused to load /usr/lib64/liblate.so: x-bit",
                                         "execcheck: refused to load /tmp/libevil.so: noexec"], r
    assert [(x["path"], x["reason"], x["face"]) for x in records] == [
        ("/usr/lib64/liblate.so", "x-bit", "audit"), ("/tmp/libevil.so", "noexec", "audit")], records
    os.unlink(late)
    shutil.rmtree(image / "tmp-files")
    for args in (["image", "uninstall"], ["image", "revert"]):
        r = run(execcheck_cmd() + args + [str(image)], timeout=600)
        assert r.returncode == 0, (args, r)
    assert rootfs.listing(str(image)) == before


RENAME_THEN_DLOPEN_C = r"""
#include <dlfcn.h>
#include <stdio.h>
int main(int argc, char **argv)
{
    /* argv: FROM TO NAME: rename FROM over TO, then dlopen(NAME) */
    if (argc != 4 || rename(argv[1], argv[2])) return 2;
    printf("dlopen %s\n", dlopen(argv[3], RTLD_NOW) ? "ok" : dlerror());
    return 0;
}
"""


def test_the_guard_reads_the_loader_it_runs_with_not_its_file(root, tmp_path):
    """An upgrade replaces ld.so under running programs: the guard's list is the one of the ld.so
    in its memory. The program renames Debian's multiarch ld.so over /lib64's own, then dlopen()s
    the 0644 libplug.so of /usr/lib64 by name: refused before its code runs (a list read from the
    file now would be Debian's, the library predicted "not found" and its constructor run)."""
    image = tmp_path / "image"
    shutil.copytree(root, image, symlinks=True)
    shutil.copy2(os.path.realpath(LOADER), image / "lib64/ld-debian.so")
    src = tmp_path / "rd.c"
    src.write_text(RENAME_THEN_DLOPEN_C)
    assert run(["cc", "-o", str(image / "usr/bin/rd"), str(src)]).returncode == 0
    r, records = rootfs.in_image(str(image), "LD_PRELOAD=/opt/shim/libexeccheck.so /usr/bin/rd "
                                             "/lib64/ld-debian.so /lib64/ld-linux-x86-64.so.2 libplug.so")
    assert not ran(r.stdout.splitlines(), "plug") and r.returncode == 0, r
    assert "execcheck refused /usr/lib64/libplug.so (x-bit)" in r.stdout, r
    with open(image / LOADER.lstrip("/"), "rb") as f:  # the file now holds Debian's list
        assert sysdirs_in(f.read())[0][0] == "/lib/x86_64-linux-gnu"

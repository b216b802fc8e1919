"""The image steps on a real Debian minbase root made with debootstrap from Debian's package
registry (marker `debootstrap`: slow, needs the network; CI runs it, `-m "not debootstrap"` skips
it locally)."""
import os
import shutil
import subprocess

import pytest

from audit_face_util import Kit
from conftest import execcheck_cmd, run
from rootfs import debootstrap, in_image, listing

LIBDIR = "usr/lib/x86_64-linux-gnu"

pytestmark = pytest.mark.debootstrap


def ec(*args):
    r = run(execcheck_cmd() + list(args), timeout=600)
    assert r.returncode == 0, (args, r.stdout[-3000:], r.stderr)
    return r


@pytest.fixture(scope="module")
def debian(tmp_path_factory):
    root = debootstrap(tmp_path_factory, "bookworm", include=("python3",))  # py3compile, the full stdlib
    yield root
    subprocess.run(["umount", "-R", os.path.join(root, "proc")], capture_output=True)


@pytest.fixture
def planted(debian):
    """The paths a test plants in the module's shared image, each removed after it (the next test
    would otherwise find them: its verify noting another test's /var/tmp/libinject.so)."""
    paths = []
    yield paths
    for p in paths:
        host = os.path.join(debian, p.lstrip("/"))
        if os.path.isdir(host) and not os.path.islink(host):
            shutil.rmtree(host)
        elif os.path.lexists(host):
            os.unlink(host)


def test_debian_minbase_hardened_and_restored(debian, planted, tmp_path):
    root = debian
    planted += ["/tmp-files", "/var/tmp/libinject.so", "/root/script.py"]
    kit = Kit(tmp_path)
    os.makedirs(os.path.join(root, "tmp-files"), exist_ok=True)
    inject = kit.lib("libinject.so", "INJECT")
    shutil.copy2(inject, os.path.join(root, "tmp-files", "libinject.so"))
    shutil.copy2(inject, os.path.join(root, "var/tmp/libinject.so"))
    os.chmod(os.path.join(root, "var/tmp/libinject.so"), 0o644)
    with open(os.path.join(root, "root/script.py"), "w") as f:
        f.write("import os, sys\nprint('SCRIPT', sys.version_info[0], len(os.listdir('/etc')) > 0)\n")  # python3-minimal: no json
    os.chmod(os.path.join(root, "root/script.py"), 0o755)  # the CPython face checks the script too
    before = listing(root)

    # Debian ships its libraries and stdlib 0644: enforcing before prepare breaks the system
    ec("image", "install", "--enforce", root)
    r, records = in_image(root, "ls / >/dev/null")
    assert r.returncode != 0 and "execcheck: refused to load" in r.stderr
    assert any(x["reason"] == "x-bit" and x["action"] == "refused" for x in records)

    r = run(execcheck_cmd() + ["image", "verify", root], timeout=600)
    assert r.returncode == 1 and "NOT ready to enforce" in r.stdout  # verify saw it coming
    ec("image", "prepare", "--apply", root)
    ec("image", "verify", root)
    r, records = in_image(root, "ls / >/dev/null && python3 /root/script.py && "
                                "LD_PRELOAD=/tmp/libinject.so /bin/true; LD_PRELOAD=/var/tmp/libinject.so /bin/true")
    assert r.returncode == 0, r.stderr
    assert "SCRIPT" in r.stdout and "INJECT" not in r.stdout
    assert {x["path"] for x in records} == {"/tmp/libinject.so", "/var/tmp/libinject.so"}
    assert all(x["action"] == "refused" for x in records)

    ec("image", "install", root)  # audit: recorded, and what the kernel would map runs
    r, records = in_image(root, "LD_PRELOAD=/var/tmp/libinject.so /bin/true")
    assert r.returncode == 0 and "CTOR INJECT" in r.stdout and "execcheck:" not in r.stderr
    assert [x["action"] for x in records] == ["logged"]

    ec("image", "uninstall", root)
    ec("image", "revert", root)
    assert listing(root) == before


# what a minbase image runs, each in its own way of loading code: perl's XS modules (dlopen by
# DynaLoader), CPython's lib-dynload, NSS and gconv modules (libc's own loads), PAM modules (setuid
# su, whose children get the shim from /etc/ld.so.preload), apt and dpkg, py3compile (its modules
# are in /usr/share/python3)
WORKLOADS = [
    ("perl -MPOSIX -MSocket -MList::Util=sum -e 'print floor(2.5), inet_ntoa(inet_aton(q(127.0.0.1))), sum(1,2)'",
     "2127.0.0.13"),
    ("python3 -c 'import json, zlib, hashlib, select, _socket, _ssl, sqlite3, decimal; print(json.dumps([1]))'",
     "[1]"),
    ("getent passwd root", "root:x:0:0:root:/root:/bin/bash"),
    ("getent hosts localhost", "127.0.0.1       localhost"),
    ("printf 'caf\\351\\n' | iconv -f latin1 -t iso-8859-15 | iconv -f iso-8859-15 -t utf-8", "caf\u00e9"),
    ("su -s /bin/sh nobody -c id", "uid=65534(nobody)"),
    ("runuser -u nobody -- env -i /bin/sh -c 'id -u'", "65534"),
    ("dpkg -l dpkg | tail -1 | cut -c1-2", "ii"),
    ("apt-cache policy apt | sed -n 2p", "Installed:"),
    ("apt-get -s install less | grep -c '^Inst less'", "1"),
    ("echo /usr/share/python3/debpython/__init__.py | xargs py3compile && echo compiled", "compiled"),
    ("py3clean -h | head -1", "Usage: py3clean"),
    ("find /etc -maxdepth 1 -name 'host*' | xargs -n1 sh -c 'basename $0' | sort | head -1", "host.conf"),
]


def test_debian_workloads_under_enforcement(debian, tmp_path):
    """Beyond `ls`: the image's own workloads run in an enforced, prepared image with nothing
    refused; each kind of code the image loads, left 0644, is refused with one line and a record;
    a package installed afterwards (dpkg -i, a 0644 library) is refused until prepare runs again,
    verify names it, and revert still restores exactly the modes prepare changed, not those of
    the files of the package's next version."""
    root = debian
    with open(os.path.join(root, "etc/hosts"), "w") as f:
        f.write("127.0.0.1 localhost\n")
    before = listing(root)
    ec("image", "prepare", "--apply", root)
    ec("image", "install", "--enforce", root)
    r = ec("image", "verify", root)
    # nothing the test before planted in the shared image: the one note is Debian's own default,
    # which sets no user.max_user_namespaces (its users can create user namespaces)
    notes = [l for l in r.stdout.splitlines() if l.startswith("note ")]
    assert len(notes) == 1 and "the image's users can create user namespaces (no sysctl file" in notes[0], r.stdout

    r, records = in_image(root, " && ".join("(%s)" % cmd for cmd, _ in WORKLOADS))
    assert r.returncode == 0 and "execcheck:" not in r.stderr, r.stderr
    for cmd, out in WORKLOADS:
        assert out in r.stdout, (cmd, r.stdout)
    assert [x for x in records if x["kind"] != "interactive"] == []  # python -c: logged, not denied

    # each kind of code, 0644, is refused where it is loaded (its own one line and a record)
    nss = os.path.join(root, "etc/nsswitch.conf")
    shutil.copy2(nss, str(tmp_path / "nsswitch.conf"))
    left = {"/%s/gconv/KOI8-R.so" % LIBDIR: "echo x | iconv -t koi8-r",
            "/%s/perl-base/auto/POSIX/POSIX.so" % LIBDIR: "perl -MPOSIX -e 1",
            "/usr/lib/python3.11/lib-dynload/_json.cpython-311-x86_64-linux-gnu.so": "python3 -c 'import _json'",
            "/%s/security/pam_rootok.so" % LIBDIR: "su -s /bin/sh nobody -c id",
            "/%s/libnss_compat.so.2" % LIBDIR: "getent passwd root"}  # last: with passwd: compat
    for path, cmd in left.items():
        if "nss" in path:
            with open(nss, "w") as f:
                f.write("passwd: compat\n")
        os.chmod(os.path.join(root, path.lstrip("/")), 0o644)
        r, records = in_image(root, cmd)
        assert r.returncode != 0 and "execcheck: refused to " in r.stderr, (cmd, r.stderr)
        refused = [x for x in records if x["action"] == "refused"]
        assert [os.path.basename(x["path"]) for x in refused] == [os.path.basename(path)], (cmd, records)
    shutil.copy2(str(tmp_path / "nsswitch.conf"), nss)
    r = run(execcheck_cmd() + ["image", "verify", root], timeout=600)
    assert r.returncode == 1 and all(os.path.basename(p) in r.stdout for p in left if "python" not in p), r.stdout
    ec("image", "prepare", "--apply", root)

    # a package installed after prepare: its library is 0644 as it ships
    kit = Kit(tmp_path)
    pkg = tmp_path / "pkg"
    lib = kit.lib("pkg/%s/libfoo.so.1" % LIBDIR, "FOO", mode=0o644, soname="libfoo.so.1")
    kit.prog("pkg/usr/bin/foo", needs=[(os.path.dirname(lib), "libfoo.so.1")])
    os.makedirs(pkg / "DEBIAN")
    (pkg / "DEBIAN/control").write_text("Package: foo\nVersion: 1.0\nArchitecture: amd64\nMaintainer: t <t@t.t>\n"
                                        "Description: a library installed after prepare\n")
    (pkg / "DEBIAN/triggers").write_text("activate-noawait ldconfig\n")
    deb = os.path.join(root, "root/foo.deb")
    assert subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(pkg), deb], capture_output=True).returncode == 0
    r, records = in_image(root, "dpkg -i /root/foo.deb >/dev/null && foo")
    assert r.returncode == 127 and "CTOR FOO" not in r.stdout
    assert "execcheck: refused to load /lib/x86_64-linux-gnu/libfoo.so.1: x-bit" in r.stderr, r.stderr
    r = run(execcheck_cmd() + ["image", "verify", root], timeout=600)
    assert r.returncode == 1 and "refused  /%s/libfoo.so.1" % LIBDIR in r.stdout and "used by /usr/bin/foo" in r.stdout
    r = ec("image", "prepare", "--apply", root)
    assert "1 file changed: 1 library, " in r.stderr
    ec("image", "verify", root)
    r, records = in_image(root, "foo")
    assert r.returncode == 0 and "CTOR FOO" in r.stdout and records == [], r.stderr

    # its next version ships the library 0755: the upgrade's file is no change of prepare's
    shutil.copytree(str(pkg), str(tmp_path / "pkg11"), symlinks=True)
    (tmp_path / "pkg11/DEBIAN/control").write_text(
        (pkg / "DEBIAN/control").read_text().replace("Version: 1.0", "Version: 1.1"))
    os.chmod(tmp_path / "pkg11" / LIBDIR / "libfoo.so.1", 0o755)
    os.utime(tmp_path / "pkg11" / LIBDIR / "libfoo.so.1", (1600000000, 1600000000))
    assert subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(tmp_path / "pkg11"), deb],
                          capture_output=True).returncode == 0
    r, records = in_image(root, "dpkg -i /root/foo.deb >/dev/null && foo")
    assert r.returncode == 0 and "CTOR FOO" in r.stdout and records == [], r.stderr

    # a Python package: its postinst byte-compiles the new 0644 module, which reads it as code
    bar = tmp_path / "bar"
    os.makedirs(bar / "DEBIAN")
    os.makedirs(bar / "usr/lib/python3/dist-packages")
    (bar / "usr/lib/python3/dist-packages/barmod.py").write_text("Y = 2\n")
    os.chmod(bar / "usr/lib/python3/dist-packages/barmod.py", 0o644)
    (bar / "DEBIAN/control").write_text("Package: python3-bar\nVersion: 1.0\nArchitecture: all\n"
                                        "Maintainer: t <t@t.t>\nDepends: python3\nDescription: a Python module\n")
    (bar / "DEBIAN/postinst").write_text("#!/bin/sh\nset -e\npy3compile -p python3-bar\n")
    os.chmod(bar / "DEBIAN/postinst", 0o755)
    assert subprocess.run(["dpkg-deb", "--root-owner-group", "-b", str(bar), os.path.join(root, "root/bar.deb")],
                          capture_output=True).returncode == 0
    r, records = in_image(root, "dpkg -i /root/bar.deb")
    assert r.returncode == 1 and "post-installation script subprocess returned error" in r.stderr
    assert "execcheck: refused to import /usr/lib/python3/dist-packages/barmod.py: x-bit" in r.stderr, r.stderr
    ec("image", "prepare", "--apply", root)
    r, records = in_image(root, "dpkg --configure -a && python3 -c 'import barmod; print(barmod.Y)'")
    assert r.returncode == 0 and r.stdout.endswith("\n2\n"), r.stdout + r.stderr

    ec("image", "uninstall", root)
    r = ec("image", "revert", root)
    assert "left /%s/libfoo.so.1 as it is: another file is there since prepare" % LIBDIR in r.stderr
    after = listing(root)
    assert after["%s/libfoo.so.1" % LIBDIR][1] == 0o755  # as its new version ships it (revert made it 0644)
    # every file that was there before has its mode, owner and kind back (dpkg's database and
    # ld.so.cache have new contents: the package is still installed)
    assert {p: v[:4] for p, v in before.items()} == {p: after[p][:4] for p in before if p in after}
    assert {p for p in before if p not in after} == set()

"""The aarch64 shim, for arm64 images prepared on this x86_64 host: its cross build, its faces
running in an arm64 root, and `execcheck image install` into such an image.

The arm64 root is assembled from Debian's arm64 cross libraries (libc6-arm64-cross) in the
multiarch layout of a real arm64 image, with Debian's static qemu-aarch64 copied in (as image
builders do): `chroot ROOT /usr/bin/qemu-aarch64-static PROG` runs an arm64 program whose paths,
absolute or relative to a directory descriptor, are all the image's (qemu's -L prefix would send
the latter to the host's files). Programs and libraries are built with clang for aarch64.

What qemu-user cannot show: the kernel check itself. qemu 7.2 answers execveat with ENOSYS, so
every check here is "unsupported" (README, "Edges"): audit mode must run everything unchanged
and record each file, enforcing must refuse each before its code runs. The decisions on real
verdicts are the same code as on x86_64 (tests/test_audit_face.py, test_preload_*.py)."""
import json
import os
import shutil
import subprocess
import sys

import pytest
from elftools.elf.elffile import ELFFile

import execcheck
import rootfs
from audit_face_util import Kit, clean_env, ran
from conftest import in_mountns, need, need_mountns, need_root, run
from execcheck.shim import lib_path

SHIM = lib_path("aarch64")
SYSROOT = "/usr/aarch64-linux-gnu"
QEMU = "/usr/bin/qemu-aarch64-static"
CROSS_CC = ["clang", "--target=aarch64-linux-gnu", "-fuse-ld=lld"]
TUPLE = "aarch64-linux-gnu"
CLI = [sys.executable, "-m", "execcheck"]
RUNTIME = ("ld-linux-aarch64.so.1", "libc.so.6", "libpthread.so.0", "libdl.so.2")


def _cross_cc_links():
    if not shutil.which("clang") or not shutil.which("ld.lld"):
        return False
    r = subprocess.run(CROSS_CC + ["-x", "c", "-", "-o", "/dev/null"], input="int main(void){return 0;}\n",
                       capture_output=True, text=True)
    return r.returncode == 0


@pytest.fixture(autouse=True)
def _aarch64():
    need_root()
    need_mountns()
    need(os.path.exists(SYSROOT + "/lib/libc.so.6"), "needs Debian's arm64 cross libc (libc6-arm64-cross)")
    need(_cross_cc_links(), "needs clang and lld to build aarch64 programs (apt-get install clang lld)")
    need(os.path.exists(QEMU), "needs Debian's static qemu-user (qemu-user-static)")
    assert os.path.exists(SHIM), "a cross compiler is here, so the build makes the aarch64 shim"


class KitArm(Kit):
    def _cc(self, out, *args):
        out = self.dir / out
        out.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run(CROSS_CC + ["-O1", "-o", str(out), *map(str, args)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return out


def arm64_root(path):
    """A merged-/usr arm64 root: the cross libc in /usr/lib/aarch64-linux-gnu, the loader's
    /lib/ld-linux-aarch64.so.1 link, qemu-aarch64-static, /proc and /tmp to mount on."""
    root = str(path)
    for d in ("usr/bin", "usr/lib/" + TUPLE, "etc", "proc", "tmp", "var/log", "var/tmp", "opt"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.symlink("usr/bin", os.path.join(root, "bin"))
    os.symlink("usr/lib", os.path.join(root, "lib"))
    for name in RUNTIME:
        shutil.copy2(os.path.realpath(os.path.join(SYSROOT, "lib", name)), os.path.join(root, "usr/lib", TUPLE, name))
    os.symlink(TUPLE + "/ld-linux-aarch64.so.1", os.path.join(root, "usr/lib/ld-linux-aarch64.so.1"))
    shutil.copy2(QEMU, os.path.join(root, "usr/bin/qemu-aarch64-static"))
    return root


RUN_SCRIPT = r"""
root=$1; shift
mount -t proc proc "$root/proc"
exec chroot "$root" /usr/bin/qemu-aarch64-static "$@"
"""


class Arm:
    """An arm64 root with the test programs: /opt/t/bin/prog (needs libgood.so, RUNPATH /opt/t/lib),
    /opt/t/lib/libplug.so (0644: what an enforcing policy would refuse on a real kernel) and
    libplug2.so, which needs a libmissing.so that is nowhere."""

    def __init__(self, tmp_path):
        self.root = arm64_root(tmp_path / "root")
        kit = KitArm(os.path.join(self.root, "opt/t"))
        libdir = kit.dir / "lib"
        kit.lib("lib/libgood.so", "GOOD")
        kit.lib("lib/libplug.so", "PLUG", mode=0o644)
        missing = kit.lib("elsewhere/libmissing.so", "MISSING")
        kit.lib("lib/libplug2.so", "PLUG2", needs=[(missing.parent, "libmissing.so")])
        shutil.rmtree(missing.parent)
        kit.prog("bin/prog", needs=[(libdir, "libgood.so")], runpath="/opt/t/lib")
        shutil.copy2(SHIM, os.path.join(self.root, "opt/libexeccheck.so"))

    def run(self, *argv, env=None, log=None):
        """Runs argv in the root under qemu; returns (CompletedProcess, records of the log file)."""
        qemu_env = []
        for k, v in (env or {}).items():
            qemu_env += ["-E", "%s=%s" % (k, v)]
        if log:
            qemu_env += ["-E", "EXECCHECK_LOG_FILE=" + log]
        r = in_mountns(RUN_SCRIPT, self.root, *qemu_env, *argv, env=clean_env({"LANG": "C"}))
        records = []
        host_log = os.path.join(self.root, log.lstrip("/")) if log else None
        if host_log and os.path.exists(host_log):
            with open(host_log) as f:
                records = [json.loads(x) for x in f]
            os.unlink(host_log)
        return r, records


@pytest.fixture
def arm(tmp_path):
    return Arm(tmp_path)


def test_the_aarch64_shim():
    """Built for aarch64 beside the native shims, at Debian's $LIB of arm64 (lib/aarch64-linux-gnu,
    what the arm64 ld.so says it expands), freestanding: no DT_NEEDED, no undefined symbol that
    is not weak, and the audit interface exported."""
    layout = dict(l.split() for l in open(os.path.join(os.path.dirname(execcheck.__file__), "shim/layout")))
    assert layout["aarch64"] == "lib/" + TUPLE and SHIM.endswith("/shim/lib/%s/libexeccheck.so" % TUPLE)
    out = subprocess.run(["qemu-aarch64", "-L", SYSROOT, SYSROOT + "/lib/ld-linux-aarch64.so.1", "--list-diagnostics"],
                         capture_output=True, text=True).stdout if shutil.which("qemu-aarch64") else ""
    if out:
        assert 'dl_dst_lib="lib/%s"' % TUPLE in out
    with open(SHIM, "rb") as f:
        elf = ELFFile(f)
        assert (elf["e_machine"], elf.elfclass, elf["e_type"]) == ("EM_AARCH64", 64, "ET_DYN")
        assert not [t for t in elf.get_section_by_name(".dynamic").iter_tags() if t.entry.d_tag == "DT_NEEDED"]
        syms = {s.name: s for s in elf.get_section_by_name(".dynsym").iter_symbols() if s.name}
    for name in ("la_version", "la_objsearch", "la_objopen", "dlopen", "dlmopen", "execve", "posix_spawn"):
        assert name in syms and syms[name]["st_shndx"] != "SHN_UNDEF", name
    strong_undefined = [n for n, s in syms.items() if s["st_shndx"] == "SHN_UNDEF" and s["st_info"]["bind"] != "STB_WEAK"]
    assert strong_undefined == []
    status = json.loads(run(CLI + ["status", "--json"]).stdout)["shim"]
    assert status["aarch64_images"] == SHIM and status["multilib"] != SHIM  # for images only, never a $LIB entry here


PROG = "/opt/t/bin/prog"
LIBGOOD = "/opt/t/lib/libgood.so"
LIBPLUG = "/opt/t/lib/libplug.so"
LIBPLUG2 = "/opt/t/lib/libplug2.so"


@pytest.mark.parametrize("face", ["LD_AUDIT", "LD_PRELOAD"])
def test_audit_mode_changes_nothing_and_records_each_file(arm, face):
    """Audit mode: the program's output and exit status as without the shim; one record per file
    the face saw, each "unsupported" (the check cannot run under qemu). The plugin dlopen()ed by
    bare name is recorded under the path found through the program's RUNPATH: under the preload
    face that is the dlopen guard's aarch64 loader model predicting it before the load."""
    argv = [PROG, "dlopen:libplug.so", "fds"]
    base, _ = arm.run(*argv)
    assert base.returncode == 0 and "libfn 42" in base.stdout and "dlopen ok" in base.stdout, base
    r, records = arm.run(*argv, env={face: "/opt/libexeccheck.so"}, log="/var/log/ec.jsonl")
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    face_name = "audit" if face == "LD_AUDIT" else "preload"
    paths = [x["path"] for x in records]
    for path in (LIBGOOD, LIBPLUG, "/lib/" + TUPLE + "/libc.so.6"):
        mine = [x for x in records if x["path"] == path]
        assert mine and all((x["reason"], x["action"], x["mode"], x["face"]) ==
                            ("unsupported", "logged", "audit", face_name) for x in mine), (path, records)
    assert len(set(paths)) == len(paths), records  # each file once


@pytest.mark.parametrize("face", ["LD_AUDIT", "LD_PRELOAD"])
def test_enforcing_refuses_before_any_code_runs(arm, face):
    """Enforcing (EXECCHECK_FILES=enforce, which can only tighten): with every check unsupported,
    main() never runs. The audit face refuses the program's first library before any of its code
    runs; the preload face's tripwire stops the process before main() (a library's constructor
    may have run by then: README, "The preload face")."""
    r, records = arm.run(PROG, env={face: "/opt/libexeccheck.so", "EXECCHECK_FILES": "enforce"},
                         log="/var/log/ec.jsonl")
    lines = r.stdout.splitlines()
    assert "main" not in lines, r
    if face == "LD_AUDIT":
        assert r.returncode == 127 and not ran(lines, "GOOD"), r  # refused in la_objsearch: "cannot open"
    else:
        assert r.returncode == 126 and "execcheck: refused to run with /opt/t/lib/libgood.so: unsupported" in r.stderr
    assert "execcheck: refused to " in r.stderr and ": unsupported" in r.stderr, r
    assert records and all(x["action"] == "refused" and x["reason"] == "unsupported" for x in records), records


def test_the_dlopen_guard_predicts_a_load_by_name(arm):
    """The preload face's dlopen guard in an arm64 process resolves a bare name as the aarch64
    ld.so would and checks the file before the load: libplug2.so, found through the program's
    RUNPATH, needs a library that is nowhere, so glibc's dlopen fails (its own message) and
    unmaps it again; its record can only come from the guard's prediction. A name found nowhere
    gives glibc's own error too."""
    r, records = arm.run(PROG, "dlopen:libplug2.so", "dlopen:libnosuch.so",
                         env={"LD_PRELOAD": "/opt/libexeccheck.so"}, log="/var/log/ec.jsonl")
    assert r.returncode == 0, r
    assert "dlopen failed: libmissing.so: cannot open shared object file: No such file or directory" in r.stdout, r
    assert "dlopen failed: libnosuch.so: cannot open shared object file: No such file or directory" in r.stdout, r
    mine = [x for x in records if x["path"] == LIBPLUG2]
    assert [(x["face"], x["reason"]) for x in mine] == [("preload", "unsupported")], records
    r, records = arm.run(PROG, "dlopen:libplug2.so", env={"LD_AUDIT": "/opt/libexeccheck.so"},
                         log="/var/log/ec.jsonl")
    assert [x["face"] for x in records if x["path"] == LIBPLUG2] == ["audit"], records


def test_image_install_into_an_arm64_image(arm):
    """`image install` of an arm64 image from this x86_64 host: the aarch64 shim beside the image's
    libc, named in its /etc/ld.so.preload; in the image (chroot, qemu) programs run under it:
    installed for audit, unchanged with records in the image's log; installed enforcing, refused
    (every check is unsupported under qemu); verify finds the shim sound; uninstall restores."""
    root = arm.root
    before = rootfs.listing(root)
    base, _ = arm.run(PROG, "dlopen:libplug.so")
    r = run(CLI + ["image", "install", root])
    assert r.returncode == 0, r
    installed = os.path.join(root, "usr/lib", TUPLE, "libexeccheck.so")
    with open(installed, "rb") as a, open(SHIM, "rb") as b:
        assert a.read() == b.read()
    with open(os.path.join(root, "etc/ld.so.preload")) as f:
        assert f.read() == "/usr/lib/%s/libexeccheck.so\n" % TUPLE
    r, records = arm.run(PROG, "dlopen:libplug.so", log=None)
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    with open(os.path.join(root, "var/log/execcheck.jsonl")) as f:
        records = [json.loads(x) for x in f]
    assert {x["path"] for x in records} >= {LIBGOOD, LIBPLUG} and \
        all(x["face"] == "preload" and x["action"] == "logged" for x in records), records
    r = run(CLI + ["image", "verify", "--json", root])
    assert json.loads(r.stdout)["shim_problems"] == [], r.stdout
    r = run(CLI + ["image", "install", "--enforce", root])
    assert r.returncode == 0, r
    r, _ = arm.run(PROG)
    assert r.returncode == 126 and "main" not in r.stdout.splitlines() and \
        "execcheck: refused to run with" in r.stderr, r
    assert run(CLI + ["image", "uninstall", root]).returncode == 0
    os.unlink(os.path.join(root, "var/log/execcheck.jsonl"))
    assert rootfs.listing(root) == before


def test_image_install_without_the_aarch64_shim(arm, tmp_path):
    """Built where no aarch64 cross compiler was: installing into an arm64 image says what is
    missing in one line (exit 2) and changes nothing."""
    pkg = tmp_path / "site" / "execcheck"
    shutil.copytree(os.path.dirname(execcheck.__file__), pkg)
    shutil.rmtree(pkg / "shim" / "lib" / TUPLE)
    before = rootfs.listing(arm.root)
    r = run(CLI + ["image", "install", arm.root], env=dict(clean_env(), PYTHONPATH=str(tmp_path / "site")))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "no aarch64 shim" in r.stderr, r
    assert rootfs.listing(arm.root) == before

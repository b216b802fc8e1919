"""The aarch64 shim, for arm64 images prepared on this x86_64 host: its cross build, its faces
deciding on real verdicts in arm64 processes, and the image steps on an arm64 image.

The arm64 root is assembled from Debian's arm64 cross libraries (libc6-arm64-cross) in the
multiarch layout of a real arm64 image (libc 0644, as Debian ships it); programs and libraries are
built with clang. Its programs run chrooted, each arm64 exec (children's too) going to a static
qemu-user through a binfmt_misc instance of the test's own user namespace: all their paths,
absolute or relative to a directory descriptor, are the image's (qemu's -L prefix would send the
latter to the host's files).

The check is the host kernel's: qemu-user from 8.0 on passes the guest's execveat, flags and all,
to the kernel, so AT_EXECVE_CHECK answers for arm64 processes as for any other (qemu 7.2, Debian
12's, answers ENOSYS: every file "unsupported"). Where the machine's own qemu is older, the
fixture takes Debian 13's static qemu-user from the package registry into the test's tmp dir,
with a private apt configuration (the machine's apt state is not touched). Not covered under
qemu: threads (qemu emulates the check child's CLONE_VM|CLONE_VFORK as a fork)."""
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest
from elftools.elf.elffile import ELFFile

import execcheck
import rootfs
from audit_face_util import Kit, clean_env, ran
from conftest import C_DIR, need, need_check, need_mountns, need_root, run
from execcheck.shim import lib_path

SHIM = lib_path("aarch64")
SYSROOT = "/usr/aarch64-linux-gnu"
CROSS_CC = ["clang", "--target=aarch64-linux-gnu", "-fuse-ld=lld"]
TUPLE = "aarch64-linux-gnu"
CLI = [sys.executable, "-m", "execcheck"]
RUNTIME = ("ld-linux-aarch64.so.1", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2")
QEMU_SUITE = "trixie"  # Debian 13: qemu 10, static binaries in qemu-user


def _cross_cc_links():
    if not shutil.which("clang") or not shutil.which("ld.lld"):
        return False
    r = subprocess.run(CROSS_CC + ["-x", "c", "-", "-o", "/dev/null"], input="int main(void){return 0;}\n",
                       capture_output=True, text=True)
    return r.returncode == 0


def _usable_qemu(path):
    """Is path a static qemu-aarch64 of 8.0 or later (execveat passed to the kernel)?"""
    if not path or not os.path.exists(path):
        return False
    try:
        with open(path, "rb") as f:
            if any(s["p_type"] == "PT_INTERP" for s in ELFFile(f).iter_segments()):
                return False  # a dynamic qemu would need the host's libraries inside the image
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    m = re.search(r"version (\d+)\.", out)
    return bool(m) and int(m.group(1)) >= 8


@pytest.fixture(scope="session")
def qemu(tmp_path_factory):
    """A static qemu-aarch64 that passes the check to the kernel: the machine's, else Debian 13's."""
    for own in ("/usr/bin/qemu-aarch64-static", "/usr/bin/qemu-aarch64"):
        if _usable_qemu(own):
            return own
    tmp = str(tmp_path_factory.mktemp("qemu"))
    debs = rootfs.fetch_debs(tmp, QEMU_SUITE, "amd64", ["qemu-user"])
    fetched = None
    if debs:
        subprocess.run(["dpkg-deb", "-x", debs[0], os.path.join(tmp, "x")], check=True)
        fetched = os.path.join(tmp, "x", "usr", "bin", "qemu-aarch64")
    need(_usable_qemu(fetched), "needs a static qemu-aarch64 >= 8.0 (Debian 13's qemu-user; fetching it failed)")
    return fetched


# Debian 12's arm64 CPython and what it needs beyond the (2.36) libc the root has
PYTHON_DEBS = ("python3.11-minimal", "libpython3.11-minimal", "libexpat1", "zlib1g", "libssl3")


@pytest.fixture(scope="session")
def python_debs(tmp_path_factory):
    debs = rootfs.fetch_debs(str(tmp_path_factory.mktemp("pydebs")), "bookworm", "arm64", PYTHON_DEBS)
    need(debs is not None and len(debs) == len(PYTHON_DEBS), "needs Debian's arm64 python3.11 packages (network)")
    return debs


def _userns_binfmt():
    """Can a user namespace of ours mount a binfmt_misc instance of its own (Linux 6.7)?"""
    r = subprocess.run(USERNS + ["sh", "-c", "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc && "
                                 "test -e /proc/sys/fs/binfmt_misc/register"], capture_output=True)
    return r.returncode == 0


@pytest.fixture(autouse=True)
def _aarch64():
    need_root()
    need_mountns()
    need_check()
    need(_userns_binfmt(), "needs user namespaces with a binfmt_misc of their own (Linux >= 6.7)")
    need(os.path.exists(SYSROOT + "/lib/libc.so.6"), "needs Debian's arm64 cross libc (libc6-arm64-cross)")
    need(_cross_cc_links(), "needs clang and lld to build aarch64 programs (apt-get install clang lld)")
    assert os.path.exists(SHIM), "a cross compiler is here, so the build makes the aarch64 shim"


class KitArm(Kit):
    COMPILER = CROSS_CC


# In a user namespace of its own the process has a binfmt_misc instance of its own (Linux 6.7):
# qemu is registered there for arm64 ELF files with the F flag (opened now, so that it works in
# the chroot), and every exec of an arm64 program, children's included, runs under it. Nothing of
# it is seen outside; the host's binfmt_misc is not touched.
ARM64_MAGIC = r"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00"
ARM64_MASK = r"\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff"
# --kill-child: if unshare dies (the runner's timeout kills its group), so does the namespace's
# init, and with it every process of the namespace, those that left the group too
USERNS = ["unshare", "--user", "--map-root-user", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc"]
RUN_SCRIPT = r"""
root=$1; qemu=$2; shift 2
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
printf '%s' ":execcheck-aarch64:M::MAGIC:MASK:$qemu:F" > /proc/sys/fs/binfmt_misc/register
mount -t proc proc "$root/proc"
exec "$@"
""".replace("MAGIC", ARM64_MAGIC).replace("MASK", ARM64_MASK)
# chroot and exec with the arm64 program's own environment: set in a host process, LD_PRELOAD
# would have that process's ld.so look for the image's shim on the host
# (a variable IGNORE_SIGCHLD=1 is not passed on: the program starts with SIGCHLD ignored instead)
CHROOT_EXEC = "import os, signal, sys; os.chroot(sys.argv[1]); os.chdir('/'); n = int(sys.argv[2]); " \
              "env = dict(a.split('=', 1) for a in sys.argv[3:3 + n]); " \
              "env.pop('IGNORE_SIGCHLD', None) and signal.signal(signal.SIGCHLD, signal.SIG_IGN); " \
              "os.execve(sys.argv[3 + n], sys.argv[3 + n:], env)"

PROG = "/opt/t/bin/prog"
LIBGOOD = "/opt/t/lib/libgood.so"
LIBPLUG = "/opt/t/lib/libplug.so"
LIBPLUG2 = "/opt/t/lib/libplug2.so"
LIBBADDEP = "/opt/t/lib/libbaddep.so"
EVIL = "/var/tmp/libevil.so"
SHIM_IN_ROOT = "/opt/libexeccheck.so"


class Arm:
    """A merged-/usr arm64 root: the cross libc (0644) in /usr/lib/aarch64-linux-gnu, the loader's
    /lib/ld-linux-aarch64.so.1 link, and the test's files:
      /opt/t/bin/prog          the driver (tests/c/audit_prog.c), needs libgood.so, RUNPATH /opt/t/lib
      /opt/t/lib/libgood.so    0755
      /opt/t/lib/libplug.so    0644: refused by the check
      /opt/t/lib/libplug2.so   0755, needs libbaddep.so (0644)
      /var/tmp/libevil.so      0644: an injected library
      /opt/libexeccheck.so     the aarch64 shim"""

    def __init__(self, path, qemu):
        self.root = root = str(path)
        self.qemu = qemu
        for d in ("usr/bin", "usr/lib/" + TUPLE, "etc", "proc", "tmp", "var/log", "var/tmp", "opt"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        os.symlink("usr/bin", os.path.join(root, "bin"))
        os.symlink("usr/lib", os.path.join(root, "lib"))
        for name in RUNTIME:
            dest = os.path.join(root, "usr/lib", TUPLE, name)
            shutil.copy2(os.path.realpath(os.path.join(SYSROOT, "lib", name)), dest)
            os.chmod(dest, 0o755 if name.startswith("ld-") else 0o644)  # Debian's modes
        os.symlink(TUPLE + "/ld-linux-aarch64.so.1", os.path.join(root, "usr/lib/ld-linux-aarch64.so.1"))
        kit = KitArm(os.path.join(root, "opt/t"))
        libdir = kit.dir / "lib"
        kit.lib("lib/libgood.so", "GOOD")
        kit.lib("lib/libplug.so", "PLUG", mode=0o644)
        baddep = kit.lib("lib/libbaddep.so", "BADDEP", fn="baddep", mode=0o644)
        kit.lib("lib/libplug2.so", "PLUG2", calls="baddep", needs=[(baddep.parent, "libbaddep.so")], runpath="/opt/t/lib")
        kit.prog("bin/prog", needs=[(libdir, "libgood.so")], runpath="/opt/t/lib")
        evil = kit.lib("evil/libevil.so", "EVIL", mode=0o644)
        shutil.move(str(evil), os.path.join(root, EVIL.lstrip("/")))
        shutil.copy2(SHIM, os.path.join(root, SHIM_IN_ROOT.lstrip("/")))

    def run(self, *argv, env=None, log="/var/log/ec.jsonl", timeout=120):
        """Runs argv in the root (arm64 programs under qemu), with env; returns (the
        CompletedProcess, the records the log file received, which is then removed). After
        timeout seconds every process of it is killed and TimeoutExpired raised."""
        env = ["%s=%s" % kv for kv in dict(env or {}, EXECCHECK_LOG_FILE=log).items()]
        r = run(USERNS + ["sh", "-ec", RUN_SCRIPT, "sh", self.root, self.qemu, sys.executable, "-c", CHROOT_EXEC,
                          self.root, str(len(env))] + env + list(argv), env=clean_env({"LANG": "C"}), timeout=timeout)
        return r, rootfs.take_records(self.root, log)


@pytest.fixture
def arm(tmp_path, qemu):
    return Arm(tmp_path / "root", qemu)


def _prepared(arm):
    """The root's own libraries given x bits, as `image prepare --apply` gives them."""
    r = run(CLI + ["image", "prepare", "--apply", arm.root])
    assert r.returncode == 0, r
    return arm


def test_the_aarch64_shim():
    """Built for aarch64 beside the native shims, at Debian's $LIB of arm64 (lib/aarch64-linux-gnu,
    what the arm64 ld.so says it expands), freestanding: no DT_NEEDED, no undefined symbol that
    is not weak, the audit interface and the interposed functions exported; status lists it."""
    layout = dict(l.split() for l in open(os.path.join(os.path.dirname(execcheck.__file__), "shim/layout")))
    assert layout["aarch64"] == "lib/" + TUPLE and SHIM.endswith("/shim/lib/%s/libexeccheck.so" % TUPLE)
    if shutil.which("qemu-aarch64"):
        out = subprocess.run(["qemu-aarch64", "-L", SYSROOT, SYSROOT + "/lib/ld-linux-aarch64.so.1",
                              "--list-diagnostics"], capture_output=True, text=True).stdout
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


def test_the_kernel_checks_for_arm64_processes(arm):
    """The premise of the rest: under this qemu the check is the kernel's (an unprepared libc is
    refused x-bit, a prepared one allowed), not ENOSYS."""
    r, records = arm.run(PROG, env={"LD_AUDIT": SHIM_IN_ROOT})
    assert r.returncode == 0 and "libfn 42" in r.stdout, r
    assert {(x["path"], x["reason"]) for x in records} == {("/lib/%s/libc.so.6" % TUPLE, "x-bit")}, records
    _prepared(arm)
    r, records = arm.run(PROG, env={"LD_AUDIT": SHIM_IN_ROOT})
    assert r.returncode == 0 and records == [], (r, records)


FACES = {"audit": "LD_AUDIT", "preload": "LD_PRELOAD"}
LOADS = ["dlopen:libplug.so", "dlopen:" + LIBPLUG, "dlopen:libplug2.so"]


@pytest.mark.parametrize("face", FACES)
def test_audit_mode_changes_nothing_and_records_each_refusal(arm, face):
    """Audit mode: the same output and status as without the shim, one record per file enforcing
    would refuse (the plugin by name and by path, the dependency of a good plugin)."""
    _prepared(arm)
    base, _ = arm.run(PROG, *LOADS)
    assert base.returncode == 0 and base.stdout.count("dlopen ok") == 3 and ran(base.stdout.splitlines(), "PLUG")
    r, records = arm.run(PROG, *LOADS, env={FACES[face]: SHIM_IN_ROOT})
    assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
    assert sorted((x["path"], x["reason"], x["action"], x["face"]) for x in records) == [
        (LIBBADDEP, "x-bit", "logged", face), (LIBPLUG, "x-bit", "logged", face)], records


@pytest.mark.parametrize("face", FACES)
def test_enforcing_refuses_each_load_before_its_code_runs(arm, face):
    """Enforcing (EXECCHECK_FILES=enforce): the plugin by bare name (found through RUNPATH: the
    preload face's guard predicts it with the aarch64 loader's rules) and by path, and a good
    plugin whose dependency is 0644, are refused before any of their code runs (no IFUNC, no
    constructor); dlopen returns NULL with execcheck's reason and the program goes on."""
    _prepared(arm)
    r, records = arm.run(PROG, *LOADS, env={FACES[face]: SHIM_IN_ROOT, "EXECCHECK_FILES": "enforce"})
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and "libfn 42" in lines and "end" in lines, r
    assert not any(ran(lines, t) for t in ("PLUG", "PLUG2", "BADDEP")), r
    assert sum(l.startswith("dlopen failed") for l in lines) == 3, r
    assert "/proc/self/execcheck refused %s (x-bit)" % LIBPLUG in r.stdout, r
    assert {(x["path"], x["action"], x["face"]) for x in records} == {
        (LIBPLUG, "refused", face), (LIBBADDEP, "refused", face)}, records


# qemu-user deadlocks inside itself when a guest thread forks while another guest thread is in a
# syscall and the memory map changes (qemu 10.0.13, Debian 13's). Three of
# qemu's own locks, none of the guest's: the forking thread, in qemu's fork_start(), holds mmap_lock
# and waits, in qemu's atfork handler rcu_init_lock(), for rcu_sync_lock; qemu's call_rcu thread
# holds that in synchronize_rcu(), waiting for a reader to leave its RCU read section; the reader is
# a thread whose syscall argument page_check_range() checks under rcu_read_lock(), waiting for
# mmap_lock. Read from a hung run (1 in 12 to 190 of the eight-thread test below, the preload face:
# its guard resolves and checks outside the loader lock, so other threads are in syscalls
# meanwhile): the futex each thread waits on (/proc/PID/task/*/syscall) and each lock's owner
# (/proc/PID/mem) at qemu's mmap_mutex, qemu_cpu_list_lock, rcu_sync_lock and rcu_gp_event, the
# one registered RCU reader being the thread blocked on mmap_lock. A program without execcheck
# (3 threads mmap/mprotect/munmap, 3 open() and stat() a path, the main thread forks) hangs the
# same way in 10 runs of 10 (and under the machine's qemu 7.2), never natively. Under qemu the shim's check child
# in a process with threads is such a fork, so no test here has threads in syscalls while a check
# child is made: the fork-child path runs with idle threads.


@pytest.mark.parametrize("sigchld", ["default", "ignored"])
@pytest.mark.parametrize("face", FACES)
def test_eight_threads_load_and_refuse(arm, face, sigchld):
    """An arm64 process of 8 threads, enforcing, loading 8 x 20 times each (dlopen + dlclose) a good
    library, a 0644 one and the good plugin whose dependency is 0644: every good load works, every
    other is refused, no refused code runs, the process ends with the descriptors it began with.
    With other threads the check is made from a child; qemu-user refuses clone(CLONE_VM |
    CLONE_VFORK), so the child is a fork, whose exit status carries the verdict: there the loads
    are made by one thread while 7 others idle (a fork meeting other threads' syscalls deadlocks
    qemu itself: above). If the program ignores SIGCHLD (the kernel would reap a fork unseen) the
    check is made in place, and the 8 threads load at once."""
    _prepared(arm)
    n = 20
    env = {FACES[face]: SHIM_IN_ROOT, "EXECCHECK_FILES": "enforce"}
    if sigchld == "ignored":
        env["IGNORE_SIGCHLD"] = "1"
        loads = ["threads:8:%d:%s,%s,%s" % (n, LIBGOOD, LIBPLUG, LIBPLUG2)]
    else:  # the good loads first (no check, no child): the idle threads are in pause() by the first fork
        loads = ["thread"] * 7 + ["loop:%d:%s" % (8 * n, p) for p in (LIBGOOD, LIBPLUG, LIBPLUG2)]
    r, records = arm.run(PROG, "fds", *loads, "fds", env=env)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines[-1] == "end", r
    if sigchld == "ignored":
        assert "threads ok=%d failed=%d" % (8 * n, 8 * n * 2) in lines, r
    else:
        assert lines.count("thread ok") == 7, r
        assert (lines.count("attempt ok"), lines.count("attempt failed")) == (8 * n, 8 * n * 2), r
    fds = [l for l in lines if l.startswith("fds ")]
    assert len(fds) == 2 and fds[0] == fds[1], r
    assert not any(ran(lines, t) for t in ("PLUG", "PLUG2", "BADDEP")), r
    assert {(x["path"], x["action"]) for x in records} == {(LIBPLUG, "refused"), (LIBBADDEP, "refused")}, records


HANG_C = r"""
#include <unistd.h>
int main(void)
{
    if (fork() < 0) return 1;
    for (;;) pause();
}
"""


def _chrooted_to(root):
    """The pids of the processes whose root directory is root."""
    pids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if os.readlink("/proc/%s/root" % pid) == root:
                pids.append(pid)
        except OSError:  # gone meanwhile, or a zombie (no root any more)
            pass
    return pids


def test_a_hung_arm64_process_is_gone_after_the_timeout(arm, tmp_path):
    """The runner's timeout ends all it started: an arm64 program that never ends and its child,
    each a qemu process of the test's pid namespace, are gone once TimeoutExpired is raised
    (killing unshare alone, as subprocess.run did, left them running, orphaned)."""
    src = tmp_path / "hang.c"
    src.write_text(HANG_C)
    KitArm(os.path.join(arm.root, "opt/t"))._cc("bin/hang", src)
    root = os.path.realpath(arm.root)
    with pytest.raises(subprocess.TimeoutExpired):
        arm.run("/opt/t/bin/hang", timeout=5)
    deadline = time.monotonic() + 10  # killed, but a process may take a moment to let go of its root
    while _chrooted_to(root) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _chrooted_to(root) == []


@pytest.mark.parametrize("face", FACES)
def test_no_thread_creation_fails_while_the_face_checks(arm, face):
    """A check in one thread makes pthread_create() fail in another (the kernel marks the shared
    fs_struct for the time of the exec attempt): first the effect itself in an arm64 process (a
    raw check loop), then a dlopen loop under the face: not one thread creation refused. The face
    checks from a child with its own fs_struct; qemu-user refuses the usual clone(CLONE_VM |
    CLONE_VFORK) with EINVAL, so there the child is a fork."""
    _prepared(arm)
    KitArm(os.path.join(arm.root, "opt/t"))._cc("bin/threads_eagain", C_DIR / "threads_eagain.c", "-pthread")
    r, _ = arm.run("/opt/t/bin/threads_eagain", "check", LIBGOOD, "1500")
    assert r.returncode == 0 and int(r.stdout.split("eagain=")[1]) > 0, r  # the kernel does it, under qemu too
    r, records = arm.run("/opt/t/bin/threads_eagain", "dlopen", LIBGOOD, "1500", env={FACES[face]: SHIM_IN_ROOT})
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "created=1500 eagain=0", r
    assert records == [], records


@pytest.mark.parametrize("face", FACES)
def test_an_injected_preload_never_gets_to_main(arm, face):
    """LD_PRELOAD of a 0644 library, enforcing: under the audit face it never runs at all; under
    the preload face (named before the shim) the tripwire stops the process before main()."""
    _prepared(arm)
    env = {"EXECCHECK_FILES": "enforce"}
    if face == "audit":
        env.update(LD_AUDIT=SHIM_IN_ROOT, LD_PRELOAD=EVIL)
    else:
        env.update(LD_PRELOAD="%s %s" % (EVIL, SHIM_IN_ROOT))
    r, records = arm.run(PROG, env=env)
    lines = r.stdout.splitlines()
    assert "main" not in lines or face == "audit", r
    if face == "audit":
        assert not ran(lines, "EVIL") and "main" in lines, r  # glibc warns, the program runs without it
    else:
        assert r.returncode == 126 and "execcheck: refused to run with %s: x-bit" % EVIL in r.stderr, r
    assert [(x["path"], x["action"]) for x in records] == [(EVIL, "refused")], records


def test_children_run_under_the_audit_face(arm):
    """Propagation in arm64 processes: a program under the preload face alone (LD_PRELOAD=shim)
    execs a child with its environment; the child runs under the audit face (the shim first in
    its LD_AUDIT): its refusal of a 0644 plugin is the audit face's."""
    _prepared(arm)
    r, records = arm.run(PROG, "exec:" + PROG, "dlopen:libplug.so",
                         env={"LD_PRELOAD": SHIM_IN_ROOT, "EXECCHECK_FILES": "enforce"})
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and lines.count("main") == 2 and not ran(lines, "PLUG"), r
    assert "dlopen failed: libplug.so: cannot open shared object file: No such file or directory" in lines, r
    assert [(x["path"], x["action"], x["face"]) for x in records] == [(LIBPLUG, "refused", "audit")], records


def test_image_steps_on_an_arm64_image(arm):
    """An arm64 image hardened from this x86_64 host: prepare (x bits on its libraries), install
    --enforce (the aarch64 shim beside its libc, named in /etc/ld.so.preload), verify (ready); in
    the image its programs run under the shim from /etc/ld.so.preload, and a 0644 plugin and an
    injected library are refused there; uninstall and revert give the image back bit for bit."""
    root = arm.root
    os.unlink(os.path.join(root, "opt/t/lib/libplug2.so"))  # its 0644 dependency is the test's, not the image's
    os.unlink(os.path.join(root, SHIM_IN_ROOT.lstrip("/")))
    before = rootfs.listing(root)
    assert run(CLI + ["image", "prepare", "--apply", root]).returncode == 0
    r = run(CLI + ["image", "install", "--enforce", root])
    assert r.returncode == 0 and "installed /usr/lib/%s/libexeccheck.so" % TUPLE in r.stderr, r
    with open(os.path.join(root, "usr/lib", TUPLE, "libexeccheck.so"), "rb") as a, open(SHIM, "rb") as b:
        assert a.read() == b.read()
    with open(os.path.join(root, "etc/ld.so.preload")) as f:
        assert f.read() == "/usr/lib/%s/libexeccheck.so\n" % TUPLE
    r = run(CLI + ["image", "verify", "--json", root])
    v = json.loads(r.stdout)
    assert v["shim_problems"] == [] and v["refusals"] == [] and v["ready"], r.stdout
    r, _ = arm.run(PROG, "dlopen:libplug.so", log="/var/log/unused.jsonl")
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and "libfn 42" in lines and "dlopen failed: /proc/self/execcheck refused %s (x-bit): " \
        "cannot open shared object file: No such file or directory" % LIBPLUG in lines and not ran(lines, "PLUG"), r
    r, _ = arm.run(PROG, env={"LD_PRELOAD": EVIL}, log="/var/log/unused.jsonl")
    assert r.returncode == 126 and "main" not in r.stdout.splitlines() and not ran(r.stdout.splitlines(), "EVIL"), r
    with open(os.path.join(root, "var/log/execcheck.jsonl")) as f:
        logged = [(x["path"], x["action"], x["face"]) for x in map(json.loads, f)]
    assert logged == [(LIBPLUG, "refused", "preload"), (EVIL, "refused", "preload")], logged
    os.unlink(os.path.join(root, "var/log/execcheck.jsonl"))
    assert run(CLI + ["image", "uninstall", root]).returncode == 0
    assert run(CLI + ["image", "revert", root]).returncode == 0
    assert rootfs.listing(root) == before


def test_cpython_in_an_arm64_image(arm, python_debs, tmp_path):
    """The CPython face in an arm64 process: Debian 12's arm64 python3.11 unpacked into the root,
    the image prepared and installed enforcing with interactive code denied; an executable script
    runs, a 0644 one is refused as a script and as an import, -c is refused, a library injected
    into CPython never runs, an executable module imports."""
    for deb in python_debs:
        rootfs.unpack(deb, arm.root, str(tmp_path / "unpacked"))
    files = {"root/ok.py": ("print('SCRIPT ok')\n", 0o755), "root/bad.py": ("print('SCRIPT bad')\n", 0o644),
             "root/imp.py": ("import bad\n", 0o755), "root/imp_ok.py": ("import mod_ok\n", 0o755),
             "root/mod_ok.py": ("print('MODULE ok')\n", 0o755)}
    for rel, (text, mode) in files.items():
        os.makedirs(os.path.join(arm.root, os.path.dirname(rel)), exist_ok=True)
        with open(os.path.join(arm.root, rel), "w") as f:
            f.write(text)
        os.chmod(os.path.join(arm.root, rel), mode)
    for args in (["prepare", "--apply"], ["install", "--enforce", "--deny-interactive"]):
        r = run(CLI + ["image"] + args + [arm.root])
        assert r.returncode == 0, r
    py = "/usr/bin/python3.11"
    cases = [([py, "/root/ok.py"], {}, 0), ([py, "/root/bad.py"], {}, 126), ([py, "/root/imp.py"], {}, 1),
             ([py, "/root/imp_ok.py"], {}, 0), ([py, "-c", "print('SCRIPT c')"], {}, 126),
             ([py, "/root/ok.py"], {"LD_PRELOAD": EVIL}, 126)]
    out, err = [], []
    for argv, env, want in cases:
        r, _ = arm.run(*argv, env=env, log="/var/log/unused.jsonl")
        assert r.returncode == want, (argv, env, r)
        out += r.stdout.splitlines()
        err.append(r.stderr)
    assert out.count("SCRIPT ok") == 1 and out.count("MODULE ok") == 1, out
    assert "SCRIPT bad" not in out and "SCRIPT c" not in out and not ran(out, "EVIL"), out
    assert "refused to run /root/bad.py" in err[1] and "refused to import /root/bad.py" in err[2], err
    assert "python -c" in err[4] and "refused to run with %s: x-bit" % EVIL in err[5], err
    with open(os.path.join(arm.root, "var/log/execcheck.jsonl")) as f:
        logged = {(x["path"], x["action"]) for x in map(json.loads, f)}
    assert logged >= {("/root/bad.py", "refused"), (EVIL, "refused")}, logged


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

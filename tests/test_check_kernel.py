"""The kernel's AT_EXECVE_CHECK semantics, seen through the C core (execcheck.check).

Each case names the file kind and what the kernel must answer (research/kernel-execcheck.md §3.2),
and the reason the core gives for a denial."""
import errno
import json
import os
import socket
import stat
import sys

import pytest

import execcheck
from conftest import in_mountns, is_root, need, need_check, need_landlock, need_mountns, need_root, run

pytestmark = pytest.mark.usefixtures("_needs_check")


@pytest.fixture
def _needs_check():
    need_check()


def make_file(path, mode, data=b"#!/bin/sh\nexit 0\n"):
    path.write_bytes(data)
    os.chmod(path, mode)
    return path


def test_executable_file_allowed(tmp_path):
    v = execcheck.check(make_file(tmp_path / "prog", 0o755))
    assert v.allowed and v.reason is None and v.errno == 0
    st = os.stat(tmp_path / "prog")
    assert (v.dev, v.ino) == (st.st_dev, st.st_ino)
    assert stat.S_IMODE(v.mode) == 0o755


def test_0644_file_denied_xbit(tmp_path):
    v = execcheck.check(make_file(tmp_path / "lib.so", 0o644))
    assert not v.allowed and v.reason == "x-bit" and v.errno == errno.EACCES


def test_root_needs_any_x_bit(tmp_path):
    need_root()
    assert execcheck.check(make_file(tmp_path / "other-x", 0o601)).allowed
    assert execcheck.check(make_file(tmp_path / "owner-x-only", 0o100)).allowed
    assert execcheck.check(make_file(tmp_path / "none", 0o666)).reason == "x-bit"


def test_directory_not_regular(tmp_path):
    v = execcheck.check(tmp_path)
    assert not v.allowed and v.reason == "not-regular" and v.errno == errno.EACCES


def test_fifo_not_regular(tmp_path):
    os.mkfifo(tmp_path / "fifo", 0o777)
    v = execcheck.check(tmp_path / "fifo")
    assert v.reason == "not-regular"


def test_socket_and_pipe_fds_not_regular():
    a, b = socket.socketpair()
    r, w = os.pipe()
    try:
        for fd in (a.fileno(), r, w):
            v = execcheck.check(fd)
            assert not v.allowed and v.reason == "not-regular", fd
    finally:
        a.close(), b.close(), os.close(r), os.close(w)


def test_char_device_not_regular():
    assert execcheck.check("/dev/null").reason == "not-regular"


MFD_CLOEXEC, MFD_NOEXEC_SEAL, MFD_EXEC = 0x1, 0x8, 0x10


def test_memfd_default_and_exec_pass_noexec_seal_denied():
    need(hasattr(os, "memfd_create"), "needs os.memfd_create")
    with open("/proc/sys/vm/memfd_noexec") as f:
        need(f.read().strip() == "0", "vm.memfd_noexec must be 0 for the default-memfd case")
    fd = os.memfd_create("default", MFD_CLOEXEC)
    try:
        assert execcheck.check(fd).allowed
        os.fchmod(fd, 0o600)
        assert execcheck.check(fd).reason == "x-bit"
    finally:
        os.close(fd)
    fd = os.memfd_create("exec", MFD_CLOEXEC | MFD_EXEC)
    try:
        assert execcheck.check(fd).allowed
    finally:
        os.close(fd)
    fd = os.memfd_create("sealed", MFD_CLOEXEC | MFD_NOEXEC_SEAL)
    try:
        v = execcheck.check(fd)
        assert not v.allowed and v.reason == "x-bit" and stat.S_IMODE(v.mode) == 0o666
    finally:
        os.close(fd)


def test_o_path_fd(tmp_path):
    good = os.open(make_file(tmp_path / "good", 0o755), os.O_PATH | os.O_CLOEXEC)
    bad = os.open(make_file(tmp_path / "bad", 0o644), os.O_PATH | os.O_CLOEXEC)
    try:
        assert execcheck.check(good).allowed
        assert execcheck.check(bad).reason == "x-bit"
    finally:
        os.close(good), os.close(bad)


def test_symlink_followed_unless_asked(tmp_path):
    make_file(tmp_path / "target", 0o755)
    os.symlink("target", tmp_path / "link")
    assert execcheck.check(tmp_path / "link").allowed
    v = execcheck.check(tmp_path / "link", follow_symlinks=False)
    assert not v.allowed and v.reason == "not-regular" and v.errno == errno.ELOOP


def test_open_for_writing_is_busy(tmp_path):
    path = make_file(tmp_path / "prog", 0o755)
    w = os.open(path, os.O_WRONLY)
    try:
        v = execcheck.check(path)
        assert not v.allowed and v.reason == "busy" and v.errno == errno.ETXTBSY
    finally:
        os.close(w)
    assert execcheck.check(path).allowed


def test_missing_path_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        execcheck.check(tmp_path / "nope")
    with pytest.raises(ValueError):
        execcheck.check("bad\0path")


def test_noexec_mount(tmp_path):
    need_mountns()
    make_file(tmp_path / "prog", 0o755)
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    code = ("import execcheck,json,sys; v=execcheck.check(sys.argv[1]); "
            "print(json.dumps([v.allowed, v.reason]))")
    r = in_mountns('mount -t tmpfs -o noexec,size=1m none "$1"; cp -p "$2" "$1/prog"; "$3" -c "$4" "$1/prog"',
                   mnt, tmp_path / "prog", sys.executable, code)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [False, "noexec"]
    assert not os.path.ismount(mnt)  # nothing leaked into the host namespace


def test_landlock_denial_is_lsm(tmp_path, landlock_run):
    need_landlock()
    path = make_file(tmp_path / "prog", 0o755)
    code = "import execcheck,sys; v=execcheck.check(sys.argv[1]); print(v.allowed, v.reason)"
    r = landlock_run([], [sys.executable, "-c", code, str(path)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "lsm"]
    # the same file, with its directory inside the allowed hierarchy
    r = landlock_run([str(tmp_path)], [sys.executable, "-c", code, str(path)])
    assert r.stdout.split() == ["True", "None"], r.stderr


def test_unprivileged_user(open_tmp):
    """As nobody: the owner-only x bit of a root file no longer counts (root passes it)."""
    need_root()
    owner_only = make_file(open_tmp / "owner-only", 0o744)
    everyone = make_file(open_tmp / "everyone", 0o755)
    code = ("import os,execcheck,sys; os.setgroups([]); os.setgid(65534); os.setuid(65534); "
            "print(*[execcheck.check(p).reason for p in sys.argv[1:]])")
    r = run([sys.executable, "-c", code, str(owner_only), str(everyone)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["x-bit", "None"]
    assert execcheck.check(owner_only).allowed  # and root passes it


def test_unknown_errno_is_not_an_allow(tmp_path):
    """A check that fails for a reason the kernel does not explain still denies."""
    v = execcheck.check(make_file(tmp_path / "f", 0o600))
    assert v.allowed is False

"""The verdict cache (csrc/vcache.c) through cffi: verdicts live for one load operation, keyed by
the file's identity; a lookup reads only what was stored since the last clear, newest first."""
import os
import time

import pytest

from conftest import need_check
from execcheck._native import ffi, lib


@pytest.fixture(autouse=True)
def _fresh_cache():
    need_check()
    lib.ec_vcache_clear()
    yield
    lib.ec_vcache_clear()


def files(tmp_path, n, mode=0o755):
    out = []
    for i in range(n):
        p = tmp_path / ("f%d" % i)
        p.write_text("x")
        os.chmod(p, mode)
        out.append(p)
    return out


def check(path):
    """(allowed, cached) of ec_vcache_check_fd on a fresh descriptor of path."""
    v = ffi.new("struct ec_verdict *")
    cached = ffi.new("int *")
    fd = os.open(path, os.O_PATH)
    try:
        allowed = lib.ec_vcache_check_fd(fd, str(path).encode(), ffi.NULL, v, cached)
    finally:
        os.close(fd)
    return allowed, cached[0]


def test_a_verdict_is_found_again_until_a_clear(tmp_path):
    (good,) = files(tmp_path, 1)
    assert check(good) == (1, 0)
    assert check(good) == (1, 1)
    lib.ec_vcache_clear()
    assert check(good) == (1, 0)


def test_a_denial_is_cached_as_a_denial(tmp_path):
    (bad,) = files(tmp_path, 1, mode=0o644)
    assert check(bad) == (0, 0)
    assert check(bad) == (0, 1)


def test_the_newest_64_verdicts_are_kept(tmp_path):
    fs = files(tmp_path, 70)
    for p in fs:
        assert check(p) == (1, 0)
    assert [check(p)[1] for p in fs[6:]] == [1] * 64  # the last 64 stored
    assert check(fs[0]) == (1, 0)  # the oldest was replaced (and is stored again now)


def test_a_changed_file_is_not_the_cached_one(tmp_path):
    (p,) = files(tmp_path, 1)
    assert check(p) == (1, 0)
    os.chmod(p, 0o644)  # a new ctime: another state of the file
    assert check(p) == (0, 0)


def statx(path):
    st = ffi.new("struct ec_statx *")
    assert lib.ec_statx(-100, str(path).encode(), 0, 0x7FF | 0x1000, st) == 0  # AT_FDCWD, basic stats + mount id
    return st


def test_by_mapped_identity_only_for_the_file_that_was_checked(tmp_path):
    """A mapping shows (dev, ino) only, and an inode number freed between a check and ld.so's own
    open() can be handed to a new file at once (ext4 does): a verdict is taken for a mapping only
    when the loader's name for it leads to the file checked, by its whole key (a new file's ctime
    is not the old one's; here a chmod stands for it)."""
    (path,) = files(tmp_path, 1)
    st = os.stat(path)
    out = ffi.new("struct ec_verdict *")
    assert check(path) == (1, 0)  # stored under the file's statx key
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, statx(path), out) == 1 and out.allowed == 1
    time.sleep(0.02)  # past a coarse timestamp tick, where a kernel has no fine-grained ctime
    os.chmod(path, 0o755)  # same inode, same number, another ctime: not the file that was checked
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, statx(path), out) == 0
    (tmp_path / "o").mkdir()
    other = files(tmp_path / "o", 1)[0]  # another file's key for this identity: nothing
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, statx(other), out) == 0
    # nor the file checked for an identity its statx does not show (overlayfs over layers on two
    # filesystems maps a file of each under one number: tests/test_fs_kinds.py, overlay-2fs)
    assert check(other) == (1, 0)
    ost = os.stat(other)
    assert lib.ec_vcache_lookup_id(ost.st_dev + 1, ost.st_ino, statx(other), out) == 0
    assert lib.ec_vcache_lookup_id(ost.st_dev, ost.st_ino, statx(other), out) == 1


def test_a_held_inode_answers_by_identity_until_its_last_holder_lets_go(tmp_path):
    """Two loads may hold one library (pins.h): the first to let go must not take the other's hold
    with it, and once the last one has, (dev, ino) alone answers nothing (the inode may be freed
    and its number handed to a new file)."""
    (path,) = files(tmp_path, 1)
    st = os.stat(path)
    out = ffi.new("struct ec_verdict *")
    assert check(path) == (1, 0)
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, ffi.NULL, out) == 0  # not held: nothing
    assert lib.ec_vcache_hold(st.st_dev, st.st_ino) == 1
    assert lib.ec_vcache_hold(st.st_dev, st.st_ino) == 1
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, ffi.NULL, out) == 1 and out.allowed == 1
    lib.ec_vcache_let_go(st.st_dev, st.st_ino)
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, ffi.NULL, out) == 1  # the other still holds it
    lib.ec_vcache_let_go(st.st_dev, st.st_ino)
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, ffi.NULL, out) == 0
    lib.ec_vcache_let_go(st.st_dev, st.st_ino)  # one too many: no count below zero
    assert lib.ec_vcache_hold(st.st_dev, st.st_ino) == 1
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, ffi.NULL, out) == 1
    lib.ec_vcache_let_go(st.st_dev, st.st_ino)
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, ffi.NULL, out) == 0


CONTENDER_C = r"""
#include <pthread.h>
#include <stdint.h>
typedef int (*lookup_fn)(uint64_t, uint64_t, const void *, void *);
static volatile int stop;
static pthread_t thread;
static lookup_fn lookup;
static uint64_t dev, ino;
static void *run(void *arg)
{
    char v[512];
    (void)arg;
    while (!stop) lookup(dev, ino, 0, v);
    return 0;
}
int contend(void *fn, uint64_t d, uint64_t i)
{
    lookup = (lookup_fn)fn, dev = d, ino = i, stop = 0;
    return pthread_create(&thread, 0, run, 0);
}
void contend_stop(void) { stop = 1; pthread_join(thread, 0); }
"""


def test_a_let_go_that_finds_the_cache_busy_still_lets_go(tmp_path):
    """The cache is taken with a try-lock (never waited for). A let-go that finds another thread in
    it must not leave the hold standing - it would answer for the next file given that inode
    number: the cache is cleared instead. A C thread keeps the cache busy with lookups while this
    one holds and lets go; after each let-go nothing answers by identity."""
    import ctypes
    import subprocess
    (path, other) = files(tmp_path, 2)
    st, ost = os.stat(path), os.stat(other)
    src = tmp_path / "contender.c"
    src.write_text(CONTENDER_C)
    so = tmp_path / "libcontender.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(so), str(src), "-pthread"], check=True)
    contender = ctypes.CDLL(str(so))
    contender.contend.argtypes = [ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint64]
    lookup = int(ffi.cast("uintptr_t", ffi.addressof(lib, "ec_vcache_lookup_id")))
    out = ffi.new("struct ec_verdict *")
    stale, counted = 0, 0
    assert contender.contend(lookup, ost.st_dev, ost.st_ino) == 0
    try:
        for _ in range(5000):
            if check(path)[0] != 1 or not lib.ec_vcache_hold(st.st_dev, st.st_ino):
                continue
            counted += 1
            lib.ec_vcache_let_go(st.st_dev, st.st_ino)
            # a lookup that meets the busy cache answers 0 as well: only a 1 is a standing hold
            for _ in range(3):
                stale += lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, ffi.NULL, out)
    finally:
        contender.contend_stop()
    assert counted > 100
    assert stale == 0

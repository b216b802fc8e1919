"""The verdict cache (csrc/vcache.c) through cffi: verdicts live for one load operation, keyed by
the file's identity; a lookup reads only what was stored since the last clear, newest first."""
import os

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


def test_by_mapped_identity_the_newest_verdict_answers(tmp_path):
    st = os.stat(files(tmp_path, 1)[0])
    v = ffi.new("struct ec_verdict *")
    out = ffi.new("struct ec_verdict *")
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, out) == 0
    v.allowed = 1
    lib.ec_vcache_store_id(st.st_dev, st.st_ino, v)
    v.allowed, v.reason = 1, 7
    lib.ec_vcache_store_id(st.st_dev, st.st_ino, v)
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, out) == 1 and out.reason == 7
    v.allowed = 0
    lib.ec_vcache_store_id(st.st_dev, st.st_ino, v)
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, out) == 0  # verdicts that disagree: none
    lib.ec_vcache_clear()
    assert lib.ec_vcache_lookup_id(st.st_dev, st.st_ino, out) == 0

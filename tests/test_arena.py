"""The core's bump allocator (csrc/arena.c): every allocation reads as zero, whether its memory is
fresh from mmap or handed out before and released. It zeroes only memory handed out before, so
what is checked here is exactly the boundary between the two."""
from execcheck._native import ffi, lib


def zero(p, n):
    return bytes(ffi.buffer(p, n)) == bytes(n)


def test_allocations_read_zero_fresh_and_reused():
    a = ffi.new("struct ec_arena *")
    lib.ec_arena_init(a, 64 << 20)
    try:
        assert zero(lib.ec_arena_alloc(a, 16), 16)  # the first chunk
        m = lib.ec_arena_mark(a)
        p = lib.ec_arena_alloc(a, 3000)
        assert zero(p, 3000)
        ffi.memmove(p, b"\xff" * 3000, 3000)
        lib.ec_arena_release(a, m)
        # the same memory again, and past what was dirtied
        q = lib.ec_arena_alloc(a, 10000)
        assert q == p and zero(q, 10000)
        ffi.memmove(q, b"\xee" * 10000, 10000)
        lib.ec_arena_release(a, m)
        # reused in pieces that straddle the old boundaries
        pieces = [lib.ec_arena_alloc(a, n) for n in (16, 2990, 7000, 4096)]
        assert all(zero(x, n) for x, n in zip(pieces, (16, 2990, 7000, 4096)))
        ffi.memmove(pieces[-1], b"\xdd" * 4096, 4096)
        # a chunk of its own, then back to the mark: the first chunk is reused, the big one gone
        big = lib.ec_arena_alloc(a, 3 << 20)
        assert zero(big, 3 << 20)
        lib.ec_arena_release(a, m)
        again = lib.ec_arena_alloc(a, 30000)
        assert again == p and zero(again, 30000)
    finally:
        lib.ec_arena_free(a)


def test_a_size_that_wraps_when_rounded_up_is_refused():
    """n rounded up to 16 bytes wrapped past SIZE_MAX to 0, which became 16: a request for
    2**64 - 8 bytes got a 16-byte block (with no limit to stop it), where NULL is the answer."""
    a = ffi.new("struct ec_arena *")
    lib.ec_arena_init(a, 2 ** 64 - 1)
    try:
        assert lib.ec_arena_alloc(a, 16) != ffi.NULL
        for n in (2 ** 64 - 1, 2 ** 64 - 8, 2 ** 64 - 15):
            assert lib.ec_arena_alloc(a, n) == ffi.NULL, n
    finally:
        lib.ec_arena_free(a)

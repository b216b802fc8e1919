"""ld.so.cache: the reader against ldconfig's own listing, and its lookups against ld.so in a chroot
for the cases the host's cache does not have: glibc-hwcaps entries, legacy hwcap entries, the old
and compat formats, and caches ld.so must ignore."""
import re
import struct
import subprocess

import pytest

from conftest import need_root
from execcheck._native import ffi, lib
from execcheck.audit.resolver import Session
from imagefixture import base_root, chroot_into
from ldfixtures import real_run
from ldtruth import comparable, predicted, trace

LDCONFIG_LINE = re.compile(r"^\t(?P<name>\S+) \((?P<flags>[^)]*)\) => (?P<path>.*)$")


def ldconfig_listing(args=()):
    out = subprocess.run(["ldconfig", "-p"] + list(args), capture_output=True, text=True, check=True).stdout
    return [(m["name"], m["flags"], m["path"]) for m in map(LDCONFIG_LINE.match, out.splitlines()) if m]


def test_host_cache_reads_as_ldconfig_lists_it():
    entries = Session().cache_entries()
    listing = ldconfig_listing()
    assert entries is not None and len(entries) == len(listing) > 100
    assert [(e[0], e[1]) for e in entries] == [(n, p) for n, _f, p in listing]


def test_host_cache_lookup_is_the_first_usable_entry():
    s = Session()
    c = lib.ec_ld_cache(s._s)
    params = ffi.new("struct ec_ldcache_params *", {"flags": 0x0303, "hwcap": 2, "platform_mask": 3 << 48,
                                                     "platform_bit": -1, "isa_levels": 1})
    first = {}
    for name, flags, path in ldconfig_listing():
        if "x86-64" in flags and "hwcap" not in flags:
            first.setdefault(name, path)
    assert first
    for name, path in first.items():
        got = lib.ec_ldcache_lookup(c, params, name.encode())
        assert got != ffi.NULL and ffi.string(got).decode() == path, name


def test_libcmp_orders_like_ldconfig():
    cmp = lambda a, b: lib.ec_ldcache_libcmp(a.encode(), b.encode())
    assert cmp("libfoo.so.10", "libfoo.so.9") > 0      # numbers compare as numbers
    assert cmp("libfoo.so.1", "libfoo.so.1") == 0
    assert cmp("libfoo.so", "libfoo.so.1") < 0
    assert cmp("libx9", "libxa") > 0                   # a digit sorts above a letter
    names = [e[0] for e in Session().cache_entries()]
    assert all(cmp(a, b) >= 0 for a, b in zip(names, names[1:]))  # the cache is sorted descending


# ----------------------------------------------------------------------------- in a chroot

@pytest.fixture
def hwroot(tmp_path):
    need_root()
    img = base_root(tmp_path / "root")
    r = img.root
    img.lib("/opt/lib/libnamed.so.1", "named-baseline", "libnamed.so.1")
    img.lib("/opt/lib/glibc-hwcaps/x86-64-v2/libnamed.so.1", "named-v2", "libnamed.so.1")
    img.lib("/opt/lib/glibc-hwcaps/x86-64-v3/libnamed.so.1", "named-v3", "libnamed.so.1")
    img.lib("/opt/lib/libleg.so.1", "leg-plain", "libleg.so.1")
    img.lib("/opt/lib/x86_64/libleg.so.1", "leg-x86_64", "libleg.so.1")
    img.lib("/opt/lib/tls/libleg.so.1", "leg-tls", "libleg.so.1")
    img.lib("/opt/lib/haswell/libleg.so.1", "leg-haswell", "libleg.so.1")
    img.lib("/opt/lib/avx512_1/libleg.so.1", "leg-avx512_1", "libleg.so.1")
    img.prog("/usr/bin/prog_named", link=["/opt/lib/libnamed.so.1"])
    img.prog("/usr/bin/prog_leg", link=["/opt/lib/libleg.so.1"])
    (r / "etc/ld.so.conf").write_text("/opt/lib\n")
    return img


def agree(img, prog, env=None, **session_kw):
    s = Session(root=str(img.root), **session_kw)
    res = s.resolve(prog)
    rc, tags, err = real_run([prog], env=env, preexec_fn=chroot_into(img.root))
    assert rc == 0 and res.starts, err
    ours = sorted(img.tags[o.realpath] for o in res.loaded() if o.realpath in img.tags)
    assert sorted(tags) == ours
    entries, trc, _ = trace([prog], env=env, preexec_fn=chroot_into(img.root))
    assert comparable(entries) == comparable(predicted(res))
    return ours


@pytest.mark.parametrize("fmt", ["new", "compat"])
def test_cache_formats_and_hwcaps_entries_as_ld_so_reads_them(hwroot, fmt):
    subprocess.run(["ldconfig", "-r", str(hwroot.root), "-c", fmt], check=True, capture_output=True)
    s = Session(root=str(hwroot.root))
    entries = s.cache_entries()
    listing = ldconfig_listing(["-r", str(hwroot.root)])
    assert [(e[0], e[1]) for e in entries] == [(n, p) for n, _f, p in listing]
    named = agree(hwroot, "/usr/bin/prog_named")
    leg = agree(hwroot, "/usr/bin/prog_leg")
    assert len(leg) == 1
    if fmt == "compat":
        # ld.so reads the glibc-hwcaps names from the start of the file, where the old part is:
        # in a compat cache no name matches and the plain entry is taken
        assert named == ["named-baseline"]
        return
    want = {4: "named-v3", 3: "named-v3", 2: "named-v2"}.get(s.isa_level, "named-baseline")
    assert named == [want]
    if s.isa_level >= 3:
        # a lower ISA level, as the glibc.cpu.hwcaps tunable gives ld.so
        low = agree(hwroot, "/usr/bin/prog_named", env={"GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX2_Usable,-AVX2"},
                    isa_level=2)
        assert low == ["named-v2"]


def test_old_format_cache(tmp_path):
    need_root()
    img = base_root(tmp_path / "root")
    img.lib("/opt/lib/libold.so.1", "old", "libold.so.1")
    img.prog("/usr/bin/prog_old", link=["/opt/lib/libold.so.1"])
    (img.root / "etc/ld.so.conf").write_text("/opt/lib\n")
    subprocess.run(["ldconfig", "-r", str(img.root), "-c", "old"], check=True, capture_output=True)
    assert img.p("/etc/ld.so.cache").read_bytes().startswith(b"ld.so-1.7.0")
    s = Session(root=str(img.root))
    c = lib.ec_ld_cache(s._s)  # valid while s lives
    assert c != ffi.NULL and c.format == lib.EC_LDCACHE_OLD
    assert agree(img, "/usr/bin/prog_old") == ["old"]


def test_caches_ld_so_ignores(hwroot):
    """A truncated cache, a big-endian one, and one whose count does not fit: ld.so ignores them
    and falls back to the default directories (where libnamed is not): both must say "not found",
    and a valid cache finds it."""
    subprocess.run(["ldconfig", "-r", str(hwroot.root)], check=True, capture_output=True)
    cache = hwroot.p("/etc/ld.so.cache")
    good = cache.read_bytes()
    variants = {
        "truncated": good[:40],
        "big-endian": good[:28] + bytes([good[28] | 3]) + good[29:],
        "count-too-big": good[:20] + struct.pack("<I", 10 ** 6) + good[24:],
        "bad-magic": b"X" + good[1:],
    }
    for what, data in variants.items():
        cache.write_bytes(data)
        res = Session(root=str(hwroot.root)).resolve("/usr/bin/prog_named")
        rc, tags, err = real_run(["/usr/bin/prog_named"], preexec_fn=chroot_into(hwroot.root))
        assert rc == 127 and not res.starts and res.failure() in err, (what, err, res.failure())
    cache.write_bytes(good)
    assert Session(root=str(hwroot.root)).resolve("/usr/bin/prog_named").starts

"""Hostile input: thousands of mutated ELF files and ld.so.cache files.

No crash (the C code runs in a child process, so a crash is a failure with its seed, not a dead
test run), no traceback, and every file accounted for in the audit's JSON. Mutations are
deterministic (seeded), aimed at what the readers parse: the ELF header, program headers, the
dynamic section, strings and version records; and for caches the header, entries and extension.
"""
import json
import os
import random
import struct
import subprocess
import sys

import pytest

from conftest import C_DIR, execcheck_cmd, run
from imagefixture import base_root
from ldfixtures import Tree, dynamic_entries

N_ELF = 2000
N_CACHE = 3000


def mutate_elf(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    how = rnd.randrange(9)
    if how == 0:  # truncate anywhere
        return bytes(b[:rnd.randrange(len(b))])
    if how == 1:  # flip bytes in the ELF header
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(64)] = rnd.randrange(256)
    elif how == 2:  # huge or odd header fields
        off, fmt, val = rnd.choice([(32, "<Q", rnd.choice([2 ** 63, len(b) - 8, 2 ** 32])),   # e_phoff
                                    (56, "<H", rnd.choice([0, 1, 0xffff, 4097])),            # e_phnum
                                    (54, "<H", rnd.choice([0, 32, 57, 0xffff])),             # e_phentsize
                                    (4, "<B", rnd.choice([0, 1, 3])),                        # EI_CLASS
                                    (5, "<B", rnd.choice([0, 2, 3])),                        # EI_DATA
                                    (18, "<H", rnd.choice([3, 40, 183, 0xffff]))])           # e_machine
        struct.pack_into(fmt, b, off, val)
    elif how == 3:  # program headers
        phoff, = struct.unpack_from("<Q", b, 32)
        phnum, = struct.unpack_from("<H", b, 56)
        if phoff + 56 * phnum <= len(b) and phnum:
            i = rnd.randrange(phnum)
            field = rnd.choice([8, 16, 32, 40])  # offset, vaddr, filesz, memsz
            struct.pack_into("<Q", b, phoff + 56 * i + field, rnd.choice([0, 2 ** 64 - 1, len(b) * 4, rnd.randrange(2 ** 32)]))
    elif how in (4, 5):  # dynamic entries: tags and values
        dyn = _dyn(data)
        if dyn:
            off, tag, val = rnd.choice(dyn)
            if how == 4:
                struct.pack_into("<Q", b, off + 8, rnd.choice([0, 2 ** 64 - 1, (val + rnd.randrange(-64, 64)) % 2 ** 64,
                                                                rnd.randrange(2 ** 32)]))
            else:
                struct.pack_into("<q", b, off, rnd.choice([1, 5, 14, 15, 29, 0x6ffffffe, 0x6ffffffc, 0x7fffffff,
                                                           0x7ffffffd, 0, 36]))
    elif how == 6:  # no terminator: overwrite DT_NULL
        for off, tag, _v in _dyn(data):
            if tag == 0:
                struct.pack_into("<q", b, off, 1)
    elif how == 7:  # random bytes anywhere
        for _ in range(rnd.randint(1, 40)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    else:  # strings lose their terminators around the dynamic string table
        for _ in range(rnd.randint(1, 30)):
            i = rnd.randrange(len(b))
            if b[i] == 0:
                b[i] = 0x41
    return bytes(b)


def _dyn(data):
    try:
        return dynamic_entries_from_bytes(data)
    except struct.error:
        return []


def dynamic_entries_from_bytes(data):
    import tempfile
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        return dynamic_entries(f.name)


def mutate_cache(data: bytes, rnd: random.Random) -> bytes:
    b = bytearray(data)
    how = rnd.randrange(6)
    if how == 0:
        return bytes(b[:rnd.randrange(len(b))])
    if how == 1:  # header: counts, flags, extension offset
        off = rnd.choice([20, 24, 28, 32])
        struct.pack_into("<I", b, off, rnd.choice([0, 1, 2, 3, 0xffffffff, len(b), len(b) // 24 + 1, rnd.randrange(2 ** 32)]))
    elif how == 2:  # entries: key/value offsets, flags, hwcap
        n, = struct.unpack_from("<I", b, 20)
        if n and 48 + 24 * n <= len(b):
            e = 48 + 24 * rnd.randrange(n)
            f = rnd.choice([0, 4, 8, 16, 20])
            struct.pack_into("<I", b, e + f, rnd.choice([0, 1, 0x303, 0xffffffff, len(b) - 1, len(b), 1 << 30,
                                                          (1 << 30) | 3, rnd.randrange(2 ** 32)]))
    elif how == 3:  # extension directory
        ext, = struct.unpack_from("<I", b, 32)
        if ext and ext + 8 <= len(b):
            struct.pack_into("<I", b, ext + rnd.choice([4, 8, 16, 20, 24]), rnd.choice([0, 1, 2, 7, 0xffffffff, len(b)]))
    elif how == 4:
        for _ in range(rnd.randint(1, 30)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
    else:  # strings lose their terminators
        for _ in range(rnd.randint(1, 50)):
            i = rnd.randrange(len(b))
            if b[i] == 0:
                b[i] = 0x61
    return bytes(b)


CHILD = r"""
import json, os, sys
from execcheck.audit.resolver import Session, read_elf
from execcheck._native import ffi, lib
root, prog, n_dirs, caches = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
s = Session(root=root)
done = 0
for dirpath, _d, files in os.walk(os.path.join(root, "opt")):
    for f in files:
        p = os.path.join(dirpath, f)
        try:
            read_elf(p)
        except OSError:
            pass
        ip = p[len(root):]
        s.resolve(ip, check_alone=True, trace=True)
        s.resolve(ip, as_library=True, check_alone=True)
        done += 1
# every mutated copy as a candidate on the search path of a real program
for i in range(n_dirs):
    s.resolve(prog, library_path="/opt/cand/%d" % i, trace=True, check_alone=True)
# caches straight into the reader
params = ffi.new("struct ec_ldcache_params *", {"flags": 0x0303, "hwcap": 2, "platform_mask": 3 << 48,
                                                 "platform_bit": -1, "isa_levels": 15})
names = [ffi.new("char[]", b"x86-64-v%d" % i) for i in (4, 3, 2)]
active = ffi.new("char *[]", names)
params.hwcaps_active = active
params.nhwcaps_active = 3
c = ffi.new("struct ec_ldcache *")
ent = ffi.new("struct ec_ldcache_entry *")
ncache = 0
for f in sorted(os.listdir(caches)):
    data = open(os.path.join(caches, f), "rb").read()
    buf = ffi.new("char[]", data)
    if lib.ec_ldcache_parse(c, buf, len(data)):
        for i in range(min(c.nlibs, 64)):
            lib.ec_ldcache_entry(c, i, ent)
        for name in (b"libc.so.6", b"libhw.so.1", b"libm.so.6", b"", b"9" * 40):
            r = lib.ec_ldcache_lookup(c, params, name)
            if r != ffi.NULL:
                assert ffi.string(r) is not None
    ncache += 1
print(json.dumps({"files": done, "caches": ncache}))
"""


@pytest.fixture(scope="module")
def fuzz_root(tmp_path_factory):
    base = tmp_path_factory.mktemp("fuzz")
    t = Tree(base / "seeds")
    seeds = [t.lib("libseed.so", "seed", soname="libseed.so", needed=["-lm"], flags=["-Wl,-z,now"]).read_bytes(),
             t.prog("prog", needed=[t.p("libseed.so")]).read_bytes()]
    root = base_root(base / "root").root  # a real loader and libc, so resolution goes deep
    rnd = random.Random(20261128)
    for i in range(N_ELF):
        data = mutate_elf(seeds[i % 2], rnd)
        if i % 10 == 0:  # a tenth are candidates on a search path, under the name a program asks for
            d = root / "opt/cand" / str(i // 10)
            d.mkdir(parents=True)
            (d / "libseed.so").write_bytes(data)
        else:
            (root / "opt/lib" / ("libfuzz%04d.so" % i)).write_bytes(data)
            os.chmod(root / "opt/lib" / ("libfuzz%04d.so" % i), 0o755)
    prog = root / "usr/bin/prog"
    prog.write_bytes(seeds[1])
    os.chmod(prog, 0o755)
    caches = base / "caches"
    caches.mkdir()
    sources = [open("/etc/ld.so.cache", "rb").read()]
    for i in range(N_CACHE):
        (caches / ("c%05d" % i)).write_bytes(mutate_cache(sources[0], rnd))
    # the image's own cache is a mutated one too
    (root / "etc/ld.so.cache").write_bytes(mutate_cache(sources[0], rnd))
    return root, caches


def test_mutated_files_never_crash_the_readers(fuzz_root):
    root, caches = fuzz_root
    r = subprocess.run([sys.executable, "-c", CHILD, str(root), "/usr/bin/prog", str(N_ELF // 10), str(caches)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "child died (%d): %s" % (r.returncode, r.stderr[-2000:])
    counts = json.loads(r.stdout)
    assert counts == {"files": N_ELF, "caches": N_CACHE}


def test_mutated_files_under_sanitizers(fuzz_root, tmp_path):
    """The same corpus through the C core built with AddressSanitizer and UBSan: any read out of
    bounds or undefined behaviour aborts."""
    top = C_DIR.parent.parent
    exe = tmp_path / "resolver_fuzz"
    srcs = [str(p) for p in sorted((top / "csrc").glob("*.c")) if p.name not in ("sinks.c", "record.c", "policy.c")]
    r = subprocess.run([os.environ.get("CC", "cc"), "-O1", "-g", "-fsanitize=address,undefined",
                        "-fno-sanitize-recover=all", "-I", str(top / "csrc"), "-o", str(exe),
                        str(C_DIR / "resolver_fuzz.c")] + srcs, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    root, caches = fuzz_root
    files = sorted("/" + os.path.relpath(os.path.join(d, n), root)
                   for d, _x, names in os.walk(root / "opt") for n in names)
    r = subprocess.run([str(exe), str(root), "/usr/bin/prog", str(N_ELF // 10), str(caches)] + files,
                       capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"))
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.split() == ["ok", str(len(files)), str(N_CACHE)]


def test_mutated_image_audit_accounts_for_every_file(fuzz_root):
    root, _ = fuzz_root
    r = run(execcheck_cmd() + ["audit", "--root", str(root), "--json", "--fail-on", "none"], timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    files = set()
    for dirpath, _d, names in os.walk(root / "opt"):
        for n in names:
            files.add("/" + os.path.relpath(os.path.join(dirpath, n), root))
    seen = set(doc["inputs"])
    assert files <= seen, sorted(files - seen)[:10]
    assert len(files) == N_ELF
    outcomes = {}
    for f in files:
        outcomes[doc["inputs"][f].split(":")[0]] = outcomes.get(doc["inputs"][f].split(":")[0], 0) + 1
    # the mutations reach every kind of outcome, not only the first check
    assert {"bad-elf", "library", "program", "foreign"} <= set(outcomes), outcomes
    bad = [f for f in doc["findings"] if f["rule"] == "bad-elf"]
    assert bad and all(f["message"] for f in bad)

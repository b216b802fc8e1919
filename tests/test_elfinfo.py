"""The small C reader (csrc/elfinfo.c) against pyelftools, on every ELF file of this machine.

Every file system mounted at / is walked (not /proc, /sys, /dev, nor the volatile /tmp and /work
where builds come and go); a file is opened when it could be ELF: executable, named like a
shared object or an object file, or kept in a debug directory. Each ELF file found is read by both
readers and every fact the resolver uses must agree.
"""
import os
import re
import stat

import pytest

from execcheck.audit.resolver import read_elf
from elfref import ours, reference

SKIP = ("/proc", "/sys", "/dev", "/tmp", "/work", "/run")
NAMES = re.compile(r"\.so($|\.)|\.o$|\.ko$|\.debug$")


def elf_files():
    dev = os.stat("/").st_dev
    out = []
    stack = ["/"]
    while stack:
        d = stack.pop()
        try:
            it = list(os.scandir(d))
        except OSError:
            continue
        for e in it:
            if e.path in SKIP:
                continue
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(st.st_mode):
                if st.st_dev == dev:
                    stack.append(e.path)
            elif stat.S_ISREG(st.st_mode) and st.st_size >= 16 and (
                    st.st_mode & 0o111 or NAMES.search(e.name) or "/.debug/" in e.path):
                try:
                    with open(e.path, "rb") as f:
                        if f.read(4) == b"\x7fELF":
                            out.append(e.path)
                except OSError:
                    pass
    return sorted(out)


@pytest.fixture(scope="module")
def files():
    found = elf_files()
    assert len(found) > 1000, "expected the machine's ELF files"
    return found


def test_reader_agrees_with_pyelftools_on_every_elf_file(files):
    compared, refused, wrong = 0, [], []
    for p in files:
        try:
            ref = reference(p)
        except Exception as e:  # pyelftools refuses some files; ours must then still not crash
            refused.append((p, repr(e)[:80]))
            read_elf(p)
            continue
        mine = ours(read_elf(p))
        if mine != ref:
            wrong.append((p, {k: (ref[k], mine[k]) for k in ref if ref[k] != mine[k]}))
        compared += 1
    assert not wrong, "\n".join("%s: %s" % (p, str(d)[:300]) for p, d in wrong[:10])
    assert compared > 1000 and len(refused) < compared / 20, refused[:10]


def test_reader_on_the_files_that_matter_most():
    """The loader and libc: exact values, not only agreement."""
    ld = read_elf("/lib64/ld-linux-x86-64.so.2")
    assert ld.ok and ld.type == 3 and ld.machine == 62 and ld.soname == "ld-linux-x86-64.so.2" and not ld.needed
    libc = read_elf("/lib/x86_64-linux-gnu/libc.so.6")
    assert libc.soname == "libc.so.6" and libc.needed == ["ld-linux-x86-64.so.2"]
    assert libc.interp == "/lib64/ld-linux-x86-64.so.2"
    names = [d[0] for d in libc.verdef]
    assert "GLIBC_2.2.5" in names and "GLIBC_2.34" in names
    from execcheck._native import lib
    assert all(lib.ec_elf_hash(n.encode()) == h for n, h, _f, _v in libc.verdef if n)


def test_strings_read_out_of_order_share_one_read(tmp_path):
    """A library's RUNPATH is read before its DT_NEEDED names, which lie just before it in the
    string table: a window that starts at an aligned offset covers both. Header and program
    headers, the dynamic section, the strings: three reads (four when the window starts at the
    RUNPATH string itself)."""
    import shutil
    import subprocess
    import sys
    from conftest import need
    need(shutil.which("strace") is not None and shutil.which("cc") is not None, "needs strace and cc")
    src = tmp_path / "many.c"
    src.write_text("\n".join("int fn_%d(void) { return %d; }" % (i, i) for i in range(200)))
    lib = tmp_path / "libmany.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src), "-Wl,--enable-new-dtags,-rpath,/opt/x",
                    "-Wl,--no-as-needed", "-lm", "-lz"], check=True)
    got = read_elf(str(lib))
    assert got.runpath == "/opt/x" and got.needed == ["libm.so.6", "libz.so.1", "libc.so.6"], got
    from elftools.elf.elffile import ELFFile
    with open(lib, "rb") as f:
        dynstr = ELFFile(f).get_section_by_name(".dynstr")
        assert dynstr["sh_offset"] > 2048  # the strings lie beyond the first window
    log = tmp_path / "reads.txt"
    code = "from execcheck.audit.resolver import read_elf; read_elf(%r)" % str(lib)
    subprocess.run(["strace", "-f", "-e", "trace=pread64", "-P", str(lib), "-o", str(log), sys.executable, "-c", code],
                   check=True)
    reads = [l for l in log.read_text().splitlines() if "pread64(" in l]
    assert len(reads) == 3, reads

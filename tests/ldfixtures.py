"""Builders for loader fixtures: tagged libraries and programs, and the oracle of a real run.

Every library built here announces itself from a constructor ("LOADED <tag>" on stderr), so a
real run shows which copy ld.so took; the program prints nothing and exits 0. Dynamic-section
strings that a linker will not write ($ORIGIN in DT_NEEDED, both DT_RPATH and DT_RUNPATH) are
made by patching the linked file in place, same length.
"""
import os
import pathlib
import shutil
import struct
import subprocess

CC = os.environ.get("CC", "cc")

LIB_SRC = r"""
#include <unistd.h>
#include <string.h>
__attribute__((constructor)) static void announce(void)
{
    static const char msg[] = "LOADED " TAG "\n";
    write(2, msg, sizeof msg - 1);
}
int %(sym)s(void) { return 1; }
"""

PROG_SRC = r"""
int main(void) { return 0; }
"""


class Tree:
    """A directory of fixtures; remembers which tag each built library carries."""

    def __init__(self, base: pathlib.Path):
        self.base = pathlib.Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.tags = {}  # realpath -> tag

    def p(self, rel) -> pathlib.Path:
        return self.base / rel

    def lib(self, rel, tag, soname=None, needed=(), rpath=None, runpath=None, flags=(), sym=None):
        """Builds a shared library at rel. needed: paths of libraries to link (their SONAME, or the
        path as given when they have none, becomes a DT_NEEDED)."""
        out = self.p(rel)
        out.parent.mkdir(parents=True, exist_ok=True)
        src = out.with_name(out.name.replace("/", "_") + ".c")
        sym = sym or "f_" + "".join(c if c.isalnum() else "_" for c in tag)
        src.write_text(LIB_SRC % {"sym": sym})
        cmd = [CC, "-shared", "-fPIC", "-O1", '-DTAG="%s"' % tag, "-o", str(out), str(src)]
        if soname:
            cmd.append("-Wl,-soname," + soname)
        cmd += _link_args(needed, rpath, runpath) + list(flags)
        _run(cmd, cwd=self.base)
        src.unlink()
        self.tags[os.path.realpath(out)] = tag
        return out

    def prog(self, rel, needed=(), rpath=None, runpath=None, flags=()):
        out = self.p(rel)
        out.parent.mkdir(parents=True, exist_ok=True)
        src = self.base / ("prog_%s.c" % out.name)
        src.write_text(PROG_SRC)
        cmd = [CC, "-O1", "-o", str(out), str(src)] + _link_args(needed, rpath, runpath) + list(flags)
        _run(cmd, cwd=self.base)
        src.unlink()
        return out

    def tag_of(self, path):
        return self.tags.get(os.path.realpath(path))


def _link_args(needed, rpath, runpath):
    args = ["-Wl,--no-as-needed"]
    for n in needed:
        args.append(str(n))
    if rpath is not None:
        args += ["-Wl,--disable-new-dtags", "-Wl,-rpath," + rpath]
    if runpath is not None:
        args += ["-Wl,--enable-new-dtags", "-Wl,-rpath," + runpath]
    return args


def _run(cmd, cwd=None):
    r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, "%s\n%s" % (" ".join(map(str, cmd)), r.stderr)


def patch_bytes(path, old: bytes, new: bytes):
    """Replaces old by new (same length) everywhere in the file."""
    assert len(old) == len(new)
    data = pathlib.Path(path).read_bytes()
    assert old in data, (path, old)
    pathlib.Path(path).write_bytes(data.replace(old, new))


def dynamic_entries(path):
    """(file offset, tag, value) of each dynamic entry of an ELF64 LE file, via its program headers."""
    data = pathlib.Path(path).read_bytes()
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        ptype, _flags, off, _va, _pa, filesz = struct.unpack_from("<IIQQQQ", data, phoff + i * phentsize)
        if ptype == 2:
            out = []
            for k in range(filesz // 16):
                tag, val = struct.unpack_from("<qQ", data, off + 16 * k)
                out.append((off + 16 * k, tag, val))
                if tag == 0:
                    break
            return out
    return []


def retag(path, old_tag, new_tag):
    """Changes the tag of the dynamic entries tagged old_tag."""
    data = bytearray(pathlib.Path(path).read_bytes())
    n = 0
    for off, tag, _val in dynamic_entries(path):
        if tag == old_tag:
            struct.pack_into("<q", data, off, new_tag)
            n += 1
    assert n, "no dynamic tag %#x in %s" % (old_tag, path)
    pathlib.Path(path).write_bytes(bytes(data))


DT_RPATH, DT_RUNPATH, DT_AUDIT, DT_FLAGS_1 = 15, 29, 0x6ffffefc, 0x6ffffffb


def real_run(argv, env=None, cwd=None, preexec_fn=None, timeout=30):
    """(returncode, tags loaded in constructor order, stderr without the tag lines)."""
    e = {"PATH": "/usr/bin:/bin"}
    e.update(env or {})
    p = subprocess.run([str(a) for a in argv], env=e, cwd=cwd, capture_output=True, timeout=timeout,
                       preexec_fn=preexec_fn)
    tags, rest = [], []
    for line in p.stderr.decode("utf-8", "replace").splitlines():
        if line.startswith("LOADED "):
            tags.append(line[7:])
        else:
            rest.append(line)
    return p.returncode, tags, "\n".join(rest)


def copy_exec(src, dst):
    shutil.copy2(src, dst)
    return pathlib.Path(dst)

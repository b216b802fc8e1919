"""Build of execcheck: the cffi extension (csrc) and the shim libexeccheck.so (csrc + preload).

Metadata lives in pyproject.toml. This file adds the one build step setuptools cannot describe:
the shim is a freestanding shared library (no libc, raw syscalls) so that it can serve as an
rtld-audit module without mapping a second libc (DESIGN.md, "The loader").
"""
import os
import pathlib
import shlex
import subprocess

from setuptools import setup
from setuptools.command.build_ext import build_ext

TOP = pathlib.Path(__file__).resolve().parent

def _read_version():
    # one place for the version: pyapi/execcheck/_version.py
    text = (TOP / "pyapi" / "execcheck" / "_version.py").read_text()
    return text.split("=")[1].strip().strip('"')


VERSION = _read_version()

SHIM_CFLAGS = [
    "-O2", "-g", "-Wall", "-Wextra", "-fPIC", "-std=gnu11",
    "-ffreestanding", "-fno-builtin", "-fno-tree-loop-distribute-patterns",
    "-fno-stack-protector", "-fno-plt", "-fvisibility=hidden",
    "-D_FORTIFY_SOURCE=0", '-DEXECCHECK_VERSION="%s"' % VERSION,
]
SHIM_LDFLAGS = [
    "-shared", "-nostdlib", "-Wl,-z,now", "-Wl,-z,relro", "-Wl,-z,noexecstack",
    "-Wl,--hash-style=both",
]
# No SONAME: nothing links against the shim, and glibc's dlopen by name compares the name with the
# SONAME of every object before its match that has not yet been found by it (dl-load.c,
# _dl_map_object). Preloaded, the shim sits before every library of the program, so a SONAME would
# cost one more strcmp in each of the program's dlopen() calls by name (~3 ns of ~80-140 here).


# Linked first: code and zeroed state follow the link order, and these files' are touched in
# every process the audit face is in. Together they take fewer pages: each page first touched is a
# page fault.
HOT_FIRST = ("preload/shim.c", "preload/audit_face.c", "csrc/mapped.c", "csrc/auxv.c", "csrc/policy.c",
             "csrc/securebits.c", "csrc/check.c", "csrc/vcache.c")


def shim_sources():
    every = sorted(TOP.glob("csrc/*.c")) + sorted(TOP.glob("preload/*.c"))
    hot = [TOP / h for h in HOT_FIRST]
    return hot + [p for p in every if p not in hot]


def build_shim(out_path):
    """Compiles and links libexeccheck.so at out_path (mode 0755: the shim must pass the check)."""
    cc = shlex.split(os.environ.get("CC", "cc"))
    out_path = pathlib.Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    ldflags = list(SHIM_LDFLAGS)
    linker = subprocess.run(cc + ["-Wl,--version"], capture_output=True, text=True).stdout
    if "GNU gold" in linker:
        # gold has no INSERT: the same shim, with a .bss that ld.so maps in every process (~5 us)
        print("note: %s links with gold, which cannot take preload/no_bss.ld" % cc[0])
    else:
        ldflags.append("-Wl,-T,%s" % (TOP / "preload" / "no_bss.ld"))
    tmp = out_path.with_name(out_path.name + ".tmp")
    cflags = list(SHIM_CFLAGS)
    target = subprocess.run(cc + ["-dumpmachine"], capture_output=True, text=True).stdout
    if target.startswith("aarch64"):
        # gcc's default outline atomics call libgcc helpers whose set-up needs libc's __getauxval:
        # an undefined symbol that makes ld.so refuse the shim as an audit module (no libc there)
        cflags.append("-mno-outline-atomics")
    cmd = cc + cflags + ["-I", str(TOP / "csrc"), "-I", str(TOP / "preload")]
    cmd += [str(p) for p in shim_sources()] + ldflags + ["-o", str(tmp), "-lgcc"]
    print(" ".join(shlex.quote(c) for c in cmd))
    subprocess.run(cmd, check=True)
    os.chmod(tmp, 0o755)
    os.replace(tmp, out_path)  # atomic: a running process never maps a half-written shim


class BuildExtWithShim(build_ext):
    def run(self):
        super().run()
        if self.inplace:
            target = TOP / "pyapi" / "execcheck" / "libexeccheck.so"
        else:
            target = pathlib.Path(self.build_lib) / "execcheck" / "libexeccheck.so"
        build_shim(target)

    def get_outputs(self):
        outs = super().get_outputs()
        if not self.inplace:
            outs.append(os.path.join(self.build_lib, "execcheck", "libexeccheck.so"))
        return outs


setup(
    version=VERSION,
    cffi_modules=["pyapi/execcheck/_native_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExtWithShim},
)

"""Build of execcheck: the cffi extension (csrc) and the shim libexeccheck.so (csrc + preload).

Metadata lives in pyproject.toml. This file adds the one build step setuptools cannot describe:
the shim is a freestanding shared library (no libc, raw syscalls) so that it can serve as an
rtld-audit module without mapping a second libc (DESIGN.md, "The loader").
"""
import os
import pathlib
import re
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
    "-ffreestanding", "-fno-builtin",
    "-fno-stack-protector", "-fno-plt", "-fvisibility=hidden",
    "-D_FORTIFY_SOURCE=0", '-DEXECCHECK_VERSION="%s"' % VERSION,
]
# gcc turns a copy loop into a call of memcpy even with -fno-builtin, and ours is such a loop
# (freestanding.c); clang does not with -fno-builtin, and knows no such option.
GCC_CFLAGS = ["-fno-tree-loop-distribute-patterns"]
# Valgrind (3.19) cannot read clang 14's DWARF 5 and gives up on a program that maps the shim
CLANG_CFLAGS = ["-gdwarf-4"]
SHIM_LDFLAGS = [
    "-shared", "-nostdlib", "-Wl,-z,now", "-Wl,-z,relro", "-Wl,-z,noexecstack",
    "-Wl,--hash-style=both",
    # no undefined symbol but the weak ones it looks up in libc: ld.so refuses an audit module
    # with one and runs the program anyway (clang -m32 called __atomic_load_8 and others, which
    # are libatomic's, for 64-bit atomics it could not prove aligned: a shim that failed open)
    "-Wl,-z,defs",
]
# No SONAME: nothing links against the shim, and glibc's dlopen by name compares the name with the
# SONAME of every object before its match that has not yet been found by it (dl-load.c,
# _dl_map_object). Preloaded, the shim sits before every library of the program, so a SONAME would
# cost one more strcmp in each of the program's dlopen() calls by name (~3 ns of ~80-140 here).


# Linked first: code and zeroed state follow the link order, and these files' are touched in
# every process the audit face is in. Together they take fewer pages: each page first touched is a
# page fault.
HOT_FIRST = ("preload/shim.c", "preload/audit_face.c", "csrc/mapped.c", "csrc/auxv.c", "csrc/policy.c",
             "csrc/securebits.c", "csrc/check.c", "csrc/vcache.c", "preload/tripwire.c")


def shim_sources():
    every = sorted(TOP.glob("csrc/*.c")) + sorted(TOP.glob("preload/*.c"))
    hot = [TOP / h for h in HOT_FIRST]
    return hot + [p for p in every if p not in hot]


def build_shim(out_path, extra_cflags=(), cc=None):
    """Compiles and links libexeccheck.so at out_path (mode 0755: the shim must pass the check)."""
    cc = (cc or shlex.split(os.environ.get("CC", "cc"))) + list(extra_cflags)
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
    cflags = list(SHIM_CFLAGS) + (CLANG_CFLAGS if is_clang(cc) else GCC_CFLAGS)
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


def is_clang(cc):
    return "__clang__" in subprocess.run(cc + ["-dM", "-E", "-x", "c", "/dev/null"],
                                         capture_output=True, text=True).stdout


# The shims live at execcheck/shim/<$LIB>/libexeccheck.so, <$LIB> being what each class's ld.so
# expands the token to, so that one entry, execcheck/shim/$LIB/libexeccheck.so, names the right
# shim for 64- and 32-bit programs alike (README, "32-bit programs"). shim/layout says which.
LOADERS = {"x86_64": "/lib64/ld-linux-x86-64.so.2", "i386": "/lib/ld-linux.so.2",
           "aarch64": "/lib/ld-linux-aarch64.so.1"}


def loader_lib_dir(loader):
    """What a loader expands $LIB to, from its --list-diagnostics (glibc 2.33+), or None."""
    try:
        out = subprocess.run([loader, "--list-diagnostics"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r'^dl_dst_lib="([A-Za-z0-9_./+-]+)"$', out, re.M)
    if not m or m.group(1).startswith("/") or ".." in m.group(1).split("/"):
        return None
    return m.group(1)


def can_link(cc):
    """Can cc build a shared object of the shim's kind: glibc's <link.h>, -nostdlib, libgcc?"""
    probe = subprocess.run(cc + ["-shared", "-nostdlib", "-x", "c", "-", "-o", "/dev/null", "-lgcc"],
                           input="#include <link.h>\nint f(void) { return sizeof(struct link_map); }\n",
                           capture_output=True, text=True)
    return probe.returncode == 0


# Shims for images of another architecture: an arm64 image is often prepared on an x86_64 host
# (`execcheck image install`). Built where a cross compiler can link one; placed at Debian's $LIB
# for that architecture, as no loader of it can be asked here.
CROSS = {"aarch64": "lib/aarch64-linux-gnu"}


def cross_compiler(machine):
    """A compiler command for machine: $EXECCHECK_CC_<MACHINE>, else <machine>-linux-gnu-gcc,
    else clang with lld (Debian's cross libraries give <link.h> and libgcc); None if none links."""
    given = os.environ.get("EXECCHECK_CC_" + machine.upper())
    candidates = [shlex.split(given)] if given else [
        [machine + "-linux-gnu-gcc"], ["clang", "--target=%s-linux-gnu" % machine, "-fuse-ld=lld"]]
    for cc in candidates:
        try:
            if can_link(cc):
                return cc
        except OSError:
            continue
    return None


def build_shims(pkg_dir):
    """Builds the native shim, on x86_64 where a 32-bit compiler and loader are there the i386
    one, and the cross shims a cross compiler is there for; writes shim/layout. Returns the
    files written."""
    cc = shlex.split(os.environ.get("CC", "cc"))
    machine = subprocess.run(cc + ["-dumpmachine"], capture_output=True, text=True).stdout.split("-")[0]
    shim_dir = pathlib.Path(pkg_dir) / "shim"
    native = LOADERS.get(machine) and loader_lib_dir(LOADERS[machine])
    layout = [(machine, native or "native")]
    if machine == "x86_64" and native:
        lib32 = loader_lib_dir(LOADERS["i386"]) if os.path.exists(LOADERS["i386"]) else None
        if not lib32 or lib32 == native:
            print("note: no 32-bit loader (libc6-i386): no 32-bit shim is built")
        elif not can_link(cc + ["-m32"]):
            print("note: %s -m32 cannot link (gcc-multilib): no 32-bit shim is built" % cc[0])
        else:
            layout.append(("i386", lib32))
    outs = []
    for m, d in layout:
        out = shim_dir / d / "libexeccheck.so"
        build_shim(out, extra_cflags=["-m32"] if m != machine else [])
        outs.append(out)
    for m, d in CROSS.items():
        cross = cross_compiler(m) if m != machine else None
        if not cross:
            continue
        out = shim_dir / d / "libexeccheck.so"
        try:
            build_shim(out, cc=cross)
        except subprocess.CalledProcessError:  # optional: the native shims are what this install runs
            print("note: the %s shim did not build with %s: image install cannot serve %s images" % (m, cross[0], m))
            continue
        layout.append((m, d))
        outs.append(out)
    (shim_dir / "layout").write_text("".join("%s %s\n" % e for e in layout))
    outs.append(shim_dir / "layout")
    return [str(o) for o in outs]


class BuildExtWithShim(build_ext):
    def run(self):
        super().run()
        pkg = TOP / "pyapi" / "execcheck" if self.inplace else pathlib.Path(self.build_lib) / "execcheck"
        self._shims = build_shims(pkg)

    def get_outputs(self):
        return super().get_outputs() + ([] if self.inplace else getattr(self, "_shims", []))


setup(
    version=VERSION,
    cffi_modules=["pyapi/execcheck/_native_build.py:ffibuilder"],
    cmdclass={"build_ext": BuildExtWithShim},
)

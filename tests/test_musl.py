"""The shim beside musl: a glibc process's LD_PRELOAD (which propagation keeps putting the shim in)
reaches its musl children. musl calls constructors without (argc, argv, envp), has no rtld-audit,
and its loader follows its own rules, so there the shim is inert: every call it interposes goes to
musl's own function. Before, reading the environment from a constructor argument musl never
passed, it crashed every musl program it was preloaded into.

musl and its headers come from Debian's package registry (`apt-get download musl musl-dev`, marker
`debootstrap`: the network; CI runs it). The program is built here with this machine's compiler and
runs with the downloaded musl loader as its interpreter."""
import os
import shutil
import subprocess

import pytest

from audit_face_util import SHIM, run_face

pytestmark = pytest.mark.debootstrap

PROG_C = r"""
#include <dlfcn.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv)
{
    char buf[64] = "";
    FILE *f = fopen(argv[1], "r");
    if (f) { fgets(buf, sizeof buf, f); fclose(f); }
    printf("fopen: %s", f ? buf : "FAILED\n");
    void *h = dlopen(argv[2], RTLD_NOW);
    printf("dlopen: %s\n", h ? "ok" : dlerror());
    int (*fn)(void) = h ? (int (*)(void))dlsym(h, "libfn") : 0;
    printf("libfn: %d\n", fn ? fn() : -1);
    fflush(stdout);
    pid_t pid;
    char *args[] = {"true", 0};
    int st = -1;
    if (posix_spawnp(&pid, "true", 0, 0, args, environ) == 0) waitpid(pid, &st, 0);
    printf("posix_spawnp: %d\n", st);
    fflush(stdout);
    execlp("true", "true", (char *)0);
    printf("execlp: FAILED\n");
    return 1;
}
"""


@pytest.fixture(scope="module")
def musl(tmp_path_factory):
    """(loader, libc.so, include dir, lib dir) of Debian's musl, unpacked in a temp dir."""
    if shutil.which("apt-get") is None or shutil.which("dpkg-deb") is None:
        pytest.skip("needs apt-get and dpkg-deb (Debian) to fetch musl")
    d = tmp_path_factory.mktemp("musl")
    get = ["apt-get", "download", "musl", "musl-dev"]
    r = subprocess.run(get, cwd=d, capture_output=True, text=True, timeout=300)
    if r.returncode != 0 and "Unable to locate" in r.stderr:
        # a fresh machine may have no package lists yet (the Makefile's CI set-up updates them too)
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, timeout=600)
        r = subprocess.run(get, cwd=d, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for deb in d.glob("*.deb"):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(d / "root")], check=True)
    root = d / "root"
    loader = next(root.glob("lib/ld-musl-*.so.1"))
    libc = next(p for p in root.glob("**/libc.so") if "musl" in str(p) and p.is_file() and not p.is_symlink())
    inc = next(p for p in root.glob("usr/include/*-linux-musl") if p.is_dir())
    lib = next(p for p in root.glob("usr/lib/*-linux-musl") if (p / "crt1.o").exists())
    return loader, libc, inc, lib


EARLY_C = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
__attribute__((constructor)) static void early(void)
{
    void *h = dlopen(getenv("EARLY_LIB"), RTLD_NOW);
    printf("early dlopen: %s\n", h ? "ok" : dlerror());
    fflush(stdout);
}
int early_fn(void) { return 0; }
"""


def musl_cc(musl, out, src, first=(), libs=(), last=(), flags=()):
    """Compiles and links against musl, in the linker's order: first, src, libs, musl's libc, last."""
    loader, libc, inc, lib = musl
    gcc_inc = subprocess.run(["cc", "-print-file-name=include"], capture_output=True, text=True).stdout.strip()
    r = subprocess.run(["cc", "-O1", "-nostdinc", "-isystem", str(inc), "-isystem", gcc_inc, "-nostdlib", "-o", str(out),
                        *map(str, first), str(src), *map(str, libs), str(libc), *map(str, last), *flags],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def build_prog(musl, out, early=False):
    """The test program; with early, it also needs a library whose constructor dlopen()s
    $EARLY_LIB."""
    loader, libc, inc, lib = musl
    src = out.with_suffix(".c")
    src.write_text(PROG_C if not early else PROG_C.replace("int main(", "int early_fn(void);\nint main(")
                   .replace("    char buf[64]", "    early_fn();\n    char buf[64]"))
    libs, flags = [], ["-Wl,-dynamic-linker=%s" % loader, "-pie"]
    if early:
        esrc = out.parent / "early.c"
        esrc.write_text(EARLY_C)
        libs.append(musl_cc(musl, out.parent / "libearly.so", esrc, flags=["-shared", "-fPIC"]))
        flags.append("-Wl,-rpath,%s" % out.parent)
    return musl_cc(musl, out, src, first=[lib / "Scrt1.o", lib / "crti.o"], libs=libs, last=[lib / "crtn.o"],
                   flags=flags)


@pytest.mark.parametrize("mode", ["audit", "secbits"])
def test_a_musl_program_runs_as_without_the_shim(musl, tmp_path, mode):
    """fopen, dlopen+dlsym, posix_spawnp and execlp of a musl program behave as without the shim,
    audit mode or enforcing, and the shim records nothing there: it does not cover musl programs
    (README), and it must not break them."""
    prog = build_prog(musl, tmp_path / "mprog")
    with open(prog, "rb") as f:
        assert b"ld-musl-" in f.read(4096)  # its interpreter is musl's loader
    lib = tmp_path / "libm1.so"  # no IFUNC (musl has none) and nothing of a libc
    (tmp_path / "m1.c").write_text("int libfn(void) { return 42; }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-nostdlib", "-o", str(lib), str(tmp_path / "m1.c")], check=True)
    note = tmp_path / "note.txt"
    note.write_text("hello musl\n")
    argv = [prog, note, lib]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines == ["fopen: hello musl", "dlopen: ok", "libfn: 42", "posix_spawnp: 0"], base
    res = run_face(mode, argv, tmp_path, preload=SHIM)
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res
    assert res.records == [], res


@pytest.mark.parametrize("mode", ["audit", "secbits"])
def test_a_musl_library_constructor_before_ours(musl, tmp_path, mode):
    """A musl library's constructor dlopen()s a 0644 library. The shim knows it is beside musl from
    the moment it is relocated, not only once its own constructor ran, so the call passes through
    whatever order musl runs the constructors in (no glibc rules applied, nothing recorded or
    refused)."""
    prog = build_prog(musl, tmp_path / "mprog", early=True)
    bad = tmp_path / "lib0644.so"
    (tmp_path / "b.c").write_text("int libfn(void) { return 42; }\n")
    subprocess.run(["cc", "-shared", "-fPIC", "-nostdlib", "-o", str(bad), str(tmp_path / "b.c")], check=True)
    os.chmod(bad, 0o644)
    note = tmp_path / "note.txt"
    note.write_text("hello musl\n")
    argv = [prog, note, bad]
    env = {"EARLY_LIB": str(bad)}
    base = run_face("off", argv, tmp_path, env=env)
    assert base.rc == 0 and base.lines[0] == "early dlopen: ok" and "libfn: 42" in base.lines, base
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res
    assert res.records == [], res

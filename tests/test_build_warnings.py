"""The shim (x86_64 and i386) and the C core build without a warning at -Wall -Wextra, with gcc and
with clang: each of the six is built here with -Werror and the flags of the real build (the shim's
from setup.py's build_shim, the core's from pyapi/execcheck/_native_build.py and Python's own), all
at once (~27 s of CPU, -O2 as built: gcc finds an unset variable only when it optimizes).

A warning is where a real bug first shows, and one that stays is soon read past: gcc saw `pid` in
csrc/check.c's exec_check as possibly unset (read from a second load of vfork_refused), and both
compilers called a bound in csrc/mapped.c's file_places always true for 32-bit ELF headers."""
import runpy
import shlex
import shutil
import subprocess
import sys
import sysconfig

from conftest import C_DIR

TOP = C_DIR.parent.parent
COMPILERS = ["gcc", "clang"]
# setup.py runs setup() when it is run: that one call is made a no-op, the rest is setup.py's own
BUILD_SHIM = """
import sys, setuptools
setuptools.setup = lambda **kw: None
import runpy
runpy.run_path(sys.argv[1], run_name="build_warnings")["build_shim"](sys.argv[2], extra_cflags=sys.argv[4:],
                                                                      cc=[sys.argv[3]])
"""


def _core_cmd(cc):
    args = runpy.run_path(str(TOP / "pyapi" / "execcheck" / "_native_build.py"))["COMPILE_ARGS"]
    python = shlex.split(sysconfig.get_config_var("CFLAGS") or "")
    python += shlex.split(sysconfig.get_config_var("CCSHARED") or "")
    return ([cc] + python + args + ["-Wextra", "-Werror", "-I", str(TOP / "csrc"), "-c"]
            + [str(p) for p in sorted((TOP / "csrc").glob("*.c"))])


def test_shim_and_core_build_warning_free(tmp_path):
    for cc in COMPILERS:
        assert shutil.which(cc), cc
    jobs = {}
    for cc in COMPILERS:
        for bits in ([], ["-m32"]):
            name = "shim %s %s" % (cc, " ".join(bits) or "-m64")
            out = tmp_path / name.replace(" ", "_") / "libexeccheck.so"
            jobs[name] = subprocess.Popen([sys.executable, "-c", BUILD_SHIM, str(TOP / "setup.py"), str(out), cc,
                                           "-Werror"] + bits, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                          text=True, cwd=str(tmp_path))
        objs = tmp_path / ("core_" + cc)
        objs.mkdir()
        jobs["core " + cc] = subprocess.Popen(_core_cmd(cc), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                              text=True, cwd=str(objs))
    failed = {}
    for name, p in jobs.items():
        err = p.communicate(timeout=600)[1]
        if p.returncode:
            failed[name] = err[-3000:]
    assert not failed, "\n".join("== %s\n%s" % kv for kv in failed.items())

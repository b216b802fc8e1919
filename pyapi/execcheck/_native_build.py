"""cffi builder of execcheck._native: the C core (csrc/) compiled into a Python extension.

Every csrc/NAME.c is compiled in; every csrc/NAME.cdef declares what Python may call of
csrc/NAME.h. The Python side never re-implements the check, the policy or the reasons: it calls
these (DESIGN.md, "one implementation").
"""
import pathlib

from cffi import FFI

TOP = pathlib.Path(__file__).resolve().parents[2]
CSRC = TOP / "csrc"


def _rel(path):
    # setuptools wants source paths relative to the project root
    return str(path.relative_to(TOP))


# tests/test_build_warnings.py builds the core with these too
COMPILE_ARGS = ["-O2", "-Wall", "-fno-strict-aliasing"]

cdefs = sorted(CSRC.glob("*.cdef"))
ffibuilder = FFI()
ffibuilder.cdef("\n".join(p.read_text() for p in cdefs))
ffibuilder.set_source(
    "execcheck._native",
    "\n".join('#include "%s.h"' % p.stem for p in cdefs),
    sources=[_rel(p) for p in sorted(CSRC.glob("*.c"))],
    include_dirs=[_rel(CSRC)],
    extra_compile_args=COMPILE_ARGS,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)

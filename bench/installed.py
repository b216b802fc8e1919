"""The shim the benchmarks measure: the installed package's, else the source tree's (make inplace)."""
import pathlib
import platform


def shim_path() -> str:
    try:
        import execcheck
        return execcheck.lib_path()
    except ImportError:  # run from the source tree without an install: shim/layout says where
        shims = pathlib.Path(__file__).resolve().parents[1] / "pyapi" / "execcheck" / "shim"
        layout = dict(l.split(None, 1) for l in (shims / "layout").read_text().splitlines() if l.strip())
        return str(shims / layout.get(platform.machine(), "native") / "libexeccheck.so")

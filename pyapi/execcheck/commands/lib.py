"""execcheck lib: the path of the installed shim, for LD_PRELOAD=$(execcheck lib) or LD_AUDIT."""
import os
import sys

from ..shim import lib_path

ORDER = 30
HELP = "print the path of the installed libexeccheck.so"


def add_parser(sub):
    p = sub.add_parser("lib", help=HELP, description=HELP + """.

  LD_AUDIT=$(execcheck lib) prog      strongest: every object checked before any of its code runs
  LD_PRELOAD=$(execcheck lib) prog    tripwire + dlopen guard + children under LD_AUDIT""",
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.set_defaults(run=run)


def run(args) -> int:
    path = lib_path()
    if not os.path.exists(path):
        print("execcheck: the shim is missing at %s (reinstall execcheck)" % path, file=sys.stderr)
        return 2
    print(path)
    return 0

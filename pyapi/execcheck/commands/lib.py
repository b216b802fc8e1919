"""execcheck lib: the path of the installed shim, for LD_PRELOAD=$(execcheck lib) or LD_AUDIT."""
import argparse
import os
import sys

from ..shim import lib_path, multilib_path

ORDER = 30
HELP = "print the path of the installed libexeccheck.so"


def add_parser(sub):
    p = sub.add_parser("lib", help=HELP, description=HELP + """.

  LD_AUDIT=$(execcheck lib) prog      strongest: every object checked before any of its code runs
  LD_PRELOAD=$(execcheck lib) prog    tripwire + dlopen guard + children under LD_AUDIT
  LD_AUDIT="$(execcheck lib --multilib)" prog
                                      the same for 64- and 32-bit programs: ld.so expands $LIB
                                      to the shim of the program's own class

exit status: 0 the path printed; 2 that shim was not built here.""",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--i386", action="store_true", help="the 32-bit shim (for i386 programs)")
    which.add_argument("--multilib", action="store_true",
                       help="the one path, with $LIB in it, that names the shim of each class")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.multilib:
        path = multilib_path()
        if not path:
            print("execcheck: no 32-bit shim was built beside the 64-bit one (it needs a 32-bit compiler, "
                  "gcc-multilib, and loader, libc6-i386, when execcheck is installed)", file=sys.stderr)
            return 2
        print(path)
        return 0
    path = lib_path("i386" if args.i386 else None)
    if not os.path.exists(path):
        what = "the 32-bit shim was not built" if args.i386 else "the shim is missing"
        print("execcheck: %s at %s (reinstall execcheck%s)" % (what, path, " with gcc-multilib and libc6-i386 there"
                                                                if args.i386 else ""), file=sys.stderr)
        return 2
    print(path)
    return 0

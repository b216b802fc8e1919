"""execcheck audit [PATH...] [--root DIR]: what ld.so would load, and what the exec check says of it."""
import argparse
import os
import sys

from ..errors import UsageError
from ..stdout import terminal_columns
from .output import print_json, printable

ORDER = 40
HELP = "audit programs, directories or a whole image: libraries ld.so would load, and the exec policy's view"
DESCRIPTION = """\
Resolves every program and shared object as glibc 2.36's ld.so would (without running them):
x86_64 ones, i386 ones by the 32-bit loader's rules, aarch64 ones (an arm64 image) by its own;
then reports, once per problem:
  will it load        missing libraries, files that stop the loader, symbol versions, PT_INTERP
  exec policy         code files AT_EXECVE_CHECK would refuse (x-bit, noexec, lsm)
  hygiene             insecure RPATH/RUNPATH, writable code, static and musl programs, Python code

With --root DIR every path, symlink, ld.so.cache, /etc/ld.so.preload and the interpreter are the
image's; the policy view is the image's own (its mode bits and the noexec mounts of its
/etc/fstab and --noexec-mount), and the live check of this host is reported beside it.
Without PATH, --root audits the whole image.

examples:
  execcheck audit /usr/bin/python3.11 --tree               one program, with its dependency tree
  execcheck audit /opt/app --explain                       a directory; the files tried for a
                                                           missing library
  execcheck audit --root /srv/image --sarif > audit.sarif  a whole image, for code scanning
  execcheck audit --root /srv/image --json --fail-on warning   a CI gate

exit status: 0 no finding at or above --fail-on; 1 there is one; 2 bad usage, or a --root that
cannot be read."""


def add_parser(sub):
    p = sub.add_parser("audit", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", metavar="PATH", help="programs, shared objects or directories (image paths with --root)")
    p.add_argument("--root", metavar="DIR", help="audit the image rooted at DIR")
    p.add_argument("--ld-library-path", metavar="PATH", help="LD_LIBRARY_PATH the programs would get")
    p.add_argument("--preload", metavar="LIST", help="LD_PRELOAD the programs would get")
    p.add_argument("--platform", metavar="NAME", help="$PLATFORM and legacy subdirectory (default: this CPU's)")
    p.add_argument("--hwcaps-level", type=int, choices=(1, 2, 3, 4), default=0,
                   help="x86-64 ISA level for glibc-hwcaps (default: this CPU's)")
    p.add_argument("--secure", choices=("auto", "yes", "no"), default="auto",
                   help="AT_SECURE: from setuid/setgid bits (auto), or for every program")
    p.add_argument("--noexec-mount", action="append", default=[], metavar="DIR",
                   help="treat DIR (in the image) as mounted noexec; repeatable")
    p.add_argument("--python", action="append", default=[], metavar="DIR",
                   help="also check the Python code under DIR (found automatically in a whole image)")
    p.add_argument("--cwd", metavar="DIR", help="the programs' working directory (relative paths, empty RPATH elements)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print the whole audit as JSON")
    out.add_argument("--sarif", action="store_true", help="print findings as SARIF 2.1.0")
    p.add_argument("--tree", action="store_true", help="show each program's dependency tree")
    p.add_argument("--explain", action="store_true", help="list the files tried for each library not found")
    p.add_argument("--fail-on", choices=("note", "warning", "error", "none"), default="error",
                   help="exit 1 when a finding has at least this severity (default: error)")
    p.set_defaults(run=run)


def check_noexec_mounts(dirs) -> None:
    """A mount point is matched against absolute real paths: a relative one matched nothing, and
    the option was dropped without a word (a verify that should fail passed)."""
    for d in dirs:
        if not d.startswith("/"):
            raise UsageError("--noexec-mount %s: must be an absolute path (in the image)" % d)


def _need_directory(args, opt, d) -> None:
    """d, the value of opt, must be a directory (in the image, with --root)."""
    from ..image import rootfs
    try:
        ok = os.path.isdir(rootfs.resolve(args.root, d) if args.root else d)
    except OSError:  # a loop of symlinks in the image
        ok = False
    if not ok:
        raise UsageError("audit: %s %s: not a directory%s" % (opt, d, " in the image" if args.root else ""))


def run(args) -> int:
    from ..audit.engine import Audit, Options, Progress
    from ..audit.findings import at_least
    from ..audit import report

    if args.root == "":  # `--root "$UNSET" PATH` audited this system, as if no image was named
        raise UsageError("audit: --root: empty (without --root, this system is audited)")
    if not args.paths and not args.root:
        raise UsageError("audit: give a PATH or --root DIR")
    if args.root is not None and not os.path.isdir(args.root):  # said "cannot model the loader"
        raise UsageError("audit: --root %s: not a directory" % args.root)
    if args.cwd is not None:
        if not args.cwd.startswith("/"):
            raise UsageError("audit: --cwd must be absolute")
        # relative names are looked up there: one that is not a directory would find nothing, unsaid
        _need_directory(args, "--cwd", args.cwd)
    for opt, value in (("--platform", args.platform), ("--python", "" if "" in (args.python or []) else None)):
        if value == "":
            raise UsageError("audit: %s: empty" % opt)
    for d in args.python:  # a typo was one warning, exit 0: no Python code checked, as asked
        _need_directory(args, "--python", d)
    if "" in args.paths:  # `audit "$UNSET"` audited the working directory
        raise UsageError("audit: an empty PATH")
    check_noexec_mounts(args.noexec_mount)
    opts = Options(paths=args.paths, root=args.root, library_path=args.ld_library_path, preload=args.preload,
                   platform=args.platform, isa_level=args.hwcaps_level,
                   secure=None if args.secure == "auto" else args.secure == "yes",
                   noexec_mounts=args.noexec_mount, python_dirs=args.python, cwd=args.cwd, explain=args.explain)
    try:
        audit = Audit(opts, progress=Progress(sys.stderr.isatty() and not (args.json or args.sarif)))
    except OSError as e:
        raise UsageError("audit: %s: %s" % (e.filename or args.root, e.strerror))
    try:
        result = audit.run()
    except OSError as e:  # a part of the image this user may not search (/root/usr as nobody)
        raise UsageError("audit: cannot read %s: %s" % (e.filename or args.root, e.strerror))
    if args.json or args.sarif:
        # one-shot, no indent: the C encoder (an image's audit is megabytes; indenting is 5x slower)
        print_json(report.as_json(result) if args.json else report.as_sarif(result), indent=None)
    else:
        print(report.text(result, tree=args.tree, width=terminal_columns()))
    if args.fail_on == "none":
        return 0
    return 1 if any(at_least(f.severity, args.fail_on) for f in result.findings) else 0

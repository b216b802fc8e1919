"""execcheck check PATH...: what the kernel says of each file, and why."""
import os
import stat
import sys

from ..core import check
from .output import print_json, printable, table

ORDER = 10
HELP = "ask the kernel whether each file may be executed (AT_EXECVE_CHECK)"
DESCRIPTION = """\
Runs AT_EXECVE_CHECK on each PATH (opened O_PATH, symlinks followed unless --no-follow) and
explains a denial:
  x-bit        no execute permission for this process (root needs any x bit)
  noexec       the file is on a noexec mount
  not-regular  directory, fifo, socket, device (or a symlink with --no-follow)
  busy         the file is open for writing somewhere (ETXTBSY)
  unsupported  the kernel cannot check (Linux < 6.14, execveat filtered, or a seccomp filter
               that kills for it: see `execcheck status`)
  lsm          refused by a security module (Landlock, IPE, IMA, SELinux...)
  error        the check failed for another reason (ENOMEM, E2BIG...)

examples:
  execcheck check /usr/lib/x86_64-linux-gnu/libssl.so.3 ./deploy.sh
  execcheck check --json /opt/app/lib/*.so

exit status: 0 all allowed, 1 any denied, 2 a path could not be opened or bad usage."""


def add_parser(sub):
    p = sub.add_parser("check", help=HELP, description=DESCRIPTION,
                       formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--json", action="store_true", help="print a JSON array, one object per PATH")
    p.add_argument("--no-follow", action="store_true", help="do not follow a final symlink")
    p.set_defaults(run=run)


def run(args) -> int:
    results = []
    status = 0
    for path in args.paths:
        try:
            v = check(path, follow_symlinks=not args.no_follow)
        except (OSError, ValueError) as e:
            msg = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            results.append({"path": path, "allowed": None, "error": msg})
            if not args.json:
                print("execcheck: %s: %s" % (printable(path), msg), file=sys.stderr)
            status = 2
            continue
        results.append(v.as_dict())
        if not v.allowed and status == 0:
            status = 1
    if args.json:
        print_json(results)
        return status
    rows = []
    for r in results:
        if r.get("error"):
            rows.append(["error", "-", "-", printable(r["path"])])
            continue
        mode = int(r["mode"], 8) if r["mode"] else 0
        perm = stat.filemode(mode) if mode else "?"
        rows.append(["allowed" if r["allowed"] else "denied", r["reason"] or "-", perm,
                     printable(r["path"]) + ("" if r["allowed"] else "  (%s)" % r["reason_text"])])
    print(table(rows, ["VERDICT", "REASON", "MODE", "PATH"]))
    return status

"""execcheck log [FILE]: the decision records, summarized."""
import argparse
import sys

from ..core import policy
from ..errors import UsageError
from ..records import summarize
from .output import print_json, printable, table

ORDER = 40
HELP = "summarize decision records: by program, file, reason, audit vs enforce"
DEFAULT_LOG = "/var/log/execcheck.jsonl"


def add_parser(sub):
    p = sub.add_parser("log", help=HELP, description=HELP + """.

FILE defaults to the log_file of /etc/execcheck.conf, else %s; '-' reads stdin.
Lines that are not records are counted, never fatal.""" % DEFAULT_LOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--top", type=int, default=20, metavar="N", help="entries per table (0: all; default 20)")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.top < 0:
        raise UsageError("--top must be 0 or more")
    path = args.file or policy().log_file or DEFAULT_LOG
    if path == "-":
        if sys.stdin is None:  # fd 0 closed: Python has no sys.stdin at all
            raise UsageError("cannot read standard input: it is closed")
        summary = summarize(sys.stdin.buffer, args.top)
    else:
        try:
            with open(path, "rb") as f:
                summary = summarize(f, args.top)
        except OSError as e:
            raise UsageError("cannot read %s: %s" % (path, e.strerror or e))
    summary["file"] = path
    if args.json:
        print_json(summary)
        return 0
    print("%s: %d records%s%s" % (printable(path), summary["records"],
                                   ", %d lines not understood" % summary["unparsed_lines"]
                                   if summary["unparsed_lines"] else "",
                                   ", %s .. %s" % (printable(summary["first"]), printable(summary["last"]))
                                   if summary["first"] else ""))
    for key, title in (("mode", "MODE"), ("reason", "REASON"), ("kind", "KIND"), ("program", "PROGRAM"),
                       ("file", "FILE")):
        rows = [[e["count"], printable(e["name"])] for e in summary["by_" + key]]
        if rows:
            print()
            print(table(rows, ["COUNT", title]))
    return 0

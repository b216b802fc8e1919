"""execcheck log [FILE]: the decision records, summarized."""
import argparse
import os
import sys

from ..core import policy
from ..errors import UsageError
from ..records import summarize
from ..safeio import open_regular
from .output import counted, print_json, printable, table

ORDER = 40
HELP = "summarize decision records: by program, file, reason, audit vs enforce"
DEFAULT_LOG = "/var/log/execcheck.jsonl"


def add_parser(sub):
    p = sub.add_parser("log", help=HELP, description=HELP + """.

FILE defaults to the configured log_file (/etc/execcheck.conf, EXECCHECK_LOG_FILE), else
%s; '-' reads stdin. Lines that are not records are counted, never fatal.
Without a log_file, records go to syslog only: each message there is one record (last example).

examples:
  execcheck log                                        the configured log_file
  execcheck log --top 5 --json /var/log/execcheck.jsonl
  journalctl -t execcheck -o cat | execcheck log -     records that went to syslog

exit status: 0 summarized (no records is a summary too); 2 FILE cannot be read, or bad usage.""" % DEFAULT_LOG,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("file", nargs="?", metavar="FILE")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--top", type=int, default=20, metavar="N", help="entries per table (0: all; default 20)")
    p.set_defaults(run=run)


def _summarize(path: str, top: int) -> dict:
    """The summary of the log at path ('-': stdin). Any user's processes append to a log, so it is
    opened as the tool opens every such file: a FIFO would block the read, /dev/zero never end it."""
    if path == "-" and sys.stdin is None:  # fd 0 closed: Python has no sys.stdin at all
        raise UsageError("cannot read standard input: it is closed")
    try:
        if path == "-":
            return summarize(sys.stdin.buffer, top)
        with open_regular(path) as f:
            return summarize(f, top)
    except OSError as e:  # a write-only fd 0 too (EBADF)
        raise UsageError("cannot read %s: %s" % ("standard input" if path == "-" else path,
                                                 e.strerror or e))


def run(args) -> int:
    if args.top < 0:
        raise UsageError("--top must be 0 or more")
    if args.file == "":  # `log "$UNSET"` read the default log, as if asked to
        raise UsageError("log: FILE is empty (without FILE, the configured log is read)")
    configured = policy().log_file
    path = args.file or configured or DEFAULT_LOG
    if not args.file and not os.path.lexists(path):
        # nothing named, nothing there: say where the records are instead of only ENOENT
        if configured and not os.path.isdir(os.path.dirname(path)):
            raise UsageError("cannot read %s, the configured log_file: its directory does not exist, so no "
                             "record can be written there (`execcheck status`)" % printable(path))
        if configured:
            raise UsageError("cannot read %s, the configured log_file: it does not exist yet (the shim creates "
                             "it with its first record)" % printable(path))
        raise UsageError("no log_file is configured and %s does not exist: records go to syslog (journalctl -t "
                         "execcheck -o cat | execcheck log -), or set log_file = PATH in /etc/execcheck.conf" % path)
    summary = _summarize(path, args.top)
    summary["file"] = path
    if args.json:
        print_json(summary)
        return 0
    print("%s: %s%s%s" % (printable(path), counted(summary["records"], "record"),
                           ", %s not understood" % counted(summary["unparsed_lines"], "line")
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

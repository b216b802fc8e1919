"""The `execcheck` command: argument parsing and dispatch to execcheck.commands.*."""
import argparse
import sys

from ._version import __version__
from .commands.output import printable
from .commands import all_commands
from .errors import UsageError
from .stdout import Guarded, Messages, OutputError, discard, tolerant

EPILOG = """\
exit status: 0 success; 1 the verdict is no: a file denied (check), a finding (audit), an image not
ready (image verify); 2 bad usage or I/O error; `run`: CMD's own, or 125-127 (each COMMAND --help).

execcheck makes the kernel's AT_EXECVE_CHECK (Linux 6.14+) apply to shared libraries and scripts:
  LD_AUDIT=$(execcheck lib) prog     every library prog maps is checked before any of its code runs
  execcheck check FILE...            what the kernel says of each file, and why
  execcheck status                   what this kernel, this process and this system enforce
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="execcheck",
        description="Ask the kernel whether files may be executed, and make libraries and Python code obey.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version="execcheck %s" % __version__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in all_commands():
        module.add_parser(sub)
    _know_own_parser(parser)
    return parser


def _know_own_parser(parser: argparse.ArgumentParser) -> None:
    """Each (sub)command's parser puts itself in the namespace, so that an unknown option is
    reported with that command's usage, not the top level's (argparse leaves extras to the top)."""
    parser.set_defaults(_parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _know_own_parser(child)


def main(argv=None) -> int:
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = Guarded(tolerant(stdout)), Messages(stderr)
    try:
        return _main(argv, stdout)
    finally:
        sys.stdout, sys.stderr = stdout, stderr


def _main(argv, stdout) -> int:
    try:
        parser = build_parser()
        args, extras = parser.parse_known_args(argv)  # --help, --version: output too
        if extras:
            args._parser.error("unrecognized arguments: %s" % " ".join(extras))
        if not getattr(args, "run", None):
            parser.print_help(sys.stderr)
            return 2
        status = args.run(args)
        sys.stdout.flush()  # here, not at exit: a full disk is this command's failure
        return status
    except OutputError as e:
        print("execcheck: cannot write standard output: %s" % e, file=sys.stderr)
        if stdout is not None:  # else fd 1 may be a file this process opened since
            discard(1)
        return 2
    except UsageError as e:  # one line: a path in it may hold a newline, or bytes no terminal shows
        print("execcheck: %s" % printable(str(e)), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

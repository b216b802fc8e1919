"""execcheck run: start a command under the exec policy, with the shim loaded."""
import argparse
import os
import shutil
import sys

from .. import kernel
from ..core import SecurebitsError, securebits, set_securebits
from ..errors import UsageError
from ..shim import LD_AUDIT_NAME_MAX, audit_name_too_long, damage, lib_path, list_separator_in, multilib_path
from .output import printable

ORDER = 25
HELP = "run a command with the exec securebits set and libexeccheck.so loaded"
DESCRIPTION = """\
Sets the exec securebits asked for, puts the shim first in LD_PRELOAD (and first in LD_AUDIT when
the shim has an rtld-audit face), and replaces itself with CMD: the exit status is CMD's.

  --restrict-file     SECBIT_EXEC_RESTRICT_FILE: a file that fails the kernel's check is not
                      run, imported or loaded (Python scripts and modules, libraries)
  --deny-interactive  SECBIT_EXEC_DENY_INTERACTIVE: no interactive code (python -c, a REPL,
                      piped code, python -m pdb/code/timeit...)
  --lock              lock the bits set: CMD and its children cannot clear them (a process that
                      can create a user namespace still can: see `execcheck status`)

The bits are inherited by every child; LD_PRELOAD/LD_AUDIT are inherited unless a program clears
its environment (setuid programs ignore them).

examples:
  execcheck run -- ./app                   the shim, no bit: records what fails (unless the
                                           config enforces)
  execcheck run --restrict-file --deny-interactive --lock -- python3 /srv/app/main.py

exit status: CMD's; 125 the policy could not be set up (kernel without the exec securebits, a
locked bit, the shim missing, damaged, or at a path glibc cannot take in LD_AUDIT); 126 CMD cannot
be executed; 127 CMD not found; 2 bad usage."""


def add_parser(sub):
    p = sub.add_parser("run", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
                       usage="execcheck run [--restrict-file] [--deny-interactive] [--lock] -- CMD [ARGS...]")
    p.add_argument("--restrict-file", action="store_true", help="set SECBIT_EXEC_RESTRICT_FILE")
    p.add_argument("--deny-interactive", action="store_true", help="set SECBIT_EXEC_DENY_INTERACTIVE")
    p.add_argument("--lock", action="store_true", help="lock the bits set")
    p.add_argument("command", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(run=run)


class SetupError(Exception):
    """The policy could not be put in place: CMD is not started (exit 125)."""


def _same_file(a: str, b: str) -> bool:
    try:
        sa, sb = os.stat(a), os.stat(b)
        return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)
    except OSError:
        return a == b


def with_first(value, shim: str, separators: str, files=()) -> str:
    """value (an LD_PRELOAD or LD_AUDIT list) with shim first and no other entry naming it or one
    of files (the shims a $LIB entry stands for)."""
    items = [value or ""]
    for sep in separators:
        items = [part for item in items for part in item.split(sep)]
    rest = [x for x in items if x and x != shim and not any(_same_file(x, f) for f in (shim,) + tuple(files))]
    return ":".join([shim] + rest)


def has_audit_face(path: str) -> bool:
    """Does this shim export la_version (defined, in .dynsym)? glibc ignores an LD_AUDIT module
    without it, with an error message in every process: so only then is LD_AUDIT set."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    try:
        with open(path, "rb") as f:
            dynsym = ELFFile(f).get_section_by_name(".dynsym")
            syms = dynsym.get_symbol_by_name("la_version") if dynsym else None
            return any(s["st_shndx"] != "SHN_UNDEF" for s in syms or [])
    except (OSError, ELFError):
        return False


def child_environment(environ, shim: str, audit: bool, files=()) -> dict:
    """The environment CMD starts with: the shim first in LD_PRELOAD (glibc splits it on spaces
    and colons) and, when it has an audit face, first in LD_AUDIT (colons). files: the shims a
    $LIB entry stands for, whose own paths are taken out of the lists."""
    env = dict(environ)
    env["LD_PRELOAD"] = with_first(env.get("LD_PRELOAD"), shim, ": ", files)
    if audit:
        env["LD_AUDIT"] = with_first(env.get("LD_AUDIT"), shim, ":", files)
    return env


def set_policy(restrict_file: bool, deny_interactive: bool, lock: bool) -> None:
    if not (restrict_file or deny_interactive):
        return
    supported, why = kernel.execve_check_support()
    if not supported:
        raise SetupError("the kernel cannot enforce an exec policy: AT_EXECVE_CHECK: %s" % why)
    try:
        set_securebits(restrict_file=True if restrict_file else None,
                       deny_interactive=True if deny_interactive else None, lock=lock)
    except SecurebitsError as e:
        raise SetupError("cannot set the exec securebits: %s" % e.strerror)
    bits = securebits()  # the kernel's word, not our intent
    if (restrict_file and not bits.restrict_file) or (deny_interactive and not bits.deny_interactive):
        raise SetupError("the exec securebits did not stick (securebits are now 0x%x)" % int(bits))


def run(args) -> int:
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command or not command[0]:
        raise UsageError("run: no command given (execcheck run [options] -- CMD [ARGS...])")
    if args.lock and not (args.restrict_file or args.deny_interactive):
        raise UsageError("run: --lock locks the bits set: add --restrict-file and/or --deny-interactive")
    shim = lib_path()
    try:
        if not os.path.exists(shim):
            raise SetupError("the shim is missing at %s (reinstall execcheck)" % shim)
        for path in (shim, lib_path("i386")) if multilib_path() else (shim,):
            why = damage(path)
            if why:  # ld.so would ignore it and run CMD unchecked
                raise SetupError("the shim at %s is damaged (%s): reinstall execcheck" % (path, why))
        sep = list_separator_in(shim)
        if sep:  # glibc would split the path: an error in every process and no shim in it
            raise SetupError("the shim's path %s has a %s in it, where glibc splits LD_PRELOAD: install "
                             "execcheck under a path without one" % (shim, sep))
        # Everything that loads code comes before the bits: this process may itself be under the
        # shim (a nested run), and after RESTRICT_FILE it could not import what it needs. With a
        # 32-bit shim beside this one, the $LIB entry: each program's ld.so takes its own class's.
        multilib = multilib_path()
        audit = has_audit_face(shim)
        if audit and audit_name_too_long(multilib or shim):  # CMD would get the preload face alone
            raise SetupError("the shim's path %s is longer than the %d bytes ld.so takes of an LD_AUDIT name: "
                             "install execcheck under a shorter path" % (multilib or shim, LD_AUDIT_NAME_MAX))
        env = child_environment(os.environ, multilib or shim, audit, (shim, lib_path("i386")) if multilib else ())
        sc = kernel.seccomp()[0]  # CMD inherits the filter, and the shim trusts inherited ones
        if sc == "kills":
            raise SetupError("a seccomp filter here kills a process for execveat (the check): under the shim "
                             "the command would die of SIGSYS (`execcheck status`)")
        if sc == "refuses" and (args.restrict_file or args.deny_interactive):
            raise SetupError("a seccomp filter here makes execveat (the check) fail for any file: enforcing, "
                             "the shim would refuse every library of the command (`execcheck status`)")
        set_policy(args.restrict_file, args.deny_interactive, args.lock)
    except SetupError as e:
        print("execcheck: run: %s; %s not started" % (e, printable(command[0])), file=sys.stderr)
        return 125
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvpe(command[0], command, env)
    except FileNotFoundError:
        # ENOENT also when CMD is there but its #! interpreter or PT_INTERP loader is not
        if shutil.which(command[0], path=os.pathsep.join(os.get_exec_path(env))):
            print("execcheck: run: %s: cannot execute: the interpreter it names (#! line or ELF loader) "
                  "does not exist" % printable(command[0]), file=sys.stderr)
        else:
            print("execcheck: run: %s: command not found" % printable(command[0]), file=sys.stderr)
        return 127
    except OSError as e:
        print("execcheck: run: %s: %s" % (printable(command[0]), e.strerror), file=sys.stderr)
        return 126
    return 126  # not reached

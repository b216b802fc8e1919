"""Entry point of the `execcheck` command, outside the execcheck package on purpose.

Importing the command takes ~40 ms (the package imports cffi and the C core eagerly, so that a
program may import execcheck and then chroot or drop privileges). A Ctrl-C in that time raised
KeyboardInterrupt in the middle of an import: a traceback. This module runs before the package:
until main() runs, SIGINT ends the command as the signal does (the shell sees an interrupted
command), silently. Only where Python installed its handler: a SIGINT the parent ignores
(`execcheck ... &` in a script) stays ignored.
"""
import signal

_QUIET_START = signal.getsignal(signal.SIGINT) is signal.default_int_handler
if _QUIET_START:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run() -> int:
    from execcheck.cli import main
    if _QUIET_START:
        signal.signal(signal.SIGINT, signal.default_int_handler)  # main() reports an interrupt itself
    return main()

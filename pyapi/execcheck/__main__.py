"""`python -m execcheck`: the `execcheck` command (its installed script starts in _execcheck_cli)."""
import sys

from _execcheck_cli import run

if __name__ == "__main__":
    sys.exit(run())

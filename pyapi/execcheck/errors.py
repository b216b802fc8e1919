class UsageError(Exception):
    """Bad input from the user: `execcheck` prints one line on stderr and exits 2, no traceback."""

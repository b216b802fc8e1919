"""execcheck: the kernel's AT_EXECVE_CHECK applied to libraries and Python code.

    >>> import execcheck
    >>> execcheck.check("/usr/bin/true").allowed
    True
    >>> execcheck.check("/etc/passwd").reason
    'x-bit'

The check, the policy and the reasons are the C core's (csrc/, through cffi): the same code the
shim libexeccheck.so runs inside other processes.
"""
from ._version import __version__
from .core import (Policy, Securebits, SecurebitsError, Verdict, check, policy, securebits,
                   set_securebits)
from .shim import lib_path

__all__ = ["__version__", "check", "Verdict", "securebits", "set_securebits", "Securebits", "SecurebitsError",
           "policy", "Policy", "lib_path"]

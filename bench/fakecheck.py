"""The benches' faked kernel check: a seccomp filter that makes execveat(..., AT_EXECVE_CHECK)
return 0 without running it, so a run does everything the shim does except the check itself.
`fake` and `real` are preexec functions (a process and its children keep the filter); `real`
installs a filter of the same length that matches nothing, so that a column without the fake pays
the same per-system-call cost."""
import ctypes
import os
import platform
import struct


def _program(fake):
    """The filter; every other system call is allowed."""
    arch, nr = {"x86_64": (0xc000003e, 322), "aarch64": (0xc00000b7, 281)}[platform.machine()]
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, errno0 = 0x7fff0000, 0x00050000
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, allow),
            (ld, 0, 0, 0), (jeq, 0, 3, nr if fake else 0x7fffffff),
            (ld, 0, 0, 16 + 8 * 4), (jset, 0, 1, 0x10000), (ret, 0, 0, errno0),
            (ret, 0, 0, allow)]
    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
    fprog = ctypes.create_string_buffer(struct.pack("HxxxxxxP", len(prog), ctypes.addressof(code)))
    return code, fprog


# built once in the parent: the child only makes two prctl calls between fork and exec
_LIBC = ctypes.CDLL(None, use_errno=True)
_LIBC.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
_PROGRAMS = {True: _program(True), False: _program(False)}


def _install(with_fake):
    if _LIBC.prctl(38, 1, None, 0, 0) or _LIBC.prctl(22, 2, _PROGRAMS[with_fake][1], 0, 0):  # NO_NEW_PRIVS, SECCOMP
        os._exit(125)


def fake():
    _install(True)


def real():
    _install(False)

"""The shim on a program's own stack. ld.so runs the audit face's callbacks on the program's
stack, deep in its own start-up and dlopen(); the preload face's constructor, dlopen() and exec
wrappers run there too. A program that just fits its `ulimit -s` alone must fit it under the shim:
the shim's deepest point must not be deeper than the program's own.

Measured to the byte, not in whole KiB: with address space randomization off the stack starts at
the same place each run, so padding the environment moves the program's deepest point against a
fixed RLIMIT_STACK. The pad at which the program alone is at its edge (one byte more and it
faults) is found; the same program, with the shim in the same environment size (placeholders for
its variables), must then run exactly as it does with room to spare. `ulimit -s 16` crashed the
audit face in /bin/true (a 8.6 KiB frame in la_version, 1 KiB of findings in la_objopen, deep in
ld.so's mapping of libc - the deepest point of a small program's start-up); 24 KiB was fine.

The preload face is compared with a preload of a library that does nothing (the same name length
and number of program headers): ld.so's own handling of an LD_PRELOAD entry (handle_preload_list,
do_preload) takes ~1.9 KiB more stack with any library, which no preload can give back."""
import ctypes
import os
import pathlib
import resource
import shutil
import subprocess

import pytest

import execcheck
from audit_face_util import C_DIR, SHIM, Kit, copy_lib
from conftest import need_check

ADDR_NO_RANDOMIZE = 0x0040000
_libc = ctypes.CDLL(None, use_errno=True)
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else shutil.which("python3")


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


def _run(argv, env, stack, pad, enforce, timeout=60):
    """(returncode, stdout, stderr) of argv with RLIMIT_STACK stack, ASLR off, the environment
    padded by pad bytes, SECBIT_EXEC_RESTRICT_FILE set if enforce."""
    def pre():
        _libc.personality(ADDR_NO_RANDOMIZE)
        if enforce:
            execcheck.set_securebits(restrict_file=True)
        resource.setrlimit(resource.RLIMIT_STACK, (stack, stack))
    env = dict(env, PAD="x" * pad)
    try:
        p = subprocess.run([str(a) for a in argv], env=env, preexec_fn=pre, capture_output=True, text=True,
                           stdin=subprocess.DEVNULL, timeout=timeout)
    except OSError as e:  # E2BIG: the arguments take more than the limit lets them
        return "exec failed", str(e)
    return p.returncode, p.stdout, p.stderr


ROOMY = 8 << 20


def edge(argv, env, enforce=False):
    """(stack, pad): a stack limit, and the largest pad at which argv still runs there as with
    8 MiB - 16 bytes more (the stack's alignment) and it faults. The limit: a multiple of 64 KiB
    with room for the program and a pad."""
    want = _run(argv, env, ROOMY, 0, enforce)
    stack = next((s for s in range(64 << 10, 1 << 20, 64 << 10) if _run(argv, env, s, 0, enforce) == want), None)
    assert stack, (argv, want)
    lo, hi = 0, stack  # runs at lo, not at hi (the environment alone would not fit)
    while hi - lo > 16:
        mid = (lo + hi) // 2 // 16 * 16
        if _run(argv, env, stack, mid, enforce) == want:
            lo = mid
        else:
            hi = mid
    return stack, lo


BASE = {"PATH": "/usr/bin:/bin"}


def env_of(tmp_path, audit=None, preload=None):
    """The environment of a run: LD_AUDIT/LD_PRELOAD when given, else a placeholder variable of the
    same length in their place; always the log file (read by the shim only)."""
    env = dict(BASE, EXECCHECK_LOG_FILE=str(tmp_path / "records.jsonl"))
    env["LD_AUDIT" if audit else "XX_AUDIT"] = str(audit or SHIM)
    env["LD_PRELOAD" if preload else "XX_PRELOAD"] = str(preload or SHIM)
    return env


@pytest.fixture
def nothing_lib(tmp_path):
    """A preload that does nothing, named as long as the shim's path, with as many program headers
    (ld.so's frame that maps a file holds one entry per program header)."""
    kit = Kit(tmp_path)
    src = tmp_path / "nothing.c"
    src.write_text("int nothing_here(void) { return 0; }\n")
    d = tmp_path / "n"
    name = "n" * (len(str(SHIM)) - len(str(d)) - len("/.so"))
    lib = kit._cc("n/%s.so" % name, src, "-shared", "-fPIC")
    assert len(str(lib)) == len(str(SHIM))
    assert _phnum(lib) == _phnum(SHIM), "the placeholder library must be of the shim's shape"
    return lib


def _phnum(path):
    with open(path, "rb") as f:
        head = f.read(64)
    return int.from_bytes(head[56:58], "little")


@pytest.fixture
def small(tmp_path):
    kit = Kit(tmp_path)
    prog = kit._cc("bin/small_stack", C_DIR / "small_stack.c")
    src = tmp_path / "plain.c"
    src.write_text("int libfn(void) { return 1; }\n")
    lib = kit._cc("lib/libplain.so", src, "-shared", "-fPIC")
    os.chmod(lib, 0o644)  # fails the check: a record (audit mode), a refusal (enforcing)
    return prog, lib


def records(tmp_path):
    log = tmp_path / "records.jsonl"
    return log.read_text().splitlines() if log.exists() else []


def at_the_edge(tmp_path, argv, base_env, env, enforce, base_argv=None):
    """Runs argv under env at the edge of base_argv under base_env: it must run as it does with
    room to spare. Returns that outcome."""
    stack, pad = edge(base_argv or argv, base_env, enforce)
    roomy = _run(argv, env, ROOMY, pad, enforce)
    log = tmp_path / "records.jsonl"
    if log.exists():
        log.unlink()
    tight = _run(argv, env, stack, pad, enforce)
    assert tight == roomy, "stack %d, pad %d: %r, with room: %r" % (stack, pad, tight, roomy)
    return tight


PROGRAMS = {"true": ["/bin/true"], "python": [PYTHON, "-c", "pass"]}
# Debian's python3 needs 0644 libraries (libz, libexpat...): enforcing refuses it at start
CASES = [("true", False), ("true", True), ("python", False)]
CASE_IDS = ["true-audit", "true-enforce", "python-audit"]


@pytest.mark.parametrize("prog,enforce", CASES, ids=CASE_IDS)
def test_audit_face_takes_no_stack_beyond_the_programs(tmp_path, prog, enforce):
    out = at_the_edge(tmp_path, PROGRAMS[prog], env_of(tmp_path), env_of(tmp_path, audit=SHIM), enforce)
    assert out[0] == 0 and "execcheck" not in out[2], out


@pytest.mark.parametrize("prog,enforce", CASES, ids=CASE_IDS)
def test_preload_face_takes_no_stack_beyond_a_preload_that_does_nothing(tmp_path, nothing_lib, prog, enforce):
    out = at_the_edge(tmp_path, PROGRAMS[prog], env_of(tmp_path, preload=nothing_lib), env_of(tmp_path, preload=SHIM),
                      enforce)
    assert out[0] == 0 and "execcheck" not in out[2], out


def missing_like(path):
    """A name as long as path's, of no file: dlopen() fails in glibc's own error path."""
    path = pathlib.Path(path)
    return path.with_name("m" * len(path.name))


def test_audit_face_records_a_dlopen_at_the_programs_edge(tmp_path, small):
    """dlopen() of a 0644 library, audit mode: checked, recorded (the record written from
    la_objsearch, deep in glibc's dlopen), loaded, as close to the stack's end as the program
    alone goes."""
    prog, lib = small
    out = at_the_edge(tmp_path, [prog, lib], env_of(tmp_path), env_of(tmp_path, audit=SHIM), False)
    assert out == (0, "ok\n", ""), out
    assert [r for r in records(tmp_path) if str(lib) in r], "no record"


def test_audit_face_refuses_a_dlopen_at_the_programs_edge(tmp_path, small):
    """The same, enforcing: refused (a record, the line on stderr) and dlopen() fails, as close to
    the stack's end as the program alone goes when its dlopen() fails in glibc's own error path."""
    prog, lib = small
    out = at_the_edge(tmp_path, [prog, lib], env_of(tmp_path), env_of(tmp_path, audit=SHIM), True,
                      base_argv=[prog, missing_like(lib)])
    assert out[:2] == (1, "failed\n") and "execcheck: refused to load %s: x-bit" % lib in out[2], out
    assert [r for r in records(tmp_path) if str(lib) in r], "no record"


def test_preload_face_records_a_dlopen_at_the_programs_edge(tmp_path, small, nothing_lib):
    """dlopen() of a 0644 library under the dlopen guard, audit mode: checked (its ELF headers read),
    recorded, loaded, as close to the stack's end as the program with a preload that does nothing."""
    prog, lib = small
    out = at_the_edge(tmp_path, [prog, lib], env_of(tmp_path, preload=nothing_lib), env_of(tmp_path, preload=SHIM),
                      False)
    assert out == (0, "ok\n", ""), out
    assert [r for r in records(tmp_path) if str(lib) in r], "no record"


def test_preload_face_refuses_a_dlopen_at_the_programs_edge(tmp_path, small, nothing_lib):
    """The same, enforcing: refused, and dlopen() fails as deep as glibc's own failing dlopen()
    under a preload that does nothing. The guard called libc's dlopen of the refusal's name from
    under its own frames (1.3 KiB deeper); it now makes the name there and calls libc once the
    guard has returned."""
    prog, lib = small
    out = at_the_edge(tmp_path, [prog, lib], env_of(tmp_path, preload=nothing_lib), env_of(tmp_path, preload=SHIM),
                      True, base_argv=[prog, missing_like(lib)])
    assert out[:2] == (1, "failed\n") and "execcheck: refused to load %s: x-bit" % lib in out[2], out
    assert [r for r in records(tmp_path) if str(lib) in r], "no record"


@pytest.mark.parametrize("enforce", [False, True], ids=["audit", "enforce"])
def test_preload_face_predicts_a_missing_library_at_the_programs_edge(tmp_path, small, nothing_lib, enforce):
    """dlopen() of a name that leads to no file: the guard's prediction (the lean path passes a name
    it cannot open) runs under glibc's failing dlopen()'s depth. It ran below the lean path's
    frame (ELF headers, needed names, pins: 1.7 KiB), kept in the guard's for every path."""
    prog, lib = small
    argv = [prog, missing_like(lib)]
    out = at_the_edge(tmp_path, argv, env_of(tmp_path, preload=nothing_lib), env_of(tmp_path, preload=SHIM), enforce)
    assert out[:2] == (1, "failed\n") and "execcheck" not in out[2], out

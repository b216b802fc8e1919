"""Securebits through the core: set, lock, inheritance, unprivileged use, user-namespace reset."""
import os
import sys

import pytest

import execcheck
from conftest import need, need_check, need_root, run

RF, RF_LOCK, DI, DI_LOCK = 0x100, 0x200, 0x400, 0x800


def py(code, *args, **kw):
    """Runs code in a fresh interpreter (securebits are per process: never set them in pytest's)."""
    return run([sys.executable, "-c", "import execcheck, os, sys\n" + code, *args], **kw)


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


def test_read_in_this_process():
    bits = execcheck.securebits()
    assert isinstance(bits, int) and bits & ~0xfff == 0
    assert repr(bits).startswith("Securebits(0x")


def test_set_and_clear_each_bit():
    r = py("b = execcheck.set_securebits(restrict_file=True); print(hex(b), b.restrict_file)\n"
           "b = execcheck.set_securebits(deny_interactive=True); print(hex(b), b.deny_interactive)\n"
           "b = execcheck.set_securebits(restrict_file=False, deny_interactive=False); print(hex(b))")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0x100", "True", "0x500", "True", "0x0"]


def test_lock_forbids_change_and_names_it():
    r = py("execcheck.set_securebits(restrict_file=True, lock=True)\n"
           "print(execcheck.securebits().names())\n"
           "try:\n    execcheck.set_securebits(restrict_file=False)\n"
           "except execcheck.SecurebitsError as e:\n    print('refused', e.errno, e.strerror)")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "['exec_restrict_file', 'exec_restrict_file_locked']"
    assert lines[1].startswith("refused 1 ") and "locked" in lines[1]


def test_bits_are_inherited_across_fork_and_exec():
    r = py("execcheck.set_securebits(restrict_file=True, deny_interactive=True, lock=True)\n"
           "import subprocess\n"
           "out = subprocess.run([sys.executable, '-c', 'import execcheck; print(hex(execcheck.securebits()))'],"
           " capture_output=True, text=True).stdout\n"
           "print(out.strip())")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "0xf00"


def test_unprivileged_process_can_set_and_lock_but_not_clear():
    need_root()
    r = py("os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
           "execcheck.set_securebits(restrict_file=True)\n"      # set from 0 (no capability needed)
           "execcheck.set_securebits(restrict_file=True)\n"      # a no-op must not fail (kernel: EPERM)
           "print(hex(execcheck.set_securebits(deny_interactive=True, restrict_file=True, lock=True)))\n"
           "try:\n    execcheck.set_securebits(deny_interactive=False)\n"
           "except execcheck.SecurebitsError as e:\n    print('refused', e.errno)")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["0xf00", "refused", "1"]


def test_userns_probe_matches_what_unshare_does():
    """execcheck's probe says whether a new user namespace resets the bits; check it against the
    real thing: an unprivileged, locked process running `unshare -U`."""
    need_root()
    from execcheck import kernel
    probe, text = kernel.userns_reset()
    r = py("os.setgroups([]); os.setgid(65534); os.setuid(65534)\n"
           "execcheck.set_securebits(restrict_file=True, deny_interactive=True, lock=True)\n"
           # nobody cannot reach this venv's interpreter (under /root): read the bits with the system one
           "os.execvp('unshare', ['unshare', '-U', '/usr/bin/python3', '-c',"
           " 'import ctypes; print(hex(ctypes.CDLL(None).prctl(27, 0, 0, 0, 0)))'])")
    if r.returncode != 0:
        assert probe is False, (text, r.stderr)  # the namespace was refused, as the probe said
        return
    assert r.stdout.strip() == "0x0"
    assert probe is True and "reset" in text


# the kernel's check, by ctypes, for an interpreter that cannot reach this venv (nobody's)
_SYSTEM_CHECK = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CLOEXEC)
argv = (ctypes.c_char_p * 2)(b"x", None)
envp = (ctypes.c_char_p * 1)(None)
r = libc.syscall(322, fd, b"", argv, envp, 0x1000 | 0x10000)  # execveat(AT_EMPTY_PATH | AT_EXECVE_CHECK)
print("allowed" if r == 0 else "denied:" + os.strerror(ctypes.get_errno()))
"""


def test_userns_mounts_make_any_file_pass_as_status_says(open_tmp):
    """status says an unprivileged user namespace is also a mount of one's own: nobody copies a 0644
    library that the check refuses into a tmpfs it mounts in a user and mount namespace of its own,
    makes it 0755, and the check passes it there. Where the probe says no, the namespace is refused."""
    need_root()
    from execcheck import kernel
    from conftest import ec
    import json
    probe, _ = kernel.userns_reset()
    tmp_path = open_tmp
    src = tmp_path / "lib.so"
    src.write_bytes(b"\x7fELF not really")
    src.chmod(0o644)
    (tmp_path / "m").mkdir()
    check = ["/usr/bin/python3", "-c", _SYSTEM_CHECK]
    before = run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", *check, str(src)])
    assert before.stdout.strip() == "denied:Permission denied", (before.stdout, before.stderr)
    script = 'mount -t tmpfs none "$1/m" && cp "$1/lib.so" "$1/m/lib.so" && chmod 755 "$1/m/lib.so" && shift && "$@"'
    inside = run(["setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups", "unshare", "-rm",
                  "sh", "-c", script, "sh", str(tmp_path), *check, str(tmp_path / "m" / "lib.so")])
    fail_open = json.loads(ec("status", "--json").stdout)["fail_open"]
    said = [l for l in fail_open if l.startswith("unprivileged user namespaces")]
    if probe:
        assert inside.returncode == 0 and inside.stdout.strip() == "allowed", (inside.stdout, inside.stderr)
        assert len(said) == 1 and "mount a tmpfs of their own that is not noexec" in said[0], said
    else:
        assert inside.returncode != 0 and not said

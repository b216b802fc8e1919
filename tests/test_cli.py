"""The `execcheck` command: exit statuses, output forms, and no traceback for bad input."""
import json
import os
import signal
import shutil
import stat
import subprocess
import sys

import pytest

import execcheck
from conftest import ec, execcheck_cmd, in_mountns, loader_says, need_check, need_landlock, need_mountns, run
from execcheck.core import format_record


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


@pytest.fixture
def files(tmp_path):
    good = tmp_path / "good"
    good.write_text("#!/bin/sh\n")
    os.chmod(good, 0o755)
    bad = tmp_path / "bad.so"
    bad.write_text("x")
    os.chmod(bad, 0o644)
    return good, bad


def no_traceback(r):
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr


def test_check_exit_statuses(files, tmp_path):
    good, bad = files
    r = ec("check", str(good))
    assert r.returncode == 0 and "allowed" in r.stdout
    r = ec("check", str(good), str(bad))
    assert r.returncode == 1
    line = [x for x in r.stdout.splitlines() if str(bad) in x][0]
    assert line.split()[:3] == ["denied", "x-bit", "-rw-r--r--"]
    r = ec("check", str(tmp_path))
    assert r.returncode == 1 and "not-regular" in r.stdout
    r = ec("check", str(bad), str(tmp_path / "missing"))
    assert r.returncode == 2 and "No such file or directory" in r.stderr
    no_traceback(r)


def test_check_json(files, tmp_path):
    good, bad = files
    r = ec("check", "--json", str(good), str(bad), str(tmp_path / "missing"))
    assert r.returncode == 2
    out = json.loads(r.stdout)
    assert [o["allowed"] for o in out] == [True, False, None]
    assert out[1]["reason"] == "x-bit" and out[1]["errno"] == 13 and out[1]["mode"] == "100644"
    assert out[2]["error"] == "No such file or directory"


def test_check_no_follow(files, tmp_path):
    good, _ = files
    os.symlink(good, tmp_path / "link")
    assert ec("check", str(tmp_path / "link")).returncode == 0
    r = ec("check", "--no-follow", str(tmp_path / "link"))
    assert r.returncode == 1 and "not-regular" in r.stdout


def test_check_noexec_mount(files, tmp_path):
    need_mountns()
    good, _ = files
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = in_mountns('mount -t tmpfs -o noexec,size=1m none "$1"; cp -p "$2" "$1/prog"; shift 2; "$@"',
                   mnt, good, *execcheck_cmd(), "check", str(mnt / "prog"))
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines()[1].split()[:2] == ["denied", "noexec"]


def test_check_landlock_is_lsm(files, landlock_run):
    need_landlock()
    good, _ = files
    r = landlock_run([], execcheck_cmd() + ["check", str(good)])
    assert r.returncode == 1, r.stderr
    assert r.stdout.splitlines()[1].split()[:2] == ["denied", "lsm"]


def test_usage_errors_exit_2_without_traceback():
    for args in ([], ["check"], ["nosuchcommand"], ["check", "--bogus", "/bin/true"], ["log", "--top", "-1", "-"]):
        r = ec(*args, input="")
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        no_traceback(r)


def test_an_error_naming_an_odd_path_is_one_line(tmp_path):
    """A usage error that names a path the user gave printed it raw: `image prepare $'/x\ny'` was
    two lines, a byte that is not UTF-8 came out as '\\udcff'. Escaped as the output escapes names."""
    odd = os.fsdecode(bytes(tmp_path) + b"/no\npe\xff")
    for args in (["image", "prepare", odd], ["image", "verify", odd], ["audit", "--root", odd],
                 ["log", odd], ["check", odd]):
        r = ec(*args)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (args, r.stderr)
        assert "/no\\x0ape\\xff" in r.stderr and "udcff" not in r.stderr, (args, r.stderr)
        no_traceback(r)
    for step in ("prepare", "revert", "install", "uninstall", "verify"):  # `image STEP "$UNSET"`
        r = ec("image", step, "")
        assert r.returncode == 2 and r.stderr == "execcheck: ROOT is empty: give the image's root directory\n", r


def test_empty_and_missing_option_values_are_said(tmp_path):
    """`check ""` said "execcheck: : No such file or directory"; audit took --cwd of a directory that
    is not there, and an empty --platform or --python, without a word (an audit of something else
    than asked); a --python that is no directory was a warning, exit 0."""
    r = ec("check", "")
    assert r.returncode == 2 and r.stderr == "execcheck: '': No such file or directory\n", r
    for args, says in ((["--cwd", str(tmp_path / "nowhere")], "--cwd %s: not a directory" % (tmp_path / "nowhere")),
                       (["--cwd", "/bin/true"], "--cwd /bin/true: not a directory"),
                       (["--root", str(tmp_path), "--cwd", "/etc"], "--cwd /etc: not a directory in the image"),
                       (["--platform", ""], "--platform: empty"), (["--python", ""], "--python: empty"),
                       # a --python typo was one warning ("no such Python tree") and exit 0
                       (["--python", str(tmp_path / "nowhere")], "--python %s: not a directory" % (tmp_path / "nowhere")),
                       (["--root", str(tmp_path), "--python", "/usr/lib/python3"],
                        "--python /usr/lib/python3: not a directory in the image")):
        r = ec("audit", *args, "/bin/true")
        assert r.returncode == 2 and r.stderr == "execcheck: audit: %s\n" % says, (args, r.stderr)
    r = ec("audit", "--cwd", str(tmp_path), "--json", "/bin/true")
    assert r.returncode in (0, 1) and r.stderr == "", r
    # `audit --root "$UNSET" PATH` audited this system, as if no image was named (a CI gate that
    # passed on the host's files); a --root that is no directory said "cannot model the loader"
    for root, says in (("", "--root: empty (without --root, this system is audited)"),
                       (str(tmp_path / "nowhere"), "--root %s: not a directory" % (tmp_path / "nowhere")),
                       ("/bin/true", "--root /bin/true: not a directory")):
        for paths in ([], ["/bin/true"]):
            r = ec("audit", "--root", root, "--json", *paths)
            assert r.returncode == 2 and r.stdout == "" and r.stderr == "execcheck: audit: %s\n" % says, (paths, r)


@pytest.mark.parametrize("args, usage", [
    (["run", "--bogus", "--", "true"], "usage: execcheck run "),
    (["image", "install", "--bogus", "/nonexistent"], "usage: execcheck image install "),
    (["check", "--bogus", "/bin/true"], "usage: execcheck check "),
    (["--bogus"], "usage: execcheck [-h]"),
])
def test_an_unknown_option_gets_its_commands_usage(args, usage):
    """argparse leaves unknown options to the top-level parser, which printed the top-level usage
    for `execcheck run --bogus`: the command's own usage says what it takes."""
    r = ec(*args)
    assert r.returncode == 2 and r.stderr.startswith(usage) and "unrecognized arguments: --bogus" in r.stderr, r
    r = ec("run", "--", "sh", "-c", "echo $0 $1", "--bogus", "x")  # after --, the command's own
    assert r.returncode == 0 and r.stdout == "--bogus x\n", r


def test_output_that_cannot_be_written_is_an_error():
    """A full disk or a closed stdout loses the result: exit 2 and one line, never a traceback nor a
    silent 0; with stderr closed the messages go nowhere, not into the output."""
    for args in (["status"], ["lib"], ["--version"], ["check", "--json", "/bin/true"]):
        with open("/dev/full", "w") as full:
            r = ec(*args, stdout=full, capture_output=False, stderr=subprocess.PIPE)
        assert r.returncode == 2 and r.stderr == "execcheck: cannot write standard output: No space left on device\n", \
            (args, r.stderr)
        r = ec(*args, stdout=None, capture_output=False, stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1))
        assert r.returncode == 2 and r.stderr == "execcheck: cannot write standard output: Bad file descriptor\n", \
            (args, r.stderr)
    r = ec("run", "--", "true", stdout=None, capture_output=False, stderr=subprocess.PIPE,
           preexec_fn=lambda: os.close(1))
    assert r.returncode == 0 and r.stderr == ""  # nothing written: nothing lost
    r = ec("check", "/nonexistent", stderr=None, capture_output=False, stdout=subprocess.PIPE,
           preexec_fn=lambda: os.close(2))
    assert r.returncode == 2 and "execcheck:" not in r.stdout and "error" in r.stdout


def test_ctrl_c_while_starting_ends_the_command_quietly(tmp_path):
    """A Ctrl-C in the ~40 ms the command spends importing (cffi, dataclasses) printed Python's
    KeyboardInterrupt traceback from the middle of an import. Stand-ins for stdlib modules the
    command imports, early on PYTHONPATH, send the SIGINT from inside their import: the command must
    end by the signal, silently (the shell sees an interrupted command); where the parent ignores
    SIGINT, it goes on (the stand-in's exit 99)."""
    cmd = [os.path.join(os.path.dirname(sys.executable), "execcheck")]  # the installed script
    for module in ("dataclasses", "argparse"):  # imported by the package, by the command
        d = tmp_path / module
        d.mkdir()
        (d / (module + ".py")).write_text(
            "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nraise SystemExit(99)  # the signal did not end it\n")
        env = dict(os.environ, PYTHONPATH=str(d))
        r = run(cmd + ["status"], env=env)
        assert r.returncode == -signal.SIGINT and r.stderr == "" and r.stdout == "", (module, r)
        r = run(cmd + ["status"], env=env, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
        assert r.returncode == 99 and r.stderr == "", (module, r)
    r = run(cmd + ["check", "/bin/true"])  # and without the stand-ins, the command runs as ever
    assert r.returncode == 0 and "allowed" in r.stdout, r


def test_version_and_help():
    r = ec("--version")
    assert r.returncode == 0 and r.stdout.strip() == "execcheck %s" % execcheck.__version__
    r = ec("check", "--help")
    assert r.returncode == 0 and "x-bit" in r.stdout and "noexec" in r.stdout and "exit status" in r.stdout


@pytest.mark.parametrize("command", [["lib"], ["log"], ["image"], ["image", "prepare"], ["image", "revert"],
                                     ["image", "install"], ["image", "uninstall"], ["image", "verify"]])
def test_each_commands_help_says_its_exit_status(command):
    """lib, log, image and its steps did not say what their exit statuses mean (verify's 1 is
    its verdict), and --json and ROOT had no help line."""
    r = ec(*command, "--help")
    assert r.returncode == 0 and "exit status: 0 " in r.stdout, r.stdout
    assert "\n  --json\n" not in r.stdout and "\n  ROOT\n" not in r.stdout, r.stdout


def _commands(parser=None, prefix=()):
    """(words, help text) of every command and image step, as the parser has them."""
    import argparse
    from execcheck.cli import build_parser
    parser = parser or build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                inner = list(_commands(child, prefix + (name,)))
                yield from inner or [(prefix + (name,), child.format_help())]


def test_each_commands_help_has_an_example_and_its_exit_statuses():
    """A first-time user reads `execcheck CMD --help`: check, status, run, audit, log and the image
    steps showed no example of a command line, and the steps ran their exit statuses into the end
    of a wrapped paragraph. Each help now has an indented example line naming the command, and a
    line of its own that begins `exit status:`."""
    seen = []
    for words, text in _commands():
        seen.append(" ".join(words))
        lines = text.splitlines()
        assert any(l.startswith("exit status: ") for l in lines), (words, text)
        assert any(l.startswith("  ") and ("execcheck %s " % " ".join(words)) in l + " " for l in lines), (words, text)
    assert {"check", "status", "run", "lib", "audit", "log", "image prepare", "image verify"} <= set(seen), seen
    r = ec("image", "verify", "--help")  # what the parser says is what the command prints
    assert r.returncode == 0 and "\nexit status: 0 ready to enforce" in r.stdout and "  execcheck image verify " in r.stdout


def on_a_terminal(args, columns=100):
    """(status, output) of `execcheck ARGS` with standard output a terminal of that many columns."""
    import fcntl
    import pty
    import struct
    import termios
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    p = subprocess.Popen(execcheck_cmd() + list(args), stdout=follower, stderr=subprocess.DEVNULL,
                         stdin=subprocess.DEVNULL)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the terminal's other side is closed
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    return p.wait(timeout=120), out.decode().replace("\r\n", "\n")


def assert_wrapped_like(shown, piped, indent):
    """shown (a terminal's) says piped's words in more lines, none past 100 columns but for one
    unbreakable word after the indent (a path)."""
    too_long = [l for l in shown.splitlines() if len(l) > 100 and len(l[indent:].split()) > 1]
    assert not too_long, too_long
    assert len(shown.splitlines()) > len(piped.splitlines()), shown
    assert " ".join(shown.split()) == " ".join(piped.split())


def test_status_wraps_for_a_terminal_and_keeps_one_fact_a_line_for_a_pipe():
    """status printed lines of up to ~290 columns, wrapped by the terminal mid-word. On a terminal
    the value column now wraps at its width (a path is never split); piped, each fact stays one
    line for grep, and both say the same words."""
    piped = ec("status")
    assert piped.returncode == 0 and max(len(l) for l in piped.stdout.splitlines()) > 100, piped.stdout
    rc, shown = on_a_terminal(["status"])
    assert rc == 0, shown
    assert_wrapped_like(shown, piped.stdout, 16)


def test_audit_wraps_its_findings_for_a_terminal(tmp_path):
    """audit's findings ran to ~130 columns for a library in /tmp: on a terminal the message wraps
    under its column; piped, one finding a line."""
    lib = tmp_path / ("lib" + "x" * 20 + ".so.1")
    shutil.copy(ec("lib").stdout.strip(), lib)  # a shared object any machine with execcheck has
    os.chmod(lib, 0o644)
    piped = ec("audit", str(tmp_path))
    findings = [l for l in piped.stdout.splitlines() if "EXC010" in l]
    assert piped.returncode == 0 and findings and len(findings[0]) > 100, piped.stdout
    rc, shown = on_a_terminal(["audit", str(tmp_path)])
    assert rc == 0, shown
    assert_wrapped_like(shown, piped.stdout, 39)


def test_each_commands_help_fits_in_100_columns():
    """run's, audit's and image prepare's exit statuses and examples ran to 108-200 columns, one
    line wrapped by the terminal mid-word. Every line of every help (argparse wraps at COLUMNS;
    the texts we wrap ourselves must fit too) is at most 100 columns."""
    import os
    for words, _ in [((), None)] + list(_commands()):
        r = ec(*words, "--help", env=dict(os.environ, COLUMNS="100"))
        assert r.returncode == 0, (words, r.stderr)
        long = [l for l in r.stdout.splitlines() if len(l) > 100]
        assert not long, (words, long)


def test_status(tmp_path):
    r = ec("status")
    assert r.returncode == 0, r.stderr
    assert "AT_EXECVE_CHECK supported" in r.stdout
    for label in ("securebits", "LSMs", "Landlock", "user namespaces", "vm.memfd_noexec", "shim", "ld.so.preload",
                  "config", "files", "interactive", "records to"):
        assert any(line.startswith(label) for line in r.stdout.splitlines()), label
    s = json.loads(ec("status", "--json").stdout)
    assert s["kernel"]["execve_check"] is True
    assert s["lsm"]["active"] and "capability" in s["lsm"]["active"]
    assert s["shim"]["exists"] and s["shim"]["passes_check"]
    assert s["policy"]["files"] in ("audit", "enforce")
    with open("/proc/sys/vm/memfd_noexec") as f:
        assert s["memfd_noexec"]["value"] == int(f.read())


def test_status_names_setuid_fuse_mount_helpers(tmp_path):
    """A set-user-ID-root fusermount lets users mount a filesystem of their own that is not noexec,
    whose files have the modes their daemon reports: status names each one users can run (and who),
    and not a helper that is not set-user-ID, one a user owns, or a second name of the same file.
    In a private mount namespace, a tmpfs over /usr/local/bin and /usr/local/sbin holds them."""
    need_mountns()
    script = """
        out=$1; shift
        mount -t tmpfs none /usr/local/bin && mount -t tmpfs none /usr/local/sbin
        for f in /usr/local/bin/fusermount3 /usr/local/bin/fusermount /usr/local/sbin/fusermount; do
            echo '#!/bin/sh' > $f
        done
        chmod 4755 /usr/local/bin/fusermount3
        chmod 0755 /usr/local/bin/fusermount
        chgrp 65534 /usr/local/sbin/fusermount && chmod 4750 /usr/local/sbin/fusermount
        ln -s ../bin/fusermount3 /usr/local/sbin/fusermount3
        "$@" status --json > "$out/status.json"
        "$@" status > "$out/status.txt"
        chown 65534 /usr/local/sbin/fusermount
        chmod 4750 /usr/local/sbin/fusermount
        "$@" status --json > "$out/after-chown.json"
    """
    r = in_mountns(script, tmp_path, *execcheck_cmd())
    assert r.returncode == 0, r.stderr
    import grp
    group = grp.getgrgid(65534).gr_name
    doc = json.loads((tmp_path / "status.json").read_text())
    assert doc["setuid_fuse_mount_helpers"] == [
        {"path": "/usr/local/sbin/fusermount3", "who": "any user"},
        {"path": "/usr/local/sbin/fusermount", "who": "the members of group %s" % group}], \
        doc["setuid_fuse_mount_helpers"]
    lines = [l for l in doc["fail_open"] if "FUSE" in l]
    assert len(lines) == 2 and lines[0].startswith("/usr/local/sbin/fusermount3 is set-user-ID root: any user can "
                                                   "mount a FUSE filesystem that is not noexec"), lines
    assert lines[1].startswith("/usr/local/sbin/fusermount is set-user-ID root: the members of group %s can" % group)
    text = (tmp_path / "status.txt").read_text()
    assert "not covered     /usr/local/sbin/fusermount3 is set-user-ID root" in text, text
    # set-user-ID, but owned by a user: it mounts nothing for anyone else
    after = json.loads((tmp_path / "after-chown.json").read_text())
    assert [h["path"] for h in after["setuid_fuse_mount_helpers"]] == ["/usr/local/sbin/fusermount3"]
    # the host's own, outside the namespace: only what it really has
    host = json.loads(ec("status", "--json").stdout)["setuid_fuse_mount_helpers"]
    assert all(os.stat(h["path"]).st_mode & stat.S_ISUID for h in host), host


def test_status_names_the_loaders_own_directories():
    """status says where this system's ld.so looks last and what its $LIB is, as that ld.so prints
    them itself (the dlopen guard and the audit read them from it)."""
    dirs, dst = loader_says(run(["/lib64/ld-linux-x86-64.so.2", "--list-diagnostics"]).stdout)
    doc = json.loads(ec("status", "--json").stdout)
    assert doc["loader"] == {"system_dirs": dirs, "lib": dst}, doc["loader"]
    assert "loader          searches last %s; $LIB is %s\n" % (":".join(dirs), dst) in ec("status").stdout


def test_status_reports_securebits_of_the_calling_process():
    code = ("import execcheck, os, sys\nexeccheck.set_securebits(restrict_file=True)\n"
            "os.execv(sys.executable, [sys.executable, '-m', 'execcheck', 'status', '--json'])")
    r = run([sys.executable, "-c", code])
    s = json.loads(r.stdout)
    assert s["securebits"]["names"] == ["exec_restrict_file"]
    assert s["policy"]["files"] == "enforce" and s["policy"]["files_sources"] == ["securebits"]


def test_lib_is_a_libc_free_shim_usable_as_preload():
    r = ec("lib")
    assert r.returncode == 0
    shim = r.stdout.strip()
    assert os.path.isabs(shim) and shim == execcheck.lib_path()
    assert stat.S_IMODE(os.stat(shim).st_mode) == 0o755 and execcheck.check(shim).allowed
    from elftools.elf.elffile import ELFFile
    with open(shim, "rb") as f:
        dyn = ELFFile(f).get_section_by_name(".dynamic")
        needed = [t.needed for t in dyn.iter_tags() if t.entry.d_tag == "DT_NEEDED"]
    assert needed == []  # no libc of its own (DESIGN.md: one libc per process)
    p = subprocess.run(["sh", "-c", "echo hello"], env=dict(os.environ, LD_PRELOAD=shim), capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout == "hello\n" and p.stderr == ""


def test_log_summary(tmp_path):
    v = execcheck.check("/etc/passwd")
    log = tmp_path / "log.jsonl"
    log.write_text(format_record("library", "audit", "/x.so", v, False) * 2 +
                   format_record("script", "python", "/s.py", v, True) + "garbage\n")
    r = ec("log", str(log))
    assert r.returncode == 0, r.stderr
    assert "3 records, 1 line not understood" in r.stdout
    s = json.loads(ec("log", "--json", str(log)).stdout)
    assert s["records"] == 3 and s["by_file"][0] == {"name": "/x.so", "count": 2}
    r = ec("log", "-", input=log.read_text())
    assert r.returncode == 0 and "3 records" in r.stdout
    r = ec("log", str(tmp_path / "missing.jsonl"))
    assert r.returncode == 2 and "cannot read" in r.stderr
    no_traceback(r)
    r = ec("log", str(tmp_path))
    assert r.returncode == 2
    no_traceback(r)
    # fd 0 closed: Python has no sys.stdin, and `log -` was an AttributeError traceback
    r = ec("log", "-", stdin=None, preexec_fn=lambda: os.close(0))
    assert r.returncode == 2 and r.stderr == "execcheck: cannot read standard input: it is closed\n", r.stderr


def test_log_without_file_says_where_the_records_are(tmp_path):
    """`execcheck log` on a system that only sends records to syslog (the default) said "cannot read
    /var/log/execcheck.jsonl: No such file or directory", which tells a user neither where the
    records are nor what to do. It says so now, and for a configured log_file that is not there
    yet, or cannot be (no directory), says which. /var/log is a tmpfs in a private mount namespace."""
    need_mountns()
    if execcheck.core.policy().as_dict()["sinks"] != ["syslog"]:
        pytest.skip("this machine's /etc/execcheck.conf names its own record sinks")
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXECCHECK_")}
    r = in_mountns('mount -t tmpfs none /var/log\nshift\n"$@"', "-", *execcheck_cmd(), "log", env=env)
    assert r.returncode == 2 and r.stdout == "" and r.stderr == (
        "execcheck: no log_file is configured and /var/log/execcheck.jsonl does not exist: records go to syslog "
        "(journalctl -t execcheck -o cat | execcheck log -), or set log_file = PATH in /etc/execcheck.conf\n"), r
    r = ec("log", "--json", env=dict(env, EXECCHECK_LOG_FILE=str(tmp_path / "rec.jsonl")))
    assert r.returncode == 2 and r.stdout == "" and r.stderr == (
        "execcheck: cannot read %s, the configured log_file: it does not exist yet (the shim creates it with "
        "its first record)\n" % (tmp_path / "rec.jsonl")), r
    r = ec("log", env=dict(env, EXECCHECK_LOG_FILE=str(tmp_path / "nodir/rec.jsonl")))
    assert r.returncode == 2 and "its directory does not exist, so no record can be written there" in r.stderr, r
    r = ec("log", str(tmp_path / "rec.jsonl"), env=env)  # a FILE named: its own error, as before
    assert r.returncode == 2 and r.stderr == "execcheck: cannot read %s: No such file or directory\n" % (
        tmp_path / "rec.jsonl"), r


def test_status_says_when_records_have_nowhere_to_go(tmp_path):
    """The default sink is syslog. Where nothing listens on /dev/log, every record is lost (the shim
    prints nothing in other people's processes), so status says so, and stops saying it once a
    socket is there or another sink is set. /dev is overlaid in a private mount namespace."""
    need_mountns()
    if execcheck.core.policy().as_dict()["sinks"] != ["syslog"]:
        pytest.skip("this machine's /etc/execcheck.conf names its own record sinks")
    host_had = os.path.lexists("/dev/log")
    cmd = " ".join(execcheck_cmd())
    script = (
        'mkdir -p "$1/u" "$1/w"\n'
        'mount -t overlay overlay -o lowerdir=/dev,upperdir="$1/u",workdir="$1/w" /dev\n'
        'rm -f /dev/log\n'
        '%s status --json > "$1/absent.json"\n'
        'EXECCHECK_LOG_FILE="$1/rec.jsonl" %s status --json > "$1/file.json"\n'
        'EXECCHECK_LOG_FILE="$1" %s status --json > "$1/dirfile.json"\n'
        'EXECCHECK_LOG_FILE="$1" %s status > "$1/dirfile.txt"\n'
        '%s status > "$1/absent.txt"\n'
        '%s -c "import socket; socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM).bind(\'/dev/log\')"\n'
        '%s status --json > "$1/socket.json"\n' % (cmd, cmd, cmd, cmd, cmd, sys.executable, cmd))
    r = in_mountns(script, tmp_path, env={k: v for k, v in os.environ.items() if not k.startswith("EXECCHECK_")})
    assert r.returncode == 0, r.stderr
    got = {name: json.loads((tmp_path / (name + ".json")).read_text())["records_lost"]
           for name in ("absent", "file", "dirfile", "socket")}
    # a log_file that is a directory takes no record: with no /dev/log either, they are lost
    assert got == {"absent": True, "file": False, "dirfile": True, "socket": False}
    assert "%s is not a regular file: no record is written to it" % tmp_path in (tmp_path / "dirfile.txt").read_text()
    assert "no /dev/log here: records are lost" in (tmp_path / "absent.txt").read_text()
    assert os.path.lexists("/dev/log") == host_had  # the host's /dev is untouched


def test_status_says_when_proc_is_not_mounted(tmp_path):
    """Without /proc (a bare chroot) the shim cannot identify mapped files and refuses every program
    when enforcing (test_audit_face: no-proc): status says so, and does not blame the kernel for
    the sysctl it cannot read. /proc is hidden by a tmpfs in a private mount namespace."""
    need_mountns()
    cmd = " ".join(execcheck_cmd())
    script = ('mount -t tmpfs -o mode=555 none /proc\n'
              '%s status --json > "$1/s.json"\n%s status > "$1/s.txt"\n' % (cmd, cmd))
    r = in_mountns(script, tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "s.json").read_text())
    assert s["proc_mounted"] is False and s["memfd_noexec"]["text"] == "unknown (/proc is not mounted)", s
    text = (tmp_path / "s.txt").read_text()
    assert "/proc           not mounted here: " in text and "(no-proc)" in text, text
    assert json.loads(ec("status", "--json").stdout)["proc_mounted"] is True
    assert "not mounted here" not in ec("status").stdout


def test_status_sees_the_shim_in_its_own_process():
    r = run(execcheck_cmd() + ["status", "--json"], env=dict(os.environ, LD_PRELOAD=execcheck.lib_path()))
    assert json.loads(r.stdout)["shim"]["this_process"]["copies"] == 1
    assert json.loads(ec("status", "--json").stdout)["shim"]["this_process"]["copies"] == 0


def test_status_reports_a_missing_preload_entry(tmp_path):
    """/etc/ld.so.preload naming a shim that is gone: glibc warns and runs everything unchecked.
    Seen through an /etc overlay in a private mount namespace (the host's file is never written)."""
    need_mountns()
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir(), work.mkdir()
    r = in_mountns('mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc\n'
                   'printf "/nonexistent/libexeccheck.so\\n" > /etc/ld.so.preload\nshift 2\n"$@"',
                   upper, work, *execcheck_cmd(), "status", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["ld_so_preload"]["entries"] == ["/nonexistent/libexeccheck.so"]
    assert any("names the shim that is missing" in w for w in s["fail_open"])
    assert "cannot be preloaded" in r.stderr  # glibc's own warning: exactly the fail-open case


def test_status_says_where_setuid_programs_stand(tmp_path):
    """Without /etc/ld.so.preload naming the shim (execcheck run, LD_PRELOAD from a shell), setuid
    and file-capability programs and all they start run without it: status spoke of setuid
    programs only where the file names the shim (they get the preload face there)."""
    need_mountns()
    without = "setuid/setgid programs and programs with file capabilities (sudo, su, ping) run without the shim"
    with_file = "setuid/setgid programs get only the preload face"
    if os.path.exists("/etc/ld.so.preload"):  # the host's: it must not name the shim already
        with open("/etc/ld.so.preload") as f:
            assert execcheck.lib_path() not in f.read()
    s = json.loads(ec("status", "--json").stdout)
    assert any(w.startswith(without) for w in s["fail_open"]), s["fail_open"]
    assert not any(w.startswith(with_file) for w in s["fail_open"]), s["fail_open"]
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir(), work.mkdir()
    r = in_mountns('mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc\n'
                   'printf "%s\\n" "$3" > /etc/ld.so.preload\nshift 3\n"$@"',
                   upper, work, execcheck.lib_path(), *execcheck_cmd(), "status", "--json")
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["ld_so_preload"]["names_shim"], s["ld_so_preload"]
    assert any(w.startswith(with_file) for w in s["fail_open"]), s["fail_open"]
    assert not any(w.startswith(without) for w in s["fail_open"]), s["fail_open"]


def test_status_reports_loader_variables_that_leave_code_unchecked(tmp_path):
    shim = execcheck.lib_path()
    other = tmp_path / "libother.so"
    other.write_bytes(b"")
    env = dict(os.environ, LD_AUDIT="%s:%s" % (other, shim), LD_PRELOAD="/nonexistent/libexeccheck.so")
    r = run(execcheck_cmd() + ["status", "--json"], env=env)
    warnings = json.loads(r.stdout)["fail_open"]
    assert any(w.startswith("LD_PRELOAD names /nonexistent/libexeccheck.so, which is missing") for w in warnings)
    assert any(w.startswith("LD_AUDIT lists %s before the shim" % other) for w in warnings), warnings
    r = run(execcheck_cmd() + ["status", "--json"], env=dict(os.environ, LD_PRELOAD=shim))
    assert any("only the preload face" in w for w in json.loads(r.stdout)["fail_open"])
    env = {k: v for k, v in os.environ.items() if not k.startswith("LD_")}
    r = run(execcheck_cmd() + ["status", "--json"], env=env)
    assert not any("LD_" in w or "preload face" in w for w in json.loads(r.stdout)["fail_open"])


@pytest.mark.parametrize("args", [["log", "--json", "/nonexistent"], ["audit", "--json", "--root", "/nonexistent"],
                                  ["image", "verify", "--json", "/nonexistent"],
                                  ["image", "prepare", "--json", "/nonexistent"]])
def test_a_json_command_that_fails_prints_no_half_document(args):
    """What the README says of --json: an error that stops the command is one line on stderr and
    exit 2, with nothing on stdout that a JSON reader could take for a result."""
    r = ec(*args)
    assert r.returncode == 2 and r.stdout == "" and r.stderr.startswith("execcheck: ") and \
        r.stderr.count("\n") == 1, r

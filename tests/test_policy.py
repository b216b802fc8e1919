"""Policy resolution in the core: securebits, the root-owned config, the environment (tighten only)."""
import os
import sys

import pytest

import execcheck
from conftest import execcheck_cmd, in_mountns, need_check, need_mountns, need_root, run

pytestmark = pytest.mark.usefixtures("_kernel")


@pytest.fixture
def _kernel():
    need_check()


def conf(tmp_path, text, mode=0o644, name="execcheck.conf"):
    p = tmp_path / name
    p.write_text(text)
    os.chmod(p, mode)
    return str(p)


def test_defaults_audit_everything(tmp_path):
    p = execcheck.policy(config_path=str(tmp_path / "absent.conf"), environ={})
    assert (p.files, p.interactive) == ("audit", "allow")
    assert p.files_sources == [] and p.config_state == "absent"
    assert p.sinks == ["syslog"] and not p.sinks_configured


def test_root_owned_config_enforces(tmp_path):
    need_root()
    path = conf(tmp_path, "# comment\nfiles = enforce\ninteractive = deny   # trailing comment\n"
                          "log_file = /var/log/x.jsonl\nsyslog = no\nstderr = yes\n")
    p = execcheck.policy(config_path=path, environ={})
    assert p.config_state == "loaded" and p.config_problem == ""
    assert (p.files, p.files_sources) == ("enforce", ["config"])
    assert (p.interactive, p.interactive_sources) == ("deny", ["config"])
    assert p.sinks == ["file", "stderr"] and p.log_file == "/var/log/x.jsonl"


@pytest.mark.parametrize("mode", [0o664, 0o646, 0o666])
def test_group_or_other_writable_config_ignored(tmp_path, mode):
    path = conf(tmp_path, "files = enforce\n", mode)
    p = execcheck.policy(config_path=path, environ={})
    assert p.files == "audit" and p.config_state.startswith("ignored") and "writable" in p.config_problem


def test_config_not_owned_by_root_ignored(tmp_path):
    need_root()
    path = conf(tmp_path, "files = enforce\n")
    os.chown(path, 65534, 65534)
    p = execcheck.policy(config_path=path, environ={})
    assert p.files == "audit" and "not owned by root" in p.config_problem


def test_symlinked_or_non_regular_config_ignored(tmp_path):
    target = conf(tmp_path, "files = enforce\n", name="real.conf")
    os.symlink(target, tmp_path / "link.conf")
    p = execcheck.policy(config_path=str(tmp_path / "link.conf"), environ={})
    assert p.files == "audit" and "symlink" in p.config_problem
    os.mkdir(tmp_path / "dir.conf")
    p = execcheck.policy(config_path=str(tmp_path / "dir.conf"), environ={})
    assert p.files == "audit" and "not a regular file" in p.config_problem


def test_bad_lines_reported_good_lines_applied(tmp_path):
    need_root()
    path = conf(tmp_path, "files = enforce\nfiles = sometimes\nbogus\ninteractive = deny\n\0\n")
    p = execcheck.policy(config_path=path, environ={})
    assert p.files == "enforce" and p.interactive == "deny"
    assert p.config_problem == "line 2 not understood (ignored): files takes audit or enforce", p.config_problem


@pytest.mark.parametrize("line, said", [
    ("log_file = /" + "l" * 300, "log_file takes an absolute path shorter than 256 bytes, or nothing"),
    ("log_file = relative.log", "log_file takes an absolute path shorter than 256 bytes, or nothing"),
    ("interactive = maybe", "interactive takes allow or deny"),
    ("Syslog = sometimes", "Syslog takes yes or no"),
    ("colour = blue", "colour"),
])
def test_a_bad_value_is_told_what_its_key_takes(tmp_path, line, said):
    """A path too long for log_file was "not understood (ignored): log_file", which left the reader
    to guess what was wrong with it: the problem now says what the key takes."""
    need_root()
    p = execcheck.policy(config_path=conf(tmp_path, "files = enforce\n%s\n" % line), environ={})
    assert p.files == "enforce" and p.config_problem == "line 2 not understood (ignored): " + said, p.config_problem


def test_environment_only_tightens(tmp_path):
    need_root()
    absent = str(tmp_path / "absent.conf")
    p = execcheck.policy(config_path=absent, environ={"EXECCHECK_FILES": "enforce", "EXECCHECK_INTERACTIVE": "deny"})
    assert (p.files, p.files_sources, p.interactive) == ("enforce", ["environment"], "deny")
    enforcing = conf(tmp_path, "files = enforce\n")
    p = execcheck.policy(config_path=enforcing, environ={"EXECCHECK_FILES": "audit", "EXECCHECK_INTERACTIVE": "allow"})
    assert p.files == "enforce" and p.interactive == "allow"
    p = execcheck.policy(config_path=absent, environ={"EXECCHECK_FILES": "Enforce!", "EXECCHECK_LOG_FILE": "relative"})
    assert p.files == "audit" and "file" not in p.sinks


def test_environment_adds_sinks_but_not_in_secure_mode(tmp_path):
    absent = str(tmp_path / "absent.conf")
    env = {"EXECCHECK_LOG_FILE": "/tmp/x.jsonl", "EXECCHECK_LOG_STDERR": "1"}
    p = execcheck.policy(config_path=absent, environ=env)
    assert p.sinks == ["file", "syslog", "stderr"] and p.log_file == "/tmp/x.jsonl"
    p = execcheck.policy(config_path=absent, environ=env, secure=True)
    assert "file" not in p.sinks and p.log_file is None


@pytest.mark.parametrize("env, problem", [
    ({"EXECCHECK_FILES": "enforcing"}, 'EXECCHECK_FILES ignored: only "enforce" is understood'),
    ({"EXECCHECK_INTERACTIVE": "no"}, 'EXECCHECK_INTERACTIVE ignored: only "deny" is understood'),
    ({"EXECCHECK_LOG_FILE": "relative.jsonl"}, "EXECCHECK_LOG_FILE ignored: not an absolute path"),
    ({"EXECCHECK_LOG_FILE": "/" + "x" * 300}, "EXECCHECK_LOG_FILE ignored: longer than 255 bytes"),
    ({"EXECCHECK_SYSLOG": "maybe"}, "EXECCHECK_SYSLOG ignored: not yes or no"),
    ({"EXECCHECK_FILES": "\x1b[2Jenforce", "EXECCHECK_LOG_STDERR": "2"}, "EXECCHECK_FILES ignored"),
    ({"EXECCHECK_FILES": "audit", "EXECCHECK_INTERACTIVE": "allow", "EXECCHECK_SYSLOG": "no"}, ""),
    ({"EXECCHECK_FILES": "", "EXECCHECK_LOG_FILE": ""}, ""),
])
def test_an_environment_variable_not_understood_is_named(tmp_path, env, problem):
    """The environment is anyone's, so what the policy does not understand is ignored; the first
    such variable is named (never its value: it could be anything) for `execcheck status`, so that
    a typo does not pass for enforcement."""
    p = execcheck.policy(config_path=str(tmp_path / "absent.conf"), environ=env)
    assert p.files == "audit" and p.interactive == "allow" and "file" not in p.sinks
    assert p.env_problem.startswith(problem) and (problem or p.env_problem == ""), p.env_problem
    assert "\x1b" not in p.env_problem
    r = run(execcheck_cmd() + ["status"], env=dict(os.environ, **env))
    assert r.returncode == 0 and (("environment     " + problem) in r.stdout) == bool(problem), r.stdout


def test_a_log_file_from_the_environment_in_secure_mode_is_named(tmp_path):
    p = execcheck.policy(config_path=str(tmp_path / "absent.conf"), environ={"EXECCHECK_LOG_FILE": "/tmp/x"},
                         secure=True)
    assert p.log_file is None and p.env_problem == ("EXECCHECK_LOG_FILE ignored: a setuid or setgid process takes "
                                                    "nothing from its caller's environment")


def test_config_cannot_loosen_securebits(tmp_path):
    need_root()
    path = conf(tmp_path, "files = audit\ninteractive = allow\n")
    code = ("import execcheck, sys\nexeccheck.set_securebits(restrict_file=True, deny_interactive=True)\n"
            "p = execcheck.policy(config_path=sys.argv[1], environ={})\nprint(p.files, p.files_sources, p.interactive)")
    r = run([sys.executable, "-c", code, path])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "enforce ['securebits'] deny"


def test_the_real_config_path_inside_a_mount_namespace(tmp_path):
    """The shim's fixed path, /etc/execcheck.conf, seen through an overlay of /etc that exists only
    inside a private mount namespace (the host's /etc is never written)."""
    need_mountns()
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir(), work.mkdir()
    r = in_mountns('mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc\n'
                   'printf "files = enforce\\n" > /etc/execcheck.conf\nchmod 0644 /etc/execcheck.conf\n'
                   '"$3" -c "import execcheck; p = execcheck.policy(); print(p.config_path, p.config_state, p.files)"',
                   upper, work, sys.executable)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["/etc/execcheck.conf", "loaded", "enforce"]
    assert not os.path.exists("/etc/execcheck.conf") or open("/etc/execcheck.conf").read() != "files = enforce\n"


def test_hostile_config_text_never_breaks_the_parser():
    """Random bytes, huge lines, NULs, '=' storms, long values: the parser (the shim's own, through
    cffi) never crashes, never overruns its fields, and only 'enforce'/'deny' tighten."""
    import random
    from execcheck._native import ffi, lib
    rng = random.Random(1234)
    pieces = [b"files", b"interactive", b"log_file", b"syslog", b"stderr", b"mode", b"=", b" ", b"\t", b"#", b"\n",
              b"\r\n", b"\0", b"enforce", b"deny", b"audit", b"allow", b"/" + b"a" * 300, b"yes", b"no", b"\xff\xfe",
              b"=" * 50, b"x" * 600]
    for i in range(3000):
        if i % 3:
            text = b"".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        else:
            text = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 2000)))
        p = ffi.new("struct ec_policy *")
        lib.ec_policy_apply_config(p, text, len(text))
        assert p.files in (0, 1) and p.interactive in (0, 1)
        if p.files:
            assert b"enforce" in text
        if p.interactive:
            assert b"deny" in text
        log = ffi.string(p.log_file)
        assert len(log) < 256 and (not log or log.startswith(b"/"))
        assert len(ffi.string(p.config_problem)) < 200


@pytest.mark.parametrize("text", [
    "Files = Enforce\n",                                 # any case
    "\ufefffiles = enforce\n",                           # a UTF-8 byte order mark, as some editors write
    "files = enforce\v\n", "files = enforce\f\n",        # other blanks
    "files = enforce   # " + "x" * 600 + "\n",           # a long comment
    "files = enforce" + " " * 600 + "\n",                # trailing blanks
])
def test_a_setting_is_read_as_its_writer_meant(tmp_path, text):
    """Each of these lines was skipped (its file then did not enforce): values were case-sensitive,
    a BOM made the first key unknown, \\v and \\f were no blanks, and a line of 512 bytes or more
    was dropped whole even when only its comment or blanks made it long."""
    need_root()
    path = tmp_path / "execcheck.conf"
    path.write_bytes(text.encode())
    os.chmod(path, 0o644)
    p = execcheck.policy(config_path=str(path), environ={})
    assert (p.files, p.config_state, p.config_problem) == ("enforce", "loaded", ""), (text[:40], p)


def test_a_config_this_process_cannot_read_enforces(tmp_path):
    """A root-owned 0600 config read by a non-root process, and one over 16 KiB: the process cannot
    know what it says. They were ignored (audit, silently in the shim); now files are enforced as
    the config may say, and the reason is named."""
    need_root()
    path = conf(tmp_path, "files = audit\n", 0o600)
    os.chmod(tmp_path, 0o755)
    script = ("import execcheck, json, sys; p = execcheck.policy(config_path=sys.argv[1], environ={}); "
              "print(json.dumps([p.files, p.files_sources, p.config_state, p.config_problem]))")
    r = run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", script, path])
    import json
    files, sources, state, problem = json.loads(r.stdout)
    assert (files, sources, state) == ("enforce", ["config"], "unreadable: files enforced"), r
    assert "cannot be opened by this process: files enforced" in problem, problem
    big = conf(tmp_path, "# " + "x" * 20000 + "\nfiles = audit\n", name="big.conf")
    p = execcheck.policy(config_path=big, environ={})
    assert (p.files, p.config_state) == ("enforce", "too large: files enforced"), p
    assert "larger than 16 KiB" in p.config_problem, p


def test_a_setuid_process_takes_no_policy_from_its_environment(tmp_path):
    """secure (AT_SECURE): the environment is its caller's; the shim passed none, but the core
    itself still read EXECCHECK_FILES and EXECCHECK_LOG_STDERR when asked (Python's policy())."""
    env = {"EXECCHECK_FILES": "enforce", "EXECCHECK_INTERACTIVE": "deny", "EXECCHECK_LOG_STDERR": "1",
           "EXECCHECK_SYSLOG": "1"}
    absent = str(tmp_path / "absent.conf")
    assert execcheck.policy(config_path=absent, environ=env).files == "enforce"
    p = execcheck.policy(config_path=absent, environ=env, secure=True)
    assert (p.files, p.interactive, p.sinks) == ("audit", "allow", ["syslog"]), p
    assert p.env_problem == "EXECCHECK_FILES ignored: a setuid or setgid process takes nothing from its caller's " \
        "environment", p

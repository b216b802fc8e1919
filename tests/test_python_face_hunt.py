"""Bypasses of the CPython face found by a bypass hunt (2026-12-01), one test each, on every CPython
of this machine (3.8+: pyenv's and the distribution's).

Cases under DENY_INTERACTIVE alone need no executable view of the interpreter's libraries (files
are not enforced): the interpreter runs as it is, under `execcheck run --deny-interactive`.
"""
import os

import pytest

from conftest import ec, need_check
from python_face_lib import interpreters

PYTHONS = interpreters()
REPL_CODE = "print('PWNED', 6 * 7)\n"


@pytest.fixture
def breakpoint_script(tmp_path):
    script = tmp_path / "bp.py"
    script.write_text("print('before')\nbreakpoint()\nprint('after')\n")
    os.chmod(script, 0o755)  # a script that passes the check: only what its breakpoint() starts is at stake
    return script


def env_with(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "EXECCHECK_"))}
    env.update(extra)
    return env


@pytest.mark.parametrize("label,python", [(p[0], p[1]) for p in PYTHONS], ids=[p[0] for p in PYTHONS])
def test_pythonbreakpoint_naming_another_console_is_refused_under_deny_interactive(label, python, breakpoint_script):
    """PYTHONBREAKPOINT=code.interact turned a script's breakpoint(), which the face refuses under
    DENY_INTERACTIVE as the debugger it starts (pdb), into a Python prompt that ran stdin's code:
    pdb's patch never sees code.interact. Without the bit it still runs (the case can fail)."""
    need_check()
    env = env_with(PYTHONBREAKPOINT="code.interact")
    free = ec("run", "--", python, str(breakpoint_script), input=REPL_CODE, env=env, timeout=60)
    assert "PWNED 42" in free.stdout, (free.stdout, free.stderr)
    r = ec("run", "--deny-interactive", "--", python, str(breakpoint_script), input=REPL_CODE, env=env, timeout=60)
    assert "PWNED" not in r.stdout, (r.stdout, r.stderr)
    assert "before" in r.stdout and "after" not in r.stdout, r.stdout
    assert "execcheck: refused to start the debugger (PYTHONBREAKPOINT=code.interact)" in r.stderr, r.stderr
    assert "PermissionError" in r.stderr and r.returncode == 1, (r.returncode, r.stderr)


@pytest.mark.parametrize("label,python", [(p[0], p[1]) for p in PYTHONS], ids=[p[0] for p in PYTHONS])
def test_breakpoint_turned_off_or_ignored_environment_runs_under_deny_interactive(label, python, breakpoint_script):
    """The rule reads PYTHONBREAKPOINT as CPython does: "0" turns breakpoint() off, and -E ignores
    the variable (pdb then, refused at its prompt as before, with the refusal's own
    PermissionError: the look-up of 3.14's pdb._PdbServer used to replace it by an AttributeError)."""
    need_check()
    off = ec("run", "--deny-interactive", "--", python, str(breakpoint_script),
             env=env_with(PYTHONBREAKPOINT="0"), input="", timeout=60)
    assert off.returncode == 0 and off.stdout.split() == ["before", "after"], (off.stdout, off.stderr)
    assert "refused" not in off.stderr, off.stderr
    ignored = ec("run", "--deny-interactive", "--", python, "-E", str(breakpoint_script),
                 env=env_with(PYTHONBREAKPOINT="code.interact"), input=REPL_CODE, timeout=60)
    assert "PWNED" not in ignored.stdout, (ignored.stdout, ignored.stderr)
    assert "execcheck: refused to start the debugger (pdb)" in ignored.stderr, ignored.stderr
    assert "PermissionError: [Errno 13]" in ignored.stderr and "AttributeError" not in ignored.stderr, ignored.stderr


def records(log):
    import json
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.mark.parametrize("label,python", [(p[0], p[1]) for p in PYTHONS], ids=[p[0] for p in PYTHONS])
def test_a_console_the_program_starts_is_refused_under_deny_interactive(label, python, tmp_path):
    """A Python console reached without any entry the face refuses ran stdin's code under
    DENY_INTERACTIVE: `python -m unittest code.interact` (unittest calls the callable its argument
    names; that route is now judged as `-m code`, below), a script's code.interact(). The console's
    first compile of a typed line ('<console>') is refused, before it runs, and recorded as
    interactive code. Without the bit it still runs (the case can fail)."""
    need_check()
    script = tmp_path / "console.py"
    script.write_text("import code\nprint('before')\ncode.interact()\nprint('after')\n")
    os.chmod(script, 0o755)
    log = tmp_path / "log.jsonl"
    env = env_with(EXECCHECK_LOG_FILE=str(log))
    free = ec("run", "--", python, str(script), input=REPL_CODE, env=env, timeout=60)
    assert "PWNED 42" in free.stdout, (free.stdout, free.stderr)
    console = [r for r in records(log) if r["path"] == "(console)"]
    assert [(r["kind"], r["action"]) for r in console] == [("interactive", "logged")], console
    log.unlink()
    r = ec("run", "--deny-interactive", "--", python, str(script), input=REPL_CODE, env=env, timeout=60)
    assert "PWNED" not in r.stdout and "after" not in r.stdout, (r.stdout, r.stderr)
    assert "execcheck: refused to run interactive code (console)" in r.stderr, r.stderr
    assert "PermissionError" in r.stderr and r.returncode == 1, (r.returncode, r.stderr)
    console = [rec for rec in records(log) if rec["path"] == "(console)"]
    assert [(rec["kind"], rec["action"]) for rec in console] == [("interactive", "refused")], console


@pytest.mark.parametrize("label,python", [(p[0], p[1]) for p in PYTHONS], ids=[p[0] for p in PYTHONS])
def test_unittest_naming_a_code_running_module_is_that_module_under_either_bit(label, python, tmp_path):
    """`python -m unittest doctest._test` called doctest's own command line, which ran the examples
    of `doctest._test`, a 0644 file of the working directory, read with open(): under
    DENY_INTERACTIVE and RESTRICT_FILE alike, where `python -m doctest` is refused. A unittest
    NAME any part of which is a code-running module is judged as that module (126 before anything
    runs); names of ordinary test modules run as before."""
    need_check()
    (tmp_path / "doctest._test").write_text(">>> print('PWNED', 6 * 7)\n")
    os.chmod(tmp_path / "doctest._test", 0o644)
    (tmp_path / "test_plain.py").write_text("import unittest\nclass T(unittest.TestCase):\n"
                                            "    def test_ok(self):\n        print('RAN', 'plain')\n")
    os.chmod(tmp_path / "test_plain.py", 0o755)
    log = tmp_path / "log.jsonl"
    env = env_with(EXECCHECK_LOG_FILE=str(log))
    free = ec("run", "--", python, "-m", "unittest", "doctest._test", cwd=tmp_path, env=env, timeout=60)
    assert "PWNED 42" in free.stdout + free.stderr, (free.stdout, free.stderr)
    log.unlink()
    r = ec("run", "--deny-interactive", "--", python, "-m", "unittest", "-v", "doctest._test", cwd=tmp_path, env=env,
           timeout=60)
    assert "PWNED" not in r.stdout + r.stderr and r.returncode == 126, (r.returncode, r.stdout, r.stderr)
    assert "execcheck: refused to run interactive code (python -m unittest doctest._test)" in r.stderr, r.stderr
    ours = [(rec["kind"], rec["path"], rec["action"]) for rec in records(log) if rec["face"] == "python"
            and rec["kind"] == "interactive"]
    assert ours == [("interactive", "(python -m unittest doctest._test)", "refused")], ours
    # after `--` every argument is a NAME, `-k` too (and doctest's command line reads a file `-k`)
    (tmp_path / "-k").write_text(">>> print('PWNED', 6 * 7)\n")
    r = ec("run", "--deny-interactive", "--", python, "-m", "unittest", "--", "-k", "doctest._test", cwd=tmp_path,
           env=env_with(), timeout=60)
    assert "PWNED" not in r.stdout + r.stderr and r.returncode == 126, (r.returncode, r.stdout, r.stderr)
    r = ec("run", "--deny-interactive", "--", python, "-m", "unittest", "code.interact", input=REPL_CODE, env=env_with(),
           timeout=60)
    assert "PWNED" not in r.stdout and r.returncode == 126, (r.returncode, r.stdout, r.stderr)
    assert "execcheck: refused to run interactive code (python -m unittest code.interact)" in r.stderr, r.stderr
    plain = ec("run", "--deny-interactive", "--", python, "-m", "unittest", "-k", "doctest", "test_plain", cwd=tmp_path,
               env=env_with(), timeout=60)
    assert "refused" not in plain.stderr and plain.returncode in (0, 5), (plain.returncode, plain.stderr)
    plain = ec("run", "--deny-interactive", "--", python, "-m", "unittest", "test_plain", cwd=tmp_path, env=env_with(),
               timeout=60)
    assert plain.returncode == 0 and "RAN plain" in plain.stdout, (plain.stdout, plain.stderr)
    # a project's own subpackage named like a stdlib module is not that module
    for d in ("proj", "proj/code"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "__init__.py").write_text("")
    os.replace(tmp_path / "test_plain.py", tmp_path / "proj" / "code" / "test_plain.py")
    plain = ec("run", "--deny-interactive", "--", python, "-m", "unittest", "proj.code.test_plain", cwd=tmp_path,
               env=env_with(), timeout=60)
    assert plain.returncode == 0 and "RAN plain" in plain.stdout, (plain.stdout, plain.stderr)


@pytest.mark.parametrize("label,python", [(p[0], p[1]) for p in PYTHONS], ids=[p[0] for p in PYTHONS])
def test_unittest_main_imported_for_a_warning_category_is_judged_like_m_unittest(label, python, tmp_path):
    """unittest/__main__.py runs unittest's command line when it is imported, on sys.argv: `-W
    ignore::unittest.__main__.X` (PYTHONWARNINGS alike) imports it at start-up to find a warning
    category, with no run_module event, and `python -W ignore::unittest.__main__.X app.py
    doctest._test` ran the examples of a 0644 file. The import is judged as `-m unittest` is."""
    need_check()
    (tmp_path / "doctest._test").write_text(">>> print('PWNED', 6 * 7)\n")
    os.chmod(tmp_path / "doctest._test", 0o644)
    app = tmp_path / "app.py"
    app.write_text("print('RAN', 'app')\n")
    os.chmod(app, 0o755)
    log = tmp_path / "log.jsonl"
    argv = [python, "-W", "ignore::unittest.__main__.X", str(app), "doctest._test"]
    free = ec("run", "--", *argv, cwd=tmp_path, env=env_with(), timeout=60)
    assert "PWNED 42" in free.stdout + free.stderr, (free.stdout, free.stderr)
    for how in (argv, ["env", "PYTHONWARNINGS=ignore::unittest.__main__.X"] + argv[:1] + argv[3:]):
        r = ec("run", "--deny-interactive", "--", *how, cwd=tmp_path, env=env_with(EXECCHECK_LOG_FILE=str(log)),
               timeout=60)
        assert "PWNED" not in r.stdout + r.stderr and r.returncode == 126, (how, r.returncode, r.stdout, r.stderr)
        assert "refused to run interactive code (import unittest.__main__ doctest._test)" in r.stderr, r.stderr
    ours = {(rec["kind"], rec["path"], rec["action"]) for rec in records(log) if rec["kind"] == "interactive"}
    assert ours == {("interactive", "(import unittest.__main__ doctest._test)", "refused")}, ours
    # the same warning option with an ordinary argument runs the app's own code (unittest's
    # command line finds no test by that name: its own error, as without the face)
    r = ec("run", "--deny-interactive", "--", python, "-W", "ignore::unittest.__main__.X", str(app), "nothing_here",
           cwd=tmp_path, env=env_with(), timeout=60)
    assert "refused" not in r.stderr and "PWNED" not in r.stdout, (r.stdout, r.stderr)

"""Propagation: from a process started with LD_PRELOAD=libexeccheck.so, every child starts with the
shim first in LD_PRELOAD and (when the audit face is built in) first in LD_AUDIT, whatever the
parent passed."""
import os
import subprocess

import pytest

import execcheck
from conftest import C_DIR, run

ROUTES = ["execve", "execve-null", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "fexecve",
          "execveat", "vfork", "posix_spawn", "posix_spawnp", "system", "popen", "unsetenv", "clearenv"]


def shim_has_audit_face():
    from elftools.elf.elffile import ELFFile
    with open(execcheck.lib_path(), "rb") as f:
        syms = ELFFile(f).get_section_by_name(".dynsym")
        return any(s.name == "la_version" and s["st_shndx"] != "SHN_UNDEF" for s in syms.iter_symbols())


def child_env(stdout):
    env = {}
    for line in stdout.splitlines():
        k, _, v = line.partition("=")
        env.setdefault(k, v)  # env prints in order; ld.so honours the first LD_AUDIT... all of them
    return env


@pytest.fixture(scope="module")
def spawner(tmp_path_factory):
    out = tmp_path_factory.mktemp("spawner") / "spawner"
    subprocess.run([os.environ.get("CC", "cc"), "-O1", "-o", str(out), str(C_DIR / "propagate_spawner.c")], check=True)
    return str(out)


def shimmed(extra=None):
    env = dict(os.environ)
    env.pop("LD_AUDIT", None)
    env["LD_PRELOAD"] = execcheck.lib_path()
    env.update(extra or {})
    return env


@pytest.mark.parametrize("route", ROUTES)
def test_every_exec_route_propagates(spawner, route):
    r = run([spawner, route], env=shimmed())
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stderr == ""
    env = child_env(r.stdout)
    shim = execcheck.lib_path()
    assert env.get("LD_PRELOAD", "").split(":")[0] == shim
    if shim_has_audit_face():
        assert env.get("LD_AUDIT", "").split(":")[0] == shim
    else:
        assert "LD_AUDIT" not in env


def test_existing_lists_are_kept_after_ours(spawner, tmp_path):
    shim = execcheck.lib_path()
    other = "/usr/lib/x86_64-linux-gnu/libm.so.6"
    r = run([spawner, "execv"], env=shimmed({"LD_PRELOAD": "%s %s" % (other, shim)}))
    assert r.returncode == 0, r.stderr
    env = child_env(r.stdout)
    assert env["LD_PRELOAD"] == "%s:%s" % (shim, other)  # ours first, no duplicate
    assert sum(1 for line in r.stdout.splitlines() if line.startswith("LD_PRELOAD=")) == 1


def test_shell_chains_and_env_tricks(tmp_path):
    shim = execcheck.lib_path()
    for cmd in (["sh", "-c", "sh -c env"], ["env", "-u", "LD_PRELOAD", "env"], ["env", "-i", "/usr/bin/env"],
                ["sh", "-c", "unset LD_PRELOAD; exec env"]):
        r = run(cmd, env=shimmed())
        assert r.returncode == 0, (cmd, r.stderr)
        assert child_env(r.stdout).get("LD_PRELOAD", "").split(":")[0] == shim, cmd


def test_no_propagation_without_the_shim(spawner):
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)
    r = run([spawner, "execve"], env=env)
    assert "LD_PRELOAD" not in child_env(r.stdout)


def test_huge_environment_goes_through_a_mapping(spawner):
    """An envp far larger than the stack buffer: rewritten in an anonymous mapping, intact."""
    big = {"BIG%05d" % i: "v" * 50 for i in range(3000)}
    r = run([spawner, "execv"], env=shimmed(big))
    assert r.returncode == 0, r.stderr
    env = child_env(r.stdout)
    assert all(env.get(k) == v for k, v in big.items())
    assert env["LD_PRELOAD"].split(":")[0] == execcheck.lib_path()

"""Propagation: from a process started with LD_PRELOAD=libexeccheck.so, every child starts with the
shim first in LD_PRELOAD and (when the audit face is built in) first in LD_AUDIT, whatever the
parent passed."""
import os

import pytest

import execcheck
from conftest import run

ROUTES = ["execve", "execve-null", "execv", "execvp", "execvpe", "execl", "execlp", "execle", "execle-null-arg0",
          "nostatx", "fexecve",
          "execveat", "vfork", "posix_spawn", "posix_spawnp", "system", "popen", "wordexp", "unsetenv", "clearenv",
          # the program takes our entries out of environ, then libc starts a shell from environ
          "cleared-clearenv-system", "cleared-unsetenv-popen", "cleared-environ-system", "cleared-environ-popen",
          "cleared-clearenv-wordexp"]


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
    if route in ("execle", "execle-null-arg0", "nostatx"):  # the program's envp, not environ
        assert env.get("MARK") == "1", r.stdout


def test_a_tab_is_part_of_an_ld_preload_name(spawner):
    """ld.so splits LD_PRELOAD at spaces and colons only: a tab is part of a name, and the child's
    list is the program's with ours in front (the wrappers split at tabs too: x:y.so)."""
    tabbed = "/nonexistent/x\ty.so"
    r = run([spawner, "execv"], env=shimmed({"LD_PRELOAD": "%s:%s" % (execcheck.lib_path(), tabbed)}))
    assert r.returncode == 0, r.stderr
    assert "object '%s' from LD_PRELOAD" % tabbed in r.stderr, r.stderr  # ld.so's own reading of it
    assert child_env(r.stdout)["LD_PRELOAD"] == "%s:%s" % (execcheck.lib_path(), tabbed), r.stdout


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


@pytest.fixture(scope="module")
def exec_memory(tmp_path_factory):
    """exec_memory MODE N (tests/c/exec_memory.c): execs with a 400-variable envp, vfork children."""
    from conftest import build_helper
    return build_helper(tmp_path_factory, "exec_memory", "-pthread")


@pytest.mark.parametrize("mode", ["vfork", "threads", "failed"])
def test_a_large_envp_costs_its_parent_nothing(exec_memory, mode):
    """An envp beyond the wrapper's stack buffer goes to memory of the shim's. A vfork() child
    (Python's subprocess since 3.10) shares its parent's memory, so what it maps and leaves behind
    by exec stayed there: 4 KiB per child, 1200 kB after 300 children. Now the exec itself gives
    the buffer back (set_tid_address on its busy word). Each child must still get its variables
    intact, the shim first; a failed exec leaves the thread joinable (its clear_child_tid restored)."""
    _calls_cost_nothing(exec_memory, mode, {"vfork": 300, "threads": 100, "failed": 300}[mode])


@pytest.mark.parametrize("mode", ["cleared", "swapped", "popen-threads", "setenv-during", "mixed"])
def test_system_after_the_program_changed_its_environment(exec_memory, mode):
    """The program takes the shim's entries out before each system() (clearenv and setenv of a
    counter; environ = an array of its own, then the saved one back): the shell still gets the
    shim (popen of env), and after the call environ is the program's own again, not an array of
    the shim's. Before, the fixed array was published for good, a new one whenever a value had
    changed, never freed (the program may hold it): system() failed with ENOMEM after a few hundred
    thousand calls (the 64 MiB arena full).
    popen-threads: four threads at once, each shell with the shim, however the calls overlap.
    setenv-during: a variable the program sets while the shim's array stands in keeps its new
    value after the call (glibc changed the shim's array in place: it stays); a variable added
    then copies the array's pointers, the shim's strings among them, into glibc's new array: those
    strings outlive the array (a build that unmapped them with it read garbage there).
    mixed: system, popen, fork and vfork with exec, from four threads at once."""
    _calls_cost_nothing(exec_memory, mode, {"popen-threads": 50, "setenv-during": 30, "mixed": 400}.get(mode, 2000))


def test_system_with_many_distinct_ld_preload_values(exec_memory):
    """The shim's LD_PRELOAD entry for a program's own value must outlive the call (glibc's setenv
    may keep its pointer), so each distinct one is kept for the process - and found again for a
    repeat. Only the first 32 were remembered: past them every call copied its value anew into a
    1 MiB reserve, and once that was full system() failed with ENOMEM for good (64 spellings of
    one library, ~2.6 KB the longest, cycled: the 700th call or so failed)."""
    libm = next(line.split()[-1] for line in open("/proc/self/maps") if "/libm.so" in line)
    r = run([exec_memory, "preloads", "1500", libm], env=shimmed(), timeout=300)
    assert r.returncode == 0 and "failed-calls=0" in r.stdout, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == ""
    grew = int(r.stdout.split("grew=")[1].split()[0])
    assert grew <= 1024, r.stdout  # kB: the 64 values once each (~90 kB), not one copy per call


def _calls_cost_nothing(exec_memory, mode, n):
    r = run([exec_memory, mode, str(n)], env=shimmed(), timeout=120)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == ""
    grew = int(r.stdout.split("grew=")[1].split()[0])
    assert grew <= 64, r.stdout  # kB: a few kept buffers, not one per call


# ---------------------------------------------------------------------------------------------
# the children really run under the audit face: a load that only the audit face can refuse
#
# libc loads gconv modules itself (iconv_open), behind any dlopen() interposer and after the
# tripwire: a process with only the preload face loads a bad module (the control test below);
# under the audit face it is refused before its code runs (enforcing) or recorded by face "audit".

from audit_face_util import MODES, SHIM, Kit, run_face  # noqa: E402
from conftest import need_check, need_mountns  # noqa: E402

AUDIT_ROUTES = ["execve", "posix_spawn", "posix_spawnp", "system", "environ-system", "sh-chain", "env-u"]


@pytest.fixture(params=MODES)
def mode(request):
    need_check()
    if request.param == "config":
        need_mountns()
    return request.param


@pytest.mark.parametrize("route", ["posix_spawn", "posix_spawnp"])
def test_the_wrappers_call_libcs_current_posix_spawn(spawn_tool, tmp_path, route):
    """libc has two of each posix_spawn: the default (GLIBC_2.15) refuses an executable file that
    is neither ELF nor a script with ENOEXEC; the compat one (GLIBC_2.2.5) runs it with /bin/sh.
    The wrappers find libc's functions in its symbol tables (loaded_deps.c), taking default versions
    as dlsym does: the file is refused as without the shim."""
    text = tmp_path / "no-shebang"
    text.write_text("echo ran-by-sh\n")
    os.chmod(text, 0o755)
    argv = [spawn_tool, route, str(text)]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 127 and base.err == "%s: Exec format error\n" % route and base.out == "", base
    res = run_face("audit", argv, tmp_path, preload=SHIM)
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res


def bad_gconv(tmp_path):
    kit = Kit(tmp_path)
    module = kit.lib("gconv/libtestgconv.so", "gconv", mode=0o644, gconv=True)
    (tmp_path / "gconv" / "gconv-modules").write_text(
        "module  INTERNAL          EXECCHECKTEST//   libtestgconv  1\n"
        "module  EXECCHECKTEST//   INTERNAL          libtestgconv  1\n")
    return module, {"GCONV_PATH": str(tmp_path / "gconv")}, kit.prog()


@pytest.mark.parametrize("face_mode", ["audit", "secbits"])
def test_control_the_preload_face_alone_cannot_refuse_it(tmp_path, face_mode):
    """The control: with only the preload face, libc's own load of a 0644 gconv module runs (no
    dlopen() of the program's to intercept). It used to go unrecorded when no later dlopen() came;
    the face's last sweep, at exit, now records it and, enforcing, makes the exit status 126 after
    the fact (as the audit face's last consistent state does); audit mode changes nothing."""
    need_check()
    module, env, prog = bad_gconv(tmp_path)
    res = run_face(face_mode, [prog, "iconv:EXECCHECKTEST//"], tmp_path, env=env, preload=SHIM)
    assert "CTOR gconv" in res.lines and "iconv ok" in res.lines, res  # it ran: not refused before
    recs = res.records_for(module)
    assert [(r["face"], r["kind"]) for r in recs] == [("preload", "library")], res
    if face_mode == "audit":
        assert res.rc == 0 and res.err == "" and recs[0]["action"] == "logged", res
    else:
        assert res.rc == 126 and recs[0]["action"] == "refused", res
        assert "execcheck: refused to run with %s: x-bit" % module in res.err, res


@pytest.mark.parametrize("route", AUDIT_ROUTES)
def test_children_run_under_the_audit_face(tmp_path, spawn_tool, mode, route):
    """From a process started with LD_PRELOAD=libexeccheck.so only: a child started by execve with
    an envp without LD_AUDIT, by posix_spawn(p), by system() (also after the program replaced
    environ with one without our entries), by `sh -c 'sh -c prog'`, and after `env -u LD_AUDIT`."""
    module, env, prog = bad_gconv(tmp_path)
    child = [str(prog), "iconv:EXECCHECKTEST//"]
    if route == "sh-chain":
        argv = ["sh", "-c", "sh -c '%s %s'" % tuple(child)]
    elif route == "env-u":
        argv = ["env", "-u", "LD_AUDIT", *child]
        env = dict(env, LD_AUDIT=SHIM)  # what a shimmed parent gives env, which then drops it
    else:
        argv = [spawn_tool, route, *child]
    res = run_face(mode, argv, tmp_path, env=env, preload=SHIM)
    recs = res.records_for(module)
    assert [(r["face"], r["kind"]) for r in recs] == [("audit", "library")], res
    if mode == "audit":
        assert res.rc == 0 and "CTOR gconv" in res.lines and "iconv ok" in res.lines, res
        assert recs[0]["action"] == "logged" and res.err == "", res
    else:
        assert res.rc == 0 and "iconv failed" in res.lines and "CTOR gconv" not in res.lines, res
        assert recs[0]["action"] == "refused", res
    assert len(res.records) == 1, res


def _lib_dir():
    """What this machine's ld.so expands $LIB to (its --list-diagnostics)."""
    import subprocess
    out = subprocess.run(["/lib64/ld-linux-x86-64.so.2", "--list-diagnostics"], capture_output=True, text=True).stdout
    return [l.split("=", 1)[1].strip('"') for l in out.splitlines() if l.startswith("dl_dst_lib=")][0]


@pytest.mark.parametrize("token", ["$LIB", "${LIB}"])
def test_a_lib_entry_naming_the_shim_is_what_children_get(spawner, tmp_path, token):
    """The shim loaded through DIR/$LIB/libexeccheck.so gives children that entry, not its own path
    (so a child of the other class loads its own class's shim), with its own path not listed again."""
    import shutil
    real = tmp_path / _lib_dir() / "libexeccheck.so"
    real.parent.mkdir(parents=True)
    shutil.copy2(execcheck.lib_path(), real)
    entry = "%s/%s/libexeccheck.so" % (tmp_path, token)
    r = run([spawner, "execv"], env=shimmed({"LD_PRELOAD": "%s %s" % (entry, real)}))
    assert r.returncode == 0 and r.stderr == "", r
    env = child_env(r.stdout)
    assert env["LD_PRELOAD"] == entry and env["LD_AUDIT"].split(":")[0] == entry, env
    assert str(real) not in r.stdout


def test_a_lib_entry_that_would_send_children_elsewhere_is_not_ours(spawner, tmp_path):
    """Hostile or mistaken $LIB entries are the program's, never taken for the shim: one whose
    expansion here is another file than the shim (DIR/$LIB/... where the shim is at DIR/a/...), one
    with a second token, one naming a file that is not ours. Children get the shim's own path first."""
    import shutil
    real = tmp_path / "a" / "libexeccheck.so"
    real.parent.mkdir(parents=True)
    shutil.copy2(execcheck.lib_path(), real)
    decoys = ["%s/$LIB/libexeccheck.so" % tmp_path, "%s/$LIB/$LIB/libexeccheck.so" % tmp_path,
              "/nonexistent/$LIB/libexeccheck.so"]
    r = run([spawner, "execv"], env=shimmed({"LD_PRELOAD": str(real), "LD_AUDIT": ":".join(decoys)}))
    assert r.returncode == 0, r  # ld.so names the missing modules on stderr and goes on
    env = child_env(r.stdout)
    assert env["LD_PRELOAD"] == str(real), env
    assert env["LD_AUDIT"] == ":".join([str(real)] + decoys), env


def test_execl_takes_as_many_arguments_as_glibc(tmp_path):
    """glibc's execl takes up to INT_MAX arguments; the wrapper stopped at 65536 (E2BIG)."""
    import subprocess
    src = tmp_path / "manyargs.c"
    src.write_text('#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n'
                   '    execl("/bin/sh", "sh", "-c", "echo argc=$#", %s, (char *)0);\n'
                   '    perror("execl");\n    return 1;\n}\n' % ", ".join(['"a"'] * 70000))
    subprocess.run(["cc", "-O0", "-o", str(tmp_path / "manyargs"), str(src)], check=True)
    r = run([str(tmp_path / "manyargs")], env=shimmed())
    assert (r.returncode, r.stdout, r.stderr) == (0, "argc=69999\n", ""), r


def _prog_with_ctor_lib(tmp_path):
    """tmp_path/prog, whose one library libctor.so is built from tmp_path/ctor.c: glibc runs that
    constructor before a preloaded shim's."""
    import subprocess
    (tmp_path / "main.c").write_text('#include <stdio.h>\nint main(void) { puts("main"); return 0; }\n')
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tmp_path / "libctor.so"), str(tmp_path / "ctor.c")], check=True)
    subprocess.run(["cc", "-o", str(tmp_path / "prog"), str(tmp_path / "main.c"), "-Wl,--no-as-needed",
                    "-L%s" % tmp_path, "-lctor", "-Wl,-rpath,%s" % tmp_path], check=True)


def test_a_program_started_by_a_library_constructor(tmp_path):
    """glibc runs a program's library constructors before its preloads': one that starts a program
    with an envp of its own came before the shim's start, and its child ran without the shim."""
    (tmp_path / "ctor.c").write_text(
        "#include <sys/wait.h>\n#include <unistd.h>\n"
        "__attribute__((constructor)) static void start_a_program(void)\n{\n"
        '    char *argv[] = {"env", 0}, *envp[] = {"MARK=ctor", 0};\n'
        "    pid_t pid = fork();\n"
        '    if (pid == 0) { execve("/usr/bin/env", argv, envp); _exit(127); }\n'
        "    waitpid(pid, 0, 0);\n}\n")
    _prog_with_ctor_lib(tmp_path)
    r = run([str(tmp_path / "prog")], env=shimmed())
    assert r.returncode == 0 and r.stdout.splitlines()[-1] == "main", r
    env = child_env(r.stdout)
    shim = execcheck.lib_path()
    assert env.get("MARK") == "ctor" and env.get("LD_PRELOAD", "").split(":")[0] == shim, r.stdout
    if shim_has_audit_face():
        assert env.get("LD_AUDIT", "").split(":")[0] == shim, r.stdout


def test_a_shell_started_by_a_library_constructor(tmp_path):
    """The same constructor, before the shim's start, takes the shim's variables out of environ and
    calls system() and popen(): libc starts their shell from environ, and it ran without the shim
    (its children too: a 0644 library preloaded there ran, under --restrict-file). The exec
    wrappers looked up the shim's path when called that early; system() and popen() now do too."""
    (tmp_path / "ctor.c").write_text(
        "#include <stdio.h>\n#include <stdlib.h>\n"
        "__attribute__((constructor)) static void start_shells(void)\n{\n"
        "    char line[4096];\n    FILE *f;\n"
        '    unsetenv("LD_AUDIT");\n    unsetenv("LD_PRELOAD");\n    fflush(stdout);\n'
        '    system("echo system audit=$LD_AUDIT preload=$LD_PRELOAD");\n'
        '    f = popen("echo popen audit=$LD_AUDIT preload=$LD_PRELOAD", "r");\n'
        "    while (f && fgets(line, sizeof line, f)) fputs(line, stdout);\n"
        "    if (f) pclose(f);\n}\n")
    _prog_with_ctor_lib(tmp_path)
    shim = execcheck.lib_path()
    audit = shim if shim_has_audit_face() else ""
    for extra in ({}, {"LD_AUDIT": shim}):  # the preload face alone; both faces (a shimmed parent's child)
        r = run([str(tmp_path / "prog")], env=shimmed(extra))
        assert r.returncode == 0 and r.stderr == "", r
        assert r.stdout.splitlines() == ["system audit=%s preload=%s" % (audit, shim),
                                         "popen audit=%s preload=%s" % (audit, shim), "main"], (extra, r.stdout)


def test_a_relative_ld_preload_entry_is_not_passed_on():
    """LD_PRELOAD=./libexeccheck.so in the shim's directory names the shim there only. Children got
    its absolute path first and the relative entry after it, so ld.so complained of the relative
    one ("cannot be preloaded") in every child started elsewhere; now they get the absolute path
    alone."""
    shim = execcheck.lib_path()
    d, name = os.path.split(shim)
    r = run(["sh", "-c", "cd / && env"], env=shimmed({"LD_PRELOAD": "./" + name}), cwd=d)
    assert r.returncode == 0 and r.stderr == "", r
    env = child_env(r.stdout)
    assert env["LD_PRELOAD"] == "%s/./%s" % (d, name), env["LD_PRELOAD"]
    if shim_has_audit_face():
        assert env["LD_AUDIT"] == "%s/./%s" % (d, name), env["LD_AUDIT"]


CHROOT_KEEPING_CWD = """\
import os, sys
import execcheck
root, enforce, script = sys.argv[1:]
os.chroot(root)  # no chdir: the cwd stays outside the new root
if enforce == "1":
    execcheck.set_securebits(restrict_file=True)
os.execve("/bin/sh", ["sh", "-c", script], {"PATH": "/usr/bin:/bin", "LD_PRELOAD": "./libexeccheck.so"})
"""


def _chrooted_with_outside_cwd(tmp_path, script, enforce):
    """Runs sh -c script in a small root (tmp_path/root, its own /proc) entered by chroot() without
    a chdir: the cwd stays in tmp_path/shimdir, outside the process's root, where
    LD_PRELOAD=./libexeccheck.so names a copy of the shim (the only name that reaches it: the
    kernel's getcwd says "(unreachable)/..."). enforce: the exec securebits on, and the root's
    files given x bits. dash's own word on its cwd ("getcwd() failed") is taken out of stderr."""
    import shutil
    import sys
    import rootfs
    from conftest import in_mountns, need_check, need_mountns, need_root
    need_root()
    need_mountns()
    root, shimdir = tmp_path / "root", tmp_path / "shimdir"
    rootfs.build(str(root), python=False)
    if enforce:
        need_check()
        for dirpath, _dirnames, filenames in os.walk(root):
            for n in filenames:
                p = os.path.join(dirpath, n)
                if not os.path.islink(p):
                    os.chmod(p, os.stat(p).st_mode | 0o111)
    shimdir.mkdir()
    shutil.copy(execcheck.lib_path(), shimdir / "libexeccheck.so")
    os.chmod(shimdir / "libexeccheck.so", 0o755)
    r = in_mountns('mount -t proc proc "$1/proc"; cd "$2"; shift 2; exec "$@"', root, shimdir, sys.executable,
                   "-c", CHROOT_KEEPING_CWD, root, "1" if enforce else "0", script)
    r.stderr = "".join(line for line in r.stderr.splitlines(True) if not line.startswith("sh: 0: getcwd() failed"))
    return r


@pytest.mark.parametrize("enforce", [False, True], ids=["audit", "enforce"])
def test_a_relative_shim_name_from_a_cwd_outside_the_root_is_passed_on(tmp_path, enforce):
    """After a chroot() that kept the cwd outside the new root, the shim loaded as ./libexeccheck.so
    took the kernel's "(unreachable)/..." text for a directory: every exec found "the shim
    (unreachable)/.../libexeccheck.so is gone", and was refused enforcing (a false reason), while in
    audit mode the child lost the shim. The relative name is what reaches the shim from that cwd:
    children started from it get it."""
    r = _chrooted_with_outside_cwd(tmp_path, "env; echo rc=$?", enforce)
    assert r.returncode == 0 and r.stderr == "", r
    env = child_env(r.stdout)
    assert env["rc"] == "0" and env["LD_PRELOAD"] == "./libexeccheck.so", r.stdout
    if shim_has_audit_face():
        assert env["LD_AUDIT"] == "./libexeccheck.so", r.stdout


@pytest.mark.parametrize("enforce", [False, True], ids=["audit", "enforce"])
def test_a_relative_shim_name_is_not_passed_on_once_the_process_left_that_cwd(tmp_path, enforce):
    """From another directory the relative name names another file or none, and no absolute name
    reaches the shim: enforcing, the exec is refused, saying so (not "gone"); in audit mode the
    child runs as it would without execcheck, silently."""
    r = _chrooted_with_outside_cwd(tmp_path, "cd /tmp && env; echo rc=$?", enforce)
    assert r.returncode == 0, r
    env = child_env(r.stdout)
    assert "LD_PRELOAD" not in env and "LD_AUDIT" not in env, r.stdout
    if enforce:
        assert env["rc"] == "126", r.stdout
        assert r.stderr == "execcheck: refused to start a program: the shim ./libexeccheck.so was loaded from a " \
            "directory outside this process's root, which it has left: no name reaches the shim from here, it " \
            "would run unchecked\nsh: 1: env: Permission denied\n", r.stderr
    else:
        assert env["rc"] == "0" and r.stderr == "", r

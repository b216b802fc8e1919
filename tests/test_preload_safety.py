"""The preload face where the loader's usual rules bend (issue 4): setuid programs, static
programs, `env -i`, and a shim file that is gone. Each must behave safely: nothing unchecked
slips through where the shim can see it, nothing changes where it cannot act, and audit mode
stays silent."""
import json
import os
import shutil
import subprocess
import textwrap

import pytest

from audit_face_util import SHIM, Kit, _set_restrict_file, clean_env, run_face
from conftest import in_mountns, need, need_check, need_mountns, need_root, run


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


@pytest.fixture
def kit(tmp_path):
    return Kit(tmp_path)


def ran(lines, tag):
    return any(line in ("IFUNC " + tag, "CTOR " + tag) for line in lines)


# ---------------------------------------------------------------------------------------------
# setuid: ld.so ignores LD_PRELOAD/LD_AUDIT paths, /etc/ld.so.preload still applies


SETUID_NS = textwrap.dedent("""\
    mount -t overlay overlay -o "lowerdir=$1:/etc" /etc
    shift
    exec "$@"
""")


DROP_C = r"""
#include <grp.h>
#include <stdio.h>
#include <unistd.h>
/* dropto PROG ARGS: gives up root for nobody (65534), then execv; needs nothing but libc (setpriv
 * needs 0644 libraries) */
int main(int argc, char **argv)
{
    if (argc < 2 || setgroups(0, 0) || setgid(65534) || setuid(65534)) return 2;
    execv(argv[1], argv + 1);
    perror("execv");
    return 127;
}
"""


@pytest.mark.parametrize("policy", ["audit", "enforce"])
def test_setuid_program_under_ld_so_preload(kit, cc, open_tmp, policy):
    """A setuid-root program run by nobody gets the shim from /etc/ld.so.preload (the preload face,
    in secure mode: the environment is not believed) and its dlopen of a 0644 library is refused
    (enforcing) or recorded in the config's log file, never in one the environment names."""
    need_root()
    need_mountns()
    shim = shutil.copy(SHIM, open_tmp / "libexeccheck.so")  # readable by nobody wherever the tree is
    os.chmod(shim, 0o755)
    bad = kit.lib("dl/libbad.so", "bad", mode=0o644)
    bad = shutil.copy(bad, open_tmp / "libbad.so")
    prog = shutil.copy(kit.prog(), open_tmp / "prog")
    os.chown(prog, 0, 0)
    os.chmod(prog, 0o4755)
    etc = open_tmp / "etc"
    etc.mkdir()
    log, env_log = open_tmp / "records.jsonl", open_tmp / "env-records.jsonl"
    (etc / "ld.so.preload").write_text("%s\n" % shim)
    (etc / "execcheck.conf").write_text("files = %s\nlog_file = %s\nsyslog = no\n" % (policy, log))
    os.chmod(etc / "execcheck.conf", 0o644)
    env = clean_env({"EXECCHECK_LOG_FILE": str(env_log), "EXECCHECK_FILES": "audit"})
    drop = cc(DROP_C, "drop")
    r = in_mountns(SETUID_NS, etc, drop, prog, "dlopen:%s" % bad, env=env)
    lines = r.stdout.splitlines()
    assert lines[0] == "main" and lines[-1] == "end", r
    assert not env_log.exists()  # AT_SECURE: the environment names no log file
    recs = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
    assert [(x["path"], x["face"], x["uid"]) for x in recs] == [(str(bad), "preload", 65534)], (r, recs)
    if policy == "audit":
        assert "dlopen ok" in lines and ran(lines, "bad") and recs[0]["action"] == "logged", r
        assert r.stderr == ""
    else:
        assert not ran(lines, "bad") and any(l.startswith("dlopen failed: /proc/self/execcheck refused")
                                             for l in lines), r
        assert recs[0]["action"] == "refused"


# ---------------------------------------------------------------------------------------------
# static programs: no loader, nothing to hook, nothing may break


def test_static_program_runs_unchanged(tmp_path):
    src = tmp_path / "static.c"
    src.write_text('#include <stdio.h>\n#include <stdlib.h>\nint main(void) { const char *a = getenv("LD_AUDIT");'
                   ' printf("static %s\\n", a ? "sees LD_AUDIT" : "no LD_AUDIT"); return 3; }\n')
    prog = tmp_path / "static"
    subprocess.run([os.environ.get("CC", "cc"), "-static", "-o", str(prog), str(src)], check=True)
    base = run([prog], env=clean_env())
    assert base.returncode == 3 and base.stdout == "static no LD_AUDIT\n"
    # started by a shimmed shell: the variables are there, ignored, and nothing else differs
    r = run(["sh", "-c", '"$0"', prog], env=clean_env({"LD_PRELOAD": SHIM}))
    assert r.returncode == 3 and r.stdout == "static sees LD_AUDIT\n" and r.stderr == "", r


# ---------------------------------------------------------------------------------------------
# env -i


@pytest.mark.parametrize("mode", ["audit", "secbits"])
def test_env_i_with_an_injected_preload(kit, tmp_path, mode):
    """`env -i LD_PRELOAD=bad.so prog` from a shimmed process: env's exec puts the shim back in
    front, and the audit face refuses the injected library."""
    bad = kit.lib("pre/libbad.so", "bad", mode=0o644)
    prog = kit.prog()
    res = run_face(mode, ["env", "-i", "LD_PRELOAD=%s" % bad, "EXECCHECK_LOG_FILE=%s" % (tmp_path / "r.jsonl"),
                          prog], tmp_path, preload=SHIM)
    recs = [json.loads(l) for l in (tmp_path / "r.jsonl").read_text().splitlines()]
    assert [(r["face"], os.path.basename(r["path"])) for r in recs] == [("audit", "libbad.so")], res
    if mode == "audit":
        assert res.lines == ["CTOR bad", "main", "end"] and res.err == "", res
    else:
        assert res.lines == ["main", "end"] and "cannot be preloaded" in res.err, res


# ---------------------------------------------------------------------------------------------
# a shim that is gone: glibc would warn and run the child unchecked


def gone_script(copy):
    return ["sh", "-c", 'rm -f "$0"; env; echo "rc=$?"', str(copy)]


def test_shim_gone_audit_mode_is_silent(tmp_path):
    copy = tmp_path / "libexeccheck.so"
    shutil.copy(SHIM, copy)
    os.chmod(copy, 0o755)
    other = "/usr/lib/x86_64-linux-gnu/libm.so.6"
    r = run(gone_script(copy), env=clean_env({"LD_PRELOAD": "%s %s" % (copy, other)}))
    assert r.returncode == 0 and r.stderr == "", r  # no "cannot be loaded as audit interface" from ld.so
    env = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
    assert env["rc"] == "0" and "LD_AUDIT" not in env and env["LD_PRELOAD"] == other, r


def test_shim_gone_enforcing_refuses_the_exec(tmp_path):
    copy = tmp_path / "libexeccheck.so"
    shutil.copy(SHIM, copy)
    os.chmod(copy, 0o755)
    r = run(gone_script(copy), env=clean_env({"LD_PRELOAD": str(copy)}), preexec_fn=_set_restrict_file)
    assert "rc=126" in r.stdout.splitlines() and "LD_PRELOAD=" not in r.stdout, r
    assert r.stderr.count("execcheck: refused to start a program: the shim %s is gone" % copy) == 1, r


@pytest.mark.parametrize("mode", ["audit", "secbits"])
def test_shim_gone_before_system(tmp_path, spawner, mode):
    """system() starts its shell inside libc, from environ: the shim looks before it as before an
    exec. Enforcing, system() fails (-1, EACCES) with one message; in audit mode the shell gets the
    environment it would have had without execcheck, and nothing is printed."""
    copy = tmp_path / "libexeccheck.so"
    shutil.copy(SHIM, copy)
    os.chmod(copy, 0o755)
    other = "/usr/lib/x86_64-linux-gnu/libm.so.6" if mode == "audit" else ""  # 0644 here: enforcing refuses it
    r = run([spawner, "gone-system", str(copy)], env=clean_env({"LD_PRELOAD": "%s %s" % (copy, other)}),
            **({"preexec_fn": _set_restrict_file} if mode == "secbits" else {}))
    assert r.returncode == 0, r
    if mode == "secbits":
        assert r.stdout == "system=-1 Permission denied\n", r
        assert r.stderr == "execcheck: refused to start a program: the shim %s is gone, it would run unchecked\n" % copy, r
    else:
        env = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
        assert r.stderr == "" and "LD_AUDIT" not in env and env["LD_PRELOAD"] == other, r


@pytest.mark.parametrize("mode", ["audit", "secbits"])
def test_shim_unreadable_after_a_uid_drop(cc, open_tmp, tmp_path, mode):
    """A shimmed program that gives up root (a daemon's worker, runuser) keeps that uid in what it
    starts. Where the shim is not readable to it (installed under /root, a 0700 venv: here a dir
    under pytest's 0700 one), the child's ld.so said "cannot be loaded as audit interface ...
    ignored" and ran the program with no shim: enforcing, a 0644 library preloaded there ran to
    main(). Now the exec is refused with one message, as for a shim that is gone; in audit mode the
    child gets the environment it would have had without execcheck, silently."""
    need_root()
    if mode == "secbits":
        need_check()
    drop = cc(DROP_C, "dropto")
    copy = tmp_path / "priv" / "libexeccheck.so"
    copy.parent.mkdir()
    shutil.copy(SHIM, copy)
    os.chmod(copy, 0o755)
    bad = Kit(open_tmp).lib("libbad.so", "bad", mode=0o644)
    argv = [str(drop), "/usr/bin/env", "LD_PRELOAD=%s" % bad, "/usr/bin/env"]
    r = run(argv, env=clean_env({"LD_PRELOAD": str(copy)}),
            **({"preexec_fn": _set_restrict_file} if mode == "secbits" else {}))
    if mode == "secbits":
        assert r.returncode == 127 and r.stdout == "", r
        assert r.stderr == ("execcheck: refused to start a program: the shim %s cannot be read by this process, "
                            "it would run unchecked\nexecv: Permission denied\n" % copy), r
    else:
        env = dict(l.split("=", 1) for l in r.stdout.splitlines() if "=" in l)
        assert r.returncode == 0 and r.stderr == "", r
        assert "CTOR bad" in r.stdout and "LD_AUDIT" not in env and env["LD_PRELOAD"] == str(bad), r


def test_status_names_a_shim_closed_to_other_users(tmp_path):
    """execcheck installed where other users cannot read it (pytest's tmp dir is 0700): status
    lists it, naming the directory that closes it."""
    import sys
    import execcheck
    site = tmp_path / "site"
    shutil.copytree(os.path.dirname(execcheck.__file__), site / "execcheck")
    r = run([sys.executable, "-m", "execcheck", "status", "--json"], env=dict(os.environ, PYTHONPATH=str(site)))
    closed = [f for f in json.loads(r.stdout)["fail_open"] if "closed to other users" in f]
    assert len(closed) == 1 and str(site) in closed[0] and "is mode 700" in closed[0], r.stdout


# ---------------------------------------------------------------------------------------------
# Valgrind: it emulates execveat without knowing AT_EXECVE_CHECK (a check would become a real exec
# of the library); the shim asks Valgrind whether it runs there and then makes no check


@pytest.mark.parametrize("face", ["preload", "audit"])
def test_valgrind_runs_shimmed_programs(kit, tmp_path, face):
    need(shutil.which("valgrind") is not None, "needs valgrind (make test-deps installs it under CI)")
    prog = kit.prog()
    argv = ["valgrind", "-q", "--tool=none", prog, "fds"]
    base = run_face("off", argv, tmp_path)
    assert base.rc == 0 and base.lines[0] == "main", base
    res = run_face("audit", argv, tmp_path, **({"preload": SHIM} if face == "preload" else {}))
    assert (res.rc, res.lines) == (base.rc, base.lines), res
    assert res.records and {r["reason"] for r in res.records} == {"unsupported"}, res
    # enforcing, nothing can be vouched for: refused, never crashed
    res = run_face("secbits", argv, tmp_path, **({"preload": SHIM} if face == "preload" else {}))
    assert res.rc in (126, 127) and "main" not in res.lines, res
    assert "execcheck: refused to load " in res.err and res.err.count(": unsupported") >= 1, res
    # outside Valgrind the same shim checks as always
    res = run_face("secbits", [prog, "dlopen:%s" % kit.lib("dl/libbad.so", "bad", mode=0o644)], tmp_path)
    assert res.records_for(tmp_path / "dl/libbad.so")[0]["reason"] == "x-bit", res


# ---------------------------------------------------------------------------------------------
# nothing of the program's own state changes: dlerror(), malloc


QUIET_C = """
#include <dlfcn.h>
#include <string.h>
#include <unistd.h>
/* prints what dlerror() holds at the start of main, with write(2) alone: nothing here mallocs */
int main(void) {
    const char *e = dlerror();
    if (!e) e = "none";
    return write(1, e, strlen(e)) < 0 || write(1, "\\n", 1) < 0;
}
"""


@pytest.mark.parametrize("faces", ["preload", "both"])
def test_the_program_finds_no_error_and_no_heap_of_ours(kit, tmp_path, faces):
    """The shim asks at start whether the process is CPython. Asked through a dlsym() that fails,
    glibc left "undefined symbol: PySys_AddAuditHook" for the program's first dlerror() and set up
    malloc (getrandom, brk) in a program that never calls it. Now the objects' own hash tables
    answer: the program's dlerror() is empty and its system calls for the heap are its own."""
    need(shutil.which("strace") is not None, "needs strace")
    src = tmp_path / "quiet.c"
    src.write_text(QUIET_C)
    prog = kit._cc("bin/quiet", src)
    env = {"LD_PRELOAD": SHIM} if faces == "preload" else {"LD_PRELOAD": SHIM, "LD_AUDIT": SHIM}

    def traced(extra):
        trace = tmp_path / "trace.txt"
        args = [a for k, v in extra.items() for a in ("-E", "%s=%s" % (k, v))]
        r = run(["strace", "-f", "-e", "trace=brk,getrandom", "-o", str(trace), *args, str(prog)], env=clean_env())
        calls = [l.split("(")[0].split()[-1] for l in trace.read_text().splitlines() if "(" in l]
        return r, sorted(calls)

    base, base_calls = traced({})
    res, calls = traced(env)
    assert base.returncode == 0 and base.stdout == "none\n", base.stderr
    assert res.returncode == 0 and res.stdout == "none\n", (res.stdout, res.stderr)
    assert calls == base_calls, (calls, base_calls)


CTOR_SPAWNS_C = r"""
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
static void show(const char *how, int err, int st)
{
    printf("%s: %s, status %d\n", how, err ? strerror(err) : "started", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}
__attribute__((constructor)) static void ctor(void)
{
    char *argv[] = {"true", 0};
    pid_t pid;
    int st = -1, e = posix_spawnp(&pid, "true", 0, 0, argv, environ);
    if (!e) waitpid(pid, &st, 0);
    show("posix_spawnp", e, st);
    e = posix_spawn(&pid, "/bin/true", 0, 0, argv, environ);
    if (!e) waitpid(pid, &st, 0);
    show("posix_spawn", e, st);
    if (!(pid = fork())) { execvp("true", argv); _exit(99); }
    waitpid(pid, &st, 0);
    show("execvp", 0, st);
    if (!(pid = fork())) { execve("/bin/true", argv, environ); _exit(99); }
    waitpid(pid, &st, 0);
    show("execve", 0, st);
    fflush(stdout);
}
int ctor_lib_fn(void) { return 0; }
"""


@pytest.mark.parametrize("faces", ["preload", "both"])
def test_a_library_constructor_before_ours_starts_programs(kit, tmp_path, faces):
    """glibc runs the constructors of a program's libraries before the preloaded shim's: one that
    starts a program (posix_spawn, execvp) found the shim's wrappers with no libc function yet and
    got ENOSYS. The wrappers now look libc's up when called that early."""
    prog = kit.prog_with_ctor_lib("ctorspawns", CTOR_SPAWNS_C, "ctor_lib_fn")
    base = run_face("off", [prog], tmp_path)
    assert base.rc == 0 and base.lines == ["%s: started, status 0" % how for how in
                                           ("posix_spawnp", "posix_spawn", "execvp", "execve")], base
    res = run_face("audit", [prog], tmp_path, preload=SHIM, env={"LD_AUDIT": SHIM} if faces == "both" else None)
    assert (res.rc, res.out, res.err) == (base.rc, base.out, base.err), res


# ---------------------------------------------------------------------------------------------
# Small thread stacks: the faces run on the stack of whoever loads, deep under glibc's dlopen


def deepest_use(prog, lib, tmp_path, face):
    """How much of a 64 KiB thread stack may be used already with dlopen(lib) still working:
    bisected to 256 bytes (a stack too small dies of SIGSEGV)."""
    kw = {"off": {}, "audit": {}, "preload": {"preload": SHIM}, "both": {"preload": SHIM, "audit": SHIM}}[face]
    lo, hi = 0, 65536
    while hi - lo > 256:
        mid = (lo + hi) // 2 // 16 * 16
        res = run_face("off" if face == "off" else "audit", [prog, "stack:%d:%s" % (mid, lib)], tmp_path, **kw)
        if res.rc == 0 and "stack ok" in res.lines:
            lo = mid
        else:
            hi = mid
    return lo


def test_small_thread_stacks(kit, tmp_path):
    """A library with 24 dependencies, 8 of them 0644 (each a record, in audit mode), loaded from a
    thread: each face needs at most one page of stack more than glibc alone. Before, the guard kept
    a 4 KiB path buffer on the stack under glibc's dlopen and the syslog sink copied the record
    into another: a thread with a stack glibc alone was content with died of SIGSEGV."""
    deps = [kit.lib("dep/libd%d.so" % i, "d%d" % i, fn="d%d_fn" % i, mode=0o644 if i % 3 == 0 else 0o755)
            for i in range(24)]
    top = kit.lib("top/libtop.so", "top", needs=[(d.parent, d.name) for d in deps], runpath=str(deps[0].parent))
    prog = kit.prog()
    res = run_face("audit", [prog, "stack:0:%s" % top], tmp_path)
    assert "stack ok" in res.lines and all(ran(res.lines, "d%d" % i) for i in range(24)), res  # its 24 are loaded
    assert len(res.records) == 8, res
    base = deepest_use(prog, top, tmp_path, "off")
    assert 16384 < base < 65536, base
    for face in ("audit", "preload", "both"):
        used = deepest_use(prog, top, tmp_path, face)
        assert base - used <= 4096, (face, base, used)


def hostile_library(n_needed=16384, name_len=16000):
    """A 280 KiB x86_64 ET_DYN whose n_needed DT_NEEDED entries all name the same long string:
    glibc maps it and fails on the first name ("File name too long"); a reader that copies each
    name copies n_needed x name_len bytes. Hand-made (no linker writes this): header, one RW load
    of the whole file, the dynamic section, strings, the null symbol, a one-bucket DT_HASH."""
    import struct
    strtab, symtab, hashtab = b"\0" + b"a" * name_len + b"\0", b"\0" * 24, struct.pack("<IIII", 1, 1, 0, 0)
    dyn_off = 64 + 56 * 2
    str_off = dyn_off + 16 * (n_needed + 6)
    sym_off, hash_off = str_off + len(strtab), str_off + len(strtab) + len(symtab)
    size = hash_off + len(hashtab)
    dyn = struct.pack("<qQ", 1, 1) * n_needed + b"".join(struct.pack("<qQ", t, v) for t, v in (
        (5, str_off), (10, len(strtab)), (6, sym_off), (11, 24), (4, hash_off), (0, 0)))
    ehdr = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 64, 0, 0, 64, 56, 2, 64, 0, 0)
    phdrs = struct.pack("<IIQQQQQQ", 1, 6, 0, 0, 0, size, size, 0x1000) + \
        struct.pack("<IIQQQQQQ", 2, 6, dyn_off, dyn_off, dyn_off, len(dyn), len(dyn), 8)
    return ehdr + phdrs + dyn + strtab + symtab + hashtab


MAXRSS = """
import json, resource, subprocess, sys
# argv: the child's environment as a JSON object, then its command (this process runs without it)
r = subprocess.run(sys.argv[2:], env=json.loads(sys.argv[1]), capture_output=True, text=True)
print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024,
      [l[-60:] for l in r.stdout.splitlines() if l.startswith("dlopen")])
"""


@pytest.mark.parametrize("mode", ["audit", "enforce"])
def test_a_library_that_names_one_long_string_many_times_costs_little_memory(kit, tmp_path, mode):
    """dlopen() of a 280 KiB library whose 16384 DT_NEEDED entries name one 16 KB string: the
    guard's ELF reader copied every name into its session, 772 MiB of memory in the program, for a
    load glibc refuses at once. Strings copied per file are bounded now (twice its size): the
    program ends as glibc makes it, its peak memory that of an ordinary process."""
    import sys
    lib = tmp_path / "libhostile.so"
    lib.write_bytes(hostile_library())
    os.chmod(lib, 0o755)
    from execcheck.audit.resolver import read_elf
    info = read_elf(str(lib))
    assert info.defect == "more entries than the reader accepts" and info.nload == 1
    assert info.loadable  # ld.so maps it (the C rule, ec_ld_defect_passes): it fails on the name
    cut = tmp_path / "libcut.so"  # cut inside its dynamic section: ld.so reads past the file
    cut.write_bytes(hostile_library()[:64 + 56 * 2 + 64])
    assert (read_elf(str(cut)).defect, read_elf(str(cut)).loadable) == ("dynamic section not terminated", False)
    prog = kit.prog()
    env = clean_env({"LD_PRELOAD": SHIM, "EXECCHECK_FILES": mode})
    r = run([sys.executable, "-c", MAXRSS, json.dumps(env), str(prog), "dlopen:%s" % lib], env=clean_env())
    status, maxrss_mib, last = r.stdout.split(None, 2)
    assert status == "0" and last.strip().endswith("aaaa: cannot open shared object file: File name too long']"), r
    assert int(maxrss_mib) < 64, r

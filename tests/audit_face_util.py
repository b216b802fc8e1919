"""Helpers of the audit-face tests: build test libraries and the driver program, run a command
under the face in each policy mode, read the decision records it left.

Modes:
  off      no audit face at all (the baseline a good case must match)
  audit    LD_AUDIT=libexeccheck.so, policy audit: nothing may change, records only
  secbits  the same, enforcing because SECBIT_EXEC_RESTRICT_FILE is set in the child
  config   the same, enforcing because /etc/execcheck.conf says `files = enforce`: a root-owned
           test config is laid over /etc inside a private mount namespace (the host's /etc is
           never written)
"""
import itertools
import json
import os
import pathlib
import shutil
import subprocess
import textwrap

import pytest

import execcheck
from conftest import C_DIR, in_mountns, need_mountns, run

SHIM = execcheck.lib_path()
LDSO = "/lib64/ld-linux-x86-64.so.2"
ENFORCING = ("secbits", "config")
MODES = ("audit",) + ENFORCING

_counter = itertools.count()


class Kit:
    """Builds the test's libraries and programs in its tmp dir."""

    COMPILER = None  # a command for another target (test_aarch64.py); else $CC

    def __init__(self, tmp_path: pathlib.Path):
        self.dir = pathlib.Path(tmp_path)

    def _cc(self, out, *args):
        out = self.dir / out
        out.parent.mkdir(parents=True, exist_ok=True)
        r = subprocess.run((self.COMPILER or [os.environ.get("CC", "cc")]) + ["-O1", "-o", str(out), *map(str, args)],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return out

    def lib(self, out, tag, mode=0o755, fn="libfn", calls=None, needs=(), runpath=None, gconv=False, audit=False,
            soname=None, defines=()):
        """A library from tests/c/audit_lib.c that prints "IFUNC tag" and "CTOR tag" when its
        code runs. needs: (dir, name) pairs to link against (DT_NEEDED)."""
        flags = ["-shared", "-fPIC", "-DTAG=\"%s\"" % tag, "-DFN=%s" % fn]
        if soname:
            flags.append("-Wl,-soname,%s" % soname)
        if calls:
            flags.append("-DCALLS=%s" % calls)
        if gconv:
            flags.append("-DGCONV")
        if audit:
            flags.append("-DAUDIT")
        flags += ["-D%s" % d for d in defines]
        if needs:  # a DT_NEEDED entry each, used or not (a compiler may link --as-needed by default)
            flags.append("-Wl,--no-as-needed")
        for d, name in needs:
            flags += ["-L%s" % d, "-l:%s" % name]
        if runpath:
            flags.append("-Wl,--enable-new-dtags,-rpath,%s" % runpath)
        path = self._cc(out, C_DIR / "audit_lib.c", *flags)
        os.chmod(path, mode)
        return path

    def prog(self, out="bin/prog", needs=(), runpath=None, mode=0o755):
        """The driver (tests/c/audit_prog.c); with needs it also calls libfn() of a DT_NEEDED lib."""
        flags = ["-pthread"]
        if needs:
            flags.append("-DNEEDS")
        for d, name in needs:
            flags += ["-L%s" % d, "-l:%s" % name]
        if runpath:
            flags.append("-Wl,--enable-new-dtags,-rpath,%s" % runpath)
        path = self._cc(out, C_DIR / "audit_prog.c", *flags)
        os.chmod(path, mode)
        return path

    def prog_with_ctor_lib(self, name, lib_c, fn):
        """A program whose only library is built from lib_c (C source, whose constructor does the
        work) and exports fn, which main() calls: glibc runs that constructor before a preloaded
        shim's. Returns the program's path."""
        src = self.dir / ("%s.c" % name)
        src.write_text(lib_c)
        lib = self._cc("lib/lib%s.so" % name, "-shared", "-fPIC", src)
        main_c = self.dir / ("%s_main.c" % name)
        main_c.write_text("int %s(void);\nint main(void) { return %s(); }\n" % (fn, fn))
        return self._cc("bin/%s" % name, main_c, "-L%s" % lib.parent, "-l%s" % name, "-Wl,-rpath,%s" % lib.parent)

    def tool(self, name):
        return self._cc("tools/" + name, C_DIR / (name + ".c"))


class Result:
    def __init__(self, proc, records):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.records = records
        self.lines = proc.stdout.splitlines()

    def __repr__(self):
        return "rc=%s\n--- stdout\n%s--- stderr\n%s--- records\n%s" % (
            self.rc, self.out, self.err, "\n".join(map(json.dumps, self.records)))

    def refused_lines(self):
        return [l for l in self.err.splitlines() if l.startswith("execcheck: refused")]

    def records_for(self, path):
        st = os.stat(path)
        return [r for r in self.records if (r["dev"], r["ino"]) == (st.st_dev, st.st_ino)]


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "EXECCHECK_", "GCONV_"))}
    env.update(extra or {})
    return env


def _set_restrict_file():
    execcheck.set_securebits(restrict_file=True)


ENV_EXPORT = textwrap.dedent("""\
    # only the program under test gets the loader variables: not sh, mount or cp before it
    for var in $(env | sed -n 's/^FACEENV_\\([A-Za-z0-9_]*\\)=.*/\\1/p'); do
        eval "export $var=\\"\\$FACEENV_$var\\""
        unset "FACEENV_$var"
    done
    exec "$@"
""")

# $1: a directory holding a root-owned execcheck.conf, laid over /etc by a read-only overlay (the
# file need not exist on the host); the mount dies with the namespace
CONFIG_OVERLAY = 'mount -t overlay overlay -o "lowerdir=$1:/etc" /etc'


# run_face setup for a container-like root: $OV/lower seen through an overlay at $OV/merged, its
# writable layer on a tmpfs: layers on two filesystems, whose files statx shows under a device per
# layer, where a mapping of them shows the overlay's (Linux 6.8)
OVERLAY_SETUP = ('mkdir -p "$OV/rw" "$OV/merged" && mount -t tmpfs none "$OV/rw" && mkdir "$OV/rw/upper" "$OV/rw/work" && '
                 'mount -t overlay overlay -o "lowerdir=$OV/lower,upperdir=$OV/rw/upper,workdir=$OV/rw/work" "$OV/merged"')
# the same with every layer on one filesystem (a container engine's storage: /var/lib/docker,
# /var/lib/containers): statx shows what a mapping shows, the overlay's device and the file's number
OVERLAY_SETUP_ONE_FS = ('mkdir -p "$OV/upper" "$OV/work" "$OV/merged" && '
                        'mount -t overlay overlay -o "lowerdir=$OV/lower,upperdir=$OV/upper,workdir=$OV/work" "$OV/merged"')


def run_face(mode, argv, tmp_path, env=None, audit=None, timeout=120, setup=None, preload=None, cwd=None):
    """Runs argv under the audit face in `mode` (see the module doc). audit: the LD_AUDIT value
    (default: the shim alone). preload: run under the preload face instead, with this LD_PRELOAD
    value and no LD_AUDIT. setup: shell commands run first in a private mount namespace (the
    program then runs in it too). cwd: the directory it starts in. Returns a Result with the
    records of this run."""
    tmp_path = pathlib.Path(tmp_path)
    log = tmp_path / ("records-%d.jsonl" % next(_counter))
    env = clean_env(env)
    if mode != "off":
        if preload:
            env["LD_PRELOAD"] = preload
        else:
            env["LD_AUDIT"] = audit or SHIM
        env["EXECCHECK_LOG_FILE"] = str(log)
    argv = [str(a) for a in argv]
    kw = dict(env=env, timeout=timeout, stdin=subprocess.DEVNULL, cwd=cwd)
    assert mode in ("off", "audit", "secbits", "config"), mode
    if mode == "secbits":
        kw["preexec_fn"] = _set_restrict_file
    if setup or mode == "config":
        conf = "-"
        if mode == "config":
            conf = tmp_path / ("conf-%d" % next(_counter))
            conf.mkdir()
            (conf / "execcheck.conf").write_text("files = enforce\nsyslog = no\n")
            os.chmod(conf / "execcheck.conf", 0o644)
        for k in [k for k in env if k.startswith(("LD_", "EXECCHECK_", "GCONV_"))]:
            env["FACEENV_" + k] = env.pop(k)
        script = "\n".join([CONFIG_OVERLAY if mode == "config" else ":", setup or ":", "shift", ENV_EXPORT])
        proc = in_mountns(script, conf, *argv, **kw)
    else:
        proc = run(argv, **kw)
    records = []
    if log.exists():
        records = [json.loads(line) for line in log.read_text().splitlines()]
    return Result(proc, records)


def copy_lib(src, dst, mode):
    dst = pathlib.Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    os.chmod(dst, mode)
    return dst


# ---- shared by the face tests: import them by name (pytest finds fixtures in the module) ----

@pytest.fixture(params=MODES)
def mode(request):
    """Each of audit, securebits-enforce and config-enforce."""
    if request.param == "config":
        need_mountns()
    return request.param


@pytest.fixture
def kit(tmp_path):
    return Kit(tmp_path)


def ran(result, tag):
    """Did any code of the library called tag run (its IFUNC resolver or its constructor)?
    result: a Result or its lines."""
    lines = getattr(result, "lines", result)
    return any(line in ("IFUNC " + tag, "CTOR " + tag) for line in lines)

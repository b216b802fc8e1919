"""Helpers for the CPython-face tests: the interpreters on this machine, an executable view of
their libraries in a private mount namespace, and running cases there through
python_face_driver.py.

Under enforcement an interpreter's own stdlib must pass the check, but distributions ship it 0644
(Debian: lib-dynload too). The tests never chmod the machine's files: each interpreter runs in an
`unshare --mount` namespace where its library directories are overlays (metacopy: a chmod copies
metadata only) whose code files are made executable, and where a noexec tmpfs holds the noexec
fixtures. Everything disappears with the namespace.
"""
import glob
import json
import shutil
import os
import pathlib
import shlex
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
DRIVER = HERE / "python_face_driver.py"
HELPERS = ("sh", "cat", "xargs", "env", "stat")  # programs the cases exec besides the interpreters

# The directories whose code files the view makes executable: the stdlib and every sys.path entry
# of a normal start (site-packages, Debian's dist-packages), outermost only.
_DIRS_CODE = r"""
import os, sys, sysconfig
paths = [p for p in sys.path if p and os.path.isdir(p)] + [sysconfig.get_paths()['stdlib']]
ds = sorted({os.path.realpath(p) for p in paths})
print('\n'.join(d for d in ds if not any(d.startswith(o + '/') for o in ds)))
"""


def _version(python):
    try:
        out = subprocess.run([python, "-S", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"],
                             capture_output=True, text=True, timeout=30).stdout.strip()
        return tuple(int(x) for x in out.split("."))
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None


def interpreters():
    """[(label, path, version)] of every CPython >= 3.8 on this machine: pyenv's versions and the
    distribution's /usr/bin/python3.X, one entry per real file."""
    roots = []
    pyenv_root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    roots += sorted(glob.glob(os.path.join(pyenv_root, "versions", "*", "bin", "python3")))
    roots += sorted(p for p in glob.glob("/usr/bin/python3.*") + glob.glob("/usr/local/bin/python3.*")
                    if os.path.basename(p)[len("python3."):].isdigit())
    only = os.environ.get("EXECCHECK_TEST_PYTHONS")  # local debugging: a comma list of labels
    found, seen = [], set()
    for p in roots:
        real = os.path.realpath(p)
        if real in seen or not os.access(real, os.X_OK):
            continue
        seen.add(real)
        v = _version(real)
        if not v or v < (3, 8):  # audit hooks and open_code came in 3.8
            continue
        label = "%s-%d.%d.%d" % ("pyenv" if real.startswith(pyenv_root) else "system", *v)
        if only and label not in only.split(","):
            continue
        found.append((label, real, v))
    return sorted(found, key=lambda x: (x[2], x[0]))


def library_dirs(python):
    out = subprocess.run([python, "-c", _DIRS_CODE], capture_output=True, text=True, cwd="/", timeout=60,
                         env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}).stdout
    return [d for d in out.splitlines() if d]


def _on_demand_libraries():
    """What glibc itself dlopen()s when a thread exits or is cancelled (pthread_exit unwinds with
    libgcc_s): ldd lists none of it."""
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    return [line.split("=>")[1].strip() for line in out.splitlines()
            if line.strip().startswith("libgcc_s.so.1 ") and "x86-64" in line and "=>" in line]


def mapped_libraries(python, programs=()):
    """Every shared object the interpreter may map: its lib-dynload modules, the ldd closure
    of the interpreter, of those modules and of the helper programs the tests exec, and what
    glibc loads on demand."""
    platstdlib = subprocess.run([python, "-S", "-c", "import sysconfig; print(sysconfig.get_path('platstdlib'))"],
                                capture_output=True, text=True, cwd="/").stdout.strip()
    files = set(glob.glob(os.path.join(platstdlib, "lib-dynload", "*.so"))) | set(_on_demand_libraries())
    targets = [python, *sorted(files)] + [shutil.which(p) or p for p in programs]
    out = subprocess.run(["ldd", *targets], capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split("=>")
        if len(parts) == 2 and parts[1].strip().startswith("/"):
            files.add(parts[1].split()[0])
    return sorted({os.path.realpath(f) for f in files if os.path.isfile(f)})


def view_script(lib_dirs, scratch, noexec_dir, copies=(), libraries=()):
    """Shell lines for the namespace: an executable view of the interpreter's library dirs
    (overlays: only the CPython face reads .py/.pyc/.pth, through checked fds), executable copies
    of the shared objects it maps bind-mounted over the originals (a mapped overlay file shows
    another (dev, ino) in /proc/self/maps than stat gives, which the audit face calls a
    mismatch: bind mounts keep the two equal), and a noexec tmpfs at noexec_dir, filled with
    `cp -a SRC DST` copies."""
    def q(x):
        return shlex.quote(str(x))
    lines = ["mount -t tmpfs -o mode=0700 tmpfs %s" % q(scratch)]
    for i, d in enumerate(lib_dirs):
        up, work = "%s/u%d" % (scratch, i), "%s/w%d" % (scratch, i)
        lines += ["mkdir -p %s %s" % (q(up), q(work)),
                  "mount -t overlay overlay -o %s %s" % (q("lowerdir=%s,upperdir=%s,workdir=%s,metacopy=on" % (d, up, work)), q(d)),
                  "find %s -type f \\( -name '*.py' -o -name '*.pyc' -o -name '*.so' -o -name '*.pth' -o -name '*.zip' \\) "
                  "-print0 | xargs -0 -r chmod a+x" % q(d)]
    lines.append("mkdir -p %s/libs" % q(scratch))
    for i, f in enumerate(libraries):
        copy = "%s/libs/%d" % (scratch, i)
        lines += ["cp %s %s && chmod a+x %s" % (q(f), q(copy), q(copy)), "mount --bind %s %s" % (q(copy), q(f))]
    lines.append("mount -t tmpfs -o noexec,nosuid,nodev,mode=0755 tmpfs %s" % q(noexec_dir))
    for src, dst in copies:
        lines.append("cp -a %s %s" % (q(src), q(dst)))
    return "\n".join(lines)


def start_in_view(python, tmp, cases, copies=(), jobs=2):
    """Starts the driver for `cases` in a namespace with python's executable view. Returns a
    handle for finish()."""
    tmp = pathlib.Path(tmp)
    scratch, noexec = tmp / "scratch", tmp / "noexec"
    scratch.mkdir(parents=True, exist_ok=True)
    noexec.mkdir(exist_ok=True)
    spec, out = tmp / "spec.json", tmp / "results.json"
    spec.write_text(json.dumps({"jobs": jobs, "cases": cases}))
    script = view_script(library_dirs(python), scratch, noexec, copies, mapped_libraries(python, HELPERS))
    script += "\nexec %s %s %s %s" % tuple(shlex.quote(str(x)) for x in (sys.executable, DRIVER, spec, out))
    (tmp / "view.sh").write_text(script)  # a file: the bind mounts make it longer than one argv string may be
    p = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-e", str(tmp / "view.sh")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p, out


def finish(handle, timeout=900):
    p, out = handle
    stdout, stderr = p.communicate(timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("namespace driver failed (%d): %s %s" % (p.returncode, stdout[-2000:], stderr[-4000:]))
    return {r["id"]: r for r in json.loads(out.read_text())["results"]}


def run_in_view(python, tmp, cases, copies=(), jobs=2):
    return finish(start_in_view(python, tmp, cases, copies, jobs))


def script_in_view(python, tmp, script, copies=(), timeout=600, others=(), programs=()):
    """Runs a shell script (after the view is set up) in python's namespace; returns the
    CompletedProcess (text). others: more interpreters whose shared objects the view must cover;
    programs: more programs whose libraries it must cover."""
    tmp = pathlib.Path(tmp)
    scratch, noexec = tmp / "scratch", tmp / "noexec"
    scratch.mkdir(parents=True, exist_ok=True)
    noexec.mkdir(exist_ok=True)
    libs = sorted(set(mapped_libraries(python, HELPERS + tuple(programs))).union(*(mapped_libraries(o) for o in others)))
    full = view_script(library_dirs(python), scratch, noexec, copies, libs) + "\n" + script
    (tmp / "view.sh").write_text(full)
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-e", str(tmp / "view.sh")],
                          capture_output=True, text=True, timeout=timeout)


def build_tools(d, c_dir):
    """Compiles the C helpers of the CPython-face tests into d: python_setexec, ecext.abi3.so (an
    extension module for every CPython >= 3.8, limited API) and libec.so (for ctypes)."""
    d = pathlib.Path(d)
    cc = os.environ.get("CC", "cc")
    inc = subprocess.run([sys.executable, "-c", "import sysconfig; print(sysconfig.get_paths()['include'])"],
                         capture_output=True, text=True, check=True).stdout.strip()
    out = {"setexec": d / "python_setexec", "ext": d / "ecext.abi3.so", "lib": d / "libec.so"}
    for cmd in ([cc, "-O1", "-o", out["setexec"], c_dir / "python_setexec.c"],
                [cc, "-O1", "-shared", "-fPIC", "-I", inc, "-o", out["ext"], c_dir / "python_ext.c"],
                [cc, "-O1", "-shared", "-fPIC", "-o", out["lib"], c_dir / "python_lib.c"]):
        subprocess.run([str(c) for c in cmd], check=True)
    return out


def shim_path():
    from execcheck.shim import lib_path
    return lib_path()


def base_env(log=None, **extra):
    """A clean environment for a case: nothing from the test run leaks in."""
    env = {"PATH": "/usr/bin:/bin", "HOME": "/root", "LANG": "C.UTF-8", "TERM": "xterm",
           "PYTHONDONTWRITEBYTECODE": "1", "LD_PRELOAD": shim_path()}
    if log:
        env["EXECCHECK_LOG_FILE"] = str(log)
    env.update(extra)
    return env

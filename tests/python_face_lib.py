"""Helpers for the CPython-face tests: the interpreters on this machine, an executable view of
their libraries in a private mount namespace, and running cases there through
python_face_driver.py.

Under enforcement an interpreter's own stdlib must pass the check, but distributions ship it 0644
(Debian: lib-dynload too). The tests never chmod the machine's files: each interpreter runs in an
`unshare --mount` namespace where its library directories are overlays (metacopy: a chmod copies
metadata only) whose code files are made executable, and where a noexec tmpfs holds the noexec
fixtures. Everything disappears with the namespace.

An interpreter may also live in a root of another distribution (Debian testing's CPython 3.14,
made by debootstrap: its libc is newer than this machine's). Then everything about it is asked
inside that root (chroot), the view is made of the root's files, and the driver runs chrooted with
the root's own interpreter; the test's directories (fixtures, logs, the tools) and the shim are
bound into the root at the same paths, so cases and records name the same files inside and out.
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
CHROOT = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin") or "chroot"

# The directories whose code files the view makes executable: the stdlib and every sys.path entry
# of a normal start (site-packages, Debian's dist-packages), outermost only.
_DIRS_CODE = r"""
import os, sys, sysconfig
paths = [p for p in sys.path if p and os.path.isdir(p)] + [sysconfig.get_paths()['stdlib']]
ds = sorted({os.path.realpath(p) for p in paths})
print('\n'.join(d for d in ds if not any(d.startswith(o + '/') for o in ds)))
"""


def in_root(root, argv, binds=()):
    """argv run chrooted into root (as is, where root is None), in a private mount namespace
    where each host path of binds is bound at the same path inside the root."""
    if root is None:
        return [str(a) for a in argv]
    script = 'root=$1; n=$2; shift 2\n' \
             'while [ $n -gt 0 ]; do mkdir -p "$root$1"; mount --bind "$1" "$root$1"; shift; n=$((n-1)); done\n' \
             'exec %s "$root" "$@"' % CHROOT
    return ["unshare", "--mount", "--propagation", "private", "sh", "-ec", script, "sh", str(root),
            str(len(binds)), *map(str, binds), *map(str, argv)]


def _version(python, root=None):
    try:
        out = subprocess.run(in_root(root, [python, "-S", "-c", "import sys; print('%d.%d.%d' % sys.version_info[:3])"]),
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


# Debian testing's CPython 3.14 (2026's distributions ship it; this machine's glibc is too old to run
# Debian's build): a debootstrap root of forky with its stdlib, made once per test session
TESTING_SUITE, TESTING_PYTHON = "forky", "/usr/bin/python3.14"
_testing = []


def debian_testing_python(tmp_path_factory):
    """(label, path, version, root) of Debian testing's CPython 3.14 (needs the network)."""
    if not _testing:
        from rootfs import debootstrap
        root = debootstrap(tmp_path_factory, TESTING_SUITE, ("python3.14-minimal", "libpython3.14-stdlib"))
        _testing.append(root_interpreter(root, TESTING_PYTHON, "debian-testing"))
    assert _testing[0][2][:2] == (3, 14), _testing
    return _testing[0]


# A free-threaded CPython (PEP 703: no GIL, Py_GIL_DISABLED): 2026's distributions build one, Debian
# does not ship it (no python3.13-nogil in trixie or later), so it is built from Debian's own
# python3.13 source package, upstream tarball as is, with --disable-gil, once per test session
# (~3 min on 2 CPUs). It runs on this machine's libc, like pyenv's; its bin/ has python3 too
# (`#!/usr/bin/env python3` scripts find it first on a PATH that starts there).
FREE_THREADED_SUITE = "trixie"
_free_threaded = []


def free_threaded_python(tmp_path_factory):
    """(label, path, version, None) of a free-threaded CPython 3.13 built from Debian's source
    package, or None where it could not be fetched or built (needs the network)."""
    if not _free_threaded:
        from rootfs import fetch_source
        tmp = tmp_path_factory.mktemp("free-threaded")
        tarball = fetch_source(str(tmp / "src"), FREE_THREADED_SUITE, "python3.13")
        prefix, build = tmp / "prefix", tmp / "build"
        if tarball:
            build.mkdir()
            subprocess.run(["tar", "-C", str(build), "-xf", tarball], check=True)
            top = next(build.iterdir())
            # a shared libpython, as distributions build it (the face finds the API there)
            configure = ["./configure", "--disable-gil", "--enable-shared", "--without-ensurepip", "--prefix=%s" % prefix,
                         "LDFLAGS=-Wl,-rpath=%s/lib" % prefix]
            for cmd in (configure, ["make", "-j%d" % (os.cpu_count() or 2)], ["make", "install"]):
                r = subprocess.run(cmd, cwd=top, capture_output=True, text=True, timeout=1800)
                assert r.returncode == 0, (cmd, r.stdout[-2000:], r.stderr[-2000:])
        python = prefix / "bin" / "python3.13t"
        v = _version(python) if python.exists() else None
        _free_threaded.append(("free-threaded-%d.%d.%d" % v, str(python), v, None) if v else None)
    return _free_threaded[0]


def root_interpreter(root, python, label_prefix):
    """(label, path, version, root) of an interpreter in another root (path inside it)."""
    v = _version(python, root)
    assert v, "%s does not run in %s" % (python, root)
    return ("%s-%d.%d.%d" % (label_prefix, *v), python, v, root)


def library_dirs(python, root=None):
    out = subprocess.run(in_root(root, [python, "-c", _DIRS_CODE]), capture_output=True, text=True, cwd="/", timeout=60,
                         env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}).stdout
    return [d for d in out.splitlines() if d]


def _on_demand_libraries(root=None):
    """What glibc itself dlopen()s when a thread exits or is cancelled (pthread_exit unwinds with
    libgcc_s): ldd lists none of it."""
    out = subprocess.run(in_root(root, ["ldconfig", "-p"]), capture_output=True, text=True).stdout
    return [line.split("=>")[1].strip() for line in out.splitlines()
            if line.strip().startswith("libgcc_s.so.1 ") and "x86-64" in line and "=>" in line]


def _inside(root, path):
    """A path inside root, its symlinks resolved there (root None: the machine's)."""
    if root is None:
        return os.path.realpath(path)
    real = os.path.realpath(os.path.join(str(root), path.lstrip("/")))
    assert real.startswith(str(root) + "/"), (path, real)  # Debian's links are relative
    return real[len(str(root)):]


def mapped_libraries(python, programs=(), root=None):
    """Every shared object the interpreter may map: its lib-dynload modules, the ldd closure
    of the interpreter, of those modules and of the helper programs the tests exec, and what
    glibc loads on demand. Paths inside root, where there is one."""
    host = (lambda p: os.path.join(str(root), p.lstrip("/"))) if root else (lambda p: p)
    platstdlib = subprocess.run(in_root(root, [python, "-S", "-c", "import sysconfig; print(sysconfig.get_path('platstdlib'))"]),
                                capture_output=True, text=True, cwd="/").stdout.strip()
    found = glob.glob(os.path.join(host(platstdlib), "lib-dynload", "*.so"))
    files = {f[len(str(root)):] if root else f for f in found} | set(_on_demand_libraries(root))
    which = (lambda p: shutil.which(p, path=os.pathsep.join(host(d) for d in ("/usr/bin", "/bin")))) if root else shutil.which
    programs = [which(p) or p for p in programs]
    targets = [python, *sorted(files)] + [p[len(str(root)):] if root and p.startswith(str(root)) else p for p in programs]
    out = subprocess.run(in_root(root, ["ldd", *targets]), capture_output=True, text=True).stdout
    for line in out.splitlines():
        parts = line.split("=>")
        if len(parts) == 2 and parts[1].strip().startswith("/"):
            files.add(parts[1].split()[0])
    return sorted({_inside(root, f) for f in files if os.path.isfile(host(f))})


def view_script(lib_dirs, scratch, noexec_dir, copies=(), libraries=(), root=None):
    """Shell lines for the namespace: an executable view of the interpreter's library dirs
    (overlays: only the CPython face reads .py/.pyc/.pth, through checked fds), executable copies
    of the shared objects it maps bind-mounted over the originals (a mapped overlay file shows
    another (dev, ino) in /proc/self/maps than stat gives, which the audit face calls a
    mismatch: bind mounts keep the two equal), and a noexec tmpfs at noexec_dir, filled with
    `cp -a SRC DST` copies. root: lib_dirs and libraries are paths inside it."""
    def q(x):
        return shlex.quote(str(x))

    def r(x):
        return "%s%s" % (root, x) if root else x
    lines = ["mount -t tmpfs -o mode=0700 tmpfs %s" % q(scratch)]
    for i, d in enumerate(lib_dirs):
        up, work = "%s/u%d" % (scratch, i), "%s/w%d" % (scratch, i)
        lines += ["mkdir -p %s %s" % (q(up), q(work)),
                  "mount -t overlay overlay -o %s %s" % (q("lowerdir=%s,upperdir=%s,workdir=%s,metacopy=on" % (r(d), up, work)), q(r(d))),
                  "find %s -type f \\( -name '*.py' -o -name '*.pyc' -o -name '*.so' -o -name '*.pth' -o -name '*.zip' \\) "
                  "-print0 | xargs -0 -r chmod a+x" % q(r(d))]
    lines.append("mkdir -p %s/libs" % q(scratch))
    for i, f in enumerate(libraries):
        copy = "%s/libs/%d" % (scratch, i)
        lines += ["cp %s %s && chmod a+x %s" % (q(r(f)), q(copy), q(copy)), "mount --bind %s %s" % (q(copy), q(r(f)))]
    lines.append("mount -t tmpfs -o noexec,nosuid,nodev,mode=0755 tmpfs %s" % q(noexec_dir))
    for src, dst in copies:
        lines.append("cp -a %s %s" % (q(src), q(dst)))
    return "\n".join(lines)


# Inside a root: the test's paths and the shim bound in at the same paths (the noexec tmpfs under
# the test's directory comes along), /proc, and terminals of its own for the pty cases.
_ROOT_LINES = r"""
root=$1; shift
for p; do
    if [ -d "$p" ]; then mkdir -p "$root$p"; else mkdir -p "$(dirname "$root$p")"; touch "$root$p"; fi
    mount --rbind "$p" "$root$p"
done
mount -t proc proc "$root/proc"
mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
mount --bind "$root/dev/pts/ptmx" "$root/dev/ptmx"
"""


def _enter_root(root, tmp, binds, *argv):
    """The view script's last lines for an interpreter in root: bind, mount, exec argv there."""
    def q(x):
        return shlex.quote(str(x))
    return "\nset -- %s\n%sexec %s %s %s" % (" ".join(q(x) for x in (root, tmp, shim_path(), *binds)), _ROOT_LINES,
                                               q(CHROOT), q(root), " ".join(q(x) for x in argv))


def start_in_view(python, tmp, cases, copies=(), jobs=2, root=None, binds=()):
    """Starts the driver for `cases` in a namespace with python's executable view. Returns a
    handle for finish(). root: python is in that root (binds: the host paths the cases use)."""
    tmp = pathlib.Path(tmp)
    scratch, noexec = tmp / "scratch", tmp / "noexec"
    scratch.mkdir(parents=True, exist_ok=True)
    noexec.mkdir(exist_ok=True)
    spec, out = tmp / "spec.json", tmp / "results.json"
    spec.write_text(json.dumps({"jobs": jobs, "cases": cases}))
    script = view_script(library_dirs(python, root), scratch, noexec, copies, mapped_libraries(python, HELPERS, root), root)
    if root is None:
        script += "\nexec %s %s %s %s" % tuple(shlex.quote(str(x)) for x in (sys.executable, DRIVER, spec, out))
    else:
        driver = tmp / DRIVER.name
        shutil.copy(DRIVER, driver)  # the root's interpreter runs it there
        script += _enter_root(root, tmp, binds, python, driver, spec, out)
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


def script_in_view(python, tmp, script, copies=(), timeout=600, others=(), programs=(), root=None, binds=()):
    """Runs a shell script (after the view is set up) in python's namespace; returns the
    CompletedProcess (text). others: more interpreters whose shared objects the view must cover;
    programs: more programs whose libraries it must cover. root: python is in that root, where
    the script runs (binds: the host paths it uses besides tmp)."""
    tmp = pathlib.Path(tmp)
    scratch, noexec = tmp / "scratch", tmp / "noexec"
    scratch.mkdir(parents=True, exist_ok=True)
    noexec.mkdir(exist_ok=True)
    libs = sorted(set(mapped_libraries(python, HELPERS + tuple(programs), root)).union(*(mapped_libraries(o) for o in others)))
    full = view_script(library_dirs(python, root), scratch, noexec, copies, libs, root) + "\n"
    if root is None:
        full += script
    else:
        (tmp / "inner.sh").write_text(script)
        full += _enter_root(root, tmp, binds, "/bin/sh", "-e", tmp / "inner.sh")
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

"""What the CPython face costs: `python -c pass` start-up and importing 200 small modules, with and
without the shim, measured side by side (interleaved) in one run, next to the kernel check's own
cost.

Goal (issue 5): start-up at most +0.5 ms beyond the checks of the files the interpreter itself
loads; per imported module one kernel check plus at most 3 us.

To tell the checks from the rest, a third column runs the same shim with the kernel check faked:
a seccomp filter answers execveat(AT_EXECVE_CHECK) with 0 without doing it. "shim - twin" is
then what the checks cost in place (an allowed check builds and tears down a new mm: its cost in
a real process exceeds a back-to-back loop's), "twin - no shim" what everything else costs. The
same filter is installed in all three columns, so its own small per-syscall cost cancels.

As root, the runs happen in a private mount namespace with an executable view of the interpreter's
code, as on a system prepared for enforcement: its library directories through an overlay (.py,
.pyc, .pth), and each shared object it maps (libpython, extension modules, and the libraries its
start-up maps: Debian's libm, libz, libexpat are 0644) as an executable copy bound over the file,
so that a mapping shows the very inode that was checked. Every check then passes, which is the
expensive case (~9 us; a failing check is ~0.3 us but writes a record). Otherwise the stock 0644
stdlib fails its checks and the figures say so.

usage: python bench/bench_python_face.py [--python PATH] [--clean-venv] [--runs N] [--import-runs N]
                                         [--against SHIM]

--clean-venv: measure through a fresh venv of that interpreter (python -m venv --without-pip), whose
start-up reads no .pth file of the installation's own site-packages. What such a file imports at
every start (this sandbox's _sandboxing_egress_ca.pth imports certifi: ~70 modules and 11 extension
modules) is paid at start-up per module and per extension module; the venv shows the interpreter's
own start-up.

--against: another build of libexeccheck.so (an older checkout's, made with `make` there) measured
in the same rounds, with the check faked as well: the start-up face of this build against that one.
(run with the Python that has execcheck installed: .venv/bin/python bench/bench_python_face.py)
"""
import argparse
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

INSIDE = "EXECCHECK_BENCH_INSIDE_VIEW"
VENV_OF = "EXECCHECK_BENCH_VENV_OF"  # --clean-venv: the interpreter the venv was made from
VIEW_CODE = r"""
import glob, os, sys, sysconfig
paths = [p for p in sys.path if p and os.path.isdir(p)] + [sysconfig.get_paths()['stdlib']]
ds = sorted({os.path.realpath(p) for p in paths})
for d in ds:
    if not any(d.startswith(o + '/') for o in ds):
        print('dir', d)
# the shared objects its start-up maps (libpython, Debian's 0644 libm, libz, libexpat...) and the
# extension modules it may load
files = set(glob.glob(os.path.join(sysconfig.get_paths()['platstdlib'], 'lib-dynload', '*.so')))
for line in open('/proc/self/maps'):
    f = line.split(None, 5)
    if len(f) == 6 and f[5].startswith('/') and '.so' in os.path.basename(f[5].strip()):
        files.add(f[5].strip())
for f in sorted({os.path.realpath(f) for f in files}):
    print('file', f)
"""


def reexec_in_view(python):
    """Re-runs this script in a mount namespace with python's library made executable (overlay,
    metacopy: nothing on the machine changes). Returns its exit status, or None if not possible."""
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return None
    out = subprocess.run([python, "-c", VIEW_CODE], capture_output=True, text=True, cwd="/").stdout.splitlines()
    dirs = [l[4:] for l in out if l.startswith("dir ")]
    files = [l[5:] for l in out if l.startswith("file ")]
    scratch = tempfile.mkdtemp(prefix="ec-bench-")
    q = shlex.quote
    lines = ["mount -t tmpfs tmpfs %s" % q(scratch), "mkdir %s/so" % q(scratch)]
    # code that is read (.py, .pyc, .pth): an overlay with the bits set
    for i, d in enumerate(dirs):
        lines += ["mkdir -p %s/u%d %s/w%d" % (q(scratch), i, q(scratch), i),
                  "mount -t overlay overlay -o lowerdir=%s,upperdir=%s/u%d,workdir=%s/w%d,metacopy=on %s"
                  % (q(d), q(scratch), i, q(scratch), i, q(d)),
                  "find %s -type f \\( -name '*.py' -o -name '*.pyc' -o -name '*.pth' \\) -print0 "
                  "| xargs -0 -r chmod a+x" % q(d)]
    # code that is mapped: an executable copy bound over each file, so that the mapped inode is the
    # one the faces check, as on a chmod-ed system (on overlayfs a mapping shows the layer's inode,
    # which costs the faces a lookup per file that a prepared system does not have)
    for i, f in enumerate(files):
        lines += ["cp %s %s/so/%d && chmod a+x %s/so/%d && mount --bind %s/so/%d %s"
                  % (q(f), q(scratch), i, q(scratch), i, q(scratch), i, q(f))]
    lines.append("exec %s" % " ".join(q(a) for a in [sys.executable] + sys.argv))
    env = dict(os.environ, **{INSIDE: "1"})
    try:
        return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-ec", "\n".join(lines)],
                              env=env).returncode
    finally:
        os.rmdir(scratch)


from fakecheck import fake as _fake, real as _real  # noqa: E402 (bench/ is this script's path)


def in_clean_venv(python):
    """Runs this script again with --python the interpreter of a fresh venv of python."""
    d = tempfile.mkdtemp(prefix="ec-bench-venv-")
    try:
        r = subprocess.run([python, "-m", "venv", "--without-pip", os.path.join(d, "venv")], capture_output=True, text=True)
        if r.returncode:
            sys.exit("cannot make a venv of %s: %s" % (python, (r.stderr.strip().splitlines() or ["?"])[-1]))
        argv, skip = [], False
        for a in sys.argv[1:]:  # the same options, with --python the venv's
            if skip or a == "--clean-venv":
                skip = False
                continue
            if a == "--python":
                skip = True
                continue
            if not a.startswith("--python="):
                argv.append(a)
        venv_python = os.path.join(d, "venv", "bin", "python")
        env = dict(os.environ, **{VENV_OF: python})
        return subprocess.run([sys.executable, os.path.abspath(__file__), "--python", venv_python, *argv], env=env).returncode
    finally:
        shutil.rmtree(d, ignore_errors=True)


def check_cost(n=4000):
    """us (CPU time) per AT_EXECVE_CHECK (through the core, via cffi) on an allowed and a denied file."""
    from execcheck import check
    out = {}
    d = tempfile.mkdtemp(prefix="ec-bench-")
    try:
        for name, mode in (("allowed", 0o755), ("denied", 0o644)):
            p = os.path.join(d, name)
            with open(p, "w") as f:
                f.write("pass\n")
            os.chmod(p, mode)
            fd = os.open(p, os.O_RDONLY)
            samples = []
            for _ in range(5):
                t = time.process_time()
                for _ in range(n // 5):
                    check(fd)
                samples.append((time.process_time() - t) / (n // 5) * 1e6)
            os.close(fd)
            out[name] = statistics.median(samples)
    finally:
        shutil.rmtree(d)
    return out


def startup_syscalls(python, env):
    """System calls of `python -c pass` (strace -f): (all, the checks among them), or None without
    strace. A count does not move with the machine's load, unlike a time."""
    if not shutil.which("strace"):
        return None
    with tempfile.NamedTemporaryFile("r") as log:
        # the shim goes to the traced program only: preloaded into strace, it would hand python the
        # audit face too (the preload face propagates), and strace's own checks would be counted
        faces = ("LD_PRELOAD", "LD_AUDIT")
        plain = {k: v for k, v in env.items() if k not in faces}
        pre = [a for k in faces if k in env for a in ("-E", "%s=%s" % (k, env[k]))]
        subprocess.run(["strace", "-f", *pre, "-o", log.name, python, "-c", "pass"], env=plain, capture_output=True)
        lines = [line for line in open(log.name) if "(" in line and not line.split(None, 1)[-1].startswith(("+++", "---"))]
        return len(lines), sum("execveat(" in line and ("AT_EXECVE_CHECK" in line or "0x10000" in line) for line in lines)


NOP_HOOK = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
static int hook(const char *e, void *a, void *u) { (void)e; (void)a; (void)u; return 0; }
__attribute__((constructor)) static void start(void)
{
    int (*add)(int (*)(const char *, void *, void *), void *) = (int (*)(int (*)(const char *, void *, void *), void *))dlsym(RTLD_DEFAULT, "PySys_AddAuditHook");
    if (add) add(hook, 0);
}
"""


def build_nop_hook(d):
    """A preload that only adds a C audit hook doing nothing: the floor any audit-hook design pays
    (CPython builds each event's arguments once a hook exists). None without a C compiler."""
    cc = os.environ.get("CC", "cc")
    src, out = os.path.join(d, "nop.c"), os.path.join(d, "nophook.so")
    with open(src, "w") as f:
        f.write(NOP_HOOK)
    try:
        subprocess.run([cc, "-O2", "-shared", "-fPIC", "-o", out, src], check=True, capture_output=True)
        return out
    except (OSError, subprocess.CalledProcessError):
        return None


def measure(columns, runs, one):
    """`one(cmd, env, preexec)` per column, `runs` rounds, each round running every column once in
    a rotating order so that drift on a busy machine hits them alike. Returns the samples per
    column, round by round."""
    acc = [[] for _ in columns]
    for i in range(runs):
        for k in range(len(columns)):
            j = (i + k) % len(columns)
            acc[j].append(one(*columns[j]))
    return acc


def paired(a, b):
    """Median over rounds of b - a: two columns compared within each round, which cancels what the
    machine did between rounds (far steadier here than the difference of two medians)."""
    return statistics.median(y - x for x, y in zip(a, b))


def cpu(cmd, env, preexec):
    """CPU time (user + system) of one run of cmd, in ms: on a shared machine it is far steadier
    than wall time, and it contains the kernel's work for the checks."""
    p = subprocess.Popen(cmd, env=env, preexec_fn=preexec, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return (ru.ru_utime + ru.ru_stime) * 1e3


def reported(cmd, env, preexec):
    out = subprocess.run(cmd, env=env, preexec_fn=preexec, capture_output=True, text=True).stdout
    return float(out.split()[-1]) * 1e3


IMPORTER = """import sys, time
sys.path.insert(0, sys.argv[1])
t = time.process_time()
for i in range(200):
    __import__("ecbench_m%d" % i)
print(time.process_time() - t)
"""


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=os.path.realpath(shutil.which("python3", path="/usr/bin:/bin") or sys.executable),
                    help="the CPython to measure (default: the system's python3)")
    ap.add_argument("--runs", type=int, default=150, help="python -c pass runs per column")
    ap.add_argument("--import-runs", type=int, default=30, help="200-import runs per column")
    ap.add_argument("--clean-venv", action="store_true",
                    help="measure through a fresh venv of --python: no .pth of its own site-packages runs")
    ap.add_argument("--against", metavar="SHIM", help="another libexeccheck.so to compare this one with, side by side")
    args = ap.parse_args()
    if not (os.path.isfile(args.python) and os.access(args.python, os.X_OK)):
        sys.exit("no interpreter at %s (--python)" % args.python)
    if args.clean_venv and not os.environ.get(VENV_OF):
        return in_clean_venv(args.python)
    if not os.environ.get(INSIDE):
        rc = reexec_in_view(args.python)
        if rc is not None:
            return rc
    from execcheck.shim import lib_path
    shim = lib_path()
    python = args.python
    view = bool(os.environ.get(INSIDE))
    base = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
    with_shim = dict(base, LD_PRELOAD=shim)

    costs = check_cost()
    counted = startup_syscalls(python, with_shim), startup_syscalls(python, base)
    n_checks = counted[0][1] if counted[0] else None
    tools = tempfile.mkdtemp(prefix="ec-bench-")
    nop = build_nop_hook(tools)
    cmd = [python, "-c", "pass"]
    # as `execcheck run` and every process the shim propagates to start it: the audit face too
    with_both = dict(with_shim, LD_AUDIT=shim)
    columns = [(cmd, base, _real), (cmd, with_shim, _fake), (cmd, with_shim, _real),
               (cmd, with_both, _fake), (cmd, with_both, _real)]
    if nop:
        columns.append((cmd, dict(base, LD_PRELOAD=nop), _real))
    against = os.path.realpath(args.against) if args.against else None
    if against:
        columns.append((cmd, dict(base, LD_PRELOAD=against), _fake))
    counted_both = startup_syscalls(python, with_both)
    measure(columns, 5, cpu)  # warm the page cache
    runs_s = measure(columns, args.runs, cpu)
    s_plain, s_twin, s_shim = [statistics.median(a) for a in runs_s[:3]]
    d_face, d_checks = paired(runs_s[0], runs_s[1]), paired(runs_s[1], runs_s[2])
    d_both_face, d_both_checks = paired(runs_s[0], runs_s[3]), paired(runs_s[3], runs_s[4])
    s_nop = [statistics.median(runs_s[5])] if nop else []
    d_nop = paired(runs_s[0], runs_s[5]) if s_nop else None
    d_against = paired(runs_s[0], runs_s[-1]) if against else None
    shutil.rmtree(tools)

    d = tempfile.mkdtemp(prefix="ec-bench-mods-")
    try:
        for i in range(200):
            p = os.path.join(d, "ecbench_m%d.py" % i)
            with open(p, "w") as f:
                f.write("X = %d\ndef f(a):\n    return a + X\n" % i)
            os.chmod(p, 0o755)
        subprocess.run([python, "-m", "compileall", "-q", d], check=True, env={"PATH": base["PATH"]})
        for root, _, files in os.walk(d):
            for name in files:
                os.chmod(os.path.join(root, name), 0o755)  # executable caches, as the shim writes them
        importer = os.path.join(d, "importer.py")
        with open(importer, "w") as f:
            f.write(IMPORTER)
        os.chmod(importer, 0o755)
        icmd = [python, importer, d]
        icolumns = [(icmd, base, _real), (icmd, with_shim, _fake), (icmd, with_shim, _real)]
        runs_i = measure(icolumns, args.import_runs, reported)
        i_plain, i_twin, i_shim = [statistics.median(a) for a in runs_i]
        i_face, i_checks = paired(runs_i[0], runs_i[1]), paired(runs_i[1], runs_i[2])
    finally:
        shutil.rmtree(d)

    ver = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                         text=True).stdout.strip()
    venv_of = os.environ.get(VENV_OF)
    print("CPython face bench: %s (%s)%s, %s" % (python, ver, ", a fresh venv of " + venv_of if venv_of else "",
                                                "executable library view (every check passes)" if view
                                                else "stock library: its checks fail and are recorded"))
    print("kernel check, back to back through the core: allowed %.2f us, denied %.2f us"
          % (costs["allowed"], costs["denied"]))
    print()
    head = ("", "no shim", "twin", "shim", "shim/none", "twin-none", "shim-twin")
    print("%-32s %10s %10s %10s %9s %10s %10s" % head)
    for label, a, t, b, unit in (("python -c pass (median of %d)" % args.runs, s_plain, s_twin, s_shim, "ms"),
                                 ("import 200 modules (median of %d)" % args.import_runs, i_plain, i_twin, i_shim, "ms")):
        print("%-32s %7.2f %s %7.2f %s %7.2f %s %9.3f %+7.3f %s %+7.3f %s"
              % (label, a, unit, t, unit, b, unit, b / a, t - a, unit, b - t, unit))
    print("  CPU time (user + system, kernel work of the checks included); twin: the shim with the check faked")
    print()
    # the derived figures are medians of within-round differences (see paired())
    face, check = i_face * 1e3 / 200, i_checks * 1e3 / 200
    print("per imported module: +%.2f us = one check in place %.2f us + the face %.2f us (goal: <= 3 us)"
          % (face + check, check, face))
    print("start-up: +%.3f ms = %s checks of the interpreter's own files %.3f ms + the face %.3f ms (goal: <= 0.5 ms)"
          % (d_face + d_checks, n_checks if n_checks is not None else "?", d_checks, d_face))
    if s_nop:
        print("  of which CPython's audit machinery with a no-op C hook: %+.3f ms" % d_nop)
    print("start-up under `execcheck run` (the audit face too, as every process the shim propagates to): +%.3f ms"
          " = %s checks %.3f ms + the faces %.3f ms" % (d_both_face + d_both_checks,
                                                      counted_both[1] if counted_both else "?", d_both_checks,
                                                      d_both_face))
    if against:
        print("  the face of --against %s: %+.3f ms; this build's minus that one's: %+.3f ms (paired)"
              % (against, d_against, paired(runs_s[-1], runs_s[1])))
    if counted[0] and counted[1]:
        print("  system calls of one start-up (strace -f): %d without the shim, %d with it (%+d, of which %d checks)"
              % (counted[1][0], counted[0][0], counted[0][0] - counted[1][0], n_checks)
              + ("; %d with both faces" % counted_both[0] if counted_both else ""))
    print("  (medians over rounds of the within-round differences)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

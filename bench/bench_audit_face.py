"""What the audit face (LD_AUDIT=libexeccheck.so) costs, as ratios measured side by side in one run.

Startup of /bin/true, of a generated program with 50 DT_NEEDED libraries and of `python3 -c pass`,
without and with the audit face (audit mode, and enforce mode where the files pass); dlopen() of a
new library and of an already-loaded one; and the kernel check itself, which is the floor.
Configurations are interleaved round by round and each figure is the median of the rounds, so
drift of this noisy machine hits all of them alike.

    python bench/bench_audit_face.py [--rounds 31] [--batch 20] [--against SHIM]

--against: another build of libexeccheck.so (an older checkout's, made with `make` there) in the
twin run's rounds too: this build's per-library and fixed costs against that one's, paired.
"""
import argparse
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

import fakecheck  # bench/ is this script's path

from installed import shim_path  # bench/ is this script's path

SHIM = shim_path()

NLIBS = 50
WORK = None  # the temp dir of this run
AGAINST = None  # --against

SPAWN_C = r"""
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
/* spawn ROUNDS BATCH NCFG ENV1 ... ENVn -- ARGV...: each round runs ARGV BATCH times under each
 * environment in turn (ENV is "KEY=V;KEY=V" or "-" for empty), and prints, per environment, the
 * wall and child-CPU microseconds and the child page faults per run of every round. Interleaving in
 * small batches spreads this noisy machine's drift over all environments alike. */
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
static double cpu(double *faults)
{
    struct rusage u;
    getrusage(RUSAGE_CHILDREN, &u);
    *faults = (double)u.ru_minflt + (double)u.ru_majflt;
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e6 + u.ru_utime.tv_usec + u.ru_stime.tv_usec;
}
int main(int argc, char **argv)
{
    int rounds = atoi(argv[1]), batch = atoi(argv[2]), ncfg = atoi(argv[3]), r, c, i;
    char **av = argv + 4 + ncfg + 1, *envs[8][16];
    static double wall[8][1000], used[8][1000], faulted[8][1000];
    for (c = 0; c < ncfg; c++) {
        int k = 0;
        char *s = strdup(argv[4 + c]), *tok;
        for (tok = strtok(s, ";"); tok && k < 15; tok = strtok(0, ";"))
            if (strcmp(tok, "-")) envs[c][k++] = tok;
        envs[c][k] = 0;
    }
    for (r = 0; r < rounds; r++)
        for (c = 0; c < ncfg; c++) {
            double f0, f1, t0 = now(), c0 = cpu(&f0);
            for (i = 0; i < batch; i++) {
                pid_t pid;
                int st;
                if (posix_spawn(&pid, av[0], 0, 0, av, envs[c])) return 2;
                waitpid(pid, &st, 0);
                if (!WIFEXITED(st) || WEXITSTATUS(st)) { fprintf(stderr, "run failed: %d (cfg %d)\n", st, c); return 3; }
            }
            wall[c][r] = (now() - t0) / batch;
            used[c][r] = (cpu(&f1) - c0) / batch;
            faulted[c][r] = (f1 - f0) / batch;
        }
    /* per configuration: the rounds' wall times on one line, their child CPU times on the next,
     * then their child page faults */
    for (c = 0; c < ncfg; c++) {
        for (r = 0; r < rounds; r++) printf("%.1f%c", wall[c][r], r + 1 < rounds ? ' ' : '\n');
        for (r = 0; r < rounds; r++) printf("%.1f%c", used[c][r], r + 1 < rounds ? ' ' : '\n');
        for (r = 0; r < rounds; r++) printf("%.2f%c", faulted[c][r], r + 1 < rounds ? ' ' : '\n');
    }
    return 0;
}
"""

DLOPEN_C = r"""
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
/* dl DIR N REPEAT: ns per dlopen of N new libraries DIR/libnI.so, then ns per dlopen (+ dlclose)
 * of the last of them again (already loaded), best of 20 rounds of REPEAT calls */
int main(int argc, char **argv)
{
    int n = atoi(argv[2]), rep = atoi(argv[3]), i;
    char path[4096];
    double t0, t1, t2;
    void *h = 0;
    t0 = now();
    for (i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/libn%d.so", argv[1], i);
        if (!(h = dlopen(path, RTLD_NOW))) { fprintf(stderr, "%s\n", dlerror()); return 2; }
    }
    t1 = now();
    /* a call of well under a microsecond: the best of 20 rounds is the least disturbed figure */
    for (int r = 0; r < 20; r++) {
        double t = now(), per;
        for (i = 0; i < rep; i++) {
            void *again = dlopen(path, RTLD_NOW);
            if (again != h) return 3;
            dlclose(again);
        }
        per = (now() - t) / rep;
        if (r == 0 || per < t2) t2 = per;
    }
    printf("%.0f %.1f\n", (t1 - t0) / n, t2);
    return 0;
}
"""

CHECK_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
/* chk N FILE...: ns per execveat(fd, "", AT_EMPTY_PATH|AT_EXECVE_CHECK), first as the loader
 * meets it (each FILE opened O_PATH and checked once, in a fresh process), then the first FILE
 * N times in a loop */
int main(int argc, char **argv)
{
    int n = atoi(argv[1]), i, fd;
    char *av[] = {"x", 0}, *ev[] = {0};
    double t0 = now(), once, loop;
    for (i = 2; i < argc; i++) {
        fd = open(argv[i], O_PATH | O_CLOEXEC);
        syscall(SYS_execveat, fd, "", av, ev, 0x1000 | 0x10000);
        close(fd);
    }
    once = (now() - t0) / (argc - 2);
    fd = open(argv[2], O_PATH | O_CLOEXEC);
    t0 = now();
    for (i = 0; i < n; i++) syscall(SYS_execveat, fd, "", av, ev, 0x1000 | 0x10000);
    loop = (now() - t0) / n;
    printf("%.0f %.0f\n", once, loop);
    return 0;
}
"""

FLOOR_C = r"""
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
/* floor N FILE: ns per system call the audit face makes for each library besides the check
 * (open O_PATH + close, statx of that fd, PROCMAP_QUERY of a mapped address), N times each */
int main(int argc, char **argv)
{
    int n = atoi(argv[1]), i, fd, maps = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    struct statx sx;
    uint64_t q[13];
    double t0, open_close, stx, query;
    t0 = now();
    for (i = 0; i < n; i++) close(open(argv[2], O_PATH | O_CLOEXEC));
    open_close = (now() - t0) / n;
    fd = open(argv[2], O_PATH | O_CLOEXEC);
    t0 = now();
    for (i = 0; i < n; i++) statx(fd, "", AT_EMPTY_PATH, 0x7ff | 0x1000, &sx);
    stx = (now() - t0) / n;
    t0 = now();
    for (i = 0; i < n; i++) {
        memset(q, 0, sizeof q);
        q[0] = sizeof q; /* struct procmap_query: size, flags, address */
        q[2] = (uintptr_t)&main;
        if (ioctl(maps, 0xc0686611ul, q)) return 2;
    }
    query = (now() - t0) / n;
    printf("%.0f %.0f %.0f\n", open_close, stx, query);
    return 0;
}
"""


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def build(work):
    w = pathlib.Path(work)
    (w / "libs").mkdir()
    (w / "new").mkdir()
    for name, text in (("spawn", SPAWN_C), ("dl", DLOPEN_C), ("chk", CHECK_C), ("floor", FLOOR_C)):
        (w / (name + ".c")).write_text(text)
        sh(["cc", "-O2", "-o", str(w / name), str(w / (name + ".c"))])
    # the cost of being an audit module at all: ld.so's own work for one that does nothing
    (w / "empty.c").write_text("unsigned int la_version(unsigned int v) { return v; }\n")
    sh(["cc", "-O2", "-shared", "-fPIC", "-nostdlib", "-o", str(w / "empty.so"), str(w / "empty.c")])
    # ld.so's own work for a module that has the face's two callbacks and does nothing in them
    (w / "hooks.c").write_text("#include <stdint.h>\nstruct link_map;\n"
                               "unsigned int la_version(unsigned int v) { return v; }\n"
                               "char *la_objsearch(const char *n, uintptr_t *c, unsigned int f) { return (char *)n; }\n"
                               "unsigned int la_objopen(struct link_map *m, long l, uintptr_t *c) { return 0; }\n")
    sh(["cc", "-O2", "-shared", "-fPIC", "-nostdlib", "-o", str(w / "hooks.so"), str(w / "hooks.c")])
    for i in range(NLIBS):
        src = w / ("l%d.c" % i)
        src.write_text("int f%d(void) { return %d; }\n" % (i, i))
        sh(["cc", "-O2", "-shared", "-fPIC", "-o", str(w / "libs" / ("libl%d.so" % i)), str(src)])
    main = w / "prog50.c"
    main.write_text("".join("int f%d(void);\n" % i for i in range(NLIBS)) +
                    "int main(void) { return " + " + ".join("f%d()" % i for i in range(NLIBS)) + " - %d; }\n"
                    % sum(range(NLIBS)))
    sh(["cc", "-O2", "-o", str(w / "prog50"), str(main), "-L" + str(w / "libs"),
        *("-ll%d" % i for i in range(NLIBS)), "-Wl,-rpath,$ORIGIN/libs"])
    return w


def make_new_libs(w, tag, n):
    d = w / "new" / tag
    d.mkdir()
    src = w / "n.c"
    src.write_text("int g(void) { return 1; }\n")
    sh(["cc", "-O2", "-shared", "-fPIC", "-o", str(d / "libn0.so"), str(src)])
    for i in range(1, n):
        shutil.copy2(d / "libn0.so", d / ("libn%d.so" % i))  # distinct inodes: each a new load
    return d


def env_for(config):
    """The environment of a configuration, in the spawn helper's "K=V;K=V" form."""
    keep = {k: v for k, v in os.environ.items()
            if k in ("PATH", "HOME", "LANG") and ";" not in v}
    if config in ("empty", "hooks"):
        keep["LD_AUDIT"] = str(WORK / (config + ".so"))
    elif config == "against":
        keep["LD_AUDIT"] = AGAINST
    elif config != "none":
        keep["LD_AUDIT"] = SHIM
    if config == "enforce":
        keep["EXECCHECK_FILES"] = "enforce"
    return ";".join("%s=%s" % kv for kv in keep.items()) or "-"


def startup(w, argv, configs, rounds, batch, twin=False):
    """twin: the spawner and all it starts run with the kernel check faked (fakecheck.py)."""
    out = sh([str(w / "spawn"), str(rounds), str(batch), str(len(configs)), *(env_for(c) for c in configs),
              "--", *argv], preexec_fn=fakecheck.fake if twin else None).stdout.split("\n")
    res = {}
    for i, c in enumerate(configs):
        wall, cpu, faults = ([float(x) for x in out[3 * i + k].split()] for k in range(3))
        res[c] = Runs(statistics.median(wall), statistics.median(cpu), cpu, statistics.median(faults))
    return res


class Runs(tuple):
    """(median wall, median child CPU), indexable like the old pair; .rounds: child CPU per round;
    .faults: median page faults per run (a count, steadier than any time on this machine)."""
    def __new__(cls, wall, cpu, rounds, faults):
        self = super().__new__(cls, (wall, cpu))
        self.rounds = rounds
        self.faults = faults
        return self


def paired(a, b):
    """Median over rounds of b - a (child CPU): within each round the configurations ran side by
    side, so this cancels what the machine did between rounds."""
    return statistics.median(y - x for x, y in zip(a.rounds, b.rounds))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=31)
    ap.add_argument("--batch", type=int, default=20, help="execs per configuration per round")
    ap.add_argument("--against", metavar="SHIM", help="another libexeccheck.so to compare this one with (twin run)")
    args = ap.parse_args()
    global WORK, AGAINST, SHIM
    if not os.path.exists(SHIM):
        sys.exit("no shim at %s: build first (make install or make inplace)" % SHIM)
    python = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    AGAINST = os.path.realpath(args.against) if args.against else None
    work = tempfile.mkdtemp(prefix="bench-audit-")
    installed = SHIM
    try:
        w = WORK = build(work)
        # measured as a copy beside the empty module: ld.so's start-up memory grows with a module's
        # path (README, "Cost of the audit face"), which is where it is installed, not the face
        SHIM = str(w / "libexeccheck.so")
        shutil.copy2(installed, SHIM)
        cases = [
            ("/bin/true", ["/bin/true"], ("none", "empty", "audit", "enforce"), args.batch),
            ("prog50 (50 DT_NEEDED)", [str(w / "prog50")], ("none", "audit", "enforce"), args.batch),
            # Debian's libm, libz... are 0644: enforcing would refuse them, so audit mode only
            ("python3 -c pass", [python, "-c", "pass"], ("none", "audit"), max(2, args.batch // 5)),
        ]
        res = {label: startup(w, argv, cfgs, args.rounds, batch) for label, argv, cfgs, batch in cases}
        # the twin run: the same, with the kernel check faked (x86_64 only), for what the face itself costs
        twin = None
        if os.uname().machine == "x86_64":
            twin_cfgs = ("none", "empty", "hooks", "audit", "enforce") + (("against",) if AGAINST else ())
            twin = {label: startup(w, argv, twin_cfgs, args.rounds, batch, twin=True)
                    for label, argv, _, batch in cases[:2]}
        # "empty": an audit module that does nothing, for what glibc itself costs any audited dlopen
        dl_new = {c: [] for c in ("none", "empty", "audit")}
        dl_old = {c: [] for c in ("none", "empty", "audit")}
        for r in range(max(5, args.rounds // 2)):
            for c in ("none", "empty", "audit"):
                d = make_new_libs(w, "%s%d" % (c, r), 50)
                env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "EXECCHECK_"))}
                if c != "none":
                    env["LD_AUDIT"] = SHIM if c == "audit" else str(WORK / "empty.so")
                out = sh([str(w / "dl"), str(d), "50", "2000"], env=env).stdout.split()
                dl_new[c].append(float(out[0]) / 1000)
                dl_old[c].append(float(out[1]))
        libs = [str(w / "libs" / ("libl%d.so" % i)) for i in range(NLIBS)]
        chk = [sh([str(w / "chk"), "20000", *libs]).stdout.split() for _ in range(9)]
        check_us = statistics.median(float(c[0]) for c in chk) / 1000  # once per file, open+close included
        check_loop_us = statistics.median(float(c[1]) for c in chk) / 1000
        floor = [sh([str(w / "floor"), "20000", libs[0]]).stdout.split() for _ in range(9)]
        open_us, statx_us, query_us = (statistics.median(float(f[k]) for f in floor) / 1000 for k in range(3))

        print("audit face (LD_AUDIT=%s, a copy of %s), load average %s" %
              (SHIM, installed, " ".join(open("/proc/loadavg").read().split()[:3])))
        print("medians of %d rounds, configurations interleaved in batches of %d execs; us per exec" %
              (args.rounds, args.batch))
        print("kernel check alone (AT_EXECVE_CHECK of an allowed file): %.1f us once per file with its"
              " open+close, %.1f us repeated in a loop" % (check_us, check_loop_us))
        print("%-22s %9s %9s %6s %9s %6s   %s" % ("startup (wall)", "none", "audit", "ratio", "enforce", "ratio",
                                                  "child CPU per config"))
        for label, _, cfgs, _ in cases:
            r = res[label]
            line = "%-22s %9.0f %9.0f %6.2f" % (label, r["none"][0], r["audit"][0], r["audit"][0] / r["none"][0])
            line += (" %9.0f %6.2f" % (r["enforce"][0], r["enforce"][0] / r["none"][0])) if "enforce" in r else " " * 17
            line += "   " + " ".join("%s %.0f" % (c, r[c][1]) for c in cfgs)
            print(line)
        for label, _, cfgs, _ in cases[:2]:
            print("page faults per start (child, median of rounds), %s: %s" % (
                label, ", ".join("%s %.1f" % (c, res[label][c].faults) for c in cfgs)))
        t, p = res["/bin/true"], res["prog50 (50 DT_NEEDED)"]
        # Derived costs from child CPU time: unlike wall time it does not count waiting for a CPU,
        # which dominates the noise when other work shares this machine.
        # (medians of within-round differences, see paired())
        for mode in ("audit", "enforce"):
            d_true = paired(t["none"], t[mode])
            per_obj = (paired(p["none"], p[mode]) - d_true) / NLIBS
            # /bin/true under the face: libc.so.6 is checked; main program, ld.so and vDSO are not
            fixed = d_true - per_obj
            print("%-7s per library %.1f us (check %.1f + %.1f), fixed per process %.0f us"
                  " (of which %.0f us for any audit module: an empty one)  [child CPU]" %
                  (mode, per_obj, check_us, per_obj - check_us, fixed, paired(t["none"], t["empty"])))
        if twin:
            # The twin run, interleaved within itself: the face's own cost, without the kernel's
            # check (which the real run minus the twin gives, in place).
            tt, tp = twin["/bin/true"], twin["prog50 (50 DT_NEEDED)"]
            hooks = (paired(tp["none"], tp["hooks"]) - paired(tt["none"], tt["hooks"])) / NLIBS
            print("ld.so's own work per library for any module with la_objsearch and la_objopen (doing"
                  " nothing): %.1f us [twin run]" % hooks)
            for mode in ("audit", "enforce"):
                d_true = paired(tt["none"], tt[mode])
                face = (paired(tp["none"], tp[mode]) - d_true) / NLIBS
                real = (paired(p["none"], p[mode]) - paired(t["none"], t[mode])) / NLIBS
                print("%-7s twin (check faked): per library the face %.1f us + one check in place %.1f us (goal: face"
                      " <= 3 us); fixed per process %.0f us (goal <= 80), of which %.0f us for any audit module"
                      % (mode, face, real - face, d_true - face, paired(tt["none"], tt["empty"])))
            if AGAINST:
                d_true = paired(tt["none"], tt["against"])
                face = (paired(tp["none"], tp["against"]) - d_true) / NLIBS
                print("against %s (audit mode, twin): per library the face %.1f us, fixed per process %.0f us;"
                      " this build's minus that one's: /bin/true %+.1f us, prog50 %+.1f us (paired)"
                      % (AGAINST, face, d_true - face, paired(tt["against"], tt["audit"]),
                         paired(tp["against"], tp["audit"])))
        print("system calls the face makes per library besides the check, on their own: %.1f us = open O_PATH +"
              " close %.1f, statx %.1f, PROCMAP_QUERY %.1f (a loop of each)" %
              (open_us + statx_us + query_us, open_us, statx_us, query_us))
        if twin:
            # what no race-free audit module can go below here: it must make those calls, and ld.so
            # does its own work for the two callbacks whatever they do
            print("floor per library for any audit module that checks race-free: those calls + ld.so's own work"
                  " = %.1f us (goal for the face: <= 3 us)" % (open_us + statx_us + query_us + hooks))
        n_new, a_new = statistics.median(dl_new["none"]), statistics.median(dl_new["audit"])
        n_old, a_old = statistics.median(dl_old["none"]), statistics.median(dl_old["audit"])
        e_old = statistics.median(dl_old["empty"])
        print("dlopen of a new library:     none %.1f us, audit %.1f us, ratio %.2f (+%.1f us)" %
              (n_new, a_new, a_new / n_new, a_new - n_new))
        print("dlopen of a loaded library:  none %.0f ns, audit %.0f ns, ratio %.3f (with 50 other libraries loaded);"
              " an empty audit module %.0f ns, ratio %.3f: the face against it %.3f" %
              (n_old, a_old, a_old / n_old, e_old, e_old / n_old, a_old / e_old))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

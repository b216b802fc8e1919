#!/usr/bin/env python3
"""Cost of an exec through the preload face's propagation wrappers, as a ratio against no shim.

A C driver starts /bin/true N times with envp = environ, by fork+execve() and by posix_spawn().
Before its loop it puts the shim into its own environ (setenv LD_PRELOAD, and LD_AUDIT when the
audit face is built in), so the children are the same on both sides; only the parent differs:
  baseline  the driver starts without the shim (its execve is libc's);
  shimmed   the driver starts with LD_PRELOAD=libexeccheck.so (its execve is the wrapper that
            rewrites envp).
Rounds are interleaved and the medians compared (the machine is shared and noisy).
Goal (issue 4): exec within 10% of baseline.

Beside it, the start-up of a process whose LD_PRELOAD names the shim through $LIB (as `execcheck
run` and a multilib image do) against one that names it by its path: the shim must then find out
which entry is its own (propagate.c, struct lib_search), from libc's directory or ld.so's own list.

    python bench/bench_propagation.py [--rounds 15] [--execs 200]
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

import execcheck

DRIVER = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <time.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
typedef int (*execve_fn)(const char *, char *const[], char *const[]);
/* driver N PRELOAD AUDIT ROUTE: N times /bin/true by fork+execve or by posix_spawn;
 * ROUTE "overhead": ns per execve() of a file that does not exist, through the execve symbol (the
 * wrapper, when preloaded) and through libc's own, alternating, best of 20 rounds of N calls */
int main(int argc, char **argv) {
    int n = atoi(argv[1]), spawn = !strcmp(argv[4], "posix_spawn");
    char *cargv[] = {"true", NULL};
    setenv("LD_PRELOAD", argv[2], 1);
    if (argv[3][0]) setenv("LD_AUDIT", argv[3], 1);
    if (!strcmp(argv[4], "overhead")) {
        /* libc's own (RTLD_NEXT from the program would find the preload's) */
        execve_fn libc = (execve_fn)dlsym(dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD), "execve"), fns[2] = {execve, libc};
        double best[2] = {0, 0};
        for (int r = 0; r < 40; r++) {
            double t = now(), per;
            for (int i = 0; i < n; i++) fns[r & 1]("/nonexistent/execcheck-bench", cargv, environ);
            per = (now() - t) / n;
            if (r < 2 || per < best[r & 1]) best[r & 1] = per;
        }
        printf("%.1f %.1f\n", best[0], best[1]);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        pid_t p;
        int st;
        if (spawn) {
            if (posix_spawn(&p, "/bin/true", NULL, NULL, cargv, environ)) return 1;
        } else if ((p = fork()) == 0) {
            execve("/bin/true", cargv, environ);
            _exit(127);
        }
        waitpid(p, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st)) return 1;
    }
    return 0;
}
"""


def has_audit_face(path):
    from elftools.elf.elffile import ELFFile
    with open(path, "rb") as f:
        return any(s.name == "la_version" and s["st_shndx"] != "SHN_UNDEF"
                   for s in ELFFile(f).get_section_by_name(".dynsym").iter_symbols())


def lib_entry_start(shim, entry, rounds, n=200):
    """Median child CPU us per /bin/true start under LD_PRELOAD=entry minus under LD_PRELOAD=shim,
    the two interleaved round by round (order alternating)."""
    import resource

    def batch(value):
        env = {"PATH": "/usr/bin:/bin", "LD_PRELOAD": value}
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        for _ in range(n):
            os.waitpid(os.posix_spawn("/bin/true", ["/bin/true"], env), 0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) / n * 1e6

    diffs = []
    for i in range(rounds):
        pair = (shim, entry) if i % 2 == 0 else (entry, shim)
        got = {v: batch(v) for v in pair}
        diffs.append(got[entry] - got[shim])
    return statistics.median(diffs)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--execs", type=int, default=200)
    a = ap.parse_args()
    shim = execcheck.lib_path()
    audit = shim if has_audit_face(shim) else ""
    with tempfile.TemporaryDirectory() as d:
        drv = os.path.join(d, "driver")
        with open(drv + ".c", "w") as f:
            f.write(DRIVER)
        subprocess.run([os.environ.get("CC", "cc"), "-O2", "-o", drv, drv + ".c"], check=True)
        plain = {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "LD_AUDIT")}
        sides = {"baseline": plain, "shimmed": dict(plain, LD_PRELOAD=shim)}
        routes = ("execve", "posix_spawn")
        times = {(r, k): [] for r in routes for k in sides}
        for _ in range(a.rounds):
            for route in routes:
                for name, env in sides.items():
                    t = time.perf_counter()
                    r = subprocess.run([drv, str(a.execs), shim, audit, route], env=env)
                    times[(route, name)].append((time.perf_counter() - t) / a.execs * 1e6)
                    if r.returncode:
                        sys.exit("driver failed (%s, %s)" % (route, name))
        out = subprocess.run([drv, "20000", shim, audit, "overhead"], env=sides["shimmed"], capture_output=True,
                             text=True, check=True).stdout.split()
    wrapped, libc = float(out[0]) / 1000, float(out[1]) / 1000
    print("/bin/true started %d times x %d rounds (children shimmed on both sides%s), median us per start"
          % (a.execs, a.rounds, ", audit face on" if audit else ""))
    print("  %-12s %10s %10s %7s" % ("route", "baseline", "shimmed", "ratio"))
    for route in routes:
        b, s_ = statistics.median(times[(route, "baseline")]), statistics.median(times[(route, "shimmed")])
        print("  %-12s %10.1f %10.1f %7.3f" % (route, b, s_, s_ / b))
    print("  baseline: the parent without the shim; shimmed: the parent's call goes through the wrapper"
          " (goal: ratio <= 1.10)")
    b = statistics.median(times[("execve", "baseline")])
    print("the wrapper's own cost, in one process: execve() of a missing file %.2f us through it, %.2f us"
          " through libc's: +%.2f us per exec, %.2f%% of a /bin/true start" % (wrapped, libc, wrapped - libc,
                                                                              100 * (wrapped - libc) / b))
    entry = execcheck.shim.multilib_path()
    if entry:
        print("a start with LD_PRELOAD naming the shim through $LIB (%s) against by its path: %+.1f us of child "
              "CPU (median of %d paired rounds)" % (entry, lib_entry_start(shim, entry, a.rounds), a.rounds))
    else:
        print("(no 32-bit shim was built: no $LIB entry to measure)")

if __name__ == "__main__":
    main()

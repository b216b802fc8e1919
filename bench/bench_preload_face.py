#!/usr/bin/env python3
"""Cost of the preload face's dlopen guard, as ratios against no shim, side by side in one run.

A C driver, in a process with 50 other libraries loaded (DT_NEEDED) and in one with libc only:
  new          dlopen() of 50 libraries it has never seen, by path: us per dlopen (the guard
               predicts, checks the file with the kernel, loads it by path, then sweeps)
  loaded/path  dlopen()+dlclose() of a library already loaded by dlopen, by the same path
  loaded/name  dlopen()+dlclose() of a start-up library by its bare name (a DT_NEEDED one)
The loaded cases are ns per pair, best of 20 rounds of many calls (the least disturbed figure).
Configurations: none (no preload), empty (an empty library in LD_PRELOAD: what any preload costs:
one more object in the process changes where glibc's own name matching spends its time, by up to
50 % on this machine, either way, with the length of the preload's path) and shim (a copy of
libexeccheck.so, audit mode; both preloads have paths of the same length). They run
in turn, round after round, and each figure is the median of the rounds. In the shim's process
the loaded cases are also timed through libc's own dlopen (dlsym on libc's handle), alternating with
the shim's round by round: that ratio is the guard's own cost, free of the layout effect.
Goal (issue 4): an already-loaded dlopen within 5% of no shim.
Also printed: the cost of reading ld.so's default directories (once per process), the CPU time of starting a program with 50 libraries (the tripwire checks each, and
the shim's start-up looks past them for libc's functions) and page faults per /bin/true start.

    python bench/bench_preload_face.py [--rounds 9] [--repeat 20000]
"""
import argparse
import os
import pathlib
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile

from installed import shim_path  # bench/ is this script's path

SHIM = shim_path()

NLIBS = 50
NNEW = 50

DRIVER_C = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
typedef void *(*dlopen_fn)(const char *, int);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e9 + t.tv_nsec; }
/* ns per dlopen+dlclose of a loaded object through f, best of 20 rounds of rep pairs; the two
 * entry points alternate round by round so that both see the same state of the machine */
static void pairs(dlopen_fn a, dlopen_fn b, const char *name, int rep, double *best_a, double *best_b)
{
    for (int r = 0; r < 40; r++) {
        dlopen_fn f = r & 1 ? b : a;
        double t = now(), per;
        for (int i = 0; i < rep; i++) {
            void *h = f(name, RTLD_NOW);
            if (!h) { fprintf(stderr, "dlopen %s: %s\n", name, dlerror()); exit(3); }
            dlclose(h);
        }
        per = (now() - t) / rep;
        double *best = r & 1 ? best_b : best_a;
        if (r < 2 || per < *best) *best = per;
    }
}
/* dl DIR N REPEAT NAME: us per dlopen of DIR/libn0..N-1.so (new), then ns per dlopen+dlclose of the
 * last of them (loaded, by path) and of NAME (a start-up library, by name), each through the
 * dlopen symbol (the shim's, when preloaded) and through libc's own dlopen in the same process */
int main(int argc, char **argv)
{
    int n = atoi(argv[2]), rep = atoi(argv[3]);
    char path[4096];
    double t0 = now(), t1, p_sym, p_libc, n_sym, n_libc;
    /* libc's own dlopen (RTLD_NEXT from the program would find the preload's first) */
    dlopen_fn libc = (dlopen_fn)dlsym(dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD), "dlopen");
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/libn%d.so", argv[1], i);
        if (!dlopen(path, RTLD_NOW)) { fprintf(stderr, "%s\n", dlerror()); return 2; }
    }
    t1 = now();
    if (!libc) return 4;
    pairs(dlopen, libc, path, rep, &p_sym, &p_libc);
    pairs(dlopen, libc, argv[4], rep, &n_sym, &n_libc);
    printf("%.2f %.1f %.1f %.1f %.1f\n", (t1 - t0) / n / 1000, p_sym, n_sym, p_libc, n_libc);
    return 0;
}
"""


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def build(w):
    (w / "libs").mkdir()
    (w / "new").mkdir()
    (w / "driver.c").write_text(DRIVER_C)
    # The empty preload and the shim under paths of the same length, with the same file name and no
    # SONAME (the shim has none): glibc's own by-name matching is sensitive to where its strings land (an extra preload
    # alone moves it by up to 50 % here, either way, with the length of its path), so the two
    # processes must be laid out alike for their difference to be the shim's.
    (w / "e").mkdir()
    (w / "s").mkdir()
    (w / "empty.c").write_text("int execcheck_bench_empty;\n")
    sh(["cc", "-O2", "-shared", "-fPIC", "-o", str(w / "e" / "libexeccheck.so"),
        str(w / "empty.c")])
    shutil.copy2(SHIM, w / "s" / "libexeccheck.so")
    for i in range(NLIBS):
        src = w / ("l%d.c" % i)
        src.write_text("int f%d(void) { return %d; }\n" % (i, i))
        sh(["cc", "-O2", "-shared", "-fPIC", "-Wl,-soname,libl%d.so" % i, "-o", str(w / "libs" / ("libl%d.so" % i)),
            str(src)])
    # with 50 libraries loaded (linked, --no-as-needed so that each is DT_NEEDED), and with libc only
    sh(["cc", "-O2", "-o", str(w / "dl50"), str(w / "driver.c"), "-Wl,--no-as-needed", "-L" + str(w / "libs"),
        *("-ll%d" % i for i in range(NLIBS)), "-Wl,--enable-new-dtags,-rpath,$ORIGIN/libs"])
    sh(["cc", "-O2", "-o", str(w / "dl0"), str(w / "driver.c")])
    # a program that only starts: 50 libraries to walk, check and look past
    (w / "empty_main.c").write_text("int main(void) { return 0; }\n")
    sh(["cc", "-O2", "-o", str(w / "start50"), str(w / "empty_main.c"), "-Wl,--no-as-needed", "-L" + str(w / "libs"),
        *("-ll%d" % i for i in range(NLIBS)), "-Wl,--enable-new-dtags,-rpath,$ORIGIN/libs"])


def new_libs(w, tag):
    d = w / "new" / tag
    d.mkdir()
    (w / "n.c").write_text("int g(void) { return 1; }\n")
    sh(["cc", "-O2", "-shared", "-fPIC", "-o", str(d / "libn0.so"), str(w / "n.c")])
    for i in range(1, NNEW):
        shutil.copy2(d / "libn0.so", d / ("libn%d.so" % i))  # distinct inodes: each one a new load
    return d


def env_for(w, config):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LD_", "EXECCHECK_"))}
    if config == "empty":
        env["LD_PRELOAD"] = str(w / "e" / "libexeccheck.so")
    elif config == "shim":
        env["LD_PRELOAD"] = str(w / "s" / "libexeccheck.so")  # the shim, laid out like the empty one
    return env


def start_cpu(prog, envs, n=100, rounds=9):
    """us of CPU (children's user + system) per start of prog under each env, the envs in turn
    within each round; medians of the rounds."""
    per = {k: [] for k in envs}
    for _ in range(rounds):
        for k, env in envs.items():
            r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            for _ in range(n):
                os.waitpid(os.posix_spawn(prog, [prog], env), 0)
            r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            per[k].append((r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime) * 1e6 / n)
    return {k: statistics.median(v) for k, v in per.items()}


def start_faults(env, n=200):
    """Page faults per start of /bin/true under env: what a process pays at start for the preload."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt
    for _ in range(n):
        os.waitpid(os.posix_spawn("/bin/true", ["/bin/true"], env), 0)
    return (resource.getrusage(resource.RUSAGE_CHILDREN).ru_minflt - before) / n


def loader_scan_us(loader="/lib64/ld-linux-x86-64.so.2", n=2000):
    """us per ec_ld_sysdirs_find over the loader's read-only PT_LOAD segments, as the guard scans
    them in memory (csrc/ldsysdirs.c, called through cffi)."""
    import time
    from elftools.elf.elffile import ELFFile
    from execcheck._native import ffi, lib
    with open(loader, "rb") as f:
        data = f.read()
        loads = [s for s in ELFFile(f).iter_segments() if s["p_type"] == "PT_LOAD" and not s["p_flags"] & 2]
        # in the guard's order: read-only data, then code
        segs = [data[s["p_offset"]:s["p_offset"] + s["p_filesz"]]
                for s in sorted(loads, key=lambda s: bool(s["p_flags"] & 1))]
    out = ffi.new("char[2048]")
    t = time.perf_counter()
    for _ in range(n):
        for seg in segs:  # the guard stops at the segment that holds the list
            if lib.ec_ld_sysdirs_find(seg, len(seg), out, 2048):
                break
    return (time.perf_counter() - t) * 1e6 / n


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--repeat", type=int, default=20000, help="dlopen+dlclose pairs per timing round")
    a = ap.parse_args()
    if not os.path.exists(SHIM):
        sys.exit("no shim at %s: build first (make install or make inplace)" % SHIM)
    configs = ("none", "empty", "shim")
    procs = (("dl50", "50 libraries loaded", "libl7.so"), ("dl0", "libc only", "libc.so.6"))
    w = pathlib.Path(tempfile.mkdtemp(prefix="bench-preload-"))
    try:
        build(w)
        res = {(p, c): [] for p, _, _ in procs for c in configs}
        for r in range(a.rounds):
            for p, _, name in procs:
                for c in configs:
                    d = new_libs(w, "%s-%s-%d" % (p, c, r))
                    out = sh([str(w / p), str(d), str(NNEW), str(a.repeat), name], env=env_for(w, c)).stdout
                    res[(p, c)].append(tuple(map(float, out.split())))
        print("preload face (LD_PRELOAD=%s, audit mode), load average %s" %
              (SHIM, " ".join(open("/proc/loadavg").read().split()[:3])))
        print("medians of %d rounds, configurations run in turn each round" % a.rounds)
        print("%-20s %-22s %8s %8s %8s %7s %7s  %s" % ("process", "dlopen", "none", "empty", "shim", "shim/",
                                                     "shim/", "guard's own: shim's dlopen / libc's"))
        print("%-20s %-22s %8s %8s %8s %7s %7s  %s" % ("", "", "", "preload", "", "none", "empty",
                                                     "dlopen, same process"))
        cases = (("new library (us)", 0, None), ("loaded, by path (ns)", 1, 3), ("loaded, by name (ns)", 2, 4))
        for p, label, _ in procs:
            for i, (what, k, k_libc) in enumerate(cases):
                m = {c: statistics.median(x[k] for x in res[(p, c)]) for c in configs}
                own = ""
                if k_libc is not None:
                    libc = statistics.median(x[k_libc] for x in res[(p, "shim")])
                    own = "%.1f / %.1f = %.3f" % (m["shim"], libc, m["shim"] / libc)
                print("%-20s %-22s %8.1f %8.1f %8.1f %7.3f %7.3f  %s" % (
                    label if i == 0 else "", what, m["none"], m["empty"], m["shim"], m["shim"] / m["none"],
                    m["shim"] / m["empty"], own))
        print("goal: an already-loaded dlopen within 5% of no shim (issue 4)")
        cpu = start_cpu(str(w / "start50"), {c: env_for(w, c) for c in configs})
        print("start of a program with %d libraries (us of CPU, the kernel's checks included): %s; shim - empty "
              "%.0f us" % (NLIBS, ", ".join("%s %.0f" % (c, cpu[c]) for c in configs), cpu["shim"] - cpu["empty"]))
        print("reading ld.so's default directories (once per process, at the guard's first prediction): "
              "%.1f us per scan of its read-only segments" % loader_scan_us())
        faults = {c: start_faults(env_for(w, c)) for c in configs}
        print("page faults per /bin/true start (the children's rusage, 200 starts; a count, steady where"
              " times are not): %s" % ", ".join("%s %.1f" % (c, faults[c]) for c in configs))
    finally:
        shutil.rmtree(w, ignore_errors=True)


if __name__ == "__main__":
    main()

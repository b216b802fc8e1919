#!/usr/bin/env python3
"""Cost of an exec through the preload face's propagation wrappers, as a ratio against no shim.

A C driver fork+execve()s /bin/true N times with envp = environ. Before its loop it puts the
shim into its own environ (setenv LD_PRELOAD, and LD_AUDIT when the audit face is built in), so
the children are the same on both sides; only the parent differs:
  baseline  the driver starts without the shim (its execve is libc's);
  shimmed   the driver starts with LD_PRELOAD=libexeccheck.so (its execve is the wrapper that
            rewrites envp).
Rounds are interleaved and the medians compared (the machine is shared and noisy).
Goal (issue 4): exec within 10% of baseline.

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
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>
extern char **environ;
int main(int argc, char **argv) {
    int n = atoi(argv[1]);
    char *cargv[] = {"true", NULL};
    setenv("LD_PRELOAD", argv[2], 1);
    if (argv[3][0]) setenv("LD_AUDIT", argv[3], 1);
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        if (p == 0) { execve("/bin/true", cargv, environ); _exit(127); }
        int st; waitpid(p, &st, 0);
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
        times = {k: [] for k in sides}
        for _ in range(a.rounds):
            for name, env in sides.items():
                t = time.perf_counter()
                r = subprocess.run([drv, str(a.execs), shim, audit], env=env)
                times[name].append((time.perf_counter() - t) / a.execs * 1e6)
                if r.returncode:
                    sys.exit("driver failed (%s)" % name)
    b, s = statistics.median(times["baseline"]), statistics.median(times["shimmed"])
    print("fork+execve of /bin/true (children shimmed on both sides%s), %d execs x %d rounds, median us/exec"
          % (", audit face on" if audit else "", a.execs, a.rounds))
    print("  baseline  parent without the shim      %8.1f" % b)
    print("  shimmed   parent with the exec wrapper %8.1f" % s)
    print("  ratio shimmed/baseline                 %8.3f   (goal <= 1.10)" % (s / b))


if __name__ == "__main__":
    main()

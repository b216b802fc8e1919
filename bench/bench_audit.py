"""Benchmark: execcheck's resolver per file against `ld.so --list` per file, side by side.

Inputs: every dynamic ELF file of /usr/bin and /usr/lib/x86_64-linux-gnu. For each round the
files are taken in the same order and, file by file, `ld.so --list FILE` (one process per file, as
a tool would run it) and execcheck's resolution of the same file are timed back to back, so both
see the same machine state. Reported per file, median of the rounds:

  ld.so --list        fork+exec of the loader in list mode (what ldd does, minus the shell)
  execcheck cold      the first resolution in a fresh session (files not yet read)
  execcheck warm      the same, again, in the same session (the audit's case: shared libraries)
  execcheck C only    the warm resolution without building Python objects (what the shim pays)
  audit end to end    `execcheck audit` over both directories, findings and policy checks included
  lddtree             pax-utils lddtree, one process per file, if installed

Goal (issue 6): warm <= 0.2 ms per file and >= 5x faster than ld.so --list.
"""
import argparse
import glob
import os
import shutil
import statistics
import subprocess
import sys
import time

from execcheck._native import ffi, lib
from execcheck.audit.resolver import Session, read_elf

LDSO = "/lib64/ld-linux-x86-64.so.2"
ROUNDS = 3


def inputs():
    out = []
    seen = set()
    for pattern in ("/usr/bin/*", "/usr/lib/x86_64-linux-gnu/*.so*"):
        for p in sorted(glob.glob(pattern)):
            rp = os.path.realpath(p)
            if rp in seen or not os.path.isfile(rp):
                continue
            try:
                e = read_elf(rp)
            except OSError:
                continue
            if e.ok and e.machine == 62 and (e.interp or e.type == 3) and (e.needed or e.interp):
                seen.add(rp)
                out.append((p, not e.interp))
    return out


def c_request(path, as_library):
    req = ffi.new("struct ec_ld_request *")
    c = ffi.new("char[]", path.encode())
    req.path, req.as_library, req.secure = c, 1 if as_library else 0, -1
    return req, c


def main():
    global ROUNDS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=ROUNDS, help="rounds over all files (default %(default)s)")
    ROUNDS = max(1, ap.parse_args().rounds)
    files = inputs()
    n = len(files)
    lddtree = shutil.which("lddtree")
    rows = {k: [] for k in ("ldso", "cold", "warm", "c", "lddtree")}
    for _ in range(ROUNDS):
        cold_session, warm_session = Session(), Session()
        for p, as_lib in files:  # warm the warm session: every file read once
            warm_session.resolve(p, as_library=as_lib)
        reqs = [c_request(p, a) for p, a in files]
        t = dict.fromkeys(rows, 0.0)
        for (p, as_lib), (req, _keep) in zip(files, reqs):
            a = time.perf_counter()
            subprocess.run([LDSO, "--list", p], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            b = time.perf_counter()
            cold_session.resolve(p, as_library=as_lib)
            c = time.perf_counter()
            warm_session.resolve(p, as_library=as_lib)
            d = time.perf_counter()
            lib.ec_ld_resolve(warm_session._s, req)
            e = time.perf_counter()
            t["ldso"] += b - a
            t["cold"] += c - b
            t["warm"] += d - c
            t["c"] += e - d
            if lddtree:
                f = time.perf_counter()
                subprocess.run([lddtree, p], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                t["lddtree"] += time.perf_counter() - f
        for k in rows:
            rows[k].append(t[k] / n * 1000)
    a = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "execcheck", "audit", "--fail-on", "none", "--json",
                        "/usr/bin", "/usr/lib/x86_64-linux-gnu"], stdout=subprocess.DEVNULL)
    audit_ms = (time.perf_counter() - a) / n * 1000
    med = {k: statistics.median(v) for k, v in rows.items() if v and any(v)}
    print("files: %d dynamic ELF files (/usr/bin, /usr/lib/x86_64-linux-gnu), %d rounds, medians" % (n, ROUNDS))
    print("%-34s %10s %12s" % ("", "ms/file", "ld.so/this"))
    labels = [("ldso", "ld.so --list (1 process per file)"), ("lddtree", "pax-utils lddtree (1 process per file)"),
              ("cold", "execcheck resolve, cold session"), ("warm", "execcheck resolve, warm session"),
              ("c", "execcheck C resolver only, warm")]
    for k, label in labels:
        if k in med:
            print("%-34s %10.3f %11.1fx" % (label, med[k], med["ldso"] / med[k]))
        elif k == "lddtree":
            print("%-34s %10s" % (label, "not installed"))
    print("%-34s %10.3f %11.1fx   (one run, exit %d)" % ("execcheck audit, end to end", audit_ms,
                                                         med["ldso"] / audit_ms, r.returncode))
    ok = med["warm"] <= 0.2 and med["ldso"] / med["warm"] >= 5
    print("goal (warm <= 0.2 ms/file and >= 5x faster than ld.so --list): %s" % ("met" if ok else "NOT met"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

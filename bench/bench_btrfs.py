"""What the audit face costs where its libraries live on btrfs, against the same files on tmpfs,
as ratios measured side by side in one run.

On btrfs a mapping's (dev, ino) names a file of every subvolume (mapped.c): the face asks the
kernel which file each segment's mapping holds (/proc/self/map_files, which root may open), or,
without CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE, compares each library's loaded segments with the
file it checks, which costs about the library's size in memory reads. Here /bin/true loads
libc.so.6, and a program its 50 small libraries, from a copy in a btrfs subvolume or on tmpfs
(LD_LIBRARY_PATH), without and with the audit face (audit mode), both ways (as root, and with those
capabilities out of the bounding set). Needs root: a btrfs image in a temp dir, loop-mounted in a
private mount namespace.

    python bench/bench_btrfs.py [--rounds 21] [--batch 20] [--against SHIM] [--preload]

--preload: the preload face instead (LD_PRELOAD), whose tripwire sweeps the same libraries after
relocation (as root a map_files look for each one's writable segment, which no compare can prove).

--against: another build of libexeccheck.so (an older checkout's) run beside this one: what this
build adds to it, paired by round.
"""
import argparse
import itertools
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

import bench_audit_face as face  # bench/ is this script's path

INSIDE = "EXECCHECK_BENCH_BTRFS_NS"


def libc_path():
    out = subprocess.run(["ldd", "/bin/true"], capture_output=True, text=True).stdout
    return next(l.split("=>")[1].split()[0] for l in out.splitlines() if "libc.so.6" in l)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=21)
    ap.add_argument("--batch", type=int, default=20, help="execs per configuration per round")
    ap.add_argument("--against", metavar="SHIM", help="another libexeccheck.so to compare this one with")
    ap.add_argument("--preload", action="store_true", help="the preload face (LD_PRELOAD), not the audit face")
    args = ap.parse_args()
    variable = "LD_PRELOAD=" if args.preload else "LD_AUDIT="
    face.AGAINST = os.path.realpath(args.against) if args.against else None
    if os.geteuid() != 0 or not shutil.which("mkfs.btrfs"):
        print("bench_btrfs: not measured here: needs root and mkfs.btrfs (btrfs-progs)")
        return  # `make bench` goes on with the others
    if not os.path.exists(face.SHIM):
        sys.exit("no shim at %s: build first (make install or make inplace)" % face.SHIM)
    if os.environ.get(INSIDE) != "1":  # mounts die with this private namespace
        env = dict(os.environ, **{INSIDE: "1"})
        os.execvpe("unshare", ["unshare", "--mount", "--propagation", "private", sys.executable] + sys.argv, env)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-btrfs-"))
    try:
        w = face.WORK = face.build(work)
        img, roots = w / "img", {"btrfs": w / "btrfs", "tmpfs": w / "tmpfs"}
        with open(img, "wb") as f:
            f.truncate(512 << 20)
        face.sh(["mkfs.btrfs", "-q", "-f", str(img)])
        for fs, d in roots.items():
            d.mkdir()
            face.sh(["mount", "-o", "loop", str(img), str(d)] if fs == "btrfs" else ["mount", "-t", "tmpfs", "none", str(d)])
        face.sh(["btrfs", "-q", "subvolume", "create", str(roots["btrfs"] / "root")])  # as a distribution's /
        face.sh(["mkdir", str(roots["tmpfs"] / "root")])
        for d in roots.values():
            shutil.copy2(libc_path(), d / "root" / "libc.so.6")
            for lib in (w / "libs").iterdir():
                shutil.copy2(lib, d / "root" / lib.name)
        # prog50 without its rpath: its libraries found through LD_LIBRARY_PATH, as libc
        face.sh(["cc", "-O2", "-o", str(w / "prog50n"), str(w / "prog50.c"), "-L" + str(w / "libs"),
                 *("-ll%d" % i for i in range(face.NLIBS))])
        base = face.env_for("none")
        configs = []
        for fs in roots:
            for shim in ("none", "audit") + (("against",) if face.AGAINST else ()):
                env = face.env_for(shim).replace("LD_AUDIT=", variable) if shim != "none" else base
                env = (env + ";" if env != "-" else "") + "LD_LIBRARY_PATH=%s" % (roots[fs] / "root")
                configs.append(((fs, shim), env))
        print("%s face, libraries on btrfs vs tmpfs (child CPU, median of %d rounds)" %
              ("preload" if args.preload else "audit", args.rounds))
        for (label, argv), (how, prefix) in itertools.product(
                (("/bin/true (libc.so.6: %.1f MB)" % (os.path.getsize(libc_path()) / 1e6), ["/bin/true"]),
                 ("prog50 (50 small libraries and libc)", [str(w / "prog50n")])),
                (("as root: /proc/self/map_files", []),
                 ("without CAP_SYS_ADMIN, CAP_CHECKPOINT_RESTORE: the bytes compared",
                  ["setpriv", "--bounding-set", "-sys_admin,-checkpoint_restore", "--"]))):
            out = face.sh(prefix + [str(w / "spawn"), str(args.rounds), str(args.batch), str(len(configs)),
                                    *(e for _, e in configs), "--", *argv]).stdout.split("\n")
            cpu = {c: [float(x) for x in out[3 * i + 1].split()] for i, (c, _) in enumerate(configs)}
            med = {c: statistics.median(v) for c, v in cpu.items()}
            print("  %s, %s" % (label, how))
            for fs in roots:
                print("    %-6s no shim %7.0f us, face %7.0f us: ratio %.3f" %
                      (fs, med[(fs, "none")], med[(fs, "audit")], med[(fs, "audit")] / med[(fs, "none")]))
            extra = statistics.median((bf - bn) - (tf - tn) for bn, bf, tn, tf in
                                      zip(cpu[("btrfs", "none")], cpu[("btrfs", "audit")],
                                          cpu[("tmpfs", "none")], cpu[("tmpfs", "audit")]))
            print("    the face's extra cost on btrfs, paired by round: %+.0f us per process" % extra)
            if face.AGAINST:
                more = statistics.median(a - b for a, b in zip(cpu[("btrfs", "audit")], cpu[("btrfs", "against")]))
                print("    this build against --against on btrfs, paired by round: %+.0f us per process" % more)
    finally:
        for d in ("btrfs", "tmpfs"):
            subprocess.run(["umount", str(work / d)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

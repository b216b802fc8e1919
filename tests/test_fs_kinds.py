"""The faces on the filesystems hardened images are made of: the same programs and libraries, and
the same refusals, on each kind, for the audit face (LD_AUDIT) and the preload face (LD_PRELOAD:
tripwire and dlopen guard), in each policy mode (audit_face_util's MODES).

Kinds, one fixture each, everything mounted in private mount namespaces only (loop devices set up
by mount, freed with the namespace's last mount):
  ext4, xfs         loop images, rw
  squashfs, erofs   loop images, read-only
  erofs-file        an erofs image mounted from its file, no loop device (Linux 6.12): an
                    anonymous device (major 0), as tmpfs' and overlayfs'
  composefs         overlayfs as bootc/ostree/composefs mount it: metacopy=on, redirect_dir=on, no
                    upper layer, a metadata layer whose files are sparse, carrying their mode and the
                    xattrs trusted.overlay.metacopy and trusted.overlay.redirect, over data-only
                    layers (`lowerdir=meta::data::nxdata`, Linux 6.5) holding the bytes: a file's
                    mode is its metadata file's, its bytes its object's. nxdata is a noexec mount.
  composefs-erofs   the same with the metadata layer an erofs image (mounted from its file)
  overlay-2fs       overlayfs whose layers are on different filesystems, as systemd-sysext merges
                    extension images over /usr, or a tmpfs upper layer over an image: three tmpfs
                    layers (lowerdir=A:B:C) filled in the same order, so that A's lib/libbad.so,
                    B's lib/libgood.so and C's x/libgood.so (0755) have one inode number

Each kind holds, at its root R (and seen again at N, the same files on a noexec mount):
  prog            tests/c/btrfs_prog.c: "main ran", then dlopen()s argv[1]
  prog644         the same program, mode 0644
  libuse          linked against lib/libgood.so ($ORIGIN/lib): "GOODRAN\\nlibfn 42"
  lib/libgood.so  0755, its constructor says GOODRAN (tests/c/btrfs_lib.c)
  lib/libbad.so   0644, its constructor says BAD RAN
composefs kinds also hold (every file there is a metadata file pointing to an object):
  lib/libobj644.so            metadata 0755, its object 0644
  lib/libnxobj.so             metadata 0755, its object on the noexec data layer
  lib/dup755.so, dup644.so    one object (deduplicated), metadata 0755 and 0644
and there lib/libbad.so is metadata 0644 over an object of mode 0755, prog644 shares prog's
object, and N is a second overlay of the same layers mounted noexec.

What the kernel says (AT_EXECVE_CHECK, as for an execve of that path) decides, and the faces must
agree: on overlayfs the overlay file's mode and the overlay mount's noexec; the object's mode and
mount play no part (test_the_kernels_verdicts). Since Linux 6.8 a mapping of an overlay file shows
the overlay's inode, not the object's (/proc/PID/maps and PROCMAP_QUERY use file_user_inode): on a
composefs overlay, where the numbers are the metadata layer's, each file - deduplicated or not -
maps under a (dev, ino) of its own, the one statx shows.

All cases of a kind and mode run in one namespace (setup per kind once, each case's program then
runs in turn), so the whole file stays quick; each test reads its own cases' results.
"""
import collections
import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

import execcheck
from audit_face_util import CONFIG_OVERLAY, ENFORCING, LDSO, MODES, SHIM, Kit, Result, clean_env
from conftest import C_DIR, in_mountns, need, need_check, need_landlock, need_mountns

TOOLS = {"ext4": "mkfs.ext4", "xfs": "mkfs.xfs", "squashfs": "mksquashfs", "erofs": "mkfs.erofs",
         "erofs-file": "mkfs.erofs", "composefs": None, "composefs-erofs": "mkfs.erofs", "overlay-2fs": None}
KINDS = tuple(TOOLS)
COMPOSEFS = ("composefs", "composefs-erofs")


def fs_in_kernel(name):
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == name for line in f if line.strip())


# ---- what is built, once ----

@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The programs and libraries of the module doc, and the flip modules (tests/c/flip_audit.c)."""
    need_check()
    need_mountns()
    top = tmp_path_factory.mktemp("fskinds-build")
    kit = Kit(top)
    use_c = top / "use.c"
    use_c.write_text('#include <stdio.h>\nint libfn(void);\nint main(void) { printf("libfn %d\\n", libfn()); return 0; }\n')
    b = {"prog": kit._cc("prog", C_DIR / "btrfs_prog.c", "-ldl"),
         "libgood.so": kit._cc("libgood.so", C_DIR / "btrfs_lib.c", "-shared", "-fPIC"),
         "libbad.so": kit._cc("libbad.so", C_DIR / "btrfs_lib.c", "-shared", "-fPIC", "-DBAD"),
         "flip_before.so": kit._cc("flip_before.so", C_DIR / "flip_audit.c", "-shared", "-fPIC"),
         "flip_after.so": kit._cc("flip_after.so", C_DIR / "flip_audit.c", "-shared", "-fPIC", "-DAFTER")}
    b["libuse"] = kit._cc("libuse", use_c, "-L%s" % top, "-l:libgood.so", "-Wl,-rpath,$ORIGIN/lib")
    return b


def stage(built, root):
    """The plain layout of the module doc under root (modes as they must be on the image)."""
    (root / "lib").mkdir(parents=True)
    for src, dst, mode in (("prog", "prog", 0o755), ("prog", "prog644", 0o644), ("libuse", "libuse", 0o755),
                           ("libgood.so", "lib/libgood.so", 0o755), ("libbad.so", "lib/libbad.so", 0o644)):
        shutil.copyfile(built[src], root / dst)
        os.chmod(root / dst, mode)
    return root


# metadata file (path under R, mode) -> object (data layer, path in it, mode)
COMPOSEFS_FILES = {
    ("prog", 0o755): ("data", "objects/prog", 0o755, "prog"),
    ("prog644", 0o644): ("data", "objects/prog", 0o755, "prog"),  # the program's own object
    ("libuse", 0o755): ("data", "objects/use", 0o755, "libuse"),
    ("lib/libgood.so", 0o755): ("data", "objects/good", 0o755, "libgood.so"),
    ("lib/libbad.so", 0o644): ("data", "objects/bad", 0o755, "libbad.so"),
    ("lib/libobj644.so", 0o755): ("data", "objects/good644", 0o644, "libgood.so"),
    ("lib/libnxobj.so", 0o755): ("nxdata", "nx/good", 0o755, "libgood.so"),
    ("lib/dup755.so", 0o755): ("data", "objects/dup", 0o755, "libgood.so"),
    ("lib/dup644.so", 0o644): ("data", "objects/dup", 0o755, "libgood.so"),
}


def composefs_layers(built, top):
    """top/meta (sparse metadata files with their modes and overlay xattrs), top/data and
    top/nxdata (the objects, named by their path below the data layers' roots)."""
    for (name, mode), (layer, obj, obj_mode, src) in COMPOSEFS_FILES.items():
        o = top / layer / obj
        if not o.exists():
            o.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(built[src], o)
            os.chmod(o, obj_mode)
        m = top / "meta" / name
        m.parent.mkdir(parents=True, exist_ok=True)
        with open(m, "wb") as f:
            f.truncate(o.stat().st_size)  # sparse: the size is the object's, the bytes are not here
        os.chmod(m, mode)
        os.setxattr(m, "trusted.overlay.metacopy", b"")
        os.setxattr(m, "trusted.overlay.redirect", ("/" + obj).encode())


class Kind:
    """A filesystem kind: `setup`, shell lines that mount it in a namespace with the layout at
    `root` (exec) and `nx` (noexec). Results of each mode's run are kept (results())."""

    def __init__(self, name, top, setup, built):
        self.name, self.top, self.setup, self.built = name, top, setup, built
        self.root, self.nx, self.names = top / "R", top / "N", top / "names"
        self._results = {}

    def results(self, mode):
        if mode not in self._results:
            self._results[mode] = run_cases(self, mode, cases(self))
        return self._results[mode]


def mount_twice(top, mount_r, ro):
    """Setup: mount_r mounts the kind at R; N is a bind mount of it, noexec."""
    flags = "ro,noexec" if ro else "noexec"
    return [mount_r, 'mount --bind "%s/R" "%s/N"' % (top, top), 'mount -o remount,bind,%s "%s/N"' % (flags, top)]


def file_mount(img, mnt):
    """A shell line that mounts an erofs image from its file, with no loop device: util-linux's
    mount would set one up for a regular file, so the mount(2) call is made by Python."""
    code = ("import ctypes, os, sys; libc = ctypes.CDLL(None, use_errno=True); "
            "r = libc.mount(sys.argv[1].encode(), sys.argv[2].encode(), b'erofs', 1, None); "
            "sys.exit(r and os.strerror(ctypes.get_errno()))")
    return "%s -c %s %s %s" % (shlex.quote(sys.executable), shlex.quote(code), shlex.quote(str(img)), shlex.quote(str(mnt)))


def overlay_2fs_setup(built, top):
    """Setup of the overlay-2fs kind (module doc): each layer a new tmpfs, filled in the same order
    (a directory, then the file: the same inode numbers)."""
    lines = []
    for layer, (d, src, dst, mode) in (("A", ("lib", "libbad.so", "libbad.so", "644")),
                                       ("B", ("lib", "libgood.so", "libgood.so", "755")),
                                       ("C", ("x", "libgood.so", "libgood.so", "755"))):
        at = top / layer
        at.mkdir()
        lines += ['mount -t tmpfs none "%s"' % at, 'mkdir "%s/%s"' % (at, d),
                  'cp "%s" "%s/%s/%s"' % (built[src], at, d, dst), 'chmod %s "%s/%s/%s"' % (mode, at, d, dst)]
    for src, dst, mode in (("prog", "prog", "755"), ("prog", "prog644", "644"), ("libuse", "libuse", "755")):
        lines += ['cp "%s" "%s/B/%s"' % (built[src], top, dst), 'chmod %s "%s/B/%s"' % (mode, top, dst)]
    opts = "ro,lowerdir=%s/A:%s/B:%s/C" % (top, top, top)
    return lines + ['mount -t overlay overlay -o "%s" "%s/R"' % (opts, top),
                    'mount -t overlay overlay -o "%s,noexec" "%s/N"' % (opts, top)]


def make_kind(name, built, tmp_path_factory):
    need(fs_in_kernel(name.split("-")[0].replace("composefs", "overlay")) or
         subprocess.run(["modprobe", name.split("-")[0]], capture_output=True).returncode == 0,
         "needs %s in the kernel" % name)
    tool = TOOLS[name]
    need(tool is None or shutil.which(tool) is not None, "needs %s" % tool)
    top = tmp_path_factory.mktemp("fs-" + name)
    for d in ("R", "N", "names"):
        (top / d).mkdir()
    img = top / "img"
    if name == "overlay-2fs":
        return Kind(name, top, overlay_2fs_setup(built, top), built)
    if name in COMPOSEFS:
        if name == "composefs-erofs":
            composefs_layers(built, top / "src")
            meta = top / "meta"
            meta.mkdir()
            r = subprocess.run(["mkfs.erofs", "--quiet", str(img), str(top / "src/meta")], capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            layers, setup = top / "src", [file_mount(img, meta)]
        else:
            composefs_layers(built, top)
            layers, meta, setup = top, top / "meta", []
        setup += ['mount --bind "%s/nxdata" "%s/nxdata"' % (layers, layers),
                  'mount -o remount,bind,noexec "%s/nxdata"' % layers]
        opts = "ro,metacopy=on,redirect_dir=on,lowerdir=%s::%s/data::%s/nxdata" % (meta, layers, layers)
        setup += ['mount -t overlay overlay -o "%s" "%s/R"' % (opts, top),
                  'mount -t overlay overlay -o "%s,noexec" "%s/N"' % (opts, top)]
        return Kind(name, top, setup, built)
    src = stage(built, top / "src")
    if name == "ext4":
        r = subprocess.run(["mkfs.ext4", "-q", "-d", str(src), str(img), "16M"], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        return Kind(name, top, mount_twice(top, 'mount -o loop "%s" "%s/R"' % (img, top), ro=False), built)
    if name == "xfs":
        with open(img, "wb") as f:
            f.truncate(300 << 20)  # mkfs.xfs' least size; sparse
        r = subprocess.run(["mkfs.xfs", "-q", str(img)], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        r = in_mountns('mount -o loop "$1" "$2"; cp -a "$3/." "$2/"; umount "$2"', img, top / "R", src)
        assert r.returncode == 0, r.stderr
        return Kind(name, top, mount_twice(top, 'mount -o loop "%s" "%s/R"' % (img, top), ro=False), built)
    if name == "squashfs":
        r = subprocess.run(["mksquashfs", str(src), str(img), "-quiet", "-noappend", "-no-progress"],
                           capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        return Kind(name, top, mount_twice(top, 'mount -o loop,ro "%s" "%s/R"' % (img, top), ro=True), built)
    r = subprocess.run(["mkfs.erofs", "--quiet", str(img), str(src)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    if name == "erofs":
        return Kind(name, top, mount_twice(top, 'mount -o loop,ro "%s" "%s/R"' % (img, top), ro=True), built)
    return Kind(name, top, mount_twice(top, file_mount(img, top / "R"), ro=True), built)


def _kind_fixture(name):
    @pytest.fixture(scope="module")
    def fixture(built, tmp_path_factory):
        return make_kind(name, built, tmp_path_factory)
    fixture.__doc__ = "The %s kind (module doc)." % name
    return fixture


ext4 = _kind_fixture("ext4")
xfs = _kind_fixture("xfs")
squashfs = _kind_fixture("squashfs")
erofs = _kind_fixture("erofs")
erofs_file = _kind_fixture("erofs-file")
composefs = _kind_fixture("composefs")
composefs_erofs = _kind_fixture("composefs-erofs")
overlay_2fs = _kind_fixture("overlay-2fs")


@pytest.fixture
def kind(request):
    return request.getfixturevalue(request.param.replace("-", "_"))


# ---- the cases, all run in one namespace per kind and mode ----

Case = collections.namedtuple("Case", "argv face env setup")


def case(argv, face, env=None, setup=()):
    return Case([str(a) for a in argv], dict(face), dict(env or {}), tuple(setup))


def audit(**more):
    return dict({"LD_AUDIT": SHIM}, **more)


def preload(*first):
    return {"LD_PRELOAD": " ".join([str(p) for p in first] + [SHIM])}


def swap_cases(k, tag, good, bad, built):
    """A library name (a symlink in a tmpfs) turned between ld.so's load and the faces' check:
    preload face: LD_PRELOAD="shim link", link -> bad, whose constructor turns link to good before
    the tripwire's sweep; audit face: LD_AUDIT="before:shim:after" (tests/c/flip_audit.c), link ->
    good when the shim's la_objsearch checks it, -> bad when ld.so opens it, -> good again when
    the shim's la_objopen looks (dlopen(link))."""
    link, spare = k.names / (tag + ".so"), k.names / (tag + ".spare")
    return {
        tag + "-preload": case([k.root / "prog"], {"LD_PRELOAD": "%s %s" % (SHIM, link)},
                               {"FLIP_FROM": spare, "FLIP_TO": link},
                               ['ln -sfn "%s" "%s"' % (bad, link), 'ln -sfn "%s" "%s"' % (good, spare)]),
        tag + "-audit": case([k.root / "prog", link],
                             {"LD_AUDIT": "%s:%s:%s" % (built["flip_before.so"], SHIM, built["flip_after.so"])},
                             {"FLIP_LINK": link, "FLIP_GOOD": good, "FLIP_BAD": bad},
                             ['ln -sfn "%s" "%s"' % (good, link)]),
    }


def cases(k):
    R, N, lib = k.root, k.nx, k.root / "lib"
    built = k.built
    c = {
        "good-needed-audit": case([R / "libuse"], audit()),
        "good-ldso-audit": case([LDSO, R / "libuse"], audit()),
        "good-needed-preload": case([R / "libuse"], preload()),
        "good-dlopen-audit": case([R / "prog", lib / "libgood.so"], audit()),
        "good-dlopen-preload": case([R / "prog", lib / "libgood.so"], preload()),
        "good-preloaded": case([R / "prog"], preload(lib / "libgood.so")),
        "bad-dlopen-audit": case([R / "prog", lib / "libbad.so"], audit()),
        "bad-dlopen-preload": case([R / "prog", lib / "libbad.so"], preload()),
        "bad-preloaded": case([R / "prog"], preload(lib / "libbad.so")),
        "nx-dlopen-audit": case([R / "prog", N / "lib/libgood.so"], audit()),
        "nx-dlopen-preload": case([R / "prog", N / "lib/libgood.so"], preload()),
        "prog644-ldso-audit": case([LDSO, R / "prog644"], audit()),
        "prog644-ldso-preload": case([LDSO, R / "prog644"], preload()),
    }
    c.update(swap_cases(k, "swap", lib / "libgood.so", lib / "libbad.so", built))
    if k.name in COMPOSEFS:
        c.update({
            "obj644-dlopen-audit": case([R / "prog", lib / "libobj644.so"], audit()),
            "obj644-dlopen-preload": case([R / "prog", lib / "libobj644.so"], preload()),
            "nxobj-dlopen-audit": case([R / "prog", lib / "libnxobj.so"], audit()),
            "nxobj-dlopen-preload": case([R / "prog", lib / "libnxobj.so"], preload()),
            "dup-preloaded": case([R / "prog"], preload(lib / "dup755.so", lib / "dup644.so")),
            "dup-dlopen-audit": case([R / "prog", lib / "dup644.so"], audit(LD_PRELOAD=str(lib / "dup755.so"))),
            "dup-dlopen-preload": case([R / "prog", lib / "dup644.so"], preload(lib / "dup755.so")),
        })
        c.update(swap_cases(k, "dupswap", lib / "dup755.so", lib / "dup644.so", built))
    if k.name == "overlay-2fs":
        # the name turned to x/libgood.so (of libbad.so's number), which from then on the process
        # may not read: no proof by bytes can take it for the mapped file
        cache = swap_cases(k, "cache", R / "x/libgood.so", lib / "libbad.so", built)["cache-audit"]
        cache.env["FLIP_READ_BENEATH"] = ":".join(map(str, (lib, "/proc", "/usr", "/lib", "/lib64", "/etc")))
        c["cache-audit"] = cache
    return c


# the (dev, ino) statx shows and the one a mapping shows, of each file named
IDENTITIES = r"""
import mmap, os, sys
from execcheck._native import ffi, lib
m = ffi.new("struct ec_maps *", {"fd": -1})
for path in sys.argv[1:]:
    st = os.stat(path)
    with open(path, "rb") as f:
        view = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    at = ffi.from_buffer(view)
    vma = ffi.new("struct ec_vma *")
    assert lib.ec_maps_query(m, int(ffi.cast("uintptr_t", at)), vma, ffi.NULL, 0) == 0
    print(path, st.st_dev, st.st_ino, vma.dev, vma.ino)
    del at
    view.close()
"""


KERNEL_SAYS = "kernel-says"
IDENTITIES_SAID = "identities"


def run_cases(k, mode, cs):
    """Runs each case of cs in turn in one private mount namespace with the kind mounted, under
    `mode`; returns {name: Result} (audit_face_util.Result, with that case's records). The audit
    run also asks the kernel about the files (KERNEL_SAYS: `execcheck check --json`)."""
    out = k.top / ("out-" + mode)
    out.mkdir()
    conf, lines = "-", []
    if mode == "config":
        conf = k.top / "conf"
        conf.mkdir(exist_ok=True)
        (conf / "execcheck.conf").write_text("files = enforce\nsyslog = no\n")
        lines.append(CONFIG_OVERLAY)
    lines += k.setup + ['mount -t tmpfs none "%s"' % k.names]
    if mode == "audit":
        files = [k.root / f for f in ("prog", "prog644", "lib/libgood.so", "lib/libbad.so")] + [k.nx / "lib/libgood.so"]
        if k.name in COMPOSEFS:
            files += [k.root / "lib" / f for f in ("libobj644.so", "libnxobj.so", "dup755.so", "dup644.so")]
        cs = dict(cs, **{KERNEL_SAYS: case([sys.executable, "-m", "execcheck", "check", "--json"] + files, {})})
        if k.name == "overlay-2fs":
            both = [k.root / "lib/libbad.so", k.root / "lib/libgood.so", k.root / "x/libgood.so"]
            cs[IDENTITIES_SAID] = case([sys.executable, "-c", IDENTITIES] + both, {})
        if k.name in COMPOSEFS:
            one_object = [k.root / "lib/dup755.so", k.root / "lib/dup644.so"]
            cs[IDENTITIES_SAID] = case([sys.executable, "-c", IDENTITIES] + one_object, {})
    names = list(cs)
    for i, name in enumerate(names):
        c = cs[name]
        variables = dict(c.env)
        if c.face:
            variables.update(c.face, EXECCHECK_LOG_FILE=str(out / ("%d.jsonl" % i)))
        cmd = ["env"] + ["%s=%s" % kv for kv in variables.items()] + c.argv
        lines += list(c.setup)
        lines.append("rc=0; %s >%s/%d.out 2>%s/%d.err </dev/null || rc=$?; echo $rc >%s/%d.rc" % (
            " ".join(map(shlex.quote, cmd)), out, i, out, i, out, i))
    kw = {}
    if mode == "secbits":
        kw["preexec_fn"] = lambda: execcheck.set_securebits(restrict_file=True)
    p = in_mountns("\n".join(lines), conf, env=clean_env(), stdin=subprocess.DEVNULL, timeout=300, **kw)
    assert p.returncode == 0, (p.stdout, p.stderr)
    results = {}
    for i, name in enumerate(names):
        log = out / ("%d.jsonl" % i)
        records = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
        proc = subprocess.CompletedProcess(cs[name].argv, int((out / ("%d.rc" % i)).read_text()),
                                           (out / ("%d.out" % i)).read_text(), (out / ("%d.err" % i)).read_text())
        results[name] = Result(proc, records)
    return results


@pytest.fixture
def results(kind, mode):
    return kind.results(mode)


# ---- the tests ----

def said(r):
    return [(rec["path"], rec["reason"]) for rec in r.records]


def kinds(only=KINDS):
    return pytest.mark.parametrize("kind", only, indirect=True)


modes = pytest.mark.parametrize("mode", MODES)


@kinds()
def test_the_kernels_verdicts(kind):
    """AT_EXECVE_CHECK on each file, the truth the faces follow: the mode, the noexec mount. On the
    composefs kinds the overlay file's own: its metadata's mode (libbad.so: 0644 over an object of
    0755; libobj644.so: 0755 over one of 0644), the overlay mount's noexec (N), never the object's
    mount (libnxobj.so's object lies on a noexec mount); dup755.so and dup644.so, one object, each
    by its own mode."""
    r = kind.results("audit")[KERNEL_SAYS]
    got = {rec["path"]: rec["reason"] for rec in json.loads(r.out)}
    R, N = kind.root, kind.nx
    want = {R / "prog": None, R / "prog644": "x-bit", R / "lib/libgood.so": None, R / "lib/libbad.so": "x-bit",
            N / "lib/libgood.so": "noexec"}
    if kind.name in COMPOSEFS:
        want.update({R / "lib/libobj644.so": None, R / "lib/libnxobj.so": None, R / "lib/dup755.so": None,
                     R / "lib/dup644.so": "x-bit"})
    assert got == {str(p): v for p, v in want.items()}, r


@modes
@kinds()
def test_good_programs_and_libraries_run_unchanged(results, mode):
    """A program and its DT_NEEDED library (run by the kernel, and by ld.so directly), a dlopen()
    of the library, and the library preloaded: each face, no record."""
    want = {"good-needed-audit": "GOODRAN\nlibfn 42\n", "good-ldso-audit": "GOODRAN\nlibfn 42\n",
            "good-needed-preload": "GOODRAN\nlibfn 42\n",
            "good-dlopen-audit": "main ran\nGOODRAN\ndlopen ok\n", "good-dlopen-preload": "main ran\nGOODRAN\ndlopen ok\n",
            "good-preloaded": "GOODRAN\nmain ran\n"}
    for name, out in want.items():
        r = results[name]
        assert (r.rc, r.out, r.records) == (0, out, []), (name, r)


def assert_dlopen_refused(r, mode, path, reason, code="BAD RAN"):
    """A dlopen() of path: refused (the dlopen fails, no code of it ran) enforcing, and recorded."""
    assert said(r) == [(str(path), reason)], r
    if mode in ENFORCING:
        assert r.rc == 0 and r.out.startswith("main ran\ndlopen failed: ") and code not in r.out, r
    else:
        assert (r.rc, r.out) == (0, "main ran\n%s\ndlopen ok\n" % code), r


@modes
@kinds()
def test_a_0644_library_is_refused_enforcing_and_recorded_in_audit_mode(kind, results, mode):
    """lib/libbad.so (0644; on composefs its metadata's mode, its object 0755): a dlopen() under
    each face, and a preload under the tripwire (LD_PRELOAD="libbad.so shim": ld.so runs the
    shim's constructor first, so enforcing the process ends, 126, before any code of libbad.so)."""
    bad = kind.root / "lib/libbad.so"
    assert_dlopen_refused(results["bad-dlopen-audit"], mode, bad, "x-bit")
    assert_dlopen_refused(results["bad-dlopen-preload"], mode, bad, "x-bit")
    r = results["bad-preloaded"]
    assert said(r) == [(str(bad), "x-bit")], r
    if mode in ENFORCING:
        assert (r.rc, r.out) == (126, ""), r
    else:
        assert (r.rc, r.out) == (0, "BAD RAN\nmain ran\n"), r


@modes
@kinds()
def test_a_library_on_a_noexec_mount_is_refused_and_recorded(kind, results, mode):
    """N/lib/libgood.so (the same file, on a noexec mount; on composefs an overlay mounted
    noexec): ld.so's own mapping of it fails in every mode (the kernel refuses PROT_EXEC there);
    the faces refuse it first enforcing, and record it in audit mode."""
    for name in ("nx-dlopen-audit", "nx-dlopen-preload"):
        r = results[name]
        assert said(r) == [(str(kind.nx / "lib/libgood.so"), "noexec")], (name, r)
        assert r.rc == 0 and r.out.startswith("main ran\ndlopen failed: ") and "GOODRAN" not in r.out, (name, r)


@modes
@kinds()
def test_a_0644_program_run_by_ld_so(kind, results, mode):
    """ld.so prog644: the kernel executed ld.so, not the program, so the faces check it (on
    composefs prog644 shares prog's object, and the kernel refuses prog644 only)."""
    for name in ("prog644-ldso-audit", "prog644-ldso-preload"):
        r = results[name]
        assert said(r) == [(str(kind.root / "prog644"), "x-bit")], (name, r)
        assert [rec["kind"] for rec in r.records] == ["program"], (name, r)
        if mode in ENFORCING:
            assert r.rc == 126 and "main ran" not in r.out, (name, r)
        else:
            assert (r.rc, r.out) == (0, "main ran\n"), (name, r)


def assert_swap_refused(results, mode, tag, bad, code):
    """swap_cases' two cases: the file ld.so mapped (bad) is checked, not the one the name leads to."""
    r = results[tag + "-preload"]
    assert said(r) == [(str(bad), "x-bit")], r
    if mode in ENFORCING:
        assert (r.rc, r.out) == (126, code + "\n"), r
    else:
        assert (r.rc, r.out) == (0, code + "\nmain ran\n"), r
    r = results[tag + "-audit"]
    assert said(r) == [(str(bad), "x-bit")], r
    if mode in ENFORCING:
        assert r.rc == 126 and r.out == "main ran\n", r
        assert "execcheck: refused to load %s: x-bit" % bad in r.err, r
    else:
        assert (r.rc, r.out) == (0, "main ran\n%s\ndlopen ok\n" % code), r


@modes
@kinds()
def test_a_library_name_turned_between_the_load_and_the_check(kind, results, mode):
    """A symlink name leads to libbad.so when ld.so opens it and to libgood.so when the face
    looks (swap_cases): the mapped file is found by the kernel's name of the mapping, and refused.
    On overlay-2fs libgood.so's own mapping shows the mapped (dev, ino) too (since Linux 6.8 the
    overlay's device with the layer's inode number): is_this_file took that for proof, and
    libbad.so ran enforcing; now its bytes (or map_files) must show it is that file."""
    assert_swap_refused(results, mode, "swap", kind.root / "lib/libbad.so", "BAD RAN")


@modes
@kinds(COMPOSEFS)
def test_composefs_the_objects_mode_and_mount_do_not_decide(results, mode):
    """libobj644.so (metadata 0755, object 0644) and libnxobj.so (its object on a noexec mount):
    the kernel allows both (test_the_kernels_verdicts), so do both faces, with no record."""
    for name in ("obj644-dlopen-audit", "obj644-dlopen-preload", "nxobj-dlopen-audit", "nxobj-dlopen-preload"):
        r = results[name]
        assert (r.rc, r.out, r.records) == (0, "main ran\nGOODRAN\ndlopen ok\n", []), (name, r)


@kinds(COMPOSEFS)
def test_composefs_each_file_maps_under_its_own_identity(kind):
    """dup755.so and dup644.so, one object: a mapping of each shows what statx shows of it (the
    overlay's device, its metadata file's number), two identities."""
    r = kind.results("audit")[IDENTITIES_SAID]
    rows = [line.split()[1:] for line in r.out.splitlines()]
    assert len(rows) == 2 and all(dev == vdev and ino == vino for dev, ino, vdev, vino in rows), r
    assert rows[0] != rows[1], r


@modes
@kinds(COMPOSEFS)
def test_composefs_two_files_of_one_object_are_decided_each_by_its_own_mode(kind, results, mode):
    """dup755.so and dup644.so share one object: with dup755.so loaded (allowed), dup644.so is still
    refused - preloaded beside it (tripwire), dlopen()ed after it (each face) - and a name turned
    from dup644.so to dup755.so between the load and the check does not pass it for dup755.so."""
    dup644 = kind.root / "lib/dup644.so"
    r = results["dup-preloaded"]
    assert said(r) == [(str(dup644), "x-bit")], r
    if mode in ENFORCING:
        assert (r.rc, r.out) == (126, ""), r
    else:
        assert (r.rc, r.out) == (0, "GOODRAN\nGOODRAN\nmain ran\n"), r
    for name in ("dup-dlopen-audit", "dup-dlopen-preload"):
        r = results[name]
        assert said(r) == [(str(dup644), "x-bit")], (name, r)
        if mode in ENFORCING:
            assert r.rc == 0 and r.out.startswith("GOODRAN\nmain ran\ndlopen failed: "), (name, r)
        else:
            assert (r.rc, r.out) == (0, "GOODRAN\nmain ran\nGOODRAN\ndlopen ok\n"), (name, r)
    assert_swap_refused(results, mode, "dupswap", dup644, "GOODRAN")


@kinds(("overlay-2fs",))
def test_overlay_2fs_files_of_two_layers_map_under_one_identity(kind):
    """The kernel's side of overlay-2fs: statx tells libbad.so (layer A), lib/libgood.so (B) and
    x/libgood.so (C) apart by device (one per layer's filesystem), but a mapping of each shows the
    overlay's device and the layer's inode number: one (dev, ino) for all three."""
    r = kind.results("audit")[IDENTITIES_SAID]
    rows = [line.split() for line in r.out.splitlines()]
    assert len(rows) == 3, r
    assert len({(dev, ino) for _, dev, ino, _, _ in rows}) == 3 and len({ino for _, _, ino, _, _ in rows}) == 1, r
    assert len({(vdev, vino) for _, _, _, vdev, vino in rows}) == 1, r


@modes
@kinds(("overlay-2fs",))
def test_overlay_2fs_a_verdict_kept_for_a_mapping_identity_does_not_pass_another_file(kind, results, mode):
    """The audit face's la_objsearch checked x/libgood.so and kept the verdict under the identity a
    mapping of it shows (mapped.c's note_backing); ld.so then mapped libbad.so (0644), whose
    mapping shows that identity too, and la_objopen, the name leading to x/libgood.so again, took
    the kept verdict: libbad.so ran enforcing, unchecked. Here the process may no longer read
    x/libgood.so by then (flip_audit.c's FLIP_READ_BENEATH), so nothing but such a kept verdict
    could pass it: the kernel's name of the mapping leads to libbad.so, checked."""
    need_landlock()
    bad = kind.root / "lib/libbad.so"
    r = results["cache-audit"]
    assert said(r) == [(str(bad), "x-bit")], r
    if mode in ENFORCING:
        assert r.rc == 126 and r.out == "main ran\n", r
    else:
        assert (r.rc, r.out) == (0, "main ran\nBAD RAN\ndlopen ok\n"), r

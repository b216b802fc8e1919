"""On btrfs a mapping's (dev, ino) does not name one file: every subvolume numbers its inodes from
256 on, and /proc/self/maps (and PROCMAP_QUERY) show the filesystem's device, where statx shows the
subvolume's. Any user can make a subvolume and fill it up to a chosen inode number. The faces
matched a file to a mapping through that translation, so a file of another subvolume with the
mapped inode's number passed for the mapped one: a 0644 library with the number of the program ran
under the preload face enforcing, and one renamed away for a good file with its number (by the
injected library itself, or between ld.so's open and la_objopen) was decided as that good file.
Now the kernel must say which file the mapping holds (/proc/self/map_files, which root may open),
or memory must hold the bytes of the file that is checked. Each case runs both ways ("proof"): as
root, and with CAP_SYS_ADMIN and CAP_CHECKPOINT_RESTORE out of the bounding set (setpriv).

A btrfs image in a file of the test's tmp dir, loop-mounted in private mount namespaces only:
  /prog           the test program (tests/c/btrfs_prog.c), inode 257 of the top-level subvolume
  /prog2          the same program, another inode
  /good/libgood.so  0755, inode 257 of subvolume good
  /evil/libbad.so   0644, inode 257 of subvolume evil; its constructor prints "BAD RAN" (libgood.so's
                    "GOODRAN"): the two differ in bytes of code and read-only data only
  /datatwin/libgood.so  0644, inode 257 of subvolume datatwin: libgood.so but for one value in its
                    writable data (data_value 666: its constructor prints "DATA 666")
  /goodcopy/libgood.so  a copy of good/libgood.so, inode 257 of subvolume goodcopy (a test truncates it)
  /libuse         a program linked against /good/libgood.so (a good case: everything on btrfs)
  /progs/prog     the test program again, inode 257 of subvolume progs
  /pymain/s.py    a 0755 Python script, inode 257 of subvolume pymain
  /pymod/m.py     a 0644 Python module, inode 257 of subvolume pymod
"""
import io
import itertools
import json
import os
import shutil
import struct
import subprocess

import pytest
from elftools.elf.elffile import ELFFile

import execcheck
from audit_face_util import CONFIG_OVERLAY, ENFORCING, MODES, SHIM, Kit, Result, clean_env
from conftest import C_DIR, in_mountns, need, need_check, need_mountns
from test_audit_face import UNMAPPED_HEADER_LDS
from execcheck.shim import I386_LOADER, lib_path

SHIM32 = lib_path("i386")

MKFS = shutil.which("mkfs.btrfs")
GDB = shutil.which("gdb")
LDSO = "/lib64/ld-linux-x86-64.so.2"


def btrfs_in_kernel():
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == "btrfs" for line in f if line.strip())


def can_build_32():
    r = subprocess.run(["cc", "-m32", "-x", "c", "-", "-o", "/dev/null"], input="int main(void){return 0;}\n",
                       capture_output=True, text=True)
    return r.returncode == 0 and os.path.exists(I386_LOADER) and os.path.exists(SHIM32)


CLASSES = ("64", "32") if can_build_32() else ("64",)


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    """(image file, mount point): the layout of the module doc, and its 32-bit twin where this
    machine builds 32-bit programs (good32/, evil32/, prog2-32, libuse32)."""
    need_check()
    need_mountns()
    need(MKFS is not None, "needs mkfs.btrfs (btrfs-progs)")
    need(btrfs_in_kernel() or subprocess.run(["modprobe", "btrfs"]).returncode == 0, "needs btrfs in the kernel")
    top = tmp_path_factory.mktemp("btrfs")
    mnt = top / "mnt"
    mnt.mkdir()
    src = top / "use.c"
    src.write_text('#include <stdio.h>\nint libfn(void);\nint main(void) { printf("libfn %d\\n", libfn()); return 0; }\n')
    built = {}
    for cls in CLASSES:
        kit = Kit(top / ("build" + cls))
        m = ["-m32"] if cls == "32" else []
        sfx = "" if cls == "64" else "32"
        prog = kit._cc("prog", C_DIR / "btrfs_prog.c", *m, "-ldl")
        good = kit._cc("libgood.so", C_DIR / "btrfs_lib.c", *m, "-shared", "-fPIC")
        bad = kit._cc("libbad.so", C_DIR / "btrfs_lib.c", *m, "-shared", "-fPIC", "-DBAD")
        use = kit._cc("libuse", src, *m, "-L%s" % good.parent, "-l:libgood.so", "-Wl,-rpath,%s" % (mnt / ("good" + sfx)))
        # nothing but bytes of code and read-only data tells the two libraries apart
        assert good.stat().st_size == bad.stat().st_size
        built[sfx] = (prog, good, bad, use)
    # libgood.so but for bytes of its writable segment (x86_64)
    datatwin = top / "build-data" / "libgood.so"
    datatwin.parent.mkdir()
    datatwin.write_bytes(data_twin(built[""][1].read_bytes(), "data_value", 666))
    assert writable_only_differs(built[""][1].read_bytes(), datatwin.read_bytes())
    # a library whose headers no segment maps, and its evil twin (evil_twin): x86_64
    lds = top / "noheader.lds"
    lds.write_text(UNMAPPED_HEADER_LDS)
    nh = Kit(top / "build-nh")._cc("libnh.so", C_DIR / "audit_lib.c", "-shared", "-fPIC", "-DTAG=\"nh\"",
                                   "-fno-asynchronous-unwind-tables", "-Wl,--build-id=none,--no-eh-frame-hdr",
                                   "-Wl,-T,%s" % lds)
    twin = top / "build-nh" / "libnh-twin.so"
    twin.write_bytes(evil_twin(nh.read_bytes()))
    img = top / "img"
    with open(img, "wb") as f:
        f.truncate(256 << 20)
    r = subprocess.run([MKFS, "-q", "-f", str(img)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # inode numbers are handed out in order of creation: each subvolume's first file is 257
    script = ["mount -o loop \"$1\" \"$2\"; cd \"$2\"", "cp \"%s\" prog" % built[""][0]]
    for sfx, (prog, good, bad, use) in built.items():
        script += ["btrfs -q subvolume create good%s; btrfs -q subvolume create evil%s" % (sfx, sfx),
                   "cp %s good%s/libgood.so; chmod 755 good%s/libgood.so" % (good, sfx, sfx),
                   "cp %s evil%s/libbad.so; chmod 644 evil%s/libbad.so" % (bad, sfx, sfx),
                   "cp %s prog2%s; cp %s libuse%s" % (prog, "-32" if sfx else "", use, sfx),
                   "stat -c '%%n %%i %%d' good%s/libgood.so evil%s/libbad.so" % (sfx, sfx)]
    script += ["btrfs -q subvolume create goodnh; btrfs -q subvolume create evilnh",
               "cp %s goodnh/libnh.so; chmod 755 goodnh/libnh.so" % nh,
               "cp %s evilnh/libnh.so; chmod 644 evilnh/libnh.so" % twin,
               "stat -c '%n %i %d' goodnh/libnh.so evilnh/libnh.so"]
    script += ["btrfs -q subvolume create goodcopy", "cp good/libgood.so goodcopy/libgood.so",
               "stat -c '%n %i %d' goodcopy/libgood.so"]
    script += ["btrfs -q subvolume create datatwin", "cp %s datatwin/libgood.so; chmod 644 datatwin/libgood.so" % datatwin,
               "stat -c '%n %i %d' datatwin/libgood.so"]
    script += ["btrfs -q subvolume create pymain; btrfs -q subvolume create pymod",
               "echo \"print('RAN', 'main')\" > pymain/s.py; chmod 755 pymain/s.py",
               "echo \"print('RAN', 'm')\" > pymod/m.py; chmod 644 pymod/m.py",
               "stat -c '%n %i %d' pymain/s.py pymod/m.py"]
    script += ["btrfs -q subvolume create progs", "cp \"%s\" progs/prog" % built[""][0],
               "stat -c '%n %i %d' prog prog2 progs/prog", "cd /; umount \"$2\""]
    r = in_mountns("\n".join(script), img, mnt)
    assert r.returncode == 0, r.stderr
    ino, dev = {}, {}
    for line in r.stdout.splitlines():
        name, i, d = line.split()
        ino[name], dev[name] = int(i), int(d)
    # the collision this module is about: same number, other subvolumes (other statx devices)
    for sfx in built:
        good, bad = "good%s/libgood.so" % sfx, "evil%s/libbad.so" % sfx
        assert ino["prog"] == ino[good] == ino[bad], ino
        assert len({dev["prog"], dev[good], dev[bad]}) == 3, dev
    assert ino["prog2"] != ino["prog"] and ino["progs/prog"] == ino["prog"], ino
    assert ino["goodnh/libnh.so"] == ino["evilnh/libnh.so"], ino
    assert ino["datatwin/libgood.so"] == ino["goodcopy/libgood.so"] == ino["good/libgood.so"], ino
    assert ino["pymain/s.py"] == ino["pymod/m.py"], ino
    return img, mnt


def data_twin(lib: bytes, symbol: str, value: int) -> bytes:
    """lib with the int `symbol` (in its writable data) set to value in the file."""
    with io.BytesIO(lib) as f:
        elf = ELFFile(f)
        sym = elf.get_section_by_name(".symtab").get_symbol_by_name(symbol)[0]
        off = next(elf.address_offsets(sym["st_value"]))
    return lib[:off] + struct.pack("<i", value) + lib[off + 4:]


def writable_only_differs(a: bytes, b: bytes) -> bool:
    """Are a and b (ELF64) the same size and different only inside a's writable PT_LOAD?"""
    phoff, = struct.unpack_from("<Q", a, 32)
    phnum, = struct.unpack_from("<H", a, 56)
    writable = [(off, off + filesz) for typ, flags, off, _, _, filesz, _, _ in
                (struct.unpack_from("<IIQQQQQQ", a, phoff + 56 * i) for i in range(phnum)) if typ == 1 and flags & 2]
    diff = [i for i in range(len(a)) if a[i] != b[i]] if len(a) == len(b) else None
    return bool(diff) and all(any(lo <= i < hi for lo, hi in writable) for i in diff)


def mount_setup(volume, *more):
    img, mnt = volume
    return " && ".join(['mount -o loop "%s" "%s"' % (img, mnt)] + list(more))


PROOFS = ("map_files", "bytes")
_counter = itertools.count()


def run_on(volume, tmp_path, mode, proof, argv, face, env=None, setup=(), gdb=None):
    """Runs argv with the volume mounted (and `setup` commands after), in a private mount namespace,
    under `face` ({"LD_AUDIT": ...} or {"LD_PRELOAD": ...}) in `mode` (audit_face_util's modes).
    Only argv gets the face's variables: not sh, mount, setpriv, env or gdb before it. proof
    "bytes": argv cannot open /proc/self/map_files. gdb: a gdb Python script that runs argv (env
    goes to gdb). Returns a Result with the records of this run."""
    log = tmp_path / ("records-%d.jsonl" % next(_counter))
    conf, lines = "-", [":"]
    if mode == "config":
        conf = tmp_path / ("conf-%d" % next(_counter))
        conf.mkdir()
        (conf / "execcheck.conf").write_text("files = enforce\nsyslog = no\n")
        lines = [CONFIG_OVERLAY]
    variables = dict(env or {})
    if mode != "off":
        variables.update(face, EXECCHECK_LOG_FILE=str(log))
    cmd = ["setpriv", "--bounding-set", "-sys_admin,-checkpoint_restore", "--"] if proof == "bytes" else []
    if gdb:
        cmd += ["env"] + ["%s=%s" % kv for kv in (env or {}).items()]
        cmd += [GDB, "-nx", "-batch", "-ex", "set startup-with-shell off"]
        for k, v in variables.items():
            cmd += ["-ex", "set environment %s=%s" % (k, v)]
        cmd += ["-x", gdb, "--args"] + [str(a) for a in argv]
    else:
        cmd += ["env"] + ["%s=%s" % kv for kv in variables.items()] + [str(a) for a in argv]
    kw = {}
    if mode == "secbits":
        kw["preexec_fn"] = lambda: execcheck.set_securebits(restrict_file=True)
    script = "\n".join(lines + [mount_setup(volume, *setup), 'shift', 'exec "$@"'])
    p = in_mountns(script, conf, *cmd, env=clean_env(), stdin=subprocess.DEVNULL, timeout=180, **kw)
    records = [json.loads(l) for l in log.read_text().splitlines()] if log.exists() else []
    return Result(p, records)


def stopped_before_main(r, mode):
    """Enforcing, the preload face stopped the program (126) before main(); else main() ran."""
    if mode in ENFORCING:
        assert r.rc == 126 and "main ran" not in r.out, r
    else:
        assert r.rc == 0 and "main ran" in r.out, r


def renamed_by_injected(volume, tmp_path, mode, proof, prog, shim, bad, good, link="link.so", setup=()):
    """prog under LD_PRELOAD="shim /link", /link a symlink to `bad`, whose constructor - ld.so runs
    LD_PRELOAD's constructors last to first: before ours - turns /link to `good` before the
    preload face's sweep (symlink targets, relative to the volume's top or absolute)."""
    img, mnt = volume
    link, spare = mnt / link, mnt / (link + ".flip")
    setup = tuple(setup) + ('ln -sfn %s "%s"' % (bad, link), 'ln -sfn %s "%s"' % (good, spare))
    return run_on(volume, tmp_path, mode, proof, [prog], {"LD_PRELOAD": "%s %s" % (shim, link)},
                  env={"FLIP_FROM": spare, "FLIP_TO": link}, setup=setup)


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_a_0644_library_with_the_programs_inode_number_is_not_the_program(tmp_path, volume, mode, proof):
    """LD_PRELOAD="evil/libbad.so libexeccheck.so" /prog: the preload face's sweep found the
    library's mapping showing the program's (dev, ino) - the kernel executed that, so it passed
    unchecked, and main() ran enforcing. Now it is checked: refused (126 before main) or recorded."""
    img, mnt = volume
    bad = mnt / "evil/libbad.so"
    r = run_on(volume, tmp_path, mode, proof, [mnt / "prog"], {"LD_PRELOAD": "%s %s" % (bad, SHIM)})
    assert [rec["path"] for rec in r.records] == [str(bad)], r.records
    stopped_before_main(r, mode)
    if mode in ENFORCING:
        assert "execcheck: refused to run with %s: x-bit" % bad in r.err, r.err


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_an_injected_library_that_renames_its_name_to_a_good_file_of_its_number(tmp_path, volume, mode, proof):
    """LD_PRELOAD="libexeccheck.so /link.so", /link.so a symlink to evil/libbad.so, whose
    constructor turns /link.so to good/libgood.so (same inode number, another subvolume) before the
    sweep: the sweep opened /link.so, found the mapped (dev, ino) by translation, and checked
    libgood.so. Now the bytes in memory are not libgood.so's: the kernel's name of the mapping is
    followed to libbad.so, which is checked."""
    img, mnt = volume
    r = renamed_by_injected(volume, tmp_path, mode, proof, mnt / "prog2", SHIM, "evil/libbad.so", "good/libgood.so")
    assert "BAD RAN" in r.out
    assert [rec["path"] for rec in r.records] == [str(mnt / "evil/libbad.so")], r.records
    stopped_before_main(r, mode)


# gdb turns the symlink to libbad.so just before ld.so's own openat of it, and back to libgood.so
# as that call returns: the face's la_objsearch checked libgood.so, ld.so maps libbad.so, and
# la_objopen finds the name leading to libgood.so again. Syscall entry: $rax holds -ENOSYS.
GDB_FLIP = r'''
import os, gdb
link, good, bad = os.environ["FLIP_LINK"], os.environ["FLIP_GOOD"], os.environ["FLIP_BAD"]
cut = os.environ.get("FLIP_TRUNCATE")  # truncated at the shim's first mmap or pread64 of a file after the flip back
def turn(to):
    os.symlink(to, link + ".tmp")
    os.rename(link + ".tmp", link)
gdb.execute("catch syscall openat")
if cut:
    gdb.execute("catch syscall mmap pread64")
armed, flips, cmd, cutting = False, 0, "run", False
while True:
    try:
        gdb.execute(cmd, to_string=True)
    except gdb.error:
        break
    cmd = "continue"
    if not gdb.selected_inferior().pid:
        break
    frame = gdb.selected_frame()
    entry = int(frame.read_register("rax")) == -38
    where = gdb.solib_name(frame.pc()) or ""
    nr = int(frame.read_register("orig_rax"))
    if nr != 257:  # mmap, pread64 (FLIP_TRUNCATE): of a file, not anonymous memory
        if cutting and not entry and "libexeccheck" in where and (nr == 17 or int(frame.read_register("r8")) >= 0):
            os.truncate(cut, 0)
            cutting = False
            print("TRUNCATED")
    elif entry:
        name = gdb.parse_and_eval("(const char *)$rsi").string()
        if name == link and "libexeccheck" not in where:
            turn(bad)
            armed = True
    elif armed:
        turn(good)
        armed = False
        flips += 1
        cutting = bool(cut)
print("FLIPS %d" % flips)
'''


def flipped_at_ld_so_open(volume, tmp_path, mode, proof, good, bad, truncate=None, setup=()):
    """prog2 dlopen()s /link.so under the audit face, the name leading to `good` but while ld.so
    opens it, when it leads to `bad` (GDB_FLIP; relative to the volume's top). truncate: a file
    cut to nothing when the shim next maps or reads a file after that."""
    assert GDB, "gdb is needed to turn the name at ld.so's open"
    img, mnt = volume
    link = mnt / "link.so"
    script = tmp_path / "flip.py"
    script.write_text(GDB_FLIP)
    env = {"FLIP_LINK": link, "FLIP_GOOD": good, "FLIP_BAD": bad}
    if truncate:
        env["FLIP_TRUNCATE"] = mnt / truncate
    r = run_on(volume, tmp_path, mode, proof, [mnt / "prog2", link], {"LD_AUDIT": SHIM}, gdb=script,
               env=env, setup=tuple(setup) + ('ln -sfn %s "%s"' % (good, link),))
    assert "FLIPS 1" in r.out, r
    return r


def refused_at_dlopen(r, mode, path, ran):
    """flipped_at_ld_so_open's outcome where the face must decide on `path` (0644): recorded once
    (x-bit); enforcing, the process stopped (126) before the library's constructor printed `ran`
    and before the dlopen returned; in audit mode both happened."""
    assert [(rec["path"], rec["reason"]) for rec in r.records] == [(str(path), "x-bit")], r
    if mode in ENFORCING:
        assert ran not in r.out and "dlopen" not in r.out, r
        assert "exited with code 0176" in r.out, r  # 126, as gdb says it
    else:
        assert ran in r.out and "dlopen ok" in r.out, r


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_a_file_of_the_same_number_swapped_in_between_ld_so_and_la_objopen(tmp_path, volume, mode, proof):
    """The audit face: dlopen("/link.so") with the name turned to libbad.so only while ld.so opens
    it (gdb). la_objopen's open of the name found libgood.so, whose translated (dev, ino) is the
    mapped one: allowed, and libbad.so's constructor ran enforcing. Now: refused before it runs."""
    img, mnt = volume
    r = flipped_at_ld_so_open(volume, tmp_path, mode, proof, "good/libgood.so", "evil/libbad.so")
    refused_at_dlopen(r, mode, mnt / "evil/libbad.so", "BAD RAN")


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", ("off",) + MODES)
def test_programs_and_libraries_on_btrfs_run_as_without_the_shim(tmp_path, volume, mode, proof):
    """The good cases, each face: a program whose library is on another subvolume, the same run by
    ld.so directly, and a dlopen() of that library by path under the preload face's guard."""
    img, mnt = volume
    audit, preload = {"LD_AUDIT": SHIM}, {"LD_PRELOAD": SHIM}
    for argv, face, out in (([mnt / "libuse"], audit, "GOODRAN\nlibfn 42\n"),
                            ([LDSO, mnt / "libuse"], audit, "GOODRAN\nlibfn 42\n"),
                            ([mnt / "prog2", mnt / "good/libgood.so"], preload, "main ran\nGOODRAN\ndlopen ok\n")):
        r = run_on(volume, tmp_path, mode, proof, argv, face)
        assert (r.rc, r.out, r.records) == (0, out, []), r


def overlays(tmp_path, mnt):
    """Setup commands: read-only overlays over each subvolume (as a container's layers kept on
    btrfs), at tmp_path/ov-good and tmp_path/ov-evil: their mappings show the btrfs layer inode."""
    cmds = ['mkdir -p "%s"' % (tmp_path / "ov-empty")]
    for name in ("good", "evil"):
        ov = tmp_path / ("ov-" + name)
        ov.mkdir()
        cmds.append('mount -t overlay overlay -o "lowerdir=%s:%s" "%s"' % (mnt / name, tmp_path / "ov-empty", ov))
    return cmds


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_overlays_whose_layers_are_btrfs_subvolumes(tmp_path, volume, mode, proof):
    """The injected library turning its name, through overlayfs: /link.so leads to libbad.so in an
    overlay over subvolume evil, then to libgood.so in one over subvolume good (a container's
    layers kept on btrfs). Both files have inode number 257, but each overlay maps its files under a
    device of its own: refused before this fix as well, kept so it stays so. A good library
    through such an overlay runs."""
    img, mnt = volume
    r = renamed_by_injected(volume, tmp_path, mode, proof, mnt / "prog2", SHIM, '"%s"' % (tmp_path / "ov-evil/libbad.so"),
                            '"%s"' % (tmp_path / "ov-good/libgood.so"), setup=overlays(tmp_path, mnt))
    assert "BAD RAN" in r.out
    assert [rec["path"].rsplit("/", 1)[-1] for rec in r.records] == ["libbad.so"], r
    stopped_before_main(r, mode)
    again = tmp_path / "again"
    again.mkdir()
    r = run_on(volume, tmp_path, mode, proof, [mnt / "prog2", again / "ov-good/libgood.so"], {"LD_AUDIT": SHIM},
               setup=tuple(overlays(again, mnt)))
    assert (r.rc, r.out, r.records) == (0, "main ran\nGOODRAN\ndlopen ok\n", []), r


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_32_bit_programs_on_btrfs(tmp_path, volume, mode, proof):
    """The same for i386 programs (Elf32 headers, 8-byte dynamic entries): a good library on a
    subvolume runs under the audit face (compared before relocation) and through the preload face's
    guard; the injected library's rename to the good file of its number is refused or recorded."""
    need(CLASSES == ("64", "32"), "needs cc -m32, the 32-bit loader and the 32-bit shim (gcc-multilib)")
    img, mnt = volume
    r = run_on(volume, tmp_path, mode, proof, [mnt / "libuse32"], {"LD_AUDIT": SHIM32})
    assert (r.rc, r.out, r.records) == (0, "GOODRAN\nlibfn 42\n", []), r
    r = run_on(volume, tmp_path, mode, proof, [mnt / "prog2-32", mnt / "good32/libgood.so"], {"LD_PRELOAD": SHIM32})
    assert (r.rc, r.out, r.records) == (0, "main ran\nGOODRAN\ndlopen ok\n", []), r
    r = renamed_by_injected(volume, tmp_path, mode, proof, mnt / "prog2-32", SHIM32, "evil32/libbad.so",
                            "good32/libgood.so", link="link32.so")
    assert "BAD RAN" in r.out
    assert [rec["path"] for rec in r.records] == [str(mnt / "evil32/libbad.so")], r
    stopped_before_main(r, mode)


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_one_overlay_whose_lower_layers_are_subvolumes(tmp_path, volume, mode, proof):
    """One overlay, lowerdir=progs:evil:good: its prog, libbad.so and libgood.so are each inode 257
    of their subvolume, and the overlay shows all three as the same (dev, ino) - to statx and in the
    maps alike (overlayfs passes the layer's number through, under its own device). Before: a 0644
    libbad.so preloaded into that prog passed as the program itself, and libbad.so's rename of its
    name to libgood.so had libgood.so checked for it; enforcing, main() ran both times. Now statx's
    subvolume (STATX_SUBVOL, passed through by overlayfs) says the numbers are not the overlay's
    own, and such a file is proven as on btrfs. A good library there still runs."""
    img, mnt = volume
    ov, empty = tmp_path / "ov", tmp_path / "empty"
    ov.mkdir()
    empty.mkdir()
    layers = ('mount -t overlay overlay -o "lowerdir=%s:%s:%s" "%s"' % (mnt / "progs", mnt / "evil", mnt / "good", ov),)
    link, spare = mnt / "link.so", mnt / "link.flip"
    bad = str(ov / "libbad.so")
    cases = (([ov / "prog"], {"LD_PRELOAD": "%s %s" % (bad, SHIM)}, {}, ()),
             ([ov / "prog"], {"LD_PRELOAD": "%s %s" % (SHIM, link)}, {"FLIP_FROM": spare, "FLIP_TO": link},
              ('ln -sfn "%s" "%s"' % (bad, link), 'ln -sfn "%s" "%s"' % (ov / "libgood.so", spare))))
    for argv, face, env, setup in cases:
        r = run_on(volume, tmp_path, mode, proof, argv, face, env=env, setup=layers + setup)
        assert [rec["path"] for rec in r.records] == [bad], r
        stopped_before_main(r, mode)
    r = run_on(volume, tmp_path, mode, proof, [ov / "prog", ov / "libgood.so"], {"LD_AUDIT": SHIM}, setup=layers)
    assert (r.rc, r.out, r.records) == (0, "main ran\nGOODRAN\ndlopen ok\n", []), r



def test_a_refused_module_with_the_main_scripts_number_on_one_overlay(tmp_path, volume):
    """One overlay, lowerdir=pymain:pymod: the main script s.py and the 0644 module m.py are each
    inode 257 of their subvolume, the same (dev, ino) to statx. The CPython face decides whether a
    file that fails the check before the main script's run event is the main script (sys.argv[0],
    the zipimport probe of it) or an import: by (dev, ino) alone, m.py imported by sitecustomize
    was recorded as the script. Now by the verdict cache's key, subvolume included: a module (and
    m.py run as the main script is still the script)."""
    img, mnt = volume
    ov, sc = tmp_path / "ov", tmp_path / "sc"
    ov.mkdir()
    sc.mkdir()
    (sc / "sitecustomize.py").write_text("import m\n")
    layers = ('mount -t overlay overlay -o "lowerdir=%s:%s" "%s"' % (mnt / "pymain", mnt / "pymod", ov),)
    r = run_on(volume, tmp_path, "audit", "map_files", ["/usr/bin/python3.11", ov / "s.py"], {"LD_PRELOAD": SHIM},
               env={"PYTHONPATH": "%s:%s" % (sc, ov), "PYTHONDONTWRITEBYTECODE": "1"}, setup=layers)
    assert (r.rc, r.out) == (0, "RAN m\nRAN main\n"), r
    # (the host's 0644 libraries and bytecode are recorded too: audit mode)
    assert [(rec["kind"], rec["path"]) for rec in r.records if rec["path"].startswith(str(ov))] == \
        [("module", str(ov / "m.py"))], r
    # m.py the main script: zipimport's probe of it fails the check first, and is the script
    r = run_on(volume, tmp_path, "audit", "map_files", ["/usr/bin/python3.11", ov / "m.py"], {"LD_PRELOAD": SHIM},
               env={"PYTHONDONTWRITEBYTECODE": "1"}, setup=layers)
    assert (r.rc, r.out) == (0, "RAN m\n"), r
    assert [(rec["kind"], rec["path"]) for rec in r.records if rec["path"].startswith(str(ov))] == \
        [("script", str(ov / "m.py"))], r


def evil_twin(good: bytes) -> bytes:
    """A file with good's bytes wherever good's segments lie, whose program headers - outside every
    segment, so ld.so reads them from the file and nothing maps them - add a segment of its own
    holding code and a dynamic section: the same tags as good's but DT_INIT, which runs that code
    (x86_64: write(1, "BAD RAN\n") and return). Where good's segments are compared, it is good."""
    phoff, = struct.unpack_from("<Q", good, 32)
    phnum, = struct.unpack_from("<H", good, 56)
    phdrs = [list(struct.unpack_from("<IIQQQQQQ", good, phoff + 56 * i)) for i in range(phnum)]
    loads = [ph for ph in phdrs if ph[0] == 1]
    dyn = next(ph for ph in phdrs if ph[0] == 2)
    assert all(ph[2] >= phoff + 56 * phnum or ph[2] + ph[5] <= phoff for ph in loads), "a header is mapped"
    entries = [struct.unpack_from("<qQ", good, dyn[2] + 16 * i) for i in range(dyn[5] // 16)]
    base = (max(ph[3] + ph[6] for ph in loads) + 0xffff) & ~0xffff
    off = (len(good) + 0xfff) & ~0xfff
    code = bytes.fromhex("488d3512000000" "bf01000000" "ba08000000" "b801000000" "0f05" "c3") + b"BAD RAN\n"
    entries = [(12, base) if tag == 12 else (tag, val) for tag, val in entries if tag != 0]
    if not any(tag == 12 for tag, _ in entries):
        entries.insert(0, (12, base))  # DT_INIT
    table = b"".join(struct.pack("<qQ", t, v) for t, v in entries + [(0, 0)])
    seg = code.ljust(0x100, b"\0") + table
    new_dyn = [2, 4, off + 0x100, base + 0x100, base + 0x100, len(table), len(table), 8]  # read-only: not adjusted
    ph_at = off + len(seg)
    new_phdrs = [new_dyn if ph[0] == 2 else ph for ph in phdrs] + [[1, 5, off, base, base, len(seg), len(seg), 0x1000]]
    out = bytearray(good.ljust(off, b"\0") + seg)
    for ph in new_phdrs:
        out += struct.pack("<IIQQQQQQ", *ph)
    struct.pack_into("<Q", out, 32, ph_at)
    struct.pack_into("<H", out, 56, len(new_phdrs))
    return bytes(out)


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_a_twin_whose_unmapped_program_headers_add_a_segment(tmp_path, volume, mode, proof):
    """goodnh/libnh.so maps none of its headers (a linker script's PHDRS without FILEHDR), so ld.so
    reads its program headers from the file alone. evilnh/libnh.so (0644, the same inode number)
    holds good's bytes wherever good's segments lie, and program headers of its own that add a
    segment with code and a dynamic section whose DT_INIT runs it (evil_twin). Swapped in for
    ld.so's open (gdb, as above), every segment of good's compares equal; what tells them apart is
    where the object's dynamic section is: not where good's headers place it. The proof requires
    it to be, so the kernel's name of the mapping is followed to the twin, refused for what it is
    (x-bit). (Without that, the header check after the proof refused it as `mismatch` by the name,
    reopened: one more open of a name that can move.)"""
    img, mnt = volume
    r = run_on(volume, tmp_path, "off", proof, [mnt / "prog2", mnt / "evilnh/libnh.so"], {})
    assert "BAD RAN" in r.out and "dlopen ok" in r.out, r  # the twin's own code runs, without the shim
    r = flipped_at_ld_so_open(volume, tmp_path, mode, proof, "goodnh/libnh.so", "evilnh/libnh.so")
    # not good by good's own headers: the kernel's name of the mapping leads to the twin, checked
    refused_at_dlopen(r, mode, mnt / "evilnh/libnh.so", "BAD RAN")


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_a_twin_differing_in_writable_data_alone(tmp_path, volume, mode, proof):
    """datatwin/libgood.so (0644) is libgood.so but for one value of its writable data. Preloaded
    under the name /link.so, its constructor (libgood.so's code) turns /link.so to good/libgood.so
    before the preload face's sweep, as test_an_injected_library_that_renames... does. After
    relocation the writable segment no longer holds the file's bytes, so no compare can tell: as
    root, /proc/self/map_files says which file it is (the twin, refused for what it is: x-bit);
    without the capabilities that part of the proof is missing and the twin passes for the good
    library it equals in code, read-only data and headers (README: limits). The audit face, which
    decides before relocation, compares the writable segment too: refused both ways (below)."""
    img, mnt = volume
    r = renamed_by_injected(volume, tmp_path, mode, proof, mnt / "prog2", SHIM, "datatwin/libgood.so", "good/libgood.so")
    assert "GOODRAN\nDATA 666\n" in r.out, r  # the twin was loaded and its constructor ran (before the sweep)
    if proof == "bytes":
        assert (r.rc, r.records) == (0, []) and "main ran" in r.out, r
        return
    assert [(rec["path"], rec["reason"]) for rec in r.records] == [(str(mnt / "datatwin/libgood.so"), "x-bit")], r
    stopped_before_main(r, mode)


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_a_twin_differing_in_writable_data_alone_at_ld_so_open(tmp_path, volume, mode, proof):
    """The same twin swapped in for ld.so's own open (gdb): the audit face decides before
    relocation, when the writable segment still holds the file's bytes: refused before it runs."""
    img, mnt = volume
    r = flipped_at_ld_so_open(volume, tmp_path, mode, proof, "good/libgood.so", "datatwin/libgood.so")
    refused_at_dlopen(r, mode, mnt / "datatwin/libgood.so", "DATA 666")


@pytest.mark.parametrize("proof", PROOFS)
@pytest.mark.parametrize("mode", MODES)
def test_a_candidate_truncated_during_the_proof(tmp_path, volume, mode, proof):
    """As test_a_file_of_the_same_number_swapped_in..., the name turned back to goodcopy/libgood.so,
    which is cut to nothing as the face starts reading it (gdb): the proof mapped the whole file
    and read it, so the program died of SIGBUS in la_objopen. Now it reads with pread: the short
    read fails the proof, the kernel's name of the mapping leads to libbad.so, which is checked."""
    img, mnt = volume
    r = flipped_at_ld_so_open(volume, tmp_path, mode, proof, "goodcopy/libgood.so", "evil/libbad.so",
                              truncate="goodcopy/libgood.so",
                              setup=('cp "%s" "%s"' % (mnt / "good/libgood.so", mnt / "goodcopy/libgood.so"),))
    assert "TRUNCATED" in r.out and "SIGBUS" not in r.out, r
    refused_at_dlopen(r, mode, mnt / "evil/libbad.so", "BAD RAN")

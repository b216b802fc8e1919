"""On btrfs a mapping's (dev, ino) does not name one file: every subvolume numbers its inodes from
256 on, and /proc/self/maps (and PROCMAP_QUERY) show the filesystem's device, where statx shows the
subvolume's. Any user can make a subvolume and fill it up to a chosen inode number. The faces
matched a file to a mapping through that translation, so a file of another subvolume with the
mapped inode's number passed for the mapped one: a 0644 library with the number of the program ran
under the preload face enforcing, and one renamed away for a good file with its number (by the
injected library itself, or between ld.so's open and la_objopen) was decided as that good file.
Now memory must hold the bytes of the file that is checked.

A btrfs image in a file of the test's tmp dir, loop-mounted in private mount namespaces only:
  /prog           the test program (tests/c/btrfs_prog.c), inode 257 of the top-level subvolume
  /prog2          the same program, another inode
  /good/libgood.so  0755, inode 257 of subvolume good
  /evil/libbad.so   0644, inode 257 of subvolume evil; its constructor prints "BAD RAN"
  /libuse         a program linked against /good/libgood.so (a good case: everything on btrfs)
"""
import os
import shutil
import subprocess

import pytest

import execcheck
from audit_face_util import ENFORCING, MODES, SHIM, Kit, clean_env, run_face
from conftest import C_DIR, in_mountns, need, need_check, need_mountns

MKFS = shutil.which("mkfs.btrfs")
GDB = shutil.which("gdb")
LDSO = "/lib64/ld-linux-x86-64.so.2"


def btrfs_in_kernel():
    with open("/proc/filesystems") as f:
        return any(line.split()[-1] == "btrfs" for line in f if line.strip())


@pytest.fixture(scope="module")
def volume(tmp_path_factory):
    """(image file, mount point, {name: inode}): the layout of the module doc."""
    need_check()
    need_mountns()
    need(MKFS is not None, "needs mkfs.btrfs (btrfs-progs)")
    need(btrfs_in_kernel() or subprocess.run(["modprobe", "btrfs"]).returncode == 0, "needs btrfs in the kernel")
    top = tmp_path_factory.mktemp("btrfs")
    kit = Kit(top / "build")
    prog = kit._cc("prog", C_DIR / "btrfs_prog.c")
    good = kit._cc("libgood.so", C_DIR / "btrfs_lib.c", "-shared", "-fPIC")
    bad = kit._cc("libbad.so", C_DIR / "btrfs_lib.c", "-shared", "-fPIC", "-DBAD")
    mnt = top / "mnt"
    mnt.mkdir()
    src = top / "use.c"
    src.write_text('#include <stdio.h>\nint libfn(void);\nint main(void) { printf("libfn %d\\n", libfn()); return 0; }\n')
    use = kit._cc("libuse", src, "-L%s" % good.parent, "-l:libgood.so", "-Wl,-rpath,%s" % (mnt / "good"))
    img = top / "img"
    with open(img, "wb") as f:
        f.truncate(256 << 20)
    r = subprocess.run([MKFS, "-q", "-f", str(img)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    # inode numbers are handed out in order of creation: each subvolume's first file is 257
    script = """
        mount -o loop "$1" "$2"; cd "$2"
        cp "$3" prog
        btrfs -q subvolume create good; btrfs -q subvolume create evil
        cp "$4" good/libgood.so; chmod 755 good/libgood.so
        cp "$5" evil/libbad.so; chmod 644 evil/libbad.so
        cp "$3" prog2
        cp "$6" libuse
        stat -c '%n %i %d' prog prog2 good/libgood.so evil/libbad.so
        cd /; umount "$2"
    """
    r = in_mountns(script, img, mnt, prog, good, bad, use)
    assert r.returncode == 0, r.stderr
    ino, dev = {}, {}
    for line in r.stdout.splitlines():
        name, i, d = line.split()
        ino[name], dev[name] = int(i), int(d)
    # the collision this module is about: same number, other subvolumes (other statx devices)
    assert ino["prog"] == ino["good/libgood.so"] == ino["evil/libbad.so"], ino
    assert len({dev["prog"], dev["good/libgood.so"], dev["evil/libbad.so"]}) == 3, dev
    assert ino["prog2"] != ino["prog"], ino
    return img, mnt


def mount_setup(volume, *more):
    img, mnt = volume
    return " && ".join(['mount -o loop "%s" "%s"' % (img, mnt)] + list(more))


@pytest.mark.parametrize("mode", MODES)
def test_a_0644_library_with_the_programs_inode_number_is_not_the_program(tmp_path, volume, mode):
    """LD_PRELOAD="evil/libbad.so libexeccheck.so" /prog: the preload face's sweep found the
    library's mapping showing the program's (dev, ino) - the kernel executed that, so it passed
    unchecked, and main() ran enforcing. Now it is checked: refused (126 before main) or recorded."""
    img, mnt = volume
    bad = mnt / "evil/libbad.so"
    r = run_face(mode, [mnt / "prog"], tmp_path, preload="%s %s" % (bad, SHIM), setup=mount_setup(volume))
    assert [rec["path"] for rec in r.records] == [str(bad)], r.records
    if mode in ENFORCING:
        assert r.rc == 126 and "main ran" not in r.out, (r.out, r.err)
        assert "execcheck: refused to run with %s: x-bit" % bad in r.err, r.err
    else:
        assert r.rc == 0 and "main ran" in r.out, (r.out, r.err)


@pytest.mark.parametrize("mode", MODES)
def test_an_injected_library_that_renames_its_name_to_a_good_file_of_its_number(tmp_path, volume, mode):
    """LD_PRELOAD="libexeccheck.so /link.so", /link.so a symlink to evil/libbad.so, whose
    constructor turns /link.so to good/libgood.so (same inode number, another subvolume) before the
    sweep: the sweep opened /link.so, found the mapped (dev, ino) by translation, and checked
    libgood.so. Now the bytes in memory are not libgood.so's: the kernel's name of the mapping is
    followed to libbad.so, which is checked."""
    img, mnt = volume
    link, spare = mnt / "link.so", mnt / "link.flip"
    setup = mount_setup(volume, 'ln -sfn evil/libbad.so "%s"' % link, 'ln -sfn good/libgood.so "%s"' % spare)
    # ld.so runs the constructors of LD_PRELOAD's entries last to first: libbad.so's before ours
    r = run_face(mode, [mnt / "prog2"], tmp_path, preload="%s %s" % (SHIM, link), setup=setup,
                 env={"FLIP_FROM": str(spare), "FLIP_TO": str(link)})
    assert "BAD RAN" in r.out
    assert [rec["path"] for rec in r.records] == [str(mnt / "evil/libbad.so")], r.records
    if mode in ENFORCING:
        assert r.rc == 126 and "main ran" not in r.out, (r.out, r.err)
    else:
        assert r.rc == 0 and "main ran" in r.out, (r.out, r.err)


# gdb turns the symlink to libbad.so just before ld.so's own openat of it, and back to libgood.so
# as that call returns: the face's la_objsearch checked libgood.so, ld.so maps libbad.so, and
# la_objopen finds the name leading to libgood.so again. Syscall entry: $rax holds -ENOSYS.
GDB_FLIP = r'''
import os, gdb
link, good, bad = os.environ["FLIP_LINK"], os.environ["FLIP_GOOD"], os.environ["FLIP_BAD"]
def turn(to):
    os.symlink(to, link + ".tmp")
    os.rename(link + ".tmp", link)
gdb.execute("catch syscall openat")
armed, flips, cmd = False, 0, "run"
while True:
    try:
        gdb.execute(cmd, to_string=True)
    except gdb.error:
        break
    cmd = "continue"
    if not gdb.selected_inferior().pid:
        break
    frame = gdb.selected_frame()
    if int(frame.read_register("rax")) == -38:
        name = gdb.parse_and_eval("(const char *)$rsi").string()
        where = gdb.solib_name(frame.pc()) or ""
        if name == link and "libexeccheck" not in where:
            turn(bad)
            armed = True
    elif armed:
        turn(good)
        armed = False
        flips += 1
print("FLIPS %d" % flips)
'''


@pytest.mark.parametrize("enforce", [False, True], ids=["audit", "enforce"])
def test_a_file_of_the_same_number_swapped_in_between_ld_so_and_la_objopen(tmp_path, volume, enforce):
    """The audit face: dlopen("/link.so") with the name turned to libbad.so only while ld.so opens
    it (gdb). la_objopen's open of the name found libgood.so, whose translated (dev, ino) is the
    mapped one: allowed, and libbad.so's constructor ran enforcing. Now: refused before it runs."""
    assert GDB, "gdb is needed to turn the name at ld.so's open"
    img, mnt = volume
    link = mnt / "link.so"
    script = tmp_path / "flip.py"
    script.write_text(GDB_FLIP)
    log = tmp_path / "records.jsonl"
    argv = [GDB, "-nx", "-batch", "-ex", "set startup-with-shell off"]
    for k, v in {"LD_AUDIT": SHIM, "EXECCHECK_LOG_FILE": log}.items():  # the program's, not gdb's
        argv += ["-ex", "set environment %s=%s" % (k, v)]
    argv += ["-x", str(script), "--args", str(mnt / "prog2"), str(link)]
    env = clean_env({"FLIP_LINK": str(link), "FLIP_GOOD": "good/libgood.so", "FLIP_BAD": "evil/libbad.so"})
    kw = {"preexec_fn": lambda: execcheck.set_securebits(restrict_file=True)} if enforce else {}
    p = in_mountns(mount_setup(volume, 'ln -sfn good/libgood.so "%s"' % link) + ' && exec "$@"', *argv, env=env,
                   stdin=subprocess.DEVNULL, timeout=180, **kw)
    assert "FLIPS 1" in p.stdout, (p.stdout, p.stderr)
    records = log.read_text().splitlines() if log.exists() else []
    assert len(records) == 1 and '"path":"%s"' % (mnt / "evil/libbad.so") in records[0], records
    if enforce:
        assert "BAD RAN" not in p.stdout and "dlopen" not in p.stdout, p.stdout
        assert "exited with code 0176" in p.stdout, p.stdout  # 126, as gdb says it
    else:
        assert "BAD RAN" in p.stdout and "dlopen ok" in p.stdout, p.stdout


@pytest.mark.parametrize("mode", ("off",) + MODES)
def test_programs_and_libraries_on_btrfs_run_as_without_the_shim(tmp_path, volume, mode):
    """The good cases, each face: a program whose library is on another subvolume, the same run by
    ld.so directly, and a dlopen() of that library by path under the preload face's guard."""
    img, mnt = volume
    setup = mount_setup(volume)
    r = run_face(mode, [mnt / "libuse"], tmp_path, setup=setup)
    assert (r.rc, r.out) == (0, "libfn 42\n"), (r.out, r.err)
    r = run_face(mode, [LDSO, mnt / "libuse"], tmp_path, setup=setup)
    assert (r.rc, r.out) == (0, "libfn 42\n"), (r.out, r.err)
    r = run_face(mode, [mnt / "prog2", mnt / "good/libgood.so"], tmp_path, setup=setup,
                 preload=None if mode == "off" else str(SHIM))
    assert (r.rc, r.out) == (0, "main ran\ndlopen ok\n"), (r.out, r.err)
    assert r.records == [] or mode == "off", r.records

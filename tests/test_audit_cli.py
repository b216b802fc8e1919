"""`execcheck audit` on bad input: every case a finding (or a one-line usage error), never a
traceback; and the command-line contract (exit status, --fail-on, JSON, --explain)."""
import json
import os
import shutil
import struct

import pytest

from conftest import execcheck_as_nobody as as_nobody, execcheck_cmd, need_mountns, need_root, run
from ldfixtures import Tree


def audit(*args, **kw):
    r = run(execcheck_cmd() + ["audit"] + [str(a) for a in args], **kw)
    assert "Traceback" not in r.stderr, r.stderr
    return r


def audit_json(*args):
    r = audit("--json", "--fail-on", "none", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def findings(doc, rule=None):
    return [(f["rule"], f["path"]) for f in doc["findings"] if rule is None or f["rule"] == rule]


def elf32(path, interp=b"/lib/ld-linux.so.2"):
    """A minimal 32-bit i386 executable with a PT_INTERP (never run)."""
    ehdr_size, ph_size = 52, 32
    interp_off = ehdr_size + 2 * ph_size
    data = bytearray(interp_off + len(interp) + 1 + 64)
    data[0:16] = b"\x7fELF\x01\x01\x01" + bytes(9)
    struct.pack_into("<HHIIIIIHHHHHH", data, 16, 2, 3, 1, 0x8048000, ehdr_size, 0, 0, ehdr_size, ph_size, 2, 40, 0, 0)
    struct.pack_into("<IIIIIIII", data, ehdr_size, 3, interp_off, 0x8048000 + interp_off, 0, len(interp) + 1,
                     len(interp) + 1, 4, 1)
    struct.pack_into("<IIIIIIII", data, ehdr_size + ph_size, 1, 0, 0x8048000, 0, len(data), len(data), 5, 0x1000)
    data[interp_off:interp_off + len(interp)] = interp
    path.write_bytes(bytes(data))
    os.chmod(path, 0o755)
    return path


@pytest.fixture
def bad(tmp_path):
    t = Tree(tmp_path / "fx")
    good = t.lib("lib/libgood.so", "good", soname="libgood.so")
    prog = t.prog("bin/prog", needed=[good], runpath=str(t.p("lib")))
    d = t.p("bad")
    d.mkdir()
    (d / "libtrunc.so.1").write_bytes(good.read_bytes()[:200])                 # truncated ELF
    (d / "libtext.so").write_text("this is not an ELF file at all\n")           # non-ELF named like a library
    os.symlink("libloop.so", d / "libloop.so")                                   # symlink loop
    (d / "libdir.so").mkdir()                                                    # a directory named like one
    os.mkfifo(d / "libfifo.so")                                                  # a FIFO named like one
    with open(d / "libhuge.so", "wb") as f:                                      # huge (sparse) ELF
        f.write(good.read_bytes()[:4096])
        f.truncate(1 << 34)
    elf32(d / "prog32")                                                          # 32-bit program
    for name, machine in (("prog-aarch64", 183), ("prog-riscv", 243)):            # other architectures
        other = bytearray(prog.read_bytes())
        other[18:20] = machine.to_bytes(2, "little")
        (d / name).write_bytes(bytes(other))
        os.chmod(d / name, 0o755)
    corrupt = bytearray(good.read_bytes())
    struct.pack_into("<Q", corrupt, 32, 1 << 62)                                 # e_phoff far away
    (d / "libcorrupt.so").write_bytes(bytes(corrupt))
    return t, d


def test_bad_inputs_are_findings(bad):
    t, d = bad
    doc = audit_json(d)
    f = dict(((rule, os.path.basename(path)), True) for rule, path in findings(doc))
    assert ("bad-elf", "libtrunc.so.1") in f
    assert ("bad-elf", "libtext.so") in f
    assert ("bad-elf", "libcorrupt.so") in f
    assert ("foreign-program", "prog32") not in f  # i386: resolved by the 32-bit loader's rules
    assert doc["inputs"][str(d / "prog32")].startswith("program:"), doc["inputs"]
    assert ("foreign-program", "prog-aarch64") not in f  # the aarch64 loader's rules (its libs are missing here)
    assert doc["inputs"][str(d / "prog-aarch64")].startswith("program:"), doc["inputs"]
    assert ("foreign-program", "prog-riscv") in f
    assert doc["inputs"][str(d / "libhuge.so")].startswith("library:")   # read, not slurped: 16 GiB sparse
    assert doc["inputs"][str(d / "libfifo.so")] == "not-regular"
    # named explicitly, the loop and the directory's contents are findings or skipped, no traceback
    doc2 = audit_json(d / "libloop.so", d / "nonexistent.so", d / "libfifo.so")
    assert {os.path.basename(p) for _r, p in findings(doc2, "unreadable")} == {"libloop.so"}
    assert {os.path.basename(p) for _r, p in findings(doc2, "missing-input")} == {"nonexistent.so"}
    # the text report says what it did not read (it said nothing of the FIFO)
    r = audit("--fail-on", "none", str(d / "libfifo.so"))
    assert "not audited, not a regular file: %s" % (d / "libfifo.so") in r.stdout.splitlines(), r.stdout


def test_bad_candidates_on_a_search_path_are_load_errors(bad, tmp_path):
    t, d = bad
    for name in ("libtrunc.so.1", "libtext.so", "libdir.so", "libcorrupt.so"):
        lib_ = t.lib("l/%s" % name, name, soname=name)
        prog = t.prog("bin/p_%s" % name, needed=[lib_], runpath="%s:%s" % (d, t.p("l")))
        doc = audit_json(prog)
        errs = [x for x in doc["findings"] if x["rule"] == "library-load-error"]
        assert [os.path.basename(x["path"]) for x in errs] == [name], doc["findings"]
        assert doc["summary"]["would_not_start"] == [str(prog)]


def test_unreadable_files_as_nobody(bad, open_tmp):
    """Run as nobody on a 0600 file and a 0700 directory: each is a finding. The directory,
    which the walk could not list, was passed over in silence ("no findings", as if empty);
    and `audit --root` of an image nobody may search ended in a PermissionError traceback."""
    need_root()
    t, _ = bad
    f = open_tmp / "libsecret.so"
    f.write_bytes(t.p("lib/libgood.so").read_bytes())
    os.chmod(f, 0o600)
    (open_tmp / "private").mkdir(mode=0o700)
    code, out, err = as_nobody(["audit", "--json", "--fail-on", "none", str(open_tmp)])
    assert code == 0, err
    doc = json.loads(out)
    assert ("unreadable", str(f)) in findings(doc)
    assert ("unreadable", str(open_tmp / "private")) in findings(doc), doc["findings"]
    code, out, err = as_nobody(["audit", "--root", str(open_tmp / "private")])
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, err
    assert err.startswith("execcheck: audit: cannot read %s/" % (open_tmp / "private")), err


def test_corrupt_image_cache_is_not_a_crash(tmp_path):
    need_root()
    from imagefixture import base_root
    img = base_root(tmp_path / "root")
    img.lib("/opt/lib/libx.so", "x", "libx.so")
    img.prog("/usr/bin/px", link=["/opt/lib/libx.so"], runpath="/opt/lib")
    (img.root / "etc/ld.so.cache").write_bytes(b"glibc-ld.so.cache1.1" + b"\xff" * 200)
    doc = audit_json("--root", img.root)
    assert doc["inputs"]["/usr/bin/px"] == "program:ok"
    assert not [x for x in doc["findings"] if x["severity"] == "error"]


def test_usage_errors_are_one_line():
    r = audit()
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "give a PATH or --root" in r.stderr
    r = audit("--root", "/nonexistent-execcheck-root")
    assert r.returncode == 2 and r.stderr.count("\n") == 1


def test_exit_status_and_explain(tmp_path):
    t = Tree(tmp_path / "fx")
    lib_ = t.lib("lib/libgone.so", "gone", soname="libgone.so")
    prog = t.prog("prog", needed=[lib_], runpath="/nonexistent-execcheck:%s" % t.p("empty"))
    os.unlink(lib_)
    r = audit(prog, "--explain")
    assert r.returncode == 1                      # an error finding, default --fail-on error
    assert "missing-library" in r.stdout and "libgone.so" in r.stdout
    assert "tried /nonexistent-execcheck/libgone.so" in r.stdout or "tried" in r.stdout
    assert audit(prog, "--fail-on", "none").returncode == 0
    doc = audit_json(prog, "--explain")
    miss = [x for x in doc["findings"] if x["rule"] == "missing-library"][0]
    tried = [x["path"] for x in miss["details"]["tried"]]
    assert tried[-1].endswith("/usr/lib/libgone.so")          # the search ends in the default dirs
    assert any(p.startswith("/nonexistent-execcheck/glibc-hwcaps/") for p in tried)
    ok = audit("/usr/bin/true", "--fail-on", "error")
    assert ok.returncode == 0


def test_file_capabilities_mean_secure_mode(tmp_path):
    """A program with file capabilities runs with AT_SECURE: $ORIGIN outside trusted directories is
    dropped, so its library is not found (the resolver is told so by the audit)."""
    need_root()
    import shutil
    t = Tree(tmp_path / "fx")
    lib_ = t.lib("lib/libo.so", "o", soname="libo.so")
    prog = t.prog("prog", needed=[lib_], rpath="$ORIGIN/lib")
    before = audit_json(prog)
    assert before["entries"][0]["secure"] is False and before["entries"][0]["starts"] is True
    r = run([shutil.which("setcap") or "/usr/sbin/setcap", "cap_net_raw+ep", str(prog)])
    assert r.returncode == 0, r.stderr
    try:
        after = audit_json(prog)
    finally:
        run([shutil.which("setcap") or "/usr/sbin/setcap", "-r", str(prog)])  # no privileged file left in tmp
    assert after["entries"][0]["secure"] is True and after["entries"][0]["starts"] is False
    errors = {f["rule"] for f in after["findings"] if f["severity"] == "error"}
    assert {"missing-library", "rpath-origin-setuid"} <= errors
    assert "rpath-origin-setuid" not in {f["rule"] for f in before["findings"]}


def test_set_user_id_fuse_mount_helpers_are_named(tmp_path):
    """A set-user-ID-root fusermount lets users mount filesystems of their own without noexec: a
    warning for each one others can run (any user; a group's members), none for one that is not
    set-user-ID, one a user owns, or one no one else may run - nor for another set-user-ID program."""
    need_root()
    cases = {"any/fusermount3": (0o4755, 0, None), "group/fusermount": (0o4750, 0, 65534),
             "plain/fusermount3": (0o755, 0, None), "users/fusermount3": (0o4755, 65534, None),
             "owner/fusermount": (0o4700, 0, None), "other/mount.fuse3": (0o4755, 0, None)}
    for name, (mode, uid, gid) in cases.items():
        p = tmp_path / name
        p.parent.mkdir()
        shutil.copy("/bin/true", p)
        os.chown(p, uid, gid if gid is not None else 0)
        os.chmod(p, mode)  # after chown, which clears the set-user-ID bit
    doc = audit_json(*sorted(tmp_path.glob("*/*")))
    helpers = {f["path"]: f["message"] for f in doc["findings"] if f["rule"] == "user-mount-helper"}
    assert sorted(helpers) == [str(tmp_path / "any/fusermount3"), str(tmp_path / "group/fusermount")], helpers
    assert "set-user-ID root: any user can mount a FUSE filesystem that is not noexec" in \
        helpers[str(tmp_path / "any/fusermount3")]
    assert "the members of its group (gid 65534) can mount" in helpers[str(tmp_path / "group/fusermount")]
    r = audit(tmp_path / "any/fusermount3")
    assert "warning EXC044 user-mount-helper" in r.stdout, r.stdout


def test_a_program_an_auxiliary_filtee_stops_says_why(tmp_path):
    """In secure mode ld.so refuses a $ORIGIN in a DT_AUXILIARY before it would ignore the filtee's
    failure: the program does not start, and the audit names the token (it skipped every auxiliary)."""
    from ldfixtures import patch_bytes
    t = Tree(tmp_path / "fx")
    t.lib("lib/libx.so", "X", soname="libx.so")
    lib_ = t.lib("lib/liba.so", "A", soname="liba.so", flags=["-Wl,-f,@ORIGIN/libx.so"])
    patch_bytes(lib_, b"@ORIGIN/libx.so", b"$ORIGIN/libx.so")
    prog = t.prog("prog", needed=[lib_], runpath=str(t.p("lib")))
    assert audit_json(prog)["entries"][0]["starts"] is True
    doc = audit_json("--secure", "yes", prog)
    assert doc["entries"][0]["starts"] is False
    assert findings(doc, "dynamic-string-token") == [("dynamic-string-token", str(lib_))]


def test_asan_programs_are_named(tmp_path):
    """A program built with -fsanitize=address loads libasan, which stops it at start behind any
    preload (README "Edges"): the audit says so, once for the runtime, with the program listed."""
    src = tmp_path / "a.c"
    src.write_text("int main(void) { return 0; }\n")
    prog, plain = tmp_path / "asan_prog", tmp_path / "plain_prog"
    r = run([os.environ.get("CC", "cc"), "-fsanitize=address", "-o", str(prog), str(src)])
    if r.returncode != 0:
        pytest.skip("this compiler cannot build with -fsanitize=address: %s" % r.stderr[-200:])
    assert run([os.environ.get("CC", "cc"), "-o", str(plain), str(src)]).returncode == 0
    doc = audit_json(prog, plain)
    found = [f for f in doc["findings"] if f["rule"] == "sanitizer-runtime"]
    assert len(found) == 1 and os.path.basename(found[0]["path"]).startswith("libasan.so"), found
    assert found[0]["id"] == "EXC043" and found[0]["programs"] == [str(prog)], found



def test_a_deep_tree_is_walked_not_a_traceback(tmp_path, deep_dirs):
    """An image with a library 1,100 directories deep: CPython 3.11's os.walk recursed once per
    level and the audit ended in a RecursionError traceback; now the library is found and judged."""
    need_root()
    from imagefixture import base_root
    img = base_root(tmp_path / "root")
    built = img.lib("/usr/lib/libdeep.so", "deep", "libdeep.so")
    bottom = deep_dirs(img.root / "usr/lib", 1100)
    os.rename(built, os.path.join(bottom, "libdeep.so"))
    os.chmod(os.path.join(bottom, "libdeep.so"), 0o644)
    doc = audit_json("--root", img.root)
    assert ("exec-denied", "/" + os.path.relpath(bottom, img.root) + "/libdeep.so") in findings(doc), findings(doc)


def test_a_deep_chain_of_dependencies_in_the_tree(tmp_path, cc):
    """1,100 libraries, each needing the next (copies of one, their names patched): ld.so follows
    such a chain, and `audit --tree` printed it by recursion, one Python frame per level, until a
    RecursionError traceback. Now the whole chain is printed, each level one step further in."""
    src = tmp_path / "s.c"
    src.write_text("int f(void) { return 1; }\n")
    lib = tmp_path / "lib"
    lib.mkdir()
    for soname, out in (("lchainBBBB.so", lib / "b.so"), ("lchainAAAA.so", tmp_path / "tmpl.so")):
        cmd = ["cc", "-shared", "-fPIC", "-o", str(out), str(src), "-Wl,-soname," + soname, "-Wl,--no-as-needed"]
        run(cmd + ([str(lib / "b.so")] if soname.startswith("lchainA") else []), check=True)
    template = (tmp_path / "tmpl.so").read_bytes()
    n = 1100
    for i in range(n):
        (lib / ("lchain%04d.so" % i)).write_bytes(
            template.replace(b"lchainAAAA", b"lchain%04d" % i).replace(b"lchainBBBB", b"lchain%04d" % (i + 1)))
        os.chmod(lib / ("lchain%04d.so" % i), 0o755)
    (lib / "b.so").unlink()
    prog = cc("int main(void) { return 0; }\n", "prog", "-Wl,--no-as-needed", str(lib / "lchain0000.so"))
    r = audit("--tree", "--fail-on", "none", "--ld-library-path", str(lib), str(prog))
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.splitlines()
    deepest = "    " * n + "lchain%04d.so => %s/lchain%04d.so [ld-library-path]" % (n - 1, lib, n - 1)
    assert deepest in lines, lines[:5]
    assert "    " * (n + 1) + "lchain%04d.so => cannot open shared object file" % n in lines


def test_a_library_ld_so_cannot_map_is_a_finding_when_named(tmp_path):
    """A shared object named on the command line is the resolver's main object, whose defects past
    the program headers it passed over: e_phnum 0xffff (ld.so: 'cannot read file data') or a
    truncated copy (ld.so: SIGBUS) gave 'no findings', where the same file as a dependency is a
    load error. Each is bad-elf now; ld.so is asked to confirm it cannot use them."""
    data = bytearray(open("/lib/x86_64-linux-gnu/libm.so.6", "rb").read())
    phnum = bytearray(data)
    struct.pack_into("<H", phnum, 56, 0xFFFF)
    cases = {"libphnum.so": bytes(phnum), "libtrunc.so": bytes(data[:8192])}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        os.chmod(tmp_path / name, 0o755)
        r = run(["/lib64/ld-linux-x86-64.so.2", "--list", str(tmp_path / name)])
        assert r.returncode != 0, (name, r.stdout)
    doc = audit_json(*(str(tmp_path / n) for n in cases))
    assert sorted(os.path.basename(p) for _r, p in findings(doc, "bad-elf")) == sorted(cases), doc["findings"]
    assert {doc["inputs"][str(tmp_path / n)] for n in cases} == {"bad-elf"}
    # walked in a directory too (named like libraries); a good library beside them is not one
    (tmp_path / "libgood.so").write_bytes(bytes(data))
    os.chmod(tmp_path / "libgood.so", 0o755)
    doc = audit_json(str(tmp_path))
    assert sorted(os.path.basename(p) for _r, p in findings(doc, "bad-elf")) == sorted(cases), doc["findings"]


def test_a_relative_noexec_mount_or_an_empty_path_is_a_usage_error(tmp_path):
    """--noexec-mount usr matched no real path and was dropped silently (audit and image verify
    went on as if it had not been given); `audit ""` (an unset variable) audited the working
    directory. Both are one line and exit 2 now; the absolute form takes effect."""
    root = tmp_path / "img"
    (root / "etc").mkdir(parents=True)
    for args in (["audit", "--root", str(root), "--noexec-mount", "usr"],
                 ["image", "verify", "--noexec-mount", "usr", str(root)],
                 ["audit", ""], ["audit", "--root", str(root), ""]):
        r = run(execcheck_cmd() + args, cwd=str(tmp_path))
        assert r.returncode == 2 and r.stderr.startswith("execcheck: ") and r.stderr.count("\n") == 1, (args, r.stderr)
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy("/bin/true", root / "usr/bin/true")
    doc = audit_json("--root", root, "--noexec-mount", "/usr")
    assert [f["path"] for f in doc["findings"] if f["rule"] == "exec-denied"] == ["/usr/bin/true"], doc["findings"]


def test_a_symlink_loop_is_named_as_one(tmp_path):
    """A PATH that is a loop of symlinks is unreadable for that reason, not "does not exist"."""
    os.symlink(str(tmp_path / "b"), str(tmp_path / "a"))
    os.symlink(str(tmp_path / "a"), str(tmp_path / "b"))
    r = run(execcheck_cmd() + ["audit", str(tmp_path / "a"), str(tmp_path / "missing")])
    assert "EXC051 unreadable" in r.stdout and "%s: too many levels of symbolic links" % (tmp_path / "a") in r.stdout, r
    assert "%s: does not exist in the system" % (tmp_path / "missing") in r.stdout, r


def test_a_typo_or_a_wrong_root_fails_the_gate(tmp_path, open_tmp):
    """`audit /nonexistent`, a missing PATH in an image, and a --root that holds no program passed
    a CI gate (exit 0: a warning, or "no findings"). Each is an error finding now (exit 1)."""
    r = run(execcheck_cmd() + ["audit", str(tmp_path / "missing")])
    assert r.returncode == 1 and "error   EXC052 missing-input" in r.stdout, r
    assert "%s: does not exist in the system" % (tmp_path / "missing") in r.stdout, r
    (tmp_path / "empty").mkdir()
    r = run(execcheck_cmd() + ["audit", "--root", str(tmp_path / "empty")])
    assert r.returncode == 1 and "EXC053 empty-image" in r.stdout and "holds no program" in r.stdout, r
    r = run(execcheck_cmd() + ["audit", "--root", str(tmp_path / "empty"), "/bin/lss"])
    assert r.returncode == 1 and "/bin/lss: does not exist in the image" in r.stdout, r
    assert "EXC053" not in r.stdout, r  # named paths: the image is not judged as a whole
    # a dangling symlink is there (ls shows it): "does not exist" sent the user looking for a typo
    os.symlink("/nonexistent/target", str(tmp_path / "dangling"))
    r = run(execcheck_cmd() + ["audit", str(tmp_path / "dangling")])
    assert r.returncode == 1 and "%s: a symbolic link to a file that does not exist in the system" % (
        tmp_path / "dangling") in r.stdout, r
    os.symlink("/nonexistent/target", str(tmp_path / "empty/dangling"))
    r = run(execcheck_cmd() + ["audit", "--root", str(tmp_path / "empty"), "/dangling"])
    assert r.returncode == 1 and "/dangling: a symbolic link to a file that does not exist in the image" in r.stdout, r
    # a named PATH that cannot be examined (a loop of symlinks, a name too long; as a user, a file it
    # may not read) was a warning: exit 0, nothing of it audited. An error, as a missing one
    os.symlink(str(tmp_path / "loop"), str(tmp_path / "loop"))
    for path in (tmp_path / "loop", "/" + "a" * 300):
        r = run(execcheck_cmd() + ["audit", str(path)])
        assert r.returncode == 1 and "error   EXC051 unreadable" in r.stdout, r
    need_root()
    secret = open_tmp / "secret"
    shutil.copy("/bin/true", secret)
    os.chmod(secret, 0o700)
    code, out, err = as_nobody(["audit", str(secret)])
    assert code == 1 and "error   EXC051 unreadable            %s: Permission denied" % secret in out, out + err


def test_the_first_line_counts_entry_points_and_what_they_load(tmp_path):
    """It said "1 programs, 0 shared objects, 6 code files" beside findings on three libraries:
    the entry points audited are counted apart from every ELF file reached from them."""
    t = Tree(tmp_path / "fx")
    dep = t.lib("lib/libdep.so", "dep", soname="libdep.so")
    top = t.lib("lib/libtop.so", "top", soname="libtop.so", needed=[dep])
    prog = t.prog("prog", needed=[top])
    first = audit(prog).stdout.splitlines()[0]
    n = len(audit_json(prog)["files"])
    assert n >= 3 and first == "execcheck audit of this system: 1 program, 0 shared objects; %d ELF files in all" % n
    n = len(audit_json(prog, str(top), str(dep))["files"])
    assert audit(prog, str(top), str(dep)).stdout.splitlines()[0] == (
        "execcheck audit of this system: 1 program, 2 shared objects; %d ELF files in all" % n)
    m = len(audit_json(str(dep))["files"])
    assert audit(str(dep)).stdout.splitlines()[0] == (
        "execcheck audit of this system: 0 programs, 1 shared object; %d ELF file%s in all" % (m, "" if m == 1 else "s"))


def test_without_proc_audit_and_verify_say_so_in_one_line(tmp_path):
    """With no /proc (a tmpfs over it, in a private mount namespace) `audit /bin/true` reported
    /bin/true "does not exist in the system" (EXC052) and `audit --root` / `image verify` said
    "cannot model the loader: No such file or directory": the resolver names each file as ld.so
    saw it through /proc/self/fd. Each says now what is missing, exit 2, one line."""
    need_mountns()
    root = tmp_path / "r"
    (root / "usr/bin").mkdir(parents=True)
    shutil.copy("/bin/true", root / "usr/bin/true")
    cmd = " ".join(execcheck_cmd())
    for args in ("audit /bin/true", "audit --json /bin/true", "audit --root %s" % root, "image verify %s" % root):
        r = run(["unshare", "--mount", "sh", "-c", "mount -t tmpfs none /proc && exec %s %s" % (cmd, args)])
        assert r.returncode == 2 and r.stdout == "" and r.stderr.count("\n") == 1, (args, r)
        assert "/proc/self/fd: not there: the loader's view of each file is read from /proc" in r.stderr, (args, r)
    assert audit("/bin/true").returncode == 0  # with /proc, as before

"""image prepare and image verify on roots a hostile (or merely broken) image brings: symlinks that
name no file where the steps look for the image's trees and files (a loop, a link through a file),
/etc/ld.so.preload as no file at all. The image's own programs find nothing there (ELOOP, ENOTDIR
from the kernel): the steps go on as they would without the name, instead of ending with "cannot
read the image"."""
import json
import os
import shutil

import pytest

import rootfs
from conftest import ec, need_root


@pytest.fixture
def ready(open_tmp):
    """A prepared image with the shim installed, that verify calls ready."""
    need_root()
    return rootfs.ready_image(open_tmp / "root")


def _no_file(root, path, how):
    """Makes the image path `path` a symlink that names no file: a loop to itself, or a link
    through a regular file."""
    host = root + path
    if os.path.islink(host) or os.path.isfile(host):
        os.unlink(host)
    elif os.path.isdir(host):
        shutil.rmtree(host)
    os.makedirs(os.path.dirname(host), exist_ok=True)
    os.symlink(path if how == "loop" else "/etc/hostname/x", host)
    with open(root + "/etc/hostname", "w") as f:
        f.write("image\n")


# where prepare and verify look for trees: the Python installs' prefixes, Debian's dist-packages and
# its parent, the private module parents, the includes of ld.so.conf, a library directory it names
WHERE = ["/usr/local", "/opt", "/usr/share", "/usr/lib/python3", "/usr/lib/python3/dist-packages",
         "/etc/ld.so.conf.d", "/usr/lib/aarch64-linux-gnu", "/lib32"]


@pytest.mark.parametrize("how", ["loop", "through a file"])
@pytest.mark.parametrize("where", WHERE)
def test_a_symlink_that_names_no_file_is_nothing_to_prepare_or_verify(ready, where, how):
    """Each of these, a symlink loop (or a link through a file), ended prepare with "cannot read the
    image: /usr/local/lib/x86_64-linux-gnu: too many levels of symbolic links" and verify with
    "cannot audit the image" (exit 2): a broken image could not be prepared or verified at all,
    though its programs meet nothing there. Both go on now: nothing to change, ready."""
    if where == "/etc/ld.so.conf.d":  # what it named, in ld.so.conf itself
        with open(ready + "/etc/ld.so.conf", "a") as f:
            f.write("/usr/lib/x86_64-linux-gnu\n")
    _no_file(ready, where, how)
    r = ec("image", "prepare", "--json", ready)
    assert r.returncode == 0 and r.stderr == "", (r.returncode, r.stderr)
    doc = json.loads(r.stdout)
    assert doc["complete"] and doc["changes"] == [] and doc["unreadable"] == [], doc
    r = ec("image", "verify", "--json", ready)
    assert r.returncode == 0 and json.loads(r.stdout)["ready"], (r.stderr, r.stdout[:2000])


@pytest.mark.parametrize("how", ["loop", "through a file", "directory"])
def test_an_ld_so_preload_that_is_no_file_is_a_shim_problem_not_an_unreadable_image(ready, how):
    """/etc/ld.so.preload a symlink loop, a link through a file, or a directory: ld.so preloads
    nothing from it (every program runs unchecked). verify ended with "cannot audit the image"
    (exit 2) instead of saying so: not ready now, because the shim is not named."""
    if how == "directory":
        os.unlink(ready + "/etc/ld.so.preload")
        os.mkdir(ready + "/etc/ld.so.preload")
    else:
        _no_file(ready, "/etc/ld.so.preload", how)
    r = ec("image", "verify", "--json", ready)
    assert r.returncode == 1, r.stderr
    v = json.loads(r.stdout)
    says = "is a directory: ld.so preloads nothing from it, so no program loads the shim: remove it and run" \
        if how == "directory" else "does not name libexeccheck.so: run"
    assert v["shim_problems"][0] == "/etc/ld.so.preload %s `execcheck image install`" % says, v


def test_a_root_that_is_no_directory_says_what_it_is(tmp_path):
    """A ROOT that does not exist was "not a directory", as a file or a dangling link was: the user
    looked at a path that is not there for what else it could be. Each says what it is now, in one
    line, exit 2, for every step."""
    (tmp_path / "file").write_text("x\n")
    os.symlink(str(tmp_path / "nothing"), str(tmp_path / "dangling"))
    for name, what in (("missing", "does not exist"), ("file", "is not a directory"),
                       ("dangling", "is a symbolic link that names no directory")):
        for step in (["prepare"], ["prepare", "--apply"], ["revert"], ["install"], ["uninstall"], ["verify"]):
            r = ec("image", *step, str(tmp_path / name))
            assert r.returncode == 2 and r.stdout == "" and r.stderr == "execcheck: %s %s: give the image's root " \
                "directory\n" % (tmp_path / name, what), (step, r.stderr)


def test_json_names_a_path_that_is_not_utf8_by_its_bytes(ready):
    """The JSON spells a byte that is not UTF-8 \\u00XX: lib\\xff.so and libÿ.so (UTF-8) both came out
    "lib\\u00ff.so", and a tool acting on prepare's or verify's list reached the wrong file, or none.
    An entry whose path is not UTF-8 carries its bytes now (path_hex); others are as they were."""
    libdir = ready.encode() + b"/usr/lib/x86_64-linux-gnu/"
    for name in (b"lib\xff.so", "libÿ.so".encode()):
        shutil.copy(libdir + b"libc.so.6", libdir + name)
        os.chmod(libdir + name, 0o644)
    for step, key in ((["prepare"], "changes"), (["verify"], "refusals")):
        r = ec("image", *step, "--json", ready)
        entries = [e for e in json.loads(r.stdout)[key] if e["path"] == "/usr/lib/x86_64-linux-gnu/lib\u00ff.so"]
        assert len(entries) == 2, (step, r.stdout[:3000])
        assert sorted(bytes.fromhex(e["path_hex"]) if "path_hex" in e else e["path"].encode() for e in entries) == \
            sorted([b"/usr/lib/x86_64-linux-gnu/lib\xff.so", "/usr/lib/x86_64-linux-gnu/libÿ.so".encode()]), entries


def test_each_json_key_is_taught_by_the_help(ready):
    """prepare's and verify's --json had one help line ("the changes (and the files left)", "the
    verdict, refusals and shim problems") for documents of 9 and 11 keys: complete, not_walked,
    changed_while_preparing... were found by reading the source. Each key is named in its step's
    --help now, with path_hex for a path that is not UTF-8."""
    for step in ("prepare", "verify"):
        doc = json.loads(ec("image", step, "--json", ready).stdout)
        text = ec("image", step, "--help").stdout
        assert [k for k in list(doc) + ["path_hex"] if k not in text] == [], (step, text)


def test_verify_names_the_refused_python_files(ready):
    """A refused Python tree was one line, "the exec check would refuse 7 of 7 Python code files
    (x-bit 7)": which files, the builder had to find with --json. The text names the first five
    and counts the rest."""
    tree = ready + "/opt/app/lib/python3.11/site-packages/app"
    os.makedirs(tree)
    for i in range(7):
        with open("%s/m%d.py" % (tree, i), "w") as f:
            f.write("")
        os.chmod("%s/m%d.py" % (tree, i), 0o644)
    r = ec("image", "verify", ready)
    assert r.returncode == 1, r.stdout
    assert "refused  /opt/app/lib/python3.11/site-packages: the exec check would refuse 7 of 7 Python code files " \
        "(x-bit 7)\n         %s and 2 more (--json: details.files)\n" % ", ".join(
            "/opt/app/lib/python3.11/site-packages/app/m%d.py" % i for i in range(5)) in r.stdout, r.stdout

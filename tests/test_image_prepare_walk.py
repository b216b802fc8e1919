"""image prepare on a root that changes while it is walked: a name removed, a directory swapped for
a symlink or a file for a directory between the walk's listing and prepare's look at it is said
(the list is incomplete, exit 1), as image verify says it (test_image_verify_walk.py); a symlink
that names no file is still nothing to change."""
import json
import os
import shutil

import pytest

import rootfs
from conftest import need_root

LIBDIR = "/usr/lib/x86_64-linux-gnu"


@pytest.fixture
def image(open_tmp):
    """A small image whose libraries are 0644 (Debian's), one extra library each test may change."""
    need_root()
    return rootfs.debian_modes_image(open_tmp / "root", ("libextra.so.1",))


def prepare_in_process(root, capsys, *args):
    """(exit status, prepare --json's document), run in this process: a test's hook changes the
    root at a chosen step."""
    from execcheck import cli
    capsys.readouterr()
    code = cli.main(["image", "prepare", "--json", *args, root])
    return code, json.loads(capsys.readouterr().out)


def _after_listing(monkeypatch, root, image_dir, change):
    """Runs change() once, just after prepare's walk of the code directories has listed the image
    directory image_dir (before prepare looks at any of its names; the search for Python trees
    lists the directories first): a root that changes under the walk, on cue."""
    from execcheck.image import prepare
    files = prepare._walk_files
    done = []

    def walk_files(walker, *args):
        listed = walker.walk

        def walk(*a):
            for dirpath, dirnames, filenames in listed(*a):
                if dirpath == root + image_dir and not done:
                    done.append(1)
                    change()
                yield dirpath, dirnames, filenames
        walker.walk = walk
        try:
            yield from files(walker, *args)
        finally:
            del walker.walk
    monkeypatch.setattr(prepare, "_walk_files", walk_files)


def changed(doc):
    return [(c["path"], c["errno"]) for c in doc["changed_while_preparing"]]


def test_a_library_removed_after_the_listing_is_a_change(image, monkeypatch, capsys):
    """A library removed between the walk's listing and prepare's lstat was passed over like a
    dangling link: exit 0, "complete", a list that claimed the whole image. It is a change now."""
    code, doc = prepare_in_process(image, capsys)
    assert code == 0 and doc["complete"] and LIBDIR + "/libextra.so.1" in [c["path"] for c in doc["changes"]], doc
    _after_listing(monkeypatch, image, LIBDIR, lambda: os.unlink(image + LIBDIR + "/libextra.so.1"))
    code, doc = prepare_in_process(image, capsys)
    assert code == 1 and not doc["complete"] and doc["unreadable"] == [], doc
    assert changed(doc) == [(LIBDIR + "/libextra.so.1", "ENOENT")], doc
    assert doc["changed_while_preparing"][0]["reason"] == "removed or renamed since it was listed", doc


def test_the_text_names_the_change_and_calls_the_list_incomplete(image, monkeypatch, capsys):
    from execcheck import cli
    _after_listing(monkeypatch, image, LIBDIR, lambda: os.unlink(image + LIBDIR + "/libextra.so.1"))
    capsys.readouterr()
    assert cli.main(["image", "prepare", image]) == 1
    err = capsys.readouterr().err
    assert "execcheck: %s/libextra.so.1: changed while preparing: removed or renamed since it was listed\n" % LIBDIR \
        in err, err
    assert "execcheck: INCOMPLETE: 1 path of the image changed while it was walked (above): prepare again once " \
        "nothing changes the root\n" in err, err


def test_a_directory_removed_after_its_parent_was_listed_is_a_change(image, monkeypatch, capsys):
    """A subdirectory of a library directory, listed by its parent and removed before the walk
    came to it, was "no loss": its libraries were left out unsaid."""
    sub = image + LIBDIR + "/plugins"
    os.mkdir(sub)
    shutil.copy(image + LIBDIR + "/libc.so.6", sub + "/libplugin.so")
    os.chmod(sub + "/libplugin.so", 0o644)
    _after_listing(monkeypatch, image, LIBDIR, lambda: shutil.rmtree(sub))
    code, doc = prepare_in_process(image, capsys)
    assert code == 1 and changed(doc) == [(LIBDIR + "/plugins", "ENOENT")], doc


def test_a_directory_swapped_for_a_symlink_is_a_change_and_not_followed(image, monkeypatch, capsys):
    """A subdirectory swapped for a symlink to a host directory after its parent's listing was
    dropped without a word (the walk refuses to follow it: ENOTDIR/ELOOP, "no loss"). It is a
    change now, and the host's library is still not in the list."""
    sub = image + LIBDIR + "/plugins"
    os.mkdir(sub)
    outside = os.path.join(os.path.dirname(image), "host-libs")
    os.mkdir(outside)
    shutil.copy(image + LIBDIR + "/libc.so.6", outside + "/libhost.so")
    os.chmod(outside + "/libhost.so", 0o644)

    def swap():
        os.rmdir(sub)
        os.symlink(outside, sub)
    _after_listing(monkeypatch, image, LIBDIR, swap)
    code, doc = prepare_in_process(image, capsys)
    assert code == 1 and [p for p, _ in changed(doc)] == [LIBDIR + "/plugins"], doc
    assert "libhost" not in json.dumps(doc), doc


def test_a_file_replaced_by_a_directory_is_a_change(image, monkeypatch, capsys):
    """A library listed as a file and a directory when prepare looked (holding a library) was
    "not regular": passed over, its contents never walked."""
    victim = image + LIBDIR + "/libextra.so.1"

    def swap():
        os.unlink(victim)
        os.mkdir(victim)
        shutil.copy(image + LIBDIR + "/libc.so.6", victim + "/libinside.so")
    _after_listing(monkeypatch, image, LIBDIR, swap)
    code, doc = prepare_in_process(image, capsys)
    assert code == 1 and changed(doc) == [(LIBDIR + "/libextra.so.1", "EISDIR")], doc
    assert doc["changed_while_preparing"][0]["reason"] == "a directory now, no directory when it was listed", doc


def test_a_library_replaced_before_it_is_read_is_a_change(image, monkeypatch, capsys):
    """A library replaced (renamed over) between prepare's lstat and its reading was told by the
    new file's bytes and planned with the old file's mode and inode (apply then failed on it,
    exit 2). It is a change now: the file looked at is the file read, or neither counts."""
    from execcheck.image import prepare
    victim = image + LIBDIR + "/libextra.so.1"
    tell = prepare._is_library

    def is_library(root, host, st):
        if host == victim:
            shutil.copy(image + LIBDIR + "/libc.so.6", victim + ".new")
            os.rename(victim + ".new", victim)
        return tell(root, host, st)
    monkeypatch.setattr(prepare, "_is_library", is_library)
    code, doc = prepare_in_process(image, capsys)
    assert code == 1 and changed(doc) == [(LIBDIR + "/libextra.so.1", "ESTALE")], doc
    assert LIBDIR + "/libextra.so.1" not in [c["path"] for c in doc["changes"]], doc


def test_links_that_name_no_file_are_nothing_to_change(image, capsys):
    """A dangling link, a loop, a link through a file: nothing to change, no change of the root;
    a link to a library in the image marks that library (once)."""
    libdir = image + LIBDIR
    os.symlink("/nonexistent/libgone.so", libdir + "/libdangling.so")
    os.symlink("libloop2.so", libdir + "/libloop1.so")
    os.symlink("libloop1.so", libdir + "/libloop2.so")
    os.symlink("/etc/ld.so.conf/x", libdir + "/libthrough.so")
    os.symlink("libextra.so.1", libdir + "/libextra.so")
    code, doc = prepare_in_process(image, capsys)
    assert code == 0 and doc["complete"] and doc["changed_while_preparing"] == [] and doc["unreadable"] == [], doc
    assert [c["path"] for c in doc["changes"]].count(LIBDIR + "/libextra.so.1") == 1, doc


def test_an_unreadable_library_says_its_errno(image, capsys):
    """What prepare cannot read is named with its errno (JSON), as verify names it."""
    from conftest import execcheck_as_nobody
    os.chmod(image + LIBDIR + "/libextra.so.1", 0o600)
    code, out, err = execcheck_as_nobody(["image", "prepare", "--json", image])
    doc = json.loads(out)
    assert code == 1 and [(u["path"], u["errno"]) for u in doc["unreadable"]] == \
        [(LIBDIR + "/libextra.so.1", "EACCES")], doc

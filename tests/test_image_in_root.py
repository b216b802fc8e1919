"""image prepare and image verify walk the image, never the host: a symlink (an absolute one
too) is told a directory or a file inside ROOT, as the image's programs see it, and each walk
starts from ROOT one name at a time, so a name on its way swapped for a symlink (out of the image,
or to another of its directories) is a change of the root, not a way out."""
import json
import os
import shutil

import pytest

import rootfs
from conftest import need_root

LIBDIR = "/usr/lib/x86_64-linux-gnu"


@pytest.fixture
def image(open_tmp):
    """A small image whose libraries are 0644 (Debian's)."""
    need_root()
    return rootfs.debian_modes_image(open_tmp / "root")


@pytest.fixture
def ready(open_tmp):
    need_root()
    return rootfs.ready_image(open_tmp / "root")


def run_in_process(capsys, *args):
    """(exit status, the --json document) of `execcheck image ARGS --json`, in this process: a
    test's hook changes the root at a chosen step."""
    from execcheck import cli
    capsys.readouterr()
    code = cli.main(["image", args[0], "--json", *args[1:]])
    return code, json.loads(capsys.readouterr().out)


def planned(doc):
    return {c["path"]: c["kind"] for c in doc["changes"]}


def test_an_absolute_link_is_told_a_file_or_a_directory_in_the_image(image, open_tmp, capsys):
    """A library directory's symlink to an absolute path was told a directory or a file by the
    host's file of that name: where the host has a directory and the image a 0644 library, the
    library was taken for a directory, never prepared (enforcing then refuses it). Told in the
    image now; and where the host's file is a library and the image's is none, nothing is planned."""
    host_dir = str(open_tmp / "host-dir")           # a directory here, a library in the image
    host_lib = str(open_tmp / "host-lib.so")        # a library here (0755), a text file in the image
    os.makedirs(host_dir)
    shutil.copy(image + LIBDIR + "/libc.so.6", host_lib)
    os.chmod(host_lib, 0o644)
    os.makedirs(os.path.dirname(image + host_dir))
    shutil.copy(image + LIBDIR + "/libc.so.6", image + host_dir)
    os.chmod(image + host_dir, 0o644)
    with open(image + host_lib, "w") as f:
        f.write("no library\n")
    os.chmod(image + host_lib, 0o644)
    os.symlink(host_dir, image + LIBDIR + "/libviadir.so")
    os.symlink(host_lib, image + LIBDIR + "/libvialib.so")
    code, doc = run_in_process(capsys, "prepare", image)
    assert code == 0 and doc["complete"], doc
    assert planned(doc).get(host_dir) == "library", doc
    assert host_lib not in planned(doc), doc
    assert os.stat(host_lib).st_mode & 0o777 == 0o644  # nothing of the host's is looked at for a change


def test_verify_tells_an_absolute_link_in_a_python_tree_in_the_image(ready, open_tmp, capsys):
    """A Python tree's module that is an absolute symlink to a path the host has as a directory
    was passed over (a directory, by the host's view): its 0644 target in the image, which the
    interpreter would refuse, left verify saying ready."""
    tree = "/opt/app/lib/python3.11/site-packages"
    os.makedirs(ready + tree)
    target = str(open_tmp / "host-dir")
    os.makedirs(target)
    os.makedirs(os.path.dirname(ready + target))
    with open(ready + target, "w") as f:
        f.write("")
    os.chmod(ready + target, 0o644)
    os.symlink(target, ready + tree + "/evil.py")
    code, v = run_in_process(capsys, "verify", ready)
    assert code == 1 and not v["ready"], v
    [denied] = [f for f in v["refusals"] if f["rule"] == "python-code-denied"]
    assert denied["path"] == tree and denied["details"]["files"] == [tree + "/evil.py"], denied


def _app_trees(root):
    """A virtual environment's site-packages (0755 modules: prepared) and another image directory
    holding 0644 modules."""
    tree = "/opt/app/lib/python3.11/site-packages"
    os.makedirs(root + tree + "/app")
    with open(root + tree + "/app/__init__.py", "w") as f:
        f.write("")
    os.chmod(root + tree + "/app/__init__.py", 0o755)
    os.makedirs(root + "/srv/other")
    with open(root + "/srv/other/mod.py", "w") as f:
        f.write("")
    os.chmod(root + "/srv/other/mod.py", 0o644)
    return tree


def _swapped_once_found(monkeypatch, module, root, tree, target):
    """The Python tree `tree` swapped for a symlink to `target` just after module's
    python_code_trees found it (before it is walked)."""
    found = module.python_code_trees

    def trees(*a, **kw):
        out = found(*a, **kw)
        os.rename(root + tree, root + tree + ".old")
        os.symlink(target, root + tree)
        return out
    monkeypatch.setattr(module, "python_code_trees", trees)


def test_prepare_a_python_tree_swapped_for_a_link_to_another_image_directory(image, monkeypatch, capsys):
    """A Python tree found a directory and a symlink to another directory of the image when it was
    walked was walked at the link's target, unsaid: /srv/other/mod.py (no Python tree's) planned,
    exit 0. It is a change now, and nothing there is planned."""
    from execcheck.image import prepare
    tree = _app_trees(image)
    _swapped_once_found(monkeypatch, prepare, image, tree, "/srv/other")
    code, doc = run_in_process(capsys, "prepare", image)
    assert code == 1 and [c["path"] for c in doc["changed_while_preparing"]] == [tree], doc
    assert "/srv/other/mod.py" not in planned(doc), doc


def test_verify_a_python_tree_swapped_for_a_link_to_another_image_directory(ready, monkeypatch, capsys):
    """The same for verify: the tree's walk went to /srv/other, and counted its module as the
    tree's (a refusal of a tree that has none). A change now: not ready, said so."""
    from execcheck.audit import scan
    tree = _app_trees(ready)
    _swapped_once_found(monkeypatch, scan, ready, tree, "/srv/other")
    code, v = run_in_process(capsys, "verify", ready)
    assert code == 1 and [f["path"] for f in v["changed_while_verifying"]] == [tree], v
    assert [f for f in v["refusals"] if f["rule"] == "python-code-denied"] == [], v


def _libs_conf(root, outside):
    """ld.so.conf naming /opt/libs/sub (a 0644 library in it), and a host directory `outside`
    shaped like /opt/libs (sub/libhost.so, 0644)."""
    os.makedirs(root + "/opt/libs/sub")
    shutil.copy(root + LIBDIR + "/libc.so.6", root + "/opt/libs/sub/libimage.so")
    os.chmod(root + "/opt/libs/sub/libimage.so", 0o644)
    with open(root + "/etc/ld.so.conf", "a") as f:
        f.write("/opt/libs/sub\n")
    os.makedirs(outside + "/sub")
    shutil.copy(root + LIBDIR + "/libc.so.6", outside + "/sub/libhost.so")
    os.chmod(outside + "/sub/libhost.so", 0o644)


def test_a_name_on_a_walks_way_swapped_for_a_link_out_of_the_image_is_a_change(image, open_tmp, monkeypatch,
                                                                                capsys):
    """A library directory was resolved in the image, then opened by its host path: /opt/libs
    swapped for a symlink to a host directory in between, the host's directory was walked and its
    library planned as the image's /opt/libs/sub/libhost.so (--apply then chmodded the host's
    file through the link). The walk opens its top from ROOT one name at a time now, following
    none: a change, and nothing of the host's in the plan."""
    from execcheck.image import prepare
    outside = str(open_tmp / "host-libs")
    _libs_conf(image, outside)
    files = prepare._walk_files

    def walk_files(walker, top, *a):
        if top == image + "/opt/libs/sub" and not os.path.islink(image + "/opt/libs"):
            os.rename(image + "/opt/libs", image + "/opt/libs.old")
            os.symlink(outside, image + "/opt/libs")
        return files(walker, top, *a)
    monkeypatch.setattr(prepare, "_walk_files", walk_files)
    code, doc = run_in_process(capsys, "prepare", "--apply", image)
    assert code == 1 and [(c["path"], c["errno"]) for c in doc["changed_while_preparing"]] == \
        [("/opt/libs/sub", "ELOOP")], doc
    assert "libhost" not in json.dumps(doc), doc
    assert os.stat(outside + "/sub/libhost.so").st_mode & 0o777 == 0o644


def _swapped_once_listed(monkeypatch, host_dir, target):
    """The directory host_dir swapped for a symlink to target just after prepare's walk of the code
    directories listed it (before prepare looks at its names or enters its subdirectories)."""
    from execcheck.image import prepare
    files = prepare._walk_files

    def walk_files(walker, top, *a):
        listed = walker.walk

        def walk(*args):
            for dirpath, dirnames, filenames in listed(*args):
                if dirpath == host_dir and not os.path.islink(host_dir):
                    os.rename(host_dir, host_dir + ".old")
                    os.symlink(target, host_dir)
                yield dirpath, dirnames, filenames
        walker.walk = walk
        try:
            yield from files(walker, top, *a)
        finally:
            del walker.walk
    monkeypatch.setattr(prepare, "_walk_files", walk_files)


def test_a_directory_above_a_listed_one_swapped_for_a_link_is_a_change(image, open_tmp, monkeypatch, capsys):
    """Below its top the walk opened each directory by its host path, refusing a symlink as its
    last name only: /opt/libs listed (sub/ in it), then /opt/libs swapped for a symlink to a host
    directory that has a sub/ too, and the host's sub/ was walked as the image's, its library
    planned. A directory is entered only as the inode its parent listed now: a change (ESTALE),
    the host's library not planned."""
    outside = str(open_tmp / "host-libs")
    _libs_conf(image, outside)
    with open(image + "/etc/ld.so.conf", "a") as f:
        f.write("/opt\n")  # a walk whose top is /opt: it lists /opt/libs, then /opt/libs/sub
    _swapped_once_listed(monkeypatch, image + "/opt/libs", outside)
    code, doc = run_in_process(capsys, "prepare", image)
    assert code == 1 and [(c["path"], c["errno"]) for c in doc["changed_while_preparing"]] == \
        [("/opt/libs/sub", "ESTALE")], doc
    assert "libhost" not in json.dumps(doc), doc


@pytest.mark.parametrize("apply", [False, True])
def test_a_listed_directory_swapped_for_a_link_before_its_files_are_changed(image, open_tmp, monkeypatch, capsys,
                                                                            apply):
    """A library subdirectory listed, then swapped for a symlink to a host directory holding a
    file of the same name before prepare looked at its files: the look followed the link (lstat
    resolves every name but the last), so the host's file was planned as the image's, and --apply
    chmodded it (its path opened the same way). The look and the chmod open the file from ROOT
    following no symlink now: nothing of the host's planned, its file keeps its mode, and the
    change is named (ELOOP)."""
    sub = image + LIBDIR + "/plugins"
    os.mkdir(sub)
    shutil.copy(image + LIBDIR + "/libc.so.6", sub + "/libplugin.so")
    os.chmod(sub + "/libplugin.so", 0o644)
    outside = str(open_tmp / "host-plugins")
    os.mkdir(outside)
    shutil.copy(image + LIBDIR + "/libc.so.6", outside + "/libplugin.so")
    os.chmod(outside + "/libplugin.so", 0o644)
    _swapped_once_listed(monkeypatch, sub, outside)
    code, doc = run_in_process(capsys, "prepare", *(["--apply"] if apply else []), image)
    assert os.stat(outside + "/libplugin.so").st_mode & 0o777 == 0o644, doc
    assert LIBDIR + "/plugins/libplugin.so" not in planned(doc), doc
    assert code == 1 and (LIBDIR + "/plugins/libplugin.so", "ELOOP") in [
        (c["path"], c["errno"]) for c in doc["changed_while_preparing"]], doc

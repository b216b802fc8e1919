"""image prepare and image verify walk the image, never the host: a symlink (an absolute one
too) is told a directory or a file inside ROOT, as the image's programs see it, and each walk
starts from ROOT one name at a time, so a name on its way swapped for a symlink (out of the image,
or to another of its directories) is a change of the root, not a way out."""
import errno
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


def _plugin_dir(root, mode):
    """LIBDIR/plugins, made in root, holding libplugin.so (a copy of libc) of that mode."""
    sub = root + LIBDIR + "/plugins"
    os.mkdir(sub)
    shutil.copy(root + LIBDIR + "/libc.so.6", sub + "/libplugin.so")
    os.chmod(sub + "/libplugin.so", mode)
    return sub


@pytest.mark.parametrize("apply", [False, True])
def test_a_listed_directory_swapped_for_a_link_before_its_files_are_changed(image, open_tmp, monkeypatch, capsys,
                                                                            apply):
    """A library subdirectory listed, then swapped for a symlink to a host directory holding a
    file of the same name before prepare looked at its files: the look followed the link (lstat
    resolves every name but the last), so the host's file was planned as the image's, and --apply
    chmodded it (its path opened the same way). The look and the chmod open the file from ROOT
    following no symlink now: nothing of the host's planned, its file keeps its mode, and the
    change is named (ELOOP)."""
    sub = _plugin_dir(image, 0o644)
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


def _swap_after(monkeypatch, module, func, image_path, host_dir, target):
    """The image directory host_dir swapped for a symlink to target just after module.func (a
    rootfs lookup) has answered for image_path: the race of a user who can write in the image, a
    parent replaced between its lookup and the read or write of the file found."""
    looked = getattr(module, func)

    def hooked(root, path, *a, **kw):
        out = looked(root, path, *a, **kw)
        if path == image_path and not os.path.islink(host_dir):
            os.rename(host_dir, host_dir + ".old")
            os.symlink(target, host_dir)
        return out
    monkeypatch.setattr(module, func, hooked)


def _host_etc(open_tmp, image, preload: str):
    """A host directory shaped like the image's /etc, its ld.so.preload holding `preload`."""
    outside = str(open_tmp / "host-etc")
    shutil.copytree(image + "/etc", outside, symlinks=True)
    with open(outside + "/ld.so.preload", "w") as f:
        f.write(preload)
    return outside


def test_verify_reads_ld_so_preload_from_root_not_through_a_swapped_parent(ready, open_tmp, monkeypatch, capsys):
    """/etc/ld.so.preload was looked up in the image, then read by its host path: /etc swapped for
    a link to a host directory in between, the host's file was read as the image's, and an image
    whose own ld.so.preload names no shim was said ready (the host's named it). It is read from
    ROOT following no symlink now: the image names no shim, not ready."""
    from execcheck.image import rootfs as image_rootfs
    with open(ready + "/etc/ld.so.preload") as f:
        named = f.read()
    outside = _host_etc(open_tmp, ready, named)
    with open(ready + "/etc/ld.so.preload", "w") as f:
        f.write("")
    _swap_after(monkeypatch, image_rootfs, "lookup", "/etc/ld.so.preload", ready + "/etc", outside)
    code, v = run_in_process(capsys, "verify", ready)
    assert os.path.islink(ready + "/etc"), "the race was not run"
    assert code == 1 and not v["ready"], v
    assert any("does not name libexeccheck.so" in p for p in v["shim_problems"]), v


def test_verify_reads_execcheck_conf_from_root_not_through_a_swapped_parent(ready, open_tmp, monkeypatch, capsys):
    """The same for /etc/execcheck.conf, which the core reads by a path: the host's config (here
    one the shim ignores, group-writable) was judged as the image's. Read in the directory held
    from ROOT now: the image's own config, sound, is the one judged."""
    from execcheck.image import rootfs as image_rootfs
    with open(ready + "/etc/ld.so.preload") as f:
        outside = _host_etc(open_tmp, ready, f.read())
    os.chmod(outside + "/execcheck.conf", 0o666)
    _swap_after(monkeypatch, image_rootfs, "lookup", "/etc/execcheck.conf", ready + "/etc", outside)
    # the swap comes after the preload's look: /etc's directory held for the config is the one swapped
    _, v = run_in_process(capsys, "verify", ready)
    assert os.path.islink(ready + "/etc"), "the race was not run"
    assert not any("writable" in p for p in v["shim_problems"]), v
    assert any("/etc/execcheck.conf" in p and "not read" in p for p in v["shim_problems"]), v


def _include_and_host_conf(image, open_tmp, name):
    """The image's ld.so.conf including /etc/ld.so.conf.d/*.conf, and a host directory holding a
    file `name` that names /opt/host-libs. Returns the host directory."""
    with open(image + "/etc/ld.so.conf", "w") as f:
        f.write("include /etc/ld.so.conf.d/*.conf\n")
    outside = str(open_tmp / "host-conf.d")
    os.mkdir(outside)
    with open(outside + "/" + name, "w") as f:
        f.write("/opt/host-libs\n")
    return outside


def test_an_included_ld_so_conf_is_read_from_root_not_through_a_swapped_parent(image, open_tmp, monkeypatch):
    """An `include`d file was looked up in the image, then read by its host path: its directory
    swapped for a link to a host directory in between, the host's file named the image's library
    directories (prepare would then plan, and --apply chmod, what that file names). Read from ROOT
    now: the file is unread (ELOOP, said), and the host's directory is named by nothing."""
    from execcheck.image import ldconf, rootfs as image_rootfs
    outside = _include_and_host_conf(image, open_tmp, "app.conf")
    with open(image + "/etc/ld.so.conf.d/app.conf", "w") as f:
        f.write("/opt/image-libs\n")
    _swap_after(monkeypatch, image_rootfs, "resolve", "/etc/ld.so.conf.d/app.conf", image + "/etc/ld.so.conf.d",
                outside)
    errors = []
    dirs = ldconf.conf_dirs(image, onerror=errors.append)
    assert os.path.islink(image + "/etc/ld.so.conf.d"), "the race was not run"
    assert "/opt/host-libs" not in dirs, dirs
    # the image's other file there, looked up after the swap, is in the link's target in the image: none
    assert [(e.errno, e.filename) for e in errors if e.errno != errno.ENOENT] == \
        [(errno.ELOOP, image + "/etc/ld.so.conf.d/app.conf")], errors


def test_an_include_glob_lists_the_image_directory_from_root(image, open_tmp, monkeypatch):
    """The include glob listed its directory by host path after looking it up: swapped for a link
    to a host directory in between, the host's file names were taken for the image's. Listed from
    ROOT now (ELOOP, said): no file of the host's directory is named."""
    from execcheck.image import ldconf, rootfs as image_rootfs
    outside = _include_and_host_conf(image, open_tmp, "host-only.conf")
    _swap_after(monkeypatch, image_rootfs, "lookup", "/etc/ld.so.conf.d", image + "/etc/ld.so.conf.d", outside)
    errors = []
    assert ldconf.glob_image(image, "/etc/ld.so.conf.d/*.conf", errors.append) == []
    assert [e.errno for e in errors] == [errno.ELOOP], errors


def test_glob_image_matches_as_glob_does(image):
    """glob_image's answer for patterns with magic in a directory and the last name, and a
    hidden file (matched only by a pattern that starts with '.'), inside the image: an absolute
    symlink to a directory is the image's."""
    os.makedirs(image + "/etc/a.d")
    os.makedirs(image + "/srv/b.d")
    os.symlink("/srv/b.d", image + "/etc/b.d")
    for name in ("/etc/a.d/x.conf", "/etc/a.d/.hidden.conf", "/srv/b.d/y.conf", "/srv/b.d/z.txt"):
        open(image + name, "w").close()
    from execcheck.image import ldconf
    assert ldconf.glob_image(image, "/etc/[ab].d/*.conf") == ["/etc/a.d/x.conf", "/etc/b.d/y.conf"]
    assert ldconf.glob_image(image, "/etc/a.d/.*.conf") == ["/etc/a.d/.hidden.conf"]
    assert ldconf.glob_image(image, "/etc/a.d/x.conf") == ["/etc/a.d/x.conf"]
    assert ldconf.glob_image(image, "/etc/a.d/missing.conf") == []


@pytest.mark.parametrize("where", ["host", "image"])
def test_install_reads_and_writes_ld_so_preload_from_root_not_through_a_swapped_parent(image, open_tmp,
                                                                                        monkeypatch, where):
    """install looked /etc/ld.so.preload up in the image, then read it by its host path and wrote
    it in its directory opened by path: /etc swapped for a link in between, the host's file was
    read and kept as the image's previous content in the image's install record (a host file's
    content in a file the image's owner reads), and a link to another directory of the image had
    the write land there. Read and written from ROOT now, following no symlink: install fails,
    nothing of the host's is read, nothing is written through the link."""
    from execcheck.image import install, rootfs as image_rootfs
    from execcheck.errors import UsageError
    secret = "/host/secret/libsecret.so\n"
    if where == "host":
        target = _host_etc(open_tmp, image, secret)
    else:
        target = "srv/etc"  # relative to ROOT, where /etc is: the image's /srv/etc
        shutil.copytree(image + "/etc", image + "/srv/etc", symlinks=True)
        with open(image + "/srv/etc/ld.so.preload", "w") as f:
            f.write(secret)
    files, _ = install.plan(image)
    _swap_after(monkeypatch, image_rootfs, "resolve", "/etc/ld.so.preload", image + "/etc", target)
    with pytest.raises((UsageError, OSError)):
        install.install(image, files)
    assert os.path.islink(image + "/etc"), "the race was not run"
    seen = image + "/srv/etc" if where == "image" else target
    with open(seen + "/ld.so.preload") as f:
        assert f.read() == secret
    for dirpath, _dirnames, filenames in os.walk(image + "/var"):
        for name in filenames:
            with open(os.path.join(dirpath, name), "rb") as f:
                assert b"L2hvc3Qvc2VjcmV0" not in f.read(), name  # the secret's base64


def test_verify_looks_at_a_file_from_root_not_through_a_swapped_parent(ready, open_tmp, monkeypatch, capsys):
    """verify's first look at a file (ELF or not, its first bytes) opened the real path the walk
    found by its host path: the file's directory swapped for a link to a host directory in
    between, the host's file of that name was looked at as the image's (here a text file there:
    the image's library was called no ELF file). Opened from ROOT following no symlink now: a
    change of the root, and nothing of the host's file is said."""
    from execcheck.audit import scan
    sub = _plugin_dir(ready, 0o755)
    outside = str(open_tmp / "host-plugins")
    os.mkdir(outside)
    with open(outside + "/libplugin.so", "w") as f:
        f.write("the host's file\n")
    _swap_after(monkeypatch, scan, "host_path", LIBDIR + "/plugins/libplugin.so", sub, outside)
    code, v = run_in_process(capsys, "verify", ready)
    assert os.path.islink(sub), "the race was not run"
    assert "not an ELF file" not in json.dumps(v), v
    assert code == 1 and LIBDIR + "/plugins/libplugin.so" in [f["path"] for f in v["changed_while_verifying"]], v


def test_verify_reads_fstab_from_root_not_through_a_swapped_parent(ready, open_tmp, monkeypatch, capsys):
    """The image's /etc/fstab (its noexec mounts, in the policy's view) was found by the resolver,
    then read by its host path: /etc swapped for a link to a host directory in between, the host's
    fstab was taken for the image's (here one mounting /usr/bin noexec: every program of the image
    refused for a mount it does not have). Read from ROOT now: nothing of the host's fstab counts."""
    from execcheck.audit import scan
    outside = str(open_tmp / "host-etc")
    shutil.copytree(ready + "/etc", outside, symlinks=True)
    with open(outside + "/fstab", "w") as f:
        f.write("tmpfs /usr/bin tmpfs noexec 0 0\n")
    with open(ready + "/etc/fstab", "w") as f:
        f.write("# none\n")
    _swap_after(monkeypatch, scan, "host_path", "/etc/fstab", ready + "/etc", outside)
    _, v = run_in_process(capsys, "verify", ready)
    assert os.path.islink(ready + "/etc"), "the race was not run"
    assert not [f for f in v["refusals"] if "noexec" in json.dumps(f)], v["refusals"]

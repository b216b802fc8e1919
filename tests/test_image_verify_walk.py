"""image verify (and audit --root's walk) on names it cannot examine and on a root that changes
while it is read: which failures leave code unexamined (not ready), which name no file (a broken
link: nothing to check), and which mean the root changed under the walk (not ready, said so)."""
import json
import os
import shutil

import pytest

import rootfs
from conftest import ec, execcheck_as_nobody, need_root


@pytest.fixture
def ready(open_tmp):
    """A prepared image with the shim installed, that verify calls ready (as root and as nobody)."""
    need_root()
    return rootfs.ready_image(open_tmp / "root")


def verify_in_process(root, capsys):
    """(exit status, verify --json's document), run in this process: a test's hook on the walk
    changes the root at a chosen step."""
    from execcheck import cli
    capsys.readouterr()
    code = cli.main(["image", "verify", "--json", root])
    return code, json.loads(capsys.readouterr().out)


def test_links_that_name_no_file_are_broken_links_not_unread_files(ready):
    """A symlink that no lookup can follow names no file, for the image's own programs either (the
    kernel answers them alike): a loop, a chain of more than 40 links, a target through a regular
    file or with a component over 255 bytes, a dangling link. Nothing to examine: verify stays
    ready, and the audit counts them (skipped "broken-link"; before, they were passed over unsaid)."""
    bindir = os.path.join(ready, "usr/bin")
    os.symlink("loop2", os.path.join(bindir, "loop1"))
    os.symlink("loop1", os.path.join(bindir, "loop2"))
    for i in range(45):  # chainN is 46 - N links: chain0 .. chain5, over 40
        os.symlink("chain%d" % (i + 1), os.path.join(bindir, "chain%d" % i))
    os.symlink("/usr/bin/true", os.path.join(bindir, "chain45"))
    os.symlink("/etc/hostname/x", os.path.join(bindir, "through-a-file"))
    with open(os.path.join(ready, "etc/hostname"), "w") as f:
        f.write("image\n")
    os.symlink("/" + "a" * 300, os.path.join(bindir, "name-too-long"))
    os.symlink("/nonexistent", os.path.join(bindir, "dangling"))
    v = json.loads(ec("image", "verify", "--json", ready).stdout)
    assert v["ready"] and v["unreadable"] == [] and v["changed_while_verifying"] == [], v
    doc = json.loads(ec("audit", "--root", ready, "--json").stdout)
    assert doc["summary"]["skipped"]["broken-link"] == 2 + 6 + 3, doc["summary"]
    # chain6 is 40 links: followed, the same file as /usr/bin/true
    assert doc["inputs"]["/usr/bin/chain6"] == "same-file", doc["inputs"].get("/usr/bin/chain6")


def test_verify_as_a_user_names_programs_it_cannot_look_up_or_open(ready):
    """As a user other than root, a program in a directory it may list but not search (0744), and
    a program it may run but not read (0711), were passed over without a word (the first's lookup
    failed with EACCES, the second is not named like a library) and verify called the image ready:
    neither was examined. Both are unread now, and the image not ready."""
    tools = os.path.join(ready, "opt/tools")
    os.makedirs(tools)
    shutil.copy2(os.path.join(ready, "usr/bin/true"), os.path.join(tools, "tool"))
    os.chmod(tools, 0o744)
    shutil.copy2(os.path.join(ready, "usr/bin/true"), os.path.join(ready, "usr/bin/secret"))
    os.chmod(os.path.join(ready, "usr/bin/secret"), 0o711)
    with open(os.path.join(ready, "etc/private.conf"), "w") as f:  # no x bit, no library's name: no code
        f.write("x\n")
    os.chmod(os.path.join(ready, "etc/private.conf"), 0o600)
    code, out, err = execcheck_as_nobody(["image", "verify", ready])
    assert code == 1 and "unread   /opt/tools/tool: permission denied (not audited)\n" in out, out + err
    assert "unread   /usr/bin/secret: Permission denied (not audited)\n" in out, out
    assert "private.conf" not in out and "NOT ready to enforce" in out, out
    code, out, _ = execcheck_as_nobody(["image", "verify", "--json", ready])
    v = json.loads(out)
    assert code == 1 and {f["path"] for f in v["unreadable"]} == {"/opt/tools/tool", "/usr/bin/secret"}, v
    assert [f["details"]["errno"] for f in v["unreadable"] if f["path"] == "/opt/tools/tool"] == ["EACCES"], v
    assert ec("image", "verify", ready).returncode == 0  # root reads both


def _walk_hook(monkeypatch, when, change):
    """Runs change() once, just after the walk yields the image path `when` (before the audit
    looks at it): a root that changes between the walk's listing and its reading, on cue."""
    from execcheck.audit import scan
    listed = scan.walk

    def walk(*args, **kw):
        for path in listed(*args, **kw):
            if path == when:
                change()
            yield path
    monkeypatch.setattr(scan, "walk", walk)


def test_a_file_removed_after_the_listing_is_a_change_not_ready(ready, monkeypatch, capsys):
    """A program removed (or renamed away) between the walk's listing and its lookup was passed
    over like a dangling link: verify called the image ready, and had not examined what the root
    held when it was listed. Verify says the root changed under it now, and is not ready."""
    prog = os.path.join(ready, "usr/bin/gone")
    shutil.copy2(os.path.join(ready, "usr/bin/true"), prog)
    assert verify_in_process(ready, capsys)[1]["ready"]
    _walk_hook(monkeypatch, "/usr/bin/gone", lambda: os.rename(prog, os.path.join(ready, "gone-elsewhere")))
    code, v = verify_in_process(ready, capsys)
    assert code == 1 and not v["ready"] and v["unreadable"] == [], v
    assert [(f["rule"], f["path"], f["details"]["errno"]) for f in v["changed_while_verifying"]] == \
        [("changed-during-audit", "/usr/bin/gone", "ENOENT")], v
    assert v["not_ready_because"] == ["1 path changed while it read the image (/usr/bin/gone: removed or renamed "
                                      "since it was listed: the tree changed during the audit)"], v


def test_a_file_removed_or_replaced_before_it_is_read_is_a_change_not_unreadable(ready, monkeypatch, capsys):
    """An ELF file the walk met, removed before the audit read it, came out "unreadable: No such
    file or directory" (as if the image held a program no one can examine); one replaced by
    another file (renamed over) came out "Input/output error" from the core's check that the name
    still holds the inode it looked up. Both are the root changing under verify: said so (ENOENT,
    ESTALE), not as unreadable files."""
    from execcheck.audit import engine
    for name in ("removed", "replaced"):
        shutil.copy2(os.path.join(ready, "usr/bin/true"), os.path.join(ready, "usr/bin", name))
    read = engine.Audit.audit_one

    def audit_one(self, path):
        if path == "/usr/bin/removed":
            os.unlink(os.path.join(ready, "usr/bin/removed"))
        elif path == "/usr/bin/replaced":
            shutil.copy2(os.path.join(ready, "usr/bin/false"), os.path.join(ready, "usr/bin/new"))
            os.rename(os.path.join(ready, "usr/bin/new"), os.path.join(ready, "usr/bin/replaced"))
        return read(self, path)
    monkeypatch.setattr(engine.Audit, "audit_one", audit_one)
    code, v = verify_in_process(ready, capsys)
    assert code == 1 and v["unreadable"] == [], v
    assert {(f["path"], f["details"]["errno"]) for f in v["changed_while_verifying"]} == \
        {("/usr/bin/removed", "ENOENT"), ("/usr/bin/replaced", "ESTALE")}, v


def test_a_directory_removed_after_its_parent_was_listed_is_a_change(ready, monkeypatch, capsys):
    """A directory listed by its parent and removed before the walk came to it was "gone since it
    was listed, no loss" (rootfs.ImageWalk): verify called the image ready without the programs it
    held. Verify says the root changed now; audit --root reports it (EXC054)."""
    sub = os.path.join(ready, "opt/app/bin")
    os.makedirs(sub)
    shutil.copy2(os.path.join(ready, "usr/bin/true"), os.path.join(sub, "app"))
    with open(os.path.join(ready, "opt/app/README"), "w") as f:
        f.write("app\n")
    assert verify_in_process(ready, capsys)[1]["ready"]
    _walk_hook(monkeypatch, "/opt/app/README", lambda: shutil.rmtree(sub))  # /opt/app listed, bin/ not yet
    code, v = verify_in_process(ready, capsys)
    assert code == 1 and [(f["path"], f["details"]["errno"]) for f in v["changed_while_verifying"]] == \
        [("/opt/app/bin", "ENOENT")], v
    os.makedirs(sub)
    shutil.copy2(os.path.join(ready, "usr/bin/true"), os.path.join(sub, "app"))
    from execcheck import cli
    capsys.readouterr()
    assert cli.main(["audit", "--root", ready]) == 0  # warnings do not fail the audit by default
    out = capsys.readouterr().out
    assert "EXC054 changed-during-audit" in out and "/opt/app/bin: removed, renamed or replaced since its parent " \
        "was listed: the tree changed during the audit" in out, out


def test_a_file_replaced_by_a_directory_during_the_walk_is_a_change(ready, monkeypatch, capsys):
    """A file listed as a file and a directory (holding a program) when the audit looked was
    skipped as "not regular", its programs never walked: verify called the image ready."""
    victim = os.path.join(ready, "usr/bin/swapped")
    shutil.copy2(os.path.join(ready, "usr/bin/true"), victim)

    def swap():
        os.unlink(victim)
        os.mkdir(victim)
        shutil.copy2(os.path.join(ready, "usr/bin/true"), os.path.join(victim, "inside"))
    _walk_hook(monkeypatch, "/usr/bin/swapped", swap)
    code, v = verify_in_process(ready, capsys)
    assert code == 1 and [f["path"] for f in v["changed_while_verifying"]] == ["/usr/bin/swapped"], v
    from execcheck import cli
    capsys.readouterr()
    shutil.rmtree(victim)  # a file again, for the hook to swap once more
    shutil.copy2(os.path.join(ready, "usr/bin/true"), victim)
    assert cli.main(["image", "verify", ready]) == 1
    out = capsys.readouterr().out
    assert "changed  /usr/bin/swapped: a directory now, no directory when it was listed: the tree changed during " \
        "the audit (not audited: verify again once nothing changes the root)\n" in out, out
    assert "\nbecause  1 path changed while it read the image (/usr/bin/swapped: " in out, out


def test_a_directory_swapped_for_a_symlink_during_the_walk_is_not_walked_through(ready, monkeypatch, capsys):
    """The walk checked that a subdirectory was no symlink, then listed it by path later: one
    swapped for a symlink in between (to a host directory, or to / - the whole host walked) was
    followed out of the image, names from the host's directory coming back as the image's; one
    swapped just before that check was dropped unsaid. Both are opened without following a symlink
    now: a change each, the host not listed."""
    app = os.path.join(ready, "opt/app")
    for d in ("a", "b", "c"):
        os.makedirs(os.path.join(app, d))
        with open(os.path.join(app, d, "README"), "w") as f:
            f.write("app\n")
    outside = os.path.join(os.path.dirname(ready), "host-dir")
    os.makedirs(outside)
    shutil.copy2(os.path.join(ready, "usr/bin/true"), os.path.join(outside, "host-program"))

    def swap(d):
        shutil.rmtree(os.path.join(app, d))
        os.symlink(outside, os.path.join(app, d))
    with open(os.path.join(app, "README"), "w") as f:
        f.write("app\n")
    # /opt/app listed (a, b, c directories), then its files yielded: c swapped before it is pushed;
    # then a walked: b swapped after it was pushed, before it is listed
    _walk_hook(monkeypatch, "/opt/app/README", lambda: swap("c"))
    _walk_hook(monkeypatch, "/opt/app/a/README", lambda: swap("b"))
    code, v = verify_in_process(ready, capsys)
    assert code == 1 and sorted((f["path"], f["details"]["errno"]) for f in v["changed_while_verifying"]) == \
        [("/opt/app/b", "ENOTDIR"), ("/opt/app/c", "ENOTDIR")], v
    assert "host-program" not in json.dumps(v), v


def test_an_absolute_link_to_an_image_directory_the_host_lacks_is_no_change(ready):
    """The walk told directories by a stat that followed a symlink on the host: an absolute link to
    a directory only the image has was listed as a file, and led to a directory in the image. That
    was, and is, no change of the root (a directory swapped in for a file is); the walk tells the
    link in the image now (test_image_in_root.py)."""
    os.makedirs(os.path.join(ready, "usr/share/only-in-image/sub"))
    os.symlink("/usr/share/only-in-image/sub", os.path.join(ready, "usr/lib/to-image-dir"))
    assert not os.path.exists("/usr/share/only-in-image")
    v = json.loads(ec("image", "verify", "--json", ready).stdout)
    assert v["ready"] and v["changed_while_verifying"] == [], v


def test_a_file_whose_directory_became_a_file_after_the_listing_is_a_change(ready, monkeypatch, capsys):
    """The name listed, its directory then replaced by a regular file: the lookup fails ENOTDIR,
    which for a symlink's target means "names no file", and for the name itself a changed root."""
    tools = os.path.join(ready, "opt/tools")
    os.makedirs(tools)
    shutil.copy2(os.path.join(ready, "usr/bin/true"), os.path.join(tools, "tool"))

    def swap():
        os.rename(tools, os.path.join(ready, "opt/tools.old"))
        with open(tools, "w") as f:
            f.write("no directory\n")
    _walk_hook(monkeypatch, "/opt/tools/tool", swap)
    code, v = verify_in_process(ready, capsys)
    assert code == 1 and [(f["path"], f["details"]["errno"]) for f in v["changed_while_verifying"]] == \
        [("/opt/tools/tool", "ENOTDIR")] and v["unreadable"] == [], v


def _python_tree(ready):
    """A virtual environment's site-packages under /opt (a Python tree the walk finds), its
    module executable (prepared): the image stays ready."""
    tree = "/opt/app/lib/python3.11/site-packages"
    os.makedirs(ready + tree + "/app")
    with open(ready + tree + "/app/__init__.py", "w") as f:
        f.write("")
    os.chmod(ready + tree + "/app/__init__.py", 0o755)
    return tree


def test_a_python_tree_removed_after_it_was_found_is_a_change_not_unreadable(ready, monkeypatch, capsys):
    """A Python tree the walk found, removed before verify's Python pass came to it, was "unread:
    no such Python tree" (a tree no one can examine) where image prepare, for the same tree, says
    the root changed (the `listed` flag of its walk). Verify says the same now."""
    from execcheck.audit import scan
    tree = _python_tree(ready)
    assert verify_in_process(ready, capsys)[1]["ready"]
    found = scan.python_code_trees

    def trees(*a, **kw):
        out = found(*a, **kw)
        shutil.rmtree(ready + tree)
        return out
    monkeypatch.setattr(scan, "python_code_trees", trees)
    code, v = verify_in_process(ready, capsys)
    assert code == 1 and v["unreadable"] == [], v
    assert [(f["path"], f["details"]["errno"]) for f in v["changed_while_verifying"]] == [(tree, "ENOENT")], v


def test_a_python_tree_removed_just_before_its_walk_is_a_change_not_passed_over(ready, monkeypatch, capsys):
    """Removed after verify's Python pass saw it a directory and before its walk listed it, the
    tree's walk failed ENOENT at its top, which the walk takes for a library directory the image
    lacks ("no loss"): verify called the image ready without having read one file of it."""
    from execcheck.audit import scan
    tree = _python_tree(ready)
    listed = scan.walk

    def walk(root, start, *a, **kw):
        if start == tree and os.path.isdir(ready + tree):
            shutil.rmtree(ready + tree)
        return listed(root, start, *a, **kw)
    monkeypatch.setattr(scan, "walk", walk)
    code, v = verify_in_process(ready, capsys)
    assert code == 1 and not v["ready"], v
    assert [(f["path"], f["details"]["errno"]) for f in v["changed_while_verifying"]] == [(tree, "ENOENT")], v


def test_a_set_user_id_fusermount_is_a_note_not_a_refusal(ready):
    """A fusermount left set-user-ID root in the image lets its users mount FUSE filesystems without
    noexec (whose files have the modes their daemon reports): verify names it in a note and in
    json's user_mount_helpers, and the image stays ready (nothing it runs is refused)."""
    helper = os.path.join(ready, "usr/bin/fusermount3")
    shutil.copy("/bin/true", helper)  # a program of the image's libc
    os.chmod(helper, 0o4755)
    doc = json.loads(ec("image", "verify", "--json", ready).stdout)
    assert doc["ready"] is True, doc["not_ready_because"]
    assert [f["path"] for f in doc["user_mount_helpers"]] == ["/usr/bin/fusermount3"], doc["user_mount_helpers"]
    r = ec("image", "verify", ready)
    assert r.returncode == 0, r.stdout
    assert "note     /usr/bin/fusermount3: set-user-ID root: any user can mount a FUSE filesystem that is not " \
           "noexec" in r.stdout, r.stdout
    os.chmod(helper, 0o755)
    assert json.loads(ec("image", "verify", "--json", ready).stdout)["user_mount_helpers"] == []


def test_verify_says_whether_the_images_users_can_create_user_namespaces(ready):
    """A user namespace lets an unprivileged user mount a tmpfs of their own that is not noexec,
    where any file they copy passes the check: verify named set-user-ID fusermounts, and said
    nothing of this other way round the image's noexec mounts. It says, from the image's sysctl
    files as systemd-sysctl orders them (a name in /etc/sysctl.d hides the same name in
    /usr/lib/sysctl.d; /etc/sysctl.conf last, as procps reads it; 'a/b' keys are 'a.b'), and the
    image stays ready (a note, not a refusal)."""
    def verdict():
        r = ec("image", "verify", "--json", ready)
        doc = json.loads(r.stdout)
        assert r.returncode == 0 and doc["ready"], r.stdout
        return doc["user_namespaces"]["value"], doc["user_namespaces"]["text"]
    assert verdict() == (True, "no sysctl file of the image sets user.max_user_namespaces, whose default allows them")
    text = ec("image", "verify", ready).stdout
    assert "note     the image's users can create user namespaces (no sysctl file of the image sets " \
        "user.max_user_namespaces, whose default allows them), which let any user mount a tmpfs of their own that " \
        "is not noexec" in text, text
    os.makedirs(ready + "/usr/lib/sysctl.d")
    with open(ready + "/usr/lib/sysctl.d/50-userns.conf", "w") as f:
        f.write("# no user namespaces\nuser/max_user_namespaces = 0\n")
    assert verdict() == (False, "user.max_user_namespaces = 0 in /usr/lib/sysctl.d/50-userns.conf")
    assert "note     the image's users cannot create user namespaces (user.max_user_namespaces = 0 in " \
        "/usr/lib/sysctl.d/50-userns.conf)\n" in ec("image", "verify", ready).stdout
    os.makedirs(ready + "/etc/sysctl.d", exist_ok=True)
    with open(ready + "/etc/sysctl.d/50-userns.conf", "w") as f:
        f.write("user.max_user_namespaces = 15000\n")  # hides /usr/lib's file of that name
    assert verdict() == (True, "user.max_user_namespaces = 15000 in /etc/sysctl.d/50-userns.conf")
    with open(ready + "/etc/sysctl.conf", "w") as f:
        f.write("-user.max_user_namespaces=0\n")  # read after every sysctl.d file
    assert verdict() == (False, "user.max_user_namespaces = 0 in /etc/sysctl.conf")

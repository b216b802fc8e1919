"""image prepare --apply on a root that changes between the plan and the chmods: a planned file
replaced, removed or re-moded before its chmod is neither chmodded nor recorded, and named (as a
name that changed during the walk is); the rest of the plan is applied (exit 1: applied, with
exceptions), and revert restores exactly what was changed."""
import json
import os
import shutil
import stat

import pytest

import rootfs
from conftest import execcheck_cmd, need_root, run

LIBDIR = "/usr/lib/x86_64-linux-gnu"


@pytest.fixture
def image(open_tmp):
    """A small image whose libraries are 0644 (Debian's), and two extra ones (libextra.so.1, which
    a test changes, and libzz.so.1, planned after it)."""
    need_root()
    return rootfs.debian_modes_image(open_tmp / "root", ("libextra.so.1", "libzz.so.1"))


def apply_in_process(root, capsys, json_out=True):
    """(exit status, stdout, stderr) of prepare --apply run in this process (a test's hook changes
    the root at a chosen step)."""
    from execcheck import cli
    capsys.readouterr()
    code = cli.main(["image", "prepare", "--apply"] + (["--json"] if json_out else []) + [root])
    out, err = capsys.readouterr()
    return code, out, err


def mode(root, path):
    return stat.S_IMODE(os.lstat(root + path).st_mode)


def record(root):
    with open(os.path.join(root, "var/lib/execcheck/prepare.json")) as f:
        return json.load(f)


def _before_chmod(monkeypatch, root, path, change):
    """Runs change() once, just before apply's chmod of the image path `path`: after the plan,
    after the record of the old modes is written."""
    from execcheck.image import prepare
    real = prepare._chmod
    done = []

    def chmod(image_root, host, *args):
        if host == root + path and not done:
            done.append(1)
            change()
        return real(image_root, host, *args)
    monkeypatch.setattr(prepare, "_chmod", chmod)


def _replace(root, path):
    host = root + path
    shutil.copy(root + LIBDIR + "/libc.so.6", host + ".new")
    os.chmod(host + ".new", 0o644)
    os.rename(host + ".new", host)


@pytest.mark.parametrize("when", ["before the record", "after the record"])
def test_a_file_replaced_before_its_chmod_is_named_and_the_rest_applied(image, monkeypatch, capsys, when):
    """A library renamed over between the plan and its chmod stopped the whole apply with exit 2
    ("another file than the one looked at is there now"): every file after it in the plan was left
    0644, and the record kept the old file's mode under the new file's name. Now the new file is
    left as it is and out of the record, named under changed_while_preparing (ESTALE); the rest of
    the plan is applied; exit 1 (applied, with exceptions); revert is exact."""
    victim = LIBDIR + "/libextra.so.1"
    if when == "before the record":
        from execcheck.image import prepare
        real = prepare.apply

        def apply(root, changes, *a):
            _replace(image, victim)
            return real(root, changes, *a)
        monkeypatch.setattr(prepare, "apply", apply)
    else:
        _before_chmod(monkeypatch, image, victim, lambda: _replace(image, victim))
    code, out, err = apply_in_process(image, capsys)
    doc = json.loads(out)
    assert code == 1 and doc["applied"] and not doc["complete"], (code, doc, err)
    assert [(c["path"], c["errno"]) for c in doc["changed_while_preparing"]] == [(victim, "ESTALE")], doc
    assert doc["changed_while_preparing"][0]["reason"] == "another file is there since it was looked at: not changed", \
        doc
    changed = [c["path"] for c in doc["changes"]]
    assert victim not in changed and LIBDIR + "/libzz.so.1" in changed and LIBDIR + "/libc.so.6" in changed, doc
    assert mode(image, victim) == 0o644 and mode(image, LIBDIR + "/libzz.so.1") == 0o755
    assert all(mode(image, p) == 0o755 for p in changed), doc
    assert victim not in record(image)["modes"] and LIBDIR + "/libzz.so.1" in record(image)["modes"]
    before = rootfs.listing(image)
    monkeypatch.undo()
    code, out, err = apply_in_process(image, capsys)  # the new file is prepared by the next run
    assert code == 0 and [c["path"] for c in json.loads(out)["changes"]] == [victim], out
    r = run(execcheck_cmd() + ["image", "revert", image])
    assert r.returncode == 0, r.stderr
    after = rootfs.listing(image)
    for rel, entry in before.items():  # everything back to 0644, the new file too (its own mode)
        if rel.startswith(LIBDIR.lstrip("/")) and entry[0] == stat.S_IFREG:
            assert after[rel][1] == 0o644, rel


def test_a_file_whose_mode_changed_before_its_chmod_is_not_chmodded_blindly(image, monkeypatch, capsys):
    """The planned file itself, made 0600 between the plan and the chmod (a build step locking it
    down), was chmodded to the planned 0755: readable and executable by all, the step undone.
    Now its mode is its own: named, not recorded, the rest applied."""
    victim = LIBDIR + "/libextra.so.1"
    _before_chmod(monkeypatch, image, victim, lambda: os.chmod(image + victim, 0o600))
    code, out, err = apply_in_process(image, capsys)
    doc = json.loads(out)
    assert code == 1 and mode(image, victim) == 0o600, (code, oct(mode(image, victim)), err)
    assert [(c["path"], c["errno"], c["reason"]) for c in doc["changed_while_preparing"]] == \
        [(victim, "ESTALE", "its mode changed since it was looked at (0644, now 0600): not changed")], doc
    assert victim not in record(image)["modes"] and mode(image, LIBDIR + "/libzz.so.1") == 0o755


def test_a_file_removed_before_its_chmod_is_named_in_the_text(image, monkeypatch, capsys):
    """The text says which file was not changed and why, leaves it out of the changes made, counts
    only those, and calls the run incomplete."""
    victim = LIBDIR + "/libextra.so.1"
    _before_chmod(monkeypatch, image, victim, lambda: os.unlink(image + victim))
    code, out, err = apply_in_process(image, capsys, json_out=False)
    assert code == 1, err
    assert "libextra" not in out and "  library  %s/libzz.so.1\n" % LIBDIR in out, out
    assert "execcheck: %s: changed while preparing: removed or renamed since it was looked at: not changed\n" % \
        victim in err, err
    n = out.count("\n")
    assert "\n%d files changed: %d libraries, 0 Python files\n" % (n, n) in "\n" + err, (out, err)
    assert "execcheck: INCOMPLETE: 1 path of the image changed while it was walked (above)" in err, err


def test_revert_leaves_a_file_replaced_before_its_chmod_and_restores_the_rest(image, monkeypatch, capsys):
    """revert, like apply, chmods through a descriptor of the file it looked at: one renamed over
    in between ended it with exit 2, the files after it left prepared. Now it is left as it is and
    named (its mode is the new file's own), and the rest restored."""
    from execcheck import cli
    victim = LIBDIR + "/libextra.so.1"
    assert apply_in_process(image, capsys)[0] == 0
    _before_chmod(monkeypatch, image, victim, lambda: _replace(image, victim))
    capsys.readouterr()
    assert cli.main(["image", "revert", image]) == 0
    err = capsys.readouterr().err
    assert "execcheck: left %s as it is: another file is there since it was looked at: not changed\n" % victim in err, \
        err
    assert mode(image, LIBDIR + "/libzz.so.1") == 0o644 and mode(image, LIBDIR + "/libc.so.6") == 0o644


@pytest.fixture
def immutable(image):
    """chattr +i on the image's libzz.so.1 (no chmod for anyone, root too), undone after the test
    (or its directory could not be removed)."""
    import subprocess
    path = image + LIBDIR + "/libzz.so.1"
    subprocess.run(["chattr", "+i", path], check=True)
    yield LIBDIR + "/libzz.so.1"
    subprocess.run(["chattr", "-i", path], check=False)


def test_a_file_the_file_system_refuses_a_chmod_is_named_and_the_rest_applied(image, immutable, capsys):
    """An immutable file (chattr +i) in the plan ended apply with exit 2 and "cannot change the
    image", the plan half applied (the files before it 0755, those after it 0644) and the JSON
    empty: the builder could not tell what was changed. Now it is named under not_changed (EPERM),
    left out of the record, and the rest applied: exit 1."""
    code, out, err = apply_in_process(image, capsys)
    doc = json.loads(out)
    assert code == 1 and not doc["complete"] and doc["changed_while_preparing"] == [], (code, err)
    assert [(c["path"], c["errno"]) for c in doc["not_changed"]] == [(immutable, "EPERM")], doc
    assert doc["not_changed"][0]["reason"] == "cannot be changed: operation not permitted (an immutable or " \
        "append-only file (lsattr; chattr -i))", doc
    assert mode(image, immutable) == 0o644 and immutable not in [c["path"] for c in doc["changes"]], doc
    assert mode(image, LIBDIR + "/libextra.so.1") == 0o755 and mode(image, LIBDIR + "/libc.so.6") == 0o755
    assert immutable not in record(image)["modes"]
    code, out, err = apply_in_process(image, capsys, json_out=False)
    assert code == 1 and "execcheck: %s: not changed: cannot be changed: operation not permitted" % immutable in err
    assert "execcheck: INCOMPLETE: 1 file the image needs could not be changed (above)" in err, err
    assert json.loads(run(execcheck_cmd() + ["image", "prepare", "--json", image]).stdout)["not_changed"] == []


def test_revert_restores_all_it_may_and_keeps_the_record_of_a_file_it_may_not(image, capsys):
    """revert stopped at an immutable file with exit 2, the files after it left prepared; once the
    record was gone, its mode was lost. Now the rest is restored, the file named (exit 1), and its
    record kept: a revert after chattr -i restores it too."""
    import subprocess
    from execcheck import cli
    before = rootfs.listing(image)
    assert apply_in_process(image, capsys)[0] == 0
    subprocess.run(["chattr", "+i", image + LIBDIR + "/libextra.so.1"], check=True)
    try:
        capsys.readouterr()
        assert cli.main(["image", "revert", image]) == 1
        err = capsys.readouterr().err
        says = "execcheck: %s/libextra.so.1: not restored: cannot be changed: operation not permitted" % LIBDIR
        assert says in err, err
        assert mode(image, LIBDIR + "/libzz.so.1") == 0o644 and mode(image, LIBDIR + "/libextra.so.1") == 0o755
        assert record(image)["modes"] == {LIBDIR + "/libextra.so.1": 0o644}
    finally:
        subprocess.run(["chattr", "-i", image + LIBDIR + "/libextra.so.1"], check=False)
    assert cli.main(["image", "revert", image]) == 0
    assert rootfs.listing(image) == before

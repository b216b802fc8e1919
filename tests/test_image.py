"""execcheck image prepare/revert/install/uninstall on a root filesystem built by the test."""
import json
import os
import shutil
import stat
import subprocess
import sys

import pytest

import execcheck
import rootfs
from conftest import ec, execcheck_as_nobody, execcheck_cmd, need_root, run


@pytest.fixture
def image(tmp_path):
    need_root()  # owners and modes of an image's files are root's business
    root = str(tmp_path / "root")
    rootfs.build(root)
    # planted: a data file and a non-ELF "library" in a library dir, an existing preload entry
    libdir = os.path.join(root, "usr/lib/x86_64-linux-gnu")
    with open(os.path.join(libdir, "README.txt"), "w") as f:
        f.write("data\n")
    with open(os.path.join(libdir, "libfake.so"), "w") as f:
        f.write("INPUT(-lc)\n")  # a linker script named like a library
    os.chmod(os.path.join(libdir, "libfake.so"), 0o644)
    with open(os.path.join(root, "etc/ld.so.preload"), "w") as f:
        f.write("# site entries\n/usr/lib/x86_64-linux-gnu/libm.so.6\n")
    # an application's virtual environment under /opt, with a data file beside its code
    site = os.path.join(root, "opt/app/venv/lib/python3.11/site-packages/app")
    os.makedirs(site)
    for name in ("__init__.py", "data.json"):
        with open(os.path.join(site, name), "w") as f:
            f.write("{}\n")
        os.chmod(os.path.join(site, name), 0o644)
    return root


def test_prepare_shows_then_applies_then_is_idempotent(image):
    before = rootfs.listing(image)
    r = ec("image", "prepare", "--json", image)
    assert r.returncode == 0, r.stderr
    changes = {c["path"]: c for c in json.loads(r.stdout)["changes"]}
    assert rootfs.listing(image) == before  # showing changes nothing
    libm = [p for p in changes if p.endswith("/libm.so.6")]
    assert libm and changes[libm[0]]["old_mode"] == "0644" and changes[libm[0]]["new_mode"] == "0755"
    assert "/usr/lib/python3.11/os.py" in changes
    assert "/opt/app/venv/lib/python3.11/site-packages/app/__init__.py" in changes
    assert not any(p.endswith("data.json") for p in changes)
    assert any(p.endswith(".cpython-311-x86_64-linux-gnu.so") for p in changes)  # lib-dynload
    assert not any(p.endswith(("README.txt", "libfake.so", "ld.so.cache")) for p in changes)  # data untouched

    r = ec("image", "prepare", "--apply", image)
    assert r.returncode == 0, r.stderr
    after = rootfs.listing(image)
    for path, c in changes.items():
        rel = path.lstrip("/")
        assert "%04o" % after[rel][1] == c["new_mode"]
        assert execcheck.check(os.path.join(image, rel)).allowed
    for rel, entry in before.items():  # never a write bit added, only the planned files changed
        if rel in after and after[rel][1] != entry[1]:
            assert "/" + rel in changes
            assert after[rel][1] & 0o222 == entry[1] & 0o222
    r = ec("image", "prepare", "--json", image)
    assert json.loads(r.stdout)["changes"] == []  # idempotent
    assert ec("image", "prepare", "--apply", image).returncode == 0

    assert ec("image", "revert", image).returncode == 0
    assert rootfs.listing(image) == before


def test_prepare_and_audit_agree_on_the_python_code(image):
    """One list of the image's Python trees and of what counts as Python code (audit/scan.py): the
    audit looked at /usr/lib/pythonX.Y only, and at .py, .pyc and tagged extension modules, while
    prepare also marked an /opt virtual environment and .pth files, zip archives and untagged .so
    (all of which the CPython face checks): the audit missed what prepare fixes, and flagged a
    python3.X directory without os.py whose loose files prepare rightly leaves alone."""
    venv = os.path.join(image, "opt/app/venv/lib/python3.11")
    for rel in ("site-packages/extra.pth", "site-packages/bundle.zip", "site-packages/plain.so", "stray.py"):
        with open(os.path.join(venv, rel), "w") as f:
            f.write("\n")
        os.chmod(os.path.join(venv, rel), 0o644)

    def python_findings():
        doc = json.loads(ec("audit", "--root", image, "--json").stdout)
        return {f["path"]: f["details"]["files"] for f in doc["findings"] if f["rule"] == "python-code-denied"}

    site = "/opt/app/venv/lib/python3.11/site-packages"
    before = python_findings()
    assert sorted(before[site]) == [site + "/" + n for n in ("app/__init__.py", "bundle.zip", "extra.pth", "plain.so")]
    assert not any("stray.py" in f for files in before.values() for f in files), before
    assert ec("image", "prepare", "--apply", image).returncode == 0
    assert python_findings() == {}
    assert os.stat(os.path.join(venv, "stray.py")).st_mode & 0o777 == 0o644  # not Python's to run


def test_install_is_atomic_idempotent_and_uninstall_exact(image):
    before = rootfs.listing(image)
    r = ec("image", "install", "--enforce", "--service", "web", "--service", "db.service", image)
    assert r.returncode == 0, r.stderr
    shim = os.path.join(image, "usr/lib/x86_64-linux-gnu/libexeccheck.so")
    st = os.stat(shim)
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o755, 0, 0)
    with open(shim, "rb") as a, open(execcheck.lib_path(), "rb") as b:
        assert a.read() == b.read()
    with open(os.path.join(image, "etc/ld.so.preload")) as f:
        preload = f.read()
    assert preload == "# site entries\n/usr/lib/x86_64-linux-gnu/libm.so.6\n/usr/lib/x86_64-linux-gnu/libexeccheck.so\n"
    with open(os.path.join(image, "etc/execcheck.conf")) as f:
        conf = f.read()
    assert "files = enforce" in conf and "log_file = /var/log/execcheck.jsonl" in conf
    p = execcheck.policy(config_path=os.path.join(image, "etc/execcheck.conf"), environ={})
    assert p.config_state == "loaded" and p.files == "enforce"  # the core accepts what install wrote
    with open(os.path.join(image, "etc/systemd/system/web.service.d/execcheck.conf")) as f:
        dropin = f.read()
    assert 'Environment="LD_AUDIT=/usr/lib/x86_64-linux-gnu/libexeccheck.so"' in dropin
    assert "SecureBits" not in dropin  # no systemd in this image that knows the exec bits
    assert os.path.exists(os.path.join(image, "etc/systemd/system/db.service.d/execcheck.conf"))
    installed = rootfs.listing(image)
    assert ec("image", "install", "--enforce", "--service", "web", "--service", "db.service", image).returncode == 0
    assert rootfs.listing(image) == installed  # idempotent: no second entry, nothing rewritten

    assert ec("image", "uninstall", image).returncode == 0
    assert rootfs.listing(image) == before


def test_undo_acts_on_the_image_it_is_given_wherever_it_was_moved(image, tmp_path):
    """The records named the directories a step made by their host paths: an image directory moved
    (or renamed) between install and uninstall kept them all (etc/systemd/system/web.service.d,
    var/lib/execcheck...), its records pointing at the old place. Records name them relative to
    ROOT now; an older record's host paths are still read: in ROOT they are undone, elsewhere left
    and named, never acted on."""
    before = rootfs.listing(image)
    assert ec("image", "install", "--service", "web", image).returncode == 0
    with open(os.path.join(image, "var/lib/execcheck/install.json")) as f:
        assert json.load(f)["created_dirs"] == ["etc/systemd", "etc/systemd/system", "etc/systemd/system/web.service.d"]
    with open(os.path.join(image, "var/lib/execcheck/.created-dirs")) as f:
        assert json.load(f) == ["var/lib", "var/lib/execcheck"]
    moved = str(tmp_path / "moved")
    os.rename(image, moved)
    decoys = [os.path.join(image, d) for d in ("etc/systemd/system/web.service.d", "var/lib/execcheck")]
    for d in decoys:  # the old place holds another tree now
        os.makedirs(d)
    r = ec("image", "uninstall", moved)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert rootfs.listing(moved) == before and all(os.path.isdir(d) for d in decoys)

    # a record of an older execcheck: host paths, here of the image's place then, and of another
    assert ec("image", "install", "--service", "web", moved).returncode == 0
    state = os.path.join(moved, "var/lib/execcheck")
    for name, key in (("install.json", "created_dirs"), (".created-dirs", None)):
        with open(os.path.join(state, name)) as f:
            record = json.load(f)
        dirs = record[key] if key else record
        dirs[:] = [os.path.join(moved, d) for d in dirs] + ([decoys[0]] if key else [])
        with open(os.path.join(state, name), "w") as f:
            json.dump(record, f)
    r = ec("image", "uninstall", moved)
    assert r.returncode == 0 and r.stderr.startswith("execcheck: left %s: an older execcheck recorded this "
                                                     "directory by its host path, which is not in ROOT now" % decoys[0])
    assert r.stderr.count("\n") == 1, r.stderr
    assert rootfs.listing(moved) == before and all(os.path.isdir(d) for d in decoys)


def test_prepare_install_then_undo_in_either_order(image):
    before = rootfs.listing(image)
    for args in (["prepare", "--apply"], ["install"]):
        assert ec("image", *args, image).returncode == 0
    assert ec("image", "revert", image).returncode == 0
    assert ec("image", "uninstall", image).returncode == 0
    assert rootfs.listing(image) == before


def test_uninstall_keeps_entries_added_after_install(image):
    assert ec("image", "install", image).returncode == 0
    with open(os.path.join(image, "etc/ld.so.preload"), "a") as f:
        f.write("/usr/lib/x86_64-linux-gnu/libz.so.1\n")
    r = ec("image", "uninstall", image)
    assert r.returncode == 0 and "removed only the shim's entry" in r.stderr
    with open(os.path.join(image, "etc/ld.so.preload")) as f:
        assert f.read() == "# site entries\n/usr/lib/x86_64-linux-gnu/libm.so.6\n/usr/lib/x86_64-linux-gnu/libz.so.1\n"


def test_systemd_that_knows_the_exec_bits_gets_securebits(image):
    os.makedirs(os.path.join(image, "usr/lib/systemd"))
    open(os.path.join(image, "usr/lib/systemd/libsystemd-shared-262.so"), "w").close()
    assert ec("image", "install", "--enforce", "--deny-interactive", "--service", "web", image).returncode == 0
    with open(os.path.join(image, "etc/systemd/system/web.service.d/execcheck.conf")) as f:
        assert "SecureBits=exec-restrict-file exec-restrict-file-locked exec-deny-interactive " \
               "exec-deny-interactive-locked" in f.read()


def test_refusals_are_one_line(image, tmp_path):
    os.makedirs(os.path.join(image, "var/log"), exist_ok=True)
    open(os.path.join(image, "var/log/real.jsonl"), "w").close()
    os.symlink("real.jsonl", os.path.join(image, "var/log/link.jsonl"))
    for args in (["prepare", "--apply", "/"], ["install", "/"], ["revert", "/"], ["uninstall", "/"],
                 ["revert", image], ["uninstall", image],
                 ["install", str(tmp_path / "missing")], ["install", str(tmp_path)],
                 ["install", "--service", "bad/../name", image], ["install", "--log-file", "rel", image],
                 # a value /etc/execcheck.conf cannot carry: the newline one wrote `files = audit`
                 # as a line of its own after `files = enforce`, and enforcement was off
                 ["install", "--enforce", "--log-file", "/var/log/x\nfiles = audit", image],
                 ["install", "--log-file", "/var/log/a#b", image], ["install", "--log-file", "/var/log/x ", image],
                 ["install", "--log-file", "/" + "x" * 600, image],
                 ["install", "--log-file", "/var", image],  # a directory: the shim writes no record there
                 ["install", "--log-file", "/var/log/link.jsonl", image]):  # nor to a link (O_NOFOLLOW)
        before = rootfs.listing(image)
        r = ec("image", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.startswith("execcheck: ") and r.stderr.count("\n") == 1, args
        assert rootfs.listing(image) == before, args


def test_a_step_that_only_reads_may_look_at_this_system():
    """/ is refused for the steps that write (the line above); one that only reads is not: the
    plan of an install on this system (verify and prepare's listing take longer: not run here)."""
    r = ec("image", "install", "--dry-run", "/")
    assert r.returncode == 0 and "/etc/ld.so.preload" in r.stdout and "/etc/execcheck.conf" in r.stdout, r.stderr
    assert "Traceback" not in r.stderr


def test_install_refuses_a_foreign_architecture(image):
    libc = os.path.join(image, "usr/lib/x86_64-linux-gnu/libc.so.6")
    with open(libc, "r+b") as f:
        f.seek(18)
        f.write((243).to_bytes(2, "little"))  # EM_RISCV: no shim is built for it (aarch64: test_aarch64.py)
    r = ec("image", "install", image)
    assert r.returncode == 2 and "the image's libc is EM_RISCV: execcheck has no shim for that architecture" in r.stderr


def test_verify_notes_an_image_whose_loader_it_does_not_model(image):
    libc = os.path.join(image, "usr/lib/x86_64-linux-gnu/libc.so.6")
    with open(libc, "r+b") as f:
        f.seek(18)
        f.write((243).to_bytes(2, "little"))  # EM_RISCV: no model of that loader
    r = ec("image", "verify", image)
    assert "note     the image's libc is EM_RISCV" in r.stdout, r.stdout
    assert json.loads(ec("image", "verify", "--json", image).stdout)["not_audited_machine"] == "EM_RISCV"


def test_a_programs_private_modules_are_prepared_and_verified(image):
    """Debian puts a program's own modules beside the Python installs: /usr/share/PKG and
    /usr/lib/PKG (py3compile and py3clean import /usr/share/python3/debpython; gdb and gcc's
    printers live in /usr/share/gdb, /usr/share/gcc). prepare left them 0644 and verify said
    "ready to enforce" while py3compile, which every Python package's postinst runs, was refused
    at its first import in a debootstrap image. Documentation (/usr/share/doc) is not code, nor
    are the other files of such a directory."""
    files = {"usr/share/python3/debpython/__init__.py": "", "usr/share/python3/debpython/files.py": "X = 1\n",
             "usr/share/python3/debpython/__pycache__/files.cpython-311.pyc": "",
             "usr/lib/tool/toolmod.py": "", "usr/share/tool/data.txt": "data\n",
             "usr/share/tool/deep/sub/mod.py": "", "usr/share/doc/tool/examples/demo.py": ""}
    for rel, text in files.items():
        os.makedirs(os.path.dirname(os.path.join(image, rel)), exist_ok=True)
        with open(os.path.join(image, rel), "w") as f:
            f.write(text)
        os.chmod(os.path.join(image, rel), 0o644)
    before = rootfs.listing(image)
    r = ec("image", "verify", "--json", image)
    refused = {f["path"]: f for f in json.loads(r.stdout)["refusals"] if f["rule"] == "python-code-denied"}
    assert sorted(p for p in refused if p.startswith(("/usr/share", "/usr/lib/tool"))) == \
        ["/usr/lib/tool", "/usr/share/python3", "/usr/share/tool"], refused
    assert refused["/usr/share/python3"]["details"]["total"] == 3
    r = ec("image", "prepare", "--json", image)
    changes = {c["path"] for c in json.loads(r.stdout)["changes"]}
    code = {"/" + rel for rel in files if rel.endswith((".py", ".pyc")) and "/doc/" not in rel}
    assert code <= changes
    assert not changes & {"/usr/share/tool/data.txt", "/usr/share/doc/tool/examples/demo.py"}
    assert ec("image", "prepare", "--apply", image).returncode == 0
    assert ec("image", "install", "--enforce", image).returncode == 0
    r = ec("image", "verify", image)
    assert r.returncode == 0, r.stdout
    assert ec("image", "uninstall", image).returncode == 0
    assert ec("image", "revert", image).returncode == 0
    assert rootfs.listing(image) == before


def _upgrade(path, mode):
    """What dpkg does to a file of a package it upgrades: a new file (here of the same size: the
    time tells it), renamed over the old one."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path + ".dpkg-new", "wb") as f:
        f.write(data)
    os.chmod(path + ".dpkg-new", mode)
    os.utime(path + ".dpkg-new", (1700000000, 1700000000))
    os.rename(path + ".dpkg-new", path)


def test_revert_leaves_the_mode_of_a_file_a_package_upgrade_replaced(image):
    """A package upgraded after prepare replaces its files: one the new version ships 0755 was
    made 0644 by revert (the recorded mode of the file it replaced), a change prepare never made.
    One shipped 0644 again and prepared anew is prepare's change again, and reverted."""
    py = os.path.join(image, "usr/lib/python3.11/colorsys.py")
    lib = os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6")
    assert ec("image", "prepare", "--apply", image).returncode == 0
    _upgrade(py, 0o755)  # the new version ships it executable
    _upgrade(lib, 0o644)  # as Debian ships a library: refused until prepare runs again
    assert ec("image", "prepare", "--apply", image).returncode == 0
    assert os.stat(lib).st_mode & 0o777 == 0o755
    before = rootfs.listing(image)
    r = ec("image", "revert", image)
    assert r.returncode == 0, r.stderr
    assert "left /usr/lib/python3.11/colorsys.py as it is: another file is there since prepare" in r.stderr
    assert os.stat(py).st_mode & 0o777 == 0o755
    assert os.stat(lib).st_mode & 0o777 == 0o644
    after = rootfs.listing(image)
    changed = {p for p in before if p in after and before[p] != after[p]}
    assert "usr/lib/x86_64-linux-gnu/libm.so.6" in changed and "usr/lib/python3.11/colorsys.py" not in changed


def test_verify_says_when_an_image_is_ready(image):
    r = ec("image", "verify", "--json", image)
    assert r.returncode == 1
    v = json.loads(r.stdout)
    assert not v["ready"]
    assert any(f["rule"] == "exec-denied" and f["path"].endswith("libm.so.6") for f in v["refusals"])
    assert any(f["rule"] == "python-code-denied" for f in v["refusals"])
    assert any("does not name libexeccheck.so" in p for p in v["shim_problems"])
    # why, in one list: each kind counted, with its first item, and why a refused file counts
    assert [b.split(" (")[0] for b in v["not_ready_because"]] == [
        "%d refused files the image runs" % len(v["refusals"]), "1 shim problem"], v["not_ready_because"]
    libm = next(f for f in v["refusals"] if f["path"].endswith("libm.so.6"))
    assert libm["details"]["counted_because"].startswith("used by "), libm

    assert ec("image", "prepare", "--apply", image).returncode == 0
    assert ec("image", "install", "--enforce", image).returncode == 0
    r = ec("image", "verify", image)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.strip().endswith("code files audited)") and "ready to enforce" in r.stdout

    # a stray 0644 library nothing loads (an attacker's leftover) is noted, not a reason to fail
    os.makedirs(os.path.join(image, "var/tmp"), exist_ok=True)
    shutil.copy(os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6"), os.path.join(image, "var/tmp/libx.so"))
    os.chmod(os.path.join(image, "var/tmp/libx.so"), 0o644)
    r = ec("image", "verify", image)
    assert r.returncode == 0 and "note     /var/tmp/libx.so" in r.stdout and "because " not in r.stdout, r.stdout
    # the same file in a library directory is a plugin the image may load: not ready, and it says so
    shutil.copy(os.path.join(image, "var/tmp/libx.so"), os.path.join(image, "usr/lib/x86_64-linux-gnu/libplugin.so"))
    r = ec("image", "verify", image)
    assert r.returncode == 1 and "refused  /usr/lib/x86_64-linux-gnu/libplugin.so" in r.stdout, r.stdout
    assert "\n         in the library directory /usr/lib/x86_64-linux-gnu\n" in r.stdout, r.stdout
    assert r.stdout.splitlines()[-2] == "because  1 refused file the image runs (/usr/lib/x86_64-linux-gnu/" \
        "libplugin.so, in the library directory /usr/lib/x86_64-linux-gnu)", r.stdout
    v = json.loads(ec("image", "verify", "--json", image).stdout)
    assert [f["details"]["counted_because"] for f in v["not_run_but_refused"]] == [
        "nothing in the image loads it, and it is in no library directory"], v
    os.remove(os.path.join(image, "usr/lib/x86_64-linux-gnu/libplugin.so"))

    # what the image would refuse once booted: a noexec /usr, a library made 0600 again
    r = ec("image", "verify", "--noexec-mount", "/usr", image)
    assert r.returncode == 1 and "noexec" in r.stdout
    os.chmod(os.path.join(image, "usr/lib/x86_64-linux-gnu/libz.so.1.2.13"), 0o600)
    r = ec("image", "verify", image)
    assert r.returncode == 1 and "libz.so.1" in r.stdout and "used by /usr/bin/python3" in r.stdout
    os.remove(os.path.join(image, "usr/lib/x86_64-linux-gnu/libexeccheck.so"))
    r = ec("image", "verify", image)
    assert r.returncode == 1 and "which is missing" in r.stdout



def test_verify_is_not_ready_while_ld_so_preload_names_what_cannot_be_preloaded(image):
    """Every program of the image meets /etc/ld.so.preload: an entry glibc cannot preload prints its
    error in each of them, and one that is a FIFO makes each wait for ever in its open. Before,
    verify said "ready to enforce" for both (the audit reported them, as warnings)."""
    assert ec("image", "prepare", "--apply", image).returncode == 0
    assert ec("image", "install", "--enforce", image).returncode == 0
    assert ec("image", "verify", image).returncode == 0
    preload = os.path.join(image, "etc/ld.so.preload")
    with open(preload) as f:
        kept = f.read()
    fifo = "/usr/lib/x86_64-linux-gnu/libfifo.so"
    os.mkfifo(os.path.join(image, fifo.lstrip("/")))
    for entry, says in ((fifo, "FIFO"), ("/usr/lib/x86_64-linux-gnu/libgone.so", "cannot be preloaded")):
        with open(preload, "w") as f:
            f.write(kept + entry + "\n")
        r = ec("image", "verify", image)
        assert r.returncode == 1 and "NOT ready to enforce" in r.stdout, r.stdout
        line = [ln for ln in r.stdout.splitlines() if ln.startswith("shim") and entry in ln]
        assert line and says in line[0] and "every program" in line[0], r.stdout
        v = json.loads(ec("image", "verify", "--json", image).stdout)
        assert not v["ready"] and any(entry in p for p in v["shim_problems"])
    with open(preload, "w") as f:
        f.write(kept)
    assert ec("image", "verify", image).returncode == 0


def test_a_deep_tree_is_walked_not_a_traceback(image, deep_dirs):
    """Before, `image prepare` (and `audit --root`, tests/test_audit_cli.py) ended in a
    RecursionError traceback in a tree 1,100 directories deep."""
    bottom = deep_dirs(os.path.join(image, "usr/lib"), 1100)
    lib = os.path.join(bottom, "libdeep.so")
    shutil.copy(os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6"), lib)
    os.chmod(lib, 0o644)
    r = ec("image", "prepare", "--json", image)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    assert "/" + os.path.relpath(lib, image) in [c["path"] for c in json.loads(r.stdout)["changes"]], r.stdout[-2000:]


def test_a_record_never_reaches_outside_the_image(image, tmp_path):
    """The undo records are files of the image, and an image from elsewhere may hold anything there.
    Before, `image revert` joined a recorded path to ROOT as it was: '/../victim' made a file
    outside the image setuid and world-writable, and a recorded directory anywhere was removed if
    empty. Now paths are walked inside the image, a mode is restored only as prepare's change
    undone (x bits taken away), directories only inside it go; a record of the wrong shape is
    refused in one line, and nothing changes."""
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "victim"
    victim.write_text("x")
    os.chmod(victim, 0o600)
    (outside / "empty").mkdir()
    assert ec("image", "prepare", "--apply", image).returncode == 0
    state = os.path.join(image, "var/lib/execcheck/prepare.json")
    with open(state) as f:
        record = json.load(f)
    libm = next(p for p in record["modes"] if p.endswith("/libm.so.6"))
    record["modes"][libm] = 0o4755  # the file is 0755 now: setuid is no undoing of prepare
    up = os.path.relpath(victim, image).count("..")
    record["modes"]["/" + "../" * (up + 2) + str(victim).lstrip("/")] = 0o4777
    record["created_dirs"].append(str(outside / "empty"))
    with open(state, "w") as f:
        json.dump(record, f)
    r = ec("image", "revert", image)
    assert r.returncode == 0, r.stderr
    assert "execcheck: left %s as it is" % libm in r.stderr, r.stderr
    assert stat.S_IMODE(os.stat(victim).st_mode) == 0o600 and (outside / "empty").is_dir()
    assert stat.S_IMODE(os.stat(os.path.join(image, libm.lstrip("/"))).st_mode) == 0o755

    os.makedirs(os.path.dirname(state), exist_ok=True)
    for bad in (b"[[[[", b'{"modes": [1, 2]}', b"\xff\xfe", b'{"modes": {"/x": "0755"}, "created_dirs": []}',
                b'{"modes": {}, "created_dirs": ["usr/../../x"]}', b'{"modes": {}, "created_dirs": [], "stamps": []}',
                b'{"modes": {}, "created_dirs": [], "stamps": {"/x": [1, "2"]}}'):
        with open(state, "wb") as f:
            f.write(bad)
        before = rootfs.listing(image)
        for step in (["revert"], ["prepare", "--apply"]):
            r = ec("image", *step, image)
            assert r.returncode == 2 and r.stderr.count("\n") == 1, (bad, step, r.stderr)
            assert "is not a record execcheck wrote" in r.stderr and "Traceback" not in r.stderr
            assert rootfs.listing(image) == before
    os.unlink(state)


def test_ld_so_conf_files_that_include_each_other(image):
    """Ten ld.so.conf.d files, each including all ten: read file by file this took 10^16 steps
    (include depth 16), a hang for `image prepare` and `install`. Each file is read once now, and
    the directories they name are still found."""
    d = os.path.join(image, "etc/ld.so.conf.d")
    os.makedirs(d, exist_ok=True)
    os.makedirs(os.path.join(image, "opt/fan/lib"))
    shutil.copy(os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6"), os.path.join(image, "opt/fan/lib/libfan.so"))
    os.chmod(os.path.join(image, "opt/fan/lib/libfan.so"), 0o644)
    for i in range(10):
        with open(os.path.join(d, "fan%d.conf" % i), "w") as f:
            f.write("include /etc/ld.so.conf.d/*.conf\n/opt/fan/lib\n")
    r = ec("image", "prepare", "--json", image, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "/opt/fan/lib/libfan.so" in [c["path"] for c in json.loads(r.stdout)["changes"]]


def test_fifos_in_place_of_the_image_files_block_nothing(image):
    """An image with FIFOs where /etc/ld.so.conf, /etc/fstab, /etc/ld.so.preload and the ld.so
    cache go: prepare, audit --root, install and verify each blocked forever on an open() of
    one of them. Now they read only regular files: prepare and audit go on without those files,
    install stops with one line, and verify says the image is not ready, naming the FIFO (it
    stopped with "cannot audit the image", exit 2, which said nothing of every program hanging)."""
    for p in ("etc/ld.so.conf", "etc/fstab", "etc/ld.so.preload", "etc/ld.so.cache"):
        f = os.path.join(image, p)
        if os.path.lexists(f):
            os.unlink(f)
        os.mkfifo(f)
    r = ec("image", "prepare", image, timeout=60)
    assert r.returncode == 0 and "files to change" in r.stderr, r.stderr
    r = ec("audit", "--root", image, "--fail-on", "none", timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    r = ec("image", "install", image, timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "/etc/ld.so.preload" in r.stderr and "not a regular file" in r.stderr, r.stderr
    r = ec("image", "verify", image, timeout=60)
    assert r.returncode == 1 and "shim     /etc/ld.so.preload is a FIFO: ld.so opens it in every program, which " \
        "waits at its start for a writer: remove it and run `execcheck image install`\n" in r.stdout, r.stdout


@pytest.mark.parametrize("content", [b"", b"\x7fELF", b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\xff" * 200, b"text" * 100])
def test_install_with_a_corrupt_libc_is_one_line(image, content):
    """install reads the image's libc to match the shim's architecture. It parsed it with
    pyelftools, whose exceptions on a corrupt file ended in a traceback; the core's ELF reader
    (csrc/elfinfo.c, the one the audit uses) now says what is wrong with it."""
    libc = os.path.realpath(os.path.join(image, "usr/lib/x86_64-linux-gnu/libc.so.6"))
    os.unlink(libc)
    with open(libc, "wb") as f:
        f.write(content)
    r = ec("image", "install", image)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "libc.so.6 is no ELF file a loader could use: " in r.stderr


@pytest.mark.parametrize("damage", ["etc-is-a-file", "etc-loop", "preload-loop", "usr-loop", "systemd-is-a-file"])
def test_an_image_that_cannot_be_walked_is_one_line(image, damage):
    """install (and --dry-run) resolved the image's paths with no guard for what the OS says of
    them: /etc a file, a symlink loop, /etc/systemd a file ended in a traceback. One line now,
    nothing changed."""
    etc = os.path.join(image, "etc")
    args = ["install", image]
    if damage in ("etc-is-a-file", "etc-loop"):
        shutil.rmtree(etc)
        open(etc, "w").close() if damage == "etc-is-a-file" else os.symlink("etc", etc)
    elif damage == "preload-loop":
        os.unlink(os.path.join(etc, "ld.so.preload"))
        os.symlink("ld.so.preload", os.path.join(etc, "ld.so.preload"))
    elif damage == "usr-loop":
        shutil.rmtree(os.path.join(image, "usr"))
        os.symlink("usr", os.path.join(image, "usr"))
    else:
        open(os.path.join(etc, "systemd"), "w").close()
        args = ["install", "--service", "foo", image]
    before = rootfs.listing(image)
    # a dry run of that last one only lists what would be written: it is the writing that fails
    for step in ([] if damage == "systemd-is-a-file" else [args[:1] + ["--dry-run"] + args[1:]]) + [args]:
        r = ec("image", *step)
        assert r.returncode == 2 and r.stderr.startswith("execcheck: ") and r.stderr.count("\n") == 1, \
            (step, r.stderr)
        assert rootfs.listing(image) == before


def test_nul_bytes_in_ld_so_conf_end_the_line(image):
    """ldconfig reads each line as a C string. A NUL in /etc/ld.so.conf (or in a file an
    `include` glob matches, such as ld.so.cache) went into os.lstat: a ValueError traceback from
    prepare and verify. The line ends there now, as for ldconfig."""
    os.makedirs(os.path.join(image, "opt/nul/lib"))
    shutil.copy(os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6"), os.path.join(image, "opt/nul/lib/libnul.so"))
    os.chmod(os.path.join(image, "opt/nul/lib/libnul.so"), 0o644)
    with open(os.path.join(image, "etc/ld.so.conf"), "ab") as f:
        f.write(b"/opt/nul/lib\0junk\ninclude /etc/*\n\xff\x00\x01\n")
    r = ec("image", "prepare", "--json", image, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "/opt/nul/lib/libnul.so" in [c["path"] for c in json.loads(r.stdout)["changes"]]
    r = ec("image", "verify", image, timeout=60)
    assert r.returncode in (0, 1) and "Traceback" not in r.stderr, r.stderr


def test_the_state_directory_is_walked_inside_the_image(image, tmp_path):
    """An image whose /var is an absolute symlink out of it: the steps' undo records went through
    the host's symlink (ROOT/var/lib/execcheck joined as it was) and were written outside the image,
    by root. Now the state directory is the image's path (the link's target taken inside ROOT)."""
    outside = tmp_path / "outside"
    outside.mkdir()
    shutil.rmtree(os.path.join(image, "var"), ignore_errors=True)
    os.symlink(str(outside), os.path.join(image, "var"))
    before = rootfs.listing(image)
    for step, undo in ((["prepare", "--apply"], "revert"), (["install"], "uninstall")):
        assert ec("image", *step, image).returncode == 0
        assert list(outside.iterdir()) == [], step
        assert os.path.isfile(os.path.join(image, str(outside).lstrip("/"), "lib/execcheck", step[0] + ".json"))
        r = ec("image", undo, image)
        assert r.returncode == 0 and list(outside.iterdir()) == [], (undo, r.stderr)
        assert rootfs.listing(image) == before, undo


def test_verify_reads_the_config_as_the_shim_does(image):
    """The shim opens /etc/execcheck.conf without following a symlink, and ignores one (so the
    image would not enforce): verify followed it and said "ready to enforce". It says so once."""
    assert ec("image", "prepare", "--apply", image).returncode == 0
    assert ec("image", "install", "--enforce", image).returncode == 0
    assert ec("image", "verify", image).returncode == 0
    etc = os.path.join(image, "etc")
    os.rename(os.path.join(etc, "execcheck.conf"), os.path.join(etc, "x.conf"))
    os.symlink("x.conf", os.path.join(etc, "execcheck.conf"))
    r = ec("image", "verify", image)
    # one statement, in the image's names ("/etc/execcheck.conf: ignored: ... (HOST/etc/execcheck.conf
    # is a symlink: ignored)" said it twice, the second time by the host path)
    assert r.returncode == 1 and "shim     /etc/execcheck.conf is a symlink: ignored\n" in r.stdout, r.stdout
    assert "(/etc/execcheck.conf is a symlink: ignored)" in r.stdout and "root/etc" not in r.stdout, r.stdout


def test_an_install_that_cannot_be_written_changes_nothing(image):
    """A systemd unit name too long for a file name: install failed with "File name too long"
    after writing the shim, the config and the ld.so.preload entry, and uninstall then failed the
    same way every time. Now the name is refused before anything is written."""
    before = rootfs.listing(image)
    r = ec("image", "install", "--service", "a" * 300, image)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert "too long" in r.stderr, r.stderr
    for name in ("..", "a.b", ".service"):  # no unit systemd would load
        r = ec("image", "install", "--service", name, image)
        assert r.returncode == 2 and "not a systemd unit name" in r.stderr, (name, r.stderr)
    assert rootfs.listing(image) == before
    # a record that names such a path (an older install's) is undone around it
    os.makedirs(os.path.join(image, "etc/systemd/system"))
    before = rootfs.listing(image)
    assert ec("image", "install", image).returncode == 0
    state = os.path.join(image, "var/lib/execcheck/install.json")
    with open(state) as f:
        record = json.load(f)
    long_path = "/etc/systemd/system/%s.service.d/execcheck.conf" % ("a" * 300)
    record["files"][long_path] = {"previous": None, "previous_mode": None, "previous_owner": None,
                                  "written_sha256": "0" * 64}
    with open(state, "w") as f:
        json.dump(record, f)
    r = ec("image", "uninstall", image)
    assert r.returncode == 0 and "%s: File name too long: nothing to undo there" % long_path in r.stderr, r.stderr
    assert rootfs.listing(image) == before


def test_prepare_on_a_read_only_part_names_the_file(image, tmp_path):
    """prepare --apply where a library directory is mounted read-only: a line naming each file it
    could not change (it named /proc/self/fd/3), the rest applied, exit 1 (before, exit 2 at the
    first such file, the plan half applied). (A mount inside ROOT is crossed only with --any-mount.)"""
    from conftest import in_mountns, need_mountns
    need_mountns()
    os.chmod(os.path.join(image, "usr/lib/x86_64-linux-gnu/libfake.so"), 0o644)
    libdir = os.path.join(image, "usr/lib/x86_64-linux-gnu")
    r = in_mountns('mount --bind "$1" "$1"; mount -o remount,bind,ro "$1"; shift; "$@"', libdir,
                   *execcheck_cmd(), "image", "prepare", "--apply", "--any-mount", image)
    assert r.returncode == 1 and "/proc/self/fd" not in r.stderr, r.stderr
    assert "execcheck: /usr/lib/x86_64-linux-gnu/libm.so.6: not changed: cannot be changed: read-only file system\n" \
        in r.stderr, r.stderr
    assert stat.S_IMODE(os.stat(os.path.join(image, "usr/lib/python3.11/os.py")).st_mode) == 0o755  # the rest


def test_prepare_changes_no_file_beyond_the_image(image, tmp_path):
    """A mode belongs to the inode: `prepare --apply` added x bits to a host file through a hard
    link to it in the image (cp -al, an ostree checkout, a link to a host file), and to the files
    of a host directory bind-mounted into the image; `revert` of a record naming a file under such
    a mount (or a hard link to a file outside) took its x bits away. Both are left as they are
    now, and named; a file hard-linked
    twice inside the walked directories is still prepared, and --any-mount takes a mount inside ROOT
    for the image's own (its /usr partition)."""
    from conftest import in_mountns, need_mountns
    need_mountns()
    libm = os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6")
    outside = tmp_path / "outside"
    (outside / "bind").mkdir(parents=True)
    for host, link in ((outside / "host.so", "usr/lib/x86_64-linux-gnu/libhl.so"),
                       (outside / "bind/libb.so", None), (tmp_path / "in1.so", "usr/lib/libin1.so")):
        shutil.copy(libm, host)
        os.chmod(host, 0o644)
        if link:
            os.link(host, os.path.join(image, link))
    os.rename(tmp_path / "in1.so", os.path.join(image, "usr/lib/x86_64-linux-gnu/libin2.so"))  # both links inside
    os.makedirs(os.path.join(image, "usr/lib/bindsub"))
    bind = 'mount --bind "$1" "$2"; shift 2; "$@"'
    r = in_mountns(bind, outside / "bind", os.path.join(image, "usr/lib/bindsub"),
                   *execcheck_cmd(), "image", "prepare", "--apply", image)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(outside / "host.so").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(outside / "bind/libb.so").st_mode) == 0o644
    assert stat.S_IMODE(os.stat(os.path.join(image, "usr/lib/libin1.so")).st_mode) == 0o755
    assert "left /usr/lib/x86_64-linux-gnu/libhl.so as it is: it has 2 hard links" in r.stderr, r.stderr
    assert "/usr/lib/bindsub: not walked: the mount point of a mount other than ROOT's" in r.stderr, r.stderr

    state = os.path.join(image, "var/lib/execcheck/prepare.json")
    with open(state) as f:
        record = json.load(f)
    record["modes"]["/usr/lib/bindsub/libb.so"] = 0o644  # a record from elsewhere
    record["modes"]["/usr/lib/x86_64-linux-gnu/libhl.so"] = 0o644
    with open(state, "w") as f:
        json.dump(record, f)
    os.chmod(outside / "bind/libb.so", 0o755)
    os.chmod(outside / "host.so", 0o755)
    r = in_mountns(bind, outside / "bind", os.path.join(image, "usr/lib/bindsub"),
                   *execcheck_cmd(), "image", "revert", image)
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(os.stat(outside / "bind/libb.so").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(outside / "host.so").st_mode) == 0o755
    assert "left /usr/lib/bindsub/libb.so as it is: it is on another mount" in r.stderr, r.stderr
    assert "left /usr/lib/x86_64-linux-gnu/libhl.so as it is: it has 2 hard links" in r.stderr, r.stderr
    assert stat.S_IMODE(os.stat(os.path.join(image, "usr/lib/libin1.so")).st_mode) == 0o644
    os.chmod(outside / "bind/libb.so", 0o644)
    os.chmod(outside / "host.so", 0o644)
    r = in_mountns(bind, outside / "bind", os.path.join(image, "usr/lib/bindsub"),
                   *execcheck_cmd(), "image", "prepare", "--any-mount", "--json", image)
    out = json.loads(r.stdout)
    assert "/usr/lib/bindsub/libb.so" in [c["path"] for c in out["changes"]], r.stdout
    assert [c["path"] for c in out["left"]] == ["/usr/lib/x86_64-linux-gnu/libhl.so"], r.stdout


def test_a_leftover_temporary_file_is_never_written_through(image, tmp_path):
    """Each step writes a file as .NAME.execcheck-tmp beside it, then renames it over NAME. That
    name was opened with O_TRUNC and no O_EXCL, so an image that already held it was written
    through: a hard link there to a file outside the image got the config as its content (a
    device node there would have been written to), and a FIFO blocked install forever. A name
    left there is removed and the file made anew now."""
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    os.link(victim, os.path.join(image, "etc/.execcheck.conf.execcheck-tmp"))
    os.mkfifo(os.path.join(image, "etc/.ld.so.preload.execcheck-tmp"))
    os.makedirs(os.path.join(image, "var/lib/execcheck"))
    os.mkfifo(os.path.join(image, "var/lib/execcheck/.install.json.execcheck-tmp"))
    r = ec("image", "install", image, timeout=60)
    assert r.returncode == 0, r.stderr
    assert victim.read_text() == "precious\n" and os.stat(victim).st_nlink == 1
    with open(os.path.join(image, "etc/ld.so.preload")) as f:
        assert "libexeccheck.so" in f.read()
    assert not [n for n in os.listdir(os.path.join(image, "etc")) if n.endswith(".execcheck-tmp")]


def test_a_record_that_is_a_symlink_is_not_followed(image, tmp_path):
    """The state directory is walked inside the image, but the record in it was opened following
    a symlink: an image whose var/lib/execcheck/prepare.json pointed to a file outside it had
    revert read that file and act on it (here: take the x bits off the image's libc). A link there
    is no record execcheck wrote: refused in one line, nothing changed."""
    outside = tmp_path / "host.json"
    outside.write_text(json.dumps({"modes": {"/usr/lib/x86_64-linux-gnu/libc.so.6": 0o644}, "created_dirs": []}))
    os.makedirs(os.path.join(image, "var/lib/execcheck"))
    for step in ("prepare", "install"):
        os.symlink(str(outside), os.path.join(image, "var/lib/execcheck/%s.json" % step))
    before = rootfs.listing(image)
    for step in (["revert"], ["prepare", "--apply"], ["uninstall"], ["install"]):
        r = ec("image", *step, image)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (step, r.stderr)
        assert "is not a record execcheck wrote (a symbolic link)" in r.stderr, (step, r.stderr)
        assert rootfs.listing(image) == before, step


def test_prepare_and_verify_stay_on_the_root_mount(image, tmp_path):
    """prepare and verify walked into every mount under ROOT: a host directory bind-mounted into
    the image had its files read and listed (prepare: each "left as it is"; verify: refused, as if
    the image ran them). Now such a mount point is not entered, and named once; --any-mount walks
    it as the image's own."""
    from conftest import in_mountns, need_mountns
    need_mountns()
    host = tmp_path / "host"
    (host / "libs").mkdir(parents=True)
    (host / "py/pkg").mkdir(parents=True)
    shutil.copy(os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6"), host / "libs/libhost.so")
    os.chmod(host / "libs/libhost.so", 0o644)
    (host / "py/pkg/hostmod.py").write_text("x = 1\n")
    os.chmod(host / "py/pkg/hostmod.py", 0o644)
    points = ["usr/lib/x86_64-linux-gnu/hostlibs", "opt/app/venv/lib/python3.11/site-packages/hostpy"]
    for mp in points:
        os.makedirs(os.path.join(image, mp))
    binds = 'mount --bind "$1" "$3"; mount --bind "$2" "$4"; shift 4; "$@"'
    mounts = (host / "libs", host / "py", *(os.path.join(image, mp) for mp in points))

    def step(*args):
        r = in_mountns(binds, *mounts, *execcheck_cmd(), "image", *args, image)
        assert "Traceback" not in r.stderr, r.stderr
        return r

    r = step("prepare")
    assert r.returncode == 0 and "host" not in r.stdout, r.stdout
    said = ["/%s: not walked: the mount point of a mount other than ROOT's" % mp for mp in points]
    assert all(line in r.stderr for line in said) and "libhost" not in r.stderr and "hostmod" not in r.stderr, r.stderr
    out = json.loads(step("prepare", "--json").stdout)
    assert [n["path"] for n in out["not_walked"]] == sorted("/" + mp for mp in points) and out["complete"] is True
    assert not [c for c in out["changes"] + out["left"] if "host" in c["path"]], out
    out = json.loads(step("prepare", "--json", "--any-mount").stdout)
    assert out["not_walked"] == [] and {"/%s/libhost.so" % points[0], "/%s/pkg/hostmod.py" % points[1]} <= \
        {c["path"] for c in out["changes"]}, out

    r = step("verify")
    assert r.returncode == 1 and "libhost" not in r.stdout and "hostmod" not in r.stdout, r.stdout
    assert all("note     /%s: the mount point of a mount other than ROOT's" % mp in r.stdout for mp in points), r.stdout
    v = json.loads(step("verify", "--json").stdout)
    assert v["not_walked"] == sorted("/" + mp for mp in points)
    v = json.loads(step("verify", "--json", "--any-mount").stdout)
    assert v["not_walked"] == [] and "/%s/libhost.so" % points[0] in [f["path"] for f in v["refusals"]], v


def test_verify_is_not_ready_when_a_mount_it_left_holds_the_images_code(image):
    """verify walks ROOT's own mount only, and called an image "ready to enforce" whose /usr is a
    separate mount it never entered - every library of the image unaudited, a 0644 libm among
    them. A mount point left at or above a library or program directory now makes it not ready
    (named, --any-mount to walk it) and prepare's list incomplete (exit 1: it said "0 files to
    change", exit 0, naming /usr, /usr/lib, its multiarch directory... each as a mount point);
    one below them (a host directory bound in) stays a note."""
    from conftest import in_mountns, need_mountns
    need_mountns()
    assert ec("image", "prepare", "--apply", image).returncode == 0
    assert ec("image", "install", "--enforce", image).returncode == 0
    assert ec("image", "verify", image).returncode == 0
    libm = os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6")
    os.chmod(libm, 0o644)
    usr = os.path.join(image, "usr")
    bind = 'mount --bind "$1" "$1"; shift; "$@"'
    r = in_mountns(bind, usr, *execcheck_cmd(), "image", "verify", image)
    assert r.returncode == 1 and "NOT ready to enforce" in r.stdout, r.stdout + r.stderr
    assert "unwalked /usr: another mount than ROOT's, holding the image's libraries or programs" in r.stdout, r.stdout
    r = in_mountns(bind, usr, *execcheck_cmd(), "image", "verify", "--json", image)
    v = json.loads(r.stdout)
    assert r.returncode == 1 and v["not_walked_code"] == v["not_walked"] == ["/usr"] and not v["ready"], v
    # prepare: the one mount point named (not each library directory under it), and incomplete
    r = in_mountns(bind, usr, *execcheck_cmd(), "image", "prepare", image)
    assert r.returncode == 1 and r.stderr.count("not walked:") == 1, r.stderr
    assert "/usr: not walked: the mount point of a mount other than ROOT's that holds the image's libraries" \
        in r.stderr and "INCOMPLETE: /usr holds the image's libraries or programs" in r.stderr, r.stderr
    out = json.loads(in_mountns(bind, usr, *execcheck_cmd(), "image", "prepare", "--json", image).stdout)
    assert out["complete"] is False and [n["path"] for n in out["not_walked"]] == ["/usr"], out
    r = in_mountns(bind, usr, *execcheck_cmd(), "image", "verify", "--any-mount", image)
    assert r.returncode == 1 and "refused  /usr/lib/x86_64-linux-gnu/libm.so.6" in r.stdout, r.stdout
    os.chmod(libm, 0o755)
    r = in_mountns(bind, usr, *execcheck_cmd(), "image", "verify", "--any-mount", image)
    assert r.returncode == 0 and "ready to enforce" in r.stdout, r.stdout + r.stderr
    # a host directory bound below the library directories: named, not a reason to fail
    hostlibs = os.path.join(image, "usr/lib/x86_64-linux-gnu/hostlibs")
    os.makedirs(hostlibs)
    r = in_mountns(bind, hostlibs, *execcheck_cmd(), "image", "verify", image)
    assert r.returncode == 0 and "note     /usr/lib/x86_64-linux-gnu/hostlibs: the mount point" in r.stdout, r.stdout


def test_prepare_and_verify_as_a_user_say_what_they_could_not_read(open_tmp):
    """As a user other than root, prepare left out a directory it could not list (and a library it
    could not open to tell) without a word, and listed less as if that were the whole image; verify
    called such an image ready. Both name each path now; prepare exits 1 (its list is incomplete),
    verify is not ready."""
    need_root()
    root = str(open_tmp / "root")
    rootfs.build(root, python=False)
    libdir = os.path.join(root, "usr/lib/x86_64-linux-gnu")
    private = os.path.join(libdir, "private")
    os.mkdir(private, 0o700)
    for where in (private, libdir):
        shutil.copy(os.path.join(libdir, "libc.so.6"), os.path.join(where, "libsecret.so"))
    os.chmod(os.path.join(private, "libsecret.so"), 0o644)
    os.chmod(os.path.join(libdir, "libsecret.so"), 0o600)  # not x, and only root may tell it is ELF
    with open(os.path.join(root, "etc/ld.so.conf.d/private.conf"), "w") as f:
        f.write("/usr/lib/x86_64-linux-gnu/private\n")

    unread = {"/usr/lib/x86_64-linux-gnu/private", "/usr/lib/x86_64-linux-gnu/libsecret.so"}
    code, out, err = execcheck_as_nobody(["image", "prepare", root])
    assert code == 1 and "INCOMPLETE: 2 paths of the image could not be read" in err, err
    assert all("%s: cannot be read: permission denied" % p in err for p in unread), err
    out = json.loads(execcheck_as_nobody(["image", "prepare", "--json", root])[1])
    assert out["complete"] is False and {u["path"] for u in out["unreadable"]} == unread
    # root reads it all: both are in its list, and nothing is missing
    r = ec("image", "prepare", root)
    assert r.returncode == 0 and all(p in r.stdout for p in ("private/libsecret.so", "gnu/libsecret.so")), r.stdout
    assert "INCOMPLETE" not in r.stderr

    assert ec("image", "prepare", "--apply", root).returncode == 0
    assert ec("image", "install", root).returncode == 0
    assert ec("image", "verify", root).returncode == 0
    code, out, err = execcheck_as_nobody(["image", "verify", root])
    assert code == 1 and "unread   /usr/lib/x86_64-linux-gnu/private: permission denied" in out, out + err
    assert "NOT ready to enforce" in out
    assert "\nbecause  2 paths it could not read (the first: /usr/lib/x86_64-linux-gnu/libsecret.so: Permission " \
        "denied)\n" in out, out


def test_a_root_the_user_may_not_search_is_one_line_exit_2(open_tmp):
    """A 0700 ROOT, as a user other than root: each read-only step says so in one line, exit 2, no
    traceback (prepare's check for an image with no library directories, moved before its reading
    in 40aef77, ended in a PermissionError traceback there)."""
    need_root()
    root = open_tmp / "private-root"
    (root / "usr/lib").mkdir(parents=True)
    os.chmod(root, 0o700)
    for step in (["prepare"], ["verify"], ["install", "--dry-run"]):
        code, out, err = execcheck_as_nobody(["image", *step, str(root)])
        assert code == 2 and "Traceback" not in err and err.startswith("execcheck: cannot ") and \
            err.endswith(": Permission denied\n") and err.count("\n") == 1, (step, err)


def test_a_read_only_image_names_the_path_it_could_not_write(tmp_path):
    """prepare --apply and install on a read-only image said "cannot change the image: lib:
    Read-only file system": the last name of the directory they made, in a descriptor of its
    parent. The whole host path is named now."""
    from conftest import in_mountns, need_mountns
    need_root()
    need_mountns()
    root = str(tmp_path / "root")
    rootfs.build(root, python=False)
    r = in_mountns('r="$1"; shift; mount --bind -o ro "$r" "$r"\n"$@" image prepare --apply "$r" || echo rc=$?\n'
                   '"$@" image install "$r" || echo rc=$?', root, *execcheck_cmd())
    assert r.stdout == "rc=2\nrc=2\n", r
    assert r.stderr == "execcheck: cannot change the image: %s/var/lib: Read-only file system\n" % root * 2, r.stderr


def test_install_and_uninstall_write_nothing_beyond_the_image(image, tmp_path):
    """A host directory bind-mounted into the image is no part of it: install wrote its
    /etc/ld.so.preload into a host /etc bound on the image's, the steps kept (read, wrote, removed)
    their records in a host /var bound on the image's, and uninstall of a record from elsewhere
    wrote any content with any mode, setuid root too, into a bound host directory (and removed an
    empty directory there the record named as made by install). Now a step
    refuses such a mount in one line (--any-mount where it is the image's own), uninstall leaves
    such a file and names it, and a record naming a file install never writes, or a setuid mode,
    is refused."""
    import base64
    from conftest import in_mountns, need_mountns
    need_mountns()
    bind = 'mount --bind "$1" "$2"; shift 2; "$@"'
    host = tmp_path / "host"
    host.mkdir()
    before = rootfs.listing(image)
    for where, step in (("etc", ["install"]), ("var", ["install"]), ("var", ["prepare", "--apply"])):
        r = in_mountns(bind, host, os.path.join(image, where), *execcheck_cmd(), "image", *step, image)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, (where, step, r.stderr)
        assert "is on another mount than ROOT" in r.stderr, (where, step, r.stderr)
        assert list(host.iterdir()) == [] and rootfs.listing(image) == before, (where, step)

    state = os.path.join(image, "var/lib/execcheck/install.json")
    os.makedirs(os.path.dirname(state))
    os.makedirs(os.path.join(image, "usr/lib/bound"))

    def entry(mode):
        return {"previous": base64.b64encode(b"#!/bin/sh\nid\n").decode(), "previous_mode": mode,
                "previous_owner": [0, 0], "written_sha256": "0" * 64}
    (host / "empty").mkdir()
    for files in ({"/usr/lib/bound/libexeccheck.so": entry(0o755)}, {"/usr/lib/bound/evil": entry(0o755)},
                  {"/etc/ld.so.preload": entry(0o4755)}):
        with open(state, "w") as f:
            json.dump({"files": files, "created_dirs": [os.path.join(image, "usr/lib/bound/empty")]}, f)
        r = in_mountns(bind, host, os.path.join(image, "usr/lib/bound"), *execcheck_cmd(), "image", "uninstall", image)
        assert list(host.iterdir()) == [host / "empty"], (files, r.stderr)
        if "/usr/lib/bound/libexeccheck.so" in files:
            assert r.returncode == 0 and "left /usr/lib/bound/libexeccheck.so as it is: it is on another mount" \
                in r.stderr, r.stderr
        else:
            assert r.returncode == 2 and "is not a record execcheck wrote" in r.stderr, r.stderr
    with open(os.path.join(image, "etc/ld.so.preload"), "rb") as f:
        assert b"#!/bin/sh" not in f.read()


KILLED_AT = """
import os, signal, sys
from execcheck.image import manifest, prepare
def kill_at(module, name, when):
    real = getattr(module, name)
    def cut(*args):
        if when(" ".join(str(a) for a in args[:2])):  # the path, after the image's root for manifest's
            os.kill(os.getpid(), signal.SIGKILL)
        return real(*args)
    setattr(module, name, cut)
%s
from execcheck.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_step_killed_midway_is_undone_whole(image):
    """kill -9 in the middle of a step, then its undo: the image is as before. install made a
    drop-in's directory, and recorded it only once every file was written: killed before that,
    uninstall left the directory."""
    os.makedirs(os.path.join(image, "etc/systemd/system"))
    before = rootfs.listing(image)
    count = "n = [0]\nkill_at(prepare, '_chmod', lambda p: n.__setitem__(0, n[0] + 1) or n[0] == 100)"
    for cut, step, undo in ((count, ["prepare", "--apply"], "revert"),
                            ("kill_at(manifest, 'atomic_write', lambda p: 'sshd' in p)",
                             ["install", "--service", "sshd"], "uninstall")):
        r = run([execcheck_cmd()[0], "-c", KILLED_AT % cut, "image", *step, image])
        assert r.returncode == -9, (step, r.stderr)
        r = ec("image", undo, image)
        assert r.returncode == 0 and "Traceback" not in r.stderr, (undo, r.stderr)
        assert rootfs.listing(image) == before, step


def test_a_directory_swapped_out_of_the_image_is_not_written_through(image, tmp_path):
    """install resolves each path inside the image, then writes. Whoever can write in the image (a
    user's image tree that root installs into) may turn a directory on that path into a symlink out
    of it in between: the write went to the outside directory of that name (the host's /etc: its
    ld.so.preload rewritten with the image's entries, an execcheck.conf). Now every write, rename,
    mkdir and unlink goes through a descriptor of its directory, opened from ROOT following no
    symlink: one line, exit 2, nothing outside written."""
    outside = tmp_path / "outside"
    outside.mkdir()
    etc = os.path.join(image, "etc")
    swap = ("real = manifest.atomic_write\n"
            "def write(*args):\n"
            "    if any(isinstance(a, str) and a.startswith(%r + '/') for a in args) and not os.path.islink(%r):\n"
            "        os.rename(%r, %r + '.real'); os.symlink(%r, %r)\n"
            "    return real(*args)\n"
            "manifest.atomic_write = write" % (etc, etc, etc, etc, str(outside), etc))
    r = run([execcheck_cmd()[0], "-c", KILLED_AT % swap, "image", "install", image])
    assert sorted(p.name for p in outside.iterdir()) == [], r.stderr
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "/etc: a name on its way is a symbolic link now" in r.stderr, r.stderr
    os.unlink(os.path.join(image, "etc"))
    os.rename(os.path.join(image, "etc.real"), os.path.join(image, "etc"))
    assert ec("image", "uninstall", image).returncode == 0


def test_install_rewrites_no_file_it_read_in_part(image):
    """install read at most 64 MiB of /etc/ld.so.preload and wrote that back with its entry: a
    larger file (an image's may be anything) was cut short, and recorded so. Refused now."""
    preload = os.path.join(image, "etc/ld.so.preload")
    with open(preload, "ab") as f:
        f.truncate(65 << 20)
        f.seek(0, 2)
        f.write(b"/tail.so\n")
    before = rootfs.listing(image)
    for step in (["install", "--dry-run"], ["install"]):
        r = ec("image", *step, image)
        assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
        assert "/etc/ld.so.preload: larger than 64 MiB" in r.stderr, r.stderr
    assert rootfs.listing(image) == before
    # grown that large since install: what it created goes, and of ld.so.preload no part is written back
    os.truncate(preload, 0)
    assert ec("image", "install", image).returncode == 0
    for name in ("execcheck.conf", "ld.so.preload"):
        os.truncate(os.path.join(image, "etc", name), 65 << 20)
    r = ec("image", "uninstall", image)
    assert r.returncode == 0, r.stderr
    assert "left /etc/ld.so.preload as it is: larger than 64 MiB since install" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(image, "etc/execcheck.conf")) and os.path.getsize(preload) == 65 << 20


def test_a_root_given_by_a_symlink_is_the_mount_it_leads_to(image, tmp_path):
    """ROOT may be a symlink to an image that is a mount of its own (/srv/img -> /mnt/img): its
    mount is the one the link leads to, not the link's, or every file would be 'on another mount'."""
    from conftest import in_mountns, need_mountns
    need_mountns()
    link = tmp_path / "link"
    os.symlink(image, link)
    r = in_mountns('mount --bind "$1" "$1"; shift; "$@"', image, *execcheck_cmd(), "image", "prepare", "--json",
                   link)
    out = json.loads(r.stdout)
    assert r.returncode == 0 and out["changes"] and not out["left"], r.stderr


def test_prepare_changes_only_the_files_it_looked_at(image, tmp_path):
    """Between the walk and the chmods the image may change (a build step writing beside
    prepare): a library directory turned into a symlink out of the image led the chmod, made by
    the path joined to ROOT, to the outside file of that name. Now the file chmodded is the one
    looked at, or nothing: the outside untouched, the file named as a change (exit 1: applied, with
    exceptions; before, exit 2 with the rest of the plan not applied), and revert undoes the rest."""
    outside = tmp_path / "outside"
    outside.mkdir()
    opt = os.path.join(image, "opt/lib")
    os.makedirs(opt, exist_ok=True)
    shutil.copy(os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6"), os.path.join(opt, "libopt.so"))
    shutil.copy(os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6"), outside / "libopt.so")
    for f in (os.path.join(opt, "libopt.so"), outside / "libopt.so"):
        os.chmod(f, 0o644)
    with open(os.path.join(image, "etc/ld.so.conf.d/opt.conf"), "w") as f:
        f.write("/opt/lib\n")
    before = rootfs.listing(image)
    swap = ("import shutil\nreal = prepare.apply\n"
            "def apply(root, changes, *a):\n"
            "    shutil.rmtree(root + '/opt/lib'); os.symlink(%r, root + '/opt/lib')\n"
            "    return real(root, changes, *a)\n"
            "prepare.apply = apply" % str(outside))
    r = run([execcheck_cmd()[0], "-c", KILLED_AT % swap, "image", "prepare", "--apply", image])
    assert r.returncode == 1, r.stderr
    assert "execcheck: /opt/lib/libopt.so: changed while preparing: a symbolic link on its path since it was looked " \
        "at (never followed): not changed\n" in r.stderr, r.stderr  # (opened from ROOT: not even reached)
    assert "/opt/lib/libopt.so" not in r.stdout and "/usr/lib/python3.11/os.py" in r.stdout, r.stdout
    assert stat.S_IMODE(os.stat(outside / "libopt.so").st_mode) == 0o644
    os.unlink(os.path.join(image, "opt/lib"))
    os.makedirs(opt)
    shutil.copy(outside / "libopt.so", os.path.join(opt, "libopt.so"))
    assert ec("image", "revert", image).returncode == 0
    assert rootfs.listing(image) == before


def test_prepare_gives_no_set_id_file_an_x_bit(image):
    """prepare added x where r to a set-user-ID program in a library directory: Debian's
    dbus-daemon-launch-helper (root:messagebus 4754, run only by its group) became 4755, runnable
    as root by every user, and a 4644 file became a set-user-ID program. Who may run such a file is
    its x bits' decision: it is left and named."""
    helper_dir = os.path.join(image, "usr/lib/dbus-1.0")
    os.makedirs(helper_dir)
    modes = {"helper": 0o4754, "inert": 0o4644, "sgid": 0o2640}
    for name, mode in modes.items():
        shutil.copy(os.path.join(image, "usr/bin/true"), os.path.join(helper_dir, name))  # a PIE: ET_DYN
        os.chown(os.path.join(helper_dir, name), 0, 100)
        os.chmod(os.path.join(helper_dir, name), mode)
    with open(os.path.join(image, "etc/ld.so.conf.d/dbus.conf"), "w") as f:
        f.write("/usr/lib/dbus-1.0\n")
    r = ec("image", "prepare", "--json", image)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert not [c for c in doc["changes"] if c["path"].startswith("/usr/lib/dbus-1.0/")], doc["changes"]
    left = {e["path"]: e["reason"] for e in doc["left"]}
    for name in modes:
        assert left["/usr/lib/dbus-1.0/" + name].startswith("it is set-user-ID or set-group-ID"), left
    r = ec("image", "prepare", "--apply", image)
    assert r.returncode == 0, r.stderr
    assert "execcheck: left /usr/lib/dbus-1.0/helper as it is: it is set-user-ID or set-group-ID" in r.stderr
    for name, mode in modes.items():
        assert stat.S_IMODE(os.stat(os.path.join(helper_dir, name)).st_mode) == mode, name
    assert ec("image", "revert", image).returncode == 0


def test_install_enforcing_an_unprepared_image_says_so(image):
    """`image install --enforce` on an image whose libraries are still 0644 (Debian's) exited 0
    with one line, 'installed ...': an image where no program would start, found out only at
    verify or at boot. It says now what prepare has left to do, in one line; not when it only
    records (no --enforce), nor once the image is prepared."""
    plan = json.loads(ec("image", "prepare", "--json", image).stdout)["changes"]
    libs = sum(1 for c in plan if c["kind"] == "library")
    says = ("execcheck: the image is not prepared: %d libraries and %d Python files have no x bit, and enforcing "
            "refuses them and what loads them: run `execcheck image prepare --apply %s`, then `execcheck image "
            "verify`\n" % (libs, len(plan) - libs, image))
    assert libs and len(plan) > libs
    r = ec("image", "install", "--enforce", "--dry-run", image)
    assert r.returncode == 0 and r.stderr == says, r
    r = ec("image", "install", "--enforce", image)
    assert r.returncode == 0 and r.stderr.endswith("\n" + says) and r.stderr.count("\n") == 2, r
    assert ec("image", "uninstall", image).returncode == 0
    r = ec("image", "install", image)
    assert r.returncode == 0 and r.stderr.count("\n") == 1 and "not prepared" not in r.stderr, r
    assert ec("image", "uninstall", image).returncode == 0
    assert ec("image", "prepare", "--apply", image).returncode == 0
    r = ec("image", "install", "--enforce", image)
    assert r.returncode == 0 and r.stderr.count("\n") == 1 and "not prepared" not in r.stderr, r


def test_verify_is_not_ready_when_other_users_programs_would_not_load_the_shim(image):
    """ld.so reads /etc/ld.so.preload, and opens the shim it names, with the rights of the program it
    starts. verify said 'ready to enforce' for a 0600 /etc/ld.so.preload and a 0700 shim, where
    every program of a user but root runs without the shim, silently (no glibc warning for the
    first; 'cannot be preloaded' and on for the second)."""
    assert ec("image", "prepare", "--apply", image).returncode == 0
    assert ec("image", "install", "--enforce", image).returncode == 0
    assert ec("image", "verify", image).returncode == 0
    preload = os.path.join(image, "etc/ld.so.preload")
    shim = os.path.join(image, "usr/lib/x86_64-linux-gnu/libexeccheck.so")
    os.chmod(preload, 0o600)
    r = ec("image", "verify", image)
    assert r.returncode == 1 and "shim     /etc/ld.so.preload must be readable by all (mode 0600): ld.so reads it " \
                                 "with the rights of each program, so other users' programs would run " \
                                 "unchecked\n" in r.stdout, r.stdout
    os.chmod(preload, 0o644)
    os.chmod(shim, 0o700)
    r = ec("image", "verify", image)
    assert r.returncode == 1 and "shim     /usr/lib/x86_64-linux-gnu/libexeccheck.so must be a root-owned file, " \
                                 "readable and executable by all, not writable by group or others (mode 0700, " \
                                 "uid 0)\n" in r.stdout, r.stdout
    os.chmod(shim, 0o755)
    assert ec("image", "verify", image).returncode == 0


def test_separate_debug_info_is_data_not_a_library(image):
    """/usr/lib/debug/.build-id/*.debug files are ELF shared objects whose code and dynamic
    section have no bytes in the file; ld.so refuses one ("object file has no dynamic section")
    before it maps anything. prepare planned an x bit for each (273 on this machine's /) and
    verify counted each as a refusal of something the image runs: both now leave them as data."""
    libm = os.path.join(image, "usr/lib/x86_64-linux-gnu/libm.so.6")
    dbg = os.path.join(image, "usr/lib/debug/.build-id/ab/cdef0123.debug")
    os.makedirs(os.path.dirname(dbg))
    subprocess.run(["objcopy", "--only-keep-debug", libm, dbg], check=True)
    os.chmod(dbg, 0o644)
    changes = {c["path"] for c in json.loads(ec("image", "prepare", "--json", image).stdout)["changes"]}
    assert "/usr/lib/x86_64-linux-gnu/libm.so.6" in changes and not any("/usr/lib/debug/" in p for p in changes)
    assert ec("image", "prepare", "--apply", image).returncode == 0
    assert os.stat(dbg).st_mode & 0o777 == 0o644
    assert ec("image", "install", "--enforce", image).returncode == 0
    r = ec("image", "verify", image)
    assert r.returncode == 0 and "ready to enforce" in r.stdout and "/usr/lib/debug" not in r.stdout, r.stdout
    # a real library in the same place is still one
    shutil.copy(libm, os.path.join(image, "usr/lib/debug/libreal.so"))
    os.chmod(os.path.join(image, "usr/lib/debug/libreal.so"), 0o644)
    r = ec("image", "verify", image)
    assert r.returncode == 1 and "refused  /usr/lib/debug/libreal.so" in r.stdout, r.stdout


def test_prepare_says_when_root_is_no_image_and_uninstall_says_it_is_done(image, tmp_path):
    """prepare of a directory that holds no image (a typo, an unpacked tarball one level down)
    said only "0 files to change", which reads as "nothing to do"; uninstall printed nothing on
    success, unlike every other step (a usability review's findings)."""
    empty = tmp_path / "not-an-image"
    (empty / "x").mkdir(parents=True)
    r = ec("image", "prepare", str(empty))
    assert r.returncode == 0 and "none of the loader's library directories" in r.stderr, r.stderr
    # --apply there wrote its record (var/lib/execcheck/) into the wrong directory, exit 0: refused now
    r = ec("image", "prepare", "--apply", str(empty))
    assert r.returncode == 2 and r.stderr == "execcheck: %s has none of the loader's library directories (/lib, " \
        "/usr/lib and their multiarch ones): is it the root of an image? Nothing was changed\n" % empty, r.stderr
    assert os.listdir(str(empty)) == ["x"]
    r = ec("image", "prepare", image)
    assert "none of the loader's library directories" not in r.stderr, r.stderr
    assert ec("image", "install", image).returncode == 0
    r = ec("image", "uninstall", image)
    assert r.returncode == 0 and r.stdout.strip() == "uninstalled from %s" % image, (r.stdout, r.stderr)


RENAMER = "import os, sys\nopen(sys.argv[1] + '/a', 'w').close()\nwhile True:\n" \
          "    os.rename(sys.argv[1] + '/a', sys.argv[1] + '/b'); os.rename(sys.argv[1] + '/b', sys.argv[1] + '/a')\n"


def test_verify_reads_through_dotdot_links_while_the_machine_renames_files(tmp_path):
    """Every lookup in an image is openat2(RESOLVE_IN_ROOT), which fails a path through ".." with
    EAGAIN when a rename anywhere on the machine races it (the kernel asks the caller to retry).
    Debian's apt has /usr/lib/apt/planners/dump -> ../solvers/dump: on a busy machine (other test
    runs beside this one) verify of a prepared debootstrap image said "NOT ready" once in a while,
    that program unread ("Resource temporarily unavailable") and one code file fewer (766 for 767).
    Here 300 programs are reached first through such a link while another process renames files."""
    need_root()
    root = str(tmp_path / "root")
    rootfs.build(root, python=False)
    for i in range(300):
        prog = os.path.join(root, "usr/lib/tool/solvers/p%d" % i)
        os.makedirs(os.path.dirname(prog), exist_ok=True)
        shutil.copy2("/bin/true", prog)
        os.makedirs(os.path.join(root, "usr/lib/tool/planners"), exist_ok=True)
        os.symlink("../solvers/p%d" % i, os.path.join(root, "usr/lib/tool/planners/p%d" % i))
    assert ec("image", "prepare", "--apply", root).returncode == 0
    assert ec("image", "install", "--enforce", root).returncode == 0
    quiet = json.loads(ec("image", "verify", "--json", root).stdout)
    assert quiet["ready"] and quiet["code_files"] > 300, quiet
    os.makedirs(str(tmp_path / "spin"))
    renamer = subprocess.Popen([sys.executable, "-c", RENAMER, str(tmp_path / "spin")])
    try:
        for _ in range(5):
            v = json.loads(ec("image", "verify", "--json", root).stdout)
            assert (v["ready"], v["unreadable"], v["code_files"]) == (True, [], quiet["code_files"]), v
    finally:
        renamer.kill()
        renamer.wait()

"""The image steps on a real Debian minbase root made with debootstrap from Debian's package
registry (marker `debootstrap`: slow, needs the network; CI runs it, `-m "not debootstrap"` skips
it locally)."""
import os
import shutil
import subprocess

import pytest

from audit_face_util import Kit
from conftest import execcheck_cmd, run
from rootfs import debootstrap, in_image, listing

pytestmark = pytest.mark.debootstrap


def ec(*args):
    r = run(execcheck_cmd() + list(args), timeout=600)
    assert r.returncode == 0, (args, r.stderr)
    return r


@pytest.fixture(scope="module")
def debian(tmp_path_factory):
    root = debootstrap(tmp_path_factory, "bookworm")
    yield root
    subprocess.run(["umount", "-R", os.path.join(root, "proc")], capture_output=True)


def test_debian_minbase_hardened_and_restored(debian, tmp_path):
    root = debian
    kit = Kit(tmp_path)
    os.makedirs(os.path.join(root, "tmp-files"), exist_ok=True)
    inject = kit.lib("libinject.so", "INJECT")
    shutil.copy2(inject, os.path.join(root, "tmp-files", "libinject.so"))
    shutil.copy2(inject, os.path.join(root, "var/tmp/libinject.so"))
    os.chmod(os.path.join(root, "var/tmp/libinject.so"), 0o644)
    with open(os.path.join(root, "root/script.py"), "w") as f:
        f.write("import os, sys\nprint('SCRIPT', sys.version_info[0], len(os.listdir('/etc')) > 0)\n")  # python3-minimal: no json
    os.chmod(os.path.join(root, "root/script.py"), 0o755)  # the CPython face checks the script too
    before = listing(root)

    # Debian ships its libraries and stdlib 0644: enforcing before prepare breaks the system
    ec("image", "install", "--enforce", root)
    r, records = in_image(root, "ls / >/dev/null")
    assert r.returncode != 0 and "execcheck: refused to load" in r.stderr
    assert any(x["reason"] == "x-bit" and x["action"] == "refused" for x in records)

    r = run(execcheck_cmd() + ["image", "verify", root], timeout=600)
    assert r.returncode == 1 and "NOT ready to enforce" in r.stdout  # verify saw it coming
    ec("image", "prepare", "--apply", root)
    ec("image", "verify", root)
    r, records = in_image(root, "ls / >/dev/null && python3 /root/script.py && "
                                "LD_PRELOAD=/tmp/libinject.so /bin/true; LD_PRELOAD=/var/tmp/libinject.so /bin/true")
    assert r.returncode == 0, r.stderr
    assert "SCRIPT" in r.stdout and "INJECT" not in r.stdout
    assert {x["path"] for x in records} == {"/tmp/libinject.so", "/var/tmp/libinject.so"}
    assert all(x["action"] == "refused" for x in records)

    ec("image", "install", root)  # audit: recorded, and what the kernel would map runs
    r, records = in_image(root, "LD_PRELOAD=/var/tmp/libinject.so /bin/true")
    assert r.returncode == 0 and "CTOR INJECT" in r.stdout and "execcheck:" not in r.stderr
    assert [x["action"] for x in records] == ["logged"]

    ec("image", "uninstall", root)
    ec("image", "revert", root)
    assert listing(root) == before

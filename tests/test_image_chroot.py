"""A hardened image at work: a root filesystem built from this machine's files, prepared and with
the shim installed, run in a chroot inside a private mount namespace with /tmp a noexec tmpfs.

Enforcing (the image's /etc/execcheck.conf says files = enforce): programs and a Python script
run; a library injected with LD_PRELOAD or an LD_LIBRARY_PATH look-alike, from /tmp (noexec) or
from /var/tmp (0644), never runs. Audit: the same attempts are recorded, and the ones the kernel
itself would map (/var/tmp) run as before."""
import json
import os
import shutil
import subprocess

import pytest

import rootfs
from audit_face_util import Kit
from conftest import execcheck_cmd, need_check, need_mountns, need_root, run
from rootfs import in_image

LIBDIR = "usr/lib/x86_64-linux-gnu"


def ec(*args):
    r = run(execcheck_cmd() + list(args))
    assert r.returncode == 0, (args, r.stderr)
    return r


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    need_root()
    need_mountns()
    need_check()
    base = tmp_path_factory.mktemp("image")
    root = str(base / "root")
    rootfs.build(root)
    kit = Kit(base / "kit")
    # an application of the image: /usr/bin/hello needs libhello.so from the library directory
    good = kit.lib("good/libhello.so", "HELLO", fn="hello")
    shutil.copy2(good, os.path.join(root, LIBDIR, "libhello.so"))
    os.chmod(os.path.join(root, LIBDIR, "libhello.so"), 0o644)  # as a distribution ships it
    hello = _build_hello(kit, good)
    shutil.copy2(hello, os.path.join(root, "usr/bin/hello"))
    # the injections, as an attacker would leave them
    evil = kit.lib("evil/libhello.so", "EVIL", fn="hello")
    preload = kit.lib("evil/libinject.so", "INJECT")
    for d in ("tmp-files", "var/tmp"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
        for src, name in ((evil, "libhello.so"), (preload, "libinject.so")):
            shutil.copy2(src, os.path.join(root, d, name))
            os.chmod(os.path.join(root, d, name), 0o644)
    os.makedirs(os.path.join(root, "var/log"), exist_ok=True)
    with open(os.path.join(root, "root/script.py"), "w") as f:
        f.write("import json, hashlib, zlib\nprint('SCRIPT', json.dumps({'ok': zlib.crc32(b'x') > 0}))\n")
    os.chmod(os.path.join(root, "root/script.py"), 0o755)
    # a program with modules of its own in /usr/share/tool, as Debian ships them (0644)
    os.makedirs(os.path.join(root, "usr/share/tool"))
    with open(os.path.join(root, "usr/share/tool/toolmod.py"), "w") as f:
        f.write("NAME = 'TOOL'\n")
    os.chmod(os.path.join(root, "usr/share/tool/toolmod.py"), 0o644)
    with open(os.path.join(root, "usr/bin/tool"), "w") as f:
        f.write("#!/usr/bin/python3\nimport sys\nsys.path.insert(0, '/usr/share/tool')\nimport toolmod\n"
                "print(toolmod.NAME)\n")
    os.chmod(os.path.join(root, "usr/bin/tool"), 0o755)
    ec("image", "prepare", "--apply", root)
    return root


def _build_hello(kit, good):
    src = kit.dir / "hello.c"
    src.write_text('#include <stdio.h>\nint hello(void);\nint main(void){printf("hello %d\\n", hello());return 0;}\n')
    return kit._cc("hello", src, "-L%s" % os.path.dirname(good), "-l:libhello.so")


def paths(records):
    return sorted({r["path"] for r in records})


@pytest.fixture(params=["enforce", "audit"])
def mode(request, image):
    args = ["image", "install", image] + (["--enforce"] if request.param == "enforce" else [])
    ec(*args)
    yield request.param
    ec("image", "uninstall", image)


def test_programs_and_python_run(image, mode):
    r, records = in_image(image, "hello && cat /etc/ld.so.preload && python3 /root/script.py && ls /usr/bin >/dev/null")
    assert r.returncode == 0, r.stderr
    assert "hello 42" in r.stdout and 'SCRIPT {"ok": true}' in r.stdout
    assert "libexeccheck.so" in r.stdout
    assert records == [], records  # a prepared image has nothing to refuse
    assert "execcheck:" not in r.stderr


def test_a_programs_private_modules_run(image, mode):
    """A script importing its own modules from /usr/share/PKG (py3compile's debpython): prepare
    left them 0644, and enforcing refused the import in an image verify called ready."""
    r, records = in_image(image, "tool")
    assert r.returncode == 0 and r.stdout == "TOOL\n", r.stderr
    assert records == [] and "execcheck:" not in r.stderr


def test_ld_preload_injection(image, mode):
    r, records = in_image(image, "LD_PRELOAD=/tmp/libinject.so hello; LD_PRELOAD=/var/tmp/libinject.so hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("hello 42") == 2  # the program itself runs in both modes
    assert "CTOR INJECT\n" not in r.stdout.split("hello 42")[0]  # from noexec /tmp: never, in any mode
    recorded = paths(records)
    assert "/tmp/libinject.so" in recorded and "/var/tmp/libinject.so" in recorded
    by_path = {x["path"]: x for x in records}
    assert by_path["/tmp/libinject.so"]["reason"] == "noexec"
    assert by_path["/var/tmp/libinject.so"]["reason"] == "x-bit"
    if mode == "enforce":
        assert "INJECT" not in r.stdout
        assert "execcheck: refused to load /var/tmp/libinject.so: x-bit" in r.stderr
        assert all(x["action"] == "refused" for x in records)
    else:
        assert r.stdout.count("CTOR INJECT") == 1  # the /var/tmp one runs, as it would without us
        assert "execcheck:" not in r.stderr
        assert all(x["action"] == "logged" for x in records)


def test_ld_library_path_look_alike(image, mode):
    r, records = in_image(image, "LD_LIBRARY_PATH=/tmp hello; LD_LIBRARY_PATH=/var/tmp hello")
    assert paths(records) == ["/tmp/libhello.so", "/var/tmp/libhello.so"]
    if mode == "enforce":
        # each look-alike skipped, the image's own copy found next: both runs succeed
        assert r.returncode == 0, r.stderr
        assert r.stdout.count("hello 42") == 2
        assert "EVIL" not in r.stdout and r.stdout.count("CTOR HELLO") == 2
    else:
        # as without execcheck: ld.so cannot map the noexec look-alike and stops; the 0644 one runs
        assert "libhello.so: failed to map segment from shared object" in r.stderr
        assert r.stdout.count("hello 42") == 1 and r.stdout.count("CTOR EVIL") == 1
        assert "CTOR HELLO" not in r.stdout and "execcheck:" not in r.stderr

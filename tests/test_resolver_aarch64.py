"""The aarch64 loader model (an arm64 image audited from this x86_64 host; the aarch64 build's own
dlopen guard) against the aarch64 ld.so itself, run under qemu-user.

The root is Debian's arm64 cross libc (libc6-arm64-cross, with libasan and the other runtime
libraries of the cross packages) at /usr/aarch64-linux-gnu: qemu-user's -L makes it the guest's
/, and `ld.so --list LIB` prints what ld.so maps for each library, which the resolver, given the
same root, must predict: the same names, found at the same paths, in the same order."""
import os
import shutil
import subprocess

import pytest

from conftest import execcheck_cmd, need, run
from execcheck.audit.resolver import Session
from ldtruth import LINE

SYSROOT = "/usr/aarch64-linux-gnu"
LDSO = "/lib/ld-linux-aarch64.so.1"


@pytest.fixture(autouse=True)
def _qemu():
    need(shutil.which("qemu-aarch64") is not None, "needs qemu-user (qemu-aarch64)")
    need(os.path.exists(SYSROOT + LDSO), "needs Debian's arm64 cross libc (libc6-arm64-cross)")


def ld_so_list(lib):
    """(name, path) of what the aarch64 ld.so maps for `ld.so --list lib`, itself left out."""
    p = subprocess.run(["qemu-aarch64", "-L", SYSROOT, SYSROOT + LDSO, "--list", lib], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    out = []
    for raw in p.stdout.splitlines():
        m = LINE.match(raw)
        # qemu-user's vDSO has no name; ld.so prints itself under the path it was run as
        if m and m.group("name") and not m.group("name").endswith("ld-linux-aarch64.so.1"):
            out.append((m.group("name"), m.group("path")))
    return out


def libraries():
    return sorted(n for n in os.listdir(SYSROOT + "/lib")
                  if ".so" in n and not n.startswith("ld-linux") and not os.path.islink(os.path.join(SYSROOT, "lib", n))
                  and open(os.path.join(SYSROOT, "lib", n), "rb").read(4) == b"\x7fELF")


def test_every_library_of_the_arm64_root_as_its_ld_so_maps_it():
    session = Session(root=SYSROOT, machine=183)
    assert session.platform == "aarch64" and session.system_dirs()[:2] == ["/lib/aarch64-linux-gnu",
                                                                            "/usr/lib/aarch64-linux-gnu"]
    libs = libraries()
    assert len(libs) >= 20, libs
    compared = 0
    for name in libs:
        path = "/lib/" + name
        res = session.resolve(path, as_library=True)
        assert res.status == 0 and res.main_status == "ok", (name, res.main_status)
        predicted = [(o.name, o.path) for o in res.objects
                     if o.kind not in ("main", "vdso") and not (o.kind == "interp" and o.searchlist < 0)
                     and not (o.path or "").endswith("ld-linux-aarch64.so.1")]
        assert predicted == ld_so_list(path), name
        compared += len(predicted)
    assert compared >= 20  # dependencies were there to compare, not only empty lists


def test_audit_of_an_arm64_root():
    """`execcheck audit --root` resolves the arm64 objects with the aarch64 loader's rules (not
    EXC042) and says so."""
    r = run(execcheck_cmd() + ["audit", "--root", SYSROOT, "--json", "--fail-on", "none"], timeout=600)
    import json
    doc = json.loads(r.stdout)
    assert doc["loader"]["aarch64"]["platform"] == "aarch64", doc["loader"]
    assert not [f for f in doc["findings"] if f["rule"] == "foreign-program"], doc["findings"][:3]
    resolved = [p for p, o in doc["inputs"].items() if o.startswith("library:ok")]
    assert len(resolved) >= 20, doc["inputs"]

"""An image audited with --root: resolution checked against the image's own ld.so run in a chroot,
and every planted problem reported exactly once, nothing else reported."""
import collections
import hashlib
import json
import os

import pytest

from conftest import execcheck_cmd, need_root, run
from execcheck.audit.resolver import Session
from imagefixture import build, chroot_into
from ldfixtures import real_run
from ldtruth import comparable, predicted, trace

HOST_AUX = "/var/cache/ldconfig/aux-cache"


def digest(path):
    try:
        with open(path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return None


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    need_root()  # chroot, and a root-owned image like a real one
    before = digest(HOST_AUX)
    img = build(tmp_path_factory.mktemp("img") / "root")
    assert digest(HOST_AUX) == before, "ldconfig -r must not touch the host's aux-cache"
    yield img
    os.chmod(img.p("/usr/bin/prog_suid"), 0o755)  # leave no setuid-root file behind in tmp


RUNNABLE = ["/usr/bin/prog_hw", "/usr/bin/prog_dup", "/usr/bin/prog_pre", "/usr/bin/prog_nx", "/usr/bin/prog_rpath",
            "/usr/bin/prog_tmp", "/usr/bin/prog_wr", "/usr/bin/prog_luck", "/usr/bin/prog_usr", "/usr/bin/true",
            "/usr/bin/prog_suid"]
FAILING = ["/usr/bin/prog_stale", "/usr/bin/prog_ver"]


@pytest.mark.parametrize("prog", RUNNABLE + FAILING)
def test_resolution_matches_the_images_own_loader(image, prog):
    s = Session(root=str(image.root))
    res = s.resolve(prog)
    rc, tags, err = real_run([prog], preexec_fn=chroot_into(image.root))
    if prog in FAILING:
        assert not res.starts and rc in (1, 127) and res.failure() in err, (err, res.failure())
        return
    assert res.starts and rc == 0, err
    ours = sorted(image.tags[o.realpath] for o in res.loaded() if o.realpath in image.tags)
    assert sorted(tags) == ours
    entries, trc, terr = trace([prog], preexec_fn=chroot_into(image.root))
    assert trc == 0, terr
    assert comparable(entries) == comparable(predicted(res))


def test_image_specific_cases(image):
    s = Session(root=str(image.root))
    tag = lambda res: sorted(image.tags.get(o.realpath) for o in res.loaded() if o.realpath in image.tags)
    hw = s.resolve("/usr/bin/prog_hw")
    best = "hw-v3" if s.isa_level >= 3 else "hw-v2" if s.isa_level == 2 else "hw-baseline"
    assert best in tag(hw)                                                   # r3: hwcaps entry of the cache
    assert [o.via for o in hw.objects if o.name == "libhw.so.1"] == ["cache"]
    assert "dup-conf" in tag(s.resolve("/usr/bin/prog_dup"))                # r6: cache before default dirs
    assert "usr" in tag(s.resolve("/usr/bin/prog_usr"))                     # r2: /usr/lib without conf or cache
    pre = s.resolve("/usr/bin/prog_pre")                                    # r4: preload satisfies DT_NEEDED
    assert [e.via for e in pre.edges if e.name == "libpre.so"] == ["loaded"]
    interp = [o for o in hw.objects if o.kind == "interp"][0]               # r5: absolute symlink in the image
    assert interp.realpath == "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"
    assert os.path.samefile(image.p(interp.realpath), image.p("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"))
    assert (interp.dev, interp.ino) != (os.stat("/lib64/ld-linux-x86-64.so.2").st_dev,
                                        os.stat("/lib64/ld-linux-x86-64.so.2").st_ino)
    stale = s.resolve("/usr/bin/prog_stale")                                # r1: stale cache
    assert not stale.starts and stale.edges[stale.failure_edge].name == "libstale.so"


def test_audit_reports_each_planted_problem_once(image):
    r = run(execcheck_cmd() + ["audit", "--root", str(image.root), "--json"])
    assert r.returncode == 1, r.stderr            # there are errors
    assert "Traceback" not in r.stderr and r.stderr == ""
    doc = json.loads(r.stdout)
    got = collections.Counter((f["rule"], f["path"]) for f in doc["findings"])
    want = collections.Counter(image.expected)
    assert got == want, "\nunexpected: %s\nmissing: %s" % (sorted(got - want), sorted(want - got))
    by = {(f["rule"], f["path"]): f for f in doc["findings"]}
    assert "run ldconfig" in by[("missing-library", "/usr/bin/prog_stale")]["message"]
    assert by[("exec-denied", "/srv/noexec/libnx.so")]["details"]["reasons"] == ["noexec"]
    nx = by[("library-load-error", "/srv/noexec/libnx.so")]  # not only a policy's refusal: ld.so cannot map it
    assert nx["programs"] == ["/usr/bin/prog_nx"] and "mounted noexec (fstab)" in nx["message"], nx
    assert by[("exec-denied", "/opt/lib/libdup.so")]["details"]["reasons"] == ["x-bit"]
    assert by[("exec-denied", "/opt/lib/libdup.so")]["programs"] == ["/usr/bin/prog_dup"]
    assert by[("python-code-denied", "/usr/lib/python3.11")]["details"]["files"] == ["/usr/lib/python3.11/mod.py"]
    assert doc["loader"]["noexec_mounts"] == ["/srv/noexec"]
    # deterministic: a second run gives the same document (but for the time it took)
    again = json.loads(run(execcheck_cmd() + ["audit", "--root", str(image.root), "--json"]).stdout)
    for d in (doc, again):
        del d["summary"]["seconds"]
    assert again == doc


def test_audit_sarif_and_text_and_fail_on(image):
    r = run(execcheck_cmd() + ["audit", "--root", str(image.root), "--sarif"])
    doc = json.loads(r.stdout)
    assert doc["version"] == "2.1.0"
    results = doc["runs"][0]["results"]
    rules = doc["runs"][0]["tool"]["driver"]["rules"]
    assert "informationUri" not in doc["runs"][0]["tool"]["driver"]  # it was a made-up example.invalid address
    assert {x["ruleId"] for x in results} <= {x["id"] for x in rules}
    assert all(rules[x["ruleIndex"]]["id"] == x["ruleId"] for x in results)
    assert len(results) == len(image.expected)
    t = run(execcheck_cmd() + ["audit", "--root", str(image.root), "--tree"])
    assert "prog_stale" in t.stdout and "libstale.so => cannot open shared object file" in t.stdout
    assert "summary:" in t.stdout
    # --fail-on: errors exist -> 1; none -> 0
    assert run(execcheck_cmd() + ["audit", "--root", str(image.root), "--fail-on", "none"]).returncode == 0
    clean = run(execcheck_cmd() + ["audit", "--root", str(image.root), "/usr/bin/prog_hw", "--fail-on", "error"])
    assert clean.returncode == 0, clean.stdout
    assert run(execcheck_cmd() + ["audit", "--root", str(image.root), "/opt/lib/libdup.so",
                                  "--fail-on", "warning"]).returncode == 1


def test_the_summary_counts_python_files_beside_elf_files(image):
    """The summary said "0 of N code files would be refused" beside an EXC060 about refused Python
    files: it counted ELF files only. It says which, and counts the Python files as well."""
    r = run(execcheck_cmd() + ["audit", "--root", str(image.root)])
    summary = [l for l in r.stdout.splitlines() if l.startswith("summary: ")]
    doc = json.loads(run(execcheck_cmd() + ["audit", "--root", str(image.root), "--json"]).stdout)["summary"]
    assert doc["python_denied"] >= 1 and doc["python_files"] >= doc["python_denied"], doc
    assert len(summary) == 1 and "%d of %d ELF files would be refused" % (doc["exec_denied"], doc["code_files"]) \
        in summary[0] and "; %d of %d Python files" % (doc["python_denied"], doc["python_files"]) in summary[0], summary

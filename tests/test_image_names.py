"""image prepare and image verify on hostile file names: each name in their JSON can be told by its
bytes (a name that is not UTF-8 carries them in hex, wherever it appears), and each name in their
text is printed unambiguously and inert (a newline, a backslash, a terminal escape)."""
import json
import os
import shutil

import pytest

import rootfs
from conftest import ec, need_root

LIBDIR = "/usr/lib/x86_64-linux-gnu"


@pytest.fixture
def ready(open_tmp):
    """A prepared image with the shim installed, that verify calls ready, under a ROOT whose name
    is not UTF-8."""
    need_root()
    return rootfs.ready_image(open_tmp / os.fsdecode(b"root\xff"))


def _refused_tree(root, names):
    """A virtual environment's package whose modules (names: bytes) are 0644: verify refuses the tree."""
    tree = os.fsencode(root) + b"/opt/app/lib/python3.11/site-packages/app/"
    os.makedirs(tree)
    for name in names:
        with open(tree + name, "w") as f:
            f.write("")
        os.chmod(tree + name, 0o644)
    return b"/opt/app/lib/python3.11/site-packages/app/"


def test_every_name_of_verify_json_that_is_not_utf8_carries_its_bytes(ready):
    """A refused Python tree's files (details.files) were names without their bytes: m\\xff.py and
    mÿ.py (UTF-8) both came out "m\\u00ff.py", and so did a ROOT named so. Each carries its bytes now:
    files_hex beside the list (null for a UTF-8 name), root_hex beside root."""
    at = _refused_tree(ready, [b"m\xff.py", "mÿ.py".encode(), b"plain.py"])
    r = ec("image", "verify", "--json", ready)
    assert r.returncode == 1, r.stderr
    doc = json.loads(r.stdout)
    assert bytes.fromhex(doc["root_hex"]) == os.fsencode(ready), doc
    [tree] = [f for f in doc["refusals"] if f["rule"] == "python-code-denied"]
    files, hexed = tree["details"]["files"], tree["details"]["files_hex"]
    assert len(files) == len(hexed) == 3, tree
    named = sorted(bytes.fromhex(h) if h is not None else f.encode() for f, h in zip(files, hexed))
    assert named == sorted(at + n for n in (b"m\xff.py", "mÿ.py".encode(), b"plain.py")), tree
    assert [h for f, h in zip(files, hexed) if f.endswith("plain.py")] == [None], tree


def test_prepare_json_root_carries_its_bytes(ready):
    doc = json.loads(ec("image", "prepare", "--json", ready).stdout)
    assert bytes.fromhex(doc["root_hex"]) == os.fsencode(ready), doc


# names that printed alike, or drove the terminal: a newline and the text "\x0a"; a backslash;
# ESC and the C1 CSI (U+009B, which some terminals take for ESC [); a right-to-left override
HOSTILE = [b"a\nb", b"a\\x0ab", b"x\\y", b"esc\x1b[31mred", "c1\u009b31m".encode(), "rlo\u202eos.py".encode()]


def test_prepare_text_prints_each_name_unambiguously_and_inert(open_tmp):
    """A library named `a` newline `b` printed `a\\x0ab`, as one named `a\\x0ab` (a backslash, then
    x0ab) did: two names, one line, and no way to tell which file prepare would change. A backslash
    is \\\\ now; C1 controls and bidi overrides, printed raw before, are escaped too."""
    need_root()
    root = rootfs.debian_modes_image(open_tmp / "root")
    lib = os.fsencode(root + LIBDIR) + b"/"
    for name in HOSTILE:
        shutil.copy(lib + b"libc.so.6", lib + b"lib" + name + b".so")
        os.chmod(lib + b"lib" + name + b".so", 0o644)
    r = ec("image", "prepare", root)
    assert r.returncode == 0, r.stderr
    shown = [line.split("  ")[-1] for line in r.stdout.splitlines()]
    assert [LIBDIR + "/lib%s.so" % s for s in ("a\\x0ab", "a\\\\x0ab", "x\\\\y", "esc\\x1b[31mred", "c1\\u009b31m",
                                              "rlo\\u202eos.py") if LIBDIR + "/lib%s.so" % s not in shown] == [], shown
    assert all(p.startswith(LIBDIR + "/") for p in shown), shown  # no name made a line of its own
    assert not any(c in r.stdout + r.stderr for c in ("\x1b", "\u009b", "\u202e")), r.stdout


def test_verify_text_prints_each_name_unambiguously_and_inert(ready):
    """verify's refusals, and the refused Python files it names, printed a name with a backslash
    as it is: `a\\x0ab.py` and `a` newline `b`.py read alike. Each is escaped now."""
    _refused_tree(ready, [b"a\nb.py", b"a\\x0ab.py", "c1\u009b.py".encode()])
    r = ec("image", "verify", ready)
    assert r.returncode == 1, r.stdout
    line = [x for x in r.stdout.splitlines() if "a\\x0ab.py" in x]
    assert len(line) == 1, r.stdout
    assert "/app/a\\x0ab.py" in line[0] and "/app/a\\\\x0ab.py" in line[0] and "/app/c1\\u009b.py" in line[0], line
    assert "\u009b" not in r.stdout and "\x1b" not in r.stdout, r.stdout
    assert r.stdout.rstrip("\n").endswith("root\\xff: NOT ready to enforce (%d code files audited)" % json.loads(
        ec("image", "verify", "--json", ready).stdout)["code_files"]), r.stdout

"""The ten hardest resolution cases (research/elf-audit-tools.md §7), each checked against a real run.

For every fixture the resolver's prediction is compared with what ld.so really did: which tagged
copies ran their constructors (or, when the program cannot start, ld.so's error), and where the
trace works, the whole link map from LD_TRACE_LOADED_OBJECTS.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest

from conftest import in_mountns, need, need_mountns, need_root
from execcheck.audit.resolver import Session
from ldfixtures import DT_AUDIT, DT_RUNPATH, Tree, dynamic_entries, patch_bytes, real_run, retag
from ldtruth import comparable, predicted, trace


@pytest.fixture
def tree(tmp_path):
    return Tree(tmp_path / "fx")


def predicted_tags(tree, res):
    """Tags of the objects the resolver says load, in load (BFS) order; constructors run in reverse
    dependency order, so compare as sets and check BFS order separately."""
    return [tree.tag_of(o.realpath) for o in res.loaded() if o.realpath and tree.tag_of(o.realpath)]


def check(tree, prog, session=None, env=None, cwd=None, preexec_fn=None, trace_too=True, **resolve_kw):
    """Resolves prog, runs it for real, and asserts they agree. Returns the resolution."""
    env = dict(env or {})
    session = session or Session(cwd=str(cwd) if cwd else None)
    if "LD_LIBRARY_PATH" in env:
        resolve_kw.setdefault("library_path", env["LD_LIBRARY_PATH"])
    res = session.resolve(str(prog), **resolve_kw)
    rc, tags, err = real_run([prog], env=env, cwd=cwd, preexec_fn=preexec_fn)
    if res.starts:
        assert rc == 0, "predicted a start, ld.so said: %s" % err
        assert sorted(tags) == sorted(predicted_tags(tree, res))
    else:
        # ld.so exits 127 when a file cannot be loaded, 1 when a symbol version is missing
        want = 127 if res.failure_edge >= 0 else 1
        assert rc == want, "predicted a failure (%s), but rc=%d tags=%s" % (res.failure(), rc, tags)
        assert tags == []
        assert res.failure() in err, "ld.so said: %r, we said: %r" % (err, res.failure())
    if trace_too:
        ent, trc, terr = trace([str(prog)], env=env, cwd=cwd, preexec_fn=preexec_fn)
        if trc == 0 and ent:
            assert comparable(ent) == comparable(predicted(res)), (ent, predicted(res))
    return res


# --------------------------------------------------------------------------- 1. order and identity

def test_bfs_order_picks_the_shallower_copy(tree):
    """c08: libC is reached at depth 2 through libB's RUNPATH and at depth 3 through libY's; BFS takes libB's."""
    c_b = tree.lib("b/libC.so", "C-from-B", soname="libC.so")
    c_y = tree.lib("y/libC.so", "C-from-Y", soname="libC.so")
    y = tree.lib("y/libY.so", "Y", soname="libY.so", needed=[c_y], runpath=str(tree.p("y")))
    x = tree.lib("x/libX.so", "X", soname="libX.so", needed=[y], runpath=str(tree.p("y")))
    b = tree.lib("b/libB.so", "B", soname="libB.so", needed=[c_b], runpath=str(tree.p("b")))
    prog = tree.prog("prog", needed=[x, b], runpath="%s:%s" % (tree.p("x"), tree.p("b")))
    res = check(tree, prog)
    assert "C-from-B" in predicted_tags(tree, res) and "C-from-Y" not in predicted_tags(tree, res)
    assert predicted_tags(tree, res) == ["X", "B", "Y", "C-from-B"]  # breadth first


def test_soname_alias_satisfies_a_later_needed(tree):
    """c17: libfoo-d.so (SONAME libfoo.so.1) is loaded first; libY's libfoo.so.1 reuses it."""
    tree.lib("d1/libfoo-d.so", "foo-dev", soname="libfoo.so.1")
    other = tree.lib("d2/libfoo.so.1", "foo-other", soname="libfoo.so.1")
    y = tree.lib("d2/libY.so", "Y", soname="libY.so", needed=[other], runpath=str(tree.p("d2")))
    prog = tree.prog("prog", needed=[tree.p("d1/libfoo-d.so"), y], runpath="%s:%s" % (tree.p("d1"), tree.p("d2")))
    patch_bytes(prog, b"libfoo.so.1\0", b"libfoo-d.so\0")  # the program asks for the file name, as a dev link would
    res = check(tree, prog)
    assert predicted_tags(tree, res).count("foo-dev") == 1 and "foo-other" not in predicted_tags(tree, res)
    edge = [e for e in res.edges if e.name == "libfoo.so.1"][0]
    assert edge.via == "loaded"


def test_same_inode_under_two_names_loads_once(tree):
    """(dev, ino) reuse: libS2.so is a hard link to libS1.so (no SONAME), asked for under both names."""
    tree.lib("a/libS1.so", "S")
    os.link(tree.p("a/libS1.so"), tree.p("a/libS2.so"))
    d = "-L" + str(tree.p("a"))
    tree.lib("a/libT.so", "T", soname="libT.so", needed=[d, "-lS2"], runpath=str(tree.p("a")))
    prog = tree.prog("prog", needed=[d, "-lS1", "-lT"], runpath=str(tree.p("a")))
    res = check(tree, prog)
    assert sorted(predicted_tags(tree, res)) == ["S", "T"]  # one S, though asked for under two names
    assert [e for e in res.edges if e.name == "libS2.so"][0].via == "same-file"


def test_needed_satisfied_only_because_already_loaded(tree):
    """c20: libT needs libS and has no way to find it; it works only because the program loaded libS."""
    s = tree.lib("priv/libS.so", "S", soname="libS.so")
    t = tree.lib("pub/libT.so", "T", soname="libT.so", needed=[s])
    prog = tree.prog("prog", needed=[s, t], runpath="%s:%s" % (tree.p("priv"), tree.p("pub")))
    res = check(tree, prog, check_alone=True)
    e = [e for e in res.edges if e.name == "libS.so" and res.objects[e.source].name == "libT.so"][0]
    assert e.via == "loaded" and e.alone is False
    # and on its own, libT indeed cannot be loaded
    alone = Session().resolve(str(t), as_library=True)
    assert not alone.starts and alone.edges[0].error == "not-found"



def test_filtees_go_before_their_filter(tree):
    """DT_FILTER and DT_AUXILIARY: ld.so loads a filtee after its filter but moves it just before the
    filter, in the link map as in the search list, and takes the filtee's own dependencies next:
    libX comes from libF's RUNPATH, not from that of libB, which was queued earlier."""
    x_f = tree.lib("xf/libX.so", "X-F", soname="libX.so")
    x_b = tree.lib("xb/libX.so", "X-B", soname="libX.so")
    tree.lib("f/libF.so", "F", soname="libF.so", needed=[x_f], runpath=str(tree.p("xf")))
    tree.lib("f/libG.so", "G", soname="libG.so")
    a = tree.lib("a/libA.so", "A", soname="libA.so", runpath=str(tree.p("f")),
                 flags=["-Wl,-F,libF.so", "-Wl,-f,libG.so"])
    b = tree.lib("b/libB.so", "B", soname="libB.so", needed=[x_b], runpath=str(tree.p("xb")))
    prog = tree.prog("prog", needed=[a, b], runpath="%s:%s" % (tree.p("a"), tree.p("b")))
    res = check(tree, prog)
    assert predicted_tags(tree, res) == ["F", "G", "A", "B", "X-F"]
    assert [o.searchlist for o in res.objects if tree.tag_of(o.realpath or "")] == [1, 2, 3, 4, 6]


def test_missing_filtee_stops_the_program(tree):
    """A DT_FILTER that cannot be loaded is fatal; in the trace, the missing filtee is listed where
    ld.so moved it, before its filter."""
    a = tree.lib("a/libA.so", "A", soname="libA.so", flags=["-Wl,-F,libnofilter.so"])
    b = tree.lib("a/libB.so", "B", soname="libB.so")
    prog = tree.prog("prog", needed=[b, a], runpath=str(tree.p("a")))
    res = check(tree, prog)
    assert res.failure() == "libnofilter.so: cannot open shared object file"


def test_missing_auxiliary_filtee_is_listed_by_the_trace_only(tree):
    """A DT_AUXILIARY that cannot be loaded: a real run goes on without it. ld.so's trace fakes an
    entry ("not found", moved before its filter) where it found no file - none at all, or one of the
    other ELF class - but a file it found and could not load raises an error, which is dropped."""
    tree.lib("a/libother.so", "other", soname="libother.so")
    data = bytearray(tree.p("a/libother.so").read_bytes())
    data[4] = 1  # ELFCLASS32
    tree.p("a/libother.so").write_bytes(bytes(data))
    tree.p("a/libjunk.so").write_bytes(b"junk\n")
    a = tree.lib("a/libA.so", "A", soname="libA.so", runpath=str(tree.p("a")),
                 flags=["-Wl,-f,libnoaux.so", "-Wl,-f,libjunk.so", "-Wl,-f,libother.so"])
    b = tree.lib("a/libB.so", "B", soname="libB.so")
    prog = tree.prog("prog", needed=[b, a], runpath=str(tree.p("a")))
    res = check(tree, prog)
    assert res.starts and predicted_tags(tree, res) == ["B", "A"]
    ent, rc, _ = trace([str(prog)])
    assert rc == 0 and [e for e in ent if e[1] is None] == [("libnoaux.so", None), ("libother.so", None)]
    assert [(o.name, o.kind) for o in res.objects if o.kind == "missing"] == [("libnoaux.so", "missing"),
                                                                             ("libother.so", "missing")]


def test_version_requirement_of_a_missing_auxiliary_filtee(tree):
    """libA's Verneed names libV.so, which is its DT_AUXILIARY and missing: the trace's stand-in
    satisfies the version check there, but a real run has none and fails ld.so's assertion."""
    (tree.base / "v.map").write_text("V_1 { global: f_v; local: *; };\n")
    v = tree.lib("v/libV.so", "V", soname="libV.so", sym="f_v", flags=["-Wl,--version-script," + str(tree.base / "v.map")])
    (tree.base / "a.c").write_text("int f_v(void); int f_a(void) { return f_v(); }\n")
    a = tree.p("a/libA.so")
    a.parent.mkdir()
    subprocess.run(["cc", "-shared", "-fPIC", "-nostdlib", "-o", str(a), str(tree.base / "a.c"), "-Wl,--no-as-needed",
                    str(v), "-Wl,-soname,libA.so"], check=True)
    retag(a, 1, 0x7ffffffd)  # its only DT_NEEDED, libV.so, becomes a DT_AUXILIARY
    prog = tree.prog("prog", needed=[a], runpath=str(tree.p("a")), flags=["-Wl,--allow-shlib-undefined"])
    res = Session().resolve(str(prog))
    rc, tags, err = real_run([prog])
    assert rc == 127 and "Assertion `needed != NULL' failed" in err
    assert not res.starts and res.failure() in err and res.problems[res.failure_problem].error == "verneed-file"
    ent, rc, _ = trace([str(prog)])
    assert rc == 0 and ("libV.so", None) in ent and comparable(ent) == comparable(predicted(res))



def test_filtees_that_move_each_other_crash_the_loader(tree):
    """libA's filtee is libB and libB's is libA: each move puts the other one back in front, unprocessed,
    and dl-deps.c goes round until its alloca()s overflow the stack. The resolver says so where the
    stack would end, instead of filling its memory (ENOMEM after 1 GiB and half a minute)."""
    tree.lib("d/libA.so", "A0", soname="libA.so")
    b = tree.lib("d/libB.so", "B", soname="libB.so", flags=["-Wl,-f,libA.so"], runpath=str(tree.p("d")))
    a = tree.lib("d/libA.so", "A", soname="libA.so", flags=["-Wl,-f,libB.so"], runpath=str(tree.p("d")))
    prog = tree.prog("prog", needed=[a, b], runpath=str(tree.p("d")))
    rc, tags, err = real_run([prog])
    assert rc == -11 and tags == []  # SIGSEGV
    res = Session().resolve(str(prog))
    assert res.status == 0 and not res.starts and res.edges[res.failure_edge].error == "filter-loop"

def test_filtees_that_move_each_other_cost_a_few_steps(tree):
    """The same loop is found where the walk comes back to a state it was in, not after ld.so's
    262144 stack entries: the resolution stays a few edges (it was a million, a second of C and
    half a minute and 600 MB of the audit's Python per program)."""
    tree.lib("d/libA.so", "A0", soname="libA.so")
    b = tree.lib("d/libB.so", "B", soname="libB.so", flags=["-Wl,-f,libA.so"], runpath=str(tree.p("d")))
    a = tree.lib("d/libA.so", "A", soname="libA.so", flags=["-Wl,-f,libB.so"], runpath=str(tree.p("d")))
    prog = tree.prog("prog", needed=[a, b], runpath=str(tree.p("d")))
    res = Session().resolve(str(prog), trace=True, check_alone=True)
    assert res.edges[res.failure_edge].error == "filter-loop" and len(res.edges) < 20, len(res.edges)


def test_filtees_that_move_each_other_beside_a_missing_filter(tree):
    """libA also has a DT_FILTER that is missing: ld.so stops there (its first fatal error), and each
    round of the loop left one more fake object in the model, so no state came back - up to 65536
    objects, ten minutes for the audit of an image of three files. Fakes are nobody's: the loop is
    found without them."""
    tree.lib("d/libA.so", "A0", soname="libA.so")
    b = tree.lib("d/libB.so", "B", soname="libB.so", flags=["-Wl,-f,libA.so"], runpath=str(tree.p("d")))
    a = tree.lib("d/libA.so", "A", soname="libA.so", flags=["-Wl,-f,libB.so", "-Wl,-F,libgone.so"],
                 runpath=str(tree.p("d")))
    prog = tree.prog("prog", needed=[a, b], runpath=str(tree.p("d")))
    res = check(tree, prog, trace_too=False)
    assert res.failure() == "libgone.so: cannot open shared object file"
    assert len(res.objects) < 20 and "filter-loop" in [e.error for e in res.edges], res.objects

# --------------------------------------------------------------------------- 2. RPATH and RUNPATH

def test_rpath_of_the_grandparent_is_searched(tree):
    """c03: libB's libC comes from libA's RPATH (libA loaded libB)."""
    c = tree.lib("dc/libC.so", "C", soname="libC.so")
    b = tree.lib("db/libB.so", "B", soname="libB.so", needed=[c])
    a = tree.lib("da/libA.so", "A", soname="libA.so", needed=[b], rpath="%s:%s" % (tree.p("db"), tree.p("dc")))
    prog = tree.prog("prog", needed=[a], runpath=str(tree.p("da")))
    res = check(tree, prog)
    c_obj = [o for o in res.objects if o.name == "libC.so"][0]
    assert c_obj.via == "rpath" and res.objects[c_obj.via_object].name == "libA.so"


def test_runpath_is_not_inherited(tree):
    """c04: the program's RUNPATH does not serve libA's libC: the program cannot start."""
    c = tree.lib("dc/libC.so", "C", soname="libC.so")
    a = tree.lib("da/libA.so", "A", soname="libA.so", needed=[c])
    prog = tree.prog("prog", needed=[a], runpath="%s:%s" % (tree.p("da"), tree.p("dc")))
    res = check(tree, prog)
    assert not res.starts and res.edges[res.failure_edge].name == "libC.so"


def test_loader_runpath_blocks_the_rpath_chain(tree):
    """c05: libA has a RUNPATH, so neither its loaders' RPATHs nor the program's are searched for its libC."""
    c = tree.lib("dc/libC.so", "C", soname="libC.so")
    a = tree.lib("da/libA.so", "A", soname="libA.so", needed=[c], runpath="/nonexistent-execcheck")
    prog = tree.prog("prog", needed=[a], rpath="%s:%s" % (tree.p("da"), tree.p("dc")))
    res = check(tree, prog)
    assert not res.starts and res.edges[res.failure_edge].name == "libC.so"


def test_object_with_rpath_and_runpath_uses_only_runpath(tree):
    """c06: the program has DT_RPATH and DT_RUNPATH; the RPATH is ignored, for its children too."""
    tree.lib("dr/libfoo.so", "foo-rpath", soname="libfoo.so")
    tree.lib("du/libfoo.so", "foo-runpath", soname="libfoo.so")
    bar = tree.lib("dr/libbar.so", "bar", soname="libbar.so")
    a = tree.lib("du/libA.so", "A", soname="libA.so", needed=[bar])
    prog = tree.prog("prog", needed=[tree.p("du/libfoo.so"), a], rpath=str(tree.p("dr")),
                     flags=["-Wl,--audit," + str(tree.p("du"))])
    retag(prog, DT_AUDIT, DT_RUNPATH)
    tags = {t for _o, t, _v in dynamic_entries(prog)}
    assert 15 in tags and 29 in tags
    res = check(tree, prog)
    assert not res.starts and res.edges[res.failure_edge].name == "libbar.so"
    # without libA, the RUNPATH copy of libfoo is what loads
    prog2 = tree.prog("prog2", needed=[tree.p("du/libfoo.so")], rpath=str(tree.p("dr")),
                      flags=["-Wl,--audit," + str(tree.p("du"))])
    retag(prog2, DT_AUDIT, DT_RUNPATH)
    res2 = check(tree, prog2)
    assert "foo-runpath" in predicted_tags(tree, res2)


def test_search_order_rpath_library_path_runpath(tree, tmp_path):
    """c07/c07b: RPATH > LD_LIBRARY_PATH > RUNPATH; ';' separates LD_LIBRARY_PATH too."""
    for d in ("rp", "llp", "ru"):
        tree.lib("%s/libo.so" % d, "o-" + d, soname="libo.so")
    prog_ru = tree.prog("prog_ru", needed=[tree.p("ru/libo.so")], runpath=str(tree.p("ru")))
    prog_rp = tree.prog("prog_rp", needed=[tree.p("rp/libo.so")], rpath=str(tree.p("rp")))
    llp = "/nonexistent-execcheck;%s" % tree.p("llp")
    assert predicted_tags(tree, check(tree, prog_ru, env={"LD_LIBRARY_PATH": llp})) == ["o-llp"]
    assert predicted_tags(tree, check(tree, prog_rp, env={"LD_LIBRARY_PATH": llp})) == ["o-rp"]
    assert predicted_tags(tree, check(tree, prog_ru)) == ["o-ru"]


# --------------------------------------------------------------------------- 3. $ORIGIN

def test_origin_of_a_program_run_through_a_symlink_is_its_real_directory(tree):
    """c01: bin/prog is a symlink to real/bin/prog whose RPATH is $ORIGIN/../lib."""
    lib = tree.lib("real/lib/libo.so", "o-real", soname="libo.so")
    tree.lib("lib/libo.so", "o-decoy", soname="libo.so")
    prog = tree.prog("real/bin/prog", needed=[lib], rpath="$ORIGIN/../lib")
    tree.p("bin").mkdir()
    os.symlink(prog, tree.p("bin/prog"))
    res = check(tree, tree.p("bin/prog"))
    assert predicted_tags(tree, res) == ["o-real"]


def test_origin_of_a_library_is_where_it_was_found_not_its_target(tree):
    """c02: lib/libL.so is a symlink to s/store/libL.so; libL's RUNPATH $ORIGIN/../priv means lib/../priv."""
    tree.lib("priv/libP.so", "P-found-dir", soname="libP.so")
    p_target = tree.lib("s/priv/libP.so", "P-target-dir", soname="libP.so")
    libl = tree.lib("s/store/libL.so", "L", soname="libL.so", needed=[p_target], runpath="$ORIGIN/../priv")
    tree.p("lib").mkdir()
    os.symlink(libl, tree.p("lib/libL.so"))
    prog = tree.prog("prog", needed=[libl], runpath=str(tree.p("lib")))
    res = check(tree, prog)
    assert "P-found-dir" in predicted_tags(tree, res) and "P-target-dir" not in predicted_tags(tree, res)


def test_relative_library_path_element_is_relative_to_the_cwd(tree):
    tree.lib("work/rel/libo.so", "o-rel", soname="libo.so")
    tree.lib("sys/libo.so", "o-sys", soname="libo.so")
    prog = tree.prog("prog", needed=[tree.p("sys/libo.so")], runpath=str(tree.p("sys")))
    res = check(tree, prog, env={"LD_LIBRARY_PATH": "rel"}, cwd=tree.p("work"))
    assert predicted_tags(tree, res) == ["o-rel"]


# --------------------------------------------------------------------------- 4. secure mode

def _as_nobody():
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)


def in_child_as_nobody(fn):
    """fn() computed in a forked child running as nobody (the module is already loaded there)."""
    import json
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            _as_nobody()
            os.write(wfd, json.dumps(fn()).encode())
        finally:
            os._exit(0)
    os.close(wfd)
    data = b""
    while True:
        chunk = os.read(rfd, 65536)
        if not chunk:
            break
        data += chunk
    os.close(rfd)
    os.waitpid(pid, 0)
    return json.loads(data)


def test_setuid_program_drops_origin_and_library_path(open_tmp):
    """c16: a setuid-root program run by nobody: $ORIGIN outside trusted dirs and LD_LIBRARY_PATH are ignored."""
    need_root()
    tree = Tree(open_tmp / "fx")
    os.chmod(tree.base, 0o755)
    lib = tree.lib("lib/libo.so", "o-origin", soname="libo.so")
    tree.lib("llp/libo.so", "o-llp", soname="libo.so")
    prog = tree.prog("prog", needed=[lib], rpath="$ORIGIN/lib")
    for p in tree.base.rglob("*"):
        os.chmod(p, 0o755)
    os.chmod(prog, 0o4755)
    env = {"LD_LIBRARY_PATH": str(tree.p("llp"))}
    res = check(tree, prog, env=env, preexec_fn=_as_nobody, trace_too=False)
    assert res.secure and not res.starts and res.edges[res.failure_edge].name == "libo.so"
    # the same program without the setuid bit finds the $ORIGIN copy... after LD_LIBRARY_PATH? No: RPATH first
    os.chmod(prog, 0o755)
    res2 = check(tree, prog, env=env, preexec_fn=_as_nobody)
    assert not res2.secure and predicted_tags(tree, res2) == ["o-origin"]


def test_setuid_program_rejects_dst_in_needed(open_tmp):
    need_root()
    tree = Tree(open_tmp / "fx")
    lib = tree.lib("sub/libdst.so", "dst", soname="@ORIGIN/sub/libdst.so")
    prog = tree.prog("prog", needed=[lib])
    patch_bytes(prog, b"@ORIGIN/sub/", b"$ORIGIN/sub/")
    for p in tree.base.rglob("*"):
        os.chmod(p, 0o755)
    os.chmod(tree.base, 0o755)
    res = check(tree, prog)  # not secure: $ORIGIN in DT_NEEDED works
    assert predicted_tags(tree, res) == ["dst"]
    os.chmod(prog, 0o4755)
    res = check(tree, prog, preexec_fn=_as_nobody, trace_too=False)
    assert not res.starts and res.edges[res.failure_edge].error == "dst-secure"


def test_setuid_program_rejects_dst_in_auxiliary(open_tmp):
    """dl-deps.c refuses a DST in secure mode before it looks at the tag: a DT_AUXILIARY filtee,
    whose load failures are ignored, stops the program as a DT_NEEDED does."""
    need_root()
    tree = Tree(open_tmp / "fx")
    tree.lib("lib/libx.so", "X", soname="libx.so")
    lib = tree.lib("lib/liba.so", "A", soname="liba.so", flags=["-Wl,-f,@ORIGIN/libx.so"])
    patch_bytes(lib, b"@ORIGIN/libx.so", b"$ORIGIN/libx.so")
    prog = tree.prog("prog", needed=[lib], runpath=str(tree.p("lib")))
    for p in tree.base.rglob("*"):
        os.chmod(p, 0o755)
    os.chmod(tree.base, 0o755)
    res = check(tree, prog)
    assert sorted(predicted_tags(tree, res)) == ["A", "X"]
    os.chmod(prog, 0o4755)
    res = check(tree, prog, preexec_fn=_as_nobody, trace_too=False)
    assert not res.starts and res.edges[res.failure_edge].error == "dst-secure"


# --------------------------------------------------------------------------- 5. hwcaps subdirectories

def test_glibc_hwcaps_subdirectory_preferred(tree):
    """c12: dir/glibc-hwcaps/x86-64-vN/ beats dir/ (the best level this CPU supports)."""
    s = Session()
    levels = [c for c in s.capstrs() if c.startswith("glibc-hwcaps/")]
    need(bool(levels), "needs an x86-64-v2 CPU")
    tree.lib("d/libh.so", "h-plain", soname="libh.so")
    tree.lib("d/glibc-hwcaps/x86-64-v2/libh.so", "h-v2", soname="libh.so")
    for c in levels[:-1]:
        tree.lib("d/%slibh.so" % c, "h-" + c.split("/")[1], soname="libh.so")
    prog = tree.prog("prog", needed=[tree.p("d/libh.so")], runpath=str(tree.p("d")))
    res = check(tree, prog)
    assert predicted_tags(tree, res) == ["h-" + levels[0].split("/")[1]]


def test_legacy_hwcaps_subdirectories(tree):
    """c13: glibc 2.36 still searches tls/ and the platform/hwcap subdirectories, before dir/."""
    s = Session()
    legacy = [c for c in s.capstrs() if c and not c.startswith("glibc-hwcaps/")]
    assert "tls/" in legacy
    tree.lib("d/libh.so", "h-plain", soname="libh.so")
    tree.lib("d/tls/libh.so", "h-tls", soname="libh.so")
    plat = s.platform + "/"
    tree.lib("d/" + plat + "libh.so", "h-platform", soname="libh.so")
    prog = tree.prog("prog", needed=[tree.p("d/libh.so")], runpath=str(tree.p("d")))
    res = check(tree, prog)
    first = min(legacy.index("tls/"), legacy.index(plat))
    assert predicted_tags(tree, res) == ["h-tls" if legacy[first] == "tls/" else "h-platform"]


def test_missing_subdirectories_are_looked_at_not_searched(tree, tmp_path):
    """c13b: a RUNPATH directory with no glibc-hwcaps or legacy subdirectory, and a regular file
    named tls. ld.so opens the library in each subdirectory, then stats the directory; the
    resolver looks at the directory first and opens nothing in it, with ld.so's outcome for each
    candidate (ENOENT, ENOTDIR under the file named tls) and the same search."""
    import subprocess
    import sys
    need(shutil.which("strace") is not None, "needs strace")
    tree.lib("d/libh.so", "h", soname="libh.so")
    (tree.p("d") / "tls").write_text("a regular file, not a directory\n")
    prog = tree.prog("prog", needed=[tree.p("d/libh.so")], runpath=str(tree.p("d")))
    res = check(tree, prog, trace=True)  # agrees with the real ld.so, its search trace included
    assert predicted_tags(tree, res) == ["h"]
    subdir_tries = {p: outcome for p, _via, outcome in res.edges[0].tries if p != str(tree.p("d/libh.so"))}
    assert subdir_tries and set(subdir_tries.values()) <= {2, 20}, subdir_tries  # ENOENT, ENOTDIR
    assert all(v == 20 for p, v in subdir_tries.items() if p.startswith(str(tree.p("d/tls")) + "/")), subdir_tries
    log = tmp_path / "opens.txt"
    code = "from execcheck.audit.resolver import Session; Session().resolve(%r)" % str(prog)
    subprocess.run(["strace", "-f", "-e", "trace=openat", "-o", str(log), sys.executable, "-c", code], check=True)
    ours = [l for l in log.read_text().splitlines() if "O_PATH" in l and str(tree.p("d")) + "/" in l]
    assert not [l for l in ours if "/libh.so" in l and str(tree.p("d/libh.so")) + '"' not in l], ours


# --------------------------------------------------------------------------- 7. fatal or skipped candidates

def test_non_elf_candidate_stops_the_program(tree):
    """c10: a text file named like the library, earlier on the RUNPATH: "invalid ELF header", no fallback."""
    tree.p("d1").mkdir()
    tree.p("d1/libv.so").write_text("this is not ELF, but it is long enough to be read as a header........\n")
    good = tree.lib("d2/libv.so", "v", soname="libv.so")
    prog = tree.prog("prog", needed=[good], runpath="%s:%s" % (tree.p("d1"), tree.p("d2")))
    res = check(tree, prog)
    assert res.edges[res.failure_edge].error == "bad-magic"


@pytest.mark.parametrize("what", ["short", "directory", "other-machine", "other-class", "loop-in-existing-dir",
                                  "loop-dir", "file-as-dir"])
def test_candidate_kinds(tree, what):
    """Which defects of an earlier candidate are skipped, which stop the program, and which make ld.so
    abandon the rest of the list: each checked against ld.so."""
    good = tree.lib("d2/libv.so", "v", soname="libv.so")
    d1 = tree.p("d1")
    d1.mkdir()
    if what == "short":
        (d1 / "libv.so").write_bytes(b"\x7fELF\x02\x01\x01")
    elif what == "directory":
        (d1 / "libv.so").mkdir()
    elif what in ("other-machine", "other-class"):
        data = bytearray(good.read_bytes())
        if what == "other-machine":
            data[18:20] = (183).to_bytes(2, "little")  # EM_AARCH64
        else:
            data[4] = 1  # ELFCLASS32
        (d1 / "libv.so").write_bytes(bytes(data))
    elif what == "loop-in-existing-dir":
        os.symlink("libv.so", d1 / "libv.so")
    elif what == "loop-dir":
        d1.rmdir()
        os.symlink("d1", d1)
    elif what == "file-as-dir":
        d1.rmdir()
        d1.write_text("a file where a directory is expected")
    prog = tree.prog("prog", needed=[good], runpath="%s:%s" % (d1, tree.p("d2")))
    check(tree, prog)


def test_unreadable_candidate_is_skipped(open_tmp):
    """EACCES on the first candidate: skipped. The resolver runs with the credentials it models, so
    both it and the program run as nobody here."""
    need_root()
    tree = Tree(open_tmp / "fx")
    good = tree.lib("d2/libv.so", "v", soname="libv.so")
    tree.p("d1").mkdir()
    shutil.copy(good, tree.p("d1/libv.so"))
    prog = tree.prog("prog", needed=[good], runpath="%s:%s" % (tree.p("d1"), tree.p("d2")))
    for p in [tree.base] + list(tree.base.rglob("*")):
        os.chmod(p, 0o755)
    os.chmod(tree.p("d1/libv.so"), 0)
    starts, paths = in_child_as_nobody(lambda: (lambda r: [r.starts, [o.realpath for o in r.loaded()]])(
        Session().resolve(str(prog))))
    rc, tags, err = real_run([prog], preexec_fn=_as_nobody)
    assert starts and rc == 0 and tags == ["v"]
    assert str(tree.p("d2/libv.so")) in paths and str(tree.p("d1/libv.so")) not in paths


def test_wrong_class_only_gives_wrong_class_error(tree):
    good = tree.lib("d2/libv.so", "v", soname="libv.so")
    data = bytearray(good.read_bytes())
    data[4] = 1
    tree.p("d1").mkdir()
    (tree.p("d1") / "libv.so").write_bytes(bytes(data))
    prog = tree.prog("prog", needed=[good], runpath=str(tree.p("d1")))
    res = check(tree, prog)
    assert res.edges[res.failure_edge].error == "wrong-class"


def test_noexec_candidate_stops_the_program(tree):
    """c19: the first candidate sits on a noexec mount: "failed to map segment", no fallback."""
    need_mountns()
    good = tree.lib("d2/libv.so", "v", soname="libv.so")
    prog = tree.prog("prog", needed=[good], runpath="%s:%s" % (tree.p("d1"), tree.p("d2")))
    tree.p("d1").mkdir()
    script = """
mount -t tmpfs -o noexec tmpfs "$1"
cp "$2" "$1/libv.so"
"$4" -c 'import sys, json
from execcheck.audit.resolver import Session
r = Session().resolve(sys.argv[1])
print(json.dumps([r.starts, r.failure()]))' "$3"
"$3" || echo "rc=$?"
"""
    import json
    import sys
    r = in_mountns(script, tree.p("d1"), good, prog, sys.executable)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    starts, failure = json.loads(lines[0])
    assert not starts and "failed to map segment from shared object" in failure
    assert lines[-1] == "rc=127" and failure in r.stderr


def test_noexec_is_told_per_mount_not_per_filesystem(tree):
    """c19b: one filesystem mounted twice, once noexec (a bind mount): noexec belongs to the mount.
    One session resolves a program through the executable mount, then through the noexec one."""
    need_mountns()
    good = tree.lib("d2/libv.so", "v", soname="libv.so")
    tree.p("d1").mkdir()
    tree.p("d3").mkdir()
    prog = tree.prog("prog", needed=[good], runpath=str(tree.p("d1")))
    prog_noexec = tree.prog("prog-noexec", needed=[good], runpath=str(tree.p("d3")))
    script = """
mount -t tmpfs tmpfs "$1"
cp "$2" "$1/libv.so"
mount --bind "$1" "$3"
mount -o remount,bind,noexec "$3"
"$6" -c 'import sys, json
from execcheck.audit.resolver import Session
s = Session()
print(json.dumps([[r.starts, r.failure()] for r in (s.resolve(sys.argv[1]), s.resolve(sys.argv[2]))]))' "$4" "$5"
"""
    import json
    import sys
    r = in_mountns(script, tree.p("d1"), good, tree.p("d3"), prog, prog_noexec, sys.executable)
    assert r.returncode == 0, r.stderr
    (starts_exec, failure_exec), (starts_noexec, failure_noexec) = json.loads(r.stdout.strip().splitlines()[-1])
    assert starts_exec and not failure_exec
    assert not starts_noexec and "failed to map segment from shared object" in failure_noexec


# --------------------------------------------------------------------------- 8. dynamic string tokens

def test_lib_and_platform_tokens(tree):
    """c14: $LIB is Debian's lib/x86_64-linux-gnu, $PLATFORM what ld.so computes on this CPU; ${} forms too."""
    s = Session()
    a = tree.lib("t/lib/x86_64-linux-gnu/libA.so", "A-lib", soname="libA.so")
    b = tree.lib("t/%s/libB.so" % s.platform, "B-platform", soname="libB.so")
    c = tree.lib("t/curly/libC.so", "C-curly", soname="libC.so")
    prog = tree.prog("t/prog", needed=[a, b, c], rpath="$ORIGIN/$LIB:${ORIGIN}/$PLATFORM:${ORIGIN}/curly")
    res = check(tree, prog)
    assert sorted(predicted_tags(tree, res)) == ["A-lib", "B-platform", "C-curly"]


def test_origin_token_in_needed(tree):
    lib = tree.lib("sub/libdst.so", "dst", soname="@ORIGIN/sub/libdst.so")
    prog = tree.prog("prog", needed=[lib])
    patch_bytes(prog, b"@ORIGIN/sub/", b"$ORIGIN/sub/")
    res = check(tree, prog)
    assert predicted_tags(tree, res) == ["dst"] and res.edges[0].via == "path"


NO_PROC_DRIVER = r"""
import json, sys
sys.path.insert(0, sys.argv[1])
from ldfixtures import Tree
from test_resolver_cases import check
out = {}
for prog in sys.argv[3:]:
    res = check(Tree(sys.argv[2]), prog)
    out[prog.rsplit("/", 1)[1]] = [res.starts, res.failure()]
print(json.dumps(out))
"""


def test_a_token_without_a_value_skips_a_needed_or_filter_and_stops_an_auxiliary(tree):
    """$ORIGIN of a program that cannot read /proc/self/exe (no /proc; LD_ORIGIN_PATH unset) has no
    value: dl-deps.c skips a DT_NEEDED or DT_FILTER naming it, and stops the program at a
    DT_AUXILIARY (its expand_dst is the "fatal" one). Resolver and ld.so both run without /proc."""
    need_mountns()
    tree.lib("libx.so", "X")
    base = tree.prog("base", flags=["-Wl,--audit,@ORIGIN/libx.so"])  # a DT_AUDIT entry, retagged below
    progs = []
    for name, tag in (("needed", 1), ("filter", 0x7fffffff), ("auxiliary", 0x7ffffffd)):
        p = shutil.copy(base, tree.p(name))
        patch_bytes(p, b"@ORIGIN/", b"$ORIGIN/")
        retag(p, DT_AUDIT, tag)
        progs.append(p)
    assert predicted_tags(tree, check(tree, progs[0])) == ["X"]  # with /proc: the program's directory
    r = in_mountns('mount -t tmpfs none /proc; exec "$@"', sys.executable, "-c", NO_PROC_DRIVER,
                   os.path.dirname(__file__), tree.base, *progs)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"needed": [True, None], "filter": [True, None],
                                    "auxiliary": [False, "$ORIGIN/libx.so: empty dynamic string token substitution"]}


# --------------------------------------------------------------------------- 9. path-shaped oddities

def test_needed_with_a_slash_is_opened_from_the_cwd(tree):
    """c09: DT_NEEDED sub/foo.so.1 is relative to the process's cwd; the RUNPATH decoy is not used."""
    tree.lib("work/sub/foo.so.1", "foo-cwd")
    tree.lib("rp/sub/foo.so.1", "foo-decoy")
    shutil.copy(tree.p("work/sub/foo.so.1"), tree.base / "libfoo.so.12")  # for the link step only
    prog = tree.prog("prog", needed=["libfoo.so.12"], runpath=str(tree.p("rp")))
    patch_bytes(prog, b"libfoo.so.12\0", b"sub/foo.so.1\0")
    res = check(tree, prog, cwd=tree.p("work"))
    assert predicted_tags(tree, res) == ["foo-cwd"]


def test_empty_rpath_element_is_the_cwd(tree):
    """c18: RPATH "/nonexistent:" has an empty element: the current directory."""
    tree.lib("work/libo.so", "o-cwd", soname="libo.so")
    tree.lib("sys/libo.so", "o-sys", soname="libo.so")
    prog = tree.prog("prog", needed=[tree.p("sys/libo.so")], rpath="/nonexistent-execcheck:", runpath=None,
                     flags=["-Wl,-rpath," + str(tree.p("sys"))])
    res = check(tree, prog, cwd=tree.p("work"))
    assert predicted_tags(tree, res) == ["o-cwd"]


def test_nodeflib_program_cannot_find_libc(tree):
    """c15: -z nodefaultlib: no cache hit in a system dir, no default dirs."""
    prog = tree.prog("prog", flags=["-Wl,-z,nodefaultlib"])
    res = check(tree, prog, trace_too=False)
    assert not res.starts and res.edges[res.failure_edge].name == "libc.so.6"


def test_dotdot_after_a_symlinked_directory(tree):
    """"x/.." after an absolute element is resolved by the kernel through the symlink, not textually."""
    tree.lib("real/sibling/libo.so", "o-through-link", soname="libo.so")
    tree.lib("sibling/libo.so", "o-textual", soname="libo.so")
    tree.p("real/dir").mkdir(parents=True)
    os.symlink(tree.p("real/dir"), tree.p("link"))
    prog = tree.prog("prog", needed=[tree.p("sibling/libo.so")], runpath=str(tree.p("link")) + "/../sibling")
    res = check(tree, prog)
    assert predicted_tags(tree, res) == ["o-through-link"]


# --------------------------------------------------------------------------- 10. after resolution

def test_missing_symbol_version_stops_the_program(tree):
    """c21: the libv.so.1 found first lacks VER_2: "version `VER_2' not found", no further search."""
    (tree.base / "v2.map").write_text("VER_1 { global: f_v1; local: *; };\nVER_2 { global: f_v2; } VER_1;\n")
    (tree.base / "v1.map").write_text("VER_1 { global: f_v1; local: *; };\n")
    src = tree.base / "v.c"
    src.write_text("int f_v1(void){return 1;}\nint f_v2(void){return 2;}\n")
    import subprocess
    for d, m in (("new", "v2.map"), ("old", "v1.map")):
        tree.p(d).mkdir()
        subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tree.p(d + "/libv.so.1")), str(src), "-Wl,-soname,libv.so.1",
                        "-Wl,--version-script," + str(tree.base / m)], check=True)
    main = tree.base / "m.c"
    main.write_text("int f_v2(void); int main(void){ return f_v2() - 2; }\n")
    prog = tree.p("prog")
    subprocess.run(["cc", "-o", str(prog), str(main), str(tree.p("new/libv.so.1")), "-Wl,--enable-new-dtags",
                    "-Wl,-rpath,%s:%s" % (tree.p("old"), tree.p("new"))], check=True)
    res = check(tree, prog, trace_too=False)
    assert not res.starts
    p = res.problems[res.failure_problem]
    assert p.error == "version-not-found" and p.version == "VER_2" and p.file == "libv.so.1"
    assert res.objects[p.target].path == str(tree.p("old/libv.so.1"))


def test_version_requirement_of_a_file_no_object_is_named(tree):
    """The program needs VER_1 of "libfoo.so.1", but loads that library as libfoo-d.so (its DT_NEEDED
    was renamed, as patchelf --replace-needed can leave it) and nothing asks for the SONAME:
    _dl_check_map_versions finds no object of that name and ld.so stops on its assertion."""
    import struct
    (tree.base / "v.map").write_text("VER_1 { global: f_v1; local: *; };\n")
    (tree.base / "v.c").write_text("int f_v1(void){return 1;}\n")
    (tree.base / "m.c").write_text("int f_v1(void); int main(void){ return f_v1() - 1; }\n")
    tree.p("lib").mkdir()
    import subprocess
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(tree.p("lib/libfoo-d.so")), str(tree.base / "v.c"),
                    "-Wl,-soname,libfoo.so.1", "-Wl,--version-script," + str(tree.base / "v.map")], check=True)
    stub = tree.lib("stub/libfoo-d.so", "stub", soname="libfoo-d.so")
    prog = tree.p("prog")
    subprocess.run(["cc", "-o", str(prog), str(tree.base / "m.c"), "-Wl,--no-as-needed", str(stub),
                    str(tree.p("lib/libfoo-d.so")), "-Wl,-rpath," + str(tree.p("lib"))], check=True)
    data = bytearray(prog.read_bytes())
    second = [off for off, tag, _v in dynamic_entries(prog) if tag == 1][1]  # DT_NEEDED libfoo.so.1
    struct.pack_into("<q", data, second, 0x6ffffdf8)  # becomes DT_CHECKSUM, which ld.so ignores
    prog.write_bytes(bytes(data))
    res = Session().resolve(str(prog))
    rc, tags, err = real_run([prog])
    assert rc == 127 and "Assertion `needed != NULL' failed" in err
    assert not res.starts and res.failure() in err
    p = res.problems[res.failure_problem]
    assert p.error == "verneed-file" and p.file == "libfoo.so.1" and p.target == -1


def test_preload_satisfies_needed_and_is_searched_like_a_needed(tree):
    """LD_PRELOAD by name: searched with the program as loader; a later DT_NEEDED reuses it by SONAME."""
    pre = tree.lib("pre/libpre.so", "pre", soname="libo.so")
    tree.lib("d/libo.so", "o-needed", soname="libo.so")
    prog = tree.prog("prog", needed=[tree.p("d/libo.so")], runpath="%s:%s" % (tree.p("d"), tree.p("pre")))
    res = check(tree, prog, env={"LD_PRELOAD": str(pre)}, preload=str(pre))
    assert predicted_tags(tree, res) == ["pre"]

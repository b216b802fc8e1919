"""The shim in roots of other Debian releases than this machine's, made with debootstrap (marker
`debootstrap`: slow, needs the network; CI runs it): Debian 11 (bullseye, glibc 2.31), Debian 13
(trixie, glibc 2.41) and Debian testing (forky: glibc 2.43, CPython 3.14 and 3.15). Containers of
other releases run on kernels new enough for AT_EXECVE_CHECK, and the shim runs against their
glibc, not the one it was built with.

Before glibc 2.34, dlsym, dladdr, dlvsym and dlopen live in libdl.so.2, which most programs (dash,
coreutils' env, base64, dpkg) do not load. The shim must neither break those programs (its
interposed fopen, execvp, posix_spawn must reach libc's) nor lose its preload face in them (the
tripwire, and propagation to the audit face in every child). The dlopen guard's resolver models
glibc 2.36's ld.so: it must follow the running release where the search differs (glibc-hwcaps
subdirectories came with 2.33; 2.37 dropped the legacy ones)."""
import os
import shutil

import pytest
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

import execcheck
from audit_face_util import Kit
from conftest import execcheck_cmd, loader_says, run
from rootfs import debootstrap, in_image

pytestmark = pytest.mark.debootstrap


_roots = {}


# what each root has beyond python3-minimal: forky's next CPython too
EXTRA_PACKAGES = {"forky": ("python3.15-minimal", "libpython3.15-stdlib")}


def release_root(tmp_path_factory, suite):
    """One root per suite for the whole module (each test undoes what it installs)."""
    if suite not in _roots:
        _roots[suite] = debootstrap(tmp_path_factory, suite, EXTRA_PACKAGES.get(suite, ()))
    return _roots[suite]


@pytest.fixture(scope="module")
def bullseye(tmp_path_factory):
    return release_root(tmp_path_factory, "bullseye")


@pytest.fixture(scope="module")
def trixie(tmp_path_factory):
    return release_root(tmp_path_factory, "trixie")


@pytest.fixture(scope="module")
def forky(tmp_path_factory):
    return release_root(tmp_path_factory, "forky")


@pytest.fixture(scope="module", params=["bullseye", "trixie", "forky"])
def release(request, tmp_path_factory):
    return release_root(tmp_path_factory, request.param)


def ec(*args):
    r = run(execcheck_cmd() + list(args), timeout=600)
    assert r.returncode == 0, (args, r.stderr)
    return r


def needed(root, path):
    """The DT_NEEDED names of an image's program (its symlinks followed inside the image)."""
    p = os.path.join(root, path.lstrip("/"))
    while os.path.islink(p):
        t = os.readlink(p)
        p = os.path.join(root, t.lstrip("/")) if t.startswith("/") else os.path.join(os.path.dirname(p), t)
    with open(p, "rb") as f:
        dyn = next(s for s in ELFFile(f).iter_sections() if isinstance(s, DynamicSection))
        return [t.needed for t in dyn.iter_tags() if t.entry.d_tag == "DT_NEEDED"]


def shim_in(root):
    with open(os.path.join(root, "etc/ld.so.preload")) as f:
        return [l.strip() for l in f if "libexeccheck" in l][0]


def test_it_is_glibc_2_31_and_its_programs_have_no_libdl(bullseye):
    """What the other tests rely on: the root's glibc predates 2.34, and the programs they run
    through the shim do not load libdl (so no dlsym, dladdr or dlopen there)."""
    libc = os.path.realpath(os.path.join(bullseye, "lib/x86_64-linux-gnu/libc.so.6"))
    assert os.path.basename(libc) == "libc-2.31.so", libc
    for prog in ("/bin/sh", "/usr/bin/env", "/usr/bin/base64", "/usr/bin/dpkg-query"):
        names = needed(bullseye, prog)
        assert "libc.so.6" in names and "libdl.so.2" not in names, (prog, names)
    assert "libdl.so.2" in needed(bullseye, "/usr/bin/python3")


def test_the_loaders_own_directories_are_read(release):
    """The default directories and $LIB that the audit (and the guard, from memory) read from each
    release's ld.so are what that ld.so prints of itself (--list-diagnostics, glibc 2.33 on);
    glibc 2.31 has no such option: its list is Debian's multiarch one."""
    from execcheck.audit.resolver import Session
    s = Session(root=release)
    r, _ = in_image(release, "/lib64/ld-linux-x86-64.so.2 --list-diagnostics || echo no-diagnostics")
    if r.stdout.splitlines() == ["no-diagnostics"]:
        want = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib", "/usr/lib"], "lib/x86_64-linux-gnu"
    else:
        want = loader_says(r.stdout)
    assert (s.system_dirs(), s.lib_dir) == want, r


def test_programs_run_as_before_and_propagate(release):
    """Audit mode through /etc/ld.so.preload: fopen (base64, dpkg-query), execvp with a custom
    environment (env -i) and posix_spawn (python3) work, and each child starts with the shim in
    LD_AUDIT. Before, on bullseye, the shim's fopen and execvp had no libc function to call in these
    programs (fopen failed with ENOENT, execvp with ENOSYS), and dash propagated nothing."""
    root = release
    script = ("echo hello > /tmp/h && base64 /tmp/h && dpkg-query -W -f='${Package}\\n' libc6 && "
              "env -i /bin/sh -c 'echo \"child [$LD_AUDIT]\"' && "
              "python3 -c \"import os; os.waitpid(os.posix_spawn('/bin/sh', ['sh', '-c', 'echo spawned [$LD_AUDIT]'], "
              "{}), 0)\" && echo \"shell [$LD_AUDIT]\"")
    r, _ = in_image(root, script)
    assert r.returncode == 0, r.stderr
    expected_without = r.stdout
    ec("image", "install", root)
    try:
        shim = shim_in(root)
        r, _ = in_image(root, script)
        assert r.returncode == 0, r.stderr
        assert "execcheck:" not in r.stderr, r.stderr
        out = r.stdout.splitlines()
        assert out[:2] == ["aGVsbG8K", "libc6"], r.stdout
        assert "child [%s]" % shim in out and "spawned [%s]" % shim in out, r.stdout
        # the first shell was started by the host's chroot without LD_AUDIT: its environ was fixed up
        assert "shell [%s]" % shim in out, r.stdout
        assert expected_without.splitlines()[:2] == out[:2]
    finally:
        ec("image", "uninstall", root)


def test_enforced(release, tmp_path):
    """Enforcing, after `image prepare`: an injected library is refused in children of a shell
    that has no libdl (they run under the audit face, which the shell's exec wrappers put in
    LD_AUDIT), also through env -i, and so is a dlopen() of it from python3; a good library still
    runs. The tripwire of a preloaded program without libdl stops it before main(): before, the
    shim took a missing dlsym for the audit namespace and started no preload face there (bullseye)."""
    root = release
    kit = Kit(tmp_path)
    os.makedirs(os.path.join(root, "tmp-files"), exist_ok=True)
    bad = kit.lib("libinject.so", "INJECT")
    good = kit.lib("libgood.so", "GOOD")
    shutil.copy2(bad, os.path.join(root, "tmp-files/libinject.so"))  # 0755, on the noexec /tmp
    shutil.copy2(bad, os.path.join(root, "var/tmp/libinject.so"))
    os.chmod(os.path.join(root, "var/tmp/libinject.so"), 0o644)
    shutil.copy2(good, os.path.join(root, "var/tmp/libgood.so"))
    os.chmod(os.path.join(root, "var/tmp/libgood.so"), 0o755)
    ec("image", "prepare", "--apply", root)
    ec("image", "install", "--enforce", root)
    try:
        r, records = in_image(
            root,
            "LD_PRELOAD=/var/tmp/libgood.so /bin/true; echo good=$?; "
            "LD_PRELOAD=/var/tmp/libinject.so /bin/true; echo preload=$?; "
            "LD_PRELOAD=/tmp/libinject.so /bin/true; echo noexec=$?; "
            "env -i LD_PRELOAD=/var/tmp/libinject.so /bin/true; echo envi=$?; "
            # python3-minimal has no ctypes: the extension-module loader dlopen()s the file
            "python3 -c \"import importlib.util as u\ntry:\n"
            "    u.module_from_spec(u.spec_from_file_location('libinject', '/var/tmp/libinject.so'))\n"
            "except ImportError as e:\n    print('dlopen refused:', e)\"; echo python=$?")
        out = r.stdout.splitlines()
        assert "CTOR GOOD" in out and "good=0" in out, (r.stdout, r.stderr)
        assert "INJECT" not in r.stdout, r.stdout
        # refused in la_objsearch: glibc then says the preload "cannot be preloaded" and goes on
        assert "preload=0" in out and "noexec=0" in out and "envi=0" in out, (r.stdout, r.stderr)
        assert "python=0" in out and any(l.startswith("dlopen refused: ") for l in out), (r.stdout, r.stderr)
        assert r.stderr.count("execcheck: refused to load /tmp/libinject.so: noexec") == 1, r.stderr
        python = [x["exe"] for x in records if "/python3" in x["exe"]][:1] or ["(python3 made no record)"]
        assert sorted((x["exe"], x["path"], x["reason"], x["action"]) for x in records if "libinject" in x["path"]) == [
            (python[0], "/var/tmp/libinject.so", "x-bit", "refused"),
            ("/usr/bin/true", "/tmp/libinject.so", "noexec", "refused"),
            ("/usr/bin/true", "/var/tmp/libinject.so", "x-bit", "refused"),
            ("/usr/bin/true", "/var/tmp/libinject.so", "x-bit", "refused")], records

        # the tripwire, in the image's first shell (dash, no libdl), which the host's chroot
        # starts with the injected library preloaded and without the audit face
        r, records = in_image(root, "echo main ran", first_env={"LD_PRELOAD": "/var/tmp/libinject.so"})
        assert r.returncode == 126, (r.returncode, r.stdout, r.stderr)
        assert "main ran" not in r.stdout
        assert "execcheck: refused to run with /var/tmp/libinject.so: x-bit" in r.stderr, r.stderr
        assert [(x["path"], x["action"], x["face"]) for x in records] == [("/var/tmp/libinject.so", "refused",
                                                                           "preload")], records
    finally:
        ec("image", "uninstall", root)
        ec("image", "revert", root)


@pytest.fixture(scope="module", params=["trixie", "forky"])
def pidfd_release(request, tmp_path_factory):
    """The releases whose glibc (2.39 on) has pidfd_spawn and pidfd_spawnp."""
    return release_root(tmp_path_factory, request.param)


@pytest.mark.parametrize("route", ["pidfd_spawn", "pidfd_spawnp"])
def test_pidfd_spawn_children_start_under_the_audit_face(pidfd_release, spawn_tool, tmp_path, route):
    """glibc 2.39's pidfd_spawn and pidfd_spawnp take an envp as posix_spawn does. Enforcing (the
    image's config), a program started with LD_PRELOAD=libexeccheck.so spawns `env` with an envp
    without the shim's variables, and env starts echo with a 0644 library preloaded: the library
    is refused by the audit face before its code runs, echo runs. Before, the shim had no wrapper
    for them: env and echo ran without any shim and the library's IFUNC resolver and constructor
    ran (a full bypass in Debian 13 images started through `execcheck run`)."""
    root = pidfd_release
    d = os.path.join(root, "var/tmp/pidfd")
    os.makedirs(d)
    lib = Kit(tmp_path).lib("libinject.so", "INJECT", mode=0o644)
    for src, name in ((lib, "libinject.so"), (spawn_tool, "preload_spawn"), (execcheck.lib_path(), "libexeccheck.so")):
        shutil.copy2(src, os.path.join(d, name))  # keeps the modes: 0644, 0755, 0755
    conf = os.path.join(root, "etc/execcheck.conf")
    assert not os.path.exists(conf)
    with open(conf, "w") as f:  # root-owned, 0644: the policy the shim reads in the image
        f.write("files = enforce\nsyslog = no\nlog_file = /var/log/execcheck.jsonl\n")
    try:
        r, records = in_image(root, "LD_PRELOAD=/var/tmp/pidfd/libexeccheck.so /var/tmp/pidfd/preload_spawn %s "
                                    "/usr/bin/env LD_PRELOAD=/var/tmp/pidfd/libinject.so /bin/echo child ran; "
                                    "echo rc=$?" % route)
    finally:
        os.unlink(conf)
        shutil.rmtree(d)
    assert r.stdout.splitlines() == ["child ran", "rc=0"], (r.stdout, r.stderr)
    assert "execcheck: refused to load /var/tmp/pidfd/libinject.so: x-bit" in r.stderr, r.stderr
    assert [(x["exe"], x["path"], x["action"], x["face"]) for x in records] == [
        ("/usr/bin/echo", "/var/tmp/pidfd/libinject.so", "refused", "audit")], records


def load_under_the_guard(root, paths):
    """Enforcing (after `image prepare`): python3 as the image's first process, started by the
    host's chroot without LD_AUDIT, so under the preload face alone, loads each extension path
    with CPython's loader (dlopen; libdl's on bullseye). Prints 'audit face: BOOL', and
    'PATH ImportError: ...' for each load that fails. Returns (CompletedProcess, records)."""
    code = ("import importlib.util as u, sys\n"
            "print('audit face:', b'LD_AUDIT=' in open('/proc/self/environ', 'rb').read(), flush=True)\n"
            "for p in %r:\n"
            "    try:\n"
            "        u.module_from_spec(u.spec_from_file_location('ext', p))\n"
            "    except ImportError as e:\n"
            "        print(p, 'ImportError:', e)\n"
            "    sys.stdout.flush()\n" % (list(paths),))
    ec("image", "prepare", "--apply", root)
    ec("image", "install", "--enforce", root)
    try:
        r, records = in_image(root, code, program="/usr/bin/python3")
    finally:
        ec("image", "uninstall", root)
        ec("image", "revert", root)
    assert r.returncode == 0, (r.stdout, r.stderr)
    # ld.so saw no LD_AUDIT (/proc shows the environment the process started with): the guard decides
    assert "audit face: False" in r.stdout.splitlines(), r.stdout
    return r, records


def test_the_dlopen_guard(release, tmp_path):
    """The guard alone refuses a good extension whose dependency (found through RUNPATH
    $ORIGIN/dep) is 0644, before the dependency's code runs; with an executable dependency the
    same load goes through (its constructors run; it is no Python module, hence an ImportError)."""
    root = release
    kit = Kit(tmp_path)
    for d, mode in (("bad", 0o644), ("good", 0o755)):
        dep = kit.lib("g/%s/dep/libdep.so" % d, d.upper() + "DEP", fn="dep_fn", mode=mode)
        kit.lib("g/%s/ext.so" % d, "EXT" + d.upper(), calls="dep_fn", needs=[(dep.parent, "libdep.so")],
                runpath="$ORIGIN/dep")
    g = os.path.join(root, "var/tmp/g")
    shutil.rmtree(g, ignore_errors=True)
    shutil.copytree(str(tmp_path / "g"), g)  # copytree keeps the modes
    try:
        r, records = load_under_the_guard(root, ["/var/tmp/g/bad/ext.so", "/var/tmp/g/good/ext.so"])
    finally:
        shutil.rmtree(g, ignore_errors=True)
    out = r.stdout.splitlines()
    assert "BADDEP" not in r.stdout and "EXTBAD" not in r.stdout, r.stdout
    bad = [l for l in out if l.startswith("/var/tmp/g/bad/ext.so ImportError:")]
    assert bad and "execcheck" in bad[0] and "/var/tmp/g/bad/dep/libdep.so" in bad[0], r.stdout
    assert "CTOR GOODDEP" in out and "CTOR EXTGOOD" in out, r.stdout
    assert [(x["path"], x["reason"], x["action"], x["face"]) for x in records if x["kind"] == "library"] == [
        ("/var/tmp/g/bad/dep/libdep.so", "x-bit", "refused", "preload")], records


def assert_unsearched_copies_change_nothing(root, tmp_path, subdirs):
    """A good extension needs libdep.so, found by ld.so in dep/ through RUNPATH $ORIGIN/dep; 0644
    copies wait in subdirectories of dep/ that this release's ld.so does not search but glibc 2.36
    (the resolver's model) searches first. Only a wrong prediction would consider them: under the
    guard, the good load must go through."""
    kit = Kit(tmp_path)
    plain = kit.lib("x/dep/libdep.so", "PLAINDEP", fn="dep_fn")
    for sub in subdirs:
        kit.lib("x/dep/%s/libdep.so" % sub, "UNSEARCHED", fn="dep_fn", mode=0o644)
    kit.lib("x/ext.so", "EXTX", calls="dep_fn", needs=[(plain.parent, "libdep.so")], runpath="$ORIGIN/dep")
    x = os.path.join(root, "var/tmp/x")
    shutil.rmtree(x, ignore_errors=True)
    shutil.copytree(str(tmp_path / "x"), x)  # copytree keeps the modes
    try:
        r, records = load_under_the_guard(root, ["/var/tmp/x/ext.so"])
    finally:
        shutil.rmtree(x, ignore_errors=True)
    out = r.stdout.splitlines()
    assert "CTOR PLAINDEP" in out and "CTOR EXTX" in out and "UNSEARCHED" not in r.stdout, (r.stdout, r.stderr)
    assert "execcheck" not in r.stdout + r.stderr, (r.stdout, r.stderr)
    assert [x for x in records if x["kind"] == "library"] == [], records


def test_the_guard_searches_no_glibc_hwcaps_before_2_33(bullseye, tmp_path):
    """glibc-hwcaps subdirectories came with glibc 2.33: ld.so 2.31 never looks in
    dep/glibc-hwcaps/x86-64-v2/. The guard follows the running release (gnu_get_libc_version);
    before, a 0644 copy there got a good load refused."""
    flags = open("/proc/cpuinfo").read().split()
    if not all(f in flags for f in ("sse4_2", "popcnt", "ssse3", "cx16", "lahf_lm")):
        pytest.skip("this CPU is below x86-64-v2: a 2.36 ld.so would not search that subdirectory either")
    assert_unsearched_copies_change_nothing(bullseye, tmp_path, ["glibc-hwcaps/x86-64-v2"])


def test_the_guard_searches_no_legacy_subdirectories_since_2_37(trixie, tmp_path):
    """glibc 2.37 dropped the legacy hwcap, platform and tls subdirectories: ld.so 2.41 never looks
    in dep/x86_64/, dep/tls/ or dep/tls/x86_64/, where glibc 2.36 looks first. Before, 0644 copies
    there got a good load refused."""
    r, _ = in_image(trixie, "/lib64/ld-linux-x86-64.so.2 --help")
    assert r.returncode == 0 and "x86-64-v2" in r.stdout and "Legacy HWCAP" not in r.stdout, r.stdout  # 2.37+
    assert_unsearched_copies_change_nothing(trixie, tmp_path, ["x86_64", "tls", "tls/x86_64"])


def test_the_cpython_face_in_the_releases_python(release):
    """The release's own CPython (3.9 on bullseye, 3.13 on trixie). Audit mode: a 0644 script, -c
    and piped stdin run as without the shim and are recorded as the face sees them. With
    `interactive = deny` in the image's config, -c, piped stdin and `-m timeit` are refused."""
    root = release
    script = os.path.join(root, "root/s.py")
    with open(script, "w") as f:
        f.write("print('script ran')\n")
    os.chmod(script, 0o644)
    cmd = "python3 /root/s.py; python3 -c 'print(1)'; echo 'print(2)' | python3"
    base, _ = in_image(root, cmd)
    assert base.returncode == 0 and base.stdout.split() == ["script", "ran", "1", "2"], (base.stdout, base.stderr)
    ec("image", "install", root)
    try:
        r, records = in_image(root, cmd)
        assert (r.returncode, r.stdout, r.stderr) == (base.returncode, base.stdout, base.stderr)
        got = [(x["kind"], x["path"], x["reason"], x["action"], x["face"]) for x in records
               if x["kind"] in ("script", "interactive")]
        assert got == [("script", "/root/s.py", "x-bit", "logged", "python"),
                       ("interactive", "(python -c)", "not-regular", "logged", "python"),
                       ("interactive", "<stdin>", "not-regular", "logged", "python")], records
    finally:
        ec("image", "uninstall", root)
        os.unlink(script)
    # interactive code denied by the image's config: one line each, status 126
    ec("image", "install", "--deny-interactive", root)
    try:
        r, _ = in_image(root, "python3 -c 'print(1)'; echo rc=$?; echo 'print(2)' | python3; echo rc=$?; "
                              "python3 -m timeit pass; echo rc=$?")
    finally:
        ec("image", "uninstall", root)
    assert r.stdout.split() == ["rc=126"] * 3, (r.stdout, r.stderr)
    assert [l.split(":")[1].strip() for l in r.stderr.splitlines()] == [
        "refused to run interactive code (python -c)", "refused to run interactive code from stdin",
        "refused to run interactive code (python -m timeit)"], r.stderr


CPYTHON_CASES = r"""
t=/var/tmp/py
for py in python3.14 python3.15; do
  v=${py#python}
  $py $t/good.py; echo "$v good=$?"
  $py $t/bad.py; echo "$v bad=$?"
  $py $t/imports.py; echo "$v imports=$?"
  $py $t/sourceless.py; echo "$v sourceless=$?"
  $py -c 'print("c ran")'; echo "$v c=$?"
  echo 'print("pipe ran")' | $py; echo "$v pipe=$?"
  echo 'print("tty ran")' | script -qec "$py" /dev/null > /dev/null; echo "$v tty=$?"
  echo 'print("tty ran")' | script -qec "env PYTHON_BASIC_REPL=1 $py" /dev/null > /dev/null; echo "$v tty-basic=$?"
  $py -m pdb -c continue $t/good.py < /dev/null; echo "$v m-pdb=$?"
  [ $py = python3.14 ] || { $py -m profiling.tracing $t/good.py; echo "$v m-profiling=$?"; }
  $py -I -S -E $t/bad.py; echo "$v ISE-bad=$?"
  $py $t/target.py & pid=$!
  sleep 0.3
  $py -X disable_remote_debug $t/remote.py $pid $t/inject_bad.py; echo "$v remote-bad=$?"
  sleep 0.3  # the target takes one script per safe point: a second one sent at once replaces the first
  $py -X disable_remote_debug $t/remote.py $pid $t/inject_good.py; echo "$v remote-good=$?"
  wait $pid; echo "$v target=$?"
done
ls $t | grep INJ
for f in $t/pk/__pycache__/mgood.*.pyc; do echo "cache $(stat -c %a $f) $(basename $f)"; done
for py in python3.14 python3.15; do $py $t/imports.py > /dev/null; echo "${py#python} from-cache=$?"; done
"""


def test_current_cpythons(forky):
    """The CPython face on Debian testing's CPython 3.14 and 3.15 (the host has 3.8-3.13), enforcing
    after `image prepare` with interactive code denied: an executable script runs and a 0644 one is
    refused, also under -I -S -E; an import of a 0644 module is refused and one of an executable
    module goes through, also for sourceless .pyc files (importlib still reads those with FileIO in
    3.14 and 3.15: the face points it at io.open_code); -c, a pipe on stdin, the REPL on a terminal
    (the new one and PYTHON_BASIC_REPL's, through `script`), -m pdb and 3.15's -m profiling.tracing (cProfile
    under its new name, which the face did not know) are refused; and 3.14's sys.remote_exec,
    which makes another interpreter run a script file at its next safe point, runs an executable
    script and not a 0644 one (refused in the asker, which restricts files as every process of the
    image: PermissionError, the target never asked; a target's own refusal is
    test_python_face_current.py's). The bytecode caches
    written meanwhile keep their source's x bits and import again under the policy."""
    root = forky
    t = os.path.join(root, "var/tmp/py")
    shutil.rmtree(t, ignore_errors=True)
    os.makedirs(os.path.join(t, "pk"))
    files = {
        "good.py": ("import sys\nprint('good ran', sys.version_info[:2])\n", 0o755),
        "bad.py": ("print('bad ran')\n", 0o644),
        "pk/mgood.py": ("X = 1\n", 0o755),
        "pk/mbad.py": ("X = 2\n", 0o644),
        "imports.py": ("import sys\nsys.path.insert(0, '/var/tmp/py/pk')\nimport mgood\nprint('mgood', mgood.X)\n"
                       "try:\n    import mbad\n    print('mbad imported')\nexcept PermissionError:\n"
                       "    print('mbad refused')\n", 0o755),
        "target.py": ("import time\nfor i in range(40):\n    time.sleep(0.05)\n", 0o755),
        "slsrc.py": ("X = 3\n", 0o644),
        "sourceless.py": ("import sys\nsys.path.insert(0, '/var/tmp/py/sl%d' % sys.version_info[1])\nimport slgood\n"
                          "print('slgood', slgood.X)\ntry:\n    import slbad\n    print('slbad imported')\n"
                          "except PermissionError:\n    print('slbad refused')\n", 0o755),
        "remote.py": ("import sys\nsys.remote_exec(int(sys.argv[1]), sys.argv[2])\n", 0o755),
        "inject_bad.py": ("import sys\nopen('/var/tmp/py/INJBAD%d' % sys.version_info[1], 'w').close()\n", 0o644),
        "inject_good.py": ("import sys\nopen('/var/tmp/py/INJGOOD%d' % sys.version_info[1], 'w').close()\n", 0o755),
    }
    for name, (text, mode) in files.items():
        with open(os.path.join(t, name), "w") as f:
            f.write(text)
        os.chmod(os.path.join(t, name), mode)
    # sourceless .pyc files, one executable, one 0644, compiled by each interpreter (before enforcing)
    r, _ = in_image(root, "for v in 14 15; do mkdir -p /var/tmp/py/sl$v; for m in slgood slbad; do python3.$v -c "
                          "\"import py_compile; py_compile.compile('/var/tmp/py/slsrc.py', cfile='/var/tmp/py/sl$v/$m.pyc')\""
                          " || exit 1; done; chmod 755 /var/tmp/py/sl$v/slgood.pyc; chmod 644 /var/tmp/py/sl$v/slbad.pyc; done")
    assert r.returncode == 0, r.stderr
    ec("image", "prepare", "--apply", root)
    ec("image", "install", "--enforce", "--deny-interactive", root)
    try:
        r, records = in_image(root, CPYTHON_CASES)
    finally:
        ec("image", "uninstall", root)
        ec("image", "revert", root)
        shutil.rmtree(t, ignore_errors=True)
    out = r.stdout.splitlines()
    for v in ("3.14", "3.15"):
        want = ["good ran (3, %s)" % v[2:], "%s good=0" % v, "%s bad=126" % v, "mgood 1", "mbad refused",
                "%s imports=0" % v, "slgood 3", "slbad refused", "%s sourceless=0" % v, "%s c=126" % v,
                "%s tty=126" % v, "%s tty-basic=126" % v, "%s pipe=126" % v, "%s m-pdb=126" % v, "%s ISE-bad=126" % v,
                "%s remote-bad=1" % v, "%s remote-good=0" % v, "%s target=0" % v, "INJGOOD" + v[2:]]
        want += ["3.15 m-profiling=126"] if v == "3.15" else []  # 3.15's cProfile, under a new name
        assert all(w in out for w in want), (v, [w for w in want if w not in out], r.stdout, r.stderr)
    assert "bad ran" not in r.stdout and "c ran" not in r.stdout and "pipe ran" not in r.stdout, r.stdout
    assert not any(l.startswith("INJBAD") for l in out), r.stdout
    # the caches importlib wrote under the shim keep their source's x bits, so they import again
    caches = sorted(l.split()[1:] for l in out if l.startswith("cache "))
    assert caches == [["755", "mgood.cpython-314.pyc"], ["755", "mgood.cpython-315.pyc"]], r.stdout
    assert "3.14 from-cache=0" in out and "3.15 from-cache=0" in out, r.stdout
    # the asker restricts files too (every process of the image does): refused there, the target never asked
    assert r.stderr.count("execcheck: refused to have another process run /var/tmp/py/inject_bad.py: x-bit") == 2, \
        r.stderr
    assert "refused to run the remote debugger script" not in r.stderr, r.stderr
    refused = sorted({(x["exe"].rsplit("/", 1)[1], x["kind"], x["path"]) for x in records if x["action"] == "refused"})
    for py in ("python3.14", "python3.15"):
        assert (py, "script", "/var/tmp/py/inject_bad.py") in refused, refused
        assert (py, "module", "/var/tmp/py/pk/mbad.py") in refused, refused
        assert (py, "module", "/var/tmp/py/sl%s/slbad.pyc" % py[-2:]) in refused, refused
        assert (py, "script", "/var/tmp/py/bad.py") in refused, refused
        assert (py, "interactive", "(python -c)") in refused, refused


@pytest.mark.parametrize("suite, subdir", [("bullseye", "glibc-hwcaps/x86-64-v2"), ("trixie", "x86_64"),
                                           ("forky", "x86_64")])
def test_the_audit_follows_the_images_glibc(suite, subdir, tmp_path, request):
    """`audit --root` models ld.so 2.36 but takes the search rules of the image's own glibc (read
    from its libc's banner): 2.31 searches no glibc-hwcaps subdirectories, 2.41 and 2.43 no legacy
    hwcap, platform and tls ones. A program whose RUNPATH directory holds its library and a 0644
    copy in such a subdirectory (searched first by 2.36): the audit said the copy would be loaded
    and refused; the image's ld.so loads the good one, and so the audit says now."""
    flags = open("/proc/cpuinfo").read().split()
    if subdir.startswith("glibc-hwcaps") and not all(f in flags for f in ("sse4_2", "popcnt", "ssse3", "cx16")):
        pytest.skip("this CPU is below x86-64-v2: a 2.36 ld.so would not search that subdirectory either")
    root = request.getfixturevalue(suite)
    kit = Kit(tmp_path)
    dep = kit.lib("au/dep/libdep.so", "AUDEP", fn="libfn")
    kit.lib("au/dep/%s/libdep.so" % subdir, "LEGACY", fn="libfn", mode=0o644)
    kit.prog("au/prog", needs=[(dep.parent, "libdep.so")], runpath="/var/tmp/au/dep")
    au = os.path.join(root, "var/tmp/au")
    shutil.rmtree(au, ignore_errors=True)
    shutil.copytree(str(tmp_path / "au"), au)  # copytree keeps the modes
    try:
        r = run(execcheck_cmd() + ["audit", "--root", root, "--json", "--fail-on", "none", "/var/tmp/au/prog"])
    finally:
        shutil.rmtree(au, ignore_errors=True)
    assert r.returncode == 0, r.stderr
    import json
    doc = json.loads(r.stdout)
    assert doc["loader"]["glibc"] == {"bullseye": "2.31", "trixie": "2.41", "forky": "2.43"}[suite]
    assert not any(d.startswith(subdir.split("/")[0]) for d in doc["loader"]["subdirectories"]), doc["loader"]
    copy = "%s/libdep.so" % subdir
    assert not [f for f in doc["findings"] if copy in f["path"] or copy in f["message"]], doc["findings"]

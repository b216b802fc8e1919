"""A small root filesystem assembled from this machine's own files (fast, offline), for image tests.

Programs are copied with the libraries ld.so really loads for them (LD_TRACE_LOADED_OBJECTS=1),
Debian's python3.11 with the stdlib it needs, an ld.so.conf with an include, and an ld.so.cache made
by `ldconfig -r ROOT` (which writes inside ROOT only). Everything is copied, never hard-linked: a
chmod inside the image must never reach the host's files.
"""
import hashlib
import os
import shutil
import stat
import subprocess

import json

from conftest import ec, in_mountns

PROGRAMS = ["/bin/sh", "/bin/true", "/bin/false", "/bin/cat", "/usr/bin/env", "/bin/ls", "/usr/bin/python3.11"]
PY_SKIP = {"test", "idlelib", "tkinter", "turtledemo", "ensurepip", "lib2to3", "pydoc_data", "__pycache__",
           "site-packages", "dist-packages", "config-3.11-x86_64-linux-gnu"}


def loaded_objects(program):
    env = {"LD_TRACE_LOADED_OBJECTS": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([program], env=env, capture_output=True, text=True, check=True).stdout
    paths = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts:
            target = parts[parts.index("=>") + 1]
            if target.startswith("/"):
                paths.append(target)
        elif parts and parts[0].startswith("/"):
            paths.append(parts[0])  # the interpreter
    return paths


def copy_in(root, path):
    """Copies path (following the chain of symlinks, each recreated) into root at the same place."""
    while True:
        dest = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        if os.path.islink(path):
            target = os.readlink(path)
            if not os.path.lexists(dest):
                os.symlink(target, dest)
            path = os.path.normpath(os.path.join(os.path.dirname(path), target))
            continue
        if not os.path.exists(dest):
            shutil.copy2(path, dest)
        return


def build(root, python=True):
    os.makedirs(root, exist_ok=True)
    for d in ("tmp", "proc", "dev", "etc/ld.so.conf.d", "var/cache/ldconfig", "usr/bin", "usr/lib", "root"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    os.chmod(os.path.join(root, "tmp"), 0o1777)
    # Debian's merged /usr: /bin, /lib, /lib64 are symlinks into /usr
    for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64"), ("sbin", "usr/sbin")):
        if os.path.islink("/" + link) and not os.path.lexists(os.path.join(root, link)):
            os.makedirs(os.path.join(root, target), exist_ok=True)
            os.symlink(target, os.path.join(root, link))
    for prog in PROGRAMS if python else PROGRAMS[:-1]:
        copy_in(root, prog)
        for lib in loaded_objects(prog):
            copy_in(root, lib)
    if python:
        src = "/usr/lib/python3.11"
        for dirpath, dirnames, filenames in os.walk(src):
            dirnames[:] = [d for d in dirnames if d not in PY_SKIP]
            for name in filenames:
                copy_in(root, os.path.join(dirpath, name))
        for lib in ("libz.so.1", "libbz2.so.1.0", "liblzma.so.5", "libffi.so.8", "libcrypto.so.3", "libssl.so.3"):
            p = "/usr/lib/x86_64-linux-gnu/" + lib
            if os.path.exists(p):
                copy_in(root, p)
        os.symlink("python3.11", os.path.join(root, "usr/bin/python3"))
    with open(os.path.join(root, "etc/ld.so.conf"), "w") as f:
        f.write("include /etc/ld.so.conf.d/*.conf\n")
    with open(os.path.join(root, "etc/ld.so.conf.d/x86_64-linux-gnu.conf"), "w") as f:
        f.write("# Multiarch support\n/usr/local/lib/x86_64-linux-gnu\n/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu\n")
    subprocess.run(["ldconfig", "-r", root], check=True, capture_output=True)
    return root


def debian_mirror():
    """The Debian mirror this machine's apt uses (deb.debian.org if it says none)."""
    import re
    try:
        with open("/etc/apt/sources.list.d/debian.sources") as f:
            m = re.search(r"^URIs:\s*(\S+/debian)\s*$", f.read(), re.M)
            if m:
                return m.group(1)
    except OSError:
        pass
    return "http://deb.debian.org/debian"


DEBOOTSTRAP_SCRIPTS = "/usr/share/debootstrap/scripts"


def debootstrap(tmp_path_factory, suite, include=(), arch=None):
    """A Debian minbase root of that suite with python3-minimal (and the packages of include), made
    by debootstrap from Debian's package registry (the network; ~1 min); arch: another Debian
    architecture than this machine's (i386). Skips where root, a mount namespace, the kernel's
    check or debootstrap are missing."""
    from conftest import need, need_check, need_mountns, need_root
    need_root()
    need_mountns()
    need_check()
    need(shutil.which("debootstrap") is not None, "needs debootstrap (apt-get install debootstrap)")
    root = str(tmp_path_factory.mktemp(suite + ("-" + arch if arch else "")) / "root")
    cmd = ["debootstrap", "--variant=minbase"] + (["--arch=" + arch] if arch else []) + [
        "--include=" + ",".join(("python3-minimal",) + tuple(include)), suite, root, debian_mirror()]
    if not os.path.exists(os.path.join(DEBOOTSTRAP_SCRIPTS, suite)):
        cmd.append(os.path.join(DEBOOTSTRAP_SCRIPTS, "sid"))  # a debootstrap older than the suite: testing is sid's
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    return root


def listing(root):
    """{path: (type, mode, uid, gid, content digest or link target)} of every entry under root
    except directories' mtimes: what "bit for bit as before" compares."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            rel = os.path.relpath(p, root)
            if stat.S_ISLNK(st.st_mode):
                what = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    what = hashlib.sha256(f.read()).hexdigest()
            else:
                what = ""
            out[rel] = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, what)
    return out


CHROOT_SCRIPT = r"""
root=$1; shift
mount -t tmpfs -o noexec,nosuid,nodev,size=4m none "$root/tmp"
[ ! -d "$root/tmp-files" ] || cp -p "$root"/tmp-files/* "$root/tmp/"
mount -t proc proc "$root/proc"
# terminals of its own for `script` (a REPL on a tty), where the image has the places for them
if [ -d "$root/dev/pts" ] && [ -e "$root/dev/ptmx" ]; then
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts"
    mount --bind "$root/dev/pts/ptmx" "$root/dev/ptmx"
fi
program=$1; command=$2; shift 2
exec env "$@" chroot "$root" "$program" -c "$command"
"""


def in_image(root, command, log="/var/log/execcheck.jsonl", first_env=None, program="/bin/sh"):
    """Runs `program -c command` (a shell command by default) chrooted into root, inside a private
    mount namespace where /tmp is a noexec tmpfs (seeded from root/tmp-files), /proc is mounted and
    a devpts instance of its own gives terminals (where the image has /dev/pts and /dev/ptmx);
    both vanish with it. first_env: more variables for that first process (the host's chroot, which
    starts it, sees them too). Returns (CompletedProcess, the records the image's log file
    received, which is then emptied)."""
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C"}
    extra = ["%s=%s" % kv for kv in (first_env or {}).items()]
    r = in_mountns(CHROOT_SCRIPT, root, program, command, *extra, env=env)
    return r, take_records(root, log)


def take_records(root, log):
    """The records an image's log file (its path in the image) received; the file is removed."""
    import json
    host_log = os.path.join(root, log.lstrip("/"))
    records = []
    if os.path.exists(host_log):
        with open(host_log) as f:
            records = [json.loads(x) for x in f]
        os.unlink(host_log)
    return records


def _private_apt(tmp, line, arch=None):
    """apt-get options for a private configuration in tmp (its lists and cache there: the machine's
    apt state is not touched) whose one source is line."""
    src = os.path.join(tmp, "sources.list")
    os.makedirs(os.path.join(tmp, "lists", "partial"))
    os.makedirs(os.path.join(tmp, "cache", "archives", "partial"))
    with open(src, "w") as f:
        f.write(line + "\n")
    opts = ["-o", "Dir::Etc::SourceList=" + src, "-o", "Dir::Etc::SourceParts=/dev/null",
            "-o", "Dir::State::Lists=" + os.path.join(tmp, "lists"), "-o", "Dir::Cache=" + os.path.join(tmp, "cache"),
            "-o", "Debug::NoLocking=1", "-o", "APT::Sandbox::User=root", "-q"]
    if arch:
        opts += ["-o", "APT::Architecture=" + arch, "-o", "APT::Architectures=" + arch]
    return opts


def _apt(tmp, opts, *commands):
    for cmd in commands:
        if subprocess.run(["apt-get"] + opts + cmd, cwd=tmp, capture_output=True, text=True, timeout=600).returncode != 0:
            return False
    return True


def fetch_debs(tmp, suite, arch, packages):
    """Downloads Debian packages of suite and arch into tmp with a private apt configuration.
    Returns their paths, or None."""
    opts = _private_apt(tmp, "deb [arch=%s] %s %s main" % (arch, debian_mirror(), suite), arch)
    if not _apt(tmp, opts, ["update"], ["download"] + list(packages)):
        return None
    return [os.path.join(tmp, n) for n in sorted(os.listdir(tmp)) if n.endswith(".deb")]


def fetch_source(tmp, suite, package):
    """Downloads a Debian source package of suite into tmp (its .dsc, upstream tarball and Debian
    changes, not unpacked) with a private apt configuration. Returns the upstream tarball's path,
    or None."""
    opts = _private_apt(tmp, "deb-src %s %s main" % (debian_mirror(), suite))
    if not _apt(tmp, opts, ["update"], ["source", "--download-only", package]):
        return None
    found = [n for n in sorted(os.listdir(tmp)) if ".orig.tar." in n]
    return os.path.join(tmp, found[0]) if found else None


def unpack(deb, root, scratch):
    """A package's files into root as dpkg would put them: through the root's own directory
    symlinks (/lib -> usr/lib), which a plain dpkg-deb -x (tar) would replace by directories."""
    out = os.path.join(scratch, os.path.basename(deb))
    os.makedirs(out)
    subprocess.run(["dpkg-deb", "-x", deb, out], check=True)
    for dirpath, dirnames, filenames in os.walk(out):
        rel = os.path.relpath(dirpath, out)
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            src, dest = os.path.join(dirpath, name), os.path.join(root, rel, name)
            os.makedirs(os.path.dirname(dest), exist_ok=True)
            if os.path.islink(src):
                if not os.path.lexists(dest):
                    os.symlink(os.readlink(src), dest)
            else:
                shutil.copy2(src, dest)


def ready_image(root):
    """build(root) without Python, prepared, the shim installed enforcing: an image verify calls
    ready. Returns root."""
    root = str(root)
    build(root, python=False)
    for step in (["prepare", "--apply"], ["install", "--enforce"]):
        r = ec("image", *step, root)
        assert r.returncode == 0, (step, r.stdout, r.stderr)
    assert json.loads(ec("image", "verify", "--json", root).stdout)["ready"]
    return root


def debian_modes_image(root, extras=()):
    """build(root) without Python, its libraries 0644 as Debian ships them, and copies of libc named
    `extras` in its library directory (0644 too). Returns root."""
    root = str(root)
    build(root, python=False)
    libdir = root + "/usr/lib/x86_64-linux-gnu"
    for dirpath, _dirnames, filenames in os.walk(libdir):
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o644)
    for name in extras:
        shutil.copy(os.path.join(libdir, "libc.so.6"), os.path.join(libdir, name))
        os.chmod(os.path.join(libdir, name), 0o644)
    return root

"""A small root filesystem built from this machine's files, with known planted problems.

Debian's merged-/usr layout (bin, lib, lib64 symlinks into usr/, the interpreter reached through an
absolute symlink), ld.so and libc copied from the host, its own ld.so.conf with an include, its
own cache made by `ldconfig -r ROOT` (never -C: that rewrites the host's aux-cache), its own
/etc/ld.so.preload and /etc/fstab. Everything is 0755 and root-owned except what is planted, so an
audit of it must report exactly the planted problems.
"""
import os
import pathlib
import shutil

from ldfixtures import CC, LIB_SRC, PROG_SRC, _run

HOST_LDSO = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
HOST_LIBC = os.path.realpath("/lib/x86_64-linux-gnu/libc.so.6")


class Image:
    def __init__(self, base: pathlib.Path):
        self.root = pathlib.Path(base)
        self.work = self.root.parent / (self.root.name + "-build")
        self.work.mkdir(parents=True, exist_ok=True)
        self.tags = {}        # image path -> tag
        self.expected = []    # (rule name, image path) of each planted problem

    def p(self, image_path) -> pathlib.Path:
        return self.root / image_path.lstrip("/")

    def plant(self, rule, image_path):
        self.expected.append((rule, image_path))

    def _out(self, image_path):
        out = self.p(image_path)
        out.parent.mkdir(parents=True, exist_ok=True)
        return out

    def lib(self, image_path, tag, soname, link=(), runpath=None, flags=()):
        """A tagged library; link: image paths of libraries to link against."""
        out = self._out(image_path)
        src = self.work / (tag + ".c")
        src.write_text(LIB_SRC % {"sym": "f_" + "".join(c if c.isalnum() else "_" for c in tag)})
        cmd = [CC, "-shared", "-fPIC", "-O1", '-DTAG="%s"' % tag, "-o", str(out), str(src), "-Wl,-soname," + soname,
               "-Wl,--no-as-needed"] + [str(self.p(x)) for x in link] + list(flags)
        if runpath:
            cmd += ["-Wl,--enable-new-dtags", "-Wl,-rpath," + runpath]
        _run(cmd)
        self.tags[image_path] = tag
        return out

    def prog(self, image_path, link=(), runpath=None, rpath=None, flags=(), src=PROG_SRC):
        out = self._out(image_path)
        c = self.work / (os.path.basename(image_path) + ".c")
        c.write_text(src)
        cmd = [CC, "-O1", "-o", str(out), str(c), "-Wl,--no-as-needed"] + [str(self.p(x)) for x in link] + list(flags)
        if runpath:
            cmd += ["-Wl,--enable-new-dtags", "-Wl,-rpath," + runpath]
        if rpath:
            cmd += ["-Wl,--disable-new-dtags", "-Wl,-rpath," + rpath]
        _run(cmd)
        return out


def base_root(base) -> Image:
    """The minimal runnable root: merged-/usr layout, the host's ld.so and libc, /usr/bin/true."""
    img = Image(base)
    r = img.root
    for d in ("usr/bin", "usr/lib/x86_64-linux-gnu", "usr/lib64", "etc/ld.so.conf.d", "var/cache/ldconfig", "opt/lib"):
        (r / d).mkdir(parents=True, exist_ok=True)
    for link, target in (("bin", "usr/bin"), ("lib", "usr/lib"), ("lib64", "usr/lib64")):
        os.symlink(target, r / link)
    shutil.copy2(HOST_LDSO, r / "usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")
    shutil.copy2(HOST_LIBC, r / "usr/lib/x86_64-linux-gnu/libc.so.6")
    # absolute, as Debian ships it: on the host it would name the host's loader (r5)
    os.symlink("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", r / "usr/lib64/ld-linux-x86-64.so.2")
    shutil.copy2("/usr/bin/true", r / "usr/bin/true")
    return img


def build(base) -> Image:
    img = base_root(base)
    r = img.root
    for d in ("opt/pre", "opt/priv", "srv/noexec", "var/tmp", "usr/lib/python3.11"):
        (r / d).mkdir(parents=True, exist_ok=True)

    (r / "etc/ld.so.conf").write_text("include /etc/ld.so.conf.d/*.conf\n")
    (r / "etc/ld.so.conf.d/opt.conf").write_text("# the image's private libraries\n/opt/lib\n")
    (r / "etc/fstab").write_text("# <fs> <mount point> <type> <options> <dump> <pass>\n"
                                 "/dev/vda1 / ext4 defaults 0 1\n"
                                 "tmpfs /srv/noexec tmpfs rw,nosuid,noexec 0 0\n")

    # r3: the cache carries glibc-hwcaps entries; the best level this CPU has wins
    img.lib("/opt/lib/libhw.so.1", "hw-baseline", "libhw.so.1")
    img.lib("/opt/lib/glibc-hwcaps/x86-64-v2/libhw.so.1", "hw-v2", "libhw.so.1")
    img.lib("/opt/lib/glibc-hwcaps/x86-64-v3/libhw.so.1", "hw-v3", "libhw.so.1")
    img.prog("/usr/bin/prog_hw", link=["/opt/lib/libhw.so.1"])

    # r6: a cached copy in a conf dir beats an uncached copy in a default dir (added below, after ldconfig)
    img.lib("/opt/lib/libdup.so", "dup-conf", "libdup.so")
    img.prog("/usr/bin/prog_dup", link=["/opt/lib/libdup.so"])
    img.plant("exec-denied", "/opt/lib/libdup.so")  # mode 0644, set at the end

    # r4: /etc/ld.so.preload loads into every program and satisfies a DT_NEEDED by SONAME
    img.lib("/opt/pre/libpre.so", "pre", "libpre.so")
    img.prog("/usr/bin/prog_pre", link=["/opt/pre/libpre.so"])
    (r / "etc/ld.so.preload").write_text("# preloaded everywhere\n/opt/pre/libpre.so\nlibnothere.so\n")
    img.plant("preload-ignored", "/etc/ld.so.preload")
    img.plant("loaded-by-luck", "/usr/bin/prog_pre")  # it starts only because of the preload

    # noexec per the image's fstab
    img.lib("/srv/noexec/libnx.so", "nx", "libnx.so")
    img.prog("/usr/bin/prog_nx", link=["/srv/noexec/libnx.so"], runpath="/srv/noexec")
    img.plant("exec-denied", "/srv/noexec/libnx.so")
    img.plant("library-load-error", "/srv/noexec/libnx.so")  # ld.so cannot map it there: prog_nx fails to start

    # RUNPATH hygiene: a relative and an empty element; a world-writable directory
    img.prog("/usr/bin/prog_rpath", link=["/opt/lib/libhw.so.1"], runpath="lib::/opt/lib")
    img.plant("rpath-relative", "/usr/bin/prog_rpath")
    img.plant("rpath-empty", "/usr/bin/prog_rpath")
    img.prog("/usr/bin/prog_tmp", link=["/opt/lib/libhw.so.1"], runpath="/var/tmp")
    img.plant("rpath-insecure-dir", "/usr/bin/prog_tmp")

    # writable code
    img.lib("/opt/lib/libwr.so", "wr", "libwr.so")
    img.prog("/usr/bin/prog_wr", link=["/opt/lib/libwr.so"])
    img.plant("writable-code", "/opt/lib/libwr.so")

    # c20: libT finds libS only because the program loaded it from its own RUNPATH
    img.lib("/opt/priv/libS.so", "S", "libS.so")
    img.lib("/opt/lib/libT.so", "T", "libT.so", link=["/opt/priv/libS.so"])
    img.prog("/usr/bin/prog_luck", link=["/opt/priv/libS.so", "/opt/lib/libT.so"], runpath="/opt/priv")
    img.plant("loaded-by-luck", "/opt/lib/libT.so")

    # c21: the libv.so.1 in the cache lacks the version the program needs
    (img.work / "v2.map").write_text("VER_1 { global: f_v1; local: *; };\nVER_2 { global: f_v2; } VER_1;\n")
    (img.work / "v1.map").write_text("VER_1 { global: f_v1; local: *; };\n")
    (img.work / "v.c").write_text("int f_v1(void){return 1;}\nint f_v2(void){return 2;}\n")
    _run([CC, "-shared", "-fPIC", "-o", str(img.work / "libv.so.1"), str(img.work / "v.c"), "-Wl,-soname,libv.so.1",
          "-Wl,--version-script=" + str(img.work / "v2.map")])
    _run([CC, "-shared", "-fPIC", "-o", str(r / "opt/lib/libv.so.1"), str(img.work / "v.c"), "-Wl,-soname,libv.so.1",
          "-Wl,--version-script=" + str(img.work / "v1.map")])
    (img.work / "mv.c").write_text("int f_v2(void); int main(void){ return f_v2() - 2; }\n")
    _run([CC, "-o", str(r / "usr/bin/prog_ver"), str(img.work / "mv.c"), str(img.work / "libv.so.1")])
    img.plant("symbol-version", "/usr/bin/prog_ver")

    # programs no loader shim covers, and a loader that is not there
    (img.work / "static.c").write_text(PROG_SRC)
    _run([CC, "-static", "-o", str(r / "usr/bin/prog_static"), str(img.work / "static.c")])
    img.plant("static-program", "/usr/bin/prog_static")
    img.prog("/usr/bin/prog_musl", flags=["-Wl,--dynamic-linker=/lib/ld-musl-x86_64.so.1"])
    img.plant("musl-program", "/usr/bin/prog_musl")
    img.prog("/usr/bin/prog_nointerp", flags=["-Wl,--dynamic-linker=/lib/ld-gone.so.2"])
    img.plant("interpreter-missing", "/usr/bin/prog_nointerp")

    # $ORIGIN in a setuid program
    img.prog("/usr/bin/prog_suid", rpath="$ORIGIN/../lib/private")
    img.plant("rpath-origin-setuid", "/usr/bin/prog_suid")

    # not ELF, though named like a library
    (r / "opt/lib/libjunk.so.1").write_bytes(b"garbage, not an ELF file\n" * 4)
    img.plant("bad-elf", "/opt/lib/libjunk.so.1")

    # Python code: one module refused (0644), one allowed (os.py: the stdlib's landmark)
    (r / "usr/lib/python3.11/os.py").write_text("x = 1\n")
    (r / "usr/lib/python3.11/mod.py").write_text("y = 2\n")
    img.plant("python-code-denied", "/usr/lib/python3.11")

    # the cache, made inside the image
    _run(["ldconfig", "-r", str(r)])
    assert (r / "etc/ld.so.cache").exists() and (r / "var/cache/ldconfig/aux-cache").exists()

    # after ldconfig: r1 (a stale cache: libstale in a conf dir, not cached), r2 (a default dir,
    # not in any conf), r6's uncached copy
    img.lib("/opt/lib/libstale.so", "stale", "libstale.so")
    img.prog("/usr/bin/prog_stale", link=["/opt/lib/libstale.so"])
    img.plant("missing-library", "/usr/bin/prog_stale")
    img.lib("/usr/lib/libusr.so", "usr", "libusr.so")
    img.prog("/usr/bin/prog_usr", link=["/usr/lib/libusr.so"])
    img.lib("/usr/lib/libdup.so", "dup-usr", "libdup.so")

    # modes: everything 0755 (dirs) / as built, then the planted exceptions
    for dirpath, dirnames, filenames in os.walk(r):
        for d in dirnames:
            if not os.path.islink(os.path.join(dirpath, d)):
                os.chmod(os.path.join(dirpath, d), 0o755)
    os.chmod(r, 0o755)
    os.chmod(r / "var/tmp", 0o1777)
    os.chmod(r / "opt/lib/libdup.so", 0o644)
    os.chmod(r / "opt/lib/libwr.so", 0o777)
    os.chmod(r / "usr/bin/prog_suid", 0o4755)
    os.chmod(r / "usr/lib/python3.11/os.py", 0o755)
    os.chmod(r / "usr/lib/python3.11/mod.py", 0o644)
    for f in ("etc/ld.so.conf", "etc/fstab", "etc/ld.so.preload"):
        os.chmod(r / f, 0o644)
    return img


def chroot_into(root):
    def enter():
        os.chroot(root)
        os.chdir("/")
    return enter

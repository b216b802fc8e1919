"""Installing the shim into an image, and removing exactly what was installed.

install: the shim into the image's library directory (root-owned, 0755), /etc/execcheck.conf,
the shim's path appended to /etc/ld.so.preload (existing entries kept, no duplicate), optional
systemd drop-ins. An image with a 32-bit libc as well gets the 32-bit shim where its 32-bit ld.so
expands $LIB, and both are named by one $LIB entry (README, "32-bit programs"). Every file it creates
or changes is noted, with the previous content of what it changed, in
/var/lib/execcheck/install.json; uninstall puts each back.
"""
import base64
import hashlib
import os
import re
import stat

from . import ldconf, manifest, rootfs
from .._native import ffi
from ..errors import UsageError
from ..shim import I386_LOADER, has_lib_token, ld_so_preload_entries, lib_path, substitute_lib
from .ldconf import lib_token

STEP = "install"
SHIM_NAME = "libexeccheck.so"
LOG_FILE_MAX = len(ffi.new("struct ec_policy *").log_file) - 1  # policy.c: strlen < sizeof log_file
SYSTEMD_EXEC_SECUREBITS = 262  # first systemd whose SecureBits= knows exec-restrict-file (PR #43376)


class InstallError(UsageError):
    pass


def elf_identity(path: str, root: str = ""):
    """Class, machine (its name), byte order and DT_NEEDED of an ELF file, read by the core's reader
    (csrc/elfinfo.c); InstallError for a file the loader could not use (an image's may be anything).
    root: path is an image's file (a host path resolve() found), opened from ROOT
    (rootfs.open_regular) and read by the core through /proc, not by its host path again."""
    from ..audit.resolver import read_elf
    try:
        if root:
            with rootfs.open_regular(root, path) as f:
                e = read_elf("/proc/self/fd/%d" % f.fileno())
        else:
            e = read_elf(path)
    except OSError as err:
        raise InstallError("%s: %s" % (path, err.strerror))
    if e.defect != "ok" or e.elfclass not in (1, 2):
        raise InstallError("%s is no ELF file a loader could use: %s" % (path, e.defect))
    name = ldconf.MACHINES.get(e.machine, ("machine %d" % e.machine,))[0]
    return {"class": 32 * e.elfclass, "machine": name, "little_endian": not e.msb, "needed": e.needed}


# the shims a build can make (shim/layout's names), by the ELF machine of the libc they serve
SHIM_MACHINES = {"EM_X86_64": "x86_64", "EM_386": "i386", "EM_AARCH64": "aarch64"}
# the loaders the resolver models, by the ELF machine of their libc (its `machine`: 0 is x86_64's)
LOADER_MACHINES = {"EM_X86_64": 0, "EM_386": 3, "EM_AARCH64": 183}


def loader_lib(root: str, machine: str) -> str:
    """What the image's ld.so for libcs of that ELF machine expands $LIB to, read from that loader
    file in the image (its own last directories, csrc/ldsysdirs.c); "" for a machine not modelled."""
    from ..audit.resolver import Session
    if machine not in LOADER_MACHINES:
        return ""
    return Session(root=root, machine=LOADER_MACHINES[machine]).lib_dir


def multiarch_of(machine: str) -> str:
    """Debian's multiarch tuple of an ELF machine ("EM_AARCH64" -> "aarch64-linux-gnu"), or ""."""
    return next((t for n, t in ldconf.MACHINES.values() if n == machine), "")


def shim_multiarch() -> str:
    """The multiarch tuple of this machine's shim ("x86_64-linux-gnu"), "" if not Debian-known."""
    return multiarch_of(elf_identity(lib_path())["machine"])


def find_libc(root: str):
    """(image dir of the image's libc.so.6, its ELF identity) — where the shim goes beside it. The
    image may be of another architecture (an arm64 image prepared here): every Debian multiarch
    directory is looked in, this machine's first."""
    native = shim_multiarch()
    dirs = []
    for t in [native] + [t for _, t in ldconf.MACHINES.values() if t != native]:
        dirs += ["/lib/" + t, "/usr/lib/" + t]
    found = []
    # last, the biarch places of a 32-bit libc: a root whose only libc is there is a 32-bit image
    for d in dirs + ldconf.default_dirs("") + ldconf.conf_dirs(root) + list(ldconf.I386_LIBC_DIRS):
        host = rootfs.lookup(root, d + "/libc.so.6")  # None: a symlink on the way names no file
        if host is not None and os.path.isfile(host):
            found.append(d)
            # prefer the directory's own name over a way into it through a symlink (/lib -> usr/lib)
            if rootfs.resolve(root, d) == os.path.join(os.path.abspath(root), d.lstrip("/")):
                return d, elf_identity(host, root)
    if found:
        return found[0], elf_identity(rootfs.resolve(root, found[0] + "/libc.so.6"), root)
    raise InstallError("no libc.so.6 in the image's library directories: is %s a root filesystem?" % root)


def image_multiarch(root: str) -> str:
    """The multiarch tuple of the image's own libc ("aarch64-linux-gnu"), "" if not Debian-known;
    this machine's where the image has no libc (yet)."""
    try:
        return multiarch_of(find_libc(root)[1]["machine"])
    except InstallError:
        return shim_multiarch()


def shim_for(machine: str) -> str:
    """The shim built for images whose libc is of that ELF machine; InstallError if none was."""
    name = SHIM_MACHINES.get(machine)
    if name is None:
        raise InstallError("the image's libc is %s: execcheck has no shim for that architecture" % machine)
    path = lib_path(name)
    if not os.path.exists(path):
        how = {"i386": "gcc-multilib", "aarch64": "an aarch64 cross compiler: clang and lld, or "
               "gcc-aarch64-linux-gnu, with libc6-dev-arm64-cross"}.get(name, "a compiler for it")
        raise InstallError("the image's libc is %s, and this install has no %s shim (it is built where %s "
                           "is installed: reinstall execcheck after installing it)" % (machine, name, how))
    return path


def find_libc32(root: str):
    """The image dir of its 32-bit (i386) libc.so.6, or None: where the image's 32-bit ld.so looks
    last (its own directories: Fedora's glibc.i686 is in /usr/lib), then Debian's places."""
    from ..audit.resolver import Session
    dirs = list(ldconf.I386_LIBC_DIRS)
    loader = rootfs.lookup(root, I386_LOADER)
    if loader is not None and os.path.isfile(loader):
        dirs = Session(root=root, machine=3).system_dirs() + dirs
    for d in dict.fromkeys(dirs):
        host = rootfs.lookup(root, d + "/libc.so.6")
        if host is not None and os.path.isfile(host):
            try:
                ident = elf_identity(host, root)
            except InstallError:
                continue
            if (ident["class"], ident["machine"]) == (32, "EM_386"):
                return d
    return None


def multilib_paths(root: str, libdir: str):
    """(the $LIB entry, the 64-bit shim's image path, the 32-bit one's): each shim where its
    class's ld.so in the image expands the entry's $LIB (each loader's own, read from its file:
    Debian's lib/x86_64-linux-gnu and lib32, Fedora's lib64 and lib). The entry starts as the
    64-bit libc's directory does ("/usr/" or "/"); the 32-bit shim's directory is made if missing."""
    lib64, lib32 = loader_lib(root, "EM_X86_64"), loader_lib(root, "EM_386")
    prefix = next((p for p in ("/usr/", "/") if libdir == p + lib64), None)
    if prefix is None:  # the libc is not where $LIB points: the shim goes where it does
        prefix = "/usr/" if os.path.isdir(rootfs.resolve(root, "/usr/" + lib64)) else "/"
    return prefix + "$LIB/" + SHIM_NAME, prefix + lib64 + "/" + SHIM_NAME, prefix + lib32 + "/" + SHIM_NAME


def lib_entry(shim_dir: str) -> str:
    """The $LIB entry install writes for the shim in shim_dir (/usr/lib32 -> /usr/$LIB/...)."""
    token = lib_token(shim_dir)
    return shim_dir[:len(shim_dir) - len(token)] + "$LIB/" + SHIM_NAME


def expand_entry(root: str, entry: str) -> list:
    """The image paths an ld.so.preload entry names: with $LIB, one per class the image has, as
    that class's ld.so expands it."""
    if not has_lib_token(entry):
        return [entry]
    out = []
    libdir, ident = find_libc(root)
    tokens = [loader_lib(root, ident["machine"]) or lib_token(libdir)]
    if ident["machine"] == "EM_X86_64" and find_libc32(root):
        tokens.append(loader_lib(root, "EM_386"))
    for token in tokens:
        path = substitute_lib(entry, token)
        if path not in out:
            out.append(path)
    return out


def systemd_version(root: str):
    for pattern in ("/usr/lib/systemd/libsystemd-shared-*.so", "/lib/systemd/libsystemd-shared-*.so",
                    "/usr/lib/*/systemd/libsystemd-shared-*.so"):
        # each directory looked up in the image (its /usr/lib may be a symlink) and listed from ROOT
        for m in ldconf.glob_image(root, pattern):
            v = re.match(r"libsystemd-shared-(\d+)", os.path.basename(m))
            if v:
                return int(v.group(1))
    return None


def config_text(enforce: bool, deny_interactive: bool, log_file: str) -> bytes:
    lines = ["# written by `execcheck image install`; see `execcheck status`",
             "files = %s" % ("enforce" if enforce else "audit"),
             "interactive = %s" % ("deny" if deny_interactive else "allow")]
    if log_file:
        lines.append("log_file = %s" % log_file)
    return os.fsencode("\n".join(lines) + "\n")  # a path's bytes, as config_value_problem let them


def dropin_text(shim_path: str, enforce: bool, deny_interactive: bool, sd_version) -> str:
    lines = ["# written by `execcheck image install`", "[Service]",
             # the service's first process already runs under the audit face, not only the preload
             'Environment="LD_AUDIT=%s"' % shim_path]
    bits = []
    if sd_version is not None and sd_version >= SYSTEMD_EXEC_SECUREBITS:
        if enforce:
            bits += ["exec-restrict-file", "exec-restrict-file-locked"]
        if deny_interactive:
            bits += ["exec-deny-interactive", "exec-deny-interactive-locked"]
    if bits:
        lines.append("SecureBits=" + " ".join(bits))
    return "\n".join(lines) + "\n"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


READ_MAX = 1 << 26


class TooLarge(InstallError):
    pass


def _read(root: str, host: str):
    """The content of the image's file host (None: there is none), read from ROOT
    (rootfs.read_regular): a parent swapped for a symlink since resolve() fails, never reads (nor
    records, nor writes back) the host's file of that name."""
    try:
        data = rootfs.read_regular(root, host, READ_MAX + 1)
    except FileNotFoundError:
        return None
    except OSError as e:  # a FIFO or a device where a file of ours goes
        raise InstallError("%s: %s" % (host, e.strerror))
    if len(data) > READ_MAX:  # read in part, it would be written back cut short (and recorded so)
        raise TooLarge("%s: larger than %d MiB: not a file install rewrites" % (host, READ_MAX >> 20))
    return data


def config_value_problem(value: str) -> str:
    """Why value cannot be the log_file of a config line as csrc/policy.c reads it back, or ''.
    The parser copies a value's bytes as they are (a path need not be UTF-8), except: a newline
    would start a line of its own (`--log-file $'/x\\nfiles = audit'` turned enforcement off), '#'
    starts a comment, whitespace at either end is trimmed, and the value must fit the policy's
    log_file field (a longer one makes the whole line ignored)."""
    raw = os.fsencode(value)
    if any(b < 0x20 or b == 0x7f for b in raw):
        return "a control character"
    if b"#" in raw:
        return "a '#' (which starts a comment)"
    if value != value.strip():
        return "whitespace at an end"
    if len(raw) > LOG_FILE_MAX:
        return "more than %d bytes" % LOG_FILE_MAX
    return ""


def plan(root: str, enforce=False, deny_interactive=False, log_file="", services=()):
    """[(image_path, new_bytes, mode)] of what install writes, after checking the shim fits."""
    root = os.path.abspath(root)
    why = config_value_problem(log_file)
    if why:
        raise InstallError("--log-file %r has %s: /etc/execcheck.conf could not carry it" % (log_file, why))
    if log_file:
        try:  # looked at from ROOT, not by a host path a swapped parent would lead out of
            mode = rootfs.stat_beneath(root, rootfs.resolve(root, log_file, follow_last=False)).st_mode
        except OSError:
            mode = None  # not there (the shim creates it), or not looked at: as before, not refused
        if mode is not None and not stat.S_ISREG(mode):
            raise InstallError("--log-file %s is %s in the image: the shim, which opens it without following a "
                               "link, would write no record to it" % (
                                   log_file, "a symbolic link" if stat.S_ISLNK(mode) else "not a regular file"))
    libdir, libc_id = find_libc(root)
    shim = shim_for(libc_id["machine"])
    shim_id = elf_identity(shim)
    shim_i386 = lib_path("i386") if shim_id["machine"] == "EM_X86_64" and os.path.exists(lib_path("i386")) else None
    for key in ("class", "machine", "little_endian"):
        if shim_id[key] != libc_id[key]:
            raise InstallError("the shim is %s/%s-bit but the image's libc is %s/%s-bit" % (
                shim_id["machine"], shim_id["class"], libc_id["machine"], libc_id["class"]))
    if shim_id["needed"]:  # built freestanding: anything here would have to resolve in the image
        for name in shim_id["needed"]:
            if not os.path.exists(rootfs.resolve(root, "%s/%s" % (libdir, name))):
                raise InstallError("the shim needs %s, which the image lacks" % name)
    shim_path = "%s/%s" % (libdir, SHIM_NAME)
    with open(shim, "rb") as f:
        files = [(shim_path, f.read(), 0o755)]
    entry, shim32 = shim_path, None
    libdir32 = find_libc32(root) if shim_id["machine"] == "EM_X86_64" else None
    if libdir32 and shim_i386:
        entry, shim_path, shim32 = multilib_paths(root, libdir)
        files[0] = (shim_path, files[0][1], 0o755)
        with open(shim_i386, "rb") as f:
            files.append((shim32, f.read(), 0o755))
    files.append(("/etc/execcheck.conf", config_text(enforce, deny_interactive, log_file), 0o644))
    preload_host = rootfs.resolve(root, "/etc/ld.so.preload")
    old = _read(root, preload_host) or b""
    if entry not in ld_so_preload_entries(old):
        new = old + (b"" if not old or old.endswith(b"\n") else b"\n") + entry.encode() + b"\n"
        files.append(("/etc/ld.so.preload", new, 0o644))
    sd = systemd_version(root)
    for svc in services:
        unit = unit_name(svc)
        files.append(("/etc/systemd/system/%s.d/execcheck.conf" % unit,
                      dropin_text(entry, enforce, deny_interactive, sd).encode(), 0o644))
    return files, {"shim": shim_path, "shim32": shim32, "entry": entry, "systemd": sd,
                   "unchecked32": bool(libdir32) and not shim32}


# systemd's unit types (systemd.unit(5)); a name's drop-in directory is NAME.d, a file name
UNIT_TYPES = ("service", "socket", "target", "timer", "mount", "automount", "swap", "path", "slice", "scope",
              "device")
NAME_MAX = 255


def unit_name(svc: str) -> str:
    """The unit a --service names ("sshd" is sshd.service); InstallError, before anything is
    written, for a name systemd would not take or whose drop-in directory no file system could."""
    unit = svc if "." in svc else svc + ".service"
    prefix, _, kind = unit.rpartition(".")
    if not re.fullmatch(r"[A-Za-z0-9:_.@\\-]+", unit) or not prefix or kind not in UNIT_TYPES:
        raise InstallError("not a systemd unit name: %r (NAME or NAME.TYPE, TYPE one of %s)" % (
            svc, ", ".join(UNIT_TYPES)))
    if len(unit) + 2 > NAME_MAX:
        raise InstallError("systemd unit name too long: %d characters (at most %d)" % (len(unit), NAME_MAX - 2))
    return unit


def _record_problem(record) -> str:
    if not isinstance(record, dict) or not isinstance(record.get("files"), dict):
        return "no files"
    for path, info in record["files"].items():
        if not path.startswith("/") or not isinstance(info, dict) or not _file_entry_ok(info):
            return "a file entry that is not one"
        if not _install_writes(path):  # uninstall would write or remove it as the record says
            return "a file install does not write"
    return manifest.dirs_problem(record)


def _install_writes(path: str) -> bool:
    """Could install have written this image path (the shim, its config, ld.so.preload, a drop-in)?"""
    return path in ("/etc/execcheck.conf", "/etc/ld.so.preload") or path.endswith("/" + SHIM_NAME) or \
        re.fullmatch(r"/etc/systemd/system/[^/]+\.d/execcheck\.conf", path) is not None


def _file_entry_ok(info: dict) -> bool:
    """What install records of a file: its previous content (base64, None for a file it created),
    that content's mode (needed with it) and owner."""
    prev, mode, owner = info.get("previous"), info.get("previous_mode"), info.get("previous_owner")
    if not (prev is None or isinstance(prev, str)):
        return False
    # no setuid/setgid: install replaces no such file, so uninstall makes none
    if not (mode is None or (isinstance(mode, int) and 0 <= mode <= 0o1777)) or (prev is not None and mode is None):
        return False
    if not (owner is None or (isinstance(owner, list) and len(owner) == 2 and
                              all(isinstance(x, int) and x >= 0 for x in owner))):
        return False
    try:
        base64.b64decode(prev or "", validate=True)
    except ValueError:
        return False
    return True


def install(root: str, files, any_mount: bool = False):
    """Writes the planned files, recording what each replaced. Idempotent: a second install with
    the same plan changes nothing and keeps the first record (the true original)."""
    root = os.path.abspath(root)
    record = manifest.load(root, STEP, _record_problem, any_mount) or {"files": {}, "created_dirs": []}
    root_mount = rootfs.root_mount(root, any_mount)
    changed = []
    for path, data, mode in files:
        host = rootfs.resolve(root, path)
        if rootfs.on_other_mount(root_mount, host):  # before anything is written
            raise InstallError("%s is %s" % (path, manifest.OTHER_MOUNT))
        before = _read(root, host)
        if before == data:
            continue
        if path not in record["files"]:
            st = rootfs.stat_beneath(root, host) if before is not None else None
            record["files"][path] = {"previous": None if before is None else base64.b64encode(before).decode(),
                                     "previous_mode": st.st_mode & 0o7777 if st else None,
                                     "previous_owner": [st.st_uid, st.st_gid] if st else None}
        record["files"][path]["written_sha256"] = _sha(data)
        changed.append((host, data, mode))
    if not changed:
        return 0
    manifest.save(root, STEP, record)
    for host, data, mode in changed:
        manifest.makedirs_recorded(root, os.path.dirname(host), record["created_dirs"],
                                   before=lambda: manifest.save(root, STEP, record))
        manifest.atomic_write(root, host, data, mode)
    return len(changed)


def uninstall(root: str, any_mount: bool = False):
    """Puts back what install replaced, removes what it created. Returns a list of notes (files
    that were changed by someone else after install are restored anyway, and said so)."""
    root = os.path.abspath(root)
    record = manifest.load(root, STEP, _record_problem, any_mount)
    if record is None:
        return None
    root_mount = rootfs.root_mount(root, any_mount)
    notes = []
    for path, info in sorted(record["files"].items()):
        try:
            host = rootfs.resolve(root, path)
            other = rootfs.on_other_mount(root_mount, host)
            now = None if other else _read(root, host)
        except OSError as e:  # a path no install could have written (a record from an older one)
            notes.append("%s: %s: nothing to undo there" % (path, e.strerror))
            continue
        except TooLarge:  # not what install wrote: put back whole, but no line is taken out of a part
            if path == "/etc/ld.so.preload":
                notes.append("left %s as it is: larger than %d MiB since install" % (path, READ_MAX >> 20))
                continue
            now = b""
        if other:  # install writes no such file: the record is not its
            notes.append("left %s as it is: it is %s" % (path, manifest.OTHER_MOUNT))
            continue
        if now is not None and _sha(now) != info.get("written_sha256"):
            if path == "/etc/ld.so.preload":
                # changed since install: take out only our line, keep the rest
                shim_lines = record_shim_lines(record)
                kept = b"".join(l for l in now.splitlines(True) if l.strip() not in shim_lines)
                st = rootfs.stat_beneath(root, host)
                manifest.atomic_write(root, host, kept, st.st_mode & 0o7777, st.st_uid, st.st_gid)
                notes.append("%s changed since install: removed only the shim's entry" % path)
                continue
            notes.append("%s changed since install: restored to its state before install anyway" % path)
        if info["previous"] is None:
            if now is not None:
                manifest.unlink(root, host)
        else:
            uid, gid = info.get("previous_owner") or (0, 0)
            manifest.atomic_write(root, host, base64.b64decode(info["previous"]), info["previous_mode"], uid, gid)
    notes += ["left %s: %s" % (d, manifest.OLD_DIR_LEFT) for d in manifest.remove(root, STEP, record["created_dirs"],
                                                                                    any_mount)]
    return notes


def record_shim_lines(record) -> set:
    """The ld.so.preload lines install may have written: each shim's path, and the $LIB entry of
    two (a 64-bit and a 32-bit one, each where its loader expands $LIB)."""
    shims = sorted(p for p in record["files"] if p.endswith("/" + SHIM_NAME))
    lines = {p.encode() for p in shims}
    if len(shims) > 1:
        lines |= {lib_entry(os.path.dirname(p)).encode() for p in shims}
    return lines

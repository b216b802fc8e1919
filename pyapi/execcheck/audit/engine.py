"""The audit: resolve every program and shared object given, then judge what would load.

Two verdicts per file, kept apart: will it load (the resolver: found, right class and machine,
symbol versions), and would the exec policy allow it (policy_view: the live check on this host,
and for an image the image's own view). Findings come out of both, once per problem.
"""
import dataclasses
import errno
import os
import stat
import sys
import time
from typing import Dict, List, Optional, Sequence

from .findings import Findings
from .policy_view import ImageMounts, View, image_view, live_view, parse_fstab
from .resolver import Resolution, Session
from . import scan
from ..image import ldconf, rootfs
from .. import mount_helpers

ET_EXEC, ET_DYN = 2, 3
EM_386, EM_X86_64, EM_AARCH64 = 3, 62, 183
# the loaders the resolver models besides x86_64's: (ELF class, machine) -> name in reports
OTHER_LOADERS = {(1, EM_386): "i386", (2, EM_AARCH64): "aarch64"}
LOAD_ERRORS_NOT_FOUND = ("not-found", "wrong-class")
# AddressSanitizer's runtimes (gcc's, clang's): they insist on coming first among the loaded objects
ASAN_RUNTIMES = ("libasan.so", "libclang_rt.asan")
GONE = rootfs.GONE  # a file met a moment ago, not there now or another in its place: a change
# a PATH named on the command line that could not be examined audits nothing of what was asked, as
# a missing one (EXC052): an error, not the warning a file met in a walk is
NAMED_UNREAD = "error"


@dataclasses.dataclass
class Options:
    paths: Sequence[str] = ()
    root: Optional[str] = None
    library_path: Optional[str] = None
    preload: Optional[str] = None
    platform: Optional[str] = None
    isa_level: int = 0
    secure: Optional[bool] = None         # None: from each file's setuid/setgid bits
    noexec_mounts: Sequence[str] = ()
    python_dirs: Sequence[str] = ()
    cwd: Optional[str] = None
    explain: bool = False                 # keep the candidates tried for each failure
    one_mount: bool = False               # walk only ROOT's own mount (image verify without --any-mount)


@dataclasses.dataclass
class FileRecord:
    """One code file (inode) the audit met."""
    path: str                  # first image path it was met under
    realpath: Optional[str]
    dev: int
    ino: int
    mode: int
    uid: int
    gid: int
    roles: set                 # program, library, interp, preload, python
    users: set                 # programs whose startup maps it
    live: Optional[View] = None
    image: Optional[View] = None

    def as_dict(self) -> dict:
        return {"path": self.path, "realpath": self.realpath, "dev": self.dev, "ino": self.ino,
                "mode": "%o" % self.mode, "uid": self.uid, "gid": self.gid, "roles": sorted(self.roles),
                "used_by": len(self.users), "policy": {"live": self.live.as_dict() if self.live else None,
                                                       "image": self.image.as_dict() if self.image else None}}


@dataclasses.dataclass
class Entry:
    """One input: a program or shared object and its resolution."""
    path: str
    role: str                  # "program" or "library"
    resolution: Optional[Resolution]


@dataclasses.dataclass
class Result:
    options: Options
    loader: dict
    entries: List[Entry]
    files: Dict[tuple, FileRecord]
    findings: list
    python: List[dict]
    skipped: Dict[str, int]
    outcome: Dict[str, str]
    elapsed: float
    other_mounts: List[str] = dataclasses.field(default_factory=list)  # image paths not walked (one_mount)


class Progress:
    """A one-line counter on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.last = 0.0

    def __call__(self, done, total, what):
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last > 0.1 or done == total:
            self.last = now
            sys.stderr.write("\r\033[K[%d/%d] %s" % (done, total, what[-60:]))
            if done == total:
                sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def glibc_minor(root: str) -> int:
    """N of the image's (or this system's) glibc 2.N, from its libc's own banner ("... release
    version 2.43."); 0 if there is no libc to tell. The search rules of ld.so changed with the
    release (glibc-hwcaps subdirectories since 2.33, no legacy ones since 2.37)."""
    import re
    # the loader's own directories, in its order; then those of an arm64 or a 32-bit-only image
    for d in ldconf.default_dirs("x86_64-linux-gnu") + ldconf.default_dirs("aarch64-linux-gnu")[:2] + \
            list(ldconf.I386_LIBC_DIRS):
        try:
            # from ROOT (rootfs.read_regular), not by the host path found: a parent swapped since would lead out
            data = rootfs.read_regular(root, rootfs.resolve(root or "/", d + "/libc.so.6"), 1 << 24)
        except OSError:
            continue
        m = re.search(rb"GNU C Library [^\n\0]{0,200}release version 2\.(\d{1,3})\b", data)
        if m:
            return int(m.group(1))
    return 0


class Audit:
    def __init__(self, opts: Options, progress: Optional[Progress] = None):
        if not os.path.isdir("/proc/self/fd"):
            # the audit names each file as ld.so saw it, through /proc/self/fd: without /proc every
            # input read as "does not exist" and an image as "No such file or directory" (the
            # resolver itself goes on without it, as ld.so does: the dlopen guard's predictions)
            raise OSError(errno.ENOENT, "not there: the loader's view of each file is read from /proc (mount it: "
                          "mount -t proc proc /proc)", "/proc/self/fd")
        self.o = opts
        self.root = os.path.realpath(opts.root) if opts.root else ""
        self.glibc_minor = glibc_minor(self.root)
        self.session = Session(root=self.root or None, cwd=opts.cwd, platform=opts.platform, isa_level=opts.isa_level,
                               glibc_minor=self.glibc_minor)
        self._sessions = {}  # the i386 and aarch64 loaders', each made at its first program
        self.findings = Findings()
        self.files: Dict[tuple, FileRecord] = {}
        self.entries: List[Entry] = []
        self.skipped: Dict[str, int] = {}
        self.outcome: Dict[str, str] = {}   # what became of each ELF or library-named input
        self._named = set()                 # inputs named as files, not found in a directory
        self.progress = progress or Progress(False)
        self.mounts = self._mounts()
        self._dirstat = {}
        self.walker = rootfs.ImageWalk(self.root, any_mount=not (self.root and opts.one_mount), onerror=self._unlisted,
                                       onchange=self._dir_changed)

    # ------------------------------------------------------------------ inputs
    def _mounts(self) -> ImageMounts:
        fstab = []
        if self.root:
            try:
                # from ROOT: /etc swapped for a link since the look had the host's fstab's noexec mounts taken
                text = rootfs.read_regular(self.root, scan.host_path(self.root, self.session.realpath("/etc/fstab")),
                                           1 << 20)
                fstab = parse_fstab(text.decode("utf-8", "replace"))
            except OSError:
                pass
        return ImageMounts(fstab, self.o.noexec_mounts)

    def _unlisted(self, e: OSError):
        """A directory it may not list is no directory without problems (`audit /root` as nobody)."""
        where = scan.image_path(self.root, e.filename)
        self.findings.add("unreadable", where, "%s: %s" % (where, (e.strerror or str(e)).lower()))

    def _dir_changed(self, e: OSError):
        """A directory listed a moment ago, gone (or a file or a symlink now) when the walk came to it."""
        self._changed(scan.image_path(self.root, e.filename), "removed, renamed or replaced since its parent was "
                      "listed", e.errno)

    def _changed(self, path, how, err):
        """path (an image path) changed under the audit: what it was was not examined."""
        self.findings.add("changed-during-audit", path, "%s: %s: the tree changed during the audit" % (path, how),
                          details={"errno": errno.errorcode.get(err, str(err))})
        self.outcome[path] = "changed"

    def _unexamined(self, path, err):
        """path exists but could not be looked at (errno err): a file the audit cannot judge."""
        self.findings.add("unreadable", path, "%s: %s" % (path, os.strerror(err).lower()),
                          details={"errno": errno.errorcode.get(err, str(err))})
        self.outcome[path] = "unreadable"

    def _lookup_failed(self, path, err, count=True):
        """A name the walk listed whose lookup failed with errno err. A symlink that names no file
        (BROKEN_LINK) is nothing to check; a name no longer there, or there but not found by the
        lookup, changed under the audit; any other failure (no search permission, EIO, a lookup
        that kept racing, a FUSE file system's refusal) leaves a file unexamined. count: the name
        is counted among the skipped (once: the Python pass meets the walk's names again). Told
        apart as image prepare tells them (rootfs.lookup_failure)."""
        kind, how, err = rootfs.lookup_failure(scan.host_path(self.root, path), err)
        if kind == "broken-link":
            if count:
                self.skipped["broken-link"] = self.skipped.get("broken-link", 0) + 1
        elif kind == "changed":
            self._changed(path, how, err)
        else:
            self._unexamined(path, err)

    def _realpath(self, path) -> Optional[str]:
        try:
            return self.session.realpath(path)
        except OSError:
            return None

    def inputs(self) -> List[str]:
        """Image paths of the files to audit, each inode once, in path order."""
        paths = list(self.o.paths) or (["/"] if self.root else [])
        seen, out = set(), []
        for p in paths:
            p = p if p.startswith("/") else os.path.join(self.o.cwd or ("/" if self.root else os.getcwd()), p)
            try:
                rp = self.session.realpath(p)
            except OSError as e:  # a missing file, a loop of symlinks, a directory it may not search
                if e.errno == errno.ENOENT:
                    where = "image" if self.root else "system"
                    # the name may be there: a symlink whose target is not ("does not exist" sent
                    # the user looking for a typo in a name that `ls` shows)
                    self.findings.add("missing-input", p, "%s: %s" % (p, "a symbolic link to a file that does not "
                                                                         "exist in the %s" % where
                                                                         if self._is_link(p) else
                                                                         "does not exist in the %s" % where))
                else:
                    self.findings.add("unreadable", p, "%s: %s" % (p, (e.strerror or str(e)).lower()),
                                      severity=NAMED_UNREAD)
                continue
            if os.path.isdir(scan.host_path(self.root, rp)):
                candidates = scan.walk(self.root, rp, skip_pseudo=bool(self.root) and rp == "/", walker=self.walker)
                explicit = False
            else:
                candidates = [p]
                explicit = True
                self._named.add(p)
            for c in candidates:
                self._consider(c, explicit, seen, out)
        return out

    def _is_link(self, path) -> bool:
        """Is the image path path (its last name: the rest resolved in the image) a symlink?"""
        try:
            host = rootfs.resolve(self.root, path, follow_last=False) if self.root else path
            return os.path.islink(host)
        except OSError:
            return False

    def _consider(self, path, explicit, seen, out):
        try:
            rp = self.session.realpath(path)
        except OSError as e:
            if explicit:
                self.findings.add("unreadable", path, "%s: cannot be followed (broken symlink or loop)" % path,
                                  severity=NAMED_UNREAD)
            else:
                self._lookup_failed(path, e.errno)
            return
        host = scan.host_path(self.root, rp)
        kind, head = scan.sniff(host, self.root)
        name = os.path.basename(path)
        if kind == "not-regular" and not explicit and _is_dir_itself(scan.host_path(self.root, path)):
            # the walk lists directories apart: this one was no directory then (a symlink listed as
            # a file that leads to a directory now is no change of its own name: the name itself is
            # looked at here)
            self._changed(path, "a directory now, no directory when it was listed", errno.EISDIR)
            return
        # ELOOP: a symlink now on the real path found a moment ago (sniff follows none)
        if kind.startswith("unreadable:") and not explicit and int(kind.split(":")[1]) in GONE + (errno.ELOOP,):
            self._changed(path, "removed or renamed since it was listed", int(kind.split(":")[1]))
            return
        if kind == "elf":
            try:
                st, _ = self.session.stat(rp)
            except OSError as e:
                if e.errno in GONE:
                    self._changed(path, "removed or replaced since it was listed", e.errno)
                else:
                    self.findings.add("unreadable", path, "%s: %s" % (path, e.strerror),
                                      severity=NAMED_UNREAD if explicit else None)
                return
            if (st.dev, st.ino) not in seen:
                seen.add((st.dev, st.ino))
                out.append(path)
            else:
                self.outcome[path] = "same-file"
        elif kind.startswith("unreadable"):
            # a file it may not open: code if named like a library, or if anyone may run it
            if explicit or scan.looks_like_library(name) or _executable(host):
                self.findings.add("unreadable", path, "%s: %s" % (path, os.strerror(int(kind.split(":")[1]))),
                                  severity=NAMED_UNREAD if explicit else None)
                self.outcome[path] = "unreadable"
        elif kind == "other" and (explicit or scan.looks_like_library(name)) and not scan.is_linker_script(head):
            self.findings.add("bad-elf", path, "%s: not an ELF file%s" % (
                path, ", though named like a shared library" if scan.looks_like_library(name) else ""))
            self.outcome[path] = "bad-elf"
        else:
            if explicit or scan.looks_like_library(name):
                self.outcome[path] = kind
            self.skipped[kind] = self.skipped.get(kind, 0) + 1

    # ------------------------------------------------------------------ files and roles
    def _record(self, path, obj=None, role=None, program=None) -> Optional[FileRecord]:
        if obj is not None:
            key = (obj.dev, obj.ino)
            rec = self.files.get(key)
            if rec is None:
                rec = self.files[key] = FileRecord(path=obj.realpath or path, realpath=obj.realpath, dev=obj.dev,
                                                   ino=obj.ino, mode=obj.mode, uid=obj.uid, gid=obj.gid,
                                                   roles=set(), users=set())
        else:
            try:
                st, _ = self.session.stat(path)
            except OSError:
                return None
            key = (st.dev, st.ino)
            rec = self.files.get(key)
            if rec is None:
                rec = self.files[key] = FileRecord(path=path, realpath=self._realpath(path), dev=st.dev, ino=st.ino,
                                                   mode=st.mode, uid=st.uid, gid=0, roles=set(), users=set())
        if role:
            rec.roles.add(role)
        if program:
            rec.users.add(program)
        return rec

    # ------------------------------------------------------------------ one input
    def audit_one(self, path):
        try:
            e = self.session.elf(path)
        except OSError as err:
            if err.errno in GONE + (errno.ELOOP,):  # an ELF file when the walk looked, a moment ago
                self._changed(path, "removed, renamed or replaced before it was read", err.errno)
                return
            self.findings.add("unreadable", path, "%s: %s" % (path, err.strerror))
            self.outcome[path] = "unreadable"
            return
        if e.elfclass == 0 or e.defect in ("file too short", "not an ELF file", "invalid ELF class",
                                           "invalid ELF data encoding", "program header size not as expected",
                                           "program headers outside the file", "read error"):
            self.findings.add("bad-elf", path, "%s: %s" % (path, e.defect))
            self.outcome[path] = "bad-elf"
            return
        if e.type not in (ET_EXEC, ET_DYN):
            self.skipped["elf-not-loadable"] = self.skipped.get("elf-not-loadable", 0) + 1
            self.outcome[path] = "elf-not-loadable"
            return
        program = e.interp is not None or e.type == ET_EXEC
        role = "program" if program else "library"
        if not program and e.dynamic_empty and path not in self._named:
            # separate debug info (/usr/lib/debug): ld.so refuses it before it maps anything, so it
            # is no library of the image and needs no x bit (named on its own it is audited, below)
            self.skipped["elf-not-loadable"] = self.skipped.get("elf-not-loadable", 0) + 1
            self.outcome[path] = "elf-not-loadable"
            return
        if not program and not e.loadable and (path in self._named or scan.looks_like_library(os.path.basename(path))):
            # the resolver maps a library named on its own as its main object and passes over these
            # defects there; as a dependency the same file is a load error (ld.so fails or crashes)
            self.findings.add("bad-elf", path, "%s: %s" % (path, e.defect))
            self.outcome[path] = "bad-elf"
            return
        session = self.session_for(e)
        if session is None:
            self.findings.add("foreign-program", path, "%s: ELF%d %s machine %d: not for these loaders (x86-64, "
                              "i386, aarch64)" % (path, 32 if e.elfclass == 1 else 64, "big-endian" if e.msb else
                                                  "little-endian", e.machine))
            self.entries.append(Entry(path, role, None))
            self.outcome[path] = "foreign"
            return
        res = session.resolve(path, as_library=not program, secure=self._secure(path, program),
                              library_path=self.o.library_path, preload=self.o.preload,
                              trace=self.o.explain, check_alone=True)
        self.entries.append(Entry(path, role, res))
        self.outcome[path] = "%s:%s" % (role, res.main_status if res.status == 0 else "error")
        self._judge(path, role, res)

    def session_for(self, e) -> Optional[Session]:
        """The modelled loader of an ELF file's class and machine, None for another architecture."""
        if e.msb:
            return None
        if (e.elfclass, e.machine) in OTHER_LOADERS:
            return self._other_session(e.machine)
        return self.session if (e.elfclass, e.machine) == (2, EM_X86_64) else None

    def _other_session(self, machine) -> Session:
        """The i386 loader, or the aarch64 one (an arm64 image audited from here): each with the
        system directories its ld.so in the image holds (Debian's biarch /lib32 or multiarch
        /lib/i386-linux-gnu...), its ABI's defaults where the image has none."""
        if machine not in self._sessions:
            self._sessions[machine] = Session(root=self.root or None, cwd=self.o.cwd, glibc_minor=self.glibc_minor,
                                              machine=machine)
        return self._sessions[machine]

    def _secure(self, path, program) -> Optional[bool]:
        """AT_SECURE: the option if given; else setuid/setgid bits (the resolver reads those) or
        file capabilities, which the kernel also runs in secure mode."""
        if self.o.secure is not None or not program:
            return self.o.secure
        rp = self._realpath(path)
        try:
            if rp and os.getxattr(scan.host_path(self.root, rp), "security.capability", follow_symlinks=False):
                return True
        except OSError:
            pass
        return None

    def _judge(self, path, role, res: Resolution):
        ms = res.main_status
        if ms == "static":
            self.findings.add("static-program", path, "%s: statically linked" % path)
        elif ms == "musl":
            self.findings.add("musl-program", path, "%s: uses musl's loader %s" % (path, res.interp))
        elif ms in ("not-elf", "corrupt"):
            self.findings.add("bad-elf", path, "%s: %s" % (path, "corrupt ELF file" if ms == "corrupt" else "not ELF"))
        elif ms == "not-found" and res.main_errno in GONE:
            self._changed(path, "removed, renamed or replaced before it was resolved", res.main_errno)
        elif ms == "not-found":
            self.findings.add("unreadable", path, "%s: %s" % (path, os.strerror(res.main_errno)))
        elif ms == "interp-missing":
            self.findings.add("interpreter-missing", path, "%s: its loader %s does not exist%s" % (
                path, res.interp, " in the image" if self.root else ""), key_extra=(res.interp,))
        if not res.objects:
            return
        main = res.objects[0]
        self._record(path, main, role)
        if ms not in ("ok", "interp-missing"):
            return
        for o in res.objects[1:]:
            if o.kind in ("vdso", "missing") or not o.realpath:
                continue
            self._record(o.path, o, "interp" if o.kind == "interp" else "preload" if o.kind == "preload" else "library",
                         program=path)
            self._noexec_load(path, o)
            if role == "program" and os.path.basename(o.realpath).startswith(ASAN_RUNTIMES):
                self.findings.add("sanitizer-runtime", o.realpath,
                                  "%s: AddressSanitizer's runtime: a program that loads it stops at start behind a "
                                  "preloaded shim unless ASAN_OPTIONS=verify_asan_link_order=0" % o.realpath,
                                  program=path)
        for e in res.edges:
            self._edge_finding(path, role, res, e)
        for p in res.problems:
            if p.error in ("no-version-info", "weak-version"):
                continue
            obj = res.objects[p.obj]
            where = obj.realpath or path
            msg = "%s: %s (required by %s)" % (res.objects[p.target].path if p.target >= 0 else where, p.message, where)
            if p.error == "relr":
                msg = "%s: %s" % (where, p.message)
            self.findings.add("symbol-version", where, msg, key_extra=(p.file, p.version, p.error),
                              details={"file": p.file, "version": p.version}, program=path)

    def _noexec_load(self, path, o):
        """An object on a mount the image mounts noexec (its fstab, --noexec-mount): ld.so cannot
        map it executable there, so the program fails to start whatever the policy, as on a live
        noexec mount (where the resolver itself sees the mount: EC_LDE_MAP)."""
        mp = self.root and self.mounts.noexec(o.realpath)
        if mp:
            self.findings.add("library-load-error", o.realpath, "%s: failed to map segment from shared object: on %s, "
                              "mounted noexec (%s)" % (o.realpath, mp, self.mounts.origin.get(mp, "fstab")),
                              key_extra=("map",), program=path)

    def _who(self, res, idx, path):
        o = res.objects[idx]
        return path if o.kind == "main" else (o.realpath or o.path)

    def _edge_finding(self, path, role, res, e):
        src = self._who(res, e.source, path)
        if e.error == "none":
            if e.alone is False:
                t = res.objects[e.target]
                by = "a preload" if t.kind == "preload" else "the loader" if t.kind == "interp" else "another object"
                self.findings.add("loaded-by-luck", src, "%s: needs %s, found only because %s (%s) is already loaded" % (
                    src, e.name, t.path or e.name, by), key_extra=(e.name,), program=path)
            return
        if e.tag in ("LD_PRELOAD", "--preload", "/etc/ld.so.preload"):
            what = "/etc/ld.so.preload" if e.tag == "/etc/ld.so.preload" else e.tag
            self.findings.add("preload-ignored", what, "%s: %s cannot be preloaded (%s): ignored" % (
                what, e.name, e.message), key_extra=(e.name,), program=path)
            return
        if e.tag == "auxiliary" and not e.fatal:
            return  # ld.so ignores an auxiliary filtee it cannot load, by design (not a refused token)
        if e.error in ("dst-secure", "dst-empty"):
            self.findings.add("dynamic-string-token", src, "%s: %s: %s%s" % (
                src, e.name, e.message, "" if e.fatal else " (ld.so goes on without it)"),
                key_extra=(e.name,), program=path)
            return
        details = {"needed": e.name, "expanded": e.expanded}
        if e.tries:
            details["tried"] = [{"path": t[0], "via": t[1], "outcome": _outcome(t[2])} for t in e.tries]
        if e.error in LOAD_ERRORS_NOT_FOUND:
            hint = self._stale_cache_hint(e.expanded or e.name)
            if hint:
                details["hint"] = hint
            if role == "program":
                self.findings.add("missing-library", src, "%s: needs %s, which is not found%s%s" % (
                    src, e.name, " (only a file of the other ELF class)" if e.error == "wrong-class" else "",
                    ("; " + hint) if hint else ""), key_extra=(e.name,), details=details, program=path)
            elif not self.findings.has("missing-library", src, (e.name,)):
                self.findings.add("unresolvable-alone", src, "%s: needs %s, which is not found from it%s" % (
                    src, e.name, ("; " + hint) if hint else ""), key_extra=(e.name,), details=details, program=path)
            return
        bad = e.error_path or e.expanded or e.name
        self.findings.add("library-load-error", bad, "%s: %s (while loading %s for %s)" % (bad, e.message, e.name, src),
                          key_extra=(e.error,), details=details, program=path)

    def _stale_cache_hint(self, name) -> Optional[str]:
        """A missing library present in an ld.so.conf directory: the cache is stale."""
        if "/" in name:
            return None
        for d in self._conf_dirs():
            try:
                self.session.stat(os.path.join(d, name))
            except OSError:
                continue
            return "%s exists in %s (listed in ld.so.conf) but not in ld.so.cache: run ldconfig" % (name, d)
        return None

    def _conf_dirs(self):
        """Directories of /etc/ld.so.conf with its includes, in the image: only to explain a stale
        cache; ld.so itself never reads this file."""
        if not hasattr(self, "_confdirs"):
            self._confdirs = list(dict.fromkeys(ldconf.conf_dirs(self.root or "/")))  # each once, in order
        return self._confdirs

    # ------------------------------------------------------------------ per file
    def judge_files(self):
        for rec in sorted(self.files.values(), key=lambda r: r.path):
            users = sorted(rec.users)
            try:
                rec.live = live_view(self.session.check(rec.realpath or rec.path))
            except OSError as e:
                rec.live = View(False, ["error"], e.strerror or str(e))
            rec.image = image_view(rec.mode, rec.uid, rec.realpath, self.mounts)
            view = rec.image if self.root else rec.live
            if not view.allowed:
                what = "program" if "program" in rec.roles else "loader" if "interp" in rec.roles else "library"
                f = self.findings.add("exec-denied", rec.path, "%s: the exec check would refuse this %s: %s" % (
                    rec.path, what, view.detail or ", ".join(view.reasons)),
                    details={"reasons": view.reasons, "live": rec.live.as_dict(), "image": rec.image.as_dict()})
                f.programs.extend(u for u in users if u not in f.programs)
            self._writable(rec)
            self._rpaths(rec)
            self._mount_helper(rec)

    def _mount_helper(self, rec):
        if "program" not in rec.roles:
            return
        names = {os.path.basename(p) for p in (rec.path, rec.realpath) if p}
        group = "its group (gid %d)" % rec.gid
        who = next(filter(None, (mount_helpers.who_can_mount(n, rec.mode, rec.uid, group) for n in names)), None)
        if who:
            self.findings.add("user-mount-helper", rec.path, "%s: set-user-ID root: %s" % (
                rec.path, mount_helpers.consequence(who)))

    def _stat_dir(self, path):
        if path not in self._dirstat:
            try:
                st, _ = self.session.stat(path)
                self._dirstat[path] = (st.mode, st.uid)
            except OSError:
                self._dirstat[path] = None
        return self._dirstat[path]

    def _writable(self, rec):
        why = []
        if rec.mode & 0o022:
            why.append("the file is writable by %s (mode %04o)" % (_who_writes(rec.mode), stat.S_IMODE(rec.mode)))
        if rec.uid != 0:
            why.append("the file is owned by uid %d" % rec.uid)
        if rec.realpath:
            d = os.path.dirname(rec.realpath)
            st = self._stat_dir(d)
            if st and (st[0] & 0o022 or st[1] != 0):
                why.append("its directory %s is %s" % (
                    d, "writable by %s (mode %04o)" % (_who_writes(st[0]), stat.S_IMODE(st[0])) if st[0] & 0o022
                    else "owned by uid %d" % st[1]))
        if why:
            self.findings.add("writable-code", rec.path, "%s: %s" % (rec.path, "; ".join(why)))

    def _rpaths(self, rec):
        if not rec.realpath:
            return
        try:
            e = self.session.elf(rec.realpath)
        except OSError:
            return
        setid = bool(rec.mode & (stat.S_ISUID | stat.S_ISGID)) or (
            "program" in rec.roles and self.o.secure is None and self._secure(rec.realpath, True) is True)
        for what, value in (("RPATH", e.rpath if e.runpath is None else None), ("RUNPATH", e.runpath)):
            if not value:
                continue
            session = self.session_for(e) or self.session  # whose $LIB and $PLATFORM the element takes
            for el in value.split(":"):
                self._rpath_element(rec, what, value, el, setid, session)

    def _rpath_element(self, rec, what, value, el, setid, session):
        where = "%s %s" % (what, value)
        if el == "":
            self.findings.add("rpath-empty", rec.path, "%s: %s has an empty element: the current directory" % (
                rec.path, where), key_extra=(what,))
            return
        origin = el.startswith(("$ORIGIN", "${ORIGIN}"))
        if origin and setid:
            self.findings.add("rpath-origin-setuid", rec.path, "%s: setuid/setgid/capability program with $ORIGIN in its %s" % (
                rec.path, where), key_extra=(what, el))
        if not origin and not el.startswith("/"):
            self.findings.add("rpath-relative", rec.path, "%s: %s element %r is relative to the current directory" % (
                rec.path, what, el), key_extra=(what, el))
            return
        d = self._expand(el, rec, session)
        if d is None:
            return
        bad = self._insecure_dir(d)
        if bad:
            self.findings.add("rpath-insecure-dir", rec.path, "%s: %s element %r: %s" % (rec.path, what, el, bad),
                              key_extra=(what, el))

    def _expand(self, el, rec, session):
        origin = os.path.dirname(rec.realpath)
        out = el
        for tok, val in (("${ORIGIN}", origin), ("$ORIGIN", origin), ("${LIB}", session.lib_dir),
                         ("$LIB", session.lib_dir), ("${PLATFORM}", session.platform),
                         ("$PLATFORM", session.platform)):
            out = out.replace(tok, val)
        return os.path.normpath(out) if out.startswith("/") else None

    def _insecure_dir(self, d) -> Optional[str]:
        """Why directory d (or the ancestor that would hold it) lets others plant code, else None."""
        path = d
        while True:
            st = self._stat_dir(path)
            if st is not None:
                break
            parent = os.path.dirname(path)
            if parent == path:
                return None
            path = parent
        rp = self._realpath(path) or path
        chain = [rp]
        while chain[-1] != "/":
            chain.append(os.path.dirname(chain[-1]))
        for p in chain:
            st = self._stat_dir(p)
            if st is None:
                continue
            mode, uid = st
            note = "" if p == d else " (%s %s)" % ("which would hold" if path != d else "an ancestor of", d)
            if mode & 0o022:
                return "%s is writable by %s (mode %04o)%s" % (p, _who_writes(mode), stat.S_IMODE(mode), note)
            if uid != 0:
                return "%s is owned by uid %d%s" % (p, uid, note)
        return None

    # ------------------------------------------------------------------ Python code
    def python(self) -> List[dict]:
        trees = [(d, scan.PYTHON_CODE, False, True) for d in self.o.python_dirs]  # named by the user
        if self.root and not self.o.paths:
            # a tree the walk found a directory, gone or no directory now, is the root changing
            # under the audit (its walk says so), as for image prepare: not an unreadable tree, and
            # not, gone between the look here and its listing, "a directory the image lacks"
            trees += [(t, suffixes, listed, False) for t, suffixes, listed in scan.python_code_trees(self.root,
                                                                                                     self.walker)]
        out = []
        for tree, suffixes, listed, named in trees:
            # a tree found by its own path is walked by it, following nothing (its walk says what
            # became of it: gone, or a symlink now, to another of the image's directories too);
            # one named through a symlink is looked up as the link leads now
            rp = tree if listed else self._realpath(tree)
            if not listed and (rp is None or not os.path.isdir(scan.host_path(self.root, rp))):
                if named:
                    self.findings.add("unreadable", tree, "%s: no such Python tree" % tree)
                # else a symlink the walk took for a directory by the host's view of it, that names
                # none in the image (a loop, a link through a file): nothing, as for image prepare
                continue
            total, denied, reasons = 0, [], {}
            for f in scan.python_code(self.root, rp, self.walker, suffixes, listed):
                try:
                    st, _ = self.session.stat(f)
                except OSError as e:
                    self._lookup_failed(f, e.errno, count=False)
                    continue
                if not stat.S_ISREG(st.mode):
                    continue
                total += 1
                frp = self._realpath(f)
                view = image_view(st.mode, st.uid, frp, self.mounts) if self.root else live_view(self.session.check(f))
                if not view.allowed:
                    denied.append(f)
                    for r in view.reasons:
                        reasons[r] = reasons.get(r, 0) + 1
            out.append({"tree": tree, "files": total, "denied": len(denied), "reasons": reasons})
            if denied:
                self.findings.add("python-code-denied", tree, "%s: the exec check would refuse %d of %d Python code "
                                  "files (%s)" % (tree, len(denied), total,
                                                  ", ".join("%s %d" % kv for kv in sorted(reasons.items()))),
                                  details={"files": sorted(denied), "reasons": reasons, "total": total})
        return out

    # ------------------------------------------------------------------ all
    def run(self) -> Result:
        t0 = time.monotonic()
        paths = self.inputs()
        for i, p in enumerate(paths):
            self.progress(i + 1, len(paths), p)
            self.audit_one(p)
        self.judge_files()
        if self.root and not self.o.paths and not any(e.role == "program" for e in self.entries):
            self.findings.add("empty-image", "/", "%s holds no program: is it a root filesystem?" % self.root)
        # a library that cannot find a dependency on its own, where a program meets the same gap
        self.findings.supersede("unresolvable-alone", ("missing-library", "loaded-by-luck"))
        py = self.python()
        loader = {"root": self.root or "/", "glibc": "2.%d" % self.glibc_minor if self.glibc_minor else None,
                  "platform": self.session.platform, "isa_level": self.session.isa_level,
                  "subdirectories": self.session.capstrs(), "system_dirs": self.session.system_dirs(),
                  "lib": self.session.lib_dir, "secure": self.o.secure,
                  "library_path": self.o.library_path, "preload": self.o.preload,
                  "noexec_mounts": sorted(mp for mp, n in self.mounts.mounts.items() if n)}
        for (elfclass, machine), name in OTHER_LOADERS.items():  # programs resolved by those loaders' rules
            s = self._sessions.get(machine)
            if s is not None:
                loader[name] = {"platform": s.platform, "subdirectories": s.capstrs(), "system_dirs": s.system_dirs()}
        return Result(options=self.o, loader=loader, entries=self.entries, files=self.files,
                      findings=self.findings.sorted(), python=py, skipped=self.skipped, outcome=self.outcome,
                      elapsed=time.monotonic() - t0,
                      other_mounts=[scan.image_path(self.root, h) for h in self.walker.other_mounts])


def _is_dir_itself(host) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(host).st_mode)
    except OSError:
        return False


def _executable(host) -> bool:
    """Has the file at host an x bit (a program, whatever its name)?"""
    try:
        return bool(os.stat(host).st_mode & 0o111)
    except OSError:
        return False


def _who_writes(mode):
    who = [w for bit, w in ((0o020, "group"), (0o002, "others")) if mode & bit]
    return " and ".join(who)


def _outcome(code):
    if code == 0:
        return "taken"
    if code > 0:
        return os.strerror(code)
    from .resolver import ERRORS
    return ERRORS[-code]

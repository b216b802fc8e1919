"""The C resolver (csrc/ldresolve.c) seen from Python: what glibc's ld.so would load.

A Session models one loader over one root (the host, or an image with --root); it caches file
lookups and ELF readings by (dev, ino), so resolving many programs costs little more than
resolving one. Resolution results are copied into plain Python objects, because the C result is
only valid until the session's next call.
"""
import dataclasses
import errno
import os
import sys
from typing import List, Optional, Sequence

from .._native import ffi, lib
from ..core import Verdict, _verdict

KINDS = tuple(ffi.string(lib.ec_ld_kind_name(i)).decode() for i in range(lib.EC_LD_KIND_COUNT))
VIAS = tuple(ffi.string(lib.ec_ld_via_name(i)).decode() for i in range(lib.EC_LD_VIA_COUNT))
MAIN_STATUS = tuple(ffi.string(lib.ec_ld_main_status_name(i)).decode() for i in range(lib.EC_LD_MAIN_STATUS_COUNT))
ERRORS = tuple(ffi.string(lib.ec_ld_error_text(i)).decode() for i in range(lib.EC_LDE_COUNT))
ERROR_IDS = ("none", "not-found", "wrong-class", "too-short", "read", "bad-magic", "endian", "ident-version",
             "osabi", "abiversion", "pad", "version", "type", "phentsize", "load-align", "no-load", "exec",
             "no-dynamic", "map", "pie", "fifo", "not-regular", "corrupt", "dst-secure", "dst-empty",
             "version-not-found", "verneed-record", "verdef-record", "verneed-file", "filter-loop", "relr",
             "no-version-info", "weak-version", "preload-name", "nomem")
assert len(ERROR_IDS) == lib.EC_LDE_COUNT
# errors found once the file is chosen (_dl_map_object_from_fd), which ld.so reports under the name asked for
AFTER_OPEN = {"load-align", "no-load", "exec", "no-dynamic", "map", "pie", "corrupt"}
TAGS = {1: "needed", 0x7fffffff: "filter", 0x7ffffffd: "auxiliary", lib.EC_LD_TAG_PRELOAD_ENV: "LD_PRELOAD",
        lib.EC_LD_TAG_PRELOAD_OPT: "--preload", lib.EC_LD_TAG_PRELOAD_FILE: "/etc/ld.so.preload",
        lib.EC_LD_TAG_DLOPEN: "dlopen"}


_NULL = ffi.NULL
# predict_dlopen(cwds=...): an object loaded by a relative name from a directory not known
CWD_UNTOLD = object()
_string = ffi.string


# os.fsdecode's codec: a name from the core must be the str that os.listdir() and argv give for
# the same bytes, and encode back to them (utf-8 under a non-UTF-8 locale made "caf\u00e9" of
# b"caf\xc3\xa9", which the ASCII fsencode of such a locale cannot encode: a traceback)
_FS_ENCODING, _FS_ERRORS = sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()


def _s(p) -> Optional[str]:
    # os.fsdecode, inlined: this runs for every string of every result
    return _string(p).decode(_FS_ENCODING, _FS_ERRORS) if p != _NULL else None


def _b(s) -> bytes:
    b = os.fsencode(s)
    if b"\0" in b:
        raise ValueError("embedded NUL byte in %r" % (s,))
    return b


@dataclasses.dataclass
class ElfInfo:
    """What the small C reader got from a file (csrc/elfinfo.c)."""
    defect: str
    elfclass: int
    msb: bool
    type: int
    machine: int
    interp: Optional[str]
    soname: Optional[str]
    rpath: Optional[str]
    runpath: Optional[str]
    flags: int
    flags_1: int
    needed: List[str]
    deps: List[tuple]          # (tag, name) of NEEDED/FILTER/AUXILIARY in order
    verneed: List[tuple]       # (file, [(name, hash, flags)...])
    verdef: List[tuple]        # (name, hash, flags, version)
    has_relro: bool
    bind_now: bool
    textrel: bool
    stack_flags: Optional[int]  # PT_GNU_STACK p_flags, None if absent
    nload: int                 # PT_LOAD segments read
    loadable: bool             # no defect ld.so stops (or crashes) on as a library (ec_ld_defect_passes)
    dynamic_empty: bool = False  # PT_DYNAMIC with no bytes in the file (separate debug info): ld.so
                                 # refuses it ("object file has no dynamic section") before mapping

    @property
    def ok(self) -> bool:
        return self.defect == "ok"


def elf_from_c(e) -> ElfInfo:
    return ElfInfo(
        defect=ffi.string(lib.ec_elf_defect_text(e.defect)).decode(),
        elfclass=e.elfclass, msb=bool(e.msb), type=e.type, machine=e.machine,
        interp=_s(e.interp), soname=_s(e.soname), rpath=_s(e.rpath), runpath=_s(e.runpath),
        flags=e.flags, flags_1=e.flags_1,
        needed=[_s(e.deps[i].name) for i in range(e.ndeps) if e.deps[i].tag == 1],
        deps=[(e.deps[i].tag, _s(e.deps[i].name)) for i in range(e.ndeps)],
        verneed=[(_s(e.verneed[i].file),
                  [(_s(e.verneed[i].aux[k].name), e.verneed[i].aux[k].hash, e.verneed[i].aux[k].flags)
                   for k in range(e.verneed[i].naux)]) for i in range(e.nverneed)],
        verdef=[(_s(e.verdef[i].name), e.verdef[i].hash, e.verdef[i].flags, e.verdef[i].version)
                for i in range(e.nverdef)],
        has_relro=bool(e.has_relro), bind_now=bool(e.has_bind_now), textrel=bool(e.has_textrel),
        stack_flags=e.stack_flags if e.has_stack else None, nload=e.nload,
        loadable=bool(lib.ec_ld_defect_passes(e)),
        dynamic_empty=bool(e.dynamic_empty),
    )


def _read_c_elf(path, take, fd=None, size=0):
    """take(struct ec_elf *) of one file read with the C reader, while its memory lives. Raises
    OSError if it cannot be opened or is not regular. fd: read that open regular file of size
    bytes instead (path only names it)."""
    arena = ffi.new("struct ec_arena *")
    lib.ec_arena_init(arena, 256 << 20)
    try:
        e = ffi.new("struct ec_elf *")
        r = lib.ec_elf_read_path(_b(path), arena, e) if fd is None else lib.ec_elf_read(fd, size, arena, e)
        if r < 0:
            raise OSError(-r, os.strerror(-r), os.fspath(path))
        return take(e)
    finally:
        lib.ec_arena_free(arena)


def read_elf(path) -> ElfInfo:
    """Reads one file with the C reader. Raises OSError if it cannot be opened or is not regular."""
    return _read_c_elf(path, elf_from_c)


def elf_type(path, fd=None, size=0):
    """(e_type, dynamic_empty) of one file, 0 for e_type when it is no ELF file: read_elf's answer
    for these two without building the rest (a walk over every file of an image asks this). fd:
    the file open already, of size bytes (path names it in errors). A read that fails (EIO) is an
    OSError: such a file is not known to be no ELF file."""
    def take(e):
        if e.defect == lib.EC_ELF_READ_ERROR:
            err = e.read_err or errno.EIO
            raise OSError(err, os.strerror(err), os.fspath(path))
        return e.type if e.elfclass else 0, bool(e.dynamic_empty)
    return _read_c_elf(path, take, fd, size)


@dataclasses.dataclass
class LoadedObject:
    index: int
    kind: str
    path: Optional[str]        # as the loader spelled it ("" for the executed program)
    name: Optional[str]        # the name it was first asked for
    realpath: Optional[str]
    loader: int
    via: str
    via_object: int
    depth: int
    searchlist: int
    dev: int
    ino: int
    size: int
    mode: int
    uid: int
    gid: int
    noexec: bool
    elf: Optional[ElfInfo]


@dataclasses.dataclass
class Edge:
    source: int
    tag: str
    name: str
    expanded: Optional[str]
    target: int
    via: str
    via_object: int
    error: str                 # an id of ERROR_IDS, "none" when it loaded
    message: str
    errno: int
    error_path: Optional[str]
    fatal: bool
    alone: Optional[bool]      # satisfied only because already loaded? (False), None when not asked
    tries: List[tuple]         # (path, via, outcome) with trace


@dataclasses.dataclass
class Problem:
    obj: int
    target: int
    error: str
    message: str
    fatal: bool
    file: Optional[str]
    version: Optional[str]


@dataclasses.dataclass
class Resolution:
    path: str
    status: int                # 0 or -errno
    main_status: str
    main_errno: int
    interp: Optional[str]
    secure: bool
    starts: bool
    failure_edge: int
    failure_problem: int
    objects: List[LoadedObject]
    edges: List[Edge]
    problems: List[Problem]
    first_new: int = 0         # predict_dlopen: objects[first_new:] are what the dlopen would add
    origin_untold: bool = False  # predict_dlopen: a search needed the $ORIGIN of a CWD_UNTOLD object

    def loaded(self) -> List[LoadedObject]:
        """Objects with a file that the loader maps (not the missing names, not the vDSO)."""
        return [o for o in self.objects if o.kind not in ("missing", "vdso")]

    def failure(self) -> Optional[str]:
        """The first error that stops the program, worded as ld.so words it."""
        if self.failure_edge >= 0:
            e = self.edges[self.failure_edge]
            # ld.so names the candidate file for what open_verify rejects, the name asked for after
            where = (e.expanded or e.name) if e.error in AFTER_OPEN else (e.error_path or e.expanded or e.name)
            return "%s: %s" % (where, e.message)
        if self.failure_problem >= 0:
            p = self.problems[self.failure_problem]
            return p.message
        return None


class Session:
    """One modelled loader. root: an image directory (None for this host). Options mirror what the
    loader would be given; None means "as on this machine". machine: the ELF e_machine of the loader
    modelled, 3 (i386) or 183 (aarch64); 0 for x86_64's."""

    def __init__(self, root=None, cwd=None, cache=None, preload_file=None, platform=None, isa_level=0,
                 legacy_hwcap=0, system_dirs=None, lib_dir=None, interp=None, vdso=True, memory_limit=0,
                 glibc_minor=0, machine=0):
        self._keep = []
        cfg = ffi.new("struct ec_ld_config *")
        for field, value in (("root", root), ("cwd", cwd), ("cache", cache), ("preload_file", preload_file),
                             ("platform", platform), ("system_dirs", system_dirs), ("lib", lib_dir),
                             ("interp", interp)):
            if value is not None:
                c = ffi.new("char[]", _b(value))
                self._keep.append(c)
                setattr(cfg, field, c)
        cfg.isa_level = isa_level
        cfg.legacy_hwcap = legacy_hwcap
        cfg.no_vdso = 0 if vdso else 1
        cfg.memory_limit = memory_limit
        cfg.glibc_minor = glibc_minor  # the search rules of glibc 2.<minor> (0: 2.36's)
        cfg.machine = machine  # that loader's rules and defaults (csrc/ldresolve.c, struct ld_abi)
        err = ffi.new("int *")
        s = lib.ec_ld_session_new(cfg, err)
        if s == ffi.NULL:
            raise OSError(-err[0], "cannot model the loader: %s" % os.strerror(-err[0]), root or "/")
        self._s = ffi.gc(s, lib.ec_ld_session_free)
        self._elfs = {}
        self.root = root

    # --- facts
    @property
    def platform(self) -> str:
        return ffi.string(lib.ec_ld_platform(self._s)).decode()

    @property
    def isa_level(self) -> int:
        return lib.ec_ld_isa_level(self._s)

    @property
    def lib_dir(self) -> str:
        """What the loader expands $LIB to ("lib/x86_64-linux-gnu")."""
        return ffi.string(lib.ec_ld_lib(self._s)).decode()

    def system_dirs(self) -> List[str]:
        """The loader's built-in directories, in its order, without their trailing '/'."""
        return [ffi.string(lib.ec_ld_sysdir(self._s, i)).decode().rstrip("/") or "/"
                for i in range(lib.ec_ld_sysdir_count(self._s))]

    def capstrs(self) -> List[str]:
        return [ffi.string(lib.ec_ld_capstr(self._s, i)).decode() for i in range(lib.ec_ld_capstr_count(self._s))]

    def cache_entries(self) -> Optional[List[tuple]]:
        """(soname, path, flags, hwcap, hwcaps subdir) of the session's ld.so.cache, None if unusable."""
        c = lib.ec_ld_cache(self._s)
        if c == ffi.NULL:
            return None
        out, ent = [], ffi.new("struct ec_ldcache_entry *")
        for i in range(c.nlibs):
            lib.ec_ldcache_entry(c, i, ent)
            out.append((_s(ent.key), _s(ent.value), ent.flags, ent.hwcap, _s(ent.hwcaps_subdir)))
        return out

    # --- files in the image
    def stat(self, path):
        """(Verdict-like identity, noexec) of path in the image; raises OSError."""
        v = ffi.new("struct ec_verdict *")
        noexec = ffi.new("int *")
        r = lib.ec_ld_stat(self._s, _b(path), v, noexec)
        if r < 0:
            raise OSError(-r, os.strerror(-r), path)
        return _verdict(path, v), bool(noexec[0])

    def elf(self, path) -> ElfInfo:
        """The C reader's view of path in the image (cached per inode); raises OSError."""
        err = ffi.new("int *")
        e = lib.ec_ld_elf(self._s, _b(path), err)
        if e == ffi.NULL:
            raise OSError(err[0], os.strerror(err[0]), path)
        key = int(ffi.cast("uintptr_t", e))
        info = self._elfs.get(key)
        if info is None:
            info = self._elfs[key] = elf_from_c(e)
        return info

    def check(self, path) -> Verdict:
        """AT_EXECVE_CHECK on path opened in the image (this host's mounts, LSMs and credentials)."""
        v = ffi.new("struct ec_verdict *")
        r = lib.ec_ld_check(self._s, _b(path), v)
        if r < 0:
            raise OSError(-r, os.strerror(-r), path)
        return _verdict(path, v)

    def realpath(self, path) -> str:
        buf = ffi.new("char[]", 4096)
        r = lib.ec_ld_realpath(self._s, _b(path), buf, 4096)
        if r < 0:
            raise OSError(-r, os.strerror(-r), path)
        return os.fsdecode(ffi.string(buf))

    # --- resolution
    def _request(self, path, as_library, secure, library_path, preload, preload_opt, trace, check_alone):
        req = ffi.new("struct ec_ld_request *")
        keep = []
        for field, value in (("path", path), ("library_path", library_path), ("preload", preload),
                             ("preload_opt", preload_opt)):
            if value is not None:
                c = ffi.new("char[]", _b(value))
                keep.append(c)
                setattr(req, field, c)
        req.as_library = 1 if as_library else 0
        req.secure = -1 if secure is None else (1 if secure else 0)
        req.trace = 1 if trace else 0
        req.check_alone = 1 if check_alone else 0
        return req, keep

    def resolve(self, path, as_library=False, secure=None, library_path=None, preload=None, preload_opt=None,
                trace=False, check_alone=False) -> Resolution:
        """What ld.so would load to start `path` (a program), or for `ld.so --list path` (as_library).
        secure: None = from the file's setuid/setgid bits."""
        req, _keep = self._request(path, as_library, secure, library_path, preload, preload_opt, trace, check_alone)
        return self._convert(path, lib.ec_ld_resolve(self._s, req))

    def predict_dlopen(self, path, loaded: Sequence[str], name: str, caller: int = -1, names=None,
                       library_path=None, preload=None, secure=None, trace=False, cwds=None) -> Resolution:
        """What dlopen(name) called from loaded[caller] would add to a process of `path` whose link
        map holds `loaded` (l_name strings, main first). cwds[i]: the directory an object loaded by
        a relative name was loaded from (its $ORIGIN's), CWD_UNTOLD, or None for the current one."""
        req, keep = self._request(path, False, secure, library_path, preload, None, trace, False)
        cl = [ffi.new("char[]", _b(x)) for x in loaded]
        cn = [ffi.new("char[]", _b(x)) if x else ffi.NULL for x in (names or [None] * len(loaded))]
        untold = ffi.cast("char *", 1)  # EC_LD_CWD_UNTOLD
        cc = [untold if x is CWD_UNTOLD else ffi.new("char[]", _b(x)) if x else ffi.NULL
              for x in (cwds or [None] * len(loaded))]
        arr = ffi.new("char *[]", cl + [ffi.NULL])
        narr = ffi.new("char *[]", cn + [ffi.NULL])
        carr = ffi.new("char *[]", cc + [ffi.NULL])
        cname = ffi.new("char[]", _b(name))  # the result points into it: alive until converted
        r = lib.ec_ld_predict_dlopen(self._s, req, arr, narr, carr, len(cl), caller, cname)
        return self._convert(path, r)

    def _convert(self, path, r) -> Resolution:
        # ELF readings live in the session's persistent memory, one per inode: convert each once
        elfs = self._elfs

        def elf(p):
            if p == ffi.NULL:
                return None
            key = int(ffi.cast("uintptr_t", p))
            info = elfs.get(key)
            if info is None:
                info = elfs[key] = elf_from_c(p)
            return info

        objects = []
        for i in range(r.nobjects):
            o = r.objects[i]
            objects.append(LoadedObject(
                index=i, kind=KINDS[o.kind], path=_s(o.path), name=_s(o.name), realpath=_s(o.realpath),
                loader=o.loader, via=VIAS[o.via], via_object=o.via_object, depth=o.depth, searchlist=o.searchlist,
                dev=o.dev, ino=o.ino, size=o.size, mode=o.mode, uid=o.uid, gid=o.gid, noexec=bool(o.noexec),
                elf=elf(o.elf)))
        edges = []
        for i in range(r.nedges):
            e = r.edges[i]
            tries = [(_s(r.tries[k].path), VIAS[r.tries[k].via], r.tries[k].outcome)
                     for k in range(e.first_try, e.first_try + e.ntries)] if r.ntries else []
            edges.append(Edge(
                source=getattr(e, "from"), tag=TAGS.get(e.tag, str(e.tag)), name=_s(e.name),
                expanded=_s(e.expanded), target=e.to, via=VIAS[e.via], via_object=e.via_object,
                error=ERROR_IDS[e.error], message=ERRORS[e.error], errno=e.err, error_path=_s(e.error_path),
                fatal=bool(e.fatal), alone=None if e.alone < 0 else bool(e.alone), tries=tries))
        problems = []
        for i in range(r.nproblems):
            p = r.problems[i]
            msg = ERRORS[p.error]
            version = _s(p.version)
            if p.error in (lib.EC_LDE_VERSION_NOT_FOUND, lib.EC_LDE_WEAK_VERSION):
                msg = "%sversion `%s' not found" % ("weak " if p.error == lib.EC_LDE_WEAK_VERSION else "", version)
            problems.append(Problem(obj=p.object, target=p.target, error=ERROR_IDS[p.error], message=msg,
                                    fatal=bool(p.fatal), file=_s(p.file), version=version))
        return Resolution(
            path=os.fspath(path), status=r.status, main_status=MAIN_STATUS[r.main_status], main_errno=r.main_err,
            interp=_s(r.interp), secure=bool(r.secure), starts=bool(r.starts), failure_edge=r.failure_edge,
            failure_problem=r.failure_problem, objects=objects, edges=edges, problems=problems,
            first_new=r.first_new, origin_untold=bool(r.origin_untold))

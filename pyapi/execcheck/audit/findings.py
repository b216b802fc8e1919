"""The audit's findings: stable rule ids, severities, and one finding per problem.

A problem is reported once however many programs run into it: the key of a finding is its rule
plus what it is about (the file, and the name or directory concerned); the programs that meet it
are listed with it.
"""
import dataclasses
from typing import Dict, List, Optional, Tuple

SEVERITIES = ("note", "warning", "error")  # ascending


@dataclasses.dataclass(frozen=True)
class Rule:
    id: str
    name: str
    severity: str
    summary: str


RULES = {r.id: r for r in (
    Rule("EXC001", "missing-library", "error",
         "A needed library cannot be found: ld.so stops the program before main()."),
    Rule("EXC002", "library-load-error", "error",
         "A file the loader picks stops it: not ELF, truncated, a directory, on a noexec mount, the wrong type."),
    Rule("EXC003", "symbol-version", "error",
         "The library that loads lacks a symbol version the object requires: ld.so stops the program."),
    Rule("EXC004", "interpreter-missing", "error",
         "The program's PT_INTERP loader is not in the image: exec fails with ENOENT."),
    Rule("EXC005", "unresolvable-alone", "warning",
         "A shared object cannot be loaded on its own (by dlopen from a program that does not provide its "
         "dependencies): a needed library is not found from it."),
    Rule("EXC006", "loaded-by-luck", "warning",
         "A dependency is satisfied only because another object already loaded a library of that name; "
         "searched for, it would not be found."),
    Rule("EXC007", "preload-ignored", "warning",
         "A preload entry cannot be loaded: ld.so prints an error and goes on without it."),
    Rule("EXC008", "dynamic-string-token", "error",
         "A DT_NEEDED (or filtee) with $ORIGIN/$LIB/$PLATFORM cannot be used: refused in secure mode (the program "
         "stops), or it has no value (a DT_AUXILIARY stops the program, a DT_NEEDED or DT_FILTER is skipped)."),
    Rule("EXC010", "exec-denied", "warning",
         "AT_EXECVE_CHECK would refuse this code file: enforcing the exec policy would stop what loads it."),
    Rule("EXC020", "rpath-relative", "warning",
         "An RPATH/RUNPATH element is relative: libraries are looked up from the process's current directory."),
    Rule("EXC021", "rpath-empty", "warning",
         "An RPATH/RUNPATH element is empty: it means the process's current directory."),
    Rule("EXC022", "rpath-insecure-dir", "error",
         "An RPATH/RUNPATH directory (or an ancestor) is writable by group or others, or not owned by root: "
         "whoever can write there chooses the code the program runs."),
    Rule("EXC023", "rpath-origin-setuid", "error",
         "A setuid/setgid program (or one with file capabilities) uses $ORIGIN: hard links let users choose "
         "its libraries (ld.so drops such elements outside trusted directories)."),
    Rule("EXC030", "writable-code", "error",
         "A code file or its directory is writable by group or others, or owned by a non-root user."),
    Rule("EXC040", "static-program", "note",
         "A statically linked program: no dynamic loader, so no loader shim checks its code; only the "
         "kernel's exec check applies."),
    Rule("EXC041", "musl-program", "note",
         "A musl program: its loader follows other rules and no glibc loader shim covers it (the shim "
         "stays inert in it)."),
    Rule("EXC042", "foreign-program", "note",
         "Another architecture than the loaders modelled (x86_64, i386, aarch64): not resolved, and no shim is "
         "built for it (its ld.so warns and runs it unchecked)."),
    Rule("EXC043", "sanitizer-runtime", "note",
         "The program loads AddressSanitizer's runtime, which stops it at start when any object is preloaded "
         "before it (the shim in /etc/ld.so.preload or LD_PRELOAD): ASAN_OPTIONS=verify_asan_link_order=0 lets "
         "it run."),
    Rule("EXC044", "user-mount-helper", "warning",
         "A set-user-ID-root FUSE mount helper (fusermount): users mount filesystems of their own that are not "
         "noexec, whose files have the modes their daemon reports, so a file they can read passes the exec check "
         "there: noexec mounts do not hold against them (only an LSM such as Landlock or IPE does)."),
    Rule("EXC050", "bad-elf", "warning",
         "A file named or used like a library or program is not a valid ELF file (truncated, corrupt, not ELF)."),
    Rule("EXC051", "unreadable", "warning", "A file could not be examined."),
    Rule("EXC052", "missing-input", "error",
         "A path named on the command line does not exist: a typo, or a path of another root, audits nothing."),
    Rule("EXC053", "empty-image", "error",
         "The root (--root) holds no program at all: not a root filesystem, or not the one meant."),
    Rule("EXC054", "changed-during-audit", "warning",
         "A file the walk listed was removed, renamed or replaced before it was read: the tree changed during the "
         "audit, so what was there was not examined (audit again once the tree is still)."),
    Rule("EXC060", "python-code-denied", "warning",
         "Python code the exec policy would refuse: an interpreter that obeys the check cannot import it."),
)}
RULE_BY_NAME = {r.name: r for r in RULES.values()}


@dataclasses.dataclass
class Finding:
    rule: str                  # rule id
    path: str                  # the file it is about (an image path under --root)
    message: str
    severity: str
    key: Tuple                 # what makes it one problem
    details: Dict = dataclasses.field(default_factory=dict)
    programs: List[str] = dataclasses.field(default_factory=list)

    @property
    def name(self) -> str:
        return RULES[self.rule].name

    def as_dict(self) -> dict:
        return {"id": self.rule, "rule": self.name, "severity": self.severity, "path": self.path,
                "message": self.message, "details": self.details, "programs": sorted(self.programs)}


class Findings:
    """Collects findings, merging repeats of the same problem."""

    def __init__(self):
        self._by_key: Dict[Tuple, Finding] = {}

    def add(self, rule_name: str, path: str, message: str, key_extra=(), details=None, program: Optional[str] = None,
            severity: Optional[str] = None) -> Finding:
        rule = RULE_BY_NAME[rule_name]
        key = (rule.id, path) + tuple(key_extra)
        f = self._by_key.get(key)
        if f is None:
            f = self._by_key[key] = Finding(rule=rule.id, path=path, message=message,
                                            severity=severity or rule.severity, key=key, details=dict(details or {}))
        elif severity and SEVERITIES.index(severity) > SEVERITIES.index(f.severity):
            f.severity, f.message = severity, message
        if program and program not in f.programs:
            f.programs.append(program)
        return f

    def has(self, rule_name: str, path: str, key_extra=()) -> bool:
        return (RULE_BY_NAME[rule_name].id, path) + tuple(key_extra) in self._by_key

    def supersede(self, weaker: str, stronger: Tuple[str, ...]):
        """Drops findings of rule `weaker` that another rule already reports for the same thing
        (same path and key), keeping their programs with it: one problem, one finding."""
        weak_id = RULE_BY_NAME[weaker].id
        strong_ids = {RULE_BY_NAME[n].id for n in stronger}
        for key, f in list(self._by_key.items()):
            if f.rule != weak_id:
                continue
            for sid in strong_ids:
                other = self._by_key.get((sid,) + key[1:])
                if other is not None:
                    other.programs.extend(p for p in f.programs if p not in other.programs)
                    del self._by_key[key]
                    break

    def sorted(self) -> List[Finding]:
        return sorted(self._by_key.values(),
                      key=lambda f: (-SEVERITIES.index(f.severity), f.rule, f.path, f.message))


def at_least(severity: str, threshold: str) -> bool:
    return SEVERITIES.index(severity) >= SEVERITIES.index(threshold)

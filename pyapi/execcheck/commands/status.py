"""execcheck status: what this kernel, this process and this system enforce."""
import argparse
import errno
import os
import stat

from .. import kernel, mount_helpers
from ..core import check, config_statement, policy, securebits
from ..shim import (I386_LOADER, LD_AUDIT_NAME_MAX, LD_SO_PRELOAD, audit_name_too_long, damage, expand_lib,
                    faces_in_process, has_lib_token, lib_path, list_separator_in, multilib_path, names_shim,
                    read_ld_so_preload)
from ..stdout import terminal_columns, wrapped
from .output import print_json, printable

ORDER = 20
HELP = "show kernel support, securebits, LSMs, the shim and the policy in force"
SYSLOG_SOCKET = "/dev/log"  # where csrc/sinks.c sends syslog records


def _is_socket(path) -> bool:
    try:
        return stat.S_ISSOCK(os.stat(path).st_mode)
    except OSError:
        return False


def _log_file_problem(path) -> str:
    """Why the shim could not append a record to path, "" if it could: csrc/sinks.c opens it with
    O_CREAT | O_NOFOLLOW and writes only to a regular file."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return "" if os.path.isdir(os.path.dirname(path) or ".") else "is in a directory that does not exist"
    except OSError as e:  # a sentence, as the others ("/etc/passwd/x not a directory: ..." was none)
        return "cannot be looked up (%s)" % (e.strerror or str(e)).lower()
    if stat.S_ISLNK(st.st_mode):
        return "is a symlink, which the shim does not follow"
    return "" if stat.S_ISREG(st.st_mode) else "is not a regular file"


DESCRIPTION = """Shows, one line each: the kernel's AT_EXECVE_CHECK support; this process's securebits; the
active LSMs and Landlock ABI; whether user namespaces can reset the securebits; vm.memfd_noexec;
the seccomp filter this process runs under and what it does to the check (probed from a child);
the shim, which copies of it this process has, and /etc/ld.so.preload; the config and the policy
in force, with where each setting came from; where records go (and whether they are lost); the
fail-open cases it can see; and a missing /proc (which makes an enforcing shim refuse everything).

examples:
  execcheck status
  execcheck status --json        the same as one object (fail_open: what runs unchecked here)

exit status: 0 (it reports; it does not judge)."""


def add_parser(sub):
    p = sub.add_parser("status", help=HELP, description=DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run)


def gather() -> dict:
    sc, sc_text = kernel.seccomp()  # first: under a filter that kills for execveat, checks are then made safely
    supported, support_text = kernel.execve_check_support()
    try:
        bits = securebits()
        bits_info = {"value": "0x%x" % int(bits), "names": bits.names()}
    except OSError as e:
        bits_info = {"value": None, "error": str(e)}
    ll_abi, ll_text = kernel.landlock_abi()
    userns, userns_text = kernel.userns_reset()
    memfd, memfd_text = kernel.memfd_noexec()

    shim = lib_path()
    shim_info = {"path": shim, "exists": os.path.exists(shim), "i386": None, "multilib": multilib_path()}
    if os.path.exists(lib_path("i386")):
        shim_info["i386"] = lib_path("i386")
    # a cross-built shim runs in no process here: `image install` gives it to arm64 images
    cross = lib_path("aarch64")
    shim_info["aarch64_images"] = cross if cross != shim and os.path.exists(cross) else None
    if shim_info["exists"]:
        shim_info["damage"] = damage(shim) or None
        v = check(shim)
        shim_info["passes_check"] = v.allowed
        if not v.allowed:
            shim_info["reason"] = v.reason
    try:
        entries = read_ld_so_preload()
        preload = {"path": LD_SO_PRELOAD, "entries": entries, "names_shim": any(names_shim(e, shim) for e in entries)}
    except OSError as e:
        preload = {"path": LD_SO_PRELOAD, "error": e.strerror, "errno": e.errno}

    pol = policy()
    fail_open = []
    if shim_info.get("damage"):
        fail_open.append("the shim %s is damaged (%s): ld.so ignores it, and the programs it should check run "
                         "unchecked (reinstall execcheck)" % (shim, shim_info["damage"]))
    for e in preload.get("entries", []):
        if "/" in e and not os.path.exists(expand_lib(e)):
            what = "the shim" if os.path.basename(e) == os.path.basename(shim) else "a library"
            fail_open.append("%s names %s that is missing (%s): glibc prints a warning and runs every "
                             "program without it" % (LD_SO_PRELOAD, what, e))
    sep = list_separator_in(shim)
    if sep:
        fail_open.append("the shim's path has a %s in it, where glibc splits LD_PRELOAD: `execcheck run` "
                         "refuses, and a shim loaded from there does not put itself in its children" % sep)
    fail_open += _long_audit_names(shim, preload.get("entries", []))
    fail_open += _closed_to_other_users(shim)
    faces = faces_in_process()
    shim_info["this_process"] = faces
    fail_open += _environment_fail_open(shim, faces)
    fail_open += _i386_fail_open(shim, preload.get("entries", []))
    if preload.get("errno") == errno.EACCES:
        # ld.so opens the file with the process's own rights and, refused, preloads nothing, silently
        fail_open.append("%s cannot be read by this user, and ld.so reads it with the rights of the program it "
                         "starts: none of its entries is loaded in this user's programs (set-user-ID ones aside); "
                         "it must be readable by all (0644)" % LD_SO_PRELOAD)
    if preload.get("names_shim"):
        fail_open.append("setuid/setgid programs get only the preload face: ld.so ignores LD_AUDIT paths in "
                         "secure mode (their children are put back under the audit face)")
    else:
        fail_open.append("setuid/setgid programs and programs with file capabilities (sudo, su, ping) run without "
                         "the shim, and so does what they start: in secure mode ld.so takes no audit or preload path from "
                         "the environment (and removes them from it), and %s does not name the shim" % LD_SO_PRELOAD)
    fail_open.append("static programs and musl programs run no glibc loader: no loader shim covers them")
    if userns:
        fail_open.append("unprivileged user namespaces reset the exec securebits (locks do not hold) and " +
                         mount_helpers.USERNS_MOUNT)
    fuse = _fuse_mount_helpers()
    for h in fuse:
        fail_open.append("%s is set-user-ID root: %s" % (h["path"], mount_helpers.consequence(h["who"])))
    if not supported:
        fail_open.append("the kernel cannot check files: every check fails as 'unsupported'")
    proc = kernel.proc_mounted()
    loader = _loader()

    policy_info = pol.as_dict()
    sinks = policy_info["sinks"]
    # records whose sinks all fail (a syslog nobody listens on, a log_file that is no file) are
    # lost, silently by design (the shim prints nothing in other people's processes): say so here
    log_file_problem = _log_file_problem(policy_info["log_file"]) if "file" in sinks else ""
    broken = {"syslog": not _is_socket(SYSLOG_SOCKET), "file": bool(log_file_problem)}
    records_lost = bool(sinks) and all(broken.get(x, False) for x in sinks)
    return {
        "records_lost": records_lost,
        "log_file_problem": log_file_problem or None,
        "proc_mounted": proc,
        "kernel": {"release": os.uname().release, "execve_check": supported, "execve_check_text": support_text},
        "securebits": bits_info,
        "lsm": {"active": kernel.active_lsms(), "landlock_abi": ll_abi, "landlock": ll_text},
        "userns_resets_securebits": {"value": userns, "text": userns_text},
        "setuid_fuse_mount_helpers": fuse,
        "memfd_noexec": {"value": memfd, "text": memfd_text},
        "seccomp": {"value": sc, "text": sc_text},
        "shim": shim_info,
        "loader": loader,
        "ld_so_preload": preload,
        "policy": policy_info,
        "fail_open": fail_open,
    }


def _environment_fail_open(shim, faces) -> list:
    """What this process's own loader variables leave unchecked (the shim's children get the same
    lists, with the shim put first)."""
    out = []
    for var, seps in (("LD_AUDIT", ":"), ("LD_PRELOAD", ": \t")):
        value = os.environ.get(var, "")
        for c in seps[1:]:
            value = value.replace(c, seps[0])
        entries = [e for e in value.split(seps[0]) if e]
        for e in entries:
            if "/" in e and not os.path.exists(expand_lib(e)):
                out.append("%s names %s, which is missing: glibc prints a warning and runs the program without it"
                           % (var, e))
        if var == "LD_AUDIT":
            out += ["LD_AUDIT names the shim as %s, longer than the %d bytes ld.so takes of a name: ld.so skips "
                    "it without a word, here and in the children" % (e, LD_AUDIT_NAME_MAX) for e in entries
                    if audit_name_too_long(e) and names_shim(e, shim)]
        if var == "LD_AUDIT" and entries and any(names_shim(e, shim) for e in entries) and \
                not names_shim(entries[0], shim):
            out.append("LD_AUDIT lists %s before the shim: an audit module before it runs unchecked" % entries[0])
    if faces.get("preload_face_only"):
        out.append("this process has only the preload face: what was loaded before the shim ran before it was "
                   "checked, and libc's own loads (gconv, NSS) are checked only at the next dlopen")
    return out


def _long_audit_names(shim, preload_entries) -> list:
    """The names children are given for the shim in LD_AUDIT (the one `execcheck run` gives, an
    /etc/ld.so.preload entry naming it) that ld.so skips for their length."""
    names = [multilib_path() or shim] + [e for e in preload_entries if names_shim(e, shim)]
    return ["the shim's name %s is longer than the %d bytes ld.so takes of an LD_AUDIT name: the children of "
            "shimmed processes run without the audit face (the preload face alone: a preloaded library's code runs "
            "before the tripwire stops it), and `execcheck run` refuses" % (e, LD_AUDIT_NAME_MAX)
            for e in dict.fromkeys(names) if audit_name_too_long(e)]


# where a user's shell finds programs (/etc/login.defs' ENV_SUPATH and ENV_PATH); libfuse runs
# fusermount from its own build-time directory (/usr/bin or /bin) or else from PATH
FUSE_HELPER_DIRS = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


def _fuse_mount_helpers(dirs=FUSE_HELPER_DIRS) -> list:
    """The set-user-ID-root FUSE mount helpers users can run, each as {"path", "who"} (who: "any
    user", or the group whose members may). A directory that is a symlink to another (/bin ->
    usr/bin) names the same file once."""
    found, seen = [], set()
    for d in dirs:
        for name in mount_helpers.NAMES:
            p = os.path.join(d, name)
            try:
                st = os.stat(p)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            who = mount_helpers.who_can_mount(name, st.st_mode, st.st_uid, "group %s" % _group_name(st.st_gid))
            if who:
                found.append({"path": p, "who": who})
    return found


def _group_name(gid) -> str:
    import grp  # only when needed: a process that gave up root may no longer reach the interpreter's modules
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _closed_to_other_users(shim) -> list:
    """A shim that users other than its owner cannot read (a directory on its path without o+x, the
    file without o+r; ACLs are not read): what a shimmed program starts after it gave up root
    cannot load it, so the exec wrappers refuse such starts enforcing (propagate.c) and let them run
    without the shim in audit mode."""
    path = os.path.realpath(shim)
    steps, d = [(path, stat.S_IROTH)], os.path.dirname(path)
    while d != os.path.dirname(d):
        steps.append((d, stat.S_IXOTH))
        d = os.path.dirname(d)
    for p, bit in reversed(steps):
        try:
            mode = os.stat(p).st_mode
        except OSError:
            return []
        if not mode & bit:
            return ["the shim %s is closed to other users (%s is mode %o): a program that gives up root cannot "
                    "start programs when enforcing, and starts them without the shim in audit mode"
                    % (shim, p, stat.S_IMODE(mode))]
    return []


def _i386_fail_open(shim, preload_entries) -> list:
    """32-bit programs: their ld.so loads only a 32-bit shim, named through $LIB."""
    if not os.path.exists(I386_LOADER):
        return []
    if not os.path.exists(lib_path("i386")):
        return ["32-bit programs run unchecked: a 32-bit loader is installed (%s) but no 32-bit shim was built "
                "(install execcheck with gcc-multilib there)" % I386_LOADER]
    named = [e for var in ("LD_AUDIT", "LD_PRELOAD") for e in os.environ.get(var, "").replace(" ", ":").split(":")
             if e and names_shim(e, shim)]
    named += [e for e in preload_entries if names_shim(e, shim)]
    if any(not has_lib_token(e) for e in named):
        return ["32-bit programs started from here run unchecked: the shim is named by its 64-bit path, which "
                "a 32-bit ld.so cannot load (name it as `execcheck lib --multilib` prints)"]
    return []


def _loader() -> dict:
    """Where this system's ld.so looks last, and its $LIB: what the shim's dlopen guard and the
    audit take from it (csrc/ldsysdirs.c); an error where it cannot be modelled."""
    try:
        from ..audit.resolver import Session
        s = Session()
        return {"system_dirs": s.system_dirs(), "lib": s.lib_dir}
    except OSError as e:
        return {"error": str(e)}


def _yes(b):
    return "yes" if b else "no"


def run(args) -> int:
    s = gather()
    if args.json:
        print_json(s)
        return 0
    k, b, l, pol = s["kernel"], s["securebits"], s["lsm"], s["policy"]
    lines = [
        "kernel          %s: AT_EXECVE_CHECK %s" % (k["release"], k["execve_check_text"]),
        "securebits      %s" % (("%s (%s)" % (b["value"], ", ".join(b["names"]) or "no bits set"))
                                if b.get("value") else b.get("error")),
        "LSMs            %s" % (", ".join(l["active"]) if l["active"] is not None else "unknown"),
        "Landlock        %s" % l["landlock"],
        "user namespaces %s" % s["userns_resets_securebits"]["text"],
        "vm.memfd_noexec %s: %s" % (s["memfd_noexec"]["value"], s["memfd_noexec"]["text"]),
        "seccomp         %s" % s["seccomp"]["text"],
    ]
    sh = s["shim"]
    shim_line = sh["path"] + ("" if sh["exists"] else " (MISSING)")
    if sh["exists"]:
        shim_line += "" if sh["passes_check"] else "  (fails the check itself: %s)" % sh["reason"]
    lines.append("shim            %s" % shim_line)
    if sh.get("i386"):
        lines.append("32-bit shim     %s" % sh["i386"])
        lines.append("both, by $LIB   %s" % sh["multilib"])
    if sh.get("aarch64_images"):
        lines.append("arm64 images    %s" % sh["aarch64_images"])
    ld = s["loader"]
    lines.append("loader          %s" % (ld["error"] if "error" in ld else "searches last %s; $LIB is %s" % (
        ":".join(ld["system_dirs"]), ld["lib"])))
    tp = sh.get("this_process", {})
    if tp.get("copies") is not None:
        lines.append("this process    %s" % ({0: "not shimmed", 1: "one copy of the shim (preload face)" if tp.get(
            "preload_face_only") else "one copy of the shim (audit face)"}.get(tp["copies"], "audit and preload faces")))
    pre = s["ld_so_preload"]
    if "error" in pre:
        lines.append("ld.so.preload   %s: %s" % (pre["path"], pre["error"]))
    elif not pre["entries"]:
        lines.append("ld.so.preload   %s: no entries (the shim is not deployed system-wide)" % pre["path"])
    else:
        lines.append("ld.so.preload   %s: %s; names the shim: %s" % (pre["path"], " ".join(pre["entries"]),
                                                                     _yes(pre["names_shim"])))
    lines.append("config          %s" % config_statement(pol["config_path"], pol["config_state"], pol["config_problem"]))
    if pol["env_problem"]:
        lines.append("environment     %s" % pol["env_problem"])
    lines.append("files           %s%s" % (pol["files"], " (from %s)" % ", ".join(pol["files_sources"])
                                           if pol["files_sources"] else " (nothing asks to enforce)"))
    lines.append("interactive     %s%s" % (pol["interactive"], " (from %s)" % ", ".join(pol["interactive_sources"])
                                           if pol["interactive_sources"] else ""))
    lines.append("records to      %s" % (", ".join(
        (("file " + pol["log_file"]) if x == "file" else x) for x in pol["sinks"]) or "nowhere"))
    if s["log_file_problem"]:
        lines.append("                %s %s: no record is written to it" % (printable(pol["log_file"]),
                                                                            s["log_file_problem"]))
    if s["records_lost"] and pol["sinks"] == ["syslog"]:
        lines.append("                no %s here: records are lost (log_file = PATH in %s, or EXECCHECK_LOG_FILE,"
                     " keeps them)" % (SYSLOG_SOCKET, pol["config_path"]))
    elif s["records_lost"]:
        lines.append("                records are lost: no sink can take them")
    if not s["proc_mounted"]:
        lines.append("/proc           not mounted here: the shim cannot tell which file backs a mapping, so enforcing"
                     " refuses every shimmed program (no-proc); mount /proc first")
    for warning in s["fail_open"]:
        lines.append("not covered     " + warning)
    # names from files (ld.so.preload, the config's log_file) may hold escapes for the terminal
    width = terminal_columns()  # a reader: wrapped under the value column; a pipe keeps one fact a line
    print("\n".join(wrapped(printable(line), width, 16) for line in lines))
    return 0

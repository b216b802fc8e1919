"""execcheck image prepare|revert|install|uninstall ROOT: harden a root filesystem, reversibly."""
import argparse
import os
import sys

from ..errors import UsageError
from ..image import ldconf, install as inst
from ..image import prepare
from .output import counted, print_json, printable, with_path_hex

ORDER = 60
HELP = "prepare a root filesystem for enforcement and install the shim in it (reversibly)"
DESCRIPTION = """\
Steps for a hardened image (run them on the image's root directory, e.g. in a container build):

  execcheck image prepare ROOT [--apply]   show (default) or make the mode changes enforcement
                                           needs: x where r on the image's shared libraries and
                                           Python code; never a write bit, never data files
  execcheck image revert ROOT              restore the exact modes prepare changed
  execcheck image install ROOT [...]       the shim beside the image's libc (0755, root), its
                                           /etc/execcheck.conf, an /etc/ld.so.preload entry,
                                           optional systemd drop-ins (--service)
  execcheck image uninstall ROOT           remove exactly what install added
  execcheck image verify ROOT              audit the image in the policy's view: exit 1 if anything
                                           it would run would be refused, or the shim is not sound

Each step records what it changed in ROOT/var/lib/execcheck/ so it can be undone bit for bit;
repeating a step changes nothing more. prepare and verify walk ROOT's own mount only (a host
directory bind-mounted into the image is no part of it; --any-mount for an image's own partitions)
and name each mount point they leave.

exit status: 0 done (verify: ready to enforce); 1 verify: not ready; prepare: part of the image
could not be read, changed while it was walked or before its chmod, or could not be changed, or its
libraries or programs are on a mount not walked (named), so its list is incomplete; revert: a file
could not be changed (named); 2 bad usage, an image that cannot be read or changed,
or a record execcheck did not write (nothing is changed then)."""
STEP_EXIT = "exit status: 0 done; 2 bad usage, or an image that cannot be read or changed."
PREPARE_EXIT = """\
exit status: 0 done; 1 done, but part of the image could not be read or changed while it was walked
or before its chmod (named, and left as it is: prepare again once nothing changes it), a file
could not be changed (named: an immutable file, a read-only mount), or its libraries or programs
are on another mount (named): what it shows or changes is incomplete, the rest is applied; 2 bad
usage, or an image that cannot be read or changed (then nothing is changed)."""
PREPARE = """\
Shows (or with --apply makes) the mode changes enforcement needs: x where r on the image's shared
libraries and Python code; never a write bit, never a data file. A set-user-ID or set-group-ID
file, and a file a chmod could reach beyond the image by (another mount, hard links elsewhere),
is left and named; another mount inside ROOT is not walked, and named. --apply records the old
modes for `image revert`.

examples:
  execcheck image prepare /srv/image             what would change (stdout; a count on stderr)
  execcheck image prepare --apply /srv/image     change it (as root)
  execcheck image prepare --apply --json /srv/image | jq -r '.changed_while_preparing[].path'

--json prints one document: root, applied, complete (false: exit 1), changes (path, old_mode,
new_mode, kind library|python; with --apply, the changes made), left (path, reason: left alone on
purpose), not_walked (path, reason), unreadable, changed_while_preparing and not_changed (path,
reason, errno). A path that is not UTF-8 spells each such byte \\u00XX, and its entry has path_hex,
the path's bytes in hex (root_hex for ROOT).

""" + PREPARE_EXIT
REVERT = """\
Restores the modes `image prepare --apply` recorded, where undoing its change (x bits taken away)
explains them; a file changed since is left and named.

example:
  execcheck image revert /srv/image

exit status: 0 done; 1 done, but a file could not be changed (named: an immutable file, a read-only
mount; its record is kept, for a revert once it can be); 2 bad usage, or an image that cannot be
read or changed."""
INSTALL = """\
Puts the shim of the image's architecture beside its libc (an image with a 32-bit libc too gets
both, named by one $LIB entry; an arm64 image the aarch64 shim, where the build made one:
`execcheck status`), writes /etc/execcheck.conf and adds the shim to /etc/ld.so.preload.
Everything it changes is recorded for `image uninstall`. Enforcing needs the image prepared
first (`image prepare --apply`), and `image verify` says whether it is.

examples:
  execcheck image install --dry-run /srv/image            what would be written
  execcheck image install --enforce --service nginx /srv/image

""" + STEP_EXIT
UNINSTALL = """\
Puts back every file `image install` replaced and removes what it created; of /etc/ld.so.preload
changed since, only the shim's entry.

example:
  execcheck image uninstall /srv/image

""" + STEP_EXIT
VERIFY = """\
Audits the image in the policy's view (its mode bits, its noexec mounts) and checks the installed
shim: whether every program, library and Python file the image would run passes the check. Other
mounts inside ROOT are not audited (named; --any-mount for an image's own partitions): one that
holds the image's libraries or programs (a separate /usr) leaves the image not ready.

examples:
  execcheck image verify /srv/image
  execcheck image verify --json --noexec-mount /tmp /srv/image
  execcheck image verify --json /srv/image | jq -r '.not_ready_because[]'

--json prints one document: root, ready, not_ready_because (one line a kind of reason), refusals
(the files it would run that would be refused: id, rule, path, message, details with
counted_because, programs), not_run_but_refused, shim_problems, code_files, not_audited_machine,
unreadable and changed_while_verifying (as refusals), not_walked and not_walked_code (mount
points), user_mount_helpers (set-user-ID fusermounts: a way round noexec mounts), user_namespaces
(value: can the image's users create user namespaces, another way round, as its sysctl files set
user.max_user_namespaces at boot; null when one could not be read; text: why). A path that is
not UTF-8 spells each such byte \\u00XX, and its entry has path_hex, the path's bytes in hex
(root_hex for ROOT); a list of paths has one beside it, each such path's hex at its index
(details.files_hex, programs_hex, not_walked_hex, not_walked_code_hex).

exit status: 0 ready to enforce; 1 something it would run would be refused, part of the image
could not be read or lies on a mount not walked (named), the image changed while it was read
(named: verify again once nothing changes it), or the shim is not sound; 2 bad usage, or an image
that cannot be read."""


def add_parser(sub):
    p = sub.add_parser("image", help=HELP, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    steps = p.add_subparsers(dest="step", metavar="STEP")
    raw = argparse.RawDescriptionHelpFormatter
    pp = steps.add_parser("prepare", help="show or apply the mode changes enforcement needs", formatter_class=raw,
                          description=PREPARE)
    pp.add_argument("root", metavar="ROOT", help="the image's root directory")
    pp.add_argument("--apply", action="store_true", help="make the changes (default: only show them)")
    pp.add_argument("--json", action="store_true", help="print the changes, the files left and what it could not "
                    "read or change as one JSON document (above)")
    pp.set_defaults(run=run_prepare)
    pr = steps.add_parser("revert", help="restore the modes prepare changed", formatter_class=raw,
                          description=REVERT)
    pr.add_argument("root", metavar="ROOT", help="the image's root directory")
    pr.set_defaults(run=run_revert)
    pi = steps.add_parser("install", help="install the shim, its config and /etc/ld.so.preload entry",
                          formatter_class=raw, description=INSTALL)
    pi.add_argument("root", metavar="ROOT", help="the image's root directory")
    pi.add_argument("--enforce", action="store_true", help="config: files = enforce (default: audit)")
    pi.add_argument("--deny-interactive", action="store_true", help="config: interactive = deny")
    pi.add_argument("--log-file", default="/var/log/execcheck.jsonl", metavar="PATH",
                    help="config: where records go (default %(default)s; '' for syslog only)")
    pi.add_argument("--service", action="append", default=[], metavar="UNIT",
                    help="add a systemd drop-in starting UNIT under the audit face (repeatable)")
    pi.add_argument("--dry-run", action="store_true", help="show what would be written")
    pi.set_defaults(run=run_install)
    pu = steps.add_parser("uninstall", help="remove exactly what install added", formatter_class=raw,
                          description=UNINSTALL)
    pu.add_argument("root", metavar="ROOT", help="the image's root directory")
    pu.set_defaults(run=run_uninstall)
    for step in (pp, pr, pi, pu):
        step.add_argument("--any-mount", action="store_true",
                          help="change files on any mount inside ROOT too (an image with its own /usr partition "
                               "mounted there); by default only those on ROOT's own mount, so a host directory "
                               "bind-mounted into the image is never changed")
    pv = steps.add_parser("verify", help="exit 1 if anything the image would run would be refused",
                          formatter_class=raw, description=VERIFY)
    pv.add_argument("root", metavar="ROOT", help="the image's root directory")
    pv.add_argument("--noexec-mount", action="append", default=[], metavar="DIR",
                    help="treat DIR (in the image) as mounted noexec, beside its /etc/fstab; repeatable")
    pv.add_argument("--json", action="store_true", help="print the verdict, its reasons, the refusals, shim "
                    "problems and what it could not read as one JSON document (above)")
    pv.add_argument("--any-mount", action="store_true",
                    help="audit the files of any mount inside ROOT too (an image with its own /usr partition "
                         "mounted there); by default only those on ROOT's own mount: a host directory "
                         "bind-mounted into the image is no part of it")
    pv.set_defaults(run=run_verify)
    for step in (pp, pr, pi, pu, pv):
        step.add_argument("--this-system", action="store_true",
                          help="let a step that writes take ROOT = / (inside a container build, where / is "
                               "the image); a step that only reads (verify, prepare without --apply, "
                               "install --dry-run) does not need it")
    p.set_defaults(run=lambda args: (p.print_help(sys.stderr), 2)[1])


def _root(args, changes=True):
    """changes: the step writes to the image (/ is then refused without --this-system; a step that
    only reads - verify, prepare without --apply, install --dry-run - may look at this system)."""
    path = args.root
    if not path:  # `image revert "$UNSET"`: said " is not a directory"
        raise UsageError("ROOT is empty: give the image's root directory")
    if not os.path.isdir(path):  # "not a directory" sent the user looking at a path that is not there
        raise UsageError("%s %s: give the image's root directory" % (
            path, "does not exist" if not os.path.lexists(path) else
            "is a symbolic link that names no directory" if os.path.islink(path) else "is not a directory"))
    if changes and os.path.realpath(path) == "/" and not args.this_system:
        raise UsageError("refusing to change / : pass --this-system if this system is the image being built "
                         "(a container build step), or give the image's root directory")
    return os.path.abspath(path)


def _need_root_user():
    if os.geteuid() != 0:
        raise UsageError("this step changes an image's files and owners: run it as root")


NO_IMAGE = "%s has none of the loader's library directories (/lib, /usr/lib and their multiarch ones): is it the " \
           "root of an image?"


def run_prepare(args) -> int:
    root = _root(args, changes=args.apply)
    # "0 files to change" of a directory that holds no image at all (a typo, an unpacked tarball one
    # level down) reads as "ready", and --apply would write its record there: say what is missing
    try:
        tuple_ = inst.image_multiarch(root)
        no_image = not ldconf.library_dirs(root, tuple_)
        if no_image and args.apply:
            raise UsageError(NO_IMAGE % root + " Nothing was changed")
        changes, skipped, not_walked, unread, changed = prepare.plan(root, tuple_, args.any_mount)
    except OSError as e:
        raise UsageError("cannot read the image: %s" % _os_error(e))
    if args.apply:
        _need_root_user()
        try:
            changes, not_applied, refused = prepare.apply(root, changes, args.any_mount)
        except OSError as e:
            raise UsageError("cannot change the image: %s" % _os_error(e))
        # a planned file replaced or re-moded before its chmod: left as it is, named as a change
        changed = sorted(changed + not_applied)
    else:
        refused = []
    code_left = [p for p, why in not_walked if why == prepare.CODE_NOT_ENTERED]
    complete = not unread and not code_left and not changed and not refused
    status = 0 if complete else 1  # a smaller list than the image's, which must not pass for its whole
    if no_image:
        print("execcheck: " + NO_IMAGE % printable(root), file=sys.stderr)
    if args.json:
        h = with_path_hex
        print_json(h({"root": root, "applied": args.apply, "complete": complete,
                    "changes": [h({"path": p, "old_mode": "%04o" % o, "new_mode": "%04o" % n, "kind": w})
                                for p, o, n, w, _ in changes],
                    "left": [h({"path": p, "reason": why}) for p, why in skipped],
                    "not_walked": [h({"path": p, "reason": why}) for p, why in not_walked],
                    "unreadable": [h({"path": p, "reason": why, "errno": err}) for p, why, err in unread],
                    "changed_while_preparing": [h({"path": p, "reason": why, "errno": err})
                                                for p, why, err in changed],
                    "not_changed": [h({"path": p, "reason": why, "errno": err}) for p, why, err in refused]},
                     ("root",)))
        return status
    for p, why in skipped:
        print("execcheck: left %s as it is: %s" % (printable(p), why), file=sys.stderr)
    for p, why in not_walked + [(p, why) for p, why, _ in unread]:
        print("execcheck: %s: %s" % (printable(p), why), file=sys.stderr)
    for p, why, _ in changed:
        print("execcheck: %s: changed while preparing: %s" % (printable(p), why), file=sys.stderr)
    for p, why, _ in refused:
        print("execcheck: %s: not changed: %s" % (printable(p), why), file=sys.stderr)
    for p, o, n, w, _ in changes:
        print("%04o -> %04o  %-7s  %s" % (o, n, w, printable(p)))
    kinds = {w: sum(1 for c in changes if c[3] == w) for w in ("library", "python")}
    verb = "changed" if args.apply else "to change (run with --apply)"
    print("%s %s: %s, %s" % (counted(len(changes), "file"), verb, counted(kinds["library"], "library"),
                             counted(kinds["python"], "Python file")), file=sys.stderr)
    if code_left:
        print("execcheck: INCOMPLETE: %s %s the image's libraries or programs on another mount, not walked (above): "
              "what is there is not in this list" % (", ".join(printable(p) for p in code_left),
                                                     "holds" if len(code_left) == 1 else "hold"), file=sys.stderr)
    if unread:
        print("execcheck: INCOMPLETE: %d %s of the image could not be read (above): what is there is not in this "
              "list%s" % (len(unread), "path" if len(unread) == 1 else "paths",
                          " (run as root)" if os.geteuid() else ""), file=sys.stderr)
    if changed:
        print("execcheck: INCOMPLETE: %d %s of the image changed while it was walked (above): prepare again once "
              "nothing changes the root" % (len(changed), "path" if len(changed) == 1 else "paths"), file=sys.stderr)
    if refused:
        print("execcheck: INCOMPLETE: %s the image needs could not be changed (above): enforcing refuses %s; "
              "the rest is changed" % (counted(len(refused), "file"), "it" if len(refused) == 1 else "them"),
              file=sys.stderr)
    return status


def _os_error(e: OSError) -> str:
    """'PATH: reason', not Python's '[Errno N] reason: 'PATH''."""
    return "%s: %s" % (e.filename, e.strerror) if e.filename and e.strerror else str(e)


def run_revert(args) -> int:
    root = _root(args)
    _need_root_user()
    try:
        done = prepare.revert(root, inst.image_multiarch(root), args.any_mount)
    except OSError as e:
        raise UsageError("cannot change the image: %s" % _os_error(e))
    if done is None:
        raise UsageError("nothing to revert: %s has no record of `image prepare --apply`" % root)
    n, left, refused = done
    print("restored the modes of %s" % counted(n, "file"), file=sys.stderr)
    for path, why in left:
        print("execcheck: left %s as it is: %s" % (printable(path), why), file=sys.stderr)
    for path, why in refused:
        print("execcheck: %s: not restored: %s" % (printable(path), why), file=sys.stderr)
    if refused:
        print("execcheck: INCOMPLETE: %s not restored (above): their record is kept, for `image revert` once they "
              "can be changed" % counted(len(refused), "file"), file=sys.stderr)
    return 1 if refused else 0


def run_install(args) -> int:
    root = _root(args, changes=not args.dry_run)
    if args.log_file and not args.log_file.startswith("/"):
        raise UsageError("--log-file must be an absolute path inside the image")
    try:
        files, info = inst.plan(root, args.enforce, args.deny_interactive, args.log_file, args.service)
    except inst.InstallError as e:
        raise UsageError(str(e))
    except OSError as e:  # the image's /etc a file, a loop of symlinks in /usr...
        raise UsageError("cannot read the image: %s" % _os_error(e))
    if args.dry_run:
        for path, data, mode in files:
            print("%04o %s (%d bytes)" % (mode, printable(path), len(data)))
        _say_unprepared(root, args)
        return 0
    _need_root_user()
    try:
        n = inst.install(root, files, args.any_mount)
    except OSError as e:
        raise UsageError("cannot change the image: %s" % _os_error(e))
    print("installed %s (%s written%s)" % (printable(
        info["shim"] + (" and %s, as %s" % (info["shim32"], info["entry"]) if info["shim32"] else "")), counted(n, "file"),
        "" if not args.service else "; systemd %s" % (info["systemd"] or "not found")), file=sys.stderr)
    if info["unchecked32"]:
        print("execcheck: the image has a 32-bit libc but no 32-bit shim was built here (gcc-multilib): its "
              "32-bit programs run unchecked", file=sys.stderr)
    _say_unprepared(root, args)
    return 0


def _say_unprepared(root, args) -> None:
    """install --enforce on an image whose code is still 0644 (Debian's) made, with exit 0 and no
    word, an image where nothing runs: say how much prepare has left to do (one line, not a
    refusal: the builder may prepare after installing)."""
    if not args.enforce:
        return
    try:
        changes = prepare.plan(root, inst.image_multiarch(root), args.any_mount)[0]
    except OSError:
        return  # the install's own reading of the image went well: this note is no reason to fail it
    if changes:
        libs = sum(1 for c in changes if c[3] == "library")
        print("execcheck: the image is not prepared: %s and %s have no x bit, and "
              "enforcing refuses them and what loads them: run `execcheck image prepare --apply %s`, then "
              "`execcheck image verify`" % (counted(libs, "library"), counted(len(changes) - libs, "Python file"),
                                            printable(root)), file=sys.stderr)


def run_uninstall(args) -> int:
    root = _root(args)
    _need_root_user()
    try:
        notes = inst.uninstall(root, args.any_mount)
    except OSError as e:
        raise UsageError("cannot change the image: %s" % _os_error(e))
    if notes is None:
        raise UsageError("nothing to uninstall: %s has no record of `image install`" % root)
    for n in notes:
        print("execcheck: " + printable(n), file=sys.stderr)
    print("uninstalled from %s" % printable(root))
    return 0


def _finding_json(f) -> dict:
    """A finding of verify's document, each name in it with its bytes where they are not UTF-8:
    its path, the programs that use it, the Python files of a refused tree (details.files)."""
    d = f.as_dict()
    d["details"] = with_path_hex(dict(d["details"]), ("files",))
    return with_path_hex(d, ("path", "programs"))


def run_verify(args) -> int:
    from ..image import sysctl as image_sysctl, verify
    from ..mount_helpers import USERNS_MOUNT
    from .audit import check_noexec_mounts
    root = _root(args, changes=False)
    check_noexec_mounts(args.noexec_mount)
    try:
        result, refusals, stray, shim_problems, unread, left, changed = verify.verify(root, args.noexec_mount,
                                                                                      args.any_mount)
    except OSError as e:
        raise UsageError("cannot audit the image: %s" % _os_error(e))
    because = verify.not_ready_because(refusals, shim_problems, unread, left, changed)
    ok = not because  # what it did not read, it cannot call ready
    foreign = verify.foreign_libc(root)
    # not what the image runs refused, but what lets its users get around its noexec mounts
    mount_helpers = [f for f in result.findings if f.name == "user-mount-helper"]
    userns, userns_text = image_sysctl.user_namespaces(root)
    if args.json:
        print_json(with_path_hex({"root": root, "ready": ok, "not_ready_because": because,
                                  "refusals": [_finding_json(f) for f in refusals],
                                  "not_run_but_refused": [_finding_json(f) for f in stray],
                                  "shim_problems": shim_problems, "code_files": len(result.files),
                                  "not_audited_machine": foreign or None,
                                  "unreadable": [_finding_json(f) for f in unread],
                                  "not_walked": result.other_mounts, "not_walked_code": left,
                                  "changed_while_verifying": [_finding_json(f) for f in changed],
                                  "user_mount_helpers": [_finding_json(f) for f in mount_helpers],
                                  "user_namespaces": {"value": userns, "text": userns_text}},
                                 ("root", "not_walked", "not_walked_code")))
        return 0 if ok else 1
    for f in refusals:
        print("refused  %s" % printable(f.message))
        if f.programs:
            print("         used by %s" % ", ".join(printable(p) for p in sorted(f.programs)[:5]) +
                  (" and %d more" % (len(f.programs) - 5) if len(f.programs) > 5 else ""))
        elif f.name == "exec-denied":  # why it counts, where no program names it
            print("         %s" % printable(f.details["counted_because"]))
        elif f.name == "python-code-denied":  # a tree's count alone sent the builder to --json for the names
            files = f.details.get("files", [])
            print("         %s" % ", ".join(printable(p) for p in files[:5]) +
                  (" and %d more (--json: details.files)" % (len(files) - 5) if len(files) > 5 else ""))
    for f in stray:
        print("note     %s (nothing in the image loads it)" % printable(f.message))
    for p in shim_problems:
        print("shim     %s" % printable(p))  # names from the image's own files
    for f in unread:
        print("unread   %s (not audited)" % printable(f.message))
    for f in changed:
        print("changed  %s (not audited: verify again once nothing changes the root)" % printable(f.message))
    for mp in result.other_mounts:
        if mp in left:
            print("unwalked %s: another mount than ROOT's, holding the image's libraries or programs: not audited "
                  "(--any-mount if that mount is the image's own, a separate /usr)" % printable(mp))
        else:
            print("note     %s: the mount point of a mount other than ROOT's, so no part of the image: not "
                  "audited (--any-mount if that mount is the image's own)" % printable(mp))
    for f in mount_helpers:
        print("note     %s" % printable(f.message))
    # as its sysctl files set it at boot: not a refusal either (the image stays ready)
    print("note     %s (%s)%s" % ({True: "the image's users can create user namespaces", False: "the image's "
                                   "users cannot create user namespaces", None: "whether the image's users can "
                                   "create user namespaces is unknown"}[userns], printable(userns_text),
                                  ", which " + USERNS_MOUNT if userns else ""))
    if foreign:
        print("note     the image's libc is %s: the audit models the x86_64, i386 and aarch64 loaders, so what "
              "its programs load was not audited (the shim checks it when they run)" % printable(foreign))
    if because:
        print("because  %s" % printable("; ".join(because)))  # it quotes the image's names
    print("%s: %s (%s audited)" % (printable(root), "ready to enforce" if ok else "NOT ready to enforce",
                                    counted(len(result.files), "code file")))
    return 0 if ok else 1

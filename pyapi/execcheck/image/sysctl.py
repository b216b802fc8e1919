"""Whether an image's users can create user namespaces, as its sysctl files set it at boot.

systemd-sysctl reads the *.conf files of /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d,
/usr/lib/sysctl.d and /lib/sysctl.d in the order of their names, a name in an earlier directory
hiding the same name in a later one; procps' `sysctl --system` reads /etc/sysctl.conf after them
(Debian's systemd reads it as /etc/sysctl.d/99-sysctl.conf, a link to it). A later setting of a key
overrides an earlier one. Every file is read from ROOT (rootfs), never by a host path."""
import errno
import fnmatch
import os

from . import rootfs

DIRS = ("/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d")
LAST = "/etc/sysctl.conf"
# each of these at 0 keeps unprivileged users from creating a user namespace (the second one is
# Debian's and Ubuntu's kernel patch; mainline kernels have no such key and ignore it)
BLOCKING_KEYS = ("user.max_user_namespaces", "kernel.unprivileged_userns_clone")


def files(root: str) -> list:
    """The image paths of the sysctl files read at boot, in the order they are applied."""
    by_name = {}
    for d in DIRS:
        host = rootfs.lookup(root, d)
        try:
            names = [] if host is None else rootfs.list_dir(root, host)
        except OSError:
            continue
        for name in names:
            if name.endswith(".conf") and not name.startswith("."):
                by_name.setdefault(name, d + "/" + name)
    return [by_name[n] for n in sorted(by_name)] + [LAST]


def _key(raw: str) -> str:
    """A key as sysctl names it: a '/' first separator means '/' and '.' are swapped
    (user/max_user_namespaces); a leading '-' (ignore a failure) is no part of it."""
    raw = raw.lstrip("-").strip()
    first = min((i for i in (raw.find("."), raw.find("/")) if i >= 0), default=-1)
    if first >= 0 and raw[first] == "/":
        raw = raw.translate(str.maketrans("./", "/."))
    return raw


def settings(root: str, keys=BLOCKING_KEYS) -> dict:
    """{key: (value, image path of the file that set it last)} of those keys (a glob key, as
    systemd takes, applies to each it matches), and "" -> [image paths it could not read]."""
    out, unread = {}, []
    for path in files(root):
        try:
            text = os.fsdecode(rootfs.read_regular(root, rootfs.resolve(root, path), 1 << 20))
        except OSError as e:
            if e.errno not in (errno.ENOENT, errno.ENOTDIR) + rootfs.BROKEN_LINK:
                unread.append(path)
            continue
        for line in text.splitlines():
            line = line.strip()
            if not line or line[0] in "#;" or "=" not in line:
                continue
            raw, _, value = line.partition("=")
            key = _key(raw)
            for k in keys:
                if fnmatch.fnmatchcase(k, key):
                    out[k] = (value.strip(), path)
    out[""] = unread
    return out


def user_namespaces(root: str):
    """(can the image's unprivileged users create user namespaces: True, False, or None when a
    sysctl file could not be read; why, in words: the setting and its file)."""
    found = settings(root)
    unread = found.pop("")
    for key, (value, path) in found.items():
        if value == "0":
            return False, "%s = 0 in %s%s" % (key, path, "" if key == BLOCKING_KEYS[0] else
                                              ", a key of Debian's and Ubuntu's kernels only")
    if unread:
        return None, "%s could not be read" % ", ".join(unread)
    set_ = ["%s = %s in %s" % (k, v, p) for k, (v, p) in found.items()]
    return True, "; ".join(set_) if set_ else "no sysctl file of the image sets %s, whose default allows them" % \
        BLOCKING_KEYS[0]

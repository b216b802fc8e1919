"""The exec policy's answer for a file, seen two ways, kept apart.

live:  AT_EXECVE_CHECK on this host, now (this host's mounts, LSMs and credentials; under --root the
       file is the image's, the rest is not).
image: what the image itself would answer once booted: the mode bits and owner recorded in it, and
       the noexec mounts its /etc/fstab declares (plus --noexec-mount). LSM policy is not modelled.
"""
import dataclasses
import os
import stat
from typing import List, Optional, Sequence, Tuple


@dataclasses.dataclass
class View:
    allowed: bool
    reasons: List[str]          # "x-bit", "noexec", "not-regular", and for the live check the core's reasons
    detail: str = ""

    def as_dict(self) -> dict:
        return {"allowed": self.allowed, "reasons": self.reasons, "detail": self.detail}


def parse_fstab(text: str) -> List[Tuple[str, bool]]:
    """(mount point, noexec) for each entry, in file order. mount(8): user/users/owner/group imply
    noexec unless a later "exec" undoes it."""
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        fields = line.split()
        if len(fields) < 4 or fields[1] in ("none", "swap") or not fields[1].startswith("/"):
            continue
        noexec = False
        for opt in fields[3].split(","):
            if opt in ("noexec", "user", "users", "owner", "group"):
                noexec = True
            elif opt == "exec":
                noexec = False
        mp = fields[1].replace("\\040", " ")
        out.append((os.path.normpath(mp), noexec))
    return out


class ImageMounts:
    """Which declared mount a path is on: the longest mount point that is a prefix of its real path."""

    def __init__(self, fstab: Sequence[Tuple[str, bool]] = (), noexec_extra: Sequence[str] = ()):
        self.mounts = {}
        for mp, noexec in fstab:
            self.mounts[mp] = noexec  # a later entry for the same point wins, as the last mount would
        for mp in noexec_extra:
            self.mounts[os.path.normpath(mp)] = True
        self.origin = {mp: "fstab" for mp, _ in fstab}
        self.origin.update({os.path.normpath(mp): "--noexec-mount" for mp in noexec_extra})

    def mount_of(self, realpath: str) -> Optional[str]:
        best = None
        for mp in self.mounts:
            if realpath == mp or realpath.startswith(mp.rstrip("/") + "/") or mp == "/":
                if best is None or len(mp) > len(best):
                    best = mp
        return best

    def noexec(self, realpath: str) -> Optional[str]:
        mp = self.mount_of(realpath)
        return mp if mp is not None and self.mounts[mp] else None


def image_view(mode: int, uid: int, realpath: Optional[str], mounts: ImageMounts) -> View:
    reasons, detail = [], []
    if not stat.S_ISREG(mode):
        reasons.append("not-regular")
    elif not mode & 0o111:
        reasons.append("x-bit")
        detail.append("mode %04o: no execute bit" % stat.S_IMODE(mode))
    mp = mounts.noexec(realpath) if realpath else None
    if mp:
        reasons.append("noexec")
        detail.append("on %s, mounted noexec (%s)" % (mp, mounts.origin.get(mp, "fstab")))
    return View(allowed=not reasons, reasons=reasons, detail="; ".join(detail))


def live_view(verdict) -> View:
    if verdict.allowed:
        return View(True, [], "")
    return View(False, [verdict.reason], verdict.reason_text)

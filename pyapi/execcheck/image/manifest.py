"""Undo records of the image steps, and the atomic writes they are made with.

Each step keeps its record at ROOT/var/lib/execcheck/<step>.json. Files are replaced by writing a
temporary file in the same directory and renaming it over the target, so a reader (or a crash)
sees the old or the new file, never half of one.
"""
import json
import os

STATE_DIR = "/var/lib/execcheck"


def atomic_write(path: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0) -> None:
    d = os.path.dirname(path)
    tmp = os.path.join(d, ".%s.execcheck-tmp" % os.path.basename(path))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if os.geteuid() == 0:
            os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def makedirs_recorded(path: str, created: list, mode: int = 0o755) -> None:
    """mkdir -p, appending each directory it made to `created` (so undo removes exactly those)."""
    missing = []
    p = path
    while not os.path.isdir(p):
        missing.append(p)
        p = os.path.dirname(p)
    for d in reversed(missing):
        os.mkdir(d, mode)
        created.append(d)


def path_of(root: str, step: str) -> str:
    return os.path.join(root, STATE_DIR.lstrip("/"), step + ".json")


def load(root: str, step: str):
    try:
        with open(path_of(root, step), "rb") as f:
            return json.loads(f.read().decode())
    except FileNotFoundError:
        return None


CREATED = ".created-dirs"  # the state directory's own record: which of its parents were made for it


def save(root: str, step: str, record: dict) -> None:
    p = path_of(root, step)
    state = os.path.dirname(p)
    if not os.path.isdir(state):
        made = []
        makedirs_recorded(state, made)
        atomic_write(os.path.join(state, CREATED), json.dumps(made).encode(), 0o600)
    atomic_write(p, (json.dumps(record, indent=1, sort_keys=True) + "\n").encode(), 0o600)


def _rmdirs(dirs) -> None:
    for d in sorted(set(dirs), key=len, reverse=True):
        try:
            os.rmdir(d)
        except OSError:
            pass  # something else lives there now: keep it


def remove(root: str, step: str, created_dirs: list) -> None:
    """Removes the step's record and the directories the step made; the state directory goes
    too once no step has a record in it."""
    p = path_of(root, step)
    try:
        os.unlink(p)
    except FileNotFoundError:
        pass
    _rmdirs(created_dirs)
    state = os.path.dirname(p)
    try:
        if os.listdir(state) == [CREATED]:
            with open(os.path.join(state, CREATED), "rb") as f:
                made = json.loads(f.read().decode())
            os.unlink(os.path.join(state, CREATED))
            _rmdirs(made)
    except (OSError, ValueError):
        pass

"""The resolver against ld.so on every dynamically linked program of this machine.

Programs: /usr/bin and every Python install (pyenv versions, /usr/bin/python3*). Ground truth is
the program itself run with LD_TRACE_LOADED_OBJECTS=1 (not ldd). A program that runs in secure
mode for us (setgid, or setuid run by nobody) ignores that variable: for those, a preload from
/etc/ld.so.preload, in a private mount namespace, lists the process's own mappings from its
constructor and exits before main(). Shared objects (the system's and each Python's lib-dynload)
are compared with `ld.so --list`.
"""
import glob
import os
import shutil
import stat
import subprocess

import pytest

from conftest import in_mountns, is_root, need, need_mountns
from execcheck.audit.resolver import Session, read_elf
from ldtruth import LINE, comparable, predicted, trace

PROGRAM_DIRS = ["/usr/bin"] + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*/bin")))


def elf_with_interp(path):
    try:
        e = read_elf(path)
    except OSError:
        return None
    return e if e.ok and e.interp and e.machine == 62 and e.elfclass == 2 else None


def programs():
    """realpath -> a path naming it, for every dynamic x86-64 program in PROGRAM_DIRS."""
    found = {}
    for d in PROGRAM_DIRS:
        for n in sorted(os.listdir(d)):
            p = os.path.join(d, n)
            rp = os.path.realpath(p)
            if rp not in found and os.path.isfile(rp) and elf_with_interp(rp):
                found[rp] = p
    for p in sorted(glob.glob("/usr/bin/python3*")):
        rp = os.path.realpath(p)
        if rp not in found and elf_with_interp(rp):
            found[rp] = p
    return found


def secure_for(path, uid, gid):
    st = os.stat(path)
    return bool((st.st_mode & stat.S_ISUID and st.st_uid != uid) or (st.st_mode & stat.S_ISGID and st.st_gid != gid))


@pytest.fixture(scope="module")
def progs():
    p = programs()
    assert len(p) > 100, "expected the machine's programs"
    return p


def test_every_program_as_ld_so_traces_it(progs):
    s = Session()
    checked, wrong = 0, []
    for rp, p in sorted(progs.items()):
        if secure_for(rp, os.getuid(), os.getgid()):
            continue
        res = s.resolve(p)
        entries, rc, err = trace([p])
        assert rc == 0 or not entries, (p, err)
        if comparable(entries) != comparable(predicted(res)) or res.starts != (rc == 0 and not any(
                path is None for _n, path in entries)):
            wrong.append((p, entries, predicted(res), res.failure()))
        checked += 1
    assert not wrong, "\n".join("%s\n  ld.so: %s\n  ours:  %s (%s)" % w for w in wrong[:10])
    # the Python installs are part of what was compared
    pythons = [p for p in progs.values() if os.path.basename(p).startswith("python")]
    assert len(pythons) >= 2
    assert checked > 100


MAPS_DUMPER = r"""
#include <fcntl.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>
/* From /etc/ld.so.preload: in a secure-mode process, after every startup object is mapped, print
 * each mapped file and leave before the program's own code runs. Other processes (the shell,
 * setpriv) go on untouched. */
__attribute__((constructor)) static void dump(void)
{
    static char buf[1 << 20];
    ssize_t n, tot = 0;
    int fd;
    if (!getauxval(AT_SECURE)) return;
    fd = open("/proc/self/maps", O_RDONLY);
    while (fd >= 0 && (n = read(fd, buf + tot, sizeof buf - 1 - tot)) > 0) tot += n;
    buf[tot] = 0;
    for (char *line = buf, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        if (!end) break;
        char *path = memchr(line, '/', end - line);
        if (path) {
            write(2, "MAP ", 4);
            write(2, path, end - path + 1);
        }
    }
    _exit(0);
}
"""


def test_secure_mode_programs_as_their_own_mappings_show(progs, cc, open_tmp):
    """setgid programs (as root) and setuid programs run by nobody: AT_SECURE, no trace available."""
    need(is_root(), "needs root (to become nobody and to mount)")
    need_mountns()
    targets = []
    for rp, p in sorted(progs.items()):
        st = os.stat(rp)
        if st.st_mode & stat.S_ISGID and st.st_gid != 0:
            targets.append(("root", p))
        if st.st_mode & stat.S_ISUID and st.st_uid == 0:
            targets.append(("nobody", p))
    need(bool(targets), "no setuid/setgid programs on this machine")
    dumper = open_tmp / "libmapsdump.so"
    shutil.copy(cc(MAPS_DUMPER, "mapsdump.so", "-shared", "-fPIC"), dumper)
    os.chmod(dumper, 0o755)
    cache = open_tmp / "ld.so.cache"
    cache.write_bytes(open("/etc/ld.so.cache", "rb").read())
    script = r"""
mount -t tmpfs -o mode=755 tmpfs /etc
cp "$1" /etc/ld.so.cache
echo "$2" > /etc/ld.so.preload
shift 2
while [ $# -gt 0 ]; do
  who=$1; prog=$2; shift 2
  echo "PROG $who $prog"
  if [ "$who" = nobody ]; then setpriv --reuid=65534 --regid=65534 --clear-groups "$prog" </dev/null 2>&1
  else "$prog" </dev/null 2>&1; fi
  echo "RC $?"
done
"""
    args = [cache, dumper] + [x for t in targets for x in t]
    r = in_mountns(script, *args)
    assert r.returncode == 0, r.stderr
    runs, cur = {}, None
    for line in r.stdout.splitlines():
        if line.startswith("PROG "):
            cur = tuple(line.split(" ", 2)[1:])
            runs[cur] = set()
        elif line.startswith("MAP ") and cur:
            runs[cur].add(line[4:])
    s = Session()
    wrong = []
    for who, p in targets:
        maps = runs.get((who, p), set()) - {str(dumper)}
        assert maps, "no mappings seen for %s (%s)" % (p, who)
        res = s.resolve(p, secure=True)
        assert res.secure and res.starts, (p, res.failure())
        ours = {o.realpath for o in res.objects if o.realpath}
        if ours != maps:
            wrong.append((p, who, sorted(maps ^ ours)))
    assert not wrong, wrong


def shared_objects():
    dirs = ["/usr/lib/x86_64-linux-gnu"] + sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/*/lib/python*/lib-dynload")))
    dirs += sorted(glob.glob("/usr/lib/python3*/lib-dynload"))
    found = {}
    for d in dirs:
        for p in sorted(glob.glob(os.path.join(d, "*.so*"))):
            rp = os.path.realpath(p)
            if rp in found or not os.path.isfile(rp):
                continue
            try:
                e = read_elf(rp)
            except OSError:
                continue
            if e.ok and e.type == 3 and e.machine == 62 and e.elfclass == 2:
                found[rp] = p
    return found


def test_every_shared_object_as_ld_so_lists_it():
    libs = shared_objects()
    assert len(libs) > 200
    s = Session()
    wrong = []
    for rp, p in sorted(libs.items()):
        res = s.resolve(p, as_library=True)
        r = subprocess.run(["/lib64/ld-linux-x86-64.so.2", "--list", p], capture_output=True, text=True, timeout=30)
        if "statically linked" in r.stdout:
            # ld.so says so when nothing is needed: nor do we load anything
            if [o for o in predicted(res) if o[0] != "linux-vdso.so.1"]:
                wrong.append((p, "statically linked", predicted(res)))
            continue
        entries = []
        for raw in r.stdout.splitlines():
            m = LINE.match(raw)
            if m:
                path = m.group("path")
                entries.append((m.group("name"), None if path == "not found" else (path or m.group("name"))))
        if r.returncode != 0:
            # ld.so --list stops at the first failure: it must be ours too
            if res.starts or res.failure() not in r.stderr:
                wrong.append((p, r.stderr.strip(), res.failure()))
            continue
        if comparable(entries) != comparable(predicted(res)):
            wrong.append((p, entries, predicted(res)))
    assert not wrong, "\n".join(map(str, wrong[:10]))

"""Decision records: their JSON, deduplication, and sinks that never block or kill the caller."""
import json
import os
import signal
import sys
import time

import pytest

import execcheck
from execcheck.core import format_record, record_decision
from execcheck.records import FIELDS, summarize
from conftest import need_check, run

pytestmark = pytest.mark.usefixtures("_kernel")


@pytest.fixture
def _kernel():
    need_check()


@pytest.fixture
def denied(tmp_path):
    p = tmp_path / "lib.so"
    p.write_bytes(b"\x7fELF")
    os.chmod(p, 0o644)
    return execcheck.check(p)


def test_record_has_every_field(denied):
    line = format_record("library", "audit", denied.path, denied, enforced=False)
    assert line.endswith("\n") and line.count("\n") == 1
    rec = json.loads(line)
    assert tuple(rec) == FIELDS
    st = os.stat(denied.path)
    assert rec["pid"] == os.getpid() and rec["uid"] == os.getuid()
    assert rec["exe"] == os.path.realpath(sys.executable)
    assert (rec["dev"], rec["ino"]) == (st.st_dev, st.st_ino)
    assert (rec["kind"], rec["reason"], rec["errno"], rec["mode"], rec["action"], rec["face"]) == \
        ("library", "x-bit", 13, "audit", "logged", "audit")
    assert rec["time"].endswith("Z") and rec["time"][:4] == time.strftime("%Y", time.gmtime())
    enforced = json.loads(format_record("script", "python", denied.path, denied, enforced=True))
    assert (enforced["mode"], enforced["action"], enforced["kind"], enforced["face"]) == \
        ("enforce", "refused", "script", "python")


@pytest.mark.parametrize("path", [
    "/tmp/new\nline\"quote\\back\tslash",
    "/tmp/\x01\x1f\x7fcontrol",
    "/tmp/caf\u00e9-\u6f22\u5b57-\U0001f600",
    os.fsdecode(b"/tmp/not-utf8-\xff\xfe-\xc3("),
    "/tmp/" + "x" * 5000,
    "/tmp/" + "\x01" * 3000,
])
def test_hostile_paths_stay_one_valid_json_line(denied, path):
    line = format_record("library", "audit", path, denied, enforced=False)
    assert line.count("\n") == 1 and len(line) < 2048
    rec = json.loads(line)
    assert rec["reason"] == "x-bit" and rec["face"] == "audit"  # fields after the path survived
    if len(path) > 900:
        assert rec["path"].endswith("...") and len(rec["path"]) < 1100
    elif "not-utf8" in path:
        assert rec["path"] == "/tmp/not-utf8-\u00ff\u00fe-\u00c3("  # one \u00XX per raw byte
    else:
        assert rec["path"] == path


def test_once_per_pid_dev_ino(tmp_path, denied):
    log = tmp_path / "log.jsonl"
    env = {"EXECCHECK_LOG_FILE": str(log)}
    absent = str(tmp_path / "absent.conf")
    code = ("import execcheck, os, sys\nfrom execcheck.core import record_decision\n"
            "v = execcheck.check(sys.argv[1]); env = {'EXECCHECK_LOG_FILE': sys.argv[2]}\n"
            "print(record_decision('library', 'audit', v.path, v, False, sys.argv[3], env),"
            " record_decision('library', 'audit', v.path, v, True, sys.argv[3], env))\n"
            "pid = os.fork()\n"
            "if pid == 0:\n"
            "    print(record_decision('library', 'audit', v.path, v, False, sys.argv[3], env), flush=True); os._exit(0)\n"
            "os.waitpid(pid, 0)")
    r = run([sys.executable, "-c", code, denied.path, str(log), absent])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False", "True"]  # the forked child is a new pid: recorded again
    recs = [json.loads(x) for x in log.read_text().splitlines()]
    assert len(recs) == 2 and recs[0]["pid"] != recs[1]["pid"]
    assert oct(os.stat(log).st_mode & 0o777) == "0o600"


def test_file_sink_that_is_a_fifo_does_not_block(tmp_path, denied):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code = ("import execcheck, sys\nfrom execcheck.core import record_decision\n"
            "v = execcheck.check(sys.argv[1])\n"
            "print(record_decision('library', 'audit', v.path, v, False, '/nonexistent.conf',"
            " {'EXECCHECK_LOG_FILE': sys.argv[2]}))")
    r = run([sys.executable, "-c", code, denied.path, str(fifo)], timeout=20)
    assert r.returncode == 0 and r.stdout.strip() == "True", r.stderr


def test_missing_log_directory_is_harmless(tmp_path, denied):
    assert record_decision("library", "audit", denied.path, denied, False, str(tmp_path / "absent.conf"),
                           {"EXECCHECK_LOG_FILE": str(tmp_path / "no" / "such" / "dir.jsonl")}) in (True, False)
    assert not (tmp_path / "no").exists()


def test_stderr_sink_to_a_closed_pipe_does_not_kill(tmp_path, denied):
    """With SIGPIPE at its default (a C program's usual state), writing a record to a stderr whose
    reader is gone must fail quietly, not kill the process."""
    code = ("import execcheck, os, signal, sys\nfrom execcheck.core import record_decision\n"
            "signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n"
            "r, w = os.pipe(); os.close(r); os.dup2(w, 2)\n"
            "v = execcheck.check(sys.argv[1])\n"
            "record_decision('library', 'audit', v.path, v, False, '/nonexistent.conf', {'EXECCHECK_LOG_STDERR': '1'})\n"
            "print('alive', signal.sigpending())")
    r = run([sys.executable, "-c", code, denied.path])
    assert r.returncode == 0, (r.returncode, r.stderr)
    assert r.stdout.strip() == "alive set()"


def test_summarize_counts_and_survives_garbage(tmp_path, denied):
    lines = [format_record(k, f, p, denied, e) for k, f, p, e in [
        ("library", "audit", "/a.so", False), ("library", "audit", "/a.so", True),
        ("script", "python", "/s.py", True)]]
    data = ("".join(lines) + "not json\n{\"truncated\": \n[1,2]\n\n").encode()
    import io
    s = summarize(io.BytesIO(data))
    assert s["records"] == 3 and s["unparsed_lines"] == 3
    assert s["by_file"][0] == {"name": "/a.so", "count": 2}
    assert {e["name"]: e["count"] for e in s["by_mode"]} == {"audit": 1, "enforce": 2}
    assert {e["name"]: e["count"] for e in s["by_reason"]} == {"x-bit": 3}


def test_log_of_hostile_lines_is_no_traceback(tmp_path, denied):
    """Every shimmed process appends to the log, so any user can write lines there. JSON nested
    100,000 deep made json.loads raise RecursionError (not ValueError): `execcheck log` ended in a
    traceback. A line far longer than any record is read past, never held whole."""
    good = format_record("library", "audit", "/a.so", denied, True)
    log = tmp_path / "log.jsonl"
    log.write_bytes(b"[" * 100000 + b"\n" + b'{"a":' * 50000 + b"1" + b"}" * 50000 + b"\n" +
                    good.encode() + b"x" * 300000 + b"\n" + b"\n  \n" + b"y" * 65536 + b"\n" +
                    b'{"path": "/b.so", "reason": "x-bit"}' + b" " * 70000 + b"\n" + good.encode())
    r = run([sys.executable, "-m", "execcheck", "log", "--json", str(log)])
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr[-2000:]
    s = json.loads(r.stdout)
    assert s["records"] == 2 and s["unparsed_lines"] == 5, s


def test_once_even_when_threads_race(tmp_path, denied):
    """16 threads recording the same file at once: one record, one True (the others saw it)."""
    log = tmp_path / "log.jsonl"
    code = ("import execcheck, sys, threading\nfrom execcheck.core import record_decision\n"
            "v = execcheck.check(sys.argv[1]); env = {'EXECCHECK_LOG_FILE': sys.argv[2]}\n"
            "firsts = []\ngo = threading.Barrier(16)\n"
            "def work():\n    go.wait()\n"
            "    for _ in range(200):\n"
            "        if record_decision('library', 'audit', v.path, v, False, '/nonexistent.conf', env):\n"
            "            firsts.append(1)\n"
            "ts = [threading.Thread(target=work) for _ in range(16)]\n"
            "[t.start() for t in ts]; [t.join() for t in ts]\nprint(len(firsts))")
    for _ in range(5):
        if log.exists():
            log.unlink()
        r = run([sys.executable, "-c", code, denied.path, str(log)])
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "1" and len(log.read_text().splitlines()) == 1


def test_random_paths_always_make_one_valid_json_line(denied):
    import random
    rng = random.Random(99)
    for _ in range(2000):
        raw = bytes(rng.choice((rng.getrandbits(8), rng.getrandbits(7), 0x5c, 0x22, 0xc3, 0xe2))
                    for _ in range(rng.randint(1, 1500)))
        path = os.fsdecode(raw.replace(b"\0", b"_"))
        line = format_record("library", "audit", path, denied, enforced=False)
        assert line.endswith("\n") and line.count("\n") == 1 and len(line) <= 2048
        rec = json.loads(line)
        assert rec["reason"] == "x-bit" and rec["face"] == "audit"


def test_a_record_cut_short_does_not_swallow_the_next(tmp_path, denied):
    """A full file system cuts a record (the write is short, no newline): the next record went on
    the same line, and both were lost to a reader. The file sink starts a line first now."""
    import json
    log = tmp_path / "log.jsonl"
    log.write_text('{"time":"2026-11-29T00:00:00Z","path":"/cut')
    env = {"EXECCHECK_LOG_FILE": str(log)}
    assert record_decision("library", "audit", denied.path, denied, False, str(tmp_path / "absent.conf"), env)
    lines = log.read_text().split("\n")
    assert lines[0] == '{"time":"2026-11-29T00:00:00Z","path":"/cut' and lines[-1] == "", lines
    assert json.loads(lines[1])["path"] == denied.path, lines


# N processes record each of the files (argv: LOG N FILE...) at once, started together
PARALLEL_WRITERS = """import os, sys, execcheck
from execcheck.core import record_decision
log, n, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
verdicts = [execcheck.check(f) for f in files]
env = {'EXECCHECK_LOG_FILE': log}
r, w = os.pipe()
pids = []
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        for v in verdicts:
            record_decision('library', 'audit', v.path, v, False, '/nonexistent.conf', env)
        os._exit(0)
    pids.append(pid)
os.close(w)
print(sorted(pids))
for pid in pids:
    os.waitpid(pid, 0)
"""


def test_records_appended_by_many_processes_at_once_stay_whole(tmp_path):
    """8 processes append records of 300 files each to one log at once. A writer that found the
    log not ending in a newline took it for a record cut short and appended one - but a record of
    another writer's was being appended, and the file grows a page at a time: the newline came
    after that record, an empty line (in most runs of this test, several). Every record must be
    there once, whole, on its own line, and nothing else."""
    files = []
    for i in range(300):  # records of 500-1000 bytes: many cross a page boundary of the file
        d = tmp_path / "f" / ("d" * 200) / ("e" * (1 + i * 37 % 250))
        d.mkdir(parents=True, exist_ok=True)
        f = d / ("%03d" % i + "g" * (1 + i * 53 % 200))
        f.write_bytes(b"")
        os.chmod(f, 0o644)
        files.append(str(f))
    for round in range(4):
        log = tmp_path / ("log%d.jsonl" % round)
        r = run([sys.executable, "-c", PARALLEL_WRITERS, str(log), "8", *files], timeout=120)
        assert r.returncode == 0, r.stderr
        pids = json.loads(r.stdout)
        lines = log.read_text().split("\n")
        assert lines[-1] == "" and "" not in lines[:-1], [i for i, l in enumerate(lines[:-1]) if not l]
        recs = [json.loads(l) for l in lines[:-1]]
        assert sorted((x["pid"], x["path"]) for x in recs) == sorted((p, f) for p in pids for f in files)
        s = json.loads(run([sys.executable, "-m", "execcheck", "log", "--json", str(log)]).stdout)
        assert s["records"] == 8 * 300 and s["unparsed_lines"] == 0, s

"""Runs CPython-face test cases and reports what happened; the tests decide what should have.

Runs inside the private mount namespace a test prepared (executable view of an interpreter's
library, a noexec tmpfs), so it is a separate program: python_face_driver.py SPEC.json OUT.json.

SPEC: {"jobs": N, "cases": [{"id", "argv", "env", "cwd", "stdin", "timeout"}]} where stdin is
null (/dev/null), {"file": PATH}, {"pipe": TEXT} or {"pty": [LINE, ...]} (a terminal: each line is
typed after the next ">>> " prompt, then Ctrl-D). A case's records are read from
env["EXECCHECK_LOG_FILE"]. OUT: {"results": [{"id", "rc", "out", "err", "records"}]}.
"""
import concurrent.futures
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time


def read_records(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


def run_pipe(case):
    stdin = case.get("stdin")
    kw = {}
    if stdin is None:
        kw["stdin"] = subprocess.DEVNULL
    elif "file" in stdin:
        kw["stdin"] = open(stdin["file"], "rb")
    else:
        kw["input"] = stdin["pipe"].encode()
    try:
        p = subprocess.run(case["argv"], env=case["env"], cwd=case.get("cwd"), capture_output=True,
                           timeout=case.get("timeout", 60), **kw)
        return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")
    except subprocess.TimeoutExpired as e:
        return "timeout", (e.stdout or b"").decode(errors="replace"), (e.stderr or b"").decode(errors="replace")
    finally:
        if "stdin" in kw and hasattr(kw["stdin"], "close"):
            kw["stdin"].close()


ANSI = re.compile(rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[=>]|\x1b\][^\x07]*\x07|[\r\x00]")


def run_pty(case):
    """A terminal session: when the output has settled on a ">>> " prompt, type the next line;
    Ctrl-D at the end. (3.13's REPL redraws the prompt on every key, so prompts are not counted:
    the screen must be quiet and end with the prompt.) Output and errors share the terminal, so
    everything is in "out"."""
    master, slave = pty.openpty()
    p = subprocess.Popen(case["argv"], env=case["env"], cwd=case.get("cwd"), stdin=slave, stdout=slave,
                         stderr=slave, start_new_session=True)
    os.close(slave)
    lines = list(case["stdin"]["pty"]) + ["\x04"]
    out = b""
    last = time.monotonic()
    deadline = last + case.get("timeout", 60)
    while time.monotonic() < deadline:
        r, _, _ = select.select([master], [], [], 0.05)
        if r:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                data = b""
            if not data:
                break
            out += data
            last = time.monotonic()
        elif p.poll() is not None:
            break
        elif lines and time.monotonic() - last > 0.2 and ANSI.sub(b"", out).endswith(b">>> "):
            line = lines.pop(0)
            os.write(master, line.encode() + (b"\n" if lines else b""))
            out += b"\n"  # the next prompt must come after this point
            last = time.monotonic()
    try:
        rc = p.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        rc = "timeout"
    # the child may have exited between a quiet select() and poll(): what it wrote last (the
    # refusal line) can still be in the terminal's buffer
    while select.select([master], [], [], 0)[0]:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        out += data
    os.close(master)
    return rc, ANSI.sub(b"", out).decode(errors="replace"), ""


def run_case(case):
    log = case["env"].get("EXECCHECK_LOG_FILE")
    if log and os.path.exists(log):
        os.unlink(log)
    stdin = case.get("stdin")
    rc, out, err = run_pty(case) if stdin and "pty" in stdin else run_pipe(case)
    return {"id": case["id"], "rc": rc, "out": out, "err": err, "records": read_records(log) if log else []}


def main():
    spec = json.load(open(sys.argv[1]))
    jobs = spec.get("jobs", 2)
    with concurrent.futures.ThreadPoolExecutor(jobs) as ex:
        results = list(ex.map(run_case, spec["cases"]))
    with open(sys.argv[2], "w") as f:
        json.dump({"results": results}, f)


if __name__ == "__main__":
    main()

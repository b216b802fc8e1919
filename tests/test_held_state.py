"""The shim's process-wide state while one thread holds it: what another thread, a child forked at
that moment, or a signal handler on the holding thread then meets. Nothing of the shim's may make
them wait for a holder that is gone (a fork() copies the held state into a child without its
holder) or that cannot go on (the handler runs on top of it): no hang, and still the right
decision - the child of a process under enforcement refuses, in audit mode it records and loads.

Each case parks one thread inside the shim with gdb (a breakpoint in the held section), then lets
the others run: deterministic, where a race would need luck. The program is tests/c/held_fork.c;
its forking thread gives up on a child after 10 s and says "child hung"."""
import json
import os
import re
import shlex
import shutil
import subprocess

import pytest

import execcheck
from audit_face_util import SHIM, Kit, clean_env
from conftest import C_DIR, need_check, run

GDB = shutil.which("gdb")


@pytest.fixture(autouse=True)
def _kernel():
    need_check()
    assert GDB, "gdb is needed to park a thread inside the shim"


@pytest.fixture
def held(tmp_path):
    """(program, 0644 library): the program of tests/c/held_fork.c, its forking library a
    dependency (its constructor runs before the preloaded shim's), and a library that fails the
    check."""
    kit = Kit(tmp_path)
    lib = kit._cc("lib/libheld.so", C_DIR / "held_fork.c", "-g", "-shared", "-fPIC", "-DLIB", "-pthread")
    prog = kit._cc("bin/held", C_DIR / "held_fork.c", "-g", "-pthread", "-L%s" % lib.parent, "-lheld",
                   "-Wl,-rpath,%s" % lib.parent)
    src = tmp_path / "bad.c"
    src.write_text("int badfn(void) { return 1; }\n")
    bad = kit._cc("lib/libbad.so", src, "-shared", "-fPIC")
    os.chmod(bad, 0o644)
    return prog, bad


def under_gdb(tmp_path, prog, enforce, env, commands, timeout=90):
    """(stdout lines, records) of prog run under gdb with the preload face, gdb's commands given
    after the program starts; enforce: SECBIT_EXEC_RESTRICT_FILE set (gdb's, inherited)."""
    log = tmp_path / "records.jsonl"
    env = dict(env, LD_PRELOAD=str(SHIM), EXECCHECK_LOG_FILE=str(log))
    argv = [GDB, "-nx", "-batch", "-ex", "set startup-with-shell off", "-ex", "set breakpoint pending on"]
    for k, v in env.items():  # the program's, not gdb's own
        argv += ["-ex", "set environment %s=%s" % (k, v)]
    for c in commands:
        argv += ["-ex", c]
    kw = {"preexec_fn": lambda: execcheck.set_securebits(restrict_file=True)} if enforce else {}
    r = run(argv + [str(prog)], env=clean_env(), stdin=subprocess.DEVNULL, timeout=timeout, **kw)
    records = log.read_text().splitlines() if log.exists() else []
    return r.stdout.splitlines(), records


@pytest.mark.parametrize("enforce", [False, True], ids=["audit", "enforce"])
def test_a_child_forked_while_the_policy_is_resolved(tmp_path, held, enforce):
    """A library constructor before ours started a thread; the shim's constructor resolves the
    policy (parked there) when that thread forks, and the child dlopen()s a 0644 library. The child
    inherited "being resolved" with no resolver, and every later call waited for it, spinning for
    ever (sched_yield): "child hung". Now a caller never waits for another's resolution."""
    prog, bad = held
    out, records = under_gdb(tmp_path, prog, enforce, {"HELD_CHILD": "dlopen:%s" % bad},
                             ["break ec_policy_resolve", "run", "set var held_go = 1", "set scheduler-locking on",
                              "thread 2", "continue"])
    assert "child exited 0" in out, out
    assert ("child dlopen failed" if enforce else "child dlopen ok") in out, out
    assert len(records) == 1 and '"path":"%s"' % bad in records[0], records
    assert ('"action":"refused"' if enforce else '"action":"logged"') in records[0], records


REPO = C_DIR.parent.parent


def line_of(source, text):
    """source:N, the first line of the repository's source file holding text: a breakpoint in the
    middle of a held section (the functions there are inlined)."""
    lines = (REPO / source).read_text().splitlines()
    return "%s:%d" % (os.path.basename(source), next(i for i, l in enumerate(lines, 1) if text in l))


# the once-per-file record's slot, claimed (marked being written) and not yet written
RECORD_SLOT_CLAIMED = ("csrc/record.c", "__atomic_store_n(&s->dev, dev")


@pytest.mark.parametrize("enforce", [False, True], ids=["audit", "enforce"])
def test_a_handler_records_on_top_of_its_threads_half_written_record(tmp_path, held, enforce):
    """The main thread dlopen()s a 0644 library and is parked where its record marked its slot in
    the once-per-file set, the mark not yet replaced by the key; a signal handler on that thread
    dlopen()s the same library. The handler waited for the slot's writer - itself - a million
    sched_yield calls (0.5 s idle, seconds on a loaded machine) per record before recording
    anyway. Now it sees its own thread's mark and records at once (a record twice, none lost)."""
    prog, bad = held
    out, records = under_gdb(tmp_path, prog, enforce,
                             {"HELD_MAIN": "dlopen:%s" % bad, "HELD_HANDLER": "dlopen:%s" % bad},
                             ["break %s" % line_of(*RECORD_SLOT_CLAIMED), "run", "delete 1",
                              "catch syscall sched_yield", "signal SIGUSR1", "info breakpoints"])
    assert not any("catchpoint already hit" in l for l in out), out  # not one sched_yield
    said = "failed" if enforce else "ok"
    assert "handler dlopen %s" % said in out and "main dlopen %s" % said in out, out
    mine = [r for r in records if '"path":"%s"' % bad in r]
    assert len(mine) >= 2 and all(('"action":"refused"' if enforce else '"action":"logged"') in r for r in mine), records


def test_a_child_forked_while_a_record_was_half_written(tmp_path, held):
    """The same half-written slot, copied into a child by another thread's fork(): no writer in the
    child; the child's record of the same file claims the slot, and the child records it."""
    prog, bad = held
    out, records = under_gdb(tmp_path, prog, False, {"HELD_MAIN": "dlopen:%s" % bad, "HELD_CHILD": "dlopen:%s" % bad},
                             ["break %s" % line_of(*RECORD_SLOT_CLAIMED), "run", "delete 1", "set var held_go = 1",
                              "set scheduler-locking on", "thread 2", "continue"])
    assert "child dlopen ok" in out and "child exited 0" in out, out
    assert len([r for r in records if '"path":"%s"' % bad in r]) == 1, records  # the child's (the parent parked)


# system()'s environment fix, under the environment lock
ENV_LOCK_HELD = ("preload/propagate.c", "if (fixed_already(env ? env : (char **)empty_env, self, kills)) {")


def test_a_handler_runs_system_on_top_of_its_threads_environment_lock(tmp_path, held):
    """The main thread's system() is parked under the lock of the environment fix (propagation); a
    signal handler on that thread calls system() too. It waited for the lock - held by its own
    thread - 100000 sched_yield calls (50-250 ms) before doing without it. Now it does without at
    once; both shells run."""
    prog, _ = held
    out, _ = under_gdb(tmp_path, prog, False, {"HELD_MAIN": "system:true", "HELD_HANDLER": "system:true"},
                       ["break %s" % line_of(*ENV_LOCK_HELD), "run", "delete 1", "catch syscall sched_yield",
                        "signal SIGUSR1", "info breakpoints"])
    assert not any("catchpoint already hit" in l for l in out), out
    assert "handler system 0" in out and "main system 0" in out, out


def test_a_child_forked_while_the_environment_lock_was_held(tmp_path, held):
    """The same lock held by the parked thread when another thread forks: the child's system()
    takes the lock over (no thread of its own holds it) and runs its shell."""
    prog, _ = held
    out, _ = under_gdb(tmp_path, prog, False, {"HELD_MAIN": "system:true", "HELD_CHILD": "system:true"},
                       ["break %s" % line_of(*ENV_LOCK_HELD), "run", "delete 1", "set var held_go = 1",
                        "set scheduler-locking on", "thread 2", "continue"])
    assert "child system 0" in out and "child exited 0" in out, out


# ---- the CPython face's hand-off slot -----------------------------------------------------------

# ec_handoff_take's check, with the slot held
HANDOFF_TAKE_HELD = ("preload/handoff.c", "ec_handoff_fd >= 0 && mine(handed_by")

# sitecustomize's start: a thread of the holder library fopen()s in a loop (parked: gdb stopped it
# in its look at the slot)
HOLDER_STARTED = """import ctypes, os, sys
holder = ctypes.CDLL(os.environ['EC_HOLDER'])
missing = os.environ['EC_MISSING'].encode()
holder.handoff_holder_start(missing)
parked = ctypes.c_int.in_dll(holder, 'handoff_holder_parked')
"""

# sitecustomize: a library handed over (ctypes) waits in the slot until the holder's thread is parked
HOLDING_SITE = HOLDER_STARTED + """def hook(event, args):
    if event == 'ctypes.dlopen':  # the face's hook came first: the library waits in the slot
        while not parked.value:
            pass
sys.addaudithook(hook)
ctypes.CDLL(os.environ['EC_LIB'])
"""


def main_script_with_a_held_slot(tmp_path, site, commands, python="/usr/bin/python3.11", args=None, startup=False,
                                 more_env=None):
    """(output, records) of python (python3.11) running s.py (a hard link to a 0755 file; b.py is
    one to a 0644 file) under RESTRICT_FILE and gdb, with the preload face and the sitecustomize
    site (run with EC_HOLDER, EC_LIB, EC_MISSING, EC_BAD, EC_TARGET), gdb's commands given after
    the program starts. args: python's arguments instead of s.py; startup: s.py is PYTHONSTARTUP
    (and a line typed on stdin); more_env: more of the program's environment."""
    from python_face_lib import build_tools, script_in_view, shim_path
    from test_python_face import swap_scene
    (tmp_path / "tools").mkdir()
    tools = build_tools(tmp_path / "tools", C_DIR)
    d = tmp_path / "ns" / "entry"
    lib, holder = swap_scene(d, site, tools, "import os; print('RAN', %r, os.getpid())\n"), d / "libholder.so"
    subprocess.run(["cc", "-g", "-shared", "-fPIC", "-pthread", "-o", holder, C_DIR / "handoff_holder.c"], check=True)
    log = d / "log.jsonl"
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": d / "sc",
           "LD_PRELOAD": shim_path(), "EXECCHECK_LOG_FILE": log, "EC_HOLDER": holder, "EC_LIB": lib,
           "EC_MISSING": d / "missing", "EC_BAD": d / "b.py", "EC_TARGET": d / "s.py"}
    env.update(more_env or {}, **({"PYTHONSTARTUP": d / "s.py"} if startup else {}))
    argv = [GDB, "-nx", "-batch", "-ex", "set startup-with-shell off", "-ex", "set breakpoint pending on"]
    for k, v in env.items():
        argv += ["-ex", "set environment %s=%s" % (k, v)]
    for c in commands:
        argv += ["-ex", c.replace("{d}", str(d))]
    script = "%senv -i PATH=/usr/bin:/bin %s -f -- %s" % (
        "echo \"print('RAN', 'repl')\" | " if startup else "", shlex.quote(str(tools["setexec"])),
        " ".join(shlex.quote(str(a)) for a in argv + ["--args", python] + (args or [d / "s.py"])))
    out = script_in_view(python, tmp_path / "ns", script)
    out = out.stdout + out.stderr
    assert not os.path.exists(d / "b.py"), "the rename did not happen: " + out
    return out, [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# gdb: the holder's thread parked in the slot; then only the main thread goes on
PARK_HOLDER = ["break %s if $_thread != 1" % line_of(*HANDOFF_TAKE_HELD), "run",
               "set var handoff_holder_parked = 1", "set scheduler-locking on", "thread 1"]


def test_the_main_script_while_another_thread_holds_the_handoff_slot(tmp_path):
    """Another thread (no Python thread: it never holds the GIL) holds the CPython face's hand-off
    slot, parked there, when the main script is checked; a 0644 file is then renamed over the
    script. The main script's hand-off gave up after 10000 sched_yield calls, CPython's fopen
    opened the name again and the 0644 file ran under RESTRICT_FILE. Now the script is refused
    (126, the face's message and record): the file CPython would read is not known to be the one
    checked."""
    out, recs = main_script_with_a_held_slot(tmp_path, HOLDING_SITE, PARK_HOLDER + [
        "break ec_handoff_put if st == 0", "continue",  # the main script checked, now handed over
        "shell mv -f {d}/b.py {d}/s.py", "catch syscall exit_group", "continue", "print $rdi"])  # the exit status
    assert "RAN bad" not in out and "RAN good" not in out, out
    script = tmp_path / "ns" / "entry" / "s.py"
    assert "$1 = 126" in out and "execcheck: refused to run %s" % script in out, out
    assert [(x["kind"], x["path"], x["reason"], x["action"]) for x in recs] == \
        [("script", str(script), "error", "refused")], recs


# sitecustomize: the main script is handed over, the holder's thread parked in its look at the
# slot; then the 0644 file is renamed over the script and the process forks: parent and child
# each go on to CPython's fopen of the script
FORKING_SITE = HOLDER_STARTED + """def hook(event, args):
    if event == 'cpython.run_file':  # the face's hook came first: the script waits in the slot
        while not parked.value:
            pass
        os.rename(os.environ['EC_BAD'], os.environ['EC_TARGET'])
        pid = os.fork()
        if pid:
            print('child', os.waitpid(pid, 0)[1] >> 8, flush=True)
sys.addaudithook(hook)
"""


def test_a_child_forked_while_another_thread_held_the_handoff_slot(tmp_path):
    """The main script waits in the slot, another thread holds the slot (parked), and a 0644 file
    is renamed over the script; then the process forks. The child's fopen found the slot held - by
    a thread not in the child - and opened the name again: the 0644 file ran under RESTRICT_FILE,
    in the child and in the parent. Now the child takes the slot over and runs the script checked;
    the parent, whose holder is still there, waits for it (bounded) and then fails the open
    (EBUSY) rather than read the name."""
    out, _ = main_script_with_a_held_slot(tmp_path, FORKING_SITE, PARK_HOLDER + ["continue"])
    assert "RAN bad" not in out, out
    assert "RAN good" in out and "child 0" in out, out
    assert "[Errno 16]" in out, out


# sitecustomize: while the main script waits in the slot and the holder's thread is parked in it,
# the main thread reads another file with open(); then the 0644 file is renamed over the script
OTHER_FILE_SITE = HOLDER_STARTED + """def hook(event, args):
    if event == 'cpython.run_file':  # the face's hook came first: the script waits in the slot
        while not parked.value:
            pass
        with open(os.environ['EC_HOLDER'], 'rb') as f:
            print('OTHER', len(f.read()) > 0, flush=True)
        os.rename(os.environ['EC_BAD'], os.environ['EC_TARGET'])
sys.addaudithook(hook)
"""


def test_another_file_opens_while_another_thread_holds_the_slot_over_the_main_script(tmp_path):
    """The main script waits in the slot, another thread holds the slot (parked), and the main
    thread - an audit hook after the face's - reads another file with open(). That open failed
    (EBUSY: the hook's OSError ended the run), as did every read-only open() and fopen() of the main
    thread: the slot could not say whose name it held. Now only an open of the script's own name
    fails (CPython's fopen of it, after a 0644 file was renamed over it); the other file is read."""
    out, _ = main_script_with_a_held_slot(tmp_path, OTHER_FILE_SITE, PARK_HOLDER + ["continue"])
    assert "OTHER True" in out, out
    assert "RAN bad" not in out and "RAN good" not in out, out
    assert "[Errno 16]" in out and "s.py" in out, out


# sitecustomize: a library of another Python thread waits in the slot until the holder's thread
# is parked (the main thread's own, held there, would fail its every open under enforcement: it may
# be its entry file). With EC_UNLINK, the entry file s.py is missing.
LIBRARY_THREAD_SITE = HOLDER_STARTED + """import threading
def hook(event, args):
    if event == 'ctypes.dlopen':
        while not parked.value:
            pass
sys.addaudithook(hook)
if os.environ.get('EC_UNLINK'):
    os.unlink(os.environ['EC_TARGET'])
loaded = threading.Event()
def load():  # and stay: a thread that ended leaves its thread pointer to the next one
    ctypes.CDLL(os.environ['EC_LIB'])
    loaded.set()
    threading.Event().wait()
threading.Thread(target=load, daemon=True).start()
loaded.wait()
"""


def park_holder_then_swap(put):
    """gdb: the holder's thread (thread 2) parked in the slot for good, all others running on;
    the 0644 file renamed to the entry file's name once the face has checked it (or failed to open
    it) and calls put to hand that over."""
    return ["break %s if $_thread == 2" % line_of(*HANDOFF_TAKE_HELD), "run", "delete 1", "tbreak %s" % put,
            "jump *handoff_holder_park", "shell mv -f {d}/b.py {d}/s.py", "continue"]


def test_a_missing_main_script_while_another_thread_holds_the_handoff_slot(tmp_path):
    """The main script is missing when the face checks it, the hand-off of that failure cannot be
    made (another thread holds the slot, parked), and a 0644 file is renamed to the script's name.
    CPython's fopen found nothing handed over, opened the name and the 0644 file ran under
    RESTRICT_FILE. Now the script is refused (126), as one whose hand-off cannot be made."""
    out, recs = main_script_with_a_held_slot(tmp_path, LIBRARY_THREAD_SITE, park_holder_then_swap("ec_handoff_put_error"),
                                             more_env={"EC_UNLINK": "1"})
    assert "RAN bad" not in out and "RAN good" not in out, out
    script = tmp_path / "ns" / "entry" / "s.py"
    assert "exited with code 0176" in out and "execcheck: refused to run %s" % script in out, out
    assert [(x["kind"], x["path"], x["reason"], x["errno"], x["action"]) for x in recs] == \
        [("script", str(script), "error", 16, "refused")], recs


def asyncio_pythons():
    from python_face_lib import interpreters
    from test_python_face_current import stdlib_says
    return [pytest.param(p, id=label) for label, p, v in interpreters()
            if stdlib_says(p, v, "asyncio/__main__.py", "cpython.run_startup")]


@pytest.mark.parametrize("python", asyncio_pythons())
@pytest.mark.parametrize("missing", [False, True], ids=["swapped", "missing"])
def test_the_asyncio_startup_file_while_another_thread_holds_the_handoff_slot(tmp_path, python, missing):
    """`python -m asyncio` reads PYTHONSTARTUP itself, with open() after its run_startup event.
    Another thread holds the hand-off slot (parked) when the face checks it (or finds it missing),
    and a 0644 file is renamed over it: the kept hand-off fails, and so did the empty file the face
    hands over instead of a refused one. Nothing was handed over: the REPL thread's open() read the
    name and the 0644 file ran under RESTRICT_FILE. Now the refusal is raised from run_startup, and
    the REPL thread ends before that open (nothing typed runs either)."""
    out, recs = main_script_with_a_held_slot(tmp_path, LIBRARY_THREAD_SITE, park_holder_then_swap("ec_handoff_put_kept"),
                                             python=python, args=["-m", "asyncio"], startup=True,
                                             more_env={"EC_UNLINK": "1" if missing else ""})
    assert "RAN bad" not in out and "RAN good" not in out and "RAN repl" not in out, out
    script = tmp_path / "ns" / "entry" / "s.py"
    assert "execcheck: refused to run PYTHONSTARTUP %s" % script in out, out
    # (the REPL thread's traceback is printed while the interpreter exits: cut short, or not at all:
    # not asserted)
    assert [(x["kind"], x["path"], x["reason"], x["errno"], x["action"]) for x in recs if x["kind"] == "script"] == \
        [("script", str(script), "error", 16, "refused")], recs


@pytest.fixture
def handoff_threads(cc):
    """tests/c/handoff_threads.c: the hand-off slot's code (handoff.c) between threads of a C
    program, no CPython."""
    return cc(C_DIR / "handoff_threads.c", "handoff_threads", "-g", "-pthread", "-I", REPO / "csrc",
              "-I", REPO / "preload", REPO / "csrc" / "arena.c", REPO / "csrc" / "text.c")


def test_a_thread_on_an_ended_handers_stack_does_not_take_its_handoff(handoff_threads):
    """A thread hands a file over and ends; the next thread gets its stack from glibc's cache, and
    with it the same thread pointer. The slot knew its hander by that pointer alone: the new thread
    took the file handed over for another (and, in the slot held by a parked thread, had its opens
    of that name fail). Now the hander is its pointer and its thread id."""
    assert run([handoff_threads, "reuse"]).stdout == "reused after 1: not taken\n"


def test_a_forked_child_takes_its_handers_handoff_and_only_it(handoff_threads):
    """The child of the thread that handed a file over goes on with that thread's work: its one
    thread takes the file (another id, the same pointer). A child forked by another thread does not,
    nor does a thread it makes on the hander's stack, which glibc reclaimed in the child (it did:
    the same pointer)."""
    assert run([handoff_threads, "fork"]).stdout == "child: taken; a new thread on the hander's pointer: none\n"
    assert run([handoff_threads, "fork-other"]).stdout == \
        "child: not taken; a new thread on the hander's pointer: not taken\n"


def test_only_the_handed_entry_name_is_busy_while_another_thread_holds_the_slot(handoff_threads):
    """The main thread's entry file waits in the slot and another live thread holds the slot (as
    a debugger's parked one). Every take of the main thread said "busy", whatever the name: under
    enforcement its every read-only open() and fopen() failed (EBUSY), a change of behaviour where
    the policy allows. Now only the handed name is busy; another name, or a library's hand-off
    (whose opener checks what it opens), finds nothing and is opened as usual."""
    assert run([handoff_threads, "busy"]).stdout == \
        "another name: nothing; the handed name: busy; a library's name: nothing\n"


# ---- the log file's lock ----------------------------------------------------------------------

# held_fork.c: the forking thread, its fork done (in the parent); a dlopen() done, before its line
FORKED = ("tests/c/held_fork.c", "for (i = 0; i < 10000; i++)")
DLOPEN_DONE = ("tests/c/held_fork.c", 'printf("%s dlopen %s\\n"')


def test_a_child_forked_while_a_record_held_the_logs_lock(tmp_path, held):
    """The main thread's record is parked with the log's flock held when another thread forks; the
    child lives on (system("sleep 2")). flock locks belong to the open file description, which the
    child shares: the writer's close() left the lock held for the child's life, so the next writer
    (another process) waited 10000 sched_yield calls and appended without its look for a record
    cut short - its record joined the cut line. Now the writer unlocks before it closes: the next
    writer looks, and its record starts a line."""
    prog, bad = held
    log = tmp_path / "records.jsonl"
    again = "env -i LD_PRELOAD=%s EXECCHECK_LOG_FILE=%s HELD_MAIN=dlopen:%s %s" % (SHIM, log, bad, prog)
    out, records = under_gdb(tmp_path, prog, False, {"HELD_MAIN": "dlopen:%s" % bad, "HELD_CHILD": "system:sleep 2"},
                             ["catch syscall flock", "run", "continue", "delete 1",  # the log's lock taken
                              "set var held_go = 1", "set scheduler-locking on", "thread 2",
                              "tbreak %s" % line_of(*FORKED), "continue",
                              "thread 1", "tbreak %s" % line_of(*DLOPEN_DONE), "continue",  # its record written
                              "shell printf cut >> %s" % log, "shell %s" % again,
                              "set scheduler-locking off", "continue"])
    assert "child system 0" in out and "child exited 0" in out, "\n".join(out)
    assert len(records) == 3 and records[1] == "cut", records
    assert all('"path":"%s"' % bad in r for r in (records[0], records[2])), records


def test_a_child_forked_by_a_handler_on_the_log_writer_leaves_its_lock_held(tmp_path, held):
    """The main thread's record holds the log's flock when a signal handler on that thread forks;
    the child returns from the handler into its copy of the record, the parent is parked in the
    handler. The child wrote the parent's record a second time (the parent's pid) and unlocked the
    open file description both share: the parent's look and write went on unlocked, and another
    writer's could meet them (a record is one O_APPEND write: at worst an empty line, never two
    records in one). Now the child sees it is not the process that began the record and leaves
    both to the parent: the lock stays held (flock -n fails) until the parent is done, and each
    process has one record (the child's own dlopen records under its own pid)."""
    prog, bad = held
    log = tmp_path / "records.jsonl"
    out, records = under_gdb(tmp_path, prog, False, {"HELD_MAIN": "dlopen:%s" % bad, "HELD_HANDLER": "fork"},
                             ["catch syscall flock", "run", "continue", "delete 1",  # the log's lock taken
                              "handle SIGUSR1 nostop noprint pass", "catch syscall write",  # the handler's
                              "signal SIGUSR1", "delete 2",  # forked; the parent parked at its "handler forked"
                              "shell sleep 1", "shell flock -n %s true; echo lock=$?" % log, "continue"])
    # the program and gdb share stdout: the child's line can land inside one of gdb's
    # ("__GI___libc_write (main dlopen ok"), so it is counted in the text, not as whole lines
    said = "\n".join(out) + "\nrecords:\n" + "\n".join(records)
    assert "handler forked" in said, said
    assert said.count("main dlopen ok") == 2, said  # parent and child
    assert "lock=1" in said, said
    parent = int(re.search(r"\[Inferior 1 \(process (\d+)\) exited", said).group(1))
    pids = [json.loads(r)["pid"] for r in records if '"path":"%s"' % bad in r]
    assert pids.count(parent) == 1 and len(pids) == len(set(pids)), (parent, records)

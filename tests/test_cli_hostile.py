"""The `execcheck` command fed hostile input: files and names a user or an image chose. Each case
gets one line `execcheck: ...` and its exit status, or its result: never a traceback, a hang, or
output that is not what it claims to be (invalid JSON, terminal escapes, a verdict lost to a pipe)."""
import json
import os
import subprocess

import pytest

from conftest import ec, execcheck_cmd, in_mountns, need_check, need_mountns, need_root


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


def no_traceback(r):
    assert "Traceback" not in r.stderr and "Traceback" not in r.stdout, r.stderr


def with_etc_file(tmp_path, name, data: bytes, *argv, **kw):
    """argv run where /etc/NAME holds data: an overlay on /etc in a private mount namespace (the
    host's /etc is never written). The file is made by the shell from its octal escapes."""
    upper, work = tmp_path / "upper", tmp_path / "work"
    upper.mkdir(), work.mkdir()
    octal = "".join("\\%03o" % b for b in data)
    kw.setdefault("errors", "replace")  # glibc's own warnings repeat the names' bytes
    return in_mountns('mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc\n'
                      'printf "$3" > "/etc/$4"\nshift 4\n"$@"',
                      upper, work, octal, name, *argv, **kw)


@pytest.mark.parametrize("data, loaded", [
    (b"/x.so\n\0\0\n", ["/x.so"]),
    (b"/a.so /z\0q\n/c.so", ["/a.so", "/z", "/c.so"]),  # a last name with no separator after it is apart
    (b"\0/a.so\n/b.so", ["/b.so"]),
    (b"/a.so\n/b\0c.so", ["/a.so", "/b"]),
])
def test_status_reads_nul_bytes_in_ld_so_preload_as_the_loader_does(tmp_path, data, loaded):
    """A NUL byte in /etc/ld.so.preload was an `embedded null byte` traceback. rtld.c splits the
    file with strsep, which ends at a NUL, and takes a last name that has no separator after it
    apart, up to its own NUL: the entries are the ones glibc itself says it cannot preload."""
    need_mountns()
    r = with_etc_file(tmp_path, "ld.so.preload", data,
                      "sh", "-c", '/bin/true; exec "$@"', "sh", *execcheck_cmd(), "status", "--json")
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    glibc = [line.split("'")[1] for line in r.stderr.splitlines() if "cannot be preloaded" in line]
    assert glibc[:len(loaded)] == loaded, r.stderr  # /bin/true's, then the command's own
    assert json.loads(r.stdout)["ld_so_preload"]["entries"] == loaded
    # the audit reads an image's file with the same rule
    from execcheck.audit.resolver import Session
    (tmp_path / "preload").write_bytes(data)
    res = Session(preload_file=str(tmp_path / "preload")).resolve("/bin/true")
    assert [e.name for e in res.edges if e.tag == "/etc/ld.so.preload"] == loaded


def test_status_shows_ld_so_preload_names_escaped(tmp_path):
    """An entry is any bytes: shown with its control characters and non-UTF-8 bytes escaped, so an
    /etc/ld.so.preload cannot write terminal escapes into `execcheck status`."""
    need_mountns()
    r = with_etc_file(tmp_path, "ld.so.preload", b"/a\xff\x1b]0;pwned\x07.so\n", *execcheck_cmd(), "status")
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "ld.so.preload   /etc/ld.so.preload: /a\\xff\\x1b]0;pwned\\x07.so; names the shim: no\n" in r.stdout
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout


def test_log_shows_any_json_string_escaped(tmp_path):
    """A record's strings are whatever JSON can say: a lone surrogate (\\ud800) in path or exe was a
    UnicodeEncodeError traceback (the help promises a line is never fatal), and the time range was
    printed raw, so a record could set the terminal's title. All go through the same escaping (a
    lone surrogate is no character: shown as the bytes UTF-8 would give it, as the shim shows them)."""
    log = tmp_path / "s.jsonl"
    log.write_text('{"path":"\\ud800","exe":"\\udc00","reason":"x","time":"\\u001b]0;pwned\\u0007"}\n'
                   '{"path":"/ok","reason":"x","time":"2026-01-01T00:00:00Z"}\n')
    r = ec("log", str(log))
    no_traceback(r)
    assert r.returncode == 0 and r.stderr == "", r.stderr
    assert r.stdout.startswith("%s: 2 records, \\x1b]0;pwned\\x07 .. 2026-01-01T00:00:00Z\n" % log), r.stdout
    assert "1      \\xed\\xa0\\x80\n" in r.stdout and "1      \\xed\\xb0\\x80\n" in r.stdout, r.stdout
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout


def test_log_reads_only_a_regular_file(tmp_path):
    """`log FIFO` blocked forever and `log /dev/zero` never ended: the log is a file anyone's
    processes append to, opened like every other such file (safeio: O_NONBLOCK, regular files
    only), the configured one included. An empty FILE read the default log in silence, and a
    write-only stdin was a traceback."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for path in (str(fifo), "/dev/zero", str(tmp_path)):
        r = ec("log", path, timeout=30)
        assert r.returncode == 2 and r.stderr == "execcheck: cannot read %s: not a regular file\n" % path, r
    r = ec("log", env=dict(os.environ, EXECCHECK_LOG_FILE=str(fifo)), timeout=30)
    assert r.returncode == 2 and r.stderr == "execcheck: cannot read %s: not a regular file\n" % fifo, r
    r = ec("log", "")
    assert r.returncode == 2 and r.stderr == "execcheck: log: FILE is empty (without FILE, the configured log " \
                                             "is read)\n", r
    with open(tmp_path / "out", "w") as write_only:
        r = ec("log", "-", stdin=write_only)
    assert r.returncode == 2 and r.stderr == "execcheck: cannot read standard input: Bad file descriptor\n", r


def cut_short(argv, after: int, stderr=subprocess.PIPE):
    """(exit status, stderr) of argv whose stdout is a pipe its reader closes after `after` bytes
    (0: before the command starts), as `| head -c1` does. stderr=subprocess.STDOUT: the same pipe."""
    if after == 0:
        r, w = os.pipe()
        os.close(r)
        p = subprocess.run(argv, stdout=w, stderr=stderr, text=True, timeout=120)
        os.close(w)
        return p.returncode, p.stderr
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=stderr, text=True)
    assert len(p.stdout.read(after)) == after
    p.stdout.close()
    err = p.stderr.read() if p.stderr else None
    return p.wait(timeout=120), err


def test_a_reader_that_stops_does_not_turn_a_verdict_into_success(tmp_path):
    """A closed pipe made every command exit 0: BrokenPipeError was caught as 'nothing wrong'
    before the command had its status, so `audit ... | head -c1` passed a failing audit and
    `check /nonexistent ... | head -c1` hid the error. The output is cut; the status is kept."""
    w = tmp_path / "w"
    w.mkdir()
    (w / "prog").write_bytes(open("/bin/true", "rb").read())
    os.chmod(w / "prog", 0o755)
    os.chmod(w, 0o777)  # a finding: writable code
    audit = execcheck_cmd() + ["audit", "--fail-on", "warning", str(w)]
    assert cut_short(audit, 0) == (1, "")
    assert cut_short(audit + ["--json"], 0) == (1, "")
    paths = ["/etc/hostname"] * 3000  # more than a pipe holds: the cut comes mid-output
    assert cut_short(execcheck_cmd() + ["check", "/nonexistent"] + paths, 1) == (
        2, "execcheck: /nonexistent: No such file or directory\n")
    assert cut_short(execcheck_cmd() + ["check"] + paths + [str(w)], 1) == (1, "")  # a directory: denied
    assert cut_short(execcheck_cmd() + ["check"] + paths, 1) == (0, "")
    # stderr the same pipe, cut before the message: the message is lost, the status is not
    assert cut_short(execcheck_cmd() + ["check", "/nonexistent"] + paths, 0, stderr=subprocess.STDOUT) == (2, None)


def test_sarif_uris_percent_encode_the_bytes_of_names(tmp_path):
    """A file name that is not UTF-8 with a finding was a UnicodeEncodeError traceback from
    quote(); the image root in originalUriBaseIds was not encoded at all (a space, a raw byte).
    A URI names bytes: each is percent-encoded (RFC 3986, as file URIs of such names are)."""
    w = tmp_path / "w"
    w.mkdir()
    name = os.fsdecode(b"a\xff b")
    (w / name).write_bytes(open("/bin/true", "rb").read())
    os.chmod(w / name, 0o755)
    os.chmod(w, 0o777)  # a finding: writable code
    r = ec("audit", "--sarif", str(w), errors="surrogateescape")
    no_traceback(r)
    assert r.returncode == 1 and r.stderr == "", r.stderr
    run_ = json.loads(r.stdout)["runs"][0]
    assert run_["originalUriBaseIds"]["ROOT"]["uri"] == "file:///"
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for res in run_["results"] for loc in res["locations"]}
    assert uris == {str(w).lstrip("/") + "/a%FF%20b"}, uris
    root = tmp_path / os.fsdecode(b"r \xff")
    (root / "bin").mkdir(parents=True)
    (root / "bin/p").write_bytes(open("/bin/true", "rb").read())
    os.chmod(root / "bin/p", 0o755)
    r = ec("audit", "--sarif", "--root", str(root), errors="surrogateescape")
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    run_ = json.loads(r.stdout)["runs"][0]
    assert run_["originalUriBaseIds"]["ROOT"]["uri"] == "file://%s/r%%20%%FF/" % tmp_path
    assert {loc["physicalLocation"]["artifactLocation"]["uri"] for res in run_["results"]
            for loc in res["locations"]} == {"bin/p"}


def test_install_carries_a_log_file_of_any_bytes_the_config_parser_reads(tmp_path):
    """`--log-file $'/\\xff'` was a UnicodeEncodeError traceback. policy.c's parser copies a value's
    bytes as they are (a path need not be UTF-8), so the config carries it, and it is read back as
    those bytes. A value longer than the parser's log_file field (255 bytes) made a config whose
    line the shim ignored (records went to syslog): refused, in one line."""
    import rootfs
    from execcheck.core import policy
    need_root()
    root = str(tmp_path / "root")
    rootfs.build(root)
    log_file = os.fsdecode(b"/var/log/\xff.jsonl")
    r = ec("image", "install", "--dry-run", "--log-file", log_file, root)
    no_traceback(r)
    assert r.returncode == 0 and "0644 /etc/execcheck.conf" in r.stdout, r.stderr
    r = ec("image", "install", "--log-file", log_file, root)
    assert r.returncode == 0, r.stderr
    assert b"\nlog_file = /var/log/\xff.jsonl\n" in open(root + "/etc/execcheck.conf", "rb").read()
    assert policy(config_path=root + "/etc/execcheck.conf").log_file == log_file
    for n, ok in ((254, True), (255, False)):
        r = ec("image", "install", "--dry-run", "--log-file", "/" + "x" * n, root)
        no_traceback(r)
        assert r.returncode == (0 if ok else 2), r.stderr
    assert r.stderr == "execcheck: --log-file %r has more than 255 bytes: /etc/execcheck.conf could not carry " \
                       "it\n" % ("/" + "x" * 255), r.stderr


def no_lone_surrogate(text: str):
    """JSON text whose \\u escapes are all Unicode: no lone surrogate (a pair is one character)."""
    json.dumps(json.loads(text), ensure_ascii=False).encode("utf-8")  # strict: raises on a lone surrogate


def test_json_output_spells_non_utf8_bytes_as_the_records_do(tmp_path):
    """`check --json $'\\xff'` printed "\\udcff": a lone surrogate, which no conforming JSON reader
    takes as text. The commands' JSON now follows the records' convention (csrc/text.c): a byte
    that is not UTF-8 is \\u00XX; a lone surrogate JSON itself spelled (in a log) is U+FFFD; and
    every other character is as before (ASCII output, pairs for characters beyond the BMP)."""
    ff = os.fsdecode(b"/nonexistent/\xff")
    r = ec("check", "--json", ff, "/nonexistent/\u00e9\U0001F600")
    assert r.returncode == 2 and '"path": "/nonexistent/\\u00ff"' in r.stdout, r.stdout
    assert '"path": "/nonexistent/\\u00e9\\ud83d\\ude00"' in r.stdout and r.stdout.isascii()
    no_lone_surrogate(r.stdout)
    w = tmp_path / "w"
    w.mkdir()
    (w / os.fsdecode(b"a\xff")).write_bytes(open("/bin/true", "rb").read())
    os.chmod(w / os.fsdecode(b"a\xff"), 0o755)
    os.chmod(w, 0o777)  # a finding: writable code
    r = ec("audit", "--json", str(w))
    assert r.returncode == 1 and r.stdout.isascii(), r.stderr
    no_lone_surrogate(r.stdout)
    assert "%s/a\u00ff" % w in {f["path"] for f in json.loads(r.stdout)["findings"]}
    log = tmp_path / "s.jsonl"
    log.write_bytes(b'{"path":"\\ud800","reason":"x"}\n{"path":"/p\xff","reason":"x"}\n')
    r = ec("log", "--json", str(log))
    assert r.returncode == 0 and r.stdout.isascii(), r.stderr
    no_lone_surrogate(r.stdout)
    assert {e["name"] for e in json.loads(r.stdout)["by_file"]} == {"\ufffd", "/p\u00ff"}


def test_image_verify_json_spells_non_utf8_bytes_as_the_records_do(tmp_path):
    import rootfs
    need_root()
    root = tmp_path / "root"
    rootfs.build(str(root))
    (root / "opt").mkdir()
    (root / "opt" / os.fsdecode(b"p\xff")).write_bytes(open("/bin/true", "rb").read())
    os.chmod(root / "opt" / os.fsdecode(b"p\xff"), 0o644)
    r = ec("image", "verify", "--json", str(root))
    assert r.returncode == 1 and r.stdout.isascii(), r.stderr
    no_lone_surrogate(r.stdout)
    doc = json.loads(r.stdout)
    assert "/opt/p\u00ff" in {f["path"] for f in doc["refusals"] + doc["not_run_but_refused"]}, doc


def test_image_verify_shows_the_images_names_escaped(tmp_path):
    """verify printed its shim problems raw, and they quote the image's /etc/ld.so.preload: an image
    from elsewhere wrote terminal escapes (a title, colours) into the builder's terminal; the
    image's root was printed raw in the verdict line too, and the `because` line quoted the first
    refused file raw. All are escaped as every name is."""
    import rootfs
    need_root()
    root = tmp_path / "r\x1b[31m"
    rootfs.build(str(root), python=False)
    assert ec("image", "prepare", "--apply", str(root)).returncode == 0  # its libraries refused no more
    (root / "etc/ld.so.preload").write_bytes(b"/a\xff\x1b]0;pwned\x07.so\n")
    (root / "opt").mkdir()
    (root / "opt/p\x1b]0;pwned\x07").write_bytes(open("/bin/true", "rb").read())
    os.chmod(root / "opt/p\x1b]0;pwned\x07", 0o644)
    r = ec("image", "verify", str(root), errors="surrogateescape")
    no_traceback(r)
    assert r.returncode == 1, r.stderr
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout and "\udcff" not in r.stdout, r.stdout
    assert "shim     /etc/ld.so.preload: /a\\xff\\x1b]0;pwned\\x07.so cannot be preloaded" in r.stdout, r.stdout
    assert "\nbecause  1 refused file the image runs (/opt/p\\x1b]0;pwned\\x07, a program); " in r.stdout, r.stdout
    assert r.stdout.endswith("%s/r\\x1b[31m: NOT ready to enforce (11 code files audited)\n" % tmp_path), r.stdout


def test_status_says_a_config_problem_once_and_a_log_file_problem_as_a_sentence(tmp_path):
    """`config /etc/execcheck.conf: ignored: group- or other-writable (/etc/execcheck.conf is
    writable by group or others: ignored)` said it twice; a log_file in a missing directory read
    `/x/y.jsonl its directory does not exist: ...`. One statement each now."""
    need_mountns()
    cmd = " ".join(execcheck_cmd())
    r = with_etc_file(tmp_path, "execcheck.conf", b"files = enforce\n", "sh", "-c",
                      'chmod 664 /etc/execcheck.conf; %s status' % cmd,
                      env={k: v for k, v in os.environ.items() if not k.startswith("EXECCHECK_")})
    no_traceback(r)
    assert r.returncode == 0, r.stderr
    assert "\nconfig          /etc/execcheck.conf is writable by group or others: ignored\n" in r.stdout, r.stdout
    assert "\nfiles           audit (nothing asks to enforce)\n" in r.stdout, r.stdout
    r = ec("status", env=dict(os.environ, EXECCHECK_LOG_FILE=str(tmp_path / "nodir/rec.jsonl")))
    assert "\n                %s is in a directory that does not exist: no record is written to it\n" % (
        tmp_path / "nodir/rec.jsonl") in r.stdout, r.stdout
    # a path through a regular file read "/etc/passwd/rec.jsonl not a directory: ..."
    r = ec("status", env=dict(os.environ, EXECCHECK_LOG_FILE="/etc/passwd/rec.jsonl"))
    assert "\n                /etc/passwd/rec.jsonl cannot be looked up (not a directory): no record is written to " \
        "it\n" in r.stdout, r.stdout


def test_status_says_a_preload_file_the_user_cannot_read_loads_nothing_for_them(tmp_path):
    """A 0600 /etc/ld.so.preload (a 'hardening' chmod) is read by ld.so with the rights of the
    program it starts: a user's programs preload nothing from it, with no word from glibc. status
    run as that user said only 'Permission denied' on the ld.so.preload line, and no fail-open."""
    need_root()
    need_mountns()
    nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    cmd = " ".join(nobody + execcheck_cmd())
    r = with_etc_file(tmp_path, "ld.so.preload", b"# site entries\n", "sh", "-c",
                      'chmod 600 /etc/ld.so.preload; %s status --json; %s status; %s cat /etc/ld.so.preload'
                      % (cmd, cmd, " ".join(nobody)))
    no_traceback(r)
    assert r.returncode == 1 and r.stderr.endswith("Permission denied\n"), r.stderr  # cat: as the loader finds it
    doc = json.JSONDecoder().raw_decode(r.stdout)[0]
    assert doc["ld_so_preload"]["error"] == "Permission denied", doc["ld_so_preload"]
    says = ("/etc/ld.so.preload cannot be read by this user, and ld.so reads it with the rights of the program it "
            "starts: none of its entries is loaded in this user's programs (set-user-ID ones aside); it must be "
            "readable by all (0644)")
    assert says in doc["fail_open"], doc["fail_open"]
    assert "\nnot covered     %s\n" % says in r.stdout, r.stdout
    (tmp_path / "again").mkdir()
    r = with_etc_file(tmp_path / "again", "ld.so.preload", b"# site entries\n", *execcheck_cmd(), "status", "--json")
    assert not [w for w in json.loads(r.stdout)["fail_open"] if "cannot be read" in w], r.stdout  # 0644: no word


def test_output_in_an_encoding_that_lacks_a_names_characters(tmp_path):
    """Under a locale whose encoding lacks a name's characters (PYTHONIOENCODING=ascii, an
    ISO-8859-1 LANG) `check /tmp/\\u00e9` printed its table row with Python's 'strict' encoder: a
    UnicodeEncodeError traceback, exit 1. Such a character is written as its backslash escape; a
    name's raw byte (surrogateescape) as that very byte, so `$(execcheck lib)` from a venv under
    a non-UTF-8 path is the path (a traceback too, where stdout was strict UTF-8: en_US.UTF-8)."""
    ascii_env = dict(os.environ, PYTHONIOENCODING="ascii")
    r = ec("check", "/nonexistent/\u00e9\U0001F600", env=ascii_env)
    no_traceback(r)
    assert r.returncode == 2 and r.stdout.endswith("  /nonexistent/\\xe9\\U0001f600\n"), r.stdout
    r = ec("check", "--json", "/nonexistent/\u00e9", env=ascii_env)  # JSON is ASCII already
    assert r.returncode == 2 and json.loads(r.stdout)[0]["path"] == "/nonexistent/\u00e9", r
    d = tmp_path / os.fsdecode(b"venv\xff")
    d.mkdir()
    shim = d / "libexeccheck.so"
    shim.write_bytes(b"")
    code = ("import sys\nfrom execcheck.commands import lib\nlib.lib_path = lambda *a: %r\n"
            "from execcheck.cli import main\nsys.exit(main(sys.argv[1:]))" % str(shim))
    for env in (dict(os.environ, PYTHONIOENCODING="utf-8"), ascii_env):  # utf-8: strict, as en_US.UTF-8 is
        p = subprocess.run([execcheck_cmd()[0], "-c", code, "lib"], env=env, capture_output=True, timeout=60)
        assert p.returncode == 0 and p.stderr == b"" and p.stdout == bytes(shim) + b"\n", p


def test_a_non_utf8_locale_takes_non_ascii_names_as_their_bytes(tmp_path):
    """Under an ASCII locale without Python's UTF-8 mode (LC_ALL=C, PYTHONUTF8=0,
    PYTHONCOERCECLOCALE=0), names from the core and from ld.so.conf were decoded as UTF-8 ("caf\\u00e9"),
    names from argv and os.listdir() by the locale (surrogates): the first ASCII os.fsencode of
    such a name ended audit, image prepare and image verify in a UnicodeEncodeError traceback.
    Each name is its bytes now, whatever the locale: named (escaped), and its library prepared."""
    import rootfs
    need_root()
    root = tmp_path / "root"
    rootfs.build(str(root), python=False)
    cafe = os.fsdecode("/opt/caf\u00e9/lib".encode())
    os.makedirs(str(root) + cafe)
    lib = str(root) + cafe + "/libcafe.so"
    with open(str(root) + "/usr/lib/x86_64-linux-gnu/libc.so.6", "rb") as src, open(lib, "wb") as dst:
        dst.write(src.read())
    os.chmod(lib, 0o644)
    with open(str(root) + "/etc/ld.so.conf.d/cafe.conf", "wb") as f:
        f.write("/opt/caf\u00e9/lib\n".encode())
    prog = tmp_path / os.fsdecode("caf\u00e9".encode())
    prog.write_bytes(open("/bin/true", "rb").read())
    os.chmod(prog, 0o755)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHON"))}
    env.update(LC_ALL="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    r = ec("audit", str(prog), env=env, errors="replace")
    no_traceback(r)
    assert r.returncode == 0 and "0 of 3 ELF files would be refused" in r.stdout, r.stdout + r.stderr
    r = ec("image", "prepare", str(root), env=env, errors="replace")
    no_traceback(r)
    assert r.returncode == 0 and "0644 -> 0755  library  /opt/caf\\xc3\\xa9/lib/libcafe.so\n" in r.stdout, r
    r = ec("image", "verify", str(root), env=env, errors="replace")
    no_traceback(r)
    assert r.returncode == 1 and "refused  /opt/caf\\xc3\\xa9/lib/libcafe.so: " in r.stdout, r.stdout + r.stderr


def test_audit_text_shows_the_root_and_the_images_fstab_escaped(tmp_path):
    """audit's first two lines printed ROOT and the noexec mount points of the image's /etc/fstab
    raw: an image from elsewhere set the auditor's terminal title (any escape sequence). Escaped as
    the findings' names are."""
    import rootfs
    need_root()
    root = tmp_path / "r\x1b[31m"
    rootfs.build(str(root), python=False)
    (root / "etc/fstab").write_bytes(b"tmpfs /t\x1b]0;pwned\x07mp tmpfs noexec 0 0\n")
    r = ec("audit", "--root", str(root), errors="surrogateescape")
    no_traceback(r)
    assert "\x1b" not in r.stdout and "\x07" not in r.stdout, r.stdout
    assert r.stdout.startswith("execcheck audit of image %s/r\\x1b[31m: " % tmp_path), r.stdout
    assert ", noexec mounts: /t\\x1b]0;pwned\\x07mp\n" in r.stdout, r.stdout

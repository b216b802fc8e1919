"""csrc/mapped.c through cffi: which file is mapped at an address, and the check of exactly that
file - the identity logic the audit face stands on, exercised in this very process."""
import ctypes
import mmap
import os
import shutil

import pytest

from conftest import C_DIR, need_check
from execcheck._native import ffi, lib

AT_PHDR = 3


@pytest.fixture(autouse=True)
def _kernel():
    need_check()


@pytest.fixture
def maps():
    m = ffi.new("struct ec_maps *", {"fd": -1})
    yield m
    lib.ec_maps_close(m)


def build_lib(cc, tmp_path, name, tag):
    return cc(C_DIR / "audit_lib.c", name, "-shared", "-fPIC", "-DTAG=\"%s\"" % tag)


def fn_address(path):
    """Loads path into this process and returns the address of its libfn (inside its text)."""
    handle = ctypes.CDLL(str(path))
    return ctypes.cast(handle.libfn, ctypes.c_void_p).value


def query(maps, addr, text=False):
    lib.ec_maps_force_text(maps, 1 if text else 0)
    vma = ffi.new("struct ec_vma *")
    name = ffi.new("char[4096]")
    r = lib.ec_maps_query(maps, addr, vma, name, 4096)
    return r, vma, ffi.string(name).decode()


def test_query_names_the_mapped_file_both_ways(cc, tmp_path, maps):
    path = build_lib(cc, tmp_path, "libq.so", "q")
    addr = fn_address(path)
    st = os.stat(path)
    for text in (False, True):  # PROCMAP_QUERY, then the text of /proc/self/maps
        r, vma, name = query(maps, addr, text)
        assert r == 0
        assert (vma.dev, vma.ino) == (st.st_dev, st.st_ino)
        assert vma.start <= addr < vma.end
        assert name == str(path)


def test_query_unmapped_address_is_enoent(maps):
    import errno
    for text in (False, True):
        r, _, _ = query(maps, 8, text)  # page 0 is never mapped
        assert r == -errno.ENOENT


def check(maps, addr, name):
    v = ffi.new("struct ec_verdict *")
    out = ffi.new("struct ec_mapped *")
    allowed = lib.ec_mapped_check(maps, ffi.cast("void *", addr), name.encode() if name is not None else ffi.NULL,
                                  0, v, out)
    return allowed, v, out


def reason(v):
    return ffi.string(lib.ec_reason_name(v.reason)).decode()


def test_check_follows_the_mapped_inode_not_the_name(cc, tmp_path, maps):
    good = build_lib(cc, tmp_path, "libgood.so", "good")
    addr = fn_address(good)
    allowed, v, out = check(maps, addr, str(good))
    assert allowed and out.what == lib.EC_MAPPED_FILE and not out.via_maps_name

    # the name now leads to another (0644) file; the mapped one lives on under a new name
    moved = tmp_path / "moved.so"
    os.rename(good, moved)
    shutil.copyfile(moved, good)
    os.chmod(good, 0o644)
    allowed, v, out = check(maps, addr, str(good))
    assert allowed and out.via_maps_name
    assert ffi.string(out.path).decode() == str(moved)
    st = os.stat(moved)
    assert (v.dev, v.ino) == (st.st_dev, st.st_ino)

    # gone from every name: nothing can be opened as the mapped file, so it is refused
    os.unlink(moved)
    allowed, v, out = check(maps, addr, str(good))
    assert not allowed and reason(v) == "mismatch"
    assert (v.dev, v.ino) == (st.st_dev, st.st_ino)


def test_check_of_a_0644_mapping_is_denied(cc, tmp_path, maps):
    path = build_lib(cc, tmp_path, "libnox.so", "nox")
    os.chmod(path, 0o644)
    allowed, v, out = check(maps, fn_address(path), str(path))
    assert not allowed and reason(v) == "x-bit" and out.what == lib.EC_MAPPED_FILE


def test_vdso_is_not_allowed_by_address(maps):
    """An address in the vDSO does not make an object the vDSO (ec_mapped_by_kernel knows that one
    by its load address too): an object whose dynamic section only points there is refused."""
    base = lib.ec_vdso_base()
    assert base
    allowed, v, out = check(maps, base, "linux-vdso.so.1")
    assert not allowed and out.what == lib.EC_MAPPED_VDSO and out.vma.ino == 0 and reason(v) == "mismatch"


def test_anonymous_memory_is_not_an_object(maps):
    private = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    shared = mmap.mmap(-1, 4096)  # shared anonymous memory has a shmem inode ("/dev/zero (deleted)")
    try:
        allowed, v, out = check(maps, ctypes.addressof(ctypes.c_char.from_buffer(private)), "fake.so")
        assert not allowed and out.what == lib.EC_MAPPED_UNKNOWN and reason(v) == "mismatch"
        allowed, v, out = check(maps, ctypes.addressof(ctypes.c_char.from_buffer(shared)), "fake.so")
        assert not allowed and out.what == lib.EC_MAPPED_FILE and reason(v) == "mismatch"
    finally:
        import gc
        gc.collect()  # the ctypes views must go before the maps can close


def test_program_is_known_as_executed_by_the_kernel(maps):
    phdr = ffi.new("unsigned long *")
    assert lib.ec_auxv_get(AT_PHDR, phdr) == 1
    allowed, v, out = check(maps, phdr[0], "")
    assert allowed and out.what == lib.EC_MAPPED_EXE
    st = os.stat("/proc/self/exe")
    assert (v.dev, v.ino) == (st.st_dev, st.st_ino)


def test_after_fork_the_child_reads_its_own_maps(cc, tmp_path, maps):
    path = build_lib(cc, tmp_path, "libchild.so", "child")
    r, _, _ = query(maps, 8)  # opens the maps fd in the parent
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            addr = fn_address(path)  # mapped only in the child
            r, vma, _ = query(maps, addr)
            code = 0 if r == 0 and vma.ino == os.stat(path).st_ino else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


FORK_BOTH_WAYS = r"""
import ctypes, os, sys
from execcheck._native import ffi, lib
path = sys.argv[1]  # mapped only in the children
m = ffi.new("struct ec_maps *", {"fd": -1})
vma = ffi.new("struct ec_vma *")

def child_reads_its_own_maps():
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            addr = ctypes.cast(ctypes.CDLL(path).libfn, ctypes.c_void_p).value
            r = lib.ec_maps_query(m, addr, vma, ffi.NULL, 0)
            code = 0 if r == 0 and vma.ino == os.stat(path).st_ino else 2
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

lib.ec_maps_query(m, 8, vma, ffi.NULL, 0)
print(m.epoch, child_reads_its_own_maps())  # a new process: told by getpid()
for _ in range(40):
    lib.ec_maps_query(m, 8, vma, ffi.NULL, 0)
print(m.epoch != 0, child_reads_its_own_maps())  # one that went on asking: told by the fork page
"""


def test_fork_is_noticed_before_and_after_the_fork_page(cc, tmp_path):
    """A process that asks little is told fork() by getpid(): making the MADV_WIPEONFORK page
    costs more than such a process saves by it. One that goes on asking gets the page. A forked
    child must read its own maps either way, never the parent's through the inherited fd."""
    import subprocess
    import sys
    path = build_lib(cc, tmp_path, "libforked.so", "forked")
    r = subprocess.run([sys.executable, "-c", FORK_BOTH_WAYS, str(path)], capture_output=True, text=True)
    said = [l for l in r.stdout.splitlines() if not l.startswith(("IFUNC ", "CTOR "))]  # the library's own
    assert r.returncode == 0 and said == ["0 0", "True 0"], r


def _dynamic_of(path_suffix):
    """(load address, address of the dynamic section) of this process's object whose name ends so
    (ld.so, the vDSO, libc), through dl_iterate_phdr."""
    class Info(ctypes.Structure):
        _fields_ = [("addr", ctypes.c_void_p), ("name", ctypes.c_char_p), ("phdr", ctypes.c_void_p),
                    ("phnum", ctypes.c_uint16)]
    found = []
    CB = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(Info), ctypes.c_size_t, ctypes.c_void_p)

    def cb(info, size, data):
        name = (info.contents.name or b"").decode()
        if name.endswith(path_suffix):
            for i in range(info.contents.phnum):
                ph = info.contents.phdr + 56 * i
                if ctypes.c_uint32.from_address(ph).value == 2:  # PT_DYNAMIC
                    addr = info.contents.addr or 0
                    found.append((addr, addr + ctypes.c_uint64.from_address(ph + 16).value))
        return 0
    ctypes.CDLL(None).dl_iterate_phdr(CB(cb), None)
    return found[0]


def test_kernel_mapped_objects_are_known_without_proc():
    """The interpreter and the vDSO are recognised by their images in memory, the program as the
    head of the main namespace; a library ld.so mapped itself is not."""
    ldso = _dynamic_of("ld-linux-x86-64.so.2" if os.uname().machine == "x86_64" else "ld-linux-aarch64.so.1")
    vdso, libc = _dynamic_of("linux-vdso.so.1"), _dynamic_of("libc.so.6")
    assert lib.ec_mapped_by_kernel(*ldso, 0) == 1
    assert lib.ec_mapped_by_kernel(*vdso, 0) == 1
    assert lib.ec_mapped_by_kernel(*libc, 0) == 0
    assert lib.ec_mapped_by_kernel(*libc, 1) == 1  # the head of the namespace: the program
    assert lib.ec_mapped_by_kernel(0, 0, 0) == 0


def test_an_object_pointing_into_a_kernel_image_is_not_it():
    """Another object's PT_DYNAMIC can point at the vDSO's or ld.so's dynamic section (or anywhere in
    them): ld.so would then read those tags as offsets from that object's own load address."""
    for addr, dyn in (_dynamic_of("linux-vdso.so.1"), _dynamic_of("ld-linux-x86-64.so.2" if os.uname().machine ==
                                                                    "x86_64" else "ld-linux-aarch64.so.1")):
        assert lib.ec_mapped_by_kernel(addr - 0x40000, dyn, 0) == 0
        assert lib.ec_mapped_by_kernel(addr, dyn + 16, 0) == 0
        assert lib.ec_mapped_by_kernel(addr, addr, 0) == 0


def test_auxv_is_read_from_the_start_up_stack():
    """The audit namespace's copy takes the auxiliary vector from after the environment: as the
    kernel laid it out, and as ld.so leaves it in secure mode (variables removed by moving the later
    ones down, stale pointers up to the old end). Anything else is refused (then /proc answers)."""
    raw = open("/proc/self/auxv", "rb").read()
    words = list(memoryview(raw).cast("Q"))
    keep = []
    def arr(values):
        a = ffi.new("unsigned long[]", values)
        keep.append(a)
        return ffi.cast("char *const *", a)
    env = [ffi.cast("unsigned long", ffi.new("char[]", b"A=1")) for _ in range(2)]
    keep.append(env)
    marker = [47, 424242]  # an extra entry of a type nothing here reads: proves which vector answers
    bogus = [int(env[0]), 0, 1 << 40] + marker + words  # a pointer after the NULL, then no second NULL
    assert lib.ec_auxv_take(arr(bogus)) == 0
    value = ffi.new("unsigned long *")
    assert not (lib.ec_auxv_get(47, value) == 1 and value[0] == 424242)  # refused: libc or /proc answers
    secure = [int(env[0]), 0, int(env[1]), int(env[0]), 0] + marker + words
    assert lib.ec_auxv_adopt(arr(secure)) is None  # a heap array: not the start-up stack, left alone
    assert not (lib.ec_auxv_get(47, value) == 1 and value[0] == 424242)
    assert lib.ec_auxv_take(arr(secure)) == 1
    assert lib.ec_auxv_get(47, value) == 1 and value[0] == 424242
    for t, v in zip(words[0::2], words[1::2]):
        if t in (3, 6, 7, 33):  # AT_PHDR, AT_PAGESZ, AT_BASE, AT_SYSINFO_EHDR: as the kernel said
            assert lib.ec_auxv_get(t, value) == (1 if v else 0) and value[0] == v, t


ENOSYS_IOCTL = r"""
import ctypes, os, struct, sys
from execcheck._native import ffi, lib
# seccomp: ioctl(_, PROCMAP_QUERY, _) fails with ENOSYS, as under qemu-user; all else allowed
nr_ioctl = {"x86_64": 16, "aarch64": 29}[os.uname().machine]
arch = {"x86_64": 0xc000003e, "aarch64": 0xc00000b7}[os.uname().machine]
prog = [(0x20, 0, 0, 4), (0x15, 1, 0, arch), (0x06, 0, 0, 0x7fff0000),
        (0x20, 0, 0, 0), (0x15, 0, 3, nr_ioctl), (0x20, 0, 0, 16 + 8), (0x15, 0, 1, 0xc0686611),
        (0x06, 0, 0, 0x00050000 | 38), (0x06, 0, 0, 0x7fff0000)]
code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in prog))
fprog = ctypes.create_string_buffer(struct.pack("HxxxxxxP", len(prog), ctypes.addressof(code)))
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
assert libc.prctl(38, 1, None, 0, 0) == 0 and libc.prctl(22, 2, fprog, 0, 0) == 0
m = ffi.new("struct ec_maps *", {"fd": -1})
vma = ffi.new("struct ec_vma *")
addr = ctypes.cast(libc.prctl, ctypes.c_void_p).value
r = lib.ec_maps_query(m, addr, vma, ffi.NULL, 0)
print(r, vma.ino == os.stat("/proc/self/map_files/%x-%x" % (vma.start, vma.end)).st_ino if r == 0 else -1)
"""


def test_maps_query_falls_back_to_text_when_the_ioctl_is_unknown():
    """qemu-user answers PROCMAP_QUERY with ENOSYS: the text of /proc/self/maps must answer then,
    as on kernels before 6.11 (ENOTTY), not an error that fails every object closed."""
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-c", ENOSYS_IOCTL], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.split() == ["0", "True"], r

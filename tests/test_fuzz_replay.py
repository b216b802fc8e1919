"""A fuzzing corpus replayed through the C core's parsers, under AddressSanitizer and UBSan.

tests/fuzz/TARGET/ holds inputs that fuzzing tests/c/fuzz_targets.c with libFuzzer found worth
keeping for each parser (what each target covers is said there): execcheck.conf and the
environment, JSON strings and records, ld.so.cache, ELF files, whole images through the
resolver, objects in memory (preload/loaded_deps.c). Each input goes through its target, built
here with the sanitizers and tests/c/fuzz_arena.c, whose one malloc per allocation lets ASan see
a byte past any one of them; a read out of bounds, undefined behaviour or a broken promise (an
index out of range, a record that is not one line) aborts. No libFuzzer is needed to replay.

Inputs named after what they found keep it found: gnu-hash-shift (a shift of 32 or more, UB),
nomem-result (a result whose edges named objects it did not have), aux-filtees (a second per
resolution). The resolver's inputs also run with each of their allocations failing in turn.
"""
import os
import subprocess

import pytest

from conftest import C_DIR

TOP = C_DIR.parent.parent
CORPUS = C_DIR.parent / "fuzz"
TARGETS = ["policy", "ldcache", "elf", "resolve", "loaded"]
SAN_ENV = dict(os.environ, ASAN_OPTIONS="detect_leaks=0:abort_on_error=1", UBSAN_OPTIONS="print_stacktrace=1")


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    out = tmp_path_factory.mktemp("fuzz") / "fuzz_targets"
    core = [str(p) for p in sorted((TOP / "csrc").glob("*.c")) if p.name != "arena.c"]
    # alignment is not checked: the tables of a loaded object are read where ld.so read them
    r = subprocess.run([os.environ.get("CC", "cc"), "-O1", "-g", "-fsanitize=address,undefined",
                        "-fno-sanitize-recover=all", "-fno-sanitize=alignment", "-DEXECCHECK_VERSION=\"test\"",
                        "-I", str(TOP / "csrc"), "-I", str(TOP / "preload"), "-I", str(C_DIR), "-o", str(out),
                        str(C_DIR / "fuzz_targets.c"), str(C_DIR / "fuzz_loaded.c"), str(C_DIR / "fuzz_arena.c")]
                       + core, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def inputs(target):
    files = sorted(str(p) for p in (CORPUS / target).iterdir())
    assert files, target
    return files


def replay(driver, target, files, tmp_path, timeout=300):
    r = subprocess.run([str(driver), target, str(tmp_path)] + files, capture_output=True, text=True,
                       timeout=timeout, env=SAN_ENV)
    assert r.returncode == 0, r.stderr[-4000:]
    assert r.stdout.split() == [target, str(len(files))]


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_replays_clean(driver, target, tmp_path):
    replay(driver, target, inputs(target), tmp_path)


def test_every_allocation_failure_of_a_resolution(driver, tmp_path):
    """Each allocation of these resolutions fails in turn (a session's memory limit, a failed mmap
    in the shim's dlopen guard): the result says so and stays whole. An object that could not be
    made had already joined the link map as its tail: the next walk of it went round for ever."""
    replay(driver, "faults", [f for f in inputs("resolve") if os.path.basename(f).startswith("image-")], tmp_path)

# execcheck: developer entry points. `make` sets everything up and shows the status; `make test` runs the tests.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
SOURCES := $(shell find csrc preload pyapi -name '*.[ch]' -o -name '*.cdef' -o -name '*.py' -o -name '*.map' 2>/dev/null) \
           pyproject.toml setup.py

.PHONY: all install test test-deps inplace bench clean distclean

all: install
	$(BIN)/execcheck status

install: $(VENV)/.installed

# A real install (pip install .), so the tests exercise what users get: the cffi extension and the
# shim built from csrc/ and preload/, placed in site-packages by pip.
$(VENV)/.installed: $(SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check '.[test]'
	touch $@

# the slowest tests are named at the end: where a CI run's time goes
test: test-deps install
	$(BIN)/python -m pytest --durations=15 tests

# System tools some tests need. CI (a clean root machine) gets them here, before the install, which
# builds the 32-bit shim only where gcc-multilib (and with it libc6-i386) is there, and the aarch64
# shim only where clang and lld can link against the arm64 cross libraries; qemu-user and those
# libraries are the aarch64 loader's ground truth (tests/test_aarch64.py fetches a newer, static
# qemu into its tmp dir for arm64 roots). Elsewhere those tests say what is missing and skip.
# libffi-dev: ctypes in the free-threaded CPython the tests build from Debian's source package
# btrfs-progs: a btrfs image whose subvolumes share inode numbers (tests/test_btrfs_identity.py)
# erofs-utils, squashfs-tools, xfsprogs: the images of tests/test_fs_kinds.py
TEST_PACKAGES := debootstrap valgrind gcc-multilib qemu-user clang lld libffi-dev btrfs-progs \
                 erofs-utils squashfs-tools xfsprogs \
                 libc6-arm64-cross libc6-dev-arm64-cross libgcc-12-dev-arm64-cross libasan8-arm64-cross
test-deps:
ifeq ($(CI),true)
	command -v debootstrap >/dev/null && command -v valgrind >/dev/null && ls /usr/lib/gcc/*/*/32/libgcc.a >/dev/null 2>&1 && \
	  command -v qemu-aarch64 >/dev/null && command -v clang >/dev/null && \
	  command -v ld.lld >/dev/null && command -v mkfs.btrfs >/dev/null && test -e /usr/aarch64-linux-gnu/include/link.h && \
	  command -v mkfs.erofs >/dev/null && command -v mksquashfs >/dev/null && command -v mkfs.xfs >/dev/null && \
	  test -e /usr/aarch64-linux-gnu/lib/libasan.so.8 && test -e /usr/include/ffi.h -o -e /usr/include/$$(gcc -print-multiarch)/ffi.h || \
	  apt-get install -y -q $(TEST_PACKAGES) >/dev/null || \
	  (apt-get update -q >/dev/null && apt-get install -y -q $(TEST_PACKAGES) >/dev/null)
endif

# In-tree build for hacking without a venv: PYTHONPATH=pyapi python3 -m execcheck ...
inplace:
	$(PYTHON) setup.py -q build_ext --inplace

bench: install
	for b in bench/*.py; do [ -e "$$b" ] || continue; echo "== $$b"; $(BIN)/python "$$b" || exit 1; done

clean:
	rm -rf build pyapi/*.egg-info pyapi/execcheck/_native*.so pyapi/execcheck/_native.c \
	       pyapi/execcheck/shim .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean
	rm -rf $(VENV)

/* The preload face (LD_PRELOAD, /etc/ld.so.preload): what a preloaded library can still do.
 *
 * It runs after any code an injected library brought in (DESIGN.md "The loader"), so it cannot
 * be the guard of its own process. It is a tripwire (tripwire.c: nothing unchecked reaches
 * main()), a guard of later dlopen() calls (dlopen_guard.c) and a propagator (propagate.c: every
 * process started from here runs under the audit face). Under the audit face only propagation is
 * left to do: the audit copy decides on every object itself, each before it runs.
 *
 * Only as a preload: a shim dlopen()ed into a running program (ctypes.CDLL) comes too late to be a
 * boundary of anything, and that program's state is not ours to change; it stays out. */
#define _GNU_SOURCE
#include <link.h>
#include "preload_face.h"
#include "propagate.h"
#include "shim.h"

extern int dl_iterate_phdr(int (*)(struct dl_phdr_info *, size_t, void *), void *) __attribute__((weak));

struct order {
    uintptr_t self, libc;
    int first; /* 1: this shim comes first in the link maps, 2: libc does */
};

static int order_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct order *o = data;
    (void)size;
    if (ec_object_holds(info, o->self)) o->first = 1;
    else if (ec_object_holds(info, o->libc)) o->first = 2;
    return o->first != 0;
}

/* ld.so maps every preload (LD_PRELOAD, --preload, /etc/ld.so.preload) before any DT_NEEDED
 * library, libc included: a shim that comes before libc in the link maps was preloaded. */
static int preloaded(void)
{
    struct order o;
    if (!dl_iterate_phdr) return 0;
    o.self = (uintptr_t)&preloaded;
    o.libc = (uintptr_t)dl_iterate_phdr;
    o.first = 0;
    ec_loaded_iterate(order_cb, &o);
    return o.first == 1;
}

/* The libc functions behind what the shim interposes (exec, fopen, dlopen), found at start, in one
 * thread, whatever else starts: a lookup made later in the child of a threaded fork() could wait on
 * a lock fork() did not reset. */
static void find_libc_functions(void)
{
    ec_propagate_resolve();
    ec_fopen_start();
    ec_open_start();
    ec_dlopen_guard_resolve();
}

int ec_preload_face_will_propagate(void) { return dl_iterate_phdr && !ec_shim_beside_other_libc() && preloaded(); }

static int guarding; /* the tripwire and the guard are this process's (no audit face) */

void ec_preload_face_start(void)
{
    find_libc_functions();
    if (!preloaded()) return;
    if (!ec_shim_under_audit_face()) {
        ec_tripwire_start();
        ec_dlopen_guard_start();
        guarding = 1;
    }
    ec_propagate_start();
}

/* At exit: what libc loaded on its own since the last sweep - a gconv module for iconv_open(), an
 * NSS module (__libc_dlopen_mode has no symbol to interpose) - that no later dlopen() met. Its code
 * has run: it is recorded, and enforcing, the exit status says so (126), as the audit face does
 * at its last consistent state. A process that ends by _exit() is not met here. */
__attribute__((destructor)) static void preload_face_stop(void)
{
    if (guarding && ec_tripwire_sweep(0, EC_FACE_PRELOAD, 0)) ec_exit_group(126);
}

void ec_preload_passthrough(void) { find_libc_functions(); }

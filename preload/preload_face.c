/* The preload face (LD_PRELOAD, /etc/ld.so.preload): what a preloaded library can still do.
 *
 * It runs after any code an injected library brought in (DESIGN.md "The loader"), so it cannot
 * be the guard of its own process. It is a tripwire (tripwire.c: nothing unchecked reaches
 * main()), a guard of later dlopen() calls (dlopen_guard.c) and a propagator (propagate.c: every
 * process started from here runs under the audit face). Under the audit face only propagation is
 * left to do: the audit copy decides on every object itself, each before it runs. */
#include "preload_face.h"
#include "propagate.h"
#include "shim.h"

void ec_preload_face_start(void)
{
    if (!ec_shim_under_audit_face()) {
        ec_tripwire_start();
        ec_dlopen_guard_start();
    }
    ec_propagate_start();
}

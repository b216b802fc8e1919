/* The preload face (LD_PRELOAD, /etc/ld.so.preload): what a preloaded library can still do.
 *
 * It runs after any code an injected library brought in (DESIGN.md "The loader"), so it cannot
 * be the guard of its own process; it makes every process started from here run under the audit
 * face (propagate.c). */
#include "propagate.h"
#include "shim.h"

void ec_preload_face_start(void) { ec_propagate_start(); }

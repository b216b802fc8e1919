/* libexeccheck.so: what every face of the shim shares.
 *
 * The library is built without libc (-nostdlib) so that the same file can be an rtld-audit
 * module (LD_AUDIT), a preload (LD_PRELOAD, /etc/ld.so.preload) and the CPython face. */
#include "shim.h"

/* Lets `execcheck status` and the tests identify a file as this shim, and its version. */
EC_EXPORT const char execcheck_shim_version[] = EXECCHECK_VERSION;

/* Propagation of the shim to every child (see propagate.c). */
#ifndef EXECCHECK_PROPAGATE_H
#define EXECCHECK_PROPAGATE_H

/* Finds libc's exec functions for the wrappers (a libc other than glibc too). Main namespace only. */
void ec_propagate_resolve(void) __attribute__((visibility("hidden")));
/* Rewrites environ and arms the exec wrappers with this shim's path. After ec_propagate_resolve. */
void ec_propagate_start(void) __attribute__((visibility("hidden")));
/* The absolute path propagated (this shim's file), or NULL when propagation is off. */
const char *ec_propagate_self_path(void) __attribute__((visibility("hidden")));

#endif

/* Propagation of the shim to every child (see propagate.c). */
#ifndef EXECCHECK_PROPAGATE_H
#define EXECCHECK_PROPAGATE_H

/* Rewrites environ and arms the exec wrappers. Main namespace only (needs libc's dlsym). */
void ec_propagate_start(void) __attribute__((visibility("hidden")));
/* The absolute path propagated (this shim's file), or NULL when propagation is off. */
const char *ec_propagate_self_path(void) __attribute__((visibility("hidden")));

#endif

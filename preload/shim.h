/* Shared declarations of the shim's faces. */
#ifndef EXECCHECK_SHIM_H
#define EXECCHECK_SHIM_H

#define EC_EXPORT __attribute__((visibility("default")))

#ifndef EXECCHECK_VERSION
#define EXECCHECK_VERSION "0.0.0"
#endif

#endif

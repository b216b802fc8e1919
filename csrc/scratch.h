/* Buffers off the stack, for code that runs on other programs' stacks.
 *
 * The shim's checks and records run on the stack of whatever called them: ld.so's start-up and
 * dlopen() (the audit face's callbacks), a program's dlopen() or exec*() (the preload face). A
 * program that just fits its `ulimit -s` alone must fit it with the shim too, so a path buffer,
 * a record's line or a file's program headers are not kept there. One buffer per process is kept
 * mapped and lent to one caller at a time; a caller that finds it lent - another thread, or a
 * signal handler that interrupted its borrower - maps one of its own for the call. No libc, no
 * lock to wait on: safe wherever the shim runs. */
#ifndef EXECCHECK_SCRATCH_H
#define EXECCHECK_SCRATCH_H

#include <stddef.h>

#define EC_SCRATCH_MAX (16u << 10) /* the most one borrower may ask for */

struct ec_scratch {
    void *mem;
    size_t len; /* 0: the kept buffer, else the length of a mapping of its own */
};

/* len (<= EC_SCRATCH_MAX) bytes, not zeroed; NULL when no memory can be had. Give it back with
 * ec_scratch_give before returning. */
void *ec_scratch_take(struct ec_scratch *s, size_t len);
void ec_scratch_give(struct ec_scratch *s);

#endif

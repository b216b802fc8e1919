/* A bump allocator over anonymous mmap chunks, for code that may not call malloc.
 *
 * The resolver runs inside the libc-free shim (DESIGN.md) as well as behind cffi, so its memory
 * comes from mmap through raw syscalls. Allocations are zeroed and live until the arena is
 * released to a mark or freed; a hard limit bounds what hostile input can make it take. */
#ifndef EXECCHECK_ARENA_H
#define EXECCHECK_ARENA_H

#include <stddef.h>

struct ec_arena_chunk;

struct ec_arena {
    struct ec_arena_chunk *head;  /* newest chunk first */
    size_t total;                 /* bytes mapped */
    size_t limit;                 /* never map more than this */
};

/* A position to come back to: everything allocated after it is dropped by ec_arena_release. */
struct ec_arena_mark {
    struct ec_arena_chunk *chunk;
    size_t used;
};

void ec_arena_init(struct ec_arena *a, size_t limit);
/* n zeroed bytes, 16-aligned; NULL when the limit would be passed or mmap fails. */
void *ec_arena_alloc(struct ec_arena *a, size_t n);
char *ec_arena_strndup(struct ec_arena *a, const char *s, size_t n);
char *ec_arena_strdup(struct ec_arena *a, const char *s);
struct ec_arena_mark ec_arena_mark(const struct ec_arena *a);
void ec_arena_release(struct ec_arena *a, struct ec_arena_mark m);
void ec_arena_free(struct ec_arena *a);

/* len zeroed bytes mapped on the first call and kept for the process, *slot holding them: for
 * state that most processes never touch. A static buffer of that size would cost every process
 * that maps the shim an anonymous mapping (setup.py, no_bss.ld). Thread-safe (the first to
 * publish wins); NULL when mmap fails. */
void *ec_map_once(void **slot, size_t len);
/* The same, with every page in place at once: for a table whose accesses spread over all of it,
 * where each fresh page would otherwise fault twice (a read maps the zero page, a write copies it),
 * and a page fault costs ~5 us on a VM like this one. */
void *ec_map_once_populated(void **slot, size_t len);

#endif

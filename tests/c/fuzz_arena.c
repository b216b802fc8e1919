/* The arena (csrc/arena.h) for the fuzz targets (fuzz_targets.c): one allocation per malloc, so
 * that AddressSanitizer sees a byte read or written past any one of them (the real bump allocator
 * hands out neighbouring bytes of one mapping), and the limit counts bytes exactly.
 * Fault injection: with ec_fault_at >= 0, allocation number ec_fault_at (counting in
 * ec_fault_count) and every one after it fail, as an arena at its limit or a failing mmap would. */
#include <stdlib.h>
#include <string.h>
#include "arena.h"

struct ec_arena_chunk {
    struct ec_arena_chunk *next;
    size_t size;
} __attribute__((aligned(16))); /* the user's bytes follow, 16-aligned as the real arena's */

long ec_fault_count, ec_fault_at = -1;

void ec_arena_init(struct ec_arena *a, size_t limit)
{
    a->head = 0;
    a->total = 0;
    a->limit = limit;
}

void *ec_arena_alloc(struct ec_arena *a, size_t n)
{
    struct ec_arena_chunk *c;
    if (ec_fault_at >= 0 && ec_fault_count++ >= ec_fault_at) return 0;
    if (n > a->limit || a->total + n > a->limit) return 0;
    c = calloc(1, sizeof *c + (n ? n : 1));
    if (!c) return 0;
    c->size = n;
    c->next = a->head;
    a->head = c;
    a->total += n;
    return c + 1;
}

char *ec_arena_strndup(struct ec_arena *a, const char *s, size_t n)
{
    char *d = ec_arena_alloc(a, n + 1);
    if (!d) return 0;
    memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *ec_arena_strdup(struct ec_arena *a, const char *s) { return ec_arena_strndup(a, s, strlen(s)); }

struct ec_arena_mark ec_arena_mark(const struct ec_arena *a)
{
    struct ec_arena_mark m;
    m.chunk = a->head;
    m.used = 0;
    return m;
}

void ec_arena_release(struct ec_arena *a, struct ec_arena_mark m)
{
    while (a->head && a->head != m.chunk) {
        struct ec_arena_chunk *c = a->head;
        a->head = c->next;
        a->total -= c->size;
        free(c);
    }
}

void ec_arena_free(struct ec_arena *a)
{
    struct ec_arena_mark none = {0, 0};
    ec_arena_release(a, none);
}

/* kept for the process, as the real ones */
void *ec_map_once(void **slot, size_t len)
{
    void *have = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *fresh;
    if (have) return have;
    if (!(fresh = calloc(1, len))) return 0;
    if (__atomic_compare_exchange_n(slot, &have, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return fresh;
    free(fresh);
    return have;
}

void *ec_map_once_populated(void **slot, size_t len) { return ec_map_once(slot, len); }

/* mmap-backed bump allocator (see arena.h). */
#include "arena.h"
#include "sys.h"
#include "text.h"

#define CHUNK_MIN ((size_t)1 << 20)
#define PAGE 4096u

struct ec_arena_chunk {
    struct ec_arena_chunk *next;
    size_t size;  /* bytes mapped, header included */
    size_t used;  /* bytes handed out, header included */
    size_t dirty; /* bytes ever handed out: beyond them the mapping is still as mmap made it, zero */
};

#define HDR ((sizeof(struct ec_arena_chunk) + 15) & ~(size_t)15)

void ec_arena_init(struct ec_arena *a, size_t limit)
{
    a->head = 0;
    a->total = 0;
    a->limit = limit;
}

static struct ec_arena_chunk *new_chunk(struct ec_arena *a, size_t need)
{
    size_t size = need + HDR > CHUNK_MIN ? need + HDR : CHUNK_MIN;
    void *p;
    struct ec_arena_chunk *c;
    size = (size + PAGE - 1) & ~(size_t)(PAGE - 1);
    if (size < need || a->total + size > a->limit) return 0;
    p = ec_mmap(0, size, EC_PROT_READ | EC_PROT_WRITE, EC_MAP_PRIVATE | EC_MAP_ANONYMOUS, -1, 0);
    if (ec_mmap_failed(p)) return 0;
    c = (struct ec_arena_chunk *)p;
    c->size = size;
    c->used = HDR;
    c->dirty = HDR;
    c->next = a->head;
    a->head = c;
    a->total += size;
    return c;
}

void *ec_arena_alloc(struct ec_arena *a, size_t n)
{
    struct ec_arena_chunk *c = a->head;
    char *p;
    if (n > (size_t)-1 - 15) return 0; /* rounded up it would wrap to a few bytes */
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    if (!c || c->size - c->used < n) {
        c = new_chunk(a, n);
        if (!c) return 0;
    }
    p = (char *)c + c->used;
    /* fresh mappings are zero, but released memory is reused: zero only what was handed out
     * before (a big buffer that is only partly written then costs no page it does not touch) */
    if (c->used < c->dirty) ec_memset(p, 0, c->dirty - c->used < n ? c->dirty - c->used : n);
    c->used += n;
    if (c->used > c->dirty) c->dirty = c->used;
    return p;
}

char *ec_arena_strndup(struct ec_arena *a, const char *s, size_t n)
{
    char *d = ec_arena_alloc(a, n + 1);
    if (!d) return 0;
    ec_memcpy(d, s, n);
    d[n] = 0;
    return d;
}

char *ec_arena_strdup(struct ec_arena *a, const char *s) { return ec_arena_strndup(a, s, ec_strlen(s)); }

struct ec_arena_mark ec_arena_mark(const struct ec_arena *a)
{
    struct ec_arena_mark m;
    m.chunk = a->head;
    m.used = a->head ? a->head->used : 0;
    return m;
}

void ec_arena_release(struct ec_arena *a, struct ec_arena_mark m)
{
    while (a->head && a->head != m.chunk) {
        struct ec_arena_chunk *c = a->head;
        a->head = c->next;
        a->total -= c->size;
        ec_munmap(c, c->size);
    }
    if (a->head) a->head->used = m.used;
}

void ec_arena_free(struct ec_arena *a)
{
    struct ec_arena_mark none = {0, 0};
    ec_arena_release(a, none);
}

static void *map_once(void **slot, size_t len, int flags)
{
    void *have = __atomic_load_n(slot, __ATOMIC_ACQUIRE), *fresh;
    if (have) return have;
    fresh = ec_mmap(0, len, EC_PROT_READ | EC_PROT_WRITE, EC_MAP_PRIVATE | EC_MAP_ANONYMOUS | flags, -1, 0);
    if (ec_mmap_failed(fresh)) return 0;
    if (__atomic_compare_exchange_n(slot, &have, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return fresh;
    ec_munmap(fresh, len); /* another thread's is in place: use it */
    return have;
}

void *ec_map_once(void **slot, size_t len) { return map_once(slot, len, 0); }

void *ec_map_once_populated(void **slot, size_t len) { return map_once(slot, len, EC_MAP_POPULATE); }

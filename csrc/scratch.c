/* Buffers off the stack (see scratch.h). */
#include "scratch.h"
#include "arena.h"
#include "sys.h"

static void *kept;  /* EC_SCRATCH_MAX bytes, mapped by the first borrower */
static int lent;    /* 1 while a borrower has it */

void *ec_scratch_take(struct ec_scratch *s, size_t len)
{
    int free_now = 0;
    void *p;
    s->mem = 0;
    s->len = 0;
    if (len > EC_SCRATCH_MAX) return 0;
    if (__atomic_compare_exchange_n(&lent, &free_now, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        if ((s->mem = ec_map_once(&kept, EC_SCRATCH_MAX))) return s->mem;
        __atomic_store_n(&lent, 0, __ATOMIC_RELEASE);
        return 0;
    }
    /* lent (a fork() while another thread had it leaves it so in the child: each call maps) */
    p = ec_mmap(0, len, EC_PROT_READ | EC_PROT_WRITE, EC_MAP_PRIVATE | EC_MAP_ANONYMOUS, -1, 0);
    if (ec_mmap_failed(p)) return 0;
    s->mem = p;
    s->len = len;
    return p;
}

void ec_scratch_give(struct ec_scratch *s)
{
    if (!s->mem) return;
    if (s->len) ec_munmap(s->mem, s->len);
    else __atomic_store_n(&lent, 0, __ATOMIC_RELEASE);
    s->mem = 0;
}

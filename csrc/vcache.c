/* Verdict cache (see vcache.h). */
#include "vcache.h"
#include "text.h"

#define SLOTS 64

struct key {
    uint64_t dev, ino, mnt;
    uint64_t subvol;        /* 0: the filesystem has none (its inode numbers are its own) */
    int64_t ctime_sec;
    uint32_t ctime_nsec;
};

struct entry {
    struct key key;         /* the file that was checked, as statx saw it */
    unsigned gen;           /* valid only while it equals the cache's generation */
    unsigned holds;         /* holders of the checked inode (ec_vcache_hold): while any, its number
                             * cannot be handed to another file */
    struct ec_verdict v;
};

static struct entry table[SLOTS];
static unsigned generation = 1;
static unsigned next_slot; /* round-robin replacement: entries live for one load operation */
/* How many of the slots before next_slot were stored in generation live_gen: a lookup reads those
 * alone, newest first. A process usually stores a few verdicts between clears, and reading all
 * 64 slots touched two pages of memory (a page fault each, in every process). */
static unsigned live, live_gen;

static unsigned live_count(unsigned gen) { return live_gen == gen ? live : 0; }

static struct entry *slot_back(unsigned k) { return &table[(next_slot - 1 - k) % SLOTS]; }

static struct entry *take_slot(unsigned gen)
{
    if (live_gen != gen) live = 0, live_gen = gen;
    if (live < SLOTS) live++;
    return &table[next_slot++ % SLOTS];
}

static int busy; /* ec_try_lock: a caller that finds it taken does without the cache */

void ec_vcache_clear(void)
{
    /* Without the lock the bump still happens: readers compare generations, so a clear can
     * never be lost, only an insert that races it. */
    __atomic_add_fetch(&generation, 1, __ATOMIC_ACQ_REL);
}

/* The key's subvolume: 0 where the filesystem has none, else the subvolume + 1 (btrfs' top one is 5) */
static uint64_t subvol_of(const struct ec_statx *st) { return EC_STX_NUMBERS_SHARED(st) ? EC_STX_SUBVOL(st) + 1 : 0; }

static int same_key(const struct key *k, const struct ec_statx *st, uint64_t dev)
{
    return k->dev == dev && k->ino == st->stx_ino && k->mnt == EC_STX_MNT_ID(st) && k->subvol == subvol_of(st) &&
           k->ctime_sec == st->stx_ctime.tv_sec && k->ctime_nsec == st->stx_ctime.tv_nsec;
}

static void key_of(struct key *k, const struct ec_statx *st)
{
    k->dev = ec_makedev(st->stx_dev_major, st->stx_dev_minor);
    k->ino = st->stx_ino;
    k->mnt = EC_STX_MNT_ID(st);
    k->subvol = subvol_of(st);
    k->ctime_sec = st->stx_ctime.tv_sec;
    k->ctime_nsec = st->stx_ctime.tv_nsec;
}

int ec_vcache_same_file(const struct ec_statx *a, const struct ec_statx *b)
{
    struct key k;
    key_of(&k, a);
    return same_key(&k, b, ec_makedev(b->stx_dev_major, b->stx_dev_minor));
}

int ec_vcache_lookup(const struct ec_statx *st, struct ec_verdict *v)
{
    uint64_t dev = ec_makedev(st->stx_dev_major, st->stx_dev_minor);
    unsigned gen, i, n;
    int found = 0;
    if (!(st->stx_mask & EC_STATX_MNT_ID) || !ec_try_lock(&busy)) return 0;
    gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    n = live_count(gen);
    for (i = 0; i < n && !found; i++) {
        const struct entry *e = slot_back(i);
        if (e->gen == gen && same_key(&e->key, st, dev)) {
            *v = e->v;
            found = 1;
        }
    }
    ec_unlock(&busy);
    return found;
}

int ec_vcache_lookup_id(uint64_t dev, uint64_t ino, const struct ec_statx *name_st, struct ec_verdict *v)
{
    uint64_t ndev = name_st ? ec_makedev(name_st->stx_dev_major, name_st->stx_dev_minor) : 0;
    unsigned gen, i, n;
    int found = 0, agree = 1;
    if ((name_st && !(name_st->stx_mask & EC_STATX_MNT_ID)) || !ec_try_lock(&busy)) return 0;
    gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    n = live_count(gen);
    for (i = 0; i < n; i++) {
        const struct entry *e = slot_back(i);
        /* a mapping's (dev, ino) does not name a file whose numbers are per subvolume */
        if (e->gen != gen || e->key.dev != dev || e->key.ino != ino || e->key.subvol) continue;
        if (name_st ? !same_key(&e->key, name_st, ndev) : !e->holds) continue;
        if (found && e->v.allowed != v->allowed) agree = 0;
        if (!found) *v = e->v; /* the newest */
        found = 1;
    }
    ec_unlock(&busy);
    return found && agree;
}

/* Adds delta to the holds of the entries stored under the file (dev, ino). 1 done, 0 the cache was
 * busy. */
static int add_holds(uint64_t dev, uint64_t ino, int delta)
{
    unsigned gen, i, n;
    if (!ec_try_lock(&busy)) return 0;
    gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    n = live_count(gen);
    for (i = 0; i < n; i++) {
        struct entry *e = slot_back(i);
        if (e->gen != gen || e->key.dev != dev || e->key.ino != ino) continue;
        /* an entry stored after this holder's hold was not counted by it: never below zero */
        if (delta > 0 || e->holds) e->holds += (unsigned)delta;
    }
    ec_unlock(&busy);
    return 1;
}

int ec_vcache_hold(uint64_t dev, uint64_t ino) { return add_holds(dev, ino, 1); }

void ec_vcache_let_go(uint64_t dev, uint64_t ino)
{
    /* A hold left standing after the inode is let go would answer for whatever file gets its
     * number next: a busy cache (another thread in it) is cleared instead - never waited for,
     * this may run where that thread is interrupted. */
    if (!add_holds(dev, ino, -1)) ec_vcache_clear();
}

/* Stores v under key in the slot of the current generation. */
static void put(const struct key *key, const struct ec_verdict *v)
{
    struct entry *e;
    unsigned gen;
    if (!ec_try_lock(&busy)) return;
    gen = __atomic_load_n(&generation, __ATOMIC_ACQUIRE);
    e = take_slot(gen);
    e->key = *key;
    e->holds = 0;
    e->v = *v;
    e->gen = gen;
    ec_unlock(&busy);
}

static void store(const struct ec_statx *st, const struct ec_verdict *v)
{
    struct key k;
    if (!(st->stx_mask & EC_STATX_MNT_ID)) return; /* key incomplete */
    key_of(&k, st);
    /* a verdict about another state of the file than the key (chmod in between) is not stored */
    if (v->dev != k.dev || v->ino != k.ino || v->ctime_sec != k.ctime_sec || v->ctime_nsec != k.ctime_nsec) return;
    put(&k, v);
}

static int check_fd_with(int fd, const char *name, const struct ec_statx *st, struct ec_verdict *v, int *cached);

/* Out of line, with the statx buffer that a caller with one of its own (la_objopen's, deep in
 * the loader) must not find on its stack. */
static __attribute__((noinline)) int check_fd_stat_first(int fd, const char *name, struct ec_verdict *v, int *cached)
{
    struct ec_statx own;
    ec_memset(&own, 0, sizeof own);
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, &own) < 0)
        return ec_check_fd(fd, name, v); /* no key: no cache */
    return check_fd_with(fd, name, &own, v, cached);
}

int ec_vcache_check_fd(int fd, const char *name, const struct ec_statx *given, struct ec_verdict *v, int *cached)
{
    if (cached) *cached = 0;
    if (!given) return check_fd_stat_first(fd, name, v, cached);
    return check_fd_with(fd, name, given, v, cached);
}

static int check_fd_with(int fd, const char *name, const struct ec_statx *st, struct ec_verdict *v, int *cached)
{
    int r;
    if (ec_vcache_lookup(st, v)) {
        if (cached) *cached = 1;
        return v->allowed;
    }
    r = ec_check_fd_stat(fd, name, st, v);
    store(st, v);
    return r;
}

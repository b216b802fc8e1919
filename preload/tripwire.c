/* The tripwire: before main(), every object already in the process is checked.
 *
 * A preload's constructor runs after the IFUNC resolvers of every initial object and after the
 * constructors of whatever an earlier preload dragged in (research/glibc-loader.md §2), so this
 * cannot stop code that already ran; it stops the program before main() (exit 126, enforcing)
 * and leaves a record of what was there. Each object is identified by the kernel (the mapping that
 * holds l_ld, mapped.h) and checked as that inode, like the audit face does.
 *
 * The same walk, run again later, is the dlopen guard's check of what a load really added
 * (dlopen_guard.c): objects seen once are remembered by their link map, so a later walk checks
 * only newcomers (libc's own gconv/NSS loads included).
 *
 * The walk that first meets an object loaded by a relative name also notes the directory it was
 * loaded from, which glibc took its $ORIGIN from, for the guard's predictions (load_cwd below). */
#define _GNU_SOURCE
#include <link.h>
#include <stddef.h>
#include "mapped.h"
#include "preload_face.h" /* ec_loaded_iterate */
#include "record.h"
#include "shim.h"
#include "sys.h"
#include "text.h"
#include "tripwire.h"
#include "vcache.h"

extern int dl_iterate_phdr(int (*)(struct dl_phdr_info *, size_t, void *), void *) __attribute__((weak));
extern struct r_debug _r_debug __attribute__((weak));

/* ---- objects already decided, by link map ----
 * A link map can be freed (dlclose) and its memory reused for another object, so an entry is the
 * map's address together with its load address, dynamic section and name pointer: a newcomer
 * would have to match all four to pass unseen. Entries of unloaded objects are dropped when ld.so
 * says something may have been removed (dlpi_subs). Only touched under ld.so's dl_load_write_lock
 * (inside dl_iterate_phdr), which serializes every walk. */
struct seen {
    uintptr_t map, addr, ld, name; /* map 0: a free slot */
    const char *cwd;               /* a relative l_name: the directory it was loaded from, NULL unknown */
    int live;                      /* found in the current walk */
    int closed;                    /* unloading (la_objclose): listed a while yet, not a newcomer */
};

static struct seen *seen;      /* open addressing by map address, at most half full */
static struct ec_maps maps = EC_MAPS_INIT;
/* 64 slots, a page: a process starts with a handful of objects; one with more doubles it */
#define SEEN_FIRST 64
static size_t seen_cap, seen_n;
static unsigned long long seen_adds = ~0ull, seen_subs = ~0ull;

static size_t seen_slot(uintptr_t map, size_t cap)
{
    uint64_t h = (uint64_t)map * 0x9e3779b97f4a7c15ull;
    return (size_t)(h >> 20) & (cap - 1);
}

static void seen_put(struct seen *table, size_t cap, const struct seen *e)
{
    size_t k = seen_slot(e->map, cap);
    while (table[k].map && table[k].map != e->map) k = (k + 1) & (cap - 1);
    table[k] = *e;
}

/* A table of cap slots holding the live entries of the current one (keep_all: every entry). */
static int seen_rebuild(size_t cap, int keep_all)
{
    /* populated now: the walk reads a slot before it writes it, two page faults per fresh page */
    struct seen *n = ec_mmap(0, cap * sizeof *n, EC_PROT_READ | EC_PROT_WRITE,
                             EC_MAP_PRIVATE | EC_MAP_ANONYMOUS | EC_MAP_POPULATE, -1, 0);
    size_t i, count = 0;
    if (ec_mmap_failed(n)) return -1;
    for (i = 0; i < seen_cap; i++)
        if (seen[i].map && (keep_all || seen[i].live)) {
            seen_put(n, cap, &seen[i]);
            count++;
        }
    if (seen) ec_munmap(seen, seen_cap * sizeof *seen);
    seen = n;
    seen_cap = cap;
    seen_n = count;
    return 0;
}

static struct seen *seen_find(const struct link_map *l)
{
    size_t k;
    if (!seen_cap) return 0;
    for (k = seen_slot((uintptr_t)l, seen_cap); seen[k].map; k = (k + 1) & (seen_cap - 1))
        if (seen[k].map == (uintptr_t)l)
            return seen[k].addr == (uintptr_t)l->l_addr && seen[k].ld == (uintptr_t)l->l_ld &&
                           seen[k].name == (uintptr_t)l->l_name
                       ? &seen[k]
                       : 0;
    return 0;
}

static void seen_add(const struct link_map *l, const char *cwd)
{
    struct seen e;
    if ((seen_n + 1) * 2 > seen_cap && seen_rebuild(seen_cap ? seen_cap * 2 : SEEN_FIRST, 1) < 0)
        return; /* not remembered: checked again next time */
    e.map = (uintptr_t)l;
    e.addr = (uintptr_t)l->l_addr;
    e.ld = (uintptr_t)l->l_ld;
    e.name = (uintptr_t)l->l_name;
    e.cwd = cwd;
    e.live = 1;
    e.closed = 0;
    {
        /* the same map address with other contents: a new object in reused memory, replace it */
        size_t k = seen_slot(e.map, seen_cap);
        while (seen[k].map && seen[k].map != e.map) k = (k + 1) & (seen_cap - 1);
        if (!seen[k].map) seen_n++;
        seen[k] = e;
    }
}

/* ---- where relative names were taken from ----
 * glibc fixes the $ORIGIN of an object it loads by a relative name (a relative LD_LIBRARY_PATH or
 * RUNPATH entry, dlopen("./x.so")) from the directory current at the load (_dl_new_object), and
 * the program may change directory after. The walk that first meets such an object notes the
 * current directory if the name still leads from it to the mapped file (no chdir in between);
 * otherwise the directory is not known, and the guard will not predict what that object's
 * $ORIGIN finds. The directories are kept in one lazily mapped pool (one is the usual count). */

#define CWD_POOL (64 << 10)
#define CWD_MAX 4096 /* getcwd fails past a page */
static char *cwd_pool;
static size_t cwd_used;
static const char *cwd_last;

static int relative_path(const char *name) { return name && name[0] && name[0] != '/' && ec_strchr(name, '/'); }

static const char *load_cwd(const struct link_map *l, const struct ec_mapped *found)
{
    char *dst;
    long n;
    if (!relative_path(l->l_name) || !ec_mapped_name_leads_to(&maps, l->l_name, &found->vma)) return 0;
    if (!cwd_pool) {
        char *p = ec_mmap(0, CWD_POOL, EC_PROT_READ | EC_PROT_WRITE, EC_MAP_PRIVATE | EC_MAP_ANONYMOUS, -1, 0);
        if (ec_mmap_failed(p)) return 0;
        cwd_pool = p;
    }
    if (CWD_POOL - cwd_used < CWD_MAX) return 0; /* full: not known */
    dst = cwd_pool + cwd_used;
    n = ec_sys2(EC_NR_getcwd, (long)dst, CWD_MAX); /* the length with its NUL */
    if (n < 2 || dst[0] != '/') return 0;                /* "(unreachable)/...": glibc has none either */
    if (cwd_last && !ec_strcmp(cwd_last, dst)) return cwd_last;
    cwd_used += (size_t)n;
    return cwd_last = dst;
}

int ec_tripwire_load_cwd(const char *name, uintptr_t addr, const char **cwd)
{
    size_t k;
    for (k = 0; k < seen_cap; k++)
        if (seen[k].map && seen[k].name == (uintptr_t)name && seen[k].addr == addr) {
            *cwd = seen[k].cwd;
            return 1;
        }
    return 0;
}

/* ---- the walk ---- */

struct sweep {
    int refused; /* an enforced denial was found */
    int checked; /* objects checked in this walk */
    int full;    /* check every object, remembered or not (the start-up tripwire) */
    int face;    /* whose records */
    int prune;   /* only mark what is remembered as live, check and add nothing */
};


/* A load operation is over: its maps fd and its verdicts go. Under ld.so's lock: another thread's
 * walk may be using the same maps fd. */
static void operation_over(void)
{
    ec_maps_close(&maps);
    ec_vcache_clear();
}

/* The r_debug a program's DT_DEBUG entry points at (set by ld.so at start-up), or NULL. */
static const struct r_debug *debug_entry(const ElfW(Dyn) *d)
{
    for (; d && d->d_tag != DT_NULL; d++)
        if (d->d_tag == DT_DEBUG && d->d_un.d_ptr) return (const struct r_debug *)d->d_un.d_ptr;
    return 0;
}

/* ld.so's own r_debug (r_debug_extended since glibc 2.35: r_next links the namespaces). The
 * program's DT_DEBUG entry points at it even when the program has a copy-relocated _r_debug of
 * the old size; fall back to the symbol. */
static const struct r_debug *find_r_debug(const struct dl_phdr_info *main_info)
{
    const struct r_debug *r = 0;
    int i;
    for (i = 0; main_info && !r && i < main_info->dlpi_phnum; i++)
        if (main_info->dlpi_phdr[i].p_type == PT_DYNAMIC)
            r = debug_entry((const ElfW(Dyn) *)(main_info->dlpi_addr + main_info->dlpi_phdr[i].p_vaddr));
    return r ? r : &_r_debug ? &_r_debug : 0;
}

struct check_state {
    struct ec_verdict v;
    struct ec_mapped found;
};

/* check_one with its findings in cs. */
static const char *check_with(struct sweep *sw, const struct link_map *l, int is_main, int first, struct check_state *cs)
{
    const char *path, *cwd;
    int once = 0, allowed;
    allowed = ec_mapped_check_object(&maps, l->l_addr, l->l_ld, l->l_name, EC_MAPPED_USE_CACHE, &cs->v, &cs->found);
    cwd = first && cs->found.what == EC_MAPPED_FILE ? load_cwd(l, &cs->found) : 0;
    if (allowed) return cwd;
    path = cs->found.path[0] ? cs->found.path : "(unnamed object)";
    if (!ec_shim_deny_once(is_main ? EC_KIND_PROGRAM : EC_KIND_LIBRARY, sw->face, path, &cs->v, &once)) return cwd;
    sw->refused = 1;
    if (once) ec_say_refused(is_main ? "run" : "run with", path, cs->v.reason);
    return cwd;
}

/* A check under another on this thread: a handler of a signal the walk lets through (a seccomp
 * SIGSYS at a check) that dlopen()s (ld.so's lock around the walk is recursive). */
static __attribute__((noinline)) const char *check_nested(struct sweep *sw, const struct link_map *l, int is_main,
                                                          int first)
{
    struct check_state cs;
    return check_with(sw, l, is_main, first, &cs);
}

/* The findings (1 KiB with their path) are not on the stack: the start-up sweep runs on the
 * program's stack under its `ulimit -s`, and the guard's in its dlopen() call. Every walk holds
 * ld.so's dl_load_write_lock (or, without libc, its load lock): one check at a time. */
static struct check_state check_state;
static volatile int check_busy;

/* Returns, for an object with a relative name met the first time (first), the directory it was
 * loaded from (load_cwd), else NULL. */
static const char *check_one(struct sweep *sw, const struct link_map *l, int is_main, int first)
{
    const char *cwd;
    sw->checked++;
    if (ec_mapped_by_kernel(l->l_addr, (uintptr_t)l->l_ld, is_main)) return 0; /* the program, ld.so, the vDSO */
    if (check_busy) return check_nested(sw, l, is_main, first);
    check_busy = 1;
    cwd = check_with(sw, l, is_main, first, &check_state);
    check_busy = 0;
    return cwd;
}

/* this file's own dynamic section: the audit face's own link map holds it */
extern ElfW(Dyn) _DYNAMIC[] __attribute__((visibility("hidden")));

static void visit(struct sweep *sw, const struct link_map *l, int is_main)
{
    struct seen *s;
    const char *cwd;
    /* an object ld.so made up without mapping anything (no dynamic section) holds no code */
    if (!l->l_ld) return;
    /* the audit module itself, loaded before it could be told of anything: the one deciding */
    if (sw->face == EC_FACE_AUDIT && l->l_ld == _DYNAMIC) return;
    if ((s = seen_find(l))) {
        s->live = 1;
        if (!sw->full || s->closed) return;
    }
    if (sw->prune) return;
    cwd = check_one(sw, l, is_main, !s);
    if (!s) seen_add(l, cwd);
}

static void walk_namespaces(struct sweep *sw, const struct r_debug *r, const struct link_map *fallback)
{
    const struct r_debug_extended *x = (const struct r_debug_extended *)r;
    const struct link_map *l;
    int extended, ns;
    if (!r || !r->r_map) {
        /* no r_debug to follow: the program's namespace, from its head */
        for (l = fallback; l; l = l->l_next) visit(sw, l, l == fallback);
        return;
    }
    extended = r->r_version >= 2;
    for (ns = 0; x; x = extended ? x->r_next : 0, ns++)
        for (l = x->base.r_map; l; l = l->l_next) visit(sw, l, ns == 0 && !l->l_prev);
}

struct walk_arg {
    struct sweep *sw;
    int done;
};

/* Walks every namespace with sw, marking what is still listed (live) among the objects remembered. */
static void walk_marking_live(struct sweep *sw, const struct dl_phdr_info *info)
{
    size_t i;
    for (i = 0; i < seen_cap; i++) seen[i].live = 0;
    /* the first object dl_iterate_phdr reports is the program; its link map is the list head */
    walk_namespaces(sw, find_r_debug(info), &_r_debug && _r_debug.r_map ? _r_debug.r_map : 0);
}

static int walk_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct walk_arg *a = data;
    struct sweep *sw = a->sw;
    unsigned long long adds = 0, subs = 0;
    int counters = size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs;
    if (counters) {
        adds = info->dlpi_adds;
        subs = info->dlpi_subs;
    }
    a->done = 1;
    /* a maps fd the guard's notes left open: the load's constructors ran since, and may have
     * closed it (the number then names something else, which must not get our ioctl) */
    ec_maps_revalidate(&maps);
    /* nothing loaded or unloaded since the last walk: every object has been seen */
    if (!sw->full && counters && adds == seen_adds && subs == seen_subs) {
        operation_over(); /* a maps fd open only if a note left it so */
        return 1;
    }
    walk_marking_live(sw, info);
    /* something may be gone: forget the maps not met (memory reused). Not after the first walk,
     * which met every entry it made (a new table, and the old one unmapped, in every process) */
    if (counters && subs != seen_subs && seen_subs != ~0ull && seen_cap)
        seen_rebuild(seen_cap, 0);
    if (counters) {
        seen_adds = adds;
        seen_subs = subs;
    }
    operation_over();
    return 1; /* one call is enough: the walk above covered every namespace */
}

static int over_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    (void)info;
    (void)size;
    (void)data;
    operation_over();
    return 1;
}

void ec_tripwire_no_sweep(void)
{
    if (dl_iterate_phdr) ec_loaded_iterate(over_cb, 0);
    else ec_vcache_clear();
}

/* Forgets the objects unloaded since the last walk, checking nothing and adding nothing. A link
 * map, its name and its mapping freed by dlclose() are often handed to the next load of an object
 * of the same sizes: the same four values. Met first by the sweep after that load, the newcomer
 * would pass for the old one - not checked, and with the old one's load directory (another cwd:
 * the guard then predicted its $ORIGIN from the wrong place). Dropped while the old one is gone. */
static int prune_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct sweep sw;
    (void)data;
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) return 1;
    if (info->dlpi_subs == seen_subs || seen_subs == ~0ull || !seen_cap) return 1;
    ec_memset(&sw, 0, sizeof sw);
    sw.prune = 1;
    walk_marking_live(&sw, info);
    if (seen_rebuild(seen_cap, 0) == 0) seen_subs = info->dlpi_subs; /* seen_adds stays: newcomers are swept */
    return 1;
}

void ec_tripwire_forget_unloaded(void)
{
    ec_loaded_iterate(prune_cb, 0);
}

void ec_tripwire_met(const struct link_map *l)
{
    struct seen *e = l ? seen_find(l) : 0;
    if (e) e->closed = 0; /* a new object in a closed one's memory, decided again */
    else if (l) seen_add(l, 0);
}

void ec_tripwire_gone(const struct link_map *l)
{
    /* still listed until the operation ends (and at exit for good): passed over, not re-checked */
    struct seen *e = l ? seen_find(l) : 0;
    if (e) e->closed = 1;
}

int ec_tripwire_sweep(int full, int face, const struct link_map *main_map)
{
    struct sweep sw;
    struct walk_arg a;
    ec_memset(&sw, 0, sizeof sw);
    sw.full = full;
    sw.face = face;
    a.sw = &sw;
    a.done = 0;
    ec_loaded_iterate(walk_cb, &a); /* under ld.so's dl_load_write_lock */
    if (!a.done) {
        /* no libc: the audit face, under ld.so's load lock. Its namespace has no _r_debug to bind
         * (ld.so is not in its scope): the program's DT_DEBUG entry leads to it. */
        const struct r_debug *r = main_map ? debug_entry(main_map->l_ld) : 0;
        if (!r && &_r_debug) r = &_r_debug;
        if (r) walk_namespaces(&sw, r, main_map);
        ec_maps_close(&maps);
    }
    return sw.refused;
}

void ec_tripwire_start(void)
{
    /* the audit copy already decided on every object, each before it ran */
    if (ec_shim_under_audit_face()) return;
    if (ec_tripwire_sweep(1, EC_FACE_PRELOAD, 0)) ec_exit_group(126);
}

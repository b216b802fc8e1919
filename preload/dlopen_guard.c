/* The dlopen guard: dlopen() and dlmopen() of a process that is not under the audit face.
 *
 * glibc finds the caller of dlopen from the return address (RUNPATH, $ORIGIN, namespace:
 * research/glibc-loader.md §3.1), so the entry points are asm stubs that either jump to libc's
 * dlopen with the caller's own return address still in place (a true tail call), or return what
 * the guard decided. The guard:
 *   1. passes straight through under the audit face (it decides on every object itself, each
 *      before it runs), and for dlopen(NULL) and RTLD_NOLOAD (nothing can be loaded); a name this
 *      guard already let in is opened again with RTLD_NOLOAD (the fast path, below);
 *   2. otherwise asks the one resolver (csrc/ldresolve.h) what ld.so would load for this name
 *      from this caller - the caller's RPATH/RUNPATH and $ORIGIN, LD_LIBRARY_PATH as ld.so froze
 *      it, ld.so.cache, default and hwcaps directories - and checks the target and every
 *      dependency not loaded yet, before anything is mapped;
 *   3. refused (enforcing): NULL, and dlerror() reads "/proc/self/execcheck refused PATH (REASON)
 *      [needed by TARGET]: cannot open shared object file: ..." (libc's own dlerror state, set by a
 *      failed dlopen of that name: per thread, cleared as glibc clears it);
 *   4. allowed: calls the real dlopen (dlmopen) with the path the resolver found - the search
 *      already happened as the caller would have made it, so the path keeps the caller's RUNPATH
 *      semantics while the shim keeps control - and afterwards sweeps the link maps (tripwire.c):
 *      every object the load really added is checked; one that was not predicted and fails is
 *      stopped there (exit 126, enforcing), after its constructors ran. That is the honest limit
 *      of a preload: only the audit face stops an object before its code runs.
 * A name that glibc would fail to load is handed over as it is (glibc's own error message); the
 * sweep after it still sees anything that got in. */
#define _GNU_SOURCE
#include <link.h>
#include "arena.h"
#include "auxv.h"
#include "handoff.h"
#include "ldhost.h"
#include "ldresolve.h"
#include "mapped.h"
#include "pins.h"
#include "preload_face.h"
#include "reason.h"
#include "record.h"
#include "scratch.h"
#include "shim.h"
#include "sys.h"
#include "text.h"
#include "vcache.h"

#define EC_RTLD_NOLOAD 4
#define EC_RTLD_NEXT ((void *)-1l)
#define EC_LM_ID_BASE 0
#define GUARD_DLOPEN (-1000) /* "lmid" of a dlopen(): the caller's namespace */

extern int dl_iterate_phdr(int (*)(struct dl_phdr_info *, size_t, void *), void *) __attribute__((weak));
extern const char *gnu_get_libc_version(void) __attribute__((weak));
extern char **environ __attribute__((weak));

typedef void *(*dlopen_fn)(const char *, int);
typedef void *(*dlmopen_fn)(long, const char *, int);

/* libc's definitions; the stubs jump through these */
EC_HIDDEN void *ec_real_dlopen, *ec_real_dlmopen;

/* The default versions: dlopen@@GLIBC_2.34 in libc, or libdl's before 2.34 (loaded_deps.c). A
 * libc may lack dlmopen (musl): each is looked for on its own. */
void ec_dlopen_guard_resolve(void)
{
    static int looked;
    static const char *const names[] = {"dlmopen", "dlopen"};
    void *f[2];
    if (__atomic_load_n(&looked, __ATOMIC_ACQUIRE)) return;
    ec_loaded_next_many(names, f, 2);
    if (f[0]) __atomic_store_n(&ec_real_dlmopen, f[0], __ATOMIC_RELEASE);
    if (f[1]) __atomic_store_n(&ec_real_dlopen, f[1], __ATOMIC_RELEASE);
    __atomic_store_n(&looked, 1, __ATOMIC_RELEASE); /* racing first callers find the same */
}

/* ---- the fast path: names already let in --------------------------------------------------
 * name -> what to hand to the real dlopen: the name itself when glibc matched it to a loaded object
 * by name, else the l_name of the object the guard loaded by path for it. It is handed over with
 * RTLD_NOLOAD, which for an object still loaded is the very same dlopen (glibc takes the "already
 * open" branch either way) and otherwise maps nothing and returns NULL: the guard then takes the
 * slow path. So an entry can go stale (dlclose) but never lets a file in. Entries are immutable
 * once published; readers take no lock. */

struct fast {
    uint64_t hash;
    uint32_t len;
    const char *pass; /* NULL: the name itself */
    char name[];
};

#define FAST_SLOTS 512
#define FAST_PROBES 4
#define FAST_RESERVE (512u << 10)
#define FAST_TABLE (FAST_SLOTS * sizeof(struct fast *)) /* one page, so the page arithmetic below holds */

/* One reserve, mapped by the first entry: the table of FAST_SLOTS slots, then the entries, handed
 * out by an atomic bump (never a lock: fork). */
static void *fast_mem;
static size_t fast_used; /* bytes handed out after the table */

/* The table, or NULL before the first entry. */
static inline struct fast **fast_slots(void) { return __atomic_load_n((struct fast ***)&fast_mem, __ATOMIC_ACQUIRE); }

/* Hot path: a few nanoseconds is the budget (a dlopen of a loaded object costs ~100 ns), so the
 * hash reads words, not a byte at a time: the length, the first and the last 8 bytes. */
typedef uint64_t __attribute__((aligned(1), may_alias)) unaligned_u64;

static inline uint64_t name_hash(const char *s, size_t *len)
{
    const char *p = s;
    uint64_t a = 0, b = 0;
    size_t n;
    while (*p) p++;
    n = (size_t)(p - s);
    *len = n;
    if (n >= 8) {
        a = *(const unaligned_u64 *)s;
        b = *(const unaligned_u64 *)(p - 8);
    } else {
        size_t i;
        for (i = 0; i < n; i++) a |= (uint64_t)(unsigned char)s[i] << (8 * i);
    }
    a = (a ^ (b >> 7) ^ n) * 0x9e3779b97f4a7c15ull;
    return a ^ (a >> 29);
}

static inline int same_bytes(const char *x, const char *y, size_t n)
{
    while (n >= 8) {
        if (*(const unaligned_u64 *)x != *(const unaligned_u64 *)y) return 0;
        x += 8, y += 8, n -= 8;
    }
    while (n--)
        if (*x++ != *y++) return 0;
    return 1;
}

/* What to hand to glibc for name: the caller's own string when the entry says "the name itself"
 * (so glibc compares exactly what it would compare without the shim), else the entry's path. */
/* Caller strings (by address) whose entry said "the name itself". Handed over with RTLD_NOLOAD,
 * any string is safe: glibc then only answers for an object already loaded under that name (and
 * every loaded object was checked: tripwire, guard, sweep), exactly as it would without the shim,
 * and loads nothing. So a program reopening a name from the same string (a literal, usually)
 * skips the hash and the byte compare; a string since rewritten in place costs at most a failed
 * RTLD_NOLOAD and the slow path. A path entry is not kept here: it maps a name to another string. */
#define SELF_SLOTS 64
static const char *self_slot[SELF_SLOTS];

static inline unsigned self_hash(const char *name) { return (unsigned)(((uintptr_t)name >> 3) % SELF_SLOTS); }

static __attribute__((noinline)) const char *fast_lookup(const char *name)
{
    struct fast **slots = fast_slots();
    size_t len;
    uint64_t h;
    int i;
    if (!slots) return 0;
    h = name_hash(name, &len);
    for (i = 0; i < FAST_PROBES; i++) {
        const struct fast *e = __atomic_load_n(&slots[(h + (uint64_t)i) % FAST_SLOTS], __ATOMIC_ACQUIRE);
        if (!e) return 0;
        if (e->hash == h && e->len == len && same_bytes(e->name, name, len)) {
            if (e->pass) return e->pass;
            __atomic_store_n(&self_slot[self_hash(name)], name, __ATOMIC_RELAXED);
            return name;
        }
    }
    return 0;
}

/* n bytes from the reserve. A string handed to glibc must not start in the last 128 bytes of a page:
 * its strcmp (AVX2) takes a slow path there, for each of the ~30 names it compares per dlopen
 * (measured: +40 ns per call). */
#define PAGE_TAIL 128

static void *fast_alloc(size_t n, int for_glibc)
{
    char *mem = ec_map_once(&fast_mem, FAST_RESERVE);
    size_t at, want;
    if (!mem) return 0;
    n = (n + 15) & ~(size_t)15;
    at = __atomic_load_n(&fast_used, __ATOMIC_RELAXED);
    do {
        want = at;
        if (for_glibc && (want & 4095) > 4096 - PAGE_TAIL) want = (want + 4095) & ~(size_t)4095;
        if (FAST_TABLE + want + n > FAST_RESERVE) return 0; /* full: no more fast entries, only slow paths */
    } while (!__atomic_compare_exchange_n(&fast_used, &at, want + n, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED));
    return mem + FAST_TABLE + want;
}

static void fast_add(const char *name, const char *pass)
{
    size_t len, plen = ec_strlen(pass);
    uint64_t h = name_hash(name, &len);
    int same = !ec_strcmp(name, pass), i, slot = -1;
    struct fast *e = fast_alloc(sizeof *e + len + 1, 0);
    char *copy = same ? 0 : fast_alloc(plen + 1, 1);
    struct fast **slots = fast_slots();
    if (!e || (!same && !copy) || !slots) return;
    e->hash = h;
    e->len = (uint32_t)len;
    ec_memcpy(e->name, name, len + 1);
    if (copy) ec_memcpy(copy, pass, plen + 1);
    e->pass = copy; /* NULL: the name itself */
    for (i = 0; i < FAST_PROBES && slot < 0; i++) {
        int k = (int)((h + (uint64_t)i) % FAST_SLOTS);
        const struct fast *o = __atomic_load_n(&slots[k], __ATOMIC_ACQUIRE);
        if (!o || (o->hash == h && o->len == len && same_bytes(o->name, name, len))) slot = k;
    }
    __atomic_store_n(&slots[slot >= 0 ? slot : (int)(h % FAST_SLOTS)], e, __ATOMIC_RELEASE);
}

/* ---- what ld.so froze at start-up ---- */

static struct {
    int ready;
    const char *library_path, *preload; /* copies of the start-up values (NULL: unset) */
    const char *exe;                    /* the program, as the resolver should open it */
    int direct;                         /* ld.so was run directly: the program is not /proc/self/exe */
    const char *missing;                /* LD_LIBRARY_PATH directories missing at start (ec_ld_request) */
    int hwcap_masked;                   /* glibc.cpu.hwcap_mask was set: ec_ld_config */
    uint64_t hwcap_mask;
} boot;

/* The memory of the copies, mapped by the snapshot: a process under the audit face never takes
 * one. The program's path first, then the variables. */
#define BOOT_EXE 4096
#define BOOT_MEM (BOOT_EXE + 3 * 8192)
static void *boot_mem;

static const char *boot_copy(char *mem, const char *s, size_t *used)
{
    size_t n;
    char *out;
    if (!s) return 0;
    n = ec_strlen(s);
    /* absurdly long, or no memory: the prediction will miss, the sweep will not */
    if (!mem || *used + n + 1 > BOOT_MEM) return "";
    out = mem + *used;
    ec_memcpy(out, s, n + 1);
    *used += n + 1;
    return out;
}

struct main_dynamic {
    uintptr_t addr;
    size_t size;
};

static int main_phdr_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct main_dynamic *d = data;
    int i;
    (void)size;
    for (i = 0; i < info->dlpi_phnum; i++)
        if (info->dlpi_phdr[i].p_type == PT_DYNAMIC) {
            d->addr = info->dlpi_addr + info->dlpi_phdr[i].p_vaddr;
            d->size = info->dlpi_phdr[i].p_memsz;
        }
    return 1; /* the first object is the program */
}

/* The program's dynamic section as the kernel mapped it (AT_PHDR, biased as ld.so takes it from
 * PT_PHDR), when the kernel ran the program: no walk of the link maps, which blocks signals. */
static void main_dynamic_from_auxv(struct main_dynamic *d)
{
    unsigned long phdr = 0, phnum = 0, i;
    const ElfW(Phdr) *ph;
    uintptr_t bias = 0;
    if (ec_auxv_get(EC_AT_PHDR, &phdr) != 1 || ec_auxv_get(EC_AT_PHNUM, &phnum) != 1 || !phdr) return;
    ph = (const ElfW(Phdr) *)phdr;
    for (i = 0; i < phnum; i++)
        if (ph[i].p_type == PT_PHDR) bias = (uintptr_t)phdr - ph[i].p_vaddr;
    for (i = 0; i < phnum; i++)
        if (ph[i].p_type == PT_DYNAMIC) d->addr = bias + ph[i].p_vaddr, d->size = ph[i].p_memsz;
}

/* Does the program's dynamic section, as mapped, have a DT_RPATH or DT_RUNPATH? */
static int main_has_search_path(const struct main_dynamic *d)
{
    const ElfW(Dyn) *dyn = (const ElfW(Dyn) *)d->addr;
    size_t i, n = d->size / sizeof *dyn;
    for (i = 0; dyn && i < n && dyn[i].d_tag != DT_NULL; i++)
        if (dyn[i].d_tag == DT_RPATH || dyn[i].d_tag == DT_RUNPATH) return 1;
    return 0;
}


/* The environment strings the kernel laid out at execve, which ld.so read before any code ran:
 * from the end of the last argument to the program's file name (AT_EXECFN), NUL-separated, in
 * envp's order. The envp array is not that: a constructor of the program's libraries, run before
 * ours, may have unset a variable there (the later entries moved down over it) or set it (its slot
 * rewritten), and neither touches these strings. Returns the first string and *end, or NULL when
 * they cannot be told (our constructor has not run: no argv yet). */
static const char *start_strings(const char **end)
{
    unsigned long execfn = 0;
    const char *last, *first;
    if (ec_shim.argc < 1 || !ec_shim.argv || !(last = ec_shim.argv[ec_shim.argc - 1])) return 0;
    if (ec_auxv_get(EC_AT_EXECFN, &execfn) != 1 || !execfn) return 0;
    first = last + ec_strlen(last) + 1;
    /* the strings of execve are at most 6 MiB (fs/exec.c): an argument a constructor pointed
     * elsewhere does not end just below them */
    if ((uintptr_t)first > execfn || execfn - (uintptr_t)first > ((uintptr_t)6 << 20) ||
        (execfn > (uintptr_t)first && ((const char *)execfn)[-1]))
        return 0;
    *end = (const char *)execfn;
    return first;
}

/* Calls fn with each "NAME=value" string ld.so read at start-up, in order (envp's own, if those
 * strings cannot be told). */
static void start_env_each(char *const *env, void (*fn)(const char *, void *), void *data)
{
    const char *s, *end = 0;
    if ((s = start_strings(&end))) {
        for (; s < end; s += ec_strlen(s) + 1) fn(s, data);
        return;
    }
    for (; env && *env; env++) fn(*env, data);
}

struct env_query {
    const char *name;
    size_t n;
    const char *found;
};

static void env_last_cb(const char *s, void *data)
{
    struct env_query *q = data;
    if (!ec_strncmp(s, q->name, q->n) && s[q->n] == '=') q->found = s + q->n + 1;
}

/* The value ld.so took for an LD_ variable: the last of that name (rtld.c, process_envvars). */
static const char *ld_env_get(char *const *env, const char *name)
{
    struct env_query q = {name, ec_strlen(name), 0};
    start_env_each(env, env_last_cb, &q);
    return q.found;
}

/* A number as ld.so's tunables read it (_dl_strtoul): blanks, a sign, then hexadecimal after
 * "0x", octal after "0", else decimal, as far as the digits go; past 64 bits, all ones. */
static uint64_t ld_strtoul(const char *p, const char *end)
{
    uint64_t v = 0;
    unsigned base = 10, digit;
    int negative = 0;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (p < end && (*p == '-' || *p == '+')) negative = *p++ == '-';
    if (p == end || *p < '0' || *p > '9') return 0;
    if (*p == '0') {
        base = 8;
        if (p + 1 < end && (p[1] == 'x' || p[1] == 'X')) base = 16, p += 2;
    }
    for (; p < end; p++) {
        if (*p >= '0' && *p <= '9' && (unsigned)(*p - '0') < base) digit = (unsigned)(*p - '0');
        else if (base == 16 && *p >= 'a' && *p <= 'f') digit = (unsigned)(*p - 'a' + 10);
        else if (base == 16 && *p >= 'A' && *p <= 'F') digit = (unsigned)(*p - 'A' + 10);
        else break;
        if (v >= (~(uint64_t)0 - digit) / base) return ~(uint64_t)0;
        v = v * base + digit;
    }
    return negative ? (uint64_t)0 - v : v;
}

struct mask_query {
    int set, alias_set;
    uint64_t mask, alias;
};

#define HWCAP_MASK_TUNABLE "glibc.cpu.hwcap_mask"

/* glibc.cpu.hwcap_mask as ld.so's __tunables_init takes it: each GLIBC_TUNABLES entry of that
 * name (a ':'-separated list of NAME=VALUE, read up to the first entry without a '=' at its end)
 * sets it, in the environment's order; its alias LD_HWCAP_MASK counts only while nothing has (the
 * first one, and none after an entry). The GLIBC_TUNABLES strings are read where envp points:
 * ld.so cut the ones the kernel laid out, a NUL after each value it took, and left envp pointing
 * to whole copies. */
static void tunables_mask_cb(const char *s, void *data)
{
    struct mask_query *q = data;
    const char *p = s + 15, *name, *value;
    size_t tn = sizeof HWCAP_MASK_TUNABLE - 1;
    if (ec_strncmp(s, "GLIBC_TUNABLES=", 15)) return;
    for (;;) {
        name = p;
        while (*p && *p != '=' && *p != ':') p++;
        if (!*p) return;
        if (*p++ == ':') continue;
        value = p;
        while (*p && *p != ':') p++;
        if ((size_t)(value - 1 - name) == tn && !ec_strncmp(name, HWCAP_MASK_TUNABLE, tn)) {
            q->mask = ld_strtoul(value, p);
            q->set = 1;
        }
        if (*p) p++;
    }
}

static void alias_mask_cb(const char *s, void *data)
{
    struct mask_query *q = data;
    if (q->alias_set || ec_strncmp(s, "LD_HWCAP_MASK=", 14)) return;
    q->alias = ld_strtoul(s + 14, s + 14 + ec_strlen(s + 14));
    q->alias_set = 1;
}

static const char *note_missing_at_start(char *out, size_t cap);

static void boot_snapshot(void)
{
    char *const *env = ec_shim.envp ? ec_shim.envp : (&environ ? environ : 0);
    char *mem;
    unsigned long base = 0;
    size_t used = BOOT_EXE;
    struct main_dynamic dyn = {0, 0};
    if (__atomic_load_n(&boot.ready, __ATOMIC_ACQUIRE)) return;
    mem = ec_map_once(&boot_mem, BOOT_MEM);
    boot.library_path = ec_shim.secure ? 0 : boot_copy(mem, ld_env_get(env, "LD_LIBRARY_PATH"), &used);
    if (!ec_shim.secure) { /* a setuid program's ld.so takes no tunable of that kind from the environment */
        struct mask_query q = {0, 0, 0, 0};
        char *const *e;
        for (e = env; e && *e; e++) tunables_mask_cb(*e, &q);
        start_env_each(env, alias_mask_cb, &q);
        boot.hwcap_mask = q.set ? q.mask : q.alias;
        boot.hwcap_masked = q.set || q.alias_set;
    }
    /* in secure mode ld.so removes LD_PRELOAD from envp after reading it: modelled as absent */
    boot.preload = boot_copy(
        mem, !ec_shim.secure ? ld_env_get(env, "LD_PRELOAD") : env ? ec_env_get(env, "LD_PRELOAD") : 0, &used);
    /* /proc/self/exe opens the program even when its file was replaced since (an upgrade), and
     * gives ld.so's $ORIGIN; when ld.so was run directly it is ld.so, and the program is the file
     * mapped at its dynamic section */
    boot.exe = "/proc/self/exe";
    if (ec_auxv_get(EC_AT_BASE, &base) == 1 && base == 0) {
        if (dl_iterate_phdr) ec_loaded_iterate(main_phdr_cb, &dyn);
        if (mem && dyn.addr) {
            struct ec_maps m = EC_MAPS_INIT;
            struct ec_vma vma;
            if (ec_maps_query(&m, dyn.addr, &vma, mem, BOOT_EXE) == 0 && mem[0] == '/') {
                boot.exe = mem;
                boot.direct = 1;
            }
            ec_maps_close(&m);
        }
    } else {
        main_dynamic_from_auxv(&dyn);
    }
    /* only where ld.so had directories of its own to probe: the resolver's session, made now
     * (and kept for the first prediction), tells which are missing */
    if (mem && ((boot.library_path && boot.library_path[0]) || main_has_search_path(&dyn)))
        boot.missing = note_missing_at_start(mem + used, BOOT_MEM - used);
    __atomic_store_n(&boot.ready, 1, __ATOMIC_RELEASE);
}

/* ---- the process as it is now: l_name of each object of the main namespace, the caller's ---- */

struct snap {
    struct ec_arena *a;
    const char **names;
    unsigned long long subs; /* dlpi_subs when the snapshot was taken */
    int counted;             /* this libc counts unloads (dlpi_subs) */
    const char **cwds; /* for relative names: the directory each was loaded from (tripwire.c) */
    int n, cap;
    uintptr_t caller;
    int caller_idx;
    int nomem;
    int relative; /* an object has a relative name */
    int unmet;    /* one no sweep has met yet (its directory not noted) */
};

static int snap_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct snap *s = data;
    const char *cwd = 0;
    if (s->n == s->cap) {
        int cap = s->cap ? s->cap * 2 : 64;
        const char **fresh = ec_arena_alloc(s->a, sizeof *fresh * (size_t)cap * 2);
        if (!fresh) {
            s->nomem = 1;
            return 1;
        }
        if (s->n) ec_memcpy(fresh, s->names, sizeof *fresh * (size_t)s->n);
        if (s->n) ec_memcpy(fresh + cap, s->cwds, sizeof *fresh * (size_t)s->n);
        s->names = fresh;
        s->cwds = fresh + cap;
        s->cap = cap;
    }
    if (!s->n && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
        s->subs = info->dlpi_subs;
        s->counted = 1;
    }
    /* copied: once the loader lock is released the object may go */
    s->names[s->n] = ec_arena_strdup(s->a, info->dlpi_name ? info->dlpi_name : "");
    if (!s->names[s->n]) {
        s->nomem = 1;
        return 1;
    }
    if (info->dlpi_name && info->dlpi_name[0] && info->dlpi_name[0] != '/' && ec_strchr(info->dlpi_name, '/')) {
        s->relative = 1;
        if (!ec_tripwire_load_cwd(info->dlpi_name, (uintptr_t)info->dlpi_addr, &cwd)) s->unmet = 1;
        if (cwd && !(cwd = ec_arena_strdup(s->a, cwd))) {
            s->nomem = 1;
            return 1;
        }
        if (!cwd) cwd = EC_LD_CWD_UNTOLD;
    }
    s->cwds[s->n] = cwd;
    if (s->caller_idx < 0 && ec_object_holds(info, s->caller)) s->caller_idx = s->n;
    s->n++;
    return 0;
}

/* ---- deciding ---- */

static int has_dst(const char *s) { return ec_strchr(s, '$') != 0; }

/* A refusal reaches the caller as libc's own dlopen error for a name that says what happened
 * (the audit face's wording): dlerror() is then right per thread and cleared as glibc clears it.
 * The name is made where the refusal is decided and libc's dlopen of it called once the guard has
 * returned (refusal_say): glibc's failing dlopen() then runs about as deep on the program's stack
 * as it does without the shim, not below the guard's frames. */
#define REFUSAL_MAX 1400
struct refusal {
    struct ec_scratch s; /* the name, off the stack (scratch.h) */
    const char *name;    /* NULL: nothing refused */
};

static void set_dlerror(struct refusal *rf, const char *path, int reason, const char *needed_by)
{
    char *name;
    struct ec_buf b;
    size_t i;
    if (rf->name) return; /* the first refusal of the call is the one said */
    if (!(name = ec_scratch_take(&rf->s, REFUSAL_MAX))) {
        rf->name = "/proc/self/execcheck refused it"; /* no memory for the details */
        return;
    }
    ec_buf_init(&b, name, REFUSAL_MAX);
    ec_buf_puts(&b, "/proc/self/execcheck refused ");
    ec_buf_puts(&b, path);
    ec_buf_puts(&b, " (");
    ec_buf_puts(&b, ec_reason_name(reason));
    ec_buf_putc(&b, ')');
    if (needed_by) {
        ec_buf_puts(&b, " needed by ");
        ec_buf_puts(&b, needed_by);
    }
    for (i = 0; name[i]; i++)
        if (name[i] == '$') name[i] = '_'; /* no dynamic string token in it */
    rf->name = name;
}

static void refusal_say(struct refusal *rf)
{
    if (!rf->name) return;
    ((dlopen_fn)ec_real_dlopen)(rf->name, 2 /* RTLD_NOW */);
    ec_scratch_give(&rf->s);
    rf->name = 0;
}

/* A failed check of a file ld.so is about to open: recorded once; refused when enforcing (the
 * line on stderr, dlerror set). Returns 1 to go on, 0 refused. */
static int judge_denied(struct refusal *rf, const char *path, const struct ec_verdict *v, const char *needed_by)
{
    int first = 0;
    if (!ec_shim_deny_once(EC_KIND_LIBRARY, EC_FACE_PRELOAD, path, v, &first)) return 1;
    if (first) ec_say_refused("load", path, v->reason);
    set_dlerror(rf, path, v->reason, needed_by);
    return 0;
}

/* The file the lean path read and could not decide on (a dependency to search for), still open
 * for the prediction that follows: the session takes its ELF headers from it, and its check is
 * made on it. Closed before the real load. */
struct held {
    int fd;                /* -1: none */
    const char *path;      /* the name given to dlopen */
    struct ec_statx st;
};

static void held_close(struct held *h)
{
    if (h->fd >= 0) ec_close(h->fd);
    h->fd = -1;
}

/* A descriptor the CPython face handed over for name that no path of the guard will read. */
static void close_handed(const char *name)
{
    int fd = ec_handoff_take(name, 0);
    if (fd >= 0) ec_close(fd);
}

/* Checks one file ld.so is about to open (h: the file already held, if it is that one). Returns 1
 * to go on, 0 refused (enforcing). */
/* pins: where an allowed file is held until the load is over (pins.h), or NULL */
static int check_file(struct refusal *rf, const char *path, uint64_t dev, uint64_t ino, const struct held *h,
                      const char *needed_by, struct ec_pins *pins)
{
    struct ec_verdict v;
    struct ec_statx st;
    int fd, allowed, known, readable = 1;
    if (h->fd >= 0 && !ec_strcmp(path, h->path) && h->st.stx_ino == ino &&
        ec_makedev(h->st.stx_dev_major, h->st.stx_dev_minor) == dev) {
        allowed = ec_vcache_check_fd(h->fd, path, &h->st, &v, 0);
        if (allowed) ec_pins_hold(pins, h->fd, &h->st);
        return allowed || judge_denied(rf, path, &v, needed_by);
    }
    /* readable, to be held by a mapping; never blocking (a FIFO named like a library) */
    fd = ec_openat(EC_AT_FDCWD, path, EC_O_RDONLY | EC_O_NONBLOCK | EC_O_NOCTTY | EC_O_CLOEXEC, 0);
    if (fd < 0) {
        readable = 0;
        fd = ec_openat(EC_AT_FDCWD, path, EC_O_PATH | EC_O_CLOEXEC, 0);
    }
    if (fd < 0) return 1; /* ld.so's own open fails too, or finds what the sweep will check */
    known = ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, &st) == 0;
    allowed = ec_vcache_check_fd(fd, path, known ? &st : 0, &v, 0);
    if (known && readable && allowed) ec_pins_hold(pins, fd, &st);
    ec_close(fd);
    return allowed || judge_denied(rf, path, &v, needed_by);
}

enum { PASS = 0, RETURN = 1 };

/* After a real load: what it added is checked now (see the file's comment). */
static void sweep_after(void)
{
    if (ec_tripwire_sweep(0, EC_FACE_PRELOAD, 0)) ec_exit_group(126);
}

static void *real_load(long lmid, const char *path, int mode)
{
    void *h;
    ec_tripwire_forget_unloaded(); /* what a dlclose() freed may come back as what this load adds */
    h = lmid == GUARD_DLOPEN ? ((dlopen_fn)ec_real_dlopen)(path, mode) : ((dlmopen_fn)ec_real_dlmopen)(lmid, path, mode);
    sweep_after();
    return h;
}

/* ---- the resolver session ----
 * A session caches file lookups and ELF readings; a fresh one costs ~0.8 ms per dlopen (its
 * start-up replay reads every object again), a reused one a few tens of us. It is reused, and
 * kept honest: every candidate path a prediction tried is looked at again (a file that appeared
 * where the session saw none, or a chosen file that is now another inode, means a stale session
 * and a fresh prediction), and it is replaced when /etc/ld.so.cache changes and after a number of
 * uses (its memory only grows). Candidates in a search-list directory found missing are not looked
 * at again: ld.so itself never probes such a directory twice in a process (dl-load.c, open_path's
 * "nonexisting"), so a file appearing there later is invisible to it as well (a name with a '/'
 * is opened afresh by every dlopen, and looked at afresh here).
 * One thread at a time: busy (another thread, or a constructor's dlopen inside ours), it is not
 * waited for - the caller takes a fresh session and memory of its own. */

#define SESSION_USES 256
#define MISSING_DIRS 256

/* the host's loader, as every session models it; the predictions name files by the path ld.so
 * will open, so no object's real path is needed, and the files looked at are those ld.so itself
 * opens next in this process */
static const struct ec_ld_config guard_config = {.no_realpath = 1, .like_loader = 1};

/* The session models the ld.so this process runs with: its own directories (and so $LIB), read
 * from its memory; not found (ld.so run as the program, a list another thread is still reading),
 * the session reads the loader's file, else takes the modelled ABI's defaults. */
static const struct ec_ld_config *guard_config_here(struct ec_ld_config *cfg)
{
    const char *dirs = ec_loaded_loader_dirs();
    *cfg = guard_config;
    if (dirs) cfg->system_dirs = dirs; /* the session takes $LIB from it */
    cfg->hwcap_masked = boot.hwcap_masked; /* the legacy subdirectories this ld.so searches */
    cfg->hwcap_mask = boot.hwcap_mask;
    return cfg;
}

/* A session modelling this process's loader. */
static __attribute__((noinline)) struct ec_ld_session *guard_session(int *err)
{
    struct ec_ld_config cfg;
    return ec_ld_session_new(guard_config_here(&cfg), err);
}

static struct {
    int busy;
    struct ec_ld_session *sess;
    int uses;
    struct ec_arena arena; /* scratch of one slow path, kept mapped */
    int arena_ready;
    struct ec_arena_mark empty;
    struct { uint64_t dev, ino, size; int64_t mtime; uint32_t mtime_ns; int known; } cache_id;
    void *missing; /* struct missing_dir[MISSING_DIRS], mapped when the first is found */
} slow;

struct missing_dir { uint64_t hash; uint32_t len; char dir[244]; };

struct slow_ctx {
    int shared;
    struct ec_ld_session *sess;
    struct ec_arena *a;
    struct ec_arena own;
};

static int cache_changed(void)
{
    struct ec_statx st;
    int known = ec_statx(EC_AT_FDCWD, "/etc/ld.so.cache", 0, EC_STATX_BASIC_STATS, &st) == 0;
    uint64_t dev = known ? ec_makedev(st.stx_dev_major, st.stx_dev_minor) : 0;
    int changed = known != slow.cache_id.known ||
                  (known && (st.stx_ino != slow.cache_id.ino || st.stx_size != slow.cache_id.size ||
                             st.stx_mtime.tv_sec != slow.cache_id.mtime ||
                             st.stx_mtime.tv_nsec != slow.cache_id.mtime_ns || dev != slow.cache_id.dev));
    slow.cache_id.known = known;
    if (known) {
        slow.cache_id.dev = dev;
        slow.cache_id.ino = st.stx_ino;
        slow.cache_id.size = st.stx_size;
        slow.cache_id.mtime = st.stx_mtime.tv_sec;
        slow.cache_id.mtime_ns = st.stx_mtime.tv_nsec;
    }
    return changed;
}

/* The resolver's host facts from this process's own glibc (ldhost.h), once, before the first
 * session: its release, which decides the subdirectories its ld.so searches, and on x86_64 the CPU
 * features ld.so recorded at start-up, rather than six cpuid instructions. */
static void host_from_glibc(void)
{
    static int done;
    if (__atomic_load_n(&done, __ATOMIC_ACQUIRE)) return;
    ec_ld_host_glibc_release(gnu_get_libc_version ? gnu_get_libc_version() : 0);
#if defined(__x86_64__)
    ec_ld_host_use_glibc((ec_cpuid_leaf_fn)ec_loaded_next("__x86_get_cpuid_feature_leaf")); /* glibc 2.33+ */
#endif
    __atomic_store_n(&done, 1, __ATOMIC_RELEASE);
}

/* Memory and a session for one slow path. Returns 0, or -1 when none could be had. */
static int slow_begin(struct slow_ctx *c)
{
    int err = 0;
    ec_memset(c, 0, sizeof *c);
    host_from_glibc();
    if (ec_try_lock(&slow.busy)) {
        c->shared = 1;
        if (!slow.arena_ready) {
            ec_arena_init(&slow.arena, (size_t)64 << 20);
            ec_arena_alloc(&slow.arena, 16); /* map the first chunk: every slow path reuses it */
            slow.empty = ec_arena_mark(&slow.arena);
            slow.arena_ready = 1;
        }
        c->a = &slow.arena;
        if (slow.sess && (cache_changed() || ++slow.uses > SESSION_USES)) {
            ec_ld_session_free(slow.sess);
            slow.sess = 0;
        }
        if (!slow.sess) {
            cache_changed();
            slow.sess = guard_session(&err);
            slow.uses = 0;
        }
        c->sess = slow.sess;
    } else {
        ec_arena_init(&c->own, (size_t)64 << 20);
        c->a = &c->own;
        c->sess = guard_session(&err);
    }
    return c->sess ? 0 : -1;
}

/* The session goes back (stale: dropped) before anything else runs; the memory stays in use. */
static void slow_release_session(struct slow_ctx *c, int stale)
{
    if (!c->sess) return;
    if (!c->shared || stale) {
        ec_ld_session_free(c->sess);
        if (c->shared) slow.sess = 0;
    }
    c->sess = 0;
}

/* A fresh session for the same slow path (the shared one was stale). */
static int slow_renew_session(struct slow_ctx *c)
{
    int err = 0;
    slow_release_session(c, 1);
    c->sess = guard_session(&err);
    if (c->shared) slow.sess = c->sess, slow.uses = 0;
    return c->sess ? 0 : -1;
}

static void slow_end(struct slow_ctx *c)
{
    slow_release_session(c, 0);
    if (c->shared) {
        ec_arena_release(&slow.arena, slow.empty);
        ec_unlock(&slow.busy);
    } else {
        ec_arena_free(&c->own);
    }
}

/* The search directories ld.so may have probed at start-up and found missing, asked as the
 * program starts (ec_ld_missing_at_start): ld.so never searches them again, even once they appear.
 * NULL when there are none (or they cannot be told: then a prediction may miss such a directory,
 * and the sweep after the load still stops the process). */
static const char *note_missing_at_start(char *out, size_t cap)
{
    struct slow_ctx c;
    struct ec_ld_request req;
    int n = -1;
    if (slow_begin(&c) == 0) {
        ec_memset(&req, 0, sizeof req);
        req.path = boot.exe;
        req.as_library = boot.direct;
        req.secure = ec_shim.secure;
        req.library_path = boot.library_path;
        n = ec_ld_missing_at_start(c.sess, &req, out, cap);
    }
    slow_end(&c);
    return n > 0 ? out : 0;
}

static uint64_t dir_hash(const char *d, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    while (n--) h = (h ^ (unsigned char)*d++) * 1099511628211ull;
    return h;
}

static int missing_dir_known(const char *d, size_t n, uint64_t h)
{
    const struct missing_dir *m = slow.missing;
    int i;
    for (i = 0; m && i < MISSING_DIRS; i++) {
        const struct missing_dir *e = &m[(h + (uint64_t)i) % MISSING_DIRS];
        if (!e->len) return 0;
        if (e->hash == h && e->len == n && same_bytes(e->dir, d, n)) return 1;
    }
    return 0;
}

static void missing_dir_add(const char *d, size_t n, uint64_t h)
{
    struct missing_dir *m;
    int i;
    if (n >= sizeof m->dir || !(m = ec_map_once(&slow.missing, MISSING_DIRS * sizeof *m))) return;
    for (i = 0; i < MISSING_DIRS; i++) {
        struct missing_dir *e = &m[(h + (uint64_t)i) % MISSING_DIRS];
        if (e->len) continue;
        ec_memcpy(e->dir, d, n);
        e->hash = h;
        e->len = (uint32_t)n;
        return;
    }
}

/* Has a candidate that was not there appeared since? (shared: the missing-directory memory may
 * be used.) Out of line, as each function here with a large buffer: inlined (clang does), its
 * 4 KiB would stay in guard()'s frame under glibc's dlopen, in threads with small stacks. */
static __attribute__((noinline)) int candidate_appeared(const char *path, int shared, int searched)
{
    struct ec_statx st;
    char dir[4096];
    const char *slash = ec_strrchr(path, '/');
    size_t n = slash ? (size_t)(slash - path) : 0;
    uint64_t h = 0;
    shared = shared && searched; /* only a search-path directory is never probed again by ld.so */
    if (shared && slash && n < sizeof dir) {
        h = dir_hash(path, n);
        if (missing_dir_known(path, n, h)) return 0;
    }
    if (ec_statx(EC_AT_FDCWD, path, 0, EC_STATX_BASIC_STATS, &st) == 0) return 1;
    if (shared && slash && n < sizeof dir && n) {
        ec_memcpy(dir, path, n);
        dir[n] = 0;
        if (ec_statx(EC_AT_FDCWD, dir, 0, EC_STATX_BASIC_STATS, &st) < 0 || (st.stx_mode & EC_S_IFMT) != EC_S_IFDIR)
            missing_dir_add(path, n, h);
    }
    return 0;
}

/* Does what the prediction saw of the file system still hold? */
static int prediction_fresh(const struct ec_ld_result *res, int shared)
{
    int i, t;
    for (i = 0; i < res->nedges; i++) {
        const struct ec_ld_edge *e = &res->edges[i];
        for (t = e->first_try; t < e->first_try + e->ntries && t < res->ntries; t++) {
            const struct ec_ld_try *try = &res->tries[t];
            if (!try->path || try->fresh) continue; /* looked at a moment ago, by this prediction */
            if (try->outcome == EC_ENOENT || try->outcome == EC_ENOTDIR) {
                /* glibc remembers a missing directory of a search list (RPATH, LD_LIBRARY_PATH,
                 * RUNPATH, the defaults), never one of a name with a '/', opened afresh each time */
                int searched = try->via == EC_LD_VIA_RPATH || try->via == EC_LD_VIA_LIBRARY_PATH ||
                               try->via == EC_LD_VIA_RUNPATH || try->via == EC_LD_VIA_DEFAULT;
                if (candidate_appeared(try->path, shared, searched)) return 0;
            } else if (try->outcome == 0 && e->to >= 0 && res->objects[e->to].elf) {
                const struct ec_ld_object *o = &res->objects[e->to];
                struct ec_statx st;
                if (ec_statx(EC_AT_FDCWD, try->path, 0, EC_STATX_BASIC_STATS, &st) < 0 || st.stx_ino != o->ino ||
                    ec_makedev(st.stx_dev_major, st.stx_dev_minor) != o->dev)
                    return 0; /* replaced since */
            }
        }
    }
    return 1;
}

/* ---- the lean path: dlopen(path) of a library whose dependencies are all loaded ----
 * The usual dlopen of a plugin or a Python extension module: a path, and DT_NEEDED names that
 * are all in the process already (libc, libpython...). ld.so then maps that one file and searches
 * nothing (loaded_deps.c), so the file is read and checked on one fd, without asking the resolver
 * to replay the process. Anything else - a dependency to search for, a filter, a dynamic string
 * token, a file ld.so would reject - is left to the full prediction. */

#define LEAN_MAX_NEEDED 64

static struct {
    int busy;
    int ready;
    struct ec_arena arena;
    struct ec_arena_mark empty;
} lean;

#if defined(__x86_64__)
#define EC_EM_NATIVE EC_EM_X86_64
#elif defined(__aarch64__)
#define EC_EM_NATIVE EC_EM_AARCH64
#elif defined(__i386__)
#define EC_EM_NATIVE EC_EM_386
#endif
#define EC_ELFCLASS_NATIVE (sizeof(void *) == 8 ? 2 : 1)

/* What ld.so would map without complaint: a clean native ELF shared object (not a PIE). */
static int plainly_loadable(const struct ec_elf *e)
{
    return e->defect == EC_ELF_OK && e->elfclass == EC_ELFCLASS_NATIVE && !e->msb && e->machine == EC_EM_NATIVE &&
           e->type == EC_ET_DYN && !(e->flags_1 & EC_DF_1_PIE) && e->has_dynamic && !e->dynamic_empty &&
           e->nload && !e->load_misaligned;
}

/* Returns 1 when it decided (*result set), 0 when the full prediction must; then *held is the
 * file, still open, if it was one ld.so would map and only its dependencies need a search. */
static __attribute__((noinline)) int lean_guard(struct refusal *rf, const char *name, int mode, void **result,
                                                struct held *held)
{
    const char *needed[LEAN_MAX_NEEDED];
    struct ec_statx st;
    struct ec_elf e;
    struct ec_verdict v;
    struct ec_arena own, *a = &lean.arena;
    struct ec_pins pins = EC_PINS_INIT;
    int fd, n = 0, simple, allowed, loadable, handed, shared;
    uint32_t i;
    if (!ec_strchr(name, '/') || has_dst(name)) return 0;
    shared = ec_try_lock(&lean.busy);
    if (!shared) { /* another thread's: memory of our own (one mapping) rather than the slow path */
        ec_arena_init(&own, (size_t)16 << 20);
        a = &own;
    } else if (!lean.ready) {
        ec_arena_init(&lean.arena, (size_t)16 << 20);
        ec_arena_alloc(&lean.arena, 16); /* map the first chunk: every lean path reuses it */
        lean.empty = ec_arena_mark(&lean.arena);
        lean.ready = 1;
    }
    /* the CPython face's checked descriptor of an extension module, if it handed one over */
    handed = (fd = ec_handoff_take(name, &st)) >= 0;
    if (!handed) fd = ec_openat(EC_AT_FDCWD, name, EC_O_RDONLY | EC_O_CLOEXEC | EC_O_NONBLOCK | EC_O_NOCTTY, 0);
    simple = fd >= 0 &&
             (handed || ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, &st) == 0) &&
             (st.stx_mode & EC_S_IFMT) == EC_S_IFREG && ec_elf_read(fd, st.stx_size, a, &e) == EC_ELF_OK &&
             plainly_loadable(&e);
    for (i = 0; simple && i < e.ndeps; i++) {
        if (e.deps[i].tag != EC_DT_NEEDED || has_dst(e.deps[i].name) || n == LEAN_MAX_NEEDED) simple = 0;
        else needed[n++] = e.deps[i].name;
    }
    loadable = simple;
    simple = simple && ec_loaded_satisfies(name, needed, n);
    if (shared) ec_arena_release(&lean.arena, lean.empty);
    else ec_arena_free(&own);
    allowed = simple && ec_vcache_check_fd(fd, name, &st, &v, 0);
    if (allowed) ec_pins_hold(&pins, fd, &st); /* until the load is swept (pins.h) */
    if (loadable && !simple) { /* dependencies to search for: the prediction takes the file over */
        held->fd = fd;
        held->path = name;
        held->st = st;
    } else if (fd >= 0) {
        ec_close(fd);
    }
    if (shared) ec_unlock(&lean.busy);
    if (!simple) {
        ec_pins_let_go(&pins);
        return 0;
    }
    if (!allowed && !judge_denied(rf, name, &v, 0)) {
        ec_tripwire_no_sweep(); /* verdicts live for one load operation */
        *result = 0;
        return 1;
    }
    *result = real_load(GUARD_DLOPEN, name, mode);
    ec_pins_let_go(&pins);
    if (*result) fast_add(name, name);
    return 1;
}

/* No prediction (no memory, no /proc, a program the resolver cannot read): enforcing, a load
 * that cannot be checked is refused (returns 1); otherwise glibc goes on as without the shim.
 * Either way it is recorded, so that audit mode shows what enforcing would refuse (the file is
 * not known: once per name). Out of line: its buffers must not grow guard()'s frame, which stays
 * on the stack under glibc's dlopen (a thread with a small stack). */
static __attribute__((noinline)) int refuse_unpredictable(struct refusal *rf, const char *name)
{
    struct ec_verdict v;
    ec_memset(&v, 0, sizeof v);
    v.reason = EC_REASON_ERROR;
    if (!ec_shim_deny(EC_KIND_LIBRARY, EC_FACE_PRELOAD, name, &v)) return 0;
    ec_say_refused("load", name, EC_REASON_ERROR);
    set_dlerror(rf, name, EC_REASON_ERROR, 0);
    return 1;
}

/* Checks res->objects[from..], the files a load would map (not the vDSO, ld.so or names not
 * found, on which glibc fails the load); target: the one loaded, which the others are needed by.
 * *n counts the files. Returns 1 to go on, 0 refused (enforcing). */
static int check_objects(struct refusal *rf, const struct ec_ld_result *res, int from, int target,
                         const struct held *h, int *n, struct ec_pins *pins)
{
    int i;
    for (i = from; i < res->nobjects; i++) {
        const struct ec_ld_object *o = &res->objects[i];
        if (!o->path || o->kind == EC_LD_MISSING || o->kind == EC_LD_VDSO || o->kind == EC_LD_INTERP) continue;
        ++*n;
        if (!check_file(rf, o->path, o->dev, o->ino, h, i != target ? res->objects[target].path : 0, pins)) return 0;
    }
    return 1;
}

/* dlmopen() into another namespace than the main one: glibc maps the target's whole closure
 * there afresh, each dependency searched for, where the prediction (made from the main
 * namespace's link maps) matched it to an object loaded here, maybe another file. The closure is
 * resolved as a library loaded on its own - the resolver's model of a namespace of its own - and
 * every file of it checked (what still differs, the sweep after the load finds). Returns 1 to go
 * on, 0 refused. */
static __attribute__((noinline)) int check_new_namespace(struct refusal *rf, struct slow_ctx *c, const char *target)
{
    struct ec_ld_request req;
    const struct ec_ld_result *res;
    struct held none;
    int n = 0;
    none.fd = -1;
    ec_memset(&req, 0, sizeof req);
    req.path = target;
    req.as_library = 1;
    req.secure = ec_shim.secure;
    req.library_path = boot.library_path;
    res = ec_ld_resolve(c->sess, &req);
    if (!res || res->status) return !refuse_unpredictable(rf, target);
    return check_objects(rf, res, 0, 0, &none, &n, 0); /* the main object of that resolution is the target */
}

/* ---- names glibc knows loaded objects by --------------------------------------------------
 * A library glibc loads for a DT_NEEDED name keeps that name (l_libname) while it stays loaded,
 * and a later object's DT_NEEDED of the name is that library, wherever the later object's own
 * search would lead. The prediction cannot read l_libname, so the guard tells it the names its own
 * loads gave (else a later plugin whose directory holds a 0644 namesake of its dependency was
 * refused for a file glibc would never open). glibc drops the names with the object, and an object
 * leaves only by an unload, which moves dl_iterate_phdr's dlpi_subs: an entry counts while
 * dlpi_subs is still the value it was taken at, and any unload retires all of them (the prediction
 * then searches, as before: at worst a refusal glibc would not have made, never a file let in).
 * Entries live in the fast reserve, pushed on a list and never freed. */
struct known {
    const char *name, *path; /* the DT_NEEDED name, the l_name of the object glibc gave it to */
    unsigned long long subs;
    struct known *next;
};
static struct known *known_names;

static int subs_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    if (size < offsetof(struct dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) return 2;
    *(unsigned long long *)data = info->dlpi_subs;
    return 1;
}

/* A chain of entries for the names this load's dependencies get, not yet published. */
struct pending_names {
    struct known *head, *tail;
};

static void pend_name(struct pending_names *p, const char *name, const char *path)
{
    size_t n = ec_strlen(name), m = ec_strlen(path);
    struct known *k = fast_alloc(sizeof *k + n + m + 2, 0);
    char *text;
    if (!k) return; /* the reserve is full: that name is searched for, as before */
    text = (char *)(k + 1);
    ec_memcpy(text, name, n + 1);
    ec_memcpy(text + n + 1, path, m + 1);
    k->name = text;
    k->path = text + n + 1;
    k->next = p->head;
    p->head = k;
    if (!p->tail) p->tail = k;
}

/* After the load: the names count from now if it succeeded and nothing was unloaded since the
 * snapshot (subs_before) - a load that failed after mapping anything unloads it, moving the
 * count; one that failed before mapped nothing, which is why a failed load publishes nothing. */
static void publish_names(struct pending_names *p, int loaded, int counted, unsigned long long subs_before)
{
    unsigned long long now;
    struct known *k, *top;
    if (!p->head || !loaded || !counted || !dl_iterate_phdr || ec_loaded_iterate(subs_cb, &now) != 1 ||
        now != subs_before)
        return;
    for (k = p->head; k; k = k->next) k->subs = now;
    top = __atomic_load_n(&known_names, __ATOMIC_RELAXED);
    do p->tail->next = top;
    while (!__atomic_compare_exchange_n(&known_names, &top, p->head, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
}

/* For the prediction: names[i] one name glibc knows snapshot object i by beyond its own, or NULL
 * (no array: none). */
static const char **known_for(const struct snap *s)
{
    const struct known *k = __atomic_load_n(&known_names, __ATOMIC_ACQUIRE);
    const char **names = 0;
    int i;
    if (!s->counted) return 0;
    for (; k; k = k->next) {
        if (k->subs != s->subs) continue;
        for (i = 1; i < s->n; i++) {
            if (ec_strcmp(s->names[i], k->path)) continue;
            if (!names && !(names = ec_arena_alloc(s->a, sizeof *names * (size_t)s->n))) return 0;
            if (names && !names[i]) names[i] = k->name;
            break;
        }
    }
    return names;
}

/* glibc knows each library this load finds for a DT_NEEDED name under that name too (l_libname:
 * the new object's, or one more of the loaded object the search found again), and a later dlopen()
 * of the name is that object, wherever the caller's search would lead: the fast table says so
 * (reopened with RTLD_NOLOAD: a load that fails leaves entries that never match). Not a name with
 * a dynamic string token, which glibc keeps as written. */
static void note_needed_names(const struct ec_ld_result *res, struct pending_names *p)
{
    int i;
    for (i = 1; i < res->nedges; i++) {
        const struct ec_ld_edge *e = &res->edges[i];
        if (e->tag != EC_DT_NEEDED || e->error || e->to < 0 || !e->name || has_dst(e->name) ||
            (e->to < res->first_new && e->via != EC_LD_VIA_SAME_FILE) || !res->objects[e->to].path)
            continue;
        fast_add(e->name, res->objects[e->to].path);
        pend_name(p, e->name, res->objects[e->to].path);
    }
}

/* Under the audit face, dlmopen() of a path: glibc then gives la_objsearch no look (dl-open.c
 * finds no caller map for a name with a '/' and no '$'), so the audit face first meets the file
 * in la_objopen, after ld.so mapped it - and mapping a crafted file can already run its code
 * (README, "Limits of the audit face"). Enforcing, the preload copy checks that path first and
 * answers NULL, as the audit face's la_objsearch does for dlopen(); what passes (or changes
 * after this look) is still decided in la_objopen. In audit mode la_objopen alone records. */
static int audit_face_dlmopen(struct refusal *rf, const char *name, void **result)
{
    struct ec_verdict v;
    struct ec_statx st;
    int fd, allowed, first = 0;
    if (!ec_strchr(name, '/') || ec_strchr(name, '$') || !ec_shim_enforcing(EC_KIND_LIBRARY)) return PASS;
    fd = ec_openat(EC_AT_FDCWD, name, EC_O_RDONLY | EC_O_NONBLOCK | EC_O_NOCTTY | EC_O_CLOEXEC, 0);
    if (fd < 0) fd = ec_openat(EC_AT_FDCWD, name, EC_O_PATH | EC_O_CLOEXEC, 0);
    if (fd < 0) return PASS; /* ld.so's own open fails too, or la_objopen meets what it finds */
    /* not through the verdict cache: nothing in this copy clears it under the audit face (the
     * audit face clears its own per load), so a verdict kept there would answer for good */
    allowed = ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) ? ec_check_fd(fd, name, &v)
                                                                           : ec_check_fd_stat(fd, name, &st, &v);
    ec_close(fd);
    if (allowed || !ec_shim_deny_once(EC_KIND_LIBRARY, EC_FACE_AUDIT, name, &v, &first)) return PASS;
    if (first) ec_say_refused("load", name, v.reason);
    set_dlerror(rf, name, v.reason, 0);
    *result = 0;
    return RETURN;
}

/* rf: a refusal to be said once this returns (refusal_say) */
static int guard(struct refusal *rf, long lmid, const char **file, int mode, void *caller, void **result)
{
    const char *name = *file, *target_path;
    struct held held;
    struct slow_ctx c;
    struct snap s;
    struct ec_ld_request req;
    const struct ec_ld_result *res = 0;
    const struct ec_ld_edge *e0;
    struct ec_pins pins = EC_PINS_INIT; /* the files checked, held until the load is swept */
    int decided = PASS, nnew = 0, refused = 0, attempt;

    ec_dlopen_guard_resolve();
    if (!__atomic_load_n(lmid == GUARD_DLOPEN ? &ec_real_dlopen : &ec_real_dlmopen, __ATOMIC_ACQUIRE)) {
        *result = 0; /* no such function in this libc to call */
        return RETURN;
    }
    if (ec_shim_beside_other_libc() || !name || (mode & EC_RTLD_NOLOAD)) return PASS;
    if (ec_shim_under_audit_face()) return lmid == GUARD_DLOPEN ? PASS : audit_face_dlmopen(rf, name, result);
    if (lmid == EC_LM_ID_BASE && (target_path = fast_lookup(name))) {
        /* the main namespace: a name let in before is that object, as for dlopen() (the fast path) */
        void *h = ((dlmopen_fn)ec_real_dlmopen)(lmid, target_path, mode | EC_RTLD_NOLOAD);
        if (h) {
            close_handed(name);
            *result = h;
            return RETURN;
        }
    }
    held.fd = -1;
    if (lmid == GUARD_DLOPEN && lean_guard(rf, name, mode, result, &held)) return RETURN;
    if (held.fd < 0) close_handed(name); /* the lean path was busy or passed */
    /* the prediction opens ld.so.cache and each dependency while the held file stays open: at
     * the last free descriptor it is given back, and read again by its path */
    if (held.fd >= 0 && !ec_another_fd_free(held.fd)) held_close(&held);
    boot_snapshot();
    if (slow_begin(&c) < 0) {
        slow_end(&c);
        goto unpredictable;
    }
    if (held.fd >= 0) ec_ld_adopt(c.sess, name, held.fd, &held.st); /* failing, it looks the path up itself */
    /* an object unloaded since the last walk must not lend its load directory to one now in its
     * memory (ec_tripwire_load_cwd below) */
    ec_tripwire_forget_unloaded();
    for (attempt = 0;; attempt++) {
        ec_memset(&s, 0, sizeof s);
        s.a = c.a;
        s.caller = (uintptr_t)caller;
        s.caller_idx = -1;
        ec_loaded_iterate(snap_cb, &s);
        /* an object loaded by a relative name that no sweep has met (a load whose constructors
         * are running this dlopen): the sweep notes where it was loaded from, now, before a
         * chdir can make that unknowable; and checks it, as the one after that load would */
        if (!s.unmet || attempt) break;
        if (ec_tripwire_sweep(0, EC_FACE_PRELOAD, 0)) ec_exit_group(126);
    }
    if (s.nomem || !s.n) {
        slow_end(&c);
        goto unpredictable;
    }

    ec_memset(&req, 0, sizeof req);
    req.path = boot.exe;
    req.as_library = boot.direct;
    req.secure = ec_shim.secure;
    req.library_path = boot.library_path;
    req.missing_at_start = boot.missing;
    req.preload = boot.preload;
    req.trace = 1; /* the candidates tried: is the session stale? */
    for (attempt = 0;; attempt++) {
        /* the loaded objects' own names, and those its earlier loads' dependencies got: not a
         * bare name the guard loaded by path, which glibc does not know (its l_libname holds the
         * path), so a DT_NEEDED of it is searched for */
        res = ec_ld_predict_dlopen(c.sess, &req, s.names, known_for(&s), s.relative ? s.cwds : 0, s.n, s.caller_idx,
                                   name);
        if (!res || res->status || res->main_status != EC_LD_MAIN_OK || res->nedges < 1 ||
            res->edges[0].tag != EC_LD_TAG_DLOPEN || res->first_new < 0 || res->first_new > res->nobjects ||
            res->edges[0].to >= res->nobjects) {
            slow_release_session(&c, 1);
            slow_end(&c);
            goto unpredictable;
        }
        if (attempt || prediction_fresh(res, c.shared)) break;
        if (slow_renew_session(&c) < 0) { /* stale: once more, from scratch */
            slow_end(&c);
            goto unpredictable;
        }
    }
    e0 = &res->edges[0];
    if (res->origin_untold) {
        /* the $ORIGIN of an object loaded by a relative name before a chdir, from a directory
         * not known: glibc searches there, the prediction could not */
        slow_end(&c);
        goto unpredictable;
    }
    if (e0->error || e0->to < 0) {
        /* glibc will fail too, with its own message: handed over as is, to be searched and
         * expanded from the caller. (Loaded from here, a bare name was searched with the main
         * program's DT_RPATH, which a caller with a RUNPATH does not see: glibc found a file
         * there that the caller's dlopen never would.) */
        slow_end(&c);
        held_close(&held);
        return PASS;
    }
    if (lmid != GUARD_DLOPEN && lmid && e0->via == EC_LD_VIA_LOADED && !ec_strchr(name, '/')) {
        /* dlmopen() of a bare name the main namespace has: the new namespace searches for it,
         * which the prediction (made from the main namespace) cannot tell */
        slow_end(&c);
        goto unpredictable;
    }
    /* every object this load would add: the target and its dependencies not loaded yet */
    refused = !check_objects(rf, res, res->first_new, e0->to, &held, &nnew, &pins);
    held_close(&held); /* before anything of the load runs (the files checked stay held: pins) */
    target_path = res->objects[e0->to].path;
    if (refused) {
        decided = RETURN;
        *result = 0;
    } else if (!nnew && e0->via == EC_LD_VIA_LOADED && (lmid == GUARD_DLOPEN || !lmid)) {
        /* glibc matches the name to a loaded object: nothing can come in */
        if (lmid == GUARD_DLOPEN) fast_add(name, name);
        decided = PASS;
    } else if (!target_path || ec_ld_dst_count(target_path)) {
        /* cannot be named by path (a directory literally called $ORIGIN...): no sweep after it. A
         * '$' glibc keeps as it is (a directory "dl$1") is no reason to hand the name over */
        decided = PASS;
    } else {
        /* copied out of the session, which is given back before the load: a constructor may
         * dlopen as well. To its size: this frame stays on the stack under glibc's dlopen, whose
         * own use grows with the dependencies (a thread with a small stack loads hundreds) */
        size_t n = ec_strlen(target_path);
        if (n >= 4096) {
            slow_end(&c);
            goto unpredictable;
        }
        {
            char path[n + 1];
            ec_memcpy(path, target_path, n + 1);
            if (lmid != GUARD_DLOPEN && lmid && !check_new_namespace(rf, &c, path)) { /* LM_ID_NEWLM, or another */
                slow_end(&c);
                ec_pins_let_go(&pins);
                ec_tripwire_no_sweep(); /* no load: the verdicts noted go */
                *result = 0;
                return RETURN;
            }
            struct pending_names pn = {0, 0};
            if (lmid == GUARD_DLOPEN || !lmid) note_needed_names(res, &pn);
            slow_end(&c);
            *result = real_load(lmid, path, mode);
            publish_names(&pn, *result != 0, s.counted, s.subs);
            ec_pins_let_go(&pins); /* swept: glibc's mappings hold what it loaded */
            if (*result && lmid == GUARD_DLOPEN) fast_add(name, path);
        }
        return RETURN;
    }
    slow_end(&c);
    ec_pins_let_go(&pins);
    if (nnew) ec_tripwire_no_sweep(); /* verdicts live for one load operation, refused or not */
    return decided;

unpredictable:
    held_close(&held);
    ec_pins_let_go(&pins);
    if (nnew) ec_tripwire_no_sweep();
    if (!refuse_unpredictable(rf, name)) return PASS;
    *result = 0;
    return RETURN;
}

/* The dlopen stub's stack frame, as the stub below lays it out: the arguments saved for the
 * jump to libc's dlopen, the result slot and our caller's return address. The fast path keeps
 * only a pointer to it across its call of libc's dlopen, so it saves no registers of its own. */
struct dlopen_frame {
#if defined(__x86_64__)
    void *result;
    long unused;
    const char *file;
    long mode; /* the int in its low half */
    long pad;
    void *caller; /* pushed by the call to the stub */
#elif defined(__aarch64__)
    void *fp;
    void *caller; /* x30, saved by the stub */
    const char *file;
    long mode;
    void *result;
#elif defined(__i386__)
    void *result; /* the slot the stub pushes below our caller's return address */
    void *caller;
    const char *file; /* the arguments, where our caller put them */
    long mode;
#endif
};

/* the offsets the stubs below store at and load from */
#define FRAME_AT(member) __builtin_offsetof(struct dlopen_frame, member)
#if defined(__x86_64__)
_Static_assert(FRAME_AT(result) == 0 && FRAME_AT(file) == 16 && FRAME_AT(mode) == 24 && FRAME_AT(caller) == 40,
               "the x86_64 dlopen stub's frame");
#elif defined(__aarch64__)
_Static_assert(FRAME_AT(caller) == 8 && FRAME_AT(file) == 16 && FRAME_AT(mode) == 24 && FRAME_AT(result) == 32,
               "the aarch64 dlopen stub's frame");
#elif defined(__i386__)
_Static_assert(FRAME_AT(result) == 0 && FRAME_AT(caller) == 4 && FRAME_AT(file) == 8 && FRAME_AT(mode) == 12,
               "the i386 dlopen stub's frame");
#endif

/* Out of line, so that what guard() needs does not cost the fast path's frame anything. */
static __attribute__((noinline)) int dlopen_slow(struct dlopen_frame *f)
{
    struct refusal rf = {{0, 0}, 0};
    int r = guard(&rf, GUARD_DLOPEN, &f->file, (int)f->mode, f->caller, &f->result);
    refusal_say(&rf);
    return r;
}

EC_HIDDEN int ec_dlopen_guard(struct dlopen_frame *f)
{
    /* the fast path first, with as little as possible before it */
    dlopen_fn real = (dlopen_fn)__atomic_load_n(&ec_real_dlopen, __ATOMIC_ACQUIRE);
    const char *name = f->file, *pass;
    int mode = (int)f->mode;
    if (__builtin_expect(real && name && !(mode & EC_RTLD_NOLOAD) && !ec_shim_under_audit_face(), 1) &&
        ((pass = __atomic_load_n(&self_slot[self_hash(name)], __ATOMIC_RELAXED)) == name ||
         (pass = fast_lookup(name)))) {
        void *h = real(pass, mode | EC_RTLD_NOLOAD);
        if (h) {
            /* loaded already: a descriptor the CPython face handed over for it is not needed */
            if (__builtin_expect(ec_handoff_pending(), 0)) close_handed(f->file);
            f->result = h;
            return RETURN;
        }
    }
    return dlopen_slow(f);
}

EC_HIDDEN int ec_dlmopen_guard(long lmid, const char **file, int mode, void *caller, void **result)
{
    struct refusal rf = {{0, 0}, 0};
    int r = guard(&rf, lmid, file, mode, caller, result);
    refusal_say(&rf);
    return r;
}

void ec_dlopen_guard_start(void) { boot_snapshot(); }

/* ---- the entry points ----
 * Unversioned definitions: they satisfy references to every version binaries link against
 * (dlopen@GLIBC_2.34 and @GLIBC_2.2.5, dlmopen@GLIBC_2.34 and @GLIBC_2.3.4; research §3.2).
 * PASS: registers restored and a jump to libc's function, so it returns straight to our caller
 * and sees our caller's return address. RETURN: the guard's result. */
#if defined(__x86_64__)
#if defined(__CET__) && (__CET__ & 1)
#define EC_ENDBR "endbr64\n"
#else
#define EC_ENDBR ""
#endif
__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, @function\n"
        ".p2align 4\n"
        "dlopen:\n"
        ".cfi_startproc\n" EC_ENDBR
        "subq $40, %rsp\n" /* 16-aligned for the call; struct dlopen_frame */
        ".cfi_def_cfa_offset 48\n"
        "movq %rdi, 16(%rsp)\n"
        "movq %rsi, 24(%rsp)\n"
        "movq %rsp, %rdi\n"
        "call ec_dlopen_guard\n"
        "testl %eax, %eax\n"
        "jnz 1f\n"
        "movq 16(%rsp), %rdi\n"
        "movq 24(%rsp), %rsi\n"
        "addq $40, %rsp\n"
        ".cfi_remember_state\n"
        ".cfi_def_cfa_offset 8\n"
        "jmp *ec_real_dlopen(%rip)\n"
        "1:\n"
        ".cfi_restore_state\n"
        "movq (%rsp), %rax\n"
        "addq $40, %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size dlopen, .-dlopen\n"

        ".globl dlmopen\n"
        ".type dlmopen, @function\n"
        ".p2align 4\n"
        "dlmopen:\n"
        ".cfi_startproc\n" EC_ENDBR
        "subq $40, %rsp\n" /* 0: result, 8: lmid, 16: file, 24: mode */
        ".cfi_def_cfa_offset 48\n"
        "movq %rdi, 8(%rsp)\n"
        "movq %rsi, 16(%rsp)\n"
        "movq %rdx, 24(%rsp)\n"
        "leaq 16(%rsp), %rsi\n"
        "movq 40(%rsp), %rcx\n"
        "movq %rsp, %r8\n"
        "call ec_dlmopen_guard\n"
        "testl %eax, %eax\n"
        "jnz 1f\n"
        "movq 8(%rsp), %rdi\n"
        "movq 16(%rsp), %rsi\n"
        "movq 24(%rsp), %rdx\n"
        "addq $40, %rsp\n"
        ".cfi_remember_state\n"
        ".cfi_def_cfa_offset 8\n"
        "jmp *ec_real_dlmopen(%rip)\n"
        "1:\n"
        ".cfi_restore_state\n"
        "movq (%rsp), %rax\n"
        "addq $40, %rsp\n"
        ".cfi_def_cfa_offset 8\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size dlmopen, .-dlmopen\n");
#elif defined(__aarch64__)
__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, %function\n"
        ".p2align 4\n"
        "dlopen:\n"
        ".cfi_startproc\n"
        "stp x29, x30, [sp, #-48]!\n" /* struct dlopen_frame */
        ".cfi_def_cfa_offset 48\n"
        ".cfi_offset 29, -48\n"
        ".cfi_offset 30, -40\n"
        "mov x29, sp\n"
        "str x0, [sp, #16]\n"
        "str x1, [sp, #24]\n"
        "mov x0, sp\n"
        "bl ec_dlopen_guard\n"
        "cbnz w0, 1f\n"
        "ldr x0, [sp, #16]\n"
        "ldr x1, [sp, #24]\n"
        "ldp x29, x30, [sp], #48\n"
        ".cfi_remember_state\n"
        ".cfi_restore 29\n"
        ".cfi_restore 30\n"
        ".cfi_def_cfa_offset 0\n"
        "adrp x16, ec_real_dlopen\n"
        "ldr x16, [x16, #:lo12:ec_real_dlopen]\n"
        "br x16\n"
        "1:\n"
        ".cfi_restore_state\n"
        "ldr x0, [sp, #32]\n"
        "ldp x29, x30, [sp], #48\n"
        ".cfi_restore 29\n"
        ".cfi_restore 30\n"
        ".cfi_def_cfa_offset 0\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size dlopen, .-dlopen\n"

        ".globl dlmopen\n"
        ".type dlmopen, %function\n"
        ".p2align 4\n"
        "dlmopen:\n"
        ".cfi_startproc\n"
        "stp x29, x30, [sp, #-64]!\n" /* 16: lmid, 24: file, 32: mode, 40: result */
        ".cfi_def_cfa_offset 64\n"
        ".cfi_offset 29, -64\n"
        ".cfi_offset 30, -56\n"
        "mov x29, sp\n"
        "str x0, [sp, #16]\n"
        "str x1, [sp, #24]\n"
        "str x2, [sp, #32]\n"
        "add x1, sp, #24\n"
        "mov x3, x30\n"
        "add x4, sp, #40\n"
        "bl ec_dlmopen_guard\n"
        "cbnz w0, 1f\n"
        "ldr x0, [sp, #16]\n"
        "ldr x1, [sp, #24]\n"
        "ldr x2, [sp, #32]\n"
        "ldp x29, x30, [sp], #64\n"
        ".cfi_remember_state\n"
        ".cfi_restore 29\n"
        ".cfi_restore 30\n"
        ".cfi_def_cfa_offset 0\n"
        "adrp x16, ec_real_dlmopen\n"
        "ldr x16, [x16, #:lo12:ec_real_dlmopen]\n"
        "br x16\n"
        "1:\n"
        ".cfi_restore_state\n"
        "ldr x0, [sp, #40]\n"
        "ldp x29, x30, [sp], #64\n"
        ".cfi_restore 29\n"
        ".cfi_restore 30\n"
        ".cfi_def_cfa_offset 0\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size dlmopen, .-dlmopen\n");
#elif defined(__i386__)
/* cdecl: the arguments are on the stack already, so the frame is the caller's own plus a result
 * slot; PASS drops the slot and jumps with the stack exactly as our caller left it. The stack is
 * 16-aligned at each call (the i386 psABI as gcc keeps it). The jump loads libc's function
 * relative to the GOT, whose address a pc thunk gives (no pc-relative loads on i386; ecx is free). */
#if defined(__CET__) && (__CET__ & 1)
#define EC_ENDBR "endbr32\n"
#else
#define EC_ENDBR ""
#endif
__asm__(".text\n"
        ".globl dlopen\n"
        ".type dlopen, @function\n"
        ".p2align 4\n"
        "dlopen:\n"
        ".cfi_startproc\n" EC_ENDBR
        "subl $4, %esp\n" /* struct dlopen_frame: result, caller, file, mode */
        ".cfi_def_cfa_offset 8\n"
        "movl %esp, %eax\n"
        "subl $4, %esp\n"
        ".cfi_def_cfa_offset 12\n"
        "pushl %eax\n"
        ".cfi_def_cfa_offset 16\n"
        "call ec_dlopen_guard\n"
        "addl $8, %esp\n"
        ".cfi_def_cfa_offset 8\n"
        "testl %eax, %eax\n"
        "jnz 1f\n"
        "addl $4, %esp\n"
        ".cfi_remember_state\n"
        ".cfi_def_cfa_offset 4\n"
        "call ec_i386_pc_ecx\n"
        "addl $_GLOBAL_OFFSET_TABLE_, %ecx\n"
        "jmp *ec_real_dlopen@GOTOFF(%ecx)\n"
        "1:\n"
        ".cfi_restore_state\n"
        "movl (%esp), %eax\n"
        "addl $4, %esp\n"
        ".cfi_def_cfa_offset 4\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size dlopen, .-dlopen\n"

        ".globl dlmopen\n"
        ".type dlmopen, @function\n"
        ".p2align 4\n"
        "dlmopen:\n"
        ".cfi_startproc\n" EC_ENDBR
        "subl $4, %esp\n" /* 0: result, 4: caller, 8: lmid, 12: file, 16: mode */
        ".cfi_def_cfa_offset 8\n"
        "movl %esp, %eax\n"
        "subl $4, %esp\n"
        ".cfi_def_cfa_offset 12\n"
        "pushl %eax\n" /* result */
        ".cfi_def_cfa_offset 16\n"
        "pushl 4(%eax)\n" /* caller */
        ".cfi_def_cfa_offset 20\n"
        "pushl 16(%eax)\n" /* mode */
        ".cfi_def_cfa_offset 24\n"
        "leal 12(%eax), %edx\n"
        "pushl %edx\n" /* &file */
        ".cfi_def_cfa_offset 28\n"
        "pushl 8(%eax)\n" /* lmid */
        ".cfi_def_cfa_offset 32\n"
        "call ec_dlmopen_guard\n"
        "addl $24, %esp\n"
        ".cfi_def_cfa_offset 8\n"
        "testl %eax, %eax\n"
        "jnz 1f\n"
        "addl $4, %esp\n"
        ".cfi_remember_state\n"
        ".cfi_def_cfa_offset 4\n"
        "call ec_i386_pc_ecx\n"
        "addl $_GLOBAL_OFFSET_TABLE_, %ecx\n"
        "jmp *ec_real_dlmopen@GOTOFF(%ecx)\n"
        "1:\n"
        ".cfi_restore_state\n"
        "movl (%esp), %eax\n"
        "addl $4, %esp\n"
        ".cfi_def_cfa_offset 4\n"
        "ret\n"
        ".cfi_endproc\n"
        ".size dlmopen, .-dlmopen\n"

        ".hidden ec_i386_pc_ecx\n" /* ecx = the address after the call: the GOT is an addl away */
        ".type ec_i386_pc_ecx, @function\n"
        "ec_i386_pc_ecx:\n"
        "movl (%esp), %ecx\n"
        "ret\n"
        ".size ec_i386_pc_ecx, .-ec_i386_pc_ecx\n");
#else
#error "execcheck: the dlopen stubs exist for x86_64, aarch64 and i386 only"
#endif

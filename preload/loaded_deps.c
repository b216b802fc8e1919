/* What the objects already loaded provide: would ld.so take every dependency of a file from them
 * (the dlopen guard)? Which object holds an address (is the shim preloaded, and under what name)?
 * Where is a symbol defined, as dlsym() would find it (libc's functions for the interposers, the
 * CPython API for the CPython face)?
 *
 * The dlopen guard's cheap question (dlopen_guard.c, "the lean path"): for dlopen(path) of a
 * library whose DT_NEEDED names all match objects of the main namespace, ld.so maps exactly one
 * new file - that library - and no search happens, so no replay of the process is needed to
 * predict it. ld.so matches a name against each loaded object's l_name, the names it was loaded
 * under (l_libname) and its SONAME (dl-load.c, _dl_map_object). l_libname is private, so only
 * l_name and the SONAME are compared here: a name matched by them is matched by ld.so too, and a
 * name that only an l_libname entry would match counts as not loaded (the full prediction then
 * decides). The walk runs inside dl_iterate_phdr, under ld.so's dl_load_write_lock, so the list
 * and the objects' memory hold still while they are read. dl_iterate_phdr reports the namespace
 * of its caller (dl-iteratephdr.c): this shim's, the main one, which is also where the dlopen
 * calls that reach the guard load (dlmopen takes the full prediction). */
#define _GNU_SOURCE
#include <link.h>
#include <stddef.h>
#include "auxv.h"
#include "elfinfo.h"
#include "ldsysdirs.h"
#include "preload_face.h"
#include "text.h"

extern int dl_iterate_phdr(int (*)(struct dl_phdr_info *, size_t, void *), void *) __attribute__((weak));

/* dl_iterate_phdr with every signal held back until the walk is over. Its lock
 * (dl_load_write_lock) is recursive, so a signal handler of this thread that dlopen()s or
 * dlclose()s (not async-signal-safe, but done) got in under the walk: its own sweep rebuilt the
 * table of seen objects the interrupted sweep was writing (SIGSEGV in the shim, a handler's
 * dlopen every 200 us: 3 runs of 5). Held back, the handler meets the shim between its steps, as
 * any other caller. Not held back: the signals the walk's own work raises, which must reach the
 * program's handlers as before (a seccomp filter's SIGSYS at a check, the SIGPIPE of a refusal
 * line that the stderr sink takes back) or which the kernel forces through anyway (faults). */
#define SIG(n) (1ull << ((n) - 1))
#define RAISED_BY_THE_WALK (SIG(4) | SIG(5) | SIG(7) | SIG(8) | SIG(11) | SIG(13) | SIG(31)) /* ILL TRAP BUS FPE SEGV PIPE SYS */

int ec_loaded_iterate(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
    uint64_t all = ~RAISED_BY_THE_WALK, old = 0;
    int masked, r;
    if (!dl_iterate_phdr) return 0;
    masked = ec_sys4(EC_NR_rt_sigprocmask, EC_SIG_BLOCK, &all, &old, 8) == 0;
    r = dl_iterate_phdr(cb, data);
    if (masked) ec_sys4(EC_NR_rt_sigprocmask, EC_SIG_SETMASK, &old, 0, 8);
    return r;
}

struct match {
    const char *target;          /* the dlopen's path: already an l_name means "unsure" */
    const char *const *needed;
    int n;
    uint64_t matched;            /* bit i: needed[i] matched */
    int objects;
    int unsure;
};

/* Where a d_ptr of the dynamic section points in memory, if len bytes from there lie in one
 * readable segment of the object; else 0. ld.so adds the load address to some d_ptr entries when
 * the dynamic section is writable (x86_64, aarch64), not when it is read-only (the vDSO): the
 * address is taken as whichever reading lands inside the object's segments, and an object where
 * both could (loaded near address 0) gives none. Between segments ld.so leaves PROT_NONE gaps. */
static uintptr_t in_memory(const struct dl_phdr_info *info, uintptr_t ptr, uint64_t len)
{
    uintptr_t lo = ~(uintptr_t)0, hi = 0, base = info->dlpi_addr;
    int i, relocated, unrelocated;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type != PT_LOAD) continue;
        if (ph->p_vaddr < lo) lo = ph->p_vaddr;
        if (ph->p_vaddr + ph->p_memsz > hi) hi = ph->p_vaddr + ph->p_memsz;
    }
    if (lo >= hi) return 0;
    relocated = ptr >= base + lo && ptr < base + hi;
    unrelocated = ptr >= lo && ptr < hi;
    if (relocated && unrelocated && base) return 0;
    if (unrelocated && !relocated) ptr += base;
    else if (!relocated) return 0;
    if (ptr + len < ptr) return 0;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_R) && ptr >= base + ph->p_vaddr &&
            ptr + len <= base + ph->p_vaddr + ph->p_memsz)
            return ptr;
    }
    return 0;
}

/* The object's dynamic section in memory, or NULL; *end past its last entry. */
static const ElfW(Dyn) *dynamic_of(const struct dl_phdr_info *info, const ElfW(Dyn) **end)
{
    int i;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_DYNAMIC) {
            const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
            *end = d + ph->p_memsz / sizeof *d;
            return d;
        }
    }
    return 0;
}

/* The SONAME of an object in memory, or NULL. */
static const char *soname_of(const struct dl_phdr_info *info)
{
    const ElfW(Dyn) *d, *end = 0;
    uintptr_t strtab = 0;
    uint64_t soname = ~(uint64_t)0, strsz = 0, i;
    if (!(d = dynamic_of(info, &end))) return 0;
    for (; d < end && d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB) strtab = d->d_un.d_ptr;
        else if (d->d_tag == DT_SONAME) soname = d->d_un.d_val;
        else if (d->d_tag == DT_STRSZ) strsz = d->d_un.d_val;
    }
    if (soname == ~(uint64_t)0 || soname >= strsz || !(strtab = in_memory(info, strtab, strsz))) return 0;
    /* a string that does not end inside the table is no SONAME ld.so would compare either */
    for (i = soname; i < strsz; i++)
        if (!((const char *)strtab)[i]) return (const char *)strtab + soname;
    return 0;
}

static void match_name(struct match *m, const char *name)
{
    int i;
    if (!name || !*name) return;
    for (i = 0; i < m->n; i++)
        if (!(m->matched & (1ull << i)) && !ec_strcmp(name, m->needed[i])) m->matched |= 1ull << i;
}

static int match_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct match *m = data;
    (void)size;
    m->objects++;
    if (info->dlpi_name && !ec_strcmp(info->dlpi_name, m->target)) m->unsure = 1;
    match_name(m, info->dlpi_name);
    match_name(m, soname_of(info));
    return m->unsure;
}

int ec_loaded_satisfies(const char *target, const char *const *needed, int n)
{
    struct match m;
    if (!dl_iterate_phdr || n < 0 || n > 64) return 0;
    ec_memset(&m, 0, sizeof m);
    m.target = target;
    m.needed = needed;
    m.n = n;
    ec_loaded_iterate(match_cb, &m);
    if (m.unsure || !m.objects) return 0;
    return m.matched == (n == 64 ? ~0ull : (1ull << n) - 1);
}

/* ---- which loaded object holds an address ---- */

int ec_object_holds(const struct dl_phdr_info *info, uintptr_t addr)
{
    int i;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
        if (ph->p_type == PT_LOAD && addr >= lo && addr < lo + ph->p_memsz) return 1;
    }
    return 0;
}

struct name_query {
    uintptr_t addr;
    const char *name;
};

static int name_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct name_query *q = data;
    (void)size;
    if (!ec_object_holds(info, q->addr)) return 0;
    q->name = info->dlpi_name;
    return 1;
}

const char *ec_loaded_name_of(const void *addr)
{
    struct name_query q;
    if (!dl_iterate_phdr) return 0;
    q.addr = (uintptr_t)addr;
    q.name = 0;
    ec_loaded_iterate(name_cb, &q);
    return q.name;
}

/* ---- the loader's own directories ----
 * The system directories of the ld.so this process runs with ($LIB follows), read once from its
 * read-only segments in memory (ldsysdirs.h): the loader that really searches, even where its file
 * was replaced since (an upgrade). Debian's x86_64 ld.so searches /lib/x86_64-linux-gnu, its
 * biarch and Fedora's ones /lib64, a 32-bit one /lib32 or /lib/i386-linux-gnu, Arch's /usr/lib. */
static char loader_dirs[2048];
static int loader_dirs_state; /* 0 not looked, 1 being looked at, 2 found, 3 none */

/* ld.so is never unmapped: its bytes are read where AT_BASE says it is, with no walk of the
 * link maps (the audit face's copy of this has no libc, so no dl_iterate_phdr). A caller that
 * races the first look (a signal handler's, say) is told "none" rather than made to wait. */
const char *ec_loaded_loader_dirs(void)
{
    int state = __atomic_load_n(&loader_dirs_state, __ATOMIC_ACQUIRE), zero = 0;
    if (!state && __atomic_compare_exchange_n(&loader_dirs_state, &zero, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        unsigned long base = 0;
        int found = ec_auxv_get(EC_AT_BASE, &base) == 1 && base &&
                    ec_ld_sysdirs_mapped((const void *)base, loader_dirs, sizeof loader_dirs);
        __atomic_store_n(&loader_dirs_state, found ? 2 : 3, __ATOMIC_RELEASE);
    }
    state = __atomic_load_n(&loader_dirs_state, __ATOMIC_ACQUIRE);
    return state == 2 ? loader_dirs : 0;
}

size_t ec_loaded_loader_lib(char *out, size_t cap)
{
    const char *dirs = ec_loaded_loader_dirs();
    return dirs ? ec_ld_sysdirs_lib(dirs, out, cap) : 0;
}

/* The directory of the libc.so.6 this process runs with, as ld.so named it, without its leading
 * '/' (propagate.c tries it as $LIB before reading the loader's list). */
struct libc_dir { char *out; size_t cap, len; };

static int libc_dir_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct libc_dir *d = data;
    const char *name = info->dlpi_name, *base;
    size_t n;
    (void)size;
    if (!name || name[0] != '/' || !(base = ec_strrchr(name, '/')) || ec_strcmp(base, "/libc.so.6")) return 0;
    n = (size_t)(base - name) - 1;
    if (n == 0 || n >= d->cap) return 1;
    ec_memcpy(d->out, name + 1, n);
    d->out[n] = 0;
    d->len = n;
    return 1;
}

size_t ec_loaded_libc_dir(char *out, size_t cap)
{
    struct libc_dir d = {out, cap, 0};
    ec_loaded_iterate(libc_dir_cb, &d);
    return d.len;
}

/* ---- symbols of the loaded objects, read as ld.so reads them ----
 * dlsym() is no answer everywhere: before glibc 2.34 it is in libdl.so.2, which most programs
 * (dash, coreutils) do not load, and a dlsym() of a missing name has glibc build an error with
 * malloc() (the first malloc of a program that may never call it) and leaves that error for the
 * program's next dlerror(). This reads the objects' own hash tables instead (GNU hash, else SysV
 * hash) and asks nothing of libc. Like dlsym() (dl-lookup.c, check_match), it takes a symbol's
 * default version and skips hidden ones (a libc's compat definitions), undefined entries and
 * zero values. An IFUNC is found but has no address here: its resolver is ld.so's to call. */

struct sym_query {
    const char *name;
    uint32_t gnu, sysv; /* the name's two hashes */
    int done;           /* a definition was found (addr may still be NULL: IFUNC, TLS) */
    void *addr;         /* the definition's address, NULL for an IFUNC or TLS */
};

/* The definition of that name at index i of symtab, as dlsym() takes it? */
static int defines(uintptr_t symtab, uintptr_t strtab, uint64_t strsz, const uint16_t *versym, uint32_t i,
                   const char *name)
{
    const ElfW(Sym) *sym = (const ElfW(Sym) *)symtab + i;
    unsigned type = ELF64_ST_TYPE(sym->st_info);
    uint64_t k;
    if (sym->st_shndx == SHN_UNDEF || sym->st_name >= strsz) return 0;
    if (sym->st_value == 0 && type != STT_TLS) return 0;
    if (ELF64_ST_BIND(sym->st_info) == STB_LOCAL) return 0;
    if (versym && (versym[i] & 0x8000)) return 0; /* a hidden version: only dlvsym() names it */
    for (k = 0; name[k]; k++)
        if (sym->st_name + k >= strsz || ((const char *)strtab)[sym->st_name + k] != name[k]) return 0;
    return sym->st_name + k < strsz && !((const char *)strtab)[sym->st_name + k];
}

/* The definition dlsym() would take: the query is answered (1), with its address. */
static int take(struct sym_query *q, const struct dl_phdr_info *info, uintptr_t symtab, uint32_t i)
{
    const ElfW(Sym) *sym = (const ElfW(Sym) *)symtab + i;
    unsigned type = ELF64_ST_TYPE(sym->st_info);
    q->addr = type == STT_GNU_IFUNC || type == STT_TLS ? 0 : (void *)(info->dlpi_addr + sym->st_value);
    return q->done = 1;
}

#define SYM_MAX_STEPS (1u << 20) /* a bound on any chain walk: ld.so's tables, read as ld.so reads them */

/* One object's symbol tables in memory, read once for all the names asked of it. */
struct sym_tables {
    uintptr_t strtab, symtab, gnu, sysv, vers; /* vers: DT_VERSYM, one uint16_t per symbol, or 0 */
    uint64_t strsz;
};

static int tables_of(const struct dl_phdr_info *info, struct sym_tables *t)
{
    const ElfW(Dyn) *d, *end = 0;
    ec_memset(t, 0, sizeof *t);
    if (!(d = dynamic_of(info, &end))) return 0;
    for (; d < end && d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB) t->strtab = d->d_un.d_ptr;
        else if (d->d_tag == DT_STRSZ) t->strsz = d->d_un.d_val;
        else if (d->d_tag == DT_SYMTAB) t->symtab = d->d_un.d_ptr;
        else if (d->d_tag == DT_GNU_HASH) t->gnu = d->d_un.d_ptr;
        else if (d->d_tag == DT_HASH) t->sysv = d->d_un.d_ptr;
        else if (d->d_tag == DT_VERSYM) t->vers = d->d_un.d_ptr;
    }
    if (!(t->strtab = in_memory(info, t->strtab, t->strsz)) ||
        !(t->symtab = in_memory(info, t->symtab, sizeof(ElfW(Sym)))))
        return 0;
    /* the version table has an entry per symbol; each index is checked against it below */
    if (t->vers) t->vers = in_memory(info, t->vers, 2);
    if (t->gnu) t->gnu = in_memory(info, t->gnu, 16);
    if (t->sysv) t->sysv = in_memory(info, t->sysv, 8);
    return 1;
}

/* Looks q's name up in one object's tables (GNU hash, else SysV hash); 1 when found. */
static int find_in(const struct dl_phdr_info *info, const struct sym_tables *t, struct sym_query *q)
{
    uint32_t steps;
    const uint16_t *versym = (const uint16_t *)t->vers;
#define VERSYM_OK(i) (!versym || in_memory(info, t->vers + (uint64_t)(i) * 2, 2))
    if (t->gnu) {
        const uint32_t *h = (const uint32_t *)t->gnu;
        uint32_t nbuckets = h[0], symoffset = h[1], bloom_size = h[2], shift = h[3], i;
        const ElfW(Addr) *bloom = (const ElfW(Addr) *)(h + 4);
        const uint32_t *buckets, *chain;
        ElfW(Addr) word, bits = sizeof(ElfW(Addr)) * 8;
        if (!nbuckets || !bloom_size ||
            !in_memory(info, t->gnu, 16 + (uint64_t)bloom_size * sizeof *bloom + (uint64_t)nbuckets * 4))
            return 0;
        word = bloom[(q->gnu / bits) % bloom_size];
        /* ld.so shifts by the table's word as the CPU does, modulo 32 (x86, aarch64): a shift of
         * 32 or more is undefined in C */
        if (!((word >> (q->gnu % bits)) & (word >> ((q->gnu >> (shift & 31)) % bits)) & 1)) return 0;
        buckets = (const uint32_t *)(bloom + bloom_size);
        chain = buckets + nbuckets;
        i = buckets[q->gnu % nbuckets];
        if (i < symoffset) return 0;
        for (steps = 0; steps < SYM_MAX_STEPS; steps++, i++) {
            uint32_t hv;
            if (!in_memory(info, (uintptr_t)(chain + (i - symoffset)), 4) ||
                !in_memory(info, t->symtab + (uint64_t)i * sizeof(ElfW(Sym)), sizeof(ElfW(Sym))) || !VERSYM_OK(i))
                return 0;
            hv = chain[i - symoffset];
            if ((hv | 1) == (q->gnu | 1) && defines(t->symtab, t->strtab, t->strsz, versym, i, q->name))
                return take(q, info, t->symtab, i);
            if (hv & 1) return 0;
        }
        return 0;
    }
    if (t->sysv) {
        const uint32_t *h = (const uint32_t *)t->sysv;
        uint32_t nbucket = h[0], nchain = h[1], i;
        if (!nbucket || !in_memory(info, t->sysv, 8 + ((uint64_t)nbucket + nchain) * 4)) return 0;
        for (i = h[2 + q->sysv % nbucket], steps = 0; i && i < nchain && steps < SYM_MAX_STEPS;
             i = h[2 + nbucket + i], steps++) {
            if (!in_memory(info, t->symtab + (uint64_t)i * sizeof(ElfW(Sym)), sizeof(ElfW(Sym))) || !VERSYM_OK(i))
                return 0;
            if (defines(t->symtab, t->strtab, t->strsz, versym, i, q->name)) return take(q, info, t->symtab, i);
        }
    }
#undef VERSYM_OK
    return 0;
}

/* Several names in one walk of the link maps: each object's tables are read once. */
struct sym_batch {
    struct sym_query *q;
    int n, left;
    uintptr_t after; /* RTLD_NEXT: only objects after the one holding this address; 0: all */
    int passed;      /* the object holding `after` has gone by */
};

static int batch_cb(struct dl_phdr_info *info, size_t size, void *data)
{
    struct sym_batch *b = data;
    struct sym_tables t;
    int i;
    (void)size;
    if (b->after && !b->passed) {
        b->passed = ec_object_holds(info, b->after);
        return 0;
    }
    if (!tables_of(info, &t)) return 0;
    for (i = 0; i < b->n; i++)
        if (!b->q[i].done && find_in(info, &t, &b->q[i])) b->left--;
    return b->left == 0;
}

static void lookup_many(const char *const *names, void **out, int n, const void *after)
{
    struct sym_query q[16];
    struct sym_batch b;
    const unsigned char *p;
    int i;
    for (i = 0; i < n; i++) out[i] = 0;
    if (!dl_iterate_phdr || n <= 0 || n > 16) return;
    ec_memset(q, 0, sizeof q);
    for (i = 0; i < n; i++) {
        q[i].name = names[i];
        q[i].gnu = 5381;
        for (p = (const unsigned char *)names[i]; *p; p++) q[i].gnu = q[i].gnu * 33 + *p;
        q[i].sysv = ec_elf_hash(names[i]);
    }
    b.q = q;
    b.n = b.left = n;
    b.after = (uintptr_t)after;
    b.passed = 0;
    ec_loaded_iterate(batch_cb, &b);
    for (i = 0; i < n; i++) out[i] = q[i].addr;
}

void *ec_loaded_symbol(const char *name)
{
    void *addr;
    lookup_many(&name, &addr, 1, 0);
    return addr;
}

void ec_loaded_symbol_many(const char *const *names, void **out, int n) { lookup_many(names, out, n, 0); }

void ec_loaded_next_many(const char *const *names, void **out, int n)
{
    lookup_many(names, out, n, (const void *)ec_loaded_next_many);
}

void *ec_loaded_next(const char *name)
{
    void *addr;
    ec_loaded_next_many(&name, &addr, 1);
    return addr;
}

void ec_loaded_next_into(const char *const *names, void **const *slots, int n)
{
    void *f[16];
    int i;
    if (n > 16) n = 16;
    ec_loaded_next_many(names, f, n);
    for (i = 0; i < n; i++) __atomic_store_n(slots[i], f[i], __ATOMIC_RELEASE);
}

void *ec_loaded_next_once(void **slot, const char *name)
{
    void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
    if (!f) {
        f = ec_loaded_next(name);
        __atomic_store_n(slot, f, __ATOMIC_RELEASE);
    }
    return f;
}

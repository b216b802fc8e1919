/* Would ld.so take every dependency of a file from the objects already loaded?
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
#include "preload_face.h"
#include "text.h"

extern int dl_iterate_phdr(int (*)(struct dl_phdr_info *, size_t, void *), void *) __attribute__((weak));

struct match {
    const char *target;          /* the dlopen's path: already an l_name means "unsure" */
    const char *const *needed;
    int n;
    uint64_t matched;            /* bit i: needed[i] matched */
    int objects;
    int unsure;
};

/* The SONAME of an object in memory, or NULL. ld.so adds the load address to DT_STRTAB in the
 * dynamic section when that section is writable (x86_64, aarch64), not when it is read-only (the
 * vDSO): the address is taken as whichever reading lands inside the object's segments, and an
 * object where both could (loaded near address 0) has no SONAME to offer. */
static const char *soname_of(const struct dl_phdr_info *info)
{
    const ElfW(Dyn) *d = 0, *end = 0;
    uintptr_t lo = ~(uintptr_t)0, hi = 0, strtab = 0, relocated, unrelocated, base;
    uint64_t soname = ~(uint64_t)0, strsz = 0;
    int i;
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD) {
            if (ph->p_vaddr < lo) lo = ph->p_vaddr;
            if (ph->p_vaddr + ph->p_memsz > hi) hi = ph->p_vaddr + ph->p_memsz;
        } else if (ph->p_type == PT_DYNAMIC) {
            d = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
            end = d + ph->p_memsz / sizeof *d;
        }
    }
    if (!d || lo >= hi) return 0;
    for (; d < end && d->d_tag != DT_NULL; d++) {
        if (d->d_tag == DT_STRTAB) strtab = d->d_un.d_ptr;
        else if (d->d_tag == DT_SONAME) soname = d->d_un.d_val;
        else if (d->d_tag == DT_STRSZ) strsz = d->d_un.d_val;
    }
    if (soname == ~(uint64_t)0 || soname >= strsz) return 0;
    base = info->dlpi_addr;
    relocated = strtab >= base + lo && strtab < base + hi;
    unrelocated = strtab >= lo && strtab < hi;
    if (relocated && unrelocated && base) return 0;
    if (unrelocated && !relocated) strtab += base;
    else if (!relocated) return 0;
    if (strtab + strsz > base + hi || strtab + strsz < strtab) return 0;
    /* the table must lie in one readable segment: between segments ld.so leaves PROT_NONE gaps */
    for (i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
        if (ph->p_type == PT_LOAD && (ph->p_flags & PF_R) && strtab >= base + ph->p_vaddr &&
            strtab + strsz <= base + ph->p_vaddr + ph->p_memsz)
            break;
    }
    if (i == info->dlpi_phnum) return 0;
    /* a string that does not end inside the table is no SONAME ld.so would compare either */
    for (i = 0; (uint64_t)soname + (uint64_t)i < strsz; i++)
        if (!((const char *)strtab)[soname + (uint64_t)i]) return (const char *)strtab + soname;
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
    dl_iterate_phdr(match_cb, &m);
    if (m.unsure || !m.objects) return 0;
    return m.matched == (n == 64 ? ~0ull : (1ull << n) - 1);
}

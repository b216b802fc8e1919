/* The small ELF reader (see elfinfo.h). */
#include "elfinfo.h"
#include "scratch.h"
#include "sys.h"
#include "text.h"

/* Bounds of this reader: far above real files, low enough that a hostile count costs little. */
#define MAX_PHNUM 4096
#define MAX_DYN 65536
#define MAX_DEPS 16384
#define MAX_STRING 16384
#define MAX_VERNEED 4096
#define MAX_VERAUX 65536
#define MAX_VERDEF 16384
#define WINDOW 2048

struct rd {
    int fd;
    uint64_t size;
    int msb;
    struct ec_arena *a;
    struct ec_elf *e;
    /* two cached windows of the file, for strings and small records: version records and the
     * strings they name live apart, and one window would move between them at every entry */
    unsigned char (*win)[WINDOW];
    uint64_t win_off[2];
    uint32_t win_len[2];
    int recent;                /* the window used last; the other one is replaced on a miss */
    uint64_t copied;           /* string bytes copied so far (STRING_BUDGET) */
};

/* Strings copied per file at most: twice its size and 64 KiB. Names of a real file are a small
 * part of it, but entries may all name the same long string: 16384 DT_NEEDED entries pointing at
 * one 16 KiB name (a 300 KiB file) made a reader copy 256 MiB into the dlopen guard's session. */
#define STRING_BUDGET(r) (2 * (r)->size + 65536)

static void defect(struct rd *r, int d)
{
    if (!r->e->defect) r->e->defect = d;
}

static const unsigned char *peek(struct rd *r, uint64_t off, uint32_t n, int range_defect, uint32_t *avail);

/* Exactly n bytes at off, or a defect (range when the file is shorter). Small reads go through a
 * window: the header and the program headers then come from one read. */
static int read_at(struct rd *r, void *buf, uint64_t n, uint64_t off, int range_defect)
{
    uint64_t done = 0;
    if (off > r->size || n > r->size - off) {
        defect(r, range_defect);
        return -1;
    }
    if (n && n <= WINDOW) {
        const unsigned char *p = peek(r, off, (uint32_t)n, range_defect, 0);
        if (!p) return -1;
        ec_memcpy(buf, p, (size_t)n);
        return 0;
    }
    while (done < n) {
        long k = ec_pread(r->fd, (char *)buf + done, (size_t)(n - done), (long)(off + done));
        if (k == -EC_EINTR) continue;
        if (k <= 0) {
            if (k < 0) r->e->read_err = (int)-k;
            defect(r, k < 0 ? EC_ELF_READ_ERROR : range_defect);
            return -1;
        }
        done += (uint64_t)k;
    }
    return 0;
}

/* A pointer to n bytes at off through a window (n <= WINDOW), or NULL; *avail: the bytes readable
 * from it (>= n). */
static const unsigned char *peek(struct rd *r, uint64_t off, uint32_t n, int range_defect, uint32_t *avail)
{
    int w;
    for (w = 0; w < 2; w++)
        if (off >= r->win_off[w] && off + n <= r->win_off[w] + r->win_len[w]) break;
    if (w == 2) {
        uint64_t len, start;
        long k;
        if (off > r->size || n > r->size - off) {
            defect(r, range_defect);
            return 0;
        }
        w = !r->recent;
        /* from an aligned start when n still fits: records and strings are read in no particular
         * order (a library's RUNPATH, then its DT_NEEDED names just before it), and a window
         * that also covers a little of what precedes off saves reading them apart */
        start = off & ~(uint64_t)(WINDOW / 2 - 1);
        if (off + n > start + WINDOW) start = off;
        len = r->size - start < WINDOW ? r->size - start : WINDOW;
        k = ec_pread(r->fd, r->win[w], (size_t)len, (long)start);
        if (k < (long)(off - start + n)) {
            if (k < 0) r->e->read_err = (int)-k;
            defect(r, k < 0 ? EC_ELF_READ_ERROR : range_defect);
            r->win_len[w] = 0;
            return 0;
        }
        r->win_off[w] = start;
        r->win_len[w] = (uint32_t)k;
    }
    r->recent = w;
    if (avail) *avail = (uint32_t)(r->win_off[w] + r->win_len[w] - off);
    return r->win[w] + (off - r->win_off[w]);
}

static uint16_t get16(const struct rd *r, const unsigned char *p)
{
    return r->msb ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

static uint32_t get32(const struct rd *r, const unsigned char *p)
{
    return r->msb ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                  : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t get64(const struct rd *r, const unsigned char *p)
{
    return r->msb ? (uint64_t)get32(r, p) << 32 | get32(r, p + 4) : (uint64_t)get32(r, p + 4) << 32 | get32(r, p);
}

/* A word of the file's class: 4 bytes in ELF32, 8 in ELF64. */
static uint64_t getw(const struct rd *r, const unsigned char *p)
{
    return r->e->elfclass == 2 ? get64(r, p) : get32(r, p);
}

/* File offset of `size` bytes at virtual address v, as the loader would see them once the PT_LOAD
 * segments are mapped: bytes of the segment that come from the file. 0 with *ok = 0 otherwise. */
static uint64_t vaddr_to_off(const struct ec_elf *e, uint64_t v, uint64_t size, int *ok)
{
    uint32_t i;
    for (i = 0; i < e->nload; i++) {
        const struct ec_elf_load *l = &e->loads[i];
        if (v >= l->vaddr && v - l->vaddr < l->filesz && size <= l->filesz - (v - l->vaddr)) {
            *ok = 1;
            return l->offset + (v - l->vaddr);
        }
    }
    *ok = 0;
    return 0;
}

/* The NUL-terminated string at file offset off, copied into the arena; NULL + defect if it runs
 * out of the file or past MAX_STRING. */
static const char *string_at(struct rd *r, uint64_t off)
{
    uint64_t end = off;
    const unsigned char *p;
    char *s;
    for (;;) {
        uint32_t avail, i;
        if (end - off > MAX_STRING) {
            defect(r, EC_ELF_STRING_RANGE);
            return 0;
        }
        p = peek(r, end, 1, EC_ELF_STRING_RANGE, &avail);
        if (!p) return 0;
        for (i = 0; i < avail; i++)
            if (!p[i]) break;
        end += i;
        if (i < avail) break;
    }
    r->copied += end - off + 1;
    if (r->copied > STRING_BUDGET(r)) {
        defect(r, EC_ELF_TOO_MANY);
        return 0;
    }
    s = ec_arena_alloc(r->a, (size_t)(end - off) + 1);
    if (!s) {
        defect(r, EC_ELF_NOMEM);
        return 0;
    }
    /* copy in window-sized pieces (the window may have moved while scanning) */
    {
        uint64_t at = off;
        while (at < end) {
            uint32_t n = end - at > WINDOW ? WINDOW : (uint32_t)(end - at);
            p = peek(r, at, n, EC_ELF_STRING_RANGE, 0);
            if (!p) return 0;
            ec_memcpy(s + (at - off), p, n);
            at += n;
        }
    }
    s[end - off] = 0;
    return s;
}

/* A string of the dynamic string table, located like ld.so does (DT_STRTAB is an address). */
static const char *dynstr(struct rd *r, uint64_t strtab, int have_strtab, uint64_t idx)
{
    int ok;
    uint64_t off;
    if (!have_strtab) {
        defect(r, EC_ELF_STRING_RANGE);
        return 0;
    }
    off = vaddr_to_off(r->e, strtab + idx, 1, &ok);
    if (!ok) {
        defect(r, EC_ELF_STRING_RANGE);
        return 0;
    }
    return string_at(r, off);
}

static int read_ehdr(struct rd *r)
{
    struct ec_elf *e = r->e;
    unsigned char h[64];
    uint64_t n = r->size < 64 ? r->size : 64;
    if (n && read_at(r, h, n, 0, EC_ELF_TOO_SHORT) < 0) return -1;
    ec_memcpy(e->ident, h, n < 16 ? n : 16);
    if (n >= 4 && ec_memcmp(h, "\177ELF", 4) != 0) {
        defect(r, EC_ELF_BAD_MAGIC);
        return -1;
    }
    if (n < 16) {
        defect(r, EC_ELF_TOO_SHORT);
        return -1;
    }
    if (h[4] != 1 && h[4] != 2) {
        defect(r, EC_ELF_BAD_CLASS);
        return -1;
    }
    if (h[5] != 1 && h[5] != 2) {
        defect(r, EC_ELF_BAD_DATA);
        return -1;
    }
    e->elfclass = h[4];
    e->msb = r->msb = h[5] == 2;
    if (n < (e->elfclass == 2 ? 64u : 52u)) {
        defect(r, EC_ELF_TOO_SHORT);
        return -1;
    }
    e->type = get16(r, h + 16);
    e->machine = get16(r, h + 18);
    e->version = get32(r, h + 20);
    if (e->elfclass == 2) {
        e->entry = get64(r, h + 24);
        e->phoff = get64(r, h + 32);
        e->ehsize = get16(r, h + 52);
        e->phentsize = get16(r, h + 54);
        e->phnum = get16(r, h + 56);
    } else {
        e->entry = get32(r, h + 24);
        e->phoff = get32(r, h + 28);
        e->ehsize = get16(r, h + 40);
        e->phentsize = get16(r, h + 42);
        e->phnum = get16(r, h + 44);
    }
    return 0;
}

struct dyninfo {
    uint64_t off;   /* file offset of PT_DYNAMIC */
    uint64_t size;  /* bytes of it backed by the file */
    int found;
};

static int read_phdrs(struct rd *r, struct dyninfo *dyn)
{
    struct ec_elf *e = r->e;
    unsigned ent = e->elfclass == 2 ? 56u : 32u;
    unsigned char *ph;
    uint64_t interp_off = 0, interp_size = 0, dyn_vaddr = 0, dyn_filesz = 0;
    int has_interp = 0;
    uint32_t i;
    if (!e->phnum) return 0;
    if (e->phentsize != ent) {
        defect(r, EC_ELF_PHENTSIZE);
        return -1;
    }
    if (e->phnum > MAX_PHNUM) {
        defect(r, EC_ELF_TOO_MANY);
        return -1;
    }
    ph = ec_arena_alloc(r->a, (size_t)e->phnum * ent);
    e->loads = ec_arena_alloc(r->a, (size_t)e->phnum * sizeof *e->loads);
    if (!ph || !e->loads) {
        defect(r, EC_ELF_NOMEM);
        return -1;
    }
    if (read_at(r, ph, (uint64_t)e->phnum * ent, e->phoff, EC_ELF_PHDR_RANGE) < 0) return -1;
    for (i = 0; i < e->phnum; i++) {
        const unsigned char *p = ph + (size_t)i * ent;
        uint32_t type = get32(r, p), flags;
        uint64_t offset, vaddr, filesz, memsz, align;
        if (e->elfclass == 2) {
            flags = get32(r, p + 4);
            offset = get64(r, p + 8);
            vaddr = get64(r, p + 16);
            filesz = get64(r, p + 32);
            memsz = get64(r, p + 40);
            align = get64(r, p + 48);
        } else {
            offset = get32(r, p + 4);
            vaddr = get32(r, p + 8);
            filesz = get32(r, p + 16);
            memsz = get32(r, p + 20);
            flags = get32(r, p + 24);
            align = get32(r, p + 28);
        }
        switch (type) {
        case 1: { /* PT_LOAD */
            struct ec_elf_load *l = &e->loads[e->nload++];
            l->vaddr = vaddr, l->offset = offset, l->filesz = filesz, l->memsz = memsz, l->align = align;
            l->flags = flags;
            if ((vaddr - offset) & 4095) e->load_misaligned = 1;
            /* file bytes past the end of the file are not there to be read */
            if (offset > r->size) l->filesz = 0;
            else if (filesz > r->size - offset) l->filesz = r->size - offset;
            break;
        }
        case 2: /* PT_DYNAMIC */
            e->has_dynamic = 1;
            e->dynamic_empty = filesz == 0;
            dyn_vaddr = vaddr, dyn_filesz = filesz;
            break;
        case 3: /* PT_INTERP */
            has_interp = 1;
            interp_off = offset, interp_size = filesz;
            break;
        case 0x6474e551: /* PT_GNU_STACK */
            e->has_stack = 1;
            e->stack_flags = flags;
            break;
        case 0x6474e552: /* PT_GNU_RELRO */
            e->has_relro = 1;
            break;
        }
    }
    if (has_interp) {
        /* the kernel reads PT_INTERP by file offset; it must end in a NUL within p_filesz */
        if (interp_size < 2 || interp_size > MAX_STRING || interp_off > r->size || interp_size > r->size - interp_off) {
            defect(r, EC_ELF_INTERP_RANGE);
        } else {
            char *s = ec_arena_alloc(r->a, (size_t)interp_size + 1);
            if (!s) {
                defect(r, EC_ELF_NOMEM);
                return -1;
            }
            if (read_at(r, s, interp_size, interp_off, EC_ELF_INTERP_RANGE) == 0) {
                if (s[interp_size - 1] != 0) defect(r, EC_ELF_INTERP_RANGE);
                else e->interp = s;
            }
        }
    }
    if (e->has_dynamic && !e->dynamic_empty) {
        /* ld.so finds the dynamic section at its address in the mapped segments */
        uint32_t k;
        for (k = 0; k < e->nload; k++) {
            const struct ec_elf_load *l = &e->loads[k];
            if (dyn_vaddr >= l->vaddr && dyn_vaddr - l->vaddr < l->filesz) {
                dyn->off = l->offset + (dyn_vaddr - l->vaddr);
                dyn->size = l->filesz - (dyn_vaddr - l->vaddr);
                if (dyn_filesz < dyn->size) dyn->size = dyn_filesz;
                dyn->found = 1;
                break;
            }
        }
        if (!dyn->found) defect(r, EC_ELF_DYNAMIC_RANGE);
    }
    return 0;
}

/* Makes room for element n of a growing array (initial room 8, then x4, never past max
 * elements). 0, or -1 with the defect set. */
static int room(struct rd *r, void **arr, uint32_t n, uint32_t *cap, size_t elem, uint32_t max)
{
    void *bigger;
    uint32_t want;
    if (*arr && n < *cap) return 0;
    if (n >= max) {
        defect(r, EC_ELF_TOO_MANY);
        return -1;
    }
    want = *cap ? *cap * 4 : 8;
    if (want > max) want = max;
    bigger = ec_arena_alloc(r->a, elem * want);
    if (!bigger) {
        defect(r, EC_ELF_NOMEM);
        return -1;
    }
    if (*arr) ec_memcpy(bigger, *arr, elem * *cap);
    *arr = bigger;
    *cap = want;
    return 0;
}

/* Verneed records, followed by vn_next (and their auxiliaries by vna_next) until 0, as ld.so
 * does: the counts DT_VERNEEDNUM and vn_cnt are not what it trusts. */
static void read_verneed(struct rd *r, uint64_t addr, uint64_t strtab, int have_strtab)
{
    struct ec_elf *e = r->e;
    uint32_t cap = 0, total_aux = 0;
    int ok;
    uint64_t off = vaddr_to_off(e, addr, 16, &ok);
    if (!ok) {
        defect(r, EC_ELF_VERSION_RANGE);
        return;
    }
    for (;;) {
        const unsigned char *p = peek(r, off, 16, EC_ELF_VERSION_RANGE, 0);
        struct ec_elf_verneed *v;
        uint32_t acap = 0, vn_next, file;
        uint64_t aoff;
        if (!p || room(r, (void **)&e->verneed, e->nverneed, &cap, sizeof *v, MAX_VERNEED)) break;
        v = &e->verneed[e->nverneed++];
        /* every field first: reading a string moves the window p points into */
        v->version = get16(r, p);
        file = get32(r, p + 4);
        aoff = off + get32(r, p + 8);
        vn_next = get32(r, p + 12);
        v->file = dynstr(r, strtab, have_strtab, file);
        for (;;) {
            const unsigned char *q = peek(r, aoff, 16, EC_ELF_VERSION_RANGE, 0);
            struct ec_elf_vernaux *x;
            uint32_t next, name;
            if (!q || ++total_aux > MAX_VERAUX || room(r, (void **)&v->aux, v->naux, &acap, sizeof *x, MAX_VERAUX)) {
                if (total_aux > MAX_VERAUX) defect(r, EC_ELF_TOO_MANY);
                break;
            }
            x = &v->aux[v->naux++];
            x->hash = get32(r, q);
            x->flags = get16(r, q + 4);
            x->other = get16(r, q + 6);
            name = get32(r, q + 8);
            next = get32(r, q + 12);
            x->name = dynstr(r, strtab, have_strtab, name);
            if (!next) break;
            aoff += next;
        }
        if (!vn_next || e->defect == EC_ELF_NOMEM || e->defect == EC_ELF_TOO_MANY) break;
        off += vn_next;
    }
}

/* Verdef records by vd_next until 0; each one's first Verdaux names the version. */
static void read_verdef(struct rd *r, uint64_t addr, uint64_t strtab, int have_strtab)
{
    struct ec_elf *e = r->e;
    uint32_t cap = 0;
    int ok;
    uint64_t off = vaddr_to_off(e, addr, 20, &ok);
    if (!ok) {
        defect(r, EC_ELF_VERSION_RANGE);
        return;
    }
    for (;;) {
        const unsigned char *p = peek(r, off, 20, EC_ELF_VERSION_RANGE, 0), *q;
        struct ec_elf_verdef *d;
        uint32_t vd_aux, vd_next;
        if (!p || room(r, (void **)&e->verdef, e->nverdef, &cap, sizeof *d, MAX_VERDEF)) break;
        d = &e->verdef[e->nverdef++];
        d->version = get16(r, p);
        d->flags = get16(r, p + 2);
        d->ndx = get16(r, p + 4);
        d->hash = get32(r, p + 8);
        vd_aux = get32(r, p + 12);
        vd_next = get32(r, p + 16);
        q = peek(r, off + vd_aux, 8, EC_ELF_VERSION_RANGE, 0);
        if (q) d->name = dynstr(r, strtab, have_strtab, get32(r, q));
        if (!vd_next || e->defect == EC_ELF_NOMEM || e->defect == EC_ELF_TOO_MANY) break;
        off += vd_next;
    }
}

static void read_dynamic(struct rd *r, const struct dyninfo *dyn)
{
    struct ec_elf *e = r->e;
    unsigned ent = e->elfclass == 2 ? 16u : 8u;
    uint64_t n = dyn->size / ent, i, strtab = 0, verneed = 0, verdef = 0;
    uint64_t soname = 0, rpath = 0, runpath = 0;
    int have_strtab = 0, have_soname = 0, have_rpath = 0, have_runpath = 0, terminated = 0;
    unsigned char *d;
    uint32_t ndeps = 0;
    if (n > MAX_DYN) n = MAX_DYN;
    d = ec_arena_alloc(r->a, (size_t)(n * ent));
    if (!d) {
        defect(r, EC_ELF_NOMEM);
        return;
    }
    if (n && read_at(r, d, n * ent, dyn->off, EC_ELF_DYNAMIC_RANGE) < 0) return;
    /* first pass: the scalar tags (the last of each counts, as in ld.so's l_info) */
    for (i = 0; i < n; i++) {
        const unsigned char *p = d + i * ent;
        int64_t tag = (int64_t)(e->elfclass == 2 ? get64(r, p) : (uint64_t)(int64_t)(int32_t)get32(r, p));
        uint64_t val = getw(r, p + ent / 2);
        if (tag == EC_DT_NULL) {
            terminated = 1;
            break;
        }
        switch (tag) {
        case EC_DT_NEEDED: case EC_DT_FILTER: case EC_DT_AUXILIARY: ndeps++; break;
        case EC_DT_STRTAB: strtab = val, have_strtab = 1; break;
        case EC_DT_SONAME: soname = val, have_soname = 1; break;
        case EC_DT_RPATH: rpath = val, have_rpath = 1; break;
        case EC_DT_RUNPATH: runpath = val, have_runpath = 1; break;
        case EC_DT_FLAGS: e->flags = val; break;
        case EC_DT_FLAGS_1: e->flags_1 = val; break;
        case EC_DT_RELR: e->has_relr = 1; break;
        case EC_DT_TEXTREL: e->has_textrel = 1; break;
        case EC_DT_BIND_NOW: e->has_bind_now = 1; break;
        case EC_DT_VERNEED: verneed = val, e->has_verneed = 1; break;
        case EC_DT_VERDEF: verdef = val, e->has_verdef = 1; break;
        }
    }
    e->ndyn = (uint32_t)i;
    if (!terminated) defect(r, n == MAX_DYN ? EC_ELF_TOO_MANY : EC_ELF_DYNAMIC_NO_NULL);
    if (e->flags & EC_DF_TEXTREL) e->has_textrel = 1;
    if ((e->flags & EC_DF_BIND_NOW) || (e->flags_1 & EC_DF_1_NOW)) e->has_bind_now = 1;
    if (have_soname) e->soname = dynstr(r, strtab, have_strtab, soname);
    if (have_rpath) e->rpath = dynstr(r, strtab, have_strtab, rpath);
    if (have_runpath) e->runpath = dynstr(r, strtab, have_strtab, runpath);
    if (ndeps > MAX_DEPS) {
        defect(r, EC_ELF_TOO_MANY);
        ndeps = MAX_DEPS;
    }
    if (ndeps) {
        e->deps = ec_arena_alloc(r->a, sizeof *e->deps * ndeps);
        if (!e->deps) {
            defect(r, EC_ELF_NOMEM);
            return;
        }
        for (i = 0; i < e->ndyn && e->ndeps < ndeps; i++) {
            const unsigned char *p = d + i * ent;
            int64_t tag = (int64_t)(e->elfclass == 2 ? get64(r, p) : (uint64_t)(int64_t)(int32_t)get32(r, p));
            if (tag == EC_DT_NEEDED || tag == EC_DT_FILTER || tag == EC_DT_AUXILIARY) {
                const char *name = dynstr(r, strtab, have_strtab, getw(r, p + ent / 2));
                struct ec_elf_dep *dep;
                if (!name && r->copied > STRING_BUDGET(r)) break; /* past the budget: no more entries, as past MAX_DEPS */
                dep = &e->deps[e->ndeps++];
                dep->tag = tag;
                dep->name = name ? name : "";
                if (tag == EC_DT_NEEDED) e->nneeded++;
            }
        }
    }
    if (e->has_verneed) read_verneed(r, verneed, strtab, have_strtab);
    if (e->has_verdef) read_verdef(r, verdef, strtab, have_strtab);
}

int ec_elf_read(int fd, uint64_t size, struct ec_arena *a, struct ec_elf *out)
{
    /* the two 2 KiB windows are scratch (left uncleared: an empty window has length 0), neither
     * on the stack (the dlopen guard reads ELF files under a program's dlopen(), on its stack)
     * nor in the arena, which keeps only what the reading found */
    struct rd rd, *r = &rd;
    struct dyninfo dyn = {0, 0, 0};
    struct ec_scratch s;
    ec_memset(out, 0, sizeof *out);
    out->size = size;
    if (!(r->win = ec_scratch_take(&s, 2 * WINDOW))) {
        out->defect = EC_ELF_NOMEM;
        return out->defect;
    }
    r->fd = fd, r->size = size, r->msb = 0, r->a = a, r->e = out;
    r->win_off[0] = r->win_off[1] = 0;
    r->win_len[0] = r->win_len[1] = 0;
    r->recent = 0;
    r->copied = 0;
    if (read_ehdr(r) == 0 && read_phdrs(r, &dyn) == 0 && dyn.found) read_dynamic(r, &dyn);
    ec_scratch_give(&s);
    return out->defect;
}

int ec_elf_read_path(const char *path, struct ec_arena *a, struct ec_elf *out)
{
    struct ec_statx st;
    int fd = ec_openat(EC_AT_FDCWD, path, EC_O_RDONLY | EC_O_CLOEXEC | EC_O_NONBLOCK | EC_O_NOCTTY, 0), r;
    if (fd < 0) return fd;
    r = ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st);
    if (r < 0 || (st.stx_mode & EC_S_IFMT) != EC_S_IFREG) {
        ec_close(fd);
        return r < 0 ? r : -EC_EINVAL;
    }
    r = ec_elf_read(fd, st.stx_size, a, out);
    ec_close(fd);
    return r;
}

const char *ec_elf_defect_text(int d)
{
    static const char *const text[EC_ELF_DEFECT_COUNT] = {
        "ok",
        "read error",
        "file too short",
        "not an ELF file",
        "invalid ELF class",
        "invalid ELF data encoding",
        "program header size not as expected",
        "program headers outside the file",
        "more entries than the reader accepts",
        "PT_INTERP outside the file or not terminated",
        "dynamic section not backed by the file",
        "dynamic section not terminated",
        "string outside the file or not terminated",
        "symbol version records outside the file or not terminated",
        "out of memory",
    };
    return d >= 0 && d < EC_ELF_DEFECT_COUNT ? text[d] : "unknown";
}

uint32_t ec_elf_hash(const char *name)
{
    uint32_t h = 0, g;
    const unsigned char *p = (const unsigned char *)name;
    while (*p) {
        h = (h << 4) + *p++;
        g = h & 0xf0000000u;
        if (g) h ^= g >> 24;
        h &= ~g;
    }
    return h;
}

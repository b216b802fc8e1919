/* Builds an ELF file from fuzz bytes: a well-formed frame (header, PT_LOAD over the file,
 * PT_DYNAMIC, PT_INTERP) around fuzzed dynamic entries, a fuzzed string table and fuzzed version
 * records, so that mutations reach the dynamic section and what it names. */
#ifndef EXECCHECK_FUZZ_ELFGEN_H
#define EXECCHECK_FUZZ_ELFGEN_H
#include <stdint.h>
#include <string.h>

#define G_DYN 0x300
#define G_STR 0x600
#define G_VER 0x900
#define G_END 0xc00

struct gen { unsigned char f[G_END]; int c64, msb; uint64_t base; };

static void g_put(struct gen *g, size_t off, uint64_t v, int n)
{
    int i;
    for (i = 0; i < n; i++) g->f[off + (g->msb ? n - 1 - i : i)] = (unsigned char)(v >> (8 * i));
}
static void g_word(struct gen *g, size_t off, uint64_t v) { g_put(g, off, v, g->c64 ? 8 : 4); }

/* Consumes the input; returns the file size (G_END), the file in g->f. */
static size_t elfgen(struct gen *g, const uint8_t *d, size_t n, int exec)
{
    static const int64_t tags[] = {1, 1, 1, 1, 14, 15, 29, 0x7fffffff, 0x7ffffffd, 5, 30, 0x6ffffffb,
                                   0x6ffffffe, 0x6ffffffc, 36, 0, 22, 24, 10};
    size_t ehs, phs, i, k, ndyn, nstr, nver;
    uint8_t flags = n ? d[0] : 0;
    memset(g, 0, sizeof *g);
    g->c64 = !(flags & 1);
    g->msb = (flags & 0x80) != 0;
    g->base = exec ? 0x400000 : 0;
    ehs = g->c64 ? 64 : 52, phs = g->c64 ? 56 : 32;
    memcpy(g->f, "\177ELF", 4);
    g->f[4] = g->c64 ? 2 : 1, g->f[5] = g->msb ? 2 : 1, g->f[6] = 1;
    g_put(g, 16, exec ? 2 : 3, 2);
    g_put(g, 18, g->c64 ? 62 : 3, 2);
    g_put(g, 20, 1, 4);
    if (g->c64) {
        g_put(g, 32, ehs, 8);
        g_put(g, 52, ehs, 2), g_put(g, 54, phs, 2), g_put(g, 56, 4, 2);
    } else {
        g_put(g, 28, ehs, 4);
        g_put(g, 40, ehs, 2), g_put(g, 42, phs, 2), g_put(g, 44, 4, 2);
    }
    for (i = 0; i < 4; i++) {
        size_t p = ehs + i * phs;
        uint32_t type = i == 0 ? 1 : i == 1 ? 2 : i == 2 ? 3 : 0x6474e551;
        uint64_t off = i == 0 ? 0 : i == 1 ? G_DYN : i == 2 ? 0x200 : 0;
        uint64_t sz = i == 0 ? G_END : i == 1 ? G_STR - G_DYN : i == 2 ? 28 : 0;
        g_put(g, p, type, 4);
        if (g->c64) {
            g_put(g, p + 4, 6, 4);
            g_put(g, p + 8, off, 8), g_put(g, p + 16, g->base + off, 8), g_put(g, p + 24, g->base + off, 8);
            g_put(g, p + 32, sz, 8), g_put(g, p + 40, sz, 8), g_put(g, p + 48, 0x1000, 8);
        } else {
            g_put(g, p + 4, off, 4), g_put(g, p + 8, g->base + off, 4), g_put(g, p + 12, g->base + off, 4);
            g_put(g, p + 16, sz, 4), g_put(g, p + 20, sz, 4), g_put(g, p + 24, 6, 4), g_put(g, p + 28, 0x1000, 4);
        }
    }
    memcpy(g->f + 0x200, g->c64 ? "/lib64/ld-linux-x86-64.so.2" : "/lib/ld-linux.so.2", g->c64 ? 28 : 19);
    /* input: flags, ndyn, then ndyn*3 bytes of entries, then nstr, string bytes, then version bytes */
    d++, n = n ? n - 1 : 0;
    ndyn = n ? d[0] % 40 : 0;
    d++, n = n ? n - 1 : 0;
    k = G_DYN;
    {
        size_t ent = g->c64 ? 16 : 8, maxent = (G_STR - G_DYN) / ent - 2;
        int have_strtab = 0;
        for (i = 0; i < ndyn && i < maxent && n >= 3; i++, d += 3, n -= 3) {
            int64_t tag = tags[d[0] % (sizeof tags / sizeof tags[0])];
            uint64_t v = d[1] | (uint64_t)d[2] << 8;
            if (d[0] >= 0xf0) tag = (int64_t)(int8_t)d[1] * 0x1000001, v = d[2] * 0x10101ull; /* raw */
            else if (tag == 5) v = (d[1] & 0x80) ? g->base + G_STR + v : g->base + G_STR, have_strtab = 1;
            else if (tag == 0x6ffffffe || tag == 0x6ffffffc) v = g->base + G_VER + (v % 0x300);
            else if (tag == 1 || tag == 14 || tag == 15 || tag == 29 || tag == 0x7fffffff || tag == 0x7ffffffd)
                v %= 0x300 + (d[2] & 0x80 ? 0x10000 : 0);
            else if (tag == 0x6ffffffb) v = (uint64_t)d[1] << (d[2] % 32);
            g_word(g, k, (uint64_t)tag), g_word(g, k + ent / 2, v);
            k += ent;
        }
        if (!have_strtab && !(flags & 2)) g_word(g, k, 5), g_word(g, k + ent / 2, g->base + G_STR), k += ent;
        if (!(flags & 4)) g_word(g, k, 0), k += ent; /* else: no DT_NULL of ours */
    }
    nstr = n ? d[0] : 0;
    d++, n = n ? n - 1 : 0;
    nstr = nstr * 3 > n ? n : nstr * 3;
    if (nstr > 0x300) nstr = 0x300;
    memcpy(g->f + G_STR, d, nstr);
    d += nstr, n -= nstr;
    nver = n > 0x300 ? 0x300 : n;
    memcpy(g->f + G_VER, d, nver);
    if (flags & 8) { /* a string table with no final NUL */
        memset(g->f + G_STR + nstr, 'A', 0x300 - nstr);
        memset(g->f + G_VER + nver, 'B', 0x300 - nver);
    }
    return G_END;
}
#endif

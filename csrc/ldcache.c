/* ld.so.cache reader and lookup (see ldcache.h). */
#include "ldcache.h"
#include "text.h"

#define MAGIC_OLD "ld.so-1.7.0"        /* 11 bytes; header = magic[11] + nlibs at 12: 16 bytes */
#define MAGIC_NEW "glibc-ld.so.cache1.1" /* 20 bytes; header 48 bytes */
#define OLD_HDR 16u
#define OLD_ENT 12u
#define NEW_HDR 48u
#define NEW_ENT 24u
#define EXT_MAGIC 0xeaa42174u
#define EXT_TAG_GENERATOR 0
#define EXT_TAG_HWCAPS 1
#define HWCAP_EXTENSION (1ull << 62)
#define ISA_LEVEL_MASK 0x3ffu

static uint32_t rd32(const unsigned char *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static uint64_t rd64(const unsigned char *p) { return rd32(p) | (uint64_t)rd32(p + 4) << 32; }

/* A string of the table at index idx, NUL-terminated inside the buffer, or NULL. */
static const char *str_at(const struct ec_ldcache *c, uint32_t idx)
{
    size_t i;
    if (idx >= c->strings_size) return 0;
    for (i = c->strings + idx; i < c->size; i++)
        if (!c->data[i]) return (const char *)c->data + c->strings + idx;
    return 0;
}

/* flags & 3 of the new header: 0 unknown (accepted), 1 invalid, 2 little endian, 3 big endian.
 * This reader models a little-endian loader. */
static int new_endian_ok(const unsigned char *hdr)
{
    int f = hdr[28] & 3;
    return f == 0 || f == 2;
}

/* A NUL-terminated string at file offset off, or NULL */
static const char *file_str(const struct ec_ldcache *c, uint32_t off)
{
    size_t i;
    if (off >= c->size) return 0;
    for (i = off; i < c->size; i++)
        if (!c->data[i]) return (const char *)c->data + off;
    return 0;
}

/* The extension directory (cache_extension_load): offsets are from the start of the file; a
 * section out of the file voids the whole extension; a malformed hwcaps section is dropped. */
static void read_extension(struct ec_ldcache *c, size_t new_at)
{
    uint64_t ext = rd32(c->data + new_at + 32), count, i;
    uint64_t hw_off = 0, hw_size = 0, gen_off = 0, gen_size = 0;
    int have_hw = 0, have_gen = 0;
    if (!ext) return;
    if (ext % 4 || ext + 8 > c->size || rd32(c->data + ext) != EXT_MAGIC) return;
    count = rd32(c->data + ext + 4);
    if (ext + 8 + count * 16 > c->size) return;
    for (i = 0; i < count; i++) {
        const unsigned char *s = c->data + ext + 8 + i * 16;
        uint64_t tag = rd32(s), off = rd32(s + 8), size = rd32(s + 12);
        if (off + size > c->size) return;
        if (tag == EXT_TAG_GENERATOR) have_gen = 1, gen_off = off, gen_size = size; /* a later one wins */
        else if (tag == EXT_TAG_HWCAPS) have_hw = 1, hw_off = off, hw_size = size;
    }
    if (have_gen) {
        uint64_t k;
        for (k = 0; k < gen_size; k++)
            if (!c->data[gen_off + k]) {
                c->generator = (const char *)c->data + gen_off;
                break;
            }
    }
    if (have_hw && hw_size && hw_off % 4 == 0 && hw_size % 4 == 0) {
        uint32_t n = (uint32_t)(hw_size / 4);
        if (n > EC_LDCACHE_MAX_HWCAPS) n = EC_LDCACHE_MAX_HWCAPS;
        for (i = 0; i < n; i++) {
            c->hwcaps_index[i] = rd32(c->data + hw_off + 4 * i);
            c->hwcaps[i] = file_str(c, c->hwcaps_index[i]);
        }
        c->nhwcaps = n;
    }
}

int ec_ldcache_parse(struct ec_ldcache *c, const void *data, size_t size)
{
    const unsigned char *d = data;
    ec_memset(c, 0, sizeof *c);
    c->data = d;
    c->size = size;
    if (size > NEW_HDR && !ec_memcmp(d, MAGIC_NEW, 20) && (size - NEW_HDR) / NEW_ENT >= rd32(d + 20)) {
        if (!new_endian_ok(d)) return c->format = EC_LDCACHE_NONE;
        c->format = EC_LDCACHE_NEW;
        c->nlibs = rd32(d + 20);
        c->entries = NEW_HDR;
        c->entry_size = NEW_ENT;
        c->strings = 0;
        c->strings_size = size;
        read_extension(c, 0);
        return c->format;
    }
    if (size > OLD_HDR && !ec_memcmp(d, MAGIC_OLD, 11) && (size - OLD_HDR) / OLD_ENT >= rd32(d + 12)) {
        uint32_t n = rd32(d + 12);
        size_t at = ((size_t)OLD_HDR + (size_t)n * OLD_ENT + 7) & ~(size_t)7;
        if (size >= at + NEW_HDR && !ec_memcmp(d + at, MAGIC_NEW, 20)) {
            if (!new_endian_ok(d + at)) return c->format = EC_LDCACHE_NONE;
            /* ld.so trusts the new part's count here; a reader that must stay in bounds checks it,
             * and falls back to the old part when it does not fit */
            if ((size - at - NEW_HDR) / NEW_ENT >= rd32(d + at + 20)) {
                c->format = EC_LDCACHE_NEW;
                c->nlibs = rd32(d + at + 20);
                c->entries = at + NEW_HDR;
                c->entry_size = NEW_ENT;
                c->strings = at;
                c->strings_size = size - at;
                read_extension(c, at);
                return c->format;
            }
        }
        c->format = EC_LDCACHE_OLD;
        c->nlibs = n;
        c->entries = OLD_HDR;
        c->entry_size = OLD_ENT;
        c->strings = OLD_HDR + (size_t)n * OLD_ENT;
        c->strings_size = size - c->strings;
        return c->format;
    }
    return c->format = EC_LDCACHE_NONE;
}

int ec_ldcache_libcmp(const char *a, const char *b)
{
    /* glibc's char is signed on the loaders modelled here: bytes >= 0x80 compare below ASCII, and
     * the cache is sorted that way by ldconfig */
    const signed char *p1 = (const signed char *)a, *p2 = (const signed char *)b;
    while (*p1) {
        if (*p1 >= '0' && *p1 <= '9') {
            if (*p2 >= '0' && *p2 <= '9') {
                /* unsigned arithmetic: the same wrap-around as glibc's int, without undefined behaviour */
                uint32_t v1 = (uint32_t)(*p1++ - '0'), v2 = (uint32_t)(*p2++ - '0');
                while (*p1 >= '0' && *p1 <= '9') v1 = v1 * 10 + (uint32_t)(*p1++ - '0');
                while (*p2 >= '0' && *p2 <= '9') v2 = v2 * 10 + (uint32_t)(*p2++ - '0');
                if (v1 != v2) return (int32_t)(v1 - v2) < 0 ? -1 : 1;
            } else {
                return 1;
            }
        } else if (*p2 >= '0' && *p2 <= '9') {
            return -1;
        } else if (*p1 != *p2) {
            return *p1 - *p2;
        } else {
            ++p1, ++p2;
        }
    }
    return *p1 - *p2;
}

static const unsigned char *entry(const struct ec_ldcache *c, uint32_t i)
{
    return c->data + c->entries + (size_t)i * c->entry_size;
}

/* glibc compares against keys that are NUL-terminated in its mapping; a key that is not counts as
 * a mismatch here (2: "no key"), so the walk stops as at a different name. */
static int key_cmp(const struct ec_ldcache *c, const char *name, uint32_t key, int *bad)
{
    const char *k = str_at(c, key);
    if (!k) {
        *bad = 1;
        return 0;
    }
    *bad = 0;
    return ec_ldcache_libcmp(name, k);
}

/* ld.so's name order for the merge: memcmp over the shorter length, then the shorter first */
static int name_cmp(const char *a, const char *b)
{
    size_t la = ec_strlen(a), lb = ec_strlen(b), n = la < lb ? la : lb;
    int r = ec_memcmp(a, b, n);
    if (r) return r;
    return la < lb ? -1 : la > lb ? 1 : 0;
}

/* glibc_hwcaps_priorities_init: the cache's names (meant to be sorted) merged with the loader's
 * active subdirectories sorted by name; each cache index gets the priority of its match (1 =
 * best), 0 when it has none. A name offset past the end of the file gets 0 (where ld.so would
 * loop without end). */
static void hwcaps_priorities(const struct ec_ldcache *c, const struct ec_ldcache_params *p, uint32_t *prio)
{
    const char *names[8];
    uint32_t rprio[8];
    int nr = 0, i, j, right = 0;
    uint32_t left = 0;
    for (i = 0; i < p->nhwcaps_active && nr < 8; i++, nr++) { /* insertion sort by name */
        for (j = nr; j > 0 && name_cmp(p->hwcaps_active[i], names[j - 1]) < 0; j--)
            names[j] = names[j - 1], rprio[j] = rprio[j - 1];
        names[j] = p->hwcaps_active[i];
        rprio[j] = (uint32_t)i + 1;
    }
    for (left = 0; left < c->nhwcaps; left++) prio[left] = 0;
    left = 0;
    while (left < c->nhwcaps && right < nr) {
        int cmp;
        if (!c->hwcaps[left]) {
            prio[left++] = 0;
            continue;
        }
        cmp = name_cmp(c->hwcaps[left], names[right]);
        if (cmp == 0) prio[left++] = rprio[right++];
        else if (cmp < 0) prio[left++] = 0;
        else right++;
    }
}

const char *ec_ldcache_lookup(const struct ec_ldcache *c, const struct ec_ldcache_params *p, const char *name)
{
    int left = 0, right = (int)c->nlibs - 1, bad;
    uint32_t prio[EC_LDCACHE_MAX_HWCAPS];
    uint64_t platform = p->platform_bit >= 0 ? 1ull << p->platform_bit : ~0ull;
    uint64_t exclude = ~(p->hwcap | p->platform_mask | (1ull << 63));
    const char *best = 0;
    uint32_t best_priority = 0;
    if (c->format == EC_LDCACHE_NONE || c->nlibs > 0x7fffffffu) return 0;
    hwcaps_priorities(c, p, prio);
    while (left <= right) {
        int middle = left + (right - left) / 2, cmp;
        cmp = key_cmp(c, name, rd32(entry(c, (uint32_t)middle) + 4), &bad);
        if (bad) return 0;
        if (cmp == 0) {
            left = middle;
            /* back to the first entry with this name */
            while (middle > 0) {
                int b2, k = key_cmp(c, name, rd32(entry(c, (uint32_t)middle - 1) + 4), &b2);
                if (b2 || k != 0) break;
                --middle;
            }
            do {
                const unsigned char *e = entry(c, (uint32_t)middle);
                int32_t flags = (int32_t)rd32(e);
                uint32_t value = rd32(e + 8);
                const char *path;
                if (middle > left) {
                    int b2, k = key_cmp(c, name, rd32(e + 4), &b2);
                    if (b2 || k != 0) break;
                }
                if (!(flags == 1 || flags == p->flags)) continue;
                path = str_at(c, value);
                if (!path) continue;
                if (c->entry_size == NEW_ENT) {
                    uint64_t hwcap = rd64(e + 16);
                    int named = ((hwcap >> 32) & ~(uint64_t)ISA_LEVEL_MASK) == (HWCAP_EXTENSION >> 32);
                    if (named) {
                        uint32_t level = (uint32_t)(hwcap >> 32) & ISA_LEVEL_MASK;
                        uint32_t bit = 1u << (level & 31); /* x86 shifts count modulo 32 */
                        if ((bit & p->isa_levels) != bit) continue;
                    }
                    if (!named && best) break; /* named entries sort first: the best of them wins */
                    if (!named && (hwcap & exclude)) continue;
                    /* osversion: 2.36 on Linux no longer sets dl_osversion, the test never applies */
                    if ((hwcap & p->platform_mask) && (hwcap & p->platform_mask) != platform) continue;
                    if (named) {
                        uint32_t idx = (uint32_t)hwcap, pr = idx < c->nhwcaps ? prio[idx] : 0;
                        if (!pr) continue;
                        if (best && pr >= best_priority) continue;
                        best_priority = pr;
                    }
                }
                best = path;
                /* a plain entry with the loader's own flags ends the walk; one flagged 1 may be bettered */
                if (!(c->entry_size == NEW_ENT && ((rd64(e + 16) >> 32) & ~(uint64_t)ISA_LEVEL_MASK) ==
                                                      (HWCAP_EXTENSION >> 32)) &&
                    flags == p->flags)
                    break;
            } while (++middle <= right);
            break;
        }
        if (cmp < 0) left = middle + 1;
        else right = middle - 1;
    }
    return best;
}

int ec_ldcache_entry(const struct ec_ldcache *c, uint32_t i, struct ec_ldcache_entry *out)
{
    const unsigned char *e;
    ec_memset(out, 0, sizeof *out);
    if (c->format == EC_LDCACHE_NONE || i >= c->nlibs) return -1;
    e = entry(c, i);
    out->flags = (int32_t)rd32(e);
    out->key = str_at(c, rd32(e + 4));
    out->value = str_at(c, rd32(e + 8));
    if (c->entry_size == NEW_ENT) {
        out->osversion = rd32(e + 12);
        out->hwcap = rd64(e + 16);
        if (((out->hwcap >> 32) & ~(uint64_t)ISA_LEVEL_MASK) == (HWCAP_EXTENSION >> 32) &&
            (uint32_t)out->hwcap < c->nhwcaps)
            out->hwcaps_subdir = c->hwcaps[(uint32_t)out->hwcap];
    }
    return 0;
}

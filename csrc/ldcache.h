/* /etc/ld.so.cache as glibc 2.36's ld.so reads it (elf/dl-cache.c, sysdeps/generic/dl-cache.h).
 *
 * The new format ("glibc-ld.so.cache1.1", 24-byte entries, string offsets from the start of the
 * new header, a glibc-hwcaps extension) and the old one ("ld.so-1.7.0", 12-byte entries), alone or
 * with the new format following. The lookup is ld.so's: binary search under its digit-aware
 * comparison, then the walk over equal keys with the flags, hwcaps, ISA-level and platform
 * tests. Every offset is checked against the buffer, so a corrupt cache is never read outside. */
#ifndef EXECCHECK_LDCACHE_H
#define EXECCHECK_LDCACHE_H

#include <stddef.h>
#include <stdint.h>

#define EC_LDCACHE_MAX_HWCAPS 64

enum ec_ldcache_format {
    EC_LDCACHE_NONE = 0,  /* unusable: ld.so ignores it (bad magic, truncated, wrong endianness) */
    EC_LDCACHE_OLD,       /* old format only */
    EC_LDCACHE_NEW,       /* new format (possibly behind an old-format part) */
};

struct ec_ldcache {
    const unsigned char *data;
    size_t size;
    int format;           /* enum ec_ldcache_format */
    uint32_t nlibs;
    size_t entries;       /* offset of the first entry */
    size_t entry_size;    /* 12 (old) or 24 (new) */
    size_t strings;       /* offset the string indices count from */
    size_t strings_size;  /* bytes from there to the end of the file */
    uint32_t nhwcaps;     /* glibc-hwcaps subdirectory names in the extension (at most EC_LDCACHE_MAX_HWCAPS) */
    const char *hwcaps[EC_LDCACHE_MAX_HWCAPS]; /* as ld.so reads them: offsets from the start of the file
                                                  (NULL when such an offset names no string) */
    uint32_t hwcaps_index[EC_LDCACHE_MAX_HWCAPS]; /* the raw offsets */
    const char *generator; /* the extension's generator string, or NULL */
};

/* What the lookup needs of the loader it models (glibc 2.36, x86_64 values in brackets). */
struct ec_ldcache_params {
    int32_t flags;          /* the entry flags this loader accepts besides 1 [0x0303] */
    uint64_t hwcap;         /* dl_hwcap & hwcap_mask [HWCAP_X86_64 (2), | AVX512_1 (4) on such Intel CPUs] */
    uint64_t platform_mask; /* _DL_HWCAP_PLATFORM [3 << 48] */
    int platform_bit;       /* bit of dl_platform among the platform bits, -1 if it has none ["haswell" 48] */
    uint32_t isa_levels;    /* supported ISA levels: bit 0 baseline, 1 v2, 2 v3, 3 v4 */
    const char *const *hwcaps_active; /* glibc-hwcaps subdirs in priority order ("x86-64-v4"...) */
    int nhwcaps_active;
};

struct ec_ldcache_entry {
    int32_t flags;
    const char *key;      /* may be NULL when the offset is bad */
    const char *value;
    uint32_t osversion;
    uint64_t hwcap;
    const char *hwcaps_subdir; /* for glibc-hwcaps entries: the subdirectory name, else NULL */
};

/* Checks the buffer as ld.so does before using it. Returns the format (EC_LDCACHE_NONE if unusable). */
int ec_ldcache_parse(struct ec_ldcache *c, const void *data, size_t size);

/* The path ld.so would take from the cache for `name`, or NULL. */
const char *ec_ldcache_lookup(const struct ec_ldcache *c, const struct ec_ldcache_params *p, const char *name);

/* Entry i in file order (0 <= i < nlibs); returns 0 or -1 out of range. */
int ec_ldcache_entry(const struct ec_ldcache *c, uint32_t i, struct ec_ldcache_entry *out);

/* glibc's _dl_cache_libcmp: digits runs compare as numbers. */
int ec_ldcache_libcmp(const char *a, const char *b);

#endif

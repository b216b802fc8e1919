/* The loader's built-in directories, read from its own bytes (ldsysdirs.h). */
#include "ldsysdirs.h"
#include "text.h"

#define _GNU_SOURCE /* ElfW */
#include <link.h>
#include <stdint.h>

#define ENTRY_MAX 255
#define LIST_MAX 8

/* Does any of the 8 bytes at p equal '/'? (Word at a time: x86_64's ld.so has ~110 of them in its
 * 40 KB of read-only data, so the scan reads words, not bytes: 1.5 us rather than 15.) */
static uint64_t slashes(const unsigned char *p)
{
    uint64_t w, ones = 0x0101010101010101ull;
    __builtin_memcpy(&w, p, 8);
    w ^= ones * '/';
    return (w - ones) & ~w & (ones << 7);
}

/* The length of a qualifying entry at p (its NUL within end), or 0. */
static size_t entry_at(const unsigned char *p, const unsigned char *end)
{
    size_t n = 0;
    int lib = 0;
    if (p >= end || *p != '/') return 0;
    while (p + n < end && p[n]) {
        if (p[n] < 0x21 || p[n] > 0x7e || n >= ENTRY_MAX) return 0;
        if (n >= 3 && p[n - 3] == '/' && p[n - 2] == 'l' && p[n - 1] == 'i' && p[n] == 'b') lib = 1;
        n++;
    }
    if (p + n >= end || n < 2 || p[n - 1] != '/' || !lib) return 0;
    return n;
}

size_t ec_ld_sysdirs_find(const void *image, size_t len, char *out, size_t cap)
{
    const unsigned char *b = image, *end = b + len, *best = 0;
    size_t i, best_count = 0, used = 0;
    if (!b || !out || !cap) return 0;
    out[0] = 0;
    for (i = 0; i < len; i++) {
        const unsigned char *p;
        size_t count = 0, n;
        while (i + 32 <= len && !(slashes(b + i) | slashes(b + i + 8) | slashes(b + i + 16) | slashes(b + i + 24)))
            i += 32;
        while (i + 8 <= len && !slashes(b + i)) i += 8;
        if (i >= len) break;
        p = b + i;
        if (*p != '/' || (i && p[-1])) continue; /* only where a string starts */
        while (count <= LIST_MAX && (n = entry_at(p, end)) != 0) {
            count++;
            p += n + 1;
        }
        /* the longest list wins (ld.so holds one; a lone "/usr/lib/"-like string could come first) */
        if (count >= 1 && count <= LIST_MAX && count > best_count) {
            best = b + i;
            best_count = count;
        }
        if (count) i = (size_t)(p - b) - 1; /* no list starts inside this one */
    }
    for (i = 0; i < best_count; i++) {
        size_t n = entry_at(best, end);
        if (used + n + 1 > cap) {
            out[0] = 0;
            return 0;
        }
        if (i) out[used++] = ':';
        ec_memcpy(out + used, best, n - 1); /* without its trailing '/' */
        used += n - 1;
        best += n + 1;
    }
    out[used] = 0;
    return used;
}

size_t ec_ld_sysdirs_mapped(const void *base, char *out, size_t cap)
{
    const ElfW(Ehdr) *eh = base;
    const ElfW(Phdr) *ph;
    int i, pass;
    if (!base || !out || !cap) return 0;
    out[0] = 0;
    if (__builtin_memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_phentsize != sizeof *ph) return 0;
    ph = (const ElfW(Phdr) *)((const char *)base + eh->e_phoff);
    for (pass = 0; pass < 2; pass++)
        for (i = 0; i < eh->e_phnum; i++) {
            size_t n;
            if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & PF_W) || !(ph[i].p_flags & PF_X) != !pass) continue;
            n = ec_ld_sysdirs_find((const char *)base + ph[i].p_vaddr, ph[i].p_filesz, out, cap);
            if (n) return n;
        }
    return 0;
}

size_t ec_ld_sysdirs_lib(const char *sysdirs, char *out, size_t cap)
{
    size_t n = 0;
    if (!sysdirs || !out || !cap) return 0;
    while (*sysdirs == '/') sysdirs++;
    if (!ec_strncmp(sysdirs, "usr/", 4)) sysdirs += 4;
    while (sysdirs[n] && sysdirs[n] != ':') n++;
    if (!n || n >= cap) {
        out[0] = 0;
        return 0;
    }
    ec_memcpy(out, sysdirs, n);
    out[n] = 0;
    return n;
}

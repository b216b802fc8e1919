/* The few functions a compiler may emit calls to on its own (struct copies, zeroing).
 * The shim links no libc (DESIGN.md: an audit module with a libc maps a second one), so it
 * provides them itself, hidden so they never interpose on the host program's libc. The shim is
 * compiled with -fno-tree-loop-distribute-patterns, so these loops are not turned back into calls. */
#include <stddef.h>
#include "text.h"

#define HIDDEN __attribute__((visibility("hidden")))

HIDDEN void *memcpy(void *dst, const void *src, size_t n) { return ec_memcpy(dst, src, n); }
HIDDEN void *memset(void *dst, int c, size_t n) { return ec_memset(dst, c, n); }
HIDDEN int memcmp(const void *a, const void *b, size_t n) { return ec_memcmp(a, b, n); }
HIDDEN size_t strlen(const char *s) { return ec_strlen(s); }

HIDDEN void *memmove(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s)
        while (n--) *d++ = *s++;
    else
        while (n--) d[n] = s[n];
    return dst;
}

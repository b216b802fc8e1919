/* The auxiliary vector (see auxv.h). */
#include "auxv.h"
#include "sys.h"
#include "text.h"

/* Read once: a few values are all anyone here needs. */
static unsigned long auxv_words[2 * 48];
static int auxv_state; /* 0 unread, 1 read, -errno unreadable */

#define AUXV_MAX_TYPE 64 /* every type Linux defines is below this; pointers are far above */

int ec_auxv_take(char *const *envp)
{
    const unsigned long *w;
    unsigned long page = 0, phdr = 0, base = 0;
    size_t i, skipped = 0;
    if (!envp || __atomic_load_n(&auxv_state, __ATOMIC_ACQUIRE)) return 0;
    while (*envp) envp++;
    w = (const unsigned long *)(envp + 1);
    /* in secure mode ld.so unsets variables by moving the later ones down: the words up to the
     * array's original end are stale pointers, never small auxiliary types */
    if (*w > AUXV_MAX_TYPE) {
        while (*w && skipped++ < 4096) w++;
        if (*w) return 0;
        w++;
    }
    for (i = 0; i + 1 < sizeof auxv_words / sizeof auxv_words[0]; i += 2) {
        if (w[i] > AUXV_MAX_TYPE) return 0; /* not an auxiliary vector: /proc will tell */
        if (w[i] == 0) break;
        if (w[i] == EC_AT_PAGESZ) page = w[i + 1];
        if (w[i] == EC_AT_PHDR) phdr = w[i + 1];
        if (w[i] == EC_AT_BASE) base = w[i + 1];
    }
    if (i + 1 >= sizeof auxv_words / sizeof auxv_words[0] || !phdr || page < 4096 || (page & (page - 1))) return 0;
    if (!base) return 0; /* ld.so ran as the program and rewrote the vector: /proc has the kernel's */
    ec_memcpy(auxv_words, w, (i + 2) * sizeof auxv_words[0]);
    __atomic_store_n(&auxv_state, 1, __ATOMIC_RELEASE);
    return 1;
}

void ec_auxv_adopt(char *const *envp)
{
    uintptr_t here = (uintptr_t)&envp;
    /* only the array of the initial stack, which lies just above this frame at start-up (a copy of
     * the shim brought in later by dlmopen gets the current environ, maybe a heap array whose end
     * is no place to read past) */
    if (envp && (uintptr_t)envp > here && (uintptr_t)envp - here < ((uintptr_t)1 << 20)) ec_auxv_take(envp);
}

/* libc's copy of the vector, where there is a libc (a weak reference: NULL in the audit
 * namespace). It cannot tell an absent entry from a zero one, so its answers count as found:
 * the types asked here (AT_SECURE, AT_PHDR, AT_BASE, AT_SYSINFO_EHDR, AT_PLATFORM) are always
 * there, or mean the same when 0. It is the kernel's vector unless ld.so was run as the program (AT_BASE 0):
 * ld.so then rewrote AT_PHDR, AT_ENTRY... to the program it loaded itself, and only /proc still
 * tells what the kernel executed. */
extern unsigned long getauxval(unsigned long) __attribute__((weak));

int ec_auxv_get(unsigned long type, unsigned long *value)
{
    int state = __atomic_load_n(&auxv_state, __ATOMIC_ACQUIRE);
    long n, got = 0, i;
    if (!state && getauxval && getauxval(EC_AT_BASE)) {
        *value = getauxval(type);
        return 1;
    }
    if (!state) {
        /* racing first readers all fill the same words: harmless */
        int fd = ec_openat(EC_AT_FDCWD, "/proc/self/auxv", EC_O_RDONLY | EC_O_CLOEXEC, 0);
        if (fd < 0) {
            state = fd;
        } else {
            /* procfs hands the whole vector over in one read: a short read is the end */
            while (got < (long)sizeof auxv_words &&
                   (n = ec_read(fd, (char *)auxv_words + got, sizeof auxv_words - (size_t)got)) > 0) {
                got += n;
                if (got % (long)(2 * sizeof auxv_words[0]) == 0 && auxv_words[got / sizeof auxv_words[0] - 2] == 0)
                    break; /* AT_NULL reached */
            }
            ec_close(fd);
            state = got > 0 ? 1 : -EC_EIO;
        }
        __atomic_store_n(&auxv_state, state, __ATOMIC_RELEASE);
    }
    if (state < 0) return state;
    for (i = 0; i + 1 < (long)(sizeof auxv_words / sizeof auxv_words[0]); i += 2) {
        if (auxv_words[i] == 0) break;
        if (auxv_words[i] == type) {
            *value = auxv_words[i + 1];
            return 1;
        }
    }
    return 0;
}

/* A test library that says so the moment any of its code runs: its IFUNC resolver (run while
 * ld.so relocates it, before its constructor) and its constructor. Each says it with one raw
 * write(2), so nothing of libc needs to be ready.
 *   -DTAG='"name"'   what it calls itself ("IFUNC name", "CTOR name")
 *   -DFN=name        the function it exports (default libfn), returning 42 (+ CALLS())
 *   -DCALLS=name     a function of a dependency it calls from FN
 *   -DGCONV          also a gconv module (gconv_init, gconv), for iconv_open() through GCONV_PATH
 *   -DAUDIT          also an rtld-audit module (la_version)
 *   -DAUDIT_DLOPEN   with -DAUDIT: its first la_objopen dlopen()s getenv("AUDITOR_DLOPEN") */
#ifdef AUDIT_DLOPEN
#define _GNU_SOURCE /* Lmid_t */
#endif
#include <stddef.h>
#ifndef TAG
#define TAG "lib"
#endif
#ifndef FN
#define FN libfn
#endif

static long raw_write(int fd, const void *buf, unsigned long n)
{
    long r;
#if defined(__i386__) /* the 32-bit builds of tests/test_i386.py */
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(4), "b"(fd), "c"(buf), "d"(n) : "memory");
#elif defined(__aarch64__) /* the cross builds of tests/test_aarch64.py */
    register long x0 __asm__("x0") = fd, x1 __asm__("x1") = (long)buf, x2 __asm__("x2") = (long)n;
    register long x8 __asm__("x8") = 64;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x1), "r"(x2), "r"(x8) : "memory");
    r = x0;
#else
    __asm__ volatile("syscall" : "=a"(r) : "a"(1), "D"(fd), "S"(buf), "d"(n) : "rcx", "r11", "memory");
#endif
    return r;
}
#define SAY(msg) raw_write(1, msg, sizeof msg - 1)

static int impl(void) { return 42; }
static int (*resolve_probe(void))(void)
{
    SAY("IFUNC " TAG "\n");
    return impl;
}
int audit_probe(void) __attribute__((ifunc("resolve_probe")));

__attribute__((constructor)) static void ctor(void) { SAY("CTOR " TAG "\n"); }

#ifdef CALLS
int CALLS(void);
int FN(void) { return audit_probe() + CALLS(); }
#else
int FN(void) { return audit_probe(); }
#endif

#ifdef GCONV
/* the least glibc's gconv loader needs: a "gconv" symbol, and an init that says OK */
int gconv_init(void *step) { (void)step; return 0; }
int gconv(void *step, void *data, const unsigned char **in, const unsigned char *end, unsigned char **out,
          size_t *irreversible, int flush, int incomplete)
{
    (void)step, (void)data, (void)in, (void)end, (void)out, (void)irreversible, (void)flush, (void)incomplete;
    return 6; /* __GCONV_ILLEGAL_INPUT: never used by the tests */
}
#endif

#ifdef AUDIT
unsigned int la_version(unsigned int v) { return v; }
#ifdef AUDIT_DLOPEN
#include <dlfcn.h>
#include <link.h>
#include <stdlib.h>
/* Once, from its first la_objopen: dlopen(getenv("AUDITOR_DLOPEN")) into this module's own
 * namespace - an auditing one, whose loads glibc announces to no audit module. */
unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie)
{
    static int done;
    const char *p = getenv("AUDITOR_DLOPEN");
    (void)map, (void)lmid, (void)cookie;
    if (p && !done++ && !getenv("AUDITOR_DLOPEN_LATE")) dlopen(p, RTLD_NOW);
    return 0;
}
/* with AUDITOR_DLOPEN_LATE set: from its la_preinit instead, after every module's last look
 * before main() */
void la_preinit(uintptr_t *cookie)
{
    const char *p = getenv("AUDITOR_DLOPEN");
    (void)cookie;
    if (p && getenv("AUDITOR_DLOPEN_LATE")) dlopen(p, RTLD_NOW);
}
#endif
#endif

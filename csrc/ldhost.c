/* CPU facts as ld.so sees them (see ldhost.h). */
#include "ldhost.h"
#include "auxv.h"
#include "sys.h"
#include "text.h"

#if defined(__x86_64__)
static void cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
    __asm__ __volatile__("cpuid" : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3]) : "a"(leaf), "c"(sub));
}

static uint64_t xgetbv0(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t)hi << 32 | lo;
}

#define BIT(x, n) (((x) >> (n)) & 1u)
#define CLEAR(x, n) ((x) &= ~(1u << (n)))

/* The feature words ld.so decides from: CPUID leaves 1, 7 (subleaf 0) and 0x80000001, each
 * eax/ebx/ecx/edx, holding only the bits glibc calls usable (the CPU has the feature and the OS
 * saves the registers it needs). */
struct cpu_words {
    uint32_t l1[4], l7[4], lx[4];
    int intel; /* GenuineIntel: 1 or 0, -1 not asked */
};

/* cpuid leaf 0's vendor string, "GenuineIntel", in ebx, edx, ecx */
static int genuine_intel(const uint32_t r0[4])
{
    return r0[1] == 0x756e6547 && r0[3] == 0x49656e69 && r0[2] == 0x6c65746e;
}

static ec_cpuid_leaf_fn glibc_leaf; /* ec_ld_host_use_glibc */

void ec_ld_host_use_glibc(ec_cpuid_leaf_fn fn) { __atomic_store_n(&glibc_leaf, fn, __ATOMIC_RELEASE); }

/* From ld.so's own record, through glibc's __x86_get_cpuid_feature_leaf: its active words are
 * exactly what ld.so tested (GLIBC_TUNABLES masks included), and reading them costs no cpuid,
 * each of which traps to the hypervisor in a VM (~6 us here). */
static int words_from_glibc(struct cpu_words *w)
{
    ec_cpuid_leaf_fn leaf = __atomic_load_n(&glibc_leaf, __ATOMIC_ACQUIRE);
    const uint32_t *f;
    int i;
    if (!leaf) return 0;
    w->intel = -1;
    for (i = 0; i < 3; i++) {
        /* struct cpuid_feature { cpuid_array[4]; active_array[4]; }, leaves CPUID_INDEX_1, _7,
         * _80000001 (<bits/platform/x86.h>) */
        if (!(f = leaf((unsigned)i))) return 0;
        ec_memcpy(i == 0 ? w->l1 : i == 1 ? w->l7 : w->lx, f + 4, 4 * sizeof *f);
        /* the record has no vendor, but SSE4A (0x80000001 ecx bit 6, as the CPU reports it) is
         * AMD's and Hygon's: Intel documents the bit as reserved. One trap fewer on those. */
        if (i == 2 && BIT(f[2], 6)) w->intel = 0;
    }
    return 1;
}

/* From the CPU, with glibc's rules for what the OS must enable (sysdeps/x86/cpu-features.c). */
static void words_from_cpuid(struct cpu_words *w)
{
    uint32_t r0[4], maxext[4];
    uint64_t xcr0 = 0;
    int avx_os, avx512_os;
    ec_memset(w, 0, sizeof *w);
    cpuid(0, 0, r0);
    w->intel = genuine_intel(r0);
    cpuid(1, 0, w->l1);
    if (r0[0] >= 7) cpuid(7, 0, w->l7);
    cpuid(0x80000000u, 0, maxext);
    if (maxext[0] >= 0x80000001u) cpuid(0x80000001u, 0, w->lx);
    if (BIT(w->l1[2], 27)) xcr0 = xgetbv0(); /* OSXSAVE */
    avx_os = (xcr0 & 6) == 6;
    avx512_os = avx_os && (xcr0 & 0xe0) == 0xe0;
    if (!avx_os || !BIT(w->l1[2], 28)) {
        CLEAR(w->l1[2], 28); /* AVX, and what needs it: FMA, F16C, AVX2 */
        CLEAR(w->l1[2], 12);
        CLEAR(w->l1[2], 29);
        CLEAR(w->l7[1], 5);
    }
    if (!avx512_os) w->l7[1] &= ~0xdc030000u; /* AVX512F, DQ, PF, ER, CD, BW, VL */
}

static int is_intel(const struct cpu_words *w)
{
    uint32_t r0[4];
    if (w->intel >= 0) return w->intel;
    cpuid(0, 0, r0);
    return genuine_intel(r0);
}

static void probe_cpu(struct ec_ld_host *h)
{
    struct cpu_words w;
    const uint32_t *l1 = w.l1, *l7 = w.l7, *lx = w.lx;
    int v2, v3, v4, avx, avx2, fma, f16c, bmi1, bmi2, lzcnt, movbe, popcnt, haswell;
    int a512f, a512bw, a512cd, a512dq, a512vl, a512er, a512pf;
    if (!words_from_glibc(&w)) words_from_cpuid(&w);
    avx = BIT(l1[2], 28);
    avx2 = avx && BIT(l7[1], 5);
    fma = avx && BIT(l1[2], 12);
    f16c = avx && BIT(l1[2], 29);
    bmi1 = BIT(l7[1], 3);
    bmi2 = BIT(l7[1], 8);
    lzcnt = BIT(lx[2], 5);
    movbe = BIT(l1[2], 22);
    popcnt = BIT(l1[2], 23);
    a512f = BIT(l7[1], 16);
    a512dq = a512f && BIT(l7[1], 17);
    a512pf = a512f && BIT(l7[1], 26);
    a512er = a512f && BIT(l7[1], 27);
    a512cd = a512f && BIT(l7[1], 28);
    a512bw = a512f && BIT(l7[1], 30);
    a512vl = a512f && BIT(l7[1], 31);
    /* glibc-hwcaps levels (sysdeps/x86_64/dl-hwcaps-subdirs.c; v3 also wants OSXSAVE, which AVX implies) */
    v2 = BIT(l1[2], 13) && BIT(lx[2], 0) && popcnt && BIT(l1[2], 0) && BIT(l1[2], 9) && BIT(l1[2], 19) &&
         BIT(l1[2], 20);
    v3 = v2 && avx && avx2 && bmi1 && bmi2 && f16c && fma && lzcnt && movbe;
    v4 = v3 && a512f && a512bw && a512cd && a512dq && a512vl;
    h->isa_level = v4 ? 4 : v3 ? 3 : v2 ? 2 : 1;
    h->hwcap = EC_HWCAP_X86_64;
    /* glibc refines the platform on Intel only: the vendor is asked only when it matters */
    haswell = avx2 && fma && bmi1 && bmi2 && lzcnt && movbe && popcnt;
    h->intel = (a512cd || haswell) && is_intel(&w);
    if (h->intel) {
        const char *platform = 0;
        if (a512cd) {
            if (a512er) {
                if (a512pf) platform = "xeon_phi";
            } else if (a512bw && a512dq && a512vl) {
                h->hwcap |= EC_HWCAP_X86_AVX512_1;
            }
        }
        if (!platform && haswell) platform = "haswell";
        if (platform) ec_strlcpy(h->platform, platform, sizeof h->platform);
    }
}
#else
void ec_ld_host_use_glibc(ec_cpuid_leaf_fn fn) { (void)fn; }
#if defined(__i386__)
/* glibc's i386 ld.so sets one hwcap bit, SSE2, which every CPU that runs an x86_64 kernel has
 * (the only kernels a 32-bit shim is built for); no glibc-hwcaps levels exist for i386. */
static void probe_cpu(struct ec_ld_host *h) { h->hwcap = EC_HWCAP_X86_SSE2; }
#elif defined(__aarch64__)
/* glibc's aarch64 ld.so takes AT_HWCAP; its legacy subdirectories know one bit, HWCAP_ATOMICS */
static void probe_cpu(struct ec_ld_host *h)
{
    unsigned long v = 0;
    if (ec_auxv_get(16 /* AT_HWCAP */, &v) == 1) h->hwcap = v & (1ul << 8);
}
#else
static void probe_cpu(struct ec_ld_host *h) { (void)h; }
#endif
#endif

/* AT_PLATFORM: the kernel's string, as ld.so gets it before refining it for x86. */
static int at_platform(char *out, size_t cap)
{
    unsigned long v = 0;
    int r = ec_auxv_get(EC_AT_PLATFORM, &v);
    if (r < 0) return r;
    if (r == 0 || !v) return -EC_ENOENT;
    ec_strlcpy(out, (const char *)v, cap);
    return 0;
}

/* The machine does not change under a process: probed once (cpuid traps to the hypervisor in a
 * VM, and every resolver session asked again). Racing first callers each probe: same answer. */
static struct ec_ld_host probed;
static int probed_err;
static int probed_state; /* 0 not yet, 1 being stored, 2 stored */
static int glibc_minor;   /* ec_ld_host_glibc_release: 2.<minor>, 0 unknown */

void ec_ld_host_glibc_release(const char *v)
{
    int minor = 0;
    if (v && v[0] == '2' && v[1] == '.')
        for (v += 2; *v >= '0' && *v <= '9' && minor < 1000; v++) minor = minor * 10 + (*v - '0');
    __atomic_store_n(&glibc_minor, minor, __ATOMIC_RELEASE);
}

/* What the release changes (NEWS): glibc-hwcaps subdirectories came with 2.33, and 2.37 dropped
 * the legacy hwcap, platform and tls ones. */
void ec_ld_host_apply_release(struct ec_ld_host *h, int minor)
{
    if (!minor) return;
    if (minor < 33 && h->isa_level > 1) h->isa_level = 1;
    h->legacy_subdirs = minor < 37;
}

static void release_rules(struct ec_ld_host *h)
{
    h->legacy_subdirs = 1;
    ec_ld_host_apply_release(h, __atomic_load_n(&glibc_minor, __ATOMIC_ACQUIRE));
}

int ec_ld_host_probe(struct ec_ld_host *h)
{
    int expected = 0, err;
    if (__atomic_load_n(&probed_state, __ATOMIC_ACQUIRE) == 2) {
        *h = probed;
        return probed_err;
    }
    ec_memset(h, 0, sizeof *h);
    probe_cpu(h);
    err = h->platform[0] ? 0 : at_platform(h->platform, sizeof h->platform);
    release_rules(h);
    if (__atomic_compare_exchange_n(&probed_state, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED)) {
        probed = *h;
        probed_err = err;
        __atomic_store_n(&probed_state, 2, __ATOMIC_RELEASE);
    }
    return err;
}

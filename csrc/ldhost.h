/* What glibc 2.36's ld.so on this CPU would compute for library search: the x86-64 ISA level
 * (glibc-hwcaps subdirectories and cache entries), the legacy hwcap bits and the platform string
 * ($PLATFORM, legacy subdirectories). From cpuid/xgetbv and AT_PLATFORM, as
 * sysdeps/x86/cpu-features.c and dl-hwcaps-subdirs.c decide them; GLIBC_TUNABLES masks are read
 * only through glibc's own record (ec_ld_host_use_glibc). */
#ifndef EXECCHECK_LDHOST_H
#define EXECCHECK_LDHOST_H

#include <stdint.h>

#define EC_HWCAP_X86_SSE2 (1u << 0)
#define EC_HWCAP_X86_64 (1u << 1)
#define EC_HWCAP_X86_AVX512_1 (1u << 2)

struct ec_ld_host {
    int isa_level;       /* highest x86-64 level: 1 baseline, 2 v2, 3 v3, 4 v4 (0: not x86-64) */
    uint64_t hwcap;      /* legacy hwcap bits ld.so sets (EC_HWCAP_X86_*) */
    int intel;           /* GenuineIntel: glibc derives a platform only there (asked only then: 0 where
                          * no platform could be derived) */
    char platform[32];   /* dl_platform: "haswell", "xeon_phi", or AT_PLATFORM ("x86_64") */
    int legacy_subdirs;  /* 1: ld.so searches the legacy hwcap, platform and tls subdirectories
                          * (glibc before 2.37, and 2.36 is what is modelled); 0: it does not */
};

/* Fills h for the running machine. Returns 0, or -errno if AT_PLATFORM could not be read
 * (h is still filled; platform is then empty). */
int ec_ld_host_probe(struct ec_ld_host *h);

/* glibc's __x86_get_cpuid_feature_leaf (2.33+, x86_64): where the process has it, the probe reads
 * the CPU features ld.so itself recorded at start-up, GLIBC_TUNABLES masks included, instead of
 * asking the CPU (one cpuid instead of six; each traps to the hypervisor in a VM). Set it before
 * the first probe; the dlopen guard does, the CLI does not (it describes the machine). Elsewhere a
 * no-op. */
typedef const void *(*ec_cpuid_leaf_fn)(unsigned int index);
void ec_ld_host_use_glibc(ec_cpuid_leaf_fn fn);

/* The running glibc's release ("2.41", gnu_get_libc_version()), where the probe is about this
 * process's own ld.so (the dlopen guard): before 2.33 it searches no glibc-hwcaps subdirectories
 * (the baseline level is reported), from 2.37 on no legacy ones (legacy_subdirs 0). NULL or
 * unparsable: 2.36's rules. Set it before the first probe. */
void ec_ld_host_glibc_release(const char *version);

/* Those rules for glibc 2.<minor> applied to a probe's result (a session that models another
 * release's ld.so: an image's). minor 0: unchanged. */
void ec_ld_host_apply_release(struct ec_ld_host *h, int minor);

#endif

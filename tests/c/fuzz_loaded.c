/* The fuzz target of the in-memory readers of loaded objects (preload/loaded_deps.c, included
 * whole for its static functions; see fuzz_targets.c). A fuzzed object image is laid out in one
 * allocation and described by honest program headers: one readable PT_LOAD over exactly the
 * allocation, PT_DYNAMIC inside it. Its dynamic section, string table, hash tables and symbols are
 * the input's, so ASan sees any read outside the object. Input: flags(1) dynoff(3) pad(1) image. */
#include "loaded_deps.c" /* first: it defines _GNU_SOURCE */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int fuzz_loaded(const uint8_t *data, size_t size)
{
    static const char *const names[] = {"dlopen", "execve", "", "__vdso_clock_gettime", "a", "__vdso_time"};
    struct dl_phdr_info info;
    struct sym_tables t;
    ElfW(Phdr) ph[3];
    unsigned char *img;
    char dirs[256];
    size_t n, dynoff, i;
    uint8_t flags;
    if (size < 6) return 0;
    flags = data[0];
    dynoff = (data[1] | data[2] << 8 | (size_t)data[3] << 16) & ~(size_t)7;
    data += 5, size -= 5;
    n = size;
    if (dynoff + sizeof(ElfW(Dyn)) > n) return 0;
    img = aligned_alloc(16, (n + 15) & ~(size_t)15);
    memcpy(img, data, n);
    memset(ph, 0, sizeof ph);
    ph[0].p_type = PT_LOAD, ph[0].p_flags = PF_R, ph[0].p_memsz = ph[0].p_filesz = n;
    ph[1].p_type = PT_DYNAMIC, ph[1].p_vaddr = dynoff;
    ph[1].p_memsz = (n - dynoff) / sizeof(ElfW(Dyn)) * sizeof(ElfW(Dyn));
    ph[2].p_type = PT_GNU_STACK;
    if (flags & 1) { /* as ld.so relocates a writable dynamic section: the pointers made addresses */
        ElfW(Dyn) *d = (ElfW(Dyn) *)(img + dynoff), *end = d + ph[1].p_memsz / sizeof *d;
        for (; d < end && d->d_tag != DT_NULL; d++)
            if (d->d_tag == DT_STRTAB || d->d_tag == DT_SYMTAB || d->d_tag == DT_GNU_HASH || d->d_tag == DT_HASH ||
                d->d_tag == DT_VERSYM)
                d->d_un.d_ptr += (uintptr_t)img;
    }
    memset(&info, 0, sizeof info);
    info.dlpi_addr = (uintptr_t)img;
    info.dlpi_name = "fuzz.so";
    info.dlpi_phdr = ph;
    info.dlpi_phnum = (flags & 2) ? 2 : 3;
    {
        const char *so = soname_of(&info);
        if (so && (so < (const char *)img || so + strlen(so) >= (const char *)img + n)) {
            fprintf(stderr, "loaded: SONAME outside the object\n");
            abort();
        }
    }
    if (tables_of(&info, &t))
        for (i = 0; i < sizeof names / sizeof names[0]; i++) {
            struct sym_query q;
            const unsigned char *p;
            memset(&q, 0, sizeof q);
            q.name = names[i];
            q.gnu = 5381;
            for (p = (const unsigned char *)names[i]; *p; p++) q.gnu = q.gnu * 33 + *p;
            q.sysv = ec_elf_hash(names[i]);
            find_in(&info, &t, &q);
        }
    ec_object_holds(&info, (uintptr_t)img + (flags << 4));
    ec_ld_sysdirs_find(img, n, dirs, 1 + (flags & 0xc0)); /* the loader's directories, in its bytes */
    free(img);
    return 0;
}

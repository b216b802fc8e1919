/* A small ELF reader: what the dynamic loader reads of a file, and nothing more.
 *
 * Header, program headers, PT_INTERP, the dynamic section (NEEDED, FILTER, AUXILIARY, SONAME,
 * RPATH, RUNPATH, FLAGS, FLAGS_1, RELR...), and the symbol-version records (Verneed, Verdef),
 * located as ld.so locates them: addresses through the PT_LOAD segments, chains followed to their
 * end. Everything is read with bounded preads into an arena: a truncated, corrupt or hostile file
 * gives a defect code, never a read out of bounds. ELF32/ELF64, both byte orders. */
#ifndef EXECCHECK_ELFINFO_H
#define EXECCHECK_ELFINFO_H

#include <stdint.h>
#include "arena.h"

enum ec_elf_defect {
    EC_ELF_OK = 0,
    EC_ELF_READ_ERROR,      /* a read failed (errno in read_err) */
    EC_ELF_TOO_SHORT,       /* smaller than its own ELF header */
    EC_ELF_BAD_MAGIC,       /* not ELF */
    EC_ELF_BAD_CLASS,       /* EI_CLASS is neither ELFCLASS32 nor ELFCLASS64 */
    EC_ELF_BAD_DATA,        /* EI_DATA is neither little nor big endian */
    EC_ELF_PHENTSIZE,       /* e_phentsize is not the size of a program header */
    EC_ELF_PHDR_RANGE,      /* the program headers are not in the file */
    EC_ELF_TOO_MANY,        /* a count beyond this reader's bounds (program headers, dynamic entries,
                               string bytes copied...) */
    EC_ELF_INTERP_RANGE,    /* PT_INTERP is not in the file */
    EC_ELF_DYNAMIC_RANGE,   /* PT_DYNAMIC is not backed by file bytes of a PT_LOAD segment */
    EC_ELF_DYNAMIC_NO_NULL, /* the dynamic section has no DT_NULL within its segment */
    EC_ELF_STRING_RANGE,    /* a string (DT_STRTAB + offset) is not backed by the file, or has no end */
    EC_ELF_VERSION_RANGE,   /* a Verneed/Verdef chain leaves the file or does not end */
    EC_ELF_NOMEM,           /* the arena is full */
    EC_ELF_DEFECT_COUNT
};

/* dynamic tags the loader acts on */
#define EC_DT_NULL 0
#define EC_DT_NEEDED 1
#define EC_DT_STRTAB 5
#define EC_DT_STRSZ 10
#define EC_DT_SONAME 14
#define EC_DT_RPATH 15
#define EC_DT_TEXTREL 22
#define EC_DT_BIND_NOW 24
#define EC_DT_RUNPATH 29
#define EC_DT_FLAGS 30
#define EC_DT_RELR 36
#define EC_DT_VERDEF 0x6ffffffc
#define EC_DT_VERNEED 0x6ffffffe
#define EC_DT_FLAGS_1 0x6ffffffb
#define EC_DT_AUXILIARY 0x7ffffffd
#define EC_DT_FILTER 0x7fffffff

#define EC_DF_ORIGIN 0x1
#define EC_DF_TEXTREL 0x4
#define EC_DF_BIND_NOW 0x8
#define EC_DF_1_NOW 0x1
#define EC_DF_1_NODEFLIB 0x800
#define EC_DF_1_PIE 0x08000000

#define EC_ET_EXEC 2
#define EC_ET_DYN 3
#define EC_EM_386 3
#define EC_EM_X86_64 62
#define EC_EM_AARCH64 183

#define EC_PF_X 1
#define EC_PF_W 2
#define EC_PF_R 4

#define EC_VER_FLG_WEAK 0x2

struct ec_elf_dep {
    int64_t tag;        /* EC_DT_NEEDED, EC_DT_FILTER or EC_DT_AUXILIARY, in dynamic-section order */
    const char *name;
};

struct ec_elf_vernaux {
    uint32_t hash;
    uint16_t flags, other;
    const char *name;
};

struct ec_elf_verneed {
    uint16_t version;
    const char *file;
    uint32_t naux;
    struct ec_elf_vernaux *aux;
};

struct ec_elf_verdef {
    uint16_t version, flags, ndx;
    uint32_t hash;
    const char *name;   /* the first Verdaux name: the version defined */
};

struct ec_elf_load {
    uint64_t vaddr, offset, filesz, memsz, align;
    uint32_t flags;
};

struct ec_elf {
    int defect;             /* enum ec_elf_defect: the first problem met; fields read before it stay valid */
    int read_err;           /* errno of a failed read */
    uint64_t size;          /* file size */
    unsigned char ident[16];
    int elfclass;           /* 1 ELF32, 2 ELF64 (0 unknown) */
    int msb;                /* big endian */
    uint16_t type, machine, ehsize, phentsize, phnum;
    uint32_t version;
    uint64_t entry, phoff;

    uint32_t nload;
    struct ec_elf_load *loads;
    int load_misaligned;    /* a PT_LOAD whose p_vaddr - p_offset is not page aligned */
    int has_dynamic;        /* PT_DYNAMIC present */
    int dynamic_empty;      /* ... with p_filesz 0 (separate debug info) */
    const char *interp;     /* PT_INTERP, NULL if none */
    int has_stack;          /* PT_GNU_STACK present */
    uint32_t stack_flags;   /* its p_flags */
    int has_relro;          /* PT_GNU_RELRO present */

    uint32_t ndyn;          /* dynamic entries before DT_NULL */
    const char *soname, *rpath, *runpath; /* NULL when the tag is absent (the last one counts, as in ld.so) */
    uint64_t flags, flags_1;
    int has_relr, has_textrel, has_bind_now;
    uint32_t ndeps;
    struct ec_elf_dep *deps;
    uint32_t nneeded;

    int has_verneed, has_verdef;
    uint32_t nverneed;
    struct ec_elf_verneed *verneed;
    uint32_t nverdef;
    struct ec_elf_verdef *verdef;
};

/* Reads fd (a regular file of `size` bytes) into *out, allocating from `a`. Always fills out;
 * returns out->defect. */
int ec_elf_read(int fd, uint64_t size, struct ec_arena *a, struct ec_elf *out);

/* Opens path and reads it. Returns -errno if it cannot be opened or is not a regular file,
 * else the defect code. */
int ec_elf_read_path(const char *path, struct ec_arena *a, struct ec_elf *out);

const char *ec_elf_defect_text(int defect);

/* The SysV hash ld.so uses for version names (vna_hash / vd_hash) and DT_HASH tables. */
uint32_t ec_elf_hash(const char *name);

#endif

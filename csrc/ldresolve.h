/* glibc 2.36's dynamic loader, as a function: which files a program (or a dlopen) would load.
 *
 * One implementation (DESIGN.md, "One ld.so resolver"), used by `execcheck audit` through cffi and
 * by the shim to predict a dlopen. It follows elf/rtld.c, dl-deps.c, dl-load.c and dl-cache.c:
 * preloads (LD_PRELOAD, ld.so --preload, /etc/ld.so.preload), the breadth-first load order, reuse
 * by name, SONAME and (dev, ino), the RPATH chain unless the loader has RUNPATH, LD_LIBRARY_PATH
 * (ignored in secure mode), RUNPATH, ld.so.cache with its hwcaps entries, the default directories,
 * DF_1_NODEFLIB, glibc-hwcaps and legacy hwcaps subdirectories, $ORIGIN/$LIB/$PLATFORM, which
 * defects of a candidate are skipped and which stop the program, and the symbol-version check.
 * Everything happens under an optional root (an image), as a chrooted loader would see it.
 *
 * Freestanding: raw syscalls, memory from mmap (arena.h). A session is used by one thread at a
 * time; sessions share nothing. A result stays valid until the next call on its session. */
#ifndef EXECCHECK_LDRESOLVE_H
#define EXECCHECK_LDRESOLVE_H

#include <stddef.h>
#include <stdint.h>
#include "check.h"
#include "elfinfo.h"

/* What loader to model. Zero/NULL fields take the defaults in brackets. */
struct ec_ld_config {
    const char *root;          /* the image's root on this host [the host's /] */
    const char *cwd;           /* the process's working directory in the image ["/" under a root, else ours] */
    const char *cache;         /* ld.so.cache in the image; "" for none (ld.so --inhibit-cache) [/etc/ld.so.cache] */
    const char *preload_file;  /* "" for none [/etc/ld.so.preload] */
    const char *system_dirs;   /* ':'-separated [/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib:/usr/lib] */
    const char *lib;           /* $LIB [the first system directory without "/" or "/usr/": lib/x86_64-linux-gnu] */
    const char *platform;      /* $PLATFORM [this CPU's, as ld.so computes it] */
    int isa_level;             /* glibc-hwcaps level 1..4 [this CPU's] */
    int legacy_hwcap;          /* legacy hwcap bits (2 x86_64, 4 avx512_1) [this CPU's] */
    const char *interp;        /* the loader of shared objects resolved as roots [/lib64/ld-linux-x86-64.so.2] */
    int no_vdso;               /* 1: no linux-vdso.so.1 in the process */
    size_t memory_limit;       /* [1 GiB] */
    int no_realpath;           /* 1: objects' realpath stays NULL (the shim's dlopen predictions use
                                  none): no readlink per file found [0] */
    int like_loader;           /* 1: the files are those this process's own ld.so opens next (the
                                  shim's predictions, no root): a regular file is opened for reading
                                  at once, as ld.so does, not first looked at through O_PATH [0] */
    int glibc_minor;           /* the modelled ld.so's glibc is 2.<minor>: its search rules (no
                                  glibc-hwcaps before 33, no legacy subdirectories from 37), else
                                  2.36's (an image's libc tells its release: the audit) [0] */
    int machine;               /* EC_EM_X86_64, EC_EM_386 or EC_EM_AARCH64: whose loader (the defaults above
                                  are then that one's: lib/i386-linux-gnu, /lib/ld-linux.so.2...) [this build's] */
    int hwcap_masked;          /* 1: the legacy hwcap bits are masked by hwcap_mask, the value ld.so took for
                                  glibc.cpu.hwcap_mask (LD_HWCAP_MASK), which leaves out the subdirectories
                                  of the bits it clears (x86_64, avx512_1) [0: its default, which keeps them] */
    uint64_t hwcap_mask;
};

/* One resolution. */
struct ec_ld_request {
    const char *path;          /* the program (or shared object) in the image */
    int as_library;            /* 0: executed by the kernel ($ORIGIN from its real path);
                                  1: as `ld.so --list PATH` does ($ORIGIN from PATH as given) */
    int secure;                /* AT_SECURE: 1, 0, or -1 from the file's setuid/setgid bits */
    const char *library_path;  /* LD_LIBRARY_PATH or ld.so --library-path; NULL for none */
    const char *preload;       /* LD_PRELOAD; NULL for none */
    const char *preload_opt;   /* ld.so --preload; NULL for none */
    int trace;                 /* 1: keep every candidate tried (result.tries) */
    int check_alone;           /* 1: for a name satisfied by an object already loaded, search as if it were not */
    const char *missing_at_start; /* a live process (ec_ld_predict_dlopen): absolute directories, each
                                  ending in '/', NUL-separated, ended by an empty one, that were
                                  missing when it started. ld.so's start-up probes found them so and
                                  never search them again; the replay of the start-up takes them as
                                  missing wherever it probes them. NULL: none */
};

enum ec_ld_kind {
    EC_LD_MAIN, EC_LD_VDSO, EC_LD_INTERP, EC_LD_PRELOAD, EC_LD_NEEDED, EC_LD_FILTEE,
    EC_LD_MISSING,             /* a name that failed to load (ld.so's trace mode shows it "not found") */
    EC_LD_DLOPEN,              /* the object a dlopen prediction is about */
    EC_LD_KIND_COUNT
};

enum ec_ld_via {               /* how a name was satisfied */
    EC_LD_VIA_NONE, EC_LD_VIA_EXEC, EC_LD_VIA_KERNEL,
    EC_LD_VIA_LOADED,          /* already loaded under that name or SONAME: no search */
    EC_LD_VIA_SAME_FILE,       /* found a file that is already loaded (same dev, ino) */
    EC_LD_VIA_PATH,            /* the name has a '/': opened as is */
    EC_LD_VIA_RPATH, EC_LD_VIA_LIBRARY_PATH, EC_LD_VIA_RUNPATH, EC_LD_VIA_CACHE, EC_LD_VIA_DEFAULT,
    EC_LD_VIA_COUNT
};

enum ec_ld_error {
    EC_LDE_NONE,
    EC_LDE_NOT_FOUND,          /* cannot open shared object file */
    EC_LDE_WRONG_CLASS,        /* not found, but a file of the other ELF class was */
    EC_LDE_TOO_SHORT,          /* file too short */
    EC_LDE_READ,               /* cannot read file data (directories: EISDIR) */
    EC_LDE_BAD_MAGIC,          /* invalid ELF header */
    EC_LDE_ENDIAN,             /* ELF file data encoding not little-endian */
    EC_LDE_IDENT_VERSION,      /* ELF file version ident does not match current one */
    EC_LDE_OSABI,              /* ELF file OS ABI invalid */
    EC_LDE_ABIVERSION,         /* ELF file ABI version invalid */
    EC_LDE_PAD,                /* nonzero padding in e_ident */
    EC_LDE_VERSION,            /* ELF file version does not match current one */
    EC_LDE_TYPE,               /* only ET_DYN and ET_EXEC can be loaded */
    EC_LDE_PHENTSIZE,          /* ELF file's phentsize not the expected size */
    EC_LDE_LOAD_ALIGN,         /* ELF load command address/offset not page-aligned */
    EC_LDE_NO_LOAD,            /* object file has no loadable segments */
    EC_LDE_EXEC,               /* cannot dynamically load executable */
    EC_LDE_NO_DYNAMIC,         /* object file has no dynamic section */
    EC_LDE_MAP,                /* failed to map segment from shared object (noexec mount) */
    EC_LDE_PIE,                /* cannot dynamically load position-independent executable */
    EC_LDE_FIFO,               /* a FIFO: ld.so would block opening it */
    EC_LDE_NOT_REGULAR,        /* a device: what ld.so would read is unknown */
    EC_LDE_CORRUPT,            /* the file defeats this reader (see the object's elf.defect) */
    EC_LDE_DST_SECURE,         /* DST not allowed in SUID/SGID programs */
    EC_LDE_DST_EMPTY,          /* empty dynamic string token substitution */
    EC_LDE_VERSION_NOT_FOUND,  /* version `X' not found (required by Y) */
    EC_LDE_VERNEED_RECORD,     /* unsupported version of Verneed record */
    EC_LDE_VERDEF_RECORD,      /* unsupported version of Verdef record */
    EC_LDE_VERNEED_FILE,       /* no object named by a Verneed record: ld.so's assertion fails */
    EC_LDE_FILTER_LOOP,        /* filtees that keep moving each other: ld.so overflows its stack */
    EC_LDE_RELR,               /* DT_RELR without GLIBC_ABI_DT_RELR dependency */
    EC_LDE_NO_VERSION_INFO,    /* warning: no version information available */
    EC_LDE_WEAK_VERSION,       /* warning: weak version `X' not found */
    EC_LDE_PRELOAD_NAME,       /* a preload name refused in secure mode (has '/' or is too long) */
    EC_LDE_NOMEM,              /* the session's memory limit was reached */
    EC_LDE_COUNT
};

enum ec_ld_main_status {       /* can the kernel start the program at all */
    EC_LD_MAIN_OK,
    EC_LD_MAIN_NOT_FOUND,      /* the path does not name a readable regular file (main_err) */
    EC_LD_MAIN_NOT_ELF,        /* not an ELF file (a script, or data) */
    EC_LD_MAIN_CORRUPT,        /* an ELF file this reader cannot make sense of (elf.defect) */
    EC_LD_MAIN_FOREIGN,        /* another class or machine: this loader does not run it */
    EC_LD_MAIN_STATIC,         /* no PT_INTERP: no dynamic loader, nothing to resolve */
    EC_LD_MAIN_INTERP_MISSING, /* PT_INTERP names nothing in the image: exec fails (ENOENT) */
    EC_LD_MAIN_MUSL,           /* PT_INTERP is musl's loader: glibc rules do not apply */
    EC_LD_MAIN_NOT_LOADABLE,   /* not an executable or shared object (ET_REL, core...) */
    EC_LD_MAIN_STATUS_COUNT
};

struct ec_ld_object {
    const char *path;          /* l_name: where the loader opened it, as the loader spelled it; "" for the
                                  executed program, the SONAME for the vDSO, NULL for a missing name */
    const char *name;          /* the name it was first asked for */
    const char *realpath;      /* every symlink resolved, in the image; NULL without a file */
    int kind;                  /* enum ec_ld_kind */
    int loader;                /* the object whose entry loaded it (l_loader), -1 */
    int via, via_object;       /* enum ec_ld_via, and whose RPATH/RUNPATH it was */
    int depth;                 /* BFS depth: 0 main, 1 its direct dependencies... */
    int searchlist;            /* place in the main search list (load order), -1 if not in it */
    uint64_t dev, ino, size;
    uint32_t mode, uid, gid;
    int noexec;                /* on a noexec mount of this host */
    const struct ec_elf *elf;  /* NULL without a file (vDSO, missing) */
};

struct ec_ld_edge {            /* one DT_NEEDED / DT_FILTER / DT_AUXILIARY / preload entry */
    int from;                  /* the object it belongs to (main for preloads) */
    int64_t tag;               /* EC_DT_NEEDED, EC_DT_FILTER, EC_DT_AUXILIARY, or an EC_LD_TAG_PRELOAD_* */
    const char *name;          /* as written */
    const char *expanded;      /* after dynamic string tokens */
    int to;                    /* the object it resolved to, -1 */
    int via, via_object;
    int error;                 /* enum ec_ld_error; EC_LDE_NONE when it loaded */
    int err;                   /* errno behind a not-found or read error */
    const char *error_path;    /* the file an error is about */
    int fatal;                 /* 1: ld.so stops the program here (0: ignored, as for a bad preload) */
    int alone;                 /* for via LOADED with check_alone: 1 the search alone finds a file, 0 not, -1 not asked */
    int first_try, ntries;     /* its candidates in result.tries (with trace) */
};

#define EC_LD_TAG_PRELOAD_ENV (-1)   /* LD_PRELOAD */
#define EC_LD_TAG_PRELOAD_OPT (-2)   /* ld.so --preload */
#define EC_LD_TAG_PRELOAD_FILE (-3)  /* /etc/ld.so.preload */
#define EC_LD_TAG_DLOPEN (-4)        /* the name given to dlopen */

struct ec_ld_problem {         /* found by the symbol-version check, after loading */
    int object;                /* whose requirement */
    int target;                /* the object asked (-1) */
    int error;                 /* EC_LDE_VERSION_NOT_FOUND ... */
    int fatal;
    const char *file;          /* vn_file */
    const char *version;       /* the version name */
};

struct ec_ld_try {             /* one candidate path tried (trace) */
    const char *path;
    int via, via_object;       /* which search list */
    int outcome;               /* 0 taken; >0 errno (skipped); <0 -ec_ld_error (fatal or skipped class/machine) */
    int fresh;                 /* 1: looked at by this very call; 0: known to the session from before */
};

struct ec_ld_result {
    int status;                /* 0, or -errno when nothing could be resolved (no memory, bad root) */
    int main_status;           /* enum ec_ld_main_status */
    int main_err;              /* errno for EC_LD_MAIN_NOT_FOUND */
    const char *interp;        /* PT_INTERP (or config.interp for shared objects) */
    int secure;
    int starts;                /* 1: the loader would get the program to main() */
    int failure_edge;          /* the first fatal edge, -1 */
    int failure_problem;       /* the first fatal version problem, -1 (only when no edge failed) */
    int nobjects;
    struct ec_ld_object *objects;   /* in the loader's link-map order */
    int nedges;
    struct ec_ld_edge *edges;
    int nproblems;
    struct ec_ld_problem *problems;
    int ntries;
    struct ec_ld_try *tries;
    int first_new;             /* ec_ld_predict_dlopen: objects[first_new..] are what the dlopen would add */
    int origin_untold;         /* ec_ld_predict_dlopen: a search needed the $ORIGIN of an object loaded
                                * from a directory not told (EC_LD_CWD_UNTOLD): what glibc finds
                                * there was not predicted */
};

struct ec_ld_session;

/* A session with its own memory and caches. Returns NULL and *err = -errno on failure. */
struct ec_ld_session *ec_ld_session_new(const struct ec_ld_config *cfg, int *err);
void ec_ld_session_free(struct ec_ld_session *s);

/* Resolves req. Never NULL (unless s is): result.status says whether it ran. */
const struct ec_ld_result *ec_ld_resolve(struct ec_ld_session *s, const struct ec_ld_request *req);

/* What a process would load for dlopen(name) called from the object at index `caller` (-1: the main
 * program). The process is described by `loaded`: the l_name of every object it has, in link-map
 * order, starting with the main program ("" or its path); names[i] is an extra name object i was
 * opened under (NULL if unknown). cwds[i] (cwds may be NULL): for an object loaded by a relative
 * name, the directory that was current then - glibc fixed its $ORIGIN from it (_dl_new_object) -,
 * EC_LD_CWD_UNTOLD when it is not known, NULL: the current one. The startup of req->path is
 * replayed to recover who loaded whom; objects not explained by it count as dlopened.
 * result.objects then lists the process objects first (kind as replayed), followed by what the
 * dlopen would add; edge 0 is the dlopen itself. */
#define EC_LD_CWD_UNTOLD ((const char *)1)
const struct ec_ld_result *ec_ld_predict_dlopen(struct ec_ld_session *s, const struct ec_ld_request *req,
                                                const char *const *loaded, const char *const *names,
                                                const char *const *cwds, int nloaded, int caller, const char *name);

/* The directories a live process's ld.so may have probed at start-up before it read any object
 * but the program - each absolute LD_LIBRARY_PATH entry and each of the program's DT_RPATH /
 * DT_RUNPATH directories, decomposed as ld.so does (tokens expanded), with every glibc-hwcaps and
 * legacy subdirectory the session searches - that are not directories now, as
 * req->missing_at_start wants them, into out[cap] (a directory below one listed is not listed).
 * Called as the process starts, it tells what ld.so found missing there; which of them it did
 * probe (where each DT_NEEDED was found) is for the replay of ec_ld_predict_dlopen to say. A statx
 * per directory, component or subdirectory slot; nothing but the program is read. Host sessions
 * only. Returns the list's length with its last NUL (0: none missing, out is "") or -errno. */
int ec_ld_missing_at_start(struct ec_ld_session *s, const struct ec_ld_request *req, char *out, size_t cap);

/* The caller holds path open as fd (readable; st its statx with EC_STATX_MNT_ID): the session
 * takes what it needs of the file from fd instead of opening the path again (ldfs.h,
 * ec_ldfs_adopt). Host sessions only. Returns 0 or -errno. */
int ec_ld_adopt(struct ec_ld_session *s, const char *path, int fd, const struct ec_statx *st);
/* Looks a path up in the session's image: file identity and mode in v (its check fields zero).
 * Returns 0 or -errno. */
int ec_ld_stat(struct ec_ld_session *s, const char *path, struct ec_verdict *v, int *noexec);
/* Does a dependency get past what this reader found wrong with it (e->defect)? Only where the
 * reader gave up on a count beyond its bounds after reading the segments (the loader maps such a
 * file; what it does past that point is the reader's blind spot); any other defect is a file ld.so
 * fails on, or crashes on, when it maps it as a library. The audit asks the same of a library it
 * is given on its own. */
int ec_ld_defect_passes(const struct ec_elf *e);

/* How many dynamic string tokens glibc would expand in s ($ORIGIN, $PLATFORM, $LIB, also in
 * braces; _dl_dst_count): a '$' before anything else is kept as it is. */
size_t ec_ld_dst_count(const char *s);

/* The values glibc substitutes for the tokens of one name (_dl_dst_substitute): origin is the
 * directory of the object that names it (l_origin), platform GLRO(dl_platform), lib DL_DST_LIB;
 * NULL (or an empty platform) where glibc has none. secure: __libc_enable_secure. */
struct ec_ld_dst {
    const char *origin, *platform, *lib;
    int secure;
};
enum {
    EC_LD_DST_OK = 0,
    EC_LD_DST_NO_ORIGIN,     /* a token without a value: glibc drops the path (out is "") */
    EC_LD_DST_SECURE_ORIGIN, /* an $ORIGIN a secure program may not use there: dropped too */
    EC_LD_DST_NO_PLATFORM,
    EC_LD_DST_NO_LIB,
    EC_LD_DST_TOO_LONG,      /* the expansion does not fit in cap (out is "") */
};
/* input with its tokens replaced by v's values into out[cap], as glibc's _dl_dst_substitute does
 * (a '$' that starts no token is kept). Secure programs' executables also want the result in a
 * trusted directory: the caller's check (it knows the directories). Returns an EC_LD_DST_ code. */
int ec_ld_dst_expand(const char *input, const struct ec_ld_dst *v, char *out, size_t cap);

/* rtld.c's reading of an /etc/ld.so.preload text, in place: every byte of buf[0, n) that is not
 * part of a name ld.so preloads becomes NUL, so the names are the NUL-separated runs left. */
void ec_ld_preload_names(char *buf, size_t n);

/* The ELF reading of path in the image, cached per inode for the session (valid until it is freed).
 * NULL with *err = errno when it cannot be read (ENOENT, EACCES, EINVAL for a non-regular file). */
const struct ec_elf *ec_ld_elf(struct ec_ld_session *s, const char *path, int *err);
/* Runs AT_EXECVE_CHECK on path opened in the image. Returns 1 allowed, 0 denied, -errno. */
int ec_ld_check(struct ec_ld_session *s, const char *path, struct ec_verdict *v);
/* The real path of path in the image into out. Returns 0 or -errno. */
int ec_ld_realpath(struct ec_ld_session *s, const char *path, char *out, size_t cap);

/* The search-list facts of the session: glibc-hwcaps and legacy subdirectories in order, the platform. */
int ec_ld_capstr_count(const struct ec_ld_session *s);
int ec_ld_sysdir_count(const struct ec_ld_session *s);
const char *ec_ld_lib(const struct ec_ld_session *s); /* what $LIB expands to */
const char *ec_ld_sysdir(const struct ec_ld_session *s, int i); /* each ends in '/' */
const char *ec_ld_capstr(const struct ec_ld_session *s, int i);
const char *ec_ld_platform(const struct ec_ld_session *s);
int ec_ld_isa_level(const struct ec_ld_session *s);
/* The session's cache as parsed (NULL if none could be read). */
const struct ec_ldcache *ec_ld_cache(struct ec_ld_session *s);

const char *ec_ld_error_text(int error);
const char *ec_ld_via_name(int via);
const char *ec_ld_kind_name(int kind);
const char *ec_ld_main_status_name(int status);

#endif

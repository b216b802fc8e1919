/* Which file is mapped at an address, and the check of exactly that file.
 *
 * A loaded object is identified by the kernel, not by the loader's idea of its name: the (dev, ino)
 * of the mapping that holds an address inside it (use its dynamic section, l_ld: PT_DYNAMIC is
 * always file-backed, unlike the first page at l_addr). The file is then opened by name and only
 * accepted if it is that same (dev, ino); the check runs on that fd. A swapped file therefore
 * fails as "mismatch", never passes as the other file.
 *
 * Mappings come from ioctl(PROCMAP_QUERY) on /proc/self/maps (Linux 6.11+), else from parsing the
 * text of /proc/self/maps. /proc/self/map_files is not used: opening it needs
 * CAP_CHECKPOINT_RESTORE. Raw syscalls only (sys.h): usable inside the libc-free audit module and
 * from the preload face's sweep of already-loaded objects (walk the link maps, pass l_ld and
 * l_name of each). Not thread-safe per struct ec_maps: give each thread its own, or serialize
 * (ld.so serializes audit callbacks under its load lock). */
#ifndef EXECCHECK_MAPPED_H
#define EXECCHECK_MAPPED_H

#include <stddef.h>
#include <stdint.h>
#include "check.h"
#include "sys.h" /* struct ec_statx */

/* An open /proc/self/maps, tied to the pid that opened it: after fork() the fd still describes
 * the parent's address space, so it is reopened when the pid changed. */
struct ec_maps {
    int fd;     /* -1: not open */
    int pid;    /* who opened fd, while it has no fork epoch */
    uint64_t epoch; /* the fork epoch fd was opened in (mapped.c), 0 none */
    int text;   /* 1: PROCMAP_QUERY is unavailable here, parse the text */
    uint64_t dev, ino; /* identity of fd: code that ran meanwhile (an IFUNC resolver) may have
                        * closed it and reused the number; such an fd is neither used nor closed */
};

/* A VMA as the kernel reports it. */
struct ec_vma {
    uint64_t start, end, offset;
    uint64_t dev, ino;   /* dev in user-space encoding (as st_dev); ino 0: no file behind it */
    uint32_t prot;       /* EC_VMA_* (as PROCMAP_QUERY's vma_flags) */
};
#define EC_VMA_READ 1
#define EC_VMA_WRITE 2
#define EC_VMA_EXEC 4
#define EC_VMA_SHARED 8

#define EC_MAPS_INIT {-1, 0, 0, 0, 0, 0}

/* Opens (or reopens after fork) the maps file. 0 or -errno. */
int ec_maps_open(struct ec_maps *m);
/* Closes it; the struct can be opened again. */
void ec_maps_close(struct ec_maps *m);
/* For a descriptor kept open while other code ran (it may have closed it, and the number may name
 * something else now): forgets it, without closing it, unless it is still the maps file opened. */
void ec_maps_revalidate(struct ec_maps *m);

/* The VMA covering addr; name (if not NULL, cap > 0) gets the kernel's path of the mapped file
 * ("" for none; " (deleted)" and other decorations are left as the kernel wrote them).
 * Returns 0, -ENOENT when nothing is mapped there, or -errno. Opens the maps file if needed. */
int ec_maps_query(struct ec_maps *m, uintptr_t addr, struct ec_vma *vma, char *name, size_t cap);

/* Forces text parsing (tests: compare both ways; kernels before 6.11 do this on their own). */
void ec_maps_force_text(struct ec_maps *m, int on);


/* AT_SYSINFO_EHDR (the vDSO's ELF header), 0 when there is none or it cannot be read. */
uintptr_t ec_vdso_base(void);
/* Is the object loaded at l_addr, its dynamic section at l_ld, one the kernel mapped itself: the
 * program it executed (main_head: the first object of the main namespace, unless ld.so was run as
 * the program), its interpreter, or the vDSO? Decided from the auxiliary vector and the images in
 * memory, without /proc: both addresses must be the image's own. The first two passed execve's own
 * permission check - the rule AT_EXECVE_CHECK applies - and the vDSO is the kernel's. */
int ec_mapped_by_kernel(uintptr_t l_addr, uintptr_t l_ld, int main_head);

/* Is (dev, ino) a file the kernel itself opened for execve() - the program or its interpreter?
 * Learned from the mappings at AT_PHDR and AT_BASE on the first call: make that call before
 * untrusted code could remap those addresses (the audit face's first callback is). */
int ec_mapped_is_execd(struct ec_maps *m, uint64_t dev, uint64_t ino);

/* What a loaded object turned out to be. */
enum ec_mapped_what {
    EC_MAPPED_FILE = 0,  /* a file, checked (or found in the verdict cache) */
    EC_MAPPED_VDSO,      /* an address in the kernel's vDSO: denied (mismatch; the vDSO object is
                          * known by ec_mapped_by_kernel) */
    EC_MAPPED_EXE,       /* the program or its interpreter, inodes the kernel executed: allowed */
    EC_MAPPED_UNKNOWN,   /* nothing identifiable is mapped at the address: denied (mismatch) */
};

struct ec_mapped {
    int what;             /* enum ec_mapped_what */
    int via_maps_name;    /* 1: the file was opened by the kernel's name of the mapping */
    int cached;           /* 1: the verdict came from the verdict cache (no new check) */
    struct ec_vma vma;
    /* the checks' statx buffer, in the caller's memory rather than on the stack: the faces keep
     * theirs off the program's stack (la_objopen runs deep in ld.so's mapping of an object) */
    struct ec_statx st;
    char path[1024];      /* the name the verdict is about (for messages and records); keep last */
};

/* flags */
#define EC_MAPPED_USE_CACHE 2 /* consult and fill the verdict cache (vcache.h) */
#define EC_MAPPED_UNRELOCATED 4 /* the object is not relocated yet (la_objopen): see mapped.c "the bytes" */

/* Decides on the object that has `addr` inside a file mapping (l_ld) and that the loader calls
 * `name` (l_name, may be "" or NULL). Opens `name`; if it is not the mapped (dev, ino), opens the
 * kernel's name of the mapping instead (the file may have been renamed since it was mapped);
 * if neither is the mapped file, the verdict is denied with EC_REASON_MISMATCH.
 * Fills *v and *out; returns 1 allowed, 0 denied. Leaves no fd open. */
int ec_mapped_check(struct ec_maps *m, const void *addr, const char *name, int flags, struct ec_verdict *v,
                    struct ec_mapped *out);
/* ec_mapped_check of a loaded object (load address l_addr, dynamic section l_ld, l_name name), which
 * must also be the ELF image of the file found: ld.so takes every tag, and every offset it adds
 * l_addr to, from l_ld, which an object's own program headers may place anywhere - in another
 * file's mapping (data of the program or of a library holding 48 chosen bytes), whose file then
 * passed for the object's while its DT_INIT ran the object's own code. The header at the start of
 * that file's mapping must place l_ld there for that l_addr too; then every tag and every offset
 * ld.so uses is that file's. Otherwise denied as `mismatch`. */
int ec_mapped_check_object(struct ec_maps *m, uintptr_t l_addr, const void *l_ld, const char *name, int flags,
                           struct ec_verdict *v, struct ec_mapped *out);
/* 1 when name, opened now (a relative one from the current directory), is the file mapped at vma
 * (on overlayfs: the file whose layer inode vma shows); 0 otherwise. Leaves no fd open. */
int ec_mapped_name_leads_to(struct ec_maps *m, const char *name, const struct ec_vma *vma);

#endif

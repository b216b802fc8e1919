/* Which file is mapped at an address (see mapped.h). */
#include "mapped.h"
#include "auxv.h"
#include "reason.h"
#include "scratch.h"
#include "sys.h"
#include "text.h"
#include "vcache.h"

/* ioctl(PROCMAP_QUERY) on /proc/PID/maps, Linux 6.11 (include/uapi/linux/fs.h). */
struct ec_procmap_query {
    uint64_t size, query_flags, query_addr;
    uint64_t vma_start, vma_end, vma_flags, vma_page_size, vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
};
#define EC_PROCMAP_QUERY 0xc0686611ul /* _IOWR('f', 17, struct procmap_query), 104 bytes */
#define EC_ENOTTY 25
#define EC_PATH_MAX 4096

/* Is m->fd still the maps file this struct opened? Out of line, as each statx buffer below: a
 * buffer inlined into a caller would deepen the stack of every query (see la_objopen). */
static __attribute__((noinline)) int still_ours(const struct ec_maps *m)
{
    struct ec_statx st;
    return ec_statx(m->fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) == 0 && st.stx_ino == m->ino &&
           ec_makedev(st.stx_dev_major, st.stx_dev_minor) == m->dev;
}

/* ---- has this process forked since? ----
 * After fork() an inherited maps fd still shows the parent's memory, so a query must know whether
 * this is still the process that opened it. getpid() tells, for a system call. A page marked
 * MADV_WIPEONFORK reads as zeros in a child made by fork(), so a nonzero epoch written there is
 * gone in the child: comparing it is a memory read. But the page (mmap, madvise, its first touch,
 * its teardown at exit) costs a process 8-15 us here, dozens of getpid() calls, more than a
 * short-lived process ever asks: the first EC_GETPID_LOOKS looks ask getpid(), and only a process
 * that goes on asking gets the page. (vfork and CLONE_VM children share our memory and the fd sees
 * that same memory: nothing to redo.) Without the page (kernel < 4.14, no memory) getpid()
 * decides throughout. */
#define EC_MADV_WIPEONFORK 18
#define EC_GETPID_LOOKS 16
static ec_atomic_u64 *volatile fork_page;
static uint64_t epochs;          /* ordinary memory: a child continues its parent's count */
static unsigned looks;           /* looks answered by getpid() so far */
static int fork_page_failed;

/* This process's fork epoch, or 0: ask getpid() instead. */
static uint64_t fork_epoch(void)
{
    ec_atomic_u64 *page = fork_page;
    uint64_t e;
    if (!page) {
        ec_atomic_u64 *fresh;
        if (__atomic_load_n(&fork_page_failed, __ATOMIC_RELAXED)) return 0;
        if (__atomic_fetch_add(&looks, 1, __ATOMIC_RELAXED) < EC_GETPID_LOOKS) return 0;
        /* populated now: a read then a write of a new page would be two page faults */
        fresh = ec_mmap(0, 4096, EC_PROT_READ | EC_PROT_WRITE, EC_MAP_PRIVATE | EC_MAP_ANONYMOUS | EC_MAP_POPULATE, -1, 0);
        if (ec_mmap_failed(fresh)) {
            __atomic_store_n(&fork_page_failed, 1, __ATOMIC_RELAXED);
            return 0;
        }
        if (ec_sys3(EC_NR_madvise, fresh, 4096, EC_MADV_WIPEONFORK) < 0) {
            ec_munmap(fresh, 4096);
            __atomic_store_n(&fork_page_failed, 1, __ATOMIC_RELAXED);
            return 0;
        }
        page = 0;
        if (!__atomic_compare_exchange_n(&fork_page, &page, fresh, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
            ec_munmap(fresh, 4096); /* another thread made one first: use it */
        else
            page = fresh;
    }
    e = __atomic_load_n(page, __ATOMIC_ACQUIRE);
    if (!e) { /* a new page, or the first look after fork(): a new epoch */
        uint64_t mine = __atomic_add_fetch(&epochs, 1, __ATOMIC_RELAXED), zero = 0;
        e = __atomic_compare_exchange_n(page, &zero, mine, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE) ? mine : zero;
    }
    return e;
}

/* Was m->fd opened by this process (not inherited through fork)? */
static int opened_here(struct ec_maps *m)
{
    if (m->epoch) return m->epoch == fork_epoch();
    if (m->pid != ec_getpid()) return 0;
    m->epoch = fork_epoch(); /* this process, so its epoch from now on: once the page is made, no more getpid() */
    return 1;
}

/* Out of line: the usual call finds the fd open, and is made deep in glibc's mapping of an object
 * (la_objopen), where the statx buffer below would deepen the program's stack for nothing. */
static __attribute__((noinline)) int maps_open_fresh(struct ec_maps *m)
{
    struct ec_statx st;
    uint64_t epoch;
    int fd = ec_openat(EC_AT_FDCWD, "/proc/self/maps", EC_O_RDONLY | EC_O_CLOEXEC, 0);
    if (fd < 0) return fd;
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) < 0) {
        ec_close(fd);
        return -EC_EIO;
    }
    epoch = fork_epoch();
    m->fd = fd;
    m->pid = epoch ? 0 : ec_getpid();
    m->epoch = epoch;
    m->dev = ec_makedev(st.stx_dev_major, st.stx_dev_minor);
    m->ino = st.stx_ino;
    return 0;
}

int ec_maps_open(struct ec_maps *m)
{
    if (m->fd >= 0) {
        if (opened_here(m)) return 0; /* ec_maps_query notices an fd that is no longer ours */
        /* after fork the inherited fd still shows the parent's memory: drop this copy of it */
        if (still_ours(m)) ec_close(m->fd);
        m->fd = -1;
    }
    return maps_open_fresh(m);
}

void ec_maps_close(struct ec_maps *m)
{
    if (m->fd >= 0 && still_ours(m)) ec_close(m->fd);
    m->fd = -1;
}

void ec_maps_revalidate(struct ec_maps *m)
{
    if (m->fd >= 0 && !still_ours(m)) m->fd = -1;
}

void ec_maps_force_text(struct ec_maps *m, int on) { m->text = on; }

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Parses hex digits at *p; advances *p. */
static uint64_t parse_hex(const char **p)
{
    uint64_t v = 0;
    int d;
    while ((d = hexval(**p)) >= 0) v = v * 16 + (uint64_t)d, (*p)++;
    return v;
}

static uint64_t parse_dec(const char **p)
{
    uint64_t v = 0;
    while (**p >= '0' && **p <= '9') v = v * 10 + (uint64_t)(**p - '0'), (*p)++;
    return v;
}

/* One line of /proc/self/maps: "start-end perms offset maj:min inode   path".
 * Returns 1 and fills vma/name when the line covers addr (next: or is a file's, above addr). */
static int parse_line(const char *s, uintptr_t addr, int next, struct ec_vma *vma, char *name, size_t cap)
{
    const char *p = s;
    uint64_t start, end, major, minor;
    start = parse_hex(&p);
    if (*p++ != '-') return 0;
    end = parse_hex(&p);
    if ((!next && addr < start) || addr >= end) return 0;
    vma->start = start;
    vma->end = end;
    while (*p == ' ') p++;
    vma->prot = 0; /* perms: "rwxp" or "rw-s" */
    if (p[0] == 'r') vma->prot |= EC_VMA_READ;
    if (p[0] && p[1] == 'w') vma->prot |= EC_VMA_WRITE;
    if (p[0] && p[1] && p[2] == 'x') vma->prot |= EC_VMA_EXEC;
    if (p[0] && p[1] && p[2] && p[3] == 's') vma->prot |= EC_VMA_SHARED;
    while (*p && *p != ' ') p++;
    while (*p == ' ') p++;
    vma->offset = parse_hex(&p);
    while (*p == ' ') p++;
    major = parse_hex(&p);
    if (*p == ':') p++;
    minor = parse_hex(&p);
    vma->dev = ec_makedev((uint32_t)major, (uint32_t)minor);
    while (*p == ' ') p++;
    vma->ino = parse_dec(&p);
    if (next && !vma->ino) return 0;
    while (*p == ' ') p++;
    if (name && cap) {
        /* the kernel writes '\n' in a name as "\012" (mangle_path); undo only that */
        size_t n = 0;
        while (*p && n + 1 < cap) {
            if (p[0] == '\\' && p[1] == '0' && p[2] == '1' && p[3] == '2') {
                name[n++] = '\n';
                p += 4;
            } else
                name[n++] = *p++;
        }
        name[n] = 0;
    }
    return 1;
}

/* The text is read from a descriptor of its own, opened for this query: qemu-user makes the
 * guest's /proc/self/maps at open() time, so m->fd read again from its start would show the
 * memory of when it was opened, without the objects ld.so mapped since. Its 6 KiB of buffers are
 * off the stack (scratch.h): ec_maps_query() runs in every la_objopen, deep in glibc's dlopen. */
#define TEXT_BUF 2048
#define TEXT_LINE (EC_PATH_MAX + 128)
static __attribute__((noinline)) int query_text(uintptr_t addr, int next, struct ec_vma *vma, char *name, size_t cap)
{
    struct ec_scratch s;
    char *buf = ec_scratch_take(&s, TEXT_BUF + TEXT_LINE), *line;
    size_t len = 0;
    long n = 0, i;
    int fd, r = -EC_ENOENT;
    if (!buf) return -EC_ENOMEM;
    line = buf + TEXT_BUF;
    if ((fd = ec_openat(EC_AT_FDCWD, "/proc/self/maps", EC_O_RDONLY | EC_O_CLOEXEC, 0)) < 0) {
        ec_scratch_give(&s);
        return fd;
    }
    while (r == -EC_ENOENT && (n = ec_read(fd, buf, TEXT_BUF)) > 0) {
        for (i = 0; i < n; i++) {
            if (buf[i] != '\n') {
                if (len + 1 < TEXT_LINE) line[len++] = buf[i]; /* an overlong name is cut */
                continue;
            }
            line[len] = 0;
            len = 0;
            if (parse_line(line, addr, next, vma, name, cap)) {
                r = 0;
                break;
            }
        }
    }
    if (r == -EC_ENOENT && n < 0) r = (int)n;
    ec_close(fd);
    ec_scratch_give(&s);
    return r;
}

#define EC_PROCMAP_QUERY_NEXT_FILE 0x30 /* PROCMAP_QUERY_COVERING_OR_NEXT_VMA | PROCMAP_QUERY_FILE_BACKED_VMA */

/* ec_maps_query on m->fd as it is: opened by this process a moment ago (ec_maps_open). next: the
 * first file mapping that ends above addr instead. */
static int query_open(struct ec_maps *m, uintptr_t addr, int next, struct ec_vma *vma, char *name, size_t cap)
{
    struct ec_procmap_query q;
    long r;
    int o;
    if (name && cap) name[0] = 0;
    if (!m->text) {
        ec_memset(&q, 0, sizeof q);
        q.size = sizeof q;
        q.query_addr = addr; /* flags 0: the VMA that covers addr, or ENOENT */
        if (next) q.query_flags = EC_PROCMAP_QUERY_NEXT_FILE;
        if (name && cap) {
            q.vma_name_addr = (uint64_t)(uintptr_t)name;
            q.vma_name_size = (uint32_t)(cap > 0xffffffffu ? 0xffffffffu : cap);
        }
        r = ec_sys3(EC_NR_ioctl, m->fd, EC_PROCMAP_QUERY, &q);
        if (r < 0 && r != -EC_ENOENT && !still_ours(m)) {
            /* Code that ran since we opened it (an IFUNC resolver) closed our fd and the number
             * now names something else: only procfs maps files answer PROCMAP_QUERY, so a
             * success above was still a maps file; reopen and ask again. */
            m->fd = -1;
            if ((o = ec_maps_open(m)) < 0) return o;
            r = ec_sys3(EC_NR_ioctl, m->fd, EC_PROCMAP_QUERY, &q);
        }
        if (r == 0) {
            vma->start = q.vma_start;
            vma->end = q.vma_end;
            vma->offset = q.vma_offset;
            vma->ino = q.inode;
            vma->dev = ec_makedev(q.dev_major, q.dev_minor);
            vma->prot = (uint32_t)q.vma_flags & 15u; /* PROCMAP_QUERY_VMA_READABLE... */
            return 0;
        }
        if (r != -EC_ENOTTY && r != -EC_EINVAL && r != -EC_ENOSYS) return (int)r;
        m->text = 1; /* kernel before 6.11, or an emulator without the ioctl (qemu-user: ENOSYS) */
    }
    return query_text(addr, next, vma, name, cap);
}

int ec_maps_query(struct ec_maps *m, uintptr_t addr, struct ec_vma *vma, char *name, size_t cap)
{
    int o = ec_maps_open(m);
    return o < 0 ? o : query_open(m, addr, 0, vma, name, cap);
}

uintptr_t ec_vdso_base(void)
{
    unsigned long v = 0;
    return ec_auxv_get(EC_AT_SYSINFO_EHDR, &v) == 1 ? v : 0;
}

/* The inodes the kernel itself opened for execve(): the program (its headers are at AT_PHDR)
 * and its interpreter (loaded at AT_BASE; 0 when ld.so was run directly, being the program).
 * The kernel checked both as executables then. Taken from the maps at the first call, which
 * for the audit face is before any code of the process has run; later calls reuse it. */
static struct { int state; uint64_t dev[2], ino[2]; } execd;

/* The mapping at addr (vma), if its (dev, ino) names one file: the one its kernel name leads to, by
 * that file's own statx, on a filesystem whose inode numbers are its own. Not on btrfs (each
 * subvolume numbers its inodes afresh and mappings show the whole filesystem's device: a file of
 * another subvolume with the same number would pass for the program), nor on an overlay over it,
 * nor where mappings show a layer's inode. There the program is checked as any object. */
static __attribute__((noinline)) int named_mapping(struct ec_maps *m, uintptr_t addr, struct ec_vma *vma)
{
    struct ec_statx st;
    struct ec_scratch s;
    char *kname = ec_scratch_take(&s, EC_PATH_MAX);
    int same = kname && ec_maps_query(m, addr, vma, kname, EC_PATH_MAX) == 0 && kname[0] == '/' &&
               ec_statx(EC_AT_FDCWD, kname, 0, EC_STATX_KEY, &st) == 0 && st.stx_ino == vma->ino &&
               ec_makedev(st.stx_dev_major, st.stx_dev_minor) == vma->dev && !EC_STX_NUMBERS_SHARED(&st);
    if (kname) ec_scratch_give(&s);
    return same;
}

static void learn_execd(struct ec_maps *m)
{
    unsigned long addr[2] = {0, 0};
    struct ec_vma vma;
    int i;
    ec_auxv_get(EC_AT_PHDR, &addr[0]);
    ec_auxv_get(EC_AT_BASE, &addr[1]);
    for (i = 0; i < 2; i++) {
        execd.dev[i] = execd.ino[i] = 0;
        if (addr[i] && named_mapping(m, addr[i], &vma)) {
            execd.dev[i] = vma.dev;
            execd.ino[i] = vma.ino;
        }
    }
    execd.state = 1;
}

/* The ELF header and program header fields read here, of this process's own class. */
#if defined(__i386__)
typedef struct {
    unsigned char e_ident[16];
    uint16_t e_type, e_machine;
    uint32_t e_version, e_entry, e_phoff, e_shoff, e_flags;
    uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
} ElfW_Ehdr;
typedef struct {
    uint32_t p_type, p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_flags, p_align;
} ElfW_Phdr;
#else
typedef struct {
    unsigned char e_ident[16];
    uint16_t e_type, e_machine;
    uint32_t e_version;
    uint64_t e_entry, e_phoff, e_shoff;
    uint32_t e_flags;
    uint16_t e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx;
} ElfW_Ehdr;
typedef struct {
    uint32_t p_type, p_flags;
    uint64_t p_offset, p_vaddr, p_paddr, p_filesz, p_memsz, p_align;
} ElfW_Phdr;
#endif

/* This system's page size (4 KiB if the vector will not tell). */
static uintptr_t page_size(void)
{
    unsigned long page = 0;
    return ec_auxv_get(EC_AT_PAGESZ, &page) == 1 && page >= 4096 && !(page & (page - 1)) ? page : 4096;
}

/* Is the object (load address l_addr, dynamic section l_ld) the ELF image the kernel mapped at base
 * (its header is there)? Read from memory: the header and program headers of an image the kernel
 * put in place, never a file. Both must be the image's own: any object's PT_DYNAMIC can point into
 * the image, but ld.so takes the offsets its tags hold from the object's l_addr - into the object's
 * file, when that is not the image's load address. */
static int is_image(uintptr_t base, uintptr_t l_addr, uintptr_t l_ld)
{
    const unsigned char *ident = (const unsigned char *)base;
    const ElfW_Ehdr *eh = (const ElfW_Ehdr *)base;
    const ElfW_Phdr *ph;
    uintptr_t bias;
    int i, first = -1, dyn = -1;
    if (!base || ident[0] != 0x7f || ident[1] != 'E' || ident[2] != 'L' || ident[3] != 'F' ||
        eh->e_phentsize != sizeof *ph || !eh->e_phnum || eh->e_phnum > 64)
        return 0;
    ph = (const ElfW_Phdr *)(base + (uintptr_t)eh->e_phoff);
    for (i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == 1 /* PT_LOAD */ && first < 0) first = i;
        if (ph[i].p_type == 2 /* PT_DYNAMIC */) dyn = i;
    }
    if (first < 0 || dyn < 0) return 0;
    /* ld.so maps the first segment from its page's start: from offset 0, the header, also when the
     * segment itself starts after it (ld -N, -n: p_offset 0x158). It requires p_vaddr - p_offset to
     * be a multiple of the page size, so that is where offset 0 lies. */
    if (ph[first].p_offset && (ph[first].p_offset >= page_size() || (ph[first].p_vaddr - ph[first].p_offset) % page_size()))
        return 0; /* the header is not where the image starts */
    bias = base - (ph[first].p_vaddr - ph[first].p_offset);
    return l_addr == bias && l_ld == bias + ph[dyn].p_vaddr;
}

/* The image of a file whose mapping starts at vma (offset 0, readable): its program headers must
 * lie in that mapping before is_image reads them - any file can be mapped there. */
static int file_image(const struct ec_vma *vma, uintptr_t l_addr, uintptr_t l_ld)
{
    const ElfW_Ehdr *eh = (const ElfW_Ehdr *)(uintptr_t)vma->start;
    uint64_t size = vma->end - vma->start;
    if (vma->offset || !(vma->prot & EC_VMA_READ) || size < sizeof *eh) return 0;
    if (eh->e_phoff >= size || (uint64_t)eh->e_phnum * sizeof(ElfW_Phdr) > size - eh->e_phoff) return 0;
    return is_image((uintptr_t)vma->start, l_addr, l_ld);
}

/* Is the object (l_addr, l_ld) the ELF image of the file mapped at l_ld (vma)? See mapped.h. */
static __attribute__((noinline)) int own_image(struct ec_maps *m, uintptr_t l_addr, uintptr_t l_ld, const struct ec_vma *vma)
{
    struct ec_vma v;
    uintptr_t below;
    int i;
    /* the maps fd ec_mapped_check asked (no fork can have come between, so no getpid() again),
     * or a new one if it gave that back for the file's own descriptor (check_if_same) */
    if (m->fd < 0) maps_open_fresh(m);
    /* the usual object: its header where l_addr points, one query */
    if (m->fd >= 0 && query_open(m, l_addr, 0, &v, 0, 0) == 0 && v.start == l_addr && v.ino == vma->ino &&
        v.dev == vma->dev && file_image(&v, l_addr, l_ld))
        return 1;
    /* else the file's mappings below l_ld, down to a header of this file that places l_ld so */
    v = *vma;
    for (i = 0; i < 64; i++) {
        if (file_image(&v, l_addr, l_ld)) return 1;
        below = (uintptr_t)v.start;
        if (!below || m->fd < 0 || query_open(m, below - 1, 0, &v, 0, 0) < 0 || v.end != below || v.ino != vma->ino ||
            v.dev != vma->dev)
            break;
    }
    /* else the file's mappings up from l_addr: ld.so maps an ET_EXEC's segments one by one, so a
     * non-PIE program (l_addr 0) linked for 2 MiB pages has unmapped gaps below its dynamic section */
    for (i = 0, below = l_addr; i < 64 && m->fd >= 0 && query_open(m, below, 1, &v, 0, 0) == 0 && v.start <= l_ld; i++) {
        if (v.ino == vma->ino && v.dev == vma->dev && file_image(&v, l_addr, l_ld)) return 1;
        below = (uintptr_t)v.end;
    }
    return 0;
}

int ec_mapped_by_kernel(uintptr_t l_addr, uintptr_t l_ld, int main_head)
{
    unsigned long interp = 0;
    int direct = ec_auxv_get(EC_AT_BASE, &interp) != 1 || !interp; /* ld.so ran as the program */
    if (main_head && !direct) return 1;
    return (!direct && is_image(interp, l_addr, l_ld)) || is_image(ec_vdso_base(), l_addr, l_ld);
}

int ec_mapped_is_execd(struct ec_maps *m, uint64_t dev, uint64_t ino)
{
    if (!execd.state) learn_execd(m);
    return ino && ((execd.ino[0] == ino && execd.dev[0] == dev) || (execd.ino[1] == ino && execd.dev[1] == dev));
}

static void deny(struct ec_verdict *v, const struct ec_vma *vma, int reason, int err)
{
    ec_memset(v, 0, sizeof *v);
    v->dev = vma->dev;
    v->ino = vma->ino;
    v->reason = reason;
    v->err = err;
}

/* Is the file open as fd (O_PATH) the one behind the mapping, although stat says another (dev,
 * ino)? That is how a stacking filesystem looks: on overlayfs (every container root) the maps
 * report the backing file of the lower or upper layer, stat the overlay's own inode. Map the first
 * page of the same file read-only and ask the kernel what backs that mapping: both answers then
 * come from the same translation. */
static int map_files_stat(const struct ec_vma *vma, struct ec_statx *out);

/* What the kernel reports for a mapping of the file open (readable) as rfd: map its first page
 * read-only and ask. Returns 0 with *out filled, or -1. held: if not 0, the statx of the file that
 * mapping holds, by map_files (root), or held->stx_mask 0 when this process cannot tell. */
static int backing_of(struct ec_maps *m, int rfd, struct ec_vma *out, struct ec_statx *held)
{
    void *p = ec_mmap(0, 4096, EC_PROT_READ, EC_MAP_PRIVATE, rfd, 0);
    int r;
    if (ec_mmap_failed(p)) return -1;
    r = ec_maps_query(m, (uintptr_t)p, out, 0, 0);
    if (r == 0 && held && map_files_stat(out, held) < 0) held->stx_mask = 0;
    ec_munmap(p, 4096);
    return r == 0 ? 0 : -1;
}

/* This very file, reopened for reading (an O_PATH fd cannot be mapped). */
static int reopen_readable(int fd)
{
    char self_fd[32];
    struct ec_buf b;
    ec_buf_init(&b, self_fd, sizeof self_fd);
    ec_buf_puts(&b, "/proc/self/fd/");
    ec_buf_putu(&b, (unsigned)fd);
    return ec_openat(EC_AT_FDCWD, self_fd, EC_O_RDONLY | EC_O_CLOEXEC | EC_O_NOCTTY | EC_O_NONBLOCK, 0);
}

static int backs_mapping(struct ec_maps *m, int fd, const struct ec_vma *vma)
{
    struct ec_vma mine;
    int same = 0, rfd = reopen_readable(fd);
    if (rfd < 0) return 0;
    if (backing_of(m, rfd, &mine, 0) == 0) same = mine.ino == vma->ino && mine.dev == vma->dev;
    ec_close(rfd);
    return same;
}

/* ---- the file behind a mapping, where the kernel lets this process open it ----
 * /proc/self/map_files/START-END leads to the very file a mapping holds (its struct file: ld.so's
 * descriptor's), for a process with CAP_CHECKPOINT_RESTORE or CAP_SYS_ADMIN (root): its statx is
 * that file's own (dev, ino), the subvolume's on btrfs, exact without reading a byte. Others get
 * EPERM, once per process: the bytes decide (same_range). */
static int map_files_denied;

/* The statx of the file mapped at vma, by the kernel: 0, or -1 when this process cannot tell. */
static __attribute__((noinline)) int map_files_stat(const struct ec_vma *vma, struct ec_statx *out)
{
    char path[64];
    struct ec_buf b;
    int r;
    if (__atomic_load_n(&map_files_denied, __ATOMIC_RELAXED)) return -1;
    ec_buf_init(&b, path, sizeof path);
    ec_buf_puts(&b, "/proc/self/map_files/");
    ec_buf_putx(&b, vma->start);
    ec_buf_putc(&b, '-');
    ec_buf_putx(&b, vma->end);
    /* the link followed by statx itself: no descriptor to open and close */
    r = ec_statx(EC_AT_FDCWD, path, 0, EC_STATX_BASIC_STATS, out);
    if (r == -EC_EPERM) __atomic_store_n(&map_files_denied, 1, __ATOMIC_RELAXED);
    return r == 0 ? 0 : -1;
}

/* 1: the file mapped at vma is the one whose statx is want; 0: it is another; -1: cannot tell. */
static int mapping_is(const struct ec_vma *vma, const struct ec_statx *want)
{
    struct ec_statx got;
    if (!want || map_files_stat(vma, &got) < 0) return -1;
    return got.stx_ino == want->stx_ino && got.stx_dev_major == want->stx_dev_major &&
           got.stx_dev_minor == want->stx_dev_minor;
}

/* ---- the bytes, where a mapping's (dev, ino) names more than one file ----
 * backs_mapping matches a file to a mapping through the kernel's translation of both to a (dev,
 * ino). On overlayfs that is the layer's inode, one file. On btrfs it is not: each subvolume numbers
 * its inodes from 256 on, and a mapping shows the filesystem's device, not the subvolume's, so a
 * file of another subvolume with the same number matches as well (any user can make a subvolume
 * and fill it up to a chosen number). There the object in memory must hold the bytes of the file
 * that is checked: each loaded segment compared with the file, as ld.so mapped it. */

/* The object being decided: its load address and dynamic section, and whether ld.so has relocated
 * it yet. */
struct image_ref {
    uintptr_t l_addr, l_ld;
    int unrelocated; /* la_objopen: only the dynamic section's pointers were adjusted */
};

/* A proof in progress: the mapping's identity, the file to prove it holds (read with pread, not
 * mapped: a mapping of it would raise SIGBUS in the program should the file be truncated meanwhile,
 * and costs page-table work a read does not), and the mapping last asked about (a segment's parts,
 * the dynamic section and what is around it, share one). buf: off the stack (scratch.h). */
#define PH_MAX 64
#define HEAD_BUF 4096           /* the ELF header and up to PH_MAX program headers */
#define FILE_BUF (12u << 10)    /* a multiple of a dynamic entry: none is split between reads */
struct proof {
    struct ec_maps *m;
    const struct ec_vma *id;
    const struct ec_statx *held; /* what map_files must show the mapping holds, or 0: cannot tell */
    int fd;
    uint64_t size;
    unsigned char *head, *buf;   /* HEAD_BUF, FILE_BUF */
    const unsigned char *whole;  /* a file that fits both is read at once, into head: or 0 */
    struct ec_vma last;
};

/* Dynamic tags whose value ld.so adds l_addr to in place, in a writable dynamic section, before
 * la_objopen (elf_get_dynamic_info). Every other entry must read as in the file. */
static int adjusted_tag(int64_t tag)
{
    return tag == 3 || tag == 4 || tag == 5 || tag == 6 || tag == 7 || tag == 17 || tag == 23 || tag == 36 ||
           tag == 0x6ffffef5 /* DT_GNU_HASH */ || tag == 0x6ffffff0 /* DT_VERSYM */;
}

/* Faults the pages of [at, at + len) in with one call (Linux 5.14), not one fault per 64 KiB: a
 * library's text is mostly untouched yet. Where the kernel cannot, the reads fault them. */
#define EC_MADV_POPULATE_READ 22
static void populate(uintptr_t at, uint64_t len)
{
    uintptr_t page = page_size(), start = at & ~(page - 1);
    if (len >= 4 * page) ec_sys3(EC_NR_madvise, (long)start, (long)(at + len - start), EC_MADV_POPULATE_READ);
}

/* The mapping at mem, which must be the identity's, readable, with mem at file offset off: nothing
 * is read that is not mapped from that file at that very place. 1 with *v filled, or 0. */
static int mapped_here(struct proof *p, uintptr_t mem, uint64_t off, struct ec_vma *v)
{
    if (!(p->last.ino && mem >= p->last.start && mem < p->last.end) && ec_maps_query(p->m, mem, &p->last, 0, 0) < 0) {
        p->last.ino = 0;
        return 0;
    }
    *v = p->last;
    return v->dev == p->id->dev && v->ino == p->id->ino && (v->prot & EC_VMA_READ) && v->offset + (mem - v->start) == off;
}

/* Do the dynamic entries at a hold the file's b (n bytes), but for ld.so's own adjustments? */
static int same_dynamic(const uintptr_t *a, const uintptr_t *b, uint64_t n, uintptr_t l_addr)
{
    uint64_t i;
    for (i = 0; i < n / sizeof(uintptr_t); i += 2)
        if (a[i] != b[i] || (a[i + 1] != b[i + 1] && b[i] != 21 /* DT_DEBUG: ld.so's r_debug */ &&
                             !(adjusted_tag((int64_t)(intptr_t)b[i]) && a[i + 1] == b[i + 1] + l_addr)))
            return 0;
    return 1;
}

/* Do len bytes at mem hold the file's bytes at off? Read a buffer at a time. */
static int same_as_read(struct proof *p, uintptr_t mem, uint64_t off, uint64_t len, int dyn, uintptr_t l_addr)
{
    if (p->whole) /* same_range and same_segments keep off + len within the file's size */
        return dyn ? same_dynamic((const uintptr_t *)mem, (const uintptr_t *)(p->whole + off), len, l_addr)
                   : ec_memeq((const void *)mem, p->whole + off, (size_t)len);
    while (len) {
        uint64_t n = len < FILE_BUF ? len : FILE_BUF;
        if (off > (~0ul >> 1) - n || ec_pread(p->fd, p->buf, (size_t)n, (long)off) != (long)n) return 0;
        if (dyn ? !same_dynamic((const uintptr_t *)mem, (const uintptr_t *)p->buf, n, l_addr)
                : !ec_memeq((const void *)mem, p->buf, (size_t)n))
            return 0;
        mem += n;
        off += n;
        len -= n;
    }
    return 1;
}

/* Do len bytes at mem hold the file's bytes at off, every part mapped from the identity's file at
 * that very offset? dyn: the range is a dynamic section, its entries compared tag by tag. */
static int same_range(struct proof *p, uintptr_t mem, uint64_t off, uint64_t len, int dyn, uintptr_t l_addr)
{
    struct ec_vma v;
    if (dyn && len % (2 * sizeof(uintptr_t))) return 0;
    while (len) {
        uint64_t chunk;
        int known;
        if (!mapped_here(p, mem, off, &v)) return 0;
        chunk = v.end - mem < len ? v.end - mem : len;
        /* the kernel says which file (no byte to read) for ~10 us an open: worth it from 128 KiB */
        if (chunk >= (128 << 10) && (known = mapping_is(&v, p->held)) >= 0) {
            if (!known) return 0;
        } else { /* entries never straddle a mapping's end: those are page-aligned, entries not split */
            populate(mem, chunk);
            if (!same_as_read(p, mem, off, chunk, dyn, l_addr)) return 0;
        }
        mem += chunk;
        off += chunk;
        len -= chunk;
    }
    return 1;
}

/* Is all of [mem, mem + len) mapped from the very file held, as map_files tells (root)? 1, 0, or
 * -1: this process cannot tell. For what ld.so has written to, which no byte compare can prove. */
static int held_range(struct proof *p, uintptr_t mem, uint64_t off, uint64_t len)
{
    struct ec_vma v;
    while (len) {
        uint64_t chunk;
        int known;
        if (!mapped_here(p, mem, off, &v)) return 0;
        if ((known = mapping_is(&v, p->held)) <= 0) return known;
        chunk = v.end - mem < len ? v.end - mem : len;
        mem += chunk;
        off += chunk;
        len -= chunk;
    }
    return 1;
}

/* The file's ELF header and program headers, in p->head. Returns the headers or 0. */
static const ElfW_Phdr *read_headers(struct proof *p, const ElfW_Ehdr **ehp)
{
    const ElfW_Ehdr *eh = (const ElfW_Ehdr *)p->head;
    uint64_t want = p->whole ? p->size : p->size < HEAD_BUF ? p->size : HEAD_BUF, phsize;
    if (want < sizeof *eh || (!p->whole && ec_pread(p->fd, p->head, (size_t)want, 0) != (long)want) ||
        ec_memcmp(eh->e_ident, "\177ELF", 4) || eh->e_phentsize != sizeof(ElfW_Phdr) || !eh->e_phnum ||
        eh->e_phnum > PH_MAX)
        return 0;
    phsize = (uint64_t)eh->e_phnum * sizeof(ElfW_Phdr);
    if (eh->e_phoff > p->size || phsize > p->size - eh->e_phoff) return 0;
    *ehp = eh;
    if ((eh->e_phoff >= sizeof *eh || p->whole) && eh->e_phoff + phsize <= want)
        return (const ElfW_Phdr *)(p->head + eh->e_phoff);
    /* elsewhere in the file: after the header, in the same buffer */
    if (ec_pread(p->fd, p->head + sizeof *eh, (size_t)phsize, (long)eh->e_phoff) != (long)phsize) return 0;
    return (const ElfW_Phdr *)(p->head + sizeof *eh);
}

/* Does the object img hold the file in each of its segments? Relocated, only segments ld.so left as
 * they were can be compared: the code and read-only data, and the dynamic section's tags; what it
 * wrote to, only map_files can prove (root), otherwise that part is taken as the file's. */
static int same_segments(struct proof *p, const struct image_ref *img)
{
    const ElfW_Ehdr *eh;
    const ElfW_Phdr *ph = read_headers(p, &eh), *dyn = 0;
    uint64_t d0, d1;
    int i, loads = 0;
    if (!ph) return 0;
    for (i = 0; i < eh->e_phnum; i++)
        if (ph[i].p_type == 2 /* PT_DYNAMIC */) dyn = &ph[i];
    /* ld.so took every tag from the object's own program headers, which no segment need map (then
     * read from the file mapped, not this one): its dynamic section must be where this file's are */
    if (!dyn || img->l_ld != img->l_addr + (uintptr_t)dyn->p_vaddr) return 0;
    d0 = dyn->p_offset;
    d1 = d0 + dyn->p_filesz;
    if (d1 < d0 || d1 > p->size || !same_range(p, img->l_ld, d0, d1 - d0, 1, img->l_addr)) return 0;
    for (i = 0; i < eh->e_phnum; i++) {
        uint64_t o = ph[i].p_offset, n = ph[i].p_filesz, cut;
        uintptr_t at = img->l_addr + (uintptr_t)ph[i].p_vaddr;
        if (ph[i].p_type != 1 /* PT_LOAD */) continue;
        loads++;
        if (o > p->size || n > p->size - o) return 0;
        if (!n) continue;
        if ((ph[i].p_flags & 2 /* PF_W */) && !img->unrelocated) {
            if (!held_range(p, at, o, n)) return 0;
        } else if (d0 < o + n && d1 > o) { /* around the dynamic section, compared above */
            cut = d0 > o ? d0 - o : 0;
            if (!same_range(p, at, o, cut, 0, 0)) return 0;
            cut = d1 < o + n ? o + n - d1 : 0;
            if (!same_range(p, at + (uintptr_t)(n - cut), o + n - cut, cut, 0, 0)) return 0;
        } else if (!same_range(p, at, o, n, 0, 0))
            return 0;
    }
    return loads > 0;
}

/* Does memory hold the file where the mapping p->id is: the segments of the object img, or without
 * one the mapping itself (read-only)? */
static int same_bytes(struct proof *p, const struct image_ref *img)
{
    const struct ec_vma *vma = p->id;
    uint64_t n;
    if (img) return same_segments(p, img);
    if ((vma->prot & EC_VMA_WRITE) || vma->offset >= p->size) return 0;
    n = vma->end - vma->start < p->size - vma->offset ? vma->end - vma->start : p->size - vma->offset;
    return same_range(p, (uintptr_t)vma->start, vma->offset, n, 0, 0);
}

/* ---- is a file on overlayfs? ----
 * Remembered per device. No verdict is kept under the identity a mapping of an overlay file shows
 * where statx shows another: since Linux 6.8 that is the overlay inode's (file_user_inode), whose
 * number, on an overlay of layers on different filesystems (without xino), is the layer's own - a
 * file of each layer can have it (tests/test_fs_kinds.py, overlay-2fs). Where the two agree the
 * verdict cache finds the file by its own key. */
#define EC_OVERLAYFS_MAGIC 0x794c7630
static struct { uint64_t dev; int overlay; } fs_kinds[8];
static unsigned fs_next;

static int on_overlayfs(int fd, uint64_t dev)
{
    struct ec_statfs sf;
    int i, overlay;
    /* overlayfs has an anonymous device (major 0), as tmpfs and others: a disk's is not one */
    if (((dev >> 8) & 0xfff) | ((dev >> 32) & 0xfffff000u)) return 0;
    for (i = 0; i < 8; i++) /* racing threads can only cost a statfs or a needless map */
        if (fs_kinds[i].dev == dev + 1) return fs_kinds[i].overlay;
    overlay = ec_fstatfs(fd, &sf) == 0 && sf.f_type == EC_OVERLAYFS_MAGIC;
    i = (int)(fs_next++ % 8);
    fs_kinds[i].overlay = overlay;
    fs_kinds[i].dev = dev + 1;
    return overlay;
}

/* Is fd (O_PATH) the mapped file, by its own (dev, ino) or by the kernel's translation of both
 * (backs_mapping: overlayfs' layer inode, btrfs' filesystem device)? No proof (is_this_file). st:
 * its statx. */
static int is_mapped_file(struct ec_maps *m, int fd, const struct ec_vma *vma, struct ec_statx *st)
{
    ec_memset(st, 0, sizeof *st);
    return ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, st) == 0 &&
           ((st->stx_ino == vma->ino && ec_makedev(st->stx_dev_major, st->stx_dev_minor) == vma->dev) ||
            ((st->stx_mode & EC_S_IFMT) == EC_S_IFREG && backs_mapping(m, fd, vma)));
}

/* What the kernel reports for a mapping of a file of device dev (not on overlayfs), learnt from one
 * file: the same inode number under another device. btrfs shows the whole filesystem's device in
 * the maps and a subvolume's to statx: mapping a page of each candidate to ask costs a mapping, a
 * query and an unmapping per library. Only a filter before the bytes decide (is_this_file). */
static struct { uint64_t dev, mapped_dev; } translations[8];
static unsigned translation_next;

/* held: on overlayfs, what the file's mapping holds (its layer's file), as backing_of. */
static int translate(struct ec_maps *m, int rfd, const struct ec_statx *st, int overlay, struct ec_vma *out,
                     struct ec_statx *held)
{
    uint64_t dev = ec_makedev(st->stx_dev_major, st->stx_dev_minor);
    int i;
    if (!overlay) /* racing threads can only cost a probe */
        for (i = 0; i < 8; i++)
            if (translations[i].dev == dev + 1) {
                out->dev = translations[i].mapped_dev;
                out->ino = st->stx_ino;
                return 0;
            }
    if (backing_of(m, rfd, out, overlay ? held : 0) < 0) return -1;
    if (!overlay && out->ino == st->stx_ino) {
        i = (int)(translation_next++ % 8);
        translations[i].mapped_dev = out->dev;
        translations[i].dev = dev + 1;
    }
    return 0;
}

/* Is fd (O_PATH) the mapped file, known to be what the object img holds? By its own (dev, ino)
 * where that names one file; or where the kernel's translation of both matches (overlayfs, btrfs)
 * and memory holds its bytes (or map_files says so). st: its statx. */
static __attribute__((noinline)) int is_this_file(struct ec_maps *m, int fd, const struct ec_vma *vma,
                                                  struct ec_statx *st, const struct image_ref *img)
{
    struct ec_vma mine;
    struct ec_statx layer;
    struct ec_scratch s;
    struct proof p;
    int overlay, same = 0;
    ec_memset(st, 0, sizeof *st);
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, st)) return 0;
    if (st->stx_ino == vma->ino && ec_makedev(st->stx_dev_major, st->stx_dev_minor) == vma->dev &&
        !EC_STX_NUMBERS_SHARED(st))
        return 1;
    if ((st->stx_mode & EC_S_IFMT) != EC_S_IFREG || !st->stx_size) return 0;
    overlay = on_overlayfs(fd, ec_makedev(st->stx_dev_major, st->stx_dev_minor));
    if ((p.fd = reopen_readable(fd)) < 0) return 0;
    /* A match through the translation names no one file: since Linux 6.8 a mapping of an overlay
     * file shows the overlay's device with, over layers on different filesystems (no xino), the
     * layer's own inode number, which a file of another layer can have; btrfs shows one device for
     * all its subvolumes. Memory must hold this file's bytes, or map_files say it holds this file
     * (over overlayfs, the layer's file, which map_files of a mapping of it tells). */
    if (translate(m, p.fd, st, overlay, &mine, &layer) == 0 && mine.ino == vma->ino && mine.dev == vma->dev &&
        (p.head = ec_scratch_take(&s, HEAD_BUF + FILE_BUF))) {
        p.m = m;
        p.id = vma;
        p.held = !overlay ? st : layer.stx_mask ? &layer : 0;
        p.size = st->stx_size;
        p.buf = p.head + HEAD_BUF;
        p.last.ino = 0;
        /* a small library in one read, not one per segment */
        p.whole = p.size <= HEAD_BUF + FILE_BUF && ec_pread(p.fd, p.head, (size_t)p.size, 0) == (long)p.size ? p.head : 0;
        same = same_bytes(&p, img);
        ec_scratch_give(&s);
    }
    ec_close(p.fd);
    return same;
}

int ec_mapped_name_leads_to(struct ec_maps *m, const char *name, const struct ec_vma *vma)
{
    struct ec_statx st;
    int fd, same;
    if (!name || !name[0]) return 0;
    fd = ec_openat(EC_AT_FDCWD, name, EC_O_PATH | EC_O_CLOEXEC, 0);
    if (fd < 0) return 0;
    same = is_mapped_file(m, fd, vma, &st);
    ec_close(fd);
    return same;
}

/* Opens path O_PATH and, if it is the mapped file, checks it. Returns 1/0 (allowed/denied) when
 * it was the file, -1 when it could not be opened or is another file. */
static int check_if_same(struct ec_maps *m, const char *path, const struct ec_vma *vma, int flags,
                         struct ec_verdict *v, struct ec_mapped *out, const struct image_ref *img)
{
    struct ec_statx *st = &out->st;
    int fd, r = -1;
    if (!path || !path[0]) return -1;
    fd = ec_openat(EC_AT_FDCWD, path, EC_O_PATH | EC_O_CLOEXEC, 0);
    if ((fd == -EC_EMFILE || fd == -EC_ENFILE) && m->fd >= 0) {
        /* the maps fd took the last free descriptor (a process at its RLIMIT_NOFILE, which ld.so
         * alone loads from: one file open at a time): give it back, to be opened again after */
        ec_maps_close(m);
        fd = ec_openat(EC_AT_FDCWD, path, EC_O_PATH | EC_O_CLOEXEC, 0);
    }
    if (fd == -EC_EMFILE || fd == -EC_ENFILE || fd == -EC_ENOMEM) {
        /* no descriptor to be had (a process at its RLIMIT_NOFILE): the file cannot be checked,
         * by this name or another - an error, not a file that moved ("mismatch") */
        deny(v, vma, EC_REASON_ERROR, -fd);
        return 0;
    }
    if (fd < 0) return -1;
    if (is_this_file(m, fd, vma, st, img)) {
        if (flags & EC_MAPPED_USE_CACHE)
            r = ec_vcache_check_fd(fd, path, st, v, &out->cached);
        else
            r = ec_check_fd_stat(fd, path, st, v);
    }
    ec_close(fd);
    return r;
}

/* The name no longer leads to the mapped file (renamed, replaced, relative to an old cwd, or empty
 * for the main program): try the kernel's own path of the mapping. A file being renamed over and
 * over can move between that answer and the open: ask a few times. Its path buffer is off the
 * stack (scratch.h), which every check's would otherwise deepen by a page. */
static __attribute__((noinline)) int check_by_kernel_name(struct ec_maps *m, const void *addr, const char *name,
                                                          int flags, struct ec_verdict *v, struct ec_mapped *out,
                                                          const struct image_ref *img)
{
    struct ec_scratch s;
    char *kname = ec_scratch_take(&s, EC_PATH_MAX);
    int r, tries;
    if (!kname) {
        deny(v, &out->vma, EC_REASON_ERROR, EC_ENOMEM);
        return 0;
    }
    for (tries = 0; tries < 16; tries++) {
        /* its dentry may be deleted while the inode lives on under the loader's name again */
        if (tries && (r = check_if_same(m, name, &out->vma, flags, v, out, img)) >= 0) goto done;
        if (ec_maps_query(m, (uintptr_t)addr, &out->vma, kname, EC_PATH_MAX) < 0 || kname[0] != '/') continue;
        r = check_if_same(m, kname, &out->vma, flags, v, out, img);
        if (r >= 0) {
            out->via_maps_name = 1;
            ec_strlcpy(out->path, kname, sizeof out->path);
            goto done;
        }
        if (!out->path[0]) ec_strlcpy(out->path, kname, sizeof out->path);
    }
    deny(v, &out->vma, EC_REASON_MISMATCH, 0);
    r = 0;
done:
    ec_scratch_give(&s);
    return r;
}

/* The very inode the kernel says is mapped was checked a moment ago, on an fd, while ld.so
 * searched for it (this load operation) - if the loader's name for it still leads to the file that
 * was checked, by its whole key (the inode number alone could have been freed and handed to a new
 * file between that check and ld.so's own open; a chmod or a rewrite changes ctime); or, when the
 * name has moved on to another file (a package upgrade), if its checker still holds it (pins.h:
 * then no other file can have its number). One statx, no open: that verdict is about this file,
 * and no name needs to be opened again. */
static int cached_verdict(const char *name, const struct ec_vma *vma, struct ec_verdict *v, struct ec_statx *st)
{
    int named;
    ec_memset(st, 0, sizeof *st);
    named = name && name[0] && ec_statx(EC_AT_FDCWD, name, 0, EC_STATX_KEY, st) == 0;
    if (named && st->stx_ino == vma->ino && ec_makedev(st->stx_dev_major, st->stx_dev_minor) == vma->dev)
        return ec_vcache_lookup_id(vma->dev, vma->ino, st, v); /* the name leads to it: its state now */
    return ec_vcache_lookup_id(vma->dev, vma->ino, 0, v); /* held */
}

static int mapped_check(struct ec_maps *m, const void *addr, const char *name, int flags, struct ec_verdict *v,
                        struct ec_mapped *out, const struct image_ref *img)
{
    int r;

    ec_memset(out, 0, __builtin_offsetof(struct ec_mapped, st)); /* st is scratch, path is set below */
    out->path[0] = 0;
    if (name) ec_strlcpy(out->path, name, sizeof out->path);

    r = ec_maps_query(m, (uintptr_t)addr, &out->vma, 0, 0);
    if (r < 0) {
        out->what = EC_MAPPED_UNKNOWN;
        if (m->fd < 0 && (r == -EC_EMFILE || r == -EC_ENFILE || r == -EC_ENOMEM)) /* no descriptor free */
            deny(v, &out->vma, EC_REASON_ERROR, -r);
        else if (m->fd < 0) /* /proc/self/maps could not be opened (a chroot without /proc): fail closed */
            deny(v, &out->vma, EC_REASON_NO_PROC, -r);
        else if (r == -EC_ENOENT) /* no mapping there */
            deny(v, &out->vma, EC_REASON_MISMATCH, 0);
        else
            deny(v, &out->vma, EC_REASON_ERROR, -r);
        return 0;
    }
    if (!out->vma.ino) {
        uintptr_t vdso = ec_vdso_base();
        /* anonymous memory posing as an object, or the vDSO: the vDSO object itself is known by its
         * load address too (ec_mapped_by_kernel); ld.so reads the vDSO's tags of an object that
         * only points its dynamic section here as offsets into that object's own file */
        out->what = vdso && vdso >= out->vma.start && vdso < out->vma.end ? EC_MAPPED_VDSO : EC_MAPPED_UNKNOWN;
        deny(v, &out->vma, EC_REASON_MISMATCH, 0);
        return 0;
    }
    out->what = EC_MAPPED_FILE;
    if ((flags & EC_MAPPED_USE_CACHE) && cached_verdict(name, &out->vma, v, &out->st)) {
        out->cached = 1;
        return v->allowed;
    }
    if (ec_mapped_is_execd(m, out->vma.dev, out->vma.ino)) {
        /* the kernel itself executed this inode (ld.so run directly shows up as not so) */
        out->what = EC_MAPPED_EXE;
        ec_memset(v, 0, sizeof *v);
        v->allowed = 1;
        v->dev = out->vma.dev;
        v->ino = out->vma.ino;
        return 1;
    }
    r = check_if_same(m, name, &out->vma, flags, v, out, img);
    if (r >= 0) return r;
    return check_by_kernel_name(m, addr, name, flags, v, out, img);
}

int ec_mapped_check(struct ec_maps *m, const void *addr, const char *name, int flags, struct ec_verdict *v,
                    struct ec_mapped *out)
{
    return mapped_check(m, addr, name, flags, v, out, 0);
}

/* An object whose header no segment maps (a linker script's PHDRS without FILEHDR): ld.so read its
 * program headers from the file. So does this, from the inode mapped at l_ld (opened by path, which
 * must still lead to it): its PT_DYNAMIC must be at l_ld for l_addr, and the mapping there must hold
 * that very part of the file. Out of line, its program headers (3.5 KiB) off the stack. */
static __attribute__((noinline)) int file_places(struct ec_maps *m, const char *path, uintptr_t l_addr,
                                                 uintptr_t l_ld, const struct ec_vma *vma)
{
    ElfW_Ehdr eh;
    ElfW_Phdr *ph;
    struct ec_statx st;
    struct ec_scratch s;
    int fd, rfd, i, dyn = -1, same;
    long n = -1;
    if (!path || !path[0] || (fd = ec_openat(EC_AT_FDCWD, path, EC_O_PATH | EC_O_CLOEXEC, 0)) < 0) return 0;
    same = is_mapped_file(m, fd, vma, &st) && (st.stx_mode & EC_S_IFMT) == EC_S_IFREG;
    rfd = same ? reopen_readable(fd) : -1;
    ec_close(fd);
    if (rfd < 0) return 0;
    if (!(ph = ec_scratch_take(&s, PH_MAX * sizeof *ph))) { /* off the stack: scratch.h */
        ec_close(rfd);
        return 0;
    }
    if (ec_pread(rfd, &eh, sizeof eh, 0) == (long)sizeof eh && eh.e_phentsize == sizeof ph[0] && eh.e_phnum &&
        eh.e_phnum <= PH_MAX && eh.e_phoff <= ~0ul >> 1 /* a long, pread's offset */)
        n = ec_pread(rfd, ph, eh.e_phnum * sizeof ph[0], (long)eh.e_phoff);
    ec_close(rfd);
    if (n == (long)(eh.e_phnum * sizeof ph[0]) && !ec_memcmp(eh.e_ident, "\177ELF", 4))
        for (i = 0; i < eh.e_phnum; i++)
            if (ph[i].p_type == 2 /* PT_DYNAMIC */) dyn = i;
    same = dyn >= 0 && l_ld == l_addr + ph[dyn].p_vaddr && vma->offset + (l_ld - vma->start) == ph[dyn].p_offset;
    ec_scratch_give(&s);
    return same;
}

int ec_mapped_check_object(struct ec_maps *m, uintptr_t l_addr, const void *l_ld, const char *name, int flags,
                           struct ec_verdict *v, struct ec_mapped *out)
{
    struct image_ref img;
    img.l_addr = l_addr;
    img.l_ld = (uintptr_t)l_ld;
    img.unrelocated = !!(flags & EC_MAPPED_UNRELOCATED);
    if (!mapped_check(m, l_ld, name, flags, v, out, &img)) return 0;
    if (own_image(m, l_addr, (uintptr_t)l_ld, &out->vma)) return 1;
    if (file_places(m, out->path, l_addr, (uintptr_t)l_ld, &out->vma)) return 1;
    /* the object is not the file it points into: named by its own name, not by that file's */
    deny(v, &out->vma, EC_REASON_MISMATCH, 0);
    if (name && name[0]) ec_strlcpy(out->path, name, sizeof out->path);
    return 0;
}

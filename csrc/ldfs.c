/* Cached, root-confined file lookups for the resolver (see ldfs.h). */
#include "ldfs.h"
#include "sys.h"
#include "text.h"

static uint64_t hash_id(uint64_t dev, uint64_t ino) { return (dev * 0x9e3779b97f4a7c15ull) ^ (ino * 0xc2b2ae3d27d4eb4full); }

/* chained tables whose bucket arrays double as they fill (old arrays stay in the arena) */
static int grow(struct ec_arena *a, void ***table, uint32_t *cap, uint32_t n, int is_path)
{
    void **fresh;
    uint32_t newcap, i;
    if (*table && n < *cap) return 0;
    newcap = *cap ? *cap * 2 : 1024;
    fresh = ec_arena_alloc(a, sizeof *fresh * newcap);
    if (!fresh) return -EC_ENOMEM;
    for (i = 0; i < *cap; i++) {
        void *e = (*table)[i];
        while (e) {
            void *next;
            uint64_t h;
            if (is_path) {
                struct ec_ldfs_path *p = e;
                next = p->next, h = ec_hash_str(p->path);
                p->next = fresh[h & (newcap - 1)];
            } else {
                struct ec_ldfs_file *f = e;
                next = f->next, h = hash_id(f->dev, f->ino);
                f->next = fresh[h & (newcap - 1)];
            }
            fresh[h & (newcap - 1)] = e;
            e = next;
        }
    }
    *table = fresh;
    *cap = newcap;
    return 0;
}

static long readlink_fd(int fd, char *out, size_t cap)
{
    char proc[32];
    struct ec_buf b;
    long n;
    ec_buf_init(&b, proc, sizeof proc);
    ec_buf_puts(&b, "/proc/self/fd/");
    ec_buf_putu(&b, (uint64_t)fd);
    n = ec_readlinkat(EC_AT_FDCWD, proc, out, cap - 1);
    if (n < 0) return n;
    if ((size_t)n >= cap - 1) return -EC_ENAMETOOLONG;
    out[n] = 0;
    return n;
}

/* openat2 fails a RESOLVE_IN_ROOT lookup that crosses ".." with EAGAIN when a rename or mount
 * anywhere on the system raced it (the kernel cannot tell then that ".." stayed in the root), and
 * asks the caller to retry: a busy machine did that often enough that a file of an image behind
 * a "../" symlink came out unreadable. Bounded: a lookup that keeps losing fails as before. */
#define LDFS_EAGAIN_TRIES 256

int ec_ldfs_open(struct ec_ldfs *fs, const char *path, int flags)
{
    if (fs->rootfd >= 0) {
        struct ec_open_how how;
        const char *abs = ec_ldfs_absolute(fs, path);
        int fd, tries = 0;
        how.flags = (uint64_t)(flags | EC_O_CLOEXEC);
        how.mode = 0;
        how.resolve = EC_RESOLVE_IN_ROOT | EC_RESOLVE_NO_MAGICLINKS;
        do
            fd = ec_openat2(fs->rootfd, abs, &how);
        while (fd == -EC_EAGAIN && ++tries < LDFS_EAGAIN_TRIES);
        return fd;
    }
    return ec_openat(EC_AT_FDCWD, ec_ldfs_absolute(fs, path), flags | EC_O_CLOEXEC, 0);
}

const char *ec_ldfs_absolute(struct ec_ldfs *fs, const char *path)
{
    size_t n, m;
    char *s;
    if (path[0] == '/' || !fs->cwd[0]) return path;
    n = ec_strlen(fs->cwd);
    m = ec_strlen(path);
    s = ec_arena_alloc(fs->arena, n + m + 2);
    if (!s) return path; /* out of memory: a relative lookup then fails, it does not crash */
    ec_memcpy(s, fs->cwd, n);
    if (!n || s[n - 1] != '/') s[n++] = '/';
    ec_memcpy(s + n, path, m + 1);
    return s;
}

/* The process's current directory into buf[4096]: 0, or -1 when it has no path here (getcwd fails,
 * or answers "(unreachable)/..." for a directory outside this root), as glibc's getcwd says. */
static int live_cwd(char *buf)
{
    long n = ec_sys2(EC_NR_getcwd, buf, 4096);
    return n > 1 && buf[0] == '/' ? 0 : -1;
}

void ec_ldfs_follow_cwd(struct ec_ldfs *fs, struct ec_arena *scratch)
{
    char *buf;
    const char *now;
    if (!fs->cwd_live || !(buf = ec_arena_alloc(scratch, 4096))) return;
    if (live_cwd(buf)) buf[0] = 0;
    if (!ec_strcmp(buf, fs->cwd)) return;
    /* the old one stays in the session's arena: lookups made under it may point at it */
    if ((now = buf[0] ? ec_arena_strdup(fs->arena, buf) : "")) fs->cwd = now;
}

int ec_ldfs_init(struct ec_ldfs *fs, struct ec_arena *a, const char *root, const char *cwd)
{
    char buf[4096];
    ec_memset(fs, 0, sizeof *fs);
    fs->arena = a;
    fs->rootfd = -1;
    fs->root = "";
    if (root && root[0] && !(root[0] == '/' && root[1] == 0)) {
        long n;
        fs->rootfd = ec_openat(EC_AT_FDCWD, root, EC_O_PATH | EC_O_DIRECTORY | EC_O_CLOEXEC, 0);
        if (fs->rootfd < 0) return fs->rootfd;
        n = readlink_fd(fs->rootfd, buf, sizeof buf);
        if (n < 0) {
            ec_close(fs->rootfd);
            return (int)n;
        }
        if (n == 1) buf[0] = 0; /* the root is "/": image paths are host paths */
        fs->root = ec_arena_strdup(a, buf);
    }
    if (cwd && cwd[0] == '/') {
        fs->cwd = ec_arena_strdup(a, cwd);
    } else if (fs->rootfd >= 0) {
        fs->cwd = "/";
    } else {
        fs->cwd = "";
        fs->cwd_live = 1;
        if (!live_cwd(buf)) fs->cwd = ec_arena_strdup(a, buf);
    }
    if (!fs->root || !fs->cwd) return -EC_ENOMEM;
    if (grow(a, (void ***)&fs->paths, &fs->paths_cap, 0, 1) || grow(a, (void ***)&fs->files, &fs->files_cap, 0, 0))
        return -EC_ENOMEM;
    return 0;
}

void ec_ldfs_close(struct ec_ldfs *fs)
{
    if (fs->rootfd >= 0) ec_close(fs->rootfd);
    fs->rootfd = -1;
}

static struct ec_ldfs_file *file_for(struct ec_ldfs *fs, const struct ec_statx *st)
{
    uint64_t dev = ec_makedev(st->stx_dev_major, st->stx_dev_minor), h = hash_id(dev, st->stx_ino);
    struct ec_ldfs_file *f;
    for (f = fs->files[h & (fs->files_cap - 1)]; f; f = f->next)
        if (f->dev == dev && f->ino == st->stx_ino) return f;
    if (grow(fs->arena, (void ***)&fs->files, &fs->files_cap, fs->nfiles * 2, 0)) return 0;
    f = ec_arena_alloc(fs->arena, sizeof *f);
    if (!f) return 0;
    f->dev = dev, f->ino = st->stx_ino, f->size = st->stx_size;
    f->mode = st->stx_mode, f->uid = st->stx_uid, f->gid = st->stx_gid;
    f->next = fs->files[h & (fs->files_cap - 1)];
    fs->files[h & (fs->files_cap - 1)] = f;
    fs->nfiles++;
    return f;
}

/* p->realpath from fd, an open descriptor of p's file: the kernel's name for it, made relative to
 * the image's root (left NULL when it is outside that root or cannot be named). */
static void realpath_of_fd(struct ec_ldfs *fs, struct ec_ldfs_path *p, int fd)
{
    char buf[4096];
    size_t rl = ec_strlen(fs->root);
    long n = readlink_fd(fd, buf, sizeof buf);
    if (n < 0 || (size_t)n < rl || ec_memcmp(buf, fs->root, rl) != 0) return;
    if (buf[rl] == 0) p->realpath = "/";
    else if (buf[rl] == '/') p->realpath = ec_arena_strdup(fs->arena, buf + rl);
}

/* Is fd (st: its statx) on a noexec mount? noexec belongs to the mount, so the answer is kept
 * by mount id (when the kernel reports one) instead of asking statfs for every file. */
static int on_noexec_mount(struct ec_ldfs *fs, int fd, const struct ec_statx *st)
{
    struct ec_statfs sf;
    int known = (st->stx_mask & EC_STATX_MNT_ID) != 0, noexec;
    uint32_t i;
    for (i = 0; known && i < fs->nmounts; i++)
        if (fs->mounts[i].mnt == EC_STX_MNT_ID(st)) return fs->mounts[i].noexec;
    noexec = ec_fstatfs(fd, &sf) == 0 && (sf.f_flags & EC_ST_NOEXEC);
    if (known && fs->nmounts < sizeof fs->mounts / sizeof fs->mounts[0]) {
        fs->mounts[fs->nmounts].mnt = EC_STX_MNT_ID(st);
        fs->mounts[fs->nmounts++].noexec = noexec;
    }
    return noexec;
}

/* What p names, from fd, an open descriptor of it (st: its statx). 0, or -1 out of memory. */
static int describe(struct ec_ldfs *fs, struct ec_ldfs_path *p, int fd, const struct ec_statx *st)
{
    p->mode = st->stx_mode;
    p->noexec = on_noexec_mount(fs, fd, st);
    if ((st->stx_mode & EC_S_IFMT) != EC_S_IFREG) return 0;
    if (!(p->file = file_for(fs, st))) return -1;
    /* a file found is about to be an object: named now, on this fd */
    if (!fs->lazy_realpath) realpath_of_fd(fs, p, fd);
    return 0;
}

/* A new record for abs (hash h), not in the table yet; NULL when memory runs out. */
static struct ec_ldfs_path *new_path(struct ec_ldfs *fs, const char *path, const char *abs)
{
    struct ec_ldfs_path *p;
    if (grow(fs->arena, (void ***)&fs->paths, &fs->paths_cap, fs->npaths * 2, 1)) return 0;
    p = ec_arena_alloc(fs->arena, sizeof *p);
    if (!p || !(p->path = abs == path ? ec_arena_strdup(fs->arena, abs) : abs)) return 0;
    p->gen = fs->gen;
    return p;
}

static void insert(struct ec_ldfs *fs, struct ec_ldfs_path *p, uint64_t h)
{
    h &= fs->paths_cap - 1;
    p->next = fs->paths[h];
    fs->paths[h] = p;
    fs->npaths++;
}

static struct ec_ldfs_path *cached(struct ec_ldfs *fs, const char *abs, uint64_t h)
{
    struct ec_ldfs_path *p;
    for (p = fs->paths[h & (fs->paths_cap - 1)]; p; p = p->next)
        if (!ec_strcmp(p->path, abs)) return p;
    return 0;
}

/* The ELF reading of p's file from fd, if not read yet; left unread (parsed 0) when memory ran out. */
static void read_elf_from(struct ec_ldfs *fs, struct ec_ldfs_path *p, int fd)
{
    if (!p->file || p->file->parsed || p->file->read_err) return;
    ec_elf_read(fd, p->file->size, fs->arena, &p->file->elf);
    p->file->parsed = p->file->elf.defect != EC_ELF_NOMEM;
}

/* The lookup of fs->like_loader: what p names is looked at by path, and a regular file is then
 * opened for reading and read at once, as this process's ld.so opens it itself next (no O_PATH
 * look first, no second open to read it). If the path is replaced in between, the file opened
 * is the one described. Returns 0, or -1 when memory runs out. */
static int lookup_like_loader(struct ec_ldfs *fs, struct ec_ldfs_path *p)
{
    struct ec_statx st;
    int r = ec_statx(EC_AT_FDCWD, p->path, 0, EC_STATX_KEY, &st), fd;
    if (r < 0) {
        p->err = -r;
        return 0;
    }
    p->mode = st.stx_mode;
    if ((st.stx_mode & EC_S_IFMT) != EC_S_IFREG) return 0; /* never opened; noexec is asked of files only */
    fd = ec_openat(EC_AT_FDCWD, p->path, EC_O_RDONLY | EC_O_NONBLOCK | EC_O_NOCTTY | EC_O_CLOEXEC, 0);
    if (fd < 0) {
        if (!(p->file = file_for(fs, &st))) return -1;
        if (!p->file->parsed) p->file->read_err = -fd;
        return 0;
    }
    r = ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, &st);
    if (r < 0) {
        p->err = -r;
    } else if (describe(fs, p, fd, &st) < 0) {
        ec_close(fd);
        return -1;
    }
    read_elf_from(fs, p, fd);
    ec_close(fd);
    return 0;
}

struct ec_ldfs_path *ec_ldfs_lookup(struct ec_ldfs *fs, const char *path)
{
    const char *abs = ec_ldfs_absolute(fs, path);
    uint64_t h = ec_hash_str(abs);
    struct ec_ldfs_path *p = cached(fs, abs, h);
    struct ec_statx st;
    int fd;
    if (p) return p;
    if (!(p = new_path(fs, path, abs))) return 0;
    if (fs->like_loader && fs->rootfd < 0) {
        if (lookup_like_loader(fs, p) < 0) return 0;
        insert(fs, p, h);
        return p;
    }
    fd = ec_ldfs_open(fs, abs, EC_O_PATH);
    if (fd < 0) {
        p->err = -fd;
    } else {
        int r = ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, &st);
        if (r < 0) {
            p->err = -r;
        } else if (describe(fs, p, fd, &st) < 0) {
            ec_close(fd);
            return 0;
        }
        ec_close(fd);
    }
    insert(fs, p, h);
    return p;
}

int ec_ldfs_adopt(struct ec_ldfs *fs, const char *path, int fd, const struct ec_statx *st)
{
    const char *abs;
    uint64_t h;
    struct ec_ldfs_path *p;
    if (fs->rootfd >= 0) return -EC_EINVAL; /* a path in an image is not the host's file */
    abs = ec_ldfs_absolute(fs, path);
    h = ec_hash_str(abs);
    if (cached(fs, abs, h)) return 0;
    if (!(p = new_path(fs, path, abs)) || describe(fs, p, fd, st) < 0) return -EC_ENOMEM;
    p->gen = fs->gen + 1; /* handed over for the next resolution: as fresh as its own lookups */
    read_elf_from(fs, p, fd);
    insert(fs, p, h);
    return 0;
}

const struct ec_elf *ec_ldfs_elf(struct ec_ldfs *fs, struct ec_ldfs_path *p)
{
    struct ec_ldfs_file *f = p->file;
    struct ec_statx st;
    int fd;
    if (!f) return 0;
    if (f->parsed) return &f->elf;
    if (f->read_err) return 0;
    fd = ec_ldfs_open(fs, p->path, EC_O_RDONLY | EC_O_NONBLOCK | EC_O_NOCTTY);
    if (fd < 0) {
        f->read_err = -fd;
        return 0;
    }
    /* the path must still name the inode looked up: another file there now is ESTALE (the name is
     * stale), not EIO, so that a caller can tell a file replaced under it from a failing disk */
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) < 0) {
        ec_close(fd);
        f->read_err = EC_EIO;
        return 0;
    }
    if (st.stx_ino != f->ino || ec_makedev(st.stx_dev_major, st.stx_dev_minor) != f->dev) {
        ec_close(fd);
        f->read_err = EC_ESTALE;
        return 0;
    }
    read_elf_from(fs, p, fd);
    ec_close(fd);
    return f->parsed ? &f->elf : 0; /* out of memory: not cached, a bigger arena may read it */
}

const char *ec_ldfs_realpath(struct ec_ldfs *fs, struct ec_ldfs_path *p)
{
    int fd;
    if (p->realpath || p->err) return p->realpath;
    fd = ec_ldfs_open(fs, p->path, EC_O_PATH);
    if (fd < 0) return 0;
    realpath_of_fd(fs, p, fd);
    ec_close(fd);
    return p->realpath;
}

long ec_ldfs_read(struct ec_ldfs *fs, const char *path, size_t max, const char **data)
{
    struct ec_statx st;
    char *buf;
    long done = 0;
    int fd = ec_ldfs_open(fs, path, EC_O_RDONLY | EC_O_NONBLOCK | EC_O_NOCTTY);
    if (fd < 0) return fd;
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) < 0 || (st.stx_mode & EC_S_IFMT) != EC_S_IFREG) {
        ec_close(fd);
        return -EC_EINVAL;
    }
    if (st.stx_size > max) {
        ec_close(fd);
        return -EC_EFBIG;
    }
    buf = ec_arena_alloc(fs->arena, (size_t)st.stx_size + 1);
    if (!buf) {
        ec_close(fd);
        return -EC_ENOMEM;
    }
    while ((uint64_t)done < st.stx_size) {
        long k = ec_read(fd, buf + done, (size_t)(st.stx_size - (uint64_t)done));
        if (k == -EC_EINTR) continue;
        if (k <= 0) break;
        done += k;
    }
    ec_close(fd);
    *data = buf;
    return done;
}

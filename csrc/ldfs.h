/* Files as a loader running inside an image would see them, looked up once per session.
 *
 * With a root, every lookup is openat2(root, path, RESOLVE_IN_ROOT): absolute symlinks and ".."
 * stay inside the image, as under chroot. Without one, paths are the host's. A relative path is
 * taken from the process's current directory (cwd). Results are cached by path and files by
 * (dev, ino): a session assumes the files do not change while it runs. */
#ifndef EXECCHECK_LDFS_H
#define EXECCHECK_LDFS_H

#include <stdint.h>
#include "arena.h"
#include "elfinfo.h"
#include "sys.h"

struct ec_ldfs_file {            /* one inode */
    uint64_t dev, ino, size;
    uint32_t mode, uid, gid;
    int read_err;                /* errno of opening it for reading (EACCES...), 0 */
    int parsed;                  /* elf is valid */
    struct ec_elf elf;
    struct ec_ldfs_file *next;
};

struct ec_ldfs_path {            /* one path looked up */
    const char *path;            /* the key: absolute in the image */
    int err;                     /* errno of the lookup, 0 when it names something */
    uint32_t mode;               /* what it names: st_mode */
    int noexec;                  /* on a noexec mount of this host */
    struct ec_ldfs_file *file;   /* regular files only */
    const char *realpath;        /* the path with every symlink resolved, in the image (regular files: at lookup) */
    uint32_t gen;                /* fs->gen when it was looked up */
    struct ec_ldfs_path *next;
};

struct ec_ldfs {
    struct ec_arena *arena;      /* where records live */
    int rootfd;                  /* -1: the host root */
    const char *root;            /* the root's real path on this host ("" for the host) */
    const char *cwd;             /* absolute, in the image; "" when the directory has no path */
    int cwd_live;                /* 1: cwd follows this process's (a host session made without one) */
    struct ec_ldfs_path **paths;
    uint32_t npaths, paths_cap;
    struct ec_ldfs_file **files;
    uint32_t nfiles, files_cap;
    uint32_t gen;                /* a caller's count of its uses (ec_ldfs_path.gen) */
    int lazy_realpath;           /* 1: a file's realpath is read only when asked for */
    int like_loader;             /* 1 (host only): look up as this process's ld.so is about to open
                                    (lookup_like_loader in ldfs.c) */
    struct { uint64_t mnt; int noexec; } mounts[16]; /* noexec by mount id: one statfs per mount */
    uint32_t nmounts;
};

/* root: NULL or "" for the host. cwd: NULL for "/" under a root, the process's current directory
 * on the host (followed: ec_ldfs_follow_cwd). Returns 0 or -errno (the root cannot be opened, no
 * memory). */
int ec_ldfs_init(struct ec_ldfs *fs, struct ec_arena *a, const char *root, const char *cwd);
/* A session that follows the process's current directory takes it again (a chdir since the last
 * resolution): relative names are then where they are now, as for ld.so's open. scratch: memory
 * for the question. */
void ec_ldfs_follow_cwd(struct ec_ldfs *fs, struct ec_arena *scratch);
void ec_ldfs_close(struct ec_ldfs *fs);

/* The cached lookup of path (following symlinks); NULL only when memory runs out. */
struct ec_ldfs_path *ec_ldfs_lookup(struct ec_ldfs *fs, const char *path);
/* Records that path names the file open as fd (readable; st: its statx with EC_STATX_MNT_ID), and
 * reads its ELF headers from fd: a caller that already holds the file spares the lookup opening it
 * twice more. Counts as looked up by the next resolution (gen + 1). Nothing if path is known
 * already. Host only (no root). Returns 0 or -errno. */
int ec_ldfs_adopt(struct ec_ldfs *fs, const char *path, int fd, const struct ec_statx *st);
/* The ELF reading of a regular file found by lookup (read once per inode); NULL if it cannot be read
 * (p->file->read_err says why) or memory runs out. */
const struct ec_elf *ec_ldfs_elf(struct ec_ldfs *fs, struct ec_ldfs_path *p);
/* The real path in the image of a path that was found (cached), or NULL. Taken at lookup, on the
 * lookup's own descriptor, unless lazy_realpath: then it opens the path again. */
const char *ec_ldfs_realpath(struct ec_ldfs *fs, struct ec_ldfs_path *p);
/* Opens path in the image (flags as for openat). Returns an fd or -errno. */
int ec_ldfs_open(struct ec_ldfs *fs, const char *path, int flags);
/* Reads a whole regular file of at most max bytes into the arena. Returns its length or -errno
 * (-EFBIG when larger than max). */
long ec_ldfs_read(struct ec_ldfs *fs, const char *path, size_t max, const char **data);
/* path made absolute against cwd (not normalised), in the arena; left relative when the directory
 * has no path (then the kernel takes it from the process's directory) */
const char *ec_ldfs_absolute(struct ec_ldfs *fs, const char *path);

#endif

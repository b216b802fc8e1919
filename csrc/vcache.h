/* A small cache of check verdicts keyed by the file: (dev, ino, ctime, mount id).
 *
 * The audit face checks a library once while ld.so searches for it (la_objsearch) and must not
 * pay a second kernel check when the same file is mapped a moment later (la_objopen). A chmod
 * changes ctime and a different mount of the same inode (a noexec bind mount) has another mount
 * id, so either is a new key. What the key cannot see - a Landlock domain tightened later, a
 * hard link in another hierarchy - is why callers keep entries short-lived: the audit face clears
 * the cache at the end of each load operation (la_activity).
 *
 * Lock-free for callers: a busy cache (another thread inside) is skipped, never waited for, so it
 * cannot deadlock across fork() or in a signal handler. Raw syscalls only. */
#ifndef EXECCHECK_VCACHE_H
#define EXECCHECK_VCACHE_H

#include "check.h"
#include "sys.h"

/* Checks fd like ec_check_fd, answering from the cache when the same file was checked since the
 * last clear. st: the fd's statx if the caller already has it (with EC_STATX_MNT_ID asked), or
 * NULL. *cached (may be NULL) tells whether the verdict came from the cache. 1 allowed, 0 denied. */
int ec_vcache_check_fd(int fd, const char *name, const struct ec_statx *st, struct ec_verdict *v, int *cached);

/* The verdict stored for the file st describes (st from statx with EC_STATX_MNT_ID), without
 * checking anything: 1 found (*v filled), 0 not. */
int ec_vcache_lookup(const struct ec_statx *st, struct ec_verdict *v);

/* The verdict stored for the inode (dev, ino) - the identity the kernel reports for a mapping -
 * that was checked as the file name_st describes (the loader's name for the mapped object, as
 * statx sees it now, with EC_STATX_MNT_ID), when every such entry agrees (two mounts of one inode
 * with different verdicts: 0, ask the file itself). 1 found (*v filled), 0 not.
 * (dev, ino) alone is not the file that was checked: an inode number freed between a check and
 * the loader's open() can be handed to a new file at once (ext4 does); the new file's ctime (or
 * mount) is not the checked one's. Nor is a mapping's (dev, ino) that no file's statx shows:
 * where statx shows another (overlayfs over layers on different filesystems, which maps a file
 * of each layer under one overlay inode number) nothing is found. */
int ec_vcache_lookup_id(uint64_t dev, uint64_t ino, const struct ec_statx *name_st, struct ec_verdict *v);
/* name_st NULL: only an entry whose inode a caller holds (ec_vcache_hold) answers, by
 * (dev, ino) alone - a held inode's number cannot be handed to another file. */

/* The caller holds the inode of the entries stored under the file (dev, ino) (a mapping of it, an
 * open descriptor): while some holder does, ec_vcache_lookup_id may answer for it by (dev, ino)
 * alone. Holds are counted (two loads may hold one library). Returns 1 counted, 0 not (the cache
 * was busy: then that hold is not to be let go). */
int ec_vcache_hold(uint64_t dev, uint64_t ino);
/* Lets go of one counted hold of (dev, ino). */
void ec_vcache_let_go(uint64_t dev, uint64_t ino);

/* Are a and b (statx with EC_STATX_KEY) one file by the cache's key: (dev, ino, mount id, ctime)
 * and, where inode numbers are per subvolume (btrfs; one overlay over two subvolumes shows two
 * files as one (dev, ino)), the subvolume? */
int ec_vcache_same_file(const struct ec_statx *a, const struct ec_statx *b);

/* Forgets every entry. */
void ec_vcache_clear(void);

#endif

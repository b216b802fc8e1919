/* The check (see check.h). */
#include "check.h"
#include "reason.h"
#include "sys.h"
#include "text.h"

static void identity_from_statx(const struct ec_statx *st, struct ec_verdict *v)
{
    v->mode = st->stx_mode;
    v->uid = st->stx_uid;
    v->dev = ec_makedev(st->stx_dev_major, st->stx_dev_minor);
    v->ino = st->stx_ino;
    v->ctime_sec = st->stx_ctime.tv_sec;
    v->ctime_nsec = st->stx_ctime.tv_nsec;
}

int ec_identify_fd(int fd, struct ec_verdict *v)
{
    struct ec_statx st;
    int r = ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st);
    if (r < 0) return r;
    identity_from_statx(&st, v);
    return 0;
}

static int in_groups(uint32_t gid)
{
    uint32_t groups[256];
    long n, i;
    if ((uint32_t)ec_getegid() == gid) return 1;
    n = ec_sys2(EC_NR_getgroups, 256, groups);
    for (i = 0; i < n; i++)
        if (groups[i] == gid) return 1;
    return 0;
}

/* Would the mode bits alone let this process execute the file? Root needs any x bit
 * (CAP_DAC_OVERRIDE); others need the bit of their class. ACLs are not read: a denial they
 * cause is reported as "lsm" (documented limit). */
static int mode_allows_exec(const struct ec_verdict *v, int fd)
{
    uint32_t uid = (uint32_t)ec_geteuid();
    struct ec_statx st;
    if (uid == 0) return (v->mode & 0111) != 0;
    if (v->uid == uid) return (v->mode & 0100) != 0;
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) == 0 && in_groups(st.stx_gid))
        return (v->mode & 0010) != 0;
    return (v->mode & 0001) != 0;
}

int ec_explain(int fd, int err, struct ec_verdict *v)
{
    struct ec_statfs fs;
    switch (err) {
    case 0:
        return EC_REASON_NONE;
    case EC_ETXTBSY:
        return EC_REASON_BUSY;
    case EC_EINVAL:
    case EC_ENOSYS:
        return EC_REASON_UNSUPPORTED;
    case EC_ELOOP:
        return EC_REASON_NOT_REGULAR; /* a symlink checked without following it */
    case EC_EACCES:
    case EC_EPERM:
        if (!v->mode) return EC_REASON_LSM;
        if ((v->mode & EC_S_IFMT) != EC_S_IFREG) return EC_REASON_NOT_REGULAR;
        if (ec_fstatfs(fd, &fs) == 0 && (fs.f_flags & EC_ST_NOEXEC)) return EC_REASON_NOEXEC;
        if (!mode_allows_exec(v, fd)) return EC_REASON_XBIT;
        return EC_REASON_LSM;
    default:
        return EC_REASON_ERROR;
    }
}

static int check_identified(int fd, const char *name, struct ec_verdict *v)
{
    char *argv[2], *envp[1];
    const char *base = name ? ec_strrchr(name, '/') : 0;
    int r;

    argv[0] = (char *)(base ? base + 1 : name ? name : "execcheck");
    argv[1] = 0;
    envp[0] = 0;
    r = ec_execveat(fd, "", argv, envp, EC_AT_EMPTY_PATH | EC_AT_EXECVE_CHECK);
    if (r == 0) {
        v->allowed = 1;
        return 1;
    }
    v->err = -r;
    v->reason = ec_explain(fd, v->err, v);
    return 0;
}

int ec_check_fd(int fd, const char *name, struct ec_verdict *v)
{
    ec_memset(v, 0, sizeof *v);
    ec_identify_fd(fd, v);
    return check_identified(fd, name, v);
}

int ec_check_fd_stat(int fd, const char *name, const struct ec_statx *st, struct ec_verdict *v)
{
    ec_memset(v, 0, sizeof *v);
    identity_from_statx(st, v);
    return check_identified(fd, name, v);
}

int ec_check_path(int dirfd, const char *path, int flags, struct ec_verdict *v)
{
    int oflags = EC_O_PATH | EC_O_CLOEXEC | ((flags & EC_CHECK_NOFOLLOW) ? EC_O_NOFOLLOW : 0);
    int fd = ec_openat(dirfd, path, oflags, 0), r;
    if (fd < 0) {
        ec_memset(v, 0, sizeof *v);
        v->err = -fd;
        v->reason = EC_REASON_ERROR;
        return fd;
    }
    r = ec_check_fd(fd, path, v);
    ec_close(fd);
    return r;
}

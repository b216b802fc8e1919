/* Record sinks (see sinks.h). */
#include "sinks.h"
#include "sys.h"
#include "text.h"

#define FILE_FLAGS (EC_O_APPEND | EC_O_CREAT | EC_O_NOFOLLOW | EC_O_NONBLOCK | EC_O_CLOEXEC | EC_O_NOCTTY)

#define EC_LOCK_EX 2
#define EC_LOCK_NB 4
#define EC_LOCK_UN 8

/* Takes the log file's lock (flock: every writer opens the file afresh). 1: taken, or the file
 * system has no such locks (then as before); 0: another writer held it throughout. Never blocks:
 * a record must not stall its process. */
static int lock_log(int fd)
{
    int tries;
    for (tries = 0; tries < 10000; tries++) {
        if (ec_sys2(EC_NR_flock, fd, EC_LOCK_EX | EC_LOCK_NB) != -EC_EAGAIN) return 1;
        ec_sys0(EC_NR_sched_yield);
    }
    return 0;
}

int ec_sink_file(const char *path, const char *line, size_t len, int pid)
{
    struct ec_statx st;
    long w;
    char last;
    int fd = ec_openat(EC_AT_FDCWD, path, EC_O_RDWR | FILE_FLAGS, 0600), readable = fd >= 0, locked;
    if (fd == -EC_EACCES) fd = ec_openat(EC_AT_FDCWD, path, EC_O_WRONLY | FILE_FLAGS, 0600); /* a write-only log */
    if (fd < 0) return fd;
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) < 0 || (st.stx_mode & EC_S_IFMT) != EC_S_IFREG) {
        ec_close(fd);
        return -EC_EINVAL;
    }
    /* Made just now, and the umask took the owner's bits of its 0600 (umask 0777: mode 0000):
     * every later record of this user, each opened afresh, would find it closed. It gets the
     * 0600 the sink creates it with; a file an administrator made (other owner, or group bits,
     * or anything in it) is left as it is. */
    if (st.stx_size == 0 && (st.stx_mode & 07777) != 0600 && !(st.stx_mode & 07177) &&
        st.stx_uid == (uint32_t)ec_geteuid())
        ec_sys2(EC_NR_fchmod, fd, 0600);
    /* A record cut short (a full file system) must not swallow this one: it starts a line. Only
     * under the file's lock, which every writer holds over its look and its append: a record
     * being appended by another writer grows the file a page at a time, and a look in between
     * saw that record's end so far as a record cut short - the newline, appended after the
     * record was whole, made an empty line. Held throughout by another writer (stopped there,
     * say): no look, this record as it is. */
    locked = readable && lock_log(fd);
    /* A signal handler on this thread forked since the caller asked for the pid, and this is the
     * child, back in its copy of the parent's record (which names the parent): the parent writes
     * it. Nor is the lock this child's to release: it is the open file description's, shared with
     * the parent, whose look and write it guards (another writer's look could meet them: at worst
     * an empty line, a record being one O_APPEND write). One getpid() a record. */
    if (ec_getpid() != pid) {
        ec_close(fd);
        return 0;
    }
    if (locked && ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) == 0 && st.stx_size > 0 &&
        ec_pread(fd, &last, 1, (long)st.stx_size - 1) == 1 && last != '\n')
        ec_write(fd, "\n", 1);
    w = ec_write(fd, line, len); /* one write: O_APPEND keeps concurrent lines whole */
    /* The lock is the open file description's: a child another thread forked meanwhile shares it
     * (O_CLOEXEC closes its copy only at an exec), and the close alone left the lock held for
     * that child's life - every other writer waited its 10000 yields, then appended unlooked.
     * Unlocked first, it goes with this record, whoever holds a copy. */
    if (locked) ec_sys2(EC_NR_flock, fd, EC_LOCK_UN);
    ec_close(fd);
    return w < 0 ? (int)w : 0;
}

#define EC_AF_UNIX 1
#define EC_SOCK_DGRAM 2
#define EC_SOCK_NONBLOCK 04000
#define EC_SOCK_CLOEXEC 02000000
#define EC_MSG_DONTWAIT 0x40
#define EC_MSG_NOSIGNAL 0x4000

struct ec_sockaddr_un { unsigned short sun_family; char sun_path[108]; };
struct ec_iovec { const void *base; size_t len; };
struct ec_msghdr {
    void *name;
    unsigned namelen;
    struct ec_iovec *iov;
    size_t iovlen;
    void *control;
    size_t controllen;
    int flags;
};

/* The header and the line go out as two pieces of one datagram (sendmsg): no copy of the line, so
 * no line-sized buffer on a stack that may be a small thread's, deep under glibc's dlopen. */
int ec_sink_syslog(int priority, int pid, const char *line, size_t len)
{
    static const char dev_log[] = "/dev/log";
    struct ec_sockaddr_un addr;
    struct ec_iovec iov[2];
    struct ec_msghdr msg;
    char head[48];
    struct ec_buf b;
    long r;
    int fd = (int)ec_sys3(EC_NR_socket, EC_AF_UNIX, EC_SOCK_DGRAM | EC_SOCK_NONBLOCK | EC_SOCK_CLOEXEC, 0);
    if (fd < 0) return fd;
    ec_memset(&addr, 0, sizeof addr);
    addr.sun_family = EC_AF_UNIX;
    ec_memcpy(addr.sun_path, dev_log, sizeof dev_log);
    ec_buf_init(&b, head, sizeof head);
    ec_buf_putc(&b, '<');
    ec_buf_putu(&b, (unsigned)priority);
    ec_buf_puts(&b, ">execcheck[");
    ec_buf_putu(&b, (unsigned)pid);
    ec_buf_puts(&b, "]: ");
    if (len && line[len - 1] == '\n') len--;
    iov[0].base = head;
    iov[0].len = b.len;
    iov[1].base = line;
    iov[1].len = len;
    ec_memset(&msg, 0, sizeof msg);
    msg.name = &addr;
    msg.namelen = sizeof addr;
    msg.iov = iov;
    msg.iovlen = 2;
    r = ec_sys3(EC_NR_sendmsg, fd, &msg, EC_MSG_DONTWAIT | EC_MSG_NOSIGNAL);
    ec_close(fd);
    return r < 0 ? (int)r : 0;
}

#define EC_SIGPIPE 13

/* stderr may be a pipe whose reader is gone: the write must fail with EPIPE, not kill the host
 * with SIGPIPE. Block SIGPIPE in this thread around the write and discard the one it raised. */
int ec_sink_stderr(const char *line, size_t len)
{
    unsigned long block = 1ul << (EC_SIGPIPE - 1), old = 0;
    long w;
    int masked = ec_sys4(EC_NR_rt_sigprocmask, EC_SIG_BLOCK, &block, &old, 8) == 0;
    w = ec_write(2, line, len);
    if (masked) {
        if (w == -EC_EPIPE && !(old & block)) {
            struct ec_timespec zero = {0, 0};
            ec_sys4(EC_NR_rt_sigtimedwait, &block, 0, &zero, 8);
        }
        ec_sys4(EC_NR_rt_sigprocmask, EC_SIG_SETMASK, &old, 0, 8);
    }
    return w < 0 ? (int)w : 0;
}

/* Raw Linux system calls and the kernel ABI the core needs.
 *
 * The core must run inside an rtld-audit module that has no libc of its own (a libc-linked
 * auditor maps a second libc into the audit namespace, DESIGN.md "The loader"), so every
 * kernel call here is a raw syscall returning -errno, never touching a libc `errno`.
 * Debian 12's headers predate Linux 6.14: the exec-check constants are defined here. */
#ifndef EXECCHECK_SYS_H
#define EXECCHECK_SYS_H

#include <stddef.h>
#include <stdint.h>

/* A 64-bit word that atomics touch: 8-aligned on i386 too, where a struct member or what a
 * pointer points at is only known to be 4-aligned and clang then calls libatomic's helpers,
 * which the shim does not have (gcc inlines cmpxchg8b either way). */
typedef uint64_t ec_atomic_u64 __attribute__((aligned(8)));

#if defined(__x86_64__)
#define EC_NR_read 0
#define EC_NR_write 1
#define EC_NR_close 3
#define EC_NR_lseek 8
#define EC_NR_mmap 9
#define EC_NR_munmap 11
#define EC_NR_madvise 28
#define EC_NR_rt_sigprocmask 14
#define EC_NR_rt_sigaction 13
#define EC_NR_rt_sigtimedwait 128
#define EC_NR_ioctl 16
#define EC_NR_pread64 17
#define EC_NR_sched_yield 24
#define EC_NR_flock 73
#define EC_NR_getpid 39
#define EC_NR_socket 41
#define EC_NR_connect 42
#define EC_NR_sendto 44
#define EC_NR_sendmsg 46
#define EC_NR_wait4 61
#define EC_NR_execve 59
#define EC_NR_kill 62
#define EC_NR_uname 63
#define EC_NR_fcntl 72
#define EC_NR_fchmod 91
#define EC_NR_getuid 102
#define EC_NR_getgid 104
#define EC_NR_setuid 105
#define EC_NR_setgid 106
#define EC_NR_geteuid 107
#define EC_NR_getegid 108
#define EC_NR_getgroups 115
#define EC_NR_setgroups 116
#define EC_NR_fstatfs 138
#define EC_NR_prctl 157
#define EC_NR_gettid 186
#define EC_NR_tgkill 234
#define EC_NR_set_tid_address 218
#define EC_NR_clock_gettime 228
#define EC_NR_exit_group 231
#define EC_NR_openat 257
#define EC_NR_readlinkat 267
#define EC_NR_getcwd 79
#define EC_NR_unshare 272
#define EC_NR_execveat 322
#define EC_NR_statx 332
#define EC_NR_clone3 435
#define EC_NR_openat2 437
#define EC_NR_landlock_create_ruleset 444
#define EC_NR_lsm_list_modules 461
#define EC_NR_fork_clone 56 /* clone */
#elif defined(__aarch64__)
#define EC_NR_read 63
#define EC_NR_write 64
#define EC_NR_close 57
#define EC_NR_lseek 62
#define EC_NR_mmap 222
#define EC_NR_munmap 215
#define EC_NR_madvise 233
#define EC_NR_rt_sigprocmask 135
#define EC_NR_rt_sigaction 134
#define EC_NR_rt_sigtimedwait 137
#define EC_NR_ioctl 29
#define EC_NR_pread64 67
#define EC_NR_sched_yield 124
#define EC_NR_flock 32
#define EC_NR_getpid 172
#define EC_NR_socket 198
#define EC_NR_connect 203
#define EC_NR_sendto 206
#define EC_NR_sendmsg 211
#define EC_NR_wait4 260
#define EC_NR_execve 221
#define EC_NR_kill 129
#define EC_NR_uname 160
#define EC_NR_fcntl 25
#define EC_NR_fchmod 52
#define EC_NR_getuid 174
#define EC_NR_getgid 176
#define EC_NR_setuid 146
#define EC_NR_setgid 144
#define EC_NR_geteuid 175
#define EC_NR_getegid 177
#define EC_NR_getgroups 158
#define EC_NR_setgroups 159
#define EC_NR_fstatfs 44
#define EC_NR_prctl 167
#define EC_NR_gettid 178
#define EC_NR_tgkill 131
#define EC_NR_set_tid_address 96
#define EC_NR_clock_gettime 113
#define EC_NR_exit_group 94
#define EC_NR_openat 56
#define EC_NR_readlinkat 78
#define EC_NR_getcwd 17
#define EC_NR_unshare 97
#define EC_NR_execveat 281
#define EC_NR_statx 291
#define EC_NR_clone3 435
#define EC_NR_openat2 437
#define EC_NR_landlock_create_ruleset 444
#define EC_NR_lsm_list_modules 461
#define EC_NR_fork_clone 220 /* clone */
#elif defined(__i386__)
/* i386 (32-bit programs on x86_64 kernels): the *32 uid calls, mmap2, fstatfs64 and pread64 take
 * the place of the calls whose 32-bit forms are legacy or narrower. */
#define EC_NR_read 3
#define EC_NR_write 4
#define EC_NR_close 6
#define EC_NR_lseek 19
#define EC_NR_mmap 192 /* mmap2: the offset in pages */
#define EC_NR_munmap 91
#define EC_NR_madvise 219
#define EC_NR_rt_sigprocmask 175
#define EC_NR_rt_sigaction 174
#define EC_NR_rt_sigtimedwait 177
#define EC_NR_ioctl 54
#define EC_NR_pread64 180
#define EC_NR_sched_yield 158
#define EC_NR_flock 143
#define EC_NR_getpid 20
#define EC_NR_socket 359
#define EC_NR_connect 362
#define EC_NR_sendto 369
#define EC_NR_sendmsg 370
#define EC_NR_wait4 114
#define EC_NR_execve 11
#define EC_NR_kill 37
#define EC_NR_uname 122
#define EC_NR_fcntl 221 /* fcntl64 */
#define EC_NR_fchmod 94
#define EC_NR_getuid 199
#define EC_NR_getgid 200
#define EC_NR_setuid 213
#define EC_NR_setgid 214
#define EC_NR_geteuid 201
#define EC_NR_getegid 202
#define EC_NR_getgroups 205
#define EC_NR_setgroups 206
#define EC_NR_fstatfs 269 /* fstatfs64(fd, size, buf) */
#define EC_NR_prctl 172
#define EC_NR_gettid 224
#define EC_NR_tgkill 270
#define EC_NR_set_tid_address 258
#define EC_NR_clock_gettime 265
#define EC_NR_exit_group 252
#define EC_NR_openat 295
#define EC_NR_readlinkat 305
#define EC_NR_getcwd 183
#define EC_NR_unshare 310
#define EC_NR_execveat 358
#define EC_NR_statx 383
#define EC_NR_clone3 435
#define EC_NR_openat2 437
#define EC_NR_landlock_create_ruleset 444
#define EC_NR_lsm_list_modules 461
#define EC_NR_fork_clone 120 /* clone */
#else
#error "execcheck: raw syscall numbers are defined for x86_64, aarch64 and i386 only"
#endif

/* ---- the exec-check contract (Linux 6.14, include/uapi/linux/{fcntl,securebits}.h) ---- */
#define EC_AT_FDCWD (-100)
#define EC_AT_SYMLINK_NOFOLLOW 0x100
#define EC_AT_EMPTY_PATH 0x1000
#define EC_AT_EXECVE_CHECK 0x10000

#define EC_SECBIT_EXEC_RESTRICT_FILE (1u << 8)
#define EC_SECBIT_EXEC_RESTRICT_FILE_LOCKED (1u << 9)
#define EC_SECBIT_EXEC_DENY_INTERACTIVE (1u << 10)
#define EC_SECBIT_EXEC_DENY_INTERACTIVE_LOCKED (1u << 11)
#define EC_SECBITS_EXEC_ALL 0xf00u

#define EC_PR_GET_SECCOMP 21
#define EC_PR_GET_SECUREBITS 27
#define EC_PR_SET_SECUREBITS 28
#define EC_PR_GET_TID_ADDRESS 40

/* ---- open flags, errno values (asm-generic; identical on x86_64 and aarch64 except where noted) ---- */
#define EC_O_RDONLY 0
#define EC_O_WRONLY 1
#define EC_O_RDWR 2
#define EC_O_CREAT 0100
#define EC_O_EXCL 0200
#define EC_O_NOCTTY 0400
#define EC_O_TRUNC 01000
#define EC_O_APPEND 02000
#define EC_O_NONBLOCK 04000
#if defined(__aarch64__)
#define EC_O_DIRECTORY 040000
#define EC_O_NOFOLLOW 0100000
#else
#define EC_O_DIRECTORY 0200000
#define EC_O_NOFOLLOW 0400000
#endif
#define EC_O_CLOEXEC 02000000
#define EC_F_DUPFD_CLOEXEC 1030
#define EC_SIG_BLOCK 0 /* rt_sigprocmask */
#define EC_SIG_SETMASK 2
#define EC_O_PATH 010000000

#define EC_EPERM 1
#define EC_ENOENT 2
#define EC_ESRCH 3
#define EC_EINTR 4
#define EC_EIO 5
#define EC_ENXIO 6
#define EC_E2BIG 7
#define EC_ENOEXEC 8
#define EC_EBADF 9
#define EC_ECHILD 10
#define EC_EAGAIN 11
#define EC_ENOMEM 12
#define EC_EACCES 13
#define EC_EFAULT 14
#define EC_EBUSY 16
#define EC_EEXIST 17
#define EC_ENOTDIR 20
#define EC_EISDIR 21
#define EC_EINVAL 22
#define EC_ENFILE 23
#define EC_EMFILE 24
#define EC_ETXTBSY 26
#define EC_EFBIG 27
#define EC_ENOSPC 28
#define EC_ESPIPE 29
#define EC_EROFS 30
#define EC_EPIPE 32
#define EC_ERANGE 34
#define EC_ENAMETOOLONG 36
#define EC_ENOSYS 38
#define EC_ELOOP 40
#define EC_EOPNOTSUPP 95
#define EC_ESTALE 116

#define EC_S_IFMT 0170000
#define EC_S_IFREG 0100000
#define EC_S_IFDIR 0040000
#define EC_S_IFLNK 0120000
#define EC_S_IFIFO 0010000
#define EC_S_IFSOCK 0140000
#define EC_S_ISUID 04000
#define EC_S_ISGID 02000

#define EC_ST_NOEXEC 8 /* statfs f_flags */

/* openat2 (Linux 5.6): RESOLVE_IN_ROOT makes dirfd the root of every lookup, absolute symlinks
 * included, which is how a chrooted loader would see an image (include/uapi/linux/openat2.h). */
struct ec_open_how { uint64_t flags, mode, resolve; };
#define EC_RESOLVE_IN_ROOT 0x10
#define EC_RESOLVE_NO_MAGICLINKS 0x02

/* struct statx, the stable kernel ABI (include/uapi/linux/stat.h). */
struct ec_statx_timestamp { int64_t tv_sec; uint32_t tv_nsec; int32_t reserved; };
struct ec_statx {
    uint32_t stx_mask, stx_blksize;
    uint64_t stx_attributes;
    uint32_t stx_nlink, stx_uid, stx_gid;
    uint16_t stx_mode, spare0;
    uint64_t stx_ino, stx_size, stx_blocks, stx_attributes_mask;
    struct ec_statx_timestamp stx_atime, stx_btime, stx_ctime, stx_mtime;
    uint32_t stx_rdev_major, stx_rdev_minor, stx_dev_major, stx_dev_minor;
    uint64_t spare2[14];
};
#define EC_STATX_BASIC_STATS 0x7ffu
#define EC_STATX_MNT_ID 0x1000u
#define EC_STATX_SUBVOL 0x8000u /* Linux 6.10: btrfs, bcachefs (and overlayfs over them) */
/* What a file is known by (the verdict cache's key): ask statx for these */
#define EC_STATX_KEY (EC_STATX_BASIC_STATS | EC_STATX_MNT_ID | EC_STATX_SUBVOL)
/* stx_mnt_id is the first word after the device numbers; valid when stx_mask has EC_STATX_MNT_ID */
#define EC_STX_MNT_ID(st) ((st)->spare2[0])
/* stx_subvol, after the two 32-bit direct-I/O alignments; valid when stx_mask has EC_STATX_SUBVOL */
#define EC_STX_SUBVOL(st) ((st)->spare2[2])
/* Does st's filesystem number inodes per subvolume? Then its (dev, ino) - and a mapping's - may
 * name a file of another subvolume as well: btrfs shows each subvolume its own device to statx but
 * one to the maps; an overlay whose layers are two subvolumes shows the same pair for both. */
#define EC_STX_NUMBERS_SHARED(st) (((st)->stx_mask & EC_STATX_SUBVOL) != 0)

/* struct statfs of the 64-bit generic and x86_64 ABIs; on i386 the same declaration is struct
 * statfs64 (32-bit longs, 64-bit counts aligned to 4), which fstatfs64 fills. */
struct ec_statfs {
    long f_type, f_bsize;
    uint64_t f_blocks, f_bfree, f_bavail, f_files, f_ffree;
    int f_fsid[2];
    long f_namelen, f_frsize, f_flags, f_spare[4];
};

struct ec_timespec { long tv_sec, tv_nsec; };
#define EC_CLOCK_REALTIME 0
#define EC_CLOCK_MONOTONIC 1

/* dev_t as the kernel encodes it for user space (glibc's makedev), so dev numbers in records
 * match os.stat().st_dev and `stat -c %d`. */
static inline uint64_t ec_makedev(uint32_t major, uint32_t minor)
{
    return ((uint64_t)(major & 0xfffff000u) << 32) | ((uint64_t)(major & 0xfffu) << 8) |
           ((uint64_t)(minor & 0xffffff00u) << 12) | (uint64_t)(minor & 0xffu);
}

/* ---- the syscall instruction ---- */
#if defined(__x86_64__)
static inline long ec_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    long ret;
    __asm__ __volatile__("syscall"
                         : "=a"(ret)
                         : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                         : "rcx", "r11", "memory");
    return ret;
}
#elif defined(__aarch64__)
static inline long ec_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    register long x5 __asm__("x5") = f;
    __asm__ __volatile__("svc 0"
                         : "+r"(x0)
                         : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                         : "memory");
    return x0;
}
#elif defined(__i386__)
/* The sixth argument goes in ebp, which inline asm cannot name in every frame: one call to
 * csrc/syscall_i386.c's int $0x80 entry, hidden, so it stays inside the shim. */
long ec_i386_syscall6(long n, long a, long b, long c, long d, long e, long f) __attribute__((visibility("hidden")));
static inline long ec_syscall6(long n, long a, long b, long c, long d, long e, long f)
{
    return ec_i386_syscall6(n, a, b, c, d, e, f);
}
#endif

#define ec_sys0(n) ec_syscall6((n), 0, 0, 0, 0, 0, 0)
#define ec_sys1(n, a) ec_syscall6((n), (long)(a), 0, 0, 0, 0, 0)
#define ec_sys2(n, a, b) ec_syscall6((n), (long)(a), (long)(b), 0, 0, 0, 0)
#define ec_sys3(n, a, b, c) ec_syscall6((n), (long)(a), (long)(b), (long)(c), 0, 0, 0)
#define ec_sys4(n, a, b, c, d) ec_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), 0, 0)
#define ec_sys5(n, a, b, c, d, e) ec_syscall6((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), 0)

/* Thin typed wrappers: each returns the kernel's result, negative errno on failure. */
static inline int ec_openat(int dirfd, const char *path, int flags, int mode)
{ return (int)ec_sys4(EC_NR_openat, dirfd, path, flags, mode); }
static inline int ec_openat2(int dirfd, const char *path, struct ec_open_how *how)
{ return (int)ec_sys4(EC_NR_openat2, dirfd, path, how, sizeof *how); }
static inline int ec_close(int fd) { return (int)ec_sys1(EC_NR_close, fd); }

/* Is another descriptor free beside fd (a dup of it, closed at once)? A face holding fd while
 * ld.so opens files one at a time must not take the last one a process at its RLIMIT_NOFILE has. */
static inline int ec_another_fd_free(int fd)
{
    int probe = (int)ec_sys3(EC_NR_fcntl, fd, EC_F_DUPFD_CLOEXEC, 0);
    if (probe < 0) return 0;
    ec_close(probe);
    return 1;
}
static inline long ec_read(int fd, void *buf, size_t n) { return ec_sys3(EC_NR_read, fd, buf, n); }
#if defined(__i386__)
static inline long ec_pread(int fd, void *buf, size_t n, long off) { return ec_sys5(EC_NR_pread64, fd, buf, n, off, 0); }
static inline int ec_fstatfs(int fd, struct ec_statfs *st) { return (int)ec_sys3(EC_NR_fstatfs, fd, sizeof *st, st); }
#else
static inline long ec_pread(int fd, void *buf, size_t n, long off) { return ec_sys4(EC_NR_pread64, fd, buf, n, off); }
static inline int ec_fstatfs(int fd, struct ec_statfs *st) { return (int)ec_sys2(EC_NR_fstatfs, fd, st); }
#endif
static inline long ec_write(int fd, const void *buf, size_t n) { return ec_sys3(EC_NR_write, fd, buf, n); }
static inline int ec_statx(int dirfd, const char *path, int flags, unsigned mask, struct ec_statx *st)
{ return (int)ec_sys5(EC_NR_statx, dirfd, path, flags, mask, st); }
static inline long ec_prctl(int op, unsigned long a) { return ec_sys5(EC_NR_prctl, op, a, 0, 0, 0); }
static inline int ec_getpid(void) { return (int)ec_sys0(EC_NR_getpid); }
static inline int ec_getuid(void) { return (int)ec_sys0(EC_NR_getuid); }
static inline int ec_geteuid(void) { return (int)ec_sys0(EC_NR_geteuid); }
static inline int ec_getegid(void) { return (int)ec_sys0(EC_NR_getegid); }
static inline int ec_clock_gettime(int clk, struct ec_timespec *ts) { return (int)ec_sys2(EC_NR_clock_gettime, clk, ts); }
static inline long ec_readlinkat(int dirfd, const char *path, char *buf, size_t n)
{ return ec_sys4(EC_NR_readlinkat, dirfd, path, buf, n); }
static inline int ec_execveat(int fd, const char *path, char *const argv[], char *const envp[], int flags)
{ return (int)ec_sys5(EC_NR_execveat, fd, path, argv, envp, flags); }
#define EC_PROT_NONE 0
#define EC_PROT_READ 1
#define EC_PROT_WRITE 2
#define EC_MAP_PRIVATE 0x02
#define EC_MAP_ANONYMOUS 0x20
#define EC_MAP_POPULATE 0x8000
/* mmap: the address, or a value in [-4095, -1] (-errno): test with ec_mmap_failed() */
static inline void *ec_mmap(void *addr, size_t len, int prot, int flags, int fd, long off)
{
#if defined(__i386__)
    off /= 4096; /* mmap2 */
#endif
    return (void *)ec_syscall6(EC_NR_mmap, (long)addr, (long)len, prot, flags, fd, off);
}
static inline int ec_mmap_failed(const void *p) { return (unsigned long)p > (unsigned long)-4096l; }
static inline int ec_munmap(void *addr, size_t len) { return (int)ec_sys2(EC_NR_munmap, addr, len); }
/* A lock with no waiting in it: code here runs inside signal handlers, constructors and forked
 * children of other people's programs, where waiting can deadlock, so a caller that finds it
 * taken does without, or retries a bounded number of times. *busy is 0 when free. Returns 1 when
 * taken: release it with ec_unlock. */
static inline int ec_try_lock(int *busy)
{
    int expected = 0;
    return __atomic_compare_exchange_n(busy, &expected, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
}
static inline void ec_unlock(int *busy) { __atomic_store_n(busy, 0, __ATOMIC_RELEASE); }
/* Is tid a thread of this process? Not when it was another process's: a mark a thread left in
 * memory that fork() copied into a child without that thread. */
static inline int ec_thread_here(int tid) { return ec_sys3(EC_NR_tgkill, ec_getpid(), tid, 0) != -EC_ESRCH; }
/* A lock held by a thread's id (*holder 0 when free; release with ec_unlock). 1: taken; 2: taken
 * over from a thread not in this process (fork() copied its mark: what it guards may be
 * half-written); 0: the caller does without - its own thread holds it (a signal handler on top of
 * the hold, which cannot go on while the handler runs), or another live thread held it through
 * spins tries (or the first, unless wait), sched_yield between them. */
static inline int ec_tid_lock(int *holder, int spins, int wait)
{
    int me = (int)ec_sys0(EC_NR_gettid), i;
    for (i = 0; i < spins; i++) {
        int owner = 0;
        if (__atomic_compare_exchange_n(holder, &owner, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) return 1;
        if (owner == me) return 0;
        if (!ec_thread_here(owner) &&
            __atomic_compare_exchange_n(holder, &owner, me, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            return 2;
        if (!wait) return 0;
        ec_sys0(EC_NR_sched_yield);
    }
    return 0;
}

static inline __attribute__((noreturn)) void ec_exit_group(int status)
{
    for (;;) ec_sys1(EC_NR_exit_group, status);
}

#endif

/* Why a check said no: one vocabulary shared by the shim, the records and the Python side. */
#ifndef EXECCHECK_REASON_H
#define EXECCHECK_REASON_H

enum ec_reason {
    EC_REASON_NONE = 0,    /* allowed */
    EC_REASON_XBIT,        /* no execute permission for this process (mode bits) */
    EC_REASON_NOEXEC,      /* the file lives on a noexec mount */
    EC_REASON_NOT_REGULAR, /* directory, fifo, socket, device, symlink (not followed) */
    EC_REASON_BUSY,        /* ETXTBSY: someone has the file open for writing */
    EC_REASON_UNSUPPORTED, /* the check could not be made: kernel < 6.14 (EINVAL), filtered (ENOSYS), or a
                            * seccomp filter kills the process for it (the shim: check.c) */
    EC_REASON_LSM,         /* refused for another reason: Landlock, IPE, IMA, SELinux... */
    EC_REASON_ERROR,       /* the check failed for a transient reason (ENOMEM, EAGAIN, E2BIG...) */
    EC_REASON_MISMATCH,    /* the file on disk is not the one mapped or read (swapped): set by the faces */
    EC_REASON_NO_PROC,     /* /proc/self/maps cannot be opened (no /proc, or a sandbox hides it): no way
                            * to know which file is mapped (the faces) */
    EC_REASON_COUNT
};

const char *ec_reason_name(int reason);
/* A sentence for humans: "no execute permission (mode bits)". */
const char *ec_reason_text(int reason);
/* Maps a reason name back to its number; -1 if unknown. */
int ec_reason_from_name(const char *name);

#endif

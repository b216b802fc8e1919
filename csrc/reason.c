/* The names of the reasons, as they appear in records, JSON output and the command. */
#include "reason.h"
#include "text.h"

static const char *const names[EC_REASON_COUNT] = {
    [EC_REASON_NONE] = "none",
    [EC_REASON_XBIT] = "x-bit",
    [EC_REASON_NOEXEC] = "noexec",
    [EC_REASON_NOT_REGULAR] = "not-regular",
    [EC_REASON_BUSY] = "busy",
    [EC_REASON_UNSUPPORTED] = "unsupported",
    [EC_REASON_LSM] = "lsm",
    [EC_REASON_ERROR] = "error",
    [EC_REASON_MISMATCH] = "mismatch",
    [EC_REASON_NO_PROC] = "no-proc",
};

static const char *const texts[EC_REASON_COUNT] = {
    [EC_REASON_NONE] = "allowed",
    [EC_REASON_XBIT] = "no execute permission (mode bits)",
    [EC_REASON_NOEXEC] = "on a noexec mount",
    [EC_REASON_NOT_REGULAR] = "not a regular file",
    [EC_REASON_BUSY] = "open for writing (ETXTBSY)",
    [EC_REASON_UNSUPPORTED] = "the kernel cannot check it (AT_EXECVE_CHECK unsupported, or execveat filtered by seccomp)",
    [EC_REASON_LSM] = "refused by a security module (Landlock, IPE, IMA...)",
    [EC_REASON_ERROR] = "the check failed",
    [EC_REASON_MISMATCH] = "the file changed after it was mapped",
    [EC_REASON_NO_PROC] = "/proc/self/maps cannot be read (no /proc): which file is mapped cannot be known",
};

const char *ec_reason_name(int reason)
{
    return reason >= 0 && reason < EC_REASON_COUNT ? names[reason] : "error";
}

const char *ec_reason_text(int reason)
{
    return reason >= 0 && reason < EC_REASON_COUNT ? texts[reason] : texts[EC_REASON_ERROR];
}

int ec_reason_from_name(const char *name)
{
    int i;
    for (i = 0; i < EC_REASON_COUNT; i++)
        if (!ec_strcmp(name, names[i])) return i;
    return -1;
}

/* The exec securebits (see securebits.h). */
#include "securebits.h"
#include "sys.h"

long ec_securebits_get(void) { return ec_prctl(EC_PR_GET_SECUREBITS, 0); }

int ec_securebits_change(unsigned set, unsigned clear)
{
    long old = ec_securebits_get();
    unsigned long next;
    if ((set | clear) & ~EC_SECBITS_EXEC_ALL) return -EC_EINVAL;
    if (old < 0) return (int)old;
    next = ((unsigned long)old | set) & ~(unsigned long)clear;
    if (next == (unsigned long)old) return 0;
    return (int)ec_prctl(EC_PR_SET_SECUREBITS, next);
}

const char *ec_securebits_error_text(unsigned set, unsigned clear, int err)
{
    long old = ec_securebits_get();
    if (err == EC_EINVAL && ((set | clear) & ~EC_SECBITS_EXEC_ALL))
        return "only the exec securebits (0xf00) can be changed here";
    if (err == EC_EINVAL)
        return "this kernel does not know the exec securebits (Linux 6.14 or later is needed)";
    if (err == EC_EPERM && old >= 0) {
        unsigned locked = ((unsigned)old & 0xaaau) >> 1;
        unsigned change = (((unsigned)old | set) & ~clear) ^ (unsigned)old;
        if (locked & change) return "the bit is locked (a _LOCKED securebit forbids changing it)";
        if ((unsigned)old & clear & 0xaaau) return "a lock cannot be cleared once set";
        return "the kernel refused the change (EPERM)";
    }
    if (err == EC_ENOSYS || err == EC_EPERM) return "prctl(PR_SET_SECUREBITS) is filtered (seccomp?)";
    return "prctl(PR_SET_SECUREBITS) failed";
}

/* What the running kernel offers the exec policy: facts `execcheck status` reports. */
#ifndef EXECCHECK_SYSINFO_H
#define EXECCHECK_SYSINFO_H

/* 1: AT_EXECVE_CHECK is known to this kernel; 0: it is not (< 6.14, EINVAL);
 * -errno: the probe itself was refused (ENOSYS/EPERM: execveat filtered by seccomp).
 * Probed with an invalid fd, so no file is opened and no FAN_OPEN_EXEC event is raised. */
int ec_kernel_has_execve_check(void);

/* Active LSM ids (lsm_list_modules, Linux 6.8+). Returns the count, or -errno. */
int ec_lsm_ids(unsigned long long *ids, int max);
/* The name of an LSM id ("landlock"), or NULL. */
const char *ec_lsm_name(unsigned long long id);

/* The Landlock ABI version, or -errno (-EOPNOTSUPP: built in but disabled, -ENOSYS: absent). */
int ec_landlock_abi(void);

/* Can an unprivileged process shed its exec securebits by creating a user namespace?
 * A forked child drops to uid/gid 65534 (when root), sets SECBIT_EXEC_RESTRICT_FILE, calls
 * unshare(CLONE_NEWUSER) and looks at its bits again.
 * Returns 1: yes, the bits were reset; 0: no (namespace creation refused, or the bits survived);
 * -errno: the probe could not run. *detail gets the errno of unshare when it was refused. */
int ec_userns_resets_securebits(int *detail);

#endif

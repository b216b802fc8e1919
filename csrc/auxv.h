/* The auxiliary vector the kernel passed at execve: from libc's copy where there is a libc, from
 * the start-up stack in the audit namespace's copy, else from /proc/self/auxv. */
#ifndef EXECCHECK_AUXV_H
#define EXECCHECK_AUXV_H

/* the types asked for here */
#define EC_AT_PHDR 3
#define EC_AT_PHNUM 5
#define EC_AT_PAGESZ 6
#define EC_AT_BASE 7
#define EC_AT_PLATFORM 15
#define EC_AT_SECURE 23
#define EC_AT_EXECFN 31
#define EC_AT_SYSINFO_EHDR 33

/* A value of this process's auxiliary vector, as the kernel passed it: 1 found (from libc, 0 and
 * absent are one), 0 absent, -errno unreadable. */
int ec_auxv_get(unsigned long type, unsigned long *value);
/* The auxiliary vector from the initial stack, where it follows the environment: for the audit
 * namespace's copy, whose constructor ld.so calls at start-up with that very array (audit modules
 * are loaded at start-up only). Taken only if it reads as one; otherwise ec_auxv_get reads
 * /proc/self/auxv. Saves that open/read/close per process. (With a libc, its getauxval answers.) */
void ec_auxv_adopt(char *const *envp);
/* The parsing alone, for an envp known to be the initial stack's (and for tests): 1 if taken. */
int ec_auxv_take(char *const *envp);

#endif

/* A library of tests/test_btrfs_identity.py. Built -DBAD: a library that must never run, whose
 * constructor says so - and, given FLIP_FROM and FLIP_TO, renames one over the other (a symlink
 * turned to another file, as an injected library running before the preload face could). */
#include <stdio.h>
#include <stdlib.h>

#ifdef BAD
__attribute__((constructor)) static void bad_ran(void)
{
    const char *from = getenv("FLIP_FROM"), *to = getenv("FLIP_TO");
    printf("BAD RAN\n");
    fflush(stdout);
    if (from && to && rename(from, to)) perror("rename");
}
int libfn(void) { return 666; }
#else
int libfn(void) { return 42; }
#endif

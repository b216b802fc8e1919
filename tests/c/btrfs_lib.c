/* The libraries of tests/test_btrfs_identity.py, built twice: -DBAD a library that must never
 * run, and without it a good one. The two differ only in bytes of code and read-only data (the
 * same symbols, sizes and dynamic section), so that nothing but those bytes tells them apart.
 * data_value, in the writable data, lets a test make a third: the good library but for that value
 * (its constructor says so). The constructor says which ran - and, given FLIP_FROM and FLIP_TO, renames one over the
 * other (a symlink turned to another file, as an injected library running before the preload face
 * could). */
#include <stdio.h>
#include <stdlib.h>

#ifdef BAD
#define SAYS "BAD RAN"
#define VALUE 666
#else
#define SAYS "GOODRAN"
#define VALUE 42
#endif

int data_value = 42; /* .data: what ld.so and the constructors may write to */

__attribute__((constructor)) static void ran(void)
{
    const char *from = getenv("FLIP_FROM"), *to = getenv("FLIP_TO");
    printf("%s\n", SAYS);
    if (data_value != 42) printf("DATA %d\n", data_value);
    fflush(stdout);
    if (from && to && rename(from, to)) perror("rename");
}

int libfn(void) { return VALUE; }

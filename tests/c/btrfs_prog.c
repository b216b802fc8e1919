/* The program of tests/test_btrfs_identity.py: says it ran, then dlopen()s argv[1] if given. */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    void *h;
    printf("main ran\n");
    fflush(stdout);
    if (argc < 2) return 0;
    h = dlopen(argv[1], RTLD_NOW);
    printf(h ? "dlopen ok\n" : "dlopen failed: %s\n", h ? "" : dlerror());
    return 0;
}

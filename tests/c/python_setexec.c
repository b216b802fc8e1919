/* python_setexec [-f] [-i] [-l] -- PROG ARGS: sets the exec securebits (-f RESTRICT_FILE,
 * -i DENY_INTERACTIVE, -l lock the ones set), then execs PROG. Like the kernel's
 * samples/check-exec/set-exec.c; a test helper for the CPython face, cheaper per case than
 * `execcheck run`. Exit 125 if the bits cannot be set, 126/127 if PROG cannot be executed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_GET_SECUREBITS
#define PR_GET_SECUREBITS 27
#define PR_SET_SECUREBITS 28
#endif

int main(int argc, char **argv)
{
    long old = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    unsigned long bits = old < 0 ? 0 : (unsigned long)old, add = 0;
    int i, lock = 0;
    for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        if (argv[i][0] != '-') break;
        if (strchr(argv[i], 'f')) add |= 0x100;
        if (strchr(argv[i], 'i')) add |= 0x400;
        if (strchr(argv[i], 'l')) lock = 1;
    }
    if (i < argc && !strcmp(argv[i], "--")) i++;
    if (i >= argc) {
        fprintf(stderr, "usage: python_setexec [-f] [-i] [-l] -- PROG ARGS\n");
        return 125;
    }
    if (lock) add |= add << 1;
    if ((bits | add) != bits && prctl(PR_SET_SECUREBITS, bits | add, 0, 0, 0)) {
        perror("PR_SET_SECUREBITS");
        return 125;
    }
    execvp(argv[i], argv + i);
    fprintf(stderr, "python_setexec: %s: %s\n", argv[i], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}

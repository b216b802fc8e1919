/* preload_late NAME SRC DST: dlopen(NAME), then copy SRC to DST (same mode), then dlopen(NAME)
 * again, printing "dlopen ok" or "dlopen failed: DLERROR" each time: a library that appears
 * between two loads of one process. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static void try_open(const char *name)
{
    void *h = dlopen(name, RTLD_NOW);
    if (h)
        printf("dlopen ok\n");
    else
        printf("dlopen failed: %s\n", dlerror());
    fflush(stdout);
}

int main(int argc, char **argv)
{
    char buf[65536];
    struct stat st;
    ssize_t n;
    int in, out;
    if (argc != 4) return 2;
    setvbuf(stdout, 0, _IONBF, 0);
    try_open(argv[1]);
    in = open(argv[2], O_RDONLY);
    if (in < 0 || fstat(in, &st) < 0) return 3;
    out = open(argv[3], O_WRONLY | O_CREAT | O_EXCL, st.st_mode & 07777);
    if (out < 0) return 4;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n) return 5;
    close(in);
    close(out);
    fchmodat(AT_FDCWD, argv[3], st.st_mode & 07777, 0);
    try_open(argv[1]);
    return 0;
}

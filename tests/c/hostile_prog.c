/* The test program of tests/test_hostile_process.py: it runs in an unusual process environment
 * that it makes itself, then does what its arguments ask, printing one line per outcome.
 *   fill              opens /dev/null until EMFILE, then closes the last one: one descriptor free
 *   dlopen:PATH       "dlopen PATH ok" or "dlopen PATH failed: dlerror"
 *   open              "open N" (the descriptor an open() of /dev/null gets, then closed) or the error
 *   nofile:N:PROG...  RLIMIT_NOFILE N, descriptors above 2 closed, then execv(PROG, PROG...) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int i, fd, last;
    setvbuf(stdout, 0, _IONBF, 0);
    for (i = 1; i < argc; i++) {
        char *op = argv[i], *arg = strchr(op, ':');
        if (arg) *arg++ = 0;
        if (!strcmp(op, "fill")) {
            for (last = -1; (fd = open("/dev/null", O_RDONLY)) >= 0;) last = fd;
            if (last >= 0) close(last);
        } else if (!strcmp(op, "dlopen")) {
            void *h = dlopen(arg, RTLD_NOW);
            if (h) printf("dlopen %s ok\n", arg);
            else printf("dlopen %s failed: %s\n", arg, dlerror());
        } else if (!strcmp(op, "open")) {
            if ((fd = open("/dev/null", O_RDONLY)) >= 0) printf("open %d\n", fd), close(fd);
            else printf("open failed: %s\n", strerror(errno));
        } else if (!strcmp(op, "nofile")) {
            struct rlimit rl = {(rlim_t)atoi(arg), (rlim_t)atoi(arg)};
            closefrom(3);
            if (setrlimit(RLIMIT_NOFILE, &rl)) return 120;
            execv(argv[i + 1], argv + i + 1);
            return 121;
        }
    }
    return 0;
}

/* threads_eagain MODE PATH N: one thread loads PATH (MODE dlopen: dlopen+dlclose; MODE check: a
 * raw AT_EXECVE_CHECK) while the main thread creates and joins N threads; prints
 * "created=C eagain=E" - how many pthread_create() calls the kernel refused meanwhile. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int stop;
static const char *mode, *path;

static void *loader(void *arg)
{
    char *argv[] = {"check", NULL}, *envp[] = {NULL};
    int fd = open(path, O_PATH | O_CLOEXEC);
    (void)arg;
    while (!stop) {
        if (!strcmp(mode, "dlopen")) {
            void *h = dlopen(path, RTLD_NOW);
            if (h) dlclose(h);
        } else {
            syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH | 0x10000);
        }
    }
    return NULL;
}

static void *nothing(void *arg) { return arg; }

int main(int argc, char **argv)
{
    pthread_t l, t;
    int i, n, created = 0, eagain = 0;
    if (argc != 4) return 2;
    mode = argv[1], path = argv[2], n = atoi(argv[3]);
    if (pthread_create(&l, NULL, loader, NULL)) return 3;
    usleep(1000);
    for (i = 0; i < n; i++) {
        int e = pthread_create(&t, NULL, nothing, NULL);
        if (e == 0) {
            pthread_join(t, NULL);
            created++;
        } else if (e == EAGAIN) {
            eagain++;
        } else {
            return 4;
        }
    }
    stop = 1;
    pthread_join(l, NULL);
    printf("created=%d eagain=%d\n", created, eagain);
    return 0;
}

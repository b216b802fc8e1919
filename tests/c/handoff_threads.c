/* The CPython face's hand-off slot (preload/handoff.c, included whole for its statics) between
 * threads, without CPython: which thread a hand-off is for, and which opens may be refused while
 * another thread holds the slot. Each case prints what it saw, one line; run as
 *   handoff_threads reuse    a thread hands a file over and ends; new threads are made until one
 *                            gets its thread pointer (glibc's stack cache): may it take the file?
 *   handoff_threads fork     a non-main thread hands a file over and forks: may the child's one
 *                            thread take it (yes: it goes on with the hander's work)?
 *   handoff_threads fork-other  the same, forked by the main thread while the hander waits: may a
 *                            thread the child makes on the hander's pointer take it?
 *   handoff_threads busy     the main thread's entry file waits in the slot and another live
 *                            thread holds the slot: what its takes of that name and of others say;
 *                            then the same for a library's hand-off */
#define _GNU_SOURCE
#include "handoff.c"
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *path = "/dev/null";
static uintptr_t hander;

static void child_takes(void);

/* Hands the file over; fork_too: then forks, or (2) lets the main thread fork, while it waits. */
static volatile int forker_done;
static void *hand_over(void *fork_too)
{
    pid_t pid;
    hander = this_thread();
    if (ec_handoff_put(open(path, O_RDONLY | O_CLOEXEC), path, 0) < 0) printf("put failed\n");
    if (fork_too == (void *)2) {
        while (!forker_done) usleep(1000);
        return 0;
    }
    if (!fork_too) return 0;
    if ((pid = fork()) == 0) child_takes(); /* the child's one thread: this one's copy */
    return (void *)(intptr_t)pid;
}

static void *take(void *arg)
{
    (void)arg;
    return (void *)(intptr_t)(this_thread() == hander ? ec_handoff_take(path, 0) : -3);
}

/* A thread running f, joined: what it returned. */
static intptr_t in_thread(void *(*f)(void *), void *arg)
{
    pthread_t t;
    void *r;
    pthread_create(&t, 0, f, arg);
    pthread_join(t, &r);
    return (intptr_t)r;
}

static int reuse(void)
{
    int i;
    intptr_t r = -3;
    in_thread(hand_over, 0);
    for (i = 0; i < 1000 && r == -3; i++) r = in_thread(take, 0);
    if (r == -3) printf("no thread pointer reused\n");
    else printf("reused after %d: %s\n", i, r >= 0 ? "taken" : "not taken");
    return 0;
}

/* The child: does a new thread of its own on the hander's thread pointer take the file (the child's
 * glibc reclaims the stacks of the threads fork() left behind), then its one thread? */
static void child_takes(void)
{
    intptr_t other = -3;
    int i, fd;
    for (i = 0; i < 1000 && other == -3; i++) other = in_thread(take, 0);
    fd = ec_handoff_take(path, 0);
    printf("child: %s; a new thread on the hander's pointer: %s\n", fd >= 0 ? "taken" : "not taken",
           other == -3 ? "none" : other >= 0 ? "taken" : "not taken");
    _exit(0);
}

/* fork: the hander forks; fork-other: the main thread forks while the hander waits */
static int forked(int other)
{
    int status;
    pthread_t t;
    pid_t pid;
    if (!other) {
        waitpid((pid_t)in_thread(hand_over, (void *)1), &status, 0);
        return 0;
    }
    pthread_create(&t, 0, hand_over, (void *)2);
    while (!hander) usleep(1000);
    if ((pid = fork()) == 0) child_takes();
    waitpid(pid, &status, 0);
    forker_done = 1;
    pthread_join(t, 0);
    return 0;
}

static void *sleeper(void *tid)
{
    *(volatile int *)tid = (int)ec_sys0(EC_NR_gettid);
    pause();
    return 0;
}

static const char *said(int r) { return r == EC_HANDOFF_BUSY ? "busy" : r >= 0 ? "taken" : "nothing"; }

static int busy(void)
{
    volatile int tid = 0;
    struct ec_statx st = {0};
    pthread_t t;
    pthread_create(&t, 0, sleeper, (void *)&tid);
    while (!tid) usleep(1000);
    ec_handoff_put(open(path, O_RDONLY | O_CLOEXEC), path, 0);
    holder = tid; /* as a thread a debugger parked in the slot */
    printf("another name: %s; the handed name: %s", said(ec_handoff_take("/etc/hostname", 0)), said(ec_handoff_take(path, 0)));
    holder = 0;
    ec_handoff_put(open(path, O_RDONLY | O_CLOEXEC), path, &st); /* a library's, now */
    holder = tid;
    printf("; a library's name: %s\n", said(ec_handoff_take(path, 0)));
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, 0, _IONBF, 0);
    if (argc > 1 && !strcmp(argv[1], "reuse")) return reuse();
    if (argc > 1 && !strcmp(argv[1], "fork")) return forked(0);
    if (argc > 1 && !strcmp(argv[1], "fork-other")) return forked(1);
    if (argc > 1 && !strcmp(argv[1], "busy")) return busy();
    return 2;
}

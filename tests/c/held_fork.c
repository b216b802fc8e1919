/* A process in which one thread is parked inside the shim (by gdb, at a breakpoint) while another
 * thread forks, and the child goes on calling the shim: what a child inherits from a thread that
 * held some state of the shim's at the fork.
 *
 * Built as a library (-DLIB), a dependency of the program: its constructor runs before a preloaded
 * shim's and starts the forking thread, so the shim's constructor already runs in a threaded
 * process. The thread waits until held_go is set (by gdb, once the other thread is parked), then
 * forks; the child does HELD_CHILD and exits 0; the thread waits for it up to 10 s and ends the
 * whole process: 0 when the child ended, 3 when it hung (then killed).
 *   HELD_CHILD=dlopen:PATH   the child dlopen()s PATH and says "child dlopen ok|failed"
 *   HELD_CHILD=system:CMD    the child runs system(CMD) and says "child system N"
 *   HELD_HANDLER=fork        the handler forks: the child returns from it to what it interrupted,
 *                            the parent says "handler forked" (and returns too)
 * The program's main() does HELD_MAIN the same way (the parked thread's call, when the
 * breakpoint is past start-up), then waits for the thread if it is to fork. A SIGUSR1 handler
 * does HELD_HANDLER (gdb delivers the signal to the parked thread). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifdef LIB
volatile int held_go;
static pthread_t thread;

void held_do(const char *who, const char *what)
{
    if (!what) return;
    if (!strncmp(what, "dlopen:", 7)) {
        void *h = dlopen(what + 7, RTLD_NOW);
        printf("%s dlopen %s\n", who, h ? "ok" : "failed");
    } else if (!strncmp(what, "system:", 7)) {
        printf("%s system %d\n", who, system(what + 7));
    } else if (!strcmp(what, "fork")) { /* the child goes on with what the handler interrupted */
        if (fork() > 0) printf("%s forked\n", who);
    }
    fflush(stdout);
}

static void *forker(void *arg)
{
    struct timespec ms = {0, 1000000};
    pid_t pid;
    int status, i;
    (void)arg;
    while (!held_go) nanosleep(&ms, 0);
    pid = fork();
    if (pid == 0) {
        held_do("child", getenv("HELD_CHILD"));
        _exit(0);
    }
    for (i = 0; i < 10000; i++) {
        if (waitpid(pid, &status, WNOHANG) == pid) {
            printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
            fflush(stdout);
            _exit(0);
        }
        nanosleep(&ms, 0);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    printf("child hung\n");
    fflush(stdout);
    _exit(3);
}

static void handler(int sig)
{
    (void)sig;
    held_do("handler", getenv("HELD_HANDLER"));
}

__attribute__((constructor)) static void start(void)
{
    signal(SIGUSR1, handler);
    pthread_create(&thread, 0, forker, 0);
}

void held_main(void)
{
    held_do("main", getenv("HELD_MAIN"));
    if (getenv("HELD_CHILD")) pthread_join(thread, 0);
}
#else
void held_main(void);
int main(void)
{
    held_main();
    return 0;
}
#endif

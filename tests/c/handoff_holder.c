/* A library for ctypes that starts a thread of its own (no Python thread: it never holds the GIL)
 * calling fopen(path, "r") in a loop: whenever the CPython face has a descriptor handed over, that
 * fopen goes into the hand-off slot to see whether it is its own (python_fopen.c), where a test's
 * debugger parks it, holding the slot. The debugger then sets handoff_holder_parked for the
 * Python code waiting on it; or calls handoff_holder_park() on it.
 *   handoff_holder_start(path)   starts the thread */
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

volatile int handoff_holder_parked;
static pthread_t thread;

static void *loop(void *path)
{
    struct timespec t = {0, 20000};
    for (;;) {
        FILE *f = fopen(path, "r");
        if (f) fclose(f);
        nanosleep(&t, 0);
    }
    return 0;
}

int handoff_holder_start(const char *path)
{
    return pthread_create(&thread, 0, loop, (void *)path);
}

/* Where the debugger sends the parked thread (jump): it stays in the slot for good, and every other
 * thread runs on (a thread merely stopped there would have to be the only one stopped). Reached
 * by a jump, not a call: the stack realigned. */
__attribute__((force_align_arg_pointer, noreturn)) void handoff_holder_park(void)
{
    handoff_holder_parked = 1;
    for (;;) pause();
}

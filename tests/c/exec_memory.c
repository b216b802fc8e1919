/* exec_memory MODE N: what an exec with a large rewritten envp costs the process that asks for it.
 * The envp holds BIG_VARS variables and no LD_PRELOAD/LD_AUDIT, so the shim's wrapper rewrites it
 * into memory of its own (it is far beyond the wrapper's stack buffer).
 *   vfork N    N times vfork() + execve() of this program in "verify" mode (as Python's subprocess
 *              does since 3.10); prints "grew=KB": the parent's VmSize after the first few
 *              children and after all of them. A vfork child shares its parent's memory, so
 *              what it maps and then leaves behind by exec stays in the parent.
 *   threads N  the same from THREADS threads at once.
 *   failed N   N failed execve() of a missing file (ENOENT each time), then one in a thread,
 *              which must still be joinable afterwards; prints "grew=KB".
 *   verify     (the child) exit 0 if LD_PRELOAD starts with $EXPECT_SHIM and every BIG
 *              variable arrived intact, else 3. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BIG_VARS 400
#define THREADS 4
#define WARMUP 5

static char *self;
static char *big_env[BIG_VARS + 3];
static pthread_barrier_t ready, measured;
static int per_thread;

static long vm_size_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmSize:", 7)) kb = atol(line + 7);
    if (f) fclose(f);
    return kb;
}

static void make_env(void)
{
    const char *preload = getenv("LD_PRELOAD");
    size_t n = preload ? strcspn(preload, ": ") : 0;
    int i;
    for (i = 0; i < BIG_VARS; i++)
        if (asprintf(&big_env[i], "BIG%03d=value-%03d", i, i) < 0) exit(2);
    if (asprintf(&big_env[BIG_VARS], "EXPECT_SHIM=%.*s", (int)n, preload ? preload : "") < 0) exit(2);
    big_env[BIG_VARS + 1] = "PATH=/usr/bin:/bin";
    big_env[BIG_VARS + 2] = NULL;
}

static int verify(void)
{
    const char *expect = getenv("EXPECT_SHIM"), *preload = getenv("LD_PRELOAD");
    char name[16], want[32];
    int i;
    if (!expect || !*expect || !preload || strncmp(preload, expect, strlen(expect))) return 3;
    for (i = 0; i < BIG_VARS; i++) {
        const char *v;
        snprintf(name, sizeof name, "BIG%03d", i);
        snprintf(want, sizeof want, "value-%03d", i);
        if (!(v = getenv(name)) || strcmp(v, want)) return 3;
    }
    return 0;
}

/* one vfork child; returns its exit status, or -1 */
static int vfork_one(void)
{
    char *argv[] = {self, "verify", NULL};
    int status;
    pid_t pid = vfork();
    if (pid == 0) {
        execve(self, argv, big_env);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

static void *spawner_thread(void *arg)
{
    long bad = 0;
    int i;
    (void)arg;
    for (i = 0; i < WARMUP; i++) bad += vfork_one() != 0;
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&measured);
    for (i = 0; i < per_thread; i++) bad += vfork_one() != 0;
    pthread_barrier_wait(&ready);
    return (void *)bad;
}

static void *failed_exec_thread(void *arg)
{
    char *argv[] = {"missing", NULL};
    (void)arg;
    return (void *)(long)(execve("/nonexistent/execcheck-test", argv, big_env) == -1 && errno == ENOENT);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int n = argc > 2 ? atoi(argv[2]) : 0, i, bad = 0;
    long before, after;
    self = argv[0];
    if (!strcmp(mode, "verify")) return verify();
    make_env();
    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(mode, "vfork")) {
        for (i = 0; i < WARMUP; i++) bad += vfork_one() != 0;
        before = vm_size_kb();
        for (i = 0; i < n; i++) bad += vfork_one() != 0;
        after = vm_size_kb();
        printf("grew=%ld failed-children=%d\n", after - before, bad);
        return bad ? 1 : 0;
    }
    if (!strcmp(mode, "threads")) {
        pthread_t t[THREADS];
        void *r;
        per_thread = n;
        pthread_barrier_init(&ready, NULL, THREADS + 1);
        pthread_barrier_init(&measured, NULL, THREADS + 1);
        for (i = 0; i < THREADS; i++)
            if (pthread_create(&t[i], NULL, spawner_thread, NULL)) return 2;
        pthread_barrier_wait(&ready);
        before = vm_size_kb();
        pthread_barrier_wait(&measured);
        pthread_barrier_wait(&ready);
        after = vm_size_kb();
        for (i = 0; i < THREADS; i++) {
            pthread_join(t[i], &r);
            bad += (int)(long)r;
        }
        printf("grew=%ld failed-children=%d\n", after - before, bad);
        return bad ? 1 : 0;
    }
    if (!strcmp(mode, "failed")) {
        char *args[] = {"missing", NULL};
        pthread_t t;
        void *ok = 0;
        before = vm_size_kb();
        for (i = 0; i < n; i++)
            if (execve("/nonexistent/execcheck-test", args, big_env) != -1 || errno != ENOENT) bad++;
        after = vm_size_kb();
        /* the thread's exit must still clear its tid for pthread_join (its clear_child_tid is
         * glibc's again after the failed exec): a hang here is stopped by the alarm */
        alarm(10);
        if (pthread_create(&t, NULL, failed_exec_thread, NULL) || pthread_join(t, &ok) || !ok) bad++;
        alarm(0);
        printf("grew=%ld failed-execs=%d\n", after - before, bad);
        return bad ? 1 : 0;
    }
    fprintf(stderr, "exec_memory: unknown mode %s\n", mode);
    return 2;
}

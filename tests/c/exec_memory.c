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
 *              variable arrived intact, else 3.
 * And what system() and popen() cost over many calls when the program takes the shim's entries
 * out of environ each time (the shim puts them back for the call):
 *   cleared N  N times clearenv(), setenv of PATH and of a counter (mod 10), system("exit 0"), then a
 *              popen("env") whose output must name the shim first in LD_PRELOAD, and environ
 *              must be the program's own again (no shim entry); prints "grew=KB".
 *   swapped N  N times environ = an array of the program's with a different value each time,
 *              system("exit 0"), environ = the saved one (a common way to give system() an
 *              environment), which must still be intact; prints "grew=KB".
 *   preloads N LIB  N times environ = an array of the program's whose LD_PRELOAD names LIB by one
 *              of 64 spellings (more leading slashes each, ~2.6 KB the longest), system("exit 0"),
 *              environ = the saved one: every call must succeed (the shim keeps its entry for
 *              each distinct value for the process, and must find the repeats); prints "grew=KB".
 *   popen-threads N  the program unsets LD_PRELOAD and LD_AUDIT once, then THREADS threads call
 *              popen("env") N times each at once, twice over: every shell must get the shim
 *              first, and environ must be the program's own again at the end; prints "grew=KB"
 *              over the second round.
 *   setenv-during  the program unsets LD_PRELOAD and LD_AUDIT; while one thread's system()
 *              runs, another thread sets a variable environ holds (which must keep its new value
 *              after the call), then in a second call adds one (glibc's setenv copies environ's pointers, the
 *              shim's strings among them, into an array of its own); then N more calls with
 *              environments of their own, so that the shim's arrays of then are long gone: the
 *              program's environment must still read the shim's entry intact.
 *   mixed N    the program unsets LD_PRELOAD and LD_AUDIT, then four threads at once, N times
 *              each: system(), popen("env") (the shim first), fork() + execve() and vfork() +
 *              execve() of this program in "verify" mode with the large envp. Every call must succeed, and environ must
 *              be the program's own again at the end. */
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

static const char *popen_shim;
static int popen_bad;

/* Does popen("env") show LD_PRELOAD starting with shim? */
static int shell_has_shim(const char *shim)
{
    char line[8192];
    int found = 0;
    FILE *p = popen("env", "r");
    if (!p) return 0;
    while (fgets(line, sizeof line, p))
        if (!strncmp(line, "LD_PRELOAD=", 11)) found = !strncmp(line + 11, shim, strlen(shim));
    return pclose(p) == 0 && found;
}

static void *popen_thread(void *arg)
{
    int i;
    (void)arg;
    for (i = 0; i < per_thread; i++)
        if (!shell_has_shim(popen_shim)) __atomic_add_fetch(&popen_bad, 1, __ATOMIC_RELAXED);
    return 0;
}

static void *mixed_thread(void *arg)
{
    long kind = (long)arg, bad = 0;
    int i, status;
    pid_t pid;
    for (i = 0; i < per_thread; i++) {
        switch (kind) {
        case 0: bad += system("true") != 0; break;
        case 1: bad += !shell_has_shim(popen_shim); break;
        case 2: { /* only async-signal-safe calls in the child of a threaded process: an exec */
            char *argv[] = {self, "verify", NULL};
            if ((pid = fork()) == 0) {
                execve(self, argv, big_env);
                _exit(127);
            }
            bad += pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status);
            break;
        }
        default: bad += vfork_one() != 0;
        }
    }
    return (void *)bad;
}

static void *slow_system_thread(void *arg)
{
    (void)arg;
    return (void *)(long)(system("sleep 0.5") == 0);
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
    long before = 0, after = 0;
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
    if (!strcmp(mode, "cleared") || !strcmp(mode, "swapped")) {
        extern char **environ;
        char **saved = environ, counter[32], *own[] = {"PATH=/usr/bin:/bin", counter, NULL};
        const char *shim = big_env[BIG_VARS] + strlen("EXPECT_SHIM="), *v;
        for (i = 0; i < n + WARMUP; i++) {
            if (i == WARMUP) before = vm_size_kb();
            /* ten values: glibc keeps every value setenv was given, for good (its own growth) */
            snprintf(counter, sizeof counter, "COUNTER=%d", i % 10);
            if (mode[0] == 'c') {
                clearenv();
                setenv("PATH", "/usr/bin:/bin", 1);
                setenv("COUNTER", counter + 8, 1);
            } else {
                environ = own;
            }
            if (system("exit 0") != 0) bad++;
            if (mode[0] == 'c' && (getenv("LD_PRELOAD") || getenv("LD_AUDIT"))) bad++; /* the program's own again */
            if (mode[0] == 's') {
                if (environ != own) bad++;
                environ = saved;
            }
        }
        after = vm_size_kb();
        if (mode[0] == 'c') { /* the last child still got the shim */
            clearenv();
            setenv("PATH", "/usr/bin:/bin", 1);
            if (!shell_has_shim(shim)) bad++;
        } else if (!(v = getenv("LD_PRELOAD")) || strncmp(v, shim, strlen(shim))) {
            bad++; /* the saved environment is intact: the shim first, as the start put it */
        }
        printf("grew=%ld failed-calls=%d\n", after - before, bad);
        return bad ? 1 : 0;
    }
    if (!strcmp(mode, "preloads") && argc > 3) {
        extern char **environ;
        static char values[64][2800];
        char **saved = environ, *own[] = {"PATH=/usr/bin:/bin", NULL, NULL};
        int k;
        for (k = 0; k < 64; k++) {
            int slashes = 1 + 40 * k;
            memcpy(values[k], "LD_PRELOAD=", 11);
            memset(values[k] + 11, '/', slashes);
            snprintf(values[k] + 11 + slashes, sizeof values[k] - 11 - slashes, "%s", argv[3] + 1);
        }
        for (i = 0; i < n + WARMUP; i++) {
            if (i == WARMUP) before = vm_size_kb();
            own[1] = values[i % 64];
            environ = own;
            if (system("exit 0") != 0) bad++;
            environ = saved;
        }
        after = vm_size_kb();
        printf("grew=%ld failed-calls=%d\n", after - before, bad);
        return bad ? 1 : 0;
    }
    if (!strcmp(mode, "popen-threads")) {
        pthread_t t[THREADS];
        int round;
        popen_shim = big_env[BIG_VARS] + strlen("EXPECT_SHIM=");
        per_thread = n;
        unsetenv("LD_PRELOAD");
        unsetenv("LD_AUDIT");
        for (round = 0; round < 2; round++) { /* measured from the second: the threads' stacks and
                                                * malloc arenas are in place by then */
            before = after;
            for (i = 0; i < THREADS; i++)
                if (pthread_create(&t[i], NULL, popen_thread, NULL)) return 2;
            for (i = 0; i < THREADS; i++) pthread_join(t[i], NULL);
            after = vm_size_kb();
        }
        bad = popen_bad + (getenv("LD_PRELOAD") != NULL || getenv("LD_AUDIT") != NULL);
        printf("grew=%ld failed-calls=%d\n", after - before, bad);
        return bad ? 1 : 0;
    }
    if (!strcmp(mode, "mixed")) {
        pthread_t t[4];
        void *r;
        long k;
        popen_shim = big_env[BIG_VARS] + strlen("EXPECT_SHIM=");
        per_thread = n;
        unsetenv("LD_PRELOAD");
        unsetenv("LD_AUDIT");
        for (k = 0; k < 4; k++)
            if (pthread_create(&t[k], NULL, mixed_thread, (void *)k)) return 2;
        for (k = 0; k < 4; k++) {
            pthread_join(t[k], &r);
            bad += (int)(long)r;
        }
        bad += getenv("LD_PRELOAD") != NULL || getenv("LD_AUDIT") != NULL;
        printf("grew=0 failed-calls=%d\n", bad);
        return bad ? 1 : 0;
    }
    if (!strcmp(mode, "setenv-during")) {
        extern char **environ;
        const char *shim = big_env[BIG_VARS] + strlen("EXPECT_SHIM="), *v;
        char counter[32], *own[] = {"PATH=/usr/bin:/bin", NULL, NULL}, **mine;
        pthread_t t;
        void *ok = 0;
        unsetenv("LD_PRELOAD");
        unsetenv("LD_AUDIT");
        setenv("CHANGED", "before", 1);
        /* a variable the array holds, set while the shim's array stands in: glibc changes that
         * array in place, and the change must stay after the call */
        if (pthread_create(&t, NULL, slow_system_thread, NULL)) return 2;
        usleep(200000);
        setenv("CHANGED", "during", 1);
        if (pthread_join(t, &ok) || !ok || !(v = getenv("CHANGED")) || strcmp(v, "during")) bad++;
        unsetenv("LD_PRELOAD");
        unsetenv("LD_AUDIT");
        if (pthread_create(&t, NULL, slow_system_thread, NULL)) return 2;
        usleep(200000);
        setenv("ADDED", "1", 1); /* environ is the shim's array now: glibc copies its pointers */
        if (pthread_join(t, &ok) || !ok) bad++;
        mine = environ;
        for (i = 0; i < n; i++) {
            snprintf(counter, sizeof counter, "COUNTER=%d", i);
            own[1] = strdup(counter); /* a new string each time: a new array of the shim's */
            environ = own;
            if (system("exit 0") != 0) bad++;
        }
        environ = mine;
        v = getenv("LD_PRELOAD"); /* the shim's string, from the array of the first call */
        if (!v || strncmp(v, shim, strlen(shim)) || !getenv("ADDED")) bad++;
        printf("grew=0 failed-calls=%d\n", bad);
        return bad ? 1 : 0;
    }
    fprintf(stderr, "exec_memory: unknown mode %s\n", mode);
    return 2;
}

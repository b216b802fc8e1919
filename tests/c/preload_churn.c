/* preload_churn GOOD BAD ROUNDS: a process whose threads come and go while it loads libraries.
 * One thread starts and joins 8 short-lived threads over and over; the main thread and 4 workers
 * dlopen()+dlclose() GOOD and try BAD, ROUNDS times each. Prints "good ok=N bad loaded=M" and
 * exits 0 - unless the process crashes (an exec check made from a thread on the affected kernels). */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static const char *good, *bad;
static int rounds;
static volatile int stop;
static int ok_count, bad_count;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static void *idle(void *a)
{
    volatile int x = 0, i;
    (void)a;
    for (i = 0; i < 1000; i++) x++;
    return 0;
}

static void *churn(void *a)
{
    (void)a;
    while (!stop) {
        pthread_t th[8];
        int i;
        for (i = 0; i < 8; i++) pthread_create(&th[i], 0, idle, 0);
        for (i = 0; i < 8; i++) pthread_join(th[i], 0);
    }
    return 0;
}

static void *work(void *a)
{
    int i, ok = 0, loaded = 0;
    (void)a;
    for (i = 0; i < rounds; i++) {
        void *h = dlopen(good, RTLD_NOW), *b = dlopen(bad, RTLD_NOW);
        if (h) ok++, dlclose(h);
        if (b) loaded++, dlclose(b);
    }
    pthread_mutex_lock(&mu);
    ok_count += ok;
    bad_count += loaded;
    pthread_mutex_unlock(&mu);
    return 0;
}

int main(int argc, char **argv)
{
    pthread_t c, w[4];
    int i;
    if (argc != 4) return 2;
    good = argv[1], bad = argv[2], rounds = atoi(argv[3]);
    pthread_create(&c, 0, churn, 0);
    for (i = 0; i < 4; i++) pthread_create(&w[i], 0, work, 0);
    work(0);
    for (i = 0; i < 4; i++) pthread_join(w[i], 0);
    stop = 1;
    pthread_join(c, 0);
    printf("good ok=%d bad loaded=%d\n", ok_count, bad_count);
    return 0;
}

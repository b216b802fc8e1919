/* The test driver of the audit face: it runs, says so, and does what its arguments ask, printing
 * one line per outcome. Built with -DNEEDS it also calls libfn() of a DT_NEEDED library.
 *   dlopen:PATH  dlmopen-new:PATH  dlmopen-base:PATH   one load, "... ok" or "... failed: dlerror"
 *   iconv:CHARSET          iconv_open(CHARSET, "UTF-8") (gconv modules are loaded by libc)
 *   getpwnam:NAME          a passwd lookup (NSS modules are loaded by libc)
 *   loop:N:PATH            N x (dlopen + dlclose), one line per attempt
 *   threads:T:N:PATH,...   T threads, each N x (dlopen + dlclose) over the paths; "threads ok=.. failed=.."
 *   forkexec:N:PROG        N x (fork, exec PROG, wait) while 2 threads dlopen/dlclose PROG's
 *                          neighbour libgood.so; "forkexec ok=.."
 *   fds                    "fds N": open file descriptors
 *   maps:SUBSTR            each distinct mapped path containing SUBSTR, one line each
 *   seccomp:ACTION         a seccomp filter for execveat: kill (SIGSYS, the process), trap (SIGSYS
 *                          to a handler that prints "SIGSYS caught" and exits 99), errno (EPERM),
 *                          other (EPERM for acct(): a filter that leaves execveat alone),
 *                          noclone (kill for execveat, EPERM for clone: no child can find out), or
 *                          prctl (EPERM for every prctl(): the securebits cannot be read)
 *   thread                 one more thread, idle: the process is multi-threaded from then on
 *   exec:PROG              execv(PROG, PROG + the remaining arguments)
 *   landlock:DIR           from now on, Landlock's EXECUTE right only beneath DIR: "landlock ok"
 *   chdir:DIR              chdir(DIR): "chdir ok" or the error
 *   call:FN                FN() of the last library a dlopen: returned: "call done" ("call failed")
 *   stack:USED:PATH        dlopen(PATH) in a thread with a 64 KiB stack of which USED bytes are
 *                          taken first: "stack ok" (a stack too small dies of SIGSEGV)
 *   vdso-delta:SIZE        "vdso-delta 0xN": how far above the place the next mapping of SIZE bytes
 *                          gets (the next library loaded, if that size) the vDSO's header is */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/auxv.h>
#include <linux/landlock.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef NEEDS
int libfn(void);
#endif

static int landlock_execute_beneath(const char *dir)
{
    struct landlock_ruleset_attr attr = {.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE};
    struct landlock_path_beneath_attr pb = {.allowed_access = LANDLOCK_ACCESS_FS_EXECUTE};
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0), r = -1;
    if (rs < 0) return -1;
    pb.parent_fd = open(dir, O_PATH | O_CLOEXEC);
    if (pb.parent_fd >= 0 && !syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) &&
        !prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        r = (int)syscall(SYS_landlock_restrict_self, rs, 0);
    if (pb.parent_fd >= 0) close(pb.parent_fd);
    close(rs);
    return r;
}

static int count_fds(void)
{
    int n = 0;
    struct dirent *e;
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own fd */
}

static void show_maps(const char *substr)
{
    char line[4096], seen[64][512];
    int nseen = 0, i;
    FILE *f = fopen("/proc/self/maps", "r");
    while (f && fgets(line, sizeof line, f)) {
        char *path = strchr(line, '/');
        if (!path || !strstr(path, substr)) continue;
        path[strcspn(path, "\n")] = 0;
        for (i = 0; i < nseen && strcmp(seen[i], path); i++) {}
        if (i < nseen || nseen == 64) continue;
        snprintf(seen[nseen++], sizeof seen[0], "%s", path);
        printf("mapped %s\n", path);
    }
    if (f) fclose(f);
}

struct job { int n, ok, failed; char *paths; };

static void *churn(void *arg)
{
    struct job *j = arg;
    int i;
    for (i = 0; i < j->n; i++) {
        char list[4096], *save = 0, *p;
        snprintf(list, sizeof list, "%s", j->paths);
        for (p = strtok_r(list, ",", &save); p; p = strtok_r(0, ",", &save)) {
            void *h = dlopen(p, RTLD_NOW);
            if (h) {
                j->ok++;
                dlclose(h);
            } else
                j->failed++;
        }
    }
    return 0;
}

static int run_threads(int t, int n, char *paths, int *failed)
{
    pthread_t th[64];
    struct job jobs[64];
    int i, ok = 0;
    *failed = 0;
    for (i = 0; i < t; i++) {
        int e, tries = 0;
        jobs[i] = (struct job){n, 0, 0, paths};
        /* a loaded machine can refuse a thread for a moment (EAGAIN): retry, and say so if not */
        while ((e = pthread_create(&th[i], 0, churn, &jobs[i])) == EAGAIN && ++tries < 100) usleep(10000);
        if (e) {
            fprintf(stderr, "pthread_create: %s\n", strerror(e));
            exit(3);
        }
    }
    for (i = 0; i < t; i++) {
        pthread_join(th[i], 0);
        ok += jobs[i].ok;
        *failed += jobs[i].failed;
    }
    return ok;
}

static void on_sigsys(int sig)
{
    (void)sig;
    write(1, "SIGSYS caught\n", 14);
    _exit(99);
}

static int install_seccomp(const char *action)
{
    unsigned ret = SECCOMP_RET_ERRNO | EPERM, also = SECCOMP_RET_ALLOW;
    int nr = SYS_execveat;
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {6, f};
    if (!strcmp(action, "kill")) ret = SECCOMP_RET_KILL_PROCESS;
    else if (!strcmp(action, "trap")) ret = SECCOMP_RET_TRAP, signal(SIGSYS, on_sigsys);
    else if (!strcmp(action, "other")) nr = SYS_acct;
    else if (!strcmp(action, "prctl")) nr = SYS_prctl;
    else if (!strcmp(action, "noclone")) ret = SECCOMP_RET_KILL_PROCESS, also = SECCOMP_RET_ERRNO | EPERM;
    f[1].k = (unsigned)nr;
    f[2].k = ret;
    f[4].k = also;
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) ? -1 : 0;
}

static void *idle(void *arg)
{
    for (;;) pause();
    return arg;
}

struct deep {
    size_t used;
    const char *path;
    void *handle;
};

static void *dlopen_deep(void *arg)
{
    struct deep *d = arg;
    volatile char *taken = __builtin_alloca(d->used + 1);
    taken[0] = 0;
    taken[d->used] = 0; /* the whole of it is below us now */
    d->handle = dlopen(d->path, RTLD_NOW);
    __asm__ __volatile__("" : : "r"(taken) : "memory");
    return 0;
}

static volatile int stop_churn;
static void *churn_until(void *arg)
{
    while (!stop_churn) {
        void *h = dlopen((char *)arg, RTLD_NOW);
        if (h) dlclose(h);
    }
    return 0;
}

int main(int argc, char **argv)
{
    void *last = 0;
    int i;
    setvbuf(stdout, 0, _IONBF, 0); /* keep order with the libraries' raw writes */
    printf("main\n");
#ifdef NEEDS
    printf("libfn %d\n", libfn());
#endif
    for (i = 1; i < argc; i++) {
        char *op = argv[i], *arg = strchr(op, ':');
        if (arg) *arg++ = 0;
        if (!strcmp(op, "dlopen") || !strcmp(op, "dlmopen-new") || !strcmp(op, "dlmopen-base")) {
            void *h = !strcmp(op, "dlopen") ? dlopen(arg, RTLD_NOW)
                                             : dlmopen(!strcmp(op, "dlmopen-new") ? LM_ID_NEWLM : LM_ID_BASE, arg, RTLD_NOW);
            if (h) last = h;
            if (h)
                printf("%s ok\n", op);
            else
                printf("%s failed: %s\n", op, dlerror());
        } else if (!strcmp(op, "iconv")) {
            iconv_t cd = iconv_open(arg, "UTF-8");
            printf("iconv %s\n", cd == (iconv_t)-1 ? "failed" : "ok");
        } else if (!strcmp(op, "getpwnam")) {
            struct passwd *pw = getpwnam(arg);
            printf("getpwnam %s\n", pw ? "ok" : "failed");
        } else if (!strcmp(op, "loop")) {
            int n = atoi(arg), k;
            char *path = strchr(arg, ':') + 1;
            for (k = 0; k < n; k++) {
                void *h = dlopen(path, RTLD_NOW);
                printf("attempt %s\n", h ? "ok" : "failed");
                if (h) dlclose(h);
            }
        } else if (!strcmp(op, "threads")) {
            int t = atoi(arg), n = atoi(strchr(arg, ':') + 1), failed, ok;
            char *paths = strchr(strchr(arg, ':') + 1, ':') + 1;
            ok = run_threads(t, n, paths, &failed);
            printf("threads ok=%d failed=%d\n", ok, failed);
        } else if (!strcmp(op, "forkexec")) {
            int n = atoi(arg), k, ok = 0;
            char *prog = strchr(arg, ':') + 1, lib[4096];
            pthread_t th[2];
            snprintf(lib, sizeof lib, "%.*s/libgood.so", (int)(strrchr(prog, '/') - prog), prog);
            for (k = 0; k < 2; k++) pthread_create(&th[k], 0, churn_until, lib);
            for (k = 0; k < n; k++) {
                int st;
                pid_t pid = fork();
                if (pid == 0) {
                    char *av[] = {prog, 0};
                    int null = open("/dev/null", 1);
                    dup2(null, 1);
                    execv(prog, av);
                    _exit(127);
                }
                if (pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0) ok++;
            }
            stop_churn = 1;
            for (k = 0; k < 2; k++) pthread_join(th[k], 0);
            printf("forkexec ok=%d\n", ok);
        } else if (!strcmp(op, "call")) { /* a function of the last library dlopen()ed */
            void (*fn)(void) = last ? (void (*)(void))dlsym(last, arg) : 0;
            if (fn) fn();
            printf("call %s\n", fn ? "done" : "failed");
        } else if (!strcmp(op, "chdir")) {
            printf("chdir %s\n", chdir(arg) ? strerror(errno) : "ok");
        } else if (!strcmp(op, "fds")) {
            printf("fds %d\n", count_fds());
        } else if (!strcmp(op, "maps")) {
            show_maps(arg);
        } else if (!strcmp(op, "seccomp")) {
            printf("seccomp %s\n", install_seccomp(arg) ? strerror(errno) : "ok");
        } else if (!strcmp(op, "thread")) {
            pthread_t th;
            printf("thread %s\n", pthread_create(&th, 0, idle, 0) ? "failed" : "ok");
        } else if (!strcmp(op, "stack")) {
            struct deep d = {strtoul(arg, 0, 10), strchr(arg, ':') + 1, 0};
            pthread_attr_t at;
            pthread_t th;
            pthread_attr_init(&at);
            pthread_attr_setstacksize(&at, 65536);
            if (pthread_create(&th, &at, dlopen_deep, &d) || pthread_join(th, 0)) return 3;
            printf("stack %s\n", d.handle ? "ok" : "failed");
        } else if (!strcmp(op, "vdso-delta")) {
            size_t size = strtoul(arg, 0, 0);
            void *p = mmap(0, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            printf("vdso-delta 0x%lx\n", getauxval(AT_SYSINFO_EHDR) - (unsigned long)p);
            munmap(p, size);
        } else if (!strcmp(op, "landlock")) {
            printf("landlock %s\n", landlock_execute_beneath(arg) ? strerror(errno) : "ok");
        } else if (!strcmp(op, "exec")) {
            argv[i] = arg;
            execv(arg, argv + i);
            printf("exec failed: %s\n", strerror(errno));
            return 1;
        } else {
            printf("unknown op %s\n", op);
            return 2;
        }
    }
    printf("end\n");
    return 0;
}

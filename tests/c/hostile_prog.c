/* The test program of tests/test_hostile_process.py: it runs in an unusual process environment
 * that it makes itself, then does what its arguments ask, printing one line per outcome.
 *   fill              opens /dev/null until EMFILE, then closes the last one: one descriptor free
 *   dlopen:PATH       "dlopen PATH ok" or "dlopen PATH failed: dlerror"
 *   open              "open N" (the descriptor an open() of /dev/null gets, then closed) or the error
 *   nofile:N:PROG...  RLIMIT_NOFILE N, descriptors above 2 closed, then execv(PROG, PROG...)
 *   preload-only PROG...  the execve system call itself (past the shim's wrappers), with this
 *                     environment less its LD_AUDIT: PROG has the shim as a preload alone
 *   umask:OCTAL       umask(OCTAL)
 *   nobody PROG...    uid and gid 65534, no groups, then execv(PROG, PROG...)
 *   alarm:USEC:PATH   SIGALRM every USEC microseconds (no SA_RESTART) whose handler dlopen()s and
 *                     dlclose()s PATH (not async-signal-safe: glibc itself may stop the process)
 *   loop:N:A,B        N x (dlopen + dlclose of A, then of B): "loop A ok=.. B ok=.."
 *   each:A,B,...      dlopen of each, kept loaded: "each ok=.. failed=.."
 *   shimsegv          from now on a SIGSEGV in libexeccheck.so's code prints "SIGSEGV in the shim"
 *                     and exits 77 (elsewhere: "SIGSEGV elsewhere", 78) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <ucontext.h>
#include <unistd.h>

static const char *alarm_path;
static uintptr_t shim_lo[4], shim_hi[4]; /* the code of every copy of the shim */
static int shims;

static void on_alarm(int sig)
{
    void *h = dlopen(alarm_path, RTLD_NOW);
    (void)sig;
    if (h) dlclose(h);
}

/* The code of every copy of the shim: the preload copy, and the audit copy, which dl_iterate_phdr
 * does not list (an auditing namespace): from /proc/self/maps. */
static void shim_ranges(void)
{
    char line[4096];
    FILE *f = fopen("/proc/self/maps", "r");
    unsigned long lo, hi;
    char perms[8];
    while (f && fgets(line, sizeof line, f) && shims < 4)
        if (strstr(line, "libexeccheck") && sscanf(line, "%lx-%lx %7s", &lo, &hi, perms) == 3 && perms[2] == 'x') {
            shim_lo[shims] = lo;
            shim_hi[shims++] = hi;
        }
    if (f) fclose(f);
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    uintptr_t ip = (uintptr_t)((ucontext_t *)ctx)->uc_mcontext.gregs[REG_RIP];
    static const char in[] = "SIGSEGV in the shim\n", out[] = "SIGSEGV elsewhere\n";
    int ours = 0, k;
    (void)sig;
    (void)si;
    for (k = 0; k < shims; k++) ours |= ip >= shim_lo[k] && ip < shim_hi[k];
    write(1, ours ? in : out, ours ? sizeof in - 1 : sizeof out - 1);
    _exit(ours ? 77 : 78);
}

static void loop(int n, char *paths)
{
    char *b = strchr(paths, ',');
    const char *p[2] = {paths, b + 1};
    int ok[2] = {0, 0}, j;
    *b = 0;
    while (n-- > 0)
        for (j = 0; j < 2; j++) {
            void *h = dlopen(p[j], RTLD_NOW);
            if (h) ok[j]++, dlclose(h);
        }
    printf("loop %s ok=%d %s ok=%d\n", p[0], ok[0], p[1], ok[1]);
}

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
        } else if (!strcmp(op, "alarm")) {
            struct sigaction sa;
            struct itimerval it = {{0, atoi(arg)}, {0, atoi(arg)}};
            alarm_path = strchr(arg, ':') + 1;
            memset(&sa, 0, sizeof sa);
            sa.sa_handler = on_alarm;
            sigaction(SIGALRM, &sa, 0);
            setitimer(ITIMER_REAL, &it, 0);
        } else if (!strcmp(op, "loop")) {
            char *paths = strchr(arg, ':') + 1;
            paths[-1] = 0;
            loop(atoi(arg), paths);
        } else if (!strcmp(op, "each")) {
            char *save = 0, *p;
            int ok = 0, failed = 0;
            for (p = strtok_r(arg, ",", &save); p; p = strtok_r(0, ",", &save))
                if (dlopen(p, RTLD_NOW)) ok++;
                else failed++;
            printf("each ok=%d failed=%d\n", ok, failed);
        } else if (!strcmp(op, "shimsegv")) {
            static char stack[1 << 16];
            stack_t ss = {.ss_sp = stack, .ss_size = sizeof stack};
            struct sigaction sa;
            shim_ranges();
            memset(&sa, 0, sizeof sa);
            sa.sa_sigaction = on_segv;
            sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
            sigaltstack(&ss, 0);
            sigaction(SIGSEGV, &sa, 0);
        } else if (!strcmp(op, "preload-only")) {
            extern char **environ;
            char **env = environ, **kept = calloc(1, sizeof *kept), **k;
            int n = 0;
            for (; env && *env; env++)
                if (strncmp(*env, "LD_AUDIT=", 9) && (kept = realloc(kept, (n + 2) * sizeof *kept))) kept[n++] = *env;
            if (!kept) return 122;
            kept[n] = 0;
            k = kept;
            syscall(SYS_execve, argv[i + 1], argv + i + 1, k);
            return 121;
        } else if (!strcmp(op, "umask")) {
            umask((mode_t)strtol(arg, 0, 8));
        } else if (!strcmp(op, "nobody")) {
            if (setgroups(0, 0) || setgid(65534) || setuid(65534)) return 120;
            execv(argv[i + 1], argv + i + 1);
            return 121;
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

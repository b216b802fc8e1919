/* propagate_spawner ROUTE: starts /usr/bin/env (which prints its environment) by one exec route,
 * with an envp that has no LD_AUDIT / LD_PRELOAD where the route takes an envp. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <wordexp.h>

extern char **environ;

int main(int argc, char **argv)
{
    char *child_argv[] = {"env", NULL};
    char *clean_env[] = {"PATH=/usr/bin:/bin", "MARK=1", NULL};
    const char *r = argc > 1 ? argv[1] : "";
    pid_t pid;
    int status;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (!strcmp(r, "unsetenv")) { /* the program itself drops the variables, then execs with environ */
        unsetenv("LD_AUDIT");
        unsetenv("LD_PRELOAD");
        execv("/usr/bin/env", child_argv);
    }
    if (!strcmp(r, "clearenv")) {
        clearenv();
        execv("/usr/bin/env", child_argv);
    }
    if (!strcmp(r, "execve")) execve("/usr/bin/env", child_argv, clean_env);
    if (!strcmp(r, "execve-null")) execve("/usr/bin/env", child_argv, NULL);
    if (!strcmp(r, "execv")) execv("/usr/bin/env", child_argv);
    if (!strcmp(r, "execvp")) execvp("env", child_argv);
    if (!strcmp(r, "execvpe")) execvpe("env", child_argv, clean_env);
    if (!strcmp(r, "execl")) execl("/usr/bin/env", "env", (char *)NULL);
    if (!strcmp(r, "execlp")) execlp("env", "env", (char *)NULL);
    if (!strcmp(r, "execle")) execle("/usr/bin/env", "env", (char *)NULL, clean_env);
    /* glibc reads the arguments after the first up to a NULL whatever the first is: envp follows
     * the second NULL here (the kernel gives env an argv of one empty string) */
    if (!strcmp(r, "execle-null-arg0")) execle("/usr/bin/env", (char *)NULL, (char *)NULL, clean_env);
    if (!strcmp(r, "nostatx")) { /* a filter that refuses statx (EPERM), as Docker's did before 2020 */
        struct sock_filter f[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_statx, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof f / sizeof f[0], f};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) return 3;
        execve("/usr/bin/env", child_argv, clean_env);
    }
    if (!strcmp(r, "fexecve")) fexecve(open("/usr/bin/env", O_RDONLY | O_CLOEXEC), child_argv, clean_env);
    if (!strcmp(r, "execveat")) execveat(AT_FDCWD, "/usr/bin/env", child_argv, clean_env, 0);
    if (!strcmp(r, "vfork")) {
        if ((pid = vfork()) == 0) {
            execve("/usr/bin/env", child_argv, clean_env);
            _exit(127);
        }
        waitpid(pid, &status, 0);
        return WEXITSTATUS(status);
    }
    if (!strcmp(r, "posix_spawn") || !strcmp(r, "posix_spawnp")) {
        int e = r[11] ? posix_spawnp(&pid, "env", NULL, NULL, child_argv, clean_env)
                      : posix_spawn(&pid, "/usr/bin/env", NULL, NULL, child_argv, clean_env);
        if (e) return 126;
        waitpid(pid, &status, 0);
        return WEXITSTATUS(status);
    }
    if (!strcmp(r, "gone-system") && argc > 2) { /* the shim file goes, then system() */
        int st;
        unlink(argv[2]);
        st = system("env");
        if (st == -1) printf("system=-1 %s\n", strerror(errno));
        return 0;
    }
    /* the program takes our entries out of environ, then libc starts a shell from environ */
    if (!strncmp(r, "cleared-", 8)) {
        static char *own[] = {"PATH=/usr/bin:/bin", "MARK=1", NULL};
        if (!strncmp(r + 8, "clearenv-", 9)) {
            clearenv();
            setenv("PATH", "/usr/bin:/bin", 1);
            r += 17;
        } else if (!strncmp(r + 8, "unsetenv-", 9)) {
            unsetenv("LD_AUDIT");
            unsetenv("LD_PRELOAD");
            r += 17;
        } else if (!strncmp(r + 8, "environ-", 8)) {
            environ = own;
            r += 16;
        }
    }
    if (!strcmp(r, "wordexp")) {
        wordexp_t w;
        size_t i;
        if (wordexp("$(env)", &w, 0) != 0) return 1;
        for (i = 0; i < w.we_wordc; i++) printf("%s\n", w.we_wordv[i]);
        wordfree(&w);
        return 0;
    }
    if (!strcmp(r, "system")) return system("env") == 0 ? 0 : 1;
    if (!strcmp(r, "popen")) {
        char buf[4096];
        size_t n;
        FILE *p = popen("env", "r");
        while (p && (n = fread(buf, 1, sizeof buf, p)) > 0) fwrite(buf, 1, n, stdout);
        return p && pclose(p) == 0 ? 0 : 1;
    }
    fprintf(stderr, "spawner: route %s failed or unknown\n", r);
    return 99;
}

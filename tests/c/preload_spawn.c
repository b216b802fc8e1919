/* preload_spawn ROUTE PROG [ARGS...]: starts PROG by one route and exits with its status.
 * Where the route takes an environment, it is this process's minus LD_AUDIT and LD_PRELOAD (a
 * parent that means to drop the shim); the others pass environ as it is.
 *   execve  posix_spawn  posix_spawnp  system (PROG ARGS joined by spaces, run by sh -c)
 *   pidfd_spawn  pidfd_spawnp  (glibc 2.39 on; found with dlsym, so that this builds on older glibc)
 *   execve-null  (an empty environment)
 *   environ-system  (environ = that environment, then system(): libc starts sh from environ) */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int status_of(int st) { return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st); }

int main(int argc, char **argv)
{
    char *envp[4096], *empty[] = {NULL};
    int n = 0, i, st;
    pid_t pid;
    if (argc < 3) return 99;
    for (i = 0; environ[i] && n < 4095; i++)
        if (strncmp(environ[i], "LD_AUDIT=", 9) && strncmp(environ[i], "LD_PRELOAD=", 11)) envp[n++] = environ[i];
    envp[n] = NULL;
    if (!strcmp(argv[1], "execve") || !strcmp(argv[1], "execve-null")) {
        execve(argv[2], argv + 2, argv[1][6] ? empty : envp);
        perror("execve");
        return 127;
    }
    if (!strcmp(argv[1], "posix_spawn") || !strcmp(argv[1], "posix_spawnp")) {
        int e = argv[1][11] ? posix_spawnp(&pid, argv[2], NULL, NULL, argv + 2, envp)
                            : posix_spawn(&pid, argv[2], NULL, NULL, argv + 2, envp);
        if (e) {
            fprintf(stderr, "%s: %s\n", argv[1], strerror(e));
            return 127;
        }
        if (waitpid(pid, &st, 0) != pid) return 98;
        return status_of(st);
    }
    if (!strcmp(argv[1], "pidfd_spawn") || !strcmp(argv[1], "pidfd_spawnp")) {
        typedef int (*pidfd_spawn_fn)(int *, const char *, const posix_spawn_file_actions_t *,
                                      const posix_spawnattr_t *, char *const[], char *const[]);
        pidfd_spawn_fn spawn = (pidfd_spawn_fn)dlsym(RTLD_DEFAULT, argv[1]);
        siginfo_t info;
        int pidfd, e;
        if (!spawn) {
            fprintf(stderr, "%s: not in this libc\n", argv[1]);
            return 96;
        }
        if ((e = spawn(&pidfd, argv[2], NULL, NULL, argv + 2, envp))) {
            fprintf(stderr, "%s: %s\n", argv[1], strerror(e));
            return 127;
        }
        if (waitid(P_PIDFD, pidfd, &info, WEXITED)) return 98;
        return info.si_code == CLD_EXITED ? info.si_status : 128 + info.si_status;
    }
    if (!strcmp(argv[1], "environ-system")) {
        environ = envp;
        argv[1] = "system";
    }
    if (!strcmp(argv[1], "system")) {
        char cmd[8192] = "";
        for (i = 2; i < argc; i++) {
            strncat(cmd, argv[i], sizeof cmd - strlen(cmd) - 2);
            strcat(cmd, " ");
        }
        st = system(cmd);
        return st == -1 ? 97 : status_of(st);
    }
    fprintf(stderr, "preload_spawn: unknown route %s\n", argv[1]);
    return 99;
}

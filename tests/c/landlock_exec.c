/* landlock_exec DIR... -- PROG ARGS: run PROG with Landlock's EXECUTE right granted only beneath
 * the DIRs. A test helper: it shows what the kernel's check says outside those hierarchies. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct landlock_ruleset_attr attr = {.handled_access_fs = LANDLOCK_ACCESS_FS_EXECUTE};
    int i, rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    if (rs < 0) {
        perror("landlock_create_ruleset");
        return 125;
    }
    for (i = 1; i < argc && strcmp(argv[i], "--"); i++) {
        struct landlock_path_beneath_attr pb = {.allowed_access = LANDLOCK_ACCESS_FS_EXECUTE,
                                                .parent_fd = open(argv[i], O_PATH | O_CLOEXEC)};
        if (pb.parent_fd < 0 || syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0) {
            perror(argv[i]);
            return 125;
        }
        close(pb.parent_fd);
    }
    if (i + 1 >= argc) {
        fprintf(stderr, "usage: landlock_exec DIR... -- PROG ARGS\n");
        return 125;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_landlock_restrict_self, rs, 0)) {
        perror("landlock_restrict_self");
        return 125;
    }
    execvp(argv[i + 1], argv + i + 1);
    perror(argv[i + 1]);
    return 127;
}

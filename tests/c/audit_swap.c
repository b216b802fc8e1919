/* audit_swap DIR/A DIR/B: swaps which file is called A and which B, as fast as it can, until
 * killed: renameat2(RENAME_EXCHANGE) and, every other time, link + rename over A (so the
 * replaced name's old dentry is deleted, as a plain `mv` does). A race opponent for the loader. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define RENAME_EXCHANGE 2

int main(int argc, char **argv)
{
    char tmp[4096];
    unsigned long n;
    if (argc != 3) return 2;
    snprintf(tmp, sizeof tmp, "%s.swap", argv[1]);
    for (n = 0;; n++) {
        if (n & 1) {
            if (syscall(SYS_renameat2, AT_FDCWD, argv[1], AT_FDCWD, argv[2], RENAME_EXCHANGE)) {
                perror("audit_swap: renameat2");
                return 1;
            }
        } else {
            /* A <- B's inode via a fresh name, and B <- A's old inode the same way */
            unlink(tmp);
            if (link(argv[2], tmp) || rename(argv[1], argv[2]) || rename(tmp, argv[1])) {
                perror("audit_swap: link/rename");
                return 1;
            }
        }
    }
}

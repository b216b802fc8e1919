/* An rtld-audit module of tests/test_fs_kinds.py that turns a library's name between ld.so's
 * load and the shim's check of it, with no debugger: LD_AUDIT=before.so:libexeccheck.so:after.so,
 * the same source built twice. ld.so calls each callback of every module in LD_AUDIT's order, so
 *   -DAFTER   its la_objsearch, after the shim's has checked the name FLIP_LINK (leading to the
 *             good file FLIP_GOOD), turns it to FLIP_BAD, which ld.so then opens and maps;
 *   (default) its la_objopen, before the shim's, turns FLIP_LINK back to FLIP_GOOD.
 * Each turn is a new symlink renamed over FLIP_LINK (atomic, as a package manager's).
 * FLIP_READ_BENEATH (default role): then the process may read files only beneath these
 * directories (':'-separated; Landlock), so that no proof by a file's bytes can take FLIP_GOOD
 * for the mapped file: what could still take it is a verdict kept for a mapping's identity. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <link.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

static void turn(const char *to)
{
    const char *link = getenv("FLIP_LINK");
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", link);
    unlink(tmp);
    if (symlink(to, tmp) || rename(tmp, link)) perror("flip_audit");
}

static int is_link(const char *name)
{
    const char *link = getenv("FLIP_LINK");
    return name && link && !strcmp(name, link);
}

unsigned int la_version(unsigned int v) { return v; }

#ifdef AFTER
char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
    (void)cookie, (void)flag;
    if (is_link(name)) turn(getenv("FLIP_BAD"));
    return (char *)name;
}
#else
static void read_only_beneath(const char *dirs)
{
    struct landlock_ruleset_attr attr = {.handled_access_fs = LANDLOCK_ACCESS_FS_READ_FILE};
    char dir[4096];
    const char *p, *e;
    int rs = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof attr, 0);
    for (p = dirs; rs >= 0 && *p; p = *e ? e + 1 : e) {
        struct landlock_path_beneath_attr pb = {.allowed_access = LANDLOCK_ACCESS_FS_READ_FILE};
        e = strchrnul(p, ':');
        snprintf(dir, sizeof dir, "%.*s", (int)(e - p), p);
        pb.parent_fd = open(dir, O_PATH | O_CLOEXEC);
        if (pb.parent_fd < 0 || syscall(SYS_landlock_add_rule, rs, LANDLOCK_RULE_PATH_BENEATH, &pb, 0)) perror(dir);
        close(pb.parent_fd);
    }
    if (rs < 0 || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || syscall(SYS_landlock_restrict_self, rs, 0))
        perror("flip_audit: landlock");
}

unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie)
{
    const char *dirs = getenv("FLIP_READ_BENEATH");
    (void)lmid, (void)cookie;
    if (!is_link(map->l_name)) return 0;
    turn(getenv("FLIP_GOOD"));
    if (dirs) read_only_beneath(dirs);
    return 0;
}
#endif

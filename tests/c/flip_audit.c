/* An rtld-audit module of tests/test_fs_kinds.py that turns a library's name between ld.so's
 * load and the shim's check of it, with no debugger: LD_AUDIT=before.so:libexeccheck.so:after.so,
 * the same source built twice. ld.so calls each callback of every module in LD_AUDIT's order, so
 *   -DAFTER   its la_objsearch, after the shim's has checked the name FLIP_LINK (leading to the
 *             good file FLIP_GOOD), turns it to FLIP_BAD, which ld.so then opens and maps;
 *   (default) its la_objopen, before the shim's, turns FLIP_LINK back to FLIP_GOOD.
 * Each turn is a new symlink renamed over FLIP_LINK (atomic, as a package manager's). */
#define _GNU_SOURCE
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie)
{
    (void)lmid, (void)cookie;
    if (is_link(map->l_name)) turn(getenv("FLIP_GOOD"));
    return 0;
}
#endif

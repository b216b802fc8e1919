/* Drives the C core over hostile files under AddressSanitizer and UBSan (built by
 * tests/test_audit_fuzz.py): a read out of bounds or undefined behaviour aborts, where in the
 * normal build it might go unnoticed.
 *
 *   resolver_fuzz ROOT PROGRAM NDIRS CACHEDIR FILE...
 * FILEs are image paths under ROOT, resolved as programs and as shared objects; PROGRAM is
 * resolved once per /opt/cand/<i> as LD_LIBRARY_PATH; every file in CACHEDIR goes through the
 * cache reader. Prints "ok <files> <caches>". */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "elfinfo.h"
#include "ldcache.h"
#include "ldresolve.h"

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) return 0;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(n > 0 ? (size_t)n : 1); /* exactly the file: ASan sees any byte read past it */
    if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) n = 0;
    fclose(f);
    *len = n > 0 ? (size_t)n : 0;
    return buf;
}

int main(int argc, char **argv)
{
    struct ec_ld_config cfg;
    struct ec_ld_request req;
    struct ec_ld_session *s;
    struct ec_arena arena;
    int err, i, n_files = 0, n_caches = 0, ndirs;
    const char *active[] = {"x86-64-v4", "x86-64-v3", "x86-64-v2"};
    struct ec_ldcache_params params = {0x0303, 2, 3ull << 48, -1, 15, active, 3};
    DIR *d;
    struct dirent *de;
    char path[4096];

    if (argc < 5) return 2;
    memset(&cfg, 0, sizeof cfg);
    cfg.root = argv[1];
    s = ec_ld_session_new(&cfg, &err);
    if (!s) return 3;
    ndirs = atoi(argv[3]);
    for (i = 5; i < argc; i++) {
        struct ec_elf e;
        snprintf(path, sizeof path, "%s%s", argv[1], argv[i]);
        ec_arena_init(&arena, 64 << 20);
        ec_elf_read_path(path, &arena, &e);
        ec_arena_free(&arena);
        memset(&req, 0, sizeof req);
        req.path = argv[i];
        req.secure = -1;
        req.trace = 1;
        req.check_alone = 1;
        ec_ld_resolve(s, &req);
        req.as_library = 1;
        ec_ld_resolve(s, &req);
        n_files++;
    }
    for (i = 0; i < ndirs; i++) {
        char llp[64];
        snprintf(llp, sizeof llp, "/opt/cand/%d", i);
        memset(&req, 0, sizeof req);
        req.path = argv[2];
        req.secure = -1;
        req.library_path = llp;
        req.trace = 1;
        req.check_alone = 1;
        ec_ld_resolve(s, &req);
    }
    ec_ld_session_free(s);

    d = opendir(argv[4]);
    while (d && (de = readdir(d))) {
        struct ec_ldcache c;
        struct ec_ldcache_entry ent;
        static const char *const names[] = {"libc.so.6", "libm.so.6", "libz.so.1", "", "99999999999999999999"};
        size_t len, k;
        char *data;
        if (de->d_name[0] == '.') continue;
        snprintf(path, sizeof path, "%s/%s", argv[4], de->d_name);
        data = slurp(path, &len);
        if (!data) continue;
        if (ec_ldcache_parse(&c, data, len)) {
            for (k = 0; k < c.nlibs && k < 64; k++) ec_ldcache_entry(&c, (uint32_t)k, &ent);
            for (k = 0; k < sizeof names / sizeof names[0]; k++) {
                const char *r = ec_ldcache_lookup(&c, &params, names[k]);
                if (r) (void)strlen(r);
            }
        }
        free(data);
        n_caches++;
    }
    if (d) closedir(d);
    printf("ok %d %d\n", n_files, n_caches);
    return 0;
}

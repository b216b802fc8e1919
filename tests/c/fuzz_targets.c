/* Fuzz targets of the C core's parsers, and the driver that replays a corpus through them
 * (tests/test_fuzz_replay.py builds it with AddressSanitizer and UBSan, and the arena of
 * fuzz_arena.c). Every input of tests/fuzz/TARGET/ goes through TARGET:
 *   policy   execcheck.conf text, the same bytes as an environment, a JSON string and a record
 *   ldcache  an ld.so.cache: parse, every entry, lookups of its keys, under varied loader facts
 *   elf      the ELF reader on a file of the input's bytes (raw, or framed by fuzz_elfgen.h)
 *   resolve  a whole image (program, libraries, ld.so.cache, ld.so.preload, the loader) and a
 *            request (LD_LIBRARY_PATH, LD_PRELOAD, a dlopen prediction): length-prefixed segments
 *   faults   resolve, once per allocation it makes, with that allocation and all after it failing
 *   loaded   an object image in memory (fuzz_loaded.c)
 * Beyond memory safety each checks what its parser promises (one JSON line, indices in range...).
 *
 *   fuzz_targets TARGET SCRATCH_DIR FILE...      prints "TARGET N" (N inputs) when all passed
 *
 * For a fuzzing session, build with clang -fsanitize=fuzzer,address,undefined -DEXECCHECK_LIBFUZZER
 * (no main here) and choose the target with EXECCHECK_FUZZ_TARGET (and EXECCHECK_FUZZ_SCRATCH). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "elfinfo.h"
#include "fuzz_elfgen.h"
#include "ldcache.h"
#include "ldresolve.h"
#include "policy.h"
#include "record.h"
#include "text.h"

extern long ec_fault_count, ec_fault_at; /* fuzz_arena.c */
int fuzz_loaded(const uint8_t *data, size_t size); /* fuzz_loaded.c */

static const char *current = "?"; /* the input being run, for messages */

static void fail(const char *what)
{
    fprintf(stderr, "%s: %s\n", current, what);
    abort();
}

static void use(const char *s) { if (s) (void)strlen(s); } /* every byte up to its NUL readable */

/* ---- policy ---- */

static int valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], k, j, cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0) k = 1, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0) k = 2, cp = c & 0xf;
        else if ((c & 0xf8) == 0xf0) k = 3, cp = c & 7;
        else return 0;
        for (j = 1; j <= k; j++) {
            if (i + j >= n || (s[i + j] & 0xc0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* one JSON string literal: quoted, no raw control byte, known escapes, valid UTF-8 */
static void check_json_literal(const char *s, size_t n)
{
    size_t i;
    if (n < 2 || s[0] != '"' || s[n - 1] != '"') fail("JSON string not quoted");
    for (i = 1; i + 1 < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20) fail("raw control byte in a JSON string");
        if (c == '"') fail("unescaped quote in a JSON string");
        if (c == '\\') {
            char e = s[++i];
            if (i + 1 >= n) fail("escape eats the closing quote");
            if (e == 'u') i += 4;
            else if (e != '"' && e != '\\' && e != 'n' && e != 't') fail("unknown escape");
        }
    }
    if (!valid_utf8((const unsigned char *)s, n)) fail("JSON string not UTF-8");
}

static int fuzz_policy(const uint8_t *data, size_t size)
{
    struct ec_policy p;
    char *s, out[4096], *copy, *env[64];
    struct ec_buf b;
    size_t max, i, n = 0, start = 0;
    if (size < 2) return 0;
    memset(&p, 0, sizeof p);
    ec_policy_apply_config(&p, (const char *)data + 2, size - 2);
    if (!memchr(p.log_file, 0, sizeof p.log_file) || !memchr(p.config_problem, 0, sizeof p.config_problem))
        fail("config: a text field not terminated");
    if (p.log_file[0] && p.log_file[0] != '/') fail("config: a relative log file");
    s = malloc(size - 1);
    memcpy(s, data + 2, size - 2);
    s[size - 2] = 0;
    max = 12 + data[0] * 8u;
    ec_buf_init(&b, out, sizeof out);
    ec_buf_put_json_str_max(&b, s, max);
    if (!b.truncated) {
        check_json_literal(out, b.len);
        if (b.len > max) fail("JSON string longer than its max");
    }
    ec_buf_init(&b, out, 1 + data[1] % 64u);
    ec_buf_put_json_str(&b, s);
    if (b.len >= b.cap) fail("buffer overrun");
    ec_buf_init(&b, out, 1 + data[1] % 64u);
    ec_buf_put_visible(&b, s);
    for (i = 0; i < b.len; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) fail("control byte left in a visible string");
    /* the same bytes as an environment: variables separated by NUL or newline */
    copy = malloc(size - 1);
    memcpy(copy, data + 2, size - 2);
    copy[size - 2] = 0;
    for (i = 0; i <= size - 2 && n < 63; i++)
        if (!copy[i] || copy[i] == '\n') {
            copy[i] = 0;
            env[n++] = copy + start;
            start = i + 1;
        }
    env[n] = 0;
    ec_policy_resolve(&p, "/nonexistent/execcheck.conf", env, data[0] & 1);
    if (p.log_file[0] && p.log_file[0] != '/') fail("environment: a relative log file");
    if (!memchr(p.env_problem, 0, sizeof p.env_problem)) fail("environment: problem not terminated");
    if ((data[0] & 1) && (p.sinks & EC_SINK_FILE)) fail("secure: a log file from the environment");
    free(copy);
    {
        struct ec_verdict v;
        struct ec_record r;
        char line[2048];
        memset(&v, 0, sizeof v);
        v.dev = 1, v.ino = 2, v.reason = data[1] % 12, v.err = 13;
        r.kind = data[1] % 7 - 1, r.face = data[0] % 6 - 1, r.enforced = data[0] & 2, r.path = s, r.verdict = &v;
        n = ec_record_format(line, sizeof line, &r);
        if (!n) fail("record: did not fit 2 KiB");
        if (line[n - 1] != '\n' || memchr(line, '\n', n - 1)) fail("record: not one line");
        for (i = 0; i + 1 < n; i++)
            if ((unsigned char)line[i] < 0x20) fail("record: raw control byte");
        if (!valid_utf8((unsigned char *)line, n)) fail("record: not UTF-8");
    }
    free(s);
    return 0;
}

/* ---- ldcache ---- */

static int fuzz_ldcache(const uint8_t *data, size_t size)
{
    static const char *const levels[] = {"x86-64-v4", "x86-64-v3", "x86-64-v2", "zz", "", "x86-64-v3"};
    struct ec_ldcache c;
    struct ec_ldcache_params p;
    struct ec_ldcache_entry e;
    unsigned char *buf;
    uint32_t i;
    if (size < 2) return 0;
    memset(&p, 0, sizeof p);
    p.flags = data[0] & 1 ? 0x0303 : 0x0a03;
    p.hwcap = data[0] & 2 ? 6 : 2;
    p.platform_mask = 3ull << 48;
    p.platform_bit = data[0] & 4 ? 48 : data[0] & 8 ? 49 : -1;
    p.isa_levels = data[1] & 15;
    p.hwcaps_active = levels;
    p.nhwcaps_active = (data[1] >> 4) % 7;
    size -= 2, data += 2;
    buf = malloc(size ? size : 1); /* exactly the file: a byte past it is ASan's */
    memcpy(buf, data, size);
    if (ec_ldcache_parse(&c, buf, size) != EC_LDCACHE_NONE) {
        for (i = 0; i < c.nlibs && i < 256; i++) {
            if (ec_ldcache_entry(&c, i, &e)) fail("ldcache: an entry below nlibs refused");
            if (e.key) {
                const char *r = ec_ldcache_lookup(&c, &p, e.key);
                if (r && (r < (const char *)buf || r >= (const char *)buf + size)) fail("ldcache: path outside");
                use(r);
            }
            use(e.value), use(e.hwcaps_subdir);
        }
        if (ec_ldcache_entry(&c, c.nlibs, &e) != -1) fail("ldcache: entry nlibs given");
        ec_ldcache_lookup(&c, &p, "libm.so.6");
        ec_ldcache_lookup(&c, &p, "");
        use(c.generator);
        for (i = 0; i < c.nhwcaps; i++) use(c.hwcaps[i]);
    }
    free(buf);
    return 0;
}

/* ---- elf ---- */

static int fuzz_elf(const uint8_t *data, size_t size)
{
    static struct gen g;
    struct ec_arena a;
    struct ec_elf e;
    const uint8_t *file;
    size_t len;
    uint32_t i, j;
    int fd;
    if (size < 1) return 0;
    if (data[0] & 1) file = data + 1, len = size - 1;
    else len = elfgen(&g, data + 1, size - 1, data[0] & 2), file = g.f;
    fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0 || pwrite(fd, file, len, 0) != (ssize_t)len) fail("elf: memfd");
    ec_arena_init(&a, (data[0] & 4) ? 4096 : 64 << 20);
    ec_elf_read(fd, len + ((data[0] & 8) ? 100 : 0) /* a size that lies: the file is shorter */, &a, &e);
    close(fd);
    use(e.interp), use(e.soname), use(e.rpath), use(e.runpath);
    for (i = 0; i < e.ndeps; i++) use(e.deps[i].name);
    for (i = 0; i < e.nverneed; i++) {
        use(e.verneed[i].file);
        for (j = 0; j < e.verneed[i].naux; j++) use(e.verneed[i].aux[j].name);
    }
    for (i = 0; i < e.nverdef; i++) use(e.verdef[i].name);
    if (e.ndeps > e.ndyn) fail("elf: more dependencies than dynamic entries");
    ec_arena_free(&a);
    return 0;
}

/* ---- resolve ---- */

#define NSEG 13
static char root[4096];

static void put(const char *rel, const void *b, size_t n, int mode)
{
    char p[4352];
    int fd;
    snprintf(p, sizeof p, "%s%s", root, rel);
    unlink(p);
    if (mode < 0) return; /* absent */
    fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, mode);
    if (fd < 0 || write(fd, b, n) != (ssize_t)n) fail("resolve: cannot write the image");
    fchmod(fd, mode);
    close(fd);
}

static void put_elf(const char *rel, const uint8_t *d, size_t n, int exec)
{
    static struct gen g;
    if (n && (d[0] & 0x40)) put(rel, d + 1, n - 1, 0755);
    else if (n && d[0] == 0x3f) put(rel, 0, 0, -1);
    else put(rel, g.f, elfgen(&g, d, n, exec), exec && n && (d[0] & 0x20) ? 04755 : 0755);
}

static char *str(const uint8_t *d, size_t n)
{
    char *s = malloc(n + 1);
    memcpy(s, d, n);
    s[n] = 0;
    return s;
}

static void check_result(const struct ec_ld_result *r)
{
    int i;
    if (!r) fail("resolve: no result");
    for (i = 0; i < r->nobjects; i++) {
        const struct ec_ld_object *o = &r->objects[i];
        use(o->path), use(o->name), use(o->realpath);
        if (o->loader >= r->nobjects || o->via_object >= r->nobjects) fail("resolve: object names no object");
    }
    for (i = 0; i < r->nedges; i++) {
        const struct ec_ld_edge *e = &r->edges[i];
        use(e->name), use(e->expanded), use(e->error_path);
        if (e->to >= r->nobjects || e->from >= r->nobjects || e->from < 0) fail("resolve: edge names no object");
        if (e->ntries && e->first_try + e->ntries > r->ntries) fail("resolve: edge names no try");
    }
    for (i = 0; i < r->nproblems; i++) {
        use(r->problems[i].file), use(r->problems[i].version);
        if (r->problems[i].object >= r->nobjects || r->problems[i].target >= r->nobjects)
            fail("resolve: problem names no object");
    }
    for (i = 0; i < r->ntries; i++) use(r->tries[i].path);
    if (r->failure_edge >= r->nedges || r->failure_problem >= r->nproblems) fail("resolve: failure out of range");
}

static void mk(const char *rel)
{
    char p[4352];
    snprintf(p, sizeof p, "%s%s", root, rel);
    mkdir(p, 0755);
}

static int fuzz_resolve(const uint8_t *data, size_t size)
{
    static const char *const dirs[] = {"", "/usr", "/usr/bin", "/usr/bin/lib", "/usr/lib", "/lib", "/lib/tls", "/lib64",
                                       "/etc", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu",
                                       "/usr/lib/x86_64-linux-gnu/glibc-hwcaps",
                                       "/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v2"};
    static const char *const loaded[] = {"", "/lib/x86_64-linux-gnu/liba.so", "libb.so", "lib/libc.so.6", "/gone.so"};
    static const char *const names[] = {0, "liba.so", "libb.so", 0, "gone.so"};
    const char *cwds[] = {0, 0, "/usr/bin", EC_LD_CWD_UNTOLD, 0};
    const uint8_t *seg[NSEG];
    size_t len[NSEG], i;
    struct ec_ld_config cfg;
    struct ec_ld_request req;
    struct ec_ld_session *s;
    char *lp, *pre, *dlname, *ctl;
    int err;
    for (i = 0; i < sizeof dirs / sizeof dirs[0]; i++) mk(dirs[i]);
    for (i = 0; i < NSEG; i++) { /* 2-byte little-endian length, then the bytes */
        size_t n = size >= 2 ? (size_t)(data[0] | data[1] << 8) : 0;
        if (size >= 2) data += 2, size -= 2;
        if (n > size) n = size;
        seg[i] = data, len[i] = n;
        data += n, size -= n;
    }
    ctl = str(seg[0], len[0]);
    put_elf("/usr/bin/prog", seg[1], len[1], 1);
    put_elf("/lib/x86_64-linux-gnu/liba.so", seg[2], len[2], 0);
    put_elf("/usr/lib/x86_64-linux-gnu/glibc-hwcaps/x86-64-v2/libb.so", seg[3], len[3], 0);
    put_elf("/usr/bin/lib/libc.so.6", seg[4], len[4], 0);
    put("/etc/ld.so.cache", seg[5], len[5], len[5] ? 0644 : -1);
    put("/etc/ld.so.preload", seg[6], len[6], len[6] ? 0644 : -1);
    put("/lib64/ld-linux-x86-64.so.2", seg[11], len[11], len[11] ? 0755 : -1);
    put_elf("/lib/tls/libd.so", seg[12], len[12], 0);
    lp = len[7] ? str(seg[7], len[7]) : 0;
    pre = len[8] ? str(seg[8], len[8]) : 0;
    dlname = str(seg[9], len[9]);
    memset(&cfg, 0, sizeof cfg);
    cfg.root = root;
    cfg.isa_level = len[0] > 1 ? ctl[1] % 5 : 0;
    cfg.legacy_hwcap = len[0] > 2 ? ctl[2] % 8 : 0;
    cfg.platform = len[0] > 3 && (ctl[3] & 1) ? "haswell" : len[0] > 3 && (ctl[3] & 2) ? "" : 0;
    cfg.glibc_minor = len[0] > 4 ? ctl[4] % 40 : 0;
    cfg.memory_limit = len[0] > 5 && (ctl[5] & 1) ? (size_t)(ctl[5] >> 1) << 12 : 0;
    cfg.no_vdso = len[0] > 5 && (ctl[5] & 2);
    cfg.system_dirs = len[10] ? str(seg[10], len[10]) : 0;
    cfg.machine = len[0] > 6 ? (ctl[6] % 4 == 1 ? EC_EM_386 : ctl[6] % 4 == 2 ? EC_EM_AARCH64 : 0) : 0;
    cfg.no_realpath = len[0] > 6 && (ctl[6] & 8);
    s = ec_ld_session_new(&cfg, &err);
    if (s) {
        memset(&req, 0, sizeof req);
        req.path = len[0] > 7 && (ctl[7] & 1) ? "/lib/x86_64-linux-gnu/liba.so" : "/usr/bin/prog";
        req.as_library = len[0] > 7 && (ctl[7] & 2);
        req.secure = len[0] > 7 ? (ctl[7] >> 2) % 3 - 1 : 0;
        req.library_path = lp;
        req.preload = pre;
        req.preload_opt = len[0] > 7 && (ctl[7] & 0x20) ? pre : 0;
        req.trace = len[0] > 8 && (ctl[8] & 1);
        req.check_alone = len[0] > 8 && (ctl[8] & 2);
        check_result(ec_ld_resolve(s, &req));
        if (len[0] > 8 && (ctl[8] & 4))
            check_result(ec_ld_predict_dlopen(s, &req, loaded, names, cwds, 1 + ctl[8] % 5, (ctl[8] >> 3) % 7 - 1,
                                              dlname));
        check_result(ec_ld_resolve(s, &req)); /* again, on the session's caches */
        ec_ld_cache(s);
        for (i = 0; (int)i < ec_ld_capstr_count(s); i++) use(ec_ld_capstr(s, (int)i));
        ec_ld_session_free(s);
    }
    free(ctl), free(lp), free(pre), free(dlname), free((char *)cfg.system_dirs);
    return 0;
}

/* every allocation of a resolution fails once, with all after it: nothing may be left half made */
static int fuzz_faults(const uint8_t *data, size_t size)
{
    long k, total;
    ec_fault_at = 1L << 40, ec_fault_count = 0;
    fuzz_resolve(data, size);
    total = ec_fault_count;
    for (k = 0; k <= total; k++) {
        ec_fault_at = k, ec_fault_count = 0;
        fuzz_resolve(data, size);
    }
    ec_fault_at = -1;
    return 0;
}

static int (*target(const char *name))(const uint8_t *, size_t)
{
    if (!strcmp(name, "policy")) return fuzz_policy;
    if (!strcmp(name, "ldcache")) return fuzz_ldcache;
    if (!strcmp(name, "elf")) return fuzz_elf;
    if (!strcmp(name, "resolve")) return fuzz_resolve;
    if (!strcmp(name, "faults")) return fuzz_faults;
    if (!strcmp(name, "loaded")) return fuzz_loaded;
    return 0;
}

#ifdef EXECCHECK_LIBFUZZER
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int (*fn)(const uint8_t *, size_t);
    if (!fn) {
        const char *t = getenv("EXECCHECK_FUZZ_TARGET"), *d = getenv("EXECCHECK_FUZZ_SCRATCH");
        if (!t || !(fn = target(t))) fail("EXECCHECK_FUZZ_TARGET: policy, ldcache, elf, resolve, faults or loaded");
        snprintf(root, sizeof root, "%s/root.%d", d ? d : "/tmp", (int)getpid());
    }
    return fn(data, size);
}
#else
int main(int argc, char **argv)
{
    int (*fn)(const uint8_t *, size_t);
    int i;
    if (argc < 3 || !(fn = target(argv[1]))) {
        fprintf(stderr, "usage: fuzz_targets policy|ldcache|elf|resolve|faults|loaded SCRATCH_DIR FILE...\n");
        return 2;
    }
    snprintf(root, sizeof root, "%s/root", argv[2]);
    for (i = 3; i < argc; i++) {
        static uint8_t buf[1 << 20];
        FILE *f = fopen(argv[i], "rb");
        size_t n;
        uint8_t *exact;
        if (!f) fail("cannot open an input");
        n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        exact = malloc(n ? n : 1); /* the input's own size: ASan sees a byte read past it */
        memcpy(exact, buf, n);
        current = argv[i];
        fn(exact, n);
        free(exact);
    }
    printf("%s %d\n", argv[1], argc - 3);
    return 0;
}
#endif

/* glibc 2.36's library search and load order (see ldresolve.h).
 *
 * Names follow glibc where a reader will want to compare: _dl_map_object -> map_object,
 * open_path, open_verify, fillin_rpath, _dl_dst_substitute -> dst_substitute,
 * _dl_map_object_deps -> map_deps, _dl_check_map_versions -> check_versions. Where this code
 * departs from ld.so on purpose it says so: it goes on after a failure (to report every one),
 * and it refuses to read what ld.so would read out of bounds. */
#include "ldresolve.h"
#include "ldcache.h"
#include "ldfs.h"
#include "ldhost.h"
#include "ldsysdirs.h"
#include "sys.h"
#include "text.h"

#define MAX_CAPSTR 64
#define MAX_SYSDIRS 16
#define SECURE_NAME_LIMIT 255
#define SECURE_PATH_LIMIT 1024
#define PRELOAD_FILE_MAX (1u << 20)
#define CACHE_MAX (64u << 20)
#define MAX_OBJECTS 65536
/* dl-deps.c allocas a list entry per filtee placed: past 8 MiB of them the stack is gone */
#define MAX_FILTEE_ENTRIES ((8 << 20) / 32)
#define LIBC_ABI_MAX 4 /* glibc 2.36: default, UNIQUE, IFUNC, ABSOLUTE */

/* The loaders modelled: x86_64's, i386's (32-bit programs: the 32-bit build of the shim models its
 * own process, the CLI audits them beside 64-bit ones) and aarch64's (the aarch64 build; arm64
 * images audited from an x86_64 host). The defaults are Debian's multiarch ones (`ld.so --help` and
 * `--list-diagnostics` of each, glibc 2.36); the 32-bit guard passes the directories of the libc it
 * runs with (biarch /lib32). */
struct ld_abi {
    int elfclass, machine, phentsize, ehdr_size;
    uint32_t cache_flags;           /* ld.so.cache entry flags of this loader's libraries */
    const char *lib, *interp, *sysdirs, *vdso;
    struct { int bit; const char *name; } hwcap_names[2]; /* legacy hwcap subdirectories by bit: HWCAP_IMPORTANT */
    uint64_t hwcap;                 /* the bits ld.so sets where this is not the running loader */
    const char *platform;           /* likewise, dl_platform */
    int isa_levels;                 /* 1: glibc-hwcaps x86-64-v2..v4 exist for this loader */
};

static const struct ld_abi abi_x86_64 = {
    2, EC_EM_X86_64, 56, 64, 0x0303 /* FLAG_ELF_LIBC6 | FLAG_X8664_LIB64 */,
    "lib/x86_64-linux-gnu", "/lib64/ld-linux-x86-64.so.2",
    "/lib/x86_64-linux-gnu:/usr/lib/x86_64-linux-gnu:/lib:/usr/lib", "linux-vdso.so.1",
    {{1, "x86_64"}, {2, "avx512_1"}}, 2, "x86_64", 1};

static const struct ld_abi abi_i386 = {
    1, EC_EM_386, 32, 52, 0x0003 /* FLAG_ELF_LIBC6: no architecture bits */,
    "lib/i386-linux-gnu", "/lib/ld-linux.so.2",
    "/lib/i386-linux-gnu:/usr/lib/i386-linux-gnu:/lib:/usr/lib", "linux-gate.so.1",
    {{0, "sse2"}, {2, "avx512_1"}}, 1 /* SSE2: every CPU an x86_64 kernel runs on */, "i686", 0};

static const struct ld_abi abi_aarch64 = {
    2, EC_EM_AARCH64, 56, 64, 0x0a03 /* FLAG_ELF_LIBC6 | FLAG_AARCH64_LIB64 */,
    "lib/aarch64-linux-gnu", "/lib/ld-linux-aarch64.so.1",
    "/lib/aarch64-linux-gnu:/usr/lib/aarch64-linux-gnu:/lib:/usr/lib", "linux-vdso.so.1",
    {{8, "atomics"}, {-1, 0}}, 1u << 8 /* LSE atomics (ARMv8.1): assumed of an image's CPU */,
    "aarch64", 0};

#if defined(__i386__)
#define ABI_NATIVE abi_i386
#elif defined(__aarch64__)
#define ABI_NATIVE abi_aarch64
#else
#define ABI_NATIVE abi_x86_64
#endif

#define RTLD_SECURE 1  /* __RTLD_SECURE: a preload (cache skipped and setuid files only, in secure mode) */
#define RTLD_OPENEXEC 2
#define RTLD_CALLMAP 4

enum dir_status { UNKNOWN = 0, NONEXISTING, EXISTING };

struct dir {                        /* r_search_path_elem: shared by name within a process */
    const char *name;               /* ends in '/', or "" for the current directory */
    size_t len;
    uint8_t status[MAX_CAPSTR];
    struct dir *next;
};

struct list {                       /* r_search_path_struct */
    int state;                      /* 0 not decomposed yet, 1 usable, -1 none ((void *) -1) */
    int n;
    struct dir **dirs;
};

struct name {
    const char *s;
    struct name *next;
};

enum obj_type { LT_EXECUTABLE, LT_LIBRARY, LT_RTLD, LT_VDSO };

struct obj {
    struct ec_ld_object pub;
    int type;
    int faked;                      /* a failed load kept for the record: never matched by name; 2: one
                                       only ld.so's trace mode has (a missing auxiliary filtee) */
    struct name *names;             /* l_libname */
    const char *soname;
    int soname_added;
    const char *origin;             /* NULL not computed yet, ORIGIN_UNKNOWN when it cannot be */
    const char *load_cwd;           /* a relative name was taken from this directory (NULL: the cwd) */
    int has_id;                     /* l_file_id is set */
    int has_runpath;                /* the DT_RUNPATH tag is present (even empty) */
    struct list rpath, runpath;
    struct ec_ldfs_path *file;
    int reserved;                   /* l_reserved while building a search list */
    int lm_prev, lm_next;           /* l_prev, l_next: the link map, where ld.so moves filtees */
};

#define ORIGIN_UNKNOWN ((const char *)-1)
/* the process has an origin for it that the caller could not tell (EC_LD_CWD_UNTOLD) */
#define ORIGIN_UNTOLD ((const char *)-2)

struct ec_ld_session {
    struct ec_arena persist;        /* the session's own memory: config, caches */
    struct ec_arena scratch;        /* one resolution's memory */
    struct ec_ldfs fs;
    struct ec_ld_host host;
    const struct ld_abi *abi;
    const char *cache_path, *preload_path, *lib, *platform, *interp;
    int vdso;
    int isa_level;
    uint64_t hwcap;
    int nsys;
    const char *sys[MAX_SYSDIRS];   /* system dirs, each ending in '/' */
    size_t syslen[MAX_SYSDIRS];
    int ncap;
    const char *capstr[MAX_CAPSTR];
    size_t caplen[MAX_CAPSTR];
    size_t maxcaplen;
    const char *hwcaps_active[3];
    int cache_loaded;
    struct ec_ldcache cache;
    struct ec_ldcache_params cache_params;
    int cache_ok;
    int preload_loaded;
    const char *preload_data;
    long preload_len;
    struct ec_arena_mark scratch_start; /* the scratch arena's empty state (its first chunk kept) */
    struct ec_ld_result result;
};

struct run {                        /* one process being modelled */
    struct ec_ld_session *s;
    struct ec_arena *a;
    const struct ec_ld_request *req;
    int secure;
    int nomem;
    struct obj *objs;
    int nobj, capobj;
    int rtld;                       /* index of ld.so's object, -1 */
    const char *main_origin;
    int origin_untold;              /* a path needed an ORIGIN_UNTOLD: dropped, and said */
    struct dir *all_dirs;
    struct list env_list, sys_list;
    struct ec_ld_edge *edges;
    int nedges, capedges;
    struct ec_ld_problem *problems;
    int nproblems, capproblems;
    struct ec_ld_try *tries;
    int ntries, captries;
    int *search;                    /* the main search list (indices), as built by map_deps */
    int nsearch;
    int lm_head, lm_tail;           /* the link map: objects in creation order, but for filtees */
    int lm_moved;                   /* a filtee was moved: the result is reordered (finish) */
    int lm_fixed;                   /* objects below this index (a live process's) are not moved */
    int at_start;                   /* replaying the start-up (req->missing_at_start applies) */
};

/* What a failed map_object reports. */
struct failure {
    int error;                      /* enum ec_ld_error */
    int err;
    const char *path;
};

/* ---------------------------------------------------------------- small helpers */

static struct obj *O(struct run *r, int i) { return &r->objs[i]; }

static int grow_array(struct run *r, void **arr, int *cap, int n, size_t elem)
{
    void *fresh;
    int newcap;
    if (n < *cap) return 0;
    newcap = *cap ? *cap * 2 : 64;
    fresh = ec_arena_alloc(r->a, elem * (size_t)newcap);
    if (!fresh) {
        r->nomem = 1;
        return -1;
    }
    if (*arr) ec_memcpy(fresh, *arr, elem * (size_t)*cap);
    *arr = fresh;
    *cap = newcap;
    return 0;
}

static char *rdup(struct run *r, const char *s, size_t n)
{
    char *d = ec_arena_strndup(r->a, s, n);
    if (!d) r->nomem = 1;
    return d;
}

static int has_slash(const char *s) { return ec_strchr(s, '/') != 0; }

/* ---------------------------------------------------------------- objects and names */

static int new_object(struct run *r, const char *l_name, const char *libname, int type, int loader, int kind)
{
    struct obj *o;
    if (r->nobj >= MAX_OBJECTS || grow_array(r, (void **)&r->objs, &r->capobj, r->nobj, sizeof *r->objs)) {
        r->nomem = 1;
        return -1;
    }
    o = &r->objs[r->nobj];
    ec_memset(o, 0, sizeof *o);
    /* the last allocation comes before the object joins the link map: an object that could not
     * be made must not be its tail (the next walk would run into the zeroed slot, whose lm_next 0
     * leads back to the head, for ever) */
    if (libname) {
        o->names = ec_arena_alloc(r->a, sizeof *o->names);
        if (!o->names) {
            r->nomem = 1;
            return -1;
        }
        o->names->s = libname;
    }
    o->type = type;
    o->pub.path = l_name;
    o->pub.name = libname;
    o->pub.kind = kind;
    o->pub.loader = loader;
    o->pub.via_object = -1;
    o->pub.searchlist = -1;
    o->pub.depth = loader >= 0 ? O(r, loader)->pub.depth + 1 : 0;
    o->lm_prev = r->nobj ? r->lm_tail : -1, o->lm_next = -1;
    if (r->nobj) O(r, r->lm_tail)->lm_next = r->nobj;
    r->lm_tail = r->nobj;
    return r->nobj++;
}

/* dl-deps.c moves a filtee just before the object that named it in the list of all objects,
 * which is the order every later lookup by name walks, and the order of the result */
static void lm_move_before(struct run *r, int i, int before)
{
    struct obj *o = O(r, i), *b = O(r, before);
    if (i < r->lm_fixed || b->lm_prev == i || i == before) return;
    if (o->lm_prev >= 0) O(r, o->lm_prev)->lm_next = o->lm_next;
    else r->lm_head = o->lm_next;
    if (o->lm_next >= 0) O(r, o->lm_next)->lm_prev = o->lm_prev;
    else r->lm_tail = o->lm_prev;
    o->lm_prev = b->lm_prev, o->lm_next = before;
    if (b->lm_prev >= 0) O(r, b->lm_prev)->lm_next = i;
    else r->lm_head = i;
    b->lm_prev = i;
    r->lm_moved = 1;
}

static void add_name(struct run *r, struct obj *o, const char *name)
{
    struct name *n, *last = 0;
    if (!name) return; /* a copy that could not be made: out of memory, r->nomem is set */
    for (n = o->names; n; last = n, n = n->next)
        if (!ec_strcmp(n->s, name)) return;
    n = ec_arena_alloc(r->a, sizeof *n);
    if (!n) {
        r->nomem = 1;
        return;
    }
    n->s = name;
    if (last) last->next = n;
    else o->names = n;
}

/* _dl_name_match_p */
static int name_match(const struct obj *o, const char *name)
{
    const struct name *n;
    if (o->pub.path && !ec_strcmp(name, o->pub.path)) return 1;
    for (n = o->names; n; n = n->next)
        if (!ec_strcmp(name, n->s)) return 1;
    return 0;
}

/* _dl_lookup_map: an object already loaded under this name or SONAME */
static int lookup_map(struct run *r, const char *name)
{
    int i;
    for (i = r->nobj ? r->lm_head : -1; i >= 0; i = O(r, i)->lm_next) {
        struct obj *o = O(r, i);
        if (o->faked) continue;
        if (!name_match(o, name)) {
            if (o->soname_added || !o->soname || ec_strcmp(name, o->soname)) continue;
            add_name(r, o, o->soname);
            o->soname_added = 1;
        }
        return i;
    }
    return -1;
}

static void set_file(struct run *r, struct obj *o, struct ec_ldfs_path *p, const struct ec_elf *e)
{
    o->file = p;
    o->pub.elf = e;
    if (p && p->file) {
        o->pub.dev = p->file->dev, o->pub.ino = p->file->ino, o->pub.size = p->file->size;
        o->pub.mode = p->file->mode, o->pub.uid = p->file->uid, o->pub.gid = p->file->gid;
        o->pub.noexec = p->noexec;
        o->pub.realpath = r->s->fs.lazy_realpath ? 0 : ec_ldfs_realpath(&r->s->fs, p);
    }
    if (e) {
        o->soname = e->soname;
        o->has_runpath = e->runpath != 0;
    }
}

/* ---------------------------------------------------------------- $ORIGIN, $LIB, $PLATFORM */

/* l_origin as _dl_new_object computes it from l_name (relative names against the directory
 * that was current when the object was loaded: the cwd, unless the caller said otherwise) */
static const char *origin_of(struct run *r, struct obj *o)
{
    const char *name = o->pub.path, *cwd = o->load_cwd ? o->load_cwd : r->s->fs.cwd;
    size_t n, c = 0, cut;
    char *s;
    if (o->origin) return o->origin;
    if (o->type == LT_EXECUTABLE && !r->req->as_library) return o->origin = r->main_origin;
    if (!name || !name[0]) return o->origin = ORIGIN_UNKNOWN;
    if (name[0] != '/' && cwd == EC_LD_CWD_UNTOLD) return o->origin = ORIGIN_UNTOLD;
    if (name[0] != '/' && !cwd[0]) return o->origin = ORIGIN_UNKNOWN; /* glibc's getcwd fails as well */
    n = ec_strlen(name);
    if (name[0] != '/') c = ec_strlen(cwd);
    s = ec_arena_alloc(r->a, c + n + 2);
    if (!s) {
        r->nomem = 1;
        return o->origin = ORIGIN_UNKNOWN;
    }
    if (c) {
        ec_memcpy(s, cwd, c);
        if (s[c - 1] != '/') s[c++] = '/';
    }
    ec_memcpy(s + c, name, n);
    cut = c + n;
    do --cut; while (s[cut] != '/'); /* there is a '/': name is absolute or cwd ended in one */
    if (cut == 0) cut = 1;           /* keep the only slash of "/foo" */
    s[cut] = 0;
    return o->origin = s;
}

/* The object's relative name was taken from cwd when it was loaded: its file, its origin and the
 * search lists the replay made with the current directory are made again from that one.
 * EC_LD_CWD_UNTOLD (a directory not known): its file, and so its RPATH/RUNPATH, are not known
 * either; a search that needs them says so (cache_rpath). */
static void set_load_cwd(struct run *r, struct obj *o, const char *cwd)
{
    size_t c, n;
    char *path;
    if (!o->pub.path || o->pub.path[0] == '/') return;
    o->origin = 0;
    o->rpath.state = o->runpath.state = 0;
    o->load_cwd = EC_LD_CWD_UNTOLD;
    if (cwd == EC_LD_CWD_UNTOLD || cwd[0] != '/') return;
    c = ec_strlen(cwd), n = ec_strlen(o->pub.path);
    if (!(path = ec_arena_alloc(r->a, c + n + 2)) || !(o->load_cwd = rdup(r, cwd, c))) {
        r->nomem = 1;
        o->load_cwd = EC_LD_CWD_UNTOLD;
        return;
    }
    ec_memcpy(path, cwd, c);
    path[c] = '/';
    ec_memcpy(path + c + 1, o->pub.path, n + 1);
    {
        struct ec_ldfs_path *p = ec_ldfs_lookup(&r->s->fs, path);
        const struct ec_elf *e = p && !p->err && p->file ? ec_ldfs_elf(&r->s->fs, p) : 0;
        set_file(r, o, e ? p : 0, e);
        o->has_id = e != 0;
    }
}

/* is_dst: length of the token ref at input (just after '$'), 0 if it is not that token */
static size_t is_dst(const char *input, const char *ref)
{
    int curly = 0;
    size_t rlen = ec_strlen(ref);
    char c;
    if (input[0] == '{') curly = 1, input++;
    if (ec_strncmp(input, ref, rlen)) return 0;
    c = input[rlen];
    if (curly && c != '}') return 0;
    if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_') return 0;
    return curly ? rlen + 2 : rlen;
}

static size_t dst_count(const char *input)
{
    size_t cnt = 0, len;
    input = ec_strchr(input, '$');
    while (input) {
        ++input;
        if ((len = is_dst(input, "ORIGIN")) || (len = is_dst(input, "PLATFORM")) || (len = is_dst(input, "LIB"))) ++cnt;
        input = ec_strchr(input + len, '$');
    }
    return cnt;
}

size_t ec_ld_dst_count(const char *s) { return dst_count(s); }

/* Is one of the tokens in input an $ORIGIN? */
static int has_origin(const char *input)
{
    size_t len;
    for (input = ec_strchr(input, '$'); input; input = ec_strchr(input + len, '$'))
        if ((len = is_dst(++input, "ORIGIN"))) return 1;
    return 0;
}

/* is_trusted_path_normalize */
static int trusted_path(struct run *r, const char *path, size_t len)
{
    char *npath, *wnp;
    int i;
    if (len == 0) return 0;
    npath = ec_arena_alloc(r->a, len + 2);
    if (!npath) return 0;
    wnp = npath;
    while (*path) {
        if (path[0] == '/') {
            if (path[1] == '.') {
                if (path[2] == '.' && (path[3] == '/' || path[3] == 0)) {
                    while (wnp > npath && *--wnp != '/')
                        ;
                    path += 3;
                    continue;
                } else if (path[2] == '/' || path[2] == 0) {
                    path += 2;
                    continue;
                }
            }
            if (wnp > npath && wnp[-1] == '/') {
                ++path;
                continue;
            }
        }
        *wnp++ = *path++;
    }
    if (wnp == npath || wnp[-1] != '/') *wnp++ = '/';
    for (i = 0; i < r->s->nsys; i++)
        if ((size_t)(wnp - npath) >= r->s->syslen[i] && !ec_memcmp(r->s->sys[i], npath, r->s->syslen[i])) return 1;
    return 0;
}

int ec_ld_dst_expand(const char *input, const struct ec_ld_dst *v, char *out, size_t cap)
{
    const char *start = input;
    char *wp = out, *end = out + cap;
    size_t len;
    if (!cap) return EC_LD_DST_TOO_LONG;
    do {
        if (*input == '$') {
            const char *repl = 0;
            int missing = 0;
            ++input;
            if ((len = is_dst(input, "ORIGIN"))) {
                /* secure: $ORIGIN only as the whole first element or its first component */
                if (v->secure && !(input == start + 1 && (input[len] == 0 || input[len] == '/')))
                    missing = EC_LD_DST_SECURE_ORIGIN;
                else if (!(repl = v->origin))
                    missing = EC_LD_DST_NO_ORIGIN;
            } else if ((len = is_dst(input, "PLATFORM"))) {
                if (!(repl = v->platform && v->platform[0] ? v->platform : 0)) missing = EC_LD_DST_NO_PLATFORM;
            } else if ((len = is_dst(input, "LIB"))) {
                if (!(repl = v->lib)) missing = EC_LD_DST_NO_LIB;
            }
            if (missing) {
                out[0] = 0; /* a known token without a value: drop the path */
                return missing;
            }
            if (!len) repl = "$";
            else input += len;
            len = ec_strlen(repl);
            if ((size_t)(end - wp) <= len) goto too_long;
            ec_memcpy(wp, repl, len);
            wp += len;
        } else {
            if (end - wp <= 1) goto too_long;
            *wp++ = *input++;
        }
    } while (*input);
    *wp = 0;
    return EC_LD_DST_OK;
too_long:
    out[0] = 0;
    return EC_LD_DST_TOO_LONG;
}

/* _dl_dst_substitute: input with its tokens replaced, "" when the path must be dropped */
static const char *dst_substitute(struct run *r, struct obj *l, const char *input)
{
    size_t cap = ec_strlen(input) + 1, maxrep;
    const char *o = origin_of(r, l);
    struct ec_ld_dst v;
    char *result;
    int got;
    v.origin = o == ORIGIN_UNKNOWN || o == ORIGIN_UNTOLD ? 0 : o;
    v.platform = r->s->platform;
    v.lib = r->s->lib;
    v.secure = r->secure;
    /* room: every token may become its longest replacement */
    maxrep = ec_strlen(v.platform);
    if (ec_strlen(v.lib) > maxrep) maxrep = ec_strlen(v.lib);
    if (v.origin && ec_strlen(v.origin) > maxrep) maxrep = ec_strlen(v.origin);
    cap += dst_count(input) * maxrep;
    result = ec_arena_alloc(r->a, cap);
    if (!result) {
        r->nomem = 1;
        return "";
    }
    got = ec_ld_dst_expand(input, &v, result, cap);
    if (got == EC_LD_DST_NO_ORIGIN && o == ORIGIN_UNTOLD) r->origin_untold = 1; /* glibc has a value; we do not */
    /* an $ORIGIN of a secure program's executable must expand to a trusted directory */
    if (got == EC_LD_DST_OK && r->secure && l->type == LT_EXECUTABLE && has_origin(input) &&
        !trusted_path(r, result, ec_strlen(result)))
        *result = 0;
    return result;
}

/* expand_dynamic_string_token */
static const char *expand_dst(struct run *r, struct obj *l, const char *input)
{
    if (!dst_count(input)) return input;
    return dst_substitute(r, l, input);
}

/* ---------------------------------------------------------------- search lists */

static struct dir *find_dir(struct run *r, const char *name, size_t len)
{
    struct dir *d;
    for (d = r->all_dirs; d; d = d->next)
        if (d->len == len && !ec_memcmp(d->name, name, len)) return d;
    d = ec_arena_alloc(r->a, sizeof *d);
    if (!d || !(d->name = rdup(r, name, len))) {
        r->nomem = 1;
        return 0;
    }
    d->len = len;
    /* relative directories are never ruled out: the cwd could change */
    ec_memset(d->status, name[0] != '/' ? EXISTING : UNKNOWN, sizeof d->status);
    d->next = r->all_dirs;
    r->all_dirs = d;
    return d;
}

/* fillin_rpath + decompose_rpath: split at sep, expand tokens, add the '/', share dirs by name */
static void fillin_rpath(struct run *r, struct obj *l, const char *rpath, const char *sep, struct list *out)
{
    size_t count = 1;
    const char *p;
    out->state = -1;
    out->n = 0;
    for (p = rpath; *p; p++)
        if (ec_strchr(sep, *p)) count++;
    out->dirs = ec_arena_alloc(r->a, sizeof *out->dirs * count);
    if (!out->dirs) {
        r->nomem = 1;
        return;
    }
    p = rpath;
    for (;;) {
        size_t elen = 0, len;
        const char *cp;
        struct dir *d;
        char *buf;
        int k;
        while (p[elen] && !ec_strchr(sep, p[elen])) elen++;
        if (elen) {
            const char *elem = rdup(r, p, elen);
            if (!elem) return;
            cp = expand_dst(r, l, elem);
            len = ec_strlen(cp);
            if (len == 0) goto next; /* expanded to nothing: dropped */
            while (len > 1 && cp[len - 1] == '/') --len;
            buf = ec_arena_alloc(r->a, len + 2);
            if (!buf) {
                r->nomem = 1;
                return;
            }
            ec_memcpy(buf, cp, len);
            if (buf[len - 1] != '/') buf[len++] = '/';
            cp = buf;
        } else {
            cp = "", len = 0; /* an empty element: the current directory */
        }
        d = find_dir(r, cp, len);
        if (!d) return;
        for (k = 0; k < out->n; k++)
            if (out->dirs[k] == d) break;
        if (k == out->n) out->dirs[out->n++] = d;
    next:
        if (!p[elen]) break;
        p += elen + 1;
    }
    if (out->n) out->state = 1;
}

/* cache_rpath: the object's RPATH (ignored when it has RUNPATH) or RUNPATH, decomposed once */
static int cache_rpath(struct run *r, int idx, int runpath)
{
    struct obj *o = O(r, idx);
    struct list *l = runpath ? &o->runpath : &o->rpath;
    const char *str;
    if (l->state) return l->state > 0;
    if (o->load_cwd == EC_LD_CWD_UNTOLD) {
        /* loaded by a relative name from a directory not known: which file, so which list, is
         * not known either */
        r->origin_untold = 1;
        l->state = -1;
        return 0;
    }
    str = !o->pub.elf ? 0 : runpath ? o->pub.elf->runpath : o->has_runpath ? 0 : o->pub.elf->rpath;
    if (!str || !str[0]) {
        l->state = -1;
        return 0;
    }
    fillin_rpath(r, O(r, idx), str, ":", l);
    o = O(r, idx);
    l = runpath ? &o->runpath : &o->rpath;
    return l->state > 0;
}

/* ---------------------------------------------------------------- candidates */

/* p: the lookup of path (NULL if none was made) */
static void add_try(struct run *r, const char *path, const struct ec_ldfs_path *p, int via, int via_object,
                    int outcome)
{
    struct ec_ld_try *t;
    if (!r->req->trace || grow_array(r, (void **)&r->tries, &r->captries, r->ntries, sizeof *r->tries)) return;
    t = &r->tries[r->ntries++];
    t->path = rdup(r, path, ec_strlen(path));
    t->via = via, t->via_object = via_object, t->outcome = outcome;
    t->fresh = p && p->gen == r->s->fs.gen;
}

enum { V_OK, V_SKIP, V_FATAL };

/* open_verify: 0 usable (*pp set), -1 with *err (skip to the next candidate), or V_FATAL with *f */
static int open_verify(struct run *r, const char *path, struct ec_ldfs_path **pp, int *err, int *other_class,
                       struct failure *f)
{
    struct ec_ldfs_path *p = ec_ldfs_lookup(&r->s->fs, path);
    const struct ec_elf *e;
    const unsigned char *id;
    uint32_t ft;
    *pp = p;
    f->path = path;
    f->err = 0;
    if (!p) {
        r->nomem = 1;
        f->error = EC_LDE_NOMEM;
        return V_FATAL;
    }
    if (p->err) {
        *err = p->err;
        return V_SKIP;
    }
    ft = p->mode & EC_S_IFMT;
    if (ft == EC_S_IFDIR) { /* open succeeds, read fails with EISDIR: fatal */
        f->error = EC_LDE_READ, f->err = 21;
        return V_FATAL;
    }
    if (ft == EC_S_IFSOCK) { /* open fails ENXIO */
        *err = EC_ENXIO;
        return V_SKIP;
    }
    if (ft == EC_S_IFIFO) {
        f->error = EC_LDE_FIFO;
        return V_FATAL;
    }
    if (ft != EC_S_IFREG) {
        f->error = EC_LDE_NOT_REGULAR;
        return V_FATAL;
    }
    e = ec_ldfs_elf(&r->s->fs, p);
    if (!e) {
        if (p->file && p->file->read_err) {
            *err = p->file->read_err;
            return V_SKIP;
        }
        r->nomem = 1;
        f->error = EC_LDE_NOMEM;
        return V_FATAL;
    }
    if (e->defect == EC_ELF_READ_ERROR) {
        f->error = EC_LDE_READ, f->err = e->read_err;
        return V_FATAL;
    }
    /* the order of elf/dl-load.c:open_verify */
    if (e->size < (uint64_t)r->s->abi->ehdr_size) {
        f->error = EC_LDE_TOO_SHORT;
        return V_FATAL;
    }
    id = e->ident;
    if (ec_memcmp(id, "\177ELF", 4)) {
        f->error = EC_LDE_BAD_MAGIC;
        return V_FATAL;
    }
    if (!((id[7] == 0 || id[7] == 3) && id[4] == r->s->abi->elfclass && id[5] == 1 && id[6] == 1) ||
        !(id[8] == 0 || (id[7] == 3 && id[8] < LIBC_ABI_MAX)) || id[9] || id[10] || id[11] || id[12] || id[13] ||
        id[14] || id[15]) {
        if (id[4] != r->s->abi->elfclass) {
            *other_class = 1;
            *err = EC_ENOENT;
            return V_SKIP;
        }
        f->error = id[5] != 1 ? EC_LDE_ENDIAN
                 : id[6] != 1 ? EC_LDE_IDENT_VERSION
                 : !(id[7] == 0 || id[7] == 3) ? EC_LDE_OSABI
                 : !(id[8] == 0 || (id[7] == 3 && id[8] < LIBC_ABI_MAX)) ? EC_LDE_ABIVERSION
                 : EC_LDE_PAD;
        return V_FATAL;
    }
    if (e->version != 1) {
        f->error = EC_LDE_VERSION;
        return V_FATAL;
    }
    if (e->machine != r->s->abi->machine) {
        *err = EC_ENOENT;
        return V_SKIP;
    }
    if (e->type != EC_ET_DYN && e->type != EC_ET_EXEC) {
        f->error = EC_LDE_TYPE;
        return V_FATAL;
    }
    if (e->phentsize != r->s->abi->phentsize) {
        f->error = EC_LDE_PHENTSIZE;
        return V_FATAL;
    }
    if (e->defect == EC_ELF_PHDR_RANGE) {
        f->error = EC_LDE_READ;
        return V_FATAL;
    }
    if (e->defect == EC_ELF_TOO_MANY && !e->nload) {
        f->error = EC_LDE_CORRUPT;
        return V_FATAL;
    }
    return V_OK;
}

/* The lookup of the directory that the first n bytes of buf name (buf is left as it was); NULL,
 * with r->nomem set, when memory runs out. */
static struct ec_ldfs_path *lookup_dir(struct run *r, char *buf, size_t n)
{
    struct ec_ldfs_path *dp;
    char save = buf[n];
    buf[n] = 0;
    dp = ec_ldfs_lookup(&r->s->fs, buf);
    buf[n] = save;
    if (!dp) r->nomem = 1;
    return dp;
}

/* Was the directory of slot cnt of d (d->name, then the capability subdirectory) missing when
 * the live process started (req->missing_at_start lists such directories: below one, everything
 * was missing too)? Only while the start-up is replayed: ld.so probed it then, found it missing and
 * marks it so for good, while it may be there now. */
static int missing_at_start(const struct run *r, const struct dir *d, int cnt)
{
    const char *m = r->req->missing_at_start, *cap = r->s->capstr[cnt];
    size_t capn = r->s->caplen[cnt];
    if (!r->at_start || !m || d->name[0] != '/') return 0;
    for (; *m; m += ec_strlen(m) + 1) {
        size_t n = ec_strlen(m);
        if (n <= d->len ? !ec_memcmp(m, d->name, n)
                        : n <= d->len + capn && !ec_memcmp(m, d->name, d->len) && !ec_memcmp(m + d->len, cap, n - d->len))
            return 1;
    }
    return 0;
}

/* open_path: 1 found (*found set), 0 not found (the list may be abandoned), V_FATAL */
static int open_path(struct run *r, const char *name, int mode, struct list *sps, int via, int via_object, int dry,
                     struct ec_ldfs_path **found, char **realname, int *other_class, int *last_err, struct failure *f)
{
    struct ec_ld_session *s = r->s;
    size_t namelen = ec_strlen(name);
    int i, any = 0;
    char *buf;
    size_t maxdir = 0;
    for (i = 0; i < sps->n; i++)
        if (sps->dirs[i]->len > maxdir) maxdir = sps->dirs[i]->len;
    buf = ec_arena_alloc(r->a, maxdir + s->maxcaplen + namelen + 1);
    if (!buf) {
        r->nomem = 1;
        f->error = EC_LDE_NOMEM;
        return V_FATAL;
    }
    for (i = 0; i < sps->n; i++) {
        struct dir *d = sps->dirs[i];
        int here_any = 0, cnt, err = 0, got = 0;
        for (cnt = 0; cnt < s->ncap && !got; cnt++) {
            struct ec_ldfs_path *p;
            int v;
            size_t buflen;
            if (d->status[cnt] == NONEXISTING) continue;
            if (d->status[cnt] == UNKNOWN && missing_at_start(r, d, cnt)) {
                if (!dry) d->status[cnt] = NONEXISTING;
                continue;
            }
            ec_memcpy(buf, d->name, d->len);
            ec_memcpy(buf + d->len, s->capstr[cnt], s->caplen[cnt]);
            ec_memcpy(buf + d->len + s->caplen[cnt], name, namelen + 1);
            buflen = d->len + s->caplen[cnt] + namelen;
            if (s->caplen[cnt] && d->status[cnt] == UNKNOWN) {
                /* A glibc-hwcaps, tls or platform subdirectory, missing as a rule: looked at
                 * first, it spares opening the file in it. ld.so opens the file, then stats the
                 * directory; the outcome is the same: the stat's errno, or ENOTDIR from the open
                 * for something that is not a directory. */
                struct ec_ldfs_path *dp = lookup_dir(r, buf, buflen - namelen);
                if (!dp) {
                    f->error = EC_LDE_NOMEM;
                    return V_FATAL;
                }
                if (dp->err || (dp->mode & EC_S_IFMT) != EC_S_IFDIR) {
                    err = dp->err ? dp->err : EC_ENOTDIR;
                    if (!dry) d->status[cnt] = NONEXISTING;
                    add_try(r, buf, dp, via, via_object, err);
                    continue;
                }
            }
            v = open_verify(r, buf, &p, &err, other_class, f);
            if (v == V_FATAL) {
                add_try(r, buf, p, via, via_object, -f->error);
                f->path = rdup(r, buf, buflen);
                return V_FATAL;
            }
            if (d->status[cnt] == UNKNOWN) {
                uint8_t st;
                if (v == V_OK) {
                    st = EXISTING;
                } else {
                    /* did the directory exist at all? (stat of dir + capstr) */
                    struct ec_ldfs_path *dp = lookup_dir(r, buf, buflen - namelen);
                    if (!dp) {
                        f->error = EC_LDE_NOMEM;
                        return V_FATAL;
                    }
                    if (dp->err) err = dp->err;
                    st = dp->err || (dp->mode & EC_S_IFMT) != EC_S_IFDIR ? NONEXISTING : EXISTING;
                }
                if (!dry) d->status[cnt] = st;
                here_any |= st != NONEXISTING;
            } else {
                here_any = 1;
            }
            if (v == V_OK && (mode & RTLD_SECURE) && r->secure && !(p->file->mode & EC_S_ISUID)) {
                v = V_SKIP; /* preloads in secure mode: setuid files only */
                err = EC_ENOENT;
            }
            add_try(r, buf, p, via, via_object, v == V_OK ? 0 : err);
            if (v == V_OK) {
                *found = p;
                *realname = rdup(r, buf, buflen);
                got = 1;
            }
        }
        if (got) return 1;
        if (here_any) *last_err = err;
        if (here_any && err != EC_ENOENT && err != EC_EACCES) return 0; /* the rest of this list is abandoned */
        any |= here_any;
    }
    if (!any && !dry && sps != &r->sys_list && sps != &r->env_list) sps->state = -1;
    return 0;
}

/* ---------------------------------------------------------------- mapping an object */

static int nodeflib(struct run *r, int l) { return l >= 0 && O(r, l)->pub.elf && (O(r, l)->pub.elf->flags_1 & EC_DF_1_NODEFLIB); }

static int in_system_dir(struct run *r, const char *path)
{
    int i;
    for (i = 0; i < r->s->nsys; i++)
        if (!ec_strncmp(path, r->s->sys[i], r->s->syslen[i])) return 1;
    return 0;
}

/* The session's cache, read and checked on first use */
static const struct ec_ldcache *load_cache(struct ec_ld_session *s)
{
    if (!s->cache_loaded) {
        const char *data = 0;
        long n;
        s->cache_loaded = 1;
        if (s->cache_path[0] && (n = ec_ldfs_read(&s->fs, s->cache_path, CACHE_MAX, &data)) > 0 &&
            ec_ldcache_parse(&s->cache, data, (size_t)n) != EC_LDCACHE_NONE)
            s->cache_ok = 1;
    }
    return s->cache_ok ? &s->cache : 0;
}

static const char *cache_lookup(struct run *r, const char *name)
{
    const struct ec_ldcache *c = load_cache(r->s);
    return c ? ec_ldcache_lookup(c, &r->s->cache_params, name) : 0;
}

/* The search of _dl_map_new_object for a name without '/'. Returns 1 found, 0 not, V_FATAL. */
static int search(struct run *r, int loader, const char *name, int mode, int dry, struct ec_ldfs_path **found,
                  char **realname, int *via, int *via_object, int *other_class, int *last_err, struct failure *f)
{
    int v = 0, l, did_main = 0, main_idx = 0;
    *last_err = EC_ENOENT;
    if (loader < 0 || !O(r, loader)->has_runpath) {
        /* the RPATH of the loader, its loader, and up */
        for (l = loader; l >= 0; l = O(r, l)->pub.loader) {
            if (!cache_rpath(r, l, 0)) continue;
            *via = EC_LD_VIA_RPATH, *via_object = l;
            v = open_path(r, name, mode, &O(r, l)->rpath, EC_LD_VIA_RPATH, l, dry, found, realname, other_class,
                          last_err, f);
            if (v) return v;
            did_main |= l == main_idx;
        }
        /* the executable's RPATH, in any case */
        if (!did_main && cache_rpath(r, main_idx, 0)) {
            *via = EC_LD_VIA_RPATH, *via_object = main_idx;
            v = open_path(r, name, mode, &O(r, main_idx)->rpath, EC_LD_VIA_RPATH, main_idx, dry, found, realname,
                          other_class, last_err, f);
            if (v) return v;
        }
    }
    if (r->env_list.state > 0) {
        *via = EC_LD_VIA_LIBRARY_PATH, *via_object = -1;
        v = open_path(r, name, mode, &r->env_list, EC_LD_VIA_LIBRARY_PATH, -1, dry, found, realname, other_class,
                      last_err, f);
        if (v) return v;
    }
    if (loader >= 0 && cache_rpath(r, loader, 1)) {
        *via = EC_LD_VIA_RUNPATH, *via_object = loader;
        v = open_path(r, name, mode, &O(r, loader)->runpath, EC_LD_VIA_RUNPATH, loader, dry, found, realname,
                      other_class, last_err, f);
        if (v) return v;
    }
    if (!((mode & RTLD_SECURE) && r->secure)) {
        const char *cached = cache_lookup(r, name);
        int owner = loader >= 0 ? loader : main_idx;
        if (cached && nodeflib(r, owner) && in_system_dir(r, cached)) cached = 0;
        if (cached) {
            struct ec_ldfs_path *p;
            int err = 0;
            *via = EC_LD_VIA_CACHE, *via_object = -1;
            v = open_verify(r, cached, &p, &err, other_class, f);
            if (v == V_FATAL) {
                add_try(r, cached, p, EC_LD_VIA_CACHE, -1, -f->error);
                return V_FATAL;
            }
            add_try(r, cached, p, EC_LD_VIA_CACHE, -1, v == V_OK ? 0 : err);
            if (v == V_OK) {
                *found = p;
                *realname = rdup(r, cached, ec_strlen(cached));
                return 1;
            }
            *last_err = err;
        }
    }
    if (!nodeflib(r, loader >= 0 ? loader : main_idx) && r->sys_list.state > 0) {
        *via = EC_LD_VIA_DEFAULT, *via_object = -1;
        v = open_path(r, name, mode, &r->sys_list, EC_LD_VIA_DEFAULT, -1, dry, found, realname, other_class,
                      last_err, f);
        if (v) return v;
    }
    *via = EC_LD_VIA_NONE, *via_object = -1;
    return 0;
}

/* Checks of _dl_map_object_from_fd once a file is chosen, in its order. 0 or an ec_ld_error. */
static int map_checks(struct run *r, struct ec_ldfs_path *p, int mode)
{
    const struct ec_elf *e = p->file ? &p->file->elf : 0;
    (void)r;
    if (!e) return EC_LDE_CORRUPT;
    if (e->load_misaligned) return EC_LDE_LOAD_ALIGN;
    if (!e->nload) return EC_LDE_NO_LOAD;
    if (e->type != EC_ET_DYN && !(mode & RTLD_OPENEXEC)) return EC_LDE_EXEC;
    if ((!e->has_dynamic && e->type == EC_ET_DYN) || e->dynamic_empty) return EC_LDE_NO_DYNAMIC;
    if (p->noexec) return EC_LDE_MAP;
    if ((e->flags_1 & EC_DF_1_PIE) && !(mode & RTLD_OPENEXEC)) return EC_LDE_PIE;
    /* this reader could not follow the dynamic section: what ld.so does with it is not known */
    if (!ec_ld_defect_passes(e)) return EC_LDE_CORRUPT;
    return 0;
}

int ec_ld_defect_passes(const struct ec_elf *e)
{
    return !e->defect || (e->defect == EC_ELF_TOO_MANY && e->nload);
}

/* _dl_map_object: the object for name, loaded by `loader`. Returns its index, or -1 with *f.
 * via/via_object say how. */
static int map_object(struct run *r, int loader, const char *name, int mode, int kind, int *via, int *via_object,
                      struct failure *f)
{
    struct ec_ldfs_path *p = 0;
    char *realname = 0;
    int other_class = 0, last_err = EC_ENOENT, v, i, idx, new_loader;
    ec_memset(f, 0, sizeof *f);
    *via_object = -1;
    i = lookup_map(r, name);
    if (i >= 0) {
        *via = EC_LD_VIA_LOADED;
        return i;
    }
    if (!has_slash(name)) {
        v = search(r, loader, name, mode, 0, &p, &realname, via, via_object, &other_class, &last_err, f);
    } else {
        int err = 0;
        const char *rn = loader >= 0 ? expand_dst(r, O(r, loader), name) : name;
        *via = EC_LD_VIA_PATH;
        if (!rn[0]) /* a token without a value dropped the path: open("") */
            v = V_SKIP, err = EC_ENOENT;
        else
            v = open_verify(r, rn, &p, &err, &other_class, f);
        add_try(r, rn, p, EC_LD_VIA_PATH, -1, v == V_OK ? 0 : v == V_FATAL ? -f->error : err);
        if (v == V_OK) {
            realname = rdup(r, rn, ec_strlen(rn));
            v = 1;
        } else if (v == V_SKIP) {
            last_err = err;
            v = 0;
        } else {
            f->path = rn;
        }
    }
    if (v == V_FATAL) return -1;
    if (v == 0) {
        f->error = other_class ? EC_LDE_WRONG_CLASS : EC_LDE_NOT_FOUND;
        f->err = last_err;
        f->path = 0;
        return -1;
    }
    /* the same file already loaded under another name */
    for (i = r->nobj ? r->lm_head : -1; i >= 0; i = O(r, i)->lm_next) {
        struct obj *o = O(r, i);
        if (o->has_id && !o->faked && o->pub.dev == p->file->dev && o->pub.ino == p->file->ino) {
            add_name(r, o, name);
            *via = EC_LD_VIA_SAME_FILE;
            return i;
        }
    }
    f->error = map_checks(r, p, mode);
    if (f->error) {
        f->path = realname;
        return -1;
    }
    new_loader = (mode & RTLD_CALLMAP) ? -1 : loader;
    idx = new_object(r, realname, name, LT_LIBRARY, new_loader, kind);
    if (idx < 0) {
        f->error = EC_LDE_NOMEM;
        return -1;
    }
    set_file(r, O(r, idx), p, &p->file->elf);
    O(r, idx)->has_id = 1;
    O(r, idx)->pub.via = *via;
    O(r, idx)->pub.via_object = *via_object;
    if (new_loader < 0 && loader >= 0) O(r, idx)->pub.depth = O(r, loader)->pub.depth + 1;
    return idx;
}

/* ---------------------------------------------------------------- edges */

static int add_edge(struct run *r, int from, int64_t tag, const char *name, const char *expanded)
{
    struct ec_ld_edge *e;
    if (grow_array(r, (void **)&r->edges, &r->capedges, r->nedges, sizeof *r->edges)) return -1;
    e = &r->edges[r->nedges];
    ec_memset(e, 0, sizeof *e);
    e->from = from, e->tag = tag, e->name = name, e->expanded = expanded;
    e->to = -1, e->via_object = -1, e->alone = -1;
    e->first_try = r->ntries;
    return r->nedges++;
}

/* Loads name for edge ei; on failure leaves a faked object (as ld.so's trace mode does) when fake
 * says so. A failure that is not fatal gets one only when no file was found: ld.so's trace mode
 * fakes an object where it found none, any other error it raises (and an auxiliary filtee's is
 * dropped). Returns the object index or -1. */
static int load_edge(struct run *r, int ei, int loader, const char *name, int mode, int kind, int fatal_on_error,
                     int fake)
{
    struct failure f;
    int via, via_object, idx = map_object(r, loader, name, mode, kind, &via, &via_object, &f);
    struct ec_ld_edge *e = &r->edges[ei];
    e->ntries = r->ntries - e->first_try;
    e->via = via, e->via_object = via_object;
    if (idx >= 0) {
        e->to = idx;
        if (via == EC_LD_VIA_LOADED && r->req->check_alone) {
            struct ec_ldfs_path *p = 0;
            char *rn = 0;
            int oc = 0, le = 0, v2, vv, vo, saved = r->ntries;
            struct failure f2;
            if (has_slash(name)) {
                int err = 0;
                v2 = open_verify(r, loader >= 0 ? expand_dst(r, O(r, loader), name) : name, &p, &err, &oc, &f2) == V_OK;
            } else {
                v2 = search(r, loader, name, mode, 1, &p, &rn, &vv, &vo, &oc, &le, &f2) == 1;
            }
            r->ntries = saved; /* a what-if search leaves no trace */
            r->edges[ei].alone = v2;
        }
        return idx;
    }
    e->error = f.error;
    e->err = f.err;
    e->error_path = f.path;
    e->fatal = fatal_on_error;
    if (fake && (fatal_on_error || f.error == EC_LDE_NOT_FOUND || f.error == EC_LDE_WRONG_CLASS)) {
        int m = new_object(r, 0, name, LT_LIBRARY, loader, EC_LD_MISSING);
        if (m >= 0) O(r, m)->faked = fatal_on_error ? 1 : 2; /* a real run goes on without it */
        return m;
    }
    return -1;
}

/* ---------------------------------------------------------------- breadth-first dependencies */

struct node {
    int obj, done, next;
};

/* Filtees that move each other put the walk back in a state it was in before, and from there
 * ld.so goes round until its stack is gone (MAX_FILTEE_ENTRIES). Each round cost this model an
 * edge and a search, and one more object where a DT_FILTER is missing: two libraries naming each
 * other DT_AUXILIARY made a resolution of a million edges (a second of C, half a minute and
 * gigabytes of the audit's Python), and with a missing filter beside them 65536 objects (ten
 * minutes for an image of three files). Brent's cycle finding over the walk's state stops at the
 * first state seen again: the walk depends on nothing else, so it would repeat for ever. The
 * state: the objects in the list with their done marks, where the walk goes on, and the link-map
 * order that lookups by name follow; without the fakes of failed loads, which nothing matches,
 * moves or walks (each round adds one: the rounds repeat all the same). It is looked at where
 * the walk takes its next live object. */
struct cycle {
    int *saved, *now;
    int nsaved, cap;
    unsigned power, lam;
};

static int walk_state(struct run *r, const struct node *known, int runp, int *out)
{
    int n = 1, i;
    out[0] = -1;
    for (i = 0; i >= 0; i = known[i].next) {
        if (O(r, known[i].obj)->faked) continue;
        if (i == runp) out[0] = n;
        out[n++] = known[i].obj * 2 + known[i].done;
    }
    out[n++] = -1;
    for (i = r->lm_head; i >= 0; i = O(r, i)->lm_next)
        if (!O(r, i)->faked) out[n++] = i;
    return n;
}

/* 1 when the walk is in a state it was in before. */
static int cycle_seen(struct run *r, struct cycle *c, const struct node *known, int runp)
{
    int need = 2 * r->nobj + 2, n; /* each object once in the list, once in the link map */
    if (need > c->cap) {
        int *fresh = ec_arena_alloc(r->a, sizeof *fresh * (size_t)need * 4);
        if (!fresh) {
            r->nomem = 1;
            return 0;
        }
        if (c->nsaved) ec_memcpy(fresh, c->saved, sizeof *fresh * (size_t)c->nsaved);
        c->saved = fresh, c->now = fresh + 2 * need, c->cap = 2 * need;
    }
    n = walk_state(r, known, runp, c->now);
    if (n == c->nsaved && !ec_memcmp(c->now, c->saved, sizeof *c->now * (size_t)n)) return 1;
    if (++c->lam >= c->power) {
        ec_memcpy(c->saved, c->now, sizeof *c->now * (size_t)n);
        c->nsaved = n;
        c->power *= 2;
        c->lam = 0;
    }
    return 0;
}

/* _dl_map_object_deps: objects in `start` (main or a dlopened object, then preloads) and their
 * dependencies, breadth first; fills out[] with the search list. Returns its length. */
static int map_deps(struct run *r, const int *start, int nstart, int **out)
{
    struct node *known = 0;
    struct cycle cyc = {0, 0, 0, 0, 1, 0};
    int nk = 0, capk = 0, i, runp, tail, count, nfiltee = 0, endless = 0, last_filtee = -1;
    for (i = 0; i < nstart; i++) {
        if (grow_array(r, (void **)&known, &capk, nk, sizeof *known)) return 0;
        known[nk].obj = start[i], known[nk].done = 0, known[nk].next = i + 1 < nstart ? nk + 1 : -1;
        O(r, start[i])->reserved = 1;
        nk++;
    }
    tail = nk - 1;
    runp = 0;
    while (runp >= 0) {
        int l = known[runp].obj, orig = runp, d;
        /* only filtees move the walk back; a fake's turn changes nothing that counts (and would
         * look like a state seen again) */
        if (nfiltee && !O(r, l)->faked && cycle_seen(r, &cyc, known, runp)) {
            r->edges[last_filtee].error = EC_LDE_FILTER_LOOP, r->edges[last_filtee].fatal = 1;
            break;
        }
        const struct ec_elf *e = O(r, l)->pub.elf;
        known[runp].done = 1;
        if (e && !O(r, l)->faked)
            for (d = 0; d < (int)e->ndeps; d++) {
                const struct ec_elf_dep *dep = &e->deps[d];
                const char *name = dep->name;
                int ei, dst = dst_count(name) != 0, idx;
                if (r->nomem) break;
                if (dst) {
                    /* expand_dst refuses it before any tag's errors are caught: fatal for all three */
                    if (r->secure) {
                        ei = add_edge(r, l, dep->tag, dep->name, dep->name);
                        if (ei < 0) break;
                        r->edges[ei].error = EC_LDE_DST_SECURE, r->edges[ei].fatal = 1;
                        continue;
                    }
                    name = dst_substitute(r, O(r, l), name);
                    if (!name[0]) {
                        /* a token without a value: dl-deps.c's expand_dst is called "fatal" for a
                         * DT_AUXILIARY only (its error is raised outside the catch that ignores
                         * auxiliary failures); a DT_NEEDED or DT_FILTER is skipped */
                        ei = add_edge(r, l, dep->tag, dep->name, name);
                        if (ei < 0) break;
                        r->edges[ei].error = EC_LDE_DST_EMPTY;
                        r->edges[ei].fatal = dep->tag == EC_DT_AUXILIARY;
                        continue;
                    }
                }
                ei = add_edge(r, l, dep->tag, dep->name, name);
                if (ei < 0) break;
                if (dep->tag == EC_DT_NEEDED) {
                    idx = load_edge(r, ei, l, name, 0, EC_LD_NEEDED, 1, 1);
                    if (idx >= 0 && !O(r, idx)->reserved) {
                        int nn;
                        if (grow_array(r, (void **)&known, &capk, nk, sizeof *known)) break;
                        nn = nk++;
                        known[nn].obj = idx, known[nn].done = 0, known[nn].next = -1;
                        known[tail].next = nn;
                        tail = nn;
                        O(r, idx)->reserved = 1;
                    }
                } else {
                    /* a filtee goes before the object that names it (dl-deps.c): auxiliary
                     * failures are ignored, filter failures are fatal */
                    int aux = dep->tag == EC_DT_AUXILIARY, nn, late, prev;
                    idx = load_edge(r, ei, l, name, 0, EC_LD_FILTEE, !aux, 1);
                    if (idx < 0) continue; /* a missing filtee's fake moves too, as in ld.so's trace */
                    if (++nfiltee > MAX_FILTEE_ENTRIES) { /* filtees that move each other: no end */
                        r->edges[ei].error = EC_LDE_FILTER_LOOP, r->edges[ei].fatal = 1;
                        endless = 1;
                        break;
                    }
                    last_filtee = ei;
                    if (grow_array(r, (void **)&known, &capk, nk, sizeof *known)) break;
                    nn = nk++;
                    known[nn] = known[orig];          /* the current entry moves one down... */
                    known[orig].obj = idx, known[orig].done = 0, known[orig].next = nn; /* ...the filtee takes its place */
                    if (O(r, idx)->reserved) {
                        /* already listed: move it here if it is later, leave it if it is earlier */
                        for (prev = nn, late = known[nn].next; late >= 0 && known[late].obj != idx;
                             prev = late, late = known[late].next)
                            ;
                        if (late >= 0) {
                            if (tail == late) tail = prev;
                            known[prev].next = known[late].next;
                        } else {
                            known[orig] = known[nn];
                            nk--;
                            continue;
                        }
                    }
                    O(r, idx)->reserved = 1;
                    lm_move_before(r, idx, known[nn].obj);
                    if (orig == tail) tail = nn;
                    orig = nn;
                }
            }
        if (endless) break;
        if (known[runp].done)
            do runp = known[runp].next;
            while (runp >= 0 && known[runp].done);
    }
    count = 0;
    for (i = 0; i >= 0 && nk; i = known[i].next) count++;
    *out = ec_arena_alloc(r->a, sizeof **out * (size_t)(count + 1));
    if (!*out) {
        r->nomem = 1;
        return 0;
    }
    count = 0;
    for (i = 0; i >= 0 && nk; i = known[i].next) {
        O(r, known[i].obj)->reserved = 0;
        if (!O(r, known[i].obj)->faked) (*out)[count++] = known[i].obj;
    }
    return count;
}

/* ---------------------------------------------------------------- symbol versions */

static void add_problem(struct run *r, int object, int target, int error, int fatal, const char *file,
                        const char *version)
{
    struct ec_ld_problem *p;
    if (grow_array(r, (void **)&r->problems, &r->capproblems, r->nproblems, sizeof *r->problems)) return;
    p = &r->problems[r->nproblems++];
    p->object = object, p->target = target, p->error = error, p->fatal = fatal, p->file = file, p->version = version;
}

/* find_needed */
static int find_needed(struct run *r, const char *name)
{
    int i;
    for (i = r->nobj ? r->lm_head : -1; i >= 0; i = O(r, i)->lm_next)
        if (name_match(O(r, i), name)) return i;
    for (i = 0; i < r->nsearch; i++)
        if (name_match(O(r, r->search[i]), name)) return r->search[i];
    return -1;
}

/* _dl_check_map_versions for object i (trace mode: requirements on missing objects are skipped) */
static void check_versions(struct run *r, int i)
{
    const struct ec_elf *e = O(r, i)->pub.elf;
    uint32_t k, a, d;
    int relr_ok = 0;
    if (!e || O(r, i)->faked || !e->has_verneed) return;
    if (e->nverneed && e->verneed[0].version != 1) {
        add_problem(r, i, -1, EC_LDE_VERNEED_RECORD, 1, 0, 0);
        return;
    }
    for (k = 0; k < e->nverneed; k++) {
        const struct ec_elf_verneed *vn = &e->verneed[k];
        int t = vn->file ? find_needed(r, vn->file) : -1;
        const struct ec_elf *te;
        if (t >= 0 && O(r, t)->faked == 2) t = -1; /* not in a real run's link map */
        if (t < 0 && vn->file) {
            /* matched by l_name or the names asked, not by SONAME: ld.so asserts and exits */
            add_problem(r, i, -1, EC_LDE_VERNEED_FILE, 1, vn->file, 0);
            return;
        }
        if (t < 0 || O(r, t)->faked) continue;
        te = O(r, t)->pub.elf;
        for (a = 0; a < vn->naux; a++) {
            const struct ec_elf_vernaux *x = &vn->aux[a];
            const char *want = x->name ? x->name : "";
            int weak = (x->flags & EC_VER_FLG_WEAK) != 0, found = 0;
            if (x->hash == 0xfd0e42 && !ec_strcmp(want, "GLIBC_ABI_DT_RELR")) relr_ok = 1;
            if (!te) continue; /* the vDSO: no file to read, nobody links against its versions */
            if (!te->has_verdef) {
                add_problem(r, i, t, EC_LDE_NO_VERSION_INFO, 0, vn->file, want);
                continue;
            }
            for (d = 0; d < te->nverdef; d++) {
                const struct ec_elf_verdef *vd = &te->verdef[d];
                if (vd->version != 1) {
                    add_problem(r, i, t, EC_LDE_VERDEF_RECORD, 1, vn->file, want);
                    found = 1;
                    break;
                }
                if (vd->hash == x->hash && vd->name && !ec_strcmp(want, vd->name)) {
                    found = 1;
                    break;
                }
            }
            if (!found) add_problem(r, i, t, weak ? EC_LDE_WEAK_VERSION : EC_LDE_VERSION_NOT_FOUND, !weak, vn->file, want);
        }
    }
    /* DT_RELR needs GLIBC_ABI_DT_RELR, checked for objects that link libc.so.* */
    if (e->nneeded && e->has_relr && !relr_ok)
        for (k = 0; k < e->ndeps; k++)
            if (e->deps[k].tag == EC_DT_NEEDED && !ec_strncmp(e->deps[k].name, "libc.so.", 8)) {
                add_problem(r, i, -1, EC_LDE_RELR, 1, 0, 0);
                break;
            }
}

/* ---------------------------------------------------------------- start-up */

static void init_paths(struct run *r)
{
    struct ec_ld_session *s = r->s;
    int i;
    r->sys_list.dirs = ec_arena_alloc(r->a, sizeof *r->sys_list.dirs * (size_t)(s->nsys ? s->nsys : 1));
    if (!r->sys_list.dirs) {
        r->nomem = 1;
        return;
    }
    for (i = 0; i < s->nsys; i++) {
        struct dir *d = find_dir(r, s->sys[i], s->syslen[i]);
        if (!d) return;
        r->sys_list.dirs[r->sys_list.n++] = d;
    }
    r->sys_list.state = r->sys_list.n ? 1 : -1;
    r->env_list.state = -1;
    if (r->req->library_path && r->req->library_path[0] && !r->secure)
        fillin_rpath(r, O(r, 0), r->req->library_path, ":;", &r->env_list);
}

/* dso_name_valid_for_suid */
static int preload_name_ok(struct run *r, const char *name)
{
    if (r->secure) {
        size_t n = ec_strlen(name);
        if (n >= SECURE_NAME_LIMIT || has_slash(name)) return 0;
    }
    return name[0] != 0;
}

static void do_preload(struct run *r, const char *name, int64_t tag, int *pre, int *npre)
{
    int ei = add_edge(r, 0, tag, name, name), before = r->nobj, idx;
    if (ei < 0) return;
    idx = load_edge(r, ei, 0, name, RTLD_SECURE, EC_LD_PRELOAD, 0, 0);
    if (idx >= 0 && r->nobj > before) pre[(*npre)++] = idx;
}

/* handle_preload_list: LD_PRELOAD and --preload, split at spaces and colons */
static void preload_list(struct run *r, const char *list, int64_t tag, int **pre, int *npre, int *cap)
{
    const char *p = list;
    while (*p) {
        size_t len = 0;
        const char *fname;
        int ei;
        while (p[len] && p[len] != ' ' && p[len] != ':') len++;
        fname = len > 0 && len < SECURE_PATH_LIMIT ? rdup(r, p, len) : "";
        p += len;
        if (*p) ++p;
        if (!fname) return;
        if (!preload_name_ok(r, fname)) {
            if (fname[0] && (ei = add_edge(r, 0, tag, fname, fname)) >= 0) r->edges[ei].error = EC_LDE_PRELOAD_NAME;
            continue;
        }
        if (grow_array(r, (void **)pre, cap, *npre, sizeof **pre)) return;
        do_preload(r, fname, tag, *pre, npre);
    }
}

static int preload_sep(char c) { return c == ' ' || c == '\t' || c == '\n' || c == ':'; }

/* As rtld.c: comments become blanks; then the text is split with strsep(" \t\n:"), which ends at
 * the first NUL byte, except for a last name with no separator after it, which ld.so takes apart
 * (it has no byte to put the terminating NUL in) and which ends at its own first NUL. */
void ec_ld_preload_names(char *buf, size_t n)
{
    size_t i, last = n, stop;
    for (i = 0; i < n; i++) { /* comments become spaces up to the end of their line */
        if (buf[i] == '#')
            for (; i < n && buf[i] != '\n'; i++) buf[i] = ' ';
    }
    while (last > 0 && !preload_sep(buf[last - 1])) last--; /* n: the text ends in a separator */
    for (stop = 0; stop < last && buf[stop]; stop++) {}
    for (i = 0; i < last; i++)
        if (i >= stop || preload_sep(buf[i])) buf[i] = 0;
    for (i = last; i < n && buf[i]; i++) {}
    for (; i < n; i++) buf[i] = 0;
}

/* /etc/ld.so.preload: names separated by spaces, tabs, newlines or colons; '#' comments */
static void preload_file(struct run *r, int **pre, int *npre, int *cap)
{
    struct ec_ld_session *s = r->s;
    char *buf;
    long n, i;
    if (!s->preload_loaded) {
        s->preload_loaded = 1;
        s->preload_len = s->preload_path[0] ? ec_ldfs_read(&s->fs, s->preload_path, PRELOAD_FILE_MAX, &s->preload_data) : -1;
    }
    n = s->preload_len;
    if (n <= 0) return;
    buf = rdup(r, s->preload_data, (size_t)n);
    if (!buf) return;
    ec_ld_preload_names(buf, (size_t)n);
    for (i = 0; i < n; i += (long)ec_strlen(buf + i) + 1) { /* buf is the run's: names stay in it */
        if (!buf[i]) continue;
        if (grow_array(r, (void **)pre, cap, *npre, sizeof **pre)) return;
        do_preload(r, buf + i, EC_LD_TAG_PRELOAD_FILE, *pre, npre);
    }
}

/* ---------------------------------------------------------------- results */

#define AT(pos, i) ((i) >= 0 ? (pos)[i] : (i))

/* The result in link-map order: when a filtee was moved, objects are renumbered, and copies of the
 * edges, problems and tries name them by their new numbers (the run's own stay as they are). */
static int reorder(struct run *r, struct ec_ld_result *res)
{
    int *pos = ec_arena_alloc(r->a, sizeof *pos * (size_t)r->nobj), i, k;
    struct ec_ld_edge *e = ec_arena_alloc(r->a, sizeof *e * (size_t)(r->nedges ? r->nedges : 1));
    struct ec_ld_problem *p = ec_arena_alloc(r->a, sizeof *p * (size_t)(r->nproblems ? r->nproblems : 1));
    struct ec_ld_try *t = ec_arena_alloc(r->a, sizeof *t * (size_t)(r->ntries ? r->ntries : 1));
    if (!pos || !e || !p || !t) return -1;
    for (k = 0, i = r->lm_head; i >= 0; i = O(r, i)->lm_next) pos[i] = k++;
    for (i = 0; i < r->nobj; i++) {
        struct ec_ld_object *o = &res->objects[pos[i]];
        *o = O(r, i)->pub;
        o->loader = AT(pos, o->loader), o->via_object = AT(pos, o->via_object);
    }
    for (i = 0; i < r->nedges; i++) {
        e[i] = r->edges[i];
        e[i].from = AT(pos, e[i].from), e[i].to = AT(pos, e[i].to), e[i].via_object = AT(pos, e[i].via_object);
    }
    for (i = 0; i < r->nproblems; i++) {
        p[i] = r->problems[i];
        p[i].object = AT(pos, p[i].object), p[i].target = AT(pos, p[i].target);
    }
    for (i = 0; i < r->ntries; i++) {
        t[i] = r->tries[i];
        t[i].via_object = AT(pos, t[i].via_object);
    }
    res->edges = e, res->problems = p, res->tries = t;
    return 0;
}

static void finish(struct run *r, struct ec_ld_result *res)
{
    int i;
    res->nobjects = r->nobj;
    res->objects = ec_arena_alloc(r->a, sizeof *res->objects * (size_t)(r->nobj ? r->nobj : 1));
    res->nedges = r->nedges, res->edges = r->edges;
    res->nproblems = r->nproblems, res->problems = r->problems;
    res->ntries = r->ntries, res->tries = r->tries;
    if (!res->objects)
        res->nobjects = 0, r->nomem = 1;
    else if (!r->lm_moved)
        for (i = 0; i < r->nobj; i++) res->objects[i] = O(r, i)->pub;
    else if (reorder(r, res))
        res->nobjects = 0, r->nomem = 1;
    if (!res->nobjects) /* no objects to give (no memory): nothing in the result may name one */
        res->nedges = res->nproblems = res->ntries = 0;
    res->failure_edge = res->failure_problem = -1;
    for (i = 0; i < res->nedges; i++)
        if (res->edges[i].fatal) {
            res->failure_edge = i;
            break;
        }
    if (res->failure_edge < 0)
        for (i = 0; i < res->nproblems; i++)
            if (res->problems[i].fatal) {
                res->failure_problem = i;
                break;
            }
    res->starts = res->main_status == EC_LD_MAIN_OK && res->failure_edge < 0 && res->failure_problem < 0 && !r->nomem;
    res->origin_untold = r->origin_untold;
    if (r->nomem) res->status = -EC_ENOMEM;
}

static int is_musl(const char *interp)
{
    const char *base = ec_strrchr(interp, '/');
    base = base ? base + 1 : interp;
    return !ec_strncmp(base, "ld-musl-", 8);
}

/* The process up to main(): main, vDSO, ld.so, preloads, dependencies, version check. */
/* The start-up of req->path modelled; paths_only: only as far as its search lists (the program and
 * its origin, LD_LIBRARY_PATH and the system directories decomposed), before any object is read. */
static struct ec_ld_result *start_process(struct ec_ld_session *s, const struct ec_ld_request *req, struct run *r,
                                          int paths_only)
{
    struct ec_ld_result *res = &s->result;
    struct ec_ldfs_path *mp;
    const struct ec_elf *me;
    int main_idx, *pre = 0, npre = 0, cappre = 0, i;
    ec_arena_release(&s->scratch, s->scratch_start);
    ec_ldfs_follow_cwd(&s->fs, &s->scratch); /* a session used again after a chdir */
    ec_memset(res, 0, sizeof *res);
    ec_memset(r, 0, sizeof *r);
    r->at_start = 1;
    s->fs.gen++; /* what this run looks up is fresh (ec_ld_try.fresh) */
    r->s = s, r->a = &s->scratch, r->req = req, r->rtld = -1;
    res->failure_edge = res->failure_problem = -1;

    mp = ec_ldfs_lookup(&s->fs, req->path);
    if (!mp) {
        res->status = -EC_ENOMEM;
        return res;
    }
    me = ec_ldfs_elf(&s->fs, mp);
    if (mp->err || !mp->file || !me) {
        res->main_status = EC_LD_MAIN_NOT_FOUND;
        res->main_err = mp->err ? mp->err : !mp->file ? EC_EINVAL : mp->file->read_err ? mp->file->read_err : EC_ENOMEM;
        return res;
    }
    r->secure = req->secure >= 0 ? req->secure != 0 : (mp->file->mode & (EC_S_ISUID | EC_S_ISGID)) != 0;
    res->secure = r->secure;
    if (me->defect == EC_ELF_BAD_MAGIC || (me->defect == EC_ELF_TOO_SHORT && ec_memcmp(me->ident, "\177ELF", 4))) {
        res->main_status = EC_LD_MAIN_NOT_ELF;
        return res;
    }
    if (me->defect && (!me->elfclass || me->defect <= EC_ELF_PHDR_RANGE)) {
        res->main_status = EC_LD_MAIN_CORRUPT;
        return res;
    }
    if (me->elfclass != s->abi->elfclass || me->msb || me->machine != s->abi->machine) {
        res->main_status = EC_LD_MAIN_FOREIGN;
        return res;
    }
    if (me->type != EC_ET_EXEC && me->type != EC_ET_DYN) {
        res->main_status = EC_LD_MAIN_NOT_LOADABLE;
        return res;
    }

    /* the executable: l_name "" when the kernel ran it, the path given for ld.so --list */
    main_idx = new_object(r, req->as_library ? req->path : "", req->as_library ? req->path : "", LT_EXECUTABLE, -1,
                          EC_LD_MAIN);
    if (main_idx < 0) {
        res->status = -EC_ENOMEM;
        return res;
    }
    set_file(r, O(r, main_idx), mp, me);
    O(r, main_idx)->pub.via = EC_LD_VIA_EXEC;
    O(r, main_idx)->has_id = req->as_library; /* the kernel-mapped program has no file id */
    if (!req->as_library) {
        const char *rp = ec_ldfs_realpath(&s->fs, mp);
        if (rp) {
            const char *slash = ec_strrchr(rp, '/');
            r->main_origin = rdup(r, rp, slash == rp ? 1 : (size_t)(slash - rp));
            if (!r->main_origin) /* out of memory (nomem is set): no $ORIGIN rather than a NULL one */
                r->main_origin = ORIGIN_UNKNOWN;
        } else {
            r->main_origin = ORIGIN_UNKNOWN;
        }
    }

    res->interp = req->as_library ? s->interp : me->interp;
    if (!req->as_library && !me->interp) {
        res->main_status = me->defect == EC_ELF_INTERP_RANGE ? EC_LD_MAIN_CORRUPT : EC_LD_MAIN_STATIC;
        finish(r, res);
        return res;
    }
    if (is_musl(res->interp)) {
        res->main_status = EC_LD_MAIN_MUSL;
        finish(r, res);
        return res;
    }
    if (paths_only) {
        init_paths(r);
        return res;
    }

    if (s->vdso) {
        int v = new_object(r, s->abi->vdso, s->abi->vdso, LT_VDSO, -1, EC_LD_VDSO);
        if (v >= 0) O(r, v)->soname = s->abi->vdso, O(r, v)->pub.via = EC_LD_VIA_KERNEL;
    }
    {
        /* ld.so itself: known by its PT_INTERP name and its SONAME, with no file id */
        struct ec_ldfs_path *ip = ec_ldfs_lookup(&s->fs, res->interp);
        const struct ec_elf *ie = ip && !ip->err && ip->file ? ec_ldfs_elf(&s->fs, ip) : 0;
        r->rtld = new_object(r, res->interp, res->interp, LT_RTLD, -1, EC_LD_INTERP);
        if (r->rtld >= 0) {
            set_file(r, O(r, r->rtld), ie ? ip : 0, ie);
            O(r, r->rtld)->pub.via = EC_LD_VIA_KERNEL;
            if (ie && ie->soname) add_name(r, O(r, r->rtld), ie->soname);
        }
        if (!ie) res->main_status = EC_LD_MAIN_INTERP_MISSING;
    }

    init_paths(r);
    if (req->preload) preload_list(r, req->preload, EC_LD_TAG_PRELOAD_ENV, &pre, &npre, &cappre);
    if (req->preload_opt) preload_list(r, req->preload_opt, EC_LD_TAG_PRELOAD_OPT, &pre, &npre, &cappre);
    preload_file(r, &pre, &npre, &cappre);
    {
        int *start = ec_arena_alloc(r->a, sizeof *start * (size_t)(npre + 1));
        if (!start) {
            res->status = -EC_ENOMEM;
            return res;
        }
        start[0] = main_idx;
        for (i = 0; i < npre; i++) start[i + 1] = pre[i];
        r->nsearch = map_deps(r, start, npre + 1, &r->search);
    }
    for (i = 0; i < r->nsearch; i++) O(r, r->search[i])->pub.searchlist = i;
    for (i = r->nobj ? r->lm_head : -1; i >= 0; i = O(r, i)->lm_next) check_versions(r, i); /* _dl_check_all_versions */
    finish(r, res);
    return res;
}

const struct ec_ld_result *ec_ld_resolve(struct ec_ld_session *s, const struct ec_ld_request *req)
{
    struct run r;
    if (!s) return 0;
    return start_process(s, req, &r, 0);
}

const struct ec_ld_result *ec_ld_predict_dlopen(struct ec_ld_session *s, const struct ec_ld_request *req,
                                                const char *const *loaded, const char *const *names,
                                                const char *const *cwds, int nloaded, int caller, const char *name)
{
    struct run r;
    struct ec_ld_result *res;
    int *map, i, j, nstart, ei, idx, *search, n;
    if (!s) return 0;
    res = start_process(s, req, &r, 0);
    r.at_start = 0; /* the dlopen's own searches: ld.so probes what is still unknown now */
    if (res->status || res->main_status != EC_LD_MAIN_OK) return res;
    /* which replayed object each live one is; live objects not replayed were dlopened */
    map = ec_arena_alloc(r.a, sizeof *map * (size_t)(nloaded > 0 ? nloaded : 1));
    if (!map) {
        res->status = -EC_ENOMEM;
        return res;
    }
    nstart = r.nobj;
    for (i = 0; i < nloaded; i++) {
        const char *ln = loaded[i] ? loaded[i] : "";
        map[i] = -1;
        if (i == 0) {
            map[i] = 0;
            continue;
        }
        for (j = 1; j < nstart; j++)
            if (!O(&r, j)->faked && O(&r, j)->pub.path && !ec_strcmp(O(&r, j)->pub.path, ln)) {
                map[i] = j;
                break;
            }
        if (map[i] < 0) {
            struct ec_ldfs_path *p = ec_ldfs_lookup(&s->fs, ln);
            const struct ec_elf *e = p && !p->err && p->file ? ec_ldfs_elf(&s->fs, p) : 0;
            map[i] = new_object(&r, rdup(&r, ln, ec_strlen(ln)), rdup(&r, ln, ec_strlen(ln)), LT_LIBRARY, -1,
                                EC_LD_DLOPEN);
            if (map[i] < 0) {
                /* out of memory: map[] is unfinished, and map[caller] may be -1 (objs[-1] below) */
                res->status = -EC_ENOMEM;
                return res;
            }
            set_file(&r, O(&r, map[i]), e ? p : 0, e);
            O(&r, map[i])->has_id = e != 0;
        }
        if (names && names[i] && map[i] >= 0) add_name(&r, O(&r, map[i]), rdup(&r, names[i], ec_strlen(names[i])));
        if (cwds && cwds[i] && map[i] >= 0) set_load_cwd(&r, O(&r, map[i]), cwds[i]);
    }
    /* objects the live process does not have (a failed startup load) take no part */
    for (j = 1; j < nstart; j++) {
        int live = 0;
        for (i = 0; i < nloaded; i++) live |= map[i] == j;
        if (!live && O(&r, j)->pub.kind != EC_LD_VDSO && O(&r, j)->pub.kind != EC_LD_INTERP) O(&r, j)->faked = 1;
    }
    r.nedges = 0, r.nproblems = 0; /* the startup's own failures are not the dlopen's */
    i = caller >= 0 && caller < nloaded ? map[caller] : 0;
    res->first_new = r.lm_fixed = r.nobj; /* the live process's objects keep the order it told */
    ei = add_edge(&r, i, EC_LD_TAG_DLOPEN, name, name);
    if (ei < 0) {
        res->status = -EC_ENOMEM;
        return res;
    }
    {
        struct failure f;
        int via, via_object;
        /* the name as given: _dl_map_object matches it to the loaded names before it expands it */
        idx = map_object(&r, i, name, RTLD_CALLMAP, EC_LD_DLOPEN, &via, &via_object, &f);
        r.edges[ei].ntries = r.ntries - r.edges[ei].first_try;
        r.edges[ei].via = via, r.edges[ei].via_object = via_object;
        if (idx < 0) {
            r.edges[ei].error = f.error, r.edges[ei].err = f.err, r.edges[ei].error_path = f.path, r.edges[ei].fatal = 1;
        } else {
            r.edges[ei].to = idx;
            if (idx >= nstart) {
                n = map_deps(&r, &idx, 1, &search);
                for (j = 0; j < n; j++)
                    if (search[j] >= nstart) check_versions(&r, search[j]);
            }
        }
    }
    finish(&r, res);
    return res;
}

/* ---------------------------------------------------------------- directories missing at start */

struct notes {                      /* the list ec_ld_missing_at_start writes */
    char *out;
    size_t cap, used;
};

/* Is path (n bytes, ending in '/') below a directory noted already (or that one)? */
static int noted(const struct notes *nt, const char *path, size_t n)
{
    size_t at, k;
    for (at = 0; at < nt->used; at += k + 1) {
        k = ec_strlen(nt->out + at);
        if (k <= n && !ec_memcmp(nt->out + at, path, k)) return 1;
    }
    return 0;
}

/* Notes the directory d followed by the first k bytes of cap (ending in '/', or none) if it is
 * not one now, as open_path's stat decides. Returns 1 when it is missing (noted, or below a noted
 * one, or no room to look: then not noted, and the prediction may miss as before). */
static int note_if_missing(struct notes *nt, const struct dir *d, const char *cap, size_t k)
{
    struct ec_statx st;
    char *p = nt->out + nt->used;
    if (nt->used + d->len + k + 2 > nt->cap) return 1; /* and the empty name that ends the list */
    ec_memcpy(p, d->name, d->len);
    ec_memcpy(p + d->len, cap, k);
    p[d->len + k] = 0;
    if (noted(nt, p, d->len + k)) return 1;
    if (ec_statx(EC_AT_FDCWD, p, 0, EC_STATX_BASIC_STATS, &st) == 0 && (st.stx_mode & EC_S_IFMT) == EC_S_IFDIR)
        return 0;
    nt->used += d->len + k + 1;
    return 1;
}

/* Each capability slot of the absolute directory d: the directory, then each subdirectory
 * component by component (a missing "tls/" stands for every "tls/..." slot). */
static void note_dir(struct ec_ld_session *s, struct notes *nt, const struct dir *d)
{
    int cnt;
    if (d->name[0] != '/' || note_if_missing(nt, d, "", 0)) return;
    for (cnt = 0; cnt < s->ncap; cnt++) {
        const char *cap = s->capstr[cnt];
        size_t k;
        for (k = 0; k < s->caplen[cnt]; k++)
            if (cap[k] == '/' && note_if_missing(nt, d, cap, k + 1)) break;
    }
}

static void note_list(struct ec_ld_session *s, struct notes *nt, const struct list *l)
{
    int i;
    for (i = 0; l->state > 0 && i < l->n; i++) note_dir(s, nt, l->dirs[i]);
}

int ec_ld_missing_at_start(struct ec_ld_session *s, const struct ec_ld_request *req, char *out, size_t cap)
{
    struct run r;
    struct ec_ld_result *res;
    struct notes nt = {out, cap, 0};
    if (!s || !out || cap < 1 || s->fs.rootfd >= 0) return -EC_EINVAL;
    out[0] = 0;
    res = start_process(s, req, &r, 1);
    if (res->status) return res->status;
    if (res->main_status != EC_LD_MAIN_OK || !r.nobj) return 0;
    /* the program's RPATH (not searched when it has a RUNPATH) and RUNPATH, as its DT_NEEDED are
     * searched: decomposed (tokens expanded) as ld.so does, shared with LD_LIBRARY_PATH by name */
    cache_rpath(&r, 0, 0);
    cache_rpath(&r, 0, 1);
    if (r.nomem) return -EC_ENOMEM;
    note_list(s, &nt, &O(&r, 0)->rpath);
    note_list(s, &nt, &r.env_list);
    note_list(s, &nt, &O(&r, 0)->runpath);
    out[nt.used] = 0;
    return nt.used ? (int)nt.used + 1 : 0;
}

/* ---------------------------------------------------------------- session */

static const char *dup_or(struct ec_arena *a, const char *s, const char *dflt)
{
    return ec_arena_strdup(a, s ? s : dflt);
}

static void build_capstr(struct ec_ld_session *s)
{
    static const char *const levels[] = {"x86-64-v4", "x86-64-v3", "x86-64-v2"};
    const char *temp[8];
    int cnt = 0, i, m, nact = 0;
    uint64_t important = 0; /* HWCAP_IMPORTANT: the bits that have subdirectory names */
    s->ncap = 0;
    for (i = 0; i < 3; i++)
        if (s->isa_level >= 4 - i) {
            size_t n = ec_strlen(levels[i]);
            char *c = ec_arena_alloc(&s->persist, n + 16);
            if (!c) return;
            ec_memcpy(c, "glibc-hwcaps/", 13);
            ec_memcpy(c + 13, levels[i], n);
            c[13 + n] = '/';
            s->capstr[s->ncap++] = c;
            s->hwcaps_active[nact++] = levels[i];
        }
    /* the legacy power set of glibc 2.36 (_dl_important_hwcaps): hwcap names by bit, the platform,
     * then "tls"; the last one is the outermost directory. Since 2.37 only its empty member, the
     * directory itself, is left. */
    for (i = 0; i < 2; i++)
        if (s->abi->hwcap_names[i].name) important |= (uint64_t)1 << s->abi->hwcap_names[i].bit;
    if (s->host.legacy_subdirs) {
        for (i = 0; i < 2; i++)
            if (s->abi->hwcap_names[i].name && (s->hwcap >> s->abi->hwcap_names[i].bit & 1))
                temp[cnt++] = s->abi->hwcap_names[i].name;
        if (s->platform[0]) temp[cnt++] = s->platform;
        temp[cnt++] = "tls";
    }
    for (m = (1 << cnt) - 1; m >= 0 && s->ncap < MAX_CAPSTR; m--) {
        size_t len = 0;
        char *c;
        for (i = cnt - 1; i >= 0; i--)
            if (m & (1 << i)) len += ec_strlen(temp[i]) + 1;
        c = ec_arena_alloc(&s->persist, len + 1);
        if (!c) return;
        len = 0;
        for (i = cnt - 1; i >= 0; i--)
            if (m & (1 << i)) {
                size_t k = ec_strlen(temp[i]);
                ec_memcpy(c + len, temp[i], k);
                c[len + k] = '/';
                len += k + 1;
            }
        s->capstr[s->ncap++] = c;
    }
    for (i = 0; i < s->ncap; i++) {
        s->caplen[i] = ec_strlen(s->capstr[i]);
        if (s->caplen[i] > s->maxcaplen) s->maxcaplen = s->caplen[i];
    }
    s->cache_params.flags = s->abi->cache_flags;
    s->cache_params.hwcap = s->host.legacy_subdirs ? s->hwcap & important : 0;
    s->cache_params.platform_mask = 3ull << 48;
    s->cache_params.platform_bit = !s->host.legacy_subdirs || s->abi != &abi_x86_64 ? -1
                                   : !ec_strcmp(s->platform, "haswell") ? 48
                                   : !ec_strcmp(s->platform, "xeon_phi") ? 49 : -1;
    s->cache_params.isa_levels = 1u | (s->isa_level >= 2 ? 2u : 0) | (s->isa_level >= 3 ? 4u : 0) | (s->isa_level >= 4 ? 8u : 0);
    s->cache_params.hwcaps_active = s->hwcaps_active;
    s->cache_params.nhwcaps_active = nact;
}

#define LOADER_MAX (16u << 20)
#define SYSDIRS_MAX 2048

/* The system directories of the loader at s->interp in the image (ldsysdirs.h), into out; 0 when
 * its file cannot be read or holds no such list (then the modelled ABI's defaults stand). Mapped
 * for the scan, not read with ec_ldfs_read: that keeps the file's ~200 KB in the session's arena. */
static size_t loader_sysdirs(struct ec_ld_session *s, char *out, size_t cap)
{
    struct ec_statx st;
    size_t n = 0;
    void *map;
    int fd = ec_ldfs_open(&s->fs, s->interp, EC_O_RDONLY | EC_O_NONBLOCK | EC_O_NOCTTY);
    if (fd < 0) return 0;
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) == 0 &&
        (st.stx_mode & EC_S_IFMT) == EC_S_IFREG && st.stx_size > 0 && st.stx_size <= LOADER_MAX) {
        map = ec_mmap(0, (size_t)st.stx_size, EC_PROT_READ, EC_MAP_PRIVATE, fd, 0);
        if (!ec_mmap_failed(map)) {
            n = ec_ld_sysdirs_find(map, (size_t)st.stx_size, out, cap);
            ec_munmap(map, (size_t)st.stx_size);
        }
    }
    ec_close(fd);
    return n;
}

struct ec_ld_session *ec_ld_session_new(const struct ec_ld_config *cfg, int *err)
{
    struct ec_arena a;
    struct ec_ld_session *s;
    struct ec_ld_config none;
    const char *sysdirs, *p;
    char *found, *lib;
    int r, foreign;
    if (!cfg) {
        ec_memset(&none, 0, sizeof none);
        cfg = &none;
    }
    ec_arena_init(&a, cfg->memory_limit ? cfg->memory_limit : (size_t)1 << 30);
    s = ec_arena_alloc(&a, sizeof *s);
    if (!s) {
        if (err) *err = -EC_ENOMEM;
        return 0;
    }
    s->persist = a;
    ec_arena_init(&s->scratch, cfg->memory_limit ? cfg->memory_limit : (size_t)1 << 30);
    ec_arena_alloc(&s->scratch, 16); /* map the first chunk now: every run reuses it */
    s->scratch_start = ec_arena_mark(&s->scratch);
    r = ec_ldfs_init(&s->fs, &s->persist, cfg->root, cfg->cwd);
    if (r < 0) {
        ec_arena_free(&s->scratch); /* its first chunk (1 MiB) is mapped already */
        a = s->persist;
        ec_arena_free(&a);
        if (err) *err = r;
        return 0;
    }
    s->fs.lazy_realpath = cfg->no_realpath;
    s->fs.like_loader = cfg->like_loader;
    ec_ld_host_probe(&s->host);
    ec_ld_host_apply_release(&s->host, cfg->glibc_minor);
    /* the other class's loader on this CPU: the facts its ld.so would set, not this process's */
    s->abi = cfg->machine == EC_EM_386 ? &abi_i386 : cfg->machine == EC_EM_X86_64 ? &abi_x86_64
           : cfg->machine == EC_EM_AARCH64 ? &abi_aarch64 : &ABI_NATIVE;
    foreign = s->abi != &ABI_NATIVE;
    s->cache_path = dup_or(&s->persist, cfg->cache, "/etc/ld.so.cache");
    s->preload_path = dup_or(&s->persist, cfg->preload_file, "/etc/ld.so.preload");
    s->platform = dup_or(&s->persist, cfg->platform, foreign ? s->abi->platform : s->host.platform);
    s->vdso = !cfg->no_vdso;
    s->isa_level = cfg->isa_level > 0 && s->abi->isa_levels ? cfg->isa_level
                   : foreign ? s->abi->isa_levels : s->host.isa_level;
    s->hwcap = cfg->legacy_hwcap > 0 ? (uint64_t)cfg->legacy_hwcap : foreign ? s->abi->hwcap : s->host.hwcap;
    if (cfg->hwcap_masked) s->hwcap &= cfg->hwcap_mask; /* _dl_important_hwcaps, _dl_cache_libcmp's hwcap */
    s->interp = dup_or(&s->persist, cfg->interp, s->abi->interp);
    /* the loader's own list where the caller gave none and its ld.so tells it; $LIB from the
     * list in use (glibc's DL_DST_LIB is its first directory), unless given */
    sysdirs = cfg->system_dirs;
    found = sysdirs || !s->interp ? 0 : ec_arena_alloc(&s->persist, SYSDIRS_MAX);
    if (found && loader_sysdirs(s, found, SYSDIRS_MAX)) sysdirs = found;
    if (!sysdirs) sysdirs = s->abi->sysdirs;
    lib = cfg->lib ? 0 : ec_arena_alloc(&s->persist, SYSDIRS_MAX);
    s->lib = lib && ec_ld_sysdirs_lib(sysdirs, lib, SYSDIRS_MAX) ? lib : dup_or(&s->persist, cfg->lib, s->abi->lib);
    for (p = sysdirs; *p && s->nsys < MAX_SYSDIRS;) {
        size_t elen = 0, n;
        char *d;
        while (p[elen] && p[elen] != ':') elen++;
        n = elen;
        if (n) {
            while (n > 1 && p[n - 1] == '/') n--;
            d = ec_arena_alloc(&s->persist, n + 2);
            if (!d) break;
            ec_memcpy(d, p, n);
            if (d[n - 1] != '/') d[n++] = '/';
            s->sys[s->nsys] = d;
            s->syslen[s->nsys++] = n;
        }
        p += elen;
        if (*p) p++;
    }
    if (!s->cache_path || !s->preload_path || !s->lib || !s->platform || !s->interp) {
        ec_ld_session_free(s);
        if (err) *err = -EC_ENOMEM;
        return 0;
    }
    build_capstr(s); /* after the check: it reads s->platform */
    if (err) *err = 0;
    return s;
}

void ec_ld_session_free(struct ec_ld_session *s)
{
    struct ec_arena a;
    if (!s) return;
    ec_ldfs_close(&s->fs);
    ec_arena_free(&s->scratch);
    a = s->persist; /* the session lives in its own arena */
    ec_arena_free(&a);
}

int ec_ld_adopt(struct ec_ld_session *s, const char *path, int fd, const struct ec_statx *st)
{
    if (!s) return -EC_EINVAL;
    ec_ldfs_follow_cwd(&s->fs, &s->scratch); /* a relative path is the current directory's */
    return ec_ldfs_adopt(&s->fs, path, fd, st);
}

int ec_ld_stat(struct ec_ld_session *s, const char *path, struct ec_verdict *v, int *noexec)
{
    struct ec_ldfs_path *p = ec_ldfs_lookup(&s->fs, path);
    ec_memset(v, 0, sizeof *v);
    if (!p) return -EC_ENOMEM;
    if (p->err) return -p->err;
    v->mode = p->mode;
    if (p->file) v->uid = p->file->uid, v->dev = p->file->dev, v->ino = p->file->ino;
    else {
        int fd = ec_ldfs_open(&s->fs, path, EC_O_PATH);
        if (fd >= 0) {
            ec_identify_fd(fd, v);
            ec_close(fd);
        }
    }
    if (noexec) *noexec = p->noexec;
    return 0;
}

const struct ec_elf *ec_ld_elf(struct ec_ld_session *s, const char *path, int *err)
{
    struct ec_ldfs_path *p = ec_ldfs_lookup(&s->fs, path);
    const struct ec_elf *e;
    *err = !p ? EC_ENOMEM : p->err ? p->err : !p->file ? EC_EINVAL : 0;
    if (*err) return 0;
    e = ec_ldfs_elf(&s->fs, p);
    if (!e) *err = p->file->read_err ? p->file->read_err : EC_ENOMEM;
    return e;
}

int ec_ld_check(struct ec_ld_session *s, const char *path, struct ec_verdict *v)
{
    int fd = ec_ldfs_open(&s->fs, path, EC_O_PATH), r;
    if (fd < 0) {
        ec_memset(v, 0, sizeof *v);
        v->err = -fd;
        return fd;
    }
    r = ec_check_fd(fd, path, v);
    ec_close(fd);
    return r;
}

int ec_ld_realpath(struct ec_ld_session *s, const char *path, char *out, size_t cap)
{
    struct ec_ldfs_path *p = ec_ldfs_lookup(&s->fs, path);
    const char *rp;
    if (!p) return -EC_ENOMEM;
    if (p->err) return -p->err;
    rp = ec_ldfs_realpath(&s->fs, p);
    if (!rp) return -EC_ENOENT;
    if (ec_strlcpy(out, rp, cap) >= cap) return -EC_ENAMETOOLONG;
    return 0;
}

int ec_ld_capstr_count(const struct ec_ld_session *s) { return s->ncap; }
const char *ec_ld_capstr(const struct ec_ld_session *s, int i) { return i >= 0 && i < s->ncap ? s->capstr[i] : 0; }
const char *ec_ld_platform(const struct ec_ld_session *s) { return s->platform; }
int ec_ld_isa_level(const struct ec_ld_session *s) { return s->isa_level; }
int ec_ld_sysdir_count(const struct ec_ld_session *s) { return s->nsys; }
const char *ec_ld_lib(const struct ec_ld_session *s) { return s->lib; }
const char *ec_ld_sysdir(const struct ec_ld_session *s, int i) { return i >= 0 && i < s->nsys ? s->sys[i] : ""; }

const struct ec_ldcache *ec_ld_cache(struct ec_ld_session *s) { return load_cache(s); }

const char *ec_ld_error_text(int e)
{
    static const char *const text[EC_LDE_COUNT] = {
        "loaded",
        "cannot open shared object file",
        "wrong ELF class: ELFCLASS32",
        "file too short",
        "cannot read file data",
        "invalid ELF header",
        "ELF file data encoding not little-endian",
        "ELF file version ident does not match current one",
        "ELF file OS ABI invalid",
        "ELF file ABI version invalid",
        "nonzero padding in e_ident",
        "ELF file version does not match current one",
        "only ET_DYN and ET_EXEC can be loaded",
        "ELF file's phentsize not the expected size",
        "ELF load command address/offset not page-aligned",
        "object file has no loadable segments",
        "cannot dynamically load executable",
        "object file has no dynamic section",
        "failed to map segment from shared object",
        "cannot dynamically load position-independent executable",
        "is a FIFO: the loader would block opening it",
        "is a device, not a regular file",
        "corrupt ELF file (see its defect)",
        "DST not allowed in SUID/SGID programs",
        "empty dynamic string token substitution",
        "version not found",
        "unsupported version of Verneed record",
        "unsupported version of Verdef record",
        "_dl_check_map_versions: Assertion `needed != NULL' failed!",
        "filtees that move each other forever: ld.so overflows its stack (SIGSEGV)",
        "DT_RELR without GLIBC_ABI_DT_RELR dependency",
        "no version information available",
        "weak version not found",
        "preload name ignored in secure mode",
        "out of memory",
    };
    return e >= 0 && e < EC_LDE_COUNT ? text[e] : "unknown";
}

const char *ec_ld_via_name(int via)
{
    static const char *const names[EC_LD_VIA_COUNT] = {"none", "exec", "kernel", "loaded", "same-file", "path",
                                                       "rpath", "ld-library-path", "runpath", "cache", "default"};
    return via >= 0 && via < EC_LD_VIA_COUNT ? names[via] : "unknown";
}

const char *ec_ld_kind_name(int kind)
{
    static const char *const names[EC_LD_KIND_COUNT] = {"main", "vdso", "interp", "preload", "needed", "filtee",
                                                        "missing", "dlopen"};
    return kind >= 0 && kind < EC_LD_KIND_COUNT ? names[kind] : "unknown";
}

const char *ec_ld_main_status_name(int st)
{
    static const char *const names[EC_LD_MAIN_STATUS_COUNT] = {
        "ok", "not-found", "not-elf", "corrupt", "foreign", "static", "interp-missing", "musl", "not-loadable"};
    return st >= 0 && st < EC_LD_MAIN_STATUS_COUNT ? names[st] : "unknown";
}

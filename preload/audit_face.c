/* The rtld-audit face of libexeccheck.so: LD_AUDIT=libexeccheck.so, ld.so --audit.
 *
 * ld.so calls this module around every object it loads, in every namespace
 * (research/glibc-loader.md §1):
 *   la_objsearch  each candidate path before ld.so opens it. A refused candidate is answered with
 *                 a name that cannot be opened, so ld.so goes on to the next candidate and a
 *                 dlopen() that finds nothing else fails cleanly.
 *   la_objopen    each object after mapping and before relocation, IFUNC resolvers and
 *                 constructors: the authoritative decision, on the file actually mapped. It cannot
 *                 fail one load, so an enforced denial ends the process (exit 126).
 *   la_activity   the end of a load operation: verdicts and the maps fd are dropped there.
 * ld.so calls all of them under its load lock, one at a time. This copy of the shim has no libc:
 * raw syscalls only. */
#define _GNU_SOURCE /* <link.h> declares the audit interface (LAV_CURRENT, Lmid_t) only then */
#include <link.h>
#include "arena.h"
#include "auxv.h"
#include "check.h"
#include "ldhost.h"
#include "ldresolve.h"
#include "mapped.h"
#include "preload_face.h" /* ec_loaded_loader_lib: ld.so's $LIB from its memory */
#include "reason.h"
#include "scratch.h"
#include "shim.h"
#include "sys.h"
#include "text.h"
#include "tripwire.h"
#include "vcache.h"

static struct ec_maps maps = EC_MAPS_INIT;
static const struct link_map *program_map; /* the main namespace's head, from la_objopen */

/* This module's own file, as the maps show the mapping of its dynamic section: learned once. */
static struct { int state; uint64_t dev, ino; } self_id; /* 0 unknown, 1 known, -1 unknowable */

static int know_self(void)
{
    struct ec_vma vma;
    if (!self_id.state) {
        self_id.state = -1;
        if (ec_maps_query(&maps, (uintptr_t)_DYNAMIC, &vma, 0, 0) == 0 && vma.ino) {
            self_id.dev = vma.dev;
            self_id.ino = vma.ino;
            self_id.state = 1;
        }
    }
    return self_id.state == 1;
}

/* What ld.so substitutes for $ORIGIN, $PLATFORM and $LIB in an LD_AUDIT name with a '/'
 * (glibc 2.36: load_audit_module -> _dl_open from dl_main, whose caller map is the main program's;
 * _dl_map_object expands the tokens against it): $ORIGIN is the program's directory, read as
 * _dl_get_origin reads it for the main map (/proc/self/exe, cut at its last '/'); $PLATFORM is
 * what ld.so derived from the CPU and AT_PLATFORM (ldhost.h); $LIB the first of ld.so's own
 * system directories, read from its memory (ldsysdirs.h). A value left NULL is one this module
 * cannot tell: ld.so run as a command (no AT_BASE: the program's name decides its origin), or no
 * /proc. Looked up once, on the first name with a token. */
struct dst_values {
    struct ec_ld_dst v;
    int known; /* 0 not looked up, 1 looked up */
    char origin[4096], lib[256];
    struct ec_ld_host host;
};

static const struct ec_ld_dst *dst_values(struct dst_values *d)
{
    unsigned long base = 0;
    if (d->known) return &d->v;
    d->known = 1;
    d->v.secure = 0; /* only called outside secure mode: ld.so takes no name with a '/' there */
    if (ec_auxv_get(EC_AT_BASE, &base) == 1 && base) {
        long n = ec_readlinkat(EC_AT_FDCWD, "/proc/self/exe", d->origin, sizeof d->origin);
        if (n > 0 && n < (long)sizeof d->origin && d->origin[0] == '/') {
            while (n > 1 && d->origin[n - 1] != '/') n--;
            d->origin[n > 1 ? n - 1 : 1] = 0;
            d->v.origin = d->origin;
        }
        if (ec_loaded_loader_lib(d->lib, sizeof d->lib)) d->v.lib = d->lib;
    }
    ec_ld_host_probe(&d->host);
    d->v.platform = d->host.platform;
    return &d->v;
}

/* ld.so opens and maps each LD_AUDIT entry after this module's la_version, and mapping can already
 * run an object's own code, before any la_objopen (glibc maps every PT_LOAD after the first with
 * MAP_FIXED, unchecked against the range it reserved: README). The entries after this module that
 * name a path are checked here, on the file ld.so will open - its tokens expanded as ld.so expands
 * them - before ld.so opens it: enforcing, a refused one ends the process first. A bare name is
 * searched once this module is registered, so la_objsearch sees its candidates; a token whose
 * value this module cannot tell and a file swapped in after this look are met by la_objopen
 * only. One entry - this module, the usual case - costs a look at the environment. */
static void check_later_modules(const char *list)
{
    /* Scratch, not on the stack: ld.so calls la_version deep in its start-up, on the program's
     * stack, whose limit (`ulimit -s`) the program alone may just fit. */
    struct later {
        char name[4096], path[4096]; /* PATH_MAX: ld.so opens no longer name */
        struct dst_values dst;
    } *s;
    struct ec_scratch mem;
    const char *p, *e;
    int after = 0;
    _Static_assert(sizeof(struct later) <= EC_SCRATCH_MAX, "check_later_modules' buffers fit the scratch");
    if (!know_self() || !(s = ec_scratch_take(&mem, sizeof *s))) {
        ec_maps_close(&maps);
        return;
    }
    s->dst.known = 0; /* scratch is not zeroed: the token values are looked up afresh */
    for (p = list; *p; p = *e ? e + 1 : e) {
        struct ec_statx st;
        struct ec_verdict v;
        size_t n;
        int fd, first = 0, slash = 0;
        for (e = p; *e && *e != ':'; e++) slash |= *e == '/';
        n = (size_t)(e - p);
        if (!slash || n >= sizeof s->name) continue;
        ec_memcpy(s->name, p, n);
        s->name[n] = 0;
        if (!ec_ld_dst_count(s->name))
            ec_memcpy(s->path, s->name, n + 1);
        else if (ec_ld_dst_expand(s->name, dst_values(&s->dst), s->path, sizeof s->path) != EC_LD_DST_OK)
            continue; /* ld.so drops it or fails on its length; or a value unknown here: la_objopen's */
        if ((fd = ec_openat(EC_AT_FDCWD, s->path, EC_O_PATH | EC_O_CLOEXEC, 0)) < 0) continue; /* ld.so fails alike */
        ec_memset(&st, 0, sizeof st);
        if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) == 0 && st.stx_ino == self_id.ino &&
            ec_makedev(st.stx_dev_major, st.stx_dev_minor) == self_id.dev) {
            after = 1; /* this module: the ones before it are loaded already (the walks meet them) */
        } else if (after && !ec_check_fd(fd, s->path, &v) &&
                   ec_shim_deny_once(EC_KIND_LIBRARY, EC_FACE_AUDIT, s->path, &v, &first)) {
            ec_say_refused("load", s->path, v.reason);
            ec_close(fd);
            ec_maps_close(&maps);
            ec_exit_group(126);
        }
        ec_close(fd);
    }
    ec_scratch_give(&mem);
    ec_maps_close(&maps);
}

EC_EXPORT unsigned int la_version(unsigned int version)
{
    /* Audit modules are loaded only at start-up, before any code of the program: until its
     * start-up objects are in place (the first consistent state) the process has one thread,
     * so checks need not ask /proc whether they must run from a helper child (check.c). */
    const char *list = !ec_shim.secure && ec_shim.envp ? ec_env_get(ec_shim.envp, "LD_AUDIT") : 0;
    ec_check_single_threaded(1);
    if (list && ec_strchr(list, ':')) check_later_modules(list);
    /* we use nothing beyond version 1 (no symbind): accept whatever ld.so speaks up to ours */
    return version < LAV_CURRENT ? version : LAV_CURRENT;
}

/* "/proc/self/execcheck refused PATH (REASON)": ld.so's open() of it fails with ENOENT for
 * certain (procfs has no such entry), and ENOENT is the one error after which open_path() tries
 * the next directory of LD_LIBRARY_PATH/RUNPATH (a NULL return would leave a stale errno that can
 * end the walk: dl-load.c, open_path). The text ends up in dlerror() for a refused path.
 * Two buffers alternate: ld.so may still hold the previous answer while it asks again. */
#define REFUSAL_MAX 1200
static char *refusal_name(const char *path, int reason)
{
    static void *names; /* char[2][REFUSAL_MAX], mapped by the first refusal */
    static unsigned turn;
    char *mem = ec_map_once(&names, 2 * REFUSAL_MAX), *out;
    struct ec_buf b;
    size_t i;
    if (!mem) return (char *)"/proc/self/execcheck refused it"; /* no memory for the details */
    out = mem + (turn++ & 1) * REFUSAL_MAX;
    ec_buf_init(&b, out, REFUSAL_MAX);
    ec_buf_puts(&b, "/proc/self/execcheck refused ");
    ec_buf_puts(&b, path);
    ec_buf_puts(&b, " (");
    ec_buf_puts(&b, ec_reason_name(reason));
    ec_buf_putc(&b, ')');
    /* ld.so expands $ORIGIN & co. in names with '/': keep none */
    for (i = 0; out[i]; i++)
        if (out[i] == '$') out[i] = '_';
    return out;
}

/* Does name hold what ld.so takes for a dynamic string token ($ORIGIN, ${LIB}, $PLATFORM...)? A
 * '$' before anything else is an ordinary byte of the path ld.so opens as it is. Errs towards yes
 * ("$LIBX" too): such a name is left to la_objopen. */
static int has_dst(const char *name)
{
    static const char *const dsts[] = {"ORIGIN", "PLATFORM", "LIB"};
    const char *p;
    size_t i;
    for (p = ec_strchr(name, '$'); p; p = ec_strchr(p + 1, '$'))
        for (i = 0; i < sizeof dsts / sizeof dsts[0]; i++)
            if (!ec_strncmp(p + 1 + (p[1] == '{'), dsts[i], ec_strlen(dsts[i]))) return 1;
    return 0;
}

EC_EXPORT char *la_objsearch(const char *name, uintptr_t *cookie, unsigned int flag)
{
    struct ec_verdict v;
    struct ec_statx st;
    int fd, known, first = 0;
    (void)cookie;
    if (!name) return 0;
    if (flag == LA_SER_ORIG) {
        /* a bare name: the candidates it expands to come next, one call each */
        if (!ec_strchr(name, '/')) return (char *)name;
        /* "$ORIGIN/..." from dlopen is expanded after this call: la_objopen decides on it */
        if (has_dst(name)) return (char *)name;
    }
    /* Not held until the loader has it (pins.h: a mapping made and unmapped per library costs
     * the face ~1.3 us more than the statx of the name by which la_objopen makes sure it is the
     * file checked; the window is the microseconds until ld.so's own open) */
    fd = ec_openat(EC_AT_FDCWD, name, EC_O_PATH | EC_O_CLOEXEC, 0);
    if (fd < 0) return (char *)name; /* ld.so's own open fails the same way */
    ec_memset(&st, 0, sizeof st);
    known = ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_KEY, &st) == 0;
    ec_vcache_check_fd(fd, name, known ? &st : 0, &v, 0); /* without an identity: checked, not cached */
    ec_close(fd);
    if (v.allowed) return (char *)name;
    if (!ec_shim_deny_once(EC_KIND_LIBRARY, EC_FACE_AUDIT, name, &v, &first)) return (char *)name;
    if (first) ec_say_refused("load", name, v.reason);
    return refusal_name(name, v.reason);
}

/* Another copy of this very file (the preload copy of LD_PRELOAD=libexeccheck.so, which
 * propagation always adds): tell it that the audit face is deciding, by writing the mark into its
 * .data (shim.h). It has not been relocated yet, so nothing of it has run. Same inode, same layout:
 * the mark sits at the same distance from its dynamic section as ours from our own; it is written
 * only if that address is in a private writable mapping of the same file. */

/* The linker's symbol at this file's ELF header: our load address (the headers are mapped). */
extern const char __ehdr_start[] __attribute__((visibility("hidden")));

static void mark_other_copy(const struct link_map *map, const struct ec_mapped *found)
{
    struct ec_vma vma;
    uintptr_t target;
    if (found->what != EC_MAPPED_FILE || !map->l_ld) return;
    /* a copy of this file has its dynamic section where ours is, from its load address: anything
     * else is not one, and costs no query (nor a first touch of self_id's page) */
    if ((uintptr_t)map->l_ld - map->l_addr != (uintptr_t)_DYNAMIC - (uintptr_t)__ehdr_start) return;
    if (!know_self() || found->vma.ino != self_id.ino || found->vma.dev != self_id.dev) return;
    target = (uintptr_t)map->l_ld + ((uintptr_t)&ec_audit_mark - (uintptr_t)_DYNAMIC);
    if (target % sizeof(uint64_t) || ec_maps_query(&maps, target, &vma, 0, 0) || vma.ino != self_id.ino ||
        vma.dev != self_id.dev || (vma.prot & (EC_VMA_WRITE | EC_VMA_SHARED)) != EC_VMA_WRITE ||
        target + sizeof(uint64_t) > vma.end)
        return;
    if (*(volatile uint64_t *)target == EC_AUDIT_MARK_UNSET) *(volatile uint64_t *)target = EC_AUDIT_MARK_SET;
}

/* The maps fd is kept for a whole load operation (one open per load, not per library), while
 * ld.so goes on opening the next object, and /etc/ld.so.cache at its first lookup. A process with
 * one descriptor left below RLIMIT_NOFILE (a program that fills its table, `ulimit -n`) would see
 * that open fail with EMFILE because of ours: a dependency "cannot open shared object file: Too
 * many open files", in audit mode too. So the first time in a load operation that the fd is
 * held after a callback, make sure another one is free (a dup of it, closed at once); if none
 * is, give ours back, and look again after the next object. */
static int maps_has_room; /* 1: another descriptor was free beside the maps fd in this load operation */

static void leave_a_descriptor(void)
{
    if (maps.fd < 0 || maps_has_room) return;
    if (ec_another_fd_free(maps.fd)) {
        maps_has_room = 1;
    } else {
        ec_maps_close(&maps);
    }
}

struct objopen_state {
    struct ec_mapped found;
    struct ec_verdict v;
};

/* The decision on one object, its findings and verdict in st. */
static unsigned int objopen(struct link_map *map, int main_map, struct objopen_state *st)
{
    struct ec_mapped *found = &st->found;
    const char *path;
    int allowed = ec_mapped_check_object(&maps, map->l_addr, map->l_ld, map->l_name,
                                         EC_MAPPED_USE_CACHE | EC_MAPPED_UNRELOCATED, &st->v, found);
    mark_other_copy(map, found); /* audit mode goes on after a denial: the copy must still know */
    if (allowed) {
        leave_a_descriptor();
        return 0;
    }
    path = found->path[0] ? found->path : "(unnamed object)";
    if (!ec_shim_deny(main_map ? EC_KIND_PROGRAM : EC_KIND_LIBRARY, EC_FACE_AUDIT, path, &st->v)) {
        leave_a_descriptor();
        return 0;
    }
    /* Not one instruction of this object has run yet: relocation (IFUNC resolvers) and
     * constructors come after this callback. exit_group skips atexit handlers and stdio, which
     * belong to code that must not run now. */
    ec_say_refused("load", path, st->v.reason);
    ec_maps_close(&maps);
    ec_exit_group(126);
}

/* A call of la_objopen under another: a signal handler's dlopen() (ld.so's lock is recursive). */
static __attribute__((noinline)) unsigned int objopen_nested(struct link_map *map, int main_map)
{
    struct objopen_state st;
    return objopen(map, main_map, &st);
}

/* The findings (1 KiB with their path) are not on the stack: ld.so calls la_objopen on the
 * program's stack, deep in its own mapping of the object, a few hundred bytes above the deepest
 * point of a small program's whole start-up (glibc's mapping of libc's segments), so under a tight
 * `ulimit -s` every byte of ours is one the program alone does not need. ld.so calls it under its
 * load lock, one object at a time. */
static struct objopen_state objopen_state;
static volatile int objopen_busy;

EC_EXPORT unsigned int la_objopen(struct link_map *map, Lmid_t lmid, uintptr_t *cookie)
{
    int main_map = lmid == LM_ID_BASE && !map->l_prev && (!map->l_name || !map->l_name[0]);
    unsigned int r;
    (void)cookie;

    ec_tripwire_met(map); /* decided here: the sweeps below leave it alone */
    if (lmid == LM_ID_BASE && !map->l_prev) program_map = map;
    if (ec_mapped_by_kernel(map->l_addr, (uintptr_t)map->l_ld, main_map)) return 0; /* nothing for /proc to tell */
    if (objopen_busy) return objopen_nested(map, main_map);
    objopen_busy = 1;
    r = objopen(map, main_map, &objopen_state);
    objopen_busy = 0;
    return r;
}

EC_EXPORT unsigned int la_objclose(uintptr_t *cookie)
{
    /* the cookie is the link map (la_objopen left it as ld.so set it) */
    ec_tripwire_gone((const struct link_map *)*cookie);
    return 0;
}

/* What ld.so loaded without calling this module: glibc calls no audit callback for a load into an
 * auditing namespace (dl-load.c: l_auditing), so what an audit module listed after this one loads
 * there - a dlopen() from its callbacks, libc's NSS or gconv loads - is met here, by a walk of every
 * namespace, after its code ran: enforcing, the process ends (126) before the program goes on. */
static void sweep_unannounced(void)
{
    if (program_map && ec_tripwire_sweep(0, EC_FACE_AUDIT, program_map)) {
        ec_maps_close(&maps);
        ec_exit_group(126);
    }
}

EC_EXPORT void la_preinit(uintptr_t *cookie)
{
    (void)cookie;
    sweep_unannounced(); /* after every module's la_activity: what a later module loaded there */
}

EC_EXPORT void la_activity(uintptr_t *cookie, unsigned int flag)
{
    (void)cookie;
    if (flag != LA_ACT_CONSISTENT) return;
    /* after a removal too (a dlclose, the exit): what a later module loaded after our last look
     * (from its la_preinit, la_symbind...) is met here (what is closing is passed over) */
    sweep_unannounced();
    ec_check_single_threaded(0); /* code of the program may run from now on, threads too */
    /* one load operation is over: no fd stays open in the program, no verdict outlives it */
    ec_maps_close(&maps);
    maps_has_room = 0;
    ec_vcache_clear();
}

/* Decision records (see record.h). */
#include "record.h"
#include "arena.h"
#include "reason.h"
#include "scratch.h"
#include "sinks.h"
#include "sys.h"
#include "text.h"

static const char *const kind_names[EC_KIND_COUNT] = {"library", "script", "module", "interactive", "program"};
static const char *const face_names[EC_FACE_COUNT] = {"audit", "preload", "python", "cli"};

const char *ec_kind_name(int kind) { return kind >= 0 && kind < EC_KIND_COUNT ? kind_names[kind] : "library"; }
const char *ec_face_name(int face) { return face >= 0 && face < EC_FACE_COUNT ? face_names[face] : "audit"; }

/* days since 1970-01-01 -> civil date (Howard Hinnant's algorithm) */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    yoe = z - era * 146097;
    yoe = (yoe - yoe / 1460 + yoe / 36524 - yoe / 146096) / 365;
    doy = (z - era * 146097) - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    *m = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static void put_time(struct ec_buf *b)
{
    struct ec_timespec ts = {0, 0};
    int64_t days, secs, y;
    unsigned m, d;
    ec_clock_gettime(EC_CLOCK_REALTIME, &ts);
    days = ts.tv_sec / 86400;
    secs = ts.tv_sec % 86400;
    civil_from_days(days, &y, &m, &d);
    ec_buf_putu_pad(b, (uint64_t)y, 4);
    ec_buf_putc(b, '-');
    ec_buf_putu_pad(b, m, 2);
    ec_buf_putc(b, '-');
    ec_buf_putu_pad(b, d, 2);
    ec_buf_putc(b, 'T');
    ec_buf_putu_pad(b, (uint64_t)(secs / 3600), 2);
    ec_buf_putc(b, ':');
    ec_buf_putu_pad(b, (uint64_t)(secs / 60 % 60), 2);
    ec_buf_putc(b, ':');
    ec_buf_putu_pad(b, (uint64_t)(secs % 60), 2);
    ec_buf_putc(b, '.');
    ec_buf_putu_pad(b, (uint64_t)(ts.tv_nsec / 1000000), 3);
    ec_buf_putc(b, 'Z');
}

static void put_key(struct ec_buf *b, const char *key)
{
    if (b->len > 1) ec_buf_putc(b, ',');
    ec_buf_put_json_str(b, key);
    ec_buf_putc(b, ':');
}

/* The program's path, into exe (cap bytes). Asked of /proc once per process: a record names the
 * same program every time (an exec starts a new copy of this code), and audit mode can make one
 * record per library a program loads. (prctl PR_SET_MM_EXE_FILE, which checkpoint/restore tools
 * use, can rename it later; records then keep the first name.) */
static void program_path(int pid, char *exe, size_t cap)
{
    static char cached[512];
    static int cached_pid, state; /* 0 empty, 1 being filled, 2 holds cached_pid's path */
    int empty = 0;
    long n;
    if (__atomic_load_n(&state, __ATOMIC_ACQUIRE) == 2 && cached_pid == pid) {
        ec_strlcpy(exe, cached, cap);
        return;
    }
    n = ec_readlinkat(EC_AT_FDCWD, "/proc/self/exe", exe, cap - 1);
    exe[n > 0 ? n : 0] = 0;
    /* the first to get here fills the cache; a forked child (another pid) just asks again */
    if (n > 0 && (size_t)n < sizeof cached && __atomic_compare_exchange_n(&state, &empty, 1, 0, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED)) {
        ec_strlcpy(cached, exe, sizeof cached);
        cached_pid = pid;
        __atomic_store_n(&state, 2, __ATOMIC_RELEASE);
    }
}

#define EXE_MAX 512

/* exe: EXE_MAX bytes of room for the program's path */
static size_t format_as(char *buf, size_t cap, const struct ec_record *r, int pid, char *exe)
{
    struct ec_buf b;
    const struct ec_verdict *v = r->verdict;

    if (cap < 64) return 0;
    program_path(pid, exe, EXE_MAX);

    ec_buf_init(&b, buf, cap - 2); /* room for "}\n" */
    ec_buf_putc(&b, '{');
    put_key(&b, "time");
    ec_buf_putc(&b, '"');
    put_time(&b);
    ec_buf_putc(&b, '"');
    put_key(&b, "pid");
    ec_buf_putu(&b, (unsigned)pid);
    put_key(&b, "exe");
    ec_buf_put_json_str_max(&b, exe, 600);
    put_key(&b, "uid");
    ec_buf_putu(&b, (unsigned)ec_getuid());
    put_key(&b, "kind");
    ec_buf_put_json_str(&b, ec_kind_name(r->kind));
    put_key(&b, "path");
    ec_buf_put_json_str_max(&b, r->path ? r->path : "", 1000);
    put_key(&b, "dev");
    ec_buf_putu(&b, v ? v->dev : 0);
    put_key(&b, "ino");
    ec_buf_putu(&b, v ? v->ino : 0);
    put_key(&b, "reason");
    ec_buf_put_json_str(&b, ec_reason_name(v ? v->reason : 0));
    put_key(&b, "errno");
    ec_buf_putu(&b, v ? (unsigned)v->err : 0);
    put_key(&b, "mode");
    ec_buf_put_json_str(&b, r->enforced ? "enforce" : "audit");
    put_key(&b, "action");
    ec_buf_put_json_str(&b, r->enforced ? "refused" : "logged");
    put_key(&b, "face");
    ec_buf_put_json_str(&b, ec_face_name(r->face));
    /* every field above is bounded, so a 2 KiB buffer always holds the whole record */
    b.cap += 2;
    ec_buf_puts(&b, "}\n");
    return b.truncated ? 0 : b.len;
}

size_t ec_record_format(char *buf, size_t cap, const struct ec_record *r)
{
    char exe[EXE_MAX];
    return format_as(buf, cap, r, ec_getpid(), exe);
}

/* ---- once per (pid, dev, ino): a small lock-free open-addressing set ---- */
#define SEEN_SLOTS 1024
struct seen { int pid; ec_atomic_u64 dev, ino; };
static void *seen_mem; /* struct seen[SEEN_SLOTS], mapped by the first record of the process */

/* Is the slot mark -tid (being written) of a thread that may still finish it? Not when the
 * thread is the caller (a signal handler on top of the write: it never goes on while the handler
 * runs), nor when it is no thread of this process (the write was half done when another thread
 * forked: the child has no such thread). */
static int writer_goes_on(int tid, int *me)
{
    if (!*me) *me = (int)ec_sys0(EC_NR_gettid);
    return tid != *me && ec_thread_here(tid);
}

/* 1 if (pid, dev, ino) has not been recorded yet and is now marked; 0 if it was. Lock-free,
 * fork-aware (a child's pid finds nothing of its parent's). If the table is full, or cannot be
 * mapped, 1 (record again rather than lose one). A slot is pid when written, -tid of its writer
 * while being written. */
static int first_time_for(int pid, unsigned long long dev, unsigned long long ino)
{
    unsigned long long h = (dev * 0x9e3779b97f4a7c15ull) ^ (ino * 0xc2b2ae3d27d4eb4full);
    struct seen *seen_table = ec_map_once_populated(&seen_mem, SEEN_SLOTS * sizeof(struct seen));
    unsigned probe;
    int me = 0;
    if (!seen_table) return 1; /* no memory: record again rather than lose one */
    for (probe = 0; probe < SEEN_SLOTS; probe++) {
        struct seen *s = &seen_table[(h + probe) % SEEN_SLOTS];
        long spins = 0;
        for (;;) {
            int owner = __atomic_load_n(&s->pid, __ATOMIC_ACQUIRE);
            if (owner == pid) {
                if (__atomic_load_n(&s->dev, __ATOMIC_ACQUIRE) == dev && __atomic_load_n(&s->ino, __ATOMIC_ACQUIRE) == ino)
                    return 0;
                break; /* another key: next slot */
            }
            if (owner < 0 && writer_goes_on(-owner, &me)) {
                /* another thread of this process is writing this slot (it may be our key): wait
                 * for it, bounded (a signal handler on that thread may hold it up): then record
                 * again rather than lose the record */
                if (spins++ > 1000000) return 1;
                ec_sys0(EC_NR_sched_yield);
                continue;
            }
            if (owner < 0 && -owner == me) return 1; /* our own write, under this handler: record again */
            /* free (0), or left by the parent before a fork (its pid, or its writer's -tid): claim
             * it, marked -tid until the key is whole. A failed claim looks again at the same
             * slot: whoever won it may have written our very key. */
            if (!me) me = (int)ec_sys0(EC_NR_gettid);
            if (__atomic_compare_exchange_n(&s->pid, &owner, -me, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                __atomic_store_n(&s->dev, dev, __ATOMIC_RELEASE);
                __atomic_store_n(&s->ino, ino, __ATOMIC_RELEASE);
                __atomic_store_n(&s->pid, pid, __ATOMIC_RELEASE);
                return 1;
            }
        }
    }
    return 1; /* full: record again rather than lose one */
}

#define RECORD_LINE_MAX 2048

int ec_record_emit(const struct ec_policy *p, const struct ec_record *r)
{
    struct ec_scratch s;
    char *line;
    size_t len;
    const struct ec_verdict *v = r->verdict;
    unsigned long long dev = 0, ino = (unsigned long long)r->kind + 1; /* interactive code: once per kind */
    int pid = ec_getpid(); /* once for the record: the set, the line and the syslog header */
    if (v && (v->dev || v->ino))
        dev = v->dev, ino = v->ino;
    else if (r->kind != EC_KIND_INTERACTIVE && r->path) /* a file not identified (no /proc...): by name */
        dev = ~0ull /* no device has this number */, ino = ec_hash_str(r->path);
    if (!first_time_for(pid, dev, ino)) return 0;
    /* the line and the program's path: off the stack (scratch.h) */
    if (!(line = ec_scratch_take(&s, RECORD_LINE_MAX + EXE_MAX))) return 1; /* no memory: lost, as a full disk loses it */
    len = format_as(line, RECORD_LINE_MAX, r, pid, line + RECORD_LINE_MAX);
    if (len) {
        if (p->sinks & EC_SINK_FILE) ec_sink_file(p->log_file, line, len, pid);
        if (p->sinks & EC_SINK_SYSLOG) ec_sink_syslog(r->enforced ? 83 : 84, pid, line, len); /* authpriv.err / .warning */
        if (p->sinks & EC_SINK_STDERR) ec_sink_stderr(line, len);
    }
    ec_scratch_give(&s);
    return 1;
}

#define SAY_MAX 1400

void ec_say_refused_why(const char *verb, const char *what, const char *why)
{
    struct ec_scratch s;
    char *line = ec_scratch_take(&s, SAY_MAX); /* off the stack (scratch.h) */
    struct ec_buf b;
    if (!line) { /* no memory for the details: the refusal is still said */
        static const char bare[] = "execcheck: refused (no memory for the details)\n";
        ec_sink_stderr(bare, sizeof bare - 1);
        return;
    }
    ec_buf_init(&b, line, SAY_MAX - 1); /* one byte kept for the '\n', even when cut */
    ec_buf_puts(&b, "execcheck: refused to ");
    ec_buf_puts(&b, verb);
    ec_buf_putc(&b, ' ');
    /* the name may be anyone's (a file planted for a root daemon to load): on one line, inert */
    ec_buf_put_visible(&b, what);
    ec_buf_puts(&b, ": ");
    ec_buf_puts(&b, why);
    line[b.len++] = '\n';
    ec_sink_stderr(line, b.len);
    ec_scratch_give(&s);
}

void ec_say_refused(const char *verb, const char *path, int reason)
{
    ec_say_refused_why(verb, path, ec_reason_name(reason));
}

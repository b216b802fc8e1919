/* The policy (see policy.h). */
#include "policy.h"
#include "securebits.h"
#include "sys.h"
#include "text.h"

static const char *const config_state_names[] = {
    "absent", "loaded", "ignored: not owned by root", "ignored: group- or other-writable",
    "ignored: not a regular file", "too large: files enforced", "unreadable: files enforced",
};

const char *ec_config_state_name(int state)
{
    return state >= 0 && state <= EC_CONFIG_UNREADABLE ? config_state_names[state] : "unknown";
}

const char *ec_mode_name(int mode) { return mode == EC_MODE_ENFORCE ? "enforce" : "audit"; }

static void set_problem(struct ec_policy *p, const char *a, const char *b)
{
    struct ec_buf out;
    if (p->config_problem[0]) return; /* keep the first */
    ec_buf_init(&out, p->config_problem, sizeof p->config_problem);
    ec_buf_puts(&out, a);
    if (b) ec_buf_puts(&out, b);
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }


/* A config that is there but cannot be read (a mode that keeps this process's user out, no
 * descriptor or memory left, too large) may say "files = enforce": it is taken to, rather than
 * let the process run unchecked. */
static void fail_closed(struct ec_policy *p, int state, const char *path, const char *why)
{
    p->config_state = state;
    p->files = EC_MODE_ENFORCE;
    p->files_source |= EC_SRC_CONFIG;
    set_problem(p, path, why);
}

/* Trims [s, e) in place and terminates it; returns the start. */
static char *trim(char *s, char *e)
{
    while (s < e && is_space(*s)) s++;
    while (e > s && is_space(e[-1])) e--;
    *e = 0;
    return s;
}

/* Keys and words are compared without case: "Files = Enforce" means what it says (a line read
 * otherwise would be skipped, and the file would not enforce). */
static void apply_line(struct ec_policy *p, char *key, char *val, int lineno)
{
    int b;
    int ok = 1;
    const char *takes = 0; /* what the key takes, said when its value is not that */
    if (ec_word_is(key, "files") || ec_word_is(key, "mode")) {
        if (ec_word_is(val, "enforce")) {
            p->files = EC_MODE_ENFORCE;
            p->files_source |= EC_SRC_CONFIG;
        } else if (!ec_word_is(val, "audit")) ok = 0, takes = "audit or enforce";
    } else if (ec_word_is(key, "interactive")) {
        if (ec_word_is(val, "deny")) {
            p->interactive = EC_MODE_ENFORCE;
            p->interactive_source |= EC_SRC_CONFIG;
        } else if (!ec_word_is(val, "allow")) ok = 0, takes = "allow or deny";
    } else if (ec_word_is(key, "log_file")) {
        if (val[0] == '/' && ec_strlen(val) < sizeof p->log_file) {
            ec_strlcpy(p->log_file, val, sizeof p->log_file);
            p->sinks |= EC_SINK_FILE;
            p->sinks_configured = 1;
        } else if (!val[0]) {
            p->log_file[0] = 0;
            p->sinks &= ~EC_SINK_FILE;
            p->sinks_configured = 1;
        } else ok = 0, takes = "an absolute path shorter than 256 bytes, or nothing";
    } else if (ec_word_is(key, "syslog") || ec_word_is(key, "stderr")) {
        int bit = ec_word_is(key, "syslog") ? EC_SINK_SYSLOG : EC_SINK_STDERR;
        b = ec_parse_bool(val);
        if (b < 0) ok = 0, takes = "yes or no";
        else {
            p->sinks = b ? (p->sinks | bit) : (p->sinks & ~bit);
            p->sinks_configured = 1;
        }
    } else ok = 0;
    if (!ok && !p->config_bad_line) {
        struct ec_buf out;
        p->config_bad_line = lineno;
        if (!p->config_problem[0]) {
            ec_buf_init(&out, p->config_problem, sizeof p->config_problem);
            ec_buf_puts(&out, "line ");
            ec_buf_putu(&out, (unsigned)lineno);
            ec_buf_puts(&out, " not understood (ignored): ");
            ec_buf_puts(&out, key);
            if (takes) {
                ec_buf_puts(&out, " takes ");
                ec_buf_puts(&out, takes);
            }
        }
    }
}

void ec_policy_apply_config(struct ec_policy *p, const char *text, unsigned long len)
{
    char line[512];
    unsigned long i = 0;
    int lineno = 0;
    if (len >= 3 && !ec_memcmp(text, "\xef\xbb\xbf", 3)) i = 3; /* a UTF-8 byte order mark, as editors write */
    while (i < len) {
        unsigned long start = i, n, end;
        char *eq, *key, *val;
        while (i < len && text[i] != '\n') i++;
        lineno++;
        /* what counts is the line before any '#', without the blanks at its end: a long comment
         * or trailing blanks do not make a short setting too long */
        for (end = start; end < i && text[end] != '#'; end++) continue;
        while (end > start && is_space(text[end - 1])) end--;
        n = end - start;
        i++; /* past '\n' */
        if (n >= sizeof line) {
            apply_line(p, (char *)"(line too long)", (char *)"", lineno);
            continue;
        }
        ec_memcpy(line, text + start, n);
        line[n] = 0;
        if (ec_strlen(line) != n) { /* embedded NUL */
            apply_line(p, (char *)"(NUL byte)", (char *)"", lineno);
            continue;
        }
        key = trim(line, line + n);
        if (!*key) continue;
        eq = (char *)ec_strchr(key, '=');
        if (!eq) {
            apply_line(p, key, (char *)"", lineno);
            continue;
        }
        val = trim(eq + 1, eq + 1 + ec_strlen(eq + 1));
        key = trim(key, eq);
        apply_line(p, key, val, lineno);
    }
}

/* The text is read into a mapping of its own, not onto the stack: the policy is resolved at the
 * first decision, which may be on a small thread's stack deep under glibc's dlopen. */
static void load_config(struct ec_policy *p, const char *path)
{
    char *text;
    struct ec_statx st;
    long n, total = 0;
    int fd = ec_openat(EC_AT_FDCWD, path, EC_O_RDONLY | EC_O_CLOEXEC | EC_O_NOFOLLOW | EC_O_NONBLOCK | EC_O_NOCTTY, 0);
    if ((fd == -EC_EMFILE || fd == -EC_ENFILE) &&
        ec_statx(EC_AT_FDCWD, path, EC_AT_SYMLINK_NOFOLLOW, EC_STATX_BASIC_STATS, &st) == -EC_ENOENT)
        fd = -EC_ENOENT; /* no descriptor free (a process at its RLIMIT_NOFILE), and no file to read: absent */
    if (fd == -EC_ENOENT || fd == -EC_ENOTDIR) {
        p->config_state = EC_CONFIG_ABSENT;
        return;
    }
    if (fd == -EC_ELOOP) {
        p->config_state = EC_CONFIG_IGNORED_TYPE;
        set_problem(p, path, " is a symlink: ignored");
        return;
    }
    if (fd < 0) {
        fail_closed(p, EC_CONFIG_UNREADABLE, path, " cannot be opened by this process: files enforced, as it may say");
        return;
    }
    if (ec_statx(fd, "", EC_AT_EMPTY_PATH, EC_STATX_BASIC_STATS, &st) < 0) {
        fail_closed(p, EC_CONFIG_UNREADABLE, path, " cannot be read: files enforced, as it may say");
    } else if ((st.stx_mode & EC_S_IFMT) != EC_S_IFREG) {
        p->config_state = EC_CONFIG_IGNORED_TYPE;
        set_problem(p, path, " is not a regular file: ignored");
    } else if (st.stx_uid != 0) {
        p->config_state = EC_CONFIG_IGNORED_OWNER;
        set_problem(p, path, " is not owned by root: ignored");
    } else if (st.stx_mode & 022) {
        p->config_state = EC_CONFIG_IGNORED_MODE;
        set_problem(p, path, " is writable by group or others: ignored");
    } else if (st.stx_size > EC_CONFIG_MAX) {
        fail_closed(p, EC_CONFIG_IGNORED_SIZE, path, " is larger than 16 KiB: not read, files enforced, as it may say");
    } else if (ec_mmap_failed(text = ec_mmap(0, EC_CONFIG_MAX, EC_PROT_READ | EC_PROT_WRITE,
                                             EC_MAP_PRIVATE | EC_MAP_ANONYMOUS, -1, 0))) {
        fail_closed(p, EC_CONFIG_UNREADABLE, path, " cannot be read (no memory): files enforced, as it may say");
    } else {
        while (total < EC_CONFIG_MAX && (n = ec_read(fd, text + total, (size_t)(EC_CONFIG_MAX - total))) > 0)
            total += n;
        if (n < 0 && total == 0) {
            fail_closed(p, EC_CONFIG_UNREADABLE, path, " cannot be read: files enforced, as it may say");
        } else {
            p->config_state = EC_CONFIG_LOADED;
            ec_policy_apply_config(p, text, (unsigned long)total);
        }
        ec_munmap(text, EC_CONFIG_MAX);
    }
    ec_close(fd);
}

/* A variable set to what apply_env does not understand is ignored (the environment is the
 * caller's, anyone's); the first one is named, for `execcheck status`: a typo must not look like
 * enforcement. */
static void env_not_understood(struct ec_policy *p, const char *name, const char *why)
{
    struct ec_buf b;
    if (p->env_problem[0]) return;
    ec_buf_init(&b, p->env_problem, sizeof p->env_problem);
    ec_buf_puts(&b, name);
    ec_buf_puts(&b, " ignored: ");
    ec_buf_puts(&b, why);
}

static void env_bool(struct ec_policy *p, char *const *envp, const char *name, int sink)
{
    const char *v = ec_env_get(envp, name);
    int on = ec_parse_bool(v);
    if (on == 1) p->sinks |= sink;
    else if (v && v[0] && on < 0) env_not_understood(p, name, "not yes or no");
}

/* A mode the environment may only tighten: the tight value enforces, the default one changes
 * nothing, anything else is named. */
static void env_mode(struct ec_policy *p, char *const *envp, const char *name, const char *tight,
                     const char *dflt, const char *why, int *mode, int *source)
{
    const char *v = ec_env_get(envp, name);
    if (v && !ec_strcmp(v, tight)) {
        *mode = EC_MODE_ENFORCE;
        *source |= EC_SRC_ENV;
    } else if (v && v[0] && ec_strcmp(v, dflt))
        env_not_understood(p, name, why);
}

static const char *const env_names[] = {"EXECCHECK_FILES", "EXECCHECK_INTERACTIVE", "EXECCHECK_LOG_FILE",
                                         "EXECCHECK_LOG_STDERR", "EXECCHECK_SYSLOG"};

static void ignore_env(struct ec_policy *p, char *const *envp)
{
    size_t i;
    const char *v;
    for (i = 0; i < sizeof env_names / sizeof env_names[0]; i++)
        if ((v = ec_env_get(envp, env_names[i])) && v[0])
            env_not_understood(p, env_names[i], "a setuid or setgid process takes nothing from its caller's environment");
}

static void apply_env(struct ec_policy *p, char *const *envp)
{
    const char *v;
    env_mode(p, envp, "EXECCHECK_FILES", "enforce", "audit",
             "only \"enforce\" is understood (the environment can only tighten)", &p->files, &p->files_source);
    env_mode(p, envp, "EXECCHECK_INTERACTIVE", "deny", "allow",
             "only \"deny\" is understood (the environment can only tighten)", &p->interactive,
             &p->interactive_source);
    /* Sinks may be added, never removed. */
    if ((v = ec_env_get(envp, "EXECCHECK_LOG_FILE")) && v[0]) {
        if (v[0] != '/')
            env_not_understood(p, "EXECCHECK_LOG_FILE", "not an absolute path");
        else if (ec_strlen(v) >= sizeof p->log_file)
            env_not_understood(p, "EXECCHECK_LOG_FILE", "longer than 255 bytes");
        else if (!(p->sinks & EC_SINK_FILE)) {
            ec_strlcpy(p->log_file, v, sizeof p->log_file);
            p->sinks |= EC_SINK_FILE;
        }
    }
    env_bool(p, envp, "EXECCHECK_LOG_STDERR", EC_SINK_STDERR);
    env_bool(p, envp, "EXECCHECK_SYSLOG", EC_SINK_SYSLOG);
}

void ec_policy_resolve(struct ec_policy *p, const char *config_path, char *const *envp, int secure)
{
    ec_memset(p, 0, sizeof *p);
    p->securebits = ec_securebits_get();
    if (p->securebits < 0) {
        p->files = p->interactive = EC_MODE_ENFORCE;
        p->files_source = p->interactive_source = EC_SRC_PRCTL_FAILED;
    } else {
        if (p->securebits & EC_SECBIT_EXEC_RESTRICT_FILE) {
            p->files = EC_MODE_ENFORCE;
            p->files_source |= EC_SRC_SECUREBITS;
        }
        if (p->securebits & EC_SECBIT_EXEC_DENY_INTERACTIVE) {
            p->interactive = EC_MODE_ENFORCE;
            p->interactive_source |= EC_SRC_SECUREBITS;
        }
    }
    p->sinks = EC_SINK_SYSLOG; /* default until the config says otherwise */
    load_config(p, config_path ? config_path : EC_CONFIG_PATH);
    if (secure) /* a setuid program's environment is its caller's: named, never applied */
        ignore_env(p, envp);
    else
        apply_env(p, envp);
}

/* The policy: is a failed check enforced or only recorded, for files and for interactive code,
 * and where do records go.
 *
 * Sources, strongest first, each able only to tighten what the previous ones gave:
 *   1. the exec securebits of the process (SECBIT_EXEC_RESTRICT_FILE, SECBIT_EXEC_DENY_INTERACTIVE);
 *   2. /etc/execcheck.conf, honoured only when it is a regular file owned by root and not
 *      group/other-writable (its path is compiled in, never taken from the environment);
 *   3. the environment (EXECCHECK_FILES=enforce, EXECCHECK_INTERACTIVE=deny), which can never loosen.
 * If the securebits cannot be read (prctl filtered), both are treated as set: fail closed. */
#ifndef EXECCHECK_POLICY_H
#define EXECCHECK_POLICY_H

#define EC_CONFIG_PATH "/etc/execcheck.conf"
#define EC_CONFIG_MAX 16384 /* read on the stack: no allocator, thread-safe */

#define EC_MODE_AUDIT 0
#define EC_MODE_ENFORCE 1

/* where a setting came from (bit mask) */
#define EC_SRC_DEFAULT 0
#define EC_SRC_SECUREBITS 1
#define EC_SRC_CONFIG 2
#define EC_SRC_ENV 4
#define EC_SRC_PRCTL_FAILED 8

enum ec_config_state {
    EC_CONFIG_ABSENT = 0,
    EC_CONFIG_LOADED,
    EC_CONFIG_IGNORED_OWNER, /* not owned by root */
    EC_CONFIG_IGNORED_MODE,  /* group- or other-writable */
    EC_CONFIG_IGNORED_TYPE,  /* not a regular file (symlinks are not followed) */
    EC_CONFIG_IGNORED_SIZE,  /* larger than EC_CONFIG_MAX */
    EC_CONFIG_UNREADABLE,
};

#define EC_SINK_FILE 1
#define EC_SINK_SYSLOG 2
#define EC_SINK_STDERR 4

struct ec_policy {
    int files;              /* EC_MODE_AUDIT or EC_MODE_ENFORCE */
    int files_source;       /* EC_SRC_* bits that asked for enforcement */
    int interactive;        /* EC_MODE_ENFORCE = interactive code is refused */
    int interactive_source;
    long securebits;        /* the word read, or -errno */
    int config_state;       /* enum ec_config_state */
    int config_bad_line;    /* first line that was not understood (0: none) */
    int sinks;              /* EC_SINK_* */
    int sinks_configured;   /* 0: the default sinks are in use */
    char log_file[256];
    char config_problem[200]; /* a sentence when the config was ignored or had a bad line */
    char env_problem[200];    /* the first EXECCHECK_* variable set and not understood (ignored) */
};

/* Resolves the policy. config_path NULL means EC_CONFIG_PATH (other paths: inspection and
 * tests only). envp may be NULL. secure: the process is AT_SECURE, so the environment may not
 * name a log file. Never fails: problems are described in the struct. */
void ec_policy_resolve(struct ec_policy *p, const char *config_path, char *const *envp, int secure);

/* Applies config text to p (the part of resolve that reads `key = value` lines). */
void ec_policy_apply_config(struct ec_policy *p, const char *text, unsigned long len);

const char *ec_config_state_name(int state);
const char *ec_mode_name(int mode);

#endif

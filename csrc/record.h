/* The decision record: one JSON line per denial or would-be denial, once per (pid, dev, ino).
 *
 * {"time":"2026-11-28T21:02:39.123Z","pid":42,"exe":"/usr/bin/python3.11","uid":1000,
 *  "kind":"library","path":"/tmp/x.so","dev":2049,"ino":1234,"reason":"x-bit","errno":13,
 *  "mode":"audit","action":"logged","face":"audit"}
 *
 * "action" is "refused" when the policy enforced the denial and "logged" when it only recorded it.
 * Bytes of a path that are not UTF-8 are written as \u00XX, one per byte. */
#ifndef EXECCHECK_RECORD_H
#define EXECCHECK_RECORD_H

#include <stddef.h>
#include "check.h"
#include "policy.h"

enum ec_kind { EC_KIND_LIBRARY = 0, EC_KIND_SCRIPT, EC_KIND_MODULE, EC_KIND_INTERACTIVE, EC_KIND_PROGRAM, EC_KIND_COUNT };
enum ec_face { EC_FACE_AUDIT = 0, EC_FACE_PRELOAD, EC_FACE_PYTHON, EC_FACE_CLI, EC_FACE_COUNT };

struct ec_record {
    int kind;        /* enum ec_kind */
    int face;        /* enum ec_face */
    int enforced;    /* 1: the denial is enforced (action "refused") */
    const char *path;
    const struct ec_verdict *verdict;
};

const char *ec_kind_name(int kind);
const char *ec_face_name(int face);

/* Formats r as one JSON line (with '\n') into buf. Returns the length, or 0 if cap is too small
 * to hold even a truncated record. Long paths are cut, never the JSON structure. */
size_t ec_record_format(char *buf, size_t cap, const struct ec_record *r);

/* Formats and delivers r to the sinks of p, once per (pid, dev, ino). Returns 1 if delivered,
 * 0 if it was a duplicate. Never blocks, never fails the caller. */
int ec_record_emit(const struct ec_policy *p, const struct ec_record *r);

/* Writes "execcheck: refused to <verb> <path>: <reason text>\n" to fd 2 in one write. */
void ec_say_refused(const char *verb, const char *path, int reason);
/* The same line with the reason in words: "execcheck: refused to <verb> <what>: <why>\n". */
void ec_say_refused_why(const char *verb, const char *what, const char *why);

#endif

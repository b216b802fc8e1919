/* Freestanding string helpers and a bounded text builder.
 *
 * No libc here (see sys.h). The builder never overflows: once full it marks itself truncated
 * and drops the rest, so a hostile path or environment value can only shorten a record. */
#ifndef EXECCHECK_TEXT_H
#define EXECCHECK_TEXT_H

#include <stddef.h>
#include <stdint.h>

size_t ec_strlen(const char *s);
size_t ec_strnlen(const char *s, size_t max);
int ec_strcmp(const char *a, const char *b);
int ec_strncmp(const char *a, const char *b, size_t n);
int ec_memcmp(const void *a, const void *b, size_t n);
/* 1 when the n bytes at a and b are the same; word at a time (a library's segments). */
int ec_memeq(const void *a, const void *b, size_t n);
void *ec_memcpy(void *dst, const void *src, size_t n);
void *ec_memset(void *dst, int c, size_t n);
const char *ec_strchr(const char *s, int c);
const char *ec_strrchr(const char *s, int c);
/* Copies at most cap-1 bytes and always terminates; returns strlen(src). */
size_t ec_strlcpy(char *dst, const char *src, size_t cap);
/* The value of NAME in a NULL-terminated "NAME=value" array, or NULL. */
const char *ec_env_get(char *const *envp, const char *name);
/* Is s the word w (lower-case ASCII), whatever the case of s? */
int ec_word_is(const char *s, const char *w);
/* "yes"/"1"/"true"/"on" -> 1, "no"/"0"/"false"/"off" -> 0, anything else -> -1 (case-insensitive). */
int ec_parse_bool(const char *s);
/* An FNV-1a hash of a string: table keys (ldfs.c), the record key of a file known only by name (record.c). */
uint64_t ec_hash_str(const char *s);

struct ec_buf {
    char *data;
    size_t cap, len;
    int truncated;
};
void ec_buf_init(struct ec_buf *b, char *storage, size_t cap);
void ec_buf_putc(struct ec_buf *b, char c);
void ec_buf_puts(struct ec_buf *b, const char *s);
void ec_buf_putn(struct ec_buf *b, const char *s, size_t n);
void ec_buf_putu(struct ec_buf *b, uint64_t v);
void ec_buf_putx(struct ec_buf *b, uint64_t v); /* lower-case hex, no prefix */
void ec_buf_puti(struct ec_buf *b, int64_t v);
void ec_buf_putu_pad(struct ec_buf *b, uint64_t v, int width);
/* A JSON string literal, quotes included; invalid UTF-8 bytes become \u00XX escapes of the byte. */
void ec_buf_put_json_str(struct ec_buf *b, const char *s);
/* The same, at most `max` bytes of output: a longer value is cut between characters and ends in "...". */
void ec_buf_put_json_str_max(struct ec_buf *b, const char *s, size_t max);
/* s for a line of text a person reads (stderr, the command's output): every character a terminal
 * or a line-based log acts on, or shows as another, is escaped - control bytes, DEL and bytes that
 * start no UTF-8 sequence as \xNN, characters that are invisible or reorder the line (C1 controls,
 * no-break and zero-width spaces, bidi overrides, line separators, private use: text.c) as \uXXXX
 * or \UXXXXXXXX, the backslash as \\ - so a file name can neither end the line, drive the terminal
 * nor pass for another. The one spelling of a name everywhere: `execcheck` prints names with it
 * too (ec_text_visible). A unit that does not fit is left out whole. */
void ec_buf_put_visible(struct ec_buf *b, const char *s);
/* The same for n bytes (a NUL among them is \x00) into out (cap bytes: 4n+1 is always enough);
 * returns the length written. ascii: every byte from 0x80 up as \xNN too (for a terminal whose
 * encoding is not UTF-8, where the command's names are their bytes). */
size_t ec_text_visible(const char *s, size_t n, int ascii, char *out, size_t cap);
/* A C string view of the buffer (always NUL-terminated within cap). */
const char *ec_buf_str(struct ec_buf *b);

#endif

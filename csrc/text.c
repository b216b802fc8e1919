/* Freestanding string helpers (see text.h). */
#include "text.h"

size_t ec_strlen(const char *s)
{
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

size_t ec_strnlen(const char *s, size_t max)
{
    size_t n = 0;
    while (n < max && s[n]) n++;
    return n;
}

int ec_strcmp(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int ec_strncmp(const char *a, const char *b, size_t n)
{
    for (; n; n--, a++, b++) {
        if (*a != *b) return (unsigned char)*a - (unsigned char)*b;
        if (!*a) return 0;
    }
    return 0;
}

int ec_memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x - *y;
    return 0;
}

/* Word at a time: the shim zeroes and copies arena memory on hot paths. Unaligned word access is
 * fine on x86_64 and aarch64 (normal memory). */
typedef uint64_t __attribute__((aligned(1), may_alias)) ec_word;

void *ec_memcpy(void *dst, const void *src, size_t n)
{
    unsigned char *d = dst;
    const unsigned char *s = src;
    for (; n >= 8; n -= 8, d += 8, s += 8) *(ec_word *)d = *(const ec_word *)s;
    while (n--) *d++ = *s++;
    return dst;
}

void *ec_memset(void *dst, int c, size_t n)
{
    unsigned char *d = dst;
    ec_word w = (unsigned char)c * 0x0101010101010101ull;
    for (; n >= 8; n -= 8, d += 8) *(ec_word *)d = w;
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

int ec_memeq(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;
    for (; n >= 32; n -= 32, x += 32, y += 32) /* or-ed differences: no branch per word */
        if ((((const ec_word *)x)[0] ^ ((const ec_word *)y)[0]) | (((const ec_word *)x)[1] ^ ((const ec_word *)y)[1]) |
            (((const ec_word *)x)[2] ^ ((const ec_word *)y)[2]) | (((const ec_word *)x)[3] ^ ((const ec_word *)y)[3]))
            return 0;
    for (; n >= 8; n -= 8, x += 8, y += 8)
        if (*(const ec_word *)x != *(const ec_word *)y) return 0;
    for (; n; n--)
        if (*x++ != *y++) return 0;
    return 1;
}

const char *ec_strchr(const char *s, int c)
{
    for (;; s++) {
        if (*s == (char)c) return s;
        if (!*s) return 0;
    }
}

const char *ec_strrchr(const char *s, int c)
{
    const char *last = 0;
    for (;; s++) {
        if (*s == (char)c) last = s;
        if (!*s) return last;
    }
}

size_t ec_strlcpy(char *dst, const char *src, size_t cap)
{
    size_t n = ec_strlen(src);
    if (cap) {
        size_t k = n < cap - 1 ? n : cap - 1;
        ec_memcpy(dst, src, k);
        dst[k] = 0;
    }
    return n;
}

const char *ec_env_get(char *const *envp, const char *name)
{
    size_t n = ec_strlen(name);
    if (!envp) return 0;
    for (; *envp; envp++)
        if (!ec_strncmp(*envp, name, n) && (*envp)[n] == '=') return *envp + n + 1;
    return 0;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

int ec_word_is(const char *s, const char *w)
{
    for (; *w; s++, w++)
        if (lower((unsigned char)*s) != *w) return 0;
    return *s == 0;
}

uint64_t ec_hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s) h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

int ec_parse_bool(const char *s)
{
    if (!s) return -1;
    if (ec_word_is(s, "1") || ec_word_is(s, "yes") || ec_word_is(s, "true") || ec_word_is(s, "on")) return 1;
    if (ec_word_is(s, "0") || ec_word_is(s, "no") || ec_word_is(s, "false") || ec_word_is(s, "off")) return 0;
    return -1;
}

void ec_buf_init(struct ec_buf *b, char *storage, size_t cap)
{
    b->data = storage;
    b->cap = cap;
    b->len = 0;
    b->truncated = 0;
    if (cap) storage[0] = 0;
}

void ec_buf_putc(struct ec_buf *b, char c)
{
    if (b->len + 1 >= b->cap) {
        b->truncated = 1;
        return;
    }
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}

void ec_buf_putn(struct ec_buf *b, const char *s, size_t n)
{
    size_t room = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
    if (n > room) {
        n = room;
        b->truncated = 1;
    }
    ec_memcpy(b->data + b->len, s, n);
    b->len += n;
    if (b->cap) b->data[b->len] = 0;
}

void ec_buf_puts(struct ec_buf *b, const char *s) { ec_buf_putn(b, s, ec_strlen(s)); }

void ec_buf_putu_pad(struct ec_buf *b, uint64_t v, int width)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n < width && n < (int)sizeof tmp) tmp[n++] = '0';
    while (n) ec_buf_putc(b, tmp[--n]);
}

void ec_buf_putu(struct ec_buf *b, uint64_t v) { ec_buf_putu_pad(b, v, 0); }

void ec_buf_putx(struct ec_buf *b, uint64_t v)
{
    char d[16];
    int n = 0;
    do d[n++] = "0123456789abcdef"[v & 15]; while ((v >>= 4) && n < 16);
    while (n) ec_buf_putc(b, d[--n]);
}

void ec_buf_puti(struct ec_buf *b, int64_t v)
{
    if (v < 0) {
        ec_buf_putc(b, '-');
        ec_buf_putu(b, (uint64_t)0 - (uint64_t)v);
    } else {
        ec_buf_putu(b, (uint64_t)v);
    }
}

/* Length of the valid UTF-8 sequence at s, or 0 if the bytes there are not one. */
static int utf8_len(const unsigned char *s)
{
    int n, i;
    uint32_t cp;
    if (s[0] < 0x80) return 1;
    if ((s[0] & 0xe0) == 0xc0) n = 2, cp = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0) n = 3, cp = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0) n = 4, cp = s[0] & 0x07;
    else return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

void ec_buf_put_json_str(struct ec_buf *b, const char *s) { ec_buf_put_json_str_max(b, s, (size_t)-1 / 2); }

void ec_buf_put_json_str_max(struct ec_buf *b, const char *s, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t start = b->len;
    ec_buf_putc(b, '"');
    while (*p) {
        const unsigned char *q = p;
        int n;
        /* a run of printable ASCII goes out as it is, in one copy (a record's paths are mostly
         * that); each of its bytes is a unit that passes the limit check below while
         * b->len - start + 10 <= max */
        while (*q >= 0x20 && *q < 0x80 && *q != '"' && *q != '\\') q++;
        if (q > p) {
            size_t used = b->len - start, pass = used + 10 > max ? 0 : max - 10 - used + 1;
            if ((size_t)(q - p) > pass) {
                ec_buf_putn(b, (const char *)p, pass);
                ec_buf_puts(b, "...");
                break;
            }
            ec_buf_putn(b, (const char *)p, (size_t)(q - p));
            p = q;
            continue;
        }
        n = utf8_len(p);
        /* stop before a unit (at most 6 output bytes) that would pass the limit: cut between
         * units, never inside an escape or a UTF-8 sequence */
        if (b->len - start + 6 + 4 > max) {
            ec_buf_puts(b, "...");
            break;
        }
        if (n == 1 && *p >= 0x20 && *p != '"' && *p != '\\') {
            ec_buf_putc(b, (char)*p++);
        } else if (n > 1) {
            ec_buf_putn(b, (const char *)p, (size_t)n);
            p += n;
        } else if (*p == '"' || *p == '\\') {
            ec_buf_putc(b, '\\');
            ec_buf_putc(b, (char)*p++);
        } else if (*p == '\n') {
            ec_buf_puts(b, "\\n"), p++;
        } else if (*p == '\t') {
            ec_buf_puts(b, "\\t"), p++;
        } else {
            /* control byte or a byte that is not UTF-8: keep it visible and lossless for ASCII-safe readers */
            ec_buf_puts(b, "\\u00");
            ec_buf_putc(b, hex[*p >> 4]);
            ec_buf_putc(b, hex[*p & 15]);
            p++;
        }
    }
    ec_buf_putc(b, '"');
}

void ec_buf_put_visible(struct ec_buf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        char unit[4];
        size_t n = 0, room = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
        int k = utf8_len(p);
        /* a C1 control (U+0080..U+009F) is a control to a terminal too: CSI is U+009B */
        int c1 = k == 2 && p[0] == 0xc2 && p[1] < 0xa0;
        if (k > 1 && !c1) {
            if ((size_t)k > room) break;
            ec_buf_putn(b, (const char *)p, (size_t)k);
            p += k;
            continue;
        }
        if (*p >= 0x20 && *p < 0x7f && *p != '\\') unit[n++] = (char)*p;
        else if (*p == '\\') unit[n++] = '\\', unit[n++] = '\\';
        else if (*p == '\n') unit[n++] = '\\', unit[n++] = 'n';
        else if (*p == '\t') unit[n++] = '\\', unit[n++] = 't';
        else unit[n++] = '\\', unit[n++] = 'x', unit[n++] = hex[*p >> 4], unit[n++] = hex[*p & 15];
        if (n > room) break;
        ec_buf_putn(b, unit, n);
        p++;
    }
    if (*p) b->truncated = 1;
}

const char *ec_buf_str(struct ec_buf *b) { return b->cap ? b->data : ""; }

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

/* Length of the valid UTF-8 sequence at s (at most avail bytes there), or 0 if the bytes there are
 * not one; its code point in *cp. A NUL ends any sequence, so a C string may pass avail unbounded. */
static int utf8_seq(const unsigned char *s, size_t avail, uint32_t *cp)
{
    int n, i;
    uint32_t c;
    if (s[0] < 0x80) return *cp = s[0], 1;
    if ((s[0] & 0xe0) == 0xc0) n = 2, c = s[0] & 0x1f;
    else if ((s[0] & 0xf0) == 0xe0) n = 3, c = s[0] & 0x0f;
    else if ((s[0] & 0xf8) == 0xf0) n = 4, c = s[0] & 0x07;
    else return 0;
    if ((size_t)n > avail) return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
        (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

static int utf8_len(const unsigned char *s)
{
    uint32_t cp;
    return utf8_seq(s, (size_t)-1, &cp);
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

/* Characters a terminal shows as nothing, as space or not at all as themselves: the Unicode
 * categories Cc, Cf, Zs, Zl, Zp, Co and Cs beyond ASCII (Unicode 15), and the noncharacters. A name
 * holding one could pass for another (a no-break space, a zero-width joiner) or reorder the line
 * around it on screen (U+202E, RIGHT-TO-LEFT OVERRIDE). What Python's str.isprintable() refuses, but
 * for code points not assigned yet, which print as themselves (a box). Sorted, inclusive. */
static const uint32_t invisible[][2] = {
    {0x80, 0xa0},       {0xad, 0xad},       {0x600, 0x605},     {0x61c, 0x61c},     {0x6dd, 0x6dd},
    {0x70f, 0x70f},     {0x890, 0x891},     {0x8e2, 0x8e2},     {0x1680, 0x1680},   {0x180e, 0x180e},
    {0x2000, 0x200f},   {0x2028, 0x202f},   {0x205f, 0x206f},   {0x3000, 0x3000},   {0xd800, 0xf8ff},
    {0xfdd0, 0xfdef},   {0xfeff, 0xfeff},   {0xfff9, 0xfffb},   {0x110bd, 0x110bd}, {0x110cd, 0x110cd},
    {0x13430, 0x1343f}, {0x1bca0, 0x1bca3}, {0x1d173, 0x1d17a}, {0xe0001, 0xe0001}, {0xe0020, 0xe007f},
    {0xf0000, 0x10ffff},
};

static int is_invisible(uint32_t cp)
{
    size_t i;
    if ((cp & 0xfffe) == 0xfffe) return 1; /* U+FFFE, U+FFFF and their like in every plane */
    for (i = 0; i < sizeof invisible / sizeof invisible[0] && invisible[i][0] <= cp; i++)
        if (cp <= invisible[i][1]) return 1;
    return 0;
}

static void put_visible(struct ec_buf *b, const char *s, size_t n, int ascii)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    while (p < end) {
        char unit[10];
        size_t u = 0, room = b->cap > b->len + 1 ? b->cap - b->len - 1 : 0;
        uint32_t cp;
        int k = ascii && *p >= 0x80 ? 0 : utf8_seq(p, (size_t)(end - p), &cp), digits = 0;
        if (k == 1 && cp >= 0x20 && cp < 0x7f && cp != '\\') {
            unit[u++] = (char)cp;
        } else if (k == 1 && cp == '\\') {
            unit[u++] = '\\', unit[u++] = '\\';
        } else if (k > 1 && !is_invisible(cp)) {
            if ((size_t)k > room) break;
            ec_buf_putn(b, (const char *)p, (size_t)k);
            p += k;
            continue;
        } else if (k > 1) {
            unit[u++] = '\\', unit[u++] = cp > 0xffff ? 'U' : 'u';
            digits = cp > 0xffff ? 8 : 4;
        } else {
            /* a control byte, DEL, or a byte that starts no UTF-8 sequence: that byte */
            k = 1;
            cp = *p;
            unit[u++] = '\\', unit[u++] = 'x';
            digits = 2;
        }
        while (digits--) unit[u++] = hex[(cp >> (4 * digits)) & 15];
        if (u > room) break;
        ec_buf_putn(b, unit, u);
        p += k;
    }
    if (p < end) b->truncated = 1;
}

void ec_buf_put_visible(struct ec_buf *b, const char *s) { put_visible(b, s, ec_strlen(s), 0); }

size_t ec_text_visible(const char *s, size_t n, int ascii, char *out, size_t cap)
{
    struct ec_buf b;
    ec_buf_init(&b, out, cap);
    put_visible(&b, s, n, ascii);
    return b.len;
}

const char *ec_buf_str(struct ec_buf *b) { return b->cap ? b->data : ""; }

/*
 * plugins/sink-gcf/json.c: the little JSON and Base64url the sink needs:
 * members of a flat object read by name (a service-account key file, the
 * token endpoint's answer, an ID token's claims), JSON string escaping for
 * the claims it writes, and Base64url both ways (RFC 7515 section 2: no
 * padding). The reader checks the whole text is one valid JSON object, so
 * a truncated key file is an error rather than a half-read key.
 *
 * No loop, no OpenSSL: the unit test links it alone.
 */
#include <stdlib.h>
#include <string.h>
#include "gcf.h"

#define MAX_DEPTH 32

static const char *ws(const char *p, const char *e) {
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool hex4(const char *p, const char *e, unsigned *v) {
    if (e - p < 4)
        return false;
    *v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return false;
        *v = *v << 4 | (unsigned)h;
    }
    return true;
}

static bool put_utf8(spw_buf *out, unsigned cp) {
    char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (char)(0xc0 | cp >> 6);
        b[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (char)(0xe0 | cp >> 12);
        b[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (char)(0xf0 | cp >> 18);
        b[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return !out || spw_buf_append(out, b, n) == SPW_OK;
}

/* A string at p (at its '"'): the end after its closing quote, its value appended to out
 * (when not NULL, without NUL), or NULL when malformed. */
static const char *string(const char *p, const char *e, spw_buf *out) {
    if (p >= e || *p != '"')
        return NULL;
    for (p++; p < e; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p + 1;
        if (c < 0x20)
            return NULL;
        if (c != '\\') {
            if (out && spw_buf_append(out, p, 1) != SPW_OK)
                return NULL;
            continue;
        }
        if (++p >= e)
            return NULL;
        char r;
        switch (*p) {
        case '"': r = '"'; break;
        case '\\': r = '\\'; break;
        case '/': r = '/'; break;
        case 'b': r = '\b'; break;
        case 'f': r = '\f'; break;
        case 'n': r = '\n'; break;
        case 'r': r = '\r'; break;
        case 't': r = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (!hex4(p + 1, e, &cp))
                return NULL;
            p += 4;
            if (cp >= 0xd800 && cp < 0xdc00) { /* a surrogate pair */
                if (e - p < 7 || p[1] != '\\' || p[2] != 'u' || !hex4(p + 3, e, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return NULL;
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            } else if (cp >= 0xdc00 && cp < 0xe000) {
                return NULL;
            }
            if (!put_utf8(out, cp))
                return NULL;
            continue;
        }
        default:
            return NULL;
        }
        if (out && spw_buf_append(out, &r, 1) != SPW_OK)
            return NULL;
    }
    return NULL;
}

static const char *number(const char *p, const char *e) {
    const char *s = p;
    if (p < e && *p == '-')
        p++;
    const char *d = p;
    while (p < e && *p >= '0' && *p <= '9')
        p++;
    if (p == d)
        return NULL;
    if (p < e && *p == '.') {
        d = ++p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return NULL;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        d = p;
        while (p < e && *p >= '0' && *p <= '9')
            p++;
        if (p == d)
            return NULL;
    }
    return p > s ? p : NULL;
}

static const char *value(const char *p, const char *e, int depth);

static const char *container(const char *p, const char *e, int depth, bool object) {
    char close = object ? '}' : ']';
    if (depth > MAX_DEPTH)
        return NULL;
    p = ws(p + 1, e);
    if (p < e && *p == close)
        return p + 1;
    for (;;) {
        if (object) {
            p = string(p, e, NULL);
            if (!p)
                return NULL;
            p = ws(p, e);
            if (p >= e || *p != ':')
                return NULL;
            p = ws(p + 1, e);
        }
        p = value(p, e, depth + 1);
        if (!p)
            return NULL;
        p = ws(p, e);
        if (p < e && *p == ',') {
            p = ws(p + 1, e);
            continue;
        }
        return p < e && *p == close ? p + 1 : NULL;
    }
}

static const char *literal(const char *p, const char *e, const char *w) {
    size_t n = strlen(w);
    return (size_t)(e - p) >= n && memcmp(p, w, n) == 0 ? p + n : NULL;
}

static const char *value(const char *p, const char *e, int depth) {
    if (p >= e)
        return NULL;
    switch (*p) {
    case '{': return container(p, e, depth, true);
    case '[': return container(p, e, depth, false);
    case '"': return string(p, e, NULL);
    case 't': return literal(p, e, "true");
    case 'f': return literal(p, e, "false");
    case 'n': return literal(p, e, "null");
    default: return number(p, e);
    }
}

/* Where the value of top-level member `name` starts (NULL: absent); *bad when text is not one
 * JSON object. */
static const char *member(const char *text, size_t n, const char *name, bool *bad) {
    const char *p = text, *e = text + n, *found = NULL;
    *bad = true;
    p = ws(p, e);
    if (p >= e || *p != '{' || !(p = value(p, e, 0)) || ws(p, e) != e)
        return NULL; /* the whole text first: one valid object, nothing after it */
    p = ws(text, e) + 1;
    spw_buf key = SPW_BUF_INIT;
    p = ws(p, e);
    while (p < e && *p == '"') {
        spw_buf_reset(&key);
        p = string(p, e, &key);
        if (!p) /* out of memory: the text was valid */
            break;
        p = ws(ws(p, e) + 1, e);
        if (!found && key.len == strlen(name) && memcmp(key.data, name, key.len) == 0)
            found = p;
        p = ws(value(p, e, 1), e);
        if (*p == ',')
            p = ws(p + 1, e);
    }
    spw_buf_free(&key);
    *bad = false;
    return found;
}

int gcf_json_string(const char *text, size_t n, const char *name, spw_buf *out) {
    bool bad;
    const char *v = member(text, n, name, &bad);
    if (bad)
        return -1;
    if (!v)
        return 0;
    spw_buf_reset(out);
    if (!string(v, text + n, out) || spw_buf_append(out, "", 1) != SPW_OK)
        return -1;
    out->len--; /* NUL-terminated, not counted */
    return 1;
}

int gcf_json_int(const char *text, size_t n, const char *name, int64_t *out) {
    bool bad;
    const char *v = member(text, n, name, &bad);
    if (bad)
        return -1;
    if (!v)
        return 0;
    const char *e = number(v, text + n);
    if (!e)
        return -1;
    int64_t x = 0;
    bool neg = *v == '-';
    for (const char *p = v + neg; p < e && *p >= '0' && *p <= '9'; p++) {
        if (x > (INT64_MAX - 9) / 10)
            return -1;
        x = x * 10 + (*p - '0');
    }
    if (memchr(v, '.', (size_t)(e - v)) || memchr(v, 'e', (size_t)(e - v)) ||
        memchr(v, 'E', (size_t)(e - v)))
        return -1; /* the claims this reads (exp, iat) are integers */
    *out = neg ? -x : x;
    return 1;
}

spw_result gcf_json_escape(spw_buf *out, const char *s) {
    static const char hex[] = "0123456789abcdef";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        char esc[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};
        spw_result rc;
        if (*p == '"' || *p == '\\')
            rc = spw_buf_append(out, (char[]){'\\', (char)*p}, 2);
        else if (*p < 0x20)
            rc = spw_buf_append(out, esc, 6);
        else
            rc = spw_buf_append(out, p, 1);
        if (rc != SPW_OK)
            return rc;
    }
    return SPW_OK;
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

spw_result gcf_b64url_encode(spw_buf *out, const void *data, size_t n) {
    const unsigned char *p = data;
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        size_t k = n - i >= 3 ? 3 : n - i;
        if (k > 1)
            v |= (uint32_t)p[i + 1] << 8;
        if (k > 2)
            v |= p[i + 2];
        q[0] = b64url[v >> 18];
        q[1] = b64url[(v >> 12) & 63];
        q[2] = b64url[(v >> 6) & 63];
        q[3] = b64url[v & 63];
        spw_result rc = spw_buf_append(out, q, k + 1);
        if (rc != SPW_OK)
            return rc;
    }
    return SPW_OK;
}

int gcf_b64url_decode(spw_buf *out, const char *s, size_t n) {
    uint32_t v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *c = s[i] ? strchr(b64url, s[i]) : NULL;
        if (!c)
            return -1;
        v = v << 6 | (uint32_t)(c - b64url);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            unsigned char byte = (unsigned char)(v >> bits);
            if (spw_buf_append(out, &byte, 1) != SPW_OK)
                return -1;
        }
    }
    /* RFC 4648 section 3.5: leftover bits are zero, and one character alone is no byte. */
    return n % 4 == 1 || (v & ((1u << bits) - 1)) ? -1 : 0;
}

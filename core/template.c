/*
 * core/template.c: ${var} templates (spillway/template.h).
 *
 * A template compiles into literal and variable parts, so rendering is one
 * pass appending to the caller's reused buffer. Escaping applies to
 * substituted values only, never to the literal text the user wrote.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spillway/template.h>

enum tpl_var {
    VAR_NAMESPACE,
    VAR_SET,
    VAR_DIGEST,
    VAR_DIGEST_B64,
    VAR_KEY,
    VAR_MSG,
    VAR_GEN,
    VAR_LUT,
    VAR_ID,
};

static const struct {
    const char *name;
    enum tpl_var var;
} vars[] = {
    {"namespace", VAR_NAMESPACE}, {"set", VAR_SET}, {"digest", VAR_DIGEST},
    {"digest_base64", VAR_DIGEST_B64}, {"key", VAR_KEY}, {"msg", VAR_MSG},
    {"gen", VAR_GEN}, {"lut", VAR_LUT}, {"id", VAR_ID},
};
#define N_VARS (sizeof vars / sizeof vars[0])

struct part {
    bool is_var;
    enum tpl_var var;
    size_t off, len; /* a literal: bytes of src */
};

struct spw_template {
    char *src;
    struct part *parts;
    size_t n, cap;
    bool has_vars;
};

void spw_template_free(spw_template *t) {
    if (!t)
        return;
    free(t->src);
    free(t->parts);
    free(t);
}

static bool add_part(spw_template *t, struct part p) {
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 4;
        struct part *np = realloc(t->parts, nc * sizeof *np);
        if (!np)
            return false;
        t->parts = np;
        t->cap = nc;
    }
    t->parts[t->n++] = p;
    return true;
}

static spw_result nomem(spw_template *t, spw_err *err) {
    spw_template_free(t);
    return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
}

spw_result spw_template_new(const char *s, spw_template **out, spw_err *err) {
    *out = NULL;
    spw_template *t = calloc(1, sizeof *t);
    if (!t || !(t->src = strdup(s)))
        return nomem(t, err);
    size_t i = 0, lit = 0, len = strlen(s);
    while (i < len) {
        if (s[i] != '$' || s[i + 1] != '{') {
            i++;
            continue;
        }
        const char *close = strchr(s + i + 2, '}');
        if (!close) {
            spw_template_free(t);
            return spw_err_set(err, SPW_ERR_CONFIG, "'%s': unterminated '${'", s);
        }
        size_t nlen = (size_t)(close - (s + i + 2));
        size_t k = 0;
        while (k < N_VARS && !(strlen(vars[k].name) == nlen && memcmp(vars[k].name, s + i + 2, nlen) == 0))
            k++;
        if (k == N_VARS) {
            spw_template_free(t);
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "'%s': unknown variable '${%.*s}' (known: namespace, set, digest, "
                               "digest_base64, key, msg, gen, lut, id)",
                               s, (int)nlen, s + i + 2);
        }
        if ((i > lit && !add_part(t, (struct part){false, 0, lit, i - lit})) ||
            !add_part(t, (struct part){true, vars[k].var, 0, 0}))
            return nomem(t, err);
        t->has_vars = true;
        i = (size_t)(close - s) + 1;
        lit = i;
    }
    if (len > lit && !add_part(t, (struct part){false, 0, lit, len - lit}))
        return nomem(t, err);
    *out = t;
    return SPW_OK;
}

bool spw_template_is_constant(const spw_template *t) { return !t->has_vars; }

const char *spw_template_source(const spw_template *t) { return t->src; }

/* ---- escaping ----------------------------------------------------------- */

static bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

/* Length of the valid UTF-8 sequence at p[0..n), or 0 when it is not one
 * (overlong forms, surrogates and code points above U+10FFFF are invalid). */
static size_t utf8_len(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t len;
    uint32_t min;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, min = 0x10000;
    else
        return 0;
    if (n < len)
        return 0;
    uint32_t cp = c & (0x7f >> len);
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return len;
}

static spw_result put_json(spw_buf *out, const unsigned char *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        /* Worst case per input byte: "\ufffd" (6 bytes), reserved per byte so
         * the common path writes without checks. */
        spw_result rc = spw_buf_reserve(out, 6);
        if (rc != SPW_OK)
            return rc;
        uint8_t *o = out->data + out->len;
        if (c == '"' || c == '\\') {
            *o++ = '\\';
            *o++ = c;
            i++;
        } else if (c == '\n' || c == '\r' || c == '\t') {
            *o++ = '\\';
            *o++ = c == '\n' ? 'n' : c == '\r' ? 'r' : 't';
            i++;
        } else if (c < 0x20 || c == 0x7f) {
            *o++ = '\\';
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = (uint8_t)hex[c >> 4];
            *o++ = (uint8_t)hex[c & 15];
            i++;
        } else {
            size_t l = utf8_len(p + i, n - i);
            if (l == 0) {
                memcpy(o, "\\ufffd", 6);
                o += 6;
                i++;
            } else {
                memcpy(o, p + i, l); /* l <= 4 < 6 reserved */
                o += l;
                i += l;
            }
        }
        out->len = (size_t)(o - out->data);
    }
    return SPW_OK;
}

/* Appends value bytes, escaped for where they go. */
static spw_result put(spw_buf *out, const void *v, size_t n, spw_tpl_escape esc) {
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = v;
    if (esc == SPW_TPL_JSON)
        return put_json(out, p, n);
    if (esc == SPW_TPL_RAW)
        return spw_buf_append(out, p, n);
    if (n > SPW_BUF_MAX / 3)
        return SPW_ERR_NOSPACE;
    spw_result rc = spw_buf_reserve(out, esc == SPW_TPL_URL ? n * 3 : n);
    if (rc != SPW_OK)
        return rc;
    uint8_t *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (esc == SPW_TPL_URL) {
            if (unreserved(c)) {
                *o++ = c;
            } else {
                *o++ = '%';
                *o++ = (uint8_t)hex[c >> 4];
                *o++ = (uint8_t)hex[c & 15];
            }
        } else {
            *o++ = (c < 0x20 || c == 0x7f) ? ' ' : c;
        }
    }
    out->len = (size_t)(o - out->data);
    return SPW_OK;
}

/* Standard Base64 of p[0..n), escaped (its '+', '/' and '=' need it in URLs). */
static spw_result put_base64(spw_buf *out, const uint8_t *p, size_t n, spw_tpl_escape esc) {
    if (esc != SPW_TPL_URL)
        return spw_buf_append_base64(out, p, n); /* Base64 is printable ASCII */
    spw_buf tmp = SPW_BUF_INIT;
    spw_result rc = spw_buf_append_base64(&tmp, p, n);
    if (rc == SPW_OK)
        rc = put(out, tmp.data, tmp.len, esc);
    spw_buf_free(&tmp);
    return rc;
}

static void digest_hex(const spw_event *ev, char h[40]) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *d = spw_event_digest(ev);
    for (int i = 0; i < 20; i++) {
        h[2 * i] = hex[d[i] >> 4];
        h[2 * i + 1] = hex[d[i] & 15];
    }
}

static spw_result put_key(spw_buf *out, const spw_event *ev, spw_tpl_escape esc) {
    spw_value k;
    char num[32];
    int64_t i;
    double d;
    spw_str s;
    const uint8_t *bp;
    size_t bn;
    if (!spw_event_key(ev, &k))
        return SPW_OK;
    if (spw_value_int(&k, &i) == SPW_OK)
        return put(out, num, (size_t)snprintf(num, sizeof num, "%" PRId64, i), esc);
    if (spw_value_double(&k, &d) == SPW_OK)
        return put(out, num, (size_t)snprintf(num, sizeof num, "%.17g", d), esc);
    if (spw_value_str(&k, &s) == SPW_OK)
        return put(out, s.ptr, s.len, esc);
    if (spw_value_bytes(&k, &bp, &bn) == SPW_OK)
        return put_base64(out, bp, bn, esc);
    return SPW_OK;
}

static spw_result put_var(spw_buf *out, const spw_event *ev, enum tpl_var var, spw_tpl_escape esc) {
    char num[64];
    switch (var) {
    case VAR_NAMESPACE: {
        spw_str s = spw_event_namespace(ev);
        return put(out, s.ptr, s.ptr ? s.len : 0, esc);
    }
    case VAR_SET: {
        spw_str s = spw_event_set(ev);
        return put(out, s.ptr, s.ptr ? s.len : 0, esc);
    }
    case VAR_DIGEST:
        digest_hex(ev, num);
        return put(out, num, 40, esc);
    case VAR_DIGEST_B64:
        return put_base64(out, spw_event_digest(ev), 20, esc);
    case VAR_KEY:
        return put_key(out, ev, esc);
    case VAR_MSG: {
        const char *m = spw_event_op(ev) == SPW_OP_DELETE ? "delete" : "write";
        return put(out, m, strlen(m), esc);
    }
    case VAR_GEN:
        return put(out, num, (size_t)snprintf(num, sizeof num, "%" PRIu32, spw_event_generation(ev)), esc);
    case VAR_LUT:
        return put(out, num, (size_t)snprintf(num, sizeof num, "%" PRId64, spw_event_lut_ms(ev)), esc);
    case VAR_ID: /* hex, '-' and digits: the same under every escaping */
        digest_hex(ev, num);
        return put(out, num,
                   40 + (size_t)snprintf(num + 40, sizeof num - 40, "-%" PRId64, spw_event_lut_ms(ev)),
                   esc);
    }
    return SPW_OK;
}

spw_result spw_template_render(const spw_template *t, const spw_event *ev, spw_tpl_escape esc,
                               spw_buf *out) {
    for (size_t i = 0; i < t->n; i++) {
        const struct part *p = &t->parts[i];
        spw_result rc = p->is_var ? put_var(out, ev, p->var, esc)
                                  : spw_buf_append(out, t->src + p->off, p->len);
        if (rc != SPW_OK)
            return rc;
    }
    return SPW_OK;
}

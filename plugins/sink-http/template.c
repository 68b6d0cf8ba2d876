/*
 * plugins/sink-http/template.c: URLs and header values with ${var}
 * substituted from an event's metadata, for one-record requests (a
 * function URL per set, an index per namespace, a document id per key).
 *
 * A template is compiled once per instance into literal and variable
 * parts, so rendering is one pass that appends to a reused buffer.
 * Substituted values are percent-encoded in URLs (every byte but the RFC
 * 3986 unreserved ones, so a set name can never add a path segment or a
 * query parameter), and in header values have control bytes replaced by
 * spaces (a record can never inject a header line).
 *
 * Variables: ${namespace} ${set} ${digest} (40 hex digits: safe in any
 * URL, fixed length) ${digest_base64} (the payloads' form) ${key} (integer
 * in decimal, string as is, blob in Base64, empty when not shipped) ${msg}
 * (write/delete) ${gen} ${lut}.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sink.h"

static const struct {
    const char *name;
    enum hs_var var;
} vars[] = {
    {"namespace", HS_VAR_NAMESPACE}, {"set", HS_VAR_SET},    {"digest", HS_VAR_DIGEST},
    {"digest_base64", HS_VAR_DIGEST_B64}, {"key", HS_VAR_KEY}, {"msg", HS_VAR_MSG},
    {"gen", HS_VAR_GEN},             {"lut", HS_VAR_LUT},
};

void hs_tpl_free(hs_tpl *t) {
    free(t->src);
    free(t->parts);
    memset(t, 0, sizeof *t);
}

static spw_result add_part(hs_tpl *t, size_t *cap, hs_tpl_part p) {
    if (t->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        hs_tpl_part *np = realloc(t->parts, nc * sizeof *np);
        if (!np)
            return SPW_ERR_NOMEM;
        t->parts = np;
        *cap = nc;
    }
    t->parts[t->n++] = p;
    return SPW_OK;
}

spw_result hs_tpl_compile(hs_tpl *t, const char *s, spw_err *err) {
    size_t cap = 0;
    memset(t, 0, sizeof *t);
    t->src = strdup(s);
    if (!t->src)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    size_t i = 0, lit = 0, len = strlen(s);
    while (i < len) {
        if (s[i] != '$' || s[i + 1] != '{') {
            i++;
            continue;
        }
        const char *close = strchr(s + i + 2, '}');
        if (!close) {
            hs_tpl_free(t);
            return spw_err_set(err, SPW_ERR_CONFIG, "'%s': unterminated '${'", s);
        }
        size_t nlen = (size_t)(close - (s + i + 2));
        size_t k = 0;
        while (k < sizeof vars / sizeof vars[0] &&
               !(strlen(vars[k].name) == nlen && memcmp(vars[k].name, s + i + 2, nlen) == 0))
            k++;
        if (k == sizeof vars / sizeof vars[0]) {
            hs_tpl_free(t);
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "'%s': unknown variable '${%.*s}' (known: namespace, set, digest, "
                               "digest_base64, key, msg, gen, lut)",
                               s, (int)nlen, s + i + 2);
        }
        if ((i > lit && add_part(t, &cap, (hs_tpl_part){false, 0, lit, i - lit}) != SPW_OK) ||
            add_part(t, &cap, (hs_tpl_part){true, vars[k].var, 0, 0}) != SPW_OK) {
            hs_tpl_free(t);
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        }
        t->has_vars = true;
        i = (size_t)(close - s) + 1;
        lit = i;
    }
    if (len > lit && add_part(t, &cap, (hs_tpl_part){false, 0, lit, len - lit}) != SPW_OK) {
        hs_tpl_free(t);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    return SPW_OK;
}

/* ---- rendering ---------------------------------------------------------- */

static bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Appends value bytes, encoded for where they go. */
static spw_result put(spw_buf *out, const void *v, size_t n, enum hs_enc enc) {
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p = v;
    spw_result rc = spw_buf_reserve(out, enc == HS_ENC_URL ? n * 3 : n);
    if (rc != SPW_OK)
        return rc;
    uint8_t *o = out->data + out->len;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        if (enc == HS_ENC_URL) {
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

static spw_result put_base64(spw_buf *out, const uint8_t *p, size_t n, enum hs_enc enc) {
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char q[4];
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        q[0] = tab[(v >> 18) & 63];
        q[1] = tab[(v >> 12) & 63];
        q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
        q[3] = i + 2 < n ? tab[v & 63] : '=';
        spw_result rc = put(out, q, 4, enc);
        if (rc != SPW_OK)
            return rc;
    }
    return SPW_OK;
}

static spw_result put_var(spw_buf *out, const spw_event *ev, enum hs_var var, enum hs_enc enc) {
    char num[32];
    switch (var) {
    case HS_VAR_NAMESPACE: {
        spw_str s = spw_event_namespace(ev);
        return put(out, s.ptr, s.ptr ? s.len : 0, enc);
    }
    case HS_VAR_SET: {
        spw_str s = spw_event_set(ev);
        return put(out, s.ptr, s.ptr ? s.len : 0, enc);
    }
    case HS_VAR_DIGEST: {
        static const char hex[] = "0123456789abcdef";
        const uint8_t *d = spw_event_digest(ev);
        char h[40];
        for (int i = 0; i < 20; i++) {
            h[2 * i] = hex[d[i] >> 4];
            h[2 * i + 1] = hex[d[i] & 15];
        }
        return put(out, h, sizeof h, enc);
    }
    case HS_VAR_DIGEST_B64:
        return put_base64(out, spw_event_digest(ev), 20, enc);
    case HS_VAR_KEY: {
        spw_value k;
        if (!spw_event_key(ev, &k))
            return SPW_OK;
        int64_t i;
        double d;
        spw_str s;
        const uint8_t *bp;
        size_t bn;
        if (spw_value_int(&k, &i) == SPW_OK) {
            int n = snprintf(num, sizeof num, "%" PRId64, i);
            return put(out, num, (size_t)n, enc);
        }
        if (spw_value_double(&k, &d) == SPW_OK) {
            int n = snprintf(num, sizeof num, "%.17g", d);
            return put(out, num, (size_t)n, enc);
        }
        if (spw_value_str(&k, &s) == SPW_OK)
            return put(out, s.ptr, s.len, enc);
        if (spw_value_bytes(&k, &bp, &bn) == SPW_OK)
            return put_base64(out, bp, bn, enc);
        return SPW_OK;
    }
    case HS_VAR_MSG: {
        const char *m = spw_event_op(ev) == SPW_OP_DELETE ? "delete" : "write";
        return put(out, m, strlen(m), enc);
    }
    case HS_VAR_GEN: {
        int n = snprintf(num, sizeof num, "%" PRIu32, spw_event_generation(ev));
        return put(out, num, (size_t)n, enc);
    }
    case HS_VAR_LUT: {
        int n = snprintf(num, sizeof num, "%" PRId64, spw_event_lut_ms(ev));
        return put(out, num, (size_t)n, enc);
    }
    }
    return SPW_OK;
}

spw_result hs_tpl_render(const hs_tpl *t, const spw_event *ev, enum hs_enc enc, spw_buf *out) {
    for (size_t i = 0; i < t->n; i++) {
        const hs_tpl_part *p = &t->parts[i];
        spw_result rc = p->is_var ? put_var(out, ev, p->var, enc)
                                  : spw_buf_append(out, t->src + p->off, p->len);
        if (rc != SPW_OK)
            return rc;
    }
    return SPW_OK;
}

size_t hs_url_path_start(const char *url) {
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return (size_t)-1;
    size_t n = strcspn(url + skip, "/?#");
    return skip + n;
}

/*
 * plugins/sink-splunk-hec/envelope.c: HEC event envelopes from encoded records.
 *
 * /services/collector/event takes JSON objects one after another, no array
 * and no separator needed ("Format events for HTTP Event Collector"):
 *   {"time":1700000000.123,"host":..,"source":..,"sourcetype":..,"index":..,
 *    "event":{...},"fields":{...}}
 * Only these keys are written: HEC answers 200 to an unknown key but
 * drops the objects after it, so one stray key would lose data silently.
 * `event` is the route codec's record embedded as it is (json or
 * flat-json: one JSON object), never re-parsed. `time` is the record's LUT
 * in seconds with milliseconds; an unknown LUT leaves it out (HEC then
 * stamps the arrival time). `fields` are indexed fields, flat strings.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hec.h"

static const char *const field_names[HEC_F_N] = {"namespace", "set", "digest", "msg", "gen"};

spw_result hec_fields_parse(const spw_strlist *l, unsigned *bits, spw_err *err) {
    *bits = 0;
    for (size_t i = 0; i < l->n; i++) {
        size_t k = 0;
        while (k < HEC_F_N && strcmp(l->v[i], field_names[k]) != 0)
            k++;
        if (k == HEC_F_N)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "fields: unknown field '%s' (namespace, set, digest, msg, gen)",
                               l->v[i]);
        *bits |= 1u << k;
    }
    return SPW_OK;
}

static spw_result tpl_new(const char *key, const char *src, spw_template **out, spw_err *err) {
    *out = NULL;
    if (!src || !*src)
        return SPW_OK;
    /* Literal text goes into a JSON string (and a query) as written: keep it plain. */
    for (const char *p = src; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '"' || *p == '\\')
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "%s: quotes, backslashes and control characters are not allowed",
                               key);
    spw_err e2 = {""};
    if (spw_template_new(src, out, &e2) != SPW_OK)
        return spw_err_set(err, SPW_ERR_CONFIG, "%s: %s", key, e2.msg);
    return SPW_OK;
}

void hec_meta_free(hec_meta *m) {
    spw_template_free(m->host);
    spw_template_free(m->source);
    spw_template_free(m->sourcetype);
    spw_template_free(m->index);
    memset(m, 0, sizeof *m);
}

spw_result hec_meta_init(hec_meta *m, const struct hec_conf *cf, spw_err *err) {
    memset(m, 0, sizeof *m);
    spw_result rc = hec_fields_parse(&cf->fields, &m->fields, err);
    if (rc == SPW_OK)
        rc = tpl_new("host", cf->host, &m->host, err);
    if (rc == SPW_OK)
        rc = tpl_new("source", cf->source, &m->source, err);
    if (rc == SPW_OK)
        rc = tpl_new("sourcetype", cf->sourcetype, &m->sourcetype, err);
    if (rc == SPW_OK)
        rc = tpl_new("index", cf->index, &m->index, err);
    if (rc != SPW_OK)
        hec_meta_free(m);
    return rc;
}

spw_result hec_json_escape(spw_buf *out, const void *p, size_t n) {
    static const char hex[] = "0123456789abcdef";
    const uint8_t *s = p;
    spw_result rc = spw_buf_reserve(out, n + 2);
    size_t run = 0;
    for (size_t i = 0; i < n && rc == SPW_OK; i++) {
        uint8_t c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc = spw_buf_append(out, s + run, i - run);
        run = i + 1;
        char e[7] = {'\\', (char)c, 0};
        size_t el = 2;
        switch (c) {
        case '"': case '\\': break;
        case '\n': e[1] = 'n'; break;
        case '\r': e[1] = 'r'; break;
        case '\t': e[1] = 't'; break;
        default:
            e[1] = 'u'; e[2] = '0'; e[3] = '0'; e[4] = hex[c >> 4]; e[5] = hex[c & 15];
            el = 6;
        }
        if (rc == SPW_OK)
            rc = spw_buf_append(out, e, el);
    }
    if (rc == SPW_OK)
        rc = spw_buf_append(out, s + run, n - run);
    return rc;
}

/* ,"key":"rendered" (values JSON-escaped by the renderer, literal text checked at load) */
static spw_result put_tpl(spw_buf *out, const char *key, const spw_template *t,
                          const spw_event *ev) {
    if (!t)
        return SPW_OK;
    spw_result rc = spw_buf_printf(out, ",\"%s\":\"", key);
    if (rc == SPW_OK)
        rc = spw_template_render(t, ev, SPW_TPL_JSON, out);
    if (rc == SPW_OK)
        rc = spw_buf_append(out, "\"", 1);
    return rc;
}

static spw_result put_str(spw_buf *out, bool *first, const char *key, const void *v, size_t n) {
    spw_result rc = spw_buf_printf(out, "%s\"%s\":\"", *first ? "" : ",", key);
    *first = false;
    if (rc == SPW_OK)
        rc = hec_json_escape(out, v, n);
    if (rc == SPW_OK)
        rc = spw_buf_append(out, "\"", 1);
    return rc;
}

static spw_result put_fields(spw_buf *out, unsigned f, const spw_event *ev) {
    if (!f)
        return SPW_OK;
    bool first = true;
    spw_result rc = spw_buf_append(out, ",\"fields\":{", 11);
    if (rc == SPW_OK && (f & (1u << HEC_F_NAMESPACE))) {
        spw_str ns = spw_event_namespace(ev);
        rc = put_str(out, &first, "namespace", ns.ptr, ns.len);
    }
    if (rc == SPW_OK && (f & (1u << HEC_F_SET))) {
        spw_str set = spw_event_set(ev);
        if (set.ptr) /* no set: no field (an empty indexed field is refused) */
            rc = put_str(out, &first, "set", set.ptr, set.len);
    }
    if (rc == SPW_OK && (f & (1u << HEC_F_DIGEST))) {
        char hex[41];
        const uint8_t *d = spw_event_digest(ev);
        for (int i = 0; i < 20; i++)
            snprintf(hex + 2 * i, 3, "%02x", d[i]);
        rc = put_str(out, &first, "digest", hex, 40);
    }
    if (rc == SPW_OK && (f & (1u << HEC_F_MSG))) {
        const char *m = spw_event_op(ev) == SPW_OP_DELETE ? "delete" : "write";
        rc = put_str(out, &first, "msg", m, strlen(m));
    }
    if (rc == SPW_OK && (f & (1u << HEC_F_GEN))) {
        char g[16];
        int n = snprintf(g, sizeof g, "%" PRIu32, spw_event_generation(ev));
        rc = put_str(out, &first, "gen", g, (size_t)n);
    }
    if (rc == SPW_OK)
        rc = spw_buf_append(out, "}", 1);
    return rc;
}

/* A JSON object, as far as a quick look can tell: '{' ... '}' around optional white space. */
static bool is_object(spw_slice r) {
    size_t a = 0, b = r.len;
    while (a < b && (r.ptr[a] == ' ' || r.ptr[a] == '\n' || r.ptr[a] == '\r' || r.ptr[a] == '\t'))
        a++;
    while (b > a && (r.ptr[b - 1] == ' ' || r.ptr[b - 1] == '\n' || r.ptr[b - 1] == '\r' ||
                     r.ptr[b - 1] == '\t'))
        b--;
    return b - a >= 2 && r.ptr[a] == '{' && r.ptr[b - 1] == '}';
}

spw_result hec_envelope(const hec_meta *m, const spw_event *ev, spw_slice rec, spw_buf *out) {
    if (!is_object(rec))
        return SPW_REJECT;
    size_t start = out->len;
    int64_t lut = spw_event_lut_ms(ev);
    spw_result rc;
    if (lut > 0)
        rc = spw_buf_printf(out, "{\"time\":%" PRId64 ".%03d", lut / 1000, (int)(lut % 1000));
    else
        rc = spw_buf_append(out, "{", 1);
    bool first = lut <= 0; /* nothing written after '{' yet */
    /* put_tpl writes a leading comma: with no time, open with the first key instead. */
    const struct {
        const char *k;
        const spw_template *t;
    } keys[] = {{"host", m->host}, {"source", m->source}, {"sourcetype", m->sourcetype},
                {"index", m->index}};
    for (size_t i = 0; i < 4 && rc == SPW_OK; i++) {
        if (!keys[i].t)
            continue;
        size_t at = out->len;
        rc = put_tpl(out, keys[i].k, keys[i].t, ev);
        if (rc == SPW_OK && first) {
            memmove(out->data + at, out->data + at + 1, out->len - at - 1);
            out->len--;
            first = false;
        }
    }
    if (rc == SPW_OK)
        rc = spw_buf_append(out, first ? "\"event\":" : ",\"event\":", first ? 8 : 9);
    if (rc == SPW_OK)
        rc = spw_buf_append(out, rec.ptr, rec.len);
    if (rc == SPW_OK)
        rc = put_fields(out, m->fields, ev);
    if (rc == SPW_OK)
        rc = spw_buf_append(out, "}", 1);
    if (rc != SPW_OK)
        out->len = start;
    return rc;
}

/* Percent-encodes all but RFC 3986 unreserved bytes. */
static spw_result url_escape(spw_buf *out, const uint8_t *p, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    spw_result rc = SPW_OK;
    for (size_t i = 0; i < n && rc == SPW_OK; i++) {
        uint8_t c = p[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~')
            rc = spw_buf_append(out, &c, 1);
        else
            rc = spw_buf_append(out, (char[3]){'%', hex[c >> 4], hex[c & 15]}, 3);
    }
    return rc;
}

spw_result hec_raw_query(const hec_meta *m, const spw_event *ev, const char *channel,
                         spw_buf *scratch, spw_buf *out) {
    spw_result rc = spw_buf_append(out, "/services/collector/raw", 23);
    char sep = '?';
    const struct {
        const char *k;
        const spw_template *t;
    } keys[] = {{"host", m->host}, {"source", m->source}, {"sourcetype", m->sourcetype},
                {"index", m->index}};
    for (size_t i = 0; i < 4 && rc == SPW_OK; i++) {
        if (!keys[i].t)
            continue;
        rc = spw_buf_printf(out, "%c%s=", sep, keys[i].k);
        spw_buf_reset(scratch);
        if (rc == SPW_OK)
            rc = spw_template_render(keys[i].t, ev, SPW_TPL_RAW, scratch);
        if (rc == SPW_OK)
            rc = url_escape(out, scratch->data, scratch->len);
        sep = '&';
    }
    if (rc == SPW_OK && channel)
        rc = spw_buf_printf(out, "%cchannel=%s", sep, channel);
    if (rc == SPW_OK)
        rc = spw_buf_append(out, "", 1);
    return rc;
}

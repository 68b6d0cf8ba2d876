/*
 * plugins/sink-elasticsearch/bulk.c: a batch as a `_bulk` body.
 *
 * Each record becomes an action line and, but for a delete, a source
 * line, each ending in '\n' (the bulk API requires the final newline):
 *
 *   {"index":{"_index":"I","_id":"ID","version":LUT,"version_type":"external_gte"}}
 *   {...the codec's JSON object for the record...}
 *   {"delete":{"_index":"I","_id":"ID","version":LUT,"version_type":"external_gte"}}
 *
 * The version is the record's last-update time (Unix ms), so an older
 * change can never replace a newer one whatever order they arrive in, and
 * a delete carries it too: the tombstone it leaves (kept for
 * index.gc_deletes) refuses an older write that arrives after it.
 *
 * Index names follow Elasticsearch's rules (lowercase; none of
 * \ / * ? " < > | space , # :; not starting with - _ +; not . or ..; at
 * most 255 bytes): the template's literal text is checked once, at
 * --check, and the namespace and set values are made to fit per record,
 * so a set name can never make a request the cluster refuses as a whole.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "es.h"

/* ---------------------------------------------------------------------- */
/* Index name template                                                     */
/* ---------------------------------------------------------------------- */

static bool forbidden(unsigned char c) {
    return c < 0x20 || c == 0x7f || strchr("\\/*?\"<>| ,#:", c) != NULL;
}

void es_tpl_free(es_tpl *t) {
    spw_template_free(t->t);
    t->t = NULL;
    spw_buf_free(&t->key);
    spw_buf_free(&t->name);
    t->cached = false;
}

/* True when every ${...} of src is ${namespace} or ${set}. */
static bool only_ns_set(const char *src) {
    for (const char *p = strstr(src, "${"); p; p = strstr(p, "${")) {
        const char *end = strchr(p, '}');
        size_t n = end ? (size_t)(end - p - 2) : 0;
        if (!(n == 9 && !memcmp(p + 2, "namespace", 9)) && !(n == 3 && !memcmp(p + 2, "set", 3)))
            return false;
        p = end ? end + 1 : p + 2;
    }
    return true;
}

spw_result es_tpl_compile(es_tpl *t, const char *src, spw_err *err) {
    memset(t, 0, sizeof *t);
    if (!src || !*src)
        return spw_err_set(err, SPW_ERR_CONFIG, "index: empty");
    spw_err e2;
    if (spw_template_new(src, &t->t, &e2) != SPW_OK)
        return spw_err_set(err, SPW_ERR_CONFIG, "index: %s", e2.msg);
    /* The literal text, outside ${...}, is the user's: refuse what the cluster would refuse. */
    bool first = true;
    for (const char *p = src; *p;) {
        if (p[0] == '$' && p[1] == '{') {
            p = strchr(p, '}') + 1; /* the SDK checked that it is closed */
            first = false;
            continue;
        }
        unsigned char c = (unsigned char)*p;
        if (c >= 'A' && c <= 'Z')
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "index '%s': Elasticsearch index names are lowercase", src);
        if (forbidden(c))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "index '%s': '%c' is not allowed in an Elasticsearch index "
                               "name (none of \\ / * ? \" < > | space , # :)",
                               src, c < 0x20 ? '?' : c);
        if (first && p == src && strchr("-_+", c))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "index '%s': an index name cannot start with '-', '_' or '+'", src);
        p++;
    }
    if (spw_template_is_constant(t->t) && (!strcmp(src, ".") || !strcmp(src, "..")))
        return spw_err_set(err, SPW_ERR_CONFIG, "index '%s': not a valid index name", src);
    if (spw_template_is_constant(t->t) && strlen(src) > ES_INDEX_MAX)
        return spw_err_set(err, SPW_ERR_CONFIG, "index: longer than %d bytes", ES_INDEX_MAX);
    t->by_ns_set = only_ns_set(src);
    return SPW_OK;
}

/* Length of the well-formed UTF-8 sequence at p (1..4), 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n) {
    unsigned char c = p[0];
    size_t k;
    if (c < 0x80)
        return 1;
    else if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef)
        k = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        k = 4;
    else
        return 0;
    return k <= n && spw_utf8_valid(p, k) ? k : 0;
}

static spw_result render_index(const es_tpl *t, const spw_event *ev, spw_buf *out,
                               const char **why);

spw_result es_index_name(es_tpl *t, const spw_event *ev, spw_buf *out, const char **why) {
    if (!t->by_ns_set)
        return render_index(t, ev, out, why);
    spw_str ns = spw_event_namespace(ev), set = spw_event_set(ev);
    if (t->cached && t->ns_len == ns.len && t->key.len == ns.len + set.len &&
        t->set_null == (set.ptr == NULL) && (!ns.len || !memcmp(t->key.data, ns.ptr, ns.len)) &&
        (!set.len || !memcmp(t->key.data + ns.len, set.ptr, set.len))) {
        if (t->rc != SPW_OK) {
            *why = t->why;
            return t->rc;
        }
        return spw_buf_append(out, t->name.data, t->name.len);
    }
    size_t start = out->len;
    spw_result rc = render_index(t, ev, out, why);
    if (rc != SPW_OK && rc != SPW_REJECT)
        return rc; /* out of memory: nothing to remember */
    t->cached = false;
    spw_buf_reset(&t->key);
    spw_buf_reset(&t->name);
    if (spw_buf_append(&t->key, ns.ptr, ns.len) != SPW_OK ||
        spw_buf_append(&t->key, set.ptr, set.len) != SPW_OK ||
        (rc == SPW_OK && spw_buf_append(&t->name, out->data + start, out->len - start) != SPW_OK))
        return rc; /* the result stands; only the cache is left empty */
    t->ns_len = ns.len;
    t->set_null = set.ptr == NULL;
    t->rc = rc;
    t->why = rc == SPW_OK ? NULL : *why;
    t->cached = true;
    return rc;
}

static spw_result render_index(const es_tpl *t, const spw_event *ev, spw_buf *out,
                               const char **why) {
    size_t start = out->len;
    spw_result rc = spw_template_render(t->t, ev, SPW_TPL_RAW, out);
    if (rc != SPW_OK) {
        out->len = start;
        return rc;
    }
    /* In place, one byte for one: the literal text passes unchanged (checked at load), the
     * values are lowercased, forbidden bytes and invalid UTF-8 become '_'. */
    unsigned char *s = out->data + start;
    size_t n = out->len - start;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_len(s + i, n - i);
        if (k == 0) {
            s[i] = '_';
            k = 1;
        } else if (k == 1) {
            if (s[i] >= 'A' && s[i] <= 'Z')
                s[i] = (unsigned char)(s[i] - 'A' + 'a');
            else if (forbidden(s[i]))
                s[i] = '_';
        }
        i += k;
    }
    /* Leading - _ + are not allowed: drop them (only a value can bring them). */
    size_t lead = 0;
    while (lead < n && strchr("-_+", s[lead]))
        lead++;
    memmove(s, s + lead, n - lead);
    n -= lead;
    if (n > ES_INDEX_MAX) {
        n = ES_INDEX_MAX;
        while (n > 0 && (s[n] & 0xc0) == 0x80)
            n--; /* never cut a character in two */
    }
    out->len = start + n;
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
        out->len = start;
        *why = "the index name rendered from the namespace and set is empty or not valid";
        return SPW_REJECT;
    }
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Document ids                                                            */
/* ---------------------------------------------------------------------- */

static spw_result put_b64url(spw_buf *out, const uint8_t *p, size_t n) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    spw_result rc = spw_buf_reserve(out, (n + 2) / 3 * 4);
    if (rc != SPW_OK)
        return rc;
    char *o = (char *)out->data + out->len;
    size_t k = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        o[k++] = a[v >> 18];
        o[k++] = a[(v >> 12) & 63];
        o[k++] = a[(v >> 6) & 63];
        o[k++] = a[v & 63];
    }
    if (i < n) { /* unpadded (RFC 4648 section 5 allows it where the length is known) */
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0);
        o[k++] = a[v >> 18];
        o[k++] = a[(v >> 12) & 63];
        if (i + 1 < n)
            o[k++] = a[(v >> 6) & 63];
    }
    out->len += k;
    return SPW_OK;
}

/* JSON string contents (no quotes); the bytes are valid UTF-8, checked by the caller. */
static spw_result put_json(spw_buf *out, const char *p, size_t n) {
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        spw_result rc = spw_buf_append(out, p + run, i - run);
        if (rc == SPW_OK)
            rc = c == '"' ? spw_buf_append(out, "\\\"", 2)
                 : c == '\\' ? spw_buf_append(out, "\\\\", 2)
                             : spw_buf_printf(out, "\\u%04x", c);
        if (rc != SPW_OK)
            return rc;
        run = i + 1;
    }
    return spw_buf_append(out, p + run, n - run);
}

spw_result es_doc_id(int mode, const spw_event *ev, spw_buf *out, const char **why) {
    const uint8_t *d = spw_event_digest(ev);
    if (mode == ES_ID_DIGEST)
        return put_b64url(out, d, 20);
    if (mode == ES_ID_DIGEST_HEX) {
        static const char hx[] = "0123456789abcdef";
        char h[40];
        for (int i = 0; i < 20; i++) {
            h[2 * i] = hx[d[i] >> 4];
            h[2 * i + 1] = hx[d[i] & 15];
        }
        return spw_buf_append(out, h, 40);
    }
    spw_value k;
    if (!spw_event_key(ev, &k)) {
        *why = "id = key, but the record's user key was not shipped (store it with the record: "
               "the client's send-key policy)";
        return SPW_REJECT;
    }
    int64_t iv;
    spw_str sv;
    const uint8_t *bp;
    size_t bn;
    if (spw_value_int(&k, &iv) == SPW_OK)
        return spw_buf_printf(out, "%" PRId64, iv);
    if (spw_value_str(&k, &sv) == SPW_OK) {
        if (sv.len == 0 || sv.len > ES_ID_MAX) {
            *why = "the string user key is empty or longer than 512 bytes, Elasticsearch's _id limit";
            return SPW_REJECT;
        }
        if (!spw_utf8_valid(sv.ptr, sv.len)) {
            *why = "the string user key is not valid UTF-8, so it cannot be a JSON _id";
            return SPW_REJECT;
        }
        return put_json(out, sv.ptr, sv.len);
    }
    if (spw_value_bytes(&k, &bp, &bn) == SPW_OK) {
        if (bn == 0 || (bn + 2) / 3 * 4 > ES_ID_MAX) {
            *why = "the blob user key is empty or too long for a 512-byte _id in Base64url";
            return SPW_REJECT;
        }
        return put_b64url(out, bp, bn);
    }
    *why = "the user key is of a type that cannot be a document id";
    return SPW_REJECT;
}

/* ---------------------------------------------------------------------- */
/* Actions                                                                 */
/* ---------------------------------------------------------------------- */

static const char *const ver_names[] = {",\"version_type\":\"external_gte\"}}\n",
                                        ",\"version_type\":\"external\"}}\n"};

/* The codec's record, when it is one JSON object on one line (trailing whitespace cut). */
static bool one_line_object(spw_slice rec, size_t *len) {
    size_t n = rec.len;
    while (n > 0 && (rec.ptr[n - 1] == '\n' || rec.ptr[n - 1] == '\r' || rec.ptr[n - 1] == ' ' ||
                     rec.ptr[n - 1] == '\t'))
        n--;
    if (n < 2 || rec.ptr[0] != '{' || rec.ptr[n - 1] != '}')
        return false;
    /* Inside JSON strings a newline is always escaped: a raw one means pretty-printing. */
    if (memchr(rec.ptr, '\n', n) || memchr(rec.ptr, '\r', n))
        return false;
    *len = n;
    return true;
}

spw_result es_bulk_append(const struct es_conf *cf, es_tpl *tpl, const spw_event *ev,
                          spw_slice rec, spw_buf *body, spw_buf *scratch, enum es_action *act,
                          const char **why) {
    bool del = spw_event_op(ev) == SPW_OP_DELETE;
    size_t doc_len = 0;
    enum es_action a;
    if (del)
        a = cf->deletes == ES_DEL_SOFT ? ES_ACT_SOFT_DELETE : ES_ACT_DELETE;
    else
        a = cf->data_stream ? ES_ACT_CREATE : ES_ACT_INDEX;
    if (del && cf->deletes == ES_DEL_REFUSE) {
        *why = "deletes = reject: this sink does not apply deletes";
        return SPW_REJECT;
    }
    if (!del && !one_line_object(rec, &doc_len)) {
        *why = "the codec's output is not one JSON object on one line (use codec json or flat-json)";
        return SPW_REJECT;
    }
    /* index and id into scratch first: a record refused leaves the body untouched. */
    spw_buf_reset(scratch);
    spw_result rc = es_index_name(tpl, ev, scratch, why);
    if (rc != SPW_OK)
        return rc;
    size_t ilen = scratch->len;
    rc = spw_buf_append(scratch, "", 1);
    if (rc == SPW_OK)
        rc = es_doc_id(cf->id, ev, scratch, why);
    if (rc != SPW_OK)
        return rc;
    const char *idx = (const char *)scratch->data, *id = idx + ilen + 1;
    size_t idlen = scratch->len - ilen - 1;
    if (idlen > ES_ID_MAX) {
        *why = "the document id is longer than 512 bytes";
        return SPW_REJECT;
    }
    /* Appends only, no printf: this runs once per record. */
    static const char *const heads[] = {"{\"index\":{\"_index\":\"", "{\"create\":{\"_index\":\"",
                                        "{\"delete\":{\"_index\":\"", "{\"index\":{\"_index\":\""};
    size_t mark = body->len;
    rc = spw_buf_append(body, heads[a], strlen(heads[a]));
    if (rc == SPW_OK)
        rc = put_json(body, idx, ilen);
    if (rc == SPW_OK)
        rc = spw_buf_append(body, "\",\"_id\":\"", 9);
    if (rc == SPW_OK)
        rc = spw_buf_append(body, id, idlen);
    if (rc == SPW_OK && cf->versioning != ES_VER_NONE && !cf->data_stream) {
        int64_t v = spw_event_lut_ms(ev);
        char num[24], *e = num + sizeof num, *q = e;
        uint64_t u = v < 0 ? 0 : (uint64_t)v;
        do
            *--q = (char)('0' + u % 10);
        while (u /= 10);
        rc = spw_buf_append(body, "\",\"version\":", 12);
        if (rc == SPW_OK)
            rc = spw_buf_append(body, q, (size_t)(e - q));
        if (rc == SPW_OK)
            rc = spw_buf_append(body, ver_names[cf->versioning], strlen(ver_names[cf->versioning]));
    } else if (rc == SPW_OK) {
        rc = spw_buf_append(body, "\"}}\n", 4);
    }
    if (rc == SPW_OK && a == ES_ACT_SOFT_DELETE) {
        rc = spw_buf_append(body, "{\"", 2);
        if (rc == SPW_OK)
            rc = put_json(body, cf->soft_delete_field, strlen(cf->soft_delete_field));
        if (rc == SPW_OK)
            rc = spw_buf_append(body, "\":true}\n", 8);
    } else if (rc == SPW_OK && a != ES_ACT_DELETE) {
        rc = spw_buf_append(body, rec.ptr, doc_len);
        if (rc == SPW_OK)
            rc = spw_buf_append(body, "\n", 1);
    }
    if (rc != SPW_OK) {
        body->len = mark;
        return rc;
    }
    *act = a;
    return SPW_OK;
}

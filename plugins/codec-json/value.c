/*
 * plugins/codec-json/value.c: what the two JSON codecs (`json` and
 * `flat-json`) write the same way: scalars, strings under the UTF-8
 * policy, doubles under the non-finite policy, GeoJSON, lists and maps,
 * the user key, a bin's value, rejection messages, and batch framing.
 *
 * Everything is written straight into the caller's buffer as the event is
 * read: no tree, no allocation once the buffer has grown to its working
 * size. A record that cannot be written is rolled back by the caller
 * (jcodec_finish), so a rejected record never leaves half an object.
 *
 * Every rendering decision is stated next to the code that makes it, and
 * in doc/formats.md.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include "encode.h"

spw_result jcodec_init(jcodec *c, const jcodec_config *cfg) {
    c->cfg = *cfg;
    c->label = "json codec";
    c->id = NULL;
    c->id_name = (spw_str){NULL, 0};
    if (cfg->id_field && *cfg->id_field) {
        spw_err e;
        if (spw_template_new("${id}", &c->id, &e) != SPW_OK)
            return SPW_ERR_NOMEM;
        c->id_name = (spw_str){cfg->id_field, strlen(cfg->id_field)};
    }
    c->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    return c->c_locale ? SPW_OK : SPW_ERR_NOMEM;
}

void jcodec_fini(jcodec *c) {
    if (c->c_locale)
        freelocale(c->c_locale);
    c->c_locale = (locale_t)0;
    spw_template_free(c->id);
    c->id = NULL;
}

spw_result jcodec_check_id(const jcodec_config *cfg, const char *const *taken, spw_err *err) {
    const char *k = cfg->id_field;
    if (!k || !*k)
        return SPW_OK;
    if (!spw_utf8_valid(k, strlen(k)))
        return spw_err_set(err, SPW_ERR_CONFIG, "id_field is not valid UTF-8");
    for (; *taken; taken++)
        if (strcmp(k, *taken) == 0)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "id_field \"%s\" is the name of a member the codec already "
                               "writes; choose another (e.g. idempotencyKey)",
                               k);
    return SPW_OK;
}

spw_result jenc_id(jenc *e, const spw_event *ev, const char *pre, size_t plen) {
    spw_buf *b = e->out;
    size_t bad = 0;
    spw_result r = jcodec_put(b, pre, plen);
    if (r == SPW_OK)
        r = jcodec_put_string(b, (const uint8_t *)e->c->id_name.ptr, e->c->id_name.len, &bad);
    if (r == SPW_OK)
        r = JCODEC_LIT(b, ":\"");
    if (r == SPW_OK)
        r = spw_template_render(e->c->id, ev, SPW_TPL_JSON, b);
    return r == SPW_OK ? JCODEC_LIT(b, "\"") : r;
}

unsigned jcodec_meta_wanted(const spw_event *ev) {
    static const spw_meta fields[] = {SPW_META_NAMESPACE, SPW_META_SET, SPW_META_KEY,
                                      SPW_META_DIGEST,    SPW_META_MSG, SPW_META_GEN,
                                      SPW_META_LUT,       SPW_META_EXP, SPW_META_DURABLE};
    unsigned all = 0, m = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        all |= (unsigned)fields[i];
    /* One call answers the usual case: nothing excluded. */
    if (spw_event_meta_wanted(ev, (spw_meta)all))
        return all;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (spw_event_meta_wanted(ev, fields[i]))
            m |= (unsigned)fields[i];
    return m;
}

spw_result jenc_reject(jenc *e, const char *fmt, ...) {
    if (!e->err)
        return SPW_REJECT;
    char where[96], why[256];
    if (e->name.ptr) {
        char clean[68];
        snprintf(where, sizeof where, "%s \"%s\"", e->what,
                 spw_printable(clean, sizeof clean, e->name.ptr, e->name.len, 64));
    } else
        snprintf(where, sizeof where, "%s", e->what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return spw_err_set(e->err, SPW_REJECT, "%s: %s: %s", e->c->label, where, why);
}

/* ---- scalars ---- */

static spw_result put_bool(spw_buf *b, bool v) {
    return v ? JCODEC_LIT(b, "true") : JCODEC_LIT(b, "false");
}

spw_result jenc_b64(spw_buf *b, const uint8_t *p, size_t n) {
    spw_result r = JCODEC_LIT(b, "\"");
    if (r == SPW_OK)
        r = spw_buf_append_base64(b, p, n);
    if (r == SPW_OK)
        r = JCODEC_LIT(b, "\"");
    return r;
}

/*
 * Doubles: shortest round-trip text, always with '.' or an exponent
 * ("1.0", "0.1", "1e+300"). NaN and infinities have no JSON number:
 * non_finite = string writes "NaN", "Infinity", "-Infinity" (the spelling
 * Java and JavaScript use); null writes null; reject rejects the record.
 * A map key is always a string, so there null mode also uses the names.
 */
static spw_result put_double(jenc *e, double d, bool key) {
    spw_buf *b = e->out;
    if (isfinite(d)) {
        spw_result r = jcodec_room(b, JCODEC_DOUBLE_MAX + 2);
        if (r != SPW_OK)
            return r;
        char *o = (char *)b->data + b->len;
        size_t n = 0;
        if (key)
            o[n++] = '"';
        n += jcodec_fmt_double(o + n, d, e->c->c_locale);
        if (key)
            o[n++] = '"';
        b->len += n;
        return SPW_OK;
    }
    if (e->c->cfg.non_finite == JCODEC_NONFINITE_REJECT)
        return jenc_reject(e, "a double is %s, which JSON cannot represent (non_finite = reject)",
                      isnan(d) ? "NaN" : d > 0 ? "+infinity" : "-infinity");
    if (e->c->cfg.non_finite == JCODEC_NONFINITE_NULL && !key)
        return JCODEC_LIT(b, "null");
    if (isnan(d))
        return JCODEC_LIT(b, "\"NaN\"");
    return d > 0 ? JCODEC_LIT(b, "\"Infinity\"") : JCODEC_LIT(b, "\"-Infinity\"");
}

/*
 * A string value under invalid_utf8: replace writes each ill-formed
 * subsequence as U+FFFD; base64 writes the raw bytes as a Base64 string
 * instead (and *as_b64 tells a top-level bin to say "blob"); reject
 * rejects the record. Well-formed text costs one pass in every mode.
 */
JCODEC_INLINE spw_result put_text_pre(jenc *e, const char *pre, size_t plen, const uint8_t *s,
                                      size_t n, bool *as_b64) {
    size_t mark = e->out->len + plen, bad = 0;
    spw_result r = jcodec_put_str_pre(e->out, pre, plen, s, n, &bad);
    if (r != SPW_OK || bad == 0)
        return r;
    switch (e->c->cfg.invalid_utf8) {
    case JCODEC_UTF8_BASE64:
        e->out->len = mark;
        if (as_b64)
            *as_b64 = true;
        return jenc_b64(e->out, s, n);
    case JCODEC_UTF8_REJECT:
        return jenc_reject(e, "a string is not valid UTF-8 (%zu ill-formed sequence%s; invalid_utf8 = reject)",
                      bad, bad == 1 ? "" : "s");
    default:
        return SPW_OK;
    }
}

JCODEC_INLINE spw_result put_text(jenc *e, const uint8_t *s, size_t n, bool *as_b64) {
    return put_text_pre(e, "", 0, s, n, as_b64);
}

/* Names (namespace, set, bin): jenc_name in encode.h. */
spw_result jenc_name_bad(jenc *e) {
    return jenc_reject(e, "the name is not valid UTF-8 (invalid_utf8 = reject)");
}

/*
 * GeoJSON text, from a bin or from inside a collection: embedded as an
 * object when it is one (strict JSON, see embed.c), otherwise written as
 * a JSON string holding the text, so the record stays valid.
 */
static spw_result put_geojson_text(jenc *e, const uint8_t *p, size_t n) {
    spw_result r = jcodec_embed_object(e->out, p, n, e->c->c_locale);
    if (r == SPW_ERR_INVAL)
        return put_text(e, p, n, NULL);
    return r;
}

/* ---- lists and maps ---- */

/* "an integer", "a list"...: what a walked item is, for error text. */
static const char *item_kind_name(spw_item_kind k) {
    switch (k) {
    case SPW_ITEM_NIL: return "nil";
    case SPW_ITEM_BOOL: return "a boolean";
    case SPW_ITEM_INT: case SPW_ITEM_UINT: return "an integer";
    case SPW_ITEM_DOUBLE: return "a double";
    case SPW_ITEM_STR: return "a string";
    case SPW_ITEM_BYTES: return "a blob";
    case SPW_ITEM_LIST: return "a list";
    case SPW_ITEM_MAP: return "a map";
    case SPW_ITEM_EXT: return "an extension value";
    }
    return "an unknown item";
}

/* Like item_kind_name, telling GeoJSON from other bytes. */
static const char *key_kind_name(const spw_item *it) {
    if (it->kind == SPW_ITEM_BYTES && it->u.bytes.ptype == SPW_PT_GEOJSON)
        return "a GeoJSON value";
    return item_kind_name(it->kind);
}

/*
 * A map key. JSON keys are strings; others are turned into one when
 * stringify_map_keys is on: integers in decimal, doubles as their
 * shortest round-trip text, blobs in Base64, GeoJSON as its text,
 * true/false, nil and extension values (wildcard, infinity) as "null".
 * Lists and maps as keys have no sensible text form: they reject.
 * Distinct keys may collide after this (1 and "1"); JSON readers then
 * keep one of them, usually the last.
 */
static spw_result put_key(jenc *e, const spw_item *it) {
    spw_buf *b = e->out;
    if (it->kind == SPW_ITEM_STR)
        return put_text(e, it->u.bytes.ptr, it->u.bytes.len, NULL);
    if (it->kind == SPW_ITEM_LIST || it->kind == SPW_ITEM_MAP)
        return jenc_reject(e, "a map key is %s, which cannot be a JSON object key",
                      item_kind_name(it->kind));
    if (!e->c->cfg.stringify_map_keys)
        return jenc_reject(e, "a map key is %s and stringify_map_keys is off", key_kind_name(it));
    spw_result r;
    switch (it->kind) {
    case SPW_ITEM_INT:
        if ((r = JCODEC_LIT(b, "\"")) == SPW_OK && (r = jenc_i64(b, it->u.i)) == SPW_OK)
            r = JCODEC_LIT(b, "\"");
        return r;
    case SPW_ITEM_UINT:
        if ((r = JCODEC_LIT(b, "\"")) == SPW_OK && (r = jenc_u64(b, it->u.u)) == SPW_OK)
            r = JCODEC_LIT(b, "\"");
        return r;
    case SPW_ITEM_DOUBLE: return put_double(e, it->u.d, true);
    case SPW_ITEM_BOOL: return it->u.b ? JCODEC_LIT(b, "\"true\"") : JCODEC_LIT(b, "\"false\"");
    case SPW_ITEM_BYTES:
        if (it->u.bytes.ptype == SPW_PT_GEOJSON)
            return put_text(e, it->u.bytes.ptr, it->u.bytes.len, NULL);
        return jenc_b64(b, it->u.bytes.ptr, it->u.bytes.len);
    default: /* nil, extension values */
        return JCODEC_LIT(b, "\"null\"");
    }
}

/*
 * A scalar inside a list or map: numbers, true/false, null; strings as
 * strings; blobs of any kind (and HLL, vectors) as Base64 strings;
 * GeoJSON as an object (or its text as a string, see put_geojson_text);
 * integers above INT64_MAX as plain JSON numbers, exact; extension values
 * (wildcard, infinity: query operands, never stored data) as null.
 */
static spw_result put_element(jenc *e, const spw_item *it) {
    spw_buf *b = e->out;
    switch (it->kind) {
    case SPW_ITEM_NIL: return JCODEC_LIT(b, "null");
    case SPW_ITEM_BOOL: return put_bool(b, it->u.b);
    case SPW_ITEM_INT: return jenc_i64(b, it->u.i);
    case SPW_ITEM_UINT: return jenc_u64(b, it->u.u);
    case SPW_ITEM_DOUBLE: return put_double(e, it->u.d, false);
    case SPW_ITEM_STR: return put_text(e, it->u.bytes.ptr, it->u.bytes.len, NULL);
    case SPW_ITEM_BYTES:
        if (it->u.bytes.ptype == SPW_PT_GEOJSON)
            return put_geojson_text(e, it->u.bytes.ptr, it->u.bytes.len);
        return jenc_b64(b, it->u.bytes.ptr, it->u.bytes.len);
    default: /* SPW_ITEM_EXT; containers are handled by the caller */
        return JCODEC_LIT(b, "null");
    }
}

/* One open list or map while walking: how many of its items are still to
 * come, and how many were written (for commas, and key vs value). */
typedef struct frame {
    uint64_t left;
    uint64_t done;
    bool map;
} frame;

/*
 * Writes a LIST or MAP bin value as a JSON array or object. The walker
 * is flat (pre-order), so the nesting lives in a small stack here: each
 * item first takes its place in the innermost open container (comma,
 * or key then ':'), then closes every container it completed. Only the
 * top-level order flags are reported (*order); nested lists and maps
 * are written as plain arrays and objects, in their stored order.
 */
static spw_result put_collection(jenc *e, const spw_value *v, uint8_t *order) {
    spw_buf *b = e->out;
    spw_walker w;
    spw_item it;
    frame stk[SPW_WALK_MAX_DEPTH + 1];
    unsigned sp = 0;
    bool first = true;
    spw_result r;
    const char *kind = v->type == SPW_PT_MAP ? "map" : "list";

    if (spw_walk_init(&w, v) != SPW_OK)
        return jenc_reject(e, "the %s value is malformed", kind);
    for (;;) {
        r = spw_walk_next(&w, &it);
        if (r == SPW_ERR_NOTFOUND && sp == 0 && !first)
            return SPW_OK;
        if (r != SPW_OK)
            return jenc_reject(e, "the %s value is malformed or truncated", kind);
        if (first) {
            spw_item_kind want = v->type == SPW_PT_MAP ? SPW_ITEM_MAP : SPW_ITEM_LIST;
            if (it.kind != want)
                return jenc_reject(e, "the %s value holds %s", kind, item_kind_name(it.kind));
            *order = it.u.coll.order;
        } else if (sp == 0) {
            return jenc_reject(e, "the %s value has bytes after its end", kind);
        }
        first = false;
        if (it.depth != sp) /* the walker and this stack disagree: do not guess */
            return jenc_reject(e, "the %s value is malformed (nesting)", kind);

        if (sp > 0) {
            frame *f = &stk[sp - 1];
            bool is_key = f->map && (f->done & 1) == 0;
            bool comma = f->done && (is_key || !f->map);
            f->done++;
            f->left--;
            if (it.kind == SPW_ITEM_STR) { /* the common item: its comma in the same copy */
                const uint8_t *p = it.u.bytes.ptr;
                size_t n = it.u.bytes.len;
                r = comma ? put_text_pre(e, ",", 1, p, n, NULL) : put_text(e, p, n, NULL);
                if (r == SPW_OK && is_key)
                    r = JCODEC_LIT(b, ":");
                if (r != SPW_OK)
                    return r;
                if (is_key)
                    continue; /* a key never completes a map: its value follows */
                goto written;
            }
            if (comma && (r = JCODEC_LIT(b, ",")) != SPW_OK)
                return r;
            if (is_key) {
                if ((r = put_key(e, &it)) != SPW_OK || (r = JCODEC_LIT(b, ":")) != SPW_OK)
                    return r;
                continue; /* a key never completes a map: its value follows */
            }
        }

        if (it.kind == SPW_ITEM_LIST || it.kind == SPW_ITEM_MAP) {
            bool map = it.kind == SPW_ITEM_MAP;
            uint64_t n = (uint64_t)it.u.coll.count * (map ? 2 : 1);
            if (n > 0) {
                if (sp > SPW_WALK_MAX_DEPTH)
                    return jenc_reject(e, "the %s value nests too deeply", kind);
                if ((r = map ? JCODEC_LIT(b, "{") : JCODEC_LIT(b, "[")) != SPW_OK)
                    return r;
                stk[sp++] = (frame){n, 0, map};
                continue;
            }
            r = map ? JCODEC_LIT(b, "{}") : JCODEC_LIT(b, "[]");
        } else
            r = put_element(e, &it);
        if (r != SPW_OK)
            return r;
    written:
        while (sp > 0 && stk[sp - 1].left == 0) {
            if ((r = stk[sp - 1].map ? JCODEC_LIT(b, "}") : JCODEC_LIT(b, "]")) != SPW_OK)
                return r;
            sp--;
        }
        /* The value is complete: the walker's next answer would be "no more"
         * when its bytes are all read and an error otherwise (bytes after
         * the value), which its public cursor says without another call. */
        if (sp == 0)
            return w.p == w.end ? SPW_OK
                                : jenc_reject(e, "the %s value is malformed or truncated", kind);
    }
}

/* User key: integer and double as numbers, string as a string (under
 * invalid_utf8: base64 makes it a Base64 string), blob as Base64, none as
 * null. Any other type (a source should not send one) goes as Base64. */
spw_result jenc_user_key(jenc *e, const spw_event *ev) {
    spw_buf *b = e->out;
    spw_value k;
    e->what = "user key";
    e->name = (spw_str){NULL, 0};
    if (!spw_event_key(ev, &k))
        return JCODEC_LIT(b, "null");
    switch (k.type) {
    case SPW_PT_INTEGER: {
        int64_t i;
        if (spw_value_int(&k, &i) != SPW_OK)
            return jenc_reject(e, "malformed integer (%zu bytes)", k.len);
        return jenc_i64(b, i);
    }
    case SPW_PT_DOUBLE: {
        double d;
        if (spw_value_double(&k, &d) != SPW_OK)
            return jenc_reject(e, "malformed double (%zu bytes)", k.len);
        return put_double(e, d, false);
    }
    case SPW_PT_STRING: {
        spw_str s;
        if (spw_value_str(&k, &s) != SPW_OK)
            return jenc_reject(e, "malformed string");
        return put_text(e, (const uint8_t *)s.ptr, s.len, NULL);
    }
    default:
        return jenc_b64(b, k.data, k.data ? k.len : 0);
    }
}


/* ---- a bin's value ---- */

spw_result jenc_bin_value(jenc *e, const spw_bin *bin, jbin_info *info) {
    spw_buf *b = e->out;
    const spw_value *v = &bin->value;
    info->order = 0;
    info->as_b64 = false;

    switch (v->type) {
    case SPW_PT_NIL: /* a bin deleted (bin-level shipping) */
        return JCODEC_LIT(b, "null");
    case SPW_PT_INTEGER: {
        int64_t i;
        if (spw_value_int(v, &i) != SPW_OK)
            return jenc_reject(e, "malformed integer value (%zu bytes)", v->len);
        return jenc_i64(b, i);
    }
    case SPW_PT_DOUBLE: {
        double d;
        if (spw_value_double(v, &d) != SPW_OK)
            return jenc_reject(e, "malformed double value (%zu bytes)", v->len);
        return put_double(e, d, false);
    }
    case SPW_PT_BOOL: {
        bool x;
        if (spw_value_bool(v, &x) != SPW_OK)
            return jenc_reject(e, "malformed boolean value (%zu bytes)", v->len);
        return put_bool(b, x);
    }
    case SPW_PT_STRING: {
        spw_str s;
        if (spw_value_str(v, &s) != SPW_OK)
            return jenc_reject(e, "malformed string value");
        return put_text(e, (const uint8_t *)s.ptr, s.len, &info->as_b64);
    }
    case SPW_PT_BLOB:
    case SPW_PT_JBLOB:
    case SPW_PT_CSBLOB:
    case SPW_PT_PYBLOB:
    case SPW_PT_RBBLOB:
    case SPW_PT_PHPBLOB:
    case SPW_PT_ERLBLOB:
    case SPW_PT_VECTOR:
    case SPW_PT_HLL: {
        const uint8_t *p;
        size_t n;
        if (spw_value_bytes(v, &p, &n) != SPW_OK)
            return jenc_reject(e, "malformed %s value", spw_particle_name(v->type));
        return jenc_b64(b, p, n);
    }
    case SPW_PT_LIST:
    case SPW_PT_MAP:
        return put_collection(e, v, &info->order);
    case SPW_PT_GEOJSON: {
        spw_geojson g;
        if (spw_value_geojson(v, &g) != SPW_OK)
            return jenc_reject(e, "malformed GeoJSON value (%zu bytes)", v->len);
        return put_geojson_text(e, (const uint8_t *)g.text.ptr, g.text.len);
    }
    default: /* unknown particle type: the raw bytes, losslessly */
        return jenc_b64(b, v->data, v->data ? v->len : 0);
    }
}

/* ---- finishing a record ---- */

spw_result jcodec_finish(const jcodec *c, spw_buf *out, size_t start, spw_result r, spw_err *err) {
    if (r == SPW_OK)
        return SPW_OK;
    out->len = start;
    if (r == SPW_ERR_NOSPACE) /* will never fit, however often it is retried */
        return spw_err_set(err, SPW_REJECT, "%s: the record encodes to more than %zu bytes",
                           c->label, (size_t)SPW_BUF_MAX);
    if (r < 0)
        return spw_err_set(err, r, "%s: %s", c->label, spw_result_str(r));
    return r;
}

/* ---- batches ---- */

/* NDJSON: each record then "\n" (records never contain a raw newline:
 * strings escape it, GeoJSON is minified). Array: "[" r1 "," r2 "]". */
spw_result jcodec_frame(const jcodec *c, const spw_slice *recs, size_t n, spw_buf *out,
                        spw_err *err) {
    bool array = c->cfg.batch_format == JCODEC_BATCH_ARRAY;
    size_t total = 2;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len > SPW_BUF_MAX - total - 1)
            return spw_err_set(err, SPW_REJECT, "%s: the batch is larger than %zu bytes",
                               c->label, (size_t)SPW_BUF_MAX);
        total += recs[i].len + 1;
    }
    spw_result r = spw_buf_reserve(out, total);
    if (r != SPW_OK)
        return spw_err_set(err, r, "%s: cannot frame the batch: %s", c->label,
                           spw_result_str(r));
    uint8_t *o = out->data + out->len;
    if (array)
        *o++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (array && i)
            *o++ = ',';
        if (recs[i].len)
            memcpy(o, recs[i].ptr, recs[i].len);
        o += recs[i].len;
        if (!array)
            *o++ = '\n';
    }
    if (array)
        *o++ = ']';
    out->len = (size_t)(o - out->data);
    return SPW_OK;
}

const char *jcodec_content_type(const jcodec *c, bool batch) {
    if (batch && c->cfg.batch_format == JCODEC_BATCH_NDJSON)
        return "application/x-ndjson";
    return "application/json";
}

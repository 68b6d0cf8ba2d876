/*
 * plugins/codec-json/encode.c: one event -> the vendor's typed JSON
 * (`json` format of Aerospike Connect for ESP), and the batch framing.
 *
 *   write:  {"msg":"write","key":[NS,SET|null,DIGEST,USERKEY|null],
 *            "gen":G,"exp":E,"lut":L,"bins":[BIN,...]}
 *   delete: {"msg":"delete","key":[...],"durable":B[,"gen":G,"lut":L]}
 *   BIN:    {"name":N,"type":T,"value":V[,"ordered":B|,"order":O][,"ptype":P][,"lut":MS]}
 *
 * The JSON is written straight into the caller's buffer as the event is
 * read: no tree, no allocation once the buffer has grown to its working
 * size. Anything that cannot be written (a policy says reject, a value is
 * malformed) rolls the buffer back to where the record started, so a
 * rejected record never leaves half an object behind.
 *
 * Every rendering decision is listed in doc comments next to the code
 * that makes it, and in the plugin's documentation.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include "encode.h"

spw_result jcodec_init(jcodec *c, const jcodec_config *cfg) {
    c->cfg = *cfg;
    c->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    return c->c_locale ? SPW_OK : SPW_ERR_NOMEM;
}

void jcodec_fini(jcodec *c) {
    if (c->c_locale)
        freelocale(c->c_locale);
    c->c_locale = (locale_t)0;
}

/* State of one encode call. */
typedef struct enc {
    const jcodec *c;
    spw_buf *out;
    spw_err *err;
    const char *what;  /* "bin", "user key", "namespace", "set": for error text */
    spw_str name;      /* the bin's name when what is "bin" */
} enc;

/*
 * Rejects the record with a sentence naming where the problem is. Names
 * come from the wire, so they are shown with anything unprintable as '?'
 * and cut at 64 bytes: an error message must not carry terminal escapes.
 */
static spw_result reject(enc *e, const char *fmt, ...) SPW_PRINTF(2, 3);
static spw_result reject(enc *e, const char *fmt, ...) {
    if (!e->err)
        return SPW_REJECT;
    char where[96], why[256];
    if (e->name.ptr) {
        char clean[65];
        size_t n = e->name.len < 64 ? e->name.len : 64;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)e->name.ptr[i];
            clean[i] = ch >= 0x20 && ch < 0x7F ? (char)ch : '?';
        }
        clean[n] = '\0';
        snprintf(where, sizeof where, "%s \"%s\"%s", e->what, clean, e->name.len > 64 ? "..." : "");
    } else
        snprintf(where, sizeof where, "%s", e->what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return spw_err_set(e->err, SPW_REJECT, "json codec: %s: %s", where, why);
}

/* ---- scalars ---- */

static spw_result put_i64(spw_buf *b, int64_t v) {
    spw_result r = jcodec_room(b, 20);
    if (r == SPW_OK)
        b->len += jcodec_fmt_i64((char *)b->data + b->len, v);
    return r;
}

static spw_result put_u64(spw_buf *b, uint64_t v) {
    spw_result r = jcodec_room(b, 20);
    if (r == SPW_OK)
        b->len += jcodec_fmt_u64((char *)b->data + b->len, v);
    return r;
}

static spw_result put_bool(spw_buf *b, bool v) {
    return v ? JCODEC_LIT(b, "true") : JCODEC_LIT(b, "false");
}

static spw_result put_b64(spw_buf *b, const uint8_t *p, size_t n) {
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
static spw_result put_double(enc *e, double d, bool key) {
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
        return reject(e, "a double is %s, which JSON cannot represent (non_finite = reject)",
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
static spw_result put_text(enc *e, const uint8_t *s, size_t n, bool *as_b64) {
    size_t mark = e->out->len, bad = 0;
    spw_result r = jcodec_put_string(e->out, s, n, &bad);
    if (r != SPW_OK || bad == 0)
        return r;
    switch (e->c->cfg.invalid_utf8) {
    case JCODEC_UTF8_BASE64:
        e->out->len = mark;
        if (as_b64)
            *as_b64 = true;
        return put_b64(e->out, s, n);
    case JCODEC_UTF8_REJECT:
        return reject(e, "a string is not valid UTF-8 (%zu ill-formed sequence%s; invalid_utf8 = reject)",
                      bad, bad == 1 ? "" : "s");
    default:
        return SPW_OK;
    }
}

/* Names (namespace, set, bin) keep their place as strings: base64 mode
 * cannot apply, so there they are repaired; only reject mode rejects. */
static spw_result put_name(enc *e, spw_str s) {
    size_t bad = 0;
    spw_result r = jcodec_put_string(e->out, (const uint8_t *)s.ptr, s.len, &bad);
    if (r == SPW_OK && bad && e->c->cfg.invalid_utf8 == JCODEC_UTF8_REJECT)
        return reject(e, "the name is not valid UTF-8 (invalid_utf8 = reject)");
    return r;
}

/*
 * GeoJSON text, from a bin or from inside a collection: embedded as an
 * object when it is one (strict JSON, see embed.c), otherwise written as
 * a JSON string holding the text, so the record stays valid.
 */
static spw_result put_geojson_text(enc *e, const uint8_t *p, size_t n) {
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
static spw_result put_key(enc *e, const spw_item *it) {
    spw_buf *b = e->out;
    if (it->kind == SPW_ITEM_STR)
        return put_text(e, it->u.bytes.ptr, it->u.bytes.len, NULL);
    if (it->kind == SPW_ITEM_LIST || it->kind == SPW_ITEM_MAP)
        return reject(e, "a map key is %s, which cannot be a JSON object key",
                      item_kind_name(it->kind));
    if (!e->c->cfg.stringify_map_keys)
        return reject(e, "a map key is %s and stringify_map_keys is off", key_kind_name(it));
    spw_result r;
    switch (it->kind) {
    case SPW_ITEM_INT:
        if ((r = JCODEC_LIT(b, "\"")) == SPW_OK && (r = put_i64(b, it->u.i)) == SPW_OK)
            r = JCODEC_LIT(b, "\"");
        return r;
    case SPW_ITEM_UINT:
        if ((r = JCODEC_LIT(b, "\"")) == SPW_OK && (r = put_u64(b, it->u.u)) == SPW_OK)
            r = JCODEC_LIT(b, "\"");
        return r;
    case SPW_ITEM_DOUBLE: return put_double(e, it->u.d, true);
    case SPW_ITEM_BOOL: return it->u.b ? JCODEC_LIT(b, "\"true\"") : JCODEC_LIT(b, "\"false\"");
    case SPW_ITEM_BYTES:
        if (it->u.bytes.ptype == SPW_PT_GEOJSON)
            return put_text(e, it->u.bytes.ptr, it->u.bytes.len, NULL);
        return put_b64(b, it->u.bytes.ptr, it->u.bytes.len);
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
static spw_result put_element(enc *e, const spw_item *it) {
    spw_buf *b = e->out;
    switch (it->kind) {
    case SPW_ITEM_NIL: return JCODEC_LIT(b, "null");
    case SPW_ITEM_BOOL: return put_bool(b, it->u.b);
    case SPW_ITEM_INT: return put_i64(b, it->u.i);
    case SPW_ITEM_UINT: return put_u64(b, it->u.u);
    case SPW_ITEM_DOUBLE: return put_double(e, it->u.d, false);
    case SPW_ITEM_STR: return put_text(e, it->u.bytes.ptr, it->u.bytes.len, NULL);
    case SPW_ITEM_BYTES:
        if (it->u.bytes.ptype == SPW_PT_GEOJSON)
            return put_geojson_text(e, it->u.bytes.ptr, it->u.bytes.len);
        return put_b64(b, it->u.bytes.ptr, it->u.bytes.len);
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
static spw_result put_collection(enc *e, const spw_value *v, uint8_t *order) {
    spw_buf *b = e->out;
    spw_walker w;
    spw_item it;
    frame stk[SPW_WALK_MAX_DEPTH + 1];
    unsigned sp = 0;
    bool first = true;
    spw_result r;
    const char *kind = v->type == SPW_PT_MAP ? "map" : "list";

    if (spw_walk_init(&w, v) != SPW_OK)
        return reject(e, "the %s value is malformed", kind);
    for (;;) {
        r = spw_walk_next(&w, &it);
        if (r == SPW_ERR_NOTFOUND && sp == 0 && !first)
            return SPW_OK;
        if (r != SPW_OK)
            return reject(e, "the %s value is malformed or truncated", kind);
        if (first) {
            spw_item_kind want = v->type == SPW_PT_MAP ? SPW_ITEM_MAP : SPW_ITEM_LIST;
            if (it.kind != want)
                return reject(e, "the %s value holds %s", kind, item_kind_name(it.kind));
            *order = it.u.coll.order;
        } else if (sp == 0) {
            return reject(e, "the %s value has bytes after its end", kind);
        }
        first = false;
        if (it.depth != sp) /* the walker and this stack disagree: do not guess */
            return reject(e, "the %s value is malformed (nesting)", kind);

        if (sp > 0) {
            frame *f = &stk[sp - 1];
            bool is_key = f->map && (f->done & 1) == 0;
            if (f->done && (is_key || !f->map) && (r = JCODEC_LIT(b, ",")) != SPW_OK)
                return r;
            f->done++;
            f->left--;
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
                    return reject(e, "the %s value nests too deeply", kind);
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
        while (sp > 0 && stk[sp - 1].left == 0) {
            if ((r = stk[sp - 1].map ? JCODEC_LIT(b, "}") : JCODEC_LIT(b, "]")) != SPW_OK)
                return r;
            sp--;
        }
    }
}

/* ---- bins ---- */

static spw_result put_bin_head(enc *e, const spw_bin *bin, const char *type, size_t tlen) {
    spw_buf *b = e->out;
    spw_result r = JCODEC_LIT(b, "{\"name\":");
    if (r == SPW_OK)
        r = put_name(e, bin->name);
    if (r == SPW_OK)
        r = JCODEC_LIT(b, ",\"type\":\"");
    if (r == SPW_OK)
        r = jcodec_put(b, type, tlen);
    if (r == SPW_OK)
        r = JCODEC_LIT(b, "\",\"value\":");
    return r;
}

#define HEAD(e, bin, t) put_bin_head((e), (bin), (t), sizeof(t) - 1)

/*
 * One bin. Types: str, int, float, bool, blob (Base64; also the language
 * blobs 7..12 and vectors 16, which have no JSON form of their own), hll
 * (Base64), list (+"ordered"), map (+"order" when ordered), geojson, nil
 * for a deleted bin (value null). A particle type this codec does not know
 * is sent losslessly as a blob with its number in "ptype".
 */
static spw_result put_bin(enc *e, const spw_bin *bin) {
    spw_buf *b = e->out;
    const spw_value *v = &bin->value;
    size_t mark = b->len;
    spw_result r;
    e->what = "bin";
    e->name = bin->name;
    if (!e->name.ptr)
        e->name.ptr = "";

    switch (v->type) {
    case SPW_PT_NIL:
        r = HEAD(e, bin, "nil");
        if (r == SPW_OK)
            r = JCODEC_LIT(b, "null");
        break;
    case SPW_PT_INTEGER: {
        int64_t i;
        if (spw_value_int(v, &i) != SPW_OK)
            return reject(e, "malformed integer value (%zu bytes)", v->len);
        if ((r = HEAD(e, bin, "int")) == SPW_OK)
            r = put_i64(b, i);
        break;
    }
    case SPW_PT_DOUBLE: {
        double d;
        if (spw_value_double(v, &d) != SPW_OK)
            return reject(e, "malformed double value (%zu bytes)", v->len);
        if ((r = HEAD(e, bin, "float")) == SPW_OK)
            r = put_double(e, d, false);
        break;
    }
    case SPW_PT_BOOL: {
        bool x;
        if (spw_value_bool(v, &x) != SPW_OK)
            return reject(e, "malformed boolean value (%zu bytes)", v->len);
        if ((r = HEAD(e, bin, "bool")) == SPW_OK)
            r = put_bool(b, x);
        break;
    }
    case SPW_PT_STRING: {
        spw_str s;
        bool as_b64 = false;
        if (spw_value_str(v, &s) != SPW_OK)
            return reject(e, "malformed string value");
        if ((r = HEAD(e, bin, "str")) != SPW_OK)
            return r;
        if ((r = put_text(e, (const uint8_t *)s.ptr, s.len, &as_b64)) != SPW_OK)
            return r;
        if (as_b64) { /* invalid_utf8 = base64: bytes, not text, so say blob */
            b->len = mark;
            if ((r = HEAD(e, bin, "blob")) == SPW_OK)
                r = put_b64(b, (const uint8_t *)s.ptr, s.len);
        }
        break;
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
            return reject(e, "malformed %s value", spw_particle_name(v->type));
        r = v->type == SPW_PT_HLL ? HEAD(e, bin, "hll") : HEAD(e, bin, "blob");
        if (r == SPW_OK)
            r = put_b64(b, p, n);
        break;
    }
    case SPW_PT_LIST:
    case SPW_PT_MAP: {
        uint8_t order = 0;
        bool map = v->type == SPW_PT_MAP;
        r = map ? HEAD(e, bin, "map") : HEAD(e, bin, "list");
        if (r == SPW_OK)
            r = put_collection(e, v, &order);
        if (r != SPW_OK)
            break;
        if (!map)
            r = (order & SPW_ORDER_KEY) ? JCODEC_LIT(b, ",\"ordered\":true")
                                        : JCODEC_LIT(b, ",\"ordered\":false");
        else if ((order & SPW_ORDER_KEY_VALUE) == SPW_ORDER_KEY_VALUE)
            r = JCODEC_LIT(b, ",\"order\":\"key-value\"");
        else if (order & SPW_ORDER_KEY)
            r = JCODEC_LIT(b, ",\"order\":\"key\"");
        /* unordered (and preserve-order alone): no "order", as the vendor */
        break;
    }
    case SPW_PT_GEOJSON: {
        spw_geojson g;
        if (spw_value_geojson(v, &g) != SPW_OK)
            return reject(e, "malformed GeoJSON value (%zu bytes)", v->len);
        if ((r = HEAD(e, bin, "geojson")) == SPW_OK)
            r = put_geojson_text(e, (const uint8_t *)g.text.ptr, g.text.len);
        break;
    }
    default:
        if ((r = HEAD(e, bin, "blob")) == SPW_OK)
            r = put_b64(b, v->data, v->data ? v->len : 0);
        if (r == SPW_OK)
            r = JCODEC_LIT(b, ",\"ptype\":");
        if (r == SPW_OK)
            r = put_u64(b, v->type);
        break;
    }
    if (r == SPW_OK && e->c->cfg.bin_luts && bin->lut_ms != 0) {
        if ((r = JCODEC_LIT(b, ",\"lut\":")) == SPW_OK)
            r = put_i64(b, bin->lut_ms);
    }
    if (r == SPW_OK)
        r = JCODEC_LIT(b, "}");
    return r;
}

/* ---- the record ---- */

/* User key: integer and double as numbers, string as a string (under
 * invalid_utf8: base64 makes it a Base64 string), blob as Base64, none as
 * null. Any other type (a source should not send one) goes as Base64. */
static spw_result put_user_key(enc *e, const spw_event *ev) {
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
            return reject(e, "malformed integer (%zu bytes)", k.len);
        return put_i64(b, i);
    }
    case SPW_PT_DOUBLE: {
        double d;
        if (spw_value_double(&k, &d) != SPW_OK)
            return reject(e, "malformed double (%zu bytes)", k.len);
        return put_double(e, d, false);
    }
    case SPW_PT_STRING: {
        spw_str s;
        if (spw_value_str(&k, &s) != SPW_OK)
            return reject(e, "malformed string");
        return put_text(e, (const uint8_t *)s.ptr, s.len, NULL);
    }
    default:
        return put_b64(b, k.data, k.data ? k.len : 0);
    }
}

static spw_result put_u_field(spw_buf *b, const char *lit, size_t n, uint64_t v) {
    spw_result r = jcodec_put(b, lit, n);
    return r == SPW_OK ? put_u64(b, v) : r;
}

static spw_result put_i64_field(spw_buf *b, const char *lit, size_t n, int64_t v) {
    spw_result r = jcodec_put(b, lit, n);
    return r == SPW_OK ? put_i64(b, v) : r;
}

#define FIELD_U(b, lit, v) put_u_field((b), (lit), sizeof(lit) - 1, (v))
#define FIELD_I(b, lit, v) put_i64_field((b), (lit), sizeof(lit) - 1, (v))

static spw_result put_record(enc *e, const spw_event *ev) {
    spw_buf *b = e->out;
    spw_op op = spw_event_op(ev);
    spw_result r;
    if (op == SPW_OP_WRITE)
        r = JCODEC_LIT(b, "{\"msg\":\"write\",\"key\":[");
    else if (op == SPW_OP_DELETE)
        r = JCODEC_LIT(b, "{\"msg\":\"delete\",\"key\":[");
    else {
        e->what = "record";
        return reject(e, "unknown operation %d", (int)op);
    }
    if (r != SPW_OK)
        return r;

    e->what = "namespace";
    if ((r = put_name(e, spw_event_namespace(ev))) != SPW_OK || (r = JCODEC_LIT(b, ",")) != SPW_OK)
        return r;
    spw_str set = spw_event_set(ev);
    e->what = "set";
    r = set.ptr ? put_name(e, set) : JCODEC_LIT(b, "null");
    if (r != SPW_OK || (r = JCODEC_LIT(b, ",")) != SPW_OK)
        return r;
    if ((r = put_b64(b, spw_event_digest(ev), 20)) != SPW_OK || (r = JCODEC_LIT(b, ",")) != SPW_OK)
        return r;
    if ((r = put_user_key(e, ev)) != SPW_OK || (r = JCODEC_LIT(b, "]")) != SPW_OK)
        return r;

    if (op == SPW_OP_DELETE) {
        r = spw_event_durable(ev) ? JCODEC_LIT(b, ",\"durable\":true")
                                  : JCODEC_LIT(b, ",\"durable\":false");
        /* delete_metadata: XDR ships both on deletes; additions, never renames */
        if (r == SPW_OK && e->c->cfg.delete_metadata &&
            (r = FIELD_U(b, ",\"gen\":", spw_event_generation(ev))) == SPW_OK)
            r = FIELD_I(b, ",\"lut\":", spw_event_lut_ms(ev));
        return r == SPW_OK ? JCODEC_LIT(b, "}") : r;
    }

    if ((r = FIELD_U(b, ",\"gen\":", spw_event_generation(ev))) != SPW_OK ||
        (r = FIELD_I(b, ",\"exp\":", spw_event_expiry(ev))) != SPW_OK ||
        (r = FIELD_I(b, ",\"lut\":", spw_event_lut_ms(ev))) != SPW_OK ||
        (r = JCODEC_LIT(b, ",\"bins\":[")) != SPW_OK)
        return r;
    size_t n = spw_event_bin_count(ev);
    for (size_t i = 0; i < n; i++) {
        const spw_bin *bin = spw_event_bin(ev, i);
        if (!bin)
            continue;
        if (i && (r = JCODEC_LIT(b, ",")) != SPW_OK)
            return r;
        if ((r = put_bin(e, bin)) != SPW_OK)
            return r;
    }
    return JCODEC_LIT(b, "]}");
}

spw_result jcodec_encode(const jcodec *c, const spw_event *ev, spw_buf *out, spw_err *err) {
    enc e = {c, out, err, "record", {NULL, 0}};
    size_t start = out->len;
    spw_result r = put_record(&e, ev);
    if (r == SPW_OK)
        return SPW_OK;
    out->len = start;
    if (r == SPW_ERR_NOSPACE) /* will never fit, however often it is retried */
        return spw_err_set(err, SPW_REJECT, "json codec: the record encodes to more than %zu bytes",
                           (size_t)SPW_BUF_MAX);
    if (r < 0)
        return spw_err_set(err, r, "json codec: %s", spw_result_str(r));
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
            return spw_err_set(err, SPW_REJECT, "json codec: the batch is larger than %zu bytes",
                               (size_t)SPW_BUF_MAX);
        total += recs[i].len + 1;
    }
    spw_result r = spw_buf_reserve(out, total);
    if (r != SPW_OK)
        return spw_err_set(err, r, "json codec: cannot frame the batch: %s", spw_result_str(r));
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

/*
 * plugins/codec-avro/generic.c: the built-in schema (generic.avsc, also
 * embedded below) and its encoder, used when no schema is configured.
 *
 * The schema carries every event: metadata as nullable fields (null when
 * the route excludes a field or the record does not have it), and bins as
 * an array of {name, type, order, value, lut} where type is the particle
 * type number and value a union wide enough for every particle type. Lists
 * and maps nest through the named record Item, because only named types
 * can refer to themselves.
 *
 * The encoder is written by hand for this one schema rather than driven by
 * the plan (user.c): the layout never changes, so each field is a couple
 * of stores, and collections are copied in one flat pass over the walker
 * with a small stack, as they arrive. doc/formats-avro.md lists every
 * mapping decision; the comments here say where each one is made.
 */
#include <stdarg.h>
#include <stdio.h>
#include "acodec.h"

/* Must equal generic.avsc byte for byte (the unit test compares them). */
const char acodec_generic_schema[] =
    "{\n"
    "  \"type\": \"record\",\n"
    "  \"name\": \"ChangeRecord\",\n"
    "  \"namespace\": \"io.spillway.avro\",\n"
    "  \"doc\": \"One Aerospike change notification, as the spillway avro codec writes it when no schema is configured. A metadata field is null when the route excluded it (metadata_exclude) or the record does not have it.\",\n"
    "  \"fields\": [\n"
    "    {\"name\": \"msg\", \"type\": [\"null\", {\"type\": \"enum\", \"name\": \"Msg\", \"symbols\": [\"write\", \"delete\"]}], \"default\": null},\n"
    "    {\"name\": \"namespace\", \"type\": [\"null\", \"string\"], \"default\": null},\n"
    "    {\"name\": \"set\", \"type\": [\"null\", \"string\"], \"default\": null, \"doc\": \"null: the record has no set\"},\n"
    "    {\"name\": \"userKey\", \"type\": [\"null\", \"long\", \"double\", \"string\", \"bytes\"], \"default\": null, \"doc\": \"null: the key was not stored\"},\n"
    "    {\"name\": \"digest\", \"type\": [\"null\", {\"type\": \"fixed\", \"name\": \"Digest\", \"size\": 20}], \"default\": null, \"doc\": \"RIPEMD-160 record digest\"},\n"
    "    {\"name\": \"gen\", \"type\": [\"null\", \"long\"], \"default\": null, \"doc\": \"generation (writes and deletes)\"},\n"
    "    {\"name\": \"lut\", \"type\": [\"null\", \"long\"], \"default\": null, \"doc\": \"last-update time, Unix ms; null when not shipped\"},\n"
    "    {\"name\": \"exp\", \"type\": [\"null\", \"long\"], \"default\": null, \"doc\": \"expiry, Unix s, 0 = never; null on deletes\"},\n"
    "    {\"name\": \"durable\", \"type\": [\"null\", \"boolean\"], \"default\": null, \"doc\": \"durable delete; null on writes\"},\n"
    "    {\"name\": \"bins\", \"type\": {\"type\": \"array\", \"items\": {\n"
    "      \"type\": \"record\",\n"
    "      \"name\": \"Bin\",\n"
    "      \"fields\": [\n"
    "        {\"name\": \"name\", \"type\": \"string\"},\n"
    "        {\"name\": \"type\", \"type\": \"int\", \"doc\": \"Aerospike particle type: 0 nil, 1 integer, 2 double, 3 string, 4 blob, 7-12 language blobs, 16 vector, 17 bool, 18 HLL, 19 map, 20 list, 23 GeoJSON\"},\n"
    "        {\"name\": \"order\", \"type\": \"int\", \"default\": 0, \"doc\": \"list/map order flags: list 1 ordered; map 1 key-ordered, 3 key-value-ordered; 8 preserve; 0 otherwise\"},\n"
    "        {\"name\": \"value\", \"type\": [\"null\", \"boolean\", \"long\", \"double\", \"string\", \"bytes\",\n"
    "          {\"type\": \"array\", \"items\": {\n"
    "            \"type\": \"record\",\n"
    "            \"name\": \"Item\",\n"
    "            \"doc\": \"An element of a list or a value of a map (a record, so the union can nest)\",\n"
    "            \"fields\": [\n"
    "              {\"name\": \"value\", \"type\": [\"null\", \"boolean\", \"long\", \"double\", \"string\", \"bytes\",\n"
    "                {\"type\": \"array\", \"items\": \"Item\"},\n"
    "                {\"type\": \"map\", \"values\": \"Item\"}]}\n"
    "            ]}},\n"
    "          {\"type\": \"map\", \"values\": \"Item\"}]},\n"
    "        {\"name\": \"lut\", \"type\": [\"null\", \"long\"], \"default\": null, \"doc\": \"bin last-update time, Unix ms (option bin_luts)\"}\n"
    "      ]}}}\n"
    "  ]\n"
    "}\n";
const size_t acodec_generic_schema_len = sizeof acodec_generic_schema - 1;

/* Union branch indices, in the order generic.avsc lists them. */
enum {
    V_NULL = 0, /* Bin.value and Item.value */
    V_BOOLEAN = 1,
    V_LONG = 2,
    V_DOUBLE = 3,
    V_STRING = 4,
    V_BYTES = 5,
    V_ARRAY = 6,
    V_MAP = 7,
};
enum { K_NULL = 0, K_LONG = 1, K_DOUBLE = 2, K_STRING = 3, K_BYTES = 4 }; /* userKey */

/* State of one encode call. */
typedef struct genc {
    acodec *c;
    aw w;
    spw_err *err;
    const char *what; /* "bin", "user key", "namespace"...: for error text */
    spw_str name;     /* the bin's name when what is "bin" */
} genc;

static spw_result reject(genc *e, const char *fmt, ...) SPW_PRINTF(2, 3);
static spw_result reject(genc *e, const char *fmt, ...) {
    char why[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (e->name.ptr) {
        char clean[72];
        acodec_clean_name(clean, sizeof clean, e->name.ptr, e->name.len);
        return spw_err_set(e->err, SPW_REJECT, "avro codec: %s \"%s\": %s", e->what, clean, why);
    }
    return spw_err_set(e->err, SPW_REJECT, "avro codec: %s: %s", e->what, why);
}

/*
 * A string value at a union with a string branch and a bytes branch.
 * Well-formed UTF-8 goes as a string. Otherwise, by invalid_utf8: replace
 * writes the string with U+FFFD for each ill-formed sequence; bytes writes
 * the raw bytes in the bytes branch (lossless: Bin.type still says what it
 * was); reject rejects the record.
 */
static spw_result put_text_value(genc *e, const uint8_t *s, size_t n, uint32_t i_str, uint32_t i_bytes) {
    if (spw_utf8_valid(s, n)) {
        aw_index(&e->w, i_str);
        aw_bytes(&e->w, s, n);
        return SPW_OK;
    }
    switch (e->c->cfg.invalid_utf8) {
    case ACODEC_UTF8_BYTES:
        aw_index(&e->w, i_bytes);
        aw_bytes(&e->w, s, n);
        return SPW_OK;
    case ACODEC_UTF8_REJECT:
        return reject(e, "a string is not valid UTF-8 (invalid_utf8 = reject)");
    default: {
        size_t bad = 0;
        aw_index(&e->w, i_str);
        acodec_put_text(&e->w, s, n, &bad);
        return SPW_OK;
    }
    }
}

/* Names (namespace, set, bin names, map keys) have to stay strings: they
 * are repaired under replace and bytes, and reject only under reject. */
static spw_result put_name(genc *e, const uint8_t *s, size_t n) {
    size_t bad = 0;
    acodec_put_text(&e->w, s, n, &bad);
    if (bad && e->c->cfg.invalid_utf8 == ACODEC_UTF8_REJECT)
        return reject(e, "the name is not valid UTF-8 (invalid_utf8 = reject)");
    return SPW_OK;
}

/* ---- lists and maps ---- */

/*
 * A scalar inside a list or map, as Item.value. Strings go as strings,
 * GeoJSON as its text (a string), every other byte payload (blobs of any
 * language, HLL, vectors) as bytes; integers above INT64_MAX, which only a
 * MessagePack writer can store, as their decimal text; extension values
 * (wildcard, infinity: query operands, never stored data) as null.
 */
static spw_result put_element(genc *e, const spw_item *it) {
    aw *w = &e->w;
    switch (it->kind) {
    case SPW_ITEM_BOOL:
        aw_index(w, V_BOOLEAN);
        aw_bool(w, it->u.b);
        return SPW_OK;
    case SPW_ITEM_INT:
        aw_index(w, V_LONG);
        aw_long(w, it->u.i);
        return SPW_OK;
    case SPW_ITEM_UINT: {
        char tmp[24];
        int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)it->u.u);
        aw_index(w, V_STRING);
        aw_bytes(w, tmp, (size_t)n);
        return SPW_OK;
    }
    case SPW_ITEM_DOUBLE:
        aw_index(w, V_DOUBLE);
        aw_double(w, it->u.d);
        return SPW_OK;
    case SPW_ITEM_STR:
        return put_text_value(e, it->u.bytes.ptr, it->u.bytes.len, V_STRING, V_BYTES);
    case SPW_ITEM_BYTES:
        if (it->u.bytes.ptype == SPW_PT_GEOJSON)
            return put_text_value(e, it->u.bytes.ptr, it->u.bytes.len, V_STRING, V_BYTES);
        aw_index(w, V_BYTES);
        aw_bytes(w, it->u.bytes.ptr, it->u.bytes.len);
        return SPW_OK;
    default: /* nil, extension values */
        aw_index(w, V_NULL);
        return SPW_OK;
    }
}

typedef struct frame {
    uint64_t left; /* items still to come (2 per map pair) */
    uint64_t done; /* items written: key or value, in a map */
    bool map;
} frame;

/*
 * A list or map bin, whose first item (the container itself) the caller
 * has read to learn its order flags. Avro arrays and maps are written as
 * one block (count, items) and the end marker 0; an empty one is the end
 * marker alone. The walker is flat, so nesting lives in the stack here.
 */
static spw_result put_collection(genc *e, spw_walker *wk, const spw_item *top) {
    aw *w = &e->w;
    frame stk[SPW_WALK_MAX_DEPTH + 1];
    unsigned sp = 0;
    spw_item it = *top;
    const char *kind = top->kind == SPW_ITEM_MAP ? "map" : "list";
    for (;;) {
        if (it.depth != sp) /* the walker and this stack disagree: do not guess */
            return reject(e, "the %s value is malformed (nesting)", kind);
        bool is_key = false;
        if (sp > 0) {
            frame *f = &stk[sp - 1];
            is_key = f->map && (f->done & 1) == 0;
            f->done++;
            f->left--;
        }
        if (is_key) {
            const char *why = "";
            size_t bad = 0;
            if (acodec_put_key(w, &it, e->c->cfg.stringify_map_keys, e->c->c_locale, &bad, &why) !=
                SPW_OK)
                return reject(e, "%s", why);
            if (bad && e->c->cfg.invalid_utf8 == ACODEC_UTF8_REJECT)
                return reject(e, "a map key is not valid UTF-8 (invalid_utf8 = reject)");
        } else if (it.kind == SPW_ITEM_LIST || it.kind == SPW_ITEM_MAP) {
            bool map = it.kind == SPW_ITEM_MAP;
            aw_index(w, map ? V_MAP : V_ARRAY);
            if (it.u.coll.count > 0) {
                if (sp > SPW_WALK_MAX_DEPTH)
                    return reject(e, "the %s value nests too deeply", kind);
                aw_long(w, it.u.coll.count);
                stk[sp++] = (frame){(uint64_t)it.u.coll.count * (map ? 2 : 1), 0, map};
            } else
                aw_long(w, 0);
        } else {
            spw_result r = put_element(e, &it);
            if (r != SPW_OK)
                return r;
        }
        if (!is_key)
            while (sp > 0 && stk[sp - 1].left == 0) {
                aw_long(w, 0); /* end of the array or map */
                sp--;
            }
        spw_result r = spw_walk_next(wk, &it);
        if (r == SPW_ERR_NOTFOUND && sp == 0)
            return SPW_OK;
        if (r != SPW_OK)
            return reject(e, "the %s value is malformed or truncated", kind);
        if (sp == 0)
            return reject(e, "the %s value has bytes after its end", kind);
    }
}

/* ---- bins ---- */

/*
 * One Bin: name, type (the particle type number, whatever it is, so a
 * type added by a later server still arrives), order (the top-level list
 * or map order flags, 0 otherwise), value, lut. Values: integer as long,
 * double as double, bool as boolean, string as string (see
 * put_text_value), GeoJSON as its text, the blob family, HLL, vectors
 * and unknown types as bytes (their exact wire bytes), nil as null.
 */
static spw_result put_bin(genc *e, const spw_bin *bin) {
    aw *w = &e->w;
    const spw_value *v = &bin->value;
    spw_result r;
    e->what = "bin";
    e->name = bin->name;
    if (!e->name.ptr)
        e->name.ptr = "";
    if ((r = put_name(e, (const uint8_t *)e->name.ptr, e->name.len)) != SPW_OK)
        return r;
    aw_long(w, v->type);

    switch (v->type) {
    case SPW_PT_NIL:
        aw_long(w, 0);
        aw_index(w, V_NULL);
        break;
    case SPW_PT_INTEGER: {
        int64_t i;
        if (spw_value_int(v, &i) != SPW_OK)
            return reject(e, "malformed integer value (%zu bytes)", v->len);
        aw_long(w, 0);
        aw_index(w, V_LONG);
        aw_long(w, i);
        break;
    }
    case SPW_PT_DOUBLE: {
        double d;
        if (spw_value_double(v, &d) != SPW_OK)
            return reject(e, "malformed double value (%zu bytes)", v->len);
        aw_long(w, 0);
        aw_index(w, V_DOUBLE);
        aw_double(w, d);
        break;
    }
    case SPW_PT_BOOL: {
        bool b;
        if (spw_value_bool(v, &b) != SPW_OK)
            return reject(e, "malformed boolean value (%zu bytes)", v->len);
        aw_long(w, 0);
        aw_index(w, V_BOOLEAN);
        aw_bool(w, b);
        break;
    }
    case SPW_PT_STRING: {
        spw_str s;
        if (spw_value_str(v, &s) != SPW_OK)
            return reject(e, "malformed string value");
        aw_long(w, 0);
        if ((r = put_text_value(e, (const uint8_t *)s.ptr, s.len, V_STRING, V_BYTES)) != SPW_OK)
            return r;
        break;
    }
    case SPW_PT_GEOJSON: {
        spw_geojson g;
        if (spw_value_geojson(v, &g) != SPW_OK)
            return reject(e, "malformed GeoJSON value (%zu bytes)", v->len);
        aw_long(w, 0);
        if ((r = put_text_value(e, (const uint8_t *)g.text.ptr, g.text.len, V_STRING, V_BYTES)) !=
            SPW_OK)
            return r;
        break;
    }
    case SPW_PT_LIST:
    case SPW_PT_MAP: {
        spw_walker wk;
        spw_item it;
        const char *kind = v->type == SPW_PT_MAP ? "map" : "list";
        if (spw_walk_init(&wk, v) != SPW_OK || spw_walk_next(&wk, &it) != SPW_OK)
            return reject(e, "the %s value is malformed", kind);
        if (it.kind != (v->type == SPW_PT_MAP ? SPW_ITEM_MAP : SPW_ITEM_LIST))
            return reject(e, "the %s value holds %s", kind, acodec_item_name(&it));
        aw_long(w, it.u.coll.order);
        if ((r = put_collection(e, &wk, &it)) != SPW_OK)
            return r;
        break;
    }
    default: {
        /* The blob family, HLL, vectors, and types this codec does not
         * know: the value's bytes exactly as shipped. */
        aw_long(w, 0);
        aw_index(w, V_BYTES);
        aw_bytes(w, v->data, v->data ? v->len : 0);
        break;
    }
    }
    if (e->c->cfg.bin_luts && bin->lut_ms != 0) {
        aw_index(w, 1);
        aw_long(w, bin->lut_ms);
    } else
        aw_index(w, 0);
    return SPW_OK;
}

/* ---- the record ---- */

/* userKey: integer as long, double as double, string as string (see
 * put_text_value), blob as bytes; a key type a source should never send
 * goes as its raw bytes. */
static spw_result put_user_key(genc *e, const spw_event *ev) {
    aw *w = &e->w;
    spw_value k;
    e->what = "user key";
    e->name = (spw_str){NULL, 0};
    if (!spw_event_meta_wanted(ev, SPW_META_KEY) || !spw_event_key(ev, &k)) {
        aw_index(w, K_NULL);
        return SPW_OK;
    }
    switch (k.type) {
    case SPW_PT_INTEGER: {
        int64_t i;
        if (spw_value_int(&k, &i) != SPW_OK)
            return reject(e, "malformed integer (%zu bytes)", k.len);
        aw_index(w, K_LONG);
        aw_long(w, i);
        return SPW_OK;
    }
    case SPW_PT_DOUBLE: {
        double d;
        if (spw_value_double(&k, &d) != SPW_OK)
            return reject(e, "malformed double (%zu bytes)", k.len);
        aw_index(w, K_DOUBLE);
        aw_double(w, d);
        return SPW_OK;
    }
    case SPW_PT_STRING:
        return put_text_value(e, k.data, k.data ? k.len : 0, K_STRING, K_BYTES);
    default:
        aw_index(w, K_BYTES);
        aw_bytes(w, k.data, k.data ? k.len : 0);
        return SPW_OK;
    }
}

/* A nullable name: null when not wanted or absent. */
static spw_result put_opt_name(genc *e, const spw_event *ev, spw_meta m, spw_str s, const char *what) {
    if (!spw_event_meta_wanted(ev, m) || !s.ptr) {
        aw_index(&e->w, 0);
        return SPW_OK;
    }
    e->what = what;
    e->name = (spw_str){NULL, 0};
    aw_index(&e->w, 1);
    return put_name(e, (const uint8_t *)s.ptr, s.len);
}

static void put_opt_long(aw *w, bool present, int64_t v) {
    if (present) {
        aw_index(w, 1);
        aw_long(w, v);
    } else
        aw_index(w, 0);
}

spw_result acodec_generic_datum(acodec *c, const spw_event *ev, aw *w, spw_err *err) {
    genc e = {c, *w, err, "record", {NULL, 0}};
    spw_op op = spw_event_op(ev);
    spw_result r;
    if (op != SPW_OP_WRITE && op != SPW_OP_DELETE)
        return reject(&e, "unknown operation %d", (int)op);
    bool del = op == SPW_OP_DELETE;

    if (spw_event_meta_wanted(ev, SPW_META_MSG)) {
        aw_index(&e.w, 1);
        aw_index(&e.w, del ? 1 : 0); /* enum Msg: write, delete */
    } else
        aw_index(&e.w, 0);
    if ((r = put_opt_name(&e, ev, SPW_META_NAMESPACE, spw_event_namespace(ev), "namespace")) != SPW_OK ||
        (r = put_opt_name(&e, ev, SPW_META_SET, spw_event_set(ev), "set")) != SPW_OK ||
        (r = put_user_key(&e, ev)) != SPW_OK)
        return r;
    if (spw_event_meta_wanted(ev, SPW_META_DIGEST)) {
        aw_index(&e.w, 1);
        aw_raw(&e.w, spw_event_digest(ev), 20);
    } else
        aw_index(&e.w, 0);
    /* gen and lut on deletes too: XDR ships both. lut 0 means "not shipped". */
    put_opt_long(&e.w, spw_event_meta_wanted(ev, SPW_META_GEN), spw_event_generation(ev));
    int64_t lut = spw_event_lut_ms(ev);
    put_opt_long(&e.w, spw_event_meta_wanted(ev, SPW_META_LUT) && lut != 0, lut);
    put_opt_long(&e.w, !del && spw_event_meta_wanted(ev, SPW_META_EXP), spw_event_expiry(ev));
    if (del && spw_event_meta_wanted(ev, SPW_META_DURABLE)) {
        aw_index(&e.w, 1);
        aw_bool(&e.w, spw_event_durable(ev));
    } else
        aw_index(&e.w, 0);

    size_t n = spw_event_bin_count(ev);
    if (n > 0) {
        aw_long(&e.w, (int64_t)n);
        for (size_t i = 0; i < n; i++) {
            const spw_bin *bin = spw_event_bin(ev, i);
            if (!bin) /* cannot happen below count; keep the block count honest */
                return reject(&e, "bin %zu is missing", i);
            if ((r = put_bin(&e, bin)) != SPW_OK)
                return r;
        }
    }
    aw_long(&e.w, 0);
    *w = e.w;
    return SPW_OK;
}

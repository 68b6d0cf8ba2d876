/*
 * plugins/codec-avro/user.c: one event -> a datum of a configured schema,
 * following the plan schema.c compiled.
 *
 * The top-level record's fields are matched by name: the metadata names
 * (msg, namespace, set, userKey, digest, gen, lut, exp, durable), a
 * `metadata` field of record type holding those by name, and otherwise the
 * bin of that name. A value is written into a type by fixed rules (the
 * table in doc/formats-avro.md): integers into int (range-checked), long,
 * or float/double when exact; doubles into double or float (range-
 * checked); strings into string, bytes or an enum with that symbol; blobs
 * into bytes or a fixed of their size; booleans into boolean; lists into
 * arrays; maps into maps (keys stringified) or records (by key); GeoJSON
 * into string or bytes. A union takes the first branch, in schema order,
 * that accepts the value exactly; nothing is ever narrowed or rounded
 * silently, except a double written into a float.
 *
 * No value (no such bin, a nil bin, metadata the record lacks or the route
 * excludes, a missing map key) takes the field's default when it has one,
 * else null when the type is a union with null, else the record is
 * rejected. Every rejection names the field (with the path into nested
 * values) and the reason; nothing here can crash on what the wire sends:
 * lists and maps are read with the SDK walker, which checks every length.
 */
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include "acodec.h"

/* Nesting this codec follows (the walker restarts its count in map->record). */
#define USER_MAX_DEPTH 96

typedef enum skind {
    SK_ABSENT = 0, /* no value: see src.absent */
    SK_NIL,        /* a nil bin, a nil or extension element */
    SK_BOOL,
    SK_INT,
    SK_UINT,       /* above INT64_MAX */
    SK_DOUBLE,
    SK_STR,        /* text: a string, or GeoJSON (ptype 23) */
    SK_BYTES,      /* any other byte payload: blobs, HLL, vectors, digest */
    SK_LIST,
    SK_MAP,
    SK_META,       /* the event's metadata, for the `metadata` record */
    SK_COUNT
} skind;
_Static_assert(SK_COUNT <= 16, "aplan.quick has 16 entries per node");

/* A value to write, whatever it came from (bin, metadata, walked element). */
typedef struct src {
    uint8_t kind;   /* skind */
    uint8_t ptype;  /* STR/BYTES: the particle type */
    int8_t utf8;    /* STR: -1 not checked yet, 0 ill-formed, 1 well-formed */
    bool b;
    int64_t i;
    uint64_t u;
    double d;
    const uint8_t *ptr; /* STR/BYTES payload */
    size_t len;
    uint32_t count;     /* LIST elements, MAP pairs */
    spw_walker *wk;     /* LIST/MAP: positioned after the container's header */
    const char *absent; /* ABSENT: why there is no value */
    const spw_event *ev; /* META */
} src;

/* One step of the path to the value being written, for error text. */
typedef struct seg {
    const char *name; /* field name or map key (not NUL-terminated); NULL for an index */
    size_t len;
    uint32_t index;
    bool key;         /* a map key rather than a field name */
} seg;

typedef struct uenc {
    acodec *c;
    const aplan *p;
    aw w;
    spw_err *err;
    seg path[USER_MAX_DEPTH];
    unsigned depth;
    size_t pairs_used; /* c->pairs in use by the map->record levels open now */
} uenc;

/* ---- messages ---- */

static void path_text(const uenc *e, char *buf, size_t cap) {
    size_t k = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < e->depth && k + 8 < cap; i++) {
        const seg *s = &e->path[i];
        char clean[72];
        int n;
        if (!s->name && !s->key)
            n = snprintf(buf + k, cap - k, "[%u]", s->index);
        else {
            acodec_clean_name(clean, sizeof clean, s->name ? s->name : "", s->len);
            if (s->key)
                n = snprintf(buf + k, cap - k, "[\"%s\"]", clean);
            else
                n = snprintf(buf + k, cap - k, "%s%s", i ? "." : "", clean);
        }
        if (n < 0 || (size_t)n >= cap - k)
            break;
        k += (size_t)n;
    }
}

static spw_result reject(uenc *e, const char *fmt, ...) SPW_PRINTF(2, 3);
static spw_result reject(uenc *e, const char *fmt, ...) {
    char why[300], path[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    path_text(e, path, sizeof path);
    if (!path[0])
        return spw_err_set(e->err, SPW_REJECT, "avro codec: %s", why);
    return spw_err_set(e->err, SPW_REJECT, "avro codec: field \"%s\": %s", path, why);
}

/* What a value is, for messages: "the integer 7", "a blob of 3 bytes"... */
static const char *describe(const src *s, char *buf, size_t cap) {
    switch ((skind)s->kind) {
    case SK_ABSENT: snprintf(buf, cap, "no value (%s)", s->absent ? s->absent : "absent"); break;
    case SK_NIL: snprintf(buf, cap, "nil"); break;
    case SK_BOOL: snprintf(buf, cap, "the boolean %s", s->b ? "true" : "false"); break;
    case SK_INT: snprintf(buf, cap, "the integer %" PRId64, s->i); break;
    case SK_UINT: snprintf(buf, cap, "the integer %" PRIu64, s->u); break;
    case SK_DOUBLE: snprintf(buf, cap, "the double %.17g", s->d); break;
    case SK_STR:
        snprintf(buf, cap, s->ptype == SPW_PT_GEOJSON ? "a GeoJSON value" : "a string");
        break;
    case SK_BYTES:
        snprintf(buf, cap, "a %s value of %zu bytes", spw_particle_name(s->ptype), s->len);
        break;
    case SK_LIST: snprintf(buf, cap, "a list"); break;
    case SK_MAP: snprintf(buf, cap, "a map"); break;
    case SK_META: snprintf(buf, cap, "the metadata"); break;
    case SK_COUNT: snprintf(buf, cap, "?"); break;
    }
    return buf;
}

/* A type as a schema would write it: "int", "io.x.Rec", ["null","long"]. */
static void type_text(const aplan *p, uint32_t t, char *buf, size_t cap) {
    const anode *n = &p->nodes[t];
    if (n->kind != AN_UNION) {
        snprintf(buf, cap, "%s", n->name);
        return;
    }
    size_t k = 0;
    buf[k++] = '[';
    for (uint32_t i = 0; i < n->n && k + 4 < cap; i++) {
        int m = snprintf(buf + k, cap - k, "%s\"%s\"", i ? "," : "",
                         p->nodes[p->branches[n->first + i]].name);
        if (m < 0 || (size_t)m >= cap - k)
            break;
        k += (size_t)m;
    }
    if (k + 2 <= cap) {
        buf[k++] = ']';
        buf[k] = '\0';
    } else
        buf[cap - 1] = '\0';
}

static bool push(uenc *e, seg s) {
    if (e->depth >= USER_MAX_DEPTH)
        return false;
    e->path[e->depth++] = s;
    return true;
}

/* ---- values from the event ---- */

static void from_item(const spw_item *it, spw_walker *wk, src *s) {
    memset(s, 0, sizeof *s);
    s->utf8 = -1;
    switch (it->kind) {
    case SPW_ITEM_BOOL: s->kind = SK_BOOL; s->b = it->u.b; break;
    case SPW_ITEM_INT: s->kind = SK_INT; s->i = it->u.i; break;
    case SPW_ITEM_UINT: s->kind = SK_UINT; s->u = it->u.u; break;
    case SPW_ITEM_DOUBLE: s->kind = SK_DOUBLE; s->d = it->u.d; break;
    case SPW_ITEM_STR:
    case SPW_ITEM_BYTES:
        s->kind = it->kind == SPW_ITEM_STR || it->u.bytes.ptype == SPW_PT_GEOJSON ? SK_STR : SK_BYTES;
        s->ptype = it->u.bytes.ptype;
        s->ptr = it->u.bytes.ptr;
        s->len = it->u.bytes.len;
        break;
    case SPW_ITEM_LIST:
    case SPW_ITEM_MAP:
        s->kind = it->kind == SPW_ITEM_LIST ? SK_LIST : SK_MAP;
        s->count = it->u.coll.count;
        s->wk = wk;
        break;
    default: /* nil; extension values (wildcard, infinity) are no data */
        s->kind = SK_NIL;
        break;
    }
}

/* A bin's value; lists and maps open wk on it. SPW_REJECT when malformed. */
static spw_result from_bin(uenc *e, const spw_bin *bin, spw_walker *wk, src *s) {
    const spw_value *v = &bin->value;
    memset(s, 0, sizeof *s);
    s->utf8 = -1;
    s->ptype = v->type;
    switch (v->type) {
    case SPW_PT_NIL:
        s->kind = SK_NIL;
        return SPW_OK;
    case SPW_PT_INTEGER:
        s->kind = SK_INT;
        if (spw_value_int(v, &s->i) != SPW_OK)
            return reject(e, "malformed integer value (%zu bytes)", v->len);
        return SPW_OK;
    case SPW_PT_DOUBLE:
        s->kind = SK_DOUBLE;
        if (spw_value_double(v, &s->d) != SPW_OK)
            return reject(e, "malformed double value (%zu bytes)", v->len);
        return SPW_OK;
    case SPW_PT_BOOL:
        s->kind = SK_BOOL;
        if (spw_value_bool(v, &s->b) != SPW_OK)
            return reject(e, "malformed boolean value (%zu bytes)", v->len);
        return SPW_OK;
    case SPW_PT_STRING: {
        spw_str t;
        if (spw_value_str(v, &t) != SPW_OK)
            return reject(e, "malformed string value");
        s->kind = SK_STR;
        s->ptr = (const uint8_t *)t.ptr;
        s->len = t.len;
        return SPW_OK;
    }
    case SPW_PT_GEOJSON: {
        spw_geojson g;
        if (spw_value_geojson(v, &g) != SPW_OK)
            return reject(e, "malformed GeoJSON value (%zu bytes)", v->len);
        s->kind = SK_STR;
        s->ptr = (const uint8_t *)g.text.ptr;
        s->len = g.text.len;
        return SPW_OK;
    }
    case SPW_PT_LIST:
    case SPW_PT_MAP: {
        spw_item it;
        const char *kind = v->type == SPW_PT_MAP ? "map" : "list";
        if (spw_walk_init(wk, v) != SPW_OK || spw_walk_next(wk, &it) != SPW_OK)
            return reject(e, "the %s value is malformed", kind);
        if (it.kind != (v->type == SPW_PT_MAP ? SPW_ITEM_MAP : SPW_ITEM_LIST))
            return reject(e, "the %s value holds %s", kind, acodec_item_name(&it));
        from_item(&it, wk, s);
        return SPW_OK;
    }
    default: /* the blob family, HLL, vectors, unknown types: their bytes */
        s->kind = SK_BYTES;
        s->ptr = v->data;
        s->len = v->data ? v->len : 0;
        return SPW_OK;
    }
}

static const struct {
    spw_meta meta;
    const char *name;
} meta_info[] = {
    [ASRC_MSG] = {SPW_META_MSG, "msg"},
    [ASRC_NAMESPACE] = {SPW_META_NAMESPACE, "namespace"},
    [ASRC_SET] = {SPW_META_SET, "set"},
    [ASRC_KEY] = {SPW_META_KEY, "userKey"},
    [ASRC_DIGEST] = {SPW_META_DIGEST, "digest"},
    [ASRC_GEN] = {SPW_META_GEN, "gen"},
    [ASRC_LUT] = {SPW_META_LUT, "lut"},
    [ASRC_EXP] = {SPW_META_EXP, "exp"},
    [ASRC_DURABLE] = {SPW_META_DURABLE, "durable"},
};

static void absent(src *s, const char *why) {
    memset(s, 0, sizeof *s);
    s->kind = SK_ABSENT;
    s->absent = why;
}

/*
 * A metadata value. Present on both writes and deletes: msg, namespace,
 * digest, gen; set and userKey when the record has them; lut when XDR
 * shipped it (non-zero); exp on writes only; durable on deletes only.
 */
static void from_meta(const spw_event *ev, asource which, src *s) {
    if (which < ASRC_MSG || which > ASRC_DURABLE) {
        absent(s, "not a metadata name");
        return;
    }
    if (!spw_event_meta_wanted(ev, meta_info[which].meta)) {
        absent(s, "the route excludes it (metadata_exclude)");
        return;
    }
    memset(s, 0, sizeof *s);
    s->utf8 = -1;
    bool del = spw_event_op(ev) == SPW_OP_DELETE;
    switch (which) {
    case ASRC_MSG:
        s->kind = SK_STR;
        s->ptype = SPW_PT_STRING;
        s->ptr = (const uint8_t *)(del ? "delete" : "write");
        s->len = del ? 6 : 5;
        s->utf8 = 1;
        return;
    case ASRC_NAMESPACE:
    case ASRC_SET: {
        spw_str t = which == ASRC_SET ? spw_event_set(ev) : spw_event_namespace(ev);
        if (!t.ptr) {
            absent(s, which == ASRC_SET ? "the record has no set" : "the record has no namespace");
            return;
        }
        s->kind = SK_STR;
        s->ptype = SPW_PT_STRING;
        s->ptr = (const uint8_t *)t.ptr;
        s->len = t.len;
        return;
    }
    case ASRC_KEY: {
        spw_value k;
        if (!spw_event_key(ev, &k)) {
            absent(s, "the record's user key was not shipped");
            return;
        }
        s->ptype = k.type;
        if (k.type == SPW_PT_INTEGER && spw_value_int(&k, &s->i) == SPW_OK)
            s->kind = SK_INT;
        else if (k.type == SPW_PT_DOUBLE && spw_value_double(&k, &s->d) == SPW_OK)
            s->kind = SK_DOUBLE;
        else {
            s->kind = k.type == SPW_PT_STRING ? SK_STR : SK_BYTES;
            s->ptr = k.data;
            s->len = k.data ? k.len : 0;
        }
        return;
    }
    case ASRC_DIGEST:
        s->kind = SK_BYTES;
        s->ptype = SPW_PT_BLOB;
        s->ptr = spw_event_digest(ev);
        s->len = 20;
        return;
    case ASRC_GEN:
        s->kind = SK_INT;
        s->i = spw_event_generation(ev);
        return;
    case ASRC_LUT:
        s->i = spw_event_lut_ms(ev);
        if (s->i == 0)
            absent(s, "the record's last-update time was not shipped");
        else
            s->kind = SK_INT;
        return;
    case ASRC_EXP:
        if (del)
            absent(s, "a delete has no expiry");
        else {
            s->kind = SK_INT;
            s->i = spw_event_expiry(ev);
        }
        return;
    case ASRC_DURABLE:
        if (!del)
            absent(s, "only deletes say whether they are durable");
        else {
            s->kind = SK_BOOL;
            s->b = spw_event_durable(ev);
        }
        return;
    default:
        absent(s, "not a metadata name");
        return;
    }
}

/* ---- the type rules ---- */

static bool utf8_ok(src *s) {
    if (s->utf8 < 0)
        s->utf8 = spw_utf8_valid(s->ptr, s->len) ? 1 : 0;
    return s->utf8 == 1;
}

static bool int_exact_double(int64_t i) {
    double d = (double)i;
    return d >= -0x1p63 && d < 0x1p63 && (int64_t)d == i;
}

static bool int_exact_float(int64_t i) {
    float f = (float)i;
    return f >= -0x1p63f && f < 0x1p63f && (int64_t)f == i;
}

static bool uint_exact(uint64_t u, bool as_float) {
    double d = as_float ? (double)(float)u : (double)u;
    return d < 0x1p64 && (uint64_t)d == u;
}

/*
 * Whether s can be written as the non-union type n, exactly (float being
 * the one rounding conversion). *why explains a refusal.
 */
static bool fits(uenc *e, const anode *n, src *s, const char **why) {
    *why = NULL;
    switch ((anode_kind)n->kind) {
    case AN_NULL:
        return s->kind == SK_NIL || s->kind == SK_ABSENT;
    case AN_BOOLEAN:
        return s->kind == SK_BOOL;
    case AN_INT:
        if (s->kind == SK_INT && s->i >= INT32_MIN && s->i <= INT32_MAX)
            return true;
        if (s->kind == SK_INT || s->kind == SK_UINT)
            *why = "is outside the int range (-2147483648 to 2147483647)";
        return false;
    case AN_LONG:
        if (s->kind == SK_UINT)
            *why = "is above the long range";
        return s->kind == SK_INT;
    case AN_FLOAT:
        if (s->kind == SK_DOUBLE) {
            if (isfinite(s->d) && fabs(s->d) > FLT_MAX) {
                *why = "is outside the float range";
                return false;
            }
            return true;
        }
        if ((s->kind == SK_INT && int_exact_float(s->i)) || (s->kind == SK_UINT && uint_exact(s->u, true)))
            return true;
        if (s->kind == SK_INT || s->kind == SK_UINT)
            *why = "has no exact float value";
        return false;
    case AN_DOUBLE:
        if (s->kind == SK_DOUBLE || (s->kind == SK_INT && int_exact_double(s->i)) ||
            (s->kind == SK_UINT && uint_exact(s->u, false)))
            return true;
        if (s->kind == SK_INT || s->kind == SK_UINT)
            *why = "has no exact double value";
        return false;
    case AN_STRING:
        if (s->kind != SK_STR)
            return false;
        if (utf8_ok(s) || e->c->cfg.invalid_utf8 == ACODEC_UTF8_REPLACE)
            return true;
        *why = e->c->cfg.invalid_utf8 == ACODEC_UTF8_REJECT
                   ? "is not valid UTF-8 (invalid_utf8 = reject)"
                   : "is not valid UTF-8 (invalid_utf8 = bytes: only a bytes type takes it)";
        return false;
    case AN_BYTES:
        return s->kind == SK_STR || s->kind == SK_BYTES;
    case AN_FIXED:
        if (s->kind == SK_BYTES && s->len == n->n)
            return true;
        if (s->kind == SK_BYTES)
            *why = "is not of the fixed type's size";
        return false;
    case AN_ENUM:
        if (s->kind != SK_STR)
            return false;
        for (uint32_t i = 0; i < n->n; i++) {
            const asym *y = &e->p->syms[n->first + i];
            if (y->len == s->len && memcmp(y->name, s->ptr, s->len) == 0)
                return true;
        }
        *why = "is not one of the enum's symbols";
        return false;
    case AN_ARRAY:
        return s->kind == SK_LIST;
    case AN_MAP:
        return s->kind == SK_MAP;
    case AN_RECORD:
        return s->kind == SK_MAP || (s->kind == SK_META && e->p->meta_rec != UINT32_MAX &&
                                     n == &e->p->nodes[e->p->meta_rec]);
    case AN_UNION:
        return false;
    }
    return false;
}

static spw_result enc(uenc *e, uint32_t t, src *s);

static spw_result enc_field(uenc *e, const afield *f, src *s) {
    if ((s->kind == SK_ABSENT || s->kind == SK_NIL) && f->has_default) {
        aw_raw(&e->w, e->p->defaults.data + f->def_off, f->def_len);
        return SPW_OK;
    }
    return enc(e, f->type, s);
}

/* Reads past one value (a whole container with its contents). */
static bool skip_value(spw_walker *wk) {
    uint64_t pending = 1;
    spw_item it;
    while (pending) {
        if (spw_walk_next(wk, &it) != SPW_OK)
            return false;
        pending--;
        if (it.kind == SPW_ITEM_LIST)
            pending += it.u.coll.count;
        else if (it.kind == SPW_ITEM_MAP)
            pending += (uint64_t)it.u.coll.count * 2;
    }
    return true;
}

static spw_result enc_array(uenc *e, const anode *n, src *s) {
    spw_item it;
    if (s->count)
        aw_long(&e->w, s->count);
    for (uint32_t k = 0; k < s->count; k++) {
        if (spw_walk_next(s->wk, &it) != SPW_OK)
            return reject(e, "the list is malformed or truncated");
        src child;
        from_item(&it, s->wk, &child);
        if (!push(e, (seg){NULL, 0, k, false}))
            return reject(e, "the value nests deeper than %d levels", USER_MAX_DEPTH);
        spw_result r = enc(e, n->child, &child);
        e->depth--;
        if (r != SPW_OK)
            return r;
    }
    aw_long(&e->w, 0);
    return SPW_OK;
}

static spw_result enc_map(uenc *e, const anode *n, src *s) {
    spw_item key, it;
    if (s->count)
        aw_long(&e->w, s->count);
    for (uint32_t k = 0; k < s->count; k++) {
        if (spw_walk_next(s->wk, &key) != SPW_OK)
            return reject(e, "the map is malformed or truncated");
        const char *why = "";
        size_t bad = 0;
        if (acodec_put_key(&e->w, &key, e->c->cfg.stringify_map_keys, e->c->c_locale, &bad, &why) !=
            SPW_OK)
            return reject(e, "%s", why);
        if (bad && e->c->cfg.invalid_utf8 == ACODEC_UTF8_REJECT)
            return reject(e, "a map key is not valid UTF-8 (invalid_utf8 = reject)");
        if (spw_walk_next(s->wk, &it) != SPW_OK)
            return reject(e, "the map is malformed or truncated");
        src child;
        from_item(&it, s->wk, &child);
        bool named = key.kind == SPW_ITEM_STR;
        if (!push(e, (seg){named ? (const char *)key.u.bytes.ptr : "?", named ? key.u.bytes.len : 1,
                            k, true}))
            return reject(e, "the value nests deeper than %d levels", USER_MAX_DEPTH);
        spw_result r = enc(e, n->child, &child);
        e->depth--;
        if (r != SPW_OK)
            return r;
    }
    aw_long(&e->w, 0);
    return SPW_OK;
}

/*
 * A map written as a record: each field takes the value of the string key
 * with its name (keys that match no field are left out). The pairs are
 * located first, in one pass, then each field's value is walked on its
 * own from the bytes it occupies. The pair table is per instance and only
 * grows, so steady state allocates nothing.
 */
static spw_result enc_record_map(uenc *e, const anode *n, src *s) {
    acodec *c = e->c;
    size_t base = e->pairs_used;
    if (base + s->count > c->cap_pairs) {
        size_t cap = c->cap_pairs ? c->cap_pairs : 16;
        while (cap < base + s->count)
            cap *= 2;
        apair *np = realloc(c->pairs, cap * sizeof *np);
        if (!np) {
            e->w.err = SPW_ERR_NOMEM;
            return SPW_ERR_NOMEM;
        }
        c->pairs = np;
        c->cap_pairs = cap;
    }
    for (uint32_t k = 0; k < s->count; k++) {
        spw_item key;
        if (spw_walk_next(s->wk, &key) != SPW_OK)
            return reject(e, "the map is malformed or truncated");
        /* The walker's cursor sits on the value's first byte now. */
        const uint8_t *start = s->wk->p;
        if (!start || !skip_value(s->wk))
            return reject(e, "the map is malformed or truncated");
        apair *pr = &c->pairs[base + k];
        pr->key = key.kind == SPW_ITEM_STR ? key.u.bytes.ptr : NULL;
        pr->key_len = key.kind == SPW_ITEM_STR ? key.u.bytes.len : 0;
        pr->val = start;
        pr->val_len = (size_t)(s->wk->p - start);
    }
    e->pairs_used = base + s->count;
    spw_result r = SPW_OK;
    for (uint32_t i = 0; i < n->n && r == SPW_OK; i++) {
        const afield *f = &e->p->fields[n->first + i];
        const uint8_t *val = NULL;
        size_t val_len = 0;
        for (uint32_t k = 0; k < s->count; k++) {
            const apair *pr = &c->pairs[base + k];
            if (pr->key && pr->key_len == f->name_len && memcmp(pr->key, f->name, f->name_len) == 0) {
                val = pr->val;
                val_len = pr->val_len;
                break;
            }
        }
        if (!push(e, (seg){f->name, f->name_len, 0, false})) {
            r = reject(e, "the value nests deeper than %d levels", USER_MAX_DEPTH);
            break;
        }
        src child;
        spw_walker sub;
        if (val) {
            spw_item it;
            /* Any MessagePack value can be walked given the list type. */
            spw_value v = {SPW_PT_LIST, val, val_len};
            if (spw_walk_init(&sub, &v) != SPW_OK || spw_walk_next(&sub, &it) != SPW_OK)
                r = reject(e, "the map value is malformed");
            else
                from_item(&it, &sub, &child);
        } else
            absent(&child, "the map has no such key");
        if (r == SPW_OK)
            r = enc_field(e, f, &child);
        e->depth--;
    }
    e->pairs_used = base;
    return r;
}

/* The `metadata` record: each field takes the metadata of its name. */
static spw_result enc_record_meta(uenc *e, const anode *n, const src *s) {
    spw_result r = SPW_OK;
    for (uint32_t i = 0; i < n->n && r == SPW_OK; i++) {
        const afield *f = &e->p->fields[n->first + i];
        src child;
        from_meta(s->ev, (asource)e->p->meta_src[i], &child);
        if (!push(e, (seg){f->name, f->name_len, 0, false}))
            return reject(e, "the value nests deeper than %d levels", USER_MAX_DEPTH);
        r = enc_field(e, f, &child);
        e->depth--;
    }
    return r;
}

/* Writes s, which fits, as the non-union type t. */
static spw_result write_value(uenc *e, const anode *n, src *s) {
    aw *w = &e->w;
    switch ((anode_kind)n->kind) {
    case AN_NULL:
        return SPW_OK;
    case AN_BOOLEAN:
        aw_bool(w, s->b);
        return SPW_OK;
    case AN_INT:
    case AN_LONG:
        aw_long(w, s->i);
        return SPW_OK;
    case AN_FLOAT:
        aw_float(w, s->kind == SK_DOUBLE ? (float)s->d : s->kind == SK_INT ? (float)s->i : (float)s->u);
        return SPW_OK;
    case AN_DOUBLE:
        aw_double(w, s->kind == SK_DOUBLE ? s->d : s->kind == SK_INT ? (double)s->i : (double)s->u);
        return SPW_OK;
    case AN_STRING:
        if (utf8_ok(s))
            aw_bytes(w, s->ptr, s->len);
        else {
            size_t bad = 0;
            acodec_put_text(w, s->ptr, s->len, &bad);
        }
        return SPW_OK;
    case AN_BYTES:
        aw_bytes(w, s->ptr, s->len);
        return SPW_OK;
    case AN_FIXED:
        aw_raw(w, s->ptr, s->len);
        return SPW_OK;
    case AN_ENUM:
        for (uint32_t i = 0; i < n->n; i++) {
            const asym *y = &e->p->syms[n->first + i];
            if (y->len == s->len && memcmp(y->name, s->ptr, s->len) == 0) {
                aw_long(w, i);
                return SPW_OK;
            }
        }
        return reject(e, "no enum symbol matches"); /* fits() said one did */
    case AN_ARRAY:
        return enc_array(e, n, s);
    case AN_MAP:
        return enc_map(e, n, s);
    case AN_RECORD:
        return s->kind == SK_META ? enc_record_meta(e, n, s) : enc_record_map(e, n, s);
    case AN_UNION:
        break;
    }
    return reject(e, "internal error: unexpected type");
}

/*
 * Whether a value of kind k can ever be written as the non-union kind b
 * (fits() then looks at the value), and whether it always can (so a union
 * whose first such branch is that one needs no look at the value).
 */
static bool kind_can(anode_kind b, skind k) {
    switch (b) {
    case AN_BOOLEAN: return k == SK_BOOL;
    case AN_INT:
    case AN_LONG: return k == SK_INT || k == SK_UINT;
    case AN_FLOAT:
    case AN_DOUBLE: return k == SK_DOUBLE || k == SK_INT || k == SK_UINT;
    case AN_STRING:
    case AN_ENUM: return k == SK_STR;
    case AN_BYTES: return k == SK_STR || k == SK_BYTES;
    case AN_FIXED: return k == SK_BYTES;
    case AN_ARRAY: return k == SK_LIST;
    case AN_MAP: return k == SK_MAP;
    case AN_RECORD: return k == SK_MAP || k == SK_META;
    default: return false;
    }
}

static bool kind_always(anode_kind b, skind k, int invalid_utf8) {
    switch (b) {
    case AN_BOOLEAN:
    case AN_BYTES:
    case AN_ARRAY:
    case AN_MAP: return true;
    case AN_LONG: return k == SK_INT;
    case AN_DOUBLE: return k == SK_DOUBLE;
    case AN_FLOAT: return false;
    case AN_STRING: return invalid_utf8 == ACODEC_UTF8_REPLACE;
    case AN_RECORD: return k == SK_MAP; /* SK_META: only the metadata record */
    default: return false;
    }
}

spw_result acodec_user_prepare(aplan *p, int invalid_utf8) {
    p->quick = calloc(p->n_nodes ? p->n_nodes : 1, sizeof *p->quick);
    if (!p->quick)
        return SPW_ERR_NOMEM;
    for (size_t t = 0; t < p->n_nodes; t++) {
        const anode *n = &p->nodes[t];
        if (n->kind != AN_UNION || n->n > 255)
            continue;
        for (int k = SK_BOOL; k < SK_COUNT; k++)
            for (uint32_t i = 0; i < n->n; i++) {
                anode_kind b = (anode_kind)p->nodes[p->branches[n->first + i]].kind;
                if (!kind_can(b, (skind)k))
                    continue;
                /* The first branch that could take it: when it always
                 * does, fits() would pick it too, whatever the value. */
                if (kind_always(b, (skind)k, invalid_utf8))
                    p->quick[t][k] = (uint8_t)(i + 1);
                break;
            }
    }
    return SPW_OK;
}

static spw_result enc(uenc *e, uint32_t t, src *s) {
    const anode *n = &e->p->nodes[t];
    char what[160], type[160];
    const char *why = NULL;
    if (n->kind == AN_UNION) {
        uint8_t q = e->p->quick[t][s->kind];
        if (q) {
            aw_index(&e->w, q - 1u);
            return write_value(e, &e->p->nodes[e->p->branches[n->first + q - 1]], s);
        }
        if (s->kind == SK_ABSENT || s->kind == SK_NIL) {
            if (n->null_branch >= 0) {
                aw_index(&e->w, (uint32_t)n->null_branch);
                return SPW_OK;
            }
            type_text(e->p, t, type, sizeof type);
            return reject(e, "%s, and its type %s has no null branch and the field no default",
                          describe(s, what, sizeof what), type);
        }
        const char *first_why = NULL;
        for (uint32_t i = 0; i < n->n; i++) {
            const anode *b = &e->p->nodes[e->p->branches[n->first + i]];
            if (b->kind == AN_NULL)
                continue;
            if (fits(e, b, s, &why)) {
                aw_index(&e->w, i);
                return write_value(e, b, s);
            }
            if (why && !first_why)
                first_why = why;
        }
        type_text(e->p, t, type, sizeof type);
        return reject(e, "%s fits no branch of %s%s%s", describe(s, what, sizeof what), type,
                      first_why ? ": it " : "", first_why ? first_why : "");
    }
    if (fits(e, n, s, &why))
        return write_value(e, n, s);
    type_text(e->p, t, type, sizeof type);
    if (s->kind == SK_ABSENT || s->kind == SK_NIL)
        return reject(e, "%s, and its type %s is not nullable and the field has no default",
                      describe(s, what, sizeof what), type);
    if (why)
        return reject(e, "%s %s, so it cannot be written as %s", describe(s, what, sizeof what), why,
                      type);
    return reject(e, "%s cannot be written as %s", describe(s, what, sizeof what), type);
}

/* ---- the record ---- */

static uint32_t hash_name(const void *s, size_t n) {
    const uint8_t *p = s;
    uint32_t h = 2166136261u; /* FNV-1a, as schema.c builds the table */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

/* Finds the bin of each bin-bound field in one pass over the bins. */
static void bind_bins(acodec *c, const spw_event *ev) {
    const aplan *p = &c->plan;
    const anode *root = &p->nodes[p->root];
    memset(c->slots, 0, root->n * sizeof *c->slots);
    if (!p->n_bin_fields)
        return;
    size_t n = spw_event_bin_count(ev);
    for (size_t i = 0; i < n; i++) {
        const spw_bin *b = spw_event_bin(ev, i);
        if (!b || !b->name.ptr)
            continue;
        uint32_t h = hash_name(b->name.ptr, b->name.len) & p->bin_mask;
        for (uint32_t slot; (slot = p->bin_slots[h]) != 0; h = (h + 1) & p->bin_mask) {
            const afield *f = &p->fields[root->first + slot - 1];
            if (f->name_len == b->name.len && memcmp(f->name, b->name.ptr, b->name.len) == 0) {
                if (!c->slots[slot - 1]) /* the first bin of a name, as spw_event_find_bin */
                    c->slots[slot - 1] = b;
                break;
            }
        }
    }
}

spw_result acodec_user_datum(acodec *c, const spw_event *ev, aw *w, spw_err *err) {
    uenc e = {.c = c, .p = &c->plan, .w = *w, .err = err};
    const aplan *p = e.p;
    const anode *root = &p->nodes[p->root];
    spw_op op = spw_event_op(ev);
    if (op != SPW_OP_WRITE && op != SPW_OP_DELETE)
        return reject(&e, "unknown operation %d", (int)op);
    bind_bins(c, ev);
    for (uint32_t i = 0; i < root->n; i++) {
        const afield *f = &p->fields[root->first + i];
        src s;
        spw_walker wk;
        spw_result r = SPW_OK;
        e.depth = 0;
        push(&e, (seg){f->name, f->name_len, 0, false});
        switch ((asource)p->top_src[i]) {
        case ASRC_BIN:
            if (c->slots[i])
                r = from_bin(&e, c->slots[i], &wk, &s);
            else
                absent(&s, "the record has no bin of that name");
            break;
        case ASRC_METADATA:
            memset(&s, 0, sizeof s);
            s.kind = SK_META;
            s.ev = ev;
            break;
        default:
            from_meta(ev, (asource)p->top_src[i], &s);
            break;
        }
        if (r == SPW_OK)
            r = enc_field(&e, f, &s);
        if (r == SPW_OK && (s.kind == SK_LIST || s.kind == SK_MAP)) {
            spw_item extra;
            if (spw_walk_next(&wk, &extra) != SPW_ERR_NOTFOUND)
                r = reject(&e, "the %s value has bytes after its end",
                           s.kind == SK_MAP ? "map" : "list");
        }
        if (r != SPW_OK)
            return r;
        if (e.w.err != SPW_OK)
            break;
    }
    *w = e.w;
    return SPW_OK;
}

/*
 * plugins/codec-json/encode.c: one event -> the vendor's typed JSON
 * (`json` format of Aerospike Connect for ESP). The values inside are
 * written by value.c, which the flat-json codec shares.
 *
 *   write:  {"msg":"write","key":[NS,SET|null,DIGEST,USERKEY|null],
 *            "gen":G,"exp":E,"lut":L,"bins":[BIN,...]}
 *   delete: {"msg":"delete","key":[...],"durable":B[,"gen":G,"lut":L]}
 *   BIN:    {"name":N,"type":T,"value":V[,"ordered":B|,"order":O][,"ptype":P][,"lut":MS]}
 *
 * With id_field, `"ID_FIELD":"DIGESTHEX-LUT"` (the idempotency key, ${id})
 * follows the metadata: before "bins" on writes, last on deletes.
 *
 * Metadata a route excludes (metadata_exclude) is left out: "msg", "gen",
 * "exp", "lut" and "durable" disappear as members; the four positions of
 * "key" stay (the array has a fixed shape) and hold null instead.
 */
#include "encode.h"

/* ---- bins ---- */

/* What follows a bin's name, per type: `,"type":"T","value":`, padded so
 * that it is copied as one constant-sized block. */
enum { T_NIL, T_INT, T_FLOAT, T_BOOL, T_STR, T_HLL, T_LIST, T_MAP, T_GEOJSON, T_BLOB };
#define TAIL(t) {",\"type\":\"" t "\",\"value\":", sizeof(",\"type\":\"" t "\",\"value\":") - 1}
static const struct {
    char s[32];
    uint8_t n;
} tails[] = {TAIL("nil"),  TAIL("int"),  TAIL("float"), TAIL("bool"),    TAIL("str"),
             TAIL("hll"),  TAIL("list"), TAIL("map"),   TAIL("geojson"), TAIL("blob")};

/* `{"name":NAME,"type":"T","value":`, after the previous bin's closing
 * `},` unless it is the first (put_bin leaves its object open so the two
 * are one copy). */
JCODEC_INLINE spw_result put_bin_head(jenc *e, const spw_bin *bin, bool first, unsigned t) {
    spw_buf *b = e->out;
    spw_result r = first ? jenc_name_pre(e, "{\"name\":", 8, bin->name)
                         : jenc_name_pre(e, "},{\"name\":", 10, bin->name);
    if (r != SPW_OK || (r = jcodec_room(b, sizeof tails[t].s)) != SPW_OK)
        return r;
    memcpy(b->data + b->len, tails[t].s, sizeof tails[t].s);
    b->len += tails[t].n;
    return SPW_OK;
}

#define HEAD(e, bin, t) put_bin_head((e), (bin), first, (t))

/*
 * One bin. Types: str, int, float, bool, blob (Base64; also the language
 * blobs 7..12 and vectors 16, which have no JSON form of their own), hll
 * (Base64), list (+"ordered"), map (+"order" when ordered), geojson, nil
 * for a deleted bin (value null). A particle type this codec does not know
 * is sent losslessly as a blob with its number in "ptype".
 */
static spw_result put_bin(jenc *e, const spw_bin *bin, bool first) {
    spw_buf *b = e->out;
    uint8_t type = bin->value.type;
    size_t mark = b->len;
    bool unknown = false;
    jbin_info info;
    spw_result r;
    e->what = "bin";
    e->name = bin->name;
    if (!e->name.ptr)
        e->name.ptr = "";

    unsigned t;
    switch (type) {
    case SPW_PT_NIL: t = T_NIL; break;
    case SPW_PT_INTEGER: t = T_INT; break;
    case SPW_PT_DOUBLE: t = T_FLOAT; break;
    case SPW_PT_BOOL: t = T_BOOL; break;
    case SPW_PT_STRING: t = T_STR; break;
    case SPW_PT_HLL: t = T_HLL; break;
    case SPW_PT_LIST: t = T_LIST; break;
    case SPW_PT_MAP: t = T_MAP; break;
    case SPW_PT_GEOJSON: t = T_GEOJSON; break;
    default: /* the blob family and vectors; unknown types say their number */
        unknown = !spw_particle_is_blob(type) && type != SPW_PT_VECTOR;
        t = T_BLOB;
        break;
    }
    r = HEAD(e, bin, t);
    if (r != SPW_OK)
        return r;
    /* The two commonest values without jenc_bin_value's dispatch: an
     * integer of the usual 8 bytes, and a string that is well-formed UTF-8
     * (the inline writer says so with bad == 0; otherwise it is undone and
     * jenc_bin_value applies the invalid_utf8 policy). */
    const spw_value *v = &bin->value;
    bool done = false;
    if (type == SPW_PT_INTEGER && v->len == 8 && v->data) {
        int64_t i;
        if (spw_value_int(v, &i) == SPW_OK) {
            r = jenc_i64(b, i);
            done = true;
        }
    } else if (type == SPW_PT_STRING && (v->data || v->len == 0)) {
        size_t vmark = b->len, bad = 0;
        if ((r = jcodec_put_str(b, v->data, v->len, &bad)) != SPW_OK)
            return r;
        done = bad == 0;
        if (!done)
            b->len = vmark;
    }
    if (!done && (r = jenc_bin_value(e, bin, &info)) != SPW_OK)
        return r;
    if (done)
        ; /* an integer or a clean string: nothing follows the value */
    else if (info.as_b64) { /* invalid_utf8 = base64: bytes, not text, so say blob */
        b->len = mark;
        if ((r = HEAD(e, bin, T_BLOB)) != SPW_OK)
            return r;
        r = jenc_b64(b, bin->value.data, bin->value.data ? bin->value.len : 0);
    } else if (type == SPW_PT_LIST)
        r = (info.order & SPW_ORDER_KEY) ? JCODEC_LIT(b, ",\"ordered\":true")
                                         : JCODEC_LIT(b, ",\"ordered\":false");
    else if (type == SPW_PT_MAP) {
        if ((info.order & SPW_ORDER_KEY_VALUE) == SPW_ORDER_KEY_VALUE)
            r = JCODEC_LIT(b, ",\"order\":\"key-value\"");
        else if (info.order & SPW_ORDER_KEY)
            r = JCODEC_LIT(b, ",\"order\":\"key\"");
        /* unordered (and preserve-order alone): no "order", as the vendor */
    } else if (unknown) {
        if ((r = JCODEC_LIT(b, ",\"ptype\":")) == SPW_OK)
            r = jenc_u64(b, type);
    }
    if (r == SPW_OK && e->c->cfg.bin_luts && bin->lut_ms != 0) {
        if ((r = JCODEC_LIT(b, ",\"lut\":")) == SPW_OK)
            r = jenc_i64(b, bin->lut_ms);
    }
    return r; /* the object is closed by the next bin's head or the record's end */
}

/* ---- the record ---- */

static spw_result put_u_field(spw_buf *b, const char *lit, size_t n, uint64_t v) {
    spw_result r = jcodec_put(b, lit, n);
    return r == SPW_OK ? jenc_u64(b, v) : r;
}

static spw_result put_i64_field(spw_buf *b, const char *lit, size_t n, int64_t v) {
    spw_result r = jcodec_put(b, lit, n);
    return r == SPW_OK ? jenc_i64(b, v) : r;
}

#define FIELD_U(b, lit, v) put_u_field((b), (lit), sizeof(lit) - 1, (v))
#define FIELD_I(b, lit, v) put_i64_field((b), (lit), sizeof(lit) - 1, (v))

static spw_result put_record(jenc *e, const spw_event *ev) {
    spw_buf *b = e->out;
    spw_op op = spw_event_op(ev);
    unsigned want = jcodec_meta_wanted(ev);
    spw_result r;
    if (op != SPW_OP_WRITE && op != SPW_OP_DELETE) {
        e->what = "record";
        return jenc_reject(e, "unknown operation %d", (int)op);
    }
    if (!(want & SPW_META_MSG))
        r = JCODEC_LIT(b, "{\"key\":[");
    else if (op == SPW_OP_WRITE)
        r = JCODEC_LIT(b, "{\"msg\":\"write\",\"key\":[");
    else
        r = JCODEC_LIT(b, "{\"msg\":\"delete\",\"key\":[");
    if (r != SPW_OK)
        return r;

    e->what = "namespace";
    r = (want & SPW_META_NAMESPACE) ? jenc_name(e, spw_event_namespace(ev)) : JCODEC_LIT(b, "null");
    if (r != SPW_OK)
        return r;
    spw_str set = spw_event_set(ev);
    e->what = "set";
    r = set.ptr && (want & SPW_META_SET) ? jenc_name_pre(e, ",", 1, set) : JCODEC_LIT(b, ",null");
    if (r != SPW_OK || (r = JCODEC_LIT(b, ",")) != SPW_OK)
        return r;
    r = (want & SPW_META_DIGEST) ? jenc_b64(b, spw_event_digest(ev), 20) : JCODEC_LIT(b, "null");
    if (r != SPW_OK || (r = JCODEC_LIT(b, ",")) != SPW_OK)
        return r;
    r = (want & SPW_META_KEY) ? jenc_user_key(e, ev) : JCODEC_LIT(b, "null");
    if (r != SPW_OK || (r = JCODEC_LIT(b, "]")) != SPW_OK)
        return r;

    if (op == SPW_OP_DELETE) {
        if (want & SPW_META_DURABLE)
            r = spw_event_durable(ev) ? JCODEC_LIT(b, ",\"durable\":true")
                                      : JCODEC_LIT(b, ",\"durable\":false");
        /* delete_metadata: XDR ships both on deletes; additions, never renames */
        if (r == SPW_OK && e->c->cfg.delete_metadata && (want & SPW_META_GEN))
            r = FIELD_U(b, ",\"gen\":", spw_event_generation(ev));
        if (r == SPW_OK && e->c->cfg.delete_metadata && (want & SPW_META_LUT))
            r = FIELD_I(b, ",\"lut\":", spw_event_lut_ms(ev));
        if (r == SPW_OK && e->c->id)
            r = jenc_id(e, ev, ",", 1);
        return r == SPW_OK ? JCODEC_LIT(b, "}") : r;
    }

    if ((want & SPW_META_GEN) && (r = FIELD_U(b, ",\"gen\":", spw_event_generation(ev))) != SPW_OK)
        return r;
    if ((want & SPW_META_EXP) && (r = FIELD_I(b, ",\"exp\":", spw_event_expiry(ev))) != SPW_OK)
        return r;
    if ((want & SPW_META_LUT) && (r = FIELD_I(b, ",\"lut\":", spw_event_lut_ms(ev))) != SPW_OK)
        return r;
    if (e->c->id && (r = jenc_id(e, ev, ",", 1)) != SPW_OK)
        return r;
    if ((r = JCODEC_LIT(b, ",\"bins\":[")) != SPW_OK)
        return r;
    size_t n = spw_event_bin_count(ev);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        const spw_bin *bin = spw_event_bin(ev, i);
        if (!bin)
            continue;
        if ((r = put_bin(e, bin, !any)) != SPW_OK)
            return r;
        any = true;
    }
    return any ? JCODEC_LIT(b, "}]}") : JCODEC_LIT(b, "]}");
}

spw_result jcodec_encode(const jcodec *c, const spw_event *ev, spw_buf *out, spw_err *err) {
    jenc e = {c, out, err, "record", {NULL, 0}};
    size_t start = out->len;
    return jcodec_finish(c, out, start, put_record(&e, ev), err);
}

/*
 * The bins alone, `[BIN,...]`, as the record above carries them: what
 * `spillway tap` (core/taps.c) shows, so that a tapped event reads like the
 * json codec's record.
 */
spw_result jcodec_encode_bins(const jcodec *c, const spw_event *ev, spw_buf *out, spw_err *err) {
    jenc e = {c, out, err, "record", {NULL, 0}};
    size_t start = out->len;
    spw_result r = JCODEC_LIT(out, "[");
    size_t n = spw_event_bin_count(ev);
    bool any = false;
    for (size_t i = 0; r == SPW_OK && i < n; i++) {
        const spw_bin *bin = spw_event_bin(ev, i);
        if (!bin)
            continue;
        r = put_bin(&e, bin, !any);
        any = true;
    }
    if (r == SPW_OK)
        r = any ? JCODEC_LIT(out, "}]") : JCODEC_LIT(out, "]");
    return jcodec_finish(c, out, start, r, err);
}

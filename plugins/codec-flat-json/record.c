/*
 * plugins/codec-flat-json/record.c: one event -> one flat-json record:
 * one JSON object, every bin a top-level member named after the bin, with
 * no type information, and the record's metadata in one object under the
 * configured metadata_key:
 *
 *   write:  {"MK":{"msg":"write","namespace":NS,"set":SET|null,
 *                  "userKey":K|null,"digest":D,"gen":G,"lut":L,"exp":E
 *                  [,"binLuts":{BIN:MS,...}]},"BIN1":V1,"BIN2":V2,...}
 *   delete: {"MK":{"msg":"delete","namespace":NS,"set":SET|null,
 *                  "userKey":K|null,"digest":D,"durable":B[,"gen":G,"lut":L]}}
 *
 * Values are written exactly as the json codec writes them (value.c):
 * Base64 for blobs, HLLs and vectors, GeoJSON as an object, lists and
 * maps as arrays and objects, the same UTF-8, non-finite and map-key
 * policies. The metadata comes first so a streaming reader knows what
 * the record is before it reads the bins.
 *
 * Names must stay unique in one JSON object, or readers silently keep one
 * of the values. Two things can collide: a bin named like metadata_key,
 * and (only after a route's bins_rename, XDR never ships two bins of one
 * name) two bins with the same name. name_collision = rename appends '_'
 * to the later name until it is unique, never taking a name another bin
 * has; reject rejects the record with the bin named. Detecting it costs a
 * length comparison per bin for metadata_key, and pairwise comparisons
 * (up to 8 bins) or a small hash table for duplicates. Renaming itself is
 * the rare path and simple: each candidate name is compared with every
 * bin, quadratic in the bins, which only a route renaming many bins onto
 * one name could make slow.
 *
 * Metadata a route excludes (metadata_exclude) is left out of the
 * metadata object; a set or user key the record does not have is null.
 */
#include <stdlib.h>
#include "flat.h"

/* ---- instances ---- */

spw_result fcodec_check(const fcodec_config *cfg, spw_err *err) {
    const char *k = cfg->metadata_key;
    if (!k || !*k)
        return spw_err_set(err, SPW_ERR_CONFIG, "metadata_key must not be empty");
    if (!spw_utf8_valid(k, strlen(k)))
        return spw_err_set(err, SPW_ERR_CONFIG, "metadata_key is not valid UTF-8");
    /* The metadata object's own members: id_field must not repeat one. */
    static const char *const taken[] = {"msg", "namespace", "set", "userKey", "digest", "durable",
                                        "gen", "lut", "exp", "binLuts", NULL};
    return jcodec_check_id(&cfg->j, taken, err);
}

spw_result fcodec_init(fcodec *f, const fcodec_config *cfg) {
    memset(f, 0, sizeof *f);
    spw_result r = jcodec_init(&f->j, &cfg->j);
    if (r != SPW_OK)
        return r;
    f->j.label = "flat-json codec";
    f->mkey = (spw_str){cfg->metadata_key ? cfg->metadata_key : "",
                        cfg->metadata_key ? strlen(cfg->metadata_key) : 0};
    f->name_collision = cfg->name_collision;
    return SPW_OK;
}

void fcodec_fini(fcodec *f) {
    jcodec_fini(&f->j);
    free(f->suffix);
    free(f->slots);
    f->suffix = NULL;
    f->slots = NULL;
    f->cap_bins = f->n_slots = 0;
}

/* ---- name collisions ---- */

/* Makes room for n bins in the scratch arrays (grows, never shrinks). */
static spw_result scratch(fcodec *f, size_t n) {
    if (n <= f->cap_bins)
        return SPW_OK;
    size_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    uint16_t *s = realloc(f->suffix, n * sizeof *s);
    if (!s)
        return SPW_ERR_NOMEM;
    f->suffix = s;
    uint32_t *t = realloc(f->slots, slots * sizeof *t);
    if (!t)
        return SPW_ERR_NOMEM;
    f->slots = t;
    f->n_slots = slots;
    f->cap_bins = n;
    return SPW_OK;
}

static bool same(spw_str a, spw_str b) {
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* Is a followed by ka '_' the same name as b followed by kb '_'? */
static bool same_suffixed(spw_str a, size_t ka, spw_str b, size_t kb) {
    if (a.len + ka != b.len + kb)
        return false;
    if (a.len < b.len) { /* make a the longer original */
        spw_str t = a;
        a = b;
        b = t;
    }
    if (b.len && memcmp(a.ptr, b.ptr, b.len) != 0)
        return false;
    for (size_t i = b.len; i < a.len; i++) /* where the shorter has its '_' */
        if (a.ptr[i] != '_')
            return false;
    return true;
}

static uint32_t name_hash(spw_str s) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < s.len; i++)
        h = (h ^ (uint8_t)s.ptr[i]) * 16777619u;
    return h;
}

/* True when two bins share a name. */
static bool has_duplicates(fcodec *f, const spw_event *ev, size_t n) {
    if (n <= 8) {
        for (size_t i = 1; i < n; i++)
            for (size_t j = 0; j < i; j++)
                if (same(spw_event_bin(ev, i)->name, spw_event_bin(ev, j)->name))
                    return true;
        return false;
    }
    size_t mask = f->n_slots - 1;
    memset(f->slots, 0, f->n_slots * sizeof *f->slots);
    for (size_t i = 0; i < n; i++) {
        spw_str name = spw_event_bin(ev, i)->name;
        for (size_t s = name_hash(name) & mask;; s = (s + 1) & mask) {
            if (f->slots[s] == 0) {
                f->slots[s] = (uint32_t)i + 1;
                break;
            }
            if (same(spw_event_bin(ev, f->slots[s] - 1)->name, name))
                return true;
        }
    }
    return false;
}

/* Is bin i's name with k '_' already taken: the metadata key, the final
 * name of an earlier bin, or (once renamed) any other bin's own name? */
static bool taken(const fcodec *f, const spw_event *ev, size_t n, size_t i, size_t k) {
    spw_str name = spw_event_bin(ev, i)->name;
    if (same_suffixed(name, k, f->mkey, 0))
        return true;
    for (size_t j = 0; j < n; j++) {
        if (j == i)
            continue;
        spw_str other = spw_event_bin(ev, j)->name;
        if (j < i && same_suffixed(name, k, other, f->suffix[j]))
            return true;
        if (k > 0 && same_suffixed(name, k, other, 0))
            return true;
    }
    return false;
}

/*
 * Decides every bin's final name. Returns SPW_OK with *renamed false when
 * no name collides (the common case, and the only one for XDR input);
 * otherwise fills f->suffix, or rejects under name_collision = reject.
 */
static spw_result resolve_names(fcodec *f, jenc *e, const spw_event *ev, size_t n, bool *renamed) {
    *renamed = false;
    bool clash = false;
    for (size_t i = 0; i < n && !clash; i++)
        clash = same(spw_event_bin(ev, i)->name, f->mkey);
    if (n > 1 && !clash) {
        spw_result r = n > 8 ? scratch(f, n) : SPW_OK; /* the hash table */
        if (r != SPW_OK)
            return r;
        clash = has_duplicates(f, ev, n);
    }
    if (!clash)
        return SPW_OK;
    spw_result r = scratch(f, n);
    if (r != SPW_OK)
        return r;
    for (size_t i = 0; i < n; i++) {
        size_t k = 0;
        while (taken(f, ev, n, i, k)) {
            if (f->name_collision == FCODEC_COLLISION_REJECT) {
                e->what = "bin";
                e->name = spw_event_bin(ev, i)->name;
                return jenc_reject(e, same(e->name, f->mkey)
                                          ? "the name is the metadata_key (name_collision = reject)"
                                          : "two bins have this name (after bins_rename?; "
                                            "name_collision = reject)");
            }
            if (++k > UINT16_MAX - 1) {
                e->what = "bin";
                e->name = spw_event_bin(ev, i)->name;
                return jenc_reject(e, "no free name for it");
            }
        }
        f->suffix[i] = (uint16_t)k;
    }
    *renamed = true;
    return SPW_OK;
}

/* A member name: the bin's name, plus its '_' suffix, as a JSON string. */
static spw_result put_member_name(jenc *e, spw_str name, size_t k) {
    spw_result r = jenc_name(e, name);
    if (r != SPW_OK || k == 0)
        return r;
    spw_buf *b = e->out;
    if ((r = jcodec_room(b, k + 1)) != SPW_OK)
        return r;
    b->len--; /* the closing quote */
    memset(b->data + b->len, '_', k);
    b->len += k;
    b->data[b->len++] = '"';
    return SPW_OK;
}

/* ---- the record ---- */

/* Appends ,"name": (or "name": for the first member of an object). */
static spw_result put_key(spw_buf *b, bool *first, const char *lit, size_t n) {
    spw_result r = SPW_OK;
    if (!*first)
        r = JCODEC_LIT(b, ",");
    *first = false;
    return r == SPW_OK ? jcodec_put(b, lit, n) : r;
}

#define KEY(b, first, lit) put_key((b), (first), (lit), sizeof(lit) - 1)

static spw_result put_metadata(fcodec *f, jenc *e, const spw_event *ev, spw_op op, bool renamed) {
    spw_buf *b = e->out;
    unsigned want = jcodec_meta_wanted(ev);
    bool first = true;
    spw_result r = JCODEC_LIT(b, "{");
    if (r == SPW_OK && (want & SPW_META_MSG))
        r = op == SPW_OP_WRITE ? KEY(b, &first, "\"msg\":\"write\"")
                               : KEY(b, &first, "\"msg\":\"delete\"");
    if (r == SPW_OK && (want & SPW_META_NAMESPACE) &&
        (r = KEY(b, &first, "\"namespace\":")) == SPW_OK) {
        e->what = "namespace";
        r = jenc_name(e, spw_event_namespace(ev));
    }
    if (r == SPW_OK && (want & SPW_META_SET) && (r = KEY(b, &first, "\"set\":")) == SPW_OK) {
        spw_str set = spw_event_set(ev);
        e->what = "set";
        r = set.ptr ? jenc_name(e, set) : JCODEC_LIT(b, "null");
    }
    if (r == SPW_OK && (want & SPW_META_KEY) && (r = KEY(b, &first, "\"userKey\":")) == SPW_OK)
        r = jenc_user_key(e, ev);
    if (r == SPW_OK && (want & SPW_META_DIGEST) && (r = KEY(b, &first, "\"digest\":")) == SPW_OK)
        r = jenc_b64(b, spw_event_digest(ev), 20);
    if (r != SPW_OK)
        return r;

    bool extra = op == SPW_OP_WRITE || f->j.cfg.delete_metadata;
    if (op == SPW_OP_DELETE && (want & SPW_META_DURABLE))
        r = spw_event_durable(ev) ? KEY(b, &first, "\"durable\":true")
                                  : KEY(b, &first, "\"durable\":false");
    if (r == SPW_OK && extra && (want & SPW_META_GEN) && (r = KEY(b, &first, "\"gen\":")) == SPW_OK)
        r = jenc_u64(b, spw_event_generation(ev));
    if (r == SPW_OK && extra && (want & SPW_META_LUT) && (r = KEY(b, &first, "\"lut\":")) == SPW_OK)
        r = jenc_i64(b, spw_event_lut_ms(ev));
    if (r == SPW_OK && op == SPW_OP_WRITE && (want & SPW_META_EXP) &&
        (r = KEY(b, &first, "\"exp\":")) == SPW_OK)
        r = jenc_i64(b, spw_event_expiry(ev));
    if (r == SPW_OK && op == SPW_OP_WRITE && f->j.cfg.bin_luts &&
        (r = KEY(b, &first, "\"binLuts\":{")) == SPW_OK) {
        size_t n = spw_event_bin_count(ev);
        bool inner = true;
        e->what = "bin";
        for (size_t i = 0; i < n && r == SPW_OK; i++) {
            const spw_bin *bin = spw_event_bin(ev, i);
            if (bin->lut_ms == 0)
                continue;
            if (!inner)
                r = JCODEC_LIT(b, ",");
            inner = false;
            e->name = bin->name;
            if (r == SPW_OK)
                r = put_member_name(e, bin->name, renamed ? f->suffix[i] : 0);
            if (r == SPW_OK && (r = JCODEC_LIT(b, ":")) == SPW_OK)
                r = jenc_i64(b, bin->lut_ms);
        }
        e->name = (spw_str){NULL, 0};
        if (r == SPW_OK)
            r = JCODEC_LIT(b, "}");
    }
    if (r == SPW_OK && f->j.id) {
        r = jenc_id(e, ev, first ? "" : ",", first ? 0 : 1);
        first = false;
    }
    return r == SPW_OK ? JCODEC_LIT(b, "}") : r;
}

static spw_result put_record(fcodec *f, jenc *e, const spw_event *ev) {
    spw_buf *b = e->out;
    spw_op op = spw_event_op(ev);
    if (op != SPW_OP_WRITE && op != SPW_OP_DELETE) {
        e->what = "record";
        return jenc_reject(e, "unknown operation %d", (int)op);
    }
    /* Deletes carry no bins: whatever the event holds is not written. */
    size_t n = op == SPW_OP_WRITE ? spw_event_bin_count(ev) : 0;
    bool renamed = false;
    spw_result r = resolve_names(f, e, ev, n, &renamed);
    if (r != SPW_OK)
        return r;

    if ((r = JCODEC_LIT(b, "{")) != SPW_OK)
        return r;
    e->what = "metadata_key";
    if ((r = jenc_name(e, f->mkey)) != SPW_OK || (r = JCODEC_LIT(b, ":")) != SPW_OK)
        return r;
    if ((r = put_metadata(f, e, ev, op, renamed)) != SPW_OK)
        return r;
    for (size_t i = 0; i < n; i++) {
        const spw_bin *bin = spw_event_bin(ev, i);
        jbin_info info;
        e->what = "bin";
        e->name = bin->name;
        if (!e->name.ptr)
            e->name.ptr = "";
        if ((r = JCODEC_LIT(b, ",")) != SPW_OK ||
            (r = put_member_name(e, bin->name, renamed ? f->suffix[i] : 0)) != SPW_OK ||
            (r = JCODEC_LIT(b, ":")) != SPW_OK || (r = jenc_bin_value(e, bin, &info)) != SPW_OK)
            return r;
        /* No type information: a string written as Base64 under
         * invalid_utf8 = base64 is just a string here. */
    }
    return JCODEC_LIT(b, "}");
}

spw_result fcodec_encode(fcodec *f, const spw_event *ev, spw_buf *out, spw_err *err) {
    jenc e = {&f->j, out, err, "record", {NULL, 0}};
    size_t start = out->len;
    return jcodec_finish(&f->j, out, start, put_record(f, &e, ev), err);
}


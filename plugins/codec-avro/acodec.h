/*
 * plugins/codec-avro/acodec.h: the avro codec's internals, shared by the
 * plugin glue (avro.c), the schema compiler (schema.c), the two encoders
 * (generic.c for the built-in schema, user.c for a configured one), the
 * text helpers (text.c), the framing (frame.c) and the unit test, which
 * compiles these sources directly.
 *
 * Why the Avro binary encoding is written here rather than by avro-c:
 * avro-c's generic value API allocates per value and walks its own type
 * tree through function pointers, several microseconds per record; the
 * encoding itself is small (zig-zag varints, length-prefixed bytes, a
 * union index, fields in schema order). So avro-c only vets the schema
 * text (names, known types) and this codec compiles the schema into a
 * plan of flat nodes that the per-record encoder follows, writing into the
 * caller's buffer with no allocation once that buffer has grown.
 *
 * Nothing here is exported from the plugin: the build hides every symbol
 * but the descriptor.
 */
#ifndef SPW_CODEC_AVRO_ACODEC_H
#define SPW_CODEC_AVRO_ACODEC_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <zlib.h>
#include <spillway/spillway.h>

/* ---- configuration (avro.c holds the option table) ---- */

enum acodec_utf8 { ACODEC_UTF8_REPLACE = 0, ACODEC_UTF8_BYTES = 1, ACODEC_UTF8_REJECT = 2 };
enum acodec_container { ACODEC_CONTAINER_NULL = 0, ACODEC_CONTAINER_DEFLATE = 1 };
enum acodec_batch_ct { ACODEC_CT_AVRO_BINARY = 0, ACODEC_CT_APPLICATION_AVRO = 1 };

typedef struct acodec_config {
    char *schema;            /* inline schema JSON; NULL or "" = none */
    char *schema_file;       /* path of a schema file; NULL or "" = none */
    bool stringify_map_keys; /* off: a map key that is not a string rejects */
    bool bin_luts;           /* generic schema: fill Bin.lut */
    int invalid_utf8;        /* enum acodec_utf8 */
    int container_codec;     /* enum acodec_container */
    int64_t deflate_level;   /* 1..9 */
    int batch_content_type;  /* enum acodec_batch_ct */
} acodec_config;

/* ---- the compiled schema (schema.c) ---- */

typedef enum anode_kind {
    AN_NULL = 0,
    AN_BOOLEAN,
    AN_INT,
    AN_LONG,
    AN_FLOAT,
    AN_DOUBLE,
    AN_BYTES,
    AN_STRING,
    AN_RECORD,
    AN_ENUM,
    AN_ARRAY,
    AN_MAP,
    AN_UNION,
    AN_FIXED,
} anode_kind;

/* Where a top-level record field takes its value from. */
typedef enum asource {
    ASRC_BIN = 0,   /* the bin with the field's name */
    ASRC_MSG,       /* "write" / "delete" */
    ASRC_NAMESPACE,
    ASRC_SET,
    ASRC_KEY,       /* userKey */
    ASRC_DIGEST,
    ASRC_GEN,
    ASRC_LUT,
    ASRC_EXP,
    ASRC_DURABLE,
    ASRC_METADATA,  /* a record of the metadata fields above, by name */
    ASRC_NONE,      /* inside the metadata record: a name that is no metadata */
} asource;

typedef struct afield {
    const char *name; /* owned by the plan */
    size_t name_len;
    uint32_t type;    /* node index */
    uint32_t def_off; /* encoded default in plan->defaults */
    uint32_t def_len;
    bool has_default;
} afield;

typedef struct asym {
    const char *name; /* owned by the plan */
    size_t len;
} asym;

typedef struct anode {
    uint8_t kind;        /* anode_kind */
    int32_t null_branch; /* UNION: index of the null branch, -1 when none */
    uint32_t n;          /* RECORD fields, ENUM symbols, UNION branches, FIXED size */
    uint32_t first;      /* RECORD: plan->fields[first..], ENUM: plan->syms[..], UNION: plan->branches[..] */
    uint32_t child;      /* ARRAY items, MAP values */
    const char *name;    /* named types: the full name (owned by the plan); else the type's name */
} anode;

typedef struct aplan {
    anode *nodes;
    size_t n_nodes, cap_nodes;
    afield *fields;
    size_t n_fields, cap_fields;
    asym *syms;
    size_t n_syms, cap_syms;
    uint32_t *branches;
    size_t n_branches, cap_branches;
    char **owned; /* strings the plan allocated */
    size_t n_owned, cap_owned;
    spw_buf defaults;    /* every field default, Avro-encoded */
    spw_buf canonical;   /* the Parsing Canonical Form (no NUL) */
    spw_buf schema_json; /* the schema as written into container headers (compact JSON) */
    uint64_t fingerprint; /* CRC-64-AVRO of the canonical form */
    uint32_t root;        /* node index of the top-level record */
    bool generic;         /* the built-in schema: generic.c encodes, not the plan */
    /* Top-level fields: where each takes its value from (root's field order). */
    uint8_t *top_src;     /* asource per root field */
    uint32_t meta_rec;    /* node of the `metadata` record, UINT32_MAX when none */
    uint8_t *meta_src;    /* asource per field of that record */
    /* Bin name -> root field index: open addressing, power-of-two size. */
    uint32_t *bin_slots;  /* field index + 1; 0 = empty */
    uint32_t bin_mask;
    uint32_t n_bin_fields;
    /* Per node (unions only): for each kind of value, the branch + 1 to
     * take without looking at the value, 0 when the value decides
     * (user.c fills it; NULL for the generic schema). */
    uint8_t (*quick)[16];
} aplan;

/*
 * Compiles the configured schema (or the built-in one when neither schema
 * nor schema_file is set) into *plan. SPW_ERR_CONFIG with err naming the
 * problem when the schema is unusable, SPW_ERR_NOMEM. On failure *plan
 * holds nothing to free; on success release it with acodec_plan_free.
 */
spw_result acodec_plan_build(const acodec_config *cfg, aplan *plan, spw_err *err);
/* Same, from schema text (used by the above and by the tests). */
spw_result acodec_plan_from_text(const char *text, size_t len, bool generic, aplan *plan,
                                 spw_err *err);
void acodec_plan_free(aplan *plan);

/* CRC-64-AVRO (Rabin) fingerprint, as the Avro specification defines it. */
uint64_t acodec_crc64_avro(const void *p, size_t n);

/* The built-in schema's text, as in generic.avsc (generic.c). */
extern const char acodec_generic_schema[];
extern const size_t acodec_generic_schema_len;

/* ---- the per-worker encoder ---- */

/* A map key or field name found while a record is walked, for map->record. */
typedef struct apair {
    const uint8_t *key;  /* string key bytes; NULL when the key is not a string */
    size_t key_len;
    const uint8_t *val;  /* the value's MessagePack bytes */
    size_t val_len;
} apair;

typedef struct acodec {
    acodec_config cfg;
    aplan plan;
    uint8_t single_hdr[10];  /* C3 01 + fingerprint, little-endian */
    uint8_t sync[16];        /* container sync marker, random per instance */
    spw_buf file_hdr;        /* container header: magic, metadata, sync */
    z_stream zs;             /* deflate state, reset per batch */
    bool zs_ready;
    spw_buf zbuf;            /* deflate output of one block */
    locale_t c_locale;       /* "C" numeric locale for double keys */
    const spw_bin **slots;   /* per root field: the bin found for it this record */
    apair *pairs;            /* scratch for map->record (grows, never shrinks) */
    size_t cap_pairs;
} acodec;

/* Prepares an encoder (compiles the schema, seeds the sync marker). */
spw_result acodec_init(acodec *c, const acodec_config *cfg, spw_err *err);
void acodec_fini(acodec *c);

/*
 * Appends one record as Avro single-object encoding (C3 01, fingerprint,
 * datum). On anything but SPW_OK, out is left exactly as it was.
 * SPW_REJECT (err set, naming the field and why) when the event does not
 * fit the schema; SPW_ERR_NOMEM when the buffer cannot grow.
 */
spw_result acodec_encode(acodec *c, const spw_event *ev, spw_buf *out, spw_err *err);
/* The datum alone, without the single-object header (same contract). */
spw_result acodec_encode_datum(acodec *c, const spw_event *ev, spw_buf *out, spw_err *err);
/* Frames n single-object records as one Avro object container file. */
spw_result acodec_frame(acodec *c, const spw_slice *recs, size_t n, spw_buf *out, spw_err *err);
const char *acodec_content_type(const acodec *c, bool batch);

/* ---- the writer: Avro primitives into a spw_buf ---- */

/*
 * The first failure to grow the buffer is kept in err and later writes are
 * dropped, so encoders write without checking every call and look at err
 * once per record (or before trusting what they wrote).
 */
typedef struct aw {
    spw_buf *b;
    spw_result err;
} aw;

#define ACODEC_INLINE static inline __attribute__((always_inline))

/* The slow half of aw_room. */
bool acodec_grow(aw *w, size_t extra);

ACODEC_INLINE bool aw_room(aw *w, size_t n) {
    return w->b->cap - w->b->len >= n ? true : acodec_grow(w, n);
}

ACODEC_INLINE uint8_t *aw_put_varint(uint8_t *p, uint64_t z) {
    while (z >= 0x80) {
        *p++ = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    *p++ = (uint8_t)z;
    return p;
}

/* int and long: zig-zag, then 7 bits per byte, low group first. */
ACODEC_INLINE void aw_long(aw *w, int64_t v) {
    if (!aw_room(w, 10))
        return;
    uint64_t z = ((uint64_t)v << 1) ^ (v < 0 ? ~(uint64_t)0 : 0);
    uint8_t *p = aw_put_varint(w->b->data + w->b->len, z);
    w->b->len = (size_t)(p - w->b->data);
}

ACODEC_INLINE void aw_byte(aw *w, uint8_t c) {
    if (aw_room(w, 1))
        w->b->data[w->b->len++] = c;
}

/* A union branch index or a small non-negative int: one byte below 64. */
ACODEC_INLINE void aw_index(aw *w, uint32_t i) {
    if (i < 64)
        aw_byte(w, (uint8_t)(i << 1));
    else
        aw_long(w, i);
}

ACODEC_INLINE void aw_raw(aw *w, const void *p, size_t n) {
    if (n && aw_room(w, n)) {
        memcpy(w->b->data + w->b->len, p, n);
        w->b->len += n;
    }
}

/* bytes and string: length, then the bytes. */
ACODEC_INLINE void aw_bytes(aw *w, const void *p, size_t n) {
    if (!aw_room(w, 10 + n))
        return;
    uint8_t *o = aw_put_varint(w->b->data + w->b->len, (uint64_t)n << 1);
    if (n)
        memcpy(o, p, n);
    w->b->len = (size_t)(o + n - w->b->data);
}

/* double: the IEEE-754 bits, little-endian. */
ACODEC_INLINE void aw_double(aw *w, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    if (!aw_room(w, 8))
        return;
    uint8_t *o = w->b->data + w->b->len;
    for (int i = 0; i < 8; i++, u >>= 8)
        o[i] = (uint8_t)u;
    w->b->len += 8;
}

ACODEC_INLINE void aw_float(aw *w, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if (!aw_room(w, 4))
        return;
    uint8_t *o = w->b->data + w->b->len;
    for (int i = 0; i < 4; i++, u >>= 8)
        o[i] = (uint8_t)u;
    w->b->len += 4;
}

ACODEC_INLINE void aw_bool(aw *w, bool b) { aw_byte(w, b ? 1 : 0); }

/*
 * generic.c (the built-in schema) and user.c (a configured one): the datum
 * of one event, appended through w. On SPW_REJECT err says why; the caller
 * rolls the buffer back whatever the result.
 */
spw_result acodec_generic_datum(acodec *c, const spw_event *ev, aw *w, spw_err *err);
spw_result acodec_user_datum(acodec *c, const spw_event *ev, aw *w, spw_err *err);
/* Fills plan->quick for the configured invalid_utf8 policy; SPW_ERR_NOMEM. */
spw_result acodec_user_prepare(aplan *p, int invalid_utf8);

/* ---- text.c: strings, map keys, error text ---- */

/*
 * Writes s as an Avro string. Ill-formed UTF-8 is repaired (each maximal
 * ill-formed subsequence becomes U+FFFD, as Python's "replace" does) and
 * *bad counts the repairs; well-formed text is copied as is.
 */
void acodec_put_text(aw *w, const uint8_t *s, size_t n, size_t *bad);

/*
 * A walked map key as the string an Avro map needs: strings as they are
 * (repaired like acodec_put_text, counted in *bad), integers in decimal,
 * doubles in their shortest round-trip form ("1.0", "0.1", "NaN",
 * "Infinity"), blobs in Base64, GeoJSON as its text, booleans as
 * true/false, nil and extension values as "null". SPW_OK, or SPW_REJECT
 * with *why set when the key is a list or a map, or is not a string and
 * stringify is false.
 */
spw_result acodec_put_key(aw *w, const spw_item *key, bool stringify, locale_t loc, size_t *bad,
                          const char **why);

/* "an integer", "a list"...: what a walked item is, for messages. */
const char *acodec_item_name(const spw_item *it);

/* Copies a wire name into buf (at most 64 bytes shown, unprintables as '?'). */
void acodec_clean_name(char *buf, size_t cap, const void *p, size_t n);

#endif /* SPW_CODEC_AVRO_ACODEC_H */

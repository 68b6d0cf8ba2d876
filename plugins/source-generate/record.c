/*
 * plugins/source-generate/record.c: the content of generated records.
 *
 * A record is a pure function of (seed, sequence number): its namespace,
 * set, key, digest, generation, operation and every bin value are derived
 * from them, so a record re-created for a retry is the record that was
 * first sent, and two runs with the same seed produce the same data. Only
 * the LUT and the expiry follow the wall clock, as they would for a real
 * record updated again.
 *
 * Values are written in the exact form XDR ships them (xdr-wire.md 5-6):
 * big-endian integers and doubles, one-byte bools, raw string/blob/HLL
 * bytes, GeoJSON with its flag and cell-count prefix, and lists and maps as
 * Aerospike's MessagePack (strings and blobs inside carry their particle
 * type as first byte; some maps are key-ordered and lead with the order
 * marker pair). The HLL bytes are opaque filler, not a valid sketch: no
 * stage is expected to interpret them.
 *
 * The whole data area of the event (names, key, bin names and values) is
 * laid out in the builder's scratch buffer first, each value after
 * reserving a precomputed upper bound (value_bound) so the writers below
 * need no per-byte checks. The event is then allocated with exactly that
 * size, the layout copied in with one memcpy, and every setter pointed at
 * bytes already inside the data area, which the SDK references in place:
 * no per-field copies, whatever the number of bins.
 */
#include "generate.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Salts that keep the random streams of one record independent. */
#define SALT_DELETE 0x64656cu   /* is this record a delete? */
#define SALT_DURABLE 0x647572u  /* ...a durable one? */
#define SALT_BIN 0x62696e0000u  /* + bin index: the bin's value */
#define SALT_BINLUT 0x6c75740000u /* + bin index: the bin's LUT */

/* Aerospike limits on names (the server refuses longer ones). */
#define NS_NAME_MAX 31
#define SET_NAME_MAX 63

/* ---------------------------------------------------------------------- */
/* Deterministic randomness (splitmix64: tiny, fast, good enough)           */
/* ---------------------------------------------------------------------- */

struct rng {
    uint64_t s;
};

static uint64_t mix64(uint64_t z) {
    z += 0x9e3779b97f4a7c15u;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

static uint64_t rng_next(struct rng *r) {
    uint64_t z = mix64(r->s);
    r->s += 0x9e3779b97f4a7c15u;
    return z;
}

static struct rng rng_for(int64_t seed, uint64_t seq, uint64_t salt) {
    struct rng r = {mix64(mix64(mix64((uint64_t)seed) ^ seq) ^ salt)};
    return r;
}

/* Uniform in [0, 1): a ratio of 0 never hits, a ratio of 1 always does. */
static double rng_unit(struct rng *r) { return (double)(rng_next(r) >> 11) * 0x1p-53; }

/* ---------------------------------------------------------------------- */
/* Particle types and sizes                                                */
/* ---------------------------------------------------------------------- */

static const struct {
    const char *name;
    uint8_t type;
} type_names[] = {
    {"integer", SPW_PT_INTEGER}, {"double", SPW_PT_DOUBLE}, {"string", SPW_PT_STRING},
    {"blob", SPW_PT_BLOB},       {"bool", SPW_PT_BOOL},     {"hll", SPW_PT_HLL},
    {"list", SPW_PT_LIST},       {"map", SPW_PT_MAP},       {"geojson", SPW_PT_GEOJSON},
};
#define N_TYPE_NAMES (sizeof type_names / sizeof type_names[0])

static int type_from_name(const char *s) {
    for (size_t i = 0; i < N_TYPE_NAMES; i++)
        if (strcasecmp(s, type_names[i].name) == 0)
            return type_names[i].type;
    return -1;
}

/* Collections hold value_size / 4 elements (lists) or pairs (maps). */
static uint64_t coll_count(uint64_t value_size) { return value_size / 4; }

/* Decimal digits of the largest map key index (keys are zero-padded to it). */
static unsigned key_digits(uint64_t n) {
    unsigned d = 1;
    for (uint64_t v = n > 0 ? n - 1 : 0; v >= 10; v /= 10)
        d++;
    return d;
}

/* Longest encodings the writers below produce. */
#define MP_INT_MAX 9          /* 0xd3 + 8 bytes */
#define MP_COLL_HDR_MAX 5     /* 0xdd/0xdf + 4-byte count */
#define MP_ORDER_PAIR 4       /* c7 00 01 c0 */
#define LIST_ELEM_MAX 9       /* int64 or float64 */
#define MAP_VALUE_MAX 9
#define ELEM_STR_CHARS 5      /* strings inside collections */
/* {"type":"Point","coordinates":[-180.00,-90.00]} is 47 bytes. */
#define GEO_TEXT_MAX 48
#define GEO_MAX (3 + GEO_TEXT_MAX)

/* Upper bound of the bytes value() writes for one bin of this type. */
static uint64_t value_bound(uint8_t type, uint64_t vs) {
    uint64_t n = coll_count(vs);
    switch (type) {
    case SPW_PT_INTEGER:
    case SPW_PT_DOUBLE:
        return 8;
    case SPW_PT_BOOL:
        return 1;
    case SPW_PT_STRING:
    case SPW_PT_BLOB:
    case SPW_PT_HLL:
        return vs;
    case SPW_PT_GEOJSON:
        return GEO_MAX;
    case SPW_PT_LIST:
        return MP_COLL_HDR_MAX + n * LIST_ELEM_MAX;
    case SPW_PT_MAP:
        /* key: fixstr header, 0x03 prefix, 'k', digits */
        return MP_COLL_HDR_MAX + MP_ORDER_PAIR + n * (3 + key_digits(n) + MAP_VALUE_MAX);
    default:
        return 0;
    }
}

/* ---------------------------------------------------------------------- */
/* Writers: unchecked, the caller reserved value_bound bytes               */
/* ---------------------------------------------------------------------- */

static uint8_t *put_be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *put_be32(uint8_t *p, uint32_t v) {
    for (int i = 3; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
    return p + 4;
}

static uint8_t *put_be64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
    return p + 8;
}

static uint64_t double_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

/* Text that survives every codec unescaped. */
static const char alnum[] = "abcdefghijklmnopqrstuvwxyz0123456789";

static uint8_t *put_alnum(uint8_t *p, struct rng *r, size_t n) {
    while (n > 0) {
        uint64_t x = rng_next(r);
        for (int i = 0; i < 8 && n > 0; i++, n--, x >>= 8)
            *p++ = (uint8_t)alnum[(x & 0xff) % (sizeof alnum - 1)];
    }
    return p;
}

static uint8_t *put_random(uint8_t *p, struct rng *r, size_t n) {
    while (n > 0) {
        uint64_t x = rng_next(r);
        for (int i = 0; i < 8 && n > 0; i++, n--, x >>= 8)
            *p++ = (uint8_t)x;
    }
    return p;
}

/* A double with an exact short decimal form, so text codecs round-trip it. */
static double some_double(struct rng *r) {
    return (double)((int64_t)(rng_next(r) % 2000001u) - 1000000) / 64.0;
}

/* An integer of any magnitude and sign, so every encoding width occurs. */
static int64_t some_int(struct rng *r) {
    unsigned shift = (unsigned)(rng_next(r) & 63);
    return (int64_t)rng_next(r) >> shift;
}

static uint8_t *mp_int(uint8_t *p, int64_t v) {
    if (v >= 0) {
        uint64_t u = (uint64_t)v;
        if (u < 0x80) {
            *p++ = (uint8_t)u;
        } else if (u <= 0xff) {
            *p++ = 0xcc;
            *p++ = (uint8_t)u;
        } else if (u <= 0xffff) {
            *p++ = 0xcd;
            p = put_be16(p, (uint16_t)u);
        } else if (u <= 0xffffffffu) {
            *p++ = 0xce;
            p = put_be32(p, (uint32_t)u);
        } else {
            *p++ = 0xcf;
            p = put_be64(p, u);
        }
    } else if (v >= -32) {
        *p++ = (uint8_t)(int8_t)v; /* negative fixint 0xe0..0xff */
    } else if (v >= INT8_MIN) {
        *p++ = 0xd0;
        *p++ = (uint8_t)(int8_t)v;
    } else if (v >= INT16_MIN) {
        *p++ = 0xd1;
        p = put_be16(p, (uint16_t)(int16_t)v);
    } else if (v >= INT32_MIN) {
        *p++ = 0xd2;
        p = put_be32(p, (uint32_t)(int32_t)v);
    } else {
        *p++ = 0xd3;
        p = put_be64(p, (uint64_t)v);
    }
    return p;
}

static uint8_t *mp_double(uint8_t *p, double d) {
    *p++ = 0xcb;
    return put_be64(p, double_bits(d));
}

static uint8_t *mp_coll_header(uint8_t *p, uint32_t n, bool map) {
    if (n < 16) {
        *p++ = (uint8_t)((map ? 0x80 : 0x90) | n);
    } else if (n <= 0xffff) {
        *p++ = map ? 0xde : 0xdc;
        p = put_be16(p, (uint16_t)n);
    } else {
        *p++ = map ? 0xdf : 0xdd;
        p = put_be32(p, n);
    }
    return p;
}

/* A short string element: fixstr holding the 0x03 particle prefix and the text. */
static uint8_t *mp_elem_str(uint8_t *p, struct rng *r) {
    *p++ = (uint8_t)(0xa0 | (1 + ELEM_STR_CHARS));
    *p++ = SPW_PT_STRING;
    return put_alnum(p, r, ELEM_STR_CHARS);
}

/*
 * List elements cycle through every kind a CDT may hold, nested ones
 * included, so codecs meet them all in a few records.
 */
static uint8_t *list_value(uint8_t *p, struct rng *r, uint64_t n) {
    p = mp_coll_header(p, (uint32_t)n, false);
    for (uint64_t k = 0; k < n; k++) {
        switch (k % 8) {
        case 0:
            p = mp_int(p, some_int(r));
            break;
        case 1:
            p = mp_elem_str(p, r);
            break;
        case 2:
            p = mp_double(p, some_double(r));
            break;
        case 3:
            *p++ = (rng_next(r) & 1) ? 0xc3 : 0xc2;
            break;
        case 4: /* blob: bin 8 with the 0x04 particle prefix */
            *p++ = 0xc4;
            *p++ = 5;
            *p++ = SPW_PT_BLOB;
            p = put_random(p, r, 4);
            break;
        case 5:
            p = mp_int(p, -(int64_t)(rng_next(r) % 1000) - 1);
            break;
        case 6: /* nested list of two small ints */
            *p++ = 0x92;
            *p++ = (uint8_t)(rng_next(r) & 0x7f);
            *p++ = (uint8_t)(rng_next(r) & 0x7f);
            break;
        default: /* nested map {"x": small int} */
            *p++ = 0x81;
            *p++ = 0xa2;
            *p++ = SPW_PT_STRING;
            *p++ = 'x';
            *p++ = (uint8_t)(rng_next(r) & 0x7f);
            break;
        }
    }
    return p;
}

/*
 * Keys are "k" plus a zero-padded index, so their byte order is their
 * numeric order and a key-ordered map is ordered as written.
 */
static uint8_t *map_value(uint8_t *p, struct rng *r, uint64_t n, bool key_ordered) {
    unsigned digits = key_digits(n);
    p = mp_coll_header(p, (uint32_t)(n + (key_ordered ? 1 : 0)), true);
    if (key_ordered) {
        /* order marker: ext8 of length 0, type = flags, paired with nil */
        *p++ = 0xc7;
        *p++ = 0x00;
        *p++ = SPW_ORDER_KEY;
        *p++ = 0xc0;
    }
    for (uint64_t k = 0; k < n; k++) {
        *p++ = (uint8_t)(0xa0 | (2 + digits));
        *p++ = SPW_PT_STRING;
        *p++ = 'k';
        uint64_t v = k;
        for (unsigned d = digits; d > 0; d--, v /= 10)
            p[d - 1] = (uint8_t)('0' + v % 10);
        p += digits;
        switch (k % 4) {
        case 0:
            p = mp_int(p, some_int(r));
            break;
        case 1:
            p = mp_elem_str(p, r);
            break;
        case 2:
            p = mp_double(p, some_double(r));
            break;
        default:
            *p++ = (rng_next(r) & 1) ? 0xc3 : 0xc2;
            break;
        }
    }
    return p;
}

/* "-3.25" from -325: fixed point with two decimals, no locale involved. */
static uint8_t *put_centi(uint8_t *p, int v) {
    char tmp[16];
    unsigned u = (unsigned)(v < 0 ? -v : v);
    int n = snprintf(tmp, sizeof tmp, "%s%u.%02u", v < 0 ? "-" : "", u / 100, u % 100);
    memcpy(p, tmp, (size_t)n);
    return p + n;
}

static uint8_t *geojson_value(uint8_t *p, struct rng *r) {
    static const char head[] = "{\"type\":\"Point\",\"coordinates\":[";
    int lon = (int)(rng_next(r) % 36001u) - 18000;
    int lat = (int)(rng_next(r) % 18001u) - 9000;
    *p++ = 0;                  /* flags */
    p = put_be16(p, 0);        /* no cell ids: XDR ships points without them */
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    p = put_centi(p, lon);
    *p++ = ',';
    p = put_centi(p, lat);
    *p++ = ']';
    *p++ = '}';
    return p;
}

/* Appends bin i's value to the scratch buffer and records where it is. */
static spw_result value(struct gen_builder *b, const struct gen_conf *cf, uint64_t seq, size_t i,
                        uint8_t type) {
    uint64_t vs = (uint64_t)cf->value_size;
    uint64_t bound = value_bound(type, vs);
    spw_result rc = spw_buf_reserve(&b->scratch, (size_t)bound + 1);
    if (rc != SPW_OK)
        return rc;
    struct rng r = rng_for(cf->seed, seq, SALT_BIN + i);
    uint8_t *start = b->scratch.data + b->scratch.len, *p = start;

    if (i == 0) {
        p = put_be64(p, seq); /* the "seq" bin: the record's identity */
    } else {
        switch (type) {
        case SPW_PT_INTEGER:
            p = put_be64(p, (uint64_t)some_int(&r));
            break;
        case SPW_PT_DOUBLE:
            p = put_be64(p, double_bits(some_double(&r)));
            break;
        case SPW_PT_BOOL:
            *p++ = (uint8_t)(rng_next(&r) & 1);
            break;
        case SPW_PT_STRING:
            p = put_alnum(p, &r, (size_t)vs);
            break;
        case SPW_PT_BLOB:
        case SPW_PT_HLL:
            p = put_random(p, &r, (size_t)vs);
            break;
        case SPW_PT_GEOJSON:
            p = geojson_value(p, &r);
            break;
        case SPW_PT_LIST:
            p = list_value(p, &r, coll_count(vs));
            break;
        case SPW_PT_MAP:
            /* every other record's map is key-ordered, as xdr-wire.md 6 describes */
            p = map_value(p, &r, coll_count(vs), ((seq + i) & 1) != 0);
            break;
        default:
            return SPW_ERR_UNSUPPORTED;
        }
    }
    b->bins[i].type = type;
    b->bins[i].off = b->scratch.len;
    b->bins[i].len = (size_t)(p - start);
    b->scratch.len += b->bins[i].len;
    return SPW_OK;
}

static size_t bin_name(size_t i, char out[8]) {
    if (i == 0) {
        memcpy(out, "seq", 4);
        return 3;
    }
    /* "b" and the decimal digits (i < GEN_MAX_BINS, so at most 4), written
     * by hand: snprintf here was over a quarter of the generator's cost. */
    char d[8];
    size_t n = 0;
    do
        d[n++] = (char)('0' + i % 10);
    while ((i /= 10) != 0 && n < 6);
    out[0] = 'b';
    for (size_t k = 0; k < n; k++)
        out[1 + k] = d[n - 1 - k];
    out[1 + n] = '\0';
    return 1 + n;
}

/* ---------------------------------------------------------------------- */
/* Configuration checks                                                    */
/* ---------------------------------------------------------------------- */

spw_result gen_check_conf(const struct gen_conf *cf, spw_err *err) {
    uint64_t ns_max = 0, set_max = 0, value_max = 0;

    /* the table's bounds already say so; records are picked modulo these */
    if (cf->namespaces.n == 0 || cf->sets.n == 0 || cf->bin_types.n == 0)
        return spw_err_set(err, SPW_ERR_CONFIG, "namespaces, sets and bin_types need at least one item");

    for (size_t i = 0; i < cf->namespaces.n; i++) {
        size_t n = strlen(cf->namespaces.v[i]);
        if (n == 0 || n > NS_NAME_MAX)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "namespaces: '%s' is not a namespace name (1 to %d bytes)",
                               cf->namespaces.v[i], NS_NAME_MAX);
        if (n > ns_max)
            ns_max = n;
    }
    for (size_t i = 0; i < cf->sets.n; i++) {
        size_t n = strlen(cf->sets.v[i]);
        if (n == 0 || n > SET_NAME_MAX)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "sets: '%s' is not a set name (1 to %d bytes, or '-' for no set)",
                               cf->sets.v[i], SET_NAME_MAX);
        if (n > set_max)
            set_max = n;
    }
    for (size_t i = 0; i < cf->bin_types.n; i++) {
        int t = type_from_name(cf->bin_types.v[i]);
        if (t < 0)
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "bin_types: unknown particle type '%s' (known: integer, double, "
                               "string, blob, bool, hll, list, map, geojson)",
                               cf->bin_types.v[i]);
        uint64_t vb = value_bound((uint8_t)t, (uint64_t)cf->value_size);
        if (vb > value_max)
            value_max = vb;
    }
    /* names and key, then "seq" and the other bins ("b999" at most 4 bytes) */
    uint64_t bins = (uint64_t)cf->bins;
    uint64_t worst = ns_max + set_max + 32;
    if (bins > 0)
        worst += 3 + 8 + (bins - 1) * (4 + value_max);
    if (worst > GEN_MAX_RECORD)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "bins = %" PRId64 " with value_size = %" PRId64 " makes records of up to "
                           "%" PRIu64 " bytes, more than the %" PRIu64 " MiB an Aerospike message can "
                           "carry; lower bins or value_size",
                           cf->bins, cf->value_size, worst, GEN_MAX_RECORD >> 20);
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Building events                                                         */
/* ---------------------------------------------------------------------- */

spw_result gen_builder_init(struct gen_builder *b, const struct gen_conf *cf) {
    memset(b, 0, sizeof *b);
    b->bins = calloc(cf->bins > 0 ? (size_t)cf->bins : 1, sizeof *b->bins);
    b->types = calloc(cf->bin_types.n > 0 ? cf->bin_types.n : 1, sizeof *b->types);
    if (!b->bins || !b->types) {
        gen_builder_free(b);
        return SPW_ERR_NOMEM;
    }
    /* check() has validated the names: every lookup succeeds */
    for (size_t i = 0; i < cf->bin_types.n; i++) {
        int t = type_from_name(cf->bin_types.v[i]);
        b->types[i] = (uint8_t)(t < 0 ? SPW_PT_INTEGER : t);
    }
    b->n_types = cf->bin_types.n;
    return SPW_OK;
}

void gen_builder_free(struct gen_builder *b) {
    spw_buf_free(&b->scratch);
    free(b->bins);
    free(b->types);
    b->bins = NULL;
    b->types = NULL;
}

spw_event *gen_build(struct gen_builder *b, const struct gen_conf *cf, uint64_t seq,
                     int64_t now_ms) {
    const char *ns = cf->namespaces.v[seq % cf->namespaces.n];
    const char *set = cf->sets.v[seq % cf->sets.n];
    size_t ns_len = strlen(ns), set_len = strlen(set);
    if (strcmp(set, "-") == 0) {
        set = "";
        set_len = 0;
    }

    /*
     * The user key is the sequence number in the configured form. A record
     * whose key is not shipped (key_type none) was still written with one:
     * its digest is that of the integer key, as for a client that does not
     * store keys.
     */
    uint8_t key[32];
    size_t key_len = 8;
    uint8_t key_type = SPW_PT_INTEGER;
    put_be64(key, seq);
    if (cf->key_type == GEN_KEY_STRING) {
        key_len = (size_t)snprintf((char *)key, sizeof key, "key-%" PRIu64, seq);
        key_type = SPW_PT_STRING;
    } else if (cf->key_type == GEN_KEY_BLOB) {
        key_type = SPW_PT_BLOB;
    }
    bool ship_key = cf->key_type != GEN_KEY_NONE;
    uint8_t digest[20];
    spw_digest_compute(set, set_len, key_type, key, key_len, digest);

    struct rng rd = rng_for(cf->seed, seq, SALT_DELETE);
    struct rng rdur = rng_for(cf->seed, seq, SALT_DURABLE);
    bool del = rng_unit(&rd) < cf->delete_ratio;
    bool durable = del && rng_unit(&rdur) < cf->durable_ratio;

    /* The data area, laid out in scratch: names, key, then each bin's name and value. */
    size_t nbins = del ? 0 : (size_t)cf->bins;
    size_t key_off, name_off;
    spw_buf_reset(&b->scratch);
    if (spw_buf_append(&b->scratch, ns, ns_len) != SPW_OK ||
        spw_buf_append(&b->scratch, set, set_len) != SPW_OK)
        return NULL;
    key_off = b->scratch.len;
    if (ship_key && spw_buf_append(&b->scratch, key, key_len) != SPW_OK)
        return NULL;
    for (size_t i = 0; i < nbins; i++) {
        uint8_t type = i == 0 ? SPW_PT_INTEGER : b->types[(i - 1) % b->n_types];
        char name[8];
        size_t name_len = bin_name(i, name);
        name_off = b->scratch.len;
        if (spw_buf_append(&b->scratch, name, name_len) != SPW_OK ||
            value(b, cf, seq, i, type) != SPW_OK)
            return NULL;
        b->bins[i].name_off = name_off;
        b->bins[i].name_len = name_len;
    }

    spw_event *ev = spw_event_new((uint32_t)nbins, b->scratch.len);
    if (!ev)
        return NULL;
    uint8_t *d = spw_event_data(ev);
    if (b->scratch.len > 0)
        memcpy(d, b->scratch.data, b->scratch.len);

    spw_result rc = spw_event_set_op(ev, del ? SPW_OP_DELETE : SPW_OP_WRITE, durable);
    if (rc == SPW_OK)
        rc = spw_event_set_namespace(ev, d, ns_len);
    if (rc == SPW_OK && set_len > 0)
        rc = spw_event_set_set(ev, d + ns_len, set_len);
    if (rc == SPW_OK && ship_key)
        rc = spw_event_set_key(ev, key_type, d + key_off, key_len);
    spw_event_set_digest(ev, digest);
    spw_event_set_generation(ev, (uint32_t)(1 + seq % 100));
    spw_event_set_lut(ev, now_ms, 0);
    if (!del && cf->ttl_ms > 0)
        spw_event_set_expiry(ev, now_ms / 1000 + (cf->ttl_ms + 999) / 1000);
    for (size_t i = 0; i < nbins && rc == SPW_OK; i++) {
        int64_t lut = 0;
        if (cf->bin_luts) {
            /* bins last changed at or before the record, within the last minute */
            struct rng rl = rng_for(cf->seed, seq, SALT_BINLUT + i);
            lut = i == 0 ? now_ms : now_ms - (int64_t)(rng_next(&rl) % 60000u);
            if (lut < 1)
                lut = 1;
        }
        rc = spw_event_add_bin(ev, d + b->bins[i].name_off, b->bins[i].name_len, b->bins[i].type,
                               d + b->bins[i].off, b->bins[i].len, lut);
    }
    if (rc != SPW_OK) {
        /* cannot happen unless the layout above is wrong */
        spw_event_unref(ev);
        return NULL;
    }
    return ev;
}

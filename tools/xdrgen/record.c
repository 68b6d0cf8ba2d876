/*
 * tools/xdrgen/record.c: synthetic records. A record is a pure function of
 * (seed, seq) except its LUT, which follows the clock: the frame of a
 * record resent after a retry or a reset is rebuilt from its sequence
 * number, so the run keeps nothing per record but the number.
 *
 * What identifies a record to a receiver: the integer bin "seq" (always
 * the first bin of a write) and the user key (seq as an integer, "key-SEQ"
 * as a string, seq's 8 big-endian bytes as a blob). A delete has no bins;
 * its key (or, with key type none, the digest of integer key seq)
 * identifies it.
 *
 * Values are written as XDR ships them (xdr-wire.md 5-6): big-endian
 * integers and doubles, one-byte bools, raw string/blob/HLL bytes,
 * GeoJSON with its flag byte and cell count, lists and maps as Aerospike's
 * MessagePack (particle-type prefix byte on every string and blob inside,
 * the ext order marker on ordered lists and key-ordered maps).
 *
 * Speed matters (the generator must outrun the connector on one core), so
 * string and blob contents are slices of two random pools made once at
 * start, taken at a random offset: one random number and one memcpy per
 * value instead of a random number per byte.
 */
#include "xdrgen.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define POOL_BASE (64 * 1024)
#define LIST_ELEM_MAX 12   /* bytes one generated list element may take */
#define MAP_PAIR_MAX 24    /* bytes one generated map pair may take */
#define GEO_MAX 96         /* a GeoJSON point value, flags and count included */
#define ELEM_STR 8         /* characters of a string inside a list or map */

struct xg_gen {
    const struct xg_shape *sh;
    struct xg_digest *dg;
    struct xg_zip *zip;
    uint8_t *text;     /* alphanumeric pool */
    uint8_t *rand;     /* random byte pool */
    size_t pool_len;
    uint8_t *values;   /* one record's values, laid out before encoding */
    size_t values_cap;
    uint8_t *plain;    /* the uncompressed frame of a compressed record */
    struct xg_bin *bins;
    char (*names)[8];
    size_t plain_bound, bound;
};

/* ---------------------------------------------------------------------- */
/* Randomness: splitmix64, seeded per record                              */
/* ---------------------------------------------------------------------- */

static uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

struct rng {
    uint64_t s;
};

static uint64_t rnd(struct rng *r) {
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    return mix64(r->s);
}

static double rnd_unit(struct rng *r) { return (double)(rnd(r) >> 11) * 0x1p-53; }

/* Decisions about the record as a whole use their own stream, so that
 * changing the bins does not change which records are deletes. */
#define SALT_KIND 0x6b696e64u
#define SALT_VALUES 0x76616c73u

static struct rng rng_for(uint64_t seed, uint64_t seq, uint64_t salt) {
    struct rng r = {mix64(mix64(seed ^ UINT64_C(0x5851f42d4c957f2d)) ^ seq) ^ salt};
    return r;
}

/* ---------------------------------------------------------------------- */
/* MessagePack pieces                                                      */
/* ---------------------------------------------------------------------- */

static uint8_t *mp_int(uint8_t *p, int64_t v) {
    if (v >= 0) {
        uint64_t u = (uint64_t)v;
        if (u < 0x80) {
            *p++ = (uint8_t)u;
        } else if (u <= UINT8_MAX) {
            *p++ = 0xcc;
            *p++ = (uint8_t)u;
        } else if (u <= UINT16_MAX) {
            *p++ = 0xcd;
            p = xg_be16(p, (uint16_t)u);
        } else if (u <= UINT32_MAX) {
            *p++ = 0xce;
            p = xg_be32(p, (uint32_t)u);
        } else {
            *p++ = 0xcf;
            p = xg_be64(p, u);
        }
    } else if (v >= -32) {
        *p++ = (uint8_t)(v & 0xff);
    } else if (v >= INT8_MIN) {
        *p++ = 0xd0;
        *p++ = (uint8_t)(v & 0xff);
    } else if (v >= INT16_MIN) {
        *p++ = 0xd1;
        p = xg_be16(p, (uint16_t)(v & 0xffff));
    } else if (v >= INT32_MIN) {
        *p++ = 0xd2;
        p = xg_be32(p, (uint32_t)(v & 0xffffffff));
    } else {
        *p++ = 0xd3;
        p = xg_be64(p, (uint64_t)v);
    }
    return p;
}

static uint8_t *mp_header(uint8_t *p, size_t n, bool map) {
    if (n < 16) {
        *p++ = (uint8_t)((map ? 0x80 : 0x90) | n);
    } else if (n <= UINT16_MAX) {
        *p++ = map ? 0xde : 0xdc;
        p = xg_be16(p, (uint16_t)n);
    } else {
        *p++ = map ? 0xdf : 0xdd;
        p = xg_be32(p, (uint32_t)n);
    }
    return p;
}

static uint64_t double_bits(double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* An integer of any magnitude and sign, so every encoding width occurs. */
static int64_t some_int(struct rng *r) {
    unsigned shift = (unsigned)(rnd(r) & 63);
    return (int64_t)rnd(r) >> shift;
}

static double some_double(struct rng *r) {
    return (double)((int64_t)(rnd(r) % 2000001u) - 1000000) / 128.0;
}

/* ---------------------------------------------------------------------- */
/* Values                                                                  */
/* ---------------------------------------------------------------------- */

static const uint8_t *pool_slice(const struct xg_gen *g, const uint8_t *pool, struct rng *r) {
    return pool + rnd(r) % POOL_BASE;
}

/* A string element inside a collection: fixstr with the 0x03 prefix. */
static uint8_t *elem_str(const struct xg_gen *g, uint8_t *p, struct rng *r) {
    *p++ = (uint8_t)(0xa0 | (1 + ELEM_STR));
    *p++ = XG_PT_STRING;
    memcpy(p, pool_slice(g, g->text, r), ELEM_STR);
    return p + ELEM_STR;
}

/*
 * n elements. One list in three is ordered: it leads with the order
 * marker (ext8, length 0, type 1) counted in the header, and holds
 * ascending integers, as an ordered list must.
 */
static uint8_t *list_value(const struct xg_gen *g, uint8_t *p, struct rng *r, size_t n,
                           bool ordered) {
    if (ordered) {
        p = mp_header(p, n + 1, false);
        *p++ = 0xc7;
        *p++ = 0x00;
        *p++ = 0x01;
        int64_t v = -(int64_t)(rnd(r) % 1000);
        for (size_t k = 0; k < n; k++) {
            v += (int64_t)(rnd(r) % 100000);
            p = mp_int(p, v);
        }
        return p;
    }
    p = mp_header(p, n, false);
    for (size_t k = 0; k < n; k++) {
        switch (k % 8) {
        case 0:
            p = mp_int(p, some_int(r));
            break;
        case 1:
            p = elem_str(g, p, r);
            break;
        case 2:
            *p++ = 0xcb;
            p = xg_be64(p, double_bits(some_double(r)));
            break;
        case 3:
            *p++ = (rnd(r) & 1) ? 0xc3 : 0xc2;
            break;
        case 4: /* a blob: bin8 whose first byte is the 0x04 particle type */
            *p++ = 0xc4;
            *p++ = 6;
            *p++ = XG_PT_BLOB;
            memcpy(p, pool_slice(g, g->rand, r), 5);
            p += 5;
            break;
        case 5: /* nested list [small, small] */
            *p++ = 0x92;
            *p++ = (uint8_t)(rnd(r) & 0x7f);
            *p++ = (uint8_t)(rnd(r) & 0x7f);
            break;
        case 6: /* nested map {"x": small} */
            *p++ = 0x81;
            *p++ = 0xa2;
            *p++ = XG_PT_STRING;
            *p++ = 'x';
            *p++ = (uint8_t)(rnd(r) & 0x7f);
            break;
        default:
            *p++ = 0xc0; /* nil */
            break;
        }
    }
    return p;
}

static unsigned digits(size_t n) {
    unsigned d = 1;
    for (size_t v = n > 0 ? n - 1 : 0; v >= 10; v /= 10)
        d++;
    return d;
}

/*
 * n pairs, keys "k" plus a zero-padded index so that byte order is index
 * order: a key-ordered map (every other one, with the marker pair ext8
 * type 1 / nil first, counted in the header) is then really ordered.
 */
static uint8_t *map_value(const struct xg_gen *g, uint8_t *p, struct rng *r, size_t n,
                          bool ordered) {
    unsigned d = digits(n);
    p = mp_header(p, n + ordered, true);
    if (ordered) {
        *p++ = 0xc7;
        *p++ = 0x00;
        *p++ = 0x01;
        *p++ = 0xc0;
    }
    for (size_t k = 0; k < n; k++) {
        *p++ = (uint8_t)(0xa0 | (2 + d));
        *p++ = XG_PT_STRING;
        *p++ = 'k';
        size_t v = k;
        for (unsigned i = d; i > 0; i--, v /= 10)
            p[i - 1] = (uint8_t)('0' + v % 10);
        p += d;
        switch (k % 5) {
        case 0:
            p = mp_int(p, some_int(r));
            break;
        case 1:
            p = elem_str(g, p, r);
            break;
        case 2:
            *p++ = 0xcb;
            p = xg_be64(p, double_bits(some_double(r)));
            break;
        case 3:
            *p++ = (rnd(r) & 1) ? 0xc3 : 0xc2;
            break;
        default: /* a list of one string */
            *p++ = 0x91;
            p = elem_str(g, p, r);
            break;
        }
    }
    return p;
}

/* "-12.34" from -1234, without printf's locale or its cost. */
static uint8_t *put_centi(uint8_t *p, int v) {
    char tmp[16];
    int n = snprintf(tmp, sizeof tmp, "%s%d.%02d", v < 0 ? "-" : "", abs(v) / 100, abs(v) % 100);
    memcpy(p, tmp, (size_t)n);
    return p + n;
}

static uint8_t *geojson_value(uint8_t *p, struct rng *r) {
    static const char head[] = "{\"type\":\"Point\",\"coordinates\":[";
    *p++ = 0;           /* flags */
    p = xg_be16(p, 0);  /* XDR ships points without cell ids */
    memcpy(p, head, sizeof head - 1);
    p += sizeof head - 1;
    p = put_centi(p, (int)(rnd(r) % 36001u) - 18000);
    *p++ = ',';
    p = put_centi(p, (int)(rnd(r) % 18001u) - 9000);
    *p++ = ']';
    *p++ = '}';
    return p;
}

static size_t value_bound(uint8_t type, size_t vmax) {
    switch (type) {
    case XG_PT_INTEGER:
    case XG_PT_DOUBLE:
        return 8;
    case XG_PT_BOOL:
        return 1;
    case XG_PT_GEOJSON:
        return GEO_MAX;
    case XG_PT_LIST:
        return 8 + (vmax / 4 + 1) * LIST_ELEM_MAX;
    case XG_PT_MAP:
        return 12 + (vmax / 4) * MAP_PAIR_MAX;
    default:
        return vmax;
    }
}

/* Writes one value of `type` at p; returns its end. */
static uint8_t *value(const struct xg_gen *g, uint8_t *p, uint8_t type, struct rng *r,
                      uint64_t seq, size_t bin) {
    const struct xg_shape *sh = g->sh;
    size_t span = sh->value_max - sh->value_min;
    size_t vs = sh->value_min + (span ? (size_t)(rnd(r) % (span + 1)) : 0);
    switch (type) {
    case XG_PT_INTEGER:
        return xg_be64(p, (uint64_t)some_int(r));
    case XG_PT_DOUBLE:
        return xg_be64(p, double_bits(some_double(r)));
    case XG_PT_BOOL:
        *p = (uint8_t)(rnd(r) & 1);
        return p + 1;
    case XG_PT_STRING:
        memcpy(p, pool_slice(g, g->text, r), vs);
        return p + vs;
    case XG_PT_GEOJSON:
        return geojson_value(p, r);
    case XG_PT_LIST:
        return list_value(g, p, r, vs / 4, (seq + bin) % 3 == 0);
    case XG_PT_MAP:
        return map_value(g, p, r, vs / 4, ((seq + bin) & 1) != 0);
    default: /* blob, HLL: opaque bytes */
        memcpy(p, pool_slice(g, g->rand, r), vs);
        return p + vs;
    }
}

int xg_type_from_name(const char *s) {
    static const struct {
        const char *name;
        uint8_t type;
    } names[] = {
        {"integer", XG_PT_INTEGER}, {"double", XG_PT_DOUBLE}, {"string", XG_PT_STRING},
        {"blob", XG_PT_BLOB},       {"bool", XG_PT_BOOL},     {"hll", XG_PT_HLL},
        {"list", XG_PT_LIST},       {"map", XG_PT_MAP},       {"geojson", XG_PT_GEOJSON},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(s, names[i].name) == 0)
            return names[i].type;
    return -1;
}

/* ---------------------------------------------------------------------- */
/* The generator                                                           */
/* ---------------------------------------------------------------------- */

struct xg_gen *xg_gen_new(const struct xg_shape *sh, char *err, size_t errlen) {
    struct xg_gen *g = calloc(1, sizeof *g);
    if (!g) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    g->sh = sh;
    g->dg = xg_digest_new(err, errlen);
    if (!g->dg)
        goto fail;

    /* a pool slice is taken at an offset below POOL_BASE, value_max long at most */
    g->pool_len = POOL_BASE + sh->value_max + ELEM_STR;
    g->text = malloc(g->pool_len);
    g->rand = malloc(g->pool_len);
    if (!g->text || !g->rand)
        goto nomem;
    static const char alnum[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    struct rng r = rng_for(sh->seed, UINT64_MAX, 0x706f6f6cu);
    for (size_t i = 0; i < g->pool_len; i++) {
        uint64_t x = rnd(&r);
        g->text[i] = (uint8_t)alnum[x % 62];
        g->rand[i] = (uint8_t)(x >> 32);
    }

    size_t max_ns = 0, max_set = 0;
    for (size_t i = 0; i < sh->n_namespaces; i++)
        if (strlen(sh->namespaces[i]) > max_ns)
            max_ns = strlen(sh->namespaces[i]);
    for (size_t i = 0; i < sh->n_sets; i++)
        if (strlen(sh->sets[i]) > max_set)
            max_set = strlen(sh->sets[i]);

    size_t vb = 8;
    for (size_t i = 0; i < sh->n_types; i++)
        if (value_bound(sh->types[i], sh->value_max) > vb)
            vb = value_bound(sh->types[i], sh->value_max);
    size_t nb = sh->bins > 0 ? sh->bins : 1;
    g->values_cap = 8 + nb * vb;
    g->values = malloc(g->values_cap);
    g->bins = calloc(nb, sizeof *g->bins);
    g->names = calloc(nb, sizeof *g->names);
    if (!g->values || !g->bins || !g->names)
        goto nomem;
    for (size_t i = 0; i < nb; i++) {
        if (i == 0)
            memcpy(g->names[0], "seq", 4);
        else
            snprintf(g->names[i], sizeof g->names[i], "b%u", (unsigned)(i % 10000));
    }

    /* headers, fields (key at most "key-" and 20 digits), ops with names and LUTs */
    g->plain_bound = XG_PROTO_HDR + XG_MSG_HDR + 5 + max_ns + 25 + 5 + max_set + 6 + 24 + 13 +
                     nb * (8 + 8 + 8) + g->values_cap;
    if (g->plain_bound > XG_FRAME_MAX) {
        snprintf(err, errlen,
                 "records of up to %zu bytes are bigger than Aerospike's 128 MiB message limit; "
                 "lower --bins or --value-size",
                 g->plain_bound);
        goto fail;
    }
    g->bound = g->plain_bound;
    if (sh->compress_ratio > 0) {
        g->zip = xg_zip_new(sh->compress_level, sh->compress_le);
        g->plain = malloc(g->plain_bound);
        if (!g->zip || !g->plain)
            goto nomem;
        if (xg_zip_bound(g->plain_bound) > g->bound)
            g->bound = xg_zip_bound(g->plain_bound);
    }
    return g;

nomem:
    snprintf(err, errlen, "out of memory");
fail:
    xg_gen_free(g);
    return NULL;
}

void xg_gen_free(struct xg_gen *g) {
    if (!g)
        return;
    xg_digest_free(g->dg);
    xg_zip_free(g->zip);
    free(g->text);
    free(g->rand);
    free(g->values);
    free(g->plain);
    free(g->bins);
    free(g->names);
    free(g);
}

size_t xg_gen_bound(const struct xg_gen *g) { return g->bound; }

size_t xg_gen_frame(struct xg_gen *g, uint64_t seq, int64_t now_ms, uint8_t *out) {
    const struct xg_shape *sh = g->sh;
    struct xg_record rec = {0};
    struct rng rk = rng_for(sh->seed, seq, SALT_KIND);
    struct rng rv = rng_for(sh->seed, seq, SALT_VALUES);

    rec.del = rnd_unit(&rk) < sh->delete_ratio;
    rec.durable = rec.del && rnd_unit(&rk) < sh->durable_ratio;
    bool zip = rnd_unit(&rk) < sh->compress_ratio;
    rec.lut_bit = sh->bin_luts;
    rec.info3 = sh->replace ? XG_INFO3_CREATE_OR_REPLACE : 0;
    rec.generation = (uint32_t)(1 + seq % 100);
    rec.ttl = sh->ttl;

    rec.ns = sh->namespaces[seq % sh->n_namespaces];
    rec.ns_len = strlen(rec.ns);
    const char *set = sh->sets[seq % sh->n_sets];
    size_t set_len = strlen(set);
    if (set_len > 0) {
        rec.set = set;
        rec.set_len = set_len;
    }

    /* The key; a record whose key is not shipped was still written with
     * one: its digest is that of the integer key seq. */
    uint8_t key[32];
    size_t key_len = 8;
    uint8_t key_type = XG_PT_INTEGER;
    xg_be64(key, seq);
    if (sh->key_type == XG_KEY_STRING) {
        key_len = (size_t)snprintf((char *)key, sizeof key, "key-%" PRIu64, seq);
        key_type = XG_PT_STRING;
    } else if (sh->key_type == XG_KEY_BLOB) {
        key_type = XG_PT_BLOB;
    }
    rec.has_key = sh->key_type != XG_KEY_NONE;
    rec.key_type = key_type;
    rec.key = key;
    rec.key_len = key_len;
    uint8_t digest[20];
    xg_digest(g->dg, set, set_len, key_type, key, key_len, digest);
    rec.digest = digest;
    rec.has_lut = true;
    rec.lut = xg_lut_field(now_ms, sh->src_id);
    uint64_t lut_ms = rec.lut & UINT64_C(0xFFFFFFFFFF);

    if (!rec.del) {
        uint8_t *p = g->values;
        for (size_t i = 0; i < sh->bins; i++) {
            struct xg_bin *b = &g->bins[i];
            uint8_t *start = p;
            b->name = g->names[i];
            b->name_len = strlen(g->names[i]);
            if (i == 0) {
                b->type = XG_PT_INTEGER;
                p = xg_be64(p, seq);
            } else {
                b->type = sh->types[(i - 1) % sh->n_types];
                p = value(g, p, b->type, &rv, seq, i);
            }
            b->value = start;
            b->len = (size_t)(p - start);
            b->has_lut = sh->bin_luts;
            /* bins last changed at or before the record, within the last minute */
            b->lut = i == 0 ? lut_ms : lut_ms - rnd(&rv) % 60000u;
        }
        rec.n_bins = sh->bins;
        rec.bins = g->bins;
    }

    if (!zip)
        return xg_record_encode(&rec, out);
    size_t plain = xg_record_encode(&rec, g->plain);
    return xg_zip_frame(g->zip, g->plain, plain, out, g->bound);
}

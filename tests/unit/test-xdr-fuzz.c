/*
 * tests/unit/test-xdr-fuzz.c: seeded mutation fuzzing of the xdr source's
 * frame parser, and of the four codecs of this tree on whatever it accepts.
 *
 * The claim: no input crashes, hangs or leaks (CI runs this under
 * AddressSanitizer and UndefinedBehaviorSanitizer too), every frame is
 * either refused with a reason and no event, or accepted as an event that
 * every reader of events can take: its collections walk to their end or
 * to a clean error, and json, flat-json, msgpack and xdr each write it or
 * reject it with a reason, never leaving a half-written buffer.
 *
 * Seeds: the reference write and delete (real captures, tests/data/xdr),
 * and built frames carrying every particle type, collections, a GeoJSON
 * value, bin LUTs, string/integer/blob keys; each also compressed (type
 * 4). Mutations, one to four per case: a random byte, a boundary value
 * (0, 1, 0x7f, 0x80, 0xff) at a random place, a truncation, bytes
 * inserted or removed, a chunk repeated; then, half the time, the
 * as_proto size is set to agree with the length, so that the input gets
 * past the header check into the fields and ops. Compressed seeds are
 * mutated either outside (the zlib stream) or inside (then recompressed).
 *
 * SPW_FUZZ_SEED and SPW_FUZZ_CASES change the run (defaults: a fixed seed,
 * 300,000 cases; the seed is printed so a failure can be replayed).
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <spillway/spillway.h>

#include "../../plugins/codec-json/encode.h"
#include "../../plugins/codec-flat-json/flat.h"
#include "../../plugins/codec-msgpack/pack.h"
#include "../../plugins/codec-xdr/frame.h"
#include "../tap.h"
#include "wire.h"
#include "xdr-frame-builder.h"

#ifndef XDR_TEST_DATA
#error XDR_TEST_DATA must name tests/data/xdr
#endif

#define NOW_S 1764115200
#define MAX_FRAME (1u << 20)
#define MAX_SEEDS 16

static uint64_t rng;

static uint64_t next(void) { /* xorshift64*: small, seedable, good enough to pick mutations */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 0x2545F4914F6CDD1DULL;
}

static size_t rn(size_t n) { return n ? (size_t)(next() % n) : 0; }

typedef struct seed {
    uint8_t *msg; /* the type-3 frame (compressed seeds are made from it) */
    size_t len;
    bool compressed;
} seed;

static seed seeds[MAX_SEEDS];
static size_t n_seeds;

static void add_seed(const uint8_t *f, size_t n, bool compressed) {
    if (n_seeds == MAX_SEEDS)
        abort();
    seeds[n_seeds].msg = malloc(n);
    memcpy(seeds[n_seeds].msg, f, n);
    seeds[n_seeds].len = n;
    seeds[n_seeds++].compressed = compressed;
}

/* Frames with every particle type, collections, GeoJSON, bin LUTs and each kind of key. */
static void built_seeds(void) {
    static const uint8_t dig[20] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    static const uint8_t i8[8] = {0x80, 0, 0, 0, 0, 0, 0, 1};
    static const uint8_t d8[8] = {0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18}; /* pi */
    static const uint8_t nan8[8] = {0x7f, 0xf8, 0, 0, 0, 0, 0, 1};
    static const uint8_t one = 1, blob[5] = {0, 0xff, 0x80, 'a', 0};
    /* MessagePack as Aerospike stores it: strings carry a particle-type prefix byte. */
    static const uint8_t list[] = {0x95, 0x01, 0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xa3, 0x03, 'h',
                                   'i', 0xc4, 0x02, 0x04, 0xee, 0x92, 0xc0, 0xc3};
    static const uint8_t map[] = {0x83, 0xa2, 0x03, 'a', 0x01, 0xa2, 0x03, 'b', 0x81, 0xa2, 0x03,
                                  'c', 0x93, 1, 2, 3, 0x07, 0xa4, 0x03, 0xc3, 0xa9, 0x80};
    static const uint8_t ordered[] = {0x82, 0xc7, 0x00, 0x01, 0xc0, 0xa2, 0x03, 'k', 0xcf,
                                      0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const char geo[] = "\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x2a"
                              "{\"type\":\"Point\",\"coordinates\":[1.5,2.5]}";
    int64_t lut = (int64_t)1 << 40;
    struct fb f = {SPW_BUF_INIT, 0, 0};

    fb_begin(&f, 0, 7, 100);
    fb_str(&f, 0, "test");
    fb_str(&f, 1, "set1");
    fb_field(&f, 4, dig, 20);
    fb_key(&f, SPW_PT_STRING, "user-key", 8);
    fb_bin(&f, SPW_PT_INTEGER, "int", i8, 8);
    fb_bin(&f, SPW_PT_DOUBLE, "dbl", d8, 8);
    fb_bin(&f, SPW_PT_DOUBLE, "nan", nan8, 8);
    fb_bin(&f, SPW_PT_STRING, "str", "h\xc3\xa9llo\xff", 8);
    fb_bin(&f, SPW_PT_BLOB, "blob", blob, sizeof blob);
    fb_bin(&f, SPW_PT_BOOL, "bool", &one, 1);
    fb_bin(&f, SPW_PT_LIST, "list", list, sizeof list);
    fb_bin(&f, SPW_PT_MAP, "map", map, sizeof map);
    fb_bin(&f, SPW_PT_MAP, "omap", ordered, sizeof ordered);
    fb_bin(&f, SPW_PT_GEOJSON, "geo", geo, sizeof geo - 1);
    fb_op(&f, 2, SPW_PT_INTEGER, "lut", &lut, i8, 8);
    fb_bin(&f, SPW_PT_NIL, "gone", "", 0);
    fb_end(&f);
    add_seed(f.b.data, f.b.len, false);
    add_seed(f.b.data, f.b.len, true);

    fb_begin(&f, 0, 1, 0);
    fb_str(&f, 0, "ns");
    fb_field(&f, 4, dig, 20);
    fb_key(&f, SPW_PT_INTEGER, i8, 8);
    fb_bin(&f, SPW_PT_STRING, "", "", 0); /* an empty name and value */
    fb_bin(&f, SPW_PT_HLL, "hll", blob, sizeof blob);
    fb_end(&f);
    add_seed(f.b.data, f.b.len, false);

    fb_begin(&f, 1 | 0x10, 2, 0); /* a durable delete with a blob key */
    fb_str(&f, 0, "test");
    fb_field(&f, 4, dig, 20);
    fb_key(&f, SPW_PT_BLOB, blob, sizeof blob);
    fb_end(&f);
    add_seed(f.b.data, f.b.len, false);
    spw_buf_free(&f.b);
}

/* A type-4 frame around msg (hint: the original size). */
static size_t compress4(const uint8_t *msg, size_t n, uint8_t *out, size_t max) {
    uLongf zl = max > 16 ? max - 16 : 0;
    if (compress2(out + 16, &zl, msg, n, 6) != Z_OK)
        return 0;
    out[0] = 2;
    out[1] = 4;
    put_proto_size(out, 16 + zl);
    put64(out + 8, n);
    return 16 + zl;
}

/* One to four mutations of buf[0..*n) in place (cap bytes available). */
static void mutate(uint8_t *buf, size_t *n, size_t cap, size_t keep) {
    static const uint8_t edge[] = {0, 1, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x20};
    size_t k = 1 + rn(4);
    for (size_t m = 0; m < k && *n > keep; m++) {
        size_t at = keep + rn(*n - keep);
        switch (rn(6)) {
        case 0: buf[at] = (uint8_t)next(); break;
        case 1: buf[at] = edge[rn(sizeof edge)]; break;
        case 2: *n = at; break; /* truncated */
        case 3: {               /* bytes inserted */
            size_t add = 1 + rn(8);
            if (*n + add > cap)
                break;
            memmove(buf + at + add, buf + at, *n - at);
            for (size_t i = 0; i < add; i++)
                buf[at + i] = (uint8_t)next();
            *n += add;
            break;
        }
        case 4: { /* bytes removed */
            size_t del = 1 + rn(8);
            if (at + del > *n)
                del = *n - at;
            memmove(buf + at, buf + at + del, *n - at - del);
            *n -= del;
            break;
        }
        default: { /* a chunk repeated */
            size_t len = 1 + rn(24);
            if (at + len > *n)
                len = *n - at;
            if (*n + len > cap)
                break;
            memmove(buf + at + len, buf + at, *n - at);
            *n += len;
            break;
        }
        }
    }
}

/* ---- what is done with an accepted event ---- */

#define NJ 4
#define NX 3
static jcodec jc[NJ];
static fcodec fc[2];
static fcodec_config fcfg[2];
static mcodec mc[2];
static xcodec xc[NX];
static unsigned written, rejected, bad;

static void walk_bins(const spw_event *ev) {
    for (size_t i = 0; i < spw_event_bin_count(ev); i++) {
        const spw_bin *b = spw_event_bin(ev, i);
        if (!b || (b->value.type != SPW_PT_LIST && b->value.type != SPW_PT_MAP))
            continue;
        spw_walker w;
        spw_item it;
        if (spw_walk_init(&w, &b->value) != SPW_OK)
            continue;
        size_t steps = 0;
        spw_result r;
        while ((r = spw_walk_next(&w, &it)) == SPW_OK)
            if (++steps > b->value.len + 1) { /* each item takes at least a byte */
                bad++;
                diag("a walk of %zu bytes gave more than %zu items", b->value.len, steps);
                break;
            }
    }
}

static void encode_all(const spw_event *ev, spw_buf *out) {
    static const char prefix[] = "PRE";
    for (int codec = 0; codec < 4; codec++) {
        spw_err err = {{0}};
        spw_result r;
        spw_buf_reset(out);
        spw_buf_append(out, prefix, 3);
        switch (codec) {
        case 0: r = jcodec_encode(&jc[rn(NJ)], ev, out, &err); break;
        case 1: r = fcodec_encode(&fc[rn(2)], ev, out, &err); break;
        case 2: r = mcodec_encode(&mc[rn(2)], ev, out, &err); break;
        default: r = xcodec_encode(&xc[rn(NX)], ev, out, &err); break;
        }
        if (out->len < 3 || memcmp(out->data, prefix, 3) != 0) {
            bad++;
            diag("codec %d overwrote what was in the buffer", codec);
        } else if (r == SPW_OK && out->len > 3) {
            written++;
        } else if (r == SPW_REJECT && err.msg[0] && out->len == 3) {
            rejected++;
        } else {
            bad++;
            diag("codec %d: result %d, %zu bytes, reason '%s'", codec, (int)r, out->len - 3, err.msg);
        }
    }
}

static void make_codecs(void) {
    for (unsigned i = 0; i < NJ; i++) {
        jcodec_config c = {0};
        c.invalid_utf8 = (int)(i % 3);
        c.non_finite = (int)(i % 3);
        c.stringify_map_keys = i & 1;
        c.bin_luts = (i >> 1) & 1;
        c.delete_metadata = i & 1;
        if (jcodec_init(&jc[i], &c) != SPW_OK)
            abort();
    }
    for (unsigned i = 0; i < 2; i++) {
        fcfg[i].j = jc[i].cfg;
        fcfg[i].metadata_key = "metadata";
        fcfg[i].name_collision = (int)i;
        if (fcodec_init(&fc[i], &fcfg[i]) != SPW_OK)
            abort();
        mc[i].cfg = (mcodec_config){i & 1, i & 1, (int)i * 2, false};
    }
    for (unsigned i = 0; i < NX; i++) {
        xc[i].cfg = (xcodec_config){(int)i, i & 1};
        xc[i].fixed_now_s = NOW_S;
    }
}

int main(void) {
    const char *s = getenv("SPW_FUZZ_SEED"), *c = getenv("SPW_FUZZ_CASES");
    uint64_t seed0 = s && *s ? strtoull(s, NULL, 0) : 0x5eed0fa11ULL;
    size_t cases = c && *c ? strtoull(c, NULL, 0) : 300000;
    rng = seed0 ? seed0 : 1;
    /* Mutated size hints make events of up to MAX_FRAME: keep glibc from trimming the heap after each. */
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
    diag("SPW_FUZZ_SEED=%#llx SPW_FUZZ_CASES=%zu", (unsigned long long)seed0, cases);

    static uint8_t tmp[1 << 16], buf[1 << 17], msg[1 << 16];
    size_t n = xdr_load_hex("ref-write.hex", tmp, sizeof tmp);
    add_seed(tmp, n, false);
    add_seed(tmp, n, true);
    n = xdr_load_hex("ref-delete.hex", tmp, sizeof tmp);
    add_seed(tmp, n, false);
    built_seeds();
    make_codecs();

    asw_parser p;
    asw_parser_init(&p, MAX_FRAME, true);
    asw_parser lenient; /* validate_collections = false: malformed MessagePack reaches the codecs */
    asw_parser_init(&lenient, MAX_FRAME, false);
    spw_buf out = SPW_BUF_INIT;
    size_t accepted = 0, refused = 0, no_reason = 0, header = 0, deep = 0;

    for (size_t i = 0; i < cases; i++) {
        const seed *sd = &seeds[rn(n_seeds)];
        size_t len;
        if (sd->compressed && rn(2)) { /* inside: mutate the message, then compress it */
            memcpy(msg, sd->msg, sd->len);
            size_t ml = sd->len;
            mutate(msg, &ml, sizeof msg, 8);
            if (rn(2))
                put_proto_size(msg, ml);
            len = compress4(msg, ml, buf, sizeof buf);
            if (!len)
                continue;
        } else {
            if (sd->compressed) {
                len = compress4(sd->msg, sd->len, buf, sizeof buf);
                mutate(buf, &len, sizeof buf, 0);
            } else {
                memcpy(buf, sd->msg, sd->len);
                len = sd->len;
                mutate(buf, &len, sizeof buf, 0);
            }
            if (len >= 8 && rn(2))
                put_proto_size(buf, len);
        }
        asw_parser *pp = rn(4) ? &p : &lenient;
        asw_error err = {0, false, ""};
        size_t need = 0;
        asw_scan sc = asw_scan_frame(pp, buf, len, &need, &err);
        if (sc != ASW_FRAME || need > len || (asw_frame_type(buf) != 3 && asw_frame_type(buf) != 4)) {
            header++; /* the source would wait for more bytes or close the connection here */
            continue;
        }
        deep++;
        spw_event *ev = NULL;
        spw_result r = asw_frame_event(pp, buf, need, NOW_S, &ev, &err);
        if (r == SPW_OK && ev) {
            accepted++;
            walk_bins(ev);
            encode_all(ev, &out);
            spw_event_unref(ev);
        } else if (r == SPW_ERR_INVAL && !ev) {
            refused++;
            if (!err.reason[0])
                no_reason++;
        } else {
            bad++;
            diag("case %zu: result %d with%s an event", i, (int)r, ev ? "" : "out");
            spw_event_unref(ev);
        }
    }
    diag("%zu cases: %zu stopped at the header, %zu parsed: %zu accepted, %zu refused; "
         "codecs: %u written, %u rejected",
         cases, header, deep, accepted, refused, written, rejected);
    ok(bad == 0, "every frame was refused with no event or accepted as one event (%u bad)", bad);
    is_int(no_reason, 0, "every refusal gives its reason");
    /* The corpus must reach both sides, or the run proves little. */
    ok(deep > cases / 4, "over a quarter of the cases got past the header (%zu)", deep);
    ok(accepted > deep / 50 && refused > deep / 10,
       "mutants were both accepted (%zu) and refused (%zu) in numbers", accepted, refused);
    ok(written > 0 && rejected > 0, "the codecs both wrote (%u) and rejected (%u) accepted mutants",
       written, rejected);

    spw_buf_free(&out);
    for (unsigned i = 0; i < NJ; i++)
        jcodec_fini(&jc[i]);
    for (unsigned i = 0; i < 2; i++)
        fcodec_fini(&fc[i]);
    for (size_t i = 0; i < n_seeds; i++)
        free(seeds[i].msg);
    asw_parser_free(&p);
    asw_parser_free(&lenient);
    return tap_done();
}

/*
 * tests/unit/test-xdr-wire.c: the xdr source's protocol code (the pure
 * module plugins/source-xdr/wire.h), without sockets: the real frames of
 * the Aerospike XDR protocol reference (public captures) and variations of them (compressed, reordered,
 * unknown fields), every particle and key type, lists and maps, limits,
 * INFO answers, the reply, and a corpus of malformed input that must be
 * refused cleanly (never crash, never allocate beyond the limits).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "tap.h"
#include "wire.h"
#include "xdr-frame-builder.h"

#ifndef XDR_TEST_DATA
#error XDR_TEST_DATA must name tests/data/xdr
#endif

#define NOW_S 1764115200
#define MAX_FRAME (8u << 20)

static asw_parser P;

/* ---------------------------------------------------------------------- */
/* Helpers                                                                 */
/* ---------------------------------------------------------------------- */

/* Reads tests/data/xdr/NAME into *out (64 KiB allocated). */
static size_t load_hex(const char *name, uint8_t **out) {
    *out = malloc(1 << 16);
    return xdr_load_hex(name, *out, 1 << 16);
}

static int hexval(char c) { return c <= '9' ? c - '0' : c - 'a' + 10; }

static void unhex(const char *h, uint8_t *out) {
    for (size_t i = 0; h[2 * i]; i++)
        out[i] = (uint8_t)(hexval(h[2 * i]) << 4 | hexval(h[2 * i + 1]));
}

/* The minimal fields of a record: namespace, digest. */
static void fb_record(struct fb *f, uint8_t info2) {
    static const uint8_t dig[20] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20};
    fb_begin(f, info2, 1, 0);
    fb_str(f, 0, "test");
    fb_field(f, 4, dig, 20);
}

/* Wraps a frame into a type-4 frame (hint = the original size, big-endian). */
static size_t compress_frame(const uint8_t *frame, size_t n, uint8_t **out) {
    uLongf zl = compressBound(n);
    uint8_t *c = malloc(16 + zl);
    compress2(c + 16, &zl, frame, n, 6);
    size_t size = 8 + zl;
    c[0] = 2;
    c[1] = 4;
    for (int i = 7; i >= 2; i--, size >>= 8)
        c[i] = (uint8_t)size;
    put64(c + 8, n);
    *out = c;
    return 16 + zl;
}

/* Type-4 frame around arbitrary zlib input bytes. */
static size_t wrap4(const uint8_t *z, size_t zn, uint8_t **out) {
    uint8_t *c = malloc(16 + zn);
    size_t size = 8 + zn;
    c[0] = 2;
    c[1] = 4;
    for (int i = 7; i >= 2; i--, size >>= 8)
        c[i] = (uint8_t)size;
    put64(c + 8, 0);
    memcpy(c + 16, z, zn);
    *out = c;
    return 16 + zn;
}

static spw_event *parse(const uint8_t *f, size_t n, asw_error *err) {
    spw_event *ev = NULL;
    asw_error e;
    spw_result r = asw_frame_event(&P, f, n, NOW_S, &ev, err ? err : &e);
    if (r != SPW_OK && ev != NULL)
        return NULL; /* would be a bug: checked by callers through NULL */
    return ev;
}

/* Expects the frame to be refused as malformed, and says why it was. */
static void refused(const uint8_t *f, size_t n, const char *what) {
    spw_event *ev = NULL;
    asw_error err = {0, false, ""};
    spw_result r = asw_frame_event(&P, f, n, NOW_S, &ev, &err);
    ok(r == SPW_ERR_INVAL && ev == NULL && err.reason[0], "refused: %s (%s)", what, err.reason);
    spw_event_unref(ev);
}

static void refused_fb(struct fb *f, const char *what) {
    fb_end(f);
    refused(f->b.data, f->b.len, what);
}

static spw_event *parse_fb(struct fb *f) {
    asw_error err = {0, false, ""};
    fb_end(f);
    spw_event *ev = parse(f->b.data, f->b.len, &err);
    if (!ev)
        diag("parse failed: %s at %llu", err.reason, (unsigned long long)err.offset);
    return ev;
}

static bool is_str_n(spw_str s, const char *want) {
    return s.ptr && s.len == strlen(want) && memcmp(s.ptr, want, s.len) == 0;
}

static void hex20(const uint8_t *d, char out[41]) {
    for (int i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* ---------------------------------------------------------------------- */
/* The reference frames                                                    */
/* ---------------------------------------------------------------------- */

static void check_ref_write(spw_event *ev, const uint8_t *frame, size_t n, const char *how) {
    spw_value key;
    int64_t iv;
    char dig[41];
    spw_str s;

    if (!ok(ev != NULL, "%s: the reference write parses", how))
        return;
    is_int(spw_event_op(ev), SPW_OP_WRITE, "%s: write", how);
    ok(!spw_event_durable(ev), "%s: info2 0x10 on a write is not a durable delete", how);
    ok(is_str_n(spw_event_namespace(ev), "test"), "%s: namespace test", how);
    ok(is_str_n(spw_event_set(ev), "myset"), "%s: set myset", how);
    ok(spw_event_key(ev, &key) && key.type == SPW_PT_INTEGER && spw_value_int(&key, &iv) == SPW_OK &&
           iv == 4, "%s: integer key 4", how);
    hex20(spw_event_digest(ev), dig);
    is_str(dig, "78f26d30728c436ac5b7e2b79f7faa4b1c011576", "%s: digest", how);
    is_int(spw_event_generation(ev), 1, "%s: generation 1", how);
    is_int(spw_event_lut_ms(ev), 1734387515693LL, "%s: LUT in Unix ms", how);
    is_int(spw_event_src_id(ev), 1, "%s: src-id from the LUT's top 24 bits", how);
    is_int(spw_event_expiry(ev), 0, "%s: TTL 0xFFFFFFFF never expires", how);
    is_int(spw_event_bin_count(ev), 3, "%s: three bins", how);
    const spw_bin *b0 = spw_event_bin(ev, 0), *b1 = spw_event_bin(ev, 1), *b2 = spw_event_bin(ev, 2);
    ok(b0 && is_str_n(b0->name, "name") && spw_value_str(&b0->value, &s) == SPW_OK &&
           s.len == 6 && memcmp(s.ptr, "colton", 6) == 0 && b0->lut_ms == 0,
       "%s: bin name = \"colton\"", how);
    ok(b1 && is_str_n(b1->name, "age") && spw_value_int(&b1->value, &iv) == SPW_OK && iv == 27,
       "%s: bin age = 27", how);
    ok(b2 && is_str_n(b2->name, "mapTest") && b2->value.type == SPW_PT_MAP && b2->value.len == 9,
       "%s: bin mapTest is a 9-byte map", how);
    if (b2) {
        spw_walker w;
        spw_item it;
        char seen[64] = "";
        spw_walk_init(&w, &b2->value);
        while (spw_walk_next(&w, &it) == SPW_OK) {
            char one[16];
            if (it.kind == SPW_ITEM_MAP)
                snprintf(one, sizeof one, "{%u}", it.u.coll.count);
            else if (it.kind == SPW_ITEM_STR)
                snprintf(one, sizeof one, "%.*s", (int)it.u.bytes.len, (const char *)it.u.bytes.ptr);
            else if (it.kind == SPW_ITEM_INT)
                snprintf(one, sizeof one, "=%lld", (long long)it.u.i);
            else
                snprintf(one, sizeof one, "?");
            strncat(seen, one, sizeof seen - strlen(seen) - 1);
        }
        is_str(seen, "{2}a=1b=2", "%s: mapTest walks to {a:1, b:2}", how);
    }
    size_t rl;
    const uint8_t *raw = spw_event_raw(ev, &rl);
    ok(raw && rl == n && memcmp(raw, frame, n) == 0, "%s: raw is the uncompressed frame", how);
    is_int(spw_event_port(ev), 0, "%s: no port until the connection sets it", how);
}

static void test_reference(void) {
    uint8_t *w, *d, *c;
    size_t wn = load_hex("ref-write.hex", &w), dn = load_hex("ref-delete.hex", &d);
    spw_value key;
    int64_t iv;
    char dig[41];

    spw_event *ev = parse(w, wn, NULL);
    check_ref_write(ev, w, wn, "plain");
    /* Zero copy: every pointer lies in the one copy of the frame, the raw frame. */
    if (ev) {
        size_t rl;
        const uint8_t *raw = spw_event_raw(ev, &rl);
        const spw_bin *b = spw_event_bin(ev, 2);
        ok((const uint8_t *)spw_event_namespace(ev).ptr == raw + 35 && b->value.data == raw + 153,
           "fields and values point into the event's copy of the frame");
    }
    spw_event_unref(ev);

    size_t cn = compress_frame(w, wn, &c);
    ev = parse(c, cn, NULL);
    check_ref_write(ev, w, wn, "compressed");
    spw_event_unref(ev);
    free(c);

    ev = parse(d, dn, NULL);
    if (ok(ev != NULL, "the reference delete parses")) {
        is_int(spw_event_op(ev), SPW_OP_DELETE, "delete");
        ok(!spw_event_durable(ev), "not durable (0x10 clear)");
        ok(spw_event_key(ev, &key) && spw_value_int(&key, &iv) == SPW_OK && iv == 14, "key 14");
        hex20(spw_event_digest(ev), dig);
        is_str(dig, "f9bb902ddd1874858475b66c8f36b950badb44f7", "delete digest");
        is_int(spw_event_generation(ev), 2, "generation 2");
        is_int(spw_event_bin_count(ev), 0, "no bins");
        is_int(spw_event_expiry(ev), 0, "a delete never carries an expiry");
        is_int(spw_event_lut_ms(ev), (int64_t)(0x6dea751d58LL) + ASW_CLEPOCH_MS, "delete LUT");
    }
    spw_event_unref(ev);

    /* The same delete, durable: info2 0x13. */
    d[8 + 2] = 0x13;
    ev = parse(d, dn, NULL);
    ok(ev && spw_event_op(ev) == SPW_OP_DELETE && spw_event_durable(ev), "info2 0x13 is a durable delete");
    spw_event_unref(ev);
    /* DELETE without WRITE is still a delete. */
    d[8 + 2] = 0x02;
    ev = parse(d, dn, NULL);
    ok(ev && spw_event_op(ev) == SPW_OP_DELETE && !spw_event_durable(ev), "info2 0x02 is a delete");
    spw_event_unref(ev);
    /* Neither bit: not a record XDR ships. */
    d[8 + 2] = 0x00;
    refused(d, dn, "info2 with neither WRITE nor DELETE");
    d[8 + 2] = 0x03;

    /* Digests: the reference ones, and the vendor's sample (set demo, key 123). */
    uint8_t k[8] = {0}, out[20];
    k[7] = 4;
    spw_digest_compute("myset", 5, SPW_PT_INTEGER, k, 8, out);
    hex20(out, dig);
    is_str(dig, "78f26d30728c436ac5b7e2b79f7faa4b1c011576", "digest of myset/4 computed");
    k[7] = 123;
    spw_digest_compute("demo", 4, SPW_PT_INTEGER, k, 8, out);
    spw_buf b64 = SPW_BUF_INIT;
    spw_buf_append_base64(&b64, out, 20);
    spw_buf_append(&b64, "", 1);
    is_str((const char *)b64.data, "WVp7Y+sYXb69hCVTpEgCsaMOwVk=", "vendor digest sample");
    spw_buf_free(&b64);

    /* The reply. */
    uint8_t *rep, mine[ASW_REPLY_LEN];
    size_t rn = load_hex("reply-ok.hex", &rep);
    asw_reply(mine, 0);
    ok(rn == ASW_REPLY_LEN && memcmp(rep, mine, rn) == 0, "the reply is the reference's 30 bytes");
    asw_reply(mine, 11);
    ok(mine[13] == 11 && mine[7] == 22 && mine[8] == 22, "result code at offset 13");
    free(rep);
    free(w);
    free(d);
}

/* ---------------------------------------------------------------------- */
/* Field handling                                                          */
/* ---------------------------------------------------------------------- */

static void test_fields(void) {
    struct fb f = {SPW_BUF_INIT, 0, 0};
    uint8_t key4[8] = {0, 0, 0, 0, 0, 0, 0, 4}, dig[20], lut[8];
    unhex("78f26d30728c436ac5b7e2b79f7faa4b1c011576", dig);
    unhex("0000016dea5ec92d", lut);
    uint8_t age[8] = {0, 0, 0, 0, 0, 0, 0, 27};
    uint8_t *w;
    size_t wn = load_hex("ref-write.hex", &w);

    /* Reordered fields, unknown fields in between: the same event. */
    fb_begin(&f, 0x11, 1, 0xFFFFFFFF);
    fb_key(&f, SPW_PT_INTEGER, key4, 8);
    fb_field(&f, 14, lut, 8);
    fb_field(&f, 3, "\1\2\3\4\5\6\7", 7);         /* record version */
    fb_str(&f, 1, "myset");
    fb_field(&f, 7, "\0\0\0\0\0\0\0\x2a", 8);     /* transaction id */
    fb_field(&f, 4, dig, 20);
    fb_field(&f, 200, "whatever a newer server adds", 28);
    fb_str(&f, 0, "test");
    fb_bin(&f, SPW_PT_STRING, "name", "colton", 6);
    fb_bin(&f, SPW_PT_INTEGER, "age", age, 8);
    fb_bin(&f, SPW_PT_MAP, "mapTest", "\x82\xa2\x03" "a\x01\xa2\x03" "b\x02", 9);
    spw_event *ev = parse_fb(&f);
    ok(ev && is_str_n(spw_event_namespace(ev), "test") && is_str_n(spw_event_set(ev), "myset") &&
           spw_event_lut_ms(ev) == 1734387515693LL && spw_event_bin_count(ev) == 3 &&
           memcmp(spw_event_digest(ev), dig, 20) == 0,
       "fields in any order, unknown ones skipped by size");
    spw_event_unref(ev);

    /* No digest: computed from set and key. */
    fb_begin(&f, 0x01, 1, 0);
    fb_str(&f, 0, "test");
    fb_str(&f, 1, "myset");
    fb_key(&f, SPW_PT_INTEGER, key4, 8);
    ev = parse_fb(&f);
    ok(ev && memcmp(spw_event_digest(ev), dig, 20) == 0, "an absent digest is computed from set + key");
    spw_event_unref(ev);

    /* No set, string key: digest over the key alone. */
    uint8_t want[20];
    spw_digest_compute(NULL, 0, SPW_PT_STRING, "k1", 2, want);
    fb_begin(&f, 0x01, 1, 0);
    fb_str(&f, 0, "test");
    fb_key(&f, SPW_PT_STRING, "k1", 2);
    ev = parse_fb(&f);
    ok(ev && memcmp(spw_event_digest(ev), want, 20) == 0 && spw_event_set(ev).ptr == NULL,
       "no set: digest over the key alone, set absent");
    spw_event_unref(ev);

    /* An empty set field is no set. */
    fb_record(&f, 0x01);
    fb_field(&f, 1, "", 0);
    ev = parse_fb(&f);
    ok(ev && spw_event_set(ev).ptr == NULL, "an empty set field means no set");
    spw_event_unref(ev);

    fb_begin(&f, 0x01, 1, 0);
    fb_str(&f, 0, "test");
    fb_str(&f, 1, "myset");
    refused_fb(&f, "neither digest nor key");

    fb_begin(&f, 0x01, 1, 0);
    fb_field(&f, 4, dig, 20);
    refused_fb(&f, "no namespace");
    fb_begin(&f, 0x01, 1, 0);
    fb_str(&f, 0, "");
    fb_field(&f, 4, dig, 20);
    refused_fb(&f, "empty namespace");
    fb_record(&f, 0x01);
    fb_str(&f, 0, "other");
    refused_fb(&f, "namespace given twice");
    fb_record(&f, 0x01);
    fb_field(&f, 4, dig, 20);
    refused_fb(&f, "digest given twice");
    fb_begin(&f, 0x01, 1, 0);
    fb_str(&f, 0, "test");
    fb_field(&f, 4, dig, 19);
    refused_fb(&f, "digest of 19 bytes");
    fb_begin(&f, 0x01, 1, 0);
    fb_str(&f, 0, "test");
    fb_field(&f, 4, dig, 0);
    refused_fb(&f, "empty digest");
    fb_record(&f, 0x01);
    fb_field(&f, 14, lut, 7);
    refused_fb(&f, "LUT of 7 bytes");
    fb_record(&f, 0x01);
    fb_field(&f, 14, lut, 8);
    fb_field(&f, 14, lut, 8);
    refused_fb(&f, "LUT given twice");

    /* LUTs. */
    uint8_t zero[8] = {0xAB, 0xCD, 0xEF, 0, 0, 0, 0, 0};
    fb_record(&f, 0x01);
    fb_field(&f, 14, zero, 8);
    ev = parse_fb(&f);
    ok(ev && spw_event_lut_ms(ev) == 0 && spw_event_src_id(ev) == 0xABCDEF,
       "LUT 0 in the low 40 bits is unknown (0); src-id still read");
    spw_event_unref(ev);
    uint8_t maxlut[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    fb_record(&f, 0x01);
    fb_field(&f, 14, maxlut, 8);
    ev = parse_fb(&f);
    ok(ev && spw_event_lut_ms(ev) == 0xFFFFFFFFFFLL + ASW_CLEPOCH_MS && spw_event_src_id(ev) == 0xFFFFFF,
       "largest LUT and src-id");
    spw_event_unref(ev);
    fb_record(&f, 0x01);
    ev = parse_fb(&f);
    ok(ev && spw_event_lut_ms(ev) == 0, "no LUT field: LUT unknown (0)");
    spw_event_unref(ev);

    /* TTLs. */
    struct { uint8_t info2; uint32_t ttl; int64_t exp; const char *what; } ttls[] = {
        {0x01, 100, NOW_S + 100, "write TTL 100 s: arrival + 100"},
        {0x01, 0, 0, "write TTL 0: never expires"},
        {0x01, 0xFFFFFFFF, 0, "write TTL 0xFFFFFFFF: never expires"},
        {0x01, 0xFFFFFFFE, NOW_S + 0xFFFFFFFELL, "write TTL 0xFFFFFFFE: arrival + TTL"},
        {0x03, 500, 0, "delete with a TTL: no expiry"},
    };
    for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++) {
        fb_record(&f, ttls[i].info2);
        put32(f.b.data + 8 + 10, ttls[i].ttl);
        ev = parse_fb(&f);
        ok(ev && spw_event_expiry(ev) == ttls[i].exp, "%s", ttls[i].what);
        spw_event_unref(ev);
    }

    /* Keys. */
    double dk = 2.5;
    uint64_t bits;
    memcpy(&bits, &dk, 8);
    uint8_t dkb[8];
    put64(dkb, bits);
    struct { uint8_t pt; const void *v; size_t n; bool good; const char *what; } keys[] = {
        {SPW_PT_INTEGER, key4, 8, true, "integer key"},
        {SPW_PT_DOUBLE, dkb, 8, true, "double key"},
        {SPW_PT_STRING, "user-42", 7, true, "string key"},
        {SPW_PT_STRING, "", 0, true, "empty string key"},
        {SPW_PT_BLOB, "\x00\x01\xff", 3, true, "blob key"},
        {SPW_PT_INTEGER, key4, 7, false, "integer key of 7 bytes"},
        {SPW_PT_DOUBLE, dkb, 4, false, "double key of 4 bytes"},
        {SPW_PT_MAP, "\x80", 1, false, "map key"},
        {SPW_PT_BOOL, "\x01", 1, false, "bool key"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        fb_record(&f, 0x01);
        fb_key(&f, keys[i].pt, keys[i].v, keys[i].n);
        if (!keys[i].good) {
            refused_fb(&f, keys[i].what);
            continue;
        }
        ev = parse_fb(&f);
        spw_value kv;
        ok(ev && spw_event_key(ev, &kv) && kv.type == keys[i].pt && kv.len == keys[i].n &&
               (kv.len == 0 || memcmp(kv.data, keys[i].v, kv.len) == 0),
           "%s", keys[i].what);
        if (ev && keys[i].pt == SPW_PT_DOUBLE) {
            double got = 0;
            ok(spw_value_double(&kv, &got) == SPW_OK && got == 2.5, "double key reads 2.5");
        }
        spw_event_unref(ev);
    }
    fb_record(&f, 0x01);
    fb_field(&f, 2, "", 0);
    refused_fb(&f, "key field without a particle type");

    spw_buf_free(&f.b);
    free(w);
    (void)wn;
}

/* ---------------------------------------------------------------------- */
/* Bins                                                                    */
/* ---------------------------------------------------------------------- */

static void test_bins(void) {
    struct fb f = {SPW_BUF_INIT, 0, 0};
    uint8_t i8[8] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE}; /* -2 */
    uint8_t d8[8];
    double dv = -1.25;
    uint64_t bits;
    memcpy(&bits, &dv, 8);
    put64(d8, bits);
    static const char geo[] = "\x00\x00\x01\x11\x22\x33\x44\x55\x66\x77\x88"
                              "{\"type\":\"Point\",\"coordinates\":[1,2]}";

    struct { uint8_t pt; const char *v; size_t n; } all[] = {
        {SPW_PT_NIL, "", 0},
        {SPW_PT_INTEGER, (const char *)i8, 8},
        {SPW_PT_DOUBLE, (const char *)d8, 8},
        {SPW_PT_STRING, "h\xc3\xa9llo", 6},
        {SPW_PT_BLOB, "\x00\x01\x02", 3},
        {SPW_PT_JBLOB, "java", 4},
        {SPW_PT_CSBLOB, "c#", 2},
        {SPW_PT_PYBLOB, "py", 2},
        {SPW_PT_RBBLOB, "rb", 2},
        {SPW_PT_PHPBLOB, "php", 3},
        {SPW_PT_ERLBLOB, "erl", 3},
        {SPW_PT_VECTOR, "\x3f\x80\x00\x00", 4},
        {SPW_PT_BOOL, "\x01", 1},
        {SPW_PT_HLL, "\x0e\x00\x00", 3},
        {SPW_PT_MAP, "\x81\xa2\x03k\x01", 5},
        {SPW_PT_LIST, "\x92\x01\xa2\x03x", 5},
        {SPW_PT_GEOJSON, geo, sizeof geo - 1},
        {21, "opaque", 6}, /* a type this code does not know: passed through */
        {SPW_PT_STRING, "", 0},
    };
    size_t n_all = sizeof all / sizeof all[0];
    fb_record(&f, 0x01);
    for (size_t i = 0; i < n_all; i++) {
        char name[16];
        snprintf(name, sizeof name, "b%zu", i);
        fb_bin(&f, all[i].pt, name, all[i].v, all[i].n);
    }
    spw_event *ev = parse_fb(&f);
    if (ok(ev && spw_event_bin_count(ev) == n_all, "a record with every particle type")) {
        for (size_t i = 0; i < n_all; i++) {
            const spw_bin *b = spw_event_bin(ev, i);
            ok(b->value.type == all[i].pt && b->value.len == all[i].n &&
                   (all[i].n == 0 || memcmp(b->value.data, all[i].v, all[i].n) == 0),
               "bin %zu: %s passes as its wire bytes", i, spw_particle_name(all[i].pt));
        }
        int64_t iv;
        double d;
        bool bv;
        spw_geojson g;
        ok(spw_value_int(&spw_event_bin(ev, 1)->value, &iv) == SPW_OK && iv == -2, "integer reads -2");
        ok(spw_value_double(&spw_event_bin(ev, 2)->value, &d) == SPW_OK && d == -1.25,
           "double reads -1.25");
        ok(spw_value_bool(&spw_event_bin(ev, 12)->value, &bv) == SPW_OK && bv, "bool reads true");
        ok(spw_value_geojson(&spw_event_bin(ev, 16)->value, &g) == SPW_OK && g.ncells == 1 &&
               g.text.len == 36, "GeoJSON: one cell, the text");
    }
    spw_event_unref(ev);

    /* Per-bin LUTs. */
    int64_t blut = 0x6dea5ec92dLL, zero = 0;
    fb_record(&f, 0x11);
    fb_op(&f, 2, SPW_PT_INTEGER, "a", &blut, i8, 8);
    fb_op(&f, 2, SPW_PT_STRING, "b", &zero, "x", 1);
    fb_op(&f, 2, SPW_PT_STRING, "c", NULL, "y", 1);
    int64_t tagged = (int64_t)((uint64_t)0x123456 << 40) | blut;
    fb_op(&f, 2, SPW_PT_NIL, "d", &tagged, "", 0);
    ev = parse_fb(&f);
    ok(ev && spw_event_bin(ev, 0)->lut_ms == blut + ASW_CLEPOCH_MS &&
           spw_event_bin(ev, 0)->value.len == 8 && spw_event_bin(ev, 1)->lut_ms == 0 &&
           spw_event_bin(ev, 2)->lut_ms == 0 && spw_event_bin(ev, 3)->lut_ms == blut + ASW_CLEPOCH_MS,
       "bin LUTs: clepoch ms to Unix ms, 0 unknown, absent, top bits ignored");
    ok(ev && spw_event_bin(ev, 1)->value.len == 1 && spw_event_bin(ev, 1)->value.data[0] == 'x',
       "the value follows the bin LUT");
    spw_event_unref(ev);

    /* A write without bins (metadata-only shipping). */
    fb_record(&f, 0x01);
    ev = parse_fb(&f);
    ok(ev && spw_event_bin_count(ev) == 0 && spw_event_op(ev) == SPW_OP_WRITE, "a write with no ops");
    spw_event_unref(ev);

    /* Empty bin name (single-bin namespaces). */
    fb_record(&f, 0x01);
    fb_bin(&f, SPW_PT_STRING, "", "v", 1);
    ev = parse_fb(&f);
    ok(ev && spw_event_bin(ev, 0)->name.len == 0, "an empty bin name");
    spw_event_unref(ev);

    /* Fixed sizes and impossible ops. */
    struct { uint8_t op, pt; const char *v; size_t n; const char *what; } bad[] = {
        {2, SPW_PT_INTEGER, "1234567", 7, "integer of 7 bytes"},
        {2, SPW_PT_INTEGER, "123456789", 9, "integer of 9 bytes"},
        {2, SPW_PT_DOUBLE, "", 0, "double of 0 bytes"},
        {2, SPW_PT_BOOL, "\x02", 1, "bool 2"},
        {2, SPW_PT_BOOL, "\x01\x00", 2, "bool of 2 bytes"},
        {2, SPW_PT_NIL, "x", 1, "nil with a value"},
        {2, SPW_PT_GEOJSON, "\x00\x00", 2, "GeoJSON of 2 bytes"},
        {2, SPW_PT_GEOJSON, "\x00\x00\x02" "12345678{}", 13, "GeoJSON announcing 2 cells, holding 1"},
        {1, SPW_PT_STRING, "x", 1, "a READ op"},
        {4, SPW_PT_LIST, "\x90", 1, "a CDT_MODIFY op"},
        {5, SPW_PT_INTEGER, "12345678", 8, "an INCR op"},
        {9, SPW_PT_STRING, "x", 1, "an APPEND op"},
        {14, SPW_PT_NIL, "", 0, "a DELETE_ALL op"},
        {0, SPW_PT_STRING, "x", 1, "op code 0"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fb_record(&f, 0x01);
        fb_op(&f, bad[i].op, bad[i].pt, "b", NULL, bad[i].v, bad[i].n);
        refused_fb(&f, bad[i].what);
    }
    fb_record(&f, 0x03);
    fb_bin(&f, SPW_PT_STRING, "b", "x", 1);
    refused_fb(&f, "a delete with ops");

    spw_buf_free(&f.b);
}

/* ---------------------------------------------------------------------- */
/* Lists and maps                                                          */
/* ---------------------------------------------------------------------- */

static bool coll_accepted(uint8_t pt, const void *v, size_t n) {
    struct fb f = {SPW_BUF_INIT, 0, 0};
    fb_record(&f, 0x01);
    fb_bin(&f, pt, "c", v, n);
    fb_end(&f);
    spw_event *ev = NULL;
    asw_error err;
    spw_result r = asw_frame_event(&P, f.b.data, f.b.len, NOW_S, &ev, &err);
    spw_event_unref(ev);
    spw_buf_free(&f.b);
    return r == SPW_OK;
}

static void test_collections(void) {
    struct { uint8_t pt; const char *v; size_t n; bool good; const char *what; } cases[] = {
        {SPW_PT_LIST, "\x90", 1, true, "empty list"},
        {SPW_PT_MAP, "\x80", 1, true, "empty map"},
        {SPW_PT_LIST, "\x93\xc7\x00\x01\x01\x02", 6, true, "ordered list (ext marker)"},
        {SPW_PT_MAP, "\x82\xc7\x00\x01\xc0\x01\x02", 7, true, "key-ordered map {1: 2}"},
        {SPW_PT_MAP, "\x82\xc7\x00\x03\xc0\x01\x02", 7, true, "key-value-ordered map"},
        {SPW_PT_MAP, "\x82\xc7\x00\x08\xc0\xa2\x03z\x01", 9, true, "preserve-order map"},
        {SPW_PT_LIST, "\x92\x81\xa2\x03k\x91\x01\x90", 8, true, "nested [{k: [1]}, []]"},
        {SPW_PT_LIST, "\x92\xc4\x03\x04\xaa\xbb\xa3\x04\xcc\xdd", 10, true,
         "blobs inside (bin and str with 0x04)"},
        {SPW_PT_LIST, "\x91\xd9\x11\x17{\"type\":\"Point\"}", 20, true, "GeoJSON inside (0x17 prefix)"},
        {SPW_PT_MAP,
         "\x84\x01\xa2\x03" "a\xcb\x40\x09\x21\xfb\x54\x44\x2d\x18\xc3\xc0\x02\xc4\x03\x04\x01\x02"
         "\x03",
         23, true, "non-string map keys: int, double, nil, blob"},
        {SPW_PT_MAP, "\x81\x91\x01\x02", 4, true, "a list as a map key (walkable)"},
        {SPW_PT_LIST, "\x93\xd4\x00\x01\xc7\x00\xff\xc0", 8, true, "wildcard / infinity ext values"},
        {SPW_PT_LIST,
         "\xdc\x00\x02\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xd3\x80\x00\x00\x00\x00\x00\x00\x00",
         21, true, "uint64 max and int64 min"},
        {SPW_PT_LIST, "", 0, false, "empty value"},
        {SPW_PT_LIST, "\x80", 1, false, "a map under the list particle type"},
        {SPW_PT_MAP, "\x90", 1, false, "a list under the map particle type"},
        {SPW_PT_MAP, "\x82\xa2\x03" "a\x01", 5, false, "a map missing a pair"},
        {SPW_PT_LIST, "\x91\x01\x02", 3, false, "a byte after the list"},
        {SPW_PT_LIST, "\x91\xa5\x03" "ab", 5, false, "a string running past the value"},
        {SPW_PT_LIST, "\xdd\xff\xff\xff\xff", 5, false, "a count of 4 billion in 5 bytes"},
        {SPW_PT_LIST, "\x91\xc1", 2, false, "the never-used byte 0xc1"},
        {SPW_PT_LIST, "\x01", 1, false, "a scalar under the list particle type"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok(coll_accepted(cases[i].pt, cases[i].v, cases[i].n) == cases[i].good, "%s %s: %s",
           cases[i].good ? "accepted" : "refused", spw_particle_name(cases[i].pt), cases[i].what);

    /* Nesting: 64 levels walk, 65 do not. */
    uint8_t deep[80];
    for (int depth = 64; depth <= 65; depth++) {
        memset(deep, 0x91, (size_t)depth);
        deep[depth] = 0x01;
        ok(coll_accepted(SPW_PT_LIST, deep, (size_t)depth + 1) == (depth == 64),
           "%d nested lists %s", depth, depth == 64 ? "accepted" : "refused");
    }

    /* validate_collections = false: malformed MessagePack passes through. */
    asw_parser lenient;
    asw_parser_init(&lenient, MAX_FRAME, false);
    struct fb f = {SPW_BUF_INIT, 0, 0};
    fb_record(&f, 0x01);
    fb_bin(&f, SPW_PT_MAP, "m", "\x82\xa2\x03" "a\x01", 5);
    fb_end(&f);
    spw_event *ev = NULL;
    asw_error err;
    ok(asw_frame_event(&lenient, f.b.data, f.b.len, NOW_S, &ev, &err) == SPW_OK && ev,
       "without validate_collections a malformed map passes");
    spw_event_unref(ev);
    asw_parser_free(&lenient);
    spw_buf_free(&f.b);
}

/* ---------------------------------------------------------------------- */
/* Limits                                                                  */
/* ---------------------------------------------------------------------- */

static void test_limits(void) {
    struct fb f = {SPW_BUF_INIT, 0, 0};
    size_t need;
    asw_error err;

    /* 65535 bins (the op count is 16 bits). */
    fb_record(&f, 0x01);
    for (int i = 0; i < 65535; i++)
        fb_bin(&f, SPW_PT_BOOL, "", "\x01", 1);
    spw_event *ev = parse_fb(&f);
    ok(ev && spw_event_bin_count(ev) == 65535, "65535 bins");
    spw_event_unref(ev);

    /* 255-byte bin names, 255-byte set... */
    char name[256];
    memset(name, 'n', 255);
    name[255] = 0;
    fb_record(&f, 0x01);
    fb_str(&f, 1, name);
    fb_bin(&f, SPW_PT_STRING, name, "v", 1);
    ev = parse_fb(&f);
    ok(ev && spw_event_bin(ev, 0)->name.len == 255 && spw_event_set(ev).len == 255,
       "255-byte bin name and set");
    spw_event_unref(ev);

    /* A frame of exactly max_frame_size is taken; one byte more is refused on its header. */
    asw_parser small;
    asw_parser_init(&small, 4096, true);
    fb_record(&f, 0x01);
    size_t sofar = f.b.len + 8 + 1; /* + op header + name */
    static uint8_t big[8 << 20];
    memset(big, 'x', sizeof big);
    fb_bin(&f, SPW_PT_BLOB, "b", big, 4096 + 8 - sofar);
    fb_end(&f);
    ok(f.b.len == 4096 + 8, "frame built at exactly 4096 bytes after its header");
    ok(asw_scan_frame(&small, f.b.data, f.b.len, &need, &err) == ASW_FRAME && need == f.b.len,
       "a frame of max_frame_size is taken");
    spw_event *e2 = NULL;
    ok(asw_frame_event(&small, f.b.data, f.b.len, NOW_S, &e2, &err) == SPW_OK, "and parses");
    spw_event_unref(e2);
    f.b.data[7]++;
    ok(asw_scan_frame(&small, f.b.data, 8, &need, &err) == ASW_BAD,
       "one byte over is refused on its 8-byte header (%s)",
       err.reason);
    ok(err.offset == 2, "the offset points at the size");

    /* The default limit with a real 8 MiB frame. */
    fb_record(&f, 0x01);
    sofar = f.b.len + 8 + 1;
    fb_bin(&f, SPW_PT_STRING, "b", big, (8u << 20) + 8 - sofar);
    fb_end(&f);
    ok(asw_scan_frame(&P, f.b.data, f.b.len, &need, &err) == ASW_FRAME,
       "an 8 MiB frame is taken by default");
    ev = parse(f.b.data, f.b.len, NULL);
    ok(ev && spw_event_bin(ev, 0)->value.len == (8u << 20) + 8 - sofar, "an 8 MiB string bin");
    spw_event_unref(ev);
    /* ...and compressed, it inflates into the event within the limit. */
    uint8_t *c;
    size_t cn = compress_frame(f.b.data, f.b.len, &c);
    ok(asw_scan_frame(&P, c, cn, &need, &err) == ASW_FRAME && need == cn,
       "compressed 8 MiB frame framed (%zu bytes)", cn);
    ev = parse(c, cn, NULL);
    size_t rl = 0;
    ok(ev && spw_event_raw(ev, &rl) && rl == f.b.len, "compressed 8 MiB frame inflates to its event");
    spw_event_unref(ev);
    free(c);

    asw_parser_free(&small);
    spw_buf_free(&f.b);
}

/* ---------------------------------------------------------------------- */
/* Framing                                                                 */
/* ---------------------------------------------------------------------- */

static void test_scan(void) {
    size_t need;
    asw_error err;
    uint8_t *w;
    size_t wn = load_hex("ref-write.hex", &w);

    ok(asw_scan_frame(&P, w, 0, &need, &err) == ASW_NEED_MORE && need == 8, "nothing: need a header");
    for (size_t k = 1; k < wn; k++) {
        asw_scan s = asw_scan_frame(&P, w, k, &need, &err);
        if (s != ASW_NEED_MORE || need != (k < 8 ? 8 : wn)) {
            ok(0, "prefix of %zu bytes: need more (%d, %zu)", k, s, need);
            break;
        }
        if (k == wn - 1)
            ok(1, "every prefix of the reference write needs more, with the right count");
    }
    ok(asw_scan_frame(&P, w, wn, &need, &err) == ASW_FRAME && need == wn, "whole frame");

    struct { const char *hex; size_t n; uint64_t off; const char *what; } bad[] = {
        {"01", 1, 0, "version 1, judged on its first byte"},
        {"00", 1, 0, "version 0"},
        {"0202", 2, 1, "type 2 (security), judged on the second byte"},
        {"0205", 2, 1, "type 5 (internal XDR)"},
        {"0200", 2, 1, "type 0"},
        {"0206", 2, 1, "type 6"},
        {"02ff", 2, 1, "type 255"},
        {"020300000000000f", 8, 2, "a message shorter than its header"},
        {"0203ffffffffffff", 8, 2, "a 256 TiB frame"},
        {"0203000008000001", 8, 2, "a frame just over 128 MiB"},
        {"0201000000010001", 8, 2, "an INFO request over 64 KiB"},
        {"0204000000000009", 8, 2, "a compressed frame without room for zlib"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        uint8_t b[8];
        unhex(bad[i].hex, b);
        asw_scan s = asw_scan_frame(&P, b, bad[i].n, &need, &err);
        ok(s == ASW_BAD && err.offset == bad[i].off, "refused on its header: %s (%s)", bad[i].what,
           err.reason);
    }

    /* Many frames back to back, as one read brings them. */
    uint8_t *d, *info;
    size_t dn = load_hex("ref-delete.hex", &d), in = load_hex("info-request.hex", &info);
    uint8_t *c;
    size_t cn = compress_frame(w, wn, &c);
    spw_buf s = SPW_BUF_INIT;
    for (int i = 0; i < 50; i++) {
        spw_buf_append(&s, w, wn);
        spw_buf_append(&s, d, dn);
        spw_buf_append(&s, info, in);
        spw_buf_append(&s, c, cn);
    }
    size_t pos = 0, events = 0, infos = 0;
    bool all_ok = true;
    while (pos < s.len) {
        if (asw_scan_frame(&P, s.data + pos, s.len - pos, &need, &err) != ASW_FRAME) {
            all_ok = false;
            break;
        }
        if (asw_frame_type(s.data + pos) == ASW_TYPE_INFO) {
            infos++;
        } else {
            spw_event *ev = parse(s.data + pos, need, NULL);
            all_ok = all_ok && ev;
            events += ev != NULL;
            spw_event_unref(ev);
        }
        pos += need;
    }
    ok(all_ok && events == 150 && infos == 50, "200 frames in one buffer: 150 events, 50 INFO");
    spw_buf_free(&s);
    free(c);
    free(d);
    free(info);
    free(w);
}

/* ---------------------------------------------------------------------- */
/* Malformed corpus                                                        */
/* ---------------------------------------------------------------------- */

static void test_malformed(void) {
    uint8_t *w, *d;
    size_t wn = load_hex("ref-write.hex", &w), dn = load_hex("ref-delete.hex", &d);
    uint8_t buf[256];
    asw_error err;
    spw_event *ev;

    /* Every truncation of the write, with a header that agrees with it. */
    size_t refused_n = 0;
    for (size_t k = ASW_MSG_MIN; k < wn; k++) {
        memcpy(buf, w, k);
        uint64_t size = k - 8;
        for (int i = 7; i >= 2; i--, size >>= 8)
            buf[i] = (uint8_t)size;
        ev = NULL;
        if (asw_frame_event(&P, buf, k, NOW_S, &ev, &err) == SPW_ERR_INVAL && ev == NULL)
            refused_n++;
        spw_event_unref(ev);
    }
    is_int(refused_n, wn - ASW_MSG_MIN, "every truncation of the write is refused");
    /* ...and with a header that does not. */
    ev = NULL;
    ok(asw_frame_event(&P, w, wn - 1, NOW_S, &ev, &err) == SPW_ERR_INVAL && !ev,
       "a frame shorter than its size field is refused (%s)", err.reason);
    memcpy(buf, w, wn);
    buf[wn] = 0;
    buf[7]++;
    ok(asw_frame_event(&P, buf, wn + 1, NOW_S, &ev, &err) == SPW_ERR_INVAL && !ev,
       "a byte after the last op is refused (%s)", err.reason);

    struct { size_t at; uint8_t v; const char *what; } pokes[] = {
        {8, 21, "header_sz 21"},
        {8, 0, "header_sz 0"},
        {8 + 19, 6, "n_fields 6 (one more than there are)"},
        {8 + 19, 4, "n_fields 4 (one less: the LUT is read as an op)"},
        {8 + 21, 4, "n_ops 4"},
        {8 + 21, 2, "n_ops 2: a byte string left over"},
        {8 + 20, 0xff, "n_ops 65283: more than the bytes can hold"},
        {8 + 18, 0xff, "n_fields 65285: more than the bytes can hold"},
        {30 + 3, 0, "a field of size 0"},
        {30 + 3, 0xff, "a field running past the message"},
        {30 + 0, 0x80, "a field of 2 GiB"},
        {101 + 3, 3, "an op of size 3"},
        {101 + 3, 0xff, "an op running past the message"},
        {101 + 7, 0x20, "an op whose name runs past its size"},
        {101 + 4, 1, "op code 1 (READ)"},
        {101 + 6, 1, "a bin LUT flag without room for it"},
        {119 + 5, SPW_PT_BOOL, "an 8-byte bool"},
        {138 + 5, SPW_PT_LIST, "a map declared a list"},
        {79, 0x05, "key particle type 5"},
    };
    for (size_t i = 0; i < sizeof pokes / sizeof pokes[0]; i++) {
        memcpy(buf, w, wn);
        buf[pokes[i].at] = pokes[i].v;
        refused(buf, wn, pokes[i].what);
    }
    /* The delete: ops where none may be. */
    memcpy(buf, d, dn);
    buf[8 + 21] = 1;
    refused(buf, dn, "a delete claiming an op");

    /* Compression gone wrong. */
    uint8_t *c, *z;
    size_t cn = compress_frame(w, wn, &c);
    memcpy(buf, c, cn);
    buf[20] ^= 0xff;
    refused(buf, cn, "corrupt zlib data");
    memcpy(buf, c, cn);
    uint64_t size = cn - 8 - 4;
    for (int i = 7; i >= 2; i--, size >>= 8)
        buf[i] = (uint8_t)size;
    refused(buf, cn - 4, "a truncated zlib stream (no Adler-32)");
    memcpy(buf, c, cn);
    buf[cn] = 0;
    buf[7]++;
    refused(buf, cn + 1, "a byte after the zlib stream");
    memcpy(buf, c, 16);
    buf[16] = 0x78;
    buf[17] = 0x20; /* FDICT set: wants a dictionary (header check bits fixed below) */
    buf[17] = (uint8_t)(0x20 | (31 - ((0x78 << 8 | 0x20) % 31)));
    memset(buf + 18, 0, 8);
    size = 8 + 10;
    for (int i = 7; i >= 2; i--, size >>= 8)
        buf[i] = (uint8_t)size;
    refused(buf, 26, "a zlib stream wanting a preset dictionary");
    buf[16] = 0x1f; /* gzip, not zlib */
    buf[17] = 0x8b;
    refused(buf, 26, "a gzip stream");
    free(c);

    /* The inner frame must be one type-3 message. */
    uint8_t inner[256];
    memcpy(inner, w, wn);
    inner[1] = 4;
    cn = compress_frame(inner, wn, &c);
    refused(c, cn, "compressed frame inside a compressed frame");
    free(c);
    memcpy(inner, w, wn);
    inner[0] = 3;
    cn = compress_frame(inner, wn, &c);
    refused(c, cn, "inflated version 3");
    free(c);
    cn = compress_frame(w, 20, &c);
    refused(c, cn, "inflates to 20 bytes");
    free(c);
    cn = compress_frame(w, wn - 10, &c);
    refused(c, cn, "inflates to less than its inner size");
    free(c);
    memcpy(inner, w, wn);
    memcpy(inner + wn, "tail", 4);
    cn = compress_frame(inner, wn + 4, &c);
    refused(c, cn, "inflates to more than its inner size");
    free(c);
    memcpy(inner, w, wn);
    inner[8 + 21] = 2; /* inner message malformed: n_ops 2 */
    cn = compress_frame(inner, wn, &c);
    ev = NULL;
    ok(asw_frame_event(&P, c, cn, NOW_S, &ev, &err) == SPW_ERR_INVAL && err.inflated,
       "malformed inflated message: offset reported in the inflated message (%s at %llu)", err.reason,
       (unsigned long long)err.offset);
    free(c);

    /* Decompression bombs: 64 MiB of zeros. Declared as such, refused on the inner header; declared
     * small, refused one byte past the declared size. Neither allocates more than the limit. */
    size_t bomb = 64u << 20;
    uint8_t *zeros = calloc(1, bomb);
    memcpy(zeros, w, 30);
    uint64_t s = bomb - 8;
    for (int i = 7; i >= 2; i--, s >>= 8)
        zeros[i] = (uint8_t)s;
    cn = compress_frame(zeros, bomb, &c);
    ev = NULL;
    ok(asw_frame_event(&P, c, cn, NOW_S, &ev, &err) == SPW_ERR_INVAL && err.inflated,
       "a %zu-byte bomb announcing 64 MiB is refused on its inner header (%s)", cn, err.reason);
    free(c);
    memcpy(zeros, w, wn);
    cn = compress_frame(zeros, bomb, &c);
    ok(asw_frame_event(&P, c, cn, NOW_S, &ev, &err) == SPW_ERR_INVAL && err.inflated,
       "a %zu-byte bomb announcing %zu bytes is refused past them (%s)", cn, wn, err.reason);
    free(c);
    free(zeros);
    /* zlib bytes that are not a stream at all. */
    size_t zn = wrap4((const uint8_t *)"\x78\x9c\xff\xff\xff\xff", 6, &z);
    refused(z, zn, "garbage after a zlib header");
    free(z);
    free(w);
    free(d);
}

/* ---------------------------------------------------------------------- */
/* INFO                                                                    */
/* ---------------------------------------------------------------------- */

static char *info_answer(const char *request) {
    static const asw_info_ids ids = {"pipe1", "0.1.0", "spillway 0.1.0"};
    size_t n = strlen(request);
    uint8_t *f = malloc(8 + n + 1);
    f[0] = 2;
    f[1] = 1;
    uint64_t s = n;
    for (int i = 7; i >= 2; i--, s >>= 8)
        f[i] = (uint8_t)s;
    memcpy(f + 8, request, n);
    spw_buf out = SPW_BUF_INIT;
    asw_info_answer(f, 8 + n, &ids, &out);
    free(f);
    char *text = calloc(1, out.len + 1);
    if (out.len >= 8 && out.data[0] == 2 && out.data[1] == 1 && asw_be48(out.data + 2) == out.len - 8)
        memcpy(text, out.data + 8, out.len - 8);
    else
        strcpy(text, "(bad header)");
    spw_buf_free(&out);
    return text;
}

static void test_info(void) {
    char *a = info_answer("node\nbuild\nversion\nstatus\n");
    is_str(a, "node\tpipe1\nbuild\t0.1.0\nversion\tspillway 0.1.0\nstatus\tok\n", "the four names");
    free(a);
    a = info_answer("status");
    is_str(a, "status\tok\n", "a name without a newline");
    free(a);
    a = info_answer("");
    is_str(a, "node\tpipe1\nbuild\t0.1.0\nversion\tspillway 0.1.0\nstatus\tok\n",
           "empty request: all four");
    free(a);
    a = info_answer("statistics\nstatus\tignored\r\nnamespaces\n");
    is_str(a, "status\tok\n", "unknown names left out; name\\tvalue and CRLF read as the name");
    free(a);
    a = info_answer("bogus\n");
    is_str(a, "", "only unknown names: an empty answer");
    free(a);
    uint8_t *info;
    size_t in = load_hex("info-request.hex", &info);
    spw_buf out = SPW_BUF_INIT;
    asw_info_ids ids = {"n", "b", "v"};
    ok(asw_info_answer(info, in, &ids, &out) == SPW_OK && out.len == 8 + 35,
       "the INFO request of tests/data");
    spw_buf_free(&out);
    free(info);
}

int main(void) {
    asw_parser_init(&P, MAX_FRAME, true);
    test_reference();
    test_fields();
    test_bins();
    test_collections();
    test_limits();
    test_scan();
    test_malformed();
    test_info();
    asw_parser_free(&P);
    return tap_done();
}

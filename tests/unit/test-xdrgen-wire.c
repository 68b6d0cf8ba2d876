/*
 * tests/unit/test-xdrgen-wire.c: spillway-xdrgen's frames, byte for byte.
 *
 * The reference (xdr-wire.md 7) prints two frames captured from a real
 * XDR; the encoder must reproduce both exactly from their contents, and
 * the replay reader must read them as the reference prints them. Also:
 * the digest test vector (and agreement with libspillway's digest), reply
 * parsing, type-4 compression (inflated back with zlib), the histogram's
 * quantiles, and generated records checked with a small parser of this
 * file's own (sizes add up, seq and key agree, digest right, bound kept).
 */
#include "xdrgen.h"

#include <math.h>
#include <string.h>
#include <zlib.h>
#include <spillway/event.h>

#include "../tap.h"

/* The reference's frames, as printed there (spaces, line breaks and all). */
static const char ref_write_hex[] =
    "0203 0000 0000 009a 1610 1100 0000 0000 0001 ffff ffff 0000 0000 0005 0003\n"
    "0000 0005 00 74657374\n"
    "0000 0015 04 78f26d30728c436ac5b7e2b79f7faa4b1c011576\n"
    "0000 0006 01 6d79736574\n"
    "0000 000a 02 01 0000000000000004\n"
    "0000 0009 0e 0000016dea5ec92d\n"
    "0000 000e 02 03 00 04 6e616d65 636f6c746f6e\n"
    "0000 000f 02 01 00 03 616765 000000000000001b\n"
    "0000 0014 02 13 00 07 6d617054657374 82a2036101a2036202\n";

static const char ref_delete_hex[] =
    "0203 0000 0000 005d 1610 0300 0000 0000 0002 0000 0000 0000 0000 0005 0000\n"
    "0000 0005 00 74657374\n"
    "0000 0015 04 f9bb902ddd1874858475b66c8f36b950badb44f7\n"
    "0000 0006 01 6d79736574\n"
    "0000 000a 02 01 000000000000000e\n"
    "0000 0009 0e 0000016dea751d58\n";

static size_t unhex(const char *s, uint8_t *out) {
    size_t n = 0;
    int hi = -1;
    for (; *s; s++) {
        int v = *s >= '0' && *s <= '9' ? *s - '0' : *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
        if (v < 0)
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            out[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    return n;
}

static void show_diff(const uint8_t *got, size_t gn, const uint8_t *want, size_t wn) {
    for (size_t i = 0; i < gn && i < wn; i++) {
        if (got[i] != want[i]) {
            diag("first difference at byte %zu: got %02x, want %02x", i, got[i], want[i]);
            return;
        }
    }
    diag("lengths: got %zu, want %zu", gn, wn);
}

static void test_reference_frames(struct xg_digest *dg) {
    uint8_t want[512], got[512], digest[20], key[8];
    size_t wn = unhex(ref_write_hex, want);

    /* the write: test/myset, key 4, name="colton", age=27, mapTest={"a":1,"b":2} */
    static const uint8_t map[] = {0x82, 0xa2, 0x03, 0x61, 0x01, 0xa2, 0x03, 0x62, 0x02};
    uint8_t age[8];
    xg_be64(age, 27);
    struct xg_bin bins[] = {
        {"name", 4, XG_PT_STRING, (const uint8_t *)"colton", 6, false, 0},
        {"age", 3, XG_PT_INTEGER, age, 8, false, 0},
        {"mapTest", 7, XG_PT_MAP, map, sizeof map, false, 0},
    };
    xg_be64(key, 4);
    xg_digest(dg, "myset", 5, XG_PT_INTEGER, key, 8, digest);
    struct xg_record w = {
        .lut_bit = true, .generation = 1, .ttl = 0xFFFFFFFFu, .ns = "test", .ns_len = 4,
        .set = "myset", .set_len = 5, .has_key = true, .key_type = XG_PT_INTEGER, .key = key,
        .key_len = 8, .digest = digest, .has_lut = true,
        .lut = xg_lut_field(INT64_C(1734387515693), 1), .n_bins = 3, .bins = bins,
    };
    ok(memcmp(digest, want + 8 + 22 + 9 + 5, 20) == 0, "digest of test/myset key 4 is the captured one");
    is_int(w.lut, UINT64_C(0x0000016dea5ec92d), "LUT field of src-id 1 at Unix ms 1734387515693");
    is_int(xg_record_size(&w), wn, "write: size as captured");
    size_t gn = xg_record_encode(&w, got);
    if (!ok(gn == wn && memcmp(got, want, wn) == 0, "write: every byte as captured"))
        show_diff(got, gn, want, wn);

    /* modulo LUT: another time gives the same frame but for the LUT field's 8 bytes */
    w.lut = xg_lut_field(INT64_C(1800000000000), 1);
    gn = xg_record_encode(&w, got);
    size_t lut_at = 8 + 22 + 9 + 25 + 10 + 14 + 5;
    bool same_but_lut = gn == wn && memcmp(got, want, lut_at) == 0 &&
                        memcmp(got + lut_at + 8, want + lut_at + 8, wn - lut_at - 8) == 0 &&
                        memcmp(got + lut_at, want + lut_at, 8) != 0;
    ok(same_but_lut, "write at another time: only the LUT differs");

    /* the delete: test/myset, key 14, generation 2, not durable */
    wn = unhex(ref_delete_hex, want);
    xg_be64(key, 14);
    xg_digest(dg, "myset", 5, XG_PT_INTEGER, key, 8, digest);
    struct xg_record d = {
        .del = true, .generation = 2, .ttl = 12345 /* ignored: a delete has none */, .ns = "test",
        .ns_len = 4, .set = "myset", .set_len = 5, .has_key = true, .key_type = XG_PT_INTEGER,
        .key = key, .key_len = 8, .digest = digest, .has_lut = true,
        .lut = UINT64_C(0x0000016dea751d58), .n_bins = 3, .bins = bins /* ignored */,
    };
    gn = xg_record_encode(&d, got);
    if (!ok(gn == wn && memcmp(got, want, wn) == 0, "delete: every byte as captured"))
        show_diff(got, gn, want, wn);
    d.durable = true;
    xg_record_encode(&d, got);
    is_int(got[10], 0x13, "durable delete: info2 WRITE|DELETE|DURABLE");
    d.durable = false;
    d.lut_bit = true;
    xg_record_encode(&d, got);
    is_int(got[10], 0x03, "a delete never carries the bin-LUT bit");

    /* a bin with its own LUT: flag 0x01, 8 bytes between name and value */
    struct xg_bin lb = {"x", 1, XG_PT_INTEGER, age, 8, true, UINT64_C(0x0102030405)};
    struct xg_record l = w;
    l.bins = &lb;
    l.n_bins = 1;
    gn = xg_record_encode(&l, got);
    const uint8_t *op = got + gn - (4 + 4 + 1 + 8 + 8);
    ok(xg_get_be(op, 4) == 4 + 1 + 8 + 8 && op[4] == XG_OP_WRITE && op[6] == XG_OPFLAG_LUT &&
           xg_get_be(op + 9, 8) == UINT64_C(0x0102030405) && xg_get_be(op + 17, 8) == 27,
       "bin LUT: op size counts it, flag set, LUT before the value");

    /* no set, no key */
    struct xg_record bare = w;
    bare.set = NULL;
    bare.has_key = false;
    gn = xg_record_encode(&bare, got);
    is_int(got[8 + 18 + 1], 3, "no set, no key: three fields");
    is_int(gn, xg_record_size(&bare), "no set, no key: size as computed");
}

static void test_digest(struct xg_digest *dg) {
    uint8_t key[8], got[20], lib[20];
    static const uint8_t want[20] = {0x59, 0x5a, 0x7b, 0x63, 0xeb, 0x18, 0x5d, 0xbe, 0xbd, 0x84,
                                     0x25, 0x53, 0xa4, 0x48, 0x02, 0xb1, 0xa3, 0x0e, 0xc1, 0x59};
    xg_be64(key, 123);
    xg_digest(dg, "demo", 4, XG_PT_INTEGER, key, 8, got);
    ok(memcmp(got, want, 20) == 0, "digest of demo/123 is WVp7Y+sYXb69hCVTpEgCsaMOwVk=");

    bool same = true;
    for (int i = 0; i < 50; i++) {
        char s[32];
        int n = snprintf(s, sizeof s, "key-%d", i * 7919);
        const char *set = i % 3 == 0 ? "" : "some-set";
        xg_digest(dg, set, strlen(set), XG_PT_STRING, s, (size_t)n, got);
        spw_digest_compute(set, strlen(set), XG_PT_STRING, s, (size_t)n, lib);
        same = same && memcmp(got, lib, 20) == 0;
        xg_be64(key, (uint64_t)i * 1000003);
        xg_digest(dg, set, strlen(set), XG_PT_BLOB, key, 8, got);
        spw_digest_compute(set, strlen(set), XG_PT_BLOB, key, 8, lib);
        same = same && memcmp(got, lib, 20) == 0;
    }
    ok(same, "digests agree with libspillway's for string and blob keys, with and without a set");
}

static void test_replay(void) {
    char err[256];
    struct xg_replay rp;
    uint8_t w[512], d[512];
    size_t wn = unhex(ref_write_hex, w), dn = unhex(ref_delete_hex, d);

    /* the reference's layout, with a comment */
    char text[2048];
    snprintf(text, sizeof text, "# the reference's frames\n%s\n%s", ref_write_hex, ref_delete_hex);
    bool okay = xg_replay_parse(&rp, (const uint8_t *)text, strlen(text), XG_REPLAY_AUTO, err,
                                sizeof err);
    if (!ok(okay && rp.n == 2, "hex: two frames spread over lines"))
        diag("%s", okay ? "wrong count" : err);
    if (okay) {
        ok(rp.off[1] == wn && memcmp(rp.data, w, wn) == 0 && rp.off[2] - rp.off[1] == dn &&
               memcmp(rp.data + rp.off[1], d, dn) == 0,
           "hex: the frames' bytes");
        is_int(rp.max_frame, wn, "hex: largest frame");
        xg_replay_free(&rp);
    }

    /* one frame per line, uppercase */
    char lines[2048], *p = lines;
    for (size_t i = 0; i < wn; i++)
        p += sprintf(p, "%02X", w[i]);
    *p++ = '\n';
    for (size_t i = 0; i < dn; i++)
        p += sprintf(p, "%02X", d[i]);
    *p++ = '\n';
    okay = xg_replay_parse(&rp, (const uint8_t *)lines, (size_t)(p - lines), XG_REPLAY_HEX, err,
                           sizeof err);
    ok(okay && rp.n == 2, "hex: one frame per line");
    if (okay)
        xg_replay_free(&rp);

    /* binary, back to back: auto-detected by the leading 0x02 */
    uint8_t bin[1024];
    memcpy(bin, d, dn);
    memcpy(bin + dn, w, wn);
    okay = xg_replay_parse(&rp, bin, dn + wn, XG_REPLAY_AUTO, err, sizeof err);
    ok(okay && rp.n == 2 && rp.off[1] == dn && memcmp(rp.data + dn, w, wn) == 0,
       "binary: frames back to back, auto-detected");
    if (okay)
        xg_replay_free(&rp);

    /* errors */
    ok(!xg_replay_parse(&rp, bin, dn + wn - 1, XG_REPLAY_BINARY, err, sizeof err) &&
           strstr(err, "frame 2"),
       "binary: a truncated last frame is refused, naming it (%s)", err);
    ok(!xg_replay_parse(&rp, (const uint8_t *)"0203 00", 7, XG_REPLAY_HEX, err, sizeof err),
       "hex: an odd digit count is refused (%s)", err);
    ok(!xg_replay_parse(&rp, (const uint8_t *)"02 03 zz", 8, XG_REPLAY_HEX, err, sizeof err) &&
           strstr(err, "line 1"),
       "hex: a stray character is refused with its line (%s)", err);
    static const uint8_t v3[] = {3, 3, 0, 0, 0, 0, 0, 0};
    ok(!xg_replay_parse(&rp, v3, sizeof v3, XG_REPLAY_BINARY, err, sizeof err),
       "binary: a version other than 2 is refused (%s)", err);
    ok(!xg_replay_parse(&rp, (const uint8_t *)"  \n# nothing\n", 13, XG_REPLAY_HEX, err,
                        sizeof err),
       "an empty file is refused (%s)", err);
}

static void test_replies(void) {
    uint8_t r[XG_REPLY_LEN] = {2, 3, 0, 0, 0, 0, 0, 22, 22};
    is_int(xg_reply_parse(r), 0, "reply: result 0");
    r[8 + 5] = 14;
    is_int(xg_reply_parse(r), 14, "reply: result 14");
    r[8 + 1] = 0x10; /* info bits are not XDR's business: tolerated */
    is_int(xg_reply_parse(r), 14, "reply: info bits are tolerated");
    uint8_t bad[XG_REPLY_LEN];
    memcpy(bad, r, sizeof bad);
    bad[1] = 1;
    is_int(xg_reply_parse(bad), -1, "reply: type 1 is malformed");
    memcpy(bad, r, sizeof bad);
    bad[7] = 23;
    is_int(xg_reply_parse(bad), -1, "reply: size 23 is malformed");
    memcpy(bad, r, sizeof bad);
    bad[8] = 20;
    is_int(xg_reply_parse(bad), -1, "reply: header_sz 20 is malformed");
    memcpy(bad, r, sizeof bad);
    bad[8 + 19] = 1;
    is_int(xg_reply_parse(bad), -1, "reply: fields announced in a 22-byte body are malformed");
}

static void test_zip(void) {
    uint8_t w[512], out[1024], back[1024];
    size_t wn = unhex(ref_write_hex, w);
    for (int le = 0; le <= 1; le++) {
        struct xg_zip *z = xg_zip_new(6, le);
        size_t n = xg_zip_frame(z, w, wn, out, sizeof out);
        ok(n > 16 && out[0] == 2 && out[1] == 4 && xg_get_be(out + 2, 6) == n - 8,
           "type 4 (%s size): header", le ? "little-endian" : "big-endian");
        uint64_t orig = le ? 0 : xg_get_be(out + 8, 8);
        if (le)
            for (int i = 7; i >= 0; i--)
                orig = orig << 8 | out[8 + i];
        is_int(orig, wn, "type 4 (%s size): original size", le ? "little-endian" : "big-endian");
        uLongf bn = sizeof back;
        int zr = uncompress(back, &bn, out + 16, (uLong)(n - 16));
        ok(zr == Z_OK && bn == wn && memcmp(back, w, wn) == 0,
           "type 4: the zlib stream inflates to the whole type-3 frame");
        /* the stream is reused: a second frame is as good as the first */
        size_t n2 = xg_zip_frame(z, w, wn, out, sizeof out);
        ok(n2 == n, "type 4: a reused stream gives the same frame");
        xg_zip_free(z);
    }
}

static void test_hist(void) {
    struct xg_hist h;
    memset(&h, 0, sizeof h);
    is_int(xg_hist_quantile(&h, 0.5), 0, "histogram: empty");
    for (uint64_t v = 1; v <= 100000; v++)
        xg_hist_add(&h, v * 1000);
    bool close = true;
    const double qs[] = {0.5, 0.9, 0.99, 0.999};
    for (int i = 0; i < 4; i++) {
        double want = qs[i] * 1e8, got = (double)xg_hist_quantile(&h, qs[i]);
        if (fabs(got - want) / want > 0.02) {
            diag("q%.3f: got %.0f want %.0f", qs[i], got, want);
            close = false;
        }
    }
    ok(close, "histogram: quantiles of a uniform 1..100000 ms within 2 %%");
    is_int(xg_hist_quantile(&h, 1.0), 100000000, "histogram: max exact");
    is_int(h.count, 100000, "histogram: count");
    memset(&h, 0, sizeof h);
    for (int i = 0; i < 99; i++)
        xg_hist_add(&h, 50);
    xg_hist_add(&h, UINT64_C(1) << 62);
    is_int(xg_hist_quantile(&h, 0.5), 50, "histogram: small values are exact");
    is_int(xg_hist_quantile(&h, 0.999), UINT64_C(1) << 62, "histogram: huge values fit");
}

/* ---------------------------------------------------------------------- */
/* Generated records                                                       */
/* ---------------------------------------------------------------------- */

struct parsed {
    uint8_t info2;
    uint32_t ttl;
    int n_fields, n_ops;
    const uint8_t *ns, *set, *key, *digest;
    size_t ns_len, set_len, key_len;
    bool has_seq;
    uint64_t seq;
    bool sizes_ok;
    int lut_ops;
};

static bool parse(const uint8_t *p, size_t n, struct parsed *o) {
    memset(o, 0, sizeof *o);
    if (n < 30 || p[0] != 2 || p[1] != 3 || xg_get_be(p + 2, 6) != n - 8 || p[8] != 22 ||
        p[9] != 0x10)
        return false;
    o->info2 = p[10];
    o->ttl = (uint32_t)xg_get_be(p + 8 + 10, 4);
    o->n_fields = (int)xg_get_be(p + 8 + 18, 2);
    o->n_ops = (int)xg_get_be(p + 8 + 20, 2);
    size_t pos = 30;
    for (int i = 0; i < o->n_fields; i++) {
        if (pos + 5 > n)
            return false;
        size_t sz = xg_get_be(p + pos, 4);
        if (sz < 1 || pos + 4 + sz > n)
            return false;
        const uint8_t *d = p + pos + 5;
        size_t dl = sz - 1;
        switch (p[pos + 4]) {
        case 0:
            o->ns = d, o->ns_len = dl;
            break;
        case 1:
            o->set = d, o->set_len = dl;
            break;
        case 2:
            o->key = d, o->key_len = dl;
            break;
        case 4:
            o->digest = d;
            break;
        }
        pos += 4 + sz;
    }
    for (int i = 0; i < o->n_ops; i++) {
        if (pos + 8 > n)
            return false;
        size_t sz = xg_get_be(p + pos, 4);
        uint8_t type = p[pos + 5], flags = p[pos + 6], nl = p[pos + 7];
        if (pos + 4 + sz > n || sz < 4u + nl + (flags & 1 ? 8 : 0))
            return false;
        const uint8_t *v = p + pos + 8 + nl + (flags & 1 ? 8 : 0);
        o->lut_ops += flags & 1;
        if (nl == 3 && memcmp(p + pos + 8, "seq", 3) == 0 && type == 1) {
            o->has_seq = true;
            o->seq = xg_get_be(v, 8);
        }
        pos += 4 + sz;
    }
    o->sizes_ok = pos == n;
    return true;
}

static void test_generator(void) {
    char err[256];
    char *nss[] = {"test", "other"};
    char *sets[] = {"demo", ""};
    struct xg_shape sh = {
        .namespaces = nss, .n_namespaces = 2, .sets = sets, .n_sets = 2,
        .key_type = XG_KEY_INTEGER, .bins = 12,
        .types = {XG_PT_INTEGER, XG_PT_DOUBLE, XG_PT_STRING, XG_PT_BLOB, XG_PT_BOOL, XG_PT_HLL,
                  XG_PT_LIST, XG_PT_MAP, XG_PT_GEOJSON},
        .n_types = 9, .value_min = 0, .value_max = 300, .delete_ratio = 0.25, .durable_ratio = 0.5,
        .bin_luts = true, .ttl = 3600, .seed = 7, .compress_level = 6,
    };
    static const char *const kt[] = {"integer", "string", "blob", "none"};
    for (int k = 0; k < 4; k++) {
        sh.key_type = k;
        struct xg_gen *g = xg_gen_new(&sh, err, sizeof err);
        if (!ok(g != NULL, "generator (%s keys): created", kt[k])) {
            diag("%s", err);
            continue;
        }
        size_t bound = xg_gen_bound(g);
        uint8_t *buf = malloc(bound), *again = malloc(bound);
        int bad = 0, dels = 0, durables = 0;
        for (uint64_t s = 1000; s < 3000 && bad < 5; s++) {
            struct parsed pr;
            size_t n = xg_gen_frame(g, s, INT64_C(1764000000000), buf);
            uint8_t want_digest[20], kb[32];
            size_t kl = 8;
            uint8_t ktype = XG_PT_INTEGER;
            xg_be64(kb, s);
            if (k == XG_KEY_STRING) {
                kl = (size_t)snprintf((char *)kb, sizeof kb, "key-%llu", (unsigned long long)s);
                ktype = XG_PT_STRING;
            } else if (k == XG_KEY_BLOB) {
                ktype = XG_PT_BLOB;
            }
            const char *set = sets[s % 2];
            spw_digest_compute(set, strlen(set), ktype, kb, kl, want_digest);
            const char *why = NULL;
            bool del = false;
            if (n > bound)
                why = "over the bound";
            else if (!parse(buf, n, &pr))
                why = "does not parse";
            else if (!pr.sizes_ok)
                why = "sizes do not add up";
            else if (!pr.digest || memcmp(pr.digest, want_digest, 20) != 0)
                why = "wrong digest";
            else if (pr.ns_len != strlen(nss[s % 2]) || memcmp(pr.ns, nss[s % 2], pr.ns_len) != 0)
                why = "wrong namespace";
            else if ((s % 2 == 0) != (pr.set != NULL))
                why = "set field present or absent wrongly";
            else if ((k == XG_KEY_NONE) != (pr.key == NULL))
                why = "key field present or absent wrongly";
            else if (pr.key && (pr.key[0] != ktype || pr.key_len != kl + 1 ||
                                memcmp(pr.key + 1, kb, kl) != 0))
                why = "wrong key";
            else if ((del = (pr.info2 & 2) != 0) && (pr.n_ops != 0 || pr.ttl != 0))
                why = "a delete with ops or a ttl";
            else if (!del && (pr.info2 != 0x11 || pr.n_ops != 12 || !pr.has_seq || pr.seq != s ||
                              pr.lut_ops != 12 || pr.ttl != 3600))
                why = "a write without its seq bin, LUTs or ttl";
            dels += del;
            durables += del && (pr.info2 & 0x10);
            size_t n2 = xg_gen_frame(g, s, INT64_C(1764000000000), again);
            if (!why && (n2 != n || memcmp(buf, again, n) != 0))
                why = "not deterministic";
            if (why) {
                diag("seq %llu: %s", (unsigned long long)s, why);
                bad++;
            }
        }
        ok(bad == 0, "generator (%s keys): 2000 records parse, sizes add up, seq/key/digest agree",
           kt[k]);
        ok(dels > 400 && dels < 600 && durables > dels / 4 && durables < dels * 3 / 4,
           "generator (%s keys): about 25 %% deletes (%d), half of them durable (%d)", kt[k], dels,
           durables);
        free(buf);
        free(again);
        xg_gen_free(g);
    }

    /* compression: some frames type 4, each inflating to a frame that parses */
    sh.key_type = XG_KEY_INTEGER;
    sh.compress_ratio = 0.5;
    sh.delete_ratio = 0;
    struct xg_gen *g = xg_gen_new(&sh, err, sizeof err);
    size_t bound = g ? xg_gen_bound(g) : 0;
    uint8_t *buf = malloc(bound + 1), *plain = malloc(1 << 20);
    int zipped = 0, bad = 0;
    for (uint64_t s = 0; g && s < 400; s++) {
        size_t n = xg_gen_frame(g, s, INT64_C(1764000000000), buf);
        struct parsed pr;
        if (buf[1] == 4) {
            zipped++;
            uLongf pn = 1 << 20;
            if (uncompress(plain, &pn, buf + 16, (uLong)(n - 16)) != Z_OK ||
                pn != xg_get_be(buf + 8, 8) || !parse(plain, pn, &pr) || pr.seq != s)
                bad++;
        } else if (!parse(buf, n, &pr) || pr.seq != s) {
            bad++;
        }
    }
    ok(g && bad == 0 && zipped > 150 && zipped < 250,
       "generator: about half the frames compressed (%d), all inflating to the right record", zipped);
    free(buf);
    free(plain);
    xg_gen_free(g);

    ok(xg_type_from_name("geojson") == XG_PT_GEOJSON && xg_type_from_name("int") == -1,
       "particle type names");
}

int main(void) {
    char err[256];
    struct xg_digest *dg = xg_digest_new(err, sizeof err);
    if (!dg) {
        printf("1..0 # SKIP %s\n", err);
        return 0;
    }
    test_reference_frames(dg);
    test_digest(dg);
    test_replay();
    test_replies();
    test_zip();
    test_hist();
    test_generator();
    xg_digest_free(dg);
    return tap_done();
}

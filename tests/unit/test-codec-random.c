/*
 * tests/unit/test-codec-random.c: seeded random events through the four
 * codecs of this directory (json, flat-json, msgpack, xdr) under every
 * combination of their options, seen through random route transforms
 * (metadata excluded, bins renamed or dropped) and, for xdr, with and
 * without a raw frame (the event's own, a foreign one, a damaged one).
 *
 * The claim under test: every output decodes, or the record is rejected
 * with a reason and the buffer is left as it was. Checked three ways:
 * the C decoders jansson and msgpack-c read every JSON and MessagePack
 * output here; then tests/codec-oracle.py re-derives, independently and
 * from the event alone, what each output must decode to (or that it must
 * be rejected) and compares, types and bytes exact.
 *
 * SPW_RANDOM_SEED and SPW_RANDOM_EVENTS change the run (defaults: a fixed
 * seed, 6000 events; the seed is printed so a failure can be replayed).
 */
#include <jansson.h>
#include <msgpack.h>
#include <spillway/spillway.h>

#include "../../plugins/codec-json/encode.h"
#include "../../plugins/codec-flat-json/flat.h"
#include "../../plugins/codec-msgpack/pack.h"
#include "../../plugins/codec-xdr/frame.h"
#include "../tap.h"
#include "test-codec-common.h"

#ifndef CODEC_ORACLE_PY
#define CODEC_ORACLE_PY "tests/codec-oracle.py"
#endif

#define NOW_S 1750000000 /* the xdr codec's clock: TTLs are computed from it */

static const char *utf8_json[] = {"replace", "base64", "reject"};
static const char *nonfin[] = {"string", "null", "reject"};
static const char *utf8_mp[] = {"replace", "bin", "reject"};
static const char *passes[] = {"auto", "always", "never"};

#define NJ 72
#define NF 144
#define NM 12
#define NX 6
static jcodec jc[NJ];
static fcodec fc[NF];
static fcodec_config fcfg[NF];
static mcodec mc[NM];
static xcodec xc[NX];
static char jcfg_s[NJ][200], fcfg_s[NF][260], mcfg_s[NM][120], xcfg_s[NX][80];

static void make_codecs(void) {
    for (unsigned i = 0; i < NJ; i++) {
        jcodec_config c; /* every combination of the options that change a record */
        c.non_finite = (int)((i / 24) % 3);
        c.invalid_utf8 = (int)((i / 8) % 3);
        c.stringify_map_keys = (i >> 2) & 1;
        c.bin_luts = (i >> 1) & 1;
        c.delete_metadata = i & 1;
        c.batch_format = 0;
        if (jcodec_init(&jc[i], &c) != SPW_OK)
            abort();
        snprintf(jcfg_s[i], sizeof jcfg_s[i],
                 "{\"delete_metadata\":%s,\"bin_luts\":%s,\"stringify_map_keys\":%s,"
                 "\"invalid_utf8\":\"%s\",\"non_finite\":\"%s\"}",
                 c.delete_metadata ? "true" : "false", c.bin_luts ? "true" : "false",
                 c.stringify_map_keys ? "true" : "false", utf8_json[c.invalid_utf8],
                 nonfin[c.non_finite]);
    }
    for (unsigned i = 0; i < NF; i++) {
        fcfg[i].j = jc[i % NJ].cfg;
        fcfg[i].metadata_key = (i / NJ) ? "meta" : "metadata";
        fcfg[i].name_collision = (int)((i / 3) & 1);
        if (fcodec_init(&fc[i], &fcfg[i]) != SPW_OK)
            abort();
        const jcodec_config *c = &fcfg[i].j;
        snprintf(fcfg_s[i], sizeof fcfg_s[i],
                 "{\"metadata_key\":\"%s\",\"name_collision\":\"%s\",\"delete_metadata\":%s,"
                 "\"bin_luts\":%s,\"stringify_map_keys\":%s,\"invalid_utf8\":\"%s\","
                 "\"non_finite\":\"%s\"}",
                 fcfg[i].metadata_key, fcfg[i].name_collision ? "reject" : "rename",
                 c->delete_metadata ? "true" : "false", c->bin_luts ? "true" : "false",
                 c->stringify_map_keys ? "true" : "false", utf8_json[c->invalid_utf8],
                 nonfin[c->non_finite]);
    }
    for (unsigned i = 0; i < NM; i++) {
        mc[i].cfg = (mcodec_config){i & 1, (i >> 1) & 1, (int)(i / 4), false};
        snprintf(mcfg_s[i], sizeof mcfg_s[i],
                 "{\"bin_luts\":%s,\"delete_metadata\":%s,\"invalid_utf8\":\"%s\"}",
                 mc[i].cfg.bin_luts ? "true" : "false", mc[i].cfg.delete_metadata ? "true" : "false",
                 utf8_mp[mc[i].cfg.invalid_utf8]);
    }
    for (unsigned i = 0; i < NX; i++) {
        xc[i].cfg = (xcodec_config){(int)(i % 3), i < 3};
        xc[i].fixed_now_s = NOW_S;
        snprintf(xcfg_s[i], sizeof xcfg_s[i], "{\"passthrough\":\"%s\",\"bin_luts\":%s}",
                 passes[xc[i].cfg.passthrough], xc[i].cfg.bin_luts ? "true" : "false");
    }
}

/* jansson reads it (NUL escapes and integers beyond int64 are valid JSON
 * jansson needs flags for; it cannot hold NUL in keys, so those get a
 * stand-in with the same syntax). */
static bool jansson_reads(const uint8_t *s, size_t n, char *why, size_t wlen) {
    json_error_t je;
    json_t *j = json_loadb((const char *)s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!j && strstr(je.text, "too big"))
        j = json_loadb((const char *)s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
    if (!j && strstr(je.text, "NUL byte in object key")) {
        char *t = malloc(n ? n : 1);
        memcpy(t, s, n);
        for (char *q = t; (q = memmem(q, n - (size_t)(q - t), "\\u0000", 6)); q += 6)
            q[5] = '1';
        bool ok = jansson_reads((const uint8_t *)t, n, why, wlen);
        free(t);
        return ok;
    }
    if (!j) {
        snprintf(why, wlen, "jansson: %s at %d", je.text, je.position);
        return false;
    }
    json_decref(j);
    return true;
}

/* msgpack-c reads exactly one object spanning the whole output. */
static bool msgpackc_reads(const uint8_t *s, size_t n, char *why, size_t wlen) {
    msgpack_unpacked u;
    size_t off = 0;
    msgpack_unpacked_init(&u);
    msgpack_unpack_return r = msgpack_unpack_next(&u, (const char *)s, n, &off);
    msgpack_unpacked_destroy(&u);
    if (r != MSGPACK_UNPACK_SUCCESS || off != n) {
        snprintf(why, wlen, "msgpack-c: result %d, %zu of %zu bytes", (int)r, off, n);
        return false;
    }
    return true;
}

enum { C_JSON, C_FLAT, C_MSGPACK, C_XDR, N_CODECS };
static const char *codec_names[] = {"json", "flat-json", "msgpack", "xdr"};
static unsigned written[N_CODECS], rejected[N_CODECS], bad;

static void one(int codec, const spw_event *ev, spw_buf *out) {
    static const char prefix[] = "PRE";
    spw_err err = {{0}};
    spw_result r;
    const char *cfg;
    spw_buf_reset(out);
    spw_buf_append(out, prefix, 3);
    switch (codec) {
    case C_JSON: {
        unsigned i = rn(NJ);
        cfg = jcfg_s[i];
        r = jcodec_encode(&jc[i], ev, out, &err);
        break;
    }
    case C_FLAT: {
        unsigned i = rn(NF);
        cfg = fcfg_s[i];
        r = fcodec_encode(&fc[i], ev, out, &err);
        break;
    }
    case C_MSGPACK: {
        unsigned i = rn(NM);
        cfg = mcfg_s[i];
        r = mcodec_encode(&mc[i], ev, out, &err);
        break;
    }
    default: {
        unsigned i = rn(NX);
        cfg = xcfg_s[i];
        r = xcodec_encode(&xc[i], ev, out, &err);
        break;
    }
    }
    char why[SPW_ERR_MSG_MAX + 100] = "";
    const uint8_t *rec = out->data + 3;
    size_t n = out->len - 3;
    if (out->len < 3 || memcmp(out->data, prefix, 3) != 0)
        snprintf(why, sizeof why, "what was in the buffer was overwritten");
    else if (r == SPW_OK) {
        written[codec]++;
        if (codec == C_JSON || codec == C_FLAT)
            jansson_reads(rec, n, why, sizeof why);
        else if (codec == C_MSGPACK)
            msgpackc_reads(rec, n, why, sizeof why);
    } else if (r == SPW_REJECT) {
        rejected[codec]++;
        char want[32];
        snprintf(want, sizeof want, "%s codec: ", codec_names[codec]);
        if (out->len != 3)
            snprintf(why, sizeof why, "a rejected record left %zu bytes behind", n);
        else if (strncmp(err.msg, want, strlen(want)) != 0)
            snprintf(why, sizeof why, "a rejection without a reason: \"%s\"", err.msg);
    } else
        snprintf(why, sizeof why, "result %d (%s)", (int)r, err.msg);
    if (why[0] && ++bad <= 10)
        diag("%s: %s", codec_names[codec], why);
    oracle_case(codec_names[codec], cfg, ev, false, NOW_S, r, rec, r == SPW_OK ? n : 0, err.msg);
}

/* Random metadata exclusions and bin renames/exclusions, as routes have them. */
static const spw_event *random_view(xform_view *xv, const spw_event *ev, bool *active) {
    static const char *meta[] = {"namespace", "set", "userKey", "digest", "msg",
                                 "gen",       "lut", "exp",     "durable"};
    static const char *renames[] = {"a:b", "b:meta", "x:x_", "seq:name", "meta_:meta", "name:a"};
    char m[200] = "", ren[200] = "";
    *active = rn(3) == 0;
    if (!*active)
        return ev;
    for (unsigned i = 0; i < 9; i++)
        if (rn(5) == 0) {
            strcat(m, m[0] ? "," : "");
            strcat(m, meta[i]);
        }
    for (unsigned i = 0; i < 6; i++)
        if (rn(4) == 0) {
            strcat(ren, ren[0] ? "," : "");
            strcat(ren, renames[i]);
        }
    return xform(xv, ev, m, ren, rn(4) == 0 ? "a" : NULL);
}

int main(void) {
    const char *s = getenv("SPW_RANDOM_SEED");
    uint64_t seed = s ? strtoull(s, NULL, 0) : 0x5EED5EED5EEDull;
    const char *ne = getenv("SPW_RANDOM_EVENTS");
    unsigned events = ne ? (unsigned)atoi(ne) : 6000;
    rng = seed ? seed : 1;
    diag("seed 0x%" PRIx64 ", %u events (SPW_RANDOM_SEED, SPW_RANDOM_EVENTS)", seed, events);
    oracle_open("codec-random");
    make_codecs();

    xcodec never = {{XCODEC_PASS_NEVER, true}, NOW_S};
    spw_buf m = SPW_BUF_INIT, out = SPW_BUF_INIT, frame = SPW_BUF_INIT;
    uint8_t refw[256];
    size_t refw_n = unhex(REF_WRITE_HEX, refw);
    unsigned with_raw = 0, views = 0;
    for (unsigned it = 0; it < events; it++) {
        bool clean = rn(2);
        spw_event *ev = rnd_event(&m, clean);
        /* Raw frames: the event's own (as the xdr source attaches it), a
         * foreign one, or a damaged copy. */
        unsigned raw = rn(4);
        if (raw == 1 || raw == 2) {
            spw_err err;
            spw_buf_reset(&frame);
            if (xcodec_encode(&never, ev, &frame, &err) == SPW_OK) {
                if (raw == 2) {
                    if (rn(2))
                        rnd_mutate(&frame);
                    else if (frame.len > 30)
                        memmove(frame.data, frame.data + 8, frame.len -= 8); /* bare as_msg */
                }
                spw_event_set_raw(ev, frame.data, frame.len);
                with_raw++;
            }
        } else if (raw == 3 && rn(3) == 0) {
            spw_event_set_raw(ev, refw, refw_n);
            with_raw++;
        }
        xform_view xv;
        bool active;
        const spw_event *view = random_view(&xv, ev, &active);
        views += active;
        for (int c = 0; c < N_CODECS; c++)
            one(c, view, &out);
        if (active)
            xform_done(&xv);
        spw_event_unref(ev);
    }
    for (int c = 0; c < N_CODECS; c++)
        diag("%s: %u written, %u rejected", codec_names[c], written[c], rejected[c]);
    diag("%u events with a raw frame, %u seen through a route transform", with_raw, views);
    is_int(bad, 0, "every output is read by jansson / msgpack-c, every rejection has a reason "
                   "and leaves the buffer as it was");
    for (int c = 0; c < N_CODECS; c++)
        ok(written[c] > events / 4 && rejected[c] > events / 50,
           "%s: the run exercised both outcomes", codec_names[c]);
    python_ok(oracle_run(env_or("CODEC_ORACLE", CODEC_ORACLE_PY)),
              "the Python oracle (json, msgpack-python, its own frame parser) agrees "
              "with every output and every rejection (%u cases)", oracle_cases);

    for (unsigned i = 0; i < NJ; i++)
        jcodec_fini(&jc[i]);
    for (unsigned i = 0; i < NF; i++)
        fcodec_fini(&fc[i]);
    spw_buf_free(&m);
    spw_buf_free(&out);
    spw_buf_free(&frame);
    return tap_done();
}

/*
 * tests/unit/test-codec-xdr.c: the xdr codec (plugins/codec-xdr), its
 * sources compiled in.
 *
 * The reference frames of xdr-wire.md both ways: passed through as they
 * arrived, and encoded again from events that hold no frame, compared
 * byte for byte. Then when pass-through must give way to encoding (route
 * transforms, damaged frames, bin_luts = false), TTLs, LUT fields, every
 * refusal, and the plugin's descriptor. Every output goes to the Python
 * oracle (tests/codec-oracle.py), which parses it with its own as_proto /
 * as_msg parser and encodes the expected frame independently.
 */
#include <spillway/spillway.h>

#define TC_COUNT_ALLOCATIONS
#include "../../plugins/codec-xdr/frame.h"
#include "../tap.h"
#include "test-codec-common.h"
#include "options.h" /* the core's option-table checks */

#ifndef CODEC_ORACLE_PY
#define CODEC_ORACLE_PY "tests/codec-oracle.py"
#endif

#define NOW_S 1750000000

static xcodec g_codec;
static spw_buf g_out = SPW_BUF_INIT;
static char g_hex[1 << 18];
static char g_cfg_json[100];

static void use(int pass, bool bin_luts) {
    static const char *names[] = {"auto", "always", "never"};
    g_codec.cfg = (xcodec_config){pass, bin_luts};
    g_codec.fixed_now_s = NOW_S;
    snprintf(g_cfg_json, sizeof g_cfg_json, "{\"passthrough\":\"%s\",\"bin_luts\":%s}", names[pass],
             bin_luts ? "true" : "false");
}

/* The codec's encode, as tc_steady_state calls it. */
static spw_result codec_encode(void *codec, const spw_event *ev, spw_buf *out, spw_err *err) {
    return xcodec_encode(codec, ev, out, err);
}

/* Encodes ev: the frame as hex, or "REJECT: why"; the case goes to the oracle. */
static const char *run_as(const spw_event *ev, bool clean) {
    spw_err err = {{0}};
    spw_buf_reset(&g_out);
    spw_result r = xcodec_encode(&g_codec, ev, &g_out, &err);
    if (r == SPW_OK) {
        for (size_t i = 0; i < g_out.len && 2 * i + 2 < sizeof g_hex; i++)
            sprintf(g_hex + 2 * i, "%02x", g_out.data[i]);
    } else {
        snprintf(g_hex, sizeof g_hex, "REJECT: %s", err.msg);
        if (g_out.len)
            ok(0, "a rejected record leaves the buffer as it was");
    }
    oracle_case("xdr", g_cfg_json, ev, clean, NOW_S, r, g_out.data, g_out.len, err.msg);
    return g_hex;
}
static const char *run(const spw_event *ev) { return run_as(ev, true); }

/* A reference frame as compact hex, with byte `at` replaced (at < 0: none). */
static const char *ref_hex(const char *spaced, int at, uint8_t byte) {
    static char out[1024];
    uint8_t b[512];
    size_t n = unhex(spaced, b);
    if (at >= 0)
        b[at] = byte;
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
    return out;
}

static void test_reference(void) {
    use(XCODEC_PASS_AUTO, true);
    spw_event *w = ref_write(true), *d = ref_delete(false, true);
    is_str(run(w), ref_hex(REF_WRITE_HEX, -1, 0), "reference write with its frame: passed through");
    ok(xcodec_passes_raw(&g_codec, w), "...and the codec says so");
    is_str(run(d), ref_hex(REF_DELETE_HEX, -1, 0), "reference delete with its frame: passed through");
    spw_event_unref(w);
    spw_event_unref(d);

    /* The same events without a frame (the generate source's case). */
    w = ref_write(false);
    d = ref_delete(false, false);
    is_str(run(w), ref_hex(REF_WRITE_HEX, 10, 0x01),
           "reference write encoded from the event: the same bytes, but info2 0x01 (the event "
           "does not keep the DC's ship-bin-luts bit when no bin carries a LUT)");
    is_str(run(d), ref_hex(REF_DELETE_HEX, -1, 0), "reference delete encoded from the event: byte for byte");
    spw_event_unref(d);
    d = ref_delete(true, false);
    is_str(run(d), ref_hex(REF_DELETE_HEX, 10, 0x13), "durable delete: info2 0x13");
    spw_event_unref(d);
    use(XCODEC_PASS_NEVER, true);
    d = ref_delete(true, true);
    is_str(run(d), ref_hex(REF_DELETE_HEX, 10, 0x13), "passthrough=never encodes even with a frame");
    spw_event_unref(d);
    spw_event_unref(w);
}

static void test_passthrough(void) {
    xform_view xv;
    use(XCODEC_PASS_AUTO, true);
    spw_event *w = ref_write(true);
    const char *got = run(xform(&xv, w, NULL, "age:years", NULL));
    has_str(got, "0000001102010005" "7965617273" "000000000000001b",
            "auto: a renamed bin is encoded under its new name");
    ok(strncmp(got, "02030000000000" "9c", 16) == 0, "...and the frame is re-sized (0x9c)");
    xform_done(&xv);
    got = run(xform(&xv, w, NULL, NULL, "mapTest"));
    ok(strstr(got, "6d617054657374") == NULL && strncmp(got + 56, "0002", 4) == 0,
       "auto: an excluded bin is not in the frame, n_ops 2");
    xform_done(&xv);
    got = run(xform(&xv, w, "set,userKey,lut,gen,exp", NULL, NULL));
    ok(strncmp(got + 16, "1610010000000000000000000000000000000002" "0003", 44) == 0 &&
           strstr(got, "6d79736574") == NULL,
       "auto: excluded metadata: gen 0, record_ttl 0, only namespace and digest fields");
    xform_done(&xv);
    has_str(run_as(xform(&xv, w, "digest", NULL, NULL), false),
            "REJECT: xdr codec: metadata_exclude names digest, without which a frame is no XDR record",
            "auto: excluding the digest rejects");
    xform_done(&xv);
    has_str(run_as(xform(&xv, w, "namespace", NULL, NULL), false), "names namespace", "...the namespace too");
    xform_done(&xv);
    has_str(run_as(xform(&xv, w, "msg", NULL, NULL), false), "names msg", "...and the operation");
    xform_done(&xv);

    use(XCODEC_PASS_ALWAYS, true);
    is_str(run(xform(&xv, w, "digest", "age:years", NULL)), ref_hex(REF_WRITE_HEX, -1, 0),
           "always: the frame as it arrived, transforms ignored");
    xform_done(&xv);
    spw_event_unref(w);

    /* Frames that cannot be passed on. */
    use(XCODEC_PASS_ALWAYS, true);
    uint8_t raw[256];
    size_t n = unhex(REF_WRITE_HEX, raw);
    w = ref_write(false);
    raw[n - 24] = 0x7F; /* the last op's size now overruns the frame */
    spw_event_set_raw(w, raw, n);
    is_str(run(w), ref_hex(REF_WRITE_HEX, 10, 0x01), "always: a damaged frame is encoded from the event");
    spw_event_unref(w);
    w = ref_write(false);
    n = unhex(REF_WRITE_HEX, raw);
    spw_event_set_raw(w, raw + 8, n - 8);
    use(XCODEC_PASS_AUTO, true);
    is_str(run(w), ref_hex(REF_WRITE_HEX, -1, 0), "a bare as_msg gets its as_proto header");
    spw_event_unref(w);
    w = ref_write(false);
    raw[1] = 4; /* compressed: not for a codec to inflate */
    spw_event_set_raw(w, raw, n);
    is_str(run(w), ref_hex(REF_WRITE_HEX, 10, 0x01), "a type-4 frame is not passed through");
    spw_event_unref(w);
    /* A frame of another record: the bins differ. */
    w = no_set_no_key_event();
    spw_event_set_raw(w, raw, unhex(REF_WRITE_HEX, raw));
    has_str(run(w), "0203000000000055161001", "auto: a foreign frame is not passed through");
    spw_event_unref(w);
}

static void test_fields_and_ttl(void) {
    use(XCODEC_PASS_AUTO, true);
    spw_event *ev = no_set_no_key_event();
    is_str(run(ev),
           "0203000000000055" "161001000000" "00000003" "088cf700" /* ttl 1893456000 - NOW_S */
           "00000000" "0003" "0001"
           "0000000400626172" "0000001504" "1111111111111111111111111111111111111111"
           "000000090e" "0000006dea5ec678" /* 1734387515000 - 1262304000000 */
           "0000000d02010001" "6e" "0000000000000001",
           "no set, no key: namespace, digest, LUT; ttl = expiry - now");
    spw_event_unref(ev);
    ev = empty_bins_event();
    has_str(run(ev), "16100100000000000009ffffffff000000000005" "0000",
            "no bins: n_ops 0; expiry 0: record_ttl 0xFFFFFFFF");
    has_str(g_hex, "000000040204" "0063", "a blob key: type 4 and its bytes");
    spw_event_unref(ev);

    struct {
        int64_t exp;
        const char *ttl;
    } ttls[] = {{NOW_S + 1, "00000001"}, {NOW_S, "00000001"}, {NOW_S - 500, "00000001"},
                {NOW_S + 86400, "00015180"}, {NOW_S + 5000000000ll, "fffffffe"}};
    for (size_t i = 0; i < sizeof ttls / sizeof ttls[0]; i++) {
        ev = empty_bins_event();
        spw_event_set_expiry(ev, ttls[i].exp);
        run(ev);
        ok(strncmp(g_hex + 16 + 20, ttls[i].ttl, 8) == 0, "expiry now%+lld: record_ttl %s",
           (long long)(ttls[i].exp - NOW_S), ttls[i].ttl);
        spw_event_unref(ev);
    }

    /* Set present but empty: Aerospike's "no set". LUT 0: no LUT field. */
    ev = empty_bins_event();
    spw_event_set_set(ev, "", 0);
    spw_event_set_lut(ev, 0, 0);
    spw_event_set_key(ev, SPW_PT_STRING, "k1", 2);
    is_str(run(ev),
           "0203000000000040" "161001000000" "00000009" "ffffffff" "00000000" "0003" "0000"
           "000000050074657374" "0000001504" "2222222222222222222222222222222222222222"
           "00000004" "02" "03" "6b31",
           "an empty set and an unknown LUT leave their fields out; a string key");
    spw_event_unref(ev);

    ev = empty_bins_event();
    spw_event_set_lut(ev, 1262304000000 - 1, 0);
    has_str(run_as(ev, false), "REJECT: xdr codec: record: LUT 1262303999999 ms is outside",
            "a LUT before 2010 rejects");
    spw_event_set_lut(ev, 1734387515693, 1u << 24);
    has_str(run_as(ev, false), "src-id 16777216 does not fit 24 bits", "a src-id past 24 bits rejects");
    spw_event_set_lut(ev, 1734387515693, (1u << 24) - 1);
    has_str(run(ev), "000000090effffff", "src-id 0xFFFFFF in the LUT field's top 24 bits");
    spw_event_unref(ev);
}

/* A write that has room for a few bins. */
static spw_event *small_write(void) {
    spw_event *ev = spw_event_new(4, 1024);
    uint8_t dg[20];
    memset(dg, 0x22, 20);
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_digest(ev, dg);
    spw_event_set_generation(ev, 9);
    spw_event_set_lut(ev, 1734387515000, 0);
    return ev;
}

static void test_bins(void) {
    use(XCODEC_PASS_AUTO, true);
    spw_event *ev = small_write();
    uint8_t v[8];
    be64(v, 7);
    spw_event_add_bin(ev, "a", 1, SPW_PT_INTEGER, v, 8, 1734387515693);
    spw_event_add_bin(ev, "b", 1, SPW_PT_NIL, NULL, 0, 0);
    const char *got = run(ev);
    ok(strncmp(got + 16, "161011", 6) == 0, "a bin LUT sets info2 0x10 on a write");
    has_str(got, "000000150201010161" "0000006dea5ec92d" "0000000000000007",
            "the bin LUT: flag 0x01 and 8 bytes of ms since 2010 after the name");
    has_str(got, "0000000502000001" "62", "a deleted bin: type 0, no value bytes");
    spw_event_set_raw(ev, g_out.data, g_out.len);
    use(XCODEC_PASS_AUTO, false);
    got = run(ev);
    ok(strncmp(got + 16, "161001", 6) == 0 && strstr(got, "0000000d0201000161") != NULL,
       "bin_luts=false: a frame carrying bin LUTs is re-encoded without them");
    spw_event_unref(ev);

    use(XCODEC_PASS_AUTO, true);
    ev = small_write();
    spw_event_add_bin(ev, "a", 1, SPW_PT_INTEGER, "\x01", 1, 0);
    has_str(run_as(ev, false), "REJECT: xdr codec: bin \"a\": an integer that is not 8 bytes", "a short integer rejects");
    spw_event_unref(ev);
    ev = small_write();
    spw_event_add_bin(ev, "g", 1, SPW_PT_GEOJSON, "\x00\x00\x05", 3, 0);
    has_str(run_as(ev, false), "a GeoJSON value with a bad header", "GeoJSON cells past the value reject");
    spw_event_unref(ev);
    ev = small_write();
    char name[300];
    memset(name, 'n', sizeof name);
    spw_event_add_bin(ev, name, 256, SPW_PT_NIL, NULL, 0, 0);
    has_str(run_as(ev, false), "a 256-byte name, longer than the 255 a frame holds", "a 256-byte name rejects");
    spw_event_unref(ev);
    ev = small_write();
    spw_event_add_bin(ev, "a", 1, SPW_PT_INTEGER, v, 8, 1000);
    has_str(run_as(ev, false), "bin \"a\": LUT 1000 ms is outside", "a bin LUT before 2010 rejects");
    use(XCODEC_PASS_AUTO, false);
    ok(strncmp(run(ev), "0203", 4) == 0, "...unless bin_luts = false leaves it out");
    spw_event_unref(ev);
    use(XCODEC_PASS_AUTO, true);

    ev = spw_event_new(65536, 1 << 20);
    uint8_t dg[20] = {0};
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "n", 1);
    spw_event_set_digest(ev, dg);
    /* The name sits at the front of the data area and is referenced in
     * place (as the xdr source does), which keeps building this event linear. */
    uint8_t *front = spw_event_data(ev);
    front[0] = 'x';
    for (int i = 0; i < 65535; i++)
        spw_event_add_bin(ev, front, 1, SPW_PT_NIL, NULL, 0, 0);
    spw_err err;
    spw_buf_reset(&g_out);
    ok(xcodec_encode(&g_codec, ev, &g_out, &err) == SPW_OK && g_out.data[28] == 0xff && g_out.data[29] == 0xff,
       "65535 bins: n_ops 0xFFFF");
    spw_event_add_bin(ev, front, 1, SPW_PT_NIL, NULL, 0, 0);
    spw_buf_reset(&g_out);
    ok(xcodec_encode(&g_codec, ev, &g_out, &err) == SPW_REJECT && strstr(err.msg, "65536 bins"),
       "65536 bins reject: %s", err.msg);
    spw_event_unref(ev);

    ev = spw_event_new(0, 64);
    spw_event_set_namespace(ev, "n", 1);
    has_str(run_as(ev, false), "REJECT: xdr codec: record: unknown operation", "an event without an op");
    spw_event_unref(ev);

    /* Every particle type is carried as its wire bytes. */
    ev = all_types_event();
    got = run(ev);
    ok(strncmp(got, "0203", 4) == 0, "a record with every particle type");
    spw_event_unref(ev);
}

static void test_plugin(void) {
    extern const spw_plugin spw_plugin_descriptor;
    const spw_plugin *p = &spw_plugin_descriptor;
    spw_err err = {{0}};
    ok(p->kind == SPW_KIND_CODEC && !strcmp(p->name, "xdr") && p->codec && !p->codec->frame,
       "descriptor: a codec named xdr; no frame callback (a batch is the frames back to back)");
    ok(spw__opts_check_table(p->options, p->config_size, &err) == SPW_OK, "the option table is valid: %s", err.msg);
    xcodec_config def;
    ok(spw__opts_defaults(p->options, &def, &err) == SPW_OK && def.passthrough == XCODEC_PASS_AUTO &&
           def.bin_luts,
       "defaults: passthrough auto, bin_luts on");
    void *inst = NULL;
    ok(p->create(NULL, &def, &inst, &err) == SPW_OK, "create");
    is_str(p->codec->content_type(inst, false), "application/octet-stream", "content type of a record");
    is_str(p->codec->content_type(inst, true), "application/octet-stream", "content type of a batch");
    spw_event *w = ref_write(true);
    spw_buf b = SPW_BUF_INIT;
    spw_buf_append(&b, "x", 1);
    ok(p->codec->encode(inst, w, &b, &err) == SPW_OK && b.len == 1 + 162 && b.data[0] == 'x',
       "encode through the ops appends");
    spw_buf_free(&b);
    spw_event_unref(w);
    p->destroy(inst);
}

static void test_steady_state(void) {
    use(XCODEC_PASS_AUTO, true);
    spw_event *evs[3] = {ref_write(true), all_types_event(), ref_delete(true, false)};
    spw_buf out = SPW_BUF_INIT;
    tc_steady_state(codec_encode, &g_codec, evs, 3, 3000, &out,
                    "no allocation per record in the steady state");
    for (int i = 0; i < 3; i++)
        spw_event_unref(evs[i]);
    spw_buf_free(&out);
}

int main(void) {
    oracle_open("codec-xdr");
    test_reference();
    test_passthrough();
    test_fields_and_ttl();
    test_bins();
    test_plugin();
    test_steady_state();
    python_ok(oracle_run(env_or("CODEC_ORACLE", CODEC_ORACLE_PY)),
              "the oracle parses every frame and encodes it again independently (%u cases)",
              oracle_cases);
    spw_buf_free(&g_out);
    return tap_done();
}

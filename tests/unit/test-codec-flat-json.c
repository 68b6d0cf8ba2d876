/*
 * tests/unit/test-codec-flat-json.c: the flat-json codec
 * (plugins/codec-flat-json), its sources compiled in.
 *
 * Exact strings for the reference frames of xdr-wire.md and for every
 * rendering rule that is flat-json's own (the metadata object, name
 * collisions, binLuts, metadata_exclude); the values inside are the json
 * codec's (tests/unit/test-codec-json.c covers them in depth). Every
 * output is read by jansson and handed to the Python oracle
 * (tests/codec-oracle.py), which derives it again from the event.
 */
#include <jansson.h>
#include <time.h>
#include <spillway/spillway.h>

#define TC_COUNT_ALLOCATIONS
#include "../../plugins/codec-flat-json/flat.h"
#include "../tap.h"
#include "test-codec-common.h"
#include "options.h" /* the core's option-table checks */

#ifndef CODEC_ORACLE_PY
#define CODEC_ORACLE_PY "tests/codec-oracle.py"
#endif

static fcodec g_codec;
static fcodec_config g_cfg;
static spw_buf g_out = SPW_BUF_INIT;
static char g_text[1 << 16];
static char g_cfg_json[400];

static fcodec_config default_cfg(void) {
    fcodec_config c;
    memset(&c, 0, sizeof c);
    c.j.stringify_map_keys = true;
    c.metadata_key = "metadata";
    return c;
}

static void use(fcodec_config cfg) {
    static const char *utf8[] = {"replace", "base64", "reject"};
    static const char *nf[] = {"string", "null", "reject"};
    fcodec_fini(&g_codec);
    g_cfg = cfg;
    if (fcodec_init(&g_codec, &g_cfg) != SPW_OK)
        abort();
    char key[200];
    FILE *kf = fmemopen(key, sizeof key, "w");
    json_str(kf, cfg.metadata_key);
    fclose(kf);
    snprintf(g_cfg_json, sizeof g_cfg_json,
             "{\"metadata_key\":%s,\"name_collision\":\"%s\",\"delete_metadata\":%s,"
             "\"bin_luts\":%s,\"stringify_map_keys\":%s,\"invalid_utf8\":\"%s\",\"non_finite\":\"%s\"}",
             key, cfg.name_collision ? "reject" : "rename",
             cfg.j.delete_metadata ? "true" : "false", cfg.j.bin_luts ? "true" : "false",
             cfg.j.stringify_map_keys ? "true" : "false", utf8[cfg.j.invalid_utf8],
             nf[cfg.j.non_finite]);
}

/* The codec's encode, as tc_steady_state calls it. */
static spw_result codec_encode(void *codec, const spw_event *ev, spw_buf *out, spw_err *err) {
    return fcodec_encode(codec, ev, out, err);
}

/* Encodes ev; g_text holds the JSON or "REJECT: why". Every output goes to
 * jansson and to the oracle (clean: it must not be rejected). */
static const char *run_as(const spw_event *ev, bool clean) {
    spw_err err = {{0}};
    spw_buf_reset(&g_out);
    spw_result r = fcodec_encode(&g_codec, ev, &g_out, &err);
    if (r == SPW_OK) {
        json_error_t je;
        snprintf(g_text, sizeof g_text, "%.*s", (int)g_out.len, (const char *)g_out.data);
        json_t *j = json_loadb((const char *)g_out.data, g_out.len, JSON_ALLOW_NUL, &je);
        if (!j && strstr(je.text, "too big")) /* integers past int64: valid JSON */
            j = json_loadb((const char *)g_out.data, g_out.len,
                           JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, &je);
        if (!j)
            ok(0, "jansson reads %s: %s", g_text, je.text);
        json_decref(j);
    } else {
        snprintf(g_text, sizeof g_text, "REJECT: %s", err.msg);
        if (g_out.len)
            ok(0, "a rejected record leaves the buffer as it was");
    }
    oracle_case("flat-json", g_cfg_json, ev, clean, 0, r, g_out.data, g_out.len, err.msg);
    return g_text;
}
static const char *run(const spw_event *ev) { return run_as(ev, true); }

#define META_W(ns, set, key, digest, gen, lut, exp)                                            \
    "{\"metadata\":{\"msg\":\"write\",\"namespace\":\"" ns "\",\"set\":" set ",\"userKey\":" key \
    ",\"digest\":\"" digest "\",\"gen\":" gen ",\"lut\":" lut ",\"exp\":" exp "}"

static void test_reference(void) {
    use(default_cfg());
    spw_event *w = ref_write(false);
    is_str(run(w),
           META_W("test", "\"myset\"", "4", "ePJtMHKMQ2rFt+K3n3+qSxwBFXY=", "1", "1734387515693", "0")
           ",\"name\":\"colton\",\"age\":27,\"mapTest\":{\"a\":1,\"b\":2}}",
           "reference write: metadata first, then the bins as members");
    spw_event *d = ref_delete(false, false);
    is_str(run(d),
           "{\"metadata\":{\"msg\":\"delete\",\"namespace\":\"test\",\"set\":\"myset\",\"userKey\":14,"
           "\"digest\":\"+buQLd0YdIWEdbZsjza5ULrbRPc=\",\"durable\":false}}",
           "reference delete: durable, no gen/lut/exp");
    spw_event_unref(d);
    d = ref_delete(true, false);
    has_str(run(d), "\"durable\":true}}", "durable delete");
    fcodec_config c = default_cfg();
    c.j.delete_metadata = true;
    use(c);
    has_str(run(d), "\"durable\":true,\"gen\":2,\"lut\":1734388979032}}",
            "delete_metadata adds gen and lut to deletes");
    spw_event_unref(d);
    use(default_cfg());
    spw_event *e = no_set_no_key_event();
    is_str(run(e),
           META_W("bar", "null", "null", "ERERERERERERERERERERERERERE=", "3", "1734387515000",
                  "1893456000") ",\"n\":1}",
           "no set, no user key: both null");
    spw_event_unref(e);
    e = empty_bins_event();
    is_str(run(e),
           META_W("test", "\"demo\"", "\"AGM=\"", "IiIiIiIiIiIiIiIiIiIiIiIiIiI=", "9", "1734387515000", "0") "}",
           "no bins: the metadata alone; a blob key in Base64");
    spw_event_unref(e);
    spw_event_unref(w);
}

static void test_types(void) {
    use(default_cfg());
    spw_event *ev = all_types_event();
    const char *got = run(ev);
    has_str(got, "\"userKey\":\"user-\xc3\xa9\",", "a string key");
    has_str(got, "},\"nil\":null,\"int\":-1234567890123,\"double\":-0.25,", "nil, int, double");
    has_str(got, "\"str\":\"tab\\there \\\"q\\\" \xe2\x82\xac \xf0\x9f\x98\x80\",\"blob\":\"AAH+/w==\"",
            "strings escaped, blobs Base64");
    has_str(got, "\"java\":\"rO0=\",\"csharp\":\"rO0=\"", "language blobs Base64, no type tag");
    has_str(got, "\"vector\":\"P4AAAA==\",\"bool\":true,\"hll\":\"AA4FAA==\"", "vector, bool, HLL");
    has_str(got, "\"geo\":{\"type\":\"Point\",\"coordinates\":[-122.5,37.25]}", "GeoJSON as an object");
    has_str(got, "\"future\":\"CQg=\"", "an unknown particle type: its bytes in Base64");
    has_str(got, "\"map\":{\"7\":\"seven\",\"2.5\":[1,2],\"vu8=\":false,\"nested\":{\"x\":[]}}",
            "a map: keys stringified, containers nested");
    has_str(got, "\"emptylist\":[],\"emptymap\":{}}", "empty list and map");
    spw_event_unref(ev);

    fcodec_config c = default_cfg();
    c.j.invalid_utf8 = JCODEC_UTF8_BASE64;
    use(c);
    ev = spw_event_new(2, 256);
    uint8_t dg[20] = {0};
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "n", 1);
    spw_event_set_digest(ev, dg);
    spw_event_add_bin(ev, "s", 1, SPW_PT_STRING, "a\xff", 2, 0);
    has_str(run(ev), ",\"s\":\"Yf8=\"}", "invalid_utf8=base64: a broken string is a Base64 string");
    c.j.invalid_utf8 = JCODEC_UTF8_REJECT;
    use(c);
    has_str(run_as(ev, false), "REJECT: flat-json codec: bin \"s\": a string is not valid UTF-8",
            "invalid_utf8=reject: rejected, the bin named");
    spw_event_unref(ev);
}

/* A write with the given bin names (integer values 0, 1, 2...). */
static spw_event *named(const char *const *names, size_t n) {
    spw_event *ev = spw_event_new((uint32_t)n, 4096);
    uint8_t dg[20] = {0}, v[8];
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "n", 1);
    spw_event_set_digest(ev, dg);
    for (size_t i = 0; i < n; i++) {
        be64(v, i);
        spw_event_add_bin(ev, names[i], strlen(names[i]), SPW_PT_INTEGER, v, 8, 0);
    }
    return ev;
}

/* The part of g_text after the metadata object. */
static const char *bins_part(const char *s) {
    const char *p = strstr(s, "},");
    return p ? p + 2 : s;
}

static void test_collisions(void) {
    use(default_cfg());
    const char *a[] = {"metadata", "x"};
    spw_event *ev = named(a, 2);
    is_str(bins_part(run(ev)), "\"metadata_\":0,\"x\":1}", "a bin named like metadata_key gets '_'");
    spw_event_unref(ev);
    const char *b[] = {"metadata", "metadata_", "metadata__"};
    ev = named(b, 3);
    is_str(bins_part(run(ev)), "\"metadata___\":0,\"metadata_\":1,\"metadata__\":2}",
           "the rename never takes another bin's name");
    spw_event_unref(ev);

    /* Duplicates can only come from a route's renames. */
    const char *c[] = {"a", "b", "c"};
    ev = named(c, 3);
    xform_view xv;
    is_str(bins_part(run(xform(&xv, ev, NULL, "a:b,c:b", NULL))), "\"b\":0,\"b_\":1,\"b__\":2}",
           "bins renamed onto each other: later ones get '_', '__'");
    xform_done(&xv);
    fcodec_config cfg = default_cfg();
    cfg.name_collision = FCODEC_COLLISION_REJECT;
    use(cfg);
    has_str(run_as(xform(&xv, ev, NULL, "a:b", NULL), false),
            "REJECT: flat-json codec: bin \"b\": two bins have this name",
            "name_collision=reject: duplicate names reject, naming the bin");
    xform_done(&xv);
    has_str(run_as(xform(&xv, ev, NULL, "c:metadata", NULL), false),
            "REJECT: flat-json codec: bin \"metadata\": the name is the metadata_key",
            "name_collision=reject: the metadata key rejects");
    xform_done(&xv);
    is_str(bins_part(run(ev)), "\"a\":0,\"b\":1,\"c\":2}", "no collision, nothing renamed");
    spw_event_unref(ev);

    /* More than 8 bins: the hash table finds the duplicate. */
    use(default_cfg());
    const char *many[] = {"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "b11"};
    ev = named(many, 12);
    is_str(bins_part(run(xform(&xv, ev, NULL, "b11:b3", NULL))),
           "\"b0\":0,\"b1\":1,\"b2\":2,\"b3\":3,\"b4\":4,\"b5\":5,\"b6\":6,\"b7\":7,\"b8\":8,"
           "\"b9\":9,\"b10\":10,\"b3_\":11}",
           "12 bins, one duplicate (hash path)");
    xform_done(&xv);
    ok(strstr(bins_part(run(ev)), "\"b11\":11}") != NULL, "12 distinct bins: untouched");
    spw_event_unref(ev);

    /* The metadata key may need escaping like any name. */
    cfg = default_cfg();
    cfg.metadata_key = "m\"\xc3\xa9";
    use(cfg);
    const char *d[] = {"m\"\xc3\xa9"};
    ev = named(d, 1);
    has_str(run(ev), "\"m\\\"\xc3\xa9_\":0}", "an escaped metadata key, and its collision");
    spw_event_unref(ev);
}

static void test_meta_and_luts(void) {
    xform_view xv;
    use(default_cfg());
    spw_event *w = ref_write(false);
    is_str(run(xform(&xv, w, "namespace,userKey,lut", "name:n", NULL)),
           "{\"metadata\":{\"msg\":\"write\",\"set\":\"myset\",\"digest\":\"ePJtMHKMQ2rFt+K3n3+qSxwBFXY=\","
           "\"gen\":1,\"exp\":0},\"n\":\"colton\",\"age\":27,\"mapTest\":{\"a\":1,\"b\":2}}",
           "metadata_exclude leaves members out; bins_rename renames");
    xform_done(&xv);
    is_str(run(xform(&xv, w, "msg,namespace,set,userKey,digest,gen,lut,exp,durable", NULL, "name,age,mapTest")),
           "{\"metadata\":{}}", "everything excluded: an empty metadata object");
    xform_done(&xv);
    spw_event_unref(w);

    fcodec_config c = default_cfg();
    c.j.bin_luts = true;
    use(c);
    spw_event *ev = spw_event_new(3, 512);
    uint8_t dg[20] = {0}, v[8];
    be64(v, 5);
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "n", 1);
    spw_event_set_digest(ev, dg);
    spw_event_add_bin(ev, "metadata", 8, SPW_PT_INTEGER, v, 8, 1700000000001);
    spw_event_add_bin(ev, "y", 1, SPW_PT_INTEGER, v, 8, 0);
    spw_event_add_bin(ev, "z", 1, SPW_PT_INTEGER, v, 8, 1700000000003);
    has_str(run(ev), "\"exp\":0,\"binLuts\":{\"metadata_\":1700000000001,\"z\":1700000000003}},"
                     "\"metadata_\":5,\"y\":5,\"z\":5}",
            "bin_luts: binLuts under the final names, only bins that have one");
    spw_event_unref(ev);
    ev = ref_delete(false, false);
    has_str(run(ev), "\"durable\":false}}", "bin_luts: nothing on deletes");
    spw_event_unref(ev);
}

static void test_frame_and_plugin(void) {
    extern const spw_plugin spw_plugin_descriptor;
    const spw_plugin *p = &spw_plugin_descriptor;
    spw_err err = {{0}};
    ok(p->kind == SPW_KIND_CODEC && !strcmp(p->name, "flat-json") && p->codec && p->check,
       "descriptor: a codec named flat-json with a check");
    ok(spw__opts_check_table(p->options, p->config_size, &err) == SPW_OK, "the option table is valid: %s",
       err.msg);
    fcodec_config def;
    memset(&def, 0, sizeof def);
    ok(spw__opts_defaults(p->options, &def, &err) == SPW_OK && def.j.stringify_map_keys &&
           def.name_collision == FCODEC_COLLISION_RENAME && def.j.invalid_utf8 == JCODEC_UTF8_REPLACE,
       "defaults: stringify on, rename, replace");
    spw__opts_free(p->options, &def);
    fcodec_config bad = default_cfg();
    bad.metadata_key = "";
    ok(p->check(&bad, &err) == SPW_ERR_CONFIG && strstr(err.msg, "metadata_key"), "check: an empty metadata_key");
    bad.metadata_key = "a\xff";
    ok(p->check(&bad, &err) == SPW_ERR_CONFIG, "check: a metadata_key that is not UTF-8");
    fcodec_config cfg = default_cfg();
    cfg.j.batch_format = JCODEC_BATCH_ARRAY;
    void *inst = NULL;
    ok(p->check(&cfg, &err) == SPW_OK && p->create(NULL, &cfg, &inst, &err) == SPW_OK, "create");
    spw_event *w = ref_write(false), *d = ref_delete(false, false);
    spw_buf recs = SPW_BUF_INIT, body = SPW_BUF_INIT;
    ok(p->codec->encode(inst, w, &recs, &err) == SPW_OK, "encode through the ops");
    size_t n1 = recs.len;
    ok(p->codec->encode(inst, d, &recs, &err) == SPW_OK, "a second record appends");
    spw_slice s[2] = {{recs.data, n1}, {recs.data + n1, recs.len - n1}};
    ok(p->codec->frame(inst, s, 2, &body, &err) == SPW_OK && body.data[0] == '[' &&
           body.data[n1 + 1] == ',' && body.data[body.len - 1] == ']',
       "array framing");
    is_str(p->codec->content_type(inst, true), "application/json", "array: application/json");
    json_error_t je;
    json_t *j = json_loadb((const char *)body.data, body.len, 0, &je);
    ok(json_is_array(j) && json_array_size(j) == 2, "jansson reads the batch as an array of 2");
    json_decref(j);
    p->destroy(inst);
    cfg.j.batch_format = JCODEC_BATCH_NDJSON;
    ok(p->create(NULL, &cfg, &inst, &err) == SPW_OK, "create (ndjson)");
    spw_buf_reset(&body);
    ok(p->codec->frame(inst, s, 2, &body, &err) == SPW_OK && body.data[n1] == '\n' &&
           body.data[body.len - 1] == '\n' && body.len == recs.len + 2,
       "ndjson framing: one line per record");
    is_str(p->codec->content_type(inst, true), "application/x-ndjson", "ndjson content type");
    is_str(p->codec->content_type(inst, false), "application/json", "one record: application/json");
    p->destroy(inst);
    spw_event_unref(w);
    spw_event_unref(d);
    spw_buf_free(&recs);
    spw_buf_free(&body);
}

static void test_steady_state(void) {
    use(default_cfg());
    const char *many[] = {"b0", "b1", "b2", "b3", "b4", "b5", "b6", "b7", "b8", "b9", "b10", "metadata"};
    spw_event *evs[3] = {ref_write(false), all_types_event(), named(many, 12)};
    spw_buf out = SPW_BUF_INIT;
    tc_steady_state(codec_encode, &g_codec, evs, 3, 3000, &out,
                    "no allocation per record in the steady state (collisions included)");
    for (int i = 0; i < 3; i++)
        spw_event_unref(evs[i]);
    spw_buf_free(&out);
}

int main(void) {
    oracle_open("codec-flat-json");
    test_reference();
    test_types();
    test_collisions();
    test_meta_and_luts();
    test_frame_and_plugin();
    test_steady_state();
    python_ok(oracle_run(env_or("CODEC_ORACLE", CODEC_ORACLE_PY)),
              "the Python oracle derives every output again (%u cases)", oracle_cases);
    fcodec_fini(&g_codec);
    spw_buf_free(&g_out);
    return tap_done();
}

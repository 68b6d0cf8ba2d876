/*
 * tests/unit/test-codec-json.c: the json codec (plugins/codec-json).
 *
 * The encoder sources are compiled into this program, so the tests call
 * the encoder directly and through the plugin's descriptor, without the
 * loader. Events are built with the SDK builder; collection values with a
 * small MessagePack writer below (Aerospike's dialect: particle-type
 * prefix bytes, order markers).
 *
 * Layers: golden strings for the two real XDR frames and for every
 * particle type and collection shape; then every output is parsed by
 * jansson; a seeded randomized run of 50k events (clean ones must encode
 * to exactly the expected JSON tree, hostile ones must encode to valid
 * JSON or be rejected with a reason); finally Python's json module reads
 * every output again (tests/codec-json-check.py), and checks the U+FFFD
 * repair and the shortest-double claims against Python's own.
 */
#include <float.h>
#include <inttypes.h>
#include <jansson.h>
#include <locale.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <spillway/spillway.h>

#include "../../plugins/codec-json/encode.h"
#include "../tap.h"
#define TC_COUNT_ALLOCATIONS
#include "test-codec-common.h"
#include "options.h" /* the core's option-table checks, to hold the table to them */

#ifndef CODEC_JSON_CHECK_PY
#define CODEC_JSON_CHECK_PY "tests/codec-json-check.py"
#endif

/* Allocation counting: test-codec-common.h interposes malloc (not under ASan). */

/* ---- helpers ---- */

static FILE *pyf; /* cases for tests/codec-json-check.py */
static char pyf_path[] = "/tmp/spw-codec-json-XXXXXX";

static jcodec_config default_cfg(void) {
    jcodec_config c = {JCODEC_BATCH_NDJSON, false, false, true, JCODEC_UTF8_REPLACE,
                       JCODEC_NONFINITE_STRING, NULL};
    return c;
}

/* The codec under test in the golden cases; reconfigured with use(). */
static jcodec g_codec;
static void use(jcodec_config cfg) {
    jcodec_fini(&g_codec);
    if (jcodec_init(&g_codec, &cfg) != SPW_OK)
        abort();
}

/* The codec's encode, as tc_steady_state calls it. */
static spw_result codec_encode(void *codec, const spw_event *ev, spw_buf *out, spw_err *err) {
    return jcodec_encode(codec, ev, out, err);
}

static spw_buf g_out = SPW_BUF_INIT;
static char *g_text;     /* last output, NUL-terminated, or "REJECT: why" */
static size_t g_textcap;

static void set_text(const void *p, size_t n) {
    if (n + 1 > g_textcap) {
        g_textcap = (n + 1) * 2;
        g_text = realloc(g_text, g_textcap);
        if (!g_text)
            abort();
    }
    memcpy(g_text, p, n);
    g_text[n] = '\0';
}

/* Parses with jansson; NUL escapes are valid JSON, and integers beyond
 * int64 (uint values) are valid JSON that jansson holds only as reals. */
static json_t *parse(const char *s, size_t n, json_error_t *je) {
    json_t *j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, je);
    if (!j && strstr(je->text, "too big"))
        j = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, je);
    if (!j && strstr(je->text, "NUL byte in object key")) {
        /* jansson cannot hold such keys; \u0001 has the same syntax, so
         * a copy with it says whether the text is valid JSON. */
        char *t = malloc(n ? n : 1);
        memcpy(t, s, n);
        for (char *q = t; (q = memmem(q, n - (size_t)(q - t), "\\u0000", 6)); q += 6)
            q[5] = '1';
        j = parse(t, n, je);
        free(t);
    }
    return j;
}

/* Checks an output is one valid JSON value on one UTF-8 line, and queues it for Python. */
static bool valid_json(const char *s, size_t n, const char **why) {
    json_error_t je;
    if (memchr(s, '\n', n) || memchr(s, '\r', n) || memchr(s, '\t', n)) {
        *why = "raw newline, carriage return or tab";
        return false;
    }
    if (!spw_utf8_valid(s, n)) {
        *why = "not UTF-8";
        return false;
    }
    json_t *j = parse(s, n, &je);
    if (!j) {
        static char msg[200];
        snprintf(msg, sizeof msg, "jansson: %s at %d", je.text, je.position);
        *why = msg;
        return false;
    }
    json_decref(j);
    if (pyf) {
        fputs("J\t", pyf);
        fwrite(s, 1, n, pyf);
        fputc('\n', pyf);
    }
    return true;
}

/* Encodes ev with the golden codec; g_text holds the JSON or "REJECT: why". */
static spw_result run(const spw_event *ev) {
    spw_err err = {{0}};
    spw_buf_reset(&g_out);
    spw_result r = jcodec_encode(&g_codec, ev, &g_out, &err);
    if (r == SPW_OK) {
        set_text(g_out.data, g_out.len);
        const char *why = NULL;
        if (!valid_json((const char *)g_out.data, g_out.len, &why)) {
            ok(0, "output is valid JSON: %s", why);
            diag("%s", g_text);
        }
    } else {
        char tmp[SPW_ERR_MSG_MAX + 16];
        snprintf(tmp, sizeof tmp, "%s: %s", r == SPW_REJECT ? "REJECT" : spw_result_str(r),
                 err.msg);
        set_text(tmp, strlen(tmp));
        if (g_out.len != 0)
            ok(0, "a failed encode leaves the buffer as it was");
    }
    return r;
}

#define PREFIX                                                                              \
    "{\"msg\":\"write\",\"key\":[\"ns\",null,\"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\",null],\"gen\":0," \
    "\"exp\":0,\"lut\":0,\"bins\":["
#define SUFFIX "]}"

/* The JSON of a record holding one bin named "b", without the record
 * around it (checked), or "REJECT: why". */
static const char *one_bin(uint8_t type, const void *v, size_t n, int64_t lut) {
    spw_event *ev = new_write();
    if (spw_event_add_bin(ev, "b", 1, type, v, n, lut) != SPW_OK)
        abort();
    spw_result r = run(ev);
    spw_event_unref(ev);
    if (r != SPW_OK)
        return g_text;
    size_t len = strlen(g_text), pl = strlen(PREFIX), sl = strlen(SUFFIX);
    if (len < pl + sl || memcmp(g_text, PREFIX, pl) || strcmp(g_text + len - sl, SUFFIX))
        return g_text; /* the comparison will show it */
    g_text[len - sl] = '\0';
    return g_text + pl;
}

static const char *bin_str(const char *s) { return one_bin(SPW_PT_STRING, s, strlen(s), 0); }
static const char *bin_int(int64_t v) {
    uint8_t b[8];
    be64(b, (uint64_t)v);
    return one_bin(SPW_PT_INTEGER, b, 8, 0);
}
static const char *bin_double(double d) {
    uint8_t b[8];
    uint64_t u;
    memcpy(&u, &d, 8);
    be64(b, u);
    return one_bin(SPW_PT_DOUBLE, b, 8, 0);
}
static const char *bin_hex(uint8_t type, const char *hex) {
    uint8_t b[4096];
    size_t n = unhex(hex, b);
    return one_bin(type, b, n, 0);
}

static const char *bin_mp(uint8_t type, const spw_buf *m) {
    return one_bin(type, m->data, m->len, 0);
}

/* ---- the real frames of xdr-wire.md ---- */

static spw_event *frame_write(void) { return ref_write(false); }
static spw_event *frame_delete(bool durable) { return ref_delete(durable, false); }

static void test_frames(void) {
    jcodec_config cfg = default_cfg();
    use(cfg);
    spw_event *w = frame_write();
    run(w);
    is_str(g_text,
           "{\"msg\":\"write\",\"key\":[\"test\",\"myset\",\"ePJtMHKMQ2rFt+K3n3+qSxwBFXY=\",4],"
           "\"gen\":1,\"exp\":0,\"lut\":1734387515693,\"bins\":["
           "{\"name\":\"name\",\"type\":\"str\",\"value\":\"colton\"},"
           "{\"name\":\"age\",\"type\":\"int\",\"value\":27},"
           "{\"name\":\"mapTest\",\"type\":\"map\",\"value\":{\"a\":1,\"b\":2}}]}",
           "real write frame: test/myset key 4");

    spw_event *d = frame_delete(false);
    run(d);
    is_str(g_text,
           "{\"msg\":\"delete\",\"key\":[\"test\",\"myset\",\"+buQLd0YdIWEdbZsjza5ULrbRPc=\",14],"
           "\"durable\":false}",
           "real delete frame: key 14, not durable");
    spw_event_unref(d);
    d = frame_delete(true);
    run(d);
    has_str(g_text, ",14],\"durable\":true}", "durable delete");

    cfg.delete_metadata = true;
    use(cfg);
    run(d);
    is_str(g_text,
           "{\"msg\":\"delete\",\"key\":[\"test\",\"myset\",\"+buQLd0YdIWEdbZsjza5ULrbRPc=\",14],"
           "\"durable\":true,\"gen\":2,\"lut\":1734388979032}",
           "delete_metadata adds gen and lut after durable");
    run(w);
    has_str(g_text, "\"gen\":1,\"exp\":0,\"lut\":1734387515693,\"bins\":[",
            "delete_metadata leaves writes alone");
    spw_event_unref(d);

    /* A write with no bins (metadata-only shipping) and no set. */
    use(default_cfg());
    spw_event *e = new_write();
    spw_event_set_generation(e, 4294967295u);
    spw_event_set_expiry(e, 1893456000);
    spw_event_set_lut(e, 1734387515693, 0);
    run(e);
    is_str(g_text,
           "{\"msg\":\"write\",\"key\":[\"ns\",null,\"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\",null],"
           "\"gen\":4294967295,\"exp\":1893456000,\"lut\":1734387515693,\"bins\":[]}",
           "write without bins, set or key");
    spw_event_unref(e);

    /* An event whose op was never set cannot be written. */
    e = spw_event_new(0, 64);
    spw_event_set_namespace(e, "ns", 2);
    run(e);
    has_str(g_text, "REJECT: json codec: record: unknown operation", "an event without an op is rejected");
    spw_event_unref(e);
    spw_event_unref(w);
}

/* ---- metadata_exclude and bin transforms (the route's view) ---- */

static void test_meta_exclude(void) {
    xform_view xv;
    jcodec_config cfg = default_cfg();
    use(cfg);
    spw_event *w = frame_write();
    run(xform(&xv, w, "msg,gen", NULL, NULL));
    is_str(g_text,
           "{\"key\":[\"test\",\"myset\",\"ePJtMHKMQ2rFt+K3n3+qSxwBFXY=\",4],"
           "\"exp\":0,\"lut\":1734387515693,\"bins\":["
           "{\"name\":\"name\",\"type\":\"str\",\"value\":\"colton\"},"
           "{\"name\":\"age\",\"type\":\"int\",\"value\":27},"
           "{\"name\":\"mapTest\",\"type\":\"map\",\"value\":{\"a\":1,\"b\":2}}]}",
           "metadata_exclude msg,gen: members left out, the object still opens cleanly");
    xform_done(&xv);
    run(xform(&xv, w, "namespace,set,digest,userKey,exp,lut", "name:who,age:years", "mapTest"));
    is_str(g_text,
           "{\"msg\":\"write\",\"key\":[null,null,null,null],\"gen\":1,\"bins\":["
           "{\"name\":\"who\",\"type\":\"str\",\"value\":\"colton\"},"
           "{\"name\":\"years\",\"type\":\"int\",\"value\":27}]}",
           "key positions stay as null; renamed and excluded bins as the route says");
    xform_done(&xv);
    spw_event_unref(w);

    cfg.delete_metadata = true;
    use(cfg);
    spw_event *d = frame_delete(true);
    run(xform(&xv, d, "durable,lut", NULL, NULL));
    is_str(g_text,
           "{\"msg\":\"delete\",\"key\":[\"test\",\"myset\",\"+buQLd0YdIWEdbZsjza5ULrbRPc=\",14],"
           "\"gen\":2}",
           "delete: durable and lut excluded, gen kept (delete_metadata)");
    xform_done(&xv);
    run(xform(&xv, d, "msg,namespace,set,userKey,digest,gen,lut,exp,durable", NULL, NULL));
    is_str(g_text, "{\"key\":[null,null,null,null]}", "everything excluded from a delete");
    xform_done(&xv);
    spw_event_unref(d);
    use(default_cfg());
}

/* ---- user keys ---- */

static void test_user_keys(void) {
    uint8_t b[8];
    jcodec_config cfg = default_cfg();
    use(cfg);
    struct {
        uint8_t type;
        const char *hex;
        const char *want;
    } cases[] = {
        {SPW_PT_INTEGER, "ffffffffffffffff", "-1"},
        {SPW_PT_INTEGER, "8000000000000000", "-9223372036854775808"},
        {SPW_PT_DOUBLE, "3ff8000000000000", "1.5"},
        {SPW_PT_DOUBLE, "7ff8000000000000", "\"NaN\""},
        {SPW_PT_STRING, "6b22315c", "\"k\\\"1\\\\\""},
        {SPW_PT_STRING, "", "\"\""},
        {SPW_PT_BLOB, "010203", "\"AQID\""},
        {SPW_PT_BLOB, "", "\"\""},
        {SPW_PT_STRING, "61ff", "\"a\xef\xbf\xbd\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t v[64];
        size_t n = unhex(cases[i].hex, v);
        spw_event *ev = new_write();
        spw_event_set_key(ev, cases[i].type, v, n);
        run(ev);
        char want[256];
        snprintf(want, sizeof want, "\"AAAAAAAAAAAAAAAAAAAAAAAAAAA=\",%s],", cases[i].want);
        has_str(g_text, want, "user key %s %s", spw_particle_name(cases[i].type), cases[i].hex);
        spw_event_unref(ev);
    }
    cfg.invalid_utf8 = JCODEC_UTF8_BASE64;
    use(cfg);
    spw_event *ev = new_write();
    spw_event_set_key(ev, SPW_PT_STRING, "a\xff" "b", 3);
    run(ev);
    has_str(g_text, "=\",\"Yf9i\"],", "invalid_utf8=base64: a broken string key goes as Base64");
    cfg.invalid_utf8 = JCODEC_UTF8_REJECT;
    use(cfg);
    run(ev);
    has_str(g_text, "REJECT: json codec: user key: a string is not valid UTF-8",
            "invalid_utf8=reject: a broken string key rejects");
    spw_event_unref(ev);
    cfg = default_cfg();
    cfg.non_finite = JCODEC_NONFINITE_NULL;
    use(cfg);
    ev = new_write();
    be64(b, 0xfff0000000000000ull);
    spw_event_set_key(ev, SPW_PT_DOUBLE, b, 8);
    run(ev);
    has_str(g_text, "=\",null],", "non_finite=null: an infinite double key is null");
    spw_event_unref(ev);
}

/* ---- scalar bins ---- */

static void test_scalars(void) {
    jcodec_config cfg = default_cfg();
    use(cfg);
    is_str(one_bin(SPW_PT_NIL, NULL, 0, 0), "{\"name\":\"b\",\"type\":\"nil\",\"value\":null}",
           "nil bin (deleted) is type nil, value null");
    is_str(bin_int(27), "{\"name\":\"b\",\"type\":\"int\",\"value\":27}", "int");
    is_str(bin_int(0), "{\"name\":\"b\",\"type\":\"int\",\"value\":0}", "int 0");
    is_str(bin_int(-1), "{\"name\":\"b\",\"type\":\"int\",\"value\":-1}", "int -1");
    is_str(bin_int(INT64_MIN), "{\"name\":\"b\",\"type\":\"int\",\"value\":-9223372036854775808}",
           "int INT64_MIN");
    is_str(bin_int(INT64_MAX), "{\"name\":\"b\",\"type\":\"int\",\"value\":9223372036854775807}",
           "int INT64_MAX");
    has_str(bin_hex(SPW_PT_INTEGER, "00000001"),
            "REJECT: json codec: bin \"b\": malformed integer value (4 bytes)",
            "a 4-byte integer is rejected with the bin named");

    struct {
        double d;
        const char *want;
    } dbl[] = {
        {1.0, "1.0"},
        {0.1, "0.1"},
        {-2.5, "-2.5"},
        {100.0, "100.0"},
        {0.0, "0.0"},
        {-0.0, "-0.0"},
        {3.14159, "3.14159"},
        {0.0001, "0.0001"},
        {1e-5, "1e-05"},
        {123456789.125, "123456789.125"},
        {123456789012345.0, "123456789012345.0"},
        {1e15, "1e+15"},
        {1e21, "1e+21"},
        {1e300, "1e+300"},
        {0.1 + 0.2, "0.30000000000000004"},
        {9007199254740992.0, "9007199254740992.0"},
        {DBL_MAX, "1.7976931348623157e+308"},
        {DBL_MIN, "2.2250738585072014e-308"},
        {5e-324, "5e-324"},
        {-37.123456, "-37.123456"},
        {1.0 / 3, "0.3333333333333333"},
        {2.0 / 3, "0.6666666666666666"},
    };
    for (size_t i = 0; i < sizeof dbl / sizeof dbl[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "{\"name\":\"b\",\"type\":\"float\",\"value\":%s}", dbl[i].want);
        is_str(bin_double(dbl[i].d), want, "double %s", dbl[i].want);
    }
    is_str(bin_double(NAN), "{\"name\":\"b\",\"type\":\"float\",\"value\":\"NaN\"}",
           "NaN is the string \"NaN\" by default");
    is_str(bin_double(INFINITY), "{\"name\":\"b\",\"type\":\"float\",\"value\":\"Infinity\"}",
           "+inf is \"Infinity\"");
    is_str(bin_double(-INFINITY), "{\"name\":\"b\",\"type\":\"float\",\"value\":\"-Infinity\"}",
           "-inf is \"-Infinity\"");
    cfg.non_finite = JCODEC_NONFINITE_NULL;
    use(cfg);
    is_str(bin_double(NAN), "{\"name\":\"b\",\"type\":\"float\",\"value\":null}",
           "non_finite=null: NaN is null");
    cfg.non_finite = JCODEC_NONFINITE_REJECT;
    use(cfg);
    has_str(bin_double(-INFINITY), "REJECT: json codec: bin \"b\": a double is -infinity",
            "non_finite=reject rejects");
    use(default_cfg());
    has_str(bin_hex(SPW_PT_DOUBLE, "3ff0"), "REJECT: json codec: bin \"b\": malformed double",
            "a short double is rejected");

    /* Strings: escapes, control characters, raw UTF-8, U+2028. */
    is_str(bin_str("colton"), "{\"name\":\"b\",\"type\":\"str\",\"value\":\"colton\"}", "str");
    is_str(bin_str(""), "{\"name\":\"b\",\"type\":\"str\",\"value\":\"\"}", "empty str");
    is_str(bin_str("a\"b\\c/\b\f\n\r\t\x01\x1f\x7f"),
           "{\"name\":\"b\",\"type\":\"str\",\"value\":\"a\\\"b\\\\c/\\b\\f\\n\\r\\t\\u0001\\u001f\x7f\"}",
           "escapes: two-character forms, \\u00XX for other controls, DEL raw");
    is_str(one_bin(SPW_PT_STRING, "a\0b", 3, 0),
           "{\"name\":\"b\",\"type\":\"str\",\"value\":\"a\\u0000b\"}", "NUL is \\u0000");
    is_str(bin_str("\xc3\xa9\xe2\x82\xac\xe2\x80\xa8\xf0\x9f\x98\x80"),
           "{\"name\":\"b\",\"type\":\"str\",\"value\":\"\xc3\xa9\xe2\x82\xac\xe2\x80\xa8\xf0\x9f\x98\x80\"}",
           "UTF-8 (2, 3, 4 bytes, U+2028) passes raw");
    is_str(bin_str("0123456789abcdef\"0123456789abcdef\x1f" "0123456789"),
           "{\"name\":\"b\",\"type\":\"str\",\"value\":\"0123456789abcdef\\\"0123456789abcdef\\u001f0123456789\"}",
           "escapes after 8-byte runs");
    /* Ill-formed UTF-8: one U+FFFD per maximal ill-formed subsequence. */
    is_str(bin_str("a\xff" "b"), "{\"name\":\"b\",\"type\":\"str\",\"value\":\"a\xef\xbf\xbd" "b\"}",
           "invalid_utf8=replace: 0xFF becomes U+FFFD");
    is_str(bin_str("\xe2\x82" "A\xed\xa0\x80\xc0\xaf\xf4\x90\x80\x80\xe2"),
           "{\"name\":\"b\",\"type\":\"str\",\"value\":\""
           "\xef\xbf\xbd" "A" "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "\xef\xbf\xbd\xef\xbf\xbd"
           "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "\xef\xbf\xbd\"}",
           "truncated sequence, surrogate, overlong, > U+10FFFF, truncated at the end");
    cfg = default_cfg();
    cfg.invalid_utf8 = JCODEC_UTF8_BASE64;
    use(cfg);
    is_str(bin_str("a\xff" "b"), "{\"name\":\"b\",\"type\":\"blob\",\"value\":\"Yf9i\"}",
           "invalid_utf8=base64: the str bin becomes a blob");
    is_str(bin_str("fine"), "{\"name\":\"b\",\"type\":\"str\",\"value\":\"fine\"}",
           "invalid_utf8=base64 leaves valid strings alone");
    cfg.invalid_utf8 = JCODEC_UTF8_REJECT;
    use(cfg);
    has_str(bin_str("a\xff" "b"),
            "REJECT: json codec: bin \"b\": a string is not valid UTF-8 (1 ill-formed sequence",
            "invalid_utf8=reject rejects");
    use(default_cfg());

    /* Bytes. */
    is_str(bin_hex(SPW_PT_BLOB, "000102"), "{\"name\":\"b\",\"type\":\"blob\",\"value\":\"AAEC\"}", "blob");
    is_str(bin_hex(SPW_PT_BLOB, ""), "{\"name\":\"b\",\"type\":\"blob\",\"value\":\"\"}", "empty blob");
    for (uint8_t t = SPW_PT_JBLOB; t <= SPW_PT_ERLBLOB; t++)
        is_str(bin_hex(t, "ff"), "{\"name\":\"b\",\"type\":\"blob\",\"value\":\"/w==\"}",
               "language blob %u is a blob", t);
    is_str(bin_hex(SPW_PT_VECTOR, "3f800000"), "{\"name\":\"b\",\"type\":\"blob\",\"value\":\"P4AAAA==\"}",
           "vector is a blob");
    is_str(bin_hex(SPW_PT_HLL, "0102"), "{\"name\":\"b\",\"type\":\"hll\",\"value\":\"AQI=\"}", "hll");
    is_str(bin_hex(SPW_PT_BOOL, "01"), "{\"name\":\"b\",\"type\":\"bool\",\"value\":true}", "bool true");
    is_str(bin_hex(SPW_PT_BOOL, "00"), "{\"name\":\"b\",\"type\":\"bool\",\"value\":false}", "bool false");
    has_str(bin_hex(SPW_PT_BOOL, "02"), "REJECT: json codec: bin \"b\": malformed boolean", "bool 2 is rejected");
    is_str(bin_hex(5, "0102"), "{\"name\":\"b\",\"type\":\"blob\",\"value\":\"AQI=\",\"ptype\":5}",
           "unknown particle type 5: blob with ptype");
    is_str(bin_hex(200, ""), "{\"name\":\"b\",\"type\":\"blob\",\"value\":\"\",\"ptype\":200}",
           "unknown particle type 200, empty");

    /* Bin LUTs. */
    uint8_t v[8];
    be64(v, 7);
    is_str(one_bin(SPW_PT_INTEGER, v, 8, 1700000000123), "{\"name\":\"b\",\"type\":\"int\",\"value\":7}",
           "bin_luts off: no lut");
    cfg = default_cfg();
    cfg.bin_luts = true;
    use(cfg);
    is_str(one_bin(SPW_PT_INTEGER, v, 8, 1700000000123),
           "{\"name\":\"b\",\"type\":\"int\",\"value\":7,\"lut\":1700000000123}", "bin_luts on: lut last");
    is_str(one_bin(SPW_PT_INTEGER, v, 8, 0), "{\"name\":\"b\",\"type\":\"int\",\"value\":7}",
           "bin_luts on, no bin LUT shipped: no lut");
    spw_buf m = SPW_BUF_INIT;
    mp_list(&m, 1);
    mp_int(&m, 1);
    is_str(one_bin(SPW_PT_LIST, m.data, m.len, 5),
           "{\"name\":\"b\",\"type\":\"list\",\"value\":[1],\"ordered\":false,\"lut\":5}",
           "bin_luts: lut after ordered");
    spw_buf_free(&m);
    use(default_cfg());

    /* Bin names are strings like any other. */
    spw_event *ev = new_write();
    spw_event_add_bin(ev, "q\"\xff\n", 4, SPW_PT_NIL, NULL, 0, 0);
    run(ev);
    has_str(g_text, "{\"name\":\"q\\\"\xef\xbf\xbd\\n\",\"type\":\"nil\"", "bin name escaped and repaired");
    cfg = default_cfg();
    cfg.invalid_utf8 = JCODEC_UTF8_REJECT;
    use(cfg);
    run(ev);
    has_str(g_text, "REJECT: json codec: bin \"q\"??\": the name is not valid UTF-8",
            "invalid_utf8=reject: a broken bin name rejects, shown safely");
    spw_event_unref(ev);
    ev = spw_event_new(0, 64);
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "n\x80", 2);
    spw_event_set_set(ev, "s\x01", 2);
    use(default_cfg());
    run(ev);
    has_str(g_text, "\"key\":[\"n\xef\xbf\xbd\",\"s\\u0001\",", "namespace and set repaired/escaped");
    spw_event_unref(ev);
}

/* ---- GeoJSON ---- */

static const char *bin_geo(const char *text) {
    uint8_t v[4096];
    size_t n = strlen(text);
    v[0] = 0; /* flags */
    v[1] = 0;
    v[2] = 1; /* one cell */
    memset(v + 3, 0xab, 8);
    memcpy(v + 11, text, n);
    return one_bin(SPW_PT_GEOJSON, v, n + 11, 0);
}

/* {"a":[[...]]} with `arrays` nested arrays. */
static const char *geo_deep(int arrays) {
    static char deep[400];
    size_t n = 0;
    memcpy(deep, "{\"a\":", 5);
    n = 5;
    for (int i = 0; i < arrays; i++)
        deep[n++] = '[';
    for (int i = 0; i < arrays; i++)
        deep[n++] = ']';
    deep[n++] = '}';
    deep[n] = '\0';
    return deep;
}

static void test_geojson(void) {
    use(default_cfg());
    is_str(bin_geo("{\"type\":\"Point\",\"coordinates\":[-122.0,37.5]}"),
           "{\"name\":\"b\",\"type\":\"geojson\",\"value\":{\"type\":\"Point\",\"coordinates\":[-122.0,37.5]}}",
           "GeoJSON embedded as an object");
    is_str(bin_geo(" {\n  \"type\" : \"Polygon\",\r\n\t\"coordinates\": [ [ [1e2, -0.5E-3], [0,1] ] ],"
                   " \"p\": {\"a b\": \"x y\\n\\u00e9\\ud83d\\ude00\", \"n\": null, \"t\": true, \"f\": false} }\n"),
           "{\"name\":\"b\",\"type\":\"geojson\",\"value\":{\"type\":\"Polygon\",\"coordinates\":"
           "[[[1e2,-0.5E-3],[0,1]]],\"p\":{\"a b\":\"x y\\n\\u00e9\\ud83d\\ude00\",\"n\":null,\"t\":true,\"f\":false}}}",
           "pretty-printed GeoJSON is minified (one NDJSON line), strings untouched");
    is_str(bin_geo("{}"), "{\"name\":\"b\",\"type\":\"geojson\",\"value\":{}}", "empty object");
    is_str(bin_geo("{\"type\": Point}"),
           "{\"name\":\"b\",\"type\":\"geojson\",\"value\":\"{\\\"type\\\": Point}\"}",
           "text that is not JSON goes as a string");
    is_str(bin_geo("[1,2]"), "{\"name\":\"b\",\"type\":\"geojson\",\"value\":\"[1,2]\"}",
           "JSON that is not an object goes as a string");
    is_str(bin_geo(""), "{\"name\":\"b\",\"type\":\"geojson\",\"value\":\"\"}", "empty text");
    const char *bad[] = {
        "{\"a\":1e400}",          /* overflows a double */
        "{\"a\":\"\\ud800\"}",    /* unpaired surrogate */
        "{\"a\":\"\\udc00\"}",    /* lone low surrogate */
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":\"\x01\"}",       /* raw control character */
        "{\"a\":\"\xff\"}",       /* ill-formed UTF-8 */
        "{\"a\":01}",             /* leading zero */
        "{\"a\":1.}",
        "{\"a\":.5}",
        "{\"a\":+1}",
        "{\"a\":1e}",
        "{\"a\":NaN}",
        "{\"a\":[1,]}",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{a:1}",
        "{\"a\":1}x",
        "{\"a\":1}{}",
        "{\"a\":tru}",
        "{\"a\":\"\\x\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"unterminated}",
        "{\"a\":[",
        "{'a':1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *got = bin_geo(bad[i]);
        ok(strncmp(got, "{\"name\":\"b\",\"type\":\"geojson\",\"value\":\"", 38) == 0,
           "invalid GeoJSON #%zu goes as a string", i);
    }
    /* Nesting: the object and 63 arrays embed, one more goes as a string. */
    has_str(bin_geo(geo_deep(63)), "\"value\":{\"a\":[[[", "GeoJSON nested 64 deep is embedded");
    has_str(bin_geo(geo_deep(64)), "\"value\":\"{\\\"a\\\":[[[", "GeoJSON nested 65 deep goes as a string");
    has_str(bin_hex(SPW_PT_GEOJSON, "0000"), "REJECT: json codec: bin \"b\": malformed GeoJSON",
            "a GeoJSON value without its header is rejected");
    has_str(bin_hex(SPW_PT_GEOJSON, "000002" "0000000000000000"), "REJECT", "more cells than bytes is rejected");
    jcodec_config cfg = default_cfg();
    cfg.invalid_utf8 = JCODEC_UTF8_BASE64;
    use(cfg);
    is_str(bin_geo("{\"a\":\"\xff\"}"), "{\"name\":\"b\",\"type\":\"geojson\",\"value\":\"eyJhIjoi/yJ9\"}",
           "invalid_utf8=base64: broken GeoJSON text goes as Base64");
    use(default_cfg());
}

/* ---- lists and maps ---- */

static void test_collections(void) {
    spw_buf m = SPW_BUF_INIT;
    jcodec_config cfg = default_cfg();
    use(cfg);
#define RESET() spw_buf_reset(&m)

    RESET();
    mp_list(&m, 6);
    mp_int(&m, 1);
    mp_str(&m, "a");
    mp_nil(&m);
    mp_bool(&m, true);
    mp_double(&m, 1.5);
    mp_bool(&m, false);
    is_str(bin_mp(SPW_PT_LIST, &m),
           "{\"name\":\"b\",\"type\":\"list\",\"value\":[1,\"a\",null,true,1.5,false],\"ordered\":false}",
           "unordered list of scalars");
    RESET();
    mp_list(&m, 4);
    mp_marker(&m, 1);
    mp_int(&m, 1);
    mp_int(&m, 2);
    mp_int(&m, 3);
    is_str(bin_mp(SPW_PT_LIST, &m), "{\"name\":\"b\",\"type\":\"list\",\"value\":[1,2,3],\"ordered\":true}",
           "ordered list: marker consumed, ordered true");
    RESET();
    mp_list(&m, 0);
    is_str(bin_mp(SPW_PT_LIST, &m), "{\"name\":\"b\",\"type\":\"list\",\"value\":[],\"ordered\":false}",
           "empty list");
    RESET();
    mp_list(&m, 1);
    mp_marker(&m, 1);
    is_str(bin_mp(SPW_PT_LIST, &m), "{\"name\":\"b\",\"type\":\"list\",\"value\":[],\"ordered\":true}",
           "empty ordered list");
    RESET();
    mp_map(&m, 0);
    is_str(bin_mp(SPW_PT_MAP, &m), "{\"name\":\"b\",\"type\":\"map\",\"value\":{}}", "empty map");

    const struct {
        uint8_t flags;
        const char *tail;
    } orders[] = {{1, ",\"order\":\"key\""}, {3, ",\"order\":\"key-value\""}, {8, ""}, {0x09, ",\"order\":\"key\""}};
    for (size_t i = 0; i < sizeof orders / sizeof orders[0]; i++) {
        char want[200];
        RESET();
        mp_map(&m, 3);
        mp_marker(&m, orders[i].flags);
        mp_nil(&m);
        mp_str(&m, "a");
        mp_int(&m, 1);
        mp_str(&m, "b");
        mp_int(&m, 2);
        snprintf(want, sizeof want, "{\"name\":\"b\",\"type\":\"map\",\"value\":{\"a\":1,\"b\":2}%s}",
                 orders[i].tail);
        is_str(bin_mp(SPW_PT_MAP, &m), want, "map with order flags 0x%02x", orders[i].flags);
    }
    RESET();
    mp_map(&m, 1);
    mp_marker(&m, 1);
    mp_nil(&m);
    is_str(bin_mp(SPW_PT_MAP, &m), "{\"name\":\"b\",\"type\":\"map\",\"value\":{},\"order\":\"key\"}",
           "empty key-ordered map");

    /* Nesting: [[1,[2,[]]],{"x":{"y":[{}]}},[]] with an ordered inner list. */
    RESET();
    mp_list(&m, 3);
    mp_list(&m, 2);
    mp_int(&m, 1);
    mp_list(&m, 3);
    mp_marker(&m, 1);
    mp_int(&m, 2);
    mp_list(&m, 0);
    mp_map(&m, 1);
    mp_str(&m, "x");
    mp_map(&m, 1);
    mp_str(&m, "y");
    mp_list(&m, 1);
    mp_map(&m, 0);
    mp_list(&m, 0);
    is_str(bin_mp(SPW_PT_LIST, &m),
           "{\"name\":\"b\",\"type\":\"list\",\"value\":[[1,[2,[]]],{\"x\":{\"y\":[{}]}},[]],\"ordered\":false}",
           "nested lists and maps; inner order flags dropped");
    RESET();
    mp_map(&m, 2);
    mp_str(&m, "l");
    mp_list(&m, 2);
    mp_map(&m, 1);
    mp_str(&m, "k");
    mp_list(&m, 0);
    mp_int(&m, 5);
    mp_str(&m, "z");
    mp_map(&m, 0);
    is_str(bin_mp(SPW_PT_MAP, &m),
           "{\"name\":\"b\",\"type\":\"map\",\"value\":{\"l\":[{\"k\":[]},5],\"z\":{}}}",
           "map values that are containers; closing several at once");

    /* Non-string keys. */
    RESET();
    mp_map(&m, 9);
    mp_int(&m, 1);
    mp_str(&m, "a");
    mp_int(&m, -2);
    mp_str(&m, "b");
    mp_double(&m, 1.5);
    mp_str(&m, "c");
    mp_typed(&m, SPW_PT_BLOB, "\x01\x02", 2, true);
    mp_str(&m, "d");
    mp_bool(&m, true);
    mp_str(&m, "e");
    mp_nil(&m);
    mp_str(&m, "f");
    mp_uint(&m, UINT64_MAX);
    mp_str(&m, "g");
    mp_raw(&m, "\xd4\xff\x00", 3); /* wildcard */
    mp_str(&m, "h");
    mp_double(&m, NAN);
    mp_str(&m, "i");
    const char *keys_want =
        "{\"name\":\"b\",\"type\":\"map\",\"value\":{\"1\":\"a\",\"-2\":\"b\",\"1.5\":\"c\",\"AQI=\":\"d\","
        "\"true\":\"e\",\"null\":\"f\",\"18446744073709551615\":\"g\",\"null\":\"h\",\"NaN\":\"i\"}}";
    is_str(bin_mp(SPW_PT_MAP, &m), keys_want, "stringify_map_keys: int, double, blob, bool, nil, uint, ext, NaN");
    cfg.non_finite = JCODEC_NONFINITE_NULL;
    use(cfg);
    is_str(bin_mp(SPW_PT_MAP, &m), keys_want, "non_finite=null still names a NaN key");
    cfg.non_finite = JCODEC_NONFINITE_REJECT;
    use(cfg);
    has_str(bin_mp(SPW_PT_MAP, &m), "REJECT: json codec: bin \"b\": a double is NaN", "non_finite=reject: NaN key rejects");
    cfg = default_cfg();
    cfg.stringify_map_keys = false;
    use(cfg);
    has_str(bin_mp(SPW_PT_MAP, &m),
            "REJECT: json codec: bin \"b\": a map key is an integer and stringify_map_keys is off",
            "stringify off: an integer key rejects, naming the bin");
    RESET();
    mp_map(&m, 1);
    mp_typed(&m, SPW_PT_BLOB, "\x01", 1, false);
    mp_int(&m, 1);
    has_str(bin_mp(SPW_PT_MAP, &m), "a map key is a blob and stringify_map_keys is off", "stringify off: blob key");
    RESET();
    mp_map(&m, 2);
    mp_str(&m, "a");
    mp_int(&m, 1);
    mp_str(&m, "");
    mp_int(&m, 2);
    is_str(bin_mp(SPW_PT_MAP, &m), "{\"name\":\"b\",\"type\":\"map\",\"value\":{\"a\":1,\"\":2}}",
           "stringify off: string keys (also empty) pass");
    use(default_cfg());
    RESET();
    mp_map(&m, 1);
    mp_list(&m, 1);
    mp_int(&m, 1);
    mp_int(&m, 2);
    has_str(bin_mp(SPW_PT_MAP, &m), "REJECT: json codec: bin \"b\": a map key is a list", "a list as a key rejects");
    RESET();
    mp_map(&m, 1);
    mp_map(&m, 0);
    mp_int(&m, 2);
    has_str(bin_mp(SPW_PT_MAP, &m), "a map key is a map", "an empty map as a key rejects");

    /* Bytes, GeoJSON, ext, big integers and floats inside. */
    RESET();
    mp_list(&m, 12);
    mp_typed(&m, SPW_PT_BLOB, "\x00\xff", 2, false);
    mp_typed(&m, SPW_PT_BLOB, "\x00\xff", 2, true);
    mp_typed(&m, SPW_PT_JBLOB, "\x01\x02", 2, false);
    const char *pt = "{\"type\":\"Point\", \"coordinates\":[1,2]}";
    mp_typed(&m, SPW_PT_GEOJSON, pt, strlen(pt), false);
    mp_typed(&m, SPW_PT_GEOJSON, "nope", 4, false);
    mp_raw(&m, "\xd4\xff\x00", 3); /* wildcard */
    mp_raw(&m, "\xd4\xff\x01", 3); /* infinity */
    mp_uint(&m, 9223372036854775808ull);
    mp_float(&m, 1.5f);
    mp_float(&m, 0.1f);
    mp_raw(&m, "\xa0", 1);     /* str without even a prefix byte */
    mp_raw(&m, "\xc4\x00", 2); /* bin without a prefix byte */
    is_str(bin_mp(SPW_PT_LIST, &m),
           "{\"name\":\"b\",\"type\":\"list\",\"value\":[\"AP8=\",\"AP8=\",\"AQI=\",{\"type\":\"Point\","
           "\"coordinates\":[1,2]},\"nope\",null,null,9223372036854775808,1.5,0.10000000149011612,\"\",\"\"],"
           "\"ordered\":false}",
           "blobs, GeoJSON (object / not JSON), wildcard, infinity, uint, float32, empty str and bin");
    RESET();
    mp_list(&m, 3);
    mp_double(&m, NAN);
    mp_double(&m, INFINITY);
    mp_double(&m, -INFINITY);
    is_str(bin_mp(SPW_PT_LIST, &m),
           "{\"name\":\"b\",\"type\":\"list\",\"value\":[\"NaN\",\"Infinity\",\"-Infinity\"],\"ordered\":false}",
           "non-finite doubles inside a list");
    cfg = default_cfg();
    cfg.non_finite = JCODEC_NONFINITE_NULL;
    use(cfg);
    is_str(bin_mp(SPW_PT_LIST, &m),
           "{\"name\":\"b\",\"type\":\"list\",\"value\":[null,null,null],\"ordered\":false}",
           "non_finite=null inside a list");
    RESET();
    mp_list(&m, 2);
    mp_typed(&m, SPW_PT_STRING, "a\xff", 2, false);
    mp_map(&m, 1);
    mp_typed(&m, SPW_PT_STRING, "\xfe", 1, false);
    mp_int(&m, 1);
    use(default_cfg());
    is_str(bin_mp(SPW_PT_LIST, &m),
           "{\"name\":\"b\",\"type\":\"list\",\"value\":[\"a\xef\xbf\xbd\",{\"\xef\xbf\xbd\":1}],\"ordered\":false}",
           "invalid UTF-8 inside a list and in a key: replaced");
    cfg = default_cfg();
    cfg.invalid_utf8 = JCODEC_UTF8_BASE64;
    use(cfg);
    is_str(bin_mp(SPW_PT_LIST, &m),
           "{\"name\":\"b\",\"type\":\"list\",\"value\":[\"Yf8=\",{\"/g==\":1}],\"ordered\":false}",
           "invalid_utf8=base64 inside a list and in a key");
    cfg.invalid_utf8 = JCODEC_UTF8_REJECT;
    use(cfg);
    has_str(bin_mp(SPW_PT_LIST, &m), "REJECT: json codec: bin \"b\": a string is not valid UTF-8",
            "invalid_utf8=reject inside a list");
    use(default_cfg());

    /* Malformed values. */
    has_str(bin_hex(SPW_PT_LIST, "930102"), "REJECT: json codec: bin \"b\": the list value is malformed or truncated",
            "truncated list");
    has_str(bin_hex(SPW_PT_LIST, "910102"), "REJECT", "bytes after the list");
    has_str(bin_hex(SPW_PT_MAP, "9101"), "REJECT: json codec: bin \"b\": the map value holds a list",
            "a map bin holding a list");
    has_str(bin_hex(SPW_PT_LIST, "810102"), "the list value holds a map", "a list bin holding a map");
    has_str(bin_hex(SPW_PT_LIST, ""), "REJECT", "an empty list value");
    has_str(bin_hex(SPW_PT_LIST, "01"), "the list value holds an integer", "a list bin holding an int");
    has_str(bin_hex(SPW_PT_MAP, "81a20361"), "REJECT", "a map missing a value");
    has_str(bin_hex(SPW_PT_LIST, "91c1"), "REJECT", "the never-used byte 0xc1");
    RESET();
    for (int i = 0; i <= SPW_WALK_MAX_DEPTH; i++)
        mp_list(&m, 1);
    mp_int(&m, 7);
    has_str(bin_mp(SPW_PT_LIST, &m), "REJECT", "nesting beyond the walker's limit rejects");
    RESET();
    for (int i = 0; i < SPW_WALK_MAX_DEPTH; i++)
        mp_list(&m, 1);
    mp_int(&m, 7);
    has_str(bin_mp(SPW_PT_LIST, &m), "[[[[[[[[[[7]]]]]]]]]]", "nesting at the walker's limit is written");
    RESET();
    mp_list(&m, 1000);
    for (int i = 0; i < 1000; i++)
        mp_int(&m, i);
    has_str(bin_mp(SPW_PT_LIST, &m), ",998,999],\"ordered\":false}", "a 1000-element list (array 16 header)");
#undef RESET
    spw_buf_free(&m);
}

/* A process locale with a decimal comma must not reach the output. */
static void test_locale(void) {
    static const char *comma[] = {"de_DE.UTF-8", "fr_FR.UTF-8", "de_DE.utf8", "fr_FR.utf8", "ru_RU.UTF-8"};
    const char *got = NULL;
    for (size_t i = 0; i < sizeof comma / sizeof comma[0] && !got; i++)
        got = setlocale(LC_NUMERIC, comma[i]);
    if (!got) {
        ok(1, "# SKIP no decimal-comma locale installed");
        return;
    }
    use(default_cfg());
    is_str(bin_double(1.0 / 3e200), "{\"name\":\"b\",\"type\":\"float\",\"value\":3.3333333333333335e-201}",
           "locale %s: the general path still writes '.'", got);
    is_str(bin_geo("{\"a\":1.5e300}"), "{\"name\":\"b\",\"type\":\"geojson\",\"value\":{\"a\":1.5e300}}",
           "locale %s: GeoJSON numbers still read", got);
    setlocale(LC_NUMERIC, "C");
}

/* ---- doubles and strings against Python ---- */

static void check_double(double d, unsigned *bad) {
    char buf[JCODEC_DOUBLE_MAX + 1];
    size_t n = jcodec_fmt_double(buf, d, g_codec.c_locale);
    buf[n] = '\0';
    char *end;
    double back = strtod(buf, &end);
    if (back != d || *end || (d == 0 && signbit(d) != signbit(back)) || !strpbrk(buf, ".e")) {
        if (++*bad <= 5)
            diag("double %.17g written as %s", d, buf);
    }
    uint64_t u;
    memcpy(&u, &d, 8);
    if (pyf)
        fprintf(pyf, "D\t%016" PRIx64 "\t%s\n", u, buf);
}

static void test_doubles_random(void) {
    unsigned bad = 0;
    for (int i = 0; i < 20000; i++) {
        double d;
        uint64_t u = rnd();
        switch (i % 4) {
        case 0: memcpy(&d, &u, 8); break;                                  /* any bits */
        case 1: d = (double)(int64_t)(u % 2000000001) / pow(10, rn(9)); break; /* prices, coords */
        case 2: d = ldexp((double)(u >> 11), (int)rn(200) - 150); break;
        default: d = (double)(u % 100000) * pow(10, (int)rn(40) - 20); break;
        }
        if (!isfinite(d))
            continue;
        check_double(d, &bad);
        check_double(-d, &bad);
    }
    /* Subnormals, powers of ten and their neighbours. */
    for (int e = -325; e <= 308; e++) {
        double d = pow(10, e);
        check_double(d, &bad);
        check_double(nextafter(d, 0), &bad);
        check_double(nextafter(d, INFINITY), &bad);
    }
    /* Every power of two (their rounding interval is lopsided) and a few
     * multiples of them. */
    for (int e = -1074; e <= 1023; e++) {
        check_double(ldexp(1, e), &bad);
        check_double(ldexp(3, e - 1), &bad);
        check_double(nextafter(ldexp(1, e), 0), &bad);
    }
    is_int(bad, 0, "46k doubles: text reads back exactly and looks like a float");
}

static void test_strings_random(void) {
    unsigned bad = 0, agree = 0;
    spw_buf b = SPW_BUF_INIT;
    for (int i = 0; i < 5000; i++) {
        uint8_t s[300];
        size_t n = rand_text(s, sizeof s, i % 2), nbad = 0;
        spw_buf_reset(&b);
        if (jcodec_put_string(&b, s, n, &nbad) != SPW_OK)
            abort();
        const char *why;
        if (!valid_json((const char *)b.data, b.len, &why) && ++bad <= 5)
            diag("string case %d: %s", i, why);
        if ((nbad == 0) == spw_utf8_valid(s, n))
            agree++;
        if (pyf) {
            fputs("U\t", pyf);
            put_hex(pyf, s, n);
            fputc('\t', pyf);
            fwrite(b.data, 1, b.len, pyf);
            fputc('\n', pyf);
        }
    }
    is_int(bad, 0, "5000 random strings escape to valid JSON strings");
    is_int(agree, 5000, "the escaper's idea of valid UTF-8 matches spw_utf8_valid");
    spw_buf_free(&b);
}

/* The inlined short-string path (jcodec_put_str) writes what the general
 * escaper writes, at every length around its word boundaries, for plain
 * ASCII and for strings with one byte that needs attention (a quote, a
 * backslash, a control byte, a UTF-8 lead or a stray continuation byte)
 * at every position; with a buffer that has and has not room. */
static void test_strings_short(void) {
    static const uint8_t specials[] = {'"', '\\', '\n', 0x01, 0x1f, 0x7f, 0xc3, 0x80, 0xff};
    unsigned bad = 0, cases = 0;
    spw_buf want = SPW_BUF_INIT, got = SPW_BUF_INIT;
    for (size_t n = 0; n <= 70; n++)
        for (size_t pos = 0; pos <= n; pos++)
            for (size_t k = 0; k <= sizeof specials; k++) {
                uint8_t s[80];
                for (size_t i = 0; i < n; i++)
                    s[i] = (uint8_t)('a' + (i * 7 + n) % 26);
                if (k < sizeof specials && pos < n)
                    s[pos] = specials[k];
                else if (pos > 0 || k > 0)
                    continue; /* plain ASCII: once per length */
                for (int tight = 0; tight < 2; tight++) {
                    size_t wb = 0, gb = 0;
                    spw_buf_reset(&want);
                    spw_buf_free(&got);
                    if (!tight && spw_buf_reserve(&got, 200) != SPW_OK)
                        abort();
                    if (jcodec_put_string(&want, s, n, &wb) != SPW_OK ||
                        jcodec_put_str(&got, s, n, &gb) != SPW_OK)
                        abort();
                    cases++;
                    if ((want.len != got.len || memcmp(want.data, got.data, want.len) || wb != gb) &&
                        ++bad <= 5)
                        diag("short string n=%zu pos=%zu special %zu: differs", n, pos, k);
                }
            }
    is_int(bad, 0, "%u short strings: the inlined path writes what jcodec_put_string writes", cases);
    spw_buf_free(&want);
    spw_buf_free(&got);
}

/* Integers: the fixed-point digit writer against plain division, for every
 * value below 10^8 (every leading chunk and every 8-digit group it can
 * write), each power of ten and its neighbours, and random 64-bit values;
 * negative ones through jcodec_fmt_i64 against snprintf. */
static void ref_u64(char *out, uint64_t v) {
    char tmp[24];
    int n = 0;
    do
        tmp[n++] = (char)('0' + v % 10);
    while ((v /= 10) != 0);
    for (int i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    out[n] = 0;
}

static void test_integers(void) {
    unsigned bad = 0;
    char got[32], want[32];
    /* want counts up in decimal like an odometer: cheap enough for 10^8. */
    size_t wn = 1;
    memcpy(want, "0", 2);
    for (uint64_t v = 0; v < 100000000u; v++) {
        size_t n = jcodec_fmt_u64(got, v);
        if ((n != wn || memcmp(got, want, n)) && ++bad <= 5)
            diag("%" PRIu64 " written as %.*s", v, (int)n, got);
        size_t i = wn;
        while (i > 0 && want[i - 1] == '9')
            want[--i] = '0';
        if (i == 0) {
            memmove(want + 1, want, wn + 1);
            want[0] = '1';
            wn++;
        } else
            want[i - 1]++;
    }
    is_int(bad, 0, "every integer below 10^8 is written as plain division writes it");
    bad = 0;
    uint64_t p = 1, x = 0x9e3779b97f4a7c15ull;
    for (int e = 0; e < 20; e++, p *= 10)
        for (int d = -2; d <= 2; d++) {
            uint64_t v = p + (uint64_t)(int64_t)d;
            size_t n = jcodec_fmt_u64(got, v);
            got[n] = 0;
            ref_u64(want, v);
            if (strcmp(got, want) && ++bad <= 5)
                diag("%" PRIu64 " written as %s", v, got);
        }
    for (int i = 0; i < 2000000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        uint64_t v = x >> (i % 64);
        size_t n = jcodec_fmt_u64(got, v);
        got[n] = 0;
        ref_u64(want, v);
        if (strcmp(got, want) && ++bad <= 5)
            diag("%" PRIu64 " written as %s", v, got);
        int64_t sv = (int64_t)(x >> (i % 64)) * (i & 1 ? -1 : 1);
        n = jcodec_fmt_i64(got, sv);
        got[n] = 0;
        snprintf(want, sizeof want, "%" PRId64, sv);
        if (strcmp(got, want) && ++bad <= 5)
            diag("%" PRId64 " written as %s", sv, got);
    }
    static const int64_t ends[] = {INT64_MIN, INT64_MIN + 1, -1, 0, INT64_MAX};
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        size_t n = jcodec_fmt_i64(got, ends[i]);
        got[n] = 0;
        snprintf(want, sizeof want, "%" PRId64, ends[i]);
        if (strcmp(got, want) && ++bad <= 5)
            diag("%" PRId64 " written as %s", ends[i], got);
    }
    size_t n = jcodec_fmt_u64(got, UINT64_MAX);
    got[n] = 0;
    if (strcmp(got, "18446744073709551615"))
        bad++;
    is_int(bad, 0, "powers of ten, their neighbours, 4M random values, the extremes");
}

/* Mutated JSON documents: embedded only when strict JSON, and then equal
 * to what jansson reads from the original. */
static void test_embed_random(void) {
    static const char *docs[] = {
        "{\"type\":\"Point\",\"coordinates\":[-122.5,37.25]}",
        "{ \"type\" : \"LineString\", \"coordinates\" : [ [1, 2], [3.5e1, -4E-2] ] }",
        "{\"a\":{\"b\":[true,false,null,\"x\\\"y\\u00e9\"]},\"c\":-0}",
        "{\n\t\"k\": \"\xc3\xa9\xf0\x9f\x98\x80\",\r\n \"n\": 12345678901234567890 }",
    };
    unsigned embedded = 0, strings = 0, bad = 0;
    spw_buf b = SPW_BUF_INIT;
    for (int i = 0; i < 20000; i++) {
        uint8_t t[256];
        const char *d = docs[rn(4)];
        size_t n = strlen(d);
        memcpy(t, d, n);
        unsigned muts = rn(3);
        for (unsigned k = 0; k < muts && n > 0; k++) {
            static const char pool[] = "{}[]\":,.-+eE0123456789 \t\n\\untrlfasx\x01\xff\xc3";
            switch (rn(3)) {
            case 0: {
                size_t at = rn((uint32_t)n); /* one draw per statement: a fixed order */
                t[at] = (uint8_t)pool[rn(sizeof pool - 1)];
                break;
            }
            case 1: n = rn((uint32_t)n); break;
            default:
                if (n < sizeof t - 1) {
                    size_t at = rn((uint32_t)n + 1);
                    memmove(t + at + 1, t + at, n - at);
                    t[at] = (uint8_t)pool[rn(sizeof pool - 1)];
                    n++;
                }
            }
        }
        spw_buf_reset(&b);
        spw_result r = jcodec_embed_object(&b, t, n, g_codec.c_locale);
        if (r == SPW_OK) {
            embedded++;
            json_error_t je;
            json_t *got = parse((const char *)b.data, b.len, &je);
            json_t *want = parse((const char *)t, n, &je);
            bool same = got && want && json_equal(got, want) && json_is_object(got) &&
                        !memchr(b.data, '\n', b.len) && b.len <= n;
            if (!same && ++bad <= 5)
                diag("embedded %.*s from %.*s", (int)b.len, b.data, (int)n, t);
            json_decref(got);
            json_decref(want);
        } else if (r == SPW_ERR_INVAL) {
            strings++;
            if (b.len != 0 && ++bad <= 5)
                diag("a refused document left output behind");
        } else {
            bad++;
        }
    }
    diag("GeoJSON fuzz: %u embedded, %u sent as strings", embedded, strings);
    is_int(bad, 0, "mutated documents: embedded copies equal the original's meaning");
    ok(embedded > 1000 && strings > 1000, "both outcomes occur in the fuzz");
    spw_buf_free(&b);
}

/* ---- batches, content types, the descriptor ---- */

static void test_frame(void) {
    jcodec_config cfg = default_cfg();
    use(cfg);
    spw_slice recs[2] = {{(const uint8_t *)"{\"a\":1}", 7}, {(const uint8_t *)"{\"b\":2}", 7}};
    spw_buf b = SPW_BUF_INIT;
    spw_err err;
    ok(jcodec_frame(&g_codec, recs, 2, &b, &err) == SPW_OK, "ndjson frame");
    set_text(b.data, b.len);
    is_str(g_text, "{\"a\":1}\n{\"b\":2}\n", "ndjson: one record per line");
    spw_buf_reset(&b);
    jcodec_frame(&g_codec, recs, 0, &b, &err);
    is_int(b.len, 0, "ndjson: empty batch is empty");
    is_str(jcodec_content_type(&g_codec, true), "application/x-ndjson", "ndjson content type");
    is_str(jcodec_content_type(&g_codec, false), "application/json", "single record content type");
    cfg.batch_format = JCODEC_BATCH_ARRAY;
    use(cfg);
    spw_buf_reset(&b);
    jcodec_frame(&g_codec, recs, 2, &b, &err);
    set_text(b.data, b.len);
    is_str(g_text, "[{\"a\":1},{\"b\":2}]", "array framing");
    const char *why;
    ok(valid_json(g_text, strlen(g_text), &why), "array frame is JSON");
    spw_buf_reset(&b);
    jcodec_frame(&g_codec, recs, 1, &b, &err);
    set_text(b.data, b.len);
    is_str(g_text, "[{\"a\":1}]", "array of one");
    spw_buf_reset(&b);
    jcodec_frame(&g_codec, recs, 0, &b, &err);
    set_text(b.data, b.len);
    is_str(g_text, "[]", "empty array");
    is_str(jcodec_content_type(&g_codec, true), "application/json", "array content type");
    is_str(jcodec_content_type(&g_codec, false), "application/json", "single record content type");
    spw_buf_free(&b);
}

extern const spw_plugin spw_plugin_descriptor;

static void test_descriptor(void) {
    const spw_plugin *p = &spw_plugin_descriptor;
    ok(p->abi_major == SPW_ABI_MAJOR && p->abi_minor == SPW_ABI_MINOR &&
           p->struct_size == sizeof(spw_plugin),
       "descriptor carries the ABI version");
    is_int(p->kind, SPW_KIND_CODEC, "kind codec");
    is_str(p->name, "json", "name json");
    ok(p->codec && p->codec->encode && p->codec->frame && p->codec->content_type && !p->sink &&
           !p->source && !p->filter,
       "codec ops only");
    is_int(p->config_size, sizeof(jcodec_config), "config size");
    options_ok(p, 7, "seven options");
    spw_err terr = {{0}};
    jcodec_config def;
    memset(&def, 0x55, sizeof def);
    jcodec_config want = default_cfg();
    ok(spw__opts_defaults(p->options, &def, &terr) == SPW_OK && def.batch_format == want.batch_format &&
           def.delete_metadata == want.delete_metadata && def.bin_luts == want.bin_luts &&
           def.stringify_map_keys == want.stringify_map_keys &&
           def.invalid_utf8 == want.invalid_utf8 && def.non_finite == want.non_finite &&
           def.id_field && !*def.id_field,
       "the table's defaults are the documented ones");
    if (terr.msg[0])
        diag("%s", terr.msg);
    spw__opts_free(p->options, &def); /* id_field's default is an allocated "" */

    /* Through the ops, as the core calls them. */
    jcodec_config cfg = default_cfg();
    cfg.batch_format = JCODEC_BATCH_ARRAY;
    void *inst = NULL;
    spw_err err = {{0}};
    ok(p->create(NULL, &cfg, &inst, &err) == SPW_OK && inst, "create");
    spw_event *ev = frame_write();
    spw_buf b = SPW_BUF_INIT;
    ok(p->codec->encode(inst, ev, &b, &err) == SPW_OK, "encode through the ops");
    set_text(b.data, b.len);
    has_str(g_text, "{\"name\":\"name\",\"type\":\"str\",\"value\":\"colton\"}", "same output");
    spw_slice s = {b.data, b.len};
    spw_buf f = SPW_BUF_INIT;
    ok(p->codec->frame(inst, &s, 1, &f, &err) == SPW_OK && f.len == b.len + 2 && f.data[0] == '[',
       "frame through the ops");
    is_str(p->codec->content_type(inst, true), "application/json", "content type through the ops");
    p->destroy(inst);
    spw_event_unref(ev);
    spw_buf_free(&b);
    spw_buf_free(&f);
}

/* A rejected record leaves what was in the buffer; an accepted one appends. */
static void test_rollback(void) {
    use(default_cfg());
    spw_buf b = SPW_BUF_INIT;
    spw_err err = {{0}};
    spw_buf_append(&b, "XYZ", 3);
    spw_event *ev = new_write();
    spw_event_add_bin(ev, "ok", 2, SPW_PT_STRING, "a long enough string to have been written", 41, 0);
    spw_event_add_bin(ev, "bad", 3, SPW_PT_INTEGER, "\x01", 1, 0);
    ok(jcodec_encode(&g_codec, ev, &b, &err) == SPW_REJECT, "rejected");
    ok(b.len == 3 && memcmp(b.data, "XYZ", 3) == 0, "the buffer is as it was");
    has_str(err.msg, "bin \"bad\": malformed integer", "the reason names the bin");
    spw_event_unref(ev);
    ev = frame_write();
    ok(jcodec_encode(&g_codec, ev, &b, &err) == SPW_OK && b.len > 3 && memcmp(b.data, "XYZ{", 4) == 0,
       "an accepted record is appended");
    spw_event_unref(ev);
    spw_buf_free(&b);
}

/* ---- randomized events ---- */

#define NCODECS 144
static jcodec codecs[NCODECS];
static const jcodec_config *cfg_of(unsigned i) { return &codecs[i].cfg; }

static void b64(const uint8_t *p, size_t n, char *out) {
    spw_buf t = SPW_BUF_INIT;
    spw_buf_append_base64(&t, p, n);
    if (t.len)
        memcpy(out, t.data, t.len);
    out[t.len] = '\0';
    spw_buf_free(&t);
}

/* A valid collection value with the JSON it must become (clean mode: no
 * policy can reject it). */
static json_t *gen_value(spw_buf *m, int depth, const jcodec_config *cfg);

static json_t *gen_scalar(spw_buf *m, const jcodec_config *cfg) {
    uint8_t t[200];
    char tmp[400];
    size_t n;
    switch (rn(10)) {
    case 0: mp_nil(m); return json_null();
    case 1: {
        bool b = rn(2);
        mp_bool(m, b);
        return json_boolean(b);
    }
    case 2: {
        int64_t v = (int64_t)rnd();
        v >>= rn(64);
        mp_int(m, v);
        return json_integer(v);
    }
    case 3: {
        double d;
        uint64_t u = rnd();
        memcpy(&d, &u, 8);
        if (!isfinite(d))
            d = (double)(u % 100000) / 100;
        mp_double(m, d);
        return json_real(d);
    }
    case 4: {
        float f = (float)(rnd() % 1000000) / 1024.0f;
        mp_float(m, f);
        return json_real(f);
    }
    case 5:
    case 6:
        n = rand_text(t, 40, false);
        mp_typed(m, SPW_PT_STRING, t, n, rn(4) == 0);
        return json_stringn((const char *)t, n);
    case 7: {
        static const uint8_t types[] = {4, 7, 8, 9, 10, 11, 12, 16, 18};
        n = rn(30);
        for (size_t i = 0; i < n; i++)
            t[i] = (uint8_t)rnd();
        uint8_t type = types[rn(9)];
        mp_typed(m, type, t, n, rn(2));
        b64(t, n, tmp);
        return json_string(tmp);
    }
    case 8: {
        static const char *geo[] = {"{\"type\":\"Point\",\"coordinates\":[1.5,-2]}",
                                    "{ \"type\": \"Point\",\n \"coordinates\": [ 0, 0 ] }"};
        const char *g = geo[rn(2)];
        json_error_t je;
        mp_typed(m, SPW_PT_GEOJSON, g, strlen(g), false);
        return json_loads(g, 0, &je);
    }
    default:
        mp_raw(m, rn(2) ? "\xd4\xff\x00" : "\xd4\xff\x01", 3);
        return json_null();
    }
}

/* A key and its expected JSON text; string keys only when stringify is off. */
static void gen_key(spw_buf *m, const jcodec_config *cfg, char *out, size_t *outlen) {
    uint8_t t[64];
    size_t n;
    unsigned k = cfg->stringify_map_keys ? rn(6) : 0;
    switch (k) {
    case 1: {
        int64_t v = (int64_t)rnd();
        v >>= rn(64);
        mp_int(m, v);
        *outlen = (size_t)sprintf(out, "%" PRId64, v);
        return;
    }
    case 2: {
        double d = (double)(int64_t)(rnd() % 100000) / 8;
        mp_double(m, d);
        *outlen = jcodec_fmt_double(out, d, NULL);
        return;
    }
    case 3:
        n = rn(10);
        for (size_t i = 0; i < n; i++)
            t[i] = (uint8_t)rnd();
        mp_typed(m, SPW_PT_BLOB, t, n, rn(2));
        b64(t, n, out);
        *outlen = strlen(out);
        return;
    case 4: {
        bool b = rn(2);
        mp_bool(m, b);
        *outlen = (size_t)sprintf(out, "%s", b ? "true" : "false");
        return;
    }
    case 5:
        mp_nil(m);
        *outlen = (size_t)sprintf(out, "null");
        return;
    default:
        do /* jansson keeps keys with NUL only through the n-variants; avoid them */
            n = rand_text(t, 12, false);
        while (memchr(t, 0, n));
        mp_typed(m, SPW_PT_STRING, t, n, false);
        memcpy(out, t, n);
        *outlen = n;
    }
}

static json_t *gen_value(spw_buf *m, int depth, const jcodec_config *cfg) {
    unsigned k = rn(depth < 4 ? 14 : 10);
    if (k < 10)
        return gen_scalar(m, cfg);
    uint32_t n = rn(6);
    bool marker = rn(3) == 0;
    if (k < 12) {
        json_t *a = json_array();
        mp_list(m, n + marker);
        if (marker)
            mp_marker(m, 1);
        for (uint32_t i = 0; i < n; i++)
            json_array_append_new(a, gen_value(m, depth + 1, cfg));
        return a;
    }
    json_t *o = json_object();
    mp_map(m, n + marker);
    if (marker) {
        mp_marker(m, rn(2) ? 1 : 3);
        mp_nil(m);
    }
    for (uint32_t i = 0; i < n; i++) {
        char key[128];
        size_t kl;
        gen_key(m, cfg, key, &kl);
        json_object_setn_new(o, key, kl, gen_value(m, depth + 1, cfg));
    }
    return o;
}

/* Hostile bytes: a valid value, then flipped, cut, grown or replaced. */
static void mutate(spw_buf *m) {
    unsigned muts = 1 + rn(3);
    for (unsigned k = 0; k < muts; k++) {
        switch (rn(5)) {
        case 0:
            if (m->len) {
                size_t at = rn((uint32_t)m->len);
                m->data[at] = (uint8_t)rnd();
            }
            break;
        case 1:
            m->len = rn((uint32_t)m->len + 1);
            break;
        case 2: {
            uint8_t c = (uint8_t)rnd();
            mp_raw(m, &c, 1);
            break;
        }
        case 3:
            if (m->len) {
                size_t at = rn((uint32_t)m->len);
                m->data[at] ^= (uint8_t)(1u << rn(8));
            }
            break;
        default:
            m->len = 0;
            if (spw_buf_reserve(m, 40) != SPW_OK)
                abort();
            m->len = rn(40);
            for (size_t i = 0; i < m->len; i++)
                m->data[i] = (uint8_t)rnd();
        }
    }
}

/* One random bin into ev; *want gets its expected value in clean mode. */
static void gen_bin(spw_event *ev, spw_buf *m, const jcodec_config *cfg, bool clean, json_t **want,
                    int *collection) {
    uint8_t name[20], v[200];
    size_t nl = rand_text(name, 14, !clean), n = 0;
    uint8_t type;
    *want = NULL;
    *collection = 0;
    unsigned k = rn(clean ? 9 : 12);
    spw_buf_reset(m);
    switch (k) {
    case 0: type = SPW_PT_INTEGER; n = 8; break;
    case 1: type = SPW_PT_DOUBLE; n = 8; break;
    case 2: type = SPW_PT_STRING; n = rand_text(v, 100, !clean); break;
    case 3: {
        static const uint8_t types[] = {0, 4, 7, 8, 9, 10, 11, 12, 16, 18};
        type = types[rn(10)];
        n = type ? rn(60) : 0;
        break;
    }
    case 4: type = SPW_PT_BOOL; n = 1; break;
    case 5:
    case 6:
    case 7: {
        bool map = rn(2);
        type = map ? SPW_PT_MAP : SPW_PT_LIST;
        uint32_t cnt = rn(8);
        bool marker = rn(3) == 0;
        uint8_t order = marker ? (uint8_t)(map ? (rn(2) ? 1 : 3) : 1) : 0;
        json_t *j = map ? json_object() : json_array();
        if (map) {
            mp_map(m, cnt + marker);
            if (marker) {
                mp_marker(m, order);
                mp_nil(m);
            }
        } else {
            mp_list(m, cnt + marker);
            if (marker)
                mp_marker(m, order);
        }
        for (uint32_t i = 0; i < cnt; i++) {
            if (map) {
                char key[128];
                size_t kl;
                gen_key(m, cfg, key, &kl);
                json_object_setn_new(j, key, kl, gen_value(m, 1, cfg));
            } else
                json_array_append_new(j, gen_value(m, 1, cfg));
        }
        if (clean) {
            *want = j;
            *collection = map ? (order == 3 ? 3 : order ? 1 : 2) : (order ? 4 : 5);
        } else {
            json_decref(j);
            mutate(m);
        }
        spw_event_add_bin(ev, name, nl, type, m->data, m->len, (int64_t)rn(3) * 1700000000000);
        return;
    }
    case 8: {
        static const char *geo[] = {"{\"type\":\"Point\",\"coordinates\":[1,2]}", "{\"a\":[",
                                    "not json", " { \"b\" : [ 1 , 2 ] } "};
        type = SPW_PT_GEOJSON;
        const char *g = geo[rn(4)];
        v[0] = 0;
        v[1] = 0;
        v[2] = 0;
        n = 3 + strlen(g);
        memcpy(v + 3, g, n - 3);
        break;
    }
    case 9: type = (uint8_t)rn(256); n = rn(20); break;
    case 10: type = (uint8_t)(rn(2) ? SPW_PT_INTEGER : SPW_PT_DOUBLE); n = rn(12); break;
    default: type = SPW_PT_GEOJSON; n = rn(30); break;
    }
    if (k != 2 && k != 8)
        for (size_t i = 0; i < n; i++)
            v[i] = (uint8_t)rnd();
    if (k == 4)
        v[0] = clean ? (uint8_t)rn(2) : (uint8_t)rn(3);
    if (k == 1 && clean) { /* a finite double in clean mode */
        double d = (double)(int64_t)rnd() / 1e6;
        uint64_t u;
        memcpy(&u, &d, 8);
        be64(v, u);
    }
    spw_event_add_bin(ev, name, nl, type, v, n, (int64_t)rn(3) * 1700000000000);
}

static void test_random(void) {
    /* Every combination of the options that change the output. */
    for (unsigned i = 0; i < NCODECS; i++) {
        jcodec_config c = {(int)(i & 1), (i >> 1) & 1, (i >> 2) & 1, (i >> 3) & 1,
                           (int)(i / 16 % 3), (int)(i / 48 % 3), NULL};
        jcodec_init(&codecs[i], &c);
    }
    unsigned n_ok = 0, n_rej = 0, bad = 0, clean_rej = 0, tree_bad = 0, compared = 0;
    spw_buf out = SPW_BUF_INIT, m = SPW_BUF_INIT;
    for (int iter = 0; iter < 50000; iter++) {
        unsigned ci = rn(NCODECS);
        const jcodec_config *cfg = cfg_of(ci);
        bool clean = rn(2);
        spw_event *ev = spw_event_new(16, 1 << 16);
        unsigned op = rn(clean ? 10 : 11);
        if (op < 9)
            spw_event_set_op(ev, SPW_OP_WRITE, false);
        else if (op == 9)
            spw_event_set_op(ev, SPW_OP_DELETE, rn(2));
        uint8_t t[64], dg[20];
        size_t tn = rand_text(t, 31, !clean);
        spw_event_set_namespace(ev, t, tn);
        if (rn(2)) {
            tn = rand_text(t, 63, !clean);
            spw_event_set_set(ev, t, tn);
        }
        for (int k = 0; k < 20; k++)
            dg[k] = (uint8_t)rnd();
        spw_event_set_digest(ev, dg);
        switch (rn(5)) {
        case 0: be64(t, rnd()); spw_event_set_key(ev, SPW_PT_INTEGER, t, 8); break;
        case 1: {
            double d = clean ? (double)(int64_t)rnd() / 3 : 0;
            uint64_t u = rnd();
            if (clean)
                memcpy(&u, &d, 8);
            be64(t, u);
            spw_event_set_key(ev, SPW_PT_DOUBLE, t, 8);
            break;
        }
        case 2: tn = rand_text(t, 40, !clean); spw_event_set_key(ev, SPW_PT_STRING, t, tn); break;
        case 3: tn = rn(30); for (size_t k = 0; k < tn; k++) t[k] = (uint8_t)rnd();
            spw_event_set_key(ev, SPW_PT_BLOB, t, tn); break;
        default: break;
        }
        spw_event_set_generation(ev, (uint32_t)rnd());
        spw_event_set_lut(ev, (int64_t)(rnd() >> 24), 0);
        spw_event_set_expiry(ev, (int64_t)(rnd() >> 34));
        unsigned nb = clean ? rn(13) : rn(5);
        json_t *want[16];
        int coll[16];
        for (unsigned k = 0; k < nb; k++)
            gen_bin(ev, &m, cfg, clean, &want[k], &coll[k]);

        spw_err err = {{0}};
        spw_buf_reset(&out);
        spw_result r = jcodec_encode(&codecs[ci], ev, &out, &err);
        if (r == SPW_OK) {
            n_ok++;
            const char *why = NULL;
            if (!valid_json((const char *)out.data, out.len, &why)) {
                if (++bad <= 5)
                    diag("event %d: %s: %.*s", iter, why, (int)(out.len > 300 ? 300 : out.len), out.data);
            } else if (spw_event_op(ev) == SPW_OP_WRITE) {
                json_error_t je;
                json_t *j = parse((const char *)out.data, out.len, &je);
                json_t *bins = json_object_get(j, "bins");
                json_t *key = json_object_get(j, "key");
                if (!json_is_array(bins) || json_array_size(bins) != nb || !json_is_array(key) ||
                    json_array_size(key) != 4 || !json_is_string(json_object_get(j, "msg"))) {
                    if (++bad <= 5)
                        diag("event %d: wrong structure", iter);
                }
                for (unsigned k = 0; clean && k < nb && json_is_array(bins); k++) {
                    if (!want[k])
                        continue;
                    json_t *bo = json_array_get(bins, k);
                    json_t *val = json_object_get(bo, "value");
                    json_t *ord = json_object_get(bo, "ordered");
                    json_t *order = json_object_get(bo, "order");
                    const char *os = json_string_value(order);
                    bool order_ok = coll[k] == 1   ? os && !strcmp(os, "key")
                                    : coll[k] == 3 ? os && !strcmp(os, "key-value")
                                    : coll[k] == 2 ? order == NULL
                                    : coll[k] == 4 ? json_is_true(ord)
                                                   : json_is_false(ord);
                    compared++;
                    if (!json_equal(val, want[k]) || !order_ok) {
                        if (++tree_bad <= 5) {
                            char *w = json_dumps(want[k], JSON_ENCODE_ANY | JSON_COMPACT);
                            diag("event %d bin %u: got %.*s want %s", iter, k,
                                 (int)(out.len > 400 ? 400 : out.len), out.data, w);
                            free(w);
                        }
                    }
                }
                json_decref(j);
            }
        } else if (r == SPW_REJECT) {
            n_rej++;
            if (clean && ++clean_rej <= 5)
                diag("clean event %d rejected: %s", iter, err.msg);
            if ((strncmp(err.msg, "json codec: ", 12) != 0 || out.len != 0) && ++bad <= 5)
                diag("event %d: reject without reason or with output: %s", iter, err.msg);
        } else {
            if (++bad <= 5)
                diag("event %d: result %d (%s)", iter, r, err.msg);
        }
        for (unsigned k = 0; k < nb; k++)
            json_decref(want[k]);
        spw_event_unref(ev);
    }
    diag("random events: %u written, %u rejected, %u collections compared", n_ok, n_rej, compared);
    is_int(bad, 0, "50k random events: valid JSON or a reasoned rejection, nothing else");
    is_int(clean_rej, 0, "clean events are never rejected");
    is_int(tree_bad, 0, "clean collections decode to exactly the expected JSON");
    ok(n_rej > 1000 && n_ok > 25000 && compared > 10000, "the run exercised both outcomes");
    for (unsigned i = 0; i < NCODECS; i++)
        jcodec_fini(&codecs[i]);
    spw_buf_free(&out);
    spw_buf_free(&m);
}

/* ---- steady state and speed ---- */

/* The steady state over the benchmark record (test-codec-common.h), a
 * frame, slow paths and a rejection; then the benchmark record's speed. */
static void test_steady_state(void) {
    use(default_cfg());
    spw_event *evs[4];
    evs[0] = bench_event();
    evs[1] = frame_write();
    spw_buf m = SPW_BUF_INIT;
    mp_list(&m, 4);
    mp_double(&m, 1e-300); /* slow double path */
    mp_typed(&m, SPW_PT_GEOJSON, " { \"a\" : 1e5 } ", 15, false);
    mp_str(&m, "\xff\n");
    mp_double(&m, NAN);
    evs[2] = new_write();
    spw_event_add_bin(evs[2], "m", 1, SPW_PT_LIST, m.data, m.len, 0);
    evs[3] = new_write();
    spw_event_add_bin(evs[3], "x", 1, SPW_PT_INTEGER, "\x01", 1, 0); /* rejected */
    spw_buf_free(&m);

    spw_buf out = SPW_BUF_INIT;
    spw_err err;
    tc_steady_state(codec_encode, &g_codec, evs, 4, 4000, &out,
                    "no allocation per record in the steady state");

    spw_buf_reset(&out);
    jcodec_encode(&g_codec, evs[0], &out, &err);
    size_t len = out.len;
    set_text(out.data, out.len);
    diag("bench record (%zu bytes): %s", len, g_text);
    int iters = 200000;
#if !TC_ALLOCS_COUNTED
    iters = 20000;
#endif
    double t0 = now_ns();
    for (int i = 0; i < iters; i++) {
        spw_buf_reset(&out);
        jcodec_encode(&g_codec, evs[0], &out, &err);
    }
    double ns = (now_ns() - t0) / iters;
    diag("encode: %.0f ns/record, %.0f MB/s (10 bins, %zu bytes)", ns, len / ns * 1e3, len);
    ok(ns > 0, "benchmark ran");
    for (int i = 0; i < 4; i++)
        spw_event_unref(evs[i]);
    spw_buf_free(&out);
}

/* ---- Python's reading of everything above ---- */

static void test_python(void) {
    fclose(pyf);
    pyf = NULL;
    python_ok(run_python(env_or("CODEC_JSON_CHECK", CODEC_JSON_CHECK_PY), pyf_path),
              "Python's json module reads every output; U+FFFD and shortest doubles agree");
}

int main(void) {
    int fd = mkstemp(pyf_path);
    pyf = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!pyf)
        diag("cannot create %s: Python checks skipped", pyf_path);

    test_frames();
    test_meta_exclude();
    test_user_keys();
    test_scalars();
    test_geojson();
    test_collections();
    test_locale();
    test_doubles_random();
    test_strings_random();
    test_strings_short();
    test_integers();
    test_embed_random();
    test_frame();
    test_descriptor();
    test_rollback();
    test_random();
    test_steady_state();
    if (pyf)
        test_python();
    unlink(pyf_path);

    jcodec_fini(&g_codec);
    spw_buf_free(&g_out);
    free(g_text);
    return tap_done();
}

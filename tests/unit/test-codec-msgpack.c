/*
 * tests/unit/test-codec-msgpack.c: the msgpack codec (plugins/codec-msgpack),
 * its sources compiled in.
 *
 * The reference frames of xdr-wire.md against bytes that msgpack-python's
 * packer produced for the same messages (written down here, so the test
 * does not trust this codec's writer); every integer and length boundary
 * against the smallest MessagePack form; every value shape read back with
 * msgpack-c's object API (an independent decoder in C); and every output
 * handed to the Python oracle (tests/codec-oracle.py), which decodes it
 * with msgpack-python and derives it again from the event.
 */
#include <msgpack.h>
#include <time.h>
#include <spillway/spillway.h>

#define TC_COUNT_ALLOCATIONS
#include "../../plugins/codec-msgpack/pack.h"
#include "../tap.h"
#include "test-codec-common.h"
#include "options.h" /* the core's option-table checks */

#ifndef CODEC_ORACLE_PY
#define CODEC_ORACLE_PY "tests/codec-oracle.py"
#endif

static mcodec g_codec;
static spw_buf g_out = SPW_BUF_INIT;
static char g_hex[1 << 16];
static char g_cfg_json[200];
static msgpack_unpacked g_unp;

static void use(mcodec_config cfg) {
    static const char *utf8[] = {"replace", "bin", "reject"};
    g_codec.cfg = cfg;
    snprintf(g_cfg_json, sizeof g_cfg_json,
             "{\"bin_luts\":%s,\"delete_metadata\":%s,\"invalid_utf8\":\"%s\"}",
             cfg.bin_luts ? "true" : "false", cfg.delete_metadata ? "true" : "false",
             utf8[cfg.invalid_utf8]);
}

/* The codec's encode, as tc_steady_state calls it. */
static spw_result codec_encode(void *codec, const spw_event *ev, spw_buf *out, spw_err *err) {
    return mcodec_encode(codec, ev, out, err);
}
static mcodec_config default_cfg(void) { return (mcodec_config){false, false, MCODEC_UTF8_REPLACE, false}; }

/*
 * Encodes ev. Returns the output as hex, or "REJECT: why". On success
 * msgpack-c must read exactly one object spanning the output; it is left
 * in g_unp for the caller to look into. Every case goes to the oracle.
 */
static const char *run_as(const spw_event *ev, bool clean) {
    spw_err err = {{0}};
    spw_buf_reset(&g_out);
    spw_result r = mcodec_encode(&g_codec, ev, &g_out, &err);
    if (r == SPW_OK) {
        for (size_t i = 0; i < g_out.len && 2 * i + 2 < sizeof g_hex; i++)
            sprintf(g_hex + 2 * i, "%02x", g_out.data[i]);
        size_t off = 0;
        msgpack_unpacked_destroy(&g_unp);
        msgpack_unpacked_init(&g_unp);
        if (msgpack_unpack_next(&g_unp, (const char *)g_out.data, g_out.len, &off) !=
                MSGPACK_UNPACK_SUCCESS || off != g_out.len)
            ok(0, "msgpack-c reads one object spanning the output: %s", g_hex);
    } else {
        snprintf(g_hex, sizeof g_hex, "REJECT: %s", err.msg);
        if (g_out.len)
            ok(0, "a rejected record leaves the buffer as it was");
    }
    oracle_case("msgpack", g_cfg_json, ev, clean, 0, r, g_out.data, g_out.len, err.msg);
    return g_hex;
}
static const char *run(const spw_event *ev) { return run_as(ev, true); }

/* Path into the last decoded message: element i of an array. */
static msgpack_object at(msgpack_object o, uint32_t i) {
    if (o.type != MSGPACK_OBJECT_ARRAY || i >= o.via.array.size) {
        msgpack_object nil = {.type = MSGPACK_OBJECT_NIL};
        return nil;
    }
    return o.via.array.ptr[i];
}
/* Bin entry i of a write message, element k. */
static msgpack_object bin_at(uint32_t i, uint32_t k) {
    return at(at(at(at(g_unp.data, 2), 4), i), k);
}

/* Hex of the value of a single bin b, or "REJECT: ..." */
static const char *one_bin(uint8_t type, const void *v, size_t n) {
    spw_event *ev = new_write();
    spw_event_add_bin(ev, "b", 1, type, v, n, 0);
    const char *got = run_as(ev, false);
    spw_event_unref(ev);
    /* 93 01 01 95 94 a2 6e73 c0 c4 14 <20 zero bytes> c0 00 00 c0 91 94 a1 62 TYPE FLAGS */
    static const char prefix[] = "9301019594a26e73c0c414"
                                 "0000000000000000000000000000000000000000"
                                 "c00000c09194a162";
    if (strncmp(got, prefix, sizeof prefix - 1) != 0)
        return got;
    return got + sizeof prefix - 1;
}

static void test_reference(void) {
    use(default_cfg());
    spw_event *w = ref_write(false);
    is_str(run(w),
           "9301019594a474657374a56d79736574c41478f26d30728c436ac5b7e2b79f7faa4b1c011576040100cf0000"
           "0193d18d412d9394a46e616d650300a6636f6c746f6e94a361676501001b94a76d617054657374130082a161"
           "01a16202",
           "reference write, byte for byte as msgpack-python packs [1,1,[KEY,1,0,lut,BINS]]");
    spw_event *d = ref_delete(false, false);
    is_str(run(d),
           "9301029294a474657374a56d79736574c414f9bb902ddd1874858475b66c8f36b950badb44f70e00",
           "reference delete: [1,2,[KEY,0]]");
    spw_event_unref(d);
    d = ref_delete(true, false);
    mcodec_config c = default_cfg();
    c.delete_metadata = true;
    use(c);
    is_str(run(d),
           "9301029494a474657374a56d79736574c414f9bb902ddd1874858475b66c8f36b950badb44f70e0102cf000001"
           "93d1a39558",
           "durable delete with delete_metadata: [KEY, 1, gen, lut]");
    spw_event_unref(d);
    use(default_cfg());

    spw_event *e = no_set_no_key_event();
    is_str(run(e),
           "9301019594a3626172c0c4141111111111111111111111111111111111111111c003ce70dbd880cf0000"
           "0193d18d3e789194a16e010001",
           "no set, no key: nil in both positions");
    spw_event_unref(e);
    e = empty_bins_event();
    is_str(run(e),
           "9301019594a474657374a464656d6fc4142222222222222222222222222222222222222222c4020063"
           "0900cf00000193d18d3e7890", "no bins: gen 9, exp 0, lut, an empty array");
    spw_event_unref(e);

    xform_view xv;
    is_str(run(xform(&xv, w, "msg,namespace,set,userKey,digest,gen,lut,exp,durable", "age:years", "mapTest")),
           "9301c09594c0c0c0c0c0c0c09294a46e616d650300a6636f6c746f6e94a5796561727301001b",
           "everything excluded: nil in every position, TYPE too; renamed and dropped bins");
    xform_done(&xv);
    spw_event_unref(w);
    d = ref_delete(true, false);
    c.delete_metadata = true;
    use(c);
    has_str(run(xform(&xv, d, "durable,gen", NULL, NULL)), "0ec0c0cf", "delete: FLAGS and gen nil when excluded");
    xform_done(&xv);
    spw_event_unref(d);
    use(default_cfg());
}

static void test_integers(void) {
    use(default_cfg());
    struct {
        int64_t v;
        const char *want;
    } cases[] = {
        {0, "00"}, {127, "7f"}, {128, "cc80"}, {255, "ccff"}, {256, "cd0100"},
        {65535, "cdffff"}, {65536, "ce00010000"}, {4294967295ll, "ceffffffff"},
        {4294967296ll, "cf0000000100000000"}, {-1, "ff"}, {-32, "e0"},
        {-33, "d0df"}, {-128, "d080"}, {-129, "d1ff7f"}, {-32768, "d18000"},
        {-32769, "d2ffff7fff"}, {INT32_MIN, "d280000000"},
        {(int64_t)INT32_MIN - 1, "d3ffffffff7fffffff"}, {INT64_MIN, "d38000000000000000"},
        {INT64_MAX, "cf7fffffffffffffff"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t b[8];
        be64(b, (uint64_t)cases[i].v);
        char want[64];
        snprintf(want, sizeof want, "0100%s", cases[i].want); /* type 1, flags 0 */
        is_str(one_bin(SPW_PT_INTEGER, b, 8), want, "integer %" PRId64 ": smallest form", cases[i].v);
    }
    uint8_t b[8];
    dbl_be(b, 1.5);
    is_str(one_bin(SPW_PT_DOUBLE, b, 8), "0200cb3ff8000000000000", "double: float64");
    dbl_be(b, NAN);
    has_str(one_bin(SPW_PT_DOUBLE, b, 8), "0200cb7ff8", "NaN is a float64 NaN (MessagePack has one)");
    has_str(one_bin(SPW_PT_INTEGER, "\x01\x02", 2), "REJECT: msgpack codec: bin \"b\": malformed integer",
            "a 2-byte integer is rejected, the bin named");
    is_str(one_bin(SPW_PT_BOOL, "\x01", 1), "1100c3", "bool true");
    has_str(one_bin(SPW_PT_BOOL, "\x02", 1), "REJECT: msgpack codec: bin \"b\": malformed boolean", "bool 2");
    is_str(one_bin(SPW_PT_NIL, NULL, 0), "0000c0", "a deleted bin: type 0, nil");
}

static void test_lengths(void) {
    use(default_cfg());
    static char s[70000];
    memset(s, 'x', sizeof s);
    struct {
        size_t n;
        const char *head;
    } cases[] = {{0, "0300a0"}, {31, "0300bf"}, {32, "0300d920"}, {255, "0300d9ff"},
                 {256, "0300da0100"}, {65535, "0300daffff"}, {65536, "0300db00010000"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok(strncmp(one_bin(SPW_PT_STRING, s, cases[i].n), cases[i].head, strlen(cases[i].head)) == 0,
           "str of %zu bytes: header %s", cases[i].n, cases[i].head);
    struct {
        size_t n;
        const char *head;
    } bins[] = {{0, "0400c400"}, {255, "0400c4ff"}, {256, "0400c50100"}, {65536, "0400c600010000"}};
    for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++)
        ok(strncmp(one_bin(SPW_PT_BLOB, s, bins[i].n), bins[i].head, strlen(bins[i].head)) == 0,
           "bin of %zu bytes: header %s", bins[i].n, bins[i].head);
    spw_buf m = SPW_BUF_INIT;
    mp_list(&m, 16);
    for (int i = 0; i < 16; i++)
        mp_int(&m, i);
    ok(strncmp(one_bin(SPW_PT_LIST, m.data, m.len), "1400dc0010", 10) == 0, "a 16-element list: array 16");
    spw_buf_reset(&m);
    mp_list(&m, 70000);
    for (int i = 0; i < 70000; i++)
        mp_nil(&m);
    ok(strncmp(one_bin(SPW_PT_LIST, m.data, m.len), "1400dd00011170", 14) == 0, "70000 elements: array 32");
    spw_buf_reset(&m);
    mp_map(&m, 17);
    mp_marker(&m, 1);
    mp_nil(&m);
    for (int i = 0; i < 16; i++) {
        mp_int(&m, i);
        mp_nil(&m);
    }
    ok(strncmp(one_bin(SPW_PT_MAP, m.data, m.len), "1301de0010", 10) == 0,
       "a key-ordered map of 16 pairs: flags 1, map 16, the marker gone");
    spw_buf_free(&m);
}

static void test_values(void) {
    use(default_cfg());
    spw_event *ev = all_types_event();
    run(ev);
    msgpack_object k = at(at(at(g_unp.data, 2), 0), 3);
    ok(k.type == MSGPACK_OBJECT_STR && k.via.str.size == 7 && !memcmp(k.via.str.ptr, "user-\xc3\xa9", 7),
       "a string user key is a str");
    struct {
        uint32_t i;
        const char *name;
        int ptype;
        msgpack_object_type t;
    } bins[] = {
        {0, "nil", 0, MSGPACK_OBJECT_NIL},        {1, "int", 1, MSGPACK_OBJECT_NEGATIVE_INTEGER},
        {2, "double", 2, MSGPACK_OBJECT_FLOAT64}, {3, "str", 3, MSGPACK_OBJECT_STR},
        {4, "blob", 4, MSGPACK_OBJECT_BIN},       {5, "java", 7, MSGPACK_OBJECT_BIN},
        {10, "erlang", 12, MSGPACK_OBJECT_BIN},   {11, "vector", 16, MSGPACK_OBJECT_BIN},
        {12, "bool", 17, MSGPACK_OBJECT_BOOLEAN}, {13, "hll", 18, MSGPACK_OBJECT_BIN},
        {14, "geo", 23, MSGPACK_OBJECT_STR},      {15, "future", 99, MSGPACK_OBJECT_BIN},
        {16, "map", 19, MSGPACK_OBJECT_MAP},      {17, "list", 20, MSGPACK_OBJECT_ARRAY},
    };
    for (size_t i = 0; i < sizeof bins / sizeof bins[0]; i++) {
        msgpack_object name = bin_at(bins[i].i, 0), pt = bin_at(bins[i].i, 1), v = bin_at(bins[i].i, 3);
        ok(name.type == MSGPACK_OBJECT_STR && name.via.str.size == strlen(bins[i].name) &&
               !memcmp(name.via.str.ptr, bins[i].name, name.via.str.size) &&
               pt.type == MSGPACK_OBJECT_POSITIVE_INTEGER && pt.via.u64 == (uint64_t)bins[i].ptype &&
               v.type == bins[i].t,
           "bin %s: particle type %d, msgpack-c reads type %d", bins[i].name, bins[i].ptype, bins[i].t);
    }
    msgpack_object geo = bin_at(14, 3);
    ok(geo.via.str.size == 45 && !memcmp(geo.via.str.ptr, "{\"type\":\"Point\"", 15),
       "GeoJSON: its text as a str, header and cells gone");
    ok(bin_at(16, 2).via.u64 == 1 && bin_at(17, 2).via.u64 == 1 && bin_at(18, 2).via.u64 == 0 &&
           bin_at(19, 2).via.u64 == 3,
       "flags: key-ordered map 1, ordered list 1, empty list 0, key-value-ordered map 3");
    msgpack_object map = bin_at(16, 3);
    ok(map.via.map.size == 4 && map.via.map.ptr[0].key.type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
           map.via.map.ptr[0].key.via.u64 == 7 && map.via.map.ptr[1].key.type == MSGPACK_OBJECT_FLOAT64 &&
           map.via.map.ptr[2].key.type == MSGPACK_OBJECT_BIN && map.via.map.ptr[3].key.type == MSGPACK_OBJECT_STR,
       "map keys keep their types: int, float, bin, str (the order marker gone)");
    msgpack_object l = bin_at(17, 3);
    ok(l.via.array.size == 13, "list: 13 elements, the order marker gone");
    msgpack_object e;
    e = at(l, 0);
    ok(e.type == MSGPACK_OBJECT_STR && e.via.str.size == 1 && e.via.str.ptr[0] == 'a', "element: str, prefix gone");
    e = at(l, 1);
    ok(e.type == MSGPACK_OBJECT_BIN && e.via.bin.size == 2, "element: plain blob is bin, prefix gone");
    e = at(l, 2);
    ok(e.type == MSGPACK_OBJECT_EXT && e.via.ext.type == 7 && e.via.ext.size == 1, "element: Java blob is ext 7");
    e = at(l, 3);
    ok(e.type == MSGPACK_OBJECT_EXT && e.via.ext.type == 23 && e.via.ext.size == 36 &&
           !memcmp(e.via.ext.ptr, "{\"type\"", 7),
       "element: GeoJSON is ext 23 holding the text");
    e = at(l, 4);
    ok(e.type == MSGPACK_OBJECT_EXT && e.via.ext.type == 18, "element: HLL is ext 18");
    e = at(l, 5);
    ok(e.type == MSGPACK_OBJECT_BIN && e.via.bin.size == 2 && (uint8_t)e.via.bin.ptr[0] == 0xC8,
       "element: a prefix of 200 (no particle type) is a bin keeping the prefix");
    e = at(l, 6);
    ok(e.type == MSGPACK_OBJECT_FLOAT64 && e.via.f64 == 0.5, "element: float32 widened to float64");
    e = at(l, 7);
    ok(e.type == MSGPACK_OBJECT_POSITIVE_INTEGER && e.via.u64 == UINT64_MAX, "element: 2^64-1");
    e = at(l, 8);
    ok(e.type == MSGPACK_OBJECT_NEGATIVE_INTEGER && e.via.i64 == INT64_MIN, "element: INT64_MIN");
    e = at(l, 9);
    ok(e.type == MSGPACK_OBJECT_NIL, "element: the wildcard ext is nil");
    e = at(l, 12);
    ok(e.type == MSGPACK_OBJECT_ARRAY && e.via.array.size == 1 && e.via.array.ptr[0].via.u64 == 9,
       "element: a nested ordered list, its marker gone");
    spw_event_unref(ev);
}

static void test_text_and_luts(void) {
    use(default_cfg());
    is_str(one_bin(SPW_PT_STRING, "a\xff" "b", 3), "0300a561efbfbd62", "invalid UTF-8: U+FFFD (replace)");
    mcodec_config c = default_cfg();
    c.invalid_utf8 = MCODEC_UTF8_BIN;
    use(c);
    is_str(one_bin(SPW_PT_STRING, "a\xff" "b", 3), "0300c40361ff62", "invalid_utf8=bin: the bytes as a bin");
    spw_event *ev = new_write();
    spw_event_add_bin(ev, "n\xff", 2, SPW_PT_NIL, NULL, 0, 0);
    has_str(run(ev), "94a46eefbfbd00", "invalid_utf8=bin: a name stays a str, repaired");
    c.invalid_utf8 = MCODEC_UTF8_REJECT;
    use(c);
    has_str(run_as(ev, false), "REJECT: msgpack codec: bin \"n?\": a name string is not valid UTF-8",
            "invalid_utf8=reject: a broken name rejects");
    spw_event_unref(ev);
    has_str(one_bin(SPW_PT_STRING, "\xc0\xaf", 2), "REJECT: msgpack codec: bin \"b\": a string is not valid UTF-8 (2",
            "invalid_utf8=reject: an overlong");
    c = default_cfg();
    c.bin_luts = true;
    use(c);
    ev = new_write();
    spw_event_add_bin(ev, "a", 1, SPW_PT_BOOL, "\x00", 1, 1700000000123);
    spw_event_add_bin(ev, "b", 1, SPW_PT_BOOL, "\x00", 1, 0);
    has_str(run(ev), "9295a1611100c2cf0000018bcfe5687b95a1621100c2c0",
            "bin_luts: a fifth element, the LUT or nil");
    spw_event_unref(ev);
    use(default_cfg());
    spw_buf m = SPW_BUF_INIT;
    mp_list(&m, 2);
    mp_int(&m, 1);
    has_str(one_bin(SPW_PT_LIST, m.data, m.len), "REJECT: msgpack codec: bin \"b\": the list value is malformed",
            "a truncated list rejects");
    spw_buf_reset(&m);
    mp_map(&m, 1);
    mp_int(&m, 1);
    mp_int(&m, 2);
    has_str(one_bin(SPW_PT_LIST, m.data, m.len), "the list value holds a map", "a list bin holding a map");
    uint8_t g[4] = {0, 0, 9, 0};
    has_str(one_bin(SPW_PT_GEOJSON, g, 4), "REJECT: msgpack codec: bin \"b\": malformed GeoJSON", "GeoJSON cells beyond the value");
    spw_buf_free(&m);
    ev = spw_event_new(0, 64);
    spw_event_set_namespace(ev, "n", 1);
    has_str(run_as(ev, false), "REJECT: msgpack codec: record: unknown operation", "an event without an op");
    spw_event_unref(ev);
}

static void test_frame_and_plugin(void) {
    extern const spw_plugin spw_plugin_descriptor;
    const spw_plugin *p = &spw_plugin_descriptor;
    spw_err err = {{0}};
    ok(p->kind == SPW_KIND_CODEC && !strcmp(p->name, "msgpack") && p->codec && p->codec->frame,
       "descriptor: a codec named msgpack with framing");
    ok(spw__opts_check_table(p->options, p->config_size, &err) == SPW_OK, "the option table is valid: %s", err.msg);
    mcodec_config def;
    ok(spw__opts_defaults(p->options, &def, &err) == SPW_OK && !def.bin_luts && !def.delete_metadata &&
           def.invalid_utf8 == MCODEC_UTF8_REPLACE,
       "defaults: no bin LUTs, no delete metadata, replace");
    void *inst = NULL;
    ok(p->create(NULL, &def, &inst, &err) == SPW_OK, "create");
    is_str(p->codec->content_type(inst, false), "application/x-msgpack", "content type of a record");
    is_str(p->codec->content_type(inst, true), "application/x-msgpack", "content type of a batch");
    spw_buf recs = SPW_BUF_INIT, body = SPW_BUF_INIT;
    spw_slice s[70000];
    spw_event *w = ref_write(false), *d = ref_delete(true, false);
    size_t off[70000];
    for (int i = 0; i < 70000; i++) {
        off[i] = recs.len;
        if (p->codec->encode(inst, i % 2 ? d : w, &recs, &err) != SPW_OK)
            abort();
    }
    for (int i = 0; i < 70000; i++)
        s[i] = (spw_slice){recs.data + off[i], (i + 1 < 70000 ? off[i + 1] : recs.len) - off[i]};
    size_t sizes[] = {1, 3, 15, 16, 70000};
    const char *heads[] = {"91", "93", "9f", "dc0010", "dd00011170"};
    for (int k = 0; k < 5; k++) {
        spw_buf_reset(&body);
        ok(p->codec->frame(inst, s, sizes[k], &body, &err) == SPW_OK, "frame %zu records", sizes[k]);
        char head[16];
        size_t hl = strlen(heads[k]) / 2;
        for (size_t i = 0; i < hl; i++)
            sprintf(head + 2 * i, "%02x", body.data[i]);
        size_t total = s[sizes[k] - 1].ptr + s[sizes[k] - 1].len - recs.data;
        ok(!strcmp(head, heads[k]) && body.len == hl + total && !memcmp(body.data + hl, recs.data, total),
           "batch of %zu: array header %s, then the messages as encoded", sizes[k], heads[k]);
        msgpack_unpacked u;
        size_t o = 0;
        msgpack_unpacked_init(&u);
        ok(msgpack_unpack_next(&u, (const char *)body.data, body.len, &o) == MSGPACK_UNPACK_SUCCESS &&
               o == body.len && u.data.type == MSGPACK_OBJECT_ARRAY && u.data.via.array.size == sizes[k],
           "msgpack-c reads the batch as one array of %zu messages", sizes[k]);
        msgpack_unpacked_destroy(&u);
    }
    p->destroy(inst);
    spw_event_unref(w);
    spw_event_unref(d);
    spw_buf_free(&recs);
    spw_buf_free(&body);
}

static void test_steady_state(void) {
    mcodec_config c = default_cfg();
    c.bin_luts = true;
    use(c);
    spw_event *evs[3] = {ref_write(false), all_types_event(), ref_delete(true, false)};
    spw_buf out = SPW_BUF_INIT;
    spw_err err;
    tc_steady_state(codec_encode, &g_codec, evs, 3, 3000, &out,
                    "no allocation per record in the steady state");
    double t0 = now_ns();
    for (int i = 0; i < 100000; i++) {
        spw_buf_reset(&out);
        (void)mcodec_encode(&g_codec, evs[1], &out, &err);
    }
    diag("all-types record (%zu bins, %zu bytes): %.0f ns (timing only; see bench/codecs)",
         spw_event_bin_count(evs[1]), out.len, (now_ns() - t0) / 100000);
    for (int i = 0; i < 3; i++)
        spw_event_unref(evs[i]);
    spw_buf_free(&out);
}

int main(void) {
    oracle_open("codec-msgpack");
    msgpack_unpacked_init(&g_unp);
    test_reference();
    test_integers();
    test_lengths();
    test_values();
    test_text_and_luts();
    test_frame_and_plugin();
    test_steady_state();
    python_ok(oracle_run(env_or("CODEC_ORACLE", CODEC_ORACLE_PY)),
              "msgpack-python decodes every output to what the oracle derives (%u cases)",
              oracle_cases);
    msgpack_unpacked_destroy(&g_unp);
    spw_buf_free(&g_out);
    return tap_done();
}

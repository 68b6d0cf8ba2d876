/*
 * tests/unit/test-codec-avro.c: the avro codec (plugins/codec-avro).
 *
 * The codec's sources are compiled into this program, so the tests call
 * the encoder directly and through the plugin's descriptor, without the
 * loader. Events are built with the SDK builder; list and map values with
 * the MessagePack writer of test-codec-common.h (Aerospike's dialect).
 *
 * Two independent readers check the output: avro-c's generic reader, in
 * process, for every datum (it must decode and use every byte), and
 * Python's avro package (tests/avro-check.py), which decodes single-object
 * records and container files, recomputes the fingerprint from its own
 * canonical form, and compares decoded values with what the test expects.
 *
 * Layers: the embedded generic schema equals generic.avsc; the canonical
 * form and fingerprint agree with Python's; golden hex files
 * (tests/golden/avro-*.hex, annotated and reviewed by hand) for the real
 * XDR frames; every particle type, key type, delete kind and excluded
 * metadata; user schemas: every mapping rule, defaults, nulls, the metadata
 * record, and each rejection with its reason; configuration errors;
 * container files (null and deflate); seeded random events (clean ones must
 * decode to exactly the expected value, hostile ones must decode or be
 * rejected with a reason); no allocation in steady state.
 */
#include <avro.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <spillway/spillway.h>

#include "../../plugins/codec-avro/acodec.h"
#include "../tap.h"
#define TC_COUNT_ALLOCATIONS
#include "test-codec-common.h"
#include "options.h"   /* the core's option-table checks, to hold the table to them */
#include "transform.h" /* routes' metadata_exclude, to get events with metadata left out */

#ifndef AVRO_CHECK_PY
#define AVRO_CHECK_PY "tests/avro-check.py"
#endif
#ifndef GENERIC_AVSC
#define GENERIC_AVSC "plugins/codec-avro/generic.avsc"
#endif
#ifndef GOLDEN_DIR
#define GOLDEN_DIR "tests/golden"
#endif

/* Allocation counting: test-codec-common.h interposes malloc (not under ASan). */

/* ---- helpers ---- */

static FILE *pyf; /* cases for tests/avro-check.py */
static char pyf_path[] = "/tmp/spw-codec-avro-XXXXXX";
static unsigned py_cases;

static char *hex_of(const uint8_t *p, size_t n) {
    char *s = malloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        sprintf(s + 2 * i, "%02x", p[i]);
    s[2 * n] = '\0';
    return s;
}
static void must(spw_result r) {
    if (r != SPW_OK)
        abort();
}
static void buf_add(spw_buf *b, const void *p, size_t n) { must(spw_buf_append(b, p, n)); }
static void buf_str(spw_buf *b, const char *s) { buf_add(b, s, strlen(s)); }
static void buf_fmt(spw_buf *b, const char *fmt, ...) SPW_PRINTF(2, 3);
static void buf_fmt(spw_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    must(spw_buf_reserve(b, (size_t)n + 1));
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}
static char *buf_cstr(spw_buf *b) { /* NUL-terminates without counting it */
    must(spw_buf_reserve(b, 1));
    b->data[b->len] = '\0';
    return (char *)b->data;
}

static char *read_text(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    spw_buf b = SPW_BUF_INIT;
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_add(&b, tmp, n);
    fclose(f);
    *len = b.len;
    return buf_cstr(&b);
}

/* ---- JSON for expectations (the tagged form avro-check.py reads) ---- */

static void js_str(spw_buf *j, const void *p, size_t n) {
    const uint8_t *s = p;
    if (!spw_utf8_valid(s, n)) {
        buf_str(j, "{\"$u\":\"");
        for (size_t i = 0; i < n; i++)
            buf_fmt(j, "%02x", s[i]);
        buf_str(j, "\"}");
        return;
    }
    buf_str(j, "\"");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"' || s[i] == '\\')
            buf_fmt(j, "\\%c", s[i]);
        else if (s[i] < 0x20)
            buf_fmt(j, "\\u%04x", s[i]);
        else
            buf_add(j, &s[i], 1);
    }
    buf_str(j, "\"");
}
static void js_bytes(spw_buf *j, const void *p, size_t n) {
    const uint8_t *s = p;
    buf_str(j, "{\"$b\":\"");
    for (size_t i = 0; i < n; i++)
        buf_fmt(j, "%02x", s[i]);
    buf_str(j, "\"}");
}
static void js_double(spw_buf *j, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    buf_fmt(j, "{\"$d\":\"%016" PRIx64 "\"}", u);
}

/* ---- Python cases ---- */

static void py_schema(const char *id, const char *text, size_t n) {
    if (!pyf)
        return;
    fprintf(pyf, "schema\t%s\t", id);
    put_hex(pyf, (const uint8_t *)text, n);
    fputc('\n', pyf);
}
static void py_pcf(const char *id, const aplan *p) {
    if (!pyf)
        return;
    fprintf(pyf, "pcf\t%s\t", id);
    put_hex(pyf, p->canonical.data, p->canonical.len);
    fprintf(pyf, "\t%016" PRIx64 "\n", p->fingerprint);
    py_cases++;
}
static void py_case(const char *kind, const char *id, const uint8_t *p, size_t n, const char *expect) {
    if (!pyf)
        return;
    fprintf(pyf, "%s\t%s\t", kind, id);
    put_hex(pyf, p, n);
    fprintf(pyf, "\t%s\n", expect ? expect : "-");
    py_cases++;
}

/* ---- avro-c as an in-process reader ---- */

typedef struct vdec {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
} vdec;

static bool vdec_init(vdec *d, const char *text, size_t n) {
    memset(d, 0, sizeof *d);
    if (avro_schema_from_json_length(text, n, &d->schema) != 0)
        return false;
    d->iface = avro_generic_class_from_schema(d->schema);
    return d->iface && avro_generic_value_new(d->iface, &d->value) == 0;
}
static void vdec_free(vdec *d) {
    if (d->iface) {
        avro_value_decref(&d->value);
        avro_value_iface_decref(d->iface);
    }
    if (d->schema)
        avro_schema_decref(d->schema);
    memset(d, 0, sizeof *d);
}
static char vdec_why[256];
/* True when p[0..n) is exactly one datum of the schema (else vdec_why says why). */
static bool vdec_ok(vdec *d, const uint8_t *p, size_t n) {
    avro_reader_t r = avro_reader_memory((const char *)p, (int64_t)n);
    avro_value_reset(&d->value);
    int rc = avro_value_read(r, &d->value);
    uint8_t extra;
    /* avro_reader_is_eof only reports end of file after a failed read. */
    bool eof = rc == 0 && avro_read(r, &extra, 1) != 0;
    avro_reader_free(r);
    if (rc != 0)
        snprintf(vdec_why, sizeof vdec_why, "%s", avro_strerror());
    else if (!eof)
        snprintf(vdec_why, sizeof vdec_why, "bytes are left after the datum");
    return rc == 0 && eof;
}

/* ---- a codec under test, with its readers ---- */

typedef struct tcodec {
    acodec c;
    vdec d;
    const char *id; /* schema id in the Python file */
} tcodec;

static acodec_config default_cfg(void) {
    acodec_config c = {NULL, NULL, true, false, ACODEC_UTF8_REPLACE, ACODEC_CONTAINER_NULL, 6,
                       ACODEC_CT_AVRO_BINARY};
    return c;
}

static unsigned schema_ids;
static bool tc_open(tcodec *t, acodec_config cfg) {
    spw_err err = {{0}};
    memset(t, 0, sizeof *t);
    if (acodec_init(&t->c, &cfg, &err) != SPW_OK) {
        diag("acodec_init: %s", err.msg);
        return false;
    }
    const char *text = (const char *)t->c.plan.schema_json.data;
    size_t n = t->c.plan.schema_json.len;
    if (!vdec_init(&t->d, text, n)) {
        diag("avro-c cannot read the schema back: %s", avro_strerror());
        return false;
    }
    static char ids[64][8];
    snprintf(ids[schema_ids % 64], 8, "s%u", schema_ids);
    t->id = ids[schema_ids++ % 64];
    py_schema(t->id, text, n);
    py_pcf(t->id, &t->c.plan);
    return true;
}
static void tc_close(tcodec *t) {
    acodec_fini(&t->c);
    vdec_free(&t->d);
}

static spw_buf g_out = SPW_BUF_INIT;
static char g_err[SPW_ERR_MSG_MAX + 16];

/*
 * Encodes ev; on success checks avro-c reads the datum and queues a
 * Python case with `expect` (JSON, or NULL for "decodes"). Returns the
 * result; g_err holds the reason of a failure.
 */
static spw_result run(tcodec *t, const spw_event *ev, const char *expect) {
    spw_err err = {{0}};
    spw_buf_reset(&g_out);
    spw_result r = acodec_encode(&t->c, ev, &g_out, &err);
    snprintf(g_err, sizeof g_err, "%s", err.msg);
    if (r != SPW_OK) {
        if (g_out.len != 0)
            ok(0, "a failed encode leaves the buffer as it was");
        return r;
    }
    if (g_out.len < 10 || memcmp(g_out.data, t->c.single_hdr, 10) != 0)
        ok(0, "the record starts with the single-object header");
    else if (!vdec_ok(&t->d, g_out.data + 10, g_out.len - 10)) {
        ok(0, "avro-c reads the datum (%s)", vdec_why);
        char *h = hex_of(g_out.data, g_out.len);
        diag("%s", h);
        free(h);
    }
    py_case("single", t->id, g_out.data, g_out.len, expect);
    return r;
}

/* ---- events: the shared reference frames (test-codec-common.h) ---- */

static spw_event *frame_write(void) { return ref_write(false); }
static spw_event *frame_delete(bool durable) { return ref_delete(durable, false); }

/*
 * The generic schema's expected record for ev, from the event's own
 * accessors, with `bins` (a JSON array) as its bins.
 */
static void js_generic(spw_buf *j, const spw_event *ev, const char *bins) {
    bool del = spw_event_op(ev) == SPW_OP_DELETE;
    buf_str(j, "{\"msg\":");
    buf_str(j, !spw_event_meta_wanted(ev, SPW_META_MSG) ? "null" : del ? "\"delete\"" : "\"write\"");
    buf_str(j, ",\"namespace\":");
    spw_str ns = spw_event_namespace(ev), set = spw_event_set(ev);
    if (spw_event_meta_wanted(ev, SPW_META_NAMESPACE))
        js_str(j, ns.ptr, ns.len);
    else
        buf_str(j, "null");
    buf_str(j, ",\"set\":");
    if (set.ptr && spw_event_meta_wanted(ev, SPW_META_SET))
        js_str(j, set.ptr, set.len);
    else
        buf_str(j, "null");
    buf_str(j, ",\"userKey\":");
    spw_value k;
    if (!spw_event_meta_wanted(ev, SPW_META_KEY) || !spw_event_key(ev, &k))
        buf_str(j, "null");
    else if (k.type == SPW_PT_INTEGER) {
        int64_t i;
        must(spw_value_int(&k, &i));
        buf_fmt(j, "%" PRId64, i);
    } else if (k.type == SPW_PT_DOUBLE) {
        double d;
        must(spw_value_double(&k, &d));
        js_double(j, d);
    } else if (k.type == SPW_PT_STRING)
        js_str(j, k.data, k.len);
    else
        js_bytes(j, k.data, k.len);
    buf_str(j, ",\"digest\":");
    if (spw_event_meta_wanted(ev, SPW_META_DIGEST))
        js_bytes(j, spw_event_digest(ev), 20);
    else
        buf_str(j, "null");
    if (spw_event_meta_wanted(ev, SPW_META_GEN))
        buf_fmt(j, ",\"gen\":%" PRIu32, spw_event_generation(ev));
    else
        buf_str(j, ",\"gen\":null");
    if (spw_event_meta_wanted(ev, SPW_META_LUT) && spw_event_lut_ms(ev))
        buf_fmt(j, ",\"lut\":%" PRId64, spw_event_lut_ms(ev));
    else
        buf_str(j, ",\"lut\":null");
    if (!del && spw_event_meta_wanted(ev, SPW_META_EXP))
        buf_fmt(j, ",\"exp\":%" PRId64, spw_event_expiry(ev));
    else
        buf_str(j, ",\"exp\":null");
    if (del && spw_event_meta_wanted(ev, SPW_META_DURABLE))
        buf_fmt(j, ",\"durable\":%s", spw_event_durable(ev) ? "true" : "false");
    else
        buf_str(j, ",\"durable\":null");
    buf_fmt(j, ",\"bins\":%s}", bins);
}

static char *expect_generic(const spw_event *ev, const char *bins) {
    spw_buf j = SPW_BUF_INIT;
    js_generic(&j, ev, bins);
    return buf_cstr(&j);
}

/* ---- golden files ---- */

/* The hex of a golden file: '#' starts a comment, whitespace is ignored. */
static char *golden(const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", GOLDEN_DIR, name);
    size_t n;
    char *text = read_text(path, &n);
    if (!text)
        return NULL;
    spw_buf h = SPW_BUF_INIT;
    for (char *p = text; *p;) {
        if (*p == '#') {
            while (*p && *p != '\n')
                p++;
            continue;
        }
        if (!(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
            char c = (char)(*p | 0x20);
            buf_add(&h, &c, 1);
        }
        p++;
    }
    free(text);
    return buf_cstr(&h);
}

static void is_golden(const uint8_t *p, size_t n, const char *name) {
    char *want = golden(name);
    char *got = hex_of(p, n);
    if (!want) {
        ok(0, "golden file %s is readable", name);
        diag("got %s", got);
    } else if (!ok(strcmp(got, want) == 0, "%s matches its golden file", name)) {
        diag("got  %s", got);
        diag("want %s", want);
    }
    free(want);
    free(got);
}

/* ---- the generic schema ---- */

static void test_generic_schema(void) {
    size_t n = 0;
    char *file = read_text(GENERIC_AVSC, &n);
    ok(file && n == acodec_generic_schema_len && memcmp(file, acodec_generic_schema, n) == 0,
       "the embedded generic schema equals generic.avsc byte for byte");
    free(file);

    /* CRC-64-AVRO test vectors: the Avro test suite's fingerprint of "null"
     * (7195948357588979594), and the empty input (EMPTY itself). */
    ok(acodec_crc64_avro("\"null\"", 6) == 0x63dd24e7cc258f8aull, "CRC-64-AVRO of \"null\"");
    ok(acodec_crc64_avro("", 0) == 0xc15d213aa4d7a795ull, "CRC-64-AVRO of nothing is EMPTY");

    aplan p;
    spw_err err = {{0}};
    acodec_config cfg = default_cfg();
    ok(acodec_plan_build(&cfg, &p, &err) == SPW_OK && p.generic, "no schema: the generic one");
    has_str((const char *)buf_cstr(&p.canonical),
            "{\"name\":\"io.spillway.avro.ChangeRecord\",\"type\":\"record\",\"fields\":[{\"name\":\"msg\"",
            "its canonical form starts with the full name");
    ok(!strstr((char *)p.canonical.data, "doc") && !strstr((char *)p.canonical.data, "default") &&
           !strchr((char *)p.canonical.data, ' '),
       "the canonical form has no docs, defaults or whitespace");
    has_str(buf_cstr(&p.schema_json), "\"doc\":", "the container schema keeps the docs");
    ok(!strchr((char *)p.schema_json.data, '\n'), "the container schema is compact");
    acodec_plan_free(&p);
}

/*
 * Canonical forms of tricky schemas against Python's (namespaces, nested and
 * inherited; references; attribute order; recursion; docs, aliases and
 * defaults stripped). Python 1.11.1 departs from the specification (and
 * from Java's SchemaNormalization) in three places, so those are checked
 * here against the form the specification gives instead: a primitive with
 * extra attributes ({"type":"long","logicalType":...}) is just "long"; a
 * fixed is written in full only where it is first defined; an explicit
 * "namespace": "" is the null namespace, not the enclosing one.
 */
static void test_canonical(void) {
    static const char *schemas[] = {
        "{\"type\":\"record\",\"name\":\"A\",\"namespace\":\"x.y\",\"doc\":\"d\",\"fields\":["
        "{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"B\",\"fields\":[]}},"
        "{\"name\":\"b\",\"type\":\"B\"},{\"name\":\"c\",\"type\":\"x.y.B\"},"
        "{\"name\":\"d\",\"type\":{\"type\":\"enum\",\"name\":\"q.E\",\"symbols\":[\"A\",\"B\"]}},"
        "{\"name\":\"e\",\"type\":{\"type\":\"record\",\"name\":\"C\",\"fields\":["
        "{\"name\":\"f\",\"type\":\"q.E\"}]}}]}",
        "{\"fields\":[{\"type\":{\"type\":\"long\"},\"name\":\"t\",\"doc\":\"x\",\"order\":\"descending\"},"
        "{\"name\":\"u\",\"type\":{\"size\":16,\"type\":\"fixed\",\"name\":\"U\",\"aliases\":[\"V\"]}},"
        "{\"name\":\"m\",\"type\":{\"values\":{\"type\":\"array\",\"items\":\"string\"},\"type\":\"map\"},"
        "\"default\":{}}],\"type\":\"record\",\"name\":\"R\"}",
        "{\"type\":\"record\",\"name\":\"Node\",\"namespace\":\"t\",\"fields\":["
        "{\"name\":\"v\",\"type\":\"int\"},{\"name\":\"next\",\"type\":[\"null\",\"Node\"]},"
        "{\"name\":\"kids\",\"type\":{\"type\":\"array\",\"items\":\"t.Node\"}}]}",
    };
    for (size_t i = 0; i < sizeof schemas / sizeof schemas[0]; i++) {
        acodec_config cfg = default_cfg();
        cfg.schema = (char *)schemas[i];
        tcodec t;
        ok(tc_open(&t, cfg), "schema %zu compiles (its canonical form is checked by Python)", i + 1);
        tc_close(&t);
    }
    static const struct {
        const char *schema, *canonical;
    } spec[] = {
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"t\",\"type\":"
         "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}]}",
         "{\"name\":\"R\",\"type\":\"record\",\"fields\":[{\"name\":\"t\",\"type\":\"long\"}]}"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"u\",\"type\":{\"type\":\"fixed\","
         "\"name\":\"U\",\"size\":4}},{\"name\":\"v\",\"type\":\"U\"}]}",
         "{\"name\":\"R\",\"type\":\"record\",\"fields\":[{\"name\":\"u\",\"type\":{\"name\":\"U\","
         "\"type\":\"fixed\",\"size\":4}},{\"name\":\"v\",\"type\":\"U\"}]}"},
        {"{\"type\":\"record\",\"name\":\"N\",\"namespace\":\"a\",\"fields\":[{\"name\":\"x\",\"type\":"
         "{\"type\":\"record\",\"name\":\"M\",\"namespace\":\"\",\"fields\":[{\"name\":\"y\",\"type\":"
         "{\"type\":\"fixed\",\"name\":\"F\",\"size\":2}}]}}]}",
         "{\"name\":\"a.N\",\"type\":\"record\",\"fields\":[{\"name\":\"x\",\"type\":{\"name\":\"M\","
         "\"type\":\"record\",\"fields\":[{\"name\":\"y\",\"type\":{\"name\":\"F\",\"type\":\"fixed\","
         "\"size\":2}}]}}]}"},
    };
    for (size_t i = 0; i < sizeof spec / sizeof spec[0]; i++) {
        aplan p;
        spw_err err = {{0}};
        if (acodec_plan_from_text(spec[i].schema, strlen(spec[i].schema), false, &p, &err) != SPW_OK) {
            ok(0, "specification case %zu compiles: %s", i + 1, err.msg);
            continue;
        }
        is_str(buf_cstr(&p.canonical), spec[i].canonical, "specification case %zu: canonical form", i + 1);
        ok(p.fingerprint == acodec_crc64_avro(spec[i].canonical, strlen(spec[i].canonical)),
           "specification case %zu: the fingerprint is of that form", i + 1);
        acodec_plan_free(&p);
    }
}

/* ---- golden records ---- */

static void test_golden(void) {
    tcodec t;
    acodec_config cfg = default_cfg();
    if (!tc_open(&t, cfg))
        return;
    spw_event *w = frame_write();
    ok(run(&t, w,
           "{\"msg\":\"write\",\"namespace\":\"test\",\"set\":\"myset\",\"userKey\":4,"
           "\"digest\":{\"$b\":\"78f26d30728c436ac5b7e2b79f7faa4b1c011576\"},\"gen\":1,"
           "\"lut\":1734387515693,\"exp\":0,\"durable\":null,\"bins\":["
           "{\"name\":\"name\",\"type\":3,\"order\":0,\"value\":\"colton\",\"lut\":null},"
           "{\"name\":\"age\",\"type\":1,\"order\":0,\"value\":27,\"lut\":null},"
           "{\"name\":\"mapTest\",\"type\":19,\"order\":0,\"value\":{\"a\":{\"value\":1},"
           "\"b\":{\"value\":2}},\"lut\":null}]}") == SPW_OK,
       "real write frame: encodes");
    is_golden(g_out.data, g_out.len, "avro-generic-write.hex");

    spw_event *d = frame_delete(false);
    ok(run(&t, d,
           "{\"msg\":\"delete\",\"namespace\":\"test\",\"set\":\"myset\",\"userKey\":14,"
           "\"digest\":{\"$b\":\"f9bb902ddd1874858475b66c8f36b950badb44f7\"},\"gen\":2,"
           "\"lut\":1734388979032,\"exp\":null,\"durable\":false,\"bins\":[]}") == SPW_OK,
       "real delete frame: encodes");
    is_golden(g_out.data, g_out.len, "avro-generic-delete.hex");
    spw_event_unref(d);
    d = frame_delete(true);
    ok(run(&t, d, NULL) == SPW_OK, "durable delete: encodes");
    is_golden(g_out.data, g_out.len, "avro-generic-durable-delete.hex");

    /* A container of both, with a fixed sync marker so the bytes are known. */
    spw_buf recs = SPW_BUF_INIT;
    spw_err err = {{0}};
    must(acodec_encode(&t.c, w, &recs, &err));
    size_t first = recs.len;
    must(acodec_encode(&t.c, d, &recs, &err));
    spw_slice s[2] = {{recs.data, first}, {recs.data + first, recs.len - first}};
    for (int i = 0; i < 16; i++)
        t.c.sync[i] = t.c.file_hdr.data[t.c.file_hdr.len - 16 + i] = (uint8_t)(0xA0 + i);
    spw_buf f = SPW_BUF_INIT;
    ok(acodec_frame(&t.c, s, 2, &f, &err) == SPW_OK, "a container of the write and the durable delete");
    /* Only the block is golden: the header holds the whole schema text. */
    ok(f.len > t.c.file_hdr.len && memcmp(f.data, t.c.file_hdr.data, t.c.file_hdr.len) == 0,
       "it starts with the instance's header");
    is_golden(f.data + t.c.file_hdr.len, f.len - t.c.file_hdr.len, "avro-generic-block.hex");
    py_case("container", t.id, f.data, f.len, NULL);
    spw_buf_free(&f);
    spw_buf_free(&recs);
    spw_event_unref(d);
    tc_close(&t);

    /* The same write under a user schema that reads like the vendor's. */
    cfg.schema_file = GOLDEN_DIR "/avro-user.avsc";
    if (!tc_open(&t, cfg)) {
        ok(0, "the user schema avro-user.avsc compiles");
        spw_event_unref(w);
        return;
    }
    ok(run(&t, w,
           "{\"metadata\":{\"namespace\":\"test\",\"set\":\"myset\",\"userKey\":4,"
           "\"digest\":{\"$b\":\"78f26d30728c436ac5b7e2b79f7faa4b1c011576\"},\"msg\":\"write\","
           "\"durable\":null,\"gen\":1,\"exp\":0,\"lut\":1734387515693},"
           "\"name\":\"colton\",\"age\":27,\"mapTest\":{\"a\":1,\"b\":2},\"email\":null}") == SPW_OK,
       "real write frame under avro-user.avsc: encodes (%s)", g_err);
    is_golden(g_out.data, g_out.len, "avro-user-write.hex");
    spw_event_unref(w);
    tc_close(&t);
}

/* ---- generic: every particle type ---- */

/* One bin "b" of type/value under the generic codec t; checks the decoded
 * bin equals {"name":"b","type":T,"order":O,"value":VALUE,"lut":LUT}. */
static spw_result one_bin(tcodec *t, uint8_t type, const void *v, size_t n, int64_t lut,
                          int order, const char *value, const char *lutjs) {
    spw_event *ev = new_write();
    must(spw_event_add_bin(ev, "b", 1, type, v, n, lut));
    char bins[4096];
    snprintf(bins, sizeof bins, "[{\"name\":\"b\",\"type\":%u,\"order\":%d,\"value\":%s,\"lut\":%s}]",
             type, order, value, lutjs ? lutjs : "null");
    char *expect = expect_generic(ev, bins);
    spw_result r = run(t, ev, value ? expect : NULL);
    if (r != SPW_OK && value)
        diag("%s", g_err);
    free(expect);
    spw_event_unref(ev);
    return r;
}

static void test_generic_types(void) {
    tcodec t;
    acodec_config cfg = default_cfg();
    if (!tc_open(&t, cfg))
        return;
    uint8_t b[64];
    be64(b, (uint64_t)INT64_MIN);
    ok(one_bin(&t, SPW_PT_INTEGER, b, 8, 0, 0, "-9223372036854775808", NULL) == SPW_OK, "integer min");
    be64(b, (uint64_t)INT64_MAX);
    ok(one_bin(&t, SPW_PT_INTEGER, b, 8, 0, 0, "9223372036854775807", NULL) == SPW_OK, "integer max");
    be64(b, 0x3ff8000000000000ull);
    ok(one_bin(&t, SPW_PT_DOUBLE, b, 8, 0, 0, "{\"$d\":\"3ff8000000000000\"}", NULL) == SPW_OK,
       "double 1.5");
    be64(b, 0xfff0000000000000ull);
    ok(one_bin(&t, SPW_PT_DOUBLE, b, 8, 0, 0, "{\"$d\":\"fff0000000000000\"}", NULL) == SPW_OK,
       "double -infinity goes as is (Avro doubles are IEEE)");
    be64(b, 0x7ff8000000000000ull);
    ok(one_bin(&t, SPW_PT_DOUBLE, b, 8, 0, 0, "{\"$d\":\"7ff8000000000000\"}", NULL) == SPW_OK,
       "double NaN");
    ok(one_bin(&t, SPW_PT_STRING, "h\xc3\xa9llo \"\\", 9, 0, 0, "\"h\xc3\xa9llo \\\"\\\\\"", NULL) ==
           SPW_OK,
       "string");
    ok(one_bin(&t, SPW_PT_STRING, "", 0, 0, 0, "\"\"", NULL) == SPW_OK, "empty string");
    ok(one_bin(&t, SPW_PT_STRING, "a\xff" "b\xe2\x82", 5, 0, 0, "{\"$u\":\"61ff62e282\"}", NULL) ==
           SPW_OK,
       "ill-formed UTF-8 is repaired as Python's replace does");
    ok(one_bin(&t, SPW_PT_BLOB, "\x00\x01\xff", 3, 0, 0, "{\"$b\":\"0001ff\"}", NULL) == SPW_OK, "blob");
    for (uint8_t lt = SPW_PT_JBLOB; lt <= SPW_PT_ERLBLOB; lt++)
        ok(one_bin(&t, lt, "\xac\xed", 2, 0, 0, "{\"$b\":\"aced\"}", NULL) == SPW_OK,
           "language blob %u keeps its type number", lt);
    ok(one_bin(&t, SPW_PT_VECTOR, "\x01\x02", 2, 0, 0, "{\"$b\":\"0102\"}", NULL) == SPW_OK, "vector");
    ok(one_bin(&t, SPW_PT_HLL, "\x05\x06\x07", 3, 0, 0, "{\"$b\":\"050607\"}", NULL) == SPW_OK, "HLL");
    ok(one_bin(&t, SPW_PT_BOOL, "\x01", 1, 0, 0, "true", NULL) == SPW_OK, "bool true");
    ok(one_bin(&t, SPW_PT_BOOL, "\x00", 1, 0, 0, "false", NULL) == SPW_OK, "bool false");
    ok(one_bin(&t, SPW_PT_NIL, NULL, 0, 0, 0, "null", NULL) == SPW_OK, "nil (a deleted bin)");
    ok(one_bin(&t, 200, "\x09\x08", 2, 0, 0, "{\"$b\":\"0908\"}", NULL) == SPW_OK,
       "an unknown particle type: its bytes, its number");
    static const char geo_text[] = "{\"type\":\"Point\",\"coordinates\":[1.5,2]}";
    uint8_t geo[128] = {0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8};
    memcpy(geo + 11, geo_text, sizeof geo_text - 1);
    char gjs[128];
    snprintf(gjs, sizeof gjs, "\"%s\"", "{\\\"type\\\":\\\"Point\\\",\\\"coordinates\\\":[1.5,2]}");
    ok(one_bin(&t, SPW_PT_GEOJSON, geo, 11 + sizeof geo_text - 1, 0, 0, gjs, NULL) == SPW_OK,
       "GeoJSON: the text, without the cells");

    /* malformed values reject, with the bin's name */
    ok(one_bin(&t, SPW_PT_INTEGER, b, 7, 0, 0, NULL, NULL) == SPW_REJECT, "a 7-byte integer rejects");
    has_str(g_err, "avro codec: bin \"b\": malformed integer value (7 bytes)", "and says why");
    ok(one_bin(&t, SPW_PT_BOOL, "\x02", 1, 0, 0, NULL, NULL) == SPW_REJECT, "bool 2 rejects");
    ok(one_bin(&t, SPW_PT_GEOJSON, "\x00\x00", 2, 0, 0, NULL, NULL) == SPW_REJECT,
       "a truncated GeoJSON rejects");

    /* lists and maps */
    spw_buf m = SPW_BUF_INIT;
    mp_list(&m, 0);
    ok(one_bin(&t, SPW_PT_LIST, m.data, m.len, 0, 0, "[]", NULL) == SPW_OK, "empty list");
    spw_buf_reset(&m);
    mp_map(&m, 0);
    ok(one_bin(&t, SPW_PT_MAP, m.data, m.len, 0, 0, "{}", NULL) == SPW_OK, "empty map");
    spw_buf_reset(&m);
    mp_list(&m, 9);
    mp_marker(&m, 1);
    mp_int(&m, -5);
    mp_nil(&m);
    mp_bool(&m, true);
    mp_double(&m, 0.25);
    mp_float(&m, 1.5f);
    mp_str(&m, "s");
    mp_typed(&m, SPW_PT_BLOB, "\x01\x02", 2, true);
    mp_uint(&m, UINT64_MAX);
    ok(one_bin(&t, SPW_PT_LIST, m.data, m.len, 0, 1,
               "[{\"value\":-5},{\"value\":null},{\"value\":true},{\"value\":{\"$d\":\"3fd0000000000000\"}},"
               "{\"value\":{\"$d\":\"3ff8000000000000\"}},{\"value\":\"s\"},{\"value\":{\"$b\":\"0102\"}},"
               "{\"value\":\"18446744073709551615\"}]",
               NULL) == SPW_OK,
       "ordered list of every scalar: order 1, unsigned above INT64_MAX as text");
    spw_buf_reset(&m);
    mp_map(&m, 9); /* the order marker pair counts */
    mp_marker(&m, 3);
    mp_nil(&m);
    mp_int(&m, 7);
    mp_str(&m, "int key");
    mp_double(&m, 2.5);
    mp_str(&m, "double key");
    mp_bool(&m, false);
    mp_str(&m, "bool key");
    mp_typed(&m, SPW_PT_BLOB, "\xfb\xff", 2, false);
    mp_str(&m, "blob key");
    mp_nil(&m);
    mp_str(&m, "nil key");
    mp_str(&m, "nest");
    mp_list(&m, 2);
    mp_map(&m, 1);
    mp_str(&m, "k");
    mp_list(&m, 0);
    mp_typed(&m, SPW_PT_GEOJSON, "{}", 2, false);
    mp_byte(&m, 0xd4); /* fixext 1: an extension value (wildcard-like) */
    mp_byte(&m, 5);
    mp_byte(&m, 0);
    mp_str(&m, "ext");
    mp_str(&m, "j");
    mp_typed(&m, SPW_PT_JBLOB, "\xac", 1, true);
    ok(one_bin(&t, SPW_PT_MAP, m.data, m.len, 0, 3,
               "{\"7\":{\"value\":\"int key\"},\"2.5\":{\"value\":\"double key\"},"
               "\"false\":{\"value\":\"bool key\"},\"+/8=\":{\"value\":\"blob key\"},"
               "\"null\":{\"value\":\"nil key\"},"
               "\"nest\":{\"value\":[{\"value\":{\"k\":{\"value\":[]}}},{\"value\":\"{}\"}]},"
               "\"null\":{\"value\":\"ext\"},\"j\":{\"value\":{\"$b\":\"ac\"}}}",
               NULL) == SPW_OK,
       "key-value-ordered map: keys stringified, nesting, GeoJSON element as text");
    /* Python keeps the last of two "null" keys: the expectation above says so
     * twice, and json.loads keeps the last too. */
    spw_buf_reset(&m);
    mp_map(&m, 1);
    mp_double(&m, 1.0);
    mp_int(&m, 1);
    ok(one_bin(&t, SPW_PT_MAP, m.data, m.len, 0, 0, "{\"1.0\":{\"value\":1}}", NULL) == SPW_OK,
       "a double key keeps its '.0'");
    spw_buf_reset(&m);
    mp_map(&m, 1);
    mp_list(&m, 0);
    mp_int(&m, 1);
    ok(one_bin(&t, SPW_PT_MAP, m.data, m.len, 0, 0, NULL, NULL) == SPW_REJECT, "a list as a map key rejects");
    has_str(g_err, "a map key is a list", "and says so");
    spw_buf_reset(&m);
    mp_list(&m, 3);
    /* One fixed 9-byte element, not a random form: a count beyond the bytes
     * left would be malformed outright, not truncated. */
    mp_uint(&m, 1);
    ok(one_bin(&t, SPW_PT_LIST, m.data, m.len, 0, 0, NULL, NULL) == SPW_REJECT, "a truncated list rejects");
    has_str(g_err, "bin \"b\": the list value is malformed or truncated", "and says so");
    spw_buf_reset(&m);
    mp_list(&m, 1);
    mp_int(&m, 1);
    mp_int(&m, 2);
    ok(one_bin(&t, SPW_PT_LIST, m.data, m.len, 0, 0, NULL, NULL) == SPW_REJECT,
       "bytes after a list reject");
    ok(one_bin(&t, SPW_PT_MAP, "\x91\x01", 2, 0, 0, NULL, NULL) == SPW_REJECT, "a map bin holding a list rejects");
    has_str(g_err, "the map value holds a list", "and says so");
    /* deep nesting up to the walker's limit */
    spw_buf_reset(&m);
    for (int i = 0; i < SPW_WALK_MAX_DEPTH; i++)
        mp_list(&m, 1);
    mp_list(&m, 0);
    ok(one_bin(&t, SPW_PT_LIST, m.data, m.len, 0, 0, NULL, NULL) == SPW_OK,
       "lists nested %d deep", SPW_WALK_MAX_DEPTH);
    spw_buf_free(&m);

    /* bin LUTs */
    be64(b, 1);
    ok(one_bin(&t, SPW_PT_INTEGER, b, 8, 1734387515693, 0, "1", "null") == SPW_OK,
       "bin_luts off: lut null even when shipped");
    tc_close(&t);
    cfg.bin_luts = true;
    if (!tc_open(&t, cfg))
        return;
    ok(one_bin(&t, SPW_PT_INTEGER, b, 8, 1734387515693, 0, "1", "1734387515693") == SPW_OK,
       "bin_luts on: the bin's lut");
    ok(one_bin(&t, SPW_PT_INTEGER, b, 8, 0, 0, "1", "null") == SPW_OK, "bin_luts on, none shipped: null");
    tc_close(&t);

    /* invalid_utf8 = bytes and = reject */
    cfg = default_cfg();
    cfg.invalid_utf8 = ACODEC_UTF8_BYTES;
    if (!tc_open(&t, cfg))
        return;
    ok(one_bin(&t, SPW_PT_STRING, "a\xff", 2, 0, 0, "{\"$b\":\"61ff\"}", NULL) == SPW_OK,
       "invalid_utf8=bytes: an ill-formed string goes as bytes, type still 3");
    ok(one_bin(&t, SPW_PT_STRING, "ok", 2, 0, 0, "\"ok\"", NULL) == SPW_OK,
       "invalid_utf8=bytes: a good string stays a string");
    tc_close(&t);
    cfg.invalid_utf8 = ACODEC_UTF8_REJECT;
    if (!tc_open(&t, cfg))
        return;
    ok(one_bin(&t, SPW_PT_STRING, "a\xff", 2, 0, 0, NULL, NULL) == SPW_REJECT,
       "invalid_utf8=reject: an ill-formed string rejects");
    has_str(g_err, "bin \"b\": a string is not valid UTF-8", "and says so");
    tc_close(&t);

    /* stringify_map_keys = false */
    cfg = default_cfg();
    cfg.stringify_map_keys = false;
    if (!tc_open(&t, cfg))
        return;
    ok(one_bin(&t, SPW_PT_MAP, "\x81\x01\x02", 3, 0, 0, NULL, NULL) == SPW_REJECT,
       "stringify_map_keys off: an integer key rejects");
    has_str(g_err, "stringify_map_keys is off", "and says so");
    ok(one_bin(&t, SPW_PT_MAP, "\x81\xa2\x03k\x02", 5, 0, 0, "{\"k\":{\"value\":2}}", NULL) == SPW_OK,
       "stringify_map_keys off: string keys are fine");
    tc_close(&t);
}

/* ---- generic: metadata, keys, deletes, exclusions ---- */

static spw_result run_generic(tcodec *t, const spw_event *ev, const char *bins) {
    char *expect = expect_generic(ev, bins);
    spw_result r = run(t, ev, expect);
    free(expect);
    return r;
}

static void test_generic_metadata(void) {
    tcodec t;
    if (!tc_open(&t, default_cfg()))
        return;
    static const struct {
        uint8_t type;
        const char *hex;
    } keys[] = {
        {SPW_PT_INTEGER, "ffffffffffffffff"}, {SPW_PT_DOUBLE, "3ff8000000000000"},
        {SPW_PT_STRING, "6b2231"},            {SPW_PT_STRING, ""},
        {SPW_PT_BLOB, "010203"},              {SPW_PT_BLOB, ""},
        {SPW_PT_STRING, "61ff"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        uint8_t v[16];
        size_t n = unhex(keys[i].hex, v);
        spw_event *ev = new_write();
        must(spw_event_set_key(ev, keys[i].type, v, n));
        ok(run_generic(&t, ev, "[]") == SPW_OK, "user key %s '%s'", spw_particle_name(keys[i].type),
           keys[i].hex);
        spw_event_unref(ev);
    }
    /* with and without set, key; every metadata value at its extremes */
    for (int mask = 0; mask < 8; mask++) {
        spw_event *ev = new_write();
        if (mask & 1)
            must(spw_event_set_set(ev, "demo", 4));
        if (mask & 2) {
            uint8_t k[8];
            be64(k, 99);
            must(spw_event_set_key(ev, SPW_PT_INTEGER, k, 8));
        }
        if (mask & 4) {
            spw_event_set_generation(ev, UINT32_MAX);
            spw_event_set_lut(ev, 1734387515693, 7);
            spw_event_set_expiry(ev, 4102444800);
        }
        ok(run_generic(&t, ev, "[]") == SPW_OK, "write: set %s, key %s, metadata %s",
           mask & 1 ? "yes" : "no", mask & 2 ? "yes" : "no", mask & 4 ? "full" : "zero");
        spw_event_unref(ev);
        ev = ref_delete_parts(mask & 1, mask & 2, mask & 4);
        ok(run_generic(&t, ev, "[]") == SPW_OK, "delete: durable %s, key %s, set %s",
           mask & 1 ? "yes" : "no", mask & 2 ? "yes" : "no", mask & 4 ? "yes" : "no");
        spw_event_unref(ev);
    }
    /* a set present but empty is "" rather than null */
    spw_event *ev = new_write();
    must(spw_event_set_set(ev, "", 0));
    ok(run_generic(&t, ev, "[]") == SPW_OK, "an empty set name is \"\"");
    spw_event_unref(ev);
    /* no op: nothing to say */
    ev = spw_event_new(0, 64);
    must(spw_event_set_namespace(ev, "ns", 2));
    ok(run(&t, ev, NULL) == SPW_REJECT, "an event without an operation rejects");
    has_str(g_err, "avro codec: record: unknown operation", "and says so");
    spw_event_unref(ev);

    /* metadata_exclude, through the core's transform as a route applies it */
    static const char *names[] = {"namespace", "set", "userKey", "digest", "msg", "gen", "lut", "exp",
                                  "durable"};
    for (size_t i = 0; i <= sizeof names / sizeof names[0]; i++) {
        spw_strlist none = {0, NULL}, mex;
        char *one[9];
        if (i < sizeof names / sizeof names[0]) {
            one[0] = (char *)names[i];
            mex = (spw_strlist){1, one};
        } else {
            for (size_t k = 0; k < 9; k++)
                one[k] = (char *)names[k];
            mex = (spw_strlist){9, one};
        }
        spw__xform x;
        spw__xform_scratch scratch = {NULL, 0};
        spw_err err = {{0}};
        must(spw__xform_compile(&none, &none, &none, &mex, &x, &err));
        for (int del = 0; del < 2; del++) {
            spw_event *src = del ? frame_delete(true) : frame_write();
            struct spw_event shadow;
            const spw_event *view = spw__xform_apply(&x, src, &shadow, &scratch);
            ok(view && run_generic(&t, view,
                               del ? "[]"
                                   : "[{\"name\":\"name\",\"type\":3,\"order\":0,\"value\":\"colton\",\"lut\":null},"
                                     "{\"name\":\"age\",\"type\":1,\"order\":0,\"value\":27,\"lut\":null},"
                                     "{\"name\":\"mapTest\",\"type\":19,\"order\":0,\"value\":{\"a\":{\"value\":1},"
                                     "\"b\":{\"value\":2}},\"lut\":null}]") == SPW_OK,
               "metadata_exclude = %s: null in the generic record (%s)",
               i < 9 ? names[i] : "everything", del ? "delete" : "write");
            spw_event_unref(src);
        }
        free(scratch.bins);
        spw__xform_free(&x);
    }
    tc_close(&t);
}

/* ---- user schemas ---- */

/* Opens a codec with an inline schema; NULL-safe for expected failures. */
static bool user_open(tcodec *t, const char *schema, acodec_config cfg) {
    cfg.schema = (char *)schema;
    return tc_open(t, cfg);
}

/* A write of bins built by the caller, under t; decoded must equal expect. */
static void user_case(tcodec *t, spw_event *ev, const char *expect, const char *what) {
    spw_result r = run(t, ev, expect);
    if (!ok(r == SPW_OK, "%s", what))
        diag("%s", g_err);
    spw_event_unref(ev);
}
static void user_reject(tcodec *t, spw_event *ev, const char *reason, const char *what) {
    spw_result r = run(t, ev, NULL);
    ok(r == SPW_REJECT, "%s: rejected", what);
    has_str(g_err, reason, "%s: says why", what);
    spw_event_unref(ev);
}

static spw_event *ev_int(const char *bin, int64_t v) {
    uint8_t b[8];
    be64(b, (uint64_t)v);
    spw_event *ev = new_write();
    must(spw_event_add_bin(ev, bin, strlen(bin), SPW_PT_INTEGER, b, 8, 0));
    return ev;
}
static spw_event *ev_double(const char *bin, double d) {
    uint8_t b[8];
    uint64_t u;
    memcpy(&u, &d, 8);
    be64(b, u);
    spw_event *ev = new_write();
    must(spw_event_add_bin(ev, bin, strlen(bin), SPW_PT_DOUBLE, b, 8, 0));
    return ev;
}
static spw_event *ev_bin(const char *bin, uint8_t type, const void *v, size_t n) {
    spw_event *ev = new_write();
    must(spw_event_add_bin(ev, bin, strlen(bin), type, v, n, 0));
    return ev;
}

static void test_user_scalars(void) {
    tcodec t;
    static const char schema[] =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"i\",\"type\":[\"null\",\"int\"],\"default\":null},"
        "{\"name\":\"l\",\"type\":[\"null\",\"long\"],\"default\":null},"
        "{\"name\":\"f\",\"type\":[\"null\",\"float\"],\"default\":null},"
        "{\"name\":\"d\",\"type\":[\"null\",\"double\"],\"default\":null},"
        "{\"name\":\"s\",\"type\":[\"null\",\"string\"],\"default\":null},"
        "{\"name\":\"b\",\"type\":[\"null\",\"bytes\"],\"default\":null},"
        "{\"name\":\"x\",\"type\":[\"null\",{\"type\":\"fixed\",\"name\":\"F4\",\"size\":4}],\"default\":null},"
        "{\"name\":\"e\",\"type\":[\"null\",{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"red\",\"green\"]}],\"default\":null},"
        "{\"name\":\"t\",\"type\":[\"null\",\"boolean\"],\"default\":null},"
        "{\"name\":\"n\",\"type\":[\"int\",\"long\",\"double\",\"string\"],\"default\":-1}"
        "]}";
    if (!user_open(&t, schema, default_cfg())) {
        ok(0, "the scalar schema compiles");
        return;
    }
    /* expectations are written out in full: the helper below fills nulls */
    char expect[1024];
#define EXPECT(...) snprintf(expect, sizeof expect, __VA_ARGS__)
    const char *all_null = "{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,"
                           "\"x\":null,\"e\":null,\"t\":null,\"n\":-1}";
    user_case(&t, new_write(), all_null, "no bins: every field null or its default");

    EXPECT("{\"i\":2147483647,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,\"x\":null,"
           "\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_int("i", INT32_MAX), expect, "integer -> int at the top of its range");
    user_reject(&t, ev_int("i", (int64_t)INT32_MAX + 1),
                "avro codec: field \"i\": the integer 2147483648 fits no branch of [\"null\",\"int\"]: it is outside the int range",
                "integer above int");
    user_reject(&t, ev_int("i", (int64_t)INT32_MIN - 1), "outside the int range", "integer below int");
    EXPECT("{\"i\":null,\"l\":-9223372036854775808,\"f\":null,\"d\":null,\"s\":null,\"b\":null,"
           "\"x\":null,\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_int("l", INT64_MIN), expect, "integer -> long");
    EXPECT("{\"i\":null,\"l\":null,\"f\":{\"$d\":\"4170000000000000\"},\"d\":null,\"s\":null,\"b\":null,"
           "\"x\":null,\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_int("f", 16777216), expect, "integer -> float when exact (2^24)");
    user_reject(&t, ev_int("f", 16777217), "has no exact float value", "integer -> float, inexact");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":{\"$d\":\"4340000000000000\"},\"s\":null,\"b\":null,"
           "\"x\":null,\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_int("d", 9007199254740992), expect, "integer -> double when exact (2^53)");
    user_reject(&t, ev_int("d", 9007199254740993), "has no exact double value", "integer -> double, inexact");
    float fl = 0.1f;
    EXPECT("{\"i\":null,\"l\":null,\"f\":{\"$d\":\"%016" PRIx64 "\"},\"d\":null,\"s\":null,\"b\":null,"
           "\"x\":null,\"e\":null,\"t\":null,\"n\":-1}",
           ((union { double d; uint64_t u; }){.d = (double)fl}).u);
    user_case(&t, ev_double("f", 0.1), expect, "double -> float rounds to the nearest float");
    user_reject(&t, ev_double("f", 1e300), "is outside the float range", "double -> float, too large");
    EXPECT("{\"i\":null,\"l\":null,\"f\":{\"$d\":\"7ff0000000000000\"},\"d\":null,\"s\":null,\"b\":null,"
           "\"x\":null,\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_double("f", INFINITY), expect, "double -> float: infinity stays infinity");
    user_reject(&t, ev_double("i", 1.0), "the double 1 fits no branch of [\"null\",\"int\"]",
                "double -> int is refused");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":\"hi\",\"b\":null,\"x\":null,\"e\":null,"
           "\"t\":null,\"n\":-1}");
    user_case(&t, ev_bin("s", SPW_PT_STRING, "hi", 2), expect, "string -> string");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":{\"$u\":\"68ff\"},\"b\":null,\"x\":null,"
           "\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_bin("s", SPW_PT_STRING, "h\xff", 2), expect, "ill-formed string -> string, repaired");
    static const char geo[] = "\x00\x00\x00{\"type\":\"Point\",\"coordinates\":[0,0]}";
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":\"{\\\"type\\\":\\\"Point\\\","
           "\\\"coordinates\\\":[0,0]}\",\"b\":null,\"x\":null,\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_bin("s", SPW_PT_GEOJSON, geo, sizeof geo - 1), expect, "GeoJSON -> string");
    user_reject(&t, ev_bin("s", SPW_PT_BLOB, "\x01", 1), "a blob value of 1 bytes fits no branch",
                "blob -> string is refused");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":{\"$b\":\"0102\"},\"x\":null,"
           "\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_bin("b", SPW_PT_BLOB, "\x01\x02", 2), expect, "blob -> bytes");
    user_case(&t, ev_bin("b", SPW_PT_HLL, "\x01\x02", 2), expect, "HLL -> bytes");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":{\"$b\":\"6869\"},\"x\":null,"
           "\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_bin("b", SPW_PT_STRING, "hi", 2), expect, "string -> bytes (its UTF-8)");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,\"x\":{\"$b\":\"01020304\"},"
           "\"e\":null,\"t\":null,\"n\":-1}");
    user_case(&t, ev_bin("x", SPW_PT_BLOB, "\x01\x02\x03\x04", 4), expect, "blob -> fixed of its size");
    user_reject(&t, ev_bin("x", SPW_PT_BLOB, "\x01\x02\x03", 3), "is not of the fixed type's size",
                "blob -> fixed of another size");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,\"x\":null,"
           "\"e\":\"green\",\"t\":null,\"n\":-1}");
    user_case(&t, ev_bin("e", SPW_PT_STRING, "green", 5), expect, "string -> enum symbol");
    user_reject(&t, ev_bin("e", SPW_PT_STRING, "blue", 4), "is not one of the enum's symbols",
                "string -> enum, unknown symbol");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,\"x\":null,"
           "\"e\":null,\"t\":true,\"n\":-1}");
    user_case(&t, ev_bin("t", SPW_PT_BOOL, "\x01", 1), expect, "bool -> boolean");
    user_reject(&t, ev_int("t", 1), "fits no branch of [\"null\",\"boolean\"]", "integer -> boolean");
    /* the first branch that holds the value exactly */
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,\"x\":null,"
           "\"e\":null,\"t\":null,\"n\":5}");
    user_case(&t, ev_int("n", 5), expect, "union [int,long,...]: a small integer takes int");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,\"x\":null,"
           "\"e\":null,\"t\":null,\"n\":5000000000}");
    user_case(&t, ev_int("n", 5000000000), expect, "union [int,long,...]: a large one takes long");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,\"x\":null,"
           "\"e\":null,\"t\":null,\"n\":{\"$d\":\"3fe0000000000000\"}}");
    user_case(&t, ev_double("n", 0.5), expect, "union: a double takes double");
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,\"x\":null,"
           "\"e\":null,\"t\":null,\"n\":\"z\"}");
    user_case(&t, ev_bin("n", SPW_PT_STRING, "z", 1), expect, "union: a string takes string");
    user_case(&t, ev_bin("n", SPW_PT_NIL, NULL, 0), all_null, "a nil bin takes the default");
    /* bins that match no field are left out; the first of two same-named bins counts */
    spw_event *ev = ev_int("zzz", 1);
    uint8_t b8[8];
    be64(b8, 3);
    must(spw_event_add_bin(ev, "n", 1, SPW_PT_INTEGER, b8, 8, 0));
    be64(b8, 4);
    must(spw_event_add_bin(ev, "n", 1, SPW_PT_INTEGER, b8, 8, 0));
    EXPECT("{\"i\":null,\"l\":null,\"f\":null,\"d\":null,\"s\":null,\"b\":null,\"x\":null,"
           "\"e\":null,\"t\":null,\"n\":3}");
    user_case(&t, ev, expect, "unknown bins are left out; the first bin of a name wins");
    tc_close(&t);

    /* invalid_utf8 = reject and = bytes, with [string, bytes] */
    static const char sb[] = "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
                             "{\"name\":\"s\",\"type\":[\"string\",\"bytes\"],\"default\":\"\"},"
                             "{\"name\":\"o\",\"type\":\"string\",\"default\":\"\"}]}";
    acodec_config cfg = default_cfg();
    cfg.invalid_utf8 = ACODEC_UTF8_BYTES;
    if (user_open(&t, sb, cfg)) {
        user_case(&t, ev_bin("s", SPW_PT_STRING, "a\xff", 2), "{\"s\":{\"$b\":\"61ff\"},\"o\":\"\"}",
                  "invalid_utf8=bytes: [string,bytes] takes bytes");
        user_reject(&t, ev_bin("o", SPW_PT_STRING, "a\xff", 2), "invalid_utf8 = bytes: only a bytes type takes it",
                    "invalid_utf8=bytes: a plain string field rejects");
        tc_close(&t);
    }
    cfg.invalid_utf8 = ACODEC_UTF8_REJECT;
    if (user_open(&t, sb, cfg)) {
        user_reject(&t, ev_bin("o", SPW_PT_STRING, "a\xff", 2), "is not valid UTF-8 (invalid_utf8 = reject)",
                    "invalid_utf8=reject");
        tc_close(&t);
    }
#undef EXPECT
}

static void test_user_absent(void) {
    tcodec t;
    static const char schema[] =
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":["
        "{\"name\":\"req\",\"type\":\"long\"},"
        "{\"name\":\"opt\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"dflt\",\"type\":\"string\",\"default\":\"none\"},"
        "{\"name\":\"both\",\"type\":[\"null\",\"long\"],\"default\":null},"
        "{\"name\":\"set\",\"type\":\"string\"},"
        "{\"name\":\"exp\",\"type\":[\"int\",\"null\"]},"
        "{\"name\":\"durable\",\"type\":\"boolean\",\"default\":false}]}";
    if (!user_open(&t, schema, default_cfg())) {
        ok(0, "the absent-value schema compiles");
        return;
    }
    spw_event *ev = ev_int("req", 1);
    must(spw_event_set_set(ev, "s", 1));
    user_case(&t, ev, "{\"req\":1,\"opt\":null,\"dflt\":\"none\",\"both\":null,\"set\":\"s\",\"exp\":0,\"durable\":false}",
              "missing bins: null or default; exp 0 on a write; durable defaults on a write");
    ev = new_write();
    must(spw_event_set_set(ev, "s", 1));
    user_reject(&t, ev,
                "avro codec: field \"req\": no value (the record has no bin of that name), and its type long is not nullable and the field has no default",
                "a missing bin without null or default");
    ev = ev_int("req", 1);
    user_reject(&t, ev, "field \"set\": no value (the record has no set)", "no set and a plain string field");
    ev = ev_bin("req", SPW_PT_NIL, NULL, 0);
    must(spw_event_set_set(ev, "s", 1));
    user_reject(&t, ev, "field \"req\": nil, and its type long is not nullable", "a nil bin for a required field");
    ev = frame_delete(true);
    user_reject(&t, ev, "field \"req\"", "a delete has no bins for required fields");
    tc_close(&t);

    static const char del[] = "{\"type\":\"record\",\"name\":\"D\",\"fields\":["
                              "{\"name\":\"msg\",\"type\":\"string\"},"
                              "{\"name\":\"exp\",\"type\":[\"null\",\"int\"]},"
                              "{\"name\":\"durable\",\"type\":[\"null\",\"boolean\"]},"
                              "{\"name\":\"lut\",\"type\":[\"null\",\"long\"]},"
                              "{\"name\":\"gen\",\"type\":\"int\"}]}";
    if (!user_open(&t, del, default_cfg()))
        return;
    user_case(&t, frame_delete(true),
              "{\"msg\":\"delete\",\"exp\":null,\"durable\":true,\"lut\":1734388979032,\"gen\":2}",
              "a durable delete: exp null, durable true");
    user_case(&t, frame_delete(false),
              "{\"msg\":\"delete\",\"exp\":null,\"durable\":false,\"lut\":1734388979032,\"gen\":2}",
              "a plain delete: durable false");
    user_case(&t, new_write(), "{\"msg\":\"write\",\"exp\":0,\"durable\":null,\"lut\":null,\"gen\":0}",
              "a write: durable null, lut null when not shipped");
    ev = new_write();
    spw_event_set_expiry(ev, (int64_t)INT32_MAX + 1);
    user_reject(&t, ev, "field \"exp\": the integer 2147483648 fits no branch of [\"null\",\"int\"]",
                "exp past 2038 does not fit the vendor's int");
    tc_close(&t);
}

static void test_user_collections(void) {
    tcodec t;
    static const char schema[] =
        "{\"type\":\"record\",\"name\":\"R\",\"namespace\":\"c\",\"fields\":["
        "{\"name\":\"ints\",\"type\":[\"null\",{\"type\":\"array\",\"items\":\"long\"}],\"default\":null},"
        "{\"name\":\"m\",\"type\":[\"null\",{\"type\":\"map\",\"values\":[\"null\",\"long\",\"string\"]}],\"default\":null},"
        "{\"name\":\"rec\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"P\",\"fields\":["
        "  {\"name\":\"x\",\"type\":\"double\"},{\"name\":\"y\",\"type\":\"double\",\"default\":0},"
        "  {\"name\":\"tags\",\"type\":{\"type\":\"array\",\"items\":\"string\"},\"default\":[]},"
        "  {\"name\":\"inner\",\"type\":[\"null\",\"P\"],\"default\":null}]}],\"default\":null},"
        "{\"name\":\"recs\",\"type\":[\"null\",{\"type\":\"array\",\"items\":\"P\"}],\"default\":null}"
        "]}";
    if (!user_open(&t, schema, default_cfg())) {
        ok(0, "the collection schema compiles");
        return;
    }
    spw_buf m = SPW_BUF_INIT;
    mp_list(&m, 4);
    mp_marker(&m, 1);
    mp_int(&m, 1);
    mp_int(&m, -2);
    mp_int(&m, INT64_MAX);
    user_case(&t, ev_bin("ints", SPW_PT_LIST, m.data, m.len),
              "{\"ints\":[1,-2,9223372036854775807],\"m\":null,\"rec\":null,\"recs\":null}",
              "list -> array<long>");
    spw_buf_reset(&m);
    mp_list(&m, 2);
    mp_int(&m, 1);
    mp_str(&m, "x");
    user_reject(&t, ev_bin("ints", SPW_PT_LIST, m.data, m.len),
                "avro codec: field \"ints[1]\": a string cannot be written as long", "a string in array<long>");
    spw_buf_reset(&m);
    mp_map(&m, 4);
    mp_str(&m, "a");
    mp_int(&m, 1);
    mp_int(&m, 2);
    mp_str(&m, "two");
    mp_str(&m, "n");
    mp_nil(&m);
    mp_double(&m, -0.5);
    mp_int(&m, 3);
    user_case(&t, ev_bin("m", SPW_PT_MAP, m.data, m.len),
              "{\"ints\":null,\"m\":{\"a\":1,\"2\":\"two\",\"n\":null,\"-0.5\":3},\"rec\":null,\"recs\":null}",
              "map -> map: keys stringified, values into a union");
    spw_buf_reset(&m);
    mp_map(&m, 1);
    mp_str(&m, "a");
    mp_double(&m, 1.5);
    user_reject(&t, ev_bin("m", SPW_PT_MAP, m.data, m.len),
                "field \"m[\"a\"]\": the double 1.5 fits no branch of [\"null\",\"long\",\"string\"]",
                "a double in map<[null,long,string]>");
    /* map -> record, with defaults, nesting and recursion */
    spw_buf_reset(&m);
    mp_map(&m, 5);
    mp_str(&m, "x");
    mp_int(&m, 2);
    mp_str(&m, "ignored");
    mp_list(&m, 2);
    mp_map(&m, 0);
    mp_int(&m, 1);
    mp_int(&m, 99); /* a non-string key matches no field */
    mp_int(&m, 5);
    mp_str(&m, "tags");
    mp_list(&m, 1);
    mp_str(&m, "t");
    mp_str(&m, "inner");
    mp_map(&m, 1);
    mp_str(&m, "x");
    mp_double(&m, 0.5);
    user_case(&t, ev_bin("rec", SPW_PT_MAP, m.data, m.len),
              "{\"ints\":null,\"m\":null,\"rec\":{\"x\":{\"$d\":\"4000000000000000\"},"
              "\"y\":{\"$d\":\"0000000000000000\"},\"tags\":[\"t\"],"
              "\"inner\":{\"x\":{\"$d\":\"3fe0000000000000\"},\"y\":{\"$d\":\"0000000000000000\"},"
              "\"tags\":[],\"inner\":null}},\"recs\":null}",
              "map -> record by key: defaults, extra keys skipped, a recursive record");
    spw_buf_reset(&m);
    mp_map(&m, 1);
    mp_str(&m, "y");
    mp_int(&m, 2);
    user_reject(&t, ev_bin("rec", SPW_PT_MAP, m.data, m.len),
                "field \"rec.x\": no value (the map has no such key), and its type double is not nullable",
                "map -> record without a required key");
    spw_buf_reset(&m);
    mp_list(&m, 2);
    mp_map(&m, 1);
    mp_str(&m, "x");
    mp_int(&m, 1);
    mp_map(&m, 1);
    mp_str(&m, "x");
    mp_str(&m, "not a number");
    user_reject(&t, ev_bin("recs", SPW_PT_LIST, m.data, m.len), "field \"recs[1].x\": a string cannot be written as double",
                "array<record>: the path names the element and the field");
    spw_buf_reset(&m);
    mp_list(&m, 2);
    mp_map(&m, 1);
    mp_str(&m, "x");
    mp_int(&m, 1);
    mp_map(&m, 1);
    mp_str(&m, "x");
    mp_int(&m, 2);
    mp_map(&m, 2); /* trailing garbage after the list value */
    user_reject(&t, ev_bin("recs", SPW_PT_LIST, m.data, m.len), "bytes after its end",
                "trailing bytes after a list");
    user_reject(&t, ev_bin("ints", SPW_PT_MAP, "\x80", 1), "a map fits no branch of [\"null\",\"array\"]",
                "a map into an array");
    spw_buf_free(&m);
    tc_close(&t);

    /* stringify_map_keys off: a non-string key rejects under a user schema too */
    acodec_config cfg = default_cfg();
    cfg.stringify_map_keys = false;
    if (user_open(&t, schema, cfg)) {
        user_reject(&t, ev_bin("m", SPW_PT_MAP, "\x81\x01\x02", 3),
                    "field \"m\": a map key is not a string and stringify_map_keys is off",
                    "stringify_map_keys off");
        tc_close(&t);
    }
}

static void test_user_metadata(void) {
    tcodec t;
    static const char schema[] =
        "{\"type\":\"record\",\"name\":\"M\",\"fields\":["
        "{\"name\":\"msg\",\"type\":{\"type\":\"enum\",\"name\":\"Op\",\"symbols\":[\"write\",\"delete\"]}},"
        "{\"name\":\"namespace\",\"type\":\"string\"},"
        "{\"name\":\"set\",\"type\":[\"null\",\"string\"],\"default\":null},"
        "{\"name\":\"userKey\",\"type\":[\"null\",\"long\",\"double\",\"bytes\",\"string\"],\"default\":null},"
        "{\"name\":\"digest\",\"type\":{\"type\":\"fixed\",\"name\":\"Digest\",\"size\":20}},"
        "{\"name\":\"gen\",\"type\":\"int\"},"
        "{\"name\":\"lut\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"exp\",\"type\":[\"null\",\"long\"]},"
        "{\"name\":\"durable\",\"type\":[\"null\",\"boolean\"]}]}";
    if (!user_open(&t, schema, default_cfg())) {
        ok(0, "the metadata schema compiles");
        return;
    }
    user_case(&t, frame_write(),
              "{\"msg\":\"write\",\"namespace\":\"test\",\"set\":\"myset\",\"userKey\":4,"
              "\"digest\":{\"$b\":\"78f26d30728c436ac5b7e2b79f7faa4b1c011576\"},\"gen\":1,"
              "\"lut\":1734387515693,\"exp\":0,\"durable\":null}",
              "metadata fields at the top level (enum msg, fixed digest)");
    /* user key types into the union in its order: string key into [.., bytes, string] takes bytes */
    spw_event *ev = new_write();
    must(spw_event_set_key(ev, SPW_PT_STRING, "k", 1));
    user_case(&t, ev,
              "{\"msg\":\"write\",\"namespace\":\"ns\",\"set\":null,\"userKey\":{\"$b\":\"6b\"},"
              "\"digest\":{\"$b\":\"0000000000000000000000000000000000000000\"},\"gen\":0,"
              "\"lut\":null,\"exp\":0,\"durable\":null}",
              "a string key takes the first branch that holds it (bytes, listed first)");
    /* excluded metadata: the namespace (a plain string) rejects; set becomes null */
    spw_strlist none = {0, NULL};
    char *names[] = {"set", "namespace"};
    spw_strlist mex = {2, names};
    spw__xform x;
    spw__xform_scratch scratch = {NULL, 0};
    spw_err err = {{0}};
    must(spw__xform_compile(&none, &none, &none, &mex, &x, &err));
    spw_event *src = frame_write();
    struct spw_event shadow;
    const spw_event *view = spw__xform_apply(&x, src, &shadow, &scratch);
    ok(run(&t, view, NULL) == SPW_REJECT, "metadata_exclude = namespace with a plain string field: rejected");
    has_str(g_err, "field \"namespace\": no value (the route excludes it (metadata_exclude))", "and says why");
    spw_event_unref(src);
    free(scratch.bins);
    spw__xform_free(&x);
    tc_close(&t);
}

static void test_schema_errors(void) {
    static const struct {
        const char *schema;
        const char *msg;
    } bad[] = {
        {"{", "avro codec: the schema is not JSON: "},
        {"\"int\"", "the top-level type must be a record (it is int)"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"Nope\"}]}",
         "avro codec: schema: record \"R\", field \"a\": unknown type \"Nope\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"int\",\"int\"]}]}",
         "record \"R\", field \"a\": a union lists int twice"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"int\",[\"null\"]]}]}",
         "a union cannot hold another union"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"},{\"name\":\"a\",\"type\":\"long\"}]}",
         "the record \"R\" has two fields named \"a\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\",\"default\":\"x\"}]}",
         "the default of the field \"a\" does not fit its type: an int default must be an integer"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"null\",\"int\"],\"default\":1}]}",
         "a union's default must be a value of its first branch"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"x\",\"x\"]}}]}",
         "the enum \"E\" lists \"x\" twice"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":-1}}]}",
         "the fixed \"F\" needs a \"size\""},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}}]}",
         "the type \"R\" is defined twice"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"gen\",\"type\":\"string\"}]}",
         "the field \"gen\" holds the record's gen, an integer, which its type cannot hold"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"lut\",\"type\":[\"null\",\"int\"]}]}",
         "the field \"lut\" holds the record's lut, Unix milliseconds (a long)"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"digest\",\"type\":{\"type\":\"fixed\",\"name\":\"D\",\"size\":16}}]}",
         "the field \"digest\" is a fixed of another size than 20"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"msg\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"a\"]}}]}",
         "the field \"msg\" is an enum without the symbols write and delete"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":{\"type\":\"record\",\"name\":\"S\",\"fields\":["
         "{\"name\":\"s\",\"type\":\"S\",\"default\":{}}]}}]}",
         "the default nests too deeply"},
        {"{\"type\":\"error\",\"name\":\"R\",\"fields\":[]}", "\"error\" types belong to Avro protocols"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"1a\",\"type\":\"int\"}]}",
         "\"1a\" (in the record \"R\") is not a valid field name"},
        {"{\"type\":\"record\",\"name\":\"R\",\"fields\":[],\"fields\":[]}",
         "the schema is not JSON: duplicate object key"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        aplan p;
        spw_err err = {{0}};
        spw_result r = acodec_plan_from_text(bad[i].schema, strlen(bad[i].schema), false, &p, &err);
        ok(r == SPW_ERR_CONFIG, "bad schema %zu is a configuration error", i + 1);
        has_str(err.msg, bad[i].msg, "bad schema %zu: the message says why", i + 1);
    }
    /* through check(), as `spillway --check` calls it */
    extern const spw_plugin spw_plugin_descriptor;
    const spw_plugin *pl = &spw_plugin_descriptor;
    acodec_config cfg = default_cfg();
    spw_err err = {{0}};
    cfg.schema = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[]}";
    cfg.schema_file = GENERIC_AVSC;
    ok(pl->check(&cfg, &err) == SPW_ERR_CONFIG, "schema and schema_file together: refused");
    has_str(err.msg, "set schema or schema_file, not both", "and says so");
    cfg.schema = "";
    ok(pl->check(&cfg, &err) == SPW_OK, "schema_file alone (the generic schema's file) passes");
    cfg.schema_file = "/nonexistent/x.avsc";
    ok(pl->check(&cfg, &err) == SPW_ERR_CONFIG, "a missing schema_file: refused");
    has_str(err.msg, "schema_file /nonexistent/x.avsc: No such file", "and names it");
    cfg.schema_file = GOLDEN_DIR;
    ok(pl->check(&cfg, &err) == SPW_ERR_CONFIG, "a directory as schema_file: refused");
    cfg.schema_file = NULL;
    cfg.schema = "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":[\"int\",\"int\"]}]}";
    ok(pl->check(&cfg, &err) == SPW_ERR_CONFIG, "an invalid inline schema: refused");
    void *inst = NULL;
    ok(pl->create(NULL, &cfg, &inst, &err) == SPW_ERR_CONFIG && !inst, "create refuses it too");
}

/* ---- containers ---- */

static void test_containers(void) {
    for (int codec = 0; codec < 2; codec++) {
        tcodec t;
        acodec_config cfg = default_cfg();
        cfg.container_codec = codec;
        if (!tc_open(&t, cfg))
            return;
        spw_buf recs = SPW_BUF_INIT, f = SPW_BUF_INIT, expect = SPW_BUF_INIT;
        spw_slice s[64];
        spw_err err = {{0}};
        size_t off[65];
        buf_str(&expect, "[");
        for (int i = 0; i < 64; i++) {
            spw_event *ev = i % 5 == 4 ? frame_delete(i % 2) : frame_write();
            spw_event_set_generation(ev, (uint32_t)i);
            off[i] = recs.len;
            must(acodec_encode(&t.c, ev, &recs, &err));
            if (i)
                buf_str(&expect, ",");
            js_generic(&expect, ev,
                       i % 5 == 4 ? "[]"
                                  : "[{\"name\":\"name\",\"type\":3,\"order\":0,\"value\":\"colton\",\"lut\":null},"
                                    "{\"name\":\"age\",\"type\":1,\"order\":0,\"value\":27,\"lut\":null},"
                                    "{\"name\":\"mapTest\",\"type\":19,\"order\":0,\"value\":{\"a\":{\"value\":1},"
                                    "\"b\":{\"value\":2}},\"lut\":null}]");
            spw_event_unref(ev);
        }
        off[64] = recs.len;
        buf_str(&expect, "]");
        for (int i = 0; i < 64; i++)
            s[i] = (spw_slice){recs.data + off[i], off[i + 1] - off[i]};
        static const size_t counts[] = {0, 1, 3, 64};
        for (size_t k = 0; k < 4; k++) {
            spw_buf_reset(&f);
            must(spw_buf_append(&f, "x", 1)); /* frame appends: what was there stays */
            spw_result r = acodec_frame(&t.c, s, counts[k], &f, &err);
            ok(r == SPW_OK && f.data[0] == 'x' && memcmp(f.data + 1, "Obj\x01", 4) == 0,
               "%s container of %zu records: appended, starts with Obj 01",
               codec ? "deflate" : "null", counts[k]);
            if (counts[k] == 64)
                py_case("container", t.id, f.data + 1, f.len - 1, buf_cstr(&expect));
            else
                py_case("container", t.id, f.data + 1, f.len - 1, counts[k] == 0 ? "[]" : NULL);
        }
        ok(memcmp(f.data + f.len - 16, t.c.sync, 16) == 0, "the block ends with the sync marker");
        if (codec == 0)
            ok(f.len - 1 == t.c.file_hdr.len + 2 + 2 + (recs.len - 64 * 10) + 16 ||
                   f.len - 1 == t.c.file_hdr.len + 2 + 3 + (recs.len - 64 * 10) + 16,
               "null codec: header, count, size, the datums, sync");
        /* a record that is not this codec's */
        spw_slice bad = {(const uint8_t *)"\xc3\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00", 11};
        size_t before = f.len;
        ok(acodec_frame(&t.c, &bad, 1, &f, &err) == SPW_ERR_INVAL && f.len == before,
           "a foreign record is refused and nothing is appended");
        has_str(err.msg, "not this schema's single-object encoding", "and says so");
        ok(strcmp(acodec_content_type(&t.c, false), "application/avro") == 0 &&
               strcmp(acodec_content_type(&t.c, true), "avro/binary") == 0,
           "content types: application/avro, avro/binary");
        spw_buf_free(&recs);
        spw_buf_free(&f);
        spw_buf_free(&expect);
        tc_close(&t);
    }
    tcodec a, b;
    acodec_config cfg = default_cfg();
    cfg.batch_content_type = ACODEC_CT_APPLICATION_AVRO;
    if (tc_open(&a, cfg) && tc_open(&b, cfg)) {
        ok(memcmp(a.c.sync, b.c.sync, 16) != 0, "two instances have different sync markers");
        ok(strcmp(acodec_content_type(&a.c, true), "application/avro") == 0,
           "batch_content_type = application/avro");
        tc_close(&a);
        tc_close(&b);
    }
}

/* ---- the descriptor ---- */

static void test_descriptor(void) {
    extern const spw_plugin spw_plugin_descriptor;
    const spw_plugin *p = &spw_plugin_descriptor;
    ok(p->kind == SPW_KIND_CODEC && strcmp(p->name, "avro") == 0 && p->codec && p->codec->encode &&
           p->codec->frame && p->codec->content_type && p->check && !p->source && !p->sink,
       "descriptor: codec avro with encode, frame, content_type and check");
    options_ok(p, 8, "eight options");
    spw_err terr = {{0}};
    acodec_config def;
    memset(&def, 0x55, sizeof def);
    acodec_config want = default_cfg();
    ok(spw__opts_defaults(p->options, &def, &terr) == SPW_OK &&
           (!def.schema || !*def.schema) && (!def.schema_file || !*def.schema_file) &&
           def.stringify_map_keys == want.stringify_map_keys && def.bin_luts == want.bin_luts &&
           def.invalid_utf8 == want.invalid_utf8 && def.container_codec == want.container_codec &&
           def.deflate_level == want.deflate_level && def.batch_content_type == want.batch_content_type,
       "the table's defaults are the documented ones");
    if (terr.msg[0])
        diag("%s", terr.msg);
    spw__opts_free(p->options, &def);

    acodec_config cfg = default_cfg();
    void *inst = NULL;
    spw_err err = {{0}};
    ok(p->check(&cfg, &err) == SPW_OK, "check accepts the defaults");
    ok(p->create(NULL, &cfg, &inst, &err) == SPW_OK && inst, "create");
    spw_event *ev = frame_write();
    spw_buf b = SPW_BUF_INIT, f = SPW_BUF_INIT;
    ok(p->codec->encode(inst, ev, &b, &err) == SPW_OK && b.len > 10 && b.data[0] == 0xC3,
       "encode through the ops");
    spw_slice s = {b.data, b.len};
    ok(p->codec->frame(inst, &s, 1, &f, &err) == SPW_OK && memcmp(f.data, "Obj\x01", 4) == 0,
       "frame through the ops");
    ok(strcmp(p->codec->content_type(inst, false), "application/avro") == 0, "content type through the ops");
    p->destroy(inst);
    p->destroy(NULL);
    spw_event_unref(ev);
    spw_buf_free(&b);
    spw_buf_free(&f);
}

/* ---- randomized: clean events must decode to exactly what was sent ---- */

/* A random valid UTF-8 string of up to max bytes, of the pieces below
 * (test-codec-common.h's rand_text draws from others). */
static size_t utf8_text(char *out, size_t max) {
    static const char *pieces[] = {"a", "Z", "0", " ", "\"", "\\", "\n", "\x01", "\xc3\xa9", "\xe2\x82\xac",
                                   "\xf0\x9f\x98\x80", "\x7f", "/", "k"};
    size_t n = 0, want = rn((uint32_t)max + 1);
    while (n < want) {
        const char *p = pieces[rn(sizeof pieces / sizeof pieces[0])];
        size_t l = strlen(p);
        if (n + l > max)
            break;
        memcpy(out + n, p, l);
        n += l;
    }
    return n;
}

/*
 * A random element into mp, and its expected generic JSON (Item-wrapped
 * when `item`) into js. Map keys are unique after stringification.
 */
static void gen_value(spw_buf *mp, spw_buf *js, unsigned depth, bool item) {
    if (item)
        buf_str(js, "{\"value\":");
    unsigned kind = rn(depth < 4 ? 14 : 11);
    char text[64];
    switch (kind) {
    case 0:
        mp_nil(mp);
        buf_str(js, "null");
        break;
    case 1: {
        bool b = rn(2);
        mp_bool(mp, b);
        buf_str(js, b ? "true" : "false");
        break;
    }
    case 2:
    case 3: {
        int64_t v = (int64_t)rnd() >> rn(64);
        mp_int(mp, v);
        buf_fmt(js, "%" PRId64, v);
        break;
    }
    case 4: {
        uint64_t u = rnd() | (1ull << 63);
        mp_uint(mp, u);
        buf_fmt(js, "\"%" PRIu64 "\"", u);
        break;
    }
    case 5: {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, 8);
        if (isnan(d))
            d = NAN, bits = 0x7ff8000000000000ull;
        memcpy(&d, &bits, 8);
        mp_double(mp, d);
        js_double(js, d);
        break;
    }
    case 6: {
        float f = (float)((int)rn(2000) - 1000) / 8.0f;
        mp_float(mp, f);
        js_double(js, (double)f);
        break;
    }
    case 7: {
        size_t n = utf8_text(text, 20);
        mp_typed(mp, SPW_PT_STRING, text, n, rn(4) == 0);
        js_str(js, text, n);
        break;
    }
    case 8: {
        size_t n = rn(8);
        for (size_t i = 0; i < n; i++)
            text[i] = (char)rnd();
        mp_typed(mp, SPW_PT_STRING, text, n, false);
        js_str(js, text, n); /* ill-formed ones become {"$u":...} */
        break;
    }
    case 9: {
        static const uint8_t ptypes[] = {SPW_PT_BLOB, SPW_PT_JBLOB, SPW_PT_PYBLOB, SPW_PT_HLL, 99};
        size_t n = rn(10);
        for (size_t i = 0; i < n; i++)
            text[i] = (char)rnd();
        mp_typed(mp, ptypes[rn(5)], text, n, rn(2));
        js_bytes(js, text, n);
        break;
    }
    case 10: {
        size_t n = (size_t)snprintf(text, sizeof text, "{\"type\":\"Point\",\"coordinates\":[%u,1]}", rn(90));
        mp_typed(mp, SPW_PT_GEOJSON, text, n, false);
        js_str(js, text, n);
        break;
    }
    case 11:
    case 12: {
        uint32_t n = rn(6);
        bool ordered = rn(3) == 0;
        mp_list(mp, n + ordered);
        if (ordered)
            mp_marker(mp, 1);
        buf_str(js, "[");
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                buf_str(js, ",");
            gen_value(mp, js, depth + 1, true);
        }
        buf_str(js, "]");
        break;
    }
    default: {
        uint32_t n = rn(6);
        bool ordered = rn(3) == 0;
        mp_map(mp, n + ordered);
        if (ordered) {
            mp_marker(mp, 1);
            mp_nil(mp);
        }
        buf_str(js, "{");
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                buf_str(js, ",");
            switch (rn(4)) { /* every key form, none colliding with another */
            case 0:
                snprintf(text, sizeof text, "s%u", i);
                mp_str(mp, text);
                buf_fmt(js, "\"%s\"", text);
                break;
            case 1:
                mp_int(mp, 1000 + i);
                buf_fmt(js, "\"%u\"", 1000 + i);
                break;
            case 2:
                mp_double(mp, i + 0.5);
                buf_fmt(js, "\"%u.5\"", i);
                break;
            default: {
                uint8_t k[3] = {0xB0, (uint8_t)i, 0x11};
                spw_buf b64 = SPW_BUF_INIT;
                must(spw_buf_append_base64(&b64, k, 3));
                mp_typed(mp, SPW_PT_BLOB, k, 3, rn(2));
                buf_str(js, "\"");
                buf_add(js, b64.data, b64.len);
                buf_str(js, "\"");
                spw_buf_free(&b64);
                break;
            }
            }
            buf_str(js, ":");
            gen_value(mp, js, depth + 1, true);
        }
        buf_str(js, "}");
        break;
    }
    }
    if (item)
        buf_str(js, "}");
}

/* A random top-level bin into ev, and its expected Bin JSON. */
static void gen_bin(spw_event *ev, spw_buf *js, unsigned idx, bool luts) {
    char name[24];
    size_t nl = (size_t)snprintf(name, sizeof name, "b%u", idx);
    if (rn(8) == 0)
        nl = utf8_text(name, 15);
    int64_t lut = rn(2) ? 1600000000000 + (int64_t)rn(1u << 30) : 0;
    spw_buf v = SPW_BUF_INIT, val = SPW_BUF_INIT;
    uint8_t type = 0, order = 0;
    uint8_t b[64];
    switch (rn(12)) {
    case 0:
        type = SPW_PT_NIL;
        buf_str(&val, "null");
        break;
    case 1: {
        int64_t i = (int64_t)rnd() >> rn(64);
        be64(b, (uint64_t)i);
        type = SPW_PT_INTEGER;
        buf_add(&v, b, 8);
        buf_fmt(&val, "%" PRId64, i);
        break;
    }
    case 2: {
        uint64_t bits = rnd();
        double d;
        memcpy(&d, &bits, 8);
        if (isnan(d))
            bits = 0x7ff8000000000000ull;
        memcpy(&d, &bits, 8);
        be64(b, bits);
        type = SPW_PT_DOUBLE;
        buf_add(&v, b, 8);
        js_double(&val, d);
        break;
    }
    case 3: {
        size_t n = utf8_text((char *)b, 40);
        type = SPW_PT_STRING;
        buf_add(&v, b, n);
        js_str(&val, b, n);
        break;
    }
    case 4: {
        static const uint8_t ptypes[] = {SPW_PT_BLOB, SPW_PT_JBLOB, SPW_PT_CSBLOB, SPW_PT_ERLBLOB,
                                         SPW_PT_VECTOR, SPW_PT_HLL, 250};
        size_t n = rn(40);
        for (size_t i = 0; i < n; i++)
            b[i] = (uint8_t)rnd();
        type = ptypes[rn(7)];
        buf_add(&v, b, n);
        js_bytes(&val, b, n);
        break;
    }
    case 5: {
        bool x = rn(2);
        type = SPW_PT_BOOL;
        buf_add(&v, x ? "\x01" : "\x00", 1);
        buf_str(&val, x ? "true" : "false");
        break;
    }
    case 6: {
        char text[64];
        size_t n = (size_t)snprintf(text, sizeof text, "{\"type\":\"Point\",\"coordinates\":[%u,2]}", rn(90));
        uint8_t hdr[11] = {0, 0, 1};
        type = SPW_PT_GEOJSON;
        buf_add(&v, hdr, 11);
        buf_add(&v, text, n);
        js_str(&val, text, n);
        break;
    }
    case 7:
    case 8:
    case 9: { /* list */
        uint32_t n = rn(8);
        bool ordered = rn(2);
        type = SPW_PT_LIST;
        order = ordered ? 1 : 0;
        mp_list(&v, n + ordered);
        if (ordered)
            mp_marker(&v, 1);
        buf_str(&val, "[");
        for (uint32_t i = 0; i < n; i++) {
            if (i)
                buf_str(&val, ",");
            gen_value(&v, &val, 1, true);
        }
        buf_str(&val, "]");
        break;
    }
    default: { /* map: gen_value's map, wrapped by hand to learn its order */
        static const uint8_t orders[] = {0, 1, 3, 8};
        uint32_t n = rn(8);
        type = SPW_PT_MAP;
        order = orders[rn(4)];
        mp_map(&v, n + (order ? 1 : 0));
        if (order) {
            mp_marker(&v, order);
            mp_nil(&v);
        }
        buf_str(&val, "{");
        for (uint32_t i = 0; i < n; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%u", i);
            mp_str(&v, key);
            buf_fmt(&val, "%s\"%s\":", i ? "," : "", key);
            gen_value(&v, &val, 1, true);
        }
        buf_str(&val, "}");
        break;
    }
    }
    must(spw_event_add_bin(ev, name, nl, type, v.data, v.len, lut));
    buf_str(js, "{\"name\":");
    js_str(js, name, nl);
    buf_fmt(js, ",\"type\":%u,\"order\":%u,\"value\":", type, order);
    buf_add(js, val.data, val.len);
    if (luts && lut)
        buf_fmt(js, ",\"lut\":%" PRId64 "}", lut);
    else
        buf_str(js, ",\"lut\":null}");
    spw_buf_free(&v);
    spw_buf_free(&val);
}

static spw_event *gen_event(spw_buf *bins_js, bool luts) {
    spw_event *ev = spw_event_new(16, 1 << 16);
    bool del = rn(5) == 0;
    must(spw_event_set_op(ev, del ? SPW_OP_DELETE : SPW_OP_WRITE, rn(2)));
    char text[64];
    size_t n = utf8_text(text, 31);
    must(spw_event_set_namespace(ev, text, n));
    if (rn(2)) {
        n = utf8_text(text, 63);
        must(spw_event_set_set(ev, text, n));
    }
    uint8_t d[20];
    for (int i = 0; i < 20; i++)
        d[i] = (uint8_t)rnd();
    spw_event_set_digest(ev, d);
    uint8_t k[32];
    switch (rn(5)) {
    case 0:
        be64(k, rnd());
        must(spw_event_set_key(ev, SPW_PT_INTEGER, k, 8));
        break;
    case 1:
        be64(k, 0x400921fb54442d18ull);
        must(spw_event_set_key(ev, SPW_PT_DOUBLE, k, 8));
        break;
    case 2:
        n = utf8_text((char *)k, 30);
        must(spw_event_set_key(ev, SPW_PT_STRING, k, n));
        break;
    case 3:
        n = rn(30);
        for (size_t i = 0; i < n; i++)
            k[i] = (uint8_t)rnd();
        must(spw_event_set_key(ev, SPW_PT_BLOB, k, n));
        break;
    default:
        break;
    }
    spw_event_set_generation(ev, (uint32_t)rnd());
    spw_event_set_lut(ev, rn(4) ? 1600000000000 + (int64_t)rn(1u << 31) : 0, rn(3));
    spw_event_set_expiry(ev, rn(2) ? 0 : 1700000000 + (int64_t)rn(1u << 30));
    buf_str(bins_js, "[");
    unsigned nb = del ? 0 : rn(13);
    for (unsigned i = 0; i < nb; i++) {
        if (i)
            buf_str(bins_js, ",");
        gen_bin(ev, bins_js, i, luts);
    }
    buf_str(bins_js, "]");
    return ev;
}

static void test_random_generic(void) {
    tcodec t;
    acodec_config cfg = default_cfg();
    cfg.bin_luts = true;
    if (!tc_open(&t, cfg))
        return;
    unsigned bad = 0, n = 20000;
    for (unsigned i = 0; i < n; i++) {
        spw_buf bins = SPW_BUF_INIT;
        spw_event *ev = gen_event(&bins, true);
        char *expect = expect_generic(ev, buf_cstr(&bins));
        /* Python reads one in ten (it is the slow reader); avro-c reads all. */
        bool to_py = i % 10 == 0;
        FILE *saved = pyf;
        if (!to_py)
            pyf = NULL;
        spw_result r = run(&t, ev, expect);
        pyf = saved;
        if (r != SPW_OK && bad++ < 5)
            diag("event %u: %s", i, g_err);
        free(expect);
        spw_buf_free(&bins);
        spw_event_unref(ev);
    }
    ok(bad == 0, "%u random clean events encode (avro-c reads all; Python reads every tenth)", n);
    tc_close(&t);
}

/* ---- randomized: hostile events decode or are rejected with a reason ---- */

static void test_random_hostile(void) {
    static const char schema[] =
        "{\"type\":\"record\",\"name\":\"H\",\"fields\":["
        "{\"name\":\"a\",\"type\":[\"null\",\"int\",\"string\",{\"type\":\"array\",\"items\":[\"null\",\"long\",\"string\",\"bytes\"]}],\"default\":null},"
        "{\"name\":\"b\",\"type\":[\"null\",\"double\",{\"type\":\"map\",\"values\":[\"null\",\"long\",\"double\",\"string\",\"boolean\"]}]},"
        "{\"name\":\"c\",\"type\":{\"type\":\"record\",\"name\":\"C\",\"fields\":[{\"name\":\"a\",\"type\":[\"null\",\"long\"],\"default\":null},"
        "{\"name\":\"c\",\"type\":[\"null\",\"C\"],\"default\":null}]},\"default\":{}},"
        "{\"name\":\"d\",\"type\":[\"bytes\",\"null\"],\"default\":\"\"},"
        "{\"name\":\"userKey\",\"type\":[\"null\",\"string\",\"long\"],\"default\":null}]}";
    tcodec g, u;
    if (!tc_open(&g, default_cfg()) || !user_open(&u, schema, default_cfg())) {
        ok(0, "the hostile-test codecs open");
        return;
    }
    static const char *names[] = {"a", "b", "c", "d", "e"};
    static const uint8_t types[] = {SPW_PT_LIST, SPW_PT_MAP, SPW_PT_LIST, SPW_PT_MAP, SPW_PT_INTEGER,
                                    SPW_PT_DOUBLE, SPW_PT_BOOL, SPW_PT_GEOJSON, SPW_PT_STRING, 77};
    unsigned n = 20000, wrong[2] = {0, 0}, rejected[2] = {0, 0};
    for (unsigned i = 0; i < n; i++) {
        spw_event *ev = new_write();
        if (rn(2))
            must(spw_event_set_key(ev, rn(2) ? SPW_PT_STRING : SPW_PT_INTEGER, "\xff\xfe\x00\x01\x02\x03\x04\x05", 8));
        unsigned nb = 1 + rn(4);
        for (unsigned k = 0; k < nb; k++) {
            uint8_t v[48];
            size_t len = rn(sizeof v);
            for (size_t j = 0; j < len; j++)
                v[j] = (uint8_t)rnd();
            /* often a plausible start: a container header */
            if (len && rn(2))
                v[0] = (uint8_t)((rn(2) ? 0x90 : 0x80) | rn(4));
            if (len > 2 && rn(3) == 0) {
                v[1] = 0xc7, v[2] = 0;
            }
            must(spw_event_add_bin(ev, names[rn(5)], 1, types[rn(10)], v, len, 0));
        }
        tcodec *cs[2] = {&g, &u};
        for (int c = 0; c < 2; c++) {
            FILE *saved = pyf;
            if (i % 20)
                pyf = NULL;
            spw_result r = run(cs[c], ev, NULL);
            pyf = saved;
            if (r == SPW_REJECT) {
                rejected[c]++;
                if (!strstr(g_err, "avro codec: ") && wrong[c]++ < 5)
                    diag("reject without a reason: '%s'", g_err);
            } else if (r != SPW_OK && wrong[c]++ < 5)
                diag("result %d: %s", r, g_err);
        }
        spw_event_unref(ev);
    }
    ok(wrong[0] == 0, "generic: %u hostile events encode (avro-c reads them) or reject with a reason "
                      "(%u rejected)", n, rejected[0]);
    ok(wrong[1] == 0, "user schema: %u hostile events encode or reject with a reason (%u rejected)", n,
       rejected[1]);
    ok(rejected[0] > 0 && rejected[0] < n && rejected[1] > 0 && rejected[1] < n,
       "both outcomes happen (the test reaches both paths)");
    tc_close(&g);
    tc_close(&u);
}

/* ---- buffer discipline and steady state ---- */

static void test_rollback(void) {
    tcodec t;
    if (!tc_open(&t, default_cfg()))
        return;
    spw_buf b = SPW_BUF_INIT;
    must(spw_buf_append(&b, "prefix", 6));
    spw_event *ev = new_write();
    must(spw_event_add_bin(ev, "ok", 2, SPW_PT_STRING, "fine", 4, 0));
    must(spw_event_add_bin(ev, "bad", 3, SPW_PT_INTEGER, "\x01", 1, 0));
    spw_err err = {{0}};
    ok(acodec_encode(&t.c, ev, &b, &err) == SPW_REJECT && b.len == 6 && memcmp(b.data, "prefix", 6) == 0,
       "a rejected record leaves the buffer exactly as it was");
    ok(acodec_encode_datum(&t.c, ev, &b, &err) == SPW_REJECT && b.len == 6, "the datum alone too");
    spw_event_unref(ev);
    spw_buf_free(&b);
    tc_close(&t);
}

/* Encoding a record and framing it alone, as tc_steady_state calls it
 * (the frame goes to g_frame). */
static spw_buf g_frame = SPW_BUF_INIT;
static spw_result encode_and_frame(void *codec, const spw_event *ev, spw_buf *out, spw_err *err) {
    spw_result r = acodec_encode(codec, ev, out, err);
    if (r != SPW_OK)
        return r;
    spw_slice s = {out->data, out->len};
    spw_buf_reset(&g_frame);
    return acodec_frame(codec, &s, 1, &g_frame, err);
}

static void test_steady_state(void) {
    tcodec g, u;
    static const char schema[] =
        "{\"type\":\"record\",\"name\":\"S\",\"fields\":["
        "{\"name\":\"msg\",\"type\":\"string\"},{\"name\":\"name\",\"type\":\"string\"},"
        "{\"name\":\"age\",\"type\":\"int\"},"
        "{\"name\":\"mapTest\",\"type\":{\"type\":\"record\",\"name\":\"AB\",\"fields\":["
        "{\"name\":\"a\",\"type\":\"long\"},{\"name\":\"b\",\"type\":\"long\"}]}}]}";
    if (!tc_open(&g, default_cfg()) || !user_open(&u, schema, default_cfg()))
        return;
    spw_event *ev = frame_write();
    spw_buf out = SPW_BUF_INIT;
    tc_steady_state(encode_and_frame, &g.c, &ev, 1, 1000, &out,
                    "generic schema: no allocation per record or batch in steady state");
    spw_buf_reset(&out);
    tc_steady_state(encode_and_frame, &u.c, &ev, 1, 1000, &out,
                    "user schema: no allocation per record or batch in steady state");
    spw_event_unref(ev);
    spw_buf_free(&out);
    spw_buf_free(&g_frame);
    tc_close(&g);
    tc_close(&u);
}

/* ---- Python's reading of everything above ---- */

static void test_python(void) {
    fclose(pyf);
    pyf = NULL;
    python_ok(run_python(env_or("AVRO_CHECK", AVRO_CHECK_PY), pyf_path),
              "python3-avro decodes all %u cases: fingerprints, canonical forms and values agree",
              py_cases);
}

int main(void) {
    int fd = mkstemp(pyf_path);
    pyf = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!pyf)
        diag("cannot create %s: Python checks skipped", pyf_path);

    test_generic_schema();
    test_canonical();
    test_golden();
    test_generic_types();
    test_generic_metadata();
    test_user_scalars();
    test_user_absent();
    test_user_collections();
    test_user_metadata();
    test_schema_errors();
    test_containers();
    test_descriptor();
    test_rollback();
    test_random_generic();
    test_random_hostile();
    test_steady_state();
    if (pyf)
        test_python();
    if (getenv("AVRO_KEEP_CASES")) /* for debugging: keep what Python read */
        diag("cases kept in %s", pyf_path);
    else
        unlink(pyf_path);

    spw_buf_free(&g_out);
    return tap_done();
}

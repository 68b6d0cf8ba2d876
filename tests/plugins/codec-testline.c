/*
 * tests/plugins/codec-testline.c: a test-only codec. One text line per
 * event, made for shell tests (awk, grep), never installed:
 *
 *   write ns=test set=demo key=i:42 digest=<40 hex> gen=3 lut=<ms> exp=0 bins=5 seq=42
 *   delete ns=test set=demo key=i:7 digest=<40 hex> gen=8 lut=<ms> exp=0 bins=0 durable=1 seq=-
 *
 * Fields are space-separated NAME=VALUE, in this order. set= is empty for
 * a record without a set. key= is i:INTEGER, f:DOUBLE, s:STRING, b:HEX or
 * none. seq= is the integer bin named "seq" when there is one, else "-".
 * Names and string keys are printed with bytes outside printable ASCII,
 * space, '%' and '=' written as %XX, so a line always splits on spaces.
 * Batches are plain concatenation (frame is NULL).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>
#include <spillway/spillway.h>

static const char hexdigits[] = "0123456789abcdef";

static spw_result put_hex(spw_buf *out, const uint8_t *p, size_t n) {
    spw_result rc = spw_buf_reserve(out, 2 * n);
    if (rc != SPW_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        out->data[out->len++] = (uint8_t)hexdigits[p[i] >> 4];
        out->data[out->len++] = (uint8_t)hexdigits[p[i] & 15];
    }
    return SPW_OK;
}

static spw_result put_escaped(spw_buf *out, const char *p, size_t n) {
    spw_result rc = spw_buf_reserve(out, 3 * n);
    if (rc != SPW_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)p[i];
        if (c > 0x20 && c < 0x7f && c != '%' && c != '=') {
            out->data[out->len++] = c;
        } else {
            out->data[out->len++] = '%';
            out->data[out->len++] = (uint8_t)hexdigits[c >> 4];
            out->data[out->len++] = (uint8_t)hexdigits[c & 15];
        }
    }
    return SPW_OK;
}

static spw_result put_key(spw_buf *out, const spw_event *ev) {
    spw_value key;
    int64_t i;
    double d;
    spw_str s;
    const uint8_t *p;
    size_t n;
    spw_result rc;

    if (!spw_event_key(ev, &key))
        return spw_buf_printf(out, "none");
    if (spw_value_int(&key, &i) == SPW_OK)
        return spw_buf_printf(out, "i:%" PRId64, i);
    if (spw_value_double(&key, &d) == SPW_OK)
        return spw_buf_printf(out, "f:%.17g", d);
    if (spw_value_str(&key, &s) == SPW_OK) {
        rc = spw_buf_printf(out, "s:");
        return rc == SPW_OK ? put_escaped(out, s.ptr, s.len) : rc;
    }
    if (spw_value_bytes(&key, &p, &n) == SPW_OK) {
        rc = spw_buf_printf(out, "b:");
        return rc == SPW_OK ? put_hex(out, p, n) : rc;
    }
    return spw_buf_printf(out, "?%u", key.type);
}

static spw_result testline_encode(void *inst, const spw_event *ev, spw_buf *out, spw_err *err) {
    size_t start = out->len;
    bool del = spw_event_op(ev) == SPW_OP_DELETE;
    spw_str ns = spw_event_namespace(ev), set = spw_event_set(ev);
    (void)inst;

    spw_result rc = spw_buf_printf(out, "%s ns=", del ? "delete" : "write");
    if (rc == SPW_OK)
        rc = put_escaped(out, ns.ptr, ns.len);
    if (rc == SPW_OK)
        rc = spw_buf_printf(out, " set=");
    if (rc == SPW_OK && set.ptr)
        rc = put_escaped(out, set.ptr, set.len);
    if (rc == SPW_OK)
        rc = spw_buf_printf(out, " key=");
    if (rc == SPW_OK)
        rc = put_key(out, ev);
    if (rc == SPW_OK)
        rc = spw_buf_printf(out, " digest=");
    if (rc == SPW_OK)
        rc = put_hex(out, spw_event_digest(ev), 20);
    if (rc == SPW_OK)
        rc = spw_buf_printf(out, " gen=%" PRIu32 " lut=%" PRId64 " exp=%" PRId64 " bins=%zu",
                            spw_event_generation(ev), spw_event_lut_ms(ev), spw_event_expiry(ev),
                            spw_event_bin_count(ev));
    if (rc == SPW_OK && del)
        rc = spw_buf_printf(out, " durable=%d", spw_event_durable(ev) ? 1 : 0);

    const spw_bin *seq = spw_event_find_bin(ev, "seq", 3);
    int64_t v;
    if (rc == SPW_OK) {
        if (seq && spw_value_int(&seq->value, &v) == SPW_OK)
            rc = spw_buf_printf(out, " seq=%" PRId64 "\n", v);
        else
            rc = spw_buf_printf(out, " seq=-\n");
    }
    if (rc != SPW_OK) {
        out->len = start; /* leave no half line behind */
        return spw_err_set(err, rc, "testline: %s", spw_result_str(rc));
    }
    return SPW_OK;
}

static const char *testline_content_type(void *inst, bool batch) {
    (void)inst;
    (void)batch;
    return "text/plain";
}

/* Stateless: every instance is this one byte. */
static char testline_instance;

static spw_result testline_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    (void)st;
    (void)config;
    (void)err;
    *inst = &testline_instance;
    return SPW_OK;
}

static void testline_destroy(void *inst) {
    (void)inst;
}

static const spw_codec_ops testline_ops = {
    .encode = testline_encode,
    .frame = NULL,
    .content_type = testline_content_type,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_CODEC, .name = "testline", .version = "1.0.0",
                  .description = "One text line per event, for shell tests (not installed)",
                  .options = NULL, .config_size = 0, .create = testline_create,
                  .destroy = testline_destroy, .codec = &testline_ops);

/*
 * plugins/source-xdr/fuzz-frame.c: libFuzzer target for the XDR wire
 * parser (wire.h). An input is what one connection sends: frames are
 * taken from its front exactly as conn.c takes them, until the stream
 * ends or is refused. Besides "never crash, never leak", each accepted
 * frame is checked for what the plugin relies on:
 *
 *   - an event's bins, key, names and raw frame all lie inside its data
 *     area, and typed accessors agree with the particle types the parser
 *     validated (integer, double, bool, GeoJSON, lists and maps walk);
 *   - a shorter prefix of a whole frame is never taken for a frame;
 *   - the parser without collection checks accepts everything the
 *     checking one accepts (and builds the same number of bins);
 *   - an INFO answer is one well-formed type-1 frame.
 *
 * Built only with ./configure --enable-fuzzing; run with make fuzz-xdr.
 */
#include <stdlib.h>
#include <string.h>

#include "wire.h"

#define MAX_FRAME (1u << 20)
#define NOW_S 1764115200

static void require(bool cond) {
    if (!cond)
        abort();
}

static bool inside(const spw_event *ev, const void *p, size_t n, const uint8_t *data, size_t cap) {
    (void)ev;
    if (n == 0)
        return true;
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)data;
    return a >= b && a - b <= cap && n <= cap - (a - b);
}

static void walk_all(const spw_value *v) {
    spw_walker w;
    spw_item it;
    spw_result r;
    require(spw_walk_init(&w, v) == SPW_OK);
    while ((r = spw_walk_next(&w, &it)) == SPW_OK)
        ;
    require(r == SPW_ERR_NOTFOUND);
}

static void check_event(spw_event *ev, size_t frame_len) {
    size_t raw_len;
    const uint8_t *raw = spw_event_raw(ev, &raw_len);
    /* The raw frame is the data area's front (inflated frames included). */
    const uint8_t *data = raw;
    size_t cap = raw_len;
    require(raw != NULL && raw_len >= ASW_MSG_MIN);
    require(raw[0] == ASW_PROTO_VERSION && raw[1] == ASW_TYPE_MSG);
    (void)frame_len;

    spw_str ns = spw_event_namespace(ev), set = spw_event_set(ev);
    require(ns.ptr && ns.len > 0 && inside(ev, ns.ptr, ns.len, data, cap));
    require(!set.ptr || (set.len > 0 && inside(ev, set.ptr, set.len, data, cap)));
    spw_value key;
    if (spw_event_key(ev, &key)) {
        require(inside(ev, key.data, key.len, data, cap));
        int64_t i;
        double d;
        if (key.type == SPW_PT_INTEGER)
            require(spw_value_int(&key, &i) == SPW_OK);
        if (key.type == SPW_PT_DOUBLE)
            require(spw_value_double(&key, &d) == SPW_OK);
    }
    require(spw_event_op(ev) == SPW_OP_WRITE || spw_event_op(ev) == SPW_OP_DELETE);
    if (spw_event_op(ev) == SPW_OP_DELETE)
        require(spw_event_bin_count(ev) == 0 && spw_event_expiry(ev) == 0);
    for (size_t i = 0; i < spw_event_bin_count(ev); i++) {
        const spw_bin *b = spw_event_bin(ev, i);
        require(inside(ev, b->name.ptr, b->name.len, data, cap));
        require(inside(ev, b->value.data, b->value.len, data, cap));
        int64_t iv;
        double dv;
        bool bv;
        spw_geojson g;
        switch (b->value.type) {
        case SPW_PT_INTEGER:
            require(spw_value_int(&b->value, &iv) == SPW_OK);
            break;
        case SPW_PT_DOUBLE:
            require(spw_value_double(&b->value, &dv) == SPW_OK);
            break;
        case SPW_PT_BOOL:
            require(spw_value_bool(&b->value, &bv) == SPW_OK);
            break;
        case SPW_PT_GEOJSON:
            require(spw_value_geojson(&b->value, &g) == SPW_OK);
            break;
        case SPW_PT_LIST:
        case SPW_PT_MAP:
            walk_all(&b->value);
            break;
        default:
            break;
        }
    }
}

static asw_parser strict, lenient;
static bool ready;

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len);
int LLVMFuzzerTestOneInput(const uint8_t *in, size_t len) {
    static const asw_info_ids ids = {"fuzz", "0.0", "spillway fuzz"};
    size_t pos = 0;

    if (!ready) {
        asw_parser_init(&strict, MAX_FRAME, true);
        asw_parser_init(&lenient, MAX_FRAME, false);
        ready = true;
    }
    while (pos < len) {
        size_t need;
        asw_error err;
        asw_scan s = asw_scan_frame(&strict, in + pos, len - pos, &need, &err);
        if (s != ASW_FRAME)
            break;
        require(need >= ASW_PROTO_HDR && need <= len - pos && need <= ASW_PROTO_HDR + MAX_FRAME);
        size_t need2;
        require(asw_scan_frame(&strict, in + pos, need - 1, &need2, &err) != ASW_FRAME);

        /* A private copy, so that reading past the frame is caught even mid-input. */
        uint8_t *f = malloc(need);
        require(f != NULL);
        memcpy(f, in + pos, need);
        if (asw_frame_type(f) == ASW_TYPE_INFO) {
            spw_buf out = SPW_BUF_INIT;
            require(asw_info_answer(f, need, &ids, &out) == SPW_OK);
            require(out.len >= ASW_PROTO_HDR && out.data[0] == ASW_PROTO_VERSION &&
                    out.data[1] == ASW_TYPE_INFO &&
                    asw_be48(out.data + 2) == out.len - ASW_PROTO_HDR);
            spw_buf_free(&out);
        } else {
            spw_event *ev = NULL, *ev2 = NULL;
            spw_result r = asw_frame_event(&strict, f, need, NOW_S, &ev, &err);
            spw_result r2 = asw_frame_event(&lenient, f, need, NOW_S, &ev2, &err);
            require(r == SPW_OK || r == SPW_ERR_INVAL);
            if (r == SPW_OK) {
                require(r2 == SPW_OK);
                require(spw_event_bin_count(ev) == spw_event_bin_count(ev2));
                check_event(ev, need);
            } else {
                require(ev == NULL);
            }
            spw_event_unref(ev);
            spw_event_unref(ev2);
            if (r != SPW_OK) {
                free(f);
                break;
            }
        }
        free(f);
        pos += need;
    }
    return 0;
}

/*
 * plugins/codec-xdr/frame.c: one event -> the frame XDR ships for it
 * (xdr-wire.md): as_proto (version 2, type 3, 48-bit size) + as_msg
 * (22-byte header) + fields + one WRITE op per bin.
 *
 * Pass-through. An event from the xdr source carries its frame as it
 * arrived (spw_event_raw, uncompressed), and sending those bytes is both
 * the cheapest and the most faithful output. But the core hands a codec
 * the route's view of the event (bins kept, dropped or renamed, metadata
 * excluded), and the arrived frame knows nothing of that. passthrough =
 * auto therefore sends the arrived frame only when the view still equals
 * it: no metadata excluded, and the frame's ops are exactly the event's
 * bins (same count, and per bin the same name, particle type and value
 * bytes; a bin LUT is only dropped by bin_luts = false). Checking costs
 * one pass over the op headers, and for an untouched event the values
 * compare by pointer: the xdr source references them inside the frame.
 * Any difference, or a raw frame that is not a well-formed type-3 message
 * (every field and op within its size), and the frame is encoded from the
 * event instead. always skips the comparison (not the well-formedness
 * check); never always encodes. A bare as_msg (no as_proto header) is
 * accepted as raw input and gets its header.
 *
 * Encoding, as XDR does it:
 *   info1 0x10 (XDR); info2 write 0x01, + 0x10 when a bin LUT follows;
 *   delete 0x03 (WRITE|DELETE), + 0x10 for a durable delete; info3..4,
 *   result code and transaction TTL 0; the generation; record_ttl =
 *   expiry - now in seconds (at least 1; 0xFFFFFFFF when the record
 *   never expires; 0 on deletes); fields namespace, digest, set (when
 *   the record has one), key (when shipped: its particle type byte and
 *   wire bytes), LUT (src_id << 40 | ms since 2010, when known); ops
 *   WRITE (2) with the bin's particle type, flags 0x01 and an 8-byte LUT
 *   (ms since 2010) when the bin has a LUT, its name, its wire bytes.
 *   Deletes have no ops.
 *
 * What a fixed binary layout cannot leave out. A route's metadata_exclude
 * is honoured where the format has room: set, userKey and lut drop their
 * fields, gen becomes 0, exp becomes record_ttl 0 (not stated: an
 * Aerospike server then applies the namespace default), durable clears
 * the durable bit. namespace, digest and msg are what makes a frame an
 * XDR record at all; excluding them rejects the record with that reason
 * rather than sending something no receiver can read.
 *
 * Event values are already in wire form, so they are copied as they
 * are; fixed-size particles (integer, double, bool) and GeoJSON's header
 * are checked so a malformed value is rejected here, not by a receiver.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "frame.h"

#define PROTO_HDR 8
#define MSG_HDR 22

#define INFO1_XDR 0x10
#define INFO2_WRITE 0x01
#define INFO2_DELETE 0x02
#define INFO2_DURABLE_OR_BIN_LUTS 0x10

#define FIELD_NAMESPACE 0
#define FIELD_SET 1
#define FIELD_KEY 2
#define FIELD_DIGEST 4
#define FIELD_LUT 14

#define OP_WRITE 2
#define OP_FLAG_BIN_LUT 0x01

#define LOW40 ((UINT64_C(1) << 40) - 1)

static spw_result reject(spw_err *err, const char *fmt, ...) SPW_PRINTF(2, 3);
static spw_result reject(spw_err *err, const char *fmt, ...) {
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return spw_err_set(err, SPW_REJECT, "xdr codec: %s", why);
}

/* A bin name for a message: printable bytes only, at most 64 of them. */
static const char *clean_name(spw_str s, char out[70]) {
    return spw_printable(out, 70, s.ptr, s.len, 64);
}

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint8_t *wr16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

static uint8_t *wr32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

static uint8_t *wr64(uint8_t *p, uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
    return p + 8;
}

static uint8_t *wr48(uint8_t *p, uint64_t v) {
    for (int i = 5; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
    return p + 6;
}

static unsigned meta_wanted(const spw_event *ev) {
    static const spw_meta fields[] = {SPW_META_NAMESPACE, SPW_META_SET, SPW_META_KEY,
                                      SPW_META_DIGEST,    SPW_META_MSG, SPW_META_GEN,
                                      SPW_META_LUT,       SPW_META_EXP, SPW_META_DURABLE};
    unsigned m = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (spw_event_meta_wanted(ev, fields[i]))
            m |= (unsigned)fields[i];
    return m;
}
#define META_ALL 0x1FFu

/* ---- the arrived frame ---- */

/*
 * Where the as_msg of a raw frame starts: 8 after a type-3 as_proto
 * header whose size matches, 0 for a bare as_msg; -1 when the bytes are
 * neither (then the frame is encoded from the event).
 */
static int raw_msg_offset(const uint8_t *raw, size_t len) {
    if (len >= PROTO_HDR + MSG_HDR && raw[0] == 2 && raw[1] == 3 && raw[PROTO_HDR] == MSG_HDR) {
        uint64_t sz = 0;
        for (int i = 2; i < 8; i++)
            sz = sz << 8 | raw[i];
        return sz == len - PROTO_HDR ? PROTO_HDR : -1;
    }
    if (len >= MSG_HDR && raw[0] == MSG_HDR)
        return 0;
    return -1;
}

/*
 * True when the as_msg m[0..len) is well formed (every field and op fits,
 * nothing after the last op) and, with compare, has exactly ev's bins as
 * its ops.
 */
static bool ops_match(const xcodec *c, const spw_event *ev, const uint8_t *m, size_t len,
                      bool compare) {
    const uint8_t *p = m + MSG_HDR, *end = m + len;
    unsigned n_fields = (unsigned)m[18] << 8 | m[19];
    unsigned n_ops = (unsigned)m[20] << 8 | m[21];
    if (compare && n_ops != spw_event_bin_count(ev))
        return false;
    for (unsigned i = 0; i < n_fields; i++) {
        if (end - p < 5)
            return false;
        uint32_t sz = rd32(p);
        if (sz < 1 || sz > (size_t)(end - p) - 4)
            return false;
        p += 4 + (size_t)sz;
    }
    for (unsigned i = 0; i < n_ops; i++) {
        if (end - p < 8)
            return false;
        uint32_t sz = rd32(p);
        if (sz < 4 || sz > (size_t)(end - p) - 4)
            return false;
        uint8_t op = p[4], pt = p[5], flags = p[6], nl = p[7];
        size_t head = 4 + (size_t)nl + ((flags & OP_FLAG_BIN_LUT) ? 8 : 0);
        if (op != OP_WRITE || head > sz)
            return false;
        if (!compare) {
            p += 4 + (size_t)sz;
            continue;
        }
        const spw_bin *bin = spw_event_bin(ev, i);
        const uint8_t *v = p + 4 + head;
        size_t vlen = sz - head;
        if (!bin || bin->value.type != pt || bin->name.len != nl ||
            (nl && memcmp(bin->name.ptr, p + 8, nl) != 0) || bin->value.len != vlen ||
            (vlen && bin->value.data != v && memcmp(bin->value.data, v, vlen) != 0))
            return false;
        if ((flags & OP_FLAG_BIN_LUT) && !c->cfg.bin_luts)
            return false; /* the LUT must go: encode without it */
        p += 4 + (size_t)sz;
    }
    return p == end;
}

bool xcodec_passes_raw(const xcodec *c, const spw_event *ev) {
    size_t len;
    const uint8_t *raw = spw_event_raw(ev, &len);
    if (!raw || c->cfg.passthrough == XCODEC_PASS_NEVER)
        return false;
    int off = raw_msg_offset(raw, len);
    if (off < 0)
        return false;
    if (c->cfg.passthrough == XCODEC_PASS_ALWAYS) /* still never a frame no one can parse */
        return ops_match(c, ev, raw + off, len - (size_t)off, false);
    return meta_wanted(ev) == META_ALL && ops_match(c, ev, raw + off, len - (size_t)off, true);
}

static spw_result pass_raw(const spw_event *ev, spw_buf *out) {
    size_t len;
    const uint8_t *raw = spw_event_raw(ev, &len);
    int off = raw_msg_offset(raw, len);
    spw_result r = spw_buf_reserve(out, len + (off == 0 ? PROTO_HDR : 0));
    if (r != SPW_OK)
        return r;
    uint8_t *o = out->data + out->len;
    if (off == 0) { /* a bare as_msg: give it its as_proto header */
        *o++ = 2;
        *o++ = 3;
        o = wr48(o, len);
    }
    memcpy(o, raw, len);
    out->len = (size_t)(o + len - out->data);
    return SPW_OK;
}

/* ---- encoding from the event ---- */

/* Checks what a receiver would refuse in a bin's value; NULL when fine. */
static const char *bad_value(const spw_value *v) {
    switch (v->type) {
    case SPW_PT_NIL: return v->len == 0 ? NULL : "a nil value with bytes";
    case SPW_PT_INTEGER: return v->len == 8 ? NULL : "an integer that is not 8 bytes";
    case SPW_PT_DOUBLE: return v->len == 8 ? NULL : "a double that is not 8 bytes";
    case SPW_PT_BOOL: {
        bool b;
        return spw_value_bool(v, &b) == SPW_OK ? NULL : "a boolean that is not one byte 0 or 1";
    }
    case SPW_PT_GEOJSON: {
        spw_geojson g;
        return spw_value_geojson(v, &g) == SPW_OK ? NULL : "a GeoJSON value with a bad header";
    }
    default: return NULL;
    }
}

static spw_result encode(const xcodec *c, const spw_event *ev, spw_buf *out, spw_err *err) {
    unsigned want = meta_wanted(ev);
    spw_op op = spw_event_op(ev);
    char nm[70];
    if (op != SPW_OP_WRITE && op != SPW_OP_DELETE)
        return reject(err, "record: unknown operation %d", (int)op);
    if (!(want & SPW_META_NAMESPACE) || !(want & SPW_META_DIGEST) || !(want & SPW_META_MSG))
        return reject(err, "metadata_exclude names %s, without which a frame is no XDR record",
                      !(want & SPW_META_NAMESPACE) ? "namespace"
                      : !(want & SPW_META_DIGEST)  ? "digest"
                                                   : "msg");

    spw_str ns = spw_event_namespace(ev);
    spw_str set = spw_event_set(ev);
    bool has_set = (want & SPW_META_SET) && set.ptr && set.len > 0; /* empty = no set */
    spw_value key;
    bool has_key = (want & SPW_META_KEY) && spw_event_key(ev, &key);
    int64_t lut_ms = spw_event_lut_ms(ev);
    bool has_lut = (want & SPW_META_LUT) && lut_ms != 0;
    uint64_t lut_field = 0;
    if (has_lut) {
        uint32_t src = spw_event_src_id(ev);
        if (lut_ms < XCODEC_CLEPOCH_MS || (uint64_t)(lut_ms - XCODEC_CLEPOCH_MS) > LOW40)
            return reject(err, "record: LUT %lld ms is outside what the 40-bit field holds "
                               "(2010 to 2044)", (long long)lut_ms);
        if (src >= (1u << 24))
            return reject(err, "record: src-id %u does not fit 24 bits", src);
        lut_field = (uint64_t)src << 40 | (uint64_t)(lut_ms - XCODEC_CLEPOCH_MS);
    }

    /* Sizes first, so the frame is written in one reservation. */
    size_t n_bins = op == SPW_OP_WRITE ? spw_event_bin_count(ev) : 0;
    if (n_bins > 0xFFFF)
        return reject(err, "record: %zu bins, more than the 65535 ops a frame holds", n_bins);
    uint16_t n_fields = 2 + has_set + has_key + has_lut;
    size_t total = MSG_HDR + (4 + 1 + ns.len) + (4 + 1 + 20);
    if (has_set)
        total += 4 + 1 + set.len;
    if (has_key)
        total += 4 + 1 + 1 + key.len;
    if (has_lut)
        total += 4 + 1 + 8;
    bool any_bin_lut = false;
    for (size_t i = 0; i < n_bins; i++) {
        const spw_bin *bin = spw_event_bin(ev, i);
        const char *why = bad_value(&bin->value);
        if (why)
            return reject(err, "bin \"%s\": %s", clean_name(bin->name, nm), why);
        if (bin->name.len > 0xFF)
            return reject(err, "bin \"%s\": a %zu-byte name, longer than the 255 a frame holds",
                          clean_name(bin->name, nm), bin->name.len);
        bool lut = c->cfg.bin_luts && bin->lut_ms != 0;
        if (lut && (bin->lut_ms < XCODEC_CLEPOCH_MS ||
                    (uint64_t)(bin->lut_ms - XCODEC_CLEPOCH_MS) > LOW40))
            return reject(err, "bin \"%s\": LUT %lld ms is outside 2010 to 2044",
                          clean_name(bin->name, nm), (long long)bin->lut_ms);
        any_bin_lut |= lut;
        if (bin->value.len > SPW_BUF_MAX)
            return SPW_ERR_NOSPACE;
        total += 8 + bin->name.len + (lut ? 8 : 0) + bin->value.len;
        if (total > SPW_BUF_MAX)
            return SPW_ERR_NOSPACE;
    }
    if (ns.len > SPW_BUF_MAX || set.len > SPW_BUF_MAX || (has_key && key.len > SPW_BUF_MAX) ||
        total > SPW_BUF_MAX)
        return SPW_ERR_NOSPACE;

    uint8_t info2;
    uint32_t ttl = 0;
    if (op == SPW_OP_DELETE) {
        info2 = INFO2_WRITE | INFO2_DELETE;
        if ((want & SPW_META_DURABLE) && spw_event_durable(ev))
            info2 |= INFO2_DURABLE_OR_BIN_LUTS;
    } else {
        info2 = INFO2_WRITE | (any_bin_lut ? INFO2_DURABLE_OR_BIN_LUTS : 0);
        int64_t exp = spw_event_expiry(ev);
        if (!(want & SPW_META_EXP))
            ttl = 0;
        else if (exp == 0)
            ttl = 0xFFFFFFFFu;
        else {
            int64_t now = c->fixed_now_s ? c->fixed_now_s : spw_time_unix_ms() / 1000;
            int64_t left = exp - now;
            /* 1 for a record already due: 0 would read as "no TTL given". */
            ttl = left < 1 ? 1 : left > 0xFFFFFFFE ? 0xFFFFFFFEu : (uint32_t)left;
        }
    }

    spw_result r = spw_buf_reserve(out, PROTO_HDR + total);
    if (r != SPW_OK)
        return r;
    uint8_t *o = out->data + out->len;
    *o++ = 2;
    *o++ = 3;
    o = wr48(o, total);
    *o++ = MSG_HDR;
    *o++ = INFO1_XDR;
    *o++ = info2;
    *o++ = 0; /* info3 */
    *o++ = 0; /* info4 */
    *o++ = 0; /* result code */
    o = wr32(o, (want & SPW_META_GEN) ? spw_event_generation(ev) : 0);
    o = wr32(o, ttl);
    o = wr32(o, 0); /* transaction TTL */
    o = wr16(o, n_fields);
    o = wr16(o, (uint16_t)n_bins);

    /* Fields in the order XDR sends them. */
    o = wr32(o, (uint32_t)(1 + ns.len));
    *o++ = FIELD_NAMESPACE;
    if (ns.len)
        memcpy(o, ns.ptr, ns.len);
    o += ns.len;
    o = wr32(o, 1 + 20);
    *o++ = FIELD_DIGEST;
    memcpy(o, spw_event_digest(ev), 20);
    o += 20;
    if (has_set) {
        o = wr32(o, (uint32_t)(1 + set.len));
        *o++ = FIELD_SET;
        memcpy(o, set.ptr, set.len);
        o += set.len;
    }
    if (has_key) {
        o = wr32(o, (uint32_t)(2 + key.len));
        *o++ = FIELD_KEY;
        *o++ = key.type;
        if (key.len)
            memcpy(o, key.data, key.len);
        o += key.len;
    }
    if (has_lut) {
        o = wr32(o, 1 + 8);
        *o++ = FIELD_LUT;
        o = wr64(o, lut_field);
    }

    for (size_t i = 0; i < n_bins; i++) {
        const spw_bin *bin = spw_event_bin(ev, i);
        bool lut = c->cfg.bin_luts && bin->lut_ms != 0;
        size_t nl = bin->name.len, vl = bin->value.len;
        o = wr32(o, (uint32_t)(4 + nl + (lut ? 8 : 0) + vl));
        *o++ = OP_WRITE;
        *o++ = bin->value.type;
        *o++ = lut ? OP_FLAG_BIN_LUT : 0;
        *o++ = (uint8_t)nl;
        if (nl)
            memcpy(o, bin->name.ptr, nl);
        o += nl;
        if (lut)
            o = wr64(o, (uint64_t)(bin->lut_ms - XCODEC_CLEPOCH_MS));
        if (vl)
            memcpy(o, bin->value.data, vl);
        o += vl;
    }
    out->len = (size_t)(o - out->data);
    return SPW_OK;
}

spw_result xcodec_encode(const xcodec *c, const spw_event *ev, spw_buf *out, spw_err *err) {
    size_t start = out->len;
    spw_result r = xcodec_passes_raw(c, ev) ? pass_raw(ev, out) : encode(c, ev, out, err);
    if (r == SPW_OK)
        return SPW_OK;
    out->len = start;
    if (r == SPW_ERR_NOSPACE)
        return spw_err_set(err, SPW_REJECT, "xdr codec: the record encodes to more than %zu bytes",
                           (size_t)SPW_BUF_MAX);
    if (r < 0)
        return spw_err_set(err, r, "xdr codec: %s", spw_result_str(r));
    return r;
}

const char *xcodec_content_type(const xcodec *c, bool batch) {
    (void)c;
    (void)batch;
    return "application/octet-stream";
}

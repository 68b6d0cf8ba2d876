/*
 * plugins/source-xdr/record.c: one as_msg (a type-3 message) turned into
 * an spw_event, in place. The frame already sits at the front of the
 * event's data area (frame.c or inflate.c put it there), so every setter
 * is given a pointer into it and nothing is copied again.
 *
 * One pass over the bytes, fields then ops, each size checked against
 * what is left before anything is read. Anything XDR cannot have sent is
 * malformed input (SPW_ERR_INVAL with the offset and the reason); the
 * connection that sent it is closed by the caller. The choices where the
 * reference leaves room, all documented in doc/xdr-source.md:
 *
 *   - no namespace field, or an empty one: malformed (nothing to route on);
 *   - a field that matters (namespace, set, key, digest, LUT) given twice:
 *     malformed, rather than guessing which one counts;
 *   - an empty set field means "no set", as Aerospike treats it;
 *   - no digest: computed from set and key when the key was shipped (the
 *     digest is a function of them); no digest and no key: malformed;
 *   - a digest and a key together are not cross-checked (a RIPEMD-160
 *     per record would cost more than the whole parse);
 *   - record version, transaction id and unknown fields are skipped by size;
 *   - info2 DELETE (0x02) makes a delete, durable when 0x10 is set; else
 *     WRITE (0x01) makes a write, where 0x10 only says bin LUTs follow;
 *     neither bit: malformed. A delete with ops: malformed;
 *   - an op other than WRITE (2): malformed; fixed-size particles (nil 0,
 *     integer and double 8, bool 1 holding 0 or 1) and GeoJSON's cell
 *     table are checked; lists and maps are walked when check_collections
 *     is set; particle types this code does not know pass through as raw
 *     bytes (codecs decide), so a newer server's type does not stall XDR;
 *   - LUTs (record and bin) of 0 in their low 40 bits mean "unknown" (0);
 *   - TTL: 0 and 0xFFFFFFFF mean "never expires" (expiry 0); deletes
 *     never carry an expiry.
 */
#include <inttypes.h>
#include <string.h>

#include "wire.h"

/* as_msg header offsets (from the start of the as_msg). */
#define M_HEADER_SZ 0
#define M_INFO2 2
#define M_GENERATION 6
#define M_RECORD_TTL 10
#define M_N_FIELDS 18
#define M_N_OPS 20

#define INFO2_WRITE 0x01
#define INFO2_DELETE 0x02
#define INFO2_DURABLE_DELETE 0x10

/* Field types. */
#define F_NAMESPACE 0
#define F_SET 1
#define F_KEY 2
#define F_DIGEST 4
#define F_LUT 14

#define OP_WRITE 2
#define OP_FLAG_BIN_LUT 0x01

#define LOW40 UINT64_C(0xFFFFFFFFFF)
#define TTL_NEVER UINT32_C(0xFFFFFFFF)

spw_result asw_record_head(const uint8_t *frame, size_t frame_len, uint32_t *n_ops,
                           asw_error *err) {
    if (frame_len < ASW_MSG_MIN)
        return asw_fail(err, 0, "message of %zu bytes is shorter than its headers (%d)", frame_len,
                        ASW_MSG_MIN);
    if (asw_be48(frame + 2) != frame_len - ASW_PROTO_HDR)
        return asw_fail(err, 2, "as_proto size %" PRIu64 " does not match the %zu bytes given",
                        asw_be48(frame + 2), frame_len - ASW_PROTO_HDR);
    const uint8_t *m = frame + ASW_PROTO_HDR;
    if (m[M_HEADER_SZ] != ASW_MSG_HDR)
        return asw_fail(err, ASW_PROTO_HDR, "as_msg header_sz %u, expected %d", m[M_HEADER_SZ],
                        ASW_MSG_HDR);
    uint32_t nf = asw_be16(m + M_N_FIELDS), no = asw_be16(m + M_N_OPS);
    /* A field takes at least 5 bytes, an op 8: counts that cannot fit are
     * refused before they size an allocation. */
    if ((uint64_t)nf * 5 + (uint64_t)no * 8 > frame_len - ASW_MSG_MIN)
        return asw_fail(err, ASW_PROTO_HDR + M_N_FIELDS,
                        "%" PRIu32 " fields and %" PRIu32 " ops cannot fit in %zu bytes", nf, no,
                        frame_len - ASW_MSG_MIN);
    *n_ops = no;
    return SPW_OK;
}

static const char *op_name(uint8_t op) {
    switch (op) {
    case 1: return "READ";
    case 4: return "CDT_MODIFY";
    case 5: return "INCR";
    case 9: return "APPEND";
    case 10: return "PREPEND";
    case 11: return "TOUCH";
    case 14: return "DELETE_ALL";
    default: return "unknown";
    }
}

/* True when v holds exactly one MessagePack value of the collection kind pt announces. */
static bool collection_ok(uint8_t pt, const uint8_t *v, size_t n) {
    spw_value val = {pt, v, n};
    spw_walker w;
    spw_item it;
    spw_result r;

    if (spw_walk_init(&w, &val) != SPW_OK || spw_walk_next(&w, &it) != SPW_OK ||
        it.kind != (pt == SPW_PT_MAP ? SPW_ITEM_MAP : SPW_ITEM_LIST))
        return false;
    while ((r = spw_walk_next(&w, &it)) == SPW_OK)
        ;
    return r == SPW_ERR_NOTFOUND; /* the walker also refuses trailing bytes */
}

static spw_result check_value(const asw_parser *ps, uint32_t i, uint8_t pt, const uint8_t *v,
                              size_t n, uint64_t off, asw_error *err) {
    switch (pt) {
    case SPW_PT_NIL:
        if (n != 0)
            return asw_fail(err, off, "op %" PRIu32 ": nil value of %zu bytes", i, n);
        break;
    case SPW_PT_INTEGER:
    case SPW_PT_DOUBLE:
        if (n != 8)
            return asw_fail(err, off, "op %" PRIu32 ": %s value of %zu bytes, expected 8", i,
                            spw_particle_name(pt), n);
        break;
    case SPW_PT_BOOL:
        if (n != 1 || v[0] > 1)
            return asw_fail(err, off, "op %" PRIu32 ": bool value is not one byte 0 or 1", i);
        break;
    case SPW_PT_GEOJSON:
        if (n < 3 || (uint64_t)asw_be16(v + 1) * 8 > n - 3)
            return asw_fail(err, off, "op %" PRIu32 ": GeoJSON value of %zu bytes cannot hold "
                            "its header and cell ids", i, n);
        break;
    case SPW_PT_MAP:
    case SPW_PT_LIST:
        if (ps->check_collections && !collection_ok(pt, v, n))
            return asw_fail(err, off, "op %" PRIu32 ": %s value is not well-formed MessagePack", i,
                            spw_particle_name(pt));
        break;
    default:
        break;
    }
    return SPW_OK;
}

/* Which of the fields that matter were seen (bit = field type). */
#define SEEN(t) (1u << (t))

spw_result asw_record_parse(const asw_parser *ps, spw_event *ev, size_t frame_len, int64_t now_s,
                            asw_error *err) {
    const uint8_t *base = spw_event_data(ev);
    const uint8_t *m = base + ASW_PROTO_HDR;
    const uint8_t *p = base + ASW_MSG_MIN, *end = base + frame_len;
    uint8_t info2 = m[M_INFO2];
    uint32_t n_fields = asw_be16(m + M_N_FIELDS), n_ops = asw_be16(m + M_N_OPS);
    const uint8_t *ns = NULL, *set = NULL, *key = NULL, *digest = NULL;
    size_t ns_len = 0, set_len = 0, key_len = 0;
    uint8_t key_type = 0;
    uint64_t lut = 0;
    unsigned seen = 0;
    bool del;
    spw_result r;

    if (info2 & INFO2_DELETE)
        del = true;
    else if (info2 & INFO2_WRITE)
        del = false;
    else
        return asw_fail(err, ASW_PROTO_HDR + M_INFO2,
                        "info2 0x%02x is neither a write (0x01) nor a delete (0x02)", info2);
    if (del && n_ops != 0)
        return asw_fail(err, ASW_PROTO_HDR + M_N_OPS, "a delete carries %" PRIu32 " op(s)", n_ops);

    for (uint32_t i = 0; i < n_fields; i++) {
        uint64_t off = (uint64_t)(p - base);
        size_t left = (size_t)(end - p);
        if (left < 5)
            return asw_fail(err, off, "field %" PRIu32 " of %" PRIu32 " starts %zu bytes before "
                            "the end", i, n_fields, left);
        uint32_t sz = asw_be32(p);
        if (sz == 0 || sz > left - 4)
            return asw_fail(err, off, "field %" PRIu32 ": size %" PRIu32 " does not fit the %zu "
                            "bytes left", i, sz, left - 4);
        uint8_t t = p[4];
        const uint8_t *d = p + 5;
        size_t n = sz - 1;
        if (t <= F_LUT && (SEEN(t) & (SEEN(F_NAMESPACE) | SEEN(F_SET) | SEEN(F_KEY) |
                                      SEEN(F_DIGEST) | SEEN(F_LUT)))) {
            if (seen & SEEN(t))
                return asw_fail(err, off, "field type %u given twice", t);
            seen |= SEEN(t);
        }
        switch (t) {
        case F_NAMESPACE:
            if (n == 0)
                return asw_fail(err, off, "empty namespace");
            ns = d;
            ns_len = n;
            break;
        case F_SET:
            set = d;
            set_len = n;
            break;
        case F_KEY:
            if (n == 0)
                return asw_fail(err, off, "key field without a particle type");
            key_type = d[0];
            key = d + 1;
            key_len = n - 1;
            if (key_type == SPW_PT_INTEGER || key_type == SPW_PT_DOUBLE) {
                if (key_len != 8)
                    return asw_fail(err, off, "%s key of %zu bytes, expected 8",
                                    spw_particle_name(key_type), key_len);
            } else if (key_type != SPW_PT_STRING && key_type != SPW_PT_BLOB) {
                return asw_fail(err, off + 5, "key particle type %u is not a key type", key_type);
            }
            break;
        case F_DIGEST:
            if (n != 20)
                return asw_fail(err, off, "digest of %zu bytes, expected 20", n);
            digest = d;
            break;
        case F_LUT:
            if (n != 8)
                return asw_fail(err, off, "LUT of %zu bytes, expected 8", n);
            lut = asw_be64(d);
            break;
        default:
            break; /* record version, transaction id, and what a newer server adds */
        }
        p += 4 + (size_t)sz;
    }
    if (ns == NULL)
        return asw_fail(err, ASW_PROTO_HDR + M_N_FIELDS, "no namespace field");
    if (digest == NULL && key == NULL)
        return asw_fail(err, ASW_PROTO_HDR + M_N_FIELDS,
                        "neither a digest nor a key to compute it from");

    r = spw_event_set_op(ev, del ? SPW_OP_DELETE : SPW_OP_WRITE,
                         del && (info2 & INFO2_DURABLE_DELETE));
    if (r == SPW_OK)
        r = spw_event_set_namespace(ev, ns, ns_len);
    if (r == SPW_OK && set_len > 0)
        r = spw_event_set_set(ev, set, set_len);
    if (r == SPW_OK && key)
        r = spw_event_set_key(ev, key_type, key, key_len);
    if (r != SPW_OK)
        return r;
    if (digest) {
        spw_event_set_digest(ev, digest);
    } else {
        uint8_t d[20];
        spw_digest_compute(set, set_len, key_type, key, key_len, d);
        spw_event_set_digest(ev, d);
    }
    spw_event_set_generation(ev, asw_be32(m + M_GENERATION));
    if (seen & SEEN(F_LUT)) {
        uint64_t ms = lut & LOW40;
        spw_event_set_lut(ev, ms ? (int64_t)ms + ASW_CLEPOCH_MS : 0, (uint32_t)(lut >> 40));
    }
    uint32_t ttl = asw_be32(m + M_RECORD_TTL);
    if (!del && ttl != 0 && ttl != TTL_NEVER)
        spw_event_set_expiry(ev, now_s + (int64_t)ttl);

    for (uint32_t i = 0; i < n_ops; i++) {
        uint64_t off = (uint64_t)(p - base);
        size_t left = (size_t)(end - p);
        if (left < 8)
            return asw_fail(err, off, "op %" PRIu32 " of %" PRIu32 " starts %zu bytes before the "
                            "end", i, n_ops, left);
        uint32_t sz = asw_be32(p);
        if (sz < 4 || sz > left - 4)
            return asw_fail(err, off, "op %" PRIu32 ": size %" PRIu32 " does not fit the %zu "
                            "bytes left", i, sz, left - 4);
        uint8_t op = p[4], pt = p[5], flags = p[6], name_len = p[7];
        if (op != OP_WRITE)
            return asw_fail(err, off + 4, "op %" PRIu32 " is op code %u (%s); XDR ships only "
                            "WRITE (2)", i, op, op_name(op));
        size_t head = 4 + (size_t)name_len + ((flags & OP_FLAG_BIN_LUT) ? 8 : 0);
        if (head > sz)
            return asw_fail(err, off, "op %" PRIu32 ": a %u-byte name%s does not fit its size "
                            "%" PRIu32, i, name_len,
                            (flags & OP_FLAG_BIN_LUT) ? " and a bin LUT" : "", sz);
        const uint8_t *name = p + 8;
        int64_t bin_lut = 0;
        if (flags & OP_FLAG_BIN_LUT) {
            uint64_t ms = asw_be64(name + name_len) & LOW40;
            bin_lut = ms ? (int64_t)ms + ASW_CLEPOCH_MS : 0;
        }
        const uint8_t *v = p + 4 + head;
        size_t vlen = sz - head;
        /* Strings need no check and integers only their size: the two
         * commonest particles skip check_value's dispatch. */
        if (pt != SPW_PT_STRING && !(pt == SPW_PT_INTEGER && vlen == 8) &&
            (r = check_value(ps, i, pt, v, vlen, (uint64_t)(v - base), err)) != SPW_OK)
            return r;
        r = spw_event_add_bin(ev, name, name_len, pt, v, vlen, bin_lut);
        if (r != SPW_OK)
            return r;
        p += 4 + (size_t)sz;
    }
    if (p != end)
        return asw_fail(err, (uint64_t)(p - base), "%zu bytes after the last op",
                        (size_t)(end - p));
    return spw_event_set_raw(ev, base, frame_len);
}

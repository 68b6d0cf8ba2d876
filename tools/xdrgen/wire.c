/*
 * tools/xdrgen/wire.c: the bytes on the wire. Encodes a record into the
 * as_proto + as_msg frame XDR sends (xdr-wire.md 2-7), wraps frames into
 * compressed type-4 frames, and checks the 30-byte replies.
 *
 * Field order is the one seen from XDR: namespace, digest, set, key, LUT.
 * A connector must not depend on it, but a generator that claims to send
 * what XDR sends should send it that way.
 */
#include "xdrgen.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* A field: u32 size (type byte included), u8 type, data. */
static uint8_t *put_field(uint8_t *p, uint8_t type, const void *data, size_t len) {
    p = xg_be32(p, (uint32_t)(len + 1));
    *p++ = type;
    if (len > 0)
        memcpy(p, data, len);
    return p + len;
}

static size_t field_count(const struct xg_record *r) {
    return 2 + (r->set != NULL) + r->has_key + r->has_lut;
}

size_t xg_record_size(const struct xg_record *r) {
    size_t n = XG_PROTO_HDR + XG_MSG_HDR;
    n += 5 + r->ns_len;
    n += 5 + 20;
    if (r->set)
        n += 5 + r->set_len;
    if (r->has_key)
        n += 5 + 1 + r->key_len;
    if (r->has_lut)
        n += 5 + 8;
    if (!r->del) {
        for (size_t i = 0; i < r->n_bins; i++) {
            const struct xg_bin *b = &r->bins[i];
            n += 8 + b->name_len + (b->has_lut ? 8 : 0) + b->len;
        }
    }
    return n;
}

uint64_t xg_lut_field(int64_t unix_ms, uint32_t src_id) {
    uint64_t ms = (uint64_t)(unix_ms - XG_CLEPOCH_MS) & UINT64_C(0xFFFFFFFFFF);
    return (uint64_t)(src_id & 0xFFFFFFu) << 40 | ms;
}

size_t xg_record_encode(const struct xg_record *r, uint8_t *out) {
    size_t total = xg_record_size(r);
    size_t n_ops = r->del ? 0 : r->n_bins;
    uint8_t *p = out;

    /* as_proto: version, type, 48-bit size of what follows */
    *p++ = XG_PROTO_VERSION;
    *p++ = XG_PROTO_MSG;
    p = xg_be16(p, (uint16_t)((uint64_t)(total - XG_PROTO_HDR) >> 32));
    p = xg_be32(p, (uint32_t)(total - XG_PROTO_HDR));

    /* as_msg */
    uint8_t info2 = XG_INFO2_WRITE;
    if (r->del)
        info2 |= XG_INFO2_DELETE | (r->durable ? XG_INFO2_DURABLE : 0);
    else if (r->lut_bit)
        info2 |= XG_INFO2_DURABLE;
    *p++ = XG_MSG_HDR;
    *p++ = XG_INFO1_XDR;
    *p++ = info2;
    *p++ = r->del ? 0 : r->info3;
    *p++ = 0; /* info4 */
    *p++ = 0; /* result code */
    p = xg_be32(p, r->generation);
    p = xg_be32(p, r->del ? 0 : r->ttl);
    p = xg_be32(p, 0); /* transaction ttl */
    p = xg_be16(p, (uint16_t)field_count(r));
    p = xg_be16(p, (uint16_t)n_ops);

    p = put_field(p, XG_FIELD_NAMESPACE, r->ns, r->ns_len);
    p = put_field(p, XG_FIELD_DIGEST, r->digest, 20);
    if (r->set)
        p = put_field(p, XG_FIELD_SET, r->set, r->set_len);
    if (r->has_key) {
        p = xg_be32(p, (uint32_t)(r->key_len + 2));
        *p++ = XG_FIELD_KEY;
        *p++ = r->key_type;
        memcpy(p, r->key, r->key_len);
        p += r->key_len;
    }
    if (r->has_lut) {
        uint8_t lut[8];
        xg_be64(lut, r->lut);
        p = put_field(p, XG_FIELD_LUT, lut, 8);
    }

    /* ops: u32 size (what follows it), op, particle type, flags, name_sz, name, [LUT], value */
    for (size_t i = 0; i < n_ops; i++) {
        const struct xg_bin *b = &r->bins[i];
        size_t lutlen = b->has_lut ? 8 : 0;
        p = xg_be32(p, (uint32_t)(4 + b->name_len + lutlen + b->len));
        *p++ = XG_OP_WRITE;
        *p++ = b->type;
        *p++ = b->has_lut ? XG_OPFLAG_LUT : 0;
        *p++ = (uint8_t)b->name_len;
        memcpy(p, b->name, b->name_len);
        p += b->name_len;
        if (b->has_lut)
            p = xg_be64(p, b->lut);
        if (b->len > 0)
            memcpy(p, b->value, b->len);
        p += b->len;
    }
    return (size_t)(p - out);
}

/* ---------------------------------------------------------------------- */
/* Compression                                                             */
/* ---------------------------------------------------------------------- */

struct xg_zip {
    z_stream zs;
    bool size_le;
};

struct xg_zip *xg_zip_new(int level, bool size_le) {
    struct xg_zip *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    if (deflateInit(&z->zs, level) != Z_OK) {
        free(z);
        return NULL;
    }
    z->size_le = size_le;
    return z;
}

void xg_zip_free(struct xg_zip *z) {
    if (!z)
        return;
    deflateEnd(&z->zs);
    free(z);
}

size_t xg_zip_bound(size_t len) {
    /* deflateBound for the default settings, plus headers and margin */
    return XG_PROTO_HDR + 8 + (size_t)compressBound((uLong)len) + 64;
}

/*
 * Type 4: as_proto (type 4, size of what follows), the original size in
 * 64 bits, then a zlib stream inflating to the whole type-3 frame.
 */
size_t xg_zip_frame(struct xg_zip *z, const uint8_t *in, size_t len, uint8_t *out, size_t cap) {
    if (cap < XG_PROTO_HDR + 8 + 16 || deflateReset(&z->zs) != Z_OK)
        return 0;
    z->zs.next_in = (Bytef *)(uintptr_t)in;
    z->zs.avail_in = (uInt)len;
    z->zs.next_out = out + XG_PROTO_HDR + 8;
    z->zs.avail_out = (uInt)(cap - XG_PROTO_HDR - 8);
    if (deflate(&z->zs, Z_FINISH) != Z_STREAM_END)
        return 0;
    size_t zlen = z->zs.total_out;
    size_t body = 8 + zlen;
    out[0] = XG_PROTO_VERSION;
    out[1] = XG_PROTO_COMPRESSED;
    xg_be16(out + 2, (uint16_t)((uint64_t)body >> 32));
    xg_be32(out + 4, (uint32_t)body);
    if (z->size_le) {
        for (int i = 0; i < 8; i++)
            out[XG_PROTO_HDR + i] = (uint8_t)((uint64_t)len >> (8 * i));
    } else {
        xg_be64(out + XG_PROTO_HDR, len);
    }
    return XG_PROTO_HDR + body;
}

/* ---------------------------------------------------------------------- */
/* Replies                                                                 */
/* ---------------------------------------------------------------------- */

/*
 * A reply is as_proto v2 type 3 size 22, then an as_msg with header_sz 22
 * and no fields or ops (a 22-byte body has no room for them; a count that
 * says otherwise is a lie). XDR reads only the result code; the rest is
 * checked so that a connector answering with garbage is caught.
 */
int xg_reply_parse(const uint8_t p[XG_REPLY_LEN]) {
    if (p[0] != XG_PROTO_VERSION || p[1] != XG_PROTO_MSG ||
        xg_get_be(p + 2, 6) != XG_MSG_HDR || p[8] != XG_MSG_HDR)
        return -1;
    if (xg_get_be(p + 8 + 18, 2) != 0 || xg_get_be(p + 8 + 20, 2) != 0)
        return -1;
    return p[8 + 5];
}

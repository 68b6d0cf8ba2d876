/*
 * plugins/source-xdr/inflate.c: type-4 (compressed) frames. After the
 * as_proto header come 8 bytes of "original size" and a zlib stream that
 * must inflate to exactly one complete type-3 message, header included.
 *
 * The original size is only a hint (its byte order differs between
 * Aerospike components), so it is ignored. Instead the first 30 inflated
 * bytes (the inner as_proto and as_msg headers) are inflated on their own
 * and checked: the inner size must be within max_frame_size. Only then is
 * the event allocated, with exactly the inner frame's length, and the
 * rest is inflated straight into its data area: one copy, and a
 * decompression bomb costs at most max_frame_size bytes and the CPU to
 * produce them. A stream that ends early, runs past the inner size, or is
 * followed by trailing bytes is malformed.
 */
#include <inttypes.h>
#include <string.h>

#include "wire.h"

/* Bytes before the zlib stream: as_proto header and the size hint. */
#define Z_START (ASW_PROTO_HDR + 8)

/* Offset in the frame of the next compressed byte zlib will read. */
static uint64_t in_offset(const z_stream *zs, const uint8_t *z) {
    return Z_START + (uint64_t)((const uint8_t *)zs->next_in - z);
}

/*
 * Inflates into out[0..n). Stops when out is full or the stream ends
 * (*ended). *got receives the bytes produced.
 */
static spw_result pump(z_stream *zs, const uint8_t *z, uint8_t *out, size_t n, size_t *got,
                       bool *ended, asw_error *err) {
    zs->next_out = out;
    zs->avail_out = (uInt)n;
    *ended = false;
    while (zs->avail_out > 0) {
        int zr = inflate(zs, Z_NO_FLUSH);
        if (zr == Z_STREAM_END) {
            *ended = true;
            break;
        }
        if (zr == Z_OK)
            continue;
        if (zr == Z_MEM_ERROR)
            return SPW_ERR_NOMEM;
        if (zr == Z_BUF_ERROR) /* no progress possible: the input ran out */
            return asw_fail(err, in_offset(zs, z), "zlib stream is truncated");
        if (zr == Z_NEED_DICT)
            return asw_fail(err, in_offset(zs, z), "zlib stream wants a preset dictionary");
        return asw_fail(err, in_offset(zs, z), "corrupt zlib stream (%s)",
                        zs->msg ? zs->msg : "unknown error");
    }
    *got = n - zs->avail_out;
    return SPW_OK;
}

/* Fails with an offset counted in the inflated message. */
#define INFLATED_FAIL(...) \
    (asw_fail(err, __VA_ARGS__), (err ? (void)(err->inflated = true) : (void)0), SPW_ERR_INVAL)

spw_result asw_inflate_event(asw_parser *p, const uint8_t *frame, size_t len, int64_t now_s,
                             spw_event **out, asw_error *err) {
    uint8_t head[ASW_MSG_MIN];
    size_t got = 0;
    bool ended = false;
    uint32_t n_ops;
    spw_result r;

    *out = NULL;
    if (len < Z_START + 2)
        return asw_fail(err, 2, "compressed frame of %zu bytes has no room for a zlib stream", len);
    if (len - Z_START > (size_t)UINT32_MAX)
        return asw_fail(err, 2, "compressed frame of %zu bytes is too large", len);
    const uint8_t *z = frame + Z_START;

    if (!p->zs_ready) {
        memset(&p->zs, 0, sizeof p->zs);
        if (inflateInit(&p->zs) != Z_OK)
            return SPW_ERR_NOMEM;
        p->zs_ready = true;
    } else if (inflateReset(&p->zs) != Z_OK) {
        return SPW_ERR_NOMEM;
    }
    p->zs.next_in = (Bytef *)(uintptr_t)z; /* zlib's API is not const-correct; it only reads */
    p->zs.avail_in = (uInt)(len - Z_START);

    r = pump(&p->zs, z, head, sizeof head, &got, &ended, err);
    if (r != SPW_OK)
        return r;
    if (got < sizeof head)
        return INFLATED_FAIL(got, "inflates to %zu bytes, less than a message's headers",
                             got);
    if (head[0] != ASW_PROTO_VERSION)
        return INFLATED_FAIL(0, "inflated message has as_proto version %u", head[0]);
    if (head[1] != ASW_TYPE_MSG)
        return INFLATED_FAIL(1, "inflated message has as_proto type %u, expected 3",
                             head[1]);
    uint64_t size = asw_be48(head + 2);
    if (size > p->max_frame)
        return INFLATED_FAIL(2, "inflated message of %" PRIu64 " bytes is over max_frame_size",
                             size);
    if (size < ASW_MSG_HDR)
        return INFLATED_FAIL(2, "inflated message of %" PRIu64 " bytes is shorter than its "
                             "header", size);
    size_t total = ASW_PROTO_HDR + (size_t)size;
    r = asw_record_head(head, total, &n_ops, err);
    if (r != SPW_OK) {
        err->inflated = true;
        return r;
    }

    spw_event *ev = spw_event_new(n_ops, total);
    if (ev == NULL)
        return SPW_ERR_NOMEM;
    uint8_t *data = spw_event_data(ev);
    memcpy(data, head, sizeof head);
    if (total > sizeof head) {
        if (ended) {
            r = INFLATED_FAIL(sizeof head, "zlib stream ends after %zu bytes of the "
                              "message", sizeof head);
            goto fail;
        }
        r = pump(&p->zs, z, data + sizeof head, total - sizeof head, &got, &ended, err);
        if (r != SPW_OK)
            goto fail;
        if (got < total - sizeof head) {
            r = INFLATED_FAIL(sizeof head + got, "zlib stream ends %" PRIu64 " bytes short "
                              "of the message's size", (uint64_t)(total - sizeof head - got));
            goto fail;
        }
    }
    if (!ended) {
        /* Full: the stream must end here, without one more byte of output. */
        uint8_t extra;
        r = pump(&p->zs, z, &extra, 1, &got, &ended, err);
        if (r != SPW_OK)
            goto fail;
        if (got > 0 || !ended) {
            r = INFLATED_FAIL(total, "zlib stream inflates past the %zu bytes its "
                              "message announces", total);
            goto fail;
        }
    }
    if (p->zs.avail_in != 0) {
        r = asw_fail(err, in_offset(&p->zs, z), "%u bytes after the end of the zlib stream",
                     p->zs.avail_in);
        goto fail;
    }
    r = asw_record_parse(p, ev, total, now_s, err);
    if (r != SPW_OK) {
        err->inflated = true;
        goto fail;
    }
    *out = ev;
    return SPW_OK;

fail:
    spw_event_unref(ev);
    return r;
}

/*
 * plugins/source-xdr/frame.c: as_proto framing. Finds whole frames in a
 * connection's byte stream, refuses what XDR never sends to a connector
 * (another protocol version, security or internal frames, oversized
 * frames) as soon as the header shows it, hands type-3 and type-4 frames
 * to record.c and inflate.c, and writes the 30-byte reply.
 *
 * The header is judged byte by byte: a wrong version is refused when the
 * first byte arrives, a wrong type with the second, a size over the limit
 * with the eighth. Nothing of a frame's body is buffered before its size
 * is known to be acceptable, which is what bounds a connection's memory.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "wire.h"

spw_result asw_fail(asw_error *err, uint64_t offset, const char *fmt, ...) {
    if (err) {
        va_list ap;
        err->offset = offset;
        err->inflated = false;
        va_start(ap, fmt);
        vsnprintf(err->reason, sizeof err->reason, fmt, ap);
        va_end(ap);
    }
    return SPW_ERR_INVAL;
}

void asw_parser_init(asw_parser *p, uint64_t max_frame, bool check_collections) {
    memset(p, 0, sizeof *p);
    p->max_frame = max_frame > ASW_FRAME_HARD_MAX ? ASW_FRAME_HARD_MAX : max_frame;
    p->check_collections = check_collections;
}

void asw_parser_free(asw_parser *p) {
    if (p->zs_ready)
        inflateEnd(&p->zs);
    p->zs_ready = false;
}

static const char *type_name(uint8_t t) {
    switch (t) {
    case ASW_TYPE_SECURITY: return " (security: connectors take no authentication)";
    case ASW_TYPE_INTERNAL_XDR: return " (internal XDR, server to server only)";
    default: return "";
    }
}

asw_scan asw_scan_frame(const asw_parser *p, const uint8_t *buf, size_t len, size_t *need,
                        asw_error *err) {
    *need = ASW_PROTO_HDR;
    if (len >= 1 && buf[0] != ASW_PROTO_VERSION) {
        asw_fail(err, 0, "as_proto version %u, expected %u", buf[0], ASW_PROTO_VERSION);
        return ASW_BAD;
    }
    if (len >= 2 && buf[1] != ASW_TYPE_INFO && buf[1] != ASW_TYPE_MSG &&
        buf[1] != ASW_TYPE_MSG_COMPRESSED) {
        asw_fail(err, 1, "as_proto type %u%s is not accepted from XDR", buf[1], type_name(buf[1]));
        return ASW_BAD;
    }
    if (len < ASW_PROTO_HDR)
        return ASW_NEED_MORE;

    uint64_t size = asw_be48(buf + 2);
    switch (buf[1]) {
    case ASW_TYPE_INFO:
        if (size > ASW_INFO_MAX) {
            asw_fail(err, 2, "INFO request of %" PRIu64 " bytes (at most %" PRIu64 ")", size,
                     ASW_INFO_MAX);
            return ASW_BAD;
        }
        break;
    case ASW_TYPE_MSG:
        if (size < ASW_MSG_HDR) {
            asw_fail(err, 2, "message of %" PRIu64 " bytes is shorter than its %d-byte header",
                     size, ASW_MSG_HDR);
            return ASW_BAD;
        }
        break;
    default: /* compressed: the 8-byte size hint, then at least a zlib header */
        if (size < 8 + 2) {
            asw_fail(err, 2, "compressed frame of %" PRIu64 " bytes has no room for a zlib stream",
                     size);
            return ASW_BAD;
        }
        break;
    }
    if (size > p->max_frame) {
        asw_fail(err, 2, "frame of %" PRIu64 " bytes is over max_frame_size (%" PRIu64 ")", size,
                 p->max_frame);
        return ASW_BAD;
    }
    *need = ASW_PROTO_HDR + (size_t)size;
    return len >= *need ? ASW_FRAME : ASW_NEED_MORE;
}

spw_result asw_frame_event(asw_parser *p, const uint8_t *frame, size_t len, int64_t now_s,
                           spw_event **out, asw_error *err) {
    uint32_t n_ops;
    spw_result r;

    *out = NULL;
    if (len < ASW_PROTO_HDR)
        return asw_fail(err, 0, "frame of %zu bytes has no complete header", len);
    if (frame[1] == ASW_TYPE_MSG_COMPRESSED)
        return asw_inflate_event(p, frame, len, now_s, out, err);
    if (frame[1] != ASW_TYPE_MSG)
        return asw_fail(err, 1, "as_proto type %u carries no record", frame[1]);

    r = asw_record_head(frame, len, &n_ops, err);
    if (r != SPW_OK)
        return r;
    /* Every pointer of the event will point into this one copy of the frame. */
    spw_event *ev = spw_event_new(n_ops, len);
    if (ev == NULL)
        return SPW_ERR_NOMEM;
    memcpy(spw_event_data(ev), frame, len);
    r = asw_record_parse(p, ev, len, now_s, err);
    if (r != SPW_OK) {
        spw_event_unref(ev);
        return r;
    }
    *out = ev;
    return SPW_OK;
}

void asw_reply(uint8_t out[ASW_REPLY_LEN], uint8_t result_code) {
    memset(out, 0, ASW_REPLY_LEN);
    out[0] = ASW_PROTO_VERSION;
    out[1] = ASW_TYPE_MSG;
    out[7] = ASW_MSG_HDR;                 /* as_proto size: the as_msg header alone */
    out[ASW_PROTO_HDR] = ASW_MSG_HDR;     /* as_msg header_sz */
    out[ASW_PROTO_HDR + 5] = result_code; /* as_msg result_code */
}

/*
 * plugins/source-xdr/wire.h: the Aerospike wire protocol as XDR speaks it
 * to a connector (Aerospike's as_proto/as_msg wire format), as a pure module: bytes in,
 * events and answers out. No sockets, no libuv, no clock: the caller
 * passes the arrival time. The plugin (conn.c), the unit tests, the
 * fuzzer and the benchmark all drive exactly this code.
 *
 * What it owns:
 *   frame.c    as_proto headers: finding whole frames in a byte stream,
 *              refusing bad ones before they are buffered, the reply.
 *   record.c   a type-3 message (as_msg) turned into an spw_event, with
 *              every field and op validated.
 *   inflate.c  type-4 (compressed) frames: zlib, inflated straight into
 *              the event's data area, bounded.
 *   info.c     type-1 INFO requests and their answers.
 *
 * Names are asw_ ("Aerospike wire"); never xdr_, which libc owns.
 */
#ifndef SPW_SOURCE_XDR_WIRE_H
#define SPW_SOURCE_XDR_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>
#include <spillway/spillway.h>

/* as_proto: version, type, 48-bit size of what follows. */
#define ASW_PROTO_VERSION 2
#define ASW_PROTO_HDR 8
#define ASW_TYPE_INFO 1
#define ASW_TYPE_SECURITY 2
#define ASW_TYPE_MSG 3
#define ASW_TYPE_MSG_COMPRESSED 4
#define ASW_TYPE_INTERNAL_XDR 5

/* as_msg header, after a type-3 as_proto. */
#define ASW_MSG_HDR 22
/* A whole type-3 frame is at least this long: as_proto + as_msg header. */
#define ASW_MSG_MIN (ASW_PROTO_HDR + ASW_MSG_HDR)

/* The server's own hard limit on one message; max_frame_size may not exceed it. */
#define ASW_FRAME_HARD_MAX ((uint64_t)128 << 20)
/* INFO requests are a few names: anything bigger is not an INFO request. */
#define ASW_INFO_MAX ((uint64_t)64 << 10)

/* The reply: as_proto (2, 3, 22) + as_msg with only header_sz and result_code set. */
#define ASW_REPLY_LEN 30

/* Aerospike's epoch (2010-01-01T00:00:00Z) in Unix ms. */
#define ASW_CLEPOCH_MS INT64_C(1262304000000)

/* What the parser does with what it is given. */
typedef struct asw_parser {
    uint64_t max_frame;        /* largest size field accepted, outer or inflated */
    bool check_collections;    /* walk list/map values and refuse malformed ones */
    z_stream zs;               /* reused for every compressed frame */
    bool zs_ready;
} asw_parser;

/* Sets the limits; allocates nothing (zlib's state comes with the first compressed frame). */
void asw_parser_init(asw_parser *p, uint64_t max_frame, bool check_collections);
void asw_parser_free(asw_parser *p);

/*
 * Why input was refused. offset counts from the first byte of the frame
 * (its as_proto header); when inflated is set, from the first byte of the
 * message the frame inflated to.
 */
typedef struct asw_error {
    uint64_t offset;
    bool inflated;
    char reason[160];
} asw_error;

typedef enum asw_scan {
    ASW_NEED_MORE = 0, /* not a whole frame yet: *need says how many bytes it needs */
    ASW_FRAME,         /* a whole frame of *need bytes starts at buf */
    ASW_BAD,           /* the header is unacceptable (err set): close the connection */
} asw_scan;

/*
 * Looks at the frame starting at buf (len bytes available). Validates the
 * as_proto header as soon as its 8 bytes are there, so that an oversized
 * or foreign frame is refused before a byte of its body is buffered.
 * *need is the whole frame's length once the header is known, else 8.
 */
asw_scan asw_scan_frame(const asw_parser *p, const uint8_t *buf, size_t len, size_t *need,
                        asw_error *err);

/* The frame's type byte (buf holds at least the header). */
static inline uint8_t asw_frame_type(const uint8_t *frame) { return frame[1]; }

/*
 * Builds the event of one whole type-3 or type-4 frame (as accepted by
 * asw_scan_frame). The frame is copied once, into the event's data area
 * (a compressed one is inflated there), and every field of the event
 * points into it. now_s (Unix seconds) is the arrival time the TTL counts
 * from. Returns SPW_OK with *out (owned by caller), SPW_ERR_INVAL for
 * malformed input (err set), SPW_ERR_NOMEM.
 */
spw_result asw_frame_event(asw_parser *p, const uint8_t *frame, size_t len, int64_t now_s,
                           spw_event **out, asw_error *err);

/* record.c: parses the type-3 frame sitting at the front of ev's data area. */
spw_result asw_record_parse(const asw_parser *p, spw_event *ev, size_t frame_len, int64_t now_s,
                            asw_error *err);
/* record.c: checks the as_msg header of a type-3 frame (first ASW_MSG_MIN bytes) and gives
 * the op count to size the event with. */
spw_result asw_record_head(const uint8_t *frame, size_t frame_len, uint32_t *n_ops,
                           asw_error *err);

/* inflate.c: the type-4 half of asw_frame_event. */
spw_result asw_inflate_event(asw_parser *p, const uint8_t *frame, size_t len, int64_t now_s,
                             spw_event **out, asw_error *err);

/* What INFO answers say about this connector. Borrowed strings without tabs or newlines. */
typedef struct asw_info_ids {
    const char *node;
    const char *build;
    const char *version;
} asw_info_ids;

/*
 * Appends the answer to one whole INFO (type-1) frame to out: an as_proto
 * header of type 1 and one "name\tvalue\n" line per known name asked for
 * (node, build, version, status), in the order asked; unknown names are
 * left out; an empty request gets all four. SPW_ERR_NOMEM or SPW_OK.
 */
spw_result asw_info_answer(const uint8_t *frame, size_t len, const asw_info_ids *ids,
                           spw_buf *out);

/* Writes the 30-byte reply carrying result_code. */
void asw_reply(uint8_t out[ASW_REPLY_LEN], uint8_t result_code);

/* Fills err (printf-style reason) and returns SPW_ERR_INVAL. */
spw_result asw_fail(asw_error *err, uint64_t offset, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Big-endian loads. */
static inline uint16_t asw_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t asw_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t asw_be48(const uint8_t *p) {
    return ((uint64_t)asw_be16(p) << 32) | asw_be32(p + 2);
}
static inline uint64_t asw_be64(const uint8_t *p) {
    return ((uint64_t)asw_be32(p) << 32) | asw_be32(p + 4);
}

#endif /* SPW_SOURCE_XDR_WIRE_H */

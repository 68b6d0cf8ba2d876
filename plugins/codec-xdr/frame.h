/*
 * plugins/codec-xdr/frame.h: the xdr codec's internals, shared by the
 * plugin glue (xdr.c), the encoder (frame.c) and the unit test, which
 * compiles these sources directly.
 */
#ifndef SPW_CODEC_XDR_FRAME_H
#define SPW_CODEC_XDR_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spillway/spillway.h>

/* Values of passthrough, in the order of its `choices` string. */
enum xcodec_pass { XCODEC_PASS_AUTO = 0, XCODEC_PASS_ALWAYS = 1, XCODEC_PASS_NEVER = 2 };

typedef struct xcodec_config {
    int passthrough; /* enum xcodec_pass */
    bool bin_luts;   /* write bins' last-update times (op flag 0x01, info2 0x10) */
} xcodec_config;

/* One encoder per worker. */
typedef struct xcodec {
    xcodec_config cfg;
    int64_t fixed_now_s; /* tests only: the clock TTLs are computed from; 0 = wall clock */
} xcodec;

/* The Aerospike epoch (2010-01-01T00:00:00Z) in Unix ms: LUTs count from it. */
#define XCODEC_CLEPOCH_MS INT64_C(1262304000000)

/*
 * Appends the record's frame (as_proto + as_msg) to out: the frame as it
 * arrived when passthrough allows it, otherwise one encoded from the
 * event. On anything but SPW_OK, out is left as it was. SPW_REJECT (err
 * set) when the event cannot be written as XDR would ship it.
 */
spw_result xcodec_encode(const xcodec *c, const spw_event *ev, spw_buf *out, spw_err *err);
/* True when xcodec_encode would send ev's raw frame as it is. */
bool xcodec_passes_raw(const xcodec *c, const spw_event *ev);
const char *xcodec_content_type(const xcodec *c, bool batch);

#endif /* SPW_CODEC_XDR_FRAME_H */

/*
 * plugins/codec-xdr/xdr.c: the `xdr` codec plugin: each record as the
 * Aerospike wire frame XDR ships (the vendor's default format, for
 * chaining to another connector or an XDR proxy). This file holds the
 * descriptor, the option table and the per-worker instances; the frames
 * are in frame.c. A batch is the frames one after another, which is what
 * the core makes of a codec without a frame callback, at no cost.
 */
#include <stdlib.h>
#include "frame.h"

static const spw_option xdr_options[] = {
    {"passthrough", SPW_OPT_ENUM, 0, "auto", 0, 0, "auto|always|never",
     offsetof(xcodec_config, passthrough),
     "auto sends the frame as it arrived unless the route changed the record (bins kept, "
     "dropped or renamed, metadata excluded), then encodes one from the event; always sends "
     "the arrived frame whenever there is one, ignoring the route's transforms; never always "
     "encodes."},
    {"bin_luts", SPW_OPT_BOOL, 0, "true", 0, 0, NULL, offsetof(xcodec_config, bin_luts),
     "Encoded frames carry each bin's last-update time when the event has one, as XDR does "
     "with ship-bin-luts; false leaves them out (an arrived frame that has them is then "
     "re-encoded)."},
    SPW_OPTIONS_END,
};

static spw_result xdr_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    xcodec *c = calloc(1, sizeof *c);
    if (!c)
        return spw_err_set(err, SPW_ERR_NOMEM, "xdr codec: out of memory");
    c->cfg = *(const xcodec_config *)config;
    *inst = c;
    return SPW_OK;
}

static void xdr_destroy(void *inst) { free(inst); }

static spw_result xdr_encode(void *inst, const spw_event *ev, spw_buf *out, spw_err *err) {
    return xcodec_encode(inst, ev, out, err);
}

static const char *xdr_content_type(void *inst, bool batch) {
    return xcodec_content_type(inst, batch);
}

static const spw_codec_ops xdr_ops = {
    .encode = xdr_encode,
    .frame = NULL, /* concatenation: the records buffer is the body, nothing is copied */
    .content_type = xdr_content_type,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_CODEC, .name = "xdr", .version = "1.0.0",
                  .description = "The Aerospike XDR wire frame of each record (format xdr)",
                  .options = xdr_options, .config_size = sizeof(xcodec_config),
                  .create = xdr_create, .destroy = xdr_destroy, .codec = &xdr_ops);

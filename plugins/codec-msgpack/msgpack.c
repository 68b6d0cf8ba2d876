/*
 * plugins/codec-msgpack/msgpack.c: the `msgpack` codec plugin, the
 * vendor's MessagePack layout (Aerospike Connect for ESP, format
 * msgpack). This file holds the descriptor, the option table and the
 * per-worker instances; the writing is in pack.c.
 */
#include <stdlib.h>
#include "pack.h"

static const spw_option msgpack_options[] = {
    {"bin_luts", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, offsetof(mcodec_config, bin_luts),
     "Add a fifth element to every bin entry: the bin's last-update time (Unix ms) when XDR "
     "shipped one, nil otherwise."},
    {"delete_metadata", SPW_OPT_BOOL, 0, "false", 0, 0, NULL,
     offsetof(mcodec_config, delete_metadata),
     "Deletes carry [KEY, FLAGS, gen, lut] instead of [KEY, FLAGS] (XDR ships both; the vendor "
     "sends neither)."},
    {"invalid_utf8", SPW_OPT_ENUM, 0, "replace", 0, 0, "replace|bin|reject",
     offsetof(mcodec_config, invalid_utf8),
     "Strings that are not valid UTF-8: replace each bad sequence with U+FFFD, send the bytes "
     "as MessagePack bin instead of str, or reject the record."},
    {"id_element", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, offsetof(mcodec_config, id_element),
     "Add a fourth element to every message, [1, TYPE, PAYLOAD, ID]: the record's idempotency "
     "key as a str, the digest in hex, '-', the LUT (as ${id} in header templates: the same "
     "across XDR's resends, new for the next change)."},
    SPW_OPTIONS_END,
};

static spw_result msgpack_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    mcodec *c = malloc(sizeof *c);
    if (!c)
        return spw_err_set(err, SPW_ERR_NOMEM, "msgpack codec: out of memory");
    c->cfg = *(const mcodec_config *)config;
    c->id = NULL;
    if (c->cfg.id_element && spw_template_new("${id}", &c->id, err) != SPW_OK) {
        free(c);
        return spw_err_set(err, SPW_ERR_NOMEM, "msgpack codec: out of memory");
    }
    *inst = c;
    return SPW_OK;
}

static void msgpack_destroy(void *inst) {
    mcodec *c = inst;
    if (c)
        spw_template_free(c->id);
    free(c);
}

static spw_result msgpack_encode(void *inst, const spw_event *ev, spw_buf *out, spw_err *err) {
    return mcodec_encode(inst, ev, out, err);
}

static spw_result msgpack_frame(void *inst, const spw_slice *recs, size_t n, spw_buf *out,
                                spw_err *err) {
    return mcodec_frame(inst, recs, n, out, err);
}

static const char *msgpack_content_type(void *inst, bool batch) {
    return mcodec_content_type(inst, batch);
}

static const spw_codec_ops msgpack_ops = {
    .encode = msgpack_encode,
    .frame = msgpack_frame,
    .content_type = msgpack_content_type,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_CODEC, .name = "msgpack", .version = "1.0.0",
                  .description = "MessagePack as Aerospike Connect for ESP writes it (format msgpack)",
                  .options = msgpack_options, .config_size = sizeof(mcodec_config),
                  .create = msgpack_create, .destroy = msgpack_destroy, .codec = &msgpack_ops);

/*
 * plugins/codec-json/json.c: the `json` codec plugin, the vendor's typed
 * JSON (Aerospike Connect for ESP). This file holds the descriptor, the
 * option table and the per-worker instances; the writing is in encode.c.
 */
#include <stddef.h>
#include <stdlib.h>
#include "encode.h"

static const spw_option json_options[] = {
    {"batch_format", SPW_OPT_ENUM, 0, "ndjson", 0, 0, "ndjson|array",
     offsetof(jcodec_config, batch_format),
     "How a batch is framed: ndjson (one record per line, application/x-ndjson) or array "
     "(one JSON array, application/json)."},
    {"delete_metadata", SPW_OPT_BOOL, 0, "false", 0, 0, NULL,
     offsetof(jcodec_config, delete_metadata),
     "Add \"gen\" and \"lut\" to delete messages (XDR ships both; the vendor sends neither)."},
    {"bin_luts", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, offsetof(jcodec_config, bin_luts),
     "Add \"lut\" (Unix ms) to each bin object that XDR shipped a bin last-update time for."},
    {"stringify_map_keys", SPW_OPT_BOOL, 0, "true", 0, 0, NULL,
     offsetof(jcodec_config, stringify_map_keys),
     "Write map keys that are not strings as strings (integers in decimal, doubles in their "
     "shortest exact form, blobs in Base64, true/false, nil as \"null\"); when off, such a "
     "record is rejected."},
    {"invalid_utf8", SPW_OPT_ENUM, 0, "replace", 0, 0, "replace|base64|reject",
     offsetof(jcodec_config, invalid_utf8),
     "Strings that are not valid UTF-8: replace each bad sequence with U+FFFD, send the bytes "
     "as Base64 (a str bin then says type blob), or reject the record."},
    {"non_finite", SPW_OPT_ENUM, 0, "string", 0, 0, "string|null|reject",
     offsetof(jcodec_config, non_finite),
     "Doubles that are NaN or infinite: write the strings \"NaN\", \"Infinity\", \"-Infinity\", "
     "write null, or reject the record."},
    {"id_field", SPW_OPT_STRING, 0, "", 0, 0, NULL, offsetof(jcodec_config, id_field),
     "Name of a member to add to every record holding its idempotency key, the digest in hex, "
     "'-', the LUT (as ${id} in header templates: the same across XDR's resends, new for the "
     "next change); empty: none (the vendor's shape). idempotencyKey fits the vendor's names."},
    SPW_OPTIONS_END,
};

/* Members the typed shape already writes: id_field must not repeat one. */
static const char *const json_taken[] = {"msg", "key", "gen", "exp", "lut", "bins", "durable", NULL};

static spw_result json_check(const void *config, spw_err *err) {
    return jcodec_check_id(config, json_taken, err);
}

static spw_result json_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    jcodec *c = calloc(1, sizeof *c);
    if (!c)
        return spw_err_set(err, SPW_ERR_NOMEM, "json codec: out of memory");
    if (jcodec_init(c, config) != SPW_OK) {
        free(c);
        return spw_err_set(err, SPW_ERR_NOMEM, "json codec: cannot create the C numeric locale");
    }
    *inst = c;
    return SPW_OK;
}

static void json_destroy(void *inst) {
    jcodec *c = inst;
    if (!c)
        return;
    jcodec_fini(c);
    free(c);
}

static spw_result json_encode(void *inst, const spw_event *ev, spw_buf *out, spw_err *err) {
    return jcodec_encode(inst, ev, out, err);
}

static spw_result json_frame(void *inst, const spw_slice *recs, size_t n, spw_buf *out,
                             spw_err *err) {
    return jcodec_frame(inst, recs, n, out, err);
}

static const char *json_content_type(void *inst, bool batch) {
    return jcodec_content_type(inst, batch);
}

static const spw_codec_ops json_ops = {
    .encode = json_encode,
    .frame = json_frame,
    .content_type = json_content_type,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_CODEC, .name = "json", .version = "1.0.0",
                  .description = "Typed JSON as Aerospike Connect for ESP writes it (format json)",
                  .options = json_options, .config_size = sizeof(jcodec_config),
                  .check = json_check, .create = json_create, .destroy = json_destroy, .codec = &json_ops);

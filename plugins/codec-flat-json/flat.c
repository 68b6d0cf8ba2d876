/*
 * plugins/codec-flat-json/flat.c: the `flat-json` codec plugin: bins as
 * top-level members, metadata under one key (the vendor's flat-json
 * format). This file holds the descriptor, the option table and the
 * per-worker instances; the record is written by record.c and its values
 * by the json codec's shared value writer.
 */
#include <stdlib.h>
#include "flat.h"

/* ---- options and instances ---- */

#define OFF(f) offsetof(fcodec_config, f)

static const spw_option flat_options[] = {
    {"metadata_key", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL, OFF(metadata_key),
     "Name of the top-level member that holds the metadata object (msg, namespace, set, "
     "userKey, digest, gen, lut, exp or durable)."},
    {"name_collision", SPW_OPT_ENUM, 0, "rename", 0, 0, "rename|reject", OFF(name_collision),
     "A bin named like metadata_key, or like an earlier bin (possible only after bins_rename): "
     "rename appends '_' to its name until it is unique; reject rejects the record."},
    {"batch_format", SPW_OPT_ENUM, 0, "ndjson", 0, 0, "ndjson|array", OFF(j.batch_format),
     "How a batch is framed: ndjson (one record per line, application/x-ndjson) or array "
     "(one JSON array, application/json)."},
    {"delete_metadata", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, OFF(j.delete_metadata),
     "Add \"gen\" and \"lut\" to the metadata of deletes (XDR ships both; the vendor sends "
     "neither)."},
    {"bin_luts", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, OFF(j.bin_luts),
     "Add \"binLuts\" to the metadata of writes: an object mapping each bin that XDR shipped "
     "a last-update time for to that time (Unix ms)."},
    {"stringify_map_keys", SPW_OPT_BOOL, 0, "true", 0, 0, NULL, OFF(j.stringify_map_keys),
     "Write map keys that are not strings as strings (integers in decimal, doubles in their "
     "shortest exact form, blobs in Base64, true/false, nil as \"null\"); when off, such a "
     "record is rejected."},
    {"invalid_utf8", SPW_OPT_ENUM, 0, "replace", 0, 0, "replace|base64|reject",
     OFF(j.invalid_utf8),
     "Strings that are not valid UTF-8: replace each bad sequence with U+FFFD, send the bytes "
     "as a Base64 string, or reject the record."},
    {"non_finite", SPW_OPT_ENUM, 0, "string", 0, 0, "string|null|reject", OFF(j.non_finite),
     "Doubles that are NaN or infinite: write the strings \"NaN\", \"Infinity\", \"-Infinity\", "
     "write null, or reject the record."},
    {"id_field", SPW_OPT_STRING, 0, "", 0, 0, NULL, OFF(j.id_field),
     "Name of a member to add to the metadata object holding the record's idempotency key, the "
     "digest in hex, '-', the LUT (as ${id} in header templates: the same across XDR's "
     "resends, new for the next change); empty: none. idempotencyKey fits the vendor's names."},
    SPW_OPTIONS_END,
};

static spw_result flat_check(const void *config, spw_err *err) {
    return fcodec_check(config, err);
}

static spw_result flat_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    fcodec *f = malloc(sizeof *f);
    if (!f)
        return spw_err_set(err, SPW_ERR_NOMEM, "flat-json codec: out of memory");
    if (fcodec_init(f, config) != SPW_OK) {
        free(f);
        return spw_err_set(err, SPW_ERR_NOMEM, "flat-json codec: cannot create the C numeric locale");
    }
    *inst = f;
    return SPW_OK;
}

static void flat_destroy(void *inst) {
    if (!inst)
        return;
    fcodec_fini(inst);
    free(inst);
}

/* ---- the plugin ---- */

static spw_result flat_encode(void *inst, const spw_event *ev, spw_buf *out, spw_err *err) {
    return fcodec_encode(inst, ev, out, err);
}

static spw_result flat_frame(void *inst, const spw_slice *recs, size_t n, spw_buf *out,
                             spw_err *err) {
    const fcodec *f = inst;
    return jcodec_frame(&f->j, recs, n, out, err);
}

static const char *flat_content_type(void *inst, bool batch) {
    const fcodec *f = inst;
    return jcodec_content_type(&f->j, batch);
}

static const spw_codec_ops flat_ops = {
    .encode = flat_encode,
    .frame = flat_frame,
    .content_type = flat_content_type,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_CODEC, .name = "flat-json", .version = "1.0.0",
                  .description = "Flat JSON: bins as top-level members, metadata under one key "
                                 "(format flat-json)",
                  .options = flat_options, .config_size = sizeof(fcodec_config),
                  .check = flat_check, .create = flat_create, .destroy = flat_destroy,
                  .codec = &flat_ops);

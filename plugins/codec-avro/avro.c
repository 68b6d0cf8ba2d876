/*
 * plugins/codec-avro/avro.c: the `avro` codec plugin. This file holds the
 * descriptor, the option table, the configuration check and the
 * per-worker instances; schema.c compiles the schema, generic.c and user.c
 * encode, container.c frames.
 */
#include <stddef.h>
#include <stdlib.h>
#include "acodec.h"

#define OFF(f) offsetof(acodec_config, f)

static const spw_option avro_options[] = {
    {"schema", SPW_OPT_STRING, 0, "", 0, 0, NULL, OFF(schema),
     "The Avro schema as inline JSON (a record); fields are matched to metadata and bins by name. "
     "Unset (with schema_file unset too): the built-in generic schema."},
    {"schema_file", SPW_OPT_STRING, 0, "", 0, 0, NULL, OFF(schema_file),
     "Path of a file holding the Avro schema; set this or schema, not both."},
    {"stringify_map_keys", SPW_OPT_BOOL, 0, "true", 0, 0, NULL, OFF(stringify_map_keys),
     "Write map keys that are not strings as strings (integers in decimal, doubles in their "
     "shortest exact form, blobs in Base64, true/false, nil as \"null\"); when off, such a "
     "record is rejected."},
    {"bin_luts", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, OFF(bin_luts),
     "Generic schema: fill each bin's lut (Unix ms) when XDR shipped a bin last-update time; "
     "otherwise it is null."},
    {"invalid_utf8", SPW_OPT_ENUM, 0, "replace", 0, 0, "replace|bytes|reject", OFF(invalid_utf8),
     "Strings that are not valid UTF-8: replace each bad sequence with U+FFFD, write the raw "
     "bytes where the schema offers bytes, or reject the record."},
    {"container_codec", SPW_OPT_ENUM, 0, "null", 0, 0, "null|deflate", OFF(container_codec),
     "Compression of the block in a batch's container file: null (none) or deflate."},
    {"deflate_level", SPW_OPT_INT, 0, "6", 1, 9, NULL, OFF(deflate_level),
     "zlib level (1 fastest .. 9 smallest) when container_codec = deflate."},
    {"batch_content_type", SPW_OPT_ENUM, 0, "avro/binary", 0, 0, "avro/binary|application/avro",
     OFF(batch_content_type),
     "Content type of a batch (an Avro container file); single records are always "
     "application/avro."},
    SPW_OPTIONS_END,
};

/* Compiles the schema and throws it away: a bad schema is a configuration
 * error that `spillway --check` reports, not a failure of every worker. */
static spw_result avro_check(const void *config, spw_err *err) {
    aplan plan;
    spw_result r = acodec_plan_build(config, &plan, err);
    if (r == SPW_OK)
        acodec_plan_free(&plan);
    return r;
}

static spw_result avro_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    acodec *c = malloc(sizeof *c);
    if (!c)
        return spw_err_set(err, SPW_ERR_NOMEM, "avro codec: out of memory");
    spw_result r = acodec_init(c, config, err);
    if (r != SPW_OK) {
        free(c);
        return r;
    }
    /* Receivers of single records look the schema up by its fingerprint:
     * say which one, once (every worker compiles the same schema). */
    if (st && spw_stage_worker(st) == 0)
        spw_log(st, SPW_LOG_INFO, "schema %s (%s), fingerprint %016llx (CRC-64-AVRO)",
                c->plan.nodes[c->plan.root].name, c->plan.generic ? "built-in generic" : "configured",
                (unsigned long long)c->plan.fingerprint);
    *inst = c;
    return SPW_OK;
}

static void avro_destroy(void *inst) {
    acodec *c = inst;
    if (!c)
        return;
    acodec_fini(c);
    free(c);
}

static spw_result avro_encode(void *inst, const spw_event *ev, spw_buf *out, spw_err *err) {
    return acodec_encode(inst, ev, out, err);
}

static spw_result avro_frame(void *inst, const spw_slice *recs, size_t n, spw_buf *out,
                             spw_err *err) {
    return acodec_frame(inst, recs, n, out, err);
}

static const char *avro_content_type(void *inst, bool batch) {
    return acodec_content_type(inst, batch);
}

static const spw_codec_ops avro_ops = {
    .encode = avro_encode,
    .frame = avro_frame,
    .content_type = avro_content_type,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_CODEC, .name = "avro", .version = "1.0.0",
                  .description = "Apache Avro: single-object records, container files for batches "
                                 "(format avro)",
                  .options = avro_options, .config_size = sizeof(acodec_config),
                  .check = avro_check, .create = avro_create, .destroy = avro_destroy,
                  .codec = &avro_ops);

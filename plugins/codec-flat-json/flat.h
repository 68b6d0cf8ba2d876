/*
 * plugins/codec-flat-json/flat.h: the flat-json codec's internals, shared
 * by the plugin glue (flat.c), the encoder (record.c) and the unit tests,
 * which compile the sources
 * directly. The values are written by the json codec's value writer
 * (plugins/codec-json/value.c), compiled into this module as well.
 */
#ifndef SPW_CODEC_FLAT_JSON_H
#define SPW_CODEC_FLAT_JSON_H

#include "../codec-json/encode.h"

/* Values of name_collision, in the order of its `choices` string. */
enum fcodec_collision { FCODEC_COLLISION_RENAME = 0, FCODEC_COLLISION_REJECT = 1 };

/* The parsed options: the JSON options both codecs share, and our own. */
typedef struct fcodec_config {
    jcodec_config j;
    char *metadata_key;  /* member holding the metadata object (required) */
    int name_collision;  /* enum fcodec_collision */
} fcodec_config;

/* One encoder per worker, with scratch space that grows to the largest
 * bin count seen and is then reused: no allocation per record. */
typedef struct fcodec {
    jcodec j;
    spw_str mkey;
    int name_collision;
    uint16_t *suffix;    /* per bin: how many '_' its name gets (collisions only) */
    uint32_t *slots;     /* open-addressing table of bin indexes + 1 (duplicate check) */
    size_t cap_bins, n_slots;
} fcodec;

/* Checks what the option table cannot (metadata_key not empty, UTF-8). */
spw_result fcodec_check(const fcodec_config *cfg, spw_err *err);
/* Prepares an encoder; cfg (and its metadata_key) must outlive it. */
spw_result fcodec_init(fcodec *f, const fcodec_config *cfg);
void fcodec_fini(fcodec *f);
/* Appends one record; on anything but SPW_OK out is left as it was. */
spw_result fcodec_encode(fcodec *f, const spw_event *ev, spw_buf *out, spw_err *err);

#endif /* SPW_CODEC_FLAT_JSON_H */

/*
 * plugins/codec-msgpack/pack.h: the msgpack codec's internals, shared by
 * the plugin glue (msgpack.c), the encoder (pack.c) and the unit test,
 * which compiles these sources directly.
 */
#ifndef SPW_CODEC_MSGPACK_PACK_H
#define SPW_CODEC_MSGPACK_PACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spillway/spillway.h>

/* Values of invalid_utf8, in the order of its `choices` string. */
enum mcodec_utf8 { MCODEC_UTF8_REPLACE = 0, MCODEC_UTF8_BIN = 1, MCODEC_UTF8_REJECT = 2 };

typedef struct mcodec_config {
    bool bin_luts;        /* a 5th element in each bin entry: its LUT or nil */
    bool delete_metadata; /* deletes: [KEY, FLAGS, gen, lut] */
    int invalid_utf8;     /* enum mcodec_utf8 */
    bool id_element;      /* message = [1, TYPE, PAYLOAD, ID] */
} mcodec_config;

/* One encoder per worker (it holds only its configuration). */
typedef struct mcodec {
    mcodec_config cfg;
    spw_template *id;     /* "${id}" with id_element, else NULL */
} mcodec;

/*
 * Appends one message to out. On anything but SPW_OK, out is left as it
 * was. SPW_REJECT (err set, naming the bin) when a value is malformed or a
 * policy says reject; SPW_ERR_NOMEM when the buffer cannot grow.
 */
spw_result mcodec_encode(const mcodec *c, const spw_event *ev, spw_buf *out, spw_err *err);
/* A batch: one MessagePack array holding the n messages. */
spw_result mcodec_frame(const mcodec *c, const spw_slice *recs, size_t n, spw_buf *out,
                        spw_err *err);
const char *mcodec_content_type(const mcodec *c, bool batch);

#endif /* SPW_CODEC_MSGPACK_PACK_H */

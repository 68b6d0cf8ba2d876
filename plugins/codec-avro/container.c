/*
 * plugins/codec-avro/container.c: an encoder instance, and the two ways
 * records leave it: one record as Avro single-object encoding, a batch as
 * one Avro object container file.
 *
 *   single:    C3 01 | CRC-64-AVRO of the schema's canonical form (8 bytes,
 *              little-endian) | datum
 *   container: "Obj" 01 | metadata map {avro.schema, avro.codec} | sync (16)
 *              | one block: record count, byte size, datums (deflated when
 *              container_codec = deflate) | sync
 *
 * encode() always writes the single-object form; frame() strips each
 * record's 10-byte header again and puts the datums in one block. So a
 * route that batches and one that does not share one encoder, and the
 * records a dead-letter queue keeps are self-describing either way.
 *
 * The container header (magic, schema, codec, sync marker) is the same for
 * every batch of an instance and is built once; the sync marker is random
 * per instance, as the specification asks, so a reader can tell blocks of
 * different writers apart.
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>
#include "acodec.h"

/* Fills the sync marker; a failing getrandom (no entropy API) falls back
 * to the clock and addresses, which still differ between instances. */
static void random_sync(acodec *c) {
    if (getrandom(c->sync, sizeof c->sync, 0) == (ssize_t)sizeof c->sync)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t a = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec;
    uint64_t b = (uint64_t)(uintptr_t)c ^ (a << 17) ^ 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < 8; i++) {
        c->sync[i] = (uint8_t)(a >> (8 * i));
        c->sync[8 + i] = (uint8_t)(b >> (8 * i));
    }
}

static spw_result build_file_header(acodec *c) {
    aw w = {&c->file_hdr, SPW_OK};
    static const char magic[4] = {'O', 'b', 'j', 1};
    const char *codec = c->cfg.container_codec == ACODEC_CONTAINER_DEFLATE ? "deflate" : "null";
    aw_raw(&w, magic, 4);
    aw_long(&w, 2); /* one block of two metadata entries: map<bytes> */
    aw_bytes(&w, "avro.schema", 11);
    aw_bytes(&w, c->plan.schema_json.data, c->plan.schema_json.len);
    aw_bytes(&w, "avro.codec", 10);
    aw_bytes(&w, codec, strlen(codec));
    aw_long(&w, 0);
    aw_raw(&w, c->sync, sizeof c->sync);
    return w.err;
}

spw_result acodec_init(acodec *c, const acodec_config *cfg, spw_err *err) {
    memset(c, 0, sizeof *c);
    c->cfg = *cfg;
    /* The strings belong to the core's config; this copy must not keep them. */
    c->cfg.schema = NULL;
    c->cfg.schema_file = NULL;
    spw_result r = acodec_plan_build(cfg, &c->plan, err);
    if (r != SPW_OK)
        return r;
    c->single_hdr[0] = 0xC3;
    c->single_hdr[1] = 0x01;
    for (int i = 0; i < 8; i++)
        c->single_hdr[2 + i] = (uint8_t)(c->plan.fingerprint >> (8 * i));
    random_sync(c);
    c->c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    if (!c->c_locale) {
        acodec_fini(c);
        return spw_err_set(err, SPW_ERR_NOMEM, "avro codec: cannot create the C numeric locale");
    }
    if (!c->plan.generic) {
        size_t n = c->plan.nodes[c->plan.root].n;
        c->slots = calloc(n ? n : 1, sizeof *c->slots);
        if (!c->slots || acodec_user_prepare(&c->plan, c->cfg.invalid_utf8) != SPW_OK) {
            acodec_fini(c);
            return spw_err_set(err, SPW_ERR_NOMEM, "avro codec: out of memory");
        }
    }
    if (build_file_header(c) != SPW_OK) {
        acodec_fini(c);
        return spw_err_set(err, SPW_ERR_NOMEM, "avro codec: out of memory");
    }
    if (c->cfg.container_codec == ACODEC_CONTAINER_DEFLATE) {
        /* Raw deflate (RFC 1951, no zlib header), as Avro's deflate codec is. */
        if (deflateInit2(&c->zs, (int)c->cfg.deflate_level, Z_DEFLATED, -15, 8,
                         Z_DEFAULT_STRATEGY) != Z_OK) {
            acodec_fini(c);
            return spw_err_set(err, SPW_ERR_NOMEM, "avro codec: cannot set up deflate");
        }
        c->zs_ready = true;
    }
    return SPW_OK;
}

void acodec_fini(acodec *c) {
    acodec_plan_free(&c->plan);
    spw_buf_free(&c->file_hdr);
    spw_buf_free(&c->zbuf);
    if (c->zs_ready)
        deflateEnd(&c->zs);
    c->zs_ready = false;
    if (c->c_locale)
        freelocale(c->c_locale);
    c->c_locale = (locale_t)0;
    free(c->slots);
    c->slots = NULL;
    free(c->pairs);
    c->pairs = NULL;
    c->cap_pairs = 0;
}

static spw_result finish(acodec *c, spw_buf *out, size_t start, spw_result r, aw *w, spw_err *err) {
    (void)c;
    if (r == SPW_OK && w->err == SPW_OK)
        return SPW_OK;
    out->len = start;
    if (r == SPW_OK)
        r = w->err;
    if (r == SPW_ERR_NOSPACE) /* will never fit, however often it is retried */
        return spw_err_set(err, SPW_REJECT, "avro codec: the record encodes to more than %zu bytes",
                           (size_t)SPW_BUF_MAX);
    if (r < 0)
        return spw_err_set(err, r, "avro codec: %s", spw_result_str(r));
    return r;
}

spw_result acodec_encode_datum(acodec *c, const spw_event *ev, spw_buf *out, spw_err *err) {
    size_t start = out->len;
    aw w = {out, SPW_OK};
    spw_result r = c->plan.generic ? acodec_generic_datum(c, ev, &w, err)
                                   : acodec_user_datum(c, ev, &w, err);
    return finish(c, out, start, r, &w, err);
}

spw_result acodec_encode(acodec *c, const spw_event *ev, spw_buf *out, spw_err *err) {
    size_t start = out->len;
    aw w = {out, SPW_OK};
    aw_raw(&w, c->single_hdr, sizeof c->single_hdr);
    spw_result r = c->plan.generic ? acodec_generic_datum(c, ev, &w, err)
                                   : acodec_user_datum(c, ev, &w, err);
    return finish(c, out, start, r, &w, err);
}

/* Deflates the datums of recs into c->zbuf. */
static spw_result deflate_block(acodec *c, const spw_slice *recs, size_t n, size_t total) {
    z_stream *zs = &c->zs;
    if (deflateReset(zs) != Z_OK)
        return SPW_ERR_STATE;
    spw_buf_reset(&c->zbuf);
    size_t bound = deflateBound(zs, (uLong)total) + 16;
    spw_result r = spw_buf_reserve(&c->zbuf, bound);
    if (r != SPW_OK)
        return r;
    for (size_t i = 0; i <= n; i++) {
        bool last = i == n;
        zs->next_in = last ? (Bytef *)"" : (Bytef *)(recs[i].ptr + 10);
        zs->avail_in = last ? 0 : (uInt)(recs[i].len - 10);
        for (;;) {
            if (c->zbuf.cap - c->zbuf.len < 64 &&
                (r = spw_buf_reserve(&c->zbuf, c->zbuf.cap)) != SPW_OK)
                return r;
            zs->next_out = c->zbuf.data + c->zbuf.len;
            zs->avail_out = (uInt)(c->zbuf.cap - c->zbuf.len);
            int z = deflate(zs, last ? Z_FINISH : Z_NO_FLUSH);
            c->zbuf.len = (size_t)(zs->next_out - c->zbuf.data);
            if (z == Z_STREAM_END)
                return SPW_OK;
            if (z != Z_OK && z != Z_BUF_ERROR)
                return SPW_ERR_STATE;
            if (!last && zs->avail_in == 0)
                break;
        }
    }
    return SPW_OK;
}

spw_result acodec_frame(acodec *c, const spw_slice *recs, size_t n, spw_buf *out, spw_err *err) {
    size_t start = out->len, total = 0;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len < 10 || memcmp(recs[i].ptr, c->single_hdr, 10) != 0)
            return spw_err_set(err, SPW_ERR_INVAL,
                               "avro codec: record %zu of the batch is not this schema's "
                               "single-object encoding",
                               i);
        if (recs[i].len - 10 > SPW_BUF_MAX - total)
            return spw_err_set(err, SPW_REJECT, "avro codec: the batch is larger than %zu bytes",
                               (size_t)SPW_BUF_MAX);
        total += recs[i].len - 10;
    }
    aw w = {out, SPW_OK};
    aw_raw(&w, c->file_hdr.data, c->file_hdr.len);
    if (n > 0) {
        aw_long(&w, (int64_t)n);
        if (c->cfg.container_codec == ACODEC_CONTAINER_DEFLATE) {
            spw_result r = deflate_block(c, recs, n, total);
            if (r != SPW_OK) {
                out->len = start;
                return spw_err_set(err, r, "avro codec: deflate failed: %s", spw_result_str(r));
            }
            aw_long(&w, (int64_t)c->zbuf.len);
            aw_raw(&w, c->zbuf.data, c->zbuf.len);
        } else {
            aw_long(&w, (int64_t)total);
            if (aw_room(&w, total))
                for (size_t i = 0; i < n; i++)
                    aw_raw(&w, recs[i].ptr + 10, recs[i].len - 10);
        }
        aw_raw(&w, c->sync, sizeof c->sync);
    }
    if (w.err != SPW_OK) {
        out->len = start;
        if (w.err == SPW_ERR_NOSPACE)
            return spw_err_set(err, SPW_REJECT, "avro codec: the batch is larger than %zu bytes",
                               (size_t)SPW_BUF_MAX);
        return spw_err_set(err, w.err, "avro codec: cannot frame the batch: %s",
                           spw_result_str(w.err));
    }
    return SPW_OK;
}

/*
 * Single records are application/avro (the vendor's type). A container
 * file is avro/binary by default, the type Avro's own HTTP transport
 * uses, so a receiver can tell the two framings apart by the header
 * alone; batch_content_type = application/avro makes both the same.
 */
const char *acodec_content_type(const acodec *c, bool batch) {
    if (batch && c->cfg.batch_content_type == ACODEC_CT_AVRO_BINARY)
        return "avro/binary";
    return "application/avro";
}

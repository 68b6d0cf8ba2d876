/*
 * core/http/gzip.c: request bodies compressed with gzip
 * (Content-Encoding: gzip). One deflate stream per instance, reset for
 * each body rather than created, so compressing allocates nothing once the
 * output buffer has grown to the largest body seen. Compression happens in
 * send(), on the worker's loop: at level 1 zlib does well over 100 MB/s,
 * which costs less than handing the body to another thread.
 */
#include <string.h>
#include "http-private.h"

spw_result spw__http_gzip_init(spw__http_gzip *g, int level) {
    memset(g, 0, sizeof *g);
    /* 15 + 16: a gzip wrapper rather than zlib's, which is what HTTP servers expect. */
    if (deflateInit2(&g->zs, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return SPW_ERR_NOMEM;
    g->ready = true;
    return SPW_OK;
}

spw_result spw__http_gzip_compress(spw__http_gzip *g, const uint8_t *p, size_t n, spw_buf *out) {
    if (!g->ready)
        return SPW_ERR_STATE;
    if (deflateReset(&g->zs) != Z_OK)
        return SPW_ERR_STATE;
    spw_buf_reset(out);
    /* deflateBound is exact enough that one pass always fits. */
    uLong bound = deflateBound(&g->zs, (uLong)n);
    spw_result rc = spw_buf_reserve(out, (size_t)bound);
    if (rc != SPW_OK)
        return rc;
    g->zs.next_in = (Bytef *)(uintptr_t)p;
    g->zs.avail_in = (uInt)n;
    g->zs.next_out = out->data;
    g->zs.avail_out = (uInt)out->cap;
    int z = deflate(&g->zs, Z_FINISH);
    if (z != Z_STREAM_END)
        return SPW_ERR_NOSPACE;
    out->len = (size_t)(g->zs.next_out - out->data);
    return SPW_OK;
}

void spw__http_gzip_free(spw__http_gzip *g) {
    if (g->ready)
        deflateEnd(&g->zs);
    g->ready = false;
}

/*
 * spillway/buf.h: a growable byte buffer, the unit codecs write into and
 * sinks send from. Reuse one buffer (spw_buf_reset) instead of allocating
 * per record: the steady state then allocates nothing.
 */
#ifndef SPILLWAY_BUF_H
#define SPILLWAY_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <spillway/result.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Zero-initialise (SPW_BUF_INIT) before first use; release with spw_buf_free. */
typedef struct spw_buf {
    uint8_t *data; /* owned by the buffer; NULL until something is written */
    size_t len;    /* bytes in use */
    size_t cap;    /* bytes allocated */
} spw_buf;

#define SPW_BUF_INIT {NULL, 0, 0}

/* Hard ceiling on one buffer (1 GiB): growth beyond fails with NOSPACE. */
#define SPW_BUF_MAX ((size_t)1 << 30)

/* Makes room for at least `extra` more bytes after len. */
SPW_API spw_result spw_buf_reserve(spw_buf *b, size_t extra);

/* Appends n bytes from p (borrowed). */
SPW_API spw_result spw_buf_append(spw_buf *b, const void *p, size_t n);

/* Appends printf-formatted text (no terminating NUL is counted in len). */
SPW_API spw_result spw_buf_printf(spw_buf *b, const char *fmt, ...) SPW_PRINTF(2, 3);

/* Appends the standard Base64 (RFC 4648, padded) encoding of p[0..n). */
SPW_API spw_result spw_buf_append_base64(spw_buf *b, const void *p, size_t n);

/* Empties the buffer but keeps its memory for reuse. */
static inline void spw_buf_reset(spw_buf *b) { b->len = 0; }

/* Releases the memory; the buffer is empty and reusable afterwards. */
SPW_API void spw_buf_free(spw_buf *b);

#ifdef __cplusplus
}
#endif
#endif /* SPILLWAY_BUF_H */

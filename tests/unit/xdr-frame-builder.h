/*
 * tests/unit/xdr-frame-builder.h: builds type-3 XDR frames (as_proto +
 * as_msg) field by field and op by op, for the xdr source's unit tests
 * (test-xdr-wire, test-xdr-fuzz). Wire layout: ../shared/ref/xdr-wire.md
 * and plugins/source-xdr/wire.h. Needs wire.h (ASW_MSG_MIN) and the SDK's
 * spw_buf.
 */
#ifndef SPW_TEST_XDR_FRAME_BUILDER_H
#define SPW_TEST_XDR_FRAME_BUILDER_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <spillway/spillway.h>

#include "wire.h"

static inline void put32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void put64(uint8_t *p, uint64_t v) {
    put32(p, (uint32_t)(v >> 32));
    put32(p + 4, (uint32_t)v);
}

/* Sets the as_proto header's 48-bit size to the frame's length less the header. */
static inline void put_proto_size(uint8_t *frame, size_t len) {
    uint64_t size = len - 8;
    for (int i = 7; i >= 2; i--, size >>= 8)
        frame[i] = (uint8_t)size;
}

/* Builds as_msg frames field by field, op by op. */
struct fb {
    spw_buf b;
    uint16_t nf, no;
};

static inline void fb_begin(struct fb *f, uint8_t info2, uint32_t gen, uint32_t ttl) {
    uint8_t h[ASW_MSG_MIN] = {2, 3, 0, 0, 0, 0, 0, 0, 22, 0x10, info2};
    put32(h + 8 + 6, gen);
    put32(h + 8 + 10, ttl);
    spw_buf_reset(&f->b);
    spw_buf_append(&f->b, h, sizeof h);
    f->nf = f->no = 0;
}

static inline void fb_field(struct fb *f, uint8_t type, const void *d, size_t n) {
    uint8_t h[5];
    put32(h, (uint32_t)n + 1);
    h[4] = type;
    spw_buf_append(&f->b, h, 5);
    spw_buf_append(&f->b, d, n);
    f->nf++;
}

static inline void fb_str(struct fb *f, uint8_t type, const char *s) {
    fb_field(f, type, s, strlen(s));
}

/* A key field: particle type byte then the value. */
static inline void fb_key(struct fb *f, uint8_t pt, const void *v, size_t n) {
    uint8_t k[64];
    k[0] = pt;
    memcpy(k + 1, v, n);
    fb_field(f, 2, k, n + 1);
}

static inline void fb_op(struct fb *f, uint8_t op, uint8_t pt, const char *name, const int64_t *lut,
                         const void *v, size_t n) {
    uint8_t h[8 + 255 + 8];
    size_t nl = strlen(name), hl = 8 + nl + (lut ? 8 : 0);
    put32(h, (uint32_t)(hl - 4 + n));
    h[4] = op;
    h[5] = pt;
    h[6] = lut ? 1 : 0;
    h[7] = (uint8_t)nl;
    memcpy(h + 8, name, nl);
    if (lut)
        put64(h + 8 + nl, (uint64_t)*lut);
    spw_buf_append(&f->b, h, hl);
    spw_buf_append(&f->b, v, n);
    f->no++;
}

static inline void fb_bin(struct fb *f, uint8_t pt, const char *name, const void *v, size_t n) {
    fb_op(f, 2, pt, name, NULL, v, n);
}

/* Writes the sizes and counts into the header: the frame is then whole. */
static inline void fb_end(struct fb *f) {
    uint8_t *d = f->b.data;
    put_proto_size(d, f->b.len);
    d[8 + 18] = (uint8_t)(f->nf >> 8);
    d[8 + 19] = (uint8_t)f->nf;
    d[8 + 20] = (uint8_t)(f->no >> 8);
    d[8 + 21] = (uint8_t)f->no;
}

#ifdef XDR_TEST_DATA
/* Reads tests/data/xdr/NAME (hex, whitespace, '#' comment lines) into buf, at most max bytes. */
static inline size_t xdr_load_hex(const char *name, uint8_t *buf, size_t max) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", XDR_TEST_DATA, name);
    FILE *f = fopen(path, "r");
    if (!f) {
        printf("Bail out! cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t n = 0;
    int hi = -1, c, bol = 1, comment = 0;
    while ((c = fgetc(f)) != EOF && n < max) {
        if (bol && c == '#')
            comment = 1;
        bol = c == '\n';
        if (bol)
            comment = 0;
        int v = comment ? -1 : c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (v < 0)
            continue;
        if (hi < 0) {
            hi = v;
        } else {
            buf[n++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    fclose(f);
    return n;
}
#endif

#endif /* SPW_TEST_XDR_FRAME_BUILDER_H */

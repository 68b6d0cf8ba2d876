/*
 * core/http/fuzz-h1parse.c: libFuzzer target for the HTTP/1.1
 * response parser (h1parse.c). An input is what a server sends on one
 * connection: responses are taken from its front as h1.c takes them
 * (begin, feed until DONE, begin again), until the parser refuses the
 * bytes or they run out (then the connection's end is reported). Besides
 * "never crash, never leak", it checks what the engine relies on:
 *
 *   - cut differently (whole, a byte at a time, in pieces whose sizes come
 *     from the input), the input yields the same transcript: for each
 *     response its status, reusability, until-close framing, interim count,
 *     Retry-After, kept body and the offset where it ends; then the same
 *     refusal, or the same end of input;
 *   - feed never claims more bytes than it was given, and returns MORE
 *     only having taken them all;
 *   - the kept body stays within its bound, the carried head within
 *     SPW__HTTP_H1_HEAD_MAX;
 *   - a finished response has a final status (200..599).
 *
 * Built only with ./configure --enable-fuzzing; run with make fuzz-h1.
 */
#include <stdlib.h>
#include <string.h>

#include "http-private.h"

#define BODY_MAX 300
#define MAX_RESPONSES 64

static void require(bool cond) {
    if (!cond)
        abort();
}

/* Appends one parser outcome to t. */
static void record(spw_buf *t, int rc, size_t at, const spw__http_h1parse *p, const spw_buf *body) {
    char line[256];
    int n;
    if (rc == SPW__HTTP_H1_DONE)
        n = snprintf(line, sizeof line, "DONE@%zu %d ka=%d uc=%d i=%u ra=[%s] body=%zu:", at,
                     p->status, p->keep_alive, p->until_close, p->interim, p->retry_after,
                     body->len);
    else
        n = snprintf(line, sizeof line, "BAD %s", p->why);
    require(spw_buf_append(t, line, (size_t)n) == SPW_OK);
    if (rc == SPW__HTTP_H1_DONE && body->len)
        require(spw_buf_append(t, body->data, body->len) == SPW_OK);
    require(spw_buf_append(t, "\n", 1) == SPW_OK);
}

/* A tiny PRNG for piece sizes, seeded from the input. */
static uint32_t next(uint32_t *x) {
    *x ^= *x << 13;
    *x ^= *x >> 17;
    *x ^= *x << 5;
    return *x;
}

/* mode 0: whole; 1: a byte at a time; 2: pseudo-random pieces of 1..64 bytes. */
static void transcript(const uint8_t *d, size_t n, int mode, spw_buf *t) {
    spw__http_h1parse p = {0};
    spw_buf body = {0};
    uint32_t x = 2166136261u;
    for (size_t i = 0; i < n; i++)
        x = (x ^ d[i]) * 16777619u;
    x |= 1;
    spw__http_h1parse_begin(&p);
    size_t pos = 0, responses = 0;
    int rc = SPW__HTTP_H1_MORE;
    while (pos < n) {
        size_t len = mode == 0 ? n : mode == 1 ? 1 : 1 + next(&x) % 64;
        if (len > n - pos)
            len = n - pos;
        size_t off = 0;
        while (off < len) {
            size_t used = (size_t)-1;
            rc = spw__http_h1parse_feed(&p, d + pos + off, len - off, &used, &body, BODY_MAX);
            require(used <= len - off);
            require(body.len <= BODY_MAX);
            require(p.carry.len <= SPW__HTTP_H1_HEAD_MAX);
            if (rc == SPW__HTTP_H1_MORE) {
                require(used == len - off);
                off = len;
                break;
            }
            off += used;
            if (rc == SPW__HTTP_H1_BAD) {
                record(t, rc, 0, &p, &body);
                goto out;
            }
            require(rc == SPW__HTTP_H1_DONE && used > 0);
            require(p.status >= 200 && p.status <= 599);
            record(t, rc, pos + off, &p, &body);
            if (++responses == MAX_RESPONSES)
                goto out;
            spw__http_h1parse_begin(&p);
            spw_buf_reset(&body);
        }
        pos += len;
    }
    rc = spw__http_h1parse_eof(&p);
    require(rc == SPW__HTTP_H1_DONE || rc == SPW__HTTP_H1_BAD);
    if (rc == SPW__HTTP_H1_DONE)
        require(p.until_close && p.status >= 200);
    record(t, rc, n, &p, &body);
out:
    spw__http_h1parse_free(&p);
    spw_buf_free(&body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    spw_buf t[3] = {{0}, {0}, {0}};
    transcript(data, size, 0, &t[0]);
    /* A byte at a time is the slowest cut: keep it for inputs of a sane size. */
    if (size <= 8192)
        transcript(data, size, 1, &t[1]);
    transcript(data, size, 2, &t[2]);
    for (int i = 1; i < 3; i++)
        if (t[i].len)
            require(t[i].len == t[0].len && memcmp(t[i].data, t[0].data, t[0].len) == 0);
    for (int i = 0; i < 3; i++)
        spw_buf_free(&t[i]);
    return 0;
}

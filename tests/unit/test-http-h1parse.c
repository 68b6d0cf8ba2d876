/*
 * tests/unit/test-http-h1parse.c: the HTTP/1.1 response parser of the
 * native HTTP/1.1 engine (core/http/h1parse.c): framing by
 * Content-Length, chunked (extensions, trailers) and connection close,
 * interim answers, what makes a connection reusable, Retry-After, the
 * bound on the kept body, and the malformed input that must be refused.
 * Every well-formed case is also fed split at every byte, since the
 * socket may cut a response anywhere.
 */
#include <string.h>
#include "../../core/http/http-private.h"
#include "../tap.h"

#define BODY_MAX 64

typedef struct result {
    int rc;          /* the last feed's (or eof's) answer */
    size_t used;     /* bytes taken over all feeds */
    int status;
    bool keep_alive, until_close;
    unsigned interim;
    char retry_after[64];
    char why[96];
    char body[BODY_MAX + 1];
} result;

/* Feeds m[0..n) cut at the given offsets (ascending, 0-terminated list), then EOF if asked. */
static void run(const char *m, size_t n, const size_t *cuts, bool eof, result *out) {
    spw__http_h1parse p = {0};
    spw_buf body = {0};
    spw__http_h1parse_begin(&p);
    memset(out, 0, sizeof *out);
    size_t at = 0;
    int rc = SPW__HTTP_H1_MORE;
    for (size_t k = 0;; k++) {
        size_t end = cuts && cuts[k] && cuts[k] < n ? cuts[k] : n;
        size_t used = 0;
        rc = spw__http_h1parse_feed(&p, (const uint8_t *)m + at, end - at, &used, &body, BODY_MAX);
        out->used += used;
        if (rc != SPW__HTTP_H1_MORE || end == n)
            break;
        at = end;
    }
    if (rc == SPW__HTTP_H1_MORE && eof)
        rc = spw__http_h1parse_eof(&p);
    out->rc = rc;
    out->status = p.status;
    out->keep_alive = p.keep_alive;
    out->until_close = p.until_close;
    out->interim = p.interim;
    snprintf(out->retry_after, sizeof out->retry_after, "%s", p.retry_after);
    snprintf(out->why, sizeof out->why, "%s", p.why);
    memcpy(out->body, body.data ? (const char *)body.data : "", body.len);
    out->body[body.len] = '\0';
    spw__http_h1parse_free(&p);
    spw_buf_free(&body);
}

static void parse(const char *m, bool eof, result *out) { run(m, strlen(m), NULL, eof, out); }

/* The same result whichever byte the input is cut at (and when fed a byte at a time). */
static bool split_agrees(const char *m, bool eof, const result *want) {
    size_t n = strlen(m);
    result r;
    for (size_t k = 1; k < n; k++) {
        size_t cuts[] = {k, 0};
        run(m, n, cuts, eof, &r);
        if (r.rc != want->rc || r.used != want->used || r.status != want->status ||
            r.keep_alive != want->keep_alive || strcmp(r.body, want->body) != 0 ||
            strcmp(r.retry_after, want->retry_after) != 0) {
            printf("#   cut at %zu: rc %d used %zu status %d body \"%s\" why \"%s\"\n", k, r.rc,
                   r.used, r.status, r.body, r.why);
            return false;
        }
    }
    size_t ones[1024];
    if (n >= sizeof ones / sizeof ones[0])
        return true;
    for (size_t k = 0; k + 1 < n; k++)
        ones[k] = k + 1;
    ones[n - 1] = 0;
    run(m, n, ones, eof, &r);
    return r.rc == want->rc && r.used == want->used && strcmp(r.body, want->body) == 0;
}

static void good(const char *name, const char *m, bool eof, int status, bool keep,
                 const char *body) {
    result r;
    parse(m, eof, &r);
    ok(r.rc == SPW__HTTP_H1_DONE && r.status == status && r.keep_alive == keep &&
           strcmp(r.body, body) == 0 && r.used == strlen(m),
       "%s: status %d, %s, body of %zu bytes", name, status, keep ? "reusable" : "not reusable",
       strlen(body));
    if (r.rc != SPW__HTTP_H1_DONE || r.status != status || r.keep_alive != keep || strcmp(r.body, body))
        printf("#   got rc %d status %d keep %d body \"%s\" used %zu/%zu why \"%s\"\n", r.rc,
               r.status, r.keep_alive, r.body, r.used, strlen(m), r.why);
    ok(split_agrees(m, eof, &r), "%s: the same when cut anywhere", name);
}

static void refused(const char *name, const char *m, const char *why) {
    result r;
    parse(m, true, &r);
    ok(r.rc == SPW__HTTP_H1_BAD && strstr(r.why, why), "%s: refused (%s)", name, why);
    if (r.rc != SPW__HTTP_H1_BAD || !strstr(r.why, why))
        printf("#   got rc %d status %d why \"%s\"\n", r.rc, r.status, r.why);
    /* Fed a byte at a time it is refused too (possibly sooner, never later). */
    size_t n = strlen(m), ones[512];
    if (n < sizeof ones / sizeof ones[0]) {
        for (size_t k = 0; k + 1 < n; k++)
            ones[k] = k + 1;
        ones[n ? n - 1 : 0] = 0;
        run(m, n, ones, true, &r);
        ok(r.rc == SPW__HTTP_H1_BAD, "%s: refused when fed a byte at a time", name);
    }
}

int main(void) {
    result r;

    /* Content-Length */
    good("content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nServer: x\r\n\r\nok", false, 200,
         true, "ok");
    good("no reason phrase", "HTTP/1.1 201\r\nContent-Length: 0\r\n\r\n", false, 201, true, "");
    good("empty reason phrase", "HTTP/1.1 202 \r\ncontent-length:0\r\n\r\n", false, 202, true, "");
    good("bare LF line ends", "HTTP/1.1 200 OK\nContent-Length: 3\n\nabc", false, 200, true, "abc");
    good("a repeated identical Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n"
         "Content-Length: 3\r\n\r\nabc", false, 200, true, "abc");
    good("obs-fold", "HTTP/1.1 503 Busy\r\nX-A: a\r\n  b\r\nContent-Length:\r\n 4\r\n\r\nbusy", false,
         503, true, "busy");

    /* Chunked */
    good("chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
         "5\r\nhello\r\n6;ext=1;q=\"a b\"\r\n world\r\n0\r\n\r\n", false, 200, true, "hello world");
    good("chunked with trailers", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
         "A \t; e\r\n0123456789\r\n000\r\nX-Trailer: 1\r\nY: two\r\n\r\n", false, 200, true,
         "0123456789");
    good("chunked, bare LFs", "HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nab\n0\n\n", false,
         200, true, "ab");
    good("chunked wins over Content-Length, and the connection is not reused",
         "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
         "1\r\nz\r\n0\r\n\r\n", false, 200, false, "z");

    /* Until close */
    good("no length: read until close", "HTTP/1.1 200 OK\r\nServer: x\r\n\r\nall of it", true, 200,
         false, "all of it");
    good("chunked not last: read until close",
         "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n1\r\nx", true, 200, false,
         "1\r\nx");
    parse("HTTP/1.1 200 OK\r\n\r\nabc", false, &r);
    ok(r.rc == SPW__HTTP_H1_MORE && r.until_close, "until close: more until the connection ends");

    /* Connection reuse */
    good("Connection: close", "HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\n"
         "Content-Length: 0\r\n\r\n", false, 200, false, "");
    good("HTTP/1.0 without keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n1", false, 200,
         false, "1");
    good("HTTP/1.0 with keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n"
         "Content-Length: 1\r\n\r\n1", false, 200, true, "1");

    /* No body */
    good("204 ignores Content-Length", "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
         false, 204, true, "");
    good("304", "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n", false, 304, true,
         "");
    const char *two = "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\n";
    parse(two, false, &r);
    ok(r.rc == SPW__HTTP_H1_DONE && r.used == strlen("HTTP/1.1 204 No Content\r\n\r\n"),
       "a response ends where it ends: what follows is not taken (%zu bytes used)", r.used);

    /* Interim answers */
    good("100 Continue, then the answer", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\n"
         "Link: </a>\r\n\r\nHTTP/1.1 413 Too Large\r\nContent-Length: 3\r\n\r\nbig", false, 413,
         true, "big");
    parse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", false, &r);
    ok(r.interim == 1, "the interim answer is counted");
    parse("HTTP/1.1 100 Continue\r\nRetry-After: 9\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
          false, &r);
    is_str(r.retry_after, "", "an interim answer's fields are not the final one's");

    /* Retry-After */
    parse("HTTP/1.1 503 Busy\r\nRetry-After:  120 \r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n",
          false, &r);
    is_str(r.retry_after, "120", "Retry-After: the first, trimmed");
    parse("HTTP/1.1 429 Slow\r\nretry-after: Wed, 21 Oct 2015\r\n 07:28:00 GMT\r\n"
          "Content-Length: 0\r\n\r\n", false, &r);
    is_str(r.retry_after, "Wed, 21 Oct 2015   07:28:00 GMT", "Retry-After: an HTTP-date, folded");

    /* The kept body is bounded; the rest is read and dropped. */
    char big[512];
    int hl = snprintf(big, sizeof big, "HTTP/1.1 400 Bad\r\nContent-Length: 300\r\n\r\n");
    memset(big + hl, 'x', 300);
    big[hl + 300] = '\0';
    parse(big, false, &r);
    ok(r.rc == SPW__HTTP_H1_DONE && strlen(r.body) == BODY_MAX && r.used == strlen(big),
       "a 300-byte body: %d bytes kept, all of it read", BODY_MAX);

    /* Refused */
    refused("HTTP/2 status line", "HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n", "status line");
    refused("a short status code", "HTTP/1.1 20 OK\r\n\r\n", "status");
    refused("a long status code", "HTTP/1.1 2000 OK\r\n\r\n", "status line");
    refused("a status under 100", "HTTP/1.1 099 Huh\r\n\r\n", "out of range");
    refused("a status over 599", "HTTP/1.1 600 Huh\r\n\r\n", "out of range");
    refused("not HTTP", "ICY 200 OK\r\n\r\n", "status line");
    refused("garbage, refused before any empty line", "<html><body>", "status line");
    refused("conflicting Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
            "Content-Length: 4\r\n\r\nabcd", "conflicting");
    refused("a list of different lengths", "HTTP/1.1 200 OK\r\nContent-Length: 3, 4\r\n\r\nabc",
            "conflicting");
    refused("Content-Length not a number", "HTTP/1.1 200 OK\r\nContent-Length: 1a\r\n\r\n",
            "Content-Length");
    refused("a negative Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            "Content-Length");
    refused("an empty Content-Length", "HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\n",
            "Content-Length");
    refused("a Content-Length of 19 digits", "HTTP/1.1 200 OK\r\nContent-Length: "
            "1000000000000000000\r\n\r\n", "Content-Length");
    refused("whitespace before the colon", "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
            "field name");
    refused("a field without colon", "HTTP/1.1 200 OK\r\nNoColon\r\n\r\n", "no colon");
    refused("a bare CR", "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n", "bare CR");
    const char nul[] = "HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n";
    run(nul, sizeof nul - 1, NULL, true, &r);
    ok(r.rc == SPW__HTTP_H1_BAD && strstr(r.why, "NUL"), "a NUL in a field value: refused");
    refused("whitespace before the first field", "HTTP/1.1 200 OK\r\n X: a\r\n\r\n", "first header");
    refused("a control character in the reason", "HTTP/1.1 200 O\x01K\r\n\r\n", "reason");
    refused("101 never asked for", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
            "101");
    refused("a chunk size that is not hex", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "zz\r\n", "chunk size");
    refused("no chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n;x\r\n",
            "chunk size");
    refused("a chunk size that overflows", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "10000000000000000\r\n", "too large");
    refused("chunk data without CRLF", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "2\r\nabc\r\n0\r\n\r\n", "CRLF");
    refused("junk after the chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "2 x\r\nab\r\n", "extension");
    refused("a trailer without colon", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "0\r\nTrailer\r\n\r\n", "trailer");
    refused("EOF in the head", "HTTP/1.1 200 OK\r\nContent-Le", "closed before");
    refused("EOF in the body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", "closed before");
    refused("EOF in a chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            "closed before");

    /* Bounds: a head of 64 KiB is refused, and never held beyond that. */
    size_t hn = SPW__HTTP_H1_HEAD_MAX + 100;
    char *h = malloc(hn + 1);
    int k = snprintf(h, hn, "HTTP/1.1 200 OK\r\nX: ");
    memset(h + k, 'a', hn - (size_t)k);
    h[hn] = '\0';
    parse(h, false, &r);
    ok(r.rc == SPW__HTTP_H1_BAD && strstr(r.why, "64 KiB"), "a head over 64 KiB: refused");
    spw__http_h1parse p = {0};
    size_t used;
    for (size_t at = 0; at < hn; at += 1000) {
        size_t step = hn - at < 1000 ? hn - at : 1000;
        if (spw__http_h1parse_feed(&p, (const uint8_t *)h + at, step, &used, NULL, 0) != SPW__HTTP_H1_MORE)
            break;
    }
    ok(p.state != 0 && p.carry.len <= SPW__HTTP_H1_HEAD_MAX, "...also fed in pieces, holding at most 64 KiB");
    spw__http_h1parse_free(&p);
    /* A head just under the bound is fine. */
    size_t fit = SPW__HTTP_H1_HEAD_MAX - 40;
    k = snprintf(h, hn, "HTTP/1.1 200 OK\r\nX: ");
    memset(h + k, 'a', fit - (size_t)k);
    strcpy(h + fit, "\r\nContent-Length: 0\r\n\r\n");
    parse(h, false, &r);
    ok(r.rc == SPW__HTTP_H1_DONE && r.status == 200, "a head of %zu bytes is fine", strlen(h));
    free(h);

    /* The parser is reused across responses on one connection. */
    spw__http_h1parse q = {0};
    spw_buf body = {0};
    const char *seq = "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\naHTTP/1.1 500 No\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n1\r\nb\r\n0\r\n\r\n";
    spw__http_h1parse_begin(&q);
    int rc1 = spw__http_h1parse_feed(&q, (const uint8_t *)seq, strlen(seq), &used, &body, 10);
    size_t u1 = used;
    spw__http_h1parse_begin(&q);
    int rc2 = spw__http_h1parse_feed(&q, (const uint8_t *)seq + u1, strlen(seq) - u1, &used, &body, 10);
    ok(rc1 == SPW__HTTP_H1_DONE && rc2 == SPW__HTTP_H1_DONE && q.status == 500 && u1 + used == strlen(seq) &&
           body.len == 2 && memcmp(body.data, "ab", 2) == 0,
       "two responses in a row, one begin each");
    spw__http_h1parse_free(&q);
    spw_buf_free(&body);

    return tap_done();
}

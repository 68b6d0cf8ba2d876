/*
 * bench/xdr-parse.c: what turning one XDR frame into an event costs (the
 * xdr source's wire module, plugins/source-xdr/wire.h), in ns per record.
 *
 * The main case is the record the end-to-end benchmark ships: 10 bins
 * (the integer "seq", then alternately integer and 13-byte string bins),
 * 301 bytes on the wire, with namespace, digest, set, integer key and LUT.
 * Around it, to show where the time goes:
 *
 *   alloc+copy     spw_event_new + the one memcpy of the frame + unref: the
 *                  floor any parse pays
 *   parse          asw_frame_event + spw_event_unref
 *   scan+parse     the stream path of a connection: asw_scan_frame over a
 *                  buffer of back-to-back frames, then the parse
 *   map+list       the same record with a 4-pair map and a 6-item list bin,
 *                  walked (validate_collections on) and not
 *   compressed     the 301-byte record as a type-4 frame (inflate included)
 *
 * Each case runs `rounds` times over `iters` records; the best round is
 * reported (the least disturbed by the rest of the machine).
 * Usage: xdr-parse [iters] [rounds] [case]; case (alloc, parse, stream,
 * walked, unwalked, compressed) runs one case alone, e.g. under
 * valgrind --tool=callgrind. Not a test: timings are not checked.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "wire.h"

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct fb {
    uint8_t b[4096];
    size_t len;
    uint16_t nf, no;
};

static void put(struct fb *f, const void *p, size_t n) {
    memcpy(f->b + f->len, p, n);
    f->len += n;
}

static void be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void field(struct fb *f, uint8_t type, const void *d, size_t n) {
    uint8_t h[5];
    be32(h, (uint32_t)n + 1);
    h[4] = type;
    put(f, h, 5);
    put(f, d, n);
    f->nf++;
}

static void bin(struct fb *f, uint8_t pt, const char *name, const void *v, size_t n) {
    uint8_t h[8];
    size_t nl = strlen(name);
    be32(h, (uint32_t)(4 + nl + n));
    h[4] = 2;
    h[5] = pt;
    h[6] = 0;
    h[7] = (uint8_t)nl;
    put(f, h, 8);
    put(f, name, nl);
    put(f, v, n);
    f->no++;
}

static void begin(struct fb *f) {
    static const uint8_t digest[20] = {0x78, 0xf2, 0x6d, 0x30, 0x72, 0x8c, 0x43, 0x6a, 0xc5, 0xb7,
                                       0xe2, 0xb7, 0x9f, 0x7f, 0xaa, 0x4b, 0x1c, 0x01, 0x15, 0x76};
    uint8_t h[ASW_MSG_MIN] = {2, 3, 0, 0, 0, 0, 0, 0, 22, 0x10, 0x01};
    be32(h + 8 + 6, 3);          /* generation */
    be32(h + 8 + 10, 86400);     /* TTL */
    f->len = f->nf = f->no = 0;
    put(f, h, sizeof h);
    field(f, 0, "test", 4);
    field(f, 4, digest, 20);
    field(f, 1, "demo", 4);
    field(f, 2, "\x01\x00\x00\x00\x00\x00\x00\x30\x39", 9);
    field(f, 14, "\x00\x00\x01\x6d\xea\x5e\xc9\x2d", 8);
}

static void end(struct fb *f) {
    uint64_t size = f->len - 8;
    for (int i = 7; i >= 2; i--, size >>= 8)
        f->b[i] = (uint8_t)size;
    f->b[8 + 18] = (uint8_t)(f->nf >> 8);
    f->b[8 + 19] = (uint8_t)f->nf;
    f->b[8 + 20] = (uint8_t)(f->no >> 8);
    f->b[8 + 21] = (uint8_t)f->no;
}

/* The end-to-end benchmark's record: 10 bins, 301 bytes. */
static void record10(struct fb *f, bool collections) {
    begin(f);
    bin(f, SPW_PT_INTEGER, "seq", "\x00\x00\x00\x00\x00\x01\xe2\x40", 8);
    for (int i = 1; i < 10; i++) {
        char name[4];
        snprintf(name, sizeof name, "b%d", i);
        if (collections && i == 8)
            bin(f, SPW_PT_MAP, name,
                "\x84\xa2\x03" "a\x01\xa2\x03" "b\x02\xa2\x03" "c\xcb\x40\x09\x21\xfb\x54\x44\x2d"
                "\x18\xa2\x03" "d\xc3", 25);
        else if (collections && i == 9)
            bin(f, SPW_PT_LIST, name, "\x96\x01\x02\xa4\x03xyz\xcd\x01\x00\xc2\x90", 13);
        else if (i % 2)
            bin(f, SPW_PT_INTEGER, name, "\x00\x00\x00\x00\x00\x00\x04\xd2", 8);
        else
            bin(f, SPW_PT_STRING, name, "value-string!", 13);
    }
    end(f);
}

static volatile uint64_t sink; /* keeps the compiler from dropping the work */

static double bench_alloc(const uint8_t *frame, size_t len, size_t n_ops, long iters) {
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        spw_event *ev = spw_event_new((uint32_t)n_ops, len);
        memcpy(spw_event_data(ev), frame, len);
        sink += spw_event_data(ev)[len - 1];
        spw_event_unref(ev);
    }
    return (double)(now_ns() - t0) / (double)iters;
}

static double bench_parse(asw_parser *p, const uint8_t *frame, size_t len, long iters) {
    asw_error err;
    uint64_t t0 = now_ns();
    for (long i = 0; i < iters; i++) {
        spw_event *ev;
        if (asw_frame_event(p, frame, len, 1764115200, &ev, &err) != SPW_OK) {
            fprintf(stderr, "xdr-parse: the benchmark frame does not parse: %s\n", err.reason);
            exit(1);
        }
        sink += spw_event_bin_count(ev);
        spw_event_unref(ev);
    }
    return (double)(now_ns() - t0) / (double)iters;
}

/* A connection's path: frames back to back in one buffer, scanned then parsed. */
static double bench_stream(asw_parser *p, const uint8_t *frame, size_t len, long iters) {
    enum { PER = 256 };
    uint8_t *buf = malloc(len * PER);
    for (int i = 0; i < PER; i++)
        memcpy(buf + (size_t)i * len, frame, len);
    asw_error err;
    long done = 0;
    uint64_t t0 = now_ns();
    while (done < iters) {
        size_t pos = 0, need;
        while (pos < len * PER &&
               asw_scan_frame(p, buf + pos, len * PER - pos, &need, &err) == ASW_FRAME) {
            spw_event *ev;
            if (asw_frame_event(p, buf + pos, need, 1764115200, &ev, &err) != SPW_OK)
                exit(1);
            sink += spw_event_bin_count(ev);
            spw_event_unref(ev);
            pos += need;
            done++;
        }
    }
    double r = (double)(now_ns() - t0) / (double)done;
    free(buf);
    return r;
}


static double best(double (*run)(const void *), const void *arg, int rounds) {
    double b = 1e18;
    for (int r = 0; r < rounds; r++) {
        double v = run(arg);
        if (v < b)
            b = v;
    }
    return b;
}

struct job {
    int kind; /* 0 alloc, 1 parse, 2 stream */
    asw_parser *p;
    const uint8_t *frame;
    size_t len, n_ops;
    long iters;
};

static double run_job(const void *a) {
    const struct job *j = a;
    switch (j->kind) {
    case 0: return bench_alloc(j->frame, j->len, j->n_ops, j->iters);
    case 1: return bench_parse(j->p, j->frame, j->len, j->iters);
    default: return bench_stream(j->p, j->frame, j->len, j->iters);
    }
}

static const char *only_case;

static bool wanted(const char *name) { return only_case == NULL || strcmp(only_case, name) == 0; }

static void row(const char *what, size_t len, double ns) {
    printf("  %-38s %5zu B  %8.1f ns/record  %7.2f M records/s  %7.0f MB/s\n", what, len, ns,
           1e3 / ns, (double)len * 1e3 / ns);
}

int main(int argc, char **argv) {
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    int rounds = argc > 2 ? atoi(argv[2]) : 5;
    const char *only = argc > 3 ? argv[3] : NULL;
    asw_parser strict, lenient;
    struct fb plain, coll;
    asw_parser_init(&strict, 8u << 20, true);
    asw_parser_init(&lenient, 8u << 20, false);
    record10(&plain, false);
    record10(&coll, true);

    uLongf zl = compressBound(plain.len);
    uint8_t *comp = malloc(16 + zl);
    compress2(comp + 16, &zl, plain.b, plain.len, 6);
    size_t clen = 16 + zl, s = 8 + zl;
    comp[0] = 2;
    comp[1] = 4;
    for (int i = 7; i >= 2; i--, s >>= 8)
        comp[i] = (uint8_t)s;
    memset(comp + 8, 0, 8);

    only_case = only;
    printf("xdr-parse: XDR frame -> spw_event (best of %d rounds of %ld records)\n", rounds, iters);
    struct job j = {0, &strict, plain.b, plain.len, 10, iters};
    if (wanted("alloc"))
        row("alloc+copy (the floor)", plain.len, best(run_job, &j, rounds));
    j.kind = 1;
    if (wanted("parse"))
        row("parse, 10 bins", plain.len, best(run_job, &j, rounds));
    j.kind = 2;
    if (wanted("stream"))
        row("scan+parse, 10 bins, back to back", plain.len, best(run_job, &j, rounds));
    j = (struct job){1, &strict, coll.b, coll.len, 10, iters};
    if (wanted("walked"))
        row("parse, 10 bins with map+list, walked", coll.len, best(run_job, &j, rounds));
    j.p = &lenient;
    if (wanted("unwalked"))
        row("parse, 10 bins with map+list, not walked", coll.len, best(run_job, &j, rounds));
    j = (struct job){1, &strict, comp, clen, 10, iters / 4 > 0 ? iters / 4 : 1};
    if (wanted("compressed"))
        row("compressed (inflate + parse), 10 bins", clen, best(run_job, &j, rounds));

    free(comp);
    asw_parser_free(&strict);
    asw_parser_free(&lenient);
    return sink == 42 ? 1 : 0;
}

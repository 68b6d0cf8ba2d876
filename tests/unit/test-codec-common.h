/*
 * tests/unit/test-codec-common.h: what the codec tests share (header-only,
 * every function static): a seeded random generator, hex helpers, a
 * MessagePack writer for Aerospike's dialect (type-prefixed strings, order
 * markers), the reference events of xdr-wire.md, the benchmark record, a
 * generator of random events (clean ones, and hostile ones with malformed
 * values), the writer of case lines for the Python oracle
 * (tests/codec-oracle.py), which re-derives every codec's output from the
 * event description, the runner of Python checkers, an allocation
 * counter with the steady-state check built on it, and the check of a
 * descriptor's option table.
 *
 * bench/codecs.c uses it too (events, timing, allocation counting), as do
 * test-event.c (the reference write frame) and test-walk.c (hex, the
 * random generator); what writes TAP lines is there only when tests/tap.h
 * was included first.
 */
#ifndef SPW_TEST_CODEC_COMMON_H
#define SPW_TEST_CODEC_COMMON_H

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <spillway/spillway.h>

#include "options.h"   /* the core's option-table checks, for options_ok */
#include "transform.h" /* the core's route transforms: shadow events with exclusions */

/* Every helper may go unused in one test or another. */
#define TC_STATIC static __attribute__((unused))

/* ---- randomness: xorshift64*, seeded, reproducible ---- */

TC_STATIC uint64_t rng = 0x9E3779B97F4A7C15ull;
TC_STATIC uint64_t rnd(void) {
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return rng * 2685821657736338717ull;
}
/* Never two draws in one expression: C leaves their order unspecified, and
 * the run must be the same with every compiler and flag set. */
TC_STATIC uint32_t rn(uint32_t n) { return n ? (uint32_t)(rnd() % n) : 0; }

/* ---- bytes ---- */

TC_STATIC int hexval(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }
/* Hex digits (spaces and newlines ignored) into out; returns the length. */
TC_STATIC size_t unhex(const char *s, uint8_t *out) {
    size_t n = 0;
    while (*s) {
        if (*s == ' ' || *s == '\n') {
            s++;
            continue;
        }
        out[n++] = (uint8_t)(hexval(s[0]) << 4 | hexval(s[1]));
        s += 2;
    }
    return n;
}
TC_STATIC void put_hex(FILE *f, const void *p, size_t n) {
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", b[i]);
}
TC_STATIC void be64(uint8_t out[8], uint64_t v) {
    for (int i = 7; i >= 0; i--, v >>= 8)
        out[i] = (uint8_t)v;
}
TC_STATIC void dbl_be(uint8_t out[8], double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    be64(out, u);
}

/* ---- a MessagePack writer for Aerospike's dialect ---- */

TC_STATIC void mp_raw(spw_buf *m, const void *p, size_t n) {
    if (spw_buf_append(m, p, n) != SPW_OK)
        abort();
}
TC_STATIC void mp_byte(spw_buf *m, uint8_t c) { mp_raw(m, &c, 1); }
TC_STATIC void mp_be(spw_buf *m, uint64_t v, int n) {
    for (int i = n - 1; i >= 0; i--)
        mp_byte(m, (uint8_t)(v >> (8 * i)));
}
TC_STATIC void mp_hdr(spw_buf *m, uint32_t n, uint8_t fix, uint8_t fixmax, uint8_t c16) {
    if (n <= fixmax)
        mp_byte(m, (uint8_t)(fix | n));
    else if (n < 65536) {
        mp_byte(m, c16);
        mp_be(m, n, 2);
    } else {
        mp_byte(m, (uint8_t)(c16 + 1));
        mp_be(m, n, 4);
    }
}
TC_STATIC void mp_list(spw_buf *m, uint32_t n) { mp_hdr(m, n, 0x90, 15, 0xdc); }
TC_STATIC void mp_map(spw_buf *m, uint32_t n) { mp_hdr(m, n, 0x80, 15, 0xde); }
TC_STATIC void mp_nil(spw_buf *m) { mp_byte(m, 0xc0); }
TC_STATIC void mp_bool(spw_buf *m, bool b) { mp_byte(m, b ? 0xc3 : 0xc2); }
/* Picks one of the encodings that can hold v, so every form gets read. */
TC_STATIC void mp_int(spw_buf *m, int64_t v) {
    unsigned pick = rn(4);
    if (v >= 0 && v <= 127 && pick == 0)
        mp_byte(m, (uint8_t)v);
    else if (v >= -32 && v < 0 && pick == 0)
        mp_byte(m, (uint8_t)(0xe0 | (v + 32)));
    else if (v >= 0 && pick == 1) {
        if (v <= 0xff) {
            mp_byte(m, 0xcc);
            mp_be(m, (uint64_t)v, 1);
        } else if (v <= 0xffff) {
            mp_byte(m, 0xcd);
            mp_be(m, (uint64_t)v, 2);
        } else if (v <= 0xffffffffll) {
            mp_byte(m, 0xce);
            mp_be(m, (uint64_t)v, 4);
        } else {
            mp_byte(m, 0xcf);
            mp_be(m, (uint64_t)v, 8);
        }
    } else if (v >= INT8_MIN && v <= INT8_MAX && pick == 2) {
        mp_byte(m, 0xd0);
        mp_be(m, (uint64_t)v, 1);
    } else if (v >= INT32_MIN && v <= INT32_MAX && pick == 3) {
        mp_byte(m, 0xd2);
        mp_be(m, (uint64_t)v, 4);
    } else {
        mp_byte(m, 0xd3);
        mp_be(m, (uint64_t)v, 8);
    }
}
TC_STATIC void mp_uint(spw_buf *m, uint64_t v) {
    mp_byte(m, 0xcf);
    mp_be(m, v, 8);
}
TC_STATIC void mp_double(spw_buf *m, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    mp_byte(m, 0xcb);
    mp_be(m, u, 8);
}
TC_STATIC void mp_float(spw_buf *m, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    mp_byte(m, 0xca);
    mp_be(m, u, 4);
}
/* A str (or bin, as_bin) whose first byte is the particle type. */
TC_STATIC void mp_typed(spw_buf *m, uint8_t ptype, const void *p, size_t n, bool as_bin) {
    size_t len = n + 1;
    if (as_bin) {
        mp_byte(m, len < 256 ? 0xc4 : 0xc5);
        mp_be(m, len, len < 256 ? 1 : 2);
    } else if (len < 32)
        mp_byte(m, (uint8_t)(0xa0 | len));
    else if (len < 256) {
        mp_byte(m, 0xd9);
        mp_be(m, len, 1);
    } else {
        mp_byte(m, 0xda);
        mp_be(m, len, 2);
    }
    mp_byte(m, ptype);
    mp_raw(m, p, n);
}
TC_STATIC void mp_str(spw_buf *m, const char *s) { mp_typed(m, SPW_PT_STRING, s, strlen(s), false); }
/* The order marker: ext 8 of length 0 whose type is the flags. */
TC_STATIC void mp_marker(spw_buf *m, uint8_t flags) {
    mp_byte(m, 0xc7);
    mp_byte(m, 0);
    mp_byte(m, flags);
}

/* ---- the reference frames of xdr-wire.md ---- */

TC_STATIC const char REF_WRITE_HEX[] =
    "0203 0000 0000 009a 1610 1100 0000 0000 0001 ffff ffff 0000 0000 0005 0003"
    "0000 0005 00 74657374"
    "0000 0015 04 78f26d30728c436ac5b7e2b79f7faa4b1c011576"
    "0000 0006 01 6d79736574"
    "0000 000a 02 01 0000000000000004"
    "0000 0009 0e 0000016dea5ec92d"
    "0000 000e 02 03 00 04 6e616d65 636f6c746f6e"
    "0000 000f 02 01 00 03 616765 000000000000001b"
    "0000 0014 02 13 00 07 6d617054657374 82a2036101a2036202";
TC_STATIC const char REF_DELETE_HEX[] =
    "0203 0000 0000 005d 1610 0300 0000 0000 0002 0000 0000 0000 0000 0005 0000"
    "0000 0005 00 74657374"
    "0000 0015 04 f9bb902ddd1874858475b66c8f36b950badb44f7"
    "0000 0006 01 6d79736574"
    "0000 000a 02 01 000000000000000e"
    "0000 0009 0e 0000016dea751d58";

/* The write of test/myset key 4, as the xdr source would build it (raw
 * frame attached when with_raw). */
TC_STATIC spw_event *ref_write(bool with_raw) {
    uint8_t digest[20], key[8], age[8], map[64], raw[256];
    spw_event *ev = spw_event_new(8, 4096);
    unhex("78f26d30728c436ac5b7e2b79f7faa4b1c011576", digest);
    be64(key, 4);
    be64(age, 27);
    size_t mn = unhex("82a2036101a2036202", map);
    spw_event_set_op(ev, SPW_OP_WRITE, true); /* info2 0x11: the bin-LUT bit, not durable */
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_set(ev, "myset", 5);
    spw_event_set_digest(ev, digest);
    spw_event_set_key(ev, SPW_PT_INTEGER, key, 8);
    spw_event_set_generation(ev, 1);
    spw_event_set_lut(ev, 1734387515693, 1);
    spw_event_set_expiry(ev, 0); /* record_ttl 0xFFFFFFFF: never expires */
    spw_event_add_bin(ev, "name", 4, SPW_PT_STRING, "colton", 6, 0);
    spw_event_add_bin(ev, "age", 3, SPW_PT_INTEGER, age, 8, 0);
    spw_event_add_bin(ev, "mapTest", 7, SPW_PT_MAP, map, mn, 0);
    if (with_raw)
        spw_event_set_raw(ev, raw, unhex(REF_WRITE_HEX, raw));
    return ev;
}

/* The delete of test/myset key 14 (durable or not), with or without its
 * user key and its set (no raw frame). */
TC_STATIC spw_event *ref_delete_parts(bool durable, bool with_key, bool with_set) {
    uint8_t digest[20], key[8];
    spw_event *ev = spw_event_new(0, 512);
    unhex("f9bb902ddd1874858475b66c8f36b950badb44f7", digest);
    be64(key, 14);
    spw_event_set_op(ev, SPW_OP_DELETE, durable);
    spw_event_set_namespace(ev, "test", 4);
    if (with_set)
        spw_event_set_set(ev, "myset", 5);
    spw_event_set_digest(ev, digest);
    if (with_key)
        spw_event_set_key(ev, SPW_PT_INTEGER, key, 8);
    spw_event_set_generation(ev, 2);
    spw_event_set_lut(ev, 1734388979032, 1);
    return ev;
}

/* The delete of test/myset key 14 (durable or not; raw frame attached
 * when with_raw). */
TC_STATIC spw_event *ref_delete(bool durable, bool with_raw) {
    uint8_t raw[256];
    spw_event *ev = ref_delete_parts(durable, true, true);
    if (with_raw) {
        size_t n = unhex(REF_DELETE_HEX, raw);
        if (durable)
            raw[10] |= 0x10; /* info2 DURABLE_DELETE */
        spw_event_set_raw(ev, raw, n);
    }
    return ev;
}

/* ---- timing, and the benchmark record ---- */

/* A monotonic clock in nanoseconds, for timings. */
TC_STATIC double now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* A write of test/users key 123456 with generation, LUT and expiry, room
 * for `bins` bins, and none yet. */
TC_STATIC spw_event *bench_head(uint32_t bins) {
    spw_event *ev = spw_event_new(bins, 8192);
    uint8_t v[8], dg[20];
    memset(dg, 0x5a, 20);
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_set(ev, "users", 5);
    spw_event_set_digest(ev, dg);
    be64(v, 123456);
    spw_event_set_key(ev, SPW_PT_INTEGER, v, 8);
    spw_event_set_generation(ev, 7);
    spw_event_set_lut(ev, 1734387515693, 1);
    spw_event_set_expiry(ev, 1893456000);
    return ev;
}

/* The record the benchmarks time (bench/codecs.c, the json test): 10 bins
 * of common types, about 300 bytes on the wire (strings, integers, a
 * double, a bool, a blob, a 3-element list, a 2-pair map). The same bytes
 * every time: no random encoding choices. */
TC_STATIC spw_event *bench_event(void) {
    spw_event *ev = bench_head(10);
    uint8_t v[8];
    spw_event_add_bin(ev, "name", 4, SPW_PT_STRING, "Colton Smith", 12, 0);
    be64(v, 27);
    spw_event_add_bin(ev, "age", 3, SPW_PT_INTEGER, v, 8, 0);
    spw_event_add_bin(ev, "email", 5, SPW_PT_STRING, "colton.smith@example.com", 24, 0);
    dbl_be(v, 1234.56);
    spw_event_add_bin(ev, "balance", 7, SPW_PT_DOUBLE, v, 8, 0);
    spw_event_add_bin(ev, "active", 6, SPW_PT_BOOL, "\x01", 1, 0);
    be64(v, 1734387000);
    spw_event_add_bin(ev, "since", 5, SPW_PT_INTEGER, v, 8, 0);
    spw_event_add_bin(ev, "city", 4, SPW_PT_STRING, "San Francisco", 13, 0);
    spw_event_add_bin(ev, "token", 5, SPW_PT_BLOB, "0123456789abcdef", 16, 0);
    spw_buf m = SPW_BUF_INIT;
    mp_list(&m, 3);
    mp_str(&m, "admin");
    mp_str(&m, "beta");
    mp_str(&m, "eu");
    spw_event_add_bin(ev, "tags", 4, SPW_PT_LIST, m.data, m.len, 0);
    spw_buf_reset(&m);
    mp_map(&m, 2);
    mp_str(&m, "theme");
    mp_str(&m, "dark");
    mp_str(&m, "size");
    mp_byte(&m, 14); /* a positive fixint */
    spw_event_add_bin(ev, "prefs", 5, SPW_PT_MAP, m.data, m.len, 0);
    spw_buf_free(&m);
    return ev;
}

/* ---- events for the cases ---- */

/* A write to namespace "ns" with a zero digest and nothing else: room
 * for 64 bins, for the cases to add. */
TC_STATIC spw_event *new_write(void) {
    static const uint8_t zero_digest[20];
    spw_event *ev = spw_event_new(64, 1 << 20);
    if (!ev)
        abort();
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "ns", 2);
    spw_event_set_digest(ev, zero_digest);
    return ev;
}

/* A GeoJSON particle: flags, cell count, cells, text. */
TC_STATIC size_t geo_value(uint8_t *v, const char *text, unsigned cells) {
    size_t n = strlen(text);
    v[0] = 0;
    v[1] = (uint8_t)(cells >> 8);
    v[2] = (uint8_t)cells;
    memset(v + 3, 0xab, 8 * cells);
    memcpy(v + 3 + 8 * cells, text, n);
    return 3 + 8 * cells + n;
}

/*
 * A write with one bin of every particle type and every list/map shape the
 * xdr source can hand on: nil (a deleted bin), integer, double, string
 * (with escapes and non-ASCII text), blob, the six language blobs, vector,
 * bool, HLL, GeoJSON, an unknown type, a key-ordered map with integer,
 * double, blob and string keys holding nested containers, an ordered list
 * holding every element kind (strings, plain and language blobs, GeoJSON,
 * HLL, an unknown prefix, float32, big integers, wildcard ext), and an
 * unordered empty list and map. Bin LUTs on two bins.
 */
TC_STATIC spw_event *all_types_event(void) {
    spw_event *ev = spw_event_new(40, 1 << 14);
    uint8_t dg[20], v[256], k[8];
    for (int i = 0; i < 20; i++)
        dg[i] = (uint8_t)(i * 13 + 7);
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_set(ev, "types", 5);
    spw_event_set_digest(ev, dg);
    spw_event_set_key(ev, SPW_PT_STRING, "user-\xc3\xa9", 7);
    spw_event_set_generation(ev, 42);
    spw_event_set_lut(ev, 1734387515693, 3);
    spw_event_set_expiry(ev, 1893456000);
    spw_event_add_bin(ev, "nil", 3, SPW_PT_NIL, NULL, 0, 0);
    be64(k, (uint64_t)-1234567890123ll);
    spw_event_add_bin(ev, "int", 3, SPW_PT_INTEGER, k, 8, 1734387000001);
    dbl_be(k, -0.25);
    spw_event_add_bin(ev, "double", 6, SPW_PT_DOUBLE, k, 8, 0);
    const char *s = "tab\there \"q\" \xe2\x82\xac \xf0\x9f\x98\x80";
    spw_event_add_bin(ev, "str", 3, SPW_PT_STRING, s, strlen(s), 0);
    spw_event_add_bin(ev, "blob", 4, SPW_PT_BLOB, "\x00\x01\xfe\xff", 4, 0);
    static const char *lang[] = {"java", "csharp", "python", "ruby", "php", "erlang"};
    for (uint8_t t = SPW_PT_JBLOB; t <= SPW_PT_ERLBLOB; t++)
        spw_event_add_bin(ev, lang[t - SPW_PT_JBLOB], strlen(lang[t - SPW_PT_JBLOB]), t, "\xac\xed", 2, 0);
    spw_event_add_bin(ev, "vector", 6, SPW_PT_VECTOR, "\x3f\x80\x00\x00", 4, 0);
    spw_event_add_bin(ev, "bool", 4, SPW_PT_BOOL, "\x01", 1, 0);
    spw_event_add_bin(ev, "hll", 3, SPW_PT_HLL, "\x00\x0e\x05\x00", 4, 0);
    size_t gn = geo_value(v, "{\"type\":\"Point\",\"coordinates\":[-122.5,37.25]}", 1);
    spw_event_add_bin(ev, "geo", 3, SPW_PT_GEOJSON, v, gn, 1734387000002);
    spw_event_add_bin(ev, "future", 6, 99, "\x09\x08", 2, 0);

    spw_buf m = SPW_BUF_INIT;
    mp_map(&m, 5);
    mp_marker(&m, SPW_ORDER_KEY);
    mp_nil(&m);
    mp_byte(&m, 0x07);          /* key 7 */
    mp_str(&m, "seven");
    mp_double(&m, 2.5);         /* key 2.5 */
    mp_list(&m, 2);
    mp_byte(&m, 0x01);
    mp_byte(&m, 0x02);
    mp_typed(&m, SPW_PT_BLOB, "\xbe\xef", 2, true); /* blob key */
    mp_bool(&m, false);
    mp_str(&m, "nested");
    mp_map(&m, 1);
    mp_str(&m, "x");
    mp_list(&m, 0);
    spw_event_add_bin(ev, "map", 3, SPW_PT_MAP, m.data, m.len, 0);

    spw_buf_reset(&m);
    mp_list(&m, 14); /* the marker and 13 elements */
    mp_marker(&m, SPW_ORDER_KEY);
    mp_str(&m, "a");
    mp_typed(&m, SPW_PT_BLOB, "\x01\x02", 2, false);
    mp_typed(&m, SPW_PT_JBLOB, "\x03", 1, true);
    const char *pt = "{\"type\":\"Point\",\"coordinates\":[1,2]}";
    mp_typed(&m, SPW_PT_GEOJSON, pt, strlen(pt), false);
    mp_typed(&m, SPW_PT_HLL, "\x05\x06", 2, true);
    mp_typed(&m, 0xC8, "\x07", 1, true); /* a prefix that is no particle type */
    mp_float(&m, 0.5f);
    mp_byte(&m, 0xcf);                   /* 2^64 - 1 */
    mp_be(&m, UINT64_MAX, 8);
    mp_byte(&m, 0xd3);                   /* INT64_MIN */
    mp_be(&m, (uint64_t)INT64_MIN, 8);
    mp_raw(&m, "\xd4\xff\x00", 3);       /* wildcard */
    mp_nil(&m);
    mp_bool(&m, true);
    mp_list(&m, 2);
    mp_marker(&m, SPW_ORDER_KEY);        /* an inner order marker */
    mp_byte(&m, 0x09);
    spw_event_add_bin(ev, "list", 4, SPW_PT_LIST, m.data, m.len, 0);

    spw_buf_reset(&m);
    mp_list(&m, 0);
    spw_event_add_bin(ev, "emptylist", 9, SPW_PT_LIST, m.data, m.len, 0);
    spw_buf_reset(&m);
    mp_map(&m, 1);
    mp_marker(&m, SPW_ORDER_KEY_VALUE);
    mp_nil(&m);
    spw_event_add_bin(ev, "emptymap", 8, SPW_PT_MAP, m.data, m.len, 0);
    spw_buf_free(&m);
    return ev;
}

/* A write without set and without user key, one bin. */
TC_STATIC spw_event *no_set_no_key_event(void) {
    spw_event *ev = spw_event_new(2, 256);
    uint8_t dg[20], v[8];
    memset(dg, 0x11, 20);
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "bar", 3);
    spw_event_set_digest(ev, dg);
    spw_event_set_generation(ev, 3);
    spw_event_set_lut(ev, 1734387515000, 0);
    spw_event_set_expiry(ev, 1893456000);
    be64(v, 1);
    spw_event_add_bin(ev, "n", 1, SPW_PT_INTEGER, v, 8, 0);
    return ev;
}

/* A write with no bins at all (bin-policy no-bins, or a touch). */
TC_STATIC spw_event *empty_bins_event(void) {
    spw_event *ev = spw_event_new(0, 256);
    uint8_t dg[20], k[8];
    memset(dg, 0x22, 20);
    be64(k, 99);
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_set(ev, "demo", 4);
    spw_event_set_digest(ev, dg);
    spw_event_set_key(ev, SPW_PT_BLOB, "\x00\x63", 2);
    spw_event_set_generation(ev, 9);
    spw_event_set_lut(ev, 1734387515000, 0);
    spw_event_set_expiry(ev, 0);
    return ev;
}

/* A route's view of ev with `meta` (comma-separated metadata names)
 * excluded and `renames` ("a:b,c:d") applied, as the core builds it. The
 * transform and scratch are the caller's (freed with xform_done). */
typedef struct xform_view {
    spw__xform x;
    spw__xform_scratch scratch;
    struct spw_event shadow;
    char *meta_v[16], *ren_v[16], *exc_v[16];
    char meta_buf[256], ren_buf[256], exc_buf[256];
} xform_view;

TC_STATIC size_t split_list(char *buf, const char *s, char **v) {
    size_t n = 0;
    if (!s || !*s)
        return 0;
    snprintf(buf, 256, "%s", s);
    for (char *t = strtok(buf, ","); t && n < 16; t = strtok(NULL, ","))
        v[n++] = t;
    return n;
}

TC_STATIC const spw_event *xform(xform_view *xv, const spw_event *ev, const char *meta,
                              const char *renames, const char *exclude) {
    spw_strlist none = {0, NULL};
    spw_strlist lm = {split_list(xv->meta_buf, meta, xv->meta_v), xv->meta_v};
    spw_strlist lr = {split_list(xv->ren_buf, renames, xv->ren_v), xv->ren_v};
    spw_strlist le = {split_list(xv->exc_buf, exclude, xv->exc_v), xv->exc_v};
    spw_err err;
    xv->scratch = (spw__xform_scratch){NULL, 0};
    if (spw__xform_compile(&none, &le, &lr, &lm, &xv->x, &err) != SPW_OK) {
        fprintf(stderr, "transform: %s\n", err.msg);
        abort();
    }
    const spw_event *view = spw__xform_apply(&xv->x, ev, &xv->shadow, &xv->scratch);
    if (!view)
        abort();
    return view;
}

TC_STATIC void xform_done(xform_view *xv) {
    spw__xform_free(&xv->x);
    free(xv->scratch.bins);
}

/* ---- case lines for tests/codec-oracle.py ---- */

TC_STATIC FILE *oracle_f;
TC_STATIC char oracle_path[64];
TC_STATIC unsigned oracle_cases;

TC_STATIC void oracle_open(const char *tag) {
    snprintf(oracle_path, sizeof oracle_path, "/tmp/spw-%s-XXXXXX", tag);
    int fd = mkstemp(oracle_path);
    oracle_f = fd >= 0 ? fdopen(fd, "w") : NULL;
}

TC_STATIC void hex_or_null(FILE *f, const void *p, size_t n) {
    if (!p) {
        fputs("null", f);
        return;
    }
    fputc('"', f);
    put_hex(f, p, n);
    fputc('"', f);
}

/* The event as the codec sees it, as oracle JSON. */
TC_STATIC void oracle_event(FILE *f, const spw_event *ev) {
    static const spw_meta bits[] = {SPW_META_NAMESPACE, SPW_META_SET, SPW_META_KEY,
                                    SPW_META_DIGEST,    SPW_META_MSG, SPW_META_GEN,
                                    SPW_META_LUT,       SPW_META_EXP, SPW_META_DURABLE};
    unsigned want = 0;
    for (size_t i = 0; i < sizeof bits / sizeof bits[0]; i++)
        if (spw_event_meta_wanted(ev, bits[i]))
            want |= bits[i];
    spw_str ns = spw_event_namespace(ev), set = spw_event_set(ev);
    spw_value key;
    fprintf(f, "{\"op\":%d,\"durable\":%s,\"ns\":", (int)spw_event_op(ev),
            spw_event_durable(ev) ? "true" : "false");
    hex_or_null(f, ns.ptr ? ns.ptr : "", ns.len);
    fputs(",\"set\":", f);
    hex_or_null(f, set.ptr, set.len);
    fputs(",\"digest\":", f);
    hex_or_null(f, spw_event_digest(ev), 20);
    fputs(",\"key\":", f);
    if (spw_event_key(ev, &key)) {
        fprintf(f, "[%u,", key.type);
        hex_or_null(f, key.data ? (const void *)key.data : "", key.len);
        fputc(']', f);
    } else
        fputs("null", f);
    fprintf(f, ",\"gen\":%" PRIu32 ",\"lut\":%" PRId64 ",\"src\":%" PRIu32 ",\"exp\":%" PRId64
               ",\"want\":%u,\"raw\":",
            spw_event_generation(ev), spw_event_lut_ms(ev), spw_event_src_id(ev),
            spw_event_expiry(ev), want);
    size_t rl;
    const uint8_t *raw = spw_event_raw(ev, &rl);
    hex_or_null(f, raw, rl);
    fputs(",\"bins\":[", f);
    for (size_t i = 0; i < spw_event_bin_count(ev); i++) {
        const spw_bin *b = spw_event_bin(ev, i);
        fputs(i ? ",[" : "[", f);
        hex_or_null(f, b->name.ptr ? b->name.ptr : "", b->name.len);
        fprintf(f, ",%u,", b->value.type);
        hex_or_null(f, b->value.data ? (const void *)b->value.data : "", b->value.len);
        fprintf(f, ",%" PRId64 "]", b->lut_ms);
    }
    fputs("]}", f);
}

/* JSON string of NUL-terminated UTF-8 text (escapes what JSON requires). */
TC_STATIC void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

/*
 * One case: `cfg` is the codec's configuration as a JSON object in the
 * oracle's names; out[0..n) the record, or reason when it was rejected.
 */
TC_STATIC void oracle_case(const char *codec, const char *cfg, const spw_event *ev, bool clean,
                        int64_t now, spw_result r, const void *out, size_t n, const char *reason) {
    if (!oracle_f)
        return;
    oracle_cases++;
    fprintf(oracle_f, "{\"codec\":\"%s\",\"cfg\":%s,\"now\":%" PRId64 ",\"clean\":%s,\"ev\":",
            codec, cfg, now, clean ? "true" : "false");
    oracle_event(oracle_f, ev);
    if (r == SPW_OK) {
        fputs(",\"out\":\"", oracle_f);
        put_hex(oracle_f, out, n);
        fputs("\"}\n", oracle_f);
    } else {
        fputs(",\"reject\":", oracle_f);
        json_str(oracle_f, reason);
        fputs("}\n", oracle_f);
    }
}

/* The environment variable `name`, or `dflt` when it is unset or empty
 * (a test's checker script can be named by one). */
TC_STATIC const char *env_or(const char *name, const char *dflt) {
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* Runs a Python script on a case file; returns its exit status (-1: skipped). */
TC_STATIC int run_python(const char *script, const char *arg) {
    const char *py = getenv("PYTHON3");
    if (!py || !*py)
        py = "/usr/bin/python3";
    if (access(py, X_OK) != 0 || access(script, R_OK) != 0) {
        printf("# %s or %s not found\n", py, script);
        return -1;
    }
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' '%s' '%s'", py, script, arg);
    fflush(stdout);
    return system(cmd);
}

/* Closes the case file and has the oracle check it (TAP line included). */
TC_STATIC int oracle_run(const char *script) {
    if (!oracle_f)
        return -1;
    fclose(oracle_f);
    oracle_f = NULL;
    int rc = run_python(script, oracle_path);
    if (getenv("SPW_KEEP_ORACLE"))
        printf("# oracle cases kept in %s\n", oracle_path);
    else
        unlink(oracle_path);
    return rc;
}

/* ---- random events ---- */

/* Random bytes for strings: ASCII, escapes, valid multi-byte, and (when
 * broken) ill-formed sequences of every kind. */
TC_STATIC size_t rand_text(uint8_t *out, size_t max, bool broken) {
    static const char *valid[] = {"a", "Z", " ", "\"", "\\", "/", "\n", "\t", "\x01", "\x1f",
                                  "\x7f", "\0", "\xc3\xa9", "\xe2\x82\xac", "\xe2\x80\xa8",
                                  "\xf0\x9f\x98\x80", "\xef\xbf\xbf", "\xf4\x8f\xbf\xbf",
                                  "hello world", "0123456789"};
    static const size_t vlen[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 3, 3, 4, 3, 4, 11, 10};
    static const char *invalid[] = {"\x80", "\xff", "\xc0\xaf", "\xe2\x82", "\xed\xa0\x80",
                                    "\xf4\x90\x80\x80", "\xf0\x9f\x98", "\xc3", "\xfe", "\xe0\x80\x80"};
    size_t n = 0, want = rn((uint32_t)max + 1);
    while (n < want) {
        const char *p;
        size_t l;
        if (broken && rn(6) == 0) {
            p = invalid[rn(10)];
            l = strlen(p);
        } else if (broken && rn(8) == 0) {
            uint8_t c = (uint8_t)rnd();
            p = (const char *)&c;
            l = 1;
            if (n + l > max)
                break;
            out[n++] = c;
            continue;
        } else {
            unsigned k = rn(20);
            p = valid[k];
            l = vlen[k];
        }
        if (n + l > max)
            break;
        memcpy(out + n, p, l);
        n += l;
    }
    return n;
}

TC_STATIC void rnd_cdt(spw_buf *m, int depth, bool clean);

/* One scalar element of a list or map. */
TC_STATIC void rnd_cdt_scalar(spw_buf *m, bool clean) {
    uint8_t t[64];
    size_t n;
    switch (rn(clean ? 12 : 13)) {
    case 0: mp_nil(m); break;
    case 1: mp_bool(m, rn(2)); break;
    case 2: {
        int64_t v = (int64_t)rnd();
        v >>= rn(64);
        mp_int(m, v);
        break;
    }
    case 3: mp_uint(m, rnd() | (1ull << 63)); break;
    case 4: {
        double d = (double)(int64_t)(rnd() % 2000001) / 64 - 10000;
        if (rn(20) == 0)
            d = rn(2) ? NAN : -INFINITY;
        mp_double(m, d);
        break;
    }
    case 5: mp_float(m, (float)(rnd() % 100000) / 1024.0f); break;
    case 6:
    case 7:
        n = rand_text(t, 40, !clean);
        mp_typed(m, SPW_PT_STRING, t, n, rn(4) == 0);
        break;
    case 8: {
        static const uint8_t types[] = {4, 4, 7, 8, 9, 10, 11, 12, 16, 18, 1, 200};
        n = rn(20);
        for (size_t i = 0; i < n; i++)
            t[i] = (uint8_t)rnd();
        mp_typed(m, types[rn(12)], t, n, rn(2));
        break;
    }
    case 9: {
        static const char *geo[] = {"{\"type\":\"Point\",\"coordinates\":[1.5,-2]}",
                                    "{ \"type\": \"Point\",\n \"coordinates\": [ 0, 0 ] }",
                                    "not json", "{\"a\":1e999}"};
        const char *g = geo[rn(4)];
        mp_typed(m, SPW_PT_GEOJSON, g, strlen(g), false);
        break;
    }
    case 10: mp_raw(m, rn(2) ? "\xd4\xff\x00" : "\xc7\x00\x01", 3); break; /* wildcard / ext */
    case 11: mp_raw(m, rn(2) ? "\xa0" : "\xc4\x00", rn(2) ? 1 : 2); break; /* no prefix */
    default: mp_raw(m, "\xc1", 1); break;                                /* never used */
    }
}

/* A map key: strings mostly, and every other kind a map can hold. */
TC_STATIC void rnd_cdt_key(spw_buf *m, bool clean) {
    uint8_t t[32];
    size_t n;
    switch (rn(clean ? 8 : 10)) {
    case 0: case 1: case 2: case 3:
        n = rand_text(t, 12, !clean);
        mp_typed(m, SPW_PT_STRING, t, n, false);
        break;
    case 4: mp_int(m, (int64_t)(rnd() % 2000) - 1000); break;
    case 5: mp_double(m, (double)(int64_t)(rnd() % 100000) / 8); break;
    case 6:
        n = rn(8);
        for (size_t i = 0; i < n; i++)
            t[i] = (uint8_t)rnd();
        mp_typed(m, SPW_PT_BLOB, t, n, rn(2));
        break;
    case 7: mp_bool(m, rn(2)); break;
    case 8: mp_list(m, 1); mp_int(m, 1); break; /* a list as a key */
    default: mp_nil(m); break;
    }
}

TC_STATIC void rnd_cdt(spw_buf *m, int depth, bool clean) {
    unsigned k = rn(depth < 3 ? 14 : 10);
    if (k < 10) {
        rnd_cdt_scalar(m, clean);
        return;
    }
    uint32_t n = rn(6);
    bool marker = rn(3) == 0;
    if (k < 12) {
        mp_list(m, n + marker);
        if (marker)
            mp_marker(m, 1);
        for (uint32_t i = 0; i < n; i++)
            rnd_cdt(m, depth + 1, clean);
        return;
    }
    mp_map(m, n + marker);
    if (marker) {
        mp_marker(m, rn(2) ? 1 : 3);
        mp_nil(m);
    }
    for (uint32_t i = 0; i < n; i++) {
        rnd_cdt_key(m, clean);
        rnd_cdt(m, depth + 1, clean);
    }
}

/* Hostile bytes: flipped, cut, grown or replaced. */
TC_STATIC void rnd_mutate(spw_buf *m) {
    unsigned muts = 1 + rn(3);
    for (unsigned k = 0; k < muts; k++) {
        switch (rn(5)) {
        case 0:
            if (m->len)
                m->data[rn((uint32_t)m->len)] = (uint8_t)rnd();
            break;
        case 1: m->len = rn((uint32_t)m->len + 1); break;
        case 2: mp_byte(m, (uint8_t)rnd()); break;
        case 3:
            if (m->len)
                m->data[rn((uint32_t)m->len)] ^= (uint8_t)(1u << rn(8));
            break;
        default:
            m->len = 0;
            for (uint32_t i = rn(40); i > 0; i--)
                mp_byte(m, (uint8_t)rnd());
        }
    }
}

/* Bin names the random events pick from (collisions with "meta", a flat
 * metadata key, and with each other are wanted). */
TC_STATIC const char *bin_names[] = {"a", "b", "meta", "meta_", "seq", "name", "x_", "x"};

/* One random bin into ev. */
TC_STATIC void rnd_bin(spw_event *ev, spw_buf *m, bool clean) {
    uint8_t name[300], v[400];
    size_t nl;
    if (rn(3) == 0)
        nl = rand_text(name, 14, !clean);
    else {
        const char *s = bin_names[rn(8)];
        nl = strlen(s);
        memcpy(name, s, nl);
    }
    if (!clean && rn(30) == 0) { /* longer than a frame's 255 */
        nl = 256 + rn(40);
        memset(name, 'n', nl);
    }
    int64_t lut = rn(3) == 0 ? 1700000000000 + (int64_t)rn(1000000) : 0;
    if (!clean && rn(40) == 0)
        lut = 1000; /* before 2010: no 40-bit LUT holds it */
    uint8_t type;
    size_t n = 0;
    unsigned k = rn(clean ? 11 : 14);
    switch (k) {
    case 0: type = SPW_PT_INTEGER; be64(v, rnd() >> rn(64)); n = 8; break;
    case 1: {
        double d = (double)(int64_t)rnd() / 1e6;
        if (rn(15) == 0)
            d = rn(2) ? NAN : INFINITY;
        type = SPW_PT_DOUBLE;
        dbl_be(v, d);
        n = 8;
        break;
    }
    case 2: type = SPW_PT_STRING; n = rand_text(v, 100, !clean); break;
    case 3: {
        static const uint8_t types[] = {4, 7, 8, 9, 10, 11, 12, 16, 18};
        type = types[rn(9)];
        n = rn(40);
        for (size_t i = 0; i < n; i++)
            v[i] = (uint8_t)rnd();
        break;
    }
    case 4: type = SPW_PT_BOOL; v[0] = (uint8_t)rn(2); n = 1; break;
    case 5: type = SPW_PT_NIL; break;
    case 6: case 7: case 8: {
        bool map = rn(2);
        uint32_t cnt = rn(7);
        bool marker = rn(3) == 0;
        spw_buf_reset(m);
        type = map ? SPW_PT_MAP : SPW_PT_LIST;
        if (map) {
            mp_map(m, cnt + marker);
            if (marker) {
                mp_marker(m, rn(2) ? 1 : 3);
                mp_nil(m);
            }
        } else {
            mp_list(m, cnt + marker);
            if (marker)
                mp_marker(m, 1);
        }
        for (uint32_t i = 0; i < cnt; i++) {
            if (map)
                rnd_cdt_key(m, clean);
            rnd_cdt(m, 1, clean);
        }
        if (!clean && rn(2))
            rnd_mutate(m);
        spw_event_add_bin(ev, name, nl, type, m->data, m->len, lut);
        return;
    }
    case 9: {
        static const char *geo[] = {"{\"type\":\"Point\",\"coordinates\":[1,2]}", "{\"a\":[",
                                    "not json", " { \"b\" : [ 1 , 2 ] } "};
        type = SPW_PT_GEOJSON;
        n = geo_value(v, geo[rn(4)], rn(3));
        break;
    }
    case 10: /* unknown types (not GeoJSON's 23) */
        type = (uint8_t)(24 + rn(200));
        n = rn(20);
        break;
    case 11: type = (uint8_t)(rn(2) ? SPW_PT_INTEGER : SPW_PT_DOUBLE); n = rn(12); break;
    case 12: type = SPW_PT_BOOL; v[0] = (uint8_t)(2 + rn(250)); n = 1 + rn(2); break;
    default: type = SPW_PT_GEOJSON; n = rn(30); break;
    }
    if (k >= 10 && k != 12)
        for (size_t i = 0; i < n; i++)
            v[i] = (uint8_t)rnd();
    spw_event_add_bin(ev, name, nl, type, n ? v : (type == SPW_PT_NIL ? NULL : v), n, lut);
}

/* A random event; hostile ones may hold anything a source could pass on. */
TC_STATIC spw_event *rnd_event(spw_buf *m, bool clean) {
    spw_event *ev = spw_event_new(16, 1 << 16);
    unsigned op = rn(clean ? 10 : 11);
    if (op < 7)
        spw_event_set_op(ev, SPW_OP_WRITE, false);
    else if (op < 10)
        spw_event_set_op(ev, SPW_OP_DELETE, rn(2));
    uint8_t t[64], dg[20];
    size_t tn = rand_text(t, 31, !clean);
    spw_event_set_namespace(ev, t, tn);
    switch (rn(3)) {
    case 0: tn = rand_text(t, 63, !clean); spw_event_set_set(ev, t, tn); break;
    case 1: spw_event_set_set(ev, "demo", 4); break;
    default: break;
    }
    for (int i = 0; i < 20; i++)
        dg[i] = (uint8_t)rnd();
    spw_event_set_digest(ev, dg);
    switch (rn(5)) {
    case 0: be64(t, rnd() >> rn(64)); spw_event_set_key(ev, SPW_PT_INTEGER, t, 8); break;
    case 1: dbl_be(t, (double)(int64_t)rnd() / 3); spw_event_set_key(ev, SPW_PT_DOUBLE, t, 8); break;
    case 2: tn = rand_text(t, 40, !clean); spw_event_set_key(ev, SPW_PT_STRING, t, tn); break;
    case 3:
        tn = rn(30);
        for (size_t i = 0; i < tn; i++)
            t[i] = (uint8_t)rnd();
        spw_event_set_key(ev, SPW_PT_BLOB, t, tn);
        break;
    default: break;
    }
    spw_event_set_generation(ev, (uint32_t)rnd());
    int64_t lut = rn(8) ? 1600000000000 + (int64_t)(rnd() % 200000000000) : 0;
    uint32_t src = rn(2) ? 0 : (uint32_t)rn(1u << 24);
    if (!clean && rn(20) == 0)
        src = 1u << 24; /* does not fit the LUT field's 24 bits */
    spw_event_set_lut(ev, lut, src);
    spw_event_set_expiry(ev, rn(2) ? 0 : 1700000000 + (int64_t)rn(400000000));
    unsigned nb = rn(clean ? 12 : 6);
    for (unsigned k = 0; k < nb; k++)
        rnd_bin(ev, m, clean);
    return ev;
}

/* ---- allocation counting (opt in: define TC_COUNT_ALLOCATIONS first) ----
 * Interposes the allocator entry points to count the calls made while
 * tc_counting is set; glibc's own implementations do the work. Not under
 * ASan, which owns malloc. */
#if defined(TC_COUNT_ALLOCATIONS)
#if defined(__SANITIZE_ADDRESS__)
#define TC_ALLOCS_COUNTED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TC_ALLOCS_COUNTED 0
#endif
#endif
#ifndef TC_ALLOCS_COUNTED
#define TC_ALLOCS_COUNTED 1
#endif
#if TC_ALLOCS_COUNTED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
static volatile int tc_counting;
static volatile unsigned long tc_allocs;
SPW_API void *malloc(size_t n);
SPW_API void *calloc(size_t a, size_t b);
SPW_API void *realloc(void *p, size_t n);
void *malloc(size_t n) {
    if (tc_counting)
        tc_allocs++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    if (tc_counting)
        tc_allocs++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    if (tc_counting)
        tc_allocs++;
    return __libc_realloc(p, n);
}
#endif

/* Starts counting allocator calls, from zero. */
TC_STATIC void tc_count_start(void) {
#if TC_ALLOCS_COUNTED
    tc_allocs = 0;
    tc_counting = 1;
#endif
}

/* Stops counting: the calls since tc_count_start, or -1 where they are
 * not counted (ASan). */
TC_STATIC long tc_count_stop(void) {
#if TC_ALLOCS_COUNTED
    tc_counting = 0;
    return (long)tc_allocs;
#else
    return -1;
#endif
}
#endif

/* ---- TAP lines (only when tests/tap.h was included before this header) ---- */
#ifdef SPW_TESTS_TAP_H

/* The TAP line of a Python check that exited with rc (run_python's or
 * oracle_run's): `fmt` says what it checked, and wants 0; a skip when
 * python3 or the script was not there (-1). */
TC_STATIC void python_ok(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
TC_STATIC void python_ok(int rc, const char *fmt, ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (rc < 0)
        ok(1, "# SKIP python3 or the checker script not found");
    else
        is_int(rc, 0, "%s", what);
}

/*
 * A codec descriptor's option table, as every codec test holds it: `nopt`
 * options (`count` says so in words), each with a default, help of more
 * than 20 characters and a field inside the configuration, choices for
 * enums only, no name twice; and the core's own checks of the table pass.
 * Three TAP lines.
 */
TC_STATIC void options_ok(const spw_plugin *p, size_t nopt, const char *count) {
    size_t n = 0;
    bool sane = true;
    for (const spw_option *o = p->options; o->name; o++, n++) {
        sane &= o->help && strlen(o->help) > 20 && o->def && o->offset < p->config_size;
        sane &= (o->type == SPW_OPT_ENUM) == (o->choices != NULL);
        for (const spw_option *q = p->options; q != o; q++)
            sane &= strcmp(q->name, o->name) != 0;
    }
    is_int(n, nopt, "%s", count);
    ok(sane, "every option has a default, help, a field; enums have choices; names unique");
    spw_err err = {{0}};
    bool valid = spw__opts_check_table(p->options, p->config_size, &err) == SPW_OK;
    ok(valid, "the core accepts the option table%s%s", valid ? "" : ": ", err.msg);
}

#if defined(TC_COUNT_ALLOCATIONS)
/* An encoder as tc_steady_state calls it: a test wraps its codec's own
 * encode function in one of these. */
typedef spw_result (*tc_encode_fn)(void *codec, const spw_event *ev, spw_buf *out, spw_err *err);

/*
 * No allocation per record once warm: encodes each of evs[0..n) once into
 * out (which grows to its size), then `iters` records, taking the events
 * in turn, with the allocator calls counted. One TAP line, `what`, wants
 * none (a skip under ASan, where they are not counted). out is the
 * caller's, left holding the last record.
 */
TC_STATIC void tc_steady_state(tc_encode_fn enc, void *codec, spw_event *const *evs, size_t n,
                               unsigned iters, spw_buf *out, const char *what) {
    spw_err err;
    for (size_t i = 0; i < n; i++) /* warm up */
        (void)enc(codec, evs[i], out, &err);
    tc_count_start();
    for (unsigned i = 0; i < iters; i++) {
        spw_buf_reset(out);
        (void)enc(codec, evs[i % n], out, &err);
    }
    long calls = tc_count_stop();
    if (calls < 0)
        ok(1, "# SKIP allocation counting under ASan (%s)", what);
    else
        is_int(calls, 0, "%s", what);
}
#endif

#endif /* SPW_TESTS_TAP_H */

#endif /* SPW_TEST_CODEC_COMMON_H */

/*
 * tests/unit/test-walk.c: the list/map walker (core/walk.c). Each walk is
 * rendered as one line of tokens, DEPTH KIND [details], ending in END
 * (SPW_ERR_NOTFOUND) or ERR (SPW_ERR_INVAL), so a case reads as one
 * comparison:
 *
 *   0L2/o1   list, depth 0, 2 elements, order flags 1
 *   0M1      map with 1 pair
 *   1i-5     int        1u...  uint above INT64_MAX     1d1.5  double
 *   1n 1t 1f nil, true, false
 *   1s3'ab'  str with particle type 3 and its text
 *   1b4'0a0b' bytes with particle type 4, hex payload
 *   1x-1''   ext with type -1, hex payload
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <spillway/event.h>

#include "../tap.h"
#include "test-codec-common.h" /* unhex, and rnd: the seeded xorshift64* generator */

static char out[8192];

static void put(size_t *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(size_t *o, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(out + *o, sizeof out - *o, fmt, ap);
    va_end(ap);
    if (n > 0)
        *o = *o + (size_t)n < sizeof out ? *o + (size_t)n : sizeof out - 1;
}

static void out_hex(size_t *o, const uint8_t *p, size_t n) {
    for (size_t i = 0; i < n; i++)
        put(o, "%02x", p[i]);
}

/* Walks bytes given as hex, with the value's particle type; returns the rendering. */
static const char *walk_bytes(uint8_t type, const uint8_t *b, size_t n) {
    spw_value v = {type, b, n};
    spw_walker w;
    spw_item it;
    size_t o = 0;
    spw_result r;

    out[0] = '\0';
    if (spw_walk_init(&w, &v) != SPW_OK) {
        put(&o, "INIT");
        return out;
    }
    while ((r = spw_walk_next(&w, &it)) == SPW_OK) {
        put(&o, "%u", it.depth);
        switch (it.kind) {
        case SPW_ITEM_NIL: put(&o, "n"); break;
        case SPW_ITEM_BOOL: put(&o, it.u.b ? "t" : "f"); break;
        case SPW_ITEM_INT: put(&o, "i%" PRId64, it.u.i); break;
        case SPW_ITEM_UINT: put(&o, "u%" PRIu64, it.u.u); break;
        case SPW_ITEM_DOUBLE: put(&o, "d%g", it.u.d); break;
        case SPW_ITEM_STR:
            put(&o, "s%u'%.*s'", it.u.bytes.ptype, (int)it.u.bytes.len, (const char *)it.u.bytes.ptr);
            break;
        case SPW_ITEM_BYTES:
            put(&o, "b%u'", it.u.bytes.ptype);
            out_hex(&o, it.u.bytes.ptr, it.u.bytes.len);
            put(&o, "'");
            break;
        case SPW_ITEM_LIST:
        case SPW_ITEM_MAP:
            put(&o, "%c%" PRIu32, it.kind == SPW_ITEM_LIST ? 'L' : 'M', it.u.coll.count);
            if (it.u.coll.order)
                put(&o, "/o%x", it.u.coll.order);
            break;
        case SPW_ITEM_EXT:
            put(&o, "x%d'", it.u.ext.type);
            out_hex(&o, it.u.ext.ptr, it.u.ext.len);
            put(&o, "'");
            break;
        default:
            put(&o, "?");
        }
        put(&o, " ");
    }
    put(&o, r == SPW_ERR_NOTFOUND ? "END" : r == SPW_ERR_INVAL ? "ERR" : "BAD");
    /* Errors and the end are final. */
    if (spw_walk_next(&w, &it) != r || spw_walk_next(&w, &it) != r)
        put(&o, " NOT-STICKY");
    return out;
}

static const char *walk_typed(uint8_t type, const char *hex) {
    static uint8_t b[4096];
    size_t n = unhex(hex, b);
    return walk_bytes(type, b, n);
}

static const char *walk(const char *hex) {
    return walk_typed(SPW_PT_LIST, hex);
}

#define W(hex, want) is_str(walk(hex), want, "walk %s", hex)

static void test_scalars(void) {
    W("00", "0i0 END");
    W("7f", "0i127 END");
    W("ff", "0i-1 END");
    W("e0", "0i-32 END");
    W("cc ff", "0i255 END");
    W("cd 0100", "0i256 END");
    W("ce ffffffff", "0i4294967295 END");
    W("cf 7fffffffffffffff", "0i9223372036854775807 END");
    W("cf 8000000000000000", "0u9223372036854775808 END");
    W("cf ffffffffffffffff", "0u18446744073709551615 END");
    W("d0 80", "0i-128 END");
    W("d0 7f", "0i127 END");
    W("d1 8000", "0i-32768 END");
    W("d1 fffe", "0i-2 END");
    W("d2 80000000", "0i-2147483648 END");
    W("d2 7fffffff", "0i2147483647 END");
    W("d3 8000000000000000", "0i-9223372036854775808 END");
    W("d3 ffffffffffffffff", "0i-1 END");
    W("d3 0000000100000000", "0i4294967296 END");
    W("ca 3fc00000", "0d1.5 END");
    W("ca c0490fdb", "0d-3.14159 END");
    W("cb 3ff8000000000000", "0d1.5 END");
    W("cb c00921fb54442d18", "0d-3.14159 END");
    W("c0", "0n END");
    W("c2", "0f END");
    W("c3", "0t END");
    W("c1", "ERR");

    /* Strings and bins: the first payload byte is the particle type. */
    W("a4 03616263", "0s3'abc' END");
    W("d9 04 03616263", "0s3'abc' END");
    W("da 0004 03616263", "0s3'abc' END");
    W("db 00000004 03616263", "0s3'abc' END");
    W("a1 03", "0s3'' END");
    W("a0", "0s3'' END");
    W("d9 00", "0s3'' END");
    W("a4 04010203", "0b4'010203' END");
    W("c4 04 04010203", "0b4'010203' END");
    W("c5 0004 07010203", "0b7'010203' END");
    W("c6 00000004 12010203", "0b18'010203' END");
    W("c4 03 036869", "0s3'hi' END");
    W("c4 00", "0b4'' END");
    W("c6 00000000", "0b4'' END");

    /* Ext values that are not order markers. */
    W("d4 05 aa", "0x5'aa' END");
    W("d5 05 aabb", "0x5'aabb' END");
    W("d6 fe aabbccdd", "0x-2'aabbccdd' END");
    W("d7 01 0001020304050607", "0x1'0001020304050607' END");
    W("d8 7f 000102030405060708090a0b0c0d0e0f", "0x127'000102030405060708090a0b0c0d0e0f' END");
    W("c7 03 05 aabbcc", "0x5'aabbcc' END");
    W("c8 0003 05 aabbcc", "0x5'aabbcc' END");
    W("c9 00000003 80 aabbcc", "0x-128'aabbcc' END");
    W("c7 00 ff", "0x-1'' END");
}

static void test_containers(void) {
    W("90", "0L0 END");
    W("80", "0M0 END");
    W("dc 0000", "0L0 END");
    W("dd 00000000", "0L0 END");
    W("de 0000", "0M0 END");
    W("df 00000000", "0M0 END");
    W("92 01 02", "0L2 1i1 1i2 END");
    W("dc 0002 01 02", "0L2 1i1 1i2 END");
    W("dd 00000002 01 02", "0L2 1i1 1i2 END");
    W("81 01 02", "0M1 1i1 1i2 END");
    W("de 0001 01 02", "0M1 1i1 1i2 END");
    W("df 00000001 01 02", "0M1 1i1 1i2 END");

    /* The reference frame's mapTest bin: {"a": 1, "b": 2}. */
    is_str(walk_typed(SPW_PT_MAP, "82 a2 03 61 01 a2 03 62 02"), "0M2 1s3'a' 1i1 1s3'b' 1i2 END",
           "walk: reference map {\"a\":1,\"b\":2}");

    /* [[1,2,3], {"k": [nil, true]}, []] */
    W("93 93 01 02 03 81 a2 03 6b 92 c0 c3 90",
      "0L3 1L3 2i1 2i2 2i3 1M1 2s3'k' 2L2 3n 3t 1L0 END");
    /* Map with integer keys and a nested map value. */
    W("83 01 a2 03 61 02 a2 03 62 ff 81 0a 0b",
      "0M3 1i1 1s3'a' 1i2 1s3'b' 1i-1 1M1 2i10 2i11 END");
    /* Blobs and GeoJSON strings inside a list, with bins as well as strs. */
    W("94 a3 04 0102 a8 17 7b2274223a317d c4 03 04 abcd c4 02 03 7a",
      "0L4 1b4'0102' 1b23'7b2274223a317d' 1b4'abcd' 1s3'z' END");
    W("92 a0 c4 00", "0L2 1s3'' 1b4'' END");
}

static void test_order_markers(void) {
    W("93 c7 00 01 01 02", "0L2/o1 1i1 1i2 END");
    W("91 c7 00 01", "0L0/o1 END");
    W("dc 0003 c7 00 01 0a 0b", "0L2/o1 1i10 1i11 END");
    /* Any zero-length ext encoding is a marker, not only ext8. */
    W("92 c8 0000 01 05", "0L1/o1 1i5 END");
    W("92 c9 00000000 01 05", "0L1/o1 1i5 END");
    /* fixext always carries a payload, so it is never a marker. */
    W("92 d4 01 00 05", "0L2 1x1'00' 1i5 END");
    /* The reference's key-ordered map {1: 2}. */
    is_str(walk_typed(SPW_PT_MAP, "82 c7 00 01 c0 01 02"), "0M1/o1 1i1 1i2 END",
           "walk: reference key-ordered map {1:2}");
    W("82 c7 00 03 c0 a2 03 61 01", "0M1/o3 1s3'a' 1i1 END");
    W("83 c7 00 08 c0 02 a1 03 01 c0", "0M2/o8 1i2 1s3'' 1i1 1n END");
    W("81 c7 00 01 c0", "0M0/o1 END");
    W("de 0002 c7 00 01 c0 01 02", "0M1/o1 1i1 1i2 END");
    /* An ext key with a non-nil value is data, not a marker. */
    W("81 c7 00 01 01", "0M1 1x1'' 1i1 END");
    /* Only the FIRST element is a marker: a wildcard later is an ext value. */
    W("93 01 c7 00 ff 02", "0L3 1i1 1x-1'' 1i2 END");
    W("92 c7 00 01 c7 00 ff", "0L1/o1 1x-1'' END");
    /* Only the first pair: a later (ext, nil) pair is data. */
    W("82 01 02 c7 00 01 c0", "0M2 1i1 1i2 1x1'' 1n END");
    /* Markers on nested collections too. */
    W("92 92 c7 00 01 05 81 c7 00 03 c0", "0L2 1L1/o1 2i5 1M0/o3 END");
    /* A marker that is cut short is just truncated input. */
    W("91 c7 00", "0L1 ERR");
    W("81 c7 00 01", "0M1 1x1'' ERR");
}

static void test_depth(void) {
    char hex[1024];
    size_t o = 0;
    char want[2048];
    size_t wo = 0;

    /* 64 nested lists of one element each: the innermost element is at depth 64, the limit. */
    for (int i = 0; i < 64; i++) {
        o += (size_t)sprintf(hex + o, "91");
        wo += (size_t)sprintf(want + wo, "%dL1 ", i);
    }
    strcpy(hex + o, "01");
    sprintf(want + wo, "64i1 END");
    is_str(walk(hex), want, "depth: 64 levels of nesting is the limit");
    strcpy(hex + o, "90");
    sprintf(want + wo, "64L0 END");
    is_str(walk(hex), want, "depth: an empty list at depth 64 opens nothing");
    strcpy(hex + o, "9101");
    sprintf(want + wo, "ERR");
    is_str(walk(hex), want, "depth: 65 levels rejected");
    strcpy(hex + o, "8101c0");
    is_str(walk(hex), want, "depth: a map at depth 64 with items rejected");

    /* Deep nesting far past the limit stops at the limit (no stack, no overflow). */
    uint8_t deep[10000];
    memset(deep, 0x91, sizeof deep);
    const char *r = walk_bytes(SPW_PT_LIST, deep, sizeof deep);
    size_t rl = strlen(r);
    ok(rl >= 3 && strcmp(r + rl - 3, "ERR") == 0 && strstr(r, "64L1") == NULL, "depth: 10000 levels");
}

/* A nested sample cut at every byte: always INVAL, never a crash or END. */
static void test_truncation(void) {
    static const char *samples[] = {
        "93 93 01 02 03 81 a2 03 6b 92 c0 c3 90",
        ("85 c7 00 01 c0 a4 03616263 cb 3ff8000000000000 cf ffffffffffffffff c9 00000002 05 aabb "
         "d3 8000000000000000 db 00000004 04010203 dc 0002 ca 3fc00000 df 00000001 c4 01 04 d8 01 "
         "000102030405060708090a0b0c0d0e0f c0"),
        "92 dd 00000003 c7 00 01 d1 8000 d2 80000000 de 0001 da 0002 0361 c6 00000002 1761",
    };
    for (size_t s = 0; s < sizeof samples / sizeof samples[0]; s++) {
        uint8_t b[512], *cut;
        size_t n = unhex(samples[s], b);
        int bad = 0;
        const char *full = walk_bytes(SPW_PT_LIST, b, n);
        size_t fl = strlen(full);
        ok(fl >= 3 && strcmp(full + fl - 3, "END") == 0, "truncation: sample %zu complete: %s", s, full);
        for (size_t k = 0; k < n; k++) {
            /* A fresh allocation of exactly k bytes lets ASan see any over-read. */
            cut = malloc(k ? k : 1);
            memcpy(cut, b, k);
            const char *r = walk_bytes(SPW_PT_LIST, cut, k);
            size_t rl = strlen(r);
            if (rl < 3 || strcmp(r + rl - 3, "ERR") != 0) {
                bad++;
                diag("cut at %zu: %s", k, r);
            }
            free(cut);
        }
        is_int(bad, 0, "truncation: sample %zu cut at each of %zu offsets is INVAL", s, n);
    }
}

static void test_hostile(void) {
    W("dd ffffffff", "ERR");
    W("df ffffffff", "ERR");
    W("dc ffff 01", "ERR");
    W("de ffff 01 02", "ERR");
    W("91 dd 7fffffff 00", "0L1 ERR");
    W("93 01 02 03", "0L3 1i1 1i2 1i3 END");
    W("93 01 02", "ERR");
    W("82 01 02 03", "ERR");
    W("df 80000000 00", "ERR");
    /* Marker consumed first: the count of what is left must still fit. */
    W("92 c7 00 01", "ERR");
    /* Lengths beyond the input. */
    W("d9 05 03616263", "ERR");
    W("da ffff 03", "ERR");
    W("db ffffffff 03", "ERR");
    W("c6 ffffffff 04", "ERR");
    W("c9 ffffffff 01 00", "ERR");
    W("c9 fffffffe 01", "ERR");
    W("c8 0001 01", "ERR");
    W("d8 01 0001", "ERR");
    W("d4 01", "ERR");
    W("d4", "ERR");
    W("c7", "ERR");
    W("cf 0001", "ERR");
    W("cb 3ff8", "ERR");
    W("ca", "ERR");
    W("dd 0000", "ERR");
    W("a3 0361", "ERR");
}

static void test_edges(void) {
    spw_walker w;
    spw_item it;
    spw_value v = {SPW_PT_INTEGER, (const uint8_t *)"\x01", 1};

    W("91 01 02", "0L1 1i1 ERR");
    W("c0 c0", "0n ERR");
    W("90 00", "0L0 ERR");
    W("", "ERR");
    is_str(walk_typed(SPW_PT_MAP, "80"), "0M0 END", "walk: MAP type accepted");
    is_str(walk_typed(SPW_PT_STRING, "80"), "INIT", "walk: STRING type rejected");
    is_str(walk_typed(SPW_PT_BLOB, "90"), "INIT", "walk: BLOB type rejected");

    is_int(spw_walk_init(&w, &v), SPW_ERR_INVAL, "init: integer value rejected");
    is_int(spw_walk_next(&w, &it), SPW_ERR_INVAL, "init: later next also INVAL");
    is_int(spw_walk_init(&w, NULL), SPW_ERR_INVAL, "init: NULL value");
    is_int(spw_walk_next(&w, &it), SPW_ERR_INVAL, "init: NULL value, next INVAL");
    v = (spw_value){SPW_PT_LIST, NULL, 3};
    is_int(spw_walk_init(&w, &v), SPW_ERR_INVAL, "init: NULL data with a length");
    v = (spw_value){SPW_PT_LIST, NULL, 0};
    is_int(spw_walk_init(&w, &v), SPW_OK, "init: NULL data, length 0");
    is_int(spw_walk_next(&w, &it), SPW_ERR_INVAL, "init: nothing to walk is truncated input");
    is_int(spw_walk_init(NULL, &v), SPW_ERR_INVAL, "init: NULL walker");
    v = (spw_value){SPW_PT_LIST, (const uint8_t *)"\x90", 1};
    spw_walk_init(&w, &v);
    is_int(spw_walk_next(&w, NULL), SPW_ERR_INVAL, "next: NULL item");
    is_int(spw_walk_next(NULL, &it), SPW_ERR_INVAL, "next: NULL walker");

    /* Pointers point into the walked bytes, past the prefix byte. */
    static const uint8_t b[] = {0x92, 0xa3, 0x03, 'h', 'i', 0xd5, 0x07, 0xaa, 0xbb};
    v = (spw_value){SPW_PT_LIST, b, sizeof b};
    spw_walk_init(&w, &v);
    spw_walk_next(&w, &it);
    spw_walk_next(&w, &it);
    ok(it.kind == SPW_ITEM_STR && it.u.bytes.ptr == b + 3 && it.u.bytes.len == 2, "item: str borrowed");
    spw_walk_next(&w, &it);
    ok(it.kind == SPW_ITEM_EXT && it.u.ext.ptr == b + 7 && it.u.ext.len == 2 && it.u.ext.type == 7,
       "item: ext borrowed");
    is_int(spw_walk_next(&w, &it), SPW_ERR_NOTFOUND, "item: end");
}

static long fuzz_ends, fuzz_items;

/* Walks to the end and checks the invariants a caller relies on. */
static int fuzz_one(const uint8_t *b, size_t n, uint8_t type) {
    spw_value v = {type, b, n};
    spw_walker w;
    spw_item it;
    size_t items = 0;
    spw_result r;

    if (spw_walk_init(&w, &v) != SPW_OK)
        return 1;
    while ((r = spw_walk_next(&w, &it)) == SPW_OK) {
        /* Every item consumes at least one byte, so a walk is at most n items. */
        if (++items > n)
            return 1;
        if (it.depth > SPW_WALK_MAX_DEPTH)
            return 1;
        if ((it.kind == SPW_ITEM_STR || it.kind == SPW_ITEM_BYTES) &&
            (it.u.bytes.ptr < b || it.u.bytes.len > (size_t)(b + n - it.u.bytes.ptr)))
            return 1;
        if (it.kind == SPW_ITEM_EXT && (it.u.ext.ptr < b || it.u.ext.len > (size_t)(b + n - it.u.ext.ptr)))
            return 1;
        if ((it.kind == SPW_ITEM_LIST || it.kind == SPW_ITEM_MAP) && it.u.coll.count > n)
            return 1;
    }
    fuzz_items += (long)items;
    fuzz_ends += r == SPW_ERR_NOTFOUND;
    return r == SPW_ERR_NOTFOUND || r == SPW_ERR_INVAL ? 0 : 1;
}

static void test_fuzz(void) {
    static const char *seeds[] = {
        "93 93 01 02 03 81 a2 03 6b 92 c0 c3 90",
        "82 a2 03 61 01 a2 03 62 02",
        "82 c7 00 01 c0 01 02",
        "94 c7 00 01 a3 04 0102 a8 17 7b2274223a317d c4 03 04 abcd",
        ("84 c7 00 01 c0 a4 03616263 cb 3ff8000000000000 cf ffffffffffffffff c9 00000002 05 aabb "
         "d3 8000000000000000 db 00000004 04010203"),
        "dc 0003 dd 00000001 de 0001 df 00000001 90 80 d8 01 000102030405060708090a0b0c0d0e0f",
    };
    /* Bytes that make interesting headers: lengths, counts, ext, the invalid c1. */
    static const uint8_t special[] = {0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
                                      0xc4, 0xc6, 0xc7, 0xc9, 0xca, 0xcb, 0xcf, 0xd3, 0xd4, 0xd8,
                                      0xdb, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff};
    uint8_t seed[8][256];
    size_t seed_len[8];
    size_t nseeds = sizeof seeds / sizeof seeds[0];
    int bad = 0;
    long total = 0;

    for (size_t s = 0; s < nseeds; s++)
        seed_len[s] = unhex(seeds[s], seed[s]);
    for (int round = 0; round < 200000; round++) {
        uint8_t buf[300];
        size_t n;
        uint64_t r = rnd();

        if (r % 4 == 0) {
            /* Pure noise, biased toward header bytes. */
            n = (size_t)(rnd() % 64);
            for (size_t i = 0; i < n; i++) {
                uint64_t x = rnd();
                buf[i] = x % 3 == 0 ? special[(x >> 8) % sizeof special] : (uint8_t)(x >> 16);
            }
        } else {
            /* A valid seed with a few mutations: flips, special bytes, cuts, splices. */
            size_t s = (size_t)(rnd() % nseeds);
            n = seed_len[s];
            memcpy(buf, seed[s], n);
            int muts = 1 + (int)(rnd() % 4);
            for (int m = 0; m < muts && n > 0; m++) {
                uint64_t x = rnd();
                size_t at = (size_t)((x >> 8) % n);
                switch (x % 5) {
                case 0: buf[at] ^= (uint8_t)(1u << ((x >> 40) % 8)); break;
                case 1: buf[at] = special[(x >> 32) % sizeof special]; break;
                case 2: buf[at] = (uint8_t)(x >> 48); break;
                case 3: n = at; break; /* truncate */
                case 4:                /* duplicate a chunk (nesting, repeated headers) */
                    if (n + 16 <= sizeof buf) {
                        size_t len = (size_t)((x >> 32) % 16);
                        if (len > n - at)
                            len = n - at;
                        memmove(buf + at + len, buf + at, n - at);
                        n += len;
                    }
                    break;
                }
            }
        }
        /* An exact-size copy so ASan catches any read past the end. */
        uint8_t *heap = malloc(n ? n : 1);
        memcpy(heap, buf, n);
        bad += fuzz_one(heap, n, (r >> 32) & 1 ? SPW_PT_MAP : SPW_PT_LIST);
        free(heap);
        total++;
    }
    diag("fuzz: %ld walks reached the end, %ld items read in all", fuzz_ends, fuzz_items);
    ok(fuzz_ends > 1000, "fuzz: mutations still produce well-formed values");
    is_int(bad, 0, "fuzz: %ld inputs walked, all terminated within their invariants", total);
}

int main(void) {
    test_scalars();
    test_containers();
    test_order_markers();
    test_depth();
    test_truncation();
    test_hostile();
    test_edges();
    test_fuzz();
    return tap_done();
}

/*
 * tests/unit/test-event.c: the event builder and accessors (core/event.c),
 * the typed value accessors and UTF-8 check (core/value.c) and the record
 * digest (core/digest.c).
 */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <spillway/event.h>

#include "event-private.h"
#include "../tap.h"
#include "test-codec-common.h" /* unhex, and the reference frame of xdr-wire.md */

static bool inside(const spw_event *ev, const void *p) {
    uintptr_t a = (uintptr_t)p, b = (uintptr_t)ev->data;
    return a >= b && a - b < ev->data_cap;
}

static void test_new(void) {
    spw_event *a = spw_event_new(4, 64), *b = spw_event_new(0, 0);
    spw_value key;
    size_t n = 99;
    static const uint8_t zero20[20];

    ok(a != NULL && b != NULL, "new: allocates");
    ok(spw_event_id(b) > spw_event_id(a), "new: ids increase");
    is_int(atomic_load(&a->refs), 1, "new: one reference");
    ok(a->bins == (spw_bin *)(a + 1), "new: bins follow the struct");
    ok(a->data == (uint8_t *)(a->bins + 4), "new: data follows the bins");
    ok(spw_event_data(a) == a->data, "new: spw_event_data is the data area");
    ok(b->data == (uint8_t *)(b + 1), "new: zero bins, data right after the struct");
    is_int(a->max_bins, 4, "new: max_bins");
    is_int(a->data_cap, 64, "new: data_cap");
    is_int(a->data_len, 0, "new: data_len");
    ok(a->worker == NULL && a->order == NULL && a->done == NULL && a->done_arg == NULL &&
           a->deadline == 0 && a->routes_pending == 0 && a->outcome == 0 && a->state == 0 &&
           a->fly_prev == NULL && a->fly_next == NULL && a->order_next == NULL,
       "new: runtime fields zeroed");
    is_int(spw_event_op(a), 0, "new: no op");
    ok(!spw_event_durable(a), "new: not durable");
    ok(spw_event_namespace(a).ptr == NULL, "new: no namespace");
    ok(spw_event_set(a).ptr == NULL && spw_event_set(a).len == 0, "new: no set");
    ok(!spw_event_key(a, &key), "new: no key");
    ok(spw_event_raw(a, &n) == NULL && n == 0, "new: no raw frame");
    ok(memcmp(spw_event_digest(a), zero20, 20) == 0, "new: digest zero");
    is_int(spw_event_bin_count(a), 0, "new: no bins");
    ok(spw_event_bin(a, 0) == NULL, "new: bin 0 out of range");
    is_int(spw_event_generation(a) + spw_event_lut_ms(a) + spw_event_src_id(a) +
               spw_event_expiry(a) + spw_event_port(a), 0, "new: metadata zero");
    spw_event_unref(a);
    spw_event_unref(b);

    ok(spw_event_new(UINT32_MAX, SIZE_MAX) == NULL, "new: size overflow -> NULL");
    ok(spw_event_new(0, SIZE_MAX - 8) == NULL, "new: data_cap overflow -> NULL");
}

static void test_in_place_and_copy(void) {
    spw_event *ev = spw_event_new(4, 64);
    uint8_t *d = spw_event_data(ev);
    const spw_bin *b;
    spw_value key;
    const char *set = "myset";

    memcpy(d, "testnameage", 11);
    is_int(spw_event_set_namespace(ev, d, 4), SPW_OK, "in place: namespace");
    ok(spw_event_namespace(ev).ptr == (const char *)d && spw_event_namespace(ev).len == 4,
       "in place: namespace points into the data area");
    is_int(ev->data_len, 0, "in place: nothing copied");
    is_int(spw_event_add_bin(ev, d + 4, 4, SPW_PT_STRING, d + 8, 3, 7), SPW_OK, "in place: bin");
    b = spw_event_bin(ev, 0);
    ok(b && b->name.ptr == (const char *)d + 4 && b->value.data == d + 8, "in place: bin referenced");
    is_int(b ? b->lut_ms : -1, 7, "in place: bin lut");
    is_int(ev->data_len, 0, "in place: still nothing copied");

    is_int(spw_event_set_set(ev, set, 5), SPW_OK, "copy: set");
    ok(spw_event_set(ev).ptr != set && inside(ev, spw_event_set(ev).ptr), "copy: set copied in");
    ok(spw_event_set(ev).ptr == (const char *)d + 64 - 5, "copy: placed at the tail");
    ok(memcmp(spw_event_set(ev).ptr, "myset", 5) == 0 && spw_event_set(ev).len == 5, "copy: bytes");
    is_int(ev->data_len, 5, "copy: data_len counts the copy");

    /* A pointer the event handed out is inside its data area: referenced, not copied again. */
    is_int(spw_event_add_bin(ev, spw_event_set(ev).ptr, 5, SPW_PT_BLOB, "xy", 2, 0), SPW_OK,
           "copy: bin named with a pointer from the event");
    b = spw_event_bin(ev, 1);
    ok(b && b->name.ptr == spw_event_set(ev).ptr, "copy: re-used pointer referenced in place");
    ok(b && b->value.data == d + 64 - 7 && memcmp(b->value.data, "xy", 2) == 0, "copy: value copied");
    is_int(ev->data_len, 7, "copy: only the value was copied");

    uint8_t k[8] = {0, 0, 0, 0, 0, 0, 0, 4};
    is_int(spw_event_set_key(ev, SPW_PT_INTEGER, k, 8), SPW_OK, "copy: integer key");
    ok(spw_event_key(ev, &key) && key.type == SPW_PT_INTEGER && key.len == 8 && key.data != k &&
           memcmp(key.data, k, 8) == 0, "copy: key");
    ok(spw_event_key(ev, NULL), "key: NULL out just answers");

    is_int(spw_event_set_raw(ev, d, 11), SPW_OK, "in place: raw");
    size_t n = 0;
    ok(spw_event_raw(ev, &n) == d && n == 11, "in place: raw frame");
    ok(spw_event_raw(ev, NULL) == d, "raw: NULL length pointer");
    is_int(spw_event_set_raw(ev, NULL, 0), SPW_OK, "raw: cleared");
    ok(spw_event_raw(ev, &n) == NULL && n == 0, "raw: none after clearing");

    is_int(spw_event_set_set(ev, NULL, 0), SPW_OK, "set: NULL clears");
    ok(spw_event_set(ev).ptr == NULL, "set: absent");
    is_int(spw_event_set_set(ev, "", 0), SPW_OK, "set: empty");
    ok(spw_event_set(ev).ptr != NULL && spw_event_set(ev).len == 0, "set: empty but present");
    spw_event_unref(ev);
}

static void test_nospace(void) {
    spw_event *ev = spw_event_new(2, 10);
    uint8_t *d = spw_event_data(ev);

    is_int(spw_event_set_namespace(ev, "12345678", 8), SPW_OK, "nospace: 8 of 10");
    is_int(spw_event_set_set(ev, "abc", 3), SPW_ERR_NOSPACE, "nospace: 3 more do not fit");
    is_int(spw_event_set_set(ev, "ab", 2), SPW_OK, "nospace: 2 more fit exactly");
    is_int(spw_event_set_raw(ev, "x", 1), SPW_ERR_NOSPACE, "nospace: full");
    is_int(spw_event_set_raw(ev, "", 0), SPW_OK, "nospace: empty still fits");
    is_int(spw_event_add_bin(ev, "a", 1, SPW_PT_NIL, NULL, 0, 0), SPW_ERR_NOSPACE,
           "nospace: bin name does not fit");
    is_int(spw_event_bin_count(ev), 0, "nospace: failed bin not added");
    spw_event_unref(ev);

    /* A failed value must not leave its name's copy behind. */
    ev = spw_event_new(2, 10);
    is_int(spw_event_add_bin(ev, "name", 4, SPW_PT_BLOB, "0123456789", 10, 0), SPW_ERR_NOSPACE,
           "nospace: bin value too big");
    is_int(ev->data_len, 0, "nospace: name copy rolled back");
    is_int(spw_event_add_bin(ev, "a", 1, SPW_PT_NIL, NULL, 0, 0), SPW_OK, "bins: first");
    is_int(spw_event_add_bin(ev, "b", 1, SPW_PT_NIL, NULL, 0, 0), SPW_OK, "bins: second");
    is_int(spw_event_add_bin(ev, "c", 1, SPW_PT_NIL, NULL, 0, 0), SPW_ERR_NOSPACE,
           "bins: past max_bins");
    is_int(spw_event_bin_count(ev), 2, "bins: count");
    spw_event_unref(ev);

    ev = spw_event_new(0, 4);
    is_int(spw_event_add_bin(ev, "a", 1, SPW_PT_NIL, NULL, 0, 0), SPW_ERR_NOSPACE,
           "bins: zero max_bins");
    spw_event_unref(ev);

    /* The front (source bytes referenced in place) and the tail (copies) must not collide. */
    ev = spw_event_new(1, 16);
    d = spw_event_data(ev);
    memcpy(d, "0123456789", 10);
    is_int(spw_event_set_raw(ev, d, 10), SPW_OK, "collide: frame referenced at the front");
    is_int(spw_event_set_namespace(ev, "abcdef", 6), SPW_OK, "collide: copy fills the gap");
    ok(memcmp(d, "0123456789", 10) == 0, "collide: front untouched");
    is_int(spw_event_set_set(ev, "z", 1), SPW_ERR_NOSPACE, "collide: copy would overwrite the front");
    is_int(spw_event_set_set(ev, d + 8, 4), SPW_ERR_NOSPACE, "collide: reference straddling the tail");
    is_int(spw_event_set_set(ev, d + 11, 3), SPW_OK, "collide: reference inside a copy");
    ok(spw_event_set(ev).ptr == (const char *)d + 11, "collide: referenced in place");
    spw_event_unref(ev);

    /* Front references made after copies are checked too. */
    ev = spw_event_new(1, 8);
    d = spw_event_data(ev);
    is_int(spw_event_set_namespace(ev, "abcd", 4), SPW_OK, "collide: copy first");
    memcpy(d, "wxyz", 4);
    is_int(spw_event_set_set(ev, d, 4), SPW_OK, "collide: front reference up to the copy");
    is_int(spw_event_set_raw(ev, "q", 1), SPW_ERR_NOSPACE, "collide: no room left between them");
    spw_event_unref(ev);
}

static void test_bad_args(void) {
    spw_event *ev = spw_event_new(2, 64);
    uint8_t eight[8] = {0};

    is_int(spw_event_set_op(ev, 0, false), SPW_ERR_INVAL, "op: 0 rejected");
    is_int(spw_event_set_op(ev, 3, false), SPW_ERR_INVAL, "op: 3 rejected");
    is_int(spw_event_set_op(NULL, SPW_OP_WRITE, false), SPW_ERR_INVAL, "op: NULL event");
    is_int(spw_event_set_op(ev, SPW_OP_DELETE, true), SPW_OK, "op: durable delete");
    ok(spw_event_op(ev) == SPW_OP_DELETE && spw_event_durable(ev), "op: durable delete read back");
    is_int(spw_event_set_op(ev, SPW_OP_DELETE, false), SPW_OK, "op: plain delete");
    ok(!spw_event_durable(ev), "op: not durable");
    is_int(spw_event_set_op(ev, SPW_OP_WRITE, true), SPW_OK, "op: write with durable flag");
    ok(spw_event_op(ev) == SPW_OP_WRITE && !spw_event_durable(ev), "op: a write is never durable");

    for (unsigned t = 0; t < 256; t++) {
        int want = (t == 1 || t == 2 || t == 3 || t == 4) ? SPW_OK : SPW_ERR_INVAL;
        if (spw_event_set_key(ev, (uint8_t)t, eight, 8) != want) {
            ok(0, "key: type %u", t);
            break;
        }
        if (t == 255)
            ok(1, "key: only types 1..4 accepted");
    }
    is_int(spw_event_set_key(ev, SPW_PT_INTEGER, eight, 7), SPW_ERR_INVAL, "key: integer of 7 bytes");
    is_int(spw_event_set_key(ev, SPW_PT_INTEGER, eight, 9), SPW_ERR_INVAL, "key: integer of 9 bytes");
    is_int(spw_event_set_key(ev, SPW_PT_DOUBLE, eight, 4), SPW_ERR_INVAL, "key: double of 4 bytes");
    is_int(spw_event_set_key(ev, SPW_PT_STRING, "abc", 3), SPW_OK, "key: string");
    is_int(spw_event_set_key(ev, SPW_PT_STRING, NULL, 0), SPW_OK, "key: empty string");
    is_int(spw_event_set_key(ev, SPW_PT_BLOB, NULL, 3), SPW_ERR_INVAL, "key: NULL with a length");
    is_int(spw_event_set_namespace(ev, NULL, 2), SPW_ERR_INVAL, "namespace: NULL with a length");
    is_int(spw_event_add_bin(ev, NULL, 1, SPW_PT_NIL, NULL, 0, 0), SPW_ERR_INVAL,
           "bin: NULL name with a length");
    is_int(spw_event_add_bin(ev, "a", 1, SPW_PT_BLOB, NULL, 1, 0), SPW_ERR_INVAL,
           "bin: NULL value with a length");
    is_int(spw_event_bin_count(ev), 0, "bin: nothing added by bad calls");
    is_int(spw_event_set_namespace(NULL, "a", 1), SPW_ERR_INVAL, "namespace: NULL event");
    is_int(spw_event_add_bin(NULL, "a", 1, 0, NULL, 0, 0), SPW_ERR_INVAL, "bin: NULL event");
    spw_event_unref(ev);
}

static void test_metadata(void) {
    spw_event *ev = spw_event_new(0, 0);
    uint8_t dg[20];

    for (int i = 0; i < 20; i++)
        dg[i] = (uint8_t)(i * 7);
    spw_event_set_digest(ev, dg);
    spw_event_set_generation(ev, 0xfffffffeu);
    spw_event_set_lut(ev, 1734387515693, 1);
    spw_event_set_expiry(ev, 1800000000);
    spw_event_set_port(ev, 8901);
    ok(memcmp(spw_event_digest(ev), dg, 20) == 0, "meta: digest");
    is_int(spw_event_generation(ev), 0xfffffffeu, "meta: generation");
    is_int(spw_event_lut_ms(ev), 1734387515693, "meta: lut");
    is_int(spw_event_src_id(ev), 1, "meta: src id");
    is_int(spw_event_expiry(ev), 1800000000, "meta: expiry");
    is_int(spw_event_port(ev), 8901, "meta: port");
    spw_event_set_digest(ev, NULL);
    ok(memcmp(spw_event_digest(ev), dg, 20) == 0, "meta: NULL digest ignored");
    spw_event_unref(ev);
}

static void test_find_bin(void) {
    spw_event *ev = spw_event_new(5, 128);
    const spw_bin *b;

    spw_event_add_bin(ev, "age", 3, SPW_PT_INTEGER, "\0\0\0\0\0\0\0\x1b", 8, 0);
    spw_event_add_bin(ev, "name", 4, SPW_PT_STRING, "colton", 6, 0);
    spw_event_add_bin(ev, "age", 3, SPW_PT_STRING, "dup", 3, 0);
    spw_event_add_bin(ev, "", 0, SPW_PT_NIL, NULL, 0, 0);
    b = spw_event_find_bin(ev, "name", 4);
    ok(b == spw_event_bin(ev, 1), "find: name");
    b = spw_event_find_bin(ev, "age", 3);
    ok(b == spw_event_bin(ev, 0) && b->value.type == SPW_PT_INTEGER, "find: first of duplicates");
    ok(spw_event_find_bin(ev, "ag", 2) == NULL, "find: prefix is not a match");
    ok(spw_event_find_bin(ev, "ages", 4) == NULL, "find: longer is not a match");
    ok(spw_event_find_bin(ev, "nope", 4) == NULL, "find: absent");
    ok(spw_event_find_bin(ev, "name-and-more", 4) == spw_event_bin(ev, 1), "find: uses n, not NUL");
    ok(spw_event_find_bin(ev, "", 0) == spw_event_bin(ev, 3), "find: empty name");
    ok(spw_event_find_bin(ev, NULL, 0) == spw_event_bin(ev, 3), "find: NULL, 0");
    ok(spw_event_bin(ev, 4) == NULL && spw_event_bin(ev, SIZE_MAX) == NULL, "bin: out of range");
    b = spw_event_bin(ev, 3);
    ok(b && b->name.ptr != NULL && b->value.data != NULL, "bin: empty name/value pointers not NULL");
    spw_event_unref(ev);
}

static void *ref_worker(void *arg) {
    spw_event *ev = arg;
    for (int i = 0; i < 100000; i++)
        spw_event_unref(spw_event_ref(ev));
    spw_event_unref(ev); /* the reference main took for this thread */
    return NULL;
}

static void test_refcount(void) {
    spw_event *ev = spw_event_new(1, 16);
    pthread_t th[4];

    ok(spw_event_ref(ev) == ev, "ref: returns the event");
    is_int(atomic_load(&ev->refs), 2, "ref: two references");
    spw_event_unref(ev);
    is_int(atomic_load(&ev->refs), 1, "unref: one left");
    ok(spw_event_ref(NULL) == NULL, "ref: NULL");
    spw_event_unref(NULL);
    ok(1, "unref: NULL is a no-op");

    for (int i = 0; i < 4; i++) {
        spw_event_ref(ev);
        pthread_create(&th[i], NULL, ref_worker, ev);
    }
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    is_int(atomic_load(&ev->refs), 1, "ref: concurrent ref/unref balance");
    spw_event_unref(ev); /* freed: ASan's leak check would notice otherwise */
    ok(1, "unref: last reference frees");
}

static void test_particles(void) {
    static const struct { uint8_t t; const char *name; bool blob; } pt[] = {
        {0, "nil", false}, {1, "integer", false}, {2, "double", false}, {3, "string", false},
        {4, "blob", true}, {7, "java-blob", true}, {8, "csharp-blob", true},
        {9, "python-blob", true}, {10, "ruby-blob", true}, {11, "php-blob", true},
        {12, "erlang-blob", true}, {16, "vector", false}, {17, "bool", false},
        {18, "hll", false}, {19, "map", false}, {20, "list", false}, {23, "geojson", false},
    };
    size_t n = sizeof pt / sizeof pt[0];
    int unknown_ok = 1, blob_ok = 1;

    for (size_t i = 0; i < n; i++) {
        is_str(spw_particle_name(pt[i].t), pt[i].name, "particle %u name", pt[i].t);
        ok(spw_particle_is_blob(pt[i].t) == pt[i].blob, "particle %u blob family", pt[i].t);
    }
    for (unsigned t = 0; t < 256; t++) {
        bool known = false;
        for (size_t i = 0; i < n; i++)
            known |= pt[i].t == t;
        if (!known && strcmp(spw_particle_name((uint8_t)t), "unknown") != 0)
            unknown_ok = 0;
        if (!known && spw_particle_is_blob((uint8_t)t))
            blob_ok = 0;
    }
    ok(unknown_ok, "particle: other types are \"unknown\"");
    ok(blob_ok, "particle: no other type is a blob");
}

/* Every accessor on every particle type: each succeeds only on its own types. */
static void test_accessor_matrix(void) {
    static const uint8_t buf[32] = {0, 0, 0, 0, 0, 0, 0, 1};
    int bad = 0;

    for (unsigned t = 0; t < 256; t++) {
        spw_value v8 = {(uint8_t)t, buf, 8}, v1 = {(uint8_t)t, buf, 1}, v3 = {(uint8_t)t, buf, 3};
        int64_t i;
        double d;
        bool b;
        spw_str s;
        const uint8_t *p;
        size_t n;
        spw_geojson g;
        bool bytes_type = spw_particle_is_blob((uint8_t)t) || t == SPW_PT_HLL || t == SPW_PT_VECTOR;

        bad += (spw_value_int(&v8, &i) == SPW_OK) != (t == SPW_PT_INTEGER);
        bad += (spw_value_double(&v8, &d) == SPW_OK) != (t == SPW_PT_DOUBLE);
        bad += (spw_value_bool(&v1, &b) == SPW_OK) != (t == SPW_PT_BOOL);
        bad += (spw_value_str(&v8, &s) == SPW_OK) != (t == SPW_PT_STRING);
        bad += (spw_value_bytes(&v8, &p, &n) == SPW_OK) != bytes_type;
        bad += (spw_value_geojson(&v3, &g) == SPW_OK) != (t == SPW_PT_GEOJSON);
        if (bad) {
            ok(0, "accessors: type %u", t);
            return;
        }
    }
    ok(1, "accessors: each accepts exactly its own particle types");
}

static void test_values(void) {
    spw_value v;
    int64_t i;
    double d;
    bool b;
    spw_str s;
    const uint8_t *p;
    size_t n;

#define VAL(t, bytes, l) (v = (spw_value){(t), (const uint8_t *)(bytes), (l)}, &v)
    is_int(spw_value_int(VAL(1, "\0\0\0\0\0\0\0\x1b", 8), &i), SPW_OK, "int: 27");
    is_int(i, 27, "int: value 27");
    is_int(spw_value_int(VAL(1, "\xff\xff\xff\xff\xff\xff\xff\xff", 8), &i), SPW_OK, "int: -1");
    is_int(i, -1, "int: value -1");
    spw_value_int(VAL(1, "\x80\0\0\0\0\0\0\0", 8), &i);
    ok(i == INT64_MIN, "int: INT64_MIN");
    spw_value_int(VAL(1, "\x7f\xff\xff\xff\xff\xff\xff\xff", 8), &i);
    ok(i == INT64_MAX, "int: INT64_MAX");
    spw_value_int(VAL(1, "\x01\x02\x03\x04\x05\x06\x07\x08", 8), &i);
    ok(i == 0x0102030405060708, "int: big-endian byte order");
    is_int(spw_value_int(VAL(1, "\0\0\0\0\0\0\0", 7), &i), SPW_ERR_INVAL, "int: 7 bytes");
    is_int(spw_value_int(VAL(1, "\0\0\0\0\0\0\0\0\0", 9), &i), SPW_ERR_INVAL, "int: 9 bytes");
    is_int(spw_value_int(VAL(2, "\0\0\0\0\0\0\0\0", 8), &i), SPW_ERR_INVAL, "int: a double");
    is_int(spw_value_int(NULL, &i), SPW_ERR_INVAL, "int: NULL value");
    is_int(spw_value_int(VAL(1, "\0\0\0\0\0\0\0\0", 8), NULL), SPW_ERR_INVAL, "int: NULL out");

    is_int(spw_value_double(VAL(2, "\x3f\xf8\0\0\0\0\0\0", 8), &d), SPW_OK, "double: 1.5");
    ok(d == 1.5, "double: value 1.5");
    spw_value_double(VAL(2, "\xc0\x09\x21\xfb\x54\x44\x2d\x18", 8), &d);
    ok(d == -3.141592653589793, "double: -pi");
    spw_value_double(VAL(2, "\x80\0\0\0\0\0\0\0", 8), &d);
    ok(d == 0.0 && signbit(d), "double: -0.0");
    spw_value_double(VAL(2, "\x7f\xf0\0\0\0\0\0\0", 8), &d);
    ok(isinf(d) && d > 0, "double: +inf");
    is_int(spw_value_double(VAL(2, "\0\0\0\0", 4), &d), SPW_ERR_INVAL, "double: 4 bytes");
    is_int(spw_value_double(VAL(1, "\0\0\0\0\0\0\0\0", 8), &d), SPW_ERR_INVAL, "double: an integer");

    is_int(spw_value_bool(VAL(17, "\1", 1), &b), SPW_OK, "bool: true");
    ok(b, "bool: value true");
    is_int(spw_value_bool(VAL(17, "\0", 1), &b), SPW_OK, "bool: false");
    ok(!b, "bool: value false");
    is_int(spw_value_bool(VAL(17, "\2", 1), &b), SPW_ERR_INVAL, "bool: 2 is malformed");
    is_int(spw_value_bool(VAL(17, "", 0), &b), SPW_ERR_INVAL, "bool: empty");
    is_int(spw_value_bool(VAL(17, "\0\1", 2), &b), SPW_ERR_INVAL, "bool: 2 bytes");
    is_int(spw_value_bool(VAL(1, "\1", 1), &b), SPW_ERR_INVAL, "bool: an integer");

    is_int(spw_value_str(VAL(3, "colton", 6), &s), SPW_OK, "str: ok");
    ok(s.len == 6 && memcmp(s.ptr, "colton", 6) == 0, "str: bytes");
    is_int(spw_value_str(VAL(3, "", 0), &s), SPW_OK, "str: empty");
    is_int(s.len, 0, "str: empty length");
    is_int(spw_value_str(VAL(3, "\xff\xfe", 2), &s), SPW_OK, "str: not validated as UTF-8");
    is_int(spw_value_str(VAL(4, "abc", 3), &s), SPW_ERR_INVAL, "str: a blob");
    is_int(spw_value_str(VAL(23, "abc", 3), &s), SPW_ERR_INVAL, "str: geojson");
    is_int(spw_value_str(VAL(3, NULL, 2), &s), SPW_ERR_INVAL, "str: NULL data with a length");

    static const uint8_t bytes_types[] = {4, 7, 8, 9, 10, 11, 12, 16, 18};
    for (size_t k = 0; k < sizeof bytes_types; k++) {
        n = 0;
        is_int(spw_value_bytes(VAL(bytes_types[k], "\x01\x02\x03", 3), &p, &n), SPW_OK,
               "bytes: type %u", bytes_types[k]);
        ok(n == 3 && p == v.data, "bytes: type %u pointer and length", bytes_types[k]);
    }
    is_int(spw_value_bytes(VAL(4, "", 0), &p, &n), SPW_OK, "bytes: empty blob");
    is_int(n, 0, "bytes: empty length");
    is_int(spw_value_bytes(VAL(3, "abc", 3), &p, &n), SPW_ERR_INVAL, "bytes: a string");
    is_int(spw_value_bytes(VAL(19, "\x80", 1), &p, &n), SPW_ERR_INVAL, "bytes: a map");
    is_int(spw_value_bytes(VAL(23, "abc", 3), &p, &n), SPW_ERR_INVAL, "bytes: geojson");
    is_int(spw_value_bytes(VAL(4, "abc", 3), NULL, &n), SPW_ERR_INVAL, "bytes: NULL out");

    /* GeoJSON: flags, u16 cell count, 8 bytes per cell, text. */
    uint8_t geo[64];
    size_t gl = unhex("01 0002 1111111111111111 2222222222222222", geo);
    memcpy(geo + gl, "{\"type\":\"Point\"}", 16);
    gl += 16;
    spw_geojson g;
    is_int(spw_value_geojson(VAL(23, geo, gl), &g), SPW_OK, "geojson: ok");
    is_int(g.flags, 1, "geojson: flags");
    is_int(g.ncells, 2, "geojson: ncells");
    ok(g.cells == geo + 3 && g.cells[8] == 0x22, "geojson: cells");
    ok(g.text.len == 16 && memcmp(g.text.ptr, "{\"type\":\"Point\"}", 16) == 0, "geojson: text");
    is_int(spw_value_geojson(VAL(23, geo, 19), &g), SPW_OK, "geojson: empty text");
    is_int(g.text.len, 0, "geojson: empty text length");
    is_int(spw_value_geojson(VAL(23, geo, 18), &g), SPW_ERR_INVAL, "geojson: truncated cell");
    is_int(spw_value_geojson(VAL(23, geo, 2), &g), SPW_ERR_INVAL, "geojson: truncated header");
    is_int(spw_value_geojson(VAL(23, geo, 0), &g), SPW_ERR_INVAL, "geojson: empty");
    is_int(spw_value_geojson(VAL(23, "\0\0\0{}", 5), &g), SPW_OK, "geojson: no cells");
    ok(g.ncells == 0 && g.text.len == 2, "geojson: no cells, text");
    is_int(spw_value_geojson(VAL(23, "\0\xff\xff", 3), &g), SPW_ERR_INVAL, "geojson: 65535 cells, no bytes");
    is_int(spw_value_geojson(VAL(3, geo, gl), &g), SPW_ERR_INVAL, "geojson: a string");
#undef VAL
}

static void test_utf8(void) {
    /* Lengths from sizeof so a case can never lie about its own size. */
#define U8(lit, v, what) {lit, sizeof(lit) - 1, v, what}
    static const struct { const char *s; size_t n; bool valid; const char *what; } cases[] = {
        U8("", true, "empty"),
        U8("hello, world", true, "ASCII"),
        U8("0123456789abcdefghijklmnopqrstuvwxyz", true, "long ASCII run"),
        U8("\xc3\xa9", true, "2-byte U+00E9"),
        U8("\xc2\x80", true, "2-byte smallest U+0080"),
        U8("\xdf\xbf", true, "2-byte largest U+07FF"),
        U8("\xe0\xa0\x80", true, "3-byte smallest U+0800"),
        U8("\xe2\x82\xac", true, "3-byte euro"),
        U8("\xed\x9f\xbf", true, "U+D7FF just below surrogates"),
        U8("\xee\x80\x80", true, "U+E000 just above surrogates"),
        U8("\xef\xbf\xbf", true, "U+FFFF"),
        U8("\xf0\x90\x80\x80", true, "4-byte smallest U+10000"),
        U8("\xf0\x9f\x98\x80", true, "4-byte emoji"),
        U8("\xf4\x8f\xbf\xbf", true, "U+10FFFF"),
        U8("abcdefgh\xc3\xa9ijklmnop\xf0\x9f\x98\x80q", true, "mixed runs"),
        U8("a\0b", true, "NUL is valid"),
        U8("\xc0\x80", false, "overlong NUL (C0 80)"),
        U8("\xc1\xbf", false, "overlong C1"),
        U8("\xe0\x80\x80", false, "overlong 3-byte"),
        U8("\xe0\x9f\xbf", false, "overlong 3-byte U+07FF"),
        U8("\xf0\x80\x80\x80", false, "overlong 4-byte"),
        U8("\xf0\x8f\xbf\xbf", false, "overlong 4-byte U+FFFF"),
        U8("\xed\xa0\x80", false, "surrogate U+D800"),
        U8("\xed\xbf\xbf", false, "surrogate U+DFFF"),
        U8("\xf4\x90\x80\x80", false, "U+110000"),
        U8("\xf5\x80\x80\x80", false, "F5 lead"),
        U8("\xff", false, "FF byte"),
        U8("\xfe", false, "FE byte"),
        U8("\x80", false, "lone continuation"),
        U8("abcdefgh\xbf", false, "continuation after an ASCII run"),
        U8("\xc3", false, "truncated 2-byte"),
        U8("\xe2\x82", false, "truncated 3-byte"),
        U8("\xf0\x9f\x98", false, "truncated 4-byte"),
        U8("abcdefghijklmno\xf0\x9f", false, "truncated at the end of a long run"),
        U8("\xc3\x28", false, "bad continuation 2-byte"),
        U8("\xe2\x28\xa1", false, "bad second byte 3-byte"),
        U8("\xe2\x82\x28", false, "bad third byte 3-byte"),
        U8("\xf0\x9f\x98\x28", false, "bad fourth byte 4-byte"),
        U8("\xc3\xa9\xa9", false, "extra continuation"),
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ok(spw_utf8_valid(cases[i].s, cases[i].n) == cases[i].valid, "utf8: %s", cases[i].what);
#undef U8
    ok(spw_utf8_valid(NULL, 0), "utf8: NULL, 0");
    ok(!spw_utf8_valid(NULL, 1), "utf8: NULL with a length");

    /* Every code point, encoded by hand, must pass; surrogates must not. */
    int bad = 0;
    for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
        uint8_t b[4];
        size_t n;
        if (cp < 0x80) {
            b[0] = (uint8_t)cp, n = 1;
        } else if (cp < 0x800) {
            b[0] = (uint8_t)(0xc0 | cp >> 6), b[1] = (uint8_t)(0x80 | (cp & 0x3f)), n = 2;
        } else if (cp < 0x10000) {
            b[0] = (uint8_t)(0xe0 | cp >> 12), b[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
            b[2] = (uint8_t)(0x80 | (cp & 0x3f)), n = 3;
        } else {
            b[0] = (uint8_t)(0xf0 | cp >> 18), b[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
            b[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f)), b[3] = (uint8_t)(0x80 | (cp & 0x3f)), n = 4;
        }
        bool surrogate = cp >= 0xd800 && cp <= 0xdfff;
        if (spw_utf8_valid(b, n) == surrogate)
            bad++;
    }
    is_int(bad, 0, "utf8: every scalar value valid, every surrogate invalid");

    /* Unaligned starts of a long buffer exercise the word-at-a-time path. */
    char big[300];
    memset(big, 'a', sizeof big);
    int bad2 = 0;
    for (size_t off = 0; off < 16; off++) {
        bad2 += !spw_utf8_valid(big + off, sizeof big - off);
        big[200] = (char)0x80;
        bad2 += spw_utf8_valid(big + off, sizeof big - off);
        big[200] = 'a';
    }
    is_int(bad2, 0, "utf8: long ASCII at every alignment, with and without a bad byte");
}

static void test_digest(void) {
    uint8_t out[20], want[20], key[8];

    memset(key, 0, 8);
    key[7] = 123;
    spw_digest_compute("demo", 4, SPW_PT_INTEGER, key, 8, out);
    unhex("595a7b63eb185dbebd842553a44802b1a30ec159", want);
    ok(memcmp(out, want, 20) == 0, "digest: demo/123 = WVp7Y+sYXb69hCVTpEgCsaMOwVk=");

    key[7] = 4;
    spw_digest_compute("myset", 5, SPW_PT_INTEGER, key, 8, out);
    unhex("78f26d30728c436ac5b7e2b79f7faa4b1c011576", want);
    ok(memcmp(out, want, 20) == 0, "digest: myset/4 (reference write frame)");

    key[7] = 14;
    spw_digest_compute("myset", 5, SPW_PT_INTEGER, key, 8, out);
    unhex("f9bb902ddd1874858475b66c8f36b950badb44f7", want);
    ok(memcmp(out, want, 20) == 0, "digest: myset/14 (reference delete frame)");

    /* No set: the digest covers just the type byte and the key. */
    uint8_t a[20], b[20];
    spw_digest_compute(NULL, 0, SPW_PT_STRING, "k", 1, a);
    spw_digest_compute("", 0, SPW_PT_STRING, "k", 1, b);
    ok(memcmp(a, b, 20) == 0, "digest: NULL set equals empty set");
    spw_digest_compute(NULL, 0, SPW_PT_BLOB, "k", 1, b);
    ok(memcmp(a, b, 20) != 0, "digest: key type is hashed");
}

static void *digest_worker(void *arg) {
    uint8_t *out = arg, key[8] = {0, 0, 0, 0, 0, 0, 0, 4};
    for (int i = 0; i < 1000; i++)
        spw_digest_compute("myset", 5, SPW_PT_INTEGER, key, 8, out);
    return NULL;
}

static void test_digest_threads(void) {
    pthread_t th[4];
    uint8_t out[4][20], want[20];

    unhex("78f26d30728c436ac5b7e2b79f7faa4b1c011576", want);
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, digest_worker, out[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    int good = 0;
    for (int i = 0; i < 4; i++)
        good += memcmp(out[i], want, 20) == 0;
    is_int(good, 4, "digest: concurrent threads agree");
}

/* Builds the reference write frame's event the way a source would: frame first, then in place. */
static void test_reference_frame(void) {
    uint8_t frame[256];
    size_t n = unhex(REF_WRITE_HEX, frame);
    spw_event *ev = spw_event_new(3, n);
    uint8_t *d = spw_event_data(ev);
    spw_value key;
    int64_t i;
    spw_str s;
    uint8_t dg[20];

    memcpy(d, frame, n);
    is_int(n, 8 + 0x9a, "frame: length matches as_proto");
    ok(spw_event_set_raw(ev, d, n) == SPW_OK && spw_event_set_op(ev, SPW_OP_WRITE, false) == SPW_OK &&
           spw_event_set_namespace(ev, d + 35, 4) == SPW_OK &&
           spw_event_set_set(ev, d + 69, 5) == SPW_OK &&
           spw_event_set_key(ev, d[79], d + 80, 8) == SPW_OK &&
           spw_event_add_bin(ev, d + 109, d[108], d[106], d + 113, 6, 0) == SPW_OK &&
           spw_event_add_bin(ev, d + 127, d[126], d[124], d + 130, 8, 0) == SPW_OK &&
           spw_event_add_bin(ev, d + 146, d[145], d[143], d + 153, 9, 0) == SPW_OK,
       "frame: built in place");
    is_int(ev->data_len, 0, "frame: no copies");
    spw_event_set_digest(ev, d + 44);
    spw_digest_compute(spw_event_set(ev).ptr, spw_event_set(ev).len, d[79], d + 80, 8, dg);
    ok(memcmp(dg, spw_event_digest(ev), 20) == 0, "frame: computed digest equals the shipped one");
    ok(spw_event_key(ev, &key) && spw_value_int(&key, &i) == SPW_OK && i == 4, "frame: key 4");
    ok(spw_value_str(&spw_event_find_bin(ev, "name", 4)->value, &s) == SPW_OK && s.len == 6 &&
           memcmp(s.ptr, "colton", 6) == 0, "frame: name");
    ok(spw_value_int(&spw_event_find_bin(ev, "age", 3)->value, &i) == SPW_OK && i == 27, "frame: age");
    ok(spw_event_find_bin(ev, "mapTest", 7)->value.type == SPW_PT_MAP, "frame: mapTest is a map");
    spw_event_unref(ev);
}

/* spw_printable: wire bytes made safe for log lines and reasons. */
static void test_printable(void) {
    char out[16];
    is_str(spw_printable(out, sizeof out, "bin\n\x01\xff", 6, 8), "bin???", "control and high bytes become ?");
    is_str(spw_printable(out, sizeof out, "abcdefghij", 10, 4), "abcd...", "cut at max, with ...");
    is_str(spw_printable(out, sizeof out, "abcd", 4, 4), "abcd", "exactly max: no ...");
    is_str(spw_printable(out, 3, "abcdef", 6, 64), "ab", "never writes past out_size");
    is_str(spw_printable(out, sizeof out, NULL, 0, 4), "", "empty input");
}

int main(void) {
    test_printable();
    test_new();
    test_in_place_and_copy();
    test_nospace();
    test_bad_args();
    test_metadata();
    test_find_bin();
    test_refcount();
    test_particles();
    test_accessor_matrix();
    test_values();
    test_utf8();
    test_digest();
    test_digest_threads();
    test_reference_frame();
    return tap_done();
}

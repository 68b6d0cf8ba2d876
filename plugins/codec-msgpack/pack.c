/*
 * plugins/codec-msgpack/pack.c: one event -> the vendor's MessagePack
 * message, and the batch framing.
 *
 *   message = [1, TYPE, PAYLOAD]              TYPE 1 write, 2 delete
 *             [1, TYPE, PAYLOAD, ID]          with id_element: ID the idempotency
 *                                             key (str, ${id}: digest hex '-' LUT)
 *   write   = [KEY, gen|nil, exp|nil, lut|nil, BINS]
 *   delete  = [KEY, FLAGS]                    FLAGS bit 0x01: durable
 *             [KEY, FLAGS, gen|nil, lut|nil]  with delete_metadata
 *   KEY     = [namespace, set|nil, digest (bin 20), userKey|nil]
 *   BINS    = [[name, particle type, flags, value(, lut|nil)], ...]
 *
 * Metadata a route excludes (metadata_exclude) is nil in its position,
 * TYPE and FLAGS included: every position is fixed, so nothing moves. A
 * LUT of 0 (the source did not know it) is nil as well.
 *
 * The bytes are written here, straight into the caller's spw_buf, rather
 * than through msgpack-c's packer: the packer calls its write callback per
 * token (a dozen indirect calls, each with its own bounds check and copy,
 * per bin), while here one reservation covers a bin's head and fixed-size
 * value and the writes are plain stores. Measured on the benchmark's
 * 10-bin record: msgpack-c's packer alone, fed values already decoded,
 * takes about 4800 instructions per record; this whole encoder, walking
 * the list and map and checking every value, about 3700 (callgrind).
 * MessagePack is small enough that the writer below is the whole of it;
 * msgpack-c still reads every output in the unit test, as an independent
 * decoder.
 *
 * Integers use their smallest encoding and doubles are always float64;
 * every rendering decision is stated next to the code that makes it, and
 * in doc/formats.md.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "pack.h"
#include "../codec-json/utf8.h"

#define MP_INLINE static inline __attribute__((always_inline))

/* State of one encode call. */
typedef struct menc {
    const mcodec *c;
    spw_buf *out;
    spw_err *err;
    const char *what; /* "bin", "user key", ...: for error text */
    spw_str name;     /* the bin's name when what is "bin" */
} menc;

/* Rejects the record naming the bin (unprintable bytes as '?', cut at 64:
 * names come from the wire and must not carry escapes into a log). */
static spw_result reject(menc *e, const char *fmt, ...) SPW_PRINTF(2, 3);
static spw_result reject(menc *e, const char *fmt, ...) {
    if (!e->err)
        return SPW_REJECT;
    char where[96], why[256];
    if (e->name.ptr) {
        char clean[68];
        snprintf(where, sizeof where, "%s \"%s\"", e->what,
                 spw_printable(clean, sizeof clean, e->name.ptr, e->name.len, 64));
    } else
        snprintf(where, sizeof where, "%s", e->what);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return spw_err_set(e->err, SPW_REJECT, "msgpack codec: %s: %s", where, why);
}

/* ---- the MessagePack writer: reserve, then unchecked stores ---- */

/* Longest header of any MessagePack token (ext 32: marker, 4 length bytes, type). */
#define HDR_MAX 6
/* Longest scalar (int 64, uint 64, float 64: marker and 8 bytes). */
#define SCALAR_MAX 9

MP_INLINE spw_result room(spw_buf *b, size_t n) {
    return b->cap - b->len >= n ? SPW_OK : spw_buf_reserve(b, n);
}

MP_INLINE uint8_t *be16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
    return p + 2;
}

MP_INLINE uint8_t *be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
    return p + 4;
}

MP_INLINE uint8_t *be64(uint8_t *p, uint64_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
    return p + 8;
}

/* A big-endian 64-bit value (integers and doubles in their wire form). */
MP_INLINE uint64_t load_be64(const uint8_t *p) {
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

/*
 * Copies n bytes and returns the end. Names and most strings are short,
 * and a call into libc's memcpy costs more than the copy: up to 32 bytes
 * are moved with two overlapping fixed-size loads and stores, which never
 * read or write outside either range.
 */
MP_INLINE uint8_t *copy(uint8_t *o, const void *src, size_t n) {
    const uint8_t *s = src;
    if (n > 32) {
        memcpy(o, s, n);
    } else if (n >= 16) {
        uint8_t x[16], y[16];
        memcpy(x, s, 16);
        memcpy(y, s + n - 16, 16);
        memcpy(o, x, 16);
        memcpy(o + n - 16, y, 16);
    } else if (n >= 8) {
        uint64_t x, y;
        memcpy(&x, s, 8);
        memcpy(&y, s + n - 8, 8);
        memcpy(o, &x, 8);
        memcpy(o + n - 8, &y, 8);
    } else if (n >= 4) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(o, &x, 4);
        memcpy(o + n - 4, &y, 4);
    } else {
        for (size_t i = 0; i < n; i++)
            o[i] = s[i];
    }
    return o + n;
}

MP_INLINE uint8_t *w_uint(uint8_t *p, uint64_t v) {
    if (v < 0x80) {
        *p++ = (uint8_t)v;
    } else if (v <= 0xff) {
        *p++ = 0xcc;
        *p++ = (uint8_t)v;
    } else if (v <= 0xffff) {
        *p++ = 0xcd;
        p = be16(p, (uint16_t)v);
    } else if (v <= 0xffffffffu) {
        *p++ = 0xce;
        p = be32(p, (uint32_t)v);
    } else {
        *p++ = 0xcf;
        p = be64(p, v);
    }
    return p;
}

MP_INLINE uint8_t *w_int(uint8_t *p, int64_t v) {
    if (v >= 0)
        return w_uint(p, (uint64_t)v);
    if (v >= -32) {
        *p++ = (uint8_t)(0xe0 | (uint8_t)(v + 32)); /* negative fixint */
    } else if (v >= INT8_MIN) {
        *p++ = 0xd0;
        *p++ = (uint8_t)(int8_t)v;
    } else if (v >= INT16_MIN) {
        *p++ = 0xd1;
        p = be16(p, (uint16_t)(int16_t)v);
    } else if (v >= INT32_MIN) {
        *p++ = 0xd2;
        p = be32(p, (uint32_t)(int32_t)v);
    } else {
        *p++ = 0xd3;
        p = be64(p, (uint64_t)v);
    }
    return p;
}

MP_INLINE uint8_t *w_f64(uint8_t *p, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    *p++ = 0xcb;
    return be64(p, u);
}

/* Array (fix 0x90, 0xdc, 0xdd) and map (fix 0x80, 0xde, 0xdf) headers. */
MP_INLINE uint8_t *w_count(uint8_t *p, uint32_t n, uint8_t fix, uint8_t c16) {
    if (n < 16) {
        *p++ = (uint8_t)(fix | n);
    } else if (n <= 0xffff) {
        *p++ = c16;
        p = be16(p, (uint16_t)n);
    } else {
        *p++ = (uint8_t)(c16 + 1);
        p = be32(p, n);
    }
    return p;
}
#define w_array(p, n) w_count((p), (n), 0x90, 0xdc)
#define w_map(p, n) w_count((p), (n), 0x80, 0xde)

MP_INLINE uint8_t *w_str_hdr(uint8_t *p, size_t n) {
    if (n < 32) {
        *p++ = (uint8_t)(0xa0 | n);
    } else if (n <= 0xff) {
        *p++ = 0xd9;
        *p++ = (uint8_t)n;
    } else if (n <= 0xffff) {
        *p++ = 0xda;
        p = be16(p, (uint16_t)n);
    } else {
        *p++ = 0xdb;
        p = be32(p, (uint32_t)n);
    }
    return p;
}

MP_INLINE uint8_t *w_bin_hdr(uint8_t *p, size_t n) {
    if (n <= 0xff) {
        *p++ = 0xc4;
        *p++ = (uint8_t)n;
    } else if (n <= 0xffff) {
        *p++ = 0xc5;
        p = be16(p, (uint16_t)n);
    } else {
        *p++ = 0xc6;
        p = be32(p, (uint32_t)n);
    }
    return p;
}

MP_INLINE uint8_t *w_ext_hdr(uint8_t *p, size_t n, uint8_t type) {
    switch (n) {
    case 1: *p++ = 0xd4; break;
    case 2: *p++ = 0xd5; break;
    case 4: *p++ = 0xd6; break;
    case 8: *p++ = 0xd7; break;
    case 16: *p++ = 0xd8; break;
    default:
        if (n <= 0xff) {
            *p++ = 0xc7;
            *p++ = (uint8_t)n;
        } else if (n <= 0xffff) {
            *p++ = 0xc8;
            p = be16(p, (uint16_t)n);
        } else {
            *p++ = 0xc9;
            p = be32(p, (uint32_t)n);
        }
    }
    *p++ = type;
    return p;
}

/* Bytes never reach 4 GiB: a buffer is capped at SPW_BUF_MAX (1 GiB), so
 * a longer value fails its reservation before a header could overflow. */
enum raw_kind { RAW_STR, RAW_BIN, RAW_EXT };

static spw_result put_raw(spw_buf *b, enum raw_kind kind, uint8_t ext, const void *p, size_t n) {
    if (n > SPW_BUF_MAX)
        return SPW_ERR_NOSPACE;
    spw_result r = room(b, n + HDR_MAX);
    if (r != SPW_OK)
        return r;
    uint8_t *o = b->data + b->len;
    o = kind == RAW_STR ? w_str_hdr(o, n) : kind == RAW_BIN ? w_bin_hdr(o, n) : w_ext_hdr(o, n, ext);
    b->len = (size_t)(copy(o, p, n) - b->data);
    return SPW_OK;
}

MP_INLINE spw_result put_byte(spw_buf *b, uint8_t c) {
    spw_result r = room(b, 1);
    if (r == SPW_OK)
        b->data[b->len++] = c;
    return r;
}

MP_INLINE spw_result put_int(spw_buf *b, int64_t v) {
    spw_result r = room(b, SCALAR_MAX);
    if (r == SPW_OK)
        b->len = (size_t)(w_int(b->data + b->len, v) - b->data);
    return r;
}

MP_INLINE spw_result put_uint(spw_buf *b, uint64_t v) {
    spw_result r = room(b, SCALAR_MAX);
    if (r == SPW_OK)
        b->len = (size_t)(w_uint(b->data + b->len, v) - b->data);
    return r;
}

MP_INLINE spw_result put_f64(spw_buf *b, double d) {
    spw_result r = room(b, SCALAR_MAX);
    if (r == SPW_OK)
        b->len = (size_t)(w_f64(b->data + b->len, d) - b->data);
    return r;
}

MP_INLINE spw_result put_count(spw_buf *b, uint32_t n, bool map) {
    spw_result r = room(b, 5);
    if (r == SPW_OK) {
        uint8_t *o = b->data + b->len;
        b->len = (size_t)((map ? w_map(o, n) : w_array(o, n)) - b->data);
    }
    return r;
}

#define NIL 0xc0

/* ---- text ---- */

/*
 * A string. MessagePack's str is UTF-8 by definition and strict decoders
 * (Python's, with raw=False) refuse anything else, so ill-formed text is
 * handled by invalid_utf8: replace writes each maximal ill-formed
 * subsequence as U+FFFD (as the JSON codecs do), bin writes the bytes as
 * a MessagePack bin, reject rejects. Names (is_name) must stay strings to
 * keep the layout, so there bin mode repairs instead. ASCII is checked a
 * word at a time; only text with high bytes is stepped through.
 */
static spw_result put_text(menc *e, const uint8_t *s, size_t n, bool is_name) {
    if (codec_is_ascii(s, n)) {
        spw_buf *b = e->out;
        spw_result r = n <= SPW_BUF_MAX ? room(b, n + HDR_MAX) : SPW_ERR_NOSPACE;
        if (r == SPW_OK)
            b->len = (size_t)(copy(w_str_hdr(b->data + b->len, n), s, n) - b->data);
        return r;
    }
    size_t bad = 0, out = 0;
    for (size_t i = 0; i < n;) {
        int k = codec_utf8_step(s + i, n - i);
        if (k > 0) {
            out += (size_t)k;
            i += (size_t)k;
        } else {
            out += 3; /* U+FFFD */
            i += (size_t)-k;
            bad++;
        }
    }
    if (bad == 0)
        return put_raw(e->out, RAW_STR, 0, s, n);
    int policy = e->c->cfg.invalid_utf8;
    if (policy == MCODEC_UTF8_REJECT)
        return reject(e, "a%s string is not valid UTF-8 (%zu ill-formed sequence%s; "
                         "invalid_utf8 = reject)",
                      is_name ? " name" : "", bad, bad == 1 ? "" : "s");
    if (policy == MCODEC_UTF8_BIN && !is_name)
        return put_raw(e->out, RAW_BIN, 0, s, n);
    if (out > SPW_BUF_MAX)
        return SPW_ERR_NOSPACE;
    spw_buf *b = e->out;
    spw_result r = room(b, out + HDR_MAX);
    if (r != SPW_OK)
        return r;
    uint8_t *o = w_str_hdr(b->data + b->len, out);
    for (size_t i = 0; i < n;) {
        int k = codec_utf8_step(s + i, n - i);
        if (k > 0) {
            memcpy(o, s + i, (size_t)k);
            o += k;
            i += (size_t)k;
        } else {
            *o++ = 0xEF;
            *o++ = 0xBF;
            *o++ = 0xBD;
            i += (size_t)-k;
        }
    }
    b->len = (size_t)(o - b->data);
    return SPW_OK;
}

static spw_result put_name(menc *e, spw_str s) {
    return put_text(e, (const uint8_t *)s.ptr, s.ptr ? s.len : 0, true);
}

/* ---- lists and maps ---- */

static const char *item_kind_name(spw_item_kind k) {
    switch (k) {
    case SPW_ITEM_NIL: return "nil";
    case SPW_ITEM_BOOL: return "a boolean";
    case SPW_ITEM_INT: case SPW_ITEM_UINT: return "an integer";
    case SPW_ITEM_DOUBLE: return "a double";
    case SPW_ITEM_STR: return "a string";
    case SPW_ITEM_BYTES: return "a blob";
    case SPW_ITEM_LIST: return "a list";
    case SPW_ITEM_MAP: return "a map";
    case SPW_ITEM_EXT: return "an extension value";
    }
    return "an unknown item";
}

/*
 * One walked item, key or value alike (map keys keep their MessagePack
 * type: an integer key stays an integer). Aerospike's type-prefixed bytes
 * become: string (prefix 3) -> str; plain blob (prefix 4, or a bin without
 * prefix) -> bin; any other particle type below 128 (GeoJSON 23, the
 * language blobs 7..12, HLL 18...) -> ext whose type is the particle type,
 * as the vendor does; a prefix of 128 and above is no particle type and
 * has no valid ext type (negative ext types are MessagePack's own: -1 is
 * a timestamp), so those bytes go as a bin, prefix byte included. Ext
 * values that are not order markers (wildcard, infinity: query operands,
 * never stored data) are nil, as in the JSON codecs: passing them on
 * would hand a reader an ext type -1 that is not a timestamp. A float32
 * is widened to float64 (the walker does).
 */
static spw_result put_item(menc *e, const spw_item *it) {
    spw_buf *b = e->out;
    switch (it->kind) {
    case SPW_ITEM_NIL: return put_byte(b, NIL);
    case SPW_ITEM_BOOL: return put_byte(b, it->u.b ? 0xc3 : 0xc2);
    case SPW_ITEM_INT: return put_int(b, it->u.i);
    case SPW_ITEM_UINT: return put_uint(b, it->u.u);
    case SPW_ITEM_DOUBLE: return put_f64(b, it->u.d);
    case SPW_ITEM_STR: return put_text(e, it->u.bytes.ptr, it->u.bytes.len, false);
    case SPW_ITEM_BYTES: {
        uint8_t pt = it->u.bytes.ptype;
        if (pt == SPW_PT_BLOB)
            return put_raw(b, RAW_BIN, 0, it->u.bytes.ptr, it->u.bytes.len);
        if (pt >= 0x80) /* ptr[-1] is the prefix byte: keep it */
            return put_raw(b, RAW_BIN, 0, it->u.bytes.ptr - 1, it->u.bytes.len + 1);
        return put_raw(b, RAW_EXT, pt, it->u.bytes.ptr, it->u.bytes.len);
    }
    case SPW_ITEM_LIST:
    case SPW_ITEM_MAP: return put_count(b, it->u.coll.count, it->kind == SPW_ITEM_MAP);
    default: return put_byte(b, NIL); /* SPW_ITEM_EXT */
    }
}

/*
 * Opens a LIST or MAP value: reads its first item (the container, which
 * carries the order flags) so the bin's flags can be written before it.
 */
static spw_result open_collection(menc *e, const spw_value *v, spw_walker *w, spw_item *top) {
    const char *kind = v->type == SPW_PT_MAP ? "map" : "list";
    if (spw_walk_init(w, v) != SPW_OK || spw_walk_next(w, top) != SPW_OK)
        return reject(e, "the %s value is malformed or truncated", kind);
    spw_item_kind want = v->type == SPW_PT_MAP ? SPW_ITEM_MAP : SPW_ITEM_LIST;
    if (top->kind != want)
        return reject(e, "the %s value holds %s", kind, item_kind_name(top->kind));
    return SPW_OK;
}

/* Writes the container opened by open_collection and everything in it.
 * The walker checks the structure (counts, lengths, nesting depth, bytes
 * after the end), so items can be written as they come: a MessagePack
 * container header is just its count. Order markers are gone (the walker
 * consumed them; the bin's flags carry the top-level order). */
static spw_result put_collection(menc *e, const spw_value *v, spw_walker *w, const spw_item *top) {
    spw_item it;
    spw_result r = put_item(e, top);
    while (r == SPW_OK) {
        r = spw_walk_next(w, &it);
        if (r == SPW_ERR_NOTFOUND)
            return SPW_OK;
        if (r != SPW_OK)
            return reject(e, "the %s value is malformed or truncated",
                          v->type == SPW_PT_MAP ? "map" : "list");
        r = put_item(e, &it);
    }
    return r;
}

/* ---- bins ---- */

/* The vendor's flags: list 1 ordered; map 1 key-ordered, 3 key-value-ordered. */
static unsigned order_flags(uint8_t type, uint8_t order) {
    if (type == SPW_PT_LIST)
        return order & SPW_ORDER_KEY ? 1 : 0;
    if ((order & SPW_ORDER_KEY_VALUE) == SPW_ORDER_KEY_VALUE)
        return 3;
    return order & SPW_ORDER_KEY ? 1 : 0;
}

/*
 * One bin entry: [name, particle type, flags, value(, lut|nil)]. Values:
 * nil for a deleted bin; int; float64; true/false; str; bin for the blob
 * family, vectors and HLL; str holding the text for GeoJSON (its cell ids
 * are the server's index, not data); array or map for lists and maps; a
 * particle type this codec does not know: its raw bytes as bin, its number
 * in the type position (lossless).
 *
 * This is the hot path, so the value is checked first (a malformed value
 * rejects before anything is written, and a collection's order flags must
 * be known before the head), then one reservation covers the head and any
 * fixed-size value. Integers and doubles are read straight from their
 * 8-byte wire form rather than through the SDK accessors: the check is
 * the same (8 bytes), without a call per bin.
 */
static spw_result put_bin(menc *e, const spw_bin *bin) {
    spw_buf *b = e->out;
    const spw_value *v = &bin->value;
    const uint8_t *name = (const uint8_t *)(bin->name.ptr ? bin->name.ptr : "");
    size_t nl = bin->name.len;
    unsigned flags = 0;
    uint64_t x = 0;
    spw_walker w;
    spw_item top;
    spw_geojson g;
    spw_result r;
    e->what = "bin";
    e->name = (spw_str){(const char *)name, nl};

    switch (v->type) {
    case SPW_PT_NIL:
        break;
    case SPW_PT_INTEGER:
    case SPW_PT_DOUBLE:
        if (v->len != 8 || !v->data)
            return reject(e, "malformed %s value (%zu bytes)",
                          v->type == SPW_PT_INTEGER ? "integer" : "double", v->len);
        x = load_be64(v->data);
        break;
    case SPW_PT_BOOL:
        if (v->len != 1 || !v->data || v->data[0] > 1)
            return reject(e, "malformed boolean value (%zu bytes)", v->len);
        x = v->data[0];
        break;
    case SPW_PT_LIST:
    case SPW_PT_MAP:
        if ((r = open_collection(e, v, &w, &top)) != SPW_OK)
            return r;
        flags = order_flags(v->type, top.u.coll.order);
        break;
    case SPW_PT_GEOJSON:
        if (spw_value_geojson(v, &g) != SPW_OK)
            return reject(e, "malformed GeoJSON value (%zu bytes)", v->len);
        break;
    default:
        break;
    }

    uint8_t *o;
    if (codec_is_ascii(name, nl)) { /* the usual name: no UTF-8 policy to apply */
        if ((r = room(b, 1 + HDR_MAX + nl + 2 + 1 + SCALAR_MAX)) != SPW_OK)
            return r;
        o = b->data + b->len;
        *o++ = e->c->cfg.bin_luts ? 0x95 : 0x94;
        o = copy(w_str_hdr(o, nl), name, nl);
    } else {
        if ((r = put_byte(b, e->c->cfg.bin_luts ? 0x95 : 0x94)) != SPW_OK ||
            (r = put_name(e, e->name)) != SPW_OK || (r = room(b, 2 + 1 + SCALAR_MAX)) != SPW_OK)
            return r;
        o = b->data + b->len;
    }
    o = w_uint(o, v->type);
    *o++ = (uint8_t)flags;

    switch (v->type) {
    case SPW_PT_NIL:
        *o++ = NIL;
        break;
    case SPW_PT_INTEGER:
        o = w_int(o, (int64_t)x);
        break;
    case SPW_PT_DOUBLE:
        *o++ = 0xcb;
        o = be64(o, x);
        break;
    case SPW_PT_BOOL:
        *o++ = x ? 0xc3 : 0xc2;
        break;
    default:
        break;
    }
    b->len = (size_t)(o - b->data);

    switch (v->type) {
    case SPW_PT_NIL:
    case SPW_PT_INTEGER:
    case SPW_PT_DOUBLE:
    case SPW_PT_BOOL:
        r = SPW_OK;
        break;
    case SPW_PT_STRING:
        r = put_text(e, v->data, v->data ? v->len : 0, false);
        break;
    case SPW_PT_LIST:
    case SPW_PT_MAP:
        r = put_collection(e, v, &w, &top);
        break;
    case SPW_PT_GEOJSON:
        r = put_text(e, (const uint8_t *)g.text.ptr, g.text.len, false);
        break;
    default: /* the blob family, vectors, HLL, and types this codec does not know */
        r = put_raw(b, RAW_BIN, 0, v->data, v->data ? v->len : 0);
        break;
    }
    if (r == SPW_OK && e->c->cfg.bin_luts)
        r = bin->lut_ms ? put_int(b, bin->lut_ms) : put_byte(b, NIL);
    return r;
}

/* ---- the record ---- */

/* User key: integer as int, double as float64, string as str, blob (and
 * any other type a source should not send) as bin; none: nil. */
static spw_result put_user_key(menc *e, const spw_event *ev) {
    spw_buf *b = e->out;
    spw_value k;
    e->what = "user key";
    e->name = (spw_str){NULL, 0};
    if (!spw_event_key(ev, &k))
        return put_byte(b, NIL);
    switch (k.type) {
    case SPW_PT_INTEGER: {
        int64_t i;
        if (spw_value_int(&k, &i) != SPW_OK)
            return reject(e, "malformed integer (%zu bytes)", k.len);
        return put_int(b, i);
    }
    case SPW_PT_DOUBLE: {
        double d;
        if (spw_value_double(&k, &d) != SPW_OK)
            return reject(e, "malformed double (%zu bytes)", k.len);
        return put_f64(b, d);
    }
    case SPW_PT_STRING:
        return put_text(e, k.data, k.data ? k.len : 0, false);
    default:
        return put_raw(b, RAW_BIN, 0, k.data, k.data ? k.len : 0);
    }
}

static unsigned meta_wanted(const spw_event *ev) {
    static const spw_meta fields[] = {SPW_META_NAMESPACE, SPW_META_SET, SPW_META_KEY,
                                      SPW_META_DIGEST,    SPW_META_MSG, SPW_META_GEN,
                                      SPW_META_LUT,       SPW_META_EXP, SPW_META_DURABLE};
    unsigned m = 0;
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        if (spw_event_meta_wanted(ev, fields[i]))
            m |= (unsigned)fields[i];
    return m;
}

static spw_result put_record(menc *e, const spw_event *ev) {
    spw_buf *b = e->out;
    spw_op op = spw_event_op(ev);
    unsigned want = meta_wanted(ev);
    spw_result r;
    if (op != SPW_OP_WRITE && op != SPW_OP_DELETE) {
        e->what = "record";
        return reject(e, "unknown operation %d", (int)op);
    }
    bool del_meta = op == SPW_OP_DELETE && e->c->cfg.delete_metadata;
    /* [1, TYPE, [KEY... : at most 3 + 1 + 1 + 1 bytes before the namespace */
    if ((r = room(b, 8)) != SPW_OK)
        return r;
    uint8_t *o = b->data + b->len;
    *o++ = e->c->id ? 0x94 : 0x93;
    *o++ = 0x01;
    *o++ = !(want & SPW_META_MSG) ? NIL : op == SPW_OP_WRITE ? 0x01 : 0x02;
    *o++ = op == SPW_OP_WRITE ? 0x95 : del_meta ? 0x94 : 0x92;
    *o++ = 0x94;
    b->len = (size_t)(o - b->data);

    e->what = "namespace";
    r = (want & SPW_META_NAMESPACE) ? put_name(e, spw_event_namespace(ev)) : put_byte(b, NIL);
    if (r != SPW_OK)
        return r;
    spw_str set = spw_event_set(ev);
    e->what = "set";
    r = set.ptr && (want & SPW_META_SET) ? put_name(e, set) : put_byte(b, NIL);
    if (r == SPW_OK)
        r = (want & SPW_META_DIGEST) ? put_raw(b, RAW_BIN, 0, spw_event_digest(ev), 20)
                                     : put_byte(b, NIL);
    if (r == SPW_OK)
        r = (want & SPW_META_KEY) ? put_user_key(e, ev) : put_byte(b, NIL);
    if (r != SPW_OK)
        return r;

    int64_t lut = spw_event_lut_ms(ev);
    if (op == SPW_OP_DELETE) {
        r = (want & SPW_META_DURABLE) ? put_byte(b, spw_event_durable(ev) ? 0x01 : 0x00)
                                      : put_byte(b, NIL);
        if (r == SPW_OK && del_meta)
            r = (want & SPW_META_GEN) ? put_uint(b, spw_event_generation(ev)) : put_byte(b, NIL);
        if (r == SPW_OK && del_meta)
            r = (want & SPW_META_LUT) && lut ? put_int(b, lut) : put_byte(b, NIL);
        return r;
    }

    if ((r = room(b, 3 * SCALAR_MAX + 5)) != SPW_OK)
        return r;
    o = b->data + b->len;
    if (want & SPW_META_GEN)
        o = w_uint(o, spw_event_generation(ev));
    else
        *o++ = NIL;
    if (want & SPW_META_EXP)
        o = w_int(o, spw_event_expiry(ev)); /* 0: never expires */
    else
        *o++ = NIL;
    if ((want & SPW_META_LUT) && lut)
        o = w_int(o, lut);
    else
        *o++ = NIL;
    size_t n = spw_event_bin_count(ev);
    if (n > UINT32_MAX) {
        e->what = "record";
        return reject(e, "more bins than a MessagePack array holds");
    }
    o = w_array(o, (uint32_t)n);
    b->len = (size_t)(o - b->data);
    for (size_t i = 0; i < n; i++) {
        const spw_bin *bin = spw_event_bin(ev, i);
        if (!bin)
            continue;
        if ((r = put_bin(e, bin)) != SPW_OK)
            return r;
    }
    return SPW_OK;
}

/* The idempotency key after the payload, rendered by the SDK's ${id} (the header's key byte
 * for byte): 40 hex digits, '-', a decimal LUT, so always a str8 of under 256 bytes. */
static spw_result put_id(menc *e, const spw_event *ev) {
    spw_buf *b = e->out;
    spw_result r = room(b, 2);
    if (r != SPW_OK)
        return r;
    size_t hdr = b->len;
    b->data[b->len++] = 0xd9;
    b->data[b->len++] = 0;
    if ((r = spw_template_render(e->c->id, ev, SPW_TPL_RAW, b)) != SPW_OK)
        return r;
    size_t n = b->len - hdr - 2;
    if (n > 255)
        return reject(e, "idempotency key of %zu bytes", n);
    b->data[hdr + 1] = (uint8_t)n;
    return SPW_OK;
}

spw_result mcodec_encode(const mcodec *c, const spw_event *ev, spw_buf *out, spw_err *err) {
    menc e = {c, out, err, "record", {NULL, 0}};
    size_t start = out->len;
    spw_result r = put_record(&e, ev);
    if (r == SPW_OK && c->id)
        r = put_id(&e, ev);
    if (r == SPW_OK)
        return SPW_OK;
    out->len = start;
    if (r == SPW_ERR_NOSPACE) /* will never fit, however often it is retried */
        return spw_err_set(err, SPW_REJECT, "msgpack codec: the record encodes to more than %zu bytes",
                           (size_t)SPW_BUF_MAX);
    if (r < 0)
        return spw_err_set(err, r, "msgpack codec: %s", spw_result_str(r));
    return r;
}

/* ---- batches ---- */

/* A MessagePack array of the messages: its header, then the messages as
 * they were encoded (each is one complete MessagePack value). */
spw_result mcodec_frame(const mcodec *c, const spw_slice *recs, size_t n, spw_buf *out,
                        spw_err *err) {
    (void)c;
    size_t total = 5;
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len > SPW_BUF_MAX - total)
            return spw_err_set(err, SPW_REJECT, "msgpack codec: the batch is larger than %zu bytes",
                               (size_t)SPW_BUF_MAX);
        total += recs[i].len;
    }
    if (n > UINT32_MAX)
        return spw_err_set(err, SPW_REJECT, "msgpack codec: more records than an array holds");
    spw_result r = spw_buf_reserve(out, total);
    if (r != SPW_OK)
        return spw_err_set(err, r, "msgpack codec: cannot frame the batch: %s", spw_result_str(r));
    uint8_t *o = w_array(out->data + out->len, (uint32_t)n);
    for (size_t i = 0; i < n; i++) {
        if (recs[i].len)
            memcpy(o, recs[i].ptr, recs[i].len);
        o += recs[i].len;
    }
    out->len = (size_t)(o - out->data);
    return SPW_OK;
}

const char *mcodec_content_type(const mcodec *c, bool batch) {
    (void)c;
    (void)batch;
    return "application/x-msgpack";
}

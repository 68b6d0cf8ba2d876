/*
 * plugins/codec-json/encode.h: the JSON codecs' internals. Two plugins are
 * built from these sources: `json` (json.c, encode.c: the vendor's typed
 * record shape) and `flat-json` (plugins/codec-flat-json/record.c: bins
 * as top-level members). Both compile the shared value writer (value.c), the
 * text primitives (text.c), the UTF-8 stepper (utf8.c) and the GeoJSON
 * embedder (embed.c), so every value is rendered by one copy of the code.
 * The unit tests compile the same sources to test them without the loader.
 *
 * Nothing here is exported from the plugins: the build hides every symbol
 * but the descriptor.
 */
#ifndef SPW_CODEC_JSON_ENCODE_H
#define SPW_CODEC_JSON_ENCODE_H

#include <locale.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <spillway/spillway.h>
#include "utf8.h"

/* Values of the ENUM options, in the order of their `choices` strings. */
enum jcodec_batch { JCODEC_BATCH_NDJSON = 0, JCODEC_BATCH_ARRAY = 1 };
enum jcodec_utf8 { JCODEC_UTF8_REPLACE = 0, JCODEC_UTF8_BASE64 = 1, JCODEC_UTF8_REJECT = 2 };
enum jcodec_nonfinite {
    JCODEC_NONFINITE_STRING = 0,
    JCODEC_NONFINITE_NULL = 1,
    JCODEC_NONFINITE_REJECT = 2,
};

/* The parsed options; the core fills it from the option table in json.c. */
typedef struct jcodec_config {
    int batch_format;        /* enum jcodec_batch */
    bool delete_metadata;    /* add "gen" and "lut" to deletes */
    bool bin_luts;           /* add "lut" to bins that carry one */
    bool stringify_map_keys; /* off: a non-string map key rejects the record */
    int invalid_utf8;        /* enum jcodec_utf8 */
    int non_finite;          /* enum jcodec_nonfinite */
    char *id_field;          /* NULL or "": no idempotency key member */
} jcodec_config;

/* One encoder per worker. */
typedef struct jcodec {
    jcodec_config cfg;
    /* The "C" numeric locale, so doubles never print with a decimal comma
     * whatever locale the process runs in. */
    locale_t c_locale;
    const char *label; /* "json codec", "flat-json codec": starts every error message */
    spw_template *id;  /* "${id}" when id_field is set, else NULL */
    spw_str id_name;
} jcodec;

/* ---- value.c: what both JSON codecs write the same way ---- */

/* Prepares an encoder with a copy of cfg (label "json codec"). SPW_ERR_NOMEM
 * when the locale cannot be made. */
spw_result jcodec_init(jcodec *c, const jcodec_config *cfg);
void jcodec_fini(jcodec *c);

/* State of one encode call. */
typedef struct jenc {
    const jcodec *c;
    spw_buf *out;
    spw_err *err;
    const char *what;  /* "bin", "user key", "namespace", "set": for error text */
    spw_str name;      /* the bin's name when what is "bin" */
} jenc;

/*
 * Rejects the record with "LABEL: WHERE: WHY", WHERE naming the bin when
 * there is one (unprintable bytes shown as '?', cut at 64 bytes: names come
 * from the wire and must not carry terminal escapes into a log line).
 */
spw_result jenc_reject(jenc *e, const char *fmt, ...) SPW_PRINTF(2, 3);

/* Scalars (jenc_i64 and jenc_u64 are inline, further down). */
spw_result jenc_b64(spw_buf *b, const uint8_t *p, size_t n); /* "Base64" */
/* A name (namespace, set, bin, metadata key) as a JSON string: repaired
 * under invalid_utf8 = replace or base64, rejected under reject (jenc_name
 * is inline, below jcodec_put_str; jenc_name_bad says why it rejects).
 * Names keep their place as strings: base64 mode cannot apply. */
spw_result jenc_name_bad(jenc *e);
/* The user key: number, string, Base64 or null. */
spw_result jenc_user_key(jenc *e, const spw_event *ev);

/* What jenc_bin_value found out while writing a bin's value. */
typedef struct jbin_info {
    uint8_t order;    /* LIST/MAP: the top-level order flags */
    bool as_b64;      /* STRING: written as Base64 (invalid_utf8 = base64) */
} jbin_info;

/*
 * Writes a bin's value (only the value) as JSON: numbers, strings,
 * true/false, Base64 for every kind of bytes, arrays and objects for lists
 * and maps, GeoJSON as an object, null for a deleted bin, and Base64 of
 * the raw bytes for a particle type this codec does not know. e->name
 * must name the bin. SPW_REJECT (err set) for malformed values or a policy
 * saying reject; the caller rolls the record back.
 */
spw_result jenc_bin_value(jenc *e, const spw_bin *bin, jbin_info *info);

/* id_field: not one of the `taken` member names (NULL-terminated), valid UTF-8. */
spw_result jcodec_check_id(const jcodec_config *cfg, const char *const *taken, spw_err *err);
/* pre (a separator), then `"ID_FIELD":"DIGESTHEX-LUT"`: the idempotency key, rendered by the
 * SDK's ${id} template so that it is byte for byte the key a header template gives. Only
 * when c->id is set. */
spw_result jenc_id(jenc *e, const spw_event *ev, const char *pre, size_t plen);

/* The spw_meta bits the route wants for ev (every field unless excluded). */
unsigned jcodec_meta_wanted(const spw_event *ev);

/* Finishes an encode: on success returns SPW_OK; otherwise rolls out back
 * to `start` and turns buffer errors into a reasoned result. */
spw_result jcodec_finish(const jcodec *c, spw_buf *out, size_t start, spw_result r, spw_err *err);

/* ---- encode.c: the typed record shape of the `json` codec ---- */

/*
 * Appends one record to out. On anything but SPW_OK, out is left exactly
 * as it was. SPW_REJECT (err set, naming the bin) when the event cannot be
 * written under the configured policies or its values are malformed;
 * SPW_ERR_NOMEM when the buffer cannot grow.
 */
spw_result jcodec_encode(const jcodec *c, const spw_event *ev, spw_buf *out, spw_err *err);
/* The bins alone, `[BIN,...]` as in the record (core/taps.c shows them). */
spw_result jcodec_encode_bins(const jcodec *c, const spw_event *ev, spw_buf *out, spw_err *err);

/* ---- value.c: batches ---- */

/* Frames n records as NDJSON or as one JSON array, appended to out. */
spw_result jcodec_frame(const jcodec *c, const spw_slice *recs, size_t n, spw_buf *out,
                        spw_err *err);
const char *jcodec_content_type(const jcodec *c, bool batch);

/* ---- text.c: the JSON writing primitives ---- */

/* UTF-8 validation is codec_utf8_step (utf8.h), shared with msgpack. */

/*
 * Appends s as a quoted, escaped JSON string; each ill-formed UTF-8
 * subsequence becomes U+FFFD and is counted in *bad.
 */
spw_result jcodec_put_string(spw_buf *b, const uint8_t *s, size_t n, size_t *bad);

/*
 * Writes a finite double into buf (at least JCODEC_DOUBLE_MAX bytes, not
 * NUL-terminated) as the shortest decimal that reads back to exactly d,
 * always with a '.' or an exponent so JSON readers see a float; returns
 * the length.
 */
#define JCODEC_DOUBLE_MAX 32
size_t jcodec_fmt_double(char *buf, double d, locale_t loc);
/* Decimal integers into buf (at least 21 bytes); return the length. */
size_t jcodec_fmt_i64(char *buf, int64_t v);
size_t jcodec_fmt_u64(char *buf, uint64_t v);

/* Grows b so that `extra` more bytes fit; the slow half of jcodec_room. */
spw_result jcodec_grow(spw_buf *b, size_t extra);

/* Always inlined: with a constant n (JCODEC_LIT) the copy becomes a few
 * moves instead of a call, which is most of the cost of a small token. */
#define JCODEC_INLINE static inline __attribute__((always_inline))

JCODEC_INLINE spw_result jcodec_room(spw_buf *b, size_t extra) {
    return b->cap - b->len >= extra ? SPW_OK : jcodec_grow(b, extra);
}

JCODEC_INLINE spw_result jcodec_put(spw_buf *b, const void *p, size_t n) {
    spw_result r = jcodec_room(b, n);
    if (r != SPW_OK)
        return r;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return SPW_OK;
}

/* Appends a string literal (no NUL). */
#define JCODEC_LIT(b, s) jcodec_put((b), (s), sizeof(s) - 1)

/*
 * True when one of the bytes in v (8, or the low 4 with the 32-bit
 * masks) needs attention in a JSON string: '"', '\\', below 0x20, or
 * >= 0x80. While every byte is below 0x80 no subtraction borrows unless a
 * byte is '"' or '\\' (its xor is 0) or below 0x20, so a high bit in the
 * result means exactly that; a byte >= 0x80 sets its own. A false positive
 * would only send the caller to the byte loop; there are no false negatives.
 */
#define JCODEC_ONES 0x0101010101010101ull
#define JCODEC_HIGHS 0x8080808080808080ull
JCODEC_INLINE bool jcodec_word_special(uint64_t v) {
    uint64_t q = v ^ (JCODEC_ONES * '"'), s = v ^ (JCODEC_ONES * '\\');
    return ((q - JCODEC_ONES) | (s - JCODEC_ONES) | (v - JCODEC_ONES * 0x20) | v) & JCODEC_HIGHS;
}
JCODEC_INLINE bool jcodec_word4_special(uint32_t v) {
    const uint32_t ones = 0x01010101u, highs = 0x80808080u;
    uint32_t q = v ^ (ones * '"'), s = v ^ (ones * '\\');
    return ((q - ones) | (s - ones) | (v - ones * 0x20) | v) & highs;
}

/*
 * pre (a constant, usually a separator or a member name: plen <= 32) then
 * s as a JSON string, as jcodec_put(pre) and jcodec_put_string(s) would
 * write them. Inlined for the common case: names, keys and values up to
 * 64 bytes of plain printable ASCII are checked and copied a word at a
 * time (the last word overlapping the one before), with no call and no
 * byte loop. Anything else (longer, escapes, non-ASCII, a buffer to grow)
 * goes to jcodec_put_string; words stored past b->len before bailing out
 * are simply overwritten.
 */
JCODEC_INLINE spw_result jcodec_put_str_pre(spw_buf *b, const char *pre, size_t plen,
                                            const uint8_t *s, size_t n, size_t *bad) {
    if (n <= 64 && b->cap - b->len >= 66 + plen) {
        uint8_t *o = b->data + b->len;
        if (n >= 8) {
            uint64_t x;
            for (size_t i = 0; i + 8 < n; i += 8) {
                memcpy(&x, s + i, 8);
                if (jcodec_word_special(x))
                    goto slow;
                memcpy(o + plen + 1 + i, &x, 8);
            }
            memcpy(&x, s + n - 8, 8);
            if (jcodec_word_special(x))
                goto slow;
            memcpy(o + plen + 1 + n - 8, &x, 8);
        } else if (n >= 4) {
            uint32_t x, y;
            memcpy(&x, s, 4);
            memcpy(&y, s + n - 4, 4);
            if (jcodec_word_special((uint64_t)x | (uint64_t)y << 32))
                goto slow;
            memcpy(o + plen + 1, &x, 4);
            memcpy(o + plen + 1 + n - 4, &y, 4);
        } else if (n > 0) {
            /* 1 to 3 bytes: first, middle and last cover them all. */
            uint8_t c0 = s[0], c1 = s[n / 2], c2 = s[n - 1];
            if (jcodec_word4_special((uint32_t)c0 | (uint32_t)c1 << 8 | (uint32_t)c2 << 16 |
                                     (uint32_t)'a' << 24))
                goto slow;
            o[plen + 1] = c0;
            o[plen + 1 + n / 2] = c1;
            o[plen + n] = c2;
        }
        if (plen)
            memcpy(o, pre, plen);
        o[plen] = '"';
        o[plen + n + 1] = '"';
        b->len += plen + n + 2;
        return SPW_OK;
    }
slow:;
    spw_result r = jcodec_put(b, pre, plen);
    return r == SPW_OK ? jcodec_put_string(b, s, n, bad) : r;
}

JCODEC_INLINE spw_result jcodec_put_str(spw_buf *b, const uint8_t *s, size_t n, size_t *bad) {
    return jcodec_put_str_pre(b, "", 0, s, n, bad);
}

/* A name after a constant prefix (see jenc_name). */
JCODEC_INLINE spw_result jenc_name_pre(jenc *e, const char *pre, size_t plen, spw_str s) {
    size_t bad = 0;
    spw_result r = jcodec_put_str_pre(e->out, pre, plen, (const uint8_t *)s.ptr, s.len, &bad);
    if (r == SPW_OK && bad && e->c->cfg.invalid_utf8 == JCODEC_UTF8_REJECT)
        return jenc_name_bad(e);
    return r;
}

JCODEC_INLINE spw_result jenc_name(jenc *e, spw_str s) { return jenc_name_pre(e, "", 0, s); }

/* Integers, into a buffer with 20 bytes of room (the digits in text.c). */
JCODEC_INLINE spw_result jenc_i64(spw_buf *b, int64_t v) {
    spw_result r = jcodec_room(b, 20);
    if (r == SPW_OK)
        b->len += jcodec_fmt_i64((char *)b->data + b->len, v);
    return r;
}

JCODEC_INLINE spw_result jenc_u64(spw_buf *b, uint64_t v) {
    spw_result r = jcodec_room(b, 20);
    if (r == SPW_OK)
        b->len += jcodec_fmt_u64((char *)b->data + b->len, v);
    return r;
}

/* ---- embed.c: GeoJSON text as a JSON object ---- */

/*
 * When p[0..n) is one strict RFC 8259 JSON object, appends it to out with
 * insignificant whitespace removed (so NDJSON stays one line) and returns
 * SPW_OK. Returns SPW_ERR_INVAL, with out unchanged, when it is not: a
 * syntax error, another top-level type, ill-formed UTF-8, an unpaired
 * surrogate escape, a number that overflows a double, or nesting deeper
 * than JCODEC_EMBED_MAX_DEPTH. Other errors: the buffer could not grow.
 */
#define JCODEC_EMBED_MAX_DEPTH 64
spw_result jcodec_embed_object(spw_buf *out, const uint8_t *p, size_t n, locale_t loc);

#endif /* SPW_CODEC_JSON_ENCODE_H */

/*
 * plugins/codec-avro/text.c: the text the avro codec has to make up or
 * repair: Avro strings from bytes that are meant to be UTF-8 but may not
 * be, map keys from MessagePack keys that are not strings, and names
 * quoted in error messages.
 *
 * Avro strings must be UTF-8 (readers such as Python's refuse the record
 * otherwise), Aerospike strings are not guaranteed to be, and Avro map
 * keys are strings while Aerospike's may be integers, doubles or blobs.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "acodec.h"

bool acodec_grow(aw *w, size_t extra) {
    if (w->err != SPW_OK)
        return false;
    spw_result r = spw_buf_reserve(w->b, extra);
    if (r != SPW_OK) {
        w->err = r;
        return false;
    }
    return true;
}

/*
 * The length of the well-formed UTF-8 sequence at p (1..4), or minus the
 * length of its maximal ill-formed prefix: the bytes one U+FFFD replaces
 * under Unicode's "maximal subpart" practice, which Python's "replace"
 * error handler follows. n >= 1.
 */
static int utf8_step(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    int need;
    uint8_t lo = 0x80, hi = 0xBF; /* the range allowed for the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        need = 1;
    else if (c == 0xE0)
        need = 2, lo = 0xA0; /* no overlongs */
    else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF)
        need = 2;
    else if (c == 0xED)
        need = 2, hi = 0x9F; /* no surrogates */
    else if (c == 0xF0)
        need = 3, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3)
        need = 3;
    else if (c == 0xF4)
        need = 3, hi = 0x8F; /* nothing above U+10FFFF */
    else
        return -1;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n || p[i] < lo || p[i] > hi)
            return -i;
        lo = 0x80, hi = 0xBF;
    }
    return need + 1;
}

static const uint8_t replacement[3] = {0xEF, 0xBF, 0xBD}; /* U+FFFD */

void acodec_put_text(aw *w, const uint8_t *s, size_t n, size_t *bad) {
    if (spw_utf8_valid(s, n)) {
        aw_bytes(w, s, n);
        return;
    }
    /* Two passes: the length comes first in Avro. */
    size_t out = 0, repairs = 0;
    for (size_t i = 0; i < n;) {
        int k = utf8_step(s + i, n - i);
        if (k > 0) {
            out += (size_t)k;
            i += (size_t)k;
        } else {
            out += 3;
            repairs++;
            i += (size_t)-k;
        }
    }
    *bad += repairs;
    aw_long(w, (int64_t)out);
    if (!aw_room(w, out))
        return;
    uint8_t *o = w->b->data + w->b->len;
    for (size_t i = 0; i < n;) {
        int k = utf8_step(s + i, n - i);
        if (k > 0) {
            memcpy(o, s + i, (size_t)k);
            o += k;
            i += (size_t)k;
        } else {
            memcpy(o, replacement, 3);
            o += 3;
            i += (size_t)-k;
        }
    }
    w->b->len += out;
}

/* ---- map keys ---- */

/*
 * The shortest decimal that reads back to exactly d, always with a '.' or
 * an exponent ("1.0", "0.1", "1e+300"), as the json codec writes doubles
 * and Python's repr reads: the same key looks the same in every format.
 * Formatting under the "C" locale so a decimal comma never appears.
 */
static size_t fmt_double(char *buf, size_t cap, double d, locale_t loc) {
    if (isnan(d))
        return (size_t)snprintf(buf, cap, "NaN");
    if (isinf(d))
        return (size_t)snprintf(buf, cap, d > 0 ? "Infinity" : "-Infinity");
    locale_t old = loc ? uselocale(loc) : (locale_t)0;
    int n = 0;
    for (int prec = 1; prec <= 17; prec++) {
        n = snprintf(buf, cap, "%.*g", prec, d);
        double back = loc ? strtod_l(buf, NULL, loc) : strtod(buf, NULL);
        if (back == d)
            break;
    }
    if (old)
        uselocale(old);
    if (n < 0 || (size_t)n >= cap)
        return 0;
    if (!strpbrk(buf, ".e") && (size_t)n + 2 < cap) {
        memcpy(buf + n, ".0", 3);
        n += 2;
    }
    return (size_t)n;
}

spw_result acodec_put_key(aw *w, const spw_item *it, bool stringify, locale_t loc, size_t *bad,
                          const char **why) {
    if (it->kind == SPW_ITEM_STR) {
        acodec_put_text(w, it->u.bytes.ptr, it->u.bytes.len, bad);
        return SPW_OK;
    }
    if (it->kind == SPW_ITEM_LIST || it->kind == SPW_ITEM_MAP) {
        *why = it->kind == SPW_ITEM_LIST ? "a map key is a list, which has no string form"
                                         : "a map key is a map, which has no string form";
        return SPW_REJECT;
    }
    if (!stringify) {
        *why = "a map key is not a string and stringify_map_keys is off";
        return SPW_REJECT;
    }
    char tmp[40];
    size_t n;
    switch (it->kind) {
    case SPW_ITEM_INT:
        n = (size_t)snprintf(tmp, sizeof tmp, "%" PRId64, it->u.i);
        break;
    case SPW_ITEM_UINT:
        n = (size_t)snprintf(tmp, sizeof tmp, "%" PRIu64, it->u.u);
        break;
    case SPW_ITEM_DOUBLE:
        n = fmt_double(tmp, sizeof tmp, it->u.d, loc);
        break;
    case SPW_ITEM_BOOL:
        n = (size_t)snprintf(tmp, sizeof tmp, "%s", it->u.b ? "true" : "false");
        break;
    case SPW_ITEM_BYTES:
        if (it->u.bytes.ptype == SPW_PT_GEOJSON) {
            acodec_put_text(w, it->u.bytes.ptr, it->u.bytes.len, bad);
            return SPW_OK;
        }
        /* Base64, as the JSON formats write blob keys. */
        aw_long(w, (int64_t)(4 * ((it->u.bytes.len + 2) / 3)));
        if (w->err == SPW_OK) {
            spw_result r = spw_buf_append_base64(w->b, it->u.bytes.ptr, it->u.bytes.len);
            if (r != SPW_OK)
                w->err = r;
        }
        return SPW_OK;
    default: /* nil, extension values (wildcard, infinity) */
        n = (size_t)snprintf(tmp, sizeof tmp, "null");
        break;
    }
    aw_bytes(w, tmp, n);
    return SPW_OK;
}

const char *acodec_item_name(const spw_item *it) {
    switch (it->kind) {
    case SPW_ITEM_NIL: return "nil";
    case SPW_ITEM_BOOL: return "a boolean";
    case SPW_ITEM_INT: case SPW_ITEM_UINT: return "an integer";
    case SPW_ITEM_DOUBLE: return "a double";
    case SPW_ITEM_STR: return "a string";
    case SPW_ITEM_BYTES:
        return it->u.bytes.ptype == SPW_PT_GEOJSON ? "a GeoJSON value" : "a blob";
    case SPW_ITEM_LIST: return "a list";
    case SPW_ITEM_MAP: return "a map";
    case SPW_ITEM_EXT: return "an extension value";
    }
    return "an unknown item";
}

/* Names come from the wire: an error message must not carry terminal escapes. */
void acodec_clean_name(char *buf, size_t cap, const void *p, size_t n) {
    const unsigned char *s = p;
    size_t max = cap > 4 ? cap - 4 : 0, k = 0;
    if (max > 64)
        max = 64;
    for (size_t i = 0; i < n && k < max; i++)
        buf[k++] = s[i] >= 0x20 && s[i] < 0x7F ? (char)s[i] : '?';
    if (n > max && cap >= 4) {
        memcpy(buf + k, "...", 3);
        k += 3;
    }
    if (cap)
        buf[k < cap ? k : cap - 1] = '\0';
}

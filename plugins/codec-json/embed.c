/*
 * plugins/codec-json/embed.c: a strict JSON checker that copies GeoJSON
 * text into the output as an object, minus insignificant whitespace.
 *
 * GeoJSON bins hold whatever text a client stored; the server checks it
 * only loosely. Pasting text that is not JSON would make the whole record
 * unreadable, and a pretty-printed document would split an NDJSON line,
 * so the text is embedded only after this checker accepted it, and it is
 * written without its whitespace. What it accepts is RFC 8259 with the
 * limits a consumer may also impose: well-formed UTF-8, no unpaired
 * surrogate escapes, numbers that fit a double, bounded nesting.
 *
 * The output is never longer than the input, so one reservation covers
 * it and the copy needs no bounds checks.
 */
#include <math.h>
#include <stdlib.h>
#include "encode.h"

typedef struct scan {
    const uint8_t *p, *end;
    uint8_t *o; /* output cursor */
    locale_t loc;
} scan;

static inline void skip_ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

static inline bool is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

static int hex_value(uint8_t c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads the 4 hex digits of a \u escape at p; -1 when they are not there. */
static long read_u4(const uint8_t *p, const uint8_t *end) {
    if (end - p < 4)
        return -1;
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(p[i]);
        if (h < 0)
            return -1;
        v = v << 4 | h;
    }
    return v;
}

static bool scan_string(scan *s) {
    const uint8_t *start = s->p++; /* the opening quote */
    for (;;) {
        if (s->p >= s->end)
            return false;
        uint8_t c = *s->p;
        if (c == '"') {
            s->p++;
            break;
        }
        if (c < 0x20)
            return false;
        if (c == '\\') {
            if (s->end - s->p < 2)
                return false;
            uint8_t e = s->p[1];
            if (e == 'u') {
                long u = read_u4(s->p + 2, s->end);
                if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
                    return false; /* bad hex, or a low surrogate alone */
                s->p += 6;
                if (u >= 0xD800 && u <= 0xDBFF) { /* must pair with a low one */
                    if (s->end - s->p < 6 || s->p[0] != '\\' || s->p[1] != 'u')
                        return false;
                    long lo = read_u4(s->p + 2, s->end);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                    s->p += 6;
                }
                continue;
            }
            if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' &&
                e != 'r' && e != 't')
                return false;
            s->p += 2;
            continue;
        }
        if (c >= 0x80) {
            int k = codec_utf8_step(s->p, (size_t)(s->end - s->p));
            if (k < 0)
                return false;
            s->p += k;
            continue;
        }
        s->p++;
    }
    size_t n = (size_t)(s->p - start);
    memcpy(s->o, start, n);
    s->o += n;
    return true;
}

static bool scan_number(scan *s) {
    const uint8_t *start = s->p, *q = s->p, *end = s->end;
    bool plain = true; /* no fraction, no exponent */
    if (q < end && *q == '-')
        q++;
    if (q >= end || !is_digit(*q))
        return false;
    if (*q == '0')
        q++;
    else
        while (q < end && is_digit(*q))
            q++;
    const uint8_t *int_end = q;
    if (q < end && *q == '.') {
        plain = false;
        q++;
        if (q >= end || !is_digit(*q))
            return false;
        while (q < end && is_digit(*q))
            q++;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        plain = false;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        if (q >= end || !is_digit(*q))
            return false;
        while (q < end && is_digit(*q))
            q++;
    }
    size_t n = (size_t)(q - start);
    /* Only an exponent or more than 300 integer digits can overflow a
     * double: ask strtod about those (C locale: '.' is the radix). */
    if (!plain || int_end - start > 300) {
        char tmp[512];
        if (n >= sizeof tmp)
            return false; /* a 500-character number in a GeoJSON: not worth embedding */
        memcpy(tmp, start, n);
        tmp[n] = '\0';
        double d = s->loc ? strtod_l(tmp, NULL, s->loc) : strtod(tmp, NULL);
        if (!isfinite(d))
            return false;
    }
    memcpy(s->o, start, n);
    s->o += n;
    s->p = q;
    return true;
}

static bool scan_word(scan *s, const char *w, size_t n) {
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, w, n) != 0)
        return false;
    memcpy(s->o, w, n);
    s->o += n;
    s->p += n;
    return true;
}

static bool scan_value(scan *s, unsigned depth);

static bool scan_container(scan *s, unsigned depth, bool object) {
    if (depth >= JCODEC_EMBED_MAX_DEPTH)
        return false;
    uint8_t close = object ? '}' : ']';
    *s->o++ = *s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == close) {
        *s->o++ = *s->p++;
        return true;
    }
    for (;;) {
        if (object) {
            if (s->p >= s->end || *s->p != '"' || !scan_string(s))
                return false;
            skip_ws(s);
            if (s->p >= s->end || *s->p != ':')
                return false;
            *s->o++ = *s->p++;
        }
        if (!scan_value(s, depth + 1))
            return false;
        skip_ws(s);
        if (s->p >= s->end)
            return false;
        if (*s->p == close) {
            *s->o++ = *s->p++;
            return true;
        }
        if (*s->p != ',')
            return false;
        *s->o++ = *s->p++;
        skip_ws(s);
    }
}

static bool scan_value(scan *s, unsigned depth) {
    skip_ws(s);
    if (s->p >= s->end)
        return false;
    switch (*s->p) {
    case '{': return scan_container(s, depth, true);
    case '[': return scan_container(s, depth, false);
    case '"': return scan_string(s);
    case 't': return scan_word(s, "true", 4);
    case 'f': return scan_word(s, "false", 5);
    case 'n': return scan_word(s, "null", 4);
    default: return scan_number(s);
    }
}

spw_result jcodec_embed_object(spw_buf *out, const uint8_t *p, size_t n, locale_t loc) {
    if (n == 0)
        return SPW_ERR_INVAL;
    spw_result r = jcodec_room(out, n);
    if (r != SPW_OK)
        return r;
    scan s = {p, p + n, out->data + out->len, loc};
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{' || !scan_container(&s, 0, true))
        return SPW_ERR_INVAL;
    skip_ws(&s);
    if (s.p != s.end)
        return SPW_ERR_INVAL;
    out->len = (size_t)(s.o - out->data);
    return SPW_OK;
}

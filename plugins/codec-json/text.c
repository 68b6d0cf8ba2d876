/*
 * plugins/codec-json/text.c: the primitives the json codec writes with:
 * string escaping with UTF-8 repair, integers, and doubles in their
 * shortest round-trip form. They write straight into the spw_buf (its
 * fields are public) so a record costs a handful of bounds checks, not
 * one library call per token.
 */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include "encode.h"

spw_result jcodec_grow(spw_buf *b, size_t extra) { return spw_buf_reserve(b, extra); }

/* ---- strings ---- */

/* 0: copy as is; 1: two-character escape; 2: \u00XX; 3: non-ASCII. */
static const uint8_t char_class[256] = {
    2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 1, 1, 2, 2, /* \b \t \n \f \r */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* '"' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, /* '\\' */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, /* DEL needs no escape */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
};

/* Makes room for `need` bytes at *o, refreshing the cursor when data moves. */
static inline spw_result ensure(spw_buf *b, uint8_t **o, size_t need) {
    size_t used = (size_t)(*o - b->data);
    if (b->cap - used >= need)
        return SPW_OK;
    b->len = used;
    spw_result r = spw_buf_reserve(b, need);
    if (r != SPW_OK)
        return r;
    *o = b->data + used;
    return SPW_OK;
}

spw_result jcodec_put_string(spw_buf *b, const uint8_t *s, size_t n, size_t *bad) {
    static const char hex[] = "0123456789abcdef";
    /* Invariant from here on: the remaining input plus the closing quote
     * always fits, so only escapes (which grow) need a check. */
    if (n > SPW_BUF_MAX - 2)
        return SPW_ERR_NOSPACE;
    spw_result r = jcodec_room(b, n + 2);
    if (r != SPW_OK)
        return r;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    for (;;) {
        /* Plain ASCII is scanned and copied a word at a time: the
         * invariant guarantees the 8 output bytes fit. */
        while (i + 8 <= n) {
            uint64_t v;
            memcpy(&v, s + i, 8);
            if (jcodec_word_special(v))
                break;
            memcpy(o, &v, 8);
            o += 8;
            i += 8;
        }
        while (i < n && char_class[s[i]] == 0)
            *o++ = s[i++];
        if (i == n)
            break;
        uint8_t c = s[i];
        uint8_t cls = char_class[c];
        if (cls == 3) {
            int k = codec_utf8_step(s + i, n - i);
            if (k > 0) { /* well-formed: copied, same length */
                for (int q = 0; q < k; q++)
                    *o++ = s[i++];
                continue;
            }
            /* U+FFFD is 3 bytes for -k >= 1 input bytes */
            if ((r = ensure(b, &o, (n - i) + 3 + 1)) != SPW_OK)
                return r;
            *o++ = 0xEF;
            *o++ = 0xBF;
            *o++ = 0xBD;
            i += (size_t)-k;
            ++*bad;
            continue;
        }
        if ((r = ensure(b, &o, (n - i) + 6 + 1)) != SPW_OK)
            return r;
        *o++ = '\\';
        if (cls == 1) {
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            default: *o++ = 't'; break;
            }
        } else {
            *o++ = 'u';
            *o++ = '0';
            *o++ = '0';
            *o++ = (uint8_t)hex[c >> 4];
            *o++ = (uint8_t)hex[c & 15];
        }
        i++;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return SPW_OK;
}

/* ---- integers ---- */

static const char digit_pairs[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

static const uint64_t pow10_u64[20] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
    100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
    10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
    100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
};

/*
 * Digits from the top, two per step, by fixed-point arithmetic instead of
 * division (the scheme of James Edward Anhalt III's itoa, written anew):
 * y = u * ceil(2^48 / 10^e) holds u / 10^e with a 48-bit fraction; its
 * integer part is the leading one or two digits, and each multiplication
 * of the fraction by 100 brings the next two up. The rounding up adds less
 * than u < 10^(e+2) units of 2^-48; after the e/2 steps that error is
 * below 10^(2e+2) / 2^48 <= 0.36 of the last digit for e <= 6, and every
 * exact intermediate value is a multiple of 10^-(e-2j) below an integer
 * boundary by at least that much, so no step rounds the wrong way (also
 * checked exhaustively for u < 10^8 by the json unit test).
 */
#define FRAC48 ((UINT64_C(1) << 48) - 1)
static const uint64_t lead_mul[4] = {
    UINT64_C(1) << 48,                      /* 10^0: exact */
    ((UINT64_C(1) << 48) + 99) / 100,       /* ceil(2^48 / 10^2) */
    ((UINT64_C(1) << 48) + 9999) / 10000,   /* ceil(2^48 / 10^4) */
    ((UINT64_C(1) << 48) + 999999) / 1000000 /* ceil(2^48 / 10^6) */
};

static inline void put_pair(char *p, unsigned d) { memcpy(p, digit_pairs + 2 * d, 2); }

/* u (< 10^8) written in exactly n digits (1 <= n <= 8, u < 10^n). */
static inline char *put_lead(char *p, uint32_t u, unsigned n) {
    unsigned e = (n - 1) & ~1u; /* 0, 2, 4, 6: the digits after the leading one or two */
    uint64_t y = (uint64_t)u * lead_mul[e / 2];
    unsigned top = (unsigned)(y >> 48);
    if (n & 1)
        *p++ = (char)('0' + top);
    else {
        put_pair(p, top);
        p += 2;
    }
    for (unsigned i = 0; i < e / 2; i++) {
        y = (y & FRAC48) * 100;
        put_pair(p, (unsigned)(y >> 48));
        p += 2;
    }
    return p;
}

/* u (< 10^8) written in exactly 8 digits, leading zeros included. */
static inline char *put8(char *p, uint32_t u) {
    uint64_t y = (uint64_t)u * lead_mul[3];
    put_pair(p, (unsigned)(y >> 48));
    y = (y & FRAC48) * 100;
    put_pair(p + 2, (unsigned)(y >> 48));
    y = (y & FRAC48) * 100;
    put_pair(p + 4, (unsigned)(y >> 48));
    y = (y & FRAC48) * 100;
    put_pair(p + 6, (unsigned)(y >> 48));
    return p + 8;
}

size_t jcodec_fmt_u64(char *buf, uint64_t v) {
    if (v < 10) {
        buf[0] = (char)('0' + v);
        return 1;
    }
    if (v < 100) {
        put_pair(buf, (unsigned)v);
        return 2;
    }
    /* Digits from the bit length: log10(2) ~ 1233/4096 gives n or n-1. */
    unsigned bits = 64 - (unsigned)__builtin_clzll(v);
    unsigned n = (bits * 1233u >> 12) + 1;
    if (n < 20 && v >= pow10_u64[n])
        n++;
    else if (v < pow10_u64[n - 1])
        n--;
    if (n <= 8)
        put_lead(buf, (uint32_t)v, n);
    else if (n <= 16) {
        uint64_t hi = v / 100000000u;
        put8(put_lead(buf, (uint32_t)hi, n - 8), (uint32_t)(v - hi * 100000000u));
    } else {
        uint64_t top = v / UINT64_C(10000000000000000), rest = v - top * UINT64_C(10000000000000000);
        uint64_t hi = rest / 100000000u;
        char *p = put_lead(buf, (uint32_t)top, n - 16);
        put8(put8(p, (uint32_t)hi), (uint32_t)(rest - hi * 100000000u));
    }
    return n;
}

size_t jcodec_fmt_i64(char *buf, int64_t v) {
    if (v >= 0)
        return jcodec_fmt_u64(buf, (uint64_t)v);
    buf[0] = '-';
    /* 0 - (uint64_t)v is |v| even for INT64_MIN */
    return 1 + jcodec_fmt_u64(buf + 1, 0 - (uint64_t)v);
}

/* ---- doubles ---- */

static const double pow10_tab[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,
                                   1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17};

/*
 * Fast path for the common values (prices, coordinates, ratios): a with
 * 1e-4 <= a < 1e15, the range where %g would print fixed notation. Finds
 * the fewest decimals k such that a == m / 10^k for an integer m < 2^53.
 * Both m and 10^k (k <= 17 < 23) are exact doubles, so the division is the
 * correctly rounded value of the real m/10^k, which is also what strtod
 * makes of the text "m/10^k": the text reads back to exactly a. Returns 0
 * when no such k exists, leaving the general path to decide.
 */
static size_t fmt_fixed(char *buf, double a, bool pow2) {
    for (unsigned k = 0; k < sizeof pow10_tab / sizeof pow10_tab[0]; k++) {
        double t = a * pow10_tab[k];
        if (t >= 9007199254740991.0) /* 2^53 - 1: m (+1) must stay exact */
            return 0;
        uint64_t m = (uint64_t)t;
        if (t - (double)m >= 0.5) /* t - m is exact below 2^53 */
            m++;
        /* A power of two's rounding interval is twice as wide above as
         * below, so the decimal that reads back may be the one above. */
        if ((double)m / pow10_tab[k] != a && !(pow2 && (double)++m / pow10_tab[k] == a))
            continue;
        char dig[20];
        size_t nd = jcodec_fmt_u64(dig, m), len = 0;
        if (k == 0) {
            memcpy(buf, dig, nd);
            memcpy(buf + nd, ".0", 2);
            return nd + 2;
        }
        if (nd > k) { /* the common case, in byte loops: a few digits, no calls */
            for (; len < nd - k; len++)
                buf[len] = dig[len];
            buf[len++] = '.';
            for (size_t i = nd - k; i < nd; i++)
                buf[len++] = dig[i];
            return len;
        }
        if (nd <= k) { /* 0.000ddd */
            buf[len++] = '0';
            buf[len++] = '.';
            memset(buf + len, '0', k - nd);
            len += k - nd;
            memcpy(buf + len, dig, nd);
            return len + nd;
        }
        memcpy(buf, dig, nd - k);
        len = nd - k;
        buf[len++] = '.';
        memcpy(buf + len, dig + nd - k, k);
        return len + k;
    }
    return 0;
}

/*
 * For a power of two, whose rounding interval is wider above than below:
 * the prec-digit decimal one unit above the nearest one (in magnitude),
 * written as %g would write it, when it reads back to d. Returns its
 * length, 0 when it does not read back.
 */
static int fmt_next_up(char *out, size_t cap, double d, int prec) {
    char e[40], dig[24];
    int nd = 0, exp10;
    snprintf(e, sizeof e, "%.*e", prec - 1, d);
    const char *p = e;
    if (*p == '-')
        p++;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9')
            dig[nd++] = *p;
    if (*p != 'e' || nd != prec)
        return 0;
    exp10 = atoi(p + 1);
    int i = nd - 1;
    while (i >= 0 && dig[i] == '9') /* add one unit in the last place */
        dig[i--] = '0';
    if (i < 0) { /* 9.99 -> 10.0: one digit more, so shift */
        memmove(dig + 1, dig, (size_t)nd - 1);
        dig[0] = '1';
        exp10++;
    } else
        dig[i]++;
    while (nd > 1 && dig[nd - 1] == '0')
        nd--;
    /* %g's choice: exponent form when exp10 < -4 or exp10 >= prec. */
    size_t n = 0;
    char t[48];
    if (d < 0)
        t[n++] = '-';
    if (exp10 < -4 || exp10 >= prec) {
        t[n++] = dig[0];
        if (nd > 1) {
            t[n++] = '.';
            memcpy(t + n, dig + 1, (size_t)nd - 1);
            n += (size_t)nd - 1;
        }
        n += (size_t)snprintf(t + n, sizeof t - n, "e%c%02d", exp10 < 0 ? '-' : '+',
                              exp10 < 0 ? -exp10 : exp10);
    } else if (exp10 < 0) {
        t[n++] = '0';
        t[n++] = '.';
        for (int z = -1; z > exp10; z--)
            t[n++] = '0';
        memcpy(t + n, dig, (size_t)nd);
        n += (size_t)nd;
    } else {
        for (int k = 0; k <= exp10; k++)
            t[n++] = k < nd ? dig[k] : '0';
        if (nd > exp10 + 1) {
            t[n++] = '.';
            memcpy(t + n, dig + exp10 + 1, (size_t)(nd - exp10 - 1));
            n += (size_t)(nd - exp10 - 1);
        }
    }
    t[n] = '\0';
    if (n >= cap || strtod(t, NULL) != d)
        return 0;
    memcpy(out, t, n + 1);
    return (int)n;
}

size_t jcodec_fmt_double(char *buf, double d, locale_t loc) {
    size_t n = 0;
    if (d == 0) { /* keep the sign of -0.0: it reads back exactly */
        if (signbit(d))
            buf[n++] = '-';
        memcpy(buf + n, "0.0", 3);
        return n + 3;
    }
    double a = d < 0 ? -d : d;
    uint64_t bits;
    memcpy(&bits, &a, sizeof bits);
    bool pow2 = (bits & ((UINT64_C(1) << 52) - 1)) == 0 && a >= DBL_MIN;
    if (a >= 1e-4 && a < 1e15) {
        buf[0] = '-';
        size_t k = fmt_fixed(buf + (d < 0), a, pow2);
        if (k)
            return k + (d < 0);
    }
    /* General path: the first of 15, 16, 17 significant digits that
     * reads back exactly (17 always does). For a normal double, when any
     * decimal of <= 15 digits reads back to it, rounding it to 15 digits
     * finds that decimal (a half-ulp is far below half a step in the
     * 15th digit), so starting at 15 loses nothing; for a power of two
     * the candidate one step above is tried as well. Subnormals have
     * fewer bits, so there every precision from 1 up is tried (5e-324,
     * not 4.94065645841247e-324). Under the C locale so the radix is
     * '.', whatever the process locale. */
    locale_t old = loc ? uselocale(loc) : (locale_t)0;
    char tmp[JCODEC_DOUBLE_MAX + 8];
    int len = 0;
    for (int prec = a < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        len = snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (prec == 17 || strtod(tmp, NULL) == d)
            break;
        int up = pow2 ? fmt_next_up(tmp, sizeof tmp, d, prec) : 0;
        if (up > 0) {
            len = up;
            break;
        }
    }
    if (loc)
        uselocale(old);
    if (len <= 0 || (size_t)len >= JCODEC_DOUBLE_MAX - 2)
        len = 0; /* cannot happen for a finite double ("-1.2345678901234567e-308" is 24) */
    memcpy(buf, tmp, (size_t)len);
    n = (size_t)len;
    /* A float must look like one: "1e+20" does, "100000000000000000" gets ".0". */
    if (!memchr(buf, '.', n) && !memchr(buf, 'e', n)) {
        memcpy(buf + n, ".0", 2);
        n += 2;
    }
    return n;
}

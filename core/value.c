/*
 * core/value.c: the typed accessors that turn a value's wire bytes into C
 * values, and the UTF-8 validator. Everything here checks the particle type
 * and the exact length first, because values come straight from the
 * network and a stage must be able to trust what an accessor returns.
 */
#include <stdint.h>
#include <string.h>
#include <spillway/event.h>

/* One load and a byte swap where the compiler says how (a codec reads
 * several integers per record); the portable loop elsewhere. */
static inline uint64_t load_be64(const uint8_t *p) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, 8);
    return __builtin_bswap64(v);
#else
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | p[i];
    return v;
#endif
}

spw_result spw_value_int(const spw_value *v, int64_t *out) {
    uint64_t u;

    if (v == NULL || out == NULL || v->type != SPW_PT_INTEGER || v->len != 8 || v->data == NULL)
        return SPW_ERR_INVAL;
    u = load_be64(v->data);
    /* Two's complement by arithmetic: a plain cast of a value above
     * INT64_MAX is implementation-defined in C11. */
    *out = u <= (uint64_t)INT64_MAX ? (int64_t)u : (int64_t)(u - (uint64_t)INT64_MAX - 1u) + INT64_MIN;
    return SPW_OK;
}

spw_result spw_value_double(const spw_value *v, double *out) {
    uint64_t u;

    if (v == NULL || out == NULL || v->type != SPW_PT_DOUBLE || v->len != 8 || v->data == NULL)
        return SPW_ERR_INVAL;
    u = load_be64(v->data);
    /* memcpy is the defined way to reinterpret the bits (no aliasing games). */
    memcpy(out, &u, sizeof *out);
    return SPW_OK;
}

spw_result spw_value_bool(const spw_value *v, bool *out) {
    if (v == NULL || out == NULL || v->type != SPW_PT_BOOL || v->len != 1 || v->data == NULL)
        return SPW_ERR_INVAL;
    /* The server only writes 0 or 1; anything else is a corrupt frame, and
     * guessing would hide it. */
    if (v->data[0] > 1)
        return SPW_ERR_INVAL;
    *out = v->data[0] == 1;
    return SPW_OK;
}

spw_result spw_value_str(const spw_value *v, spw_str *out) {
    if (v == NULL || out == NULL || v->type != SPW_PT_STRING || (v->data == NULL && v->len != 0))
        return SPW_ERR_INVAL;
    out->ptr = (const char *)v->data;
    out->len = v->len;
    return SPW_OK;
}

spw_result spw_value_bytes(const spw_value *v, const uint8_t **p, size_t *n) {
    if (v == NULL || p == NULL || n == NULL || (v->data == NULL && v->len != 0))
        return SPW_ERR_INVAL;
    if (!spw_particle_is_blob(v->type) && v->type != SPW_PT_HLL && v->type != SPW_PT_VECTOR)
        return SPW_ERR_INVAL;
    *p = v->data;
    *n = v->len;
    return SPW_OK;
}

spw_result spw_value_geojson(const spw_value *v, spw_geojson *out) {
    size_t ncells, cells_len;

    if (v == NULL || out == NULL || v->type != SPW_PT_GEOJSON || v->data == NULL || v->len < 3)
        return SPW_ERR_INVAL;
    ncells = (size_t)v->data[1] << 8 | v->data[2];
    cells_len = ncells * 8; /* at most 65535 * 8: cannot wrap */
    if (v->len - 3 < cells_len)
        return SPW_ERR_INVAL;
    out->flags = v->data[0];
    out->ncells = (uint16_t)ncells;
    out->cells = v->data + 3;
    out->text.ptr = (const char *)(v->data + 3 + cells_len);
    out->text.len = v->len - 3 - cells_len;
    return SPW_OK;
}

/*
 * Strict UTF-8 (Unicode 15, table 3-7): the second byte's range depends on
 * the lead byte, which is what rules out overlongs (C0, C1, E0 80..9F,
 * F0 80..8F), surrogates (ED A0..BF) and code points above U+10FFFF
 * (F4 90.., F5..FF).
 */
bool spw_utf8_valid(const void *p, size_t n) {
    const uint8_t *s = p, *end;

    if (s == NULL)
        return n == 0;
    end = s + n;
    while (s < end) {
        /* Most payloads are ASCII: test eight bytes at a time. memcpy keeps
         * the unaligned load defined; compilers make it a single load. */
        while ((size_t)(end - s) >= 8) {
            uint64_t w;
            memcpy(&w, s, 8);
            if (w & UINT64_C(0x8080808080808080))
                break;
            s += 8;
        }
        if (s == end)
            break;
        uint8_t c = *s;
        if (c < 0x80) {
            s++;
            continue;
        }

        size_t left = (size_t)(end - s);
        uint8_t lo = 0x80, hi = 0xbf;
        size_t len;
        if (c >= 0xc2 && c <= 0xdf) {
            len = 2;
        } else if (c >= 0xe0 && c <= 0xef) {
            len = 3;
            if (c == 0xe0)
                lo = 0xa0;
            else if (c == 0xed)
                hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            len = 4;
            if (c == 0xf0)
                lo = 0x90;
            else if (c == 0xf4)
                hi = 0x8f;
        } else {
            return false; /* continuation byte as lead, C0/C1, F5..FF */
        }
        if (left < len)
            return false;
        if (s[1] < lo || s[1] > hi)
            return false;
        for (size_t i = 2; i < len; i++)
            if ((s[i] & 0xc0) != 0x80)
                return false;
        s += len;
    }
    return true;
}

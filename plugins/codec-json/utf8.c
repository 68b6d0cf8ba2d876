/*
 * plugins/codec-json/utf8.c: the UTF-8 stepper (see utf8.h). Strict
 * RFC 3629: no overlongs, no surrogates, nothing above U+10FFFF.
 */
#include "utf8.h"

int codec_utf8_step(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    /* The second byte's range is narrower for some leads: that is what
     * rules out overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4). */
    uint8_t lo = 0x80, hi = 0xBF;
    int need;
    if (c < 0xC2)
        return -1; /* continuation byte or overlong 2-byte lead */
    else if (c < 0xE0)
        need = 1;
    else if (c < 0xF0) {
        need = 2;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c < 0xF5) {
        need = 3;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return -1;
    for (int i = 1; i <= need; i++) {
        if ((size_t)i >= n || p[i] < lo || p[i] > hi)
            return -i; /* the maximal ill-formed prefix is p[0..i) */
        lo = 0x80;
        hi = 0xBF;
    }
    return need + 1;
}

/*
 * plugins/codec-json/utf8.h: one UTF-8 stepper for every text-writing
 * codec (json and flat-json here, msgpack compiles utf8.c too), so they
 * all agree on what is ill-formed and on how much one U+FFFD replaces.
 */
#ifndef SPW_CODEC_UTF8_H
#define SPW_CODEC_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * The length of the well-formed UTF-8 sequence at p (1..4), or minus the
 * length of its maximal ill-formed prefix (the bytes one U+FFFD stands
 * for, as Unicode recommends and Python's "replace" does). n >= 1.
 */
int codec_utf8_step(const uint8_t *p, size_t n);

/*
 * True when every byte of p[0..n) is below 0x80. Checked a word at a time;
 * the last (partial) word is read as the 8 bytes ending at p + n, which
 * overlap words already seen but never leave the input, so short names and
 * strings cost two or three loads, not a loop over bytes.
 */
static inline int codec_is_ascii(const uint8_t *p, size_t n) {
    uint64_t acc = 0, w;
    uint32_t h, t;
    if (n >= 8) {
        size_t i = 0;
        for (; i + 8 <= n; i += 8) {
            __builtin_memcpy(&w, p + i, 8);
            acc |= w;
        }
        __builtin_memcpy(&w, p + n - 8, 8);
        acc |= w;
    } else if (n >= 4) {
        __builtin_memcpy(&h, p, 4);
        __builtin_memcpy(&t, p + n - 4, 4);
        acc = h | t;
    } else {
        for (size_t i = 0; i < n; i++)
            acc |= p[i];
    }
    return (acc & 0x8080808080808080ull) == 0;
}

#endif /* SPW_CODEC_UTF8_H */

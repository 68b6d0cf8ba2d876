/*
 * tools/xdrgen/replay.c: frames read from a file, to be sent byte for byte
 * (captures, hand-made edge cases, the reference's test vectors).
 *
 * Two formats. Binary: frames back to back, as they were on the wire.
 * Hex: hex digits, whitespace ignored, '#' starting a comment that runs to
 * the end of the line; conventionally one frame per line, but a frame may
 * span lines (as the reference prints them), since frames are delimited by
 * their as_proto sizes, not by lines. Auto-detection: a binary file starts
 * with the as_proto version byte 0x02, which no hex text starts with.
 *
 * Every frame is checked to be a whole as_proto of type 3 or 4 within the
 * 128 MiB limit, so the run fails at start, not halfway through.
 */
#include "xdrgen.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int hexval(int c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes hex text in place into out (which may be in); returns the byte count or -1. */
static long unhex(const uint8_t *in, size_t n, uint8_t *out, char *err, size_t errlen) {
    size_t o = 0, line = 1;
    int hi = -1;
    for (size_t i = 0; i < n; i++) {
        int c = in[i];
        if (c == '#') {
            while (i < n && in[i] != '\n')
                i++;
            line++;
            continue;
        }
        if (c == '\n')
            line++;
        if (isspace(c))
            continue;
        int v = hexval(c);
        if (v < 0) {
            snprintf(err, errlen, "line %zu: '%c' is not a hex digit", line,
                     isprint(c) ? c : '?');
            return -1;
        }
        if (hi < 0) {
            hi = v;
        } else {
            out[o++] = (uint8_t)(hi << 4 | v);
            hi = -1;
        }
    }
    if (hi >= 0) {
        snprintf(err, errlen, "an odd number of hex digits");
        return -1;
    }
    return (long)o;
}

static bool split(struct xg_replay *rp, char *err, size_t errlen) {
    size_t pos = 0, cap = 16;
    rp->off = malloc(cap * sizeof *rp->off);
    if (!rp->off) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    while (pos < rp->len) {
        if (rp->len - pos < XG_PROTO_HDR) {
            snprintf(err, errlen, "frame %zu (byte %zu): %zu bytes left, too few for a header",
                     rp->n + 1, pos, rp->len - pos);
            return false;
        }
        const uint8_t *h = rp->data + pos;
        uint64_t size = xg_get_be(h + 2, 6);
        if (h[0] != XG_PROTO_VERSION || (h[1] != XG_PROTO_MSG && h[1] != XG_PROTO_COMPRESSED)) {
            snprintf(err, errlen,
                     "frame %zu (byte %zu): version %u type %u, expected version 2 type 3 or 4",
                     rp->n + 1, pos, h[0], h[1]);
            return false;
        }
        if (size > XG_FRAME_MAX || size > rp->len - pos - XG_PROTO_HDR) {
            snprintf(err, errlen, "frame %zu (byte %zu): size %llu runs past the end of the input",
                     rp->n + 1, pos, (unsigned long long)size);
            return false;
        }
        if (h[1] == XG_PROTO_MSG && (size < XG_MSG_HDR || h[8] != XG_MSG_HDR)) {
            snprintf(err, errlen, "frame %zu (byte %zu): not an as_msg (header size %u)",
                     rp->n + 1, pos, size > 0 ? h[8] : 0);
            return false;
        }
        if (rp->n + 1 >= cap) {
            cap *= 2;
            size_t *o = realloc(rp->off, cap * sizeof *o);
            if (!o) {
                snprintf(err, errlen, "out of memory");
                return false;
            }
            rp->off = o;
        }
        rp->off[rp->n++] = pos;
        if (XG_PROTO_HDR + size > rp->max_frame)
            rp->max_frame = XG_PROTO_HDR + size;
        pos += XG_PROTO_HDR + size;
    }
    rp->off[rp->n] = pos;
    if (rp->n == 0) {
        snprintf(err, errlen, "no frames");
        return false;
    }
    return true;
}

bool xg_replay_parse(struct xg_replay *rp, const uint8_t *p, size_t n, int format, char *err,
                     size_t errlen) {
    memset(rp, 0, sizeof *rp);
    if (format == XG_REPLAY_AUTO)
        format = n > 0 && p[0] == XG_PROTO_VERSION ? XG_REPLAY_BINARY : XG_REPLAY_HEX;
    rp->data = malloc(n > 0 ? n : 1);
    if (!rp->data) {
        snprintf(err, errlen, "out of memory");
        return false;
    }
    if (format == XG_REPLAY_BINARY) {
        memcpy(rp->data, p, n);
        rp->len = n;
    } else {
        long got = unhex(p, n, rp->data, err, errlen);
        if (got < 0) {
            xg_replay_free(rp);
            return false;
        }
        rp->len = (size_t)got;
    }
    if (!split(rp, err, errlen)) {
        xg_replay_free(rp);
        return false;
    }
    return true;
}

bool xg_replay_load(struct xg_replay *rp, const char *path, int format, char *err,
                    size_t errlen) {
    char why[256];
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return false;
    }
    size_t cap = 1 << 16, len = 0;
    uint8_t *buf = malloc(cap);
    while (buf) {
        len += fread(buf + len, 1, cap - len, f);
        if (len < cap)
            break;
        if (cap >= (size_t)1 << 31) {
            fclose(f);
            free(buf);
            snprintf(err, errlen, "%s: larger than 2 GiB", path);
            return false;
        }
        uint8_t *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf || bad) {
        free(buf);
        snprintf(err, errlen, "%s: %s", path, buf ? "read error" : "out of memory");
        return false;
    }
    bool okay = xg_replay_parse(rp, buf, len, format, why, sizeof why);
    free(buf);
    if (!okay)
        snprintf(err, errlen, "%s: %s", path, why);
    return okay;
}

void xg_replay_free(struct xg_replay *rp) {
    free(rp->data);
    free(rp->off);
    memset(rp, 0, sizeof *rp);
}

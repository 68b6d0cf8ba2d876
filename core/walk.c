/*
 * core/walk.c: the walker over list and map values, a MessagePack reader
 * written for Aerospike's dialect (type-prefixed strings, order markers).
 *
 * Hand-written rather than msgpack-c because the core must not depend on
 * it, and because every byte here comes from the network: each length is
 * compared against the bytes left before anything is read, container
 * counts are bounded by those bytes, and nesting by SPW_WALK_MAX_DEPTH.
 * The walker allocates nothing and keeps its whole state in spw_walker.
 *
 * State: remaining[0] is a virtual container holding the top-level value;
 * remaining[k] (1 <= k <= open) counts the items still to read in the k-th
 * open container. p == NULL means an error happened: the walk is over.
 */
#include <stdint.h>
#include <string.h>
#include <spillway/event.h>

/* Latches the error so every later call gives the same answer. */
static spw_result fail(spw_walker *w) {
    w->p = NULL;
    w->end = NULL;
    return SPW_ERR_INVAL;
}

static uint64_t load_be(const uint8_t *p, size_t n) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = (v << 8) | p[i];
    return v;
}

/*
 * The two's complement value of the low n bytes of u. Done by arithmetic
 * because converting an out-of-range unsigned value to a signed type is
 * implementation-defined in C11.
 */
static int64_t sign_extend(uint64_t u, size_t n) {
    uint64_t sign = (uint64_t)1 << (n * 8 - 1);
    uint64_t mask = sign | (sign - 1);

    if (!(u & sign))
        return (int64_t)u;
    /* ~u & mask is |value| - 1, at most INT64_MAX, so it converts exactly. */
    return -(int64_t)(~u & mask) - 1;
}

spw_result spw_walk_init(spw_walker *w, const spw_value *v) {
    if (w == NULL)
        return SPW_ERR_INVAL;
    /* Only what next() reads before writing: remaining[k > 0] is set when
     * container k opens, so clearing the whole array would be wasted work. */
    w->p = w->end = NULL;
    w->depth = 0;
    w->open = 0;
    w->remaining[0] = 0;
    if (v == NULL || (v->type != SPW_PT_LIST && v->type != SPW_PT_MAP) ||
        (v->data == NULL && v->len != 0))
        return SPW_ERR_INVAL; /* w->p stays NULL: next() reports the error too */
    if (v->data == NULL) {
        /* An empty value is truncated input; a non-NULL cursor lets next() say so. */
        static const uint8_t nothing[1];
        w->p = w->end = nothing;
    } else {
        w->p = v->data;
        w->end = v->data + v->len;
    }
    w->remaining[0] = 1;
    return SPW_OK;
}

/*
 * Length of an ext value's header when the bytes at p are an ext with a
 * zero-length payload (the order marker), 0 otherwise. Only reads bytes
 * that are there. *type receives the ext type, i.e. the order flags.
 */
static size_t marker_len(const uint8_t *p, const uint8_t *end, uint8_t *type) {
    size_t left = (size_t)(end - p);
    size_t hdr;

    if (left == 0)
        return 0;
    switch (p[0]) {
    case 0xc7: hdr = 2; break;
    case 0xc8: hdr = 3; break;
    case 0xc9: hdr = 5; break;
    default: return 0; /* fixext always has a payload */
    }
    if (left < hdr + 1 || load_be(p + 1, hdr - 1) != 0)
        return 0;
    *type = p[hdr];
    return hdr + 1;
}

/* Fills the STR/BYTES item for a str (is_str) or bin payload of n bytes at p. */
static void set_bytes(spw_item *it, bool is_str, const uint8_t *p, size_t n) {
    if (n == 0) {
        /* No room for a prefix byte: report what the MessagePack type implies. */
        it->kind = is_str ? SPW_ITEM_STR : SPW_ITEM_BYTES;
        it->u.bytes.ptype = is_str ? SPW_PT_STRING : SPW_PT_BLOB;
        it->u.bytes.ptr = p;
        it->u.bytes.len = 0;
        return;
    }
    it->u.bytes.ptype = p[0];
    it->kind = p[0] == SPW_PT_STRING ? SPW_ITEM_STR : SPW_ITEM_BYTES;
    it->u.bytes.ptr = p + 1;
    it->u.bytes.len = n - 1;
}

/* Everything but the fast path of spw_walk_next, out of line so the
 * common case does not pay for this function's registers and frame. */
static __attribute__((noinline)) spw_result walk_general(spw_walker *w, spw_item *it) {
    const uint8_t *p, *end;
    size_t left, hdr, len;
    uint64_t count = 0; /* child items of a container (2 per map pair) */
    unsigned depth;
    uint8_t c;

    /* Close the containers whose items are all read. */
    while (w->open > 0 && w->remaining[w->open] == 0)
        w->open--;
    if (w->open == 0 && w->remaining[0] == 0) {
        /* Bytes after the value mean the value's framing is wrong. */
        if (w->p != w->end)
            return fail(w);
        return SPW_ERR_NOTFOUND;
    }

    p = w->p;
    end = w->end;
    left = (size_t)(end - p);
    if (left == 0)
        return fail(w);
    depth = w->open;
    memset(it, 0, sizeof *it);
    it->depth = depth;
    c = *p;
    hdr = 1;
    left--;

    if (c <= 0x7f) {
        it->kind = SPW_ITEM_INT;
        it->u.i = c;
    } else if (c >= 0xe0) {
        it->kind = SPW_ITEM_INT;
        it->u.i = (int64_t)c - 256;
    } else if (c <= 0x8f) {
        it->kind = SPW_ITEM_MAP;
        count = (uint64_t)(c & 0x0f) * 2;
    } else if (c <= 0x9f) {
        it->kind = SPW_ITEM_LIST;
        count = c & 0x0f;
    } else if (c <= 0xbf) {
        len = c & 0x1f;
        if (left < len)
            return fail(w);
        set_bytes(it, true, p + 1, len);
        hdr += len;
    } else {
        switch (c) {
        case 0xc0:
            it->kind = SPW_ITEM_NIL;
            break;
        case 0xc2:
        case 0xc3:
            it->kind = SPW_ITEM_BOOL;
            it->u.b = c == 0xc3;
            break;
        case 0xc4: case 0xc5: case 0xc6:   /* bin 8/16/32 */
        case 0xd9: case 0xda: case 0xdb: { /* str 8/16/32 */
            bool is_str = c >= 0xd9;
            size_t lsz = (size_t)1 << (is_str ? c - 0xd9 : c - 0xc4);
            if (left < lsz)
                return fail(w);
            len = (size_t)load_be(p + 1, lsz);
            left -= lsz;
            if (left < len)
                return fail(w);
            set_bytes(it, is_str, p + 1 + lsz, len);
            hdr += lsz + len;
            break;
        }
        case 0xc7: case 0xc8: case 0xc9:   /* ext 8/16/32 */
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: { /* fixext 1..16 */
            size_t lsz = 0;
            if (c >= 0xd4) {
                len = (size_t)1 << (c - 0xd4);
            } else {
                lsz = (size_t)1 << (c - 0xc7);
                if (left < lsz)
                    return fail(w);
                len = (size_t)load_be(p + 1, lsz);
                left -= lsz;
            }
            /* The type byte, then the payload. */
            if (left < 1 || left - 1 < len)
                return fail(w);
            it->kind = SPW_ITEM_EXT;
            it->u.ext.type = (int8_t)sign_extend(p[1 + lsz], 1);
            it->u.ext.ptr = p + 2 + lsz;
            it->u.ext.len = len;
            hdr += lsz + 1 + len;
            break;
        }
        case 0xca: { /* float32 */
            uint32_t bits;
            float f;
            if (left < 4)
                return fail(w);
            bits = (uint32_t)load_be(p + 1, 4);
            memcpy(&f, &bits, sizeof f);
            it->kind = SPW_ITEM_DOUBLE;
            it->u.d = f;
            hdr += 4;
            break;
        }
        case 0xcb: { /* float64 */
            uint64_t bits;
            if (left < 8)
                return fail(w);
            bits = load_be(p + 1, 8);
            it->kind = SPW_ITEM_DOUBLE;
            memcpy(&it->u.d, &bits, sizeof it->u.d);
            hdr += 8;
            break;
        }
        case 0xcc: case 0xcd: case 0xce: case 0xcf: { /* uint 8/16/32/64 */
            size_t sz = (size_t)1 << (c - 0xcc);
            uint64_t u;
            if (left < sz)
                return fail(w);
            u = load_be(p + 1, sz);
            if (u > (uint64_t)INT64_MAX) {
                it->kind = SPW_ITEM_UINT;
                it->u.u = u;
            } else {
                it->kind = SPW_ITEM_INT;
                it->u.i = (int64_t)u;
            }
            hdr += sz;
            break;
        }
        case 0xd0: case 0xd1: case 0xd2: case 0xd3: { /* int 8/16/32/64 */
            size_t sz = (size_t)1 << (c - 0xd0);
            if (left < sz)
                return fail(w);
            it->kind = SPW_ITEM_INT;
            it->u.i = sign_extend(load_be(p + 1, sz), sz);
            hdr += sz;
            break;
        }
        case 0xdc: case 0xdd: case 0xde: case 0xdf: { /* array/map 16/32 */
            size_t lsz = (c & 1) ? 4 : 2;
            if (left < lsz)
                return fail(w);
            count = load_be(p + 1, lsz);
            it->kind = c >= 0xde ? SPW_ITEM_MAP : SPW_ITEM_LIST;
            if (c >= 0xde)
                count *= 2;
            hdr += lsz;
            break;
        }
        default: /* 0xc1: never used */
            return fail(w);
        }
    }
    p += hdr;

    if (it->kind == SPW_ITEM_LIST || it->kind == SPW_ITEM_MAP) {
        uint8_t flags = 0;
        size_t mlen;

        /* An ordered collection announces itself in its first element
         * (list) or first pair (map, with a nil value); that marker is
         * Aerospike bookkeeping, not data, so it is consumed here. */
        if (count > 0 && (mlen = marker_len(p, end, &flags)) != 0) {
            if (it->kind == SPW_ITEM_LIST) {
                p += mlen;
                count -= 1;
                it->u.coll.order = flags;
            } else if ((size_t)(end - p) > mlen && p[mlen] == 0xc0) {
                p += mlen + 1;
                count -= 2;
                it->u.coll.order = flags;
            }
        }
        /* Each item takes at least one byte, so a count beyond the bytes
         * left is a lie; rejecting it here keeps hostile counts from
         * driving long walks. remaining[] counts items in 32 bits, so a
         * map of 2^31 pairs or more (only possible past 4 GiB) is refused. */
        if (count > (uint64_t)(end - p) || count > UINT32_MAX)
            return fail(w);
        it->u.coll.count = (uint32_t)(it->kind == SPW_ITEM_MAP ? count / 2 : count);
        /* An empty container opens no level, so it may sit at the limit. */
        if (count > 0 && depth >= SPW_WALK_MAX_DEPTH)
            return fail(w);
    }

    /* Commit: nothing above touched the walker except through fail(). */
    w->remaining[depth]--;
    if (count > 0) {
        w->open = depth + 1;
        w->remaining[w->open] = (uint32_t)count;
    }
    w->p = p;
    w->depth = depth;
    return SPW_OK;
}

spw_result spw_walk_next(spw_walker *w, spw_item *it) {
    if (w == NULL || it == NULL)
        return SPW_ERR_INVAL;
    if (w->p == NULL)
        return SPW_ERR_INVAL;

    /* Fast path for what most collections hold: a positive fixint or a
     * fixstr, as an item of an open container with items left. Exactly
     * what walk_general does for these bytes, without its
     * dispatch; anything else (or a length past the end) falls through. */
    unsigned depth = w->open;
    if (depth > 0 && w->remaining[depth] != 0 && w->p < w->end) {
        const uint8_t *p = w->p;
        uint8_t c = *p;
        if (c <= 0x7f || (c >= 0xa0 && c <= 0xbf && (size_t)(w->end - p) - 1 >= (size_t)(c & 0x1f))) {
            memset(it, 0, sizeof *it);
            it->depth = depth;
            if (c <= 0x7f) {
                it->kind = SPW_ITEM_INT;
                it->u.i = c;
                w->p = p + 1;
            } else {
                size_t len = c & 0x1f;
                set_bytes(it, true, p + 1, len);
                w->p = p + 1 + len;
            }
            w->remaining[depth]--;
            w->depth = depth;
            return SPW_OK;
        }
    }

    return walk_general(w, it);
}

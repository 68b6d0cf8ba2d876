/*
 * core/event.c: the event object. Owns its single allocation, the builder
 * setters sources call, the read accessors every stage calls, reference
 * counting and the particle-type names.
 *
 * Data area. A source that copies its frame into spw_event_data() and
 * points the setters into it pays no further copy; a source that builds an
 * event from scratch has its bytes copied. The two must be able to share
 * one area, so copies are placed at the END of the area, growing down,
 * while a source's own bytes sit at the front: ev->data_len counts the
 * copied bytes at the tail. A copy that would reach bytes already
 * referenced at the front, or a front reference that runs into the
 * copies, fails with SPW_ERR_NOSPACE instead of silently corrupting data.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "event-private.h"

/* Process-wide so that ids in logs never repeat, whichever worker made the event. */
static atomic_uint_fast64_t next_event_id = 1;

/* A zero-length value gets a stable, non-NULL pointer (NULL means "absent"). */
static const uint8_t empty_bytes[1];

spw_event *spw_event_new(uint32_t max_bins, size_t data_cap) {
    size_t head = sizeof(spw_event);
    size_t bins_size;
    spw_event *ev;

    /* Sizes come from frame lengths, so guard the sum against wrapping. */
    if (max_bins > (SIZE_MAX - head) / sizeof(spw_bin))
        return NULL;
    bins_size = (size_t)max_bins * sizeof(spw_bin);
    if (data_cap > SIZE_MAX - head - bins_size)
        return NULL;

    ev = malloc(head + bins_size + data_cap);
    if (ev == NULL)
        return NULL;
    /* The data area is left uninitialised: the source fills it, and
     * clearing a multi-megabyte frame buffer would cost more than the event.
     * So are the bin slots: a slot is written whole when its bin is added,
     * and nothing reads at or past n_bins. */
    memset(ev, 0, head);
    atomic_init(&ev->refs, 1u);
    ev->id = atomic_fetch_add_explicit(&next_event_id, 1, memory_order_relaxed);
    ev->max_bins = max_bins;
    ev->data_cap = data_cap;
    ev->bins = (spw_bin *)(ev + 1);
    ev->data = (uint8_t *)(ev->bins + max_bins);
    return ev;
}

uint8_t *spw_event_data(spw_event *ev) {
    return ev ? ev->data : NULL;
}

/* Offset of p inside the data area, or SIZE_MAX when [p, p+n) is not wholly in it. */
static size_t data_offset(const spw_event *ev, const void *p, size_t n) {
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)ev->data;

    /* Integer comparison: relational operators on pointers into different
     * objects are undefined, and the caller's bytes usually are elsewhere. */
    if (a < base || a - base > ev->data_cap || n > ev->data_cap - (a - base))
        return SIZE_MAX;
    return (size_t)(a - base);
}

/*
 * Makes n bytes at p part of the event: referenced where they are when they
 * already lie in the data area, copied to the tail otherwise. *out is NULL
 * only for (NULL, 0), which callers use to mean "absent".
 */
static spw_result store_general(spw_event *ev, const void *p, size_t n, const uint8_t **out) {
    size_t off, tail;

    if (p == NULL) {
        if (n != 0)
            return SPW_ERR_INVAL;
        *out = NULL;
        return SPW_OK;
    }
    if (n == 0) {
        *out = empty_bytes;
        return SPW_OK;
    }
    tail = ev->data_cap - ev->data_len;
    off = data_offset(ev, p, n);
    if (off != SIZE_MAX) {
        /* In place: either in the source's front part or inside an earlier
         * copy (a stage re-using a pointer the event handed out). A range
         * straddling the boundary means the front overran the copies. */
        if (off + n <= tail) {
            /* Remembered, so a later copy can never overwrite it: one
             * compare per copy instead of a scan of every reference. */
            if (off + n > ev->data_front)
                ev->data_front = off + n;
            *out = p;
            return SPW_OK;
        }
        if (off >= tail) {
            *out = p;
            return SPW_OK;
        }
        return SPW_ERR_NOSPACE;
    }
    if (n > tail || tail - n < ev->data_front)
        return SPW_ERR_NOSPACE;
    tail -= n;
    memcpy(ev->data + tail, p, n);
    ev->data_len += n;
    *out = ev->data + tail;
    return SPW_OK;
}

/* True when n > 0 bytes at p lie in the front part of the data area, below
 * the copies: where store() references them in place. */
static inline bool in_front(const spw_event *ev, const void *p, size_t n, size_t tail) {
    uintptr_t a = (uintptr_t)p, base = (uintptr_t)ev->data;
    return p != NULL && n != 0 && a >= base && a - base <= tail && n <= tail - (a - base);
}

/*
 * store, inlined for the case every in-place source hits for every name and
 * value (the xdr source: about 25 times a record): non-empty bytes lying in
 * the front part, below the copies. Exactly store_general's answer for
 * those; everything else goes there.
 */
static inline spw_result store(spw_event *ev, const void *p, size_t n, const uint8_t **out) {
    if (in_front(ev, p, n, ev->data_cap - ev->data_len)) {
        size_t end = (size_t)((const uint8_t *)p - ev->data) + n;
        if (end > ev->data_front)
            ev->data_front = end;
        *out = p;
        return SPW_OK;
    }
    return store_general(ev, p, n, out);
}

spw_result spw_event_set_op(spw_event *ev, spw_op op, bool durable) {
    if (ev == NULL || (op != SPW_OP_WRITE && op != SPW_OP_DELETE))
        return SPW_ERR_INVAL;
    ev->op = (uint8_t)op;
    /* "Durable" qualifies deletes only. On the wire the same info2 bit
     * means "bin LUTs shipped" on a write, so a source passing the raw bit
     * must not turn a write into something that looks durable. */
    ev->durable = op == SPW_OP_DELETE && durable;
    return SPW_OK;
}

static spw_result set_str(spw_event *ev, spw_str *dst, const void *s, size_t n) {
    const uint8_t *p;
    spw_result r;

    if (ev == NULL)
        return SPW_ERR_INVAL;
    r = store_general(ev, s, n, &p);
    if (r != SPW_OK)
        return r;
    dst->ptr = (const char *)p;
    dst->len = n;
    return SPW_OK;
}

/* set_str with the in-place case first, as a leaf (see spw_event_add_bin). */
static inline spw_result set_str_fast(spw_event *ev, spw_str *dst, const void *s, size_t n) {
    if (ev != NULL && in_front(ev, s, n, ev->data_cap - ev->data_len)) {
        size_t end = (size_t)((const uint8_t *)s - ev->data) + n;
        if (end > ev->data_front)
            ev->data_front = end;
        dst->ptr = s;
        dst->len = n;
        return SPW_OK;
    }
    return set_str(ev, dst, s, n);
}

spw_result spw_event_set_namespace(spw_event *ev, const void *s, size_t n) {
    return set_str_fast(ev, ev ? &ev->ns : NULL, s, n);
}

spw_result spw_event_set_set(spw_event *ev, const void *s, size_t n) {
    return set_str_fast(ev, ev ? &ev->set : NULL, s, n);
}

spw_result spw_event_set_raw(spw_event *ev, const void *p, size_t n) {
    return set_str_fast(ev, ev ? &ev->raw : NULL, p, n);
}

spw_result spw_event_set_key(spw_event *ev, uint8_t type, const void *v, size_t n) {
    const uint8_t *p;
    spw_result r;

    if (ev == NULL || (v == NULL && n != 0))
        return SPW_ERR_INVAL;
    switch (type) {
    case SPW_PT_INTEGER:
    case SPW_PT_DOUBLE:
        if (n != 8)
            return SPW_ERR_INVAL;
        break;
    case SPW_PT_STRING:
    case SPW_PT_BLOB:
        break;
    default:
        return SPW_ERR_INVAL;
    }
    r = store(ev, v, n, &p);
    if (r != SPW_OK)
        return r;
    ev->key.type = type;
    ev->key.data = p ? p : empty_bytes;
    ev->key.len = n;
    ev->has_key = true;
    return SPW_OK;
}

void spw_event_set_digest(spw_event *ev, const uint8_t digest[20]) {
    if (ev && digest)
        memcpy(ev->digest, digest, sizeof ev->digest);
}

void spw_event_set_generation(spw_event *ev, uint32_t gen) {
    if (ev)
        ev->generation = gen;
}

void spw_event_set_lut(spw_event *ev, int64_t unix_ms, uint32_t src_id) {
    if (ev) {
        ev->lut_ms = unix_ms;
        ev->src_id = src_id;
    }
}

void spw_event_set_expiry(spw_event *ev, int64_t unix_s) {
    if (ev)
        ev->expiry = unix_s;
}

void spw_event_set_port(spw_event *ev, uint16_t port) {
    if (ev)
        ev->port = port;
}

static __attribute__((noinline)) spw_result add_bin_general(spw_event *ev, const void *name,
                                                            size_t name_len, uint8_t type,
                                                            const void *value, size_t value_len,
                                                            int64_t lut_ms);

/*
 * The in-place source's case (a name and a value inside its frame), as a
 * leaf function: what add_bin_general does for it, without the calls that
 * make it save registers. Everything else goes there.
 */
spw_result spw_event_add_bin(spw_event *ev, const void *name, size_t name_len, uint8_t type,
                             const void *value, size_t value_len, int64_t lut_ms) {
    if (ev != NULL && ev->n_bins < ev->max_bins) {
        size_t tail = ev->data_cap - ev->data_len;
        if (in_front(ev, name, name_len, tail) && in_front(ev, value, value_len, tail)) {
            size_t ne = (size_t)((const uint8_t *)name - ev->data) + name_len;
            size_t ve = (size_t)((const uint8_t *)value - ev->data) + value_len;
            size_t end = ne > ve ? ne : ve;
            if (end > ev->data_front)
                ev->data_front = end;
            spw_bin *b = &ev->bins[ev->n_bins++];
            b->name.ptr = name;
            b->name.len = name_len;
            b->value.type = type;
            b->value.data = value;
            b->value.len = value_len;
            b->lut_ms = lut_ms;
            return SPW_OK;
        }
    }
    return add_bin_general(ev, name, name_len, type, value, value_len, lut_ms);
}

static spw_result add_bin_general(spw_event *ev, const void *name, size_t name_len, uint8_t type,
                                  const void *value, size_t value_len, int64_t lut_ms) {
    const uint8_t *np, *vp;
    size_t saved;
    spw_bin *b;
    spw_result r;

    if (ev == NULL || (name == NULL && name_len != 0) || (value == NULL && value_len != 0))
        return SPW_ERR_INVAL;
    if (ev->n_bins >= ev->max_bins)
        return SPW_ERR_NOSPACE;
    /* All or nothing: a value that does not fit must not leave the name's
     * copy behind, eating space the source may still need. */
    saved = ev->data_len;
    r = store(ev, name, name_len, &np);
    if (r == SPW_OK)
        r = store(ev, value, value_len, &vp);
    if (r != SPW_OK) {
        ev->data_len = saved;
        return r;
    }
    b = &ev->bins[ev->n_bins++];
    b->name.ptr = np ? (const char *)np : (const char *)empty_bytes;
    b->name.len = name_len;
    b->value.type = type;
    b->value.data = vp ? vp : empty_bytes;
    b->value.len = value_len;
    b->lut_ms = lut_ms;
    return SPW_OK;
}

/* ---- Reading. ---- */

spw_op spw_event_op(const spw_event *ev) {
    return (spw_op)ev->op;
}

bool spw_event_durable(const spw_event *ev) {
    return ev->durable;
}

spw_str spw_event_namespace(const spw_event *ev) {
    return ev->ns;
}

spw_str spw_event_set(const spw_event *ev) {
    return ev->set;
}

const uint8_t *spw_event_digest(const spw_event *ev) {
    return ev->digest;
}

bool spw_event_key(const spw_event *ev, spw_value *key) {
    if (!ev->has_key)
        return false;
    if (key)
        *key = ev->key;
    return true;
}

uint32_t spw_event_generation(const spw_event *ev) {
    return ev->generation;
}

int64_t spw_event_lut_ms(const spw_event *ev) {
    return ev->lut_ms;
}

uint32_t spw_event_src_id(const spw_event *ev) {
    return ev->src_id;
}

int64_t spw_event_expiry(const spw_event *ev) {
    return ev->expiry;
}

uint16_t spw_event_port(const spw_event *ev) {
    return ev->port;
}

size_t spw_event_bin_count(const spw_event *ev) {
    return ev->n_bins;
}

const spw_bin *spw_event_bin(const spw_event *ev, size_t i) {
    return i < ev->n_bins ? &ev->bins[i] : NULL;
}

const spw_bin *spw_event_find_bin(const spw_event *ev, const char *name, size_t n) {
    if (name == NULL && n != 0)
        return NULL;
    for (uint32_t i = 0; i < ev->n_bins; i++) {
        const spw_bin *b = &ev->bins[i];
        if (b->name.len == n && (n == 0 || memcmp(b->name.ptr, name, n) == 0))
            return b;
    }
    return NULL;
}

const uint8_t *spw_event_raw(const spw_event *ev, size_t *len) {
    if (len)
        *len = ev->raw.ptr ? ev->raw.len : 0;
    return (const uint8_t *)ev->raw.ptr;
}

uint64_t spw_event_id(const spw_event *ev) {
    return ev->id;
}

/* ---- Lifetime. ---- */

spw_event *spw_event_ref(spw_event *ev) {
    /* Taking a reference needs no ordering: the caller already holds one. */
    if (ev)
        atomic_fetch_add_explicit(&ev->refs, 1u, memory_order_relaxed);
    return ev;
}

void spw_event_unref(spw_event *ev) {
    if (ev == NULL)
        return;
    /* Release so that every holder's writes happen before the free; the
     * acquire fence makes them visible to the thread that frees. */
    if (atomic_fetch_sub_explicit(&ev->refs, 1u, memory_order_release) == 1u) {
        atomic_thread_fence(memory_order_acquire);
        free(ev);
    }
}

/* ---- Particle types. ---- */

const char *spw_particle_name(uint8_t type) {
    switch (type) {
    case SPW_PT_NIL: return "nil";
    case SPW_PT_INTEGER: return "integer";
    case SPW_PT_DOUBLE: return "double";
    case SPW_PT_STRING: return "string";
    case SPW_PT_BLOB: return "blob";
    case SPW_PT_JBLOB: return "java-blob";
    case SPW_PT_CSBLOB: return "csharp-blob";
    case SPW_PT_PYBLOB: return "python-blob";
    case SPW_PT_RBBLOB: return "ruby-blob";
    case SPW_PT_PHPBLOB: return "php-blob";
    case SPW_PT_ERLBLOB: return "erlang-blob";
    case SPW_PT_VECTOR: return "vector";
    case SPW_PT_BOOL: return "bool";
    case SPW_PT_HLL: return "hll";
    case SPW_PT_MAP: return "map";
    case SPW_PT_LIST: return "list";
    case SPW_PT_GEOJSON: return "geojson";
    default: return "unknown";
    }
}

bool spw_particle_is_blob(uint8_t type) {
    return type == SPW_PT_BLOB || (type >= SPW_PT_JBLOB && type <= SPW_PT_ERLBLOB);
}

bool spw_event_meta_wanted(const spw_event *ev, spw_meta field) {
    return (ev->meta_excluded & (unsigned)field) == 0;
}

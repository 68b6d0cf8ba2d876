/*
 * spillway/event.h: one change notification, its typed values, and the
 * walker for list and map values.
 *
 * An event is immutable once a source has submitted it. Values stay in
 * their Aerospike wire form (big-endian integers, MessagePack collections)
 * until a stage asks for them through the accessors below, so a stage that
 * only forwards bytes never pays for decoding.
 *
 * Lifetime: an event is reference counted. spw_event_new returns one
 * reference owned by the caller; spw_submit transfers it to the core. A
 * stage that keeps an event beyond the call that lent it takes its own
 * reference (spw_event_ref) and releases it (spw_event_unref). Reference
 * counting is atomic, but an event is otherwise only ever touched by the
 * worker thread that created it.
 */
#ifndef SPILLWAY_EVENT_H
#define SPILLWAY_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spillway/result.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Aerospike particle types, numbered as on the wire. */
typedef enum spw_particle {
    SPW_PT_NIL = 0,      /* bin deleted (bin-level shipping) */
    SPW_PT_INTEGER = 1,  /* 8 bytes, signed, big-endian */
    SPW_PT_DOUBLE = 2,   /* 8 bytes, IEEE-754, big-endian */
    SPW_PT_STRING = 3,   /* raw bytes, meant to be UTF-8 (not guaranteed) */
    SPW_PT_BLOB = 4,     /* raw bytes */
    SPW_PT_JBLOB = 7,    /* Java serialized blob */
    SPW_PT_CSBLOB = 8,   /* C# serialized blob */
    SPW_PT_PYBLOB = 9,   /* Python serialized blob */
    SPW_PT_RBBLOB = 10,  /* Ruby serialized blob */
    SPW_PT_PHPBLOB = 11, /* PHP serialized blob */
    SPW_PT_ERLBLOB = 12, /* Erlang serialized blob */
    SPW_PT_VECTOR = 16,  /* raw bytes (newer servers) */
    SPW_PT_BOOL = 17,    /* 1 byte, 0 or 1 */
    SPW_PT_HLL = 18,     /* HyperLogLog, raw bytes */
    SPW_PT_MAP = 19,     /* MessagePack map (see the walker) */
    SPW_PT_LIST = 20,    /* MessagePack array (see the walker) */
    SPW_PT_GEOJSON = 23, /* 1 flag byte, u16 cell count, 8 bytes per cell, text */
} spw_particle;

/* Short lowercase name of a particle type ("integer", "map"...), "unknown" otherwise. */
SPW_API const char *spw_particle_name(uint8_t type);

/* True for the blob family (4, 7..12): raw bytes with a language tag. */
SPW_API bool spw_particle_is_blob(uint8_t type);

typedef enum spw_op {
    SPW_OP_WRITE = 1,  /* record created, updated, replaced or touched */
    SPW_OP_DELETE = 2, /* record deleted (see spw_event_durable) */
} spw_op;

/* A byte string that is not NUL-terminated. ptr is borrowed from its event. */
typedef struct spw_str {
    const char *ptr; /* NULL when absent */
    size_t len;
} spw_str;

/*
 * A typed value in wire form: a bin value, a user key, or an element found
 * by the walker. data is borrowed from the event (or from the walked bytes).
 */
typedef struct spw_value {
    uint8_t type;        /* spw_particle */
    const uint8_t *data; /* wire bytes of the value */
    size_t len;
} spw_value;

/* One bin. All pointers are borrowed from the event. */
typedef struct spw_bin {
    spw_str name;
    spw_value value;
    int64_t lut_ms; /* per-bin last-update time, Unix ms; 0 when not shipped */
} spw_bin;

typedef struct spw_event spw_event;

/* ---- Reading an event (any stage). All results are borrowed from ev. ---- */

SPW_API spw_op spw_event_op(const spw_event *ev);
SPW_API bool spw_event_durable(const spw_event *ev);        /* durable delete */
SPW_API spw_str spw_event_namespace(const spw_event *ev);
SPW_API spw_str spw_event_set(const spw_event *ev);          /* ptr NULL: no set */
SPW_API const uint8_t *spw_event_digest(const spw_event *ev); /* 20 bytes */
/* Fills *key and returns true when the record's user key was shipped. */
SPW_API bool spw_event_key(const spw_event *ev, spw_value *key);
SPW_API uint32_t spw_event_generation(const spw_event *ev);
SPW_API int64_t spw_event_lut_ms(const spw_event *ev);       /* Unix ms, 0 unknown */
SPW_API uint32_t spw_event_src_id(const spw_event *ev);      /* XDR src-id, 0 none */
SPW_API int64_t spw_event_expiry(const spw_event *ev);       /* Unix s, 0 never */
SPW_API uint16_t spw_event_port(const spw_event *ev);        /* listener port, 0 none */
SPW_API size_t spw_event_bin_count(const spw_event *ev);
/* Bin i (0 <= i < count); NULL when out of range. */
SPW_API const spw_bin *spw_event_bin(const spw_event *ev, size_t i);
/* First bin named `name` (n bytes), NULL when absent. */
SPW_API const spw_bin *spw_event_find_bin(const spw_event *ev, const char *name, size_t n);
/* The record's frame exactly as it arrived (uncompressed); NULL when the source has none. */
SPW_API const uint8_t *spw_event_raw(const spw_event *ev, size_t *len);
/* A sequence number unique within the process, assigned at creation (for logs). */
SPW_API uint64_t spw_event_id(const spw_event *ev);

/*
 * Metadata fields a route may exclude (sink option metadata_exclude). A
 * codec asks before writing each field and leaves out (or writes null for,
 * where its format has a fixed position) any field that is not wanted.
 */
typedef enum spw_meta {
    SPW_META_NAMESPACE = 0x001,
    SPW_META_SET = 0x002,
    SPW_META_KEY = 0x004,     /* the user key */
    SPW_META_DIGEST = 0x008,
    SPW_META_MSG = 0x010,     /* write / delete */
    SPW_META_GEN = 0x020,
    SPW_META_LUT = 0x040,
    SPW_META_EXP = 0x080,
    SPW_META_DURABLE = 0x100,
} spw_meta;
/* True unless the route that is encoding this event excluded `field`. */
SPW_API bool spw_event_meta_wanted(const spw_event *ev, spw_meta field);

/* Takes another reference; returns ev. */
SPW_API spw_event *spw_event_ref(spw_event *ev);
/* Releases one reference (transferred); the last one frees the event. NULL is a no-op. */
SPW_API void spw_event_unref(spw_event *ev);

/* ---- Building an event (sources). ---- */

/*
 * Allocates an event able to hold up to max_bins bins and data_cap bytes of
 * names and values, in one allocation. Returns NULL when out of memory.
 * The result is owned by the caller (release with spw_event_unref, or
 * transfer with spw_submit).
 *
 * Every setter that takes bytes copies them into the event's data area,
 * except when they already lie inside it (spw_event_data): then they are
 * referenced where they are. A source that copies its whole frame into the
 * data area first therefore builds an event with no further copying.
 * A setter fails with SPW_ERR_NOSPACE when the data area is full.
 *
 * Layout: copies are placed at the END of the data area, growing down, so a
 * source may write its frame at the front and reference it in place; size
 * data_cap as the frame length plus room for whatever must be copied. A
 * setter given (NULL, 0) clears the field (no set, no raw frame); a
 * non-NULL pointer with length 0 sets it present but empty.
 */
SPW_API spw_event *spw_event_new(uint32_t max_bins, size_t data_cap);
/* The writable data area (data_cap bytes); valid until the event is submitted. */
SPW_API uint8_t *spw_event_data(spw_event *ev);

/* durable is only meaningful for deletes: on a write it is ignored (on the
 * wire the same bit means "bin LUTs shipped"). */
SPW_API spw_result spw_event_set_op(spw_event *ev, spw_op op, bool durable);
SPW_API spw_result spw_event_set_namespace(spw_event *ev, const void *s, size_t n);
SPW_API spw_result spw_event_set_set(spw_event *ev, const void *s, size_t n);
/* type is SPW_PT_INTEGER, _DOUBLE, _STRING or _BLOB; v is in wire form. */
SPW_API spw_result spw_event_set_key(spw_event *ev, uint8_t type, const void *v, size_t n);
SPW_API void spw_event_set_digest(spw_event *ev, const uint8_t digest[20]);
SPW_API void spw_event_set_generation(spw_event *ev, uint32_t gen);
SPW_API void spw_event_set_lut(spw_event *ev, int64_t unix_ms, uint32_t src_id);
SPW_API void spw_event_set_expiry(spw_event *ev, int64_t unix_s);
SPW_API void spw_event_set_port(spw_event *ev, uint16_t port);
SPW_API spw_result spw_event_set_raw(spw_event *ev, const void *p, size_t n);
/* lut_ms: the bin's LUT in Unix ms, 0 when none. Fails with NOSPACE past max_bins. */
SPW_API spw_result spw_event_add_bin(spw_event *ev, const void *name, size_t name_len,
                                     uint8_t type, const void *value, size_t value_len,
                                     int64_t lut_ms);

/* RIPEMD-160 digest of a record as Aerospike computes it: set || key type || key bytes. */
SPW_API void spw_digest_compute(const void *set, size_t set_len, uint8_t key_type,
                                const void *key, size_t key_len, uint8_t out[20]);

/* ---- Typed accessors for values. They check the type and the length. ---- */

/* SPW_OK, or SPW_ERR_INVAL when the value is not of that type or malformed. */
SPW_API spw_result spw_value_int(const spw_value *v, int64_t *out);
SPW_API spw_result spw_value_double(const spw_value *v, double *out);
SPW_API spw_result spw_value_bool(const spw_value *v, bool *out);
/* Strings: the bytes, not validated as UTF-8 (see spw_utf8_valid). */
SPW_API spw_result spw_value_str(const spw_value *v, spw_str *out);
/* Blob family, HLL, vector: the raw bytes. */
SPW_API spw_result spw_value_bytes(const spw_value *v, const uint8_t **p, size_t *n);

typedef struct spw_geojson {
    uint8_t flags;
    uint16_t ncells;
    const uint8_t *cells; /* ncells * 8 bytes, big-endian cell ids */
    spw_str text;         /* the GeoJSON document */
} spw_geojson;
SPW_API spw_result spw_value_geojson(const spw_value *v, spw_geojson *out);

/* True when p[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
SPW_API bool spw_utf8_valid(const void *p, size_t n);

/* ---- The walker for SPW_PT_LIST and SPW_PT_MAP values. ----
 *
 * Aerospike stores collections as MessagePack with two twists, both
 * undone here: strings and binary values start with a particle-type byte
 * (0x03 string, 0x04 blob, 0x17 GeoJSON...), which the walker strips and
 * reports as the item's particle type; and an ordered list or map carries
 * its order flags as a leading zero-length ext element (or key with a nil
 * value), which the walker consumes and reports in the container item.
 *
 * The walk is a flat pre-order traversal: a LIST item with count n is
 * followed by its n elements, a MAP item with count n by n key/value pairs
 * (2n items). Nothing is allocated; nesting depth is bounded
 * (SPW_WALK_MAX_DEPTH) and every length is checked against the input, so
 * arbitrary bytes can be walked safely.
 */
#define SPW_WALK_MAX_DEPTH 64

typedef enum spw_item_kind {
    SPW_ITEM_NIL = 0,
    SPW_ITEM_BOOL,
    SPW_ITEM_INT,    /* signed integer (MessagePack int that fits int64) */
    SPW_ITEM_UINT,   /* unsigned integer above INT64_MAX */
    SPW_ITEM_DOUBLE, /* float32 widened, or float64 */
    SPW_ITEM_STR,    /* str or bin with prefix 0x03 (string): see ptype */
    SPW_ITEM_BYTES,  /* str or bin with any other prefix, or none: see ptype */
    SPW_ITEM_LIST,
    SPW_ITEM_MAP,
    SPW_ITEM_EXT,    /* an ext value that is not an order marker (wildcard, infinity...) */
} spw_item_kind;

/* List/map order flags as Aerospike encodes them. */
#define SPW_ORDER_KEY 0x01      /* list: ordered; map: key-ordered */
#define SPW_ORDER_KEY_VALUE 0x03
#define SPW_ORDER_PRESERVE 0x08

typedef struct spw_item {
    spw_item_kind kind;
    unsigned depth;        /* 0 for the top-level value */
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double d;
        struct {
            uint8_t ptype;       /* particle type from the prefix byte; SPW_PT_BLOB when a bin had none */
            const uint8_t *ptr;  /* payload after the prefix byte */
            size_t len;
        } bytes;                 /* STR, BYTES */
        struct {
            uint32_t count;      /* elements (list) or pairs (map), order marker excluded */
            uint8_t order;       /* order flags, 0 when unordered */
        } coll;                  /* LIST, MAP */
        struct {
            int8_t type;
            const uint8_t *ptr;
            size_t len;
        } ext;
    } u;
} spw_item;

typedef struct spw_walker {
    const uint8_t *p, *end;
    unsigned depth;
    uint32_t remaining[SPW_WALK_MAX_DEPTH + 1]; /* items left per open container */
    unsigned open;                               /* open containers */
} spw_walker;

/* Starts a walk over a LIST or MAP value (or any MessagePack bytes with type SPW_PT_LIST). */
SPW_API spw_result spw_walk_init(spw_walker *w, const spw_value *v);
/*
 * Reads the next item. Returns SPW_OK with *it filled, SPW_ERR_NOTFOUND at
 * the end of the value, SPW_ERR_INVAL on malformed or truncated input or
 * when nesting exceeds SPW_WALK_MAX_DEPTH. After an error the walk is over.
 */
SPW_API spw_result spw_walk_next(spw_walker *w, spw_item *it);

#ifdef __cplusplus
}
#endif
#endif /* SPILLWAY_EVENT_H */

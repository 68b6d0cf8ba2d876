/*
 * plugins/source-generate/generate.h: what the two halves of the generate
 * source share. generate.c owns the flow (pacing, submission, retries,
 * finishing); record.c owns the content (turning a sequence number into
 * the change event it stands for, byte for byte as XDR would ship it).
 *
 * Nothing here is exported: the plugin's only visible symbol is its
 * descriptor (the build hides everything else).
 */
#ifndef SPW_PLUGIN_GENERATE_H
#define SPW_PLUGIN_GENERATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <spillway/spillway.h>

/* key_type choices, in the order of the option's `choices` string. */
enum gen_key_type { GEN_KEY_INTEGER = 0, GEN_KEY_STRING, GEN_KEY_BLOB, GEN_KEY_NONE };

/* The parsed options (owned by the core, shared read-only by every worker). */
struct gen_conf {
    int64_t count;
    int64_t rate;
    spw_strlist namespaces;
    spw_strlist sets;
    int key_type;
    int64_t bins;
    spw_strlist bin_types;
    int64_t value_size;
    double delete_ratio;
    double durable_ratio;
    int64_t ttl_ms;
    bool bin_luts;
    int64_t seed;
};

/* Largest bins value the option table allows; record.c sizes its tables by it. */
#define GEN_MAX_BINS 1000

/*
 * Largest event data area a configuration may imply. Aerospike's protocol
 * caps one message at 128 MiB, so no real XDR record is bigger; refusing
 * such configurations in check() keeps a typo from allocating gigabytes.
 */
#define GEN_MAX_RECORD ((uint64_t)128 << 20)

/* One worker's reusable scratch space for building events. */
struct gen_builder {
    spw_buf scratch;       /* the record's data area, laid out before the event exists */
    struct gen_binspan {
        uint8_t type;
        size_t name_off, name_len;
        size_t off, len;   /* the value; offsets are within scratch */
    } *bins;               /* cf->bins entries */
    uint8_t *types;        /* particle type of each bin_types item */
    size_t n_types;
};

/* Validates what the option table cannot express (no side effects). */
spw_result gen_check_conf(const struct gen_conf *cf, spw_err *err);

/* Prepares a builder for cf; SPW_ERR_NOMEM or SPW_OK. Release with gen_builder_free. */
spw_result gen_builder_init(struct gen_builder *b, const struct gen_conf *cf);
void gen_builder_free(struct gen_builder *b);

/*
 * Builds the event for sequence number seq as of now_ms (wall clock, Unix
 * ms): same seq and seed, same record (only LUT and expiry follow the
 * clock). Returns a new event (owned by caller) or NULL when out of memory.
 */
spw_event *gen_build(struct gen_builder *b, const struct gen_conf *cf, uint64_t seq,
                     int64_t now_ms);

#endif /* SPW_PLUGIN_GENERATE_H */

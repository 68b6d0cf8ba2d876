/*
 * plugins/filter-lut-order/plugin.c: the `lut-order` filter, the vendor's
 * record ordering. A record whose LUT is older than one already let
 * through for the same digest is kept off the route (SPW_SKIP: answered
 * done without dispatch) and counted `stale`; an equal LUT passes, since
 * XDR resends the very same version when it was not answered in time, and
 * that one must be delivered. Deletes take part like writes. A record
 * without a LUT (0) passes uncached: it cannot be ordered.
 *
 * The cache must be one per filter section, shared by every worker (a
 * record's versions arrive on any connection, so on any worker). The SDK
 * gives each worker its own instance, but every worker's create() is
 * handed the same configuration struct, owned by the core for the life of
 * the pipeline; so the plugin keeps a small registry, config pointer ->
 * cache with a reference count, locked only in create() and destroy().
 * The per-event path takes one shard lock, never the registry's.
 */
#include <pthread.h>
#include <stdlib.h>
#include <spillway/spillway.h>
#include "cache.h"

struct lo_conf {
    int64_t max_entries;
    int64_t ttl_ms;
    int64_t shards;
};

typedef struct shared {
    const void *conf; /* the key: the section's parsed configuration */
    lut_cache *cache;
    unsigned refs;
    struct shared *next;
} shared;

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static shared *registry;

struct lut_order {
    shared *sh;
    spw_counter *c_stale, *c_passed, *c_unordered;
};

#define OFF(f) offsetof(struct lo_conf, f)

static const spw_option lo_options[] = {
    {"max_entries", SPW_OPT_INT, 0, "1000000", 1024, 1e9, NULL, OFF(max_entries),
     "Digests remembered at most (about 52 bytes each, allocated as used); past it the least "
     "recently updated one is forgotten."},
    {"ttl", SPW_OPT_DURATION, 0, "10m", 1000, 7 * 86400000.0, NULL, OFF(ttl_ms),
     "How long a digest's newest LUT is remembered after it was last updated; an older version "
     "arriving later than this passes."},
    {"shards", SPW_OPT_INT, 0, "64", 1, 4096, NULL, OFF(shards),
     "Independent locks the cache is split into (rounded up to a power of two)."},
    SPW_OPTIONS_END,
};

static spw_result lo_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct lo_conf *cf = config;
    struct lut_order *f = calloc(1, sizeof *f);
    if (!f)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    pthread_mutex_lock(&registry_mu);
    shared *sh = registry;
    while (sh && sh->conf != config)
        sh = sh->next;
    if (!sh) {
        sh = calloc(1, sizeof *sh);
        if (sh && !(sh->cache = lut_cache_new((uint64_t)cf->max_entries, (uint64_t)cf->ttl_ms,
                                              (unsigned)cf->shards))) {
            free(sh);
            sh = NULL;
        }
        if (sh) {
            sh->conf = config;
            sh->next = registry;
            registry = sh;
        }
    }
    if (sh)
        sh->refs++;
    pthread_mutex_unlock(&registry_mu);
    if (!sh) {
        free(f);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory for the LUT cache");
    }
    f->sh = sh;
    f->c_stale = spw_counter_register(st, "stale",
                                      "Records older than one already dispatched: done without dispatch.");
    f->c_passed = spw_counter_register(st, "passed", "Records as new as or newer than any seen.");
    f->c_unordered = spw_counter_register(st, "unordered", "Records without a LUT, passed uncached.");
    *inst = f;
    return SPW_OK;
}

static void lo_destroy(void *inst) {
    struct lut_order *f = inst;
    if (!f)
        return;
    pthread_mutex_lock(&registry_mu);
    if (--f->sh->refs == 0) {
        shared **p = &registry;
        while (*p != f->sh)
            p = &(*p)->next;
        *p = f->sh->next;
        lut_cache_free(f->sh->cache);
        free(f->sh);
    }
    pthread_mutex_unlock(&registry_mu);
    free(f);
}

static spw_result lo_match(void *inst, const spw_event *ev) {
    struct lut_order *f = inst;
    int64_t lut = spw_event_lut_ms(ev);
    if (lut == 0) {
        spw_counter_add(f->c_unordered, 1);
        return SPW_OK;
    }
    if (lut_cache_offer(f->sh->cache, spw_event_digest(ev), lut, spw_time_mono_ms()) == LUT_STALE) {
        spw_counter_add(f->c_stale, 1);
        return SPW_SKIP;
    }
    spw_counter_add(f->c_passed, 1);
    return SPW_OK;
}

static const spw_filter_ops lo_ops = {.match = lo_match};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_FILTER, .name = "lut-order", .version = "1.0.0",
                  .description = "never dispatches a record older (by LUT) than one already "
                                 "dispatched for the same digest",
                  .options = lo_options, .config_size = sizeof(struct lo_conf),
                  .create = lo_create, .destroy = lo_destroy, .filter = &lo_ops);

/*
 * plugins/filter-lut-order/cache.h: digest -> newest LUT, shared by every
 * worker of one filter section.
 *
 * Sharded by the digest's first bytes (RIPEMD-160 output, already
 * uniform): each shard has its own mutex, its own hash chains and its own
 * LRU list, so workers contend only when two records fall in the same
 * shard at the same moment, and there is no global lock. Bounded twice:
 * at most max_entries digests (the least recently updated one is reused
 * first), and an entry older than ttl counts as absent. Entries are
 * allocated per shard as they are first needed (doubling up to the
 * shard's share of max_entries), so memory follows use; see
 * lut_cache_bytes and doc/lut-order.md for the measured cost per entry.
 */
#ifndef SPW_LUT_CACHE_H
#define SPW_LUT_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lut_cache lut_cache;

/* NULL when out of memory. shards is rounded up to a power of two (1..4096). */
lut_cache *lut_cache_new(uint64_t max_entries, uint64_t ttl_ms, unsigned shards);
void lut_cache_free(lut_cache *c);

typedef enum lut_verdict {
    LUT_NEWER = 0, /* first seen, newer than the cached LUT, or the cached one expired: cached now */
    LUT_EQUAL = 1, /* the same LUT as cached: passes (XDR resends a version it was not answered for) */
    LUT_STALE = 2, /* older than the cached LUT: must not be dispatched */
} lut_verdict;

/* Looks the digest up and records lut when it is not older. now_ms: a monotonic clock. */
lut_verdict lut_cache_offer(lut_cache *c, const uint8_t digest[20], int64_t lut, uint64_t now_ms);

/* Entries in use, and entries evicted to make room (both summed over shards, locking each). */
uint64_t lut_cache_entries(lut_cache *c);
uint64_t lut_cache_evictions(lut_cache *c);
/* Bytes the cache has allocated (entries, buckets, shards). */
uint64_t lut_cache_bytes(lut_cache *c);
/* sizeof one entry (for the docs and the test). */
size_t lut_cache_entry_size(void);

#endif

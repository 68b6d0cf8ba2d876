/*
 * tests/unit/test-lut-cache.c: the lut-order filter's cache
 * (plugins/filter-lut-order/cache.c): verdicts, TTL, the entry bound and
 * LRU reuse, several threads on shared digests, and the memory one entry
 * costs, measured with mallinfo2 (doc/lut-order.md quotes it).
 */
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include "../tap.h"
#include "../../plugins/filter-lut-order/cache.h"

static void dg(uint8_t d[20], uint64_t n) {
    /* Spread like a real digest: a multiplicative hash of n in the first 8 bytes. */
    uint64_t h = (n + 1) * 0x9E3779B97F4A7C15ull;
    memset(d, 0, 20);
    memcpy(d, &h, 8);
    memcpy(d + 8, &n, 8);
}

#define THREADS 4
#define DIGESTS 512
#define ROUNDS 2000

static lut_cache *shared_cache;

static void *hammer(void *arg) {
    unsigned t = (unsigned)(size_t)arg;
    uint8_t d[20];
    for (int r = 0; r < ROUNDS; r++)
        for (uint64_t k = 0; k < DIGESTS; k++) {
            dg(d, k);
            /* Each thread offers its own LUTs, interleaved with the others'. */
            lut_cache_offer(shared_cache, d, (int64_t)(r * THREADS + t + 1), 1000);
        }
    return NULL;
}

int main(void) {
    uint8_t a[20], b[20];
    dg(a, 1);
    dg(b, 2);
    lut_cache *c = lut_cache_new(4096, 60000, 4);
    ok(c != NULL, "new");
    is_int(lut_cache_offer(c, a, 100, 0), LUT_NEWER, "first version passes");
    is_int(lut_cache_offer(c, a, 100, 1), LUT_EQUAL, "the same LUT again passes (equal)");
    is_int(lut_cache_offer(c, a, 99, 2), LUT_STALE, "an older LUT is stale");
    is_int(lut_cache_offer(c, a, 101, 3), LUT_NEWER, "a newer LUT passes");
    is_int(lut_cache_offer(c, a, 100, 4), LUT_STALE, "the previous newest is now stale");
    is_int(lut_cache_offer(c, b, 50, 5), LUT_NEWER, "another digest is independent");
    is_int(lut_cache_offer(c, a, 101, 60002), LUT_EQUAL, "within the TTL of the last update");
    is_int(lut_cache_offer(c, a, 90, 120001), LUT_STALE, "a stale offer does not refresh... ");
    is_int(lut_cache_offer(c, a, 90, 120003), LUT_NEWER, "...so past the TTL the digest is forgotten");
    is_int(lut_cache_offer(c, a, 95, 120004), LUT_NEWER, "and re-learnt from the version seen");
    lut_cache_free(c);

    /* The bound: 1024 entries in 1 shard; the least recently updated goes first. */
    c = lut_cache_new(1024, 1000000, 1);
    uint8_t d[20];
    for (uint64_t k = 0; k < 1024; k++) {
        dg(d, k);
        lut_cache_offer(c, d, 10, k);
    }
    dg(d, 0);
    lut_cache_offer(c, d, 11, 2000); /* digest 0 is now the most recent */
    dg(d, 5000);
    lut_cache_offer(c, d, 10, 2001); /* evicts digest 1, the LRU */
    is_int((int)lut_cache_entries(c), 1024, "never more than max_entries");
    is_int((int)lut_cache_evictions(c), 1, "one eviction");
    dg(d, 0);
    is_int(lut_cache_offer(c, d, 10, 2002), LUT_STALE, "the recently updated digest is kept");
    dg(d, 1);
    is_int(lut_cache_offer(c, d, 5, 2003), LUT_NEWER, "the LRU digest was forgotten");
    lut_cache_free(c);

    /* Expired entries are reused before the cache grows. */
    c = lut_cache_new(100000, 1000, 1);
    for (uint64_t k = 0; k < 100; k++) {
        dg(d, k);
        lut_cache_offer(c, d, 1, 0);
    }
    for (uint64_t k = 100; k < 200; k++) {
        dg(d, k);
        lut_cache_offer(c, d, 1, 5000);
    }
    is_int((int)lut_cache_entries(c), 100, "expired entries are reused: the TTL bounds memory");
    is_int((int)lut_cache_evictions(c), 0, "reusing expired entries is not eviction");
    lut_cache_free(c);

    /* Threads. */
    shared_cache = lut_cache_new(100000, 1000000, 8);
    pthread_t th[THREADS];
    for (size_t t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, hammer, (void *)t);
    for (size_t t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    int bad = 0;
    for (uint64_t k = 0; k < DIGESTS; k++) {
        dg(d, k);
        int64_t max = (int64_t)((ROUNDS - 1) * THREADS + THREADS);
        bad += lut_cache_offer(shared_cache, d, max, 1000) != LUT_EQUAL;
        bad += lut_cache_offer(shared_cache, d, max - 1, 1000) != LUT_STALE;
    }
    is_int(bad, 0, "%d threads: every digest holds the newest LUT any of them offered", THREADS);
    lut_cache_free(shared_cache);

    /* Memory per entry, measured. */
    {
        const uint64_t n = 1000000;
        struct mallinfo2 before = mallinfo2();
        c = lut_cache_new(n, 1000000, 64);
        for (uint64_t k = 0; k < n; k++) {
            dg(d, k);
            lut_cache_offer(c, d, 1, 0);
        }
        struct mallinfo2 after = mallinfo2();
        double per = (double)((after.uordblks + after.hblkhd) - (before.uordblks + before.hblkhd)) / (double)n;
        diag("memory: %.1f bytes per entry measured (heap in use), %.1f counted by the cache, "
             "sizeof(entry) %zu, %llu entries",
             per, (double)lut_cache_bytes(c) / (double)n, lut_cache_entry_size(),
             (unsigned long long)lut_cache_entries(c));
        /* Each shard holds max_entries / shards: an uneven spread evicts a few early. */
        uint64_t e = lut_cache_entries(c);
        ok(e <= n && e > n - n / 1000, "a million digests: within max_entries, 99.9%% kept (%llu)",
           (unsigned long long)e);
        /* ASan keeps its own heap (mallinfo2 sees nothing): check the cache's own count there. */
        double counted = (double)lut_cache_bytes(c) / (double)n;
        ok((per > 40 && per < 80) || (per < 1 && counted > 40 && counted < 80),
           "a full cache costs 40 to 80 bytes per entry (%.1f measured, %.1f counted)", per, counted);
        lut_cache_free(c);
    }
    return tap_done();
}

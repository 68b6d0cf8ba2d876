/*
 * tools/xdrgen/hist.c: the latency histogram. Values below 128 have a
 * bucket each; above, a value whose highest set bit is bit m (m >= 7)
 * falls in one of 64 buckets spanning [2^m, 2^(m+1)), indexed by its 6
 * bits below the top one. Index = shift * 64 + (v >> shift) with
 * shift = m - 6, which continues the exact range without a gap. Adding a
 * sample is a count-leading-zeros and an increment.
 */
#include "xdrgen.h"

static size_t bucket_of(uint64_t v) {
    if (v < 128)
        return (size_t)v;
    unsigned m = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = m - 6;
    return (size_t)shift * 64 + (size_t)(v >> shift);
}

/* The lowest value of a bucket and its width. */
static void bucket_range(size_t i, uint64_t *low, uint64_t *width) {
    if (i < 128) {
        *low = i;
        *width = 1;
        return;
    }
    unsigned shift = (unsigned)(i / 64 - 1);
    *low = (uint64_t)(i % 64 + 64) << shift;
    *width = (uint64_t)1 << shift;
}

void xg_hist_add(struct xg_hist *h, uint64_t v) {
    h->b[bucket_of(v)]++;
    if (h->count == 0 || v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    h->count++;
}

uint64_t xg_hist_quantile(const struct xg_hist *h, double q) {
    if (h->count == 0)
        return 0;
    if (q >= 1.0)
        return h->max;
    /* the rank of the sample at quantile q, 1-based, rounded up */
    uint64_t rank = (uint64_t)(q * (double)h->count);
    if ((double)rank < q * (double)h->count || rank == 0)
        rank++;
    uint64_t seen = 0;
    for (size_t i = 0; i < XG_HIST_BUCKETS; i++) {
        seen += h->b[i];
        if (seen >= rank) {
            uint64_t low, width;
            bucket_range(i, &low, &width);
            uint64_t mid = low + width / 2;
            if (mid > h->max)
                mid = h->max;
            if (mid < h->min)
                mid = h->min;
            return mid;
        }
    }
    return h->max;
}

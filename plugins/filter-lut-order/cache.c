/*
 * plugins/filter-lut-order/cache.c: the sharded digest -> LUT cache (see
 * cache.h). Per shard: a bucket array of entry indices sized once for the
 * shard's cap, singly linked chains through the entries, a doubly linked
 * LRU list (head: most recently updated) and an entry array that grows by
 * doubling up to the cap. Every update moves an entry to the LRU head and
 * stamps it with the time, so the tail is both the least recently updated
 * and the oldest: an expired entry is found at the tail, and a full shard
 * reuses its tail.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "cache.h"

#define NIL UINT32_MAX

typedef struct entry {
    uint8_t digest[20];
    uint32_t chain;      /* next entry in the bucket */
    uint32_t prev, next; /* LRU neighbours */
    int64_t lut;
    uint64_t stamp_ms;   /* when lut was recorded */
} entry;

typedef struct shard {
    pthread_mutex_t mu;
    uint32_t *buckets;
    uint32_t mask;       /* buckets - 1 */
    entry *e;
    uint32_t used, cap, max;
    uint32_t head, tail; /* LRU */
    uint64_t evictions;
    char pad[64];        /* keeps neighbouring shards' mutexes off one cache line */
} shard;

struct lut_cache {
    shard *s;
    unsigned n, shift;
    uint64_t ttl_ms;
};

size_t lut_cache_entry_size(void) { return sizeof(entry); }

static uint64_t digest_hash(const uint8_t *d) {
    uint64_t h;
    memcpy(&h, d, 8);
    return h;
}

lut_cache *lut_cache_new(uint64_t max_entries, uint64_t ttl_ms, unsigned shards) {
    unsigned n = 1, shift = 0;
    while (n < shards && n < 4096) {
        n <<= 1;
        shift++;
    }
    if (max_entries < n)
        max_entries = n;
    if (max_entries / n >= NIL)
        return NULL;
    lut_cache *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->n = n;
    c->shift = shift;
    c->ttl_ms = ttl_ms;
    c->s = calloc(n, sizeof *c->s);
    if (!c->s) {
        free(c);
        return NULL;
    }
    uint32_t per = (uint32_t)((max_entries + n - 1) / n);
    uint32_t nb = 1;
    while (nb < per)
        nb <<= 1;
    for (unsigned i = 0; i < n; i++) {
        shard *s = &c->s[i];
        pthread_mutex_init(&s->mu, NULL);
        s->max = per;
        s->mask = nb - 1;
        s->head = s->tail = NIL;
        s->buckets = malloc(nb * sizeof *s->buckets);
        if (!s->buckets) {
            c->n = i + 1;
            lut_cache_free(c);
            return NULL;
        }
        memset(s->buckets, 0xff, nb * sizeof *s->buckets); /* NIL */
    }
    return c;
}

void lut_cache_free(lut_cache *c) {
    if (!c)
        return;
    for (unsigned i = 0; i < c->n; i++) {
        pthread_mutex_destroy(&c->s[i].mu);
        free(c->s[i].buckets);
        free(c->s[i].e);
    }
    free(c->s);
    free(c);
}

static void lru_unlink(shard *s, uint32_t i) {
    entry *e = &s->e[i];
    if (e->prev != NIL)
        s->e[e->prev].next = e->next;
    else
        s->head = e->next;
    if (e->next != NIL)
        s->e[e->next].prev = e->prev;
    else
        s->tail = e->prev;
}

static void lru_push_head(shard *s, uint32_t i) {
    entry *e = &s->e[i];
    e->prev = NIL;
    e->next = s->head;
    if (s->head != NIL)
        s->e[s->head].prev = i;
    s->head = i;
    if (s->tail == NIL)
        s->tail = i;
}

static void chain_remove(shard *s, uint32_t i) {
    uint32_t *p = &s->buckets[digest_hash(s->e[i].digest) & s->mask];
    while (*p != NIL && *p != i)
        p = &s->e[*p].chain;
    if (*p == i)
        *p = s->e[i].chain;
}

/* Whether an entry stamped at `stamp` still counts at `now`. Workers read the clock
 * separately, so a stamp may be slightly ahead of a reader's now: that is live. */
static bool is_live(uint64_t stamp, uint64_t now, uint64_t ttl) {
    return now < stamp || now - stamp < ttl;
}

/*
 * An entry to fill: the LRU tail when it has expired (so that the TTL, not
 * only the cap, bounds memory), else a new one while under the cap, else
 * the tail all the same (evicted). NIL when out of memory.
 */
static uint32_t take_entry(shard *s, uint64_t now, uint64_t ttl) {
    if (s->tail != NIL && !is_live(s->e[s->tail].stamp_ms, now, ttl)) {
        uint32_t i = s->tail;
        lru_unlink(s, i);
        chain_remove(s, i);
        return i;
    }
    if (s->used < s->max) {
        if (s->used == s->cap) {
            uint32_t cap = s->cap ? s->cap * 2 : 64;
            if (cap > s->max)
                cap = s->max;
            entry *e = realloc(s->e, (size_t)cap * sizeof *e);
            if (!e)
                goto reuse;
            s->e = e;
            s->cap = cap;
        }
        return s->used++;
    }
reuse:
    if (s->tail == NIL)
        return NIL;
    uint32_t i = s->tail;
    lru_unlink(s, i);
    chain_remove(s, i);
    s->evictions++;
    return i;
}

lut_verdict lut_cache_offer(lut_cache *c, const uint8_t digest[20], int64_t lut, uint64_t now_ms) {
    uint64_t h = digest_hash(digest);
    /* The top bits choose the shard, the bottom ones the bucket: independent. */
    shard *s = &c->s[c->shift ? (unsigned)(h >> (64 - c->shift)) : 0];
    lut_verdict v = LUT_NEWER;
    pthread_mutex_lock(&s->mu);
    uint32_t *b = &s->buckets[h & s->mask];
    uint32_t i = *b;
    while (i != NIL && memcmp(s->e[i].digest, digest, 20) != 0)
        i = s->e[i].chain;
    if (i != NIL) {
        entry *e = &s->e[i];
        bool live = is_live(e->stamp_ms, now_ms, c->ttl_ms);
        if (live && lut < e->lut) {
            v = LUT_STALE; /* the newer version stays; its stamp too (it was not updated) */
        } else {
            v = live && lut == e->lut ? LUT_EQUAL : LUT_NEWER;
            e->lut = lut;
            e->stamp_ms = now_ms;
            lru_unlink(s, i);
            lru_push_head(s, i);
        }
    } else {
        i = take_entry(s, now_ms, c->ttl_ms);
        if (i != NIL) {
            b = &s->buckets[h & s->mask]; /* take_entry may have edited this chain */
            entry *e = &s->e[i];
            memcpy(e->digest, digest, 20);
            e->lut = lut;
            e->stamp_ms = now_ms;
            e->chain = *b;
            *b = i;
            lru_push_head(s, i);
        }
        /* Out of memory with nothing to reuse: the record passes uncached (never lost). */
    }
    pthread_mutex_unlock(&s->mu);
    return v;
}

uint64_t lut_cache_entries(lut_cache *c) {
    uint64_t n = 0;
    for (unsigned i = 0; i < c->n; i++) {
        pthread_mutex_lock(&c->s[i].mu);
        n += c->s[i].used;
        pthread_mutex_unlock(&c->s[i].mu);
    }
    return n;
}

uint64_t lut_cache_evictions(lut_cache *c) {
    uint64_t n = 0;
    for (unsigned i = 0; i < c->n; i++) {
        pthread_mutex_lock(&c->s[i].mu);
        n += c->s[i].evictions;
        pthread_mutex_unlock(&c->s[i].mu);
    }
    return n;
}

uint64_t lut_cache_bytes(lut_cache *c) {
    uint64_t n = sizeof *c + (uint64_t)c->n * sizeof(shard);
    for (unsigned i = 0; i < c->n; i++) {
        pthread_mutex_lock(&c->s[i].mu);
        n += (uint64_t)c->s[i].cap * sizeof(entry) + ((uint64_t)c->s[i].mask + 1) * 4;
        pthread_mutex_unlock(&c->s[i].mu);
    }
    return n;
}

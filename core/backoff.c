/*
 * core/backoff.c: retry timing for every sink. Owns the small PRNG that
 * draws the jitter and the arithmetic of "exponential backoff with full
 * jitter, bounded by Retry-After below and by the events' deadline above".
 *
 * Why full jitter: when a destination fails, every worker's retries would
 * otherwise fire in lock-step and hit it again together. Drawing the whole
 * delay uniformly in [0, cap] spreads them out best (see the AWS
 * architecture blog's comparison of jitter strategies).
 *
 * The PRNG is xorshift128+: a few shifts per draw, no locks, one state per
 * worker. It is not cryptographic and does not need to be.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <time.h>
#include "backoff.h"

/*
 * splitmix64: turns any 64-bit value (even a poor one such as a clock) into
 * a well-mixed one. Used only to expand a seed into xorshift state, which
 * must never be all zeros and should not start from correlated words.
 */
static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
    return z ^ (z >> 31);
}

static uint64_t timespec_ns(clockid_t clk) {
    struct timespec ts;
    if (clock_gettime(clk, &ts) != 0)
        return 0;
    return (uint64_t)ts.tv_sec * UINT64_C(1000000000) + (uint64_t)ts.tv_nsec;
}

/*
 * Entropy for seed 0: two workers started in the same nanosecond must
 * still differ, hence the thread identity and a process-wide counter on
 * top of the clocks. None of this needs to be secret.
 */
static uint64_t auto_seed(const void *where) {
    static atomic_uint_fast64_t calls;
    uint64_t x = timespec_ns(CLOCK_REALTIME);
    uint64_t mixed = splitmix64(&x);
    x ^= timespec_ns(CLOCK_MONOTONIC);
    mixed ^= splitmix64(&x);
    /* pthread_t is opaque; hash its bytes rather than cast it. */
    pthread_t self = pthread_self();
    const unsigned char *tb = (const unsigned char *)&self;
    uint64_t tid = UINT64_C(0xCBF29CE484222325);
    for (size_t i = 0; i < sizeof self; i++)
        tid = (tid ^ tb[i]) * UINT64_C(0x100000001B3);
    x ^= tid;
    mixed ^= splitmix64(&x);
    x ^= (uint64_t)(uintptr_t)where ^ (uint64_t)atomic_fetch_add(&calls, 1);
    mixed ^= splitmix64(&x);
    return mixed ? mixed : 1;
}

void spw__rng_seed(spw__rng *r, uint64_t seed) {
    uint64_t x = seed ? seed : auto_seed(r);
    r->s[0] = splitmix64(&x);
    r->s[1] = splitmix64(&x);
    /* The all-zero state is xorshift's one fixed point. */
    if (r->s[0] == 0 && r->s[1] == 0)
        r->s[0] = 1;
}

uint64_t spw__rng_next(spw__rng *r) {
    uint64_t s1 = r->s[0];
    const uint64_t s0 = r->s[1];
    r->s[0] = s0;
    s1 ^= s1 << 23;
    r->s[1] = s1 ^ s0 ^ (s1 >> 17) ^ (s0 >> 26);
    return r->s[1] + s0;
}

/*
 * Rejection sampling on the top bits: take just enough high bits to cover
 * [0, bound] and draw again when the value lands above bound. Every value
 * is then equally likely (a plain `% (bound+1)` favours small values), at
 * most two draws are expected, and the high bits are used because
 * xorshift128+'s lowest bits are its weakest.
 */
uint64_t spw__rng_upto(spw__rng *r, uint64_t bound) {
    if (bound == 0)
        return 0;
    unsigned bits = 64 - (unsigned)__builtin_clzll(bound);
    unsigned shift = 64 - bits;
    for (;;) {
        uint64_t x = spw__rng_next(r) >> shift;
        if (x <= bound)
            return x;
    }
}

uint64_t spw__backoff_cap(uint64_t initial_ms, uint64_t max_ms, unsigned attempt) {
    /* Attempt 0 is not meaningful (attempts are 1-based); treat it as the first. */
    unsigned shift = attempt > 1 ? attempt - 1 : 0;
    if (initial_ms == 0)
        return 0;
    if (initial_ms >= max_ms)
        return max_ms;
    /*
     * initial << shift > max  <=>  initial > max >> shift, and the right
     * side never overflows; shifts of 64 or more are undefined in C, and
     * the cap has saturated long before that anyway.
     */
    if (shift >= 64 || initial_ms > (max_ms >> shift))
        return max_ms;
    return initial_ms << shift;
}

uint64_t spw__backoff_delay(spw__rng *r, uint64_t initial_ms, uint64_t max_ms,
                            unsigned attempt, uint64_t not_before_ms, uint64_t now,
                            uint64_t deadline, int *ok) {
    uint64_t cap = spw__backoff_cap(initial_ms, max_ms, attempt);
    uint64_t delay = spw__rng_upto(r, cap);
    /* A server's Retry-After wins over our own guess: retrying earlier is wasted. */
    if (delay < not_before_ms)
        delay = not_before_ms;
    /* now + delay < deadline, written so that neither side can wrap. */
    int fits = deadline > now && delay < deadline - now;
    if (ok)
        *ok = fits;
    return delay;
}

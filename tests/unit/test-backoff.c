/*
 * tests/unit/test-backoff.c: retry timing (core/backoff.c). The cap
 * sequence and its overflow safety, the jitter's distribution, Retry-After
 * and the deadline boundary.
 */
#include <pthread.h>
#include <stdint.h>
#include "backoff.h"
#include "../tap.h"

static void test_cap(void) {
    static const uint64_t want[] = {100, 200, 400, 800, 1600, 3200, 6400, 10000, 10000, 10000};
    int all = 1;
    for (unsigned a = 1; a <= 10; a++) {
        uint64_t got = spw__backoff_cap(100, 10000, a);
        if (got != want[a - 1]) {
            diag("attempt %u: got %llu, want %llu", a, (unsigned long long)got,
                 (unsigned long long)want[a - 1]);
            all = 0;
        }
    }
    ok(all, "cap doubles from initial and stops at max");
    is_int(spw__backoff_cap(100, 10000, 0), 100, "attempt 0 is treated as the first");
    is_int(spw__backoff_cap(100, 10000, 1), 100, "attempt 1 is initial");
    is_int(spw__backoff_cap(100, 10000, 64), 10000, "attempt 64 saturates at max");
    is_int(spw__backoff_cap(100, 10000, 65), 10000, "attempt 65 saturates at max");
    is_int(spw__backoff_cap(100, 10000, 1000), 10000, "attempt 1000 saturates at max");
    is_int(spw__backoff_cap(100, 10000, UINT32_MAX), 10000, "attempt UINT_MAX saturates");
    is_int(spw__backoff_cap(500, 300, 1), 300, "initial above max is capped");
    is_int(spw__backoff_cap(0, 300, 7), 0, "initial 0 means no wait");
    ok(spw__backoff_cap(1, UINT64_MAX, 64) == UINT64_C(1) << 63, "1 << 63 at attempt 64");
    ok(spw__backoff_cap(1, UINT64_MAX, 65) == UINT64_MAX, "no wrap past 2^64");
    ok(spw__backoff_cap(UINT64_MAX / 2 + 1, UINT64_MAX, 2) == UINT64_MAX,
       "a doubling that would overflow saturates");
    ok(spw__backoff_cap(UINT64_C(3) << 40, UINT64_MAX, 30) == UINT64_MAX,
       "a large shift that would lose bits saturates");
    is_int(spw__backoff_cap(1000, 1000, 2), 1000, "initial equal to max stays max");
}

static void test_rng(void) {
    spw__rng a, b;
    spw__rng_seed(&a, 42);
    spw__rng_seed(&b, 42);
    int same = 1;
    for (int i = 0; i < 1000; i++)
        same &= spw__rng_next(&a) == spw__rng_next(&b);
    ok(same, "a fixed seed gives a reproducible sequence");

    spw__rng_seed(&a, 0);
    spw__rng_seed(&b, 0);
    int differ = 0;
    for (int i = 0; i < 4; i++)
        differ |= spw__rng_next(&a) != spw__rng_next(&b);
    ok(differ, "two automatic seeds differ even back to back");
    ok(a.s[0] != 0 || a.s[1] != 0, "automatic state is never all zero");

    is_int(spw__rng_upto(&a, 0), 0, "upto(0) is 0");
    int in_range = 1;
    for (int i = 0; i < 10000; i++)
        in_range &= spw__rng_upto(&a, 5) <= 5;
    ok(in_range, "upto(5) stays in [0,5]");
    (void)spw__rng_upto(&a, UINT64_MAX);
    ok(1, "upto(UINT64_MAX) returns");

    /* Fixed seed from here on: statistical checks must not be flaky. */
    spw__rng_seed(&a, 12345);
    unsigned long counts[3] = {0, 0, 0};
    const int n = 300000;
    for (int i = 0; i < n; i++)
        counts[spw__rng_upto(&a, 2)]++;
    int fair = 1;
    for (int v = 0; v < 3; v++) {
        double share = (double)counts[v] / n;
        if (share < 0.3233 || share > 0.3433) {
            diag("value %d share %.4f", v, share);
            fair = 0;
        }
    }
    ok(fair, "upto(2): each value about a third of the time");

    /*
     * Where a plain `x % (bound+1)` is visibly biased: bound+1 = 3 * 2^62.
     * Modulo would put half of the draws in the lowest third of the range
     * (the top quarter of 2^64 folds back onto it); rejection gives each
     * third a third.
     */
    const uint64_t third = UINT64_C(1) << 62, big = 3 * third - 1;
    unsigned long thirds[3] = {0, 0, 0};
    int big_ok = 1;
    for (int i = 0; i < 30000; i++) {
        uint64_t x = spw__rng_upto(&a, big);
        big_ok &= x <= big;
        thirds[x <= big ? x / third : 0]++;
    }
    ok(big_ok, "upto(3*2^62-1) stays in range");
    ok(thirds[0] > 9400 && thirds[0] < 10600 && thirds[1] > 9400 && thirds[1] < 10600,
       "upto(3*2^62-1) is unbiased: thirds got %lu, %lu, %lu of 30000", thirds[0], thirds[1],
       thirds[2]);
}

static void test_distribution(void) {
    spw__rng r;
    spw__rng_seed(&r, 0);
    /* initial 10, max 100000, attempt 12: cap = 10 * 2^11 = 20480. */
    const uint64_t cap = spw__backoff_cap(10, 100000, 12);
    is_int(cap, 20480, "cap for the distribution test");
    const int n = 100000;
    double sum = 0;
    uint64_t lo = UINT64_MAX, hi = 0;
    int in_range = 1, all_ok = 1;
    for (int i = 0; i < n; i++) {
        int ok_ = 0;
        uint64_t d = spw__backoff_delay(&r, 10, 100000, 12, 0, 1000, UINT64_MAX, &ok_);
        all_ok &= ok_;
        in_range &= d <= cap;
        sum += (double)d;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    double mean = sum / n, want = (double)cap / 2;
    ok(in_range, "every delay within [0, cap]");
    ok(all_ok, "a far deadline never refuses");
    ok(mean > want * 0.97 && mean < want * 1.03, "mean %.1f within 3%% of cap/2 = %.1f", mean,
       want);
    ok(lo <= cap / 100, "smallest draw %llu is near 0", (unsigned long long)lo);
    ok(hi >= cap - cap / 100, "largest draw %llu is near cap", (unsigned long long)hi);
}

static void test_retry_after(void) {
    spw__rng r;
    spw__rng_seed(&r, 7);
    int ok_ = 0, all = 1;
    /* Retry-After above the cap: the server's word is final. */
    for (int i = 0; i < 1000; i++)
        all &= spw__backoff_delay(&r, 100, 1000, 5, 5000, 0, UINT64_MAX, &ok_) == 5000;
    ok(all, "Retry-After above the cap is used as is");
    /* Retry-After inside the cap: never earlier, still jittered above it. */
    uint64_t lo = UINT64_MAX;
    all = 1;
    for (int i = 0; i < 10000; i++) {
        uint64_t d = spw__backoff_delay(&r, 100, 1000, 5, 300, 0, UINT64_MAX, &ok_);
        all &= d >= 300 && d <= 1000;
        lo = d < lo ? d : lo;
    }
    ok(all, "Retry-After inside the cap: delays in [300, 1000]");
    is_int(lo, 300, "draws below Retry-After are raised to it");
}

static void test_deadline(void) {
    spw__rng r;
    spw__rng_seed(&r, 9);
    int ok_ = -1;
    /* initial 0 makes the cap 0, so the delay is exactly Retry-After. */
    uint64_t d = spw__backoff_delay(&r, 0, 1000, 3, 500, 1000, 1501, &ok_);
    is_int(d, 500, "delay is Retry-After when the cap is 0");
    is_int(ok_, 1, "now + delay = deadline - 1: allowed");
    ok_ = -1;
    spw__backoff_delay(&r, 0, 1000, 3, 500, 1000, 1500, &ok_);
    is_int(ok_, 0, "now + delay = deadline: refused");
    ok_ = -1;
    spw__backoff_delay(&r, 0, 1000, 3, 500, 1000, 1499, &ok_);
    is_int(ok_, 0, "now + delay past deadline: refused");
    ok_ = -1;
    spw__backoff_delay(&r, 0, 1000, 3, 0, 1000, 1000, &ok_);
    is_int(ok_, 0, "deadline already reached: refused even with no delay");
    ok_ = -1;
    spw__backoff_delay(&r, 0, 1000, 3, 0, 2000, 1000, &ok_);
    is_int(ok_, 0, "deadline in the past: refused");
    ok_ = -1;
    spw__backoff_delay(&r, 0, 1000, 3, 0, 999, 1000, &ok_);
    is_int(ok_, 1, "zero delay one ms before the deadline: allowed");
    ok_ = -1;
    spw__backoff_delay(&r, 0, 1000, 3, 100, UINT64_MAX - 10, UINT64_MAX, &ok_);
    is_int(ok_, 0, "now near 2^64: no wrap-around makes it fit");
    ok_ = -1;
    spw__backoff_delay(&r, 0, 1000, 3, UINT64_MAX, 5, UINT64_MAX, &ok_);
    is_int(ok_, 0, "huge Retry-After: refused, no overflow");
    spw__backoff_delay(&r, 100, 1000, 3, 0, 0, 10, NULL);
    ok(1, "ok may be NULL");

    /* With jitter: ok must agree with the delay actually returned. */
    int agree = 1;
    for (int i = 0; i < 10000; i++) {
        uint64_t now = 5000, deadline = 5400;
        uint64_t dd = spw__backoff_delay(&r, 100, 1000, 4, 0, now, deadline, &ok_);
        agree &= ok_ == (now + dd < deadline);
    }
    ok(agree, "ok is exactly now + delay < deadline for jittered delays");
}

static void *seed_in_thread(void *arg) {
    spw__rng_seed(arg, 0);
    return NULL;
}

static void test_threads(void) {
    spw__rng r[2];
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&t[i], NULL, seed_in_thread, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    ok(r[0].s[0] != r[1].s[0] || r[0].s[1] != r[1].s[1], "threads seeded at once get different states");
}

int main(void) {
    test_cap();
    test_rng();
    test_distribution();
    test_retry_after();
    test_deadline();
    test_threads();
    return tap_done();
}

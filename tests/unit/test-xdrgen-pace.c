/*
 * tests/unit/test-xdrgen-pace.c: spillway-xdrgen's --rate schedule
 * (tools/xdrgen/pace.c), driven by a simulated clock, so nothing here
 * depends on how busy the machine is.
 *
 * A sender that polls often enough must send evenly: at 10,000 frames/s,
 * exactly one frame in every 100 us bucket (the old 1 ms bucket sent ten
 * at once). A sender that wakes late must catch up so the average rate
 * holds, but owe at most 10 ms of frames after a long stall. Odd rates
 * (non-integer intervals) keep their average over a long run.
 */
#include "xdrgen.h"

#include "../tap.h"

#define US UINT64_C(1000)
#define MS UINT64_C(1000000)

/* Frames taken when the sender polls every `step` ns from t0 for `span` ns; per-bucket counts. */
static uint64_t run(struct xg_pace *p, uint64_t t0, uint64_t span, uint64_t step, uint64_t bucket,
                    unsigned *counts, size_t nb) {
    uint64_t n = 0;
    for (uint64_t t = t0; t < t0 + span; t += step) {
        while (xg_pace_take(p, t)) {
            n++;
            size_t b = (size_t)((t - t0) / bucket);
            if (counts && b < nb)
                counts[b]++;
        }
    }
    return n;
}

static void test_even(void) {
    /* 10,000/s polled every microsecond for 1 s: one frame per 100 us, never two */
    static unsigned counts[10000];
    struct xg_pace p;
    uint64_t t0 = 5000000000u; /* any clock origin */
    xg_pace_init(&p, 10000, t0);
    uint64_t n = run(&p, t0, 1000 * MS, US, 100 * US, counts, 10000);
    is_int(n, 10000, "10,000/s for 1 s: 10,000 frames");
    unsigned lo = ~0u, hi = 0;
    for (size_t i = 0; i < 10000; i++) {
        if (counts[i] < lo)
            lo = counts[i];
        if (counts[i] > hi)
            hi = counts[i];
    }
    ok(lo == 1 && hi == 1, "exactly one frame in every 100 us bucket (min %u, max %u)", lo, hi);

    /* the same in 10 us buckets: no bucket ever holds two */
    static unsigned fine[100000];
    xg_pace_init(&p, 10000, t0);
    run(&p, t0, 1000 * MS, US, 10 * US, fine, 100000);
    unsigned busy = 0, most = 0;
    for (size_t i = 0; i < 100000; i++) {
        busy += fine[i] > 0;
        if (fine[i] > most)
            most = fine[i];
    }
    is_int(busy, 10000, "10 us buckets: one in ten holds a frame");
    is_int(most, 1, "10 us buckets: none holds two");
}

static void test_catch_up(void) {
    /* a sender woken once per millisecond sends what is due: 10 per wake-up, rate kept */
    struct xg_pace p;
    static unsigned counts[1000];
    xg_pace_init(&p, 10000, 0);
    uint64_t n = run(&p, 0, 1000 * MS, MS, MS, counts, 1000);
    ok(n >= 9990 && n <= 10000, "woken every 1 ms: the rate holds (%" PRIu64 " frames in 1 s)", n);
    ok(counts[500] == 10, "woken every 1 ms: 10 frames per wake-up (%u)", counts[500]);

    /* a 1 s stall: at most 10 ms worth (100 frames, +1 for the one due now) owed afterwards */
    xg_pace_init(&p, 10000, 0);
    run(&p, 0, 10 * MS, US, MS, NULL, 0);
    uint64_t burst = 0;
    while (xg_pace_take(&p, 1010 * MS))
        burst++;
    ok(burst >= 100 && burst <= 101, "after a 1 s stall: %" PRIu64 " frames at once (10 ms worth)",
       burst);
    /* ...and even spacing again right after */
    unsigned after[100] = {0};
    run(&p, 1010 * MS + US, 10 * MS, US, 100 * US, after, 100);
    unsigned hi = 0;
    for (size_t i = 0; i < 100; i++)
        if (after[i] > hi)
            hi = after[i];
    is_int(hi, 1, "even again after the catch-up");

    /* a slow rate: the lag bound is at least one interval (no frame lost to forgiveness) */
    xg_pace_init(&p, 10, 0);
    n = run(&p, 0, 10000 * MS, 30 * MS, 10000 * MS, NULL, 0);
    ok(n >= 99 && n <= 101, "10/s polled every 30 ms: %" PRIu64 " frames in 10 s", n);
}

static void test_odd_rate(void) {
    /* 3/s: intervals of 333,333,333.3 ns; 300 s give 900 frames, not 899 or 901 */
    struct xg_pace p;
    xg_pace_init(&p, 3, 0);
    uint64_t n = run(&p, 0, 300000 * MS, MS, 300000 * MS, NULL, 0);
    is_int(n, 900, "3/s for 300 s: 900 frames");
    /* 7,777/s for 1 s polled every microsecond */
    xg_pace_init(&p, 7777, 0);
    n = run(&p, 0, 1000 * MS, US, 1000 * MS, NULL, 0);
    is_int(n, 7777, "7,777/s for 1 s: 7,777 frames");
    /* due time: never in the past of the last frame taken, one interval on */
    xg_pace_init(&p, 1000, 42 * MS);
    ok(xg_pace_take(&p, 42 * MS), "the first frame is due at once");
    is_int(xg_pace_due_ns(&p), 43 * MS, "the next is due one interval later");
    ok(!xg_pace_take(&p, 43 * MS - 1), "not before");
    ok(xg_pace_take(&p, 43 * MS), "at its time");
}

int main(void) {
    test_even();
    test_catch_up();
    test_odd_rate();
    return tap_done();
}

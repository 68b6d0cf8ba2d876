/*
 * tools/xdrgen/pace.c: --rate as a schedule, not a bucket.
 *
 * Frame k is due at start + k / rate on the monotonic clock. A frame is
 * sent when it is due (xg_pace_take), so at a fixed rate frames leave at
 * fixed spacing: 100 us apart at 10,000/s, not ten at a time on a 1 ms
 * tick, which would queue the tenth behind the nine before it in the
 * connector and report that queueing as its latency.
 *
 * When the sender falls behind (the windows were full, the process was
 * descheduled), the frames it owes are sent as soon as it can, so the
 * average rate holds; but it owes at most XG_PACE_MAX_LAG_NS worth, so a
 * long stall is not followed by an unbounded burst (the same bound as the
 * bucket it replaces: 10 ms of sending).
 *
 * Pure arithmetic on a clock passed in: tests/unit/test-xdrgen-pace.c
 * drives it with a simulated clock.
 */
#include "xdrgen.h"

#include <time.h>

void xg_pace_init(struct xg_pace *p, double rate, uint64_t now_ns) {
    p->interval_ns = rate > 0 ? 1e9 / rate : 0;
    p->next_ns = (double)now_ns;
    p->max_lag_ns = p->interval_ns > XG_PACE_MAX_LAG_NS ? p->interval_ns : XG_PACE_MAX_LAG_NS;
}

bool xg_pace_take(struct xg_pace *p, uint64_t now_ns) {
    double now = (double)now_ns;
    if (now < p->next_ns)
        return false;
    if (now - p->next_ns > p->max_lag_ns)
        p->next_ns = now - p->max_lag_ns; /* forgive what is owed beyond the bound */
    p->next_ns += p->interval_ns;
    return true;
}

uint64_t xg_pace_due_ns(const struct xg_pace *p) {
    return p->next_ns <= 0 ? 0 : (uint64_t)p->next_ns;
}

uint64_t xg_mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

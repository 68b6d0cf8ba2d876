/*
 * core/backoff.h: retry timing, shared by every sink through the core.
 * Exponential backoff with full jitter: the n-th retry waits a uniformly
 * random time in [0, min(max, initial * 2^(n-1))], and never past the
 * deadline of the events it carries.
 */
#ifndef SPW_CORE_BACKOFF_H
#define SPW_CORE_BACKOFF_H

#include <stdint.h>
#include <spillway/abi.h>

typedef struct spw__rng { uint64_t s[2]; } spw__rng;

/* Seeds a small fast PRNG (xorshift128+); seed 0 picks one from the clock and the thread. */
void spw__rng_seed(spw__rng *r, uint64_t seed);
uint64_t spw__rng_next(spw__rng *r);
/* Uniform in [0, bound] (inclusive). */
uint64_t spw__rng_upto(spw__rng *r, uint64_t bound);

/* The cap for retry `attempt` (1-based): min(max_ms, initial_ms << (attempt-1)), overflow-safe. */
uint64_t spw__backoff_cap(uint64_t initial_ms, uint64_t max_ms, unsigned attempt);

/*
 * Delay before retry `attempt`: full jitter under the cap, at least
 * `not_before_ms` (a server's Retry-After). Sets *ok to 0 when
 * now + delay would reach `deadline` (monotonic ms): the retry must not
 * happen and the events should be answered "retry" now.
 */
uint64_t spw__backoff_delay(spw__rng *r, uint64_t initial_ms, uint64_t max_ms,
                            unsigned attempt, uint64_t not_before_ms, uint64_t now,
                            uint64_t deadline, int *ok);

#endif /* SPW_CORE_BACKOFF_H */

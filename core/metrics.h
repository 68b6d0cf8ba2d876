/*
 * core/metrics.h: counters. A counter belongs to one stage instance on one
 * worker and is only ever added to by that worker's thread (a relaxed
 * atomic load and store, so the main thread can read it at any time
 * without a lock, and the hot path takes no locked instruction). Reports sum
 * counters of the same stage and name across workers.
 */
#ifndef SPW_CORE_METRICS_H
#define SPW_CORE_METRICS_H

#include <stdatomic.h>
#include <stdio.h>
#include <spillway/plugin.h>

struct spw_counter {
    struct spw_counter *next;  /* registry list */
    const char *stage;         /* borrowed from the stage def ("sink.es") */
    char *name;
    char *help;
    atomic_uint_fast64_t value;
};

typedef struct spw__metrics spw__metrics;

spw__metrics *spw__metrics_new(void);
void spw__metrics_free(spw__metrics *m);
/* Thread-safe (workers register while they create their stages). */
spw_counter *spw__metrics_register(spw__metrics *m, const char *stage, const char *name,
                                   const char *help);
/* One line per stage: "sink.out: batches=12 delivered=1000 ..." (summed over workers). */
void spw__metrics_log(spw__metrics *m);

#endif /* SPW_CORE_METRICS_H */

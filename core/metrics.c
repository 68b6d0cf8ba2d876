/*
 * core/metrics.c: the counter registry. Registration takes a mutex (it
 * happens while workers create their stages); adding is a relaxed atomic
 * on a counter only its own worker writes, so the hot path never locks.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>
#include "log.h"
#include "metrics.h"

struct spw__metrics {
    uv_mutex_t lock;
    spw_counter *head, *tail; /* registration order, for stable reports */
};

spw__metrics *spw__metrics_new(void) {
    spw__metrics *m = calloc(1, sizeof *m);
    if (m && uv_mutex_init(&m->lock) != 0) {
        free(m);
        return NULL;
    }
    return m;
}

void spw__metrics_free(spw__metrics *m) {
    if (!m)
        return;
    for (spw_counter *c = m->head, *n; c; c = n) {
        n = c->next;
        free(c->name);
        free(c->help);
        free(c);
    }
    uv_mutex_destroy(&m->lock);
    free(m);
}

spw_counter *spw__metrics_register(spw__metrics *m, const char *stage, const char *name,
                                   const char *help) {
    spw_counter *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->stage = stage;
    c->name = strdup(name ? name : "unnamed");
    c->help = strdup(help ? help : "");
    if (!c->name || !c->help) {
        free(c->name);
        free(c->help);
        free(c);
        return NULL;
    }
    atomic_init(&c->value, 0);
    uv_mutex_lock(&m->lock);
    if (m->tail)
        m->tail->next = c;
    else
        m->head = c;
    m->tail = c;
    uv_mutex_unlock(&m->lock);
    return c;
}

void spw_counter_add(spw_counter *c, uint64_t n) {
    /*
     * Only the counter's own worker writes it, so a relaxed load and store
     * suffice (readers on other threads see a whole value, never a torn
     * one) and the hot path avoids a locked read-modify-write.
     */
    if (c)
        atomic_store_explicit(&c->value, atomic_load_explicit(&c->value, memory_order_relaxed) + n,
                              memory_order_relaxed);
}

void spw__metrics_log(spw__metrics *m) {
    char line[2048];
    uv_mutex_lock(&m->lock);
    /* One line per stage; a counter is summed with its twins of other workers the first time its name is met. */
    for (spw_counter *s = m->head; s; s = s->next) {
        bool first_stage = true;
        for (spw_counter *p = m->head; p != s; p = p->next)
            if (strcmp(p->stage, s->stage) == 0) {
                first_stage = false;
                break;
            }
        if (!first_stage)
            continue;
        size_t pos = 0;
        line[0] = 0;
        for (spw_counter *c = s; c; c = c->next) {
            if (strcmp(c->stage, s->stage) != 0)
                continue;
            bool seen = false;
            for (spw_counter *p = s; p != c; p = p->next)
                if (strcmp(p->stage, c->stage) == 0 && strcmp(p->name, c->name) == 0) {
                    seen = true;
                    break;
                }
            if (seen)
                continue;
            uint64_t sum = 0;
            for (spw_counter *t = c; t; t = t->next)
                if (strcmp(t->stage, c->stage) == 0 && strcmp(t->name, c->name) == 0)
                    sum += atomic_load_explicit(&t->value, memory_order_relaxed);
            int n = snprintf(line + pos, sizeof line - pos, "%s%s=%llu", pos ? " " : "", c->name,
                             (unsigned long long)sum);
            if (n < 0 || (size_t)n >= sizeof line - pos)
                break;
            pos += (size_t)n;
        }
        spw__log("stats", SPW_LOG_INFO, "%s: %s", s->stage, line);
    }
    uv_mutex_unlock(&m->lock);
}

/*
 * plugins/sink-gcf/tokens.c: ID tokens cached per source and audience,
 * shared by every worker of the process (the way core/http/aws-provider.c
 * shares AWS credentials; it is core-internal, so the plugin has its own).
 *
 * Refresh. A token is used until a margin before its `exp` (min(30 s,
 * lifetime / 10)) and refreshed from min(5 min, lifetime / 2) before it,
 * brought forward by a random fifth of that so that processes started
 * together do not refresh together. The first worker whose batch finds the
 * refresh due claims it (`fetching`, under the mutex): one fetch per cache
 * per process; the others keep sending with the current token. When the
 * fetch ends, every attached worker is woken through its uv_async handle
 * and sends what was waiting.
 *
 * Failures. A failed fetch counts; the next waits min(10 s, 0.5 s *
 * 2^(failures-1)), the last half of it jittered. Meanwhile batches with no
 * usable token are answered retry at once with the reason. Failures are
 * logged (by the fetching worker) at most every 30 s with a count.
 *
 * 401. A 401 for the current generation drops the token and marks the next
 * fetch as forced by a 401; further 401s for that same (now stale)
 * generation change nothing, so in-flight requests failing together cause
 * one refresh. A 401 for a token that was itself fetched after a 401 means
 * refreshing does not help (wrong audience, revoked invoker rights): the
 * caller holds the sink down; the token is dropped again so that the probe
 * after the hold-down tries a fresh one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "gcf.h"

#define LOG_EVERY_MS 30000

struct gcf_cache {
    gcf_cache *next; /* registry */
    char *key;
    int users;
    gcf_source src;
    char *audience;

    pthread_mutex_t mu;
    char *token;            /* NULL: none */
    size_t token_len;
    int64_t usable_ms, refresh_ms; /* Unix ms */
    uint64_t gen;           /* bumped by every new token */
    bool gen_after_401;     /* the current token was fetched because of a 401 */
    bool next_after_401;    /* the fetch in flight / next one is forced by a 401 */
    bool fetching;
    unsigned failures;
    int64_t next_try_ms;
    bool last_fatal;
    char last_error[512];
    int64_t last_log_ms;
    uint64_t log_suppressed;
    uv_async_t **wakes;
    size_t n_wakes, cap_wakes;
};

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static gcf_cache *registry;

static uint64_t rnd(uint64_t below) {
    uint64_t r = 0;
    if (below == 0)
        return 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint64_t)spw_time_mono_ms() * 0x9e3779b97f4a7c15u;
    return r % below;
}

static void drop_token(gcf_cache *c) {
    if (c->token) {
        OPENSSL_cleanse(c->token, c->token_len);
        free(c->token);
    }
    c->token = NULL;
    c->token_len = 0;
    c->usable_ms = c->refresh_ms = 0;
}

gcf_cache *gcf_cache_get(gcf_source *src, const char *audience, spw_err *err) {
    size_t n = strlen(src->id) + strlen(audience) + 2;
    char *key = malloc(n);
    if (!key) {
        spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    snprintf(key, n, "%s\n%s", src->id, audience);
    pthread_mutex_lock(&registry_mu);
    gcf_cache *c;
    for (c = registry; c; c = c->next)
        if (strcmp(c->key, key) == 0)
            break;
    if (c) {
        c->users++;
        pthread_mutex_unlock(&registry_mu);
        free(key);
        return c;
    }
    c = calloc(1, sizeof *c);
    if (c)
        c->audience = strdup(audience);
    if (!c || !c->audience) {
        pthread_mutex_unlock(&registry_mu);
        if (c)
            free(c);
        free(key);
        spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    c->key = key;
    c->users = 1;
    c->src = *src; /* moved */
    memset(src, 0, sizeof *src);
    pthread_mutex_init(&c->mu, NULL);
    c->next = registry;
    registry = c;
    pthread_mutex_unlock(&registry_mu);
    return c;
}

void gcf_cache_put(gcf_cache *c) {
    if (!c)
        return;
    pthread_mutex_lock(&registry_mu);
    if (--c->users > 0) {
        pthread_mutex_unlock(&registry_mu);
        return;
    }
    for (gcf_cache **p = &registry; *p; p = &(*p)->next)
        if (*p == c) {
            *p = c->next;
            break;
        }
    pthread_mutex_unlock(&registry_mu);
    drop_token(c);
    gcf_source_free(&c->src);
    pthread_mutex_destroy(&c->mu);
    free(c->wakes);
    free(c->audience);
    free(c->key);
    free(c);
}

spw_result gcf_cache_attach(gcf_cache *c, uv_async_t *wake) {
    spw_result rc = SPW_OK;
    pthread_mutex_lock(&c->mu);
    if (c->n_wakes == c->cap_wakes) {
        size_t nc = c->cap_wakes ? c->cap_wakes * 2 : 8;
        uv_async_t **n = realloc(c->wakes, nc * sizeof *n);
        if (n) {
            c->wakes = n;
            c->cap_wakes = nc;
        }
    }
    /* A worker that could not be woken would keep its waiting batches: refuse it instead. */
    if (c->n_wakes < c->cap_wakes)
        c->wakes[c->n_wakes++] = wake;
    else
        rc = SPW_ERR_NOMEM;
    pthread_mutex_unlock(&c->mu);
    return rc;
}

void gcf_cache_detach(gcf_cache *c, uv_async_t *wake) {
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_wakes; i++)
        if (c->wakes[i] == wake) {
            c->wakes[i] = c->wakes[--c->n_wakes];
            break;
        }
    pthread_mutex_unlock(&c->mu);
}

enum gcf_state gcf_cache_state(gcf_cache *c, bool *fetch, uint64_t *retry_ms, char *reason,
                               size_t rn, bool *fatal) {
    int64_t now = spw_time_unix_ms();
    enum gcf_state st;
    *fetch = false;
    pthread_mutex_lock(&c->mu);
    bool usable = c->token && now < c->usable_ms;
    bool may_fetch = !c->fetching && now >= c->next_try_ms;
    if (usable) {
        st = GCF_READY;
        if (now >= c->refresh_ms && may_fetch)
            *fetch = c->fetching = true;
    } else if (c->fetching) {
        st = GCF_WAIT;
    } else if (may_fetch) {
        st = GCF_WAIT;
        *fetch = c->fetching = true;
    } else {
        st = GCF_FAILED;
        *retry_ms = (uint64_t)(c->next_try_ms - now);
        *fatal = c->last_fatal;
        snprintf(reason, rn, "no ID token from %s: %s", c->src.what,
                 c->last_error[0] ? c->last_error : "the token was refused (HTTP 401)");
    }
    pthread_mutex_unlock(&c->mu);
    return st;
}

spw_result gcf_cache_token(gcf_cache *c, spw_buf *out, uint64_t *gen) {
    int64_t now = spw_time_unix_ms();
    spw_result rc = SPW_ERR_STATE;
    pthread_mutex_lock(&c->mu);
    if (c->token && now < c->usable_ms) {
        rc = spw_buf_append(out, c->token, c->token_len);
        *gen = c->gen;
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static void wake_all(gcf_cache *c) {
    for (size_t i = 0; i < c->n_wakes; i++)
        uv_async_send(c->wakes[i]);
}

unsigned gcf_cache_fetched(gcf_cache *c, const char *tok, const char *why, bool fatal) {
    int64_t now = spw_time_unix_ms();
    unsigned before = 0;
    pthread_mutex_lock(&c->mu);
    c->fetching = false;
    if (!tok && !why) { /* cancelled (the fetching worker is stopping): another worker retries */
        wake_all(c);
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    int64_t exp = tok ? gcf_token_exp(tok, strlen(tok)) : -1;
    if (tok && exp * 1000 <= now) {
        tok = NULL;
        why = exp < 0 ? "the token has no 'exp' claim" : "the token had expired when it arrived "
                                                         "(is the clock right?)";
        fatal = false;
    }
    if (tok) {
        char *copy = strdup(tok);
        if (copy) {
            drop_token(c);
            c->token = copy;
            c->token_len = strlen(copy);
            int64_t exp_ms = exp * 1000, life = exp_ms - now;
            int64_t margin = life / 10 < 30000 ? life / 10 : 30000;
            int64_t lead = life / 2 < 300000 ? life / 2 : 300000;
            c->usable_ms = exp_ms - margin;
            c->refresh_ms = exp_ms - lead - (int64_t)rnd((uint64_t)lead / 5 + 1);
            c->gen++;
            c->gen_after_401 = c->next_after_401;
            c->next_after_401 = false;
            before = c->failures;
            c->failures = 0;
            c->next_try_ms = 0;
            c->last_error[0] = '\0';
            c->last_fatal = false;
        } else {
            why = "out of memory";
            tok = NULL;
        }
    }
    if (!tok) {
        c->failures++;
        unsigned sh = c->failures - 1 < 5 ? c->failures - 1 : 5;
        int64_t d = 500 << sh;
        if (d > 10000)
            d = 10000;
        c->next_try_ms = now + d / 2 + (int64_t)rnd((uint64_t)d / 2 + 1);
        snprintf(c->last_error, sizeof c->last_error, "%s", why ? why : "failed");
        c->last_fatal = fatal;
    }
    wake_all(c);
    pthread_mutex_unlock(&c->mu);
    return before;
}

int gcf_cache_unauthorized(gcf_cache *c, uint64_t gen) {
    int r = 0;
    pthread_mutex_lock(&c->mu);
    if (gen == c->gen && c->token) {
        r = c->gen_after_401 ? 2 : 1;
        drop_token(c);
        c->next_after_401 = true;
    }
    pthread_mutex_unlock(&c->mu);
    return r;
}

void gcf_cache_accepted(gcf_cache *c, uint64_t gen) {
    pthread_mutex_lock(&c->mu);
    if (gen == c->gen)
        c->gen_after_401 = false;
    pthread_mutex_unlock(&c->mu);
}

bool gcf_cache_should_log(gcf_cache *c, uint64_t *suppressed) {
    int64_t now = spw_time_unix_ms();
    bool log = false;
    pthread_mutex_lock(&c->mu);
    if (c->last_log_ms == 0 || now - c->last_log_ms >= LOG_EVERY_MS) {
        log = true;
        *suppressed = c->log_suppressed;
        c->log_suppressed = 0;
        c->last_log_ms = now;
    } else {
        c->log_suppressed++;
    }
    pthread_mutex_unlock(&c->mu);
    return log;
}

const char *gcf_cache_audience(const gcf_cache *c) { return c->audience; }
const gcf_source *gcf_cache_source(const gcf_cache *c) { return c->src.what ? &c->src : NULL; }

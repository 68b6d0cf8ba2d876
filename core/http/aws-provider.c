/*
 * core/http/aws-provider.c: AWS credentials shared by every client of the
 * process, refreshed once ahead of expiry, and the gate each signed
 * request passes.
 *
 * Sharing. Clients whose chain resolves to the same remote source (the
 * same role and token file, the same container URL, the same IMDS) share
 * one provider from a process-wide registry, whatever sink or worker
 * they belong to; a static source gets a provider of its own. A provider
 * publishes credentials as immutable, refcounted snapshots and bumps an
 * atomic generation each time. A client keeps a reference to the
 * snapshot it signs with: the request path compares two integers and the
 * clock (no lock) and takes the provider's mutex only when the
 * generation moved, when a refresh is due, or when it has nothing usable.
 *
 * Refreshing. Credentials that expire are refreshed from min(5 min,
 * lifetime / 2) before expiry, minus a jitter of up to a fifth of that
 * (aws-parse.c, spw__aws_schedule), and sign until a margin before
 * expiry. The first client whose request sees the refresh due claims it
 * under the mutex (`fetching`): one fetch per provider per process at a
 * time. It performs the fetch with its own client's auxiliary requests
 * (aws-fetch.c), starting on its next loop turn so that nothing runs
 * inside spw_http_send; the others keep signing with the current
 * snapshot meanwhile. When the fetch ends, every client is woken through
 * its uv_async handle.
 *
 * Waiting. A request that finds no usable credentials while a fetch is
 * in flight (at start, or after they expired) waits in its client, for
 * at most its own timeout; credentials arriving send it with what is left
 * of that time. A fetch that fails ends the requests waiting on it with
 * SPW_HTTP_ERR_AUTH and the reason (the sink retries them), and the next
 * attempt waits min(10 s, 0.5 s * 2^(failures-1)), half of it jittered;
 * until then a request without usable credentials fails at once with
 * SPW_HTTP_ERR_AUTH rather than wait. Failures are logged at error level,
 * at most once every 30 s per provider with a count of those left out;
 * the recovery is logged too.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "http-private.h"
#include "aws-private.h"

#define LOG_EVERY_MS 30000
#define RECHECK_MS 100

static pthread_mutex_t registry_mu = PTHREAD_MUTEX_INITIALIZER;
static spw__aws_provider *registry;

/* ---- snapshots ------------------------------------------------------------ */

static spw__aws_snap *snap_new(const char *id, const char *secret, const char *token,
                               int64_t expires, int64_t refresh, int64_t usable) {
    size_t a = strlen(id) + 1, b = strlen(secret) + 1, c = token && *token ? strlen(token) + 1 : 0;
    spw__aws_snap *s = malloc(sizeof *s + a + b + c);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->expires_ms = expires;
    s->refresh_ms = refresh;
    s->usable_ms = usable;
    memcpy(s->mem, id, a);
    memcpy(s->mem + a, secret, b);
    if (c)
        memcpy(s->mem + a + b, token, c);
    s->access_key_id = s->mem;
    s->secret_access_key = s->mem + a;
    s->session_token = c ? s->mem + a + b : NULL;
    return s;
}

void spw__aws_snap_release(spw__aws_snap *s) {
    if (!s || atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
        return;
    size_t n = strlen(s->access_key_id) + strlen(s->secret_access_key) + 2 +
               (s->session_token ? strlen(s->session_token) + 1 : 0);
    OPENSSL_cleanse(s->mem, n);
    free(s);
}

static spw__aws_snap *snap_ref(spw__aws_snap *s) {
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

/* ---- providers ------------------------------------------------------------ */

static spw__aws_provider *provider_new(spw__aws_source *src, char *key) {
    spw__aws_provider *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->src = *src; /* moved */
    memset(src, 0, sizeof *src);
    p->key = key;
    p->users = 1;
    pthread_mutex_init(&p->mu, NULL);
    atomic_init(&p->gen, 0);
    spw__rng_seed(&p->rng, 0);
    if (p->src.kind == SPW__AWS_STATIC) {
        p->snap = snap_new(p->src.access_key_id, p->src.secret_access_key,
                           p->src.session_token, 0, 0, 0);
        if (!p->snap) {
            spw__aws_source_free(&p->src);
            pthread_mutex_destroy(&p->mu);
            free(p);
            return NULL;
        }
        atomic_store(&p->gen, 1);
    }
    return p;
}

static void provider_free(spw__aws_provider *p) {
    spw__aws_snap_release(p->snap);
    spw__aws_source_free(&p->src);
    OPENSSL_cleanse(p->imds_token, sizeof p->imds_token);
    pthread_mutex_destroy(&p->mu);
    free(p->key);
    free(p);
}

/* ---- the client's side ------------------------------------------------------ */

/* Takes the provider's current snapshot when it moved (p->mu held); the old one is returned for
 * release after unlocking. */
static spw__aws_snap *take_current(spw__http_aws *a) {
    spw__aws_provider *p = a->p;
    unsigned g = atomic_load_explicit(&p->gen, memory_order_relaxed);
    if (g == a->gen && a->snap == p->snap)
        return NULL;
    spw__aws_snap *old = a->snap;
    a->snap = snap_ref(p->snap);
    a->gen = g;
    return old;
}

/* The signer signs with the snapshot the client holds. */
static void sig_follow(spw__http_aws *a) {
    spw_http *s = a->s;
    const char *secret = a->snap ? a->snap->secret_access_key : NULL;
    if (s->sig.secret != secret) {
        s->sig.secret = secret;
        s->sig.key_date[0] = '\0'; /* the cached signing key was derived from the old secret */
    }
}

static bool usable(const spw__aws_snap *c, int64_t now) {
    return c && (c->usable_ms == 0 || now < c->usable_ms);
}

/* The request path's test: no lock, no call but the clocks. */
static bool fresh(spw__http_aws *a, int64_t now) {
    const spw__aws_snap *c = a->snap;
    if (!c || atomic_load_explicit(&a->p->gen, memory_order_acquire) != a->gen || !usable(c, now))
        return false;
    return c->refresh_ms == 0 || now < c->refresh_ms || spw_time_mono_ms() < a->recheck;
}

/*
 * Looks at the provider under its lock: takes its current snapshot,
 * claims the refresh when it is due and nobody has it, and says what a
 * request can do now. why: the reason when there is nothing usable.
 */
static int examine(spw__http_aws *a, int64_t now, uint64_t *results, char *why, size_t wn) {
    spw__aws_provider *p = a->p;
    uint64_t mono = spw_time_mono_ms();
    bool claim = false;
    pthread_mutex_lock(&p->mu);
    spw__aws_snap *old = take_current(a);
    const spw__aws_snap *c = a->snap;
    bool ok = usable(c, now);
    bool due = !c || (c->refresh_ms && now >= c->refresh_ms);
    if (due && !p->fetching && mono >= p->next_attempt && p->src.kind != SPW__AWS_STATIC) {
        p->fetching = true;
        claim = true;
    }
    bool fetching = p->fetching;
    if (!ok) {
        /* last_error names the source and its URL already. */
        if (fetching && !p->failures)
            snprintf(why, wn, "no AWS credentials yet (fetching from %s)", p->src.desc);
        else if (fetching)
            snprintf(why, wn, "no AWS credentials (fetching again): %s", p->last_error);
        else
            snprintf(why, wn, "no AWS credentials (next attempt in %" PRIu64 " ms): %s",
                     p->next_attempt - mono, p->last_error);
    }
    if (results)
        *results = p->results;
    a->recheck = mono + RECHECK_MS;
    pthread_mutex_unlock(&p->mu);
    spw__aws_snap_release(old);
    sig_follow(a);
    if (claim) {
        /* Started on the next loop turn: never from inside spw_http_send. */
        a->must_fetch = true;
        uv_async_send(&a->wake);
    }
    return ok ? SPW__AWS_READY : fetching ? SPW__AWS_WAIT : SPW__AWS_FAIL;
}

static void on_timer(uv_timer_t *t);

static void arm_timer(spw__http_aws *a) {
    uint64_t now = uv_now(a->s->loop), first = UINT64_MAX;
    for (spw__aws_waiter *w = a->waiters; w; w = w->next)
        if (w->since + w->tmo < first)
            first = w->since + w->tmo;
    if (first == UINT64_MAX)
        uv_timer_stop(&a->timer);
    else
        uv_timer_start(&a->timer, on_timer, first > now ? first - now : 0, 0);
}

static void waiter_push(spw__http_aws *a, spw__aws_waiter *w) {
    w->next = NULL;
    if (a->waiters_tail)
        a->waiters_tail->next = w;
    else
        a->waiters = w;
    a->waiters_tail = w;
}

int spw__http_aws_gate(spw_http *s, spw__http_req *r, uint64_t tmo, char *why, size_t wn) {
    spw__http_aws *a = s->aws;
    int64_t now = spw_time_unix_ms();
    if (fresh(a, now))
        return SPW__AWS_READY;
    uint64_t results;
    int g = examine(a, now, &results, why, wn);
    if (g != SPW__AWS_WAIT)
        return g;
    spw__aws_waiter *w = malloc(sizeof *w);
    if (!w) {
        snprintf(why, wn, "out of memory");
        return SPW__AWS_FAIL;
    }
    w->r = r;
    w->since = uv_now(s->loop);
    w->tmo = tmo;
    w->results = results;
    waiter_push(a, w);
    arm_timer(a);
    return SPW__AWS_WAIT;
}

const char *spw__http_aws_key_id(const spw_http *s) { return s->aws->snap->access_key_id; }

const char *spw__http_aws_token(const spw_http *s) { return s->aws->snap->session_token; }

/* Sends the requests whose credentials arrived, ends those that cannot have any. */
static void process_waiters(spw__http_aws *a) {
    if (!a->waiters || a->closing)
        return;
    spw__aws_waiter *list = a->waiters;
    a->waiters = a->waiters_tail = NULL;
    char why[SPW_ERR_MSG_MAX];
    uint64_t results;
    int g = examine(a, spw_time_unix_ms(), &results, why, sizeof why);
    uint64_t now = uv_now(a->s->loop);
    while (list && !a->closing) {
        spw__aws_waiter *w = list;
        list = w->next;
        spw__http_req *r = w->r;
        uint64_t waited = now - w->since;
        if (g == SPW__AWS_READY) {
            uint64_t left = w->tmo > waited ? w->tmo - waited : 1;
            free(w);
            spw__http_req_resume(r, left);
            continue;
        }
        if (g == SPW__AWS_FAIL || results != w->results) {
            free(w);
            spw__http_req_auth_fail(r, why);
        } else if (waited >= w->tmo) {
            char t[SPW_ERR_MSG_MAX];
            snprintf(t, sizeof t, "no AWS credentials within %" PRIu64 " ms: %s", w->tmo,
                     a->p->src.desc);
            free(w);
            spw__http_req_auth_fail(r, t);
        } else {
            waiter_push(a, w);
        }
    }
    while (list) { /* the client closed in a callback: its requests were cancelled */
        spw__aws_waiter *w = list;
        list = w->next;
        free(w);
    }
    if (!a->closing)
        arm_timer(a);
}

static void on_wake(uv_async_t *h) {
    spw__http_aws *a = h->data;
    if (a->closing)
        return;
    if (a->must_fetch) {
        a->must_fetch = false;
        spw__aws_fetch_start(a);
    }
    process_waiters(a);
}

static void on_timer(uv_timer_t *t) { process_waiters(t->data); }

/* ---- fetch outcomes ---------------------------------------------------------- */

static void fmt_time(int64_t ms, char *out, size_t n) {
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, n, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void spw__aws_fetch_done(spw__http_aws *a, const spw__aws_fetched *got, const char *why,
                         bool aborted) {
    spw__aws_provider *p = a->p;
    int64_t now = spw_time_unix_ms();
    uint64_t mono = spw_time_mono_ms();
    char reason[600] = "";
    spw__aws_snap *c = NULL, *old = NULL;
    if (got) {
        int64_t refresh, until;
        pthread_mutex_lock(&p->mu);
        uint64_t draw = spw__rng_next(&p->rng);
        pthread_mutex_unlock(&p->mu);
        if (!spw__aws_schedule(now, got->expires_ms, draw, &refresh, &until))
            snprintf(reason, sizeof reason,
                     "the credentials received expired at %.40s (is this machine's clock right?)",
                     got->expiration);
        else if (!(c = snap_new(got->access_key_id, got->secret_access_key, got->session_token,
                                got->expires_ms, refresh, until)))
            snprintf(reason, sizeof reason, "out of memory");
    } else if (why) {
        snprintf(reason, sizeof reason, "%s", why);
    }
    bool log_fail = false, first = false, still = false;
    unsigned failures = 0, suppressed = 0;
    uint64_t next = 0;
    int64_t still_until = 0;
    pthread_mutex_lock(&p->mu);
    p->fetching = false;
    if (!aborted) {
        p->results++;
        if (c) {
            old = p->snap;
            first = !old;
            p->snap = c;
            atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
            failures = p->failures;
            suppressed = p->suppressed;
            p->failures = p->suppressed = 0;
            p->next_attempt = 0;
            p->logged_at = 0;
        } else {
            failures = ++p->failures;
            next = spw__aws_retry_delay(p->failures, spw__rng_next(&p->rng));
            p->next_attempt = mono + next;
            snprintf(p->last_error, sizeof p->last_error, "%s", reason);
            if (!p->logged_at || mono - p->logged_at >= LOG_EVERY_MS) {
                log_fail = true;
                suppressed = p->suppressed;
                p->suppressed = 0;
                p->logged_at = mono ? mono : 1;
            } else {
                p->suppressed++;
            }
            still = usable(p->snap, now);
            still_until = p->snap ? p->snap->usable_ms : 0;
        }
    }
    for (spw__http_aws *s = p->subs; s; s = s->next_sub)
        uv_async_send(&s->wake);
    pthread_mutex_unlock(&p->mu);
    spw__aws_snap_release(old);
    if (aborted)
        return;
    spw_stage *st = a->s->st;
    char exp[32] = "never";
    if (c) {
        if (c->expires_ms)
            fmt_time(c->expires_ms, exp, sizeof exp);
        if (failures)
            spw_log(st, SPW_LOG_WARN,
                    "AWS credentials from %s obtained again after %u failed attempt(s) (they "
                    "expire %s)",
                    p->src.desc, failures, exp);
        else if (first)
            spw_log(st, SPW_LOG_INFO, "AWS credentials from %s (they expire %s)", p->src.desc, exp);
        else
            spw_log(st, SPW_LOG_DEBUG, "AWS credentials from %s refreshed (they expire %s)",
                    p->src.desc, exp);
        return;
    }
    if (!log_fail)
        return;
    char tail[160] = "";
    if (suppressed)
        snprintf(tail, sizeof tail, "; %u failure(s) since the last one logged", suppressed);
    if (still) {
        char u[32];
        fmt_time(still_until, u, sizeof u);
        spw_log(st, SPW_LOG_ERROR,
                "cannot refresh AWS credentials from %s: %s (attempt %u failed, next in %" PRIu64
                " ms%s); still signing with the current ones until %s",
                p->src.desc, reason, failures, next, tail, u);
    } else {
        spw_log(st, SPW_LOG_ERROR,
                "cannot get AWS credentials from %s: %s (attempt %u failed, next in %" PRIu64
                " ms%s); requests fail with an auth error and are retried meanwhile",
                p->src.desc, reason, failures, next, tail);
    }
}

/* ---- lifecycle ------------------------------------------------------------------- */

static const char *real_env(void *arg, const char *name) {
    (void)arg;
    return getenv(name);
}

static void handle_closed(uv_handle_t *h) {
    spw__http_aws *a = h->data;
    spw_http *s = a->s;
    if (--a->handles == 0)
        free(a);
    spw__http_handle_closed(s);
}

spw_result spw__http_aws_new(spw_http *s, spw_err *err) {
    spw__aws_source src;
    spw_result rc = spw__aws_resolve(s->cf, real_env, NULL, &src, err);
    if (rc != SPW_OK)
        return rc;
    spw__http_aws *a = calloc(1, sizeof *a);
    char *key = spw__aws_source_key(&src);
    if (!a || (!key && src.kind != SPW__AWS_STATIC)) {
        free(a);
        free(key);
        spw__aws_source_free(&src);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    a->s = s;
    spw__aws_provider *p = NULL;
    pthread_mutex_lock(&registry_mu);
    for (p = key ? registry : NULL; p; p = p->next)
        if (strcmp(p->key, key) == 0)
            break;
    if (p) {
        p->users++;
        free(key);
        spw__aws_source_free(&src);
    } else if ((p = provider_new(&src, key)) && key) {
        p->next = registry;
        registry = p;
    }
    pthread_mutex_unlock(&registry_mu);
    if (!p) {
        free(key);
        spw__aws_source_free(&src);
        free(a);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    a->p = p;
    uv_async_init(s->loop, &a->wake, on_wake);
    uv_timer_init(s->loop, &a->timer);
    a->wake.data = a->timer.data = a;
    a->handles = 2;
    s->open_handles += 2;
    pthread_mutex_lock(&p->mu);
    a->next_sub = p->subs;
    p->subs = a;
    a->subscribed = true;
    spw__aws_snap *old = take_current(a);
    pthread_mutex_unlock(&p->mu);
    spw__aws_snap_release(old);
    s->aws = a;
    sig_follow(a);
    if (spw_stage_worker(s->st) == 0)
        spw_log(s->st, SPW_LOG_INFO, "signing with AWS SigV4 (%s/%s), credentials from %s",
                s->cf->aws_region, s->cf->aws_service, p->src.desc);
    return SPW_OK;
}

void spw__http_aws_start(spw_http *s) {
    spw__http_aws *a = s->aws;
    if (!a || a->p->src.kind == SPW__AWS_STATIC)
        return;
    /* The first client of the process fetches at once, so the first batch seldom waits. */
    char why[8];
    (void)examine(a, spw_time_unix_ms(), NULL, why, sizeof why);
}

void spw__http_aws_drop_waiters(spw_http *s) {
    spw__http_aws *a = s->aws;
    if (!a)
        return;
    a->closing = true;
    while (a->waiters) {
        spw__aws_waiter *w = a->waiters;
        a->waiters = w->next;
        free(w); /* its request is busy: the client's teardown cancels it */
    }
    a->waiters_tail = NULL;
}

void spw__http_aws_close(spw_http *s) {
    spw__http_aws *a = s->aws;
    if (!a)
        return;
    s->aws = NULL;
    a->closing = true;
    spw__aws_provider *p = a->p;
    pthread_mutex_lock(&p->mu);
    for (spw__http_aws **pp = &p->subs; *pp; pp = &(*pp)->next_sub)
        if (*pp == a) {
            *pp = a->next_sub;
            break;
        }
    if (a->must_fetch || a->fetch) {
        /* Claimed but never finished: another client takes it over. */
        p->fetching = false;
        for (spw__http_aws *o = p->subs; o; o = o->next_sub)
            uv_async_send(&o->wake);
    }
    pthread_mutex_unlock(&p->mu);
    if (a->fetch) {
        spw__aws_fetch_free(a->fetch);
        a->fetch = NULL;
    }
    spw__aws_snap_release(a->snap);
    a->snap = NULL;
    s->sig.secret = NULL;
    pthread_mutex_lock(&registry_mu);
    bool last = --p->users == 0;
    if (last && p->key)
        for (spw__aws_provider **pp = &registry; *pp; pp = &(*pp)->next)
            if (*pp == p) {
                *pp = p->next;
                break;
            }
    pthread_mutex_unlock(&registry_mu);
    if (last)
        provider_free(p);
    uv_close((uv_handle_t *)&a->wake, handle_closed);
    uv_close((uv_handle_t *)&a->timer, handle_closed);
}

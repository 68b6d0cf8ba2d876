/*
 * core/http/endpoints.c: the destination URLs, load balancing and
 * endpoint health.
 *
 * Requests go round robin over the healthy endpoints. An endpoint that
 * fails `failure_threshold` requests in a row (no HTTP answer, or a 5xx the
 * plugin found worth a retry) is taken out. It comes back:
 *   - with `health_check_path`: after `health_check_threshold` consecutive
 *     2xx answers to GET base + path, probed every `health_check_interval`
 *     (the vendor's health check, same defaults) through the client itself,
 *     so over the engine and connections deliveries use;
 *   - without: after `cooldown`, on probation (one more failure takes it
 *     out again).
 * When every endpoint is out, requests go round robin over all of them
 * anyway ("panic mode"): refusing to send would only turn a partial outage
 * into a total one, and a request that succeeds brings its endpoint back
 * at once.
 *
 * Health is per worker: each worker's instance keeps its own view and
 * sends its own probes. That costs one probe per worker per interval and
 * saves any locking on the request path.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "../pipeline.h"
#include "../stage.h"
#include "http-private.h"

/*
 * A sink whose every endpoint is out tells the core (spw_sink_down), which
 * then holds the route and sends one batch as a probe instead of letting
 * every batch fail against a dead destination; the first endpoint back
 * lifts the hold. Only holds the client itself asked for are lifted here:
 * a sink holding its route for its own reason (a refused credential) keeps
 * it. The probe interval follows how endpoints come back.
 */
static bool is_sink(const spw_http *s) { return s->st && s->st->def && s->st->def->kind == SPW_KIND_SINK; }

static void all_out_check(spw_http *s, const char *why) {
    for (size_t i = 0; i < s->n_eps; i++)
        if (s->eps[i].healthy)
            return;
    if (!is_sink(s) || s->closing)
        return;
    const struct spw_http_conf *cf = s->cf;
    bool hc = cf->health_check_path && *cf->health_check_path;
    char reason[256];
    snprintf(reason, sizeof reason, "every endpoint is out (last: %s)", why);
    s->said_down = true;
    spw_sink_down(s->st, (uint64_t)(hc ? cf->health_check_interval_ms : cf->cooldown_ms), reason);
}

static void mark_up(spw__http_endpoint *ep, const char *why) {
    spw_http *s = ep->s;
    spw_timer_stop(ep->timer);
    if (ep->healthy)
        return;
    ep->healthy = true;
    ep->probe_ok = 0;
    /* Back on probation: one more failure takes it out again. */
    ep->failures = s->cf->health_check_path && *s->cf->health_check_path
                       ? 0
                       : (unsigned)s->cf->failure_threshold - 1;
    spw_counter_add(s->c_ep_up, 1);
    spw_log(s->st, SPW_LOG_INFO, "endpoint %s is back (%s)", ep->base, why);
    if (s->said_down && !s->closing) {
        s->said_down = false;
        spw_sink_up(s->st);
    }
}

static void mark_down(spw__http_endpoint *ep, const char *why) {
    spw_http *s = ep->s;
    const struct spw_http_conf *cf = s->cf;
    ep->healthy = false;
    ep->probe_ok = 0;
    spw_counter_add(s->c_ep_down, 1);
    bool hc = cf->health_check_path && *cf->health_check_path;
    spw_log(s->st, SPW_LOG_WARN,
            "endpoint %s taken out after %u consecutive failures (last: %s); %s %.1f s", ep->base,
            ep->failures, why, hc ? "health checks every" : "retried after",
            (double)(hc ? cf->health_check_interval_ms : cf->cooldown_ms) / 1000.0);
    if (hc)
        spw_timer_start(ep->timer, (uint64_t)cf->health_check_interval_ms,
                        (uint64_t)cf->health_check_interval_ms);
    else
        spw_timer_start(ep->timer, (uint64_t)cf->cooldown_ms, 0);
    all_out_check(s, why);
}

static void probe_done(const spw_http_response *resp, void *arg) {
    spw__http_endpoint *ep = arg;
    spw_http *s = ep->s;
    ep->probing = false;
    if (s->closing || ep->healthy)
        return;
    if (resp->error == SPW_HTTP_OK && resp->status >= 200 && resp->status < 300) {
        ep->probe_ok++;
        spw_log(s->st, SPW_LOG_DEBUG, "health check of %s: HTTP %d (%u/%u)", ep->base,
                resp->status, ep->probe_ok, (unsigned)s->cf->health_check_threshold);
        if (ep->probe_ok >= (unsigned)s->cf->health_check_threshold)
            mark_up(ep, "health checks pass");
    } else {
        ep->probe_ok = 0;
        spw_log(s->st, SPW_LOG_DEBUG, "health check of %s failed: %s", ep->base,
                resp->error != SPW_HTTP_OK ? resp->error_text : "unexpected status");
    }
}

static void on_timer(spw_timer *t, void *arg) {
    spw__http_endpoint *ep = arg;
    spw_http *s = ep->s;
    const struct spw_http_conf *cf = s->cf;
    (void)t;
    if (s->closing || ep->healthy)
        return;
    if (!cf->health_check_path || !*cf->health_check_path) {
        mark_up(ep, "cool-down over");
        return;
    }
    if (ep->probing)
        return; /* the previous check is still running: its timeout decides */
    spw_http_request req = {
        .method = "GET",
        .target = ep->probe_url,
        .timeout_ms = (uint64_t)cf->health_check_timeout_ms,
        .response_max = 1024,
        .flags = SPW_HTTP_NO_AUTH | SPW_HTTP_NO_COMPRESS | SPW_HTTP_TRUNCATE | SPW_HTTP_PINNED |
                 SPW_HTTP_NO_HEALTH,
        .endpoint = ep->idx,
    };
    spw_err err = {""};
    if (spw__http_send(s, &req, true, probe_done, ep, &err) != SPW_OK) {
        spw_log(s->st, SPW_LOG_DEBUG, "health check of %s not sent: %s", ep->base, err.msg);
        return;
    }
    ep->probing = true;
    spw_counter_add(s->c_probes, 1);
}

spw__http_endpoint *spw__http_endpoint_pick(spw_http *s) {
    size_t n = s->n_eps;
    for (size_t k = 0; k < n; k++) {
        spw__http_endpoint *ep = &s->eps[(s->rr + k) % n];
        if (ep->healthy) {
            s->rr = (s->rr + k + 1) % n;
            return ep;
        }
    }
    spw__http_endpoint *ep = &s->eps[s->rr % n];
    s->rr = (s->rr + 1) % n;
    return ep;
}

void spw__http_endpoint_report(spw__http_endpoint *ep, bool failed, const char *why) {
    if (!failed) {
        ep->failures = 0;
        if (!ep->healthy)
            mark_up(ep, "a request succeeded");
        return;
    }
    if (ep->failures < UINT32_MAX)
        ep->failures++;
    if (ep->healthy && ep->failures >= (unsigned)ep->s->cf->failure_threshold)
        mark_down(ep, why);
}

/* host[:port] as the Host header carries it: no userinfo, no default port. */
static char *host_of(const char *url, size_t path_start) {
    bool tls = strncasecmp(url, "https://", 8) == 0;
    const char *a = url + (tls ? 8 : 7);
    const char *e = url + path_start;
    const char *at = memchr(a, '@', (size_t)(e - a));
    if (at)
        a = at + 1;
    size_t n = (size_t)(e - a);
    if (tls && n > 4 && memcmp(e - 4, ":443", 4) == 0)
        n -= 4;
    else if (!tls && n > 3 && memcmp(e - 3, ":80", 3) == 0)
        n -= 3;
    char *h = strndup(a, n);
    if (h)
        for (char *p = h; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p + 32);
    return h;
}

spw_result spw__http_endpoints_init(spw_http *s, spw_err *err) {
    const struct spw_http_conf *cf = s->cf;
    size_t n = spw_http_conf_urls(cf);
    if (n == 0)
        return SPW_OK; /* SPW_HTTP_CONF_URL_OPTIONAL: absolute targets only */
    s->eps = calloc(n, sizeof *s->eps);
    if (!s->eps)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->n_eps = n;
    /* Workers start at different endpoints so their first requests spread out. */
    s->rr = spw_stage_worker(s->st) % n;
    for (size_t i = 0; i < n; i++) {
        spw__http_endpoint *ep = &s->eps[i];
        const char *u = spw_http_conf_url(cf, i);
        ep->s = s;
        ep->idx = (unsigned)i;
        ep->healthy = true;
        size_t ps = spw__http_url_path_start(u);
        if (ps == (size_t)-1)
            return spw_err_set(err, SPW_ERR_CONFIG, "url '%s' is not an http:// or https:// URL", u);
        size_t pl = strcspn(u + ps, "?#");
        while (pl > 0 && u[ps + pl - 1] == '/')
            pl--;
        ep->url = strdup(u);
        ep->base = strndup(u, ps);
        ep->path = strndup(u + ps, pl);
        ep->host = host_of(u, ps);
        ep->timer = spw_timer_new(s->st, on_timer, ep);
        if (!ep->url || !ep->base || !ep->path || !ep->host || !ep->timer)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        const char *p = cf->health_check_path;
        if (p && *p &&
            asprintf(&ep->probe_url, "%s%s%s", ep->base, p[0] == '/' ? "" : "/", p) < 0) {
            ep->probe_url = NULL;
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        }
    }
    return SPW_OK;
}

void spw__http_endpoints_free(spw_http *s) {
    for (size_t i = 0; i < s->n_eps; i++) {
        spw__http_endpoint *ep = &s->eps[i];
        spw_timer_free(ep->timer);
        free(ep->url);
        free(ep->path);
        free(ep->probe_url);
        free(ep->base);
        free(ep->host);
        free(ep->tls_name);
        free(ep->dial_host);
    }
    free(s->eps);
    s->eps = NULL;
    s->n_eps = 0;
}

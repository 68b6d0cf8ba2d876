/*
 * plugins/sink-http/endpoints.c: the destination URLs, load balancing and
 * endpoint health.
 *
 * Requests go round robin over the healthy endpoints. An endpoint that
 * fails `failure_threshold` requests in a row (no HTTP answer, or a 5xx in
 * retry_codes) is taken out. It comes back:
 *   - with `health_check_path`: after `health_check_threshold` consecutive
 *     2xx answers to GET base + path, probed every `health_check_interval`
 *     (the vendor's health check, same defaults);
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
#include "http.h"

static void mark_up(hs_endpoint *ep, const char *why) {
    hs_sink *s = ep->s;
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
}

static void mark_down(hs_endpoint *ep, const char *why) {
    hs_sink *s = ep->s;
    const struct hs_conf *cf = s->cf;
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
}

static void on_timer(spw_timer *t, void *arg) {
    hs_endpoint *ep = arg;
    hs_sink *s = ep->s;
    (void)t;
    if (s->closing || ep->healthy)
        return;
    if (!ep->probe) {
        mark_up(ep, "cool-down over");
        return;
    }
    if (ep->probing)
        return; /* the previous check is still running: its timeout decides */
    hs_req *r = ep->probe;
    spw_buf_reset(&r->resp);
    r->errbuf[0] = '\0';
    if (hs_multi_add(s, r) != SPW_OK)
        return;
    r->busy = true;
    s->busy++;
    ep->probing = true;
    spw_counter_add(s->c_probes, 1);
}

void hs_probe_finished(hs_endpoint *ep, CURLcode cc, long status) {
    hs_sink *s = ep->s;
    ep->probing = false;
    if (s->closing || ep->healthy)
        return;
    if (cc == CURLE_OK && status >= 200 && status < 300) {
        ep->probe_ok++;
        spw_log(s->st, SPW_LOG_DEBUG, "health check of %s: HTTP %ld (%u/%u)", ep->base, status,
                ep->probe_ok, (unsigned)s->cf->health_check_threshold);
        if (ep->probe_ok >= (unsigned)s->cf->health_check_threshold)
            mark_up(ep, "health checks pass");
    } else {
        ep->probe_ok = 0;
        spw_log(s->st, SPW_LOG_DEBUG, "health check of %s failed: %s", ep->base,
                cc != CURLE_OK ? curl_easy_strerror(cc) : "unexpected status");
    }
}

hs_endpoint *hs_endpoint_pick(hs_sink *s) {
    size_t n = s->n_eps;
    for (size_t k = 0; k < n; k++) {
        hs_endpoint *ep = &s->eps[(s->rr + k) % n];
        if (ep->healthy) {
            s->rr = (s->rr + k + 1) % n;
            return ep;
        }
    }
    hs_endpoint *ep = &s->eps[s->rr % n];
    s->rr = (s->rr + 1) % n;
    return ep;
}

void hs_endpoint_report(hs_endpoint *ep, bool failed, const char *why) {
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

spw_result hs_endpoints_init(hs_sink *s, spw_err *err) {
    const struct hs_conf *cf = s->cf;
    size_t n = cf->urls.n ? cf->urls.n : 1;
    char *const *list = cf->urls.n ? cf->urls.v : &cf->url;
    s->eps = calloc(n, sizeof *s->eps);
    if (!s->eps)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    s->n_eps = n;
    /* Workers start at different endpoints so their first requests spread out. */
    s->rr = spw_stage_worker(s->st) % n;
    for (size_t i = 0; i < n; i++) {
        hs_endpoint *ep = &s->eps[i];
        const char *u = list[i];
        ep->s = s;
        ep->idx = (unsigned)i;
        ep->healthy = true;
        size_t ps = hs_url_path_start(u);
        if (ps == (size_t)-1)
            return spw_err_set(err, SPW_ERR_CONFIG, "url '%s' is not an http:// or https:// URL", u);
        spw_result rc = hs_tpl_compile(&ep->url, u, err);
        if (rc != SPW_OK)
            return rc;
        if (ep->url.has_vars)
            s->templated = true;
        ep->base = strndup(u, ps);
        ep->host = host_of(u, ps);
        ep->timer = spw_timer_new(s->st, on_timer, ep);
        if (!ep->base || !ep->host || !ep->timer)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        if (cf->health_check_path && *cf->health_check_path) {
            hs_req *r = hs_req_new(s, true, err);
            if (!r)
                return SPW_ERR_NOMEM;
            r->is_probe = true;
            r->ep = ep;
            rc = hs_easy_setup(s, r, err);
            if (rc != SPW_OK)
                return rc;
            const char *p = cf->health_check_path;
            if (spw_buf_printf(&r->url, "%s%s%s", ep->base, p[0] == '/' ? "" : "/", p) != SPW_OK ||
                spw_buf_append(&r->url, "", 1) != SPW_OK)
                return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
            curl_easy_setopt(r->easy, CURLOPT_URL, (const char *)r->url.data);
            curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
            curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, (long)cf->health_check_timeout_ms);
            ep->probe = r;
        }
    }
    return SPW_OK;
}

void hs_endpoints_free(hs_sink *s) {
    for (size_t i = 0; i < s->n_eps; i++) {
        hs_endpoint *ep = &s->eps[i];
        spw_timer_free(ep->timer);
        hs_tpl_free(&ep->url);
        free(ep->base);
        free(ep->host);
        free(ep->tls_name);
        free(ep->dial_host);
    }
    free(s->eps);
    s->eps = NULL;
    s->n_eps = 0;
}

/*
 * plugins/sink-http/request.c: one HTTP request per batch, from the body
 * the core built to the outcome the core is told.
 *
 * Requests come from a pool of easy handles that only grows (to the
 * route's concurrency, plus nothing) and is never shrunk: an easy handle
 * keeps its options, its buffers (URL, response excerpt, gzip output,
 * per-request headers) and its place in curl's connection cache, so once
 * the pool is warm a request allocates nothing of ours. The body is handed
 * to curl by pointer (CURLOPT_POSTFIELDS), never copied: the core keeps
 * the batch alive until spw_batch_done.
 *
 * Headers: everything that does not change per request (the `headers`
 * without variables, bearer or API-key auth, "Expect:" to turn off curl's
 * 100-continue round trip) is one curl_slist built at create. A request's
 * own headers (content type, content encoding, templated headers, SigV4)
 * are curl_slist nodes owned by the request, pointing into its header
 * buffer and chained in front of the static list, so no list is built per
 * request.
 *
 * The native engines (h2.c, h1.c) send the same request from the same
 * prepared parts (URL, the request's own headers in r->hdr, the body by
 * pointer), and the headers every request carries come from one walk of
 * the configuration (hs_fixed_headers), so the engines cannot drift apart.
 *
 * The request's timeout is the smaller of `timeout` and what is left
 * before the batch's deadline: past the deadline the core has already
 * answered the events "retry", and waiting longer would only hold a
 * connection and the in-flight budget.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http.h"


static const char *const method_names[] = {"POST", "PUT", "PATCH"};

static size_t on_write(char *p, size_t size, size_t n, void *arg) {
    hs_req *r = arg;
    size_t len = size * n;
    size_t max = (size_t)r->s->cf->response_max;
    /* Keep what an excerpt needs, read and drop the rest so the connection stays usable. */
    if (r->resp.len < max) {
        size_t take = len < max - r->resp.len ? len : max - r->resp.len;
        (void)spw_buf_append(&r->resp, p, take);
    }
    return len;
}

static long http_version(int protocol) {
    switch (protocol) {
    case HS_PROTO_HTTP11:
    case HS_PROTO_V_HTTP11:
        return CURL_HTTP_VERSION_1_1;
    case HS_PROTO_H2C:
        return CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE;
    default:
        return CURL_HTTP_VERSION_2TLS;
    }
}

/*
 * curl bug #10634 (fixed by curl PR #10643, in 8.0.0): a transfer reusing a
 * cleartext HTTP/2 prior-knowledge connection switches the connection to
 * HTTP/2 a second time and fails with "Error in the HTTP2 framing layer"
 * without sending anything. Debian 12 ships 7.88.1. The only safe use of
 * h2c there is one request per connection.
 */
bool hs_h2c_reuse_broken(void) {
    const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
    return v && v->version_num < 0x080000;
}

static long tls_version(int v) {
    switch (v) {
    case HS_TLS_13:
        return CURL_SSLVERSION_TLSv1_3;
    case HS_TLS_10:
        return CURL_SSLVERSION_TLSv1_0;
    case HS_TLS_11:
        return CURL_SSLVERSION_TLSv1_1;
    default:
        return CURL_SSLVERSION_TLSv1_2;
    }
}

spw_result hs_easy_setup(hs_sink *s, hs_req *r, spw_err *err) {
    const struct hs_conf *cf = s->cf;
    CURL *e = r->easy;
    CURLcode cc = CURLE_OK;
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        if (cc == CURLE_OK)                                                                        \
            cc = curl_easy_setopt(e, opt, val);                                                    \
    } while (0)
    SET(CURLOPT_PRIVATE, (void *)r);
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, r->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_WRITEDATA, (void *)r);
    SET(CURLOPT_HTTP_VERSION, http_version(cf->protocol));
    if (cf->protocol == HS_PROTO_H2C && hs_h2c_reuse_broken()) {
        /* libcurl before 8.0.0 fails every request reusing a prior-knowledge connection. */
        SET(CURLOPT_FRESH_CONNECT, 1L);
        SET(CURLOPT_FORBID_REUSE, 1L);
    } else if (cf->protocol != HS_PROTO_HTTP11 && cf->protocol != HS_PROTO_V_HTTP11) {
        SET(CURLOPT_PIPEWAIT, 1L); /* multiplex on an open connection rather than open another */
    }
    SET(CURLOPT_CONNECTTIMEOUT_MS, (long)cf->connect_timeout_ms);
    if (cf->connection_ttl_ms > 0)
        SET(CURLOPT_MAXLIFETIME_CONN, (long)((cf->connection_ttl_ms + 999) / 1000));
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    SET(CURLOPT_TCP_NODELAY, 1L);
    SET(CURLOPT_USERAGENT, cf->user_agent);
    SET(CURLOPT_FOLLOWLOCATION, 0L);
    /* Direct unless `proxy` says otherwise: an http_proxy variable meant for
     * people's shells must not silently reroute a pipeline (and reading the
     * environment for every transfer costs time). */
    SET(CURLOPT_PROXY, cf->proxy ? cf->proxy : "");
    if (s->connect_to)
        SET(CURLOPT_CONNECT_TO, s->connect_to);
    /* TLS */
    SET(CURLOPT_SSLVERSION, tls_version(cf->tls_min_version));
    SET(CURLOPT_SSL_VERIFYPEER, cf->tls_verify ? 1L : 0L);
    SET(CURLOPT_SSL_VERIFYHOST, cf->tls_verify ? 2L : 0L);
    if (cf->tls_ca_file && *cf->tls_ca_file)
        SET(CURLOPT_CAINFO, cf->tls_ca_file);
    if (cf->tls_ca_path && *cf->tls_ca_path)
        SET(CURLOPT_CAPATH, cf->tls_ca_path);
    if (cf->tls_cert && *cf->tls_cert)
        SET(CURLOPT_SSLCERT, cf->tls_cert);
    if (cf->tls_key && *cf->tls_key)
        SET(CURLOPT_SSLKEY, cf->tls_key);
    if (cf->tls_key_password && *cf->tls_key_password)
        SET(CURLOPT_KEYPASSWD, cf->tls_key_password);
    if (!r->is_probe) {
        /* A delivery request (health checks are plain GETs without auth). */
        if (cf->method == HS_METHOD_POST)
            SET(CURLOPT_POST, 1L);
        else
            SET(CURLOPT_CUSTOMREQUEST, method_names[cf->method]);
        if (cf->auth == HS_AUTH_BASIC) {
            SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
            SET(CURLOPT_USERNAME, cf->username);
            SET(CURLOPT_PASSWORD, cf->password ? cf->password : "");
        }
    }
#undef SET
    if (cc != CURLE_OK)
        return spw_err_set(err, SPW_ERR_CONFIG, "libcurl refused an option: %s",
                           curl_easy_strerror(cc));
    return SPW_OK;
}

hs_req *hs_req_new(hs_sink *s, bool easy, spw_err *err) {
    if (s->n_reqs == s->cap_reqs) {
        size_t nc = s->cap_reqs ? s->cap_reqs * 2 : 16;
        hs_req **nr = realloc(s->reqs, nc * sizeof *nr);
        if (!nr) {
            spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
            return NULL;
        }
        s->reqs = nr;
        s->cap_reqs = nc;
    }
    hs_req *r = calloc(1, sizeof *r);
    if (!r) {
        spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    r->s = s;
    r->cap_dyn = HS_DYN_FIXED + s->n_hdr_tpls;
    r->dyn = calloc(r->cap_dyn, sizeof *r->dyn);
    if (easy)
        r->easy = curl_easy_init();
    if (!r->dyn || (easy && !r->easy)) {
        if (r->easy)
            curl_easy_cleanup(r->easy);
        free(r->dyn);
        free(r);
        spw_err_set(err, SPW_ERR_NOMEM, "out of memory (curl_easy_init)");
        return NULL;
    }
    s->reqs[s->n_reqs++] = r;
    return r;
}

hs_req *hs_req_get(hs_sink *s) {
    hs_req *r = s->free_reqs;
    if (r) {
        s->free_reqs = r->next;
        r->next = NULL;
        return r;
    }
    spw_err err = {""};
    bool easy = !s->h2 && !s->h1; /* the native engines serve every endpoint when they are on */
    r = hs_req_new(s, easy, &err);
    if (r && easy && hs_easy_setup(s, r, &err) != SPW_OK) {
        /* Leave it in s->reqs (freed at destroy), off the free list. */
        spw_log(s->st, SPW_LOG_ERROR, "%s", err.msg);
        return NULL;
    }
    if (!r)
        spw_log(s->st, SPW_LOG_ERROR, "%s", err.msg);
    return r;
}

static void req_release(hs_sink *s, hs_req *r) {
    if (r->busy) {
        r->busy = false;
        s->busy--;
    }
    r->batch = NULL;
    r->ep = NULL;
    r->expire = NULL;
    r->spare_endpoint = false;
    spw_buf_reset(&r->resp);
    r->errbuf[0] = '\0';
    r->next = s->free_reqs;
    s->free_reqs = r;
}

/* ---- headers ------------------------------------------------------------ */

static void hdr_begin(hs_req *r) {
    spw_buf_reset(&r->hdr);
    r->n_dyn = 0;
}

/* Records where the next header starts; the node's data is fixed up in hdr_link. */
static spw_result hdr_mark(hs_req *r) {
    if (r->n_dyn == r->cap_dyn)
        return SPW_ERR_NOSPACE;
    r->dyn[r->n_dyn++].data = (char *)(uintptr_t)r->hdr.len;
    return SPW_OK;
}

static spw_result hdr_addf(hs_req *r, const char *fmt, ...) SPW_PRINTF(2, 3);
static spw_result hdr_addf(hs_req *r, const char *fmt, ...) {
    spw_result rc = hdr_mark(r);
    if (rc != SPW_OK)
        return rc;
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return SPW_ERR_INVAL;
    if ((size_t)n < sizeof small)
        return spw_buf_append(&r->hdr, small, (size_t)n + 1);
    /* Long (a SigV4 session token): format straight into the buffer. */
    rc = spw_buf_reserve(&r->hdr, (size_t)n + 1);
    if (rc != SPW_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)r->hdr.data + r->hdr.len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    r->hdr.len += (size_t)n + 1;
    return SPW_OK;
}

/* Turns the recorded offsets into pointers and chains the nodes before the static list. */
static struct curl_slist *hdr_link(hs_sink *s, hs_req *r) {
    if (r->n_dyn == 0)
        return s->static_hdrs;
    for (size_t i = 0; i < r->n_dyn; i++) {
        r->dyn[i].data = (char *)r->hdr.data + (uintptr_t)r->dyn[i].data;
        r->dyn[i].next = i + 1 < r->n_dyn ? &r->dyn[i + 1] : s->static_hdrs;
    }
    return r->dyn;
}

static spw_result sign_request(hs_sink *s, hs_req *r, const uint8_t *body, size_t len) {
    char date[17];
    hs_amz_date(spw_time_unix_ms() / 1000, date);
    const char *url = (const char *)r->url.data;
    size_t ps = hs_url_path_start(url);
    const char *path = url + ps;
    size_t plen = strcspn(path, "?#");
    const char *query = NULL;
    size_t qlen = 0;
    if (path[plen] == '?') {
        query = path + plen + 1;
        qlen = strcspn(query, "#");
    }
    if (plen == 0)
        path = "/", plen = 1;
    hs_sig_hdr h[3] = {{"host", r->ep->host}, {"x-amz-date", date}, {"x-amz-security-token", NULL}};
    size_t nh = 2;
    if (s->aws.session_token)
        h[nh++].value = s->aws.session_token;
    hs_sigv4_req sr = {
        .method = s->method_name, .path = path, .path_len = plen, .query = query,
        .query_len = qlen, .headers = h, .n_headers = nh, .body = body, .body_len = len,
        .amz_date = date,
    };
    spw_buf_reset(&s->sig_auth);
    spw_result rc = hs_sigv4_sign(&s->sig, s->aws.access_key_id, &sr, &s->sig_auth);
    if (rc == SPW_OK)
        rc = hdr_addf(r, "Host: %s", r->ep->host);
    if (rc == SPW_OK)
        rc = hdr_addf(r, "X-Amz-Date: %s", date);
    if (rc == SPW_OK && s->aws.session_token)
        rc = hdr_addf(r, "X-Amz-Security-Token: %s", s->aws.session_token);
    if (rc == SPW_OK)
        rc = hdr_addf(r, "Authorization: %.*s", (int)s->sig_auth.len,
                      (const char *)s->sig_auth.data);
    return rc;
}

static bool header_has_vars(const char *h) { return strstr(h, "${") != NULL; }

spw_result hs_fixed_headers(const struct hs_conf *cf, hs_hdr_fn fn, void *arg) {
    /* A User-Agent in `headers` replaces user_agent, as it does in libcurl. */
    bool own_ua = false;
    for (size_t i = 0; i < cf->headers.n; i++)
        own_ua |= strncasecmp(cf->headers.v[i], "user-agent:", 11) == 0;
    spw_result rc = SPW_OK;
    if (!own_ua && cf->user_agent && *cf->user_agent)
        rc = fn(arg, "User-Agent", 10, cf->user_agent, strlen(cf->user_agent));
    for (size_t i = 0; i < cf->headers.n && rc == SPW_OK; i++) {
        const char *line = cf->headers.v[i];
        if (header_has_vars(line))
            continue; /* templated: rendered per request */
        const char *colon = strchr(line, ':');
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        size_t vl = strlen(v);
        while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
            vl--;
        if (vl == 0)
            continue; /* "Name:" removes a header in libcurl; nothing to remove here */
        rc = fn(arg, line, (size_t)(colon - line), v, vl);
    }
    if (rc != SPW_OK || (cf->auth != HS_AUTH_BASIC && cf->auth != HS_AUTH_BEARER &&
                         cf->auth != HS_AUTH_HEADER))
        return rc;
    spw_buf val = {0};
    const char *name = "Authorization";
    if (cf->auth == HS_AUTH_BASIC) {
        spw_buf up = {0};
        rc = spw_buf_printf(&up, "%s:%s", cf->username, cf->password ? cf->password : "");
        if (rc == SPW_OK)
            rc = spw_buf_append(&val, "Basic ", 6);
        if (rc == SPW_OK)
            rc = spw_buf_append_base64(&val, up.data, up.len);
        if (up.data)
            memset(up.data, 0, up.len);
        spw_buf_free(&up);
    } else if (cf->auth == HS_AUTH_BEARER) {
        rc = spw_buf_printf(&val, "Bearer %s", cf->token ? cf->token : "");
    } else {
        name = cf->auth_header;
        const char *v = cf->auth_value ? cf->auth_value : "";
        rc = spw_buf_append(&val, v, strlen(v));
    }
    if (rc == SPW_OK)
        rc = fn(arg, name, strlen(name), (const char *)val.data, val.len);
    /* The secret has been copied by fn; wipe this copy. */
    if (val.data)
        memset(val.data, 0, val.len);
    spw_buf_free(&val);
    return rc;
}

/* ---- sending ------------------------------------------------------------ */

/* Starts r (URL, headers and body prepared) on libcurl, within tmo ms. */
static spw_result curl_start(hs_sink *s, hs_req *r, uint64_t tmo, spw_err *err) {
    if (!r->easy) {
        /* A request object made without a handle (the native engines were on). */
        r->easy = curl_easy_init();
        if (!r->easy)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory (curl_easy_init)");
        spw_result rc = hs_easy_setup(s, r, err);
        if (rc != SPW_OK) {
            curl_easy_cleanup(r->easy);
            r->easy = NULL;
            return rc;
        }
    }
    CURL *e = r->easy;
    curl_easy_setopt(e, CURLOPT_URL, (const char *)r->url.data);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, (const char *)r->body);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdr_link(s, r));
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)tmo);
    if (hs_multi_add(s, r) != SPW_OK)
        return spw_err_set(err, SPW_ERR_STATE, "curl_multi_add_handle failed");
    return SPW_OK;
}

spw_result hs_send(hs_sink *s, spw_batch *b, spw_err *err) {
    const struct hs_conf *cf = s->cf;
    size_t count = spw_batch_count(b);
    spw_slice body = spw_batch_body(b);

    if (s->templated && count > 1) {
        /* The sink cannot see the route's batch_max_records, so this is caught here. */
        if (!s->batch_tpl_warned) {
            spw_log(s->st, SPW_LOG_ERROR,
                    "the URL or a header uses ${...} variables, which need one record per "
                    "request: set batch_max_records = 1 on this route (batches are rejected)");
            s->batch_tpl_warned = true;
        }
        spw_batch_done(b, SPW_REJECT,
                       "templated URL or headers with a batch of several records (set "
                       "batch_max_records = 1)");
        return SPW_OK;
    }

    hs_req *r = hs_req_get(s);
    if (!r)
        return spw_err_set(err, SPW_ERR_NOMEM, "no request handle (out of memory)");

    const uint8_t *bp = body.ptr;
    size_t bl = body.len;
    bool gz = false;
    if (cf->compression == HS_COMP_GZIP && bl >= (size_t)cf->compression_threshold) {
        if (hs_gzip_compress(&s->gz, bp, bl, &r->gz) != SPW_OK) {
            req_release(s, r);
            return spw_err_set(err, SPW_ERR_NOMEM, "gzip compression failed");
        }
        bp = r->gz.data;
        bl = r->gz.len;
        gz = true;
    }
    if (cf->max_body_size > 0 && bl > (size_t)cf->max_body_size) {
        char why[256];
        snprintf(why, sizeof why,
                 "request body of %zu bytes%s exceeds max_body_size (%" PRId64
                 " bytes); lower the route's batch_max_bytes",
                 bl, gz ? " (gzip)" : "", cf->max_body_size);
        req_release(s, r);
        spw_counter_add(s->c_reject, count);
        hs_warn(s, "%s: %zu record(s) rejected", why, count);
        spw_batch_done(b, SPW_REJECT, why);
        return SPW_OK;
    }

    hs_endpoint *ep = hs_endpoint_pick(s);
    r->ep = ep;
    r->batch = b;
    spw_buf_reset(&r->url);
    spw_result rc = SPW_OK;
    if (ep->url.has_vars)
        rc = hs_tpl_render(&ep->url, spw_batch_event(b, 0), HS_ENC_URL, &r->url);
    else
        rc = spw_buf_append(&r->url, ep->url.src, strlen(ep->url.src));
    if (rc == SPW_OK)
        rc = spw_buf_append(&r->url, "", 1);

    hdr_begin(r);
    const char *ct = cf->content_type && *cf->content_type ? cf->content_type
                                                           : spw_batch_content_type(b);
    if (rc == SPW_OK && ct && *ct)
        rc = hdr_addf(r, "Content-Type: %s", ct);
    if (rc == SPW_OK && gz)
        rc = hdr_addf(r, "Content-Encoding: gzip");
    for (size_t i = 0; i < s->n_hdr_tpls && rc == SPW_OK; i++) {
        rc = hdr_mark(r);
        if (rc == SPW_OK)
            rc = hs_tpl_render(&s->hdr_tpls[i], spw_batch_event(b, 0), HS_ENC_HEADER, &r->hdr);
        if (rc == SPW_OK)
            rc = spw_buf_append(&r->hdr, "", 1);
    }
    if (rc == SPW_OK && cf->auth == HS_AUTH_SIGV4)
        rc = sign_request(s, r, bp, bl);
    if (rc != SPW_OK) {
        req_release(s, r);
        return spw_err_set(err, rc, "preparing the request failed: %s", spw_result_str(rc));
    }

    uint64_t now = uv_now(s->loop);
    uint64_t deadline = spw_batch_deadline(b);
    uint64_t tmo = (uint64_t)cf->timeout_ms;
    if (deadline > now && deadline - now < tmo)
        tmo = deadline - now;
    if (tmo < 1)
        tmo = 1;
    r->started_ms = now;
    r->body = bp;
    r->body_len = bl;
    r->errbuf[0] = '\0';

    bool h2 = s->h2 && ep->h2_use, h1 = !h2 && s->h1 && ep->h1_use;
    if (!h2 && !h1) {
        rc = curl_start(s, r, tmo, err);
        if (rc != SPW_OK) {
            req_release(s, r);
            return rc;
        }
    }
    r->busy = true;
    s->busy++;
    spw_counter_add(s->c_requests, 1);
    spw_counter_add(s->c_bytes, bl);
    if (h2)
        return hs_h2_submit(s, r, tmo);
    if (h1)
        return hs_h1_submit(s, r, tmo);
    return SPW_OK;
}

/* ---- completion --------------------------------------------------------- */

static void count_status(hs_sink *s, long status) {
    if (status >= 200 && status < 300)
        spw_counter_add(s->c_2xx, 1);
    else if (status >= 300 && status < 400)
        spw_counter_add(s->c_3xx, 1);
    else if (status >= 400 && status < 500)
        spw_counter_add(s->c_4xx, 1);
    else if (status >= 500)
        spw_counter_add(s->c_5xx, 1);
}

void hs_req_finished(hs_sink *s, hs_req *r, CURLcode cc) {
    long status = 0;
    curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
    if (!r->batch) {
        /* A health check. */
        hs_endpoint *ep = r->ep;
        r->busy = false;
        s->busy--;
        spw_buf_reset(&r->resp);
        hs_probe_finished(ep, cc, status);
        return;
    }
    const char *retry_after = NULL;
    struct curl_header *h = NULL;
    if (cc == CURLE_OK &&
        curl_easy_header(r->easy, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK && h)
        retry_after = h->value;
    hs_req_complete(s, r, cc, status, retry_after);
}

void hs_req_complete(hs_sink *s, hs_req *r, int cc, long status, const char *retry_after) {
    spw_batch *b = r->batch;
    hs_endpoint *ep = r->ep;
    size_t count = spw_batch_count(b);
    hs_verdict v;
    hs_classify(&s->success, &s->retry, cc, r->errbuf, cc == CURLE_OK ? status : 0,
                r->resp.data, r->resp.len, &v);
    if (cc != CURLE_OK)
        spw_counter_add(s->c_transport, 1);
    else
        count_status(s, status);

    uint64_t elapsed = uv_now(s->loop) - r->started_ms;
    if (spw_log_enabled(SPW_LOG_DEBUG))
        spw_log(s->st, SPW_LOG_DEBUG, "%s %s -> %s in %" PRIu64 " ms (%zu record(s), %zu bytes)",
                s->method_name, ep->base, v.result == SPW_OK ? "ok" : v.reason, elapsed, count,
                r->body_len);

    uint64_t ms;
    if (v.result == SPW_RETRY && cc == CURLE_OK && retry_after &&
        hs_retry_after_parse(retry_after, spw_time_unix_ms() / 1000, &ms) && ms > 0)
        spw_batch_retry_after(b, ms);
    if (v.result == SPW_RETRY) {
        spw_counter_add(s->c_retry, 1);
        hs_warn(s, "%s: %s (%zu record(s) to retry)", ep->base, v.reason, count);
    } else if (v.result == SPW_REJECT) {
        spw_counter_add(s->c_reject, 1);
        hs_warn(s, "%s: %s (%zu record(s) rejected)", ep->base, v.reason, count);
    }
    hs_endpoint_report(ep, v.endpoint_failed && !r->spare_endpoint, v.reason);
    req_release(s, r);
    spw_batch_done(b, v.result, v.result == SPW_OK ? NULL : v.reason);
}

void hs_req_end(hs_req *r, int cc, const char *why) {
    if (why)
        snprintf(r->errbuf, sizeof r->errbuf, "%s", why);
    hs_req_complete(r->s, r, cc, cc == CURLE_OK ? r->status : 0,
                    r->retry_after[0] ? r->retry_after : NULL);
}

/* ---- what the native engines share ---------------------------------------- */

void hs_reqq_push(hs_reqq *q, hs_req *r, bool front) {
    if (front) {
        r->qprev = NULL;
        r->qnext = q->head;
        if (q->head)
            q->head->qprev = r;
        else
            q->tail = r;
        q->head = r;
    } else {
        r->qnext = NULL;
        r->qprev = q->tail;
        if (q->tail)
            q->tail->qnext = r;
        else
            q->head = r;
        q->tail = r;
    }
}

void hs_reqq_remove(hs_reqq *q, hs_req *r) {
    if (r->qprev)
        r->qprev->qnext = r->qnext;
    else
        q->head = r->qnext;
    if (r->qnext)
        r->qnext->qprev = r->qprev;
    else
        q->tail = r->qprev;
    r->qprev = r->qnext = NULL;
}

static void on_deadline(uv_timer_t *t);

static void deadline_arm(hs_sink *s, uint64_t at) {
    if (s->deadline_at && s->deadline_at <= at)
        return;
    uint64_t now = uv_now(s->loop);
    s->deadline_at = at;
    uv_timer_start(&s->deadlines, on_deadline, at > now ? at - now : 0, 0);
}

static void on_deadline(uv_timer_t *t) {
    hs_sink *s = t->data;
    uint64_t now = uv_now(s->loop), next = 0;
    s->deadline_at = 0;
    /* At most the route's concurrency is busy: a scan is cheaper than keeping a heap. An
     * expiry may hand the sink new work (reqs may grow meanwhile: index, never cache). */
    for (size_t i = 0; i < s->n_reqs; i++) {
        hs_req *r = s->reqs[i];
        if (!r->busy || !r->expire)
            continue;
        if (r->deadline_ms > now) {
            if (!next || r->deadline_ms < next)
                next = r->deadline_ms;
            continue;
        }
        hs_expire_fn expire = r->expire;
        r->expire = NULL;
        char why[96];
        snprintf(why, sizeof why, "no answer within %" PRIu64 " ms", r->timeout_ms);
        expire(r, why);
    }
    if (next)
        deadline_arm(s, next);
}

void hs_deadlines_init(hs_sink *s) {
    uv_timer_init(s->loop, &s->deadlines);
    s->deadlines.data = s;
    s->deadlines_on = true;
    s->open_handles++;
}

void hs_req_take(hs_sink *s, hs_req *r, uint64_t timeout_ms, hs_expire_fn expire) {
    r->status = 0;
    r->retry_after[0] = '\0';
    r->h2_hdr_bytes = 0;
    r->deadline_ms = uv_now(s->loop) + timeout_ms;
    r->timeout_ms = timeout_ms;
    r->expire = expire;
    deadline_arm(s, r->deadline_ms);
}

static void deadlines_closed(uv_handle_t *h) { hs_handle_closed(h->data); }

/* ---- lifecycle ---------------------------------------------------------- */

spw_result hs_requests_init(hs_sink *s, spw_err *err) {
    const struct hs_conf *cf = s->cf;
    spw_result rc = hs_codes_parse(&s->success, cf->success_codes, err);
    if (rc == SPW_OK)
        rc = hs_codes_parse(&s->retry, cf->retry_codes, err);
    if (rc != SPW_OK)
        return rc;
    s->method_name = method_names[cf->method];

    size_t nt = 0;
    for (size_t i = 0; i < cf->headers.n; i++)
        nt += header_has_vars(cf->headers.v[i]);
    if (nt) {
        s->hdr_tpls = calloc(nt, sizeof *s->hdr_tpls);
        if (!s->hdr_tpls)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < cf->headers.n; i++) {
        const char *h = cf->headers.v[i];
        if (header_has_vars(h)) {
            rc = hs_tpl_compile(&s->hdr_tpls[s->n_hdr_tpls], h, err);
            if (rc != SPW_OK)
                return rc;
            s->n_hdr_tpls++;
            s->templated = true;
            continue;
        }
        struct curl_slist *l = curl_slist_append(s->static_hdrs, h);
        if (!l)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        s->static_hdrs = l;
    }
    char line[4096];
    const char *extra[2] = {"Expect:", NULL};
    if (cf->auth == HS_AUTH_BEARER) {
        snprintf(line, sizeof line, "Authorization: Bearer %s", cf->token ? cf->token : "");
        extra[1] = line;
    } else if (cf->auth == HS_AUTH_HEADER) {
        snprintf(line, sizeof line, "%s: %s", cf->auth_header, cf->auth_value ? cf->auth_value : "");
        extra[1] = line;
    }
    for (size_t i = 0; i < 2; i++) {
        if (!extra[i])
            continue;
        struct curl_slist *l = curl_slist_append(s->static_hdrs, extra[i]);
        if (!l)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        s->static_hdrs = l;
    }
    memset(line, 0, sizeof line);
    for (size_t i = 0; i < cf->connect_to.n; i++) {
        struct curl_slist *l = curl_slist_append(s->connect_to, cf->connect_to.v[i]);
        if (!l)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        s->connect_to = l;
    }
    if (cf->compression == HS_COMP_GZIP && hs_gzip_init(&s->gz, (int)cf->compression_level) != SPW_OK)
        return spw_err_set(err, SPW_ERR_NOMEM, "zlib: deflateInit2 failed");
    if (cf->auth == HS_AUTH_SIGV4) {
        rc = hs_aws_creds_load(cf, &s->aws, err);
        if (rc != SPW_OK)
            return rc;
        snprintf(s->sig.region, sizeof s->sig.region, "%s", cf->aws_region);
        snprintf(s->sig.service, sizeof s->sig.service, "%s", cf->aws_service);
        s->sig.secret = s->aws.secret_access_key;
        if (spw_stage_worker(s->st) == 0)
            spw_log(s->st, SPW_LOG_INFO, "signing with AWS SigV4 (%s/%s), credentials from %s",
                    s->sig.region, s->sig.service, s->aws.source);
    }
    return SPW_OK;
}

void hs_requests_abort(hs_sink *s) {
    hs_h2_close(s);
    hs_h1_close(s);
    if (s->deadlines_on) {
        s->deadlines_on = false;
        uv_close((uv_handle_t *)&s->deadlines, deadlines_closed);
    }
    for (size_t i = 0; i < s->n_reqs; i++) {
        hs_req *r = s->reqs[i];
        if (!r->busy)
            continue;
        if (s->multi && r->easy)
            curl_multi_remove_handle(s->multi, r->easy);
        r->busy = false;
        s->busy--;
        if (r->batch) {
            spw_batch *b = r->batch;
            r->batch = NULL;
            spw_batch_done(b, SPW_RETRY, "the sink is shutting down");
        }
    }
}

void hs_requests_free(hs_sink *s) {
    for (size_t i = 0; i < s->n_reqs; i++) {
        hs_req *r = s->reqs[i];
        curl_easy_cleanup(r->easy);
        spw_buf_free(&r->url);
        spw_buf_free(&r->resp);
        spw_buf_free(&r->gz);
        spw_buf_free(&r->hdr);
        spw_buf_free(&r->head);
        free(r->dyn);
        free(r);
    }
    free(s->reqs);
    s->reqs = NULL;
    s->n_reqs = s->cap_reqs = 0;
    s->free_reqs = NULL;
    curl_slist_free_all(s->static_hdrs);
    s->static_hdrs = NULL;
    curl_slist_free_all(s->connect_to);
    s->connect_to = NULL;
    for (size_t i = 0; i < s->n_hdr_tpls; i++)
        hs_tpl_free(&s->hdr_tpls[i]);
    free(s->hdr_tpls);
    s->hdr_tpls = NULL;
    hs_gzip_free(&s->gz);
    hs_sigv4_free(&s->sig);
    spw_buf_free(&s->sig_auth);
    hs_aws_creds_free(&s->aws);
}

/*
 * plugins/sink-http/instance.c: the `http` sink's configuration checks and
 * instance state, apart from its descriptor (plugin.c) so that a sink built
 * on this one (the `gcf` sink, plugins/sink-gcf) compiles them in with
 * send.c and classify.c and embeds an hs_sink in its own instance.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "sink.h"

/* ---------------------------------------------------------------------- */
/* Checks                                                                  */
/* ---------------------------------------------------------------------- */

size_t hs_url_path_start(const char *url) {
    size_t skip;
    if (strncasecmp(url, "http://", 7) == 0)
        skip = 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        skip = 8;
    else
        return (size_t)-1;
    return skip + strcspn(url + skip, "/?#");
}

/* The client checked the URL itself; templates are this sink's. */
static spw_result check_url(const char *u, spw_err *err) {
    size_t ps = hs_url_path_start(u);
    const char *var = strstr(u, "${");
    if (var && (size_t)(var - u) < ps)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "url '%s': ${...} variables may only appear in the path and query", u);
    spw_template *t;
    spw_result rc = spw_template_new(u, &t, err);
    spw_template_free(t);
    return rc;
}

/* An HTTP token (RFC 9110): what a header name may hold. */
static bool is_token(const char *p, const char *end) {
    if (p == end)
        return false;
    for (; p < end; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= 0x20 || c >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", c))
            return false;
    }
    return true;
}

static spw_result check_header(const char *h, spw_err *err) {
    const char *colon = strchr(h, ':');
    if (!colon || !is_token(h, colon))
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "headers: '%s' is not 'Name: value' with a name of letters, digits "
                           "and !#$%%&'*+-.^_`|~",
                           h);
    for (const char *p = colon; *p; p++)
        if ((unsigned char)*p < 0x20 && *p != '\t')
            return spw_err_set(err, SPW_ERR_CONFIG, "headers: '%s' holds a control character", h);
    spw_template *t;
    spw_result rc = spw_template_new(h, &t, err);
    spw_template_free(t);
    return rc;
}

spw_result hs_check(const struct hs_conf *cf, spw_err *err) {
    for (size_t i = 0; i < spw_http_conf_urls(cf->http); i++) {
        spw_result rc = check_url(spw_http_conf_url(cf->http, i), err);
        if (rc != SPW_OK)
            return rc;
    }
    for (size_t i = 0; i < cf->headers.n; i++) {
        spw_result rc = check_header(cf->headers.v[i], err);
        if (rc != SPW_OK)
            return rc;
    }
    hs_codes c;
    spw_err e2 = {""};
    if (hs_codes_parse(&c, cf->success_codes, &e2) != SPW_OK)
        return spw_err_set(err, SPW_ERR_CONFIG, "success_codes: %s", e2.msg);
    if (hs_codes_parse(&c, cf->retry_codes, &e2) != SPW_OK)
        return spw_err_set(err, SPW_ERR_CONFIG, "retry_codes: %s", e2.msg);
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Logging                                                                 */
/* ---------------------------------------------------------------------- */

void hs_warn(hs_sink *s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    spw_vlog_limited(s->st, &s->warn_limit, SPW_LOG_WARN, fmt, ap);
    va_end(ap);
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */
/* ---------------------------------------------------------------------- */

static const char *const method_names[] = {"POST", "PUT", "PATCH"};

static bool header_has_vars(const char *h) { return strstr(h, "${") != NULL; }

/* `headers`: those without variables split once into name and value, the others compiled. */
static spw_result headers_init(hs_sink *s, spw_err *err) {
    const struct hs_conf *cf = s->cf;
    size_t nt = 0, nf = 0, bytes = 0;
    for (size_t i = 0; i < cf->headers.n; i++) {
        bool v = header_has_vars(cf->headers.v[i]);
        nt += v;
        nf += !v;
        bytes += v ? 0 : strlen(cf->headers.v[i]) + 1;
    }
    s->hdr_tpls = calloc(nt ? nt : 1, sizeof *s->hdr_tpls);
    s->fixed = calloc(nf ? nf : 1, sizeof *s->fixed);
    s->fixed_store = malloc(bytes ? bytes : 1);
    if (!s->hdr_tpls || !s->fixed || !s->fixed_store)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    char *p = s->fixed_store;
    for (size_t i = 0; i < cf->headers.n; i++) {
        const char *h = cf->headers.v[i];
        if (header_has_vars(h)) {
            spw_result rc = spw_template_new(h, &s->hdr_tpls[s->n_hdr_tpls], err);
            if (rc != SPW_OK)
                return rc;
            s->n_hdr_tpls++;
            s->templated = true;
            continue;
        }
        /* "Name: value", checked at load: split at the colon, the value trimmed. */
        size_t n = strlen(h);
        memcpy(p, h, n + 1);
        char *colon = strchr(p, ':');
        *colon = '\0';
        char *v = colon + 1, *e = p + n;
        while (*v == ' ' || *v == '\t')
            v++;
        while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*v) /* an empty value is dropped, as libcurl does */
            s->fixed[s->n_fixed++] = (spw_http_header){p, v};
        p += n + 1;
    }
    return SPW_OK;
}

/* Endpoint URLs with variables, compiled per endpoint (the client picks, the sink renders). */
static spw_result urls_init(hs_sink *s, spw_err *err) {
    size_t n = spw_http_endpoints(s->http);
    for (size_t i = 0; i < n; i++)
        s->templated |= header_has_vars(spw_http_conf_url(s->cf->http, i));
    if (!s->templated)
        return SPW_OK;
    s->url_tpls = calloc(n, sizeof *s->url_tpls);
    if (!s->url_tpls)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        spw_result rc = spw_template_new(spw_http_conf_url(s->cf->http, i), &s->url_tpls[i], err);
        if (rc != SPW_OK)
            return rc;
    }
    return SPW_OK;
}

void hs_fini(hs_sink *s) {
    /* Requests still in progress end here, cancelled: their batches go back to be retried. */
    spw_http_close(s->http);
    hs_calls_free(s);
    for (size_t i = 0; i < s->n_hdr_tpls; i++)
        spw_template_free(s->hdr_tpls[i]);
    free(s->hdr_tpls);
    if (s->url_tpls)
        for (size_t i = 0; i < spw_http_conf_urls(s->cf->http); i++)
            spw_template_free(s->url_tpls[i]);
    free(s->url_tpls);
    free(s->fixed);
    free(s->fixed_store);
}

spw_result hs_init(hs_sink *s, spw_stage *st, const struct hs_conf *cf, spw_err *err) {
    s->st = st;
    s->cf = cf;
    s->method_name = method_names[cf->method];
    s->c_retry = spw_counter_register(st, "http_retry", "Requests classified retry.");
    s->c_reject = spw_counter_register(st, "http_reject", "Requests classified rejected.");
    spw_result rc = s->c_retry && s->c_reject ? SPW_OK
                                              : spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    if (rc == SPW_OK)
        rc = hs_codes_parse(&s->success, cf->success_codes, err);
    if (rc == SPW_OK)
        rc = hs_codes_parse(&s->retry, cf->retry_codes, err);
    if (rc == SPW_OK)
        rc = headers_init(s, err);
    if (rc == SPW_OK)
        rc = spw_http_new(st, cf->http, &s->http, err);
    if (rc == SPW_OK)
        rc = urls_init(s, err);
    if (rc != SPW_OK)
        hs_fini(s);
    return rc;
}

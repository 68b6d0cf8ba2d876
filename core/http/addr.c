/*
 * core/http/addr.c: where an endpoint's connections go, for the
 * native engines (libcurl works this out itself): the host and port of a
 * URL, and the connect_to rules that send them elsewhere while the URL's
 * name stays what TLS checks and :authority / Host carry. Worked out once
 * per endpoint at create; dial.c connects there. Also the TLS context
 * (spillway/tls.h) every https endpoint's connections share.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "http-private.h"

/* Splits a base URL (scheme://[userinfo@]host[:port]) into host and port. */
spw_result spw__http_addr_parse(const char *base, char **host, uint16_t *port) {
    bool tls = strncasecmp(base, "https://", 8) == 0;
    const char *a = base + (tls ? 8 : 7);
    const char *at = strchr(a, '@');
    if (at)
        a = at + 1;
    const char *hs = a, *he, *p;
    if (*a == '[') {
        hs = a + 1;
        he = strchr(hs, ']');
        if (!he)
            return SPW_ERR_CONFIG;
        p = he + 1;
    } else {
        he = strchr(a, ':');
        if (!he)
            he = a + strlen(a);
        p = he;
    }
    unsigned long v = tls ? 443 : 80;
    if (*p == ':') {
        char *end;
        v = strtoul(p + 1, &end, 10);
        if (end == p + 1 || *end || v == 0 || v > 65535)
            return SPW_ERR_CONFIG;
    } else if (*p) {
        return SPW_ERR_CONFIG;
    }
    *host = strndup(hs, (size_t)(he - hs));
    *port = (uint16_t)v;
    return *host ? SPW_OK : SPW_ERR_NOMEM;
}

/* One connect_to item, HOST:PORT:CONNECT-HOST:CONNECT-PORT (empty fields match/keep). */
void spw__http_addr_connect_to(const char *item, spw__http_endpoint *ep) {
    char f[4][256];
    const char *p = item;
    for (int i = 0; i < 4; i++) {
        size_t n = 0;
        if (*p == '[') {
            const char *e = strchr(p, ']');
            if (!e)
                return;
            n = (size_t)(e - p - 1);
            if (n >= sizeof f[i])
                return;
            memcpy(f[i], p + 1, n);
            p = e + 1;
        } else {
            size_t k = i < 3 ? strcspn(p, ":") : strlen(p);
            if (k >= sizeof f[i])
                return;
            memcpy(f[i], p, k);
            n = k;
            p += k;
        }
        f[i][n] = '\0';
        if (i < 3) {
            if (*p != ':')
                return;
            p++;
        }
    }
    if (*f[0] && strcasecmp(f[0], ep->dial_host) != 0)
        return;
    if (*f[1] && strtoul(f[1], NULL, 10) != ep->dial_port)
        return;
    if (*f[2]) {
        char *nh = strdup(f[2]);
        if (!nh)
            return;
        free(ep->dial_host);
        ep->dial_host = nh;
    }
    if (*f[3]) {
        unsigned long v = strtoul(f[3], NULL, 10);
        if (v > 0 && v < 65536)
            ep->dial_port = (uint16_t)v;
    }
}

/* The native engines' TLS context from the tls_* options, configured as libcurl is (client.c). */
static spw_result tls_ctx_new(const struct spw_http_conf *cf, spw_tls_ctx **out, spw_err *err) {
    spw_tls_options o = SPW_TLS_OPTIONS_INIT;
    o.role = SPW_TLS_CLIENT;
    /* The option's choices are in spw_tls_version's order ("1.2|1.3|1.0|1.1"). */
    o.min_version = (spw_tls_version)cf->tls_min_version;
    o.ca_file = cf->tls_ca_file;
    o.ca_path = cf->tls_ca_path;
    o.cert_file = cf->tls_cert;
    o.key_file = cf->tls_key;
    o.key_password = cf->tls_key_password;
    o.no_verify = !cf->tls_verify;
    o.ca_file_label = "tls_ca_file";
    o.ca_path_label = "tls_ca_path";
    o.cert_file_label = "tls_cert";
    o.key_file_label = "tls_key";
    return spw_tls_ctx_new(&o, out, err);
}

spw_result spw__http_addr_init(spw_http *s, spw_err *err) {
    for (size_t i = 0; i < s->n_eps; i++) {
        spw__http_endpoint *ep = &s->eps[i];
        ep->https = strncasecmp(ep->base, "https://", 8) == 0;
        if (spw__http_addr_parse(ep->base, &ep->tls_name, &ep->dial_port) != SPW_OK)
            return spw_err_set(err, SPW_ERR_CONFIG, "url '%s': cannot tell host and port",
                               ep->base);
        ep->dial_host = strdup(ep->tls_name);
        if (!ep->dial_host)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        for (size_t k = 0; k < s->cf->connect_to.n; k++)
            spw__http_addr_connect_to(s->cf->connect_to.v[k], ep);
        /* One context for both engines (each connection says what ALPN offers): the CA store
         * is loaded once per worker. */
        if (ep->https && !s->tls_ctx) {
            spw_result rc = tls_ctx_new(s->cf, &s->tls_ctx, err);
            if (rc != SPW_OK)
                return rc;
        }
    }
    return SPW_OK;
}

/*
 * plugins/source-xdr/tls.c: TLS for XDR connections, OpenSSL driven
 * through memory BIOs so that libuv keeps doing all socket I/O.
 *
 * Ciphertext read from the socket is written into the session's read BIO;
 * SSL_read then yields plaintext (running the handshake first) straight
 * into the connection's rbuf. Whatever the session wants to send (the
 * handshake, alerts, encrypted replies) appears in its write BIO and is
 * sent after every call that may produce it. Reading stops, as for plain
 * TCP, when the connection may not take input; the session then holds at
 * most one read of ciphertext.
 *
 * One SSL_CTX per worker (instances share nothing); TLS 1.2 at least
 * (tls_min_version), no renegotiation, no compression, no session cache
 * or tickets (XDR keeps its connections for hours; resumption buys
 * nothing). With tls_ca, a client certificate is required and verified.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "source.h"

struct xs_tls {
    SSL *ssl;
    BIO *rbio, *wbio; /* owned by ssl */
};

/* The last queued OpenSSL error as text; the queue is cleared. */
static const char *ssl_reason(char *buf, size_t n) {
    unsigned long e = ERR_peek_last_error();
    if (e == 0) {
        snprintf(buf, n, "unknown TLS error");
    } else {
        const char *r = ERR_reason_error_string(e);
        if (r)
            snprintf(buf, n, "%s", r);
        else
            ERR_error_string_n(e, buf, n);
    }
    ERR_clear_error();
    return buf;
}

spw_result xs_tls_ctx_new(const struct xs_conf *cf, void **out, spw_err *err) {
    char why[256];
    SSL_CTX *ctx;

    *out = NULL;
    ERR_clear_error();
    ctx = SSL_CTX_new(TLS_server_method());
    if (ctx == NULL)
        return spw_err_set(err, SPW_ERR_NOMEM, "cannot create a TLS context: %s",
                           ssl_reason(why, sizeof why));
    SSL_CTX_set_min_proto_version(ctx, cf->tls_min_version == 1 ? TLS1_3_VERSION : TLS1_2_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_num_tickets(ctx, 0);

    if (SSL_CTX_use_certificate_chain_file(ctx, cf->tls_certificate) != 1) {
        spw_err_set(err, SPW_ERR_CONFIG, "tls_certificate %s: %s", cf->tls_certificate,
                    ssl_reason(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, cf->tls_private_key, SSL_FILETYPE_PEM) != 1) {
        spw_err_set(err, SPW_ERR_CONFIG, "tls_private_key %s: %s", cf->tls_private_key,
                    ssl_reason(why, sizeof why));
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        spw_err_set(err, SPW_ERR_CONFIG, "tls_private_key %s does not match tls_certificate %s",
                    cf->tls_private_key, cf->tls_certificate);
        ERR_clear_error();
        goto fail;
    }
    if (cf->tls_ca && *cf->tls_ca) {
        struct stat sb;
        if (stat(cf->tls_ca, &sb) != 0) {
            spw_err_set(err, SPW_ERR_CONFIG, "tls_ca %s: %s", cf->tls_ca, strerror(errno));
            goto fail;
        }
        int ok = S_ISDIR(sb.st_mode) ? SSL_CTX_load_verify_dir(ctx, cf->tls_ca)
                                     : SSL_CTX_load_verify_file(ctx, cf->tls_ca);
        if (ok != 1) {
            spw_err_set(err, SPW_ERR_CONFIG, "tls_ca %s: %s", cf->tls_ca,
                        ssl_reason(why, sizeof why));
            goto fail;
        }
        if (!S_ISDIR(sb.st_mode)) {
            /* Tells clients which CAs are accepted; optional, so a failure is ignored. */
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(cf->tls_ca);
            if (names)
                SSL_CTX_set_client_CA_list(ctx, names);
            ERR_clear_error();
        }
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    *out = ctx;
    return SPW_OK;

fail:
    SSL_CTX_free(ctx);
    return SPW_ERR_CONFIG;
}

void xs_tls_ctx_free(void *ctx) { SSL_CTX_free(ctx); }

spw_result xs_tls_new(struct xs_conn *c) {
    struct xs_tls *t = calloc(1, sizeof *t);
    if (t == NULL)
        return SPW_ERR_NOMEM;
    t->ssl = SSL_new(c->x->tls_ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        SSL_free(t->ssl);
        free(t);
        ERR_clear_error();
        return SPW_ERR_NOMEM;
    }
    /* An empty read BIO means "more to come", not end of file. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_accept_state(t->ssl);
    c->tls = t;
    return SPW_OK;
}

void xs_tls_free(struct xs_conn *c) {
    if (c->tls) {
        SSL_free(c->tls->ssl); /* frees both BIOs */
        free(c->tls);
        c->tls = NULL;
    }
}

/* Sends whatever the session has produced. */
static bool flush_out(struct xs_conn *c) {
    uint8_t buf[16384];
    int n;
    while ((n = BIO_read(c->tls->wbio, buf, sizeof buf)) > 0)
        if (!xs_send(c, buf, (size_t)n))
            return false;
    return !c->closing;
}

bool xs_tls_feed(struct xs_conn *c, const uint8_t *p, size_t n) {
    if (BIO_write(c->tls->rbio, p, (int)n) != (int)n) {
        ERR_clear_error();
        xs_conn_abort(c, SPW_LOG_ERROR, "out of memory for TLS input");
        return false;
    }
    return true;
}

ssize_t xs_tls_pull(struct xs_conn *c) {
    size_t room = c->rcap - c->rlen;
    int want = room > INT_MAX ? INT_MAX : (int)room;
    char why[256];

    if (want == 0)
        return 0;
    ERR_clear_error();
    int n = SSL_read(c->tls->ssl, c->rbuf + c->rlen, want);
    int e = n > 0 ? SSL_ERROR_NONE : SSL_get_error(c->tls->ssl, n);
    if (!flush_out(c)) /* handshake messages, alerts */
        return -1;
    if (n > 0) {
        c->rlen += (size_t)n;
        return n;
    }
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        c->eof = true;
        xs_conn_abort(c, SPW_LOG_DEBUG, "closed by the peer (TLS close_notify)");
        return -1;
    default: {
        char msg[300];
        snprintf(msg, sizeof msg, "TLS %s failed: %s",
                 SSL_is_init_finished(c->tls->ssl) ? "session" : "handshake",
                 ssl_reason(why, sizeof why));
        spw_counter_add(c->x->c_malformed, 1);
        xs_conn_abort(c, SPW_LOG_WARN, msg);
        return -1;
    }
    }
}

bool xs_tls_write(struct xs_conn *c, const uint8_t *p, size_t n) {
    while (n > 0) {
        int chunk = n > (1u << 30) ? (1 << 30) : (int)n;
        ERR_clear_error();
        int w = SSL_write(c->tls->ssl, p, chunk);
        if (w <= 0) {
            char why[256], msg[300];
            snprintf(msg, sizeof msg, "TLS write failed: %s", ssl_reason(why, sizeof why));
            c->eof = true;
            xs_conn_abort(c, SPW_LOG_WARN, msg);
            return false;
        }
        p += w;
        n -= (size_t)w;
    }
    return flush_out(c);
}

void xs_tls_close_notify(struct xs_conn *c) {
    if (!SSL_is_init_finished(c->tls->ssl))
        return;
    ERR_clear_error();
    SSL_shutdown(c->tls->ssl);
    ERR_clear_error();
    flush_out(c);
}

/*
 * tests/unit/test-tls.c: the SDK's TLS over memory (core/tls.c), with a
 * client and a server session talking to each other through buffers.
 *
 * The PKI is made here, in C, at test time, in a temporary directory: a
 * test CA, a server certificate for localhost / 127.0.0.1 signed by it, a
 * client certificate signed by it, a second CA nobody trusts, a client
 * certificate that CA signed, and the server's key once more encrypted
 * with a pass phrase. Covered: context errors (and that none carries the
 * pass phrase), handshake, ALPN choice, data both ways cut in pieces, a
 * name (and an address) mismatch refused, an untrusted CA refused and
 * no_verify, client certificates required / refused, peer subjects,
 * close_notify, garbage refused without a crash, a context freed before
 * its sessions, and the OpenSSL error queue left empty. TAP.
 * SPW_TLS_KEEP=1 keeps the PKI's directory for a look with openssl.
 */
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <spillway/spillway.h>

#include "tap.h"

#define PASS_PHRASE "correct horse battery staple"

static char dir[64];

static const char *path(const char *name) {
    static char bufs[8][128];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, sizeof bufs[0], "%s/%s", dir, name);
    return b;
}

/* ---------------------------------------------------------------------- */
/* The PKI                                                                 */
/* ---------------------------------------------------------------------- */

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value) {
    X509V3_CTX v;
    X509V3_set_ctx_nodb(&v);
    X509V3_set_ctx(&v, issuer, x, NULL, NULL, 0);
    X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, &v, nid, value);
    if (!e || X509_add_ext(x, e, -1) != 1) {
        fprintf(stderr, "cannot add extension %d = %s\n", nid, value);
        exit(99);
    }
    X509_EXTENSION_free(e);
}

/* A certificate for key named cn, signed by issuer (NULL: self-signed, a CA). */
static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
                       const char *san, const char *eku) {
    static long serial = 1;
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 2 * 86400);
    X509_set_pubkey(x, key);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509 *signer = issuer ? issuer : x;
    add_ext(x, signer, NID_basic_constraints, issuer ? "CA:FALSE" : "critical,CA:TRUE");
    add_ext(x, signer, NID_subject_key_identifier, "hash");
    if (issuer) {
        add_ext(x, signer, NID_authority_key_identifier, "keyid:always");
        add_ext(x, signer, NID_key_usage, "critical,digitalSignature");
    } else {
        add_ext(x, signer, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (san)
        add_ext(x, signer, NID_subject_alt_name, san);
    if (eku)
        add_ext(x, signer, NID_ext_key_usage, eku);
    if (X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) == 0) {
        fprintf(stderr, "cannot sign %s\n", cn);
        exit(99);
    }
    return x;
}

static void write_cert(const char *name, X509 *x) {
    FILE *f = fopen(path(name), "w");
    if (!f || PEM_write_X509(f, x) != 1 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", name);
        exit(99);
    }
}

static void write_key(const char *name, EVP_PKEY *k, const char *pass) {
    FILE *f = fopen(path(name), "w");
    const EVP_CIPHER *enc = pass ? EVP_aes_256_cbc() : NULL;
    if (!f ||
        PEM_write_PrivateKey(f, k, enc, (unsigned char *)(uintptr_t)pass,
                             pass ? (int)strlen(pass) : 0, NULL, NULL) != 1 ||
        fclose(f) != 0) {
        fprintf(stderr, "cannot write %s\n", name);
        exit(99);
    }
}

static const char *const files[] = {"ca.pem", "server.pem", "server.key", "server-enc.key",
                                    "client.pem", "client.key", "rogue-ca.pem", "rogue.pem",
                                    "rogue.key", "other.key", "garbage.pem"};

static void make_pki(void) {
    EVP_PKEY *ca_k = EVP_EC_gen("P-256"), *srv_k = EVP_EC_gen("P-256"),
             *cli_k = EVP_EC_gen("P-256"), *rca_k = EVP_EC_gen("P-256"),
             *rog_k = EVP_EC_gen("P-256"), *oth_k = EVP_EC_gen("P-256");
    if (!ca_k || !srv_k || !cli_k || !rca_k || !rog_k || !oth_k) {
        fprintf(stderr, "cannot make keys\n");
        exit(99);
    }
    X509 *ca = make_cert(ca_k, "spillway test CA", NULL, NULL, NULL, NULL);
    X509 *srv = make_cert(srv_k, "localhost", ca, ca_k, "DNS:localhost,IP:127.0.0.1", "serverAuth");
    X509 *cli = make_cert(cli_k, "xdr-node-1", ca, ca_k, NULL, "clientAuth");
    X509 *rca = make_cert(rca_k, "rogue CA", NULL, NULL, NULL, NULL);
    X509 *rog = make_cert(rog_k, "rogue", rca, rca_k, "DNS:localhost", "clientAuth,serverAuth");
    write_cert("ca.pem", ca);
    write_cert("server.pem", srv);
    write_key("server.key", srv_k, NULL);
    write_key("server-enc.key", srv_k, PASS_PHRASE);
    write_cert("client.pem", cli);
    write_key("client.key", cli_k, NULL);
    write_cert("rogue-ca.pem", rca);
    write_cert("rogue.pem", rog);
    write_key("rogue.key", rog_k, NULL);
    write_key("other.key", oth_k, NULL);
    FILE *f = fopen(path("garbage.pem"), "w");
    fputs("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n", f);
    fclose(f);
    X509_free(ca);
    X509_free(srv);
    X509_free(cli);
    X509_free(rca);
    X509_free(rog);
    EVP_PKEY_free(ca_k);
    EVP_PKEY_free(srv_k);
    EVP_PKEY_free(cli_k);
    EVP_PKEY_free(rca_k);
    EVP_PKEY_free(rog_k);
    EVP_PKEY_free(oth_k);
}

static void remove_pki(void) {
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        unlink(path(files[i]));
    rmdir(dir);
}

/* ---------------------------------------------------------------------- */
/* Contexts                                                                */
/* ---------------------------------------------------------------------- */

static spw_tls_options server_opts(void) {
    spw_tls_options o = SPW_TLS_OPTIONS_INIT;
    o.role = SPW_TLS_SERVER;
    o.cert_file = path("server.pem");
    o.key_file = path("server.key");
    return o;
}

static spw_tls_options client_opts(void) {
    spw_tls_options o = SPW_TLS_OPTIONS_INIT;
    o.ca_file = path("ca.pem");
    return o;
}

static spw_tls_ctx *ctx_or_die(const spw_tls_options *o) {
    spw_tls_ctx *c;
    spw_err e = {""};
    if (spw_tls_ctx_new(o, &c, &e) != SPW_OK) {
        printf("Bail out! cannot make a context: %s\n", e.msg);
        exit(1);
    }
    return c;
}

static void test_contexts(void) {
    spw_tls_ctx *c = NULL;
    spw_err e = {""};
    spw_result r;

    spw_tls_options o = server_opts();
    o.cert_file = path("missing.pem");
    o.cert_file_label = "tls_certificate";
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "a missing certificate file: SPW_ERR_CONFIG");
    has_str(e.msg, "tls_certificate", "the message names the file by its label");
    has_str(e.msg, "missing.pem", "and gives its path (%s)", e.msg);
    ok(c == NULL, "and *out is NULL");

    o = server_opts();
    o.cert_file = path("garbage.pem");
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "a certificate file that is not PEM: SPW_ERR_CONFIG (%s)", e.msg);
    has_str(e.msg, "certificate ", "unlabelled files have a default label");

    o = server_opts();
    o.key_file = path("other.key");
    o.key_file_label = "tls_private_key";
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "a key that does not match the certificate: SPW_ERR_CONFIG");
    has_str(e.msg, "tls_private_key", "named by its label (%s)", e.msg);
    has_str(e.msg, "mismatch", "as a mismatch");

    o = server_opts();
    o.cert_file = NULL;
    o.key_file = NULL;
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "a server without a certificate: SPW_ERR_CONFIG (%s)", e.msg);

    o = client_opts();
    o.key_file = path("client.key");
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "a key without a certificate: SPW_ERR_CONFIG (%s)", e.msg);

    o = server_opts();
    o.require_client_cert = true;
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "client certificates required without a CA: SPW_ERR_CONFIG (%s)",
           e.msg);

    o = client_opts();
    o.ca_file = path("garbage.pem");
    o.ca_file_label = "--tls-ca";
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "an unusable CA file: SPW_ERR_CONFIG");
    has_str(e.msg, "--tls-ca", "named by its label (%s)", e.msg);

    o = client_opts();
    o.ca_path = path("no-such-dir");
    r = spw_tls_ctx_new(&o, &c, &e);
    ok(r == SPW_OK || r == SPW_ERR_CONFIG,
       "a CA directory that does not exist: no crash (OpenSSL looks it up lazily)");
    spw_tls_ctx_free(c);
    c = NULL;

    o = server_opts();
    o.alpn = "h2,,http/1.1";
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "an ALPN list with an empty name: SPW_ERR_CONFIG (%s)", e.msg);

    o = server_opts();
    o.role = (spw_tls_role)7;
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "an unknown role: SPW_ERR_CONFIG");

    /* The encrypted key: unlocked by its pass phrase; refused without, never prompting. */
    o = server_opts();
    o.key_file = path("server-enc.key");
    o.key_password = PASS_PHRASE;
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_OK, "an encrypted key with its pass phrase is accepted (%s)", r ? e.msg : "");
    spw_tls_ctx_free(c);
    c = NULL;

    o.key_password = "xyzzy-not-it";
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "a wrong pass phrase: SPW_ERR_CONFIG (%s)", e.msg);
    ok(strstr(e.msg, "xyzzy") == NULL, "the error does not carry the pass phrase given");

    o.key_password = NULL;
    r = spw_tls_ctx_new(&o, &c, &e);
    is_int(r, SPW_ERR_CONFIG, "an encrypted key without a pass phrase fails at once (%s)", e.msg);

    ok(ERR_peek_error() == 0, "the OpenSSL error queue is left empty after failures");

    o = client_opts();
    o.ca_file = NULL;
    r = spw_tls_ctx_new(&o, &c, &e);
    ok(r == SPW_OK || r == SPW_ERR_CONFIG, "a client trusting the system's store: %s",
       r ? e.msg : "loaded");
    spw_tls_ctx_free(c);
    spw_tls_ctx_free(NULL);
    ok(1, "spw_tls_ctx_free(NULL) is a no-op");
}

/* ---------------------------------------------------------------------- */
/* Two sessions in memory                                                  */
/* ---------------------------------------------------------------------- */

struct side {
    spw_tls *t;
    spw_buf out, plain;
    spw_result r; /* first failure */
    spw_err e;
};

struct pair {
    struct side c, s;
};

static void pair_new(struct pair *p, spw_tls_ctx *cc, spw_tls_ctx *sc, const char *name,
                     const char *alpn) {
    memset(p, 0, sizeof *p);
    spw_err e = {""};
    if (spw_tls_new(cc, name, alpn, &p->c.t, &e) != SPW_OK ||
        spw_tls_new(sc, NULL, NULL, &p->s.t, &e) != SPW_OK) {
        printf("Bail out! cannot make sessions: %s\n", e.msg);
        exit(1);
    }
}

static void pair_free(struct pair *p) {
    spw_tls_free(p->c.t);
    spw_tls_free(p->s.t);
    spw_buf_free(&p->c.out);
    spw_buf_free(&p->c.plain);
    spw_buf_free(&p->s.out);
    spw_buf_free(&p->s.plain);
}

/* Hands what `from` has to send to `to`, as one piece. */
static bool deliver(struct side *from, struct side *to) {
    if (from->out.len == 0)
        return false;
    if (to->r == SPW_OK) {
        spw_result r = spw_tls_recv(to->t, from->out.data, from->out.len, &to->plain, &to->out,
                                    &to->e);
        if (r != SPW_OK)
            to->r = r;
    }
    spw_buf_reset(&from->out);
    return true;
}

/* Runs the handshake (and whatever follows) until nothing moves. */
static void pump(struct pair *p) {
    if (p->c.r == SPW_OK)
        p->c.r = spw_tls_start(p->c.t, &p->c.out, &p->c.e);
    for (int i = 0; i < 50; i++) {
        bool moved = deliver(&p->c, &p->s);
        moved |= deliver(&p->s, &p->c);
        if (!moved)
            break;
    }
}

static void fill(uint8_t *b, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)((i * 131u + seed) ^ (i >> 8));
}

static void test_handshake_and_data(void) {
    spw_tls_options so = server_opts();
    so.alpn = "http/1.1,h2";
    spw_tls_options co = client_opts();
    spw_tls_ctx *sc = ctx_or_die(&so), *cc = ctx_or_die(&co);
    struct pair p;
    char buf[256];

    pair_new(&p, cc, sc, "localhost", "h2,http/1.1");
    is_int(spw_tls_get_state(p.c.t), SPW_TLS_HANDSHAKE, "a new session is in its handshake");
    ok(!spw_tls_ready(p.c.t), "and not ready");
    spw_err e = {""};
    is_int(spw_tls_write(p.c.t, "x", 1, &p.c.out, &e), SPW_ERR_STATE,
           "writing before the handshake: SPW_ERR_STATE (%s)", e.msg);
    is_int(spw_tls_start(p.s.t, &p.s.out, &e), SPW_OK, "starting a server session is allowed");
    is_int(p.s.out.len, 0, "and has nothing to send");
    spw_tls_start(p.c.t, &p.c.out, &p.c.e);
    ok(p.c.out.len > 0, "the client's start yields its ClientHello (%zu bytes)", p.c.out.len);
    pump(&p);
    is_int(p.c.r, SPW_OK, "client: handshake without error (%s)", p.c.r ? p.c.e.msg : "");
    is_int(p.s.r, SPW_OK, "server: handshake without error (%s)", p.s.r ? p.s.e.msg : "");
    ok(spw_tls_ready(p.c.t) && spw_tls_ready(p.s.t), "both sides are ready");
    is_int(spw_tls_get_state(p.s.t), SPW_TLS_OPEN, "the server's state is SPW_TLS_OPEN");
    is_int(p.c.plain.len + p.s.plain.len, 0, "no plaintext came out of the handshake");

    size_t n = spw_tls_alpn(p.c.t, buf, sizeof buf);
    is_str(buf, "http/1.1", "ALPN: the server's first choice the client offers wins (client)");
    is_int(n, 8, "and its length is returned");
    spw_tls_alpn(p.s.t, buf, sizeof buf);
    is_str(buf, "http/1.1", "ALPN: the server sees the same");
    n = spw_tls_alpn(p.c.t, buf, 3);
    is_str(buf, "ht", "a short buffer is filled as snprintf would");
    is_int(n, 8, "and the full length is returned");

    spw_tls_peer_subject(p.c.t, buf, sizeof buf);
    is_str(buf, "CN=localhost", "the client sees the server's subject");
    n = spw_tls_peer_subject(p.s.t, buf, sizeof buf);
    is_int(n, 0, "the server has no client certificate to show");
    is_str(buf, "", "and its buffer is empty");

    /* Client to server: 3 writes, delivered in pieces of 1 to 997 bytes,
     * read with feed + read into a small window. */
    enum { N1 = 1, N2 = 5000, N3 = 70000, TOTAL = N1 + N2 + N3 };
    static uint8_t want[TOTAL], got[TOTAL + 1];
    fill(want, TOTAL, 7);
    spw_result r = spw_tls_write(p.c.t, want, N1, &p.c.out, &e);
    r |= spw_tls_write(p.c.t, want + N1, N2, &p.c.out, &e);
    r |= spw_tls_write(p.c.t, want + N1 + N2, 0, &p.c.out, &e);
    r |= spw_tls_write(p.c.t, want + N1 + N2, N3, &p.c.out, &e);
    is_int(r, SPW_OK, "three writes (and an empty one) are encrypted");
    ok(p.c.out.len > TOTAL, "into records: %zu bytes of ciphertext for %d", p.c.out.len, TOTAL);
    size_t off = 0, have = 0, piece = 1, reads = 0;
    bool fine = true;
    while (off < p.c.out.len && fine) {
        size_t k = piece < p.c.out.len - off ? piece : p.c.out.len - off;
        fine = spw_tls_feed(p.s.t, p.c.out.data + off, k, &e) == SPW_OK;
        off += k;
        piece = piece * 7 % 997 + 1;
        for (;;) {
            size_t g = 0;
            size_t room = sizeof got - have < 333 ? sizeof got - have : 333;
            if (spw_tls_read(p.s.t, got + have, room, &g, &p.s.out, &e) != SPW_OK) {
                fine = false;
                break;
            }
            if (g == 0)
                break;
            have += g;
            reads++;
        }
    }
    ok(fine, "the server took the pieces (%s)", fine ? "" : e.msg);
    ok(have == TOTAL && memcmp(got, want, TOTAL) == 0,
       "and read back exactly what was written (%zu of %d bytes, %zu reads of <= 333)", have,
       TOTAL, reads);
    spw_buf_reset(&p.c.out);
    spw_buf_reset(&p.s.out);

    /* Server to client: many small writes, delivered in pieces through spw_tls_recv. */
    static uint8_t back[50000];
    fill(back, sizeof back, 3);
    r = SPW_OK;
    for (size_t i = 0; i < sizeof back; i += 1000)
        r |= spw_tls_write(p.s.t, back + i, 1000, &p.s.out, &e);
    is_int(r, SPW_OK, "fifty writes from the server");
    spw_buf_reset(&p.c.plain);
    fine = true;
    piece = 5;
    for (off = 0; off < p.s.out.len && fine;) {
        size_t k = piece < p.s.out.len - off ? piece : p.s.out.len - off;
        fine = spw_tls_recv(p.c.t, p.s.out.data + off, k, &p.c.plain, &p.c.out, &e) == SPW_OK;
        off += k;
        piece = piece * 13 % 1500 + 1;
    }
    ok(fine && p.c.plain.len == sizeof back && memcmp(p.c.plain.data, back, sizeof back) == 0,
       "the client received them in order, whole (%zu bytes)", p.c.plain.len);
    spw_buf_reset(&p.s.out);

    /* close_notify: data sent before it still arrives, then the state says closed. */
    spw_buf_reset(&p.c.out);
    spw_buf_reset(&p.s.plain);
    spw_tls_write(p.c.t, "last words", 10, &p.c.out, &e);
    is_int(spw_tls_close_notify(p.c.t, &p.c.out, &e), SPW_OK, "the client sends close_notify");
    is_int(spw_tls_write(p.c.t, "more", 4, &p.c.out, &e), SPW_ERR_STATE,
           "and cannot write after it (%s)", e.msg);
    is_int(spw_tls_close_notify(p.c.t, &p.c.out, &e), SPW_OK, "a second close_notify is a no-op");
    r = spw_tls_recv(p.s.t, p.c.out.data, p.c.out.len, &p.s.plain, &p.s.out, &e);
    is_int(r, SPW_OK, "the server takes data and close_notify in one piece");
    ok(p.s.plain.len == 10 && memcmp(p.s.plain.data, "last words", 10) == 0,
       "the data before close_notify is delivered");
    is_int(spw_tls_get_state(p.s.t), SPW_TLS_CLOSED, "and the server's state is SPW_TLS_CLOSED");
    ok(spw_tls_ready(p.s.t), "still ready (TLS allows an answer after the peer's close)");
    size_t g = 1;
    is_int(spw_tls_read(p.s.t, got, sizeof got, &g, &p.s.out, &e), SPW_OK,
           "reading after close_notify: SPW_OK");
    is_int(g, 0, "with nothing");
    is_int(spw_tls_write(p.s.t, "bye", 3, &p.s.out, &e), SPW_OK,
           "the server may still answer after the client's close_notify");
    is_int(spw_tls_close_notify(p.s.t, &p.s.out, &e), SPW_OK, "the server answers close_notify");
    spw_buf_reset(&p.c.plain);
    r = spw_tls_recv(p.c.t, p.s.out.data, p.s.out.len, &p.c.plain, &p.c.out, &e);
    ok(r == SPW_OK && p.c.plain.len == 3 && memcmp(p.c.plain.data, "bye", 3) == 0,
       "the client, half-closed, still reads the answer");
    is_int(spw_tls_get_state(p.c.t), SPW_TLS_CLOSED, "and then sees the server's close_notify");
    pair_free(&p);

    /* No ALPN in common: the handshake goes on without. */
    pair_new(&p, cc, sc, "localhost", "imap");
    pump(&p);
    ok(p.c.r == SPW_OK && p.s.r == SPW_OK && spw_tls_ready(p.c.t),
       "no ALPN in common: the handshake still completes");
    is_int(spw_tls_alpn(p.c.t, buf, sizeof buf), 0, "with no protocol chosen");
    pair_free(&p);

    /* The address in the certificate (IP SAN), and the context freed first. */
    pair_new(&p, cc, sc, "127.0.0.1", NULL);
    spw_tls_ctx_free(cc);
    spw_tls_ctx_free(sc);
    pump(&p);
    ok(p.c.r == SPW_OK && p.s.r == SPW_OK && spw_tls_ready(p.c.t),
       "an IP address is checked against the IP SAN, with the contexts already freed (%s)",
       p.c.r ? p.c.e.msg : "");
    pair_free(&p);
}

/* A handshake expected to fail: the client's and the server's errors. */
static void refused(spw_tls_ctx *cc, spw_tls_ctx *sc, const char *name, const char *what,
                    const char *cwant, const char *swant) {
    struct pair p;
    pair_new(&p, cc, sc, name, NULL);
    pump(&p);
    if (cwant) {
        is_int(p.c.r, SPW_ERR_INVAL, "%s: the client fails with SPW_ERR_INVAL", what);
        has_str(p.c.e.msg, cwant, "%s: client: %s", what, p.c.e.msg);
        is_int(spw_tls_get_state(p.c.t), SPW_TLS_FAILED, "%s: the client's state is FAILED", what);
    }
    if (swant) {
        is_int(p.s.r, SPW_ERR_INVAL, "%s: the server fails with SPW_ERR_INVAL", what);
        has_str(p.s.e.msg, swant, "%s: server: %s", what, p.s.e.msg);
    }
    ok(!spw_tls_ready(p.s.t) || spw_tls_get_state(p.s.t) == SPW_TLS_FAILED ||
           p.c.r != SPW_OK,
       "%s: no session was established", what);
    spw_err e = {""};
    size_t g;
    uint8_t b[16];
    is_int(spw_tls_read(p.c.t, b, sizeof b, &g, &p.c.out, &e), SPW_ERR_STATE,
           "%s: a failed session refuses further calls", what);
    ok(ERR_peek_error() == 0, "%s: the OpenSSL error queue is left empty", what);
    pair_free(&p);
}

static void test_refusals(void) {
    spw_tls_options so = server_opts();
    spw_tls_options co = client_opts();
    spw_tls_ctx *sc = ctx_or_die(&so), *cc = ctx_or_die(&co);

    refused(cc, sc, "elsewhere.test", "a name the certificate does not hold",
            "TLS handshake failed: server certificate: hostname mismatch", "alert");
    refused(cc, sc, "10.0.0.1", "an address the certificate does not hold",
            "IP address mismatch", NULL);

    co.ca_file = path("rogue-ca.pem");
    spw_tls_ctx *untrusting = ctx_or_die(&co);
    refused(untrusting, sc, "localhost", "a server certificate from an untrusted CA",
            "server certificate: unable to get local issuer certificate", "unknown ca");
    spw_tls_ctx_free(untrusting);

    co.no_verify = true;
    spw_tls_ctx *insecure = ctx_or_die(&co);
    struct pair p;
    pair_new(&p, insecure, sc, "elsewhere.test", NULL);
    pump(&p);
    ok(p.c.r == SPW_OK && spw_tls_ready(p.c.t),
       "no_verify: an untrusted certificate for another name is accepted");
    pair_free(&p);
    spw_tls_ctx_free(insecure);
    spw_tls_ctx_free(sc);

    /* Client certificates required. */
    so.require_client_cert = true;
    so.ca_file = path("ca.pem");
    sc = ctx_or_die(&so);
    co = client_opts();
    co.cert_file = path("client.pem");
    co.key_file = path("client.key");
    spw_tls_ctx *with_cert = ctx_or_die(&co);
    pair_new(&p, with_cert, sc, "localhost", NULL);
    pump(&p);
    ok(p.c.r == SPW_OK && p.s.r == SPW_OK && spw_tls_ready(p.s.t),
       "a client certificate the CA signed is accepted (%s)", p.s.r ? p.s.e.msg : "");
    char subj[128];
    spw_tls_peer_subject(p.s.t, subj, sizeof subj);
    is_str(subj, "CN=xdr-node-1", "and the server sees its subject");
    pair_free(&p);

    refused(cc, sc, "localhost", "no client certificate where one is required", "alert",
            "TLS handshake failed: peer did not return a certificate");

    co.cert_file = path("rogue.pem");
    co.key_file = path("rogue.key");
    spw_tls_ctx *rogue = ctx_or_die(&co);
    refused(rogue, sc, "localhost", "a client certificate from another CA", "alert",
            "TLS handshake failed: client certificate: ");
    spw_tls_ctx_free(rogue);
    spw_tls_ctx_free(with_cert);
    spw_tls_ctx_free(sc);
    spw_tls_ctx_free(cc);
}

static void test_garbage(void) {
    spw_tls_options so = server_opts();
    spw_tls_options co = client_opts();
    spw_tls_ctx *sc = ctx_or_die(&so), *cc = ctx_or_die(&co);
    spw_err e = {""};
    spw_buf out = SPW_BUF_INIT, plain = SPW_BUF_INIT;
    spw_tls *t;

    /* Plain HTTP on a TLS listener. */
    spw_tls_new(sc, NULL, NULL, &t, &e);
    const char *get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    spw_result r = spw_tls_recv(t, get, strlen(get), &plain, &out, &e);
    is_int(r, SPW_ERR_INVAL, "plaintext HTTP to a server session: SPW_ERR_INVAL");
    has_str(e.msg, "TLS handshake failed", "as a failed handshake (%s)", e.msg);
    is_int(plain.len, 0, "no plaintext came out");
    is_int(spw_tls_feed(t, "x", 1, &e), SPW_ERR_STATE, "feeding a failed session: SPW_ERR_STATE");
    is_int(spw_tls_write(t, "x", 1, &out, &e), SPW_ERR_STATE, "writing to it: SPW_ERR_STATE");
    spw_tls_free(t);

    /* Random bytes, to both roles, many times: refused or waiting, never a crash. */
    uint8_t junk[4096];
    int failed = 0, waiting = 0;
    for (int i = 0; i < 200; i++) {
        size_t n = (size_t)(i * 37 % 4000) + 1;
        RAND_bytes(junk, (int)n);
        if (i % 3 == 0) {
            junk[0] = 0x16; /* looks like a handshake record */
            junk[1] = 0x03;
            if (n > 2)
                junk[2] = 0x01;
        }
        spw_tls_new(i % 2 ? cc : sc, i % 2 ? "localhost" : NULL, NULL, &t, &e);
        spw_buf_reset(&out);
        if (i % 2)
            spw_tls_start(t, &out, &e);
        spw_buf_reset(&plain);
        r = spw_tls_recv(t, junk, n, &plain, &out, &e);
        if (r == SPW_ERR_INVAL)
            failed++;
        else if (r == SPW_OK && plain.len == 0)
            waiting++;
        spw_tls_free(t);
    }
    ok(failed + waiting == 200 && failed > 150,
       "200 random inputs: %d refused, %d waiting for more, none crashed or yielded data",
       failed, waiting);
    ok(ERR_peek_error() == 0, "the OpenSSL error queue is left empty");

    /* A record damaged after the handshake. */
    struct pair p;
    pair_new(&p, cc, sc, "localhost", NULL);
    pump(&p);
    spw_tls_write(p.c.t, "hello, server", 13, &p.c.out, &e);
    p.c.out.data[p.c.out.len - 3] ^= 0x40;
    r = spw_tls_recv(p.s.t, p.c.out.data, p.c.out.len, &p.s.plain, &p.s.out, &e);
    is_int(r, SPW_ERR_INVAL, "a damaged record after the handshake: SPW_ERR_INVAL");
    has_str(e.msg, "TLS session failed", "as a failed session (%s)", e.msg);
    is_int(p.s.plain.len, 0, "and not a byte of it is delivered");
    ok(p.s.out.len > 0, "an alert is left in out for the caller to send");
    pair_free(&p);

    /* Misuse of the session API. */
    is_int(spw_tls_new(sc, "localhost", NULL, &t, &e), SPW_ERR_INVAL,
           "a server session with a peer name: SPW_ERR_INVAL (%s)", e.msg);
    ok(t == NULL, "and no session");
    is_int(spw_tls_new(cc, "localhost", "h2,", &t, &e), SPW_ERR_INVAL,
           "a client session with a bad ALPN list: SPW_ERR_INVAL");
    spw_tls_free(NULL);
    ok(1, "spw_tls_free(NULL) is a no-op");

    spw_buf_free(&out);
    spw_buf_free(&plain);
    spw_tls_ctx_free(sc);
    spw_tls_ctx_free(cc);
}

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/spw-tls-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        printf("Bail out! cannot make a temporary directory\n");
        return 1;
    }
    make_pki();
    test_contexts();
    test_handshake_and_data();
    test_refusals();
    test_garbage();
    if (getenv("SPW_TLS_KEEP"))
        diag("kept %s", dir);
    else
        remove_pki();
    return tap_done();
}

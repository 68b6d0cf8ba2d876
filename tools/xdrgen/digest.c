/*
 * tools/xdrgen/digest.c: the record digest, RIPEMD-160 over set || key
 * particle type || key bytes, as the Aerospike server computes it.
 *
 * One EVP context is kept and re-initialised per record: allocating a
 * context per digest (what a general-purpose helper must do to be
 * thread-safe) costs as much as hashing the few bytes of a key, and the
 * generator runs on one thread.
 */
#include "xdrgen.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

struct xg_digest {
    EVP_MD *md;
    EVP_MD_CTX *ctx;
};

struct xg_digest *xg_digest_new(char *err, size_t errlen) {
    struct xg_digest *d = calloc(1, sizeof *d);
    if (!d) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    d->md = EVP_MD_fetch(NULL, "RIPEMD160", NULL);
    d->ctx = EVP_MD_CTX_new();
    if (!d->md || !d->ctx) {
        snprintf(err, errlen,
                 "OpenSSL has no RIPEMD-160 digest (needs OpenSSL >= 3.0.7, or the legacy "
                 "provider)");
        xg_digest_free(d);
        return NULL;
    }
    return d;
}

void xg_digest_free(struct xg_digest *d) {
    if (!d)
        return;
    EVP_MD_CTX_free(d->ctx);
    EVP_MD_free(d->md);
    free(d);
}

void xg_digest(struct xg_digest *d, const void *set, size_t set_len, uint8_t key_type,
               const void *key, size_t key_len, uint8_t out[20]) {
    unsigned n = 0;
    if (EVP_DigestInit_ex(d->ctx, d->md, NULL) == 1 &&
        (set_len == 0 || EVP_DigestUpdate(d->ctx, set, set_len) == 1) &&
        EVP_DigestUpdate(d->ctx, &key_type, 1) == 1 &&
        (key_len == 0 || EVP_DigestUpdate(d->ctx, key, key_len) == 1) &&
        EVP_DigestFinal_ex(d->ctx, out, &n) == 1 && n == 20)
        return;
    /* cannot fail once fetched; a zero digest is visibly wrong, not garbage */
    memset(out, 0, 20);
}

/*
 * core/digest.c: the record digest, RIPEMD-160 over set || key type ||
 * key bytes, exactly as the Aerospike server computes it, so a source that
 * was not sent a digest (or a test generator) can produce the real one.
 *
 * The algorithm comes from OpenSSL 3. Fetching it walks the provider
 * tables under a lock, so it is fetched once per process and shared: an
 * EVP_MD is immutable and safe to use from every thread at once.
 */
#include <pthread.h>
#include <string.h>
#include <openssl/evp.h>

#include <spillway/event.h>
#include "log.h"

static pthread_once_t ripemd_once = PTHREAD_ONCE_INIT;
static EVP_MD *ripemd;

static void ripemd_fetch(void) {
    ripemd = EVP_MD_fetch(NULL, "RIPEMD160", NULL);
    if (ripemd == NULL)
        spw__log("core", SPW_LOG_ERROR,
                 "OpenSSL has no RIPEMD160 digest (needs OpenSSL >= 3.0.7, or the legacy "
                 "provider); record digests will be all zeros");
}

void spw_digest_compute(const void *set, size_t set_len, uint8_t key_type, const void *key,
                        size_t key_len, uint8_t out[20]) {
    EVP_MD_CTX *ctx;
    unsigned int n = 0;
    bool done = false;

    pthread_once(&ripemd_once, ripemd_fetch);
    /* The digest has no error path in its signature: on the (configuration)
     * failure logged above, a zero digest is at least deterministic and
     * visibly wrong rather than stack garbage. */
    memset(out, 0, 20);
    if (ripemd == NULL || (ctx = EVP_MD_CTX_new()) == NULL)
        return;
    if (EVP_DigestInit_ex(ctx, ripemd, NULL) == 1 &&
        (set_len == 0 || EVP_DigestUpdate(ctx, set, set_len) == 1) &&
        EVP_DigestUpdate(ctx, &key_type, 1) == 1 &&
        (key_len == 0 || EVP_DigestUpdate(ctx, key, key_len) == 1) &&
        EVP_DigestFinal_ex(ctx, out, &n) == 1 && n == 20)
        done = true;
    if (!done)
        memset(out, 0, 20);
    EVP_MD_CTX_free(ctx);
}

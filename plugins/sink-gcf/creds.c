/*
 * plugins/sink-gcf/creds.c: where ID tokens come from (Google's
 * Application Default Credentials order) and the service-account JWT.
 *
 * ADC (https://cloud.google.com/docs/authentication/application-default-credentials):
 * the key file named by the sink's option, else the file named by
 * GOOGLE_APPLICATION_CREDENTIALS, else the metadata server of the Google
 * Cloud runtime (GCE_METADATA_HOST overrides its host, as Google's client
 * libraries let it). Only a service account can have an ID token minted
 * for an arbitrary audience: a gcloud user credential (`authorized_user`)
 * cannot (Google's token endpoint gives users ID tokens for the OAuth
 * client only), so such a file is refused at start with that reason.
 *
 * Service accounts (https://developers.google.com/identity/protocols/oauth2/service-account
 * and https://cloud.google.com/functions/docs/securing/authenticating):
 * a JWT signed RS256 with the key's private key, header `kid` = the key's
 * private_key_id, claims iss = sub = client_email, aud = token_uri, iat,
 * exp = iat + 1 h (Google's maximum), target_audience = the audience; the
 * token endpoint exchanges it (grant type jwt-bearer, RFC 7523) for an
 * `id_token`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include "gcf.h"

#define DEFAULT_METADATA_HOST "metadata.google.internal"

static char *dupn(const char *s, size_t n) {
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}


void gcf_source_free(gcf_source *src) {
    free(src->id);
    free(src->what);
    free(src->client_email);
    free(src->private_key_id);
    free(src->token_uri);
    free(src->metadata_origin);
    EVP_PKEY_free(src->pkey);
    memset(src, 0, sizeof *src);
}

static spw_result read_file(const char *path, spw_buf *out, spw_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return spw_err_set(err, SPW_ERR_CONFIG, "credentials file '%s': %s", path, strerror(errno));
    char chunk[4096];
    size_t n;
    spw_result rc = SPW_OK;
    while (rc == SPW_OK && (n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (out->len + n > GCF_KEYFILE_MAX)
            rc = spw_err_set(err, SPW_ERR_CONFIG, "credentials file '%s': larger than %u bytes",
                             path, GCF_KEYFILE_MAX);
        else if (spw_buf_append(out, chunk, n) != SPW_OK)
            rc = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    if (rc == SPW_OK && ferror(f))
        rc = spw_err_set(err, SPW_ERR_CONFIG, "credentials file '%s': read error", path);
    OPENSSL_cleanse(chunk, sizeof chunk);
    fclose(f);
    return rc;
}

/* A string member the key file must have. */
static spw_result member(const spw_buf *file, const char *path, const char *name, char **out,
                         spw_err *err) {
    spw_buf v = SPW_BUF_INIT;
    int r = gcf_json_string((const char *)file->data, file->len, name, &v);
    spw_result rc = SPW_OK;
    if (r < 0)
        rc = spw_err_set(err, SPW_ERR_CONFIG, "credentials file '%s': '%s' is not a string", path,
                         name);
    else if (r == 0 || v.len == 0)
        rc = spw_err_set(err, SPW_ERR_CONFIG, "credentials file '%s': no '%s'", path, name);
    else if (!(*out = dupn((const char *)v.data, v.len)))
        rc = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    if (v.data)
        OPENSSL_cleanse(v.data, v.len);
    spw_buf_free(&v);
    return rc;
}

static spw_result load_key(const spw_buf *file, const char *path, gcf_source *src, spw_err *err) {
    spw_buf v = SPW_BUF_INIT;
    int r = gcf_json_string((const char *)file->data, file->len, "private_key", &v);
    spw_result rc = SPW_OK;
    if (r <= 0) {
        rc = spw_err_set(err, SPW_ERR_CONFIG, "credentials file '%s': no 'private_key' string",
                         path);
    } else {
        BIO *bio = BIO_new_mem_buf(v.data, (int)v.len);
        EVP_PKEY *k = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
        BIO_free(bio);
        if (!k)
            rc = spw_err_set(err, SPW_ERR_CONFIG,
                             "credentials file '%s': 'private_key' is not a PEM private key", path);
        else if (EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
            EVP_PKEY_free(k);
            rc = spw_err_set(err, SPW_ERR_CONFIG,
                             "credentials file '%s': 'private_key' is not an RSA key (RS256 needs "
                             "one)",
                             path);
        } else
            src->pkey = k;
    }
    if (v.data)
        OPENSSL_cleanse(v.data, v.len);
    spw_buf_free(&v);
    return rc;
}

static spw_result from_file(const char *path, const char *why, gcf_source *src, spw_err *err) {
    spw_buf file = SPW_BUF_INIT;
    spw_buf type = SPW_BUF_INIT;
    spw_result rc = read_file(path, &file, err);
    if (rc == SPW_OK) {
        int r = gcf_json_string((const char *)file.data, file.len, "type", &type);
        if (r < 0)
            rc = spw_err_set(err, SPW_ERR_CONFIG, "credentials file '%s' (%s): not a JSON object",
                             path, why);
        else if (r == 0)
            rc = spw_err_set(err, SPW_ERR_CONFIG, "credentials file '%s' (%s): no 'type'", path,
                             why);
    }
    const char *t = type.data ? (const char *)type.data : "";
    if (rc == SPW_OK && strcmp(t, "authorized_user") == 0)
        rc = spw_err_set(err, SPW_ERR_CONFIG,
                         "credentials file '%s' (%s) holds an 'authorized_user' credential (a "
                         "user's, from gcloud auth application-default login): Google mints ID "
                         "tokens for a chosen audience only for service accounts, so it cannot "
                         "call a function; give a service account's key file, or run where the "
                         "metadata server speaks for the service account",
                         path, why);
    else if (rc == SPW_OK && strcmp(t, "service_account") != 0)
        rc = spw_err_set(err, SPW_ERR_CONFIG,
                         "credentials file '%s' (%s) is of type '%.64s': only 'service_account' "
                         "keys can mint ID tokens here",
                         path, why, t);
    if (rc == SPW_OK)
        rc = member(&file, path, "client_email", &src->client_email, err);
    if (rc == SPW_OK)
        rc = member(&file, path, "private_key_id", &src->private_key_id, err);
    if (rc == SPW_OK)
        rc = member(&file, path, "token_uri", &src->token_uri, err);
    if (rc == SPW_OK && strncmp(src->token_uri, "https://", 8) != 0 &&
        strncmp(src->token_uri, "http://", 7) != 0)
        rc = spw_err_set(err, SPW_ERR_CONFIG, "credentials file '%s': token_uri is not an http(s) "
                         "URL", path);
    if (rc == SPW_OK)
        rc = load_key(&file, path, src, err);
    if (rc == SPW_OK) {
        size_t n = strlen(path) + strlen(src->client_email) + 64;
        src->id = malloc(n);
        src->what = malloc(n);
        if (!src->id || !src->what)
            rc = spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        else {
            snprintf(src->id, n, "key:%s", path);
            snprintf(src->what, n, "service account %s (key file %s)", src->client_email, path);
        }
    }
    src->kind = GCF_SRC_KEY;
    if (file.data)
        OPENSSL_cleanse(file.data, file.len);
    spw_buf_free(&file);
    spw_buf_free(&type);
    if (rc != SPW_OK)
        gcf_source_free(src);
    return rc;
}

spw_result gcf_source_resolve(const char *file, gcf_source *src, spw_err *err) {
    memset(src, 0, sizeof *src);
    if (file && *file)
        return from_file(file, "credentials_file", src, err);
    const char *env = getenv("GOOGLE_APPLICATION_CREDENTIALS");
    if (env && *env)
        return from_file(env, "GOOGLE_APPLICATION_CREDENTIALS", src, err);
    const char *host = getenv("GCE_METADATA_HOST");
    if (!host || !*host)
        host = DEFAULT_METADATA_HOST;
    for (const char *p = host; *p; p++)
        if (*p <= ' ' || *p >= 0x7f || strchr("/?#@", *p))
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "GCE_METADATA_HOST '%.128s' is not a host[:port]", host);
    size_t n = strlen(host) + 64;
    src->kind = GCF_SRC_METADATA;
    src->metadata_origin = malloc(n);
    src->id = malloc(n);
    src->what = malloc(n);
    if (!src->metadata_origin || !src->id || !src->what) {
        gcf_source_free(src);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    snprintf(src->metadata_origin, n, "http://%s", host);
    snprintf(src->id, n, "metadata:%s", host);
    snprintf(src->what, n, "the metadata server at %s", host);
    return SPW_OK;
}

spw_result gcf_assertion(const gcf_source *src, const char *audience, int64_t now, spw_buf *out,
                         spw_err *err) {
    spw_buf js = SPW_BUF_INIT;
    spw_buf_reset(out);
    /* Header and claims, each Base64url'd: the signing input is "HEADER.CLAIMS". */
    spw_result rc = spw_buf_append(&js, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"", 34);
    if (rc == SPW_OK)
        rc = gcf_json_escape(&js, src->private_key_id);
    if (rc == SPW_OK)
        rc = spw_buf_append(&js, "\"}", 2);
    if (rc == SPW_OK)
        rc = gcf_b64url_encode(out, js.data, js.len);
    if (rc == SPW_OK)
        rc = spw_buf_append(out, ".", 1);
    char times[96];
    snprintf(times, sizeof times, "\",\"iat\":%lld,\"exp\":%lld,\"target_audience\":\"",
             (long long)now, (long long)now + 3600);
    spw_buf_reset(&js);
    if (rc == SPW_OK)
        rc = spw_buf_append(&js, "{\"iss\":\"", 8);
    if (rc == SPW_OK)
        rc = gcf_json_escape(&js, src->client_email);
    if (rc == SPW_OK)
        rc = spw_buf_append(&js, "\",\"sub\":\"", 9);
    if (rc == SPW_OK)
        rc = gcf_json_escape(&js, src->client_email);
    if (rc == SPW_OK)
        rc = spw_buf_append(&js, "\",\"aud\":\"", 9);
    if (rc == SPW_OK)
        rc = gcf_json_escape(&js, src->token_uri);
    if (rc == SPW_OK)
        rc = spw_buf_append(&js, times, strlen(times));
    if (rc == SPW_OK)
        rc = gcf_json_escape(&js, audience);
    if (rc == SPW_OK)
        rc = spw_buf_append(&js, "\"}", 2);
    if (rc == SPW_OK)
        rc = gcf_b64url_encode(out, js.data, js.len);
    spw_buf_free(&js);
    if (rc != SPW_OK)
        return spw_err_set(err, rc, "out of memory");

    unsigned char sig[1024];
    size_t siglen = sizeof sig;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool ok = md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, src->pkey) == 1 &&
              EVP_DigestSign(md, sig, &siglen, out->data, out->len) == 1;
    EVP_MD_CTX_free(md);
    if (!ok)
        return spw_err_set(err, SPW_ERR_INVAL, "signing the JWT assertion with RS256 failed");
    rc = spw_buf_append(out, ".", 1);
    if (rc == SPW_OK)
        rc = gcf_b64url_encode(out, sig, siglen);
    if (rc == SPW_OK)
        rc = spw_buf_append(out, "", 1);
    if (rc != SPW_OK)
        return spw_err_set(err, rc, "out of memory");
    out->len--;
    return SPW_OK;
}

int64_t gcf_token_exp(const char *tok, size_t n) {
    const char *d1 = memchr(tok, '.', n);
    const char *d2 = d1 ? memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - tok)) : NULL;
    if (!d2)
        return -1;
    spw_buf claims = SPW_BUF_INIT;
    int64_t exp = -1;
    if (gcf_b64url_decode(&claims, d1 + 1, (size_t)(d2 - d1 - 1)) == 0 &&
        gcf_json_int((const char *)claims.data, claims.len, "exp", &exp) != 1)
        exp = -1;
    spw_buf_free(&claims);
    return exp;
}

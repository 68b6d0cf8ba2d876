/*
 * tests/unit/test-gcf.c: the gcf sink's pure parts (plugins/sink-gcf/json.c
 * and creds.c, compiled in on their own): JSON members by name, Base64url,
 * the Application Default Credentials order and the key file's checks,
 * and the RS256 assertion, verified here with OpenSSL against a key made
 * at test time.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include "../../plugins/sink-gcf/gcf.h"
#include "../tap.h"

static const char *str(spw_buf *b) { return b->data ? (const char *)b->data : ""; }

static void json_tests(void) {
    spw_buf v = SPW_BUF_INIT;
    const char *doc = " {\"a\": [1, {\"id_token\": \"inner\"}], \"id_token\" : \"x\\\"y\\n\\u00e9\\ud83d\\ude00\","
                      " \"n\": 1796619715, \"f\": 1.5, \"t\": true} ";
    is_int(gcf_json_string(doc, strlen(doc), "id_token", &v), 1, "a top-level member is found");
    is_str(str(&v), "x\"y\n\xc3\xa9\xf0\x9f\x98\x80", "...unescaped (quotes, newlines, \\u, surrogate pairs)");
    int64_t n = 0;
    is_int(gcf_json_int(doc, strlen(doc), "n", &n), 1, "an integer member");
    is_int(n, 1796619715, "...its value");
    is_int(gcf_json_int(doc, strlen(doc), "f", &n), -1, "a fraction is not an integer");
    is_int(gcf_json_string(doc, strlen(doc), "t", &v), -1, "true is not a string");
    is_int(gcf_json_string(doc, strlen(doc), "missing", &v), 0, "an absent member");
    static const char *bad[] = {"", "[]", "{", "{\"a\":}", "{\"a\":1,}", "{\"a\":\"\\x\"}",
                                "{\"a\":\"\x01\"}", "{\"a\":1} {}", "{\"a\":\"\\ud800\"}", "{\"a\" 1}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        is_int(gcf_json_string(bad[i], strlen(bad[i]), "a", &v), -1, "malformed JSON refused: %s", bad[i]);
    spw_buf_reset(&v);
    gcf_json_escape(&v, "a\"b\\c\n\x01");
    spw_buf_append(&v, "", 1);
    is_str(str(&v), "a\\\"b\\\\c\\u000a\\u0001", "JSON escaping");
    spw_buf_free(&v);
}

static void b64_tests(void) {
    spw_buf e = SPW_BUF_INIT, d = SPW_BUF_INIT;
    const unsigned char raw[] = {0xfb, 0xff, 0xfe, 'a', 'b'};
    for (size_t len = 0; len <= sizeof raw; len++) {
        spw_buf_reset(&e);
        spw_buf_reset(&d);
        gcf_b64url_encode(&e, raw, len);
        ok(!memchr(e.data ? (void *)e.data : "", '=', e.len) && gcf_b64url_decode(&d, str(&e), e.len) == 0 &&
               d.len == len && (len == 0 || memcmp(d.data, raw, len) == 0),
           "Base64url of %zu bytes round trips, unpadded", len);
    }
    spw_buf_reset(&e);
    gcf_b64url_encode(&e, raw, 3);
    spw_buf_append(&e, "", 1);
    is_str(str(&e), "-__-", "the URL-safe alphabet");
    spw_buf_reset(&d);
    is_int(gcf_b64url_decode(&d, "ab+c", 4), -1, "'+' is not Base64url");
    spw_buf_reset(&d);
    is_int(gcf_b64url_decode(&d, "a", 1), -1, "one character is no byte");
    spw_buf_free(&e);
    spw_buf_free(&d);
}

static char dir[] = "/tmp/spw-test-gcf.XXXXXX";

static const char *write_file(const char *name, const char *text) {
    static char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    fputs(text, f);
    fclose(f);
    return p;
}

/* A key file like the IAM console's, with pem's newlines escaped. */
static const char *key_file(const char *name, const char *type, const char *pem) {
    spw_buf b = SPW_BUF_INIT;
    char head[512];
    snprintf(head, sizeof head,
             "{\n  \"type\": \"%s\",\n  \"project_id\": \"p\",\n  \"private_key_id\": \"kid-1\",\n"
             "  \"client_email\": \"sa@p.iam.gserviceaccount.com\",\n"
             "  \"token_uri\": \"https://oauth2.googleapis.com/token\",\n  \"private_key\": \"",
             type);
    spw_buf_append(&b, head, strlen(head));
    gcf_json_escape(&b, pem);
    spw_buf_append(&b, "\"\n}\n", 5);
    const char *p = write_file(name, str(&b));
    spw_buf_free(&b);
    return p;
}

static bool verify(EVP_PKEY *k, const char *jwt) {
    const char *d2 = strrchr(jwt, '.');
    spw_buf sig = SPW_BUF_INIT;
    if (!d2 || gcf_b64url_decode(&sig, d2 + 1, strlen(d2 + 1)) != 0)
        return false;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    bool good = EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, k) == 1 &&
                EVP_DigestVerify(md, sig.data, sig.len, (const unsigned char *)jwt,
                                 (size_t)(d2 - jwt)) == 1;
    EVP_MD_CTX_free(md);
    spw_buf_free(&sig);
    return good;
}

static void creds_tests(void) {
    spw_err err = {""};
    gcf_source src;
    if (!mkdtemp(dir)) {
        ok(0, "a temporary directory");
        return;
    }
    EVP_PKEY *k = EVP_RSA_gen(2048);
    BIO *bio = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
    char *pem;
    long pn = BIO_get_mem_data(bio, &pem);
    char *pems = strndup(pem, (size_t)pn);
    BIO_free(bio);

    const char *sa = key_file("sa.json", "service_account", pems);
    char sa_path[256];
    snprintf(sa_path, sizeof sa_path, "%s", sa);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    unsetenv("GCE_METADATA_HOST");
    is_int(gcf_source_resolve(sa_path, &src, &err), SPW_OK, "a service account key file loads");
    is_int(src.kind, GCF_SRC_KEY, "...as a key source");
    spw_buf jwt = SPW_BUF_INIT, part = SPW_BUF_INIT;
    is_int(gcf_assertion(&src, "https://fn-abc.a.run.app", 1700000000, &jwt, &err), SPW_OK,
           "an assertion is made");
    ok(verify(k, str(&jwt)), "...its RS256 signature verifies with the key's public half");
    const char *d1 = strchr(str(&jwt), '.');
    gcf_b64url_decode(&part, str(&jwt), (size_t)(d1 - str(&jwt)));
    spw_buf_append(&part, "", 1);
    is_str(str(&part), "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"kid-1\"}", "...header alg RS256 and kid");
    spw_buf_reset(&part);
    const char *d2 = strchr(d1 + 1, '.');
    gcf_b64url_decode(&part, d1 + 1, (size_t)(d2 - d1 - 1));
    spw_buf_append(&part, "", 1);
    is_str(str(&part),
           "{\"iss\":\"sa@p.iam.gserviceaccount.com\",\"sub\":\"sa@p.iam.gserviceaccount.com\","
           "\"aud\":\"https://oauth2.googleapis.com/token\",\"iat\":1700000000,\"exp\":1700003600,"
           "\"target_audience\":\"https://fn-abc.a.run.app\"}",
           "...claims iss = sub, aud = token_uri, iat, exp one hour later, target_audience");
    is_int(gcf_token_exp(str(&jwt), jwt.len), 1700003600, "gcf_token_exp reads the exp claim back");
    gcf_source_free(&src);

    /* ADC order */
    setenv("GOOGLE_APPLICATION_CREDENTIALS", sa_path, 1);
    is_int(gcf_source_resolve(NULL, &src, &err), SPW_OK, "GOOGLE_APPLICATION_CREDENTIALS is used");
    ok(src.kind == GCF_SRC_KEY && strstr(src.what, "sa@p.iam"), "...naming the account");
    gcf_source_free(&src);
    const char *user = write_file("user.json", "{\"type\": \"authorized_user\", \"client_id\": \"c\", "
                                               "\"client_secret\": \"s\", \"refresh_token\": \"r\"}");
    char user_path[256];
    snprintf(user_path, sizeof user_path, "%s", user);
    setenv("GOOGLE_APPLICATION_CREDENTIALS", user_path, 1);
    is_int(gcf_source_resolve(sa_path, &src, &err), SPW_OK, "the option comes before the variable");
    gcf_source_free(&src);
    is_int(gcf_source_resolve(NULL, &src, &err), SPW_ERR_CONFIG, "an authorized_user file is refused");
    ok(strstr(err.msg, "authorized_user") && strstr(err.msg, "service account"), "...saying why: %s", err.msg);
    unsetenv("GOOGLE_APPLICATION_CREDENTIALS");
    is_int(gcf_source_resolve(NULL, &src, &err), SPW_OK, "no file: the metadata server");
    is_str(src.metadata_origin, "http://metadata.google.internal", "...metadata.google.internal by default");
    gcf_source_free(&src);
    setenv("GCE_METADATA_HOST", "127.0.0.1:8080", 1);
    is_int(gcf_source_resolve(NULL, &src, &err), SPW_OK, "GCE_METADATA_HOST");
    is_str(src.metadata_origin, "http://127.0.0.1:8080", "...replaces the host");
    gcf_source_free(&src);
    setenv("GCE_METADATA_HOST", "evil/path", 1);
    is_int(gcf_source_resolve(NULL, &src, &err), SPW_ERR_CONFIG, "a GCE_METADATA_HOST with a path is refused");
    unsetenv("GCE_METADATA_HOST");

    /* broken key files */
    const char *other = key_file("ext.json", "external_account", pems);
    is_int(gcf_source_resolve(other, &src, &err), SPW_ERR_CONFIG, "another type is refused");
    const char *nokey = write_file("nokey.json", "{\"type\":\"service_account\",\"client_email\":\"a@b\","
                                                 "\"private_key_id\":\"k\",\"token_uri\":\"https://t\","
                                                 "\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n"
                                                 "-----END PRIVATE KEY-----\\n\"}");
    is_int(gcf_source_resolve(nokey, &src, &err), SPW_ERR_CONFIG, "a broken private key is refused");
    ok(!strstr(err.msg, "AAAA"), "...without quoting it");
    const char *cut = write_file("cut.json", "{\"type\":\"service_account\",\"client_email\":\"a@b\"");
    is_int(gcf_source_resolve(cut, &src, &err), SPW_ERR_CONFIG, "a truncated file is refused");
    is_int(gcf_source_resolve("/nonexistent/key.json", &src, &err), SPW_ERR_CONFIG, "a missing file is refused");

    /* exp of an ID token */
    spw_buf tok = SPW_BUF_INIT;
    gcf_b64url_encode(&tok, "{\"alg\":\"RS256\"}", 15);
    spw_buf_append(&tok, ".", 1);
    const char *claims = "{\"aud\":\"x\",\"exp\":1796619715}";
    gcf_b64url_encode(&tok, claims, strlen(claims));
    spw_buf_append(&tok, ".c2ln", 5);
    is_int(gcf_token_exp(str(&tok), tok.len), 1796619715, "an ID token's exp");
    is_int(gcf_token_exp("abc.def", 7), -1, "not a JWT: no exp");

    spw_buf_free(&tok);
    spw_buf_free(&jwt);
    spw_buf_free(&part);
    free(pems);
    EVP_PKEY_free(k);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        printf("# could not remove %s\n", dir);
}

int main(void) {
    json_tests();
    b64_tests();
    creds_tests();
    printf("1..%d\n", tap_n);
    return tap_failed ? 1 : 0;
}

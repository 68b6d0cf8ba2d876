/*
 * tests/plugins/source-httpdrive.c: drives the SDK's HTTP client
 * (spillway/http.h) through a fixed script of requests, from inside the
 * real program, with its options embedded by SPW_OPTION_HTTP and parsed
 * from a real pipeline file. A source only because a source has a loop and
 * a start: it submits no event, and finishes once the script has run.
 *
 * Each step writes one JSON line to `out`: what spw_http_send returned,
 * and for the callback everything the response said, plus whether the
 * callback came from inside spw_http_send (it never may) or from inside
 * spw_http_close (where cancelled requests end). tests/http-client.py
 * runs it against tests/receiver.py and tests/h2-receiver.py and checks
 * the lines against what the receivers logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spillway/spillway.h>

struct cfg {
    const spw_http_conf *http;
    char *out;
    char *other_url;
    char *dead_url;
};

#define OFF(f) offsetof(struct cfg, f)
static const spw_option opts[] = {
    SPW_OPTION_HTTP(struct cfg, http, 0),
    {"out", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL, OFF(out),
     "Where each step's JSON line goes."},
    {"other_url", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL, OFF(other_url),
     "An absolute URL on an origin that is no endpoint."},
    {"dead_url", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL, OFF(dead_url),
     "An absolute URL nothing listens on."},
    SPW_OPTIONS_END,
};

typedef struct drive {
    spw_stage *st;
    const struct cfg *cf;
    spw_http *http;
    FILE *out;
    spw_timer *next;
    size_t step;
    bool in_send, in_close;
    int token_mode; /* 0 off, 1 good, 2 failing */
    uint8_t big[5000];
    uint8_t text[3000];
    char url[512];
} drive;

/* Writes s as a JSON string (the bytes the tests need: printable ASCII). */
static void jstr(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void schedule(drive *d) { spw_timer_start(d->next, 1, 0); }

static void on_done(const spw_http_response *r, void *arg) {
    drive *d = arg;
    FILE *f = d->out;
    fprintf(f, "{\"step\":%zu,\"error\":", d->step);
    const char *en = spw_http_error_name(r->error);
    jstr(f, en, strlen(en));
    fprintf(f, ",\"text\":");
    jstr(f, r->error_text ? r->error_text : "", r->error_text ? strlen(r->error_text) : 0);
    fprintf(f, ",\"status\":%d,\"body_len\":%zu,\"truncated\":%s,\"compressed\":%s,"
               "\"sent_len\":%zu,\"endpoint\":%lld,\"in_send\":%s,\"in_close\":%s,\"origin\":",
            r->status, r->body_len, r->truncated ? "true" : "false",
            r->compressed ? "true" : "false", r->sent_len,
            r->endpoint == (size_t)-1 ? -1LL : (long long)r->endpoint,
            d->in_send ? "true" : "false", d->in_close ? "true" : "false");
    jstr(f, r->origin ? r->origin : "", r->origin ? strlen(r->origin) : 0);
    fprintf(f, ",\"x_two\":");
    const char *x2 = spw_http_response_header(r, "X-TWO");
    if (x2)
        jstr(f, x2, strlen(x2));
    else
        fputs("null", f);
    fprintf(f, ",\"headers\":[");
    for (size_t i = 0; i < r->n_headers; i++) {
        fputs(i ? ",[" : "[", f);
        jstr(f, r->headers[i].name, strlen(r->headers[i].name));
        fputc(',', f);
        jstr(f, r->headers[i].value, strlen(r->headers[i].value));
        fputc(']', f);
    }
    fputs("]}\n", f);
    fflush(f);
    if (!d->in_close)
        schedule(d);
}

static spw_result token(void *arg, spw_buf *out, spw_err *err) {
    drive *d = arg;
    if (d->token_mode == 2)
        return spw_err_set(err, SPW_ERR_STATE, "no token yet (test)");
    return spw_buf_append(out, "tok-1", 5);
}

static void drive_send(drive *d, const spw_http_request *q) {
    spw_err err = {""};
    d->in_send = true;
    spw_result rc = spw_http_send(d->http, q, on_done, d, &err);
    d->in_send = false;
    if (rc != SPW_OK) {
        fprintf(d->out, "{\"step\":%zu,\"rc\":%d,\"msg\":", d->step, (int)rc);
        jstr(d->out, err.msg, strlen(err.msg));
        fputs("}\n", d->out);
        fflush(d->out);
        schedule(d);
    }
}

static const spw_http_header hdrs[] = {{"Content-Type", "text/plain"}, {"X-Test", "yes"}};
static const spw_http_header host_hdr[] = {{"Host", "example.test"}};

static void run_step(spw_timer *t, void *arg) {
    drive *d = arg;
    (void)t;
    spw_http_request q = {.method = "GET"};
    size_t s = ++d->step;
    switch (s) {
    case 1: q.target = "/rel?q=1"; break;
    case 2:
        q.method = "POST";
        q.headers = hdrs;
        q.n_headers = 2;
        q.body = "hello world";
        q.body_len = 11;
        break;
    case 3: q.method = "PUT", q.target = "/put", q.body = "x", q.body_len = 1; break;
    case 4: q.target = "/hdrs"; break;
    case 5: q.target = "/big", q.response_max = 100; break;
    case 6: q.target = "/big", q.response_max = 100, q.flags = SPW_HTTP_TRUNCATE; break;
    case 7: q.method = "POST", q.target = "/toolarge", q.body = d->big, q.body_len = sizeof d->big; break;
    case 8: q.method = "POST", q.target = "/gzip", q.body = d->text, q.body_len = sizeof d->text; break;
    case 9:
        q.method = "POST", q.target = "/plain", q.body = d->text, q.body_len = sizeof d->text;
        q.flags = SPW_HTTP_NO_COMPRESS;
        break;
    case 10: q.target = "/slow", q.timeout_ms = 300; break;
    case 11: q.target = "/reset"; break;
    case 12:
        snprintf(d->url, sizeof d->url, "%s/other", d->cf->other_url);
        q.target = d->url;
        break;
    case 13: q.target = d->cf->dead_url; break;
    case 14: q.target = "/pinned", q.flags = SPW_HTTP_PINNED, q.endpoint = 0; break;
    case 15:
        d->token_mode = 1;
        spw_http_set_token(d->http, NULL, token, d);
        q.target = "/token";
        break;
    case 16: q.target = "/noauth", q.flags = SPW_HTTP_NO_AUTH; break;
    case 17: d->token_mode = 2, q.target = "/tokenfail"; break;
    case 18:
        spw_http_set_token(d->http, NULL, NULL, NULL);
        q.method = "G T";
        break;
    case 19: q.target = "nope"; break;
    case 20: q.target = "/x", q.flags = SPW_HTTP_PINNED, q.endpoint = 99; break;
    case 21: q.target = "/ownhost", q.headers = host_hdr, q.n_headers = 1; break;
    case 22:
        /* A request that never gets an answer, then the client closes under it. */
        q.target = "/hang";
        drive_send(d, &q);
        spw_timer_stop(d->next);
        d->in_close = true;
        spw_http_close(d->http);
        d->http = NULL;
        d->in_close = false;
        spw_source_finished(d->st);
        return;
    default: return;
    }
    drive_send(d, &q);
}

static spw_result drive_start(void *inst, spw_err *err) {
    drive *d = inst;
    (void)err;
    schedule(d);
    return SPW_OK;
}

static void drive_noop(void *inst) { (void)inst; }

static const spw_source_ops ops = {
    .start = drive_start, .pause = drive_noop, .resume = drive_noop, .stop = drive_noop,
};

static void drive_destroy(void *inst) {
    drive *d = inst;
    spw_http_close(d->http);
    spw_timer_free(d->next);
    if (d->out)
        fclose(d->out);
    free(d);
}

static spw_result drive_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    drive *d = calloc(1, sizeof *d);
    if (!d)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    d->st = st;
    d->cf = config;
    /* Incompressible (a xorshift stream) and very compressible bodies. */
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof d->big; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        d->big[i] = (uint8_t)x;
    }
    memset(d->text, 'a', sizeof d->text);
    d->out = fopen(d->cf->out, "w");
    d->next = spw_timer_new(st, run_step, d);
    spw_result rc = d->out && d->next ? SPW_OK : spw_err_set(err, SPW_ERR_IO, "cannot open out");
    if (rc == SPW_OK)
        rc = spw_http_new(st, d->cf->http, &d->http, err);
    if (rc != SPW_OK) {
        drive_destroy(d);
        return rc;
    }
    *inst = d;
    return SPW_OK;
}

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SOURCE, .name = "httpdrive", .version = "1.0.0",
                  .description = "Test only: drives the SDK's HTTP client through a script",
                  .options = opts, .config_size = sizeof(struct cfg), .create = drive_create,
                  .destroy = drive_destroy, .source = &ops);

/*
 * tests/unit/test-dlq.c: the dead-letter writer (core/dlq.c).
 *
 * What these tests can and cannot prove about durability. A crash cannot
 * be simulated here, so "durable" is checked through the one thing that
 * makes it true: ordering. A line is durable once an fsync that began
 * after its write returned success. The writer counts lines it committed
 * and fsyncs it made; every callback checks that, by the time it is told
 * SPW_OK, at least as many lines have been committed by successful syncs
 * as OKs have been handed out. Together with the failure test (a write
 * that fails answers every affected request with an error, and leaves no
 * part of the batch in the file) this shows no line is ever reported
 * durable before the sync covering it returned.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <jansson.h>
#include <uv.h>
#include "dlq.h"
#include "../tap.h"

static char g_dir[256];

static void path_in_dir(char *out, size_t n, const char *name) {
    snprintf(out, n, "%s/%s", g_dir, name);
}

static spw_event *make_event(spw_op op, const char *ns, size_t ns_len, const char *set,
                             size_t set_len) {
    spw_event *ev = spw_event_new(0, 512);
    if (!ev)
        return NULL;
    uint8_t digest[20];
    for (int i = 0; i < 20; i++)
        digest[i] = (uint8_t)i;
    spw_event_set_op(ev, op, false);
    spw_event_set_namespace(ev, ns, ns_len);
    if (set)
        spw_event_set_set(ev, set, set_len);
    spw_event_set_digest(ev, digest);
    spw_event_set_generation(ev, 7);
    spw_event_set_lut(ev, INT64_C(1700000000123), 0);
    return ev;
}

/* Reads a whole file into a NUL-terminated buffer (owned by caller). */
static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    spw_buf b = SPW_BUF_INIT;
    char chunk[65536];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (spw_buf_append(&b, chunk, k) != SPW_OK)
            break;
    fclose(f);
    spw_buf_append(&b, "", 1);
    *len = b.len - 1;
    return (char *)b.data;
}

static const char *jstr(json_t *o, const char *key) {
    return json_string_value(json_object_get(o, key));
}

/* ---- spw__dlq_format ---- */

static void test_format_basic(void) {
    spw_event *ev = make_event(SPW_OP_WRITE, "test", 4, "users", 5);
    ok(ev != NULL, "event built");
    if (!ev)
        return;
    spw_buf b = SPW_BUF_INIT;
    spw_buf_append(&b, "prefix", 6);
    static const uint8_t rec[] = "{\"a\":1}\0\xff";
    spw_slice s = {rec, 9};
    int64_t before = spw_time_unix_ms();
    is_int(spw__dlq_format(&b, "search", "es", ev, s, "application/json", "HTTP 400: mapping"),
           SPW_OK, "format a write event");
    int64_t after = spw_time_unix_ms();
    ok(b.len > 6 && memcmp(b.data, "prefix", 6) == 0, "format appends, keeping what was there");
    const char *line = (const char *)b.data + 6;
    size_t len = b.len - 6;
    ok(len > 0 && line[len - 1] == '\n', "line ends with a newline");
    ok(memchr(line, '\n', len - 1) == NULL, "and holds no other");

    json_error_t jerr;
    json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    ok(o != NULL && json_is_object(o), "line is one valid JSON object (%s)", o ? "ok" : jerr.text);
    if (o) {
        json_int_t t = json_integer_value(json_object_get(o, "time"));
        ok(json_is_integer(json_object_get(o, "time")) && t >= before && t <= after,
           "time is the current Unix ms");
        is_str(jstr(o, "pipeline"), "search", "pipeline");
        is_str(jstr(o, "sink"), "es", "sink");
        is_str(jstr(o, "reason"), "HTTP 400: mapping", "reason");
        is_str(jstr(o, "msg"), "write", "msg");
        is_str(jstr(o, "namespace"), "test", "namespace");
        is_str(jstr(o, "set"), "users", "set");
        is_str(jstr(o, "digest"), "AAECAwQFBgcICQoLDA0ODxAREhM=", "digest in Base64");
        is_int(json_integer_value(json_object_get(o, "lut")), INT64_C(1700000000123), "lut");
        is_int(json_integer_value(json_object_get(o, "gen")), 7, "gen");
        is_str(jstr(o, "content_type"), "application/json", "content_type");
        is_str(jstr(o, "payload"), "eyJhIjoxfQD/", "payload in Base64 (binary bytes too)");
        is_int(json_object_size(o), 12, "exactly the twelve documented fields");
        json_decref(o);
    }
    spw_buf_free(&b);
    spw_event_unref(ev);
}

static void test_format_delete_no_set(void) {
    spw_event *ev = make_event(SPW_OP_DELETE, "ns", 2, NULL, 0);
    if (!ev) {
        ok(0, "event built");
        return;
    }
    spw_buf b = SPW_BUF_INIT;
    spw_slice empty = {NULL, 0};
    is_int(spw__dlq_format(&b, "p", "s", ev, empty, NULL, "gone"), SPW_OK, "format a delete");
    json_t *o = json_loadb((const char *)b.data, b.len, 0, NULL);
    ok(o != NULL, "delete line is valid JSON");
    if (o) {
        is_str(jstr(o, "msg"), "delete", "msg is delete");
        ok(json_is_null(json_object_get(o, "set")), "set is null when absent");
        ok(json_is_null(json_object_get(o, "content_type")), "absent content type is null");
        is_str(jstr(o, "payload"), "", "empty payload is an empty string");
        json_decref(o);
    }
    spw_buf_free(&b);
    spw_event_unref(ev);
}

static int json_bytes_equal(json_t *v, const char *want, size_t want_len) {
    return json_is_string(v) && json_string_length(v) == want_len &&
           memcmp(json_string_value(v), want, want_len) == 0;
}

static void test_format_hostile(void) {
    /* Namespace with a NUL, a quote and a lone continuation byte; set with a backslash. */
    static const char ns[] = "a\0b\"c\x80";
    static const char set[] = "s\\e\tt";
    spw_event *ev = make_event(SPW_OP_WRITE, ns, sizeof ns - 1, set, sizeof set - 1);
    if (!ev) {
        ok(0, "event built");
        return;
    }
    const char *reason =
        "quote\" back\\ nl\n cr\r tab\t bell\x07 us\x1f del\x7f "
        "ff\xff overlong\xc0\x80 surrogate\xed\xa0\x80 cut\xe2\x82x "
        "ok\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 big\xf4\x90\x80\x80 end";
    const char want_reason[] =
        "quote\" back\\ nl\n cr\r tab\t bell\x07 us\x1f del\x7f "
        "ff\xef\xbf\xbd overlong\xef\xbf\xbd\xef\xbf\xbd "
        "surrogate\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd cut\xef\xbf\xbd\xef\xbf\xbdx "
        "ok\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 "
        "big\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end";
    const char want_ns[] = "a\0b\"c\xef\xbf\xbd";

    spw_buf b = SPW_BUF_INIT;
    spw_slice rec = {(const uint8_t *)"x", 1};
    is_int(spw__dlq_format(&b, "pipe\"line\n", "si\x01nk", ev, rec, "text/\xfe", reason), SPW_OK,
           "format with hostile strings");
    ok(b.len > 0 && memchr(b.data, '\n', b.len - 1) == NULL,
       "escaped newlines: still exactly one line");
    json_error_t jerr;
    /* JSON_ALLOW_NUL: \u0000 is valid JSON; jansson only refuses it by default. */
    json_t *o = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
                           &jerr);
    ok(o != NULL, "hostile line is valid JSON and valid UTF-8 (%s)", o ? "ok" : jerr.text);
    if (o) {
        ok(json_bytes_equal(json_object_get(o, "reason"), want_reason, sizeof want_reason - 1),
           "reason round-trips; invalid UTF-8 became U+FFFD byte for byte");
        if (!json_bytes_equal(json_object_get(o, "reason"), want_reason, sizeof want_reason - 1))
            diag("got reason: %s", jstr(o, "reason"));
        ok(json_bytes_equal(json_object_get(o, "namespace"), want_ns, sizeof want_ns - 1),
           "namespace with NUL, quote and a stray byte");
        ok(json_bytes_equal(json_object_get(o, "set"), set, sizeof set - 1), "set with backslash and tab");
        is_str(jstr(o, "pipeline"), "pipe\"line\n", "pipeline escaped");
        is_str(jstr(o, "sink"), "si\x01nk", "sink with a control char");
        is_str(jstr(o, "content_type"), "text/\xef\xbf\xbd", "content type repaired");
        json_decref(o);
    }
    spw_buf_free(&b);
    spw_event_unref(ev);
}

/* ---- spw__dlq_open ---- */

static void never_called(void *arg, spw_result r) {
    /* A refused write must not call back; make a failure impossible to miss. */
    ++*(int *)arg;
    abort();
}

static void test_open_errors(void) {
    char path[512];
    spw_err err = {{0}};
    spw__dlq *q = (spw__dlq *)&err; /* must be reset to NULL on failure */
    path_in_dir(path, sizeof path, "missing-dir/dead.ndjson");
    spw_result r = spw__dlq_open(path, &q, &err);
    ok(r < 0, "open in a missing directory fails");
    ok(q == NULL, "and leaves *out NULL");
    has_str(err.msg, path, "the message names the path");
    has_str(err.msg, "No such file", "and says why");

    memset(&err, 0, sizeof err);
    r = spw__dlq_open(g_dir, &q, &err);
    ok(r < 0, "open of a directory fails");
    has_str(err.msg, g_dir, "the message names it");

    path_in_dir(path, sizeof path, "mode.ndjson");
    mode_t old = umask(022);
    r = spw__dlq_open(path, &q, &err);
    umask(old);
    is_int(r, SPW_OK, "open creates the file");
    struct stat st;
    ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "created with mode 0600");
    if (r == SPW_OK) {
        uv_loop_t loop;
        uv_loop_init(&loop);
        int called = 0;
        is_int(spw__dlq_write(q, &loop, "no newline", 10, NULL, NULL), SPW_ERR_INVAL,
               "a callback is required");
        ok(spw__dlq_write(q, &loop, "no newline", 10, never_called, &called) == SPW_ERR_INVAL,
           "a line without its newline is refused");
        ok(spw__dlq_write(q, &loop, "two\nlines\n", 10, never_called, &called) == SPW_ERR_INVAL,
           "a line with an inner newline is refused");
        size_t huge_len = ((size_t)64 << 20) + 1;
        char *huge = malloc(huge_len);
        if (huge) {
            memset(huge, 'x', huge_len - 1);
            huge[huge_len - 1] = '\n';
            is_int(spw__dlq_write(q, &loop, huge, huge_len, never_called, &called),
                   SPW_ERR_NOSPACE, "a line beyond the 64 MiB queue cap is refused with NOSPACE");
            free(huge);
        }
        uv_run(&loop, UV_RUN_DEFAULT);
        ok(uv_loop_close(&loop) == 0, "refused writes leave nothing queued on the loop");
        spw__dlq_close(q);
    }
}

/* ---- writes from several loops ---- */

#define THREADS 2
#define PER_THREAD 4000

static spw__dlq *g_q;
static atomic_long g_ok_total;
static atomic_int g_order_violations;

typedef struct writer {
    int id;
    pthread_t thread;        /* set by the creator */
    pthread_t self;          /* set by the thread itself, before any callback */
    uv_loop_t loop;
    int in_write;            /* set while spw__dlq_write runs: a callback then is a bug */
    int calls[PER_THREAD];   /* callbacks per line */
    int bad_result, wrong_thread, reentrant, write_errors;
} writer;

typedef struct line_ctx {
    writer *w;
    int i;
} line_ctx;

static void on_written(void *arg, spw_result r) {
    line_ctx *c = arg;
    writer *w = c->w;
    w->calls[c->i]++;
    if (r != SPW_OK)
        w->bad_result++;
    if (!pthread_equal(pthread_self(), w->self))
        w->wrong_thread++;
    if (w->in_write)
        w->reentrant++;
    if (r == SPW_OK) {
        /* The durability check: this OK must be backed by a completed sync. */
        long oks = atomic_fetch_add(&g_ok_total, 1) + 1;
        uint64_t lines = 0, syncs = 0;
        spw__dlq_stats(g_q, &lines, &syncs);
        if (syncs == 0 || lines < (uint64_t)oks)
            atomic_fetch_add(&g_order_violations, 1);
    }
    free(c);
}

static void *writer_main(void *arg) {
    writer *w = arg;
    w->self = pthread_self();
    uv_loop_init(&w->loop);
    spw_buf b = SPW_BUF_INIT;
    for (int i = 0; i < PER_THREAD; i++) {
        char reason[64];
        snprintf(reason, sizeof reason, "t%d-%d", w->id, i);
        spw_event *ev = make_event(i % 3 ? SPW_OP_WRITE : SPW_OP_DELETE, "test", 4,
                                   i % 5 ? "users" : NULL, 5);
        spw_buf_reset(&b);
        spw_slice rec = {(const uint8_t *)reason, strlen(reason)};
        line_ctx *c = malloc(sizeof *c);
        if (!ev || !c || spw__dlq_format(&b, "pipe", "sink", ev, rec, "text/plain", reason)) {
            w->write_errors++;
            free(c);
            spw_event_unref(ev);
            continue;
        }
        spw_event_unref(ev);
        c->w = w;
        c->i = i;
        w->in_write = 1;
        if (spw__dlq_write(g_q, &w->loop, b.data, b.len, on_written, c) != SPW_OK) {
            w->write_errors++;
            free(c);
        }
        w->in_write = 0;
        /* Let earlier callbacks run now and then, like a busy worker would. */
        if (i % 100 == 99)
            uv_run(&w->loop, UV_RUN_NOWAIT);
    }
    uv_run(&w->loop, UV_RUN_DEFAULT);
    uv_loop_close(&w->loop);
    spw_buf_free(&b);
    return NULL;
}

static void test_threads(void) {
    char path[512];
    spw_err err;
    path_in_dir(path, sizeof path, "threads.ndjson");
    if (spw__dlq_open(path, &g_q, &err) != SPW_OK) {
        ok(0, "open: %s", err.msg);
        return;
    }
    static writer ws[THREADS];
    for (int t = 0; t < THREADS; t++) {
        memset(&ws[t], 0, sizeof ws[t]);
        ws[t].id = t;
        pthread_create(&ws[t].thread, NULL, writer_main, &ws[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(ws[t].thread, NULL);

    int once = 1, bad = 0, wrong = 0, reent = 0, errs = 0;
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < PER_THREAD; i++)
            once &= ws[t].calls[i] == 1;
        bad += ws[t].bad_result;
        wrong += ws[t].wrong_thread;
        reent += ws[t].reentrant;
        errs += ws[t].write_errors;
    }
    is_int(errs, 0, "all %d writes accepted", THREADS * PER_THREAD);
    ok(once, "every callback ran exactly once");
    is_int(bad, 0, "every callback got SPW_OK");
    is_int(wrong, 0, "every callback ran on the thread of the loop that submitted it");
    is_int(reent, 0, "no callback ran from inside spw__dlq_write");
    is_int(atomic_load(&g_order_violations), 0,
           "no OK was handed out before a successful fsync covered it");

    uint64_t lines = 0, syncs = 0;
    spw__dlq_stats(g_q, &lines, &syncs);
    is_int(lines, THREADS * PER_THREAD, "the writer committed every line");
    ok(syncs >= 1 && syncs < lines, "group commit: %llu fsyncs for %llu lines",
       (unsigned long long)syncs, (unsigned long long)lines);
    spw__dlq_close(g_q);
    g_q = NULL;

    size_t len = 0;
    char *data = slurp(path, &len);
    ok(data != NULL, "read the file back");
    if (!data)
        return;
    static int seen[THREADS][PER_THREAD];
    int nlines = 0, invalid = 0, foreign = 0;
    for (char *p = data, *nl; p < data + len; p = nl + 1) {
        nl = memchr(p, '\n', (size_t)(data + len - p));
        if (!nl) {
            invalid++; /* a last line without its newline */
            break;
        }
        nlines++;
        json_t *o = json_loadb(p, (size_t)(nl - p + 1), JSON_REJECT_DUPLICATES, NULL);
        int t, i;
        const char *reason = o ? jstr(o, "reason") : NULL;
        if (!o)
            invalid++;
        else if (!reason || sscanf(reason, "t%d-%d", &t, &i) != 2 || t < 0 || t >= THREADS ||
                 i < 0 || i >= PER_THREAD)
            foreign++;
        else
            seen[t][i]++;
        json_decref(o);
    }
    is_int(nlines, THREADS * PER_THREAD, "the file has one line per write");
    is_int(invalid, 0, "every line is valid JSON");
    is_int(foreign, 0, "every line is one of ours");
    int exactly_once = 1;
    for (int t = 0; t < THREADS; t++)
        for (int i = 0; i < PER_THREAD; i++)
            exactly_once &= seen[t][i] == 1;
    ok(exactly_once, "every line appears exactly once");
    free(data);
}

/* ---- group commit, made deterministic ---- */

#define POOL 4
#define BURST 1000

static uv_sem_t g_started, g_release;

static void block_work(uv_work_t *w) {
    uv_sem_post(&g_started);
    uv_sem_wait(&g_release);
}
static void block_done(uv_work_t *w, int status) {}

static int g_burst_ok, g_burst_calls;
static void on_burst(void *arg, spw_result r) {
    g_burst_calls++;
    g_burst_ok += r == SPW_OK;
}

/*
 * Occupy every pool thread, queue a burst of writes behind them, then let
 * go: the first job to run must find the whole burst pending and commit it
 * with a single fsync; every other job finds its line done.
 */
static void test_group_commit(void) {
    char path[512];
    spw_err err;
    spw__dlq *q;
    path_in_dir(path, sizeof path, "group.ndjson");
    if (spw__dlq_open(path, &q, &err) != SPW_OK) {
        ok(0, "open: %s", err.msg);
        return;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_sem_init(&g_started, 0);
    uv_sem_init(&g_release, 0);
    uv_work_t blockers[POOL];
    for (int i = 0; i < POOL; i++)
        uv_queue_work(&loop, &blockers[i], block_work, block_done);
    for (int i = 0; i < POOL; i++)
        uv_sem_wait(&g_started);
    const char line[] = "{\"burst\":true}\n";
    int accepted = 0;
    for (int i = 0; i < BURST; i++)
        accepted += spw__dlq_write(q, &loop, line, sizeof line - 1, on_burst, NULL) == SPW_OK;
    for (int i = 0; i < POOL; i++)
        uv_sem_post(&g_release);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    uv_sem_destroy(&g_started);
    uv_sem_destroy(&g_release);

    uint64_t lines = 0, syncs = 0;
    spw__dlq_stats(q, &lines, &syncs);
    spw__dlq_close(q);
    is_int(accepted, BURST, "burst accepted");
    is_int(g_burst_calls, BURST, "every burst callback ran");
    is_int(g_burst_ok, BURST, "all of them OK");
    is_int(lines, BURST, "all lines committed");
    is_int(syncs, 1, "by exactly one fsync");
    struct stat st;
    ok(stat(path, &st) == 0 && st.st_size == (off_t)(BURST * (sizeof line - 1)),
       "the file holds the burst");
}

/* ---- a failing write: EFBIG through RLIMIT_FSIZE ---- */

#define FAIL_LINES 50

typedef struct fail_ctx {
    int calls, ok, neg, nospace;
} fail_ctx;

static void on_fail_write(void *arg, spw_result r) {
    fail_ctx *c = arg;
    c->calls++;
    c->ok += r == SPW_OK;
    c->neg += r < 0;
    c->nospace += r == SPW_ERR_NOSPACE;
}

static void test_write_failure(void) {
    char path[512];
    spw_err err;
    spw__dlq *q;
    path_in_dir(path, sizeof path, "full.ndjson");
    if (spw__dlq_open(path, &q, &err) != SPW_OK) {
        ok(0, "open: %s", err.msg);
        return;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    char line[300];
    memset(line, 'x', sizeof line);
    memcpy(line, "{\"x\":\"", 6);
    memcpy(line + sizeof line - 3, "\"}\n", 3);

    fail_ctx good = {0, 0, 0, 0};
    for (int i = 0; i < 3; i++)
        spw__dlq_write(q, &loop, line, sizeof line, on_fail_write, &good);
    uv_run(&loop, UV_RUN_DEFAULT);
    is_int(good.ok, 3, "three lines written before the disk 'fills'");

    /*
     * The file may grow by 100 more bytes: any batch (each line is 300
     * bytes) gets a short write and then EFBIG. Nothing is printed while
     * the limit holds, in case stdout is a regular file too.
     */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 3 * sizeof line + 100;
    signal(SIGXFSZ, SIG_IGN);
    int limited = setrlimit(RLIMIT_FSIZE, &lim) == 0;
    fail_ctx bad = {0, 0, 0, 0};
    int accepted = 0;
    for (int i = 0; i < FAIL_LINES; i++)
        accepted += spw__dlq_write(q, &loop, line, sizeof line, on_fail_write, &bad) == SPW_OK;
    uv_run(&loop, UV_RUN_DEFAULT);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);

    ok(limited, "RLIMIT_FSIZE set");
    is_int(accepted, FAIL_LINES, "writes are accepted (the failure comes later)");
    is_int(bad.calls, FAIL_LINES, "every callback ran exactly once");
    is_int(bad.ok, 0, "none was reported durable");
    is_int(bad.neg, FAIL_LINES, "every one got a negative result (the event will be retried)");
    is_int(bad.nospace, FAIL_LINES, "EFBIG is reported as SPW_ERR_NOSPACE");
    struct stat st;
    ok(stat(path, &st) == 0 && st.st_size == (off_t)(3 * sizeof line),
       "the failed batch's partial write was cut off the file");

    fail_ctx after = {0, 0, 0, 0};
    spw__dlq_write(q, &loop, line, sizeof line, on_fail_write, &after);
    uv_run(&loop, UV_RUN_DEFAULT);
    is_int(after.ok, 1, "once space is back, writes succeed again");
    uv_loop_close(&loop);
    spw__dlq_close(q);

    size_t len = 0;
    char *data = slurp(path, &len);
    int valid = data && len == 4 * sizeof line;
    for (size_t off = 0; valid && off < len; off += sizeof line)
        valid = memcmp(data + off, line, sizeof line) == 0;
    ok(valid, "the file holds exactly the four good lines, no torn one");
    free(data);
}

/* ---- a file left ending in a partial line ---- */

static int g_torn_ok, g_torn_failed;
static void on_torn(void *arg, spw_result r) {
    g_torn_ok += r == SPW_OK;
    g_torn_failed += r < 0;
}

static void test_torn_tail(void) {
    char path[512];
    spw_err err;
    spw__dlq *q;
    path_in_dir(path, sizeof path, "torn.ndjson");
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs("{\"complete\":1}\n{\"cut", f);
        fclose(f);
    }
    if (spw__dlq_open(path, &q, &err) != SPW_OK) {
        ok(0, "open: %s", err.msg);
        return;
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    /*
     * First a batch that fails after the repairing newline went out: room
     * for the newline and three bytes more. The cut-back must remove the
     * newline too and remember the tail is still torn.
     */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = (rlim_t)strlen("{\"complete\":1}\n{\"cut") + 4;
    signal(SIGXFSZ, SIG_IGN);
    int limited = setrlimit(RLIMIT_FSIZE, &lim) == 0;
    spw__dlq_write(q, &loop, "{\"lost\":1}\n", 11, on_torn, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_DFL);
    ok(limited && g_torn_failed == 1, "a batch that fails behind a torn tail is reported failed");

    spw__dlq_write(q, &loop, "{\"new\":1}\n", 10, on_torn, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    spw__dlq_close(q);
    size_t len = 0;
    char *data = slurp(path, &len);
    is_int(g_torn_ok, 1, "write after a torn tail succeeds");
    is_str(data, "{\"complete\":1}\n{\"cut\n{\"new\":1}\n",
           "a partial last line from before is ended, not glued to ours");
    free(data);
}

static void rm_dir(void) {
    static const char *const names[] = {"mode.ndjson", "threads.ndjson", "group.ndjson",
                                        "full.ndjson", "torn.ndjson"};
    char path[512];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        path_in_dir(path, sizeof path, names[i]);
        unlink(path);
    }
    rmdir(g_dir);
}

int main(void) {
    /* Fixed before the pool's first use: the group-commit test occupies all of it. */
    char pool[8];
    snprintf(pool, sizeof pool, "%d", POOL);
    setenv("UV_THREADPOOL_SIZE", pool, 1);
    const char *tmp = getenv("TMPDIR");
    snprintf(g_dir, sizeof g_dir, "%s/spw-dlq-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(g_dir)) {
        ok(0, "mkdtemp %s: %s", g_dir, strerror(errno));
        return tap_done();
    }

    test_format_basic();
    test_format_delete_no_set();
    test_format_hostile();
    test_open_errors();
    test_threads();
    test_group_commit();
    test_write_failure();
    test_torn_tail();
    rm_dir();
    return tap_done();
}

/*
 * bench/codecs.c: encoding cost of every codec, measured in one program
 * so the figures compare. The codecs are the built plugins, opened through
 * libspillway's loader exactly as the daemon opens them (SPILLWAY_PLUGIN_PATH
 * or --plugin-dir), configured from their own option tables' defaults, and
 * driven through their spw_codec_ops: what is measured is what a worker
 * pays per record, call overhead included.
 *
 * Cases, per codec:
 *   rec10    a write of 10 bins of common types (~300 bytes on the wire:
 *            strings, integers, a double, a bool, a blob, a 3-element list,
 *            a 2-pair map), as in the other benchmarks and the json test
 *   rec10raw the same record carrying its XDR frame (the xdr source's case:
 *            the xdr codec passes it through)
 *   map100   a write whose one bin is a 100-pair map (mixed values)
 *   frame    framing a batch of 500 rec10 records into one body, per record
 *
 * For each: ns/record (the median of 7 timed runs after a warm-up), the
 * output size, and allocator calls per record counted over the timed runs
 * (malloc/calloc/realloc are interposed; 0 is the goal: a worker's buffer
 * grows once and is reused). Codecs are created with a NULL stage, as the
 * unit tests do: a codec uses no stage services.
 *
 *   bench/codecs [-n ITERATIONS] [-c CASE] [--plugin-dir DIR] [CODEC...]
 *
 * -c limits the run to one case (rec10, rec10raw, map100, frame500), for
 * profiling one thing at a time (see bench/codecs.sh).
 *
 * Codecs whose module is not built are reported as missing, not failed
 * (the avro codec is measured when its module exists).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <spillway/spillway.h>

#include "loader.h"
#include "options.h"
/* The codec tests' helpers: the benchmark record, a MessagePack writer,
 * the clock, and allocation counting (malloc, calloc and realloc are
 * interposed; not under ASan). The executable's definitions come first in
 * the global lookup scope, so the modules the loader opens call them too. */
#define TC_COUNT_ALLOCATIONS
#include "test-codec-common.h"

/* ---- events ---- */

/* rec10 is bench_event() of test-codec-common.h. A write whose one bin is
 * a 100-pair map (mixed values): */
static spw_event *map100(void) {
    spw_event *ev = bench_head(1);
    spw_buf m = SPW_BUF_INIT;
    mp_map(&m, 100);
    for (int i = 0; i < 100; i++) {
        char k[8];
        snprintf(k, sizeof k, "k%03d", i);
        mp_str(&m, k);
        if (i % 3 == 0) {
            mp_byte(&m, 0xd3); /* int 64 */
            mp_be(&m, (uint64_t)i * 1000003, 8);
        } else if (i % 3 == 1)
            mp_str(&m, "value");
        else
            mp_double(&m, i / 8.0);
    }
    spw_event_add_bin(ev, "m", 1, SPW_PT_MAP, m.data, m.len, 0);
    spw_buf_free(&m);
    return ev;
}

/* ---- codecs ---- */

typedef struct codec {
    const char *name;
    const spw_plugin *p;
    void *conf, *inst;
} codec;

/* Sets one option of conf from text, as a configuration file would. */
static int set_option(const spw_plugin *p, void *conf, const char *key, const char *value) {
    for (const spw_option *o = p->options; o && o->name; o++) {
        if (strcmp(o->name, key) != 0)
            continue;
        char *field = (char *)conf + o->offset;
        if (o->type == SPW_OPT_STRING) {
            free(*(char **)field);
            *(char **)field = strdup(value);
            return 0;
        }
        if (o->type == SPW_OPT_ENUM) {
            int idx = 0;
            for (const char *c = o->choices; c && *c; idx++) {
                size_t n = strcspn(c, "|");
                if (n == strlen(value) && !strncmp(c, value, n)) {
                    *(int *)field = idx;
                    return 0;
                }
                c += n + (c[n] == '|');
            }
        }
        return -1;
    }
    return -1;
}

static int open_codec(codec *c, const char *name, const char *const *opts) {
    spw_err err = {{0}};
    c->name = name;
    if (spw__loader_find(SPW_KIND_CODEC, name, &c->p, &err) != SPW_OK) {
        printf("%-10s missing: %s\n", name, err.msg);
        return -1;
    }
    c->conf = calloc(1, c->p->config_size ? c->p->config_size : 1);
    if (spw__opts_defaults(c->p->options, c->conf, &err) != SPW_OK) {
        printf("%-10s defaults: %s\n", name, err.msg);
        return -1;
    }
    for (; opts && opts[0]; opts += 2)
        if (set_option(c->p, c->conf, opts[0], opts[1]) != 0) {
            printf("%-10s cannot set %s = %s\n", name, opts[0], opts[1]);
            return -1;
        }
    if ((c->p->check && c->p->check(c->conf, &err) != SPW_OK) ||
        c->p->create(NULL, c->conf, &c->inst, &err) != SPW_OK) {
        printf("%-10s cannot be created: %s\n", name, err.msg);
        return -1;
    }
    return 0;
}

static void close_codec(codec *c) {
    if (c->inst)
        c->p->destroy(c->inst);
    if (c->conf) {
        spw__opts_free(c->p->options, c->conf);
        free(c->conf);
    }
}

/* ---- timing ---- */

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

#define RUNS 7

typedef struct result {
    double ns;
    double allocs;
    size_t bytes;
    bool ok;
} result;

/* After the timed runs t: allocator calls per record over `records`
 * records (-1 under ASan), and the median run. */
static void finish_runs(result *res, double *t, double records) {
    long calls = tc_count_stop();
    res->allocs = calls < 0 ? -1 : (double)calls / records;
    qsort(t, RUNS, sizeof t[0], cmp_double);
    res->ns = t[RUNS / 2];
    res->ok = true;
}

static result time_encode(const codec *c, const spw_event *ev, long iters) {
    result res = {0, 0, 0, false};
    spw_buf out = SPW_BUF_INIT;
    spw_err err = {{0}};
    for (int i = 0; i < 1000; i++) { /* warm-up: the buffer reaches its size */
        spw_buf_reset(&out);
        if (c->p->codec->encode(c->inst, ev, &out, &err) != SPW_OK) {
            printf("%-10s encode failed: %s\n", c->name, err.msg);
            spw_buf_free(&out);
            return res;
        }
    }
    res.bytes = out.len;
    double t[RUNS];
    tc_count_start();
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            spw_buf_reset(&out);
            (void)c->p->codec->encode(c->inst, ev, &out, &err);
        }
        t[r] = (now_ns() - t0) / (double)iters;
    }
    finish_runs(&res, t, (double)iters * RUNS);
    spw_buf_free(&out);
    return res;
}

/* Framing a batch of n records (encoded first, as the core does). */
static result time_frame(const codec *c, const spw_event *ev, size_t n, long iters) {
    result res = {0, 0, 0, false};
    if (!c->p->codec->frame) {
        res.ok = true; /* the core sends the records buffer as the body */
        return res;
    }
    spw_buf recs = SPW_BUF_INIT, body = SPW_BUF_INIT;
    spw_err err = {{0}};
    spw_slice *s = calloc(n, sizeof *s);
    size_t *off = calloc(n + 1, sizeof *off);
    for (size_t i = 0; i < n; i++) {
        off[i] = recs.len;
        if (c->p->codec->encode(c->inst, ev, &recs, &err) != SPW_OK)
            goto out;
    }
    off[n] = recs.len;
    for (size_t i = 0; i < n; i++)
        s[i] = (spw_slice){recs.data + off[i], off[i + 1] - off[i]};
    for (int i = 0; i < 20; i++) {
        spw_buf_reset(&body);
        (void)c->p->codec->frame(c->inst, s, n, &body, &err);
    }
    res.bytes = body.len;
    double t[RUNS];
    tc_count_start();
    for (int r = 0; r < RUNS; r++) {
        double t0 = now_ns();
        for (long i = 0; i < iters; i++) {
            spw_buf_reset(&body);
            (void)c->p->codec->frame(c->inst, s, n, &body, &err);
        }
        t[r] = (now_ns() - t0) / ((double)iters * (double)n);
    }
    finish_runs(&res, t, (double)iters * RUNS * (double)n);
out:
    free(s);
    free(off);
    spw_buf_free(&recs);
    spw_buf_free(&body);
    return res;
}

static const char *only; /* -c: the one case to run */

static bool wanted(const char *what) { return !only || !strcmp(only, what); }

static void report(const char *who, const char *what, result r) {
    if (!r.ok)
        return;
    if (r.allocs < 0)
        printf("%-10s %-9s %8zu %10.1f %12s\n", who, what, r.bytes, r.ns, "n/a (ASan)");
    else
        printf("%-10s %-9s %8zu %10.1f %12.3f\n", who, what, r.bytes, r.ns, r.allocs);
    fflush(stdout);
}

int main(int argc, char **argv) {
    long iters = 200000;
    const char *dirs[8];
    size_t n_dirs = 0;
    const char *names[16];
    size_t n_names = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-n") && i + 1 < argc)
            iters = atol(argv[++i]);
        else if (!strcmp(argv[i], "-c") && i + 1 < argc)
            only = argv[++i];
        else if (!strcmp(argv[i], "--plugin-dir") && i + 1 < argc && n_dirs < 8)
            dirs[n_dirs++] = argv[++i];
        else if (n_names < 16)
            names[n_names++] = argv[i];
    }
    if (n_names == 0) {
        static const char *all[] = {"json", "flat-json", "msgpack", "avro", "xdr"};
        for (size_t i = 0; i < 5; i++)
            names[n_names++] = all[i];
    }
    spw_err err = {{0}};
    if (spw__loader_init(dirs, n_dirs, &err) != SPW_OK) {
        fprintf(stderr, "bench/codecs: %s\n", err.msg);
        return 1;
    }

    spw_event *r10 = bench_event(), *m100 = map100(), *r10raw = bench_event();
    /* The frame XDR would have shipped for rec10, attached as the xdr source does. */
    codec xdr_never;
    static const char *never[] = {"passthrough", "never", NULL};
    if (open_codec(&xdr_never, "xdr", never) == 0) {
        spw_buf f = SPW_BUF_INIT;
        if (xdr_never.p->codec->encode(xdr_never.inst, r10, &f, &err) == SPW_OK)
            spw_event_set_raw(r10raw, f.data, f.len);
        printf("the 10-bin record: %zu bytes as an XDR frame\n", f.len);
        spw_buf_free(&f);
        close_codec(&xdr_never);
    }
    printf("%ld iterations x %d runs per case; ns/record is the median run\n\n", iters, RUNS);
    printf("%-10s %-9s %8s %10s %12s\n", "codec", "case", "bytes", "ns/record", "allocs/rec");

    int failed = 0;
    for (size_t i = 0; i < n_names; i++) {
        static const char *flat_opts[] = {"metadata_key", "metadata", NULL};
        codec c = {0};
        const char *const *opts = !strcmp(names[i], "flat-json") ? flat_opts : NULL;
        if (open_codec(&c, names[i], opts) != 0) {
            close_codec(&c);
            continue;
        }
        if (wanted("rec10")) {
            result a = time_encode(&c, r10, iters);
            failed |= !a.ok;
            report(names[i], "rec10", a);
        }
        if (wanted("rec10raw"))
            report(names[i], "rec10raw", time_encode(&c, r10raw, iters));
        if (wanted("map100"))
            report(names[i], "map100", time_encode(&c, m100, iters / 10 > 0 ? iters / 10 : 1));
        result f = {0, 0, 0, false};
        if (wanted("frame500"))
            f = time_frame(&c, r10, 500, iters / 500 > 10 ? iters / 500 : 10);
        if (f.ok && !c.p->codec->frame)
            printf("%-10s %-9s %8s %10s %12s   (no frame callback: the records buffer is the body)\n",
                   names[i], "frame500", "-", "0", "0");
        else
            report(names[i], "frame500", f);
        close_codec(&c);
    }
    spw_event_unref(r10);
    spw_event_unref(r10raw);
    spw_event_unref(m100);
    spw__loader_exit();
    return failed;
}

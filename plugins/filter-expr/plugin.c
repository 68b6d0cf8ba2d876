/*
 * plugins/filter-expr/plugin.c: the `expr` filter. A route takes an event
 * when the section's CEL expression is true for it (doc/expr-filter.md).
 *
 * The expression is compiled by check() at load, so a mistake stops
 * `spillway --check` and startup with its position and a caret, and again
 * by create() on each worker: a program holds its regex match data and
 * scratch area, which evaluation writes, so workers never share one.
 * An evaluation that ends in a CEL error (a missing bin, a wrong runtime
 * type) is decided by on_error, counted, and logged at most once a second
 * per worker with the reason.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spillway/spillway.h>
#include "expr.h"

enum { ON_ERROR_SKIP = 0, ON_ERROR_PASS = 1 };

struct expr_conf {
    char *expr;
    char *expr_file;
    int on_error;
};

struct expr_filter {
    spw_stage *st;
    ex_prog *prog;
    bool pass_on_error;
    spw_counter *c_passed, *c_skipped, *c_errors;
    uint64_t last_log_ms, unlogged;
};

#define OFF(f) offsetof(struct expr_conf, f)

static const spw_option expr_options[] = {
    {"expr", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(expr),
     "The CEL expression; the route takes an event when it is true (doc/expr-filter.md). "
     "Exactly one of expr and expr_file."},
    {"expr_file", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, OFF(expr_file),
     "A file holding the expression, for one longer than a line (may span lines; // comments)."},
    {"on_error", SPW_OPT_ENUM, 0, "skip", 0, 0, "skip|pass", OFF(on_error),
     "What an evaluation ending in a CEL error (missing bin, wrong type at run time) does: "
     "skip the route or pass it; counted as eval_errors either way."},
    SPW_OPTIONS_END,
};

/* The expression text (owned by caller) and where it came from, for messages. */
static spw_result load_source(const struct expr_conf *cf, char **src, size_t *len,
                              spw_err *err) {
    bool has_expr = cf->expr && *cf->expr, has_file = cf->expr_file && *cf->expr_file;
    if (has_expr == has_file)
        return spw_err_set(err, SPW_ERR_CONFIG, has_expr ? "set expr or expr_file, not both"
                                                         : "one of expr or expr_file is required");
    if (has_expr) {
        *len = strlen(cf->expr);
        *src = strdup(cf->expr);
        return *src ? SPW_OK : spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    FILE *f = fopen(cf->expr_file, "rb");
    if (!f)
        return spw_err_set(err, SPW_ERR_CONFIG, "expr_file '%s': %s", cf->expr_file,
                           strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (n < cap - 1)
            break;
        if (cap > (1u << 20)) {
            free(buf);
            fclose(f);
            return spw_err_set(err, SPW_ERR_CONFIG, "expr_file '%s' is too large",
                               cf->expr_file);
        }
        char *b2 = realloc(buf, cap * 2);
        if (!b2) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = b2;
        cap *= 2;
    }
    bool bad = ferror(f);
    fclose(f);
    if (!buf)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    if (bad) {
        free(buf);
        return spw_err_set(err, SPW_ERR_CONFIG, "expr_file '%s': read error", cf->expr_file);
    }
    buf[n] = 0;
    *src = buf;
    *len = n;
    return SPW_OK;
}

static spw_result compile(const struct expr_conf *cf, ex_prog **out, spw_err *err) {
    char *src = NULL;
    size_t len = 0;
    spw_result r = load_source(cf, &src, &len, err);
    if (r != SPW_OK)
        return r;
    bool ok = ex_compile(src, len, cf->expr_file && *cf->expr_file ? cf->expr_file : NULL, false, out,
                         err->msg, sizeof err->msg);
    free(src);
    return ok ? SPW_OK : SPW_ERR_CONFIG;
}

static spw_result expr_check(const void *config, spw_err *err) {
    ex_prog *p;
    spw_result r = compile(config, &p, err);
    ex_free(p);
    return r;
}

static spw_result expr_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct expr_conf *cf = config;
    struct expr_filter *f = calloc(1, sizeof *f);
    if (!f)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    spw_result r = compile(cf, &f->prog, err);
    if (r != SPW_OK) {
        free(f);
        return r;
    }
    f->st = st;
    f->pass_on_error = cf->on_error == ON_ERROR_PASS;
    f->c_passed = spw_counter_register(st, "passed", "Events the expression let onto the route.");
    f->c_skipped = spw_counter_register(st, "skipped", "Events the expression kept off the route.");
    f->c_errors = spw_counter_register(st, "eval_errors",
                                       "Evaluations that ended in a CEL error (decided by on_error).");
    *inst = f;
    return SPW_OK;
}

static void expr_destroy(void *inst) {
    struct expr_filter *f = inst;
    if (!f)
        return;
    ex_free(f->prog);
    free(f);
}

static spw_result expr_match(void *inst, const spw_event *ev) {
    struct expr_filter *f = inst;
    const char *why = NULL;
    ex_outcome o = ex_eval(f->prog, ev, &why);
    if (o == EX_ERROR) {
        spw_counter_add(f->c_errors, 1);
        uint64_t now = spw_time_mono_ms();
        if (now - f->last_log_ms >= 1000 || f->last_log_ms == 0) {
            spw_log(f->st, SPW_LOG_WARN, "expression error on event %llu: %s (%s)%s",
                    (unsigned long long)spw_event_id(ev), why,
                    f->pass_on_error ? "passed" : "skipped",
                    f->unlogged ? "; more errors since the last line" : "");
            f->last_log_ms = now;
            f->unlogged = 0;
        } else {
            f->unlogged++;
        }
        o = f->pass_on_error ? EX_TRUE : EX_FALSE;
    }
    if (o == EX_TRUE) {
        spw_counter_add(f->c_passed, 1);
        return SPW_OK;
    }
    spw_counter_add(f->c_skipped, 1);
    return SPW_SKIP;
}

static const spw_filter_ops expr_ops = {.match = expr_match};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_FILTER, .name = "expr", .version = "1.0.0",
                  .description = "passes the events for which a CEL expression is true",
                  .options = expr_options, .config_size = sizeof(struct expr_conf),
                  .check = expr_check, .create = expr_create, .destroy = expr_destroy,
                  .filter = &expr_ops);

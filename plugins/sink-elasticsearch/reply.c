/*
 * plugins/sink-elasticsearch/reply.c: the `_bulk` answer, item by item.
 *
 * The answer is {"took":N,"errors":B,"items":[{"ACTION":{"status":S,
 * "error":{"type":T,"reason":R,...},...}},...]}, one item per action in
 * order (the sink asks for filter_path=errors,items.*.status,
 * items.*.error.type,items.*.error.reason, which keeps it small and in
 * order). It is read by a small pull scanner over the bytes the client
 * kept, not a DOM: nothing is allocated, nesting is bounded, and a body
 * cut short (the client keeps at most response_max bytes) is not an
 * error: the items read whole count, the ones after the cut are unknown
 * and retried. A long answer therefore never loses a record and never
 * fails a whole batch that was mostly accepted.
 *
 * What a status means (es_item_classify) is the sink's whole policy:
 *   200/201, and 404 on a delete ("not_found": already gone): done;
 *   409 version_conflict_engine_exception: done, stale (under external
 *     versioning a newer or equal version is indexed; for a create, the
 *     document exists);
 *   429 and 5xx: retry that item; 413: too large alone;
 *   401/403 security_exception, 404 index_not_found_exception (automatic
 *     index creation off): retry, with the sink held down and a loud log;
 *   403 cluster_block_exception (read-only index, flood stage): retry;
 *   any other 4xx: a document error (mapping, parsing, illegal argument),
 *     rejected with its type and reason, i.e. dead-lettered;
 *   anything else or nothing: retry.
 */
#include <stdio.h>
#include <string.h>
#include "es.h"

typedef struct scan {
    const uint8_t *p, *end;
    bool cut; /* ran out of bytes */
} scan;

static void ws(scan *s) {
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' || *s->p == '\n' || *s->p == '\r'))
        s->p++;
}

/* Consumes c after whitespace. */
static bool eat(scan *s, char c) {
    ws(s);
    if (s->p >= s->end) {
        s->cut = true;
        return false;
    }
    if (*s->p != c)
        return false;
    s->p++;
    return true;
}

/* A string: its contents, printable and bounded, into out (may be NULL). */
static bool str(scan *s, char *out, size_t out_size) {
    size_t o = 0;
    if (!eat(s, '"'))
        return false;
    while (s->p < s->end) {
        uint8_t c = *s->p++;
        if (c == '"') {
            if (out)
                out[o] = '\0';
            return true;
        }
        if (c == '\\') {
            if (s->p >= s->end)
                break;
            c = *s->p++;
            if (c == 'u') {
                if (s->end - s->p < 4) {
                    s->p = s->end;
                    break;
                }
                s->p += 4;
                c = '?';
            } else if (c == 'n' || c == 't' || c == 'r' || c == 'b' || c == 'f') {
                c = ' ';
            }
        }
        if (out && o + 1 < out_size)
            out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    s->cut = true;
    return false;
}

/* Skips any value, nested up to 64 deep. */
static bool skip(scan *s) {
    ws(s);
    if (s->p >= s->end) {
        s->cut = true;
        return false;
    }
    uint8_t c = *s->p;
    if (c == '"')
        return str(s, NULL, 0);
    if (c == '{' || c == '[') {
        unsigned depth = 0;
        while (s->p < s->end) {
            c = *s->p;
            if (c == '"') {
                if (!str(s, NULL, 0))
                    return false;
                continue;
            }
            s->p++;
            if (c == '{' || c == '[') {
                if (++depth > 64)
                    return false;
            } else if (c == '}' || c == ']') {
                if (--depth == 0)
                    return true;
            }
        }
        s->cut = true;
        return false;
    }
    /* number, true, false, null */
    const uint8_t *st = s->p;
    while (s->p < s->end && (strchr("+-.eE", *s->p) || (*s->p >= '0' && *s->p <= '9') ||
                             (*s->p >= 'a' && *s->p <= 'z')))
        s->p++;
    if (s->p == s->end) {
        s->cut = true;
        return false;
    }
    return s->p > st;
}

static bool integer(scan *s, int *v) {
    ws(s);
    long x = 0;
    const uint8_t *st = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && s->p - st < 6)
        x = x * 10 + (*s->p++ - '0');
    if (s->p == s->end) {
        s->cut = true;
        return false;
    }
    *v = (int)x;
    return s->p > st;
}

/* The members of an object, after its '{': calls fn for each key; fn consumes the value. */
typedef bool (*member_fn)(scan *s, const char *key, void *arg);
static bool object(scan *s, member_fn fn, void *arg) {
    if (eat(s, '}'))
        return true;
    for (;;) {
        char key[32];
        if (!str(s, key, sizeof key) || !eat(s, ':') || !fn(s, key, arg))
            return false;
        if (eat(s, ','))
            continue;
        return eat(s, '}');
    }
}

static bool error_member(scan *s, const char *key, void *arg) {
    es_item *it = arg;
    if (!strcmp(key, "type"))
        return str(s, it->type, sizeof it->type);
    if (!strcmp(key, "reason")) {
        char r[ES_REASON_MAX + 1];
        if (!str(s, r, sizeof r))
            return false;
        snprintf(it->reason, sizeof it->reason, "%s%s", r,
                 strlen(r) >= ES_REASON_MAX ? "..." : "");
        return true;
    }
    return skip(s);
}

static bool result_member(scan *s, const char *key, void *arg) {
    es_item *it = arg;
    if (!strcmp(key, "status"))
        return integer(s, &it->status);
    if (!strcmp(key, "error")) {
        ws(s);
        if (s->p < s->end && *s->p == '"') /* very old clusters: a string */
            return str(s, it->reason, sizeof it->reason);
        return eat(s, '{') && object(s, error_member, it);
    }
    return skip(s);
}

/* {"index":{...}}: one member, whatever the action's name. */
static bool action_member(scan *s, const char *key, void *arg) {
    (void)key;
    return eat(s, '{') && object(s, result_member, arg);
}

struct top {
    es_item *items;
    size_t max;
    es_reply *out;
};

static bool top_member(scan *s, const char *key, void *arg) {
    struct top *t = arg;
    if (!strcmp(key, "errors")) {
        ws(s);
        t->out->errors = s->end - s->p >= 4 && !memcmp(s->p, "true", 4);
        return skip(s);
    }
    if (strcmp(key, "items"))
        return skip(s);
    if (!eat(s, '['))
        return false;
    if (eat(s, ']'))
        return true;
    for (;;) {
        es_item tmp, *it = t->out->n_items < t->max ? &t->items[t->out->n_items] : &tmp;
        memset(it, 0, sizeof *it);
        if (!eat(s, '{') || !object(s, action_member, it)) {
            if (it != &tmp)
                memset(it, 0, sizeof *it); /* a half-read item is unknown */
            return false;
        }
        t->out->n_items++;
        if (eat(s, ','))
            continue;
        return eat(s, ']');
    }
}

spw_result es_reply_parse(const uint8_t *p, size_t n, es_item *items, size_t max, es_reply *out) {
    memset(out, 0, sizeof *out);
    memset(items, 0, max * sizeof *items);
    scan s = {p, p + n, false};
    struct top t = {items, max, out};
    bool ok = eat(&s, '{') && object(&s, top_member, &t);
    out->cut = s.cut; /* n_items may exceed max: the caller compares it with its actions */
    if (ok || s.cut)
        return SPW_OK;
    return SPW_ERR_INVAL;
}

enum es_item_class es_item_classify(const es_item *it, enum es_action act, bool versioned) {
    int st = it->status;
    (void)versioned;
    if (st == 200 || st == 201)
        return ES_ITEM_DONE;
    if (st == 404 && act == ES_ACT_DELETE)
        return ES_ITEM_DONE;
    if (st == 409 && !strcmp(it->type, "version_conflict_engine_exception"))
        return ES_ITEM_STALE;
    if (st == 429 || (st >= 500 && st <= 599))
        return ES_ITEM_RETRY;
    if (st == 413)
        return ES_ITEM_TOO_LARGE;
    if (st == 401 || (st == 403 && strcmp(it->type, "cluster_block_exception")))
        return ES_ITEM_HOLD;
    if (st == 404 && !strcmp(it->type, "index_not_found_exception"))
        return ES_ITEM_HOLD; /* automatic index creation is off: the operator must act */
    if (st == 403 || st == 408 || st == 409)
        return ES_ITEM_RETRY;
    if (st >= 400 && st <= 499)
        return ES_ITEM_REJECT;
    return ES_ITEM_RETRY;
}

void es_item_describe(const es_item *it, char *out, size_t out_size) {
    if (it->status == 0)
        snprintf(out, out_size, "the bulk answer ended before this item");
    else
        snprintf(out, out_size, "HTTP %d%s%s%s%s", it->status, it->type[0] ? " " : "", it->type,
                 it->reason[0] ? ": " : "", it->reason);
}

/* ---------------------------------------------------------------------- */
/* GET /                                                                   */
/* ---------------------------------------------------------------------- */

struct ver {
    char number[32];
    char distribution[32];
    bool has_version;
};

static bool version_member(scan *s, const char *key, void *arg) {
    struct ver *v = arg;
    if (!strcmp(key, "number"))
        return str(s, v->number, sizeof v->number);
    if (!strcmp(key, "distribution"))
        return str(s, v->distribution, sizeof v->distribution);
    return skip(s);
}

static bool root_member(scan *s, const char *key, void *arg) {
    struct ver *v = arg;
    if (!strcmp(key, "version")) {
        v->has_version = true;
        return eat(s, '{') && object(s, version_member, v);
    }
    return skip(s);
}

bool es_version_parse(const uint8_t *p, size_t n, char *out, size_t out_size, int *major,
                      bool *opensearch) {
    struct ver v;
    memset(&v, 0, sizeof v);
    scan s = {p, p + n, false};
    if (!eat(&s, '{') || !object(&s, root_member, &v) || !v.has_version || !v.number[0])
        return false;
    *opensearch = !strcmp(v.distribution, "opensearch");
    *major = 0;
    for (const char *c = v.number; *c >= '0' && *c <= '9'; c++)
        *major = *major * 10 + (*c - '0');
    snprintf(out, out_size, "%s %s", *opensearch ? "OpenSearch" : "Elasticsearch", v.number);
    return true;
}

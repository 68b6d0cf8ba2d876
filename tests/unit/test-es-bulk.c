/*
 * tests/unit/test-es-bulk.c: the `elasticsearch` sink's pure parts, linked
 * alone: index name templates and Elasticsearch's name rules, document
 * ids, action lines (versioned writes and deletes, soft deletes, data
 * streams), and the bulk answer scanner with per-item classification,
 * including answers cut anywhere.
 */
#include <string.h>
#include <spillway/spillway.h>
#include "../../plugins/sink-elasticsearch/es.h"
#include "../tap.h"

static spw_event *mk(const char *ns, const char *set, spw_op op, int64_t lut, int key_type,
                     const void *key, size_t key_len) {
    spw_event *ev = spw_event_new(4, 1024);
    uint8_t d[20];
    for (int i = 0; i < 20; i++)
        d[i] = (uint8_t)(0xf0 + i);
    spw_event_set_op(ev, op, false);
    spw_event_set_namespace(ev, ns, strlen(ns));
    if (set)
        spw_event_set_set(ev, set, strlen(set));
    spw_event_set_digest(ev, d);
    spw_event_set_lut(ev, lut, 0);
    if (key)
        spw_event_set_key(ev, (uint8_t)key_type, key, key_len);
    return ev;
}

static char *cstr(spw_buf *b) {
    spw_buf_append(b, "", 1);
    b->len--;
    return (char *)b->data;
}

static void templates(void) {
    es_tpl t;
    spw_err e;
    ok(es_tpl_compile(&t, "aerospike-${namespace}-${set}", &e) == SPW_OK, "template compiles");
    spw_event *ev = mk("Test", "My Set/#1", SPW_OP_WRITE, 5, 0, NULL, 0);
    spw_buf b = SPW_BUF_INIT;
    const char *why;
    ok(es_index_name(&t, ev, &b, &why) == SPW_OK, "index name renders");
    is_str(cstr(&b), "aerospike-test-my_set__1", "values lowercased, forbidden characters replaced");
    spw_event_unref(ev);
    es_tpl_free(&t);

    ok(es_tpl_compile(&t, "${set}", &e) == SPW_OK, "a set-only template");
    ev = mk("test", "_-+Users", SPW_OP_WRITE, 5, 0, NULL, 0);
    spw_buf_reset(&b);
    ok(es_index_name(&t, ev, &b, &why) == SPW_OK && !strcmp(cstr(&b), "users"),
       "leading - _ + dropped (%s)", cstr(&b));
    spw_event_unref(ev);
    ev = mk("test", NULL, SPW_OP_WRITE, 5, 0, NULL, 0);
    spw_buf_reset(&b);
    ok(es_index_name(&t, ev, &b, &why) == SPW_REJECT && b.len == 0, "an empty name is a rejection");
    spw_event_unref(ev);
    ev = mk("test", "..", SPW_OP_WRITE, 5, 0, NULL, 0);
    ok(es_index_name(&t, ev, &b, &why) == SPW_REJECT, "'..' is a rejection");
    spw_event_unref(ev);
    char longset[400];
    memset(longset, 'a', sizeof longset - 1);
    longset[sizeof longset - 1] = '\0';
    memcpy(longset + 254, "\xc3\xa9", 2); /* a 2-byte character across byte 255 */
    ev = mk("test", longset, SPW_OP_WRITE, 5, 0, NULL, 0);
    spw_buf_reset(&b);
    spw_result lrc = es_index_name(&t, ev, &b, &why);
    ok(lrc == SPW_OK && b.len == 254, "cut within 255 bytes, never inside a character (%zu)", b.len);
    spw_buf_reset(&b);
    spw_event_unref(ev);
    ev = mk("test", "a\xff" "b", SPW_OP_WRITE, 5, 0, NULL, 0);
    ok(es_index_name(&t, ev, &b, &why) == SPW_OK && !strcmp(cstr(&b), "a_b"), "invalid UTF-8 replaced");
    spw_event_unref(ev);
    es_tpl_free(&t);

    ok(es_tpl_compile(&t, "Logs-${set}", &e) == SPW_ERR_CONFIG, "uppercase literal refused");
    es_tpl_free(&t);
    ok(es_tpl_compile(&t, "a b", &e) != SPW_OK && strstr(e.msg, "not allowed"), "space refused: %s", e.msg);
    es_tpl_free(&t);
    ok(es_tpl_compile(&t, "_x", &e) != SPW_OK, "leading _ refused");
    es_tpl_free(&t);
    ok(es_tpl_compile(&t, "x-${nope}", &e) != SPW_OK && strstr(e.msg, "nope"),
       "unknown variable refused");
    es_tpl_free(&t);
    spw_buf_free(&b);
}

static void ids(void) {
    spw_buf b = SPW_BUF_INIT;
    const char *why;
    spw_event *ev = mk("test", "s", SPW_OP_WRITE, 5, 0, NULL, 0);
    ok(es_doc_id(ES_ID_DIGEST, ev, &b, &why) == SPW_OK && b.len == 27, "digest: 27 Base64url characters");
    is_str(cstr(&b), "8PHy8_T19vf4-fr7_P3-_wABAgM", "digest in Base64url");
    spw_buf_reset(&b);
    es_doc_id(ES_ID_DIGEST_HEX, ev, &b, &why);
    is_str(cstr(&b), "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00010203", "digest in hex");
    spw_buf_reset(&b);
    ok(es_doc_id(ES_ID_KEY, ev, &b, &why) == SPW_REJECT && strstr(why, "not shipped"),
       "id = key without a key: rejected, saying why");
    spw_event_unref(ev);
    uint8_t k8[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    ev = mk("test", "s", SPW_OP_WRITE, 5, SPW_PT_INTEGER, k8, 8);
    spw_buf_reset(&b);
    es_doc_id(ES_ID_KEY, ev, &b, &why);
    is_str(cstr(&b), "-2", "integer key in decimal");
    spw_event_unref(ev);
    ev = mk("test", "s", SPW_OP_WRITE, 5, SPW_PT_STRING, "a\"b\\c\n", 6);
    spw_buf_reset(&b);
    es_doc_id(ES_ID_KEY, ev, &b, &why);
    is_str(cstr(&b), "a\\\"b\\\\c\\u000a", "string key JSON-escaped");
    spw_event_unref(ev);
    ev = mk("test", "s", SPW_OP_WRITE, 5, SPW_PT_STRING, "\xff", 1);
    ok(es_doc_id(ES_ID_KEY, ev, &b, &why) == SPW_REJECT, "a non-UTF-8 string key is rejected");
    spw_event_unref(ev);
    ev = mk("test", "s", SPW_OP_WRITE, 5, SPW_PT_BLOB, "\xfb\xff", 2);
    spw_buf_reset(&b);
    es_doc_id(ES_ID_KEY, ev, &b, &why);
    is_str(cstr(&b), "-_8", "blob key in unpadded Base64url");
    spw_event_unref(ev);
    spw_buf_free(&b);
}

static void actions(void) {
    struct es_conf cf = {.index = "i-${set}", .id = ES_ID_KEY, .versioning = ES_VER_EXTERNAL_GTE,
                         .deletes = ES_DEL_DELETE, .soft_delete_field = "deleted"};
    es_tpl t;
    spw_err e;
    es_tpl_compile(&t, cf.index, &e);
    spw_buf body = SPW_BUF_INIT, sc = SPW_BUF_INIT;
    enum es_action a;
    const char *why;
    uint8_t k8[8] = {0, 0, 0, 0, 0, 0, 0, 7};
    spw_event *w = mk("test", "S", SPW_OP_WRITE, 1734387515693, SPW_PT_INTEGER, k8, 8);
    spw_event *d = mk("test", "S", SPW_OP_DELETE, 1734387515694, SPW_PT_INTEGER, k8, 8);
    const char *doc = "{\"seq\":7,\"s\":\"x\\ny\"}\n";
    spw_slice rec = {(const uint8_t *)doc, strlen(doc)};
    ok(es_bulk_append(&cf, &t, w, rec, &body, &sc, &a, &why) == SPW_OK && a == ES_ACT_INDEX, "write: index");
    ok(es_bulk_append(&cf, &t, d, rec, &body, &sc, &a, &why) == SPW_OK && a == ES_ACT_DELETE, "delete");
    is_str(cstr(&body),
           "{\"index\":{\"_index\":\"i-s\",\"_id\":\"7\",\"version\":1734387515693,\"version_type\":\"external_gte\"}}\n"
           "{\"seq\":7,\"s\":\"x\\ny\"}\n"
           "{\"delete\":{\"_index\":\"i-s\",\"_id\":\"7\",\"version\":1734387515694,\"version_type\":\"external_gte\"}}\n",
           "action and source lines, versions on both, final newline");
    spw_buf_reset(&body);
    cf.deletes = ES_DEL_SOFT;
    cf.versioning = ES_VER_EXTERNAL;
    ok(es_bulk_append(&cf, &t, d, rec, &body, &sc, &a, &why) == SPW_OK && a == ES_ACT_SOFT_DELETE, "soft delete");
    is_str(cstr(&body),
           "{\"index\":{\"_index\":\"i-s\",\"_id\":\"7\",\"version\":1734387515694,\"version_type\":\"external\"}}\n"
           "{\"deleted\":true}\n", "soft delete: a versioned index of the marker document");
    spw_buf_reset(&body);
    cf.data_stream = true;
    cf.versioning = ES_VER_NONE;
    ok(es_bulk_append(&cf, &t, w, rec, &body, &sc, &a, &why) == SPW_OK && a == ES_ACT_CREATE, "data stream: create");
    is_str(cstr(&body), "{\"create\":{\"_index\":\"i-s\",\"_id\":\"7\"}}\n{\"seq\":7,\"s\":\"x\\ny\"}\n",
           "create without a version");
    spw_buf_reset(&body);
    const char *pretty = "{\n \"a\": 1\n}";
    spw_slice p2 = {(const uint8_t *)pretty, strlen(pretty)};
    ok(es_bulk_append(&cf, &t, w, p2, &body, &sc, &a, &why) == SPW_REJECT && body.len == 0,
       "a multi-line document is rejected and leaves the body as it was");
    const char *arr = "[1,2]";
    spw_slice p3 = {(const uint8_t *)arr, strlen(arr)};
    ok(es_bulk_append(&cf, &t, w, p3, &body, &sc, &a, &why) == SPW_REJECT, "a non-object is rejected");
    cf.deletes = ES_DEL_REFUSE;
    ok(es_bulk_append(&cf, &t, d, rec, &body, &sc, &a, &why) == SPW_REJECT, "deletes = reject");
    spw_event_unref(w);
    spw_event_unref(d);
    es_tpl_free(&t);
    spw_buf_free(&body);
    spw_buf_free(&sc);
}

static void replies(void) {
    es_item it[8];
    es_reply r;
    const char *full =
        "{\"errors\":true,\"items\":[{\"index\":{\"status\":201}},{\"delete\":{\"status\":404}},"
        "{\"index\":{\"status\":409,\"error\":{\"type\":\"version_conflict_engine_exception\","
        "\"reason\":\"[x]: version conflict\"}}},{\"index\":{\"status\":429,\"error\":{\"type\":"
        "\"es_rejected_execution_exception\",\"reason\":\"queue full\"}}},{\"index\":{\"status\":400,"
        "\"error\":{\"type\":\"mapper_parsing_exception\",\"reason\":\"failed to parse \\\"age\\\"\","
        "\"caused_by\":{\"type\":\"x\",\"reason\":\"[y]\"}}}},{\"index\":{\"status\":503}},"
        "{\"index\":{\"status\":403,\"error\":{\"type\":\"security_exception\",\"reason\":\"no\"}}},"
        "{\"index\":{\"status\":403,\"error\":{\"type\":\"cluster_block_exception\",\"reason\":\"ro\"}}}]}";
    ok(es_reply_parse((const uint8_t *)full, strlen(full), it, 8, &r) == SPW_OK && r.n_items == 8 &&
           !r.cut && r.errors, "a full answer: 8 items");
    ok(es_item_classify(&it[0], ES_ACT_INDEX, true) == ES_ITEM_DONE, "201 done");
    ok(es_item_classify(&it[1], ES_ACT_DELETE, true) == ES_ITEM_DONE, "404 on a delete done");
    ok(es_item_classify(&it[1], ES_ACT_INDEX, true) == ES_ITEM_REJECT, "404 on an index: not done");
    ok(es_item_classify(&it[2], ES_ACT_INDEX, true) == ES_ITEM_STALE, "409 stale");
    ok(es_item_classify(&it[3], ES_ACT_INDEX, true) == ES_ITEM_RETRY, "429 retry");
    ok(es_item_classify(&it[4], ES_ACT_INDEX, true) == ES_ITEM_REJECT, "400 mapping rejected");
    is_str(it[4].type, "mapper_parsing_exception", "error type read");
    is_str(it[4].reason, "failed to parse \"age\"", "error reason read, nested cause skipped");
    ok(es_item_classify(&it[5], ES_ACT_INDEX, true) == ES_ITEM_RETRY, "503 retry");
    ok(es_item_classify(&it[6], ES_ACT_INDEX, true) == ES_ITEM_HOLD, "403 security: hold down");
    ok(es_item_classify(&it[7], ES_ACT_INDEX, true) == ES_ITEM_RETRY, "403 cluster block: retry");
    char d[400];
    es_item_describe(&it[4], d, sizeof d);
    is_str(d, "HTTP 400 mapper_parsing_exception: failed to parse \"age\"", "describe");

    /* Cut at every length: never more items than whole ones, never an error. */
    size_t n = strlen(full);
    int bad = 0;
    for (size_t cut = 0; cut < n; cut++) {
        spw_result rc = es_reply_parse((const uint8_t *)full, cut, it, 8, &r);
        if (cut > 0 && (rc != SPW_OK || !r.cut || r.n_items > 8))
            bad++;
        for (size_t k = r.n_items; k < 8; k++)
            if (it[k].status != 0)
                bad++;
    }
    ok(bad == 0, "an answer cut at any of %zu lengths: only whole items count (%d bad)", n, bad);
    ok(es_reply_parse((const uint8_t *)"<html>", 6, it, 8, &r) == SPW_ERR_INVAL, "not JSON: invalid");
    const char *more = "{\"items\":[{\"index\":{\"status\":201}},{\"index\":{\"status\":201}}]}";
    ok(es_reply_parse((const uint8_t *)more, strlen(more), it, 1, &r) == SPW_OK && r.n_items == 2,
       "more items than actions is seen (the caller refuses it)");

    char v[80];
    int major;
    bool os;
    const char *es = "{\"name\":\"n\",\"version\":{\"number\":\"8.13.4\",\"build_flavor\":\"default\"}}";
    ok(es_version_parse((const uint8_t *)es, strlen(es), v, sizeof v, &major, &os) && major == 8 && !os,
       "Elasticsearch 8 told");
    is_str(v, "Elasticsearch 8.13.4", "version text");
    const char *osv = "{\"version\":{\"distribution\":\"opensearch\",\"number\":\"2.13.0\"}}";
    ok(es_version_parse((const uint8_t *)osv, strlen(osv), v, sizeof v, &major, &os) && major == 2 && os,
       "OpenSearch 2 told");
}

/* The last-(namespace, set) cache gives what a fresh render gives, rejections included. */
static void template_cache(void) {
    static const char *const srcs[] = {"aerospike-${namespace}-${set}", "${set}", "logs-${digest}",
                                       "fixed"};
    static const char *const pairs[][2] = {
        {"test", "a"}, {"test", "a"}, {"test", "b"}, {"test", NULL}, {"test", ""}, {"test", NULL},
        {"Prod", "A"}, {"prod", "a"}, {"test", "a"}, {"te", "sta"}, {"tes", "ta"}, {"x", ".."},
        {"x", ".."}, {"x", "_+-"}, {"ns", "\xff"}, {"ns", "\xff"}, {"test", "a"}};
    for (size_t k = 0; k < sizeof srcs / sizeof *srcs; k++) {
        es_tpl t;
        spw_err e;
        if (es_tpl_compile(&t, srcs[k], &e) != SPW_OK) {
            ok(0, "%s compiles: %s", srcs[k], e.msg);
            continue;
        }
        ok(t.by_ns_set == (k != 2), "%s: cached by namespace and set: %s", srcs[k],
           t.by_ns_set ? "yes" : "no");
        size_t same = 0, n = sizeof pairs / sizeof *pairs;
        for (size_t i = 0; i < n; i++) {
            spw_event *ev = mk(pairs[i][0], pairs[i][1], SPW_OP_WRITE, 5, 0, NULL, 0);
            es_tpl fresh;
            es_tpl_compile(&fresh, srcs[k], &e);
            spw_buf a = SPW_BUF_INIT, b = SPW_BUF_INIT;
            spw_buf_append(&a, "pre", 3);
            spw_buf_append(&b, "pre", 3);
            const char *wa = NULL, *wb = NULL;
            spw_result ra = es_index_name(&t, ev, &a, &wa), rb = es_index_name(&fresh, ev, &b, &wb);
            if (ra == rb && a.len == b.len && !memcmp(a.data, b.data, a.len) &&
                (ra == SPW_OK || (wa && wb && !strcmp(wa, wb))))
                same++;
            else
                diag("%s, (%s, %s): cached %d '%.*s', fresh %d '%.*s'", srcs[k], pairs[i][0],
                     pairs[i][1] ? pairs[i][1] : "NULL", ra, (int)a.len, a.data, rb, (int)b.len,
                     b.data);
            spw_buf_free(&a);
            spw_buf_free(&b);
            es_tpl_free(&fresh);
            spw_event_unref(ev);
        }
        is_int(same, n, "%s: %zu names in a row, each the same as a fresh render's", srcs[k], n);
        es_tpl_free(&t);
    }
}

int main(void) {
    templates();
    template_cache();
    ids();
    actions();
    replies();
    return tap_done();
}

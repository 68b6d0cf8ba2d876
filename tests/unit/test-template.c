/*
 * tests/unit/test-template.c: ${var} templates of the SDK
 * (spillway/template.h, core/template.c): compiling, percent-encoding in
 * URLs, header values that cannot break a header line, JSON strings that
 * stay valid whatever the bytes, the idempotency key, and errors.
 */
#include <stdio.h>
#include <string.h>
#include <spillway/spillway.h>
#include "../tap.h"

static char *render(const char *tpl, const spw_event *ev, spw_tpl_escape esc) {
    static char out[1024];
    spw_template *t;
    spw_err err = {""};
    out[0] = '\0';
    if (spw_template_new(tpl, &t, &err) != SPW_OK) {
        snprintf(out, sizeof out, "ERROR: %s", err.msg);
        return out;
    }
    spw_buf b = SPW_BUF_INIT;
    if (spw_template_render(t, ev, esc, &b) == SPW_OK)
        snprintf(out, sizeof out, "%.*s", (int)b.len, (const char *)b.data);
    spw_buf_free(&b);
    spw_template_free(t);
    return out;
}

int main(void) {
    uint8_t digest[20];
    for (int i = 0; i < 20; i++)
        digest[i] = (uint8_t)(i * 13);
    spw_event *ev = spw_event_new(2, 256);
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_set(ev, "my set/x?\r\n", 11);
    spw_event_set_key(ev, SPW_PT_STRING, "a b&c=d", 7);
    spw_event_set_digest(ev, digest);
    spw_event_set_generation(ev, 7);
    spw_event_set_lut(ev, 1764115200123, 0);

    is_str(render("http://h/${namespace}/${set}?k=${key}&m=${msg}", ev, SPW_TPL_URL),
           "http://h/test/my%20set%2Fx%3F%0D%0A?k=a%20b%26c%3Dd&m=write",
           "URL values are percent-encoded: no new segment, parameter or line");
    is_str(render("/${digest}", ev, SPW_TPL_URL), "/000d1a2734414e5b6875828f9ca9b6c3d0ddeaf7",
           "${digest} is 40 hex digits");
    is_str(render("/${digest_base64}", ev, SPW_TPL_URL), "/AA0aJzRBTltodYKPnKm2w9Dd6vc%3D",
           "${digest_base64} is percent-encoded Base64");
    is_str(render("${gen}-${lut}", ev, SPW_TPL_URL), "7-1764115200123", "${gen} and ${lut}");
    is_str(render("X-Set: ${set}", ev, SPW_TPL_HEADER), "X-Set: my set/x?  ",
           "header values keep bytes but lose control characters");
    is_str(render("no variables", ev, SPW_TPL_URL), "no variables", "plain text stays");
    is_str(render("$ {set} $x ${", ev, SPW_TPL_URL), "ERROR: '$ {set} $x ${': unterminated '${'",
           "an unterminated variable is an error");
    has_str(render("/${nope}", ev, SPW_TPL_URL), "unknown variable '${nope}'", "an unknown variable is an error");

    spw_template *t;
    spw_err err;
    ok(spw_template_new("/plain", &t, &err) == SPW_OK && spw_template_is_constant(t),
       "a template without variables says so");
    is_str(spw_template_source(t), "/plain", "the source is kept");
    spw_template_free(t);
    ok(spw_template_new("/${set}", &t, &err) == SPW_OK && !spw_template_is_constant(t),
       "a template with a variable is not constant");
    spw_template_free(t);
    spw_template_free(NULL);

    is_str(render("${id}", ev, SPW_TPL_URL), "000d1a2734414e5b6875828f9ca9b6c3d0ddeaf7-1764115200123",
           "${id} is the hex digest, '-', the LUT");
    is_str(render("${id}", ev, SPW_TPL_JSON), render("${id}", ev, SPW_TPL_RAW),
           "${id} needs no escaping anywhere");
    is_str(render("{\"s\":\"${set}\",\"k\":\"${key}\"}", ev, SPW_TPL_JSON),
           "{\"s\":\"my set/x?\\r\\n\",\"k\":\"a b&c=d\"}",
           "JSON: control bytes escaped, the literal text kept");
    is_str(render("${set}", ev, SPW_TPL_RAW), "my set/x?\r\n", "RAW: the value as is");
    is_str(render("${digest_base64}", ev, SPW_TPL_RAW), "AA0aJzRBTltodYKPnKm2w9Dd6vc=",
           "RAW Base64 keeps its padding");
    is_str(render("$x$", ev, SPW_TPL_RAW), "$x$", "a '$' without '{' is literal");

    spw_event *ev2 = spw_event_new(0, 64);
    spw_event_set_op(ev2, SPW_OP_DELETE, true);
    spw_event_set_namespace(ev2, "ns", 2);
    spw_event_set_key(ev2, SPW_PT_INTEGER, "\xff\xff\xff\xff\xff\xff\xff\xfe", 8);
    spw_event_set_digest(ev2, digest);
    is_str(render("/${set}/${key}/${msg}", ev2, SPW_TPL_URL), "//-2/delete",
           "no set renders empty, an integer key in decimal, deletes say delete");
    spw_event *ev3 = spw_event_new(0, 64);
    spw_event_set_namespace(ev3, "ns", 2);
    spw_event_set_digest(ev3, digest);
    spw_event_set_key(ev3, SPW_PT_BLOB, "\xfb\xff", 2);
    is_str(render("${key}", ev3, SPW_TPL_URL), "%2B%2F8%3D", "a blob key is Base64, then percent-encoded");
    spw_event *ev4 = spw_event_new(0, 64);
    spw_event_set_namespace(ev4, "ns", 2);
    spw_event_set_digest(ev4, digest);
    is_str(render("k=${key}.", ev4, SPW_TPL_URL), "k=.", "no key renders empty");


    /* JSON: quotes and backslashes escaped, valid UTF-8 kept, anything else U+FFFD. */
    spw_event *ev5 = spw_event_new(0, 64);
    spw_event_set_namespace(ev5, "ns", 2);
    spw_event_set_digest(ev5, digest);
    spw_event_set_set(ev5, "q\"b\\\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\x7f", 14);
    is_str(render("${set}", ev5, SPW_TPL_JSON),
           "q\\\"b\\\\\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\\u007f",
           "JSON: quote, backslash, DEL escaped; 2-, 3- and 4-byte UTF-8 kept");
    static const struct {
        const char *in;
        size_t n;
        const char *out;
        const char *what;
    } bad[] = {
        {"\xff", 1, "\\ufffd", "a byte that never starts UTF-8"},
        {"\xc3", 1, "\\ufffd", "a truncated sequence"},
        {"\xc0\xaf", 2, "\\ufffd\\ufffd", "an overlong '/'"},
        {"\xed\xa0\x80", 3, "\\ufffd\\ufffd\\ufffd", "a UTF-16 surrogate"},
        {"\xf4\x90\x80\x80", 4, "\\ufffd\\ufffd\\ufffd\\ufffd", "a code point above U+10FFFF"},
        {"a\xe2\x82z", 4, "a\\ufffd\\ufffdz", "a sequence cut by ASCII"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        spw_event_set_set(ev5, bad[i].in, bad[i].n);
        is_str(render("${set}", ev5, SPW_TPL_JSON), bad[i].out, "JSON: %s", bad[i].what);
    }
    spw_event_set_key(ev5, SPW_PT_BLOB, "\xfb\xff", 2);
    is_str(render("${key}", ev5, SPW_TPL_JSON), "+/8=", "JSON: a blob key is plain Base64");
    spw_event_unref(ev5);

    spw_event_unref(ev);
    spw_event_unref(ev2);
    spw_event_unref(ev3);
    spw_event_unref(ev4);
    return tap_done();
}

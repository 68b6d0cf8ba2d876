/*
 * tests/unit/test-http-template.c: ${var} templates of the http sink
 * (plugins/sink-http/template.c): compiling, percent-encoding in URLs,
 * header values that cannot break a header line, and errors.
 */
#include <string.h>
#include "../../plugins/sink-http/sink.h"
#include "../tap.h"

static char *render(const char *tpl, const spw_event *ev, enum hs_enc enc) {
    static char out[1024];
    hs_tpl t;
    spw_err err = {""};
    out[0] = '\0';
    if (hs_tpl_compile(&t, tpl, &err) != SPW_OK) {
        snprintf(out, sizeof out, "ERROR: %s", err.msg);
        return out;
    }
    spw_buf b = SPW_BUF_INIT;
    if (hs_tpl_render(&t, ev, enc, &b) == SPW_OK)
        snprintf(out, sizeof out, "%.*s", (int)b.len, (const char *)b.data);
    spw_buf_free(&b);
    hs_tpl_free(&t);
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

    is_str(render("http://h/${namespace}/${set}?k=${key}&m=${msg}", ev, HS_ENC_URL),
           "http://h/test/my%20set%2Fx%3F%0D%0A?k=a%20b%26c%3Dd&m=write",
           "URL values are percent-encoded: no new segment, parameter or line");
    is_str(render("/${digest}", ev, HS_ENC_URL), "/000d1a2734414e5b6875828f9ca9b6c3d0ddeaf7",
           "${digest} is 40 hex digits");
    is_str(render("/${digest_base64}", ev, HS_ENC_URL), "/AA0aJzRBTltodYKPnKm2w9Dd6vc%3D",
           "${digest_base64} is percent-encoded Base64");
    is_str(render("${gen}-${lut}", ev, HS_ENC_URL), "7-1764115200123", "${gen} and ${lut}");
    is_str(render("X-Set: ${set}", ev, HS_ENC_HEADER), "X-Set: my set/x?  ",
           "header values keep bytes but lose control characters");
    is_str(render("no variables", ev, HS_ENC_URL), "no variables", "plain text stays");
    is_str(render("$ {set} $x ${", ev, HS_ENC_URL), "ERROR: '$ {set} $x ${': unterminated '${'",
           "an unterminated variable is an error");
    has_str(render("/${nope}", ev, HS_ENC_URL), "unknown variable '${nope}'", "an unknown variable is an error");

    hs_tpl t;
    spw_err err;
    hs_tpl_compile(&t, "/plain", &err);
    ok(!t.has_vars, "a template without variables says so");
    hs_tpl_free(&t);

    spw_event *ev2 = spw_event_new(0, 64);
    spw_event_set_op(ev2, SPW_OP_DELETE, true);
    spw_event_set_namespace(ev2, "ns", 2);
    spw_event_set_key(ev2, SPW_PT_INTEGER, "\xff\xff\xff\xff\xff\xff\xff\xfe", 8);
    spw_event_set_digest(ev2, digest);
    is_str(render("/${set}/${key}/${msg}", ev2, HS_ENC_URL), "//-2/delete",
           "no set renders empty, an integer key in decimal, deletes say delete");
    spw_event *ev3 = spw_event_new(0, 64);
    spw_event_set_namespace(ev3, "ns", 2);
    spw_event_set_digest(ev3, digest);
    spw_event_set_key(ev3, SPW_PT_BLOB, "\xfb\xff", 2);
    is_str(render("${key}", ev3, HS_ENC_URL), "%2B%2F8%3D", "a blob key is Base64, then percent-encoded");
    spw_event *ev4 = spw_event_new(0, 64);
    spw_event_set_namespace(ev4, "ns", 2);
    spw_event_set_digest(ev4, digest);
    is_str(render("k=${key}.", ev4, HS_ENC_URL), "k=.", "no key renders empty");

    is_int(hs_url_path_start("http://h:80/a?b"), 11, "the path starts after the authority");
    is_int(hs_url_path_start("https://u@h?q"), 11, "...or at the query");
    is_int(hs_url_path_start("HTTPS://h"), 9, "...or at the end");
    ok(hs_url_path_start("ftp://h/") == (size_t)-1, "non-HTTP URLs are refused");

    spw_event_unref(ev);
    spw_event_unref(ev2);
    spw_event_unref(ev3);
    spw_event_unref(ev4);
    return tap_done();
}

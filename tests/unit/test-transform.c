/*
 * tests/unit/test-transform.c: route bin/metadata transforms: compile-time
 * errors and what a codec sees through the shadow event.
 */
#include <string.h>
#include <spillway/spillway.h>
#include "../tap.h"
#include "transform.h"

static spw_strlist list(size_t n, char **v) { return (spw_strlist){n, v}; }

static spw_event *sample(void) {
    spw_event *ev = spw_event_new(4, 256);
    uint8_t one[8] = {0, 0, 0, 0, 0, 0, 0, 1};
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_add_bin(ev, "a", 1, SPW_PT_INTEGER, one, 8, 0);
    spw_event_add_bin(ev, "b", 1, SPW_PT_STRING, "x", 1, 0);
    spw_event_add_bin(ev, "c", 1, SPW_PT_STRING, "y", 1, 0);
    return ev;
}

static const char *names(const spw_event *ev, char *buf) {
    buf[0] = 0;
    for (size_t i = 0; i < spw_event_bin_count(ev); i++) {
        spw_str n = spw_event_bin(ev, i)->name;
        strncat(buf, n.ptr, n.len);
        strcat(buf, i + 1 < spw_event_bin_count(ev) ? "," : "");
    }
    return buf;
}

int main(void) {
    spw_strlist none = list(0, NULL);
    spw__xform x;
    spw_err err = {""};
    char buf[128];
    struct spw_event shadow;
    spw__xform_scratch scratch = {NULL, 0};
    spw_event *ev = sample();

    char *inc[] = {"a", "c"}, *exc[] = {"b"}, *ren[] = {"a:alpha", "c:gamma"};
    char *bad1[] = {"noseparator"}, *bad2[] = {":x"}, *bad3[] = {"x:"}, *twice[] = {"a:x", "a:y"};
    char *meta[] = {"gen", "lut"}, *badmeta[] = {"colour"};

    is_int(spw__xform_compile(&none, &none, &none, &none, &x, &err), SPW_OK, "empty transform compiles");
    ok(!x.active, "empty transform is inactive");
    ok(spw__xform_apply(&x, ev, &shadow, &scratch) == ev, "inactive transform passes the event itself");
    spw__xform_free(&x);

    spw_strlist l_inc = list(2, inc), l_exc = list(1, exc);
    is_int(spw__xform_compile(&l_inc, &l_exc, &none, &none, &x, &err), SPW_ERR_CONFIG, "include + exclude refused");
    has_str(err.msg, "cannot both be given", "says why");

    spw_strlist l1 = list(1, bad1), l2 = list(1, bad2), l3 = list(1, bad3), l4 = list(2, twice);
    is_int(spw__xform_compile(&none, &none, &l1, &none, &x, &err), SPW_ERR_CONFIG, "rename without ':' refused");
    has_str(err.msg, "noseparator", "names the item");
    is_int(spw__xform_compile(&none, &none, &l2, &none, &x, &err), SPW_ERR_CONFIG, "rename with empty OLD refused");
    is_int(spw__xform_compile(&none, &none, &l3, &none, &x, &err), SPW_ERR_CONFIG, "rename with empty NEW refused");
    is_int(spw__xform_compile(&none, &none, &l4, &none, &x, &err), SPW_ERR_CONFIG, "renaming a bin twice refused");
    has_str(err.msg, "'a' twice", "names the bin");
    spw_strlist lbm = list(1, badmeta);
    is_int(spw__xform_compile(&none, &none, &none, &lbm, &x, &err), SPW_ERR_CONFIG, "unknown metadata field refused");
    has_str(err.msg, "colour", "names the field");

    is_int(spw__xform_compile(&l_inc, &none, &none, &none, &x, &err), SPW_OK, "include compiles");
    const spw_event *v = spw__xform_apply(&x, ev, &shadow, &scratch);
    is_str(names(v, buf), "a,c", "include keeps only the listed bins, in order");
    ok(spw_event_find_bin(v, "b", 1) == NULL, "an excluded bin cannot be found either");
    is_int(spw_event_bin_count(ev), 3, "the event itself is untouched");
    spw__xform_free(&x);

    is_int(spw__xform_compile(&none, &l_exc, &none, &none, &x, &err), SPW_OK, "exclude compiles");
    is_str(names(spw__xform_apply(&x, ev, &shadow, &scratch), buf), "a,c", "exclude drops the listed bins");
    spw__xform_free(&x);

    spw_strlist l_ren = list(2, ren), l_meta = list(2, meta);
    is_int(spw__xform_compile(&none, &l_exc, &l_ren, &l_meta, &x, &err), SPW_OK, "rename + metadata compile");
    v = spw__xform_apply(&x, ev, &shadow, &scratch);
    is_str(names(v, buf), "alpha,gamma", "renamed bins carry their new names");
    ok(spw_event_find_bin(v, "gamma", 5) != NULL, "a renamed bin is found by its new name");
    ok(!spw_event_meta_wanted(v, SPW_META_GEN) && !spw_event_meta_wanted(v, SPW_META_LUT),
       "excluded metadata is not wanted");
    ok(spw_event_meta_wanted(v, SPW_META_DIGEST), "other metadata still wanted");
    ok(spw_event_meta_wanted(ev, SPW_META_GEN), "the event itself wants everything");
    {
        spw_str ns = spw_event_namespace(v);
        ok(ns.len == 4 && memcmp(ns.ptr, "test", 4) == 0, "metadata values pass through");
    }
    spw__xform_free(&x);

    free(scratch.bins);
    spw_event_unref(ev);
    return tap_done();
}

/*
 * plugins/filter-expr/fuzz-expr.c: libFuzzer target for the expr filter's
 * lexer, parser and checker (and, for what compiles, the evaluator, on an
 * event holding every kind of bin). The input is the expression's text;
 * its first byte chooses between the filter's bool-only mode and any
 * result type, and whether the text is read as a file (line:column
 * messages). Any crash, leak, sanitizer report or message that is not
 * NUL-terminated within its buffer is a finding.
 */
#include <stdlib.h>
#include <string.h>
#include <spillway/spillway.h>
#include "expr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static spw_event *sample(void) {
    static const uint8_t list[] = {0x94, 0xa2, 0x03, 'a', 0x01, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0,
                                   0x92, 0xc0, 0xc3};
    static const uint8_t map[] = {0x83, 0xa2, 0x03, 'k', 0x05, 0x01, 0xa3, 0x03, 'o', 'n',
                                  0xa2, 0x03, 'm', 0x81, 0xa2, 0x03, 'x', 0x90};
    static const uint8_t i[8] = {0, 0, 0, 0, 0, 0, 0, 42};
    static const uint8_t d[8] = {0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18};
    static const uint8_t geo[] = {0, 0, 0, '{', '}'};
    uint8_t one = 1, digest[20] = {1, 2, 3};
    spw_event *ev = spw_event_new(12, 512);
    if (!ev)
        abort();
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_set(ev, "orders", 6);
    spw_event_set_key(ev, SPW_PT_INTEGER, i, 8);
    spw_event_set_digest(ev, digest);
    spw_event_set_generation(ev, 7);
    spw_event_set_lut(ev, 1700000000000, 0);
    spw_event_set_port(ev, 8901);
    spw_event_add_bin(ev, "amount", 6, SPW_PT_INTEGER, i, 8, 0);
    spw_event_add_bin(ev, "price", 5, SPW_PT_DOUBLE, d, 8, 0);
    spw_event_add_bin(ev, "name", 4, SPW_PT_STRING, "Al\xc3\xa9", 4, 0);
    spw_event_add_bin(ev, "tags", 4, SPW_PT_LIST, list, sizeof list, 0);
    spw_event_add_bin(ev, "m", 1, SPW_PT_MAP, map, sizeof map, 0);
    spw_event_add_bin(ev, "b", 1, SPW_PT_BLOB, "\x00\x01", 2, 0);
    spw_event_add_bin(ev, "t", 1, SPW_PT_BOOL, &one, 1, 0);
    spw_event_add_bin(ev, "g", 1, SPW_PT_GEOJSON, geo, sizeof geo, 0);
    spw_event_add_bin(ev, "n", 1, SPW_PT_NIL, NULL, 0, 0);
    spw_event_add_bin(ev, "bad", 3, SPW_PT_LIST, "\x95\x01", 2, 0); /* truncated */
    return ev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static spw_event *ev;
    if (!ev)
        ev = sample();
    if (size == 0)
        return 0;
    bool any = data[0] & 1, file = data[0] & 2;
    char err[512];
    memset(err, 'x', sizeof err);
    ex_prog *p = NULL;
    if (ex_compile((const char *)data + 1, size - 1, file ? "f.cel" : NULL, any, &p, err,
                   sizeof err)) {
        const char *why;
        ex_outcome o = ex_eval(p, ev, &why);
        ex_val v = ex_eval_value(p, ev);
        char buf[256];
        ex_val_format(p, ev, &v, buf, sizeof buf);
        if (o == EX_ERROR && !why)
            abort();
        ex_free(p);
    } else if (p != NULL || !memchr(err, 0, sizeof err)) {
        abort();
    }
    return 0;
}

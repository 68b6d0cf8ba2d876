/*
 * tests/unit/test-expr.c: the expr filter's engine (plugins/filter-expr):
 * lexer, parser, checker and evaluator, on events built through the SDK,
 * and that evaluation allocates nothing (malloc counted around it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spillway/spillway.h>
#include "../tap.h"
#include "../../plugins/filter-expr/expr.h"

static spw_event *sample(void) {
    spw_event *ev = spw_event_new(16, 1024);
    static const uint8_t tags[] = {0x93, 0xa2, 0x03, 'a', 0xa2, 0x03, 'b', 0x03};
    static const uint8_t profile[] = {0x82, 0xa8, 0x03, 'c', 'o', 'u', 'n', 't', 'r', 'y',
                                      0xa3, 0x03, 'F', 'R', 0xa4, 0x03, 'a', 'g', 'e', 0x1e};
    /* An ordered list [[1, 2], {"k": -1}] with its order marker. */
    static const uint8_t nested[] = {0x93, 0xc7, 0x00, 0x01, 0x92, 0x01, 0x02,
                                     0x81, 0xa2, 0x03, 'k', 0xff};
    uint8_t i150[8] = {0, 0, 0, 0, 0, 0, 0, 150}, dbl[8], one = 1;
    double d = 9.5;
    uint64_t bits;
    memcpy(&bits, &d, 8);
    for (int i = 0; i < 8; i++)
        dbl[i] = (uint8_t)(bits >> (56 - 8 * i));
    static const uint8_t geo[] = {0, 0, 0, '{', '}'};
    uint8_t digest[20];
    for (int i = 0; i < 20; i++)
        digest[i] = (uint8_t)i;
    spw_event_set_op(ev, SPW_OP_WRITE, false);
    spw_event_set_namespace(ev, "test", 4);
    spw_event_set_set(ev, "orders", 6);
    spw_event_set_key(ev, SPW_PT_STRING, "k1", 2);
    spw_event_set_digest(ev, digest);
    spw_event_set_generation(ev, 3);
    spw_event_set_lut(ev, 1700000000000, 0);
    spw_event_set_port(ev, 3000);
    spw_event_add_bin(ev, "amount", 6, SPW_PT_INTEGER, i150, 8, 0);
    spw_event_add_bin(ev, "price", 5, SPW_PT_DOUBLE, dbl, 8, 0);
    spw_event_add_bin(ev, "name", 4, SPW_PT_STRING, "Alice", 5, 0);
    spw_event_add_bin(ev, "tags", 4, SPW_PT_LIST, tags, sizeof tags, 0);
    spw_event_add_bin(ev, "profile", 7, SPW_PT_MAP, profile, sizeof profile, 0);
    spw_event_add_bin(ev, "blob", 4, SPW_PT_BLOB, "\x01\x02", 2, 0);
    spw_event_add_bin(ev, "flag", 4, SPW_PT_BOOL, &one, 1, 0);
    spw_event_add_bin(ev, "geo", 3, SPW_PT_GEOJSON, geo, sizeof geo, 0);
    spw_event_add_bin(ev, "odd name", 8, SPW_PT_STRING, "x", 1, 0);
    spw_event_add_bin(ev, "gone", 4, SPW_PT_NIL, NULL, 0, 0);
    spw_event_add_bin(ev, "nested", 6, SPW_PT_LIST, nested, sizeof nested, 0);
    spw_event_add_bin(ev, "hll", 3, SPW_PT_HLL, "\x00\x01", 2, 0);
    spw_event_add_bin(ev, "uname", 5, SPW_PT_STRING, "\xc3\xa9t\xc3\xa9", 5, 0);
    return ev;
}

static const struct {
    const char *src, *want;
} evals[] = {
    /* literals and arithmetic */
    {"1 + 2 * 3", "i:7"},
    {"(1 + 2) * 3", "i:9"},
    {"7 / 2", "i:3"},
    {"-7 % 3", "i:-1"},
    {"2u + 3u", "u:5"},
    {"0x10", "i:16"},
    {"1.5 + 2.0", "d:3.5"},
    {"1e3", "d:1000"},
    {".5", "d:0.5"},
    {"-9223372036854775808", "i:-9223372036854775808"},
    {"9223372036854775807 + 1", "error"},
    {"-9223372036854775807 - 2", "error"},
    {"1 / 0", "error"},
    {"1 % 0", "error"},
    {"0u - 1u", "error"},
    {"1.0 / 0.0", "d:inf"},
    {"'a' + \"b\"", "s:6162"},
    {"b'\\x00\\xff' + b'a'", "b:00ff61"},
    {"'\\u00e9'", "s:c3a9"},
    {"'\\x41\\101'", "s:4141"},
    {"r'\\n'", "s:5c6e"},
    {"'\\xff'", "s:c3bf"},
    {"null", "null"},
    {"[1, 'a', true]", "[i:1,s:61,true]"},
    {"[1, 2,]", "[i:1,i:2]"},
    /* comparisons, heterogeneous numbers */
    {"1 == 1.0", "true"},
    {"1 == 1u", "true"},
    {"-1 < 1u", "true"},
    {"2 > 1.5", "true"},
    {"9007199254740993 > 9007199254740992.0", "true"},
    {"'abc' < 'abd'", "true"},
    {"b'a' < b'b'", "true"},
    {"false < true", "true"},
    {"[1, 2] == [1, 2.0]", "true"},
    {"[1, 2] == [1, 3]", "false"},
    {"null == null", "true"},
    {"1 != 2", "true"},
    {"0.0 / 0.0 == 0.0 / 0.0", "false"},
    {"0.0 / 0.0 != 0.0 / 0.0", "true"},
    {"2 in [1, 2, 3]", "true"},
    {"'z' in ['a']", "false"},
    /* logic with errors (CEL commutative short-circuit) */
    {"false && 1 / 0 == 1", "false"},
    {"1 / 0 == 1 && false", "false"},
    {"true || 1 / 0 == 1", "true"},
    {"1 / 0 == 1 || true", "true"},
    {"true && 1 / 0 == 1", "error"},
    {"1 / 0 == 1 || false", "error"},
    {"!true", "false"},
    {"true ? 1 : 2", "i:1"},
    {"false ? 1 : 2 + 3", "i:5"},
    {"1 / 0 == 1 ? 1 : 2", "error"},
    {"true ? (false ? 1 : 2) : 3", "i:2"},
    {"false ? 1 : true ? 2 : 3", "i:2"},
    /* metadata */
    {"namespace", "s:74657374"},
    {"set == 'orders'", "true"},
    {"msg", "s:7772697465"},
    {"durable", "false"},
    {"gen", "i:3"},
    {"lut", "i:1700000000000"},
    {"exp", "i:0"},
    {"size(digest)", "i:20"},
    {"key", "s:6b31"},
    {"port == 3000", "true"},
    /* bins */
    {"bins.amount", "i:150"},
    {"bins.amount > 100", "true"},
    {"set == \"orders\" && bins.amount > 100", "true"},
    {"bins.price", "d:9.5"},
    {"bins.price > bins.amount", "false"},
    {"bins.name", "s:416c696365"},
    {"bins['odd name']", "s:78"},
    {"bins.tags", "[s:61,s:62,i:3]"},
    {"bins.tags[1]", "s:62"},
    {"bins.tags[2] + 1", "i:4"},
    {"bins.tags[3]", "error"},
    {"bins.tags[-1]", "error"},
    {"'a' in bins.tags", "true"},
    {"3 in bins.tags", "true"},
    {"'c' in bins.tags", "false"},
    {"size(bins.tags)", "i:3"},
    {"bins.tags.size()", "i:3"},
    {"bins.profile.country", "s:4652"},
    {"bins.profile['age'] == 30", "true"},
    {"bins.profile.city", "error"},
    {"'age' in bins.profile", "true"},
    {"has(bins.profile.city)", "false"},
    {"has(bins.profile.country)", "true"},
    {"size(bins.profile)", "i:2"},
    {"bins.blob", "b:0102"},
    {"bins.hll", "b:0001"},
    {"bins.flag", "true"},
    {"bins.geo", "s:7b7d"},
    {"bins.gone", "null"},
    {"has(bins.gone)", "true"},
    {"bins.missing", "error"},
    {"bins.missing > 1", "error"},
    {"has(bins.missing)", "false"},
    {"has(bins.amount)", "true"},
    {"'amount' in bins", "true"},
    {"size(bins)", "i:13"},
    {"bins.nested[0][1]", "i:2"},
    {"bins.nested[1].k", "i:-1"},
    {"bins.nested == [[1, 2], [3]]", "false"},
    {"bins.nested[0] == [1, 2]", "true"},
    {"bins.amount + 1.5", "error"},
    {"double(bins.amount) + 1.5", "d:151.5"},
    {"int(bins.price)", "i:9"},
    {"int('42') + 1", "i:43"},
    {"int('4x')", "error"},
    {"uint(-1)", "error"},
    {"bins.name.size()", "i:5"},
    {"size(bins.uname)", "i:3"},
    {"size(b'\\xc3\\xa9')", "i:2"},
    {"bins.name.startsWith('Al')", "true"},
    {"bins.name.endsWith('ce')", "true"},
    {"bins.name.contains('lic')", "true"},
    {"bins.name.contains('')", "true"},
    {"bins.name.startsWith('x')", "false"},
    {"bins.name.matches('^A.*e$')", "true"},
    {"bins.name.matches('li')", "true"},
    {"matches(bins.name, '^l')", "false"},
    {"bins.uname.matches('^.t.$')", "true"},
    {"bins.amount.matches('1')", "error"},
    {"bins.amount.startsWith('1')", "error"},
    {"type(1) == int", "true"},
    {"type(bins.tags) == list", "true"},
    {"type(bins.profile)", "type:map"},
    {"type(bins.name) == string", "true"},
    {"type(bins.price) == double", "true"},
    {"type(int)", "type:type"},
    {"type(null) == null_type", "true"},
    {"bins.name + '!' == 'Alice!'", "true"},
    {"// a comment\n bins.amount == 150", "true"},
};

static const struct {
    const char *src, *msg, *at;
} errors[] = {
    {"set == ", "column 8: expected an expression", "\n           ^"},
    {"sett == 'x'", "column 1: unknown name 'sett'", "\n    ^"},
    {"set = 'x'", "column 5: '=' is not an operator", NULL},
    {"set == 'x", "column 8: unterminated string literal", NULL},
    {"foo(1)", "column 1: unknown function 'foo'", NULL},
    {"set == 1", "column 5: no operator '==' for string and int", NULL},
    {"set > 1", "no operator '>' for string and int", NULL},
    {"1 + 'a'", "no operator '+' for int and string", NULL},
    {"1 + 1.0", "no operator '+' for int and double", NULL},
    {"set", "must be a bool", NULL},
    {"1 + 2", "must be a bool", NULL},
    {"!1", "no operator '!' for int", NULL},
    {"1 && true", "operands of '&&' must be bool", NULL},
    {"set.size(1)", "wrong number of arguments", NULL},
    {"size(1)", "size() of int", NULL},
    {"set.startsWith(1)", "must be a string", NULL},
    {"bins.x.matches(set)", "must be a string literal", NULL},
    {"bins.x.matches('(')", "invalid regular expression", NULL},
    {"has(bins)", "field selection", NULL},
    {"set.x == 1", "type string has no fields", NULL},
    {"1 in 2", "'in' needs a list or a map", NULL},
    {"gen[0] == 1", "cannot index a value of type int", NULL},
    {"{1: 2}", "map literals are not supported", NULL},
    {"(set == 'a'", "expected ')'", NULL},
    {"set == 'a')", "expected an operator or the end", NULL},
    {"9223372036854775808 > 1", "out of range", NULL},
    {"99999999999999999999 > 1", "out of range", NULL},
    {"'\\q' == set", "invalid escape", NULL},
    {"b'\\u0041' == digest", "not allowed in bytes", NULL},
    {"12abc == 1", "malformed number", NULL},
    {"", "empty expression", NULL},
    {"size(set)\n  == 3 &&\n  sett", "line 3, column 3: unknown name 'sett'", NULL},
    {"bins.tags.exists(x, x == 1)", "unknown function 'exists'", NULL},
    {"startsWith(set, 'a')", "is a method", NULL},
    {"set.type()", "is not a method", NULL},
    {"set # 1", "unexpected character", NULL},
    {"true ? false ? 1 : 2 : 3", "expected ':'", NULL},
};

/* Allocator calls counted for the no-allocation check; glibc does the work.
 * Not under ASan, which owns malloc. */
#if defined(__SANITIZE_ADDRESS__)
#define COUNTED 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNTED 0
#endif
#endif
#ifndef COUNTED
#define COUNTED 1
#endif
static size_t allocs;
#if COUNTED
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
SPW_API void *malloc(size_t n);
SPW_API void *calloc(size_t a, size_t b);
SPW_API void *realloc(void *p, size_t n);
void *malloc(size_t n) {
    allocs++;
    return __libc_malloc(n);
}
void *calloc(size_t a, size_t b) {
    allocs++;
    return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n) {
    allocs++;
    return __libc_realloc(p, n);
}
#endif

/* A test name on one line (TAP). */
static const char *oneline(const char *s) {
    static char b[256];
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof b; i++)
        b[i] = s[i] == '\n' ? ' ' : s[i];
    b[i] = 0;
    return b;
}

int main(void) {
    spw_event *ev = sample();
    char buf[1024], err[512];
    for (size_t i = 0; i < sizeof evals / sizeof evals[0]; i++) {
        ex_prog *p = NULL;
        bool okc = ex_compile(evals[i].src, strlen(evals[i].src), NULL, true, &p, err, sizeof err);
        if (!ok(okc, "compiles: %s", oneline(evals[i].src))) {
            diag("%s", err);
            continue;
        }
        ex_val v = ex_eval_value(p, ev);
        ex_val_format(p, ev, &v, buf, sizeof buf);
        is_str(buf, evals[i].want, "%s", oneline(evals[i].src));
        ex_free(p);
    }
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        ex_prog *p = NULL;
        bool okc = ex_compile(errors[i].src, strlen(errors[i].src), NULL, false, &p, err, sizeof err);
        ok(!okc && p == NULL, "refused: %s", oneline(errors[i].src));
        has_str(err, errors[i].msg, "message for %s", oneline(errors[i].src));
        if (errors[i].at)
            has_str(err, errors[i].at, "caret for %s", errors[i].src);
        ex_free(p);
    }
    /* A file origin gives PATH:LINE:COL. */
    {
        ex_prog *p = NULL;
        ok(!ex_compile("true &&\nbins.x.size( == 1", 25, "rules.cel", false, &p, err, sizeof err),
           "file: refused");
        has_str(err, "rules.cel:2:14: expected an expression", "file: path:line:col");
    }
    /* Carriage returns before the error (found by the fuzzer: the line window overran). */
    {
        char src[200];
        memset(src, '\r', 90);
        strcpy(src + 90, "has(\xe2>, b in ?");
        ex_prog *p = NULL;
        ok(!ex_compile(src, strlen(src), NULL, false, &p, err, sizeof err), "CRs: refused");
        has_str(err, "column 95", "CRs: the column counts them");
        ok(strchr(err, '^') != NULL, "CRs: caret");
    }
    /* ex_eval outcomes. */
    {
        ex_prog *p;
        const char *why = NULL;
        ok(ex_compile("bins.amount > 100", 17, NULL, false, &p, err, sizeof err), "outcome: compiles");
        is_int(ex_eval(p, ev, &why), EX_TRUE, "outcome: true");
        ex_free(p);
        ok(ex_compile("bins.nope > 100", 15, NULL, false, &p, err, sizeof err), "outcome: compiles 2");
        is_int(ex_eval(p, ev, &why), EX_ERROR, "outcome: error");
        is_str(why, "no such key", "outcome: why");
        ex_free(p);
        ok(ex_compile("bins.name", 9, NULL, false, &p, err, sizeof err), "dyn result compiles");
        is_int(ex_eval(p, ev, &why), EX_ERROR, "outcome: non-bool is an error");
        ex_free(p);
        ok(ex_compile("bins.name.matches('^A') && bins.name.matches('e$')", 50, NULL, false, &p, err,
                      sizeof err),
           "two regexes compile");
        is_int((int)ex_prog_regexes(p), 2, "two regexes");
        ex_free(p);
    }
    /* Evaluation allocates nothing. */
    if (!COUNTED) {
        diag("allocations not counted under ASan");
    } else {
        size_t start = allocs;
        ex_prog *p0;
        ok(ex_compile("bins.a > 1", 10, NULL, false, &p0, err, sizeof err), "counting: compiles");
        ok(allocs > start, "counting works: compiling allocates (%zu calls)", allocs - start);
        ex_free(p0);
        static const char *const progs[] = {
            "set == 'orders' && bins.amount > 100",
            "bins.name.matches('^A.*e$') && 'a' in bins.tags && bins.profile.country == 'FR'",
            "bins.nested[1].k == -1 && bins.name + 'x' == 'Alicex' && size(bins) > 3",
            "bins.missing > 1 || type(bins.price) == double",
        };
        for (size_t i = 0; i < sizeof progs / sizeof progs[0]; i++) {
            ex_prog *p;
            ok(ex_compile(progs[i], strlen(progs[i]), NULL, false, &p, err, sizeof err), "noalloc: %s",
               progs[i]);
            size_t before = allocs;
            ex_outcome o = EX_ERROR;
            for (int k = 0; k < 100; k++)
                o = ex_eval(p, ev, NULL);
            is_int((int)(allocs - before), 0, "no allocation in 100 evaluations of %s", progs[i]);
            is_int(o, EX_TRUE, "noalloc: true");
            ex_free(p);
        }
    }
    spw_event_unref(ev);
    return tap_done();
}

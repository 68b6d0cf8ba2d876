/*
 * plugins/filter-expr/eval.c: evaluation of a checked program on one
 * event. Every intermediate value lives on the C stack; strings, bytes,
 * lists and maps point into the event (or the program's literals), so
 * nothing is allocated per event. A bin is found by name
 * (spw_event_find_bin) and decoded only when the expression reaches it; a
 * list or map bin is walked with the SDK walker only as far as an index,
 * a key or a comparison needs. String concatenation, the one operation
 * that makes new bytes, writes into a scratch area allocated once with
 * the program and reset per evaluation.
 *
 * Errors follow CEL: a missing key, an index out of range, an overflow,
 * an operator applied to the wrong runtime type give an error value,
 * which `&&` and `||` absorb when the other side decides the result
 * (false && error == false, true || error == true).
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ast.h"


typedef struct ctx {
    ex_prog *p;
    const spw_event *ev;
    uint8_t *scratch;
    size_t used;
} ctx;

/* Keeps the rarely used, stack-hungry helpers (walkers) out of eval's own frame. */
#define NOINLINE __attribute__((noinline))

static inline ex_val err(const char *why) { return (ex_val){.k = XV_ERR, .u.err = why}; }
static inline ex_val vbool(bool b) { return (ex_val){.k = XV_BOOL, .u.b = b}; }
static inline ex_val vint(int64_t i) { return (ex_val){.k = XV_INT, .u.i = i}; }
static inline ex_val vstr(uint8_t k, const void *p, size_t n) {
    return (ex_val){.k = k, .u.s = {(const uint8_t *)p, n}};
}

static ex_val eval(ctx *c, int i);

/* ---- wire values ---- */

/* Count of a MessagePack list or map, read through the walker's header. */
NOINLINE static ex_val coll_val(uint8_t k, const uint8_t *p, size_t n) {
    spw_walker w;
    spw_item it;
    spw_value v = {SPW_PT_LIST, p, n};
    if (spw_walk_init(&w, &v) != SPW_OK || spw_walk_next(&w, &it) != SPW_OK ||
        (it.kind != SPW_ITEM_LIST && it.kind != SPW_ITEM_MAP))
        return err("malformed list or map value");
    return (ex_val){.k = it.kind == SPW_ITEM_LIST ? XV_LIST : XV_MAP,
                    .src = XC_MSGPACK,
                    .u.c = {p, n, it.u.coll.count, -1}};
    (void)k;
}

static ex_val bin_val(const spw_value *v) {
    switch (v->type) {
    case SPW_PT_NIL:
        return (ex_val){.k = XV_NULL};
    case SPW_PT_INTEGER: {
        if (v->len != 8 || !v->data)
            return err("malformed integer value");
        uint64_t u;
        memcpy(&u, v->data, 8);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        u = __builtin_bswap64(u);
#endif
        /* Two's complement without an implementation-defined cast. */
        return vint(u <= (uint64_t)INT64_MAX ? (int64_t)u
                                             : (int64_t)(u - (uint64_t)INT64_MAX - 1u) + INT64_MIN);
    }
    case SPW_PT_DOUBLE: {
        double d;
        if (spw_value_double(v, &d) != SPW_OK)
            return err("malformed double value");
        return (ex_val){.k = XV_DOUBLE, .u.d = d};
    }
    case SPW_PT_BOOL: {
        bool b;
        return spw_value_bool(v, &b) == SPW_OK ? vbool(b) : err("malformed bool value");
    }
    case SPW_PT_STRING:
        return vstr(XV_STRING, v->data, v->len);
    case SPW_PT_GEOJSON: {
        spw_geojson g;
        if (spw_value_geojson(v, &g) != SPW_OK)
            return err("malformed GeoJSON value");
        return vstr(XV_STRING, g.text.ptr, g.text.len);
    }
    case SPW_PT_LIST:
    case SPW_PT_MAP:
        return coll_val(0, v->data, v->len);
    default:
        if (spw_particle_is_blob(v->type) || v->type == SPW_PT_HLL || v->type == SPW_PT_VECTOR)
            return vstr(XV_BYTES, v->data, v->len);
        return err("unsupported particle type");
    }
}

/* Skips the n items under a container just read (pairs count twice). */
static bool skip_children(spw_walker *w, const spw_item *it) {
    uint64_t left = it->kind == SPW_ITEM_MAP ? 2ull * it->u.coll.count : it->u.coll.count;
    spw_item x;
    while (left > 0) {
        if (spw_walk_next(w, &x) != SPW_OK)
            return false;
        left--;
        if (x.kind == SPW_ITEM_LIST)
            left += x.u.coll.count;
        else if (x.kind == SPW_ITEM_MAP)
            left += 2ull * x.u.coll.count;
    }
    return true;
}

/* Reads the next item of a walk as a value; containers are skipped over and returned whole. */
NOINLINE static ex_val walk_val(spw_walker *w) {
    const uint8_t *start = w->p;
    spw_item it;
    if (spw_walk_next(w, &it) != SPW_OK)
        return err("malformed list or map value");
    switch (it.kind) {
    case SPW_ITEM_NIL: return (ex_val){.k = XV_NULL};
    case SPW_ITEM_BOOL: return vbool(it.u.b);
    case SPW_ITEM_INT: return vint(it.u.i);
    case SPW_ITEM_UINT: return (ex_val){.k = XV_UINT, .u.u = it.u.u};
    case SPW_ITEM_DOUBLE: return (ex_val){.k = XV_DOUBLE, .u.d = it.u.d};
    case SPW_ITEM_STR: return vstr(XV_STRING, it.u.bytes.ptr, it.u.bytes.len);
    case SPW_ITEM_BYTES: return vstr(XV_BYTES, it.u.bytes.ptr, it.u.bytes.len);
    case SPW_ITEM_LIST:
    case SPW_ITEM_MAP:
        if (!skip_children(w, &it))
            return err("malformed list or map value");
        return (ex_val){.k = it.kind == SPW_ITEM_LIST ? XV_LIST : XV_MAP,
                        .src = XC_MSGPACK,
                        .u.c = {start, (size_t)(w->p - start), it.u.coll.count, -1}};
    default:
        return err("unsupported value in a list or map");
    }
}

static bool walk_open(const ex_val *v, spw_walker *w) {
    spw_value sv = {SPW_PT_LIST, v->u.c.p, v->u.c.n};
    spw_item it;
    return spw_walk_init(w, &sv) == SPW_OK && spw_walk_next(w, &it) == SPW_OK;
}

/* ---- list iteration over literal and wire lists ---- */

typedef struct list_it {
    const ex_val *v;
    uint32_t i;
    spw_walker w;
} list_it;

static bool list_begin(list_it *li, const ex_val *v) {
    li->v = v;
    li->i = 0;
    return v->src != XC_MSGPACK || walk_open(v, &li->w);
}

/* 1: *out is the next element; 0: the end. */
static int list_next(ctx *c, list_it *li, ex_val *out) {
    if (li->i >= li->v->u.c.count)
        return 0;
    if (li->v->src == XC_LITERAL) {
        const ex_node *n = &c->p->nodes[li->v->u.c.node];
        *out = eval(c, c->p->kids[n->first + (int)li->i]);
    } else {
        *out = walk_val(&li->w);
    }
    li->i++;
    return 1;
}

/* ---- equality and ordering ---- */

static bool is_num(uint8_t k) { return k == XV_INT || k == XV_UINT || k == XV_DOUBLE; }

/* Compares an int with a double exactly. -2: unordered (NaN). */
static int cmp_int_double(int64_t i, double d) {
    if (isnan(d))
        return -2;
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    int64_t t = (int64_t)d; /* truncates toward zero, in range */
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int cmp_uint_double(uint64_t u, double d) {
    if (isnan(d))
        return -2;
    if (d >= 18446744073709551616.0)
        return -1;
    if (d < 0)
        return 1;
    uint64_t t = (uint64_t)d;
    if (u != t)
        return u < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : 0;
}

/* -1, 0, 1; -2 unordered (NaN); -3 not comparable. */
static int cmp_num(const ex_val *a, const ex_val *b) {
    switch (a->k * 16 + b->k) {
    case XV_INT * 16 + XV_INT: return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
    case XV_UINT * 16 + XV_UINT: return a->u.u < b->u.u ? -1 : a->u.u > b->u.u;
    case XV_DOUBLE * 16 + XV_DOUBLE:
        if (isnan(a->u.d) || isnan(b->u.d))
            return -2;
        return a->u.d < b->u.d ? -1 : a->u.d > b->u.d;
    case XV_INT * 16 + XV_UINT:
        if (a->u.i < 0)
            return -1;
        return (uint64_t)a->u.i < b->u.u ? -1 : (uint64_t)a->u.i > b->u.u;
    case XV_UINT * 16 + XV_INT:
        if (b->u.i < 0)
            return 1;
        return a->u.u < (uint64_t)b->u.i ? -1 : a->u.u > (uint64_t)b->u.i;
    case XV_INT * 16 + XV_DOUBLE: return cmp_int_double(a->u.i, b->u.d);
    case XV_DOUBLE * 16 + XV_INT: {
        int r = cmp_int_double(b->u.i, a->u.d);
        return r == -2 ? -2 : -r;
    }
    case XV_UINT * 16 + XV_DOUBLE: return cmp_uint_double(a->u.u, b->u.d);
    case XV_DOUBLE * 16 + XV_UINT: {
        int r = cmp_uint_double(b->u.u, a->u.d);
        return r == -2 ? -2 : -r;
    }
    default: return -3;
    }
}

static int cmp_bytes(const ex_val *a, const ex_val *b) {
    size_t n = a->u.s.n < b->u.s.n ? a->u.s.n : b->u.s.n;
    int r = n ? memcmp(a->u.s.p, b->u.s.p, n) : 0;
    if (r)
        return r < 0 ? -1 : 1;
    return a->u.s.n < b->u.s.n ? -1 : a->u.s.n > b->u.s.n;
}

static ex_val equal(ctx *c, const ex_val *a, const ex_val *b, int depth);

NOINLINE static ex_val list_equal(ctx *c, const ex_val *a, const ex_val *b, int depth) {
    if (a->u.c.count != b->u.c.count)
        return vbool(false);
    list_it x, y;
    if (!list_begin(&x, a) || !list_begin(&y, b))
        return err("malformed list value");
    ex_val ea, eb;
    bool all = true;
    const char *e = NULL;
    while (list_next(c, &x, &ea) == 1 && list_next(c, &y, &eb) == 1) {
        ex_val r = equal(c, &ea, &eb, depth + 1);
        if (r.k == XV_ERR)
            e = r.u.err;
        else if (!r.u.b)
            all = false;
    }
    /* CEL: a false element decides even beside an error. */
    if (!all)
        return vbool(false);
    return e ? err(e) : vbool(true);
}

static ex_val equal(ctx *c, const ex_val *a, const ex_val *b, int depth) {
    if (a->k == XV_ERR)
        return *a;
    if (b->k == XV_ERR)
        return *b;
    if (depth > SPW_WALK_MAX_DEPTH)
        return err("values nested too deeply");
    if (is_num(a->k) && is_num(b->k))
        return vbool(cmp_num(a, b) == 0);
    if (a->k != b->k)
        return vbool(false); /* CEL heterogeneous equality */
    switch (a->k) {
    case XV_NULL: return vbool(true);
    case XV_BOOL: return vbool(a->u.b == b->u.b);
    case XV_STRING:
    case XV_BYTES: return vbool(cmp_bytes(a, b) == 0);
    case XV_TYPE: return vbool(a->u.t == b->u.t);
    case XV_LIST: return list_equal(c, a, b, depth);
    default: return err("equality of maps is not supported");
    }
}

/* ---- maps ---- */

/* Looks key up in a map value: 1 found (*out), 0 absent, -1 error (*out). */
NOINLINE static int map_get(ctx *c, const ex_val *m, const ex_val *key, ex_val *out) {
    if (m->src == XC_BINS) {
        if (key->k != XV_STRING) {
            *out = err("bin names are strings");
            return -1;
        }
        const spw_bin *bn = spw_event_find_bin(c->ev, (const char *)key->u.s.p, key->u.s.n);
        if (!bn)
            return 0;
        *out = bin_val(&bn->value);
        return 1;
    }
    if (key->k != XV_STRING && !is_num(key->k) && key->k != XV_BOOL) {
        *out = err("unsupported map key type");
        return -1;
    }
    spw_walker w;
    if (!walk_open(m, &w)) {
        *out = err("malformed map value");
        return -1;
    }
    for (uint32_t i = 0; i < m->u.c.count; i++) {
        ex_val k = walk_val(&w);
        if (k.k == XV_ERR) {
            *out = k;
            return -1;
        }
        ex_val eq = equal(c, &k, key, 0);
        if (eq.k == XV_BOOL && eq.u.b) {
            *out = walk_val(&w);
            return out->k == XV_ERR ? -1 : 1;
        }
        ex_val v = walk_val(&w); /* skipped */
        if (v.k == XV_ERR) {
            *out = v;
            return -1;
        }
    }
    return 0;
}

NOINLINE static ex_val index_val(ctx *c, const ex_val *a, const ex_val *idx) {
    if (a->k == XV_ERR)
        return *a;
    if (idx->k == XV_ERR)
        return *idx;
    if (a->k == XV_MAP) {
        ex_val out;
        int r = map_get(c, a, idx, &out);
        return r == 0 ? err("no such key") : out;
    }
    if (a->k != XV_LIST)
        return err("no such overload: index of a value that is not a list or map");
    uint64_t i;
    if (idx->k == XV_INT) {
        if (idx->u.i < 0)
            return err("index out of range");
        i = (uint64_t)idx->u.i;
    } else if (idx->k == XV_UINT) {
        i = idx->u.u;
    } else {
        return err("no such overload: a list index must be an int");
    }
    if (i >= a->u.c.count)
        return err("index out of range");
    if (a->src == XC_LITERAL)
        return eval(c, c->p->kids[c->p->nodes[a->u.c.node].first + (int)i]);
    spw_walker w;
    if (!walk_open(a, &w))
        return err("malformed list value");
    for (uint64_t k = 0; k < i; k++) {
        ex_val skip = walk_val(&w);
        if (skip.k == XV_ERR)
            return skip;
    }
    return walk_val(&w);
}

/* ---- operators ---- */

NOINLINE static ex_val concat(ctx *c, const ex_val *a, const ex_val *b) {
    size_t n = a->u.s.n + b->u.s.n;
    if (n > EX_SCRATCH_SIZE - c->used)
        return err("concatenation longer than the scratch area (4 KiB per evaluation)");
    uint8_t *o = c->scratch + c->used;
    if (a->u.s.n)
        memcpy(o, a->u.s.p, a->u.s.n);
    if (b->u.s.n)
        memcpy(o + a->u.s.n, b->u.s.p, b->u.s.n);
    c->used += n;
    return vstr(a->k, o, n);
}

NOINLINE static ex_val arith(ctx *c, uint8_t op, const ex_val *a, const ex_val *b) {
    if (a->k == XV_ERR)
        return *a;
    if (b->k == XV_ERR)
        return *b;
    if (a->k != b->k)
        return err("no such overload: arithmetic on operands of different types");
    if (a->k == XV_INT) {
        int64_t r;
        switch ((ex_tok)op) {
        case K_PLUS: if (__builtin_add_overflow(a->u.i, b->u.i, &r)) return err("int overflow"); break;
        case K_MINUS: if (__builtin_sub_overflow(a->u.i, b->u.i, &r)) return err("int overflow"); break;
        case K_STAR: if (__builtin_mul_overflow(a->u.i, b->u.i, &r)) return err("int overflow"); break;
        case K_SLASH:
        case K_PERCENT:
            if (b->u.i == 0)
                return err(op == K_SLASH ? "division by zero" : "modulus by zero");
            if (a->u.i == INT64_MIN && b->u.i == -1)
                return err("int overflow");
            r = op == K_SLASH ? a->u.i / b->u.i : a->u.i % b->u.i;
            break;
        default: return err("no such overload");
        }
        return vint(r);
    }
    if (a->k == XV_UINT) {
        uint64_t r;
        switch ((ex_tok)op) {
        case K_PLUS: if (__builtin_add_overflow(a->u.u, b->u.u, &r)) return err("uint overflow"); break;
        case K_MINUS: if (__builtin_sub_overflow(a->u.u, b->u.u, &r)) return err("uint overflow"); break;
        case K_STAR: if (__builtin_mul_overflow(a->u.u, b->u.u, &r)) return err("uint overflow"); break;
        case K_SLASH:
        case K_PERCENT:
            if (b->u.u == 0)
                return err(op == K_SLASH ? "division by zero" : "modulus by zero");
            r = op == K_SLASH ? a->u.u / b->u.u : a->u.u % b->u.u;
            break;
        default: return err("no such overload");
        }
        return (ex_val){.k = XV_UINT, .u.u = r};
    }
    if (a->k == XV_DOUBLE) {
        double r;
        switch ((ex_tok)op) {
        case K_PLUS: r = a->u.d + b->u.d; break;
        case K_MINUS: r = a->u.d - b->u.d; break;
        case K_STAR: r = a->u.d * b->u.d; break;
        case K_SLASH: r = a->u.d / b->u.d; break;
        default: return err("no such overload: '%' on doubles");
        }
        return (ex_val){.k = XV_DOUBLE, .u.d = r};
    }
    if ((a->k == XV_STRING || a->k == XV_BYTES) && op == K_PLUS)
        return concat(c, a, b);
    return err("no such overload: arithmetic on this type");
}

static ex_val relation(ctx *c, uint8_t op, const ex_val *a, const ex_val *b) {
    /* The common cases first: int against int, string against string. */
    if (a->k == XV_INT && b->k == XV_INT) {
        int64_t x = a->u.i, y = b->u.i;
        switch ((ex_tok)op) {
        case K_EQ: return vbool(x == y);
        case K_NE: return vbool(x != y);
        case K_LT: return vbool(x < y);
        case K_LE: return vbool(x <= y);
        case K_GT: return vbool(x > y);
        default: return vbool(x >= y);
        }
    }
    if ((op == K_EQ || op == K_NE) && a->k == XV_STRING && b->k == XV_STRING) {
        bool eq = a->u.s.n == b->u.s.n && (!a->u.s.n || !memcmp(a->u.s.p, b->u.s.p, a->u.s.n));
        return vbool(op == K_EQ ? eq : !eq);
    }
    if (op == K_EQ || op == K_NE) {
        ex_val r = equal(c, a, b, 0);
        if (r.k == XV_BOOL && op == K_NE)
            r.u.b = !r.u.b;
        return r;
    }
    if (a->k == XV_ERR)
        return *a;
    if (b->k == XV_ERR)
        return *b;
    int r;
    if (is_num(a->k) && is_num(b->k))
        r = cmp_num(a, b);
    else if (a->k != b->k)
        return err("no such overload: comparison of different types");
    else if (a->k == XV_STRING || a->k == XV_BYTES)
        r = cmp_bytes(a, b);
    else if (a->k == XV_BOOL)
        r = (int)a->u.b - (int)b->u.b;
    else
        return err("no such overload: comparison of values without an order");
    if (r == -2)
        return vbool(false); /* NaN is unordered */
    switch ((ex_tok)op) {
    case K_LT: return vbool(r < 0);
    case K_LE: return vbool(r <= 0);
    case K_GT: return vbool(r > 0);
    default: return vbool(r >= 0);
    }
}

NOINLINE static ex_val in_op(ctx *c, const ex_val *x, const ex_val *coll) {
    if (x->k == XV_ERR)
        return *x;
    if (coll->k == XV_ERR)
        return *coll;
    if (coll->k == XV_MAP) {
        ex_val out;
        int r = map_get(c, coll, x, &out);
        return r < 0 ? out : vbool(r == 1);
    }
    if (coll->k != XV_LIST)
        return err("no such overload: 'in' needs a list or a map");
    list_it li;
    if (!list_begin(&li, coll))
        return err("malformed list value");
    ex_val e;
    while (list_next(c, &li, &e) == 1) {
        ex_val r = equal(c, x, &e, 0);
        if (r.k == XV_BOOL && r.u.b)
            return vbool(true);
    }
    return vbool(false);
}

/* ---- functions ---- */

static size_t utf8_count(const uint8_t *p, size_t n) {
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += (p[i] & 0xc0) != 0x80;
    return k;
}

static ex_val to_int(const ex_val *v, bool to_unsigned) {
    switch (v->k) {
    case XV_INT:
        if (to_unsigned && v->u.i < 0)
            return err("uint conversion out of range");
        return to_unsigned ? (ex_val){.k = XV_UINT, .u.u = (uint64_t)v->u.i} : *v;
    case XV_UINT:
        if (!to_unsigned && v->u.u > (uint64_t)INT64_MAX)
            return err("int conversion out of range");
        return to_unsigned ? *v : vint((int64_t)v->u.u);
    case XV_DOUBLE: {
        double d = trunc(v->u.d);
        if (to_unsigned) {
            if (!(d > -1.0 && d < 18446744073709551616.0))
                return err("uint conversion out of range");
            return (ex_val){.k = XV_UINT, .u.u = (uint64_t)d};
        }
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
            return err("int conversion out of range");
        return vint((int64_t)d);
    }
    case XV_STRING: {
        char buf[32];
        if (v->u.s.n == 0 || v->u.s.n >= sizeof buf)
            return err("string is not an integer");
        memcpy(buf, v->u.s.p, v->u.s.n);
        buf[v->u.s.n] = 0;
        char *end;
        errno = 0;
        if (to_unsigned) {
            if (buf[0] == '-' || buf[0] == '+' || buf[0] == ' ')
                return err("string is not an unsigned integer");
            unsigned long long u = strtoull(buf, &end, 10);
            if (*end || errno)
                return err("string is not an unsigned integer");
            return (ex_val){.k = XV_UINT, .u.u = u};
        }
        if (buf[0] == ' ' || buf[0] == '+')
            return err("string is not an integer");
        long long i = strtoll(buf, &end, 10);
        if (*end || errno)
            return err("string is not an integer");
        return vint(i);
    }
    case XV_ERR:
        return *v;
    default:
        return err("no such overload: integer conversion");
    }
}

static ex_val to_double(const ex_val *v) {
    switch (v->k) {
    case XV_INT: return (ex_val){.k = XV_DOUBLE, .u.d = (double)v->u.i};
    case XV_UINT: return (ex_val){.k = XV_DOUBLE, .u.d = (double)v->u.u};
    case XV_DOUBLE: return *v;
    case XV_STRING: {
        char buf[64];
        if (v->u.s.n == 0 || v->u.s.n >= sizeof buf)
            return err("string is not a double");
        memcpy(buf, v->u.s.p, v->u.s.n);
        buf[v->u.s.n] = 0;
        char *end;
        if (buf[0] == ' ')
            return err("string is not a double");
        double d = strtod(buf, &end);
        if (*end)
            return err("string is not a double");
        return (ex_val){.k = XV_DOUBLE, .u.d = d};
    }
    case XV_ERR: return *v;
    default: return err("no such overload: double conversion");
    }
}

NOINLINE static ex_val call(ctx *c, const ex_node *n) {
    int a0 = n->method ? n->a : c->p->kids[n->first];
    int a1 = n->method ? (n->n ? c->p->kids[n->first] : -1) : (n->n > 1 ? c->p->kids[n->first + 1] : -1);
    ex_val x = eval(c, a0);
    if (x.k == XV_ERR)
        return x;
    switch ((ex_fn)n->op) {
    case F_SIZE:
        switch (x.k) {
        case XV_STRING: return vint((int64_t)utf8_count(x.u.s.p, x.u.s.n));
        case XV_BYTES: return vint((int64_t)x.u.s.n);
        case XV_LIST:
        case XV_MAP:
            if (x.src == XC_BINS)
                return vint((int64_t)spw_event_bin_count(c->ev));
            return vint((int64_t)x.u.c.count);
        default: return err("no such overload: size()");
        }
    case F_TYPE:
        return (ex_val){.k = XV_TYPE, .u.t = x.k};
    case F_INT: return to_int(&x, false);
    case F_UINT: return to_int(&x, true);
    case F_DOUBLE: return to_double(&x);
    case F_MATCHES: {
        if (x.k != XV_STRING)
            return err("no such overload: matches() on a value that is not a string");
        const ex_regex *re = &c->p->re[n->re];
        /* An empty bin may have no pointer; PCRE2 wants one. */
        PCRE2_SPTR subj = x.u.s.p ? x.u.s.p : (PCRE2_SPTR) "";
        int rc = pcre2_match(re->code, subj, x.u.s.n, 0, 0, re->md, c->p->mctx);
        if (rc >= 0)
            return vbool(true);
        if (rc == PCRE2_ERROR_NOMATCH)
            return vbool(false);
        return err("regular expression match failed (match limit reached)");
    }
    default:
        break;
    }
    ex_val y = eval(c, a1);
    if (y.k == XV_ERR)
        return y;
    if (x.k != XV_STRING || y.k != XV_STRING)
        return err("no such overload: string function on a value that is not a string");
    switch ((ex_fn)n->op) {
    case F_STARTS:
        return vbool(y.u.s.n <= x.u.s.n && (!y.u.s.n || !memcmp(x.u.s.p, y.u.s.p, y.u.s.n)));
    case F_ENDS:
        return vbool(y.u.s.n <= x.u.s.n &&
                     (!y.u.s.n || !memcmp(x.u.s.p + x.u.s.n - y.u.s.n, y.u.s.p, y.u.s.n)));
    case F_CONTAINS:
        return vbool(!y.u.s.n || (x.u.s.n && memmem(x.u.s.p, x.u.s.n, y.u.s.p, y.u.s.n)));
    default:
        return err("internal error: unknown function");
    }
}

NOINLINE static ex_val meta(ctx *c, ex_meta m) {
    const spw_event *ev = c->ev;
    switch (m) {
    case M_NAMESPACE: {
        spw_str s = spw_event_namespace(ev);
        return vstr(XV_STRING, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
    }
    case M_SET: {
        spw_str s = spw_event_set(ev);
        return vstr(XV_STRING, s.ptr ? s.ptr : "", s.ptr ? s.len : 0);
    }
    case M_MSG:
        return spw_event_op(ev) == SPW_OP_DELETE ? vstr(XV_STRING, "delete", 6)
                                                 : vstr(XV_STRING, "write", 5);
    case M_DURABLE: return vbool(spw_event_op(ev) == SPW_OP_DELETE && spw_event_durable(ev));
    case M_GEN: return vint(spw_event_generation(ev));
    case M_LUT: return vint(spw_event_lut_ms(ev));
    case M_EXP: return vint(spw_event_expiry(ev));
    case M_DIGEST: return vstr(XV_BYTES, spw_event_digest(ev), 20);
    case M_PORT: return vint(spw_event_port(ev));
    case M_KEY: {
        spw_value k;
        if (!spw_event_key(ev, &k))
            return (ex_val){.k = XV_NULL};
        return bin_val(&k);
    }
    }
    return err("internal error: unknown name");
}

static ex_val eval(ctx *c, int i) {
    const ex_node *n = &c->p->nodes[i];
    switch ((ex_nkind)n->kind) {
    case N_LIT:
    case N_TYPENAME:
        return n->lit;
    case N_LIST:
        return (ex_val){.k = XV_LIST, .src = XC_LITERAL, .u.c = {NULL, 0, (uint32_t)n->n, i}};
    case N_NAME:
        return meta(c, (ex_meta)n->op);
    case N_BINS:
        return (ex_val){.k = XV_MAP, .src = XC_BINS};
    case N_BIN: {
        /* bins.NAME / bins["NAME"], resolved by the checker: one lookup by name. */
        const spw_bin *bn = spw_event_find_bin(c->ev, n->str, n->slen);
        return bn ? bin_val(&bn->value) : err("no such key");
    }
    case N_SELECT: {
        ex_val a = eval(c, n->a);
        ex_val key = vstr(XV_STRING, n->str, n->slen);
        if (a.k != XV_ERR && a.k != XV_MAP)
            return err("no such field: selection on a value that is not a map");
        return index_val(c, &a, &key);
    }
    case N_INDEX: {
        ex_val a = eval(c, n->a);
        if (a.k == XV_ERR)
            return a;
        ex_val b = eval(c, n->b);
        return index_val(c, &a, &b);
    }
    case N_HAS: {
        const ex_node *s = &c->p->nodes[n->a];
        ex_val a = eval(c, s->a);
        if (a.k == XV_ERR)
            return a;
        if (a.k != XV_MAP)
            return err("has() on a value that is not a map");
        ex_val key = vstr(XV_STRING, s->str, s->slen), out;
        int r = map_get(c, &a, &key, &out);
        return r < 0 ? out : vbool(r == 1);
    }
    case N_NOT: {
        ex_val a = eval(c, n->a);
        if (a.k == XV_ERR)
            return a;
        if (a.k != XV_BOOL)
            return err("no such overload: '!' on a value that is not a bool");
        return vbool(!a.u.b);
    }
    case N_NEG: {
        ex_val a = eval(c, n->a);
        if (a.k == XV_INT)
            return a.u.i == INT64_MIN ? err("int overflow") : vint(-a.u.i);
        if (a.k == XV_DOUBLE)
            return (ex_val){.k = XV_DOUBLE, .u.d = -a.u.d};
        return a.k == XV_ERR ? a : err("no such overload: '-' on this type");
    }
    case N_AND:
    case N_OR: {
        bool is_and = n->kind == N_AND;
        ex_val a = eval(c, n->a);
        if (a.k == XV_BOOL && a.u.b != is_and)
            return a; /* false && ..., true || ... */
        ex_val b = eval(c, n->b);
        if (b.k == XV_BOOL && b.u.b != is_and)
            return b; /* decides even beside an error */
        if (a.k != XV_BOOL)
            return a.k == XV_ERR ? a : err("no such overload: logical operator on a non-bool");
        if (b.k != XV_BOOL)
            return b.k == XV_ERR ? b : err("no such overload: logical operator on a non-bool");
        return b;
    }
    case N_COND: {
        ex_val a = eval(c, n->a);
        if (a.k == XV_ERR)
            return a;
        if (a.k != XV_BOOL)
            return err("no such overload: '?:' condition is not a bool");
        return eval(c, a.u.b ? n->b : n->c);
    }
    case N_BINARY: {
        ex_val a = eval(c, n->a);
        ex_val b = eval(c, n->b);
        switch ((ex_tok)n->op) {
        case K_EQ:
        case K_NE:
        case K_LT:
        case K_LE:
        case K_GT:
        case K_GE: return relation(c, n->op, &a, &b);
        case K_IN: return in_op(c, &a, &b);
        default: return arith(c, n->op, &a, &b);
        }
    }
    case N_CALL:
        return call(c, n);
    default:
        return err("internal error: unexpected node");
    }
}

ex_val ex_eval_value(ex_prog *p, const spw_event *ev) {
    ctx c = {.p = p, .ev = ev, .scratch = p->scratch, .used = 0};
    return eval(&c, p->root);
}

ex_outcome ex_eval(ex_prog *p, const spw_event *ev, const char **why) {
    ex_val v = ex_eval_value(p, ev);
    if (v.k == XV_BOOL)
        return v.u.b ? EX_TRUE : EX_FALSE;
    if (why)
        *why = v.k == XV_ERR ? v.u.err : "the expression's value is not a bool";
    return EX_ERROR;
}

/* ---- formatting (tests) ---- */

static size_t put(char *buf, size_t size, size_t at, const char *s, size_t n) {
    for (size_t i = 0; i < n; i++, at++)
        if (at + 1 < size)
            buf[at] = s[i];
    if (size)
        buf[at < size ? at : size - 1] = 0;
    return at;
}

static size_t fmt(ctx *c, const ex_val *v, char *buf, size_t size, size_t at, int depth) {
    char tmp[64];
    int k;
    static const char *const tn[] = {"type", "null_type", "bool", "int", "uint", "double",
                                     "string", "bytes", "list", "map", "type"};
    switch (v->k) {
    case XV_ERR: return put(buf, size, at, "error", 5);
    case XV_NULL: return put(buf, size, at, "null", 4);
    case XV_BOOL: return put(buf, size, at, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
    case XV_INT: k = snprintf(tmp, sizeof tmp, "i:%lld", (long long)v->u.i); break;
    case XV_UINT: k = snprintf(tmp, sizeof tmp, "u:%llu", (unsigned long long)v->u.u); break;
    case XV_DOUBLE:
        /* One spelling for NaN: printf writes "-nan" for the sign bit x86 sets. */
        k = isnan(v->u.d) ? snprintf(tmp, sizeof tmp, "d:nan")
                          : snprintf(tmp, sizeof tmp, "d:%.17g", v->u.d);
        break;
    case XV_TYPE: k = snprintf(tmp, sizeof tmp, "type:%s", tn[v->u.t]); break;
    case XV_STRING:
    case XV_BYTES:
        at = put(buf, size, at, v->k == XV_STRING ? "s:" : "b:", 2);
        for (size_t i = 0; i < v->u.s.n; i++) {
            snprintf(tmp, sizeof tmp, "%02x", v->u.s.p[i]);
            at = put(buf, size, at, tmp, 2);
        }
        return at;
    case XV_MAP:
        k = snprintf(tmp, sizeof tmp, "map(%u)",
                     v->src == XC_BINS ? (unsigned)spw_event_bin_count(c->ev) : v->u.c.count);
        break;
    case XV_LIST: {
        at = put(buf, size, at, "[", 1);
        list_it li;
        ex_val e;
        if (!list_begin(&li, v) || depth > SPW_WALK_MAX_DEPTH)
            return put(buf, size, at, "error]", 6);
        bool first = true;
        while (list_next(c, &li, &e) == 1) {
            if (!first)
                at = put(buf, size, at, ",", 1);
            first = false;
            at = fmt(c, &e, buf, size, at, depth + 1);
        }
        return put(buf, size, at, "]", 1);
    }
    default: return put(buf, size, at, "?", 1);
    }
    return put(buf, size, at, tmp, (size_t)k);
}

size_t ex_val_format(ex_prog *p, const spw_event *ev, const ex_val *v, char *buf, size_t size) {
    ctx c = {.p = p, .ev = ev, .scratch = p->scratch};
    return fmt(&c, v, buf, size, 0, 0);
}

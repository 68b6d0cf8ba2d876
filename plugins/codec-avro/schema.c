/*
 * plugins/codec-avro/schema.c: from schema text to the plan the encoders
 * follow, its Parsing Canonical Form and its CRC-64-AVRO fingerprint.
 *
 * Two readers look at the text. The compiler below reads it with jansson
 * and refuses, with a sentence naming the record and field, everything the
 * specification forbids or the encoder could not honour. avro-c
 * (avro_schema_from_json_length) then has the last word: what the
 * reference C reader refuses is refused too. avro-c alone would not do: it
 * accepts duplicate union branches, unions inside unions, duplicate field
 * names and enum symbols, negative fixed sizes; it forgets field defaults;
 * its messages name no place; and some of its error paths leak.
 *
 * The plan is flat: nodes, fields, symbols and union branches in arrays,
 * children by index, so a recursive schema (a record that holds itself) is
 * a cycle of indices, not of pointers. Named types are registered before
 * their fields are compiled, which is what makes such cycles resolvable.
 *
 * Defaults are encoded once, here, into Avro bytes the encoder copies
 * when a field has no value. The canonical form is written while the
 * schema is compiled (same walk, same name resolution), so the fingerprint
 * always describes exactly the schema the plan was built from.
 */
#include <avro.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "acodec.h"

/* Limits: schemas are small; anything past these is a mistake or an attack on --check. */
#define SCHEMA_MAX_BYTES ((size_t)1 << 20)
#define SCHEMA_MAX_DEPTH 64
#define SCHEMA_MAX_NODES 65536
#define SCHEMA_MAX_BRANCHES 256

/* ---- CRC-64-AVRO ---- */

/*
 * The fingerprint the Avro specification defines for single-object
 * encoding: a 64-bit Rabin fingerprint with EMPTY = 0xc15d213aa4d7a795,
 * low byte first. Computed once per schema, so the bitwise form serves;
 * a table would only add state shared between workers.
 */
#define CRC64_EMPTY 0xc15d213aa4d7a795ull

uint64_t acodec_crc64_avro(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t fp = CRC64_EMPTY;
    for (size_t i = 0; i < n; i++) {
        fp ^= p[i];
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_EMPTY & (0 - (fp & 1)));
    }
    return fp;
}

/* ---- the plan's storage ---- */

static bool grow_array(void **arr, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap)
        return true;
    size_t ncap = *cap ? *cap * 2 : 16;
    while (ncap < need)
        ncap *= 2;
    void *p = realloc(*arr, ncap * elem);
    if (!p)
        return false;
    *arr = p;
    *cap = ncap;
    return true;
}

void acodec_plan_free(aplan *p) {
    if (!p)
        return;
    for (size_t i = 0; i < p->n_owned; i++)
        free(p->owned[i]);
    free(p->owned);
    free(p->nodes);
    free(p->fields);
    free(p->syms);
    free(p->branches);
    free(p->top_src);
    free(p->meta_src);
    free(p->bin_slots);
    free(p->quick);
    spw_buf_free(&p->defaults);
    spw_buf_free(&p->canonical);
    spw_buf_free(&p->schema_json);
    memset(p, 0, sizeof *p);
}

/* ---- the compiler's state ---- */

typedef struct named {
    const char *fullname; /* owned by the plan */
    uint32_t node;
} named;

typedef struct cctx {
    aplan *p;
    spw_err *err;
    bool failed;
    named *names;
    size_t n_names, cap_names;
    json_t **defaults; /* per plan field: the JSON default, or NULL */
    size_t cap_defaults;
    unsigned depth;
    const char *where; /* "record X, field y" for messages; owned by the plan or static */
    uint32_t prim[AN_STRING + 1]; /* the shared node of each primitive, UINT32_MAX until used */
} cctx;

static spw_result fail(cctx *c, const char *fmt, ...) SPW_PRINTF(2, 3);
static spw_result fail(cctx *c, const char *fmt, ...) {
    if (c->failed)
        return SPW_ERR_CONFIG;
    c->failed = true;
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (c->where)
        return spw_err_set(c->err, SPW_ERR_CONFIG, "avro codec: schema: %s: %s", c->where, why);
    return spw_err_set(c->err, SPW_ERR_CONFIG, "avro codec: schema: %s", why);
}

static spw_result oom(cctx *c) {
    if (c->failed)
        return SPW_ERR_NOMEM;
    c->failed = true;
    return spw_err_set(c->err, SPW_ERR_NOMEM, "avro codec: out of memory compiling the schema");
}

/* Keeps a copy of s[0..n) in the plan; NULL when out of memory. */
static char *own(cctx *c, const char *s, size_t n) {
    aplan *p = c->p;
    if (!grow_array((void **)&p->owned, &p->cap_owned, p->n_owned + 1, sizeof *p->owned))
        return NULL;
    char *d = malloc(n + 1);
    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    p->owned[p->n_owned++] = d;
    return d;
}

static char *ownf(cctx *c, const char *fmt, ...) SPW_PRINTF(2, 3);
static char *ownf(cctx *c, const char *fmt, ...) {
    char tmp[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    return own(c, tmp, (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

static uint32_t new_node(cctx *c, anode_kind kind, const char *name) {
    aplan *p = c->p;
    if (p->n_nodes >= SCHEMA_MAX_NODES) {
        fail(c, "more than %d types", SCHEMA_MAX_NODES);
        return UINT32_MAX;
    }
    if (!grow_array((void **)&p->nodes, &p->cap_nodes, p->n_nodes + 1, sizeof *p->nodes)) {
        oom(c);
        return UINT32_MAX;
    }
    anode *n = &p->nodes[p->n_nodes];
    memset(n, 0, sizeof *n);
    n->kind = (uint8_t)kind;
    n->null_branch = -1;
    n->name = name;
    return (uint32_t)p->n_nodes++;
}

/* ---- canonical form output ---- */

static void pcf(cctx *c, const char *s) {
    if (spw_buf_append(&c->p->canonical, s, strlen(s)) != SPW_OK)
        oom(c);
}

/* A JSON string. Names and symbols are identifiers, so nothing needs
 * escaping in a valid schema; quotes, backslashes and controls are escaped
 * all the same so the form stays JSON whatever reached it. */
static void pcf_str(cctx *c, const char *s) {
    spw_buf *b = &c->p->canonical;
    spw_result r = spw_buf_append(b, "\"", 1);
    for (const char *q = s; r == SPW_OK && *q; q++) {
        unsigned char ch = (unsigned char)*q;
        if (ch == '"' || ch == '\\')
            r = spw_buf_printf(b, "\\%c", ch);
        else if (ch < 0x20)
            r = spw_buf_printf(b, "\\u%04x", ch);
        else
            r = spw_buf_append(b, q, 1);
    }
    if (r == SPW_OK)
        r = spw_buf_append(b, "\"", 1);
    if (r != SPW_OK)
        oom(c);
}

/* ---- names ---- */

static const struct {
    const char *name;
    anode_kind kind;
} primitives[] = {
    {"null", AN_NULL},   {"boolean", AN_BOOLEAN}, {"int", AN_INT},       {"long", AN_LONG},
    {"float", AN_FLOAT}, {"double", AN_DOUBLE},   {"bytes", AN_BYTES},   {"string", AN_STRING},
};

static int primitive_kind(const char *s) {
    for (size_t i = 0; i < sizeof primitives / sizeof primitives[0]; i++)
        if (strcmp(s, primitives[i].name) == 0)
            return (int)primitives[i].kind;
    return -1;
}

static const char *kind_name(anode_kind k) {
    switch (k) {
    case AN_NULL: return "null";
    case AN_BOOLEAN: return "boolean";
    case AN_INT: return "int";
    case AN_LONG: return "long";
    case AN_FLOAT: return "float";
    case AN_DOUBLE: return "double";
    case AN_BYTES: return "bytes";
    case AN_STRING: return "string";
    case AN_RECORD: return "record";
    case AN_ENUM: return "enum";
    case AN_ARRAY: return "array";
    case AN_MAP: return "map";
    case AN_UNION: return "union";
    case AN_FIXED: return "fixed";
    }
    return "?";
}

/* [A-Za-z_][A-Za-z0-9_]*: the specification's rule for names, field
 * names and enum symbols (avro-c checks some of them, not all). */
static bool is_ident(const char *s) {
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
        return false;
    for (s++; *s; s++)
        if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_' ||
              (*s >= '0' && *s <= '9')))
            return false;
    return true;
}

/* A namespace: identifiers separated by dots (or empty: the null namespace). */
static bool is_namespace(const char *s) {
    char part[256];
    while (*s) {
        const char *dot = strchr(s, '.');
        size_t n = dot ? (size_t)(dot - s) : strlen(s);
        if (n == 0 || n >= sizeof part)
            return false;
        memcpy(part, s, n);
        part[n] = '\0';
        if (!is_ident(part))
            return false;
        s += n + (dot ? 1 : 0);
        if (dot && !*s)
            return false;
    }
    return true;
}

static uint32_t find_named(cctx *c, const char *fullname) {
    for (size_t i = 0; i < c->n_names; i++)
        if (strcmp(c->names[i].fullname, fullname) == 0)
            return c->names[i].node;
    return UINT32_MAX;
}

/*
 * A reference to a named type: with a dot it is a full name; without, it
 * is looked up in the enclosing namespace first and then, as Java's parser
 * also does, in the null namespace.
 */
static uint32_t resolve(cctx *c, const char *name, const char *ns, const char **full) {
    uint32_t node = UINT32_MAX;
    if (!strchr(name, '.') && ns && *ns) {
        char tmp[512];
        if ((size_t)snprintf(tmp, sizeof tmp, "%s.%s", ns, name) < sizeof tmp)
            node = find_named(c, tmp);
    }
    if (node == UINT32_MAX)
        node = find_named(c, name);
    if (node != UINT32_MAX)
        *full = c->p->nodes[node].name;
    return node;
}

/*
 * Registers a named type's full name (from name, its own namespace and the
 * enclosing one) and returns it; *space receives the namespace its nested
 * definitions inherit.
 */
static const char *define_name(cctx *c, json_t *j, const char *ns, const char **space) {
    json_t *jn = json_object_get(j, "name");
    if (!json_is_string(jn)) {
        fail(c, "a named type needs a \"name\" string");
        return NULL;
    }
    const char *name = json_string_value(jn);
    const char *full;
    const char *dot = strrchr(name, '.');
    if (dot) {
        if (!is_namespace(name) || !is_ident(dot + 1)) {
            fail(c, "\"%s\" is not a valid Avro name", name);
            return NULL;
        }
        full = own(c, name, strlen(name));
    } else {
        if (!is_ident(name)) {
            fail(c, "\"%s\" is not a valid Avro name", name);
            return NULL;
        }
        json_t *jns = json_object_get(j, "namespace");
        if (jns && !json_is_string(jns) && !json_is_null(jns)) {
            fail(c, "the namespace of \"%s\" is not a string", name);
            return NULL;
        }
        const char *space_of = jns && json_is_string(jns) ? json_string_value(jns) : ns;
        if (space_of && !is_namespace(space_of)) {
            fail(c, "\"%s\" is not a valid namespace", space_of);
            return NULL;
        }
        full = space_of && *space_of ? ownf(c, "%s.%s", space_of, name) : own(c, name, strlen(name));
    }
    if (!full) {
        oom(c);
        return NULL;
    }
    dot = strrchr(full, '.');
    if (primitive_kind(dot ? dot + 1 : full) >= 0 && !dot) {
        fail(c, "a named type cannot be called \"%s\"", full);
        return NULL;
    }
    if (find_named(c, full) != UINT32_MAX) {
        fail(c, "the type \"%s\" is defined twice", full);
        return NULL;
    }
    *space = dot ? own(c, full, (size_t)(dot - full)) : "";
    if (!*space) {
        oom(c);
        return NULL;
    }
    return full;
}

static bool register_name(cctx *c, const char *full, uint32_t node) {
    if (!grow_array((void **)&c->names, &c->cap_names, c->n_names + 1, sizeof *c->names)) {
        oom(c);
        return false;
    }
    c->names[c->n_names++] = (named){full, node};
    return true;
}

/* ---- the compiler ---- */

static uint32_t compile(cctx *c, json_t *j, const char *ns);

static uint32_t compile_record(cctx *c, json_t *j, const char *ns) {
    const char *space;
    const char *full = define_name(c, j, ns, &space);
    if (!full)
        return UINT32_MAX;
    json_t *jf = json_object_get(j, "fields");
    if (!json_is_array(jf)) {
        fail(c, "the record \"%s\" needs a \"fields\" array", full);
        return UINT32_MAX;
    }
    uint32_t node = new_node(c, AN_RECORD, full);
    if (node == UINT32_MAX || !register_name(c, full, node))
        return UINT32_MAX;
    aplan *p = c->p;
    size_t n = json_array_size(jf);
    /* Fields are reserved now so they stay contiguous whatever nested
     * records the field types add after them. */
    size_t first = p->n_fields;
    if (!grow_array((void **)&p->fields, &p->cap_fields, first + n, sizeof *p->fields) ||
        !grow_array((void **)&c->defaults, &c->cap_defaults, first + n, sizeof *c->defaults))
        return oom(c), UINT32_MAX;
    p->n_fields += n;
    memset(&p->fields[first], 0, n * sizeof *p->fields);
    memset(&c->defaults[first], 0, n * sizeof *c->defaults);
    p->nodes[node].first = (uint32_t)first;
    p->nodes[node].n = (uint32_t)n;

    pcf(c, "{\"name\":");
    pcf_str(c, full);
    pcf(c, ",\"type\":\"record\",\"fields\":[");
    for (size_t i = 0; i < n; i++) {
        json_t *f = json_array_get(jf, i);
        json_t *fn = json_object_get(f, "name");
        if (!json_is_object(f) || !json_is_string(fn)) {
            fail(c, "field %zu of the record \"%s\" needs a \"name\" string", i + 1, full);
            return UINT32_MAX;
        }
        const char *fname = json_string_value(fn);
        if (!is_ident(fname)) {
            fail(c, "\"%s\" (in the record \"%s\") is not a valid field name", fname, full);
            return UINT32_MAX;
        }
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->fields[first + k].name, fname) == 0) {
                fail(c, "the record \"%s\" has two fields named \"%s\"", full, fname);
                return UINT32_MAX;
            }
        json_t *ft = json_object_get(f, "type");
        if (!ft) {
            fail(c, "the field \"%s\" of the record \"%s\" has no \"type\"", fname, full);
            return UINT32_MAX;
        }
        const char *saved = c->where;
        c->where = ownf(c, "record \"%s\", field \"%s\"", full, fname);
        pcf(c, i ? ",{\"name\":" : "{\"name\":");
        pcf_str(c, fname);
        pcf(c, ",\"type\":");
        uint32_t t = compile(c, ft, space);
        pcf(c, "}");
        c->where = saved;
        if (t == UINT32_MAX)
            return UINT32_MAX;
        afield *fd = &p->fields[first + i];
        fd->name = own(c, fname, strlen(fname));
        fd->name_len = strlen(fname);
        fd->type = t;
        if (!fd->name)
            return oom(c), UINT32_MAX;
        c->defaults[first + i] = json_object_get(f, "default");
    }
    pcf(c, "]}");
    return node;
}

static uint32_t compile_enum(cctx *c, json_t *j, const char *ns) {
    const char *space;
    const char *full = define_name(c, j, ns, &space);
    if (!full)
        return UINT32_MAX;
    json_t *js = json_object_get(j, "symbols");
    if (!json_is_array(js) || json_array_size(js) == 0) {
        fail(c, "the enum \"%s\" needs a non-empty \"symbols\" array", full);
        return UINT32_MAX;
    }
    uint32_t node = new_node(c, AN_ENUM, full);
    if (node == UINT32_MAX || !register_name(c, full, node))
        return UINT32_MAX;
    aplan *p = c->p;
    size_t n = json_array_size(js), first = p->n_syms;
    if (!grow_array((void **)&p->syms, &p->cap_syms, first + n, sizeof *p->syms))
        return oom(c), UINT32_MAX;
    pcf(c, "{\"name\":");
    pcf_str(c, full);
    pcf(c, ",\"type\":\"enum\",\"symbols\":[");
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(js, i);
        if (!json_is_string(s) || !is_ident(json_string_value(s))) {
            fail(c, "symbol %zu of the enum \"%s\" is not a valid Avro name", i + 1, full);
            return UINT32_MAX;
        }
        const char *sym = json_string_value(s);
        for (size_t k = 0; k < i; k++)
            if (strcmp(p->syms[first + k].name, sym) == 0) {
                fail(c, "the enum \"%s\" lists \"%s\" twice", full, sym);
                return UINT32_MAX;
            }
        char *copy = own(c, sym, strlen(sym));
        if (!copy)
            return oom(c), UINT32_MAX;
        p->syms[first + i] = (asym){copy, strlen(sym)};
        if (i)
            pcf(c, ",");
        pcf_str(c, sym);
    }
    p->n_syms += n;
    p->nodes[node].first = (uint32_t)first;
    p->nodes[node].n = (uint32_t)n;
    pcf(c, "]}");
    return node;
}

static uint32_t compile_fixed(cctx *c, json_t *j, const char *ns) {
    const char *space;
    const char *full = define_name(c, j, ns, &space);
    if (!full)
        return UINT32_MAX;
    json_t *js = json_object_get(j, "size");
    if (!json_is_integer(js) || json_integer_value(js) < 0 ||
        json_integer_value(js) > (json_int_t)SPW_BUF_MAX) {
        fail(c, "the fixed \"%s\" needs a \"size\" between 0 and %zu", full, (size_t)SPW_BUF_MAX);
        return UINT32_MAX;
    }
    uint32_t node = new_node(c, AN_FIXED, full);
    if (node == UINT32_MAX || !register_name(c, full, node))
        return UINT32_MAX;
    c->p->nodes[node].n = (uint32_t)json_integer_value(js);
    char size[32];
    snprintf(size, sizeof size, "%u", c->p->nodes[node].n);
    pcf(c, "{\"name\":");
    pcf_str(c, full);
    pcf(c, ",\"type\":\"fixed\",\"size\":");
    pcf(c, size);
    pcf(c, "}");
    return node;
}

static uint32_t compile_container(cctx *c, json_t *j, const char *ns, bool map) {
    json_t *jc = json_object_get(j, map ? "values" : "items");
    if (!jc) {
        fail(c, map ? "a map needs \"values\"" : "an array needs \"items\"");
        return UINT32_MAX;
    }
    uint32_t node = new_node(c, map ? AN_MAP : AN_ARRAY, map ? "map" : "array");
    if (node == UINT32_MAX)
        return UINT32_MAX;
    pcf(c, map ? "{\"type\":\"map\",\"values\":" : "{\"type\":\"array\",\"items\":");
    uint32_t child = compile(c, jc, ns);
    pcf(c, "}");
    if (child == UINT32_MAX)
        return UINT32_MAX;
    c->p->nodes[node].child = child;
    return node;
}

static uint32_t compile_union(cctx *c, json_t *j, const char *ns) {
    aplan *p = c->p;
    size_t n = json_array_size(j);
    if (n == 0) {
        fail(c, "a union needs at least one branch");
        return UINT32_MAX;
    }
    if (n > SCHEMA_MAX_BRANCHES) {
        fail(c, "a union has more than %d branches", SCHEMA_MAX_BRANCHES);
        return UINT32_MAX;
    }
    uint32_t node = new_node(c, AN_UNION, "union");
    if (node == UINT32_MAX)
        return UINT32_MAX;
    size_t first = p->n_branches;
    if (!grow_array((void **)&p->branches, &p->cap_branches, first + n, sizeof *p->branches))
        return oom(c), UINT32_MAX;
    p->n_branches += n;
    p->nodes[node].first = (uint32_t)first;
    p->nodes[node].n = (uint32_t)n;
    pcf(c, "[");
    for (size_t i = 0; i < n; i++) {
        json_t *b = json_array_get(j, i);
        if (json_is_array(b)) {
            fail(c, "a union cannot hold another union directly");
            return UINT32_MAX;
        }
        if (i)
            pcf(c, ",");
        uint32_t t = compile(c, b, ns);
        if (t == UINT32_MAX)
            return UINT32_MAX;
        const anode *bt = &p->nodes[t];
        if (bt->kind == AN_UNION) { /* a named reference cannot be one either; be safe */
            fail(c, "a union cannot hold another union");
            return UINT32_MAX;
        }
        bool named_kind = bt->kind == AN_RECORD || bt->kind == AN_ENUM || bt->kind == AN_FIXED;
        for (size_t k = 0; k < i; k++) {
            const anode *o = &p->nodes[p->branches[first + k]];
            if (named_kind ? p->branches[first + k] == t : o->kind == bt->kind) {
                fail(c, "a union lists %s twice", named_kind ? bt->name : kind_name(bt->kind));
                return UINT32_MAX;
            }
        }
        p->branches[first + i] = t;
        if (bt->kind == AN_NULL)
            p->nodes[node].null_branch = (int32_t)i;
    }
    pcf(c, "]");
    return node;
}

/* Primitives carry no state: one node per kind is shared by every use. */
static uint32_t primitive_node(cctx *c, anode_kind k) {
    if (c->prim[k] == UINT32_MAX)
        c->prim[k] = new_node(c, k, kind_name(k));
    return c->prim[k];
}

static uint32_t compile(cctx *c, json_t *j, const char *ns) {
    if (c->failed)
        return UINT32_MAX;
    if (c->depth >= SCHEMA_MAX_DEPTH) {
        fail(c, "the schema nests deeper than %d levels", SCHEMA_MAX_DEPTH);
        return UINT32_MAX;
    }
    c->depth++;
    uint32_t r = UINT32_MAX;
    if (json_is_string(j) || (json_is_object(j) && json_is_string(json_object_get(j, "type")))) {
        const char *t = json_is_string(j) ? json_string_value(j)
                                          : json_string_value(json_object_get(j, "type"));
        int prim = primitive_kind(t);
        if (prim >= 0) {
            /* {"type":"long","logicalType":...} is a long: the canonical
             * form, and this codec, ignore logical types. */
            pcf_str(c, t);
            r = primitive_node(c, (anode_kind)prim);
        } else if (json_is_object(j) && strcmp(t, "record") == 0) {
            r = compile_record(c, j, ns);
        } else if (json_is_object(j) && strcmp(t, "enum") == 0) {
            r = compile_enum(c, j, ns);
        } else if (json_is_object(j) && strcmp(t, "fixed") == 0) {
            r = compile_fixed(c, j, ns);
        } else if (json_is_object(j) && strcmp(t, "array") == 0) {
            r = compile_container(c, j, ns, false);
        } else if (json_is_object(j) && strcmp(t, "map") == 0) {
            r = compile_container(c, j, ns, true);
        } else if (strcmp(t, "error") == 0 && json_is_object(j)) {
            fail(c, "\"error\" types belong to Avro protocols, not to data schemas");
        } else {
            const char *full = NULL;
            r = resolve(c, t, ns, &full);
            if (r == UINT32_MAX)
                fail(c, "unknown type \"%s\"", t);
            else
                pcf_str(c, full);
        }
    } else if (json_is_array(j)) {
        r = compile_union(c, j, ns);
    } else if (json_is_object(j)) {
        fail(c, "a type object needs a \"type\" string");
    } else {
        fail(c, "a type must be a name, an object or an array (union)");
    }
    c->depth--;
    return c->failed ? UINT32_MAX : r;
}

/* ---- defaults ---- */

/* A bytes/fixed default: a JSON string whose code points 0..255 are the bytes. */
static bool latin1_bytes(const char *s, size_t n, spw_buf *out) {
    for (size_t i = 0; i < n; i++) {
        uint8_t ch = (uint8_t)s[i];
        if (ch >= 0x80) {
            if ((ch != 0xC2 && ch != 0xC3) || i + 1 >= n)
                return false;
            ch = (uint8_t)(((ch & 0x1F) << 6) | ((uint8_t)s[i + 1] & 0x3F));
            i++;
        }
        if (spw_buf_append(out, &ch, 1) != SPW_OK)
            return false;
    }
    return true;
}

static bool encode_default(cctx *c, aw *w, uint32_t t, json_t *v, unsigned depth, const char **why);

static bool default_record(cctx *c, aw *w, const anode *n, json_t *v, unsigned depth,
                           const char **why) {
    if (!json_is_object(v)) {
        *why = "a record's default must be a JSON object";
        return false;
    }
    for (uint32_t i = 0; i < n->n; i++) {
        const afield *f = &c->p->fields[n->first + i];
        json_t *fv = json_object_get(v, f->name);
        if (!fv)
            fv = c->defaults[n->first + i];
        if (!fv) {
            *why = "a record default leaves out a field that has no default of its own";
            return false;
        }
        if (!encode_default(c, w, f->type, fv, depth + 1, why))
            return false;
    }
    return true;
}

/* Encodes JSON default v as type t (Avro's JSON encoding of defaults). */
static bool encode_default(cctx *c, aw *w, uint32_t t, json_t *v, unsigned depth, const char **why) {
    const anode *n = &c->p->nodes[t];
    if (depth > SCHEMA_MAX_DEPTH) {
        *why = "the default nests too deeply (or a record default refers to itself)";
        return false;
    }
    switch ((anode_kind)n->kind) {
    case AN_NULL:
        if (json_is_null(v))
            return true;
        *why = "a null default must be null";
        return false;
    case AN_BOOLEAN:
        if (json_is_boolean(v)) {
            aw_bool(w, json_is_true(v));
            return true;
        }
        *why = "a boolean default must be true or false";
        return false;
    case AN_INT:
        if (json_is_integer(v) && json_integer_value(v) >= INT32_MIN &&
            json_integer_value(v) <= INT32_MAX) {
            aw_long(w, json_integer_value(v));
            return true;
        }
        *why = "an int default must be an integer that fits 32 bits";
        return false;
    case AN_LONG:
        if (json_is_integer(v)) {
            aw_long(w, json_integer_value(v));
            return true;
        }
        *why = "a long default must be an integer";
        return false;
    case AN_FLOAT:
    case AN_DOUBLE:
        if (json_is_number(v)) {
            if (n->kind == AN_FLOAT)
                aw_float(w, (float)json_number_value(v));
            else
                aw_double(w, json_number_value(v));
            return true;
        }
        *why = "a float or double default must be a number";
        return false;
    case AN_STRING:
        if (json_is_string(v)) {
            aw_bytes(w, json_string_value(v), json_string_length(v));
            return true;
        }
        *why = "a string default must be a string";
        return false;
    case AN_BYTES:
    case AN_FIXED: {
        spw_buf tmp = SPW_BUF_INIT;
        bool okv = json_is_string(v) &&
                   latin1_bytes(json_string_value(v), json_string_length(v), &tmp);
        if (!okv)
            *why = "a bytes or fixed default must be a string of code points 0 to 255";
        else if (n->kind == AN_FIXED && tmp.len != n->n) {
            okv = false;
            *why = "a fixed default must have exactly the fixed's size";
        } else if (n->kind == AN_FIXED)
            aw_raw(w, tmp.data, tmp.len);
        else
            aw_bytes(w, tmp.data, tmp.len);
        spw_buf_free(&tmp);
        return okv;
    }
    case AN_ENUM:
        if (json_is_string(v))
            for (uint32_t i = 0; i < n->n; i++)
                if (strcmp(c->p->syms[n->first + i].name, json_string_value(v)) == 0) {
                    aw_long(w, i);
                    return true;
                }
        *why = "an enum default must be one of its symbols";
        return false;
    case AN_ARRAY:
        if (!json_is_array(v)) {
            *why = "an array default must be a JSON array";
            return false;
        }
        if (json_array_size(v)) {
            aw_long(w, (int64_t)json_array_size(v));
            for (size_t i = 0; i < json_array_size(v); i++)
                if (!encode_default(c, w, n->child, json_array_get(v, i), depth + 1, why))
                    return false;
        }
        aw_long(w, 0);
        return true;
    case AN_MAP: {
        if (!json_is_object(v)) {
            *why = "a map default must be a JSON object";
            return false;
        }
        const char *k;
        json_t *mv;
        if (json_object_size(v))
            aw_long(w, (int64_t)json_object_size(v));
        json_object_foreach(v, k, mv) {
            aw_bytes(w, k, strlen(k));
            if (!encode_default(c, w, n->child, mv, depth + 1, why))
                return false;
        }
        aw_long(w, 0);
        return true;
    }
    case AN_RECORD:
        return default_record(c, w, n, v, depth, why);
    case AN_UNION:
        /* The specification: a union's default is a value of its first branch. */
        aw_index(w, 0);
        if (encode_default(c, w, c->p->branches[n->first], v, depth + 1, why))
            return true;
        *why = "a union's default must be a value of its first branch";
        return false;
    }
    *why = "unknown type";
    return false;
}

static spw_result encode_defaults(cctx *c) {
    aplan *p = c->p;
    for (size_t i = 0; i < p->n_fields; i++) {
        json_t *d = c->defaults[i];
        if (!d)
            continue;
        aw w = {&p->defaults, SPW_OK};
        size_t off = p->defaults.len;
        const char *why = "";
        if (!encode_default(c, &w, p->fields[i].type, d, 0, &why))
            return fail(c, "the default of the field \"%s\" does not fit its type: %s", p->fields[i].name,
                        why);
        if (w.err != SPW_OK)
            return oom(c);
        if (p->defaults.len > UINT32_MAX)
            return fail(c, "the defaults are too large");
        p->fields[i].def_off = (uint32_t)off;
        p->fields[i].def_len = (uint32_t)(p->defaults.len - off);
        p->fields[i].has_default = true;
    }
    return SPW_OK;
}

/* ---- binding the top-level fields to the event ---- */

static const struct {
    const char *name;
    asource src;
} meta_names[] = {
    {"msg", ASRC_MSG},   {"namespace", ASRC_NAMESPACE}, {"set", ASRC_SET},
    {"userKey", ASRC_KEY}, {"digest", ASRC_DIGEST},     {"gen", ASRC_GEN},
    {"lut", ASRC_LUT},   {"exp", ASRC_EXP},             {"durable", ASRC_DURABLE},
};

static asource meta_source(const char *name) {
    for (size_t i = 0; i < sizeof meta_names / sizeof meta_names[0]; i++)
        if (strcmp(name, meta_names[i].name) == 0)
            return meta_names[i].src;
    return ASRC_NONE;
}

/* Whether some branch of t is of one of the kinds in `kinds` (AN_* bit set). */
static bool holds(const aplan *p, uint32_t t, unsigned kinds) {
    const anode *n = &p->nodes[t];
    if (n->kind != AN_UNION)
        return (kinds >> n->kind) & 1;
    for (uint32_t i = 0; i < n->n; i++)
        if (holds(p, p->branches[n->first + i], kinds))
            return true;
    return false;
}

/* The record branch of t (t itself, or a union's record branch), UINT32_MAX when none. */
static uint32_t record_of(const aplan *p, uint32_t t) {
    const anode *n = &p->nodes[t];
    if (n->kind == AN_RECORD)
        return t;
    if (n->kind == AN_UNION)
        for (uint32_t i = 0; i < n->n; i++)
            if (p->nodes[p->branches[n->first + i]].kind == AN_RECORD)
                return p->branches[n->first + i];
    return UINT32_MAX;
}

#define K(x) (1u << (x))
#define K_TEXT (K(AN_STRING) | K(AN_ENUM) | K(AN_BYTES))
#define K_NUM (K(AN_INT) | K(AN_LONG) | K(AN_FLOAT) | K(AN_DOUBLE))

/*
 * A metadata field whose type can never hold its value would reject every
 * record: say so at startup instead.
 */
static spw_result check_meta_field(cctx *c, const afield *f, asource s) {
    const aplan *p = c->p;
    unsigned kinds = 0;
    const char *what = "";
    switch (s) {
    case ASRC_MSG: kinds = K_TEXT; what = "a string (\"write\" or \"delete\")"; break;
    case ASRC_NAMESPACE:
    case ASRC_SET: kinds = K(AN_STRING) | K(AN_BYTES) | K(AN_ENUM); what = "a string"; break;
    case ASRC_KEY: kinds = K_NUM | K_TEXT; what = "a long, double, string or bytes"; break;
    case ASRC_DIGEST: kinds = K(AN_BYTES) | K(AN_FIXED); what = "20 bytes"; break;
    case ASRC_GEN:
    case ASRC_EXP: kinds = K_NUM; what = "an integer"; break;
    case ASRC_LUT: kinds = K(AN_LONG) | K(AN_FLOAT) | K(AN_DOUBLE); what = "Unix milliseconds (a long)"; break;
    case ASRC_DURABLE: kinds = K(AN_BOOLEAN); what = "a boolean"; break;
    default: return SPW_OK;
    }
    if (!holds(p, f->type, kinds))
        return fail(c, "the field \"%s\" holds the record's %s, %s, which its type cannot hold", f->name,
                    f->name, what);
    if (s == ASRC_DIGEST && !holds(p, f->type, K(AN_BYTES))) {
        /* only fixed branches: one of them must be 20 bytes */
        const anode *n = &p->nodes[f->type];
        bool ok20 = n->kind == AN_FIXED && n->n == 20;
        for (uint32_t i = 0; n->kind == AN_UNION && i < n->n; i++) {
            const anode *b = &p->nodes[p->branches[n->first + i]];
            ok20 |= b->kind == AN_FIXED && b->n == 20;
        }
        if (!ok20)
            return fail(c, "the field \"digest\" is a fixed of another size than 20");
    }
    if (s == ASRC_MSG && !holds(p, f->type, K(AN_STRING) | K(AN_BYTES))) {
        /* only enums: at least one of them must know write or delete */
        const anode *n = &p->nodes[f->type];
        bool any = false;
        for (uint32_t i = 0; i < (n->kind == AN_UNION ? n->n : 1); i++) {
            const anode *e = n->kind == AN_UNION ? &p->nodes[p->branches[n->first + i]] : n;
            for (uint32_t k = 0; e->kind == AN_ENUM && k < e->n; k++)
                any |= strcmp(p->syms[e->first + k].name, "write") == 0 ||
                       strcmp(p->syms[e->first + k].name, "delete") == 0;
        }
        if (!any)
            return fail(c, "the field \"msg\" is an enum without the symbols write and delete");
    }
    return SPW_OK;
}

static uint32_t hash_name(const void *s, size_t n) {
    const uint8_t *p = s;
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 16777619u;
    return h;
}

static spw_result bind_top(cctx *c) {
    aplan *p = c->p;
    const anode *root = &p->nodes[p->root];
    p->meta_rec = UINT32_MAX;
    p->top_src = calloc(root->n ? root->n : 1, 1);
    if (!p->top_src)
        return oom(c);
    uint32_t nbins = 0;
    for (uint32_t i = 0; i < root->n; i++) {
        const afield *f = &p->fields[root->first + i];
        asource s = meta_source(f->name);
        if (s == ASRC_NONE && strcmp(f->name, "metadata") == 0 &&
            record_of(p, f->type) != UINT32_MAX) {
            s = ASRC_METADATA;
            p->meta_rec = record_of(p, f->type);
        } else if (s == ASRC_NONE) {
            s = ASRC_BIN;
            nbins++;
        }
        p->top_src[i] = (uint8_t)s;
        spw_result r = check_meta_field(c, f, s);
        if (r != SPW_OK)
            return r;
    }
    if (p->meta_rec != UINT32_MAX) {
        const anode *m = &p->nodes[p->meta_rec];
        if (p->meta_rec == p->root)
            return fail(c, "the field \"metadata\" cannot be the top-level record itself");
        p->meta_src = calloc(m->n ? m->n : 1, 1);
        if (!p->meta_src)
            return oom(c);
        for (uint32_t i = 0; i < m->n; i++) {
            const afield *f = &p->fields[m->first + i];
            asource s = meta_source(f->name);
            p->meta_src[i] = (uint8_t)s;
            spw_result r = check_meta_field(c, f, s);
            if (r != SPW_OK)
                return r;
        }
    }
    uint32_t size = 8;
    while (size < 2 * nbins)
        size *= 2;
    p->bin_slots = calloc(size, sizeof *p->bin_slots);
    if (!p->bin_slots)
        return oom(c);
    p->bin_mask = size - 1;
    p->n_bin_fields = nbins;
    for (uint32_t i = 0; i < root->n; i++) {
        if (p->top_src[i] != ASRC_BIN)
            continue;
        const afield *f = &p->fields[root->first + i];
        uint32_t h = hash_name(f->name, f->name_len) & p->bin_mask;
        while (p->bin_slots[h])
            h = (h + 1) & p->bin_mask;
        p->bin_slots[h] = i + 1;
    }
    return SPW_OK;
}

/* ---- entry points ---- */

static spw_result read_file(const char *path, char **text, size_t *len, spw_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f)
        return spw_err_set(err, SPW_ERR_CONFIG, "avro codec: schema_file %s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > SCHEMA_MAX_BYTES) {
        fclose(f);
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "avro codec: schema_file %s: not a regular file of at most %zu bytes", path,
                           SCHEMA_MAX_BYTES);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (!buf) {
        fclose(f);
        return spw_err_set(err, SPW_ERR_NOMEM, "avro codec: out of memory reading %s", path);
    }
    size_t n = fread(buf, 1, (size_t)st.st_size, f);
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return spw_err_set(err, SPW_ERR_CONFIG, "avro codec: schema_file %s: read error", path);
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return SPW_OK;
}

spw_result acodec_plan_from_text(const char *text, size_t len, bool generic, aplan *p, spw_err *err) {
    memset(p, 0, sizeof *p);
    if (len > SCHEMA_MAX_BYTES)
        return spw_err_set(err, SPW_ERR_CONFIG, "avro codec: the schema is larger than %zu bytes",
                           SCHEMA_MAX_BYTES);
    json_error_t je;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!doc)
        return spw_err_set(err, SPW_ERR_CONFIG, "avro codec: the schema is not JSON: %s (line %d)",
                           je.text, je.line);
    cctx c = {.p = p, .err = err};
    for (size_t i = 0; i < sizeof c.prim / sizeof c.prim[0]; i++)
        c.prim[i] = UINT32_MAX;
    p->generic = generic;
    spw_result r = SPW_OK;
    p->root = compile(&c, doc, "");
    if (p->root == UINT32_MAX)
        r = c.failed ? SPW_ERR_CONFIG : oom(&c);
    else if (p->nodes[p->root].kind != AN_RECORD)
        r = fail(&c, "the top-level type must be a record (it is %s)",
                 kind_name((anode_kind)p->nodes[p->root].kind));
    if (r == SPW_OK)
        r = encode_defaults(&c);
    if (r == SPW_OK && !generic)
        r = bind_top(&c);
    if (r == SPW_OK) {
        /* avro-c must take it too: consumers may read with it, and it is
         * the reference C reader. It comes second because its messages
         * name no place, and because some of its error paths leak (a
         * named type defined twice leaks the record it was building),
         * which the compiler above refuses first. */
        avro_schema_t vetted = NULL;
        if (avro_schema_from_json_length(text, len, &vetted) != 0) {
            const char *why = avro_strerror();
            r = spw_err_set(err, SPW_ERR_CONFIG, "avro codec: the schema is not valid Avro: %s",
                            why && *why ? why : "avro-c refuses it");
            c.failed = true;
        } else
            avro_schema_decref(vetted);
    }
    if (r == SPW_OK) {
        p->fingerprint = acodec_crc64_avro(p->canonical.data, p->canonical.len);
        /* Container headers carry the schema as written, minus whitespace:
         * unlike the canonical form it keeps docs, defaults and logical
         * types, which readers may use. */
        char *compact = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
        if (!compact || spw_buf_append(&p->schema_json, compact, strlen(compact)) != SPW_OK)
            r = oom(&c);
        free(compact);
    }
    if (c.failed && r == SPW_OK)
        r = SPW_ERR_CONFIG; /* an error deep in the walk with no value returned */
    free(c.names);
    free(c.defaults);
    json_decref(doc);
    if (r != SPW_OK) {
        if (r == SPW_ERR_CONFIG && !c.failed)
            spw_err_set(err, r, "avro codec: schema: invalid");
        acodec_plan_free(p);
    }
    return r;
}

spw_result acodec_plan_build(const acodec_config *cfg, aplan *p, spw_err *err) {
    bool inline_set = cfg->schema && *cfg->schema;
    bool file_set = cfg->schema_file && *cfg->schema_file;
    if (inline_set && file_set)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "avro codec: set schema or schema_file, not both");
    if (!inline_set && !file_set)
        return acodec_plan_from_text(acodec_generic_schema, acodec_generic_schema_len, true, p, err);
    if (inline_set)
        return acodec_plan_from_text(cfg->schema, strlen(cfg->schema), false, p, err);
    char *text = NULL;
    size_t len = 0;
    spw_result r = read_file(cfg->schema_file, &text, &len, err);
    if (r != SPW_OK)
        return r;
    r = acodec_plan_from_text(text, len, false, p, err);
    if (r != SPW_OK && r != SPW_ERR_NOMEM) {
        /* Say which file: the message so far names only the problem. */
        spw_err inner = *err;
        spw_err_set(err, r, "%s (in %s)", inner.msg, cfg->schema_file);
    }
    free(text);
    return r;
}

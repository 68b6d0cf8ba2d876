/*
 * core/transform.c: bin include/exclude/rename and metadata exclusion for a
 * route (see transform.h). Lists are short in practice (a handful of bin
 * names), so matching is a linear scan; nothing is allocated per event once
 * the scratch array has grown to the largest bin count seen.
 */
#include <stdlib.h>
#include <string.h>
#include "transform.h"

static const struct {
    const char *name;
    spw_meta bit;
} meta_names[] = {
    {"namespace", SPW_META_NAMESPACE}, {"set", SPW_META_SET},   {"userKey", SPW_META_KEY},
    {"digest", SPW_META_DIGEST},       {"msg", SPW_META_MSG},   {"gen", SPW_META_GEN},
    {"lut", SPW_META_LUT},             {"exp", SPW_META_EXP},   {"durable", SPW_META_DURABLE},
};

spw_result spw__xform_compile(const spw_strlist *include, const spw_strlist *exclude,
                              const spw_strlist *rename, const spw_strlist *meta_exclude,
                              spw__xform *x, spw_err *err) {
    memset(x, 0, sizeof *x);
    if (include->n && exclude->n)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "bins_include and bins_exclude cannot both be given: list the bins to keep, or those to drop");
    x->include = include;
    x->exclude = exclude;
    if (rename->n) {
        x->renames = calloc(rename->n, sizeof *x->renames);
        if (!x->renames)
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < rename->n; i++) {
        const char *item = rename->v[i];
        const char *colon = strchr(item, ':');
        if (!colon || colon == item || !colon[1] || strchr(colon + 1, ':')) {
            spw__xform_free(x);
            return spw_err_set(err, SPW_ERR_CONFIG,
                               "bins_rename item '%s' is not of the form OLD:NEW", item);
        }
        spw__rename *r = &x->renames[x->n_renames];
        r->from_len = (size_t)(colon - item);
        r->from = strndup(item, r->from_len);
        r->to = strdup(colon + 1);
        r->to_len = strlen(colon + 1);
        x->n_renames++;
        if (!r->from || !r->to) {
            spw__xform_free(x);
            return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
        }
        for (size_t k = 0; k + 1 < x->n_renames; k++)
            if (strcmp(x->renames[k].from, r->from) == 0) {
                spw_err_set(err, SPW_ERR_CONFIG, "bins_rename renames bin '%s' twice", r->from);
                spw__xform_free(x);
                return SPW_ERR_CONFIG;
            }
    }
    for (size_t i = 0; i < meta_exclude->n; i++) {
        size_t k = 0;
        while (k < sizeof meta_names / sizeof meta_names[0] &&
               strcmp(meta_names[k].name, meta_exclude->v[i]) != 0)
            k++;
        if (k == sizeof meta_names / sizeof meta_names[0]) {
            spw_err_set(err, SPW_ERR_CONFIG,
                        "metadata_exclude: unknown field '%s' (namespace, set, userKey, digest, msg, gen, lut, exp, durable)",
                        meta_exclude->v[i]);
            spw__xform_free(x);
            return SPW_ERR_CONFIG;
        }
        x->meta_excluded |= (uint16_t)meta_names[k].bit;
    }
    x->active = include->n || exclude->n || x->n_renames || x->meta_excluded;
    return SPW_OK;
}

void spw__xform_free(spw__xform *x) {
    for (size_t i = 0; i < x->n_renames; i++) {
        free(x->renames[i].from);
        free(x->renames[i].to);
    }
    free(x->renames);
    x->renames = NULL;
    x->n_renames = 0;
}

static bool listed(const spw_strlist *l, spw_str name) {
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == name.len && memcmp(l->v[i], name.ptr, name.len) == 0)
            return true;
    return false;
}

const spw_event *spw__xform_apply(const spw__xform *x, const spw_event *ev, struct spw_event *shadow,
                                  spw__xform_scratch *scratch) {
    if (!x->active)
        return ev;
    if (scratch->cap < ev->n_bins) {
        spw_bin *b = realloc(scratch->bins, ev->n_bins * sizeof *b);
        if (!b)
            return NULL;
        scratch->bins = b;
        scratch->cap = ev->n_bins;
    }
    *shadow = *ev;
    shadow->meta_excluded = x->meta_excluded;
    shadow->bins = scratch->bins;
    uint32_t n = 0;
    for (uint32_t i = 0; i < ev->n_bins; i++) {
        spw_bin b = ev->bins[i];
        if (x->include->n ? !listed(x->include, b.name) : listed(x->exclude, b.name))
            continue;
        for (size_t k = 0; k < x->n_renames; k++)
            if (x->renames[k].from_len == b.name.len &&
                memcmp(x->renames[k].from, b.name.ptr, b.name.len) == 0) {
                b.name = (spw_str){x->renames[k].to, x->renames[k].to_len};
                break;
            }
        scratch->bins[n++] = b;
    }
    shadow->n_bins = n;
    shadow->max_bins = n;
    return shadow;
}

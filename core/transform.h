/*
 * core/transform.h: a route's bin and metadata transforms (the vendor's
 * bin-transforms: include/exclude lists and renames), applied by the core
 * so every codec honours them without code of its own.
 *
 * The transform never copies values: it builds a "shadow" of the event on
 * the stack whose bins array is the route's scratch array (kept bins, with
 * renamed names) and whose meta_excluded bits say which metadata to leave
 * out; the codec encodes the shadow as if it were the event. Codecs must
 * not keep or reference the event they encode (the SDK already says so).
 */
#ifndef SPW_CORE_TRANSFORM_H
#define SPW_CORE_TRANSFORM_H

#include <spillway/plugin.h>
#include "event-private.h"

typedef struct spw__rename {
    char *from, *to;
    size_t from_len, to_len;
} spw__rename;

typedef struct spw__xform {
    bool active;                 /* false: events pass untouched */
    const spw_strlist *include;  /* borrowed from the sink conf; n == 0: all bins */
    const spw_strlist *exclude;  /* borrowed from the sink conf */
    spw__rename *renames;
    size_t n_renames;
    uint16_t meta_excluded;
} spw__xform;

/* Per route and worker: the bins array of the shadow event. */
typedef struct spw__xform_scratch {
    spw_bin *bins;
    size_t cap;
} spw__xform_scratch;

/*
 * Compiles the sink's bins_include, bins_exclude, bins_rename and
 * metadata_exclude. Errors (both lists given, a rename without ':' or with
 * an empty side, the same bin renamed twice, an unknown metadata name)
 * are returned with a message for the caller to prefix with file and line.
 */
spw_result spw__xform_compile(const spw_strlist *include, const spw_strlist *exclude,
                              const spw_strlist *rename, const spw_strlist *meta_exclude,
                              spw__xform *x, spw_err *err);
void spw__xform_free(spw__xform *x);

/*
 * The event the codec should see: ev itself when the transform is inactive,
 * otherwise *shadow filled in (valid as long as ev and scratch). NULL when
 * the scratch array could not grow (out of memory).
 */
const spw_event *spw__xform_apply(const spw__xform *x, const spw_event *ev,
                                  struct spw_event *shadow, spw__xform_scratch *scratch);

#endif /* SPW_CORE_TRANSFORM_H */

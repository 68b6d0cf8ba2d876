/*
 * tests/plugins/sink-unresolved.c: a valid descriptor in a module that
 * references a function nothing defines. Opened lazily (libltdl's own
 * way) it would load and crash on first create(); the loader binds every
 * symbol at load and must refuse it, naming the symbol
 * (tests/unit/test-loader.c), and the RTLD_NOW test
 * (tests/unit/test-dlopen-all.c) must see it fail too.
 */
#include "common-sink.h"

extern void spw_does_not_exist(void);

static spw_result unresolved_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    spw_does_not_exist();
    *inst = NULL;
    return SPW_OK;
}

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "unresolved", .version = "1",
                  .description = "references an undefined symbol", .create = unresolved_create,
                  .destroy = test_destroy, .sink = &test_sink_ops);

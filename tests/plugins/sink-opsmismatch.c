/* tests/plugins/sink-opsmismatch.c: a sink that sets filter ops instead of sink ops. */
#include "common-sink.h"

static spw_result test_match(void *inst, const spw_event *ev) {
    return SPW_OK;
}

static const spw_filter_ops test_filter_ops = {.match = test_match};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "opsmismatch", .version = "1",
                  .description = "kind sink with filter ops", .create = test_create,
                  .destroy = test_destroy, .filter = &test_filter_ops);

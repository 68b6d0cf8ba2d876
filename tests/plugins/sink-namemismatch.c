/* tests/plugins/sink-namemismatch.c: a valid sink whose descriptor names another plugin. */
#include "common-sink.h"

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "other", .version = "1",
                  .description = "file name and descriptor name differ", .create = test_create,
                  .destroy = test_destroy, .sink = &test_sink_ops);

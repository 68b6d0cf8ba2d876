/* tests/plugins/filter-wrongkind.c: a valid sink in a module named like a filter. */
#include "common-sink.h"

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "wrongkind", .version = "1",
                  .description = "file kind and descriptor kind differ", .create = test_create,
                  .destroy = test_destroy, .sink = &test_sink_ops);

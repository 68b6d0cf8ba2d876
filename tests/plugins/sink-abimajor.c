/*
 * tests/plugins/sink-abimajor.c: claims the next ABI major; must be
 * refused. Written out instead of SPW_PLUGIN_DEFINE, which fills in the
 * current version.
 */
#include "common-sink.h"

SPW_API extern const spw_plugin spw_plugin_descriptor;
const spw_plugin spw_plugin_descriptor = {
    .abi_major = SPW_ABI_MAJOR + 1,
    .abi_minor = 0,
    .struct_size = sizeof(spw_plugin),
    .kind = SPW_KIND_SINK,
    .name = "abimajor",
    .version = "1",
    .description = "built for a future major ABI",
    .create = test_create,
    .destroy = test_destroy,
    .sink = &test_sink_ops,
};

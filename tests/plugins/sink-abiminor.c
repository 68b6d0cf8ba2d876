/*
 * tests/plugins/sink-abiminor.c: claims a minor ABI newer than the core's;
 * must be refused. Written out instead of SPW_PLUGIN_DEFINE, which fills in
 * the current version.
 */
#include "common-sink.h"

SPW_API extern const spw_plugin spw_plugin_descriptor;
const spw_plugin spw_plugin_descriptor = {
    .abi_major = SPW_ABI_MAJOR,
    .abi_minor = SPW_ABI_MINOR + 3,
    .struct_size = sizeof(spw_plugin),
    .kind = SPW_KIND_SINK,
    .name = "abiminor",
    .version = "1",
    .description = "built for a newer minor ABI",
    .create = test_create,
    .destroy = test_destroy,
    .sink = &test_sink_ops,
};

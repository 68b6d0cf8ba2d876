/*
 * tests/plugins/sink-badoptions.c: an option table whose offset points far
 * outside the config struct; parsing into it would corrupt memory, so the
 * loader must refuse the plugin.
 */
#include <stddef.h>
#include "common-sink.h"

struct badoptions_config {
    int64_t n;
};

static const spw_option bad_options[] = {
    {"n", SPW_OPT_INT, 0, "1", 0, 0, NULL, offsetof(struct badoptions_config, n), "Fine."},
    {"far", SPW_OPT_INT, 0, "1", 0, 0, NULL, 4096, "Written 4 KiB past a 8-byte struct."},
    SPW_OPTIONS_END,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "badoptions", .version = "1",
                  .description = "an option offset outside config_size", .options = bad_options,
                  .config_size = sizeof(struct badoptions_config), .create = test_create,
                  .destroy = test_destroy, .sink = &test_sink_ops);

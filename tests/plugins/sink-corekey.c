/*
 * tests/plugins/sink-corekey.c: a sink whose option table declares
 * `concurrency`, a key the core reads in every [sink.*] section. The key
 * would be claimed twice, so the loader must refuse the plugin, naming the
 * file and the key, before any pipeline uses it.
 */
#include <stddef.h>
#include "common-sink.h"

struct corekey_config {
    int64_t url_count;
    int64_t concurrency;
};

static const spw_option corekey_options[] = {
    {"url_count", SPW_OPT_INT, 0, "1", 0, 0, NULL, offsetof(struct corekey_config, url_count),
     "Fine."},
    {"concurrency", SPW_OPT_INT, 0, "8", 0, 0, NULL, offsetof(struct corekey_config, concurrency),
     "The core's key."},
    SPW_OPTIONS_END,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "corekey", .version = "1",
                  .description = "declares the core's concurrency key", .options = corekey_options,
                  .config_size = sizeof(struct corekey_config), .create = test_create,
                  .destroy = test_destroy, .sink = &test_sink_ops);

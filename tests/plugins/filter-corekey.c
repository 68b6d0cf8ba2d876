/*
 * tests/plugins/filter-corekey.c: a filter whose option table declares
 * `plugin`, the key every section uses to name its plugin: the option
 * could never be set, so the loader must refuse the plugin.
 */
#include <stddef.h>
#include <spillway/plugin.h>

struct fcorekey_config {
    char *plugin;
};

static const spw_option fcorekey_options[] = {
    {"plugin", SPW_OPT_STRING, 0, NULL, 0, 0, NULL, offsetof(struct fcorekey_config, plugin),
     "The core's key."},
    SPW_OPTIONS_END,
};

static spw_result fcorekey_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    (void)st;
    (void)config;
    (void)err;
    *inst = NULL;
    return SPW_OK;
}

static void fcorekey_destroy(void *inst) { (void)inst; }

static spw_result fcorekey_match(void *inst, const spw_event *ev) {
    (void)inst;
    (void)ev;
    return SPW_OK;
}

static const spw_filter_ops fcorekey_ops = {.match = fcorekey_match};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_FILTER, .name = "corekey", .version = "1",
                  .description = "declares the core's plugin key", .options = fcorekey_options,
                  .config_size = sizeof(struct fcorekey_config), .create = fcorekey_create,
                  .destroy = fcorekey_destroy, .filter = &fcorekey_ops);

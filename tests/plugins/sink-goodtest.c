/*
 * tests/plugins/sink-goodtest.c: a complete, valid sink with an option
 * table. The loader tests must accept it; its callbacks are never run.
 */
#include <stddef.h>
#include <spillway/plugin.h>

struct goodtest_config {
    char *path;
    int64_t max;
    bool verbose;
};

static const spw_option goodtest_options[] = {
    {"path", SPW_OPT_STRING, SPW_OPT_REQUIRED, NULL, 0, 0, NULL,
     offsetof(struct goodtest_config, path), "Where nothing is written."},
    {"max", SPW_OPT_INT, 0, "10", 1, 100, NULL, offsetof(struct goodtest_config, max),
     "An upper bound on nothing."},
    {"verbose", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, offsetof(struct goodtest_config, verbose),
     "Says more about nothing."},
    SPW_OPTIONS_END,
};

static spw_result goodtest_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    *inst = NULL;
    return SPW_OK;
}

static void goodtest_destroy(void *inst) {}

/* Calls into libspillway so the RTLD_NOW test sees a resolved core symbol. */
static spw_result goodtest_send(void *inst, spw_batch *b, spw_err *err) {
    return spw_err_set(err, SPW_ERR_UNSUPPORTED, "goodtest delivers nothing");
}

static const spw_sink_ops goodtest_ops = {.send = goodtest_send, .default_concurrency = 1};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "goodtest", .version = "0.0.1-test",
                  .description = "a valid sink for the loader tests", .options = goodtest_options,
                  .config_size = sizeof(struct goodtest_config), .create = goodtest_create,
                  .destroy = goodtest_destroy, .sink = &goodtest_ops);

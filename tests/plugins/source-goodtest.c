/*
 * tests/plugins/source-goodtest.c: a valid source without options. It
 * shares its name with sink-goodtest so the tests can check that a bare
 * "goodtest" is reported as ambiguous.
 */
#include <spillway/plugin.h>

static spw_result src_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    *inst = NULL;
    return SPW_OK;
}

static void src_destroy(void *inst) {}

static spw_result src_start(void *inst, spw_err *err) {
    return SPW_OK;
}

static void src_nothing(void *inst) {}

static const spw_source_ops src_ops = {
    .start = src_start, .pause = src_nothing, .resume = src_nothing, .stop = src_nothing};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SOURCE, .name = "goodtest", .version = "0.0.2-test",
                  .description = "a valid source for the loader tests, producing nothing",
                  .create = src_create, .destroy = src_destroy, .source = &src_ops);

/*
 * tests/plugins/common-sink.h: the callbacks of a valid sink, shared by the
 * deliberately broken test plugins so each of them is wrong in exactly one
 * way. Header-only: every plugin gets its own static copy.
 */
#ifndef SPW_TESTS_PLUGINS_COMMON_SINK_H
#define SPW_TESTS_PLUGINS_COMMON_SINK_H

#include <spillway/plugin.h>

/* Not every plugin uses every piece. */
#define TEST_UNUSED __attribute__((unused))

TEST_UNUSED static spw_result test_create(spw_stage *st, const void *config, void **inst,
                                          spw_err *err) {
    *inst = NULL;
    return SPW_OK;
}

TEST_UNUSED static void test_destroy(void *inst) {}

TEST_UNUSED static spw_result test_send(void *inst, spw_batch *b, spw_err *err) {
    return SPW_ERR_UNSUPPORTED;
}

TEST_UNUSED static const spw_sink_ops test_sink_ops = {.send = test_send};

#endif /* SPW_TESTS_PLUGINS_COMMON_SINK_H */

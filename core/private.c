/*
 * core/private.c: the table behind core/private.h. Compiled into the
 * installed libspillway only, not into the core convenience library: a
 * unit test linking the core statically calls the internals directly.
 */
#include "autoconf.h"
#include <string.h>

#include "private.h"

static const spw__private_api table = {
    .loader_init = spw__loader_init,
    .loader_exit = spw__loader_exit,
    .loader_find = spw__loader_find,
    .loader_find_any = spw__loader_find_any,
    .loader_open_file = spw__loader_open_file,
    .loader_check = spw__loader_check,
    .loader_list = spw__loader_list,
    .opts_defaults = spw__opts_defaults,
    .opts_free = spw__opts_free,
    .opts_print = spw__opts_print,
    .opts_print_markdown = spw__opts_print_markdown,
    .opts_print_roff = spw__opts_print_roff,
    .log_level_parse = spw__log_level_parse,
    .log_set_level = spw__log_set_level,
    .log_setup = spw__log_setup,
    .vlog = spw__vlog,
    .log_close = spw__log_close,
    .pipeline_load = spw__pipeline_load,
    .pipeline_free = spw__pipeline_free,
    .pipeline_options = spw__pipeline_options,
    .route_options = spw__route_options,
    .pipeline_run = spw__pipeline_run,
    .cfg_load = spw__cfg_load,
    .cfg_free = spw__cfg_free,
    .cfg_find = spw__cfg_find,
};

const spw__private_api *spw__private(size_t size, const char *version) {
    if (size != sizeof table || !version || strcmp(version, PACKAGE_VERSION) != 0)
        return NULL;
    return &table;
}

/*
 * core/private.h: the one door from outside libspillway.so into the core's
 * internals. Not part of the SDK: never installed, never documented to
 * plugin writers, changed freely between releases.
 *
 * Why a door: libspillway.so exports the SDK (the spw_ names declared in
 * sdk/spillway/) and nothing else of the core, whose spw__ internals are
 * hidden. Yet the spillway program must call a few internals (the loader,
 * the pipeline, the logger's set-up), and so must the test and the
 * benchmark that load plugins as the program does. They cannot link a
 * static copy of the core (libspillway-core.la) to get them: the plugins
 * they load link libspillway.so, so the process would hold two cores (two
 * log levels, two loader registries...) and the plugins would use the one
 * the program never set up. So they link only libspillway.so and reach
 * those internals through this table, which the library's one extra
 * exported symbol, spw__private, hands out.
 *
 * A program built this way compiles core/private-client.c in: it defines
 * each internal in the table under its usual name as a call through the
 * table, so the program's code reads as if it were inside the library.
 *
 * Adding an entry: a field here, the function in the table in
 * core/private.c, its forwarder in core/private-client.c.
 */
#ifndef SPW_CORE_PRIVATE_H
#define SPW_CORE_PRIVATE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <spillway/plugin.h>
#include "config.h"
#include "loader.h"
#include "log.h"
#include "options.h"
#include "pipeline.h"

typedef struct spw__private_api {
    /* loader.h */
    spw_result (*loader_init)(const char *const *extra_dirs, size_t n_extra, spw_err *err);
    void (*loader_exit)(void);
    spw_result (*loader_find)(spw_kind kind, const char *name, const spw_plugin **out, spw_err *err);
    spw_result (*loader_find_any)(const char *name, const spw_plugin **out, spw_err *err);
    spw_result (*loader_open_file)(const char *path, const spw_plugin **out, spw_err *err);
    spw_result (*loader_check)(const spw_plugin *p, const char *path, spw_err *err);
    int (*loader_list)(FILE *out);
    /* options.h */
    spw_result (*opts_defaults)(const spw_option *table, void *conf, spw_err *err);
    void (*opts_free)(const spw_option *table, void *conf);
    void (*opts_print)(FILE *out, const spw_option *table);
    void (*opts_print_markdown)(FILE *out, const spw_option *table);
    void (*opts_print_roff)(FILE *out, const spw_option *table);
    /* log.h */
    int (*log_level_parse)(const char *s);
    void (*log_set_level)(spw_log_level level);
    spw_result (*log_setup)(spw_log_level level, spw__log_format fmt, const char *path,
                            spw_err *err);
    void (*vlog)(const char *component, spw_log_level level, const char *fmt, va_list ap);
    void (*log_close)(void);
    /* pipeline.h */
    spw_result (*pipeline_load)(const char *path, const char *text, spw__pipeline **out,
                                spw_err *err);
    void (*pipeline_free)(spw__pipeline *p);
    const spw_option *(*pipeline_options)(void);
    const spw_option *(*route_options)(void);
    spw_result (*pipeline_run)(spw__pipeline *p, spw_err *err);
    /* config.h (spillway reload: the admin address of a pipeline file) */
    spw_result (*cfg_load)(const char *path, spw__cfg_file **out, spw_err *err);
    void (*cfg_free)(spw__cfg_file *f);
    spw__cfg_section *(*cfg_find)(const spw__cfg_file *f, const char *title);
} spw__private_api;

/*
 * The table, borrowed for the process lifetime, or NULL when the caller
 * was built against another build of the library: `size` must be
 * sizeof(spw__private_api) and `version` PACKAGE_VERSION as the caller
 * saw them. The caller reads the core's structs (spw__pipeline) too, so
 * a program and a library from different releases must not run together.
 */
SPW_API const spw__private_api *spw__private(size_t size, const char *version);

#endif /* SPW_CORE_PRIVATE_H */

/*
 * core/private-client.c: compiled into each program that links the shared
 * libspillway yet calls core internals (the spillway program, the loader
 * test, the codec benchmark). It defines every internal of the table in
 * core/private.h under its usual name, as a call through that table, so
 * those programs carry no code of the core: the only core in the process
 * is the one in libspillway.so, which the plugins they load link too.
 */
#include "autoconf.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "private.h"

static const spw__private_api *core;

/*
 * Before main (and after libspillway's own initialisers): a program and a
 * library of different builds disagree on the core's structs, so they
 * must not run together at all.
 */
__attribute__((constructor)) static void core_attach(void) {
    core = spw__private(sizeof *core, PACKAGE_VERSION);
    if (!core) {
        fprintf(stderr,
                "spillway: this program (%s) and the libspillway.so it loaded come from different "
                "builds; install them together\n",
                PACKAGE_VERSION);
        exit(1);
    }
}

spw_result spw__loader_init(const char *const *extra_dirs, size_t n_extra, spw_err *err) {
    return core->loader_init(extra_dirs, n_extra, err);
}

void spw__loader_exit(void) {
    core->loader_exit();
}

spw_result spw__loader_find(spw_kind kind, const char *name, const spw_plugin **out,
                            spw_err *err) {
    return core->loader_find(kind, name, out, err);
}

spw_result spw__loader_find_any(const char *name, const spw_plugin **out, spw_err *err) {
    return core->loader_find_any(name, out, err);
}

spw_result spw__loader_open_file(const char *path, const spw_plugin **out, spw_err *err) {
    return core->loader_open_file(path, out, err);
}

spw_result spw__loader_check(const spw_plugin *p, const char *path, spw_err *err) {
    return core->loader_check(p, path, err);
}

int spw__loader_list(FILE *out) {
    return core->loader_list(out);
}

spw_result spw__opts_defaults(const spw_option *table, void *conf, spw_err *err) {
    return core->opts_defaults(table, conf, err);
}

void spw__opts_free(const spw_option *table, void *conf) {
    core->opts_free(table, conf);
}

void spw__opts_print(FILE *out, const spw_option *table) {
    core->opts_print(out, table);
}

void spw__opts_print_markdown(FILE *out, const spw_option *table) {
    core->opts_print_markdown(out, table);
}

void spw__opts_print_roff(FILE *out, const spw_option *table) {
    core->opts_print_roff(out, table);
}

int spw__log_level_parse(const char *s) {
    return core->log_level_parse(s);
}

void spw__log_set_level(spw_log_level level) {
    core->log_set_level(level);
}

spw_result spw__log_setup(spw_log_level level, spw__log_format fmt, const char *path,
                          spw_err *err) {
    return core->log_setup(level, fmt, path, err);
}

void spw__vlog(const char *component, spw_log_level level, const char *fmt, va_list ap) {
    core->vlog(component, level, fmt, ap);
}

void spw__log(const char *component, spw_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    core->vlog(component, level, fmt, ap);
    va_end(ap);
}

void spw__log_close(void) {
    core->log_close();
}

spw_result spw__pipeline_load(const char *path, const char *text, spw__pipeline **out,
                              spw_err *err) {
    return core->pipeline_load(path, text, out, err);
}

void spw__pipeline_free(spw__pipeline *p) {
    core->pipeline_free(p);
}

const spw_option *spw__pipeline_options(void) {
    return core->pipeline_options();
}

const spw_option *spw__route_options(void) {
    return core->route_options();
}

spw_result spw__pipeline_run(spw__pipeline *p, spw_err *err) {
    return core->pipeline_run(p, err);
}

spw_result spw__cfg_load(const char *path, spw__cfg_file **out, spw_err *err) {
    return core->cfg_load(path, out, err);
}

void spw__cfg_free(spw__cfg_file *f) {
    core->cfg_free(f);
}

spw__cfg_section *spw__cfg_find(const spw__cfg_file *f, const char *title) {
    return core->cfg_find(f, title);
}

/*
 * core/log.h: the core's logger. One line per call, written with a single
 * write(2) so lines from several threads never interleave. Text or JSON
 * lines, to stderr or a file. Callers never pass secrets.
 */
#ifndef SPW_CORE_LOG_H
#define SPW_CORE_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <spillway/plugin.h>

typedef enum spw__log_format { SPW__LOG_TEXT = 0, SPW__LOG_JSON = 1 } spw__log_format;

/* Parses "error|warn|info|debug|trace"; -1 when unknown. */
int spw__log_level_parse(const char *s);
/* Configures the logger. path NULL or "-" or "stderr" = stderr. Not thread-safe: call before workers start. */
spw_result spw__log_setup(spw_log_level level, spw__log_format fmt, const char *path, spw_err *err);
void spw__log_set_level(spw_log_level level);
spw_log_level spw__log_level(void);
/* component: "core", "config", "loader", a stage's "sink.es"... */
void spw__log(const char *component, spw_log_level level, const char *fmt, ...) SPW_PRINTF(3, 4);
void spw__vlog(const char *component, spw_log_level level, const char *fmt, va_list ap);
void spw__log_close(void);

#endif /* SPW_CORE_LOG_H */

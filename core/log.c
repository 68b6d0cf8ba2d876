/*
 * core/log.c: the process-wide logger.
 *
 * Each line is formatted into a stack buffer and written with one write(2),
 * so concurrent workers never interleave partial lines and no lock is
 * needed. Lines longer than the buffer are truncated with a marker rather
 * than split. The level is read without a lock (a relaxed atomic): a
 * change takes effect at the next line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include "log.h"

#define LINE_MAX_BYTES 4096

static atomic_int g_level = SPW_LOG_INFO;
static spw__log_format g_format = SPW__LOG_TEXT;
static int g_fd = STDERR_FILENO;

static const char *const level_names[] = {"error", "warn", "info", "debug", "trace"};

int spw__log_level_parse(const char *s) {
    for (int i = 0; i < 5; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "warning") == 0)
        return SPW_LOG_WARN;
    return -1;
}

spw_result spw__log_setup(spw_log_level level, spw__log_format fmt, const char *path, spw_err *err) {
    int fd = STDERR_FILENO;
    if (path && *path && strcmp(path, "-") != 0 && strcmp(path, "stderr") != 0) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
            return spw_err_set(err, SPW_ERR_IO, "cannot open log file %s: %s", path, strerror(errno));
    }
    if (g_fd != STDERR_FILENO)
        close(g_fd);
    g_fd = fd;
    g_format = fmt;
    atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
    return SPW_OK;
}

void spw__log_set_level(spw_log_level level) {
    atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}

spw_log_level spw__log_level(void) {
    return (spw_log_level)atomic_load_explicit(&g_level, memory_order_relaxed);
}

bool spw_log_enabled(spw_log_level level) {
    return (int)level <= atomic_load_explicit(&g_level, memory_order_relaxed);
}

/* Appends s to buf[*pos..cap) as the inside of a JSON string. */
static void json_escape(char *buf, size_t cap, size_t *pos, const char *s) {
    static const char hex[] = "0123456789abcdef";
    for (; *s && *pos + 7 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = (char)c;
        } else if (c == '\n') {
            buf[(*pos)++] = '\\';
            buf[(*pos)++] = 'n';
        } else if (c < 0x20) {
            memcpy(buf + *pos, "\\u00", 4);
            *pos += 4;
            buf[(*pos)++] = hex[c >> 4];
            buf[(*pos)++] = hex[c & 15];
        } else {
            buf[(*pos)++] = (char)c;
        }
    }
}

void spw__vlog(const char *component, spw_log_level level, const char *fmt, va_list ap) {
    if (!spw_log_enabled(level))
        return;
    char msg[LINE_MAX_BYTES];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof msg)
        memcpy(msg + sizeof msg - 5, "...", 4);

    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char when[64];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", (tm.tm_year + 1900) % 10000,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(ts.tv_nsec / 1000000) % 1000);

    char line[LINE_MAX_BYTES + 256];
    size_t pos = 0;
    const char *lvl = level_names[level <= SPW_LOG_TRACE ? level : SPW_LOG_TRACE];
    if (g_format == SPW__LOG_JSON) {
        pos = (size_t)snprintf(line, sizeof line, "{\"time\":\"%s\",\"level\":\"%s\",\"component\":\"",
                               when, lvl);
        json_escape(line, sizeof line - 4, &pos, component ? component : "core");
        memcpy(line + pos, "\",\"msg\":\"", 9);
        pos += 9;
        json_escape(line, sizeof line - 4, &pos, msg);
        memcpy(line + pos, "\"}\n", 3);
        pos += 3;
    } else {
        int m = snprintf(line, sizeof line, "%s %-5s [%s] %s\n", when, lvl,
                         component ? component : "core", msg);
        pos = m < 0 ? 0 : (size_t)m < sizeof line ? (size_t)m : sizeof line - 1;
        if ((size_t)m >= sizeof line)
            line[pos - 1] = '\n';
    }
    /* One write per line; a short write to a full disk is not retried. */
    ssize_t w;
    do
        w = write(g_fd, line, pos);
    while (w < 0 && errno == EINTR);
}

void spw__log(const char *component, spw_log_level level, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    spw__vlog(component, level, fmt, ap);
    va_end(ap);
}

void spw__log_close(void) {
    if (g_fd != STDERR_FILENO)
        close(g_fd);
    g_fd = STDERR_FILENO;
}

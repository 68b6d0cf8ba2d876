/*
 * plugins/sink-file/file.c: the `file` sink. Appends each request body the
 * core hands it (one batch, framed by the route's codec) to a file, or to
 * standard output, optionally followed by a newline.
 *
 * Writes are synchronous, on the worker's loop. That would be wrong for a
 * network sink but is right here: this is a debugging, demo and test sink,
 * a write to a local file takes microseconds, and when the output is a
 * pipe whose reader is slow, blocking the worker is exactly the
 * backpressure the pipeline needs (events stay in flight, the in-flight
 * cap is reached, sources pause). Offloading to a thread pool would buy
 * nothing but reordering and memory.
 *
 * Several workers write the same file, each through its own descriptor
 * opened with O_APPEND, so their bodies never overwrite each other. One
 * body is written with one writev; a process-wide lock around the write
 * keeps a body contiguous even when the kernel writes it in pieces (a
 * pipe, a signal, a nearly full disk), so lines from two workers never
 * interleave. A failed write is answered "retry" and the batch is written
 * again whole later (except EPIPE, which no retry can fix: see send). When the failure comes after part of the body was
 * written (a disk filling up), the file is cut back to its size before
 * the write, still under the lock, so no torn record is left for the next
 * body to be glued to. That is only possible for a regular file this sink
 * opened itself, and assumes this process is its only writer; on a pipe,
 * or standard output, a torn body stays where it is.
 *
 * append = false: the file is truncated once, when worker 0 creates its
 * instance (O_TRUNC on its open). This is safe because the core creates
 * every stage on every worker before any source starts, so no worker can
 * have written to the file yet. check() is no place for it: it runs for
 * `spillway --check` and must have no side effects.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>
#include <spillway/spillway.h>

enum file_newline { NL_AUTO = 0, NL_ALWAYS, NL_NEVER };

struct file_conf {
    char *path;
    bool append;
    int newline;
    bool fsync;
};

struct file_sink {
    spw_stage *st;
    const struct file_conf *cf;
    const char *name; /* for messages: the path, or "stdout" */
    int fd;
    bool own_fd;      /* false for stdout, which the process owns */
    bool regular;     /* a regular file: fdatasync means something */
    bool rollback;    /* ...that we opened: a partial write can be cut off */
    bool failing;     /* the last write failed: log the next success, not every failure */
    spw_counter *c_batches, *c_bytes, *c_errors;
};

#define OFF(f) offsetof(struct file_conf, f)

static const spw_option file_options[] = {
    {"path", SPW_OPT_STRING, 0, "-", 0, 0, NULL, OFF(path),
     "File the bodies are appended to (created with mode 0644 if missing); '-' is standard "
     "output."},
    {"append", SPW_OPT_BOOL, 0, "true", 0, 0, NULL, OFF(append),
     "Keep what the file holds; false empties it once when the pipeline starts."},
    {"newline", SPW_OPT_ENUM, 0, "auto", 0, 0, "auto|always|never", OFF(newline),
     "Add a '\\n' after a body that does not end with one: auto for textual content types "
     "(text/*, */json, */*+json, */x-ndjson), always, or never."},
    {"fsync", SPW_OPT_BOOL, 0, "false", 0, 0, NULL, OFF(fsync),
     "Flush each body to disk (fdatasync) before reporting it delivered."},
    SPW_OPTIONS_END,
};

/* ---------------------------------------------------------------------- */
/* Writing                                                                 */
/* ---------------------------------------------------------------------- */

static uv_once_t write_lock_once = UV_ONCE_INIT;
static uv_mutex_t write_lock;

static void write_lock_init(void) {
    /* uv_mutex_init only fails when the system is out of resources at start-up */
    if (uv_mutex_init(&write_lock) != 0)
        abort();
}

/* Waits until fd is writable or the deadline (monotonic ms) passes; 0 or an errno. */
static int wait_writable(int fd, uint64_t deadline) {
    for (;;) {
        uint64_t now = spw_time_mono_ms();
        if (now >= deadline)
            return ETIMEDOUT;
        uint64_t wait = deadline - now;
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n = poll(&p, 1, wait > INT32_MAX ? INT32_MAX : (int)wait);
        if (n > 0)
            return 0; /* writable, or an error the next write will report */
        if (n < 0 && errno != EINTR)
            return errno;
    }
}

/*
 * Writes all of iov (modified) with as few writev calls as the kernel
 * allows. Returns 0 or an errno; *written counts what did get written. A
 * non-blocking descriptor (standard output may have been made one by
 * whoever shares it) is waited for, at most until the batch's deadline.
 */
static int write_all(int fd, struct iovec *iov, int n, uint64_t deadline, size_t *written) {
    *written = 0;
    while (n > 0) {
        ssize_t w = writev(fd, iov, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                int e = wait_writable(fd, deadline);
                if (e != 0)
                    return e;
                continue;
            }
            return errno;
        }
        size_t done = (size_t)w;
        *written += done;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

static const char *errno_text(int e, char *buf, size_t n) {
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
    return strerror_r(e, buf, n); /* the GNU variant may return a static string */
#else
    if (strerror_r(e, buf, n) != 0)
        snprintf(buf, n, "error %d", e);
    return buf;
#endif
}

/* text/..., .../json, .../...+json, .../x-ndjson (parameters ignored). */
static bool is_textual(const char *ct) {
    if (!ct)
        return false;
    const char *slash = strchr(ct, '/');
    if (!slash)
        return false;
    size_t tlen = (size_t)(slash - ct);
    const char *sub = slash + 1;
    size_t slen = strcspn(sub, "; \t");
    if (tlen == 4 && strncasecmp(ct, "text", 4) == 0)
        return true;
    if (slen == 4 && strncasecmp(sub, "json", 4) == 0)
        return true;
    if (slen > 5 && strncasecmp(sub + slen - 5, "+json", 5) == 0)
        return true;
    if (slen == 8 && strncasecmp(sub, "x-ndjson", 8) == 0)
        return true;
    return false;
}

static bool wants_newline(const struct file_sink *f, const spw_batch *b, spw_slice body) {
    if (f->cf->newline == NL_NEVER || body.len == 0 || body.ptr[body.len - 1] == '\n')
        return false;
    return f->cf->newline == NL_ALWAYS || is_textual(spw_batch_content_type(b));
}

static spw_result file_send(void *inst, spw_batch *b, spw_err *err) {
    struct file_sink *f = inst;
    spw_slice body = spw_batch_body(b);
    struct iovec iov[2];
    int n = 0;
    size_t total = body.len;
    (void)err;

    /* An empty body (a codec that wrote nothing) writes nothing, not even a newline. */
    if (body.len > 0) {
        iov[n].iov_base = (void *)body.ptr;
        iov[n++].iov_len = body.len;
        if (wants_newline(f, b, body)) {
            iov[n].iov_base = (void *)"\n";
            iov[n++].iov_len = 1;
            total++;
        }
    }

    int e = 0;
    if (n > 0) {
        struct stat sb;
        size_t written;
        uv_once(&write_lock_once, write_lock_init);
        uv_mutex_lock(&write_lock);
        bool can_undo = f->rollback && fstat(f->fd, &sb) == 0;
        e = write_all(f->fd, iov, n, spw_batch_deadline(b), &written);
        if (e != 0 && written > 0 && can_undo && ftruncate(f->fd, sb.st_size) != 0)
            spw_log(f->st, SPW_LOG_WARN, "%s: a partly written body could not be removed",
                    f->name);
        uv_mutex_unlock(&write_lock);
        /*
         * Outside the lock so workers' flushes overlap. A failed flush is
         * not undone (another worker may have appended since): the
         * records are whole, and the retry may only duplicate them.
         */
        if (e == 0 && f->cf->fsync && f->regular && fdatasync(f->fd) != 0)
            e = errno;
    }
    if (e != 0) {
        /*
         * ENOSPC, EIO...: transient, the records are fine, retry. EPIPE is
         * the exception: the pipe's reader has gone and this descriptor can
         * never be written again, so retrying would spin forever; as a
         * rejection the route's on_reject policy decides (drop, dead-letter,
         * or answer the source "retry").
         */
        spw_result outcome = e == EPIPE ? SPW_REJECT : SPW_RETRY;
        char buf[128], reason[256];
        snprintf(reason, sizeof reason, "writing %s: %s%s", f->name, errno_text(e, buf, sizeof buf),
                 e == EPIPE ? " (its reader has gone)" : "");
        spw_counter_add(f->c_errors, 1);
        spw_log(f->st, f->failing ? SPW_LOG_DEBUG : e == EPIPE ? SPW_LOG_ERROR : SPW_LOG_WARN,
                "%s (%zu records %s)", reason, spw_batch_count(b),
                e == EPIPE ? "rejected" : "will be retried");
        f->failing = true;
        spw_batch_done(b, outcome, reason);
        return SPW_OK;
    }
    if (f->failing) {
        spw_log(f->st, SPW_LOG_INFO, "writing %s works again", f->name);
        f->failing = false;
    }
    spw_counter_add(f->c_batches, 1);
    spw_counter_add(f->c_bytes, total);
    spw_batch_done(b, SPW_OK, NULL);
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* Lifecycle                                                               */
/* ---------------------------------------------------------------------- */

static spw_result file_check(const void *config, spw_err *err) {
    const struct file_conf *cf = config;
    if (!cf->path || cf->path[0] == '\0')
        return spw_err_set(err, SPW_ERR_CONFIG, "path: empty (use '-' for standard output)");
    return SPW_OK;
}

static spw_result file_create(spw_stage *st, const void *config, void **inst, spw_err *err) {
    const struct file_conf *cf = config;
    struct file_sink *f = calloc(1, sizeof *f);
    if (!f)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    f->st = st;
    f->cf = cf;
    f->c_batches = spw_counter_register(st, "batches", "Bodies written.");
    f->c_bytes = spw_counter_register(st, "bytes", "Bytes written, added newlines included.");
    f->c_errors = spw_counter_register(st, "errors", "Failed writes (their batches are retried).");
    if (!f->c_batches || !f->c_bytes || !f->c_errors) {
        free(f);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }

    /* Opening is last: it is the only step with a side effect (truncation). */
    if (strcmp(cf->path, "-") == 0) {
        f->name = "stdout";
        f->fd = STDOUT_FILENO;
    } else {
        int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC;
        if (!cf->append && spw_stage_worker(st) == 0)
            flags |= O_TRUNC;
        f->name = cf->path;
        f->fd = open(cf->path, flags, 0644);
        if (f->fd < 0) {
            char buf[128];
            int e = errno;
            free(f);
            return spw_err_set(err, SPW_ERR_IO, "cannot open '%s' for writing: %s", cf->path,
                               errno_text(e, buf, sizeof buf));
        }
        f->own_fd = true;
    }
    struct stat sb;
    f->regular = fstat(f->fd, &sb) == 0 && S_ISREG(sb.st_mode);
    f->rollback = f->regular && f->own_fd;
    if (cf->fsync && !f->regular)
        spw_log(st, SPW_LOG_DEBUG, "%s is not a regular file: fsync does not apply", f->name);
    *inst = f;
    return SPW_OK;
}

static void file_destroy(void *inst) {
    struct file_sink *f = inst;
    if (f->own_fd)
        close(f->fd);
    free(f);
}

static const spw_sink_ops file_sink_ops = {
    .send = file_send,
    .default_concurrency = 1,
};

SPW_PLUGIN_DEFINE(.kind = SPW_KIND_SINK, .name = "file", .version = "1.0.0",
                  .description = "Appends request bodies to a file or standard output",
                  .options = file_options, .config_size = sizeof(struct file_conf),
                  .check = file_check, .create = file_create, .destroy = file_destroy,
                  .sink = &file_sink_ops);

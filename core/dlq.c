/*
 * core/dlq.c: the dead-letter writer. Owns the dead-letter file of one
 * pipeline, the queue of lines waiting to be made durable, and the NDJSON
 * format of a dead-lettered event.
 *
 * How a line becomes durable (group commit):
 *
 *   spw__dlq_write (worker thread, any loop)
 *     appends the line to `pending` under the mutex and queues one
 *     uv_work_t on the caller's loop. The request is counted in
 *     `outstanding`.
 *
 *   dlq_work (libuv thread pool)
 *     takes the mutex. If another job has already committed this line it
 *     returns at once. If a commit is running it waits for it to finish
 *     (its line was either in that batch or is still pending). Otherwise it
 *     becomes the committer: it takes *every* pending line, releases the
 *     mutex, writes them with as few write(2) calls as the kernel allows,
 *     fdatasyncs, and records the one result of that batch in each of its
 *     requests. Lines that arrive meanwhile wait for the next committer, so
 *     under load each fsync carries many lines.
 *
 *   dlq_after (the submitting loop's thread, run by libuv)
 *     hands the request's own result to the callback. libuv guarantees the
 *     after-work callback runs on the loop that queued the work, so no
 *     per-loop handles are needed and callbacks never cross threads.
 *
 * Invariants the code keeps:
 *   - A request is SPW_OK only if the fsync that followed the write of its
 *     line returned success. A failed write or fsync answers exactly the
 *     requests of that batch with a negative result; they will be retried.
 *   - A request not yet done is in the pending list unless a commit is
 *     running, so a job that finds no commit running and its line not done
 *     always commits its own line.
 *   - Lines are written in the order spw__dlq_write accepted them.
 *   - After a failed batch the file is truncated back to where the batch
 *     began, so a torn line never precedes later good ones; if even that
 *     fails, the next batch starts with a newline to end the torn line.
 *
 * The cost of this design: a pool thread can block waiting for a running
 * fsync (at most pool size - 1 of them, as only one commit runs at a time).
 * A burst thus delays other thread-pool users; UV_THREADPOOL_SIZE bounds it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "dlq.h"
#include "log.h"

/* Bytes of lines accepted but not yet committed: beyond this, writes fail fast. */
#define DLQ_MAX_QUEUED ((size_t)64 << 20)
/* A commit buffer larger than this is released after use rather than kept. */
#define DLQ_KEEP_BUF ((size_t)1 << 20)

typedef struct dlq_req dlq_req;
struct dlq_req {
    uv_work_t work;
    spw__dlq *q;
    dlq_req *next;      /* next request in the same batch */
    spw__dlq_cb cb;
    void *arg;
    spw_result result;  /* the batch's result, valid once done */
    bool done;
};

struct spw__dlq {
    int fd;
    char *path;

    uv_mutex_t mu;      /* guards everything below */
    uv_cond_t cv;       /* a commit ended, or outstanding reached 0 */
    spw_buf pending;    /* lines accepted, not yet taken by a committer */
    dlq_req *head, *tail; /* their requests, in order */
    spw_buf spare;      /* an empty buffer to swap in for pending */
    size_t queued;      /* bytes pending + bytes in the running commit */
    size_t outstanding; /* requests whose dlq_work has not returned */
    bool committing;    /* a job is writing and syncing a batch */
    bool closing;       /* spw__dlq_close has begun: refuse writes */
    bool torn;          /* the file may end in a partial line */
    bool failing;       /* the last batch failed (logged once per episode) */
    uint64_t lines;     /* lines committed successfully */
    uint64_t syncs;     /* fsync calls made */
};

#define REQ_OF(w) ((dlq_req *)((char *)(w) - offsetof(dlq_req, work)))

static spw_result errno_result(int e) {
    switch (e) {
    case ENOSPC:
#ifdef EDQUOT
    case EDQUOT:
#endif
    case EFBIG:
        return SPW_ERR_NOSPACE;
    case ENOMEM:
        return SPW_ERR_NOMEM;
    default:
        return SPW_ERR_IO;
    }
}

/* Writes all n bytes, retrying short writes and EINTR. Returns 0 or an errno. */
static int write_all(int fd, const uint8_t *p, size_t n) {
    while (n > 0) {
        ssize_t k = write(fd, p, n > (size_t)SSIZE_MAX ? (size_t)SSIZE_MAX : n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return errno;
        }
        if (k == 0)
            return EIO; /* a regular file never does this; do not spin */
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/*
 * fdatasync is enough for an append: it flushes the new size with the
 * data. On macOS only F_FULLFSYNC reaches the platter. Returns 0 or an errno.
 */
static int sync_fd(int fd) {
    int rc;
#if defined(F_FULLFSYNC)
    do
        rc = fcntl(fd, F_FULLFSYNC);
    while (rc < 0 && errno == EINTR);
    if (rc == 0)
        return 0;
#endif
#if defined(__linux__) || (defined(_POSIX_SYNCHRONIZED_IO) && _POSIX_SYNCHRONIZED_IO > 0)
    do
        rc = fdatasync(fd);
    while (rc < 0 && errno == EINTR);
#else
    do
        rc = fsync(fd);
    while (rc < 0 && errno == EINTR);
#endif
    return rc < 0 ? errno : 0;
}

/*
 * Writes and syncs one batch; runs without the mutex (only the committer
 * touches the file). Returns 0 or the errno of the failure.
 */
static int commit_batch(spw__dlq *q, const spw_buf *b, bool *torn, const char **what) {
    struct stat st;
    if (fstat(q->fd, &st) != 0) {
        *what = "stat";
        return errno;
    }
    off_t start = st.st_size;
    bool was_torn = *torn;
    int e = 0;
    if (*torn) {
        e = write_all(q->fd, (const uint8_t *)"\n", 1);
        if (e == 0)
            *torn = false;
    }
    if (e == 0) {
        e = write_all(q->fd, b->data, b->len);
        *what = "write";
    }
    if (e == 0) {
        e = sync_fd(q->fd);
        *what = "fsync";
    }
    if (e != 0) {
        /*
         * Cut the file back to where this batch began: its requests are
         * told it failed, so no part of it should stay in the file, and a
         * partial line must not end up glued to the next batch's first.
         * After a failed fsync the page cache may hold data the disk does
         * not; truncating drops that too.
         */
        int rc;
        do
            rc = ftruncate(q->fd, start);
        while (rc < 0 && errno == EINTR);
        /* Cut back, the file ends as it did before (the newline above is gone too). */
        *torn = rc == 0 ? was_torn : true;
    }
    return e;
}

/* Commits every pending line. Called and returns with q->mu held. */
static void commit_pending(spw__dlq *q) {
    dlq_req *batch = q->head;
    q->head = q->tail = NULL;
    spw_buf b = q->pending;
    q->pending = q->spare;
    q->spare = (spw_buf)SPW_BUF_INIT;
    bool torn = q->torn;
    q->committing = true;
    uv_mutex_unlock(&q->mu);

    const char *what = "write";
    int e = commit_batch(q, &b, &torn, &what);
    bool synced = e == 0 || strcmp(what, "fsync") == 0;
    spw_result r = e == 0 ? SPW_OK : errno_result(e);

    uint64_t n = 0;
    for (dlq_req *it = batch; it; it = it->next)
        n++;
    if (e != 0) {
        if (!q->failing)
            spw__log("dlq", SPW_LOG_ERROR,
                     "dead-letter file %s: %s failed: %s; %llu event(s) will be retried "
                     "(further failures are not logged until a write succeeds)",
                     q->path, what, strerror(e), (unsigned long long)n);
    } else if (q->failing) {
        spw__log("dlq", SPW_LOG_INFO, "dead-letter file %s: writes succeed again", q->path);
    }

    uv_mutex_lock(&q->mu);
    q->failing = e != 0;
    q->torn = torn;
    if (synced)
        q->syncs++;
    if (e == 0)
        q->lines += n;
    for (dlq_req *it = batch; it; it = it->next) {
        it->result = r;
        it->done = true;
    }
    q->queued -= b.len;
    if (b.cap > DLQ_KEEP_BUF)
        spw_buf_free(&b);
    spw_buf_reset(&b);
    q->spare = b;
    q->committing = false;
    uv_cond_broadcast(&q->cv);
}

static void dlq_work(uv_work_t *w) {
    dlq_req *req = REQ_OF(w);
    spw__dlq *q = req->q;
    uv_mutex_lock(&q->mu);
    while (!req->done) {
        if (q->committing)
            uv_cond_wait(&q->cv, &q->mu);
        else
            commit_pending(q); /* req is pending, so this commits it */
    }
    /*
     * The last touch of q: close() may free it as soon as we unlock, which
     * is why the broadcast happens with the mutex still held.
     */
    if (--q->outstanding == 0)
        uv_cond_broadcast(&q->cv);
    uv_mutex_unlock(&q->mu);
}

static void dlq_after(uv_work_t *w, int status) {
    dlq_req *req = REQ_OF(w);
    spw__dlq_cb cb = req->cb;
    void *arg = req->arg;
    /* status is non-zero only if the work was cancelled, which nothing here does. */
    spw_result r = status == 0 ? req->result : SPW_ERR_IO;
    free(req);
    cb(arg, r);
}

spw_result spw__dlq_write(spw__dlq *q, uv_loop_t *loop, const void *line, size_t len,
                          spw__dlq_cb cb, void *arg) {
    if (!q || !loop || !line || !cb || len == 0)
        return SPW_ERR_INVAL;
    /* Exactly one line: a stray newline would split it in the file. */
    const char *s = line;
    if (s[len - 1] != '\n' || memchr(s, '\n', len - 1) != NULL)
        return SPW_ERR_INVAL;

    dlq_req *req = calloc(1, sizeof *req);
    if (!req)
        return SPW_ERR_NOMEM;
    req->q = q;
    req->cb = cb;
    req->arg = arg;

    spw_result r = SPW_OK;
    uv_mutex_lock(&q->mu);
    if (q->closing)
        r = SPW_ERR_STATE;
    else if (len > DLQ_MAX_QUEUED - q->queued)
        r = SPW_ERR_NOSPACE;
    else
        r = spw_buf_reserve(&q->pending, len);
    /*
     * Queue the work while holding the mutex: the job cannot look at the
     * queue before the line is in it, and if queueing fails nothing has
     * been appended yet. Nothing below can fail.
     */
    if (r == SPW_OK && uv_queue_work(loop, &req->work, dlq_work, dlq_after) != 0)
        r = SPW_ERR_INVAL;
    if (r != SPW_OK) {
        uv_mutex_unlock(&q->mu);
        free(req);
        return r;
    }
    memcpy(q->pending.data + q->pending.len, line, len);
    q->pending.len += len;
    q->queued += len;
    if (q->tail)
        q->tail->next = req;
    else
        q->head = req;
    q->tail = req;
    q->outstanding++;
    uv_mutex_unlock(&q->mu);
    return SPW_OK;
}

void spw__dlq_stats(spw__dlq *q, uint64_t *lines, uint64_t *syncs) {
    uv_mutex_lock(&q->mu);
    if (lines)
        *lines = q->lines;
    if (syncs)
        *syncs = q->syncs;
    uv_mutex_unlock(&q->mu);
}

/* Directory part of path, as open() should see it ("." when there is none). */
static char *dir_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash)
        return strdup(".");
    size_t n = (size_t)(slash - path);
    while (n > 0 && path[n - 1] == '/')
        n--;
    if (n == 0)
        return strdup("/");
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

/*
 * A crash mid-write (before this process started) can leave the file
 * ending in a partial line; start with a newline then, so the first line
 * we add is a line of its own. Best effort: the writer's fd is write-only.
 */
static bool ends_torn(const char *path, off_t size) {
    if (size <= 0)
        return false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return false;
    char c = '\n';
    ssize_t k;
    do
        k = pread(fd, &c, 1, size - 1);
    while (k < 0 && errno == EINTR);
    close(fd);
    return k == 1 && c != '\n';
}

spw_result spw__dlq_open(const char *path, spw__dlq **out, spw_err *err) {
    if (out)
        *out = NULL;
    if (!path || !*path || !out)
        return spw_err_set(err, SPW_ERR_INVAL, "dead-letter file: no path given");

    /* O_NONBLOCK so that a FIFO at that path fails here instead of hanging. */
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NONBLOCK, 0600);
    if (fd < 0) {
        int e = errno;
        return spw_err_set(err, e == ENOENT ? SPW_ERR_NOTFOUND : SPW_ERR_IO,
                           "cannot open dead-letter file %s: %s", path, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return spw_err_set(err, SPW_ERR_IO, "cannot stat dead-letter file %s: %s", path,
                           strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return spw_err_set(err, SPW_ERR_INVAL, "dead-letter file %s is not a regular file",
                           path);
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);

    /*
     * The file's directory entry is durable only once its directory is
     * synced; without this a crash right after the first line could leave
     * no file at all even though that line's fsync succeeded.
     */
    char *dir = dir_of(path);
    if (!dir) {
        close(fd);
        return spw_err_set(err, SPW_ERR_NOMEM, "dead-letter file %s: out of memory", path);
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int e = 0;
    if (dfd < 0) {
        e = errno;
    } else {
        int rc;
        do
            rc = fsync(dfd);
        while (rc < 0 && errno == EINTR);
        /* Some file systems cannot sync a directory; they have nothing to lose by it. */
        if (rc < 0 && errno != EINVAL && errno != ENOTSUP)
            e = errno;
        close(dfd);
    }
    if (e != 0) {
        spw_result r = spw_err_set(err, SPW_ERR_IO,
                                   "cannot sync directory %s of dead-letter file %s: %s", dir,
                                   path, strerror(e));
        free(dir);
        close(fd);
        return r;
    }
    free(dir);

    spw__dlq *q = calloc(1, sizeof *q);
    char *p = strdup(path);
    if (!q || !p) {
        free(q);
        free(p);
        close(fd);
        return spw_err_set(err, SPW_ERR_NOMEM, "dead-letter file %s: out of memory", path);
    }
    if (uv_mutex_init(&q->mu) != 0) {
        free(q);
        free(p);
        close(fd);
        return spw_err_set(err, SPW_ERR_NOMEM, "dead-letter file %s: cannot create a mutex",
                           path);
    }
    if (uv_cond_init(&q->cv) != 0) {
        uv_mutex_destroy(&q->mu);
        free(q);
        free(p);
        close(fd);
        return spw_err_set(err, SPW_ERR_NOMEM,
                           "dead-letter file %s: cannot create a condition variable", path);
    }
    q->fd = fd;
    q->path = p;
    q->torn = ends_torn(path, st.st_size);
    *out = q;
    return SPW_OK;
}

void spw__dlq_close(spw__dlq *q) {
    if (!q)
        return;
    uv_mutex_lock(&q->mu);
    q->closing = true;
    while (q->outstanding > 0)
        uv_cond_wait(&q->cv, &q->mu);
    uv_mutex_unlock(&q->mu);
    /* Every accepted line has been synced (or reported failed): close errors change nothing. */
    if (close(q->fd) != 0)
        spw__log("dlq", SPW_LOG_WARN, "dead-letter file %s: close failed: %s", q->path,
                 strerror(errno));
    uv_cond_destroy(&q->cv);
    uv_mutex_destroy(&q->mu);
    spw_buf_free(&q->pending);
    spw_buf_free(&q->spare);
    free(q->path);
    free(q);
}

/* ---- The NDJSON line ---- */

/*
 * Length of the well-formed UTF-8 sequence at p[0..n) (2 to 4), or 0 when
 * the bytes there are not one: overlongs, surrogates, values above
 * U+10FFFF and truncated sequences are all refused, as RFC 3629 says.
 */
static size_t utf8_seq(const uint8_t *p, size_t n) {
    uint8_t c = p[0];
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else
        return 0;
    if (n < len || p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    return len;
}

/*
 * Appends s[0..n) as a JSON string. Any bytes may come in (names from the
 * wire, reasons from a destination's reply); what comes out is always
 * valid JSON: control characters, quotes and backslashes escaped, bytes
 * that are not UTF-8 replaced with U+FFFD one for one.
 */
static spw_result json_str(spw_buf *b, const void *src, size_t n) {
    static const char hex[] = "0123456789abcdef";
    /* Worst case is six bytes out per byte in (\u00XX), plus the quotes. */
    if (n > (SPW_BUF_MAX - 2) / 6)
        return SPW_ERR_NOSPACE;
    spw_result r = spw_buf_reserve(b, n * 6 + 2);
    if (r != SPW_OK)
        return r;
    const uint8_t *p = src;
    uint8_t *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c >= 0x20 && c < 0x7F && c != '"' && c != '\\') {
            *o++ = c;
            i++;
        } else if (c < 0x80) {
            *o++ = '\\';
            switch (c) {
            case '"': *o++ = '"'; break;
            case '\\': *o++ = '\\'; break;
            case '\n': *o++ = 'n'; break;
            case '\r': *o++ = 'r'; break;
            case '\t': *o++ = 't'; break;
            case '\b': *o++ = 'b'; break;
            case '\f': *o++ = 'f'; break;
            default: /* other C0 controls and DEL */
                *o++ = 'u';
                *o++ = '0';
                *o++ = '0';
                *o++ = hex[c >> 4];
                *o++ = hex[c & 15];
            }
            i++;
        } else {
            size_t k = utf8_seq(p + i, n - i);
            if (k) {
                memcpy(o, p + i, k);
                o += k;
                i += k;
            } else {
                *o++ = 0xEF;
                *o++ = 0xBF;
                *o++ = 0xBD;
                i++;
            }
        }
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return SPW_OK;
}

/* A C string as JSON, or null when absent. */
static spw_result json_cstr(spw_buf *b, const char *s) {
    return s ? json_str(b, s, strlen(s)) : spw_buf_append(b, "null", 4);
}

static spw_result json_b64(spw_buf *b, const void *p, size_t n) {
    spw_result r = spw_buf_append(b, "\"", 1);
    if (r == SPW_OK)
        r = spw_buf_append_base64(b, p, n);
    if (r == SPW_OK)
        r = spw_buf_append(b, "\"", 1);
    return r;
}

#define LIT(b, s) spw_buf_append((b), (s), sizeof(s) - 1)

spw_result spw__dlq_format(spw_buf *out, const char *pipeline, const char *sink,
                           const spw_event *ev, spw_slice record,
                           const char *content_type, const char *reason) {
    if (!out || !ev || (!record.ptr && record.len))
        return SPW_ERR_INVAL;
    size_t start = out->len;
    spw_str ns = spw_event_namespace(ev);
    spw_str set = spw_event_set(ev);
    const uint8_t *digest = spw_event_digest(ev);
    const char *msg = spw_event_op(ev) == SPW_OP_DELETE ? "delete" : "write";

    spw_result r = spw_buf_printf(out, "{\"time\":%lld,\"pipeline\":",
                                  (long long)spw_time_unix_ms());
    if (r == SPW_OK)
        r = json_cstr(out, pipeline);
    if (r == SPW_OK)
        r = LIT(out, ",\"sink\":");
    if (r == SPW_OK)
        r = json_cstr(out, sink);
    if (r == SPW_OK)
        r = LIT(out, ",\"reason\":");
    if (r == SPW_OK)
        r = json_cstr(out, reason);
    if (r == SPW_OK)
        r = spw_buf_printf(out, ",\"msg\":\"%s\",\"namespace\":", msg);
    if (r == SPW_OK)
        r = json_str(out, ns.ptr ? ns.ptr : "", ns.ptr ? ns.len : 0);
    if (r == SPW_OK)
        r = LIT(out, ",\"set\":");
    if (r == SPW_OK)
        r = set.ptr ? json_str(out, set.ptr, set.len) : LIT(out, "null");
    if (r == SPW_OK)
        r = LIT(out, ",\"digest\":");
    if (r == SPW_OK)
        r = digest ? json_b64(out, digest, 20) : LIT(out, "null");
    if (r == SPW_OK)
        r = spw_buf_printf(out, ",\"lut\":%lld,\"gen\":%lu,\"content_type\":",
                           (long long)spw_event_lut_ms(ev),
                           (unsigned long)spw_event_generation(ev));
    if (r == SPW_OK)
        r = json_cstr(out, content_type);
    if (r == SPW_OK)
        r = LIT(out, ",\"payload\":");
    if (r == SPW_OK)
        r = json_b64(out, record.ptr, record.len);
    if (r == SPW_OK)
        r = LIT(out, "}\n");
    /* All or nothing: a half-written line must never reach the file. */
    if (r != SPW_OK)
        out->len = start;
    return r;
}

/*
 * plugins/source-xdr/capture.c: `capture = PATH`, the record frames the
 * source receives written to a size-bounded, rotated file in the binary
 * replay format of spillway-xdrgen (frames back to back, as on the wire).
 *
 * What is written: every type-3 and type-4 frame exactly as it arrived
 * (a compressed frame stays compressed), resends included, in arrival
 * order per connection; not INFO frames (xdrgen replays records only).
 * Frames are written whole: a file is always a run of whole frames, so
 * any of PATH, PATH.1 ... is a valid `spillway-xdrgen --replay` file.
 *
 * Threads. Every worker has its own instance, but one capture file is
 * shared by all of them: the capture object is kept in a process-wide
 * list by path, counted by the instances that use it. A worker never
 * touches the disk: it copies the frame and appends it to a queue bounded
 * in bytes, under the capture's mutex (taken only while capture is on;
 * off, the worker's hook is one NULL test). One writer thread empties the
 * queue onto the file and rotates it. When the queue is full the frame is
 * dropped and counted (capture_dropped): capture never slows the source.
 * A write error stops capture (never the pipeline); the worker's periodic
 * sweep logs it once.
 *
 * Files are created 0600: they hold user data.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "source.h"

struct cap_item {
    struct cap_item *next;
    size_t len;
    uint8_t bytes[];
};

struct xs_capture {
    struct xs_capture *next; /* in the process-wide list */
    char *path;
    unsigned refs;           /* instances using it (g_lock) */
    uint64_t max_bytes;      /* per file */
    unsigned files;          /* PATH and PATH.1 .. PATH.files-1 */
    size_t queue_max;        /* bytes queued at most */

    pthread_mutex_t mu;      /* the queue and `stop` */
    pthread_cond_t cv;
    struct cap_item *head, *tail;
    size_t queued;           /* bytes in the queue and in the writer's hands */
    bool stop;
    pthread_t thread;

    /* Cleared by the writer after a write error: workers then stop queueing. */
    atomic_bool on;
    /* Set with `on` cleared; the first worker sweep to take it logs `error`. */
    atomic_bool error_pending;
    char error[320];

    /* The writer's own. */
    int fd;
    uint64_t file_bytes;
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct xs_capture *g_captures;

/* ---------------------------------------------------------------------- */
/* Checks                                                                   */
/* ---------------------------------------------------------------------- */

spw_result xs_capture_check(const struct xs_conf *cf, spw_err *err) {
    const char *path = cf->capture;
    if (path == NULL || *path == '\0')
        return SPW_OK;
    size_t n = strlen(path);
    if (path[n - 1] == '/')
        return spw_err_set(err, SPW_ERR_CONFIG, "capture %s: names a directory, not a file", path);
    /* The directory must exist and take new files (rotation renames and creates). */
    char *dir = strdup(path);
    if (dir == NULL)
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    const char *d = ".";
    if (slash == dir)
        d = "/";
    else if (slash) {
        *slash = '\0';
        d = dir;
    }
    struct stat sb;
    spw_result r = SPW_OK;
    if (stat(d, &sb) != 0)
        r = spw_err_set(err, SPW_ERR_CONFIG, "capture %s: directory %s: %s", path, d,
                        strerror(errno));
    else if (!S_ISDIR(sb.st_mode))
        r = spw_err_set(err, SPW_ERR_CONFIG, "capture %s: %s is not a directory", path, d);
    else if (access(d, W_OK | X_OK) != 0)
        r = spw_err_set(err, SPW_ERR_CONFIG, "capture %s: directory %s is not writable: %s",
                        path, d, strerror(errno));
    free(dir);
    if (r != SPW_OK)
        return r;
    if (stat(path, &sb) != 0)
        return errno == ENOENT ? SPW_OK
                               : spw_err_set(err, SPW_ERR_CONFIG, "capture %s: %s", path,
                                             strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return spw_err_set(err, SPW_ERR_CONFIG, "capture %s: exists and is not a regular file",
                           path);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return spw_err_set(err, SPW_ERR_CONFIG, "capture %s: %s", path, strerror(errno));
    uint8_t first = ASW_PROTO_VERSION;
    ssize_t got = sb.st_size > 0 ? pread(fd, &first, 1, 0) : 0;
    close(fd);
    /* Capture appends to its own file; anything else is left alone rather than rotated away. */
    if (got < 0 || first != ASW_PROTO_VERSION)
        return spw_err_set(err, SPW_ERR_CONFIG,
                           "capture %s: exists and is not a capture file (it does not start "
                           "with an as_proto frame); capture will not overwrite it",
                           path);
    return SPW_OK;
}

/* ---------------------------------------------------------------------- */
/* The writer thread                                                        */
/* ---------------------------------------------------------------------- */

static void fail(struct xs_capture *cp, const char *what, int e) {
    snprintf(cp->error, sizeof cp->error, "capture %s: %s: %s; capture stopped (the pipeline goes on)",
             cp->path, what, strerror(e));
    if (cp->fd >= 0)
        close(cp->fd);
    cp->fd = -1;
    atomic_store(&cp->on, false);
    atomic_store(&cp->error_pending, true);
}

/*
 * The end of the last whole frame of an existing file: a run stopped in
 * the middle of a write (a crash, a full disk) may have left part of a
 * frame, which is cut off so that the file stays replayable.
 */
static uint64_t whole_frames_end(int fd, uint64_t size) {
    uint64_t pos = 0;
    uint8_t h[ASW_PROTO_HDR];
    while (size - pos >= ASW_PROTO_HDR) {
        if (pread(fd, h, sizeof h, (off_t)pos) != (ssize_t)sizeof h || h[0] != ASW_PROTO_VERSION)
            break;
        uint64_t next = pos + ASW_PROTO_HDR + asw_be48(h + 2);
        if (next > size)
            break;
        pos = next;
    }
    return pos;
}

static bool open_file(struct xs_capture *cp) {
    cp->fd = open(cp->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (cp->fd < 0) {
        fail(cp, "cannot open", errno);
        return false;
    }
    /* User data: owner only, also for a file an earlier run (or a person) left wider. */
    (void)fchmod(cp->fd, 0600);
    struct stat sb;
    if (fstat(cp->fd, &sb) != 0) {
        fail(cp, "cannot stat", errno);
        return false;
    }
    cp->file_bytes = (uint64_t)sb.st_size;
    if (cp->file_bytes > 0) {
        int rfd = open(cp->path, O_RDONLY | O_CLOEXEC);
        uint64_t end = rfd >= 0 ? whole_frames_end(rfd, cp->file_bytes) : cp->file_bytes;
        if (rfd >= 0)
            close(rfd);
        if (end < cp->file_bytes) {
            if (ftruncate(cp->fd, (off_t)end) != 0) {
                fail(cp, "cannot cut a partial frame off", errno);
                return false;
            }
            cp->file_bytes = end;
        }
    }
    return true;
}

/* PATH.i: PATH alone for 0. */
static void nth_name(const struct xs_capture *cp, unsigned i, char *out, size_t n) {
    if (i == 0)
        snprintf(out, n, "%s", cp->path);
    else
        snprintf(out, n, "%s.%u", cp->path, i);
}

/* PATH becomes PATH.1, PATH.1 PATH.2 ..., the oldest (PATH.files-1) goes. */
static bool rotate(struct xs_capture *cp) {
    size_t n = strlen(cp->path) + 16;
    char *from = malloc(n), *to = malloc(n);
    bool ok = from && to;
    if (!ok) {
        fail(cp, "cannot rotate", ENOMEM);
    } else {
        close(cp->fd);
        cp->fd = -1;
        if (cp->files <= 1) {
            if (unlink(cp->path) != 0 && errno != ENOENT) {
                fail(cp, "cannot remove the full file", errno);
                ok = false;
            }
        } else {
            for (unsigned i = cp->files - 1; i > 0 && ok; i--) {
                nth_name(cp, i - 1, from, n);
                nth_name(cp, i, to, n);
                if (rename(from, to) != 0 && errno != ENOENT) {
                    fail(cp, "cannot rotate", errno);
                    ok = false;
                }
            }
        }
    }
    free(from);
    free(to);
    return ok && open_file(cp);
}

static void write_frame(struct xs_capture *cp, const struct cap_item *it) {
    if (!atomic_load(&cp->on))
        return;
    if (cp->fd < 0 && !open_file(cp))
        return;
    /* A file holds at least one frame, so a frame larger than the bound gets a file alone. */
    if (cp->file_bytes > 0 && cp->file_bytes + it->len > cp->max_bytes && !rotate(cp))
        return;
    size_t done = 0;
    while (done < it->len) {
        ssize_t w = write(cp->fd, it->bytes + done, it->len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : ENOSPC;
            /* Whole frames only: take a partly written one back. */
            if (done > 0 && ftruncate(cp->fd, (off_t)cp->file_bytes) != 0)
                e = errno;
            fail(cp, "write failed", e);
            return;
        }
        done += (size_t)w;
    }
    cp->file_bytes += it->len;
}

static void *writer(void *arg) {
    struct xs_capture *cp = arg;
    pthread_mutex_lock(&cp->mu);
    for (;;) {
        while (cp->head == NULL && !cp->stop)
            pthread_cond_wait(&cp->cv, &cp->mu);
        if (cp->head == NULL)
            break; /* stopping, and everything queued is written */
        struct cap_item *list = cp->head;
        cp->head = cp->tail = NULL;
        pthread_mutex_unlock(&cp->mu);
        size_t bytes = 0;
        while (list) {
            struct cap_item *it = list;
            list = it->next;
            write_frame(cp, it);
            bytes += it->len;
            free(it);
        }
        pthread_mutex_lock(&cp->mu);
        cp->queued -= bytes;
    }
    pthread_mutex_unlock(&cp->mu);
    if (cp->fd >= 0)
        close(cp->fd);
    cp->fd = -1;
    return NULL;
}

/* ---------------------------------------------------------------------- */
/* Instances                                                                */
/* ---------------------------------------------------------------------- */

spw_result xs_capture_attach(struct xs_src *x, spw_err *err) {
    const struct xs_conf *cf = x->cf;
    if (cf->capture == NULL || *cf->capture == '\0')
        return SPW_OK;
    /* The core checks before it creates, but the file system may have changed since. */
    spw_result r = xs_capture_check(cf, err);
    if (r != SPW_OK)
        return r;
    x->c_capture_frames =
        spw_counter_register(x->st, "capture_frames", "Frames queued for the capture file.");
    x->c_capture_dropped = spw_counter_register(
        x->st, "capture_dropped",
        "Frames not captured: the capture queue was full, or capture stopped after a write "
        "error.");

    pthread_mutex_lock(&g_lock);
    struct xs_capture *cp = g_captures;
    while (cp && strcmp(cp->path, cf->capture) != 0)
        cp = cp->next;
    if (cp) {
        cp->refs++;
        pthread_mutex_unlock(&g_lock);
        x->cap = cp;
        return SPW_OK;
    }
    cp = calloc(1, sizeof *cp);
    if (cp == NULL || (cp->path = strdup(cf->capture)) == NULL) {
        pthread_mutex_unlock(&g_lock);
        free(cp);
        return spw_err_set(err, SPW_ERR_NOMEM, "out of memory");
    }
    cp->max_bytes = (uint64_t)cf->capture_max_bytes;
    cp->files = (unsigned)cf->capture_files;
    cp->queue_max = (size_t)cf->capture_queue;
    cp->fd = -1;
    atomic_init(&cp->on, true);
    atomic_init(&cp->error_pending, false);
    pthread_mutex_init(&cp->mu, NULL);
    pthread_cond_init(&cp->cv, NULL);
    /* The writer takes no signal: the core's loop handles SIGINT and SIGTERM. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int e = pthread_create(&cp->thread, NULL, writer, cp);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (e != 0) {
        pthread_mutex_unlock(&g_lock);
        pthread_mutex_destroy(&cp->mu);
        pthread_cond_destroy(&cp->cv);
        free(cp->path);
        free(cp);
        return spw_err_set(err, SPW_ERR_IO, "capture: cannot start the writer thread: %s",
                           strerror(e));
    }
    cp->refs = 1;
    cp->next = g_captures;
    g_captures = cp;
    pthread_mutex_unlock(&g_lock);
    x->cap = cp;
    return SPW_OK;
}

void xs_capture_detach(struct xs_src *x) {
    struct xs_capture *cp = x->cap;
    if (cp == NULL)
        return;
    x->cap = NULL;
    pthread_mutex_lock(&g_lock);
    bool last = --cp->refs == 0;
    if (last)
        for (struct xs_capture **pp = &g_captures; *pp; pp = &(*pp)->next)
            if (*pp == cp) {
                *pp = cp->next;
                break;
            }
    pthread_mutex_unlock(&g_lock);
    if (!last)
        return;
    /* The last user: what is queued is written, then the thread ends. */
    pthread_mutex_lock(&cp->mu);
    cp->stop = true;
    pthread_cond_signal(&cp->cv);
    pthread_mutex_unlock(&cp->mu);
    pthread_join(cp->thread, NULL);
    if (atomic_load(&cp->error_pending))
        spw_log(x->st, SPW_LOG_ERROR, "%s", cp->error);
    pthread_mutex_destroy(&cp->mu);
    pthread_cond_destroy(&cp->cv);
    free(cp->path);
    free(cp);
}

void xs_capture_frame_slow(struct xs_src *x, const uint8_t *f, size_t len) {
    struct xs_capture *cp = x->cap;
    if (!atomic_load_explicit(&cp->on, memory_order_relaxed)) {
        spw_counter_add(x->c_capture_dropped, 1);
        return;
    }
    /* Copied outside the lock: the lock covers two pointer writes and a sum. */
    struct cap_item *it = malloc(sizeof *it + len);
    if (it == NULL) {
        spw_counter_add(x->c_capture_dropped, 1);
        return;
    }
    it->next = NULL;
    it->len = len;
    memcpy(it->bytes, f, len);
    pthread_mutex_lock(&cp->mu);
    bool room = cp->queued + len <= cp->queue_max;
    if (room) {
        cp->queued += len;
        /* The writer sleeps only on an empty queue: wake it only then. */
        if (cp->tail) {
            cp->tail->next = it;
        } else {
            cp->head = it;
            pthread_cond_signal(&cp->cv);
        }
        cp->tail = it;
    }
    pthread_mutex_unlock(&cp->mu);
    if (room) {
        spw_counter_add(x->c_capture_frames, 1);
    } else {
        free(it);
        spw_counter_add(x->c_capture_dropped, 1);
    }
}

void xs_capture_poll(struct xs_src *x) {
    struct xs_capture *cp = x->cap;
    /* One line per failure, whichever worker's sweep sees it first. */
    if (cp && atomic_load_explicit(&cp->error_pending, memory_order_relaxed) &&
        atomic_exchange(&cp->error_pending, false))
        spw_log(x->st, SPW_LOG_ERROR, "%s", cp->error);
}

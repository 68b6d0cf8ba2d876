/*
 * core/dlq.h: the dead-letter writer. A rejected event that the pipeline
 * sends to the dead-letter file counts as delivered only once its line is
 * written and fsync'd, so a crash can never lose it.
 *
 * One writer per pipeline, shared by all workers. Writes run on libuv's
 * thread pool (never blocking a worker loop); writes that queue up while
 * an fsync is running are committed together by the next one (group
 * commit). The callback runs on the loop that submitted the write.
 *
 * File format: NDJSON, one object per rejected event:
 *   {"time":UNIX_MS,"pipeline":P,"sink":S,"reason":R,"msg":"write"|"delete",
 *    "namespace":NS,"set":SET|null,"digest":B64,"lut":MS,"gen":G,
 *    "content_type":CT,"payload":B64}
 * where payload is the record as the route's codec encoded it.
 */
#ifndef SPW_CORE_DLQ_H
#define SPW_CORE_DLQ_H

#include <uv.h>
#include <spillway/plugin.h>

typedef struct spw__dlq spw__dlq;

/* Opens (creates, mode 0600, O_APPEND) the file and fsyncs its directory. *out owned by caller. */
spw_result spw__dlq_open(const char *path, spw__dlq **out, spw_err *err);

/* r is SPW_OK once the line is durable, a negative error otherwise (the event must then be retried). */
typedef void (*spw__dlq_cb)(void *arg, spw_result r);

/*
 * Queues one line (copied; must end with '\n' and hold no other). Call it
 * on `loop`'s thread. cb runs later on `loop`, never from inside this
 * call. Fails (without calling cb) with NOMEM, with NOSPACE when 64 MiB of
 * lines are already waiting, with INVAL for a malformed line, and with
 * STATE after spw__dlq_close has begun.
 */
spw_result spw__dlq_write(spw__dlq *q, uv_loop_t *loop, const void *line, size_t len,
                          spw__dlq_cb cb, void *arg);

/* Formats the line above for one event into out (appended). */
spw_result spw__dlq_format(spw_buf *out, const char *pipeline, const char *sink,
                           const spw_event *ev, spw_slice record,
                           const char *content_type, const char *reason);

/* Lines committed successfully and fsync calls made so far (tests, metrics). */
void spw__dlq_stats(spw__dlq *q, uint64_t *lines, uint64_t *syncs);

/*
 * Closes the file. Every write accepted before must have had its callback
 * (callers drain their loops first); closing with writes pending waits for them.
 */
void spw__dlq_close(spw__dlq *q);

#endif /* SPW_CORE_DLQ_H */

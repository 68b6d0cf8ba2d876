/*
 * spillway/abi.h: the plugin ABI version and the rules for changing it.
 *
 * A plugin embeds the ABI version it was compiled against (SPW_PLUGIN_DEFINE
 * does this for you). The loader accepts a plugin only when
 *
 *     plugin.abi_major == SPW_ABI_MAJOR  and  plugin.abi_minor <= SPW_ABI_MINOR
 *
 * and its descriptor's struct_size matches what its minor version implies.
 *
 * Bump rule:
 *   - MINOR when something is added that old plugins do not need to know
 *     about: a new function, a new field at the end of a struct that the
 *     core reads only when struct_size says it is there.
 *   - MAJOR for any change that could make an already compiled plugin
 *     misbehave: removed or reordered fields, changed semantics, changed
 *     signatures. Reset MINOR to 0.
 *
 * Changelog (newest first):
 *   2026-12-07  1.4  spw_source_ops.retire (optional): a reload replaced
 *                    the source's section; it stops accepting new input
 *                    but serves what is open until it calls
 *                    spw_source_finished (read from 1.4 plugins only).
 *   2026-12-07  1.3  SPW_OPTION_HTTP_DEFAULTS: a plugin's own defaults
 *                    for options of the HTTP group ("KEY = VALUE" lines
 *                    in the group entry's def, refused by older cores).
 *   2026-12-07  1.2  Templates (spillway/template.h): ${var} text filled
 *                    from an event's metadata, escaped for URLs, header
 *                    values or JSON strings; ${id}, a per-record
 *                    idempotency key (digest and LUT).
 *                    spw_http_set_max_body: a per-client body cap after
 *                    compression, for a destination's own limit.
 *                    spw_sink_ops.check_codec: a sink refuses a route's
 *                    codec at --check (read from 1.2 plugins only).
 *                    spw_log_limited, spw_vlog_limited: rate-limited log
 *                    lines. spw_http_conf_auth, spw_http_conf_aws_service.
 *                    spw_counter_register_worker: a counter reported per
 *                    worker (a `worker` label) rather than summed.
 *   2026-12-07  1.1  The HTTP client service (spillway/http.h): one client
 *                    per stage on its worker's loop (native HTTP/1.1 and
 *                    HTTP/2, libcurl, TLS, pools, balanced endpoints with
 *                    health checks, gzip, basic/bearer/header/SigV4 auth,
 *                    a per-request token hook), its own error vocabulary,
 *                    and the HTTP option group (SPW_OPT_GROUP,
 *                    SPW_OPTION_HTTP) a plugin embeds with one line.
 *                    Sink contract, core side: SPW_TOO_LARGE (the core
 *                    splits the batch); spw_batch_limits/spw_sink_limits
 *                    (spw_limits); spw_sink_down/spw_sink_up (the
 *                    core holds the route and probes); spw_batch_hold
 *                    (held batches, the route's max_held); gauges and
 *                    histograms (spw_gauge_*, spw_histogram_*,
 *                    spw_buckets_*).
 *                    TLS over memory (spillway/tls.h): contexts from
 *                    options, sessions that turn ciphertext into
 *                    plaintext and back without touching a socket.
 *   2026-11-26  1.0  First ABI: plugin descriptor, option table, event
 *                    accessors and builder, list/map walker, buffers,
 *                    logging, counters, timers, ordered completion,
 *                    batches with per-event outcomes.
 */
#ifndef SPILLWAY_ABI_H
#define SPILLWAY_ABI_H

#define SPW_ABI_MAJOR 1
#define SPW_ABI_MINOR 4

#if defined(__GNUC__) || defined(__clang__)
#define SPW_API __attribute__((visibility("default")))
#define SPW_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define SPW_NODISCARD __attribute__((warn_unused_result))
#else
#define SPW_API
#define SPW_PRINTF(fmt, args)
#define SPW_NODISCARD
#endif

#endif /* SPILLWAY_ABI_H */

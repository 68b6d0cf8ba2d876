#!/bin/sh
# tests/xdr-balance.sh: every worker carries XDR's connections (issue 13).
#
# A 2-worker pipeline fed by spillway-xdrgen over 2, 3 and 4 connections
# (and 2 over TLS): the xdr source places each connection on the worker
# holding the fewest of its peer's connections (plugins/source-xdr/
# balance.c), so with 2 connections each worker owns exactly one, with 4
# two each, with 3 two and one; both workers submit records; nothing is
# lost (every sequence number in the sink's file, xdrgen sees every record
# acknowledged). The per-worker counters are read where an operator reads
# them: the final stats line (worker_connections=W0/W1, worker_records,
# the core's worker_events) and /metrics (a `worker` label, checked by
# promtool when it is installed).
#
# Environment (set by the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH,
# top_builddir, PYTHON3. TAP. No timing assertion: every wait is bounded
# generously and waits for a condition. The shared pieces are in
# tests/xdr-lib.sh.

. "$(dirname "$0")/xdr-lib.sh"
COUNT=6000
xdr_init xdr-balance

tls=
if command -v openssl >/dev/null 2>&1 &&
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$tmp/tls.key" -out "$tmp/tls.pem" -days 2 -subj /CN=localhost \
        -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1; then
    tls=yes
fi

# ini FILE [source lines...]: two workers, the testline codec into a file, the admin endpoint.
ini() {
    f=$1
    shift
    xdr_ini "$f" \
        "$(lines "workers = 2" "admin = 127.0.0.1:$aport" "stats_interval = 0" "shutdown_timeout = 5s")" \
        "$(lines "$@")" testline "$(lines "plugin = file" 'path = ${env:OUT}' "batch_max_records = 16")"
}

# metrics: /metrics into $tmp/metrics (the endpoint answers once the pipeline runs).
metrics() {
    "$PY" - "$aport" "$tmp/metrics" <<'EOF'
import sys, time, urllib.request
end = time.monotonic() + 30
while True:
    try:
        body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=10).read()
        open(sys.argv[2], "wb").write(body)
        break
    except OSError:
        if time.monotonic() > end:
            raise
        time.sleep(0.1)
EOF
}

# sample FAMILY WORKER: the value of FAMILY{...,worker="WORKER"} in $tmp/metrics.
sample() {
    sed -n "s/^$1{.*worker=\"$2\".*} \([0-9]*\)$/\1/p" "$tmp/metrics" | head -n 1
}

# run NAME CONNECTIONS WANT-CONNECTIONS [source lines...]: one pipeline, one xdrgen run.
# WANT-CONNECTIONS: the per-worker split ("1/1"), or "any" (both > 0).
run() {
    name=$1 conns=$2 want=$3
    shift 3
    port=$(free_port)
    aport=$(free_port)
    xg_tls=
    case "$*" in *tls_certificate*) xg_tls="--tls-ca $tmp/tls.pem" ;; esac
    ini "$tmp/p.ini" "$@"
    rm -f "$tmp/out" "$tmp/metrics"
    start_spillway "$tmp/p.ini"
    # Listening first: else xdrgen's connections retry apart, and one may carry every record
    # before the other connects (worker_connections=1/0).
    wait_running
    # shellcheck disable=SC2086
    xdrgen -C "$conns" -w 32 -n "$COUNT" --max-time 90 $xg_tls
    metrics
    ms=$?
    stop_spillway

    check "$name: xdrgen exits 0 with all $COUNT records acknowledged, spillway stops cleanly" \
        'all_acked "$COUNT" && [ "$spw_status" -eq 0 ]'
    check "$name: zero loss: every sequence number is in the file" \
        '[ -f "$tmp/out" ] && seqs_ok "$tmp/out" "$COUNT" i'
    c=$(stat_of source.xdr worker_connections)
    r=$(stat_of source.xdr worker_records)
    e=$(stat_of pipeline worker_events)
    c0=${c%/*} c1=${c#*/} r0=${r%/*} r1=${r#*/}
    if [ "$want" = any ]; then
        check "$name: both workers own connections (stats line worker_connections=$c)" \
            '[ -n "$c" ] && [ "$c0" -gt 0 ] && [ "$c1" -gt 0 ] && [ $((c0 + c1)) -eq "$conns" ]'
    else
        check "$name: the connections split $want over the workers (stats line worker_connections=$c)" \
            '[ "$c" = "$want" ]'
    fi
    check "$name: both workers submit records (worker_records=$r, worker_events=$e)" \
        '[ -n "$r" ] && [ "$r0" -gt 0 ] && [ "$r1" -gt 0 ] && [ $((r0 + r1)) -ge "$COUNT" ] && [ "$e" = "$r" ]'
    check "$name: /metrics carries the per-worker counters with a worker label" \
        '[ "$ms" -eq 0 ] && [ "$(sample spillway_worker_connections_total 0)/$(sample spillway_worker_connections_total 1)" = "$c" ] &&
         [ -n "$(sample spillway_worker_records_total 0)" ] && [ -n "$(sample spillway_worker_events_total 1)" ]'
    if command -v promtool >/dev/null 2>&1; then
        check "$name: promtool check metrics finds nothing to say" \
            '[ -z "$(promtool check metrics <"$tmp/metrics" 2>&1)" ]'
    else
        pass "$name: promtool check metrics # SKIP promtool is not installed (Debian: prometheus)"
    fi
}

echo "1..30"
run "2 connections" 2 1/1
run "3 connections" 3 any
run "4 connections" 4 2/2
# With allow set, the accepting worker checks it before the connection moves.
run "4 connections, allow 127.0.0.0/8" 4 2/2 "allow = 127.0.0.0/8"
if [ -n "$tls" ]; then
    run "TLS, 2 connections" 2 1/1 "tls_certificate = $tmp/tls.pem" "tls_private_key = $tmp/tls.key"
else
    i=0
    while [ $i -lt 6 ]; do pass "TLS # SKIP no openssl command for a certificate"; i=$((i + 1)); done
fi
[ "$failed" -eq 0 ]

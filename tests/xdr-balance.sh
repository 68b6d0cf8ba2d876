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
# generously and waits for a condition.

set -u
: "${SPILLWAY:?SPILLWAY must name the spillway program}"
: "${SPILLWAY_PLUGIN_PATH:?SPILLWAY_PLUGIN_PATH must list the plugin directories}"
: "${top_builddir:?top_builddir must name the build directory}"
export SPILLWAY_PLUGIN_PATH
XDRGEN=$top_builddir/spillway-xdrgen
PY=${PYTHON3:-python3}
COUNT=6000

if [ ! -f "$top_builddir/plugins/source-xdr.la" ]; then
    echo "1..0 # SKIP the xdr source (plugins/source-xdr) is not built"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-xdr-balance.XXXXXX") || exit 1
spw_pid=
cleanup() {
    [ -n "$spw_pid" ] && kill -KILL "$spw_pid" 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
show() {
    echo "# xdrgen:"
    tail -n 8 "$tmp/xg.out" "$tmp/xg.err" 2>/dev/null | sed 's/^/#   /'
    echo "# spillway:"
    tail -n 12 "$tmp/spw.err" 2>/dev/null | sed 's/^/#   /'
}
check() { if eval "$2"; then pass "$1"; else fail "$1"; show; fi; }

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

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
    {
        printf '[pipeline]\nworkers = 2\nadmin = 127.0.0.1:%s\nstats_interval = 0\n' "$aport"
        printf 'shutdown_timeout = 5s\n\n'
        printf '[source.xdr]\nplugin = xdr\nlisten = 127.0.0.1:%s\n' "$port"
        for line in "$@"; do printf '%s\n' "$line"; done
        printf '\n[codec.c]\nplugin = testline\n\n'
        printf '[sink.out]\nplugin = file\ncodec = c\npath = ${env:OUT}\nbatch_max_records = 16\n'
    } >"$f"
}

# field NAME: a number from xdrgen's JSON report.
field() { "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval("r" + sys.argv[2]))' "$tmp/xg.out" "$1"; }

# stat STAGE NAME: the value of NAME in the last stats line of STAGE ("1/1" for a per-worker one).
stat() {
    sed -n "s/.*\[stats\] $1: .*\b$2=\([0-9/]*\).*/\1/p" "$tmp/spw.err" | tail -n 1
}

# seqs_ok FILE COUNT: every sequence number 0..COUNT-1 is in FILE (testline, key=i:N).
seqs_ok() {
    awk -v count="$2" '
    { for (i = 2; i <= NF; i++) if ($i ~ /^key=i:[0-9]+$/) seen[substr($i, 7) + 0]++ }
    END {
        for (s = 0; s < count; s++) if (!(s in seen)) { missing++; if (missing < 5) print "# missing " s }
        exit missing > 0
    }' "$1"
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
    OUT=$tmp/out "$SPILLWAY" -c "$tmp/p.ini" >/dev/null 2>"$tmp/spw.err" &
    spw_pid=$!
    # shellcheck disable=SC2086
    timeout -k 5 120 "$XDRGEN" -c "127.0.0.1:$port" --reconnect-min 50ms --json -C "$conns" \
        -w 32 -n "$COUNT" --max-time 90 $xg_tls >"$tmp/xg.out" 2>"$tmp/xg.err"
    xs=$?
    metrics
    ms=$?
    kill -TERM "$spw_pid" 2>/dev/null
    wait "$spw_pid"
    spw_status=$?
    spw_pid=

    check "$name: xdrgen exits 0 with all $COUNT records acknowledged, spillway stops cleanly" \
        '[ "$xs" -eq 0 ] && [ "$(field "[\"acknowledged\"]")" = "$COUNT" ] && [ "$spw_status" -eq 0 ]'
    check "$name: zero loss: every sequence number is in the file" \
        '[ -f "$tmp/out" ] && seqs_ok "$tmp/out" "$COUNT"'
    c=$(stat source.xdr worker_connections)
    r=$(stat source.xdr worker_records)
    e=$(stat pipeline worker_events)
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

#!/bin/sh
# bench/xdr-e2e.sh: records per second end to end, spillway-xdrgen feeding
# spillway (source `xdr` -> codec `xdr` pass-through, or `json` -> sink
# `null`) flat out on loopback, and the CPU time each side spends per
# record.
#
# Records: 10 bins (the integer "seq" and alternately integer and 13-byte
# string bins), 301 bytes on the wire. xdrgen: 4 connections, window 256.
# spillway's CPU time comes from /proc/PID/stat (utime + stime) read just
# before xdrgen starts and right after it ends (spillway is idle outside),
# xdrgen's from its own report. Both share the machine's cores, so
# records/s is what the pair reaches together.
#
# Over TLS too (XDR_E2E_TRANSPORTS, default "tcp tls"; tls needs the openssl
# command for a throwaway certificate): xdrgen's client sessions and the
# source's server sessions both go through the SDK's spillway/tls.h, so
# the tls rows against the tcp rows are what TLS costs on both sides.
#
# How the work spreads over the workers (issue 13): each row shows the
# connections and the share of records each worker owned (the source's
# per-worker counters worker_connections and worker_records, from the final
# stats line; "-" for a build without them) and the CPU seconds of the
# busiest threads, one per worker (from /proc/PID/task, so a build without
# the counters is measured the same way). XDR_E2E_CONNECTIONS (default "4")
# lists the xdrgen -C values to run.
#
# Environment: top_builddir (required), XDR_E2E_SECONDS (per run, default
# 10), XDR_E2E_WORKERS (default "1 2"), XDR_E2E_CONNECTIONS, XDR_E2E_CODECS (default: "xdr json"
# when the xdr codec is built, else "json"), XDR_E2E_TRANSPORTS, PYTHON3.
# `make bench` runs it.
# Prints one table row per run; exits non-zero only when a run fails.

set -u
BENCH=xdr-e2e
. "$(dirname "$0")/lib.sh"
SECONDS_PER_RUN=${XDR_E2E_SECONDS:-10}
WORKERS=${XDR_E2E_WORKERS:-1 2}
TRANSPORTS=${XDR_E2E_TRANSPORTS:-tcp tls}
CONNECTIONS=${XDR_E2E_CONNECTIONS:-4}

bench_need_plugins source-xdr sink-null
if [ -z "${XDR_E2E_CODECS:-}" ]; then
    XDR_E2E_CODECS=json
    [ -f "$top_builddir/plugins/codec-xdr.la" ] && XDR_E2E_CODECS="xdr json"
fi

bench_tmp
# thread_ticks PID: "TID TICKS" per thread of a process
thread_ticks() {
    for t in /proc/"$1"/task/*; do
        printf '%s %s\n' "${t##*/}" "$(sed 's/^.*) //' "$t/stat" | awk '{ print $12 + $13 }')"
    done
}

case " $TRANSPORTS " in
*" tls "*)
    if ! command -v openssl >/dev/null 2>&1 ||
        ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
            -keyout "$tmp/tls.key" -out "$tmp/tls.pem" -days 2 -subj /CN=localhost \
            -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1; then
        echo "xdr-e2e: no openssl command: the tls rows are skipped"
        TRANSPORTS=$(echo "$TRANSPORTS" | sed 's/tls//')
    fi
    ;;
esac

echo "xdr-e2e: $(nproc) cores, ${SECONDS_PER_RUN} s per run, 301-byte records of 10 bins, xdrgen -C ($CONNECTIONS) -w 256"
printf '%-4s %-6s %-8s %-5s %12s %10s %14s %14s %10s %10s %-9s %-11s %s\n' via codec workers conns \
    "records/s" "MB/s" "spillway us/r" "xdrgen us/r" "p50 us" "p99 us" "conns/w" "records%/w" \
    "cpu s/thread"
status=0
for via in $TRANSPORTS; do
for codec in $XDR_E2E_CODECS; do
    for workers in $WORKERS; do
    for conns in $CONNECTIONS; do
        src_tls= xg_tls=
        if [ "$via" = tls ]; then
            src_tls="tls_certificate = $tmp/tls.pem
tls_private_key = $tmp/tls.key"
            xg_tls="--tls-ca $tmp/tls.pem"
        fi
        p=$(port)
        cat >"$tmp/b.ini" <<EOF
[pipeline]
workers = $workers
max_in_flight = 65536
log_level = info
stats_interval = 0

[source.xdr]
plugin = xdr
listen = 127.0.0.1:$p
$src_tls

[codec.c]
plugin = $codec

[sink.out]
plugin = null
codec = c
batch_max_records = 256
batch_max_delay = 1ms
EOF
        bench_spillway "$tmp/b.ini"
        # wait for the listener: xdrgen would reconnect anyway, but the clock should not run.
        # The log line, not a probe connection: a probe would count as a connection of a worker.
        i=0
        while ! grep -q "pipeline .* running" "$tmp/spw.err" 2>/dev/null; do
            i=$((i + 1))
            [ "$i" -gt 50 ] && break
            sleep 0.1
        done
        before=$(cpu_ticks "$spw_pid")
        thread_ticks "$spw_pid" >"$tmp/threads.before"
        # shellcheck disable=SC2086 # xg_tls is two words or none
        "$XDRGEN" -c "127.0.0.1:$p" $xg_tls -C "$conns" -w 256 --bins 10 --bin-types integer,string \
            --value-size 13 --duration "$SECONDS_PER_RUN" --max-time $((SECONDS_PER_RUN + 30)) \
            --json -q >"$tmp/xg.json"
        xs=$?
        after=$(cpu_ticks "$spw_pid")
        thread_ticks "$spw_pid" >"$tmp/threads.after"
        bench_spillway_stop
        if [ "$xs" -ne 0 ]; then
            bench_xdrgen_failed "$via, codec $codec, $workers worker(s), $conns connection(s)" "$xs"
            status=1
            continue
        fi
        "$PY" - "$tmp/xg.json" "$before" "$after" "$tck" "$codec" "$workers" "$via" "$conns" \
            "$tmp/spw.err" "$tmp/threads.before" "$tmp/threads.after" <<'EOF'
import json, re, sys
r = json.load(open(sys.argv[1]))
before, after, tck = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
workers = int(sys.argv[6])
n = r["acknowledged"]
spw_us = (after - before) / tck * 1e6 / n
xg_us = (r["cpu_user_s"] + r["cpu_sys_s"]) * 1e6 / n
# the source's per-worker counters from the final stats line ("-" without them)
conns_w = recs_w = "-"
for line in open(sys.argv[9], errors="replace"):
    m = re.search(r"\[stats\] source\.xdr: .*\bworker_connections=([0-9/]+)", line)
    if m:
        conns_w = m.group(1)
    m = re.search(r"\[stats\] source\.xdr: .*\bworker_records=([0-9/]+)", line)
    if m:
        v = [int(x) for x in m.group(1).split("/")]
        recs_w = "/".join("%.0f" % (100.0 * x / max(sum(v), 1)) for x in v)
# CPU seconds of each thread during the run: the busiest `workers` of them
def ticks(path):
    return dict((a, int(b)) for a, b in (l.split() for l in open(path) if l.strip()))
b, a = ticks(sys.argv[10]), ticks(sys.argv[11])
busy = sorted((a[t] - b.get(t, 0) for t in a), reverse=True)[:workers]
cpu_w = "/".join("%.1f" % (x / tck) for x in busy)
print("%-4s %-6s %-8s %-5s %12.0f %10.1f %14.2f %14.2f %10.0f %10.0f %-9s %-11s %s" % (
    sys.argv[7], sys.argv[5], sys.argv[6], sys.argv[8], r["acked_per_s"], r["mb_per_s"], spw_us,
    xg_us, r["latency_us"]["p50"], r["latency_us"]["p99"], conns_w, recs_w, cpu_w))
EOF
    done
    done
done
done
exit $status

#!/bin/sh
# bench/xdr-http.sh: the connector end to end and batched, as deployed:
# spillway-xdrgen (flat out, 4 connections, window 256, 10-bin 301-byte
# records) -> xdr source -> json (NDJSON) or xdr codec -> http sink, 500
# records per request, HTTP/1.1 to a local nginx (Debian's nginx-light,
# reading each body and answering 200), one worker. Reports records/s and
# spillway's CPU time per record (utime + stime from /proc/PID/stat around
# the xdrgen run), beside xdrgen's own CPU per record.
#
# Environment: top_builddir (required), XH_SECONDS (per run, default 10),
# XH_CODECS (default "json xdr" when the xdr codec is built), XH_WORKERS
# (default 1), PYTHON3. `make bench` runs it.

set -u
BENCH=xdr-http
. "$(dirname "$0")/lib.sh"
SECS=${XH_SECONDS:-10}
WORKERS=${XH_WORKERS:-1}

bench_need_plugins source-xdr codec-json sink-http
if ! command -v nginx >/dev/null 2>&1; then
    echo "xdr-http: skipped: no nginx (apt-get install nginx-light)"
    exit 0
fi
if [ -z "${XH_CODECS:-}" ]; then
    XH_CODECS=json
    [ -f "$top_builddir/plugins/codec-xdr.la" ] && XH_CODECS="json xdr"
fi

bench_tmp
bench_nginx "client_max_body_size 64m;" "client_body_buffer_size 1m;"

echo "xdr-http: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), ${SECS} s per run, xdrgen -C 4 -w 256, 301-byte records, 500 per request, HTTP/1.1 to nginx"
printf '%-6s %-8s %12s %14s %14s %10s %s\n' codec workers "records/s" "spillway us/r" "xdrgen us/r" requests load
status=0
for codec in $XH_CODECS; do
    for workers in $WORKERS; do
        p=$(port)
        fmt=
        [ "$codec" = json ] && fmt="batch_format = ndjson"
        cat >"$tmp/b.ini" <<EOF
[pipeline]
workers = $workers
max_in_flight = 65536
log_level = info

[source.xdr]
plugin = xdr
listen = 127.0.0.1:$p

[codec.c]
plugin = $codec
$fmt

[sink.out]
plugin = http
codec = c
url = http://127.0.0.1:$np/ingest
protocol = http1.1
batch_max_records = 500
batch_max_bytes = 16MiB
batch_max_delay = 5ms
EOF
        bench_spillway "$tmp/b.ini" "$p"
        before=$(cpu_ticks "$spw_pid")
        "$XDRGEN" -c "127.0.0.1:$p" -C 4 -w 256 --bins 10 --bin-types integer,string \
            --value-size 13 --duration "$SECS" --max-time $((SECS + 30)) --json -q >"$tmp/xg.json"
        xs=$?
        after=$(cpu_ticks "$spw_pid")
        load=$(cut -d' ' -f1 /proc/loadavg)
        bench_spillway_stop
        if [ "$xs" -ne 0 ]; then
            bench_xdrgen_failed "codec $codec, $workers worker(s)" "$xs"
            status=1
            continue
        fi
        reqs=$(sed -n 's/.*\[stats\] sink.out: .*http_requests=\([0-9]*\).*/\1/p' "$tmp/spw.err" | tail -1)
        "$PY" - "$tmp/xg.json" "$before" "$after" "$tck" "$codec" "$workers" "${reqs:-?}" "$load" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
before, after, tck = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
n = r["acknowledged"]
spw_us = (after - before) / tck * 1e6 / n
xg_us = (r["cpu_user_s"] + r["cpu_sys_s"]) * 1e6 / n
print("%-6s %-8s %12.0f %14.2f %14.2f %10s %s" % (sys.argv[5], sys.argv[6], r["acked_per_s"],
                                                 spw_us, xg_us, sys.argv[7], sys.argv[8]))
EOF
    done
done
exit $status

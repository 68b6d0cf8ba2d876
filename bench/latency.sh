#!/bin/sh
# bench/latency.sh: acknowledgement latency at a fixed rate, one record per
# request, side by side in one run:
#
#   null   xdr source -> json -> null sink (the pipeline's own latency)
#   http   xdr source -> json -> http sink, HTTP/1.1 to a local nginx
#          (Debian's nginx-light, answering 200 after reading the body,
#          as bench/http-bench.py configures it)
#
# spillway-xdrgen sends at --rate (default 10,000 records/s) on one
# connection, each frame when it is due (evenly spaced: see the send gap
# columns), and measures each record from the write of its frame to the
# read of its answer. Every record is its own request to nginx
# (batch_max_records = 1). Prints p50/p99/p99.9 and the ratio of the http
# row to the null row, spillway's CPU per record, and the load average
# (the machine may be shared: read the ratio, not the absolute figures).
#
# The case `trace` (LAT_CASES="null http trace", root only) runs the http
# case again with bench/latency-trace.py capturing the loopback interface,
# and splits each record's time at spillway into frame -> POST (spillway),
# POST -> answer (nginx) and answer -> reply (spillway). The capture costs
# CPU, so its row is not comparable with the others.
#
# On a shared machine, other processes delay every wake-up of the three
# processes involved, and the tails measure that. Run the script under
# `chrt -f 1` (as root; spillway, nginx and xdrgen inherit it, the kernel
# still keeps 5 % of each second for everything else) to measure them as
# on a quiet machine; say so beside the figures.
#
# Environment: top_builddir (required), LAT_SECONDS (per case, default 10),
# LAT_RATE (default 10000), LAT_CONNECTIONS (default 1), LAT_CASES
# (default "null http"), LAT_XDRGEN (another spillway-xdrgen to compare),
# PYTHON3. `make bench` runs it. Exits non-zero only when a run fails.

set -u
: "${top_builddir:?top_builddir must name the build directory}"
SPILLWAY=$top_builddir/spillway
XDRGEN=${LAT_XDRGEN:-$top_builddir/spillway-xdrgen}
PY=${PYTHON3:-python3}
SECS=${LAT_SECONDS:-10}
RATE=${LAT_RATE:-10000}
CONNS=${LAT_CONNECTIONS:-1}
CASES=${LAT_CASES:-null http}
SPILLWAY_PLUGIN_PATH=$top_builddir/plugins
export SPILLWAY_PLUGIN_PATH
PATH=$PATH:/usr/sbin

for p in source-xdr codec-json sink-null sink-http; do
    if [ ! -f "$top_builddir/plugins/$p.la" ]; then
        echo "latency: skipped: needs plugins/$p built"
        exit 0
    fi
done
if [ "$(id -u)" != 0 ]; then
    CASES=$(echo "$CASES" | sed 's/trace//')
fi
case " $CASES " in
*" http "* | *" trace "*)
    if ! command -v nginx >/dev/null 2>&1; then
        echo "latency: no nginx (apt-get install nginx-light): the http row is skipped"
        CASES=$(echo "$CASES" | sed 's/http//; s/trace//')
    fi
    ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-bench-lat.XXXXXX") || exit 1
spw_pid= ngx_pid= tr_pid=
trap '[ -n "$spw_pid" ] && kill -KILL "$spw_pid" 2>/dev/null; [ -n "$tr_pid" ] && kill -KILL "$tr_pid" 2>/dev/null; [ -n "$ngx_pid" ] && kill -TERM "$ngx_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

# CPU time of every thread of a process, in ns, from the scheduler's own sums
# (/proc/PID/task/*/schedstat): at thousands of short wake-ups a second the
# tick-sampled utime + stime of /proc/PID/stat charges whole ticks to
# whoever is running when they fire, and misleads by several times.
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d", s }'; }
port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    i=0
    while ! "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2).close()" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -gt 100 ] && return 1
        sleep 0.1
    done
}

case " $CASES " in
*" http "* | *" trace "*)
    np=$(port)
    mkdir -p "$tmp/nginx/body" "$tmp/nginx/proxy" "$tmp/nginx/fcgi" "$tmp/nginx/uwsgi" "$tmp/nginx/scgi"
    echo_mod=/usr/lib/nginx/modules/ngx_http_echo_module.so
    if [ -f "$echo_mod" ]; then
        head="load_module $echo_mod;"
        loc="location / { echo_read_request_body; echo ok; }"
    else
        head=
        loc="location / { return 200; }"
    fi
    cat >"$tmp/nginx.conf" <<EOF
$head
daemon off; master_process off; worker_processes 1; pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off; keepalive_requests 10000000;
  client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fcgi; uwsgi_temp_path $tmp/nginx/uwsgi; scgi_temp_path $tmp/nginx/scgi;
  server { listen 127.0.0.1:$np; $loc }
}
EOF
    nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx.conf" >/dev/null 2>&1 &
    ngx_pid=$!
    if ! wait_port "$np"; then
        echo "latency: nginx did not start"
        cat "$tmp/nginx/error.log"
        exit 1
    fi
    ;;
esac

echo "latency: $(nproc) cores ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $RATE records/s for $SECS s per case, xdrgen -C $CONNS, one record per request"
printf '%-6s %9s %8s %8s %8s %8s %10s %9s %9s %10s %s\n' case records "p50 us" "p99 us" "p99.9 us" \
    "max us" "gap p50" "gap p99" "spw us/r" "x p99" "load"
status=0
null_p99= null_p999=
for case in $CASES; do
    p=$(port)
    if [ "$case" = null ]; then
        sink="plugin = null"
    else
        sink="plugin = http
url = http://127.0.0.1:$np/ingest
protocol = http1.1"
    fi
    cat >"$tmp/lat.ini" <<EOF
[pipeline]
workers = 1
log_level = warn

[source.xdr]
plugin = xdr
listen = 127.0.0.1:$p

[codec.c]
plugin = json

[sink.out]
$sink
codec = c
batch_max_records = 1
EOF
    "$SPILLWAY" -c "$tmp/lat.ini" 2>"$tmp/spw.err" &
    spw_pid=$!
    if ! wait_port "$p"; then
        echo "latency: spillway did not start"
        cat "$tmp/spw.err"
        exit 1
    fi
    load0=$(cut -d' ' -f1 /proc/loadavg)
    if [ "$case" = trace ]; then
        "$PY" "$(dirname "$0")/latency-trace.py" "$p" "$np" $((SECS + 2)) >"$tmp/trace.out" 2>&1 &
        tr_pid=$!
        i=0
        while ! grep -q capturing "$tmp/trace.out" 2>/dev/null && [ "$i" -lt 100 ]; do
            i=$((i + 1))
            sleep 0.1
        done
    fi
    before=$(cpu_ns "$spw_pid")
    "$XDRGEN" -c "127.0.0.1:$p" -C "$CONNS" -w 64 --rate "$RATE" --bins 10 \
        --bin-types integer,string --value-size 13 --duration "$SECS" \
        --max-time $((SECS + 30)) --json -q >"$tmp/xg.json"
    xs=$?
    after=$(cpu_ns "$spw_pid")
    load1=$(cut -d' ' -f1 /proc/loadavg)
    kill -TERM "$spw_pid"
    wait "$spw_pid"
    spw_pid=
    if [ "$xs" -ne 0 ]; then
        echo "latency: $case: xdrgen exited $xs"
        cat "$tmp/xg.json" "$tmp/spw.err"
        status=1
        continue
    fi
    line=$("$PY" - "$tmp/xg.json" "$before" "$after" 1000000000 "$case" "$load0-$load1" \
        "${null_p99:-0}" "${null_p999:-0}" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
before, after, tck = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
n = r["acknowledged"]
lat = r["latency_us"]
gap = r.get("send_gap_us", {})
spw_us = (after - before) / tck * 1e6 / n if n else 0
ratio = "%.1fx" % (lat["p99"] / float(sys.argv[7])) if float(sys.argv[7]) else "-"
print("%-6s %9d %8.0f %8.0f %8.0f %8.0f %10.1f %9.1f %9.2f %10s %s" % (
    sys.argv[5], n, lat["p50"], lat["p99"], lat["p99_9"], lat["max"], gap.get("p50", 0),
    gap.get("p99", 0), spw_us, ratio, sys.argv[6]))
print("%s %s" % (lat["p99"], lat["p99_9"]))
EOF
    )
    echo "$line" | head -1
    if [ -n "$tr_pid" ]; then
        wait "$tr_pid"
        tr_pid=
        grep -v capturing "$tmp/trace.out" | sed 's/^/    /'
    fi
    if [ "$case" = null ]; then
        set -- $(echo "$line" | tail -1)
        null_p99=$1 null_p999=$2
    fi
done
echo "(x p99: the row's p99 over the null row's; load: 1-minute load average before-after)"
exit $status

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
: "${top_builddir:?top_builddir must name the build directory}"
SPILLWAY=$top_builddir/spillway
XDRGEN=$top_builddir/spillway-xdrgen
PY=${PYTHON3:-python3}
SECS=${XH_SECONDS:-10}
WORKERS=${XH_WORKERS:-1}
SPILLWAY_PLUGIN_PATH=$top_builddir/plugins
export SPILLWAY_PLUGIN_PATH
PATH=$PATH:/usr/sbin

for p in source-xdr codec-json sink-http; do
    if [ ! -f "$top_builddir/plugins/$p.la" ]; then
        echo "xdr-http: skipped: needs plugins/$p built"
        exit 0
    fi
done
if ! command -v nginx >/dev/null 2>&1; then
    echo "xdr-http: skipped: no nginx (apt-get install nginx-light)"
    exit 0
fi
if [ -z "${XH_CODECS:-}" ]; then
    XH_CODECS=json
    [ -f "$top_builddir/plugins/codec-xdr.la" ] && XH_CODECS="json xdr"
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-bench-xh.XXXXXX") || exit 1
spw_pid= ngx_pid=
trap '[ -n "$spw_pid" ] && kill -KILL "$spw_pid" 2>/dev/null; [ -n "$ngx_pid" ] && kill -TERM "$ngx_pid" 2>/dev/null; rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

tck=$(getconf CLK_TCK)
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    i=0
    while ! "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2).close()" 2>/dev/null; do
        i=$((i + 1))
        [ "$i" -gt 100 ] && return 1
        sleep 0.1
    done
}

np=$(port)
mkdir -p "$tmp/nginx/body" "$tmp/nginx/proxy" "$tmp/nginx/fcgi" "$tmp/nginx/uwsgi" "$tmp/nginx/scgi"
echo_mod=/usr/lib/nginx/modules/ngx_http_echo_module.so
if [ -f "$echo_mod" ]; then
    head="load_module $echo_mod;"
    loc="location / { client_max_body_size 64m; echo_read_request_body; echo ok; }"
else
    head=
    loc="location / { client_max_body_size 64m; return 200; }"
fi
cat >"$tmp/nginx.conf" <<EOF
$head
daemon off; master_process off; worker_processes 1; pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off; keepalive_requests 10000000; client_body_buffer_size 1m;
  client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fcgi; uwsgi_temp_path $tmp/nginx/uwsgi; scgi_temp_path $tmp/nginx/scgi;
  server { listen 127.0.0.1:$np; $loc }
}
EOF
nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx.conf" >/dev/null 2>&1 &
ngx_pid=$!
if ! wait_port "$np"; then
    echo "xdr-http: nginx did not start"
    cat "$tmp/nginx/error.log"
    exit 1
fi

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
        "$SPILLWAY" -c "$tmp/b.ini" 2>"$tmp/spw.err" &
        spw_pid=$!
        if ! wait_port "$p"; then
            echo "xdr-http: spillway did not start"
            cat "$tmp/spw.err"
            exit 1
        fi
        before=$(cpu_ticks "$spw_pid")
        "$XDRGEN" -c "127.0.0.1:$p" -C 4 -w 256 --bins 10 --bin-types integer,string \
            --value-size 13 --duration "$SECS" --max-time $((SECS + 30)) --json -q >"$tmp/xg.json"
        xs=$?
        after=$(cpu_ticks "$spw_pid")
        load=$(cut -d' ' -f1 /proc/loadavg)
        kill -TERM "$spw_pid"
        wait "$spw_pid"
        spw_pid=
        if [ "$xs" -ne 0 ]; then
            echo "xdr-http: codec $codec, $workers worker(s): xdrgen exited $xs"
            cat "$tmp/xg.json" "$tmp/spw.err"
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

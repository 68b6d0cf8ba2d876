# bench/lib.sh: the set-up the end-to-end benchmarks (xdr-e2e.sh,
# xdr-http.sh, latency.sh, tap.sh) share, written once. Not run on its own:
# a script sets BENCH (its name, the prefix of its messages) and sources it:
#
#   BENCH=xdr-http
#   . "$(dirname "$0")/lib.sh"
#
# It sets SPILLWAY, XDRGEN, PY and SPILLWAY_PLUGIN_PATH from top_builddir
# (required) and PYTHON3, and defines the helpers below. The process ids
# spw_pid, ngx_pid, tap_pid and tr_pid are killed at exit when set.

: "${BENCH:?set BENCH before sourcing bench/lib.sh}"
: "${top_builddir:?top_builddir must name the build directory}"
SPILLWAY=$top_builddir/spillway
XDRGEN=$top_builddir/spillway-xdrgen
PY=${PYTHON3:-python3}
SPILLWAY_PLUGIN_PATH=$top_builddir/plugins
export SPILLWAY_PLUGIN_PATH
# nginx lives in /usr/sbin, outside a user's PATH
PATH=$PATH:/usr/sbin
spw_pid= ngx_pid= tap_pid= tr_pid=

# bench_need_plugins NAME...: skip the benchmark (exit 0) unless every
# plugins/NAME.la is built.
bench_need_plugins() {
    for _p in "$@"; do
        if [ ! -f "$top_builddir/plugins/$_p.la" ]; then
            echo "$BENCH: skipped: needs plugins/$_p built"
            exit 0
        fi
    done
}

# bench_tmp: a scratch directory in $tmp, removed at exit with every
# process the script started still running.
bench_cleanup() {
    for _pid in "$tap_pid" "$tr_pid" "$spw_pid"; do
        [ -n "$_pid" ] && kill -KILL "$_pid" 2>/dev/null
    done
    [ -n "$ngx_pid" ] && kill -TERM "$ngx_pid" 2>/dev/null
    rm -rf "$tmp"
}
bench_tmp() {
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-bench-$BENCH.XXXXXX") || exit 1
    trap bench_cleanup EXIT
    trap 'exit 1' HUP INT TERM
}

tck=$(getconf CLK_TCK)
# cpu_ticks PID: utime + stime of a process in clock ticks (fields 14 and
# 15 of /proc/PID/stat, counted after the command name); divide by $tck.
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
# port: a free TCP port on 127.0.0.1
port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# wait_port PORT [TRIES]: until 127.0.0.1:PORT accepts, 0.1 s apart;
# fails after TRIES (default 100) attempts.
wait_port() {
    _i=0
    while ! "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $1), 0.2).close()" 2>/dev/null; do
        _i=$((_i + 1))
        [ "$_i" -gt "${2:-100}" ] && return 1
        sleep 0.1
    done
}

# bench_nginx [LOCATION-DIRECTIVES [HTTP-DIRECTIVES]]: a local nginx on
# port $np (pid in ngx_pid) answering every request "ok" after reading its
# body (echo module, when installed) or 200. The arguments add directives,
# each ending in ';', to the location and to the http block. Exits the
# script when nginx does not start.
bench_nginx() {
    np=$(port)
    mkdir -p "$tmp/nginx/body" "$tmp/nginx/proxy" "$tmp/nginx/fcgi" "$tmp/nginx/uwsgi" "$tmp/nginx/scgi"
    _echo_mod=/usr/lib/nginx/modules/ngx_http_echo_module.so
    if [ -f "$_echo_mod" ]; then
        _head="load_module $_echo_mod;"
        _loc="location / { ${1:+$1 }echo_read_request_body; echo ok; }"
    else
        _head=
        _loc="location / { ${1:+$1 }return 200; }"
    fi
    cat >"$tmp/nginx.conf" <<EOF
$_head
daemon off; master_process off; worker_processes 1; pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log warn;
events { worker_connections 1024; }
http {
  access_log off; keepalive_requests 10000000;${2:+ $2}
  client_body_temp_path $tmp/nginx/body; proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fcgi; uwsgi_temp_path $tmp/nginx/uwsgi; scgi_temp_path $tmp/nginx/scgi;
  server { listen 127.0.0.1:$np; $_loc }
}
EOF
    nginx -p "$tmp/nginx" -e "$tmp/nginx/error.log" -c "$tmp/nginx.conf" >/dev/null 2>&1 &
    ngx_pid=$!
    if ! wait_port "$np"; then
        echo "$BENCH: nginx did not start"
        cat "$tmp/nginx/error.log"
        exit 1
    fi
}

# bench_spillway INI [PORT]: start spillway on INI in the background (pid in
# spw_pid, stderr in $tmp/spw.err); with PORT, wait until it listens there
# and exit the script when it does not.
bench_spillway() {
    "$SPILLWAY" -c "$1" 2>"$tmp/spw.err" &
    spw_pid=$!
    if [ -n "${2:-}" ] && ! wait_port "$2"; then
        echo "$BENCH: spillway did not start"
        cat "$tmp/spw.err"
        exit 1
    fi
}

# bench_spillway_stop: stop it (SIGTERM, the orderly shutdown) and reap it.
bench_spillway_stop() {
    kill -TERM "$spw_pid"
    wait "$spw_pid"
    spw_pid=
}

# bench_xdrgen_failed WHAT STATUS: say which run's xdrgen failed, with its
# report and spillway's log.
bench_xdrgen_failed() {
    echo "$BENCH: $1: xdrgen exited $2"
    cat "$tmp/xg.json" "$tmp/spw.err"
}

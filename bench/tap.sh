#!/bin/sh
# bench/tap.sh: what a tap costs the pipeline. One pipeline (xdr source fed
# flat out by spillway-xdrgen -> json codec -> null sink, admin endpoint on)
# run side by side in one invocation, rounds interleaved:
#
#   none          no tap
#   reading       `spillway tap --sink out` reading to /dev/null (rate 100/s, the default)
#   stalled       a client that opens GET /tap?sink=out and never reads (rate 100/s)
#   stalled-max   the same with rate=1000000: every event goes to the tap's
#                 slow path and finds its queue full (the worst case)
#
# Records/s is xdrgen's acknowledged records over its run; spillway's CPU µs
# per record from /proc/PID/stat; "dropped" is spillway_tap_dropped_total
# after the run. The ratio is each row's records/s over the mean of the
# "none" rows. A never-reading tap must not change throughput beyond the
# spread between the "none" rows.
#
# Environment: top_builddir (required), TAP_BENCH_SECONDS (per run, default
# 8), TAP_BENCH_ROUNDS (default 2), TAP_BENCH_MODES (default "none reading
# stalled stalled-max"), TAP_BENCH_WORKERS (default 1), PYTHON3.
set -u
BENCH=tap
. "$(dirname "$0")/lib.sh"
SECS=${TAP_BENCH_SECONDS:-8}
ROUNDS=${TAP_BENCH_ROUNDS:-2}
MODES=${TAP_BENCH_MODES:-none reading stalled stalled-max}
WORKERS=${TAP_BENCH_WORKERS:-1}

bench_need_plugins source-xdr sink-null

bench_tmp

# The client that never reads: a 4 KiB receive buffer, the request, then sleep.
cat >"$tmp/stall.py" <<'EOF'
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", int(sys.argv[1])))
s.sendall(("GET /tap?sink=out&rate=%s HTTP/1.1\r\nHost: x\r\n\r\n" % sys.argv[2]).encode())
time.sleep(3600)
EOF

echo "tap: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), ${SECS} s per run, ${ROUNDS} round(s), $WORKERS worker(s), xdrgen -C 4 -w 256, 10-bin 301-byte records, json -> null"
printf '%-12s %5s %12s %14s %10s\n' mode round "records/s" "spillway us/r" dropped
status=0
round=1
while [ "$round" -le "$ROUNDS" ]; do
    for mode in $MODES; do
        p=$(port)
        a=$(port)
        cat >"$tmp/b.ini" <<EOF
[pipeline]
workers = $WORKERS
max_in_flight = 65536
log_level = warn
admin = 127.0.0.1:$a

[source.xdr]
plugin = xdr
listen = 127.0.0.1:$p

[codec.c]
plugin = json

[sink.out]
plugin = null
codec = c
batch_max_records = 256
batch_max_delay = 1ms
EOF
        bench_spillway "$tmp/b.ini"
        wait_port "$p" && wait_port "$a"
        case $mode in
        reading) "$SPILLWAY" tap --admin "127.0.0.1:$a" --sink out >/dev/null 2>&1 & tap_pid=$! ;;
        stalled) "$PY" "$tmp/stall.py" "$a" 100 & tap_pid=$! ;;
        stalled-max) "$PY" "$tmp/stall.py" "$a" 1000000 & tap_pid=$! ;;
        esac
        sleep 0.5 # the tap is open before the clock starts
        before=$(cpu_ticks "$spw_pid")
        "$XDRGEN" -c "127.0.0.1:$p" -C 4 -w 256 --bins 10 --bin-types integer,string \
            --value-size 13 --duration "$SECS" --max-time $((SECS + 30)) --json -q >"$tmp/xg.json"
        xs=$?
        after=$(cpu_ticks "$spw_pid")
        dropped=$("$PY" -c "
import re, urllib.request
t = urllib.request.urlopen('http://127.0.0.1:$a/metrics', timeout=10).read().decode()
m = re.search(r'^spillway_tap_dropped_total\{[^}]*\} (\S+)$', t, re.M)
print(int(float(m.group(1))) if m else 0)" 2>/dev/null || echo '?')
        [ -n "$tap_pid" ] && kill -TERM "$tap_pid" 2>/dev/null && wait "$tap_pid" 2>/dev/null
        tap_pid=
        bench_spillway_stop
        if [ "$xs" -ne 0 ]; then
            bench_xdrgen_failed "$mode" "$xs"
            status=1
            continue
        fi
        "$PY" - "$tmp/xg.json" "$before" "$after" "$tck" "$mode" "$round" "$dropped" <<'EOF' | tee -a "$tmp/rows"
import json, sys
r = json.load(open(sys.argv[1]))
before, after, tck = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
n = r["acknowledged"]
print("%-12s %5s %12.0f %14.2f %10s" % (sys.argv[5], sys.argv[6], r["acked_per_s"],
                                        (after - before) / tck * 1e6 / n, sys.argv[7]))
EOF
    done
    round=$((round + 1))
done
"$PY" - "$tmp/rows" <<'EOF'
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rows:
    by.setdefault(r[0], []).append(float(r[2]))
base = sum(by.get("none", [0])) / max(1, len(by.get("none", [])))
print("mean records/s and ratio to no tap:")
for mode, v in by.items():
    m = sum(v) / len(v)
    print("  %-12s %12.0f  %5.2f  (runs: %s)" % (mode, m, m / base if base else 0,
                                                ", ".join("%.0f" % x for x in v)))
EOF
exit $status

#!/bin/sh
# tests/xdrgen-e2e.sh: spillway-xdrgen -> spillway (source `xdr`) end to end.
#
# xdrgen speaks to the xdr source exactly as XDR would, over several
# connections; the pipeline writes one line per event (test codec
# `testline`, or `json`) to a file, and every sequence number must be in
# it, while xdrgen must see every record acknowledged and exit 0. Then the
# answers XDR acts on: the null sink answering retry (xdrgen resends until
# --max-time), reject + drop (xdrgen abandons), a slow sink (latency), and
# the reference's captured frames replayed through the source.
#
# Skips while the xdr source is not built. Environment (set by the test
# harness): SPILLWAY, SPILLWAY_PLUGIN_PATH, top_builddir, PYTHON3. TAP.
# The shared pieces (TAP, spillway, xdrgen, seqs_ok) are in tests/xdr-lib.sh.

. "$(dirname "$0")/xdr-lib.sh"
xdr_init xdrgen-e2e

# ini FILE CODEC SINK-PLUGIN [sink lines...]
ini() {
    f=$1 codec=$2 sink=$3
    shift 3
    xdr_ini "$f" "$(lines "workers = 2" "event_deadline = 2s" "shutdown_timeout = 1s")" "" \
        "$codec" "$(lines "plugin = $sink" "$@")"
}

# ---------------------------------------------------------------- delivery

port=$(free_port)
ini "$tmp/lines.ini" testline file 'path = ${env:OUT}' "batch_max_records = 64" "batch_max_delay = 5ms"
rm -f "$tmp/out"
start_spillway "$tmp/lines.ini"
xdrgen -C 4 -w 64 -n 20000 --delete-ratio 0.1 --max-time 60
check "4 connections, 20000 records: xdrgen exits 0, all acknowledged" \
    'all_acked 20000'
stop_spillway
check "spillway stops cleanly on SIGTERM" '[ "$spw_status" -eq 0 ]'
check "every sequence number 0..19999 is in the file, seq bins matching keys" \
    '[ -f "$tmp/out" ] && seqs_ok "$tmp/out" 20000 i'
check "no faults, no duplicates: exactly 20000 lines" '[ "$(wc -l <"$tmp/out")" -eq 20000 ]'

# Every record shape: string keys, sets and none, every particle type, bin
# LUTs, durable deletes, compression. The json codec must take them all.
port=$(free_port)
ini "$tmp/json.ini" testline file 'path = ${env:OUT}' "batch_max_records = 32"
rm -f "$tmp/out"
start_spillway "$tmp/json.ini"
xdrgen -C 3 -n 3000 --key-type string --sets demo,- --namespaces test,bar --bins 12 \
    --bin-types integer,double,string,blob,bool,hll,list,map,geojson --value-size 0-120 \
    --delete-ratio 0.2 --durable-ratio 0.5 --bin-luts --compress-ratio 0.3 --max-time 60
stop_spillway
check "every shape, compressed frames included: all acknowledged" \
    'all_acked 3000 && [ "$(field "[\"compressed\"]")" -gt 0 ]'
check "every shape: every sequence number in the file" '[ -f "$tmp/out" ] && seqs_ok "$tmp/out" 3000 s'
check "every shape: durable deletes and sets as sent" \
    'grep -q "^delete .*durable=1" "$tmp/out" && grep -q " ns=bar set= " "$tmp/out" && grep -q " ns=test set=demo " "$tmp/out"'

port=$(free_port)
ini "$tmp/json2.ini" json file 'path = ${env:OUT}' "batch_max_records = 32"
rm -f "$tmp/out"
start_spillway "$tmp/json2.ini"
xdrgen -C 2 -n 1000 --bins 12 --bin-types integer,double,string,blob,bool,hll,list,map,geojson \
    --value-size 0-80 --delete-ratio 0.1 --bin-luts --max-time 60
stop_spillway
check "json codec: every particle type encoded, all acknowledged" \
    'all_acked 1000 && [ "$(wc -l <"$tmp/out")" -ge 1000 ]'

# ---------------------------------------------------------------- answers

# Nothing is ever delivered: the source answers retry, xdrgen resends until --max-time.
port=$(free_port)
ini "$tmp/retry.ini" json null "outcome = retry" "retry_initial = 20ms" "retry_max = 50ms"
start_spillway "$tmp/retry.ini"
# The first retry answers come an event_deadline (2 s) after the records arrive, and an
# ASan build on a busy machine can take a second to start: 6 s leaves room for both.
xdrgen -C 2 -n 50 --retry-delay 50ms --max-time 6s
stop_spillway
check "sink answering retry: xdrgen gets retry codes, resends, exits 1 at --max-time" \
    '[ "$xs" -eq 1 ] && [ "$(field "[\"acknowledged\"]")" = 0 ] && [ "$(field "[\"retried\"]")" -ge 50 ] && [ "$(field "[\"result_codes\"][\"11\"]")" -ge 50 ]'

# Rejected and dropped: the source answers the abandon code, xdrgen does not resend.
port=$(free_port)
ini "$tmp/reject.ini" json null "outcome = reject" "on_reject = drop"
start_spillway "$tmp/reject.ini"
xdrgen -C 2 -n 200 --max-time 30
stop_spillway
check "sink rejecting, route dropping: every record abandoned once (code 10), exit 0" \
    '[ "$xs" -eq 0 ] && [ "$(field "[\"abandoned\"]")" = 200 ] && [ "$(field "[\"sent\"]")" = 200 ] && [ "$(field "[\"result_codes\"][\"10\"]")" = 200 ]'

# A slow destination: replies come late, and in order.
port=$(free_port)
ini "$tmp/slow.ini" json null "delay = 200ms" "concurrency = 8" "batch_max_records = 16"
start_spillway "$tmp/slow.ini"
xdrgen -C 2 -w 32 -n 500 --max-time 60
stop_spillway
check "sink delaying 200 ms: all acknowledged, median latency >= 200 ms" \
    'all_acked 500 && "$PY" -c "import sys; sys.exit(not $(field "[\"latency_us\"][\"p50\"]") >= 195000)"'

# ---------------------------------------------------------------- replay

cat >"$tmp/ref.hex" <<'EOF'
# xdr-wire.md 7: a write of test/myset key 4 and a delete of key 14
0203 0000 0000 009a 1610 1100 0000 0000 0001 ffff ffff 0000 0000 0005 0003
0000 0005 00 74657374
0000 0015 04 78f26d30728c436ac5b7e2b79f7faa4b1c011576
0000 0006 01 6d79736574
0000 000a 02 01 0000000000000004
0000 0009 0e 0000016dea5ec92d
0000 000e 02 03 00 04 6e616d65 636f6c746f6e
0000 000f 02 01 00 03 616765 000000000000001b
0000 0014 02 13 00 07 6d617054657374 82a2036101a2036202
0203 0000 0000 005d 1610 0300 0000 0000 0002 0000 0000 0000 0000 0005 0000
0000 0005 00 74657374
0000 0015 04 f9bb902ddd1874858475b66c8f36b950badb44f7
0000 0006 01 6d79736574
0000 000a 02 01 000000000000000e
0000 0009 0e 0000016dea751d58
EOF
port=$(free_port)
ini "$tmp/replay.ini" testline file 'path = ${env:OUT}'
rm -f "$tmp/out"
start_spillway "$tmp/replay.ini"
xdrgen --replay "$tmp/ref.hex" --max-time 30
stop_spillway
check "the reference's captured frames, replayed: both acknowledged and written" \
    '[ "$xs" -eq 0 ] && grep -q "^write ns=test set=myset key=i:4 digest=78f26d30728c436ac5b7e2b79f7faa4b1c011576 gen=1 lut=1734387515693 " "$tmp/out" && grep -q "^delete ns=test set=myset key=i:14 digest=f9bb902ddd1874858475b66c8f36b950badb44f7 gen=2 " "$tmp/out"'

tap_end

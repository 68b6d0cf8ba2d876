#!/bin/sh
# tests/xdr-capture.sh: the xdr source's `capture` (plugins/source-xdr/capture.c).
#
# spillway A captures while spillway-xdrgen sends records; every capture file
# is then replayed with `spillway-xdrgen --replay` into spillway B, and B must
# write exactly the records A wrote from those frames. Rotation at the size
# bound keeps capture_files files of whole frames, each replayable; files are
# 0600; a bad path is a --check error; a write error stops capture, not the
# pipeline; a file cut in the middle of a frame is repaired before appending;
# a reload that changes the source keeps capturing the old connections' frames.
#
# Environment (set by the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH,
# top_builddir, PYTHON3. TAP. The shared pieces are in tests/xdr-lib.sh.

. "$(dirname "$0")/xdr-lib.sh"
xdr_init xdr-capture
# After a failed check (show in xdr-lib.sh), the capture directory too.
show_more() {
    echo "# capture directory:"
    ls -la "$tmp/cap" 2>/dev/null | sed 's/^/#   /'
}

# ini FILE [source lines...]: xdr source -> testline codec -> file sink ($OUT).
ini() {
    f=$1
    shift
    xdr_ini "$f" "$(lines "workers = 2" "event_deadline = 5s" "shutdown_timeout = 2s")" \
        "$(lines "$@")" testline "$(lines "plugin = file" 'path = ${env:OUT}')"
}

mkdir -p "$tmp/cap"
SHAPE="--bins 4 --bin-types integer,string,list,map --value-size 0-60 --delete-ratio 0.1 --compress-ratio 0.3 --key-type string --sets demo,-"

# ------------------------------------------------ capture, then replay it all

port=$(free_port)
ini "$tmp/a.ini" "capture = $tmp/cap/all"
start_spillway "$tmp/a.ini" "$tmp/a.out"
xdrgen -C 4 -w 32 -n 3000 $SHAPE --max-time 60
stop_spillway
check "capture on: xdrgen's 3000 records all acknowledged, spillway stops cleanly" \
    'all_acked 3000 && [ "$spw_status" -eq 0 ]'
check "stats line: capture_frames=3000 capture_dropped=0" \
    '[ "$(stat_of source.xdr capture_frames)" = 3000 ] && [ "$(stat_of source.xdr capture_dropped)" = 0 ]'
check "the capture file is 0600, one file (under capture_max_bytes)" \
    '[ "$(stat -c %a "$tmp/cap/all")" = 600 ] && [ ! -e "$tmp/cap/all.1" ]'

port=$(free_port)
ini "$tmp/b.ini"
start_spillway "$tmp/b.ini" "$tmp/b.out"
xdrgen --replay "$tmp/cap/all" --replay-format binary --max-time 60
stop_spillway
check "the capture replays: 3000 frames, compressed ones as they came, all acknowledged" \
    'all_acked 3000 && [ "$(field "[\"compressed\"]")" -gt 0 ]'
sort "$tmp/a.out" >"$tmp/a.sorted"
sort "$tmp/b.out" >"$tmp/b.sorted"
check "the replay delivers the same 3000 records (digest, key, lut, bins) as the original run" \
    '[ "$(wc -l <"$tmp/a.sorted")" -eq 3000 ] && cmp -s "$tmp/a.sorted" "$tmp/b.sorted"'

# ------------------------------------------------ rotation

port=$(free_port)
ini "$tmp/r.ini" "capture = $tmp/cap/rot" "capture_max_bytes = 64KiB" "capture_files = 3"
start_spillway "$tmp/r.ini" "$tmp/r.out"
xdrgen -C 4 -w 32 -n 3000 $SHAPE --seq-start 10000 --max-time 60
stop_spillway
check "rotation: all acknowledged" '[ "$xs" -eq 0 ] && [ "$spw_status" -eq 0 ]'
check "rotation keeps capture_files = 3 files: rot, rot.1, rot.2, no rot.3" \
    '[ -s "$tmp/cap/rot" ] && [ -s "$tmp/cap/rot.1" ] && [ -s "$tmp/cap/rot.2" ] && [ ! -e "$tmp/cap/rot.3" ]'
check "every file is within capture_max_bytes, the full ones close to it, all 0600" \
    '(for f in rot rot.1 rot.2; do [ "$(stat -c %s "$tmp/cap/$f")" -le 65536 ] && [ "$(stat -c %a "$tmp/cap/$f")" = 600 ] || exit 1; done) && [ "$(stat -c %s "$tmp/cap/rot.1")" -gt 60000 ]'

port=$(free_port)
ini "$tmp/b2.ini"
rm -f "$tmp/b2.out"
start_spillway "$tmp/b2.ini" "$tmp/b2.out"
frames=0
ok=true
for f in rot.2 rot.1 rot; do
    xdrgen --replay "$tmp/cap/$f" --max-time 60 || ok=false
    acked=$(field '["acknowledged"]')
    [ "$acked" = "$(field '["records"]')" ] || ok=false
    frames=$((frames + acked))
done
stop_spillway
check "each rotated file is a valid replay file, every frame acknowledged" '$ok && [ "$frames" -gt 0 ]'
sort "$tmp/r.out" >"$tmp/r.sorted"
sort "$tmp/b2.out" >"$tmp/b2.sorted"
check "the kept files replay $frames records, each one a record of the original run" \
    '[ "$(wc -l <"$tmp/b2.sorted")" -eq "$frames" ] && [ -z "$(comm -13 "$tmp/r.sorted" "$tmp/b2.sorted")" ]'

# ------------------------------------------------ a reload changes the source: old connections keep capturing

# The old instances stop listening but serve (and capture) their connections until they close
# (spw_source_ops.retire); the new ones share the capture file. Every frame is in it once.
port=$(free_port)
ini "$tmp/rl.ini" "capture = $tmp/cap/reload"
start_spillway "$tmp/rl.ini" "$tmp/rl.out"
xdrgen -C 4 -w 32 -n 6000 -r 2000 --seq-start 70000 --max-time 100 &
xg_pid=$!
i=0
while [ $i -lt 300 ] && [ "$(wc -l <"$tmp/rl.out" 2>/dev/null || echo 0)" -lt 500 ]; do sleep 0.1; i=$((i + 1)); done
ini "$tmp/rl.ini" "capture = $tmp/cap/reload" "idle_timeout = 1h"
kill -HUP "$spw_pid"
wait "$xg_pid"
xs=$?
stop_spillway
kept=$(sed -n 's/.*keeps serving \([0-9]*\) connection.*/\1/p' "$tmp/spw.err" | awk '{s += $1} END {print s + 0}')
check "reload with capture: all 6000 acknowledged, no connection reset, spillway stops cleanly" \
    '[ "$xs" -eq 0 ] && [ "$(field "[\"acknowledged\"]")" = 6000 ] && [ "$(field "[\"connections\"][\"resets_peer\"]")" = 0 ] && [ "$spw_status" -eq 0 ]'
check "  the old instances kept serving xdrgen's 4 connections (logged: $kept)" '[ "$kept" = 4 ]'
"$XDRGEN" --dump - --replay "$tmp/cap/reload" >"$tmp/reload.hex" 2>"$tmp/xg.err"
check "  and the capture holds every frame once, across the reload ($(grep -c . "$tmp/reload.hex"))" \
    '[ "$(grep -c . "$tmp/reload.hex")" -eq 6000 ]'

# ------------------------------------------------ bad paths

port=$(free_port)
ini "$tmp/bad1.ini" "capture = $tmp/no-such-dir/frames"
OUT=$tmp/x "$SPILLWAY" --check -c "$tmp/bad1.ini" >"$tmp/chk.out" 2>&1
rc=$?
check "--check: a capture path in a missing directory is an error naming it" \
    '[ "$rc" -ne 0 ] && grep -q "capture.*no-such-dir.*No such file" "$tmp/chk.out"'
printf 'not a capture\n' >"$tmp/cap/notes.txt"
ini "$tmp/bad2.ini" "capture = $tmp/cap/notes.txt"
OUT=$tmp/x "$SPILLWAY" --check -c "$tmp/bad2.ini" >"$tmp/chk.out" 2>&1
rc=$?
check "--check: an existing file that is not a capture is refused, not overwritten" \
    '[ "$rc" -ne 0 ] && grep -q "not a capture file" "$tmp/chk.out" && [ "$(cat "$tmp/cap/notes.txt")" = "not a capture" ]'
ini "$tmp/bad3.ini" "capture = $tmp/cap"
OUT=$tmp/x "$SPILLWAY" --check -c "$tmp/bad3.ini" >"$tmp/chk.out" 2>&1
rc=$?
check "--check: a directory as capture path is an error" \
    '[ "$rc" -ne 0 ] && grep -q "not a regular file" "$tmp/chk.out"'
OUT=$tmp/x "$SPILLWAY" -c "$tmp/bad1.ini" >"$tmp/chk.out" 2>&1
rc=$?
check "start: a bad capture path stops spillway from starting, with the same message" \
    '[ "$rc" -ne 0 ] && grep -q "capture.*no-such-dir" "$tmp/chk.out"'

# ------------------------------------------------ a write error stops capture, not the pipeline

mkdir -p "$tmp/gone"
port=$(free_port)
ini "$tmp/w.ini" "capture = $tmp/gone/frames"
start_spillway "$tmp/w.ini" "$tmp/w.out"
# Once it runs (the path was checked), the directory goes: the file is created at the first
# frame, and that open fails.
wait_running
rmdir "$tmp/gone"
xdrgen -C 2 -n 500 --max-time 60
# The error is logged by a worker's periodic sweep (at most 1 s): wait for it, boundedly.
i=0
while [ $i -lt 200 ] && ! grep -q "capture stopped" "$tmp/spw.err"; do sleep 0.1; i=$((i + 1)); done
stop_spillway
check "a capture that cannot write: every record still delivered, one error logged" \
    '[ "$xs" -eq 0 ] && [ "$(wc -l <"$tmp/w.out")" -eq 500 ] && [ "$(grep -c "capture stopped" "$tmp/spw.err")" -eq 1 ]'
check "  and once it stopped, frames are counted as dropped (capture_frames + capture_dropped = 500)" \
    '[ "$(( $(stat_of source.xdr capture_dropped) + $(stat_of source.xdr capture_frames) ))" -eq 500 ] && [ "$(stat_of source.xdr capture_dropped)" -ge 1 ]'

# ------------------------------------------------ a full queue drops, counted in the stats and /metrics

# A frame larger than capture_queue can never be queued: every one is dropped, deterministically.
port=$(free_port)
aport=$(free_port)
ini "$tmp/q.ini" "capture = $tmp/cap/big" "capture_queue = 64KiB"
sed -i "s/^\[pipeline\]\$/[pipeline]\nadmin = 127.0.0.1:$aport/" "$tmp/q.ini"
start_spillway "$tmp/q.ini" "$tmp/q.out"
xdrgen -n 20 --bins 2 --bin-types string --value-size 70000 --max-time 60
metrics=$(curl -s "http://127.0.0.1:$aport/metrics")
stop_spillway
check "frames over capture_queue: all 20 delivered, none captured" \
    '[ "$xs" -eq 0 ] && [ "$(wc -l <"$tmp/q.out")" -eq 20 ] && [ ! -e "$tmp/cap/big" ]'
check "  counted: capture_dropped=20 in the stats line and in /metrics" \
    '[ "$(stat_of source.xdr capture_dropped)" = 20 ] && printf "%s\n" "$metrics" | grep -Eq "^spillway_capture_dropped_total\{.*\} 20$"'

# ------------------------------------------------ a frame cut by a crash is taken off before appending

port=$(free_port)
ini "$tmp/c.ini" "capture = $tmp/cap/cut"
"$XDRGEN" --dump "$tmp/two.hex" -n 2 --bins 2 >/dev/null 2>&1
"$PY" -c '
import sys
h = "".join(l.split("#")[0].strip() for l in open(sys.argv[1]))
b = bytes.fromhex(h)
size = 8 + int.from_bytes(b[2:8], "big")
open(sys.argv[2], "wb").write(b[:size] + b[size:size + 13])  # one frame, then part of one
' "$tmp/two.hex" "$tmp/cap/cut"
start_spillway "$tmp/c.ini" "$tmp/c.out"
xdrgen -n 10 --seq-start 50000 --max-time 60
stop_spillway
"$XDRGEN" --dump - --replay "$tmp/cap/cut" >"$tmp/cut.hex" 2>"$tmp/xg.err"
rc=$?
check "a file ending in part of a frame is cut back to whole frames, then appended to" \
    '[ "$rc" -eq 0 ] && [ "$(grep -c . "$tmp/cut.hex")" -eq 11 ]'

tap_end

#!/bin/sh
# tests/xdrgen-null.sh: the `null` sink (plugins/sink-null), driven by the
# `generate` source: it takes and counts everything; `outcome` answers
# every batch ok, retry or reject; `delay` answers late, bounded by the
# route's concurrency.
#
# Environment (set by the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH.
# TAP on stdout.

set -u
: "${SPILLWAY:?SPILLWAY must name the spillway program}"
: "${SPILLWAY_PLUGIN_PATH:?SPILLWAY_PLUGIN_PATH must list the plugin directories}"
export SPILLWAY_PLUGIN_PATH

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-null.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
show() { tail -n 15 "$tmp/err" | sed 's/^/# /'; }
check() { if eval "$2"; then pass "$1"; else fail "$1"; show; fi; }

# ini FILE COUNT [sink lines...]; $src_extra: one more line for the source
ini() {
    f=$1 count=$2
    shift 2
    {
        printf '[pipeline]\nworkers = 2\nevent_deadline = 1s\nshutdown_timeout = 300ms\n\n'
        printf '[source.gen]\nplugin = generate\ncount = %s\n%s\n\n' "$count" "${src_extra:-}"
        printf '[codec.j]\nplugin = json\n\n[sink.out]\nplugin = null\ncodec = j\n'
        for line in "$@"; do printf '%s\n' "$line"; done
    } >"$f"
}

# stat NAME: the value of NAME= in the last [stats] line of sink.out (or source.gen with a prefix)
# run_then_term INI SECONDS: runs spillway, and SECONDS after it says it is running
# (not after it was started: a loaded machine may take a second to load plugins, and a
# signal before the handlers are installed kills it) sends one SIGTERM. Returns its status.
run_then_term() {
    "$SPILLWAY" -c "$1" >/dev/null 2>"$tmp/err" &
    pid=$!
    i=0
    while ! grep -q "running (" "$tmp/err" && [ "$i" -lt 300 ] && kill -0 "$pid" 2>/dev/null; do
        sleep 0.1
        i=$((i + 1))
    done
    sleep "$2"
    kill -TERM "$pid" 2>/dev/null
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid"
}

stat() { sed -n "s/.*\[stats\] $1: .* $2=\([0-9]*\).*/\1/p; s/.*\[stats\] $1: $2=\([0-9]*\).*/\1/p" "$tmp/err" | tail -n 1; }

"$SPILLWAY" --help-plugin null >"$tmp/help" 2>"$tmp/err"
check "--help-plugin null documents outcome and delay" \
    'grep -q "^sink null" "$tmp/help" && grep -q "outcome (enum: ok|retry|reject, default ok)" "$tmp/help" && grep -q "delay (duration" "$tmp/help"'

ini "$tmp/bad.ini" 10 "outcome = maybe"
check "--check refuses an unknown outcome, naming it" \
    '! "$SPILLWAY" --check -c "$tmp/bad.ini" >/dev/null 2>"$tmp/err" && grep -q maybe "$tmp/err"'

# Everything taken and counted.
ini "$tmp/ok.ini" 5000 "batch_max_records = 100"
timeout 60 "$SPILLWAY" -c "$tmp/ok.ini" >/dev/null 2>"$tmp/err"
st=$?
check "outcome ok: spillway exits 0 once the generator is done" '[ "$st" -eq 0 ]'
check "outcome ok: 5000 records taken, 5000 delivered" \
    '[ "$(stat sink.out records)" = 5000 ] && [ "$(stat sink.out delivered)" = 5000 ] && [ "$(stat sink.out batches)" -ge 50 ]'
check "outcome ok: bytes counted" '[ "$(stat sink.out bytes)" -gt 100000 ]'

# A slow destination: 40 records, batches of 10, concurrency 1 per worker, 150 ms each.
ini "$tmp/slow.ini" 40 "batch_max_records = 10" "batch_max_delay = 10ms" "delay = 150ms" "concurrency = 1"
start=$(date +%s%N)
timeout 60 "$SPILLWAY" -c "$tmp/slow.ini" >/dev/null 2>"$tmp/err"
st=$?
ms=$((($(date +%s%N) - start) / 1000000))
check "delay 150ms: everything delivered" '[ "$st" -eq 0 ] && [ "$(stat sink.out delivered)" = 40 ]'
# 2 workers x 20 records = 2 batches each, one at a time: at least 300 ms
check "delay 150ms with concurrency 1: batches wait in turn ($ms ms)" '[ "$ms" -ge 290 ]'

# reject + drop: the generator is told the records were abandoned.
ini "$tmp/reject.ini" 300 "outcome = reject" "on_reject = drop"
timeout 60 "$SPILLWAY" -c "$tmp/reject.ini" >/dev/null 2>"$tmp/err"
st=$?
check "outcome reject, on_reject drop: every record dropped, the run ends" \
    '[ "$st" -eq 0 ] && [ "$(stat sink.out dropped)" = 300 ] && [ "$(stat source.gen abandoned)" = 300 ]'

# retry: nothing is ever delivered; the generator keeps resending until stopped.
ini "$tmp/retry.ini" 20 "outcome = retry" "retry_initial = 10ms" "retry_max = 20ms"
run_then_term "$tmp/retry.ini" 2
check "outcome retry: batches retried, none delivered" \
    '[ "$(stat sink.out delivered)" = 0 ] && [ "$(stat sink.out request_retries)" -gt 0 ] && [ "$(stat source.gen retried)" -gt 0 ]'

# delay with batches still waiting at shutdown: they are given back, none lost silently.
src_extra="rate = 50" ini "$tmp/late.ini" 0 "delay = 1h" "concurrency = 4"
run_then_term "$tmp/late.ini" 1
st=$?
check "delay 1h stopped by SIGTERM: exits 0, waiting batches answered retry" \
    '[ "$st" -eq 0 ] && ! grep -q "still holds" "$tmp/err" && [ "$(stat sink.out delivered)" = 0 ]'

echo "1..$n"
[ "$failed" -eq 0 ]

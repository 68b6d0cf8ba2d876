# tests/xdr-lib.sh: what the shell tests that run spillway fed by
# spillway-xdrgen share (xdrgen-e2e.sh, xdr-capture.sh, xdr-balance.sh).
# Sourced, not run: `. "$(dirname "$0")/xdr-lib.sh"`, then `xdr_init NAME`.
#
# It gives: the environment checks and the skip while the xdr source is not
# built, a temporary directory $tmp removed on exit (with any spillway still
# running killed), TAP counting (pass, fail, check, tap_end), free_port, a
# pipeline writer (xdr_ini), start_spillway / wait_running / stop_spillway,
# xdrgen against the pipeline and its JSON report (field), the zero-loss
# check (seqs_ok) and the stats-line reader (stat_of).
#
# Environment (set by the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH,
# top_builddir, PYTHON3.

set -u
: "${SPILLWAY:?SPILLWAY must name the spillway program}"
: "${SPILLWAY_PLUGIN_PATH:?SPILLWAY_PLUGIN_PATH must list the plugin directories}"
: "${top_builddir:?top_builddir must name the build directory}"
export SPILLWAY_PLUGIN_PATH
XDRGEN=$top_builddir/spillway-xdrgen
PY=${PYTHON3:-python3}

spw_pid=
n=0
failed=0

# xdr_init NAME: skips the test (exit 0, TAP plan 1..0) without the xdr source,
# else makes $tmp (spw-NAME.XXXXXX) and the traps that clean it up.
xdr_init() {
    if [ ! -f "$top_builddir/plugins/source-xdr.la" ]; then
        echo "1..0 # SKIP the xdr source (plugins/source-xdr) is not built"
        exit 0
    fi
    tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-$1.XXXXXX") || exit 1
    trap xdr_cleanup EXIT
    trap 'exit 1' HUP INT TERM
}

xdr_cleanup() {
    [ -n "$spw_pid" ] && kill -KILL "$spw_pid" 2>/dev/null
    # A test may have taken permissions away from a directory under $tmp.
    chmod -R u+rwx "$tmp" 2>/dev/null
    rm -rf "$tmp"
}

# ---------------------------------------------------------------- TAP

pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }

# show: the ends of xdrgen's report and spillway's log, after a failed check;
# a test adds its own lines by defining show_more.
show() {
    echo "# xdrgen:"
    tail -n 12 "$tmp/xg.out" "$tmp/xg.err" 2>/dev/null | sed 's/^/#   /'
    echo "# spillway:"
    tail -n 12 "$tmp/spw.err" 2>/dev/null | sed 's/^/#   /'
    if command -v show_more >/dev/null 2>&1; then show_more; fi
}

# check DESCRIPTION CONDITION: CONDITION is eval'ed (so it reads the variables of the moment).
check() { if eval "$2"; then pass "$1"; else fail "$1"; show; fi; }

# tap_end: the plan from the count, and the test's status.
tap_end() {
    echo "1..$n"
    [ "$failed" -eq 0 ]
}

# ---------------------------------------------------------------- spillway

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# xdr_ini FILE PIPELINE SOURCE CODEC SINK: a pipeline of the xdr source on 127.0.0.1:$port,
# the codec `c` (plugin CODEC) and the sink `out` (with codec = c). PIPELINE, SOURCE and SINK
# are the lines of their sections (SINK starting with `plugin = ...`), newline-separated;
# SOURCE comes after plugin and listen and may be empty.
xdr_ini() {
    {
        printf '[pipeline]\n%s\n\n' "$2"
        printf '[source.xdr]\nplugin = xdr\nlisten = 127.0.0.1:%s\n' "$port"
        [ -n "$3" ] && printf '%s\n' "$3"
        printf '\n[codec.c]\nplugin = %s\n\n' "$4"
        printf '[sink.out]\ncodec = c\n%s\n' "$5"
    } >"$1"
}

# lines ARGS...: its arguments one a line (for xdr_ini's sections).
lines() { [ $# -eq 0 ] || printf '%s\n' "$@"; }

# start_spillway INI [OUT]: spillway in the background ($spw_pid), its log in $tmp/spw.err,
# OUT (default $tmp/out) in its environment for `path = ${env:OUT}`.
start_spillway() {
    # Emptied here: the background job truncates it only once it runs, and wait_running
    # would find the previous run's "running" meanwhile.
    : >"$tmp/spw.err"
    OUT=${2:-$tmp/out} "$SPILLWAY" -c "$1" >/dev/null 2>"$tmp/spw.err" &
    spw_pid=$!
}

# wait_running: until spillway logged that it runs (its sources listen), at most 30 s.
wait_running() {
    i=0
    while [ $i -lt 300 ] && ! grep -q "running" "$tmp/spw.err"; do sleep 0.1; i=$((i + 1)); done
}

# stop_spillway: SIGTERM, then its exit status in $spw_status.
stop_spillway() {
    kill -TERM "$spw_pid" 2>/dev/null
    wait "$spw_pid"
    spw_status=$?
    spw_pid=
}

# stat_of STAGE NAME: the value of NAME in the last stats line of STAGE ("1/1" for a per-worker one).
stat_of() {
    sed -n "s/.*\[stats\] $1: .*\b$2=\([0-9/]*\).*/\1/p" "$tmp/spw.err" | tail -n 1
}

# ---------------------------------------------------------------- xdrgen

# xdrgen ARGS...: runs it against the pipeline (it reconnects until spillway listens); its
# JSON report in $tmp/xg.out, its exit status in $xs and returned.
xdrgen() {
    timeout -k 5 120 "$XDRGEN" -c "127.0.0.1:$port" --reconnect-min 50ms --json "$@" \
        >"$tmp/xg.out" 2>"$tmp/xg.err"
    xs=$?
    return $xs
}

# field NAME: a value from xdrgen's JSON report, NAME a Python subscript ('["acknowledged"]').
field() { "$PY" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(eval("r" + sys.argv[2]))' "$tmp/xg.out" "$1"; }

# all_acked COUNT: xdrgen exited 0 and saw all COUNT records acknowledged.
all_acked() { [ "$xs" -eq 0 ] && [ "$(field '["acknowledged"]')" = "$1" ]; }

# seqs_ok FILE COUNT FORM: every sequence number 0..COUNT-1 is in FILE (testline codec; keys
# key=i:N for FORM i, key=s:key-N for FORM s), every line has such a key, and a write's seq
# bin matches its key.
seqs_ok() {
    awk -v count="$2" -v form="$3" '
    {
        for (i = 2; i <= NF; i++) if ($i ~ /^key=/) k = substr($i, 5)
        if (form == "i" && k ~ /^i:[0-9]+$/) s = substr(k, 3) + 0
        else if (form == "s" && k ~ /^s:key-[0-9]+$/) s = substr(k, 7) + 0
        else { bad++; next }
        if ($1 == "write") for (i = 2; i <= NF; i++) if ($i ~ /^seq=/ && substr($i, 5) + 0 != s) bad++
        seen[s]++
    }
    END {
        for (s = 0; s < count; s++) if (!(s in seen)) { missing++; if (missing < 5) print "# missing " s }
        if (bad) print "# " bad " bad lines"
        exit (missing > 0 || bad > 0)
    }' "$1"
}

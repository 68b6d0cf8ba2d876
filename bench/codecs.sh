#!/bin/sh
# bench/codecs.sh: runs bench/codecs (built by `make bench`) over the
# codec plugins of the build tree. Timings on a shared machine are noise
# beyond their ratios: read them against each other, from one run.
#
# Environment: top_builddir (set by `make bench`); SPW_BENCH_ITERS (200000);
# SPW_BENCH_PROFILE=perf records a profile of the run with perf(1) and
# prints the top of its report (perf must be allowed: perf_event_paranoid
# <= 2 for user-space profiling).
set -eu
: "${top_builddir:?top_builddir must name the build directory}"
prog="$top_builddir/bench/codecs"
iters=${SPW_BENCH_ITERS:-200000}
SPILLWAY_PLUGIN_PATH="$top_builddir/plugins"
export SPILLWAY_PLUGIN_PATH
if [ "${SPW_BENCH_PROFILE:-}" = perf ]; then
    data=$(mktemp "${TMPDIR:-/tmp}/spw-bench-codecs.XXXXXX")
    trap 'rm -f "$data"' EXIT
    "$top_builddir/libtool" --mode=execute perf record -q -g -o "$data" "$prog" -n "$iters" "$@"
    perf report -i "$data" --stdio --no-children --percent-limit 1.5 2>/dev/null | grep -v '^#' | grep -v '^$' | head -60
else
    exec "$prog" -n "$iters" "$@"
fi

#!/bin/sh
# bench/expr.sh: the expr filter's costs, in one run.
#   1. bench/expr: ns per evaluation on a 10-bin record (and instructions
#      per evaluation with callgrind when valgrind is installed: the figure
#      that does not move with the machine's load).
#   2. The same pipeline (generate -> json -> null, one worker) three times,
#      side by side: a route without a filter, the route with an `expr`
#      filter that passes every record (same downstream work), and with
#      `expr` + `lut-order`. CPU seconds (user + sys) of the whole spillway
#      process per record, and the difference: what the filter adds to a
#      route.
# Environment: top_builddir (set by `make bench`); SPW_BENCH_ITERS (2000000);
# SPW_BENCH_RECORDS (1000000); SPW_BENCH_CG_RECORDS (20000, the callgrind runs).
set -eu
: "${top_builddir:?top_builddir must name the build directory}"
iters=${SPW_BENCH_ITERS:-2000000}
records=${SPW_BENCH_RECORDS:-1000000}
SPILLWAY_PLUGIN_PATH="$top_builddir/plugins"
export SPILLWAY_PLUGIN_PATH
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-bench-expr.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

echo "-- evaluation ($iters per run, median of 7)"
"$top_builddir/bench/expr" -n "$iters"
if command -v valgrind >/dev/null 2>&1; then
    echo "-- instructions per evaluation (callgrind, inside ex_eval)"
    for e in 'set == "orders" && bins.amount > 100' 'bins.email.matches("@example\\.com$")'; do
        valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" --toggle-collect=ex_eval \
            "$top_builddir/bench/expr" -n 10000 -e "$e" >/dev/null 2>&1
        total=$(callgrind_annotate "$tmp/cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
        # 1,000 warm-up + 7 x 10,000 timed + 1 evaluation for the outcome
        echo "$e: $((total / 71001)) instructions"
    done
fi

# pipeline NAME FILTER-SECTIONS FILTER-LIST
pipeline() {
    cat >"$tmp/$1.ini" <<INI
[pipeline]
name = bench-$1
workers = 1

[source.gen]
plugin = generate
count = $records
sets = orders, users
bins = 10
bin_types = integer,string,double,bool,blob,list,map

$2

[codec.j]
plugin = json

[sink.n]
plugin = null
codec = j
batch_max_records = 500
$3
INI
    if [ -n "${cg_records:-}" ]; then
        # Two runs, N and 2N records: the difference is the per-record cost without
        # start-up (loading plugins and libraries, compiling the expression).
        for k in 1 2; do
            sed -i "s/^count = .*/count = $((k * cg_records))/" "$tmp/$1.ini"
            "$top_builddir/libtool" --mode=execute valgrind --tool=callgrind \
                --callgrind-out-file="$tmp/$1.cg$k" "$top_builddir/spillway" \
                -c "$tmp/$1.ini" >/dev/null 2>"$tmp/$1.err" || { cat "$tmp/$1.err"; exit 1; }
        done
        t1=$(callgrind_annotate "$tmp/$1.cg1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
        t2=$(callgrind_annotate "$tmp/$1.cg2" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
        echo "$1 $((t2 - t1))" >>"$tmp/cg"
        printf '%-22s %8d instructions/record (whole process, start-up excluded)\n' "$1" \
            $(((t2 - t1) / cg_records))
        return
    fi
    /usr/bin/time -f "%U %S %e" -o "$tmp/$1.time" "$top_builddir/spillway" -c "$tmp/$1.ini" \
        >/dev/null 2>"$tmp/$1.err" || { cat "$tmp/$1.err"; exit 1; }
    read -r user sys wall <"$tmp/$1.time"
    awk -v n="$1" -v u="$user" -v s="$sys" -v w="$wall" -v r="$records" \
        'BEGIN { printf "%-22s %8.1f ns CPU/record  %6.2f s wall  %9.0f records/s\n", n, (u + s) * 1e9 / r, w, r / w }'
    echo "$1 $user $sys" >>"$tmp/all"
}

echo "-- a route with and without a filter ($records records, generate -> json -> null, 1 worker)"
pipeline no-filter "" ""
pipeline expr "[filter.f]
plugin = expr
expr = bins.seq >= 0 && (set == \"orders\" || set == \"users\")" "filters = f"
pipeline expr+lut-order "[filter.f]
plugin = expr
expr = bins.seq >= 0 && (set == \"orders\" || set == \"users\")

[filter.o]
plugin = lut-order" "filters = f, o"
awk -v r="$records" '{ cpu[$1] = ($2 + $3) * 1e9 / r }
    END { printf "filter cost: expr %+.1f ns/record, expr+lut-order %+.1f ns/record (CPU, against no filter)\n",
          cpu["expr"] - cpu["no-filter"], cpu["expr+lut-order"] - cpu["no-filter"] }' "$tmp/all"

if command -v valgrind >/dev/null 2>&1; then
    # The same three pipelines, counted in instructions: stable where CPU time is not.
    cg_records=${SPW_BENCH_CG_RECORDS:-20000}
    echo "-- the same, in instructions ($cg_records records under callgrind)"
    pipeline no-filter "" ""
    pipeline expr "[filter.f]
plugin = expr
expr = bins.seq >= 0 && (set == \"orders\" || set == \"users\")" "filters = f"
    pipeline expr+lut-order "[filter.f]
plugin = expr
expr = bins.seq >= 0 && (set == \"orders\" || set == \"users\")

[filter.o]
plugin = lut-order" "filters = f, o"
    awk -v r="$cg_records" '{ ins[$1] = $2 / r }
        END { printf "filter cost: expr %+.0f instructions/record, expr+lut-order %+.0f (against no filter)\n",
              ins["expr"] - ins["no-filter"], ins["expr+lut-order"] - ins["no-filter"] }' "$tmp/cg"
fi

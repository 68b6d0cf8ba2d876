#!/bin/sh
# tests/e2e-generate-file.sh: whole pipelines from the outside.
#
# source `generate` -> codec `testline` (tests/plugins) -> sink `file`, run
# by the real spillway program until the generator finishes, then the
# output is checked record by record: every sequence number exactly once,
# writes and deletes as configured. Also: --check, --list-plugins, the
# file sink's append/truncate and stdout modes.
#
# Environment (set by the test harness, see Makefile.am): SPILLWAY,
# SPILLWAY_PLUGIN_PATH, top_srcdir, top_builddir. TAP on stdout.

set -u

: "${SPILLWAY:?SPILLWAY must name the spillway program}"
: "${SPILLWAY_PLUGIN_PATH:?SPILLWAY_PLUGIN_PATH must list the plugin directories}"
export SPILLWAY_PLUGIN_PATH

# One run may not take longer than this (the harness has its own, larger, limit).
RUN_TIMEOUT=${SPW_E2E_RUN_TIMEOUT:-60}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-e2e.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

n=0
failed=0
pass() { n=$((n + 1)); echo "ok $n - $1"; }
fail() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
diag() { sed 's/^/# /' "$@"; }

# Shows what spillway said when a step failed.
show_run() {
    if [ -s "$tmp/stderr" ]; then
        echo "# spillway stderr (last 20 lines):"
        tail -n 20 "$tmp/stderr" | diag
    fi
}

# ini FILE WORKERS BATCH COUNT [extra [source.gen] lines...]
# BATCH "-" leaves the route unbatched (no batch_max_records).
ini() {
    f=$1 workers=$2 batch=$3 count=$4
    shift 4
    {
        printf '[pipeline]\nname = e2e\nworkers = %s\n\n' "$workers"
        printf '[source.gen]\nplugin = generate\ncount = %s\n' "$count"
        for line in "$@"; do
            printf '%s\n' "$line"
        done
        printf '\n[codec.lines]\nplugin = testline\n\n'
        # shellcheck disable=SC2016 # ${env:OUT} is spillway's interpolation, not the shell's
        printf '[sink.out]\nplugin = file\ncodec = lines\npath = ${env:OUT}\n'
        if [ "$batch" != "-" ]; then
            printf 'batch_max_records = %s\n' "$batch"
        fi
    } >"$f"
}

# run INI OUTFILE: runs the pipeline to completion; status is spillway's.
run() {
    OUT=$2 timeout -k 5 "$RUN_TIMEOUT" "$SPILLWAY" -c "$1" >"$tmp/stdout" 2>"$tmp/stderr"
}

# verify FILE COUNT KEYFORM [awk -v assignments...]
# Checks that FILE holds exactly one line per sequence number 0..COUNT-1
# (the number is read from the key: KEYFORM "i" for key=i:N, "s" for
# key=s:key-N), that a write's seq bin matches its key, that deletes have
# no bins, and the optional bounds: mindel/maxdel (delete lines),
# durable (required durable= value on deletes), minexp (writes' exp >=).
# Prints diagnostics and the delete count as "# deletes: D".
verify() {
    file=$1 count=$2 keyform=$3
    shift 3
    awk -v count="$count" -v keyform="$keyform" "$@" '
    BEGIN { bad = 0; dels = 0; lines = 0 }
    function complain(msg) { if (bad < 10) print "# " msg; bad++ }
    {
        lines++
        split("", f)
        for (i = 2; i <= NF; i++) {
            eq = index($i, "=")
            if (eq == 0) { complain("line " NR ": no NAME=VALUE: " $i); next }
            f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
        }
        if ($1 != "write" && $1 != "delete") { complain("line " NR ": unknown operation " $1); next }
        k = f["key"]
        if (keyform == "i" && k ~ /^i:[0-9]+$/) s = substr(k, 3) + 0
        else if (keyform == "s" && k ~ /^s:key-[0-9]+$/) s = substr(k, 7) + 0
        else { complain("line " NR ": unexpected key " k); next }
        if (f["digest"] !~ /^[0-9a-f]+$/ || length(f["digest"]) != 40)
            complain("line " NR ": bad digest " f["digest"])
        if (f["gen"] != 1 + s % 100) complain("line " NR ": gen " f["gen"] " for record " s)
        if (f["lut"] + 0 < 1600000000000) complain("line " NR ": implausible lut " f["lut"])
        if ($1 == "delete") {
            dels++
            if (f["bins"] != 0) complain("line " NR ": delete with bins")
            if (durable != "" && f["durable"] != durable) complain("line " NR ": durable=" f["durable"])
            if (f["exp"] != 0) complain("line " NR ": delete with an expiry")
        } else {
            if (f["seq"] != s) complain("line " NR ": seq bin " f["seq"] " under key " k)
            if (minexp != "" && f["exp"] + 0 < minexp + 0) complain("line " NR ": exp " f["exp"])
        }
        seen[s]++
    }
    END {
        for (s = 0; s < count; s++)
            if (seen[s] != 1) complain("record " s " appears " (seen[s] + 0) " times")
        for (s in seen)
            if (s + 0 >= count) complain("record " s " was never asked for")
        if (lines != count) complain(lines " lines, expected " count)
        if (mindel != "" && dels < mindel + 0) complain(dels " deletes, expected >= " mindel)
        if (maxdel != "" && dels > maxdel + 0) complain(dels " deletes, expected <= " maxdel)
        print "# deletes: " dels
        exit (bad > 0)
    }' "$file"
}

# ---------------------------------------------------------------- discovery

if "$SPILLWAY" --list-plugins >"$tmp/list" 2>"$tmp/stderr"; then
    if grep -Eq '^source[[:space:]]+generate([[:space:]]|$)' "$tmp/list" &&
        grep -Eq '^sink[[:space:]]+file([[:space:]]|$)' "$tmp/list"; then
        pass "--list-plugins lists source generate and sink file"
    else
        fail "--list-plugins lists source generate and sink file"
        diag "$tmp/list"
    fi
else
    fail "--list-plugins exits 0"
    show_run
fi

# ---------------------------------------------------------------- --check

ini "$tmp/good.ini" 2 100 20000 "delete_ratio = 0.1"
if OUT="$tmp/unused" "$SPILLWAY" --check -c "$tmp/good.ini" >"$tmp/stdout" 2>"$tmp/stderr"; then
    pass "--check accepts a good pipeline"
else
    fail "--check accepts a good pipeline"
    show_run
fi
if [ -e "$tmp/unused" ]; then
    fail "--check does not open the sink's file"
else
    pass "--check does not open the sink's file"
fi

ini "$tmp/badkey.ini" 2 100 20000 "delete_ratio = 0.1" "colour = blue"
if OUT="$tmp/unused" "$SPILLWAY" --check -c "$tmp/badkey.ini" >"$tmp/stdout" 2>"$tmp/stderr"; then
    fail "--check refuses an unknown key"
elif grep -q colour "$tmp/stderr" "$tmp/stdout"; then
    pass "--check refuses an unknown key and names it"
else
    fail "--check refuses an unknown key and names it"
    show_run
fi

ini "$tmp/badtype.ini" 1 - 10 "bin_types = integer,strnig"
if OUT="$tmp/unused" "$SPILLWAY" --check -c "$tmp/badtype.ini" >"$tmp/stdout" 2>"$tmp/stderr"; then
    fail "--check refuses an unknown bin type"
elif grep -q strnig "$tmp/stderr" "$tmp/stdout"; then
    pass "--check refuses an unknown bin type and names it"
else
    fail "--check refuses an unknown bin type and names it"
    show_run
fi

# ---------------------------------------------------------------- delivery

# 20000 records, 10% deletes, over 1 and 2 workers, batched and not.
for workers in 1 2; do
    for batch in - 100; do
        what="workers=$workers batch_max_records=$batch"
        [ "$batch" = "-" ] && what="workers=$workers unbatched"
        ini "$tmp/run.ini" "$workers" "$batch" 20000 "delete_ratio = 0.1"
        rm -f "$tmp/out"
        if run "$tmp/run.ini" "$tmp/out"; then
            pass "$what: spillway exits 0 once the generator is done"
        else
            fail "$what: spillway exits 0 once the generator is done (status $?)"
            show_run
        fi
        if [ -f "$tmp/out" ] && verify "$tmp/out" 20000 i -v mindel=1500 -v maxdel=2500 \
            -v durable=0; then
            pass "$what: every record delivered exactly once"
        else
            fail "$what: every record delivered exactly once"
        fi
    done
done

# Everything the generator can make: string keys, records without a set,
# every particle type, bin LUTs, TTLs, durable deletes.
ini "$tmp/all.ini" 2 50 500 "delete_ratio = 0.5" "durable_ratio = 1" \
    "key_type = string" "namespaces = test,other" "sets = demo,-" \
    "bins = 12" "bin_types = integer,double,string,blob,bool,hll,list,map,geojson" \
    "value_size = 64" "bin_luts = true" "ttl = 1h" "seed = 7"
rm -f "$tmp/out"
now_s=$(date +%s)
if run "$tmp/all.ini" "$tmp/out" && [ -f "$tmp/out" ] &&
    verify "$tmp/out" 500 s -v durable=1 -v mindel=150 -v maxdel=350 \
        -v minexp=$((now_s + 3500)); then
    pass "every key form, set, bin type and delete kind arrives intact"
else
    fail "every key form, set, bin type and delete kind arrives intact"
    show_run
fi
if [ -f "$tmp/out" ] &&
    grep -q ' ns=other set= ' "$tmp/out" && grep -q ' ns=test set=demo ' "$tmp/out" &&
    ! grep -q ' ns=test set= ' "$tmp/out" && grep -q '^write .* bins=12 ' "$tmp/out"; then
    pass "namespaces and sets follow the record number"
else
    fail "namespaces and sets follow the record number"
fi

# Pacing: a rate-limited run still delivers everything.
ini "$tmp/rate.ini" 2 - 200 "rate = 2000"
rm -f "$tmp/out"
if run "$tmp/rate.ini" "$tmp/out" && [ -f "$tmp/out" ] && verify "$tmp/out" 200 i; then
    pass "rate-limited generation delivers every record"
else
    fail "rate-limited generation delivers every record"
    show_run
fi

# ---------------------------------------------------------------- sink file

# append = false empties the file once, even with two workers.
printf 'left over from before\n' >"$tmp/trunc"
ini "$tmp/trunc.ini" 2 10 300 "delete_ratio = 0.2"
printf 'append = false\n' >>"$tmp/trunc.ini"
if run "$tmp/trunc.ini" "$tmp/trunc" && verify "$tmp/trunc" 300 i; then
    pass "append = false starts from an empty file"
else
    fail "append = false starts from an empty file"
    show_run
fi

# The default appends: a second run doubles every record.
ini "$tmp/append.ini" 2 10 300 "delete_ratio = 0.2"
if run "$tmp/append.ini" "$tmp/trunc" && [ "$(wc -l <"$tmp/trunc")" -eq 600 ] &&
    [ "$(awk '{ print $4 }' "$tmp/trunc" | sort | uniq -c | awk '$1 != 2' | wc -l)" -eq 0 ]; then
    pass "append = true keeps what the file held"
else
    fail "append = true keeps what the file held"
    show_run
fi

# path = - writes to standard output.
ini "$tmp/stdout.ini" 2 7 100
sed 's/^path = .*/path = -/' "$tmp/stdout.ini" >"$tmp/stdout2.ini"
if run "$tmp/stdout2.ini" "$tmp/unused" && verify "$tmp/stdout" 100 i; then
    pass "path = - writes to standard output"
else
    fail "path = - writes to standard output"
    show_run
fi

echo "1..$n"
[ "$failed" -eq 0 ]

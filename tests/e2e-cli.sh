#!/bin/sh
# tests/e2e-cli.sh: the spillway program's command line, exit codes, log
# formats and signal handling, run for real (TAP).
#
# The harness exports SPILLWAY, SPILLWAY_PLUGIN_PATH, top_builddir, PYTHON3.
set -u
: "${SPILLWAY:?run from make check}"
PY=${PYTHON3:-/usr/bin/python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
n=0
fails=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; sed 's/^/#   /' "$tmp/err" 2>/dev/null | head -20; fi; }

# --- flags that do not run a pipeline ---------------------------------------
"$SPILLWAY" --version >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--version exits 0" '[ $rc -eq 0 ]'
check "--version names the ABI" 'grep -q "^spillway .*plugin ABI 1\." "$tmp/out"'

"$SPILLWAY" --help >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--help exits 0 and lists --check" '[ $rc -eq 0 ] && grep -q -- "--check" "$tmp/out"'

"$SPILLWAY" --no-such-flag >"$tmp/out" 2>"$tmp/err"; rc=$?
check "an unknown flag is a usage error (2)" '[ $rc -eq 2 ]'

"$SPILLWAY" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "no arguments is a usage error (2)" '[ $rc -eq 2 ] && grep -q "nothing to do" "$tmp/err"'

"$SPILLWAY" --list-plugins >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--list-plugins exits 0" '[ $rc -eq 0 ]'
check "--list-plugins shows source generate" 'grep -Eq "^source +generate +[0-9]" "$tmp/out"'
check "--list-plugins shows sink file" 'grep -Eq "^sink +file +[0-9]" "$tmp/out"'

"$SPILLWAY" --help-plugin file >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--help-plugin file prints its options" '[ $rc -eq 0 ] && grep -q "path" "$tmp/out" && grep -q "fsync" "$tmp/out"'
"$SPILLWAY" --help-plugin sink-file >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--help-plugin accepts KIND-NAME" '[ $rc -eq 0 ] && grep -q "^sink file" "$tmp/out"'
"$SPILLWAY" --help-plugin nosuch >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--help-plugin of a missing plugin fails" '[ $rc -ne 0 ] && grep -q "nosuch" "$tmp/err"'

# --plugin-dir adds a directory: the test-only plugins are found only through it.
env -u SPILLWAY_PLUGIN_PATH "$SPILLWAY" --plugin-dir "$top_builddir/tests/plugins" --list-plugins >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--plugin-dir adds a search directory" '[ $rc -eq 0 ] && grep -q goodtest "$tmp/out"'
env -u SPILLWAY_PLUGIN_PATH "$SPILLWAY" --list-plugins >"$tmp/out" 2>"$tmp/err"; rc=$?
check "without --plugin-dir that directory is not searched" '! grep -q goodtest "$tmp/out"'

# Run from its build tree, the program finds the plugins built beside it
# (the harness sets SPILLWAY_PLUGIN_DIR empty: nothing installed helps).
env -u SPILLWAY_PLUGIN_PATH "$SPILLWAY" --list-plugins >"$tmp/out" 2>"$tmp/err"; rc=$?
check "uninstalled, the build tree's plugins are found without any setting" '[ $rc -eq 0 ] && grep -q generate "$tmp/out"'

# The installed plugin directory: searched by default, never by the tests.
installed=$("$SPILLWAY" --help | sed -n 's/^Plugins are searched in .*, then //p')
echo "# installed plugin directory: $installed"
"$SPILLWAY" --help-plugin nosuch >"$tmp/out" 2>"$tmp/err"
check "under make check the installed plugin directory is not searched" \
    '[ -n "$installed" ] && grep -q "searched" "$tmp/err" && ! grep -qF "$installed" "$tmp/err"'
env -u SPILLWAY_PLUGIN_DIR "$SPILLWAY" --help-plugin nosuch >"$tmp/out" 2>"$tmp/err"
check "without SPILLWAY_PLUGIN_DIR it is searched" 'grep -qF "$installed" "$tmp/err"'
env -u SPILLWAY_PLUGIN_PATH SPILLWAY_PLUGIN_DIR="$top_builddir/tests/plugins" "$SPILLWAY" --list-plugins >"$tmp/out" 2>"$tmp/err"
check "SPILLWAY_PLUGIN_DIR=DIR searches DIR in its place" 'grep -q goodtest "$tmp/out"'

# --- --check ------------------------------------------------------------------
cat >"$tmp/good.ini" <<'EOF'
[pipeline]
name = cli
[source.gen]
plugin = generate
count = 100
[codec.lines]
plugin = testline
[sink.out]
plugin = file
codec = lines
path = ${env:OUT:-/dev/null}
EOF
"$SPILLWAY" --check -c "$tmp/good.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--check accepts a good pipeline" '[ $rc -eq 0 ] && grep -q "OK" "$tmp/out"'

sed 's/^count = 100$/count = 100\ncolour = blue/' "$tmp/good.ini" >"$tmp/bad.ini"
"$SPILLWAY" --check -c "$tmp/bad.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--check refuses an unknown key (exit 1)" '[ $rc -eq 1 ]'
check "the error names file, line, section and key" 'grep -q "bad.ini:6: \[source.gen\].*colour" "$tmp/err"'

sed 's/^plugin = testline$/plugin = nosuchcodec/' "$tmp/good.ini" >"$tmp/bad2.ini"
"$SPILLWAY" --check -c "$tmp/bad2.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--check refuses a missing plugin, naming it" '[ $rc -eq 1 ] && grep -q "codec.lines.*nosuchcodec" "$tmp/err"'

sed 's/^codec = lines$/codec = nope/' "$tmp/good.ini" >"$tmp/bad3.ini"
"$SPILLWAY" --check -c "$tmp/bad3.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--check refuses a dangling codec reference" '[ $rc -eq 1 ] && grep -q "no section \[codec.nope\]" "$tmp/err"'

printf '[pipeline]\nname = x\n[sink.out]\nplugin = file\ncodec = c\n[codec.c]\nplugin = testline\n' >"$tmp/nosrc.ini"
"$SPILLWAY" --check -c "$tmp/nosrc.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--check refuses a pipeline without a source" '[ $rc -eq 1 ] && grep -q "needs a source" "$tmp/err"'

sed 's/^\[sink.out\]$/[sink.out]\non_reject = dead-letter/' "$tmp/good.ini" >"$tmp/bad4.ini"
"$SPILLWAY" --check -c "$tmp/bad4.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "on_reject = dead-letter without a dead_letter file is refused" '[ $rc -eq 1 ] && grep -q "dead_letter" "$tmp/err"'

"$SPILLWAY" --check -c "$tmp/missing.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "a missing pipeline file is an error naming it" '[ $rc -eq 1 ] && grep -q "missing.ini" "$tmp/err"'

# --- running, JSON logs -----------------------------------------------------
sed 's/^name = cli$/name = cli\nlog_format = json/' "$tmp/good.ini" >"$tmp/json.ini"
OUT="$tmp/json.out" "$SPILLWAY" -c "$tmp/json.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "a finite pipeline exits 0 on its own" '[ $rc -eq 0 ]'
check "it wrote every event" '[ "$(wc -l <"$tmp/json.out")" -eq 100 ]'
check "log_format = json writes only JSON lines" \
    '"$PY" -c "import json,sys; [json.loads(l) for l in open(sys.argv[1])]" "$tmp/err" && [ -s "$tmp/err" ]'

sed 's/^name = cli$/name = cli\nlog_file = ${env:LOGF}/' "$tmp/good.ini" >"$tmp/logfile.ini"
LOGF="$tmp/spillway.log" "$SPILLWAY" -c "$tmp/logfile.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "log_file: the log goes to the file, not to stderr" \
    '[ $rc -eq 0 ] && grep -q "pipeline .cli. running" "$tmp/spillway.log" && ! grep -q running "$tmp/err"'

# --- the embedded demo --------------------------------------------------------
SPILLWAY_DEMO_COUNT=25 "$SPILLWAY" --demo >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--demo runs and exits 0" '[ $rc -eq 0 ]'
check "--demo prints one JSON document per event" \
    '"$PY" -c "import json,sys; d=[json.loads(l) for l in open(sys.argv[1])]; sys.exit(0 if len(d)==25 and {x[\"msg\"] for x in d}=={\"write\",\"delete\"} else 1)" "$tmp/out"'
"$SPILLWAY" --demo -c "$tmp/good.ini" >"$tmp/out" 2>"$tmp/err"; rc=$?
check "--demo with -c is a usage error" '[ $rc -eq 2 ]'

# --- signals ------------------------------------------------------------------
for sig in TERM INT; do
    cat >"$tmp/forever.ini" <<EOF
[pipeline]
name = forever
workers = 2
[source.gen]
plugin = generate
rate = 20000
[codec.lines]
plugin = testline
[sink.out]
plugin = file
codec = lines
path = $tmp/forever.out
batch_max_records = 50
EOF
    rm -f "$tmp/forever.out"
    "$SPILLWAY" -c "$tmp/forever.ini" >"$tmp/out" 2>"$tmp/err" &
    pid=$!
    # Wait until events flow, then stop it.
    i=0
    while [ "$i" -lt 100 ] && [ ! -s "$tmp/forever.out" ]; do sleep 0.1; i=$((i + 1)); done
    kill -"$sig" "$pid"
    wait "$pid"; rc=$?
    check "SIG$sig: exits 0" '[ $rc -eq 0 ]'
    check "SIG$sig: logged the stop" 'grep -q "SIG$sig: stopping" "$tmp/err"'
    check "SIG$sig: output holds only whole lines" '[ -s "$tmp/forever.out" ] && [ "$(tail -c 1 "$tmp/forever.out" | od -An -c | tr -d " ")" = "\\n" ]'
    check "SIG$sig: every submitted event was answered" \
        'grep "pipeline: submitted=" "$tmp/err" | sed -E "s/.*submitted=([0-9]+) answered_ok=([0-9]+) answered_retry=([0-9]+).*/\1 \2 \3/" | { read s o r; [ "$s" -eq $((o + r)) ]; }'
done

# Two signals back to back (as `timeout` sends to the process and its
# group): the second forces the stop while workers may already be gone.
cat >"$tmp/twice.ini" <<EOF
[pipeline]
workers = 2
shutdown_timeout = 300ms
[source.gen]
plugin = generate
rate = 200
[codec.lines]
plugin = testline
[sink.out]
plugin = file
codec = lines
path = /dev/null
EOF
bad=0
for i in 1 2 3 4 5 6 7 8; do
    "$SPILLWAY" -c "$tmp/twice.ini" >/dev/null 2>"$tmp/err" &
    pid=$!
    # Signals must reach the running program, not the build tree's libtool
    # wrapper that starts it: wait for the pipeline to run, then a little.
    for _ in $(seq 100); do grep -q "running (" "$tmp/err" 2>/dev/null && break; sleep 0.05; done
    sleep 0.$((i % 4))
    kill -TERM "$pid"; kill -TERM "$pid"
    wait "$pid" || bad=$((bad + 1))
done
check "two signals at once: exits 0 every time ($bad of 8 failed)" '[ "$bad" -eq 0 ]'

echo "1..$n"
[ "$fails" -eq 0 ]

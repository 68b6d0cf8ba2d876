#!/bin/sh
# tests/e2e-sdk-install.sh: the SDK works as a third party sees it.
#
# Installs the build into a staging root (make install DESTDIR=...), builds
# examples/sdk-sink against the installed headers and spillway-sdk.pc with
# its own plain Makefile, then proves spillway loads the result: it is
# listed, its options are shown, and a pipeline of 1000 generated events
# through it exits 0 with all 1000 counted. Then does the same for
# examples/sdk-http-sink, a webhook sink on the SDK's HTTP client: built
# against the installed spillway/http.h, run against tests/receiver.py,
# which checks its HMAC signature: every record arrives signed, and a wrong
# secret gets every record rejected and dead-lettered.
#
# Needs the environment the test harness exports: top_srcdir, top_builddir,
# SPILLWAY. TAP output.
set -u

: "${top_srcdir:?top_srcdir is not set (run through make check)}"
: "${top_builddir:?top_builddir is not set (run through make check)}"
: "${SPILLWAY:?SPILLWAY is not set (run through make check)}"

EVENTS=1000

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-sdk-test.XXXXXX") || {
    echo "Bail out! cannot create a temporary directory"
    exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
root=$tmp/root

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# check DESCRIPTION COMMAND...: one test point from a command's exit status.
check() {
    d=$1
    shift
    if "$@"; then ok "$d"; else not_ok "$d"; fi
}
# show FILE: a file's content as TAP diagnostics.
show() { sed 's/^/# /' "$1"; }
bail() {
    echo "Bail out! $1"
    exit 1
}

echo "1..16"

# --- 1. make install into the staging root ---------------------------------
# A make of our own, not a job of the `make check` that runs this test.
# Two jobs: this test runs alone, after every other (tests/local.mk), and
# relinking every plugin one by one took a minute of CI's wall time.
unset MAKEFLAGS MFLAGS MAKELEVEL
if make -j2 -C "$top_builddir" install DESTDIR="$root" >"$tmp/install.log" 2>&1; then
    ok "make install DESTDIR=... succeeds"
else
    not_ok "make install DESTDIR=... succeeds"
    tail -n 40 "$tmp/install.log" | show /dev/stdin
    bail "nothing installed, cannot go on"
fi

# --- 2. the installed SDK is complete ---------------------------------------
pc=$(find "$root" -name spillway-sdk.pc -path '*/pkgconfig/*' | head -n 1)
[ -n "$pc" ] || bail "no spillway-sdk.pc was installed"
pcdir=$(dirname "$pc")
# PKG_CONFIG_PATH keeps the system directories (the SDK requires libuv);
# the sysroot maps the installed prefix into the staging root.
PKG_CONFIG_PATH=$pcdir
PKG_CONFIG_SYSROOT_DIR=$root
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

sdk_ok=1
cflags=$(pkg-config --cflags spillway-sdk) || sdk_ok=0
libs=$(pkg-config --libs spillway-sdk) || sdk_ok=0
plugindir=$(pkg-config --variable=plugindir spillway-sdk) || sdk_ok=0
case $plugindir in
"$root"/*) ;;
*) plugindir=$root$plugindir ;;  # a pkg-config that leaves variables alone
esac
incdir=$(pkg-config --variable=includedir spillway-sdk) || sdk_ok=0
case $incdir in
"$root"/*) ;;
*) incdir=$root$incdir ;;
esac
for h in spillway.h abi.h buf.h event.h http.h plugin.h result.h; do
    [ -f "$incdir/spillway/$h" ] || { echo "# missing header spillway/$h"; sdk_ok=0; }
done
echo "# cflags: $cflags"
echo "# libs: $libs"
echo "# plugindir: $plugindir"
check "installed spillway-sdk.pc and headers are usable" test "$sdk_ok" = 1

# --- 3. the built-in plugins are installed where the .pc says ----------------
plugins_ok=1
for m in source-generate sink-file; do
    [ -f "$plugindir/$m.so" ] || { echo "# missing $m.so in the plugin directory"; plugins_ok=0; }
done
check "built-in plugins are installed in plugindir" test "$plugins_ok" = 1

# --- 4. the example builds with its own Makefile ---------------------------
# Built from a copy: the source tree may be read-only (make distcheck).
mkdir "$tmp/example" "$tmp/plugins"
cp "$top_srcdir/examples/sdk-sink/Makefile" "$top_srcdir/examples/sdk-sink/sink-count.c" \
    "$tmp/example/"
if make -C "$tmp/example" CFLAGS="-std=c11 -O2 -g -Wall -Wextra -Werror" \
    >"$tmp/example.log" 2>&1 && [ -f "$tmp/example/sink-count.so" ]; then
    ok "examples/sdk-sink builds against the installed SDK"
    cp "$tmp/example/sink-count.so" "$tmp/plugins/"
else
    not_ok "examples/sdk-sink builds against the installed SDK"
    show "$tmp/example.log"
    bail "the example plugin did not build"
fi

# --- 5. it exports its descriptor and nothing else -------------------------
exported=$(nm -D --defined-only "$tmp/plugins/sink-count.so" | awk '{print $NF}' |
    grep -v -e '^_init$' -e '^_fini$' | tr '\n' ' ')
echo "# exported: $exported"
check "sink-count.so exports only spw_plugin_descriptor" test "$exported" = "spw_plugin_descriptor "

# The example is found through --plugin-dir; the built-in plugins through
# SPILLWAY_PLUGIN_PATH, which the harness points at the build tree.
spw() {
    timeout 60 "$SPILLWAY" --plugin-dir "$tmp/plugins" "$@"
}

# --- 6. --list-plugins lists it ---------------------------------------------
spw --list-plugins >"$tmp/list.out" 2>"$tmp/list.err"
rc=$?
if [ "$rc" -eq 0 ] && grep -Eq '^sink[[:space:]]+count[[:space:]]' "$tmp/list.out"; then
    ok "--list-plugins lists sink count"
else
    not_ok "--list-plugins lists sink count (exit $rc)"
    show "$tmp/list.out"
    show "$tmp/list.err"
fi

# --- 7. --help-plugin shows its option table --------------------------------
spw --help-plugin count >"$tmp/help.out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q 'every' "$tmp/help.out" && grep -q 'report_interval' "$tmp/help.out"; then
    ok "--help-plugin count shows its options"
else
    not_ok "--help-plugin count shows its options (exit $rc)"
    show "$tmp/help.out"
fi

# --- 8./9. a pipeline through it --------------------------------------------
# Any codec does; prefer the test codec, then json.
codec=
for c in testline json; do
    if grep -Eq "^codec[[:space:]]+${c}[[:space:]]" "$tmp/list.out"; then
        codec=$c
        break
    fi
done
[ -n "$codec" ] || codec=json
cat >"$tmp/count.ini" <<EOF
[pipeline]
name = sdk-install-test
workers = 1

[source.gen]
plugin = generate
count = $EVENTS

[codec.enc]
plugin = $codec

[sink.count]
plugin = count
codec = enc
every = 250
EOF
echo "# codec: $codec"

spw --check -c "$tmp/count.ini" >"$tmp/check.out" 2>&1
rc=$?
if [ "$rc" -eq 0 ]; then
    ok "--check accepts a pipeline using the example sink"
else
    not_ok "--check accepts a pipeline using the example sink (exit $rc)"
    show "$tmp/check.out"
fi

spw -c "$tmp/count.ini" >"$tmp/run.out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q "total: $EVENTS events" "$tmp/run.out"; then
    ok "a pipeline of $EVENTS generated events through sink-count exits 0 and counts $EVENTS"
else
    not_ok "a pipeline of $EVENTS generated events through sink-count exits 0 and counts $EVENTS (exit $rc)"
    tail -n 60 "$tmp/run.out" | show /dev/stdin
fi

# --- 10. the core enforces the example's option table ------------------------
sed 's/^every = 250$/every = -1/' "$tmp/count.ini" >"$tmp/bad.ini"
spw --check -c "$tmp/bad.ini" >"$tmp/bad.out" 2>&1
rc=$?
if [ "$rc" -eq 1 ] && grep -q "bad.ini:[0-9]*: \[sink.count\] key 'every'" "$tmp/bad.out"; then
    ok "an out-of-bounds option of the example is refused, naming file, line, section and key"
else
    not_ok "an out-of-bounds option of the example is refused, naming file, line, section and key (exit $rc)"
    show "$tmp/bad.out"
fi

# --- 11. the HTTP example builds against the installed spillway/http.h ---------
mkdir "$tmp/hexample"
cp "$top_srcdir/examples/sdk-http-sink/Makefile" "$top_srcdir/examples/sdk-http-sink/sink-webhook.c" \
    "$tmp/hexample/"
if make -C "$tmp/hexample" CFLAGS="-std=c11 -O2 -g -Wall -Wextra -Werror" \
    >"$tmp/hexample.log" 2>&1 && [ -f "$tmp/hexample/sink-webhook.so" ]; then
    ok "examples/sdk-http-sink builds against the installed SDK"
    cp "$tmp/hexample/sink-webhook.so" "$tmp/plugins/"
else
    not_ok "examples/sdk-http-sink builds against the installed SDK"
    show "$tmp/hexample.log"
fi
lines=$(grep -cv '^[[:space:]]*$' "$top_srcdir/examples/sdk-http-sink/sink-webhook.c")
check "sink-webhook.c is under 200 lines ($lines)" test "$lines" -lt 200

# --- 12.-15. it delivers, signed, to a receiver that checks the signature --------
"${PYTHON3:-python3}" "$top_srcdir/tests/receiver.py" --port 0 --port-file "$tmp/recv.port" \
    --log "$tmp/recv.log" --hmac-sha256 "X-Spillway-Signature-256:s3cret" >"$tmp/recv.err" 2>&1 &
recv=$!
trap 'kill $recv 2>/dev/null; rm -rf "$tmp"' EXIT
i=0
while [ ! -s "$tmp/recv.port" ] && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
port=$(cat "$tmp/recv.port" 2>/dev/null)
webhook_ini() { # SECRET DLQ
    cat <<EOF
[pipeline]
name = sdk-webhook-test
workers = 1
dead_letter = $2

[source.gen]
plugin = generate
count = $EVENTS

[codec.docs]
plugin = json
batch_format = ndjson

[sink.hook]
plugin = webhook
codec = docs
batch_max_records = 100
url = http://127.0.0.1:$port/hooks
secret = $1
compression = gzip
EOF
}
webhook_ini s3cret "$tmp/good.dlq" >"$tmp/webhook.ini"
spw --help-plugin webhook >"$tmp/whelp.out" 2>&1
check "--help-plugin webhook shows its options and the HTTP client's" \
    sh -c "grep -q signature_header '$tmp/whelp.out' && grep -q connect_timeout '$tmp/whelp.out'"
spw -c "$tmp/webhook.ini" >"$tmp/wrun.out" 2>&1
rc=$?
signed=$(grep -c '"status": 200' "$tmp/recv.log" 2>/dev/null)
if [ "$rc" -eq 0 ] && [ "${signed:-0}" -eq $((EVENTS / 100)) ] && [ ! -s "$tmp/good.dlq" ]; then
    ok "$EVENTS records through the webhook sink arrive signed ($signed requests accepted)"
else
    not_ok "$EVENTS records through the webhook sink arrive signed (exit $rc, $signed requests accepted)"
    tail -n 30 "$tmp/wrun.out" | show /dev/stdin
fi
webhook_ini wrong "$tmp/bad.dlq" >"$tmp/webhook-bad.ini"
spw -c "$tmp/webhook-bad.ini" >"$tmp/wbad.out" 2>&1
rc=$?
dl=$(wc -l <"$tmp/bad.dlq" 2>/dev/null || echo 0)
if [ "$rc" -eq 0 ] && [ "$dl" -eq "$EVENTS" ] && grep -q "HTTP 401" "$tmp/bad.dlq"; then
    ok "a wrong secret: every record rejected with the receiver's 401 and dead-lettered"
else
    not_ok "a wrong secret: every record rejected with the receiver's 401 and dead-lettered (exit $rc, $dl lines)"
    tail -n 30 "$tmp/wbad.out" | show /dev/stdin
fi
exported=$(nm -D --defined-only "$tmp/plugins/sink-webhook.so" | awk '{print $NF}' |
    grep -v -e '^_init$' -e '^_fini$' | tr '\n' ' ')
check "sink-webhook.so exports only spw_plugin_descriptor" test "$exported" = "spw_plugin_descriptor "
kill $recv 2>/dev/null

[ "$failed" -eq 0 ]

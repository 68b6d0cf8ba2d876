#!/bin/sh
# tests/exports.sh: what libspillway.so exports, and one core per process.
#
# 1. The shared library exports the SDK and one private door, nothing else:
#    every dynamic symbol it defines is an spw_ name (spw_ then a lowercase
#    letter) declared SPW_API in sdk/spillway/*.h, or spw__private (the
#    table in core/private.h). No spw__ internal, nothing from a library
#    linked in. And every function the SDK declares is exported.
# 2. The programs that load plugins (spillway, test-loader, test-dlopen-all)
#    carry no copy of the core: they define no spw_ function and link
#    libspillway.so.
# 3. At run time, every SDK call of the plugins the program loads binds to
#    the same libspillway.so the program reached spw__private in (the
#    dynamic linker's own account, LD_DEBUG=bindings, with LD_BIND_NOW so
#    every reference binds at load).
#
# Needs the environment the test harness exports: top_srcdir, top_builddir,
# SPILLWAY. Uses nm, readelf (binutils) and glibc's LD_DEBUG. TAP output.
set -u
: "${top_srcdir:?top_srcdir is not set (run through make check)}"
: "${top_builddir:?top_builddir is not set (run through make check)}"
: "${SPILLWAY:?SPILLWAY is not set (run through make check)}"

lib=$top_builddir/.libs/libspillway.so
libtool=$top_builddir/libtool
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-exports.XXXXXX") || {
    echo "Bail out! cannot create a temporary directory"
    exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
# show FILE: a file's content as TAP diagnostics.
show() { sed 's/^/# /' "$1"; }
# verdict DESCRIPTION FILE: passes when FILE (the offenders) is empty, else lists them.
verdict() {
    if [ -s "$2" ]; then
        not_ok "$1"
        show "$2"
    else
        ok "$1"
    fi
}

for tool in nm readelf; do
    command -v "$tool" >/dev/null 2>&1 || { echo "1..0 # SKIP $tool (binutils) is not installed"; exit 0; }
done
[ -f "$lib" ] || { echo "Bail out! $lib is missing (run through make check)"; exit 1; }

echo "1..12"

# --- 1. the shared library's exports -------------------------------------------
nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' | sort -u >"$tmp/exported"
echo "# $(wc -l <"$tmp/exported") symbols exported by $lib"
# The SDK: every name declared SPW_API at the start of a line of an installed
# header (spw_plugin_descriptor, which plugins define, is declared inside a macro).
sed -n 's/^SPW_API [^(]*[ *]\(spw_[a-z][a-z0-9_]*\)(.*/\1/p' "$top_srcdir"/sdk/spillway/*.h |
    sort -u >"$tmp/sdk"
echo "# $(wc -l <"$tmp/sdk") functions declared by sdk/spillway/*.h"
[ -s "$tmp/sdk" ] || echo "Bail out! no SPW_API declaration found in sdk/spillway/*.h"

grep -v -e '^spw_[a-z]' -e '^spw__private$' "$tmp/exported" >"$tmp/bad"
verdict "libspillway.so exports only spw_[a-z]* names and spw__private" "$tmp/bad"

grep '^spw__' "$tmp/exported" | grep -v '^spw__private$' >"$tmp/bad"
verdict "  ... no spw__ internal" "$tmp/bad"

grep '^spw_[a-z]' "$tmp/exported" | comm -23 - "$tmp/sdk" >"$tmp/bad"
verdict "  ... every spw_ name it exports is declared by the SDK headers" "$tmp/bad"

comm -23 "$tmp/sdk" "$tmp/exported" >"$tmp/bad"
verdict "  ... and every function the SDK declares is exported" "$tmp/bad"

grep -x 'spw__private' "$tmp/exported" >/dev/null && ok "  ... spw__private, the program's door, is exported" ||
    not_ok "  ... spw__private, the program's door, is exported"

# The SONAME follows the SDK's ABI major (configure.ac's SPW_LT_VERSION,
# current - age): a plugin built for ABI N needs libspillway.so.N, which
# the Debian package libspillwayN ships.
major=$(sed -n 's/^#define SPW_ABI_MAJOR \([0-9]*\)$/\1/p' "$top_srcdir/sdk/spillway/abi.h")
soname=$(readelf -d "$lib" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
[ -n "$major" ] && [ "$soname" = "libspillway.so.$major" ] &&
    ok "  ... its SONAME, $soname, follows the ABI major ($major)" ||
    not_ok "  ... its SONAME ($soname) is libspillway.so.$major, after the ABI major"

# --- 2. programs that load plugins hold no core of their own -------------------
# The real ELF file behind a libtool wrapper script.
real_program() {
    "$libtool" --mode=execute echo "$1" 2>/dev/null | tail -n 1
}
for prog in "$SPILLWAY" "$top_builddir/tests/unit/test-loader" "$top_builddir/tests/unit/test-dlopen-all"; do
    name=${prog#"$top_builddir"/}
    real=$(real_program "$prog")
    if [ -z "$real" ] || [ ! -f "$real" ]; then
        not_ok "$name: found its executable"
        continue
    fi
    # Every symbol it defines, dynamic or not: an spw_ function here would be
    # a copy of the core, beside the one in libspillway.so.
    nm --defined-only "$real" 2>/dev/null | awk '$2 ~ /^[TtDdBbRr]$/ && $3 ~ /^spw_[a-z]/ { print $3 }' >"$tmp/bad"
    if readelf -d "$real" | grep -q 'NEEDED.*\[libspillway\.so'; then :; else
        echo "does not link libspillway.so" >>"$tmp/bad"
    fi
    verdict "$name links libspillway.so and defines no spw_ function of its own" "$tmp/bad"
done

# --- 3. at run time: one libspillway.so, shared by the program and its plugins --
cat >"$tmp/p.ini" <<'EOF'
[pipeline]
name = exports
[source.gen]
plugin = generate
count = 3
[codec.enc]
plugin = json
[sink.out]
plugin = file
codec = enc
path = /dev/null
EOF
"$libtool" --mode=execute env LD_BIND_NOW=1 LD_DEBUG=bindings "$SPILLWAY" -c "$tmp/p.ini" \
    >"$tmp/run.out" 2>"$tmp/run.err"
rc=$?
[ "$rc" -eq 0 ] && ok "spillway runs generate -> json -> file" || {
    not_ok "spillway runs generate -> json -> file (exit $rc)"
    grep -v 'binding file\|symbol=\|lookup in file' "$tmp/run.err" | tail -n 20 | show /dev/stdin
}
# "binding file FROM [0] to TO [0]: normal symbol `NAME'" (maybe " [VERSION]")
sed -n "s/^ *[0-9]*:[[:space:]]*binding file \(.*\) \[[0-9]*\] to \(.*\) \[[0-9]*\]: [a-z]* symbol \`\(spw_[^']*\)'.*/\1|\2|\3/p" \
    "$tmp/run.err" | grep -v '|spw_plugin_descriptor$' >"$tmp/bindings"
core=$(awk -F'|' '$3 == "spw__private" { print $2 }' "$tmp/bindings" | sort -u)
echo "# the program's spw__private binds to: ${core:-nothing}"
awk -F'|' '$1 ~ /\/plugins\/\.libs\/[^/]*\.so$/' "$tmp/bindings" >"$tmp/plugin-bindings"
echo "# $(wc -l <"$tmp/plugin-bindings") SDK references of the loaded plugins bound"
if [ -n "$core" ] && [ "$(echo "$core" | wc -l)" -eq 1 ] && [ -s "$tmp/plugin-bindings" ]; then
    ok "the program reaches the core in one libspillway.so"
else
    not_ok "the program reaches the core in one libspillway.so"
    head -n 20 "$tmp/bindings" | show /dev/stdin
fi
awk -F'|' -v core="$core" '$2 != core { print $1 " -> " $2 ": " $3 }' "$tmp/bindings" | sort -u >"$tmp/bad"
verdict "  ... and every SDK call of the program and its plugins binds to that same library" "$tmp/bad"

[ "$failed" -eq 0 ]

#!/bin/sh
# tests/e2e-man.sh: the man pages `make` wrote (man/local.mk, tools/gen-man)
# cover every shipped plugin and every core option, and render without a
# single groff warning (what `man` would show as garbage or drop).
#
# Needs the environment the test harness exports: top_srcdir, top_builddir,
# SPILLWAY. TAP output.
set -u
: "${top_builddir:?top_builddir is not set (run through make check)}"
: "${SPILLWAY:?SPILLWAY is not set (run through make check)}"
mandir=$top_builddir/man
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-man.XXXXXX") || { echo "Bail out! no temporary directory"; exit 1; }
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
show() { sed 's/^/# /' "$1"; }

command -v groff >/dev/null 2>&1 || { echo "1..0 # SKIP groff is not installed"; exit 0; }
echo "1..5"

# 1. One page per shipped plugin, and none for a plugin that is not shipped.
SPILLWAY_PLUGIN_PATH=$top_builddir/plugins "$SPILLWAY" --list-plugins 2>/dev/null |
    awk '{ print "spillway-" $1 "-" $2 ".5" }' | sort >"$tmp/want"
(cd "$mandir" && ls spillway-*-*.5 2>/dev/null | grep -v '^spillway-xdrgen' | sort) >"$tmp/have"
if [ -s "$tmp/want" ] && cmp -s "$tmp/want" "$tmp/have"; then
    ok "one spillway-KIND-NAME(5) page per shipped plugin ($(wc -l <"$tmp/want"))"
else
    not_ok "one spillway-KIND-NAME(5) page per shipped plugin"
    diff "$tmp/want" "$tmp/have" | show /dev/stdin
fi

# 2. Every page renders with no warning at all (-ww: every warning class).
: >"$tmp/bad"
for page in "$mandir"/*.[15]; do
    LC_ALL=C.UTF-8 groff -ww -z -man -Tutf8 "$page" >"$tmp/warn" 2>&1
    if [ -s "$tmp/warn" ]; then
        echo "${page##*/}:" >>"$tmp/bad"
        head -n 5 "$tmp/warn" >>"$tmp/bad"
    fi
done
if [ -s "$tmp/bad" ]; then
    not_ok "every page renders without a groff warning"
    show "$tmp/bad"
else
    ok "every page renders without a groff warning ($(ls "$mandir"/*.[15] | wc -l) pages)"
fi

# render PAGE: the page as a reader sees it, plain text.
render() { LC_ALL=C.UTF-8 groff -man -Tutf8 -P -cbou "$1" 2>/dev/null | sed 's/‐/-/g'; }

# 3. spillway.ini(5) names every core option ([pipeline] and route).
render "$mandir/spillway.ini.5" >"$tmp/ini.txt"
"$SPILLWAY" --help-core | sed -n 's/^  \([a-z_]*\) (.*/\1/p' | sort -u >"$tmp/core-opts"
: >"$tmp/bad"
while read -r opt; do
    grep -Eq "^ *$opt +\(" "$tmp/ini.txt" || echo "$opt" >>"$tmp/bad"
done <"$tmp/core-opts"
if [ -s "$tmp/core-opts" ] && [ ! -s "$tmp/bad" ]; then
    ok "spillway.ini(5) describes every core option ($(wc -l <"$tmp/core-opts"))"
else
    not_ok "spillway.ini(5) describes every core option; missing:"
    show "$tmp/bad"
fi

# 4. A plugin page holds every option of its table, with its help text.
render "$mandir/spillway-sink-http.5" >"$tmp/http.txt"
SPILLWAY_PLUGIN_PATH=$top_builddir/plugins "$SPILLWAY" --help-plugin sink-http |
    sed -n 's/^  \([a-z_0-9]*\) (.*/\1/p' >"$tmp/http-opts"
: >"$tmp/bad"
while read -r opt; do
    grep -Eq "^ *$opt +\(" "$tmp/http.txt" || echo "$opt" >>"$tmp/bad"
done <"$tmp/http-opts"
if [ -s "$tmp/http-opts" ] && [ ! -s "$tmp/bad" ] && grep -q "Destination URL" "$tmp/http.txt"; then
    ok "spillway-sink-http(5) lists all $(wc -l <"$tmp/http-opts") options of the table with their help"
else
    not_ok "spillway-sink-http(5) lists every option of the table; missing:"
    show "$tmp/bad"
fi

# 5. The generated option list of spillway(1) and spillway-xdrgen(1) follows --help.
render "$mandir/spillway-xdrgen.1" >"$tmp/xdrgen.txt"
render "$mandir/spillway.1" >"$tmp/spillway.txt"
: >"$tmp/bad"
for o in --connect --connections --count --tls-ca --json; do
    grep -q -- "$o" "$tmp/xdrgen.txt" || echo "spillway-xdrgen(1): $o" >>"$tmp/bad"
done
for o in --config --check --help-plugin --plugin-dir --log-level; do
    grep -q -- "$o" "$tmp/spillway.txt" || echo "spillway(1): $o" >>"$tmp/bad"
done
if [ -s "$tmp/bad" ]; then
    not_ok "spillway(1) and spillway-xdrgen(1) list the programs' options"
    show "$tmp/bad"
else
    ok "spillway(1) and spillway-xdrgen(1) list the programs' options"
fi

[ "$failed" -eq 0 ]

#!/bin/sh
# tests/e2e-docs.sh: doc/options.md must be what the option tables say
# (regenerate with tools/gen-option-doc BUILDDIR > doc/options.md).
set -u
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if sh "$top_srcdir/tools/gen-option-doc" "$top_builddir" >"$tmp/options.md" 2>"$tmp/err" &&
    diff -u "$top_srcdir/doc/options.md" "$tmp/options.md" >"$tmp/diff"; then
    echo "ok 1 - doc/options.md matches the option tables"
else
    echo "not ok 1 - doc/options.md is out of date: run tools/gen-option-doc BUILDDIR > doc/options.md"
    sed 's/^/#   /' "$tmp/err" "$tmp/diff" | head -40
fi
echo "1..1"

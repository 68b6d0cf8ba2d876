#!/bin/sh
# tests/e2e-demo.sh: the README's `make demo` (tools/demo) works, and leaves
# nothing behind: not in the directory it is started from, not in its
# temporary directory, not in the source tree.
#
# Needs the environment the test harness exports: top_srcdir, top_builddir.
# TAP output.
set -u
: "${top_srcdir:?top_srcdir is not set (run through make check)}"
: "${top_builddir:?top_builddir is not set (run through make check)}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/spw-demo-test.XXXXXX") || {
    echo "Bail out! cannot create a temporary directory"
    exit 1
}
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
mkdir "$tmp/cwd" "$tmp/tmpdir"

n=0
failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
show() { sed 's/^/# /' "$1"; }

echo "1..4"

# The source tree as it was: every file's path and modification time, in
# the directories the distribution ships (build directories are elsewhere,
# or, in an in-tree build, hold test output that changes meanwhile).
src_state() {
    (cd "$top_srcdir" && find README.md examples tools doc sdk core plugins tests \
        -path tests/unit -prune -o ! -name '*.log' ! -name '*.trs' ! -name '*.o' \
        ! -name '*.lo' ! -name '*.la' ! -name '.dirstamp' ! -path '*/.deps*' ! -path '*/.libs*' \
        -printf '%p %T@\n' 2>/dev/null | sort)
}
src_state >"$tmp/src.before"

# Started from an empty directory, with its temporary files in another one.
(cd "$tmp/cwd" && TMPDIR=$tmp/tmpdir DEMO_COUNT=20 top_srcdir=$top_srcdir \
    top_builddir=$top_builddir timeout 120 sh "$top_srcdir/tools/demo") >"$tmp/out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q "requests: 20;" "$tmp/out"; then
    ok "the demo delivers 20 change notifications and exits 0"
else
    not_ok "the demo delivers 20 change notifications and exits 0 (exit $rc)"
    tail -n 30 "$tmp/out" | show /dev/stdin
fi

left=$(ls -A "$tmp/cwd")
[ -z "$left" ] && ok "nothing is left in the directory it ran from" ||
    not_ok "nothing is left in the directory it ran from: $left"

left=$(ls -A "$tmp/tmpdir")
[ -z "$left" ] && ok "its temporary directory is removed" ||
    not_ok "its temporary directory is removed: $left"

src_state >"$tmp/src.after"
if cmp -s "$tmp/src.before" "$tmp/src.after"; then
    ok "the source tree is unchanged"
else
    not_ok "the source tree is unchanged"
    diff "$tmp/src.before" "$tmp/src.after" | head -n 20 | show /dev/stdin
fi

[ "$failed" -eq 0 ]

#!/bin/sh
# tests/e2e-examples.sh: every examples/*.ini passes `spillway --check` in
# an environment holding only the variables it requires, and follows the
# examples' conventions: the dead-letter file from SPILLWAY_DEAD_LETTER and
# the admin endpoint from SPILLWAY_ADMIN, each with a default.
#
# An example declares what it cannot run without in its header comment, one
# line per variable, with a value good enough for --check:
#   # requires: SPILLWAY_GCF_URL=https://region-project.cloudfunctions.net/fn
set -u
: "${top_srcdir:?}" "${SPILLWAY:?}"
n=0
fail=0
ok() {
    n=$((n + 1))
    if [ "$1" -eq 0 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; fail=1; fi
}
for ini in "$top_srcdir"/examples/*.ini; do
    name=${ini#"$top_srcdir"/}
    vars=$(sed -n 's/^#[[:space:]]*requires:[[:space:]]*\([A-Z_][A-Z0-9_]*=.*\)$/\1/p' "$ini")
    # A clean environment: only PATH, the plugin path, and what the example requires.
    out=$(eval "env -i PATH=\"\$PATH\" SPILLWAY_PLUGIN_PATH=\"\${SPILLWAY_PLUGIN_PATH:-}\" \
        SPILLWAY_PLUGIN_DIR=\"\${SPILLWAY_PLUGIN_DIR:-}\" $(printf '%s\n' "$vars" | sed "s/=\(.*\)/='\1'/" | tr '\n' ' ') \
        \"\$SPILLWAY\" --check -c \"\$ini\"" 2>&1)
    rc=$?
    ok $rc "$name: spillway --check accepts it with only its required variables${vars:+ ($(printf '%s' "$vars" | sed 's/=.*//' | tr '\n' ' '))}"
    [ $rc -eq 0 ] || printf '%s\n' "$out" | sed 's/^/#   /' | head -20
    grep -Eq '^dead_letter = \$\{env:SPILLWAY_DEAD_LETTER:-[^}]+\}' "$ini"
    ok $? "$name: dead_letter = \${env:SPILLWAY_DEAD_LETTER:-...}"
    grep -Eq '^admin = \$\{env:SPILLWAY_ADMIN:-[^}]+\}' "$ini"
    ok $? "$name: admin = \${env:SPILLWAY_ADMIN:-...}"
done
echo "1..$n"
exit $fail

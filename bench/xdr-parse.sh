#!/bin/sh
# bench/xdr-parse.sh: runs bench/xdr-parse, the cost of turning one XDR
# frame into an event (ns per record, see bench/xdr-parse.c). `make bench`.
# Environment: top_builddir (required), XDR_PARSE_ITERS (records per round,
# default 2000000), XDR_PARSE_ROUNDS (default 5).
set -u
: "${top_builddir:?top_builddir must name the build directory}"
exec "$top_builddir/bench/xdr-parse" "${XDR_PARSE_ITERS:-2000000}" "${XDR_PARSE_ROUNDS:-5}"

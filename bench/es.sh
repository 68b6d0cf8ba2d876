#!/bin/sh
# bench/es.sh: the elasticsearch sink's benchmark (see bench/es-bench.py).
# Run by `make bench`, which sets top_srcdir and top_builddir;
# SPW_BENCH_SCALE=0.1 makes a quick run.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir
exec /usr/bin/python3 "$top_srcdir/bench/es-bench.py"

#!/bin/sh
# bench/aws.sh: the AWS sinks against their fakes, beside the http sink
# (see bench/aws-bench.py and bench/README.md). Run by `make bench`, which
# sets top_srcdir and top_builddir; SPW_BENCH_SCALE=0.1 makes a quick run.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir
exec "${PYTHON3:-python3}" "$top_srcdir/bench/aws-bench.py"

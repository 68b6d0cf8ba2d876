#!/bin/sh
# bench/splunk-hec.sh: the splunk-hec sink with acks on and off beside the
# http sink, to the same fake HEC (see bench/splunk-hec-bench.py). Run by
# `make bench`; SPW_BENCH_SCALE=0.1 makes a quick run.
set -eu
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$(pwd)}"
export top_srcdir top_builddir
exec "${PYTHON3:-python3}" "$top_srcdir/bench/splunk-hec-bench.py"

# The elasticsearch sink's benchmark: bulk requests into nginx answering a
# canned bulk answer and into the fake cluster, beside the http sink on the
# same records, in one run. Needs nginx with the echo module. `make bench`.
SPW_BENCH_RUN += bench/es.sh
EXTRA_DIST += bench/es.sh bench/es-bench.py

# The http sink's benchmark: batched NDJSON to nginx (records/s, CPU per
# record), one record per request beside h2load, peak RSS against a stalled
# destination. Needs nginx, h2load and openssl. `make bench`.
SPW_BENCH_RUN += bench/http.sh
EXTRA_DIST += bench/http.sh bench/http-bench.py bench/README.md

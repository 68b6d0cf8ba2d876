# What a tap (GET /tap, spillway tap) costs the pipeline: no tap, a reading
# client and a client that never reads, side by side (bench/tap.sh).
SPW_BENCH_RUN += bench/tap.sh
EXTRA_DIST += bench/tap.sh

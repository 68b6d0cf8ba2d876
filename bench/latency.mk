# Acknowledgement latency at a fixed rate (spillway-xdrgen --rate), one
# record per request: null sink beside the http sink to a local nginx, and
# optionally (LAT_CASES=... trace, root) the time split per stage from the
# loopback interface. `make bench`.
SPW_BENCH_RUN += bench/latency.sh
EXTRA_DIST += bench/latency.sh bench/latency-trace.py

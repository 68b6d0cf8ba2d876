# Acknowledgement latency at a fixed rate (spillway-xdrgen --rate), one
# record per request: null sink beside the http sink to a local nginx, and
# optionally (LAT_CASES=... trace, root) the time split per stage from the
# loopback interface. `make bench`.
SPW_BENCH_RUN += bench/latency.sh
EXTRA_DIST += bench/latency.sh bench/latency-trace.py

# The connector batched end to end: xdrgen flat out -> xdr source -> json or
# xdr codec -> http sink, 500 records per request, HTTP/1.1 to nginx;
# records/s and spillway's CPU per record.
SPW_BENCH_RUN += bench/xdr-http.sh
EXTRA_DIST += bench/xdr-http.sh

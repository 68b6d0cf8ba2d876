# The splunk-hec sink's benchmark: acks on and off beside the http sink,
# to the same fake HEC (tests/hec-fake.py). `make bench`.
SPW_BENCH_RUN += bench/splunk-hec.sh
EXTRA_DIST += bench/splunk-hec.sh bench/splunk-hec-bench.py

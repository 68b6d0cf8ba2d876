# The AWS sinks (lambda-alb, lambda, sqs) against their Python fakes beside
# the http sink against tests/receiver.py: records/s and CPU per record.
SPW_BENCH_RUN += bench/aws.sh
EXTRA_DIST += bench/aws.sh bench/aws-bench.py

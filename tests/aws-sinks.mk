# The AWS sinks (lambda-alb, sqs, lambda) against the faithful fakes of
# tests/aws-fakes.py: each sink's rules, zero loss from spillway-xdrgen,
# and the example pipelines checked.
AWS_SINK_TESTS = tests/aws-lambda-alb.py tests/aws-sqs.py tests/aws-lambda.py
TESTS += $(AWS_SINK_TESTS)
dist_noinst_SCRIPTS += $(AWS_SINK_TESTS)
dist_noinst_DATA += examples/lambda/handler.py

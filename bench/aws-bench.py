#!/usr/bin/python3
"""bench/aws-bench.py: the AWS sinks against their fakes (tests/aws-fakes.py),
beside the http sink against tests/receiver.py, in one run: records/s and
spillway's CPU per record (user + system of the finished process, getrusage,
over the records; generator and json codec included). The fakes are Python
servers and bound the rate: the CPU per record is the figure that compares
sinks. SPW_BENCH_SCALE scales the record count (default 1: 20,000)."""

import importlib.util
import os
import resource
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("awslib", os.path.join(HERE, "..", "tests", "aws-test-lib.py"))
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)
H = A.H

N = int(20000 * float(os.environ.get("SPW_BENCH_SCALE", "1")))
os.environ.setdefault("SPILLWAY_PLUGIN_PATH", os.path.join(H.BUILDDIR, "plugins"))


def measure(name, ini, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([H.SPILLWAY, "-c", ini], capture_output=True, text=True, env=env, timeout=600)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ok = p.returncode == 0 and "delivered=%d " % N in p.stderr
    print("%-34s %8.0f records/s %7.1f us CPU/record %s" % (name, N / wall, cpu / N * 1e6,
                                                          "" if ok else "(FAILED: %s)" % p.stderr[-300:]))
    sys.stdout.flush()


base = ["batch_max_records = 100", "batch_max_delay = 5ms"]
envc = A.env(AWS_ACCESS_KEY_ID="AKIAFAKEEXAMPLE00001", AWS_SECRET_ACCESS_KEY=A.SECRET)

rcv = H.Receiver("bench-rcv")
measure("http (receiver.py), batches of 100",
        A.sink_ini("b-http.ini", "http", ["url = %s/in" % rcv.url] + base, count=N),
        dict(os.environ))
rcv.stop()

alb = A.Fake("bench-alb", "alb", "--path", "/in")
measure("lambda-alb (ALB fake), batches of 100",
        A.sink_ini("b-alb.ini", "lambda-alb", ["url = %s/in" % alb.url] + base, count=N), dict(os.environ))
alb.stop()

lam = A.Fake("bench-lambda", "lambda", "--akid", "AKIAFAKEEXAMPLE00001")
measure("lambda (Invoke fake), batches of 100",
        A.sink_ini("b-lam.ini", "lambda", ["function = spillway", "auth = aws-sigv4", "aws_region = %s" % A.REGION,
                                           "aws_service = lambda", "url = %s" % lam.url] + base, count=N),
        dict(envc))
lam.stop()

sqs = A.Fake("bench-sqs", "sqs", "--queue", "spillway", "--akid", "AKIAFAKEEXAMPLE00001")
for label, lines in (("sqs (fake), url set: native HTTP/1.1", ["url = %s" % sqs.url]),
                     ("sqs (fake), endpoint from env: libcurl", [])):
    e = dict(envc)
    if not lines:
        e["AWS_ENDPOINT_URL_SQS"] = sqs.url
    measure(label + ", 10/request",
            A.sink_ini("b-sqs.ini", "sqs", ["queue_url = https://sqs.eu-west-1.amazonaws.com/1/spillway",
                                            "auth = aws-sigv4", "aws_region = %s" % A.REGION,
                                            "aws_service = sqs"] + lines + base, count=N), e)
sqs.stop()

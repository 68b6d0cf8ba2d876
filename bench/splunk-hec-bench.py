#!/usr/bin/python3
"""bench/splunk-hec-bench.py: the splunk-hec sink with indexer
acknowledgement on and off, beside the http sink, to the same fake HEC
(tests/hec-fake.py), in one run.

Each case: the generate source makes N records (json codec), the sink
sends them in batches of B, 8 requests out at once (the same
concurrency for every case), up to 64 batches held for acks; the program exits when every record is
delivered. Reported: records/s (wall clock, start to exit) and spillway's
CPU time per record (user + system, from the child's rusage: the sink's own
cost, less noisy than wall time on a shared machine). The fake is one
Python process and bounds records/s; ratios within a run are what to read.

Cases:
  http -> /raw        the http sink, NDJSON body, Authorization header
  hec raw, ack off    splunk-hec endpoint = raw
  hec raw, ack on
  hec event, ack off  splunk-hec envelopes (the fake parses every one)
  hec event, ack on

Environment: top_srcdir, top_builddir (set by `make bench`),
SPW_BENCH_SCALE (a factor on N; 0.1 for a quick run).
"""

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("top_srcdir") or os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
BUILD = os.environ.get("top_builddir") or os.getcwd()
SPILLWAY = os.path.join(BUILD, "spillway")
FAKE = os.path.join(SRC, "tests", "hec-fake.py")
N = int(100000 * float(os.environ.get("SPW_BENCH_SCALE", "1")))
B = 200
TOKEN = "bench-token"


def start_fake(tmp, ack):
    pf = os.path.join(tmp, "port-%d" % ack)
    p = subprocess.Popen([sys.executable, FAKE, "--port", "0", "--port-file", pf, "--token", TOKEN]
                         + (["--ack"] if ack else []), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    end = time.monotonic() + 10
    while not os.path.exists(pf):
        if time.monotonic() > end:
            raise SystemExit("the fake HEC did not start")
        time.sleep(0.02)
    return p, "http://127.0.0.1:%s" % open(pf).read()


def run(tmp, name, sink_lines):
    ini = os.path.join(tmp, "".join(c if c.isalnum() else "_" for c in name) + ".ini")
    with open(ini, "w") as f:
        f.write("\n".join(["[pipeline]", "name = bench", "workers = 1", "event_deadline = 8s",
                           "[source.gen]", "plugin = generate", "count = %d" % N,
                           "[codec.c]", "plugin = json",
                           "[sink.out]", "codec = c", "batch_max_records = %d" % B,
                           "batch_max_delay = 5ms", "concurrency = 8", "max_held = 64"] + sink_lines)
                + "\n")
    env = dict(os.environ, SPILLWAY_PLUGIN_PATH=os.path.join(BUILD, "plugins"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    p = subprocess.run([SPILLWAY, "-c", ini], capture_output=True, text=True, env=env, timeout=600)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    ok = p.returncode == 0 and ("delivered %d," % N) in p.stderr
    print("%-20s %9.0f rec/s   %6.2f us CPU/record   %s" % (name, N / wall, cpu / N * 1e6,
                                                             "ok" if ok else "FAILED"), flush=True)
    if not ok:
        print(p.stderr[-2000:])
    return ok


def main():
    if not os.access(SPILLWAY, os.X_OK):
        raise SystemExit("build spillway first")
    tmp = tempfile.mkdtemp(prefix="spw-hec-bench.")
    fakes = []
    try:
        off, url_off = start_fake(tmp, False)
        on, url_on = start_fake(tmp, True)
        fakes = [off, on]
        print("splunk-hec benchmark: %d records, %d per request, one worker" % (N, B))
        hec = ["plugin = splunk-hec", "hec_token = " + TOKEN]
        ok = all([
            run(tmp, "http -> /raw", ["plugin = http", "url = %s/services/collector/raw" % url_off,
                                      "auth = header", "auth_header = Authorization",
                                      "auth_value = Splunk " + TOKEN]),
            run(tmp, "hec raw, ack off", hec + ["url = " + url_off, "endpoint = raw", "ack = false"]),
            run(tmp, "hec raw, ack on", hec + ["url = " + url_on, "endpoint = raw"]),
            run(tmp, "hec event, ack off", hec + ["url = " + url_off, "ack = false"]),
            run(tmp, "hec event, ack on", hec + ["url = " + url_on]),
        ])
    finally:
        for f in fakes:
            f.terminate()
            f.wait(5)
        shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(0 if ok else 1)


main()

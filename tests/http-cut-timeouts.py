#!/usr/bin/env python3
"""tests/http-cut-timeouts.py: a request whose timeout the sink cut below
`timeout` (its events' deadline was near) and that timed out says nothing
about the endpoint: it is counted as an HTTP error and its events are
retried, but it never takes the endpoint out. (It used to: under a deep
queue, failure_threshold such timeouts in a row took a healthy endpoint
out; see doc/http-client.md, "Timeouts and the event deadline".)

The receiver answers every request after 1.5 s; the event deadline is
0.8 s and `timeout` 10 s, so every request goes out with less than 0.8 s
and times out. Then the delay is lifted and every record is delivered.
"""

import importlib.util
import os
import time

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()

for engine in ("native", "libcurl"):
    rx = H.Receiver("rx-cut-" + engine, "--fault", "delay=1500")
    ini = H.write("cut-%s.ini" % engine, """[pipeline]
workers = 1
event_deadline = 800ms
stats_interval = 0

[source.gen]
plugin = generate
count = 40
rate = 20

[codec.c]
plugin = json

[sink.web]
plugin = http
codec = c
url = {url}/in
engine = {engine}
timeout = 10s
failure_threshold = 2
cooldown = 30s
batch_max_records = 1
""".format(url=rx.url, engine=engine))
    p = H.spawn([H.SPILLWAY, "-c", ini], stdout=open(H.path("cut-%s.out" % engine), "w"),
                stderr=open(H.path("cut-%s.err" % engine), "w"))
    errlog = H.path("cut-%s.err" % engine)
    # Wait until several cut-short timeouts have happened (each is logged as a retry).
    end = time.monotonic() + 30
    while time.monotonic() < end and open(errlog).read().count("Timeout was reached") + \
            open(errlog).read().count("no answer within") < 3:
        time.sleep(0.2)
    rx.control("clear")
    try:
        p.wait(60)
    except Exception:
        p.kill()
        p.wait()
    log = open(errlog).read()
    timeouts = log.count("Timeout was reached") + log.count("no answer within")
    tap.ok(timeouts >= 3, "%s: requests cut short by the deadline timed out (%d lines)" % (engine, timeouts),
           log[-1500:])
    tap.ok("taken out" not in log, "%s: and no endpoint was taken out for them" % engine,
           [l for l in log.splitlines() if "taken out" in l][:3])
    tap.ok(p.returncode == 0 and H.delivered_seqs(rx.entries()).keys() >= set(range(40)),
           "%s: every record delivered once the delay is lifted (exit %s)" % (engine, p.returncode),
           log[-800:])
    rx.stop()

tap.done()

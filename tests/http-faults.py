#!/usr/bin/env python3
"""tests/http-faults.py: zero loss through destination faults.

Every scenario runs a whole pipeline, generate (sequence-numbered records,
resubmitted until answered delivered, as XDR does) -> json -> http, to
tests/receiver.py (HTTP/1.1) injecting one kind of fault, and checks from
the receiver's log that every sequence number arrived at least once in a
request answered 2xx, that the generator's counts match, and reports the
duplicates (at-least-once delivery) as TAP diagnostics. The sink uses its
native HTTP/1.1 engine; the outage, reset and deadline scenarios run again
with engine = libcurl:

  - 503 (with Retry-After) for a while;
  - the destination goes down (connection refused, open connections cut)
    and comes back;
  - connections reset without an answer;
  - answers slower than the events' deadline;
  - slow reads of large bodies;
  - one record answered 400: it lands in the dead-letter file with the
    status and the body excerpt as its reason, and nothing else does;
  - spillway killed with SIGKILL mid-stream and restarted: needs the xdr
    source and spillway-xdrgen (XDR resends what was not acknowledged);
    skipped when they are not built.
"""

import importlib.util
import json
import os
import signal
import subprocess
import time

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()


def scenario(name, faults, count, batch=None, sink=(), pipeline=(), source=(), expect=None, rejected=()):
    rcv = H.Receiver(name, *sum((["--fault", f] for f in faults), []))
    ini = H.ini(name + ".ini", ["url = %s/ingest" % rcv.url, "failure_threshold = 3",
                                "cooldown = 300ms"] + list(sink),
                count=count, batch=batch, pipeline_lines=list(pipeline), source_lines=list(source))
    t0 = time.monotonic()
    r = H.run(ini, timeout=120)
    took = time.monotonic() - t0
    rcv.stop()
    entries = rcv.entries()
    gen = r.stats("source.gen")
    web = r.stats("sink.web")
    tap.ok(r.rc == 0 and gen.get("delivered") == count and gen.get("generated") == count,
           "%s: the generator's %d records are all answered delivered (%.1f s)" % (name, count, took),
           r.tail(), "generator: %s" % gen)
    H.check_all_delivered(tap, name, entries, count, exclude=rejected)
    tap.diag("%s: sink %s" % (name, {k: v for k, v in web.items() if v and k.startswith(("http", "endpoint", "retried", "request"))}))
    tap.diag("%s: pipeline %s" % (name, r.stats("pipeline")))
    if expect:
        pipe = r.stats("pipeline")
        for keys, what in expect.items():
            hit = [k for k in keys.split("|") if web.get(k, 0) > 0 or pipe.get(k, 0) > 0]
            tap.ok(hit, "%s: the fault was exercised (%s > 0: %s)" % (name, " or ".join(keys.split("|")), what))
    return r, entries


def main():
    scenario("503-for-a-while", ["status=503,retry_after=1,start=0.2,for=1.5,body=overloaded"], 3000,
             batch=20, source=["rate = 2000"], expect={"http_5xx": "503 answers"})
    for engine in ("native", "libcurl"):
        tag = "" if engine == "native" else "-libcurl"
        eng = ["engine = " + engine]
        scenario("down-and-back" + tag, ["refuse,start=0.5,for=2"], 4000, batch=10, sink=eng,
                 source=["rate = 2000"], expect={"http_errors": "connections refused", "endpoint_down": "taken out"})
        scenario("connection-resets" + tag, ["reset,every=4"], 1500, batch=None, sink=eng,
                 expect={"http_errors": "resets"})
        scenario("slower-than-deadline" + tag, ["delay=1500,start=0.2,count=40"], 1500, batch=5,
                 pipeline=["event_deadline = 1s"], sink=["timeout = 5s"] + eng, source=["rate = 1500"],
                 expect={"deadline_expired|http_errors": "requests cut at the events' deadline"})
    scenario("slow-reads", ["slow=10,for=1.5"], 3000, batch=300,
             sink=["timeout = 3s"], expect={"http_2xx": "requests"})

    # A record the destination refuses for good lands in the dead-letter file.
    dlq = H.path("dead.ndjson")
    r, entries = scenario("rejected-record", ["status=400,seq=17,body=seq-17-is-poisoned"], 200,
                          pipeline=["dead_letter = %s" % dlq], sink=["on_reject = dead-letter"],
                          rejected=(17,))
    lines = H.dead_letters(dlq)
    tap.ok(len(lines) == 1, "rejected-record: exactly one dead letter", "got %d" % len(lines))
    if lines:
        dl = lines[0]
        rec = json.loads(H.payload(dl))
        seq = [b["value"] for b in rec.get("bins", []) if b["name"] == "seq"]
        tap.ok(seq == [17], "rejected-record: the dead letter is the record with seq 17", "got %s" % seq)
        tap.ok(dl.get("reason") == "HTTP 400: seq-17-is-poisoned",
               "rejected-record: its reason is the status and the body excerpt", "got %r" % dl.get("reason"))
    tap.ok(r.stats("sink.web").get("dead_lettered") == 1, "rejected-record: counted as dead-lettered")

    # SIGKILL mid-stream: needs the xdr source and spillway-xdrgen.
    xdr_plugin = any(os.path.exists(os.path.join(H.BUILDDIR, "plugins", f))
                     for f in ("source-xdr.la", ".libs/source-xdr.so"))
    xdrgen = os.path.join(H.BUILDDIR, "spillway-xdrgen")
    if not (xdr_plugin and os.access(xdrgen, os.X_OK)):
        tap.skip("sigkill-restart: every record arrives after spillway is killed and restarted",
                 "the xdr source or spillway-xdrgen is not built")
    else:
        sigkill_restart(xdrgen)
    tap.done()


def sigkill_restart(xdrgen):
    count = 20000
    rcv = H.Receiver("sigkill")
    port = H.free_port()
    ini = H.write("sigkill.ini", "\n".join([
        "[pipeline]", "name = sigkill", "event_deadline = 2s",
        "[source.xdr]", "plugin = xdr", "listen = 127.0.0.1:%d" % port,
        "[codec.c]", "plugin = json",
        "[sink.web]", "plugin = http", "codec = c", "url = %s/ingest" % rcv.url,
        "batch_max_records = 50", "batch_max_delay = 20ms"]) + "\n")
    log = open(H.path("sigkill.spillway"), "w")
    sp = H.spawn([H.SPILLWAY, "-c", ini], stdout=log, stderr=log)
    H.wait_port(port)
    gen_out = open(H.path("sigkill.xdrgen"), "w")
    gen = H.spawn([xdrgen, "--connect", "127.0.0.1:%d" % port, "--count", str(count), "--rate", "5000",
                   "--reconnect-max", "300ms", "--timeout", "3s", "--max-time", "90s"],
                  stdout=gen_out, stderr=gen_out)
    time.sleep(1.5)
    sp.send_signal(signal.SIGKILL)
    sp.wait()
    tap.diag("sigkill: spillway killed after 1.5 s, %d requests had arrived" % len(rcv.entries()))
    time.sleep(0.5)
    sp = H.spawn([H.SPILLWAY, "-c", ini], stdout=log, stderr=log)
    try:
        rc = gen.wait(100)
    except subprocess.TimeoutExpired:
        gen.kill()
        rc = -1
    sp.send_signal(signal.SIGTERM)
    src = sp.wait(30)
    rcv.stop()
    gen_out.close()
    log.close()
    text = open(H.path("sigkill.spillway")).read()
    tap.ok(src == 0 and "Sanitizer" not in text, "sigkill: the restarted spillway stops cleanly (exit %s)" % src,
           text[-1500:])
    tap.ok(rc == 0, "sigkill: spillway-xdrgen saw every record acknowledged (exit %s)" % rc,
           open(H.path("sigkill.xdrgen")).read()[-1500:])
    H.check_all_delivered(tap, "sigkill", rcv.entries(), count)


main()

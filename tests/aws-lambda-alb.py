#!/usr/bin/python3
"""tests/aws-lambda-alb.py: the `lambda-alb` sink against the ALB fake of
tests/aws-fakes.py, which runs examples/lambda/handler.py on the ALB's
event: delivery (text and binary codecs), the 1,000,000-byte cap after
compression (split, never sent over it; a record over it alone
dead-lettered), 502 rejected by default and retried by option, 503/504
retried, 401/403/404 holding the route down, the example pipeline checked,
and zero loss end to end from spillway-xdrgen through 503/504 storms and a
SIGKILL mid-stream. TAP."""

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "awslib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "aws-test-lib.py"))
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)
H = A.H

T = H.Tap()


def alb(name, *args):
    return A.Fake(name, "alb", "--path", "/in", *args)


def alb_ini(name, fake, lines=(), count=300, batch=50, codec="json", pipeline=(), source=(), tee=None):
    return A.sink_ini(name + ".ini", "lambda-alb",
                      ["url = %s/in" % fake.url, "batch_max_records = %d" % batch] + list(lines),
                      count=count, codec=codec, pipeline=list(pipeline), source=list(source), tee=tee)


def seqs_of(body):
    import re
    return [int(m.group(1) or m.group(2)) for m in re.finditer(
        rb'"name":\s*"seq",\s*"type":\s*"int",\s*"value":\s*(\d+)|"seq":\s*(\d+)', body)]


def entries(fake):
    return fake.entries()


# 1. Delivery, NDJSON: every record processed once by the handler, content type the codec's.
f = alb("basic")
r = H.run(alb_ini("basic", f, count=500))
es = entries(f)
T.ok(r.rc == 0, "json: the run ends cleanly", r.tail())
H.check_all_delivered(T, "json", es, 500)
T.ok(es and all(e["ctype"] == "application/x-ndjson" and e["b64"] is False for e in es),
     "json: Content-Type application/x-ndjson, handed to the function as text", es[:1])
T.ok(sum(e.get("records") or 0 for e in es if e["status"] == 200) == 500,
     "json: the handler counted 500 records")
f.stop()

# 2. A binary codec: the ALB hands the function Base64; the bytes are the codec's.
f = alb("binary")
tee = H.path("binary.tee")
r = H.run(alb_ini("binary", f, codec="msgpack", count=300, tee=tee))
es = entries(f)
T.ok(r.rc == 0 and es and all(e["status"] == 200 and e["b64"] is True for e in es),
     "msgpack: every request 200, isBase64Encoded", r.tail(), es[:2])
# Frames differ by batch (a header each), the records not: allow a few bytes per request.
T.ok(abs(sum(e["bytes"] for e in es) - os.path.getsize(tee)) <= 9 * len(es),
     "msgpack: the function got the codec's bytes",
     "%d vs %d" % (sum(e["bytes"] for e in es), os.path.getsize(tee)))
f.stop()

# 3. The 1 MB cap: batches of ~2.5 MB are split by the core, nothing over 1,000,000 is sent.
f = alb("cap")
big = ["value_size = 4096", "bins = 6", "bin_types = string"]
r = H.run(alb_ini("cap", f, count=600, batch=600, source=big, lines=["batch_max_bytes = 8MiB"]))
es = entries(f)
H.check_all_delivered(T, "cap", es, 600)
T.ok(es and max(e["bytes"] for e in es) <= 1000000 and not any(e["status"] == 413 for e in es),
     "cap: no request over 1,000,000 bytes reached the ALB", max([e["bytes"] for e in es] or [0]))
st = r.stats("sink.aws")
T.ok(st.get("splits", 0) > 0, "cap: the core split the batches", st)
f.stop()

# 4. With gzip the cap applies after compression: a compressible 2.5 MB batch goes whole.
f = alb("gzip")
r = H.run(alb_ini("gzip", f, count=800, batch=800, source=["bins = 60", "bin_types = integer"],
                  lines=["batch_max_bytes = 8MiB", "compression = gzip"]))
es = entries(f)
H.check_all_delivered(T, "gzip", es, 800)
T.ok(es and any(e["encoding"] == "gzip" and e["raw_bytes"] > 1000000 >= e["bytes"] for e in es),
     "gzip: a batch over 1 MB raw went whole, compressed under the cap",
     [(e["bytes"], e.get("raw_bytes")) for e in es[:5]])
f.stop()

# 5. A record over the cap alone is dead-lettered 'too large', never sent; the others arrive.
f = alb("toolarge")
dl = H.path("toolarge.dlq")
r = H.run(alb_ini("toolarge", f, count=20, batch=1, source=["value_size = 1048576", "bins = 2",
                                                             "bin_types = string"],
                  pipeline=["dead_letter = %s" % dl]))
d = H.dead_letters(dl)
T.ok(len(d) == 20 and all("too large" in x["reason"] for x in d) and not entries(f),
     "a record over 1,000,000 bytes alone: dead-lettered 'too large', never sent",
     [x["reason"] for x in d[:2]], r.tail())
f.stop()

# 6. 502 (a poison record makes the function raise): its batch dead-lettered, the rest delivered.
f = alb("poison", "--poison", "137")
dl = H.path("poison.dlq")
r = H.run(alb_ini("poison", f, count=400, batch=20, pipeline=["dead_letter = %s" % dl]))
d = H.dead_letters(dl)
bad = set(s for dd in d for s in seqs_of(H.payload(dd)))
T.ok(len(d) == 20 and all("502" in x["reason"] for x in d), "502: the poison record's batch "
     "(20 records) is dead-lettered with the ALB's 502", [x["reason"] for x in d[:1]], len(d))
T.ok(137 in bad, "502: the poison record is among them", sorted(bad))
H.check_all_delivered(T, "502", entries(f), 400, exclude=bad)
T.ok(sum(1 for e in entries(f) if e["status"] == 502) == 1, "502: not resent (rejected by default)")
f.stop()

# 7. retry_502 = true: a 502 storm is retried, nothing dead-lettered, nothing lost.
f = alb("retry502", "--status", "0:1.5:502")
dl = H.path("retry502.dlq")
r = H.run(alb_ini("retry502", f, count=300, lines=["retry_502 = true"],
                  pipeline=["dead_letter = %s" % dl, "event_deadline = 8s"],
                  source=["rate = 200"]))
es = entries(f)
T.ok(any(e["status"] == 502 for e in es) and not H.dead_letters(dl),
     "retry_502: 502s retried, nothing dead-lettered", r.tail())
H.check_all_delivered(T, "retry_502", es, 300)
f.stop()

# 8. 503 and 504 storms: retried, nothing lost, nothing dead-lettered.
f = alb("storm", "--status", "0:1:503", "--status", "1:1:504")
dl = H.path("storm.dlq")
# (failure_threshold: one endpoint taken out by the 503s would hold the route past the 504s.)
r = H.run(alb_ini("storm", f, count=800, lines=["failure_threshold = 1000"],
                  pipeline=["dead_letter = %s" % dl, "event_deadline = 8s"],
                  source=["rate = 200"]))
es = entries(f)
T.ok(any(e["status"] == 503 for e in es) and any(e["status"] == 504 for e in es)
     and not H.dead_letters(dl), "503/504: retried, nothing dead-lettered",
     sorted({e["status"] for e in es}))
H.check_all_delivered(T, "503/504", es, 800)
f.stop()

# 9. 404 (no listener rule for the path): held down loudly, probed, nothing dead-lettered.
f = alb("norule")
dl = H.path("norule.dlq")
ini = A.sink_ini("norule.ini", "lambda-alb", ["url = %s/wrong" % f.url, "batch_max_records = 10"],
                 count=200, pipeline=["dead_letter = %s" % dl, "event_deadline = 2s"],
                 source=["rate = 100"])
r = H.run_for(ini, 4)
es = entries(f)
T.ok("holding the route" in r.err and not H.dead_letters(dl),
     "404: the route is held down with a loud log, nothing dead-lettered", r.tail())
T.ok(0 < len(es) <= 6, "404: held down, only probes reach the ALB (%d requests)" % len(es))
f.stop()

# 10. The example pipeline: --check accepts it with only SPILLWAY_ALB_URL set.
ex = os.path.join(H.SRCDIR, "examples", "xdr-to-lambda.ini")
e = {k: v for k, v in os.environ.items() if not k.startswith("SPILLWAY_") or k == "SPILLWAY_PLUGIN_PATH"}
e["SPILLWAY_ALB_URL"] = "https://alb.example.com/spillway"
p = subprocess.run([H.SPILLWAY, "--check", "-c", ex], capture_output=True, text=True, env=e, timeout=30)
T.ok(p.returncode == 0, "examples/xdr-to-lambda.ini passes --check with SPILLWAY_ALB_URL only",
     p.stderr[-800:])
e.pop("SPILLWAY_ALB_URL")
p = subprocess.run([H.SPILLWAY, "--check", "-c", ex], capture_output=True, text=True, env=e, timeout=30)
T.ok(p.returncode != 0 and "SPILLWAY_ALB_URL" in p.stderr,
     "examples/xdr-to-lambda.ini without SPILLWAY_ALB_URL: refused, naming it", p.stderr[-400:])

# 11. Zero loss from spillway-xdrgen through the example pipeline: a 503/504 storm, then
# SIGKILL mid-stream and a restart; every record acknowledged and processed.
if os.path.exists(os.path.join(H.BUILDDIR, "plugins", "source-xdr.la")):
    f = alb("e2e", "--status", "1:1.5:503", "--status", "3:1:504")
    port = H.free_port()
    e = dict(os.environ)
    e.update({"SPILLWAY_ALB_URL": f.url + "/in", "SPILLWAY_LISTEN": "127.0.0.1:%d" % port,
              "SPILLWAY_BATCH": "64", "SPILLWAY_DEAD_LETTER": H.path("e2e.dlq"),
              "SPILLWAY_ADMIN": "127.0.0.1:%d" % H.free_port()})

    def start():
        return H.spawn([H.SPILLWAY, "-c", ex], stdout=subprocess.DEVNULL,
                       stderr=open(H.path("e2e.stderr"), "a"), env=e)

    sp = start()
    xg = subprocess.Popen([os.path.join(H.BUILDDIR, "spillway-xdrgen"), "-c", "127.0.0.1:%d" % port,
                           "--reconnect-min", "50ms", "--json", "-C", "4", "-n", "20000",
                           "-r", "4000", "--max-time", "100"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    sp.send_signal(signal.SIGKILL)
    sp.wait()
    time.sleep(0.5)
    sp = start()
    try:
        out, err = xg.communicate(timeout=140)
    except subprocess.TimeoutExpired:
        xg.kill()
        out, err = xg.communicate()
    sp.send_signal(signal.SIGTERM)
    sp.wait(30)
    try:
        rep = json.loads(out)
    except ValueError:
        rep = {}
    T.ok(xg.returncode == 0 and rep.get("acknowledged") == 20000,
         "xdrgen: 20000 records, a 503/504 storm and a SIGKILL: every one acknowledged",
         out[-400:], err[-400:])
    es = entries(f)
    H.check_all_delivered(T, "xdrgen e2e", es, 20000)
    T.ok(not H.dead_letters(H.path("e2e.dlq")), "xdrgen e2e: nothing dead-lettered")
    f.stop()
else:
    T.skip("xdrgen end to end", "the xdr source is not built")

T.done()

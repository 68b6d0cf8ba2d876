#!/usr/bin/python3
"""tests/idempotency-e2e.py: examples/xdr-to-http-idempotent.ini and
examples/idempotent-receiver.py, run for real (doc/idempotency.md).

1. spillway-xdrgen -> spillway (the example, unchanged, configured through
   its environment variables) -> tests/receiver.py answering 503 to every
   third request. Every request carries the Idempotency-Key header, equal
   to the body's "idempotencyKey", equal to the digest (hex) '-' the LUT the
   body shows; a request answered 503 is retried with the same key; every
   record is delivered.
2. The same frames replayed twice by spillway-xdrgen --replay (XDR's
   resends), spillway restarted between the two, into the example
   receiver: the second copy of each change has the same key, so the
   receiver processes 30 records and notes 30 duplicates. Then the same
   records changed again (xdrgen's same sequence numbers: same digests, a
   newer LUT): 30 new keys, 30 more records processed.
"""
import base64
import importlib.util
import json
import os
import subprocess
import time

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()
EXAMPLE = os.path.join(H.SRCDIR, "examples", "xdr-to-http-idempotent.ini")
XDRGEN = os.path.join(H.BUILDDIR, "spillway-xdrgen")


def start_spillway(listen, url, name):
    env = dict(os.environ, SPILLWAY_LISTEN="127.0.0.1:%d" % listen, SPILLWAY_URL=url,
               SPILLWAY_ADMIN="127.0.0.1:0", SPILLWAY_DEAD_LETTER=H.path(name + ".dlq"))
    err = open(H.path(name + ".stderr"), "w")
    return H.spawn([H.SPILLWAY, "-c", EXAMPLE], env=env, stdout=err, stderr=err)


def stop_spillway(p):
    p.terminate()
    return p.wait(30)


def xdrgen(listen, *args):
    p = subprocess.run([XDRGEN, "-c", "127.0.0.1:%d" % listen, "--reconnect-min", "50ms",
                        "--max-time", "60", "--json"] + list(args),
                       capture_output=True, text=True, timeout=120)
    try:
        return p.returncode, json.loads(p.stdout)
    except ValueError:
        return p.returncode, {"stderr": p.stderr[-500:]}


def key_in_body(body):
    return base64.b64decode(body["key"][2]).hex() + "-" + str(body["lut"])


def faults_and_retries():
    rx = H.Receiver("rx", "--log-bodies", "--fault", "status=503,every=3")
    listen = H.free_port()
    sp = start_spillway(listen, rx.url + "/", "run1")
    rc, rep = xdrgen(listen, "-C", "2", "-n", "200", "--delete-ratio", "0.2")
    tap.ok(rc == 0 and rep.get("acknowledged") == 200,
           "example: 200 records through a receiver failing every third request, all acknowledged",
           rep)
    tap.ok(stop_spillway(sp) == 0, "example: spillway stops cleanly")
    entries = rx.entries()
    rx.stop()
    bad, ok_keys, failed_keys = [], set(), set()
    for e in entries:
        hdr = e["headers"].get("Idempotency-Key")
        body = json.loads(e.get("body", "{}"))
        if hdr is None or hdr != body.get("idempotencyKey") or hdr != key_in_body(body):
            bad.append("%r %r" % (hdr, body.get("idempotencyKey")))
        (ok_keys if 200 <= e["status"] < 300 else failed_keys).add(hdr)
    tap.ok(entries and not bad,
           "every request: header Idempotency-Key == body idempotencyKey == digest hex '-' lut",
           "%d requests; %s" % (len(entries), bad[:3]))
    # spillway retries a failed request with the same key. When the retries outlast the event
    # deadline (a loaded machine), XDR is answered "retry" and resends; spillway-xdrgen builds a
    # resent generated record anew, with the time of the resend as its LUT (real XDR ships the
    # stored version, the same LUT unless the record changed): that copy is a newer version
    # of the record, so a newer key for the same digest.
    ok_luts = {}
    for k in ok_keys:
        d, lut = k.split("-")
        ok_luts.setdefault(d, []).append(int(lut))
    unexplained = [k for k in failed_keys - ok_keys
                   if not any(l > int(k.split("-")[1]) for l in ok_luts.get(k.split("-")[0], []))]
    tap.ok(len(failed_keys & ok_keys) > 0 and not unexplained,
           "a request answered 503 is retried with the same key and succeeds (or, past the "
           "deadline, XDR's resend of a newer version succeeds)",
           "%d failed, %d retried with their key, unexplained: %s" % (
               len(failed_keys), len(failed_keys & ok_keys), unexplained[:3]))
    tap.ok(len(ok_luts) == 200 and len(ok_keys) >= 200,
           "every one of the 200 records delivered (200 digests among the keys answered 2xx)",
           "%d digests, %d keys" % (len(ok_luts), len(ok_keys)))


def resends_and_restarts():
    frames = H.path("frames.hex")
    subprocess.run([XDRGEN, "--dump", frames, "-n", "30", "--bins", "3"], check=True,
                   capture_output=True, timeout=60)
    port = H.free_port()
    out = open(H.path("dedup.out"), "w")
    err = open(H.path("dedup.err"), "w")
    H.spawn([H.PYTHON3, os.path.join(H.SRCDIR, "examples", "idempotent-receiver.py"),
             "--port", str(port)], stdout=out, stderr=err)
    tap.ok(H.wait_port(port), "the example receiver listens")
    url = "http://127.0.0.1:%d/" % port
    listen = H.free_port()
    sp = start_spillway(listen, url, "run2")
    rc1, rep1 = xdrgen(listen, "--replay", frames)
    stop_spillway(sp)
    listen = H.free_port()
    sp = start_spillway(listen, url, "run3")  # a restart: nothing of the first run is kept
    rc2, rep2 = xdrgen(listen, "--replay", frames)
    tap.ok(rc1 == 0 and rc2 == 0 and rep1.get("acknowledged") == 30 and
           rep2.get("acknowledged") == 30,
           "the same 30 frames sent twice, spillway restarted in between: all acknowledged",
           (rep1, rep2))

    def counts():
        processed = [l for l in open(H.path("dedup.out")) if l.strip()]
        dups = [l for l in open(H.path("dedup.err")) if l.startswith("duplicate ")]
        return processed, dups

    processed, dups = counts()
    tap.ok(len(processed) == 30 and len(dups) == 30,
           "the receiver processed 30 changes and dropped the 30 resends by their key",
           "%d processed, %d duplicates" % (len(processed), len(dups)))
    time.sleep(0.01)  # the next change is at least a millisecond later: a newer LUT
    rc3, rep3 = xdrgen(listen, "-n", "30", "--bins", "3")
    stop_spillway(sp)
    processed2, dups2 = counts()
    digests = {json.loads(l)["key"][2] for l in processed2}
    tap.ok(rc3 == 0 and len(processed2) == 60 and len(dups2) == 30 and len(digests) == 30,
           "the next change of the same 30 records (same digests, newer LUT) has new keys: "
           "processed, not dropped",
           "%d processed, %d duplicates, %d digests" % (len(processed2), len(dups2), len(digests)))


faults_and_retries()
resends_and_restarts()
tap.done()

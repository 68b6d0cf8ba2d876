#!/usr/bin/env python3
"""tests/http-client.py: the SDK's HTTP client (spillway/http.h), driven
from inside the real program by the test-only `httpdrive` source
(tests/plugins/source-httpdrive.c), against tests/receiver.py (HTTP/1.1)
and tests/h2-receiver.py (h2c), on every engine: the native HTTP/1.1 and
HTTP/2 engines and libcurl.

The driver writes one JSON line per step; this script checks each against
what the step asked and what the receiver logged: targets joined to the
endpoint's base path, methods, the caller's headers, every response header,
response bodies over the limit (an error, or cut with SPW_HTTP_TRUNCATE),
bodies over max_body_size never sent, gzip per request, timeouts, resets,
refused connections, other origins, pinned endpoints, the token hook and
SPW_HTTP_NO_AUTH, error returns that never call back, callbacks never made
from inside spw_http_send, and requests cancelled by spw_http_close.
"""

import importlib.util
import json
import os
import sys

spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(spec)
spec.loader.exec_module(H)

tap = H.Tap()

FAULTS = [
    "path=/base/hdrs,status=207,header=X-One:1,header=x-two:two,body=abc",
    "path=/base/big,status=200,size=5000",
    "path=/base/slow,delay=3000",
    "path=/base/reset,reset",
    "path=/base/hang,hang",
]
STEPS = ["", "get-rel", "post-body", "put", "resp-headers", "too-large", "truncate",
         "body-too-large", "gzip", "no-compress", "timeout", "reset", "other-origin", "refused",
         "pinned", "token", "no-auth", "token-fails", "bad-method", "bad-target", "bad-endpoint",
         "own-host", "cancel"]


def h2_receiver(name, *args):
    r = H.Receiver.__new__(H.Receiver)
    r.log = H.path(name + ".log")
    r.portfile = H.path(name + ".port")
    r.err = open(H.path(name + ".stderr"), "w")
    r.proc = H.spawn([H.PYTHON3, os.path.join(H.SRCDIR, "tests", "h2-receiver.py"), "--port", "0",
                      "--port-file", r.portfile, "--log", r.log] + list(args),
                     stdout=r.err, stderr=r.err)
    import time
    end = time.monotonic() + 10
    while not os.path.exists(r.portfile):
        if time.monotonic() > end or r.proc.poll() is not None:
            raise RuntimeError("the h2 receiver did not start")
        time.sleep(0.02)
    r.port = int(open(r.portfile).read())
    r.url = "http://127.0.0.1:%d" % r.port
    return r


def run_case(label, h2, lines):
    fault_args = []
    for f in FAULTS:
        fault_args += ["--fault", f]
    make = h2_receiver if h2 else H.Receiver
    recv = make(label + "-main", *fault_args)
    # Another origin (a token service, a metadata server) speaks HTTP/1.1 even when the
    # endpoints are h2c: the client never sends h2c there.
    other = H.Receiver(label + "-other")
    dead = H.free_port()
    out = H.path(label + ".jsonl")
    ini = H.write(label + ".ini", "\n".join([
        "[pipeline]", "name = client", "workers = 1", "stats_interval = 0",
        "[source.d]", "plugin = httpdrive",
        "url = %s/base/" % recv.url,
        "other_url = %s" % other.url,
        "dead_url = http://127.0.0.1:%d/dead" % dead,
        "out = %s" % out,
        "max_body_size = 4096",
        "compression = gzip", "compression_threshold = 1KiB",
        "timeout = 2s", "connect_timeout = 1s",
    ] + lines + ["[codec.j]", "plugin = json", "[sink.n]", "plugin = null", "codec = j", ""]))
    run = H.run(ini, timeout=60)
    tap.ok(run.rc == 0, "%s: the driver ran to its end (exit %d)" % (label, run.rc), run.tail())
    stats = [l for l in run.err.splitlines() if "[stats] source.d:" in l]
    tap.ok(stats and "http_requests=" in stats[0] and "http_request_duration_seconds=" in stats[0],
           "%s: the client's counters and request-duration histogram reach the stats line" % label,
           stats)
    got = {}
    if os.path.exists(out):
        for line in open(out):
            d = json.loads(line)
            got[d["step"]] = d
    tap.ok(len(got) == len(STEPS) - 1, "%s: one line per step (%d of %d)" % (label, len(got), len(STEPS) - 1))
    step = {STEPS[k]: v for k, v in got.items()}
    arrived = {}
    for e in recv.entries():
        arrived.setdefault(e["path"], []).append(e)

    def ok(name, cond, *diag):
        tap.ok(cond, "%s: %s" % (label, name), *(list(diag) + [json.dumps(step.get(name.split(":")[0]))]))

    never_inside = [k for k, v in step.items() if v.get("in_send")]
    tap.ok(not never_inside, "%s: no callback ever came from inside spw_http_send" % label, never_inside)

    s = step.get("get-rel", {})
    ok("get-rel: a path target is joined to the endpoint's base path",
       s.get("status") == 200 and "/base/rel?q=1" in arrived and arrived["/base/rel?q=1"][0]["method"] == "GET")
    ok("get-rel: the endpoint and its origin are reported",
       s.get("endpoint") == 0 and s.get("origin") == recv.url)
    s = step.get("post-body", {})
    e = (arrived.get("/base/") or [{}])[0]
    hdr = {k.lower(): v for k, v in e.get("headers", {}).items()}
    ok("post-body: an empty target is the endpoint's URL; method, body and headers arrive",
       s.get("status") == 200 and e.get("method") == "POST" and e.get("len") == 11 and
       hdr.get("x-test") == "yes" and hdr.get("content-type") == "text/plain" and
       hdr.get("user-agent", "").startswith("spillway/"), e)
    ok("put: any method", step.get("put", {}).get("status") == 200 and
       (arrived.get("/base/put") or [{}])[0].get("method") == "PUT")
    s = step.get("resp-headers", {})
    names = [h[0].lower() for h in s.get("headers", [])]
    ok("resp-headers: status, every header in order, and a case-blind lookup",
       s.get("status") == 207 and "x-one" in names and "x-two" in names and
       names.index("x-one") < names.index("x-two") and s.get("x_two") == "two" and
       s.get("body_len") == 3)
    s = step.get("too-large", {})
    ok("too-large: a body over response_max is an error of its own, with the status",
       s.get("error") == "response too large" and s.get("status") == 200, s)
    s = step.get("truncate", {})
    ok("truncate: SPW_HTTP_TRUNCATE cuts it at response_max instead",
       s.get("error") == "ok" and s.get("truncated") is True and s.get("body_len") == 100)
    s = step.get("body-too-large", {})
    ok("body-too-large: a body over max_body_size after gzip is never sent",
       s.get("error") == "body too large" and "max_body_size" in s.get("text", "") and
       "/base/toolarge" not in arrived)
    s = step.get("gzip", {})
    e = (arrived.get("/base/gzip") or [{}])[0]
    hdr = {k.lower(): v for k, v in e.get("headers", {}).items()}
    ok("gzip: compression above the threshold, Content-Encoding set, the server decodes it",
       s.get("compressed") is True and s.get("sent_len", 9999) < 3000 and
       hdr.get("content-encoding") == "gzip" and e.get("len") == 3000)
    s = step.get("no-compress", {})
    e = (arrived.get("/base/plain") or [{}])[0]
    hdr = {k.lower(): v for k, v in e.get("headers", {}).items()}
    ok("no-compress: SPW_HTTP_NO_COMPRESS sends the body as it is",
       s.get("compressed") is False and s.get("sent_len") == 3000 and "content-encoding" not in hdr)
    ok("timeout: no answer within the request's timeout",
       step.get("timeout", {}).get("error") == "timeout")
    ok("reset: a connection closed without an answer",
       step.get("reset", {}).get("error") in ("reset", "send", "protocol"))
    s = step.get("other-origin", {})
    ok("other-origin: an absolute URL on no endpoint",
       s.get("status") == 200 and s.get("endpoint") == -1 and
       any(x["path"] == "/other" for x in other.entries()))
    ok("refused: nothing listening is a connect error",
       step.get("refused", {}).get("error") == "connect")
    ok("pinned: SPW_HTTP_PINNED sends to the endpoint given",
       step.get("pinned", {}).get("status") == 200 and step["pinned"].get("endpoint") == 0)
    e = (arrived.get("/base/token") or [{}])[0]
    hdr = {k.lower(): v for k, v in e.get("headers", {}).items()}
    ok("token: the hook's token goes out as a bearer token",
       hdr.get("authorization") == "Bearer tok-1", e)
    e = (arrived.get("/base/noauth") or [{}])[0]
    hdr = {k.lower(): v for k, v in e.get("headers", {}).items()}
    ok("no-auth: SPW_HTTP_NO_AUTH leaves it out", e and "authorization" not in hdr, e)
    s = step.get("token-fails", {})
    ok("token-fails: a failing hook ends the request with an auth error, nothing sent",
       s.get("error") == "auth" and "no token yet" in s.get("text", "") and
       "/base/tokenfail" not in arrived)
    for name in ("bad-method", "bad-target", "bad-endpoint"):
        s = step.get(name, {})
        ok("%s: refused by an error return (SPW_ERR_INVAL), no callback" % name,
           s.get("rc") == -2 and "error" not in s)
    e = (arrived.get("/base/ownhost") or [{}])[0]
    hdr = {k.lower(): v for k, v in e.get("headers", {}).items()}
    ok("own-host: a Host header replaces the URL's, sent once",
       step.get("own-host", {}).get("status") == 200 and
       (hdr.get("host") == "example.test" or e.get("authority") == "example.test") and
       "host" not in [d.lower() for d in e.get("dup_headers", [])], e)
    s = step.get("cancel", {})
    ok("cancel: spw_http_close ends a request in progress, from inside the call",
       s.get("error") == "cancelled" and s.get("in_close") is True)


cases = [
    ("h1-native", False, []),
    ("h1-libcurl", False, ["engine = libcurl"]),
    ("h2c-native", True, ["protocol = h2c"]),
    ("h2c-libcurl", True, ["protocol = h2c", "engine = libcurl"]),
]
for label, h2, lines in cases:
    run_case(label, h2, lines)
tap.done()

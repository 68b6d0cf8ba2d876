#!/usr/bin/env python3
"""tests/http-h2-faults.py: zero loss through HTTP/2 faults on the http
sink's cleartext HTTP/2 path (protocol = h2c).

tests/http-faults.py proves the sink's at-least-once delivery against an
HTTP/1.1 receiver; HTTP/2 fails in its own ways (streams refused or reset
one by one, GOAWAY retiring a connection with streams in flight, flow
control, a limit on concurrent streams, answers before the body is read),
and nginx or nghttpd cannot be told to fail on a schedule. So every
scenario here runs a whole pipeline, generate (sequence-numbered records,
resubmitted until answered delivered, as XDR does) -> json -> http with
protocol = h2c, to tests/h2-receiver.py (python3-h2, a server that shares
no code with the sink's HTTP/2 libraries) injecting one kind of fault, and
checks from the receiver's log that every sequence number arrived at
least once in a request answered 2xx, that the generator's counts match,
and that the receiver saw no malformed request (protocol_errors == 0, the
right :authority and :scheme); duplicates (at-least-once delivery) are
reported as TAP diagnostics:

   1. bodies intact: 2000 records one per request (templated path
      /in/${namespace}/${digest}, rendered per record) and 5000 batched 100
      per request: content-length, SHA-256, content-type, and every record
      byte for byte against a second route writing the codec's output to a
      file;
   2. 503 with Retry-After for a while;
   3. RST_STREAM REFUSED_STREAM for every 7th request;
   4. GOAWAY mid-stream, several times, with slower streams below its
      last_stream_id still in flight;
   5. the TCP connection reset with streams in flight;
   6. answers that never come, past `timeout = 300ms`;
   7. SETTINGS_MAX_CONCURRENT_STREAMS 2 with concurrency 32: never more
      than 2 streams at once once the client has acknowledged the setting,
      nor before (RFC 9113 allows a client that, but nginx refuses the
      excess);
   8. SETTINGS_INITIAL_WINDOW_SIZE 1024 with ~200 KB bodies: flow control
      on every request, bodies intact;
   9. one record answered 400: it lands in the dead-letter file with the
      status and the body excerpt as its reason, and nothing else does;
  10. connections refused for 1 s, then accepted again;
  11. answers (200, END_STREAM, then RST_STREAM NO_ERROR) before the body
      is read: delivered without errors, except with libcurl 7.88, which
      reports a stream error (doc/http-sink.md): there they are retried;
  12. answers with 100 KB of headers: the native engine resets such a
      stream past 64 KiB and retries it;
  13. basic, bearer and AWS SigV4 auth, checked by the receiver (SigV4 with
      :authority as the signed host), and a wrong token answered 401 with
      every record dead-lettered.
Besides, for the native engine, refused streams (3, 4) must not take the
endpoint out of the rotation.

When `spillway --help-plugin http` lists an `engine` option, every scenario
runs once per value it takes (native, which speaks HTTP/2 with nghttp2,
and libcurl); otherwise once with the default. Skipped when python3-h2 is
not installed.
"""

import base64
import hashlib
import importlib.util
import json
import os
import re
import subprocess
import time
import urllib.request

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()
H2RECEIVER = os.path.join(H.SRCDIR, "tests", "h2-receiver.py")
# Never through a proxy from the environment: the receiver is on loopback.
URLOPEN = urllib.request.build_opener(urllib.request.ProxyHandler({})).open


class H2Receiver(H.Receiver):
    """H.Receiver, started from tests/h2-receiver.py."""

    def __init__(self, name, *args):
        self.log = H.path(name + ".log")
        self.portfile = H.path(name + ".port")
        self.errpath = H.path(name + ".stderr")
        self.err = open(self.errpath, "w")
        self.proc = H.spawn([H.PYTHON3, H2RECEIVER, "--port", "0", "--port-file", self.portfile,
                             "--log", self.log] + list(args), stdout=self.err, stderr=self.err)
        end = time.monotonic() + 10
        while not os.path.exists(self.portfile):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError("the h2 receiver did not start: " + open(self.errpath).read()[-2000:])
            time.sleep(0.02)
        self.port = int(open(self.portfile).read())
        self.url = "http://127.0.0.1:%d" % self.port

    def stats(self):
        try:
            return json.loads(URLOPEN(self.url + "/_control/stats", timeout=5).read())
        except OSError as e:
            return {"error": str(e)}

    def stderr_tail(self, n=15):
        self.err.flush()
        with open(self.errpath) as f:
            return "\n".join(f.read().splitlines()[-n:])


def engines():
    """The engines to run each scenario with: every value of the http
    sink's `engine` option, or [None] (the default) when it has none."""
    out = subprocess.run([H.SPILLWAY, "--help-plugin", "http"], capture_output=True, text=True,
                         timeout=30).stdout
    m = re.search(r"^\s*engine \(enum: ([\w|.-]+)", out, re.M)
    return m.group(1).split("|") if m else [None]


class Result:
    pass


def scenario(name, engine, count, faults=(), rargs=(), batch=None, sink=(), pipeline=(), source=(),
             path="/ingest", rejected=(), exercised=None, tee=False, header_seq=False, timeout=30):
    """Runs one pipeline to a fresh receiver and makes the checks every
    scenario shares; returns what the scenario-specific checks need."""
    tag = "%s [%s]" % (name, engine or "default engine")
    fname = "%s-%s" % (name, engine or "default")
    args = list(rargs)
    for f in faults:
        args += ["--fault", f]
    rcv = H2Receiver(fname, *args)
    lines = ["url = %s%s" % (rcv.url, path), "protocol = h2c", "failure_threshold = 3", "cooldown = 300ms"]
    if engine:
        lines.append("engine = %s" % engine)
    teepath = H.path(fname + ".tee") if tee else None
    ini = H.ini(fname + ".ini", lines + list(sink), count=count, batch=batch, pipeline_lines=list(pipeline),
                source_lines=list(source), tee=teepath)
    t0 = time.monotonic()
    r = H.run(ini, timeout=timeout)
    took = time.monotonic() - t0
    stats = rcv.stats()
    rcv.stop()
    entries = rcv.entries()
    gen = r.stats("source.gen")
    web = r.stats("sink.web")
    context = ["spillway exit %s; its log ends:" % r.rc, r.tail(20), "generator: %s" % gen,
               "sink: %s" % {k: v for k, v in web.items() if v}, "receiver: %s" % stats,
               "receiver stderr:", rcv.stderr_tail()]
    shown = []

    class Why:
        """The scenario's context: tap.ok prints a diagnostic with str() when
        a check fails, and this one says it all once only."""
        def __str__(self):
            if shown:
                return "(%s: the context is above)" % tag
            shown.append(True)
            return "\n".join(context)
    why = Why()

    tap.ok(r.rc == 0 and gen.get("generated") == count and gen.get("delivered") == count,
           "%s: the generator's %d records are all answered delivered (%.1f s)" % (tag, count, took), why)

    seen = H.delivered_seqs(entries)
    if header_seq:
        # Answered before the body was read: the x-seq header says which record it was.
        for e in entries:
            if e.get("early") and 200 <= e["status"] < 300 and e["headers"].get("x-seq", "").isdigit():
                s = int(e["headers"]["x-seq"])
                seen[s] = seen.get(s, 0) + 1
    missing = [s for s in range(count) if s not in seen and s not in rejected]
    tap.ok(not missing, "%s: every one of %d records arrived in a 2xx-answered request%s"
           % (tag, count - len(rejected), " (but the rejected)" if rejected else ""),
           "missing %d: %s" % (len(missing), missing[:20]), why)

    authority = "127.0.0.1:%d" % rcv.port
    bad = [e for e in entries if e.get("authority") != authority or e.get("scheme") != "http"
           or e.get("method") != "POST"]
    tap.ok(stats.get("protocol_errors") == 0 and stats.get("streams_over_limit") == 0 and not bad
           and stats.get("internal_errors") == 0,
           "%s: every request well-formed HTTP/2 (no protocol error, POST, :scheme http, :authority %s)"
           % (tag, authority),
           "protocol errors (see protocol_error in the entries): %s; over the stream limit: %s; "
           "receiver bugs (see its stderr): %s"
           % (stats.get("protocol_errors"), stats.get("streams_over_limit"), stats.get("internal_errors")),
           *(["first bad entry: %s" % json.dumps(bad[0])[:600]] if bad else []),
           *[json.dumps(e)[:600] for e in entries if e.get("protocol_error")][:5], why)

    if exercised:
        n = stats.get("actions", {}).get(exercised, 0)
        tap.ok(n > 0, "%s: the fault was exercised (%s applied %d time(s))" % (tag, exercised, n), why)

    dups = sum(c - 1 for c in seen.values() if c > 1)
    tap.diag("%s: %d request(s) on %d connection(s), %d duplicate record(s), at most %d stream(s) at once, "
             "%.1f s" % (tag, len(entries), stats.get("connections", 0), dups,
                         stats.get("max_concurrent_streams", 0), took))
    res = Result()
    res.tag, res.run, res.entries, res.stats, res.web, res.why, res.rcv = tag, r, entries, stats, web, why, rcv
    res.tee = teepath
    return res


def ok_entries(res):
    return [e for e in res.entries if 200 <= e["status"] < 300]


def check_intact(res, content_type, templated=False):
    """Bodies as sent: lengths, hashes, content type, and the records
    themselves against the file route's copy."""
    tag = res.tag
    bad = []
    got = set()
    for e in ok_entries(res):
        body = e.get("body", "").encode()
        cl = e["headers"].get("content-length")
        if (cl is None or int(cl) != e["wire_len"] or e["len"] != e["wire_len"] or len(body) != e["len"]
                or hashlib.sha256(body).hexdigest() != e["sha256"]):
            bad.append("length or hash: content-length %s, DATA %d, body %d" % (cl, e["wire_len"], e["len"]))
        ct = e["headers"].get("content-type")
        if ct != content_type:
            bad.append("content-type %r, want %r" % (ct, content_type))
        recs = H.records_of(body)
        got.update(recs)
        if templated:
            key = json.loads(recs[0])["key"] if len(recs) == 1 else None
            want = key and "/in/%s/%s" % (key[0], base64.b64decode(key[2]).hex())
            if e["path"] != want:
                bad.append("path %r, want %r" % (e["path"], want))
    tap.ok(not bad, "%s: content-length, SHA-256 and content-type %s as sent%s"
           % (tag, content_type, ", path rendered per record" if templated else ""),
           "%d bad: %s" % (len(bad), bad[:5]))
    with open(res.tee, "rb") as f:
        want = set(H.records_of(f.read()))
    # The file route sees every attempt's encoding; the receiver only those sent before their
    # deadline (a loaded machine lets some expire in the queue, and the resent record differs).
    # Every record that arrived must be one the codec wrote; that each one arrived is checked
    # by sequence number above.
    tap.ok(got and got <= want, "%s: the records are byte for byte the codec's (%d)" % (tag, len(got)),
           "received %d distinct records, %d not among the file route's %d"
           % (len(got), len(got - want), len(want)))


def run_engine(engine):
    libcurl = engine in (None, "libcurl")

    # 1. Bodies intact, one record per request and batched.
    res = scenario("intact-single", engine, 2000, rargs=["--log-bodies"], path="/in/${namespace}/${digest}",
                   sink=["concurrency = 32"], source=["namespaces = test,prod"], tee=True)
    check_intact(res, "application/json", templated=True)
    res = scenario("intact-batched", engine, 5000, rargs=["--log-bodies"], batch=100, tee=True)
    check_intact(res, "application/x-ndjson")

    # 2.-6. Faults: every record still arrives.
    scenario("503-retry-after", engine, 2000, ["status=503,retry_after=1,start=0.2,for=1.2,body=overloaded"],
             batch=20, source=["rate = 2000"], exercised="status")
    refused = scenario("refused-stream", engine, 1000, ["rst=REFUSED_STREAM,every=7"], batch=5,
                       exercised="rst")
    # Slow answers keep streams below the GOAWAY's last_stream_id in flight.
    goaway = scenario("goaway", engine, 1000, ["goaway,after=10,every=40,count=5", "delay=100,every=3"],
                      batch=5, source=["rate = 2000"], exercised="goaway")
    if not libcurl:
        # Refused streams were not processed (RFC 9113, 8.7): the server is busy or going
        # away, not failing, so the endpoint stays in the rotation.
        for res in (refused, goaway):
            tap.ok(res.web.get("endpoint_down", -1) == 0,
                   "%s: refused streams do not take the endpoint out" % res.tag,
                   "sink counters: %s" % res.web)
    scenario("connection-reset", engine, 1000, ["reset,after=10,every=30,count=5"], batch=5,
             source=["rate = 2000"], exercised="reset")
    scenario("hang", engine, 500, ["hang,every=15,count=8"], batch=5, sink=["timeout = 300ms"],
             exercised="hang")

    # 7. Two streams at most per connection, 32 requests wanted at once.
    res = scenario("max-streams-2", engine, 1000, rargs=["--max-streams", "2"], sink=["concurrency = 32"])
    st = res.stats
    tap.ok(st.get("max_concurrent_streams_acked", 0) <= 2,
           "%s: never more than 2 streams at once after the client acknowledged our SETTINGS" % res.tag,
           "saw %s" % st.get("max_concurrent_streams_acked"))
    # RFC 9113 lets a client open streams before the server's SETTINGS
    # arrive, but nginx counts them against its limit and refuses the rest;
    # the native engine waits for them (libcurl does too).
    tap.ok(st.get("max_concurrent_streams", 0) <= 2,
          "%s: never more than 2 streams at once, even before our SETTINGS reached the client" % res.tag,
          "saw %s on one connection" % st.get("max_concurrent_streams"))

    # 8. Flow control on every request: 1 KiB stream windows, ~200 KB bodies.
    res = scenario("small-window", engine, 1000, rargs=["--initial-window", "1024", "--log-bodies"], batch=100,
                   source=["bins = 2", "bin_types = string", "value_size = 2KiB"],
                   sink=["timeout = 10s"], tee=True)
    check_intact(res, "application/x-ndjson")
    big = [e["wire_len"] for e in ok_entries(res)]
    tap.ok(big and max(big) >= 150000, "%s: bodies of ~200 KB (largest %d bytes)" % (res.tag, max(big or [0])))

    # 9. A record the destination refuses for good lands in the dead-letter file.
    dlq = H.path("dead-%s.ndjson" % (engine or "default"))
    res = scenario("rejected-record", engine, 300, ["status=400,seq=17,body=seq-17-is-poisoned"],
                   pipeline=["dead_letter = %s" % dlq], sink=["on_reject = dead-letter"], rejected=(17,))
    lines = H.dead_letters(dlq)
    tag = res.tag
    tap.ok(len(lines) == 1, "%s: exactly one dead letter" % tag, "got %d" % len(lines))
    if lines:
        dl = lines[0]
        rec = json.loads(H.payload(dl))
        seq = [b["value"] for b in rec.get("bins", []) if b["name"] == "seq"]
        tap.ok(seq == [17], "%s: the dead letter is the record with seq 17" % tag, "got %s" % seq)
        tap.ok(dl.get("reason") == "HTTP 400: seq-17-is-poisoned",
               "%s: its reason is the status and the body excerpt" % tag, "got %r" % dl.get("reason"))
    tap.ok(res.web.get("dead_lettered") == 1, "%s: counted as dead-lettered" % tag, "sink: %s" % res.web)

    # 10. Nobody listening for a second.
    scenario("refused-1s", engine, 2000, ["refuse,start=0.4,for=1"], batch=10, source=["rate = 2000"])

    # 11. Answered before the body was read. The bodies (~100 KB) outgrow
    # the default 64 KiB stream window, and --initial-window 4096 keeps
    # the client from sending them whole on a reused connection, so the
    # answer really comes first.
    res = scenario("early-answer", engine, 120, ["early,after=2,every=4,count=12"],
                   rargs=["--initial-window", "4096"], header_seq=True,
                   sink=["headers = x-seq: ${key}", "timeout = 10s"],
                   source=["bins = 2", "bin_types = string", "value_size = 96KiB"], exercised="early")
    unread = sum(1 for e in res.entries if e.get("body_unread"))
    tap.ok(unread > 0, "%s: some answers came while the client was still sending the body (%d)" % (res.tag, unread))
    if libcurl:
        tap.diag("%s: libcurl 7.88 reports an answer before the body as a stream error: %d request(s) retried"
                 % (res.tag, res.web.get("request_retries", 0)))
    else:
        errs = {k: res.web.get(k, 0) for k in ("http_errors", "http_retry", "request_retries")}
        tap.ok(not any(errs.values()), "%s: an answer before the body counts as delivered, no errors" % res.tag,
               "sink: %s" % errs, res.why)

    # 12. A server that sends headers without end: the stream is reset past 64 KiB, retried.
    # (100 KB: within the 8 CONTINUATION frames Debian's nghttp2 allows before it ends the
    # whole connection, CVE-2024-28182.)
    res = scenario("huge-headers", engine, 300, ["bighead=100000,after=3,every=10"], batch=5,
                   exercised="bighead")
    if not libcurl:
        tap.ok("more than 64 KiB of headers" in res.run.err,
               "%s: answers with more than 64 KiB of headers are refused and retried" % res.tag,
               res.run.tail())

    # 13. Credentials over HTTP/2, checked by the receiver (receiver.py's
    # checker; SigV4 signs host, which HTTP/2 carries as :authority).
    secret = "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY:eu-west-1:execute-api"
    for name, rargs, sink in (
            ("auth-basic", ["--basic", "alice:s3cr:et"], ["auth = basic", "username = alice", "password = s3cr:et"]),
            ("auth-bearer", ["--bearer", "tok-123"], ["auth = bearer", "token = tok-123"]),
            ("auth-sigv4", ["--sigv4", secret], ["auth = aws-sigv4", "aws_region = eu-west-1",
                                                "aws_access_key_id = AKIDEXAMPLE",
                                                "aws_secret_access_key = " + secret.split(":")[1]])):
        res = scenario(name, engine, 200, rargs=rargs, sink=sink, path="/prod/${set}/items?z=1&a=${key}")
        tap.ok(set(res.stats.get("statuses", {})) == {"200"}, "%s: every request passed the check" % res.tag,
               "statuses %s" % res.stats.get("statuses"))
    # The check is real: the wrong token is refused (401, rejected into the dead-letter file).
    dlq = H.path("dead-auth-%s.ndjson" % (engine or "default"))
    res = scenario("auth-wrong-token", engine, 20, rargs=["--bearer", "tok-123"],
                   sink=["auth = bearer", "token = tok-999", "on_reject = dead-letter"],
                   pipeline=["dead_letter = %s" % dlq], rejected=tuple(range(20)))
    reasons = {dl.get("reason") for dl in H.dead_letters(dlq)}
    tap.ok(reasons == {"HTTP 401: bearer token required"} and res.stats.get("statuses") == {"401": 20},
           "%s: a wrong token is answered 401 and every record dead-lettered" % res.tag,
           "reasons %s, statuses %s" % (reasons, res.stats.get("statuses")))


def main():
    if subprocess.run([H.PYTHON3, "-c", "import h2.connection"], capture_output=True).returncode != 0:
        tap.skip("HTTP/2 fault injection", "python3-h2 is not installed (apt-get install python3-h2)")
        tap.done()
    for engine in engines():
        run_engine(engine)
    tap.done()


main()

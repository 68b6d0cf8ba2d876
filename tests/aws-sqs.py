#!/usr/bin/python3
"""tests/aws-sqs.py: the `sqs` sink against the SQS fake of
tests/aws-fakes.py (SendMessageBatch in the AWS JSON protocol, every
signature recomputed by its SigV4 verifier): the request shape and limits
(10 entries, 1 MiB), Base64 for binary codecs, MD5OfMessageBody,
throttling and partial failures resending only what failed, sender faults
dead-lettered with code and message, FIFO deduplication, credentials held
down when wrong, rotating IMDS credentials mid-stream, the verifier's own
refusals, the example pipeline, and zero loss end to end from
spillway-xdrgen through a FIFO queue with a throttling storm, failures
and a SIGKILL: every record stored exactly once, in order per group. TAP."""

import datetime
import hashlib
import hmac
import importlib.util
import json
import os
import signal
import subprocess
import time
import urllib.request

_spec = importlib.util.spec_from_file_location(
    "awslib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "aws-test-lib.py"))
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)
H = A.H
T = H.Tap()

QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/spillway"
FIFO = QUEUE + ".fifo"
TOKEN = "IQoJb3JpZ2luX2VjEStaticSessionTokenForTests=="
A.SECRETS.add(TOKEN)


def sqs(name, *args):
    return A.Fake(name, "sqs", "--queue", "spillway", "--queue", "spillway.fifo", *args)


def creds_env(fake, **kw):
    e = A.env(AWS_ACCESS_KEY_ID=A.AKID, AWS_SECRET_ACCESS_KEY=A.SECRET, AWS_SESSION_TOKEN=TOKEN,
              AWS_ENDPOINT_URL_SQS=fake.url)
    e.update({k: v for k, v in kw.items() if v is not None})
    for k, v in kw.items():
        if v is None:
            e.pop(k, None)
    return e


def sqs_ini(name, lines=(), count=300, batch=100, codec="json", pipeline=(), source=(), queue=QUEUE,
            region=A.REGION, service=None):
    """service=None: no auth or aws_service lines, the sink's defaults (aws-sigv4, sqs)."""
    signing = ["auth = aws-sigv4", "aws_service = %s" % service] if service else []
    return A.sink_ini(name + ".ini", "sqs",
                      ["queue_url = %s" % queue, "aws_region = %s" % region] + signing
                      + ["batch_max_records = %d" % batch] + list(lines),
                      count=count, codec=codec, pipeline=list(pipeline), source=list(source))


def stored(fake):
    return [e for e in fake.entries() if e.get("kind") == "stored"]


def requests(fake):
    return [e for e in fake.entries() if e.get("kind") == "sqs"]


def once_each(name, fake, count, exclude=()):
    seen = {}
    for e in stored(fake):
        for s in e["seqs"]:
            seen[s] = seen.get(s, 0) + 1
    missing = [s for s in range(count) if s not in seen and s not in exclude]
    dups = [s for s, c in seen.items() if c > 1]
    T.ok(not missing and not dups, "%s: every record stored exactly once" % name,
         "missing %d %s, duplicated %d %s" % (len(missing), missing[:10], len(dups), dups[:10]))


def run(ini, env, timeout=90):
    r = A.run(ini, env, timeout)
    leaks = A.leaked(r)
    if leaks:
        T.ok(False, "no secret in the output", leaks)
    return r


# 1. A standard queue, JSON: 10 entries a request, attributes, every message stored once.
f = sqs("basic")
r = run(sqs_ini("basic", ["message_attributes = namespace,set,msg,lut"], count=500), creds_env(f))
rq = requests(f)
T.ok(r.rc == 0 and rq and all(e["status"] == 200 for e in rq), "standard: every request answered 200",
     r.tail(), [(e["status"], e.get("code")) for e in rq if e["status"] != 200][:3])
once_each("standard", f, 500)
st = stored(f)
T.ok(len(rq) == 50, "standard: 500 records in 50 SendMessageBatch requests of 10", len(rq))
T.ok(st and all(set(e["attrs"]) == {"namespace", "set", "msg", "lut"} and e["attrs"]["msg"] == "write"
                and e["attrs"]["namespace"] == "test" and int(e["attrs"]["lut"]) > 0 for e in st),
     "standard: message attributes namespace, set, msg, lut", st[:1])
T.ok(all(e["group"] is None and e["dedup"] is None for e in st), "standard: no group or dedup ids")
T.ok(all(e["token"] == TOKEN for e in rq), "standard: the session token sent with every request")
f.stop()

# 2. A binary codec: Base64 bodies, MD5 of the Base64 text matches.
f = sqs("binary")
r = run(sqs_ini("binary", count=200, codec="msgpack"), creds_env(f))
st = stored(f)
T.ok(r.rc == 0 and len(st) == 200 and all(e["b64"] for e in st) and r.stats("sink.aws").get("delivered") == 200,
     "msgpack: 200 messages stored, Base64 bodies", r.tail())
f.stop()

# 3. The byte limit: ~300 KB records, at most 3 a request; a record over 1 MiB dead-lettered.
f = sqs("bytes")
r = run(sqs_ini("bytes", count=40, batch=10, lines=["timeout = 9s"], pipeline=["event_deadline = 9s"],
                source=["value_size = 300000", "bins = 2", "bin_types = string"]), creds_env(f))
rq = requests(f)
T.ok(r.rc == 0 and all(e["status"] == 200 for e in rq) and len(rq) >= 14,
     "1 MiB per request: never BatchRequestTooLong, %d requests for 40 records" % len(rq), r.tail())
once_each("1 MiB", f, 40)
f.stop()
f = sqs("huge")
dl = H.path("huge.dlq")
r = run(sqs_ini("huge", count=5, batch=5, source=["value_size = 1048576", "bins = 2", "bin_types = string"],
                pipeline=["dead_letter = %s" % dl]), creds_env(f))
d = H.dead_letters(dl)
T.ok(len(d) == 5 and all("too large" in x["reason"] for x in d) and not requests(f),
     "a message over 1 MiB: dead-lettered 'too large', never sent", [x["reason"] for x in d[:1]], r.tail())
f.stop()

# 4. Throttling storm and partial failures: only failed entries resent, nothing duplicated.
f = sqs("storm", "--throttle", "0.5:1.5", "--fail-ratio", "0.2")
dl = H.path("storm.dlq")
r = run(sqs_ini("storm", count=1000, pipeline=["dead_letter = %s" % dl, "event_deadline = 8s"],
                source=["rate = 400"]), creds_env(f))
rq = requests(f)
T.ok(any(e.get("code") == "ThrottlingException" for e in rq) and any(e["failed"] for e in rq)
     and not H.dead_letters(dl), "storm: throttled (HTTP 400) and failed entries retried, none dead-lettered",
     r.tail())
once_each("storm", f, 1000)
T.ok(r.stats("sink.aws").get("sqs_throttled", 0) > 0 and r.stats("sink.aws").get("sqs_entries_failed", 0) > 0,
     "storm: counted (sqs_throttled, sqs_entries_failed)", r.stats("sink.aws"))
f.stop()

# 5. A sender fault: that message dead-lettered with SQS's code and message, the rest stored.
f = sqs("sender", "--sender-fault", "42")
dl = H.path("sender.dlq")
r = run(sqs_ini("sender", count=300, pipeline=["dead_letter = %s" % dl]), creds_env(f))
d = H.dead_letters(dl)
T.ok(len(d) == 1 and "InvalidMessageContents" in d[0]["reason"] and "Invalid binary character" in d[0]["reason"],
     "SenderFault=true: the one message dead-lettered with code and message",
     [x["reason"] for x in d], r.tail())
once_each("sender fault", f, 300, exclude={42})
f.stop()

# 6. MD5OfMessageBody checked: mismatches resent.
f = sqs("md5", "--bad-md5", "7")
r = run(sqs_ini("md5", count=200), creds_env(f))
T.ok(r.stats("sink.aws").get("sqs_md5_mismatches") == 7, "MD5OfMessageBody: 7 mismatches seen and resent",
     r.stats("sink.aws"))
once_each("md5", f, 200)
f.stop()

# 7. FIFO: group and dedup ids from digest and LUT; failed entries resent with the same ids,
# at most one entry per group a request, nothing stored twice.
f = sqs("fifo", "--fail-ratio", "0.3")
r = run(sqs_ini("fifo", count=300, queue=FIFO, pipeline=["event_deadline = 8s"]), creds_env(f))
st = stored(f)
T.ok(r.rc == 0 and r.stats("sink.aws").get("sqs_entries_failed", 0) > 0,
     "FIFO: entries failed and were resent", r.tail())
once_each("FIFO", f, 300)
T.ok(all(len(e["group"]) == 40 and e["dedup"].startswith(e["group"] + "-") for e in st),
     "FIFO: MessageGroupId the digest, MessageDeduplicationId digest-LUT", st[:1])
f.stop()

# 8. Credentials or scope wrong: held down loudly, nothing dead-lettered.
# (A wrong aws_service is a --check error now: see 11.)
for what, kw, ini_kw in (("a wrong secret key", {"AWS_SECRET_ACCESS_KEY": "not" + A.SECRET}, {}),
                         ("no session token", {"AWS_SESSION_TOKEN": None}, {}),
                         ("no such queue", {}, {"queue": QUEUE + "-nope"})):
    tag = "down-" + what.replace(" ", "-")
    f = sqs(tag)
    dl = H.path(tag + ".dlq")
    if os.path.exists(dl):
        os.unlink(dl)
    ini = sqs_ini(tag, count=100, batch=10, pipeline=["dead_letter = %s" % dl, "event_deadline = 2s"],
                  source=["rate = 50"], **ini_kw)
    p = A.start(ini, creds_env(f, **kw))
    time.sleep(4)
    p.send_signal(signal.SIGTERM)
    rr = A.finish(p)
    rq = requests(f)
    T.ok("holding the route" in rr.err and not H.dead_letters(dl) and 0 < len(rq) <= 6,
         "%s: held down (%d requests, probes only), nothing dead-lettered" % (what, len(rq)),
         rr.tail(), sorted({e.get("code") for e in rq}))
    f.stop()

# 9. The verifier itself refuses a wrong signature, a missing session token, a skewed clock.
f = sqs("verify")


def signed(body, when, token=TOKEN, secret=A.SECRET):
    amz = when.strftime("%Y%m%dT%H%M%SZ")
    day = amz[:8]
    host = "127.0.0.1:%d" % f.port
    hdrs = {"content-type": "application/x-amz-json-1.0", "host": host, "x-amz-date": amz,
            "x-amz-target": "AmazonSQS.SendMessageBatch"}
    if token:
        hdrs["x-amz-security-token"] = token
    names = sorted(hdrs)
    creq = "\n".join(["POST", "/", "", "".join("%s:%s\n" % (n, hdrs[n]) for n in names), ";".join(names),
                      hashlib.sha256(body).hexdigest()])
    scope = "%s/%s/sqs/aws4_request" % (day, A.REGION)
    sts = "\n".join(["AWS4-HMAC-SHA256", amz, scope, hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (day, A.REGION, "sqs", "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    sig = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    hdrs["authorization"] = "AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s" % (
        A.AKID, scope, ";".join(names), sig)
    del hdrs["host"]
    req = urllib.request.Request(f.url + "/", data=body, headers=hdrs, method="POST")
    try:
        resp = urllib.request.urlopen(req, timeout=5)
        return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


body = json.dumps({"QueueUrl": QUEUE, "Entries": [{"Id": "a", "MessageBody": "{\"seq\": 1}"}]}).encode()
now = datetime.datetime.now(datetime.timezone.utc)
s0, a0 = signed(body, now)
s1, a1 = signed(body, now, secret=A.SECRET + "x")
s2, a2 = signed(body, now, token=None)
s3, a3 = signed(body, now - datetime.timedelta(minutes=6))
s4, a4 = signed(body, now - datetime.timedelta(minutes=4))
T.ok(s0 == 200 and a0["Successful"][0]["MD5OfMessageBody"] == hashlib.md5(b'{"seq": 1}').hexdigest(),
     "verifier: a correct signature is accepted, MD5OfMessageBody the body's", a0)
T.ok(s1 == 403 and a1["__type"].endswith("SignatureDoesNotMatch"), "verifier: a wrong signature: 403 SignatureDoesNotMatch", a1)
T.ok(s2 == 403 and "security token" in a2["message"], "verifier: temporary keys without a session token: 403", a2)
T.ok(s3 == 403 and "Signature expired" in a3["message"] and s4 == 200,
     "verifier: a clock 6 minutes off refused, 4 minutes accepted", a3, a4)
fb = json.dumps({"QueueUrl": FIFO, "Entries": [{"Id": "a", "MessageBody": "{\"seq\": 5}",
                 "MessageGroupId": "g", "MessageDeduplicationId": "g-1"}]}).encode()
s5, a5 = signed(fb, now)
s6, a6 = signed(fb, now)
T.ok(s5 == 200 and s6 == 200 and a5["Successful"][0]["MessageId"] == a6["Successful"][0]["MessageId"]
     and len([e for e in stored(f) if e["queue"] == "spillway.fifo"]) == 1,
     "fake FIFO: the same deduplication id twice is accepted once, stored once", a5, a6)
f.stop()

# 10. Credentials from IMDSv2 rotating every few seconds mid-stream: every token one IMDS issued
# and unexpired when used (the verifier checks), nothing lost.
imds = A.Fake("imds", "imds", "--lifetime", "6")
f = sqs("rotate", "--tokens-log", imds.log)
r = run(sqs_ini("rotate", count=400, batch=10, source=["rate = 40"]),
        creds_env(f, AWS_ACCESS_KEY_ID=None, AWS_SECRET_ACCESS_KEY=None, AWS_SESSION_TOKEN=None,
                  AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=imds.url))
rq = requests(f)
toks = {e["token"] for e in rq if e["status"] == 200}
T.ok(r.rc == 0 and all(e["status"] == 200 for e in rq) and len(toks) >= 2,
     "rotating credentials: %d session tokens used, every request accepted" % len(toks), r.tail(),
     [(e["status"], e.get("code")) for e in rq if e["status"] != 200][:3])
once_each("rotating credentials", f, 400)
imds.stop()
f.stop()

# 11. The example pipeline passes --check with only its queue set.
ex = os.path.join(H.SRCDIR, "examples", "xdr-to-sqs.ini")
e = {k: v for k, v in os.environ.items() if not k.startswith("SPILLWAY_") or k == "SPILLWAY_PLUGIN_PATH"}
e = {k: v for k, v in e.items() if not k.startswith("AWS_")}
e["SPILLWAY_SQS_QUEUE_URL"] = QUEUE
e["AWS_REGION"] = "eu-west-1"
p = subprocess.run([H.SPILLWAY, "--check", "-c", ex], capture_output=True, text=True, env=e, timeout=30)
T.ok(p.returncode == 0, "examples/xdr-to-sqs.ini passes --check with SPILLWAY_SQS_QUEUE_URL and AWS_REGION",
     p.stderr[-600:])

A.check_signing_refused(T, ex, "sqs", e)

# 12. Zero loss end to end: spillway-xdrgen -> the example pipeline -> a FIFO queue with a
# throttling storm and 20% failed entries, SIGKILL mid-stream and a restart: every record
# acknowledged, stored exactly once (SQS's deduplication takes XDR's resends), and then the
# same keys again: in order per group.
if os.path.exists(os.path.join(H.BUILDDIR, "plugins", "source-xdr.la")):
    f = sqs("e2e", "--throttle", "1:1", "--fail-ratio", "0.2")
    port = H.free_port()
    env = creds_env(f)
    env.update({"SPILLWAY_SQS_QUEUE_URL": FIFO, "SPILLWAY_LISTEN": "127.0.0.1:%d" % port,
                "SPILLWAY_BATCH": "50", "SPILLWAY_DEAD_LETTER": H.path("e2e.dlq"),
              "SPILLWAY_ADMIN": "127.0.0.1:%d" % H.free_port(),
                "AWS_REGION": A.REGION, "SPILLWAY_PLUGIN_PATH": os.environ.get("SPILLWAY_PLUGIN_PATH", "")})

    def start():
        return H.spawn([H.SPILLWAY, "-c", ex], stdout=subprocess.DEVNULL,
                       stderr=open(H.path("e2e.stderr"), "a"), env=env)

    sp = start()
    # xdrgen stamps a record's LUT when it sends it; XDR resends a record unchanged with its LUT.
    # Frames dumped once and replayed keep theirs, as XDR's resends do.
    XG = os.path.join(H.BUILDDIR, "spillway-xdrgen")
    dump1, dump2 = H.path("e2e-1.hex"), H.path("e2e-2.hex")
    subprocess.run([XG, "-n", "8000", "--dump", dump1], check=True, capture_output=True, timeout=60)
    time.sleep(0.01)
    subprocess.run([XG, "-n", "2000", "--dump", dump2], check=True, capture_output=True, timeout=60)
    xg = subprocess.Popen([XG, "-c", "127.0.0.1:%d" % port, "--reconnect-min", "50ms", "--json", "-C", "4",
                           "--replay", dump1, "-r", "2500", "--max-time", "100"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.2)
    sp.send_signal(signal.SIGKILL)
    sp.wait()
    time.sleep(0.3)
    sp = start()
    out, err = xg.communicate(timeout=140)
    try:
        rep = json.loads(out)
    except ValueError:
        rep = {}
    T.ok(xg.returncode == 0 and rep.get("acknowledged") == 8000,
         "xdrgen -> FIFO: 8000 records through throttling, failures and a SIGKILL: all acknowledged",
         out[-300:], err[-300:])
    once_each("xdrgen -> FIFO", f, 8000)
    rc2, rep2, err2 = A.xdrgen(port, "-C", "2", "--replay", dump2, "--max-time", "60")
    sp.send_signal(signal.SIGTERM)
    sp.wait(30)
    st = stored(f)
    groups = {}
    for e in st:
        groups.setdefault(e["group"], []).append(int(e["dedup"].rsplit("-", 1)[1]))
    twice = [g for g, luts in groups.items() if len(luts) == 2]
    T.ok(rc2 == 0 and len(twice) == 2000 and all(l == sorted(l) and len(set(l)) == len(l) for l in groups.values()),
         "xdrgen -> FIFO: the same 2000 keys again: new versions stored after the old, per group in order",
         len(twice), err2[-300:])
    T.ok(not H.dead_letters(H.path("e2e.dlq")), "xdrgen -> FIFO: nothing dead-lettered")
    f.stop()
else:
    T.skip("xdrgen end to end", "the xdr source is not built")

T.done()

#!/usr/bin/python3
"""tests/aws-lambda.py: the `lambda` sink (Invoke API) against the Lambda
fake of tests/aws-fakes.py, which verifies every SigV4 signature and runs
examples/lambda/handler.py: the payload envelope and its stable ids,
binary codecs, partial-batch answers retrying only what failed, a poison
record bisected to the dead-letter file with the function's message,
throttling with retryAfterSeconds, 409/500/502 retried, payloads over the
synchronous limit split, Event invocations, ARNs and qualifiers,
configuration errors held down, the example pipeline, and zero loss from
spillway-xdrgen through all of it with a SIGKILL. TAP."""

import importlib.util
import json
import os
import re
import signal
import subprocess
import time

_spec = importlib.util.spec_from_file_location(
    "awslib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "aws-test-lib.py"))
A = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(A)
H = A.H
T = H.Tap()
TOKEN = "IQoJb3JpZ2luX2VjELambdaSessionTokenForTests=="
A.SECRETS.add(TOKEN)


def lam(name, *args):
    return A.Fake(name, "lambda", "--function", "spillway", *args)


def env_for(fake, **kw):
    e = A.env(AWS_ACCESS_KEY_ID=A.AKID, AWS_SECRET_ACCESS_KEY=A.SECRET, AWS_SESSION_TOKEN=TOKEN,
              AWS_ENDPOINT_URL_LAMBDA=fake.url, AWS_REGION=A.REGION)
    for k, v in kw.items():
        if v is None:
            e.pop(k, None)
        else:
            e[k] = v
    return e


def lam_ini(name, lines=(), count=300, batch=50, codec="json", pipeline=(), source=(), function="spillway",
            service=None):
    """service=None: no auth or aws_service lines, the sink's defaults (aws-sigv4, lambda)."""
    signing = ["auth = aws-sigv4", "aws_service = %s" % service] if service else []
    return A.sink_ini(name + ".ini", "lambda",
                      ["function = %s" % function, "aws_region = %s" % A.REGION] + signing
                      + ["batch_max_records = %d" % batch] + list(lines),
                      count=count, codec=codec, pipeline=list(pipeline), source=list(source))


def invocations(fake):
    return [e for e in fake.entries() if e.get("kind") == "invoke"]


def processed(fake):
    seen = {}
    for e in invocations(fake):
        if e["status"] in (200, 202) and not e.get("function_error"):
            for s in e["seqs"]:
                seen[s] = seen.get(s, 0) + 1
    return seen


def exactly_once(name, fake, count, exclude=()):
    seen = processed(fake)
    missing = [s for s in range(count) if s not in seen and s not in exclude]
    dups = [s for s, c in seen.items() if c > 1]
    T.ok(not missing and not dups, "%s: every record processed exactly once" % name,
         "missing %d %s, twice %d %s" % (len(missing), missing[:10], len(dups), dups[:10]))


def seqs_of(body):
    return [int(m.group(1) or m.group(2)) for m in re.finditer(
        rb'"name":\s*"seq",\s*"type":\s*"int",\s*"value":\s*(\d+)|"seq":\s*(\d+)', body)]


def run(ini, env, timeout=90):
    r = A.run(ini, env, timeout)
    if A.leaked(r):
        T.ok(False, "no secret in the output", A.leaked(r))
    return r


# 1. RequestResponse, JSON records in the envelope with stable ids.
f = lam("basic")
r = run(lam_ini("basic", count=500), env_for(f))
inv = invocations(f)
T.ok(r.rc == 0 and inv and all(e["status"] == 200 for e in inv), "json: every invocation 200", r.tail())
exactly_once("json", f, 500)
ids = [i for e in inv for i in e["ids"]]
T.ok(len(inv) == 10 and all(re.match(r"^[0-9a-f]{40}-\d+$", i) for i in ids) and len(set(ids)) == 500,
     "json: 10 invocations, ids DIGESTHEX-LUT, unique", ids[:2])
T.ok(all(e["token"] == TOKEN for e in inv), "json: signed with the session token (verifier passed)")
f.stop()

# 2. A binary codec: records as Base64 "data".
f = lam("binary")
r = run(lam_ini("binary", codec="msgpack", count=200), env_for(f))
inv = invocations(f)
T.ok(r.rc == 0 and sum(len(e["ids"]) for e in inv if e["status"] == 200) == 200
     and r.stats("sink.aws").get("delivered") == 200, "msgpack: 200 records invoked as Base64", r.tail())
f.stop()

# 3. Partial batch answers: only the listed records retried, each processed once.
f = lam("partial", "--item-fail-ratio", "0.3")
r = run(lam_ini("partial", count=400), env_for(f))
T.ok(r.stats("sink.aws").get("lambda_item_failures", 0) > 50, "batchItemFailures read",
     r.stats("sink.aws"))
exactly_once("batchItemFailures", f, 400)
f.stop()

# 4. A poison record: bisected, dead-lettered alone with the function's message.
f = lam("poison", "--poison", "137")
dl = H.path("poison.dlq")
r = run(lam_ini("poison", count=400, batch=32, pipeline=["dead_letter = %s" % dl]), env_for(f))
d = H.dead_letters(dl)
T.ok(len(d) == 1 and seqs_of(H.payload(d[0])) == [137] and "cannot process record 137" in d[0]["reason"]
     and "ValueError" in d[0]["reason"], "poison: the one record dead-lettered with errorType and errorMessage",
     [x["reason"] for x in d], r.tail())
exactly_once("poison", f, 400, exclude={137})
st = r.stats("sink.aws")
T.ok(st.get("lambda_bisects", 0) == 5, "poison: a batch of 32 bisected 5 times", st)
f.stop()

# 5. Throttling, 409/500/502: retried, nothing lost, nothing dead-lettered.
f = lam("storm", "--throttle", "0.3:1.2", "--retry-after", "1", "--status", "2:0.6:500",
        "--status", "3:0.6:502", "--status", "4:0.6:409")
dl = H.path("storm.dlq")
# (failure_threshold: the 5xx would take the one endpoint out and hold the route past the windows.)
r = run(lam_ini("storm", count=800, batch=20, lines=["failure_threshold = 1000"],
                pipeline=["dead_letter = %s" % dl, "event_deadline = 8s"],
                source=["rate = 150"]), env_for(f))
codes = {e.get("code") for e in invocations(f) if e["status"] != 200}
T.ok({"TooManyRequestsException", "ServiceException", "ResourceNotReadyException",
      "ResourceConflictException"} <= codes and not H.dead_letters(dl) and r.stats("sink.aws").get("lambda_throttled"),
     "429/500/502/409: retried, none dead-lettered", sorted(c for c in codes if c), r.tail())
exactly_once("storm", f, 800)
f.stop()

# 6. Over the 6 MB synchronous limit: split before sending, never refused.
f = lam("big")
r = run(lam_ini("big", count=24, batch=24, source=["value_size = 700000", "bins = 2", "bin_types = string"],
                lines=["timeout = 9s", "batch_max_bytes = 64MiB"], pipeline=["event_deadline = 9s"]), env_for(f))
inv = invocations(f)
T.ok(r.rc == 0 and inv and all(e["status"] == 200 for e in inv) and r.stats("sink.aws").get("splits", 0) > 0,
     "6 MB: the core split the batch, no 413", [(e["status"], e["bytes"]) for e in inv][:6], r.tail())
exactly_once("6 MB", f, 24)
f.stop()

# 7. Event invocations: 202, queued.
f = lam("event")
r = run(lam_ini("event", count=200, lines=["invocation_type = Event"]), env_for(f))
inv = invocations(f)
T.ok(r.rc == 0 and inv and all(e["status"] == 202 for e in inv), "Event: every invocation 202", r.tail())
exactly_once("Event", f, 200)
f.stop()

# 8. An ARN with an alias, and a qualifier: the name percent-encoded, signed twice-encoded.
f = lam("arn")
r = run(lam_ini("arn", count=100, function="arn:aws:lambda:%s:123456789012:function:spillway:live" % A.REGION),
        env_for(f))
T.ok(r.rc == 0 and all(e["status"] == 200 for e in invocations(f)), "function ARN with an alias", r.tail())
exactly_once("ARN", f, 100)
f.stop()
f = lam("qual")
r = run(lam_ini("qual", count=100, lines=["qualifier = live"], service="lambda"), env_for(f))
T.ok(r.rc == 0 and invocations(f) and all(e["status"] == 200 for e in invocations(f)),
     "qualifier = live, with auth = aws-sigv4 and aws_service = lambda written out", r.tail())
f.stop()

# 9. Configuration errors: held down loudly, nothing dead-lettered.
# (A wrong aws_service is a --check error now: see 10.)
for what, ini_kw, env_kw in (("no such function", {"function": "nope"}, {}),
                             ("a wrong secret key", {}, {"AWS_SECRET_ACCESS_KEY": "not" + A.SECRET})):
    tag = "down-" + what.replace(" ", "-")
    f = lam(tag)
    dl = H.path(tag + ".dlq")
    p = A.start(lam_ini(tag, count=100, batch=10, pipeline=["dead_letter = %s" % dl, "event_deadline = 2s"],
                        source=["rate = 50"], **ini_kw), env_for(f, **env_kw))
    time.sleep(4)
    p.send_signal(signal.SIGTERM)
    rr = A.finish(p)
    inv = invocations(f)
    T.ok("holding the route" in rr.err and not H.dead_letters(dl) and 0 < len(inv) <= 6,
         "%s: held down (%d requests), nothing dead-lettered" % (what, len(inv)), rr.tail())
    f.stop()

# 10. The example passes --check with its function and region set.
ex = os.path.join(H.SRCDIR, "examples", "xdr-to-lambda-invoke.ini")
e = {k: v for k, v in os.environ.items() if (not k.startswith("SPILLWAY_") or k == "SPILLWAY_PLUGIN_PATH")
     and not k.startswith("AWS_")}
e.update({"SPILLWAY_LAMBDA_FUNCTION": "spillway", "AWS_REGION": "eu-west-1"})
p = subprocess.run([H.SPILLWAY, "--check", "-c", ex], capture_output=True, text=True, env=e, timeout=30)
T.ok(p.returncode == 0, "examples/xdr-to-lambda-invoke.ini passes --check", p.stderr[-600:])

A.check_signing_refused(T, ex, "lambda", e)

# 11. Zero loss from spillway-xdrgen: a poison record, item failures, a throttling storm and a
# SIGKILL mid-stream; every record acknowledged, processed, the poison one dead-lettered.
if os.path.exists(os.path.join(H.BUILDDIR, "plugins", "source-xdr.la")):
    f = lam("e2e", "--poison", "4321", "--item-fail-ratio", "0.1", "--throttle", "1:1")
    port = H.free_port()
    env = env_for(f)
    env.update({"SPILLWAY_LAMBDA_FUNCTION": "spillway", "SPILLWAY_LISTEN": "127.0.0.1:%d" % port,
                "SPILLWAY_BATCH": "50", "SPILLWAY_DEAD_LETTER": H.path("e2e.dlq"),
              "SPILLWAY_ADMIN": "127.0.0.1:%d" % H.free_port(),
                "SPILLWAY_PLUGIN_PATH": os.environ.get("SPILLWAY_PLUGIN_PATH", "")})

    def start():
        return H.spawn([H.SPILLWAY, "-c", ex], stdout=subprocess.DEVNULL,
                       stderr=open(H.path("e2e.stderr"), "a"), env=env)

    sp = start()
    xg = subprocess.Popen([os.path.join(H.BUILDDIR, "spillway-xdrgen"), "-c", "127.0.0.1:%d" % port,
                           "--reconnect-min", "50ms", "--json", "-C", "4", "-n", "10000", "-r", "3000",
                           "--max-time", "100"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(2.5)
    sp.send_signal(signal.SIGKILL)
    sp.wait()
    time.sleep(0.3)
    sp = start()
    out, err = xg.communicate(timeout=140)
    sp.send_signal(signal.SIGTERM)
    sp.wait(30)
    try:
        rep = json.loads(out)
    except ValueError:
        rep = {}
    T.ok(xg.returncode == 0 and rep.get("acknowledged") == 10000,
         "xdrgen -> lambda: 10000 records, poison, failures, throttling and a SIGKILL: all acknowledged",
         out[-300:], err[-300:])
    seen = processed(f)
    missing = [s for s in range(10000) if s not in seen and s != 4321]
    T.ok(not missing, "xdrgen -> lambda: every record processed by the function", missing[:10])
    d = H.dead_letters(H.path("e2e.dlq"))
    T.ok(d and all(seqs_of(H.payload(x)) == [4321] for x in d) and 4321 not in seen,
         "xdrgen -> lambda: only the poison record dead-lettered", [x["reason"] for x in d][:2])
    f.stop()
else:
    T.skip("xdrgen end to end", "the xdr source is not built")

T.done()

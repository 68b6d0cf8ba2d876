#!/usr/bin/env python3
"""tests/http-features.py: the http sink's request shape and policies,
checked on tests/receiver.py:

  - auth: basic, bearer, an API-key header, and AWS SigV4 (the receiver
    verifies signatures with its own implementation, so a request the
    sink signs wrong is refused and would never be delivered);
  - gzip: Content-Encoding set above the threshold only, bodies decompress
    to exactly what the codec wrote (a file route with the same codec);
  - URL and header templates from event metadata, percent-encoded;
  - a templated URL with batches: rejected with a clear reason;
  - max_body_size: an oversized body rejects its records (dead letters);
  - a status outside success_codes and retry_codes is a rejection, a
    custom success_codes list is honoured;
  - several URLs: round robin; one endpoint down is taken out, probed by
    the health check and brought back, and nothing is lost;
  - configuration errors caught by --check.
"""

import base64
import importlib.util
import json
import os
import time

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()


def deliver(name, rcv, sink, count=100, batch=None, pipeline=(), env=None, tee=None, source=()):
    ini = H.ini(name + ".ini", ["url = %s/in" % rcv.url] + list(sink), count=count, batch=batch,
                pipeline_lines=list(pipeline), tee=tee, source_lines=list(source))
    r = H.run(ini, env=env, timeout=60)
    return r


def auth_tests():
    cases = [
        ("basic", ["--basic", "alice:s3cr:et"], ["auth = basic", "username = alice", "password = s3cr:et"], {}),
        ("bearer", ["--bearer", "tok-123"], ["auth = bearer", "token_file = %s" % H.write("token", "tok-123\n")], {}),
        ("bearer-env", ["--bearer", "tok-env"], ["auth = bearer", "token = ${env:SPW_TEST_TOKEN}"],
         {"SPW_TEST_TOKEN": "tok-env"}),
    ]
    for name, rargs, sink, env in cases:
        rcv = H.Receiver(name, *rargs)
        r = deliver(name, rcv, sink, env=env)
        rcv.stop()
        st = r.stats("sink.web")
        tap.ok(r.rc == 0 and st.get("delivered") == 100 and st.get("http_4xx", 0) == 0,
               "auth %s: the receiver accepts every request" % name, r.tail())
        tap.ok("tok-" not in r.err and "s3cr" not in r.err, "auth %s: the secret is not logged" % name)

    rcv = H.Receiver("apikey")
    r = deliver("apikey", rcv, ["auth = header", "auth_header = x-api-key", "auth_value = k-42"], count=10)
    rcv.stop()
    keys = set(e["headers"].get("x-api-key") for e in rcv.entries())
    tap.ok(r.rc == 0 and keys == {"k-42"}, "auth header: every request carries x-api-key", "got %s" % keys)

    # SigV4, with a session token and a templated path and query.
    rcv = H.Receiver("sigv4", "--sigv4", "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY:eu-west-1:execute-api")
    ini = H.ini("sigv4.ini", ["url = %s/prod/${set}/items?z=1&a=${key}&b=x%%20y" % rcv.url,
                              "auth = aws-sigv4", "aws_region = eu-west-1",
                              "compression = gzip", "compression_threshold = 0"],
                count=50, source_lines=["key_type = string", "sets = my set"])
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
           "AWS_SESSION_TOKEN": "FwoGZXIvYXdzEXAMPLE"}
    r = H.run(ini, env=env, timeout=30)
    rcv.stop()
    st = r.stats("sink.web")
    ents = rcv.entries()
    tap.ok(r.rc == 0 and st.get("delivered") == 50 and st.get("http_4xx", 0) == 0,
           "auth aws-sigv4: the receiver verifies every signature (%d requests)" % len(ents), r.tail(),
           "\n".join("%s %s" % (e["status"], e["path"]) for e in ents[:3]))
    tap.ok(all(e["headers"].get("X-Amz-Security-Token") == "FwoGZXIvYXdzEXAMPLE" for e in ents) and ents,
           "auth aws-sigv4: the session token travels as X-Amz-Security-Token")
    tap.ok("wJalrXUtnFEMI" not in r.err and "credentials from the environment" in r.err,
           "auth aws-sigv4: says where credentials came from, never what they are")
    creds = H.write("aws-credentials", "[default]\naws_access_key_id = WRONG\naws_secret_access_key = x\n"
                    "[ci]\naws_access_key_id = AKIDEXAMPLE\n"
                    "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n")
    rcv = H.Receiver("sigv4-file", "--sigv4", "AKIDEXAMPLE:wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY:us-east-1:lambda")
    r = deliver("sigv4-file", rcv, ["auth = aws-sigv4", "aws_region = us-east-1", "aws_service = lambda",
                                    "aws_credentials_file = %s" % creds, "aws_profile = ci"], count=10,
                env={"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""})
    rcv.stop()
    tap.ok(r.rc == 0 and r.stats("sink.web").get("delivered") == 10,
           "auth aws-sigv4: credentials from a profile of a credentials file", r.tail())


def gzip_tests():
    rcv = H.Receiver("gzip", "--log-bodies")
    tee = H.path("gzip.tee")
    r = deliver("gzip", rcv, ["compression = gzip", "compression_threshold = 4KiB", "compression_level = 6"],
                count=405, batch=20, tee=tee, source=["value_size = 64"])
    r2_small = [e for e in rcv.entries() if e["len"] < 4096]
    ents = rcv.entries()
    got = sorted(l for e in ents for l in H.records_of(e["body"].encode()))
    want = sorted(H.records_of(open(tee, "rb").read()))
    big = [e for e in ents if e["len"] >= 4096]
    tap.ok(r.rc == 0 and got == want and len(got) == 405, "gzip: bodies decompress to exactly the codec's records",
           r.tail())
    tap.ok(big and all(e["headers"].get("Content-Encoding") == "gzip" and e["wire_len"] < e["len"] for e in big),
           "gzip: bodies above the threshold are compressed (%d of %d)" % (len(big), len(ents)))
    tap.ok(r2_small and all("Content-Encoding" not in e["headers"] for e in r2_small),
           "gzip: bodies below the threshold are not (%d)" % len(r2_small))
    sent = r.stats("sink.web").get("http_bytes_sent", 0)
    tap.ok(0 < sent == sum(e["wire_len"] for e in ents), "gzip: http_bytes_sent counts compressed bytes")
    rcv.stop()


def template_tests():
    rcv = H.Receiver("tpl")
    ini = H.ini("tpl.ini", ["url = %s/${namespace}/${set}/${digest}?k=${key}&m=${msg}" % rcv.url,
                            "method = PUT", "headers = X-Gen: ${gen}, X-Static: yes, X-Set: ${set}"],
                count=20, source_lines=["key_type = string", "sets = a b,c/d", "delete_ratio = 0.3"])
    r = H.run(ini, timeout=30)
    rcv.stop()
    ents = rcv.entries()
    paths = [e["path"] for e in ents]
    ok_paths = all(p.startswith("/test/a%20b/") or p.startswith("/test/c%2Fd/") for p in paths)
    tap.ok(r.rc == 0 and len(ents) == 20 and ok_paths, "templates: URL paths from namespace and set, encoded",
           r.tail(), "\n".join(paths[:4]))
    tap.ok(all(len(p.split("/")[3].split("?")[0]) == 40 for p in paths), "templates: ${digest} is 40 hex digits")
    tap.ok(any("k=key-" in p and "m=write" in p for p in paths) and any("m=delete" in p for p in paths),
           "templates: query from the key and the operation")
    tap.ok(all(e["method"] == "PUT" for e in ents), "templates: method = PUT")
    hdr = [e["headers"] for e in ents]
    tap.ok(all(h.get("X-Static") == "yes" and h.get("X-Gen", "").isdigit() and h.get("X-Set") in ("a b", "c/d")
               for h in hdr), "templates: static and templated headers", str(hdr[:2]))

    # A templated URL cannot serve a batch of several records: rejected, dead-lettered, said clearly.
    rcv = H.Receiver("tpl-batch")
    dlq = H.path("tpl.dlq")
    ini = H.ini("tpl-batch.ini", ["url = %s/${set}" % rcv.url], count=20, batch=10,
                pipeline_lines=["dead_letter = %s" % dlq])
    r = H.run(ini, timeout=30)
    rcv.stop()
    dls = H.dead_letters(dlq)
    tap.ok(r.rc == 0 and len(dls) == 20 and "batch_max_records = 1" in dls[0]["reason"]
           and "batch_max_records = 1" in r.err,
           "templates: with batches, records are rejected with a reason naming batch_max_records", r.tail())


def limits_tests():
    rcv = H.Receiver("limits")
    dlq = H.path("limits.dlq")
    r = deliver("maxbody", rcv, ["max_body_size = 2KiB"], count=60, batch=10,
                pipeline=["dead_letter = %s" % dlq])
    dls = H.dead_letters(dlq)
    ents = rcv.entries()
    tap.ok(r.rc == 0 and not dls and ents and max(e["wire_len"] for e in ents) <= 2048 and
           len(H.delivered_seqs(ents)) == 60,
           "max_body_size: a batch over it is never sent but split, until every body fits", r.tail(),
           "largest body %s, %d dead letters" % (max([e["wire_len"] for e in ents] or [0]), len(dls)))
    rcv.stop()
    rcv = H.Receiver("limits1")
    dlq = H.path("limits1.dlq")
    r = deliver("maxbody1", rcv, ["max_body_size = 100"], count=20, batch=10,
                pipeline=["dead_letter = %s" % dlq])
    dls = H.dead_letters(dlq)
    tap.ok(r.rc == 0 and len(dls) == 20 and dls[0]["reason"].startswith("too large: ") and
           "exceeds max_body_size" in dls[0]["reason"] and not rcv.entries(),
           "max_body_size: a record too large alone is dead-lettered as too large, never sent",
           r.tail(), dls[0]["reason"] if dls else "no dead letters")
    rcv.stop()

    rcv = H.Receiver("codes", "--fault", "status=404,seq=3", "--fault", "status=202")
    dlq = H.path("codes.dlq")
    r = deliver("codes", rcv, ["success_codes = 202,204"], count=10, pipeline=["dead_letter = %s" % dlq])
    rcv.stop()
    dls = H.dead_letters(dlq)
    tap.ok(r.rc == 0 and r.stats("source.gen").get("delivered") == 10 and len(dls) == 1
           and dls[0]["reason"].startswith("HTTP 404"),
           "success_codes: 202 delivers, 404 rejects", r.tail())

    rcv = H.Receiver("notsuccess", "--fault", "status=200,seq=4")
    dlq = H.path("notsuccess.dlq")
    r = deliver("notsuccess", rcv, ["success_codes = 201"], count=5, pipeline=["dead_letter = %s" % dlq])
    rcv.stop()
    dls = H.dead_letters(dlq)
    tap.ok(len(dls) == 5 and {d["reason"] for d in dls} == {"HTTP 200"},
           "success_codes: a status outside both lists rejects", r.tail())


def balancing_tests():
    a = H.Receiver("lb-a")
    b = H.Receiver("lb-b")
    ini = H.ini("lb.ini", ["urls = %s/in, %s/in" % (a.url, b.url), "concurrency = 4"], count=400)
    r = H.run(ini, timeout=30)
    na, nb = len(a.entries()), len(b.entries())
    tap.ok(r.rc == 0 and na + nb == 400 and abs(na - nb) <= 40,
           "urls: round robin over two endpoints (%d / %d)" % (na, nb), r.tail())
    a.stop()
    b.stop()

    # One endpoint answers 503 then comes back: taken out, health-checked, returned; nothing lost.
    good = H.Receiver("hc-good")
    bad = H.Receiver("hc-bad", "--fault", "status=503,for=1.5")
    ini = H.ini("hc.ini", ["urls = %s/in, %s/in" % (good.url, bad.url), "failure_threshold = 2",
                           "health_check_path = /health", "health_check_interval = 200ms",
                           "health_check_threshold = 2"], count=3000, source_lines=["rate = 1000"])
    r = H.run(ini, timeout=60)
    good.stop()
    bad.stop()
    st = r.stats("sink.web")
    probes = [e for e in bad.entries() if e["path"] == "/health"]
    seen = H.delivered_seqs(good.entries() + bad.entries())
    tap.ok(r.rc == 0 and len(seen) == 3000, "health check: all 3000 records delivered through an outage", r.tail())
    tap.ok(st.get("endpoint_down", 0) >= 1 and st.get("endpoint_up", 0) >= 1 and probes,
           "health check: the failing endpoint was taken out, probed (%d probes) and brought back" % len(probes),
           str(st))
    late = [e for e in bad.entries() if e["path"] == "/in" and e["status"] == 200]
    tap.ok(late, "health check: the endpoint carries traffic again once healthy (%d requests)" % len(late))


def config_tests():
    bad = [
        ("no-url", [], "set url (or urls)"),
        ("both", ["url = http://h/", "urls = http://h/"], "set one of url and urls, not both"),
        ("scheme", ["url = ftp://h/"], "not an http"),
        ("var-in-host", ["url = http://${set}.example/"], "only appear in the path"),
        ("unknown-var", ["url = http://h/${nope}"], "unknown variable"),
        ("h2c-tls", ["url = https://h/", "protocol = h2c"], "h2c"),
        ("codes", ["url = http://h/", "success_codes = 200-199"], "success_codes"),
        ("header", ["url = http://h/", "headers = NoColon"], "Name: value"),
        ("basic", ["url = http://h/", "auth = basic"], "username"),
        ("bearer", ["url = http://h/", "auth = bearer"], "token"),
        ("sigv4", ["url = http://h/", "auth = aws-sigv4"], "aws_region"),
        ("key-no-cert", ["url = http://h/", "tls_key = /x"], "tls_cert"),
    ]
    for name, lines, want in bad:
        r = H.check(H.ini("bad-%s.ini" % name, lines))
        tap.ok(r.rc != 0 and want in r.err, "--check refuses %s" % name, r.err.strip()[-400:])
    r = H.check(H.ini("good.ini", ["url = https://h/${namespace}", "protocol = HTTP_2", "auth = aws-sigv4",
                                   "aws_region = us-east-1", "headers = A: b, C: ${set}"]))
    tap.ok(r.rc == 0, "--check accepts a full configuration", r.err)


def main():
    auth_tests()
    gzip_tests()
    template_tests()
    limits_tests()
    balancing_tests()
    config_tests()
    tap.done()


main()

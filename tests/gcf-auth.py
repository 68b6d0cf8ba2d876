#!/usr/bin/python3
"""tests/gcf-auth.py: the `gcf` sink through the real program against the
fakes of tests/gcf-fakes.py (every token's signature, audience and expiry
verified by the fake service; every assertion's by the fake token
endpoint), generate -> json -> gcf:

  - the metadata server as credential source (Metadata-Flavor sent, one
    token for the whole run, audience = the service origin for Cloud Run
    and 2nd gen, the full URL for 1st gen);
  - a service-account key file from GOOGLE_APPLICATION_CREDENTIALS and from
    credentials_file (which comes first), exchanged at the key's token_uri;
  - an `authorized_user` key file refused by --check, saying why;
  - X-Serverless-Authorization by option, Authorization left to the
    function; a custom audience;
  - max_request_size: bodies over it are split before they are sent;
  - 429, 500, 503 retried; 403 held down, nothing lost, recovery once the
    role is granted; a wrong audience: one refresh, then held down with a
    loud log, no refresh storm;
  - the token endpoint refusing the key: Google's error and description
    logged, deliveries held, recovery when the key works again; a skewed
    clock: Google's invalid_grant "short-lived token" reason logged;
  - no private key in any output.
"""

import importlib.util
import os
import time

_spec = importlib.util.spec_from_file_location(
    "gcflib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "gcf-test-lib.py"))
G = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(G)
H = G.H

tap = H.Tap()
outputs = []


def ran(r):
    outputs.append(r.out + r.err)
    return r


def wait_for(pred, timeout=30):
    """Waits until pred() holds (a slow start under sanitizers must not outrun a fixed sleep)."""
    end = time.monotonic() + timeout
    while not pred() and time.monotonic() < end:
        time.sleep(0.05)
    return pred()


def missing_ok(fn, count, name, r):
    miss = G.all_delivered(fn, count)
    return tap.ok(r.rc == 0 and not miss, "%s: all %d records delivered (exit %s)" % (name, count, r.rc),
                  "missing %d: %s" % (len(miss), miss[:10]), r.tail())


def metadata_test():
    md = G.Fake("md", "metadata")
    fn = G.function("md-fn")
    count = 300
    r = ran(G.run(G.ini("md", fn, count, batch=10), G.env(GCE_METADATA_HOST="127.0.0.1:%d" % md.port)))
    missing_ok(fn, count, "metadata", r)
    got = md.entries()
    tap.ok(len(got) == 1 and got[0]["flavor"] == "Google" and got[0]["status"] == 200,
           "metadata: one identity request, with Metadata-Flavor: Google", got)
    tap.ok(got and got[0]["query"].get("audience") == [fn.url] and got[0]["query"].get("format") == ["full"],
           "metadata: audience = the service origin (2nd gen), format=full", got[:1])
    c = G.calls(fn)
    tap.ok(c and all(e["header"] == "Authorization" and e["status"] == 200 for e in c),
           "metadata: every request carried a valid token in Authorization", c[:2])
    md.stop()
    fn.stop()


def gen1_test():
    md = G.Fake("g1md", "metadata")
    fn = G.function("g1-fn", lambda u: u + "/fn-ingest")
    r = ran(G.run(G.ini("g1", fn, 50, batch=10, path="/fn-ingest?x=1", sink=["generation = 1"]),
                  G.env(GCE_METADATA_HOST="127.0.0.1:%d" % md.port)))
    missing_ok(fn, 50, "gen1", r)
    got = md.entries()
    tap.ok(got and got[0]["query"].get("audience") == [fn.url + "/fn-ingest"],
           "gen1: audience = the function's full URL without its query", got[:1])
    md.stop()
    fn.stop()


def keyfile_test():
    tok = G.Fake("tok", "token")
    fn = G.function("kf-fn")
    kf = G.key_file("sa.json", tok.url + "/token")
    count = 200
    r = ran(G.run(G.ini("kf", fn, count, batch=10, workers=2), G.env(GOOGLE_APPLICATION_CREDENTIALS=kf)))
    missing_ok(fn, count, "keyfile", r)
    got = tok.entries()
    ok = [e for e in got if e["status"] == 200]
    cl = ok[0]["claims"] if ok else {}
    tap.ok(len(got) == 1 and len(ok) == 1, "keyfile: one token exchange for two workers", got)
    tap.ok(cl.get("iss") == G.SA_EMAIL and cl.get("sub") == G.SA_EMAIL and
           cl.get("aud") == tok.url + "/token" and cl.get("target_audience") == fn.url and
           cl.get("exp", 0) - cl.get("iat", 0) == 3600 and ok[0].get("kid") == G.SA_KID,
           "keyfile: assertion claims iss = sub = client email, aud = token_uri, target_audience, "
           "1 h, kid", cl)
    # credentials_file comes before GOOGLE_APPLICATION_CREDENTIALS (which is a user credential here)
    fn2 = G.function("kf2-fn")
    user = G.key_file("user.json", "", kind="authorized_user")
    r = ran(G.run(G.ini("kf2", fn2, 50, batch=10, sink=["credentials_file = %s" % kf]),
                  G.env(GOOGLE_APPLICATION_CREDENTIALS=user)))
    missing_ok(fn2, 50, "credentials_file over GOOGLE_APPLICATION_CREDENTIALS", r)
    # an authorized_user key is refused at --check, with why
    r = ran(G.check(G.ini("user", fn2, 10), G.env(GOOGLE_APPLICATION_CREDENTIALS=user)))
    tap.ok(r.rc != 0 and "authorized_user" in r.err and "service account" in r.err,
           "authorized_user: spillway --check refuses it and says why", r.err[-600:])
    tok.stop()
    fn.stop()
    fn2.stop()


def header_test():
    md = G.Fake("xmd", "metadata")
    fn = G.function("x-fn", "custom-audience-for-spillway", "--audience", "another")
    r = ran(G.run(G.ini("x", fn, 40, batch=10, sink=["serverless_authorization = true",
                                                       "audience = custom-audience-for-spillway",
                                                       "headers = Authorization: Basic Zm46Zm4="]),
                  G.env(GCE_METADATA_HOST="127.0.0.1:%d" % md.port)))
    missing_ok(fn, 40, "serverless_authorization", r)
    c = G.calls(fn)
    tap.ok(c and all(e["header"] == "X-Serverless-Authorization" and
                     e["authorization_passed"] == "Basic Zm46Zm4=" for e in c),
           "serverless_authorization: the token in X-Serverless-Authorization, the function's own "
           "Authorization passed through", c[:2])
    md.stop()
    fn.stop()


def size_test():
    md = G.Fake("smd", "metadata")
    fn = G.function("s-fn", None, "--max-body", "3000")
    count = 200
    r = ran(G.run(G.ini("s", fn, count, batch=100, sink=["max_request_size = 3000"]),
                  G.env(GCE_METADATA_HOST="127.0.0.1:%d" % md.port)))
    missing_ok(fn, count, "size", r)
    c = G.calls(fn)
    tap.ok(c and max(e["len"] for e in c) <= 3000 and not [e for e in c if e["status"] == 413],
           "size: batches over max_request_size split before sending (largest %d bytes, no 413)"
           % max([e["len"] for e in c] or [0]))
    r = ran(G.check(G.ini("s2", fn, 10, sink=["max_request_size = 40M"]), G.env()))
    tap.ok(r.rc != 0 and "max_request_size" in r.err, "size: a limit over Google's refused at --check",
           r.err[-400:])
    md.stop()
    fn.stop()


def status_test():
    md = G.Fake("rmd", "metadata")
    fn = G.function("r-fn")
    count = 150
    p = G.start(G.ini("r", fn, count, rate=50, batch=5), G.env(GCE_METADATA_HOST="127.0.0.1:%d" % md.port), "r")
    time.sleep(0.6)
    for st in ("429", "500", "503"):
        fn.control("status", ("%s 3" % st).encode())
        time.sleep(0.3)
    try:
        p.wait(60)
    except Exception:
        pass
    rc, text = G.stop(p, "r")
    outputs.append(text)
    statuses = {e["status"] for e in G.calls(fn)}
    miss = G.all_delivered(fn, count)
    st = H.Run(rc, "", text).stats("sink.web")
    tap.ok(not miss and {429, 500, 503} <= statuses and st.get("dead_lettered") == 0 and
           st.get("rejected") == 0,
           "429, 500, 503: retried, every record delivered, none dead-lettered", statuses, miss[:10],
           text[-800:])
    tap.ok(len(md.entries()) == 1, "429, 500, 503: no new token for them")
    md.stop()
    fn.stop()


def forbidden_test():
    md = G.Fake("fmd", "metadata")
    fn = G.function("f-fn")
    fn.control("deny")
    count = 100
    p = G.start(G.ini("f", fn, count, rate=100, batch=5), G.env(GCE_METADATA_HOST="127.0.0.1:%d" % md.port), "f")
    wait_for(lambda: [e for e in G.calls(fn) if e["status"] == 403])
    time.sleep(3)
    forb = [e for e in G.calls(fn) if e["status"] == 403]
    fn.control("allow")
    try:
        p.wait(60)
    except Exception:
        pass
    rc, text = G.stop(p, "f")
    outputs.append(text)
    miss = G.all_delivered(fn, count)
    tap.ok(forb and len(forb) < 40, "403: held down (%d requests answered 403 in over 3 s, not a storm)" % len(forb))
    tap.ok("HTTP 403" in text and "invoker" in text and " ERROR" in text.upper(),
           "403: logged loudly, naming the invoker role", text[-600:])
    tap.ok(not miss, "403: once the role is granted every record arrives (none dropped)", miss[:10], text[-600:])
    md.stop()
    fn.stop()


def audience_test():
    md = G.Fake("amd", "metadata")
    fn = G.function("a-fn", "https://not-this-service.a.run.app")
    count = 100
    p = G.start(G.ini("a", fn, count, rate=100, batch=5), G.env(GCE_METADATA_HOST="127.0.0.1:%d" % md.port), "a")
    wait_for(lambda: G.calls(fn))
    time.sleep(4)
    rc, text = G.stop(p, "a")
    outputs.append(text)
    u = [e for e in G.calls(fn) if e["status"] == 401]
    got = md.entries()
    fetches = len(got)
    gaps = [round(b["t"] - a["t"], 2) for a, b in zip(got[1:], got[2:])]
    tap.ok(fetches >= 2 and all(g >= 0.9 for g in gaps),
           "wrong audience: one refresh after the first 401, then at most one per hold-down probe "
           "(hold_down = 1s), not a storm (%d token fetches)" % fetches, gaps)
    tap.ok("refused a freshly fetched ID token" in text and "holding deliveries" in text,
           "wrong audience: held down with a loud log naming the audience", text[-800:])
    dl = [l for l in text.splitlines() if "dead-letter" in l.lower() and "wrote" in l.lower()]
    tap.ok(rc == 0 and not dl, "wrong audience: nothing dead-lettered, a clean stop (exit %s)" % rc)
    md.stop()
    fn.stop()


def token_error_test():
    tok = G.Fake("etok", "token")
    fn = G.function("e-fn")
    kf = G.key_file("sa-e.json", tok.url + "/token")
    tok.control("disable")
    count = 100
    p = G.start(G.ini("e", fn, count, rate=100, batch=5), G.env(GOOGLE_APPLICATION_CREDENTIALS=kf), "e")
    wait_for(lambda: tok.entries())
    time.sleep(2.5)
    tok.control("enable")
    try:
        p.wait(60)
    except Exception:
        pass
    rc, text = G.stop(p, "e")
    outputs.append(text)
    tap.ok("invalid_grant" in text and "account not found" in text,
           "token endpoint refusal: Google's error and description logged", text[-800:])
    refused = [e for e in tok.entries() if e["status"] == 400]
    tap.ok(1 <= len(refused) <= 8, "token endpoint refusal: retried with backoff (%d refusals in 2.5 s)" % len(refused))
    miss = G.all_delivered(fn, count)
    tap.ok(not miss and "obtained after" in text, "token endpoint refusal: recovery logged, every record delivered",
           miss[:10], text[-600:])
    tok.stop()
    fn.stop()


def skew_test():
    tok = G.Fake("sktok", "token", "--clock-offset", "7200")
    fn = G.function("sk-fn")
    kf = G.key_file("sa-sk.json", tok.url + "/token")
    r = ran(G.run(G.ini("sk", fn, 20, batch=5), G.env(GOOGLE_APPLICATION_CREDENTIALS=kf), timeout=6))
    tap.ok("invalid_grant: Invalid JWT: Token must be a short-lived token" in r.err and
           "check your iat and exp" in r.err.lower(),
           "skewed clock: the token endpoint's invalid_grant and its description logged", r.tail())
    st = r.stats("sink.web")
    tap.ok(not G.calls(fn) and not st.get("rejected") and not st.get("dropped"),
           "skewed clock: no request without a token, nothing rejected or dropped", st)
    tok.stop()
    fn.stop()


def main():
    for t in (metadata_test, gen1_test, keyfile_test, header_test, size_test, status_test,
              forbidden_test, audience_test, token_error_test, skew_test):
        try:
            t()
        except Exception as e:  # a failing step must not hide the others
            import traceback
            tap.ok(False, "%s raised %s" % (t.__name__, e), traceback.format_exc())
    leaks = [x for o in outputs for x in G.leaked(o)]
    tap.ok(not leaks, "no private key material in any output")
    tap.done()


main()

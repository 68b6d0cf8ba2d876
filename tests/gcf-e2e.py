#!/usr/bin/python3
"""tests/gcf-e2e.py: zero loss end to end, spillway-xdrgen -> xdr source ->
json -> gcf sink -> the fake service of tests/gcf-fakes.py, which checks
every token. xdrgen must see every record acknowledged (it resends what
was not), and the service must have accepted every sequence number:

  - tokens expiring mid-stream (the metadata server issues 8 s tokens, two
    workers): refreshed ahead of expiry, one fetch at a time, no 401 at
    all (counted), no request with an expired token;
  - a revoked token (key file source): the 401s of the requests in flight
    cause one refresh, then delivery recovers;
  - the metadata server down at start: batches wait or are retried,
    the failure is logged, then recovery when it comes up;
  - SIGKILL mid-stream and a restart: what was not acknowledged is resent.
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


def acked(name, rc, xg, fn, count, text):
    tap.ok(rc == 0, "%s: spillway-xdrgen saw every record acknowledged (exit %s)" % (name, rc), xg,
           text[-1200:])
    miss = G.all_delivered(fn, count)
    tap.ok(not miss, "%s: the service accepted all %d records" % (name, count),
           "missing %d: %s" % (len(miss), miss[:10]))


def expiry_test():
    md = G.Fake("x-md", "metadata", "--lifetime", "8")
    fn = G.function("x-fn")
    port = H.free_port()
    env = G.env(GCE_METADATA_HOST="127.0.0.1:%d" % md.port)
    p = G.start(G.xdr_ini("x", fn, port), env, "x")
    H.wait_port(port)
    count = 6000
    gen = G.xdrgen(port, count, 450, "x")
    rc, xg = G.xdrgen_wait(gen, "x")
    src, text = G.stop(p, "x")
    acked("expiry", rc, xg, fn, count, text)
    calls = G.calls(fn)
    u = [e for e in calls if e["status"] == 401]
    tap.ok(not u, "expiry: no 401 across %d requests (%d)" % (len(calls), len(u)))
    got = md.issued()
    tap.ok(len(got) >= 2, "expiry: 8 s tokens fetched %d times over the run" % len(got))
    early = all(b["t"] < a["issued"]["exp"] for a, b in zip(got, got[1:]))
    spaced = all(b["t"] - a["t"] > 2.0 for a, b in zip(got, got[1:]))
    tap.ok(early and spaced, "expiry: each fetch before the previous token expired, one at a time "
           "for two workers", [(round(g["t"] % 100, 2), g["issued"]["exp"] % 100) for g in got])
    used = {e["token"]["sha"] for e in calls if e.get("token")}
    tap.ok(len(used) >= 2, "expiry: requests carried %d successive tokens" % len(used))
    tap.ok(src == 0, "expiry: clean stop (exit %s)" % src, text[-800:])
    md.stop()
    fn.stop()


def revoke_test():
    tok = G.Fake("r-tok", "token")
    fn = G.function("r-fn")
    kf = G.key_file("r-sa.json", tok.url + "/token")
    port = H.free_port()
    p = G.start(G.xdr_ini("r", fn, port), G.env(GOOGLE_APPLICATION_CREDENTIALS=kf), "r")
    H.wait_port(port)
    count = 5000
    gen = G.xdrgen(port, count, 500, "r")
    time.sleep(4)
    fn.control("revoke")
    rc, xg = G.xdrgen_wait(gen, "r")
    src, text = G.stop(p, "r")
    acked("revoked", rc, xg, fn, count, text)
    got = [e for e in tok.entries() if e["status"] == 200]
    u = [e for e in G.calls(fn) if e["status"] == 401]
    tap.ok(len(got) == 2, "revoked: one refresh after the revocation (%d token exchanges)" % len(got))
    tap.ok(0 < len(u) <= 64, "revoked: %d requests in flight were answered 401, not a storm" % len(u))
    ok_after = [e for e in G.calls(fn) if e["status"] == 200 and u and e["t"] > u[-1]["t"]]
    tap.ok(ok_after, "revoked: delivery recovered with the new token")
    tok.stop()
    fn.stop()


def metadata_down_test():
    fn = G.function("d-fn")
    mport = H.free_port()
    port = H.free_port()
    p = G.start(G.xdr_ini("d", fn, port), G.env(GCE_METADATA_HOST="127.0.0.1:%d" % mport), "d")
    H.wait_port(port)
    count = 2000
    gen = G.xdrgen(port, count, 500, "d")
    time.sleep(3)
    md = G.Fake("d-md", "metadata", port=mport)
    rc, xg = G.xdrgen_wait(gen, "d")
    src, text = G.stop(p, "d")
    acked("metadata down", rc, xg, fn, count, text)
    errs = [l for l in text.splitlines() if "no ID token" in l]
    tap.ok(1 <= len(errs) <= 2 and "obtained after" in text,
           "metadata down: the failure logged (rate-limited, %d line(s)), and the recovery" % len(errs),
           text[-800:])
    tap.ok(len(md.issued()) == 1, "metadata down: one token once it came up")
    md.stop()
    fn.stop()


def sigkill_test():
    tok = G.Fake("k-tok", "token")
    fn = G.function("k-fn")
    kf = G.key_file("k-sa.json", tok.url + "/token")
    port = H.free_port()
    env = G.env(GOOGLE_APPLICATION_CREDENTIALS=kf)
    ini = G.xdr_ini("k", fn, port, batch=50)
    p = G.start(ini, env, "k")
    H.wait_port(port)
    count = 20000
    gen = G.xdrgen(port, count, 5000, "k")
    time.sleep(1.5)
    p.kill()
    p.wait()
    tap.diag("sigkill: killed after 1.5 s, %d requests had arrived" % len(G.calls(fn)))
    time.sleep(0.5)
    p = G.start(ini, env, "k")
    rc, xg = G.xdrgen_wait(gen, "k")
    src, text = G.stop(p, "k")
    acked("sigkill", rc, xg, fn, count, text)
    tap.ok(src == 0 and "Sanitizer" not in text, "sigkill: the restarted spillway stops cleanly")
    tok.stop()
    fn.stop()


def main():
    if not G.have_xdr():
        print("1..0 # SKIP the xdr source or spillway-xdrgen is not built")
        return
    for t in (expiry_test, revoke_test, metadata_down_test, sigkill_test):
        try:
            t()
        except Exception as e:
            import traceback
            tap.ok(False, "%s raised %s" % (t.__name__, e), traceback.format_exc())
    tap.done()


main()

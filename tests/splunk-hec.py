#!/usr/bin/python3
"""tests/splunk-hec.py: the splunk-hec sink end to end, zero loss.

spillway-xdrgen -> spillway (xdr source, json codec, splunk-hec sink) ->
tests/hec-fake.py, a fake HEC with Splunk's rules. Each scenario checks
that xdrgen saw every record acknowledged and that every sequence number
was indexed, and counts duplicates (records indexed more than once):
delivery; acks delayed past several polls; acks that never come (nothing
acknowledged, then everything once they do); a lost poll answer (exactly
one resend of what it carried); the ack endpoint answering 400 (never
success); busy answers; code 6 at one record (those before it in its
request not resent, that one dead-lettered with HEC's reason); a token
refused then accepted (held down, nothing dropped); no ack on the token;
idle channel expiry; SIGKILL with acks pending; two indexers behind a
balancer with and without cookie stickiness; the example INI and
configuration errors at --check. The second half of the scenarios runs
as tests/splunk-hec-more.py (MORE below). TAP.

Environment (set by the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH,
top_srcdir, top_builddir, PYTHON3.
"""

import importlib.util
import json
import os
import re
import signal
import subprocess
import time
import urllib.request

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

FAKE = os.path.join(H.SRCDIR, "tests", "hec-fake.py")
XDRGEN = os.path.join(H.BUILDDIR, "spillway-xdrgen")
TOKEN = "11111111-2222-3333-4444-555555555555"
tap = H.Tap()
UNCLEAN = []  # spillway runs that did not stop cleanly on SIGTERM, or with a sanitizer report


class Fake:
    def __init__(self, name, *args):
        self.log = H.path(name + ".idx")
        pf = H.path(name + ".port")
        err = open(H.path(name + ".fake.err"), "w")
        self.proc = H.spawn([H.PYTHON3, FAKE, "--port", "0", "--port-file", pf, "--token", TOKEN,
                             "--log", self.log] + list(args), stdout=err, stderr=err)
        end = time.monotonic() + 10
        while not os.path.exists(pf):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError("the fake HEC did not start")
            time.sleep(0.02)
        self.url = "http://127.0.0.1:%s" % open(pf).read()

    def set(self, **kw):
        req = urllib.request.Request(self.url + "/_control/set", data=json.dumps(kw).encode(),
                                     method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def stats(self):
        return json.loads(urllib.request.urlopen(self.url + "/_control/stats", timeout=5).read())

    def indexed(self):
        """seq -> times indexed."""
        seen = {}
        if os.path.exists(self.log):
            for l in open(self.log):
                s = json.loads(l)["seq"]
                seen[s] = seen.get(s, 0) + 1
        return seen

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


class Spillway:
    def __init__(self, name, fake, sink=(), pipeline=(), batch=50):
        self.name = name
        self.port = H.free_port()
        self.dlq = H.path(name + ".dlq")
        pl = {"name": name, "workers": "2", "event_deadline": "3s", "shutdown_timeout": "1s",
              "dead_letter": self.dlq}
        for line in pipeline:  # overrides
            k, _, v = line.partition("=")
            pl[k.strip()] = v.strip()
        self.ini = H.write(name + ".ini", "\n".join(
            ["[pipeline]"] + ["%s = %s" % kv for kv in pl.items()] + [
            "[source.xdr]", "plugin = xdr", "listen = 127.0.0.1:%d" % self.port,
            "[codec.c]", "plugin = json",
            "[sink.hec]", "plugin = splunk-hec", "codec = c", "url = %s" % fake.url,
            "hec_token = %s" % TOKEN, "batch_max_records = %d" % batch, "batch_max_delay = 20ms",
            ] + ([] if any(l.startswith("fields") for l in sink) else
                 ["fields = namespace,set,digest,msg"]) + [l for l in sink if l != "fields ="]) + "\n")
        self.logpath = H.path(name + ".spw")
        self.logf = open(self.logpath, "a")
        self.start()

    def start(self):
        self.proc = H.spawn([H.SPILLWAY, "-c", self.ini], stdout=self.logf, stderr=self.logf)
        if not H.wait_port(self.port) or self.proc.poll() is not None:
            raise RuntimeError("spillway did not start: " + self.text()[-1000:])

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = -1
        self.logf.flush()
        if rc != 0 or "Sanitizer" in self.text():
            UNCLEAN.append("%s: exit %s\n%s" % (self.name, rc, self.text()[-1500:]))
        return rc

    def text(self):
        return open(self.logpath).read()

    def stats(self, section="sink.hec"):
        return H.Run(0, "", self.text()).stats(section)


def xdrgen(sp, count, *args, max_time="60s"):
    """Runs xdrgen to completion; returns (exit status, its JSON report)."""
    out = H.path(sp.name + ".xdrgen.json")
    with open(out, "w") as f, open(H.path(sp.name + ".xdrgen.err"), "a") as e:
        rc = subprocess.run([XDRGEN, "-c", "127.0.0.1:%d" % sp.port, "-C", "4", "-n", str(count),
                             "--json", "--reconnect-min", "50ms", "--reconnect-max", "300ms",
                             "--retry-delay", "100ms", "--max-time", max_time] + list(args),
                            stdout=f, stderr=e, timeout=150).returncode
    try:
        rep = json.load(open(out))
    except ValueError:
        rep = {}
    return rc, rep


def check_all(name, fake, count, rc, rep, sp, dups_expected=0, exclude=()):
    seen = fake.indexed()
    missing = [s for s in range(count) if s not in seen and s not in exclude]
    dups = sum(c - 1 for c in seen.values() if c > 1)
    tap.ok(rc == 0 and rep.get("acknowledged") == count,
           "%s: xdrgen saw all %d records acknowledged" % (name, count),
           "exit %s, report %s" % (rc, rep), sp.text()[-2000:])
    tap.ok(not missing, "%s: every record was indexed" % name, "missing %d: %s" % (len(missing), missing[:20]))
    if dups_expected is not None:
        tap.ok(dups == dups_expected, "%s: %d duplicate(s)" % (name, dups_expected), "got %d" % dups)
    tap.diag("%s: %d indexed, %d duplicate(s)" % (name, sum(seen.values()), dups))
    return seen, dups


def basic():
    fake = Fake("basic", "--ack", "--ack-delay", "0.05", "--index", "main", "--index", "other")
    sp = Spillway("basic", fake, sink=["source = aerospike:${namespace}", "index = main"])
    rc, rep = xdrgen(sp, 5000)
    check_all("basic", fake, 5000, rc, rep, sp)
    src = sp.stop()
    st = sp.stats()
    tap.ok(src == 0, "basic: spillway stops cleanly", sp.text()[-1500:])
    tap.ok(st.get("hec_acked") == 5000 and st.get("hec_sent") == 5000 and st.get("hec_resends") == 0,
           "basic: counters sent=acked=5000, no resends", str(st))
    tap.ok(st.get("hec_pending_acks", 0) == 0, "basic: no ack pending at the end (the gauge is 0)",
           str(st))
    fs = fake.stats()
    tap.ok(fs["violations"] == 0 and not fs["errors"], "basic: HEC saw only valid envelopes", str(fs))
    first = json.loads(open(fake.log).readline())["meta"]
    tap.ok(set(first) == {"time", "source", "sourcetype", "index", "fields"} and
           isinstance(first["time"], float) and first["fields"].get("namespace") == "test" and
           first["source"] == "aerospike:test" and first["index"] == "main",
           "basic: envelopes carry time (LUT in s.ms), templated source, index and fields", str(first))
    fake.stop()


def delayed():
    fake = Fake("delayed", "--ack", "--ack-delay", "1.0")
    sp = Spillway("delayed", fake, sink=["ack_poll_min = 100ms", "ack_poll_max = 400ms",
                                         "compression = gzip"])
    # 1000 records, 20 batches acked a second late each: xdrgen's 256 in flight make the run
    # last about 1.2 s per 256 records (2000 proved no more in twice the time).
    rc, rep = xdrgen(sp, 1000)
    check_all("delayed acks", fake, 1000, rc, rep, sp)
    sp.stop()
    st, fs = sp.stats(), fake.stats()
    tap.ok(st.get("hec_ack_timeouts") == 0 and st.get("hec_acked") == 1000,
           "delayed acks: acked after several polls, no timeout", str(st))
    tap.ok(fs["gzip"] > 0, "delayed acks: bodies sent gzip (compression = gzip)", str(fs))
    tap.ok(fs["polls"] >= 3 * fs["acks_true"] / max(1, 50) and fs["polls"] > fs["acks_true"] / 50 * 2,
           "delayed acks: several polls per ack (%d polls, %d acks)" % (fs["polls"], fs["acks_true"]), str(fs))
    fake.stop()


def never():
    fake = Fake("never", "--ack", "--ack-mode", "never")
    sp = Spillway("never", fake, pipeline=["event_deadline = 1s"])
    rc, rep = xdrgen(sp, 300, max_time="3s")
    tap.ok(rep.get("acknowledged") == 0, "acks never come: nothing is acknowledged to XDR",
           str(rep))
    fake.set(ack_mode="normal")
    rc, rep = xdrgen(sp, 300)
    check_all("acks never come, then do", fake, 300, rc, rep, sp, dups_expected=None)
    sp.stop()
    st = sp.stats()
    core = sp.stats("sink.hec")
    tap.ok(st.get("hec_ack_timeouts", 0) > 0 and st.get("hec_resends", 0) > 0,
           "acks never come: ack timeouts and resends counted", str(st))
    tap.ok(core.get("delivered", 0) <= st.get("hec_acked", 0) + core.get("dead_lettered", 0),
           "acks never come: nothing counted delivered without its ack", str(core))
    fake.stop()


def lost_poll():
    fake = Fake("lostpoll", "--ack", "--ack-delay", "0.3")
    fake.set(lose_polls=1)
    sp = Spillway("lostpoll", fake, pipeline=["workers = 1"], sink=["channels = 1"])
    rc, rep = xdrgen(sp, 1000, "-r", "2000")
    seen, dups = check_all("lost poll answer", fake, 1000, rc, rep, sp, dups_expected=None)
    sp.stop()
    st, fs = sp.stats(), fake.stats()
    tap.ok(fs["lost_polls"] == 1 and st.get("hec_ack_poll_errors") == 1,
           "lost poll answer: one poll answer lost, one poll error", "%s %s" % (fs, st))
    tap.ok(seen and max(seen.values()) <= 2 and dups > 0 and dups == st.get("hec_resends"),
           "lost poll answer: what it carried was resent exactly once (%d records)" % dups,
           "max %d, resends %s" % (max(seen.values()), st.get("hec_resends")))
    fake.stop()


def ack_400():
    fake = Fake("ack400", "--ack")
    fake.set(ack_status=400)
    sp = Spillway("ack400", fake, pipeline=["event_deadline = 1s"])
    rc, rep = xdrgen(sp, 200, max_time="2.5s")
    tap.ok(rep.get("acknowledged") == 0, "ack endpoint 400: never taken as success", str(rep))
    fake.set(ack_status=None)
    rc, rep = xdrgen(sp, 200)
    check_all("ack endpoint 400, then fine", fake, 200, rc, rep, sp, dups_expected=None)
    sp.stop()
    st = sp.stats()
    tap.ok(st.get("hec_ack_poll_errors", 0) > 0 and st.get("hec_channel_resets", 0) > 0,
           "ack endpoint 400: poll errors counted, channels replaced", str(st))
    fake.stop()


def busy():
    fake = Fake("busy", "--ack")
    fake.set(busy=30)
    # The deadline doc/splunk-hec-sink.md recommends with acks on: with the tests' 3 s a
    # loaded machine may answer retry before an ack lands, and XDR's resend is then a
    # duplicate (never a loss); this scenario counts duplicates exactly.
    sp = Spillway("busy", fake, sink=["health_check_path = /services/collector/health",
                                      "failure_threshold = 2", "health_check_interval = 100ms",
                                      "health_check_threshold = 1"], pipeline=["event_deadline = 8s"])
    rc, rep = xdrgen(sp, 1000)
    check_all("busy (code 9)", fake, 1000, rc, rep, sp)
    sp.stop()
    fs = fake.stats()
    tap.ok(fs["busy"] == 30, "busy: thirty answers 503 code 9, retried", str(fs))
    tap.ok(fs["health"] > 0 and sp.stats().get("health_checks", 0) > 0,
           "busy: the endpoint out, GET /services/collector/health brought it back", str(fs))
    fake.stop()


def code6():
    k = 137
    fake = Fake("code6", "--ack")
    fake.set(code6_seq=k)
    sp = Spillway("code6", fake)
    rc, rep = xdrgen(sp, 1000)
    seen, dups = check_all("code 6 at one record", fake, 1000, rc, rep, sp, exclude=(k,))
    sp.stop()
    tap.ok(k not in seen, "code 6: the invalid record is not indexed")
    dl = H.dead_letters(sp.dlq)
    tap.ok(len(dl) == 1 and "code 6" in dl[0].get("reason", "") and b'"seq"' in H.payload(dl[0]),
           "code 6: that record alone is dead-lettered with HEC's reason", str(dl)[:500])
    tap.ok(fake.stats()["code6"] == 1, "code 6: answered once")
    fake.stop()


def token():
    fake = Fake("token", "--ack")
    fake.set(disabled=True)
    sp = Spillway("token", fake, sink=["token_probe_interval = 300ms"],
                  pipeline=["event_deadline = 8s"])  # as "busy": duplicates are counted exactly
    gen = subprocess.Popen([XDRGEN, "-c", "127.0.0.1:%d" % sp.port, "-C", "2", "-n", "500", "--json",
                            "--retry-delay", "100ms", "--max-time", "60s"],
                           stdout=open(H.path("token.xdrgen.json"), "w"), stderr=subprocess.DEVNULL)
    time.sleep(2)
    fake.set(disabled=False)
    rc = gen.wait(90)
    rep = json.load(open(H.path("token.xdrgen.json")))
    check_all("token refused (code 1), then accepted", fake, 500, rc, rep, sp)
    sp.stop()
    text, core = sp.text(), sp.stats()
    tap.ok("refused the token" in text and core.get("down_transitions", 0) >= 1,
           "token refused: held down with a loud log, nothing dropped", str(core))
    tap.ok(TOKEN not in text, "token refused: the token never appears in the log")
    fake.stop()


def no_ack():
    fake = Fake("noack")  # a token without useACK: no ackId
    sp = Spillway("noack", fake)
    rc, rep = xdrgen(sp, 1000)
    check_all("token without ack", fake, 1000, rc, rep, sp)
    sp.stop()
    st, text = sp.stats(), sp.text()
    said = text.count("without an ackId")
    tap.ok(st.get("hec_no_ack") == 1000 and 1 <= said <= 2,
           "token without ack: counted, and said once per worker that sent (%d)" % said, str(st))
    fake.stop()


def ack_off():
    fake = Fake("ackoff", "--ack")
    sp = Spillway("ackoff", fake, sink=["ack = false"])
    rc, rep = xdrgen(sp, 1000)
    check_all("ack = false", fake, 1000, rc, rep, sp)
    sp.stop()
    st = sp.stats()
    tap.ok(not fake.stats()["errors"] and st.get("hec_ack_polls") == 0 and st.get("hec_sent") == 1000,
           "ack = false against a token with useACK: channels still sent, no poll, 200 is delivery",
           "%s %s" % (fake.stats(), st))
    fake.stop()


def idle():
    # While acks are late, channels go idle longer than HEC keeps them: their acks are
    # forgotten and ids restart from 0. Nothing is lost; the batches are resent.
    fake = Fake("idle", "--ack", "--ack-mode", "never", "--idle", "0.3")
    sp = Spillway("idle", fake, sink=["ack_poll_min = 100ms", "ack_poll_max = 1s"],
                  pipeline=["event_deadline = 2s"])
    rc, rep = xdrgen(sp, 300, max_time="3s")
    expired = fake.stats()["channels_expired"]
    fake.set(ack_mode="normal")
    rc, rep = xdrgen(sp, 300)
    check_all("idle channel expiry", fake, 300, rc, rep, sp, dups_expected=None)
    sp.stop()
    st = sp.stats()
    tap.ok(expired > 0 and st.get("hec_resends", 0) > 0,
           "idle channel expiry: %d channel(s) forgotten, their batches resent" % expired, str(st))
    fake.stop()


def raw():
    fake = Fake("raw", "--ack", "--index", "main")
    sp = Spillway("raw", fake, sink=["endpoint = raw", "fields =", "index = main", "source = xdr"])
    rc, rep = xdrgen(sp, 1000)
    check_all("endpoint = raw with acks", fake, 1000, rc, rep, sp)
    sp.stop()
    st = sp.stats()
    tap.ok(st.get("hec_acked") == 1000 and not fake.stats()["errors"],
           "endpoint = raw: every record acked, HEC refused nothing", str(st))
    fake.stop()


def sigkill():
    fake = Fake("sigkill", "--ack", "--ack-delay", "0.8")
    sp = Spillway("sigkill", fake)
    # 1000 records: xdrgen's 4 x 64 in flight, each acked 0.8 s or more after it is sent, cap
    # the rate at 320 records/s, so the kill at 1.5 s always finds the run under way with 256
    # acks pending (6000 proved no more and took 40 s at that rate after the restart).
    gen = subprocess.Popen([XDRGEN, "-c", "127.0.0.1:%d" % sp.port, "-C", "4", "-n", "1000", "-r", "3000",
                            "--json", "--reconnect-min", "50ms", "--reconnect-max", "300ms",
                            "--timeout", "5s", "--max-time", "90s"],
                           stdout=open(H.path("sigkill.xdrgen.json"), "w"), stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    sp.kill()
    tap.diag("sigkill: killed with %d events indexed" % sum(fake.indexed().values()))
    time.sleep(0.3)
    sp.start()
    rc = gen.wait(120)
    rep = json.load(open(H.path("sigkill.xdrgen.json")))
    check_all("SIGKILL with acks pending", fake, 1000, rc, rep, sp, dups_expected=None)
    tap.ok(sp.stop() == 0, "sigkill: the restarted spillway stops cleanly")
    fake.stop()


def balancer(sticky):
    name = "lb-sticky" if sticky else "lb-plain"
    fake = Fake(name, "--ack", "--ack-delay", "0.1", "--indexers", "2", *(["--sticky"] if sticky else []))
    sp = Spillway(name, fake, sink=["ack_timeout = 1s"])
    rc, rep = xdrgen(sp, 2000)
    seen, dups = check_all("two indexers behind a balancer, %s" % ("sticky" if sticky else "not sticky"),
                           fake, 2000, rc, rep, sp, dups_expected=0 if sticky else None)
    sp.stop()
    st, fs = sp.stats(), fake.stats()
    if sticky:
        tap.ok(fs["cookies_seen"] > 0 and st.get("hec_ack_timeouts") == 0,
               "sticky balancer: the channels' cookies are sent back, every ack found", "%s %s" % (fs, st))
    else:
        # A duplicate is a record sent twice: by the sink (an ack not found in time, counted in
        # hec_resends) or by XDR, which resends what was answered retry when an event's deadline
        # passed first (xdrgen's retried and resent_after_reset), as on a slow (ASan) build.
        xdr = rep.get("retried", 0) + rep.get("resent_after_reset", 0)
        tap.ok(dups <= st.get("hec_resends", 0) + xdr,
               "balancer without stickiness: duplicates (%d) only from counted resends (sink %s, "
               "xdr %d)" % (dups, st.get("hec_resends"), xdr))
    fake.stop()


def configs():
    ex = os.path.join(H.SRCDIR, "examples", "xdr-to-splunk.ini")
    env = dict(os.environ, SPILLWAY_HEC_TOKEN="abc")
    env.pop("SPILLWAY_DEAD_LETTER", None)
    r = subprocess.run([H.SPILLWAY, "--check", "-c", ex], capture_output=True, text=True, env=env, timeout=30)
    tap.ok(r.returncode == 0, "examples/xdr-to-splunk.ini passes --check with SPILLWAY_HEC_TOKEN set", r.stderr)
    env.pop("SPILLWAY_HEC_TOKEN")
    r = subprocess.run([H.SPILLWAY, "--check", "-c", ex], capture_output=True, text=True, env=env, timeout=30)
    tap.ok(r.returncode != 0 and "SPILLWAY_HEC_TOKEN" in r.stderr,
           "examples/xdr-to-splunk.ini without SPILLWAY_HEC_TOKEN: an error naming it", r.stderr)
    base = ["[pipeline]", "[source.g]", "plugin = generate", "[codec.c]", "plugin = json",
            "[sink.h]", "plugin = splunk-hec", "codec = c", "url = http://127.0.0.1:1"]
    cases = [
        (["endpoint = raw", "index = i_${set}", "hec_token = t"], "cannot use ${...}"),
        (["fields = namespace,bins", "hec_token = t"], "unknown field 'bins'"),
        ([], "hec_token"),
        (["hec_token = a b"], "white space"),
        (["hec_token = t", "ack_poll_min = 2s", "ack_poll_max = 1s"], "ack_poll_min"),
    ]
    for extra, want in cases:
        p = H.write("bad.ini", "\n".join(base + extra) + "\n")
        r = H.check(p)
        tap.ok(r.rc != 0 and want in r.err and "bad.ini:" in r.err,
               "--check refuses %s: %s" % (extra, want), r.err)
    # The route's codec must write JSON for the event endpoint (spw_sink_ops.check_codec).
    for codec, endpoint, good in (("msgpack", "event", False), ("avro", "event", False),
                                  ("flat-json", "event", True), ("msgpack", "raw", True)):
        text = "\n".join(base + ["hec_token = t", "endpoint = %s" % endpoint]) + "\n"
        extra = "\nmetadata_key = meta" if codec == "flat-json" else ""
        p = H.write("codec.ini", text.replace("plugin = json", "plugin = %s%s" % (codec, extra)))
        r = H.check(p)
        if good:
            tap.ok(r.rc == 0, "--check accepts the %s codec with endpoint = %s" % (codec, endpoint), r.err)
        else:
            tap.ok(r.rc != 0 and re.search(r"codec\.ini:\d+: \[sink\.h\] key 'codec': the %s codec cannot "
                                            r"fill HEC events" % codec, r.err),
                   "--check refuses the %s codec with endpoint = event, naming file, line and key" % codec,
                   r.err)


STEPS = {"configs": configs, "basic": basic, "delayed": delayed, "never": never,
         "lost_poll": lost_poll, "ack_400": ack_400, "busy": busy, "code6": code6,
         "token": token, "raw": raw, "no_ack": no_ack, "ack_off": ack_off, "idle": idle, "sigkill": sigkill,
         "lb_sticky": lambda: balancer(True), "lb_plain": lambda: balancer(False)}
# Two test programs share the scenarios, each well inside the harness's timeout:
# this one, and tests/splunk-hec-more.py.
FIRST = ["configs", "basic", "delayed", "never", "lost_poll", "ack_400", "busy", "code6"]
MORE = ["token", "raw", "no_ack", "ack_off", "idle", "sigkill", "lb_sticky", "lb_plain"]


def main(names):
    if not os.access(XDRGEN, os.X_OK):
        print("1..0 # SKIP spillway-xdrgen is not built")
        return
    only = os.environ.get("HEC_ONLY")  # a debugging aid: HEC_ONLY=idle,code6
    for n in names:
        if not only or n in only.split(","):
            t0 = time.monotonic()
            STEPS[n]()
            tap.diag("%s: %.1f s" % (n, time.monotonic() - t0))
    tap.ok(not UNCLEAN, "every spillway run stopped cleanly on SIGTERM, no sanitizer report",
           *UNCLEAN[:2])
    tap.done()


if __name__ == "__main__":
    main(FIRST)

#!/usr/bin/python3
"""tests/es-e2e.py: the `elasticsearch` sink end to end: spillway-xdrgen ->
spillway (source xdr, codec flat-json, sink elasticsearch) -> the fake
cluster tests/fake-elasticsearch.py, whose final index is compared with what
it must hold.

  - items 3 and 50 of a bulk answered 429 and item 7 400: only 3 and 50 are
    resent, 7 is dead-lettered, and XDR is acknowledged for all 100;
  - records replayed out of order and duplicated (writes and deletes, three
    versions each, over four connections): the index ends with the newest
    version of every record and without the deleted ones;
  - the connection drops after the bulk was sent and applied: resent, stale;
  - SIGKILL of spillway mid-stream, restarted: every record is in the index;
  - a whole-request 413 splits down to the one oversized record, which alone
    is dead-lettered;
  - a multi-megabyte answer cut by the client: the items after the cut are
    resent, nothing is lost; whole-request 503s are retried;
  - API-key auth accepted; a wrong key holds the sink down, drops nothing;
  - the cluster's version is logged (Elasticsearch 8, OpenSearch 2);
  - --check refuses what cannot work; the example INI passes --check.
TAP on stdout.
"""

import importlib.util
import json
import os
import random
import signal
import subprocess
import sys
import time
import urllib.request

here = os.path.dirname(os.path.abspath(__file__))


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(here, file))
    m = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(m)
    return m


H = load("httplib", "http-lib.py")
X = load("xdrclient", "xdr-client.py")
tap = H.Tap()
BUILD = H.BUILDDIR
XDRGEN = os.path.join(BUILD, "spillway-xdrgen")
FAKE = os.path.join(here, "fake-elasticsearch.py")
PY = "/usr/bin/python3"


class Fake:
    def __init__(self, name, *args):
        self.log = H.path(name + ".eslog")
        pf = H.path(name + ".esport")
        self.proc = H.spawn([PY, FAKE, "--port", "0", "--port-file", pf, "--log", self.log] + list(args),
                            stdout=subprocess.DEVNULL, stderr=open(H.path(name + ".esstderr"), "w"))
        end = time.monotonic() + 10
        while not os.path.exists(pf):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError("the fake did not start")
            time.sleep(0.02)
        self.url = "http://127.0.0.1:%s" % open(pf).read()

    def faults(self, **f):
        req = urllib.request.Request(self.url + "/_fake/faults", data=json.dumps(f).encode(), method="POST")
        urllib.request.urlopen(req, timeout=5).read()

    def state(self):
        return json.loads(urllib.request.urlopen(self.url + "/_fake/state", timeout=5).read())

    def bulks(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return [json.loads(l) for l in f if l.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)


def ini(name, es, port, sink=(), dead=True, workers=1, pipeline=()):
    lines = ["[pipeline]", "name = es", "workers = %d" % workers, "event_deadline = 3s",
             "shutdown_timeout = 1s"] + list(pipeline)
    if dead:
        lines.append("dead_letter = %s" % H.path(name + ".dlq"))
    lines += ["", "[source.xdr]", "plugin = xdr", "listen = 127.0.0.1:%d" % port,
              "", "[codec.c]", "plugin = flat-json", "metadata_key = aerospike",
              "", "[sink.es]", "plugin = elasticsearch", "codec = c", "url = %s" % es.url,
              "id = key"] + list(sink)
    return H.write(name + ".ini", "\n".join(lines) + "\n")


class Spw:
    def __init__(self, ini_path, name):
        self.errp = H.path(name + ".spwerr")
        self.proc = H.spawn([H.SPILLWAY, "-c", ini_path], stdout=subprocess.DEVNULL,
                            stderr=open(self.errp, "a"))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return open(self.errp).read()


def stats(err, section="sink.es"):
    return H.Run(0, "", err).stats(section)


def xdrgen(port, *args, timeout=60):
    p = subprocess.run([XDRGEN, "-c", "127.0.0.1:%d" % port, "--json", "-q", "--max-time", "45s"] + list(args),
                       capture_output=True, text=True, timeout=timeout)
    try:
        return json.loads(p.stdout)
    except ValueError:
        return {"complete": False, "stdout": p.stdout, "stderr": p.stderr[-500:]}


def docs(fake, index="aerospike-test-demo"):
    return fake.state()["docs"].get(index, {})


# ---------------------------------------------------------------------------------------
def item_faults():
    fake = Fake("items")
    port = H.free_port()
    spw = Spw(ini("items", fake, port, ["batch_max_records = 100", "batch_max_delay = 1s"]), "items")
    fake.faults(positions={"3": 429, "50": 429, "7": 400}, min_items=60)
    rep = xdrgen(port, "-n", "100", "-C", "1", "-w", "100")
    err = spw.stop()
    bulks = [b for b in fake.bulks() if b["status"] == 200]
    first = next((k for k, b in enumerate(bulks) if any(i["s"] == 429 for i in b["items"])), None)
    tap.ok(rep.get("complete") and rep.get("acknowledged") == 100 and rep.get("abandoned") == 0,
           "items: XDR is acknowledged for all 100 records", json.dumps(rep)[:400], err[-1500:])
    if first is None:
        tap.ok(False, "items: the faults were injected", json.dumps([len(b["items"]) for b in bulks]))
        return
    fb = bulks[first]["items"]
    ids = [i["id"] for i in fb]
    later = [i["id"] for b in bulks[first + 1:] for i in b["items"]]
    tap.ok(sorted(later) == sorted([ids[3], ids[50]]),
           "items: only items 3 and 50 are resent (ids %s, %s)" % (ids[3], ids[50]), "resent: %s" % later)
    dl = H.dead_letters(H.path("items.dlq"))
    tap.ok(len(dl) == 1 and "mapper_parsing_exception" in json.dumps(dl[0]) and
           json.loads(H.payload(dl[0]))["seq"] == int(ids[7]),
           "items: item 7 is dead-lettered with its error type", json.dumps(dl)[:600])
    d = docs(fake)
    tap.ok(len(d) == 99 and ids[7] not in d, "items: the index holds the 99 others (%d)" % len(d))
    st = stats(err)
    tap.ok(st.get("item_retries") == 2 and st.get("item_rejects") == 1 and st.get("indexed") == 99,
           "items: counters indexed=99 item_retries=2 item_rejects=1", json.dumps(st))
    fake.stop()


# ---------------------------------------------------------------------------------------
def replay_out_of_order():
    """Three versions of 150 records, some ending deleted, shuffled and duplicated."""
    rng = random.Random(7)
    base = 500000000000  # clepoch ms
    frames, want = [], {}
    for k in range(150):
        ops = []
        for v in (1, 2, 3):
            lut = base + k * 10 + v
            delete = (v == 3 and k % 5 == 0) or (v == 2 and k % 7 == 0)
            if delete:
                f = X.record(key=k, lut=lut, delete=True, durable=(k % 2 == 0), gen=v)
            else:
                f = X.record(key=k, lut=lut, gen=v, ops=[X.int_bin("seq", k), X.int_bin("ver", v)])
            ops.append(f)
            want[k] = None if delete else (v, lut + X.CLEPOCH_MS)
        frames += ops
        frames += [ops[rng.randrange(3)] for _ in range(rng.randrange(2))]  # duplicates
    rng.shuffle(frames)
    rp = H.write("replay.hex", "".join(f.hex() + "\n" for f in frames))
    fake = Fake("replay")
    port = H.free_port()
    spw = Spw(ini("replay", fake, port, ["batch_max_records = 50", "batch_max_delay = 20ms"], workers=2),
              "replay")
    rep = xdrgen(port, "--replay", rp, "-C", "4", "-w", "16")
    err = spw.stop()
    d = docs(fake)
    bad = []
    for k, w in want.items():
        got = d.get(str(k))
        if w is None and got is not None:
            bad.append((k, "deleted but present", got))
        elif w is not None and (got is None or got["version"] != w[1] or got["source"].get("ver") != w[0]):
            bad.append((k, "want", w, got))
    tap.ok(rep.get("complete") and rep.get("acknowledged") == len(frames),
           "replay: %d frames (duplicates included) acknowledged" % len(frames), json.dumps(rep)[:400],
           err[-800:])
    tap.ok(not bad, "replay: the index holds the newest version of each of 150 records, deletes "
           "included (%d live)" % len(d), repr(bad[:5]))
    st = stats(err)
    tap.ok(st.get("stale", 0) > 0, "replay: older versions arrived late and were counted stale (%s)"
           % st.get("stale"))


# ---------------------------------------------------------------------------------------
def order_without_versions():
    """versioning = none: record 5 twice in one bulk (version 1 at position 2, version 2 at
    position 10); position 2 answered 429. The later action on the same document goes back
    with it, in order, so the index ends with version 2, not the retried version 1."""
    frames = []
    for k in range(20):
        key, ver = (5, 1) if k == 2 else (5, 2) if k == 10 else (100 + k, 1)
        frames.append(X.record(key=key, lut=700000000000 + k, ops=[X.int_bin("seq", key), X.int_bin("ver", ver)]))
    rp = H.write("order.hex", "".join(f.hex() + "\n" for f in frames))
    fake = Fake("order")
    port = H.free_port()
    spw = Spw(ini("order", fake, port, ["versioning = none", "batch_max_records = 20", "batch_max_delay = 500ms",
                                        "concurrency = 1"]), "order")
    fake.faults(positions={"2": 429}, min_items=20)
    rep = xdrgen(port, "--replay", rp, "-C", "1", "-w", "20")
    err = spw.stop()
    d = docs(fake)
    resent = [(i["id"], i["s"]) for b in fake.bulks()[1:] for i in b["items"]]
    tap.ok(rep.get("complete") and d.get("5", {}).get("source", {}).get("ver") == 2,
           "versioning = none: the index ends with the newer change of a document whose older change "
           "was retried", json.dumps(d.get("5")), err[-600:])
    tap.ok(sorted(resent) == [("5", 200), ("5", 201)] or [r[0] for r in resent] == ["5", "5"],
           "versioning = none: both changes of that document, and only they, were resent, in order",
           repr(resent))
    fake.stop()


# ---------------------------------------------------------------------------------------
def tombstone_window():
    """index.gc_deletes (1 s here): an older write after a versioned delete is refused while the
    tombstone lasts and brings the document back after it (the documented hazard); with
    deletes = soft it never can."""
    L = 800000000000
    def rec(key, lut, delete=False):
        if delete:
            return X.record(key=key, lut=lut, delete=True)
        return X.record(key=key, lut=lut, ops=[X.int_bin("seq", key), X.int_bin("lut", lut)])
    def replay(port, name, frames):
        rp = H.write(name + ".hex", "".join(f.hex() + "\n" for f in frames))
        return xdrgen(port, "--replay", rp, "-C", "1", "-w", "1")
    out = {}
    for mode in ("delete", "soft"):
        fake = Fake("tomb-" + mode, "--gc-deletes", "1")
        port = H.free_port()
        spw = Spw(ini("tomb-" + mode, fake, port, ["deletes = %s" % mode, "batch_max_records = 1"]),
                  "tomb-" + mode)
        r1 = replay(port, "t1-" + mode, [rec(1, L + 2), rec(1, L + 3, True), rec(1, L + 1),
                                         rec(2, L + 2), rec(2, L + 3, True)])
        time.sleep(1.5)
        r2 = replay(port, "t2-" + mode, [rec(2, L + 1)])
        spw.stop()
        out[mode] = (r1.get("complete") and r2.get("complete"), docs(fake))
        fake.stop()
    ok, d = out["delete"]
    tap.ok(ok and "1" not in d, "gc_deletes: an older write within the tombstone window stays deleted",
           json.dumps(d))
    tap.ok("2" in d, "gc_deletes: an older write after the window brings the document back "
           "(the hazard doc/elasticsearch-sink.md describes)", json.dumps(d))
    ok, d = out["soft"]
    tap.ok(ok and d.get("1", {}).get("source") == {"deleted": True} and
           d.get("2", {}).get("source") == {"deleted": True},
           "deletes = soft: the markers keep their version and no older write comes back", json.dumps(d))


# ---------------------------------------------------------------------------------------
def dropped_connection():
    fake = Fake("drop")
    port = H.free_port()
    spw = Spw(ini("drop", fake, port, ["batch_max_records = 20", "versioning = external"]), "drop")
    fake.faults(drop=2)
    rep = xdrgen(port, "-n", "200", "-C", "2", "-w", "50")
    err = spw.stop()
    d = docs(fake)
    st = stats(err)
    tap.ok(rep.get("complete") and rep.get("acknowledged") == 200 and len(d) == 200,
           "dropped connection: all 200 records acknowledged and indexed (%d)" % len(d), err[-800:])
    tap.ok(st.get("stale", 0) > 0 and st.get("item_retries", 0) > 0,
           "dropped connection: the applied bulks were resent and answered stale (stale=%s)" % st.get("stale"),
           json.dumps(st))


# ---------------------------------------------------------------------------------------
def sigkill():
    fake = Fake("kill")
    port = H.free_port()
    path = ini("kill", fake, port, ["batch_max_records = 100", "batch_max_delay = 5ms"])
    spw = Spw(path, "kill")
    gen = subprocess.Popen([XDRGEN, "-c", "127.0.0.1:%d" % port, "--json", "-q", "-n", "5000", "-r", "2500",
                            "-C", "2", "-w", "64", "--max-time", "40s"], stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    spw.stop(signal.SIGKILL)
    time.sleep(0.3)
    spw = Spw(path, "kill")
    out, _ = gen.communicate(timeout=60)
    err = spw.stop()
    rep = json.loads(out) if out.strip().startswith("{") else {}
    d = docs(fake)
    missing = [s for s in range(5000) if str(s) not in d]
    tap.ok(rep.get("complete") and not missing,
           "SIGKILL mid-stream: after a restart every one of 5000 records is indexed", "missing %d: %s"
           % (len(missing), missing[:10]), json.dumps(rep)[:300], err[-600:])


# ---------------------------------------------------------------------------------------
def too_large():
    frames = []
    for k in range(40):
        ops = [X.int_bin("seq", k)]
        if k == 17:
            ops.append(X.str_bin("big", "x" * 30000))
        frames.append(X.record(key=k, lut=600000000000 + k, ops=ops))
    rp = H.write("big.hex", "".join(f.hex() + "\n" for f in frames))
    fake = Fake("big", "--max-content-length", "20000")
    port = H.free_port()
    spw = Spw(ini("big", fake, port, ["batch_max_records = 40", "batch_max_delay = 200ms"]), "big")
    rep = xdrgen(port, "--replay", rp, "-C", "1", "-w", "40")
    err = spw.stop()
    d = docs(fake)
    dl = H.dead_letters(H.path("big.dlq"))
    statuses = [b["status"] for b in fake.bulks()]
    tap.ok(rep.get("complete") and len(d) == 39 and "17" not in d,
           "413: the batch splits, the 39 others are indexed (%d)" % len(d), "statuses %s" % statuses, err[-600:])
    tap.ok(len(dl) == 1 and json.loads(H.payload(dl[0]))["seq"] == 17 and "too large" in json.dumps(dl[0]),
           "413: the oversized record alone is dead-lettered as too large", json.dumps(dl)[:300])
    st = stats(err)
    tap.ok(st.get("splits", 0) >= 5 and statuses.count(413) >= 6,
           "413: split down to the record (%d splits, %d answers 413)" % (st.get("splits", 0), statuses.count(413)))


# ---------------------------------------------------------------------------------------
def big_answer_and_5xx():
    fake = Fake("cut")
    port = H.free_port()
    spw = Spw(ini("cut", fake, port, ["batch_max_records = 100", "batch_max_delay = 50ms"]), "cut")
    fake.faults(ignore_filter_path=True, item_pad=4000, status=503, count=2)
    rep = xdrgen(port, "-n", "300", "-C", "1", "-w", "100")
    err = spw.stop()
    d = docs(fake)
    biggest = max((len(b["items"]) for b in fake.bulks()), default=0)
    tap.ok(rep.get("complete") and len(d) == 300,
           "multi-megabyte answers (%d items x 4 KB) and two 503s: all 300 indexed (%d)" % (biggest, len(d)),
           err[-800:])
    tap.ok("was cut" in err, "the cut answer is said, and its later items resent")
    fake.stop()


# ---------------------------------------------------------------------------------------
def auth_and_version():
    fake = Fake("key", "--api-key", "k1:s3cret", "--flavor", "os2")
    port = H.free_port()
    spw = Spw(ini("key", fake, port, ["auth = header", "auth_header = Authorization",
                                      "auth_value = ApiKey k1:s3cret"]), "key")
    rep = xdrgen(port, "-n", "50")
    err = spw.stop()
    tap.ok(rep.get("complete") and len(docs(fake)) == 50, "API key: accepted, 50 indexed", err[-500:])
    tap.ok("OpenSearch 2.13.0" in err, "the cluster's version is logged (OpenSearch 2)")
    tap.ok("s3cret" not in err, "the key is not logged")

    port = H.free_port()
    spw = Spw(ini("badkey", fake, port, ["auth = header", "auth_header = Authorization",
                                         "auth_value = ApiKey wrong", "auth_failure_probe = 300ms"]), "badkey")
    rep = xdrgen(port, "-n", "20", "--max-time", "3s")
    err = spw.stop()
    st = stats(err)
    tap.ok(not rep.get("complete") and rep.get("acknowledged", 0) == 0 and st.get("down_transitions", 0) >= 1
           and st.get("dead_lettered", 0) == 0 and st.get("dropped", 0) == 0,
           "wrong API key: held down, nothing acknowledged, dropped or dead-lettered", json.dumps(st), err[-600:])
    tap.ok("check the credentials" in err, "wrong API key: a loud log line")
    fake.stop()


# ---------------------------------------------------------------------------------------
def checks():
    fake_url = "http://127.0.0.1:9"
    class F:
        url = fake_url
    cases = [
        (["data_stream = true"], "versioning = none"),
        (["data_stream = true", "versioning = none"], "deletes = soft"),
        (["doc_type = _doc"], "mapping types"),
        (["index = Logs-${set}"], "lowercase"),
        (["index = a-${nope}"], "nope"),
        (["soft_delete_field = _deleted"], "soft_delete_field"),
    ]
    for lines, want in cases:
        r = H.check(ini("chk", F, 1, lines))
        tap.ok(r.rc != 0 and want in r.err, "--check refuses %s" % lines, r.err[-400:])
    r = H.check(ini("chk-ok", F, 1, ["data_stream = true", "versioning = none", "deletes = soft"]))
    tap.ok(r.rc == 0, "--check accepts a data stream with soft deletes and no versioning", r.err[-300:])
    ex = os.path.join(H.SRCDIR, "examples", "xdr-to-elasticsearch.ini")
    p = subprocess.run([H.SPILLWAY, "--check", "-c", ex], capture_output=True, text=True, timeout=30,
                       env=dict(os.environ, SPILLWAY_DEAD_LETTER=H.path("ex.dlq")))
    tap.ok(p.returncode == 0, "examples/xdr-to-elasticsearch.ini passes --check with no variables set",
           p.stderr[-400:])


if not os.path.exists(os.path.join(BUILD, "plugins", "source-xdr.la")):
    print("1..0 # SKIP the xdr source is not built")
    sys.exit(0)
checks()
item_faults()
replay_out_of_order()
order_without_versions()
tombstone_window()
dropped_connection()
too_large()
big_answer_and_5xx()
auth_and_version()
sigkill()
tap.done()

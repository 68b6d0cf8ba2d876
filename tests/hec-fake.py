#!/usr/bin/python3
"""tests/hec-fake.py: a fake Splunk HTTP Event Collector, strict where
Splunk is, for the splunk-hec sink's tests and benchmark.

    python3 tests/hec-fake.py --port 8088 --token T --ack

Every protocol rule is in the RULES section below, each with the Splunk
documentation page it comes from:
  [FMT]  "Format events for HTTP Event Collector"
         https://help.splunk.com/splunk-enterprise/get-data-in/collect-http-event-data/
  [API]  "HTTP Event Collector REST API endpoints" (/services/collector/event,
         /services/collector/raw, /services/collector/ack, /services/collector/health)
  [ACK]  "About HTTP Event Collector Indexer Acknowledgment"
  [CODE] "Troubleshoot HTTP Event Collector" (the status codes table)
  [LIM]  limits.conf [http_input]: max_number_of_acked_requests_pending_query_per_ack_channel,
         maxIdleTime-style channel cleanup ("channels are cleaned up when idle")

Recording (--log FILE): one JSON line per event indexed:
  {"seq": N or null, "indexer": I, "channel": GUID, "ackId": N, "path": ...}
written before the answer goes out, so a test sees exactly what Splunk
indexed (an event indexed whose ack was lost is still indexed: a duplicate
when resent). GET /_control/stats answers counters as JSON; POST
/_control/set with a JSON object changes the behaviour while running
(ack_delay, ack_mode, busy, lose_polls, ack_status, code6_seq, ...).

Modes:
  --ack            tokens have useACK: a channel is required, answers carry ackId
  --ack-delay S    an ack turns true S seconds after its request was indexed
  --ack-mode M     normal | never (acks stay false) 
  --pending-cap N  pending ack ids per channel before "server busy" [LIM]
  --idle S         a channel unused for S seconds is forgotten with its acks [LIM]
  --indexers N     N indexers behind one balancer; each knows only its own
                   channels and acks [ACK: "sticky sessions"]
  --sticky         the balancer sets and honours a cookie (spw_lb=iN); without
                   it, requests go round robin to the indexers
"""

import argparse
import gzip
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEQ_RE = re.compile(rb'"name":\s*"seq",\s*"type":\s*"int",\s*"value":\s*(\d+)|"seq":\s*(\d+)')
GUID_RE = re.compile(r"^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$")

# ---------------------------------------------------------------------------
# RULES
# ---------------------------------------------------------------------------

# [CODE] code -> (HTTP status, text)
CODES = {
    0: (200, "Success"),
    1: (403, "Token disabled"),
    2: (401, "Token is required"),
    3: (401, "Invalid authorization"),
    4: (403, "Invalid token"),
    5: (400, "No data"),
    6: (400, "Invalid data format"),
    7: (400, "Incorrect index"),
    8: (500, "Internal server error"),
    9: (503, "Server is busy"),
    10: (400, "Data channel is missing"),
    11: (400, "Invalid data channel"),
    12: (400, "Event field is required"),
    13: (400, "Event field cannot be blank"),
    14: (400, "ACK is disabled"),
    15: (400, "Error in handling indexed fields"),
    17: (200, "HEC is healthy"),
    18: (503, "HEC is unhealthy, queues are full"),
}

# [FMT] the keys an event envelope may carry. HEC answers 200 to an unknown
# key but drops that object and those after it (reported by users; counted
# here as `violations` so that a test fails on it).
ENVELOPE_KEYS = {"time", "host", "source", "sourcetype", "index", "event", "fields"}


class HecError(Exception):
    def __init__(self, code, invalid=None, extra=None):
        self.code = code
        self.invalid = invalid
        self.extra = extra


def parse_auth(headers, tokens, disabled):
    """[API] Authorization: Splunk TOKEN. [CODE] 2 missing, 3 malformed, 4 unknown, 1 disabled."""
    h = headers.get("Authorization")
    if h is None:
        raise HecError(2)
    scheme, _, tok = h.partition(" ")
    if scheme != "Splunk" or not tok:
        raise HecError(3)
    if tok in disabled:
        raise HecError(1)
    if tok not in tokens:
        raise HecError(4)


def split_envelopes(body):
    """[FMT] several JSON objects one after another, white space between allowed, no array."""
    dec = json.JSONDecoder()
    text = body.decode("utf-8")
    i, out = 0, []
    while True:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        if i == len(text):
            return out
        try:
            obj, end = dec.raw_decode(text, i)
        except ValueError:
            raise HecError(6, invalid=len(out))
        if not isinstance(obj, dict):
            raise HecError(6, invalid=len(out))
        out.append(obj)
        i = end


def check_envelope(env, n, indexes):
    """[FMT] event required and not blank (12, 13); time a number (6); index known (7);
    fields a flat object of strings or lists of strings (15)."""
    if "event" not in env:
        raise HecError(12, invalid=n)
    if env["event"] in ("", None, {}):
        raise HecError(13, invalid=n)
    if "time" in env and not (isinstance(env["time"], (int, float)) and not isinstance(env["time"], bool)):
        try:
            float(env["time"])
        except (TypeError, ValueError):
            raise HecError(6, invalid=n)
    for k in ("host", "source", "sourcetype", "index"):
        if k in env and not isinstance(env[k], str):
            raise HecError(6, invalid=n)
    if "index" in env and indexes is not None and env["index"] not in indexes:
        raise HecError(7, invalid=n)
    if "fields" in env:
        f = env["fields"]
        if not isinstance(f, dict):
            raise HecError(15, invalid=n)
        for v in f.values():
            if isinstance(v, list):
                if not all(isinstance(x, (str, int, float)) for x in v):
                    raise HecError(15, invalid=n)
            elif not isinstance(v, (str, int, float)) or isinstance(v, bool):
                raise HecError(15, invalid=n)


class Channel:
    """[ACK] ack ids counted per channel from 0; an id answers true once, then is forgotten."""

    def __init__(self):
        self.next_id = 0
        self.pending = {}  # id -> time it turns true (None: never)
        self.used = time.monotonic()


class Indexer:
    def __init__(self, n):
        self.n = n
        self.channels = {}


class Fake:
    def __init__(self, a):
        self.a = a
        self.lock = threading.Lock()
        self.indexers = [Indexer(i) for i in range(a.indexers)]
        self.rr = 0
        self.cfg = {"ack_delay": a.ack_delay, "ack_mode": a.ack_mode, "busy": 0, "lose_polls": 0,
                    "ack_status": None, "code6_seq": None, "pending_cap": a.pending_cap,
                    "disabled": False}
        self.code6_done = set()
        self.stats = {"requests": 0, "events": 0, "polls": 0, "acks_true": 0, "busy": 0,
                      "lost_polls": 0, "channels_expired": 0, "violations": 0, "code6": 0,
                      "errors": {}, "channels": 0, "cookies_seen": 0, "health": 0, "gzip": 0}
        self.log = open(a.log, "a") if a.log else None

    # -- balancer ---------------------------------------------------------
    def route(self, headers):
        """Picks the indexer; with --sticky a cookie spw_lb=iN wins and is (re)set."""
        if len(self.indexers) == 1:
            return self.indexers[0], None
        if self.a.sticky:
            m = re.search(r"(?:^|;\s*)spw_lb=i(\d+)", headers.get("Cookie") or "")
            if m and int(m.group(1)) < len(self.indexers):
                self.stats["cookies_seen"] += 1
                ix = self.indexers[int(m.group(1))]
                return ix, None
        ix = self.indexers[self.rr % len(self.indexers)]
        self.rr += 1
        return ix, ("spw_lb=i%d; Path=/; HttpOnly" % ix.n) if self.a.sticky else None

    def expire(self, now):
        """[LIM] idle channels are cleaned up, their pending acks with them."""
        if not self.a.idle:
            return
        for ix in self.indexers:
            for g in [g for g, c in ix.channels.items() if now - c.used > self.a.idle]:
                del ix.channels[g]
                self.stats["channels_expired"] += 1

    # -- endpoints --------------------------------------------------------
    def channel_of(self, headers, query, ix, create):
        """[ACK] the channel: X-Splunk-Request-Channel or ?channel=; a GUID; required with ack."""
        g = headers.get("X-Splunk-Request-Channel") or (query.get("channel") or [None])[0]
        if g is None:
            if self.a.ack:
                raise HecError(10)
            return None, None
        if not GUID_RE.match(g):
            raise HecError(11)
        ch = ix.channels.get(g)
        if ch is None:
            if not create:
                raise HecError(11)
            ch = ix.channels[g] = Channel()
            self.stats["channels"] += 1
        ch.used = time.monotonic()
        return g, ch

    def index(self, objs, path, ix, g, ch):
        """Indexes the events; with ack, assigns the request's ackId [ACK]."""
        ack_id = None
        if self.a.ack and ch is not None:
            if len(ch.pending) >= self.cfg["pending_cap"]:
                raise HecError(9)
            ack_id = ch.next_id
            ch.next_id += 1
            mode = self.cfg["ack_mode"]
            ch.pending[ack_id] = None if mode == "never" else time.monotonic() + self.cfg["ack_delay"]
        for o in objs:
            raw = o if isinstance(o, bytes) else json.dumps(o.get("event")).encode()
            m = SEQ_RE.search(raw)
            seq = int(m.group(1) or m.group(2)) if m else None
            self.stats["events"] += 1
            if self.log:
                self.log.write(json.dumps({"seq": seq, "indexer": ix.n, "channel": g, "ackId": ack_id,
                                           "path": path, "meta": {k: v for k, v in o.items() if k != "event"}
                                           if isinstance(o, dict) else None}) + "\n")
        if self.log:
            self.log.flush()
        return ack_id

    def event(self, headers, query, body, ix):
        objs = split_envelopes(body)
        if not objs:
            raise HecError(5)
        good = []
        for n, env in enumerate(objs):
            unknown = set(env) - ENVELOPE_KEYS
            if unknown:
                self.stats["violations"] += 1
                break  # 200, but this object and the rest are dropped
            try:
                check_envelope(env, n, self.a.indexes)
            except HecError as e:
                if good:
                    self._index_partial(good, ix, headers, query)
                raise e
            seq6 = self.cfg["code6_seq"]
            if seq6 is not None and seq6 not in self.code6_done:
                m = SEQ_RE.search(json.dumps(env["event"]).encode())
                if m and int(m.group(1) or m.group(2)) == seq6:
                    # [CODE] 6 with invalid-event-number: the objects before it were indexed
                    self.code6_done.add(seq6)
                    self.stats["code6"] += 1
                    if good:
                        self._index_partial(good, ix, headers, query)
                    raise HecError(6, invalid=n)
            good.append(env)
        g, ch = self.channel_of(headers, query, ix, True)
        return self.index(good, "event", ix, g, ch)

    def _index_partial(self, good, ix, headers, query):
        """An error answer carries no ackId: what was indexed before the bad object is
        simply indexed."""
        try:
            g, ch = self.channel_of(headers, query, ix, True)
        except HecError:
            g, ch = None, None
        for o in good:
            raw = json.dumps(o.get("event")).encode()
            m = SEQ_RE.search(raw)
            self.stats["events"] += 1
            if self.log:
                self.log.write(json.dumps({"seq": int(m.group(1) or m.group(2)) if m else None,
                                           "indexer": ix.n, "channel": g, "ackId": None,
                                           "path": "event"}) + "\n")
        if self.log:
            self.log.flush()

    def raw(self, headers, query, body, ix):
        """[API] /raw: any bytes, events split at line breaks; metadata in the query."""
        lines = [l for l in body.split(b"\n") if l.strip()]
        if not lines:
            raise HecError(5)
        if "index" in query and self.a.indexes is not None and query["index"][0] not in self.a.indexes:
            raise HecError(7)
        g, ch = self.channel_of(headers, query, ix, True)
        return self.index(lines, "raw", ix, g, ch)

    def ack(self, headers, query, body, ix):
        """[ACK] {"acks":[ids]} -> {"acks":{"id":bool}}; true once, then forgotten."""
        if not self.a.ack:
            raise HecError(14)
        # An indexer that never saw the channel (behind a balancer, or after idle
        # expiry) answers false for every id, as for ids not yet indexed (vector#19417).
        g, ch = self.channel_of(headers, query, ix, True)
        try:
            req = json.loads(body)
            ids = req["acks"]
            if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise HecError(6)
        now = time.monotonic()
        out = {}
        for i in ids:
            t = ch.pending.get(i, "unknown")
            if t == "unknown" or t is None or (self.cfg["ack_mode"] == "never") or now < t:
                out[str(i)] = False
            else:
                out[str(i)] = True
                del ch.pending[i]
                self.stats["acks_true"] += 1
        return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    fake = None

    def log_message(self, fmt, *args):
        pass

    def _answer(self, status, obj, cookie=None, close=False):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        if cookie:
            self.send_header("Set-Cookie", cookie)
        self.end_headers()
        self.wfile.write(data)

    def _error(self, e, cookie=None):
        st, text = CODES[e.code]
        obj = {"text": text, "code": e.code}
        if e.invalid is not None:
            obj["invalid-event-number"] = e.invalid
        f = self.fake
        f.stats["errors"][str(e.code)] = f.stats["errors"].get(str(e.code), 0) + 1
        self._answer(st, obj, cookie)

    def do_GET(self):
        f = self.fake
        u = urllib.parse.urlsplit(self.path)
        if u.path == "/_control/stats":
            with f.lock:
                return self._answer(200, f.stats)
        if u.path == "/services/collector/health":
            # [API] 200 {"text":"HEC is healthy","code":17}; 503 code 9/18 when busy
            f.stats["health"] += 1
            if f.cfg["busy"]:
                return self._error(HecError(18))
            return self._answer(200, {"text": "HEC is healthy", "code": 17})
        self._answer(404, {"text": "The requested URL was not found on this server.", "code": 404})

    def do_POST(self):
        f = self.fake
        u = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if u.path.startswith("/_control/"):
            if u.path == "/_control/set":
                with f.lock:
                    f.cfg.update(json.loads(body or b"{}"))
            return self._answer(200, {"ok": True})
        if self.headers.get("Content-Encoding") == "gzip":
            f.stats["gzip"] += 1
            try:
                body = gzip.decompress(body)
            except OSError:
                return self._error(HecError(6))
        query = urllib.parse.parse_qs(u.query)
        with f.lock:
            f.stats["requests"] += 1
            f.expire(time.monotonic())
            ix, cookie = f.route(self.headers)
            try:
                parse_auth(self.headers, f.a.token, {t for t in f.a.token if f.cfg["disabled"]})
                if u.path in ("/services/collector/event", "/services/collector",
                              "/services/collector/event/1.0"):
                    if f.cfg["busy"] > 0:
                        f.cfg["busy"] -= 1
                        f.stats["busy"] += 1
                        raise HecError(9)
                    ack_id = f.event(self.headers, query, body, ix)
                elif u.path in ("/services/collector/raw", "/services/collector/raw/1.0"):
                    if f.cfg["busy"] > 0:
                        f.cfg["busy"] -= 1
                        f.stats["busy"] += 1
                        raise HecError(9)
                    ack_id = f.raw(self.headers, query, body, ix)
                elif u.path == "/services/collector/ack":
                    f.stats["polls"] += 1
                    if f.cfg["ack_status"]:
                        st = int(f.cfg["ack_status"])
                        return self._answer(st, {"text": "Bad request", "code": 6} if st == 400 else "garbage")
                    acks = f.ack(self.headers, query, body, ix)
                    if f.cfg["lose_polls"] > 0 and any(acks.values()):
                        # The answer is lost on its way (cut after its headers): the acks it
                        # carried were answered true once and are gone.
                        f.cfg["lose_polls"] -= 1
                        f.stats["lost_polls"] += 1
                        data = json.dumps({"acks": acks}).encode()
                        self.send_response(200)
                        self.send_header("Content-Type", "application/json; charset=UTF-8")
                        self.send_header("Content-Length", str(len(data)))
                        self.end_headers()
                        self.wfile.write(data[:len(data) // 2])
                        self.wfile.flush()
                        self.close_connection = True
                        self.connection.shutdown(2)
                        return
                    return self._answer(200, {"acks": acks}, cookie)
                else:
                    return self._answer(404, {"text": "The requested URL was not found on this server.",
                                              "code": 404})
            except HecError as e:
                return self._error(e, cookie)
        obj = {"text": "Success", "code": 0}
        if ack_id is not None:
            obj["ackId"] = ack_id
        self._answer(200, obj, cookie)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--port", type=int, default=8088)
    p.add_argument("--port-file")
    p.add_argument("--token", action="append", default=[])
    p.add_argument("--ack", action="store_true")
    p.add_argument("--ack-delay", type=float, default=0.0)
    p.add_argument("--ack-mode", default="normal", choices=("normal", "never"))
    p.add_argument("--pending-cap", type=int, default=1000000)
    p.add_argument("--idle", type=float, default=0.0)
    p.add_argument("--indexers", type=int, default=1)
    p.add_argument("--sticky", action="store_true")
    p.add_argument("--index", action="append", dest="indexes", default=None)
    p.add_argument("--log")
    a = p.parse_args()
    if not a.token:
        a.token = ["00000000-0000-0000-0000-000000000000"]
    Handler.fake = Fake(a)
    srv = ThreadingHTTPServer(("127.0.0.1", a.port), Handler)
    srv.daemon_threads = True
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(srv.server_address[1]))
        os.rename(tmp, a.port_file)
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        srv.serve_forever(0.1)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()

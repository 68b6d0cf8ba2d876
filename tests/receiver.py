#!/usr/bin/env python3
"""tests/receiver.py: an HTTP/1.1 receiver that records what arrives and
injects faults on a schedule. The http sink's tests deliver to it, and it
doubles as the bundled local receiver of the README demo:

    python3 tests/receiver.py --port 8080 --print

prints one line per request (method, path, status, records and their
sequence numbers) and, on Ctrl-C, the totals: requests, records, distinct
sequence numbers and duplicates.

Recording (--log FILE): one JSON object per request, written and flushed
before the answer is sent: method, path, headers, status answered, body
length and SHA-256 (after gzip decoding when Content-Encoding is gzip),
the body itself with --log-bodies, and the "seq" values found in the body
(the generate source's and spillway-xdrgen's sequence numbers, in the json
codec's `{"name":"seq",...,"value":N}` form or a flat `"seq":N`).

Faults (--fault SPEC, repeatable, or POST /_control/fault with SPEC as the
body; POST /_control/clear removes them). SPEC is comma-separated:
  an action:  status=CODE [retry_after=S] [body=TEXT | size=N] [header=NAME:VALUE]...
              | delay=MS | reset
              (close without answering) | slow=MS (per 4 KiB read of the
              body) | hang (never answer) | refuse (stop listening)
  a window:   start=S (seconds after the receiver started, or after the
              fault was added over /_control), for=S (duration), after=N
              (skip the first N matching requests), count=N (then stop),
              every=N (only every Nth matching request)
  a match:    seq=N (only requests carrying that sequence number),
              path=PREFIX
The first rule that applies to a request decides. `refuse` closes the
listening socket and every open connection for its window (start= and
for= are required), so clients see connection refused, then reopens.

Checks: --basic USER:PASS, --bearer TOKEN, --sigv4 AKID:SECRET:REGION:SERVICE,
--hmac-sha256 HEADER:SECRET (a webhook signature, "sha256=HEX" of the body)
answer 401/403 to requests without the right credentials (SigV4 verified
with this file's own signer, written from the AWS documentation, not the
sink's). GET /_control/stats answers the totals as JSON. --port 0 picks a
free port; --port-file FILE receives it once listening.
"""

import argparse
import base64
import gzip
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SEQ_RE = re.compile(rb'"name":\s*"seq",\s*"type":\s*"int",\s*"value":\s*(\d+)|"seq":\s*(\d+)')


class Rule:
    def __init__(self, spec, t0):
        self.spec = spec
        self.action = None
        self.arg = None
        self.retry_after = None
        self.body = b""
        self.headers = []
        self.start = 0.0
        self.duration = None
        self.after = 0
        self.count = None
        self.every = 1
        self.seq = None
        self.path = None
        self.seen = 0
        self.applied = 0
        for item in spec.split(","):
            item = item.strip()
            if not item:
                continue
            k, _, v = item.partition("=")
            if k in ("status", "delay", "slow"):
                self.action, self.arg = k, int(v)
            elif k in ("reset", "hang", "refuse"):
                self.action = k
            elif k == "retry_after":
                self.retry_after = v
            elif k == "body":
                self.body = v.encode()
            elif k == "size":
                self.body = b"x" * int(v)
            elif k == "header":
                name, _, value = v.partition(":")
                self.headers.append((name.strip(), value.strip()))
            elif k == "start":
                self.start = float(v)
            elif k == "for":
                self.duration = float(v)
            elif k == "after":
                self.after = int(v)
            elif k == "count":
                self.count = int(v)
            elif k == "every":
                self.every = max(1, int(v))
            elif k == "seq":
                self.seq = int(v)
            elif k == "path":
                self.path = v
            elif not self.parse_extra(k, v):
                raise ValueError("unknown fault item %r in %r" % (item, spec))
        self.finish_parse(spec)
        if self.action is None:
            raise ValueError("fault %r has no action" % spec)
        if self.action == "refuse" and self.duration is None:
            raise ValueError("fault %r: refuse needs for=" % spec)
        self.t0 = t0

    def parse_extra(self, key, value):
        """Fault items of a subclass (tests/h2-receiver.py); False: unknown."""
        return False

    def finish_parse(self, spec):
        """Checks across items, for a subclass."""

    def active_now(self, now):
        if now < self.t0 + self.start:
            return False
        if self.duration is not None and now >= self.t0 + self.start + self.duration:
            return False
        return True

    def applies(self, now, path, seqs):
        """Called with the state lock held, for every request in turn."""
        if self.action == "refuse":
            return False
        if not self.active_now(now):
            return False
        if self.path is not None and not path.startswith(self.path):
            return False
        if self.seq is not None and self.seq not in seqs:
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if (self.seen - self.after - 1) % self.every != 0:
            return False
        if self.count is not None and self.applied >= self.count:
            return False
        self.applied += 1
        return True


class State:
    rule_class = Rule

    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.t0 = time.monotonic()
        self.rules = [self.rule_class(s, self.t0) for s in args.fault]
        self.log = open(args.log, "a", buffering=1) if args.log else None
        self.requests = 0
        self.records = 0
        self.seqs = {}
        self.statuses = {}
        self.conns = set()
        self.server = None
        self.refusing = False

    def stats(self):
        dups = sum(c - 1 for c in self.seqs.values() if c > 1)
        return {
            "requests": self.requests,
            "records": self.records,
            "distinct_seqs": len(self.seqs),
            "duplicates": dups,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
        }


def find_seqs(body):
    out = []
    for m in SEQ_RE.finditer(body):
        out.append(int(m.group(1) or m.group(2)))
    return out


# ---- SigV4 verification (independent of the sink's signer) -------------------

def _uri_encode(s, keep_slash):
    safe = "-_.~" + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def _canonical_uri(path):
    segs = []
    parts = path.split("/")
    for p in parts:
        if p in ("", "."):
            continue
        if p == "..":
            if segs:
                segs.pop()
            continue
        segs.append(p)
    out = "/" + "/".join(_uri_encode(s, False) for s in segs)
    if segs and parts[-1] in ("", ".", ".."):
        out += "/"
    return out


def _canonical_query(q):
    if not q:
        return ""
    pairs = []
    for item in q.split("&"):
        if not item:
            continue
        k, _, v = item.partition("=")
        k = urllib.parse.unquote(k)
        v = urllib.parse.unquote(v)
        pairs.append((_uri_encode(k, False), _uri_encode(v, False)))
    pairs.sort()
    return "&".join("%s=%s" % kv for kv in pairs)


def sigv4_check(spec, method, raw_path, headers, body):
    akid, secret, region, service = spec.split(":", 3)
    auth = headers.get("Authorization", "")
    m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                 r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$", auth)
    if not m:
        return "no SigV4 Authorization header"
    if m.group(1) != akid or m.group(3) != region or m.group(4) != service:
        return "wrong credential scope"
    amz_date = headers.get("X-Amz-Date", "")
    if not amz_date.startswith(m.group(2)):
        return "X-Amz-Date does not match the scope's date"
    signed = m.group(5).split(";")
    path, _, query = raw_path.partition("?")
    lines = []
    for name in signed:
        vals = headers.get_all(name) or []
        vals = [" ".join(v.strip().split()) for v in vals]
        lines.append("%s:%s\n" % (name, ",".join(vals)))
    creq = "\n".join([method, _canonical_uri(path), _canonical_query(query), "".join(lines),
                      ";".join(signed), hashlib.sha256(body).hexdigest()])
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, "%s/%s/%s/aws4_request" % (m.group(2), region, service),
                     hashlib.sha256(creq.encode()).hexdigest()])
    k = ("AWS4" + secret).encode()
    for part in (m.group(2), region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(want, m.group(6)):
        return "signature mismatch"
    return None


def auth_denial(args, method, raw_path, headers, raw_body):
    """What --basic, --bearer and --sigv4 answer a request without the right
    credentials, as (status, body); None when it may pass. headers: get(name)
    and get_all(name), case-insensitive (an email.message.Message, or
    h2-receiver.py's view of a stream's headers)."""
    deny = None
    if args.basic:
        want = "Basic " + base64.b64encode(args.basic.encode()).decode()
        if headers.get("Authorization") != want:
            deny = (401, b"basic auth required\n")
    if args.bearer and headers.get("Authorization") != "Bearer " + args.bearer:
        deny = (401, b"bearer token required\n")
    if args.sigv4:
        why = sigv4_check(args.sigv4, method, raw_path, headers, raw_body)
        if why:
            deny = (403, ("sigv4: %s\n" % why).encode())
    if args.hmac_sha256:
        # A webhook signature as GitHub sends it: "sha256=" + hex HMAC-SHA256 of the payload
        # (before any Content-Encoding) under a shared secret.
        name, _, secret = args.hmac_sha256.partition(":")
        body = raw_body
        if (headers.get("Content-Encoding") or "").lower() == "gzip":
            try:
                body = gzip.decompress(raw_body)
            except OSError:
                body = b""
        want = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(headers.get(name) or "", want):
            deny = (401, b"bad or missing webhook signature\n")
    return deny


# ---- the server ----------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "spillway-receiver/1.0"

    def log_message(self, fmt, *args):  # quiet: the JSON log says it all
        pass

    def setup(self):
        super().setup()
        with STATE.lock:
            STATE.conns.add(self.connection)

    def finish(self):
        try:
            super().finish()
        finally:
            with STATE.lock:
                STATE.conns.discard(self.connection)

    def _read_body(self, slow_ms):
        n = int(self.headers.get("Content-Length") or 0)
        chunks = []
        left = n
        while left > 0:
            c = self.rfile.read(min(left, 4096 if slow_ms else left))
            if not c:
                break
            chunks.append(c)
            left -= len(c)
            if slow_ms:
                time.sleep(slow_ms / 1000.0)
        return b"".join(chunks)

    def _answer(self, status, body=b"", extra=None):
        self.send_response(status)
        for k, v in (extra.items() if isinstance(extra, dict) else extra or []):
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body:
            self.wfile.write(body)

    def _control(self, raw):
        st = STATE
        if self.path == "/_control/stats":
            with st.lock:
                body = json.dumps(st.stats()).encode()
            return self._answer(200, body, {"Content-Type": "application/json"})
        if self.path == "/_control/fault":
            try:
                rule = Rule(raw.decode().strip(), time.monotonic())
            except ValueError as e:
                return self._answer(400, str(e).encode())
            with st.lock:
                st.rules.append(rule)
            self._answer(200, b"ok\n")
            if rule.action == "refuse":
                # Answered first, and this connection spared: with start=0 the loop would
                # otherwise cut the control request's own answer off.
                threading.Thread(target=refuse_loop, args=(rule, self.connection),
                                 daemon=True).start()
            return None
        if self.path == "/_control/clear":
            with st.lock:
                st.rules = []
            return self._answer(200, b"ok\n")
        return self._answer(404, b"no such control\n")

    def _handle(self):
        st = STATE
        # A rule that slows reading must be known before the body is read; it cannot
        # depend on the body (seq=), so it is looked up on the path alone.
        slow = 0
        now = time.monotonic()
        if not self.path.startswith("/_control/"):
            with st.lock:
                for r in st.rules:
                    if r.action == "slow" and r.seq is None and r.applies(now, self.path, []):
                        slow = r.arg
                        break
        raw = self._read_body(slow)
        if self.path.startswith("/_control/"):
            return self._control(raw)
        body = raw
        if (self.headers.get("Content-Encoding") or "").lower() == "gzip":
            try:
                body = gzip.decompress(raw)
            except OSError:
                return self._answer(400, b"bad gzip\n")
        seqs = find_seqs(body)
        status, answer, extra, action = 200, b"", {}, None
        deny = auth_denial(st.args, self.command, self.path, self.headers, raw)
        rule = None
        if deny is None:
            with st.lock:
                for r in st.rules:
                    if r.action != "slow" and r.applies(now, self.path, seqs):
                        rule = r
                        break
        if deny is not None:
            status, answer = deny
        elif rule is not None:
            action = rule.action
            if action == "status":
                status, answer = rule.arg, rule.body
                if rule.retry_after is not None:
                    extra["Retry-After"] = rule.retry_after
                extra = list(extra.items()) + rule.headers
            elif action == "delay":
                time.sleep(rule.arg / 1000.0)
        if action in ("reset", "hang"):
            status = 0
        entry = {
            "t": round(time.monotonic() - st.t0, 3),
            "method": self.command,
            "path": self.path,
            "version": self.request_version,
            "headers": {k: v for k, v in self.headers.items()},
            "dup_headers": sorted({k for k in self.headers.keys()
                                   if len(self.headers.get_all(k) or []) > 1}),
            "status": status,
            "len": len(body),
            "wire_len": len(raw),
            "sha256": hashlib.sha256(body).hexdigest(),
            "seqs": seqs,
        }
        if st.args.log_bodies:
            try:
                entry["body"] = body.decode()
            except UnicodeDecodeError:
                entry["body_b64"] = base64.b64encode(body).decode()
        with st.lock:
            st.requests += 1
            st.statuses[status] = st.statuses.get(status, 0) + 1
            if 200 <= status < 300:
                st.records += len(seqs)
                for s in seqs:
                    st.seqs[s] = st.seqs.get(s, 0) + 1
            if st.log:
                st.log.write(json.dumps(entry) + "\n")
        if st.args.print:
            shown = ""
            if seqs:
                shown = " seq %d" % seqs[0] if len(seqs) == 1 else " seq %d..%d" % (min(seqs), max(seqs))
            print("%s %s -> %s, %d bytes, %d record(s)%s" % (self.command, self.path, status or action,
                                                             len(body), len(seqs), shown), flush=True)
        if action == "reset":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            except OSError:
                pass
            return
        if action == "hang":
            while True:
                time.sleep(3600)
        self._answer(status, answer, extra)

    do_POST = _handle
    do_PUT = _handle
    do_PATCH = _handle
    do_GET = _handle
    do_DELETE = _handle
    do_HEAD = _handle


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def make_server(host, port):
    return Server((host, port), Handler)


def refuse_loop(rule, spare=None):
    """Closes the listener and every connection (but SPARE) for the rule's window, then reopens."""
    st = STATE
    delay = rule.t0 + rule.start - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    with st.lock:
        srv = st.server
        st.refusing = True
        conns = [c for c in st.conns if c is not spare]
    port = srv.server_address[1]
    srv.shutdown()
    srv.server_close()
    for c in conns:
        try:
            c.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    if st.args.print:
        print("refusing connections for %.1f s" % (rule.duration or 0), flush=True)
    time.sleep(rule.duration or 0)
    while True:
        try:
            new = make_server(st.args.host, port)
            break
        except OSError:
            time.sleep(0.05)
    with st.lock:
        st.server = new
        st.refusing = False
    threading.Thread(target=new.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    if st.args.print:
        print("listening again", flush=True)


STATE = None


def arguments(doc):
    """The command line both receivers share (listening, recording, faults)."""
    p = argparse.ArgumentParser(description=doc.split("\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--port-file")
    p.add_argument("--log", help="append one JSON line per request to this file")
    p.add_argument("--log-bodies", action="store_true", help="include bodies in the log")
    p.add_argument("--print", action="store_true", help="print one line per request")
    p.add_argument("--fault", action="append", default=[], help="a fault rule (see the top of this file)")
    p.add_argument("--basic", help="require basic auth USER:PASS")
    p.add_argument("--bearer", help="require this bearer token")
    p.add_argument("--sigv4", help="require SigV4 signed with AKID:SECRET:REGION:SERVICE")
    p.add_argument("--hmac-sha256", help="require a webhook signature: HEADER:SECRET")
    return p


def write_port_file(path, port):
    """Writes the listening port for a test to read; renamed into place, so never half written."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("%d\n" % port)
    os.rename(tmp, path)


def wait_for_stop(duration):
    """Returns on SIGINT or SIGTERM, or after `duration` seconds (0: never)."""
    done = threading.Event()

    def stop(signum, frame):
        done.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    if duration > 0:
        done.wait(duration)
    else:
        while not done.is_set():
            done.wait(3600)


def main():
    global STATE
    p = arguments(__doc__)
    p.add_argument("--stall", action="store_true", help="answer nothing, ever (same as --fault hang)")
    p.add_argument("--duration", type=float, default=0, help="exit after this many seconds (0: never)")
    args = p.parse_args()
    if args.stall:
        args.fault.append("hang")
    STATE = State(args)
    srv = make_server(args.host, args.port)
    STATE.server = srv
    port = srv.server_address[1]
    for r in STATE.rules:
        if r.action == "refuse":
            threading.Thread(target=refuse_loop, args=(r,), daemon=True).start()
    if args.port_file:
        write_port_file(args.port_file, port)
    if args.print:
        print("receiver listening on http://%s:%d/" % (args.host, port), flush=True)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    wait_for_stop(args.duration)
    with STATE.lock:
        s = STATE.stats()
    print("receiver: %d request(s), %d record(s), %d distinct seq, %d duplicate(s), statuses %s"
          % (s["requests"], s["records"], s["distinct_seqs"], s["duplicates"], s["statuses"]),
          file=sys.stderr, flush=True)
    if STATE.log:
        STATE.log.close()
    os._exit(0)


if __name__ == "__main__":
    main()

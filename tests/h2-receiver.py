#!/usr/bin/env python3
"""tests/h2-receiver.py: a cleartext HTTP/2 receiver (prior knowledge, no
Upgrade) that records what arrives and injects faults on a schedule: the
HTTP/2 counterpart of tests/receiver.py, written with python3-h2 so that
the http sink's h2c path meets a server that is not the library it is
built on. tests/http-h2-faults.py delivers to it.

    python3 tests/h2-receiver.py --port 8080 --print

Every connection has a thread of its own, and every stream is served
independently: a delayed or hanging stream never holds back the others,
and every DATA frame is acknowledged as soon as it is read (WINDOW_UPDATE
as h2's window manager decides), so flow control never stalls, whatever a
fault does to one stream.

Recording (--log FILE): one JSON object per request, written and flushed
before the answer is sent (for delay=, when the answer is sent): conn (a
connection id, counted from 1), stream (the stream id), open (streams
open on the connection when this one opened), method, path, authority,
scheme, headers (the regular ones), status answered (0: none), body length
and SHA-256 (after gzip decoding when content-encoding is gzip), wire_len
(bytes in DATA frames), the body with --log-bodies, and the "seq" values
found in the body (json codec `{"name":"seq",...,"value":N}` or a flat
`"seq":N`). action names the fault applied (or "after-goaway": a stream
opened above our GOAWAY's last_stream_id, not processed); early answers
say whether the client was still sending (body_unread); protocol_error
says why a request was refused as malformed; client_reset gives the error
code of a client that reset a stream before its delayed answer.

Faults (--fault SPEC, repeatable, or POST /_control/fault with SPEC as the
body; POST /_control/clear removes them). SPEC is comma-separated:
  an action:  status=CODE [retry_after=S] [body=TEXT | size=N] [header=NAME:VALUE]...
              | delay=MS | hang
              (never answer) | reset (close the TCP connection abruptly,
              RST, with its other streams open) | rst=CODE (RST_STREAM
              with that error code, by name or number: REFUSED_STREAM or
              7, INTERNAL_ERROR or 2...) | goaway (GOAWAY whose
              last_stream_id is the client stream before this one, so this
              stream and any later one must be retried on a new
              connection; streams below it are still answered, and the
              connection is closed gracefully 300 ms later) | early
              [status=CODE] (answer, 200 unless status= says otherwise,
              with END_STREAM before reading the body, then RST_STREAM
              NO_ERROR as nginx does) | bighead=N (answer 200 with N
              bytes of headers, 1000 to a field) | refuse (stop listening)
  a window:   start=S (seconds after the receiver started, or after the
              fault was added over /_control), for=S (duration), after=N
              (skip the first N matching requests), count=N (then stop),
              every=N (only every Nth matching request)
  a match:    seq=N (only requests carrying that sequence number; not with
              goaway or early, which act on the request's headers, before
              any body), path=PREFIX
goaway and early rules are looked at when a request's headers arrive, the
others when its body is complete; among them the first rule that applies
decides. `refuse` closes the listening socket and every open connection
for its window (for= is required), then listens again.

Server settings: --max-streams N (SETTINGS_MAX_CONCURRENT_STREAMS; a
stream opened past it once the client has acknowledged the setting is
refused with RST_STREAM REFUSED_STREAM and counted in streams_over_limit),
--initial-window N (SETTINGS_INITIAL_WINDOW_SIZE: small values force flow
control on big bodies), --max-frame N (SETTINGS_MAX_FRAME_SIZE).

Protocol checks (RFC 9113 section 8): a request with a header name that is
not lowercase or not a token, a connection-specific header (connection,
keep-alive, transfer-encoding, upgrade, proxy-connection, te other than
"trailers"), host different from :authority, a missing :authority,
:method, :scheme or :path, a pseudo-header after a regular one, a
malformed value, or a content-length that the DATA frames do not add up
to is logged, answered RST_STREAM PROTOCOL_ERROR and counted in
protocol_errors, as is an HTTP/1.1 request (but /_control/) and any
connection error h2 raises.

Checks: --basic USER:PASS, --bearer TOKEN, --sigv4 AKID:SECRET:REGION:SERVICE
answer 401/403 to requests without the right credentials, with
receiver.py's own checker (its SigV4 signer written from the AWS
documentation, with :authority standing for host, as AWS does over
HTTP/2).

Control: GET /_control/stats answers the totals as JSON: requests,
records and distinct_seqs delivered (in 2xx answers), duplicates,
connections, max_concurrent_streams (the most streams open at once on one
connection) and max_concurrent_streams_acked (the same, counting only
streams opened after the client acknowledged our SETTINGS), streams_over_limit,
protocol_errors, client_resets (RST_STREAM from the client), http1_requests,
internal_errors (exceptions in this receiver: its bugs, on stderr),
statuses and actions. It is served over HTTP/2 and, on the same port, over
HTTP/1.1, so that urllib can ask.
--port 0 picks a free port; --port-file FILE receives it once listening.
"""

import base64
import gzip
import hashlib
import heapq
import itertools
import json
import os
import select
import socket
import sys
import threading
import time
import traceback

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings
import h2.stream
from hyperframe.frame import GoAwayFrame, SettingsFrame

# The fault grammar, the base statistics and the sequence numbers are
# tests/receiver.py's: one implementation for both receivers.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import receiver as R  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SERVER = b"spillway-h2-receiver/1.0"
GOAWAY_GRACE = 0.3
CONN_SPECIFIC = (b"connection", b"keep-alive", b"transfer-encoding", b"upgrade", b"proxy-connection")
REQUEST_PSEUDO = (b":method", b":scheme", b":path", b":authority")
# RFC 9110 token characters: what a field name may hold (lowercase only in HTTP/2).
TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
HEADER_TIME_ACTIONS = ("goaway", "early")


def error_code(text):
    try:
        return int(text)
    except ValueError:
        return int(h2.errors.ErrorCodes[text.upper()])


class Rule(R.Rule):
    """receiver.py's faults, plus HTTP/2's: rst=CODE, goaway, and early
    (answer `status` before reading the body)."""

    def parse_extra(self, key, value):
        if key == "rst":
            self.action, self.arg = key, error_code(value)
        elif key == "goaway":
            self.action = key
        elif key == "bighead":
            self.action, self.arg = key, int(value)
        elif key == "early":
            self.early = True
        else:
            return False
        return True

    def finish_parse(self, spec):
        if getattr(self, "early", False):
            self.arg = self.arg if self.action == "status" else 200
            self.action = "early"
        if self.action in HEADER_TIME_ACTIONS and self.seq is not None:
            raise ValueError("fault %r: %s acts before the body is read, so it cannot match seq=" % (spec, self.action))


class State(R.State):
    rule_class = Rule

    def __init__(self, args):
        super().__init__(args)
        self.actions = {}
        self.conn_ids = itertools.count(1)
        self.connections = 0
        self.max_open = 0
        self.max_open_acked = 0
        self.over_limit = 0
        self.protocol_errors = 0
        self.client_resets = 0
        self.http1 = 0
        self.internal_errors = 0
        self.conns = set()

    def stats(self):
        out = super().stats()
        out.update({
            "connections": self.connections,
            "max_concurrent_streams": self.max_open,
            "max_concurrent_streams_acked": self.max_open_acked,
            "streams_over_limit": self.over_limit,
            "protocol_errors": self.protocol_errors,
            "client_resets": self.client_resets,
            "http1_requests": self.http1,
            "internal_errors": self.internal_errors,
            "actions": dict(sorted(self.actions.items())),
        })
        return out

    def add_rule(self, spec):
        rule = Rule(spec, time.monotonic())
        with self.lock:
            self.rules.append(rule)

    def protocol_error(self, conn, why):
        with self.lock:
            self.protocol_errors += 1
        print("h2-receiver: connection %d: protocol error: %s" % (conn, why), file=sys.stderr, flush=True)

    def record(self, entry, action=None):
        """Counts and logs one request; the caller answers it afterwards."""
        status = entry["status"]
        with self.lock:
            self.requests += 1
            self.statuses[status] = self.statuses.get(status, 0) + 1
            if action:
                self.actions[action] = self.actions.get(action, 0) + 1
            if 200 <= status < 300:
                self.records += len(entry["seqs"])
                for s in entry["seqs"]:
                    self.seqs[s] = self.seqs.get(s, 0) + 1
            if self.log:
                self.log.write(json.dumps(entry) + "\n")
        if self.args.print:
            seqs = entry["seqs"]
            shown = ""
            if seqs:
                shown = " seq %d" % seqs[0] if len(seqs) == 1 else " seq %d..%d" % (min(seqs), max(seqs))
            print("conn %d stream %d: %s %s -> %s, %d bytes, %d record(s)%s"
                  % (entry["conn"], entry["stream"], entry["method"], entry["path"], status or action,
                     entry["len"], len(seqs), shown), flush=True)


STATE = None




def check_request_headers(headers):
    """Why the request's header block is malformed for RFC 9113, or None."""
    pseudo = {}
    regular = False
    host = None
    for name, value in headers:
        if not name:
            return "an empty header name"
        if name.startswith(b":"):
            if name not in REQUEST_PSEUDO:
                return "unknown pseudo-header %r" % name
            if regular:
                return "pseudo-header %r after a regular header" % name
            if name in pseudo:
                return "pseudo-header %r twice" % name
            pseudo[name] = value
        else:
            regular = True
            if name != name.lower():
                return "header name %r is not lowercase" % name
            if not all(c in TOKEN for c in name):
                return "header name %r is not a token" % name
            if name in CONN_SPECIFIC:
                return "connection-specific header %r" % name
            if name == b"te" and value.lower() != b"trailers":
                return "te: %r (only 'trailers' is allowed)" % value
            if name == b"host":
                host = value
        if b"\0" in value or b"\r" in value or b"\n" in value:
            return "NUL, CR or LF in the value of %r" % name
        if value[:1] in (b" ", b"\t") or value[-1:] in (b" ", b"\t"):
            return "leading or trailing whitespace in the value of %r" % name
    for p in (b":method", b":scheme", b":path"):
        if not pseudo.get(p):
            return "no %s" % p.decode()
    authority = pseudo.get(b":authority")
    if authority is None:
        return "no :authority (RFC 9113 8.3.1: clients generating HTTP/2 requests directly must send it)"
    if host is not None and host != authority:
        return "host %r differs from :authority %r" % (host, authority)
    return None


class H2(h2.connection.H2Connection):
    """h2 with the concurrent-streams limit left to the receiver: h2 turns a
    stream past SETTINGS_MAX_CONCURRENT_STREAMS into a connection error,
    where the receiver refuses that one stream (REFUSED_STREAM) and counts
    it, as nghttpd and nginx do. Closed streams are still pruned."""

    @property
    def open_inbound_streams(self):
        h2.connection.H2Connection.open_inbound_streams.fget(self)
        return 0

    def start(self, settings):
        """initiate_connection() with our settings in the very first SETTINGS
        frame, as pending values h2 applies when the client acknowledges
        them (until then the client may use the defaults, and h2 must too)."""
        self.state_machine.process_input(h2.connection.ConnectionInputs.SEND_SETTINGS)
        f = SettingsFrame(0)
        for k, v in self.local_settings.items():
            f.settings[k] = v
        for k, v in settings.items():
            f.settings[k] = v
            self.local_settings[k] = v
        self._data_to_send += f.serialize()


class Stream:
    def __init__(self, sid, headers, nopen):
        self.sid = sid
        self.headers = headers
        self.pseudo = {}
        self.regular = []
        for k, v in headers:
            if k.startswith(b":"):
                self.pseudo.setdefault(k.decode("latin-1"), v.decode("latin-1"))
            else:
                self.regular.append((k.decode("latin-1"), v.decode("latin-1")))
        self.path = self.pseudo.get(":path", "")
        self.nopen = nopen
        self.t = time.monotonic()
        self.data = []
        self.wire = 0
        self.ignored = False       # above our GOAWAY, or refused: nothing more is done
        self.ended = False
        self.answered = False
        self.pending = b""         # response body waiting for flow-control window
        self.entry = None          # a delayed answer's log entry

    def header(self, name):
        vals = [v for k, v in self.regular if k == name]
        return ", ".join(vals) if vals else None

    # What receiver.py's auth checks read: case-insensitive names, and "host"
    # is :authority, as it is for AWS SigV4 over HTTP/2.
    def get_all(self, name):
        name = name.lower()
        vals = [v for k, v in self.regular if k == name]
        if not vals and name == "host" and ":authority" in self.pseudo:
            vals = [self.pseudo[":authority"]]
        return vals

    def get(self, name, default=None):
        vals = self.get_all(name)
        return ", ".join(vals) if vals else default


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.cid = 0
        self.h2 = None
        self.streams = {}
        self.open_ids = set()
        self.acked = False
        self.max_open = 0
        self.timers = []
        self.tseq = itertools.count()
        self.goaway_last = None
        self.close_at = None
        self.done = False
        self.abort = False

    # ---- the loop ------------------------------------------------------------

    def run(self):
        try:
            buf = b""
            self.sock.settimeout(10)
            while len(buf) < len(PREFACE) and PREFACE.startswith(buf):
                c = self.sock.recv(65536)
                if not c:
                    return
                buf += c
            if not buf.startswith(PREFACE):
                return self.http1(buf)
            self.serve(buf)
        except OSError:
            pass
        except Exception:  # a bug here: say so, and let the test see it in the stats
            with STATE.lock:
                STATE.internal_errors += 1
            traceback.print_exc()
            sys.stderr.flush()
        finally:
            with STATE.lock:
                STATE.conns.discard(self.sock)
            if self.abort:
                try:
                    self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                except OSError:
                    pass
            try:
                self.sock.close()
            except OSError:
                pass

    def serve(self, first):
        args = STATE.args
        with STATE.lock:
            STATE.connections += 1
            self.cid = next(STATE.conn_ids)
        cfg = h2.config.H2Configuration(client_side=False, header_encoding=None,
                                        validate_inbound_headers=False, normalize_inbound_headers=False)
        self.h2 = H2(config=cfg)
        settings = {h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: args.max_streams}
        if args.initial_window is not None:
            settings[h2.settings.SettingCodes.INITIAL_WINDOW_SIZE] = args.initial_window
        if args.max_frame is not None:
            settings[h2.settings.SettingCodes.MAX_FRAME_SIZE] = args.max_frame
        self.h2.start(settings)
        self.flush()
        data = first
        while not self.done:
            if data:
                try:
                    events = self.h2.receive_data(data)
                except h2.exceptions.ProtocolError as e:
                    STATE.protocol_error(self.cid, "%s: %s" % (type(e).__name__, e))
                    self.flush()
                    return self.graceful_close()
                for ev in events:
                    self.event(ev)
                    if self.done:
                        break
                data = b""
            self.run_timers()
            if self.done:
                break
            self.flush()
            now = time.monotonic()
            if self.close_at is not None and now >= self.close_at:
                return self.graceful_close()
            wait = 0.5
            if self.timers:
                wait = min(wait, max(0.0, self.timers[0][0] - now))
            if self.close_at is not None:
                wait = min(wait, max(0.0, self.close_at - now))
            if self.readable(wait):
                data = self.sock.recv(65536)
                if not data:
                    return

    def readable(self, wait):
        # poll, not select: no FD_SETSIZE limit however many connections are open.
        p = select.poll()
        p.register(self.sock, select.POLLIN)
        return bool(p.poll(wait * 1000))

    def flush(self):
        out = self.h2.data_to_send()
        if out:
            self.sock.sendall(out)

    def graceful_close(self):
        """FIN after everything sent, then drain until the client closes, so
        the kernel never turns unread input into a RST that could destroy
        our last frames (a GOAWAY) before the client reads them."""
        try:
            self.flush()
            self.sock.shutdown(socket.SHUT_WR)
            end = time.monotonic() + 1.0
            while time.monotonic() < end:
                if self.readable(max(0.0, end - time.monotonic())) and not self.sock.recv(65536):
                    break
        except OSError:
            pass
        self.done = True

    def later(self, delay, fn):
        heapq.heappush(self.timers, (time.monotonic() + delay, next(self.tseq), fn))

    def run_timers(self):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now and not self.done:
            _, _, fn = heapq.heappop(self.timers)
            fn()

    # ---- HTTP/2 events -------------------------------------------------------

    def event(self, ev):
        E = h2.events
        if isinstance(ev, E.RequestReceived):
            self.on_request(ev)
        elif isinstance(ev, E.DataReceived):
            self.ack(ev.stream_id, ev.flow_controlled_length)
            st = self.streams.get(ev.stream_id)
            if st is not None and not st.ignored:
                st.data.append(ev.data)
                st.wire += len(ev.data)
        elif isinstance(ev, E.StreamEnded):
            st = self.streams.get(ev.stream_id)
            if st is not None:
                st.ended = True
                if not st.ignored and not st.answered:
                    self.on_complete(st)
                self.prune()
        elif isinstance(ev, E.StreamReset):
            st = self.streams.pop(ev.stream_id, None)
            self.open_ids.discard(ev.stream_id)
            with STATE.lock:
                STATE.client_resets += 1
            if st is not None and not st.answered:
                if st.entry is not None:   # a delayed answer the client gave up on
                    st.entry["status"] = 0
                    st.entry["client_reset"] = int(ev.error_code)
                    STATE.record(st.entry, "delay")
                    st.entry = None
        elif isinstance(ev, E.WindowUpdated):
            ids = [ev.stream_id] if ev.stream_id else list(self.streams)
            for sid in ids:
                st = self.streams.get(sid)
                if st is not None and st.pending:
                    self.send_body(st)
        elif isinstance(ev, E.SettingsAcknowledged):
            self.acked = True
            # A smaller SETTINGS_INITIAL_WINDOW_SIZE can leave a stream's window
            # negative with all its data already acknowledged: h2 only looks at
            # its window again when more is acknowledged, and the client may
            # send nothing more: look now, or the stream stalls for good.
            for sid in list(self.streams):
                try:
                    self.h2.acknowledge_received_data(0, sid)
                except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
                    pass
        elif isinstance(ev, E.TrailersReceived):
            why = None
            for k, _ in ev.headers:
                if k.startswith(b":") or k != k.lower():
                    why = "bad trailer field %r" % k
            if why:
                self.malformed(self.streams.get(ev.stream_id), why)

    def ack(self, sid, n):
        if n:
            try:
                self.h2.acknowledge_received_data(n, sid)
            except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
                pass

    def h2_stream_closed(self, sid):
        s = self.h2.streams.get(sid)
        return s is None or s.closed

    def prune(self):
        """Forgets the streams h2 has seen closed (both ends done, or reset)."""
        for sid in [i for i in self.open_ids if self.h2_stream_closed(i)]:
            self.open_ids.discard(sid)
            self.streams.pop(sid, None)

    def reset(self, sid, code):
        try:
            self.h2.reset_stream(sid, code)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            pass
        self.open_ids.discard(sid)
        self.streams.pop(sid, None)

    def base_entry(self, st, status):
        return {
            "t": round(time.monotonic() - STATE.t0, 3),
            "conn": self.cid,
            "stream": st.sid,
            "open": st.nopen,
            "method": st.pseudo.get(":method"),
            "path": st.path,
            "authority": st.pseudo.get(":authority"),
            "scheme": st.pseudo.get(":scheme"),
            "version": "HTTP/2",
            "headers": {k: st.header(k) for k, _ in st.regular},
            "status": status,
            "len": 0,
            "wire_len": st.wire,
            "sha256": hashlib.sha256(b"").hexdigest(),
            "seqs": [],
        }

    def malformed(self, st, why):
        if st is None:
            return
        STATE.protocol_error(self.cid, "stream %d: %s" % (st.sid, why))
        e = self.base_entry(st, 0)
        e["protocol_error"] = why
        STATE.record(e, "protocol_error")
        st.answered = True
        self.reset(st.sid, h2.errors.ErrorCodes.PROTOCOL_ERROR)

    def on_request(self, ev):
        sid = ev.stream_id
        self.prune()
        self.open_ids.add(sid)
        nopen = len(self.open_ids)
        st = Stream(sid, ev.headers, nopen)
        self.streams[sid] = st
        limit = STATE.args.max_streams
        with STATE.lock:
            self.max_open = max(self.max_open, nopen)
            STATE.max_open = max(STATE.max_open, nopen)
            if self.acked:
                STATE.max_open_acked = max(STATE.max_open_acked, nopen)
        if self.goaway_last is not None and sid > self.goaway_last:
            # The client knows from our GOAWAY that it was not processed (it may
            # have sent it before our GOAWAY reached it).
            st.ignored = True
            e = self.base_entry(st, 0)
            e["action"] = "after-goaway"
            STATE.record(e, "after-goaway")
            return
        if self.acked and nopen > limit:
            with STATE.lock:
                STATE.over_limit += 1
            print("h2-receiver: connection %d: stream %d opened with %d open, past our limit of %d"
                  % (self.cid, sid, nopen, limit), file=sys.stderr, flush=True)
            st.ignored = True
            self.reset(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        why = check_request_headers(ev.headers)
        if why:
            return self.malformed(st, why)
        if st.path.startswith("/_control/"):
            return
        now = time.monotonic()
        rule = None
        with STATE.lock:
            for r in STATE.rules:
                if r.action in HEADER_TIME_ACTIONS and r.applies(now, st.path, []):
                    rule = r
                    break
        if rule is None:
            return
        if rule.action == "goaway":
            # Every stream we acted on is below this one: stream ids only grow.
            last = max(0, sid - 2)
            self.goaway_last = last
            e = self.base_entry(st, 0)
            e["action"] = "goaway"
            e["last_stream_id"] = last
            STATE.record(e, "goaway")
            st.ignored = True
            self.flush()
            f = GoAwayFrame(0, last_stream_id=last, error_code=0, additional_data=b"fault: goaway")
            self.sock.sendall(f.serialize())
            self.close_at = time.monotonic() + GOAWAY_GRACE
        elif rule.action == "early":
            e = self.base_entry(st, rule.arg)
            e["action"] = "early"
            e["early"] = True
            # Whether the client was still sending: then it gets RST_STREAM NO_ERROR.
            e["body_unread"] = self.h2.streams[sid].state_machine.state != h2.stream.StreamState.HALF_CLOSED_REMOTE
            STATE.record(e, "early")
            st.answered = True
            st.ignored = True
            self.h2.send_headers(sid, [(b":status", str(rule.arg).encode()), (b"content-length", b"0"),
                                       (b"server", SERVER)], end_stream=True)
            if not self.h2_stream_closed(sid):
                self.reset(sid, h2.errors.ErrorCodes.NO_ERROR)
            self.prune()

    def on_complete(self, st):
        raw = b"".join(st.data)
        st.data = []
        if st.path.startswith("/_control/"):
            return self.control(st, raw)
        cl = st.header("content-length")
        if cl is not None and (not cl.isdigit() or int(cl) != st.wire):
            return self.malformed(st, "content-length %s but %d bytes of DATA" % (cl, st.wire))
        body = raw
        if (st.header("content-encoding") or "").lower() == "gzip":
            try:
                body = gzip.decompress(raw)
            except (OSError, EOFError):
                e = self.base_entry(st, 400)
                STATE.record(e)
                return self.answer(st, 400, b"bad gzip\n")
        seqs = R.find_seqs(body)
        deny = R.auth_denial(STATE.args, st.pseudo.get(":method", ""), st.path, st, raw)
        if deny is not None:
            e = self.base_entry(st, deny[0])
            e.update({"len": len(body), "sha256": hashlib.sha256(body).hexdigest(), "seqs": seqs})
            STATE.record(e)
            return self.answer(st, deny[0], deny[1])
        now = time.monotonic()
        rule = None
        with STATE.lock:
            for r in STATE.rules:
                if r.action not in HEADER_TIME_ACTIONS and r.applies(now, st.path, seqs):
                    rule = r
                    break
        action = rule.action if rule else None
        status, answer, extra = 200, b"", []
        if action == "status":
            status, answer = rule.arg, rule.body
            if rule.retry_after is not None:
                extra.append((b"retry-after", rule.retry_after.encode()))
            extra += [(k.lower().encode(), v.encode()) for k, v in rule.headers]
        elif action == "bighead":
            extra.extend((b"x-big-%d" % i, b"b" * 1000) for i in range(rule.arg // 1000))
        elif action in ("hang", "reset", "rst"):
            status = 0
        e = self.base_entry(st, status)
        e.update({"len": len(body), "sha256": hashlib.sha256(body).hexdigest(), "seqs": seqs})
        if STATE.args.log_bodies:
            try:
                e["body"] = body.decode()
            except UnicodeDecodeError:
                e["body_b64"] = base64.b64encode(body).decode()
        if action:
            e["action"] = action if action != "rst" else "rst=%d" % rule.arg
        if action == "delay":
            st.entry = e
            self.later(rule.arg / 1000.0, lambda: self.delayed(st))
            return
        STATE.record(e, action)
        if action == "hang":
            st.answered = True    # never: the stream stays open until the client gives up
        elif action == "reset":
            self.abort = True
            self.done = True
        elif action == "rst":
            st.answered = True
            self.reset(st.sid, rule.arg)
        else:
            self.answer(st, status, answer, extra)

    def delayed(self, st):
        if st.entry is None or self.streams.get(st.sid) is not st or st.ignored:
            return
        e, st.entry = st.entry, None
        STATE.record(e, "delay")
        self.answer(st, e["status"], b"")

    def answer(self, st, status, body, extra=()):
        st.answered = True
        hdrs = [(b":status", str(status).encode()), (b"content-length", str(len(body)).encode()),
                (b"server", SERVER)]
        hdrs.extend(extra)
        if body and not any(k == b"content-type" for k, _ in extra):
            hdrs.append((b"content-type", b"text/plain"))
        try:
            self.h2.send_headers(st.sid, hdrs, end_stream=not body)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError):
            return
        except h2.exceptions.ProtocolError:
            return  # the client ended the connection (GOAWAY): nothing more goes out
        st.pending = body
        if body:
            self.send_body(st)

    def send_body(self, st):
        try:
            while st.pending:
                n = min(len(st.pending), self.h2.local_flow_control_window(st.sid),
                        self.h2.max_outbound_frame_size)
                if n <= 0:
                    return
                chunk, st.pending = st.pending[:n], st.pending[n:]
                self.h2.send_data(st.sid, chunk, end_stream=not st.pending)
        except (h2.exceptions.StreamClosedError, h2.exceptions.NoSuchStreamError,
                h2.exceptions.ProtocolError):
            st.pending = b""
        if not st.pending:
            self.prune()

    def control(self, st, raw):
        code, body = control(st.pseudo.get(":method"), st.path, raw)
        ctype = b"application/json" if body.startswith(b"{") else b"text/plain"
        self.answer(st, code, body, [(b"content-type", ctype)])

    # ---- HTTP/1.1, for control requests ---------------------------------------

    def http1(self, buf):
        while b"\r\n\r\n" not in buf and len(buf) < 65536:
            c = self.sock.recv(65536)
            if not c:
                return
            buf += c
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        parts = lines[0].split()
        if len(parts) != 3:
            return
        method, path = parts[0].decode("latin-1"), parts[1].decode("latin-1")
        n = 0
        for l in lines[1:]:
            k, _, v = l.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip() or 0)
        while len(rest) < n:
            c = self.sock.recv(65536)
            if not c:
                return
            rest += c
        if path.startswith("/_control/"):
            code, body = control(method, path, rest[:n])
        else:
            with STATE.lock:
                STATE.http1 += 1
            STATE.protocol_error(self.cid, "an HTTP/1 request (%s %s) to an HTTP/2 prior-knowledge receiver"
                                 % (method, path))
            code, body = 505, b"this receiver speaks HTTP/2 with prior knowledge only\n"
        ctype = b"application/json" if body.startswith(b"{") else b"text/plain"
        self.sock.sendall(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                          % (code, b"OK" if code == 200 else b"Error", ctype, len(body)) + body)
        self.sock.shutdown(socket.SHUT_WR)


def control(method, path, raw):
    if path == "/_control/stats":
        with STATE.lock:
            return 200, json.dumps(STATE.stats()).encode()
    if path == "/_control/fault" and method in ("POST", "PUT"):
        try:
            STATE.add_rule(raw.decode().strip())
        except (ValueError, KeyError) as e:
            return 400, ("%s\n" % e).encode()
        return 200, b"ok\n"
    if path == "/_control/clear" and method in ("POST", "PUT"):
        with STATE.lock:
            STATE.rules = []
        return 200, b"ok\n"
    return 404, b"no such control\n"


# ---- listening -------------------------------------------------------------------

def listen(host, port):
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(1024)
    s.setblocking(False)
    return s


def accept_loop(lsock, port):
    """Accepts connections, one thread each; a refuse rule in its window
    closes the listener and every connection, and listens again after."""
    st = STATE
    while True:
        now = time.monotonic()
        with st.lock:
            refusing = any(r.action == "refuse" and r.active_now(now) for r in st.rules)
        if refusing and lsock is not None:
            lsock.close()
            lsock = None
            with st.lock:
                conns = list(st.conns)
            for c in conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            if st.args.print:
                print("refusing connections", flush=True)
        elif not refusing and lsock is None:
            try:
                lsock = listen(st.args.host, port)
                if st.args.print:
                    print("listening again", flush=True)
            except OSError:
                time.sleep(0.02)
                continue
        if lsock is None:
            time.sleep(0.02)
            continue
        p = select.poll()
        p.register(lsock, select.POLLIN)
        if not p.poll(20):
            continue
        while True:
            try:
                sock, _ = lsock.accept()
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                break
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with st.lock:
                st.conns.add(sock)
            conn = Conn(sock)
            threading.Thread(target=conn.run, daemon=True).start()


def main():
    global STATE
    p = R.arguments(__doc__)
    p.add_argument("--max-streams", type=int, default=100, help="SETTINGS_MAX_CONCURRENT_STREAMS (100)")
    p.add_argument("--initial-window", type=int, help="SETTINGS_INITIAL_WINDOW_SIZE (65535)")
    p.add_argument("--max-frame", type=int, help="SETTINGS_MAX_FRAME_SIZE (16384)")
    p.add_argument("--duration", type=float, default=0, help="exit after this many seconds (0: never)")
    args = p.parse_args()
    STATE = State(args)
    lsock = listen(args.host, args.port)
    port = lsock.getsockname()[1]
    if args.port_file:
        R.write_port_file(args.port_file, port)
    if args.print:
        print("h2c receiver listening on http://%s:%d/" % (args.host, port), flush=True)
    threading.Thread(target=accept_loop, args=(lsock, port), daemon=True).start()
    R.wait_for_stop(args.duration)
    with STATE.lock:
        s = STATE.stats()
    print("h2-receiver: %d request(s), %d record(s), %d distinct seq, %d duplicate(s), %d connection(s), "
          "at most %d concurrent stream(s), %d protocol error(s), statuses %s"
          % (s["requests"], s["records"], s["distinct_seqs"], s["duplicates"], s["connections"],
             s["max_concurrent_streams"], s["protocol_errors"], s["statuses"]), file=sys.stderr, flush=True)
    if STATE.log:
        STATE.log.close()
    os._exit(0)


if __name__ == "__main__":
    main()

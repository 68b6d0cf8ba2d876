#!/usr/bin/python3
"""tests/tap.py: taps, the admin endpoint's GET /tap and `spillway tap`,
against the real spillway binary (doc/operations.md, "Tap"):

  - the source side and a sink route (after its filters) stream NDJSON
    that json.loads reads, with the documented fields, and limit=N ends
    the stream after N events and a closing {"tap":"end"} line;
  - expr= filters; a bad expression is a 400 naming the column; an
    unknown sink is a 404, a bad rate a 400;
  - rate= caps the events (an upper bound with generous slack);
  - a client that never reads: the pipeline still delivers every record to
    tests/receiver.py, and the tap's drops are counted in /metrics;
  - at most 8 taps (the 9th is a 503); taps whose clients left are freed;
  - the `spillway tap` client, with a pipeline file and with --admin, and
    its errors.
No assertion on speed: bench/tap.sh measures throughput.
"""

import http.client
import importlib.util
import json
import os
import re
import socket
import subprocess
import time
import urllib.parse

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()

FIELDS = {"worker", "route", "msg", "namespace", "set", "digest", "key", "gen", "lut", "exp", "bins"}


get = H.http_get
wait_for = H.wait_for


def open_tap(sp, timeout=30, **q):
    """(status, response, connection) of GET /tap?q..."""
    c = http.client.HTTPConnection(sp.host, int(sp.port), timeout=timeout)
    c.request("GET", "/tap" + ("?" + urllib.parse.urlencode(q) if q else ""))
    r = c.getresponse()
    return r.status, r, c


def read_all(r):
    """(events, end line) of a stream read to its end; blank heartbeats skipped."""
    events, end = [], None
    for raw in r:
        line = raw.decode().strip()
        if not line:
            continue
        obj = json.loads(line)
        if obj.get("tap") == "end":
            end = obj
        else:
            events.append(obj)
    return events, end


def seq(ev):
    for b in ev["bins"]:
        if b["name"] == "seq":
            return b["value"]
    return None


def metric(sp, name):
    status, text = get(sp.url + "/metrics")
    m = re.search(r"^%s\{[^}]*\} (\S+)$" % re.escape(name), text, re.M)
    return float(m.group(1)) if m else None


BASE = """[pipeline]
name = tapt
admin = {admin}
workers = 2

[source.gen]
plugin = generate
rate = {rate}

[filter.even]
plugin = expr
expr = bins.seq % 2 == 0

[codec.c]
plugin = json

[sink.web]
plugin = null
codec = c
filters = even

[sink.all]
plugin = null
codec = c
"""


def fields_test(sp):
    status, r, c = open_tap(sp, limit=10)
    tap.ok(status == 200 and r.getheader("Content-Type") == "application/x-ndjson",
           "source side: 200, application/x-ndjson", status, r.getheader("Content-Type"))
    events, end = read_all(r)
    c.close()
    tap.ok(len(events) == 10, "source side: limit=10 ends the stream after 10 events", len(events))
    tap.ok(all(set(e) == FIELDS for e in events), "source side: every line has the documented fields",
           events[:1])
    tap.ok(all(e["route"] is None and e["msg"] == "write" and e["namespace"] == "test" and
               e["set"] == "demo" and len(e["digest"]) == 28 and isinstance(e["key"], int) and
               e["worker"] in (0, 1) and isinstance(e["bins"], list) for e in events),
           "source side: metadata as the generator made it", events[:2])
    tap.ok(all(any(b["name"] == "seq" and b["type"] == "int" for b in e["bins"]) and
               all({"name", "type", "value"} <= set(b) for b in e["bins"]) for e in events),
           "source side: bins as the json codec writes them", events[:1])
    tap.ok(end and end["reason"] == "limit" and end["events"] == 10,
           "source side: a closing line says the limit was reached", end)

    status, r, c = open_tap(sp, expr="bins.seq % 2 == 1", limit=3)
    odd, end = read_all(r)
    c.close()
    tap.ok(len(odd) == 3 and all(seq(e) % 2 == 1 for e in odd),
           "source side: events no route takes are there too (odd seqs, which web's filter skips)",
           [seq(e) for e in odd])

    status, r, c = open_tap(sp, sink="web", limit=6)
    events, end = read_all(r)
    c.close()
    tap.ok(status == 200 and len(events) == 6 and all(e["route"] == "web" for e in events),
           "sink=web: 6 events of route web", status, len(events))
    tap.ok(all(seq(e) % 2 == 0 for e in events),
           "sink=web: only events that passed the route's filter (even seq)",
           [seq(e) for e in events])


def expr_test(sp):
    status, r, c = open_tap(sp, sink="all", expr="bins.seq % 5 == 3", limit=4)
    events, end = read_all(r)
    c.close()
    tap.ok(status == 200 and len(events) == 4 and all(seq(e) % 5 == 3 for e in events),
           "expr: only the events the expression is true for", [seq(e) for e in events])
    status, body = get(sp.url + "/tap?" + urllib.parse.urlencode({"expr": "bins.seq %% 2 =="}))
    tap.ok(status == 400 and "column" in body and "^" in body,
           "expr: a bad expression is a 400 naming the column", status, body)
    status, body = get(sp.url + "/tap?sink=nosuch")
    tap.ok(status == 404 and "nosuch" in body, "an unknown sink is a 404 naming it", status, body)
    status, body = get(sp.url + "/tap?rate=0")
    tap.ok(status == 400 and "rate" in body, "rate=0 is a 400", status, body)
    status, body = get(sp.url + "/tap?limit=x")
    tap.ok(status == 400 and "limit" in body, "limit=x is a 400", status, body)


def rate_test(sp):
    rate = 5
    t0 = time.monotonic()
    status, r, c = open_tap(sp, rate=rate)
    n = 0
    end = time.monotonic() + 3
    while time.monotonic() < end:
        line = r.readline()
        if not line:
            break
        if line.strip():
            n += 1
    elapsed = time.monotonic() - t0
    c.close()
    # A burst of one second's worth, then `rate` a second: generous slack, no timing precision.
    bound = rate * (elapsed + 1) + rate
    tap.ok(status == 200 and 1 <= n <= bound,
           "rate=%d: %d events in %.1f s (at most %.0f) while the generator makes 2000/s" %
           (rate, n, elapsed, bound), n)


def slots_test(sp):
    # The earlier taps' clients are gone: their taps are freed (the gauge counts open taps).
    tap.ok(wait_for(lambda: metric(sp, "spillway_taps_open") == 0, 40),
           "taps whose streams ended or whose clients left are freed", metric(sp, "spillway_taps_open"))
    conns = []
    for i in range(8):
        status, r, c = open_tap(sp, expr="false")
        conns.append((r, c))
        if status != 200:
            break
    tap.ok(len(conns) == 8 and all(r.status == 200 for r, c in conns), "8 taps open at once",
           [r.status for r, c in conns])
    status, body = get(sp.url + "/tap")
    tap.ok(status == 503 and "too many" in body, "the 9th tap is a 503", status, body)
    tap.ok(get(sp.url + "/metrics")[0] == 200, "/metrics still answers while 8 taps are open")
    for r, c in conns:
        r.close()
        c.close()

    def ninth():
        try:
            status, r, c = open_tap(sp, limit=1, timeout=10)
        except OSError:
            return False
        ok = status == 200 and len(read_all(r)[0]) == 1
        c.close()
        return ok
    tap.ok(wait_for(ninth, 40), "taps whose clients left are freed: a new one opens")
    tap.ok(wait_for(lambda: metric(sp, "spillway_taps_open") == 0, 40), "no tap left open",
           metric(sp, "spillway_taps_open"))


def cli_test(port):
    ini = H.write("cli.ini", BASE.format(admin="127.0.0.1:%d" % port, rate=500))
    sp = H.Spillway("cli", open(ini).read())
    if not tap.ok(sp.url, "cli: spillway started", sp.log()[-1500:]):
        sp.stop()
        return
    r = subprocess.run([H.SPILLWAY, "tap", ini, "--sink", "web", "--count", "3"],
                       capture_output=True, text=True, timeout=60)
    lines = [l for l in r.stdout.splitlines() if l]
    evs = [json.loads(l) for l in lines]
    tap.ok(r.returncode == 0 and len(evs) == 3 and all(e["route"] == "web" for e in evs),
           "cli: spillway tap FILE --sink web --count 3 prints 3 events", r.returncode, r.stdout,
           r.stderr)
    tap.ok('"tap":"end"' in r.stderr and '"events":3' in r.stderr,
           "cli: the closing summary goes to stderr", r.stderr)
    r = subprocess.run([H.SPILLWAY, "tap", "--admin", sp.addr, "--expr", "bins.seq % 7 == 1",
                        "--rate", "1000", "--count", "2"], capture_output=True, text=True, timeout=60)
    evs = [json.loads(l) for l in r.stdout.splitlines() if l]
    tap.ok(r.returncode == 0 and len(evs) == 2 and all(seq(e) % 7 == 1 for e in evs)
           and all(e["route"] is None for e in evs),
           "cli: --admin with --expr on the source side", r.returncode, r.stdout, r.stderr)
    r = subprocess.run([H.SPILLWAY, "tap", "--admin", sp.addr, "--expr", "bins.seq +"],
                       capture_output=True, text=True, timeout=60)
    tap.ok(r.returncode == 1 and "HTTP 400" in r.stderr and "column" in r.stderr,
           "cli: a bad expression is refused with its column", r.returncode, r.stderr)
    sp.stop()
    dead = H.free_port()
    r = subprocess.run([H.SPILLWAY, "tap", "--admin", "127.0.0.1:%d" % dead],
                       capture_output=True, text=True, timeout=60)
    tap.ok(r.returncode == 1 and "cannot reach the admin endpoint" in r.stderr,
           "cli: a pipeline that is not running is a clear error", r.returncode, r.stderr)
    noadm = H.write("noadmin.ini", "[source.gen]\nplugin = generate\n[codec.c]\nplugin = json\n"
                    "[sink.n]\nplugin = null\ncodec = c\n")
    r = subprocess.run([H.SPILLWAY, "tap", noadm], capture_output=True, text=True, timeout=60)
    tap.ok(r.returncode == 1 and "no admin endpoint" in r.stderr,
           "cli: a pipeline without an admin endpoint is a clear error", r.returncode, r.stderr)
    port0 = H.write("port0.ini", "[pipeline]\nadmin = 127.0.0.1:0\n" + open(noadm).read())
    r = subprocess.run([H.SPILLWAY, "tap", port0], capture_output=True, text=True, timeout=60)
    tap.ok(r.returncode == 1 and "port 0" in r.stderr and "--admin" in r.stderr,
           "cli: a file whose admin port is 0 says to give --admin", r.returncode, r.stderr)
    r = subprocess.run([H.SPILLWAY, "tap"], capture_output=True, text=True, timeout=60)
    tap.ok(r.returncode == 2 and "Usage: spillway tap" in r.stderr, "cli: no address is a usage error",
           r.returncode, r.stderr)


def stalled_test():
    """A client that never reads: every record still delivered; the tap's drops counted."""
    rx = H.Receiver("rx-stall")
    count = 20000
    sp = H.Spillway("stall", f"""[pipeline]
name = stall
admin = 127.0.0.1:0

[source.gen]
plugin = generate
count = {count}
rate = 5000
value_size = 200

[source.idle]
plugin = xdr
listen = 127.0.0.1:{H.free_port()}

[codec.c]
plugin = json

[sink.web]
plugin = http
codec = c
url = {rx.url}/in
batch_max_records = 200
""")
    if not tap.ok(sp.url, "stalled: spillway started", sp.log()[-1500:]):
        sp.stop()
        rx.stop()
        return
    # A small receive window, a client that never reads: the server's socket buffer and
    # then the tap's queue fill while the generator still has seconds to go.
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((sp.host, int(sp.port)))
    s.sendall(b"GET /tap?sink=web&rate=1000000 HTTP/1.1\r\nHost: x\r\n\r\n")
    got = wait_for(lambda: len(H.delivered_seqs(rx.entries())) >= count, 120)
    tap.ok(got, "stalled: the receiver has every record while a tap client never reads")
    H.check_all_delivered(tap, "stalled", rx.entries(), count)
    dropped = metric(sp, "spillway_tap_dropped_total")
    events = metric(sp, "spillway_tap_events_total")
    tap.ok(dropped is not None and dropped > 0 and events is not None and events + dropped <= count,
           "stalled: the tap's drops are counted in /metrics (spillway_tap_dropped_total)",
           "dropped %s, queued %s" % (dropped, events))
    status, body = get(sp.url + "/health/live")
    tap.ok(status == 200, "stalled: the admin endpoint still answers", status)
    s.close()
    rc = sp.stop()
    tap.ok(rc == 0, "stalled: spillway stops cleanly", rc, sp.log()[-1500:])
    rx.stop()


def reload(sp, text):
    """Writes TEXT as the pipeline file and reloads it through POST /reload; the answer's text."""
    with open(sp.ini, "w") as f:
        f.write(text)
    req = urllib.request.Request(sp.url + "/reload", data=b"", method="POST")
    try:
        return urllib.request.urlopen(req, timeout=30).read().decode()
    except urllib.error.HTTPError as e:
        return "%d %s" % (e.code, e.read().decode())


def reload_test(sp):
    """A tap opened before a reload that puts a new route first keeps showing its own route;
    a tap on the new route works once the reload took."""
    status, r, c = open_tap(sp, sink="all", rate=20, limit=40)
    first = [json.loads(r.readline()) for _ in range(3)]
    text = open(sp.ini).read().replace("[sink.web]", "[sink.aaa]\nplugin = null\ncodec = c\n\n[sink.web]")
    answer = reload(sp, text)
    tap.ok(answer.startswith("reloaded"), "reload: a new route before the tapped one is taken", answer)
    events, end = read_all(r)
    events = first + events
    tap.ok(len(events) == 40 and all(e["route"] == "all" for e in events),
           "reload: the tap opened before it still shows route 'all', and only it (%d events)" % len(events),
           sorted({e["route"] for e in events}), end)
    status, r2, c2 = open_tap(sp, sink="aaa", limit=3)
    ev2, _ = read_all(r2) if status == 200 else ([], None)
    tap.ok(status == 200 and len(ev2) == 3 and all(e["route"] == "aaa" for e in ev2),
           "reload: a tap on the new route works", status, len(ev2))
    c.close()
    c2.close()

    # A reload that changes the tapped route's filter: the tap stays open and shows the new route.
    status, r, c = open_tap(sp, sink="web", rate=50)
    first = [json.loads(r.readline()) for _ in range(3)]
    text = open(sp.ini).read().replace("filters = even", "filters = odd") + \
        "\n[filter.odd]\nplugin = expr\nexpr = bins.seq % 2 == 1\n"
    answer = reload(sp, text)
    after, run = [], 0
    while run < 5:  # until five odd ones in a row (the socket's timeout bounds the wait)
        line = r.readline().decode().strip()
        if not line:
            continue
        ev = json.loads(line)
        if ev.get("tap") == "end":
            break
        after.append(seq(ev))
        run = run + 1 if seq(ev) % 2 == 1 else 0
    c.close()
    tap.ok(answer.startswith("reloaded") and all(seq(e) % 2 == 0 for e in first) and run == 5,
           "reload: a tap on a route whose filter changed stays open and shows the new filter's "
           "events (even before, odd after)", answer, [seq(e) for e in first], after[-12:])

    # A reload that removes the tapped route ends the tap, saying why.
    status, r, c = open_tap(sp, sink="aaa")
    r.readline()
    answer = reload(sp, open(sp.ini).read().replace("[sink.aaa]\nplugin = null\ncodec = c\n\n", ""))
    end, deadline = None, time.monotonic() + 20  # heartbeats keep the socket alive: bound it here
    while end is None and time.monotonic() < deadline:
        raw = r.readline()
        if not raw:
            break  # the stream ended without its closing line
        line = raw.decode().strip()
        if not line:
            continue
        obj = json.loads(line)
        end = obj if obj.get("tap") == "end" else None
    c.close()
    tap.ok(answer.startswith("reloaded") and end and end["reason"] == "removed",
           "reload: a tap on a sink the reload removed ends with reason 'removed'", answer, end)


def main():
    sp = H.Spillway("main", BASE.format(admin="127.0.0.1:0", rate=2000))
    if tap.ok(sp.url, "spillway started with an admin endpoint", sp.log()[-1500:]):
        fields_test(sp)
        expr_test(sp)
        rate_test(sp)
        slots_test(sp)
        reload_test(sp)
        tap.ok(sp.stop() == 0, "spillway stops cleanly with taps having come and gone",
               sp.log()[-1500:])
    else:
        sp.stop()
    cli_test(H.free_port())
    stalled_test()
    tap.done()


main()

#!/usr/bin/env python3
"""tests/admin.py: the admin endpoint ([pipeline] admin) and systemd
notification, against the real spillway binary and tests/receiver.py:

  - /metrics is valid Prometheus text (promtool check metrics, and
    python3-prometheus-client's parser), and its counts equal the final
    stats line and what the receiver counted;
  - /health/ready turns 503 naming the route when the only destination is
    down, and 200 again when it returns; it says "stopping" while draining;
  - /health/live, the vendor connector's paths, 404 and 405;
  - a malformed `admin` is a --check error with file:line; a taken port
    stops the start with the address and the reason;
  - with NOTIFY_SOCKET: READY=1 once running, STOPPING=1 on SIGTERM,
    WATCHDOG=1 while the workers' loops turn, and none while a worker is
    stuck in a plugin (logged).
"""

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request

_spec = importlib.util.spec_from_file_location(
    "httplib", os.path.join(os.path.dirname(os.path.abspath(__file__)), "http-lib.py"))
H = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(H)

tap = H.Tap()


def get(url, timeout=5):
    """(status, body) of a GET; HTTP errors are answers too."""
    return H.http_get(url, timeout)


wait_for = H.wait_for


def samples(text):
    """{(family, frozenset(labels)): value} from prometheus_client's parser."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(smp, name, **labels):
    for (n, ls), v in smp.items():
        if n == name and all((k, str(x)) in ls for k, x in labels.items()):
            return v
    return None


def metrics_test():
    rx = H.Receiver("rx-metrics")
    xdr_port = H.free_port()
    count = 300
    # The idle xdr listener keeps the pipeline running once the generator is done.
    sp = H.Spillway("metrics", f"""[pipeline]
name = adm
admin = 127.0.0.1:0

[source.gen]
plugin = generate
count = {count}

[source.idle]
plugin = xdr
listen = 127.0.0.1:{xdr_port}

[codec.c]
plugin = json

[sink.web]
plugin = http
codec = c
url = {rx.url}/in
batch_max_records = 7
""")
    tap.ok(sp.url, "metrics: the admin endpoint's address is logged", sp.log()[-2000:])
    if not sp.url:
        sp.stop()
        return
    got = wait_for(lambda: len(H.delivered_seqs(rx.entries())) >= count, 30)
    tap.ok(got, "metrics: the receiver has every record")
    # The last answers reach the core just after the receiver logged them.
    wait_for(lambda: value(samples(get(sp.url + "/metrics")[1]), "spillway_answered_ok_total") == count, 10)
    status, text = get(sp.url + "/metrics")
    tap.ok(status == 200, "metrics: /metrics answers 200", status)
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
        tap.ok(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
               "metrics: promtool check metrics finds nothing to say", r.stdout + r.stderr)
    else:
        tap.skip("metrics: promtool check metrics", "promtool not installed (Debian: prometheus)")
    smp = samples(text)
    scraped = {
        "delivered": value(smp, "spillway_delivered_total", kind="sink", stage="web", plugin="http"),
        "events": value(smp, "spillway_events_total", kind="sink", stage="web"),
        "http_2xx": value(smp, "spillway_http_2xx_total", stage="web"),
        "submitted": value(smp, "spillway_submitted_total", kind="pipeline"),
        "answered_ok": value(smp, "spillway_answered_ok_total", kind="pipeline"),
    }
    tap.ok(all(v is not None for v in scraped.values()),
           "metrics: counters carry pipeline, kind, stage and plugin labels", scraped)
    tap.ok(value(smp, "spillway_generated_total", pipeline="adm", kind="source", stage="gen",
                 plugin="generate") == count, "metrics: the source's own counters are there too")
    hist = [k for k in smp if k[0] == "spillway_answer_latency_seconds_bucket"]
    inf = value(smp, "spillway_answer_latency_seconds_bucket", le="+Inf")
    tap.ok(hist and inf == value(smp, "spillway_answer_latency_seconds_count") == count,
           "metrics: the answer latency histogram has cumulative buckets ending at +Inf = count",
           (len(hist), inf))
    tap.ok(value(smp, "spillway_in_flight", kind="pipeline") == 0, "metrics: gauges too (in_flight 0)")
    status, vend = get(sp.url + "/manage/rest/v1/prometheus")
    tap.ok(status == 200 and "spillway_delivered_total" in vend,
           "metrics: the vendor's Prometheus path answers the same", status)
    rc = sp.stop()
    tap.ok(rc == 0, "metrics: spillway stops cleanly", rc, sp.log()[-1500:])
    web, pipe = sp.stats("sink.web"), sp.stats("pipeline")
    want = {"delivered": web.get("delivered"), "events": web.get("events"),
            "http_2xx": web.get("http_2xx"), "submitted": pipe.get("submitted"),
            "answered_ok": pipe.get("answered_ok")}
    tap.ok(scraped == {k: float(v) for k, v in want.items() if v is not None} and want["delivered"] == count,
           "metrics: /metrics equals the final stats line and the receiver's %d records" % count,
           "scraped %s" % scraped, "stats   %s" % want)
    rx.stop()


def ready_test():
    rx = H.Receiver("rx-ready")
    sp = H.Spillway("ready", f"""[pipeline]
name = ready
admin = 127.0.0.1:0
shutdown_timeout = 3s

[source.gen]
plugin = generate
rate = 300

[codec.c]
plugin = json

[sink.web]
plugin = http
codec = c
url = {rx.url}/in
failure_threshold = 2
health_check_path = /_control/stats
health_check_interval = 200ms
health_check_threshold = 1
""")
    if not sp.url:
        tap.ok(False, "ready: the admin endpoint started", sp.log()[-2000:])
        return
    st = wait_for(lambda: get(sp.url + "/health/ready")[0] == 200, 10)
    tap.ok(st, "ready: 200 once running with the destination up", get(sp.url + "/health/ready"))
    tap.ok(get(sp.url + "/health/live") == (200, "live\n"), "ready: /health/live answers 200")
    tap.ok(get(sp.url + "/manage/rest/v1")[0] == 200, "ready: the vendor's liveness path answers 200")
    tap.ok(get(sp.url + "/nope")[0] == 404, "ready: an unknown path is 404")
    req = urllib.request.Request(sp.url + "/metrics", data=b"x", method="POST")
    try:
        code = urllib.request.urlopen(req, timeout=5).status
    except urllib.error.HTTPError as e:
        code = e.code
    tap.ok(code == 405, "ready: POST is 405", code)

    # The receiver stops listening for 4 s: every endpoint goes out, the route is held.
    # Health checks (not a bare cool-down) bring the endpoint back, so ready follows the
    # destination itself.
    rx.control("fault", b"refuse,start=0,for=4")
    down = wait_for(lambda: get(sp.url + "/health/ready")[0] == 503, 4)
    status, body = get(sp.url + "/health/ready")
    tap.ok(down and "destination down: sink.web" in body,
           "ready: 503 naming the route while its only destination is down", (status, body))
    up = wait_for(lambda: get(sp.url + "/health/ready")[0] == 200, 12)
    tap.ok(up, "ready: 200 again once the destination is back", get(sp.url + "/health/ready"))
    tap.ok("destination down (every endpoint is out" in sp.log(),
           "ready: the hold is logged with its reason")

    # Draining: the receiver hangs, so SIGTERM leaves events in flight for shutdown_timeout.
    H.wait_port(rx.port)
    rx.control("fault", b"hang")
    time.sleep(0.5)
    sp.proc.send_signal(signal.SIGTERM)
    st = wait_for(lambda: (lambda r: r if r[0] == 503 else None)(get(sp.url + "/health/ready", 2)), 2.5)
    tap.ok(st and "stopping" in st[1], "ready: 503 'stopping' while draining", st)
    sp.stop()
    rx.stop()


def config_test():
    bad = H.write("bad-admin.ini", "[pipeline]\nadmin = localhost\n\n[source.g]\nplugin = generate\n"
                  "count = 1\n[codec.c]\nplugin = json\n[sink.n]\nplugin = null\ncodec = c\n")
    r = H.check(bad)
    tap.ok(r.rc != 0 and re.search(r"bad-admin\.ini:2: \[pipeline\] key 'admin': admin 'localhost': "
                                   r"expected HOST:PORT", r.err),
           "config: a malformed admin address is a --check error with file:line", r.err)
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    taken = H.write("taken.ini", f"[pipeline]\nadmin = 127.0.0.1:{port}\n\n[source.g]\nplugin = generate\n"
                    "count = 1\n[codec.c]\nplugin = json\n[sink.n]\nplugin = null\ncodec = c\n")
    r = H.run(taken, timeout=20)
    tap.ok(r.rc != 0 and f"admin '127.0.0.1:{port}': Address already in use" in r.err,
           "config: a taken admin port stops the start, saying which and why", r.rc, r.tail())
    holder.close()


class NotifySocket:
    def __init__(self):
        self.path = H.path("notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.1)
        self.msgs = []  # (monotonic time, text)

    def pump(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                self.msgs.append((time.monotonic(), self.sock.recv(4096).decode()))
            except socket.timeout:
                pass

    def until(self, what, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if any(what in m for _, m in self.msgs):
                return True
            self.pump(0.1)
        return False

    def times(self, what):
        return [t for t, m in self.msgs if what in m]


def notify_test():
    ns = NotifySocket()
    env = {"NOTIFY_SOCKET": ns.path, "WATCHDOG_USEC": "400000"}
    env.pop("WATCHDOG_PID", None)
    sp = H.Spillway("notify", """[pipeline]
name = notify
stats_interval = 0

[source.gen]
plugin = generate
rate = 200

[codec.c]
plugin = json

[sink.n]
plugin = null
codec = c
""", env=env)
    tap.ok(ns.until("READY=1", 10), "notify: READY=1 once running", ns.msgs[:5])
    ns.pump(1.5)
    pets = ns.times("WATCHDOG=1")
    tap.ok(len(pets) >= 4, "notify: WATCHDOG=1 every half interval while the loops turn (%d in 1.5 s)"
           % len(pets))
    sp.proc.send_signal(signal.SIGTERM)
    tap.ok(ns.until("STOPPING=1", 10), "notify: STOPPING=1 on SIGTERM")
    tap.ok(sp.stop() == 0, "notify: clean exit")

    # A worker stuck 1.5 s in its sink: no petting meanwhile, and a log line saying why.
    ns.msgs = []
    sp = H.Spillway("stuck", """[pipeline]
name = stuck

[source.gen]
plugin = generate
rate = 2

[codec.c]
plugin = json

[sink.s]
plugin = stall
codec = c
mode = block
block_ms = 1500
""", env=env)
    ns.until("READY=1", 10)
    ns.pump(4)
    pets = ns.times("WATCHDOG=1")
    gaps = [b - a for a, b in zip(pets, pets[1:])]
    tap.ok(gaps and max(gaps) > 1.0, "notify: no WATCHDOG=1 while a worker is stuck (longest gap %.2f s)"
           % (max(gaps) if gaps else -1), pets)
    tap.ok(wait_for(lambda: "has not turned its loop" in sp.log(), 3),
           "notify: the stuck worker is logged", sp.log()[-1500:])
    sp.stop()


def main():
    metrics_test()
    ready_test()
    config_test()
    notify_test()
    tap.done()


if __name__ == "__main__":
    main()

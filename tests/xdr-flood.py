#!/usr/bin/python3
"""tests/xdr-flood.py: a real XDR client delivers while strangers flood the port.

Issue 14 replayed, bounded: spillway with the xdr source's defaults
(max_connections 1024, max_connections_per_peer 256, first_frame_timeout
5 s, frame_timeout 10 s) and two workers, on loopback. A flooder opens
FLOOD connections from FLOOD_ADDRS source addresses (127.0.0.2 and up),
a third of them sending the first 4 bytes of a frame header and then
nothing, the rest nothing at all; every connection the source closes is
opened again after a short pause, so the pressure lasts. Meanwhile
spillway-xdrgen (the real client, from 127.0.0.1) sends RECORDS records
over 4 connections. It must get all of them acknowledged, over the 4
connections it opened (no refusal, no reset), in a time close to the same
run without the flood (reported). TAP output; about 20 s.
"""
import errno
import importlib.util
import json
import os
import resource
import selectors
import signal
import socket
import subprocess
import sys
import threading
import time

_spec = importlib.util.spec_from_file_location(
    "xdrclient", os.path.join(os.path.dirname(os.path.abspath(__file__)), "xdr-client.py"))
x = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(x)

FLOOD = 1800
FLOOD_ADDRS = 30
RECORDS = 100000
CONNECTIONS = 4
REOPEN_PAUSE = 1.0   # seconds before a closed flood connection is opened again

t = x.Tap()
tmp = x.tmpdir()
running = []


class Flooder(threading.Thread):
    """Holds `n` hostile connections open on loopback, opening again whatever is closed."""

    def __init__(self, port, n, addrs):
        super().__init__(daemon=True)
        self.port = port
        self.sel = selectors.DefaultSelector()
        self.stop_ev = threading.Event()
        self.slots = [("127.0.0.%d" % (2 + i % addrs), i % 3 == 0) for i in range(n)]
        self.waiting = []          # (time to reopen, slot)
        self.opened = 0            # connect attempts
        self.connected = 0         # connections open now
        self.closed_by_peer = 0
        self.lock = threading.Lock()

    def open(self, slot):
        src, partial = self.slots[slot]
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:
            s.bind((src, 0))
            r = s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            self.waiting.append((time.monotonic() + REOPEN_PAUSE, slot))
            return
        self.opened += 1
        if r not in (0, errno.EINPROGRESS):
            s.close()
            self.waiting.append((time.monotonic() + REOPEN_PAUSE, slot))
            return
        self.sel.register(s, selectors.EVENT_WRITE, (slot, "connecting"))

    def run(self):
        for i in range(len(self.slots)):
            self.open(i)
        while not self.stop_ev.is_set():
            for key, _ in self.sel.select(0.05):
                s = key.fileobj
                slot, state = key.data
                if state == "connecting":
                    err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    self.sel.unregister(s)
                    if err:
                        s.close()
                        self.waiting.append((time.monotonic() + REOPEN_PAUSE, slot))
                        continue
                    if self.slots[slot][1]:
                        try:
                            s.send(b"\x02\x03\x00\x00")  # half a header, then nothing
                        except OSError:
                            pass
                    self.connected += 1
                    self.sel.register(s, selectors.EVENT_READ, (slot, "open"))
                else:
                    try:
                        d = s.recv(4096)
                    except OSError:
                        d = b""
                    if not d:  # closed by the source: come back later
                        self.sel.unregister(s)
                        s.close()
                        self.connected -= 1
                        self.closed_by_peer += 1
                        self.waiting.append((time.monotonic() + REOPEN_PAUSE, slot))
            now = time.monotonic()
            due = [w for w in self.waiting if w[0] <= now]
            if due:
                self.waiting = [w for w in self.waiting if w[0] > now]
                for _, slot in due:
                    self.open(slot)
        for key in list(self.sel.get_map().values()):
            key.fileobj.close()

    def stop(self):
        self.stop_ev.set()
        self.join(10)


def fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def cpu_s(pid):
    """CPU time (user + system) the process has used, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def xdrgen(port, n=RECORDS):
    """Runs spillway-xdrgen; its JSON report, its exit status."""
    gen = os.path.join(os.environ["top_builddir"], "spillway-xdrgen")
    r = subprocess.run([gen, "-c", "127.0.0.1:%d" % port, "-C", str(CONNECTIONS), "-w", "64",
                        "-n", str(n), "--max-time", "40s", "--json", "-q"],
                       capture_output=True, text=True, timeout=60)
    try:
        rep = json.loads(r.stdout)
    except ValueError:
        rep = {"raw": r.stdout + r.stderr}
    return rep, r.returncode


def run():
    # Both sides hold ~FLOOD sockets: make room under the hard limit (children inherit it).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = FLOOD + 1024
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    if soft < want:
        t.diag("the fd limit (%d) is under %d: the flood is smaller" % (soft, want))

    port = x.free_port()
    ini = x.pipeline(port, pipeline_opts="workers = 2\n", codec="testline",
                     sink="plugin = null\n")
    sp = x.Spillway(ini, tmp, "flood")
    running.append(sp)
    sp.start(port)

    xdrgen(port, 5000)  # warm-up: the first run pays for the pipeline's first batches
    base, rc = xdrgen(port)
    t.ok(rc == 0 and base.get("acknowledged") == RECORDS,
         "without a flood: xdrgen gets its %d records acknowledged" % RECORDS, base)
    t_base = base.get("elapsed_s", 0)

    fl = Flooder(port, min(FLOOD, max(0, soft - 1024)), FLOOD_ADDRS)
    fl.start()
    # The flood holds every slot: spillway's descriptors reach max_connections.
    filled = x.wait_for(lambda: fds(sp.p.pid) >= 1024 and fl.closed_by_peer > 0, timeout=15,
                        step=0.1)
    # Into the steady state: closed flood connections come back and push others out. What the
    # flood alone costs spillway is measured meanwhile.
    c0, w0, a0 = cpu_s(sp.p.pid), time.monotonic(), fl.opened
    f0 = sum(resource.getrusage(resource.RUSAGE_SELF)[:2])
    time.sleep(2)
    flood_cpu = (cpu_s(sp.p.pid) - c0) / (time.monotonic() - w0)
    flooder_cpu = (sum(resource.getrusage(resource.RUSAGE_SELF)[:2]) - f0) / (time.monotonic() - w0)
    flood_rate = (fl.opened - a0) / (time.monotonic() - w0)
    t.ok(filled, "the flood fills max_connections (spillway holds %d descriptors, %d flood "
         "connections open)" % (fds(sp.p.pid), fl.connected))
    rss0 = sp.rss_kb()

    flood, rc = xdrgen(port)
    conns = flood.get("connections", {})
    t_flood = flood.get("elapsed_s", 0)
    still = fl.connected
    fl.stop()
    t.ok(rc == 0 and flood.get("complete") and flood.get("acknowledged") == RECORDS,
         "during the flood: xdrgen gets all %d records acknowledged" % RECORDS, flood)
    t.ok(conns.get("opened") == CONNECTIONS and conns.get("connect_failures") == 0 and
         conns.get("resets_peer") == 0 and flood.get("resent_after_reset") == 0,
         "over the %d connections it opened: none refused, reset or opened again" % CONNECTIONS,
         conns)
    t.ok(t_flood <= 3 * t_base + 2.0,
         "promptly: %.2f s with the flood, %.2f s without (%d records, %d connections)"
         % (t_flood, t_base, RECORDS, CONNECTIONS))
    t.diag("delivery of %d records: %.2f s without the flood, %.2f s with it (%.0f vs %.0f "
           "records/s); flood: %d connection attempts, %d closed by spillway, %d open at the end"
           % (RECORDS, t_base, t_flood, RECORDS / max(t_base, 1e-3), RECORDS / max(t_flood, 1e-3),
              fl.opened, fl.closed_by_peer, still))
    t.diag("the flood alone: %.0f connection attempts/s cost spillway %.0f%% of a CPU (the "
           "flooder: %.0f%%)" % (flood_rate, 100 * flood_cpu, 100 * flooder_cpu))
    rss1 = sp.rss_kb()
    t.ok(rss1 - rss0 < 64 * 1024, "memory stays bounded (RSS %d -> %d KiB)" % (rss0, rss1))

    rc = sp.stop()
    evicted = sp.stat("source.x", "evicted_idle") or 0
    silent = sp.stat("source.x", "closed_silent") or 0
    t.ok(rc == 0 and evicted > 0,
         "spillway made room from idle strangers: evicted_idle = %d, closed_silent = %d, "
         "connections_refused = %s" % (evicted, silent, sp.stat("source.x", "connections_refused")),
         sp.log()[-2000:])
    lines = [l for l in sp.log().splitlines() if "connection(s)" in l]
    t.ok(len(lines) <= 40, "the log stays short: %d lines about refused or closed connections for "
         "%d closures" % (len(lines), fl.closed_by_peer), "\n".join(lines[:50]))


try:
    run()
except Exception:  # a crash of the test itself is a failure, with what we know
    import traceback
    t.ok(False, "the test ran to its end", traceback.format_exc())
    for s in running:
        if s.p is not None:
            t.diag(s.log()[-3000:])
finally:
    for s in running:
        if s.alive():
            s.stop(signal.SIGKILL)
x.cleanup(tmp, t)
t.done()

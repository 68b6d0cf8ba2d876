#!/usr/bin/env python3
"""tests/xdr-socket.py: the xdr source from the outside, over TCP.

The real spillway program runs pipelines `xdr -> testline codec -> file
sink` (what arrived, record by record) and `xdr -> sink-stall` (answers on
demand: delays, retries, rejections, held batches). A Python client
(tests/xdr-client.py) sends frames and reads replies. Covered: the
reference frames and their variations (compressed, one byte per write,
many frames per write, reordered and unknown fields), every particle and
key type, INFO, IPv6 and several addresses, every worker accepting,
replies in request order when events complete out of order, retry before
XDR's 10 s timeout, the abandon code, shutdown with answers in flight,
idle_timeout, max_connections, and --check on bad options. TAP output.
"""
import importlib.util
import os
import signal
import socket
import struct
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "xdrclient", os.path.join(os.path.dirname(os.path.abspath(__file__)), "xdr-client.py"))
x = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(x)

DATA = os.path.join(os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..")),
                    "tests", "data", "xdr")
REF_WRITE = x.hexfile(os.path.join(DATA, "ref-write.hex"))
REF_DELETE = x.hexfile(os.path.join(DATA, "ref-delete.hex"))
WRITE_LINE = ("write ns=test set=myset key=i:4 digest=78f26d30728c436ac5b7e2b79f7faa4b1c011576 "
              "gen=1 lut=1734387515693 exp=0 bins=3 seq=-")
DELETE_LINE = ("delete ns=test set=myset key=i:14 digest=f9bb902ddd1874858475b66c8f36b950badb44f7 "
               "gen=2 lut=1734388979032 exp=0 bins=0 durable=0 seq=-")

t = x.Tap()
tmp = x.tmpdir()
running = []


def start(ini, port, host="127.0.0.1"):
    s = x.Spillway(ini, tmp, "pipe%d" % len(running))
    running.append(s)
    s.start(port, host)
    return s


def file_pipeline(port, out, workers=2, source="", extra="", listen=None):
    return x.pipeline(port, listen=listen, source=source,
                      pipeline_opts="workers = %d\nevent_deadline = 3s\n%s" % (workers, extra),
                      sink="plugin = file\npath = %s\n" % out)


def stall_pipeline(port, mode="bins", workers=1, source="", extra="", sink_extra=""):
    return x.pipeline(port, source=source,
                      pipeline_opts="workers = %d\n%s" % (workers, extra),
                      sink="plugin = stall\nmode = %s\nconcurrency = 64\n%s" % (mode, sink_extra))


def check(ini_text, name):
    path = os.path.join(tmp, name + ".ini")
    with open(path, "w") as f:
        f.write(ini_text)
    import subprocess
    r = subprocess.run([os.environ["SPILLWAY"], "--check", "-c", path], capture_output=True,
                       text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def run():
    # ------------------------------------------------------------ --check
    port = x.free_port()
    rc, out = check(file_pipeline(port, "/dev/null"), "good")
    t.ok(rc == 0, "--check accepts an xdr pipeline", out)
    bad = [
        ("listen = 127.0.0.1", "has no port", "a listen address without a port"),
        ("listen = localhost:8901", "numeric", "a host name"),
        ("listen = ::1:8901", "brackets", "IPv6 without brackets"),
        ("listen = 127.0.0.1:0", "port", "port 0"),
        ("listen = 127.0.0.1:70000", "port", "port 70000"),
        ("listen = 127.0.0.1:8901, 127.0.0.1:8901", "twice", "an address listed twice"),
        ("listen = 127.0.0.1:8901\ntls_certificate = /nonexistent.pem", "together",
         "a certificate without a key"),
        ("listen = 127.0.0.1:8901\ntls_ca = /nonexistent.pem", "tls_ca", "tls_ca without TLS"),
        ("listen = 127.0.0.1:8901\ntls_certificate = /nonexistent.pem\ntls_private_key = /x.pem",
         "tls_certificate", "an unreadable certificate"),
        ("listen = 127.0.0.1:8901\nretry_code = 12", "retry_code", "retry_code XDR does not retry"),
        ("listen = 127.0.0.1:8901\nabandon_code = 11", "abandon_code", "abandon_code XDR retries"),
        ("listen = 127.0.0.1:8901\nabandon_code = 2", "abandon_code", "abandon_code 2 (done)"),
        ("listen = 127.0.0.1:8901\nmax_frame_size = 256MiB", "max_frame_size",
         "max_frame_size over 128 MiB"),
    ]
    for source, word, what in bad:
        ini = ("[source.x]\nplugin = xdr\n%s\n[codec.c]\nplugin = testline\n"
               "[sink.out]\nplugin = file\ncodec = c\npath = /dev/null\n") % source
        rc, out = check(ini, "bad")
        t.ok(rc != 0 and word in out, "--check refuses %s" % what, out)

    # A port another program holds (without SO_REUSEPORT): start fails, naming the address,
    # and the program exits cleanly (several times: the failing worker may be gone before
    # the main thread wakes the others, which once aborted the process).
    import subprocess
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    hold.listen()
    held = hold.getsockname()[1]
    path = os.path.join(tmp, "busy.ini")
    with open(path, "w") as f:
        f.write(file_pipeline(held, "/dev/null"))
    runs = [subprocess.run([os.environ["SPILLWAY"], "-c", path], capture_output=True, text=True,
                           timeout=30) for _ in range(6)]
    hold.close()
    good = [r for r in runs if r.returncode == 3 and "127.0.0.1:%d" % held in r.stderr and "in use" in r.stderr]
    t.ok(len(good) == len(runs), "a listen address in use: spillway exits 3 naming it, every time (%d/%d)"
         % (len(good), len(runs)), "statuses %s\n%s" % ([r.returncode for r in runs], runs[0].stderr[-800:]))

    # ------------------------------------------------------------ records, as they arrive
    out = os.path.join(tmp, "out1")
    sp = start(file_pipeline(port, out), port)
    c = x.Conn(port)
    c.send(REF_WRITE + REF_DELETE)
    t.ok(c.replies(2) == [0, 0], "the reference write and delete are answered 0, 0")
    t.ok(x.wait_for(lambda: len(x.lines(out)) == 2) and x.lines(out) == [WRITE_LINE, DELETE_LINE],
         "and arrive as the reference says (key, digest, gen, LUT in Unix ms, TTL, bins)",
         "\n".join(x.lines(out)))

    c.send(x.compressed(REF_WRITE))
    t.ok(c.replies(1) == [0], "a compressed write is answered 0")
    c.send(REF_WRITE, chunk=1, pause=0.001)
    t.ok(c.replies(1) == [0], "a write sent one byte per TCP write is answered 0")
    c.send(x.compressed(REF_DELETE), chunk=7, pause=0.001)
    t.ok(c.replies(1) == [0], "a compressed delete sent 7 bytes per write is answered 0")
    t.ok(x.wait_for(lambda: len(x.lines(out)) == 5) and
         x.lines(out)[2:] == [WRITE_LINE, WRITE_LINE, DELETE_LINE],
         "compressed and split frames arrive identical", "\n".join(x.lines(out)))

    # Many frames in one write: 500 records, in order.
    burst = b"".join(x.seq_record(i) for i in range(500))
    c.send(burst)
    codes = c.replies(500)
    t.ok(codes == [0] * 500, "500 frames in one write: 500 replies, all 0")
    got = x.lines(out)[5:]
    x.wait_for(lambda: len(x.lines(out)) == 505)
    seqs = sorted(int(x.testline_fields(l)["seq"]) for l in x.lines(out)[5:])
    t.ok(seqs == list(range(500)), "each of the 500 records arrives once", "%d lines" % len(got))

    # Large frames over plain TCP: the buffer grows to the frame, and back.
    for size in (100 << 10, 1 << 20, (8 << 20) - 200):
        big = x.seq_record(7000, size=size)
        c.send(big)
        whole = c.replies(1, timeout=20)
        c.send(big, chunk=1000)
        split = c.replies(1, timeout=20)
        t.ok(whole == [0] and split == [0], "a %d-byte frame, in one write and in 1000-byte writes"
             % len(big), (whole, split))
    c.send(x.seq_record(7001))
    t.ok(c.replies(1) == [0], "a small frame after them")
    x.wait_for(lambda: len(x.lines(out)) == 512)

    # Fields reordered, unknown fields, no digest (computed), every key type.
    n0 = len(x.lines(out))
    fields = [x.field(14, struct.pack(">Q", (1 << 40) | 472083515693)), x.field(2, b"\x01" + struct.pack(">q", 4)),
              x.field(99, b"future"), x.field(1, b"myset"), x.field(3, b"\x00" * 7),
              x.field(0, b"test")]
    reordered = x.record(fields=fields, gen=1, ttl=0xFFFFFFFF,
                         ops=[x.str_bin("name", "colton"), x.int_bin("age", 27),
                              x.op("mapTest", x.PT_MAP, bytes.fromhex("82a2036101a2036202"))])
    keys = [
        x.record(key=(x.PT_STRING, b"user 42")),
        x.record(key=(x.PT_BLOB, b"\x00\xff")),
        x.record(key=(x.PT_DOUBLE, struct.pack(">d", 2.5))),
        x.record(key=None, set_=None),
    ]
    c.send(reordered + b"".join(keys))
    t.ok(c.replies(5) == [0] * 5, "reordered and unknown fields, every key type: answered 0")
    x.wait_for(lambda: len(x.lines(out)) == n0 + 5)
    new = x.lines(out)[n0:]
    t.ok(len(new) == 5 and new[0] == WRITE_LINE,
         "fields in another order, without digest, give the reference event (digest computed)",
         "\n".join(new))
    f = [x.testline_fields(l) for l in new[1:]]
    t.ok(len(f) == 4 and f[0]["key"] == "s:user%2042" and f[1]["key"] == "b:00ff" and
         f[2]["key"] == "f:2.5" and f[3]["key"] == "none" and f[3]["set"] == "",
         "string, blob, double and no key; a record without set", "\n".join(new))

    # Every particle type and a TTL.
    now = int(time.time())
    c.send(x.all_types_record())
    t.ok(c.replies(1) == [0], "a record with every particle type is answered 0")
    x.wait_for(lambda: len(x.lines(out)) == n0 + 6)
    last = x.testline_fields(x.lines(out)[-1])
    t.ok(last.get("bins") == "13" and now + 3590 <= int(last.get("exp", 0)) <= now + 3610,
         "13 bins, expiry = arrival + TTL", x.lines(out)[-1])

    # INFO: answered in the INFO framing; between records, in order.
    c.send(x.info(["node", "build", "version", "status", "bogus"]))
    f = c.read_frame()
    body = f[8:].decode()
    t.ok(f[1] == 1 and "status\tok\n" in body and "node\txdrtest\n" in body and "bogus" not in body,
         "INFO: node, build, version, status answered, unknown names left out", repr(body))
    c.send(x.seq_record(900) + x.info(["status"]) + x.seq_record(901))
    r1 = c.read_frame()
    r2 = c.read_frame()
    r3 = c.read_frame()
    t.ok(r1[1] == 3 and r2[1] == 1 and r3[1] == 3 and r2[8:] == b"status\tok\n",
         "an INFO request between two records is answered between their replies")
    c.close()

    # Several connections at once, one byte at a time interleaved.
    conns = [x.Conn(port) for _ in range(8)]
    frames = [x.seq_record(1000 + i) for i in range(8)]
    for k in range(max(len(f) for f in frames)):
        for cc, fr in zip(conns, frames):
            if k < len(fr):
                cc.send(fr[k:k + 1])
    t.ok(all(cc.replies(1) == [0] for cc in conns), "8 connections interleaving bytes: each answered")
    for cc in conns:
        cc.close()
    rc = sp.stop()
    t.ok(rc == 0, "spillway exits 0 on SIGTERM", "status %s\n%s" % (rc, sp.log()[-2000:]))
    t.ok(sp.stat("source.x", "malformed") == 0 and sp.stat("source.x", "info_requests") == 2,
         "counters: no malformed input, 2 INFO requests", sp.log()[-1500:])

    # ------------------------------------------------------------ IPv6, several addresses, workers
    p6 = x.free_port(socket.AF_INET6)
    p4 = x.free_port()
    out = os.path.join(tmp, "out2")
    sp = start(file_pipeline(p4, out, workers=4, extra="log_level = debug\n",
                             listen="127.0.0.1:%d, [::1]:%d" % (p4, p6)), p4)
    sp.wait_port(p6, "::1")
    c6 = x.Conn(p6, host="::1")
    c6.send(REF_WRITE)
    t.ok(c6.replies(1) == [0], "an IPv6 listener ([::1]:port) answers")
    c6.close()
    conns = [x.Conn(p4) for _ in range(32)]
    for i, cc in enumerate(conns):
        cc.send(x.seq_record(i))
    t.ok(all(cc.replies(1) == [0] for cc in conns), "32 connections over 4 workers: all answered")
    for cc in conns:
        cc.close()
    sp.stop()
    workers = set()
    for line in sp.log().splitlines():
        if "connection accepted on 127.0.0.1:%d" % p4 in line and "[source.x#" in line:
            workers.add(line.split("[source.x#")[1].split("]")[0])
    t.ok(len(workers) >= 3, "SO_REUSEPORT: connections were accepted by %d of 4 workers" % len(workers),
         sp.log()[-1500:])

    # ------------------------------------------------------------ answers: order, retry, abandon
    port = x.free_port()
    sp = start(stall_pipeline(port, extra="event_deadline = 2s\n",
                              sink_extra="batch_max_records = 1\non_reject = drop\n"), port)
    c = x.Conn(port)
    t0 = time.monotonic()
    c.send(x.seq_record(1, delay_ms=600, outcome=1) + x.seq_record(2, delay_ms=0) +
           x.seq_record(3, delay_ms=300, outcome=2) + x.seq_record(4, delay_ms=0) +
           x.info(["status"]) + x.seq_record(5, delay_ms=100))
    codes = c.replies(4)
    first = time.monotonic() - t0
    inf = c.read_frame()
    codes += c.replies(1)
    t.ok(codes == [11, 0, 10, 0, 0] and inf[1] == 1,
         "events completing out of order are answered in request order (retry, ok, abandon, ok, "
         "INFO, ok)", codes)
    t.ok(first >= 0.55, "the replies waited for the event before them (%.2f s: a retry is "
         "answered at event_deadline)" % first)

    # Port: the event carries the listener's port.
    c.send(x.record(key=1, ops=[x.int_bin("want_port", port)]) +
           x.record(key=2, ops=[x.int_bin("want_port", port + 1)]))
    t.ok(c.replies(2) == [0, 11], "events carry the listener's port")
    c.close()
    sp.stop()

    # A destination that never answers: retry before XDR's 10 s, per event_deadline.
    port = x.free_port()
    sp = start(stall_pipeline(port, mode="stall", extra="event_deadline = 500ms\n",
                              source="retry_code = 14\n"), port)
    c = x.Conn(port)
    t0 = time.monotonic()
    c.send(x.seq_record(1) + x.seq_record(2))
    codes = c.replies(2, timeout=9)
    dt = time.monotonic() - t0
    t.ok(codes == [14, 14] and dt < 3, "a stalled destination: retry_code (14) after %.2f s, well "
         "before 10 s" % dt, codes)
    c.close()
    sp.stop()

    # ------------------------------------------------------------ shutdown with answers owed
    port = x.free_port()
    sp = start(stall_pipeline(port, extra="shutdown_timeout = 5s\nevent_deadline = 5s\n"), port)
    c = x.Conn(port)
    c.send(x.seq_record(1, delay_ms=800) + x.seq_record(2, delay_ms=800))
    time.sleep(0.2)
    sp.p.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    refused = False
    try:
        c2 = x.Conn(port, timeout=2)
        refused = c2.closed(2)
        c2.close()
    except OSError:
        refused = True
    t.ok(refused, "after SIGTERM the listener takes no new connection")
    try:
        codes = c.replies(2, timeout=5)
    except Exception as e:
        codes = str(e)
    t.ok(codes == [0, 0], "after SIGTERM, answers owed are still sent before the connection closes",
         codes)
    t.ok(c.closed(5), "then the connection is closed")
    rc = sp.stop()
    t.ok(rc == 0, "and spillway exits 0", "status %s\n%s" % (rc, sp.log()[-1500:]))

    # ------------------------------------------------------------ idle_timeout, max_connections
    port = x.free_port()
    sp = start(stall_pipeline(port, source="idle_timeout = 300ms\n"), port)
    idle = x.Conn(port)
    busy = x.Conn(port)
    busy.send(x.seq_record(1, delay_ms=1500))
    t0 = time.monotonic()
    t.ok(idle.closed(3), "an idle connection is closed after idle_timeout (%.2f s)" % (time.monotonic() - t0))
    t.ok(busy.replies(1, timeout=5) == [0], "a connection owing an answer is kept past idle_timeout")
    busy.close()
    sp.stop()
    port = x.free_port()
    sp = start(stall_pipeline(port, source="max_connections = 3\n"), port)
    time.sleep(0.1)  # the probe connection of wait_port is gone
    # Three connections owing answers (the sink holds each record 1.5 s): none can make room,
    # so a fourth is closed at once (tests/xdr-guard.py covers making room).
    cs = [x.Conn(port) for _ in range(3)]
    for i, cc in enumerate(cs):
        cc.send(x.seq_record(i, delay_ms=1500))
    time.sleep(0.2)
    cs.append(x.Conn(port))
    closed = [cc.closed(0.5) for cc in cs]
    t.ok(closed == [False, False, False, True],
         "max_connections = 3, three owing answers: the fourth is closed at once", closed)
    t.ok(all(cc.replies(1, timeout=5) == [0] for cc in cs[:3]), "the three others are served")
    for cc in cs:
        cc.close()
    sp.stop()
    t.ok(sp.stat("source.x", "connections_refused") == 1, "connections_refused = 1")


try:
    run()
except Exception as e:  # a crash of the test itself is a failure, with what we know
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

#!/usr/bin/env python3
"""tests/xdr-flow.py: flow control of the xdr source, from the outside.

- max_in_flight_per_connection: a connection stops being read at its cap
  while another connection still gets its own share; INFO answers waiting
  behind an event count against it.
- The worker's cap (max_in_flight): every connection stops at the
  pipeline's cap, and everything flows again once the destination answers.
- Backpressure holds memory flat: with the destination stalled, many
  clients push far more than the caps (until TCP stops them); the
  process's RSS (from /proc) stays bounded.
- A client that never reads its replies cannot make the source buffer
  without bound; once it reads, every record is answered in order.
- Shutdown with a stalled destination: answers owed are "retry".
TAP output.
"""
import importlib.util
import os
import signal
import socket
import threading
import time

_spec = importlib.util.spec_from_file_location(
    "xdrclient", os.path.join(os.path.dirname(os.path.abspath(__file__)), "xdr-client.py"))
x = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(x)

t = x.Tap()
tmp = x.tmpdir()
running = []


def start(ini, port):
    s = x.Spillway(ini, tmp, "pipe%d" % len(running))
    running.append(s)
    return s.start(port)


def records(sp):
    return sp.stat("source.x", "records") or 0


def push(port, frame, seconds, stop, s=None, sent=0):
    """Pushes copies of frame without reading, non-blocking, for `seconds`: bytes the kernel took.
    With `s` and `sent`, goes on where an earlier push on s stopped."""
    if s is None:
        s = socket.create_connection(("127.0.0.1", port))
        s.setblocking(False)
    data = frame * 64
    deadline = time.monotonic() + seconds
    off = sent % len(data)
    while time.monotonic() < deadline and not stop.is_set():
        try:
            n = s.send(data[off:] if off else data)
            off = (off + n) % len(data)
            sent += n
        except BlockingIOError:
            time.sleep(0.005)
        except OSError:
            break
    return s, sent


def run():
    # ------------------------------------------------------------ per-connection cap
    port = x.free_port()
    sp = start(x.pipeline(port, source="max_in_flight_per_connection = 8\n",
                          pipeline_opts="workers = 1\nevent_deadline = 1h\nstats_interval = 100ms\n"
                                        "shutdown_timeout = 1s\n",
                          sink="plugin = stall\nmode = stall\n"), port)
    a = x.Conn(port)
    a.send(b"".join(x.seq_record(i) for i in range(200)))
    x.wait_for(lambda: records(sp) >= 8, timeout=5)
    time.sleep(0.5)
    t.ok(records(sp) == 8, "a connection stops at max_in_flight_per_connection (8 of 200 taken)",
         "records=%s" % records(sp))
    b = x.Conn(port)
    b.send(b"".join(x.seq_record(i) for i in range(50)))
    x.wait_for(lambda: records(sp) >= 16, timeout=5)
    time.sleep(0.3)
    t.ok(records(sp) == 16, "another connection still gets its 8", "records=%s" % records(sp))
    rc = sp.stop()
    try:
        ra, rb = a.replies(8, timeout=5), b.replies(8, timeout=5)
    except Exception as e:
        ra, rb = str(e), ""
    t.ok(rc == 0 and ra == [11] * 8 and rb == [11] * 8,
         "shutdown with a stalled destination: the 8 + 8 answers owed are retry (11)", (rc, ra, rb))
    t.ok(a.closed(3) and b.closed(3), "and the connections close")

    # ------------------------------------------------------------ INFO answers count against the cap
    port = x.free_port()
    sp = start(x.pipeline(port, source="max_in_flight_per_connection = 4\n",
                          pipeline_opts="workers = 1\nevent_deadline = 1h\nstats_interval = 100ms\n"
                                        "shutdown_timeout = 1s\n",
                          sink="plugin = stall\nmode = stall\n"), port)
    a = x.Conn(port)
    a.send(x.seq_record(1) + x.info(["status"]) * 50)
    x.wait_for(lambda: (sp.stat("source.x", "info_requests") or 0) >= 3, timeout=5)
    time.sleep(0.5)
    n_info = sp.stat("source.x", "info_requests")
    t.ok(n_info == 3, "INFO answers waiting behind an event count against the cap: 3 of 50 taken",
         "info_requests=%s" % n_info)
    sp.stop()
    try:
        first = a.replies(1, timeout=5)
        infos = [a.read_frame(timeout=5)[1] for _ in range(3)]
    except Exception as e:
        first, infos = str(e), []
    t.ok(first == [11] and infos == [1, 1, 1] and a.closed(3),
         "at shutdown: the event's retry, then the 3 INFO answers behind it, then close",
         (first, infos))

    # ------------------------------------------------------------ the worker's cap, then resume
    port = x.free_port()
    sp = start(x.pipeline(port, pipeline_opts="workers = 1\nmax_in_flight = 50\nevent_deadline = 30s\n"
                                              "stats_interval = 100ms\n",
                          sink="plugin = stall\nmode = bins\nconcurrency = 1\nbatch_max_records = 10\n"
                               "batch_max_delay = 0\n"), port)
    conns = [x.Conn(port) for _ in range(3)]
    for k, c in enumerate(conns):
        c.send(b"".join(x.seq_record(k * 1000 + i, delay_ms=1000 if i == 0 else 0) for i in range(300)))
    x.wait_for(lambda: records(sp) >= 50, timeout=5)
    time.sleep(0.3)
    held = records(sp)
    t.ok(50 <= held <= 60, "the worker's in-flight cap (50) stops every connection: %d taken of 900" % held)
    ok = True
    for c in conns:
        got = c.replies(300, timeout=30)
        ok = ok and got == [0] * 300
    t.ok(ok, "once the destination answers, all 900 are taken and answered 0, in order")
    for c in conns:
        c.close()
    sp.stop()

    # ------------------------------------------------------------ memory stays flat
    port = x.free_port()
    sp = start(x.pipeline(port, pipeline_opts="workers = 2\nmax_in_flight = 256\nevent_deadline = 1h\n"
                                              "shutdown_timeout = 0\n",
                          sink="plugin = stall\nmode = stall\n"), port)
    warm = x.Conn(port)
    warm.send(x.seq_record(0, size=10000))
    time.sleep(0.3)
    rss0 = sp.rss_kb()
    frame = x.seq_record(1, size=10000)
    stop = threading.Event()
    results = []
    lock = threading.Lock()

    def pusher():
        s, n = push(port, frame, 4, stop)
        with lock:
            results.append((s, n))

    threads = [threading.Thread(target=pusher) for _ in range(16)]
    for th in threads:
        th.start()
    peak = rss0
    t_end = time.monotonic() + 4.5
    while time.monotonic() < t_end:
        peak = max(peak, sp.rss_kb())
        time.sleep(0.1)
    for th in threads:
        th.join()
    pushed = sum(n for _, n in results)
    cap_bytes = 256 * len(frame)
    t.diag("16 clients pushed %.1f MiB against caps of %.1f MiB; RSS %d KiB -> peak %d KiB" %
           (pushed / 1048576, cap_bytes / 1048576, rss0, peak))
    t.ok(pushed > 8 * cap_bytes, "the clients pushed far more than the caps (%.0f MiB vs %.1f MiB)"
         % (pushed / 1048576, cap_bytes / 1048576))
    t.ok(peak - rss0 < 48 * 1024, "RSS stayed bounded while the sink was blocked (+%d KiB)" % (peak - rss0))
    for s, _ in results:
        s.close()
    warm.close()
    sp.stop(signal.SIGKILL)

    # ------------------------------------------------------------ replies nobody reads
    port = x.free_port()
    sp = start(x.pipeline(port, pipeline_opts="workers = 1\n", sink="plugin = null\n"), port)
    rss0 = sp.rss_kb()
    frame = x.seq_record(5)
    s, pushed = push(port, frame, 3, threading.Event())
    # The source stops reading once the kernel's buffers of unread replies are full: then a
    # second moves nothing. A slow build (ASan on a busy machine) takes longer to fill them, so
    # push a second at a time until one moves (almost) nothing; a source that kept reading
    # would take megabytes every second, for ever.
    seconds = 3
    while True:
        s, more = push(port, frame, 1, threading.Event(), s, pushed)
        seconds += 1
        moved, pushed = more - pushed, more
        if moved < 256 * 1024 or seconds >= 20:
            break
    t.ok(moved < 256 * 1024, "a client that never reads its replies is no longer read from "
         "(%d bytes taken in the last second, %d in all, %d s)" % (moved, pushed, seconds))
    rss1 = sp.rss_kb()
    n_frames = pushed // len(frame)
    t.diag("pushed %d frames (%.1f MiB) without reading a reply; RSS %d -> %d KiB" %
           (n_frames, pushed / 1048576, rss0, rss1))
    t.ok(rss1 - rss0 < 32 * 1024, "a client that never reads its replies: RSS bounded (+%d KiB)" % (rss1 - rss0))
    # Now read: every whole frame sent gets its reply, in order, and the rest of the last one flows.
    s.setblocking(True)
    rest = (len(frame) - pushed % len(frame)) % len(frame)
    # From a thread: the source reads again only once replies are read, so a blocking send
    # here, before reading, would wait forever (that is the backpressure under test).
    tail = threading.Thread(target=s.sendall, args=(frame[len(frame) - rest:] if rest else b"",))
    tail.start()
    c = x.Conn.__new__(x.Conn)
    c.s, c.buf = s, b""
    total = n_frames + (1 if rest else 0)
    try:
        got = c.replies(total, timeout=30)
        good = got == [0] * total
    except Exception as e:
        good = False
        t.diag(str(e))
    tail.join()
    t.ok(good, "once it reads, all %d records are answered 0" % total)
    s.close()
    sp.stop()


try:
    run()
except Exception:
    import traceback
    t.ok(False, "the test ran to its end", traceback.format_exc())
    for s in running:
        t.diag(s.log()[-2000:])
finally:
    for s in running:
        if s.alive():
            s.stop(signal.SIGKILL)
x.cleanup(tmp, t)
t.done()

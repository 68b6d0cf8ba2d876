#!/usr/bin/python3
"""tests/xdr-guard.py: the xdr source's listener guard, one rule at a time.

The real spillway program with an xdr source, on loopback; clients are
tests/xdr-client.py connections, bound to chosen 127.0.0.x source
addresses where a rule is about who connects. Covered: `allow` (IPv4
address and CIDR range, an IPv4-mapped IPv6 entry, IPv6), refusals
before any byte is read, their counter and rate-limited log lines;
first_frame_timeout (silent and half-a-header peers); frame_timeout
(a frame that stalls, a slow one that completes, a frame waiting on the
pipeline's backpressure not counted); idle connections after a frame
kept; max_connections_per_peer (refused when all owe answers, room made
from the peer's own idle connection otherwise); max_connections making
room (strangers first, then the connection idle longest); --check on bad
entries. TAP output.
"""
import importlib.util
import os
import re
import signal
import socket
import subprocess
import sys
import time

_spec = importlib.util.spec_from_file_location(
    "xdrclient", os.path.join(os.path.dirname(os.path.abspath(__file__)), "xdr-client.py"))
x = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(x)

t = x.Tap()
tmp = x.tmpdir()
running = []


def start(port, source="", workers=1, listen=None, host="127.0.0.1"):
    ini = x.pipeline(port, listen=listen, source=source,
                     pipeline_opts="workers = %d\nevent_deadline = 4s\n" % workers,
                     sink="plugin = stall\nmode = bins\nconcurrency = 64\n")
    s = x.Spillway(ini, tmp, "pipe%d" % len(running))
    running.append(s)
    s.start(port, host)
    time.sleep(0.1)  # the probe connection of wait_port is gone
    return s


def check(source, name="bad"):
    ini = ("[source.x]\nplugin = xdr\nlisten = 127.0.0.1:8901\n%s\n[codec.c]\nplugin = testline\n"
           "[sink.out]\nplugin = file\ncodec = c\npath = /dev/null\n") % source
    path = os.path.join(tmp, name + ".ini")
    with open(path, "w") as f:
        f.write(ini)
    r = subprocess.run([os.environ["SPILLWAY"], "--check", "-c", path], capture_output=True,
                       text=True, timeout=30)
    return r.returncode, r.stdout + r.stderr


def served(c, seq=1, timeout=5):
    """True when a record sent on c is answered 0."""
    try:
        c.send(x.seq_record(seq))
        return c.replies(1, timeout) == [0]
    except (x.Closed, OSError, TimeoutError):
        return False


def refused(c, timeout=2):
    """True when the source closes c without answering a record sent on it."""
    try:
        c.send(x.seq_record(1))
    except OSError:
        return True
    return c.closed(timeout)


def run():
    # ------------------------------------------------------------ --check
    good = ("allow = 10.0.0.7, 10.1.0.0/16, 2001:db8::/32, ::1, ::ffff:192.168.0.0/112\n"
            "max_connections_per_peer = 64\nfirst_frame_timeout = 2s\nframe_timeout = 30s\n")
    rc, out = check(good, "good")
    t.ok(rc == 0, "--check accepts addresses, CIDR ranges (IPv4, IPv6, IPv4-mapped) and the limits",
         out)
    for entry, word, what in [
        ("xdr-node-1", "numeric IPv4", "a host name"),
        ("10.0.0.0/33", "prefix length must be 0 to 32", "an IPv4 prefix over 32"),
        ("2001:db8::/129", "prefix length must be 0 to 128", "an IPv6 prefix over 128"),
        ("10.0.0.0/", "prefix length", "an empty prefix"),
        ("10.0.0.0/8x", "prefix length", "a prefix with trailing bytes"),
        ("10.0.0.1/8", "write 10.0.0.0/8", "bits set past the prefix"),
        ("2001:db8::1/32", "write 2001:db8::/32", "IPv6 bits set past the prefix"),
        ("10.0.0.256", "numeric IPv4", "an octet over 255"),
    ]:
        rc, out = check("allow = 127.0.0.1, %s\n" % entry)
        t.ok(rc != 0 and word in out and "allow" in out and entry.split("/")[0] in out,
             "--check refuses %s in allow, saying why" % what, out)
    rc, out = check("first_frame_timeout = 2h\n")
    t.ok(rc != 0 and "first_frame_timeout" in out, "--check refuses first_frame_timeout over 1h",
         out)
    rc, out = check("max_connections_per_peer = 0\n")
    t.ok(rc != 0 and "max_connections_per_peer" in out,
         "--check refuses max_connections_per_peer 0", out)

    # ------------------------------------------------------------ allow
    port = x.free_port()
    p6 = x.free_port(socket.AF_INET6)
    sp = start(port, listen="127.0.0.1:%d, [::1]:%d" % (port, p6),
               source="allow = 127.0.0.2, 127.0.0.8/30, ::ffff:127.0.0.20, ::1\n")
    t.ok(served(x.Conn(port, source="127.0.0.2")), "allow: a listed address is served")
    t.ok(served(x.Conn(port, source="127.0.0.10")), "allow: an address inside a listed range (/30)")
    t.ok(served(x.Conn(port, source="127.0.0.20")),
         "allow: an IPv4 peer matches an entry written IPv4-mapped (::ffff:127.0.0.20)")
    t.ok(served(x.Conn(p6, host="::1")), "allow: an IPv6 entry (::1)")
    outside = ["127.0.0.1", "127.0.0.3", "127.0.0.12", "127.0.0.21"]
    t.ok(all(refused(x.Conn(port, source=a)) for a in outside),
         "allow: addresses outside every entry are closed unanswered (%s)" % ", ".join(outside))
    many = [x.Conn(port, source="127.0.0.4") for _ in range(40)]
    t.ok(all(c.closed(2) for c in many), "allow: 40 more from a stranger are closed")
    rc = sp.stop()
    log = sp.log()
    lines = [l for l in log.splitlines() if "not in `allow`" in l]
    counted = sum(int(re.search(r"(\d+) connection\(s\)", l).group(1)) for l in lines)
    # 45: the 44 above and the start-up probe (from 127.0.0.1).
    t.ok(rc == 0 and sp.stat("source.x", "refused_not_allowed") == 45,
         "refused_not_allowed = 45", log[-1500:])
    t.ok(1 <= len(lines) <= 2 and counted == 45,
         "45 refusals make %d log line(s) with their count, not 45" % len(lines), "\n".join(lines))
    t.ok(sp.stat("source.x", "frames") == 4 and sp.stat("source.x", "connections") == 4,
         "refused before a byte was read: only the 4 allowed connections and their 4 frames count",
         log[-1500:])

    # ------------------------------------------------------------ silent peers
    port = x.free_port()
    sp = start(port, source="first_frame_timeout = 500ms\n")
    t0 = time.monotonic()
    mute = x.Conn(port)
    half = x.Conn(port)
    half.send(b"\x02\x03\x00")  # three bytes of a header, then nothing
    talker = x.Conn(port)
    t.ok(served(talker), "a connection sending a frame at once is served")
    c1 = mute.closed(3)
    d1 = time.monotonic() - t0
    c2 = half.closed(3)
    d2 = time.monotonic() - t0
    t.ok(c1 and 0.45 <= d1 <= 1.5, "first_frame_timeout = 500ms: a silent connection is closed "
         "(%.2f s)" % d1)
    t.ok(c2 and 0.45 <= d2 <= 1.5, "and one that sent three bytes of a header (%.2f s)" % d2)
    time.sleep(1.0)
    t.ok(served(talker, 2), "a connection idle after its first frame is kept (1.5 s > the bound)")
    talker.close()
    sp.stop()
    t.ok(sp.stat("source.x", "closed_silent") == 2, "closed_silent = 2", sp.log()[-1500:])
    t.ok(len([l for l in sp.log().splitlines() if "first_frame_timeout" in l]) <= 2,
         "logged at most once per 10 s with a count")

    # ------------------------------------------------------------ slow frames (slowloris)
    port = x.free_port()
    sp = start(port, source="frame_timeout = 500ms\nmax_in_flight_per_connection = 2\n")
    slow = x.Conn(port)
    t.ok(served(slow), "a first frame")
    frame = x.seq_record(2)
    t0 = time.monotonic()
    slow.send(frame[:12])  # a header and a bit, then nothing
    c = slow.closed(3)
    d = time.monotonic() - t0
    t.ok(c and 0.45 <= d <= 1.5, "frame_timeout = 500ms: a frame stalled after 12 bytes closes the "
         "connection (%.2f s)" % d)
    steady = x.Conn(port)
    t.ok(served(steady), "another connection's first frame")
    steady.send(x.seq_record(3), chunk=10, pause=0.02)
    t.ok(steady.replies(1) == [0], "a frame trickling in 10-byte writes but whole within the bound "
         "is answered")
    # Two records the sink holds 1.2 s fill max_in_flight_per_connection; the third waits in the
    # source's buffer, not read on, for longer than frame_timeout: that is the pipeline's doing.
    steady.send(x.seq_record(4, delay_ms=1200) + x.seq_record(5, delay_ms=1200) + x.seq_record(6))
    try:
        codes = steady.replies(3, timeout=5)
    except Exception as e:
        codes = str(e)
    t.ok(codes == [0, 0, 0], "a frame held back by backpressure past frame_timeout is not 'slow'",
         codes)
    steady.close()
    sp.stop()
    t.ok(sp.stat("source.x", "closed_slow") == 1, "closed_slow = 1", sp.log()[-1500:])

    # ------------------------------------------------------------ per-peer cap
    port = x.free_port()
    sp = start(port, source="max_connections_per_peer = 2\n")
    a = x.Conn(port, source="127.0.0.1")
    b = x.Conn(port, source="127.0.0.1")
    a.send(x.seq_record(1, delay_ms=1500))
    b.send(x.seq_record(2, delay_ms=1500))
    time.sleep(0.2)
    c = x.Conn(port, source="127.0.0.1")
    t.ok(c.closed(1), "max_connections_per_peer = 2, both owing answers: a third from the same "
         "address is closed")
    other = x.Conn(port, source="127.0.0.2")
    t.ok(served(other), "a connection from another address is served meanwhile")
    t.ok(a.replies(1) == [0] and b.replies(1) == [0], "the peer's two connections are answered")
    time.sleep(0.1)
    b.send(x.seq_record(3))
    t.ok(b.replies(1) == [0], "(the second is the more recently active)")
    d = x.Conn(port, source="127.0.0.1")
    t.ok(served(d), "once they owe nothing, a new one from that peer gets in")
    t.ok(a.closed(1) and served(b, 4), "by closing the peer's connection idle longest; the other "
         "stays")
    sp.stop()
    t.ok(sp.stat("source.x", "refused_per_peer") == 1 and sp.stat("source.x", "evicted_idle") == 1,
         "refused_per_peer = 1, evicted_idle = 1", sp.log()[-1500:])

    # ------------------------------------------------------------ max_connections makes room
    port = x.free_port()
    sp = start(port, source="max_connections = 3\nfirst_frame_timeout = 0\n")
    old = x.Conn(port)
    t.ok(served(old), "an XDR connection")
    time.sleep(0.1)
    newer = x.Conn(port)
    t.ok(served(newer), "a second one")
    stranger = x.Conn(port)  # newest of all, never sends a frame
    time.sleep(0.1)
    n1 = x.Conn(port)
    t.ok(served(n1), "max_connections = 3, full: a new connection is served")
    ok = stranger.closed(1) and served(old, 5)
    time.sleep(0.05)
    t.ok(ok and served(newer, 6),
         "the connection that never sent a frame made room, though it was the newest")
    time.sleep(0.05)
    t.ok(served(n1, 7), "(the first XDR connection is now the one idle longest)")
    n2 = x.Conn(port)
    t.ok(served(n2), "full again: another new connection is served")
    t.ok(old.closed(1) and served(newer, 8) and served(n1, 9),
         "the connection idle longest made room; the others stay")
    sp.stop()
    t.ok(sp.stat("source.x", "evicted_idle") == 2 and
         sp.stat("source.x", "connections_refused") == 0,
         "evicted_idle = 2, connections_refused = 0", sp.log()[-1500:])


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

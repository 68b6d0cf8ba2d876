#!/usr/bin/env python3
"""tests/xdr-malformed.py: malformed XDR input against the real program.

Each bad input goes on its own connection, after one good record (which
is answered). The process must survive, close only that connection, log
exactly one warning naming the peer, the stream's byte offset and the
reason, and keep serving a good connection opened before any of it.
The corpus: truncated and oversized frames, foreign protocol versions and
types, impossible counts and sizes, impossible ops, bad compression,
decompression bombs, malformed MessagePack, random bytes. TAP output.
"""
import importlib.util
import os
import random
import re
import signal
import struct
import sys
import time
import zlib

_spec = importlib.util.spec_from_file_location(
    "xdrclient", os.path.join(os.path.dirname(os.path.abspath(__file__)), "xdr-client.py"))
x = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(x)

DATA = os.path.join(os.environ.get("top_srcdir", os.path.join(os.path.dirname(__file__), "..")),
                    "tests", "data", "xdr")
REF_WRITE = x.hexfile(os.path.join(DATA, "ref-write.hex"))
MAX_FRAME = 65536

t = x.Tap()
tmp = x.tmpdir()
sp = None


def poke(frame, at, value):
    b = bytearray(frame)
    b[at] = value
    return bytes(b)


def resize(frame, body):
    """frame's header with a new body (size field follows)."""
    return x.proto(frame[1], body)


def bomb(total, announce):
    """A compressed frame inflating to `total` bytes whose inner header announces `announce`."""
    head = bytearray(REF_WRITE[:30])
    head[2:8] = (announce).to_bytes(6, "big")
    z = zlib.compressobj(9)
    data = z.compress(bytes(head))
    chunk = b"\0" * (1 << 20)
    left = total - 30
    while left > 0:
        n = min(left, len(chunk))
        data += z.compress(chunk[:n])
        left -= n
    data += z.flush()
    return x.proto(4, struct.pack(">Q", announce) + data)


def corpus():
    w = REF_WRITE
    rnd = random.Random(7)
    cases = [
        # (what, bytes, expected offset within the bad bytes, or None when no warning is due)
        ("bad version", b"\x01\x03" + w[2:], 0),
        ("version 0", b"\x00" * 40, 0),
        ("type 2 (security)", x.proto(2, b"\x00" * 20), 1),
        ("type 5 (internal XDR)", x.proto(5, b"\x00" * 20), 1),
        ("type 7", x.proto(7, b""), 1),
        ("oversized frame (header only sent)", b"\x02\x03" + (MAX_FRAME + 1).to_bytes(6, "big"), 2),
        ("oversized INFO", b"\x02\x01" + (70000).to_bytes(6, "big"), 2),
        ("message shorter than its header", x.proto(3, b"\x16" * 10), 2),
        ("header_sz 21", poke(w, 8, 21), 8),
        ("n_ops over what the bytes hold", poke(w, 28, 0xff), 26),
        ("n_fields one too many", poke(w, 27, 6), 101),
        ("field size past the end", poke(w, 33, 0xff), 30),
        ("field size 0", poke(poke(w, 33, 0), 32, 0), 30),
        ("op size past the end", poke(w, 104, 0xff), 101),
        ("op READ", poke(w, 105, 1), 105),
        ("op INCR", poke(w, 105, 5), 105),
        ("an 8-byte bool", poke(w, 124, 17), 130),
        ("a delete with ops", poke(w, 10, 0x03), 28),
        ("neither write nor delete", poke(w, 10, 0x00), 10),
        ("truncated map in a bin", resize(w, w[8:-1]), 138),
        ("bytes after the last op", resize(w, w[8:] + b"\x00"), 162),
        ("no namespace", x.record(fields=[x.field(4, b"d" * 20)]), 26),
        ("digest of 19 bytes", x.record(fields=[x.field(0, b"test"), x.field(4, b"d" * 19)]), 39),
        ("corrupt zlib", poke(x.compressed(w), 30, 0x55), None),
        ("truncated zlib", resize(x.compressed(w), x.compressed(w)[8:-6]), None),
        ("gzip instead of zlib", x.proto(4, b"\0" * 8 + __import__("gzip").compress(w)), None),
        ("zlib then trailing bytes", resize(x.compressed(w), x.compressed(w)[8:] + b"xx"), None),
        ("compressed inside compressed", x.compressed(x.compressed(w)), None),
        ("inflates short of its size", x.compressed(w[:-5]), None),
        ("bomb: 16 MiB announced 154 bytes", bomb(16 << 20, 154), None),
        ("bomb: 16 MiB announced 16 MiB", bomb(16 << 20, (16 << 20) - 8), None),
        ("random bytes", b"\x02\x03" + bytes(rnd.randrange(256) for _ in range(300)), None),
    ]
    for i in range(5):
        cases.append(("random frame %d" % i, x.proto(3, bytes(rnd.randrange(256) for _ in range(200))),
                      None))
    return cases


def run():
    global sp
    port = x.free_port()
    out = os.path.join(tmp, "out")
    ini = x.pipeline(port, source="max_frame_size = %d\n" % MAX_FRAME,
                     pipeline_opts="workers = 2\n",
                     sink="plugin = file\npath = %s\n" % out)
    sp = x.Spillway(ini, tmp).start(port)
    good = x.Conn(port)
    good.send(x.seq_record(0))
    t.ok(good.replies(1) == [0], "a good connection is served")
    rss0 = sp.rss_kb()

    cases = corpus()
    seq = 1
    for what, bad, off in cases:
        c = x.Conn(port)
        peer = "127.0.0.1:%d" % c.s.getsockname()[1]
        lead = x.seq_record(10000 + seq)
        c.send(lead)
        first = c.replies(1)
        try:
            c.send(bad)
        except OSError:
            pass  # closed while sending: that is the point
        closed = c.closed(5)
        c.close()
        good.send(x.seq_record(seq))
        alive = good.replies(1) == [0]
        seq += 1
        t.ok(first == [0] and closed and alive and sp.alive(),
             "%s: that connection closes, the good one keeps flowing" % what,
             "first=%s closed=%s alive=%s" % (first, closed, alive))
        # The warning: one line, naming the peer, the offset (when known) and a reason.
        x.wait_for(lambda: peer + ": malformed" in sp.log(), timeout=2)
        found = [l for l in sp.log().splitlines() if (peer + ":") in l and "malformed input" in l]
        if off is None:
            good_line = len(found) == 1 and "closing the connection" in found[0]
        else:
            want = "at byte %d:" % (len(lead) + off)
            good_line = len(found) == 1 and want in found[0]
        t.ok(good_line and found[0].split()[1] == "warn",
             "%s: one warning with peer, offset and reason" % what, "\n".join(found) or sp.log()[-800:])

    # A truncated frame, then the peer leaves: no warning due (the peer left), no answer.
    c = x.Conn(port)
    c.send(REF_WRITE[:100])
    c.close()
    good.send(x.seq_record(seq))
    t.ok(good.replies(1) == [0] and sp.alive(), "a frame cut by the peer's close: nothing breaks")

    # Malformed input after frames in flight: the good frames before it were taken.
    n_before = len(x.lines(out))
    c = x.Conn(port)
    c.send(b"".join(x.seq_record(20000 + i) for i in range(20)) + b"\x09garbage")
    t.ok(c.closed(5), "20 good frames then garbage in one write: the connection closes")
    t.ok(x.wait_for(lambda: len(x.lines(out)) >= n_before + 20),
         "and the 20 records before the garbage were delivered")

    rss1 = sp.rss_kb()
    t.ok(rss1 - rss0 < 64 * 1024, "memory after the corpus: RSS grew %d KiB (bombs included)" % (rss1 - rss0))
    good.close()
    rc = sp.stop()
    t.ok(rc == 0, "spillway exits 0 after the corpus", "status %s\n%s" % (rc, sp.log()[-1500:]))
    n_warn = sum(1 for l in sp.log().splitlines() if "malformed input" in l)
    t.ok(sp.stat("source.x", "malformed") == len(cases) + 1 and n_warn == len(cases) + 1,
         "the malformed counter and the warnings agree: %d" % n_warn,
         "counter %s" % sp.stat("source.x", "malformed"))


try:
    run()
except Exception:
    import traceback
    t.ok(False, "the test ran to its end", traceback.format_exc())
    if sp is not None:
        t.diag(sp.log()[-3000:])
finally:
    if sp is not None and sp.alive():
        sp.stop(signal.SIGKILL)
x.cleanup(tmp, t)
t.done()

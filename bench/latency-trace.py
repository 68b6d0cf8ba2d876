#!/usr/bin/python3
"""bench/latency-trace.py: where an acknowledgement's time goes, from the
loopback interface's own timestamps (run by bench/latency.sh with
LAT_TRACE=1; needs root for a packet socket).

    latency-trace.py XDR_PORT HTTP_PORT SECONDS

Captures every TCP segment with a payload on `lo` for SECONDS (kernel
receive timestamps, SO_TIMESTAMPNS; a packet socket sees each segment once
as it leaves its sender) and splits each record's time at spillway into:

    in     the XDR frame reaches spillway's socket -> its POST leaves
           (spillway: read, parse, submit, encode, the sink, the write)
    nginx  the POST leaves -> nginx's answer leaves (nginx, and the
           scheduler waking it)
    out    nginx's answer leaves -> the XDR reply leaves (spillway: read,
           parse the answer, acknowledge, write the reply; waits for
           earlier records, since replies go in order)

Matching: frames and replies in order on the XDR connection(s) (one reply
of 30 bytes per frame), POSTs in the order they leave (spillway sends in
submission order with one record per request), each answer matched to
its POST on the same nginx connection. Meant for one record per request
at a rate where each segment carries whole frames (a few thousand per
second; at 10,000/s it still holds for most segments): records whose
counts do not line up are left out and counted.
"""

import re
import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SO_TIMESTAMPNS = 35
SO_RCVBUFFORCE = 33
PACKET_OUTGOING = 4
SOL_PACKET = 263
PACKET_STATISTICS = 6


def capture(seconds):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind(("lo", 0))
    s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 64 << 20)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.setblocking(False)
    out = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        r, _, _ = select.select([s], [], [], 0.1)
        if not r:
            continue
        while True:
            try:
                data, anc, _, addr = s.recvmsg(70000, 64)
            except BlockingIOError:
                break
            if addr[2] != PACKET_OUTGOING:
                continue
            ts = None
            for lvl, typ, val in anc:
                if lvl == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", val[:16])
                    ts = sec * 1_000_000_000 + nsec
            if ts is not None:
                out.append((ts, data))
    # struct tpacket_stats: packets seen, packets dropped for want of buffer
    seen, drops = struct.unpack("II", s.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    s.close()
    return out, drops


def segments(raw):
    """(ts ns, src port, dst port, payload) of IPv4 TCP segments with a payload."""
    seen = set()
    for ts, d in raw:
        ip = d[14:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        sport, dport, tseq = struct.unpack("!HHI", tcp[:8])
        off = (tcp[12] >> 4) * 4
        payload = tcp[off:]
        if payload and (sport, dport, tseq) not in seen:  # a segment seen twice counts once
            seen.add((sport, dport, tseq))
            yield ts, sport, dport, payload


def frame_seqs(buf):
    """Sequence numbers (integer keys) of the whole as_proto frames at the
    start of buf, and how many bytes they took (a frame may span segments)."""
    out, i = [], 0
    while i + 8 <= len(buf):
        size = int.from_bytes(buf[i + 2:i + 8], "big")
        if i + 8 + size > len(buf):
            break
        msg = buf[i + 8:i + 8 + size]
        nfields = int.from_bytes(msg[18:20], "big")
        j, seq = 22, None
        for _ in range(nfields):
            fsz = int.from_bytes(msg[j:j + 4], "big")
            if msg[j + 4] == 2 and msg[j + 5] == 1:  # the key, an integer
                seq = int.from_bytes(msg[j + 6:j + 14], "big")
            j += 4 + fsz
        out.append(seq)
        i += 8 + size
    return out, i


# the json codec's seq bin (xdrgen's first bin, the record's sequence number)
KEY = re.compile(rb'"name":"seq","type":"int","value":(\d+)')


def pct(v, q):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))] / 1000.0


def main():
    xport, hport, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    print("trace: capturing", file=sys.stderr, flush=True)
    raw, drops = capture(secs)
    t1, t2, t3, t4 = {}, {}, {}, {}
    order = {}        # xdrgen's port -> sequence numbers in the order their frames left
    replies = {}      # xdrgen's port -> reply times, in order
    pending = {}      # xdrgen's port -> bytes of a frame not complete yet
    rpart = {}        # xdrgen's port -> bytes of a reply not complete yet
    inflight = {}     # nginx connection -> sequence numbers of its POSTs not answered yet
    for ts, sp, dp, pl in segments(raw):
        if dp == xport:
            buf = pending.get(sp, b"") + pl
            seqs, used = frame_seqs(buf)
            pending[sp] = buf[used:]
            for seq in seqs:
                t1.setdefault(seq, ts)
                order.setdefault(sp, []).append(seq)
        elif sp == xport:
            k = rpart.get(dp, 0) + len(pl)
            rpart[dp] = k % 30
            replies.setdefault(dp, []).extend([ts] * (k // 30))
        elif dp == hport:
            for m in KEY.finditer(pl):
                seq = int(m.group(1))
                t2.setdefault(seq, ts)
                inflight.setdefault(sp, []).append(seq)
        elif sp == hport:
            q = inflight.get(dp, [])
            for _ in range(pl.count(b"HTTP/1.1 ")):
                if q:
                    t3.setdefault(q.pop(0), ts)
    for conn, seqs in order.items():
        for seq, ts in zip(seqs, replies.get(conn, [])):
            t4.setdefault(seq, ts)
    st_in, st_ng, st_out, total = [], [], [], []
    skipped = 0
    for seq in t1:
        if seq not in t2 or seq not in t3 or seq not in t4 or not (t1[seq] <= t2[seq] <= t3[seq] <= t4[seq]):
            skipped += 1
            continue
        st_in.append(t2[seq] - t1[seq])
        st_ng.append(t3[seq] - t2[seq])
        st_out.append(t4[seq] - t3[seq])
        total.append(t4[seq] - t1[seq])
    nframes = sum(len(v) for v in order.values())
    nreplies = sum(len(v) for v in replies.values())
    print("trace: %d frames, %d POSTs, %d replies captured; %d records split, %d left out;"
          " %d packets dropped by the capture%s"
          % (nframes, len(t2), nreplies, len(total), skipped, drops,
             " (the tails mismatch records: read the p50s)" if drops else ""))
    print("%-34s %9s %9s %9s" % ("us at spillway's side of loopback", "p50", "p99", "p99.9"))
    for name, v in (("in: frame -> POST (spillway)", st_in), ("nginx: POST -> answer", st_ng),
                    ("out: answer -> reply (spillway)", st_out), ("frame -> reply", total)):
        print("%-34s %9.1f %9.1f %9.1f" % (name, pct(v, 0.5), pct(v, 0.99), pct(v, 0.999)))


if __name__ == "__main__":
    main()

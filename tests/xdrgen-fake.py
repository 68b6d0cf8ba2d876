"""tests/xdrgen-fake.py: a fake XDR connector for testing spillway-xdrgen.

Standard library only. Not a test itself: the tests/xdrgen-*.py tests load
it with load_fake(). It parses every frame with its own parser, written
from xdr-wire.md and sharing nothing with the C code (as_proto, type-4
decompression, as_msg, fields, ops, particle values, Aerospike's
MessagePack with particle-type prefixes and order markers, the digest), and
answers each frame as a policy says: a result code, silence, a close, an
abortive close (RST) or a malformed reply.
"""

import asyncio
import hashlib
import json
import os
import socket
import struct
import subprocess
import sys
import zlib

CLEPOCH_MS = 1262304000000
RETRY_CODES = {8, 9, 11, 14, 18, 80}
KNOWN_FIELDS = {0, 1, 2, 3, 4, 7, 14}
PT = {"nil": 0, "integer": 1, "double": 2, "string": 3, "blob": 4, "bool": 17,
      "hll": 18, "map": 19, "list": 20, "geojson": 23}


class Malformed(Exception):
    pass


def ripemd160(data):
    try:
        return hashlib.new("ripemd160", data).digest()
    except ValueError:  # an OpenSSL without the legacy digest: skip that check
        return None


def reply(code):
    """The 30-byte reply: as_proto v2 type 3 size 22, as_msg with the result code."""
    return bytes([2, 3, 0, 0, 0, 0, 0, 22, 22, 0, 0, 0, 0, code]) + bytes(16)


# ---------------------------------------------------------------- MessagePack

def _mp_len(b, pos, n):
    if pos + n > len(b):
        raise Malformed("msgpack: truncated")
    return int.from_bytes(b[pos:pos + n], "big"), pos + n


def mp_item(b, pos, depth=0, in_cdt=True):
    """Parses one item at pos; returns (value, new pos). Strings and bins inside
    a collection must start with a particle-type byte, which is stripped and
    returned as a (ptype, bytes) pair. Order markers come back as ('order', flags)."""
    if depth > 32:
        raise Malformed("msgpack: nested too deep")
    if pos >= len(b):
        raise Malformed("msgpack: truncated")
    t = b[pos]
    pos += 1
    if t <= 0x7f:
        return t, pos
    if t >= 0xe0:
        return t - 256, pos
    if 0x80 <= t <= 0x8f or t in (0xde, 0xdf):
        n = t & 0x0f if t <= 0x8f else None
        if n is None:
            n, pos = _mp_len(b, pos, 2 if t == 0xde else 4)
        return mp_map(b, pos, n, depth)
    if 0x90 <= t <= 0x9f or t in (0xdc, 0xdd):
        n = t & 0x0f if t <= 0x9f else None
        if n is None:
            n, pos = _mp_len(b, pos, 2 if t == 0xdc else 4)
        return mp_list(b, pos, n, depth)
    if 0xa0 <= t <= 0xbf or t in (0xd9, 0xda, 0xdb, 0xc4, 0xc5, 0xc6):
        if 0xa0 <= t <= 0xbf:
            n = t & 0x1f
        else:
            n, pos = _mp_len(b, pos, {0xd9: 1, 0xda: 2, 0xdb: 4, 0xc4: 1, 0xc5: 2, 0xc6: 4}[t])
        if pos + n > len(b):
            raise Malformed("msgpack: string past the end")
        raw = bytes(b[pos:pos + n])
        pos += n
        if n == 0:
            raise Malformed("msgpack: a string without its particle-type byte")
        ptype = raw[0]
        if ptype not in (3, 4, 7, 8, 9, 10, 11, 12, 23):
            raise Malformed("msgpack: string with particle-type byte %d" % ptype)
        if ptype == 3:
            raw[1:].decode("utf-8")
        return (ptype, raw[1:]), pos
    if t == 0xc0:
        return None, pos
    if t in (0xc2, 0xc3):
        return t == 0xc3, pos
    if t == 0xca:
        return struct.unpack(">f", b[pos:pos + 4])[0], pos + 4
    if t == 0xcb:
        if pos + 8 > len(b):
            raise Malformed("msgpack: truncated double")
        return struct.unpack(">d", b[pos:pos + 8])[0], pos + 8
    if t in (0xcc, 0xcd, 0xce, 0xcf):
        return _mp_len(b, pos, {0xcc: 1, 0xcd: 2, 0xce: 4, 0xcf: 8}[t])
    if t in (0xd0, 0xd1, 0xd2, 0xd3):
        n = {0xd0: 1, 0xd1: 2, 0xd2: 4, 0xd3: 8}[t]
        if pos + n > len(b):
            raise Malformed("msgpack: truncated int")
        return int.from_bytes(b[pos:pos + n], "big", signed=True), pos + n
    if t in (0xc7, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8):
        if t == 0xc7:
            n, pos = _mp_len(b, pos, 1)
        else:
            n = {0xd4: 1, 0xd5: 2, 0xd6: 4, 0xd7: 8, 0xd8: 16}[t]
        etype = b[pos]
        pos += 1 + n
        if pos > len(b):
            raise Malformed("msgpack: ext past the end")
        return ("order", etype) if n == 0 else ("ext", etype), pos
    raise Malformed("msgpack: byte 0x%02x" % t)


def mp_list(b, pos, n, depth):
    out = []
    for i in range(n):
        v, pos = mp_item(b, pos, depth + 1)
        if isinstance(v, tuple) and v[0] == "order":
            if i != 0:
                raise Malformed("msgpack: a list order marker that is not first")
            if v[1] not in (1,):
                raise Malformed("msgpack: list order flags %d" % v[1])
            continue
        out.append(v)
    return out, pos


def mp_map(b, pos, n, depth):
    out = {}
    for i in range(n):
        k, pos = mp_item(b, pos, depth + 1)
        v, pos = mp_item(b, pos, depth + 1)
        if isinstance(k, tuple) and k[0] == "order":
            if i != 0 or v is not None:
                raise Malformed("msgpack: a map order marker that is not the first pair with nil")
            if k[1] not in (1, 3, 8):
                raise Malformed("msgpack: map order flags %d" % k[1])
            continue
        if isinstance(k, (list, dict)):
            raise Malformed("msgpack: a collection as map key")
        out[k if not isinstance(k, list) else tuple(k)] = v
    return out, pos


# ---------------------------------------------------------------- frames

class Frame:
    pass


def parse_value(ptype, v):
    if ptype == 1:
        if len(v) != 8:
            raise Malformed("integer of %d bytes" % len(v))
        return int.from_bytes(v, "big", signed=True)
    if ptype == 2:
        if len(v) != 8:
            raise Malformed("double of %d bytes" % len(v))
        return struct.unpack(">d", v)[0]
    if ptype == 3:
        return v.decode("utf-8")
    if ptype in (4, 7, 8, 9, 10, 11, 12, 16, 18):
        return bytes(v)
    if ptype == 17:
        if len(v) != 1 or v[0] > 1:
            raise Malformed("bool %r" % bytes(v))
        return v[0] == 1
    if ptype in (19, 20):
        val, end = mp_item(v, 0)
        if end != len(v):
            raise Malformed("%d bytes after the msgpack value" % (len(v) - end))
        if not isinstance(val, dict if ptype == 19 else list):
            raise Malformed("particle type %d holds a %s" % (ptype, type(val).__name__))
        return val
    if ptype == 23:
        if len(v) < 3:
            raise Malformed("geojson too short")
        ncells = int.from_bytes(v[1:3], "big")
        if 3 + 8 * ncells > len(v):
            raise Malformed("geojson cells past the end")
        doc = json.loads(bytes(v[3 + 8 * ncells:]).decode("utf-8"))
        if "type" not in doc:
            raise Malformed("geojson without a type")
        return doc
    if ptype == 0:
        if v:
            raise Malformed("nil with a value")
        return None
    raise Malformed("unknown particle type %d" % ptype)


def parse_frame(data, max_inflated=64 << 20):
    """Parses one whole frame (as_proto header included); raises Malformed."""
    if len(data) < 8:
        raise Malformed("short header")
    ver, typ = data[0], data[1]
    size = int.from_bytes(data[2:8], "big")
    if ver != 2:
        raise Malformed("version %d" % ver)
    if size != len(data) - 8:
        raise Malformed("size %d for %d bytes" % (size, len(data) - 8))
    f = Frame()
    f.compressed = False
    f.orig_size = None
    if typ == 4:
        if size < 8:
            raise Malformed("compressed frame too short")
        f.orig_size = data[8:16]
        d = zlib.decompressobj()
        inner = d.decompress(data[16:], max_inflated)
        if not d.eof or d.unconsumed_tail or d.unused_data:
            raise Malformed("zlib stream not exactly one stream")
        be = int.from_bytes(f.orig_size, "big")
        le = int.from_bytes(f.orig_size, "little")
        if len(inner) not in (be, le):
            raise Malformed("original size %d/%d, inflated %d" % (be, le, len(inner)))
        f.size_le = len(inner) == le and len(inner) != be
        inner_f = parse_frame(inner)
        inner_f.compressed = True
        inner_f.orig_size = f.orig_size
        inner_f.size_le = f.size_le
        return inner_f
    if typ != 3:
        raise Malformed("type %d" % typ)
    m = data[8:]
    if len(m) < 22 or m[0] != 22:
        raise Malformed("as_msg header")
    f.info1, f.info2, f.info3, f.info4, f.result = m[1], m[2], m[3], m[4], m[5]
    f.generation, f.ttl, f.txn_ttl, nf, no = struct.unpack(">IIIHH", m[6:22])
    pos = 22
    f.fields = []
    for _ in range(nf):
        if pos + 5 > len(m):
            raise Malformed("field header past the end")
        fsz = int.from_bytes(m[pos:pos + 4], "big")
        if fsz < 1 or pos + 4 + fsz > len(m):
            raise Malformed("field size %d" % fsz)
        f.fields.append((m[pos + 4], bytes(m[pos + 5:pos + 4 + fsz])))
        pos += 4 + fsz
    f.ops = []
    for _ in range(no):
        if pos + 8 > len(m):
            raise Malformed("op header past the end")
        osz = int.from_bytes(m[pos:pos + 4], "big")
        op, ptype, flags, nlen = m[pos + 4], m[pos + 5], m[pos + 6], m[pos + 7]
        end = pos + 4 + osz
        if osz < 4 + nlen or end > len(m):
            raise Malformed("op size %d" % osz)
        name = bytes(m[pos + 8:pos + 8 + nlen]).decode("utf-8")
        vpos = pos + 8 + nlen
        lut = None
        if flags & 1:
            if vpos + 8 > end:
                raise Malformed("bin LUT past the end of the op")
            lut = int.from_bytes(m[vpos:vpos + 8], "big")
            vpos += 8
        f.ops.append((op, ptype, flags, name, lut, bytes(m[vpos:end])))
        pos = end
    if pos != len(m):
        raise Malformed("%d bytes after the last op" % (len(m) - pos))
    return f


def check_xdr(f):
    """Checks a parsed frame is what XDR ships (xdr-wire.md 7) and fills in the
    record: ns, set, key, digest, lut, bins, delete, durable, seq."""
    if f.info1 != 0x10:
        raise Malformed("info1 0x%02x" % f.info1)
    if f.info2 not in (0x01, 0x11, 0x03, 0x13):
        raise Malformed("info2 0x%02x" % f.info2)
    if f.info3 not in (0, 0x10) or f.info4 != 0 or f.result != 0:
        raise Malformed("info3/info4/result")
    f.delete = bool(f.info2 & 0x02)
    f.durable = f.delete and bool(f.info2 & 0x10)
    f.bin_luts = not f.delete and bool(f.info2 & 0x10)
    byt = {}
    for t, d in f.fields:
        if t in byt:
            raise Malformed("field %d twice" % t)
        if t not in KNOWN_FIELDS:
            raise Malformed("field type %d" % t)
        byt[t] = d
    f.field_order = [t for t, _ in f.fields]
    if 0 not in byt or not byt[0]:
        raise Malformed("no namespace")
    f.ns = byt[0].decode("utf-8")
    if 4 not in byt or len(byt[4]) != 20:
        raise Malformed("no 20-byte digest")
    f.digest = byt[4]
    f.set = byt[1].decode("utf-8") if 1 in byt else None
    f.key = None
    if 2 in byt:
        k = byt[2]
        if not k:
            raise Malformed("empty key")
        f.key = (k[0], parse_value(k[0], k[1:]))
        if k[0] not in (1, 2, 3, 4):
            raise Malformed("key type %d" % k[0])
        dg = ripemd160((f.set or "").encode() + k[:1] + k[1:])
        if dg is not None and dg != f.digest:
            raise Malformed("digest does not match set and key")
    f.lut = None
    if 14 in byt:
        if len(byt[14]) != 8:
            raise Malformed("LUT of %d bytes" % len(byt[14]))
        v = int.from_bytes(byt[14], "big")
        f.src_id = v >> 40
        f.lut = (v & 0xFFFFFFFFFF) + CLEPOCH_MS
    if f.delete and f.ops:
        raise Malformed("a delete with ops")
    if f.delete and f.ttl != 0:
        raise Malformed("a delete with a record_ttl")
    f.bins = {}
    for op, ptype, flags, name, lut, v in f.ops:
        if op != 2:
            raise Malformed("op %d" % op)
        if flags & ~1:
            raise Malformed("op flags 0x%02x" % flags)
        if (lut is not None) and not f.bin_luts:
            raise Malformed("a bin LUT without info2 0x10")
        f.bins[name] = (ptype, parse_value(ptype, v), lut)
    f.seq = None
    if "seq" in f.bins:
        if f.bins["seq"][0] != 1:
            raise Malformed("seq bin of type %d" % f.bins["seq"][0])
        f.seq = f.bins["seq"][1]
    if f.key is not None:
        kt, kv = f.key
        ks = None
        if kt == 1:
            ks = kv
        elif kt == 3 and kv.startswith("key-"):
            ks = int(kv[4:])
        elif kt == 4 and len(kv) == 8:
            ks = int.from_bytes(kv, "big")
        if f.seq is not None and ks is not None and ks != f.seq:
            raise Malformed("key %r but seq %d" % (kv, f.seq))
        if f.seq is None:
            f.seq = ks
    return f


# ---------------------------------------------------------------- the connector

class Conn:
    def __init__(self, fake, cid, reader, writer):
        self.fake, self.id, self.reader, self.writer = fake, cid, reader, writer
        self.frames = 0          # frames read on this connection
        self.silent = False      # not answering anything any more
        self.unanswered = []     # seqs read but never answered (silence, close)


class Fake:
    """policy(fake, conn, frame) -> an int result code, or 'silence', 'close',
    'abort' (RST) or 'garbage' (a malformed reply). Default: answer 0."""

    def __init__(self, policy=None, digest_seqs=None, ssl=None):
        self.policy = policy or (lambda fake, conn, f: 0)
        self.digest_seqs = digest_seqs or {}
        self.ssl = ssl
        self.conns = 0
        self.frames = []         # (conn id, frame) in arrival order
        self.raw = []            # the frames' bytes, as received
        self.errors = []         # validation errors (each one closes its connection)
        self.answers = {}        # seq -> list of codes answered
        self.received = {}       # seq -> times received
        self.unanswered = []     # seqs dropped by silence or a close
        self.live = set()

    async def start(self, port=0):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", port, ssl=self.ssl)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self):
        self.server.close()
        for c in list(self.live):
            c.writer.transport.abort()
        await self.server.wait_closed()

    def duplicates(self):
        return sum(n - 1 for n in self.received.values() if n > 1)

    async def _serve(self, reader, writer):
        self.conns += 1
        c = Conn(self, self.conns, reader, writer)
        self.live.add(c)
        try:
            while True:
                try:
                    hdr = await reader.readexactly(8)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                size = int.from_bytes(hdr[2:8], "big")
                if size > (64 << 20):
                    self.errors.append("conn %d: frame of %d bytes" % (c.id, size))
                    break
                try:
                    body = await reader.readexactly(size)
                except (asyncio.IncompleteReadError, ConnectionError):
                    break
                raw = hdr + body
                try:
                    f = check_xdr(parse_frame(raw))
                except (Malformed, ValueError, UnicodeDecodeError, KeyError) as e:
                    self.errors.append("conn %d frame %d: %s: %s" % (c.id, c.frames + 1, e, raw.hex()))
                    break
                if f.seq is None:
                    f.seq = self.digest_seqs.get(f.digest)
                c.frames += 1
                self.frames.append((c.id, f))
                self.raw.append(raw)
                self.received[f.seq] = self.received.get(f.seq, 0) + 1
                if c.silent:
                    c.unanswered.append(f.seq)
                    self.unanswered.append(f.seq)
                    continue
                act = self.policy(self, c, f)
                if isinstance(act, int):
                    self.answers.setdefault(f.seq, []).append(act)
                    writer.write(reply(act))
                    await writer.drain()
                elif act == "silence":
                    c.silent = True
                    c.unanswered.append(f.seq)
                    self.unanswered.append(f.seq)
                elif act in ("close", "abort"):
                    c.unanswered.append(f.seq)
                    self.unanswered.append(f.seq)
                    if act == "abort":
                        sock = writer.get_extra_info("socket")
                        if sock is not None:
                            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                            struct.pack("ii", 1, 0))
                        writer.transport.abort()
                    break
                elif act == "garbage":
                    c.unanswered.append(f.seq)
                    self.unanswered.append(f.seq)
                    writer.write(bytes([2, 1, 0, 0, 0, 0, 0, 22]) + bytes(22))
                    await writer.drain()
                    c.silent = True
                else:
                    raise ValueError("policy returned %r" % (act,))
        finally:
            self.live.discard(c)
            try:
                writer.close()
            except Exception:
                pass


# ---------------------------------------------------------------- running xdrgen

def xdrgen_path():
    top = os.environ.get("top_builddir", ".")
    return os.path.join(top, "spillway-xdrgen")


async def run_xdrgen(args, timeout=60, stdin=None):
    """Runs spillway-xdrgen with args; returns (status, report dict or None, stderr text)."""
    p = await asyncio.create_subprocess_exec(
        xdrgen_path(), *[str(a) for a in args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(p.communicate(), timeout)
    except asyncio.TimeoutError:
        p.kill()
        out, err = await p.communicate()
        return -1, None, err.decode(errors="replace") + "\n(killed after %ss)" % timeout
    rep = None
    text = out.decode(errors="replace")
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                rep = json.loads(line)
            except ValueError:
                pass
    return p.returncode, rep if rep is not None else text, err.decode(errors="replace")


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, *diag):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name))
        if not cond:
            self.failed += 1
            for d in diag:
                for line in str(d).splitlines()[:40]:
                    print("#   " + line)
        sys.stdout.flush()
        return cond

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why))

    def done(self):
        print("1..%d" % self.n)
        return 1 if self.failed else 0

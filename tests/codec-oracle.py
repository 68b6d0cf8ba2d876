#!/usr/bin/env python3
"""tests/codec-oracle.py: an independent second implementation of every
codec's format, used to check what the C codecs wrote.

The C tests (tests/unit/test-codec-*.c) describe each event they encode
(its metadata, its bins in Aerospike wire form, what the route excluded,
its raw frame) together with the codec's configuration and what the codec
produced, one JSON object per line. For each case this script

  1. decodes the output with a real decoder: Python's json module (strict:
     no NaN literals, UTF-8 only), msgpack-python (raw=False: every str
     must be UTF-8), or its own as_proto/as_msg parser for xdr frames;
  2. derives, from the event alone and with its own reader of Aerospike's
     MessagePack dialect, what the output must decode to (or that the
     record must be rejected), following doc/formats.md;
  3. compares the two, types included (1 is not 1.0, true is not 1).

Case line (JSON):
  {"codec": "json"|"flat-json"|"msgpack"|"xdr", "cfg": {...}, "now": S,
   "clean": BOOL, "ev": EVENT, "out": HEX} or {..., "reject": REASON}
  EVENT = {"op": 1|2|0, "durable": B, "ns": HEX, "set": HEX|null,
           "digest": HEX, "key": [TYPE, HEX]|null, "gen": N, "lut": MS,
           "src": N, "exp": S, "want": MASK, "raw": HEX|null,
           "bins": [[NAME_HEX, TYPE, VALUE_HEX, LUT_MS], ...]}

Usage: codec-oracle.py CASES_FILE   (prints TAP diagnostics "# ...";
exit status 0 when every case holds). The module is also imported by
tests/codec-e2e.py for its decoders.
"""
import base64
import json
import math
import struct
import sys

import msgpack

# spw_meta bits
M_NS, M_SET, M_KEY, M_DIGEST, M_MSG, M_GEN, M_LUT, M_EXP, M_DURABLE = (
    0x001, 0x002, 0x004, 0x008, 0x010, 0x020, 0x040, 0x080, 0x100)
META_ALL = 0x1FF

# particle types
PT_NIL, PT_INT, PT_DOUBLE, PT_STR, PT_BLOB = 0, 1, 2, 3, 4
PT_VECTOR, PT_BOOL, PT_HLL, PT_MAP, PT_LIST, PT_GEO = 16, 17, 18, 19, 20, 23
BLOBS = {4, 7, 8, 9, 10, 11, 12}
CLEPOCH_MS = 1262304000000
WALK_MAX_DEPTH = 64
EMBED_MAX_DEPTH = 64


class Reject(Exception):
    """The codec must reject this record."""


class Pairs(list):
    """A JSON object or MessagePack map, as its ordered (key, value) pairs."""


def b64(b):
    return base64.b64encode(bytes(b)).decode("ascii")


# ---------------------------------------------------------------------------
# Aerospike's MessagePack (lists and maps in bins): an own reader
# ---------------------------------------------------------------------------
# Items: ("nil",) ("bool", b) ("int", i) ("double", f) ("str", bytes)
# ("bytes", ptype, bytes, prefixed) ("ext", type, bytes)
# ("list", order, [items]) ("map", order, [(k, v)])

class CdtReader:
    def __init__(self, data):
        self.b = data
        self.p = 0

    def need(self, n):
        if len(self.b) - self.p < n:
            raise Reject("truncated")

    def take(self, n):
        self.need(n)
        v = self.b[self.p:self.p + n]
        self.p += n
        return v

    def be(self, n):
        return int.from_bytes(self.take(n), "big")

    def marker(self):
        """Length of a zero-length ext (c7/c8/c9) at p, and its type; (0, 0) if none."""
        b, p = self.b, self.p
        if p >= len(b):
            return 0, 0
        hdr = {0xc7: 2, 0xc8: 3, 0xc9: 5}.get(b[p])
        if hdr is None or len(b) - p < hdr + 1:
            return 0, 0
        if int.from_bytes(b[p + 1:p + hdr], "big") != 0:
            return 0, 0
        return hdr + 1, b[p + hdr]

    def bytes_item(self, data, is_str):
        if len(data) == 0:
            return ("str", b"") if is_str else ("bytes", PT_BLOB, b"", False)
        if data[0] == PT_STR:
            return ("str", data[1:])
        return ("bytes", data[0], data[1:], True)

    def item(self, depth):
        c = self.take(1)[0]
        if c <= 0x7f:
            return ("int", c)
        if c >= 0xe0:
            return ("int", c - 256)
        if c <= 0x8f:
            return self.container(c & 0x0f, True, depth)
        if c <= 0x9f:
            return self.container(c & 0x0f, False, depth)
        if c <= 0xbf:
            return self.bytes_item(self.take(c & 0x1f), True)
        if c == 0xc0:
            return ("nil",)
        if c in (0xc2, 0xc3):
            return ("bool", c == 0xc3)
        if c in (0xc4, 0xc5, 0xc6):
            return self.bytes_item(self.take(self.be(1 << (c - 0xc4))), False)
        if c in (0xd9, 0xda, 0xdb):
            return self.bytes_item(self.take(self.be(1 << (c - 0xd9))), True)
        if c in (0xc7, 0xc8, 0xc9):
            n = self.be(1 << (c - 0xc7))
            t = self.take(1)[0]
            return ("ext", t, self.take(n))
        if 0xd4 <= c <= 0xd8:
            n = 1 << (c - 0xd4)
            t = self.take(1)[0]
            return ("ext", t, self.take(n))
        if c == 0xca:
            return ("double", struct.unpack(">f", self.take(4))[0])
        if c == 0xcb:
            return ("double", struct.unpack(">d", self.take(8))[0])
        if 0xcc <= c <= 0xcf:
            return ("int", self.be(1 << (c - 0xcc)))
        if 0xd0 <= c <= 0xd3:
            n = 1 << (c - 0xd0)
            return ("int", int.from_bytes(self.take(n), "big", signed=True))
        if c in (0xdc, 0xdd):
            return self.container(self.be(2 if c == 0xdc else 4), False, depth)
        if c in (0xde, 0xdf):
            return self.container(self.be(2 if c == 0xde else 4), True, depth)
        raise Reject("byte 0xc1")

    def container(self, n, is_map, depth):
        count = 2 * n if is_map else n
        order = 0
        if count > 0:
            ml, t = self.marker()
            if ml and not is_map:
                self.p += ml
                count -= 1
                order = t
            elif ml and len(self.b) - self.p > ml and self.b[self.p + ml] == 0xc0:
                self.p += ml + 1
                count -= 2
                order = t
        if count > len(self.b) - self.p:
            raise Reject("count beyond the bytes")
        if count > 0 and depth >= WALK_MAX_DEPTH:
            raise Reject("too deep")
        if is_map:
            pairs = []
            for _ in range(count // 2):
                k = self.item(depth + 1)
                v = self.item(depth + 1)
                pairs.append((k, v))
            return ("map", order, pairs)
        return ("list", order, [self.item(depth + 1) for _ in range(count)])


def read_cdt(data, ptype):
    r = CdtReader(data)
    top = r.item(0)
    if r.p != len(data):
        raise Reject("bytes after the value")
    want = "map" if ptype == PT_MAP else "list"
    if top[0] != want:
        raise Reject("a %s bin holding %s" % (want, top[0]))
    return top


# ---------------------------------------------------------------------------
# Scalars in wire form
# ---------------------------------------------------------------------------

def wire_int(v):
    if len(v) != 8:
        raise Reject("integer of %d bytes" % len(v))
    return int.from_bytes(v, "big", signed=True)


def wire_double(v):
    if len(v) != 8:
        raise Reject("double of %d bytes" % len(v))
    return struct.unpack(">d", v)[0]


def wire_bool(v):
    if len(v) != 1 or v[0] > 1:
        raise Reject("bad bool")
    return v[0] == 1


def wire_geojson(v):
    """The GeoJSON text after the flag byte, the cell count and the cells."""
    if len(v) < 3:
        raise Reject("short GeoJSON")
    ncells = int.from_bytes(v[1:3], "big")
    if 3 + 8 * ncells > len(v):
        raise Reject("GeoJSON cells beyond the value")
    return v[3 + 8 * ncells:]


def utf8_ok(b):
    try:
        bytes(b).decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


# ---------------------------------------------------------------------------
# JSON (json and flat-json)
# ---------------------------------------------------------------------------

def c_double_text(d):
    """A finite double as the JSON codecs print it (fixed notation of the
    shortest digits within [1e-4, 1e15), %g-style exponent form outside)."""
    if d == 0:
        return "-0.0" if math.copysign(1, d) < 0 else "0.0"
    a = abs(d)
    if 1e-4 <= a < 1e15:
        from decimal import Decimal
        s = format(Decimal(repr(d)), "f")
    else:
        for prec in (15, 16, 17):
            s = "%.*g" % (prec, d)
            if float(s) == d:
                break
    if "." not in s and "e" not in s:
        s += ".0"
    return s


def embeddable(text):
    """The GeoJSON text parsed as strict RFC 8259 JSON, when it is one object
    the JSON codecs embed; None when they write it as a string instead."""
    try:
        s = bytes(text).decode("utf-8")
    except UnicodeDecodeError:
        return None

    def bad_constant(name):
        raise ValueError(name)

    def checked_float(t):
        f = float(t)
        if not math.isfinite(f):
            raise ValueError("overflow")
        return f

    try:
        v = json.loads(s, object_pairs_hook=Pairs, parse_constant=bad_constant,
                       parse_float=checked_float)
    except (ValueError, RecursionError):
        return None
    if not isinstance(v, Pairs):
        return None

    def ok(x, depth):
        if isinstance(x, str):
            try:
                x.encode("utf-8")  # lone surrogates from \ud800 escapes fail here
                return True
            except UnicodeEncodeError:
                return False
        if isinstance(x, (Pairs, list)):
            if depth >= EMBED_MAX_DEPTH:
                return False
            items = x if isinstance(x, list) and not isinstance(x, Pairs) else \
                [kv for pair in x for kv in pair]
            return all(ok(y, depth + 1) for y in items)
        return True
    return v if ok(v, 0) else None


class JsonRules:
    """What value.c writes, derived independently."""

    def __init__(self, cfg):
        self.utf8 = cfg.get("invalid_utf8", "replace")
        self.non_finite = cfg.get("non_finite", "string")
        self.stringify = cfg.get("stringify_map_keys", True)

    def text(self, b, allow_b64=True):
        b = bytes(b)
        if utf8_ok(b):
            return b.decode("utf-8"), False
        if self.utf8 == "reject":
            raise Reject("invalid UTF-8")
        if self.utf8 == "base64" and allow_b64:
            return b64(b), True
        return b.decode("utf-8", "replace"), False

    def name(self, b):
        return self.text(b, allow_b64=False)[0]

    def double(self, d, key=False):
        if math.isfinite(d):
            return c_double_text(d) if key else d
        if self.non_finite == "reject":
            raise Reject("non-finite")
        if self.non_finite == "null" and not key:
            return None
        return "NaN" if math.isnan(d) else ("Infinity" if d > 0 else "-Infinity")

    def geojson(self, text):
        v = embeddable(text)
        return v if v is not None else self.text(text)[0]

    def key(self, it):
        k = it[0]
        if k == "str":
            return self.text(it[1])[0]
        if k in ("list", "map"):
            raise Reject("container key")
        if not self.stringify:
            raise Reject("non-string key")
        if k == "int":
            return str(it[1])
        if k == "double":
            return self.double(it[1], key=True)
        if k == "bool":
            return "true" if it[1] else "false"
        if k == "bytes":
            return self.text(it[2])[0] if it[1] == PT_GEO else b64(it[2])
        return "null"

    def item(self, it):
        k = it[0]
        if k == "nil" or k == "ext":
            return None
        if k in ("bool", "int"):
            return it[1]
        if k == "double":
            return self.double(it[1])
        if k == "str":
            return self.text(it[1])[0]
        if k == "bytes":
            return self.geojson(it[2]) if it[1] == PT_GEO else b64(it[2])
        if k == "list":
            return [self.item(x) for x in it[2]]
        return Pairs((self.key(a), self.item(b)) for a, b in it[2])

    def bin_value(self, t, v):
        """(value, extra): extra is the top-level order, or "b64" for a str written as Base64."""
        if t == PT_NIL:
            if v:
                pass  # a nil with bytes is still written as null (the value is not read)
            return None, None
        if t == PT_INT:
            return wire_int(v), None
        if t == PT_DOUBLE:
            return self.double(wire_double(v)), None
        if t == PT_BOOL:
            return wire_bool(v), None
        if t == PT_STR:
            s, as_b64 = self.text(v)
            return s, ("b64" if as_b64 else None)
        if t in BLOBS or t in (PT_VECTOR, PT_HLL):
            return b64(v), None
        if t in (PT_LIST, PT_MAP):
            top = read_cdt(v, t)
            return self.item(top), top[1]
        if t == PT_GEO:
            return self.geojson(wire_geojson(v)), None
        return b64(v), None

    def user_key(self, ev):
        if ev["key"] is None:
            return None
        t, v = ev["key"][0], bytes.fromhex(ev["key"][1])
        if t == PT_INT:
            return wire_int(v)
        if t == PT_DOUBLE:
            return self.double(wire_double(v))
        if t == PT_STR:
            return self.text(v)[0]
        return b64(v)


def expect_json(cfg, ev):
    R = JsonRules(cfg)
    want = ev["want"]
    op = ev["op"]
    if op not in (1, 2):
        raise Reject("no operation")
    rec = Pairs()
    if want & M_MSG:
        rec.append(("msg", "write" if op == 1 else "delete"))
    key = [R.name(ev["ns"]) if want & M_NS else None,
           R.name(ev["set"]) if (want & M_SET) and ev["set"] is not None else None,
           b64(ev["digest"]) if want & M_DIGEST else None,
           R.user_key(ev) if want & M_KEY else None]
    rec.append(("key", key))
    if op == 2:
        if want & M_DURABLE:
            rec.append(("durable", ev["durable"]))
        if cfg.get("delete_metadata"):
            if want & M_GEN:
                rec.append(("gen", ev["gen"]))
            if want & M_LUT:
                rec.append(("lut", ev["lut"]))
        return rec
    for bit, name in ((M_GEN, "gen"), (M_EXP, "exp"), (M_LUT, "lut")):
        if want & bit:
            rec.append((name, ev[name]))
    bins = []
    for name, t, v, lut in ev["bins"]:
        val, extra = R.bin_value(t, v)
        names = {PT_NIL: "nil", PT_INT: "int", PT_DOUBLE: "float", PT_BOOL: "bool", PT_STR: "str",
                 PT_HLL: "hll", PT_LIST: "list", PT_MAP: "map", PT_GEO: "geojson"}
        typ = names.get(t, "blob")
        if extra == "b64":
            typ = "blob"
        b = Pairs([("name", R.name(name)), ("type", typ), ("value", val)])
        if t == PT_LIST:
            b.append(("ordered", bool(extra & 1)))
        elif t == PT_MAP and (extra & 3) == 3:
            b.append(("order", "key-value"))
        elif t == PT_MAP and extra & 1:
            b.append(("order", "key"))
        elif t not in names and t not in BLOBS and t != PT_VECTOR:
            b.append(("ptype", t))
        if cfg.get("bin_luts") and lut:
            b.append(("lut", lut))
        bins.append(b)
    rec.append(("bins", bins))
    return rec


def flat_names(mkey, names, reject_mode):
    """Final member names: a name taken by the metadata key or an earlier
    bin gets '_' appended until free, never taking another bin's name."""
    final = []
    for i, n in enumerate(names):
        k = 0
        while True:
            cand = n + b"_" * k
            taken = cand == mkey or cand in final or (k > 0 and any(
                cand == o for j, o in enumerate(names) if j != i))
            if not taken:
                break
            if reject_mode:
                raise Reject("name collision")
            k += 1
        final.append(cand)
    return final


def expect_flat(cfg, ev):
    R = JsonRules(cfg)
    want = ev["want"]
    op = ev["op"]
    if op not in (1, 2):
        raise Reject("no operation")
    mkey = cfg["metadata_key"].encode("utf-8")
    bins = ev["bins"] if op == 1 else []
    final = flat_names(mkey, [bytes(b[0]) for b in bins], cfg.get("name_collision") == "reject")
    meta = Pairs()
    if want & M_MSG:
        meta.append(("msg", "write" if op == 1 else "delete"))
    if want & M_NS:
        meta.append(("namespace", R.name(ev["ns"])))
    if want & M_SET:
        meta.append(("set", R.name(ev["set"]) if ev["set"] is not None else None))
    if want & M_KEY:
        meta.append(("userKey", R.user_key(ev)))
    if want & M_DIGEST:
        meta.append(("digest", b64(ev["digest"])))
    extra = op == 1 or cfg.get("delete_metadata")
    if op == 2 and want & M_DURABLE:
        meta.append(("durable", ev["durable"]))
    if extra and want & M_GEN:
        meta.append(("gen", ev["gen"]))
    if extra and want & M_LUT:
        meta.append(("lut", ev["lut"]))
    if op == 1 and want & M_EXP:
        meta.append(("exp", ev["exp"]))
    if op == 1 and cfg.get("bin_luts"):
        meta.append(("binLuts", Pairs((R.name(f), b[3]) for f, b in zip(final, bins) if b[3])))
    rec = Pairs([(cfg["metadata_key"], meta)])
    for f, (name, t, v, lut) in zip(final, bins):
        rec.append((R.name(f), R.bin_value(t, v)[0]))
    return rec


def decode_json(out):
    text = bytes(out).decode("utf-8")  # strict: the output must be UTF-8
    if "\n" in text or "\r" in text:
        raise ValueError("raw newline in a record")

    def bad_constant(name):
        raise ValueError("non-JSON constant " + name)
    return json.loads(text, object_pairs_hook=Pairs, parse_constant=bad_constant)


# ---------------------------------------------------------------------------
# MessagePack
# ---------------------------------------------------------------------------

class MsgpackRules:
    def __init__(self, cfg):
        self.utf8 = cfg.get("invalid_utf8", "replace")

    def text(self, b, is_name=False):
        b = bytes(b)
        if utf8_ok(b):
            return b.decode("utf-8")
        if self.utf8 == "reject":
            raise Reject("invalid UTF-8")
        if self.utf8 == "bin" and not is_name:
            return b
        return b.decode("utf-8", "replace")

    def item(self, it):
        k = it[0]
        if k in ("nil", "ext"):
            return None
        if k in ("bool", "int", "double"):
            return it[1]
        if k == "str":
            return self.text(it[1])
        if k == "bytes":
            pt, data = it[1], bytes(it[2])
            if pt == PT_BLOB:
                return data
            if pt >= 0x80:
                return bytes([pt]) + data
            return msgpack.ExtType(pt, data)
        if k == "list":
            return [self.item(x) for x in it[2]]
        return Pairs((self.item(a), self.item(b)) for a, b in it[2])

    def bin(self, name, t, v, lut, bin_luts):
        flags = 0
        if t == PT_NIL:
            val = None
        elif t == PT_INT:
            val = wire_int(v)
        elif t == PT_DOUBLE:
            val = wire_double(v)
        elif t == PT_BOOL:
            val = wire_bool(v)
        elif t == PT_STR:
            val = self.text(v)
        elif t in BLOBS or t in (PT_VECTOR, PT_HLL):
            val = bytes(v)
        elif t in (PT_LIST, PT_MAP):
            top = read_cdt(v, t)
            o = top[1]
            flags = (o & 1) if t == PT_LIST else (3 if (o & 3) == 3 else o & 1)
            val = self.item(top)
        elif t == PT_GEO:
            val = self.text(wire_geojson(v))
        else:
            val = bytes(v)
        e = [self.text(name, True), t, flags, val]
        if bin_luts:
            e.append(lut if lut else None)
        return e

    def user_key(self, ev):
        if ev["key"] is None:
            return None
        t, v = ev["key"][0], bytes.fromhex(ev["key"][1])
        if t == PT_INT:
            return wire_int(v)
        if t == PT_DOUBLE:
            return wire_double(v)
        if t == PT_STR:
            return self.text(v)
        return v


def expect_msgpack(cfg, ev):
    R = MsgpackRules(cfg)
    want = ev["want"]
    op = ev["op"]
    if op not in (1, 2):
        raise Reject("no operation")
    key = [R.text(ev["ns"], True) if want & M_NS else None,
           R.text(ev["set"], True) if (want & M_SET) and ev["set"] is not None else None,
           bytes(ev["digest"]) if want & M_DIGEST else None,
           R.user_key(ev) if want & M_KEY else None]
    lut = ev["lut"] if (want & M_LUT) and ev["lut"] else None
    if op == 2:
        payload = [key, (1 if ev["durable"] else 0) if want & M_DURABLE else None]
        if cfg.get("delete_metadata"):
            payload += [ev["gen"] if want & M_GEN else None, lut]
    else:
        payload = [key, ev["gen"] if want & M_GEN else None, ev["exp"] if want & M_EXP else None,
                   lut, [R.bin(n, t, v, l, cfg.get("bin_luts")) for n, t, v, l in ev["bins"]]]
    return [1, op if want & M_MSG else None, payload]


def decode_msgpack(out):
    return msgpack.unpackb(bytes(out), raw=False, strict_map_key=False,
                           object_pairs_hook=Pairs, use_list=True)


# ---------------------------------------------------------------------------
# XDR frames
# ---------------------------------------------------------------------------

def parse_frame(buf, pos=0):
    """One as_proto + as_msg frame at buf[pos:]: (dict, next position).
    Raises ValueError for anything XDR would not send."""
    if len(buf) - pos < 30:
        raise ValueError("frame shorter than its headers")
    if buf[pos] != 2 or buf[pos + 1] != 3:
        raise ValueError("as_proto version/type %d/%d" % (buf[pos], buf[pos + 1]))
    size = int.from_bytes(buf[pos + 2:pos + 8], "big")
    end = pos + 8 + size
    if end > len(buf):
        raise ValueError("as_proto size beyond the data")
    m = pos + 8
    (hsz, info1, info2, info3, info4, rc, gen, ttl, tttl, nf, no) = struct.unpack(
        ">BBBBBBIIIHH", buf[m:m + 22])
    if hsz != 22:
        raise ValueError("header_sz %d" % hsz)
    f = {"info1": info1, "info2": info2, "info3": info3, "info4": info4, "result": rc,
         "gen": gen, "ttl": ttl, "tttl": tttl, "fields": [], "ops": []}
    p = m + 22
    for _ in range(nf):
        if end - p < 5:
            raise ValueError("field header beyond the frame")
        sz = int.from_bytes(buf[p:p + 4], "big")
        if sz < 1 or p + 4 + sz > end:
            raise ValueError("field size %d" % sz)
        f["fields"].append((buf[p + 4], bytes(buf[p + 5:p + 4 + sz])))
        p += 4 + sz
    for _ in range(no):
        if end - p < 8:
            raise ValueError("op header beyond the frame")
        sz = int.from_bytes(buf[p:p + 4], "big")
        if sz < 4 or p + 4 + sz > end:
            raise ValueError("op size %d" % sz)
        op, pt, flags, nl = buf[p + 4:p + 8]
        q = p + 8
        if 4 + nl + (8 if flags & 1 else 0) > sz:
            raise ValueError("op name beyond its size")
        name = bytes(buf[q:q + nl])
        q += nl
        blut = None
        if flags & 1:
            blut = int.from_bytes(buf[q:q + 8], "big")
            q += 8
        f["ops"].append((op, pt, flags, name, blut, bytes(buf[q:p + 4 + sz])))
        p += 4 + sz
    if p != end:
        raise ValueError("%d bytes after the last op" % (end - p))
    return f, end


def raw_offset(raw):
    if len(raw) >= 30 and raw[0] == 2 and raw[1] == 3 and raw[8] == 22:
        return 8 if int.from_bytes(raw[2:8], "big") == len(raw) - 8 else -1
    if len(raw) >= 22 and raw[0] == 22:
        return 0
    return -1


def raw_ops_match(cfg, ev, msg, compare=True):
    """The as_msg is well formed and (compare) its ops are the event's bins."""
    nf, no = struct.unpack(">HH", msg[18:22])
    if compare and no != len(ev["bins"]):
        return False
    p = 22
    for _ in range(nf):
        if len(msg) - p < 5:
            return False
        sz = int.from_bytes(msg[p:p + 4], "big")
        if sz < 1 or sz > len(msg) - p - 4:
            return False
        p += 4 + sz
    for i in range(no):
        if len(msg) - p < 8:
            return False
        sz = int.from_bytes(msg[p:p + 4], "big")
        if sz < 4 or sz > len(msg) - p - 4:
            return False
        op, pt, flags, nl = msg[p + 4:p + 8]
        head = 4 + nl + (8 if flags & 1 else 0)
        if op != 2 or head > sz:
            return False
        if not compare:
            p += 4 + sz
            continue
        name, t, v, lut = ev["bins"][i]
        if pt != t or bytes(msg[p + 8:p + 8 + nl]) != bytes(name):
            return False
        if bytes(msg[p + 4 + head:p + 4 + sz]) != bytes(v):
            return False
        if flags & 1 and not cfg.get("bin_luts", True):
            return False
        p += 4 + sz
    return p == len(msg)


def bad_xdr_value(t, v):
    if t == PT_NIL:
        return len(v) != 0
    if t in (PT_INT, PT_DOUBLE):
        return len(v) != 8
    if t == PT_BOOL:
        return len(v) != 1 or v[0] > 1
    if t == PT_GEO:
        try:
            wire_geojson(v)
        except Reject:
            return True
    return False


def expect_xdr(cfg, ev, now):
    """The exact bytes the xdr codec must produce."""
    raw = ev["raw"]
    mode = cfg.get("passthrough", "auto")
    if raw is not None and mode != "never":
        off = raw_offset(raw)
        if off >= 0 and (raw_ops_match(cfg, ev, raw[off:], False) if mode == "always" else (
                ev["want"] == META_ALL and raw_ops_match(cfg, ev, raw[off:]))):
            return bytes(raw) if off == 8 else b"\x02\x03" + len(raw).to_bytes(6, "big") + raw
    want = ev["want"]
    op = ev["op"]
    if op not in (1, 2):
        raise Reject("no operation")
    if not (want & M_NS and want & M_DIGEST and want & M_MSG):
        raise Reject("namespace, digest or msg excluded")
    fields = [(0, bytes(ev["ns"])), (4, bytes(ev["digest"]))]
    if want & M_SET and ev["set"]:
        fields.append((1, bytes(ev["set"])))
    if want & M_KEY and ev["key"] is not None:
        fields.append((2, bytes([ev["key"][0]]) + bytes.fromhex(ev["key"][1])))
    if want & M_LUT and ev["lut"]:
        ms = ev["lut"] - CLEPOCH_MS
        if ms < 0 or ms >= 1 << 40 or ev["src"] >= 1 << 24:
            raise Reject("LUT out of range")
        fields.append((14, ((ev["src"] << 40) | ms).to_bytes(8, "big")))
    bins = ev["bins"] if op == 1 else []
    if len(bins) > 0xFFFF:
        raise Reject("too many bins")
    bin_luts = cfg.get("bin_luts", True)
    ops = b""
    any_lut = False
    for name, t, v, lut in bins:
        if bad_xdr_value(t, v) or len(name) > 255:
            raise Reject("bad bin")
        use = bin_luts and lut != 0
        if use:
            if lut < CLEPOCH_MS or lut - CLEPOCH_MS >= 1 << 40:
                raise Reject("bin LUT out of range")
            any_lut = True
        body = bytes([2, t, 1 if use else 0, len(name)]) + bytes(name)
        if use:
            body += (lut - CLEPOCH_MS).to_bytes(8, "big")
        body += bytes(v)
        ops += len(body).to_bytes(4, "big") + body
    if op == 2:
        info2 = 0x03 | (0x10 if want & M_DURABLE and ev["durable"] else 0)
        ttl = 0
    else:
        info2 = 0x01 | (0x10 if any_lut else 0)
        if not want & M_EXP:
            ttl = 0
        elif ev["exp"] == 0:
            ttl = 0xFFFFFFFF
        else:
            ttl = min(max(ev["exp"] - now, 1), 0xFFFFFFFE)
    msg = struct.pack(">BBBBBBIIIHH", 22, 0x10, info2, 0, 0, 0,
                      ev["gen"] if want & M_GEN else 0, ttl, 0, len(fields), len(bins))
    for t, data in fields:
        msg += (1 + len(data)).to_bytes(4, "big") + bytes([t]) + data
    msg += ops
    return b"\x02\x03" + len(msg).to_bytes(6, "big") + msg


# ---------------------------------------------------------------------------
# Comparison
# ---------------------------------------------------------------------------

def same(a, b, path="$"):
    """Strict equality: types must agree (int vs float vs bool), NaN equals
    NaN, -0.0 differs from 0.0. Returns None or a description."""
    if type(a) is not type(b):
        return "%s: %r (%s) vs %r (%s)" % (path, a, type(a).__name__, b, type(b).__name__)
    if isinstance(a, float):
        if math.isnan(a) and math.isnan(b):
            return None
        if a != b or math.copysign(1, a) != math.copysign(1, b):
            return "%s: %r vs %r" % (path, a, b)
        return None
    if isinstance(a, (list, tuple)):
        if len(a) != len(b):
            return "%s: %d items vs %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = same(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    if isinstance(a, msgpack.ExtType):
        return None if a == b else "%s: %r vs %r" % (path, a, b)
    return None if a == b else "%s: %r vs %r" % (path, a, b)


# ---------------------------------------------------------------------------
# The cases
# ---------------------------------------------------------------------------

def load_event(e):
    ev = dict(e)
    ev["ns"] = bytes.fromhex(e["ns"])
    ev["set"] = bytes.fromhex(e["set"]) if e["set"] is not None else None
    ev["digest"] = bytes.fromhex(e["digest"])
    ev["raw"] = bytes.fromhex(e["raw"]) if e.get("raw") is not None else None
    ev["bins"] = [(bytes.fromhex(n), t, bytes.fromhex(v), lut) for n, t, v, lut in e["bins"]]
    return ev


def check_case(case):
    codec, cfg, ev = case["codec"], case["cfg"], load_event(case["ev"])
    try:
        if codec == "json":
            want = expect_json(cfg, ev)
        elif codec == "flat-json":
            want = expect_flat(cfg, ev)
        elif codec == "msgpack":
            want = expect_msgpack(cfg, ev)
        elif codec == "xdr":
            want = expect_xdr(cfg, ev, case.get("now", 0))
        else:
            raise ValueError("unknown codec " + codec)
    except Reject as r:
        want = r
    if "reject" in case:
        reason = case["reject"]
        if not reason.startswith(codec + " codec: "):
            raise ValueError("a rejection without a reason naming the codec: %r" % reason)
        if not isinstance(want, Reject):
            raise ValueError("rejected (%s) but the oracle writes it" % reason)
        if case.get("clean"):
            raise ValueError("a clean event was rejected: " + reason)
        return "rejected"
    out = bytes.fromhex(case["out"])
    if codec == "xdr":
        f, end = parse_frame(out)  # the output must parse as one frame
        if end != len(out):
            raise ValueError("bytes after the frame")
        if isinstance(want, Reject):
            raise ValueError("written, but the oracle rejects it (%s)" % want)
        if out != want:
            raise ValueError("frame differs:\n#  got  %s\n#  want %s" % (out.hex(), want.hex()))
        return "written"
    got = decode_json(out) if codec in ("json", "flat-json") else decode_msgpack(out)
    if isinstance(want, Reject):
        raise ValueError("written, but the oracle rejects it (%s)" % want)
    d = same(got, want)
    if d:
        raise ValueError("decoded output differs at " + d)
    return "written"


def main(path):
    failed = total = 0
    counts = {}
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            total += 1
            try:
                case = json.loads(raw)
                what = check_case(case)
                key = (case["codec"], what)
                counts[key] = counts.get(key, 0) + 1
            except Exception as exc:  # report every case, then fail
                failed += 1
                if failed <= 20:
                    print("# line %d: %s: %s" % (lineno, type(exc).__name__, exc))
                    print("#   case: %s" % raw[:600].decode("utf-8", "replace").rstrip())
    for (codec, what), n in sorted(counts.items()):
        print("# oracle: %s %s %d" % (codec, what, n))
    print("# oracle checked %d cases, %d failed" % (total, failed))
    return 1 if failed or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

#!/usr/bin/env python3
"""tests/xdr-client.py: speaks XDR to the xdr source, for the xdr-*.py tests.

A library (the tests load it by path: its name has a dash) and a small
command line:

    xdr-client.py seeds SRC DST   writes fuzz seeds: the tests/data/xdr/*.hex
                                  frames as binary, plus generated ones
    xdr-client.py send PORT HEXFILE...
                                  sends frames, prints the result codes

What it holds: frame builders (as_proto, as_msg fields and ops, compressed
and INFO frames, every particle type), a connection that sends frames (in
one write, or a byte at a time) and reads replies, a runner for the
spillway program with a pipeline file, and a tiny TAP producer. Python
standard library only.
"""
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import zlib

REPLY_LEN = 30
CLEPOCH_MS = 1262304000000

PT_NIL, PT_INTEGER, PT_DOUBLE, PT_STRING, PT_BLOB = 0, 1, 2, 3, 4
PT_BOOL, PT_HLL, PT_MAP, PT_LIST, PT_GEOJSON = 17, 18, 19, 20, 23


# ---------------------------------------------------------------- frames

def proto(ftype, body, version=2):
    """An as_proto frame: version, type, 48-bit size, body."""
    return bytes([version, ftype]) + len(body).to_bytes(6, "big") + body


def field(ftype, data):
    return struct.pack(">IB", len(data) + 1, ftype) + data


def op(name, pt, value, opcode=2, lut=None):
    """One op (bin): WRITE by default; lut is clepoch ms (flag 0x01)."""
    n = name.encode() if isinstance(name, str) else name
    flags = 0x01 if lut is not None else 0
    body = bytes([opcode, pt, flags, len(n)]) + n
    if lut is not None:
        body += struct.pack(">Q", lut)
    body += value
    return struct.pack(">I", len(body)) + body


def int_bin(name, v):
    return op(name, PT_INTEGER, struct.pack(">q", v))


def str_bin(name, s):
    return op(name, PT_STRING, s.encode() if isinstance(s, str) else s)


def record(ns="test", set_="demo", key=None, digest=None, gen=1, ttl=0, ops=(),
           delete=False, durable=False, lut=None, info2=None, fields=None, extra=()):
    """A type-3 frame. key: an int (integer key) or (particle type, bytes).
    Without digest and key, a digest is made up from the set and key."""
    if info2 is None:
        info2 = 0x01
        if delete:
            info2 |= 0x02 | (0x10 if durable else 0)
    if fields is None:
        fields = [field(0, ns.encode())]
        if set_:
            fields.append(field(1, set_.encode()))
        if key is not None:
            kt, kv = (PT_INTEGER, struct.pack(">q", key)) if isinstance(key, int) else key
            fields.append(field(2, bytes([kt]) + kv))
        if digest is None and key is None:
            digest = (b"spillway-test-digest" * 2)[:20]
        if digest is not None:
            fields.append(field(4, digest))
        if lut is not None:
            fields.append(field(14, struct.pack(">Q", lut)))
        fields.extend(extra)
    ops = list(ops)
    head = struct.pack(">BBBBBBIIIHH", 22, 0x10, info2, 0, 0, 0, gen, ttl, 0,
                       len(fields), len(ops))
    return proto(3, head + b"".join(fields) + b"".join(ops))


def compressed(frame, hint=None, level=6):
    """A type-4 frame around a type-3 frame."""
    if hint is None:
        hint = len(frame)
    return proto(4, struct.pack(">Q", hint) + zlib.compress(frame, level))


def info(names):
    return proto(1, "".join(n + "\n" for n in names).encode())


def reply_code(b):
    if len(b) != REPLY_LEN or b[:8] != b"\x02\x03\x00\x00\x00\x00\x00\x16" or b[8] != 22:
        raise ValueError("not a reply: " + b.hex())
    return b[13]


def hexfile(path):
    text = "".join(l for l in open(path) if not l.startswith("#"))
    return bytes.fromhex(re.sub(r"\s", "", text))


def seq_record(seq, delay_ms=None, outcome=None, size=0, ns="test", set_="demo"):
    """A write with key and bin seq = N, optional sink-stall bins, optional padding."""
    ops = [int_bin("seq", seq)]
    if delay_ms is not None:
        ops.append(int_bin("delay_ms", delay_ms))
    if outcome is not None:
        ops.append(int_bin("outcome", outcome))
    if size:
        ops.append(op("pad", PT_BLOB, b"p" * size))
    return record(ns=ns, set_=set_, key=seq, ops=ops)


# ---------------------------------------------------------------- connections

class Closed(Exception):
    pass


class Conn:
    """One connection to the source. tls: an ssl.SSLContext or None."""

    def __init__(self, port, host="127.0.0.1", tls=None, timeout=10, source=None):
        """source: the local address to connect from (any of 127.0.0.0/8 works on loopback)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        s = socket.socket(family, socket.SOCK_STREAM)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if source is not None:
            s.bind((source, 0))
        s.settimeout(timeout)
        s.connect((host, port))
        if tls is not None:
            s = tls.wrap_socket(s, server_hostname="localhost")
        self.s = s
        self.buf = b""

    def send(self, data, chunk=None, pause=0.0):
        """Sends data in one go, or `chunk` bytes per write (with a pause between)."""
        if chunk is None:
            self.s.sendall(data)
            return
        for i in range(0, len(data), chunk):
            self.s.sendall(data[i:i + chunk])
            if pause:
                time.sleep(pause)

    def _fill(self, n, timeout):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("waited %.1f s for %d bytes, have %d" % (timeout, n, len(self.buf)))
            self.s.settimeout(left)
            try:
                d = self.s.recv(65536)
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError) as e:
                raise Closed(str(e))
            if not d:
                raise Closed("closed by the source after %d bytes" % len(self.buf))
            self.buf += d

    def read_frame(self, timeout=10):
        self._fill(8, timeout)
        size = int.from_bytes(self.buf[2:8], "big")
        self._fill(8 + size, timeout)
        f, self.buf = self.buf[:8 + size], self.buf[8 + size:]
        return f

    def replies(self, n, timeout=10):
        """The result codes of the next n replies."""
        out = []
        for _ in range(n):
            f = self.read_frame(timeout)
            if f[1] != 3:
                raise ValueError("expected a reply, got frame type %d" % f[1])
            out.append(reply_code(f))
        return out

    def closed(self, timeout=5):
        """True when the source closes the connection within timeout (nothing else arrives)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.s.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                return False
            except (ConnectionResetError, BrokenPipeError, ssl.SSLError, OSError):
                return True
            if not d:
                return True
            self.buf += d
        return False

    def close(self):
        try:
            self.s.close()
        except OSError:
            pass


def free_port(family=socket.AF_INET):
    host = "::1" if family == socket.AF_INET6 else "127.0.0.1"
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- the program

class Spillway:
    """Runs `spillway -c INI` in a temporary directory."""

    def __init__(self, ini, tmp, name="pipe"):
        self.tmp = tmp
        self.ini = os.path.join(tmp, name + ".ini")
        self.err = os.path.join(tmp, name + ".stderr")
        with open(self.ini, "w") as f:
            f.write(ini)
        self.p = None

    def start(self, port=None, host="127.0.0.1", timeout=10):
        self.errf = open(self.err, "w")
        env = dict(os.environ)
        # Under AddressSanitizer freed memory waits in a 256 MiB quarantine, which would read as
        # growth in the RSS checks (16 MiB still read as +30 MiB after 200,000 events); a small one
        # keeps them meaningful (ignored without ASan).
        env["ASAN_OPTIONS"] = ":".join(o for o in (env.get("ASAN_OPTIONS"), "quarantine_size_mb=4") if o)
        self.p = subprocess.Popen([os.environ["SPILLWAY"], "-c", self.ini],
                                  stdout=self.errf, stderr=self.errf, env=env)
        if port is not None:
            self.wait_port(port, host, timeout)
        return self

    def wait_port(self, port, host="127.0.0.1", timeout=10):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None:
                raise RuntimeError("spillway exited (%d): %s" % (self.p.returncode, self.log()[-2000:]))
            with socket.socket(family, socket.SOCK_STREAM) as s:
                try:
                    s.connect((host, port))
                    return
                except OSError:
                    time.sleep(0.02)
        raise TimeoutError("spillway does not listen on %s:%d" % (host, port))

    def stop(self, sig=signal.SIGTERM, timeout=20):
        if self.p is None:
            return None
        if self.p.poll() is None:
            self.p.send_signal(sig)
        try:
            self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.errf.close()
        return self.p.returncode

    def alive(self):
        return self.p is not None and self.p.poll() is None

    def log(self):
        with open(self.err, errors="replace") as f:
            return f.read()

    def rss_kb(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stat(self, stage, counter):
        """A counter from the last [stats] line of `stage` (after exit)."""
        val = None
        for line in self.log().splitlines():
            if "stats" in line and (stage + ":") in line:
                m = re.search(r"\b%s=(\d+)" % re.escape(counter), line)
                if m:
                    val = int(m.group(1))
        return val


def pipeline(port, sink="", source="", pipeline_opts="", listen=None, codec="testline"):
    """An INI with an xdr source on port and the given sink section body."""
    listen = listen or "127.0.0.1:%d" % port
    return ("[pipeline]\nname = xdrtest\n%s\n"
            "[source.x]\nplugin = xdr\nlisten = %s\n%s\n"
            "[codec.c]\nplugin = %s\n\n"
            "[sink.out]\ncodec = c\n%s\n") % (pipeline_opts, listen, source, codec, sink)


def lines(path):
    try:
        with open(path, errors="replace") as f:
            return [l.rstrip("\n") for l in f if l.strip()]
    except FileNotFoundError:
        return []


def wait_for(pred, timeout=10, step=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def testline_fields(line):
    """A testline line as a dict (first word under 'op')."""
    words = line.split()
    d = {"op": words[0]}
    for w in words[1:]:
        k, _, v = w.partition("=")
        d[k] = v
    return d


# ---------------------------------------------------------------- TAP

class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name), flush=True)
        if not cond:
            self.failed += 1
            if diag:
                for l in str(diag).splitlines()[-30:]:
                    print("#   " + l)
        return cond

    def diag(self, text):
        for l in str(text).splitlines():
            print("# " + l, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        sys.exit(1 if self.failed else 0)


def tmpdir():
    return tempfile.mkdtemp(prefix="spw-xdr.")


def cleanup(tmp, tap):
    """Removes tmp unless a check failed or SPW_KEEP_TMP is set (then says where it is)."""
    if tap.failed == 0 and not os.environ.get("SPW_KEEP_TMP"):
        shutil.rmtree(tmp, ignore_errors=True)
    else:
        tap.diag("files kept in %s" % tmp)


# ---------------------------------------------------------------- command line

def all_types_record():
    geo = b"\x00\x00\x00" + b'{"type":"Point","coordinates":[1.5,2.5]}'
    ops = [
        op("nil", PT_NIL, b""), int_bin("i", -5), op("d", PT_DOUBLE, struct.pack(">d", 2.5)),
        str_bin("s", "h\u00e9llo"), op("b", PT_BLOB, b"\x00\xff"), op("j", 7, b"java"),
        op("v", 16, b"\x00\x01"), op("t", PT_BOOL, b"\x01"), op("h", PT_HLL, b"\x01\x02"),
        op("m", PT_MAP, b"\x82\xc7\x00\x01\xc0\x01\x02"), op("l", PT_LIST, b"\x92\x01\xa2\x03x"),
        op("g", PT_GEOJSON, geo), op("bl", PT_STRING, b"lut", lut=472083515693),
    ]
    return record(key=(PT_STRING, b"k1"), ops=ops, ttl=3600, lut=(1 << 40) | 472083515693)


def write_seeds(src, dst):
    os.makedirs(dst, exist_ok=True)
    frames = {}
    for name in sorted(os.listdir(src)):
        if name.endswith(".hex"):
            frames[name[:-4]] = hexfile(os.path.join(src, name))
    w = frames.get("ref-write", seq_record(1))
    frames["compressed"] = compressed(w)
    frames["all-types"] = all_types_record()
    frames["durable-delete"] = record(key=7, delete=True, durable=True)
    frames["no-digest"] = record(key=(PT_BLOB, b"\x01\x02"), digest=None)
    frames["stream"] = w + frames.get("ref-delete", b"") + info(["status"]) + compressed(w)
    for name, data in frames.items():
        with open(os.path.join(dst, name + ".bin"), "wb") as f:
            f.write(data)


def main(argv):
    if len(argv) == 3 and argv[0] == "seeds":
        write_seeds(argv[1], argv[2])
        return 0
    if len(argv) >= 2 and argv[0] == "send":
        c = Conn(int(argv[1]))
        frames = [hexfile(p) for p in argv[2:]]
        c.send(b"".join(frames))
        print(" ".join(str(x) for x in c.replies(len(frames))))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

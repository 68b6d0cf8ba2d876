#!/usr/bin/python3
"""tests/expr-diff.py: differential test of the expr filter's evaluator.

Random records and random expressions; every expression is evaluated by
spillway's engine (through tests/unit/expr-diff-driver) and by the
evaluator below, written independently from doc/expr-filter.md (its own
tokenizer, parser, value model and number rules; Python's re for
matches), and the two must agree on every value, error included. The
generator builds expressions the checker must accept (typed by
construction, bins being dyn), so a compile error is a disagreement too.
Records carry every bin kind, sometimes with another type or missing, so
runtime errors are exercised; lists and maps are encoded here in
Aerospike's MessagePack (particle-type prefixed strings and blobs).

Environment: top_builddir (the driver), EXPR_DIFF_CASES (default 3000),
EXPR_DIFF_SEED. TAP on stdout.
"""
import math
import os
import random
import re
import struct
import subprocess
import sys

BUILD = os.environ.get("top_builddir", ".")
DRIVER = os.path.join(BUILD, "tests", "unit", "expr-diff-driver")
CASES = int(os.environ.get("EXPR_DIFF_CASES", "3000"))
SEED = int(os.environ.get("EXPR_DIFF_SEED", "20261207"))

I64_MIN, I64_MAX, U64_MAX = -(1 << 63), (1 << 63) - 1, (1 << 64) - 1

# ---------------------------------------------------------------- values
# ("int", v) ("uint", v) ("double", f) ("string", bytes) ("bytes", bytes)
# ("bool", b) ("null",) ("list", [vals]) ("map", [(k, v)]) ("type", name) ERR
ERR = ("error",)
NULL = ("null",)


def is_err(v):
    return v[0] == "error"


def vb(b):
    return ("bool", bool(b))


def fmt(v):
    k = v[0]
    if k == "error":
        return "error"
    if k == "null":
        return "null"
    if k == "bool":
        return "true" if v[1] else "false"
    if k == "int":
        return f"i:{v[1]}"
    if k == "uint":
        return f"u:{v[1]}"
    if k == "double":
        return "d:nan" if math.isnan(v[1]) else "d:" + ("%.17g" % v[1])
    if k == "string":
        return "s:" + v[1].hex()
    if k == "bytes":
        return "b:" + v[1].hex()
    if k == "list":
        return "[" + ",".join(fmt(e) for e in v[1]) + "]"
    if k == "map":
        return f"map({len(v[1])})"
    if k == "type":
        return f"type:{v[1]}"
    raise AssertionError(v)


NUM = ("int", "uint", "double")


def num_cmp(a, b):
    """-1, 0, 1, or None when unordered (NaN). Python compares int and float exactly."""
    x, y = a[1], b[1]
    if (isinstance(x, float) and math.isnan(x)) or (isinstance(y, float) and math.isnan(y)):
        return None
    return -1 if x < y else (1 if x > y else 0)


def equal(a, b):
    if is_err(a):
        return a
    if is_err(b):
        return b
    if a[0] in NUM and b[0] in NUM:
        return vb(num_cmp(a, b) == 0)
    if a[0] != b[0]:
        return vb(False)
    k = a[0]
    if k == "null":
        return vb(True)
    if k in ("bool", "string", "bytes", "type"):
        return vb(a[1] == b[1])
    if k == "list":
        if len(a[1]) != len(b[1]):
            return vb(False)
        anyerr = False
        for x, y in zip(a[1], b[1]):
            r = equal(x, y)
            if is_err(r):
                anyerr = True
            elif not r[1]:
                return vb(False)
        return ERR if anyerr else vb(True)
    return ERR  # maps


def map_get(m, key):
    """(found, value) or ERR for a key type maps cannot hold."""
    if key[0] not in ("string", "bool") + NUM:
        return ERR
    for k, v in m[1]:
        r = equal(k, key)
        if r == ("bool", True):
            return (True, v)
    return (False, None)


def trunc_div(a, b):
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def arith(op, a, b):
    if is_err(a):
        return a
    if is_err(b):
        return b
    if a[0] != b[0]:
        return ERR
    k = a[0]
    if k in ("int", "uint"):
        x, y = a[1], b[1]
        if op in "/%" and y == 0:
            return ERR
        if op == "+":
            r = x + y
        elif op == "-":
            r = x - y
        elif op == "*":
            r = x * y
        elif op == "/":
            r = trunc_div(x, y)
        else:
            r = x - y * trunc_div(x, y)
        lo, hi = (I64_MIN, I64_MAX) if k == "int" else (0, U64_MAX)
        return (k, r) if lo <= r <= hi else ERR
    if k == "double":
        x, y = a[1], b[1]
        if op == "+":
            return ("double", x + y)
        if op == "-":
            return ("double", x - y)
        if op == "*":
            return ("double", x * y)
        if op == "/":
            if y == 0.0:
                if x == 0.0 or math.isnan(x):
                    return ("double", math.nan)
                neg = (x < 0) != (math.copysign(1.0, y) < 0)
                return ("double", -math.inf if neg else math.inf)
            return ("double", x / y)
        return ERR
    if k in ("string", "bytes") and op == "+":
        return (k, a[1] + b[1])
    return ERR


def relation(op, a, b):
    if op in ("==", "!="):
        r = equal(a, b)
        if r[0] == "bool" and op == "!=":
            return vb(not r[1])
        return r
    if is_err(a):
        return a
    if is_err(b):
        return b
    if a[0] in NUM and b[0] in NUM:
        c = num_cmp(a, b)
        if c is None:
            return vb(False)
    elif a[0] != b[0]:
        return ERR
    elif a[0] in ("string", "bytes", "bool"):
        c = (a[1] > b[1]) - (a[1] < b[1])
    else:
        return ERR
    return vb({"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0}[op])


# ---------------------------------------------------------------- parsing
TOKEN = re.compile(r"""\s*(?:
  (?P<num>0[xX][0-9a-fA-F]+[uU]?|\d*\.\d+(?:[eE][+-]?\d+)?|\d+[eE][+-]?\d+|\d+[uU]?)
 |(?P<str>[bB]?'(?:[^'\\]|\\.)*'|[bB]?"(?:[^"\\]|\\.)*")
 |(?P<id>[A-Za-z_][A-Za-z0-9_]*)
 |(?P<op>==|!=|<=|>=|&&|\|\||[-+*/%<>!?:.,()\[\]])
)""", re.X)


def unescape(body, is_bytes):
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        e = body[i + 1]
        simple = {"n": 10, "t": 9, "r": 13, "\\": 92, "'": 39, '"': 34, "a": 7, "b": 8, "f": 12,
                  "v": 11, "?": 63, "`": 96}
        if e in simple:
            out.append(simple[e])
            i += 2
        elif e in "xX":
            cp = int(body[i + 2:i + 4], 16)
            out += bytes([cp]) if is_bytes else chr(cp).encode()
            i += 4
        elif e in "0123":
            cp = int(body[i + 1:i + 4], 8)
            out += bytes([cp]) if is_bytes else chr(cp).encode()
            i += 4
        elif e == "u":
            out += chr(int(body[i + 2:i + 6], 16)).encode()
            i += 6
        else:
            raise ValueError("escape")
    return bytes(out)


def tokenize(s):
    toks, pos = [], 0
    while True:
        while pos < len(s) and s[pos].isspace():
            pos += 1
        if pos >= len(s):
            break
        m = TOKEN.match(s, pos)
        if not m or m.end() == pos:
            raise ValueError("token at %d" % pos)
        pos = m.end()
        if m.group("num"):
            t = m.group("num")
            if "." in t or (("e" in t or "E" in t) and not t.lower().startswith("0x")):
                toks.append(("lit", ("double", float(t))))
            elif t[-1] in "uU":
                toks.append(("lit", ("uint", int(t[:-1], 0))))
            else:
                toks.append(("int", int(t, 0)))
        elif m.group("str"):
            t = m.group("str")
            isb = t[0] in "bB"
            body = t[2:-1] if isb else t[1:-1]
            toks.append(("lit", ("bytes" if isb else "string", unescape(body, isb))))
        elif m.group("id"):
            w = m.group("id")
            toks.append(("kw", w) if w in ("true", "false", "null", "in") else ("id", w))
        else:
            toks.append(("op", m.group("op")))
    toks.append(("eof", None))
    return toks


class Parser:
    def __init__(self, s):
        self.t = tokenize(s)
        self.i = 0

    def peek(self):
        return self.t[self.i]

    def take(self, kind=None, val=None):
        tok = self.t[self.i]
        if (kind and tok[0] != kind) or (val is not None and tok[1] != val):
            raise ValueError(f"expected {kind} {val}, got {tok}")
        self.i += 1
        return tok

    def isop(self, *ops):
        tok = self.peek()
        return (tok[0] == "op" and tok[1] in ops) or (tok == ("kw", "in") and "in" in ops)

    def expr(self):
        c = self.or_()
        if self.isop("?"):
            self.take()
            a = self.or_()
            self.take("op", ":")
            b = self.expr()
            return ("cond", c, a, b)
        return c

    def or_(self):
        a = self.and_()
        while self.isop("||"):
            self.take()
            a = ("or", a, self.and_())
        return a

    def and_(self):
        a = self.rel()
        while self.isop("&&"):
            self.take()
            a = ("and", a, self.rel())
        return a

    def rel(self):
        a = self.add()
        while self.isop("==", "!=", "<", "<=", ">", ">=", "in"):
            op = self.take()[1]
            a = ("bin", op, a, self.add())
        return a

    def add(self):
        a = self.mul()
        while self.isop("+", "-"):
            op = self.take()[1]
            a = ("bin", op, a, self.mul())
        return a

    def mul(self):
        a = self.unary()
        while self.isop("*", "/", "%"):
            op = self.take()[1]
            a = ("bin", op, a, self.unary())
        return a

    def unary(self):
        if self.isop("!"):
            self.take()
            return ("not", self.unary())
        if self.isop("-"):
            self.take()
            if self.peek()[0] == "int":
                v = self.take()[1]
                return self.member(("lit", ("int", -v)))
            return ("neg", self.unary())
        return self.member(self.primary())

    def args(self):
        out = []
        while not self.isop(")"):
            out.append(self.expr())
            if self.isop(","):
                self.take()
        self.take("op", ")")
        return out

    def primary(self):
        tok = self.take()
        if tok[0] == "int":
            return ("lit", ("int", tok[1]))
        if tok[0] == "lit":
            return tok
        if tok[0] == "kw":
            return ("lit", {"true": ("bool", True), "false": ("bool", False), "null": NULL}[tok[1]])
        if tok[0] == "id":
            if self.isop("("):
                self.take()
                return ("call", tok[1], None, self.args())
            return ("id", tok[1])
        if tok == ("op", "("):
            e = self.expr()
            self.take("op", ")")
            return e
        if tok == ("op", "["):
            items = []
            while not self.isop("]"):
                items.append(self.expr())
                if self.isop(","):
                    self.take()
            self.take("op", "]")
            return ("list", items)
        raise ValueError(f"unexpected {tok}")

    def member(self, n):
        while self.isop(".", "["):
            if self.take()[1] == ".":
                name = self.take("id")[1]
                if self.isop("("):
                    self.take()
                    n = ("call", name, n, self.args())
                else:
                    n = ("sel", n, name)
            else:
                idx = self.expr()
                self.take("op", "]")
                n = ("idx", n, idx)
        return n


def parse(s):
    p = Parser(s)
    e = p.expr()
    p.take("eof")
    return e


# ---------------------------------------------------------------- evaluation
TYPE_NAMES = {"int", "uint", "double", "string", "bytes", "bool", "null_type", "list", "map", "type"}
KIND_TYPE = {"int": "int", "uint": "uint", "double": "double", "string": "string", "bytes": "bytes",
             "bool": "bool", "null": "null_type", "list": "list", "map": "map", "type": "type"}


def index(a, i):
    if is_err(a):
        return a
    if is_err(i):
        return i
    if a[0] == "map":
        r = map_get(a, i)
        if r is ERR:
            return ERR
        return r[1] if r[0] else ERR
    if a[0] != "list" or i[0] not in ("int", "uint"):
        return ERR
    if i[1] < 0 or i[1] >= len(a[1]):
        return ERR
    return a[1][i[1]]


def evaluate(n, rec):
    k = n[0]
    if k == "lit":
        return n[1]
    if k == "list":
        return ("list", [evaluate(e, rec) for e in n[1]])
    if k == "id":
        name = n[1]
        if name in TYPE_NAMES:
            return ("type", name)
        return rec["names"][name]
    if k == "sel":
        a = evaluate(n[1], rec)
        if not is_err(a) and a[0] != "map":
            return ERR
        return index(a, ("string", n[2].encode()))
    if k == "idx":
        a = evaluate(n[1], rec)
        if is_err(a):
            return a
        return index(a, evaluate(n[2], rec))
    if k == "not":
        a = evaluate(n[1], rec)
        return a if is_err(a) else (vb(not a[1]) if a[0] == "bool" else ERR)
    if k == "neg":
        a = evaluate(n[1], rec)
        if a[0] == "int":
            return ERR if a[1] == I64_MIN else ("int", -a[1])
        if a[0] == "double":
            return ("double", -a[1])
        return a if is_err(a) else ERR
    if k in ("and", "or"):
        decisive = k == "or"  # true decides ||, false decides &&
        a = evaluate(n[1], rec)
        if a[0] == "bool" and a[1] == decisive:
            return a
        b = evaluate(n[2], rec)
        if b[0] == "bool" and b[1] == decisive:
            return b
        if a[0] != "bool":
            return ERR
        if b[0] != "bool":
            return ERR
        return b
    if k == "cond":
        c = evaluate(n[1], rec)
        if c[0] != "bool":
            return ERR
        return evaluate(n[2] if c[1] else n[3], rec)
    if k == "bin":
        op = n[1]
        a, b = evaluate(n[2], rec), evaluate(n[3], rec)
        if op in ("==", "!=", "<", "<=", ">", ">="):
            return relation(op, a, b)
        if op == "in":
            if is_err(a):
                return a
            if is_err(b):
                return b
            if b[0] == "map":
                r = map_get(b, a)
                return ERR if r is ERR else vb(r[0])
            if b[0] != "list":
                return ERR
            return vb(any(equal(a, e) == ("bool", True) for e in b[1]))
        return arith(op, a, b)
    if k == "call":
        name, recv, args = n[1], n[2], n[3]
        if name == "has":
            sel = args[0]
            a = evaluate(sel[1], rec)
            if is_err(a):
                return a
            if a[0] != "map":
                return ERR
            r = map_get(a, ("string", sel[2].encode()))
            return ERR if r is ERR else vb(r[0])
        allargs = ([recv] if recv is not None else []) + args
        x = evaluate(allargs[0], rec)
        if is_err(x):
            return x
        if name == "size":
            if x[0] == "string":
                return ("int", len(x[1].decode("utf-8", "replace")) if False else
                        sum(1 for c in x[1] if (c & 0xC0) != 0x80))
            if x[0] in ("bytes", "list", "map"):
                return ("int", len(x[1]))
            return ERR
        if name == "type":
            return ("type", KIND_TYPE[x[0]])
        if name in ("int", "uint"):
            lo, hi = (I64_MIN, I64_MAX) if name == "int" else (0, U64_MAX)
            if x[0] in ("int", "uint"):
                v = x[1]
            elif x[0] == "double":
                if math.isnan(x[1]) or math.isinf(x[1]):
                    return ERR
                v = int(x[1])
            elif x[0] == "string":
                if not re.fullmatch(rb"-?[0-9]+" if name == "int" else rb"[0-9]+", x[1]):
                    return ERR
                v = int(x[1])
            else:
                return ERR
            return (name, v) if lo <= v <= hi else ERR
        if name == "double":
            if x[0] in ("int", "uint"):
                return ("double", float(x[1]))
            if x[0] == "double":
                return x
            if x[0] == "string" and re.fullmatch(rb"-?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?", x[1]):
                return ("double", float(x[1]))
            return ERR
        if name == "matches":
            if x[0] != "string":
                return ERR
            pat = evaluate(allargs[1], rec)[1].decode()
            return vb(re.search(pat, x[1].decode("utf-8")) is not None)
        y = evaluate(allargs[1], rec)
        if is_err(y):
            return y
        if x[0] != "string" or y[0] != "string":
            return ERR
        if name == "startsWith":
            return vb(x[1].startswith(y[1]))
        if name == "endsWith":
            return vb(x[1].endswith(y[1]))
        if name == "contains":
            return vb(y[1] in x[1])
    raise AssertionError(n)


# ---------------------------------------------------------------- records
def mp_int(v):
    if 0 <= v < 128:
        return bytes([v])
    if -32 <= v < 0:
        return struct.pack(">b", v)
    if v > I64_MAX:
        return b"\xcf" + struct.pack(">Q", v)
    return b"\xd3" + struct.pack(">q", v)


def mp_raw(prefix, data, as_bin):
    body = bytes([prefix]) + data
    n = len(body)
    if as_bin:
        return (b"\xc4" + bytes([n]) if n < 256 else b"\xc5" + struct.pack(">H", n)) + body
    if n < 32:
        return bytes([0xA0 | n]) + body
    return (b"\xd9" + bytes([n]) if n < 256 else b"\xda" + struct.pack(">H", n)) + body


def mp_encode(v):
    k = v[0]
    if k == "null":
        return b"\xc0"
    if k == "bool":
        return b"\xc3" if v[1] else b"\xc2"
    if k in ("int", "uint"):
        return mp_int(v[1])
    if k == "double":
        return b"\xcb" + struct.pack(">d", v[1])
    if k == "string":
        return mp_raw(3, v[1], False)
    if k == "bytes":
        return mp_raw(4, v[1], True)
    if k == "list":
        return bytes([0x90 | len(v[1])]) + b"".join(mp_encode(e) for e in v[1])
    if k == "map":
        return bytes([0x80 | len(v[1])]) + b"".join(mp_encode(a) + mp_encode(b) for a, b in v[1])
    raise AssertionError(v)


def bin_wire(v):
    """(particle type, wire bytes) of a bin value."""
    k = v[0]
    if k == "int":
        return 1, struct.pack(">q", v[1])
    if k == "double":
        return 2, struct.pack(">d", v[1])
    if k == "string":
        return 3, v[1]
    if k == "bytes":
        return 4, v[1]
    if k == "bool":
        return 17, bytes([1 if v[1] else 0])
    if k == "null":
        return 0, b""
    if k == "list":
        return 20, mp_encode(v)
    if k == "map":
        return 19, mp_encode(v)
    raise AssertionError(v)


WORDS = ["alpha", "Beta", "orders", "x", "", "a1", "caf\u00e9", "zz9", "abc"]


def rstr(rng):
    return rng.choice(WORDS).encode()


def rint(rng):
    return rng.choice([0, 1, -1, 7, 100, 150, 42, -300, I64_MAX, I64_MIN, 1 << 40,
                       rng.randint(-1000, 1000)])


def rdouble(rng):
    return rng.choice([0.0, 1.5, -2.25, 100.0, 1e300, 3.141592653589793, rng.uniform(-500, 500)])


def rscalar(rng):
    c = rng.randrange(6)
    if c == 0:
        return ("int", rint(rng))
    if c == 1:
        return ("double", rdouble(rng))
    if c == 2:
        return ("string", rstr(rng))
    if c == 3:
        return ("bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(4))))
    if c == 4:
        return ("bool", rng.random() < 0.5)
    return NULL


def record(rng):
    bins = {}

    def maybe(name, typed):
        r = rng.random()
        if r < 0.8:
            bins[name] = typed
        elif r < 0.93:
            bins[name] = rscalar(rng)  # the wrong type, sometimes
        # else: missing
    maybe("i", ("int", rint(rng)))
    maybe("d", ("double", rdouble(rng)))
    maybe("s", ("string", rstr(rng)))
    maybe("b", ("bytes", bytes(rng.randrange(256) for _ in range(rng.randrange(5)))))
    maybe("f", ("bool", rng.random() < 0.5))
    maybe("l", ("list", [rscalar(rng) for _ in range(rng.randrange(5))] +
                ([("list", [("int", 1), ("int", 2)])] if rng.random() < 0.3 else [])))
    maybe("m", ("map", [(("string", w.encode()), rscalar(rng))
                        for w in rng.sample(["k", "alpha", "x", "n"], rng.randrange(4))] +
                ([(("int", 5), ("string", b"five"))] if rng.random() < 0.3 else [])))
    if rng.random() < 0.2:
        bins["n"] = NULL
    op = 2 if rng.random() < 0.15 else 1
    if op == 2:
        bins = {}
    key = rng.choice([None, ("int", rint(rng)), ("string", rstr(rng))])
    setname = rng.choice([b"orders", b"users", None])
    names = {
        "namespace": ("string", b"test"),
        "set": ("string", setname or b""),
        "msg": ("string", b"delete" if op == 2 else b"write"),
        "durable": vb(op == 2 and rng.random() < 0.5),
        "gen": ("int", rng.randrange(1, 100)),
        "lut": ("int", rng.randrange(1600000000000, 1800000000000)),
        "exp": ("int", rng.choice([0, 1900000000])),
        "digest": ("bytes", bytes(rng.randrange(256) for _ in range(20))),
        "key": key or NULL,
        "port": ("int", rng.choice([8901, 8902, 3000])),
        "bins": ("map", [(("string", k.encode()), v) for k, v in bins.items()]),
    }
    names["durable"] = vb(op == 2 and names["durable"][1])
    return {"names": names, "op": op, "set": setname, "key": key, "bins": bins}


def record_line(r):
    nm = r["names"]
    hx = lambda b: b.hex() if b else "-"
    kt, kv = 0, b""
    if r["key"]:
        kt, kv = bin_wire(r["key"])
    lines = [" ".join(["R", b"test".hex(), hx(r["set"]) if r["set"] is not None else "-",
                       str(r["op"]), "1" if nm["durable"][1] else "0", str(nm["gen"][1]),
                       str(nm["lut"][1]), str(nm["exp"][1]), str(nm["port"][1]),
                       nm["digest"][1].hex(), str(kt), hx(kv), str(len(r["bins"]))])]
    for name, v in r["bins"].items():
        pt, wire = bin_wire(v)
        lines.append(f"B {name.encode().hex()} {pt} {hx(wire)}")
    return "\n".join(lines)


# ---------------------------------------------------------------- expressions
PATTERNS = ["^a", "a$", "l.h", "[0-9]+", "x|z", "^$", "\u00e9", "^[A-Z]"]


class Gen:
    def __init__(self, rng):
        self.rng = rng

    def pick(self, *opts):
        return self.rng.choice(opts)

    def lit(self, t):
        r = self.rng
        if t == "int":
            return str(r.choice([0, 1, 2, 3, 7, 100, 150, -5, 1 << 40, I64_MAX]))
        if t == "uint":
            return str(r.choice([0, 1, 5, 1 << 63])) + "u"
        if t == "double":
            return r.choice(["1.5", "0.0", "100.0", "-2.25", "1e300", ".5", "3.0"])
        if t == "string":
            return r.choice(['"orders"', "'alpha'", '""', '"x"', '"caf\\u00e9"', '"a\\x41"', "'abc'"])
        if t == "bytes":
            return r.choice(['b"\\x00"', "b''", 'b"ab"'])
        if t == "bool":
            return r.choice(["true", "false"])
        return "null"

    def e(self, t, d):
        """An expression of static type t (or dyn) the checker accepts."""
        r = self.rng
        if d <= 0 or r.random() < 0.25:
            return self.leaf(t)
        if t == "bool":
            c = r.randrange(12)
            if c == 0:
                return f"({self.e('bool', d - 1)} {self.pick('&&', '||')} {self.e('bool', d - 1)})"
            if c == 1:
                return f"!{self.e('bool', d - 1)}"
            if c == 2:
                tt = self.pick("int", "double", "string", "bytes", "bool", "dyn", "uint")
                other = tt if tt != "dyn" else self.pick("int", "string", "dyn")
                if tt in ("int", "double", "uint") and r.random() < 0.5:
                    other = self.pick("int", "double", "uint")
                return f"({self.e(tt, d - 1)} {self.pick('==', '!=', '<', '<=', '>', '>=')} {self.e(other, d - 1)})"
            if c == 3:
                return f"({self.e('dyn', d - 1)} in {self.e('list', d - 1)})"
            if c == 4:
                return f"({self.e('string', d - 1)} in bins.m)"
            if c == 5:
                return f"{self.e('string', d - 1)}.{self.pick('startsWith', 'endsWith', 'contains')}({self.e('string', d - 1)})"
            if c == 6:
                pat = self.pick(*PATTERNS).replace("\u00e9", "\\u00e9")
                return f"{self.e('string', d - 1)}.matches('{pat}')"
            if c == 7:
                return f"has(bins.{self.pick('i', 'd', 's', 'm', 'n', 'zz')})"
            if c == 8:
                return f"has(bins.m.{self.pick('k', 'alpha', 'x', 'q')})"
            if c == 9:
                return f"(type({self.e('dyn', d - 1)}) == {self.pick('int', 'double', 'string', 'list', 'map', 'null_type', 'bool', 'bytes')})"
            if c == 10:
                return f"({self.e('bool', d - 1)} ? {self.e('bool', d - 1)} : {self.e('bool', d - 1)})"
            return f"({self.e('list', d - 1)} == {self.e('list', d - 1)})"
        if t in ("int", "uint", "double"):
            c = r.randrange(6)
            if c <= 1:
                ops = ["+", "-", "*", "/"] + (["%"] if t != "double" else [])
                return f"({self.e(t, d - 1)} {self.pick(*ops)} {self.e(t, d - 1)})"
            if c == 2 and t == "int":
                return f"size({self.pick('bins.s', 'bins.l', 'bins.m', 'bins.b', 'bins', 'set', 'digest')})"
            if c == 3:
                src = self.pick("int", "double", "uint", "dyn")
                return f"{t}({self.e(src, d - 1)})"
            if c == 4:
                return f"({self.e('bool', d - 1)} ? {self.e(t, d - 1)} : {self.e(t, d - 1)})"
            if t in ("int", "double"):
                return f"-{self.e(t, d - 1)}"
            return self.leaf(t)
        if t == "string":
            c = r.randrange(3)
            if c == 0:
                return f"({self.e('string', d - 1)} + {self.e('string', d - 1)})"
            if c == 1:
                return f"({self.e('bool', d - 1)} ? {self.e('string', d - 1)} : {self.e('string', d - 1)})"
            return self.leaf(t)
        if t == "list":
            c = r.randrange(3)
            if c == 0:
                return "[" + ", ".join(self.e(self.pick("int", "string", "dyn", "double"), d - 1)
                                       for _ in range(r.randrange(4))) + "]"
            return self.leaf(t)
        if t == "dyn":
            c = r.randrange(4)
            if c == 0:
                return f"bins.l[{self.e('int', d - 1)}]"
            if c == 1:
                return f"bins.m[{self.e(self.pick('string', 'int'), d - 1)}]"
            if c == 2:
                return f"({self.e('dyn', d - 1)} + {self.e('dyn', d - 1)})"
            return self.leaf(t)
        # A literal is not dyn to the checker: dyn leaves are bins, the key, indexing.
        return self.leaf(t)

    def leaf(self, t):
        r = self.rng
        if t == "int":
            return self.pick(self.lit("int"), "gen", "port", "bins.i", "lut", "exp")
        if t == "double":
            return self.pick(self.lit("double"), "bins.d")
        if t == "string":
            return self.pick(self.lit("string"), "set", "namespace", "msg", "bins.s", "bins.m.k")
        if t == "bytes":
            return self.pick(self.lit("bytes"), "bins.b", "digest")
        if t == "bool":
            return self.pick(self.lit("bool"), "bins.f", "durable")
        if t == "list":
            return self.pick("bins.l", "[1, 2]", "['x', 'alpha']", "[]", "bins.l[5]")
        if t == "uint":
            return self.lit("uint")
        return self.pick("bins.i", "bins.s", "bins.l", "bins.m", "bins.n", "bins.zz", "key",
                         "bins.m.alpha", "bins.l[0]", "bins['i']", "bins.d", "bins.f", "bins.b")


def main():
    if not os.path.exists(DRIVER):
        print(f"1..0 # SKIP {DRIVER} is not built")
        return 0
    rng = random.Random(SEED)
    gen = Gen(rng)
    lines, cases = [], []
    rec = None
    for i in range(CASES):
        if i % 10 == 0:
            rec = record(rng)
            lines.append(record_line(rec))
        src = gen.e(rng.choice(["bool", "bool", "int", "double", "string", "dyn", "list"]),
                    rng.randrange(1, 5))
        lines.append("E " + src.encode().hex())
        cases.append((src, rec))
    p = subprocess.run([DRIVER], input="\n".join(lines) + "\n", capture_output=True, text=True,
                       timeout=120)
    got = p.stdout.splitlines()
    n = 0
    fails = []
    kinds = {}
    for (src, r), out in zip(cases, got):
        try:
            want = fmt(evaluate(parse(src), r))
        except Exception as e:  # the oracle itself failing is a test failure
            want = f"oracle-exception {e!r}"
        kinds[want.split(":")[0]] = kinds.get(want.split(":")[0], 0) + 1
        if out != want:
            fails.append((src, out, want, {k: fmt(v) for k, v in r["bins"].items()}))
    n += 1
    print(("ok" if p.returncode == 0 and len(got) == CASES else "not ok") +
          f" {n} - the driver answered all {CASES} expressions")
    if len(got) != CASES:
        print(f"#   {len(got)} answers; stderr: {p.stderr[-500:]}")
    n += 1
    print(("ok" if not fails else "not ok") +
          f" {n} - spillway and the Python evaluator agree on {CASES - len(fails)} of {CASES} "
          f"(seed {SEED})")
    for src, out, want, bins in fails[:15]:
        print(f"#   {src}\n#     spillway: {out}\n#     python:   {want}\n#     bins: {bins}")
    n += 1
    errs = kinds.get("error", 0)
    bools = kinds.get("true", 0) + kinds.get("false", 0)
    ok = errs > CASES // 20 and bools > CASES // 10 and errs < CASES // 2
    print(("ok" if ok else "not ok") + f" {n} - the cases mix outcomes: {bools} bools, {errs} errors, "
          f"{CASES - bools - errs} other values")
    print(f"1..{n}")
    return 0 if not fails and ok and len(got) == CASES else 1


if __name__ == "__main__":
    sys.exit(main())

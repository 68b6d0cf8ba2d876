#!/usr/bin/env python3
"""tests/codec-e2e.py: the codecs end to end, from the outside.

The real spillway program runs source `generate` (every bin type, deletes,
durable deletes, records with and without a set) -> each codec -> sink
`file`, unbatched and batched, until the generator finishes. The files are
then read with real decoders only: Python's json module, msgpack-python,
and the as_proto/as_msg parser of tests/codec-oracle.py.

Checked for every run: every record 0..N-1 arrives exactly once, writes
carry their `seq` bin equal to their key, deletes carry no bins, both
durable and plain deletes occur, every particle type occurs. And across
codecs: the generator is deterministic, so the xdr run's frames, turned
back into events, must predict exactly (through the oracle's independent
model of each format) what the json, flat-json and msgpack runs wrote for
the same record; only the LUT, which follows the wall clock, is taken from
the record being compared.

Environment (set by the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH,
top_srcdir. TAP on stdout.
"""
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import msgpack

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("oracle", os.path.join(HERE, "codec-oracle.py"))
oracle = importlib.util.module_from_spec(spec)
spec.loader.exec_module(oracle)

SPILLWAY = os.environ.get("SPILLWAY")
COUNT = 400
RUN_TIMEOUT = int(os.environ.get("SPW_E2E_RUN_TIMEOUT", "60"))
TYPES = "integer,double,string,blob,bool,hll,list,map,geojson"

n_tests = 0
n_failed = 0


def ok(cond, what, detail=None):
    global n_tests, n_failed
    n_tests += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n_tests, what))
    if not cond:
        n_failed += 1
        if detail:
            for line in str(detail).splitlines()[:15]:
                print("#   " + line)
    sys.stdout.flush()
    return cond


def ini(path, out, codec_lines, sink_lines, source_lines=()):
    lines = ["[pipeline]", "name = e2e-codecs", "workers = 2", "",
             "[source.gen]", "plugin = generate", "count = %d" % COUNT, "bins = 10",
             "bin_types = " + TYPES, "value_size = 12", "delete_ratio = 0.25",
             "durable_ratio = 0.5", "sets = demo,-", "bin_luts = true", "seed = 7"]
    lines += list(source_lines)
    lines += ["", "[codec.c]"] + list(codec_lines)
    lines += ["", "[sink.out]", "plugin = file", "codec = c", "path = " + out,
              "append = false"] + list(sink_lines)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run(tmp, name, codec_lines, sink_lines=(), source_lines=()):
    """Runs one pipeline; returns the output file's bytes or None."""
    path = os.path.join(tmp, name + ".ini")
    out = os.path.join(tmp, name + ".out")
    ini(path, out, codec_lines, sink_lines, source_lines)
    try:
        p = subprocess.run([SPILLWAY, "-c", path], capture_output=True, timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        ok(False, "%s: spillway finished within %d s" % (name, RUN_TIMEOUT))
        return None
    if not ok(p.returncode == 0, "%s: spillway ran the pipeline to its end" % name,
              p.stderr.decode("utf-8", "replace")[-2000:]):
        return None
    with open(out, "rb") as f:
        return f.read()


# ---- decoding the outputs ------------------------------------------------

def json_records(data, array):
    text = data.decode("utf-8")  # strict
    recs = []
    for line in text.split("\n"):
        if not line:
            continue
        v = oracle.decode_json(line.encode("utf-8"))
        if array:
            if not isinstance(v, list):
                raise ValueError("a batch body that is not a JSON array")
            recs.extend(v)
        else:
            recs.append(v)
    return recs


def msgpack_records(data, batched):
    recs = []
    u = msgpack.Unpacker(raw=False, strict_map_key=False, object_pairs_hook=oracle.Pairs)
    u.feed(data)
    for o in u:
        if batched:
            if not isinstance(o, list) or any(not isinstance(m, list) or len(m) != 3 for m in o):
                raise ValueError("a batch that is not an array of messages")
            recs.extend(o)
        else:
            recs.append(o)
    return recs


def xdr_events(data):
    """The frames back to back, each turned into the oracle's event description."""
    evs = []
    pos = 0
    while pos < len(data):
        f, pos = oracle.parse_frame(data, pos)
        if f["info1"] != 0x10 or f["tttl"] != 0 or f["result"] != 0:
            raise ValueError("header fields XDR does not send: %r" % f)
        fields = dict((t, v) for t, v in f["fields"])
        is_del = bool(f["info2"] & 0x02)
        lut = int.from_bytes(fields[14], "big") if 14 in fields else 0
        ev = {"op": 2 if is_del else 1, "durable": is_del and bool(f["info2"] & 0x10),
              "ns": fields[0], "set": fields.get(1), "digest": fields[4],
              "key": [fields[2][0], fields[2][1:].hex()] if 2 in fields else None,
              "gen": f["gen"], "lut": (lut & ((1 << 40) - 1)) + oracle.CLEPOCH_MS if lut else 0,
              "src": lut >> 40, "exp": 0 if f["ttl"] in (0, 0xFFFFFFFF) else None,
              "want": oracle.META_ALL, "raw": None,
              "bins": [(name, pt, v, blut + oracle.CLEPOCH_MS if blut is not None else 0)
                       for op, pt, flags, name, blut, v in f["ops"]]}
        if any(op != 2 for op, *_ in f["ops"]):
            raise ValueError("an op other than WRITE")
        evs.append(ev)
    return evs


# ---- what every run must hold --------------------------------------------

def seq_of_key(k):
    return k if isinstance(k, int) else None


def check_run(name, recs):
    """recs: [(seq, op, durable, {bin: (type, value)})]"""
    seen = {}
    problems = []
    dels = durables = 0
    types = set()
    for seq, op, durable, bins in recs:
        seen[seq] = seen.get(seq, 0) + 1
        if op == "delete":
            dels += 1
            durables += bool(durable)
            if bins:
                problems.append("record %s: a delete with bins" % seq)
        else:
            if "seq" not in bins or bins["seq"][1] != seq:
                problems.append("record %s: seq bin %r" % (seq, bins.get("seq")))
            types.update(t for t, v in bins.values())
    missing = [s for s in range(COUNT) if seen.get(s) != 1]
    ok(not missing and len(recs) == COUNT,
       "%s: %d records, each of 0..%d exactly once" % (name, len(recs), COUNT - 1),
       "not exactly once: %r" % missing[:10])
    ok(not problems, "%s: writes carry seq = key, deletes no bins" % name, "\n".join(problems[:10]))
    ok(0 < durables < dels, "%s: %d deletes, %d durable" % (name, dels, durables))
    return types


def typed_json_recs(recs):
    out = []
    for r in recs:
        d = dict(r)
        bins = {}
        for b in d.get("bins", []):
            b = dict(b)
            bins[b["name"]] = (b["type"], b["value"])
        out.append((seq_of_key(d["key"][3]), d["msg"], d.get("durable"), bins))
    return out


def flat_recs(recs, mkey):
    out = []
    for r in recs:
        d = dict(r)
        meta = dict(d.pop(mkey))
        bins = dict((k, ("?", v)) for k, v in d.items())
        out.append((seq_of_key(meta["userKey"]), meta["msg"], meta.get("durable"), bins))
    return out


def msgpack_recs(recs):
    out = []
    for m in recs:
        if m[0] != 1 or m[1] not in (1, 2):
            raise ValueError("not [1, TYPE, ...]: %r" % (m,))
        payload = m[2]
        key = payload[0]
        if m[1] == 1:
            bins = dict((b[0], (b[1], b[3])) for b in payload[4])
            out.append((seq_of_key(key[3]), "write", None, bins))
        else:
            out.append((seq_of_key(key[3]), "delete", bool(payload[1] & 1), {}))
    return out


def xdr_recs(evs):
    out = []
    for ev in evs:
        seq = int.from_bytes(bytes.fromhex(ev["key"][1]), "big", signed=True)
        bins = dict((n.decode(), (t, oracle.wire_int(v) if t == 1 else v)) for n, t, v, l in ev["bins"])
        out.append((seq, "delete" if ev["op"] == 2 else "write", ev["durable"], bins))
    return out


# ---- the xdr source in front: real frames in, frames out ---------------------

REF_WRITE = bytes.fromhex(
    "0203 0000 0000 009a 1610 1100 0000 0000 0001 ffff ffff 0000 0000 0005 0003"
    "0000 0005 00 74657374 0000 0015 04 78f26d30728c436ac5b7e2b79f7faa4b1c011576"
    "0000 0006 01 6d79736574 0000 000a 02 01 0000000000000004 0000 0009 0e 0000016dea5ec92d"
    "0000 000e 02 03 00 04 6e616d65 636f6c746f6e 0000 000f 02 01 00 03 616765 000000000000001b"
    "0000 0014 02 13 00 07 6d617054657374 82a2036101a2036202".replace(" ", ""))
REF_DELETE = bytes.fromhex(
    "0203 0000 0000 005d 1610 0300 0000 0000 0002 0000 0000 0000 0000 0005 0000"
    "0000 0005 00 74657374 0000 0015 04 f9bb902ddd1874858475b66c8f36b950badb44f7"
    "0000 0006 01 6d79736574 0000 000a 02 01 000000000000000e"
    "0000 0009 0e 0000016dea751d58".replace(" ", ""))


def have_plugin(kind_name):
    p = subprocess.run([SPILLWAY, "--list-plugins"], capture_output=True)
    return any(line.split()[:2] == kind_name.split("-", 1)
               for line in p.stdout.decode("utf-8", "replace").splitlines())


def xdr_source_run(tmp):
    """The reference frames sent by an XDR client to the xdr source: the
    xdr codec must pass them on byte for byte, the json codec must write
    the golden JSON of the same records."""
    if not have_plugin("source-xdr"):
        ok(True, "# SKIP the xdr source is not built")
        return
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    path = os.path.join(tmp, "xdr-source.ini")
    raw_out, json_out = os.path.join(tmp, "raw.out"), os.path.join(tmp, "json.out")
    with open(path, "w") as f:
        f.write("[pipeline]\nname = e2e-xdr-source\nworkers = 1\n\n"
                "[source.x]\nplugin = xdr\nlisten = 127.0.0.1:%d\n\n"
                "[codec.frames]\nplugin = xdr\n\n[codec.docs]\nplugin = json\n\n"
                "[sink.raw]\nplugin = file\ncodec = frames\npath = %s\nappend = false\n\n"
                "[sink.docs]\nplugin = file\ncodec = docs\npath = %s\nappend = false\n"
                % (port, raw_out, json_out))
    proc = subprocess.Popen([SPILLWAY, "-c", path], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    try:
        conn = None
        for _ in range(100):
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                time.sleep(0.05)
        if not ok(conn is not None, "xdr source: spillway accepts an XDR connection"):
            return
        conn.sendall(REF_WRITE + REF_DELETE)
        replies = b""
        while len(replies) < 60:
            chunk = conn.recv(60 - len(replies))
            if not chunk:
                break
            replies += chunk
        conn.close()
        ok(len(replies) == 60 and replies[13] == 0 and replies[43] == 0,
           "xdr source: both records answered 0 (delivered to both sinks)", replies.hex())
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            err = proc.communicate(timeout=RUN_TIMEOUT)[1]
        except subprocess.TimeoutExpired:
            proc.kill()
            err = proc.communicate()[1]
    with open(raw_out, "rb") as f:
        raw = f.read()
    ok(raw == REF_WRITE + REF_DELETE, "xdr source -> xdr codec: the frames as they arrived, "
       "byte for byte (pass-through)", "got %s" % raw.hex())
    golden = os.path.join(os.environ.get("top_srcdir", os.path.join(HERE, "..")), "tests", "golden", "json")
    with open(json_out, "rb") as f:
        docs = f.read()
    want = b""
    for name in ("ref-write", "ref-delete"):
        with open(os.path.join(golden, name + ".json"), "rb") as f:
            want += f.read()
    ok(docs == want, "xdr source -> json codec: the golden JSON of both records",
       docs.decode("utf-8", "replace") + err.decode("utf-8", "replace")[-1000:])


# ---- the runs --------------------------------------------------------------

def main():
    if not SPILLWAY or not os.path.exists(SPILLWAY):
        print("1..0 # SKIP SPILLWAY is not set (run through make check)")
        return 0
    tmp = tempfile.mkdtemp(prefix="spw-codec-e2e.")
    try:
        by_seq = {}

        # xdr first: its frames predict the other formats.
        for batched in (False, True):
            tag = "xdr-batched" if batched else "xdr"
            sink = ["batch_max_records = 64", "batch_max_delay = 10ms"] if batched else []
            data = run(tmp, tag, ["plugin = xdr"], sink)
            if data is None:
                continue
            try:
                evs = xdr_events(data)
                ok(True, "%s: %d frames parse, back to back" % (tag, len(evs)))
            except Exception as e:
                ok(False, "%s: the frames parse" % tag, e)
                continue
            types = check_run(tag, xdr_recs(evs))
            ok({1, 2, 3, 4, 17, 18, 19, 20, 23} <= types, "%s: every generated particle type occurs" % tag,
               sorted(types))
            for ev in evs:
                seq = int.from_bytes(bytes.fromhex(ev["key"][1]), "big", signed=True)
                by_seq[seq] = ev

        def predicted(name, recs, seqs, expect, lut_of):
            bad = []
            for rec, seq in zip(recs, seqs):
                ev = by_seq.get(seq)
                if ev is None:
                    bad.append("record %s: no xdr frame for it" % seq)
                    continue
                ev = dict(ev, lut=lut_of(rec))
                d = oracle.same(rec, expect(ev))
                if d:
                    bad.append("record %s: %s" % (seq, d))
            ok(by_seq and not bad, "%s: every record is what the xdr frame of the same record "
               "predicts" % name, "\n".join(bad[:5]))

        for batch_format, batched in (("ndjson", False), ("ndjson", True), ("array", True)):
            tag = "json-%s%s" % (batch_format, "-batched" if batched else "")
            sink = ["batch_max_records = 50", "batch_max_delay = 10ms"] if batched else []
            data = run(tmp, tag, ["plugin = json", "batch_format = " + batch_format], sink)
            if data is None:
                continue
            try:
                recs = json_records(data, batch_format == "array" and batched)
            except Exception as e:
                ok(False, "%s: Python's json reads the output" % tag, e)
                continue
            ok(True, "%s: Python's json reads %d records" % (tag, len(recs)))
            norm = typed_json_recs(recs)
            types = check_run(tag, norm)
            ok({"int", "float", "str", "blob", "bool", "hll", "list", "map", "geojson"} <= types,
               "%s: every JSON type name occurs" % tag, sorted(types))
            predicted(tag, recs, [n[0] for n in norm], lambda ev: oracle.expect_json({}, ev),
                      lambda rec: dict(rec).get("lut", 0))

        for batched in (False, True):
            tag = "flat-json-batched" if batched else "flat-json"
            sink = ["batch_max_records = 50", "batch_max_delay = 10ms"] if batched else []
            data = run(tmp, tag, ["plugin = flat-json", "metadata_key = meta"], sink)
            if data is None:
                continue
            try:
                recs = json_records(data, False)
            except Exception as e:
                ok(False, "%s: Python's json reads the output" % tag, e)
                continue
            ok(True, "%s: Python's json reads %d records" % (tag, len(recs)))
            norm = flat_recs(recs, "meta")
            check_run(tag, norm)
            predicted(tag, recs, [n[0] for n in norm],
                      lambda ev: oracle.expect_flat({"metadata_key": "meta"}, ev),
                      lambda rec: dict(dict(rec)["meta"]).get("lut", 0))

        for batched in (False, True):
            tag = "msgpack-batched" if batched else "msgpack"
            sink = ["batch_max_records = 50", "batch_max_delay = 10ms"] if batched else []
            data = run(tmp, tag, ["plugin = msgpack"], sink)
            if data is None:
                continue
            try:
                recs = msgpack_records(data, batched)
            except Exception as e:
                ok(False, "%s: msgpack-python reads the output" % tag, e)
                continue
            ok(True, "%s: msgpack-python reads %d messages" % (tag, len(recs)))
            norm = msgpack_recs(recs)
            check_run(tag, norm)

            def lut_mp(m):
                return m[2][3] if m[1] == 1 else 0
            predicted(tag, recs, [n[0] for n in norm], lambda ev: oracle.expect_msgpack({}, ev),
                      lut_mp)

        xdr_source_run(tmp)

        # A route's transforms reach every codec: metadata left out, a bin renamed.
        xf = ["metadata_exclude = gen,userKey", "bins_rename = seq:n"]
        data = run(tmp, "json-route", ["plugin = json"], xf)
        if data is not None:
            recs = [dict(r) for r in json_records(data, False)]
            ok(len(recs) == COUNT and all("gen" not in r and r["key"][3] is None for r in recs) and
               all(dict(r["bins"][0])["name"] == "n" for r in recs if r["msg"] == "write"),
               "json with a route transform: gen left out, userKey null, seq renamed n")
        data = run(tmp, "xdr-route", ["plugin = xdr"], xf)
        if data is not None:
            evs = xdr_events(data)
            ok(len(evs) == COUNT and all(e["gen"] == 0 and e["key"] is None for e in evs) and
               all(e["bins"][0][0] == b"n" for e in evs if e["op"] == 1),
               "xdr with a route transform: encoded again, gen 0, no key field, seq renamed n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n_tests)
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())

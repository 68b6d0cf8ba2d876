#!/usr/bin/python3
"""tests/codec-id.py: the idempotency key in payloads (doc/idempotency.md).

The real spillway program runs source `generate` (writes and deletes,
records with and without a set) -> json (id_field), flat-json (id_field)
or msgpack (id_element) -> sink `file`. The files are read with real
decoders (Python's json module, msgpack-python) and every record must carry
its key: the digest in lowercase hex, '-', the LUT in Unix ms, computed
here from the digest and LUT the same record carries in its own metadata.
The default (no option) adds nothing; an id_field naming a member the
codec already writes is a --check error.

Environment (set by the test harness): SPILLWAY, SPILLWAY_PLUGIN_PATH. TAP.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile

import msgpack

SPILLWAY = os.environ.get("SPILLWAY")
COUNT = 300
n_tests = 0
n_failed = 0


def ok(cond, what, detail=None):
    global n_tests, n_failed
    n_tests += 1
    print("%s %d - %s" % ("ok" if cond else "not ok", n_tests, what))
    if not cond:
        n_failed += 1
        for line in str(detail or "").splitlines()[:15]:
            print("#   " + line)
    sys.stdout.flush()
    return cond


def ini(path, out, codec_lines, sink_lines=()):
    lines = ["[pipeline]", "workers = 2", "",
             "[source.gen]", "plugin = generate", "count = %d" % COUNT, "bins = 3",
             "delete_ratio = 0.3", "durable_ratio = 0.5", "sets = demo,-", "seed = 3",
             "", "[codec.c]"] + list(codec_lines)
    lines += ["", "[sink.out]", "plugin = file", "codec = c", "path = " + out,
              "append = false"] + list(sink_lines)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run(tmp, name, codec_lines, sink_lines=()):
    path = os.path.join(tmp, name + ".ini")
    out = os.path.join(tmp, name + ".out")
    ini(path, out, codec_lines, sink_lines)
    try:
        p = subprocess.run([SPILLWAY, "-c", path], capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        ok(False, "%s: spillway finished within 120 s" % name)
        return None
    if not ok(p.returncode == 0, "%s: spillway ran the pipeline to its end" % name,
              p.stderr.decode("utf-8", "replace")[-2000:]):
        return None
    with open(out, "rb") as f:
        return f.read()


def key_of(digest20, lut):
    return digest20.hex() + "-" + str(lut)


def json_lines(data):
    return [json.loads(line) for line in data.decode("utf-8").split("\n") if line]


def check_json(name, recs, get_digest, get_lut, get_id):
    bad = []
    kinds = set()
    for r in recs:
        d = base64.b64decode(get_digest(r), validate=True)
        want = key_of(d, get_lut(r))
        kinds.add(r["msg"] if "msg" in r else r.get("metadata", {}).get("msg"))
        if get_id(r) != want:
            bad.append("%r != %r" % (get_id(r), want))
    ok(len(recs) == COUNT and not bad and kinds == {"write", "delete"},
       "%s: all %d records, writes and deletes, carry digest-hex '-' lut" % (name, COUNT),
       "%d records; %s" % (len(recs), "\n".join(bad[:5])))


def main():
    if not SPILLWAY:
        print("1..0 # SKIP SPILLWAY is not set")
        return 0
    tmp = tempfile.mkdtemp(prefix="spw-codec-id.")
    try:
        # json: a member after the metadata; deletes need delete_metadata for their lut.
        data = run(tmp, "json", ["plugin = json", "id_field = idempotencyKey",
                                 "delete_metadata = true"])
        if data is not None:
            recs = json_lines(data)
            check_json("json", recs, lambda r: r["key"][2], lambda r: r["lut"],
                       lambda r: r.get("idempotencyKey"))
            w = next((r for r in recs if r["msg"] == "write"), {})
            ok(list(w.keys())[-2:] == ["idempotencyKey", "bins"],
               "json: on writes the key comes right before bins", list(w.keys()))

        data = run(tmp, "json-batch", ["plugin = json", "id_field = id", "delete_metadata = true",
                                       "batch_format = array"],
                   ["batch_max_records = 50"])
        if data is not None:
            recs = [r for line in json_lines(data) for r in line]
            check_json("json, batched arrays, id_field = id", recs, lambda r: r["key"][2],
                       lambda r: r["lut"], lambda r: r.get("id"))

        data = run(tmp, "flat", ["plugin = flat-json", "metadata_key = metadata",
                                 "id_field = idempotencyKey", "delete_metadata = true"])
        if data is not None:
            recs = json_lines(data)
            check_json("flat-json", recs, lambda r: r["metadata"]["digest"],
                       lambda r: r["metadata"]["lut"],
                       lambda r: r["metadata"].get("idempotencyKey"))
            ok(all("idempotencyKey" not in r for r in recs),
               "flat-json: the key sits in the metadata object, not among the bins")

        data = run(tmp, "msgpack", ["plugin = msgpack", "id_element = true",
                                    "delete_metadata = true"])
        if data is not None:
            u = msgpack.Unpacker(raw=False, strict_map_key=False)
            u.feed(data)
            msgs = list(u)
            bad = []
            for m in msgs:
                if len(m) != 4:
                    bad.append("message of %d elements" % len(m))
                    continue
                _, typ, payload, ident = m
                digest = payload[0][2]
                lut = payload[3]  # write [KEY, gen, exp, lut, BINS]; delete [KEY, FLAGS, gen, lut]
                if not isinstance(ident, str) or ident != key_of(digest, lut):
                    bad.append("%r != %r" % (ident, key_of(digest, lut)))
            ok(len(msgs) == COUNT and not bad and {m[1] for m in msgs} == {1, 2},
               "msgpack: every message is [1, TYPE, PAYLOAD, ID], ID the key (str)",
               "%d messages; %s" % (len(msgs), "\n".join(bad[:5])))

        data = run(tmp, "default", ["plugin = json"])
        if data is not None:
            recs = json_lines(data)
            ok(all(set(r) <= {"msg", "key", "gen", "exp", "lut", "bins", "durable"} for r in recs),
               "json without id_field: the vendor's shape, nothing added")
        data = run(tmp, "mdefault", ["plugin = msgpack"])
        if data is not None:
            u = msgpack.Unpacker(raw=False, strict_map_key=False)
            u.feed(data)
            ok(all(len(m) == 3 for m in u), "msgpack without id_element: [1, TYPE, PAYLOAD]")

        for codec, lines, taken in (("json", ["plugin = json"], "lut"),
                                    ("flat-json", ["plugin = flat-json",
                                                   "metadata_key = m"], "digest")):
            path = os.path.join(tmp, "bad.ini")
            ini(path, os.path.join(tmp, "bad.out"), lines + ["id_field = " + taken])
            p = subprocess.run([SPILLWAY, "--check", "-c", path], capture_output=True, timeout=60)
            err = p.stderr.decode("utf-8", "replace") + p.stdout.decode("utf-8", "replace")
            ok(p.returncode != 0 and "id_field" in err and taken in err,
               "%s: id_field = %s (a member it already writes) is a --check error" % (codec, taken),
               err)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n_tests)
    return 1 if n_failed else 0


if __name__ == "__main__":
    sys.exit(main())

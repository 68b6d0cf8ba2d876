#!/usr/bin/env python3
"""tests/avro-e2e.py: the avro codec in whole pipelines, checked from the
outside with python3-avro.

source `generate` (every bin type, deletes, durable deletes, string keys,
records with and without a set) -> codec `avro` -> sink `file`, run by the
real spillway program until the generator finishes. The file sink appends
each request body to one file, so the test splits that byte stream itself:
single records (unbatched routes) follow each other as single-object
encodings, each self-delimiting once its schema is known; a batch is one
container file, and every container this codec writes holds exactly one
block, so a file ends after its first block's sync marker (the next one
starts with its own "Obj" 01 header).

Also: a user schema from schema_file, deflate containers, --check refusing
a bad schema with the codec's message, and rejected records (on_reject =
drop, so the run ends; the default retries them forever, as XDR would).

Environment (set by the test harness, see Makefile.am): SPILLWAY,
SPILLWAY_PLUGIN_PATH, top_srcdir. TAP on stdout.
"""
import importlib.util
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import avro.io
import avro.schema

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("avro_check", os.path.join(HERE, "avro-check.py"))
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)

SPILLWAY = os.environ.get("SPILLWAY")
TOP = os.environ.get("top_srcdir", os.path.dirname(HERE))
RUN_TIMEOUT = int(os.environ.get("SPW_E2E_RUN_TIMEOUT", "60"))
GENERIC = os.path.join(TOP, "plugins", "codec-avro", "generic.avsc")

n = 0
failed = 0


def result(good, what, detail=None):
    global n, failed
    n += 1
    if not good:
        failed += 1
    print("%s %d - %s" % ("ok" if good else "not ok", n, what))
    if not good and detail:
        for line in str(detail).splitlines()[-20:]:
            print("# " + line)
    sys.stdout.flush()
    return good


def ini(path, count, batch, source_extra=(), codec_extra=(), workers=2, sink_extra=()):
    with open(path, "w") as f:
        f.write("[pipeline]\nname = avro-e2e\nworkers = %d\n\n" % workers)
        f.write("[source.gen]\nplugin = generate\ncount = %d\n" % count)
        for line in source_extra:
            f.write(line + "\n")
        f.write("\n[codec.avro]\nplugin = avro\n")
        for line in codec_extra:
            f.write(line + "\n")
        f.write("\n[sink.out]\nplugin = file\ncodec = avro\npath = ${env:OUT}\nnewline = never\n")
        if batch:
            f.write("batch_max_records = %d\n" % batch)
        for line in sink_extra:
            f.write(line + "\n")


def run(ini_path, out_path, check_only=False):
    env = dict(os.environ, OUT=out_path)
    args = [SPILLWAY] + (["--check"] if check_only else []) + ["-c", ini_path]
    try:
        p = subprocess.run(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        return 124, "timed out"
    return p.returncode, (p.stderr + p.stdout).decode("utf-8", "replace")


def read_long(buf, pos):
    """A zig-zag varint at buf[pos]; returns (value, next pos)."""
    shift = 0
    z = 0
    while True:
        b = buf[pos]
        pos += 1
        z |= (b & 0x7F) << shift
        shift += 7
        if b < 0x80:
            break
    return (z >> 1) ^ -(z & 1), pos


def split_containers(data):
    """Cuts a stream of one-block container files into files."""
    files = []
    pos = 0
    while pos < len(data):
        start = pos
        if data[pos:pos + 4] != b"Obj\x01":
            raise ValueError("no container magic at byte %d" % pos)
        pos += 4
        while True:  # the metadata map's blocks
            count, pos = read_long(data, pos)
            if count == 0:
                break
            if count < 0:
                count = -count
                _, pos = read_long(data, pos)
            for _ in range(2 * count):
                length, pos = read_long(data, pos)
                pos += length
        pos += 16  # sync marker
        if pos < len(data) and data[pos:pos + 4] != b"Obj\x01":
            count, pos = read_long(data, pos)
            size, pos = read_long(data, pos)
            pos += size + 16
        files.append(data[start:pos])
    return files


def read_singles(schema, data):
    """Decodes a stream of single-object records of one schema."""
    want = struct.pack("<Q", check.crc64_avro(schema.canonical_form.encode("utf-8")))
    buf = io.BytesIO(data)
    reader = avro.io.DatumReader(schema)
    records = []
    while buf.tell() < len(data):
        head = buf.read(10)
        if head[:2] != b"\xc3\x01" or head[2:] != want:
            raise ValueError("bad single-object header %s at byte %d" % (head.hex(), buf.tell() - 10))
        records.append(reader.read(avro.io.BinaryDecoder(buf)))
    return records


ALL_TYPES = "integer,double,string,blob,bool,hll,list,map,geojson"
TYPE_NUMBERS = {1, 2, 3, 4, 17, 18, 19, 20, 23}


def record_number(rec):
    key = rec["userKey"]
    if isinstance(key, str) and key.startswith("key-"):
        return int(key[4:])
    raise ValueError("unexpected userKey %r" % (key,))


def verify_generic(records, count):
    """Every record exactly once; writes and deletes as the generator makes them."""
    seen = {}
    types = set()
    deletes = durable = 0
    for rec in records:
        num = record_number(rec)
        seen[num] = seen.get(num, 0) + 1
        if rec["namespace"] != ("test" if num % 2 == 0 else "other"):
            raise ValueError("record %d in namespace %r" % (num, rec["namespace"]))
        if rec["set"] != ("demo" if num % 2 == 0 else None):
            raise ValueError("record %d in set %r" % (num, rec["set"]))
        if len(rec["digest"]) != 20 or rec["gen"] != 1 + num % 100 or rec["lut"] < 1600000000000:
            raise ValueError("record %d: bad digest, gen or lut" % num)
        if rec["msg"] == "delete":
            deletes += 1
            durable += rec["durable"] is True
            if rec["bins"] or rec["exp"] is not None:
                raise ValueError("delete %d has bins or an expiry" % num)
        else:
            bins = rec["bins"]
            if rec["durable"] is not None or len(bins) != 12:
                raise ValueError("write %d: durable %r, %d bins" % (num, rec["durable"], len(bins)))
            if bins[0]["name"] != "seq" or bins[0]["type"] != 1 or bins[0]["value"] != num:
                raise ValueError("write %d: first bin %r" % (num, bins[0]))
            for b in bins:
                types.add(b["type"])
                if b["lut"] is None:
                    raise ValueError("write %d: bin %s without its lut" % (num, b["name"]))
    missing = [i for i in range(count) if seen.get(i) != 1]
    if missing or len(seen) != count:
        raise ValueError("records missing or repeated: %s" % missing[:10])
    if types != TYPE_NUMBERS:
        raise ValueError("particle types seen: %s" % sorted(types))
    if not (count // 4 < deletes < 3 * count // 4) or durable != deletes:
        raise ValueError("%d deletes, %d durable" % (deletes, durable))


GEN = ["delete_ratio = 0.5", "durable_ratio = 1", "key_type = string", "namespaces = test,other",
       "sets = demo,-", "bins = 12", "bin_types = " + ALL_TYPES, "value_size = 64",
       "bin_luts = true", "ttl = 1h", "seed = 11"]


def main():
    if not SPILLWAY:
        print("1..0 # SKIP SPILLWAY is not set")
        return 0
    tmp = tempfile.mkdtemp(prefix="spw-avro-e2e.")
    try:
        generic = check.parse_schema(open(GENERIC).read())
        conf = os.path.join(tmp, "p.ini")
        out = os.path.join(tmp, "out")

        # Batches: 1000 records in containers of at most 100, two workers.
        for codec in ("null", "deflate"):
            ini(conf, 1000, 100, GEN, ["bin_luts = true", "container_codec = " + codec])
            rc, log = run(conf, out)
            result(rc == 0, "%s containers: spillway exits 0 once the generator is done" % codec, log)
            try:
                files = split_containers(open(out, "rb").read())
                records = []
                codecs = set()
                for f in files:
                    recs, used = check.read_container(generic, f)
                    codecs.add(used.decode() if isinstance(used, bytes) else used)
                    if not 1 <= len(recs) <= 100:
                        raise ValueError("a container of %d records" % len(recs))
                    records += recs
                verify_generic(records, 1000)
                good = codecs == {codec}
                result(good, "%s containers: %d files, every record once, every type, deletes "
                       "durable" % (codec, len(files)), "codecs %s" % codecs)
            except Exception as exc:
                result(False, "%s containers decode with python3-avro" % codec, repr(exc))
            os.unlink(out)

        # Single records: no batching, a stream of single-object encodings.
        ini(conf, 500, 0, GEN, ["bin_luts = true"])
        rc, log = run(conf, out)
        result(rc == 0, "single records: spillway exits 0", log)
        try:
            verify_generic(read_singles(generic, open(out, "rb").read()), 500)
            result(True, "single records: fingerprint, every record once, every type")
        except Exception as exc:
            result(False, "single records decode with python3-avro", repr(exc))
        os.unlink(out)

        # A user schema from a file: metadata by name, the seq bin, a map
        # bin as a map, others left out; deletes fill nulls.
        user = os.path.join(tmp, "user.avsc")
        with open(user, "w") as f:
            f.write("""{"type": "record", "name": "Change", "namespace": "e2e", "fields": [
  {"name": "msg", "type": {"type": "enum", "name": "Op", "symbols": ["write", "delete"]}},
  {"name": "namespace", "type": "string"},
  {"name": "set", "type": ["null", "string"], "default": null},
  {"name": "userKey", "type": ["null", "string"], "default": null},
  {"name": "digest", "type": {"type": "fixed", "name": "Digest", "size": 20}},
  {"name": "lut", "type": "long"},
  {"name": "durable", "type": ["null", "boolean"], "default": null},
  {"name": "seq", "type": ["null", "long"], "default": null},
  {"name": "b1", "type": ["null", "double"], "default": null},
  {"name": "b7", "type": ["null", {"type": "map", "values": ["null", "boolean", "long", "double", "string"]}],
   "default": null},
  {"name": "b8", "type": ["null", "string"], "default": null}
]}""")
        ini(conf, 300, 50, ["delete_ratio = 0.3", "key_type = string", "sets = demo,-", "bins = 10",
                            "bin_types = double,string,blob,bool,hll,list,map,geojson"],
            ["schema_file = " + user])
        rc, log = run(conf, out)
        result(rc == 0, "user schema: spillway exits 0", log)
        try:
            schema = check.parse_schema(open(user).read())
            records = []
            for f in split_containers(open(out, "rb").read()):
                records += check.read_container(schema, f)[0]
            nums = sorted(int(r["userKey"][4:]) for r in records)
            writes = [r for r in records if r["msg"] == "write"]
            good = (nums == list(range(300)) and
                    all(r["seq"] == int(r["userKey"][4:]) and isinstance(r["b1"], float) and
                        isinstance(r["b7"], dict) and r["b8"].startswith('{"type":"Point"') for r in writes) and
                    all(r["seq"] is None and r["durable"] is not None
                        for r in records if r["msg"] == "delete"))
            result(good, "user schema: every record once, bins by name, deletes with nulls")
        except Exception as exc:
            result(False, "user schema containers decode with python3-avro", repr(exc))
        if os.path.exists(out):
            os.unlink(out)

        # A schema that cannot hold the metadata is a configuration error.
        bad = os.path.join(tmp, "bad.avsc")
        with open(bad, "w") as f:
            f.write('{"type": "record", "name": "B", "fields": [{"name": "gen", "type": "string"}]}')
        ini(conf, 10, 0, [], ["schema_file = " + bad])
        rc, log = run(conf, out, check_only=True)
        result(rc != 0 and "avro codec: schema" in log and "gen" in log,
               "--check refuses a schema whose gen field is a string, naming it", log)
        ini(conf, 10, 0, [], ["schema = {\"type\": \"record\", \"name\": \"R\", \"fields\": []}",
                              "schema_file = " + user])
        rc, log = run(conf, out, check_only=True)
        result(rc != 0 and "schema or schema_file, not both" in log,
               "--check refuses schema and schema_file together", log)

        # Records a schema cannot hold are rejected one by one, with a reason.
        strict = os.path.join(tmp, "strict.avsc")
        with open(strict, "w") as f:
            f.write('{"type": "record", "name": "S", "fields": [{"name": "seq", "type": "long"}]}')
        ini(conf, 40, 0, ["delete_ratio = 0.5", "seed = 3"], ["schema_file = " + strict], workers=1,
            sink_extra=["on_reject = drop"])
        rc, log = run(conf, out)
        try:
            kept = read_singles(check.parse_schema(open(strict).read()),
                                open(out, "rb").read() if os.path.exists(out) else b"")
        except Exception as exc:
            kept = None
            log += "\n" + repr(exc)
        result(rc == 0 and kept is not None and 0 < len(kept) < 40 and
               'field "seq": no value' in log,
               "deletes under a schema with a required bin are rejected with the field's name "
               "(%s written)" % (len(kept) if kept is not None else "?"), log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

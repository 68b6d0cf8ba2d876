#!/usr/bin/env python3
"""tests/avro-check.py: a second, independent Avro reader (Debian's
python3-avro) for the avro codec's output. tests/unit/test-codec-avro.c
writes the case file; the end-to-end test imports the helpers.

One case per line, fields separated by a tab; binary fields in hex:

  schema ID SCHEMA           defines schema ID (its JSON text)
  pcf ID CANON FP            CANON (the codec's canonical form) and FP (its
                             fingerprint, 16 hex digits) equal python's
                             canonical_form and its CRC-64-AVRO
  single ID BYTES EXPECT     BYTES is single-object encoding: C3 01, the
                             fingerprint of schema ID's canonical form
                             (little-endian), then one datum of schema ID
                             that uses every byte; when EXPECT is not "-",
                             the datum equals the JSON EXPECT
  container ID BYTES EXPECT  BYTES is one object container file whose
                             avro.schema has schema ID's canonical form;
                             its records equal the JSON array EXPECT

EXPECT is plain JSON with three tagged forms, because JSON has no bytes
and no exact doubles: {"$b": HEX} bytes, {"$d": HEX} the double with these
big-endian bits, {"$u": HEX} the string Python's "replace" decoding of
these bytes gives (U+FFFD per maximal ill-formed subsequence).

Prints TAP diagnostics ("# ...") only; exit status 0 when every case holds.
"""
import io
import json
import struct
import sys

import avro.datafile
import avro.io
import avro.schema

CRC64_EMPTY = 0xC15D213AA4D7A795


def crc64_avro(data):
    """The 64-bit Rabin fingerprint of the Avro specification, bitwise."""
    fp = CRC64_EMPTY
    for byte in data:
        fp ^= byte
        for _ in range(8):
            fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1))
    return fp


def parse_schema(text):
    return avro.schema.parse(text)


def norm(value):
    """A decoded datum in the tagged JSON form EXPECT uses."""
    if isinstance(value, bytes):
        return {"$b": value.hex()}
    if isinstance(value, float):
        return {"$d": struct.pack(">d", value).hex()}
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [norm(v) for v in value]
    return value


def resolve(expect):
    """EXPECT with {"$u": HEX} turned into the string Python makes of it."""
    if isinstance(expect, dict):
        if set(expect) == {"$u"}:
            return bytes.fromhex(expect["$u"]).decode("utf-8", "replace")
        return {k: resolve(v) for k, v in expect.items()}
    if isinstance(expect, list):
        return [resolve(v) for v in expect]
    return expect


def same(a, b, path="$"):
    """Strict deep equality (True is not 1); returns a difference or None."""
    if type(a) is not type(b):
        return "%s: %r (%s) != %r (%s)" % (path, a, type(a).__name__, b, type(b).__name__)
    if isinstance(a, dict):
        if set(a) != set(b):
            return "%s: keys %s != %s" % (path, sorted(a), sorted(b))
        for k in a:
            d = same(a[k], b[k], "%s.%s" % (path, k))
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return "%s: %d items != %d" % (path, len(a), len(b))
        for i, (x, y) in enumerate(zip(a, b)):
            d = same(x, y, "%s[%d]" % (path, i))
            if d:
                return d
        return None
    return None if a == b else "%s: %r != %r" % (path, a, b)


def read_single(schema, data):
    """Decodes single-object encoding; raises on any mismatch."""
    if data[:2] != b"\xc3\x01":
        raise ValueError("no single-object marker C3 01: %s" % data[:2].hex())
    (fp,) = struct.unpack("<Q", data[2:10])
    want = crc64_avro(schema.canonical_form.encode("utf-8"))
    if fp != want:
        raise ValueError("fingerprint %016x, the schema's is %016x" % (fp, want))
    return read_datum(schema, data[10:])


def read_datum(schema, data):
    buf = io.BytesIO(data)
    datum = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(buf))
    if buf.tell() != len(data):
        raise ValueError("the datum ends at byte %d of %d" % (buf.tell(), len(data)))
    return datum


def read_container(schema, data):
    """The records of one container file; its header must carry `schema`."""
    reader = avro.datafile.DataFileReader(io.BytesIO(data), avro.io.DatumReader())
    try:
        writer = reader.datum_reader.writers_schema
        if schema is not None and writer.canonical_form != schema.canonical_form:
            raise ValueError("the container's schema differs from the expected one")
        return list(reader), reader.get_meta("avro.codec")
    finally:
        reader.close()


def check(kind, fields, schemas):
    if kind == "schema":
        schemas[fields[0]] = parse_schema(bytes.fromhex(fields[1]).decode("utf-8"))
        return
    schema = schemas[fields[0]]
    if kind == "pcf":
        canon = bytes.fromhex(fields[1]).decode("utf-8")
        if canon != schema.canonical_form:
            raise ValueError("canonical forms differ:\n#   codec:  %s\n#   python: %s"
                             % (canon, schema.canonical_form))
        want = crc64_avro(schema.canonical_form.encode("utf-8"))
        if int(fields[2], 16) != want:
            raise ValueError("fingerprint %s, python computes %016x" % (fields[2], want))
        return
    data = bytes.fromhex(fields[1])
    if kind == "single":
        got = norm(read_single(schema, data))
    elif kind == "container":
        records, _ = read_container(schema, data)
        got = norm(records)
    else:
        raise ValueError("unknown case kind %r" % kind)
    if fields[2] != "-":
        diff = same(got, resolve(json.loads(fields[2])))
        if diff:
            raise ValueError("decoded value differs: " + diff)


def main(path):
    failed = 0
    total = 0
    schemas = {}
    with open(path, "r", encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.endswith("\n"):
                print("# line %d: unterminated" % lineno)
                failed += 1
                continue
            kind, *fields = line[:-1].split("\t")
            total += 1
            try:
                check(kind, fields, schemas)
            except Exception as exc:  # report every case, then fail
                failed += 1
                if failed <= 20:
                    print("# line %d (%s): %s: %s" % (lineno, kind, type(exc).__name__, exc))
    print("# python checked %d cases, %d failed" % (total, failed))
    return 1 if failed or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

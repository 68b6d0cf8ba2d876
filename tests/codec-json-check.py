#!/usr/bin/env python3
"""tests/codec-json-check.py: a second, independent JSON reader for the
json codec's output (tests/unit/test-codec-json.c writes the file).

One case per line, fields separated by a tab (the codec never writes a raw
tab or newline: strings escape them and GeoJSON is minified):

  J <json>             must parse as strict JSON (no NaN/Infinity literals)
                       and be valid UTF-8
  U <hex> <json>       <json> is a string equal to the bytes decoded with
                       Python's "replace" error handler (U+FFFD per maximal
                       ill-formed subsequence)
  D <hex> <text>       <text> is a JSON number that reads back to exactly
                       the double with big-endian bits <hex>, with no more
                       significant digits than Python's repr (shortest)

Prints TAP diagnostics ("# ...") only; exit status 0 when every case holds.
"""
import json
import re
import struct
import sys

NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")


def no_constants(name):
    raise ValueError("non-JSON constant " + name)


def sig_digits(text):
    """Significant digits of a decimal number's mantissa."""
    mant = re.split(r"[eE]", text)[0].lstrip("-").replace(".", "")
    mant = mant.lstrip("0").rstrip("0")
    return max(len(mant), 1)


def check(kind, fields):
    if kind == "J":
        json.loads(fields[0], parse_constant=no_constants)
    elif kind == "U":
        want = bytes.fromhex(fields[0]).decode("utf-8", "replace")
        got = json.loads(fields[1], parse_constant=no_constants)
        if got != want:
            raise ValueError("replacement differs: got %r want %r" % (got, want))
    elif kind == "D":
        (want,) = struct.unpack(">d", bytes.fromhex(fields[0]))
        text = fields[1]
        if not NUMBER.match(text):
            raise ValueError("not a JSON number: %r" % text)
        if "." not in text and "e" not in text and "E" not in text:
            raise ValueError("does not read as a float: %r" % text)
        if float(text) != want or (want == 0 and str(float(text)) != str(want)):
            raise ValueError("%r reads back as %r, not %r" % (text, float(text), want))
        if sig_digits(text) > sig_digits(repr(want)):
            raise ValueError("%r is longer than the shortest form %r" % (text, repr(want)))
    else:
        raise ValueError("unknown case kind %r" % kind)


def main(path):
    failed = 0
    total = 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            total += 1
            try:
                line = raw.decode("utf-8")  # strict: the output must be UTF-8
                if not line.endswith("\n"):
                    raise ValueError("unterminated line")
                kind, *fields = line[:-1].split("\t")
                check(kind, fields)
            except Exception as exc:  # report every case, then fail
                failed += 1
                if failed <= 20:
                    print("# line %d: %s: %s" % (lineno, exc, raw[:200]))
    print("# python checked %d cases, %d failed" % (total, failed))
    return 1 if failed or total == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

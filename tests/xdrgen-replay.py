"""tests/xdrgen-replay.py: spillway-xdrgen --replay sends frames exactly as a
file holds them: the reference's captured XDR frames (xdr-wire.md 7) in hex
as the reference prints them, one per line, and in binary; frames written
by --dump (compressed ones included) come back byte for byte; retried
replayed frames are resent. The fake connector (tests/xdrgen-fake.py)
receives them. TAP on stdout.
"""

import asyncio
import importlib.util
import os
import sys
import tempfile

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("xdrgen_fake", os.path.join(here, "xdrgen-fake.py"))
fake = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fake)
T = fake.Tap()

REF_WRITE = """0203 0000 0000 009a 1610 1100 0000 0000 0001 ffff ffff 0000 0000 0005 0003
0000 0005 00 74657374
0000 0015 04 78f26d30728c436ac5b7e2b79f7faa4b1c011576
0000 0006 01 6d79736574
0000 000a 02 01 0000000000000004
0000 0009 0e 0000016dea5ec92d
0000 000e 02 03 00 04 6e616d65 636f6c746f6e
0000 000f 02 01 00 03 616765 000000000000001b
0000 0014 02 13 00 07 6d617054657374 82a2036101a2036202
"""
REF_DELETE = """0203 0000 0000 005d 1610 0300 0000 0000 0002 0000 0000 0000 0000 0005 0000
0000 0005 00 74657374
0000 0015 04 f9bb902ddd1874858475b66c8f36b950badb44f7
0000 0006 01 6d79736574
0000 000a 02 01 000000000000000e
0000 0009 0e 0000016dea751d58
"""


def unhex(s):
    return bytes.fromhex("".join(s.split()))


W, D = unhex(REF_WRITE), unhex(REF_DELETE)


async def replay(path, extra=(), policy=None):
    f = await fake.Fake(policy).start()
    st, rep, err = await fake.run_xdrgen(["-c", "127.0.0.1:%d" % f.port, "--replay", path,
                                          "--json"] + list(extra))
    await f.stop()
    return f, st, rep, err


async def main(tmp):
    hexfile = os.path.join(tmp, "ref.hex")
    with open(hexfile, "w") as fh:
        fh.write("# the reference's two frames, as printed there\n" + REF_WRITE + "\n" + REF_DELETE)
    f, st, rep, err = await replay(hexfile)
    d = ["report %s" % rep, "stderr %s" % err, "fake errors %s" % f.errors]
    T.ok(st == 0 and f.raw == [W, D], "hex as the reference prints it: both frames byte for byte", *d)
    T.ok(not f.errors and [fr.seq for _, fr in f.frames] == [4, 14] and f.frames[0][1].bins["name"][1] == "colton",
         "the fake's parser reads them (keys 4 and 14, name=colton)", *d)
    T.ok(isinstance(rep, dict) and rep["sent"] == 2 and rep["acknowledged"] == 2 and rep["records"] == 2,
         "each frame sent once by default", *d)

    binfile = os.path.join(tmp, "ref.bin")
    with open(binfile, "wb") as fh:
        fh.write(D + W)
    f, st, rep, err = await replay(binfile)
    T.ok(st == 0 and f.raw == [D, W], "binary, back to back, auto-detected: byte for byte",
         "report %s" % rep, "stderr %s" % err)

    linefile = os.path.join(tmp, "lines.hex")
    with open(linefile, "w") as fh:
        fh.write(W.hex().upper() + "\n" + D.hex() + "\n")
    f, st, rep, err = await replay(linefile, ["-n", 5, "--replay-format", "hex"])
    T.ok(st == 0 and f.raw == [W, D, W, D, W] and rep["sent"] == 5,
         "one frame per line, --count 5 cycles through the file", "report %s" % rep, "stderr %s" % err)

    f, st, rep, err = await replay(hexfile, ["--replay-format", "binary"])
    T.ok(st == 3 and "ref.hex" in err and "version" in err,
         "a hex file read as binary: status 3, the file and the problem named", "stderr %s" % err)

    f, st, rep, err = await replay(os.path.join(tmp, "missing.hex"))
    T.ok(st == 3 and "missing.hex" in err, "a missing file: status 3", "stderr %s" % err)

    # --dump, then replay what it wrote: the same bytes arrive, compressed frames too
    dump = os.path.join(tmp, "dump.hex")
    st, rep, err = await fake.run_xdrgen(["--dump", dump, "-n", 60, "--compress-ratio", "0.5",
                                          "--bins", 6, "--bin-types", "list,map,geojson,double",
                                          "--delete-ratio", "0.2", "--seq-start", 500])
    lines = open(dump).read().split() if st == 0 else []
    T.ok(st == 0 and len(lines) == 60, "--dump writes 60 frames", "stderr %s" % err)
    f, st, rep, err = await replay(dump)
    T.ok(st == 0 and [r.hex() for r in f.raw] == lines and not f.errors,
         "replaying a dump sends its frames byte for byte, in order",
         "report %s" % rep, "stderr %s" % err, "fake errors %s" % f.errors[:2])
    T.ok(sorted(fr.seq for _, fr in f.frames) == list(range(500, 560))
         and rep["compressed"] == sum(1 for r in f.raw if r[1] == 4) > 0,
         "the dumped records keep their sequence numbers; compressed ones inflate", "report %s" % rep)

    # retried replayed frames are resent as they are
    f, st, rep, err = await replay(hexfile, ["--retry-delay", "10ms"],
                                   policy=lambda fk, c, fr: 14 if fk.received[fr.seq] == 1 else 0)
    T.ok(st == 0 and sorted(f.raw) == sorted([W, D, W, D]) and rep["retried"] == 2
         and rep["acknowledged"] == 2, "a replayed frame answered KEY_BUSY is resent unchanged",
         "report %s" % rep, "stderr %s" % err)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(main(tmp))
    sys.exit(T.done())

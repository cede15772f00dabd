#!/usr/bin/env python3
"""Independent reference values for test/io (run once; the numbers are copied into values.ts).

Written from the format descriptions, sharing no code with src/io: a plain
Python byte-offset decoder for the l-cysteine miniCBFs (MD5 checked with
hashlib) and numpy for the snase SMV frames. Usage:

    python3 test/io/reference/compute_reference.py ../shared/data

Prints, per frame: sum of all pixels, sum of pixels >= 0, counts of -1 and -2,
max, the md5 of the pixels as little-endian int32 (row-major), and a few pixel
values; for snase, also the valid-pixel count under Lunus's mask settings.
"""
import base64
import glob
import hashlib
import os
import re
import struct
import sys

import numpy as np


def decode_cbf(path):
    d = open(path, "rb").read()
    start = d.find(b"\x0c\x1a\x04\xd5") + 4
    hdr = d[:start].decode("latin1")
    size = int(re.search(r"X-Binary-Size:\s*(\d+)", hdr).group(1))
    nx = int(re.search(r"X-Binary-Size-Fastest-Dimension:\s*(\d+)", hdr).group(1))
    ny = int(re.search(r"X-Binary-Size-Second-Dimension:\s*(\d+)", hdr).group(1))
    md5 = re.search(r"Content-MD5:\s*(\S+)", hdr).group(1)
    b = d[start:start + size]
    assert base64.b64encode(hashlib.md5(b).digest()).decode() == md5
    out = np.empty(nx * ny, dtype=np.int64)
    i = n = v = 0
    while n < nx * ny:
        c = b[i]
        if c != 0x80:
            v += c - 256 if c > 127 else c
            i += 1
        else:
            (d16,) = struct.unpack_from("<h", b, i + 1)
            if d16 != -32768:
                v += d16
                i += 3
            else:
                (d32,) = struct.unpack_from("<i", b, i + 3)
                if d32 != -(2**31):
                    v += d32
                    i += 7
                else:
                    (d64,) = struct.unpack_from("<q", b, i + 7)
                    v += d64
                    i += 15
        out[n] = v
        n += 1
    assert i == size
    return out.reshape(ny, nx)


def main(base):
    for p in sorted(glob.glob(os.path.join(base, "l-cysteine/images/*.cbf"))):
        img = decode_cbf(p)
        y, x = np.unravel_index(int(img.argmax()), img.shape)
        print(os.path.basename(p), "sum", int(img.sum()), "sum>=0", int(img[img >= 0].sum()),
              "n-1", int((img == -1).sum()), "n-2", int((img == -2).sum()),
              "max", int(img.max()), "at x,y", int(x), int(y),
              "md5", hashlib.md5(img.astype("<i4").tobytes()).hexdigest())
    for p in sorted(glob.glob(os.path.join(base, "snase/images/*.img"))):
        d = open(p, "rb").read()
        h = dict(re.findall(r"(\w+)=\s*([^;]*);", d[: d.index(b"}")].decode("latin1")))
        hb, n1, n2 = int(h["HEADER_BYTES"]), int(h["SIZE1"]), int(h["SIZE2"])
        a = np.frombuffer(d, dtype="<u2", count=n1 * n2, offset=hb).reshape(n2, n1).astype(np.int64)
        ok = (a >= 1) & (a <= 10000)
        win = np.zeros_like(ok)
        win[40:985, 40:985] = True          # x and y in 40..984
        win[473:518, 510:557] = False       # beamstop x 510..556, y 473..517
        print(os.path.basename(p), "PHI", h["PHI"], "sum", int(a.sum()), "max", int(a.max()),
              "px(x=512,y=512)", int(a[512, 512]), "px(x=900,y=100)", int(a[100, 900]),
              "md5", hashlib.md5(a.astype("<i4").tobytes()).hexdigest(),
              "lunus-valid", int((ok & win).sum()), "in-range", int(ok.sum()))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/data")

#!/usr/bin/env python3
"""Independent reader of the SRVC model stream (docs/srvc-format.md).

Parses STREAM, checks the base weights' hash, applies every segment to the base model's
safetensors and writes the weights the decoder uses after the last segment (or after segment
--upto N). Only numpy/safetensors arithmetic in float32, no fused multiply-add, so the result
is bit-identical to the Rust decoder's.

usage: srvc_read.py STREAM --base BASE.safetensors --out OUT.safetensors [--upto N] [--list]
"""
import argparse
import hashlib
import json
import struct
import sys
import zlib

import numpy as np
from safetensors.numpy import load_file, save_file

MAGIC = b"SLSRVC\x00\x01"


def canonical(tensors):
    """(name, array) sorted by name, as float32."""
    return [(n, tensors[n].astype(np.float32)) for n in sorted(tensors)]


def sha256(tensors):
    h = hashlib.sha256()
    for name, t in tensors:
        h.update(name.encode() + b"\0")
        for d in t.shape:
            h.update(struct.pack("<q", d))
        h.update(t.astype("<f4").tobytes())
    return h.hexdigest()


def varint(buf, pos):
    value, shift = 0, 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b & 0x80 == 0:
            return value, pos
        shift += 7
        if shift > 28:
            raise ValueError("index gap longer than 5 bytes")


def segments(data, header):
    pos, index = 0, 0
    while pos < len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        pos += 8 + length
        if len(body) != length:
            raise ValueError(f"segment {index}: truncated")
        if zlib.crc32(body) != crc:
            yield index, None  # bad checksum: the decoder keeps the previous weights
        else:
            yield index, parse(zlib.decompress(body), header)
        index += 1


def parse(p, header):
    start_pts, count = struct.unpack_from("<qI", p, 0)
    pos, indices, previous = 12, [], None
    for _ in range(count):
        gap, pos = varint(p, pos)
        i = gap if previous is None else previous + gap + 1
        indices.append(i)
        previous = i
    if header["quantization"] == "fp16":
        values = np.frombuffer(p, dtype="<f2", count=count, offset=pos).astype(np.float32)
        scales = None
    else:
        (n,) = struct.unpack_from("<I", p, pos)
        pos += 4
        scales = {}
        for _ in range(n):
            t, s = struct.unpack_from("<If", p, pos)
            scales[t] = np.float32(s)
            pos += 8
        values = np.frombuffer(p, dtype=np.int8, count=count, offset=pos)
    return start_pts, np.array(indices, dtype=np.int64), values, scales


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stream")
    ap.add_argument("--base", required=True)
    ap.add_argument("--out")
    ap.add_argument("--upto", type=int)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    data = open(a.stream, "rb").read()
    if data[:8] != MAGIC:
        sys.exit(f"{a.stream}: not an SRVC model stream")
    (hlen,) = struct.unpack_from("<I", data, 8)
    header = json.loads(data[12 : 12 + hlen])
    base = canonical(load_file(a.base))
    if sha256(base) != header["base_sha256"]:
        sys.exit(f"{a.base}: not the base model the stream was made for (hash differs)")
    layout = [(n, int(c)) for n, c in header["tensors"]]
    if [(n, t.size) for n, t in base] != layout:
        sys.exit(f"{a.base}: tensors differ from the stream's layout")
    flat = np.concatenate([t.reshape(-1) for _, t in base]).astype(np.float32)
    starts = np.cumsum([0] + [c for _, c in layout])[:-1]
    for index, seg in segments(data[12 + hlen :], header):
        if a.upto is not None and index > a.upto:
            break
        if seg is None:
            print(f"segment {index}: bad checksum, keeping the previous weights", file=sys.stderr)
            continue
        start_pts, idx, values, scales = seg
        if scales is None:
            delta = values
        else:
            tensor = np.searchsorted(starts, idx, side="right") - 1
            scale = np.array([scales[int(t)] for t in tensor], dtype=np.float32)
            delta = values.astype(np.float32) * scale
        flat[idx] = flat[idx] + delta
        if a.list:
            print(f"segment {index}: from {start_pts} us, {len(idx)} changes")
    if a.out:
        out, pos = {}, 0
        for name, t in base:
            out[name] = flat[pos : pos + t.size].reshape(t.shape).copy()
            pos += t.size
        save_file(out, a.out)


if __name__ == "__main__":
    main()

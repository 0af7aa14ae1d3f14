#!/usr/bin/env python3
"""Independent reader of the SRVC model stream (docs/srvc-format.md).

Parses STREAM, checks the base weights' hash, applies every segment to the base model's
safetensors and writes the weights the decoder uses after the last segment (or after segment
--upto N). PyTorch tensors in float32 on the CPU, one operation at a time (the multiplication
rounded before the addition, no fused multiply-add), so the result is bit-identical to the Rust
decoder's.

usage: srvc_read.py STREAM --base BASE.safetensors --out OUT.safetensors [--upto N] [--list]
"""
import argparse
import hashlib
import json
import struct
import sys
import zlib

import torch
from safetensors.torch import load_file, save_file

MAGIC = b"SLSRVC\x00\x02"  # version 2: the header JSON is zlib-compressed
MAGIC_V1 = b"SLSRVC\x00\x01"  # version 1: the header JSON as is
MAX_HEADER_BYTES = 1 << 20

# The stream and the hash are little-endian; tensors are viewed as bytes as they lie in memory.
if sys.byteorder != "little":
    sys.exit("srvc_read.py: needs a little-endian machine")


def canonical(tensors):
    """(name, tensor) sorted by name (byte order), as contiguous float32."""
    names = sorted(tensors, key=lambda n: n.encode())
    return [(n, tensors[n].to(torch.float32).contiguous()) for n in names]


def sha256(tensors):
    h = hashlib.sha256()
    for name, t in tensors:
        h.update(name.encode() + b"\0")
        for d in t.shape:
            h.update(struct.pack("<q", d))
        h.update(le_bytes(t))
    return h.hexdigest()


def le_bytes(t):
    """The float32 tensor's values as (little-endian) bytes."""
    return t.reshape(-1).view(torch.uint8).numpy().tobytes()


def from_le(raw, dtype):
    """A 1-D tensor of `dtype` from little-endian bytes (copied, so writable)."""
    if not raw:
        return torch.empty(0, dtype=dtype)  # frombuffer refuses an empty buffer
    return torch.frombuffer(bytearray(raw), dtype=dtype)


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


def segments(data, header, version):
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
            yield index, parse(zlib.decompress(body), header, version)
        index += 1


def parse(p, header, version):
    (start_pts,) = struct.unpack_from("<q", p, 0)
    pos, from_base = 8, False
    if version >= 2:  # a flags byte: bit 0 starts again from the base weights
        flags = p[pos]
        pos += 1
        if flags & ~1:
            raise ValueError(f"unknown segment flags {flags:#04x}")
        from_base = bool(flags & 1)
    (count,) = struct.unpack_from("<I", p, pos)
    pos, indices, previous = pos + 4, [], None
    for _ in range(count):
        gap, pos = varint(p, pos)
        i = gap if previous is None else previous + gap + 1
        indices.append(i)
        previous = i
    if header["quantization"] == "fp16":
        values = from_le(p[pos : pos + 2 * count], torch.float16).to(torch.float32)
        scales = None
    else:
        (n,) = struct.unpack_from("<I", p, pos)
        pos += 4
        scales = {}
        for _ in range(n):
            t, s = struct.unpack_from("<If", p, pos)
            scales[t] = s
            pos += 8
        values = from_le(p[pos : pos + count], torch.int8)
    return start_pts, from_base, torch.tensor(indices, dtype=torch.int64), values, scales


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("stream")
    ap.add_argument("--base", required=True)
    ap.add_argument("--out")
    ap.add_argument("--upto", type=int)
    ap.add_argument("--list", action="store_true")
    a = ap.parse_args()
    data = open(a.stream, "rb").read()
    if data[:8] not in (MAGIC, MAGIC_V1):
        sys.exit(f"{a.stream}: not an SRVC model stream")
    (hlen,) = struct.unpack_from("<I", data, 8)
    stored = data[12 : 12 + hlen]
    if hlen > MAX_HEADER_BYTES or len(stored) != hlen:
        sys.exit(f"{a.stream}: header of {hlen} bytes, {len(stored)} present")
    if data[:8] == MAGIC:
        inflater = zlib.decompressobj()
        stored = inflater.decompress(stored, MAX_HEADER_BYTES + 1)
        if len(stored) > MAX_HEADER_BYTES:
            sys.exit(f"{a.stream}: header inflates past {MAX_HEADER_BYTES} bytes")
    header = json.loads(stored)
    base = canonical(load_file(a.base))
    if sha256(base) != header["base_sha256"]:
        sys.exit(f"{a.base}: not the base model the stream was made for (hash differs)")
    layout = [(n, int(c)) for n, c in header["tensors"]]
    if [(n, t.numel()) for n, t in base] != layout:
        sys.exit(f"{a.base}: tensors differ from the stream's layout")
    base_flat = torch.cat([t.reshape(-1) for _, t in base])
    flat = base_flat.clone()
    starts = torch.cumsum(torch.tensor([0] + [c for _, c in layout][:-1]), 0)
    for index, seg in segments(data[12 + hlen :], header, data[7]):
        if a.upto is not None and index > a.upto:
            break
        if seg is None:
            print(f"segment {index}: bad checksum, keeping the previous weights", file=sys.stderr)
            continue
        start_pts, from_base, idx, values, scales = seg
        if from_base:
            flat = base_flat.clone()
        if scales is None:
            delta = values
        else:
            tensor = torch.searchsorted(starts, idx, right=True) - 1
            scale = torch.tensor([scales[int(t)] for t in tensor], dtype=torch.float32)
            delta = values.to(torch.float32) * scale
        flat[idx] = flat[idx] + delta
        if a.list:
            restart = " from the base weights" if from_base else ""
            print(f"segment {index}: from {start_pts} us, {len(idx)} changes{restart}")
    if a.out:
        out, pos = {}, 0
        for name, t in base:
            out[name] = flat[pos : pos + t.numel()].reshape(t.shape).clone()
            pos += t.numel()
        save_file(out, a.out)


if __name__ == "__main__":
    main()

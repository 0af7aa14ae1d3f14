#!/usr/bin/env python3
"""Writes docs/protocol-golden.txt from docs/protocol.md, independently of the Rust code.

A second implementation of the byte layout (Python struct + hmac), so the golden bytes that the
Rust and Android tests compare against are not just the Rust encoder's own output.
Usage: scripts/protocol_golden.py > docs/protocol-golden.txt
"""
import hashlib
import hmac
import struct


def s(text):
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def frame(kind, payload):
    return struct.pack(">IB", 1 + len(payload), kind) + payload


MAGIC = b"SLIV"
NONCE = bytes(range(32))
DEVICE_ID = bytes(range(0xA0, 0xB0))
SECRET = bytes(range(0x40, 0x60))
DEVICE_NAME = "Pixel 7"

device_key = hmac.new(SECRET, b"stronglive-device-key-v1" + DEVICE_ID, hashlib.sha256).digest()
proof_input = b"stronglive-auth-v1" + NONCE + struct.pack(">H", 1) + DEVICE_ID + DEVICE_NAME.encode()
proof = hmac.new(device_key, proof_input, hashlib.sha256).digest()

SETS = bytes([0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33])
PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])

messages = [
    ("ServerHello", frame(0x01, MAGIC + struct.pack(">H", 1) + NONCE + s("Studio"))),
    ("ClientHello", frame(0x02, MAGIC + struct.pack(">H", 1) + DEVICE_ID + s(DEVICE_NAME) + proof)),
    ("Welcome", frame(0x03, struct.pack(">Q", 0x0102030405060708))),
    ("Reject", frame(0x04, struct.pack(">B", 1) + s("wrong pairing secret"))),
    ("StreamConfig", frame(0x10, struct.pack(">BHHIIII", 1, 960, 540, 30000, 1001, 2_000_000, len(SETS)) + SETS)),
    ("VideoUnit", frame(0x11, struct.pack(">qB", 33_366, 1) + IDR)),
    ("HrPatch", frame(0x12, struct.pack(">qHHHHB", 33_366, 128, 64, 48, 48, 1) + PNG)),
    ("TargetBitrate", frame(0x20, struct.pack(">I", 1_500_000))),
    ("KeyFrameRequest", frame(0x21, b"")),
    ("PatchRequest", frame(0x22, struct.pack(">HH", 4, 96))),
    ("Stats", frame(0x30, struct.pack(">QQII", 300, 1_234_567, 2, 29_970))),
    ("Bye", frame(0x7F, s("end of source"))),
]

print("# StrongLive protocol v1 golden values (scripts/protocol_golden.py; see docs/protocol.md).")
print("# Inputs: nonce = 00..1f, device_id = a0..af, pairing secret = 40..5f, device name 'Pixel 7'.")
print(f"secret {SECRET.hex()}")
print(f"device_key {device_key.hex()}")
print(f"proof {proof.hex()}")
for name, data in messages:
    print(f"{name} {data.hex()}")

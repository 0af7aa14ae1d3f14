#!/usr/bin/env python3
"""Writes docs/protocol-golden.txt from docs/protocol.md, independently of the Rust code.

A second implementation of the byte layout (Python struct + hmac, and the `cryptography`
package from PyPI for HKDF and AES-256-GCM), so the golden bytes that the Rust and Android tests
compare against are not just the Rust encoder's own output.
Usage: pip install cryptography; scripts/protocol_golden.py > docs/protocol-golden.txt
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def s(text):
    raw = text.encode("utf-8")
    return struct.pack(">H", len(raw)) + raw


def frame(kind, payload):
    return struct.pack(">IB", 1 + len(payload), kind) + payload


MAGIC = b"SLIV"
VERSION = 2
NONCE = bytes(range(32))  # the server's
CLIENT_NONCE = bytes(range(0x60, 0x80))
DEVICE_ID = bytes(range(0xA0, 0xB0))
SECRET = bytes(range(0x40, 0x60))
DEVICE_NAME = "Pixel 7"
SESSION_ID = 0x0102030405060708

device_key = hmac.new(SECRET, b"stronglive-device-key-v1" + DEVICE_ID, hashlib.sha256).digest()
proof_input = (b"stronglive-auth-v2" + NONCE + CLIENT_NONCE + struct.pack(">H", VERSION)
               + DEVICE_ID + DEVICE_NAME.encode())
proof = hmac.new(device_key, proof_input, hashlib.sha256).digest()
server_proof = hmac.new(device_key, b"stronglive-server-v2" + NONCE + CLIENT_NONCE
                        + struct.pack(">Q", SESSION_ID), hashlib.sha256).digest()


def direction_key(info):
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=NONCE + CLIENT_NONCE,
                info=info).derive(device_key)


key_c2s = direction_key(b"stronglive-v2 client to server")
key_s2c = direction_key(b"stronglive-v2 server to client")


def seal(key, counter, message):
    """A sealed record: the message's type and payload (its length prefix dropped) encrypted."""
    plaintext = message[4:]
    length = struct.pack(">I", len(plaintext) + 16)
    nonce = bytes(4) + struct.pack(">Q", counter)
    return length + AESGCM(key).encrypt(nonce, plaintext, length)


SETS = bytes([0, 0, 0, 1, 0x67, 0x42, 0xC0, 0x1E, 0, 0, 0, 1, 0x68, 0xCE, 0x3C, 0x80])
IDR = bytes([0, 0, 0, 1, 0x65, 0x88, 0x84, 0x00, 0x33])
PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A])

messages = [
    ("ServerHello", frame(0x01, MAGIC + struct.pack(">H", VERSION) + NONCE + s("Studio"))),
    ("ClientHello", frame(0x02, MAGIC + struct.pack(">H", VERSION) + DEVICE_ID + s(DEVICE_NAME)
                          + CLIENT_NONCE + proof)),
    ("Welcome", frame(0x03, struct.pack(">Q", SESSION_ID) + server_proof)),
    ("Reject", frame(0x04, struct.pack(">B", 1) + s("wrong pairing secret"))),
    ("StreamConfig", frame(0x10, struct.pack(">BHHIIII", 1, 960, 540, 30000, 1001, 2_000_000, len(SETS)) + SETS)),
    ("VideoUnit", frame(0x11, struct.pack(">qB", 33_366, 1) + IDR)),
    ("HrPatch", frame(0x12, struct.pack(">qHHHHB", 33_366, 128, 64, 48, 48, 1) + PNG)),
    ("TargetBitrate", frame(0x20, struct.pack(">I", 1_500_000))),
    ("KeyFrameRequest", frame(0x21, b"")),
    ("PatchRequest", frame(0x22, struct.pack(">HH", 4, 96))),
    ("TargetStreamSize", frame(0x23, struct.pack(">HH", 640, 360))),
    ("Stats", frame(0x30, struct.pack(">QQII", 300, 1_234_567, 2, 29_970))),
    ("Bye", frame(0x7F, s("end of source"))),
]
by_name = dict(messages)
# After Welcome: each direction's first records, counters from 0.
sealed = [
    ("sealed_c2s_0", seal(key_c2s, 0, by_name["StreamConfig"])),
    ("sealed_c2s_1", seal(key_c2s, 1, by_name["VideoUnit"])),
    ("sealed_s2c_0", seal(key_s2c, 0, by_name["KeyFrameRequest"])),
    ("sealed_s2c_1", seal(key_s2c, 1, by_name["TargetBitrate"])),
]

print("# StrongLive protocol v2 golden values (scripts/protocol_golden.py; see docs/protocol.md).")
print("# Inputs: server nonce = 00..1f, client nonce = 60..7f, device_id = a0..af,")
print("# pairing secret = 40..5f, device name 'Pixel 7', session id 0102030405060708.")
print(f"secret {SECRET.hex()}")
print(f"client_nonce {CLIENT_NONCE.hex()}")
print(f"device_key {device_key.hex()}")
print(f"proof {proof.hex()}")
print(f"server_proof {server_proof.hex()}")
print(f"key_c2s {key_c2s.hex()}")
print(f"key_s2c {key_s2c.hex()}")
for name, data in messages + sealed:
    print(f"{name} {data.hex()}")

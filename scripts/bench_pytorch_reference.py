#!/usr/bin/env python3
"""The speed reference `stronglive bench --vs-pytorch` compares the engine against: the seed
projects' offline pipeline, written the way such a script is usually written.

    ffmpeg decode pipe (rgb24) -> eager PyTorch FMEN, fp32, NCHW -> ffmpeg encode pipe

The network is FMEN's inference form written here from the architecture (not imported from the
project), reading the same `models/NAME.safetensors` + `NAME.json` the engine ships; the
encoder settings are the engine's offline defaults for the chosen encoder. Prints one line:
`frames N seconds S` (wall time from the first byte decoded to the output file closed).

    python3 scripts/bench_pytorch_reference.py CLIP OUT.mp4 --model models/fmen-tiny-x4
"""

import argparse
import json
import subprocess
import sys
import time

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

SLOPE = 0.1  # FMEN's LeakyReLU


class Fmen:
    """FMEN inference form: every block a plain 3x3 conv (re-parameterised)."""

    def __init__(self, stem):
        card = json.load(open(stem + ".json"))
        if card["architecture"] != "fmen":
            sys.exit(f"{stem}.json: architecture {card['architecture']!r}, not fmen")
        self.hp = card["hyperparameters"]
        self.range = card.get("input_range", 1.0)
        self.w = load_file(stem + ".safetensors")

    def conv(self, x, name):
        return F.conv2d(x, self.w[name + ".weight"], self.w[name + ".bias"], padding=1)

    def erb(self, x, name):
        x = F.leaky_relu(self.conv(x, name + ".conv1.rep_conv"), SLOPE)
        return self.conv(x, name + ".conv2.rep_conv")

    def hfab(self, x, name, ups):
        out = F.leaky_relu(self.conv(x, name + ".squeeze"), SLOPE)
        for i in range(ups):
            out = self.erb(out, f"{name}.convs.{i}")
        out = self.conv(F.leaky_relu(out, SLOPE), name + ".excitate")
        return torch.sigmoid(out) * x

    def __call__(self, rgb):
        hp = self.hp
        inp = rgb * self.range
        x = self.conv(inp, "head")
        ups = hp["up_blocks"]
        h = self.hfab(self.conv(x, "warmup.0"), "warmup.1", ups[0])
        for i in range(hp["down_blocks"]):
            h = self.hfab(self.erb(h, f"ERBs.{i}"), f"HFABs.{i}", ups[i + 1])
        h = self.conv(h, "lr_conv") + x
        out = F.pixel_shuffle(self.conv(h, "tail.0"), hp["scale"])
        if hp.get("bicubic_residual"):
            out = out + F.interpolate(
                inp, scale_factor=hp["scale"], mode="bicubic", align_corners=False
            )
        return out / self.range


def probe(clip):
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
         "stream=width,height,avg_frame_rate", "-of", "json", clip],
        check=True, capture_output=True, text=True,
    ).stdout
    stream = json.loads(out)["streams"][0]
    return stream["width"], stream["height"], stream["avg_frame_rate"]


def encoder_args(encoder):
    # the engine's offline defaults (crates/engine/src/media/encode.rs)
    if encoder == "libx264":
        return ["-c:v", "libx264", "-preset", "fast", "-crf", "20"]
    if encoder == "libx265":
        return ["-c:v", "libx265", "-preset", "fast", "-crf", "22",
                "-x265-params", "log-level=error"]
    sys.exit(f"unsupported encoder {encoder!r}: libx264 or libx265")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("clip")
    ap.add_argument("output")
    ap.add_argument("--model", required=True, help="model stem: STEM.json + STEM.safetensors")
    ap.add_argument("--encoder", default="libx264")
    args = ap.parse_args()

    model = Fmen(args.model)
    scale = model.hp["scale"]
    w, h, rate = probe(args.clip)
    start = time.perf_counter()
    decode = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-i", args.clip, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        stdout=subprocess.PIPE,
    )
    encode = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
         "-s", f"{w * scale}x{h * scale}", "-r", rate, "-i", "-",
         *encoder_args(args.encoder), "-pix_fmt", "yuv420p", args.output],
        stdin=subprocess.PIPE,
    )
    frames = 0
    frame_bytes = w * h * 3
    with torch.no_grad():
        while True:
            data = decode.stdout.read(frame_bytes)
            if len(data) < frame_bytes:
                break
            rgb = torch.frombuffer(bytearray(data), dtype=torch.uint8).view(h, w, 3)
            rgb = rgb.permute(2, 0, 1).unsqueeze(0).float() / 255.0
            out = model(rgb).clamp(0, 1).mul(255).round().byte()
            encode.stdin.write(out[0].permute(1, 2, 0).contiguous().numpy().tobytes())
            frames += 1
    encode.stdin.close()
    if decode.wait() != 0 or encode.wait() != 0:
        sys.exit(f"ffmpeg failed on {args.clip}")
    print(f"frames {frames} seconds {time.perf_counter() - start:.3f}")


if __name__ == "__main__":
    main()

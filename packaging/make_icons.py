#!/usr/bin/env python3
"""Draws StrongLive Studio's icon: the SVG (scalable) and PNGs at the hicolor sizes, from one
geometry, so every size shows the same picture: a coarse 4x4 block of pixels (the low-resolution
input) becoming a smooth gradient square (the super-resolved output), on a dark rounded tile.

    python3 packaging/make_icons.py   # rewrites packaging/icons/
"""
import os
from PIL import Image, ImageDraw

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "icons")
SIZES = [16, 32, 48, 64, 128, 256, 512]
TILE = "#1d2330"
COARSE = ["#2f6fb5", "#3f8fd0", "#5fb0e0", "#8fd0ea"]  # rows of the input block
ARROW = "#f0b43c"
SMOOTH = ("#3f8fd0", "#9fe0f0")  # top, bottom of the output square

# geometry in a 64-unit box
COARSE_BOX = (6, 22, 22, 38)   # 4x4 cells of 4 units
SMOOTH_BOX = (32, 17, 58, 43)
ARROW_PTS = [(24, 25.5), (30, 30), (24, 34.5)]


def svg():
    cells = []
    x0, y0, x1, _ = COARSE_BOX
    step = (x1 - x0) / 4
    for r in range(4):
        for c in range(4):
            colour = COARSE[(r + c) % 4]
            cells.append(
                f'<rect x="{x0 + c * step}" y="{y0 + r * step}" width="{step}" height="{step}" fill="{colour}"/>'
            )
    sx0, sy0, sx1, sy1 = SMOOTH_BOX
    arrow = " ".join(f"{x},{y}" for x, y in ARROW_PTS)
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64" viewBox="0 0 64 64">
  <defs><linearGradient id="sr" x1="0" y1="0" x2="0" y2="1">
    <stop offset="0" stop-color="{SMOOTH[0]}"/><stop offset="1" stop-color="{SMOOTH[1]}"/>
  </linearGradient></defs>
  <rect x="2" y="2" width="60" height="60" rx="12" fill="{TILE}"/>
  {''.join(cells)}
  <polygon points="{arrow}" fill="{ARROW}"/>
  <rect x="{sx0}" y="{sy0}" width="{sx1 - sx0}" height="{sy1 - sy0}" rx="3" fill="url(#sr)"/>
</svg>
"""


def png(size):
    k = size / 64
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle([2 * k, 2 * k, 62 * k - 1, 62 * k - 1], radius=12 * k, fill=TILE)
    x0, y0, x1, _ = COARSE_BOX
    step = (x1 - x0) / 4
    for r in range(4):
        for c in range(4):
            box = [(x0 + c * step) * k, (y0 + r * step) * k,
                   (x0 + (c + 1) * step) * k - 1, (y0 + (r + 1) * step) * k - 1]
            d.rectangle(box, fill=COARSE[(r + c) % 4])
    d.polygon([(x * k, y * k) for x, y in ARROW_PTS], fill=ARROW)
    sx0, sy0, sx1, sy1 = SMOOTH_BOX
    top, bottom = (Image.new("RGB", (1, 1), c).getpixel((0, 0)) for c in SMOOTH)
    height = max(1, round((sy1 - sy0) * k))
    for i in range(height):
        t = i / max(1, height - 1)
        colour = tuple(round(a + (b - a) * t) for a, b in zip(top, bottom))
        y = sy0 * k + i
        d.line([(sx0 * k, y), (sx1 * k - 1, y)], fill=colour)
    return img


def main():
    os.makedirs(HERE, exist_ok=True)
    with open(os.path.join(HERE, "stronglive-studio.svg"), "w") as f:
        f.write(svg())
    for size in SIZES:
        png(size).save(os.path.join(HERE, f"stronglive-studio-{size}.png"))


if __name__ == "__main__":
    main()

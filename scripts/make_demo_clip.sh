#!/usr/bin/env bash
# Rebuilds assets/demo-540p.mp4 (the studio's demo source) from a CC BY-SA 4.0 photo in Debian's
# lomiri-wallpapers package (fetched by scripts/fetch_data.sh): a slow pan and zoom, 8 s at 30 fps,
# 960x540, H.264 without B-frames and a key frame every second, like a phone's live stream.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${STRONGLIVE_DATA:-$HOME/.cache/stronglive/data}"
photo="$(find "$data/unpacked" -name Dragonfly_by_Bolly.jpg | head -1)"
[ -n "$photo" ] || { echo "run scripts/fetch_data.sh first (needs lomiri-wallpapers)"; exit 1; }
ffmpeg -v error -y -loop 1 -i "$photo" \
  -vf "scale=3840:-2,zoompan=z='1.15+0.0012*on':x='iw/2-(iw/zoom/2)+on*1.5':y='ih/2-(ih/zoom/2)':d=240:s=960x540:fps=30,format=yuv420p" \
  -frames:v 240 -c:v libx264 -preset slow -crf 24 -bf 0 -g 30 -movflags +faststart \
  -metadata title="StrongLive demo: Dragonfly by Bolly (CC BY-SA 4.0)" assets/demo-540p.mp4

#!/usr/bin/env bash
# Clips with exact ground truth for `stronglive bench --learn` (see README "Figures"): a 960x544
# window moving across held-out 4K photos of enlightenment-data (fetched by scripts/fetch_data.sh;
# never trained on), 30 fps, near-lossless H.264.
#   OUT/pan.mp4  10 s: one continuing scene (a slow pan over Mountain)
#   OUT/cut.mp4  10 s: a scene change at 5 s (Mountain's pan, then Red-Maple's)
set -euo pipefail
out="${1:?usage: make_learning_clips.sh OUT_DIR}"
data="${STRONGLIVE_DATA:-$HOME/.cache/stronglive/data}"
for p in Mountain Red-Maple; do
  [ -f "$data/eval/$p.png" ] || { echo "run scripts/fetch_data.sh first ($data/eval/$p.png missing)"; exit 1; }
done
mkdir -p "$out"
# pan SECONDS PHOTO X0 Y0 OUT: the window moves right 40 px and down 8 px a second.
pan() {
  ffmpeg -v error -y -loop 1 -framerate 30 -i "$data/eval/$2.png" \
    -vf "crop=960:544:x='$3+40*t':y='$4+8*t',format=yuv420p" -t "$1" \
    -c:v libx264 -crf 10 -preset medium -bf 0 -g 30 "$5"
}
pan 10 Mountain 1200 700 "$out/pan.mp4"
pan 5 Mountain 1200 700 "$out/.cut-a.mp4"
pan 5 Red-Maple 1400 800 "$out/.cut-b.mp4"
printf "file '%s'\nfile '%s'\n" "$out/.cut-a.mp4" "$out/.cut-b.mp4" > "$out/.cut.txt"
ffmpeg -v error -y -f concat -safe 0 -i "$out/.cut.txt" -c copy "$out/cut.mp4"
rm -f "$out/.cut-a.mp4" "$out/.cut-b.mp4" "$out/.cut.txt"
echo "made $out/pan.mp4 and $out/cut.mp4"

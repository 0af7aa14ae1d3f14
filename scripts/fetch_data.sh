#!/usr/bin/env bash
# Fetches the training and held-out evaluation photos from Debian packages (see README "Models")
# into $STRONGLIVE_DATA (default ~/.cache/stronglive/data):
#   train/*.png  ~38 camera photos, downscaled x2 (washes out JPEG artefacts), for training
#   val/*.png    2 of them set aside for validation during training
#   eval/*.png   the 14 held-out 3840x2160 photos of enlightenment-data (never trained on)
#   CREDITS.tsv  file, package, original path, license
# Idempotent: packages are downloaded once into data/debs; a second run only re-checks.
set -euo pipefail
SCRIPT_DIR="$(cd "$(dirname "$0")" && pwd)"

CACHE_DIR="${STRONGLIVE_CACHE:-$HOME/.cache/stronglive}"
DATA="${STRONGLIVE_DATA:-$CACHE_DIR/data}"
VENV="$CACHE_DIR/torch-venv"
PACKAGES=(plasma-workspace-wallpapers lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
          mate-backgrounds libjxl-testdata enlightenment-data)

if [ -f "$DATA/.complete" ]; then
  echo "fetch_data: $DATA already complete ($(ls "$DATA/train" | wc -l) train, $(ls "$DATA/eval" | wc -l) eval)"
  exit 0
fi
mkdir -p "$DATA/debs" "$DATA/unpacked"
cd "$DATA/debs"
for p in "${PACKAGES[@]}"; do
  if ! ls "$p"_*.deb >/dev/null 2>&1; then
    echo "fetch_data: downloading $p"
    # apt-get download drops privileges to _apt; a root-owned cache dir makes it warn, not fail
    apt-get download "$p" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
    ls "$p"_*.deb >/dev/null 2>&1 || { echo "fetch_data: could not download $p (run 'apt-get update'?)" >&2; exit 1; }
  fi
  [ -d "$DATA/unpacked/$p" ] || dpkg-deb -x "$p"_*.deb "$DATA/unpacked/$p"
done

"$VENV/bin/python" "$SCRIPT_DIR/prepare_photos.py" "$DATA"
touch "$DATA/.complete"

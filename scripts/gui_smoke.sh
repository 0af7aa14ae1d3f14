#!/usr/bin/env bash
# Opens the real studio window under a virtual X server (Mesa software Vulkan/GL), takes a
# screenshot and fails if the window did not come up or rendered nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${CARGO_TARGET_DIR:-target}/release/stronglive"
SHOTS="${CARGO_TARGET_DIR:-target}/screenshots"
mkdir -p "$SHOTS"
cargo build --release --locked --quiet
display=":$((90 + RANDOM % 100))"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp &
xvfb=$!
cleanup() { kill "$app" 2>/dev/null || true; kill "$xvfb" 2>/dev/null || true; }
trap cleanup EXIT
sleep 1
# Fresh settings so the screenshot shows the default layout.
export XDG_DATA_HOME="$SHOTS/xdg" XDG_CONFIG_HOME="$SHOTS/xdg"
DISPLAY="$display" "$BIN" gui > "$SHOTS/gui.log" 2>&1 &
app=$!
for _ in $(seq 1 40); do
  if DISPLAY="$display" xwininfo -root -tree 2>/dev/null | grep -q '"StrongLive Studio"'; then break; fi
  kill -0 "$app" 2>/dev/null || { echo "gui_smoke: the studio exited early:"; cat "$SHOTS/gui.log"; exit 1; }
  sleep 0.5
done
sleep 4   # first frames on a software renderer
DISPLAY="$display" import -window root "$SHOTS/studio.png"
colors=$(convert "$SHOTS/studio.png" -format %k info:)
kill -0 "$app" 2>/dev/null || { echo "gui_smoke: the studio exited:"; cat "$SHOTS/gui.log"; exit 1; }
if [ "$colors" -lt 8 ]; then
  echo "gui_smoke: screenshot has only $colors colours: window blank ($SHOTS/studio.png)"; exit 1
fi
echo "gui_smoke: studio window rendered ($colors colours), screenshot at $SHOTS/studio.png"

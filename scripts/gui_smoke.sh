#!/usr/bin/env bash
# Opens the real studio window under a virtual X server (Mesa software Vulkan/GL) twice: with the
# demo clip streaming through the live pipeline, and with a file queued in the Offline tab. Takes
# a screenshot of each (kept in $CARGO_TARGET_DIR/screenshots) and fails if the window did not
# come up, exited, or shows no picture.
# Runs the binary the tests built (STRONGLIVE_BIN, else the release build): it never builds.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${STRONGLIVE_BIN:-${CARGO_TARGET_DIR:-target}/release/stronglive}"
SHOTS="${CARGO_TARGET_DIR:-target}/screenshots"
[ -x "$BIN" ] || { echo "gui_smoke: $BIN not built (make build, or make test)"; exit 1; }
mkdir -p "$SHOTS"
# One X server for the whole script. -displayfd: the server picks a free display and writes its
# number once it accepts clients (no guessed number, no sleep); -noreset: it stays up when its
# last client (the first studio) exits, instead of resetting while the next one connects.
Xvfb -displayfd 3 -noreset -screen 0 1280x800x24 -nolisten tcp 3>"$SHOTS/xvfb.display" \
  2>"$SHOTS/xvfb.log" &
xvfb=$!
app=""
cleanup() { if [ -n "$app" ]; then kill "$app" 2>/dev/null || true; fi; kill "$xvfb" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 100); do
  [ -s "$SHOTS/xvfb.display" ] && break
  kill -0 "$xvfb" 2>/dev/null || { echo "gui_smoke: Xvfb died before accepting clients:"; cat "$SHOTS/xvfb.log"; exit 1; }
  sleep 0.1
done
[ -s "$SHOTS/xvfb.display" ] || { echo "gui_smoke: Xvfb gave no display within 10 s:"; cat "$SHOTS/xvfb.log"; exit 1; }
display=":$(head -1 "$SHOTS/xvfb.display")"
# xvfb_alive NAME: a clear message (and the server's log) if the X server is gone.
xvfb_alive() {
  kill -0 "$xvfb" 2>/dev/null || { echo "gui_smoke: $1: the X server ($display) died:"; cat "$SHOTS/xvfb.log"; exit 1; }
}
# Fresh settings and pairing state so the screenshots show the default layout.
export XDG_DATA_HOME="$SHOTS/xdg" XDG_CONFIG_HOME="$SHOTS/xdg" STRONGLIVE_CONFIG_DIR="$SHOTS/xdg/stronglive"
rm -rf "$SHOTS/xdg"

# shot NAME SECONDS MIN_COLOURS TITLE ARGS...: run the studio, wait, screenshot, check the
# window title contains TITLE and the picture has MIN_COLOURS colours, close.
shot() {
  local name="$1" wait="$2" min_colours="$3" title="$4"
  shift 4
  xvfb_alive "$name"
  DISPLAY="$display" "$BIN" gui "$@" > "$SHOTS/$name.log" 2>&1 &
  app=$!
  for _ in $(seq 1 40); do
    if DISPLAY="$display" xwininfo -root -tree 2>/dev/null | grep -q '"StrongLive Studio"'; then break; fi
    kill -0 "$app" 2>/dev/null || { xvfb_alive "$name"; echo "gui_smoke: $name: the studio exited early:"; cat "$SHOTS/$name.log"; exit 1; }
    sleep 0.5
  done
  sleep "$wait"
  DISPLAY="$display" import -window root "$SHOTS/$name.png"
  local titles
  titles=$(DISPLAY="$display" xwininfo -root -tree 2>/dev/null | grep -o '"StrongLive Studio[^"]*"' || true)
  if ! grep -qF "$title" <<<"$titles"; then
    echo "gui_smoke: $name: no window titled with '$title' (windows: ${titles:-none})"; exit 1
  fi
  kill -0 "$app" 2>/dev/null || { echo "gui_smoke: the studio exited:"; cat "$SHOTS/$name.log"; exit 1; }
  kill "$app"; wait "$app" 2>/dev/null || true; app=""
  local colours
  colours=$(convert "$SHOTS/$name.png" -format %k info:)
  if [ "$colours" -lt "$min_colours" ]; then
    echo "gui_smoke: $name has only $colours colours (< $min_colours): no picture ($SHOTS/$name.png)"; exit 1
  fi
  echo "gui_smoke: $name rendered ($colours colours), screenshot at $SHOTS/$name.png"
}

# The demo photo through SR fills both views with thousands of colours; the bare UI has a few hundred.
shot studio-demo 20 2000 "StrongLive Studio" --demo
clip="$SHOTS/queued.mp4"
# long enough to be still running when the screenshot is taken
ffmpeg -v error -y -f lavfi -i testsrc2=size=320x180:rate=10:duration=30 -pix_fmt yuv420p "$clip"
# The Offline tab with the file queued or running: the title names it; text and widgets give
# a few hundred colours (a blank or black window has a handful).
shot studio-offline 8 200 "queued.mp4" "$clip"

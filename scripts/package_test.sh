#!/usr/bin/env bash
# The desktop install, tested the way a user meets it (part of `make test`): install into a
# temporary prefix, check the installed binary needs neither the source tree's virtualenv nor
# libtorch_cuda, validate the desktop entry and AppStream metainfo, check that MP4s open with
# the entry, launch the entry on an MP4 as a file manager does (`gio launch`) under a virtual X
# server, and see the window name the queued file and the job write its output; then build the
# .deb and check its metadata and contents.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "package_test: $*" >&2; exit 1; }
work=$(mktemp -d)
display=":$((200 + RANDOM % 100))"
xvfb=""; app=""
cleanup() {
  if [ -n "$app" ]; then kill "$app" 2>/dev/null || true; fi
  if [ -n "$xvfb" ]; then kill "$xvfb" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
prefix="$work/prefix"
export XDG_DATA_HOME="$prefix/share" XDG_CONFIG_HOME="$work/config" XDG_DATA_DIRS="$prefix/share:/usr/share"
export STRONGLIVE_CONFIG_DIR="$work/config/stronglive"
mkdir -p "$XDG_CONFIG_HOME"

./packaging/install.sh "$prefix"
bin="$prefix/bin/stronglive"

# no path into the build: libraries resolve inside the prefix, libtorch_cuda is gone
libs=$(ldd "$bin")
if grep -q "not found" <<<"$libs"; then fail "unresolved libraries: $(grep 'not found' <<<"$libs")"; fi
if grep -q "torch-venv\|libtorch_cuda" <<<"$libs"; then fail "the installed binary still uses the build's libtorch: $libs"; fi
grep -q "$prefix/bin/../lib/stronglive/libtorch_cpu.so" <<<"$libs" || fail "libtorch_cpu not from the prefix: $libs"
# ... and runs with the virtualenv off the environment, finding the installed models
models=$(env -i HOME="$work" PATH=/usr/bin:/bin "$bin" models)
grep -q "fmen-tiny-x4 .*$prefix/bin/../share/stronglive/models/fmen-tiny-x4" <<<"$models" || fail "models not found in the prefix: $models"

desktop="$prefix/share/applications/studio.stronglive.Studio.desktop"
desktop-file-validate "$desktop"
appstreamcli validate --no-net "$prefix/share/metainfo/studio.stronglive.Studio.metainfo.xml" >/dev/null
[ -f "$prefix/share/icons/hicolor/scalable/apps/stronglive-studio.svg" ] || fail "no scalable icon"
[ -f "$prefix/share/icons/hicolor/256x256/apps/stronglive-studio.png" ] || fail "no 256 px icon"
default=$(xdg-mime query default video/mp4)
[ "$default" = "studio.stronglive.Studio.desktop" ] || fail "video/mp4 opens with '$default', not our entry"

# "Open with StrongLive Studio" on an MP4: the studio opens with it queued and upscales it
clip="$work/holiday clip.mp4"
ffmpeg -v error -y -f lavfi -i testsrc2=size=320x180:rate=10:duration=8 -pix_fmt yuv420p "$clip"
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp &
xvfb=$!
sleep 1
DISPLAY="$display" env -u VIRTUAL_ENV gio launch "$desktop" "$clip"
for _ in $(seq 1 60); do
  app=$(pgrep -f "^$bin gui" | head -1 || true)
  titles=$(DISPLAY="$display" xwininfo -root -tree 2>/dev/null | grep -o '"StrongLive Studio[^"]*"' || true)
  if grep -q 'holiday clip.mp4' <<<"$titles"; then break; fi
  sleep 0.5
done
grep -q 'holiday clip.mp4' <<<"$titles" || fail "no window names the file; windows: ${titles:-none}"
DISPLAY="$display" import -window root "$work/launched.png"
out="$work/holiday clip_x4.mp4"
for _ in $(seq 1 240); do [ -f "$out" ] && break; sleep 0.5; done
[ -f "$out" ] || fail "the launched studio wrote no $out"
frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$out")
[ "$frames" = "80" ] || fail "$out has $frames frames, not 80"
kill "$app"; app=""
echo "package_test: installed entry opened the MP4 ($titles), wrote $frames frames"

# the Debian package
./packaging/make_deb.sh
deb=$(ls -t "${CARGO_TARGET_DIR:-target}"/deb/stronglive-studio_*_amd64.deb | head -1)
info=$(dpkg-deb --info "$deb")
grep -q "Package: stronglive-studio" <<<"$info" || fail "deb metadata: $info"
grep -q "Depends:.*libavcodec59" <<<"$info" || fail "deb does not depend on FFmpeg: $info"
contents=$(dpkg-deb --contents "$deb")
for path in ./usr/bin/stronglive ./usr/lib/stronglive/libtorch_cpu.so \
  ./usr/share/stronglive/models/fmen-tiny-x4.safetensors \
  ./usr/share/applications/studio.stronglive.Studio.desktop \
  ./usr/share/metainfo/studio.stronglive.Studio.metainfo.xml \
  ./usr/share/icons/hicolor/scalable/apps/stronglive-studio.svg; do
  grep -q " $path\$" <<<"$contents" || fail "$deb lacks $path"
done
dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/share/applications/studio.stronglive.Studio.desktop \
  | grep -q "^Exec=/usr/bin/stronglive gui %F$" || fail "the deb's entry does not run /usr/bin/stronglive"
echo "package_test: $deb ($(du -h "$deb" | cut -f1)) checked"

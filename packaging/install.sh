#!/usr/bin/env bash
# `make install`: the built studio into PREFIX (default ~/.local) so it starts from the
# application menu and opens MP4s from a file manager, without the source tree or the build's
# virtualenv:
#   PREFIX/bin/stronglive                      the binary, its library path set to ../lib/stronglive
#   PREFIX/lib/stronglive/                     the CPU part of libtorch it needs (~465 MB)
#   PREFIX/share/stronglive/models/            the shipped models (found beside the binary)
#   PREFIX/share/applications/studio.stronglive.Studio.desktop   "Open with" for video files
#   PREFIX/share/icons/hicolor/*/apps/stronglive-studio.{svg,png}
#   PREFIX/share/metainfo/studio.stronglive.Studio.metainfo.xml
# and makes the entry the default application for MP4 (xdg-mime, the user's mimeapps.list).
#
# The deliberate choice about libtorch: the package is CPU-only. The build links libtorch_cuda
# so that CUDA is visible when present; bundling it would add its 456 MB plus 2.7 GB of CUDA
# runtime. Here that dependency is removed from the installed copy (patchelf), so it starts on
# any x86-64 Linux with FFmpeg 5.1; for CUDA run the studio from the source tree (`make run`).
#
# Usage: packaging/install.sh [--uninstall] [PREFIX]
#   BIN=path/to/stronglive installs another build; DESTDIR=dir stages the files under dir (for
#   packages: paths inside name PREFIX, nothing is registered for the user).
set -euo pipefail
cd "$(dirname "$0")/.."
uninstall=false
if [ "${1:-}" = "--uninstall" ]; then uninstall=true; shift; fi
PREFIX="${1:-${PREFIX:-$HOME/.local}}"
DESTDIR="${DESTDIR:-}"
BIN="${BIN:-${CARGO_TARGET_DIR:-target}/release/stronglive}"
root="$DESTDIR$PREFIX"
if $uninstall; then
  rm -rf "$root/lib/stronglive" "$root/share/stronglive"
  rm -f "$root/bin/stronglive" "$root/share/applications/studio.stronglive.Studio.desktop" \
    "$root/share/metainfo/studio.stronglive.Studio.metainfo.xml" \
    "$root"/share/icons/hicolor/*/apps/stronglive-studio.*
  if command -v update-desktop-database >/dev/null; then update-desktop-database "$root/share/applications" || true; fi
  echo "removed StrongLive Studio from $root (user models in ~/.local/share/stronglive/models are kept)"
  exit 0
fi
[ -x "$BIN" ] || { echo "install: $BIN not found: run make build first" >&2; exit 1; }
command -v patchelf >/dev/null || { echo "install: patchelf is missing (make setup installs it)" >&2; exit 1; }
torch_lib=$(python3 -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
cuda_lib="$torch_lib/../../nvidia/cu13/lib"

libdir="$root/lib/stronglive"
share="$root/share"
install -d "$root/bin" "$libdir" "$share/stronglive/models" "$share/applications" \
  "$share/metainfo" "$share/icons/hicolor/scalable/apps"

# libtorch's CPU library, what it links (c10, its OpenMP, and the CUDA runtime/profiler stubs
# its profiler references; they load without a GPU), found through their own $ORIGIN rpath
for lib in "$torch_lib/libtorch_cpu.so" "$torch_lib/libc10.so" "$torch_lib/libgomp.so.1" \
  "$cuda_lib/libcudart.so.13" "$cuda_lib/libcupti.so.13"; do
  install -m 644 "$lib" "$libdir/"
done
# written under a temporary name and renamed: a failed install never leaves half a binary
tmp_bin="$root/bin/.stronglive.installing"
install -m 755 "$BIN" "$tmp_bin"
strip --strip-debug "$tmp_bin"
patchelf --remove-needed libtorch_cuda.so --set-rpath '$ORIGIN/../lib/stronglive' "$tmp_bin"
mv -f "$tmp_bin" "$root/bin/stronglive"

install -m 644 models/*.json models/*.safetensors "$share/stronglive/models/"
# the entry names the installed binary, so it works without PREFIX/bin on PATH
sed "s|^Exec=stronglive |Exec=$PREFIX/bin/stronglive |" packaging/studio.stronglive.Studio.desktop \
  > "$share/applications/studio.stronglive.Studio.desktop"
install -m 644 packaging/studio.stronglive.Studio.metainfo.xml "$share/metainfo/"
install -m 644 packaging/icons/stronglive-studio.svg "$share/icons/hicolor/scalable/apps/"
for png in packaging/icons/stronglive-studio-*.png; do
  size=$(basename "$png" .png); size=${size##*-}
  install -d "$share/icons/hicolor/${size}x${size}/apps"
  install -m 644 "$png" "$share/icons/hicolor/${size}x${size}/apps/stronglive-studio.png"
done

size=$(du -sh "$root/bin/stronglive" "$libdir" "$share/stronglive" | awk '{print $1}' | paste -sd+)
if [ -n "$DESTDIR" ]; then
  echo "staged StrongLive Studio for $PREFIX under $DESTDIR (binary + libtorch CPU + models: $size)"
  exit 0
fi
if command -v update-desktop-database >/dev/null; then
  update-desktop-database "$share/applications"
fi
if command -v xdg-mime >/dev/null; then
  for type in video/mp4 video/quicktime video/x-matroska video/webm; do
    xdg-mime default studio.stronglive.Studio.desktop "$type"
  done
fi
echo "installed StrongLive Studio into $PREFIX (binary + libtorch CPU + models: $size)"

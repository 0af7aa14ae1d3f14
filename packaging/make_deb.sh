#!/usr/bin/env bash
# `make deb`: a Debian package of what `make install` installs, under /usr: the binary (CPU-only,
# relinked to its bundled share of libtorch in /usr/lib/stronglive), the shipped models, the
# desktop entry, icons and AppStream metainfo. Depends on Debian 12's FFmpeg 5.1 libraries; the
# desktop database and MIME cache are refreshed on install. Written to
# $CARGO_TARGET_DIR/deb/stronglive-studio_VERSION_amd64.deb.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${CARGO_TARGET_DIR:-target}/deb"
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
DESTDIR="$stage" ./packaging/install.sh /usr >/dev/null
installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat > "$stage/DEBIAN/control" <<CONTROL
Package: stronglive-studio
Version: $version
Architecture: amd64
Maintainer: StrongLive Studio <studio@stronglive.invalid>
Installed-Size: $installed_kb
Depends: libc6, libstdc++6, libgcc-s1, libavcodec59, libavformat59, libavutil57, libavfilter8, libavdevice59, libswscale6, libswresample4, libxkbcommon-x11-0, libvulkan1 | libgl1
Recommends: mesa-vulkan-drivers
Section: video
Priority: optional
Homepage: https://stronglive.invalid/
Description: turn low-resolution video into 4K with neural super-resolution
 StrongLive Studio upscales video x4 offline from files (a queue keeping audio,
 subtitles, timestamps and colour) and live from a phone over the LAN, and
 learns from the content while it streams. This package runs super-resolution
 on the CPU (it bundles libtorch's CPU library); CUDA needs the source build.
CONTROL
cat > "$stage/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if command -v update-desktop-database >/dev/null; then update-desktop-database -q /usr/share/applications || true; fi
if command -v gtk-update-icon-cache >/dev/null; then gtk-update-icon-cache -q /usr/share/icons/hicolor || true; fi
POSTINST
chmod 755 "$stage/DEBIAN/postinst"
cp "$stage/DEBIAN/postinst" "$stage/DEBIAN/postrm"
deb="$out/stronglive-studio_${version}_amd64.deb"
# gzip level 1: the package is mostly libtorch, which compresses little and slowly
dpkg-deb --root-owner-group -Zgzip -z1 --build "$stage" "$deb" >/dev/null
rm -rf "$stage"
echo "built $deb ($(du -h "$deb" | cut -f1); $((installed_kb / 1024)) MB installed)"

#!/usr/bin/env bash
# Installs everything StrongLive Studio needs on a fresh Debian 12 machine that has only Rust.
# Idempotent: every step checks first, so a second run costs a few seconds.
set -euo pipefail

CACHE_DIR="${STRONGLIVE_CACHE:-$HOME/.cache/stronglive}"
VENV="$CACHE_DIR/torch-venv"
TORCH_VERSION="2.11.0"

APT_PACKAGES=(
  # FFmpeg 5.1 development libraries for ffmpeg-next, and the CLI used by tests to make clips
  libavcodec-dev libavformat-dev libavutil-dev libavfilter-dev libavdevice-dev
  libswscale-dev libswresample-dev ffmpeg
  # bindgen (ffmpeg-sys-next) needs libclang
  clang libclang-dev pkg-config
  # the window: winit on X11/Wayland, wgpu on Vulkan/GL (Mesa software renderers for headless tests)
  libxkbcommon-x11-0 libxcursor1 libxrandr2 libxi6 libx11-xcb1 libwayland-client0
  libvulkan1 mesa-vulkan-drivers libgl1-mesa-dri libegl1 libgl1
  # headless GUI tests: a virtual X server and a screenshot tool
  xvfb x11-utils imagemagick
  # the Android companion without Gradle (android-companion/build.sh): JDK, Debian's Android
  # build tools and framework resources, JUnit 4 for the JVM tests
  openjdk-17-jdk-headless aapt zipalign apksigner android-framework-res junit4
  # desktop install (packaging/install.sh and its test): relinking the installed binary, the
  # desktop entry's validation and MIME registration, AppStream validation, launching an entry
  patchelf desktop-file-utils xdg-utils appstream libglib2.0-bin
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# libtorch from PyPI's torch wheel, in a virtualenv outside the clone so every clone shares it.
if ! "$VENV/bin/python" -c "import torch,sys,PIL; sys.exit(torch.__version__.split('+')[0] != '$TORCH_VERSION')" 2>/dev/null; then
  echo "setup: installing torch==$TORCH_VERSION into $VENV (about 4.7 GB, once)"
  mkdir -p "$CACHE_DIR"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q "torch==$TORCH_VERSION" numpy safetensors pillow
fi

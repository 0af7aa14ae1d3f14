#!/usr/bin/env bash
# Builds and tests the Android companion with Debian's tools (no Gradle, no Android SDK
# download): JVM unit tests of the protocol code against docs/protocol-golden.txt, the JVM
# interop test against the real `stronglive serve`, then a signed debug APK checked with
# `apksigner verify` and `aapt dump badging`. Android Studio users open this folder with Gradle
# instead (build.gradle.kts); both build the same sources.
#
# Inputs: ../shared/android-sdk/*.deb (android.jar API 23 and dx, checksums pinned below),
# apt packages aapt zipalign apksigner junit4 android-framework-res openjdk-17-jdk-headless
# (scripts/setup.sh installs them). Output: $OUT/stronglive-companion-debug.apk.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
sdk="${STRONGLIVE_ANDROID_SDK:-$repo/../shared/android-sdk}"
cache="${STRONGLIVE_CACHE:-$HOME/.cache/stronglive}/android"
OUT="${OUT:-${CARGO_TARGET_DIR:-$repo/target}/android}"
BIN="${STRONGLIVE_BIN:-${CARGO_TARGET_DIR:-$repo/target}/release/stronglive}"
rm -rf "$OUT" && mkdir -p "$OUT" "$cache"

# --- the two bullseye packages, checked against pinned sums, unpacked once --------------------
declare -A pinned=(
  [libandroid-23-java_6.0.1+r72-6_all.deb]=8af1b6df556971dda0a6da3536ea526a838e0c363afcdd454213d8bce94793e3
  [dalvik-exchange_10.0.0+r36-1_all.deb]=8fc128db7c27253d963eb9b33de79b197162a4749d2ba69019b2fd0664cbd7fe
)
for deb in "${!pinned[@]}"; do
  [ -f "$sdk/$deb" ] || { echo "android: $sdk/$deb is missing (see ../shared/android-sdk/README.md)"; exit 1; }
  echo "${pinned[$deb]}  $sdk/$deb" | sha256sum --check --quiet || { echo "android: $deb checksum mismatch"; exit 1; }
  [ -d "$cache/${deb%.deb}" ] || dpkg-deb -x "$sdk/$deb" "$cache/${deb%.deb}"
done
android_jar="$cache/libandroid-23-java_6.0.1+r72-6_all/usr/share/java/com.android.android-23.jar"
dx_jar="$cache/dalvik-exchange_10.0.0+r36-1_all/usr/share/java/com.android.dx-10.0.0.jar"
framework_res=/usr/share/android-framework-res/framework-res.apk
junit="/usr/share/java/junit4.jar:/usr/share/java/hamcrest-core.jar"
for f in "$android_jar" "$dx_jar" "$framework_res" /usr/share/java/junit4.jar; do
  [ -f "$f" ] || { echo "android: $f missing (run scripts/setup.sh)"; exit 1; }
done

src="$here/app/src/main/java"
protocol_sources=$(find "$src/studio/stronglive/companion/protocol" "$src/studio/stronglive/companion/session" "$src/studio/stronglive/companion/patches" -name '*.java')

# --- JVM: the plain-Java code (protocol, session control, patches; no android.*) and its tests
echo "android: JVM tests of the protocol code"
mkdir -p "$OUT/jvm" "$OUT/interop"
javac -d "$OUT/jvm" -cp "$junit" $protocol_sources $(find "$here/app/src/test/java" -name '*.java')
[ -x "$BIN" ] || { echo "android: $BIN not built (cargo build --release)"; exit 1; }
ffmpeg -v error -y -f lavfi -i testsrc2=size=160x90:rate=10:duration=3 -c:v libx264 -bf 0 -g 10 \
  -pix_fmt yuv420p -f h264 "$OUT/interop/test.h264"
java -cp "$OUT/jvm:$junit" -Dgolden="$repo/docs/protocol-golden.txt" -Dstronglive.bin="$BIN" \
  -Dh264="$OUT/interop/test.h264" org.junit.runner.JUnitCore \
  studio.stronglive.companion.protocol.ProtocolTest studio.stronglive.companion.protocol.InteropTest \
  studio.stronglive.companion.session.SessionControllerTest studio.stronglive.companion.session.SizesTest \
  studio.stronglive.companion.patches.PatchesTest studio.stronglive.companion.protocol.ClientCloseTest \
  studio.stronglive.companion.protocol.ClientHandshakeTest

# --- APK ---------------------------------------------------------------------------------------
echo "android: building the APK"
app="$here/app/src/main"
mkdir -p "$OUT/gen" "$OUT/classes"
aapt package -f -m -J "$OUT/gen" -M "$app/AndroidManifest.xml" -S "$app/res" -I "$framework_res"
javac -source 8 -target 8 -nowarn -Xlint:-options -bootclasspath "$android_jar" -d "$OUT/classes" \
  $(find "$src" "$OUT/gen" -name '*.java')
java -jar "$dx_jar" --dex --min-sdk-version=23 --output="$OUT/classes.dex" "$OUT/classes"
aapt package -f -M "$app/AndroidManifest.xml" -S "$app/res" -I "$framework_res" -F "$OUT/unsigned.apk"
(cd "$OUT" && aapt add unsigned.apk classes.dex >/dev/null)
zipalign -f -p 4 "$OUT/unsigned.apk" "$OUT/aligned.apk"
keystore="$cache/debug.keystore"
[ -f "$keystore" ] || keytool -genkeypair -keystore "$keystore" -storepass android -keypass android \
  -alias androiddebugkey -dname "CN=Android Debug,O=Android,C=US" -keyalg RSA -keysize 2048 -validity 10000 >/dev/null 2>&1
apk="$OUT/stronglive-companion-debug.apk"
apksigner sign --ks "$keystore" --ks-pass pass:android --key-pass pass:android --out "$apk" "$OUT/aligned.apk"
apksigner verify "$apk"

# --- what the APK declares -------------------------------------------------------------------
badging="$(aapt dump badging "$apk")"
manifest="$(aapt dump xmltree "$apk" AndroidManifest.xml)"
check() { grep -q -- "$2" <<<"$1" || { echo "android: APK check failed: no $3"; echo "$1" | head -40; exit 1; }; }
check "$badging" "package: name='studio.stronglive.companion'" "package name"
check "$badging" "sdkVersion:'23'" "minSdkVersion 23"
check "$badging" "targetSdkVersion:'34'" "targetSdkVersion 34"
check "$badging" "uses-permission: name='android.permission.CAMERA'" "CAMERA permission"
check "$badging" "uses-permission: name='android.permission.INTERNET'" "INTERNET permission"
check "$badging" "uses-permission: name='android.permission.ACCESS_NETWORK_STATE'" "ACCESS_NETWORK_STATE permission (Wi-Fi binding)"
check "$manifest" 'android:screenOrientation(0x0101001e)=(type 0x10)0x0' "landscape lock"
check "$badging" "launchable-activity: name='studio.stronglive.companion.MainActivity'" "launcher activity"
check "$manifest" 'android:scheme(0x01010027)="stronglive"' "stronglive:// deep link"
check "$manifest" 'android:host(0x01010028)="pair"' "pair host in the deep link"
echo "android: $apk ($(stat -c %s "$apk") bytes) signed, verified; badging and deep link checked"

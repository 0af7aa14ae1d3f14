#!/usr/bin/env bash
# Runs a chunked upscale on this machine the way the cluster recipes do (packaging/k8s: an
# Indexed Job; packaging/slurm: an array job): N processes, each told its index only through
# the environment (JOB_COMPLETION_INDEX, as Kubernetes sets it), writing its part into one
# shared folder; then the join.
# Usage: scripts/cluster_local.sh IN OUT N [upscale options...]
#   e.g. scripts/cluster_local.sh long.mp4 long_x4.mp4 4 --model fmen-tiny-x4
# STRONGLIVE_BIN names the binary (default: stronglive on PATH, else the build's).
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,9p' "$0"; exit 2; }
in="$1" out="$2" n="$3"
shift 3
bin="${STRONGLIVE_BIN:-$(command -v stronglive || echo "${CARGO_TARGET_DIR:-$(dirname "$0")/../target}/release/stronglive")}"
shared="$(mktemp -d)"
trap 'rm -rf "$shared"' EXIT
pids=()
for ((i = 0; i < n; i++)); do
    JOB_COMPLETION_INDEX=$i "$bin" upscale "$in" --chunk "auto/$n" -o "$shared/part-$i.mp4" "$@" \
        > "$shared/log-$i.txt" 2>&1 &
    pids+=($!)
done
failed=0
for ((i = 0; i < n; i++)); do
    if ! wait "${pids[$i]}"; then
        echo "cluster_local: chunk $i failed:"; cat "$shared/log-$i.txt"; failed=1
    fi
done
[ $failed -eq 0 ] || exit 1
parts=()
for ((i = 0; i < n; i++)); do parts+=("$shared/part-$i.mp4"); done
"$bin" concat "${parts[@]}" -o "$out" --source "$in"

#!/usr/bin/env bash
# Puts Mesa 25's lavapipe (a Vulkan driver on the CPU) in a private folder, so the WebGPU backend (Dawn, npm `webgpu`)
# finds a software adapter on a machine without a GPU: CI and the GPU tests use it. Debian 12's own Mesa 22 is too old
# for Dawn. Nothing system-wide changes: the bookworm-backports packages are fetched with a private apt state and only
# unpacked (not installed). The engine finds it in the default folder (or $BNAS_LAVAPIPE_DIR) by itself and adds it
# to the Vulkan drivers with VK_ADD_DRIVER_FILES (src/main/engine/webgpu/gpu.ts), so a real GPU is not hidden.
#
#   scripts/setup-lavapipe.sh [DIR]      (default: $BNAS_LAVAPIPE_DIR or ~/.cache/bnas-studio/lavapipe)
#
# Needs (from Debian 12 itself): libvulkan1 (the Vulkan loader) and libllvm15 (lavapipe's JIT); .ci/run installs both.
set -euo pipefail
DIR="${1:-${BNAS_LAVAPIPE_DIR:-$HOME/.cache/bnas-studio/lavapipe}}"
ICD="$DIR/lvp_icd.json"
if [ -f "$ICD" ]; then
  echo "lavapipe already in $DIR"
  exit 0
fi
for tool in apt-get dpkg-deb; do
  command -v "$tool" >/dev/null || { echo "setup-lavapipe: needs $tool (Debian or Ubuntu)" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/archives/partial" "$work/debs"
echo 'deb http://deb.debian.org/debian bookworm-backports main' >"$work/sources.list"
# A private apt: its own source list, package lists and cache; the system's apt state is not touched.
apt_private=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-" \
  -o "Dir::State::Lists=$work/lists" -o "Dir::Cache::Archives=$work/archives" \
  -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Sandbox::User=root")
apt-get "${apt_private[@]}" update -qq
(cd "$work/debs" && apt-get "${apt_private[@]}" download -qq mesa-vulkan-drivers)

mkdir -p "$DIR"
for deb in "$work"/debs/*.deb; do dpkg-deb -x "$deb" "$work/root"; done
lib="$work/root/usr/lib/x86_64-linux-gnu"
cp "$lib/libvulkan_lvp.so" "$DIR/"
# The loader resolves a bare library name on the system path; point the manifest at our copy instead.
sed "s#\"library_path\": *\"[^\"]*\"#\"library_path\": \"$DIR/libvulkan_lvp.so\"#" \
  "$work/root/usr/share/vulkan/icd.d/lvp_icd.json" >"$ICD.tmp"
mv "$ICD.tmp" "$ICD"
echo "lavapipe (Mesa $(dpkg-deb -f "$work"/debs/mesa-vulkan-drivers_*.deb Version)) in $DIR"
echo "the engine finds it there; for other Vulkan programs: export VK_ADD_DRIVER_FILES=$ICD"

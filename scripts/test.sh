#!/usr/bin/env bash
# Runs every test of codetable on a fresh machine: installs what is missing (the software
# Vulkan device for the GPU kernels' tests among it), builds once in
# release mode (the same artifacts serve the tests, the benches' compile check and the
# CLI), then runs formatting, lint and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v unzip >/dev/null || need+=(unzip)
command -v mkfifo >/dev/null || need+=(coreutils)
command -v setpriv >/dev/null || need+=(util-linux)
command -v git >/dev/null || need+=(git)
command -v curl >/dev/null || need+=(curl ca-certificates)
command -v npm >/dev/null || need+=(npm)
# The GPU kernels' tests run on Mesa's software Vulkan device (lavapipe) where there is no
# GPU: its driver and the Vulkan loader.
ls /usr/share/vulkan/icd.d/lvp_icd.*.json >/dev/null 2>&1 || need+=(mesa-vulkan-drivers)
ldconfig -p | grep -q 'libvulkan\.so\.1' || need+=(libvulkan1)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
rustup component add rustfmt clippy >/dev/null 2>&1 || true

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --release --workspace --all-targets --locked -- -D warnings
echo "== cargo build (benches included)"
cargo build --release --workspace --all-targets --locked
echo "== cargo test"
cargo test --release --workspace --locked

#!/usr/bin/env bash
# Builds the static (musl) release binary that the container image ships. The Dockerfile runs this script, and so does
# tests/install_image.rs, so that the test checks the very build the image gets.
#
#   tests/tools/build-static.sh [OUT]     # default OUT: ~/.cache/flowlog-operator/static/flowlog-operator
#   FLOWLOG_STATIC_TARGET_DIR=/path ...   # cargo target dir (default: ~/.cache/flowlog-operator/static/target)
#
# Prints OUT on stdout (last line). Needs the rustup target <arch>-unknown-linux-musl and musl-gcc (Debian:
# musl-tools): aws-lc-sys, rustls' crypto provider, compiles C code for the target. It uses its `cc` builder on
# x86_64/aarch64 (cmake only with AWS_LC_SYS_CMAKE_BUILDER=1). tests/tools/install-musl.sh installs both.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE_ROOT="${FLOWLOG_ENVTEST_CACHE:-$HOME/.cache/flowlog-operator}"
OUT="${1:-$CACHE_ROOT/static/flowlog-operator}"
TARGET_DIR="${FLOWLOG_STATIC_TARGET_DIR:-$CACHE_ROOT/static/target}"

log() { echo "[build-static] $*" >&2; }
die() { log "error: $*"; exit 1; }

arch=$(uname -m)
case "$arch" in
  x86_64|aarch64) ;;
  arm64) arch=aarch64 ;;
  *) die "unsupported architecture $arch (x86_64 and aarch64 are)" ;;
esac
target="$arch-unknown-linux-musl"
cc_var="CC_${arch}_unknown_linux_musl"
export "$cc_var=${!cc_var:-musl-gcc}"
command -v "${!cc_var}" >/dev/null || die "${!cc_var} not found: install musl-tools (tests/tools/install-musl.sh)"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx "$target"; then
  die "Rust target $target missing: rustup target add $target (tests/tools/install-musl.sh)"
fi

# Release profile as Cargo.toml has it, plus stripped symbols (the image carries no debugger). Rust's musl targets
# link statically by default (crt-static), so the result needs no libc and no loader.
export CARGO_PROFILE_RELEASE_STRIP=symbols
t0=$SECONDS
log "cargo build --release --locked --target $target (cold: ~7 min on 2 cores; incremental afterwards)"
(cd "$ROOT" && cargo build --release --locked --target "$target" --bin flowlog-operator --target-dir "$TARGET_DIR")
mkdir -p "$(dirname "$OUT")"
cp "$TARGET_DIR/$target/release/flowlog-operator" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "built $OUT ($(wc -c < "$OUT") bytes) in $((SECONDS - t0)) s"
echo "$OUT"

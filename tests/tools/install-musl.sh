#!/usr/bin/env bash
# Installs what tests/tools/build-static.sh needs, when missing: the Rust target <arch>-unknown-linux-musl (rustup)
# and musl-gcc (Debian package musl-tools; needs root and apt). Idempotent; prints nothing on stdout.
set -euo pipefail
log() { echo "[install-musl] $*" >&2; }
arch=$(uname -m); [ "$arch" != arm64 ] || arch=aarch64
target="$arch-unknown-linux-musl"
if ! rustup target list --installed | grep -qx "$target"; then
  log "rustup target add $target"
  rustup target add "$target" >&2
fi
if ! command -v musl-gcc >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "apt-get install musl-tools"
    # A lock keeps two test binaries from running apt at once.
    exec 9>/tmp/flowlog-install-musl.lock
    command -v flock >/dev/null && flock 9
    command -v musl-gcc >/dev/null || {
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >&2 \
        || { apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq musl-tools >&2; }
    }
  else
    log "musl-gcc missing: install musl-tools (Debian/Ubuntu: sudo apt-get install musl-tools)"
    exit 1
  fi
fi

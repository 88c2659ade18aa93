#!/usr/bin/env bash
# Installs a pinned Azurite (Microsoft's Azure Storage emulator) from the npm registry and caches it outside the repo.
# Idempotent: installs only when the cached copy is missing or another version. Prints the path of its blob-service
# launcher (azurite-blob) on stdout (last line).
#
#   tests/tools/install-azurite.sh              # ~/.cache/flowlog-operator/azurite/3.35.0/node_modules/.bin/azurite-blob
#   AZURITE_VERSION=3.x.y tests/tools/install-azurite.sh
#   FLOWLOG_ENVTEST_CACHE=/path ...             # cache root (the same variable tests/envtest/install.sh uses)
#
# Why 3.35.0: the newest release that runs on Node.js 20 (3.36.0 declares node >= 21, 3.37.0 node >= 22). Needs
# node and npm. ~20 s on first use (the package and its dependencies, about 60 MB), nothing afterwards.
set -euo pipefail

AZURITE_VERSION="${AZURITE_VERSION:-3.35.0}"
CACHE_ROOT="${FLOWLOG_ENVTEST_CACHE:-$HOME/.cache/flowlog-operator}"
DIR="$CACHE_ROOT/azurite/$AZURITE_VERSION"
BIN="$DIR/node_modules/.bin/azurite-blob"

log() { echo "[install-azurite] $*" >&2; }
installed() {
  [ -x "$BIN" ] && grep -q "\"version\": \"$AZURITE_VERSION\"" "$DIR/node_modules/azurite/package.json" 2>/dev/null
}

if installed; then
  echo "$BIN"
  exit 0
fi
command -v node >/dev/null && command -v npm >/dev/null || { log "node and npm are required for Azurite"; exit 1; }
mkdir -p "$DIR"

install() {
  log "installing azurite $AZURITE_VERSION from the npm registry"
  local t0=$SECONDS
  rm -rf "$DIR/node_modules" "$DIR/package.json" "$DIR/package-lock.json"
  # A private package.json so that npm installs here and nowhere else; no scripts, no audit, no funding notices.
  printf '{ "name": "flowlog-operator-azurite", "private": true }\n' >"$DIR/package.json"
  (cd "$DIR" && npm install --no-audit --no-fund --ignore-scripts --loglevel=error --save-exact \
    "azurite@$AZURITE_VERSION" >&2)
  installed || { log "npm finished but $BIN is missing"; exit 1; }
  log "installed azurite in $((SECONDS - t0)) s"
}

# Parallel callers must not install twice: serialise on a lock when flock exists.
if command -v flock >/dev/null; then
  exec 9>"$DIR/.lock"
  flock 9
  installed || install
else
  install
fi
echo "$BIN"

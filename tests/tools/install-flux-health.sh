#!/usr/bin/env bash
# Builds tests/tools/flux-health (Flux's own evaluator of Kustomization healthCheckExprs, from
# github.com/fluxcd/pkg/runtime as pinned in its go.mod and go.sum) and caches it outside the repo. Idempotent: builds
# only when the cached binary is missing; the cache directory is named after a digest of the tool's sources, so a
# changed go.mod, go.sum or main.go builds anew. Prints the binary's path on stdout (last line).
#
#   tests/tools/install-flux-health.sh          # ~/.cache/flowlog-operator/flux-health-<digest>/flux-health
#   FLOWLOG_ENVTEST_CACHE=/path ...             # cache root (the same variable tests/envtest/install.sh uses)
#
# Modules come from the Go module proxy. fluxcd/pkg/runtime v0.117.0 is the newest that Go 1.26 builds (later
# releases require Go 1.27); its cel package is identical to that of v0.122.0, which kustomize-controller v1.10.1
# uses, and so are kstatus's status and status-reader packages (fluxcd/cli-utils v1.3.0 and v1.4.0); only the CEL
# interpreter differs (cel-go v0.29.2 here, v0.31.0 there).
# Cold build: ~1.5-2 min on 2 cores (module download + compile); cached afterwards.
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/flux-health" && pwd)
CACHE_ROOT="${FLOWLOG_ENVTEST_CACHE:-$HOME/.cache/flowlog-operator}"
sha256() { if command -v sha256sum >/dev/null; then sha256sum; else shasum -a 256; fi; }
DIGEST=$(cat "$SRC/go.mod" "$SRC/go.sum" "$SRC/main.go" | sha256 | cut -c1-12)
DIR="$CACHE_ROOT/flux-health-$DIGEST"
BIN="$DIR/flux-health"

log() { echo "[install-flux-health] $*" >&2; }

if [ -x "$BIN" ]; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { log "go is required to build $SRC"; exit 1; }
mkdir -p "$DIR"

build() {
  log "building $SRC from the Go module proxy (cold: ~2 min)"
  local t0=$SECONDS tmp
  tmp=$(mktemp "$DIR/flux-health.XXXXXX")
  # -mod=readonly: exactly the modules go.sum names; GOWORK=off: ignore any workspace of the caller.
  (cd "$SRC" && CGO_ENABLED=0 GOWORK=off GOFLAGS= go build -mod=readonly -buildvcs=false -trimpath -ldflags "-s -w" \
    -o "$tmp" .) || { rm -f "$tmp"; log "go build failed"; exit 1; }
  mv "$tmp" "$BIN"
  log "built flux-health in $((SECONDS - t0)) s"
}

# Parallel callers (several test binaries) must not build twice: serialise on a lock when flock exists.
if command -v flock >/dev/null; then
  exec 9>"$DIR/.lock"
  flock 9
  [ -x "$BIN" ] || build
else
  build
fi
echo "$BIN"

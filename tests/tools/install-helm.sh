#!/usr/bin/env bash
# Installs a pinned helm (v3) from the Go module proxy and caches it outside the repo. Idempotent: builds only when
# the cached binary is missing. Prints the binary's path on stdout (last line).
#
#   tests/tools/install-helm.sh                 # ~/.cache/flowlog-operator/helm-v3.22.0/helm
#   HELM_VERSION=v3.x.y tests/tools/install-helm.sh
#   FLOWLOG_ENVTEST_CACHE=/path ...             # cache root (the same variable tests/envtest/install.sh uses)
#
# Why from source: no registry reachable here ships a helm binary; `go install helm.sh/helm/v3/cmd/helm@VERSION`
# works (helm's go.mod has no replace directives). Without helm's Makefile ldflags the binary does not know its
# own version and helm assumes Kubernetes v1.20 for `.Capabilities`: the ldflags below set the version, and
# callers still pass `--kube-version` to `helm template` / `helm lint`.
# Cold build: ~1-3 min on 2 cores (module download + compile); cached afterwards.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
CACHE_ROOT="${FLOWLOG_ENVTEST_CACHE:-$HOME/.cache/flowlog-operator}"
DIR="$CACHE_ROOT/helm-$HELM_VERSION"
BIN="$DIR/helm"

log() { echo "[install-helm] $*" >&2; }

if [ -x "$BIN" ] && "$BIN" version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
  echo "$BIN"
  exit 0
fi
command -v go >/dev/null || { log "go is required to build helm $HELM_VERSION"; exit 1; }
mkdir -p "$DIR"

build() {
  log "building helm $HELM_VERSION from the Go module proxy (cold: 1-3 min)"
  local t0=$SECONDS tmp
  tmp=$(mktemp -d "$DIR/gobin.XXXXXX")
  # GOFLAGS=-mod=mod: ignore any vendor/ or workspace settings of the caller.
  CGO_ENABLED=0 GOBIN="$tmp" GOFLAGS=-mod=mod go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
  mv "$tmp/helm" "$BIN"
  rmdir "$tmp"
  log "built helm in $((SECONDS - t0)) s"
}

# Parallel callers (several test binaries) must not build twice: serialise on a lock when flock exists.
if command -v flock >/dev/null; then
  exec 9>"$DIR/.lock"
  flock 9
  [ -x "$BIN" ] && "$BIN" version --short 2>/dev/null | grep -q "^$HELM_VERSION" || build
else
  build
fi
"$BIN" version --short >&2
echo "$BIN"

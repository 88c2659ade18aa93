#!/usr/bin/env bash
# Builds kube-apiserver, etcd and kubectl from Go modules (no registry here ships them) and caches them
# outside the repo. Builds only what is missing. Prints the cache directory on stdout (last line).
#
#   tests/envtest/install.sh            # build when missing
#   FLOWLOG_ENVTEST_CACHE=/path ...     # cache location (default ~/.cache/flowlog-operator)
#
# Recipe and pitfalls: ../shared/notes/envtest.md. k8s.io/kubernetes' go.mod replaces every staging module
# with ./staging/..., which `go install pkg@version` refuses, so a throwaway wrapper module pins each staging
# module to its published v0.<minor>.<patch> instead. etcd gets its own wrapper so neither module graph
# bends the other's dependency versions.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.6}"
CACHE_ROOT="${FLOWLOG_ENVTEST_CACHE:-$HOME/.cache/flowlog-operator}"
BIN="$CACHE_ROOT/k8s-$K8S_VERSION-etcd-$ETCD_VERSION"
mkdir -p "$BIN"

log() { echo "[envtest] $*" >&2; }
command -v go >/dev/null || { log "go is required (Go >= 1.25) to build the control plane"; exit 1; }

staging_version="v0.${K8S_VERSION#v1.}"   # v1.35.4 -> v0.35.4
minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor"

build_k8s() {
  local work="$CACHE_ROOT/build/k8s-$K8S_VERSION"
  mkdir -p "$work"; cd "$work"
  # go.mod without the tool lines = an earlier `go get` failed halfway (network): start the wrapper over.
  if ! grep -q 'k8s.io/kubernetes/cmd/kubectl' go.mod 2>/dev/null; then
    rm -f go.mod go.sum
    log "preparing wrapper module for k8s.io/kubernetes $K8S_VERSION"
    local gomod
    gomod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys;print(json.load(sys.stdin)["GoMod"])')
    go mod init local.test/k8s-test-bins >/dev/null 2>&1
    for m in $(grep -oE '^\s*k8s\.io/[A-Za-z0-9._-]+ => \./staging/' "$gomod" | awk '{print $1}'); do
      go mod edit -replace="$m=$m@$staging_version"
    done
    go get -tool "k8s.io/kubernetes/cmd/kube-apiserver@$K8S_VERSION" "k8s.io/kubernetes/cmd/kubectl@$K8S_VERSION"
  fi
  for cmd in kube-apiserver kubectl; do
    if [ ! -x "$BIN/$cmd" ]; then
      log "building $cmd $K8S_VERSION (cold, 2 cores: kube-apiserver ~4-5 min, then kubectl ~30 s)"
      local t0=$SECONDS
      CGO_ENABLED=0 go build -trimpath -ldflags "$ldflags" -o "$BIN/$cmd.tmp" "k8s.io/kubernetes/cmd/$cmd"
      mv "$BIN/$cmd.tmp" "$BIN/$cmd"
      log "built $cmd in $((SECONDS - t0)) s"
    fi
  done
}

build_etcd() {
  local work="$CACHE_ROOT/build/etcd-$ETCD_VERSION"
  mkdir -p "$work"; cd "$work"
  if ! grep -qxE '(tool)?\s+go\.etcd\.io/etcd/server/v3' go.mod 2>/dev/null; then
    rm -f go.mod go.sum
    log "preparing wrapper module for etcd $ETCD_VERSION"
    go mod init local.test/etcd-test-bin >/dev/null 2>&1
    go get -tool "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
  fi
  log "building etcd $ETCD_VERSION"
  local t0=$SECONDS
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" go.etcd.io/etcd/server/v3
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  log "built etcd in $((SECONDS - t0)) s"
}

[ -x "$BIN/etcd" ] || build_etcd
{ [ -x "$BIN/kube-apiserver" ] && [ -x "$BIN/kubectl" ]; } || build_k8s
echo "$BIN"

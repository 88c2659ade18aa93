#!/usr/bin/env bash
# Regenerates the copies of the CRDs (FlowLogPolicy and FlowLogPolicySet) that the Helm chart and the kustomize base
# ship, from the binary (`flowlog-operator crd --kind KIND`, the same source as crds/). tests/install_chart.rs fails
# when they differ.
#
#   charts/update-crds.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for kind in FlowLogPolicy:flowlogpolicies FlowLogPolicySet:flowlogpolicysets; do
  cargo run --quiet --locked -- crd --kind "${kind%%:*}" > "$tmp"
  for dir in charts/flowlog-operator/crds deploy/kustomize/base/crds; do
    dest="$dir/${kind#*:}.flowlog.dev.yaml"
    cp "$tmp" "$dest"
    echo "wrote $dest" >&2
  done
done

#!/usr/bin/env bash
# Regenerates the copies of the FlowLogPolicy CRD that the Helm chart and the kustomize base ship, from the binary
# (`flowlog-operator crd --kind FlowLogPolicy`, the same source as crds/). tests/install_chart.rs fails when they differ.
#
#   charts/update-crds.sh
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
cargo run --quiet --locked -- crd --kind FlowLogPolicy > "$tmp"
for dest in charts/flowlog-operator/crds/flowlogpolicies.flowlog.dev.yaml \
            deploy/kustomize/base/crds/flowlogpolicies.flowlog.dev.yaml; do
  cp "$tmp" "$dest"
  echo "wrote $dest" >&2
done

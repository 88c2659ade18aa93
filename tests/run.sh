#!/usr/bin/env bash
# The project's one test command: builds (once, cached) and starts a throwaway Kubernetes control plane, then runs
# every test, including the cluster tests marked #[ignore = "needs a control plane: run tests/run.sh"].
#
#   tests/run.sh                        # everything: the workspace's targets with --include-ignored, then doctests
#   tests/run.sh e2e                    # only tests whose name contains "e2e" (same meaning as `cargo test e2e`)
#   tests/run.sh --test e2e             # one integration-test target
#   tests/run.sh -- --nocapture         # arguments after -- go to the test harness, as with cargo test
#   KEEP=1 tests/run.sh                 # keep the control plane's directory (logs, kubeconfig) afterwards
#
# Arguments mean exactly what they mean to `cargo test`: those before `--` go to cargo, those after it to the
# test binaries. The script adds `--all-targets` unless you select targets yourself (--lib, --test X, --doc, ...),
# and `--include-ignored` unless you pass --ignored/--include-ignored yourself (libtest rejects both together).
# Doctests are not part of --all-targets and must not get --include-ignored (it would run ```ignore blocks), so
# they run as a second cargo invocation when no targets were selected.
#
# Exported to the tests: KUBECONFIG (admin of the throwaway cluster; any KUBECONFIG you had is replaced, so the
# tests never touch a real cluster), FLOWLOG_KUBECTL (a kubectl matching the apiserver), and Azurite's blob service
# (HTTPS, OAuth; tests/tools/start-azurite.sh): FLOWLOG_AZURITE_ENDPOINT (https://127.0.0.1:PORT/, path-style) and
# FLOWLOG_AZURITE_CA (the test CA its certificate is signed by).
# Needs: cargo, go >= 1.26 (first run only: ~6 min cold build of the control plane on 2 cores, then ~2 min for
# flux_health's evaluator, tests/tools/install-flux-health.sh), node and npm (Azurite, installed from the npm registry
# on first use by tests/tools/install-azurite.sh, ~40 s), openssl, curl, python3.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

say() { echo "[run] $*" >&2; }
now() { echo "${EPOCHREALTIME:-$(date +%s)}"; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# ------------------------------------------------------------------------------------------------- arguments
cargo_args=(); harness_args=(); after_dd=0
for a in "$@"; do
  if [ "$after_dd" -eq 0 ] && [ "$a" = -- ]; then after_dd=1; continue; fi
  if [ "$after_dd" -eq 1 ]; then harness_args+=("$a"); else cargo_args+=("$a"); fi
done
targets_chosen=0
for a in "${cargo_args[@]}"; do
  case "$a" in
    --lib|--bins|--bin|--bin=*|--tests|--test|--test=*|--benches|--bench|--bench=*|--examples|--example|--example=*|--doc|--all-targets)
      targets_chosen=1 ;;
  esac
done
ignored_chosen=0
for a in "${harness_args[@]}"; do
  case "$a" in --ignored|--include-ignored) ignored_chosen=1 ;; esac
done
# The whole workspace (operator, wire types, simulator) with every feature (the operator's `demo`), unless a package
# was named.
package_chosen=0
for a in "${cargo_args[@]}"; do
  case "$a" in -p|-p*|--package|--package=*|--workspace) package_chosen=1 ;; esac
done
main_cmd=(cargo test)
[ "$package_chosen" -eq 1 ] || main_cmd+=(--workspace --all-features)
[ "$targets_chosen" -eq 1 ] || main_cmd+=(--all-targets)
main_cmd+=("${cargo_args[@]}" --)
[ "$ignored_chosen" -eq 1 ] || main_cmd+=(--include-ignored)
main_cmd+=("${harness_args[@]}")

# Doctests: only when nobody picked targets, and only if there is a library (`cargo test --doc` errors otherwise).
doc_cmd=()
if [ "$targets_chosen" -eq 0 ] \
  && cargo metadata --no-deps --format-version 1 2>/dev/null | grep -qE '"kind":\["(lib|rlib|dylib|proc-macro)"'; then
  doc_cmd=(cargo test --doc)
  [ "$package_chosen" -eq 1 ] || doc_cmd+=(--workspace --all-features)
  doc_cmd+=("${cargo_args[@]}" -- "${harness_args[@]}")
fi

# ----------------------------------------------------------------------------------------------------- phases
timings=()
phase="" phase_t=""
begin() { phase=$1; phase_t=$(now); }
end() { timings+=("$phase $(secs "$phase_t" "$(now)") s"); phase=""; }
DIR=""
# shellcheck disable=SC2317  # invoked by the trap
finish() {
  local rc=$?
  trap - EXIT INT TERM
  local keep="${KEEP:-0}"
  [ "$phase" != start ] || keep=1   # a failed start: keep its logs (start.sh printed where)
  [ -z "$phase" ] || { phase="$phase (failed)"; end; }
  if [ -n "$DIR" ]; then
    begin stop
    KEEP=$keep tests/envtest/stop.sh "$DIR" || say "warning: stopping the control plane failed"
    end
  fi
  local summary="" x
  for x in "${timings[@]}"; do summary+="${summary:+, }$x"; done
  say "timings: $summary"
  if [ "$rc" -eq 0 ]; then say "PASSED"; else say "FAILED (exit $rc)"; fi
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. install: builds etcd, kube-apiserver and kubectl on first use; the lock keeps parallel runs from both building.
begin install
CACHE_ROOT="${FLOWLOG_ENVTEST_CACHE:-$HOME/.cache/flowlog-operator}"
mkdir -p "$CACHE_ROOT"
if command -v flock >/dev/null; then
  BIN=$(flock "$CACHE_ROOT/.install.lock" tests/envtest/install.sh | tail -n 1)
else
  BIN=$(tests/envtest/install.sh | tail -n 1)
fi
[ -x "$BIN/kube-apiserver" ] || { say "install.sh did not produce $BIN/kube-apiserver"; exit 1; }
AZURITE_BIN=$(tests/tools/install-azurite.sh | tail -n 1)
end

# 2. start: a fresh control plane in a temp dir (set DIR only after mktemp, so the trap never stops a stranger's).
begin start
DIR=$(mktemp -d "${TMPDIR:-/tmp}/flowlog-envtest.XXXXXX")
FLOWLOG_ENVTEST_BIN="$BIN" tests/envtest/start.sh "$DIR" >/dev/null
end
export KUBECONFIG="$DIR/kubeconfig"
export FLOWLOG_KUBECTL="$BIN/kubectl"
export FLOWLOG_ENVTEST_BIN="$BIN"
say "control plane: KUBECONFIG=$KUBECONFIG"

# 2b. Azurite's blob service, in the same directory: stop.sh stops it with the control plane (its pid is in DIR/pids).
begin azurite
FLOWLOG_AZURITE_ENDPOINT=$(tests/tools/start-azurite.sh "$DIR" "$AZURITE_BIN" | tail -n 1)
end
export FLOWLOG_AZURITE_ENDPOINT
export FLOWLOG_AZURITE_CA="$DIR/azurite/ca.pem"

# 3. tests. The end-to-end tests run the simulator's own binary (flowlog-sim): a whole-workspace run builds it with
# everything else; when targets were chosen, it is built first (same features as the tests, so nothing twice).
begin tests
if [ "$targets_chosen" -eq 1 ]; then
  sim_build=(cargo build --workspace --all-features --bin flowlog-sim)
  for a in "${cargo_args[@]}"; do [ "$a" != --release ] || sim_build+=(--release); done
  say "${sim_build[*]}"
  "${sim_build[@]}"
fi
say "${main_cmd[*]}"
rc=0
"${main_cmd[@]}" || rc=$?
no_fail_fast=0
for a in "${cargo_args[@]}"; do [ "$a" != --no-fail-fast ] || no_fail_fast=1; done
if [ "${#doc_cmd[@]}" -gt 0 ] && [ "$rc" -ne 0 ] && [ "$no_fail_fast" -eq 0 ]; then
  say "skipping the doctests after a failure (like cargo, unless --no-fail-fast)"
elif [ "${#doc_cmd[@]}" -gt 0 ]; then
  say "${doc_cmd[*]}"
  doc_rc=0
  "${doc_cmd[@]}" || doc_rc=$?
  [ "$rc" -ne 0 ] || rc=$doc_rc
fi
end
exit "$rc"

#!/usr/bin/env bash
# Stops a control plane started by tests/envtest/start.sh DIR and removes DIR.
#
#   tests/envtest/stop.sh DIR          # SIGTERM, SIGKILL after FLOWLOG_ENVTEST_GRACE seconds (default 10)
#   KEEP=1 tests/envtest/stop.sh DIR   # keep DIR (logs, etcd data, kubeconfig) for inspection
#
# Idempotent: a missing DIR or pid file, or processes already gone, are not errors.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi
GRACE="${FLOWLOG_ENVTEST_GRACE:-10}"
log() { echo "[envtest] $*" >&2; }

[ -d "$1" ] || { log "$1: no such directory, nothing to stop"; exit 0; }
DIR=$(cd "$1" && pwd)

# Only signal a pid that still runs the binary we started (pids get reused).
ours() {  # PID NAME
  local exe
  exe=$(readlink "/proc/$1/exe" 2>/dev/null) || return 1
  [ "$(basename "${exe% (deleted)}")" = "$2" ]
}

# Running (a zombie whose parent has not reaped it yet counts as gone: kill -0 would still succeed on it).
alive() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}

pids=()
if [ -f "$DIR/pids" ]; then
  while read -r name pid; do
    [ -n "${pid:-}" ] || continue
    if ours "$pid" "$name"; then pids+=("$pid"); fi
  done < "$DIR/pids"
fi

# The apiserver is listed first: stop it before etcd so it does not spend the grace period retrying etcd.
for pid in "${pids[@]}"; do
  kill -TERM "$pid" 2>/dev/null || true
  deadline=$((SECONDS + GRACE))
  while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  if alive "$pid"; then
    log "pid $pid ignored SIGTERM for ${GRACE}s: SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
done
# Reap-free wait: the processes are not our children, so poll until they are gone (SIGKILL is not ignorable).
for pid in "${pids[@]}"; do
  for _ in $(seq 1 50); do alive "$pid" || break; sleep 0.1; done
done
rm -f "$DIR/pids"

if [ "${KEEP:-0}" = 1 ]; then
  log "stopped; kept $DIR"
elif [ -e "$DIR/.flowlog-envtest" ]; then
  rm -rf "$DIR"
  log "stopped; removed $DIR"
else
  log "stopped; $DIR was not created by start.sh, not removing it"
fi

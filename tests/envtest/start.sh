#!/usr/bin/env bash
# Starts a throwaway Kubernetes control plane (etcd + kube-apiserver, nothing else) whose whole state lives in DIR.
#
#   tests/envtest/start.sh DIR        # DIR is created; prints `export KUBECONFIG=DIR/kubeconfig` at the end
#   tests/envtest/stop.sh DIR         # stops it and removes DIR (KEEP=1 keeps it)
#
# Binaries come from tests/envtest/install.sh (set FLOWLOG_ENVTEST_BIN to its output; otherwise the same default
# cache path as install.sh is used). DIR gets: kubeconfig, pids, env, etcd.log, apiserver.log, pki/, etcd-data/.
# Env: FLOWLOG_ENVTEST_TIMEOUT (seconds to wait for the apiserver, default 90).
# On failure: prints the tail of the relevant log, stops whatever it started, exits non-zero (DIR is kept).
# There is no controller-manager, scheduler or kubelet: no garbage collection, namespaces never finish deleting, no
# default ServiceAccounts, pods never run. Use a fresh namespace per test and server-side dry-run for workloads.
set -euo pipefail

if [ $# -ne 1 ] || [ -z "$1" ]; then
  echo "usage: $0 DIR" >&2
  exit 2
fi

K8S_VERSION="${K8S_VERSION:-v1.35.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.6.6}"
CACHE_ROOT="${FLOWLOG_ENVTEST_CACHE:-$HOME/.cache/flowlog-operator}"
BIN="${FLOWLOG_ENVTEST_BIN:-$CACHE_ROOT/k8s-$K8S_VERSION-etcd-$ETCD_VERSION}"
TIMEOUT="${FLOWLOG_ENVTEST_TIMEOUT:-90}"

log() { echo "[envtest] $*" >&2; }
die() { log "error: $*"; exit 1; }

for b in etcd kube-apiserver; do
  [ -x "$BIN/$b" ] || die "$BIN/$b not found: run tests/envtest/install.sh first (or set FLOWLOG_ENVTEST_BIN)"
done
for t in openssl curl; do
  command -v "$t" >/dev/null || die "$t is required"
done

mkdir -p "$1"
DIR=$(cd "$1" && pwd)   # absolute: kubeconfig, pid file and flags must not depend on the caller's cwd
[ ! -e "$DIR/pids" ] || die "$DIR/pids exists: a control plane may already run there (tests/envtest/stop.sh $DIR)"
# stop.sh deletes DIR, so only take an empty directory (or one a previous start.sh made).
if [ ! -e "$DIR/.flowlog-envtest" ] && [ -n "$(ls -A "$DIR")" ]; then
  die "$DIR is not empty: give start.sh a new or empty directory"
fi
: > "$DIR/.flowlog-envtest"   # marks DIR as ours, so stop.sh may delete it
PKI="$DIR/pki"
mkdir -p "$PKI"

# ---------------------------------------------------------------------------------------------- cleanup on failure
PIDS=()
ok=0
alive() {  # a zombie (exited, not yet reaped) counts as gone
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [ "${stat%% *}" != Z ]
}
on_exit() {
  local rc=$?
  if [ "$ok" -ne 1 ]; then
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 1 50); do
      local any=0
      for p in "${PIDS[@]}"; do if alive "$p"; then any=1; fi; done
      [ "$any" -eq 0 ] && break
      sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -f "$DIR/pids"
    [ "$rc" -ne 0 ] || rc=1
    log "start failed; state and logs kept in $DIR"
  fi
  exit "$rc"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

tail_log() { log "last lines of $1:"; tail -n "${2:-40}" "$1" >&2 || true; }

# -------------------------------------------------------------------------------------------------- certificates
# One CA signs the apiserver's serving cert and the admin client cert. Explicit v3 extensions: rustls/webpki wants a
# CA with basicConstraints CA:TRUE and a leaf with an IP SAN for 127.0.0.1 (it never falls back to the CN).
cat > "$PKI/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign, digitalSignature
subjectKeyIdentifier = hash
[serving]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
EOF

genkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
# sign NAME SUBJECT EXT_SECTION
sign() {
  genkey "$PKI/$1.key"
  openssl req -new -key "$PKI/$1.key" -subj "$2" -config "$PKI/openssl.cnf" -out "$PKI/$1.csr"
  openssl x509 -req -in "$PKI/$1.csr" -CA "$PKI/ca.crt" -CAkey "$PKI/ca.key" -CAcreateserial -days 7 -sha256 \
    -extfile "$PKI/openssl.cnf" -extensions "$3" -out "$PKI/$1.crt" 2>/dev/null
}
{
  genkey "$PKI/ca.key"
  openssl req -x509 -new -key "$PKI/ca.key" -subj "/CN=flowlog-envtest-ca" -days 7 -sha256 \
    -config "$PKI/openssl.cnf" -extensions ca -out "$PKI/ca.crt"
  sign apiserver "/CN=localhost" serving
  sign admin "/O=system:masters/CN=flowlog-envtest-admin" client
  genkey "$PKI/sa.key"
  openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub"
} > "$DIR/openssl.log" 2>&1 || { tail_log "$DIR/openssl.log"; die "certificate generation failed"; }

# ---------------------------------------------------------------------------------------------------- free ports
# Ports are picked by binding to port 0, so another process can grab one before we use it; a start that fails
# with "address already in use" is retried with fresh ports.
free_ports() {  # N -> N distinct free TCP ports on 127.0.0.1, one per line
  if command -v python3 >/dev/null; then
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
  else  # no python: random high ports nobody answers on
    local n=0 p
    while [ "$n" -lt "$1" ]; do
      p=$((20000 + RANDOM % 40000))
      if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; n=$((n + 1)); fi
    done
  fi
}

# wait_for PID DESC CHECK... : polls CHECK until it succeeds, PID dies or TIMEOUT passes; dots on stderr.
wait_for() {
  local pid=$1 desc=$2; shift 2
  local deadline=$((SECONDS + TIMEOUT))
  printf '[envtest] waiting for %s ' "$desc" >&2
  while :; do
    if "$@"; then printf ' ok\n' >&2; return 0; fi
    if ! alive "$pid"; then printf ' exited\n' >&2; return 2; fi
    if [ "$SECONDS" -ge "$deadline" ]; then printf ' timed out after %ss\n' "$TIMEOUT" >&2; return 1; fi
    printf '.' >&2
    sleep 0.5
  done
}

in_use() { grep -qiE 'address already in use|bind: address' "$1"; }

t_start=$SECONDS

# ---------------------------------------------------------------------------------------------------------- etcd
etcd_up() { curl -fs -o /dev/null --max-time 2 "http://127.0.0.1:$ETCD_PORT/health"; }
for attempt in 1 2 3; do
  { read -r ETCD_PORT; read -r ETCD_PEER_PORT; } < <(free_ports 2)
  rm -rf "$DIR/etcd-data"
  "$BIN/etcd" \
    --name=default \
    --data-dir="$DIR/etcd-data" \
    --listen-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --advertise-client-urls="http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster="default=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync=true \
    --log-level=warn \
    </dev/null > "$DIR/etcd.log" 2>&1 &
  ETCD_PID=$!
  PIDS+=("$ETCD_PID")
  rc=0; wait_for "$ETCD_PID" "etcd on 127.0.0.1:$ETCD_PORT" etcd_up || rc=$?
  [ "$rc" -eq 0 ] && break
  if [ "$rc" -eq 2 ] && in_use "$DIR/etcd.log" && [ "$attempt" -lt 3 ]; then
    log "port taken, retrying with other ports"; continue
  fi
  tail_log "$DIR/etcd.log"; die "etcd did not become healthy"
done
log "etcd ready after $((SECONDS - t_start)) s"

# -------------------------------------------------------------------------------------------------- kube-apiserver
api_get() {  # PATH -> HTTP status code
  curl -sS -o /dev/null -w '%{http_code}' --max-time 3 --cacert "$PKI/ca.crt" \
    --cert "$PKI/admin.crt" --key "$PKI/admin.key" "https://127.0.0.1:$API_PORT$1" 2>/dev/null || true
}
api_up() { [ "$(api_get /readyz)" = 200 ] && [ "$(api_get /api/v1/namespaces/default)" = 200 ]; }
t_api=$SECONDS
for attempt in 1 2 3; do
  API_PORT=$(free_ports 1)
  "$BIN/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --bind-address=127.0.0.1 \
    --secure-port="$API_PORT" \
    --advertise-address=127.0.0.1 \
    --endpoint-reconciler-type=none \
    --tls-cert-file="$PKI/apiserver.crt" \
    --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" \
    --authorization-mode=RBAC \
    --service-account-issuer="https://127.0.0.1:$API_PORT/" \
    --service-account-key-file="$PKI/sa.pub" \
    --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 \
    --allow-privileged=true \
    --disable-admission-plugins=ServiceAccount \
    --cert-dir="$DIR/apiserver-certs" \
    </dev/null > "$DIR/apiserver.log" 2>&1 &
  API_PID=$!
  PIDS+=("$API_PID")
  rc=0; wait_for "$API_PID" "kube-apiserver on https://127.0.0.1:$API_PORT" api_up || rc=$?
  [ "$rc" -eq 0 ] && break
  if [ "$rc" -eq 2 ] && in_use "$DIR/apiserver.log" && [ "$attempt" -lt 3 ]; then
    log "port taken, retrying with another port"; continue
  fi
  tail_log "$DIR/apiserver.log"; die "kube-apiserver did not become ready"
done
log "kube-apiserver ready after $((SECONDS - t_api)) s"

# ------------------------------------------------------------------------------------------------------- outputs
b64() { base64 < "$1" | tr -d '\n'; }
umask 077
cat > "$DIR/kubeconfig.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: https://127.0.0.1:$API_PORT
    certificate-authority-data: $(b64 "$PKI/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(b64 "$PKI/admin.crt")
    client-key-data: $(b64 "$PKI/admin.key")
contexts:
- name: envtest
  context:
    cluster: envtest
    user: admin
    namespace: default
current-context: envtest
EOF
mv "$DIR/kubeconfig.tmp" "$DIR/kubeconfig"
umask 022
printf 'kube-apiserver %s\netcd %s\n' "$API_PID" "$ETCD_PID" > "$DIR/pids"   # stop order: apiserver first
cat > "$DIR/env" <<EOF
export KUBECONFIG=$DIR/kubeconfig
FLOWLOG_ENVTEST_API_URL=https://127.0.0.1:$API_PORT
FLOWLOG_ENVTEST_ETCD_URL=http://127.0.0.1:$ETCD_PORT
EOF
ok=1
log "control plane up in $((SECONDS - t_start)) s (apiserver pid $API_PID, etcd pid $ETCD_PID); stop: tests/envtest/stop.sh $DIR"
echo "export KUBECONFIG=$DIR/kubeconfig"

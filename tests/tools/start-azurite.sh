#!/usr/bin/env bash
# Starts Azurite's blob service for the tests, HTTPS with OAuth, in DIR/azurite/ (a directory of tests/run.sh's
# throwaway control plane, so that tests/envtest/stop.sh DIR stops it and removes everything with the rest).
#
#   tests/tools/start-azurite.sh DIR BIN     # BIN: azurite-blob from tests/tools/install-azurite.sh
#
# - TLS: a test CA and a server certificate for 127.0.0.1 and localhost, made with openssl into DIR/azurite/
#   (ca.pem is what clients must trust: the operator's --extra-ca-file, the simulator's --storage-ca-file).
# - `--oauth basic`: bearer tokens must be JWTs whose issuer starts with https://sts.windows.net/ (or another of
#   Entra's issuers) and whose audience is https://storage.azure.com (or the account's blob endpoint), valid now;
#   signatures are not checked. The simulator's token endpoint issues such tokens.
# - Accounts: AZURITE_ACCOUNTS makes the built-in inventory's storage accounts exist (flowlogsweu001,
#   flowlogsneu001, flowlogsweu002; FLOWLOG_AZURITE_ACCOUNTS adds more, comma-separated), each with a throwaway key.
# - In memory (--inMemoryPersistence), on a free port of 127.0.0.1, path-style URLs
#   (https://127.0.0.1:PORT/{account}/{container}/{blob}).
# Prints the blob endpoint (https://127.0.0.1:PORT/) on stdout (last line); DIR/azurite/ also holds azurite.log and env.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 DIR AZURITE_BLOB_BIN" >&2
  exit 2
fi
DIR=$(cd "$1" && pwd)
BIN=$2
TIMEOUT="${FLOWLOG_AZURITE_TIMEOUT:-30}"
log() { echo "[azurite] $*" >&2; }
die() { log "error: $*"; exit 1; }
for t in openssl curl python3; do command -v "$t" >/dev/null || die "$t is required"; done
[ -x "$BIN" ] || die "$BIN not found: run tests/tools/install-azurite.sh"

A="$DIR/azurite"
mkdir -p "$A"

# A CA and a server certificate signed by it (the CA is what clients trust; the server certificate is not a CA).
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=flowlog-operator test CA" \
  -keyout "$A/ca-key.pem" -out "$A/ca.pem" \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" -keyout "$A/key.pem" -out "$A/server.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$A/server.ext"
openssl x509 -req -in "$A/server.csr" -CA "$A/ca.pem" -CAkey "$A/ca-key.pem" -CAcreateserial -days 2 \
  -extfile "$A/server.ext" -out "$A/cert.pem" 2>/dev/null

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
key=$(printf 'flowlog-operator-test-key' | base64)
extra="${FLOWLOG_AZURITE_ACCOUNTS:-}"
accounts="flowlogsweu001 flowlogsneu001 flowlogsweu002 ${extra//,/ }"
spec=""
for a in $accounts; do spec+="${spec:+;}$a:$key"; done

AZURITE_ACCOUNTS="$spec" nohup "$BIN" --blobHost 127.0.0.1 --blobPort "$port" --cert "$A/cert.pem" --key "$A/key.pem" \
  --oauth basic --inMemoryPersistence --skipApiVersionCheck --disableProductStyleUrl --disableTelemetry \
  --debug "$A/debug.log" >"$A/azurite.log" 2>&1 &
pid=$!
echo "node $pid" >>"$DIR/pids"   # tests/envtest/stop.sh stops it (it checks the pid still runs node)

endpoint="https://127.0.0.1:$port/"
deadline=$((SECONDS + TIMEOUT))
# Any HTTP answer (400 for a request without an account) means it listens with our certificate.
until curl -s -o /dev/null --cacert "$A/ca.pem" "$endpoint"; do
  kill -0 "$pid" 2>/dev/null || { tail -n 20 "$A/azurite.log" >&2; die "azurite exited"; }
  [ "$SECONDS" -lt "$deadline" ] || { tail -n 20 "$A/azurite.log" >&2; die "no answer on $endpoint after ${TIMEOUT}s"; }
  sleep 0.2
done
printf 'FLOWLOG_AZURITE_ENDPOINT=%s\nFLOWLOG_AZURITE_CA=%s\n' "$endpoint" "$A/ca.pem" >"$A/env"
log "blob service on $endpoint (CA $A/ca.pem, accounts: ${spec//:$key/})"
echo "$endpoint"

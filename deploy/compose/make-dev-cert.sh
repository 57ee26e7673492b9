#!/usr/bin/env bash
# A self-signed certificate for trying the compose stack (browsers warn; accept it once per
# port: 8443, 8444, 8445). Production: put the real chain and key in deploy/compose/certs/.
#   deploy/compose/make-dev-cert.sh vidid.example.org
set -euo pipefail
host="${1:-${VIDID_PUBLIC_HOST:-localhost}}"
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/certs"
mkdir -p "$dir"
openssl req -x509 -newkey rsa:3072 -sha256 -days 30 -nodes \
  -keyout "$dir/tls.key" -out "$dir/tls.crt" -subj "/CN=$host" \
  -addext "subjectAltName=DNS:$host,DNS:localhost,IP:127.0.0.1"
# The containers run as uid 10001: let that user (only) read the key.
chmod 0600 "$dir/tls.key"
chown 10001:10001 "$dir/tls.key" 2>/dev/null || sudo chown 10001:10001 "$dir/tls.key" \
  || echo "chown 10001 $dir/tls.key yourself (the containers run as uid 10001)" >&2
echo "wrote $dir/tls.crt and $dir/tls.key for $host"

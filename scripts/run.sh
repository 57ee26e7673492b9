#!/usr/bin/env bash
# Sets up a fresh Debian machine (idempotent) and runs vidid on one machine with embedded
# defaults. Extra arguments go to `vidid serve`, e.g. --listen 0.0.0.0:8080 --config vidid.toml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo build --release -p vidid
exec target/release/vidid serve --data-dir "${VIDID_DATA_DIR:-./vidid-data}" "$@"

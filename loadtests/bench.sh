#!/usr/bin/env bash
# The benchmark, run by hand (not in CI): vidid and Janus side by side in one run.
#
# Janus leaves loopback interfaces out of ICE, so everything runs inside a network namespace
# holding a veth `v0` with 127.0.0.2/32: both servers, the generator, all traffic local.
# Writes loadtests/results.json, BENCHMARKS.md and loadtests/bench.png.
#   loadtests/bench.sh                       # default ramp
#   loadtests/bench.sh --steps 10,50 --seconds 10
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "bench.sh needs root (network namespace)" >&2; exit 1; }

need=()
command -v janus >/dev/null || need+=(janus)
command -v ip >/dev/null || need+=(iproute2)
python3 -c 'import matplotlib' 2>/dev/null || pip install --quiet matplotlib
if [ "${#need[@]}" -gt 0 ]; then
  apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}"
fi
scripts/setup.sh
cargo build --release -p vidid -p loadtests

NS=vidid-bench
cleanup() { ip netns del "$NS" 2>/dev/null || true; }
trap cleanup EXIT
cleanup
ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link add v0 type veth peer name v1
ip -n "$NS" addr add 127.0.0.2/32 dev v0
ip -n "$NS" link set v0 up
ip -n "$NS" link set v1 up

VIDID_BIN="$PWD/target/release/vidid" VIDID_E2E_NO_BUILD=1 \
  ip netns exec "$NS" target/release/vidid-load bench "$@"
python3 loadtests/plot.py loadtests/results.json loadtests/bench.png
echo "wrote BENCHMARKS.md, loadtests/results.json, loadtests/bench.png"

#!/usr/bin/env bash
# Everything a change must pass: set-up, build, format, lints, and the whole test suite
# (unit tests and the end-to-end tests with real browsers; VIDID_SKIP_BROWSER=1 skips those).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

section() { printf '\n==================== %s ====================\n' "$*"; }

section "set-up (scripts/setup.sh)"
bash "$ROOT/scripts/setup.sh"

section "build: cargo build --workspace --all-targets"
cargo build --workspace --all-targets

section "format: cargo fmt --check"
cargo fmt --all --check

section "lints: cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

section "module imports: no cycles (scripts/module-cycles.py)"
python3 scripts/module-cycles.py server recorder vault cases cli
python3 scripts/module-cycles.py --strict-root control signaling node

section "types: tsc --noEmit (the pages' scripts, signaling/tsconfig.json)"
"$ROOT/tests/browser/node_modules/.bin/tsc" --noEmit -p "$ROOT/signaling/tsconfig.json"
"$ROOT/tests/browser/node_modules/.bin/tsc" --noEmit -p "$ROOT/signaling/tsconfig.shared.json"

if cargo nextest --version >/dev/null 2>&1; then
  section "tests: cargo nextest run --workspace --no-fail-fast"
  cargo nextest run --workspace --no-fail-fast
else
  section "tests: cargo test --workspace --no-fail-fast (cargo-nextest not installed)"
  cargo test --workspace --no-fail-fast
fi

section "all checks passed"

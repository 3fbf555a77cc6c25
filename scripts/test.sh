#!/usr/bin/env bash
# The whole test suite: install what the tests need, then run them (README, "Quick start" command 2).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-test-env.sh
exec .venv/bin/python -m pytest -n "${PYTEST_WORKERS:-2}" "$@"

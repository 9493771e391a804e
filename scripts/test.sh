#!/usr/bin/env bash
# Installs the test dependencies (Python packages, PostgreSQL) and runs the whole suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/python -m pytest -p no:cacheprovider -q -rfE "$@"

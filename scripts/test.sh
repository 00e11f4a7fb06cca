#!/usr/bin/env bash
# Quick start, part 2: install what the tests need (PostgreSQL, Chromium, audio tools) and
# run the whole suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
exec .venv/bin/python -m pytest "$@"

#!/usr/bin/env bash
# Quick start, part 1: install and run hotline on the embedded defaults
# (SQLite under ./var, web pages on http://127.0.0.1:8080/).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh run
exec .venv/bin/hotline demo "$@"

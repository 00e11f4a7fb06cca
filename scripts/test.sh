#!/usr/bin/env bash
# Quick start, part 2: install what the tests need (PostgreSQL, Chromium, audio tools) and
# run the whole suite. With arguments, they go to one pytest run as given.
#
# Without arguments the suite runs in two parts: the unit and component tests on two workers
# (they are mostly CPU: parsing, hypothesis, schemathesis), then tests/e2e alone on one (they
# are mostly waiting on compressed-time calls, and judge ring counts and deadlines that a
# second worker's CPU load would blur). Both parts always run; the exit status is the worse.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh test
if [ "$#" -gt 0 ]; then
    exec .venv/bin/python -m pytest "$@"
fi
status=0
.venv/bin/python -m pytest -n 2 --dist loadfile --ignore=tests/e2e || status=$?
.venv/bin/python -m pytest tests/e2e || { s=$?; [ "$s" -gt "$status" ] && status=$s; }
exit "$status"

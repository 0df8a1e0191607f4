#!/usr/bin/env bash
# Sets everything up, checks the code with ruff (pyproject.toml), then runs the whole test suite
# (slow end-to-end tests included).
# Tests run in parallel processes (pytest-xdist), one per core up to 4, a test file per process;
# KZOO_TEST_WORKERS=0 runs them in this process (extra arguments go to pytest). The 15 slowest tests are listed
# at the end: the suite must stay under 15 minutes on the 2-core CI machine.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
.venv/bin/python -m ruff check .
.venv/bin/python -m ruff format --check .
.venv/bin/python -m pytest -n "${KZOO_TEST_WORKERS:-auto}" --maxprocesses 4 --dist loadfile --durations=15 "$@"

#!/usr/bin/env bash
# Sets up .venv if needed, then runs the test suite (unit and integration) on one pytest-xdist worker per core
# (each test file on one worker: tests/conftest.py). Extra arguments go to pytest (`-n 0`: in this process).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/setup.sh
python -m pytest -n auto --dist loadgroup "$@"

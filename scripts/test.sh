#!/usr/bin/env bash
# Sets up .venv if needed, then runs the test suite (unit and integration). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/setup.sh
python -m pytest "$@"

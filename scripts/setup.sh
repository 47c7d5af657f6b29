#!/usr/bin/env bash
# Creates .venv (Python >= 3.11) and installs sgm-mlc with everything it needs; does nothing when the
# install is already current. Sourced by scripts/pipeline.sh and scripts/test.sh; CI runs the same.
#   TORCH_SPEC   torch and torchvision, installed first (default: torch==2.14.1 torchvision==0.29.1, a pair that
#                imports together; elsewhere pick your build, e.g.
#                TORCH_SPEC="torch torchvision" PIP_TORCH_INDEX=https://download.pytorch.org/whl/cpu)
set -euo pipefail
project_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv="$project_root/.venv"
python=${PYTHON:-python3}

if [ ! -x "$venv/bin/python" ]; then
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || { echo "sgm-mlc needs Python >= 3.11 (found: $("$python" --version 2>&1)); set PYTHON=python3.11" >&2; exit 1; }
    "$python" -m venv "$venv"
fi
# shellcheck disable=SC1091
. "$venv/bin/activate"

stamp="$venv/.sgm-mlc-installed"
wanted=$(cat "$project_root/pyproject.toml" | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ]; then
    python -m pip install --quiet --upgrade pip
    # torch first, so that resolving the project does not pull another torch build
    # shellcheck disable=SC2086
    python -m pip install --quiet ${TORCH_SPEC:-torch==2.14.1 torchvision==0.29.1} ${PIP_TORCH_INDEX:+--index-url "$PIP_TORCH_INDEX"}
    python -m pip install --quiet -e "$project_root[test]"
    echo "$wanted" > "$stamp"
fi

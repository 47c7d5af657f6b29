#!/usr/bin/env bash
# Sets up .venv if needed, then runs the whole pipeline on the datasets in params.yaml (default: the
# embedded, offline `synthetic` dataset, on CPU). Extra arguments go to snakemake (e.g. --cores 8, -n).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/setup.sh
snakemake --cores "${CORES:-all}" all "$@"

# Helpers shared by every rule file. Params validation, target lists, and the step configuration each
# job passes to `python -m sgm_mlc`.
import json
import shlex
import sys
from pathlib import Path

PROJECT_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, PROJECT_SRC)
# Jobs import the library from the source tree, in the venv and inside the conda envs alike (the envs carry
# only its dependencies); the prefix keeps Snakemake's default strict-mode settings.
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(PROJECT_SRC)}; ")

from sgm_mlc.config import validate_params
from sgm_mlc.labels.orders import ORDERS

validate_params(config, source="params.yaml (with any --config/--configfile overrides)")

DATASETS = config["run"]["datasets"]
LABEL_ORDERS = config["run"]["label_orders"]


def step_config(*sections, dataset=None):
    """JSON of the params.yaml sections one step reads (and, with `dataset`, that dataset's entry)."""
    chosen = {name: config[name] for name in sections}
    if dataset is not None:
        chosen["datasets"] = {dataset: config["datasets"][dataset]}
    return json.dumps(chosen, sort_keys=True)


def data_targets():
    """Processed data, embeddings and every label order of every dataset in run.datasets."""
    return (
        expand("data/processed/{dataset}/examples.parquet", dataset=DATASETS)
        + expand("results/embeddings/{dataset}/vectors.npy", dataset=DATASETS)
        + expand("results/label_orders/{dataset}/{order}/sequences.parquet", dataset=DATASETS, order=LABEL_ORDERS)
    )


def tracking_targets():
    """One MLflow run per dataset, logging its card."""
    return expand("results/tracking/{dataset}/dataset_card_run.json", dataset=DATASETS)


def all_targets():
    return data_targets() + tracking_targets()

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

from sgm_mlc.config import dataset_view, validate_params
from sgm_mlc.labels.orders import ORDERS

MODEL_NAMES = ("br", "lp", "cc", "br_neural", "cnn", "seq2seq", "sgm")

validate_params(config, source="params.yaml (with any --config/--configfile overrides)")

DATASETS = config["run"]["datasets"]
LABEL_ORDERS = config["run"]["label_orders"]


SEEDS = config["run"]["seeds"]
TRAIN_ORDERS = config["run"]["train_orders"]
# Models whose result depends on the label order; the others are trained with the first train order only.
ORDER_DEPENDENT_MODELS = ("cc", "seq2seq", "sgm")
NEURAL_MODELS = ("br_neural", "cnn", "seq2seq", "sgm")


def step_config(*sections, dataset=None, model=None):
    """JSON of the params.yaml sections one step reads, as `dataset` sees them (its overrides merged), with
    that dataset's entry and `model`'s entry."""
    view = dataset_view(config, dataset) if dataset is not None else config
    chosen = {name: view[name] for name in sections}
    if dataset is not None:
        chosen["datasets"] = {dataset: view["datasets"][dataset]}
    if model is not None:
        chosen["models"] = {model: view["models"][model]}
    return json.dumps(chosen, sort_keys=True)


def run_dirs(phase):
    """`results/<phase>/<dataset>/<model>/<order>/seed<seed>` for every run of params.yaml's run section."""
    dirs = []
    for dataset in DATASETS:
        for model in config["run"]["models"]:
            orders = TRAIN_ORDERS if model in ORDER_DEPENDENT_MODELS else TRAIN_ORDERS[:1]
            dirs += expand(f"results/{phase}/{dataset}/{model}/{{order}}/seed{{seed}}", order=orders, seed=SEEDS)
    return dirs


def curve_targets():
    """The training curve of every neural run (the linear models have no epochs)."""
    curves = []
    for run in run_dirs("models"):
        dataset, model, order, seed = run.split("/")[-4:]
        if model in NEURAL_MODELS:
            curves.append(f"results/summary/curves/{dataset}-{model}-{order}-{seed}.json")
    return curves


def evaluation_targets():
    return [f"{run}/metrics.json" for run in run_dirs("evaluation")]


def run_tracking_targets():
    return [f"{run}/run.json" for run in run_dirs("tracking")]


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
    return (
        data_targets()
        + tracking_targets()
        + evaluation_targets()
        + run_tracking_targets()
        + (["results/summary/metrics.json"] if run_dirs("evaluation") else [])
    )

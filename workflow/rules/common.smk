# Helpers shared by the files of workflow/rules (params validation, the experiment plan: which runs every table needs,
# each trained once; target lists; the params each job passes to `python -m sgm_mlc`).
import functools
import json
import os
import shlex
import sys
from pathlib import Path

PROJECT_SRC = str(Path(workflow.basedir) / "src")
sys.path.insert(0, PROJECT_SRC)
# Jobs import the library from the source tree, in the venv and inside the conda envs alike (the envs carry
# only its dependencies); the prefix keeps Snakemake's default strict-mode settings.
shell.prefix(f"set -euo pipefail; export PYTHONPATH={shlex.quote(PROJECT_SRC)}; ")

from snakemake.exceptions import WorkflowError

from sgm_mlc.config import coerce_command_line_strings, dataset_view, read_params_file, validate_params
from sgm_mlc.experiment.plan import (
    DEFAULT_VARIANT,
    TUNED_ORDER,
    TUNED_VARIANT,
    MODEL_NAMES,
    NEURAL_MODELS,
    Run,
    ablation_variants,
    dataset_modality,
    evaluate_sections,
    experiment_plan,
    explained_runs,
    train_sections,
    tracked_sections,
    training_runs_file,
    tune_sections,
    tuned_settings_file,
)
from sgm_mlc.labels.orders import ORDERS
from sgm_mlc.git import git_commit
from sgm_mlc.report.collect import report_inputs
from sgm_mlc.verify import VERIFICATION_FILE
from sgm_mlc.report.summary import summary_name

for params_file in workflow.configfiles:  # Snakemake's own YAML loader keeps the last of two equal keys
    read_params_file(params_file)
coerce_command_line_strings(config)
validate_params(config, source="params.yaml (with any --config/--configfile overrides)")

PLAN = experiment_plan(config)

DATASETS = PLAN.datasets
TRAINED_DATASETS = list(PLAN.tables)
RUN_DATASETS = sorted({run.dataset for run in PLAN.runs})  # the datasets with at least one run (one a model can read)
MODALITIES = {dataset: dataset_modality(config, dataset) for dataset in DATASETS}
TEXT_DATASETS = [dataset for dataset in TRAINED_DATASETS if MODALITIES[dataset] == "text"]
IMAGE_DATASETS = [dataset for dataset in DATASETS if MODALITIES[dataset] == "image"]
VARIANTS = [DEFAULT_VARIANT, TUNED_VARIANT] + sorted(ablation_variants(config))
# What one MLflow logging job takes of the `tracking_writes` resource (the default profile has 1): a SQLite or
# file store takes one writer at a time; a tracking server (HTTP, or a database server) takes parallel writers.
TRACKING_URI = os.environ.get("MLFLOW_TRACKING_URI") or config["tracking"]["uri"]
TRACKING_WRITES = 1 if TRACKING_URI.startswith(("sqlite:", "file:")) or "://" not in TRACKING_URI else 0


def as_json(sections):
    return json.dumps(sections, sort_keys=True)


def step_config(*sections, dataset=None):
    """JSON of the params.yaml sections one step reads, as `dataset` sees them (its overrides merged), with
    that dataset's entry."""
    view = dataset_view(config, dataset) if dataset is not None else config
    chosen = {name: view[name] for name in sections}
    if dataset is not None:
        chosen["datasets"] = {dataset: view["datasets"][dataset]}
    return as_json(chosen)


def local_dataset_files(wildcards):
    """The local files a dataset of your own is copied from (an edit of one downloads it again)."""
    section = config["datasets"][wildcards.dataset]
    if section.get("kind") != "table":
        return []
    sources = list(section["files"].values()) + ([section["label_names"]] if section.get("label_names") else [])
    return [source["path"] for source in sources if "path" in source]


def run_of(wildcards):
    return Run(wildcards.dataset, wildcards.model, wildcards.variant, wildcards.order, int(wildcards.seed))


def train_config(wildcards):
    """Exactly what the train step of this run reads (see sgm_mlc.experiment.plan.train_sections)."""
    return as_json(train_sections(config, run_of(wildcards)))


def evaluate_config(wildcards):
    """Exactly what the evaluate step of this run reads (see sgm_mlc.experiment.plan.evaluate_sections)."""
    return as_json(evaluate_sections(config, run_of(wildcards)))


def dataset_config(dataset):
    """JSON of params.yaml as ``dataset`` sees it (its overrides merged; no other dataset's entry): what logging
    its training runs reads, each run's parameters being picked out of it (sgm_mlc.experiment.plan.tracked_sections)."""
    view = dataset_view(config, dataset)
    view["datasets"] = {dataset: view["datasets"][dataset]}
    view.pop("overrides", None)
    return as_json(view)


def cross_dataset_tracked_config(wildcards):
    """What a cross-dataset evaluation depends on: the training run's params and the target dataset's."""
    sections = tracked_sections(config, run_of(wildcards))
    sections["datasets"][wildcards.target] = dataset_view(config, wildcards.target)["datasets"][wildcards.target]
    return as_json(sections)


def features_of(dataset):
    """The input features of neural models on ``dataset``: its word vectors, or its image features."""
    if MODALITIES[dataset] == "image":
        return f"results/image_features/{dataset}"
    return f"results/embeddings/{dataset}/vectors.npy"


def label_order_files(dataset, orders):
    return [f"results/label_orders/{dataset}/{order}/sequences.parquet" for order in orders]


def tuned_order_choices(dataset, model):
    """The label orders a study of ``model`` on ``dataset`` chooses among (none when it does not tune it)."""
    space = dataset_view(config, dataset)["tuning"]["spaces"].get(model, {})
    return space["order"]["choices"] if "order" in space else []


def tuned_settings_input(dataset, model):
    """A tuned run's best.yaml. Where it is to be read as committed (tuning.run_studies false), it must be there:
    the job stops while the DAG is built, naming the file and the two ways on."""
    path = tuned_settings_file(dataset, model)
    if not dataset_view(config, dataset)["tuning"]["run_studies"] and not Path(path).is_file():
        raise WorkflowError(
            f"tuning.enabled asks for a tuned {model} on {dataset}, but its committed settings {path} are missing. "
            "Run the studies (--config 'tuning={run_studies: true}', or overrides.<dataset>.tuning.run_studies: "
            "true for one dataset) or leave the tuned rows out (--config 'tuning={enabled: false}')."
        )
    return path


def run_inputs(wildcards):
    """The earlier phases' files a run reads: examples, label order (a tuned run whose study chose the order:
    every order it chose among), input features for neural models, and a tuned run's best.yaml."""
    orders = tuned_order_choices(wildcards.dataset, wildcards.model) if wildcards.order == TUNED_ORDER else [wildcards.order]
    inputs = {
        "examples": f"data/processed/{wildcards.dataset}/examples.parquet",
        "sequences": label_order_files(wildcards.dataset, orders),
    }
    if wildcards.model in NEURAL_MODELS:
        inputs["features"] = features_of(wildcards.dataset)
    if wildcards.variant == TUNED_VARIANT:
        inputs["tuned"] = tuned_settings_input(wildcards.dataset, wildcards.model)
    return inputs


def label_order_dir(wildcards):
    """``--label-order``: the run's label order folder (for a ``tuned`` order, the step reads best.yaml's)."""
    return f"results/label_orders/{wildcards.dataset}/{wildcards.order}"


def tuned_argument(wildcards, input):
    """``--tuned <best.yaml>`` for a tuned run, else nothing."""
    tuned = getattr(input, "tuned", None)
    return f"--tuned {tuned}" if tuned else ""


def tune_config(wildcards):
    """Exactly what a study reads (see sgm_mlc.experiment.plan.tune_sections)."""
    return as_json(tune_sections(config, wildcards.dataset, wildcards.model))


def tune_inputs(wildcards):
    """A study's files: examples (train and valid are read), the label orders it may use, input features."""
    orders = tuned_order_choices(wildcards.dataset, wildcards.model) or [config["run"]["order"]]
    inputs = {
        "examples": f"data/processed/{wildcards.dataset}/examples.parquet",
        "sequences": label_order_files(wildcards.dataset, orders),
    }
    if wildcards.model in NEURAL_MODELS:
        inputs["features"] = features_of(wildcards.dataset)
    return inputs


def tuned_settings_targets():
    """best.yaml of every model with a tuned row."""
    return [tuned_settings_file(dataset, model) for dataset, table in PLAN.tables.items() for model in table.tuned]


def cross_dataset_target_inputs(wildcards):
    """The target's examples, and its image features when the target is an image dataset."""
    inputs = {"target_examples": f"data/processed/{wildcards.target}/examples.parquet"}
    if MODALITIES[wildcards.target] == "image":
        inputs["target_features"] = features_of(wildcards.target)
    return inputs


def target_features_argument(wildcards, input):
    features = getattr(input, "target_features", None)
    return f"--target-features {features}" if features else ""


def features_argument(wildcards, input):
    """`--features <folder>` for the runs that read input features, else nothing."""
    features = getattr(input, "features", None)
    if not features:
        return ""
    return f"--features {features if MODALITIES[wildcards.dataset] == 'image' else Path(features).parent}"


@functools.cache
def cuda_visible():
    import torch

    return torch.cuda.is_available()


def uses_gpu(wildcards):
    """`gpu=1` for a neural model's job that runs on a GPU (`training.device: cuda`, or `auto` where this
    machine sees a CUDA device), else 0: on a CPU-only machine model jobs run side by side."""
    if wildcards.model not in NEURAL_MODELS:
        return 0
    device = dataset_view(config, wildcards.dataset)["training"]["device"]
    return 1 if device == "cuda" or (device == "auto" and cuda_visible()) else 0


def run_files(phase, name, runs=None):
    return [f"{run.folder(phase)}/{name}" for run in (PLAN.runs if runs is None else runs)]


def dataset_runs(dataset):
    return [run for run in PLAN.runs if run.dataset == dataset]


def logged_run_inputs(wildcards):
    """Every file logging ``wildcards.dataset``'s training runs reads: each run's summary, evaluation and inputs."""
    files = ["results/tracking/experiment.json"]
    for run in dataset_runs(wildcards.dataset):
        files += [f"{run.folder('models')}/train_summary.json"]
        files += [f"{run.folder('evaluation')}/{name}" for name in ("metrics.json", "decision.json")]
        for value in run_inputs(run).values():
            files += value if isinstance(value, list) else [value]
    return sorted(set(files))


def neural_runs():
    return [run for run in PLAN.runs if run.model in NEURAL_MODELS]


def summary_files(folder, runs):
    """``results/<folder>/<run>.json`` of each of ``runs`` (see sgm_mlc.report.summary)."""
    return [f"results/{folder}/{summary_name(run.path)}.json" for run in runs]


def cross_dataset_files(name):
    return [f"{cross.folder}/{name}" for cross in PLAN.cross_runs]


def cross_dataset_tracking_files():
    return [f"results/tracking/{cross.folder.removeprefix('results/')}/run.json" for cross in PLAN.cross_runs]


EXPLAINED_RUNS = explained_runs(config, PLAN)


def interpretability_inputs(wildcards):
    """The files of the run whose attention the report shows on {dataset}."""
    run = EXPLAINED_RUNS[wildcards.dataset]
    return {
        "summary": f"{run.folder('models')}/train_summary.json",
        "evaluation": f"{run.folder('evaluation')}/metrics.json",
        "examples": f"data/processed/{run.dataset}/examples.parquet",
        "vectors": f"results/embeddings/{run.dataset}/vectors.npy",
        "sequences": f"results/label_orders/{run.dataset}/{run.order}/sequences.parquet",
    }


def data_targets():
    """Processed data of every dataset; word vectors and label orders of the datasets models train on, image
    features of every image dataset."""
    return (
        expand("data/processed/{dataset}/examples.parquet", dataset=DATASETS)
        + expand("results/embeddings/{dataset}/vectors.npy", dataset=TEXT_DATASETS)
        + expand("results/image_features/{dataset}", dataset=IMAGE_DATASETS)
        + expand(
            "results/label_orders/{dataset}/{order}/sequences.parquet", dataset=TRAINED_DATASETS, order=PLAN.label_orders
        )
    )


def tracking_targets():
    """One MLflow run per dataset card, per trained model, per cross-dataset evaluation and per tuning study; each
    trained dataset's runs organised (and its best model registered)."""
    return (
        expand("results/tracking/{dataset}/dataset_card_run.json", dataset=DATASETS)
        + [training_runs_file(dataset) for dataset in RUN_DATASETS]
        + expand("results/tracking/{dataset}/run_groups.json", dataset=RUN_DATASETS)
        + cross_dataset_tracking_files()
        + [f"results/tracking/tuning/{dataset}/{model}/run.json" for dataset, table in PLAN.tables.items() for model in table.tuned]
    )


def summary_targets():
    """Every run's quality metrics, timings and (neural runs) training curve."""
    return (
        summary_files("summary/metrics", PLAN.runs)
        + summary_files("timings", PLAN.runs)
        + summary_files("summary/curves", neural_runs())
    )


def report_targets():
    return ["results/report/index.html", "results/report/report.md"] if PLAN.runs else []


def all_targets():
    return (
        data_targets()
        + run_files("evaluation", "metrics.json")
        + cross_dataset_files("metrics.json")
        + tracking_targets()
        + summary_targets()
        + report_targets()
    )

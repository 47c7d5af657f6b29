"""Log one finished training run (files first, tracking second) as an MLflow run.

Everything comes from the run's files, so the same command re-logs a run whose tracking failed (a store
that was unreachable): the training's start and end from ``train_summary.json``, its data splits as dataset inputs,
per-epoch metrics from ``history.json``, final metrics from ``metrics.json``, the model, predictions and
summaries as artifacts, and the model as an MLflow pyfunc (``runs:/<run id>/model``, see
:mod:`sgm_mlc.tracking.pyfunc_model`), which ``mlflow models serve`` serves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from sgm_mlc.data.download import sha256_of
from sgm_mlc.git import git_commit
from sgm_mlc.data.parquet import read_modality
from sgm_mlc.predict.bundle import pipeline_bundle
from sgm_mlc.tracking.dataset_inputs import split_inputs
from sgm_mlc.tracking.pyfunc_model import MODEL_NAME, log_pyfunc_model
from sgm_mlc.tracking.runs import (
    get_or_create_run, log_inputs, log_run, reports_unavailable_store, run_key, with_lock_retries,
)

RULE = "train_model"
MODEL_FILES = ("model.pt", "model.joblib")
RUN_FILES = ("train_summary.json", "history.json")
EVALUATION_FILES = ("metrics.json", "predictions.parquet", "decision.json")


def epoch_metrics(history: list[dict[str, Any]]) -> list[tuple[str, float, int]]:
    """``(name, value, epoch)`` points for every numeric column of the training history."""
    return [
        (f"epoch.{name}", float(value), int(row["epoch"]))
        for row in history
        for name, value in row.items()
        if name != "epoch" and isinstance(value, (int, float))
    ]


def final_metrics(metrics: dict[str, Any]) -> list[tuple[str, float, int]]:
    """``(split.metric, value, 0)`` for every scalar metric of every split (per-label F1 stays in the file)."""
    return [
        (f"{split}.{name}", float(value), 0)
        for split, values in metrics.items()
        for name, value in values.items()
        if isinstance(value, (int, float))
    ]


def unix_milliseconds(seconds: float | None) -> int | None:
    """A Unix time in seconds as MLflow's milliseconds (None stays None: MLflow then uses now)."""
    return None if seconds is None else int(seconds * 1000)


@reports_unavailable_store
def log_training_run(
    uri: str,
    experiment: str,
    wildcards: dict[str, str],
    params: dict[str, Any],
    model_dir: Path,
    evaluation_dir: Path,
    examples_path: Path,
    project_dir: Path,
) -> dict[str, str]:
    """Get or create the run of ``wildcards`` (dataset, model, variant, order, seed) and log it, the model
    included; return its ids and the model's URI."""
    client = MlflowClient(tracking_uri=uri)
    key = run_key(RULE, wildcards, params)
    name = "-".join(wildcards[part] for part in ("dataset", "model", "variant", "order", "seed"))
    summary = json.loads((model_dir / "train_summary.json").read_text())
    # The run lasts as long as its training did (the logging job takes a fraction of a second).
    started, finished = (unix_milliseconds(summary.get(field)) for field in ("started_at", "finished_at"))
    run_id = get_or_create_run(client, experiment, key, run_name=name, start_time=started)
    history_path = model_dir / "history.json"
    history = json.loads(history_path.read_text()) if history_path.is_file() else []
    metrics = json.loads((evaluation_dir / "metrics.json").read_text())
    determinism = summary.get("determinism", {})
    dataset_sha256 = sha256_of(examples_path)
    tags = {
        "sgm_mlc.rule": RULE,
        **{f"sgm_mlc.{part}": value for part, value in wildcards.items()},
        "sgm_mlc.dataset_sha256": dataset_sha256,
        "mlflow.source.git.commit": git_commit(project_dir),
        **{f"sgm_mlc.determinism.{name}": str(value) for name, value in determinism.items()},
    }
    artifacts = [model_dir / f for f in MODEL_FILES + RUN_FILES if (model_dir / f).is_file()]
    artifacts += [evaluation_dir / f for f in EVALUATION_FILES]
    inputs = split_inputs(wildcards["dataset"], examples_path, dataset_sha256)
    log_inputs(client, run_id, inputs)
    log_run(client, run_id, params, epoch_metrics(history) + final_metrics(metrics), tags, artifacts, finished)
    # A model that reads text is logged as a pyfunc that predicts from text; one trained on images reads region
    # features, which a served model could not compute from an uploaded picture, so it is logged as files only.
    model_uri = None
    if read_modality(examples_path) == "text":
        bundle = pipeline_bundle(model_dir)
        with_lock_retries(lambda: log_pyfunc_model(uri, run_id, bundle))
        model_uri = f"runs:/{run_id}/{MODEL_NAME}"
    return {"run_id": run_id, "run_key": key, "tracking_uri": uri, "experiment": experiment, "model_uri": model_uri}

"""Log one cross-dataset evaluation (a model trained on one dataset, tested on another) as an MLflow run.

Like a training run, it is logged from its files (``metrics.json``, ``predictions.parquet``, the label map),
so the same command re-logs it after a tracking outage; its tags point at the training run it evaluates.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from sgm_mlc.data.download import sha256_of
from sgm_mlc.git import git_commit
from sgm_mlc.tracking.dataset_inputs import split_inputs
from sgm_mlc.tracking.runs import get_or_create_run, log_run, reports_unavailable_store, run_key, with_lock_retries
from sgm_mlc.tracking.training_run import final_metrics, unix_milliseconds

RULE = "evaluate_cross_dataset"
EVALUATION_FILES = ("metrics.json", "predictions.parquet")


@reports_unavailable_store
def log_cross_dataset_run(
    uri: str,
    experiment: str,
    wildcards: dict[str, str],
    params: dict[str, Any],
    training_run_id: str,
    label_map: Path,
    target_examples: Path,
    evaluation_dir: Path,
    project_dir: Path,
) -> dict[str, str]:
    """Get or create the run of ``wildcards`` (dataset, target, model, variant, order, seed) and log it, tagged
    with the MLflow run of the model's training (``training_run_id``)."""
    client = MlflowClient(tracking_uri=uri)
    key = run_key(RULE, wildcards, params)
    name = "-".join(wildcards[part] for part in ("dataset", "model", "variant", "order", "seed"))
    metrics = json.loads((evaluation_dir / "metrics.json").read_text(encoding="utf-8"))
    # The run lasts as long as the evaluation did (older metrics files lack the times: then the logging job's).
    evaluation = metrics.get("evaluation", {})
    started, finished = (unix_milliseconds(evaluation.get(field)) for field in ("started_at", "finished_at"))
    run_id = get_or_create_run(client, experiment, key, run_name=f"{name}-on-{wildcards['target']}", start_time=started)
    target_sha256 = sha256_of(target_examples)
    tags = {
        "sgm_mlc.rule": RULE,
        **{f"sgm_mlc.{part}": value for part, value in wildcards.items()},
        "sgm_mlc.training_run_id": training_run_id,
        "sgm_mlc.target_dataset_sha256": target_sha256,
        "mlflow.source.git.commit": git_commit(project_dir),
    }
    artifacts = [evaluation_dir / name for name in EVALUATION_FILES] + [label_map]
    tested = [entry for entry in split_inputs(wildcards["target"], target_examples, target_sha256)
              if entry.dataset.name.endswith("-test")]
    with_lock_retries(lambda: client.log_inputs(run_id, datasets=tested))
    log_run(client, run_id, params, final_metrics({"test": metrics["test"]}), tags, artifacts, finished)
    return {"run_id": run_id, "run_key": key, "tracking_uri": uri, "experiment": experiment}

"""Log a processed dataset's card (parameters, counts, checksum, its splits as dataset inputs) as one MLflow run
per dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlflow import MlflowClient

from sgm_mlc.data.download import sha256_of
from sgm_mlc.git import git_commit
from sgm_mlc.tracking.dataset_inputs import split_inputs
from sgm_mlc.tracking.runs import get_or_create_run, log_inputs, log_run, reports_unavailable_store, run_key

RULE = "log_dataset_card"


def card_metrics(card: dict[str, Any]) -> dict[str, float]:
    """The card's numbers as flat MLflow metrics."""
    metrics = {
        "documents": card["documents"],
        "labels": card["labels"],
        "label_cardinality": card["label_cardinality"],
        "vocabulary_size": card["vocabulary_size"],
        "skipped_records": sum(card["skipped_records"].values()),
    }
    for split, figures in card["splits"].items():
        metrics[f"{split}.documents"] = figures["documents"]
        metrics[f"{split}.labels_used"] = figures["labels_used"]
        metrics[f"{split}.label_cardinality"] = figures["label_cardinality"]
        metrics[f"{split}.unknown_token_rate"] = card["unknown_token_rate"][split]
        metrics[f"{split}.labels_missing"] = card["labels_missing"][split]["count"]
    return metrics


@reports_unavailable_store
def log_dataset_card(
    uri: str, experiment: str, dataset: str, params: dict[str, Any], processed_dir: Path, project_dir: Path
) -> dict[str, str]:
    """Get or create the dataset's run and log its parameters, card figures and card file; return its ids."""
    card_path = processed_dir / "card.json"
    card = json.loads(card_path.read_text(encoding="utf-8"))
    client = MlflowClient(tracking_uri=uri)
    key = run_key(RULE, {"dataset": dataset}, params)
    run_id = get_or_create_run(client, experiment, key, run_name=f"dataset-{dataset}")
    examples = processed_dir / "examples.parquet"
    dataset_sha256 = sha256_of(examples)
    tags = {
        "sgm_mlc.rule": RULE,
        "sgm_mlc.dataset": dataset,
        "sgm_mlc.dataset_sha256": dataset_sha256,
        "mlflow.source.git.commit": git_commit(project_dir),
    }
    log_inputs(client, run_id, split_inputs(dataset, examples, dataset_sha256))
    log_run(client, run_id, params, card_metrics(card), tags, artifacts=[card_path])
    return {"run_id": run_id, "run_key": key, "tracking_uri": uri, "experiment": experiment}

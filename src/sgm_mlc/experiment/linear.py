"""Train and evaluate one linear baseline (br, lp, cc) on one dataset, label order and seed."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from sgm_mlc.atomic import write_json
from sgm_mlc.experiment.evaluation import log_split_metrics, split_report, write_predictions
from sgm_mlc.experiment.inputs import RunInputs
from sgm_mlc.models.linear import LinearMultiLabel, build_linear_model, load, save

MODEL_FILE = "model.joblib"
log = logging.getLogger(__name__)


def train_linear(model_name: str, params: dict[str, Any], seed: int, inputs: RunInputs, out_dir: Path) -> dict[str, Any]:
    """Fit on the train split (the validation split is not used: the linear models have no epochs)."""
    model = build_linear_model(model_name, {**params["models"][model_name], "random_state": seed}, inputs.label_ranking)
    train = inputs.splits["train"]
    started, cpu_started = time.perf_counter(), time.process_time()
    model.fit(train.documents, train.label_sequences, inputs.label_ranking)
    summary = {
        "model": model_name,
        "train_seconds": time.perf_counter() - started,
        "train_cpu_minutes": (time.process_time() - cpu_started) / 60,
        "device": "cpu",
    }
    log.info("fitted %s on %d documents in %.1f s", model_name, len(train.ids), summary["train_seconds"])
    save(model, out_dir / MODEL_FILE)
    write_json(out_dir / "train_summary.json", summary)
    return summary


def ranked_labels(predictions: np.ndarray, scores: np.ndarray, ranking: list[str]) -> list[list[str]]:
    """Each row's predicted labels ``(n, n_labels)`` 0/1, most confident (highest score) first."""
    sequences = []
    for row_predictions, row_scores in zip(predictions, scores):
        chosen = np.flatnonzero(row_predictions)
        chosen = chosen[np.argsort(-row_scores[chosen], kind="stable")]
        sequences.append([ranking[j] for j in chosen])
    return sequences


def predict_linear(
    model: LinearMultiLabel, tokens: list[list[str]], ranking: list[str]
) -> tuple[list[list[str]], list[list[float]]]:
    """Each document's predicted labels, highest margin first, and their step probabilities: NaN, since linear
    SVMs give margins, not probabilities."""
    sequences = ranked_labels(model.predict(tokens), model.decision_scores(tokens), ranking)
    return sequences, [[math.nan] * len(sequence) for sequence in sequences]


def evaluate_linear(
    model_name: str, params: dict[str, Any], inputs: RunInputs, model_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """Predict the validation and test splits; write metrics and predictions.

    Linear SVMs give margins, not probabilities: the predictions table holds NaN step probabilities for them.
    """
    model = load(model_dir / MODEL_FILE)
    metrics: dict[str, Any] = {}
    predicted, probabilities = {}, {}
    for split_name in ("valid", "test"):
        split = inputs.splits[split_name]
        started = time.perf_counter()
        predicted[split_name], probabilities[split_name] = predict_linear(model, split.documents, inputs.label_ranking)
        seconds = time.perf_counter() - started
        metrics[split_name] = split_report(predicted[split_name], split, inputs.label_ranking)
        metrics[split_name]["documents_per_second"] = len(split.ids) / seconds
        log_split_metrics(split_name, metrics[split_name], len(split.ids), seconds)
    write_predictions(out_dir / "predictions.parquet", inputs.splits, predicted, probabilities)
    write_json(out_dir / "metrics.json", metrics)
    return metrics

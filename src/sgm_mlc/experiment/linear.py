"""Train and evaluate one linear baseline (br, lp, cc) on one dataset, label order and seed."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from sgm_mlc.atomic import write_json
from sgm_mlc.decision import DECISION_FILE, DecisionRule, fixed_rule
from sgm_mlc.experiment.evaluation import (
    SPLITS,
    decided_labels,
    decision_report,
    log_split_metrics,
    split_report,
    validation_decision,
    write_predictions,
)
from sgm_mlc.experiment.inputs import RunInputs
from sgm_mlc.experiment.stopwatch import Stopwatch
from sgm_mlc.models.linear import LinearMultiLabel, build_linear_model, load, save

MODEL_FILE = "model.joblib"
# The SVMs' own cut as a decision threshold (a label is predicted at or above it): the smallest positive float,
# since a margin of exactly 0 lies on the boundary, which scikit-learn counts as the negative class.
MARGIN_CUT = float(np.nextafter(0.0, 1.0))
MARGINS = "SVM margins (lp: the best class score among the train label sets holding the label minus the best without)"
log = logging.getLogger(__name__)


def train_linear(model_name: str, params: dict[str, Any], seed: int, inputs: RunInputs, out_dir: Path) -> dict[str, Any]:
    """Fit on the train split (the validation split is not used: the linear models have no epochs)."""
    model = build_linear_model(model_name, {**params["models"][model_name], "random_state": seed}, inputs.label_ranking)
    train = inputs.splits["train"]
    stopwatch = Stopwatch()
    model.fit(train.documents, train.label_sequences, inputs.label_ranking)
    summary = {"model": model_name, **stopwatch.record(), "device": "cpu"}
    log.info("fitted %s on %d documents in %.1f s", model_name, len(train.ids), summary["train_seconds"])
    save(model, out_dir / MODEL_FILE)
    write_json(out_dir / "train_summary.json", summary)
    return summary


def predict_linear(
    model: LinearMultiLabel, tokens: list[list[str]], ranking: list[str], rule: DecisionRule | None = None
) -> tuple[list[list[str]], list[list[float]]]:
    """Each document's labels that ``rule`` predicts from its margins (default: the SVMs' own cut, the ``fixed``
    rule), highest margin first, and their step probabilities: NaN, since linear SVMs give margins, not
    probabilities."""
    scores = model.decision_scores(tokens)  # (n, n_labels)
    sequences = decided_labels(rule or fixed_rule(MARGIN_CUT, len(ranking)), scores, ranking)
    return sequences, no_probabilities(sequences)


def no_probabilities(sequences: list[list[str]]) -> list[list[float]]:
    return [[math.nan] * len(sequence) for sequence in sequences]


def evaluate_linear(
    model_name: str, params: dict[str, Any], inputs: RunInputs, model_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """Score the validation and test splits; fit the decision rule on the validation scores; write the decision,
    metrics and predictions.

    Linear SVMs give margins, not probabilities: the predictions table holds NaN step probabilities for them.
    """
    model = load(model_dir / MODEL_FILE)
    ranking = inputs.label_ranking
    scores, seconds = {}, {}
    for split_name in SPLITS:
        started = time.perf_counter()
        scores[split_name] = model.decision_scores(inputs.splits[split_name].documents)  # (n, n_labels)
        seconds[split_name] = time.perf_counter() - started
    decision = validation_decision(scores["valid"], inputs, params, MARGIN_CUT, applied=True, described=MARGINS)
    fixed = fixed_rule(MARGIN_CUT, len(ranking))
    metrics: dict[str, Any] = {}
    predicted, probabilities = {}, {}
    for split_name in SPLITS:
        split, split_scores = inputs.splits[split_name], scores[split_name]
        predicted[split_name] = decided_labels(decision.rule, split_scores, ranking)
        probabilities[split_name] = no_probabilities(predicted[split_name])
        metrics[split_name] = split_report(predicted[split_name], split, ranking)
        metrics[split_name]["decision"] = decision_report(
            decision, split, ranking, fixed.apply(split_scores), decision.rule.apply(split_scores)
        )
        metrics[split_name]["documents_per_second"] = len(split.ids) / seconds[split_name]
        log_split_metrics(split_name, metrics[split_name], len(split.ids), seconds[split_name])
    decision.save(out_dir / DECISION_FILE)
    write_predictions(out_dir / "predictions.parquet", inputs.splits, predicted, probabilities)
    write_json(out_dir / "metrics.json", metrics)
    return metrics

"""Train and evaluate one neural model (sgm, seq2seq, br_neural, cnn) on one dataset, label order and seed."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sgm_mlc.atomic import write_json
from sgm_mlc.data.download import sha256_of
from sgm_mlc.decision import DECISION_FILE, Decision, DecisionRule
from sgm_mlc.experiment.evaluation import (
    SPLITS,
    decided_labels,
    decision_report,
    label_names_of,
    label_scores_of,
    log_split_metrics,
    split_report,
    validation_decision,
    write_predictions,
)
from sgm_mlc.embeddings import VECTORS_FILE
from sgm_mlc.experiment.inputs import RunInputs, SplitData
from sgm_mlc.experiment.stopwatch import Stopwatch
from sgm_mlc.features import META_FILE
from sgm_mlc.metrics.multilabel import to_multi_hot
from sgm_mlc.models.names import SET_LOSSES
from sgm_mlc.models.neural import build_neural_model, is_sequence_model
from sgm_mlc.training.batches import EncodedExamples, encode_examples
from sgm_mlc.training.device import (
    determinism_record, evaluation_uses_bf16, seed_everything, select_device, uses_bf16,
)
from sgm_mlc.training.loop import BEST_MODEL_FILE, EpochCallback, TrainingConfig, predict_split, train
from sgm_mlc.training.tasks import Prediction, SequenceTask, SetTask, Task

log = logging.getLogger(__name__)

SIGMOIDS = "sigmoid probabilities"
REPLAYED = "each label's highest probability over the steps of the decoded sequence replayed (training.tasks)"

TRAINING_CONFIG_KEYS = (
    "epochs", "batch_size", "learning_rate", "lr_decay", "decay_start_epoch", "max_grad_norm", "patience",
    "selection_metric", "eval_batch_size", "eval_max_tokens", "ema_decay",
)


def encode_split(inputs: RunInputs, split: SplitData, max_source_length: int | None) -> EncodedExamples:
    return encode_examples(
        split.ids,
        split.documents,
        split.label_sequences,
        inputs.label_ranking,
        max_source_length,
    )


def training_config(training: dict[str, Any], seed: int) -> TrainingConfig:
    """The training loop's settings from params.yaml's ``training`` section."""
    return TrainingConfig(**{key: training[key] for key in TRAINING_CONFIG_KEYS}, seed=seed)


def make_task(
    model_name: str, params: dict[str, Any], beam_size: int, label_scores: bool = False, min_labels: int = 0
) -> Task:
    """The loss and prediction rule of ``model_name`` (see :mod:`sgm_mlc.training.tasks`); a sequence model
    scores every label only when asked (``label_scores``: the final evaluation, not each validation) and
    decodes at least ``min_labels`` labels per document (the evaluation's ``decoding.min_labels``)."""
    if is_sequence_model(model_name):
        model_params = params["models"][model_name]
        return SequenceTask(
            model_params["loss"], beam_size, model_params["max_decode_length"], label_scores, min_labels
        )
    return SetTask(params["training"]["set_threshold"])


def build_model(model_name: str, params: dict[str, Any], inputs: RunInputs, features_dir: Path) -> torch.nn.Module:
    """``model_name`` over word vectors (text) or over region features (images)."""
    settings, n_labels = params["models"][model_name], len(inputs.label_ranking)
    if inputs.image_channels is not None:
        return build_neural_model(model_name, settings, None, n_labels, image_features=inputs.image_channels)
    return build_neural_model(model_name, settings, inputs.vectors(features_dir), n_labels)


def features_digest(inputs: RunInputs, features_dir: Path) -> str:
    """The sha256 of the input features: the word vectors of a text dataset; for images, the features' record
    (``features.json``: the extraction's settings and counts), since the feature arrays may be many GB."""
    return sha256_of(features_dir / (META_FILE if inputs.image_channels is not None else VECTORS_FILE))


def run_fingerprint(
    model_name: str, params: dict[str, Any], seed: int, inputs: RunInputs, features_dir: Path
) -> str:
    """What a checkpoint must match to be resumed: model, settings (bar epochs and patience), seed, data and
    input features."""
    training = {k: v for k, v in params["training"].items() if k not in ("epochs", "patience")}
    identity = {"model": model_name, "settings": params["models"][model_name], "training": training, "seed": seed,
                "examples": sha256_of(inputs.processed_dir / "examples.parquet"),
                "features": features_digest(inputs, features_dir),
                "labels": inputs.label_ranking, "vocabulary": len(inputs.vocabulary)}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def train_neural(
    model_name: str,
    params: dict[str, Any],
    seed: int,
    inputs: RunInputs,
    features_dir: Path,
    out_dir: Path,
    on_epoch: EpochCallback | None = None,
) -> dict[str, Any]:
    """Train ``model_name`` with ``params`` (sections ``models`` and ``training``) into ``out_dir``.

    Model selection uses greedy decoding on the validation split (fast); the final evaluation decodes as the
    ``decoding`` section says. ``on_epoch`` is passed to :func:`~sgm_mlc.training.loop.train`.
    """
    training = params["training"]
    device = select_device(training["device"])
    bf16 = uses_bf16(device, training["precision"])
    seed_everything(seed, device, training["deterministic"])
    model = build_model(model_name, params, inputs, features_dir)
    log.info(
        "%s: %d parameters (%d trainable) on %s%s, %d torch threads, batch %d, up to %d epochs", model_name,
        sum(p.numel() for p in model.parameters()), sum(p.numel() for p in model.parameters() if p.requires_grad),
        device, " with bf16" if bf16 else "", torch.get_num_threads(), training["batch_size"], training["epochs"],
    )
    max_length = training["max_source_length"]
    train_set = encode_split(inputs, inputs.splits["train"], max_length)
    valid_set = encode_split(inputs, inputs.splits["valid"], max_length)
    task = make_task(model_name, params, beam_size=1)
    config = training_config(training, seed)

    def evaluate(predictions):
        return split_report(label_names_of(predictions, inputs.label_ranking), inputs.splits["valid"], inputs.label_ranking)

    stopwatch = Stopwatch()
    state = train(
        model, task, train_set, valid_set, evaluate, config, out_dir, device, bf16,
        fingerprint=run_fingerprint(model_name, params, seed, inputs, features_dir), on_epoch=on_epoch,
    )
    summary = {
        "model": model_name,
        "device": str(device),
        "bf16": bf16,
        "epochs_run": state.epoch,
        "max_epochs": config.epochs,
        "best_epoch": state.best_epoch,
        "stopped_early": state.epochs_without_improvement >= config.patience,
        f"best_valid_{config.selection_metric}": state.best_score,
        **stopwatch.record(),
        "parameters": sum(p.numel() for p in model.parameters()),
        "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "determinism": determinism_record(),
    }
    write_json(out_dir / "train_summary.json", summary)
    return summary


@dataclass(frozen=True)
class TrainedNetwork:
    """A trained run's best-epoch weights on their device, with evaluation's prediction rule and batching."""

    model: torch.nn.Module
    task: Task
    device: torch.device
    bf16: bool
    training: dict[str, Any]  # params.yaml's ``training`` section

    def predict(self, encoded: EncodedExamples) -> list[Prediction]:
        """One prediction per example of ``encoded``, in its order."""
        training = self.training
        return predict_split(
            self.model, self.task, encoded, training["eval_batch_size"], self.device, self.bf16,
            training["eval_max_tokens"],
        )


def load_trained_network(
    model_name: str, params: dict[str, Any], inputs: RunInputs, features_dir: Path, model_dir: Path
) -> TrainedNetwork:
    """The best epoch's weights of the run in ``model_dir``, predicting in ``training.eval_precision``'s arithmetic;
    sequence models decode as ``params.decoding`` says (set models read no ``decoding``)."""
    training = params["training"]
    device = select_device(training["device"])
    model = build_model(model_name, params, inputs, features_dir)
    model.load_state_dict(torch.load(model_dir / BEST_MODEL_FILE, map_location="cpu", weights_only=True)["model"])
    model.to(device)
    if is_sequence_model(model_name):
        decoding = params["decoding"]
        task = make_task(model_name, params, decoding["beam_size"], True, decoding["min_labels"])
    else:
        task = make_task(model_name, params, beam_size=1, label_scores=True)
    return TrainedNetwork(model, task, device, evaluation_uses_bf16(device, training), training)


def evaluate_neural(
    model_name: str, params: dict[str, Any], inputs: RunInputs, features_dir: Path, model_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """Predict the validation and test splits with the best epoch's weights; fit the decision rule on the
    validation split's label scores; write the decision, metrics and predictions.

    A set model predicts the labels of the decision rule. A sequence model keeps its decoded labels; trained with
    a set loss, the rule fitted on its replayed label scores is reported beside them (``applied: false``).
    """
    network = load_trained_network(model_name, params, inputs, features_dir, model_dir)
    ranking = inputs.label_ranking
    outputs, seconds = {}, {}
    for split_name in SPLITS:
        encoded = encode_split(inputs, inputs.splits[split_name], params["training"]["max_source_length"])
        started = time.perf_counter()
        outputs[split_name] = network.predict(encoded)
        seconds[split_name] = time.perf_counter() - started
    scores = {name: np.asarray(label_scores_of(predictions), dtype=float) for name, predictions in outputs.items()}
    decision = network_decision(model_name, params, inputs, scores["valid"])
    metrics: dict[str, Any] = {}
    predicted, probabilities = {}, {}
    for split_name in SPLITS:
        split, split_scores = inputs.splits[split_name], scores[split_name]
        native = label_names_of(outputs[split_name], ranking)  # decoded, or cut at training.set_threshold
        if decision.applied:
            predicted[split_name], probabilities[split_name] = decided_set_labels(decision.rule, split_scores, ranking)
        else:
            predicted[split_name] = native
            probabilities[split_name] = [p.step_probabilities for p in outputs[split_name]]
        metrics[split_name] = split_report(predicted[split_name], split, ranking, split_scores)
        if decision.rule is not None:
            metrics[split_name]["decision"] = decision_report(
                decision, split, ranking, to_multi_hot(native, ranking), decision.rule.apply(split_scores)
            )
        metrics[split_name]["documents_per_second"] = len(split.ids) / seconds[split_name]
        log_split_metrics(split_name, metrics[split_name], len(split.ids), seconds[split_name])
    decision.save(out_dir / DECISION_FILE)
    write_predictions(out_dir / "predictions.parquet", inputs.splits, predicted, probabilities)
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def network_decision(model_name: str, params: dict[str, Any], inputs: RunInputs, valid_scores: np.ndarray) -> Decision:
    """The decision of a neural run from its validation label scores ``(n_valid, n_labels)``: a set model's rule
    (its fixed cut ``training.set_threshold``), applied; a sequence model's, reported beside its decoded labels,
    when it was trained with a set loss, else none."""
    if not is_sequence_model(model_name):
        cut = params["training"]["set_threshold"]
        return validation_decision(valid_scores, inputs, params, cut, applied=True, described=SIGMOIDS)
    if params["models"][model_name]["loss"] not in SET_LOSSES:
        return Decision.without_rule(inputs.label_ranking, REPLAYED, len(valid_scores))
    return validation_decision(valid_scores, inputs, params, None, applied=False, described=REPLAYED)


def decided_set_labels(
    rule: DecisionRule, probabilities: np.ndarray, ranking: list[str]
) -> tuple[list[list[str]], list[list[float]]]:
    """The labels ``rule`` predicts from a set model's sigmoid ``probabilities`` ``(n, n_labels)``, each row's most
    probable first, with their probabilities."""
    sequences = decided_labels(rule, probabilities, ranking)
    column = {label: j for j, label in enumerate(ranking)}
    chosen = [[float(row[column[label]]) for label in sequence] for sequence, row in zip(sequences, probabilities)]
    return sequences, chosen

"""One trial of a tuning study: the project's own training code, on the train and validation splits only.

A trial draws its values from the model's space (:mod:`~sgm_mlc.tuning.space`), merges them over the model's
settings and training recipe, and trains:

* a neural model with :func:`~sgm_mlc.experiment.neural.train_neural`; every epoch's validation score is
  reported to the study, and the pruner may stop the trial there. Its value is the best epoch's score;
* a linear model fitted on train, scored on validation (its value; linear models have no epochs to prune).

Every trial trains with ``tuning.seed``, so trials differ by their settings only. Its files live in a folder of
its own, deleted when it ends (the tuned runs train again, once per seed). The test split is never read.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna

from sgm_mlc.config import deep_merge
from sgm_mlc.experiment.inputs import RunInputs
from sgm_mlc.experiment.runner import run_inputs
from sgm_mlc.models.names import LINEAR_MODELS
from sgm_mlc.tuning.space import ORDER_KEY, draw, split_values
from sgm_mlc.tuning.study import CPU_SECONDS

TUNING_SPLITS = ("train", "valid")


@dataclass
class TrialContext:
    """What every trial of one study shares: the model, its default settings (``models`` and, for neural
    models, ``training`` sections), the space, the metric, the seed and the run's files."""

    model: str
    params: dict[str, Any]
    space: dict[str, Any]
    metric: str
    seed: int
    default_order: str
    processed_dir: Path
    label_orders_dir: Path
    features_dir: Path | None
    trials_dir: Path

    def __post_init__(self) -> None:
        self._inputs: dict[str, RunInputs] = {}

    def inputs(self, order: str) -> RunInputs:
        """The train and validation splits with the label sequences in ``order`` (read once per order)."""
        if order not in self._inputs:
            self._inputs[order] = run_inputs(
                self.model, self.processed_dir, self.label_orders_dir / order, self.features_dir, TUNING_SPLITS
            )
        return self._inputs[order]

    def trial_params(self, values: dict[str, Any]) -> tuple[dict[str, Any], str]:
        """The settings a trial trains with (``values`` merged over the defaults), and its label order."""
        settings = self.params["models"][self.model]
        training = self.params.get("training", {})
        split = split_values(values, settings, training)
        params = {"models": {self.model: deep_merge(settings, split["models"])}}
        if training:
            params["training"] = deep_merge(training, split["training"]) | {"selection_metric": self.metric}
        return params, split[ORDER_KEY] or self.default_order


def objective(context: TrialContext):
    """The study's objective: one trial's validation score (see the module docstring)."""

    def run(trial: optuna.Trial) -> float:
        params, order = context.trial_params(draw(context.space, trial))
        trial_dir = context.trials_dir / f"trial{trial.number}"
        started = time.process_time()
        try:
            if context.model in LINEAR_MODELS:
                return linear_trial(context, params, order)
            return neural_trial(context, params, order, trial, trial_dir)
        finally:
            trial.set_user_attr(CPU_SECONDS, time.process_time() - started)
            shutil.rmtree(trial_dir, ignore_errors=True)

    return run


def neural_trial(
    context: TrialContext, params: dict[str, Any], order: str, trial: optuna.Trial, trial_dir: Path
) -> float:
    from sgm_mlc.experiment.neural import train_neural

    def report(epoch: int, score: float) -> None:
        trial.report(score, epoch)
        if trial.should_prune():
            trial.set_user_attr("epochs_run", epoch)
            raise optuna.TrialPruned(f"pruned after epoch {epoch} (validation {context.metric} {score:.4f})")

    summary = train_neural(
        context.model, params, context.seed, context.inputs(order), context.features_dir, trial_dir, on_epoch=report
    )
    trial.set_user_attr("epochs_run", summary["epochs_run"])
    trial.set_user_attr("best_epoch", summary["best_epoch"])
    return summary[f"best_valid_{context.metric}"]


def linear_trial(context: TrialContext, params: dict[str, Any], order: str) -> float:
    from sgm_mlc.experiment.evaluation import split_report
    from sgm_mlc.experiment.linear import predict_linear
    from sgm_mlc.models.linear import build_linear_model

    inputs = context.inputs(order)
    settings = {**params["models"][context.model], "random_state": context.seed}
    model = build_linear_model(context.model, settings, inputs.label_ranking)
    train, valid = inputs.splits["train"], inputs.splits["valid"]
    model.fit(train.documents, train.label_sequences, inputs.label_ranking)
    predicted, _ = predict_linear(model, valid.documents, inputs.label_ranking)
    return split_report(predicted, valid, inputs.label_ranking)[context.metric]

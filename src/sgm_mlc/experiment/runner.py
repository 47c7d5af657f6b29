"""One entry point per step for every model: linear baselines and neural models alike."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sgm_mlc.data.parquet import read_modality
from sgm_mlc.experiment.inputs import RunInputs, read_image_run_inputs, read_run_inputs
from sgm_mlc.models.names import LINEAR_MODELS

log = logging.getLogger(__name__)


def run_inputs(
    model_name: str,
    processed_dir: Path,
    order_dir: Path,
    features_dir: Path | None = None,
    splits: Sequence[str] | None = None,
) -> RunInputs:
    """The run's inputs: on a text dataset, documents as tokens for the linear models and as token ids for the
    neural ones; on an image dataset, each image's region features from ``features_dir``. With ``splits``, only
    those splits are read."""
    if read_modality(processed_dir / "examples.parquet") == "image":
        if features_dir is None:
            raise ValueError(f"{processed_dir} is an image dataset: give its image features (--features)")
        inputs = read_image_run_inputs(processed_dir, order_dir, features_dir, splits)
    else:
        documents = "tokens" if model_name in LINEAR_MODELS else "token_ids"
        inputs = read_run_inputs(processed_dir, order_dir, documents, splits)
    sizes = ", ".join(f"{name} {len(split.ids)}" for name, split in inputs.splits.items())
    log.info("%s on %s: %s examples, %d labels (order %s)", model_name, processed_dir, sizes,
             len(inputs.label_ranking), order_dir.name)
    return inputs


def train_model(
    model_name: str, params: dict[str, Any], seed: int, processed_dir: Path, features_dir: Path, order_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """Train ``model_name`` into ``out_dir`` (its model file, summary and, for neural models, history)."""
    inputs = run_inputs(model_name, processed_dir, order_dir, features_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if model_name in LINEAR_MODELS:
        from sgm_mlc.experiment.linear import train_linear

        return train_linear(model_name, params, seed, inputs, out_dir)
    from sgm_mlc.experiment.neural import train_neural

    return train_neural(model_name, params, seed, inputs, features_dir, out_dir)


def evaluate_model(
    model_name: str, params: dict[str, Any], processed_dir: Path, features_dir: Path, order_dir: Path, model_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """Write ``metrics.json`` (validation and test) and ``predictions.parquet`` into ``out_dir``."""
    inputs = run_inputs(model_name, processed_dir, order_dir, features_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if model_name in LINEAR_MODELS:
        from sgm_mlc.experiment.linear import evaluate_linear

        return evaluate_linear(model_name, params, inputs, model_dir, out_dir)
    from sgm_mlc.experiment.neural import evaluate_neural

    return evaluate_neural(model_name, params, inputs, features_dir, model_dir, out_dir)

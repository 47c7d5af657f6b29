"""Fit the linear baselines (br, lp, cc) on a processed dataset's train split and print their figures.

    python benchmarks/linear_baselines.py --processed /tmp/reu/processed
    python benchmarks/linear_baselines.py --processed /tmp/reu/processed --split valid --set C=2 --set min_df=2

Prints one row per model: micro-F1, macro-F1, subset accuracy and Hamming loss on ``--split`` (scikit-learn
metrics, ``zero_division=0``, over every label of the dataset) and the fit and predict wall-clock times. The
label columns, and the chain order of ``cc``, follow the ``--order`` ranking of :mod:`sgm_mlc.labels.orders`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import accuracy_score, f1_score, hamming_loss

from sgm_mlc.data.parquet import read_examples
from sgm_mlc.labels.orders import ORDERS, label_ranking
from sgm_mlc.models.linear import MODELS, binarize, build_linear_model


def parse_setting(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` (the value read as YAML: ``2``, ``0.5``, ``null``, ``balanced``) -> ``(key, value)``."""
    key, separator, value = text.partition("=")
    if not separator:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, yaml.safe_load(value)


def evaluate(truth: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Figures of ``predictions`` against ``truth``, both ``(n, n_labels)`` 0/1."""
    return {
        "micro_f1": f1_score(truth, predictions, average="micro", zero_division=0),
        "macro_f1": f1_score(truth, predictions, average="macro", zero_division=0),
        "subset_accuracy": accuracy_score(truth, predictions),
        "hamming_loss": hamming_loss(truth, predictions),
    }


def benchmark(
    name: str, params: dict[str, Any], ranking: list[str], train: pd.DataFrame, evaluated: pd.DataFrame
) -> dict[str, Any]:
    """Fit ``name`` on ``train``, predict ``evaluated``; its figures and timings."""
    model = build_linear_model(name, params, ranking)
    start = time.perf_counter()
    model.fit(train["tokens"].tolist(), train["labels"].tolist(), ranking)
    fitted = time.perf_counter()
    predictions = model.predict(evaluated["tokens"].tolist())
    predicted = time.perf_counter()
    figures = evaluate(binarize(evaluated["labels"].tolist(), ranking), predictions)
    return {"model": name, **figures, "fit_s": fitted - start, "predict_s": predicted - fitted}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processed", type=Path, required=True, help="folder holding examples.parquet")
    parser.add_argument("--split", choices=("valid", "test"), default="test", help="split to evaluate on")
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--order", choices=ORDERS, default="frequency", help="label ranking (cc's chain order)")
    parser.add_argument("--seed", type=int, default=13, help="seed of the random label order")
    parser.add_argument("--set", type=parse_setting, action="append", default=[], metavar="KEY=VALUE",
                        help="a model param over the defaults of sgm_mlc.models.linear (repeatable)")
    args = parser.parse_args(argv)

    examples = read_examples(args.processed / "examples.parquet")
    ranking = label_ranking(args.order, examples["labels"].tolist(), examples["split"].tolist(), args.seed)
    train = examples[examples["split"] == "train"]
    evaluated = examples[examples["split"] == args.split]
    params = dict(args.set)
    rows = [benchmark(name, params, ranking, train, evaluated) for name in args.models]
    print(f"{args.processed}: train {len(train)}, {args.split} {len(evaluated)}, {len(ranking)} labels; "
          f"params {params or 'defaults'}")
    print(pd.DataFrame(rows).to_string(index=False, float_format=lambda value: f"{value:.4f}"))


if __name__ == "__main__":
    main()

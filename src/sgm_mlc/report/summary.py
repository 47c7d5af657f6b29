"""Collect every run's final metrics and training curve into ``results/summary`` for ``dvc metrics show``
and ``dvc plots show``.

``metrics.json``: ``{"<dataset>/<model>/<variant>/<order>/seed<seed>": {"test": {...}, "valid": {...}}}`` with the scalar
metrics of each run (per-label F1 stays in the run's own ``metrics.json``); ``curves/<run name>.json``: the
run's per-epoch history (neural models only).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sgm_mlc.atomic import atomic_directory, write_json

CURVE_COLUMNS = ("epoch", "train_loss", "learning_rate", "valid_micro_f1", "valid_macro_f1", "valid_subset_accuracy")


def run_name(run_dir: Path) -> str:
    """``<dataset>/<model>/<variant>/<order>/seed<seed>`` from a run folder
    ``results/<phase>/<dataset>/<model>/<variant>/<order>/seed<seed>``."""
    return "/".join(run_dir.parts[-5:])


def scalar_metrics(metrics: dict[str, Any]) -> dict[str, dict[str, float]]:
    return {
        split: {name: value for name, value in values.items() if isinstance(value, (int, float))}
        for split, values in metrics.items()
    }


def summarize(evaluation_dirs: Sequence[Path], model_dirs: Sequence[Path], out_dir: Path) -> dict[str, Any]:
    """Write ``metrics.json`` and ``curves/`` into ``out_dir`` (replaced as a whole); return the metrics."""
    table = {
        run_name(folder): scalar_metrics(json.loads((folder / "metrics.json").read_text(encoding="utf-8")))
        for folder in evaluation_dirs
    }
    write_json(out_dir / "metrics.json", table)
    with atomic_directory(out_dir / "curves") as curves:
        for folder in model_dirs:
            history = folder / "history.json"
            if history.is_file():
                rows = json.loads(history.read_text(encoding="utf-8"))
                name = run_name(folder).replace("/", "-")
                write_json(curves / f"{name}.json", [{k: row[k] for k in CURVE_COLUMNS if k in row} for row in rows])
    return table

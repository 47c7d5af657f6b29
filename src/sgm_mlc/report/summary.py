"""Collect every run's final metrics and training curve into ``results/summary`` (committed to git: ``dvc metrics
show``, one row per run, ``dvc metrics diff``, ``dvc plots show``, ``sgm-mlc verify``), and its timings into
``results/timings`` (not versioned), one small file per run in each folder.

A run's file is named ``<dataset>-<model>-<variant>-<order>-seed<seed>.json`` in every folder:

* ``summary/metrics/``: ``{"test": {...}, "valid": {...}}``, the scalar quality metrics of each split (per-label
  F1 stays in the run's own ``metrics.json``). Equal for equal parameters and seed on one machine.
* ``summary/curves/``: the run's per-epoch history (neural models only), without its wall times.
* ``timings/``: ``{"train_seconds": ..., "test": {"documents_per_second": ...}, "valid": {...}}``, how long the
  run took. Wall times differ at every run, so they stay out of the committed record: a rerun of the same
  parameters leaves ``git status`` clean.

Each folder is replaced as a whole, so a run that left the plan leaves no file behind.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sgm_mlc.atomic import atomic_directory, write_json

CURVE_COLUMNS = ("epoch", "train_loss", "learning_rate", "valid_micro_f1", "valid_macro_f1", "valid_subset_accuracy")
# The scalars of an evaluation's metrics.json that measure speed, not quality.
TIMING_METRICS = frozenset({"documents_per_second"})
# Those of a model's train_summary.json.
TRAINING_TIMINGS = ("train_seconds", "train_cpu_minutes")


def summary_name(run_path: str) -> str:
    """A run's file name (without ``.json``) in every summary folder, from its path
    ``<dataset>/<model>/<variant>/<order>/seed<seed>``."""
    return run_path.replace("/", "-")


def run_path(run_dir: Path) -> str:
    """``<dataset>/<model>/<variant>/<order>/seed<seed>`` from a run folder
    ``results/<phase>/<dataset>/<model>/<variant>/<order>/seed<seed>``."""
    return "/".join(run_dir.parts[-5:])


def split_scalars(metrics: dict[str, Any]) -> tuple[dict[str, dict[str, float]], dict[str, dict[str, float]]]:
    """The scalar metrics of each split of an evaluation's ``metrics.json``, as (quality, timings)."""
    quality, timings = {}, {}
    for split, values in metrics.items():
        scalars = {name: value for name, value in values.items() if isinstance(value, (int, float))}
        quality[split] = {name: value for name, value in scalars.items() if name not in TIMING_METRICS}
        timings[split] = {name: value for name, value in scalars.items() if name in TIMING_METRICS}
    return quality, timings


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def summarize(evaluation_dirs: Sequence[Path], model_dirs: Sequence[Path], out_dir: Path, timings_dir: Path) -> None:
    """Write ``metrics/`` and ``curves/`` into ``out_dir``, and the timings into ``timings_dir``, from the runs'
    evaluation folders and model folders (the same runs, in any order)."""
    models = {run_path(folder): folder for folder in model_dirs}
    with atomic_directory(out_dir / "metrics") as metrics_dir, atomic_directory(timings_dir) as timings_out:
        for folder in evaluation_dirs:
            path = run_path(folder)
            quality, timings = split_scalars(read_json(folder / "metrics.json"))
            train_summary = read_json(models[path] / "train_summary.json")
            timings.update({name: train_summary[name] for name in TRAINING_TIMINGS if name in train_summary})
            write_json(metrics_dir / f"{summary_name(path)}.json", quality)
            write_json(timings_out / f"{summary_name(path)}.json", timings)
    with atomic_directory(out_dir / "curves") as curves_dir:
        for path, folder in models.items():
            history = folder / "history.json"
            if history.is_file():
                rows = read_json(history)
                write_json(
                    curves_dir / f"{summary_name(path)}.json",
                    [{column: row[column] for column in CURVE_COLUMNS if column in row} for row in rows],
                )

"""What each row of a dataset's main table cost, and how it was set: default or tuned settings, the tuning
study's budget and what it used, epochs run, best epoch and training CPU-minutes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sgm_mlc.data.download import sha256_of
from sgm_mlc.experiment.plan import NEURAL_MODELS, Run, tuned_settings_file
from sgm_mlc.report.collect import Results, study_tracking_file
from sgm_mlc.report.document import DASH, Cell, MetricCell, Row, Table, TextCell, Value

BEST_IS_LAST = "⚑"
BUDGET_COLUMNS = {
    "settings": "settings",
    "n": "n",
    "epochs_run": "epochs run",
    "best_epoch": "best epoch",
    "max_epochs": "max epochs",
    "train_cpu_minutes": "train CPU-min",
    "best_is_last": "best = last",
}


def budget_rows(results: Results, dataset: str) -> list[tuple[str, str, list[Run]]]:
    """``(row label, model, runs)`` of the main table: each model with default settings, then tuned."""
    table = results.plan.tables[dataset]
    rows = []
    for model, runs in table.main.items():
        rows.append((model, model, runs))
        if model in table.tuned:
            rows.append((f"{model} (tuned)", model, table.tuned[model]))
    return rows


def summary_values(results: Results, runs: Sequence[Run], key: str) -> list[Value]:
    """``key`` of each run's ``train_summary.json``, with its file and MLflow run."""
    values = []
    for run in runs:
        file = f"{run.folder('models')}/train_summary.json"
        tracked = results.tracked(run)
        values.append(Value(results.train_summary(run)[key], file, (key,), run.seed, tracked["run_id"], results.link(run)))
    return values


def settings_cell(results: Results, dataset: str, model: str, tuned: bool) -> TextCell:
    """``default``, or ``tuned`` with what the study used of its budget, flagged where the study ran on other
    examples than the dataset's present ones (its settings were tuned on other data)."""
    if not tuned:
        return TextCell("default")
    provenance = results.tuned(dataset, model)["provenance"]
    used, budget = provenance["used"], provenance["budget"]
    stale = provenance["examples_sha256"] != sha256_of(results.path(f"data/processed/{dataset}/examples.parquet"))
    return TextCell(
        f"tuned: {used['finished']}/{budget['trials']} trials ({used['pruned']} pruned), "
        f"{used['cpu_minutes']:.1f}/{budget['cpu_minutes']:g} CPU-min"
        + ("; tuned on other examples than these: run the study again" if stale else "")
    )


def best_is_last_cell(summaries: Sequence[dict[str, Any]]) -> TextCell:
    """How many seeds reached their best validation score at their last epoch without stopping early (the
    epoch cap, not the model, ended them), flagged :data:`BEST_IS_LAST`."""
    capped = sum(summary["best_epoch"] == summary["epochs_run"] and not summary["stopped_early"] for summary in summaries)
    return TextCell(f"{capped} of {len(summaries)} {BEST_IS_LAST}" if capped else f"0 of {len(summaries)}")


def budget_table(results: Results, dataset: str) -> Table:
    """One row per row of the main table: settings, epochs and training CPU-minutes (see the module docstring)."""
    rows = []
    for label, model, runs in budget_rows(results, dataset):
        tuned = runs[0].variant == "tuned"
        cells: dict[str, Cell] = {"settings": settings_cell(results, dataset, model, tuned), "n": TextCell(str(len(runs)))}
        neural = model in NEURAL_MODELS
        for key in ("epochs_run", "best_epoch"):
            cells[key] = MetricCell(summary_values(results, runs, key), digits=1) if neural else TextCell(DASH)
        summaries = [results.train_summary(run) for run in runs]
        cells["max_epochs"] = TextCell(str(summaries[0]["max_epochs"]) if neural else DASH)
        cells["train_cpu_minutes"] = MetricCell(summary_values(results, runs, "train_cpu_minutes"), digits=2)
        cells["best_is_last"] = best_is_last_cell(summaries) if neural else TextCell(DASH)
        rows.append(Row(label, cells))
    notes = [
        "Each neural run trains until its validation score has not improved for `training.patience` epochs, or "
        "until `max epochs`; its best epoch's weights are evaluated. Epochs and CPU-minutes: mean ± std over the "
        "row's seeds (train_summary.json of each run); CPU-minutes count every thread of the training process.",
        f"best = last: seeds whose best validation score came at their last epoch without early stopping; "
        f"{BEST_IS_LAST} marks rows that the epoch cap, not the model, may have limited.",
        "tuned: trained with the settings of the model's tuning study on the validation split (trials finished / "
        "budget, CPU-minutes used / budget); every model of the dataset had the same budget. The studies are below.",
    ]
    return Table("budgets", dataset, f"Settings and training budgets on {dataset}", dict(BUDGET_COLUMNS), rows, notes)


def study_table(results: Results, dataset: str) -> Table | None:
    """One row per tuning study of ``dataset``: budget, use, best validation score and the settings chosen
    (``None`` when no model is tuned)."""
    tuned = results.plan.tables[dataset].tuned
    if not tuned:
        return None
    rows = []
    for model in tuned:
        best = results.tuned(dataset, model)
        provenance = best["provenance"]
        run_id, link = results.study_link(dataset, model)
        score = Value(provenance["best"]["validation"], tuned_settings_file(dataset, model), ("provenance", "best", "validation"),
                      provenance["seed"], run_id, link)
        chosen = {key: value for section in best["settings"].values() for key, value in flatten(section).items()}
        if best["order"]:
            chosen["order"] = best["order"]
        cells: dict[str, Cell] = {
            "metric": TextCell(provenance["metric"]),
            "best": MetricCell([score], digits=3),
            "trial": TextCell(str(provenance["best"]["trial"])),
            "used": TextCell(
                f"{provenance['used']['finished']} trials ({provenance['used']['complete']} complete, "
                f"{provenance['used']['pruned']} pruned, {provenance['used']['fail']} failed), "
                f"{provenance['used']['cpu_minutes']:.1f} CPU-min"
            ),
            "chosen": TextCell(", ".join(f"{key}={format_setting(value)}" for key, value in chosen.items())),
        }
        rows.append(Row(model, cells))
    studied = [results.tuned(dataset, model)["provenance"] for model in tuned]
    budget = studied[0]
    pruners = sorted({provenance["pruner"] for provenance in studied})
    columns = {"metric": "selected by", "best": "best validation", "trial": "best trial", "used": "used",
               "chosen": "settings chosen"}
    notes = [
        f"Optuna studies on the train and validation splits only: {budget['sampler']}; pruner: {'; '.join(pruners)}; "
        f"budget per model: {budget['budget']['trials']} trials or {budget['budget']['cpu_minutes']:g} CPU-minutes, "
        "whichever is spent first. Files: results/tuning/<dataset>/<model>/best.yaml and trials.json; each study "
        f"is an MLflow run with a child run per trial ({study_tracking_file(dataset, '<model>')}).",
    ]
    return Table("tuning", dataset, f"Tuning studies on {dataset}", columns, rows, notes)


def flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"models": {"sgm": {"dropout": 0.3}}}`` → ``{"dropout": 0.3}`` (a model's section is named by the row)."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(flatten(value, prefix))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def format_setting(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)

"""The tables of one dataset, each a selection of runs from the experiment plan (``experiment.plan``).

* **main**: the models of ``run.models`` on the test split, SGM tested against each baseline; with default
  settings, and (``tuning.enabled``) with each model's tuned settings;
* **ablations**: the variants of ``experiments.ablations.model``, each tested against the full model;
* **label orders**: model × order, each order tested against the model's ``run.order`` row;
* **cross-dataset**: models trained on the dataset and scored on another one's test split over the mapped
  labels, with what the label map says beside them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sgm_mlc.experiment.plan import DEFAULT_VARIANT, DETERMINISTIC_MODELS, NEURAL_MODELS, SEQUENCE_MODELS, CrossRun, Run
from sgm_mlc.metrics.significance import CONFIDENCE
from sgm_mlc.metrics.significance import METRICS as TESTED_METRICS
from sgm_mlc.report.collect import Results, metrics_file
from sgm_mlc.report.comparisons import Comparisons, Family
from sgm_mlc.report.document import (
    ADJUSTED_P,
    DASH,
    EFFECT,
    Cell,
    Comparison,
    ComparisonCell,
    Facts,
    MetricCell,
    Row,
    Table,
    TextCell,
    Value,
)

PROPOSED_MODEL = "sgm"
SPLIT = "test"
# metric → (heading, lower is better, decimals)
METRICS: dict[str, tuple[str, bool, int]] = {
    "hamming_loss": ("Hamming loss ↓", True, 4),
    "micro_precision": ("micro-P", False, 3),
    "micro_recall": ("micro-R", False, 3),
    "micro_f1": ("micro-F1", False, 3),
    "macro_f1": ("macro-F1", False, 3),
    "example_f1": ("example-F1", False, 3),
    "subset_accuracy": ("subset acc.", False, 3),
    "position_deviation": ("position dev. ↓", True, 2),
}
# The image-tagging metrics of the multi-label image literature, for image datasets.
IMAGE_METRICS: dict[str, tuple[str, bool, int]] = {
    "class_precision": ("CP", False, 3),
    "class_recall": ("CR", False, 3),
    "class_f1": ("CF1", False, 3),
    "overall_precision": ("OP", False, 3),
    "overall_recall": ("OR", False, 3),
    "overall_f1": ("OF1", False, 3),
    "class_f1_top3": ("CF1@3", False, 3),
    "overall_f1_top3": ("OF1@3", False, 3),
    "mean_average_precision": ("mAP", False, 3),
}
ALL_METRICS = METRICS | IMAGE_METRICS
ORDER_METRICS = ("micro_f1", "macro_f1", "subset_accuracy", "position_deviation")
# The heading of each column a tested metric's comparison shows, from the metric's heading.
# (The uncorrected p is in numbers.json, and on hover over the corrected one.)
TEST_HEADINGS = {EFFECT: "Δ {} [" + f"{CONFIDENCE:.0%}" + " CI]", ADJUSTED_P: "p Holm ({})"}
BOLD_NOTE = "Bold: the best value of the column."
_TIE = 1e-12


def seeds_note(models: Sequence[str]) -> str:
    """How the cells aggregate seeds, and which models are deterministic (run once)."""
    note = (
        "Test split. Each cell is the mean ± sample standard deviation over the n seed runs of its row; the "
        "links (s<seed>) beside a row's name open each seed's run in MLflow. ↓: lower is better."
    )
    deterministic = [model for model in dict.fromkeys(models) if model in DETERMINISTIC_MODELS]
    if deterministic:
        verb = "gives" if len(deterministic) == 1 else "give"
        note += (
            f" {names(deterministic)} {verb} the same result for every seed: run once (n = 1, deterministic), "
            "not counted as independent seeds."
        )
    return note


def names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def main_table(results: Results, comparisons: Comparisons, dataset: str, tuned: bool = False) -> Table:
    """models × metrics; each baseline tested against SGM when SGM is among the models. ``tuned``: the
    models with their tuning study's settings (``tuning.enabled``), else with the default settings."""
    runs = results.plan.tables[dataset].tuned if tuned else results.plan.tables[dataset].main
    tested = PROPOSED_MODEL in runs
    family, rows = model_rows(results, comparisons, runs, f"each baseline against {PROPOSED_MODEL}")
    notes = [seeds_note(list(runs)), f"{BOLD_NOTE} Position deviation is defined for sequence models only."]
    notes += [f"Not run: {model} ({why})." for model, why in results.plan.tables[dataset].skipped.items()]
    notes += (comparisons.notes(family) if family is not None
              else [f"No significance tests: {PROPOSED_MODEL} is not among run.models."])
    if tuned:
        notes.append("Tuned: each model trained with the settings its tuning study chose on the validation split, "
                     "every model with the same budget (see the settings and budgets table).")
        return marked_best(
            Table("main_tuned", dataset, f"Main results on {dataset}, tuned settings", headers(tested), rows, notes)
        )
    return marked_best(Table("main", dataset, f"Main results on {dataset}", headers(tested), rows, notes))


def model_rows(
    results: Results, comparisons: Comparisons, runs: dict[str, Sequence[Run | CrossRun]], description: str
) -> tuple[Family | None, list[Row]]:
    """One row per model of ``runs`` (n and every metric), each tested against SGM when SGM is among them (the
    family ``description``; None without SGM)."""
    family = None
    if PROPOSED_MODEL in runs:
        pairs = {model: (model_runs, runs[PROPOSED_MODEL]) for model, model_runs in runs.items()
                 if model != PROPOSED_MODEL}
        family = comparisons.family(description, PROPOSED_MODEL, pairs)
    rows = []
    for model, model_runs in runs.items():
        cells = {"n": count_cell(model, model_runs), **metric_cells(results, model_runs, METRICS)}
        if family is not None:
            cells.update(test_cells(family, model))
        rows.append(Row(model, cells))
    return family, rows


def image_tagging_table(results: Results, dataset: str) -> Table | None:
    """Neural models × the image-tagging metrics, on an image dataset (``None`` on a text dataset)."""
    runs = {model: runs for model, runs in results.plan.tables[dataset].main.items() if model in NEURAL_MODELS}
    if results.card(dataset).get("modality") != "image" or not runs:
        return None
    rows = [Row(model, {"n": count_cell(model, model_runs), **metric_cells(results, model_runs, IMAGE_METRICS)})
            for model, model_runs in runs.items()]
    notes = [
        seeds_note(list(runs)),
        BOLD_NOTE,
        "CP, CR, CF1: precision and recall per label averaged over the labels, and their harmonic mean; OP, OR, "
        "OF1: over every (image, label) pair; @3: with each image's three highest-scoring labels as its "
        "prediction; mAP: mean over the labels with a test positive of the average precision of the label's "
        "scores. A sequence model scores a label with the highest probability it gives that label at any step "
        "of its decoded sequence replayed, a set model with its sigmoid output.",
    ]
    columns = {"n": "n", **{metric: heading for metric, (heading, _, _) in IMAGE_METRICS.items()}}
    return marked_best(Table("image_tagging", dataset, f"Image-tagging metrics on {dataset}", columns, rows, notes))


def ablation_table(results: Results, comparisons: Comparisons, dataset: str) -> Table | None:
    """Variants × metrics, each tested against the model's default settings (``None`` without variants)."""
    runs = results.plan.tables[dataset].ablations
    if not runs:
        return None
    ablations = results.params["experiments"]["ablations"]
    model, full = ablations["model"], runs[DEFAULT_VARIANT]
    labels = {variant: f"{model} {variant}" if variant != DEFAULT_VARIANT else f"{model} (full)" for variant in runs}
    pairs = {labels[variant]: (variant_runs, full) for variant, variant_runs in runs.items() if variant_runs != full}
    family = comparisons.family(f"each variant against the full {model}", labels[DEFAULT_VARIANT], pairs)
    rows, described = [], []
    for variant, variant_runs in runs.items():
        cells: dict[str, Cell] = {"n": count_cell(model, variant_runs)}
        cells.update(metric_cells(results, variant_runs, METRICS))
        cells.update(test_cells(family, labels[variant]))
        rows.append(Row(labels[variant], cells))
        if variant != DEFAULT_VARIANT:
            switches = ", ".join(f"{key}={json.dumps(value)}" for key, value in ablations["variants"][variant].items())
            same = " (the model's own settings: the full model's runs)" if variant_runs == full else ""
            described.append(f"{variant}: {switches}{same}")
    notes = [f"Variants (switches over {model}'s settings): {'; '.join(described)}.", seeds_note([model]), BOLD_NOTE,
             *comparisons.notes(family)]
    columns = headers(True)
    return marked_best(Table("ablations", dataset, f"Ablations of {model} on {dataset}", columns, rows, notes))


def order_table(results: Results, comparisons: Comparisons, dataset: str) -> Table | None:
    """(model, label order) × metrics, each order tested against the model's ``run.order`` row when that order
    is among the study's; the best order of each model in bold (``None`` without orders)."""
    by_model = results.plan.tables[dataset].orders
    if not by_model:
        return None
    base = results.params["run"]["order"]
    family = None
    if all(base in by_order for by_order in by_model.values()):
        pairs = {f"{model} / {order}": (runs, by_order[base])
                 for model, by_order in by_model.items() for order, runs in by_order.items() if order != base}
        family = comparisons.family(f"each order against the same model's {base} order (run.order)",
                                    f"the same model's {base} row", pairs)
    rows = []
    for model, by_order in by_model.items():
        for order, runs in by_order.items():
            label = f"{model} / {order}"
            cells = {"n": count_cell(model, runs), **metric_cells(results, runs, ORDER_METRICS)}
            if family is not None:
                cells.update(test_cells(family, label))
            rows.append(Row(label, cells, model))
    columns = {"n": "n", **{metric: METRICS[metric][0] for metric in ORDER_METRICS}}
    if family is not None:
        columns.update(test_headers())
    notes = [seeds_note(list(by_model)), "Bold: the best order of each model."]
    notes += (comparisons.notes(family) if family is not None
              else [f"No significance tests: run.order ({base}) is not among experiments.label_orders.orders."])
    return marked_best(Table("label_orders", dataset, f"Label orders on {dataset}", columns, rows, notes))


def cross_blocks(results: Results, comparisons: Comparisons, dataset: str) -> list[Table | Facts]:
    """For each target dataset: models × metrics over the mapped labels, each tested against SGM when SGM is
    among them, then the label map's contents."""
    blocks: list[Table | Facts] = []
    for target, by_model in results.plan.tables[dataset].cross.items():
        family, rows = model_rows(results, comparisons, by_model, f"each model against {PROPOSED_MODEL} on {target}")
        notes = [
            seeds_note(list(by_model)),
            BOLD_NOTE,
            f"Trained on {dataset}, scored on the test split of {target} over the labels mapped between the two "
            f"datasets only (workflow/label_maps/{dataset}__{target}.tsv); target labels outside the map are "
            "not scored, so these numbers do not compare with the in-dataset tables.",
            *(comparisons.notes(family) if family is not None else []),
        ]
        title = f"Cross-dataset: trained on {dataset}, tested on {target} (mapped labels only)"
        blocks.append(marked_best(Table(f"cross:{target}", dataset, title, headers(family is not None), rows, notes)))
        first = next(iter(by_model.values()))[0]
        blocks.append(label_map_facts(results, first))
    return blocks


def label_map_facts(results: Results, cross: CrossRun) -> Facts:
    """Whatever the ``label_map`` block of ``cross``'s metrics holds, one item per key."""
    label_map = results.metrics(cross).get("label_map")
    title = f"Label map {cross.pair} ({metrics_file(cross)})"
    if not isinstance(label_map, dict):
        return Facts(title, [("label map", f"not recorded in {metrics_file(cross)}")])
    return Facts(title, [(key.replace("_", " "), describe(value)) for key, value in label_map.items()])


def describe(value: Any) -> str:
    """A label map entry in words: lists and label → count maps spelled out, anything else as JSON."""
    if isinstance(value, dict) and value and all(isinstance(name, str) for name in value.values()):
        return f"{len(value)}: " + ", ".join(f"{key} → {name}" for key, name in value.items())
    if isinstance(value, dict) and all(isinstance(count, (int, float)) for count in value.values()):
        ordered = sorted(value.items(), key=lambda item: (-item[1], item[0]))
        return f"{len(value)}: " + ", ".join(f"{label} ({count:g})" for label, count in ordered) if value else "none"
    if isinstance(value, list):
        return f"{len(value)}: " + ", ".join(str(item) for item in value) if value else "none"
    if isinstance(value, (dict, bool)) or value is None:
        return json.dumps(value)
    return str(value)


def headers(tested: bool) -> dict[str, str]:
    """Column key → heading: n, every metric, and the test columns when ``tested``."""
    columns = {"n": "n", **{metric: heading for metric, (heading, _, _) in METRICS.items()}}
    return {**columns, **test_headers()} if tested else columns


def test_headers() -> dict[str, str]:
    """Column key → heading of each tested metric's difference with its confidence interval, raw p and
    corrected p."""
    return {
        f"{part}_{metric}": heading.format(METRICS[metric][0])
        for metric in TESTED_METRICS
        for part, heading in TEST_HEADINGS.items()
    }


def count_cell(model: str, runs: Sequence[Run | CrossRun]) -> TextCell:
    """The n of a row, marked when the model is deterministic."""
    return TextCell(f"{len(runs)} (deterministic)" if model in DETERMINISTIC_MODELS else str(len(runs)))


def metric_cells(results: Results, runs: Sequence[Run | CrossRun], metrics: Sequence[str]) -> dict[str, Cell]:
    """One cell per metric over ``runs``' test scores: "—" where the model has no such score."""
    model = (runs[0].run if isinstance(runs[0], CrossRun) else runs[0]).model
    cells: dict[str, Cell] = {}
    for metric in metrics:
        values = run_values(results, runs, metric)
        undefined = metric == "position_deviation" and model not in SEQUENCE_MODELS
        cells[metric] = TextCell(DASH) if values is None or undefined else MetricCell(values, ALL_METRICS[metric][2])
    return cells


def run_values(results: Results, runs: Sequence[Run | CrossRun], metric: str) -> list[Value] | None:
    """``metric`` of the test split of each run, or ``None`` when a run's metrics file lacks it."""
    values = []
    for run in runs:
        block = results.metrics(run).get(SPLIT) or {}
        if metric not in block:
            return None
        seed = run.run.seed if isinstance(run, CrossRun) else run.seed
        tracked = results.tracked(run)
        values.append(
            Value(block[metric], metrics_file(run), (SPLIT, metric), seed, tracked["run_id"], results.link(run))
        )
    return values


def test_cells(family: Family, label: str) -> dict[str, Cell]:
    """The test columns of the row ``label``: its comparison on each tested metric ("—" on a row not tested,
    such as the reference row)."""
    tests = family.tests.get(label)
    return {
        f"{part}_{metric}": TextCell(DASH) if tests is None else ComparisonCell(tests[metric], part, METRICS[metric][2])
        for metric in TESTED_METRICS
        for part in TEST_HEADINGS
    }


def row_comparison(row: Row, metric: str) -> Comparison | None:
    """The row's test on ``metric`` against its table's reference row (``None`` where it has none)."""
    cell = row.cells.get(f"{ADJUSTED_P}_{metric}")
    return cell.comparison if isinstance(cell, ComparisonCell) else None


def marked_best(table: Table) -> Table:
    """``table`` with the best mean of each metric column in bold, among the rows of each group (of two rows
    or more)."""
    for column in table.headers:
        if column not in ALL_METRICS:
            continue
        lower = ALL_METRICS[column][1]
        for group in {row.group for row in table.rows}:
            cells = [row.cells[column] for row in table.rows if row.group == group]
            means = [cell.mean for cell in cells if isinstance(cell, MetricCell) and cell.mean is not None]
            if len(means) < 2:
                continue
            best = min(means) if lower else max(means)
            for cell in cells:
                if isinstance(cell, MetricCell) and cell.mean is not None and abs(cell.mean - best) <= _TIE:
                    cell.bold = True
    return table

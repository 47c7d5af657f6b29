"""The "Decision rules" table of one dataset: for each row of the main tables (default and tuned settings) whose
model scores labels, the rule its evaluation chose on the validation split (:mod:`sgm_mlc.decision`) and the test micro- and macro-F1 before and
after it, read from the ``decision`` block of each run's ``metrics.json``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from sgm_mlc.experiment.plan import Run
from sgm_mlc.report.budgets import budget_rows
from sgm_mlc.report.collect import Results, metrics_file
from sgm_mlc.report.document import DASH, Cell, MetricCell, Row, Table, TextCell, Value
from sgm_mlc.report.tables import METRICS, SPLIT, count_cell, seeds_note

NOT_APPLIED = "not applied"
# column → (heading, metric, side of the rule)
COLUMNS: dict[str, tuple[str, str, str]] = {
    "micro_f1_before": ("micro-F1 before", "micro_f1", "before"),
    "micro_f1_after": ("micro-F1 after", "micro_f1", "after"),
    "macro_f1_before": ("macro-F1 before", "macro_f1", "before"),
    "macro_f1_after": ("macro-F1 after", "macro_f1", "after"),
}


def decision_table(results: Results, dataset: str) -> Table | None:
    """Models × (chosen rule, micro- and macro-F1 before → after), over the main table's runs whose evaluation
    fitted a rule (``None`` when none did)."""
    rows, models = [], []
    for label, model, runs in budget_rows(results, dataset):
        blocks = [results.metrics(run).get(SPLIT, {}).get("decision") for run in runs]
        if not any(blocks):
            continue
        cells: dict[str, Cell] = {"n": count_cell(model, runs), "rule": TextCell(chosen_rules(blocks))}
        for column, (_, metric, side) in COLUMNS.items():
            values = decision_values(results, runs, side, metric)
            cells[column] = TextCell(DASH) if values is None else MetricCell(values)
        rows.append(Row(label, cells))
        models.append(model)
    if not rows:
        return None
    notes = [
        seeds_note(models),
        "Each model's decision rule is fitted on the validation split's scores only and saved beside its metrics "
        "(results/evaluation/<run>/decision.json): fixed, the model's own cut (SVM margin 0, sigmoid "
        "training.set_threshold); global, one threshold for all labels; per_label, each label's F1-best threshold "
        "(the global one for labels with fewer than decision.min_positives validation positives); rank_cut, each "
        "document's top k labels. The rule with the best cross-fitted validation "
        f"{METRICS[results.params['decision']['metric']][0]} is chosen. Before: the model's own prediction (its "
        "fixed cut; a sequence model's decoded labels); after: the chosen rule's.",
        "Bold: the better of before and after, per model.",
    ]
    if any(row.cells["rule"].text.endswith(NOT_APPLIED) for row in rows):
        notes.append(
            "Not applied: a sequence model trained with a set loss keeps its decoded labels as its prediction; the "
            "rule fitted on its per-label scores (each label's highest probability over the replayed decoded "
            "sequence) is shown beside them."
        )
    table = Table("decision_rules", dataset, f"Decision rules on {dataset}", headers(), rows, notes)
    return marked_better(table)


def headers() -> dict[str, str]:
    return {"n": "n", "rule": "rule (seeds)", **{column: heading for column, (heading, _, _) in COLUMNS.items()}}


def chosen_rules(blocks: Sequence[dict | None]) -> str:
    """The rules the runs chose, each with how many runs chose it, most chosen first; "not applied" where the
    model keeps its own predictions."""
    counts = Counter(block["rule"] for block in blocks if block)
    text = ", ".join(f"{rule} ({count})" for rule, count in counts.most_common())
    applied = {block["applied"] for block in blocks if block}
    return text if applied == {True} else f"{text}; {NOT_APPLIED}"


def decision_values(results: Results, runs: Sequence[Run], side: str, metric: str) -> list[Value] | None:
    """``metric`` of the test split before or after (``side``) the rule of each run, or ``None`` when a run's
    metrics file has no decision block."""
    values = []
    for run in runs:
        block = results.metrics(run).get(SPLIT, {}).get("decision")
        if not block:
            return None
        key = (SPLIT, "decision", side, metric)
        run_id = results.tracked(run)["run_id"]
        values.append(Value(block[side][metric], metrics_file(run), key, run.seed, run_id, results.link(run)))
    return values


def marked_better(table: Table) -> Table:
    """``table`` with the better mean of each before/after pair in bold."""
    for row in table.rows:
        for metric in ("micro_f1", "macro_f1"):
            pair = [row.cells[f"{metric}_{side}"] for side in ("before", "after")]
            means = [cell.mean for cell in pair if isinstance(cell, MetricCell) and cell.mean is not None]
            if len(means) == 2 and means[0] != means[1]:
                pair[means.index(max(means))].bold = True
    return table

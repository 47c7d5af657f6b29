"""Plain sentences generated from the numbers of a table: who scores higher, by how much, and whether the
difference is significant after the table's correction for multiple comparisons. Nothing here is written by
hand about the results."""

from __future__ import annotations

from sgm_mlc.report.document import Comparison, MetricCell, Table, p_clause
from sgm_mlc.report.tables import PROPOSED_MODEL, names, row_comparison

_TIE = 1e-12


def main_findings(table: Table) -> list[str]:
    """The best micro-F1, then SGM against each baseline on micro-F1, then a summary on subset accuracy."""
    rows = {row.label: row.cells for row in table.rows}
    sentences = []
    f1 = {label: cells["micro_f1"] for label, cells in rows.items() if _scored(cells["micro_f1"])}
    if f1:
        best = max(cell.mean for cell in f1.values())
        leaders = [label for label, cell in f1.items() if abs(cell.mean - best) <= _TIE]
        sentences.append(
            f"On {table.dataset}, the highest micro-F1 is {names(leaders)}'s ({f1[leaders[0]].text})."
        )
    if PROPOSED_MODEL not in rows:
        return sentences
    proposed = rows[PROPOSED_MODEL]
    verdicts: dict[str, list[str]] = {
        "significantly above": [], "significantly below": [], "not significantly different from": []
    }
    alpha = None
    for row in table.rows:
        label, cells = row.label, row.cells
        test_f1, test_subset = row_comparison(row, "micro_f1"), row_comparison(row, "subset_accuracy")
        if test_f1 is not None and _scored(proposed["micro_f1"]) and _scored(cells["micro_f1"]):
            ahead = proposed["micro_f1"].mean - cells["micro_f1"].mean
            pair = (PROPOSED_MODEL, proposed["micro_f1"]), (label, cells["micro_f1"])
            sentences.append(comparison(table.dataset, "micro-F1", *pair, test_f1) + ": " + verdict(ahead, test_f1))
        if test_subset is not None and _scored(proposed["subset_accuracy"]) and _scored(cells["subset_accuracy"]):
            alpha = test_subset.alpha
            ahead = proposed["subset_accuracy"].mean - cells["subset_accuracy"].mean
            if not test_subset.significant or abs(ahead) <= _TIE:
                verdicts["not significantly different from"].append(f"{label} ({adjusted_clause(test_subset)})")
            else:
                side = "significantly above" if ahead > 0 else "significantly below"
                verdicts[side].append(f"{label} ({adjusted_clause(test_subset)})")
    clauses = [f"{side} {', '.join(labels)}" for side, labels in verdicts.items() if labels]
    if clauses:
        sentences.append(f"On subset accuracy (α = {alpha}), {PROPOSED_MODEL} is {'; '.join(clauses)}.")
    return sentences


def ablation_findings(table: Table) -> list[str]:
    """Each variant against the full model on micro-F1."""
    full, *variants = table.rows
    sentences = []
    for row in variants:
        cell, test = row.cells["micro_f1"], row_comparison(row, "micro_f1")
        if _scored(cell) and _scored(full.cells["micro_f1"]) and test is not None:
            significance = "significant" if test.significant else "not significant"
            sentences.append(
                comparison(table.dataset, "micro-F1", (full.label, full.cells["micro_f1"]), (row.label, cell), test)
                + f": the difference is {significance} at α = {test.alpha}."
            )
    return sentences


def order_findings(table: Table) -> list[str]:
    """For each model with two orders or more: the orders with the highest and the lowest micro-F1."""
    sentences = []
    for group in dict.fromkeys(row.group for row in table.rows):
        scored = [(row.label.split(" / ")[-1], row.cells["micro_f1"]) for row in table.rows if row.group == group]
        scored = [(order, cell) for order, cell in scored if _scored(cell)]
        if len(scored) < 2:
            continue
        (best, best_cell) = max(scored, key=lambda item: item[1].mean)
        (worst, worst_cell) = min(scored, key=lambda item: item[1].mean)
        sentences.append(
            f"For {group} on {table.dataset}, the {best} order gives the highest micro-F1 ({best_cell.text}) and "
            f"the {worst} order the lowest ({worst_cell.text})."
        )
    return sentences


def comparison(
    dataset: str, metric: str, a: tuple[str, MetricCell], b: tuple[str, MetricCell], test: Comparison
) -> str:
    """"On <dataset>, <higher> reaches higher <metric> than <lower> (<x> vs <y>, p = …, Holm-adjusted p = …)",
    or a tie."""
    (label_a, cell_a), (label_b, cell_b) = a, b
    p_text = f"{p_clause(test.test.p_value)}, {adjusted_clause(test)}"
    if abs(cell_a.mean - cell_b.mean) <= _TIE:
        return f"On {dataset}, {label_a} and {label_b} tie on {metric} ({cell_a.text}, {p_text})"
    (high, high_cell), (low, low_cell) = (a, b) if cell_a.mean > cell_b.mean else (b, a)
    return f"On {dataset}, {high} reaches higher {metric} than {low} ({high_cell.text} vs {low_cell.text}, {p_text})"


def adjusted_clause(test: Comparison) -> str:
    """``Holm-adjusted p = 0.012``: the p-value that decides significance."""
    return f"Holm-adjusted {p_clause(test.p_adjusted)}"


def verdict(ahead: float, test: Comparison) -> str:
    """What a difference of ``ahead`` (SGM minus a baseline) and its test say about SGM."""
    level = f"α = {test.alpha}"
    if ahead > _TIE:
        if test.significant:
            return f"SGM wins here (significant at {level})."
        return f"SGM is ahead, but not significantly at {level}."
    if test.significant:
        return f"SGM does not win here (the difference is significant at {level})."
    return f"SGM does not win here (the difference is not significant at {level})."


def _scored(cell: object) -> bool:
    return isinstance(cell, MetricCell) and cell.mean is not None


"""Plain sentences generated from the numbers of a table: who scores higher, by how much, and whether the
difference is significant after the table's correction for multiple comparisons. Nothing here is written by
hand about the results."""

from __future__ import annotations

from sgm_mlc.report.document import Comparison, MetricCell, Table, p_clause
from sgm_mlc.report.tables import PROPOSED_MODEL, names, row_comparison

_TIE = 1e-12


def main_findings(table: Table) -> list[str]:
    """The best micro-F1, then where SGM stands against every baseline on micro-F1 and on subset accuracy, one
    sentence each (the claims table gives the effects against BR, LP and CC)."""
    rows = {row.label: row.cells for row in table.rows}
    sentences = []
    f1 = {label: cells["micro_f1"] for label, cells in rows.items() if _scored(cells["micro_f1"])}
    if f1:
        best = max(cell.mean for cell in f1.values())
        leaders = [label for label, cell in f1.items() if abs(cell.mean - best) <= _TIE]
        sentences.append(
            f"On {table.dataset}, the highest micro-F1 is {names(leaders)}'s ({f1[leaders[0]].text})."
        )
    if PROPOSED_MODEL in rows:
        sentences += [standing(table, metric, heading) for metric, heading in (("micro_f1", "micro-F1"),
                                                                                ("subset_accuracy", "subset accuracy"))]
    return [sentence for sentence in sentences if sentence]


def standing(table: Table, metric: str, heading: str) -> str:
    """``On <metric> (α = …), sgm is significantly above a (Holm-adjusted p = …); not significantly different
    from b (…).``, or nothing when no row was tested."""
    proposed = {row.label: row.cells for row in table.rows}[PROPOSED_MODEL][metric]
    verdicts: dict[str, list[str]] = {
        "significantly above": [], "significantly below": [], "not significantly different from": []
    }
    alpha = None
    for row in table.rows:
        test = row_comparison(row, metric)
        if test is None or not (_scored(proposed) and _scored(row.cells[metric])):
            continue
        alpha = test.alpha
        ahead = proposed.mean - row.cells[metric].mean
        if not test.significant or abs(ahead) <= _TIE:
            side = "not significantly different from"
        else:
            side = "significantly above" if ahead > 0 else "significantly below"
        verdicts[side].append(f"{row.label} ({adjusted_clause(test)})")
    clauses = [f"{side} {', '.join(labels)}" for side, labels in verdicts.items() if labels]
    return f"On {heading} (α = {alpha}), {PROPOSED_MODEL} is {'; '.join(clauses)}." if clauses else ""


def ablation_findings(table: Table, claimed: set[str]) -> list[str]:
    """Each variant against the full model on micro-F1, but those of ``claimed`` (row labels the claims table
    answers)."""
    full, *variants = table.rows
    sentences = []
    for row in variants:
        if row.label in claimed:
            continue
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


def _scored(cell: object) -> bool:
    return isinstance(cell, MetricCell) and cell.mean is not None


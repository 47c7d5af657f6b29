"""The paper's claims, answered per dataset from the report's own tables and their significance tests: a verdict,
the effect on test micro-F1 with its confidence interval and corrected p, and a link to the table behind it.

A claim *holds* where the effect favours it and its test is significant after the table's correction, *does not
hold* where the effect goes against it significantly, is *not significant* otherwise, and is *not measured* (with
the reason) where the plan has no runs for it or its rows could not be tested. Nothing here is written by hand
about the results: the claims are fixed, the answers come from the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sgm_mlc.report.document import Comparison, Figure, Row, Section, Table, TextCell, format_p
from sgm_mlc.report.html import anchor
from sgm_mlc.report.tables import PROPOSED_MODEL, row_comparison

METRIC = "micro_f1"
HOLDS, FAILS, NOT_SIGNIFICANT, NOT_MEASURED = "holds", "does not hold", "not significant", "not measured"
BASELINES = ("br", "lp", "cc")
# claim → the ablation switches whose removal it is about
ABLATION_CLAIMS = {
    "Self-attention helps SGM": {"self_attention": False},
    "Bidirectional encoding helps SGM": {"bidirectional": False},
    "Label-dependent (contextual) attention helps SGM": {"contextual_attention": False},
    "The global embedding helps SGM": {"global_embedding": False},
}


@dataclass(frozen=True)
class Answer:
    """A claim's answer on one dataset: its ``verdict``, the evidence or the reason in ``detail``, and the title
    of the ``table`` that gives it (its anchor in the HTML)."""

    verdict: str
    detail: str
    table: str | None = None

    def cell(self) -> TextCell:
        links = (("table", f"#{anchor(self.table)}"),) if self.table else ()
        return TextCell(f"{self.verdict}: {self.detail}", links=links)


def tested(comparison: Comparison, favour: int, table: Table, against: str) -> Answer:
    """The answer a test gives; ``favour`` is +1 where the row's Δ (row minus reference) favouring the claim is
    positive, -1 where it is negative. The effect is shown in the claim's direction."""
    test = comparison.test
    effect = favour * test.difference
    low, high = sorted(favour * bound for bound in test.interval)
    evidence = (f"Δ {effect:+.3f} [{low:+.3f}, {high:+.3f}] against {against}, p Holm "
                f"{format_p(comparison.p_adjusted)}")
    if not comparison.significant:
        return Answer(NOT_SIGNIFICANT, evidence, table.title)
    return Answer(HOLDS if effect > 0 else FAILS, evidence, table.title)


def row_answer(table: Table | None, label: str, favour: int, against: str, missing: str) -> Answer:
    """The answer from ``table``'s row ``label`` tested against the reference row on micro-F1."""
    if table is None:
        return Answer(NOT_MEASURED, missing)
    row = next((row for row in table.rows if row.label == label), None)
    if row is None:
        return Answer(NOT_MEASURED, missing, table.title)
    comparison = row_comparison(row, METRIC)
    if comparison is None:
        return Answer(NOT_MEASURED, f"{label} was not tested (see the table's notes)", table.title)
    return tested(comparison, favour, table, against)


def beats_baseline(tables: Mapping[str, Table], baseline: str) -> Answer:
    main = tables.get("main")
    if main is not None and PROPOSED_MODEL not in {row.label for row in main.rows}:
        return Answer(NOT_MEASURED, f"{PROPOSED_MODEL} is not among run.models", main.title)
    return row_answer(main, baseline, -1, baseline, f"{baseline} is not among run.models")


def component_helps(tables: Mapping[str, Table], variants: Mapping[str, Mapping[str, Any]], switches: dict,
                    model: str) -> Answer:
    """Whether the full ``model`` beats its variant without the component (``switches``)."""
    variant = next((name for name, settings in variants.items() if dict(settings) == switches), None)
    setting = ", ".join(f"{key}={str(value).lower()}" for key, value in switches.items())
    if model != PROPOSED_MODEL or variant is None:
        return Answer(NOT_MEASURED, f"no {PROPOSED_MODEL} variant with {setting} in experiments.ablations")
    return row_answer(tables.get("ablations"), f"{model} {variant}", -1, variant,
                      f"the {variant} variant was not run")


def order_matters(tables: Mapping[str, Table], base_order: str) -> Answer:
    """Whether some order of SGM differs significantly from its ``run.order`` row: the strongest difference."""
    orders = tables.get("label_orders")
    rows = [] if orders is None else [row for row in orders.rows if row.group == PROPOSED_MODEL]
    compared = [(row, row_comparison(row, METRIC)) for row in rows]
    compared = [(row, comparison) for row, comparison in compared if comparison is not None]
    if not compared:
        why = (f"{PROPOSED_MODEL} was not trained with two orders or more, {base_order} among them "
               "(experiments.label_orders)")
        return Answer(NOT_MEASURED, why, orders.title if orders is not None else None)
    row, comparison = min(compared, key=lambda pair: pair[1].p_adjusted)
    order = row.label.split(" / ")[-1]
    test = comparison.test
    low, high = test.interval
    evidence = (f"{order} vs {base_order}: Δ {test.difference:+.3f} [{low:+.3f}, {high:+.3f}], p Holm "
                f"{format_p(comparison.p_adjusted)} (the strongest of {len(compared)} order{'s' * (len(compared) > 1)} tested)")
    return Answer(HOLDS if comparison.significant else NOT_SIGNIFICANT, evidence, orders.title)


def generalises(tables: Mapping[str, Table]) -> Answer:
    """Whether SGM beats BR on another dataset's test split (the first cross-dataset table that has both)."""
    crosses = [table for name, table in tables.items() if name.startswith("cross:")]
    for table in crosses:
        labels = {row.label for row in table.rows}
        if {PROPOSED_MODEL, "br"} <= labels:
            target = table.name.removeprefix("cross:")
            answer = row_answer(table, "br", -1, f"br, tested on {target}", "")
            return Answer(answer.verdict, answer.detail, table.title)
    return Answer(NOT_MEASURED, f"no cross-dataset evaluation of both {PROPOSED_MODEL} and br "
                                "(experiments.cross_dataset)")


def interpretable(section: Section) -> Answer:
    """Not a measured claim: the report shows attention examples where it has them."""
    shown = next((child for child in section.subsections if child.title == "Interpretability"), None)
    if shown is None:
        return Answer(NOT_MEASURED, "no attention examples (experiments.interpretability.examples)")
    figures = sum(1 for block in shown.blocks if isinstance(block, Figure))
    return Answer(NOT_MEASURED, f"qualitative: {figures} test documents shown with the attention of each "
                                "generated label", None)


def claimed_ablation_rows(ablations: Mapping[str, Any]) -> set[str]:
    """The rows of the ablation table (their labels) that the claims table answers."""
    if ablations["model"] != PROPOSED_MODEL:
        return set()
    return {f"{ablations['model']} {name}" for name, settings in ablations["variants"].items()
            if dict(settings) in ABLATION_CLAIMS.values()}


def dataset_tables(section: Section) -> dict[str, Table]:
    """Every table of a dataset's section, by name."""
    tables: dict[str, Table] = {}
    pending = [section]
    while pending:
        current = pending.pop()
        tables.update({block.name: block for block in current.blocks if isinstance(block, Table)})
        pending += current.subsections
    return tables


def claims_section(params: Mapping[str, Any], sections: Mapping[str, Section]) -> Section:
    """The claims table (claims × datasets) of the dataset ``sections`` (dataset → its section)."""
    ablations = params["experiments"]["ablations"] or {"model": None, "variants": {}}  # null: no ablation study
    base_order = params["run"]["order"]
    claims: list[tuple[str, Callable[[str], Answer]]] = [
        (f"SGM beats {baseline.upper()}", lambda dataset, b=baseline: beats_baseline(tables[dataset], b))
        for baseline in BASELINES
    ]
    claims += [
        (claim, lambda dataset, s=switches: component_helps(tables[dataset], ablations["variants"], s,
                                                            ablations["model"]))
        for claim, switches in ABLATION_CLAIMS.items()
    ]
    claims += [
        ("The label order matters", lambda dataset: order_matters(tables[dataset], base_order)),
        ("SGM generalises across datasets (beats BR on another dataset's test split)",
         lambda dataset: generalises(tables[dataset])),
        ("The generated sequences are interpretable (attention)", lambda dataset: interpretable(sections[dataset])),
    ]
    tables = {dataset: dataset_tables(section) for dataset, section in sections.items()}
    rows = [Row(claim, {dataset: answer(dataset).cell() for dataset in sections}) for claim, answer in claims]
    notes = [
        f"Each claim on test micro-F1, from the table it links to: Δ is the difference in the claim's direction "
        f"(positive: as claimed) with its confidence interval, p Holm its corrected p within that table. {HOLDS}: "
        f"Δ > 0 and significant; {FAILS}: Δ < 0 and significant; {NOT_SIGNIFICANT}: p Holm ≥ "
        f"{params['experiments']['significance']['alpha']}; {NOT_MEASURED}: the plan has no runs for it (why is "
        "given), or the claim is qualitative.",
    ]
    title = "Claims of the paper, per dataset"
    table = Table("claims", "all", title, {dataset: dataset for dataset in sections}, rows, notes)
    return Section("The paper's claims", [table])

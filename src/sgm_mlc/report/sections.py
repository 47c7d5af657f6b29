"""One section of the report per dataset: its tables with the findings they support, and its figures."""

from __future__ import annotations

import statistics

from sgm_mlc.experiment.plan import NEURAL_MODELS, Run
from sgm_mlc.report import figures
from sgm_mlc.report.budgets import budget_table, study_table
from sgm_mlc.report.claims import claimed_ablation_rows
from sgm_mlc.report.collect import Results
from sgm_mlc.report.comparisons import Comparisons
from sgm_mlc.report.decisions import decision_table
from sgm_mlc.report.document import Block, Facts, Figure, MetricCell, Paragraph, Section, Table
from sgm_mlc.report.findings import ablation_findings, main_findings, order_findings
from sgm_mlc.report.tables import (
    PROPOSED_MODEL,
    SPLIT,
    ablation_table,
    cross_blocks,
    image_tagging_table,
    main_table,
    order_table,
)

NAMED_MISSING_LABELS = 5  # the card.json lists them all


def dataset_section(results: Results, comparisons: Comparisons, dataset: str) -> Section:
    """Main results, ablations, label orders, cross-dataset runs and interpretability examples of ``dataset``."""
    section = Section(f"Dataset {dataset}", [Paragraph(card_summary(results, dataset))])
    main = main_table(results, comparisons, dataset)
    main_blocks: list[Block] = []
    if results.plan.tables[dataset].tuned:
        tuned = main_table(results, comparisons, dataset, tuned=True)
        main_blocks += [tuned, Paragraph(" ".join(main_findings(tuned)))]
    main_blocks += [main, Paragraph(" ".join(main_findings(main))), budget_table(results, dataset)]
    studies = study_table(results, dataset)
    if studies is not None:
        main_blocks.append(studies)
    image_tagging = image_tagging_table(results, dataset)
    if image_tagging is not None:
        main_blocks.append(image_tagging)
    main_blocks += main_figures(results, main, dataset)
    section.subsections.append(Section("Main results", main_blocks))
    decisions = decision_table(results, dataset)
    if decisions is not None:
        section.subsections.append(Section("Decision rules", [decisions]))
    ablations = ablation_table(results, comparisons, dataset)
    if ablations is not None:
        claimed = claimed_ablation_rows(results.params["experiments"]["ablations"])
        ablation_blocks = [ablations, Paragraph(" ".join(ablation_findings(ablations, claimed)))]
        section.subsections.append(Section("Ablations", ablation_blocks))
    orders = order_table(results, comparisons, dataset)
    if orders is not None:
        order_blocks = [orders, Paragraph(" ".join(order_findings(orders))), order_figure(orders, dataset)]
        section.subsections.append(Section("Label orders", order_blocks))
    cross = cross_blocks(results, comparisons, dataset)
    if cross:
        section.subsections.append(Section("Cross-dataset evaluation", cross))
    if dataset in results.explained:
        section.subsections.append(Section("Interpretability", interpretability_blocks(results, dataset)))
    return section


def card_summary(results: Results, dataset: str) -> str:
    """The dataset's size, splits and label counts from its card, and the labels a split has no document of."""
    card = results.card(dataset)
    splits = ", ".join(f"{split['documents']} {name}" for name, split in card["splits"].items())
    gaps = [
        f"{missing['count']} in {split} ({', '.join(missing['names'][:NAMED_MISSING_LABELS])}"
        f"{', …' if missing['count'] > NAMED_MISSING_LABELS else ''})"
        for split, missing in card["labels_missing"].items()
        if missing["count"]
    ]
    coverage = f"Labels with no document: {'; '.join(gaps)}." if gaps else "Every label has a document in every split."
    return (
        f"{dataset}: {card['documents']} documents ({splits}), {card['labels']} labels, "
        f"{card['label_cardinality']:.2f} labels per document on average (data/processed/{dataset}/card.json). "
        f"{coverage}"
    )


def main_figures(results: Results, main: Table, dataset: str) -> list[Figure]:
    """Training curves, per-label F1 against train frequency, label-set sizes."""
    runs = results.plan.tables[dataset].main
    blocks = []
    curves = {model: [curve(results, run) for run in runs[model]] for model in runs if model in NEURAL_MODELS}
    if curves:
        caption = "Validation micro-F1 per epoch of each neural model and seed."
        blocks.append(Figure(f"{dataset}-training-curves", caption, figures.training_curves(curves, dataset)))
    compared = label_f1_systems(main)
    if compared:
        frequencies = results.card(dataset)["splits"]["train"]["label_frequencies"]
        systems = {model: mean_per_label_f1(results, runs[model]) for model in compared}
        caption = (
            f"Per-label test F1 (mean over seeds) against the label's train frequency: {' vs '.join(compared)} (the "
            "best baseline by micro-F1); head: labels above the median frequency, tail: the rest."
        )
        png = figures.label_f1_by_frequency(frequencies, systems, dataset)
        blocks.append(Figure(f"{dataset}-label-f1", caption, png))
    true_sizes = [len(labels) for labels in results.predictions(next(iter(runs.values()))[0])["true_labels"]]
    predicted = {
        model: [len(labels) for run in model_runs for labels in results.predictions(run)["predicted_labels"]]
        for model, model_runs in runs.items()
    }
    caption = "Share of test documents per label-set size, true and predicted (seed runs pooled)."
    png = figures.label_set_sizes(true_sizes, predicted, dataset)
    blocks.append(Figure(f"{dataset}-label-set-sizes", caption, png))
    return blocks


def curve(results: Results, run: Run) -> tuple[int, list[int], list[float]]:
    """``(seed, epochs, validation micro-F1)`` of a neural run's history."""
    rows = [row for row in results.history(run) if row.get("valid_micro_f1") is not None]
    return run.seed, [row["epoch"] for row in rows], [row["valid_micro_f1"] for row in rows]


def label_f1_systems(main: Table) -> list[str]:
    """SGM (when in the table) and the best other model by mean micro-F1."""
    scored = {
        row.label: row.cells["micro_f1"].mean
        for row in main.rows
        if isinstance(row.cells["micro_f1"], MetricCell) and row.cells["micro_f1"].mean is not None
    }
    others = [model for model in scored if model != PROPOSED_MODEL]
    chosen = [PROPOSED_MODEL] if PROPOSED_MODEL in scored else []
    return chosen + ([max(others, key=scored.__getitem__)] if others else [])


def mean_per_label_f1(results: Results, runs: list[Run]) -> dict[str, float]:
    """Each label's test F1, averaged over ``runs``."""
    per_run = [results.metrics(run)[SPLIT].get("per_label_f1", {}) for run in runs]
    return {label: statistics.fmean(scores[label] for scores in per_run) for label in per_run[0]}


def order_figure(orders: Table, dataset: str) -> Figure:
    """Bars of the label-order table's micro-F1 (mean, std error bar) per model and order."""
    scores: dict[str, dict[str, tuple[float, float]]] = {}
    for row in orders.rows:
        cell = row.cells["micro_f1"]
        if isinstance(cell, MetricCell) and cell.mean is not None:
            scores.setdefault(row.group, {})[row.label.split(" / ")[-1]] = (cell.mean, cell.std or 0.0)
    caption = "Test micro-F1 per model and label order; error bars: std over seeds."
    return Figure(f"{dataset}-orders", caption, figures.order_bars(scores, dataset))


def interpretability_blocks(results: Results, dataset: str) -> list[Block]:
    """For each example: true vs generated labels, the most attended words per step, the attention heatmap."""
    source = f"results/interpret/{dataset}/examples.json"
    payload = results.examples(dataset)
    top_words = results.params["experiments"]["interpretability"]["top_words"]
    blocks: list[Block] = [Paragraph(f"Test documents decoded by {payload.get('run', '?')} ({source}).")]
    for index, example in enumerate(payload.get("examples", [])):
        document, tokens, steps = example["id"], example["tokens"], example.get("steps", [])
        generated = ", ".join(f"{step['label']} ({step['probability']:.2f})" for step in steps) or "nothing"
        true_labels = ", ".join(example["true_labels"]) or "none"
        blocks.append(Paragraph(f"Document {document}: true labels {true_labels}; generated {generated}."))
        if not steps:
            continue
        for step in steps:
            if len(step["attention"]) != len(tokens):
                raise ValueError(
                    f"{source}: example {document} step {step['label']!r} has {len(step['attention'])} attention "
                    f"weights for {len(tokens)} tokens; re-run explain_examples"
                )
        attended = [
            (step["label"], ", ".join(f"{tokens[at]} ({step['attention'][at]:.2f})"
                                      for at in top_positions(step["attention"], top_words)))
            for step in steps
        ]
        blocks.append(Facts(f"Most attended words, document {document}", attended))
        png = figures.attention_heatmap(
            tokens, [step["label"] for step in steps], [step["attention"] for step in steps],
            f"Attention of each generated label, document {document}",
        )
        blocks.append(Figure(f"{dataset}-attention-{index}", f"Attention over document {document}'s tokens.", png))
    return blocks


def top_positions(weights: list[float], count: int) -> list[int]:
    """Positions of the ``count`` largest weights, largest first (earlier position on ties)."""
    return sorted(range(len(weights)), key=lambda position: (-weights[position], position))[:count]

"""The report's figures as PNG bytes, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Each function takes plain numbers already read from the results files and returns the PNG of one figure.
"""

from __future__ import annotations

import io
import itertools
import statistics
from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

DPI = 100
COLORS = [f"C{index}" for index in range(10)]


def training_curves(
    curves: Mapping[str, Sequence[tuple[int, Sequence[int], Sequence[float]]]], dataset: str
) -> bytes:
    """Validation micro-F1 per epoch: ``curves[model]`` holds ``(seed, epochs, scores)`` per seed run."""
    figure, axes = _figure(7, 4)
    for color, (model, runs) in zip(_cycle(), curves.items()):
        for index, (seed, epochs, scores) in enumerate(runs):
            axes.plot(epochs, scores, color=color, marker="o", markersize=3, alpha=0.85,
                      label=model if index == 0 else None, linestyle="-" if index == 0 else "--")
    axes.set(xlabel="epoch", ylabel="validation micro-F1", title=f"Training curves on {dataset} (one line per seed)")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend(loc="lower right", fontsize="small")
    axes.grid(alpha=0.3)
    return _png(figure)


def label_f1_by_frequency(
    frequencies: Mapping[str, int], systems: Mapping[str, Mapping[str, float]], dataset: str
) -> bytes:
    """Per-label test F1 against the label's train frequency (log scale); head and tail split at the median
    frequency, with each system's mean F1 on either side in the legend."""
    figure, axes = _figure(7, 4)
    labels = [label for label in frequencies if frequencies[label] > 0]
    median = statistics.median(frequencies[label] for label in labels) if labels else 0
    for color, (system, f1) in zip(_cycle(), systems.items()):
        shown = [label for label in labels if label in f1]
        head = [f1[label] for label in shown if frequencies[label] > median]
        tail = [f1[label] for label in shown if frequencies[label] <= median]
        legend = f"{system} (head {_mean(head)}, tail {_mean(tail)})"
        axes.scatter([frequencies[label] for label in shown], [f1[label] for label in shown],
                     color=color, alpha=0.7, s=18, label=legend)
    if labels:
        axes.axvline(median, color="grey", linestyle=":", label=f"median train frequency ({median:g})")
        axes.set_xscale("log")
    axes.set(xlabel="train documents with the label (log)", ylabel="test F1 of the label",
             title=f"Per-label F1 against label frequency on {dataset}", ylim=(-0.03, 1.03))
    axes.legend(loc="lower right", fontsize="small")
    axes.grid(alpha=0.3)
    return _png(figure)


def label_set_sizes(true_sizes: Sequence[int], predicted: Mapping[str, Sequence[int]], dataset: str) -> bytes:
    """Share of test documents per label-set size: the true sets beside each model's predicted sets."""
    series = {"true": list(true_sizes), **{model: list(sizes) for model, sizes in predicted.items()}}
    largest = max((max(sizes, default=0) for sizes in series.values()), default=0)
    sizes = np.arange(largest + 1)
    width = 0.8 / len(series)
    figure, axes = _figure(7, 4)
    for index, (color, (name, values)) in enumerate(zip(["black"] + COLORS, series.items())):
        shares = np.bincount(values, minlength=largest + 1) / max(len(values), 1)
        axes.bar(sizes + (index - (len(series) - 1) / 2) * width, shares, width, color=color, label=name,
                 alpha=0.9 if name == "true" else 0.75)
    axes.set(xlabel="labels per document", ylabel="share of test documents", xticks=sizes,
             title=f"Label-set sizes on {dataset}: true vs predicted (seeds pooled)")
    axes.legend(fontsize="small")
    axes.grid(alpha=0.3, axis="y")
    return _png(figure)


def order_bars(scores: Mapping[str, Mapping[str, tuple[float, float]]], dataset: str) -> bytes:
    """Test micro-F1 of each model (groups) with each label order (bars): mean with a std error bar."""
    orders = list(dict.fromkeys(order for by_order in scores.values() for order in by_order))
    width = min(0.8 / max(len(orders), 1), 0.25)
    positions = np.arange(len(scores))
    figure, axes = _figure(7, 4)
    for index, (color, order) in enumerate(zip(_cycle(), orders)):
        means = [scores[model].get(order, (np.nan, 0.0))[0] for model in scores]
        errors = [scores[model].get(order, (np.nan, 0.0))[1] for model in scores]
        axes.bar(positions + (index - (len(orders) - 1) / 2) * width, means, width, yerr=errors, capsize=3,
                 color=color, label=order)
    axes.set(xticks=positions, xticklabels=list(scores), ylabel="test micro-F1",
             title=f"Label orders on {dataset} (mean ± std over seeds)")
    axes.legend(fontsize="small", title="order")
    axes.grid(alpha=0.3, axis="y")
    return _png(figure)


def attention_heatmap(
    tokens: Sequence[str], labels: Sequence[str], weights: Sequence[Sequence[float]], title: str
) -> bytes:
    """Attention of each generated label (rows) over the document's tokens (columns)."""
    matrix = np.asarray(weights, dtype=float).reshape(len(labels), len(tokens))
    figure, axes = _figure(min(max(6.0, 0.16 * len(tokens) + 2), 24.0), 1.2 + 0.35 * max(len(labels), 1))
    image = axes.imshow(matrix, aspect="auto", cmap="viridis", interpolation="nearest")
    axes.set_yticks(range(len(labels)), labels, fontsize="small")
    axes.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=6 if len(tokens) > 60 else 8)
    axes.set_title(title, fontsize="medium")
    figure.colorbar(image, ax=axes, fraction=0.02, pad=0.01, label="attention")
    return _png(figure)


def _figure(width: float, height: float):
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot()


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _cycle() -> itertools.cycle:
    return itertools.cycle(COLORS)


def _mean(values: Sequence[float]) -> str:
    return f"{statistics.fmean(values):.2f}" if values else "n/a"

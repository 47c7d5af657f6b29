"""The dataset card, counted while the examples stream past: memory grows with the number of labels and of
distinct document lengths, never with the number of examples."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sgm_mlc.data.base import SPLITS, Example


@dataclass
class SplitCounts:
    """What the card says about one split."""

    documents: int = 0
    label_total: int = 0
    max_labels: int = 0
    label_frequencies: Counter = field(default_factory=Counter)

    def add(self, labels: tuple[str, ...]) -> None:
        self.documents += 1
        self.label_total += len(labels)
        self.max_labels = max(self.max_labels, len(labels))
        self.label_frequencies.update(labels)

    def summary(self) -> dict[str, Any]:
        frequencies = sorted(self.label_frequencies.items(), key=lambda item: (-item[1], item[0]))
        return {
            "documents": self.documents,
            "labels_used": len(self.label_frequencies),
            "label_cardinality": self.label_total / self.documents if self.documents else 0.0,
            "max_labels_per_document": self.max_labels,
            "label_frequencies": dict(frequencies),
        }


@dataclass
class CardCounter:
    """Counts per split, label frequencies and document lengths of a stream of examples."""

    name: str
    modality: str
    splits: dict[str, SplitCounts] = field(default_factory=lambda: {split: SplitCounts() for split in SPLITS})
    lengths: Counter = field(default_factory=Counter)  # tokens per document → documents

    def add(self, example: Example, n_tokens: int) -> None:
        self.splits[example.split].add(example.labels)
        self.lengths[n_tokens] += 1

    @property
    def documents(self) -> int:
        return sum(counts.documents for counts in self.splits.values())

    def card(self) -> dict[str, Any]:
        """The card: ``dataset``, ``modality``, ``documents``, ``labels``, ``label_cardinality``, ``splits``
        (per split: documents, labels used, cardinality, largest label set, label frequencies) and
        ``tokens_per_document`` (mean, median, max)."""
        documents = self.documents
        labels = set().union(*(counts.label_frequencies for counts in self.splits.values()))
        label_total = sum(counts.label_total for counts in self.splits.values())
        return {
            "dataset": self.name,
            "modality": self.modality,
            "documents": documents,
            "labels": len(labels),
            "label_cardinality": label_total / documents if documents else 0.0,
            "splits": {split: counts.summary() for split, counts in self.splits.items()},
            "tokens_per_document": length_statistics(self.lengths),
        }


def labels_missing(card: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per split, the labels of ``card["label_names"]`` that no document of the split has: ``{"count": k, "names":
    [...]}`` in ``label_names`` order (a label missing from validation is one that model selection cannot see)."""
    missing = {}
    for split, counts in card["splits"].items():
        names = [name for name in card["label_names"] if name not in counts["label_frequencies"]]
        missing[split] = {"count": len(names), "names": names}
    return missing


def length_statistics(lengths: Counter) -> dict[str, float]:
    """Mean, median (the upper one of an even count) and maximum of a histogram ``length → documents``."""
    total = sum(lengths.values())
    if not total:
        return {"mean": 0.0, "median": 0.0, "max": 0.0}
    middle, seen, median = total // 2, 0, 0
    for length in sorted(lengths):
        seen += lengths[length]
        if seen > middle:
            median = length
            break
    return {
        "mean": sum(length * count for length, count in lengths.items()) / total,
        "median": float(median),
        "max": float(max(lengths)),
    }

"""Paired significance tests of two multi-label systems over the same test documents.

Each system is reduced to per-document counts (:class:`DocumentCounts`): true positives, predicted labels,
true labels and the exact-match indicator of every document. A system with several seed runs over the same
documents is pooled by averaging each document's counts over its runs (:func:`pooled_counts`), so the test
stays at the document level and a deterministic system with one run pairs with every seed of the other.

From summed counts, micro-F1 is ``2 * tp / (n_predicted + n_true)`` (1.0 when both are zero, the rule of
``metrics.multilabel``) and subset accuracy is the mean exact-match indicator; a resample therefore costs one
matrix product over the documents, whichever metric is tested.

Two tests of "the systems score the same" (two-sided), each with ``resamples`` draws from ``seed``:

* ``approximate_randomization``: each document's outputs are swapped between the two systems with
  probability 1/2; p is the share of shuffles whose absolute score difference reaches the observed one.
* ``paired_bootstrap``: documents are resampled with replacement; p is the share of resamples whose
  difference departs from the observed one by at least the observed one (the bootstrap distribution shifted
  to the null, Berg-Kirkpatrick et al. 2012).

Both p-values count the observed statistic as one draw, ``(hits + 1) / (resamples + 1)``: never 0, and exactly 1
for two identical systems. Swapping the two systems negates every difference and leaves p unchanged.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass

import numpy as np

METHODS = ("approximate_randomization", "paired_bootstrap")
METRICS = ("micro_f1", "subset_accuracy")
# Columns of the per-document count matrix.
_TRUE_POSITIVES, _PREDICTED, _TRUE, _EXACT = range(4)
# Resamples drawn per chunk are capped so that a chunk's (resamples, documents) matrix stays near this size.
_CHUNK_ENTRIES = 1 << 22
# Differences closer than this count as equal (sums of averaged counts carry rounding error).
_TOLERANCE = 1e-12


@dataclass(frozen=True)
class DocumentCounts:
    """One system's counts per document, shape ``(n_documents, 4)``: true positives, predicted labels, true
    labels, exact match (each averaged over the system's runs)."""

    counts: np.ndarray

    @property
    def n_documents(self) -> int:
        return self.counts.shape[0]


@dataclass(frozen=True)
class PairedTest:
    """The outcome of one paired test of system ``a`` against system ``b`` on one metric."""

    metric: str
    method: str
    resamples: int
    score_a: float
    score_b: float
    p_value: float

    @property
    def difference(self) -> float:
        """``score_a - score_b``."""
        return self.score_a - self.score_b

    @property
    def better(self) -> str:
        """``"a"``, ``"b"`` or ``"tie"``: which system scores higher."""
        if abs(self.difference) <= _TOLERANCE:
            return "tie"
        return "a" if self.difference > 0 else "b"


def pooled_counts(
    true_labels: Sequence[Collection[Hashable]], predicted_runs: Sequence[Sequence[Collection[Hashable]]]
) -> DocumentCounts:
    """Per-document counts of a system, averaged over its runs.

    ``true_labels[i]`` is document ``i``'s true label set; ``predicted_runs[r][i]`` the labels run ``r``
    predicts for document ``i`` (order and repeats do not matter).
    """
    if not predicted_runs:
        raise ValueError("a system needs at least one run")
    truths = [set(labels) for labels in true_labels]
    runs = []
    for index, predicted in enumerate(predicted_runs):
        if len(predicted) != len(truths):
            raise ValueError(f"run {index} predicts {len(predicted)} documents, but there are {len(truths)}")
        rows = []
        for truth, labels in zip(truths, predicted):
            labels = set(labels)
            rows.append((len(truth & labels), len(labels), len(truth), float(truth == labels)))
        runs.append(np.array(rows, dtype=float).reshape(len(truths), 4))
    return DocumentCounts(np.mean(runs, axis=0))


def paired_tests(
    a: DocumentCounts, b: DocumentCounts, method: str, resamples: int, seed: int
) -> dict[str, PairedTest]:
    """Test ``a`` against ``b`` on every metric of :data:`METRICS` with ``method`` (one of :data:`METHODS`);
    every metric is tested on the same ``resamples`` draws from ``seed``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known methods: {', '.join(METHODS)}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if a.counts.shape != b.counts.shape or a.n_documents == 0:
        raise ValueError(
            f"the systems must be scored on the same, non-empty documents: {a.n_documents} vs {b.n_documents}"
        )
    n = a.n_documents
    observed_a, observed_b = _scores(a.counts.sum(axis=0), n), _scores(b.counts.sum(axis=0), n)
    observed = {metric: observed_a[metric] - observed_b[metric] for metric in METRICS}
    hits = dict.fromkeys(METRICS, 0)
    rng = np.random.default_rng(seed)
    chunk = max(1, _CHUNK_ENTRIES // n)
    for start in range(0, resamples, chunk):
        size = min(chunk, resamples - start)
        if method == "approximate_randomization":
            differences = _shuffled_differences(a.counts, b.counts, rng, size)
            for metric in METRICS:
                hits[metric] += int(np.sum(np.abs(differences[metric]) >= abs(observed[metric]) - _TOLERANCE))
        else:
            differences = _bootstrap_differences(a.counts, b.counts, rng, size)
            for metric in METRICS:
                departure = np.abs(differences[metric] - observed[metric])
                hits[metric] += int(np.sum(departure >= abs(observed[metric]) - _TOLERANCE))
    return {
        metric: PairedTest(
            metric=metric,
            method=method,
            resamples=resamples,
            score_a=float(observed_a[metric]),
            score_b=float(observed_b[metric]),
            p_value=(hits[metric] + 1) / (resamples + 1),
        )
        for metric in METRICS
    }


def _shuffled_differences(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, size: int
) -> dict[str, np.ndarray]:
    """Score differences of ``size`` shuffles, each swapping every document's outputs with probability 1/2."""
    swaps = rng.random((size, a.shape[0])) < 0.5
    moved = swaps.astype(float) @ (b - a)  # (size, 4): what a gains and b loses by the swaps
    total_a, total_b = a.sum(axis=0), b.sum(axis=0)
    shuffled_a, shuffled_b = _scores(total_a + moved, a.shape[0]), _scores(total_b - moved, a.shape[0])
    return {metric: shuffled_a[metric] - shuffled_b[metric] for metric in METRICS}


def _bootstrap_differences(
    a: np.ndarray, b: np.ndarray, rng: np.random.Generator, size: int
) -> dict[str, np.ndarray]:
    """Score differences of ``size`` bootstrap resamples of the documents (drawn with replacement)."""
    n = a.shape[0]
    drawn = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
    weights = np.bincount(drawn.ravel(), minlength=size * n).reshape(size, n).astype(float)  # draws per document
    resampled_a, resampled_b = _scores(weights @ a, n), _scores(weights @ b, n)
    return {metric: resampled_a[metric] - resampled_b[metric] for metric in METRICS}


def _scores(totals: np.ndarray, n_documents: int) -> dict[str, np.ndarray]:
    """Each metric of :data:`METRICS` from count totals summed over documents, shape ``(..., 4)``."""
    denominator = totals[..., _PREDICTED] + totals[..., _TRUE]
    defined = denominator > _TOLERANCE
    micro_f1 = np.where(defined, 2 * totals[..., _TRUE_POSITIVES] / np.where(defined, denominator, 1.0), 1.0)
    return {"micro_f1": micro_f1, "subset_accuracy": totals[..., _EXACT] / n_documents}

"""Significance tests of two multi-label systems over the same test documents, and the Holm correction.

Each run of a system is reduced to per-document counts (:func:`run_counts`): true positives, predicted labels,
true labels and the exact-match indicator of every document. From counts summed over documents, micro-F1 is
``2 * tp / (n_predicted + n_true)`` (1.0 when both are zero, the rule of ``metrics.multilabel``) and subset
accuracy is the mean exact-match indicator.

**Seeds as random** (:func:`seed_aware_tests`, what the report uses). A system is its trained models' seed
distribution, and the test set a sample of documents, so the difference of the two systems' seed-mean scores
``delta = mean_a - mean_b`` varies with both. Its variance is estimated in three parts:

* each system's between-seed variance over its number of runs, ``s_a**2 / k_a + s_b**2 / k_b`` (zero for a
  deterministic system: its one run stands for every seed);
* the document-sampling variance of the seed-averaged difference, by the delta method: document ``i``'s
  influence on a run's score is ``psi_i = (2 tp_i - F (predicted_i + true_i)) / (PREDICTED + TRUE)`` for
  micro-F1 ``F`` and ``(exact_i - accuracy) / n`` for subset accuracy; with ``h_i`` the seed-mean influence of
  ``a`` minus that of ``b``, the variance is ``sum_i h_i**2`` (for subset accuracy exactly the ideal bootstrap
  variance);
* minus what the between-seed variance already holds: each run's own document noise, ``sum_i sum_r (psi_ri -
  mean_r psi_ri)**2 / (k (k - 1))`` per system with ``k >= 2`` runs (the document part is floored at zero).

``t = delta / sqrt(variance)`` is referred to Student's t. Its degrees of freedom: Welch-Satterthwaite over the
seed parts (each with ``k - 1``), ``nu_seeds = (sum v_j)**2 / sum(v_j**2 / (k_j - 1))``, grown in proportion to
the whole variance over the seed parts, ``nu = nu_seeds * variance / sum v_j``, since the document part is known
almost exactly; ``nu`` is infinite (a normal reference) when no system has seeds. Plain Welch-Satterthwaite over
all three parts (the document part with infinite df) rejects up to 7.8 % of true nulls at alpha 0.05 with 3
seeds against a deterministic system: with 2 df, an underestimated seed variance shrinks the standard error and
inflates the df at once. The linear growth keeps the size within 3.5-6 % at 3 seeds for seed parts from 0.1 to
10,000 times the document part (and is exact at both ends: Student's t with ``k - 1`` df without document
variance, the normal without seed variance). The confidence interval is ``delta +- t_nu(0.975) sqrt(variance)``.
A system that depends on its seed and has one run has no seed variance estimate and cannot be tested.

**Documents only** (:func:`paired_tests`: the trained models taken as fixed; a system with several runs is
pooled by averaging each document's counts over its runs, :func:`pooled_counts`), each with ``resamples`` draws
from ``seed``; a resample costs one matrix product over the documents, whichever metric is tested:

* ``approximate_randomization``: each document's outputs are swapped between the two systems with
  probability 1/2; p is the share of shuffles whose absolute score difference reaches the observed one.
* ``paired_bootstrap``: documents are resampled with replacement; p is the share of resamples whose
  difference departs from the observed one by at least the observed one (the bootstrap distribution shifted
  to the null, Berg-Kirkpatrick et al. 2012).

Both p-values count the observed statistic as one draw, ``(hits + 1) / (resamples + 1)``: never 0, and exactly 1
for two identical systems. Swapping the two systems negates every difference and leaves p unchanged. They treat
the seed runs as fixed, so with seed-to-seed spread they find differences between systems equal in expectation
far more often than alpha.

**Holm-Bonferroni** (:func:`holm`) adjusts the p-values of a family of comparisons for their number.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats

from sgm_mlc.metrics.multilabel import to_multi_hot

METHODS = ("approximate_randomization", "paired_bootstrap")
SEED_AWARE_METHOD = "seed_and_document_t"
METRICS = ("micro_f1", "subset_accuracy")
CONFIDENCE = 0.95
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


@dataclass(frozen=True)
class SeedAwareTest:
    """The outcome of the seed-aware test of system ``a`` against system ``b`` on one metric.

    ``mean_a`` is the mean of ``a``'s run scores over its ``runs_a`` runs and ``seed_variance_a`` their sample
    variance (0 for a deterministic system); ``document_variance`` is the document-sampling part of the
    difference's variance; ``degrees_of_freedom`` is infinite for a normal reference; ``interval`` is the
    :data:`CONFIDENCE` interval of :attr:`difference`.
    """

    metric: str
    mean_a: float
    mean_b: float
    runs_a: int
    runs_b: int
    seed_variance_a: float
    seed_variance_b: float
    document_variance: float
    degrees_of_freedom: float
    p_value: float
    interval: tuple[float, float]

    @property
    def difference(self) -> float:
        """``mean_a - mean_b``."""
        return self.mean_a - self.mean_b

    @property
    def variance(self) -> float:
        """The variance of :attr:`difference`: both seed parts and the document part."""
        return self.seed_variance_a / self.runs_a + self.seed_variance_b / self.runs_b + self.document_variance


@dataclass(frozen=True)
class SystemRuns:
    """One system's counts per run and document, shape ``(n_runs, n_documents, 4)`` (see :func:`run_counts`).

    A ``deterministic`` system gives the same result for every seed: its one run stands for all of them, with
    no seed variance. A system that depends on its seed needs two runs or more for its seed variance.
    """

    counts: np.ndarray
    deterministic: bool = False

    def __post_init__(self):
        if self.counts.ndim != 3 or self.counts.shape[0] == 0 or self.counts.shape[2] != 4:
            raise ValueError(f"counts must have shape (n_runs >= 1, n_documents, 4), got {self.counts.shape}")
        if self.deterministic and self.n_runs != 1:
            raise ValueError(f"a deterministic system is run once, got {self.n_runs} runs")

    @property
    def n_runs(self) -> int:
        return self.counts.shape[0]

    @property
    def n_documents(self) -> int:
        return self.counts.shape[1]

    @property
    def seed_variance_known(self) -> bool:
        """Whether the seed variance is known: zero for a deterministic system, else estimated from 2+ runs."""
        return self.deterministic or self.n_runs >= 2


def run_counts(
    true_labels: Sequence[Collection[Hashable]], predicted_runs: Sequence[Sequence[Collection[Hashable]]]
) -> np.ndarray:
    """Per-document counts of each run, shape ``(n_runs, n_documents, 4)`` (see :func:`indicator_counts`).

    ``true_labels[i]`` is document ``i``'s true label set; ``predicted_runs[r][i]`` the labels run ``r``
    predicts for document ``i`` (order and repeats do not matter).
    """
    if not predicted_runs:
        raise ValueError("a system needs at least one run")
    for index, predicted in enumerate(predicted_runs):
        if len(predicted) != len(true_labels):
            raise ValueError(f"run {index} predicts {len(predicted)} documents, but there are {len(true_labels)}")
    label_sets = (true_labels, *predicted_runs)
    names = list(dict.fromkeys(label for sets in label_sets for labels in sets for label in labels))
    y_pred = np.stack([to_multi_hot(predicted, names) for predicted in predicted_runs])
    return indicator_counts(to_multi_hot(true_labels, names), y_pred)


def indicator_counts(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Per-document counts of each run from 0/1 indicators, ``y_true`` of shape ``(n_documents, n_labels)`` and
    ``y_pred`` of shape ``(n_runs, n_documents, n_labels)``: shape ``(n_runs, n_documents, 4)`` with true
    positives, predicted labels, true labels and exact match."""
    y_true, y_pred = np.asarray(y_true, dtype=bool), np.asarray(y_pred, dtype=bool)
    true_positives = (y_pred & y_true).sum(axis=-1)
    columns = (true_positives, y_pred.sum(axis=-1), np.broadcast_to(y_true.sum(axis=-1), true_positives.shape),
               (y_pred == y_true).all(axis=-1))
    return np.stack(columns, axis=-1).astype(float)


def pooled_counts(
    true_labels: Sequence[Collection[Hashable]], predicted_runs: Sequence[Sequence[Collection[Hashable]]]
) -> DocumentCounts:
    """Per-document counts of a system, averaged over its runs (arguments as for :func:`run_counts`)."""
    return DocumentCounts(run_counts(true_labels, predicted_runs).mean(axis=0))


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


def seed_aware_tests(a: SystemRuns, b: SystemRuns) -> dict[str, SeedAwareTest]:
    """Test ``a`` against ``b`` on every metric of :data:`METRICS`, seeds and documents random (see the module
    docstring)."""
    for name, system in (("a", a), ("b", b)):
        if not system.seed_variance_known:
            raise ValueError(
                f"system {name} has one run and depends on its seed, so its seed variance is unknown; "
                "train it with two seeds or more"
            )
    if a.n_documents != b.n_documents or a.n_documents == 0:
        raise ValueError(
            f"the systems must be scored on the same, non-empty documents: {a.n_documents} vs {b.n_documents}"
        )
    per_run_a, per_run_b = _scores_and_influences(a.counts), _scores_and_influences(b.counts)
    tests = {}
    for metric in METRICS:
        (scores_a, influence_a), (scores_b, influence_b) = per_run_a[metric], per_run_b[metric]
        seed_variance_a, seed_variance_b = seed_variance(scores_a), seed_variance(scores_b)
        document = document_variance(influence_a, influence_b)
        seed_parts = [(seed_variance_a / a.n_runs, a.n_runs), (seed_variance_b / b.n_runs, b.n_runs)]
        degrees = degrees_of_freedom(seed_parts, document)
        difference = float(scores_a.mean() - scores_b.mean())
        p_value, interval = t_test(difference, sum(part for part, _ in seed_parts) + document, degrees)
        tests[metric] = SeedAwareTest(
            metric=metric,
            mean_a=float(scores_a.mean()),
            mean_b=float(scores_b.mean()),
            runs_a=a.n_runs,
            runs_b=b.n_runs,
            seed_variance_a=seed_variance_a,
            seed_variance_b=seed_variance_b,
            document_variance=document,
            degrees_of_freedom=degrees,
            p_value=p_value,
            interval=interval,
        )
    return tests


def seed_variance(scores: np.ndarray) -> float:
    """The sample variance of a system's run scores, shape ``(n_runs,)``; 0 for one run (a deterministic
    system)."""
    return float(np.var(scores, ddof=1)) if scores.size > 1 else 0.0


def document_variance(influence_a: np.ndarray, influence_b: np.ndarray) -> float:
    """The document-sampling variance of the difference of seed-mean scores that is not already in the seed
    variances, from each run's document influences, shapes ``(runs_a, n_documents)`` and ``(runs_b,
    n_documents)``: the variance of the seed-mean difference less each system's own-run document noise,
    floored at zero."""
    shared = influence_a.mean(axis=0) - influence_b.mean(axis=0)
    own = sum(_own_run_document_variance(influence) for influence in (influence_a, influence_b))
    return max(0.0, float(shared @ shared) - own)


def _own_run_document_variance(influence: np.ndarray) -> float:
    """What the document noise of single runs adds to the variance of a ``k``-run mean, shape ``(k,
    n_documents)`` (0 for one run): ``sum_i sum_r (psi_ri - mean_r psi_ri)**2 / (k (k - 1))``."""
    runs = influence.shape[0]
    if runs < 2:
        return 0.0
    deviations = influence - influence.mean(axis=0)
    return float(np.sum(deviations**2)) / (runs * (runs - 1))


def degrees_of_freedom(seed_parts: Sequence[tuple[float, int]], document_variance: float) -> float:
    """The df of the t reference from each system's seed part ``(variance of its seed mean, its runs)`` and the
    document part: Welch-Satterthwaite over the seed parts, grown by the whole variance over the seed parts;
    infinite without seed variance."""
    seeds = sum(part for part, _ in seed_parts)
    if seeds <= 0:
        return math.inf
    seeds_df = seeds**2 / sum(part**2 / (runs - 1) for part, runs in seed_parts if part > 0)
    return seeds_df * (seeds + document_variance) / seeds


def t_test(difference: float, variance: float, degrees: float) -> tuple[float, tuple[float, float]]:
    """The two-sided p-value of ``difference`` against 0 and its :data:`CONFIDENCE` interval, with
    ``variance`` and a t reference of ``degrees`` df. Without variance, p is 1 for no difference and 0 for
    any other."""
    if variance <= 0:
        return (1.0 if abs(difference) <= _TOLERANCE else 0.0), (difference, difference)
    scale = math.sqrt(variance)
    half_width = float(stats.t.ppf(0.5 + CONFIDENCE / 2, degrees)) * scale
    p_value = float(2 * stats.t.sf(abs(difference) / scale, degrees))
    return p_value, (difference - half_width, difference + half_width)


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values of one family of ``m`` comparisons, in the order given: the ``j``-th
    smallest p becomes ``max over i <= j of min(1, (m - i + 1) * p_(i))``, so the adjusted values keep the
    order of the raw ones and are at most 1. Rejecting where the adjusted p is below alpha keeps the chance of
    any false rejection in the family at most alpha."""
    for p_value in p_values:
        if not 0 <= p_value <= 1:
            raise ValueError(f"p-values lie in [0, 1], got {p_value}")
    count = len(p_values)
    adjusted = [0.0] * count
    running = 0.0
    for rank, index in enumerate(sorted(range(count), key=lambda index: p_values[index])):
        running = max(running, min(1.0, (count - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def _scores_and_influences(counts: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Each metric of :data:`METRICS` → its score per run, shape ``(n_runs,)``, and each document's influence
    on it, shape ``(n_runs, n_documents)``: the first-order change of the run's score that the document brings
    (the influences of a run sum to zero), from counts of shape ``(n_runs, n_documents, 4)``."""
    n = counts.shape[1]
    totals = counts.sum(axis=1)
    scores = _scores(totals, n)
    denominator = totals[:, _PREDICTED] + totals[:, _TRUE]
    defined = denominator > _TOLERANCE
    micro_f1 = scores["micro_f1"][:, None]
    spread = 2 * counts[..., _TRUE_POSITIVES] - micro_f1 * (counts[..., _PREDICTED] + counts[..., _TRUE])
    f1_influence = np.where(defined[:, None], spread / np.where(defined, denominator, 1.0)[:, None], 0.0)
    accuracy_influence = (counts[..., _EXACT] - scores["subset_accuracy"][:, None]) / n
    return {
        "micro_f1": (scores["micro_f1"], f1_influence),
        "subset_accuracy": (scores["subset_accuracy"], accuracy_influence),
    }


def _scores(totals: np.ndarray, n_documents: int) -> dict[str, np.ndarray]:
    """Each metric of :data:`METRICS` from count totals summed over documents, shape ``(..., 4)``."""
    denominator = totals[..., _PREDICTED] + totals[..., _TRUE]
    defined = denominator > _TOLERANCE
    micro_f1 = np.where(defined, 2 * totals[..., _TRUE_POSITIVES] / np.where(defined, denominator, 1.0), 1.0)
    return {"micro_f1": micro_f1, "subset_accuracy": totals[..., _EXACT] / n_documents}

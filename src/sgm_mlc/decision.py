"""Decision rules: which labels a model that scores every label predicts, fitted on the validation split.

A model's scores ``(n_examples, n_labels)`` (the SVM margins of ``br``, ``lp``, ``cc``; the sigmoid probabilities of
``br_neural``, ``cnn``; for a sequence model, each label's highest probability over its replayed decoded sequence,
see :mod:`sgm_mlc.training.tasks`) become 0/1 predictions of the same shape by one of the rules of :data:`RULES`:

* ``fixed``: the model's own cut for every label (margin 0; sigmoid ``training.set_threshold``), the prediction
  before any fitting; sequence models have none;
* ``global``: one threshold for every label, the one whose predictions score best by the selection metric;
* ``rank_cut``: each example's ``k`` highest-scoring labels (ties: the lower label column first), ``k`` the mean
  label cardinality rounded half up, at least 1;
* ``per_label``: each label's own threshold, the one that maximises that label's F1. A label with fewer than
  ``min_positives`` positives takes the ``global`` threshold instead (a *fallback label*: a handful of positives
  make the F1 curve a few steps whose optimum is noise), raised just above its highest score when it has no
  positive at all: a label never positive on validation is predicted on none of its validation examples.

Thresholds and ties. A label is predicted where its score is at or above its threshold. A threshold search is
exact: each label's scores are sorted once, and the candidates are the cut points between consecutive distinct
scores (their midpoint), the lowest score (every example predicted) and the smallest float above the highest score
(none predicted). Equal scores are never split, so tied examples are predicted together; among equally good cuts
the highest wins (the fewest predicted labels). F1 follows :mod:`sgm_mlc.metrics.multilabel` (no true and no
predicted positive: 1.0), so for a label without positives the best cut predicts nothing.

Choosing the rule (:func:`fit_decision`). Every offered rule is fitted on the validation split only and scored
there by the selection metric, cross-fitted: the examples are dealt into ``folds`` folds (example ``i`` into fold
``i mod folds``), each fold is predicted by the rule fitted on the others, and the pooled predictions are scored.
A rule that fits one threshold per label would otherwise be scored on the very examples it was fitted to, and win
for that alone. The best rule (ties: the earlier in :data:`RULES`, the simpler) is fitted again on the whole
validation split; that is the :class:`Decision` a run saves as ``decision.json`` and that its evaluation and
:mod:`sgm_mlc.predict` apply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sgm_mlc.atomic import write_json
from sgm_mlc.metrics.multilabel import precision_recall_f1

RULES = ("fixed", "global", "rank_cut", "per_label")  # simplest first: a tie goes to the simpler rule
METRICS = ("micro_f1", "macro_f1")
DECISION_FILE = "decision.json"
TIE = 1e-12  # F1 values closer than this are equally good (sums of F1 changes carry rounding)
FORMAT_VERSION = 1
FILE_KEYS = ("format", "rule", "applied", "scores", "thresholds", "k", "fallback_labels", "metric", "validation",
             "folds", "validation_examples")


@dataclass(frozen=True)
class DecisionSettings:
    """params.yaml's ``decision`` section: the ``rules`` offered, the selection ``metric``, the ``min_positives``
    of a label's own threshold and the cross-fitting ``folds``."""

    rules: tuple[str, ...]
    metric: str
    min_positives: int
    folds: int

    @classmethod
    def from_params(cls, section: Mapping[str, Any]) -> DecisionSettings:
        settings = cls(tuple(section["rules"]), section["metric"], section["min_positives"], section["folds"])
        unknown = [rule for rule in settings.rules if rule not in RULES]
        if unknown or not settings.rules:
            raise ValueError(f"decision.rules {list(settings.rules)}: give one or more of {', '.join(RULES)}")
        if settings.metric not in METRICS:
            raise ValueError(f"decision.metric {settings.metric!r}: one of {', '.join(METRICS)}")
        if settings.min_positives < 1 or settings.folds < 1:
            raise ValueError("decision.min_positives and decision.folds must be at least 1")
        return settings


@dataclass(frozen=True)
class DecisionRule:
    """A fitted rule: ``thresholds`` ``(n_labels,)`` for ``fixed``, ``global`` and ``per_label``; ``k`` for
    ``rank_cut``; ``fallback`` ``(n_labels,)`` marks the labels of a ``per_label`` rule that took the global
    threshold."""

    name: str
    thresholds: tuple[float, ...] | None = None
    k: int | None = None
    fallback: tuple[bool, ...] = ()

    def apply(self, scores: np.ndarray) -> np.ndarray:
        """``(n_examples, n_labels)`` bool predictions of ``scores`` ``(n_examples, n_labels)``."""
        scores = np.asarray(scores, dtype=float)
        if self.k is not None:
            predicted = np.zeros(scores.shape, dtype=bool)
            top = np.argsort(-scores, axis=1, kind="stable")[:, : self.k]  # (n_examples, k)
            np.put_along_axis(predicted, top, True, axis=1)
            return predicted
        thresholds = np.asarray(self.thresholds, dtype=float)
        if scores.ndim != 2 or scores.shape[1] != thresholds.size:
            raise ValueError(f"scores of shape {scores.shape} for a rule over {thresholds.size} labels")
        return scores >= thresholds


@dataclass(frozen=True)
class Decision:
    """What a run's evaluation decided: the ``rule`` chosen on validation over the label columns ``labels`` (None:
    no rule offered fits the model), whether it is ``applied`` (a sequence model keeps its decoded sequences), what
    the ``scores`` are, the selection ``metric``, each candidate's cross-fitted ``validation`` score, and the
    ``folds`` and validation ``examples`` it was fitted with."""

    labels: tuple[str, ...]
    rule: DecisionRule | None
    applied: bool
    scores: str
    metric: str | None
    validation: dict[str, float]
    folds: int | None
    examples: int

    @classmethod
    def without_rule(cls, labels: Sequence[str], scores: str, examples: int) -> Decision:
        """The decision of a model that fits no rule: a sequence model trained without a set loss, whose decoded
        sequences are its predictions."""
        return cls(tuple(labels), None, False, scores, None, {}, None, examples)

    def to_json(self) -> dict[str, Any]:
        """``decision.json``: the rule with its thresholds per label name (or ``k``), and how it was chosen."""
        rule = self.rule
        thresholds = None if rule is None or rule.thresholds is None else dict(zip(self.labels, rule.thresholds))
        fallback = [] if rule is None else [label for label, used in zip(self.labels, rule.fallback) if used]
        return {
            "format": FORMAT_VERSION,
            "rule": None if rule is None else rule.name,
            "applied": self.applied,
            "scores": self.scores,
            "thresholds": thresholds,
            "k": None if rule is None else rule.k,
            "fallback_labels": fallback,
            "metric": self.metric,
            "validation": self.validation,
            "folds": self.folds,
            "validation_examples": self.examples,
        }

    def save(self, path: Path) -> None:
        write_json(path, self.to_json())

    @classmethod
    def load(cls, path: Path, labels: Sequence[str]) -> Decision:
        """The decision saved at ``path`` by :meth:`save`, for a model whose label columns are ``labels``."""
        refit = f"re-run the run's evaluation, which writes {DECISION_FILE} beside metrics.json"
        try:
            payload = json.loads(Path(path).read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path} is not valid JSON ({error}); {refit}") from None
        if not isinstance(payload, dict) or payload.get("format") != FORMAT_VERSION:
            raise ValueError(f"{path}: not a decision file of format {FORMAT_VERSION}; {refit}")
        missing = [key for key in FILE_KEYS if key not in payload]
        if missing:
            raise ValueError(f"{path}: no {', '.join(missing)}; {refit}")
        name, thresholds = payload["rule"], payload["thresholds"]
        if name is not None and name not in RULES:
            raise ValueError(f"{path}: unknown rule {name!r} (known: {', '.join(RULES)}); {refit}")
        if thresholds is not None and sorted(thresholds) != sorted(labels):
            raise ValueError(f"{path}: its thresholds are not over the model's {len(labels)} labels; {refit}")
        fallback = set(payload["fallback_labels"])
        rule = None if name is None else DecisionRule(
            name,
            None if thresholds is None else tuple(float(thresholds[label]) for label in labels),
            payload["k"],
            tuple(label in fallback for label in labels) if name == "per_label" else (),
        )
        return cls(tuple(labels), rule, payload["applied"], payload["scores"], payload["metric"],
                   payload["validation"], payload["folds"], payload["validation_examples"])


def fit_decision(
    scores: np.ndarray,
    truth: np.ndarray,
    labels: Sequence[str],
    settings: DecisionSettings,
    cut: float | None,
    applied: bool,
    described: str,
) -> Decision:
    """Choose and fit the rule of ``settings`` that scores best on the validation ``scores`` ``(n_examples,
    n_labels)`` against ``truth`` ``(n_examples, n_labels)`` 0/1 (see the module docstring). ``cut``: the model's own
    threshold (the ``fixed`` rule; None for a model without one); ``applied`` and ``described`` (what the scores
    are) are recorded in the decision."""
    scores, truth = checked_scores(scores, truth, len(labels))
    offered = [rule for rule in RULES if rule in settings.rules and (rule != "fixed" or cut is not None)]
    folds = min(settings.folds, len(scores))
    validation = {rule: cross_fitted_score(rule, scores, truth, settings, cut, folds) for rule in offered}
    best = max(offered, key=lambda rule: (validation[rule], -offered.index(rule)), default=None)
    rule = None if best is None else fit_rule(best, scores, truth, settings, cut)
    return Decision(tuple(labels), rule, applied, described, settings.metric, validation, folds, len(scores))


def fit_rule(
    name: str, scores: np.ndarray, truth: np.ndarray, settings: DecisionSettings, cut: float | None
) -> DecisionRule:
    """Rule ``name`` fitted on ``scores`` and ``truth`` ``(n_examples, n_labels)``."""
    n_labels = scores.shape[1]
    if name == "fixed":
        return fixed_rule(cut, n_labels)
    if name == "rank_cut":
        cardinality = float(truth.sum(axis=1).mean())
        return DecisionRule(name, k=min(n_labels, max(1, math.floor(cardinality + 0.5))))
    shared = best_cut(scores, truth, settings.metric)
    if name == "global":
        return DecisionRule(name, (shared,) * n_labels)
    positives = truth.sum(axis=0)  # (n_labels,)
    fallback = positives < settings.min_positives
    thresholds = [
        max(shared, float(np.nextafter(scores[:, j].max(), np.inf))) if positives[j] == 0
        else shared if fallback[j]
        else best_cut(scores[:, [j]], truth[:, [j]], "micro_f1")
        for j in range(n_labels)
    ]
    return DecisionRule(name, tuple(thresholds), fallback=tuple(bool(used) for used in fallback))


def fixed_rule(cut: float, n_labels: int) -> DecisionRule:
    """The model's own cut ``cut`` for each of ``n_labels`` labels."""
    return DecisionRule("fixed", (float(cut),) * n_labels)


def cross_fitted_score(
    name: str, scores: np.ndarray, truth: np.ndarray, settings: DecisionSettings, cut: float | None, folds: int
) -> float:
    """The selection metric of rule ``name`` over ``folds`` folds (example ``i`` in fold ``i mod folds``), each
    predicted by the rule fitted on the other folds; one fold scores the rule on the examples it was fitted to."""
    if folds == 1:
        return score(truth, fit_rule(name, scores, truth, settings, cut).apply(scores), settings.metric)
    fold = np.arange(len(scores)) % folds
    predicted = np.zeros(scores.shape, dtype=bool)
    for held_out in range(folds):
        rest = fold != held_out
        rule = fit_rule(name, scores[rest], truth[rest], settings, cut)
        predicted[~rest] = rule.apply(scores[~rest])
    return score(truth, predicted, settings.metric)


def score(truth: np.ndarray, predicted: np.ndarray, metric: str) -> float:
    """``micro_f1`` or ``macro_f1`` of ``predicted`` against ``truth`` (:mod:`sgm_mlc.metrics.multilabel`)."""
    return precision_recall_f1(truth, predicted, metric.removesuffix("_f1"))[2]


def best_cut(scores: np.ndarray, truth: np.ndarray, metric: str) -> float:
    """The threshold shared by every column of ``scores`` ``(n_examples, n_labels)`` whose predictions score best
    by ``metric`` against ``truth``: an exact search over :func:`candidate_cuts`, the highest of equally good
    ones (within :data:`TIE`). For one column, ``micro_f1`` is that label's F1."""
    n_examples, n_labels = scores.shape
    # A shared threshold's micro-F1 is the F1 of every score pooled into one group; macro-F1, the mean over labels.
    groups = np.zeros(scores.size, dtype=int) if metric == "micro_f1" else np.tile(np.arange(n_labels), n_examples)
    f1 = mean_f1_at_cuts(scores.ravel(), truth.ravel(), groups)
    return float(candidate_cuts(scores)[np.flatnonzero(f1 >= f1.max() - TIE)[0]])


def candidate_cuts(scores: np.ndarray) -> np.ndarray:
    """``(n_distinct + 1,)`` thresholds, highest first: the smallest float above the highest score, the cut
    between each pair of consecutive distinct scores, and the lowest score."""
    values = np.unique(scores)[::-1]  # distinct scores, highest first
    upper, lower = values[:-1], values[1:]
    middle = lower + (upper - lower) / 2
    between = np.where(middle > lower, middle, upper)  # adjacent floats: the upper one still splits them
    return np.concatenate([[np.nextafter(values[0], np.inf)], between, values[-1:]])


def mean_f1_at_cuts(scores: np.ndarray, truth: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """``(n_distinct + 1,)``: for each of :func:`candidate_cuts` (highest first), the mean over the groups of each
    group's F1 of the predictions ``scores >= cut``; ``scores``, ``truth`` and ``groups`` (the group of each
    score, ``0 … n_groups - 1``) are ``(n,)``.

    One pass over the scores sorted once, highest first: each score that a lower cut adds changes only its own
    group's F1, so the mean at each cut is the mean with nothing predicted plus the running sum of those changes.
    """
    order = np.argsort(-scores, kind="stable")
    scores, truth, groups = scores[order], truth[order].astype(int), groups[order]
    positives = np.bincount(groups, weights=truth)  # (n_groups,)
    rank, hits = group_running_counts(truth, groups)  # predicted and true positives of its group with each score
    gained = f1_of(hits, rank, positives[groups]) - f1_of(hits - truth, rank - 1, positives[groups])
    nothing = f1_of(np.zeros_like(positives), np.zeros_like(positives), positives).sum()
    running = np.concatenate([[nothing], nothing + np.cumsum(gained)])  # after 0, 1, … n scores
    group_ends = np.flatnonzero(np.diff(scores) != 0) + 1  # scores predicted by each cut between distinct values
    return running[np.concatenate([[0], group_ends, [len(scores)]])] / len(positives)


def group_running_counts(truth: np.ndarray, groups: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` twice: for each position, how many positions up to and including it belong to its group, and how
    many of those are true (``truth`` 0/1 ``(n,)``, ``groups`` ``(n,)``)."""
    by_group = np.argsort(groups, kind="stable")  # positions grouped, in their order within each group
    grouped = groups[by_group]
    first = np.searchsorted(grouped, grouped, side="left")  # where each position's group starts
    running_truth = np.cumsum(truth[by_group])
    rank, hits = np.empty(len(truth)), np.empty(len(truth))
    rank[by_group] = np.arange(len(truth)) - first + 1
    hits[by_group] = running_truth - (running_truth - truth[by_group])[first]
    return rank, hits


def f1_of(true_positives: np.ndarray, predicted: np.ndarray, positives: float) -> np.ndarray:
    """F1 ``2 tp / (predicted + positives)``, 1.0 where both are zero (:mod:`sgm_mlc.metrics.multilabel`)."""
    total = predicted + positives
    return np.where(total > 0, 2 * true_positives / np.maximum(total, 1), 1.0)


def checked_scores(scores: np.ndarray, truth: np.ndarray, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    """``scores`` as finite floats and ``truth`` as bool, both ``(n_examples, n_labels)`` with an example."""
    scores, truth = np.asarray(scores, dtype=float), np.asarray(truth).astype(bool)
    if scores.ndim != 2 or scores.shape != truth.shape or scores.shape[1] != n_labels or not len(scores):
        raise ValueError(f"scores {scores.shape} and truth {truth.shape} must both be (n_examples >= 1, {n_labels})")
    if not np.isfinite(scores).all():
        rows, columns = np.nonzero(~np.isfinite(scores))
        first = f"example {rows[0]}, label column {columns[0]}"
        raise ValueError(f"{len(rows)} scores are NaN or infinite (the first: {first}); a rule needs finite scores")
    return scores, truth

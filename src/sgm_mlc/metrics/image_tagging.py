"""The metrics multi-label image-classification papers report on MS-COCO (ML-GCN, Chen et al., CVPR 2019; ASL).

``y_true`` and ``y_pred`` are 0/1 (integer or bool) arrays of shape ``(n_examples, n_labels)``, both dimensions
at least 1; ``y_pred`` holds the labels a model predicts. ``scores`` is a finite real array of the same shape, a
per-label confidence (higher = more confident) used by the top-k and ranking metrics. With ``tp_c``, ``fp_c``,
``fn_c`` the counts of class (column) ``c``:

* ``CP = mean_c tp_c / (tp_c + fp_c)``, ``CR = mean_c tp_c / (tp_c + fn_c)``, both over **all** ``n_labels``
  classes, and ``CF1 = 2 CP CR / (CP + CR)`` -- the harmonic mean of CP and CR, as in the literature, not the
  mean of the per-class F1 scores (``macro_f1`` of :mod:`sgm_mlc.metrics.multilabel`);
* ``OP = sum_c tp_c / sum_c (tp_c + fp_c)``, ``OR = sum_c tp_c / sum_c (tp_c + fn_c)``,
  ``OF1 = 2 OP OR / (OP + OR)``;
* top-k (``CP@k`` ... ``OF1@k``, k = 3 by default): the same six with ``y_pred`` replaced by the k
  highest-scoring labels of each example, ties broken in favour of the lower label index (ML-GCN's reference
  code further drops top-k labels its threshold rejects: :func:`image_tagging_report`'s ``top_k_within_y_pred``);
* ``mAP``: the mean over classes of the average precision of ``scores[:, c]`` against ``y_true[:, c]``, with AP
  exactly as scikit-learn's ``average_precision_score``: ``AP = sum_n (R_n - R_{n-1}) P_n`` over the distinct
  score values taken as thresholds in decreasing order (examples with tied scores enter together),
  non-interpolated, ``R_0 = 0``. Classes with no positive in ``y_true`` have no AP and are **skipped** (their
  number is the report's ``map_skipped_classes``); with no positive at all, mAP is undefined (``nan``).
  ML-GCN's per-rank AP is the same number when a class has no tied scores.

Zero-division rule: every ratio whose denominator is zero is 0.0 -- a class with no predicted positive has
precision 0 (as ML-GCN's reference code), a class with no true positive has recall 0, also when it is never
predicted either (where :mod:`sgm_mlc.metrics.multilabel` scores 1.0), and these classes stay in the means.
Likewise OP with no predicted and OR with no true positive at all are 0, and CF1 (OF1) is 0 when CP + CR
(OP + OR) is 0. So CP/CR and OP/OR equal scikit-learn's ``precision_score``/``recall_score`` with
``average="macro"``/``"micro"`` and ``zero_division=0`` everywhere (``zero_division=1`` or ``np.nan`` differ
exactly on such classes), and OF1 equals ``f1_score(average="micro", zero_division=0)``.

Report keys (:func:`image_tagging_report`) and the literature's names: ``class_precision`` CP, ``class_recall``
CR, ``class_f1`` CF1, ``overall_precision`` OP, ``overall_recall`` OR, ``overall_f1`` OF1, the same with suffix
``_top3`` for CP@3 ... OF1@3 (``_top{k}`` in general), and ``mean_average_precision`` mAP.
"""

from __future__ import annotations

import numbers

import numpy as np

from sgm_mlc.metrics.multilabel import as_indicator, checked_pair

SCORE_NAMES = ("precision", "recall", "f1")


def class_and_overall_scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """CP, CR, CF1, OP, OR, OF1 of the ``(n_examples, n_labels)`` indicators, keyed ``class_precision`` ...
    ``overall_f1``."""
    y_true, y_pred = checked_pair(y_true, y_pred)
    tp, n_predicted, n_true = np.sum(y_true & y_pred, axis=0), np.sum(y_pred, axis=0), np.sum(y_true, axis=0)
    class_p, class_r = float(np.mean(_ratio(tp, n_predicted))), float(np.mean(_ratio(tp, n_true)))
    overall_p, overall_r = float(_ratio(tp.sum(), n_predicted.sum())), float(_ratio(tp.sum(), n_true.sum()))
    scores = {"class": (class_p, class_r), "overall": (overall_p, overall_r)}
    return {
        f"{average}_{name}": value
        for average, (p, r) in scores.items()
        for name, value in zip(SCORE_NAMES, (p, r, float(_ratio(2 * p * r, p + r))))
    }


def top_k_prediction(scores: np.ndarray, top_k: int = 3) -> np.ndarray:
    """The ``top_k`` highest-scoring labels of each example as a bool array of the shape of ``scores``,
    ``(n_examples, n_labels)``; of tied scores the lower label index is taken first."""
    scores = _checked_scores(scores)
    _check_top_k(top_k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :top_k]
    prediction = np.zeros(scores.shape, dtype=bool)
    np.put_along_axis(prediction, order, True, axis=1)
    return prediction


def per_class_average_precision(y_true: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision of each class, shape ``(n_labels,)``; ``nan`` for a class with no positive."""
    y_true = as_indicator("y_true", y_true)
    scores = _checked_scores(scores, y_true.shape)
    return np.array([_average_precision(y_true[:, c], scores[:, c]) for c in range(y_true.shape[1])])


def mean_average_precision(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Mean AP over the classes with at least one positive; ``nan`` if ``y_true`` has no positive at all."""
    average_precisions = per_class_average_precision(y_true, scores)
    defined = ~np.isnan(average_precisions)
    return float(np.mean(average_precisions[defined])) if defined.any() else float("nan")


def image_tagging_report(
    y_true: np.ndarray, y_pred: np.ndarray, scores: np.ndarray, top_k: int = 3, *, top_k_within_y_pred: bool = False
) -> dict[str, float | int | None]:
    """Every metric of this module as a JSON-ready dict (keys in the module docstring).

    All three arrays have shape ``(n_examples, n_labels)``. ``mean_average_precision`` is ``None`` when undefined
    and ``map_skipped_classes`` (an int) counts the classes it skipped for having no positive. With
    ``top_k_within_y_pred`` the top-k prediction keeps only the top-k labels that ``y_pred`` also predicts, as
    ML-GCN's reference code does (``overall_topk``: top-k labels whose score passes the threshold).
    """
    y_true, y_pred = checked_pair(y_true, y_pred)
    top = top_k_prediction(_checked_scores(scores, y_true.shape), top_k)
    if top_k_within_y_pred:
        top &= y_pred
    report: dict[str, float | int | None] = dict(class_and_overall_scores(y_true, y_pred))
    report.update({f"{key}_top{top_k}": value for key, value in class_and_overall_scores(y_true, top).items()})
    average_precisions = per_class_average_precision(y_true, scores)
    defined = ~np.isnan(average_precisions)
    report["mean_average_precision"] = float(np.mean(average_precisions[defined])) if defined.any() else None
    report["map_skipped_classes"] = int(np.sum(~defined))
    return report


def _average_precision(positive: np.ndarray, scores: np.ndarray) -> float:
    """scikit-learn's AP of one class, ``positive`` and ``scores`` of shape ``(n_examples,)``; ``nan`` if no
    positive. Each distinct score is a threshold: the examples scoring at least it are predicted positive."""
    n_positive = positive.sum()
    if n_positive == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    sorted_scores, hits = scores[order], np.cumsum(positive[order])
    last_of_tie = np.append(np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1)
    true_positives, n_predicted = hits[last_of_tie], last_of_tie + 1
    recall_steps = np.diff(true_positives, prepend=0) / n_positive
    return float(np.sum(recall_steps * true_positives / n_predicted))


def _checked_scores(scores: np.ndarray, shape: tuple[int, ...] | None = None) -> np.ndarray:
    """``scores`` as a float array after checking it is 2-D, non-empty, finite, real and of ``shape`` if given."""
    scores = np.asarray(scores)
    if scores.dtype.kind not in "biuf":
        raise ValueError(f"scores must be real numbers, got dtype {scores.dtype}")
    if scores.ndim != 2 or 0 in scores.shape:
        raise ValueError(f"scores must be 2-D (n_examples, n_labels), both at least 1, got shape {scores.shape}")
    if shape is not None and scores.shape != shape:
        raise ValueError(f"y_true has shape {shape} but scores has shape {scores.shape}")
    scores = scores.astype(float)
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite (no NaN or infinity)")
    return scores


def _check_top_k(top_k: int, n_labels: int) -> None:
    """Check ``top_k`` is an int from 1 to ``n_labels``."""
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral):
        raise ValueError(f"top_k must be an integer, got {top_k!r}")
    if not 1 <= top_k <= n_labels:
        raise ValueError(f"top_k must be between 1 and the number of labels ({n_labels}), got {top_k}")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` elementwise, 0.0 where the denominator is 0."""
    defined = denominator > 0
    return np.where(defined, numerator / np.where(defined, denominator, 1), 0.0)

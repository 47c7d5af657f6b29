import json

import numpy as np
import pytest
from sklearn import metrics as sk

from sgm_mlc.metrics.image_tagging import (
    class_and_overall_scores,
    image_tagging_report,
    mean_average_precision,
    per_class_average_precision,
    top_k_prediction,
)

# 4 examples, 5 classes. Per class (tp, fp, fn): c0 (2, 0, 1), c1 (1, 1, 1), c2 (1, 0, 0), c3 (0, 1, 0) never
# true, c4 (0, 0, 1) never predicted; in all tp 4, predicted 6, true 7.
Y_TRUE = np.array([[1, 1, 0, 0, 0], [1, 0, 1, 0, 0], [0, 1, 0, 0, 0], [1, 0, 0, 0, 1]])
Y_PRED = np.array([[1, 0, 0, 1, 0], [1, 1, 1, 0, 0], [0, 1, 0, 0, 0], [0, 0, 0, 0, 0]])
# Top 3 per row (ties to the lower index): r0 {0, 3, 1} (c1 beats c2 at 0.2), r1 {0, 1, 2} (four-way tie at 0.7),
# r2 {2, 1, 4}, r3 {0, 4, 1} (c1 beats c2, c3 at 0.0).
SCORES = np.array(
    [[0.9, 0.2, 0.2, 0.8, 0.1], [0.7, 0.7, 0.7, 0.7, 0.0], [0.1, 0.6, 0.7, 0.0, 0.5], [0.5, 0.0, 0.0, 0.0, 0.4]]
)
TOP3 = [[1, 1, 0, 1, 0], [1, 1, 1, 0, 0], [0, 1, 1, 0, 1], [1, 1, 0, 0, 1]]


def test_class_and_overall_scores_by_hand():
    # Precision per class 1, 1/2, 1, 0, 0 -> CP 1/2; recall 2/3, 1/2, 1, 0, 0 -> CR 13/30; CF1 = 2 CP CR / (CP + CR).
    expected = {
        "class_precision": 1 / 2,
        "class_recall": 13 / 30,
        "class_f1": 13 / 28,
        "overall_precision": 4 / 6,
        "overall_recall": 4 / 7,
        "overall_f1": 8 / 13,
    }
    assert class_and_overall_scores(Y_TRUE, Y_PRED) == pytest.approx(expected)


def test_top_k_prediction_by_hand_breaks_ties_by_lower_index():
    np.testing.assert_array_equal(top_k_prediction(SCORES, 3), TOP3)
    np.testing.assert_array_equal(top_k_prediction(SCORES, 1).nonzero()[1], [0, 0, 2, 0])


def test_report_by_hand():
    # Top 3 per class (tp, fp, fn): c0 (3, 0, 0), c1 (2, 2, 0), c2 (1, 1, 0), c3 (0, 1, 0), c4 (1, 1, 0):
    # CP@3 (1 + 1/2 + 1/2 + 0 + 1/2) / 5, CR@3 (1 + 1 + 1 + 0 + 1) / 5, OP@3 7/12, OR@3 7/7.
    # AP: c0 1 (positives ranked first); c1 ranks (-, +, +, -): 1/2 * 1/2 + 1/2 * 2/3 = 7/12; c2 1/2 (its positive
    # ties with a negative at 0.7); c3 skipped (no positive); c4 ranks (-, +): 1/2. mAP (1 + 7/12 + 1/2 + 1/2) / 4.
    report = image_tagging_report(Y_TRUE, Y_PRED, SCORES)
    top3 = {"precision": 1 / 2, "recall": 4 / 5, "f1": 8 / 13}
    expected = {
        **class_and_overall_scores(Y_TRUE, Y_PRED),
        **{f"class_{name}_top3": value for name, value in top3.items()},
        **{"overall_precision_top3": 7 / 12, "overall_recall_top3": 1.0, "overall_f1_top3": 14 / 19},
        "mean_average_precision": 31 / 48,
        "map_skipped_classes": 1,
    }
    assert report == pytest.approx(expected)
    assert list(report) == list(expected)
    np.testing.assert_allclose(per_class_average_precision(Y_TRUE, SCORES), [1, 7 / 12, 1 / 2, np.nan, 1 / 2])
    assert mean_average_precision(Y_TRUE, SCORES) == pytest.approx(31 / 48)


def test_report_is_json_ready_and_keys_follow_top_k():
    report = image_tagging_report(Y_TRUE, Y_PRED, SCORES, top_k=2)
    assert "class_f1_top2" in report and "class_f1_top3" not in report
    assert all(type(value) is float for key, value in report.items() if key != "map_skipped_classes")
    assert type(report["map_skipped_classes"]) is int
    assert json.loads(json.dumps(report, allow_nan=False)) == report


def test_top_k_within_y_pred_intersects_the_top_k_with_the_prediction():
    # Top 1 per row {0}, {0}, {2}, {0}; within Y_PRED {0}, {0}, {}, {}.
    report = image_tagging_report(Y_TRUE, Y_PRED, SCORES, top_k=1, top_k_within_y_pred=True)
    within = np.zeros_like(Y_TRUE)
    within[[0, 1], 0] = 1
    expected = class_and_overall_scores(Y_TRUE, within)
    assert {key: report[f"{key}_top1"] for key in expected} == expected


def test_map_without_any_positive_is_undefined():
    empty = np.zeros((3, 2), dtype=int)
    assert np.isnan(mean_average_precision(empty, np.ones((3, 2))))
    report = image_tagging_report(empty, empty, np.ones((3, 2)), top_k=1)
    assert report["mean_average_precision"] is None and report["map_skipped_classes"] == 2
    assert report["class_precision"] == report["overall_recall"] == report["class_f1"] == 0.0


def _random_case(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Random (y_true, y_pred, scores): scores on a coarse grid (many ties), some classes without positives."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(5, 60)), int(rng.integers(3, 12)))
    y_true = (rng.random(shape) < rng.choice([0.1, 0.3, 0.6])).astype(int)
    y_true[:, rng.random(shape[1]) < 0.2] = 0
    scores = np.round(rng.random(shape) + 0.5 * y_true, int(rng.integers(0, 3)))
    y_pred = (scores + 0.3 * rng.standard_normal(shape) > 0.7).astype(int)
    return y_true, y_pred, scores


RANDOM_CASES = [_random_case(seed) for seed in range(30)]


def test_average_precision_matches_sklearn_with_ties_and_classes_without_positives():
    n_skipped_total = 0
    for y_true, _, scores in RANDOM_CASES:
        ours = per_class_average_precision(y_true, scores)
        has_positive = y_true.any(axis=0)
        n_skipped_total += int(np.sum(~has_positive))
        assert np.isnan(ours[~has_positive]).all()
        expected = [sk.average_precision_score(y_true[:, c], scores[:, c]) for c in np.flatnonzero(has_positive)]
        np.testing.assert_allclose(ours[has_positive], expected)
        assert mean_average_precision(y_true, scores) == pytest.approx(np.mean(expected))
        assert image_tagging_report(y_true, y_true, scores)["map_skipped_classes"] == np.sum(~has_positive)
    assert n_skipped_total > 0


@pytest.mark.filterwarnings("error")  # sklearn warns on zero division
def test_precision_recall_match_sklearn_without_zero_division():
    for y_true, y_pred, _ in RANDOM_CASES:
        y_true, y_pred = y_true.copy(), y_pred.copy()
        y_true[0], y_pred[0] = 1, 1  # every class has a true and a predicted positive
        ours = class_and_overall_scores(y_true, y_pred)
        for average, ours_average in (("micro", "overall"), ("macro", "class")):
            assert ours[f"{ours_average}_precision"] == pytest.approx(sk.precision_score(y_true, y_pred, average=average))
            assert ours[f"{ours_average}_recall"] == pytest.approx(sk.recall_score(y_true, y_pred, average=average))
        assert ours["overall_f1"] == pytest.approx(sk.f1_score(y_true, y_pred, average="micro"))


def test_precision_recall_match_sklearn_zero_division_zero():
    for y_true, y_pred, _ in RANDOM_CASES:
        y_pred = y_pred.copy()
        y_pred[:, 0] = 0  # a class never predicted, besides the random classes without positives
        ours = class_and_overall_scores(y_true, y_pred)
        for average, ours_average in (("micro", "overall"), ("macro", "class")):
            kwargs = {"average": average, "zero_division": 0}
            assert ours[f"{ours_average}_precision"] == pytest.approx(sk.precision_score(y_true, y_pred, **kwargs))
            assert ours[f"{ours_average}_recall"] == pytest.approx(sk.recall_score(y_true, y_pred, **kwargs))
        assert ours["overall_f1"] == pytest.approx(sk.f1_score(y_true, y_pred, average="micro", zero_division=0))


def test_top_k_prediction_matches_sorting_by_score_then_index():
    for _, _, scores in RANDOM_CASES:
        k = min(3, scores.shape[1])
        expected = np.zeros(scores.shape, dtype=bool)
        for i, row in enumerate(scores):
            expected[i, sorted(range(len(row)), key=lambda j: (-row[j], j))[:k]] = True
        np.testing.assert_array_equal(top_k_prediction(scores, k), expected)


GOOD = np.array([[1, 0], [0, 1]])


@pytest.mark.parametrize(
    ("y_true", "y_pred", "scores", "top_k", "message"),
    [
        (GOOD, np.ones((2, 3)), np.ones((2, 2)), 1, r"y_true has shape \(2, 2\) but y_pred has shape \(2, 3\)"),
        (GOOD, GOOD, np.ones((3, 2)), 1, r"y_true has shape \(2, 2\) but scores has shape \(3, 2\)"),
        (GOOD, GOOD, np.ones(2), 1, r"scores must be 2-D"),
        (np.full((2, 2), 2), GOOD, np.ones((2, 2)), 1, "y_true must hold only 0 and 1"),
        (GOOD, GOOD * 0.5, np.ones((2, 2)), 1, "y_pred must hold only 0 and 1"),
        (GOOD, GOOD, np.array([[0.1, np.nan], [0.2, 0.3]]), 1, r"scores must be finite \(no NaN or infinity\)"),
        (GOOD, GOOD, np.array([[0.1, np.inf], [0.2, 0.3]]), 1, "scores must be finite"),
        (GOOD, GOOD, np.array([["a", "b"], ["c", "d"]]), 1, "scores must be real numbers"),
        (GOOD, GOOD, np.ones((2, 2)), 0, r"top_k must be between 1 and the number of labels \(2\), got 0"),
        (GOOD, GOOD, np.ones((2, 2)), 3, r"top_k must be between 1 and the number of labels \(2\), got 3"),
        (GOOD, GOOD, np.ones((2, 2)), 1.0, "top_k must be an integer, got 1.0"),
        (GOOD, GOOD, np.ones((2, 2)), True, "top_k must be an integer, got True"),
    ],
)
def test_invalid_inputs_are_rejected_with_clear_errors(y_true, y_pred, scores, top_k, message):
    with pytest.raises(ValueError, match=message):
        image_tagging_report(y_true, y_pred, scores, top_k=top_k)


def test_map_and_top_k_validate_their_inputs():
    with pytest.raises(ValueError, match=r"y_true has shape \(2, 2\) but scores has shape \(2, 1\)"):
        mean_average_precision(GOOD, np.ones((2, 1)))
    with pytest.raises(ValueError, match="scores must be finite"):
        top_k_prediction(np.array([[np.nan, 1.0]]), 1)

import json
import math

import numpy as np
import pytest
from sklearn import metrics as sk

from sgm_mlc.metrics.multilabel import (
    AVERAGES,
    hamming_loss,
    multilabel_report,
    per_label_f1,
    position_deviation,
    precision_recall_f1,
    subset_accuracy,
    to_multi_hot,
)

SKLEARN_AVERAGE = {"micro": "micro", "macro": "macro", "example": "samples"}


def _random_pair(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A random (y_true, y_pred) pair holding every zero-division case: a label column empty on both sides,
    one empty in y_pred only, one empty in y_true only, and likewise for example rows."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(4, 40)), int(rng.integers(4, 15)))
    density = rng.choice([0.05, 0.3, 0.7])
    y_true, y_pred = (rng.random(shape) < density).astype(int), (rng.random(shape) < density).astype(int)
    y_true[:, 0] = y_pred[:, 0] = 0
    y_pred[:, 1] = 0
    y_true[:, 2] = 0
    y_true[0] = y_pred[0] = 0
    y_pred[1] = 0
    y_true[2] = 0
    return y_true, y_pred


RANDOM_PAIRS = [_random_pair(seed) for seed in range(50)]


def _sklearn_per_label(y_true, y_pred) -> np.ndarray:
    """sklearn's per-column (precision, recall, F1), shape (3, n_labels), under our zero-division rule:
    sklearn's zero_division=1 where a column is empty on both sides, zero_division=0 where not."""
    both_empty = (y_true.sum(axis=0) + y_pred.sum(axis=0)) == 0
    one = sk.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=1.0)[:3]
    zero = sk.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=0.0)[:3]
    return np.where(both_empty, np.array(one), np.array(zero))


def _sklearn_under_our_rule(y_true, y_pred, average: str) -> tuple[float, float, float]:
    """sklearn's averaged (precision, recall, F1) with its zero division resolved by our rule.

    Per-example scores are sklearn's per-label scores of the transposed matrices.
    """
    if average == "micro":
        both_empty = y_true.sum() + y_pred.sum() == 0
        zero_division = 1.0 if both_empty else 0.0
        return sk.precision_recall_fscore_support(y_true, y_pred, average="micro", zero_division=zero_division)[:3]
    if average == "macro":
        return tuple(_sklearn_per_label(y_true, y_pred).mean(axis=1))
    return tuple(_sklearn_per_label(y_true.T, y_pred.T).mean(axis=1))


def test_subset_accuracy_and_hamming_loss_match_sklearn():
    for y_true, y_pred in RANDOM_PAIRS:
        assert subset_accuracy(y_true, y_pred) == pytest.approx(sk.accuracy_score(y_true, y_pred))
        assert hamming_loss(y_true, y_pred) == pytest.approx(sk.hamming_loss(y_true, y_pred))


@pytest.mark.parametrize("average", AVERAGES)
def test_f1_matches_sklearn_zero_division_one(average):
    for y_true, y_pred in RANDOM_PAIRS:
        expected = sk.f1_score(y_true, y_pred, average=SKLEARN_AVERAGE[average], zero_division=1.0)
        np.testing.assert_allclose(precision_recall_f1(y_true, y_pred, average)[2], expected)


def test_per_label_f1_matches_sklearn_zero_division_one():
    for y_true, y_pred in RANDOM_PAIRS:
        f1 = per_label_f1(y_true, y_pred)
        assert f1.shape == (y_true.shape[1],)
        np.testing.assert_allclose(f1, sk.f1_score(y_true, y_pred, average=None, zero_division=1.0))


@pytest.mark.parametrize("average", AVERAGES)
def test_precision_recall_f1_match_sklearn_with_zero_division_resolved_by_our_rule(average):
    for y_true, y_pred in RANDOM_PAIRS:
        expected = _sklearn_under_our_rule(y_true, y_pred, average)
        np.testing.assert_allclose(precision_recall_f1(y_true, y_pred, average), expected)


@pytest.mark.parametrize("average", AVERAGES)
def test_precision_recall_f1_match_sklearn_zero_division_one_without_one_sided_emptiness(average):
    rng = np.random.default_rng(0)
    for _ in range(50):
        n_labels = int(rng.integers(4, 12))
        shape = (n_labels + int(rng.integers(0, 20)), n_labels)
        y_true, y_pred = (rng.random(shape) < 0.5).astype(int), (rng.random(shape) < 0.5).astype(int)
        # A true positive in every row from 2 and (as there are more rows than labels) every column from 2 ...
        rows = np.arange(2, shape[0])
        y_true[rows, 2 + rows % (n_labels - 2)] = y_pred[rows, 2 + rows % (n_labels - 2)] = 1
        # ... and rows and columns 0, 1 empty on both sides: the one zero-division case where the rules agree.
        y_true[:, :2] = y_pred[:, :2] = 0
        y_true[:2] = y_pred[:2] = 0
        expected = sk.precision_recall_fscore_support(
            y_true, y_pred, average=SKLEARN_AVERAGE[average], zero_division=1.0
        )[:3]
        np.testing.assert_allclose(precision_recall_f1(y_true, y_pred, average), expected)


@pytest.mark.parametrize("average", AVERAGES)
def test_both_sides_empty_scores_one(average):
    empty = np.zeros((3, 4), dtype=int)
    assert precision_recall_f1(empty, empty, average) == (1.0, 1.0, 1.0)


@pytest.mark.parametrize("average", AVERAGES)
@pytest.mark.parametrize("empty_side", ["y_true", "y_pred"])
def test_one_side_empty_scores_zero(average, empty_side):
    full, empty = np.ones((3, 4), dtype=int), np.zeros((3, 4), dtype=int)
    y_true, y_pred = (empty, full) if empty_side == "y_true" else (full, empty)
    assert precision_recall_f1(y_true, y_pred, average) == (0.0, 0.0, 0.0)


def test_macro_averages_over_every_label_counting_labels_absent_from_both_as_one():
    # Label 0 perfect, label 1 absent from both sides (1.0), label 2 only predicted (0.0), label 3 only true (0.0).
    y_true = np.array([[1, 0, 0, 1], [0, 0, 0, 0]])
    y_pred = np.array([[1, 0, 1, 0], [0, 0, 0, 0]])
    assert precision_recall_f1(y_true, y_pred, "macro") == (0.5, 0.5, 0.5)
    np.testing.assert_array_equal(per_label_f1(y_true, y_pred), [1.0, 1.0, 0.0, 0.0])


def test_example_average_scores_rows_with_the_rule():
    # Row 0 both empty (1.0), row 1 only true (0.0), row 2 only predicted (0.0), row 3: p 1/2, r 1, f1 2/3.
    y_true = np.array([[0, 0], [1, 0], [0, 0], [1, 0]])
    y_pred = np.array([[0, 0], [0, 0], [0, 1], [1, 1]])
    np.testing.assert_allclose(precision_recall_f1(y_true, y_pred, "example"), [1.5 / 4, 2 / 4, (5 / 3) / 4])


def test_one_sided_precision_and_recall_are_where_sklearn_zero_division_one_differs():
    # Column 0: true but never predicted; column 1: predicted but never true.
    y_true, y_pred = np.array([[1, 0], [1, 0]]), np.array([[0, 1], [0, 0]])
    ours = precision_recall_f1(y_true, y_pred, "macro")
    theirs = sk.precision_recall_fscore_support(y_true, y_pred, average=None, zero_division=1.0)
    assert ours == (0.0, 0.0, 0.0)
    np.testing.assert_array_equal(theirs[0], [1.0, 0.0])  # precision of the never-predicted label
    np.testing.assert_array_equal(theirs[1], [0.0, 1.0])  # recall of the never-true label
    np.testing.assert_array_equal(theirs[2], [0.0, 0.0])  # F1 agrees


def test_bool_and_int_inputs_agree():
    y_true, y_pred = RANDOM_PAIRS[0]
    for average in AVERAGES:
        assert precision_recall_f1(y_true.astype(bool), y_pred.astype(bool), average) == precision_recall_f1(
            y_true, y_pred, average
        )


def test_unknown_average_is_an_error():
    with pytest.raises(ValueError, match="unknown average 'weighted'; known averages: micro, macro, example"):
        precision_recall_f1(np.ones((2, 2)), np.ones((2, 2)), "weighted")


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        (np.ones((2, 3)), np.ones((3, 2)), r"y_true has shape \(2, 3\) but y_pred has shape \(3, 2\)"),
        (np.ones(3), np.ones(3), r"y_true must be 2-D \(n_examples, n_labels\), got shape \(3,\)"),
        (np.ones((2, 2)), np.ones((1, 2, 2)), r"y_pred must be 2-D"),
        (np.ones((0, 2)), np.ones((0, 2)), r"y_true needs at least one example and one label"),
        (np.ones((2, 2)), np.full((2, 2), 2), r"y_pred must hold only 0 and 1"),
    ],
)
def test_invalid_inputs_are_rejected_with_clear_errors(y_true, y_pred, message):
    for metric in (subset_accuracy, hamming_loss, per_label_f1):
        with pytest.raises(ValueError, match=message):
            metric(y_true, y_pred)


def test_position_deviation_of_identical_sequences_is_zero():
    sequences = [["a", "b", "c"], ["d"]]
    assert position_deviation(sequences, sequences) == 0.0


def test_position_deviation_of_swapped_pairs():
    assert position_deviation([["a", "b", "c"]], [["b", "a", "c"]]) == pytest.approx(2 / 3)
    assert position_deviation([["a", "b"]], [["b", "a"]]) == 1.0


def test_position_deviation_ignores_labels_in_only_one_sequence_and_averages_over_the_dataset():
    # Example 0: "b" moves 1 -> 0 (1), "c" 2 -> 2 (0); "a" and "x" are ignored. Example 1: 0 -> 3 (3).
    true = [["a", "b", "c"], [7]]
    predicted = [["b", "x", "c"], [1, 2, 3, 7]]
    assert position_deviation(true, predicted) == pytest.approx(4 / 3)


def test_position_deviation_counts_a_repeated_label_at_its_first_position():
    assert position_deviation([["a", "b"]], [["b", "a", "b", "a"]]) == 1.0


def test_position_deviation_without_correct_labels_is_nan():
    assert math.isnan(position_deviation([["a"], []], [["b"], ["c"]]))
    assert math.isnan(position_deviation([], []))


def test_position_deviation_needs_one_predicted_sequence_per_true_sequence():
    with pytest.raises(ValueError, match="got 2 true sequences but 1 predicted sequences"):
        position_deviation([["a"], ["b"]], [["a"]])


def test_report_holds_every_metric_as_json_ready_python_floats():
    y_true, y_pred = RANDOM_PAIRS[3]
    names = [f"label{j}" for j in range(y_true.shape[1])]
    report = multilabel_report(y_true, y_pred, names)
    assert set(report) == {
        "subset_accuracy",
        "hamming_loss",
        *(f"{average}_{score}" for average in AVERAGES for score in ("precision", "recall", "f1")),
        "per_label_f1",
    }
    assert list(report["per_label_f1"]) == names
    values = [value for key, value in report.items() if key != "per_label_f1"] + list(report["per_label_f1"].values())
    assert all(type(value) is float for value in values)
    assert report["macro_recall"] == precision_recall_f1(y_true, y_pred, "macro")[1]
    np.testing.assert_allclose(list(report["per_label_f1"].values()), per_label_f1(y_true, y_pred))
    assert json.loads(json.dumps(report, allow_nan=False)) == report


def test_report_adds_position_deviation_given_sequences_and_none_when_undefined():
    y = np.array([[1, 1], [0, 1]])
    report = multilabel_report(y, y, ["a", "b"], [["a", "b"], ["b"]], [["b", "a"], ["b"]])
    assert report["position_deviation"] == pytest.approx(2 / 3)
    undefined = multilabel_report(y, y, ["a", "b"], [["a"], ["b"]], [[], []])
    assert undefined["position_deviation"] is None
    json.dumps(undefined, allow_nan=False)


@pytest.mark.parametrize(
    ("names", "sequences", "message"),
    [
        (["a"], (None, None), "got 1 label names for 2 label columns"),
        (["a", "b"], ([["a"], ["b"]], None), "give both true_sequences and predicted_sequences, or neither"),
        (["a", "b"], ([["a"]], [["a"]]), "got 1 true sequences for 2 examples"),
    ],
)
def test_report_rejects_inconsistent_arguments(names, sequences, message):
    y = np.array([[1, 1], [0, 1]])
    with pytest.raises(ValueError, match=message):
        multilabel_report(y, y, names, *sequences)


def test_to_multi_hot_round_trips_label_sets():
    names = ["x", "y", "z"]
    label_sets = [["z", "x"], [], ["y"], ["x", "y", "z"]]
    multi_hot = to_multi_hot(label_sets, names)
    np.testing.assert_array_equal(multi_hot, [[1, 0, 1], [0, 0, 0], [0, 1, 0], [1, 1, 1]])
    assert [{names[j] for j in np.flatnonzero(row)} for row in multi_hot] == [set(labels) for labels in label_sets]


def test_to_multi_hot_rejects_unknown_labels_and_duplicate_names():
    with pytest.raises(ValueError, match="label 'w' of example 1 is not among the label names"):
        to_multi_hot([["x"], ["x", "w"]], ["x", "y"])
    with pytest.raises(ValueError, match="label_names contains duplicates"):
        to_multi_hot([["x"]], ["x", "x"])

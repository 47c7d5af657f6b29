"""Paired significance tests on cases with a known answer."""

import numpy as np
import pytest

from sgm_mlc.metrics.multilabel import precision_recall_f1, subset_accuracy, to_multi_hot
from sgm_mlc.metrics.significance import METHODS, METRICS, pooled_counts, paired_tests

LABELS = [f"l{j}" for j in range(8)]


def _random_sets(rng: np.random.Generator, n: int) -> list[list[str]]:
    return [[label for label in LABELS if rng.random() < 0.3] for _ in range(n)]


def _noisy(rng: np.random.Generator, truth: list[list[str]], flip: float) -> list[list[str]]:
    """Each label of ``truth`` flipped (added or dropped) with probability ``flip``."""
    return [[label for label in LABELS if (label in labels) != (rng.random() < flip)] for labels in truth]


@pytest.fixture(scope="module")
def documents():
    rng = np.random.default_rng(0)
    truth = _random_sets(rng, 300)
    return truth, rng


@pytest.mark.parametrize("method", METHODS)
def test_identical_systems_give_p_one(documents, method):
    truth, rng = documents
    system = pooled_counts(truth, [_noisy(rng, truth, 0.2)])
    results = paired_tests(system, system, method, resamples=500, seed=1)
    for metric in METRICS:
        assert results[metric].p_value == 1.0
        assert results[metric].difference == 0.0
        assert results[metric].better == "tie"


@pytest.mark.parametrize("method", METHODS)
def test_dominated_system_is_significant(documents, method):
    truth, rng = documents
    strong = pooled_counts(truth, [_noisy(rng, truth, 0.02), _noisy(rng, truth, 0.02)])
    weak = pooled_counts(truth, [_noisy(rng, truth, 0.3)])
    results = paired_tests(strong, weak, method, resamples=1000, seed=1)
    for metric in METRICS:
        assert results[metric].p_value < 0.01
        assert results[metric].better == "a"
        assert results[metric].difference > 0.2


@pytest.mark.parametrize("method", METHODS)
def test_symmetric_and_reproducible(documents, method):
    truth, rng = documents
    a = pooled_counts(truth, [_noisy(rng, truth, 0.15)])
    b = pooled_counts(truth, [_noisy(rng, truth, 0.17), _noisy(rng, truth, 0.17)])
    forward = paired_tests(a, b, method, resamples=400, seed=7)
    backward = paired_tests(b, a, method, resamples=400, seed=7)
    again = paired_tests(a, b, method, resamples=400, seed=7)
    for metric in METRICS:
        assert forward[metric].p_value == backward[metric].p_value == again[metric].p_value
        assert forward[metric].difference == pytest.approx(-backward[metric].difference)
        assert {forward[metric].better, backward[metric].better} == {"a", "b"}
    other_seed = paired_tests(a, b, method, resamples=400, seed=8)
    assert any(other_seed[metric].p_value != forward[metric].p_value for metric in METRICS)


def test_observed_scores_match_the_metrics_module(documents):
    truth, rng = documents
    predicted = _noisy(rng, truth, 0.2)
    y_true, y_pred = to_multi_hot(truth, LABELS), to_multi_hot(predicted, LABELS)
    system = pooled_counts(truth, [predicted])
    result = paired_tests(system, pooled_counts(truth, [truth]), "paired_bootstrap", resamples=100, seed=0)
    assert result["micro_f1"].score_a == pytest.approx(precision_recall_f1(y_true, y_pred, "micro")[2])
    assert result["subset_accuracy"].score_a == pytest.approx(subset_accuracy(y_true, y_pred))
    assert result["micro_f1"].score_b == result["subset_accuracy"].score_b == 1.0


def test_hand_computed_case():
    """Three documents: a is right on the first two, b wrong on them, both the same on the third.

    Observed: subset accuracy 3/3 vs 1/3; micro-F1 a = 2*4/(4+4) = 1, b = 2*2/(4+4) = 0.5 (b predicts a wrong
    label in place of the right one on documents 1 and 2). Under random swaps of documents 1 and 2 the
    difference is +d (no swap), 0 (one swap, twice as likely) or -d (both): |difference| >= d with
    probability 1/2.
    """
    truth = [["x"], ["y"], ["x", "y"]]
    a = pooled_counts(truth, [[["x"], ["y"], ["x", "y"]]])
    b = pooled_counts(truth, [[["y"], ["x"], ["x", "y"]]])
    randomization = paired_tests(a, b, "approximate_randomization", resamples=20000, seed=3)
    assert randomization["subset_accuracy"].score_a == 1.0
    assert randomization["subset_accuracy"].score_b == pytest.approx(1 / 3)
    assert randomization["micro_f1"].score_a == 1.0
    assert randomization["micro_f1"].score_b == 0.5
    for metric in METRICS:
        assert randomization[metric].p_value == pytest.approx(0.5, abs=0.02)
    bootstrap = paired_tests(a, b, "paired_bootstrap", resamples=2000, seed=3)
    assert bootstrap["micro_f1"].difference == randomization["micro_f1"].difference == 0.5


def test_pooling_averages_document_counts():
    truth = [["x"], ["x", "y"]]
    counts = pooled_counts(truth, [[["x"], ["x"]], [["y"], ["x", "y"]]]).counts
    # tp, predicted, true, exact per document, averaged over the two runs
    np.testing.assert_allclose(counts, [[0.5, 1, 1, 0.5], [1.5, 1.5, 2, 0.5]])


def test_deterministic_system_pairs_with_every_seed(documents):
    """One run against several seeds: the pooled counts are those of the mean, and the test runs."""
    truth, rng = documents
    seeds = [_noisy(rng, truth, 0.1) for _ in range(3)]
    pooled = pooled_counts(truth, seeds)
    single = pooled_counts(truth, seeds[:1])
    np.testing.assert_allclose(
        pooled.counts, np.mean([pooled_counts(truth, [run]).counts for run in seeds], axis=0)
    )
    assert 0 < paired_tests(pooled, single, "approximate_randomization", resamples=200, seed=0)["micro_f1"].p_value <= 1


def test_rejects_bad_input(documents):
    truth, _ = documents
    system = pooled_counts(truth, [truth])
    with pytest.raises(ValueError, match="unknown method"):
        paired_tests(system, system, "t_test", resamples=100, seed=0)
    with pytest.raises(ValueError, match="same, non-empty documents"):
        paired_tests(system, pooled_counts(truth[:5], [truth[:5]]), "paired_bootstrap", resamples=100, seed=0)
    with pytest.raises(ValueError, match="predicts 5 documents"):
        pooled_counts(truth, [truth[:5]])
    with pytest.raises(ValueError, match="at least one run"):
        pooled_counts(truth, [])

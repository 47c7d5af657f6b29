"""Significance tests on cases with a known answer, and the seed-aware test's false-positive rate under the null."""

import itertools
import math

import numpy as np
import pytest
from scipy import special, stats

from sgm_mlc.metrics.multilabel import precision_recall_f1, subset_accuracy, to_multi_hot
from sgm_mlc.metrics.significance import (
    METHODS,
    METRICS,
    DocumentCounts,
    SystemRuns,
    degrees_of_freedom,
    holm,
    indicator_counts,
    paired_tests,
    pooled_counts,
    run_counts,
    seed_aware_tests,
    t_test,
)

LABELS = [f"l{j}" for j in range(8)]
ALPHA = 0.05


def _random_sets(rng: np.random.Generator, n: int) -> list[list[str]]:
    return [[label for label in LABELS if rng.random() < 0.3] for _ in range(n)]


def _noisy(rng: np.random.Generator, truth: list[list[str]], flip: float) -> list[list[str]]:
    """Each label of ``truth`` flipped (added or dropped) with probability ``flip``."""
    return [[label for label in LABELS if (label in labels) != (rng.random() < flip)] for labels in truth]


def _weighted_scores(counts: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """micro-F1 and subset accuracy of one run's counts, shape ``(n_documents, 4)``, with each document counted
    ``weights[i]`` times (written out here, apart from the module's code)."""
    tp, predicted, true, exact = (weights @ counts[:, column] for column in range(4))
    return {"micro_f1": 2 * tp / (predicted + true) if predicted + true else 1.0,
            "subset_accuracy": exact / weights.sum()}


@pytest.fixture(scope="module")
def documents():
    rng = np.random.default_rng(0)
    truth = _random_sets(rng, 300)
    return truth, rng


# ---------------------------------------------------------------------------------------------------------------
# Documents-only paired tests
# ---------------------------------------------------------------------------------------------------------------
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
def test_a_system_better_on_every_document_gets_the_smallest_p(method):
    """a is right on all 30 documents and b wrong on all: every bootstrap resample keeps the difference at 1
    (no departure reaches it), and a random swap reaches |difference| = 1 only by swapping none or all 30
    documents (chance 2**-29 per shuffle). So hits = 0 and p = (0 + 1) / (resamples + 1)."""
    truth = [["x"]] * 30
    right = pooled_counts(truth, [truth])
    wrong = pooled_counts(truth, [[["y"]] * 30])
    results = paired_tests(right, wrong, method, resamples=999, seed=0)
    for metric in METRICS:
        assert results[metric].difference == 1.0
        assert results[metric].p_value == 1 / 1000


def _enumerated_p(a: np.ndarray, b: np.ndarray, method: str) -> dict[str, float]:
    """The exact p-value of ``method`` for per-document counts ``a`` and ``b``, shape ``(n, 4)``: every swap
    pattern (2**n) or every bootstrap draw of n document indices (n**n), each equally likely."""
    n = a.shape[0]
    ones = np.ones(n)
    observed = {metric: _weighted_scores(a, ones)[metric] - _weighted_scores(b, ones)[metric] for metric in METRICS}
    hits = dict.fromkeys(METRICS, 0)
    if method == "approximate_randomization":
        outcomes = [(np.where(np.array(swaps)[:, None], b, a), np.where(np.array(swaps)[:, None], a, b), ones)
                    for swaps in itertools.product((False, True), repeat=n)]
    else:
        outcomes = [(a, b, np.bincount(draw, minlength=n).astype(float))
                    for draw in itertools.product(range(n), repeat=n)]
    for shuffled_a, shuffled_b, weights in outcomes:
        score_a, score_b = _weighted_scores(shuffled_a, weights), _weighted_scores(shuffled_b, weights)
        for metric in METRICS:
            difference = score_a[metric] - score_b[metric]
            statistic = abs(difference) if method == "approximate_randomization" else abs(difference - observed[metric])
            hits[metric] += statistic >= abs(observed[metric]) - 1e-12
    return {metric: hits[metric] / len(outcomes) for metric in METRICS}


@pytest.mark.parametrize("method", METHODS)
def test_p_value_matches_the_enumerated_distribution(method):
    """With resamples R, hits ~ Binomial(R, p_exact), so p = (hits + 1) / (R + 1) lies within a few binomial
    standard errors of (R p_exact + 1) / (R + 1); p_exact is found by enumerating every draw."""
    truth = [["x"], ["y"], ["x", "y"], ["z"], ["x", "z"], ["y"]]
    a = pooled_counts(truth, [[["x"], ["y"], ["x"], ["z"], ["x", "z"], ["x"]]])
    b = pooled_counts(truth, [[["y"], ["y"], ["x", "y"], ["y"], ["x"], ["x"]]])
    exact = _enumerated_p(a.counts, b.counts, method)
    resamples = 20_000
    results = paired_tests(a, b, method, resamples=resamples, seed=5)
    for metric in METRICS:
        assert 0.05 < exact[metric] < 0.95  # a case where the tail matters
        expected = (resamples * exact[metric] + 1) / (resamples + 1)
        tolerance = 4 * math.sqrt(exact[metric] * (1 - exact[metric]) / resamples)
        assert results[metric].p_value == pytest.approx(expected, abs=tolerance)


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


def test_counts_per_run_and_pooled():
    truth = [["x"], ["x", "y"]]
    runs = run_counts(truth, [[["x"], ["x"]], [["y"], ["x", "y"]]])
    # tp, predicted, true, exact per run and document
    np.testing.assert_array_equal(runs, [[[1, 1, 1, 1], [1, 1, 2, 0]], [[0, 1, 1, 0], [2, 2, 2, 1]]])
    np.testing.assert_allclose(pooled_counts(truth, [[["x"], ["x"]], [["y"], ["x", "y"]]]).counts,
                               [[0.5, 1, 1, 0.5], [1.5, 1.5, 2, 0.5]])
    np.testing.assert_array_equal(indicator_counts([[1, 0], [1, 1]], [[[1, 0], [1, 0]]]), runs[:1])


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


# ---------------------------------------------------------------------------------------------------------------
# The seed-aware test
# ---------------------------------------------------------------------------------------------------------------
def _exact_runs(truth: list[list[str]], patterns: list[list[int]]) -> np.ndarray:
    """Runs that predict a document's labels where the pattern has 1 and a wrong label in their place where 0."""
    return run_counts(truth, [[labels if right else ["wrong"] for labels, right in zip(truth, pattern)]
                              for pattern in patterns])


def test_seed_aware_hand_computed_case():
    """Four one-label documents. a: three seeds right on documents 1110, 1100, 1111 (accuracy 0.75, 0.5, 1);
    b: deterministic, right on 1010 (0.5). A wrong label in place of the right one makes micro-F1 equal subset
    accuracy here, so both metrics give the same numbers:

    * difference 0.75 - 0.5 = 1/4; seed variance of a: (0 + 1/16 + 1/16) / 2 = 1/16, over 3 runs 1/48;
    * influences (right - accuracy) / 4: a's seed mean (1/16, 1/16, -1/48, -5/48), b (1/8, -1/8, 1/8, -1/8); their
      difference h = (-1/16, 3/16, -7/48, 1/48), sum of squares 35/576;
    * a's own-run document noise: squared deviations from the seed mean 1/128, 1/128, 7/384, 7/384 (sum 5/96),
      over 3 * 2: 5/576; document part 35/576 - 5/576 = 5/96;
    * variance 1/48 + 5/96 = 7/96; df 2 (one seed part of 3 runs) * (7/96) / (1/48) = 7.
    """
    truth = [["x"], ["y"], ["x"], ["y"]]
    a = SystemRuns(_exact_runs(truth, [[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]]))
    b = SystemRuns(_exact_runs(truth, [[1, 0, 1, 0]]), deterministic=True)
    results = seed_aware_tests(a, b)
    t_975_7df = 2.364624  # Student's t table, 7 df
    for metric in METRICS:
        test = results[metric]
        assert (test.mean_a, test.mean_b, test.difference) == pytest.approx((0.75, 0.5, 0.25))
        assert (test.runs_a, test.runs_b) == (3, 1)
        assert test.seed_variance_a == pytest.approx(1 / 16)
        assert test.seed_variance_b == 0.0
        assert test.document_variance == pytest.approx(5 / 96)
        assert test.variance == pytest.approx(7 / 96)
        assert test.degrees_of_freedom == pytest.approx(7)
        assert test.p_value == pytest.approx(2 * stats.t.sf(0.25 / math.sqrt(7 / 96), 7))
        half_width = t_975_7df * math.sqrt(7 / 96)
        assert test.interval == pytest.approx((0.25 - half_width, 0.25 + half_width), abs=1e-5)


def test_t_reference_known_values():
    """Student's t with 2 df has CDF 1/2 + t / (2 sqrt(2 + t**2)): P(|T| >= 1) = 1 - 1/sqrt(3), and its 97.5 %
    point is 0.95 sqrt(2 / (1 - 0.95**2)); with infinite df the reference is the normal."""
    p_value, (low, high) = t_test(1.0, 1.0, 2.0)
    assert p_value == pytest.approx(1 - 1 / math.sqrt(3))
    assert high - 1 == pytest.approx(0.95 * math.sqrt(2 / (1 - 0.95**2))) and 1 - low == pytest.approx(high - 1)
    p_value, (low, high) = t_test(-0.5, 0.25, math.inf)
    assert p_value == pytest.approx(math.erfc(1 / math.sqrt(2)))  # |z| = 1
    assert (low, high) == pytest.approx((-0.5 - 1.959964 * 0.5, -0.5 + 1.959964 * 0.5))
    assert t_test(0.0, 0.0, math.inf) == (1.0, (0.0, 0.0))
    assert t_test(0.3, 0.0, math.inf) == (0.0, (0.3, 0.3))


def test_degrees_of_freedom_known_values():
    """Welch-Satterthwaite over the seed parts, grown by the whole variance over the seed parts."""
    assert degrees_of_freedom([(0.5, 3), (0.0, 1)], 0.0) == pytest.approx(2)  # Student's t, k - 1 df
    assert degrees_of_freedom([(0.5, 3), (0.0, 1)], 1.5) == pytest.approx(2 * 2.0 / 0.5)
    assert degrees_of_freedom([(0.5, 3), (0.5, 3)], 0.0) == pytest.approx(1.0 / (0.25 / 2 + 0.25 / 2))  # 4
    assert degrees_of_freedom([(0.2, 3), (0.6, 5)], 0.4) == pytest.approx(0.8**2 / (0.04 / 2 + 0.36 / 4) * 1.2 / 0.8)
    assert degrees_of_freedom([(0.0, 1), (0.0, 1)], 0.7) == math.inf


def test_influences_are_the_derivatives_of_the_scores(documents):
    """Two deterministic systems: each document's influence, the first-order change of a run's score per unit
    of that document's weight, sums (squared, a minus b) to the document variance. The derivatives are taken by
    finite differences of the scores written out here."""
    truth, rng = documents
    a_counts, b_counts = run_counts(truth, [_noisy(rng, truth, 0.1)]), run_counts(truth, [_noisy(rng, truth, 0.2)])
    results = seed_aware_tests(SystemRuns(a_counts, deterministic=True), SystemRuns(b_counts, deterministic=True))
    n, step = len(truth), 1e-6
    ones = np.ones(n)
    for metric in METRICS:
        slopes = []
        for i in range(n):
            bumped = ones.copy()
            bumped[i] += step
            before = _weighted_scores(a_counts[0], ones)[metric] - _weighted_scores(b_counts[0], ones)[metric]
            after = _weighted_scores(a_counts[0], bumped)[metric] - _weighted_scores(b_counts[0], bumped)[metric]
            slopes.append((after - before) / step)
        assert results[metric].document_variance == pytest.approx(float(np.sum(np.square(slopes))), rel=1e-4)
        assert results[metric].degrees_of_freedom == math.inf


def test_document_variance_is_the_ideal_bootstrap_variance_for_subset_accuracy():
    """Subset accuracy is a mean, so its delta-method variance equals the variance over all n**n bootstrap
    draws of the documents (enumerated)."""
    truth = [["x"], ["y"], ["x"], ["y"], ["x"]]
    a = _exact_runs(truth, [[1, 1, 0, 1, 1]])
    b = _exact_runs(truth, [[1, 0, 0, 0, 1]])
    differences = [
        _weighted_scores(a[0], weights)["subset_accuracy"] - _weighted_scores(b[0], weights)["subset_accuracy"]
        for weights in (np.bincount(draw, minlength=5).astype(float) for draw in itertools.product(range(5), repeat=5))
    ]
    test = seed_aware_tests(SystemRuns(a, deterministic=True), SystemRuns(b, deterministic=True))["subset_accuracy"]
    assert test.document_variance == pytest.approx(np.var(differences))


def test_document_variance_agrees_with_the_paired_bootstrap(documents):
    """On 300 documents, the delta-method variance of a micro-F1 difference is within 10 % of the variance of
    4,000 paired bootstrap resamples (their relative standard error is about 2 %)."""
    truth, rng = documents
    a, b = run_counts(truth, [_noisy(rng, truth, 0.1)])[0], run_counts(truth, [_noisy(rng, truth, 0.15)])[0]
    draws = rng.multinomial(len(truth), np.full(len(truth), 1 / len(truth)), size=4000).astype(float)
    differences = [_weighted_scores(a, weights)["micro_f1"] - _weighted_scores(b, weights)["micro_f1"]
                   for weights in draws]
    test = seed_aware_tests(SystemRuns(a[None], deterministic=True), SystemRuns(b[None], deterministic=True))
    assert test["micro_f1"].document_variance == pytest.approx(np.var(differences), rel=0.1)


def test_seed_aware_test_is_symmetric(documents):
    truth, rng = documents
    a = SystemRuns(run_counts(truth, [_noisy(rng, truth, flip) for flip in (0.1, 0.12, 0.14)]))
    b = SystemRuns(run_counts(truth, [_noisy(rng, truth, 0.12)]), deterministic=True)
    forward, backward = seed_aware_tests(a, b), seed_aware_tests(b, a)
    for metric in METRICS:
        assert forward[metric].p_value == pytest.approx(backward[metric].p_value)
        assert forward[metric].difference == pytest.approx(-backward[metric].difference)
        low, high = forward[metric].interval
        assert (-high, -low) == pytest.approx(backward[metric].interval)
        assert (forward[metric].p_value < ALPHA) == (not low <= 0 <= high)


def test_seed_aware_test_rejects_what_it_cannot_test(documents):
    truth, rng = documents
    counts = run_counts(truth, [_noisy(rng, truth, 0.1)])
    seeded = SystemRuns(run_counts(truth, [_noisy(rng, truth, 0.1), _noisy(rng, truth, 0.1)]))
    with pytest.raises(ValueError, match="system b has one run and depends on its seed"):
        seed_aware_tests(seeded, SystemRuns(counts))
    with pytest.raises(ValueError, match="same, non-empty documents"):
        seed_aware_tests(seeded, SystemRuns(counts[:, :5], deterministic=True))
    with pytest.raises(ValueError, match="deterministic system is run once"):
        SystemRuns(seeded.counts, deterministic=True)
    with pytest.raises(ValueError, match="shape"):
        SystemRuns(counts[0])


# ---------------------------------------------------------------------------------------------------------------
# Holm-Bonferroni
# ---------------------------------------------------------------------------------------------------------------
def test_holm_textbook_example():
    """Four hypotheses with p = 0.01, 0.04, 0.03, 0.005 (Wikipedia, Holm-Bonferroni method): sorted, 4 * 0.005,
    3 * 0.01, 2 * 0.03, 1 * 0.04 = 0.02, 0.03, 0.06, 0.04 -> made non-decreasing 0.02, 0.03, 0.06, 0.06; at
    alpha 0.05 the first and the fourth hypotheses are rejected."""
    adjusted = holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert [p < ALPHA for p in adjusted] == [True, False, False, True]


def test_holm_caps_at_one_and_keeps_single_p_values():
    assert holm([0.6, 0.7, 0.02]) == pytest.approx([1.0, 1.0, 0.06])
    assert holm([0.03]) == [0.03]
    assert holm([]) == []
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.5, 1.2])


# ---------------------------------------------------------------------------------------------------------------
# Calibration under the null and power
# ---------------------------------------------------------------------------------------------------------------
def _size(seed_part_a: float, seed_part_b: float | None, nodes: int = 32) -> float:
    """The false-positive rate at ALPHA under a normal model, by quadrature: a's seed mean has variance
    ``seed_part_a`` (3 seeds), b's ``seed_part_b`` (3 seeds; ``None``: deterministic), the document part 1
    (known). Over 3 seeds, s**2 / sigma**2 is Exponential(1) (a chi-square with 2 df, halved): Gauss-Laguerre
    points and weights integrate over it. Given the seed-variance estimates, the test rejects with probability
    2 Phi(-c / sd), c the CI's half-width and sd the difference's true standard deviation."""
    points, weights = special.roots_laguerre(nodes)
    true_sd = math.sqrt(seed_part_a + (seed_part_b or 0.0) + 1.0)

    def rejection(estimate_a: float, estimate_b: float) -> float:
        parts = [(estimate_a, 3)] + ([(estimate_b, 3)] if seed_part_b is not None else [])
        variance = sum(part for part, _ in parts) + 1.0
        _, (_, half_width) = t_test(0.0, variance, degrees_of_freedom(parts, 1.0))
        return 2 * stats.norm.sf(half_width / true_sd)

    if seed_part_b is None:
        return sum(w * rejection(seed_part_a * x, 0.0) for x, w in zip(points, weights))
    return sum(wa * wb * rejection(seed_part_a * xa, seed_part_b * xb)
               for xa, wa in zip(points, weights) for xb, wb in zip(points, weights))


def test_size_at_three_seeds_for_every_ratio_of_seed_to_document_variance():
    """Exact (quadrature) false-positive rates of the t reference under a normal model, with the seed part from
    0.1 to 10,000 times the document part: 3 seeds against a deterministic system, and against 3 seeds with equal
    or 100 times smaller seed variance. Welch-Satterthwaite over all the parts, computed alongside, exceeds 0.07
    against the deterministic system; the df rule keeps every rate within [0.03, 0.07]."""
    rates = {}
    for ratio in (0.1, 1.0, 10.0, 100.0, 10_000.0):
        rates[ratio] = (_size(ratio, None), _size(ratio, ratio, 16), _size(ratio, ratio / 100, 16))
    print("\nsize at alpha 0.05, seed part / document part -> (3 vs deterministic, 3 vs 3 equal, 3 vs 3 1:100):")
    for ratio, sizes in rates.items():
        print(f"  {ratio:>8g}: " + ", ".join(f"{size:.3f}" for size in sizes))
    assert all(0.03 <= size <= 0.07 for sizes in rates.values() for size in sizes)

    points, weights = special.roots_laguerre(32)  # plain Welch-Satterthwaite, 3 seeds vs deterministic, ratio 10

    def welch_rejection(estimate: float) -> float:
        variance = estimate + 1.0
        df = variance**2 / (estimate**2 / 2)
        return 2 * stats.norm.sf(stats.t.ppf(0.975, df) * math.sqrt(variance) / math.sqrt(11.0))

    assert sum(w * welch_rejection(10.0 * x) for x, w in zip(points, weights)) > 0.07


_MISS, _FALSE_ALARM = stats.norm.ppf(0.8), stats.norm.ppf(0.98)


def _system(rng, truth, difficulty, runs: int, seed_effect: float | None, shift: float = 0.0) -> np.ndarray:
    """Counts of ``runs`` runs of a system, shape ``(runs, n_documents, 4)``. A (document, label) decision errs
    where 0.7 of the document's difficulty (shared by every run of both systems) plus 0.3 of the run's own noise
    (variances) passes a threshold: 20 % of true labels missed and 2 % of the others added on average. Each seed
    moves the thresholds by a draw of N(0, seed_effect) (``None``: deterministic, moved by 0); ``shift`` lowers
    them for every run (a worse system)."""
    moves = np.zeros(runs) if seed_effect is None else rng.normal(0.0, seed_effect, runs)
    noise = math.sqrt(0.7) * difficulty + math.sqrt(0.3) * rng.normal(size=(runs, *truth.shape))
    thresholds = np.where(truth, _MISS, _FALSE_ALARM)[None] - shift - moves[:, None, None]
    return indicator_counts(truth, truth[None] ^ (noise > thresholds))


def _simulate(runs_b: int, seed_effects: tuple[float, float], shift: float, simulations: int, seed: int) -> dict:
    """Rejections at ALPHA on micro-F1 of a (3 seeds) against b (``runs_b`` seeds, 1: deterministic), on 1,000
    documents with 10 labels each true with probability 0.15; each simulation draws new documents and runs."""
    rng = np.random.default_rng(seed)
    seed_aware = pooled = 0
    spreads, differences = [], []
    for simulation in range(simulations):
        truth = rng.random((1000, 10)) < 0.15
        difficulty = rng.normal(size=truth.shape)
        a = _system(rng, truth, difficulty, 3, seed_effects[0], shift)
        b = _system(rng, truth, difficulty, runs_b, None if runs_b == 1 else seed_effects[1])
        test = seed_aware_tests(SystemRuns(a), SystemRuns(b, deterministic=runs_b == 1))["micro_f1"]
        seed_aware += test.p_value < ALPHA
        documents_only = paired_tests(DocumentCounts(a.mean(axis=0)), DocumentCounts(b.mean(axis=0)),
                                      "approximate_randomization", 99, simulation)
        pooled += documents_only["micro_f1"].p_value < ALPHA
        spreads += [test.seed_variance_a] + ([test.seed_variance_b] if runs_b > 1 else [])
        differences.append(test.difference)
    return {"seed_aware": seed_aware / simulations, "pooled": pooled / simulations,
            "spread": math.sqrt(np.mean(spreads)), "difference": float(np.mean(differences))}


# A seed effect of 0.067 on the thresholds gives a seed-to-seed spread of 0.02 in micro-F1 (checked below); a
# system worse by 0.05 in micro-F1 (shift 0.155) needs a seed effect of 0.055 for the same spread.
NULL_SEED_EFFECT, WORSE_SHIFT, WORSE_SEED_EFFECT = 0.067, 0.155, 0.055


@pytest.mark.parametrize("runs_b", [3, 1], ids=["3-vs-3-seeds", "3-seeds-vs-deterministic"])
def test_false_positive_rate_under_the_null(runs_b):
    """Two systems equal in expectation, seed spread 0.02 micro-F1, 4,000 simulations (standard error of a rate
    near 0.05: 0.0035): the seed-aware test rejects at a rate within [0.03, 0.07]; the documents-only test of
    seed-pooled counts, on the same simulations, far more often."""
    rates = _simulate(runs_b, (NULL_SEED_EFFECT, NULL_SEED_EFFECT), 0.0, 4000, seed=20 + runs_b)
    print(f"\n{runs_b} run(s) of b: seed spread {rates['spread']:.4f}, mean difference {rates['difference']:+.4f}; "
          f"false positives at alpha 0.05: seed-aware {rates['seed_aware']:.3f}, "
          f"documents-only pooled {rates['pooled']:.3f}")
    assert 0.018 <= rates["spread"] <= 0.022
    assert abs(rates["difference"]) < 0.002
    assert 0.03 <= rates["seed_aware"] <= 0.07
    assert rates["pooled"] > 0.07


@pytest.mark.parametrize("runs_b", [3, 1], ids=["3-vs-3-seeds", "3-seeds-vs-deterministic"])
def test_power_for_a_difference_of_five_points(runs_b):
    """a worse than b by 0.05 micro-F1 in expectation, seed spread 0.02 each, 1,000 simulations: found most of
    the time against a deterministic b. With 3 seeds on both sides each seed variance has 2 df: even the exact
    pooled-variance t test, which would need the two spreads known to be equal, finds this difference only 64 %
    of the time (noncentral t, 4 df); the seed-aware test, which does not assume them equal, must find it more
    than 40 % of the time."""
    rates = _simulate(runs_b, (WORSE_SEED_EFFECT, NULL_SEED_EFFECT), WORSE_SHIFT, 1000, seed=30 + runs_b)
    print(f"\n{runs_b} run(s) of b: seed spread {rates['spread']:.4f}, mean difference {rates['difference']:+.4f}; "
          f"power at alpha 0.05: {rates['seed_aware']:.3f}")
    assert 0.018 <= rates["spread"] <= 0.022
    assert rates["difference"] == pytest.approx(-0.05, abs=0.003)
    assert rates["seed_aware"] > (0.5 if runs_b == 1 else 0.4)

"""Decision rules (sgm_mlc.decision): hand-computed thresholds and F1 for each rule, the per-label fallback, the rank
cut, cross-fitted selection, the saved file; and, on tiny trained runs, that evaluation fits the rule on the
validation split only and applies it."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sgm_mlc.decision import (
    RULES,
    Decision,
    DecisionRule,
    DecisionSettings,
    best_cut,
    cross_fitted_score,
    fit_decision,
    fit_rule,
    fixed_rule,
)
from sgm_mlc.experiment.inputs import SplitData
from sgm_mlc.experiment.linear import MARGIN_CUT, evaluate_linear
from sgm_mlc.experiment.neural import evaluate_neural
from sgm_mlc.experiment.plan import Run, evaluate_sections
from sgm_mlc.experiment.runner import run_inputs
from sgm_mlc.metrics.multilabel import precision_recall_f1, to_multi_hot
from sgm_mlc.models.linear import load
from tests.support.trained_runs import trained_runs

SETTINGS = DecisionSettings(RULES, "micro_f1", min_positives=2, folds=1)


def column(*values: float) -> np.ndarray:
    """One label's values as a ``(n, 1)`` matrix."""
    return np.array(values, dtype=float)[:, None]


# --- thresholds -----------------------------------------------------------------------------------------------


def test_a_labels_threshold_maximises_its_f1_between_consecutive_scores():
    # Cut after 0.9: F1 2/3; after 0.8: 1/2; after 0.7: 4/5 (best); after 0.6: 2/3; everything: 4/7.
    scores, truth = column(0.9, 0.8, 0.7, 0.6, 0.3), column(1, 0, 1, 0, 0)
    assert best_cut(scores, truth, "micro_f1") == pytest.approx(0.65)
    assert precision_recall_f1(truth, scores >= 0.65, "micro")[2] == pytest.approx(0.8)


def test_tied_scores_are_predicted_together_and_the_highest_of_equal_cuts_wins():
    # The two 0.5s cannot be split: predicting both gives F1 2/3, the best.
    assert best_cut(column(0.5, 0.5, 0.2), column(1, 0, 0), "micro_f1") == pytest.approx(0.35)
    # Cut after 0.9 and cut below 0.6 both give F1 2/3: the higher cut (fewer predictions) wins.
    assert best_cut(column(0.9, 0.8, 0.7, 0.6), column(1, 0, 0, 1), "micro_f1") == pytest.approx(0.85)


def test_the_global_threshold_follows_the_selection_metric():
    # A: frequent and clean; B: rare, its positive scored lowest. Pooled micro-F1 is best cutting between 0.8 and
    # 0.6 (tp 2, predicted 2, true 3: 0.8); macro-F1 predicting everything (A 4/5, B 2/4: 0.65; the micro cut
    # gives A 1, B 0: 0.5).
    scores = np.array([[0.9, 0.6], [0.8, 0.2], [0.3, 0.1]])
    truth = np.array([[1, 0], [1, 0], [0, 1]])
    assert best_cut(scores, truth, "micro_f1") == pytest.approx(0.7)
    assert best_cut(scores, truth, "macro_f1") == pytest.approx(0.1)
    assert precision_recall_f1(truth, scores >= 0.1, "macro")[2] == pytest.approx(0.65)


@pytest.mark.parametrize("metric", ["micro_f1", "macro_f1"])
def test_the_threshold_search_finds_the_best_of_every_possible_cut(metric):
    """Against brute force on random tied scores: every distinct score as a cut, and a cut above them all."""
    rng = np.random.default_rng(7)
    for _ in range(300):
        n_examples, n_labels = rng.integers(1, 10), rng.integers(1, 5)
        scores = rng.integers(0, 6, size=(n_examples, n_labels)) / 5
        truth = rng.random((n_examples, n_labels)) < 0.4
        average = metric.removesuffix("_f1")
        best = max(precision_recall_f1(truth, scores >= cut, average)[2] for cut in [*np.unique(scores), np.inf])
        found = precision_recall_f1(truth, scores >= best_cut(scores, truth, metric), average)[2]
        assert found == pytest.approx(best, abs=1e-12)


def test_per_label_thresholds_with_the_global_fallback():
    """min_positives 2: label 0 has its own threshold; label 1 (one positive) takes the global one; labels 2 and 3
    were never positive: the global threshold, raised above the highest score where it would predict them."""
    scores = np.array([
        [0.9, 0.2, 0.85, 0.95],
        [0.8, 0.9, 0.85, 0.97],
        [0.7, 0.1, 0.85, 0.99],
        [0.6, 0.4, 0.85, 0.96],
        [0.3, 0.3, 0.85, 0.98],
    ])
    truth = np.zeros(scores.shape, dtype=int)
    truth[[0, 1], 0] = 1
    truth[1, 1] = 1
    # Pooled, the best shared cut lies between 0.9 (two positives, after five 0.95+ negatives) and 0.85:
    # micro-F1 4/10; any lower cut adds the five 0.85s first.
    assert best_cut(scores, truth, "micro_f1") == pytest.approx(0.875)
    rule = fit_rule("per_label", scores, truth, SETTINGS, cut=0.0)
    assert rule.thresholds[:3] == pytest.approx((0.75, 0.875, 0.875))
    assert rule.thresholds[3] == np.nextafter(0.99, 1.0)
    assert rule.fallback == (False, True, True, True)
    predicted = rule.apply(scores)
    assert not predicted[:, 2:].any(), "a label never positive on validation is not predicted there"
    assert predicted[:, 0].tolist() == [True, True, False, False, False]
    assert predicted[:, 1].tolist() == [False, True, False, False, False]


@pytest.mark.parametrize(("cardinalities", "k"), [([1, 2, 2, 1], 2), ([1, 1, 2], 1), ([2, 3], 3), ([0, 0], 1)])
def test_the_rank_cut_keeps_the_mean_cardinality_rounded_half_up_and_at_least_one(cardinalities, k):
    truth = np.array([[1] * c + [0] * (4 - c) for c in cardinalities])
    assert fit_rule("rank_cut", np.zeros(truth.shape), truth, SETTINGS, cut=None).k == k


def test_the_rank_cut_takes_each_rows_top_labels_the_earlier_label_on_ties():
    rule = DecisionRule("rank_cut", k=2)
    scores = np.array([[0.1, 0.7, 0.3], [0.5, 0.5, 0.5], [-3.0, -1.0, -2.0]])
    assert rule.apply(scores).astype(int).tolist() == [[0, 1, 1], [1, 1, 0], [0, 1, 1]]


def test_the_fixed_rule_is_the_models_own_cut_at_or_above_it():
    rule = fit_rule("fixed", column(0.9, 0.1), column(0, 1), SETTINGS, cut=0.5)  # whatever validation says
    assert rule.thresholds == (0.5,)
    assert rule.apply(column(0.5, 0.49)).ravel().tolist() == [True, False]


# --- choosing a rule ------------------------------------------------------------------------------------------


def test_candidates_are_scored_on_folds_they_were_not_fitted_on():
    # Fold 0 = examples 0, 2 (0.9 positive, 0.3 negative): global cut 0.6, which predicts 0.8 of fold 1 and not
    # 0.2. Fold 1 = examples 1, 3 (0.8 negative, 0.2 positive): the best is everything (F1 2/3), cut 0.2, which
    # predicts 0.9 and 0.3 of fold 0. Pooled: 1 true positive, 3 predicted, 2 true: micro-F1 2/5.
    scores, truth = column(0.9, 0.8, 0.3, 0.2), column(1, 0, 0, 1)
    assert cross_fitted_score("global", scores, truth, SETTINGS, None, folds=2) == pytest.approx(0.4)
    in_sample = precision_recall_f1(truth, scores >= best_cut(scores, truth, "micro_f1"), "micro")[2]
    assert cross_fitted_score("global", scores, truth, SETTINGS, None, folds=1) == pytest.approx(in_sample)


def test_the_best_validation_rule_wins_and_a_tie_goes_to_the_simpler_rule():
    # The model's own cut 0 already separates the labels: every threshold rule ties at 1.0, and fixed wins.
    tie = fit_decision(column(2.0, -1.0), column(1, 0), ["a"], SETTINGS, 0.0, True, "margins")
    assert tie.rule.name == "fixed" and tie.validation["fixed"] == tie.validation["global"] == 1.0
    assert tie.validation["rank_cut"] == pytest.approx(2 / 3)  # k = 1 predicts the negative too
    # Scores shifted below the cut: one threshold for all recovers both positives.
    shifted = fit_decision(column(1.0, -0.5, -2.0), column(1, 1, 0), ["a"], SETTINGS, 0.0, True, "margins")
    assert shifted.rule.name == "global" and shifted.rule.thresholds == pytest.approx((-1.25,))
    assert shifted.validation["fixed"] == pytest.approx(2 / 3) and shifted.validation["global"] == 1.0


def test_a_model_without_its_own_cut_is_offered_the_fitted_rules_only():
    decision = fit_decision(column(0.9, 0.1), column(1, 0), ["a"], SETTINGS, None, False, "replayed")
    assert sorted(decision.validation) == ["global", "per_label", "rank_cut"] and not decision.applied
    only_fixed = dataclasses.replace(SETTINGS, rules=("fixed",))
    assert fit_decision(column(0.9, 0.1), column(1, 0), ["a"], only_fixed, None, False, "replayed").rule is None


def test_scores_that_are_not_finite_are_refused():
    with pytest.raises(ValueError, match=r"1 scores are NaN or infinite \(the first: example 1, label column 0\)"):
        fit_decision(column(0.9, np.nan), column(1, 0), ["a"], SETTINGS, 0.5, True, "sigmoids")


def test_the_decision_file_round_trips_and_names_what_is_wrong(tmp_path):
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.6], [0.1, 0.2]])
    truth = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    settings = DecisionSettings(("per_label",), "micro_f1", min_positives=1, folds=2)
    decision = fit_decision(scores, truth, ["x", "y"], settings, 0.5, True, "sigmoids")
    path = tmp_path / "decision.json"
    decision.save(path)
    assert Decision.load(path, ["x", "y"]) == decision
    assert json.loads(path.read_text())["thresholds"] == dict(zip(["x", "y"], decision.rule.thresholds))
    with pytest.raises(ValueError, match=r"decision.json: its thresholds are not over the model's 3 labels; re-run"):
        Decision.load(path, ["x", "y", "z"])
    path.write_text(json.dumps({**decision.to_json(), "format": 0}))
    with pytest.raises(ValueError, match=r"decision.json: not a decision file of format 1"):
        Decision.load(path, ["x", "y"])


# --- evaluation -----------------------------------------------------------------------------------------------

LABEL_SCORING = ("br", "lp", "cc", "br_neural")


@pytest.fixture(scope="module")
def project(tmp_path_factory, default_params) -> dict:
    """br, lp, cc, br_neural and an sgm trained with the sequence+set loss, tiny, evaluated in a pipeline layout."""
    params = copy.deepcopy(default_params)
    params["models"]["sgm"]["loss"] = "sequence+set"
    root = tmp_path_factory.mktemp("project")
    runs = trained_runs(root, params, LABEL_SCORING + ("sgm",))
    return {"root": root, "runs": runs}


def evaluation_dir(project: dict, model: str) -> Path:
    run = project["runs"][model]
    return project["root"] / "results/evaluation" / run.relative_to(project["root"] / "results/models")


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("model", LABEL_SCORING)
def test_evaluation_applies_the_rule_it_chose_on_validation(project, model):
    folder = evaluation_dir(project, model)
    decision, metrics = read_json(folder / "decision.json"), read_json(folder / "metrics.json")
    assert decision["rule"] in RULES and decision["applied"] is True
    assert sorted(decision["validation"]) == sorted(RULES)
    assert decision["validation"][decision["rule"]] == max(decision["validation"].values())
    for split in ("valid", "test"):
        block = metrics[split]["decision"]
        assert block["rule"] == decision["rule"] and block["applied"] is True
        for name in ("micro_precision", "micro_recall", "micro_f1", "macro_precision", "macro_recall", "macro_f1"):
            assert block["after"][name] == metrics[split][name], (split, name)


@pytest.mark.parametrize("model", ["br", "lp", "cc"])
def test_before_is_the_linear_models_own_prediction_and_after_its_rule(project, model):
    folder, inputs = evaluation_dir(project, model), linear_inputs(project, model)
    fitted = load(project["runs"][model] / "model.joblib")
    test = inputs.splits["test"]
    truth = to_multi_hot(test.label_sequences, inputs.label_ranking)
    block = read_json(folder / "metrics.json")["test"]["decision"]
    own, scores = fitted.predict(test.documents), fitted.decision_scores(test.documents)  # (n_test, n_labels)
    assert (fixed_rule(MARGIN_CUT, len(inputs.label_ranking)).apply(scores) == own).all()
    assert block["before"]["micro_f1"] == pytest.approx(precision_recall_f1(truth, own, "micro")[2])
    rule = Decision.load(folder / "decision.json", inputs.label_ranking).rule
    predicted = rule.apply(scores)
    table = pq.read_table(folder / "predictions.parquet").to_pandas()
    written = table[table["split"] == "test"]["predicted_labels"]
    written = to_multi_hot([list(labels) for labels in written], inputs.label_ranking)
    assert written.tolist() == predicted.astype(int).tolist()


def linear_inputs(project: dict, model: str):
    root = project["root"]
    return run_inputs(model, root / "data/processed/synthetic", root / "results/label_orders/synthetic/frequency")


def shuffled(split: SplitData, seed: int) -> SplitData:
    """``split`` with its documents reversed and its label sequences dealt to other documents."""
    order = np.random.default_rng(seed).permutation(len(split.ids))
    return SplitData(split.ids, split.documents[::-1], [split.label_sequences[i] for i in order])


@pytest.mark.parametrize("model", ["br", "br_neural"])
def test_the_test_split_never_reaches_the_fitted_rule(project, model, tmp_path):
    """Evaluated again with a scrambled test split the decision is byte for byte the same; with a scrambled
    validation split it is not (so the comparison can fail)."""
    root, run_dir = project["root"], project["runs"][model]
    folder = evaluation_dir(project, model)
    params = {key: value for key, value in read_json(folder / "params.json").items() if key != "run"}
    features = root / "results/embeddings/synthetic"
    inputs = run_inputs(model, root / "data/processed/synthetic", root / "results/label_orders/synthetic/frequency",
                        features)

    def decision_with(split_name: str) -> str:
        scrambled = shuffled(inputs.splits[split_name], seed=1)
        changed = dataclasses.replace(inputs, splits={**inputs.splits, split_name: scrambled})
        out = tmp_path / split_name
        out.mkdir()
        if model == "br":
            evaluate_linear(model, params, changed, run_dir, out)
        else:
            evaluate_neural(model, params, changed, features, run_dir, out)
        return (out / "decision.json").read_text(encoding="utf-8")

    assert decision_with("test") == (folder / "decision.json").read_text(encoding="utf-8")
    assert decision_with("valid") != (folder / "decision.json").read_text(encoding="utf-8")


def test_a_sequence_model_with_a_set_loss_reports_its_rule_beside_its_decoded_labels(project):
    folder = evaluation_dir(project, "sgm")
    decision, metrics = read_json(folder / "decision.json"), read_json(folder / "metrics.json")
    assert decision["applied"] is False and decision["rule"] in ("global", "per_label", "rank_cut")
    assert sorted(decision["validation"]) == ["global", "per_label", "rank_cut"]  # no cut of its own
    assert "highest probability over the steps of the decoded sequence" in decision["scores"]
    for split in ("valid", "test"):
        block = metrics[split]["decision"]
        assert block["applied"] is False
        assert block["before"]["micro_f1"] == metrics[split]["micro_f1"]  # the decoded labels stay the prediction
        assert block["before"]["macro_f1"] == metrics[split]["macro_f1"]


def test_the_evaluate_step_reads_the_decision_settings_where_it_fits_a_rule(default_params):
    params = copy.deepcopy(default_params)

    def reads_decision(model: str, variant: str = "default") -> bool:
        return "decision" in evaluate_sections(params, Run("synthetic", model, variant, "frequency", 13))

    assert all(reads_decision(model) for model in ("br", "lp", "cc", "br_neural", "cnn"))
    params["models"]["sgm"]["loss"] = "sequence"
    assert not reads_decision("sgm")
    params["tuning"]["spaces"]["sgm"]["loss"] = {"choices": ["sequence", "sequence+set"]}
    assert reads_decision("sgm", "tuned")  # its study may choose a set loss
    params["models"]["sgm"]["loss"] = "sequence+set"
    assert reads_decision("sgm")

"""Linear baselines (br, lp, cc) on the synthetic dataset, on hand-made data, and on real Reuters-21578."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from sgm_mlc.data.parquet import read_examples
from sgm_mlc.data.preprocess import EXAMPLES_FILE, preprocess
from sgm_mlc.data.reuters import Reuters21578
from sgm_mlc.data.synthetic import SyntheticDataset, planted_structure
from sgm_mlc.labels.orders import label_ranking
from sgm_mlc.models.linear import (
    CONSTANT_SCORE,
    MODELS,
    LinearMultiLabel,
    binarize,
    build_linear_model,
    load,
    save,
)
from tests.support.params import SYNTHETIC_DEFAULTS

SYNTHETIC = dict(SYNTHETIC_DEFAULTS, n_documents=600)
TEXT = {"lowercase": True, "min_token_count": 2, "max_vocabulary_size": 50000}

# Hand-made: "fruit" follows the word "apple"; "always" is on every train document; "never" on none.
TINY_TOKENS = [["red", "apple"], ["green", "apple", "pie"], ["red", "car"], ["blue", "car", "door"]]
TINY_LABELS = [["fruit", "always"], ["always", "fruit"], ["always"], ["always"]]
TINY_NAMES = ["fruit", "always", "never"]


def split(examples: pd.DataFrame, name: str) -> tuple[list, list]:
    """Tokens and label sets of one split."""
    part = examples[examples["split"] == name]
    return part["tokens"].tolist(), part["labels"].tolist()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    """The synthetic dataset (600 documents) through the real preprocess step, read back from Parquet."""
    folder = tmp_path_factory.mktemp("synthetic")
    SyntheticDataset().download(SYNTHETIC, folder / "raw")
    preprocess(SyntheticDataset(), SYNTHETIC, TEXT, folder / "raw", folder / "processed")
    return read_examples(folder / "processed" / EXAMPLES_FILE)


@pytest.fixture(scope="module")
def ranking(synthetic: pd.DataFrame) -> list[str]:
    return label_ranking("frequency", synthetic["labels"].tolist(), synthetic["split"].tolist(), 13)


@pytest.fixture(scope="module")
def fitted(synthetic: pd.DataFrame, ranking: list[str]) -> dict[str, LinearMultiLabel]:
    """Every model fitted on the synthetic train split, label columns in frequency order."""
    tokens, labels = split(synthetic, "train")
    return {name: build_linear_model(name, {}, ranking).fit(tokens, labels, ranking) for name in MODELS}


@pytest.mark.parametrize("name", MODELS)
def test_predictions_are_0_1_of_the_right_shape_and_agree_with_the_scores(name, fitted, synthetic, ranking):
    tokens, _ = split(synthetic, "test")
    predictions = fitted[name].predict(tokens)
    scores = fitted[name].decision_scores(tokens)
    assert predictions.shape == scores.shape == (len(tokens), len(ranking))
    assert set(np.unique(predictions)) <= {0, 1}
    np.testing.assert_array_equal(predictions, scores > 0)


def test_binary_relevance_finds_the_visible_labels(fitted, synthetic, ranking):
    tokens, labels = split(synthetic, "test")
    visible = [ranking.index(label) for label in planted_structure(SYNTHETIC)["visible_labels"]]
    truth = binarize(labels, ranking)[:, visible]
    predictions = fitted["br"].predict(tokens)[:, visible]
    always_the_most_frequent = np.zeros_like(truth)
    always_the_most_frequent[:, 0] = 1
    # measured 0.946 (the trivial predictor: 0.15)
    assert f1_score(truth, predictions, average="micro") > 0.85
    assert f1_score(truth, always_the_most_frequent, average="micro") < 0.3


def test_label_powerset_only_predicts_label_sets_seen_in_training(fitted, synthetic, ranking):
    _, train_labels = split(synthetic, "train")
    tokens, test_labels = split(synthetic, "test")
    seen = {tuple(row) for row in binarize(train_labels, ranking)}
    predicted = {tuple(row) for row in fitted["lp"].predict(tokens)}
    assert predicted <= seen
    assert {tuple(row) for row in binarize(test_labels, ranking)} - seen  # the test split does hold unseen sets


def test_classifier_chain_follows_the_given_order(synthetic):
    tokens, labels = split(synthetic, "train")
    names = sorted({label for label_set in synthetic["labels"] for label in label_set})
    for order in ("alphabetical", "random"):
        ranking = label_ranking(order, synthetic["labels"].tolist(), synthetic["split"].tolist(), 5)
        model = build_linear_model("cc", {}, ranking).fit(tokens, labels, names)
        assert model.chain_order == ranking
        assert [names[j] for j in model.chain.order_] == ranking
    assert label_ranking("random", synthetic["labels"].tolist(), synthetic["split"].tolist(), 5) != names


@pytest.mark.parametrize("name", MODELS)
def test_labels_constant_in_train_are_predicted_as_that_constant(name):
    model = build_linear_model(name, {}, TINY_NAMES).fit(TINY_TOKENS, TINY_LABELS, TINY_NAMES)
    tokens = [["apple"], ["car"], ["unknown", "words"]]
    predictions = model.predict(tokens)
    np.testing.assert_array_equal(predictions[:2], [[1, 1, 0], [0, 1, 0]])
    np.testing.assert_array_equal(predictions[:, 1:], [[1, 0]] * 3)
    np.testing.assert_array_equal(model.decision_scores(tokens)[:, 1:], [[CONSTANT_SCORE, -CONSTANT_SCORE]] * 3)
    assert model.trainable_labels == ["fruit"]


def test_the_chain_skips_constant_labels():
    model = build_linear_model("cc", {}, ["never", "always", "fruit"]).fit(TINY_TOKENS, TINY_LABELS, TINY_NAMES)
    assert model.chain_order == ["fruit"]


@pytest.mark.parametrize("name", MODELS)
def test_save_and_load_give_identical_predictions(name, fitted, synthetic, tmp_path):
    tokens, _ = split(synthetic, "test")
    path = tmp_path / "model" / f"{name}.joblib"
    save(fitted[name], path)
    loaded = load(path)
    assert type(loaded) is type(fitted[name])
    np.testing.assert_array_equal(loaded.decision_scores(tokens), fitted[name].decision_scores(tokens))
    np.testing.assert_array_equal(loaded.predict(tokens), fitted[name].predict(tokens))
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind


@pytest.mark.parametrize("name", MODELS)
def test_fitting_is_deterministic(name, fitted, synthetic, ranking):
    train_tokens, train_labels = split(synthetic, "train")
    tokens, _ = split(synthetic, "test")
    again = build_linear_model(name, {}, ranking).fit(train_tokens, train_labels, ranking)
    np.testing.assert_array_equal(again.decision_scores(tokens), fitted[name].decision_scores(tokens))


def test_params_reach_the_featurizer_and_the_classifier(synthetic, ranking):
    tokens, labels = split(synthetic, "train")
    params = {"C": 0.5, "ngram_max": 2, "max_features": 300, "class_weight": None}
    model = build_linear_model("br", params, ranking).fit(tokens, labels, ranking)
    assert len(model.featurizer.vocabulary_) == 300
    assert any(" " in feature for feature in model.featurizer.vocabulary_)  # bigrams
    assert {(c.C, c.class_weight) for c in model.classifiers} == {(0.5, None)}
    assert build_linear_model("lp", {}, ranking).settings["class_weight"] is None


def test_invalid_requests_are_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="known models: br, lp, cc"):
        build_linear_model("svm", {}, TINY_NAMES)
    with pytest.raises(ValueError, match=r"unknown linear model param\(s\) \['gamma'\]"):
        build_linear_model("br", {"gamma": 1.0}, TINY_NAMES)
    with pytest.raises(ValueError, match="class_weight"):
        build_linear_model("br", {"class_weight": "auto"}, TINY_NAMES)
    with pytest.raises(ValueError, match=r"\['fruit'\] are not among label_names"):
        build_linear_model("br", {}, TINY_NAMES).fit(TINY_TOKENS, TINY_LABELS, ["always", "never"])
    with pytest.raises(TypeError, match="pre-tokenized"):
        build_linear_model("br", {}, TINY_NAMES).fit(["red apple"] * 4, TINY_LABELS, TINY_NAMES)
    with pytest.raises(ValueError, match="label_ranking must list exactly the label_names"):
        build_linear_model("cc", {}, ["fruit", "always"]).fit(TINY_TOKENS, TINY_LABELS, TINY_NAMES)
    save({"not": "a model"}, tmp_path / "other.joblib")
    with pytest.raises(TypeError, match="not a linear baseline model"):
        load(tmp_path / "other.joblib")


@pytest.mark.integration
def test_binary_relevance_on_reuters_modapte_reaches_the_published_micro_f1(
    shared_data: Path, default_params: dict, tmp_path: Path
):
    """Linear SVM BR on ModApte-90 test: the field reports micro-F1 0.85-0.87 (measured 0.878, ~15 s)."""
    params = dict(default_params["datasets"]["reuters21578"], url=(shared_data / "reuters21578.tar.gz").as_uri())
    dataset = Reuters21578()
    dataset.download(params, tmp_path / "raw")
    preprocess(dataset, params, default_params["preprocess"], tmp_path / "raw", tmp_path / "processed")
    examples = read_examples(tmp_path / "processed" / EXAMPLES_FILE)
    names = sorted({label for labels in examples["labels"] for label in labels})
    model = build_linear_model("br", {}, names).fit(*split(examples, "train"), names)
    tokens, labels = split(examples, "test")
    assert len(names) == 90 and len(tokens) == 3019
    assert f1_score(binarize(labels, names), model.predict(tokens), average="micro") >= 0.85

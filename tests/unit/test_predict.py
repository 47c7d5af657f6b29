"""Predicting on raw text (sgm_mlc.predict): the same labels and probabilities as evaluation, attention that
points at the input's words, the bundle, the command line and the MLflow pyfunc around it."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import math
import shutil

import mlflow
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from mlflow import MlflowClient

from sgm_mlc.data.parquet import read_examples
from sgm_mlc.decoding import BeamSearch, GreedySearch
from sgm_mlc.experiment.runner import evaluate_model
from sgm_mlc.models.label_ids import FIRST_LABEL
from sgm_mlc.predict import load_trained_model
from sgm_mlc.predict.bundle import pipeline_bundle
from sgm_mlc.predict.attention import attended_words
from sgm_mlc.predict.command import add_predict_command
from sgm_mlc.tracking.pyfunc_model import MODEL_NAME, load_logged_model, log_pyfunc_model, tracking_store
from sgm_mlc.tracking.runs import get_or_create_run, init_tracking
from sgm_mlc.training.batches import collate, encode_examples
from tests.support.trained_runs import trained_runs

MODELS = ("sgm", "cnn", "br")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, default_params):
    """Tiny sgm, cnn and br runs, trained and evaluated, in a pipeline layout (a few seconds)."""
    return trained_runs(tmp_path_factory.mktemp("project"), copy.deepcopy(default_params), MODELS)


def project_root(run_dir):
    """The project of ``<root>/results/models/<dataset>/<model>/<variant>/<order>/seed<seed>``."""
    return run_dir.parents[6]


@pytest.fixture(scope="module")
def test_split(runs):
    """The ids and raw texts of the first 12 test documents."""
    examples = read_examples(project_root(runs["sgm"]) / "data/processed/synthetic/examples.parquet")
    return examples[examples["split"] == "test"].head(12)


@pytest.fixture(scope="module")
def texts(test_split):
    return list(test_split["text"])


def evaluation_rows(run_dir, ids):
    """The evaluation's predictions of ``ids``, in that order."""
    root = project_root(run_dir)
    evaluation = root / "results/evaluation" / run_dir.relative_to(root / "results/models")
    return pq.read_table(evaluation / "predictions.parquet").to_pandas().set_index("id").loc[list(ids)]


@pytest.mark.parametrize("model_name", MODELS)
def test_predictions_on_raw_text_are_the_evaluation_predictions(runs, test_split, texts, model_name):
    predictions = [p.record() for p in load_trained_model(runs[model_name], allow_pickle=True).predict(texts)]
    expected = evaluation_rows(runs[model_name], test_split["id"])
    assert [p["labels"] for p in predictions] == [list(labels) for labels in expected["predicted_labels"]]
    for prediction, probabilities in zip(predictions, expected["step_probabilities"]):
        if model_name == "br":  # linear models: no probabilities (NaN in the predictions table)
            assert prediction["probabilities"] == [None] * len(probabilities)
            assert all(math.isnan(p) for p in probabilities)
        else:
            assert prediction["probabilities"] == pytest.approx(list(probabilities), abs=1e-5)


def test_sequence_model_attends_to_words_of_the_input(runs, texts):
    model = load_trained_model(runs["sgm"])
    predictions = model.predict(texts, top_words=3)
    assert any(p.labels for p in predictions)
    for text, prediction in zip(texts, predictions):
        for label in prediction.labels:
            weights = [weight for _, weight in label.attended_words]
            assert 1 <= len(label.attended_words) <= 3
            assert {word for word, _ in label.attended_words} <= set(model.tokens(text))
            assert weights == sorted(weights, reverse=True) and all(0 < w <= 1 for w in weights)
    for label in model.predict(texts[:1], top_words=10_000)[0].labels:  # every word, the weights summing to one
        assert {word for word, _ in label.attended_words} == set(model.tokens(texts[0]))
        assert sum(weight for _, weight in label.attended_words) == pytest.approx(1.0, abs=1e-5)
    assert all(label.attended_words == () for label in model.predict(texts[:1], top_words=0)[0].labels)


@pytest.mark.parametrize("strategy", [GreedySearch(), BeamSearch(beam_size=3)], ids=["greedy", "beam"])
def test_the_replay_gives_the_decodings_steps_and_end_probability(runs, texts, strategy):
    """Teacher-forcing the decoded labels replays the decoding: same labels and steps, same EOS."""
    model = load_trained_model(runs["sgm"])
    predictions = model.predict(texts, beam_size=getattr(strategy, "beam_size", 1))
    documents = [model.vocabulary.encode(model.tokens(text)) for text in texts]
    encoded = encode_examples([str(i) for i in range(len(texts))], documents, [[]] * len(texts), model.labels, None)
    batch = collate(encoded, np.arange(len(texts)))
    max_length = model.params["models"]["sgm"]["max_decode_length"]
    result = strategy.decode(model.network, batch.src, batch.src_lengths, max_length)
    assert [[model.labels.index(label.label) + FIRST_LABEL for label in p.labels] for p in predictions] == result.labels
    for prediction, steps, end in zip(predictions, result.step_probabilities, result.end_probabilities):
        assert [label.probability for label in prediction.labels] == pytest.approx(steps, abs=1e-5)
        assert prediction.end_probability == pytest.approx(end, abs=1e-5)


def test_set_and_linear_models_have_no_attention(runs, texts):
    cnn = load_trained_model(runs["cnn"])
    threshold = dict(zip(cnn.labels, cnn.decision.rule.thresholds))  # the tiny run's rule is a threshold rule
    for prediction in cnn.predict(texts):
        assert prediction.end_probability is None
        assert all(label.attended_words is None for label in prediction.labels)
        assert all(label.probability >= threshold[label.label] for label in prediction.labels)
    for prediction in load_trained_model(runs["br"], allow_pickle=True).predict(texts):
        assert prediction.record()["attended_words"] == [None] * len(prediction.labels)
        assert prediction.end_probability is None


def test_odd_texts_and_arguments(runs):
    model = load_trained_model(runs["sgm"])
    empty, unknown = model.predict(["", "zzzz qqqq"])
    assert all(label.attended_words == () for label in empty.labels)  # no word to attend to
    assert all({w for w, _ in label.attended_words} <= {"zzzz", "qqqq"} for label in unknown.labels)
    assert model.predict([]) == []
    with pytest.raises(ValueError, match="beam_size must be at least 1"):
        model.predict(["text"], beam_size=0)


def test_attended_words_sum_a_words_occurrences():
    weights = np.array([0.1, 0.4, 0.3, 0.2], dtype=np.float32)
    assert attended_words(weights, ["a", "b", "a", "c"], 2) == [("a", pytest.approx(0.4)), ("b", pytest.approx(0.4))]
    assert attended_words(weights[:1], [], 3) == []


def test_a_saved_bundle_predicts_as_the_run_folder(runs, texts, tmp_path):
    bundle = pipeline_bundle(runs["sgm"])
    folder = bundle.save(tmp_path / "bundle")
    expected = ["bundle.json", "decision.json", "label_vocab.json", "model.pt", "vocab.json"]
    assert sorted(p.name for p in folder.iterdir()) == expected
    assert load_trained_model(folder).predict(texts) == load_trained_model(runs["sgm"]).predict(texts)
    assert pipeline_bundle(runs["sgm"]).digest() == bundle.digest()
    linear = pipeline_bundle(runs["br"]).save(tmp_path / "linear")
    assert sorted(p.name for p in linear.iterdir()) == [
        "bundle.json", "decision.json", "label_vocab.json", "model.joblib"
    ]


def test_a_pickle_from_outside_the_project_is_refused_unless_allowed(runs, tmp_path, monkeypatch, texts):
    linear = pipeline_bundle(runs["br"]).save(tmp_path / "linear")
    with pytest.raises(ValueError, match=r"model.joblib: refusing to load a joblib file from outside this project"):
        load_trained_model(linear)
    with pytest.raises(ValueError, match="refusing to load a joblib file"):
        load_trained_model(runs["br"])
    assert load_trained_model(linear, allow_pickle=True).predict(texts[:1])
    monkeypatch.chdir(project_root(runs["br"]))  # the project's own results: trusted
    assert load_trained_model(runs["br"]).predict(texts[:1])
    # A neural model's weights load from anywhere: torch reads them with weights_only.
    assert load_trained_model(pipeline_bundle(runs["sgm"]).save(tmp_path / "neural")).predict(texts[:1])


def test_missing_files_are_named_with_what_builds_them(runs, tmp_path):
    missing_run = r"no trained model at .*seed99: train and evaluate it first \(snakemake --cores 2 results/evaluation/"
    with pytest.raises(FileNotFoundError, match=missing_run):
        load_trained_model(runs["sgm"].parent / "seed99")
    with pytest.raises(ValueError, match="is not a run folder of the pipeline"):
        load_trained_model(tmp_path)
    project = tmp_path / "project"
    shutil.copytree(project_root(runs["sgm"]), project)
    run = "synthetic/sgm/default/frequency/seed13"
    (project / f"results/evaluation/{run}/params.json").unlink()
    rebuild = f"params.json is missing: .* --force results/evaluation/{run}/metrics.json"
    with pytest.raises(FileNotFoundError, match=rebuild):
        load_trained_model(project / f"results/models/{run}")
    run = "synthetic/cnn/default/frequency/seed13"
    (project / f"results/evaluation/{run}/decision.json").unlink()
    rebuild = f"decision.json is missing: .* --force results/evaluation/{run}/metrics.json"
    with pytest.raises(FileNotFoundError, match=rebuild):
        load_trained_model(project / f"results/models/{run}")


@pytest.mark.parametrize("rule", ["global", "per_label", "rank_cut"])
@pytest.mark.parametrize("model_name", ["br", "cnn"])
def test_prediction_applies_the_rule_the_evaluation_chose(runs, test_split, texts, tmp_path, model_name, rule):
    """Re-evaluated offering one rule only, the run predicts raw text as its evaluation predicted the test split."""
    project = tmp_path / "project"
    shutil.copytree(project_root(runs[model_name]), project)
    run_dir = project / runs[model_name].relative_to(project_root(runs[model_name]))
    evaluation = project / "results/evaluation" / run_dir.relative_to(project / "results/models")
    params = json.loads((evaluation / "params.json").read_text(encoding="utf-8"))
    params["decision"]["rules"] = [rule]
    data = project / "data/processed/synthetic"
    order = project / "results/label_orders/synthetic/frequency"
    evaluate_model(model_name, params, data, project / "results/embeddings/synthetic", order, run_dir, evaluation)
    assert json.loads((evaluation / "decision.json").read_text(encoding="utf-8"))["rule"] == rule

    predictions = [p.record() for p in load_trained_model(run_dir, allow_pickle=True).predict(texts)]
    expected = evaluation_rows(run_dir, test_split["id"])
    assert [p["labels"] for p in predictions] == [list(labels) for labels in expected["predicted_labels"]]
    if rule == "rank_cut":  # the rule, not the model's own cut, made them: k labels each
        k = json.loads((evaluation / "decision.json").read_text(encoding="utf-8"))["k"]
        assert {len(p["labels"]) for p in predictions} == {k}


def test_a_sequence_model_keeps_its_decoded_labels(runs):
    """Trained with the sequence loss only, sgm fits no decision rule: its decoded labels are its predictions."""
    evaluation = project_root(runs["sgm"]) / "results/evaluation/synthetic/sgm/default/frequency/seed13"
    decision = json.loads((evaluation / "decision.json").read_text(encoding="utf-8"))
    assert decision["rule"] is None and decision["applied"] is False and decision["thresholds"] is None
    metrics = json.loads((evaluation / "metrics.json").read_text(encoding="utf-8"))
    assert "decision" not in metrics["test"]
    assert load_trained_model(runs["sgm"]).decision.rule is None


# --- command line --------------------------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sgm-mlc")
    add_predict_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_predict_command_arguments():
    args = parse("predict", "--model", "results/models/x", "first text", "second")
    assert (args.texts, args.model, args.json, args.beam_size, args.top_words, args.file) == (
        ["first text", "second"], "results/models/x", False, None, 5, None
    )
    args = parse("predict", "--model", "0" * 32, "--file", "in.txt", "--json", "--beam-size", "3", "--top-words", "0")
    assert (args.texts, args.file.name, args.json, args.beam_size, args.top_words) == ([], "in.txt", True, 3, 0)
    for bad in (["--model", "m", "--beam-size", "0"], ["--model", "m", "--top-words", "-1"], []):
        with pytest.raises(SystemExit):
            parse("predict", *bad, "text")


def test_predict_command_prints_blocks_and_json_lines(runs, texts, tmp_path, capsys):
    texts = texts[:3]
    (tmp_path / "texts.txt").write_text("\n".join(texts[1:]) + "\n\n")
    run = str(runs["sgm"])
    args = parse("predict", "--model", run, texts[0], "--file", str(tmp_path / "texts.txt"), "--top-words", "2")
    args.handler(args)
    expected = load_trained_model(runs["sgm"]).predict(texts, top_words=2)
    blocks = capsys.readouterr().out.strip().split("\n\n")
    assert len(blocks) == 3 and all(block.startswith(f"[{i}] ") for i, block in enumerate(blocks, start=1))
    first = expected[0].labels[0]
    assert f"    {first.label}  {first.probability:.3f}  {first.attended_words[0][0]} " in blocks[0]
    assert f"(end)     {expected[0].end_probability:.3f}" in blocks[0]
    args = parse("predict", "--model", run, "--json", *texts, "--top-words", "2")
    args.handler(args)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [json.loads(json.dumps({"text": t, **p.record()})) for t, p in zip(texts, expected)]


def test_predict_command_errors(tmp_path):
    args = parse("predict", "--model", str(tmp_path / "results/models/synthetic/sgm/default/frequency/seed13"), "t")
    with pytest.raises(FileNotFoundError, match="no trained model at"):
        args.handler(args)
    args = parse("predict", "--model", "x")
    with pytest.raises(ValueError, match="no texts to label"):
        args.handler(args)


# --- MLflow pyfunc -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A SQLite store with the experiment ``predict`` (creating its tables takes seconds)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    init_tracking(uri, "predict")
    return uri


def test_pyfunc_model_is_logged_once_and_predicts_as_the_library(runs, texts, store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    client = MlflowClient(tracking_uri=store)
    run_id = get_or_create_run(client, "predict", "sgm-run", "sgm")
    client.set_terminated(run_id, "FINISHED")
    experiment_id = client.get_run(run_id).info.experiment_id
    bundle = pipeline_bundle(runs["sgm"])
    model_id = log_pyfunc_model(store, run_id, bundle)
    assert log_pyfunc_model(store, run_id, bundle) == model_id  # a retried job keeps the model
    assert [m.model_id for m in client.search_logged_models([experiment_id])] == [model_id]
    assert client.get_run(run_id).info.status == "FINISHED"

    library = load_trained_model(runs["sgm"])
    expected = [p.record() for p in library.predict(texts[:4], top_words=2)]
    assert [p.record() for p in load_logged_model(store, run_id).predict(texts[:4], top_words=2)] == expected
    with tracking_store(store):
        pyfunc = mlflow.pyfunc.load_model(f"runs:/{run_id}/{MODEL_NAME}")
    frame = pyfunc.predict(pd.DataFrame({"text": texts[:4]}), params={"top_words": 2})
    assert list(frame.columns) == ["labels", "probabilities", "end_probability", "attended_words"]
    assert frame.to_dict(orient="records") == expected
    greedy = pyfunc.predict(pd.DataFrame({"text": texts[:4]}), params={"beam_size": 1, "top_words": 2})
    expected = [p.record() for p in library.predict(texts[:4], beam_size=1, top_words=2)]
    assert greedy.to_dict(orient="records") == expected

    changed = dataclasses.replace(bundle, params={**bundle.params, "decoding": {"beam_size": 1}})
    replacement = log_pyfunc_model(store, run_id, changed)  # another bundle replaces the run's model
    assert [m.model_id for m in client.search_logged_models([experiment_id])] == [replacement] != [model_id]


def test_logged_model_errors(store):
    with pytest.raises(ValueError, match=f"no MLflow run {'f' * 32} in {store}"):
        load_logged_model(store, "f" * 32)
    run_id = get_or_create_run(MlflowClient(tracking_uri=store), "predict", "no-model", "no-model")
    with pytest.raises(ValueError, match="has no logged model 'model'; log it with the log_training_runs step"):
        load_logged_model(store, run_id)

"""Cross-dataset evaluation on tiny generated data: the identity map reproduces a run's own test metrics, and
labels outside a map are reported, not dropped silently."""

from __future__ import annotations

import copy
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sgm_mlc.data.parquet import read_examples
from sgm_mlc.data.preprocess import EXAMPLES_FILE, preprocess
from sgm_mlc.data.registry import get_dataset
from sgm_mlc.embeddings.word_vectors import build_word_vectors
from sgm_mlc.experiment.cross_dataset import EMPTY_DOCUMENTS_TREATMENT, evaluate_cross_dataset
from sgm_mlc.experiment.runner import evaluate_model, train_model
from sgm_mlc.labels.build import build_label_order
from sgm_mlc.text.vocab import Vocabulary
from tests.support.params import SYNTHETIC_HARD, SYNTHETIC_SHIFT

SOURCE = dict(SYNTHETIC_HARD, n_documents=300, n_labels=10, vocabulary_size=400)
TARGET = dict(SYNTHETIC_SHIFT, source=SOURCE, n_documents=300, test_fraction=0.5)
RUNS = [("br", "frequency"), ("sgm", "frequency"), ("sgm", "natural")]
NOTE = "# source: written by the test\n"


def tiny_params(default_params: dict) -> dict:
    """params.yaml with small embeddings and a tiny, briefly trained sgm."""
    params = copy.deepcopy(default_params)
    params["embeddings"].update(dimension=16, epochs=1)
    params["models"]["sgm"].update(hidden_size=16, attention_heads=2, label_embedding_dim=8)
    params["training"].update(epochs=2, batch_size=32, eval_batch_size=64, device="cpu")
    params["decoding"]["beam_size"] = 2
    return params


def processed_dataset(name: str, dataset_params: dict, params: dict, folder: Path) -> Path:
    """Download (generate) and preprocess ``name`` into ``folder``; the processed folder."""
    dataset = get_dataset(name)
    dataset.download(dataset_params, folder / "raw")
    preprocess(dataset, dataset_params, params["preprocess"], folder / "raw", folder / "processed")
    return folder / "processed"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, default_params: dict) -> dict:
    """synthetic (small) with embeddings, two label orders and the trained, evaluated RUNS; synthetic_shift."""
    root = tmp_path_factory.mktemp("cross-dataset")
    params = tiny_params(default_params)
    source = processed_dataset("synthetic", SOURCE, params, root / "synthetic")
    examples = read_examples(source / EXAMPLES_FILE, columns=["tokens", "split"])
    train_documents = [list(tokens) for tokens in examples.loc[examples["split"] == "train", "tokens"]]
    embeddings = root / "embeddings"
    build_word_vectors(params["embeddings"], Vocabulary.load(source / "vocab.json"), train_documents, embeddings)
    runs = {}
    for model, order in RUNS:
        order_dir = root / "orders" / order
        if not order_dir.exists():
            build_label_order(source / EXAMPLES_FILE, order, 13, order_dir)
        model_dir, evaluation_dir = root / "models" / model / order, root / "evaluation" / model / order
        train_model(model, params, 13, source, embeddings, order_dir, model_dir)
        evaluate_model(model, params, source, embeddings, order_dir, model_dir, evaluation_dir)
        runs[model, order] = {"order_dir": order_dir, "model_dir": model_dir, "evaluation_dir": evaluation_dir}
    return {
        "root": root,
        "params": params,
        "source": source,
        "embeddings": embeddings,
        "runs": runs,
        "target": processed_dataset("synthetic_shift", TARGET, params, root / "synthetic_shift"),
    }


def label_map_file(folder: Path, name: str, rows: list[tuple[str, str]]) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(NOTE + "".join(f"{a}\t{b}\n" for a, b in rows), encoding="utf-8")
    return path


def cross_evaluate(world: dict, model: str, order: str, target: Path, label_map: Path, out_dir: Path) -> dict:
    run = world["runs"][model, order]
    return evaluate_cross_dataset(
        model, world["params"], world["source"], world["embeddings"], run["order_dir"], run["model_dir"],
        run["evaluation_dir"] / "decision.json", target, label_map, out_dir,
    )


def source_labels(world: dict) -> list[str]:
    return sorted({label for labels in read_examples(world["source"] / EXAMPLES_FILE)["labels"] for label in labels})


@pytest.mark.parametrize(("model", "order"), RUNS)
def test_the_identity_map_onto_itself_gives_the_runs_own_test_metrics(world: dict, model: str, order: str) -> None:
    labels = source_labels(world)
    label_map = label_map_file(world["root"] / "maps", "synthetic__synthetic.tsv", [(x, x) for x in labels])
    out_dir = world["root"] / "cross" / model / order
    metrics = cross_evaluate(world, model, order, world["source"], label_map, out_dir)

    own_dir = world["runs"][model, order]["evaluation_dir"]
    own = pq.read_table(own_dir / "predictions.parquet").to_pandas()
    own_test = own[own["split"] == "test"].reset_index(drop=True)
    crossed = pq.read_table(out_dir / "predictions.parquet").to_pandas()
    assert pq.read_schema(out_dir / "predictions.parquet").equals(pq.read_schema(own_dir / "predictions.parquet"))
    assert crossed["id"].tolist() == own_test["id"].tolist()
    for column in ("true_labels", "predicted_labels"):
        assert [list(x) for x in crossed[column]] == [list(x) for x in own_test[column]], column
    for ours, theirs in zip(crossed["step_probabilities"], own_test["step_probabilities"]):
        np.testing.assert_array_equal(ours, theirs)  # NaN for the linear models, on both sides

    expected = json.loads((own_dir / "metrics.json").read_text(encoding="utf-8"))["test"]
    assert json.loads((out_dir / "metrics.json").read_text(encoding="utf-8")) == metrics
    for report in (expected, metrics["test"]):
        assert report.pop("documents_per_second") > 0
    expected.pop("decision", None)  # the run's own rule before and after, fitted on its validation split
    assert metrics["test"] == expected
    assert expected["micro_f1"] > 0.2, "a model that predicts (almost) nothing would make the comparison empty"
    facts = metrics["label_map"]
    assert facts["target_labels_outside_map"] == {} and facts["source_labels_outside_map"] == []
    assert facts["documents_without_mapped_label"] == 0 and facts["source_note"] == ["source: written by the test"]


@pytest.mark.parametrize("model", ["br", "sgm"])
def test_labels_outside_the_map_are_reported_not_dropped(world: dict, model: str) -> None:
    labels = source_labels(world)
    kept = labels[2:]  # labels[0] and labels[1] stay outside the map; labels[2] and labels[3] both map onto labels[2]
    rows = [(x, labels[2] if x == labels[3] else x) for x in kept]
    label_map = label_map_file(world["root"] / "maps", "synthetic__synthetic_shift.tsv", rows)
    out_dir = world["root"] / "cross-shift" / model
    metrics = cross_evaluate(world, model, "frequency", world["target"], label_map, out_dir)

    target = read_examples(world["target"] / EXAMPLES_FILE)
    test = target[target["split"] == "test"]
    counts = Counter(label for labels in test["labels"] for label in labels)
    mapped = {labels[2]} | set(kept[2:])
    all_target_labels = {label for labels in target["labels"] for label in labels}
    facts = metrics["label_map"]
    assert facts["target_labels_outside_map"] == {x: counts[x] for x in sorted(all_target_labels - mapped)}
    assert {"topic_10", "topic_11", labels[0], labels[1], labels[3]} <= set(facts["target_labels_outside_map"])
    assert facts["target_test_occurrences_outside_map"] == sum(facts["target_labels_outside_map"].values()) > 0
    assert set(facts["source_labels_outside_map"]) == {labels[0], labels[1]}
    assert facts["mapped_labels"][labels[2]] == [labels[2], labels[3]]
    without = sum(not set(labels_) & mapped for labels_ in test["labels"])
    assert facts["documents_without_mapped_label"] == without > 0
    assert facts["documents_without_mapped_label_treatment"] == EMPTY_DOCUMENTS_TREATMENT
    assert facts["test_documents"] == len(test)
    assert set(metrics["test"]["per_label_f1"]) == mapped

    predictions = pq.read_table(out_dir / "predictions.parquet").to_pandas()
    assert predictions["id"].tolist() == test["id"].tolist() and set(predictions["split"]) == {"test"}
    for true, labels_ in zip(predictions["true_labels"], test["labels"]):
        assert set(true) == set(labels_) & mapped
    for predicted, probabilities in zip(predictions["predicted_labels"], predictions["step_probabilities"]):
        assert set(predicted) <= mapped and len(set(predicted)) == len(predicted) == len(probabilities)


def test_a_map_naming_an_unknown_label_stops_the_evaluation(world: dict) -> None:
    label_map = label_map_file(world["root"] / "bad", "synthetic__synthetic_shift.tsv", [("topic_00", "topic_00"),
                                                                                        ("nonsense", "topic_01")])
    with pytest.raises(ValueError, match=rf"{label_map}:3: 'nonsense' is not a label of synthetic"):
        cross_evaluate(world, "br", "frequency", world["target"], label_map, world["root"] / "bad-out")
    assert not (world["root"] / "bad-out" / "metrics.json").exists()

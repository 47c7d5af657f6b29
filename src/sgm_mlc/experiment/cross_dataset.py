"""Cross-dataset evaluation: a model trained on dataset A, tested on dataset B over the labels of a label map.

* **Inputs.** B's test documents are read as A's model reads its own documents: B's tokens (from B's
  ``examples.parquet``) go through A's word vocabulary, words A never saw becoming A's unknown word (the
  linear models' TF-IDF features ignore them); the model is loaded and decodes exactly as A's own evaluation
  does (:func:`~sgm_mlc.experiment.linear.predict_linear`,
  :func:`~sgm_mlc.experiment.neural.load_trained_network`), applying the decision rule A's evaluation fitted on
  A's validation split (its ``decision.json``).
* **Labels.** The model predicts in A's label space; the label map (:mod:`sgm_mlc.labels.label_map`) turns each
  predicted sequence into B's labels (order kept, A labels outside the map dropped, a B label reached twice
  kept once, with the step probability of its first A label). Only the map's B labels are scored, as columns
  ordered by their A labels' places in A's label order; a document's true sequence is its mapped B labels in
  A's label order (for ``natural``: B's own order). B's labels outside the map are not scored but reported
  with their test counts, and so are A's labels outside the map.
* **Documents without a mapped label** are kept, scored with an empty true label set: any mapped label
  predicted for them is a false positive, and predicting none is exact.

A map of a dataset onto itself that maps every label to itself gives exactly that run's own test metrics.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from sgm_mlc.atomic import write_json
from sgm_mlc.data.parquet import read_examples
from sgm_mlc.data.preprocess import CARD_FILE, EXAMPLES_FILE
from sgm_mlc.decision import Decision
from sgm_mlc.experiment.evaluation import label_names_of, split_report, write_predictions
from sgm_mlc.experiment.inputs import RunInputs, SplitData
from sgm_mlc.experiment.runner import LINEAR_MODELS, run_inputs
from sgm_mlc.experiment.stopwatch import Stopwatch
from sgm_mlc.features import ImageFeatures
from sgm_mlc.labels.build import LABEL_VOCABULARY_FILE
from sgm_mlc.labels.label_map import LabelMap, read_label_map
from sgm_mlc.labels.orders import order_labels

EMPTY_DOCUMENTS_TREATMENT = (
    "kept, scored with an empty true label set: any mapped label predicted for them is a false positive"
)

# Documents → predicted label sequences, their step probabilities and, for a neural model, every label's score
# (``(n_documents, n_source_labels)`` in the source ranking; ``None`` for a linear model).
Predictor = Callable[[SplitData], tuple[list[list[str]], list[list[float]], list[list[float]] | None]]


def evaluate_cross_dataset(
    model_name: str,
    params: dict[str, Any],
    source_processed: Path,
    source_features: Path | None,
    source_order_dir: Path,
    model_dir: Path,
    decision_file: Path,
    target_processed: Path,
    label_map_path: Path,
    out_dir: Path,
    target_features: Path | None = None,
) -> dict[str, Any]:
    """Evaluate the run in ``model_dir`` (trained on ``source_processed`` with the label order in
    ``source_order_dir``; ``source_features`` for neural models; its evaluation's ``decision_file``) on the test
    split of ``target_processed``, through the label map at ``label_map_path`` (see the module docstring). Images
    of the target are read from its features (``target_features``, made the way the source's were); an image
    without features is left out.

    Writes ``metrics.json`` (``{"test": report, "label_map": facts, "evaluation": when it ran}``, the last in the
    fields of :class:`~sgm_mlc.experiment.stopwatch.Stopwatch`) and ``predictions.parquet`` (the
    evaluation's schema, test rows only, mapped labels only) into ``out_dir`` atomically; returns the metrics.
    """
    stopwatch = Stopwatch()
    inputs = run_inputs(model_name, source_processed, source_order_dir, source_features)
    order = json.loads((source_order_dir / LABEL_VOCABULARY_FILE).read_text(encoding="utf-8"))["order"]
    examples = read_examples(target_processed / EXAMPLES_FILE, columns=["id", "split", "labels", "tokens"])
    target_card = json.loads((target_processed / CARD_FILE).read_text(encoding="utf-8"))
    label_map = read_label_map(label_map_path, inputs.label_ranking, target_card["label_names"])
    test = examples[examples["split"] == "test"]
    if test.empty:
        raise ValueError(f"{target_processed / EXAMPLES_FILE}: no test documents to evaluate on")
    if inputs.image_channels is not None:
        if target_features is None:
            raise ValueError(f"{model_name} was trained on images: give the target's image features")
        features = ImageFeatures.open(target_features)
        test = test[test["id"].isin(features.index)]
        documents = SplitData(list(test["id"]), [features.grid(i) for i in test["id"]], [[] for _ in range(len(test))])
    else:
        tokens = [list(words) for words in test["tokens"]]
        # In the training dataset's vocabulary, for a neural model (words it never saw are unknown).
        encoded = tokens if model_name in LINEAR_MODELS else [inputs.vocabulary.encode(words) for words in tokens]
        documents = SplitData(list(test["id"]), encoded, [[] for _ in range(len(test))])
    ids = documents.ids

    decision = Decision.load(decision_file, inputs.label_ranking)
    predict = load_predictor(model_name, params, inputs, source_features, model_dir, decision)
    started = time.perf_counter()
    sequences, probabilities, source_scores = predict(documents)
    seconds = time.perf_counter() - started

    predicted, predicted_probabilities = [], []
    for sequence, step_probabilities in zip(sequences, probabilities):
        kept = label_map.map_sequence(sequence)
        predicted.append([label_map.to_target[sequence[i]] for i in kept])
        predicted_probabilities.append([step_probabilities[i] for i in kept])
    ranking = target_ranking(label_map, inputs.label_ranking)
    mapped = set(ranking)
    true = [order_labels(order, [label for label in labels if label in mapped], ranking) for labels in test["labels"]]
    scored = SplitData(ids, documents.documents, true)
    scores = None if source_scores is None else target_scores(label_map, inputs.label_ranking, ranking, source_scores)

    report = split_report(predicted, scored, ranking, scores)
    report["documents_per_second"] = len(ids) / seconds
    metrics = {"test": report, "label_map": label_map_facts(label_map, inputs.label_ranking, examples, true),
               "evaluation": stopwatch.record("evaluation")}
    out_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(out_dir / "predictions.parquet", {"test": scored}, {"test": predicted},
                      {"test": predicted_probabilities})
    write_json(out_dir / "metrics.json", metrics)
    return metrics


def load_predictor(
    model_name: str,
    params: dict[str, Any],
    inputs: RunInputs,
    features_dir: Path | None,
    model_dir: Path,
    decision: Decision,
) -> Predictor:
    """The trained model of ``model_dir`` as a function from documents (:class:`SplitData`) to predicted label
    sequences in the run's label space and their step probabilities, as the run's own evaluation predicts (with
    its ``decision``, where the evaluation applied it)."""
    ranking = inputs.label_ranking
    if model_name in LINEAR_MODELS:
        from sgm_mlc.experiment.linear import MODEL_FILE, predict_linear
        from sgm_mlc.models.linear import load

        linear_model = load(model_dir / MODEL_FILE)
        return lambda documents: (*predict_linear(linear_model, documents.documents, ranking, decision.rule), None)
    from sgm_mlc.experiment.neural import decided_set_labels, encode_split, load_trained_network

    if features_dir is None:
        raise ValueError(f"{model_name} is a neural model: give the source dataset's embeddings folder")
    network = load_trained_network(model_name, params, inputs, features_dir, model_dir)

    def predict(documents: SplitData) -> tuple[list[list[str]], list[list[float]], list[list[float]]]:
        predictions = network.predict(encode_split(inputs, documents, params["training"]["max_source_length"]))
        scores = [list(p.label_scores) for p in predictions]
        if decision.applied:
            return *decided_set_labels(decision.rule, np.asarray(scores, dtype=float), ranking), scores
        return label_names_of(predictions, ranking), [list(p.step_probabilities) for p in predictions], scores

    return predict


def target_scores(
    label_map: LabelMap, source_ranking: list[str], ranking: list[str], source_scores: list[list[float]]
) -> list[list[float]]:
    """Each target label's score (in ``ranking``): the highest score of the source labels mapped onto it."""
    place = {label: i for i, label in enumerate(source_ranking)}
    sources = [[place[source] for source, target in label_map.pairs if target == label] for label in ranking]
    return [[max(row[i] for i in columns) for columns in sources] for row in source_scores]


def target_ranking(label_map: LabelMap, source_ranking: list[str]) -> list[str]:
    """The map's target labels, ordered by the place of their first source label in ``source_ranking``."""
    place = {label: i for i, label in enumerate(source_ranking)}
    return list(dict.fromkeys(target for source, target in sorted(label_map.pairs, key=lambda pair: place[pair[0]])))


def label_map_facts(
    label_map: LabelMap, source_ranking: list[str], target_examples: pd.DataFrame, true: list[list[str]]
) -> dict[str, Any]:
    """What the map covers: mapped labels, both datasets' labels outside it (the target's with their test
    counts) and the test documents left without a mapped label. ``target_examples`` is the target's examples
    table (columns ``split``, ``labels``); ``true`` the scored true sequences of its test documents."""
    test_counts = Counter(
        label for labels, split in zip(target_examples["labels"], target_examples["split"]) if split == "test"
        for label in labels
    )
    target_labels = {label for labels in target_examples["labels"] for label in labels}
    mapped_sources, mapped_targets = set(label_map.source_labels), set(label_map.target_labels)
    outside = {label: test_counts[label] for label in sorted(target_labels - mapped_targets)}
    sources_of: dict[str, list[str]] = {}
    for source, target in label_map.pairs:
        sources_of.setdefault(target, []).append(source)
    return {
        "file": label_map.path.name,
        "source_dataset": label_map.source_dataset,
        "target_dataset": label_map.target_dataset,
        "source_note": [note.lstrip("#").strip() for note in label_map.notes],
        "mapped_labels": sources_of,
        "target_labels_outside_map": outside,
        "target_test_occurrences_outside_map": sum(outside.values()),
        "source_labels_outside_map": [label for label in source_ranking if label not in mapped_sources],
        "test_documents": len(true),
        "documents_without_mapped_label": sum(not sequence for sequence in true),
        "documents_without_mapped_label_treatment": EMPTY_DOCUMENTS_TREATMENT,
    }

"""Interpretability examples for the report: a few test documents decoded by a trained sequence model, each
generated label with the attention of its step over the document's words (the same call as ``sgm-mlc
predict``, :meth:`~sgm_mlc.predict.model.TrainedModel.predict`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sgm_mlc.atomic import write_json
from sgm_mlc.data.parquet import read_examples
from sgm_mlc.predict.model import TrainedModel


def explain_examples(model: TrainedModel, processed_dir: Path, count: int, top_words: int, run: str) -> dict[str, Any]:
    """``count`` test documents of ``processed_dir`` (the first ones in id order, so the choice does not
    depend on the model) with their true labels and, per generated label, its probability, the
    ``top_words`` most attended words and the attention over the (truncated) tokens.

    The payload: ``{"run": run, "examples": [{"id", "tokens", "true_labels", "steps": [{"label",
    "probability", "attended_words", "attention"}]}]}``.
    """
    if not model.is_sequence_model:
        raise ValueError(f"{model.name} emits no label sequence: interpretability examples need sgm or seq2seq")
    examples = read_examples(processed_dir / "examples.parquet", columns=["id", "text", "labels", "split"])
    test = examples[examples["split"] == "test"].sort_values("id").head(count)
    predictions = model.predict(list(test["text"]), top_words=top_words)
    max_length = model.params["training"]["max_source_length"]
    explained = []
    for (_, example), prediction in zip(test.iterrows(), predictions):
        steps = [
            {"label": label.label, "probability": label.probability,
             "attended_words": [list(pair) for pair in label.attended_words or ()],
             "attention": list(label.attention) if label.attention is not None else None}
            for label in prediction.labels
        ]
        tokens = model.tokens(example["text"])[:max_length]
        explained.append({"id": example["id"], "tokens": tokens, "true_labels": list(example["labels"]), "steps": steps})
    return {"run": run, "examples": explained}


def write_explanations(model_dir: Path, processed_dir: Path, count: int, top_words: int, out: Path) -> dict[str, Any]:
    """:func:`explain_examples` for the pipeline run in ``model_dir``, written atomically to ``out``."""
    from sgm_mlc.predict import load_trained_model

    run = "/".join(Path(model_dir).parts[-5:])
    payload = explain_examples(load_trained_model(model_dir), processed_dir, count, top_words, run)
    write_json(out, payload)
    return payload

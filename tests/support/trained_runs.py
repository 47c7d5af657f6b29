"""Tiny trained runs laid out as the pipeline lays them out, built by the library's own steps (no Snakemake).

``trained_runs(root, params, models)`` writes under ``root`` a small synthetic dataset (``data/processed``), word
vectors, the ``frequency`` label order, and for each model its run folders ``results/models/<run>`` and
``results/evaluation/<run>`` with the ``params.json`` files the train and evaluate steps write (the sections of
:mod:`sgm_mlc.experiment.plan`). Neural models are tiny and trained for a few epochs on one thread.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from sgm_mlc.atomic import write_json
from sgm_mlc.data.preprocess import preprocess
from sgm_mlc.data.synthetic import SyntheticDataset
from sgm_mlc.experiment.plan import Run, evaluate_sections, train_sections
from sgm_mlc.experiment.runner import evaluate_model, train_model
from sgm_mlc.labels.build import build_label_order
from sgm_mlc.text.vocab import Vocabulary
from tests.support.params import SYNTHETIC_DEFAULTS

DATASET, ORDER, SEED = "synthetic", "frequency", 13
TINY = {"hidden_size": 16, "encoder_layers": 1, "decoder_layers": 1, "attention_heads": 2, "label_embedding_dim": 8,
        "dropout": 0.0, "max_decode_length": 8, "num_filters": 8}


def tiny_params(params: dict[str, Any]) -> dict[str, Any]:
    """``params`` (a copy of params.yaml) shrunk: a small synthetic dataset and tiny neural models on the CPU."""
    params["datasets"][DATASET].update(SYNTHETIC_DEFAULTS, n_documents=300, vocabulary_size=300, n_labels=8)
    params["preprocess"]["min_token_count"] = 1
    for name in ("br_neural", "cnn", "seq2seq", "sgm"):
        params["models"][name].update({key: value for key, value in TINY.items() if key in params["models"][name]})
    params["training"].update(epochs=3, batch_size=16, learning_rate=1.0e-2, device="cpu", precision="fp32",
                              eval_batch_size=32)
    params["decoding"]["beam_size"] = 2
    return params


def trained_runs(root: Path, params: dict[str, Any], models: Sequence[str]) -> dict[str, Path]:
    """Build the project under ``root`` with ``tiny_params(params)``; return model → its run folder
    ``results/models/synthetic/<model>/default/frequency/seed13``."""
    params = tiny_params(params)
    processed = root / "data" / "processed" / DATASET
    raw = root / "data" / "raw" / DATASET
    SyntheticDataset().download(params["datasets"][DATASET], raw)
    preprocess(SyntheticDataset(), params["datasets"][DATASET], params["preprocess"], raw, processed)
    card = json.loads((processed / "card.json").read_text())
    write_json(processed / "card.json", {**card, "preprocess": params["preprocess"]})
    order_dir = root / "results" / "label_orders" / DATASET / ORDER
    build_label_order(processed / "examples.parquet", ORDER, 13, order_dir)
    embeddings = root / "results" / "embeddings" / DATASET
    embeddings.mkdir(parents=True)
    vocabulary_size = len(Vocabulary.load(processed / "vocab.json"))
    np.save(embeddings / "vectors.npy", np.random.default_rng(0).normal(size=(vocabulary_size, 8)).astype(np.float32))
    runs = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: thread start-up would dominate, and other jobs share the cores
    try:
        for model in models:
            runs[model] = train_and_evaluate(root, params, model, processed, embeddings, order_dir)
    finally:
        torch.set_num_threads(threads)
    return runs


def train_and_evaluate(
    root: Path, params: dict[str, Any], model: str, processed: Path, embeddings: Path, order_dir: Path
) -> Path:
    """Train and evaluate ``model`` as the pipeline's steps do, writing their ``params.json``; return the run
    folder."""
    run = Run(DATASET, model, "default", ORDER, SEED)
    identity = {"dataset": DATASET, "model": model, "variant": "default", "order": ORDER, "seed": SEED}
    model_dir, evaluation_dir = root / run.folder("models"), root / run.folder("evaluation")
    for folder, sections in ((model_dir, train_sections), (evaluation_dir, evaluate_sections)):
        folder.mkdir(parents=True)
        write_json(folder / "params.json", {**sections(params, run), "run": identity})
    train_model(model, train_sections(params, run), SEED, processed, embeddings, order_dir, model_dir)
    evaluate_model(model, evaluate_sections(params, run), processed, embeddings, order_dir, model_dir, evaluation_dir)
    return model_dir

"""Parse a downloaded dataset into the common Parquet format, with its vocabulary and dataset card."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sgm_mlc.atomic import write_json
from sgm_mlc.data.base import SPLITS, Dataset
from sgm_mlc.data.parquet import dataset_card, write_examples
from sgm_mlc.text.tokenizer import tokenize
from sgm_mlc.text.vocab import Vocabulary

log = logging.getLogger(__name__)

EXAMPLES_FILE = "examples.parquet"
VOCABULARY_FILE = "vocab.json"
CARD_FILE = "card.json"


def preprocess(
    dataset: Dataset, dataset_params: dict[str, Any], text_params: dict[str, Any], raw_dir: Path, out_dir: Path
) -> dict[str, Any]:
    """Write ``examples.parquet``, ``vocab.json`` and ``card.json`` into ``out_dir``; return the card.

    ``text_params`` is the ``preprocess`` section of ``params.yaml``. The vocabulary is built on the train split
    only, so nothing about validation or test text leaks into the model's inputs.
    """
    examples = dataset.parse(dataset_params, raw_dir)
    if not examples:
        raise ValueError(f"{dataset.name}: parsing {raw_dir} gave no examples; re-run the download step")
    unknown_splits = {e.split for e in examples} - set(SPLITS)
    if unknown_splits:
        raise ValueError(f"{dataset.name}: split(s) {sorted(unknown_splits)} are not among {SPLITS}")
    tokens = [tokenize(e.text, lowercase=text_params["lowercase"]) for e in examples]
    train_tokens = [t for t, e in zip(tokens, examples) if e.split == "train"]
    vocabulary = Vocabulary.build(train_tokens, text_params["min_token_count"], text_params["max_vocabulary_size"])

    card = dataset_card(dataset.name, examples)
    card["preprocess"] = dict(text_params)
    card["vocabulary_size"] = len(vocabulary)
    card["skipped_records"] = dict(getattr(dataset, "skipped", {}))
    card["tokens_per_document"] = _token_statistics(tokens)
    card["unknown_token_rate"] = {
        split: _unknown_rate(vocabulary, [t for t, e in zip(tokens, examples) if e.split == split])
        for split in SPLITS
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    write_examples(examples, tokens, out_dir / EXAMPLES_FILE)
    vocabulary.save(out_dir / VOCABULARY_FILE)
    write_json(out_dir / CARD_FILE, card)
    log.info(
        "%s: %s documents (%s), %d labels, vocabulary %d",
        dataset.name,
        card["documents"],
        ", ".join(f"{split} {card['splits'][split]['documents']}" for split in SPLITS),
        card["labels"],
        len(vocabulary),
    )
    return card


def _token_statistics(tokens: list[list[str]]) -> dict[str, float]:
    lengths = sorted(len(t) for t in tokens)
    return {
        "mean": sum(lengths) / len(lengths),
        "median": float(lengths[len(lengths) // 2]),
        "max": float(lengths[-1]),
    }


def _unknown_rate(vocabulary: Vocabulary, documents: list[list[str]]) -> float:
    """Share of tokens in ``documents`` that fall outside the vocabulary."""
    index = vocabulary.index
    total = sum(len(tokens) for tokens in documents)
    unknown = sum(token not in index for tokens in documents for token in tokens)
    return unknown / total if total else 0.0

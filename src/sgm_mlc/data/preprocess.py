"""Parse a downloaded dataset into the common Parquet format, with its vocabulary and dataset card.

The examples stream through in two passes, so that memory does not grow with the corpus:

1. the dataset's parser yields examples; each is tokenized and appended to a staging Parquet file in row
   groups, while the card (counts, label frequencies, lengths), the train split's word counts and an 8-byte
   digest of each id (for the duplicate check) are accumulated;
2. the vocabulary is built from the word counts, and the staging file is read back row group by row group and
   written with each document's token ids (``examples.parquet``), counting out-of-vocabulary tokens per split.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from sgm_mlc.atomic import write_json
from sgm_mlc.data.base import MODALITIES, SPLITS, Dataset, Example
from sgm_mlc.data.card import CardCounter, labels_missing
from sgm_mlc.data.parquet import (
    EXAMPLES_SCHEMA,
    ROW_GROUP_ROWS,
    STAGING_SCHEMA,
    example_row,
    parquet_rows,
    schema_for,
    streaming_reader,
)
from sgm_mlc.text.tokenizer import tokenize
from sgm_mlc.text.vocab import UNK_INDEX, Vocabulary

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
    if dataset.modality not in MODALITIES:
        raise ValueError(f"{dataset.name}: modality {dataset.modality!r} is not one of {MODALITIES}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".staging.", dir=out_dir) as staging_dir:
        staging = Path(staging_dir) / "examples.parquet"
        counter, word_counts = _stage_examples(dataset, dataset_params, text_params, raw_dir, staging)
        vocabulary = Vocabulary.from_counts(
            word_counts, text_params["min_token_count"], text_params["max_vocabulary_size"]
        )
        unknown_rate = _write_token_ids(staging, vocabulary, dataset.modality, out_dir / EXAMPLES_FILE)
    card = counter.card()
    card["label_names"] = label_names(dataset, dataset_params, raw_dir, card)
    card["labels_missing"] = labels_missing(card)
    card["preprocess"] = dict(text_params)
    card["vocabulary_size"] = len(vocabulary)
    card["skipped_records"] = dict(getattr(dataset, "skipped", {}))
    card["flagged_records"] = dict(getattr(dataset, "flagged", {}))
    card["unknown_token_rate"] = unknown_rate
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


def _stage_examples(
    dataset: Dataset, dataset_params: dict[str, Any], text_params: dict[str, Any], raw_dir: Path, staging: Path
) -> tuple[CardCounter, Counter]:
    """Pass 1: the parsed, tokenized examples into ``staging``; the card's counts and the train word counts."""
    counter = CardCounter(dataset.name, dataset.modality)
    word_counts: Counter = Counter()
    digests = IdDigests()
    with parquet_rows(staging, schema_for(STAGING_SCHEMA, dataset.modality)) as rows:
        for example in dataset.parse(dataset_params, raw_dir):
            _check_example(dataset, example)
            tokens = tokenize(example.text, lowercase=text_params["lowercase"])
            if example.split == "train":
                word_counts.update(tokens)
            counter.add(example, len(tokens))
            digests.add(example.id)
            rows.add(example_row(example, tokens))
    if counter.documents == 0:
        raise ValueError(f"{dataset.name}: parsing {raw_dir} gave no examples; re-run the download step")
    for split in SPLITS:
        if counter.splits[split].documents == 0:
            where = dataset.describe_split(dataset_params, raw_dir, split) if hasattr(dataset, "describe_split") else raw_dir
            raise ValueError(f"{dataset.name}: the {split} split has no examples ({where})")
    duplicate = digests.duplicate(staging)
    if duplicate is not None:
        example_id, count = duplicate
        where = dataset.locate(dataset_params, raw_dir, example_id) if hasattr(dataset, "locate") else [str(raw_dir)]
        raise ValueError(
            f"{dataset.name}: example id {example_id!r} occurs {count} times ({', '.join(where)}); every example "
            "needs its own id"
        )
    return counter, word_counts


def label_names(dataset: Dataset, params: dict[str, Any], raw_dir: Path, card: dict[str, Any]) -> list[str]:
    """The dataset's own label set where it declares one (every label seen must be in it), else the labels
    seen, sorted."""
    seen = sorted(set().union(*(split["label_frequencies"] for split in card["splits"].values())))
    if not hasattr(dataset, "label_names"):
        return seen
    declared = list(dataset.label_names(params, raw_dir))
    unknown = sorted(set(seen) - set(declared))
    if unknown:
        raise ValueError(f"{dataset.name}: label(s) {unknown[:5]} are not among the dataset's {len(declared)} labels")
    return declared


def _check_example(dataset: Dataset, example: Example) -> None:
    if example.split not in SPLITS:
        raise ValueError(f"{dataset.name}: example {example.id!r} has split {example.split!r}, not one of {SPLITS}")


def _write_token_ids(staging: Path, vocabulary: Vocabulary, modality: str, target: Path) -> dict[str, float]:
    """Pass 2: ``staging`` with each document's token ids, into ``target``; the unknown-token rate per split."""
    unknown = {split: 0 for split in SPLITS}
    total = {split: 0 for split in SPLITS}
    with parquet_rows(target, schema_for(EXAMPLES_SCHEMA, modality)) as rows:
        for batch in streaming_reader(staging).iter_batches(batch_size=ROW_GROUP_ROWS):
            for row in batch.to_pylist():
                ids = vocabulary.encode(row["tokens"])
                unknown[row["split"]] += ids.count(UNK_INDEX)
                total[row["split"]] += len(ids)
                rows.add(row | {"token_ids": ids})
    return {split: unknown[split] / total[split] if total[split] else 0.0 for split in SPLITS}


class IdDigests:
    """An 8-byte digest of every example id seen (8 bytes per example, not the ids themselves), to find
    duplicates once the stream has ended."""

    def __init__(self) -> None:
        self.digests = array("Q")

    def add(self, example_id: str) -> None:
        self.digests.append(_digest(example_id))

    def duplicate(self, staging: Path) -> tuple[str, int] | None:
        """The first (in sort order) id that occurs more than once, with its count, looked up in ``staging``
        (which holds every id) among the ids whose digests repeat; ``None`` when every id is unique."""
        values = np.sort(np.frombuffer(self.digests, dtype=np.uint64))
        repeated = set(values[1:][values[1:] == values[:-1]].tolist())
        if not repeated:
            return None
        counts = Counter(
            example_id
            for batch in streaming_reader(staging).iter_batches(columns=["id"], batch_size=ROW_GROUP_ROWS)
            for example_id in batch.column("id").to_pylist()
            if _digest(example_id) in repeated
        )
        duplicated = sorted(example_id for example_id, count in counts.items() if count > 1)
        return (duplicated[0], counts[duplicated[0]]) if duplicated else None


def _digest(example_id: str) -> int:
    return int.from_bytes(hashlib.blake2b(example_id.encode("utf-8"), digest_size=8).digest(), "little")

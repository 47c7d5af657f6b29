"""The inputs of a run, read from the earlier phases' files: examples, vocabulary, vectors, label order."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sgm_mlc.data.parquet import read_examples
from sgm_mlc.embeddings import VECTORS_FILE
from sgm_mlc.labels.build import LABEL_VOCABULARY_FILE, SEQUENCES_FILE
from sgm_mlc.text.vocab import Vocabulary


@dataclass(frozen=True)
class SplitData:
    """One split: ids, tokens and label sequences (in the run's label order)."""

    ids: list[str]
    tokens: list[list[str]]
    label_sequences: list[list[str]]


@dataclass(frozen=True)
class RunInputs:
    splits: dict[str, SplitData]
    label_ranking: list[str]
    vocabulary: Vocabulary
    processed_dir: Path
    order_dir: Path

    def vectors(self, embeddings_dir: Path) -> np.ndarray:
        """The word vectors ``(vocabulary_size, dimension)`` aligned to :attr:`vocabulary`."""
        matrix = np.load(embeddings_dir / VECTORS_FILE)
        if matrix.shape[0] != len(self.vocabulary):
            raise ValueError(
                f"{embeddings_dir / VECTORS_FILE} has {matrix.shape[0]} rows but the vocabulary has "
                f"{len(self.vocabulary)} words; rebuild the embeddings for this dataset"
            )
        return matrix


def read_run_inputs(processed_dir: Path, order_dir: Path) -> RunInputs:
    """Join the processed examples with the label order's sequences (by id)."""
    examples = read_examples(processed_dir / "examples.parquet", columns=["id", "split", "tokens"])
    sequences = pq.read_table(order_dir / SEQUENCES_FILE).to_pandas().set_index("id")["label_sequence"]
    missing = set(examples["id"]) - set(sequences.index)
    if missing:
        raise ValueError(
            f"{order_dir / SEQUENCES_FILE} lacks {len(missing)} example id(s) of {processed_dir} "
            f"(e.g. {sorted(missing)[0]!r}); rebuild the label orders"
        )
    splits = {}
    for split, group in examples.groupby("split", sort=False):
        splits[split] = SplitData(
            ids=list(group["id"]),
            tokens=[list(tokens) for tokens in group["tokens"]],
            label_sequences=[list(sequences[i]) for i in group["id"]],
        )
    ranking = json.loads((order_dir / LABEL_VOCABULARY_FILE).read_text(encoding="utf-8"))["labels"]
    return RunInputs(splits, ranking, Vocabulary.load(processed_dir / "vocab.json"), processed_dir, order_dir)

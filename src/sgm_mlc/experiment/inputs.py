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


# How a run reads its documents: as tokens (the linear models' TF-IDF features) or as token ids in the dataset's
# vocabulary (the neural models: compact integer arrays).
DOCUMENT_COLUMNS = ("tokens", "token_ids")


@dataclass(frozen=True)
class SplitData:
    """One split: ids, documents (each a list of tokens, or an array of token ids: see
    :data:`DOCUMENT_COLUMNS`) and label sequences (in the run's label order)."""

    ids: list[str]
    documents: list
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


def read_run_inputs(processed_dir: Path, order_dir: Path, documents: str = "tokens") -> RunInputs:
    """Join the processed examples with the label order's sequences (by id); each document is read from the
    column ``documents`` (one of :data:`DOCUMENT_COLUMNS`)."""
    if documents not in DOCUMENT_COLUMNS:
        raise ValueError(f"documents are read as one of {DOCUMENT_COLUMNS}, not {documents!r}")
    examples = read_examples(processed_dir / "examples.parquet", columns=["id", "split", documents])
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
            documents=[list(tokens) for tokens in group[documents]] if documents == "tokens" else list(group[documents]),
            label_sequences=[list(sequences[i]) for i in group["id"]],
        )
    ranking = json.loads((order_dir / LABEL_VOCABULARY_FILE).read_text(encoding="utf-8"))["labels"]
    return RunInputs(splits, ranking, Vocabulary.load(processed_dir / "vocab.json"), processed_dir, order_dir)

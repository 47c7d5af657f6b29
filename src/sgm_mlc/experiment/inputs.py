"""The inputs of a run, read from the earlier phases' files: examples, vocabulary, vectors or image features,
label order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sgm_mlc.data.parquet import read_examples
from sgm_mlc.embeddings import VECTORS_FILE
from sgm_mlc.features import ImageFeatures
from sgm_mlc.labels.build import LABEL_VOCABULARY_FILE, SEQUENCES_FILE
from sgm_mlc.text.vocab import Vocabulary


# How a run reads the documents of a text dataset: as tokens (the linear models' TF-IDF features) or as token ids
# in the dataset's vocabulary (the neural models: compact integer arrays). An image is read as its grid of region
# features (``(regions, channels)`` float16, memory-mapped).
DOCUMENT_COLUMNS = ("tokens", "token_ids")
AUGMENTED_ID = "{id}#view{view}"  # an augmented view of a train image, trained on as an example of its own


@dataclass(frozen=True)
class SplitData:
    """One split: ids, documents (each a list of tokens, an array of token ids, or an image's grid of region
    features) and label sequences (in the run's label order)."""

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
    image_channels: int | None = None  # the region features' size, for an image dataset

    def vectors(self, embeddings_dir: Path) -> np.ndarray:
        """The word vectors ``(vocabulary_size, dimension)`` aligned to :attr:`vocabulary`."""
        matrix = np.load(embeddings_dir / VECTORS_FILE)
        if matrix.shape[0] != len(self.vocabulary):
            raise ValueError(
                f"{embeddings_dir / VECTORS_FILE} has {matrix.shape[0]} rows but the vocabulary has "
                f"{len(self.vocabulary)} words; rebuild the embeddings for this dataset"
            )
        return matrix


def read_run_inputs(
    processed_dir: Path, order_dir: Path, documents: str = "tokens", splits: Sequence[str] | None = None
) -> RunInputs:
    """Join the processed examples with the label order's sequences (by id); each document is read from the
    column ``documents`` (one of :data:`DOCUMENT_COLUMNS`). With ``splits``, the rows of other splits are not
    read at all (a tuning study reads ``train`` and ``valid`` only)."""
    if documents not in DOCUMENT_COLUMNS:
        raise ValueError(f"documents are read as one of {DOCUMENT_COLUMNS}, not {documents!r}")
    examples = read_examples(processed_dir / "examples.parquet", columns=["id", "split", documents], splits=splits)
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


def read_image_run_inputs(
    processed_dir: Path, order_dir: Path, features_dir: Path, splits: Sequence[str] | None = None
) -> RunInputs:
    """The inputs of a run on an image dataset: each example's grid of region features from ``features_dir``
    (an example whose image could not be read has none and is left out), the train split with every augmented
    view as an example of its own (same labels), and the label order's sequences."""
    features = ImageFeatures.open(features_dir)
    inputs = read_run_inputs(processed_dir, order_dir, "token_ids", splits)
    splits = {}
    for name, split in inputs.splits.items():
        kept = [i for i, example_id in enumerate(split.ids) if example_id in features]
        ids = [split.ids[i] for i in kept]
        grids = [features.grid(example_id) for example_id in ids]
        sequences = [split.label_sequences[i] for i in kept]
        if name == "train" and features.augmented is not None:
            for example_id, sequence in zip(list(ids), list(sequences)):
                for view, grid in enumerate(features.views(example_id), start=1):
                    ids.append(AUGMENTED_ID.format(id=example_id, view=view))
                    grids.append(grid)
                    sequences.append(sequence)
        splits[name] = SplitData(ids, grids, sequences)
    return RunInputs(
        splits, inputs.label_ranking, inputs.vocabulary, processed_dir, order_dir, image_channels=features.channels
    )

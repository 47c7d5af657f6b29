"""Encoded examples and length-bucketed batches.

A batch holds documents of similar length, so padding (and the LSTM work spent on it) stays small: the
training order is shuffled (seeded per epoch), cut into pools of ``pool_batches`` batches, each pool sorted by
length and cut into batches, and the batches shuffled again.

The documents are word ids (text) or, for image datasets, grids of region feature vectors ``(regions,
channels)``, one per image (see :mod:`sgm_mlc.features`); an image's length is its number of regions, in
bucketing and in the token budget of :func:`evaluation_batches` alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from sgm_mlc.models.label_ids import multi_hot, teacher_forcing_targets


@dataclass(frozen=True)
class EncodedExamples:
    """One split, encoded: word ids (truncated) and label ids in the chosen label order.

    ``words[i]`` is an int64 array of document ``i``'s word ids (at least one id), or, for an image dataset,
    image ``i``'s region features, a float array ``(regions, channels)`` (at least one region; kept as given,
    so float16 and memory-mapped arrays stay so until :func:`collate`); ``labels[i]`` its label indices (the
    labels' places in the order's ranking, ``0 … n_labels - 1``) in sequence order; ``ids[i]`` its example id.
    """

    ids: tuple[str, ...]
    words: tuple[np.ndarray, ...]
    labels: tuple[tuple[int, ...], ...]
    n_labels: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def lengths(self) -> np.ndarray:
        """The documents' lengths: words, or regions of an image."""
        return np.array([len(words) for words in self.words])

    @property
    def images(self) -> bool:
        """True when the documents are images' region features (False for word ids, and for no documents)."""
        return bool(self.words) and self.words[0].ndim == 2

    @property
    def image_features(self) -> int | None:
        """The channels of the region features (the ``image_features`` of
        :func:`~sgm_mlc.models.neural.build_neural_model`), or None for text."""
        return self.words[0].shape[1] if self.images else None


def encode_examples(
    ids: Sequence[str],
    token_ids: Sequence[Sequence[int]] | Sequence[np.ndarray],
    label_sequences: Sequence[Sequence[str]],
    label_ranking: Sequence[str],
    max_source_length: int | None,
) -> EncodedExamples:
    """Truncate documents to ``max_source_length`` words (``None``: keep all; an empty document becomes one
    unknown word) and map labels to their place in ``label_ranking``.

    ``token_ids`` holds the documents: sequences of word ids, or (image datasets) 2-D float arrays ``(regions,
    channels)`` of region features, as the first document says. Images are kept as given (no copy, no
    conversion) and ``max_source_length`` does not apply to them; each needs at least one region and all the
    same channels."""
    position = {label: i for i, label in enumerate(label_ranking)}
    if len(token_ids) and is_region_grid(token_ids[0]):
        words = region_grids(token_ids)
    else:
        words = tuple(np.asarray(list(t)[:max_source_length] or [1], dtype=np.int64) for t in token_ids)
    labels = tuple(tuple(position[label] for label in sequence) for sequence in label_sequences)
    return EncodedExamples(tuple(ids), words, labels, len(label_ranking))


def is_region_grid(document: object) -> bool:
    """Whether ``document`` is an image's region features (a 2-D array) rather than word ids."""
    return isinstance(document, np.ndarray) and document.ndim == 2


def region_grids(documents: Sequence[np.ndarray]) -> tuple[np.ndarray, ...]:
    """The images' region features, checked: 2-D float arrays with at least one region and one channel count."""
    grids = tuple(np.asarray(document) for document in documents)
    channels = grids[0].shape[1]
    for i, grid in enumerate(grids):
        if grid.ndim != 2 or grid.dtype.kind != "f" or len(grid) == 0 or grid.shape[1] != channels:
            raise ValueError(
                f"document {i}: images' region features must be float arrays (regions >= 1, {channels} "
                f"channels) like the first document's; got {grid.dtype} of shape {grid.shape}"
            )
    return grids


@dataclass
class Batch:
    """Padded tensors for one batch.

    ``src`` ``(batch, src_len)`` word ids, 0-padded, or for images ``(batch, regions, channels)`` float32 region
    features (zero regions pad grids smaller than the batch's largest); ``src_lengths`` ``(batch,)`` (words or
    regions); ``tgt_in`` / ``tgt_out`` ``(batch, tgt_len)`` label ids: ``[BOS, l1..lk]`` / ``[l1..lk, EOS]`` padded with ``PAD_LABEL``;
    ``multi_hot`` ``(batch, n_labels)`` float; ``indices`` ``(batch,)`` positions of the examples in their split.
    """

    src: torch.Tensor
    src_lengths: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    multi_hot: torch.Tensor
    indices: np.ndarray

    def to(self, device: torch.device) -> Batch:
        return Batch(
            self.src.to(device),
            self.src_lengths.to(device),
            self.tgt_in.to(device),
            self.tgt_out.to(device),
            self.multi_hot.to(device),
            self.indices,
        )


def collate(examples: EncodedExamples, indices: np.ndarray) -> Batch:
    """Pad the examples at ``indices`` into a :class:`Batch` (region features become float32)."""
    words = [examples.words[i] for i in indices]
    labels = [examples.labels[i] for i in indices]
    if examples.images:
        grids = np.zeros((len(indices), max(len(w) for w in words), words[0].shape[1]), dtype=np.float32)
        for row, document in enumerate(words):
            grids[row, : len(document)] = document
        src = torch.from_numpy(grids)
    else:
        src = torch.zeros(len(indices), max(len(w) for w in words), dtype=torch.long)
        for row, document in enumerate(words):
            src[row, : len(document)] = torch.from_numpy(document)
    tgt_in, tgt_out = teacher_forcing_targets(labels)
    lengths = torch.tensor([len(w) for w in words], dtype=torch.long)
    return Batch(src, lengths, tgt_in, tgt_out, multi_hot(labels, examples.n_labels), np.asarray(indices))


def training_batches(
    examples: EncodedExamples, batch_size: int, seed: int, epoch: int, pool_batches: int = 50
) -> list[np.ndarray]:
    """The index batches of one training epoch: shuffled, length-bucketed, reproducible from (seed, epoch)."""
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(examples))
    lengths = examples.lengths
    batches = []
    pool_size = batch_size * pool_batches
    for start in range(0, len(order), pool_size):
        pool = order[start : start + pool_size]
        pool = pool[np.argsort(lengths[pool], kind="stable")]
        batches += [pool[i : i + batch_size] for i in range(0, len(pool), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def evaluation_batches(
    examples: EncodedExamples, batch_size: int, max_tokens: int | None = None
) -> Iterator[np.ndarray]:
    """Index batches sorted by length (least padding); callers put results back by ``Batch.indices``.

    A batch holds at most ``batch_size`` documents and, when ``max_tokens`` is set, at most ``max_tokens``
    padded tokens (documents × its longest document, an image counting as its regions; a single longer
    document still gets a batch of its own). The cap keeps the long-document tail from padding a whole batch to
    the longest document: LSTM work grows with the padded tokens and self-attention work with their square.
    """
    lengths = examples.lengths
    batch: list[int] = []
    for index in np.argsort(lengths, kind="stable"):
        rows = len(batch) + 1
        if batch and (rows > batch_size or (max_tokens is not None and rows * lengths[index] > max_tokens)):
            yield np.array(batch)
            batch = []
        batch.append(int(index))
    if batch:
        yield np.array(batch)
